"""A minimal, read-only HTTP/1.1 client over an asyncio stream, for the probes.

Only ``GET`` exists here, on purpose: the scanner must never change a daemon.
Responses are parsed with httptools (Content-Length, chunked and close-delimited bodies) and
bounded in size; the connection is kept alive between requests when the server allows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import httptools

USER_AGENT = "dockward-scan"
MAX_BODY = 16 << 20  # an /info or a container list larger than this is not a Docker daemon
READ_CHUNK = 65536


class HttpError(Exception):
    """The peer did not answer with a usable HTTP response."""


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    keep_alive: bool

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as err:
            raise HttpError(f"{self.status} answer is not JSON") from err


@dataclass
class _Collector:
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    head_done: bool = False
    done: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        if len(self.body) + len(body) > MAX_BODY:
            raise HttpError(f"response body larger than {MAX_BODY} bytes")
        self.body += body

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_message_complete(self) -> None:
        self.done = True


class HttpConnection:
    """``GET`` requests, one after the other, on one connection."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, timeout: float
    ) -> None:
        self.reader, self.writer = reader, writer
        self.host, self.timeout = host, timeout
        self.closed = False

    async def get(self, path: str) -> HttpResponse:
        """Send one ``GET`` and read its whole response (bounded by ``timeout``)."""
        if self.closed:
            raise HttpError("connection closed by the server")
        head = (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Accept: application/json\r\n\r\n"
        )
        self.writer.write(head.encode("ascii"))
        return await asyncio.wait_for(self._read_response(), self.timeout)

    async def get_json(self, path: str) -> Any:
        """``GET`` that needs a 200 answer with a JSON body."""
        response = await self.get(path)
        if response.status != 200:
            raise HttpError(f"GET {path} answered {response.status}: {response.body[:200]!r}")
        return response.json()

    async def _read_response(self) -> HttpResponse:
        collector = _Collector()
        parser = httptools.HttpResponseParser(collector)
        while not collector.done:
            chunk = await self.reader.read(READ_CHUNK)
            if not chunk:
                self.closed = True
                if collector.head_done and not (
                    {"content-length", "transfer-encoding"} & collector.headers.keys()
                ):
                    break  # a close-delimited body ends here
                raise HttpError("connection closed before a complete HTTP response")
            try:
                parser.feed_data(chunk)
            except httptools.HttpParserError as err:
                raise HttpError(f"not an HTTP response: {err}") from err
        keep_alive = bool(parser.should_keep_alive()) and not self.closed
        self.closed = self.closed or not keep_alive
        status = parser.get_status_code()
        return HttpResponse(status, collector.headers, bytes(collector.body), keep_alive)

    async def close(self) -> None:
        self.closed = True
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
