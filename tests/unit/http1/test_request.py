"""Request heads: what we accept, and every smuggling shape we refuse."""

from __future__ import annotations

import pytest

from dockward.errors import ProtocolError
from dockward.http1.request import MAX_HEAD_BYTES, find_head_end, parse_request_head


def head(*lines: str, request: str = "GET /v1.41/containers/json HTTP/1.1") -> bytes:
    return ("\r\n".join((request, *lines)) + "\r\n\r\n").encode("latin-1")


def test_plain_get_keeps_the_raw_bytes_and_headers():
    raw = head("Host: 127.0.0.1:2376", "User-Agent: Docker-Client/28.2.2 (linux)")
    parsed = parse_request_head(raw)
    assert parsed.method == "GET"
    assert parsed.target == b"/v1.41/containers/json"
    assert parsed.raw == raw
    assert parsed.keep_alive and not parsed.has_body
    assert parsed.header(b"user-agent") == b"Docker-Client/28.2.2 (linux)"


def test_empty_host_is_legal_because_buildx_sends_it():
    parsed = parse_request_head(
        head("Host: ", "Connection: Upgrade", "Upgrade: h2c", request="POST /grpc HTTP/1.1")
    )
    assert parsed.upgrade == b"h2c"


def test_exec_start_upgrade_with_a_json_body():
    parsed = parse_request_head(
        head(
            "Host: x",
            "Connection: Upgrade",
            "Upgrade: tcp",
            "Content-Type: application/json",
            "Content-Length: 27",
            request="POST /v1.41/exec/abc/start HTTP/1.1",
        )
    )
    assert parsed.upgrade == b"tcp" and parsed.content_length == 27


def test_upgrade_without_connection_upgrade_is_not_an_upgrade():
    parsed = parse_request_head(head("Host: x", "Upgrade: tcp"))
    assert parsed.upgrade is None


def test_chunked_body():
    parsed = parse_request_head(
        head("Host: x", "Transfer-Encoding: chunked", request="POST /build HTTP/1.1")
    )
    assert parsed.chunked and parsed.has_body and parsed.content_length is None


def test_connection_close_and_http10():
    assert not parse_request_head(head("Host: x", "Connection: close")).keep_alive
    assert not parse_request_head(head(request="GET /_ping HTTP/1.0")).keep_alive
    assert parse_request_head(
        head("Connection: keep-alive", request="GET /_ping HTTP/1.0")
    ).keep_alive


@pytest.mark.parametrize(
    ("lines", "request_line", "message"),
    [
        (["Host: x", "Content-Length: 5", "Transfer-Encoding: chunked"], None, "Content-Length"),
        (["Host: x", "Transfer-Encoding: gzip, chunked"], None, "exactly chunked"),
        (
            ["Host: x", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
            None,
            "Transfer-Encoding",
        ),
        (["Host: x", "Transfer-Encoding: gzip"], None, "Transfer-Encoding"),
        (["Host: x", "Content-Length: 5", "Content-Length: 6"], None, "Content-Length"),
        (["Host: x", "Content-Length: 5", "Content-Length: 5"], None, "Content-Length"),
        (["Host: x", "Content-Length: +5"], None, "Content-Length"),
        (["Host: x", "Content-Length: 0x5"], None, "Content-Length"),
        (["Host: x", "X-A: a", " folded"], None, "malformed"),
        ([], None, "missing Host"),
        (["Host: a", "Host: b"], None, "duplicate Host"),
        (
            ["Host: x", "Content-Type: application/json", "Content-Type: text/plain"],
            None,
            "duplicate",
        ),
        (["Host: x", "X-Registry-Auth: a", "X-Registry-Auth: b"], None, "duplicate"),
        (["Host: x"], "GET http://evil/v1.41/containers/json HTTP/1.1", "origin-form"),
        (["Host: x"], "OPTIONS * HTTP/1.1", "origin-form"),
        (["Host: x"], "GET /_ping HTTP/2.0", "HTTP/2.0"),
        (["Host: x"], "CONNECT evil:443 HTTP/1.1", "CONNECT"),
        (["Host: x"], "GET /a b HTTP/1.1", "malformed"),
        (["Ho st: x"], None, "malformed"),
        (["Host: x\x00y"], None, "malformed"),
    ],
)
def test_ambiguous_or_smuggling_heads_are_refused(lines, request_line, message):
    raw = head(*lines, request=request_line or "POST /v1.41/containers/create HTTP/1.1")
    with pytest.raises(ProtocolError) as caught:
        parse_request_head(raw)
    assert message in str(caught.value)
    assert 400 <= caught.value.status < 600


def test_http2_preface_is_refused_before_it_is_complete():
    with pytest.raises(ProtocolError, match="HTTP/2"):
        find_head_end(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    with pytest.raises(ProtocolError, match="HTTP/2"):
        find_head_end(b"PRI *")


def test_head_end_found_across_every_split():
    raw = head("Host: x", "Content-Length: 2") + b"{}"
    whole = find_head_end(raw)
    assert raw[:whole].endswith(b"\r\n\r\n") and raw[whole:] == b"{}"
    for cut in range(1, len(raw)):
        buffer = bytearray(raw[:cut])
        end = find_head_end(buffer)
        scanned = len(buffer)
        buffer += raw[cut:]
        assert find_head_end(buffer, scanned if end < 0 else 0) == whole


def test_head_over_one_mebibyte_is_431():
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MAX_HEAD_BYTES
    with pytest.raises(ProtocolError) as caught:
        find_head_end(big)
    assert caught.value.status == 431


def test_head_just_under_the_limit_is_fine():
    filler = b"a" * (MAX_HEAD_BYTES - 100)
    raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + filler + b"\r\n\r\n"
    assert find_head_end(raw) == len(raw)
    assert parse_request_head(raw).header(b"x-big") == filler


def test_bare_lf_heads_are_refused_instead_of_stalling():
    with pytest.raises(ProtocolError, match="bare LF"):
        find_head_end(b"GET / HTTP/1.1\nHost: x\n\n")
