"""Every relay behaviour as a playbook: events in, the exact commands out (see playbook.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest
from playbook import Like, Playbook

from dockward.errors import ProtocolError
from dockward.gateway.events import ExchangeRecord, HandshakeFailed, Peer, StreamCut
from dockward.gateway.limits import (
    NO_TIMEOUTS,
    ConnectionCaps,
    InspectionBudget,
    RateLimiter,
    Timeouts,
)
from dockward.gateway.relay import (
    BUFFER_LIMIT,
    CAN_READ,
    CAN_WRITE,
    HANDSHAKE_TIMEOUT,
    LINGER_SECONDS,
    MAX_REDACTED_RESPONSE,
    Abort,
    AbortClient,
    Answer,
    CancelTimer,
    ClientBackpressure,
    ClientData,
    ClientEOF,
    ClientGone,
    CloseClient,
    CloseUpstream,
    Command,
    Emit,
    Established,
    FactsFailed,
    FactsReady,
    FetchFacts,
    HalfCloseClient,
    HalfCloseUpstream,
    HandshakeError,
    IllegalEvent,
    OpenUpstream,
    PauseReading,
    Phase,
    Relay,
    ResumeReading,
    Revoked,
    SendClient,
    SendUpstream,
    ShutdownClient,
    Side,
    Start,
    StartTimer,
    Timer,
    TimerFired,
    UpstreamBackpressure,
    UpstreamConnected,
    UpstreamConnectFailed,
    UpstreamData,
    UpstreamEOF,
    UpstreamGone,
)
from dockward.http1.response import error_response
from dockward.identity import PeerIdentity
from dockward.policy.decision import Decision
from dockward.policy.engine import AdminPolicy
from dockward.policy.profiles import FactQuery

UNIX = PeerIdentity("unix", uid=0, gid=0, pid=1)
CERT = PeerIdentity("tls", common_name="ci", serial=7)
HEAD_TIMEOUT = 10.0
SOCKET = "/run/docker.sock"

PING = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
PONG = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"
ATTACH = (
    b"POST /containers/c1/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
)
SWITCH = b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"


@dataclass
class Context:
    """The gateway as the relay sees it."""

    policy: object = field(default_factory=AdminPolicy)
    upstream_path: str = SOCKET
    head_timeout: float = HEAD_TIMEOUT
    refused: str | None = None
    audit_store: object = None
    timeouts: Timeouts = NO_TIMEOUTS
    daemon_down: str | None = None
    inspection: InspectionBudget = field(default_factory=lambda: InspectionBudget(64 << 20))
    caps: ConnectionCaps = field(default_factory=lambda: ConnectionCaps(100, 100, 100))
    rates: RateLimiter | None = None

    def refusal(self, identity: PeerIdentity | None) -> str | None:
        return self.refused


def unix_relay(context: Context | None = None) -> Relay:
    relay = Relay(
        context or Context(),  # type: ignore[arg-type]
        Peer("/run/dockward.sock", "unix:/run/dockward.sock", UNIX),
        None,
        tls=False,
    )
    assert relay.handle(Start()) == []
    return relay


def record(**fields: object) -> Like:
    return Like(Emit, event=Like(ExchangeRecord, **fields))


def refusal(
    status: int, message: str, *, close: bool = True, as_daemon: bool = False
) -> SendClient:
    return SendClient((error_response(status, message, close=close, as_daemon=as_daemon),))


def linger() -> list[Command | Like]:
    """What a graceful close of a client that still sends looks like."""
    return [
        ShutdownClient(),
        StartTimer(
            (
                Timer.LINGER,
                LINGER_SECONDS,
            )
        ),
    ]


def connected(relay: Relay, request: bytes = PING) -> Playbook:
    """A playbook whose first request opened the daemon connection and was sent."""
    playbook = (
        Playbook(relay)
        >> ClientData((request,))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([request],))
    )
    assert playbook
    return playbook


# ----------------------------------------------------------------------- keep-alive


def test_keepalive_reuses_the_daemon_connection_and_records_each_exchange():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(method="GET", path="/_ping", operation="system.ping", status=200, bytes_out=40)
        >> ClientData((PING,))
        << SendUpstream((PING,))
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(path="/_ping", status=200, decision="allow", rule="admin:all")
    )
    assert playbook.relay.phase is Phase.HEAD and playbook.relay.exchange is None


def test_pipelined_requests_wait_for_the_answer_before_them():
    relay = unix_relay()
    assert (
        Playbook(relay)
        >> ClientData((PING + PING[:10],))
        << OpenUpstream()
        >> ClientData((PING[10:],))
        >> UpstreamConnected()
        << SendUpstream(([PING],))
        >> UpstreamData((PONG[:5],))
        >> UpstreamData((PONG[5:],))
        << SendClient((PONG,))
        << record(status=200)
        << SendUpstream((PING,))
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200)
    )


def test_a_pipelined_backlog_over_the_limit_pauses_the_client_until_the_answer():
    relay = unix_relay()
    backlog = PING * (BUFFER_LIMIT // len(PING) + 1)
    playbook = connected(relay)
    assert (
        playbook
        >> ClientData((backlog,))
        << PauseReading((Side.CLIENT,))
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200)
        << ResumeReading((Side.CLIENT,))
        << SendUpstream((PING,))
    )


def test_a_head_split_anywhere_is_the_same_request():
    for cut in range(1, len(PING)):
        relay = unix_relay()
        assert (
            Playbook(relay)
            >> ClientData((PING[:cut],))
            << StartTimer(
                (
                    Timer.HEAD,
                    HEAD_TIMEOUT,
                )
            )
            >> ClientData((PING[cut:],))
            << CancelTimer((Timer.HEAD,))
            << OpenUpstream()
        )


def test_an_idle_daemon_close_between_requests_opens_a_new_connection_next_time():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200)
        >> UpstreamEOF()
        << CloseUpstream()
        >> ClientData((PING,))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([PING],))
    )


def test_a_connection_close_answer_ends_the_connection():
    playbook = connected(unix_relay())
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nOK"
    assert (
        playbook
        >> UpstreamData((answer,))
        << SendClient((answer,))
        << record(status=200)
        << linger()
        << CloseUpstream()
        >> ClientEOF()
        << CancelTimer((Timer.LINGER,))
        << CloseClient()
    )


def test_a_request_for_close_closes_after_its_answer():
    request = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    playbook = connected(unix_relay(), request)
    assert (
        playbook
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200)
        << (ShutdownClient())
        << StartTimer(
            (
                Timer.LINGER,
                LINGER_SECONDS,
            )
        )
        << CloseUpstream()
    )


# ------------------------------------------------------------------ response framing


def test_chunked_answers_are_flushed_chunk_by_chunk_head_with_the_first_bytes():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    playbook = connected(unix_relay(), b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (
        playbook
        >> UpstreamData((head + b"5\r\nhello\r\n",))
        << SendClient((head + b"5\r\nhello\r\n",))
        >> UpstreamData((b"3\r\nabc\r\n",))
        << SendClient((b"3\r\nabc\r\n",))
        >> UpstreamData((b"0\r\n\r\n",))
        << SendClient((b"0\r\n\r\n",))
        << record(path="/events", status=200)
    )


def test_a_chunked_head_alone_goes_out_at_once():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    playbook = connected(unix_relay(), b"POST /containers/c1/wait HTTP/1.1\r\nHost: x\r\n\r\n")
    assert playbook >> UpstreamData((head,)) << SendClient((head,))
    assert playbook.relay.answer is Answer.BODY


def test_head_requests_get_a_head_only_answer():
    request = b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    playbook = connected(unix_relay(), request)
    assert (
        playbook
        >> UpstreamData((answer[:10],))
        >> UpstreamData((answer[10:],))
        << SendClient((answer,))
        << record(method="HEAD", status=200)
    )


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_204_and_304_have_no_body_whatever_their_length_says(status):
    answer = b"HTTP/1.1 " + status + b"\r\nContent-Length: 10\r\n\r\n"
    playbook = connected(unix_relay(), b"POST /containers/c1/start HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (
        playbook
        >> UpstreamData((answer,))
        << SendClient((answer,))
        << record(status=int(status[:3]))
        >> ClientData((PING,))
        << SendUpstream((PING,))
    )


def test_informational_answers_pass_before_the_final_one():
    early = b"HTTP/1.1 100 Continue\r\n\r\n"
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((early + PONG[:8],))
        << SendClient((early,))
        >> UpstreamData((PONG[8:],))
        << SendClient((PONG,))
        << record(status=200)
    )


def test_a_close_delimited_answer_ends_with_the_daemons_eof():
    head = b"HTTP/1.0 200 OK\r\n\r\n"
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((head + b"partial",))
        << SendClient((head + b"partial",))
        >> UpstreamData((b" rest",))
        << SendClient((b" rest",))
        >> UpstreamEOF()
        << record(status=200)
        << linger()
        << CloseUpstream()
    )


def test_bytes_after_a_whole_answer_are_unexpected_and_cut_the_connection():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((PONG + b"HTTP/1.1 200 OK\r\n",))
        << SendClient((PONG,))
        << record(status=200)
        << AbortClient()
        << CloseUpstream()
    )


# ----------------------------------------------------------------------- request body


def test_a_length_body_streams_to_the_daemon_and_the_exchange_ends_with_both():
    request = b"POST /containers/c1/stop HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n"
    playbook = connected(unix_relay(), request)
    assert (
        playbook
        >> ClientData((b"abc",))
        << SendUpstream((b"abc",))
        >> ClientData((b"def" + PING,))
        << SendUpstream((b"def",))
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200, bytes_in=6)
        << SendUpstream((PING,))
    )


def test_a_chunked_body_is_forwarded_chunk_by_chunk():
    request = b"POST /containers/c1/stop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    playbook = connected(unix_relay(), request)
    assert (
        playbook
        >> ClientData((b"3\r\nabc\r\n",))
        << SendUpstream(([b"3\r\n", b"abc", b"\r\n"],))
        >> ClientData((b"0\r\n\r\n",))
        << SendUpstream(([b"0\r\n\r\n"],))
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200, bytes_in=13)
    )


def test_a_bad_chunk_breaks_the_daemons_request_off_and_is_refused():
    request = b"POST /containers/c1/stop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    playbook = connected(unix_relay(), request)
    assert (
        playbook
        >> ClientData((b"zz\r\n",))
        << CloseUpstream()
        << Like(SendClient)
        << record(status=400, decision="refuse")
        << linger()
    )


def test_an_early_answer_with_close_ends_the_upload():
    request = b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    answer = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno"
    playbook = connected(unix_relay(), request)
    assert (
        playbook
        >> ClientData((b"x" * 10,))
        << SendUpstream((b"x" * 10,))
        >> UpstreamData((answer,))
        << SendClient((answer,))
        << record(status=400, bytes_in=10)
        << linger()
        << CloseUpstream()
        >> ClientData((b"x" * 90,))  # the rest of the upload: read and dropped
        >> TimerFired((Timer.LINGER,))
        << CloseClient()
    )


def test_an_early_answer_without_close_waits_for_the_body():
    request = b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n"
    playbook = connected(unix_relay(), request)
    assert (
        playbook
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        >> ClientData((b"abcd",))
        << SendUpstream((b"abcd",))
        << record(status=200, bytes_in=4)
    )


def test_a_daemon_gone_after_its_answer_never_gets_the_rest_of_the_body():
    request = b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n"
    playbook = connected(unix_relay(), request)
    assert (
        playbook
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        >> UpstreamEOF()
        << CloseUpstream()
        << record(status=200)
        << linger()
    )


def test_no_new_daemon_connection_is_opened_in_the_middle_of_a_body():
    request = b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n"
    playbook = connected(unix_relay(), request)
    assert playbook >> UpstreamGone() << Like(SendClient) << record(status=502) << linger()
    relay = unix_relay()
    playbook = connected(relay, request)
    relay.upstream_linked = False  # as if gone without a word: the relay must not reconnect
    assert playbook >> ClientData((b"ab",)) << AbortClient()


# ------------------------------------------------------------------------- tunnels


def test_a_101_opens_a_tunnel_with_the_bytes_already_buffered():
    playbook = connected(unix_relay(), ATTACH)
    assert (
        playbook
        >> ClientData((b"stdin-early",))
        >> UpstreamData((SWITCH + b"out",))
        << SendClient((SWITCH,))
        << SendClient((b"out",))
        << SendUpstream((b"stdin-early",))
        >> ClientData((b"more",))
        << SendUpstream((b"more",))
        >> UpstreamData((b"output",))
        << SendClient((b"output",))
    )
    assert playbook.relay.phase is Phase.TUNNEL


def test_a_raw_stream_200_to_exec_start_is_a_tunnel_too():
    request = b"POST /exec/e1/start HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"
    relay = unix_relay()
    assert (
        Playbook(relay)
        >> ClientData((request,))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([request[:-2], b"{}"],))
        >> UpstreamData((answer,))
        << SendClient((answer,))
        >> ClientData((b"in",))
        << SendUpstream((b"in",))
    )
    assert relay.phase is Phase.TUNNEL


def test_stdin_eof_in_a_tunnel_half_closes_the_daemon_and_output_goes_on():
    playbook = connected(unix_relay(), ATTACH)
    assert (
        playbook
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        >> ClientEOF()
        << HalfCloseUpstream()
        >> UpstreamData((b"last output",))
        << SendClient((b"last output",))
        >> UpstreamEOF()
        << HalfCloseClient()
        << CloseClient()
        << CloseUpstream()
        >> ClientGone()
        << record(status=101, hijacked=True)
    )


def test_the_daemons_eof_in_a_tunnel_half_closes_the_client_and_input_goes_on():
    playbook = connected(unix_relay(), ATTACH)
    assert (
        playbook
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        >> UpstreamEOF()
        << HalfCloseClient()
        >> ClientData((b"input",))
        << SendUpstream((b"input",))
        >> ClientEOF()
        << HalfCloseUpstream()
        << CloseClient()
        << CloseUpstream()
    )
    assert not playbook.relay.client & CAN_WRITE


def test_stdin_eof_before_the_101_is_passed_on_when_the_tunnel_opens():
    playbook = connected(unix_relay(), ATTACH)
    assert (
        playbook
        >> ClientEOF()
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        << HalfCloseUpstream()
    )


def test_a_client_gone_in_a_tunnel_closes_the_daemon_connection_fully():
    playbook = connected(unix_relay(), ATTACH)
    assert (
        playbook
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        >> ClientGone()
        << record(status=101, hijacked=True)
        << CloseUpstream()
    )


def test_a_daemon_gone_in_a_tunnel_closes_the_client():
    playbook = connected(unix_relay(), ATTACH)
    assert (
        playbook
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        >> UpstreamGone()
        << (ShutdownClient())
        << StartTimer(
            (
                Timer.LINGER,
                LINGER_SECONDS,
            )
        )
    )


# ---------------------------------------------------------------- closing and refusals


def test_client_eof_between_requests_closes_at_once():
    relay = unix_relay()
    assert Playbook(relay) >> ClientEOF() << CloseClient() >> ClientEOF()
    assert relay.phase is Phase.CLOSED


def test_client_eof_while_waiting_for_an_answer_ends_the_exchange_and_frees_the_daemon():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> ClientEOF()
        << CloseClient()
        << CloseUpstream()
        >> ClientGone()
        << record(status=499)
    )


def test_a_denial_with_an_unread_body_lingers_then_closes():
    policy = _Scripted(
        deny=Decision(False, "container.create", "role", reason="denied: nope", role="ci")
    )
    relay = unix_relay(Context(policy=policy))
    request = b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n"
    assert (
        Playbook(relay)
        >> ClientData((request,))
        << refusal(403, "denied: nope")
        << record(status=403, decision="deny", reason="denied: nope", role="ci")
        << linger()
        >> ClientData((b"123456789",))
        >> TimerFired((Timer.LINGER,))
        << CloseClient()
        >> TimerFired((Timer.HEAD,))  # a late head timer: nothing left to do
        >> ClientGone()
    )


def test_a_denial_without_a_body_keeps_the_connection():
    policy = _Scripted(deny=Decision(False, "system.ping", "role", reason="denied: no"))
    relay = unix_relay(Context(policy=policy))
    assert (
        Playbook(relay)
        >> ClientData((PING,))
        << refusal(403, "denied: no", close=False)
        << record(status=403, decision="deny")
    )
    assert relay.phase is Phase.HEAD and relay.exchange is None


def test_a_head_request_refused_gets_no_body():
    relay = unix_relay()
    request = b"HEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
    out = relay.handle(ClientData((request,)))
    assert isinstance(out[0], SendClient) and bytes(out[0].data).endswith(b"\r\n\r\n")


def test_malformed_heads_are_refused_and_recorded():
    relay = unix_relay()
    assert (
        Playbook(relay)
        >> ClientData((b"GET /_ping HTTP/1.1\nHost: x\n\n",))
        << Like(SendClient)
        << record(status=400, decision="refuse")
        << linger()
    )


def test_a_revoked_identity_is_refused_before_the_policy():
    relay = unix_relay(Context(refused="certificate revoked"))
    assert (
        Playbook(relay)
        >> ClientData((PING,))
        << refusal(403, "certificate revoked")
        << record(status=403, decision="deny", reason="certificate revoked")
        << linger()
    )


def test_a_refusal_after_the_answer_started_cuts_the_connection():
    request = b"POST /images/load HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    playbook = connected(unix_relay(), request)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert (
        playbook
        >> UpstreamData((head,))
        << SendClient((head,))
        >> ClientData((b"zz\r\n",))
        << CloseUpstream()
        << AbortClient()
    )


# -------------------------------------------------------------------- backpressure


def test_a_slow_client_pauses_the_daemon_and_a_slow_daemon_pauses_the_client():
    playbook = connected(unix_relay(), b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (
        playbook
        >> ClientBackpressure((True,))
        << PauseReading((Side.UPSTREAM,))
        >> ClientBackpressure((True,))
        >> ClientBackpressure((False,))
        << ResumeReading((Side.UPSTREAM,))
        >> UpstreamBackpressure((True,))
        << PauseReading((Side.CLIENT,))
        >> UpstreamBackpressure((False,))
        << ResumeReading((Side.CLIENT,))
    )


def test_a_client_already_slow_pauses_a_new_daemon_connection():
    relay = unix_relay()
    assert (
        Playbook(relay)
        >> ClientBackpressure((True,))
        << PauseReading((Side.UPSTREAM,))
        >> ClientData((PING,))
        << OpenUpstream()
        >> UpstreamConnected()
        << PauseReading((Side.UPSTREAM,))
        << SendUpstream(([PING],))
    )


def test_a_body_bigger_than_the_buffer_waits_for_the_daemon_connection():
    request = b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"
    relay = unix_relay()
    big = b"x" * (BUFFER_LIMIT + 1)
    assert (
        Playbook(relay)
        >> ClientData((request,))
        << OpenUpstream()
        >> ClientData((big,))
        << PauseReading((Side.CLIENT,))
        >> UpstreamConnected()
        << SendUpstream(([request, big],))
        << ResumeReading((Side.CLIENT,))
    )


def test_the_linger_reads_again_whatever_paused_the_client():
    playbook = connected(unix_relay())
    backlog = PING * (BUFFER_LIMIT // len(PING) + 1)
    assert (
        playbook
        >> ClientData((backlog,))
        << PauseReading((Side.CLIENT,))
        >> UpstreamEOF()
        << CloseUpstream()
        << Like(SendClient)
        << record(status=502)
        << ShutdownClient()
        << ResumeReading((Side.CLIENT,))
        << StartTimer(
            (
                Timer.LINGER,
                LINGER_SECONDS,
            )
        )
    )


def test_closing_the_daemon_connection_reads_the_client_again():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamBackpressure((True,))
        << PauseReading((Side.CLIENT,))
        >> UpstreamEOF()
        << ResumeReading((Side.CLIENT,))
        << CloseUpstream()
        << Like(SendClient)
        << record(status=502)
        << linger()
    )


# -------------------------------------------------------- revocation, timers, failures


def test_revocation_cuts_a_live_stream_and_records_both():
    playbook = connected(unix_relay(), ATTACH)
    assert (
        playbook
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        >> Revoked(("certificate revoked",))
        << Like(
            Emit,
            event=Like(
                StreamCut,
                reason="certificate revoked",
                method="POST",
                path="/containers/c1/attach",
                operation="container.attach",
            ),
        )
        << AbortClient()
        << CloseUpstream()
        >> ClientGone()
        << record(status=101, hijacked=True)
    )


def test_an_incomplete_head_times_out_with_408():
    relay = unix_relay()
    assert (
        Playbook(relay)
        >> ClientData((b"GET /_ping HTTP/1.1\r\n",))
        << StartTimer(
            (
                Timer.HEAD,
                HEAD_TIMEOUT,
            )
        )
        >> ClientData((b"Host: x\r\n",))
        >> TimerFired((Timer.HEAD,))
        << refusal(408, "request head not received in time")
        << record(status=408, decision="refuse")
        << linger()
    )


def test_an_unreachable_daemon_is_a_502_with_its_reason():
    relay = unix_relay()
    message = f"cannot reach the Docker daemon at {SOCKET}: No such file or directory"
    assert (
        Playbook(relay)
        >> ClientData((PING,))
        << OpenUpstream()
        >> UpstreamConnectFailed(("No such file or directory",))
        << refusal(502, message)
        << record(status=502, decision="refuse", reason=message)
        << linger()
    )


def test_a_daemon_that_closes_without_answering_is_a_502():
    playbook = connected(unix_relay())
    message = "the Docker daemon closed the connection without answering"
    assert (
        playbook
        >> UpstreamEOF()
        << CloseUpstream()
        << refusal(502, message)
        << record(status=502, reason=message)
        << linger()
    )


def test_a_daemon_that_closes_mid_answer_cuts_the_client():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((PONG[:-1],))
        << SendClient((PONG[:-1],))
        >> UpstreamEOF()
        << AbortClient()
        << CloseUpstream()
        >> ClientGone()
        << record(status=200)
    )


def test_a_malformed_or_huge_response_head_is_a_502():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((b"HTTP/1.1 2x0 OK\r\n\r\n",))
        << CloseUpstream()
        << Like(SendClient)
        << record(status=502)
        << linger()
    )
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((b"HTTP/1.1 200 OK\r\nX: " + b"y" * (1 << 20),))
        << CloseUpstream()
        << refusal(502, "response head larger than 1 MiB")
        << record(status=502)
        << linger()
    )


def test_a_bad_response_body_cuts_the_connection():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((head,))
        << SendClient((head,))
        >> UpstreamData((b"zz\r\n",))
        << AbortClient()
        << CloseUpstream()
    )


def test_abort_drops_both_sides():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> Abort()
        << AbortClient()
        << CloseUpstream()
        >> ClientGone()
        << record(status=499)
    )


def test_a_daemon_connection_that_opens_after_the_client_left_is_closed():
    relay = unix_relay()
    assert (
        Playbook(relay)
        >> ClientData((PING,))
        << OpenUpstream()
        >> ClientEOF()
        << CloseClient()
        >> UpstreamConnected()
        << CloseUpstream()
    )
    relay = unix_relay()
    assert (
        Playbook(relay)
        >> ClientData((PING,))
        << OpenUpstream()
        >> ClientGone()
        << record(status=499)
        >> UpstreamConnectFailed(("refused",))
    )


# ------------------------------------------------------------------------- handshake


def tls_relay() -> Relay:
    return Relay(
        Context(),  # type: ignore[arg-type]
        Peer("127.0.0.1:2376", "127.0.0.1:5000", None),
        "127.0.0.1",
        tls=True,
    )


def test_a_handshake_sets_the_identity_and_cancels_its_timer():
    relay = tls_relay()
    assert (
        Playbook(relay)
        >> Start()
        << StartTimer(
            (
                Timer.HANDSHAKE,
                HANDSHAKE_TIMEOUT,
            )
        )
        >> Established((CERT,))
        << CancelTimer((Timer.HANDSHAKE,))
        >> ClientData((PING,))
        << OpenUpstream()
    )
    assert relay.identity is CERT and relay.peer.identity is CERT


def test_a_failed_handshake_is_recorded_and_lingers():
    relay = tls_relay()
    assert (
        Playbook(relay)
        >> Start()
        << StartTimer(
            (
                Timer.HANDSHAKE,
                HANDSHAKE_TIMEOUT,
            )
        )
        >> HandshakeError(("plain HTTP request, answered 400 Bad Request",))
        << CancelTimer((Timer.HANDSHAKE,))
        << Like(
            Emit, event=Like(HandshakeFailed, reason="plain HTTP request, answered 400 Bad Request")
        )
        << linger()
        >> ClientEOF()
        << CancelTimer((Timer.LINGER,))
        << CloseClient()
    )


def test_a_handshake_that_does_not_finish_in_time_is_aborted_and_recorded():
    relay = tls_relay()
    assert (
        Playbook(relay)
        >> Start()
        << StartTimer(
            (
                Timer.HANDSHAKE,
                HANDSHAKE_TIMEOUT,
            )
        )
        >> TimerFired((Timer.HANDSHAKE,))
        << Like(Emit, event=Like(HandshakeFailed, reason="timed out"))
        << AbortClient()
    )


def test_eof_during_the_handshake_closes_and_no_certificate_fails_closed():
    relay = tls_relay()
    assert (
        Playbook(relay)
        >> Start()
        << StartTimer(
            (
                Timer.HANDSHAKE,
                HANDSHAKE_TIMEOUT,
            )
        )
        >> ClientEOF()
        << CloseClient()
    )
    relay = tls_relay()
    assert Playbook(relay) >> Established((None,)) << CancelTimer((Timer.HANDSHAKE,)) << linger()


def test_illegal_events_raise():
    relay = tls_relay()
    with pytest.raises(IllegalEvent, match="ClientData is not accepted in phase HANDSHAKE"):
        relay.handle(ClientData((PING,)))
    relay = unix_relay()
    with pytest.raises(IllegalEvent):
        relay.handle(FactsReady(({},)))
    with pytest.raises(IllegalEvent):
        relay.handle(UpstreamConnected())  # nothing was being opened
    relay.handle(ClientGone())
    with pytest.raises(IllegalEvent):
        relay.handle(ClientData((PING,)))


# ------------------------------------------------------------ inspection and facts


@dataclass
class _Scripted:
    """A policy whose answers the test chooses."""

    deny: Decision | None = None
    inspect: bool = False
    rounds: list[list[FactQuery]] = field(default_factory=list)
    final: Callable[[object, Mapping[FactQuery, object]], Decision] | None = None
    body_limit: int = 1024
    redact: bool = False
    seen_bodies: list[object] = field(default_factory=list)

    def authorize(self, identity: object, address: object, request: object) -> Decision:
        if self.deny is not None:
            return self.deny
        operation = request.route.operation if request.route else "unknown"  # type: ignore[attr-defined]
        inspect = operation != "system.ping"
        return Decision(
            True,
            operation,
            "role",
            role="ci",
            inspect_body=self.inspect and inspect,
            inspect_request=(self.inspect or bool(self.rounds)) and inspect,
            redact=self.redact,
        )

    def facts_needed(self, decision, request, query, body, facts=None):  # type: ignore[no-untyped-def]
        self.seen_bodies.append(body)
        if facts is None:
            return self.rounds[0] if self.rounds else []
        done = sum(1 for _ in facts)
        return self.rounds[done] if done < len(self.rounds) else []

    def check_body(self, decision, request, query, body, facts):  # type: ignore[no-untyped-def]
        if self.final is not None:
            return self.final(body, facts)
        return decision

    def judge(self, decision, request, query, body, facts):  # type: ignore[no-untyped-def]
        needed = self.facts_needed(decision, request, query, body, facts)
        return needed or self.check_body(decision, request, query, body, facts)


def test_an_inspected_body_is_read_whole_judged_then_forwarded():
    policy = _Scripted(inspect=True)
    relay = unix_relay(Context(policy=policy))
    request = (
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 11\r\n\r\n"
    )
    assert (
        Playbook(relay)
        >> ClientData((request + b'{"Im',))
        >> ClientData((b'age":1}',))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([request, b'{"Image":1}'],))
    )
    assert policy.seen_bodies == [{"Image": 1}]
    assert relay.phase is Phase.SENT


def test_an_inspected_chunked_body_is_forwarded_as_one_chunk():
    policy = _Scripted(inspect=True)
    relay = unix_relay(Context(policy=policy))
    request = (
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert (
        Playbook(relay)
        >> ClientData((request + b"2\r\n{}\r\n0\r\n\r\n",))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([request, b"2\r\n{}\r\n0\r\n\r\n"],))
    )


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        (b"Content-Type: text/plain\r\nContent-Length: 2\r\n", 400),
        (b"Content-Type: application/json\r\nContent-Length: 5000\r\n", 413),
    ],
)
def test_an_inspected_body_must_be_small_json(extra, status):
    relay = unix_relay(Context(policy=_Scripted(inspect=True)))
    request = b"POST /containers/create HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"
    assert (
        Playbook(relay)
        >> ClientData((request,))
        << Like(SendClient)
        << record(status=status, decision="refuse")
        << linger()
    )


def test_an_inspected_body_that_grows_past_the_limit_or_is_bad_is_refused():
    relay = unix_relay(Context(policy=_Scripted(inspect=True, body_limit=4)))
    request = (
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert (
        Playbook(relay)
        >> ClientData((request + b'9\r\n{"a":123}\r\n',))
        << refusal(413, "request body larger than 4 bytes")
        << record(status=413)
        << linger()
    )
    relay = unix_relay(Context(policy=_Scripted(inspect=True)))
    assert (
        Playbook(relay)
        >> ClientData((request + b"zz\r\n",))
        << Like(SendClient)
        << record(status=400)
        << linger()
    )
    relay = unix_relay(Context(policy=_Scripted(inspect=True)))
    assert (
        Playbook(relay)
        >> ClientData((request + b"1\r\n{\r\n0\r\n\r\n",))
        << Like(SendClient)
        << record(status=400)
        << linger()
    )


def test_facts_are_fetched_in_rounds_before_the_decision():
    first = [FactQuery("container", "web")]
    second = [FactQuery("image", "busybox")]
    policy = _Scripted(rounds=[first, second])
    relay = unix_relay(Context(policy=policy))
    request = b"POST /containers/web/exec HTTP/1.1\r\nHost: x\r\n\r\n"
    pinned = b"POST /containers/" + b"a" * 12 + b"/exec HTTP/1.1\r\nHost: x\r\n\r\n"
    assert (
        Playbook(relay)
        >> ClientData((request,))
        << PauseReading((Side.CLIENT,))
        << FetchFacts((tuple(first),))
        >> ClientData((PING,))
        >> FactsReady(({first[0]: {"Id": "a" * 12}},))
        << FetchFacts((tuple(second),))
        >> FactsReady(({second[0]: {"Id": "sha256:1"}},))
        << ResumeReading((Side.CLIENT,))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([pinned],))
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200, operation="container.exec")
        << SendUpstream((PING,))
    )


def test_facts_that_cannot_be_had_are_a_502():
    policy = _Scripted(rounds=[[FactQuery("container", "web")]])
    relay = unix_relay(Context(policy=policy))
    request = b"POST /containers/web/exec HTTP/1.1\r\nHost: x\r\n\r\n"
    message = "cannot check the request with the Docker daemon: Connection refused"
    assert (
        Playbook(relay)
        >> ClientData((request,))
        << PauseReading((Side.CLIENT,))
        << FetchFacts(((FactQuery("container", "web"),),))
        >> FactsFailed(("Connection refused",))
        << ResumeReading((Side.CLIENT,))
        << refusal(502, message)
        << record(status=502, reason=message)
        << linger()
        >> FactsReady(({},))  # a late answer for a closed connection
    )


def test_a_denial_after_the_facts_is_answered_without_reaching_the_daemon():
    denial = Decision(False, "container.exec", "profile", reason="denied: privileged", role="ci")
    policy = _Scripted(rounds=[[FactQuery("container", "web")]], final=lambda body, facts: denial)
    relay = unix_relay(Context(policy=policy))
    request = b"POST /containers/web/exec HTTP/1.1\r\nHost: x\r\n\r\n"
    assert (
        Playbook(relay)
        >> ClientData((request,))
        << PauseReading((Side.CLIENT,))
        << FetchFacts(((FactQuery("container", "web"),),))
        >> FactsReady(({FactQuery("container", "web"): None},))
        << ResumeReading((Side.CLIENT,))
        << refusal(403, "denied: privileged", close=False)
        << record(status=403, decision="deny")
    )


def test_a_response_to_redact_is_gathered_and_sent_with_its_new_length():
    relay = unix_relay(Context(policy=_Scripted(redact=True)))
    playbook = connected(relay, b"GET /containers/c1/json HTTP/1.1\r\nHost: x\r\n\r\n")
    body = b'{"Config":{"Env":["PASSWORD=x"]}}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    assert playbook >> UpstreamData((head % len(body) + body[:5],))
    out = relay.handle(UpstreamData((body[5:],)))
    assert [type(command) for command in out] == [SendClient, SendClient, Emit]
    new_head, new_body = bytes(out[0].data), bytes(out[1].data)  # type: ignore[attr-defined]
    assert b"PASSWORD=x" not in new_body and b"PASSWORD=" in new_body
    assert new_head.endswith(b"Content-Length: %d\r\n\r\n" % len(new_body))


def test_a_close_delimited_response_to_redact_is_sent_at_the_daemons_eof():
    relay = unix_relay(Context(policy=_Scripted(redact=True)))
    playbook = connected(relay, b"GET /containers/c1/json HTTP/1.1\r\nHost: x\r\n\r\n")
    assert playbook >> UpstreamData((b"HTTP/1.0 200 OK\r\n\r\n{}",))
    out = relay.handle(UpstreamEOF())
    assert [type(command) for command in out[:3]] == [SendClient, SendClient, Emit]
    head, body = bytes(out[0].data), bytes(out[1].data)  # type: ignore[attr-defined]
    assert json.loads(body) == {} and head.endswith(b"Content-Length: %d\r\n\r\n" % len(body))
    assert out[3:] == [*linger(), CloseUpstream()]


def test_a_response_to_redact_that_is_too_big_cuts_the_connection(monkeypatch):
    import dockward.gateway.relay as relay_module

    monkeypatch.setattr(relay_module, "MAX_REDACTED_RESPONSE", 4)
    relay = unix_relay(Context(policy=_Scripted(redact=True)))
    playbook = connected(relay, b"GET /containers/c1/json HTTP/1.1\r\nHost: x\r\n\r\n")
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
    assert playbook >> UpstreamData((head + b"0123456789",)) << AbortClient() << CloseUpstream()
    assert MAX_REDACTED_RESPONSE > 4


def test_the_record_counts_bytes_and_the_audit_mode_reason():
    audit = Decision(
        True, "system.ping", "role", reason="would deny: x", role="ci", audit_only=True
    )
    relay = unix_relay(Context(policy=_Scripted(deny=audit)))
    playbook = connected(relay)
    assert (
        playbook
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(decision="audit-deny", reason="would deny: x", bytes_out=len(PONG))
    )


def test_flags_start_open_and_follow_half_closes():
    relay = unix_relay()
    assert relay.client == CAN_READ | CAN_WRITE and relay.upstream == 0
    playbook = connected(relay, ATTACH)
    assert (
        playbook
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        >> ClientEOF()
        << (HalfCloseUpstream())
    )
    assert relay.client == CAN_WRITE and relay.upstream == CAN_READ


# ------------------------------------------------------------------ edges, one by one


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /_ping HTTP/1.1\r\nno colon here\r\n\r\n", 400),  # the head itself
        (b"GET /containers/%zz/json HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # its target
        (b"GET /containers/json HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", 400),
    ],
)
def test_heads_refused_before_the_daemon_sees_them(request_bytes, status):
    relay = unix_relay()
    out = relay.handle(ClientData((request_bytes,)))
    assert out[1:] == [record(status=status, decision="refuse"), *linger()]
    assert bytes(out[0].data).startswith(b"HTTP/1.1 %d " % status)  # type: ignore[attr-defined]


def test_policy_errors_while_inspecting_are_refusals():
    def broken(body: object, facts: object) -> Decision:
        raise ProtocolError(400, "duplicate key")

    request = b"POST /containers/web/exec HTTP/1.1\r\nHost: x\r\n\r\n"
    relay = unix_relay(Context(policy=_Scripted(inspect=True, final=broken)))
    relay.handle(ClientData((request,)))
    assert relay.phase is Phase.CLOSED
    relay = unix_relay(Context(policy=_Scripted(rounds=[[FactQuery("container", "web")]])))
    relay.handle(ClientData((request,)))

    def no_more_rounds(*args: object) -> list[FactQuery]:
        raise ValueError("unreadable facts")

    relay.context.policy.facts_needed = no_more_rounds  # type: ignore[attr-defined]
    out = relay.handle(FactsReady(({},)))
    assert out[0] == ResumeReading((Side.CLIENT,))
    assert b"unreadable facts" in bytes(out[1].data)  # type: ignore[attr-defined]
    relay = unix_relay(Context(policy=_Scripted(inspect=True)))
    out = relay.handle(ClientData((b"POST /containers/create?a=%zz HTTP/1.1\r\nHost: x\r\n\r\n",)))
    assert out[1] == record(status=400)


def test_a_pipelined_request_behind_an_inspected_body_waits_for_the_decision():
    policy = _Scripted(inspect=True, rounds=[[FactQuery("container", "web")]])
    relay = unix_relay(Context(policy=policy))
    request = (
        b"POST /containers/web/exec HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n"
    )
    assert (
        Playbook(relay)
        >> ClientData((request[:20],))
        << StartTimer(
            (
                Timer.HEAD,
                HEAD_TIMEOUT,
            )
        )
        >> ClientData((request[20:] + b"{" + b"}" + PING,))
        << CancelTimer((Timer.HEAD,))
        << PauseReading((Side.CLIENT,))
        << FetchFacts(((FactQuery("container", "web"),),))
    )
    assert relay.phase is Phase.DECIDING and bytes(relay.inbuf) == PING


def test_client_eof_in_the_middle_of_a_body_ends_everything():
    request = b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n"
    playbook = connected(unix_relay(), request)
    assert playbook >> ClientEOF() << CloseClient() << CloseUpstream()


def test_a_connect_answer_nobody_asked_for_is_illegal():
    with pytest.raises(IllegalEvent):
        unix_relay().handle(UpstreamConnectFailed(("no",)))


def test_bytes_after_a_bodiless_answer_are_unexpected():
    answer = b"HTTP/1.1 204 No Content\r\n\r\n"
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((answer[:5],))
        >> UpstreamData((answer[5:] + b"junk",))
        << SendClient((answer,))
        << record(status=204)
        << AbortClient()
        << CloseUpstream()
    )


def test_a_close_delimited_answer_during_an_upload_closes_after_it():
    request = b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n"
    playbook = connected(unix_relay(), request)
    head = b"HTTP/1.0 200 OK\r\n\r\n"
    assert (
        playbook
        >> UpstreamData((head + b"x",))
        << SendClient((head + b"x",))
        >> UpstreamEOF()
        << record(status=200)
        << linger()
        << CloseUpstream()
    )


def test_the_daemon_gone_mid_answer_or_between_answers():
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((PONG[:-1],))
        << SendClient((PONG[:-1],))
        >> UpstreamGone()
        << AbortClient()
    )
    playbook = connected(unix_relay())
    assert (
        playbook
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200)
        >> (UpstreamGone())
    )
    assert playbook.relay.phase is Phase.HEAD and not playbook.relay.upstream_linked


def test_a_tunnel_that_opens_with_a_paused_client_reads_again():
    playbook = connected(unix_relay(), ATTACH)
    backlog = b"x" * (BUFFER_LIMIT + 1)
    assert (
        playbook
        >> ClientData((backlog,))
        << PauseReading((Side.CLIENT,))
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        << ResumeReading((Side.CLIENT,))
        << SendUpstream((backlog,))
    )


def test_stdin_eof_before_the_daemon_connection_opens_waits_for_it():
    relay = unix_relay()
    assert (
        Playbook(relay)
        >> ClientData((ATTACH,))
        << OpenUpstream()
        >> ClientEOF()
        >> UpstreamConnected()
        << SendUpstream(([ATTACH],))
        >> UpstreamData((SWITCH,))
        << SendClient((SWITCH,))
        << HalfCloseUpstream()
    )


def test_a_form_body_is_refused_whatever_the_policy_says():
    relay = unix_relay()
    request = (
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\n"
    )
    assert (
        Playbook(relay)
        >> ClientData((request,))
        << refusal(415, "form-encoded and multipart bodies are not accepted")
        << record(status=415, decision="refuse", operation="container.create")
        << linger()
    )


def test_a_body_that_arrives_with_its_head_and_the_next_request_is_split_right():
    request = b"POST /containers/c1/stop HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
    relay = unix_relay()
    assert (
        Playbook(relay)
        >> ClientData((request[:10],))
        << StartTimer((Timer.HEAD, HEAD_TIMEOUT))
        >> ClientData((request[10:] + b"abc" + PING,))
        << CancelTimer((Timer.HEAD,))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([request, b"abc"],))
        >> UpstreamData((PONG,))
        << SendClient((PONG,))
        << record(status=200, bytes_in=3)
        << SendUpstream((PING,))
    )


def test_a_chunk_header_alone_sends_nothing_yet():
    request = b"POST /containers/c1/stop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    playbook = connected(unix_relay(), request)
    assert (
        playbook
        >> ClientData((b"3\r\n",))
        >> ClientData((b"abc\r\n",))
        << SendUpstream(([b"3\r\n", b"abc", b"\r\n"],))
    )


def test_remembered_answer_heads_are_bounded(monkeypatch):
    import dockward.gateway.relay as relay_module

    monkeypatch.setattr(relay_module, "REMEMBERED_ANSWERS", 2)
    monkeypatch.setattr(relay_module, "_plain_answers", {})
    for n in range(5):
        head = b"HTTP/1.1 200 OK\r\nX-N: %d\r\nContent-Length: 2\r\n\r\n" % n
        assert relay_module._plain_answer(head, "GET", False) == (200, False, 2)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert relay_module._plain_answer(chunked, "GET", False) is None
    assert len(relay_module._plain_answers) == 2
