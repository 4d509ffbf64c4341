"""Fuzz harnesses: the relay's parsers and the policy path take any bytes without a crash.

Each property feeds arbitrary (and near-valid) input to one reader and allows exactly one way
to fail: ``ProtocolError``, which the gateway turns into a 4xx/5xx answer. Anything else (an
``IndexError``, a ``ValueError``, a hang) would be a crash on a connection. A few hundred
examples each run in ``make test``; ``make fuzz`` runs 100,000 (the ``fuzz`` profile).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from dockward.errors import ProtocolError
from dockward.http1.body import ChunkedReader, LengthReader
from dockward.http1.request import find_head_end, parse_request_head
from dockward.http1.response import parse_response_head, response_framing
from dockward.identity import PeerIdentity
from dockward.policy.decision import Decision
from dockward.policy.engine import RolePolicy
from dockward.policy.gojson import decode_body
from dockward.policy.paths import parse_query, split_target
from dockward.policy.profiles import MAX_FACT_ROUNDS, FactQuery
from dockward.policy.roles import policy_config_from_dict
from dockward.policy.routes import classify_route
from support.godiff import DIFFERENTIAL as FUZZ

_HEAD_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"Host: x",
                b"Content-Length: 5",
                b"Content-Length: 05",
                b"Content-Length: -1",
                b"Transfer-Encoding: chunked",
                b"Transfer-Encoding: gzip, chunked",
                b"Connection: Upgrade",
                b"Upgrade: tcp",
                b"Expect: 100-continue",
                b" folded",
                b"Bad Header: x",
                b"X:\x00",
            ]
        ),
        st.binary(max_size=40),
    ),
    max_size=8,
)
_REQUEST_LINES = st.one_of(
    st.sampled_from(
        [
            b"GET /_ping HTTP/1.1",
            b"POST /v1.41/containers/create?name=x HTTP/1.1",
            b"GET //containers/json HTTP/1.0",
            b"GET http://x/_ping HTTP/1.1",
            b"CONNECT x:1 HTTP/1.1",
            b"GET /%2e%2e/_ping HTTP/1.1",
        ]
    ),
    st.binary(max_size=60),
)


@FUZZ
@given(_REQUEST_LINES, _HEAD_LINES)
def test_the_request_head_parser_only_refuses(request_line: bytes, lines: list[bytes]) -> None:
    raw = b"\r\n".join([request_line, *lines]) + b"\r\n\r\n"
    try:
        end = find_head_end(raw)  # as the relay does: find the head, then parse it
        assert end > 0
        head = parse_request_head(raw[:end])
    except ProtocolError:
        return
    assert head.method and head.target


def _chunked(payload: bytes, sizes: list[int]) -> bytes:
    out, at = bytearray(), 0
    for size in sizes:
        piece = payload[at : at + size]
        if not piece:
            break
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
        at += len(piece)
    if at < len(payload):
        out += b"%x\r\n" % (len(payload) - at) + payload[at:] + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def _feed(reader: ChunkedReader | LengthReader, data: bytes, cuts: list[int]) -> bytes:
    got, at = bytearray(), 0
    for cut in sorted({c % (len(data) + 1) for c in cuts} | {len(data)}):
        piece = data[at:cut]
        while piece and not reader.done:
            payload: list[memoryview] = []
            used = reader.feed(piece, payload)
            for view in payload:
                got += view
            piece = piece[used:]
            if not used:
                break
        at = cut
    return bytes(got)


@FUZZ
@given(st.binary(max_size=300), st.lists(st.integers(1, 64)), st.lists(st.integers(0, 400)))
def test_chunked_bodies_decode_whole_however_the_reads_fall(payload, sizes, cuts) -> None:
    reader = ChunkedReader()
    assert _feed(reader, _chunked(payload, sizes), cuts) == payload
    assert reader.done


@FUZZ
@given(st.binary(max_size=200), st.lists(st.integers(0, 200)))
def test_the_chunked_decoder_only_refuses_garbage(data: bytes, cuts: list[int]) -> None:
    with contextlib.suppress(ProtocolError):
        _feed(ChunkedReader(), data, cuts)


_STATUS_LINES = st.one_of(
    st.sampled_from(
        [
            b"HTTP/1.1 200 OK",
            b"HTTP/1.1 101 UPGRADED",
            b"HTTP/1.0 204 No Content",
            b"HTTP/1.1 1_0 OK",
            b"HTTP/1.1 304",
            b"HTTP/1.1 99 x",
        ]
    ),
    st.binary(max_size=30),
)


@FUZZ
@given(_STATUS_LINES, _HEAD_LINES, st.sampled_from(["GET", "HEAD", "POST"]), st.booleans())
def test_response_framing_only_refuses(status_line, lines, method, hijack) -> None:
    raw = b"\r\n".join([status_line, *lines]) + b"\r\n\r\n"
    try:
        head = parse_response_head(raw)
        response_framing(head, method, hijack)
    except ProtocolError:
        return
    assert 100 <= head.status <= 999


_POLICY = RolePolicy(
    policy_config_from_dict(
        {
            "role": [
                {"name": "ci", "preset": "ci", "clients": ["cn:ci"], "host_paths": ["/srv"]},
                {"name": "own", "preset": "ci", "clients": ["cn:own"], "scope": "own"},
            ]
        }
    )
)
_TARGETS = [
    ("POST", b"/v1.41/containers/create?name=x"),
    ("POST", b"/v1.41/containers/web/exec"),
    ("POST", b"/v1.41/exec/abc/start"),
    ("POST", b"/v1.41/volumes/create"),
    ("POST", b"/v1.41/networks/create"),
    ("POST", b"/v1.41/networks/net/connect"),
    ("POST", b"/v1.41/services/create"),
    ("PUT", b"/v1.41/containers/web/archive?path=/"),
    ("GET", b"/v1.41/containers/web/top?ps_args=aux"),
    ("POST", b"/v1.41/containers/web/attach?stream=1&stdin=1&logs=1"),
]
_KEYS = st.sampled_from(
    ["Image", "HostConfig", "Binds", "Mounts", "VolumesFrom", "Privileged", "CapAdd",
     "NetworkMode", "Links", "Labels", "Tmpfs", "Cmd", "User", "WorkingDir", "Container",
     "Driver", "DriverOpts", "Source", "Target", "Type", "TaskTemplate", "ContainerSpec",
     "EndpointsConfig", "NetworkingConfig", "privileged", "Bindſ", "dockward.owner"]
)  # fmt: skip
_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63),
        st.sampled_from(["/", "/srv/x:/x", "web", "container:web", "host", "tmpfs", "../x"]),
        st.text(max_size=12),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=5)),
    max_leaves=20,
)
_DAEMON_ANSWERS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"Id": st.sampled_from(["ab12" * 16, "sha256:" + "cd34" * 16, "", "../x"])},
        optional={
            "HostConfig": st.dictionaries(_KEYS, _VALUES, max_size=3),
            "Config": st.dictionaries(_KEYS, _VALUES, max_size=3),
            "Mounts": st.lists(st.dictionaries(_KEYS, _VALUES, max_size=3), max_size=2),
        },
    ),
)


@FUZZ
@given(
    st.sampled_from(_TARGETS),
    st.sampled_from(["ci", "own"]),
    st.one_of(st.binary(max_size=200), _VALUES.map(lambda v: json.dumps(v).encode())),
    st.data(),
)
def test_the_policy_path_decides_or_refuses(target, client, body: bytes, data) -> None:
    """decode -> authorize -> rounds of judge against a daemon that answers anything."""
    method, raw_target = target
    split = split_target(raw_target)
    request = classify_route(method, split)
    decision = _POLICY.authorize(PeerIdentity(kind="tls", common_name=client), None, request)
    if not decision.allowed or not decision.inspect_request:
        return
    query = parse_query(split.query)
    try:
        decoded = decode_body(body) if body else None
        facts: dict[FactQuery, Mapping[str, object] | None] = {}
        for _ in range(MAX_FACT_ROUNDS):
            verdict = _POLICY.judge(decision, request, query, decoded, facts)
            if isinstance(verdict, Decision):
                return
            for query_ in verdict:
                facts[query_] = data.draw(_DAEMON_ANSWERS)
        assert isinstance(_POLICY.check_body(decision, request, query, decoded, facts), Decision)
    except ProtocolError:
        return
