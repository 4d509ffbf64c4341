"""The keep-alive lane (``head_received``, ``whole_answer``) does what the general path does.

The adapter feeds a request head in phase HEAD to ``Relay.head_received`` instead of
``handle(ClientData)``, and the daemon's bytes while a head is due to ``Relay.whole_answer``
first. Both must send the same bytes in the same order, emit the same records (so the same
access-log lines and audit rows) and leave the relay in the same state, and every check of a
request (revocation, caps, rates, policy, the audit store, the breaker) must still answer.
"""

from __future__ import annotations

import dataclasses

import pytest
from test_relay import CERT, PING, PONG, Context, refusal

from dockward.audit.format import json_lines
from dockward.gateway.events import ExchangeRecord, Peer
from dockward.gateway.limits import ConnectionCaps, RateLimiter, Timeouts
from dockward.gateway.relay import (
    CAN_WRITE,
    Answer,
    ClientData,
    ClientEOF,
    Command,
    Drain,
    Emit,
    Established,
    Phase,
    Relay,
    SendClient,
    SendUpstream,
    ShutdownClient,
    Start,
    UpstreamConnected,
    UpstreamData,
)
from dockward.policy.decision import Decision
from dockward.policy.engine import AdminPolicy

LIST = b"GET /v1.41/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n"
LISTED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]"
HEAD = b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
HEADED = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"  # no body: HEAD
STOP = b"POST /containers/c1/stop HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
STOPPED = b"HTTP/1.1 204 No Content\r\n\r\n"
CLOSING = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nOK"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n"
CLOSE_PING = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
VARYING = ("started", "duration_ms", "first_byte_ms")


def tls_relay(context: Context | None = None) -> Relay:
    relay = Relay(
        context or Context(),  # type: ignore[arg-type]
        Peer("127.0.0.1:2376", "127.0.0.1:40000", None),
        "127.0.0.1",
        tls=True,
    )
    relay.handle(Start())
    relay.handle(Established((CERT,)))
    return relay


def from_client(relay: Relay, data: bytes, lane: bool) -> list[Command]:
    """What the adapter does with the client's ``data``."""
    if lane and relay.phase is Phase.HEAD:
        return relay.head_received(data)
    return relay.handle(ClientData((data,)))


def from_daemon(relay: Relay, data: bytes, lane: bool) -> list[Command]:
    """What the adapter does with the daemon's ``data``, as the commands it carries out."""
    if lane and relay.answer is Answer.HEAD:
        whole = relay.whole_answer(data)
        if whole is not None:
            record, after = whole
            return [SendClient((data,)), Emit((record,)), *after]
    return relay.handle(UpstreamData((data,)))


def answers(commands: list[Command]) -> list[bytes]:
    return [c[0] for c in commands if type(c) is SendClient]


def settled(commands: list[Command]) -> list[object]:
    """The commands, each record as its fields without the times (which vary)."""
    out: list[object] = []
    for command in commands:
        event = command[0] if type(command) is Emit else None
        if isinstance(event, ExchangeRecord):
            fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
            peer = fields.pop("peer")
            fields["peer"] = (peer.listener, peer.source, peer.identity)
            out.append({k: v for k, v in fields.items() if k not in VARYING})
        else:
            out.append(command)
    return out


def log_lines(commands: list[Command]) -> str:
    """The access-log lines of the records, their times fixed."""
    records = [c[0] for c in commands if type(c) is Emit]
    fixed = [dataclasses.replace(r, started=1.5e9, duration_ms=0.25) for r in records]
    return json_lines(fixed)  # type: ignore[arg-type]


def run(script: list[tuple[str, bytes]], lane: bool, context: Context | None = None) -> Relay:
    relay = tls_relay(context)
    relay.out = []  # type: ignore[attr-defined]
    for who, data in script:
        step = from_client if who == "client" else from_daemon
        relay.out += step(relay, data, lane)  # type: ignore[attr-defined]
        if who == "client" and not relay.upstream_linked and relay._connecting:
            relay.out += relay.handle(UpstreamConnected())  # type: ignore[attr-defined]
    return relay


def same_both_ways(script: list[tuple[str, bytes]], context: Context | None = None) -> Relay:
    lane = run(script, True, context)
    general = run(script, False, context)
    assert settled(lane.out) == settled(general.out)  # type: ignore[attr-defined]
    assert log_lines(lane.out) == log_lines(general.out)  # type: ignore[attr-defined]
    for name in ("phase", "answer", "client", "upstream", "inbuf", "_client_closed"):
        assert getattr(lane, name) == getattr(general, name), name
    assert (lane.exchange is None) == (general.exchange is None)
    return lane


KEEPALIVE = [
    ("client", PING),
    ("daemon", PONG),
    ("client", LIST),
    ("daemon", LISTED),
    ("client", HEAD),
    ("daemon", HEADED),
    ("client", STOP),
    ("daemon", STOPPED),
    ("client", PING),
    ("daemon", PONG),
]


def test_keepalive_exchanges_through_the_lane_send_and_record_what_the_general_path_does():
    relay = same_both_ways(KEEPALIVE)
    out = relay.out  # type: ignore[attr-defined]
    sent = answers(out)
    assert sent == [PONG, LISTED, HEADED, STOPPED, PONG]
    records = [c[0] for c in out if type(c) is Emit]
    assert [(r.path, r.operation, r.decision, r.status, r.bytes_out) for r in records] == [
        ("/_ping", "system.ping", "allow", 200, len(PONG)),
        ("/v1.41/containers/json", "container.list", "allow", 200, len(LISTED)),
        ("/_ping", "system.ping", "allow", 200, len(HEADED)),
        ("/containers/c1/stop", "container.stop", "allow", 204, len(STOPPED)),
        ("/_ping", "system.ping", "allow", 200, len(PONG)),
    ]
    assert all(0 < r.first_byte_ms <= r.duration_ms for r in records)
    assert relay.phase is Phase.HEAD and relay.exchange is None


def test_the_lane_takes_the_keepalive_answers_and_leaves_the_rest():
    relay = run([("client", PING)], True)
    assert relay.whole_answer(PONG[:-1]) is None  # not whole yet
    assert relay.whole_answer(PONG + b"X") is None  # more than announced
    assert relay.whole_answer(CHUNKED) is None  # chunked: the general path reads it
    assert relay.answer is Answer.HEAD and relay.exchange is not None  # nothing was done
    whole = relay.whole_answer(PONG)
    assert whole is not None and whole[1] == []
    assert relay.answer is Answer.IDLE and relay.exchange is None


@pytest.mark.parametrize(
    "script",
    [
        [("client", PING), ("daemon", CLOSING), ("client", PING)],  # the daemon closes
        [("client", PING), ("daemon", CHUNKED), ("client", PING), ("daemon", PONG)],
        [("client", PING + LIST), ("daemon", PONG), ("daemon", LISTED)],  # pipelined
        [("client", PING), ("daemon", PONG[:20]), ("daemon", PONG[20:]), ("client", PING)],
        [("client", CLOSE_PING), ("daemon", PONG)],
        [("client", b"GET /_pi"), ("client", b"ng HTTP/1.1\r\nHost: x\r\n\r\n"), ("daemon", PONG)],
        [("client", b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"), ("client", PING)],
    ],
)
def test_the_other_exchanges_end_as_on_the_general_path(script):
    same_both_ways(script)


def test_a_drain_or_the_client_eof_ends_the_connection_after_the_lane_answer():
    for event in (Drain(), ClientEOF()):
        lane, general = run([("client", PING)], True), run([("client", PING)], False)
        lane.handle(event), general.handle(event)
        assert settled(from_daemon(lane, PONG, True)) == settled(from_daemon(general, PONG, False))
        assert lane.phase is general.phase is Phase.CLOSED


def test_every_check_still_answers_a_request_on_the_lane():
    """Each check turned on after a first exchange: the next head gets its refusal."""
    checks: list[tuple[str, object, bytes]] = [
        ("refused", "certificate revoked", refusal(403, "certificate revoked")[0]),
        ("daemon_down", "the breaker is open", refusal(502, "the breaker is open", close=False)[0]),
    ]
    for name, value, answer in checks:
        context = Context()
        relay = run([("client", PING), ("daemon", PONG)], True, context)
        setattr(context, name, value)
        out = from_client(relay, PING, True)
        assert not any(type(c) is SendUpstream for c in out), name
        assert answers(out) == [answer], name


def test_the_policy_the_audit_store_and_the_rates_still_answer_a_request_on_the_lane():
    class Denying(AdminPolicy):
        def authorize(self, identity, address, request):  # type: ignore[no-untyped-def]
            return Decision(allowed=False, operation="system.ping", rule="no", reason="no pings")

    context = Context()
    relay = run([("client", PING), ("daemon", PONG)], True, context)
    context.policy = Denying()
    out = from_client(relay, PING, True)
    assert answers(out) == [refusal(403, "no pings", close=False)[0]]
    (record,) = [c[0] for c in out if type(c) is Emit]
    assert (record.decision, record.rule, record.status) == ("deny", "no", 403)

    class FullStore:
        _refusing_since: float | None = None
        _description = "SQLite /tmp/audit.sqlite3"

        def refusal_detail(self) -> str:
            return "95 records wait"

        def accepting_writes(self) -> bool:
            return False

    context = Context()
    relay = run([("client", PING), ("daemon", PONG)], True, context)
    context.audit_store = FullStore()
    out = from_client(relay, STOP, True)  # a write without a body: the lane's kind of request
    assert not any(type(c) is SendUpstream for c in out)
    assert answers(out)[0].startswith(b"HTTP/1.1 503 ")

    now = [0.0]
    context = Context(rates=RateLimiter(1.0, 1.0, lambda: now[0]))
    relay = run([("client", PING), ("daemon", PONG)], True, context)
    out = from_client(relay, PING, True)
    assert answers(out)[0].startswith(b"HTTP/1.1 429 ")


def test_a_connection_over_its_cap_is_refused_on_the_lane():
    context = Context(caps=ConnectionCaps(100, 100, 1))
    first = tls_relay(context)
    assert first.phase is Phase.HEAD
    second = tls_relay(context)  # the identity's second connection: over the cap
    out = from_client(second, PING, True)
    assert not any(type(c) is SendUpstream for c in out)
    assert answers(out)[0].startswith(b"HTTP/1.1 429 ")


def test_the_response_deadline_is_armed_by_the_lane_as_by_the_general_path():
    timeouts = Timeouts(response=30.0, body=None)
    same_both_ways(KEEPALIVE, Context(timeouts=timeouts))
    same_both_ways(KEEPALIVE, Context(timeouts=Timeouts(response=30.0, body=None, idle=5.0)))


def test_a_head_refusal_and_an_answer_to_rewrite_take_the_general_path():
    upgrade = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    relay = run([("client", PING), ("daemon", PONG)], True)
    out = from_client(relay, upgrade, True)
    assert not any(type(c) is SendUpstream for c in out)
    assert answers(out) == [refusal(400, "Upgrade is not accepted on system.ping")[0]]

    class Redacting(AdminPolicy):
        def authorize(self, identity, address, request):  # type: ignore[no-untyped-def]
            return Decision(allowed=True, operation=request.operation, rule="r", redact=True)

    relay = run([("client", LIST)], True, Context(policy=Redacting()))
    assert relay.whole_answer(LISTED) is None  # collected and redacted: not the lane's
    assert relay.answer is Answer.HEAD
    same_both_ways([("client", LIST), ("daemon", LISTED), ("client", PING), ("daemon", PONG)])
    same_both_ways(
        [("client", LIST), ("daemon", LISTED), ("client", LIST)], Context(policy=Redacting())
    )


def test_an_answer_before_the_request_body_ends_takes_the_general_path():
    post = b"POST /containers/c1/stop HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n"
    relay = run([("client", post)], True)
    assert relay.phase is Phase.BODY
    assert relay.whole_answer(STOPPED) is None
    same_both_ways([("client", post), ("daemon", STOPPED), ("client", b"abcd")])


def test_a_request_to_inspect_a_close_and_an_audit_mode_denial_on_the_second_exchange():
    """The checks of the second request on a connection (the daemon's is open by then)."""

    class Judging(AdminPolicy):
        def authorize(self, identity, address, request):  # type: ignore[no-untyped-def]
            return Decision(
                allowed=True, operation=request.operation, rule="r", inspect_request=True
            )

        def judge(self, decision, request, query, body, facts):  # type: ignore[no-untyped-def]
            return Decision(allowed=False, operation=decision.operation, rule="p", reason="judged")

    context = Context()
    relay = run([("client", PING), ("daemon", PONG)], True, context)
    context.policy = Judging()
    out = from_client(relay, PING, True)
    assert not any(type(c) is SendUpstream for c in out)
    assert answers(out) == [refusal(403, "judged", close=False)[0]]

    class Auditing(AdminPolicy):
        def authorize(self, identity, address, request):  # type: ignore[no-untyped-def]
            return Decision(
                allowed=True,
                operation=request.operation,
                rule="r",
                reason="would deny",
                audit_only=True,
            )

    context = Context()
    relay = run([("client", PING), ("daemon", PONG)], True, context)
    context.policy = Auditing()
    assert from_client(relay, PING, True) == [SendUpstream((PING,))]
    whole = relay.whole_answer(PONG)
    assert whole is not None
    assert (whole[0].decision, whole[0].reason) == ("audit-deny", "would deny")

    relay = run([("client", PING), ("daemon", PONG), ("client", CLOSE_PING)], True)
    whole = relay.whole_answer(PONG)
    assert whole is not None and relay.phase is Phase.CLOSED  # the client asked to close
    assert whole[1][0] == ShutdownClient()


def test_the_lane_leaves_an_answer_the_client_cannot_take_to_the_general_path():
    relay = run([("client", PING), ("daemon", PONG), ("client", PING)], True)
    relay.client &= ~CAN_WRITE
    assert relay.whole_answer(PONG) is None


@pytest.mark.parametrize(
    "body",
    [
        b"Content-Length: 4\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n",
    ],
)
def test_a_request_with_a_body_on_the_second_exchange_streams_it(body):
    post = b"POST /containers/c1/stop HTTP/1.1\r\nHost: x\r\n" + body
    relay = run([("client", PING), ("daemon", PONG), ("client", post)], True)
    assert relay.phase is Phase.BODY  # the body is read and forwarded, then the answer waits
