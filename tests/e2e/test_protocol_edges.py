"""HTTP edges the gateway must forward faithfully: upgrades, raw streams, HEAD, 100-continue."""

from __future__ import annotations

import base64
import json
import os
import uuid

import pytest

from support.gateway import read_until_close, tls_connect

pytestmark = pytest.mark.e2e


def read_head(sock) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"closed before a full head: {data!r}"
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


@pytest.fixture
def cat_container(dockerd, busybox_image):
    name = f"edge-{uuid.uuid4().hex[:8]}"
    dockerd.api_json(
        "POST",
        f"/containers/create?name={name}",
        {"Image": busybox_image, "Cmd": ["cat"], "OpenStdin": True, "StdinOnce": True, "Tty": True},
    )
    yield name
    dockerd.api("DELETE", f"/containers/{name}?force=1")


def test_a_client_still_sending_a_refused_body_reads_the_refusal(gateway, pki):
    # Refused from the head alone while the upload goes on: the gateway must not reset the
    # connection under the client, or the client sees "broken pipe" instead of the reason.
    body = b"a=" + b"x" * (8 << 20)
    head = (
        b"POST /containers/create HTTP/1.1\r\nHost: docker\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(head)
        sock.sendall(body)
        answer = b""
        while piece := sock.recv(65536):
            answer += piece
    assert answer.startswith(b"HTTP/1.1 415 "), answer[:200]
    assert b"form-encoded and multipart bodies are not accepted" in answer


def test_legacy_attach_without_upgrade_becomes_a_pipe(gateway, pki, dockerd, cat_container):
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(
            f"POST /v1.41/containers/{cat_container}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n"
            "Host: x\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n".encode()
        )
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200 OK") and b"raw-stream" in head
        assert dockerd.api("POST", f"/containers/{cat_container}/start")[0] == 204
        sock.sendall(b"echo-me\n")
        received = rest
        while b"echo-me" not in received:
            piece = sock.recv(4096)
            assert piece, received
            received += piece


def test_hijack_error_reply_is_close_delimited_and_reaches_the_client(gateway, pki):
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(
            b"POST /v1.41/containers/no-such-container/attach?stream=1&stdout=1 HTTP/1.1\r\n"
            b"Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
        )
        answer = read_until_close(sock)
    assert answer.startswith(b"HTTP/1.1 404 ")
    assert b"No such container: no-such-container" in answer


def test_grpc_h2c_upgrade_is_forwarded(gateway, pki):
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(
            b"POST /grpc HTTP/1.1\r\nHost: \r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
        )
        head, _ = read_head(sock)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"Upgrade: h2c" in head


def _ws_request(container: str, origin: str | None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET /v1.41/containers/{container}/attach/ws?stream=1&stdout=1 HTTP/1.1",
        "Host: 127.0.0.1:2376",
        "Connection: Upgrade",
        "Upgrade: websocket",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_websocket_attach_from_a_foreign_origin_is_refused(gateway, pki, cat_container):
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(_ws_request(cat_container, "https://evil.example"))
        answer = read_until_close(sock)
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert b"Origin" in answer


def test_websocket_attach_without_origin_is_forwarded(gateway, pki, cat_container):
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(_ws_request(cat_container, None))
        head, _ = read_head(sock)
    assert head.startswith(b"HTTP/1.1 101 ")


def test_head_and_expect_continue(gateway, pki, dockerd, cat_container):
    with tls_connect(gateway, pki.client("admin")) as sock:
        target = f"/v1.41/containers/{cat_container}/archive?path=/bin"
        sock.sendall(f"HEAD {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head, rest = read_head(sock)
        assert (
            head.startswith(b"HTTP/1.1 200 ")
            and b"X-Docker-Container-Path-Stat" in head
            and rest == b""
        )
        # the same connection carries on: the HEAD reply had no body
        body = json.dumps({"Labels": {"via": "continue"}}).encode()
        sock.sendall(
            f"POST /v1.41/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        head, rest = read_head(sock)
        if head.startswith(b"HTTP/1.1 100 "):
            sock.sendall(body)
            head, rest = read_head(sock) if not rest else (rest.partition(b"\r\n\r\n")[0], b"")
        else:
            sock.sendall(body)
        assert head.startswith(b"HTTP/1.1 201 "), head
    volumes = dockerd.api_json("GET", "/volumes")["Volumes"]
    made = [v for v in volumes if (v.get("Labels") or {}).get("via") == "continue"]
    assert made
    for volume in made:
        dockerd.api("DELETE", f"/volumes/{volume['Name']}")
