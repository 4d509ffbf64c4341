"""One mutual-TLS handshake on loopback, to see what a server context does with a client bundle."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path


def server_verdict(server: ssl.SSLContext, bundle: Path) -> str:
    """Connect with a client bundle (ca.pem cert.pem key.pem); return "ok" or the server's error."""
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cafile=bundle / "ca.pem")
    client.load_cert_chain(bundle / "cert.pem", bundle / "key.pem")
    outcome: dict[str, str] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        port = listener.getsockname()[1]

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(10)
                with server.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
                    outcome["server"] = "ok"
            except (ssl.SSLError, OSError) as err:
                outcome["server"] = str(err)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
                client.wrap_socket(raw, server_hostname="localhost") as tls,
            ):
                tls.recv(2)
        except (ssl.SSLError, OSError):
            pass
        thread.join(10)
    return outcome["server"]
