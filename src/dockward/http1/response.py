"""Response heads from the daemon, how their bodies are framed, and our own error replies.

The daemon is trusted to speak HTTP correctly, so its heads are read with a small parser that
looks only at what framing needs; the bytes are forwarded to the client unchanged.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus

from dockward.errors import ProtocolError
from dockward.http1.body import BodyReader, ChunkedReader, LengthReader, UntilCloseReader

RAW_STREAM_TYPES = (
    b"application/vnd.docker.raw-stream",
    b"application/vnd.docker.multiplexed-stream",
)


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    raw: bytes
    content_length: int | None
    chunked: bool
    close: bool
    content_type: bytes | None


class Framing(enum.Enum):
    """What follows a response head on the wire."""

    INFORMATIONAL = "1xx, another head follows"
    NONE = "no body"
    BODY = "a framed or close-delimited body"
    TUNNEL = "a raw byte pipe in both directions"


def parse_response_head(raw: bytes) -> ResponseHead:
    """Parse a complete response head (ending with the blank line)."""
    lines = raw[:-4].split(b"\r\n")
    status_line = lines[0]
    if not status_line.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) or len(status_line) < 12:
        raise ProtocolError("the Docker daemon sent a malformed response", status=502)
    code = status_line[9:12]
    # exactly three ASCII digits, then the end or a space: int() alone takes "1_0" or " 10"
    if not (code.isdigit() and code.isascii()) or status_line[12:13] not in (b"", b" "):
        raise ProtocolError("the Docker daemon sent a malformed status line", status=502)
    status = int(code)
    content_length: int | None = None
    chunked = False
    close = status_line.startswith(b"HTTP/1.0 ")
    content_type: bytes | None = None
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ProtocolError("the Docker daemon sent a malformed header", status=502)
        key = name.strip().lower()
        if key == b"content-length":
            text = value.strip()
            if not text.isdigit():
                raise ProtocolError("the Docker daemon sent an invalid Content-Length", status=502)
            content_length = int(text)
        elif key == b"transfer-encoding":
            chunked = value.strip().lower() == b"chunked"
        elif key == b"connection":
            tokens = {t.strip().lower() for t in value.split(b",")}
            if b"close" in tokens:
                close = True
            elif b"keep-alive" in tokens:
                close = False
        elif key == b"content-type":
            content_type = value.strip()
    return ResponseHead(status, raw, content_length, chunked, close, content_type)


_parse_cached = lru_cache(maxsize=512)(parse_response_head)


def parse_response_head_cached(raw: bytes) -> ResponseHead:
    """``parse_response_head``, remembering small heads: dockerd repeats the same answers (only
    ``Date`` changes, once a second). The result is shared and immutable."""
    if len(raw) > 4096:
        return parse_response_head(raw)
    return _parse_cached(raw)


def response_framing(
    head: ResponseHead, request_method: str, hijack_route: bool
) -> tuple[Framing, BodyReader | None]:
    """How the body after ``head`` is delimited, given the request it answers."""
    status = head.status
    if status == 101:
        return Framing.TUNNEL, None
    if status < 200:
        return Framing.INFORMATIONAL, None
    if (
        hijack_route
        and status == 200
        and not head.chunked
        and head.content_length is None
        and head.content_type is not None
        and head.content_type.startswith(RAW_STREAM_TYPES)
    ):
        return Framing.TUNNEL, None  # legacy attach/exec answer without Upgrade
    if request_method == "HEAD" or status in (204, 304):
        return Framing.NONE, None
    if head.chunked:
        return Framing.BODY, ChunkedReader()
    if head.content_length is not None:
        if head.content_length == 0:
            return Framing.NONE, None
        return Framing.BODY, LengthReader(head.content_length)
    return Framing.BODY, UntilCloseReader()


def with_content_length(raw_head: bytes, length: int) -> bytes:
    """``raw_head`` re-framed for a body of ``length`` bytes (framing headers replaced)."""
    lines = raw_head[:-4].split(b"\r\n")
    kept = [
        line
        for line in lines[1:]
        if line.partition(b":")[0].strip().lower() not in (b"content-length", b"transfer-encoding")
    ]
    return b"\r\n".join([lines[0], *kept, b"Content-Length: %d" % length]) + b"\r\n\r\n"


def error_response(
    status: int,
    message: str,
    *,
    close: bool = False,
    head_only: bool = False,
    as_daemon: bool = False,
) -> bytes:
    """A Docker-style JSON error reply; the docker CLI prints ``message``.

    ``head_only`` answers a HEAD request: the same head, no body. ``as_daemon`` sends the
    message as dockerd words it, without dockward's prefix (tenancy answers a foreign object
    with the daemon's own not-found text, so existence does not leak).
    """
    text = message if as_daemon else f"dockward: {message}"
    body = json.dumps({"message": text}).encode() + b"\n"
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else body)
