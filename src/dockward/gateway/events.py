"""What the gateway tells its observers (access log, metrics), and the one way it tells them.

The events are plain values: an exchange and what became of it (``ExchangeRecord``), a
connection refused for its source address (``ConnectionRefused``), a failed TLS handshake, the
plain-HTTP request answered 400 included (``HandshakeFailed``), a live connection cut because
its certificate was revoked (``StreamCut``), and a policy reload taken or refused
(``Reloaded``). ``Emitter.emit`` hands each event to every observer
and contains what an observer raises: the failure is logged once per observer and the connection
that emitted the event goes on. How an event becomes a log line is ``dockward.audit.format``'s
business; this module imports no observer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dockward.identity import PeerIdentity

log = logging.getLogger("dockward.gateway")


class Peer:
    """The far end of one connection: listener, source and identity, shared by its events.

    ``memo`` belongs to serialisers: what they derive from the peer once per connection (the
    access log's ``listener``/``source``/``identity`` members) instead of once per request.
    """

    __slots__ = ("identity", "listener", "memo", "source")

    def __init__(self, listener: str, source: str, identity: PeerIdentity | None) -> None:
        self.listener = listener
        self.source = source
        self.identity = identity
        self.memo = ""

    def __repr__(self) -> str:
        return f"Peer({self.listener!r}, {self.source!r}, {self.identity!r})"


# How an exchange ended (``ExchangeRecord.end``): its answer was complete, or it was cut.
END_COMPLETED = "completed"
END_CLIENT_GONE = "client gone"
END_DAEMON_GONE = "daemon gone"
END_REVOKED = "cut by revocation"
END_DRAIN = "cut by drain"
END_TIMED_OUT = "timed out"


@dataclass(slots=True)
class ExchangeRecord:
    """One request and what became of it (``end``: one of the ``END_*`` values)."""

    started: float  # time.time()
    peer: Peer
    method: str = ""
    path: str = ""
    operation: str = ""
    decision: str = ""
    rule: str = ""
    role: str | None = None
    reason: str = ""
    status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    duration_ms: float = 0.0
    first_byte_ms: float = 0.0  # head received to the daemon's response head (0: none came)
    hijacked: bool = False
    end: str = END_COMPLETED

    @property
    def source(self) -> str:
        return self.peer.source

    @property
    def listener(self) -> str:
        return self.peer.listener

    @property
    def identity(self) -> PeerIdentity | None:
        return self.peer.identity


@dataclass(frozen=True, slots=True)
class ConnectionRefused:
    """A TCP connection dropped at accept: its source address is not in the listener's list."""

    started: float  # time.time()
    peer: Peer
    reason: str


@dataclass(frozen=True, slots=True)
class HandshakeFailed:
    """A TLS handshake that failed or timed out (a plain HTTP request, answered 400, too)."""

    started: float
    peer: Peer
    reason: str


@dataclass(frozen=True, slots=True)
class StreamCut:
    """A live connection ended by the gateway because its identity is now refused (revoked).

    ``method``/``path``/``operation`` name the exchange in progress, if there was one; that
    exchange still gets its own record when the connection is gone.
    """

    started: float
    peer: Peer
    reason: str
    method: str = ""
    path: str = ""
    operation: str = ""


GATEWAY_PEER = Peer("", "", None)  # the peer of the gateway's own events (a reload)


@dataclass(frozen=True, slots=True)
class Reloaded:
    """A reload of the policy file (``what`` = "policy"): taken (``ok``) or refused.

    ``digest`` is the SHA-256 of the file as loaded (empty when refused); ``reason`` says what
    happened in words, the refusal's problems included.
    """

    started: float
    what: str
    path: str
    ok: bool
    digest: str
    reason: str
    peer: Peer = GATEWAY_PEER


AuditEvent = ExchangeRecord | ConnectionRefused | HandshakeFailed | StreamCut | Reloaded
Observer = Callable[[AuditEvent], None]
ExchangeObserver = Observer  # the earlier name


class Emitter:
    """Hands events to observers; one that raises never reaches the emitting connection.

    The first failure of each observer is logged with its traceback, later ones only counted
    (``failures``): a sink that fails on every request must not fill the log with tracebacks.
    """

    __slots__ = ("_reported", "failures", "observers")

    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self.observers: list[Observer] = list(observers)
        self.failures = 0
        self._reported: list[Observer] = []

    def emit(self, event: AuditEvent) -> None:
        for observer in self.observers:
            try:
                observer(event)
            except Exception:  # contained: an observer's bug or full disk is not the client's
                self._failed(observer)

    def _failed(self, observer: Observer) -> None:
        self.failures += 1
        if any(seen is observer for seen in self._reported):
            return
        self._reported.append(observer)
        log.exception(
            "observer %r failed; its events are skipped when it fails, reported once", observer
        )
