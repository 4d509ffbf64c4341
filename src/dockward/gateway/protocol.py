"""The asyncio adapter of the relay: the only relay code that touches transports and timers.

``ClientProtocol`` is an asyncio protocol on a plain TCP (or unix) transport. It turns what the
transports report into ``gateway.relay`` events and carries out the commands the relay returns:
writes, half-closes and closes on both sockets, the daemon connection, fact lookups, timers and
``emit()``. For TCP it pumps the ``TLSServerSession`` record layer itself, so half-close
survives TLS: plaintext goes to the relay, ciphertext to the socket. Each client connection gets
its own upstream unix connection, opened on its first request and reused for keep-alive.

It decides nothing about HTTP: what to send, when to close and what to record is the relay's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, cast

from dockward.errors import ProtocolError
from dockward.gateway.events import ConnectionRefused, Peer
from dockward.gateway.facts import fetch_facts
from dockward.gateway.relay import (
    Abort,
    AbortClient,
    Answer,
    CancelTimer,
    CheckDaemon,
    ClientBackpressure,
    ClientData,
    ClientEOF,
    ClientGone,
    CloseClient,
    CloseUpstream,
    Command,
    Drain,
    DrainCut,
    Emit,
    Established,
    Event,
    FactsFailed,
    FactsReady,
    FetchFacts,
    HalfCloseClient,
    HalfCloseUpstream,
    HandshakeError,
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
from dockward.identity import PeerIdentity, identity_from_certificate, identity_from_unix_socket
from dockward.tls.session import GROWN_ABOVE as TLS_GROWN_ABOVE
from dockward.tls.session import HandshakeFailed, StepOutcome, TLSServerSession

if TYPE_CHECKING:
    from dockward.gateway.server import Gateway, Listener
    from dockward.policy.profiles import FactQuery
    from dockward.tls.offload import HandshakeThreads

log = logging.getLogger("dockward.gateway")

_CLOSED = Phase.CLOSED
_HEAD = Phase.HEAD
_HEAD_DUE = Answer.HEAD  # a request sent, its answer's head awaited
WRITE_HIGH_WATER = 1 << 20
WRITE_LOW_WATER = 256 * 1024
# Gathering the daemon's small writes (UpstreamProtocol): a read under GATHER_BELOW bytes that
# comes less than STREAMING_GAP after the previous one pauses reading for GATHER_SECONDS (the
# event loop's timers have millisecond resolution). A lone read (an answer, a keystroke's echo)
# is never delayed; a stream is, by a millisecond or two, and gains fewer, larger reads.
GATHER_BELOW = 64 * 1024
STREAMING_GAP = 0.005
GATHER_SECONDS = 0.001
READ_BUFFER_SIZE = 256 * 1024  # as uvloop's own read buffer
# An idle connection gives back the TLS buffers a burst grew (TLSServerSession.release_buffers)
# this long after the burst; reads larger than TLS_GROWN_ABOVE are the bursts.
RELEASE_AFTER = 1.0


class UpstreamProtocol(asyncio.BufferedProtocol):
    """The daemon side: reports to the owning ``ClientProtocol`` while it is the current one.

    The daemon's bytes are read into one buffer per thread (``read_buffer``), not into a new
    bytes object per read. Bytes the relay only passes on (a tunnel, a Content-Length body) are
    encrypted from there straight to the client (``Relay.pass_to_client``); the rest is copied
    out for the relay. While a stream (a tunnel or a response body) keeps coming in small
    reads, reading pauses for ``GATHER_SECONDS`` after each, so that the next read takes what
    gathered meanwhile: one wake-up, one read, one TLS write and one send for many of the
    daemon's small writes (the exec stream arrives in 4 KiB frames).
    """

    __slots__ = ("buffer", "client", "gathering", "held", "last_read", "transport")

    def __init__(self, client: ClientProtocol) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.held = False  # the relay paused reading (backpressure): only it resumes
        self.gathering = False  # paused for GATHER_SECONDS; resumes unless held
        self.last_read = 0.0
        self.buffer = read_buffer()  # this thread's, shared by every connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.client.gone:  # opened after the client left: nobody to relay for
            transport.close()
            return
        self.client.upstream = self  # before any of its callbacks can run

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        client = self.client
        if client.upstream is not self:
            return
        relay = client.relay
        assert relay is not None
        data = self.buffer[:nbytes]
        passed = False
        if relay.answer is _HEAD_DUE:
            raw = data.tobytes()
            whole = relay.whole_answer(raw)  # the keep-alive lane: one whole plain answer
            if whole is not None:
                client.send_answer(raw)
                client.gateway.emit(whole[0])
                if whole[1]:
                    client.carry_out(whole[1])
                if nbytes > TLS_GROWN_ABOVE:
                    client.watch_growth()
                else:  # as below: an answer ended
                    self.last_read = 0.0
                return
            client.handle(UpstreamData((raw,)))
        elif relay.pass_to_client(data):  # lanes: bodies
            passed = True
            client.send_client(data)
        else:
            client.handle(UpstreamData((data.tobytes(),)))
        if nbytes > TLS_GROWN_ABOVE:
            client.watch_growth()
        elif nbytes < GATHER_BELOW and (passed or relay.answer is Answer.BODY):
            self._gather()  # streams only: a tunnel or a body still coming (chunked, say)
        else:  # an answer ended: the next read begins a stream of its own, not this one's
            self.last_read = 0.0

    def _gather(self) -> None:
        """After a small read: if the last one was recent too, pause for GATHER_SECONDS."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self.last_read < STREAMING_GAP and not self.gathering:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                self.gathering = True
                transport.pause_reading()
                loop.call_later(GATHER_SECONDS, self._gathered)
        self.last_read = now

    def _gathered(self) -> None:
        self.gathering = False
        transport = self.transport
        if not self.held and transport is not None and not transport.is_closing():
            transport.resume_reading()

    def eof_received(self) -> bool:
        if self.client.upstream is self:
            self.client.handle(UpstreamEOF())
        return True  # the relay says when to close (CloseUpstream)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client.upstream is self:
            self.client.upstream = None
            self.client.handle(UpstreamGone())

    def pause_writing(self) -> None:
        if self.client.upstream is self:
            self.client.handle(UpstreamBackpressure((True,)))

    def resume_writing(self) -> None:
        if self.client.upstream is self:
            self.client.handle(UpstreamBackpressure((False,)))


class ClientProtocol(asyncio.Protocol):
    """A client of the gateway, from accept to close."""

    def __init__(self, gateway: Gateway, listener: Listener) -> None:
        self.gateway = gateway
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.tls: TLSServerSession | None = None
        self.relay: Relay | None = None
        self._relay_handle: Callable[[Event], list[Command]] = _no_relay
        self.upstream: UpstreamProtocol | None = None
        self.source = ""
        self.opened = time.time()  # for `dockward status`
        self.gone = False  # connection_lost ran
        self._admitted: str | None = None  # the source address the caps counted it for
        self._timers: dict[Timer, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._releasing = False  # a release_buffers() of the TLS session is due
        # Handshake steps run on the gateway's threads (None: here). While one runs, the session
        # is the thread's: what the client sends meanwhile waits in _held.
        self._handshakes: HandshakeThreads | None = None
        self._stepping = False
        self._held: list[bytes] = []
        self._spare_taken = False  # a spare daemon connection was wired: UpstreamConnected due

    @property
    def identity(self) -> PeerIdentity | None:
        return self.relay.identity if self.relay is not None else None

    # ------------------------------------------------------------------ the registry's view

    def abort(self) -> None:
        """Drop the connection at once (gateway stop)."""
        if self.relay is not None and self.relay.phase is not Phase.GONE:
            self.handle(Abort())
        elif self.transport is not None:
            self.transport.abort()

    def drain(self) -> None:
        """The gateway is stopping: finish what runs, take no new request."""
        if self.relay is not None and self.relay.phase is not Phase.GONE:
            self.handle(Drain())
        elif self.transport is not None:
            self.transport.abort()

    def drain_cut(self) -> None:
        """The drain time is over: close with our close_notify."""
        if self.relay is not None and self.relay.phase is not Phase.GONE:
            self.handle(DrainCut())

    def cut(self, reason: str) -> None:
        """End the connection because its identity is now refused (revoked): a ``StreamCut``."""
        if self.relay is not None and self.relay.phase is not Phase.GONE:
            self.handle(Revoked((reason,)))

    # ------------------------------------------------------------------ client transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods
        tcp = self.transport = cast(asyncio.Transport, transport)
        tcp.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)
        listener = self.listener
        if listener.kind == "unix":
            self.source = f"unix:{listener.where}"
            identity = identity_from_unix_socket(transport.get_extra_info("socket"))
            self.gateway.connections.add(self)
            self.relay = Relay(
                self.gateway, Peer(listener.where, self.source, identity), None, tls=False
            )
            self._relay_handle = self.relay.handle
            self.handle(Start())
            return
        peer = transport.get_extra_info("peername")
        self.source = f"{peer[0]}:{peer[1]}" if peer else "?"
        if peer is None or not listener.allows(peer[0]):
            log.warning(
                "refused connection from %s on %s: source address not in the allow-list",
                self.source,
                listener.where,
            )
            self.gateway.emit(
                ConnectionRefused(
                    time.time(),
                    Peer(listener.where, self.source, None),
                    "source address not in the allow-list",
                )
            )
            tcp.abort()
            return
        why = self.gateway.caps.accept(peer[0], len(self.gateway.connections))
        if why is not None:
            self._refuse_at_accept(tcp, why)
            return
        self._admitted = peer[0]
        assert self.gateway.ssl_context is not None  # a TCP listener always has TLS
        # TCP keepalive comes from the listening socket (``server.set_keepalive``): inherited
        self.gateway.connections.add(self)
        self.tls = TLSServerSession(self.gateway.ssl_context)
        self._handshakes = self.gateway.handshake_threads
        self.relay = Relay(self.gateway, Peer(listener.where, self.source, None), peer[0], tls=True)
        self._relay_handle = self.relay.handle
        self.handle(Start())

    def _refuse_at_accept(self, tcp: asyncio.Transport, why: str) -> None:
        """Over a connection cap: dropped before the handshake (it costs the CPU a flood wants)."""
        log.warning("refused connection from %s on %s: %s", self.source, self.listener.where, why)
        self.gateway.emit(
            ConnectionRefused(time.time(), Peer(self.listener.where, self.source, None), why)
        )
        tcp.abort()

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        if relay is None or relay.phase is _CLOSED:
            return  # lingering before the close: dropped unread
        tls = self.tls
        if tls is None:
            self._from_client(relay, data)
            return
        if not tls.established and self._handshakes is not None:
            self._handshake_input(tls, data)
            return
        was_established, was_closed = tls.established, tls.peer_closed
        try:
            plaintext = tls.receive(data)
        except HandshakeFailed as failed:
            self._flush_tls()  # OpenSSL's alert, or the 400 that answers a plain HTTP request
            self.handle(HandshakeError((failed.reason,)))
            return
        except ConnectionError as err:
            log.info("connection from %s: %s", self.source, err)
            self.handle(Abort())
            return
        if not was_established and tls.established:
            der = tls.peer_certificate_der()
            self.handle(Established((identity_from_certificate(der) if der else None,)))
            if tls.version != "TLSv1.3":
                self._flush_tls()  # TLS 1.2: our Finished, which the client waits for
            # TLS 1.3: all that waits is OpenSSL's session tickets, which no client waits for;
            # they go out with the first answer, not as a packet (and a client wake-up) of their own
        else:
            out = tls.data_to_send()  # _flush_tls, without a call on every request
            if out:
                self.transport.write(out)  # type: ignore[union-attr]
        if len(data) > TLS_GROWN_ABOVE:
            self.watch_growth()
        if plaintext:
            self._from_client(relay, plaintext)
        if tls.peer_closed and not was_closed:
            self.handle(ClientEOF())

    def _handshake_input(self, tls: TLSServerSession, data: bytes) -> None:
        """Handshake bytes, with the steps on the gateway's threads: one step at a time."""
        if self._stepping:
            self._held.append(data)
            return
        try:
            ready = tls.feed(data)
        except HandshakeFailed as failed:
            self._flush_tls()  # the 400 that answers a plain HTTP request
            self.handle(HandshakeError((failed.reason,)))
            return
        if ready:
            assert self._handshakes is not None
            self._stepping = True
            self._handshakes.submit(tls, self._stepped)

    def _stepped(self, outcome: StepOutcome) -> None:
        """A handshake step ended (on the event loop again): as ``data_received`` after
        ``receive``, unless the connection ended meanwhile (the handshake timed out, say)."""
        self._stepping = False
        held, self._held = self._held, []
        relay, tls, transport = self.relay, self.tls, self.transport
        if (
            self.gone
            or relay is None
            or relay.phase is not Phase.HANDSHAKE
            or tls is None
            or transport is None
            or transport.is_closing()
        ):
            return
        if outcome is False:
            self._flush_tls()  # our flight, after the client's hello
            if held:
                self._handshake_input(tls, b"".join(held))
            return
        if outcome is not True:
            self._flush_tls()  # OpenSSL's alert
            self.handle(HandshakeError((outcome,)))
            return
        tls.established = True
        der = tls.peer_certificate_der()
        self.handle(Established((identity_from_certificate(der) if der else None,)))
        # the records that came with or after the client's Finished, as any later ones
        self.data_received(b"".join(held) if held else b"")

    def _from_client(self, relay: Relay, data: bytes) -> None:
        """Client bytes: straight to the daemon when the relay only passes them on."""
        if relay.phase is _HEAD:  # a request (head), without the event
            self.carry_out(relay.head_received(data))
            return
        upstream = self.upstream
        if (
            upstream is not None
            and upstream.transport is not None
            and relay.pass_to_upstream(len(data))
        ):
            upstream.transport.write(data)
        else:
            self.handle(ClientData((data,)))

    def eof_received(self) -> bool:
        # A bare FIN (docker-py's shutdown(SHUT_WR) sends one without close_notify).
        if self.relay is not None:
            self.handle(ClientEOF())
        return True  # the relay says when to close (CloseClient)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        self.gateway.connections.discard(self)
        self.gateway.connection_closed()
        if self._admitted is not None:
            self.gateway.caps.left(self._admitted)
            self._admitted = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        if self.relay is not None:
            self.handle(ClientGone())
        upstream, self.upstream = self.upstream, None  # one still opening, say
        if upstream is not None and upstream.transport is not None:
            upstream.transport.close()

    def pause_writing(self) -> None:
        if self.relay is not None:
            self.handle(ClientBackpressure((True,)))

    def resume_writing(self) -> None:
        if self.relay is not None:
            self.handle(ClientBackpressure((False,)))

    # ---------------------------------------------------------------------- the relay

    def handle(self, event: Event) -> None:
        """Feed ``event`` to the relay and carry out what it asks for."""
        self.carry_out(self._relay_handle(event))

    def carry_out(self, commands: list[Command]) -> None:
        """Carry out what the relay asked for, in order."""
        for command in commands:
            kind = type(command)
            # the commands of every request first, without a call each
            if kind is SendClient:
                transport = self.transport
                if transport is None or transport.is_closing():
                    continue
                tls = self.tls
                if tls is None:
                    transport.write(command[0])
                elif not tls.sent_close:
                    out = tls.encrypt(command[0])
                    if out:
                        transport.write(out)
            elif kind is SendUpstream:
                upstream = self.upstream
                if upstream is not None and upstream.transport is not None:
                    data = command[0]
                    if type(data) is list:
                        upstream.transport.writelines(data)
                    else:
                        upstream.transport.write(data)
            elif kind is Emit:
                self.gateway.emit(command[0])
            else:
                _PERFORM[kind](self, command)
        if self._spare_taken:  # after the commands that came with OpenUpstream, in their order
            self._spare_taken = False
            self.handle(UpstreamConnected())

    def send_answer(self, data: bytes) -> None:
        """Write ``data`` to the client (encrypted on TLS), as ``SendClient`` does."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        tls = self.tls
        if tls is None:
            transport.write(data)
        elif not tls.sent_close:
            out = tls.encrypt(data)
            if out:
                transport.write(out)

    def send_client(self, data: memoryview) -> None:
        """Write ``data`` to the client (encrypted on TLS), as ``SendClient`` does; ``data``
        may be reused once this returns."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        tls = self.tls
        if tls is None:
            transport.write(data.tobytes())  # the transport may keep what it cannot send now
        elif not tls.sent_close:
            out = tls.encrypt_owned(data)
            if out:
                transport.write(out)

    def watch_growth(self) -> None:
        """A burst may have grown the TLS session's buffers: give them back a while later."""
        if self.tls is not None and not self._releasing and self.tls.grown:
            self._releasing = True
            asyncio.get_running_loop().call_later(RELEASE_AFTER, self._release_buffers)

    def _release_buffers(self) -> None:
        self._releasing = False
        if self.tls is not None and not self.gone and not self.tls.release_buffers():
            self.watch_growth()  # bytes are waiting in them: later

    def _flush_tls(self) -> None:
        assert self.tls is not None and self.transport is not None
        out = self.tls.data_to_send()
        if out:
            self.transport.write(out)

    def _close_notify(self) -> None:
        tls = self.tls
        if tls is not None and tls.established:
            tls.close_notify()
            self._flush_tls()

    def _open_client(self) -> asyncio.Transport | None:
        """The client transport, unless it is gone or closing."""
        transport = self.transport
        return None if transport is None or transport.is_closing() else transport

    def _half_close_client(self, command: Command) -> None:
        transport = self._open_client()
        if transport is None:
            return
        if self.tls is not None:
            self._close_notify()
        elif transport.can_write_eof():
            transport.write_eof()

    def _shutdown_client(self, command: Command) -> None:
        transport = self._open_client()
        if transport is None:
            return
        self._close_notify()
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def _close_client(self, command: Command) -> None:
        transport = self._open_client()
        if transport is not None:
            self._close_notify()
            transport.close()

    def _abort_client(self, command: Command) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _pause(self, command: Command) -> None:
        transport = self._reader(command[0])
        if command[0] is Side.UPSTREAM and self.upstream is not None:
            self.upstream.held = True
        if transport is not None and not transport.is_closing():
            transport.pause_reading()

    def _resume(self, command: Command) -> None:
        transport = self._reader(command[0])
        if command[0] is Side.UPSTREAM and self.upstream is not None:
            self.upstream.held = False
            if self.upstream.gathering:
                return  # _gathered resumes
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def _reader(self, side: Side) -> asyncio.Transport | None:
        if side is Side.CLIENT:
            return self.transport
        return self.upstream.transport if self.upstream is not None else None

    def _open_upstream(self, command: Command) -> None:
        spares = self.gateway.spares
        transport = spares.take()
        if transport is None:
            self._spawn(self._connect())
        else:
            protocol = UpstreamProtocol(self)
            transport.set_protocol(protocol)
            protocol.connection_made(transport)
            self._spare_taken = True
        spares.refill()

    async def _connect(self) -> None:
        gateway = self.gateway
        path = gateway.upstream_path
        protocol = UpstreamProtocol(self)
        timeout = gateway.config.connect_timeout
        try:
            async with asyncio.timeout(timeout):  # no second task, as wait_for would make
                await asyncio.get_running_loop().create_unix_connection(lambda: protocol, path)
        except TimeoutError:
            reason = f"no connection within {timeout:g} s"
        except OSError as err:
            reason = err.strerror or str(err)
        else:
            self.handle(UpstreamConnected())
            return
        gateway.daemon.connect_failed(reason)
        self.handle(UpstreamConnectFailed((reason,)))

    def _half_close_upstream(self, command: Command) -> None:
        transport = self.upstream.transport if self.upstream is not None else None
        if transport is not None and not transport.is_closing():
            transport.write_eof()

    def _close_upstream(self, command: Command) -> None:
        upstream, self.upstream = self.upstream, None
        if upstream is not None and upstream.transport is not None:
            upstream.transport.close()

    def _fetch_facts(self, command: Command) -> None:
        self._spawn(self._facts(command[0]))

    async def _facts(self, queries: tuple[FactQuery, ...]) -> None:
        try:
            facts = await fetch_facts(self.gateway.upstream_path, list(queries))
        except (TimeoutError, OSError, ProtocolError, ValueError) as err:
            reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
            self.handle(FactsFailed((reason,)))
            return
        self.handle(FactsReady((facts,)))

    def _start_timer(self, command: Command) -> None:
        timer, seconds = command
        old = self._timers.pop(timer, None)
        if old is not None:
            old.cancel()
        self._timers[timer] = asyncio.get_running_loop().call_later(
            seconds, self._timer_fired, timer
        )

    def _timer_fired(self, timer: Timer) -> None:
        self._timers.pop(timer, None)
        self.handle(TimerFired((timer,)))

    def _cancel_timer(self, command: Command) -> None:
        handle = self._timers.pop(command[0], None)
        if handle is not None:
            handle.cancel()

    def _check_daemon(self, command: Command) -> None:
        self.gateway.daemon.suspect(command[0])

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_buffers = threading.local()


def read_buffer() -> memoryview:
    """This thread's buffer for reads from the daemon (``READ_BUFFER_SIZE`` bytes)."""
    buffer = getattr(_buffers, "view", None)
    if buffer is None:
        buffer = _buffers.view = memoryview(bytearray(READ_BUFFER_SIZE))
    return buffer


def _no_relay(event: Event) -> list[Command]:
    raise AssertionError(f"{event!r} for a connection without a relay")


# The other commands: rarer, one method each.
_PERFORM: dict[type[Command], Callable[[ClientProtocol, Command], None]] = {
    HalfCloseClient: ClientProtocol._half_close_client,
    ShutdownClient: ClientProtocol._shutdown_client,
    CloseClient: ClientProtocol._close_client,
    AbortClient: ClientProtocol._abort_client,
    PauseReading: ClientProtocol._pause,
    ResumeReading: ClientProtocol._resume,
    OpenUpstream: ClientProtocol._open_upstream,
    HalfCloseUpstream: ClientProtocol._half_close_upstream,
    CloseUpstream: ClientProtocol._close_upstream,
    FetchFacts: ClientProtocol._fetch_facts,
    StartTimer: ClientProtocol._start_timer,
    CancelTimer: ClientProtocol._cancel_timer,
    CheckDaemon: ClientProtocol._check_daemon,
}
