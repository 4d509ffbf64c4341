"""Playbooks for the relay's deadlines, bounds and endings: what it does when a peer is slow,
stuck or gone (issue 15), with the helpers of ``test_relay``."""

from __future__ import annotations

import pytest
from playbook import Playbook
from test_relay import (
    ATTACH,
    PING,
    PONG,
    SWITCH,
    UNIX,
    Context,
    _Scripted,
    connected,
    linger,
    record,
    refusal,
    unix_relay,
)

from dockward.gateway import relay as relay_module
from dockward.gateway.events import (
    END_CLIENT_GONE,
    END_COMPLETED,
    END_DAEMON_GONE,
    END_REVOKED,
    END_TIMED_OUT,
    Peer,
)
from dockward.gateway.limits import NO_TIMEOUTS, ConnectionCaps, RateLimiter, Timeouts
from dockward.gateway.relay import (
    ADMIT_RETRY,
    ADMIT_WAIT,
    OVER_CAP_GRACE,
    AbortClient,
    CheckDaemon,
    ClientData,
    ClientEOF,
    ClientGone,
    CloseClient,
    CloseUpstream,
    HalfCloseClient,
    HalfCloseUpstream,
    OpenUpstream,
    PauseReading,
    ResumeReading,
    Revoked,
    SendClient,
    SendUpstream,
    ShutdownClient,
    Side,
    StartTimer,
    Timer,
    TimerFired,
    UpstreamConnected,
    UpstreamConnectFailed,
    UpstreamData,
    UpstreamEOF,
    UpstreamGone,
)

DEADLINE = 5.0
LOGS = b"GET /containers/c1/logs?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n"
LATE = f"the Docker daemon did not answer within {DEADLINE:g} s"


class Clock:
    """The relay's deadline clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(relay_module, "_clock", clock)
    return clock


def timed(**fields: float | None) -> Context:
    return Context(timeouts=Timeouts(**{"response": DEADLINE, "body": None, **fields}))


def sent(relay: relay_module.Relay, request: bytes = PING) -> Playbook:
    """The first request sent, its deadline started."""
    playbook = (
        Playbook(relay)
        >> ClientData((request,))
        << OpenUpstream()
        << StartTimer((Timer.RESPONSE, DEADLINE))
        >> UpstreamConnected()
        << SendUpstream(([request],))
    )
    assert playbook
    return playbook


# ----------------------------------------------------------------- response deadline


def test_a_daemon_that_does_not_answer_in_time_gets_504_and_a_probe(clock: Clock):
    playbook = sent(unix_relay(timed()))
    clock.now += DEADLINE
    assert (
        playbook
        >> TimerFired((Timer.RESPONSE,))
        << CheckDaemon((LATE,))
        << CloseUpstream()
        << refusal(504, LATE)
        << record(status=504, operation="system.ping", end=END_TIMED_OUT)
        << linger()
    )


def test_the_deadline_follows_the_exchange_waiting_when_the_timer_fires(clock: Clock):
    playbook = sent(unix_relay(timed()))
    clock.now += 3
    assert (
        playbook
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200, end=END_COMPLETED)
        >> ClientData((PING,))
        << SendUpstream((PING,))  # the timer runs already: not started again
    )
    clock.now += 2  # the first deadline: the second request has waited 2 s of its 5
    assert playbook >> TimerFired((Timer.RESPONSE,)) << StartTimer((Timer.RESPONSE, 3.0))
    clock.now += 3
    assert playbook.relay.handle(TimerFired((Timer.RESPONSE,)))[:3] == [
        CheckDaemon((LATE,)),
        CloseUpstream(),
        refusal(504, LATE),
    ]


def test_a_timer_that_fires_between_exchanges_does_nothing(clock: Clock):
    playbook = sent(unix_relay(timed()))
    assert (
        playbook
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200)
        >> TimerFired((Timer.RESPONSE,))
        >> ClientData((PING,))  # a new request starts the deadline again
        << SendUpstream((PING,))
        << StartTimer((Timer.RESPONSE, DEADLINE))
    )


def test_a_streaming_operation_has_no_head_deadline_by_default(clock: Clock):
    playbook = connected(unix_relay(timed()), LOGS)
    assert playbook.relay.exchange is not None and playbook.relay.exchange.deadline is None


def test_a_streaming_head_deadline_when_configured_and_a_shorter_one_restarts_the_timer(
    clock: Clock,
):
    relay = unix_relay(timed(stream_response=60.0))
    playbook = (
        Playbook(relay)
        >> ClientData((LOGS,))
        << OpenUpstream()
        << StartTimer((Timer.RESPONSE, 60.0))
        >> UpstreamConnected()
        << SendUpstream(([LOGS],))
        >> UpstreamData((b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",))
        << SendClient((b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",))
        << record(status=200)
        >> ClientData((PING,))
        << SendUpstream((PING,))
        << StartTimer((Timer.RESPONSE, DEADLINE))  # due before the running one
    )
    assert playbook


def test_a_tunnel_is_exempt_once_its_head_arrived(clock: Clock):
    relay = unix_relay(timed(stream_response=DEADLINE))
    playbook = (
        Playbook(relay)
        >> ClientData((ATTACH,))
        << OpenUpstream()
        << StartTimer((Timer.RESPONSE, DEADLINE))
        >> UpstreamConnected()
        << SendUpstream(([ATTACH],))
    )
    assert playbook
    clock.now += 100
    assert (
        playbook
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        >> TimerFired((Timer.RESPONSE,))  # nothing: the head came
    )


def test_the_deadline_starts_once_the_body_is_sent(clock: Clock):
    request = b"POST /containers/c1/kill HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"
    playbook = (
        Playbook(unix_relay(timed()))
        >> ClientData((request,))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([request],))
        >> ClientData((b"{}",))
        << SendUpstream((b"{}",))
        << StartTimer((Timer.RESPONSE, DEADLINE))
    )
    assert playbook


# ------------------------------------------------------------------------ breaker


def test_while_the_daemon_is_down_requests_fail_fast_without_a_connection():
    context = Context(daemon_down="the Docker daemon at /run/docker.sock does not answer")
    assert (
        Playbook(unix_relay(context))
        >> ClientData((PING,))
        << refusal(502, context.daemon_down or "", close=False)
        << record(status=502, decision="refuse")
        >> ClientData((PING,))  # keep-alive: the next one is answered the same way
        << refusal(502, context.daemon_down or "", close=False)
        << record(status=502)
    )


def test_a_request_with_a_body_is_refused_with_a_close_while_the_daemon_is_down():
    context = Context(daemon_down="down")
    request = b"POST /containers/c1/kill HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"
    assert (
        Playbook(unix_relay(context))
        >> ClientData((request,))
        << refusal(502, "down")
        << record(status=502)
        << linger()
    )


# ------------------------------------------------------------------------- endings


def test_a_failed_connect_ends_as_daemon_gone():
    assert (
        Playbook(unix_relay())
        >> ClientData((PING,))
        << OpenUpstream()
        >> UpstreamConnectFailed(("Connection refused",))
        << refusal(502, "cannot reach the Docker daemon at /run/docker.sock: Connection refused")
        << record(status=502, end=END_DAEMON_GONE)
        << linger()
    )


def test_an_answer_cut_by_the_daemon_ends_as_daemon_gone():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((PONG[:-1],))
        << SendClient((PONG[:-1],))
        >> UpstreamEOF()
        << AbortClient()
        << CloseUpstream()
        >> ClientGone()
        << record(status=200, end=END_DAEMON_GONE)
    )


def test_a_daemon_gone_in_a_tunnel_ends_as_daemon_gone():
    playbook = connected(unix_relay(), ATTACH)
    assert (
        playbook >> UpstreamData((SWITCH,)) << SendClient((SWITCH,)) >> UpstreamGone() << linger()
    )
    assert playbook.relay.exchange is not None and playbook.relay.exchange.record is not None
    assert playbook.relay.exchange.record.end == END_DAEMON_GONE


def test_a_client_gone_mid_answer_ends_as_client_gone():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((PONG[:-1],))
        << SendClient((PONG[:-1],))
        >> ClientGone()
        << record(status=200, end=END_CLIENT_GONE)
        << CloseUpstream()
    )


def test_a_tunnel_the_daemon_ended_is_completed_when_the_client_goes():
    playbook = connected(unix_relay(), ATTACH)
    assert (
        playbook
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        >> ClientEOF()
        << HalfCloseUpstream()
        >> UpstreamEOF()
        << HalfCloseClient()
        << CloseClient()
        << CloseUpstream()
        >> ClientGone()
        << record(status=101, end=END_COMPLETED)
    )


def test_a_revocation_ends_the_exchange_as_revoked():
    playbook = connected(unix_relay(), ATTACH)
    assert playbook >> UpstreamData((SWITCH,)) << SendClient((SWITCH,))
    playbook.relay.handle(Revoked(("revoked",)))
    assert playbook >> ClientGone() << record(status=101, end=END_REVOKED)


def test_without_deadlines_a_request_starts_no_timer():
    relay = unix_relay(Context(timeouts=NO_TIMEOUTS))
    commands = relay.handle(ClientData((PING,))) + relay.handle(UpstreamConnected())
    assert not [c for c in commands if isinstance(c, StartTimer)]


# ------------------------------------------------------------------ request bodies

LOAD = b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
CREATE = (
    b"POST /containers/create HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 11\r\n\r\n"
)
STALLED = "the request body stalled: no data for 30 s"


def bodied(**fields: object) -> Context:
    return Context(timeouts=Timeouts(response=None, body=30.0), **fields)  # type: ignore[arg-type]


def test_a_forwarded_body_that_stalls_is_cut_with_408(clock: Clock):
    playbook = (
        Playbook(unix_relay(bodied()))
        >> ClientData((LOAD + b"x" * 9,))
        << OpenUpstream()
        << StartTimer((Timer.BODY, 30.0))
        >> UpstreamConnected()
        << SendUpstream(([LOAD, b"x" * 9],))
    )
    clock.now += 20
    assert playbook >> ClientData((b"y",)) << SendUpstream((b"y",))  # progress
    clock.now += 10
    assert playbook >> TimerFired((Timer.BODY,)) << StartTimer((Timer.BODY, 20.0))
    clock.now += 20
    assert (
        playbook
        >> TimerFired((Timer.BODY,))
        << CloseUpstream()
        << refusal(408, STALLED)
        << record(status=408, bytes_in=10, end=END_TIMED_OUT)
        << linger()
    )


def test_time_the_relay_does_not_read_the_client_does_not_count(clock: Clock):
    playbook = (
        Playbook(unix_relay(bodied()))
        >> ClientData((LOAD,))
        << OpenUpstream()
        << StartTimer((Timer.BODY, 30.0))
        >> UpstreamConnected()
        << SendUpstream(([LOAD],))
        >> relay_module.UpstreamBackpressure((True,))
        << PauseReading((Side.CLIENT,))
    )
    clock.now += 100
    assert playbook >> TimerFired((Timer.BODY,)) << StartTimer((Timer.BODY, 30.0))


def test_an_inspected_body_that_stalls_is_refused_with_408_and_its_bytes_given_back(
    clock: Clock,
):
    context = bodied(policy=_Scripted(inspect=True))
    relay = unix_relay(context)
    playbook = Playbook(relay) >> ClientData((CREATE + b'{"Im',)) << StartTimer((Timer.BODY, 30.0))
    assert playbook
    assert context.inspection.used == 4
    clock.now += 30
    assert (
        playbook
        >> TimerFired((Timer.BODY,))
        << refusal(408, STALLED)
        << record(status=408, end=END_TIMED_OUT)
        << linger()
    )
    assert context.inspection.used == 0


def test_a_timer_after_the_body_ended_does_nothing(clock: Clock):
    playbook = (
        Playbook(unix_relay(bodied()))
        >> ClientData((LOAD + b"x" * 100,))
        << OpenUpstream()
        << StartTimer((Timer.BODY, 30.0))
        >> UpstreamConnected()
        << SendUpstream(([LOAD, b"x" * 100],))
    )
    clock.now += 60
    assert playbook >> TimerFired((Timer.BODY,))


def test_a_full_inspection_budget_makes_a_new_body_wait_then_go_on():
    context = Context(policy=_Scripted(inspect=True))
    context.inspection.take(context.inspection.cap)
    relay = unix_relay(context)
    playbook = (
        Playbook(relay)
        >> ClientData((CREATE,))
        << PauseReading((Side.CLIENT,))
        << StartTimer((Timer.ADMIT, ADMIT_RETRY))
        >> ClientData((b'{"Image":1}',))  # already on its way: kept, not read
        >> TimerFired((Timer.ADMIT,))
        << StartTimer((Timer.ADMIT, ADMIT_RETRY))
    )
    assert playbook
    context.inspection.give(context.inspection.cap)
    assert (
        playbook
        >> TimerFired((Timer.ADMIT,))
        << ResumeReading((Side.CLIENT,))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([CREATE, b'{"Image":1}'],))
    )
    assert context.inspection.used == 0


def test_a_full_inspection_budget_answers_503_after_the_wait():
    context = Context(policy=_Scripted(inspect=True))
    context.inspection.take(context.inspection.cap)
    relay = unix_relay(context)
    assert relay.handle(ClientData((CREATE,)))[-1] == StartTimer((Timer.ADMIT, ADMIT_RETRY))
    tries = int(ADMIT_WAIT / ADMIT_RETRY)
    for _ in range(tries - 1):
        assert relay.handle(TimerFired((Timer.ADMIT,))) == [StartTimer((Timer.ADMIT, ADMIT_RETRY))]
    out = relay.handle(TimerFired((Timer.ADMIT,)))
    assert out[0] == ResumeReading((Side.CLIENT,))
    assert out[1] == refusal(
        503, "the gateway is inspecting too many request bodies (64 MiB); try again shortly"
    )
    assert context.inspection.refused == 1
    assert relay.handle(TimerFired((Timer.ADMIT,))) == []  # a late one: nothing


def test_a_client_gone_gives_back_what_its_body_held():
    context = Context(policy=_Scripted(inspect=True))
    relay = unix_relay(context)
    relay.handle(ClientData((CREATE + b'{"Im',)))
    assert context.inspection.used == 4
    relay.handle(ClientGone())
    assert context.inspection.used == 0


# ----------------------------------------------------------------------- idle


def idle(seconds: float = 10.0) -> Context:
    return Context(timeouts=Timeouts(response=None, body=None, idle=seconds))


def idle_relay(context: Context) -> relay_module.Relay:
    """A unix relay whose Start began its idle wait."""
    relay = relay_module.Relay(
        context,  # type: ignore[arg-type]
        Peer("/run/dockward.sock", "unix:/run/dockward.sock", UNIX),
        None,
        tls=False,
    )
    assert relay.handle(relay_module.Start()) == [StartTimer((Timer.IDLE, 10.0))]
    return relay


def test_an_idle_keepalive_connection_is_closed_when_configured(clock: Clock):
    playbook = Playbook(idle_relay(idle()))
    clock.now += 4
    assert (
        playbook
        >> ClientData((PING,))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([PING],))
    )
    clock.now += 6
    assert playbook >> TimerFired((Timer.IDLE,))  # busy: nothing
    assert (
        playbook
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200)
        << StartTimer((Timer.IDLE, 10.0))
    )
    clock.now += 10
    assert (
        playbook
        >> TimerFired((Timer.IDLE,))
        << ShutdownClient()
        << StartTimer((Timer.LINGER, relay_module.LINGER_SECONDS))
        << CloseUpstream()
    )


def test_an_idle_timer_rearms_for_what_is_left(clock: Clock):
    relay = idle_relay(idle())
    assert relay.handle(ClientData((PING,)))
    relay.handle(UpstreamConnected())
    relay.handle(UpstreamData((PONG,)))
    clock.now += 4
    assert relay.handle(TimerFired((Timer.IDLE,))) == [StartTimer((Timer.IDLE, 6.0))]


def test_a_refusal_that_keeps_the_connection_starts_the_idle_wait_again(clock: Clock):
    context = idle()
    context.daemon_down = "down"
    relay = idle_relay(context)
    clock.now += 5
    assert relay.handle(ClientData((PING,)))[0] == refusal(502, "down", close=False)
    clock.now += 5  # the timer started at Start fires: the wait began again at the refusal
    assert relay.handle(TimerFired((Timer.IDLE,))) == [StartTimer((Timer.IDLE, 5.0))]


# ------------------------------------------------------------------------ caps


def test_a_connection_over_its_identitys_cap_gets_429_for_its_request():
    context = Context(caps=ConnectionCaps(100, 100, 1))
    first = unix_relay(context)
    why = "uid:0 holds its maximum of 1 connections to this gateway; close some"
    second = relay_module.Relay(
        context,  # type: ignore[arg-type]
        Peer("/run/dockward.sock", "unix:/run/dockward.sock", UNIX),
        None,
        tls=False,
    )
    assert second.handle(relay_module.Start()) == [StartTimer((Timer.IDLE, OVER_CAP_GRACE))]
    out = second.handle(ClientData((PING,)))
    assert out[0] == refusal(429, why + " (or raise limits.connections_per_identity)"), out[0]
    assert context.caps.refused["identity"] == 1
    second.handle(ClientGone())
    assert context.caps.by_identity == {"uid:0": 1}  # the refused one was never counted
    first.handle(ClientGone())
    assert context.caps.by_identity == {}


def test_a_connection_over_its_cap_that_never_asks_is_closed_after_the_grace():
    context = Context(caps=ConnectionCaps(100, 100, 0))
    relay = relay_module.Relay(
        context,  # type: ignore[arg-type]
        Peer("/run/dockward.sock", "unix:/run/dockward.sock", UNIX),
        None,
        tls=False,
    )
    relay.handle(relay_module.Start())
    assert relay.handle(TimerFired((Timer.IDLE,))) == linger()


def test_the_request_rate_per_identity():
    now = [0.0]
    context = Context(rates=RateLimiter(1.0, 1.0, lambda: now[0]))
    relay = unix_relay(context)
    playbook = connected(relay)
    assert (
        playbook
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200)
        >> ClientData((PING,))
        << refusal(
            429, "too many requests from uid:0: at most 1 a second; try again in 1.0 s", close=False
        )
        << record(status=429, decision="refuse")
    )
    now[0] = 1.0
    assert playbook >> ClientData((PING,)) << SendUpstream((PING,))
    assert context.caps.refused["rate"] == 1


# ------------------------------------------------------------------------ drain


def test_drain_closes_an_idle_connection_at_once():
    assert (
        Playbook(unix_relay())
        >> relay_module.Drain()
        << ShutdownClient()
        << StartTimer((Timer.LINGER, relay_module.LINGER_SECONDS))
    )


def test_drain_lets_the_exchange_in_flight_finish_then_closes():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> relay_module.Drain()
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200, end=END_COMPLETED)
        << linger()
        << CloseUpstream()
    )


def test_a_tunnel_runs_through_the_drain_and_the_cut_closes_it_with_close_notify():
    playbook = connected(unix_relay(), ATTACH)
    assert (
        playbook
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        >> relay_module.Drain()
        >> UpstreamData((b"output",))
        << SendClient((b"output",))
        >> relay_module.DrainCut()
        << linger()
        << CloseUpstream()
        >> ClientGone()
        << record(status=101, end=relay_module.END_DRAIN)
    )


def test_drain_during_a_handshake_or_after_the_close_drops_the_connection():
    relay = relay_module.Relay(
        Context(),  # type: ignore[arg-type]
        Peer("127.0.0.1:2376", "127.0.0.1:5000", None),
        "127.0.0.1",
        tls=True,
    )
    assert relay.handle(relay_module.Drain()) == [AbortClient()]
    relay = relay_module.Relay(
        Context(),  # type: ignore[arg-type]
        Peer("127.0.0.1:2376", "127.0.0.1:5000", None),
        "127.0.0.1",
        tls=True,
    )
    assert relay.handle(relay_module.DrainCut()) == [AbortClient()]
    idle = unix_relay()
    idle.handle(relay_module.Drain())
    assert idle.handle(relay_module.DrainCut()) == []  # already closing: the linger goes on
