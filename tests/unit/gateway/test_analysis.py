"""The per-head analysis: parse, target, route and head-only refusals, remembered per raw head."""

from __future__ import annotations

import pytest

from dockward.errors import ProtocolError
from dockward.gateway.analysis import analyse_head, analyse_head_cached


def head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_a_plain_request_is_classified():
    seen = analyse_head(head("GET /v1.41/containers/json?all=1 HTTP/1.1", "Host: docker"))
    assert seen.request is not None and seen.request.operation == "container.list"
    assert seen.target is not None and seen.target.query == "all=1"
    assert seen.log_path == "/v1.41/containers/json"
    assert seen.head_refusal is None and seen.target_error is None


def test_an_unreadable_target_is_kept_as_an_error_with_a_loggable_path():
    seen = analyse_head(head("GET /containers/%zz/json?all=1 HTTP/1.1", "Host: docker"))
    assert seen.request is None and seen.target is None
    assert seen.target_error is not None
    status, message = seen.target_error
    assert status == 400 and "invalid percent escape" in message
    assert seen.log_path == "/containers/%zz/json"


def test_a_malformed_head_raises():
    with pytest.raises(ProtocolError):
        analyse_head(head("GET /_ping HTTP/1.1", "Host: a", "Host: b"))


@pytest.mark.parametrize(
    ("lines", "status", "words"),
    [
        (
            ["POST /containers/create HTTP/1.1", "Host: d", "Upgrade: tcp", "Connection: Upgrade"],
            400,
            "Upgrade is not accepted on container.create",
        ),
        (
            [
                "GET /containers/c1/attach/ws?stream=1 HTTP/1.1",
                "Host: 127.0.0.1:2376",
                "Origin: https://evil.example",
            ],
            403,
            "Origin header does not match Host",
        ),
        (
            [
                "POST /containers/create HTTP/1.1",
                "Host: d",
                "Content-Type: application/x-www-form-urlencoded",
                "Content-Length: 3",
            ],
            415,
            "form-encoded",
        ),
    ],
)
def test_head_only_refusals(lines, status, words):
    seen = analyse_head(head(*lines))
    assert seen.head_refusal is not None
    assert seen.head_refusal[0] == status and words in seen.head_refusal[1]


def test_a_same_origin_websocket_is_not_refused():
    seen = analyse_head(
        head(
            "GET /containers/c1/attach/ws HTTP/1.1",
            "Host: 127.0.0.1:2376",
            "Origin: http://127.0.0.1:2376",
        )
    )
    assert seen.head_refusal is None


def test_repeated_heads_share_one_analysis():
    raw = head("GET /_ping HTTP/1.1", "Host: docker")
    assert analyse_head_cached(raw) is analyse_head_cached(raw)


@pytest.mark.parametrize(
    "header",
    [
        "X-Registry-Auth: e30=",
        "X-Registry-Config: eyJyZWdpc3RyeSI6eyJwYXNzd29yZCI6InMzY3JldCJ9fQ==",
        "authorization: Basic eDp5",
        "Proxy-Authorization: Basic eDp5",
    ],
)
def test_heads_with_credentials_are_never_remembered(header):
    raw = head("POST /images/create?fromImage=busybox HTTP/1.1", "Host: docker", header)
    first, second = analyse_head_cached(raw), analyse_head_cached(raw)
    assert first is not second
    assert first.request is not None and first.request.operation == "image.pull"


@pytest.mark.parametrize(
    ("method", "content_type"),
    [
        ("POST", "applİcation/x-www-form-urlencoded"),  # U+0130: "i" to Go's ToLower
        ("POST", "\u3000application/x-www-form-urlencoded"),  # Go trims Unicode spaces
        ("GET", "multipart/form-data; boundary=x"),  # r.FormValue reads it on any method
        ("DELETE", "multipart/form-data; boundary=x"),
        ("HEAD", "application/x-www-form-urlencoded"),
    ],
)
def test_form_content_types_are_refused_as_go_reads_them_on_every_method(method, content_type):
    raw = (
        f"{method} /containers/victim/attach?stream=1 HTTP/1.1\r\nHost: d\r\n".encode()
        + b"Content-Type: "
        + content_type.encode()
        + b"\r\nContent-Length: 7\r\n\r\n"
    )
    seen = analyse_head(raw)
    assert seen.head_refusal == (415, "form-encoded and multipart bodies are not accepted")
