"""The checked container is named by its ID in the forwarded request (no rename race)."""

from __future__ import annotations

from dockward.gateway.connection import _pin_target_container
from dockward.http1.request import parse_request_head, replace_request_target
from dockward.policy.paths import split_target
from dockward.policy.profiles import FactQuery
from dockward.policy.routes import classify_route

ID = "4f1c" * 16
HEAD = b"POST /v1.41/containers/web/exec HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"


def classified(raw: bytes):
    head = parse_request_head(raw)
    target = split_target(head.target)
    return classify_route(head.method, target), target.query


def test_exec_is_forwarded_with_the_inspected_id():
    request, query = classified(HEAD)
    facts = {FactQuery("container", "web"): {"Id": ID, "Name": "/web"}}
    pinned = _pin_target_container(HEAD, request, query, facts)
    assert pinned == HEAD.replace(b"/containers/web/exec", f"/containers/{ID}/exec".encode())
    assert parse_request_head(pinned).header(b"content-length") == b"2"


def test_query_and_unversioned_paths_survive():
    query_text = b"path=%2Ftmp&noOverwriteDirNonDir=true"
    raw = b"PUT /containers/web/archive?" + query_text + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    request, query = classified(raw)
    pinned = _pin_target_container(raw, request, query, {FactQuery("container", "web"): {"Id": ID}})
    assert pinned.startswith(
        f"PUT /containers/{ID}/archive?path=%2Ftmp&noOverwriteDirNonDir=true HTTP/1.1\r\n".encode()
    )


def test_unknown_container_and_other_operations_are_left_alone():
    request, query = classified(HEAD)
    assert (
        _pin_target_container(HEAD, request, query, {FactQuery("container", "web"): None}) == HEAD
    )
    raw = b"POST /v1.41/containers/web/start HTTP/1.1\r\nHost: x\r\n\r\n"
    request, query = classified(raw)
    assert (
        _pin_target_container(raw, request, query, {FactQuery("container", "web"): {"Id": ID}})
        == raw
    )


def test_replace_request_target_keeps_method_version_and_headers():
    assert (
        replace_request_target(b"GET /a HTTP/1.0\r\nHost: x\r\n\r\n", b"/b?c=1")
        == b"GET /b?c=1 HTTP/1.0\r\nHost: x\r\n\r\n"
    )
