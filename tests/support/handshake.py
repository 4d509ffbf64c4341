"""One mutual-TLS handshake on loopback, to see what a server context does with a client bundle.

The server side is the gateway's own record layer (``TLSServerSession``) on whichever backend the
context is for, pumped over a real socket.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path

from dockward.tls.context import ServerContext
from dockward.tls.session import HandshakeFailed, TLSServerSession


def server_verdict(server: ServerContext, bundle: Path) -> str:
    """Connect with a client bundle (ca.pem cert.pem key.pem); return "ok" or the server's
    reason for refusing (``HandshakeFailed.reason``)."""
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
            except OSError as err:
                outcome["server"] = str(err)
                return
            with conn:
                conn.settimeout(10)
                outcome["server"] = _handshake(TLSServerSession(server), conn)

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


def _handshake(session: TLSServerSession, conn: socket.socket) -> str:
    try:
        while not session.established:
            data = conn.recv(65536)
            if not data:
                return "the client closed the connection"
            try:
                session.receive(data)
            except HandshakeFailed as failed:
                with contextlib.suppress(OSError):  # the alert, to a client that may be gone
                    conn.sendall(session.data_to_send())
                return failed.reason
            conn.sendall(session.data_to_send())
        conn.sendall(session.encrypt(b"ok"))
        return "ok"
    except OSError as err:
        return str(err)
