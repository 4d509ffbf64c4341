"""A stand-in for dockerd that answers ``GET /_ping`` and ``GET /containers/json`` and nothing else.

For ``bench.gateway_cost`` only: it lets the gateway's own CPU per request and per connection be
measured without a real daemon (whose CPU would share the two cores and blur the numbers). The
answers copy dockerd 20.10's heads (``Api-Version``, ``Docker-Experimental``, ``Ostype``,
``Server``, ``Date``) so that the gateway parses what it parses in production. Requests carry no
body (the benchmark sends GETs only); anything else is answered 404.

Usage: ``python -m bench.fake_daemon SOCKET_PATH``
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import uvloop

_HEAD = (
    "HTTP/1.1 {status}\r\nApi-Version: 1.41\r\n{extra}Content-Type: {type}\r\n"
    "Docker-Experimental: false\r\nOstype: linux\r\nServer: Docker/20.10.24 (linux)\r\n"
    "Date: Thu, 03 Dec 2026 14:00:00 GMT\r\nContent-Length: {length}\r\n\r\n"
)
_CONTAINER = {
    "Id": "4f3a" * 16,
    "Names": ["/bench-sleep"],
    "Image": "busybox",
    "ImageID": "sha256:" + "ab" * 32,
    "Command": "sleep 3600",
    "Created": 1764770000,
    "Ports": [],
    "Labels": {},
    "State": "running",
    "Status": "Up 5 minutes",
    "HostConfig": {"NetworkMode": "none"},
    "NetworkSettings": {"Networks": {}},
    "Mounts": [],
}


def _answer(status: str, content_type: str, body: bytes, extra: str = "") -> bytes:
    head = _HEAD.format(status=status, extra=extra, type=content_type, length=len(body))
    return head.encode() + body


PING = _answer(
    "200 OK",
    "text/plain; charset=utf-8",
    b"OK",
    "Builder-Version: 2\r\nCache-Control: no-cache"
    ", no-store, must-revalidate\r\nPragma: no-cache\r\n",
)
LIST = _answer("200 OK", "application/json", json.dumps([_CONTAINER]).encode() + b"\n")
MISSING = _answer("404 Not Found", "application/json", b'{"message":"page not found"}\n')


def answer_for(head: bytes) -> bytes:
    target = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b""
    path = target.split(b"?", 1)[0]
    if path.endswith(b"/_ping"):
        return PING
    if path.endswith(b"/containers/json"):
        return LIST
    return MISSING


class FakeDaemon(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        out = []
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            out.append(answer_for(buffer[:end]))
            buffer = buffer[end + 4 :]
        self.buffer = buffer
        if out:
            self.transport.writelines(out)


async def serve(path: str) -> None:
    server = await asyncio.get_running_loop().create_unix_server(FakeDaemon, path)
    os.chmod(path, 0o600)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    uvloop.run(serve(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
