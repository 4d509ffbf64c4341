"""Events the gateway emits for observers (access log, metrics), as plain values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from dockward.identity import PeerIdentity


@dataclass(slots=True)
class ExchangeRecord:
    """One request and what became of it."""

    started: float  # time.time()
    source: str
    listener: str
    identity: PeerIdentity | None
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
    hijacked: bool = False

    def as_log(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(self.started, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "listener": self.listener,
            "source": self.source,
            "identity": self.identity.as_log() if self.identity else None,
            "method": self.method,
            "path": self.path,
            "operation": self.operation,
            "decision": self.decision,
            "rule": self.rule,
            "role": self.role,
            "status": self.status,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "duration_ms": round(self.duration_ms, 3),
        }
        if self.reason:
            entry["reason"] = self.reason
        if self.hijacked:
            entry["hijacked"] = True
        return entry


@dataclass(slots=True)
class ConnectionRefused:
    """A connection closed before any request: source not allowed, or handshake failed."""

    time: float
    source: str
    listener: str
    reason: str


ExchangeObserver = Callable[[ExchangeRecord], None]
