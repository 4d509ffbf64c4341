"""The least a Python mutual-TLS relay can do per request: the floor dockward is measured against.

Same building blocks as dockward (uvloop, its ``TLSServerSession`` record layer on the same TLS
backend, one daemon connection per client), none of its work: no HTTP parsing, no policy, no
access log. It
decrypts what the client sends and writes it to the Docker socket, and encrypts what the daemon
answers. Besides, it does only what the benchmark's transfers need: a half-close in each
direction (``docker exec`` closes its sending side and reads on), and pausing the daemon side
while the client's write buffer is full. Never use it for anything but ``bench.floor``: it
authenticates clients by certificate but authorizes nothing.

Usage: ``python -m bench.floor_relay CERT KEY CA UPSTREAM_SOCKET PORT`` (listens on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvloop

from dockward.tls.context import ServerContext, build_context, selected_backend
from dockward.tls.session import HandshakeFailed, TLSServerSession


class DaemonSide(asyncio.Protocol):
    def __init__(self, client: ClientSide) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.transport.write(self.client.tls.encrypt(data))

    def eof_received(self) -> bool:
        self.client.daemon_done()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.daemon_done()


class ClientSide(asyncio.Protocol):
    def __init__(self, context: ServerContext, upstream: str) -> None:
        self.tls = TLSServerSession(context)
        self.upstream_path = upstream
        self.daemon: asyncio.Transport | None = None
        self.waiting: list[bytes] = []
        self.client_done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        tls = self.tls
        was_established = tls.established
        try:
            plaintext = tls.receive(data)  # every record that is complete
        except (HandshakeFailed, ConnectionError):
            self.transport.write(tls.data_to_send())
            self.transport.close()
            return
        out = tls.data_to_send()
        if out:
            self.transport.write(out)
        if tls.established and not was_established:
            asyncio.get_running_loop().create_task(self.connect())
        if plaintext:
            if self.daemon is None:
                self.waiting.append(plaintext)
            else:
                self.daemon.write(plaintext)
        if tls.peer_closed and not self.client_done:  # close_notify: the client is done sending
            self.client_done = True
            if self.daemon is not None:
                self.daemon.write_eof()

    def daemon_done(self) -> None:
        """The daemon finished answering: close_notify, then close."""
        if not self.transport.is_closing():
            self.tls.close_notify()
            self.transport.write(self.tls.data_to_send())
            self.transport.close()

    def pause_writing(self) -> None:
        if self.daemon is not None:
            self.daemon.pause_reading()

    def resume_writing(self) -> None:
        if self.daemon is not None:
            self.daemon.resume_reading()

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        daemon, _ = await loop.create_unix_connection(lambda: DaemonSide(self), self.upstream_path)
        self.daemon = daemon  # type: ignore[assignment]
        daemon.writelines(self.waiting)
        self.waiting.clear()
        if self.client_done:
            daemon.write_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.daemon is not None:
            self.daemon.close()


async def serve(cert: str, key: str, ca: str, upstream: str, port: int) -> None:
    context = build_context(selected_backend(), Path(cert), Path(key), Path(ca))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ClientSide(context, upstream), "127.0.0.1", port)
    await server.serve_forever()


def main(argv: list[str]) -> int:
    cert, key, ca, upstream, port = argv
    uvloop.run(serve(cert, key, ca, upstream, int(port)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
