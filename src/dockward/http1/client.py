"""The client half of HTTP/1.1 for dockward's own questions to a Docker API: GET out, whole
responses in.

Two places ask a daemon for JSON: the gateway's policy lookups (``dockward.gateway.facts``, over
the daemon's unix socket) and the scanner (``dockward.scan``, over TCP and TLS, to servers it
does not trust). Both write requests with ``get_request`` and read answers with
``ResponseReader``; ``dockward.engine_api`` drives them over an asyncio stream. Only ``GET`` can
be written: neither may change a daemon.

Responses are parsed by httptools (llhttp): Content-Length, chunked and close-delimited bodies,
bounded in size. Sans-IO: bytes in, a response out; nothing here touches a socket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httptools

__all__ = ["MAX_BODY", "HttpError", "HttpResponse", "ResponseReader", "get_request"]

MAX_BODY = 16 << 20
"""An inspect answer, an /info or a container list larger than this is not a Docker daemon's."""


class HttpError(Exception):
    """The peer did not answer with a usable HTTP response."""


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    """Names lower-cased; the last of repeated headers."""
    body: bytes
    keep_alive: bool
    """The connection may carry another request."""

    def json(self) -> Any:
        """The body as JSON; ``HttpError`` if it is not."""
        try:
            return json.loads(self.body)
        except ValueError as err:
            raise HttpError(f"{self.status} answer is not JSON") from err


def get_request(path: str, host: str, headers: dict[str, str] | None = None) -> bytes:
    """The bytes of ``GET path`` (an origin-form target, already percent-encoded)."""
    if not path.startswith("/") or any(c in path for c in " \r\n"):
        raise ValueError(f"not an origin-form request target: {path!r}")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class _Collector:
    """httptools' callbacks: the head and the bounded body of one response."""

    max_body: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    head_done: bool = False
    done: bool = False
    keep_alive: bool = False
    parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        if len(self.body) + len(body) > self.max_body:
            raise HttpError(f"response body larger than {self.max_body} bytes")
        self.body += body

    def on_message_complete(self) -> None:
        # asked here: once feed_data returns, llhttp has reset for the next message and says
        # "no keep-alive" whatever the response said
        assert self.parser is not None
        self.keep_alive = bool(self.parser.should_keep_alive())
        self.done = True


class ResponseReader:
    """One response, fed as it arrives: ``feed`` until it says done, or ``feed_eof``."""

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self._collector = _Collector(max_body)
        self._parser = httptools.HttpResponseParser(self._collector)
        self._collector.parser = self._parser
        self._eof = False

    @property
    def done(self) -> bool:
        return self._collector.done

    def feed(self, data: bytes) -> bool:
        """Consume ``data``; ``True`` once the response is complete. Raises ``HttpError``."""
        if self.done:
            raise HttpError("bytes after a complete response")
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as err:
            cause = err.__context__
            if isinstance(cause, HttpError):  # raised in a callback: the body bound
                raise cause from None
            raise HttpError(f"not an HTTP response: {err}") from err
        return self.done

    def feed_eof(self) -> None:
        """The peer closed: the end of a close-delimited body, or a truncated response."""
        self._eof = True
        if self.done:
            return
        collector = self._collector
        if collector.head_done and not (
            {"content-length", "transfer-encoding"} & collector.headers.keys()
        ):
            collector.done = True  # a close-delimited body ends here
            return
        raise HttpError("connection closed before a complete HTTP response")

    def response(self) -> HttpResponse:
        """The complete response (``feed`` returned ``True``, or ``feed_eof`` accepted it)."""
        if not self.done:
            raise HttpError("the response is not complete")
        collector = self._collector
        keep_alive = collector.keep_alive and not self._eof
        return HttpResponse(
            self._parser.get_status_code(), collector.headers, bytes(collector.body), keep_alive
        )
