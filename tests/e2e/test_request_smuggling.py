"""Requests dockerd could read differently from us are refused, and never reach the daemon.

Each case tries to create a uniquely named container; after the refusal the daemon's own
socket must show that no such container exists.
"""

from __future__ import annotations

import json
import uuid

import pytest

from support.gateway import read_until_close, tls_connect

pytestmark = pytest.mark.e2e

BODY = b'{"Image":"dockward-test/busybox:latest","Cmd":["true"]}'


def create_head(
    name: str, *headers: str, target: str | None = None, version: str = "HTTP/1.1"
) -> bytes:
    target = target or f"/v1.41/containers/create?name={name}"
    lines = [f"POST {target} {version}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


CL = f"Content-Length: {len(BODY)}"
CASES = {
    "cl-and-te": (
        lambda n: create_head(n, "Host: x", CL, "Transfer-Encoding: chunked") + b"0\r\n\r\n",
        400,
    ),
    "te-gzip-chunked": (
        lambda n: create_head(n, "Host: x", "Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n",
        400,
    ),
    "te-twice": (
        lambda n: (
            create_head(n, "Host: x", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked")
            + b"0\r\n\r\n"
        ),
        400,
    ),
    "cl-plus-sign": (
        lambda n: create_head(n, "Host: x", f"Content-Length: +{len(BODY)}") + BODY,
        400,
    ),
    "cl-hex": (lambda n: create_head(n, "Host: x", f"Content-Length: 0x{len(BODY):x}") + BODY, 400),
    "cl-twice-same": (lambda n: create_head(n, "Host: x", CL, CL) + BODY, 400),
    "cl-twice-different": (
        lambda n: create_head(n, "Host: x", CL, "Content-Length: 0") + BODY,
        400,
    ),
    "obs-fold": (lambda n: create_head(n, "Host: x", CL, "X-Folded: a", " b") + BODY, 400),
    "missing-host": (lambda n: create_head(n, CL) + BODY, 400),
    "two-hosts": (lambda n: create_head(n, "Host: a", "Host: b", CL) + BODY, 400),
    "absolute-form": (
        lambda n: (
            create_head(n, "Host: x", CL, target=f"http://evil/v1.41/containers/create?name={n}")
            + BODY
        ),
        400,
    ),
    "http2-preface": (
        lambda n: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + create_head(n, "Host: x", CL) + BODY,
        400,
    ),
    "head-over-1mib": (
        lambda n: create_head(n, "Host: x", CL, "X-Pad: " + "a" * (1 << 20)) + BODY,
        431,
    ),
    "bare-lf": (lambda n: create_head(n, "Host: x", CL).replace(b"\r\n", b"\n") + BODY, 400),
    "unclean-path": (
        lambda n: (
            create_head(n, "Host: x", CL, target=f"/v1.41/images/../containers/create?name={n}")
            + BODY
        ),
        400,
    ),
    "encoded-dotdot": (
        lambda n: (
            create_head(n, "Host: x", CL, target=f"/v1.41/images/%2E%2E/containers/create?name={n}")
            + BODY
        ),
        400,
    ),
    "semicolon-query": (
        lambda n: (
            create_head(n, "Host: x", CL, target=f"/v1.41/containers/create?name={n};x=1") + BODY
        ),
        400,
    ),
    "http10-upgrade-on-create": (
        lambda n: create_head(n, "Host: x", CL, "Connection: Upgrade", "Upgrade: tcp") + BODY,
        400,
    ),
    "malformed-chunk": (
        lambda n: (
            create_head(n, "Host: x", "Transfer-Encoding: chunked")
            + b"%x\r\n" % len(BODY)
            + BODY
            + b"XX0\r\n\r\n"
        ),
        400,
    ),
    "http-2.0-version": (lambda n: create_head(n, "Host: x", CL, version="HTTP/2.0") + BODY, 400),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ambiguous_request_is_refused_and_never_reaches_the_daemon(
    case, gateway, pki, dockerd, busybox_image
):
    build, status = CASES[case]
    name = f"smuggle-{case}-{uuid.uuid4().hex[:6]}"
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(build(name))
        answer = read_until_close(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer[:300]
    assert json.loads(body)["message"].startswith("dockward: ")
    assert dockerd.api("GET", f"/containers/{name}/json")[0] == 404
    assert not [
        c for c in dockerd.api_json("GET", "/containers/json?all=1") if f"/{name}" in c["Names"]
    ]


def test_the_same_create_well_formed_does_reach_the_daemon(gateway, pki, dockerd, busybox_image):
    """Control case: proves the refusals above are about the framing, not the request."""
    name = f"smuggle-control-{uuid.uuid4().hex[:6]}"
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(
            create_head(name, "Host: x", CL, "Content-Type: application/json", "Connection: close")
            + BODY
        )
        answer = read_until_close(sock)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    assert dockerd.api("GET", f"/containers/{name}/json")[0] == 200
    dockerd.api("DELETE", f"/containers/{name}")


def test_chunked_create_is_reframed_and_reaches_the_daemon(gateway, pki, dockerd, busybox_image):
    name = f"chunked-create-{uuid.uuid4().hex[:6]}"
    chunks = b"".join(
        b"%x;ext=1\r\n%s\r\n" % (len(piece), piece) for piece in (BODY[:10], BODY[10:])
    )
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(
            create_head(
                name,
                "Host: x",
                "Transfer-Encoding: chunked",
                "Content-Type: application/json",
                "Connection: close",
            )
            + chunks
            + b"0\r\nX-Trailer: dropped\r\n\r\n"
        )
        answer = read_until_close(sock)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    assert dockerd.api_json("GET", f"/containers/{name}/json")["Config"]["Cmd"] == ["true"]
    dockerd.api("DELETE", f"/containers/{name}")


def test_unknown_route_is_denied_and_the_connection_stays_usable(gateway, pki):
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(b"GET /v1.41/no/such/route HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 403 ")
        assert b"not a known Engine API route" in first
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_until_close(sock).startswith(b"HTTP/1.1 200 ")
