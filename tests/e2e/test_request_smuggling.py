"""Requests dockerd could read differently from us are refused, and never reach the daemon.

Each case tries to create a uniquely named container; after the refusal the daemon's own
socket must show that no such container exists.
"""

from __future__ import annotations

import contextlib
import json
import uuid

import pytest

from support.gateway import read_until_close, source_of, tls_connect

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
    # Go ignores Transfer-Encoding on HTTP/1.0: dockerd would read no body at all
    "http10-chunked": (
        lambda n: (
            create_head(n, "Host: x", "Transfer-Encoding: chunked", version="HTTP/1.0")
            + b"%x\r\n" % len(BODY)
            + BODY
            + b"\r\n0\r\n\r\n"
        ),
        400,
    ),
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


def read_response(sock) -> bytes:
    """One Content-Length response from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, data
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return head + b"\r\n\r\n" + rest


@pytest.mark.parametrize("variant", ["connection-close", "body-over-256k"])
def test_a_body_the_daemon_never_read_does_not_become_a_request(variant, gateway, pki, dockerd):
    """dockerd may answer before reading a body and close; what follows must go nowhere."""
    name = f"smuggle-early-{variant}-{uuid.uuid4().hex[:6]}"
    hidden = create_head(name, "Host: x", CL, "Content-Type: application/json") + BODY
    declared = len(hidden) + 1 if variant == "connection-close" else 300 * 1024
    extra = "Connection: close\r\n" if variant == "connection-close" else ""
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(
            f"GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n{extra}"
            f"Content-Length: {declared}\r\n\r\n".encode()
        )
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        with contextlib.suppress(OSError):
            sock.sendall(hidden)  # inside the declared body, which dockerd will never read
        read_until_close(sock)
    assert dockerd.api("GET", f"/containers/{name}/json")[0] == 404


def test_a_request_pipelined_right_behind_a_body_is_answered(gateway, pki, dockerd, busybox_image):
    name = f"pipelined-{uuid.uuid4().hex[:6]}"
    head = create_head(name, "Host: x", CL, "Content-Type: application/json")
    with tls_connect(gateway, pki.client("admin")) as sock:
        sock.sendall(head + BODY[:5])
        sock.sendall(BODY[5:] + b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = read_until_close(sock)
    assert answers.startswith(b"HTTP/1.1 201 ") and b"HTTP/1.1 200 OK" in answers
    dockerd.api("DELETE", f"/containers/{name}?force=1")


def test_a_malformed_second_request_gets_an_answer_and_a_log_line(gateway, pki):
    mark = gateway.access_mark()
    with tls_connect(gateway, pki.client("admin")) as sock:
        source = source_of(sock)
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /_ping HTTP/1.1\nHost: x\n\n")
        assert read_until_close(sock).startswith(b"HTTP/1.1 400 ")
    entry = gateway.access_entry(
        lambda e: e["source"] == source and e["status"] == 400,
        what="the bare-LF request",
        after=mark,
    )
    assert entry["decision"] == "refuse" and "bare LF" in entry["reason"]


def test_refusals_after_the_route_allowed_are_logged_as_refusals(gateway, pki):
    mark = gateway.access_mark()
    with tls_connect(gateway, pki.client("admin")) as sock:
        source = source_of(sock)
        sock.sendall(
            b"GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
            b"Upgrade: tcp\r\n\r\n"
        )
        assert read_until_close(sock).startswith(b"HTTP/1.1 400 ")
    entry = gateway.access_entry(
        lambda e: e["source"] == source, what="the Upgrade request", after=mark
    )
    assert entry["decision"] == "refuse" and entry["operation"] == "container.list"
    assert entry["reason"] == "Upgrade is not accepted on container.list"
