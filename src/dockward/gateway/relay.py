"""The relay between one client and the Docker daemon, as a sans-IO state machine.

``Relay.handle(event)`` takes one thing that happened (client bytes, client EOF, daemon bytes,
facts, a timer, a revocation...) and returns the commands it calls for (send to either side,
half-close, close, open the daemon connection, fetch facts, start or cancel a timer, emit an
audit event). It never touches a socket, a timer or the TLS record layer: that is
``gateway.protocol``'s job, and it must stay the only code that does. Every transition is in
``TRANSITIONS``; an event the current phase does not list raises ``IllegalEvent``.

The request side and the response side are separate, because dockerd answers while it still
reads (full-duplex ``POST /build``) and may answer before the body ends:

    phase:  HANDSHAKE -> HEAD -> BODY | COLLECT -> DECIDING -> SENT -> (exchange done) -> HEAD ...
            -> TUNNEL after a 101, or after the raw-stream 200 that answers attach/exec start
            -> CLOSED (closing: what the client still sends is dropped) -> GONE
    answer: IDLE -> HEAD -> BODY -> DONE (-> IDLE), or TUNNEL

Each side has ``CAN_READ``/``CAN_WRITE`` flags. Half-close in a tunnel: the client's close_notify
or FIN becomes ``HalfCloseUpstream`` while output keeps flowing; the daemon's EOF becomes
``HalfCloseClient``; a client that goes away closes the daemon connection fully (so dockerd
sees EPOLLHUP and detaches).

Each request is one ``Exchange`` (head, classification, decision, body reader, record),
discarded when the exchange ends. Flow control: each side's reading is paused for named reasons
and resumed when none is left; buffers the relay owns are bounded by ``BUFFER_LIMIT``.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from dockward.audit.store import refuse_unrecorded
from dockward.errors import ProtocolError
from dockward.gateway.analysis import analyse_head_cached, media_type
from dockward.gateway.connection import Refusal, pin_request
from dockward.gateway.events import (
    END_CLIENT_GONE,
    END_COMPLETED,
    END_DAEMON_GONE,
    END_DRAIN,
    END_REVOKED,
    END_TIMED_OUT,
    ExchangeRecord,
    HandshakeFailed,
    Peer,
    StreamCut,
)
from dockward.http1.body import (
    LAST_CHUNK,
    ChunkedReader,
    LengthReader,
    UntilCloseReader,
    encode_chunk,
)
from dockward.http1.request import HTTP2_PREFACE, MAX_HEAD_BYTES, RequestHead, find_head_end
from dockward.http1.response import (
    Framing,
    error_response,
    parse_response_head_cached,
    response_framing,
    with_content_length,
)
from dockward.identity import PeerIdentity
from dockward.policy.build_context import read_context
from dockward.policy.decision import Decision
from dockward.policy.event_filter import EventStreamFilter, streamed_filter
from dockward.policy.gojson import decode_body
from dockward.policy.namespaces import Refusal as NameRefusal
from dockward.policy.namespaces import enter_request, fallbacks, rewrites_answer, shown
from dockward.policy.operations import Stream
from dockward.policy.paths import parse_query
from dockward.policy.profiles import MAX_FACT_ROUNDS, FactQuery, Facts
from dockward.policy.tenancy import CONTEXT_BODIES, forwarded_request, forwarded_response

if TYPE_CHECKING:
    from dockward.audit.store import AuditStore
    from dockward.gateway.limits import ConnectionCaps, InspectionBudget, RateLimiter, Timeouts
    from dockward.http1.body import BodyReader
    from dockward.policy.engine import Policy
    from dockward.policy.routes import Classification

log = logging.getLogger("dockward.gateway")

BUFFER_LIMIT = 512 * 1024
MAX_RESPONSE_HEAD = 1 << 20
HANDSHAKE_TIMEOUT = 15.0
LINGER_SECONDS = 0.5  # how long a closing connection still reads (and drops) what the client sends
ADMIT_RETRY = 0.25  # while the inspection budget is spent, a new inspected body looks again...
ADMIT_WAIT = 5.0  # ...this long, then gets 503
OVER_CAP_GRACE = 5.0  # a connection over its identity's cap has this long to ask, and hear why
MAX_REDACTED_RESPONSE = 16 * 1024 * 1024

_clock = time.perf_counter  # the deadlines' and durations' clock (a test may replace it)

# A side's state: what may still happen on it (plain ints: tested on every request).
CLOSED = 0
CAN_READ = 1
CAN_WRITE = 2
OPEN = CAN_READ | CAN_WRITE


class Phase(enum.Enum):
    """Where the connection is, on the request side."""

    __hash__ = object.__hash__  # Enum's own hashes the name in Python, on every event

    HANDSHAKE = "TLS handshake"
    HEAD = "reading a request head"
    BODY = "forwarding a request body"
    COLLECT = "reading a request body to inspect it"
    DECIDING = "waiting for facts from the daemon before deciding"
    SENT = "request sent, response pending"
    TUNNEL = "tunnel"
    CLOSED = "closing: client bytes are dropped"
    GONE = "the client connection is gone"


class Answer(enum.Enum):
    """Where the response side is."""

    IDLE = "no request outstanding"
    HEAD = "awaiting a response head"
    BODY = "forwarding a response body"
    DONE = "response complete"
    TUNNEL = "tunnel"


class Side(enum.Enum):
    __hash__ = object.__hash__
    CLIENT = "client"
    UPSTREAM = "upstream"


class Timer(enum.Enum):
    HANDSHAKE = "handshake"
    HEAD = "request head"
    LINGER = "linger"
    RESPONSE = "response head from the daemon"
    BODY = "request body progress"
    IDLE = "idle keep-alive connection"
    ADMIT = "room to inspect a body"


class IllegalEvent(Exception):
    """An event the relay's current phase does not accept: a bug in whoever fed it."""

    def __init__(self, event: Event, phase: Phase) -> None:
        super().__init__(f"{type(event).__name__} is not accepted in phase {phase.name}")
        self.event = event
        self.phase = phase


class RelayContext(Protocol):
    """What the relay asks of the running gateway (read-only, no I/O)."""

    @property
    def policy(self) -> Policy: ...

    @property
    def upstream_path(self) -> str: ...

    @property
    def head_timeout(self) -> float: ...

    @property
    def timeouts(self) -> Timeouts: ...

    @property
    def daemon_down(self) -> str | None:
        """Why the daemon is known not to answer now (the breaker is open), else ``None``."""

    @property
    def inspection(self) -> InspectionBudget: ...

    @property
    def caps(self) -> ConnectionCaps: ...

    @property
    def rates(self) -> RateLimiter | None: ...

    def refusal(self, identity: PeerIdentity | None) -> str | None: ...

    @property
    def audit_store(self) -> AuditStore | None: ...


# ---------------------------------------------------------------------- events, commands


class Message(tuple[Any, ...]):
    """An event or a command: a tuple of its fields, tagged by its class.

    Several are made for every request, and a tuple subclass costs a third of an object with
    ``__init__``, so they are built from a tuple: ``SendClient((data,))``, ``ClientEOF()``.
    Two messages are equal when their classes and fields are.
    """

    __slots__ = ()
    fields: ClassVar[tuple[str, ...]] = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return type(self) is type(other) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = tuple.__hash__

    def __getattr__(self, name: str) -> Any:
        """A field by name (``command.data``), for readers; the relay's hot paths index."""
        try:
            return self[type(self).fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}" for name, value in zip(self.fields, self, strict=False)
        )
        return f"{type(self).__name__}({shown})"


class Event(Message):
    """Something that happened to the connection."""

    __slots__ = ()


class Command(Message):
    """Something the adapter must do."""

    __slots__ = ()


Buffer = bytes | bytearray | memoryview


class Start(Event):
    """The client connection is open (first event)."""

    __slots__ = ()


class Established(Event):
    """The TLS handshake completed: ``(identity,)``, the verified client certificate's."""

    __slots__ = ()
    fields = ("identity",)


class HandshakeError(Event):
    """The TLS handshake failed (its alert, or the 400 to a plain HTTP request, is sent):
    ``(reason,)``."""

    __slots__ = ()
    fields = ("reason",)


class ClientData(Event):
    """``(data,)``: plaintext from the client."""

    __slots__ = ()
    fields = ("data",)


class ClientEOF(Event):
    """The client's FIN or TLS close_notify: it sends nothing more."""

    __slots__ = ()


class ClientGone(Event):
    """The client connection is closed (last event)."""

    __slots__ = ()


class ClientBackpressure(Event):
    """``(blocked,)``: the client's socket is over (True) or back under its high-water mark."""

    __slots__ = ()
    fields = ("blocked",)


class UpstreamConnected(Event):
    __slots__ = ()


class UpstreamConnectFailed(Event):
    """``(reason,)``"""

    __slots__ = ()
    fields = ("reason",)


class UpstreamData(Event):
    """``(data,)``: bytes from the daemon."""

    __slots__ = ()
    fields = ("data",)


class UpstreamEOF(Event):
    """The daemon closed its write side."""

    __slots__ = ()


class UpstreamGone(Event):
    """The daemon connection is closed without the relay asking for it."""

    __slots__ = ()


class UpstreamBackpressure(Event):
    """``(blocked,)``: the daemon's socket is over (True) or back under its high-water mark."""

    __slots__ = ()
    fields = ("blocked",)


class FactsReady(Event):
    """``(facts,)``: the answers to the last ``FetchFacts``."""

    __slots__ = ()
    fields = ("facts",)


class FactsFailed(Event):
    """``(reason,)``"""

    __slots__ = ()
    fields = ("reason",)


class TimerFired(Event):
    """``(timer,)``"""

    __slots__ = ()
    fields = ("timer",)


class Revoked(Event):
    """``(reason,)``: the connection's identity is now refused (a revoked certificate)."""

    __slots__ = ()
    fields = ("reason",)


class Abort(Event):
    """Drop the connection at once (gateway stop, TLS error)."""

    __slots__ = ()


class Drain(Event):
    """The gateway is stopping: finish the exchange in flight (a stream or tunnel may run on),
    then close instead of waiting for another request."""

    __slots__ = ()


class DrainCut(Event):
    """The drain time is over: end whatever still runs, with our close_notify."""

    __slots__ = ()


class SendClient(Command):
    """``(data,)``: plaintext for the client (the adapter encrypts it: one call, one record)."""

    __slots__ = ()
    fields = ("data",)


class SendUpstream(Command):
    """``(data,)``: bytes for the daemon; a list is written as it is (``writelines``)."""

    __slots__ = ()
    fields = ("data",)


class HalfCloseClient(Command):
    """End our direction only: TLS close_notify (the TCP connection stays), or FIN on unix."""

    __slots__ = ()


class ShutdownClient(Command):
    """Our close_notify, then FIN; reading goes on (the linger)."""

    __slots__ = ()


class CloseClient(Command):
    """Our close_notify if not sent yet, then close once the buffers drain."""

    __slots__ = ()


class AbortClient(Command):
    __slots__ = ()


class OpenUpstream(Command):
    __slots__ = ()


class HalfCloseUpstream(Command):
    """``write_eof()`` on the daemon socket."""

    __slots__ = ()


class CloseUpstream(Command):
    __slots__ = ()


class PauseReading(Command):
    """``(side,)``"""

    __slots__ = ()
    fields = ("side",)


class ResumeReading(Command):
    """``(side,)``"""

    __slots__ = ()
    fields = ("side",)


class FetchFacts(Command):
    """``(queries,)``: a tuple of ``FactQuery``; the answer comes as ``FactsReady``."""

    __slots__ = ()
    fields = ("queries",)


class StartTimer(Command):
    """``(timer, seconds)``: ``TimerFired((timer,))`` then, unless cancelled (or restarted)."""

    __slots__ = ()
    fields = ("timer", "seconds")


class CancelTimer(Command):
    """``(timer,)``"""

    __slots__ = ()
    fields = ("timer",)


class CheckDaemon(Command):
    """``(reason,)``: the daemon may have stopped answering; the gateway probes it."""

    __slots__ = ()
    fields = ("reason",)


class Emit(Command):
    """``(event,)``: an audit event for the gateway's ``emit()``."""

    __slots__ = ()
    fields = ("event",)


# singletons of the commands without fields
_HALF_CLOSE_CLIENT = HalfCloseClient()
_SHUTDOWN_CLIENT = ShutdownClient()
_CLOSE_CLIENT = CloseClient()
_ABORT_CLIENT = AbortClient()
_OPEN_UPSTREAM = OpenUpstream()
_HALF_CLOSE_UPSTREAM = HalfCloseUpstream()
_CLOSE_UPSTREAM = CloseUpstream()


# ------------------------------------------------------------------------------- exchange


_NO_QUERY: dict[str, list[str]] = {}  # shared, never written: an exchange assigns its own


_AsSent = tuple[bytes | None, bytes | None, object, "Classification | None", dict[str, list[str]]]


class Exchange:
    """One request, from its head to the end of its answer; then discarded.

    Made for every request, so only ``record`` and ``t0`` are set at first; the rest read as
    the class-level defaults below until the exchange assigns its own (never in place: those
    defaults are shared, so the mutable ones are assigned a fresh object before any change).
    """

    head: RequestHead | None = None
    request: Classification | None = None
    decision: Decision | None = None
    policy: Policy | None = None
    target_query: str = ""
    query: dict[str, list[str]] = _NO_QUERY
    body: BodyReader | None = None  # the request body being read
    collected: bytearray | None = None  # an inspected request body, as it arrives
    collected_body: bytes | None = None
    pending_head: bytes | None = None  # the head to forward once decided
    fact_body: object = None  # the decoded body the fact rounds judge
    facts: dict[FactQuery, Mapping[str, object] | None] | None = None
    fact_rounds: int = 0
    # tenancy, private names: the request as sent (head, body, decoded body, route, query)
    names_origin: _AsSent | None = None
    names_moved: tuple[tuple[str, str, str], ...] = ()  # references moved, not yet settled
    resp_buf: bytearray | None = None  # a response head in pieces
    resp_body: BodyReader | None = None
    resp_collect: bytearray | None = None  # a response to redact, as it arrives
    resp_filter: EventStreamFilter | None = None  # tenancy: an events stream, filtered
    resp_head_raw: bytes = b""
    held_head: bytes | None = None  # a response head sent with the first body bytes
    close_after: bool = False
    response_started: bool = False
    deadline: float | None = None  # seconds the daemon has for the response head
    admit_tries: int = 0  # times an inspected body waited for room in the budget
    sent_at: float = 0.0  # when the request was completely sent

    # set at once by the relay (no __init__: one call less per request)
    record: ExchangeRecord | None
    t0: float


# ---------------------------------------------------------------------------------- relay


class Relay:
    """One client connection's relay; feed it events, carry out the commands it returns."""

    def __init__(
        self, context: RelayContext, peer: Peer, address: str | None, *, tls: bool
    ) -> None:
        self.context = context
        self.peer = peer
        self.address = address  # the client's IP address, for source-network rules
        self.phase = Phase.HANDSHAKE if tls else Phase.HEAD
        self.answer = Answer.IDLE
        self.client = OPEN
        self.upstream = CLOSED
        self.upstream_linked = False  # a daemon connection is open (whatever its flags)
        self.exchange: Exchange | None = None
        self.inbuf = bytearray()
        self._scan_from = 0
        self._out: list[Command] = []
        self._client_pauses: set[str] = set()  # why the client is not read now
        self._upstream_pauses: set[str] = set()
        self._client_blocked = False  # the client socket is over its high-water mark
        self._connecting = False
        self._pending: list[Buffer] = []  # for the daemon, while its connection opens
        self._pending_bytes = 0
        self._pending_eof = False
        self._head_timer = False
        self._response_timer = False  # a RESPONSE timer is running (never cancelled early)
        self._response_due = 0.0  # when it fires
        self._body_timer = False  # a BODY timer is running (lazy, like RESPONSE)
        self._body_seen = 0.0  # when the request body last made progress
        self._idle_timer = False
        self._idle_since = 0.0  # when the connection last became idle
        self._inspecting = 0  # bytes of an inspected body this relay holds in the budget
        self._over_cap: str | None = None  # why this connection's identity may hold no more
        self._counted: str | None = None  # the identity this connection counts for
        self._draining = False  # the gateway is stopping: no request after the current one
        self._lingering = False
        self._tunnel_ended = False  # the daemon ended the tunnel (its EOF): it completed
        self._client_closed = False  # CloseClient or AbortClient was sent

    @property
    def identity(self) -> PeerIdentity | None:
        return self.peer.identity

    def handle(self, event: Event) -> list[Command]:
        """Apply ``event``; return the commands to carry out, in order."""
        out = self._out = []
        try:
            handler = TRANSITIONS[type(event)][self.phase]
        except KeyError:
            raise IllegalEvent(event, self.phase) from None
        handler(self, event)
        return out

    # The fast lanes: bytes that the relay would only count and pass on (a tunnel, the middle
    # of a Content-Length, chunked or close-delimited body) skip the event and the command.
    # Each is exactly what handling ``UpstreamData``/``ClientData`` would do there, and says
    # False when the bytes must take the general way (anything else to do: the end of a body,
    # a closed side, a filter...).

    def pass_to_client(self, data: Buffer) -> bool:
        """Count ``data`` from the daemon; True: send it to the client as it is."""
        if not self.client & CAN_WRITE:
            return False
        answer = self.answer
        ex = self.exchange
        if answer is Answer.TUNNEL:
            if ex is not None and ex.record is not None:
                ex.record.bytes_out += len(data)
            return True
        if answer is not Answer.BODY or ex is None or ex.record is None:
            return False
        if ex.resp_collect is not None or ex.resp_filter is not None or ex.held_head is not None:
            return False
        reader = ex.resp_body
        size = len(data)
        if type(reader) is LengthReader:
            if reader.remaining <= size:
                return False
            reader.remaining -= size
        elif type(reader) is ChunkedReader:
            if not reader.pass_through(data):
                return False  # the last chunk, or framing the general path reports
        elif type(reader) is not UntilCloseReader:
            return False
        ex.record.bytes_out += size
        return True

    def pass_to_upstream(self, size: int) -> bool:
        """Count ``size`` bytes from the client; True: send them to the daemon as they are."""
        if not self.upstream_linked or self.inbuf:
            return False
        phase = self.phase
        if phase is Phase.TUNNEL:
            return True
        ex = self.exchange
        if phase is not Phase.BODY or ex is None or ex.record is None:
            return False
        body = ex.body
        if type(body) is not LengthReader or body.remaining <= size:
            return False
        body.remaining -= size
        ex.record.bytes_in += size
        if self._body_timer:
            self._body_seen = _clock()
        return True

    # The keep-alive lanes: the common exchange (a request head alone, answered by one whole
    # plain answer) as two calls, without the event, its dispatch and the command of the bytes.
    # Each does exactly what handling ``ClientData``/``UpstreamData`` does there.

    def head_received(self, data: bytes) -> list[Command]:
        """``handle(ClientData((data,)))`` in phase HEAD (the caller checks the phase)."""
        out = self._out = []
        if (  # _one_whole_head, inline
            not self.inbuf
            and 4 <= len(data) <= MAX_HEAD_BYTES
            and data.find(b"\r\n\r\n") == len(data) - 4
            and not data.startswith(_PREFACE_START)
        ):
            self._start_request(data)
        else:
            self.inbuf += data
            self._process()
        return out

    def whole_answer(self, data: bytes) -> tuple[ExchangeRecord, list[Command]] | None:
        """While a response head is due: when ``data`` is one whole plain answer to a request
        sent completely, end the exchange and return its record and the commands that follow;
        the caller sends ``data`` to the client as it is, emits the record, then carries out
        the commands (as ``SendClient``, ``Emit`` and the rest from ``UpstreamData``). ``None``
        when ``data`` is anything else: nothing was done, it takes the general way."""
        ex = self.exchange
        if (
            ex is None
            or self.phase is not Phase.SENT
            or not self.client & CAN_WRITE
            or ex.resp_buf
            or ex.record is None
        ):
            return None
        plain = self._plain_whole(ex, data)
        if plain is None:
            return None
        out = self._out = []
        record = ex.record
        ex.record = None
        ex.response_started = True
        took = (_clock() - ex.t0) * 1000.0  # the answer is its first byte and last
        record.first_byte_ms = record.duration_ms = took
        record.status = plain[0]
        record.bytes_out += len(data)
        if not record.decision:
            record.decision = "allow"
        if self._inspecting:
            self._release_inspection()
        self.exchange = None  # _response_done and _exchange_done, for a request sent
        self._next_exchange(plain[1] or ex.close_after)
        return record, out

    # ------------------------------------------------------------- connection lifecycle

    def _on_start(self, event: Start) -> None:
        if self.phase is Phase.HANDSHAKE:
            self._out.append(StartTimer((Timer.HANDSHAKE, HANDSHAKE_TIMEOUT)))
        else:
            self._enter_caps()
            self._arm_idle()

    def _on_established(self, event: Established) -> None:
        self._out.append(CancelTimer((Timer.HANDSHAKE,)))
        if event[0] is None:  # cannot happen with CERT_REQUIRED; fail closed anyway
            self._close_client()
            return
        self.peer.identity = event[0]
        self.phase = Phase.HEAD
        self._enter_caps()
        self._arm_idle()

    def _enter_caps(self) -> None:
        """Count the connection for its identity; over the cap, its requests get 429."""
        identity = self.peer.identity
        if identity is None:
            return
        label = identity.label
        why = self.context.caps.enter(label)
        if why is None:
            self._counted = label
            return
        log.warning("refusing requests from %s: %s", self.peer.source, why)
        self._over_cap = why
        self._idle_timer = True
        self._out.append(StartTimer((Timer.IDLE, OVER_CAP_GRACE)))

    def _on_handshake_error(self, event: HandshakeError) -> None:
        log.warning("TLS handshake with %s failed: %s", self.peer.source, event[0])
        self._out.append(CancelTimer((Timer.HANDSHAKE,)))
        self._out.append(Emit((HandshakeFailed(time.time(), self.peer, event[0]),)))
        self._close_client()

    def _on_handshake_timeout(self) -> None:
        log.warning("TLS handshake with %s timed out", self.peer.source)
        self._out.append(Emit((HandshakeFailed(time.time(), self.peer, "timed out"),)))
        self._abort_all()

    def _on_timer(self, event: TimerFired) -> None:
        timer = event[0]
        if timer is Timer.HEAD:
            self._head_timer = False
            if self.phase is Phase.HEAD and self.inbuf:
                log.warning("request head from %s not complete in time; closing", self.peer.source)
                self._begin_exchange()
                self._refuse(408, "request head not received in time", close=True)
        elif timer is Timer.RESPONSE:
            self._response_timer = False
            self._response_deadline()
        elif timer is Timer.BODY:
            self._body_timer = False
            self._body_deadline()
        elif timer is Timer.IDLE:
            self._idle_timer = False
            self._idle_deadline()
        elif timer is Timer.ADMIT:
            self._admit()
        elif timer is Timer.LINGER:
            if self._lingering and not self._client_closed:
                self._client_closed = True
                self.client = CLOSED
                self._out.append(_CLOSE_CLIENT)
        elif self.phase is Phase.HANDSHAKE:
            self._on_handshake_timeout()

    def _on_client_gone(self, event: ClientGone) -> None:
        ex = self.exchange
        if ex is not None and ex.record is not None:
            record = ex.record
            if record.end is END_COMPLETED and not self._tunnel_ended:
                record.end = END_CLIENT_GONE
            self._finish_record(record.status or 499)
        self.phase = Phase.GONE
        self.client = CLOSED
        self._client_closed = True
        if self._inspecting:
            self._release_inspection()
        if self._counted is not None:
            self.context.caps.leave(self._counted)
            self._counted = None
        self._close_upstream()

    def _on_revoked(self, event: Revoked) -> None:
        ex = self.exchange
        record = ex.record if ex is not None else None
        if record is not None:
            record.end = END_REVOKED
        cut = StreamCut(
            time.time(),
            self.peer,
            event[0],
            record.method if record else "",
            record.path if record else "",
            record.operation if record else "",
        )
        self._out.append(Emit((cut,)))
        self._abort_all()

    def _on_abort(self, event: Abort) -> None:
        self._abort_all()

    def _on_drain(self, event: Drain) -> None:
        self._draining = True
        phase = self.phase
        if phase is Phase.HANDSHAKE:
            self._abort_all()
        elif phase is Phase.HEAD and self.exchange is None and not self.inbuf:
            self.phase = Phase.CLOSED  # idle: nothing to finish
            self._close_client()
            self._close_upstream()

    def _on_drain_cut(self, event: DrainCut) -> None:
        phase = self.phase
        if phase is Phase.HANDSHAKE:
            self._abort_all()
            return
        ex = self.exchange
        if ex is not None and ex.record is not None:
            ex.record.end = END_DRAIN
        if phase is not Phase.CLOSED:
            log.info("drain time over: closing the connection of %s", self.peer.source)
        self.phase = Phase.CLOSED
        self._close_client()
        self._close_upstream()

    def _on_client_backpressure(self, event: ClientBackpressure) -> None:
        self._client_blocked = blocked = event[0]
        if blocked:
            self._pause(Side.UPSTREAM, "client-slow")
        else:
            self._resume(Side.UPSTREAM, "client-slow")

    def _on_upstream_backpressure(self, event: UpstreamBackpressure) -> None:
        if event[0]:
            self._pause(Side.CLIENT, "upstream-slow")
        else:
            self._resume(Side.CLIENT, "upstream-slow")

    def _drop(self, event: Event) -> None:
        """Accepted and ignored: the connection is closing (a linger, a late answer)."""

    def _close_client(self) -> None:
        """Graceful close: our close_notify, then FIN once buffers drain.

        A client that has not finished sending (a refused upload, say) may still be writing:
        closing with its bytes unread would make the kernel reset the connection, and the
        client could lose our answer with it ("broken pipe" instead of the refusal). So, as
        Go's server does, the socket closes only once the client has closed its side, or
        ``LINGER_SECONDS`` later; meanwhile what it sends is read and dropped.
        """
        if self._client_closed:
            return
        out = self._out
        if not self.client & CAN_READ:
            self._client_closed = True
            self.client = CLOSED
            if self._lingering:
                out.append(CancelTimer((Timer.LINGER,)))
            out.append(_CLOSE_CLIENT)
            return
        if self._lingering:
            return
        self._lingering = True
        self.phase = Phase.CLOSED  # from here on, client bytes are dropped
        self.client &= ~CAN_WRITE
        out.append(_SHUTDOWN_CLIENT)
        if self._client_pauses:
            self._client_pauses.clear()
            out.append(ResumeReading((Side.CLIENT,)))
        out.append(StartTimer((Timer.LINGER, LINGER_SECONDS)))

    def _abort_all(self) -> None:
        if self._inspecting:
            self._release_inspection()
        self.phase = Phase.CLOSED
        if not self._client_closed:
            self._client_closed = True
            self.client = CLOSED
            self._out.append(_ABORT_CLIENT)
        self._close_upstream()

    def _send_client(self, data: Buffer) -> None:
        if not self.client & CAN_WRITE:
            return
        ex = self.exchange
        if ex is not None and ex.record is not None:
            ex.record.bytes_out += len(data)
        self._out.append(SendClient((data,)))

    def _pause(self, side: Side, reason: str) -> None:
        reasons = self._client_pauses if side is Side.CLIENT else self._upstream_pauses
        if not reasons:
            self._out.append(PauseReading((side,)))
        reasons.add(reason)

    def _resume(self, side: Side, reason: str) -> None:
        reasons = self._client_pauses if side is Side.CLIENT else self._upstream_pauses
        if reason in reasons:
            reasons.discard(reason)
            if not reasons:
                self._out.append(ResumeReading((side,)))

    # ------------------------------------------------------------------- request side

    def _on_client_data(self, event: ClientData) -> None:
        data = event[0]
        phase = self.phase
        if phase is Phase.HEAD and not self.inbuf and _one_whole_head(data):
            self._start_request(data)  # the common case: nothing buffered, nothing to scan
            return
        if phase is Phase.TUNNEL:
            self._to_upstream(data)
            return
        if phase is Phase.BODY and not self.inbuf:
            used = self._request_body(data)
            if used < len(data) and self.phase is not Phase.CLOSED:
                self.inbuf += data[used:]  # the next request, pipelined behind the body
            if self.phase is not Phase.BODY:
                self._process()
            return
        self.inbuf += data
        self._process()

    def _process(self) -> None:
        """Consume buffered client bytes as far as the current phases allow."""
        inbuf = self.inbuf
        while inbuf:
            phase = self.phase
            if phase is Phase.HEAD:
                try:
                    end = find_head_end(inbuf, self._scan_from)
                except ProtocolError as err:
                    self._begin_exchange()
                    self._refuse(err.status, str(err), close=True)
                    return
                if end < 0:
                    self._scan_from = len(inbuf)
                    if not self._head_timer:  # a slow head may not hold the connection
                        self._head_timer = True
                        self._out.append(StartTimer((Timer.HEAD, self.context.head_timeout)))
                    return
                if self._head_timer:
                    self._head_timer = False
                    self._out.append(CancelTimer((Timer.HEAD,)))
                raw = bytes(inbuf[:end])
                del inbuf[:end]
                self._scan_from = 0
                self._start_request(raw)
            elif phase is Phase.BODY:
                data = bytes(inbuf)
                inbuf.clear()
                used = self._request_body(data)
                if used < len(data):
                    inbuf[:0] = data[used:]
            elif phase is Phase.COLLECT:
                data = bytes(inbuf)
                inbuf.clear()
                used = self._collect_body(data)
                if used < len(data) and self.phase is not Phase.CLOSED:
                    inbuf[:0] = data[used:]
                if self.phase is Phase.DECIDING:
                    return
            elif phase is Phase.TUNNEL:
                data = bytes(inbuf)
                inbuf.clear()
                self._to_upstream(data)
            else:
                # SENT or DECIDING: a pipelined next request waits; bound the wait.
                if len(inbuf) > BUFFER_LIMIT:
                    self._pause(Side.CLIENT, "pipelined")
                return

    def _begin_exchange(self) -> Exchange:
        """Start the exchange (and its record) of a new request."""
        ex = self.exchange = Exchange()
        ex.record = ExchangeRecord(time.time(), self.peer)
        ex.t0 = _clock()
        return ex

    def _start_request(self, raw: bytes) -> None:
        ex = self.exchange = Exchange()  # _begin_exchange, without a call on every request
        record = ex.record = ExchangeRecord(time.time(), self.peer)
        ex.t0 = _clock()
        try:
            seen = analyse_head_cached(raw)
        except ProtocolError as err:
            self._refuse(err.status, str(err), close=True)
            return
        head = ex.head = seen.head
        record.method = head.method
        record.path = seen.log_path
        target, request = seen.target, seen.request
        if target is None or request is None:
            assert seen.target_error is not None
            status, message = seen.target_error
            self._refuse(status, message, close=True)
            return
        ex.request = request
        context = self.context
        identity = self.peer.identity
        assert identity is not None
        refusal = context.refusal(identity)
        if refusal is not None:
            record.decision = "deny"
            self._refuse(403, refusal, close=True)
            return
        if self._over_cap is not None:
            self._refuse(429, self._over_cap, close=True)
            return
        rates = context.rates
        if rates is not None:
            wait = rates.wait(identity.label)
            if wait:
                context.caps.refused["rate"] += 1
                self._refuse(
                    429,
                    f"too many requests from {identity.label}: at most {rates.rate:g} a second; "
                    f"try again in {wait:.1f} s",
                    close=head.has_body or not head.keep_alive,
                )
                return
        policy = context.policy
        decision = policy.authorize(identity, self.address, request)
        if context.audit_store is not None:  # writes wait while the store cannot record them
            decision = refuse_unrecorded(decision, request.access, context.audit_store)
        if (
            decision.allowed
            and not decision.audit_only
            and not decision.inspect_request
            and seen.head_refusal is None
            and head.keep_alive
            and not head.chunked
            and not head.content_length
            and self.upstream_linked
            and not self._inspecting
            and context.daemon_down is None
        ):
            # the common request, as the general way below would forward it, in one place:
            # the decision recorded, _forward_request inline (no body, keep-alive, the daemon
            # connection open), and the response deadline from the request's arrival (it is
            # sent in the same call as it came)
            self._apply_decision(ex, decision, body_consumed=False)
            self.answer = Answer.HEAD
            self._out.append(SendUpstream((raw,)))
            self.phase = Phase.SENT
            self._arm_response_deadline(ex, ex.t0)
            return
        ex.policy = policy  # what the inspection reads (the lane above needs neither)
        ex.target_query = target.query
        if not self._apply_decision(ex, decision, body_consumed=False):
            return
        if seen.head_refusal is not None:
            status, message = seen.head_refusal
            self._refuse(status, message, close=True)
            return
        down = context.daemon_down
        if down is not None:  # fail fast: the breaker is open
            self._refuse(502, down, close=head.has_body or not head.keep_alive)
            return
        if not decision.inspect_request:
            self._forward_request(ex, raw)
            return
        try:
            ex.query = parse_query(target.query)
        except ProtocolError as err:
            self._refuse(err.status, str(err), close=True)
            return
        if decision.inspect_body and head.has_body:
            content_type = head.header(b"content-type")
            archive = decision.operation in CONTEXT_BODIES  # a build context, read up to a bound
            if not archive and not _is_json(content_type):
                shown = content_type.decode("latin-1") if content_type else "none"
                self._refuse(400, f"Content-Type {shown!r} is not application/json", close=True)
                return
            limit = policy.body_limit
            if not archive and head.content_length is not None and head.content_length > limit:
                self._refuse(413, f"request body larger than {limit} bytes", close=True)
                return
            ex.pending_head = raw
            if context.inspection.full:  # wait for room, reading nothing meanwhile
                self.phase = Phase.DECIDING
                self._pause(Side.CLIENT, "inspection-full")
                self._out.append(StartTimer((Timer.ADMIT, ADMIT_RETRY)))
                return
            self._start_collecting(ex)
            return
        ex.pending_head = raw
        self._inspect(ex, None)

    def _start_collecting(self, ex: Exchange) -> None:
        head = ex.head
        assert head is not None
        ex.collected = bytearray()
        ex.body = ChunkedReader() if head.chunked else LengthReader(head.content_length or 0)
        self.phase = Phase.COLLECT
        self._arm_body_deadline()

    def _admit(self) -> None:
        """The ADMIT timer fired: collect the waiting body if there is room now, else 503."""
        ex = self.exchange
        if self.phase is not Phase.DECIDING or ex is None or ex.facts is not None:
            return  # (facts is set once the body is read: the wait is over)
        budget = self.context.inspection
        if budget.full:
            ex.admit_tries += 1
            if ex.admit_tries * ADMIT_RETRY < ADMIT_WAIT:
                self._out.append(StartTimer((Timer.ADMIT, ADMIT_RETRY)))
                return
            budget.refused += 1
            self._resume(Side.CLIENT, "inspection-full")
            log.warning(
                "refused a request body from %s: %d bytes of bodies held for inspection",
                self.peer.source,
                budget.used,
            )
            self._refuse(
                503,
                f"the gateway is inspecting too many request bodies ({budget.used >> 20} MiB); "
                "try again shortly",
                close=True,
            )
            return
        self._resume(Side.CLIENT, "inspection-full")
        self._start_collecting(ex)
        if self.inbuf:
            self._process()

    def _release_inspection(self) -> None:
        held = self._inspecting
        if held:
            self._inspecting = 0
            self.context.inspection.give(held)

    def _apply_decision(self, ex: Exchange, decision: Decision, *, body_consumed: bool) -> bool:
        """Record ``decision``; refuse the request if it denies. True when it may go on."""
        record = ex.record
        assert record is not None and ex.head is not None
        ex.decision = decision
        record.operation = decision.operation
        record.rule = decision.rule
        record.role = decision.role
        record.decision = decision.verdict
        if decision.audit_only:
            record.reason = decision.reason
            log.warning("audit mode, would deny: %s (%s)", decision.reason, self.peer.source)
        if decision.allowed:
            return True
        unread_body = ex.head.has_body and not body_consumed
        self._refuse(
            decision.status,
            decision.reason,
            close=unread_body or not ex.head.keep_alive,
            as_daemon=decision.as_daemon,
        )
        return False

    def _collect_body(self, data: bytes) -> int:
        """Read an inspected body completely before deciding; return the bytes it used."""
        ex = self.exchange
        assert ex is not None
        reader, collected, record, policy = ex.body, ex.collected, ex.record, ex.policy
        assert reader is not None and collected is not None and record is not None
        assert policy is not None
        payload: list[memoryview] = []
        try:
            used = reader.feed(data, payload)
        except ProtocolError as err:
            self._refuse(err.status, str(err), close=True)
            return len(data)
        size = len(collected)
        for piece in payload:
            collected += piece
        record.bytes_in += used
        grown = len(collected) - size
        if grown:
            self._inspecting += grown
            self.context.inspection.take(grown)
        if used:
            self._body_seen = _clock()
        if ex.decision is not None and ex.decision.operation in CONTEXT_BODIES:
            if len(collected) > policy.build_context_limit or reader.done:
                ex.body = None if reader.done else reader  # the rest streams once decided
                self._inspect(ex, bytes(collected))
            return used
        limit = policy.body_limit
        if len(collected) > limit:
            self._refuse(413, f"request body larger than {limit} bytes", close=True)
            return len(data)
        if reader.done:
            ex.body = None
            self._inspect(ex, bytes(collected))
        return used

    def _inspect(self, ex: Exchange, body_bytes: bytes | None) -> None:
        """Run the profile checks, asking the daemon for facts first when they need some."""
        assert ex.request is not None and ex.decision is not None and ex.policy is not None
        ex.collected_body = body_bytes
        body: object
        try:
            if ex.decision.operation in CONTEXT_BODIES and body_bytes is not None:
                limit = ex.policy.build_context_limit
                whole = ex.body is None and len(body_bytes) <= limit
                body = read_context(body_bytes, ex.query, limit, whole=whole)
            else:
                body = decode_body(body_bytes) if body_bytes else None
            if ex.decision.private_names:  # the names given, into the caller's name space
                ex.names_origin = (ex.pending_head, body_bytes, body, ex.request, ex.query)
                body = self._enter_names(ex, frozenset())
            verdict = ex.policy.judge(ex.decision, ex.request, ex.query, body, {})
        except ProtocolError as err:
            self._refuse(err.status, str(err), close=True)
            return
        if isinstance(verdict, Decision):
            self._decide(ex, verdict, body, {})
            return
        self.phase = Phase.DECIDING
        ex.fact_body = body
        ex.facts = {}
        self._pause(Side.CLIENT, "deciding")
        self._out.append(FetchFacts((tuple(verdict),)))

    def _enter_names(self, ex: Exchange, kept: frozenset[tuple[str, str]]) -> object:
        """Move the request's names into the caller's name space (``policy.namespaces``),
        all but ``kept``, from the request as the client sent it; return the body to judge."""
        assert ex.decision is not None and ex.head is not None and ex.names_origin is not None
        head, body_bytes, body, sent, query = ex.names_origin
        assert head is not None and sent is not None
        entered = enter_request(ex.decision, sent, head, body_bytes, body, kept)
        if isinstance(entered, NameRefusal):
            raise ProtocolError(entered.message, entered.status)
        ex.names_moved = entered.moved
        if entered.head is head:
            ex.request, ex.query = sent, query
            ex.target_query = (
                head[: head.index(b"\r\n")].split(b" ")[1].partition(b"?")[2].decode("latin-1")
            )
        else:
            seen = analyse_head_cached(entered.head)
            target, request = seen.target, seen.request
            if target is None or request is None or request.route is not sent.route:
                raise ProtocolError("the request could not be moved into its name space")
            ex.request, ex.target_query = request, target.query
            ex.query = parse_query(target.query)
        ex.pending_head = entered.head
        if body_bytes is not None:  # what was moved before is replaced, not added to
            ex.collected_body = entered.body
        if entered.body is not body_bytes and entered.body is not None:
            body = entered.document  # what the new body decodes to
            if not ex.head.chunked:
                ex.pending_head = with_content_length(entered.head, len(entered.body))
        return body

    def _on_facts(self, event: FactsReady) -> None:
        ex = self.exchange
        assert ex is not None and ex.request is not None and ex.decision is not None
        assert ex.policy is not None and ex.facts is not None
        ex.facts.update(event[0])
        ex.fact_rounds += 1
        try:
            if ex.names_moved:  # names not under the prefix at the daemon: as written
                kept = fallbacks(ex.names_moved, ex.facts)
                ex.names_moved = ()
                if kept:
                    ex.fact_body = self._enter_names(ex, kept)
        except ProtocolError as err:
            self._resume(Side.CLIENT, "deciding")
            self._refuse(err.status, str(err), close=True)
            return
        policy, decision, request, query = ex.policy, ex.decision, ex.request, ex.query
        try:
            if ex.fact_rounds < MAX_FACT_ROUNDS:
                verdict = policy.judge(decision, request, query, ex.fact_body, ex.facts)
            else:  # the last round: a fact still missing refuses the request
                verdict = policy.check_body(decision, request, query, ex.fact_body, ex.facts)
        except ProtocolError as err:
            self._resume(Side.CLIENT, "deciding")
            self._refuse(err.status, str(err), close=True)
            return
        except ValueError as err:
            self._facts_failed(str(err) or type(err).__name__)
            return
        if not isinstance(verdict, Decision):
            self._out.append(FetchFacts((tuple(verdict),)))
            return
        self._resume(Side.CLIENT, "deciding")
        self._decide(ex, verdict, ex.fact_body, ex.facts)
        if self.inbuf:
            self._process()

    def _on_facts_failed(self, event: FactsFailed) -> None:
        self._facts_failed(event[0])

    def _facts_failed(self, reason: str) -> None:
        self._resume(Side.CLIENT, "deciding")
        self._refuse(502, f"cannot check the request with the Docker daemon: {reason}", close=True)

    def _decide(self, ex: Exchange, decision: Decision, body: object, facts: Facts) -> None:
        """The policy has judged the request on ``facts``: refuse it, or forward it pinned."""
        assert ex.request is not None
        if not self._apply_decision(ex, decision, body_consumed=ex.collected_body is not None):
            return
        raw = ex.pending_head
        assert raw is not None and ex.head is not None
        head = ex.head
        pinned = pin_request(
            raw,
            ex.request,
            ex.target_query,
            ex.collected_body,
            body,
            facts,
            image_by_id=decision.owner is not None,  # tenancy judged the image's owner
        )
        if isinstance(pinned, Refusal):  # a name judged unknown, or the body not rewritable
            unread = head.has_body and ex.collected_body is None
            self._refuse(
                pinned.status,
                pinned.message,
                close=unread or not head.keep_alive,
                as_daemon=pinned.as_daemon,
            )
            return
        pinned_head, pinned_body = pinned
        raw, body_bytes = forwarded_request(decision, pinned_head, head.chunked, pinned_body)
        self._forward_request(ex, raw, body_bytes)

    def _forward_request(self, ex: Exchange, raw: bytes, collected: bytes | None = None) -> None:
        """Send the head (and a body read for inspection) to the daemon, then stream the rest."""
        head = ex.head
        assert head is not None
        if ex.pending_head is not None:  # an inspected request: what was held for it goes
            ex.pending_head = None
            ex.collected = None
            ex.collected_body = None
        if self._inspecting:
            self._release_inspection()
        if not head.keep_alive:
            ex.close_after = True
        self.answer = Answer.HEAD
        if self.upstream_linked:
            self._out.append(SendUpstream((raw,)))  # keep-alive: the daemon connection is there
        else:
            self._open_upstream()
            self._to_upstream(raw)
        if collected is not None:
            rest = ex.body  # a build context's first part: the rest streams after it
            if head.chunked:
                self._to_upstream_many([*encode_chunk(collected), *(() if rest else (LAST_CHUNK,))])
            else:
                self._to_upstream(collected)
            if rest is None:
                self._request_sent()
            else:
                self.phase = Phase.BODY
        elif head.chunked:
            ex.body = ChunkedReader()
            self.phase = Phase.BODY
            self._arm_body_deadline()
        elif head.content_length:
            ex.body = LengthReader(head.content_length)
            self.phase = Phase.BODY
            self._arm_body_deadline()
        else:  # _request_sent, inline: most requests have no body (and no answer yet)
            self.phase = Phase.SENT
            self._arm_response_deadline(ex)

    def _request_body(self, data: bytes) -> int:
        """Forward the part of ``data`` that belongs to the current body; return its size."""
        ex = self.exchange
        assert ex is not None
        body, record = ex.body, ex.record
        assert body is not None and record is not None
        if isinstance(body, LengthReader):
            used = body.feed(data)
            self._to_upstream(data if used == len(data) else memoryview(data)[:used])
        else:
            payload: list[memoryview] = []
            try:
                used = body.feed(data, payload)
            except ProtocolError as err:
                # Part of the body already reached the daemon: break its request off.
                self._close_upstream()
                self._refuse(err.status, str(err), close=True)
                return len(data)
            pieces: list[Buffer] = []
            for piece in payload:
                pieces += encode_chunk(piece)
            if body.done:
                pieces.append(LAST_CHUNK)
            if pieces:
                self._to_upstream_many(pieces)
        record.bytes_in += used
        if self._body_timer:
            self._body_seen = _clock()
        if body.done:
            self._request_sent()
        return used

    def _request_sent(self) -> None:
        ex = self.exchange
        assert ex is not None
        ex.body = None
        self.phase = Phase.SENT
        if self.answer is Answer.DONE:
            self._exchange_done()
        elif self.answer is Answer.HEAD:
            self._arm_response_deadline(ex)

    def _arm_response_deadline(self, ex: Exchange, sent_at: float | None = None) -> None:
        """Give the daemon its operation class's deadline for the response head, counted from
        ``sent_at`` (now unless given).

        One timer per connection, not restarted by each answer: when it fires it looks at
        the exchange awaiting a head then, and starts again for what that one has left.
        """
        request = ex.request
        route = request.route if request is not None else None
        deadline = self.context.timeouts.by_stream[
            route.spec.stream if route is not None else Stream.BRIEF
        ]
        if deadline is None:
            return
        ex.deadline = deadline
        now = ex.sent_at = _clock() if sent_at is None else sent_at
        due = now + deadline
        if not self._response_timer or due < self._response_due:
            self._response_timer = True
            self._response_due = due
            self._out.append(StartTimer((Timer.RESPONSE, deadline)))

    def _arm_body_deadline(self) -> None:
        """A request body starts: it may not go ``timeouts.body`` seconds without a byte."""
        seconds = self.context.timeouts.body
        if seconds is None:
            return
        self._body_seen = _clock()
        if not self._body_timer:
            self._body_timer = True
            self._out.append(StartTimer((Timer.BODY, seconds)))

    def _body_deadline(self) -> None:
        """The BODY timer fired: 408 if the body being read made no progress for too long.

        Time while the relay itself does not read the client (the daemon is slow to take the
        body, a connection is opening) does not count against the client.
        """
        phase = self.phase
        seconds = self.context.timeouts.body
        ex = self.exchange
        if (phase is not Phase.BODY and phase is not Phase.COLLECT) or seconds is None:
            return
        assert ex is not None
        now = _clock()
        if self._client_pauses:
            self._body_seen = now
        left = seconds - (now - self._body_seen)
        if left > 0.001:
            self._body_timer = True
            self._out.append(StartTimer((Timer.BODY, left)))
            return
        message = f"the request body stalled: no data for {seconds:g} s"
        log.warning("%s (%s); closing", message, self.peer.source)
        if ex.record is not None:
            ex.record.end = END_TIMED_OUT
        if phase is Phase.BODY:  # part of it reached the daemon: break its request off
            self._close_upstream()
            self.answer = Answer.IDLE
        self._refuse(408, message, close=True)

    def _arm_idle(self) -> None:
        """The connection has no request in flight: start (or go on with) its idle deadline."""
        seconds = self.context.timeouts.idle
        if seconds is None:
            return
        self._idle_since = _clock()
        if not self._idle_timer:
            self._idle_timer = True
            self._out.append(StartTimer((Timer.IDLE, seconds)))

    def _idle_deadline(self) -> None:
        if self._over_cap is not None and self.exchange is None and self.phase is Phase.HEAD:
            self.phase = Phase.CLOSED  # it did not ask in time: close without a word
            self._close_client()
            return
        seconds = self.context.timeouts.idle
        if seconds is None or self.phase is not Phase.HEAD or self.exchange is not None:
            return  # busy: the end of this exchange starts the wait again
        if self.inbuf:
            return  # a head in progress: the head timeout's business
        left = seconds - (_clock() - self._idle_since)
        if left > 0.001:
            self._idle_timer = True
            self._out.append(StartTimer((Timer.IDLE, left)))
            return
        log.info("closing idle connection from %s after %g s", self.peer.source, seconds)
        self.phase = Phase.CLOSED
        self._close_client()
        self._close_upstream()

    def _response_deadline(self) -> None:
        """The RESPONSE timer fired: answer 504 if the exchange waiting for a head is late."""
        ex = self.exchange
        if (
            ex is None
            or ex.deadline is None
            or self.answer is not Answer.HEAD
            or ex.response_started
            or self.phase is Phase.CLOSED
        ):
            return
        left = ex.deadline - (_clock() - ex.sent_at)
        if left > 0.001:
            self._response_timer = True
            self._response_due = ex.sent_at + ex.deadline
            self._out.append(StartTimer((Timer.RESPONSE, left)))
            return
        message = f"the Docker daemon did not answer within {ex.deadline:g} s"
        record = ex.record
        if record is not None:
            record.end = END_TIMED_OUT
        operation = record.operation if record is not None else "?"
        log.error("%s (%s, from %s)", message, operation, self.peer.source)
        self._out.append(CheckDaemon((message,)))
        self._close_upstream()
        self.answer = Answer.IDLE
        self._refuse(504, message, close=True)

    def _refuse(self, status: int, message: str, *, close: bool, as_daemon: bool = False) -> None:
        """Answer the client ourselves; the daemon never sees this request."""
        ex = self.exchange
        assert ex is not None
        record = ex.record
        if record is not None:
            if record.decision not in ("deny", "audit-deny"):
                record.decision = "refuse"  # also after an allow: the daemon never saw it
            record.reason = message
        if ex.response_started:  # too late for a reply: cut the connection
            self._abort_all()
            return
        ex.response_started = True
        head_only = ex.head is not None and ex.head.method == "HEAD"
        if ex.decision is not None and ex.decision.private_names:
            message = shown(ex.decision, message)
        self._send_client(
            error_response(status, message, close=close, head_only=head_only, as_daemon=as_daemon)
        )
        self._finish_record(status)
        if close:
            self.phase = Phase.CLOSED
            self.inbuf.clear()
            self._close_client()
        else:
            self.exchange = None
            self.phase = Phase.HEAD
            self.answer = Answer.IDLE
            if not self.inbuf:
                self._arm_idle()

    def _on_client_eof(self, event: ClientEOF) -> None:
        """The client sent close_notify or FIN.

        In a tunnel that is stdin EOF: pass it on and keep relaying output. Anywhere else it
        ends the exchange, as it does in Go's server (which cancels the request on client EOF),
        so a killed ``docker events`` or ``logs -f`` frees its daemon connection at once.
        """
        if not self.client & CAN_READ:
            return
        self.client &= ~CAN_READ
        phase = self.phase
        if phase is Phase.HANDSHAKE:
            self._client_closed = True
            self.client = CLOSED
            self.phase = Phase.CLOSED
            self._out.append(_CLOSE_CLIENT)
            return
        if phase is Phase.TUNNEL:
            self._upstream_write_eof()
            if not self.upstream & CAN_READ:
                self._close_client()
                self._close_upstream()
            return
        if phase is Phase.SENT and self._awaiting_hijack():
            return  # stdin EOF before the 101: passed on when the tunnel opens (_open_tunnel)
        if phase is Phase.BODY:
            log.info("client %s closed in the middle of a request body", self.peer.source)
        self.phase = Phase.CLOSED
        self._close_client()
        self._close_upstream()

    def _awaiting_hijack(self) -> bool:
        ex = self.exchange
        request = ex.request if ex is not None else None
        return (
            request is not None
            and request.route is not None
            and request.route.hijack
            and self.answer is Answer.HEAD
        )

    # ------------------------------------------------------------------ upstream side

    def _to_upstream(self, data: Buffer) -> None:
        if self.upstream_linked:
            self._out.append(SendUpstream((data,)))
            return
        if not self._connecting:
            # The daemon connection went away in the middle of an exchange. Never open a new
            # one here: the rest of a body would reach dockerd as requests nobody checked.
            log.warning(
                "the Docker daemon closed the connection of %s mid-request", self.peer.source
            )
            self._daemon_gone(self.exchange)
            self._abort_all()
            return
        self._pending.append(bytes(data))
        self._pending_bytes += len(data)
        if self._pending_bytes > BUFFER_LIMIT:
            self._pause(Side.CLIENT, "connecting")

    def _to_upstream_many(self, pieces: list[Buffer]) -> None:
        if self.upstream_linked:
            self._out.append(SendUpstream((pieces,)))
        else:
            self._to_upstream(b"".join(pieces))

    def _open_upstream(self) -> None:
        """Open the daemon connection if there is none: only ever at the start of an exchange."""
        if not self.upstream_linked and not self._connecting:
            self._connecting = True
            self._out.append(_OPEN_UPSTREAM)

    def _upstream_write_eof(self) -> None:
        if not self.upstream_linked:
            self._pending_eof = True
        elif self.upstream & CAN_WRITE:
            self.upstream &= ~CAN_WRITE
            self._out.append(_HALF_CLOSE_UPSTREAM)

    def _on_upstream_connected(self, event: UpstreamConnected) -> None:
        if not self._connecting:
            raise IllegalEvent(event, self.phase)
        self._connecting = False
        if self.phase is Phase.CLOSED or self.phase is Phase.GONE:
            self._out.append(_CLOSE_UPSTREAM)
            return
        self.upstream = OPEN
        self.upstream_linked = True
        self._upstream_pauses.clear()
        if self._client_blocked:
            self._pause(Side.UPSTREAM, "client-slow")
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        if pending:
            self._out.append(SendUpstream((pending,)))
        self._resume(Side.CLIENT, "connecting")
        if self._pending_eof:
            self._pending_eof = False
            self._upstream_write_eof()

    def _on_upstream_connect_failed(self, event: UpstreamConnectFailed) -> None:
        if not self._connecting:
            raise IllegalEvent(event, self.phase)
        self._connecting = False
        self._pending.clear()
        self._pending_bytes = 0
        self._resume(Side.CLIENT, "connecting")
        path = self.context.upstream_path
        log.error("cannot reach the Docker daemon at %s: %s", path, event[0])
        if self.phase is Phase.GONE:
            return
        self.answer = Answer.IDLE
        self._daemon_gone(self.exchange)
        self._refuse(502, f"cannot reach the Docker daemon at {path}: {event[0]}", close=True)

    def _close_upstream(self) -> None:
        had = self.upstream_linked
        self.upstream = CLOSED
        self.upstream_linked = False
        self._resume(Side.CLIENT, "upstream-slow")
        if had:
            self._out.append(_CLOSE_UPSTREAM)

    def _on_upstream_data(self, event: UpstreamData) -> None:
        data = event[0]
        if self.answer is Answer.HEAD and self._whole_response(data):
            return  # the common case, checked here to save a call
        self._upstream_bytes(data)

    def _upstream_data(self, data: bytes) -> None:
        if self.answer is Answer.HEAD and self._whole_response(data):
            return
        self._upstream_bytes(data)

    def _upstream_bytes(self, data: bytes) -> None:
        """Daemon bytes that are not one whole plain answer (that was checked already)."""
        answer = self.answer
        if answer is Answer.TUNNEL:
            self._send_client(data)
            return
        if answer is Answer.BODY:
            self._response_body(data)
            return
        if answer is not Answer.HEAD:
            log.error("the Docker daemon sent %d unexpected bytes; closing", len(data))
            self._abort_all()
            return
        ex = self.exchange
        assert ex is not None
        if ex.resp_buf is None:
            ex.resp_buf = bytearray()
        ex.resp_buf += data
        self._response_head(ex)

    def _whole_response(self, data: bytes) -> bool:
        """Answer at once when ``data`` is one whole plain response: a head and exactly the body
        its framing announces (most API answers). False leaves ``data`` to the general path."""
        ex = self.exchange
        if ex is None or ex.resp_buf:
            return False
        plain = self._plain_whole(ex, data)
        if plain is None:
            return False
        record = ex.record
        assert record is not None
        record.status = plain[0]
        record.first_byte_ms = (_clock() - ex.t0) * 1000.0
        ex.response_started = True
        if plain[1]:
            ex.close_after = True
        if self.client & CAN_WRITE:  # _send_client, without a call on every answer
            record.bytes_out += len(data)
            self._out.append(SendClient((data,)))
        self._response_done()
        return True

    @staticmethod
    def _plain_whole(ex: Exchange, data: bytes) -> tuple[int, bool, int] | None:
        """``_plain_answer`` of ``data``'s head when ``data`` is that head and exactly the body
        it announces, for a response nothing rewrites; else ``None``."""
        request, decision, head = ex.request, ex.decision, ex.head
        if request is None or head is None or decision is None or decision.rewrites_response:
            return None
        end = data.find(b"\r\n\r\n") + 4
        if end < 4:
            return None
        route = request.route
        key = (
            data if end == len(data) else data[:end],
            head.method,
            route is not None and route.hijack,
        )
        plain = _plain_answers.get(key, _UNSEEN)  # _plain_answer's memory, without the call
        if plain is _UNSEEN:
            try:
                plain = _plain_answer(*key)
            except ProtocolError:
                return None  # the general path reports it
        if plain is None or plain[2] != len(data) - end:
            return None
        return plain

    def _response_head(self, ex: Exchange) -> None:
        resp_buf = ex.resp_buf
        assert resp_buf is not None
        while self.answer is Answer.HEAD:
            end = resp_buf.find(b"\r\n\r\n")
            if end < 0:
                if len(resp_buf) > MAX_RESPONSE_HEAD:
                    self._bad_gateway("response head larger than 1 MiB")
                return
            raw = bytes(resp_buf[: end + 4])
            rest = bytes(resp_buf[end + 4 :])
            resp_buf.clear()
            try:
                head = parse_response_head_cached(raw)
            except ProtocolError as err:
                self._bad_gateway(str(err))
                return
            assert ex.head is not None and ex.request is not None and ex.record is not None
            route = ex.request.route
            framing, reader = response_framing(
                head, ex.head.method, route is not None and route.hijack
            )
            ex.response_started = True
            ex.record.status = head.status
            ex.record.first_byte_ms = (_clock() - ex.t0) * 1000.0
            if framing is Framing.TUNNEL:
                self._open_tunnel(ex, raw, rest)
                return
            decision = ex.decision
            if (
                decision is not None
                and decision.rewrites_response
                and framing is Framing.BODY
                and reader is not None
                and rewrites_answer(decision, head.status)
            ):
                stream = None
                if head.status == 200:
                    stream = ex.resp_filter = streamed_filter(decision, chunked=head.chunked)
                if stream is None:
                    ex.resp_collect = bytearray()  # sent once redacted, with a new length
                    ex.resp_head_raw = raw
                else:
                    ex.close_after |= stream.closes
                    self._send_client(stream.head(raw))
            elif framing is Framing.BODY and rest:
                ex.held_head = raw  # goes out with the first body bytes: one record, one write
            else:
                self._send_client(raw)
            if framing is Framing.INFORMATIONAL:
                resp_buf += rest
                continue
            if head.close:
                ex.close_after = True
            if framing is Framing.NONE:
                self._response_done()
                if rest:
                    self._upstream_data(rest)
                return
            ex.resp_body = reader
            self.answer = Answer.BODY
            if rest:
                self._response_body(rest)
            return

    def _response_body(self, data: bytes) -> None:
        ex = self.exchange
        assert ex is not None
        reader = ex.resp_body
        assert reader is not None
        try:
            if ex.resp_collect is not None:
                used = self._collect_response(ex, reader, data)
            elif ex.resp_filter is not None:
                payload: list[memoryview] = []
                used = reader.feed(data, payload)
                pieces = ex.resp_filter.feed(payload)
                if reader.done:
                    pieces += ex.resp_filter.finish()
                if pieces:
                    self._send_client(b"".join(pieces))
            else:
                used = reader.feed(data)
                chunk: Buffer = data if used == len(data) else data[:used]
                held = ex.held_head
                if held is not None:
                    ex.held_head = None
                    chunk = held + chunk
                self._send_client(chunk)
        except ProtocolError as err:  # the daemon is trusted, but never crash the loop
            log.error("bad response body from the Docker daemon: %s", err)
            self.answer = Answer.IDLE
            self._abort_all()
            return
        if self.answer is not Answer.BODY:
            return
        if reader.done:
            self._response_done()
            if used < len(data):
                self._upstream_data(data[used:])

    def _collect_response(self, ex: Exchange, reader: BodyReader, data: bytes) -> int:
        """Gather a response to redact; send it when complete."""
        collected = ex.resp_collect
        assert collected is not None
        payload: list[memoryview] = []
        used = reader.feed(data, payload)
        for piece in payload:
            collected += piece
        if len(collected) > MAX_REDACTED_RESPONSE:
            log.error("response to redact is larger than %d bytes; closing", MAX_REDACTED_RESPONSE)
            self.answer = Answer.IDLE
            self._abort_all()
            return used
        if reader.done:
            self._send_redacted(ex)
        return used

    def _send_redacted(self, ex: Exchange) -> None:
        """Send the gathered response, redacted, under its head with the new length."""
        assert ex.resp_collect is not None
        assert ex.decision is not None
        status = ex.record.status if ex.record is not None else 200
        body = forwarded_response(ex.decision, bytes(ex.resp_collect), status)
        ex.resp_collect = None
        self._send_client(with_content_length(ex.resp_head_raw, len(body)))
        self._send_client(body)

    def _response_done(self) -> None:
        ex = self.exchange
        assert ex is not None
        if ex.resp_body is not None:
            ex.resp_body = None
        self.answer = Answer.DONE
        if self.phase is Phase.SENT:
            self._exchange_done()
        elif ex.close_after and self.phase is Phase.BODY:
            # dockerd answered before reading the whole body and will close: so do we
            self._close_after_answer()

    def _exchange_done(self) -> None:
        ex = self.exchange
        assert ex is not None
        if ex.record is not None:
            self._finish_record(ex.record.status)
        self.exchange = None
        self._next_exchange(ex.close_after)

    def _next_exchange(self, close: bool) -> None:
        """An exchange ended: close (``close``, or the client can send no more, or the gateway
        drains), else wait for the next request, or start the one already in."""
        self.answer = Answer.IDLE
        if close or not self.client & CAN_READ or self._draining:
            self.phase = Phase.CLOSED
            self._close_client()
            self._close_upstream()
            return
        self.phase = Phase.HEAD
        if self._client_pauses:
            self._resume(Side.CLIENT, "pipelined")
        if self.inbuf:
            self._process()
        elif self.context.timeouts.idle is not None:
            self._arm_idle()

    def _open_tunnel(self, ex: Exchange, head: bytes, rest: bytes) -> None:
        """Hand the connection over to a byte pipe; the head goes in its own TLS record."""
        assert ex.record is not None
        ex.record.hijacked = True
        self.phase = Phase.TUNNEL
        self.answer = Answer.TUNNEL
        ex.body = None
        self._send_client(head)
        if rest:
            self._send_client(rest)
        if self._client_pauses:
            self._resume(Side.CLIENT, "pipelined")
        if self.inbuf:
            data = bytes(self.inbuf)
            self.inbuf.clear()
            self._to_upstream(data)
        if not self.client & CAN_READ:
            self._upstream_write_eof()

    def _on_upstream_eof(self, event: UpstreamEOF) -> None:
        """The daemon closed its write side."""
        self.upstream &= ~CAN_READ
        answer = self.answer
        if answer is Answer.TUNNEL:
            self._tunnel_ended = True
            if self.client & CAN_WRITE:
                self.client &= ~CAN_WRITE
                self._out.append(_HALF_CLOSE_CLIENT)
            if not self.client & CAN_READ:
                self._close_client()
                self._close_upstream()
            return
        ex = self.exchange
        if answer is Answer.BODY and ex is not None and isinstance(ex.resp_body, UntilCloseReader):
            ex.close_after = True
            if ex.resp_collect is not None:  # a close-delimited answer to redact (HTTP/1.0)
                self._send_redacted(ex)
            self._response_done()
            if self.phase is not Phase.CLOSED:
                # the response is complete but the request body is not: nothing more can happen
                self._close_after_answer()
            self._close_upstream()
            return
        if answer is Answer.HEAD or answer is Answer.BODY:
            assert ex is not None
            if ex.response_started:
                log.warning("the Docker daemon closed the connection in the middle of a response")
                self._daemon_gone(ex)
                self._abort_all()
            else:
                self._bad_gateway("the Docker daemon closed the connection without answering")
            return
        self._upstream_gone()

    def _upstream_gone(self) -> None:
        """The daemon connection ended outside a response (its reader said nothing is pending).

        Between exchanges that is a closed keep-alive connection: the next request opens a new
        one. In the middle of one (a request body still streaming after the answer) the rest of
        the body must not be sent anywhere: close the client as dockerd closed us.
        """
        self._close_upstream()
        if self.phase is Phase.HEAD and self.answer is Answer.IDLE:
            return
        if self.phase is not Phase.CLOSED and self.phase is not Phase.TUNNEL:
            self._close_after_answer()

    def _close_after_answer(self) -> None:
        """End an exchange whose answer was sent but whose request can go no further."""
        self.phase = Phase.CLOSED
        ex = self.exchange
        if ex is not None and ex.record is not None:
            self._finish_record(ex.record.status)
        self._close_client()
        self._close_upstream()

    def _on_upstream_gone(self, event: UpstreamGone) -> None:
        self.upstream = CLOSED
        self.upstream_linked = False
        self._resume(Side.CLIENT, "upstream-slow")
        if self.phase is Phase.TUNNEL:
            if not self._tunnel_ended:
                self._daemon_gone(self.exchange)
            self._close_client()
        elif (
            self.answer is Answer.HEAD or self.answer is Answer.BODY
        ) and self.phase is not Phase.CLOSED:
            ex = self.exchange
            assert ex is not None
            if ex.response_started:
                self._daemon_gone(ex)
                self._abort_all()
            else:
                self._bad_gateway("the Docker daemon closed the connection without answering")
        else:
            self._upstream_gone()

    @staticmethod
    def _daemon_gone(ex: Exchange | None) -> None:
        """Mark the exchange in progress as ended by the daemon."""
        if ex is not None and ex.record is not None:
            ex.record.end = END_DAEMON_GONE

    def _bad_gateway(self, reason: str) -> None:
        log.error("bad response from the Docker daemon: %s", reason)
        self._daemon_gone(self.exchange)
        self._close_upstream()
        self.answer = Answer.IDLE
        self._refuse(502, reason, close=True)

    # ------------------------------------------------------------------------ records

    def _finish_record(self, status: int) -> None:
        if self._inspecting:
            self._release_inspection()
        ex = self.exchange
        record = ex.record if ex is not None else None
        if ex is None or record is None:
            return
        ex.record = None
        record.status = status
        record.duration_ms = (_clock() - ex.t0) * 1000.0
        if not record.decision:
            record.decision = "allow"
        self._out.append(Emit((record,)))


# ----------------------------------------------------------------------- transition table

Handler = Callable[[Relay, Event], None]
_ALIVE = (Phase.HEAD, Phase.BODY, Phase.COLLECT, Phase.DECIDING, Phase.SENT, Phase.TUNNEL)
_OPEN = (Phase.HANDSHAKE, *_ALIVE, Phase.CLOSED)  # every phase but GONE
_RELAYING = (*_ALIVE, Phase.CLOSED)  # after the handshake, before the client is gone


def _rows(
    *rows: tuple[type[Event], tuple[Phase, ...], Callable[..., None]],
) -> dict[type[Event], dict[Phase, Handler]]:
    table: dict[type[Event], dict[Phase, Handler]] = {}
    for event, phases, handler in rows:
        for phase in phases:
            table.setdefault(event, {})[phase] = handler
    return table


# Which event each phase accepts, and what it does there. Read a row as "EVENT in PHASES: HANDLER".
TRANSITIONS: dict[type[Event], dict[Phase, Handler]] = _rows(
    (Start, (Phase.HANDSHAKE, Phase.HEAD), Relay._on_start),
    (Established, (Phase.HANDSHAKE,), Relay._on_established),
    (HandshakeError, (Phase.HANDSHAKE,), Relay._on_handshake_error),
    (ClientData, _ALIVE, Relay._on_client_data),
    (ClientData, (Phase.CLOSED,), Relay._drop),  # the linger: read and dropped
    (ClientEOF, _OPEN, Relay._on_client_eof),
    (ClientGone, _OPEN, Relay._on_client_gone),
    (ClientBackpressure, _OPEN, Relay._on_client_backpressure),
    (UpstreamConnected, (*_RELAYING, Phase.GONE), Relay._on_upstream_connected),
    (UpstreamConnectFailed, (*_RELAYING, Phase.GONE), Relay._on_upstream_connect_failed),
    (UpstreamData, _RELAYING, Relay._on_upstream_data),
    (UpstreamEOF, _RELAYING, Relay._on_upstream_eof),
    (UpstreamGone, _RELAYING, Relay._on_upstream_gone),
    (UpstreamBackpressure, _RELAYING, Relay._on_upstream_backpressure),
    (FactsReady, (Phase.DECIDING,), Relay._on_facts),
    (FactsReady, (Phase.CLOSED,), Relay._drop),  # the client went away meanwhile
    (FactsFailed, (Phase.DECIDING,), Relay._on_facts_failed),
    (FactsFailed, (Phase.CLOSED,), Relay._drop),
    (TimerFired, _OPEN, Relay._on_timer),
    (Revoked, _OPEN, Relay._on_revoked),
    (Abort, _OPEN, Relay._on_abort),
    (Drain, _OPEN, Relay._on_drain),
    (DrainCut, _OPEN, Relay._on_drain_cut),
)


# ------------------------------------------------------------------------------- helpers

REMEMBERED_ANSWERS = 1024
_UNSEEN = (0, False, -1)  # not in _plain_answers (it is compared by identity)
_plain_answers: dict[tuple[bytes, str, bool], tuple[int, bool, int] | None] = {}


def _plain_answer(raw: bytes, method: str, hijack: bool) -> tuple[int, bool, int] | None:
    """``(status, close, body length)`` when the response head ``raw``, answering ``method`` on
    a route that may (``hijack``) or may not hijack, announces a body of known length (0 for
    none); ``None`` for any other framing. Remembered: daemons repeat the same few heads.
    Raises ``ProtocolError`` for a malformed head."""
    key = (raw, method, hijack)
    try:
        return _plain_answers[key]
    except KeyError:
        pass
    head = parse_response_head_cached(raw)
    framing, reader = response_framing(head, method, hijack)
    plain: tuple[int, bool, int] | None = None
    if framing is Framing.NONE:
        plain = (head.status, head.close, 0)
    elif isinstance(reader, LengthReader):
        plain = (head.status, head.close, reader.remaining)
    if len(_plain_answers) >= REMEMBERED_ANSWERS:
        del _plain_answers[next(iter(_plain_answers))]
    _plain_answers[key] = plain
    return plain


_PREFACE_START = HTTP2_PREFACE[:3]


def _one_whole_head(data: bytes) -> bool:
    """True when ``data`` is exactly one complete request head, nothing before or after it."""
    size = len(data)
    return (
        4 <= size <= MAX_HEAD_BYTES
        and data.find(b"\r\n\r\n") == size - 4
        and not data.startswith(_PREFACE_START)  # find_head_end explains the preface
    )


def _is_json(content_type: bytes | None) -> bool:
    """dockerd's CheckForJSON: the media type parses to application/json."""
    return media_type(content_type) == "application/json"
