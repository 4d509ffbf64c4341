"""Response heads and how their bodies are delimited."""

from __future__ import annotations

import json

import pytest

from dockward.errors import ProtocolError
from dockward.http1.body import ChunkedReader, LengthReader, UntilCloseReader
from dockward.http1.response import Framing, error_response, parse_response_head, response_framing


def head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def framing(raw: bytes, method: str = "GET", hijack: bool = False):
    return response_framing(parse_response_head(raw), method, hijack)


def test_chunked_and_length_bodies():
    kind, reader = framing(head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked"))
    assert kind is Framing.BODY and isinstance(reader, ChunkedReader)
    kind, reader = framing(head("HTTP/1.1 200 OK", "Content-Length: 12"))
    assert kind is Framing.BODY and isinstance(reader, LengthReader) and reader.remaining == 12


def test_no_body_cases():
    assert framing(head("HTTP/1.1 204 No Content"))[0] is Framing.NONE
    assert framing(head("HTTP/1.1 304 Not Modified", "Content-Length: 10"))[0] is Framing.NONE
    assert framing(head("HTTP/1.1 200 OK", "Content-Length: 0"))[0] is Framing.NONE
    # HEAD /containers/x/archive: neither length nor chunked, and no body follows
    assert (
        framing(head("HTTP/1.1 200 OK", "X-Docker-Container-Path-Stat: e30="), "HEAD")[0]
        is Framing.NONE
    )
    # an error reply to HEAD carries a Content-Length but no body
    assert framing(head("HTTP/1.1 404 Not Found", "Content-Length: 40"), "HEAD")[0] is Framing.NONE


def test_informational_and_upgrade():
    assert framing(head("HTTP/1.1 100 Continue"))[0] is Framing.INFORMATIONAL
    up = head(
        "HTTP/1.1 101 UPGRADED",
        "Content-Type: application/vnd.docker.raw-stream",
        "Connection: Upgrade",
        "Upgrade: tcp",
    )
    assert framing(up, "POST", hijack=True)[0] is Framing.TUNNEL


def test_legacy_raw_stream_200_is_a_tunnel_only_on_hijack_routes():
    raw = head("HTTP/1.1 200 OK", "Content-Type: application/vnd.docker.raw-stream")
    assert framing(raw, "POST", hijack=True)[0] is Framing.TUNNEL
    kind, reader = framing(raw, "POST", hijack=False)
    assert kind is Framing.BODY and isinstance(reader, UntilCloseReader)


def test_hijack_error_reply_is_close_delimited():
    raw = head("HTTP/1.1 404 Not Found", "Content-Type: text/plain; charset=utf-8")
    kind, reader = framing(raw, "POST", hijack=True)
    assert kind is Framing.BODY and isinstance(reader, UntilCloseReader)


def test_connection_close_is_noticed():
    assert parse_response_head(head("HTTP/1.1 200 OK", "Connection: close")).close
    assert parse_response_head(head("HTTP/1.0 200 OK")).close
    assert not parse_response_head(head("HTTP/1.1 200 OK")).close


@pytest.mark.parametrize(
    "raw",
    [
        head("HTTP/2 200"),
        head("HTTP/1.1 abc OK"),
        head("HTTP/1.1 200 OK", "bad"),
        head("HTTP/1.1 1_0 OK"),  # int() reads 10
        head("HTTP/1.1  10 OK"),  # int() strips the space
        head("HTTP/1.1 +10 OK"),
        head("HTTP/1.1 2000 OK"),
        head("HTTP/1.1 \u0662\u0660\u0660 OK"),  # Arabic-Indic digits, for str.isdigit
    ],
)
def test_malformed_daemon_heads_are_502(raw):
    with pytest.raises(ProtocolError) as caught:
        parse_response_head(raw)
    assert caught.value.status == 502


def test_a_status_line_without_a_reason_phrase_is_read():
    assert parse_response_head(head("HTTP/1.1 204")).status == 204


def test_error_response_is_docker_style_json():
    raw = error_response(403, 'denied by role "ci"', close=True)
    head_part, body = raw.split(b"\r\n\r\n", 1)
    assert head_part.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"Connection: close" in head_part
    assert f"Content-Length: {len(body)}".encode() in head_part
    assert json.loads(body) == {"message": 'dockward: denied by role "ci"'}
