"""Chunked and length framing, fed whole, byte by byte, and split at every position."""

from __future__ import annotations

import random

import pytest

from dockward.errors import ProtocolError
from dockward.http1.body import ChunkedReader, LengthReader, encode_chunk

BODY = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
NEXT = b"GET /_ping HTTP/1.1\r\n"


def feed_all(reader, pieces):
    payload = []
    consumed = 0
    for piece in pieces:
        if reader.done:
            break
        consumed += reader.feed(piece, payload)
    return consumed, b"".join(bytes(p) for p in payload)


def test_chunked_whole():
    reader = ChunkedReader()
    consumed, payload = feed_all(reader, [BODY + NEXT])
    assert reader.done and consumed == len(BODY) and payload == b"hello0123456789"


def test_chunked_byte_by_byte():
    data = BODY + NEXT
    reader = ChunkedReader()
    consumed, payload = feed_all(reader, [data[i : i + 1] for i in range(len(data))])
    assert reader.done and consumed == len(BODY) and payload == b"hello0123456789"


def test_chunked_split_at_every_position():
    data = BODY + NEXT
    for cut in range(len(data) + 1):
        reader = ChunkedReader()
        consumed, payload = feed_all(reader, [data[:cut], data[cut:]])
        assert (reader.done, consumed, payload) == (True, len(BODY), b"hello0123456789"), cut


def test_reencoding_round_trips():
    reader = ChunkedReader()
    payload: list[memoryview] = []
    reader.feed(BODY, payload)
    wire = b"".join(bytes(p) for piece in payload for p in encode_chunk(piece)) + b"0\r\n\r\n"
    again = ChunkedReader()
    out: list[memoryview] = []
    assert again.feed(wire, out) == len(wire) and again.done
    assert b"".join(bytes(p) for p in out) == b"hello0123456789"
    assert encode_chunk(b"") == []


@pytest.mark.parametrize(
    "bad",
    [
        b"g\r\n",
        b"-1\r\n",
        b" 5\r\nhello\r\n",
        b"5 \r\nhello\r\n",
        b"5\nhello\r\n",
        b"5\r\nhelloXY",
        b"5\r\nhello\n0",
        b"1234567890123456\r\n",
        b"\r\n",
        b"0\r\nbad trailer\r\n\r\n",
        b"0\r\n folded: x\r\n\r\n",
        b"5\r\r\nhello\r\n",
    ],
)
def test_malformed_chunked_is_refused(bad):
    with pytest.raises(ProtocolError):
        ChunkedReader().feed(bad)


def test_overlong_size_line_is_refused():
    with pytest.raises(ProtocolError):
        ChunkedReader().feed(b"5;" + b"x" * 5000)


def test_length_reader_stops_at_its_length():
    reader = LengthReader(5)
    payload: list[memoryview] = []
    assert reader.feed(b"hel", payload) == 3
    assert reader.feed(b"loNEXT", payload) == 2
    assert reader.done and b"".join(bytes(p) for p in payload) == b"hello"


# pass_through: the relay's fast lane for a chunked response forwarded as it is. Whatever it
# takes must be what feed would have taken, and it must never take the body's end.


def _lane(pieces: list[bytes]) -> tuple[ChunkedReader, int, list[bool]]:
    """Feed ``pieces`` as the relay does: the lane first, ``feed`` when it declines."""
    reader = ChunkedReader()
    consumed = 0
    laned: list[bool] = []
    for piece in pieces:
        if reader.done:
            break
        if reader.pass_through(memoryview(piece)):
            laned.append(True)
            consumed += len(piece)
        else:
            laned.append(False)
            consumed += reader.feed(piece)
    return reader, consumed, laned


def _chunked(pick: random.Random) -> bytes:
    """A chunked body with chunks of many sizes, some extensions, and sometimes trailers."""
    out = bytearray()
    for _ in range(pick.randint(0, 12)):
        size = pick.choice([1, 2, 15, 16, 255, 4096, 32 * 1024, pick.randint(1, 70_000)])
        digits = b"%x" % size if pick.random() < 0.7 else b"%X" % size
        if pick.random() < 0.2:  # leading zeros, up to the 15 digits allowed
            digits = b"0" * pick.randint(0, 15 - len(digits)) + digits
        ext = pick.choice([b"", b"", b"", b";a=1", b';name="v;x"', b";" + b"e" * 60])
        out += digits + ext + b"\r\n" + pick.randbytes(size) + b"\r\n"
    out += pick.choice([b"0", b"000"]) + pick.choice([b"", b";last"]) + b"\r\n"
    if pick.random() < 0.4:
        out += b"X-Trailer: one\r\nX-Other: two\r\n"
    return bytes(out + b"\r\n")


def _split(pick: random.Random, data: bytes) -> list[bytes]:
    pieces = []
    at = 0
    while at < len(data):
        size = pick.choice([1, 2, 3, 5, 7, 31, 100, 4104, 32 * 1024 + 7, 300 * 1024])
        pieces.append(data[at : at + size])
        at += size
    return pieces


def test_pass_through_takes_what_feed_takes_and_never_the_end():
    pick = random.Random(16)
    for _ in range(300):
        body = _chunked(pick)
        pieces = _split(pick, body + NEXT)
        reader, consumed, laned = _lane(pieces)
        assert reader.done and consumed == len(body)
        ends_at = 0
        for piece, took in zip(pieces, laned, strict=False):
            ends_at += len(piece)
            assert not took or ends_at < len(body)  # the end always takes the general way


def test_pass_through_at_every_split_of_the_framing():
    body = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n1\r\nx\r\n0\r\nX-Trailer: t\r\n\r\n"
    for cut in range(len(body) + 1):
        for second in range(cut, len(body) + 1):
            pieces = [body[:cut], body[cut:second], body[second:] + NEXT]
            reader, consumed, laned = _lane(pieces)
            assert (reader.done, consumed) == (True, len(body)), (cut, second)
            assert laned[-1] is False


def test_pass_through_in_the_middle_of_a_chunk_only_counts():
    reader = ChunkedReader()
    assert reader.pass_through(b"10\r\n0123")
    assert reader.pass_through(b"456789abcde")
    assert not reader.pass_through(b"f\r\n0\r\n\r\n")  # the end: the general way
    assert reader.feed(b"f\r\n0\r\n\r\n") == 8 and reader.done


@pytest.mark.parametrize(
    "bad",
    [
        b"g\r\n",
        b"5 \r\nhello\r\n",
        b"5\nhello\r\n",
        b"5\r\nhelloXY",
        b"5\r\nhello\n0",
        b"1234567890123456\r\n",
        b"\r\n",
        b"5\r\r\nhello\r\n",
        b"5;" + b"x" * 5000,
        b"5\r\nhello\r\n+5\r\n",
        b"5\r\nhello\r\n0x5\r\nhello\r\n",
    ],
)
def test_pass_through_leaves_malformed_framing_to_feed(bad):
    for cut in range(len(bad) + 1):
        reader = ChunkedReader()
        with pytest.raises(ProtocolError):
            for piece in (bad[:cut], bad[cut:]):
                if not reader.pass_through(piece):
                    reader.feed(piece)
