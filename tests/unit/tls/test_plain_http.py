"""Which first bytes on the TLS port are a plain HTTP request: Go's five request starts only."""

from __future__ import annotations

import pytest

from dockward.tls.plain_http import (
    PLAIN_HTTP_ANSWER,
    FirstBytes,
    classify_first_bytes,
)

REQUESTS = [
    b"GET /_ping HTTP/1.1\r\nHost: 127.0.0.1:2376\r\n\r\n",
    b"HEAD /_ping HTTP/1.1\r\nHost: 127.0.0.1:2376\r\n\r\n",
    b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    b"PUT /containers/c/archive?path=/ HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
]

# Not one of Go's starts, so not answered as HTTP: OpenSSL refuses them like any non-TLS bytes.
OTHERS = [
    b"DELETE /containers/c HTTP/1.1\r\n\r\n",
    b"PATCH / HTTP/1.1\r\n\r\n",
    b"CONNECT docker:2376 HTTP/1.1\r\n\r\n",
    b"GET  / HTTP/1.1\r\n\r\n",
    b"GET http://docker/_ping HTTP/1.1\r\n\r\n",
    b"get /_ping HTTP/1.1\r\n\r\n",
    b"PUT x HTTP/1.1\r\n\r\n",
    b"HEAD\t/ HTTP/1.1\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.2\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello record
    b"\x16\x03\x01\x00\x05GET /",  # the record header is what counts, not what follows
    b"\x80\x2e\x01\x00\x02",  # an SSLv2-style hello
]


def test_the_answer_is_gos_byte_for_byte():
    assert PLAIN_HTTP_ANSWER == (
        b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    )


@pytest.mark.parametrize("request_bytes", REQUESTS, ids=lambda r: r[:5].decode())
def test_a_plain_http_request_is_recognised_at_its_fifth_byte(request_bytes):
    assert classify_first_bytes(request_bytes) is FirstBytes.PLAIN_HTTP
    assert classify_first_bytes(bytearray(request_bytes)) is FirstBytes.PLAIN_HTTP
    for size in range(len(request_bytes) + 1):
        expected = FirstBytes.INCOMPLETE if size < 5 else FirstBytes.PLAIN_HTTP
        assert classify_first_bytes(request_bytes[:size]) is expected, size


@pytest.mark.parametrize("start", OTHERS, ids=lambda r: repr(r[:5]))
def test_anything_else_is_left_to_the_handshake_and_only_after_five_bytes(start):
    for size in range(len(start) + 1):
        expected = FirstBytes.INCOMPLETE if size < 5 else FirstBytes.OTHER
        assert classify_first_bytes(start[:size]) is expected, size
