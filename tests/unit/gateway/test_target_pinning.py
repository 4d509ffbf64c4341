"""The request forwarded names the objects judged, by ID: head, body and framing."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from dockward.gateway.connection import Refusal, pin_request
from dockward.http1.request import parse_request_head, replace_request_target
from dockward.policy.gojson import decode_body
from dockward.policy.paths import split_target
from dockward.policy.profiles import FactQuery
from dockward.policy.routes import classify_route

ID = "4f1c" * 16
OTHER = "9a0b" * 16
HEAD = b"POST /v1.41/containers/web/exec HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"


def classified(raw: bytes):
    head = parse_request_head(raw)
    target = split_target(head.target)
    return classify_route(head.method, target), target.query


def pin(raw: bytes, facts, body: bytes | None = None):
    request, query = classified(raw)
    return pin_request(raw, request, query, body, decode_body(body) if body else None, facts)


def test_exec_is_forwarded_with_the_inspected_id():
    facts = {FactQuery("container", "web"): {"Id": ID, "Name": "/web"}}
    head, body = pin(HEAD, facts, b"{}")
    assert head == HEAD.replace(b"/containers/web/exec", f"/containers/{ID}/exec".encode())
    assert body == b"{}"
    assert parse_request_head(head).header(b"content-length") == b"2"


def test_rename_is_pinned_too():
    raw = b"POST /containers/web/rename?name=db HTTP/1.1\r\nHost: x\r\n\r\n"
    head, _ = pin(raw, {FactQuery("container", "web"): {"Id": ID}})
    assert head.startswith(f"POST /containers/{ID}/rename?name=db HTTP/1.1\r\n".encode())


def test_query_and_unversioned_paths_survive():
    query_text = b"path=%2Ftmp&noOverwriteDirNonDir=true"
    raw = b"PUT /containers/web/archive?" + query_text + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    head, _ = pin(raw, {FactQuery("container", "web"): {"Id": ID}})
    assert head.startswith(
        f"PUT /containers/{ID}/archive?path=%2Ftmp&noOverwriteDirNonDir=true HTTP/1.1\r\n".encode()
    )


def test_a_container_judged_unknown_is_refused_not_forwarded_by_name():
    # forwarding the name would let a container be renamed to it before dockerd looks
    assert pin(HEAD, {FactQuery("container", "web"): None}, b"{}") == Refusal(
        404, "No such container: web", as_daemon=True
    )


def test_unjudged_requests_are_left_alone():
    assert pin(HEAD, {}, b"{}") == (HEAD, b"{}")
    raw = b"POST /v1.41/containers/web/start HTTP/1.1\r\nHost: x\r\n\r\n"
    assert pin(raw, {FactQuery("container", "other"): {"Id": ID}}) == (raw, None)
    pinned = f"POST /v1.41/containers/{ID}/start HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    assert pin(raw, {FactQuery("container", "web"): {"Id": ID}}) == (pinned, None)


def test_an_answer_without_a_usable_id_is_refused():
    for bad in ("../x", "\u00e9t\u00e9", "", None):
        refusal = pin(HEAD, {FactQuery("container", "web"): {"Id": bad}}, b"{}")
        assert isinstance(refusal, Refusal) and refusal.status == 502, bad


CREATE = b"POST /v1.43/containers/create?name=n HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"


def test_a_body_rewrite_fixes_content_length():
    body = b'{"Image":"img","HostConfig":{"VolumesFrom":["data:ro"]}}'
    head, forwarded = pin(CREATE % len(body), {FactQuery("container", "data"): {"Id": ID}}, body)
    assert forwarded == body.replace(b"data:ro", f"{ID}:ro".encode())
    assert parse_request_head(head).content_length == len(forwarded)
    assert head.startswith(b"POST /v1.43/containers/create?name=n HTTP/1.1\r\n")


def test_a_chunked_body_keeps_its_framing():
    # the relay re-chunks the body it collected: the head keeps Transfer-Encoding, no length
    raw = b"POST /containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = json.dumps({"Image": "img", "HostConfig": {"VolumesFrom": ["data"]}}).encode()
    head, forwarded = pin(raw, {FactQuery("container", "data"): {"Id": OTHER}}, body)
    assert head == raw
    assert json.loads(forwarded)["HostConfig"]["VolumesFrom"] == [OTHER]


def test_replace_request_target_keeps_method_version_and_headers():
    assert (
        replace_request_target(b"GET /a HTTP/1.0\r\nHost: x\r\n\r\n", b"/b?c=1")
        == b"GET /b?c=1 HTTP/1.0\r\nHost: x\r\n\r\n"
    )


def test_a_network_connect_is_forwarded_to_the_network_judged_with_its_endpoint():
    body = b'{"Container":"web"}'
    raw = (
        b"POST /v1.41/networks/front/connect HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    head, sent = pin(raw, {FactQuery("network", "front"): {"Id": ID, "Name": "front"}}, body)
    assert head.startswith(f"POST /v1.41/networks/{ID}/connect HTTP/1.1\r\n".encode())
    assert sent is not None and json.loads(sent) == {
        "EndpointConfig": {"NetworkID": ID},
        "Container": "web",
    }
    assert parse_request_head(head).header(b"content-length") == str(len(sent)).encode()


def test_a_network_removed_is_the_network_judged():
    raw = b"DELETE /networks/front HTTP/1.1\r\nHost: x\r\n\r\n"
    head, _ = pin(raw, {FactQuery("network", "front"): {"Id": ID, "Name": "front"}})
    assert head.startswith(f"DELETE /networks/{ID} HTTP/1.1\r\n".encode())


def test_a_commit_is_forwarded_with_the_container_judged_in_its_query():
    raw = b"POST /v1.41/commit?container=web&repo=img HTTP/1.1\r\nHost: x\r\n\r\n"
    head, _ = pin(raw, {FactQuery("container", "web"): {"Id": ID}})
    assert head.startswith(f"POST /v1.41/commit?container={ID}&repo=img HTTP/1.1\r\n".encode())


IMAGE_ID = "sha256:" + "7e" * 32


def test_an_image_path_is_pinned_where_the_id_means_the_same():
    # inspect, history and tag answer and act the same by ID: a tag moved in between cannot
    # show or re-tag another image than the one judged
    facts = {FactQuery("image", "team/app:v1"): {"Id": IMAGE_ID}}
    for raw, pinned in (
        (b"GET /v1.41/images/team/app:v1/json", f"GET /v1.41/images/{IMAGE_ID}/json"),
        (b"GET /images/team/app:v1/history", f"GET /images/{IMAGE_ID}/history"),
        (
            b"POST /v1.41/images/team/app:v1/tag?repo=team/app&tag=v2",
            f"POST /v1.41/images/{IMAGE_ID}/tag?repo=team/app&tag=v2",
        ),
    ):
        head, _ = pin(raw + b" HTTP/1.1\r\nHost: x\r\n\r\n", facts)
        assert head.startswith(pinned.encode() + b" HTTP/1.1\r\n"), head


def test_an_image_path_stays_a_name_where_the_id_would_change_the_effect():
    # save's archive records the names asked for, push pushes a name, remove by ID deletes
    # every tag instead of untagging one
    facts = {FactQuery("image", "team/app:v1"): {"Id": IMAGE_ID}}
    for raw in (
        b"GET /v1.41/images/team/app:v1/get",
        b"POST /v1.41/images/team/app:v1/push?tag=v1",
        b"DELETE /v1.41/images/team/app:v1",
    ):
        request = raw + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        assert pin(request, facts) == (request, None)


def test_an_image_judged_unknown_is_refused_in_dockerds_words():
    raw = b"GET /v1.41/images/app/json HTTP/1.1\r\nHost: x\r\n\r\n"
    assert pin(raw, {FactQuery("image", "app"): None}) == Refusal(
        404, "no such image: app: No such image: app:latest", as_daemon=True
    )
    raw = b"GET /v1.41/images/app/history HTTP/1.1\r\nHost: x\r\n\r\n"
    assert pin(raw, {FactQuery("image", "app"): None}) == Refusal(
        404, "No such image: app:latest", as_daemon=True
    )


def test_a_builds_cache_images_go_as_the_ids_judged():
    # the classic builder looks the cache images up when the build starts: by ID, a tag moved
    # in between changes nothing; an image judged unknown is left out, as dockerd skips it
    facts = {
        FactQuery("image", "team/app:v1"): {"Id": IMAGE_ID},
        FactQuery("image", "gone"): None,
    }
    query = "t=x&cachefrom=%5B%22team%2Fapp%3Av1%22%2C%22gone%22%2C%22unlooked%22%5D&q=1"
    raw = f"POST /v1.41/build?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    head, _ = pin(raw, facts)
    target = parse_request_head(head).target.decode()
    path, _, sent = target.partition("?")
    assert path == "/v1.41/build"
    assert parse_qsl(sent) == [
        ("t", "x"),
        ("cachefrom", json.dumps([IMAGE_ID, "unlooked"], separators=(",", ":"))),
        ("q", "1"),
    ]
    # nothing judged: the query as sent
    raw = b"POST /v1.41/build?cachefrom=%5B%5D HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    assert pin(raw, facts) == (raw, None)
