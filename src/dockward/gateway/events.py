"""Events the gateway emits for observers (access log, metrics), as plain values."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

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
    peer_json: str = ""  # listener, source and identity as JSON members, once per connection

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

    def as_json_line(self) -> str:
        """``as_log()`` serialised, built by hand: this runs once per request."""
        quoted = _quoted  # memoised: only for fields with few, gateway-chosen values
        peer = self.peer_json or peer_json(self.listener, self.source, self.identity)
        line = (
            f'{{"time":"{_timestamp(self.started)}",{peer},'
            f'"method":{quoted(self.method)},"path":{_json_string(self.path)},'
            f'"operation":{quoted(self.operation)},"decision":{quoted(self.decision)},'
            f'"rule":{quoted(self.rule)},"role":{quoted(self.role)},"status":{self.status},'
            f'"bytes_in":{self.bytes_in},"bytes_out":{self.bytes_out},'
            f'"duration_ms":{_milliseconds(self.duration_ms)}'
        )
        if self.reason:
            line += f',"reason":{json.dumps(self.reason)}'
        if self.hijacked:
            line += ',"hijacked":true'
        return line + "}\n"


_quoted = lru_cache(maxsize=4096)(json.dumps)
_second_cache: dict[int, str] = {}


def _json_string(text: str) -> str:
    """``json.dumps(text)``, without its overhead for the usual plain-ASCII path."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text)


def _milliseconds(value: float) -> str:
    """``value`` with three decimals (integer arithmetic: float formatting is slow)."""
    micros = round(value * 1000)
    return f"{micros // 1000}.{micros % 1000:03d}"


def _timestamp(started: float) -> str:
    """ISO 8601 UTC with milliseconds; the part up to the second is formatted once a second."""
    second = int(started)
    prefix = _second_cache.get(second)
    if prefix is None:
        _second_cache.clear()
        prefix = _second_cache[second] = dt.datetime.fromtimestamp(second, dt.UTC).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
    return f"{prefix}.{int((started - second) * 1000):03d}+00:00"


def peer_json(listener: str, source: str, identity: PeerIdentity | None) -> str:
    """The ``listener``, ``source`` and ``identity`` members of a log line (one per connection)."""
    who = json.dumps(identity.as_log() if identity else None, separators=(",", ":"))
    return f'"listener":{json.dumps(listener)},"source":{json.dumps(source)},"identity":{who}'


@dataclass(slots=True)
class ConnectionRefused:
    """A connection closed before any request: source not allowed, or handshake failed."""

    time: float
    source: str
    listener: str
    reason: str


ExchangeObserver = Callable[[ExchangeRecord], None]
