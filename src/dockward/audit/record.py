"""The audit store's record: one flat row per gateway event, and the projections that make it.

``AuditRecord`` is what the store keeps and what ``dockward audit`` shows: the kind of event,
its time, the gateway that saw it, who (identity label and certificate serial, role), from where
(source address, listener), what (method, path, operation), and what became of it (decision,
rule, reason, status, bytes each way, duration). It has no field for a request body, a query
string, a header or a credential, so none can be stored.

``project(event)`` turns a gateway event into a record (``None`` for an event the store does not
keep). Each event type has one projection in ``PROJECTIONS``, looked up by the type's name, so
this module imports no gateway code and a new event kind plugs in by adding a row. Projections
read events by attribute (``started``, ``source``, ``identity``, ...), which both today's
``ExchangeRecord`` and its successors with a shared ``peer`` provide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

# A decision that kept a request from the daemon (``audit-deny`` would have): ``--denied``.
DENIED_DECISIONS = ("deny", "audit-deny", "refuse", "cut")

# Kinds (the exchange's and the connection events', named as the access log names them).
EXCHANGE = "exchange"
CONNECTION_REFUSED = "connection.refused"
HANDSHAKE_FAILED = "connection.handshake_failed"
CONNECTION_CUT = "connection.cut"
RECORDS_DROPPED = "audit.dropped"  # written by the store itself after it could not write
RELOAD = "gateway.reload"  # a policy reload, taken (decision "ok") or refused ("refused")


class AuditRecord(NamedTuple):
    """One event as stored; strings are empty and numbers 0 where they do not apply.

    A named tuple: the writer makes one per request, and a tuple is the cheapest value to make,
    to hash (``audit.chain``) and to insert (its fields are the columns, in this order).
    """

    kind: str
    gateway: str = ""
    identity: str = ""  # "cn:NAME", "serial:N" or "uid:N"; empty before authentication
    serial: str = ""  # the client certificate's serial number (decimal)
    role: str = ""
    source: str = ""  # "ADDRESS:PORT" or "unix:PATH"
    listener: str = ""
    method: str = ""
    path: str = ""  # without the query string
    operation: str = ""
    decision: str = ""
    rule: str = ""
    reason: str = ""
    # the numbers last: the strings before them recur from request to request (audit.chain)
    time_us: int = 0  # when it started: microseconds since the epoch (UTC)
    status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    duration_us: int = 0
    # how an exchange ended when it did not complete ("client gone", "daemon gone", "cut by
    # revocation", "cut by drain", "timed out"), as the access log's ``end``; empty otherwise.
    # Last and left out of the hash when empty (``audit.chain``): records written before the
    # column existed keep their hashes.
    end: str = ""

    @property
    def time(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time_us / 1_000_000, dt.UTC)

    @property
    def address(self) -> str:
        """The source's IP address (empty for a unix-socket peer)."""
        if self.source.startswith("unix:"):
            return ""
        host, sep, _port = self.source.rpartition(":")
        return host.strip("[]") if sep else self.source

    @property
    def client(self) -> str:
        """The identity without its prefix: the certificate's CN, or the uid."""
        return self.identity.partition(":")[2]

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditRecord:
        return cls(**{name: data[name] for name in FIELD_NAMES if name in data})


FIELD_NAMES: tuple[str, ...] = AuditRecord._fields
TEXT_FIELDS = FIELD_NAMES.index("time_us")  # the strings come first, then the numbers, then end
END_COMPLETED = "completed"  # the gateway's ``ExchangeRecord.end`` of a complete exchange


def _micros(seconds: float) -> int:
    return round(seconds * 1_000_000)


def text(value: str) -> str:
    """``value`` as storable text: NUL and lone surrogates (client-chosen paths) escaped.

    PostgreSQL's text holds neither; escaping here keeps the value, and so the record's hash,
    the same in every backend.
    """
    if value.isascii() and "\x00" not in value:
        return value
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


_last_identity: tuple[Any, str, str] = (None, "", "")  # the last identity, its label and serial


def _who(event: Any) -> tuple[str, str]:
    """The identity's label and serial; consecutive events mostly share one (a connection's)."""
    global _last_identity
    identity = _peer(event).identity
    last = _last_identity  # one read: another thread may replace it, never change it
    if identity is last[0]:
        return last[1], last[2]
    if identity is None:
        return "", ""
    serial = identity.serial
    last = _last_identity = (identity, text(identity.label), "" if serial is None else str(serial))
    return last[1], last[2]


def _peer(event: Any) -> Any:
    """Where the event came from: its ``peer`` (listener, source, identity)."""
    return event.peer


def _started(event: Any) -> float:
    started = getattr(event, "started", None)
    return float(started if started is not None else event.time)


def _exchange(event: Any, gateway: str) -> AuditRecord:
    identity, serial = _who(event)
    reason = event.reason
    return AuditRecord(  # positional: this runs once per request
        EXCHANGE,
        gateway,
        identity,
        serial,
        event.role or "",
        event.source,
        event.listener,
        text(event.method),
        text(event.path),
        event.operation,
        event.decision,
        event.rule,
        text(reason) if reason else "",
        round(event.started * 1_000_000),
        event.status,
        event.bytes_in,
        event.bytes_out,
        round(event.duration_ms * 1000),
        "" if (end := event.end) == END_COMPLETED else end,
    )


def _connection(kind: str, decision: str) -> Callable[[Any, str], AuditRecord]:
    def project(event: Any, gateway: str) -> AuditRecord:
        identity, serial = _who(event)
        peer = _peer(event)
        return AuditRecord(
            kind=kind,
            time_us=_micros(_started(event)),
            gateway=gateway,
            identity=identity,
            serial=serial,
            source=peer.source,
            listener=peer.listener,
            method=text(getattr(event, "method", "")),
            path=text(getattr(event, "path", "")),
            operation=getattr(event, "operation", ""),
            decision=decision,
            reason=text(event.reason),
        )

    return project


def _reload(event: Any, gateway: str) -> AuditRecord:
    return AuditRecord(
        kind=RELOAD,
        gateway=gateway,
        time_us=_micros(event.started),
        path=text(event.path),
        operation=f"{event.what}.reload",
        decision="ok" if event.ok else "refused",
        rule=f"sha256:{event.digest}" if event.digest else "",
        reason=text(event.reason),
    )


PROJECTIONS: dict[str, Callable[[Any, str], AuditRecord]] = {
    "Reloaded": _reload,
    "ExchangeRecord": _exchange,
    "ConnectionRefused": _connection(CONNECTION_REFUSED, "refuse"),
    "HandshakeFailed": _connection(HANDSHAKE_FAILED, "refuse"),
    "StreamCut": _connection(CONNECTION_CUT, "cut"),
}


def project(event: object, gateway: str = "") -> AuditRecord | None:
    """The record ``gateway`` keeps of ``event``; ``None`` for a kind the store does not keep."""
    projection = PROJECTIONS.get(type(event).__name__)
    return projection(event, gateway) if projection is not None else None
