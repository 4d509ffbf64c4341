"""Request heads: parse with llhttp, then refuse whatever dockerd could read differently.

The rules follow notes/protocol.md §3.4: one way to frame a body (exactly one valid
Content-Length, or ``Transfer-Encoding: chunked`` alone), no obs-fold, exactly one Host (empty is
legal: buildx sends it), origin-form targets only, HTTP/1.0 or 1.1 only, heads up to 1 MiB.
Anything else raises ``ProtocolError`` with the status to answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import httptools

from dockward.errors import ProtocolError

MAX_HEAD_BYTES = 1 << 20
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n"

# Headers that change what dockerd does and that Go reads with Header.Get (first value wins):
# a second copy would mean the policy and the daemon could read different values.
_SINGLETON_HEADERS = frozenset(
    {
        b"host",
        b"content-length",
        b"transfer-encoding",
        b"content-type",
        b"upgrade",
        b"x-registry-auth",
        b"x-registry-config",
        b"expect",
    }
)


@dataclass(frozen=True, slots=True)
class RequestHead:
    """One parsed request head; ``raw`` is forwarded to the daemon byte for byte."""

    method: str
    target: bytes
    http_version: str
    headers: tuple[tuple[bytes, bytes], ...]
    raw: bytes
    content_length: int | None
    chunked: bool
    upgrade: bytes | None
    keep_alive: bool

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower-case), as Go's ``Header.Get``."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


class _Collector:
    __slots__ = ("headers", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))


def find_head_end(buffer: bytes | bytearray, start: int = 0) -> int:
    """Index just past the blank line ending a head in ``buffer``, or -1 if not there yet.

    Raises ``ProtocolError`` when the head is already too large or uses bare-LF line ends
    (llhttp refuses those, so waiting for more bytes would only stall the client).
    """
    if (
        start == 0
        and len(buffer) >= 3
        and buffer[: len(HTTP2_PREFACE)] == HTTP2_PREFACE[: len(buffer)]
    ):
        raise ProtocolError("HTTP/2 is not served here; the Engine API speaks HTTP/1.1")
    end = buffer.find(b"\r\n\r\n", max(0, start - 3))
    if end >= 0:
        if end + 4 > MAX_HEAD_BYTES:
            raise ProtocolError("request head larger than 1 MiB", status=431)
        return end + 4
    if len(buffer) >= MAX_HEAD_BYTES:
        raise ProtocolError("request head larger than 1 MiB", status=431)
    if b"\n\n" in buffer:
        raise ProtocolError("malformed request: bare LF line ends")
    return -1


def parse_request_head(raw: bytes) -> RequestHead:
    """Parse one complete head (ending in a blank line) and apply the strict rules."""
    if raw.startswith(b"PRI "):
        raise ProtocolError("HTTP/2 is not served here; the Engine API speaks HTTP/1.1")
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        pass  # Upgrade/CONNECT: the head is complete, which is all we asked for
    except httptools.HttpParserError as err:
        raise ProtocolError(f"malformed request: {err}") from None
    version = parser.get_http_version()
    if version not in ("1.1", "1.0"):
        raise ProtocolError(f"HTTP/{version} is not served here; the Engine API speaks HTTP/1.1")
    method = parser.get_method().decode("ascii")
    if method == "CONNECT":
        raise ProtocolError("CONNECT is not part of the Engine API")
    target = collector.url
    if not target.startswith(b"/"):
        raise ProtocolError("only origin-form request targets (/path?query) are accepted")

    counts: dict[bytes, int] = {}
    content_length: int | None = None
    transfer_encoding: bytes | None = None
    upgrade: bytes | None = None
    connection_tokens: set[bytes] = set()
    for name, value in collector.headers:
        key = name.lower()
        if key in _SINGLETON_HEADERS:
            counts[key] = counts.get(key, 0) + 1
            if counts[key] > 1:
                raise ProtocolError(f"duplicate {name.decode('latin-1')} header")
            if key == b"content-length":
                content_length = _parse_content_length(value)
            elif key == b"transfer-encoding":
                transfer_encoding = value.strip().lower()
            elif key == b"upgrade":
                upgrade = value.strip()
        elif key == b"connection":
            connection_tokens.update(t.strip().lower() for t in value.split(b","))
    if version == "1.1" and b"host" not in counts:
        raise ProtocolError("missing Host header")
    if transfer_encoding is not None:
        if version == "1.0":
            # Go ignores Transfer-Encoding on HTTP/1.0: dockerd would not read this body at all
            raise ProtocolError("Transfer-Encoding on an HTTP/1.0 request")
        if content_length is not None:
            raise ProtocolError("Content-Length together with Transfer-Encoding")
        if transfer_encoding != b"chunked":
            raise ProtocolError("Transfer-Encoding other than exactly chunked")
    if upgrade is not None and b"upgrade" not in connection_tokens:
        upgrade = None  # Go only upgrades when Connection names it; neither do we
    if version == "1.1":
        keep_alive = b"close" not in connection_tokens
    else:
        keep_alive = b"keep-alive" in connection_tokens
    return RequestHead(
        method=method,
        target=target,
        http_version=version,
        headers=tuple(collector.headers),
        raw=raw,
        content_length=content_length,
        chunked=transfer_encoding is not None,
        upgrade=upgrade,
        keep_alive=keep_alive,
    )


def replace_request_target(raw: bytes, target: bytes) -> bytes:
    """``raw`` (a parsed, valid head) with its request-line target replaced by ``target``."""
    line_end = raw.index(b"\r\n")
    method, _, rest = raw[:line_end].partition(b" ")
    _, _, version = rest.rpartition(b" ")
    return b"%s %s %s%s" % (method, target, version, raw[line_end:])


def _parse_content_length(value: bytes) -> int:
    digits = value.strip()
    if not digits.isdigit() or len(digits) > 18:
        raise ProtocolError("invalid Content-Length")
    return int(digits)
