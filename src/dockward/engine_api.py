"""The read-only Docker Engine API client dockward uses itself: GET, and JSON answers.

One client for both places that ask a daemon for JSON, over whatever asyncio stream the caller
opened:

* the gateway's policy lookups (``dockward.gateway.facts``): ``open_unix`` to the daemon's
  socket, one connection per lookup, ``inspect`` (404 = no such object);
* the scanner (``dockward.scan``): TCP, then TLS with a handshake the probes watch
  (``dockward.scan.probes`` opens the stream), requests one after the other on a kept-alive
  connection, ``get`` and ``get_json``.

Only the opening differs, so only the opening is two: both run in the event loop, both are
bounded by a timeout per request and by ``MAX_BODY``. Requests and responses are written and
parsed by ``dockward.http1.client``; only ``GET`` exists, on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from dockward.http1.client import MAX_BODY, HttpError, HttpResponse, ResponseReader, get_request

__all__ = ["USER_AGENT", "ApiConnection", "HttpError", "HttpResponse", "open_unix"]

USER_AGENT = "dockward"
READ_CHUNK = 65536


class ApiConnection:
    """``GET`` requests, one after the other, on one connection."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        timeout: float,
        *,
        user_agent: str = USER_AGENT,
        max_body: int = MAX_BODY,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.host, self.timeout = host, timeout
        self.user_agent, self.max_body = user_agent, max_body
        self.closed = False
        """Known to be unusable for another request (the server closed, or said it would)."""

    async def get(self, path: str) -> HttpResponse:
        """Send one ``GET`` and read its whole response (bounded by ``timeout``)."""
        if self.closed:
            raise HttpError("connection closed by the server")
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        self.writer.write(get_request(path, self.host, headers))
        try:
            response = await asyncio.wait_for(self._read_response(), self.timeout)
        except BaseException:
            self.closed = True  # a response may be half read: this connection is spent
            raise
        self.closed = not response.keep_alive
        return response

    async def get_json(self, path: str) -> Any:
        """``GET`` that needs a 200 answer with a JSON body."""
        response = await self.get(path)
        if response.status != 200:
            raise HttpError(f"GET {path} answered {response.status}: {response.body[:200]!r}")
        return response.json()

    async def inspect(self, path: str) -> Mapping[str, object] | None:
        """An object's inspect answer (a JSON object); ``None`` when the daemon answers 404."""
        response = await self.get(path)
        if response.status == 404:
            return None
        if response.status != 200:
            raise HttpError(f"answered {response.status}: {response.body[:200]!r}")
        document = response.json()
        if not isinstance(document, dict):
            raise HttpError("the answer is not a JSON object")
        return document

    async def _read_response(self) -> HttpResponse:
        parser = ResponseReader(self.max_body)
        while True:
            chunk = await self.reader.read(READ_CHUNK)
            if not chunk:
                parser.feed_eof()
                return parser.response()
            if parser.feed(chunk):
                return parser.response()

    async def close(self) -> None:
        self.closed = True
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


async def open_unix(
    path: str, timeout: float, *, user_agent: str = USER_AGENT, host: str = "docker"
) -> ApiConnection:
    """A connection to the daemon's unix socket at ``path``, as the docker CLI makes one."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), timeout)
    return ApiConnection(reader, writer, host, timeout, user_agent=user_agent)
