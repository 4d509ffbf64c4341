"""One client connection and its upstream Docker-socket connection.

``ClientConnection`` is an asyncio protocol on a plain TCP (or unix) transport. For TCP it drives
a ``TLSServerSession`` itself, so half-close survives TLS. Each client connection gets its own
upstream unix connection, opened on its first request and reused for keep-alive.

The request side and the response side are separate state machines, because dockerd answers
while it still reads (full-duplex ``POST /build``) and may answer before the body ends:

    request:  HEAD -> BODY -> SENT -> (exchange done) -> HEAD ...
    response: IDLE -> HEAD -> BODY -> DONE
    both:     -> TUNNEL after a 101, or after the raw-stream 200 that answers attach/exec start

Half-close in a tunnel: the client's close_notify or FIN becomes ``write_eof()`` on the daemon
socket while output keeps flowing; the daemon's EOF becomes our close_notify; a client that goes
away closes the daemon socket fully (so dockerd sees EPOLLHUP and detaches).

Flow control: when one side's transport is over its high-water mark, reading from the other side
pauses until it drains. Buffers we own are bounded by ``BUFFER_LIMIT``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, cast

from dockward.errors import ProtocolError
from dockward.gateway.analysis import analyse_head_cached, media_type
from dockward.gateway.events import ConnectionRefused, ExchangeRecord, Peer, StreamCut
from dockward.gateway.events import HandshakeFailed as HandshakeFailedEvent
from dockward.gateway.facts import MAX_ROUNDS, fetch_facts
from dockward.http1.body import (
    LAST_CHUNK,
    ChunkedReader,
    LengthReader,
    UntilCloseReader,
    encode_chunk,
)
from dockward.http1.request import (
    HTTP2_PREFACE,
    MAX_HEAD_BYTES,
    RequestHead,
    find_head_end,
    replace_request_target,
)
from dockward.http1.response import (
    Framing,
    error_response,
    parse_response_head_cached,
    response_framing,
    with_content_length,
)
from dockward.identity import PeerIdentity, identity_from_certificate, identity_from_unix_socket
from dockward.policy.decision import Decision
from dockward.policy.gojson import decode_body
from dockward.policy.paths import parse_query
from dockward.policy.profiles import FactQuery, Facts
from dockward.policy.redact import redact_json
from dockward.tls.session import HandshakeFailed, TLSServerSession

if TYPE_CHECKING:
    from dockward.gateway.server import Gateway, Listener
    from dockward.http1.body import BodyReader
    from dockward.policy.engine import Policy
    from dockward.policy.routes import Classification

log = logging.getLogger("dockward.gateway")

BUFFER_LIMIT = 512 * 1024
MAX_RESPONSE_HEAD = 1 << 20
HANDSHAKE_TIMEOUT = 15.0
LINGER_SECONDS = 0.5  # how long a closing connection still reads (and drops) what the client sends
MAX_REDACTED_RESPONSE = 16 * 1024 * 1024
WRITE_HIGH_WATER = 1 << 20
WRITE_LOW_WATER = 256 * 1024


class RequestPhase(enum.Enum):
    HANDSHAKE = "TLS handshake"
    HEAD = "reading a request head"
    BODY = "forwarding a request body"
    COLLECT = "reading a request body to inspect it"
    DECIDING = "waiting for facts from the daemon before deciding"
    SENT = "request sent, response pending"
    TUNNEL = "tunnel"
    CLOSED = "closed"


class ResponsePhase(enum.Enum):
    IDLE = "no request outstanding"
    HEAD = "awaiting a response head"
    BODY = "forwarding a response body"
    DONE = "response complete"
    TUNNEL = "tunnel"


class _Pauser:
    """Idempotent pause/resume of one transport's reading, for several named reasons."""

    __slots__ = ("reasons", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self.reasons: set[str] = set()

    def pause(self, reason: str) -> None:
        if not self.reasons and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()  # type: ignore[attr-defined]
        self.reasons.add(reason)

    def resume(self, reason: str) -> None:
        if reason not in self.reasons:
            return
        self.reasons.discard(reason)
        if not self.reasons and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()  # type: ignore[attr-defined]

    def attach(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self.reasons:
            transport.pause_reading()  # type: ignore[attr-defined]

    def release(self) -> None:
        """Read again whatever the reasons were."""
        if self.reasons:
            self.reasons.clear()
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()  # type: ignore[attr-defined]


class UpstreamProtocol(asyncio.Protocol):
    """The daemon side: hands everything to the owning ``ClientConnection``."""

    __slots__ = ("client",)

    def __init__(self, client: ClientConnection) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.upstream_data(data)

    def eof_received(self) -> bool:
        return self.client.upstream_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.upstream_lost(self)

    def pause_writing(self) -> None:
        self.client.client_reading.pause("upstream-slow")

    def resume_writing(self) -> None:
        self.client.client_reading.resume("upstream-slow")


class ClientConnection(asyncio.Protocol):
    """A client of the gateway, from accept to close."""

    def __init__(self, gateway: Gateway, listener: Listener) -> None:
        self.gateway = gateway
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.tls: TLSServerSession | None = None
        self.identity: PeerIdentity | None = None
        self.source = ""
        self.phase = RequestPhase.HEAD
        self.response = ResponsePhase.IDLE
        self.inbuf = bytearray()
        self._scan_from = 0
        self.client_reading = _Pauser()
        self.upstream_reading = _Pauser()
        self.client_eof = False
        self.upstream: asyncio.Transport | None = None
        self._upstream_protocol: UpstreamProtocol | None = None
        self._connecting = False
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._pending_eof = False
        self.upstream_done_writing = False
        self.upstream_eof_seen = False
        # the exchange in progress
        self.record: ExchangeRecord | None = None
        self.head: RequestHead | None = None
        self.request: Classification | None = None
        self.body: BodyReader | None = None
        self.resp_buf = bytearray()
        self.resp_body: BodyReader | None = None
        self.close_after = False
        self.response_started = False
        self.address: str | None = None
        self.policy: Policy = gateway.policy
        self.decision: Decision | None = None
        self.query: dict[str, list[str]] = {}
        self.target_query = ""
        self.collected: bytearray | None = None
        self.collected_body: bytes | None = None
        self._pending_head: bytes | None = None
        self.resp_collect: bytearray | None = None
        self.resp_head_raw = b""
        self._held_head: bytes | None = None
        self._t0 = 0.0
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._head_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self.peer = Peer(listener.where, "", None)

    # ----------------------------------------------------------------- client transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods
        tcp = self.transport = cast(asyncio.Transport, transport)
        tcp.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)
        self.client_reading.attach(transport)
        self.gateway.connections.add(self)
        if self.listener.kind == "unix":
            self.source = f"unix:{self.listener.where}"
            self.identity = identity_from_unix_socket(transport.get_extra_info("socket"))
            return
        peer = transport.get_extra_info("peername")
        self.source = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.address = peer[0] if peer else None
        if peer is None or not self.listener.allows(peer[0]):
            log.warning(
                "refused connection from %s on %s: source address not in the allow-list",
                self.source,
                self.listener.where,
            )
            self.peer.source = self.source
            self.gateway.emit(
                ConnectionRefused(time.time(), self.peer, "source address not in the allow-list")
            )
            tcp.abort()
            return
        assert self.gateway.ssl_context is not None  # a TCP listener always has TLS
        self.phase = RequestPhase.HANDSHAKE
        self.tls = TLSServerSession(self.gateway.ssl_context)
        self._handshake_timer = asyncio.get_running_loop().call_later(
            HANDSHAKE_TIMEOUT, self._handshake_timeout
        )

    def data_received(self, data: bytes) -> None:
        if self.phase is RequestPhase.CLOSED:
            return  # lingering before the close (_close_client): dropped unread
        tls = self.tls
        if tls is None:
            self._client_plaintext(data)
            return
        was_established, was_closed = tls.established, tls.peer_closed
        try:
            plaintext = tls.receive(data)
        except HandshakeFailed as failed:
            self._flush_tls()  # OpenSSL's alert, or the 400 that answers a plain HTTP request
            log.warning("TLS handshake with %s failed: %s", self.source, failed.reason)
            self.peer.source = self.source
            self.gateway.emit(HandshakeFailedEvent(time.time(), self.peer, failed.reason))
            self._close_client()
            return
        except ConnectionError as err:
            log.info("connection from %s: %s", self.source, err)
            self._abort_all()
            return
        if not was_established and tls.established:
            self._established()
        self._flush_tls()
        if plaintext:
            self._client_plaintext(plaintext)
        if tls.peer_closed and not was_closed:
            self._client_half_closed()

    def eof_received(self) -> bool:
        # A bare FIN (docker-py's shutdown(SHUT_WR) sends one without close_notify).
        if self.phase is RequestPhase.HANDSHAKE:
            return False
        self._client_half_closed()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.gateway.connections.discard(self)
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
        if self._head_timer is not None:
            self._head_timer.cancel()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        if self.record is not None:
            self._finish_record(self.record.status or 499)
        self.phase = RequestPhase.CLOSED
        self._close_upstream()

    def pause_writing(self) -> None:
        self.upstream_reading.pause("client-slow")

    def resume_writing(self) -> None:
        self.upstream_reading.resume("client-slow")

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.phase is RequestPhase.HEAD and self.inbuf:
            log.warning("request head from %s not complete in time; closing", self.source)
            self._begin_record()
            self._refuse(408, "request head not received in time", close=True)

    def _handshake_timeout(self) -> None:
        if self.phase is RequestPhase.HANDSHAKE and self.transport is not None:
            log.warning("TLS handshake with %s timed out", self.source)
            self.peer.source = self.source
            self.gateway.emit(HandshakeFailedEvent(time.time(), self.peer, "timed out"))
            self.transport.abort()

    def _established(self) -> None:
        assert self.tls is not None
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        der = self.tls.peer_certificate_der()
        if der is None:  # cannot happen with CERT_REQUIRED; fail closed anyway
            self._close_client()
            return
        self.identity = identity_from_certificate(der)
        self.phase = RequestPhase.HEAD

    def _flush_tls(self) -> None:
        assert self.tls is not None and self.transport is not None
        out = self.tls.data_to_send()
        if out:
            self.transport.write(out)

    def send_to_client(self, data: bytes | bytearray | memoryview) -> None:
        """Write plaintext to the client (encrypting it for TLS listeners)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.record is not None:
            self.record.bytes_out += len(data)
        tls = self.tls
        if tls is None:
            transport.write(data)
        elif not tls.sent_close:
            out = tls.encrypt(data)
            if out:
                transport.write(out)

    def _close_client(self) -> None:
        """Graceful close: our close_notify, then FIN once buffers drain.

        A client that has not finished sending (a refused upload, say) may still be writing:
        closing with its bytes unread would make the kernel reset the connection, and the
        client could lose our answer with it ("broken pipe" instead of the refusal). So, as
        Go's server does, the socket closes only once the client has closed its side, or
        ``LINGER_SECONDS`` later; meanwhile what it sends is read and dropped.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.tls is not None and self.tls.established:
            self.tls.close_notify()
            self._flush_tls()
        if self.client_eof or not transport.can_write_eof():
            transport.close()
            return
        if self._linger_timer is not None:
            return  # already lingering
        self.phase = RequestPhase.CLOSED  # from here on, client bytes are dropped
        transport.write_eof()
        self.client_reading.release()
        self._linger_timer = asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.close)

    def cut(self, reason: str) -> None:
        """End the connection now because its identity is refused (revoked): a ``StreamCut``."""
        record = self.record
        self.gateway.emit(
            StreamCut(
                time.time(),
                Peer(self.listener.where, self.source, self.identity),
                reason,
                record.method if record else "",
                record.path if record else "",
                record.operation if record else "",
            )
        )
        self._abort_all()

    def _abort_all(self) -> None:
        self.phase = RequestPhase.CLOSED
        if self.transport is not None:
            self.transport.abort()
        self._close_upstream()

    # ------------------------------------------------------------ request side

    def _client_plaintext(self, data: bytes) -> None:
        phase = self.phase
        if phase is RequestPhase.HEAD and not self.inbuf and _one_whole_head(data):
            self._start_request(data)  # the common case: nothing buffered, nothing to scan
            return
        if phase is RequestPhase.TUNNEL:
            self._to_upstream(data)
            return
        if phase is RequestPhase.BODY and not self.inbuf:
            used = self._request_body(data)
            if used < len(data) and self.phase is not RequestPhase.CLOSED:
                self.inbuf += data[used:]  # the next request, pipelined behind the body
            if self.phase is not RequestPhase.BODY:
                self._process()
            return
        if phase is RequestPhase.CLOSED or phase is RequestPhase.HANDSHAKE:
            return
        self.inbuf += data
        self._process()

    def _process(self) -> None:
        """Consume buffered client bytes as far as the current phases allow."""
        while self.inbuf:
            phase = self.phase
            if phase is RequestPhase.HEAD:
                try:
                    end = find_head_end(self.inbuf, self._scan_from)
                except ProtocolError as err:
                    self._begin_record()
                    self._refuse(err.status, str(err), close=True)
                    return
                if end < 0:
                    self._scan_from = len(self.inbuf)
                    if self._head_timer is None:  # a slow head may not hold the connection
                        self._head_timer = asyncio.get_running_loop().call_later(
                            self.gateway.config.head_timeout, self._head_timeout
                        )
                    return
                if self._head_timer is not None:
                    self._head_timer.cancel()
                    self._head_timer = None
                raw = bytes(self.inbuf[:end])
                del self.inbuf[:end]
                self._scan_from = 0
                self._start_request(raw)
            elif phase is RequestPhase.BODY:
                data = bytes(self.inbuf)
                self.inbuf.clear()
                used = self._request_body(data)
                if used < len(data):
                    self.inbuf[:0] = data[used:]
            elif phase is RequestPhase.COLLECT:
                data = bytes(self.inbuf)
                self.inbuf.clear()
                used = self._collect_body(data)
                if used < len(data) and self.phase is not RequestPhase.CLOSED:
                    self.inbuf[:0] = data[used:]
                if self.phase is RequestPhase.DECIDING:
                    return
            elif phase is RequestPhase.TUNNEL:
                data = bytes(self.inbuf)
                self.inbuf.clear()
                self._to_upstream(data)
            else:
                # SENT: a pipelined next request waits for this response; bound the wait.
                if len(self.inbuf) > BUFFER_LIMIT:
                    self.client_reading.pause("pipelined")
                return

    def _begin_record(self) -> ExchangeRecord:
        """Start the record (and the per-exchange state) of a new request."""
        self._t0 = time.perf_counter()
        peer = self.peer
        if peer.identity is not self.identity or peer.source != self.source:
            peer = self.peer = Peer(self.listener.where, self.source, self.identity)
        record = self.record = ExchangeRecord(started=time.time(), peer=peer)
        self.response_started = False
        self.close_after = False
        self.head = None
        self.decision = None
        return record

    def _start_request(self, raw: bytes) -> None:
        record = self._begin_record()
        try:
            seen = analyse_head_cached(raw)
        except ProtocolError as err:
            self._refuse(err.status, str(err), close=True)
            return
        head = self.head = seen.head
        record.method = head.method
        record.path = seen.log_path
        target, request = seen.target, seen.request
        if target is None or request is None:
            assert seen.target_error is not None
            status, message = seen.target_error
            self._refuse(status, message, close=True)
            return
        self.target_query = target.query
        self.request = request
        identity = self.identity
        assert identity is not None
        refusal = self.gateway.refusal(identity)
        if refusal is not None:
            record.decision = "deny"
            self._refuse(403, refusal, close=True)
            return
        policy = self.policy = self.gateway.policy
        decision = policy.authorize(identity, self.address, request)
        if not self._apply_decision(decision, body_consumed=False):
            return
        if seen.head_refusal is not None:
            status, message = seen.head_refusal
            self._refuse(status, message, close=True)
            return
        if not decision.inspect_request:
            self._forward_request(raw)
            return
        try:
            self.query = parse_query(target.query)
        except ProtocolError as err:
            self._refuse(err.status, str(err), close=True)
            return
        if decision.inspect_body and head.has_body:
            content_type = head.header(b"content-type")
            if not _is_json(content_type):
                shown = content_type.decode("latin-1") if content_type else "none"
                self._refuse(400, f"Content-Type {shown!r} is not application/json", close=True)
                return
            limit = policy.body_limit
            if head.content_length is not None and head.content_length > limit:
                self._refuse(413, f"request body larger than {limit} bytes", close=True)
                return
            self.collected = bytearray()
            self.body = ChunkedReader() if head.chunked else LengthReader(head.content_length or 0)
            self.phase = RequestPhase.COLLECT
            self._pending_head = raw
            return
        self._pending_head = raw
        self._inspect(None)

    def _apply_decision(self, decision: Decision, *, body_consumed: bool) -> bool:
        """Record ``decision``; refuse the request if it denies. True when it may go on."""
        record = self.record
        assert record is not None and self.head is not None
        self.decision = decision
        record.operation = decision.operation
        record.rule = decision.rule
        record.role = decision.role
        record.decision = decision.verdict
        if decision.audit_only:
            record.reason = decision.reason
            log.warning("audit mode, would deny: %s (%s)", decision.reason, self.source)
        if decision.allowed:
            return True
        unread_body = self.head.has_body and not body_consumed
        self._refuse(
            decision.status, decision.reason, close=unread_body or not self.head.keep_alive
        )
        return False

    def _collect_body(self, data: bytes) -> int:
        """Read an inspected body completely before deciding; return the bytes it used."""
        reader = self.body
        assert reader is not None and self.collected is not None and self.record is not None
        payload: list[memoryview] = []
        try:
            used = reader.feed(data, payload)
        except ProtocolError as err:
            self._refuse(err.status, str(err), close=True)
            return len(data)
        for piece in payload:
            self.collected += piece
        self.record.bytes_in += used
        limit = self.policy.body_limit
        if len(self.collected) > limit:
            self._refuse(413, f"request body larger than {limit} bytes", close=True)
            return len(data)
        if reader.done:
            self.body = None
            self._inspect(bytes(self.collected))
        return used

    def _inspect(self, body_bytes: bytes | None) -> None:
        """Run the profile checks, asking the daemon for facts first when they need some."""
        assert self.request is not None and self.decision is not None
        self.collected_body = body_bytes
        try:
            body = decode_body(body_bytes) if body_bytes else None
            queries = self.policy.facts_needed(self.decision, self.request, self.query, body)
        except ProtocolError as err:
            self._refuse(err.status, str(err), close=True)
            return
        if not queries:
            self._decide(body, {})
            return
        self.phase = RequestPhase.DECIDING
        self.client_reading.pause("deciding")
        self._spawn(self._decide_with_facts(body, queries))

    async def _decide_with_facts(self, body: object, queries: list[FactQuery]) -> None:
        assert self.request is not None and self.decision is not None
        facts: dict[FactQuery, Mapping[str, object] | None] = {}
        try:
            for _ in range(MAX_ROUNDS):
                facts.update(await fetch_facts(self.gateway.upstream_path, queries))
                queries = self.policy.facts_needed(
                    self.decision, self.request, self.query, body, facts
                )
                if not queries:
                    break
        except (TimeoutError, OSError, ProtocolError, ValueError) as err:
            self.client_reading.resume("deciding")
            if self.phase is RequestPhase.DECIDING:
                reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
                self._refuse(
                    502, f"cannot check the request with the Docker daemon: {reason}", close=True
                )
            return
        if self.phase is not RequestPhase.DECIDING:
            return  # the client went away meanwhile
        self.client_reading.resume("deciding")
        self._decide(body, facts)
        if self.inbuf:
            self._process()

    def _decide(self, body: object, facts: Facts) -> None:
        assert self.request is not None and self.decision is not None and self.head is not None
        try:
            decision = self.policy.check_body(self.decision, self.request, self.query, body, facts)
        except ProtocolError as err:
            self._refuse(err.status, str(err), close=True)
            return
        if not self._apply_decision(decision, body_consumed=self.collected_body is not None):
            return
        raw = self._pending_head
        assert raw is not None
        self._forward_request(
            _pin_target_container(raw, self.request, self.target_query, facts), self.collected_body
        )

    def _forward_request(self, raw: bytes, collected: bytes | None = None) -> None:
        """Send the head (and a body read for inspection) to the daemon, then stream the rest."""
        head = self.head
        assert head is not None
        self._pending_head = None
        self.collected = None
        self.collected_body = None
        self.close_after = not head.keep_alive
        self.response = ResponsePhase.HEAD
        upstream = self.upstream
        if upstream is not None:
            upstream.write(raw)  # keep-alive: the daemon connection is already there
        else:
            self._ensure_upstream()
            self._to_upstream(raw)
        if collected is not None:
            if head.chunked:
                self._to_upstream_many([*encode_chunk(collected), LAST_CHUNK])
            else:
                self._to_upstream(collected)
            self._request_sent()
        elif head.chunked:
            self.body = ChunkedReader()
            self.phase = RequestPhase.BODY
        elif head.content_length:
            self.body = LengthReader(head.content_length)
            self.phase = RequestPhase.BODY
        else:
            self._request_sent()

    def _request_body(self, data: bytes) -> int:
        """Forward the part of ``data`` that belongs to the current body; return its size."""
        body = self.body
        assert body is not None and self.record is not None
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
            pieces: list[bytes | memoryview] = []
            for piece in payload:
                pieces += encode_chunk(piece)
            if body.done:
                pieces.append(LAST_CHUNK)
            if pieces:
                self._to_upstream_many(pieces)
        self.record.bytes_in += used
        if body.done:
            self._request_sent()
        return used

    def _request_sent(self) -> None:
        self.body = None
        self.phase = RequestPhase.SENT
        if self.response is ResponsePhase.DONE:
            self._exchange_done()

    def _refuse(self, status: int, message: str, *, close: bool) -> None:
        """Answer the client ourselves; the daemon never sees this request."""
        record = self.record
        if record is not None:
            if record.decision not in ("deny", "audit-deny"):
                record.decision = "refuse"  # also after an allow: the daemon never saw it
            record.reason = message
        if self.response_started:  # too late for a reply: cut the connection
            self._abort_all()
            return
        self.response_started = True
        head_only = self.head is not None and self.head.method == "HEAD"
        self.send_to_client(error_response(status, message, close=close, head_only=head_only))
        self._finish_record(status)
        if close:
            self.phase = RequestPhase.CLOSED
            self.inbuf.clear()
            self._close_client()
        else:
            self.phase = RequestPhase.HEAD
            self.response = ResponsePhase.IDLE

    def _client_half_closed(self) -> None:
        """The client sent close_notify or FIN.

        In a tunnel that is stdin EOF: pass it on and keep relaying output. Anywhere else it
        ends the exchange, as it does in Go's server (which cancels the request on client EOF),
        so a killed ``docker events`` or ``logs -f`` frees its daemon connection at once.
        """
        if self.client_eof:
            return
        self.client_eof = True
        if self.phase is RequestPhase.TUNNEL:
            self._upstream_write_eof()
            if self.upstream_eof_seen:
                self._close_client()
                self._close_upstream()
            return
        if self.phase is RequestPhase.SENT and self._awaiting_hijack():
            return  # stdin EOF before the 101: passed on when the tunnel opens (_open_tunnel)
        if self.phase is RequestPhase.BODY:
            log.info("client %s closed in the middle of a request body", self.source)
        self.phase = RequestPhase.CLOSED
        self._close_client()
        self._close_upstream()

    def _awaiting_hijack(self) -> bool:
        request = self.request
        return (
            request is not None
            and request.route is not None
            and request.route.hijack
            and self.response is ResponsePhase.HEAD
        )

    # ------------------------------------------------------------ upstream side

    def _to_upstream(self, data: bytes | memoryview) -> None:
        upstream = self.upstream
        if upstream is not None:
            upstream.write(data)
            return
        if not self._connecting:
            # The daemon connection went away in the middle of an exchange. Never open a new
            # one here: the rest of a body would reach dockerd as requests nobody checked.
            log.warning("the Docker daemon closed the connection of %s mid-request", self.source)
            self._abort_all()
            return
        self._pending.append(bytes(data))
        self._pending_bytes += len(data)
        if self._pending_bytes > BUFFER_LIMIT:
            self.client_reading.pause("connecting")

    def _ensure_upstream(self) -> None:
        """Open the daemon connection if there is none: only ever at the start of an exchange."""
        if self.upstream is None and not self._connecting:
            self._connecting = True
            self._spawn(self._connect())

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _to_upstream_many(self, pieces: list[bytes | memoryview]) -> None:
        if self.upstream is not None:
            self.upstream.writelines(pieces)
        else:
            self._to_upstream(b"".join(pieces))

    def _upstream_write_eof(self) -> None:
        upstream = self.upstream
        if upstream is None:
            self._pending_eof = True
        elif not self.upstream_done_writing and not upstream.is_closing():
            self.upstream_done_writing = True
            upstream.write_eof()

    async def _connect(self) -> None:
        path = self.gateway.upstream_path
        try:
            transport, protocol = await asyncio.get_running_loop().create_unix_connection(
                lambda: UpstreamProtocol(self), path
            )
        except OSError as err:
            self._connecting = False
            self._pending.clear()
            self._pending_bytes = 0
            self.client_reading.resume("connecting")
            reason = err.strerror or str(err)
            log.error("cannot reach the Docker daemon at %s: %s", path, reason)
            self.response = ResponsePhase.IDLE
            self._refuse(502, f"cannot reach the Docker daemon at {path}: {reason}", close=True)
            return
        self._connecting = False
        if self.phase is RequestPhase.CLOSED:
            transport.close()
            return
        self.upstream = transport
        self._upstream_protocol = protocol
        self.upstream_done_writing = False
        self.upstream_eof_seen = False
        self.upstream_reading = _Pauser()
        self.upstream_reading.attach(transport)
        if self.transport is not None and self.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            self.upstream_reading.pause("client-slow")
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        transport.writelines(pending)
        self.client_reading.resume("connecting")
        if self._pending_eof:
            self._upstream_write_eof()

    def _close_upstream(self) -> None:
        upstream = self.upstream
        self.upstream = None
        self.client_reading.resume("upstream-slow")
        if upstream is not None:
            upstream.close()

    def upstream_data(self, data: bytes) -> None:
        response = self.response
        if response is ResponsePhase.HEAD and not self.resp_buf and self._whole_response(data):
            return
        if response is ResponsePhase.TUNNEL:
            self.send_to_client(data)
            return
        if response is ResponsePhase.BODY:
            self._response_body(data)
            return
        if response is not ResponsePhase.HEAD:
            log.error("the Docker daemon sent %d unexpected bytes; closing", len(data))
            self._abort_all()
            return
        self.resp_buf += data
        self._response_head()

    def _whole_response(self, data: bytes) -> bool:
        """Answer at once when ``data`` is one whole plain response: a head and exactly the body
        its framing announces (most API answers). False leaves ``data`` to the general path."""
        end = data.find(b"\r\n\r\n") + 4
        if end < 4:
            return False
        try:
            head = parse_response_head_cached(data[:end])
        except ProtocolError:
            return False  # the general path reports it
        request, decision = self.request, self.decision
        if request is None or self.head is None or decision is None or decision.redact:
            return False
        hijack = request.route is not None and request.route.hijack
        framing, reader = response_framing(head, self.head.method, hijack)
        body = len(data) - end
        if not (
            (framing is Framing.NONE and body == 0)
            or (isinstance(reader, LengthReader) and reader.remaining == body)
        ):
            return False
        assert self.record is not None
        self.record.status = head.status
        self.response_started = True
        if head.close:
            self.close_after = True
        self.send_to_client(data)
        self._response_done()
        return True

    def _response_head(self) -> None:
        while self.response is ResponsePhase.HEAD:
            end = self.resp_buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.resp_buf) > MAX_RESPONSE_HEAD:
                    self._bad_gateway("response head larger than 1 MiB")
                return
            raw = bytes(self.resp_buf[: end + 4])
            rest = bytes(self.resp_buf[end + 4 :])
            self.resp_buf.clear()
            try:
                head = parse_response_head_cached(raw)
            except ProtocolError as err:
                self._bad_gateway(str(err))
                return
            assert self.head is not None and self.request is not None and self.record is not None
            route = self.request.route
            framing, reader = response_framing(
                head, self.head.method, route is not None and route.hijack
            )
            self.response_started = True
            self.record.status = head.status
            if framing is Framing.TUNNEL:
                self._open_tunnel(raw, rest)
                return
            decision = self.decision
            if (
                decision is not None
                and decision.redact
                and framing is Framing.BODY
                and head.status == 200
                and reader is not None
            ):
                self.resp_collect = bytearray()  # sent once redacted, with a new length
                self.resp_head_raw = raw
            elif framing is Framing.BODY and rest:
                self._held_head = raw  # goes out with the first body bytes: one record, one write
            else:
                self.send_to_client(raw)
            if framing is Framing.INFORMATIONAL:
                self.resp_buf += rest
                continue
            if head.close:
                self.close_after = True
            if framing is Framing.NONE:
                self._response_done()
                if rest:
                    self.upstream_data(rest)
                return
            self.resp_body = reader
            self.response = ResponsePhase.BODY
            if rest:
                self._response_body(rest)
            return

    def _response_body(self, data: bytes) -> None:
        reader = self.resp_body
        assert reader is not None
        try:
            if self.resp_collect is not None:
                used = self._collect_response(reader, data)
            else:
                used = reader.feed(data)
                chunk = data if used == len(data) else data[:used]
                held = self._held_head
                if held is not None:
                    self._held_head = None
                    chunk = held + chunk
                self.send_to_client(chunk)
        except ProtocolError as err:  # the daemon is trusted, but never crash the loop
            log.error("bad response body from the Docker daemon: %s", err)
            self.response = ResponsePhase.IDLE
            self._abort_all()
            return
        if self.response is not ResponsePhase.BODY:
            return
        if reader.done:
            self._response_done()
            if used < len(data):
                self.upstream_data(data[used:])

    def _collect_response(self, reader: BodyReader, data: bytes) -> int:
        """Gather a response to redact; send it when complete."""
        collected = self.resp_collect
        assert collected is not None
        payload: list[memoryview] = []
        used = reader.feed(data, payload)
        for piece in payload:
            collected += piece
        if len(collected) > MAX_REDACTED_RESPONSE:
            log.error("response to redact is larger than %d bytes; closing", MAX_REDACTED_RESPONSE)
            self.response = ResponsePhase.IDLE
            self._abort_all()
            return used
        if reader.done:
            self._send_redacted()
        return used

    def _send_redacted(self) -> None:
        """Send the gathered response, redacted, under its head with the new length."""
        assert self.resp_collect is not None
        body = redact_json(bytes(self.resp_collect))
        self.resp_collect = None
        self.send_to_client(with_content_length(self.resp_head_raw, len(body)))
        self.send_to_client(body)

    def _response_done(self) -> None:
        self.resp_body = None
        self.response = ResponsePhase.DONE
        if self.phase is RequestPhase.SENT:
            self._exchange_done()
        elif self.close_after and self.phase is RequestPhase.BODY:
            # dockerd answered before reading the whole body and will close: so do we
            self._close_after_answer()

    def _exchange_done(self) -> None:
        record = self.record
        if record is not None:
            self._finish_record(record.status)
        self.response = ResponsePhase.IDLE
        self.response_started = False
        self.head = None
        self.request = None
        if self.close_after or self.client_eof:
            self.phase = RequestPhase.CLOSED
            self._close_client()
            self._close_upstream()
            return
        self.phase = RequestPhase.HEAD
        if self.client_reading.reasons:
            self.client_reading.resume("pipelined")
        if self.inbuf:
            self._process()

    def _open_tunnel(self, head: bytes, rest: bytes) -> None:
        """Hand the connection over to a byte pipe; the head goes in its own TLS record."""
        assert self.record is not None
        self.record.hijacked = True
        self.phase = RequestPhase.TUNNEL
        self.response = ResponsePhase.TUNNEL
        self.body = None
        self.send_to_client(head)
        if rest:
            self.send_to_client(rest)
        if self.client_reading.reasons:
            self.client_reading.resume("pipelined")
        if self.inbuf:
            data = bytes(self.inbuf)
            self.inbuf.clear()
            self._to_upstream(data)
        if self.client_eof:
            self._upstream_write_eof()

    def upstream_eof(self) -> bool:
        """The daemon closed its write side; return True to keep writing to it."""
        self.upstream_eof_seen = True
        response = self.response
        if response is ResponsePhase.TUNNEL:
            if self.tls is not None:
                self._flush_close_notify()
            elif self.transport is not None and self.transport.can_write_eof():
                self.transport.write_eof()
            if self.client_eof:
                self._close_client()
                return False
            return True
        if response is ResponsePhase.BODY and isinstance(self.resp_body, UntilCloseReader):
            self.close_after = True
            if self.resp_collect is not None:  # a close-delimited answer to redact (HTTP/1.0)
                self._send_redacted()
            self._response_done()
            if self.phase is not RequestPhase.CLOSED:
                # the response is complete but the request body is not: nothing more can happen
                self._close_after_answer()
            return False
        if response in (ResponsePhase.HEAD, ResponsePhase.BODY):
            if self.response_started:
                log.warning("the Docker daemon closed the connection in the middle of a response")
                self._abort_all()
            else:
                self._bad_gateway("the Docker daemon closed the connection without answering")
            return False
        self._upstream_gone()
        return False

    def _upstream_gone(self) -> None:
        """The daemon connection ended outside a response (its reader said nothing is pending).

        Between exchanges that is a closed keep-alive connection: the next request opens a new
        one. In the middle of one (a request body still streaming after the answer) the rest of
        the body must not be sent anywhere: close the client as dockerd closed us.
        """
        self.upstream = None
        self.client_reading.resume("upstream-slow")
        if self.phase is RequestPhase.HEAD and self.response is ResponsePhase.IDLE:
            return
        if self.phase is not RequestPhase.CLOSED and self.phase is not RequestPhase.TUNNEL:
            self._close_after_answer()

    def _close_after_answer(self) -> None:
        """End an exchange whose answer was sent but whose request can go no further."""
        self.phase = RequestPhase.CLOSED
        if self.record is not None:
            self._finish_record(self.record.status)
        self._close_client()
        self._close_upstream()

    def _flush_close_notify(self) -> None:
        assert self.tls is not None and self.transport is not None
        self.tls.close_notify()
        self._flush_tls()

    def upstream_lost(self, protocol: UpstreamProtocol) -> None:
        if protocol is not self._upstream_protocol:
            return
        self._upstream_protocol = None
        self.upstream = None
        self.client_reading.resume("upstream-slow")
        if self.phase is RequestPhase.TUNNEL:
            self._close_client()
        elif (
            self.response in (ResponsePhase.HEAD, ResponsePhase.BODY)
            and self.phase is not RequestPhase.CLOSED
        ):
            if self.response_started:
                self._abort_all()
            else:
                self._bad_gateway("the Docker daemon closed the connection without answering")
        else:
            self._upstream_gone()

    def _bad_gateway(self, reason: str) -> None:
        log.error("bad response from the Docker daemon: %s", reason)
        self._close_upstream()
        self.response = ResponsePhase.IDLE
        self._refuse(502, reason, close=True)

    # ------------------------------------------------------------------ records

    def _finish_record(self, status: int) -> None:
        record = self.record
        if record is None:
            return
        self.record = None
        record.status = status
        record.duration_ms = (time.perf_counter() - self._t0) * 1000.0
        if not record.decision:
            record.decision = "allow"
        self.gateway.emit(record)


# Operations judged on the container their path names (profiles' target-container check).
_PINNED_OPERATIONS = frozenset(
    {"container.exec", "container.archive.write", "container.attach", "container.attach_ws"}
)


def _pin_target_container(raw: bytes, request: Classification, query: str, facts: Facts) -> bytes:
    """Name the checked container by its ID in the forwarded request.

    The policy judged the container the daemon described for this name; between that lookup
    and the request, the name could be moved to another container (``docker rename``). Sending
    the ID makes dockerd act on exactly the container that was checked.
    """
    route = request.route
    name = request.params.get("name")
    if route is None or route.operation not in _PINNED_OPERATIONS or not name:
        return raw
    inspect = facts.get(FactQuery("container", name))
    container_id = inspect.get("Id") if inspect else None
    if not isinstance(container_id, str) or not container_id.isalnum():
        return raw  # unknown container: dockerd answers 404 by itself
    path = route.template.replace("{name:.*}", container_id)
    prefix = f"/v{request.api_version}" if request.api_version is not None else ""
    target = f"{prefix}{path}" + (f"?{query}" if query else "")
    return replace_request_target(raw, target.encode("ascii"))


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
