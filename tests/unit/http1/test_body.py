"""Chunked and length framing, fed whole, byte by byte, and split at every position."""

from __future__ import annotations

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
