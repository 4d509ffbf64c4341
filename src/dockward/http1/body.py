"""Body framing: where a message body ends, and chunked coding in both directions.

``ChunkedReader`` is one state machine used two ways: on requests it hands out the decoded
payload so the gateway can re-emit framing it generated itself (dockerd and dockward then agree
on where the body ends); on responses the gateway forwards the raw bytes untouched and only asks
where the message ends. Chunk extensions and request trailers are dropped.
"""

from __future__ import annotations

import enum
import re

from dockward.errors import ProtocolError

MAX_LINE = 4096
MAX_TRAILER_BYTES = 64 * 1024
LAST_CHUNK = b"0\r\n\r\n"
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


class ChunkState(enum.Enum):
    SIZE = "size line"
    DATA = "chunk data"
    DATA_END = "CRLF after chunk data"
    TRAILER = "trailer"
    DONE = "done"


def encode_chunk(payload: bytes | memoryview) -> list[bytes | memoryview]:
    """The pieces of one chunk carrying ``payload`` (empty payloads produce nothing)."""
    if not payload:
        return []
    return [b"%x\r\n" % len(payload), payload, b"\r\n"]


_DATA = ChunkState.DATA
_DATA_END = ChunkState.DATA_END
_SIZE = ChunkState.SIZE
# pass_through reads a chunk boundary in one match where it can: the end of the data, then a
# size line without extensions (what _chunk_size accepts of such a line)
_BOUNDARY = re.compile(rb"\r\n([0-9a-fA-F]{1,15})\r\n")
# pass_through looks for a chunk-size line's end in this many bytes first (a size line without
# extensions is at most 15 hex digits and CRLF); only a longer line takes up to MAX_LINE.
_SIZE_WINDOW = 32


class ChunkedReader:
    """Incremental chunked-coding parser; illegal input raises ``ProtocolError`` at once."""

    __slots__ = ("_line", "_remaining", "_trailer_bytes", "state")

    def __init__(self) -> None:
        self.state = ChunkState.SIZE
        self._line = bytearray()
        self._remaining = 0
        self._trailer_bytes = 0

    @property
    def done(self) -> bool:
        return self.state is ChunkState.DONE

    def feed(self, data: bytes, payload: list[memoryview] | None = None) -> int:
        """Consume ``data``; return how many bytes of it belong to this body.

        That is ``len(data)`` unless the body ended inside ``data``. When ``payload`` is given,
        the decoded chunk data is appended to it as memoryviews (no copies).
        """
        pos = 0
        end = len(data)
        while pos < end:
            state = self.state
            if state is ChunkState.DATA:
                take = min(self._remaining, end - pos)
                if payload is not None:
                    payload.append(memoryview(data)[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self.state = ChunkState.DATA_END
            elif state is ChunkState.DATA_END:
                need = 2 - len(self._line)
                self._line += data[pos : pos + need]
                pos += min(need, end - pos)
                if len(self._line) == 2:
                    if self._line != b"\r\n":
                        raise ProtocolError(
                            "malformed chunked body: chunk data not followed by CRLF"
                        )
                    self._line.clear()
                    self.state = ChunkState.SIZE
                elif self._line != b"\r"[: len(self._line)]:
                    raise ProtocolError("malformed chunked body: chunk data not followed by CRLF")
            elif state is ChunkState.DONE:
                return pos
            else:
                newline = data.find(b"\n", pos)
                stop = end if newline < 0 else newline + 1
                self._line += data[pos:stop]
                pos = stop
                if len(self._line) > MAX_LINE:
                    raise ProtocolError(
                        f"malformed chunked body: {state.value} longer than {MAX_LINE} bytes"
                    )
                if newline >= 0:
                    line = bytes(self._line)
                    self._line.clear()
                    if state is ChunkState.SIZE:
                        self._size_line(line)
                    else:
                        self._trailer_line(line)
        return pos

    def pass_through(self, data: bytes | bytearray | memoryview) -> bool:
        """Consume all of ``data`` when it is well-formed chunk framing and data that does not
        reach the last chunk, and return True; otherwise change nothing and return False.

        The relay's fast lane for a chunked response it forwards untouched: only the chunk
        boundaries are looked at (matched in place in their usual form, CRLF, hex size, CRLF;
        a few bytes copied out otherwise), never the data.
        False leaves ``data`` to ``feed``, which ends the body or reports what is malformed.
        """
        end = len(data)
        state = self.state
        remaining = self._remaining
        if state is _DATA and remaining > end:  # the middle of a chunk: most reads
            self._remaining = remaining - end
            return True
        # Worked on in locals, written back only when all of ``data`` is consumed.
        pending = bytes(self._line)  # a size line, or the CRLF after data, begun earlier
        pos = 0
        while pos < end:
            if state is _DATA:
                take = min(remaining, end - pos)
                pos += take
                remaining -= take
                if remaining == 0:
                    state = _DATA_END
            elif state is _DATA_END:
                boundary = None if pending else _BOUNDARY.match(data, pos)
                if boundary is not None:  # the common case: CRLF, the next size, CRLF
                    size = int(boundary[1], 16)
                    if size == 0:
                        return False
                    pos = boundary.end() + size  # past the chunk's data: the next boundary
                    if pos >= end:  # the data goes on in the next read, or ends with this one
                        remaining = pos - end
                        state = _DATA if remaining else _DATA_END
                        break
                    continue
                piece = bytes(data[pos : pos + 2 - len(pending)])
                pending += piece
                pos += len(piece)
                if pending == b"\r\n":
                    pending = b""
                    state = _SIZE
                elif pending != b"\r":
                    return False
            elif state is _SIZE:
                window = bytes(data[pos : pos + _SIZE_WINDOW])
                newline = window.find(b"\n")
                if newline < 0 and len(window) == _SIZE_WINDOW:  # a long line: extensions
                    window = bytes(data[pos : pos + MAX_LINE + 1])
                    newline = window.find(b"\n")
                if newline < 0:  # the line goes on in the next read
                    pending += window
                    pos += len(window)
                    if len(pending) > MAX_LINE:
                        return False
                    continue
                pending += window[: newline + 1]
                pos += newline + 1
                if len(pending) > MAX_LINE:
                    return False
                try:
                    remaining = _chunk_size(pending)
                except ProtocolError:
                    return False
                if remaining == 0:  # the last chunk: the body ends on the general path
                    return False
                pending = b""
                state = _DATA
            else:  # trailers, or the body is over
                return False
        self.state = state
        self._remaining = remaining
        self._line[:] = pending
        return True

    def _size_line(self, line: bytes) -> None:
        size = _chunk_size(line)
        if size == 0:
            self.state = ChunkState.TRAILER
        else:
            self._remaining = size
            self.state = ChunkState.DATA

    def _trailer_line(self, line: bytes) -> None:
        if not line.endswith(b"\r\n"):
            raise ProtocolError("malformed chunked body: bare LF in trailer")
        if line == b"\r\n":
            self.state = ChunkState.DONE
            return
        self._trailer_bytes += len(line)
        if self._trailer_bytes > MAX_TRAILER_BYTES:
            raise ProtocolError("malformed chunked body: trailer too large")
        if line[:1] in (b" ", b"\t") or b":" not in line:
            raise ProtocolError("malformed chunked body: invalid trailer line")


def _chunk_size(line: bytes) -> int:
    """The size a whole chunk-size line (CRLF included) announces; extensions are ignored."""
    if not line.endswith(b"\r\n"):
        raise ProtocolError("malformed chunked body: bare LF after chunk size")
    size_text = line[:-2].split(b";", 1)[0]
    if not size_text or len(size_text) > 15 or not _HEX_DIGITS.issuperset(size_text):
        raise ProtocolError("malformed chunked body: invalid chunk size")
    if b"\r" in line[:-2]:
        raise ProtocolError("malformed chunked body: CR inside chunk size line")
    return int(size_text, 16)


class LengthReader:
    """A body of known length."""

    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        self.remaining = length

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def feed(self, data: bytes, payload: list[memoryview] | None = None) -> int:
        take = min(self.remaining, len(data))
        if payload is not None and take:
            payload.append(memoryview(data)[:take])
        self.remaining -= take
        return take


class UntilCloseReader:
    """A response body delimited by the daemon closing the connection."""

    __slots__ = ()

    done = False

    def feed(self, data: bytes, payload: list[memoryview] | None = None) -> int:
        if payload is not None:
            payload.append(memoryview(data))
        return len(data)


BodyReader = ChunkedReader | LengthReader | UntilCloseReader
