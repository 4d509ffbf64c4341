"""The client half of HTTP/1.1: GET requests written, responses read whole, byte by byte and
split at every position; truncated, oversized and non-HTTP answers refused."""

from __future__ import annotations

import pytest

from dockward.http1.client import HttpError, HttpResponse, ResponseReader, get_request

CONTENT_LENGTH = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"Id":"ab"}'
)
CHUNKED = (
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"Id\r\n7\r\n":"ab"}\r\n0\r\n\r\n'
)
CLOSE_DELIMITED = b'HTTP/1.0 200 OK\r\nServer: x\r\n\r\n{"Id":"ab"}'


def read_all(pieces: list[bytes], *, eof: bool = False, max_body: int = 1 << 20) -> HttpResponse:
    reader = ResponseReader(max_body)
    for piece in pieces:
        if reader.feed(piece):
            break
    if eof:
        reader.feed_eof()
    return reader.response()


def test_get_request() -> None:
    assert get_request("/containers/a%2Fb/json", "docker", {"User-Agent": "dockward"}) == (
        b"GET /containers/a%2Fb/json HTTP/1.1\r\nHost: docker\r\nUser-Agent: dockward\r\n\r\n"
    )


@pytest.mark.parametrize("path", ["containers/json", "/a b", "/x\r\nX-Injected: 1", ""])
def test_get_request_refuses_what_is_not_an_origin_form_target(path: str) -> None:
    with pytest.raises(ValueError, match="not an origin-form request target"):
        get_request(path, "docker")


@pytest.mark.parametrize("raw", [CONTENT_LENGTH, CHUNKED], ids=["content-length", "chunked"])
def test_a_framed_response_whole_byte_by_byte_and_split_everywhere(raw: bytes) -> None:
    splits = [[raw], [raw[i : i + 1] for i in range(len(raw))]]
    splits += [[raw[:i], raw[i:]] for i in range(1, len(raw))]
    for pieces in splits:
        response = read_all(pieces)
        assert (response.status, response.body, response.keep_alive) == (200, b'{"Id":"ab"}', True)
        assert response.json() == {"Id": "ab"}


def test_a_response_is_done_only_at_its_end() -> None:
    reader = ResponseReader()
    assert reader.feed(CONTENT_LENGTH[:-1]) is False
    with pytest.raises(HttpError, match="not complete"):
        reader.response()
    assert reader.feed(CONTENT_LENGTH[-1:]) is True
    with pytest.raises(HttpError, match="after a complete response"):
        reader.feed(b"HTTP/1.1 200 OK\r\n")


def test_a_close_delimited_body_ends_at_eof() -> None:
    response = read_all([CLOSE_DELIMITED[:20], CLOSE_DELIMITED[20:]], eof=True)
    assert (response.status, response.body, response.keep_alive) == (200, b'{"Id":"ab"}', False)
    assert response.headers == {"server": "x"}


@pytest.mark.parametrize(
    ("raw", "keep_alive"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
    ],
)
def test_keep_alive_is_what_the_response_says(raw: bytes, keep_alive: bool) -> None:
    assert read_all([raw]).keep_alive is keep_alive


@pytest.mark.parametrize(
    "raw",
    [b"", b"HTTP/1.1 200 OK\r\nContent-", CONTENT_LENGTH[:-3], CHUNKED[:-5]],
    ids=["nothing", "head", "length-body", "chunked-body"],
)
def test_a_truncated_response_is_refused(raw: bytes) -> None:
    reader = ResponseReader()
    assert reader.feed(raw) is False
    with pytest.raises(HttpError, match="closed before a complete HTTP response"):
        reader.feed_eof()


@pytest.mark.parametrize("raw", [b"\x16\x03\x01\x00\x05hello", b"SSH-2.0-OpenSSH_9.2\r\n"])
def test_what_is_not_http_is_refused(raw: bytes) -> None:
    with pytest.raises(HttpError, match="not an HTTP response"):
        ResponseReader().feed(raw)


@pytest.mark.parametrize("raw", [CONTENT_LENGTH, CHUNKED], ids=["content-length", "chunked"])
def test_a_body_over_the_bound_is_refused(raw: bytes) -> None:
    with pytest.raises(HttpError, match="response body larger than 10 bytes"):
        read_all([raw], max_body=10)


def test_a_body_that_is_not_json() -> None:
    response = read_all([b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\noops"])
    assert response.status == 500
    with pytest.raises(HttpError, match="500 answer is not JSON"):
        response.json()
