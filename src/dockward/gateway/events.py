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
        peer = self.peer_json or peer_json(self.listener, self.source, self.identity)
        request = _request_members(
            self.method, self.path, self.operation, self.decision, self.rule, self.role
        )
        line = (
            f'{{"time":"{_timestamp(self.started)}",{peer},{request},'
            f'"status":{self.status},"bytes_in":{self.bytes_in},"bytes_out":{self.bytes_out},'
            f'"duration_ms":{self.duration_ms:.3f}'  # the same decimals as round(value, 3)
        )
        if self.reason:
            line += f',"reason":{json.dumps(self.reason)}'
        if self.hijacked:
            line += ',"hijacked":true'
        return line + "}\n"


_quoted = lru_cache(maxsize=4096)(json.dumps)  # only for fields with few, gateway-chosen values
_members: dict[tuple[str, str, str, str, str, str | None], str] = {}
MEMBERS_KEPT = 4096
MEMO_PATH_MAX = 512  # longer, client-chosen paths are formatted each time, never kept
_MILLIS = tuple(f".{n:03d}+00:00" for n in range(1000))
_second, _second_text = -1, ""  # the last whole second formatted, and its text


def _request_members(
    method: str, path: str, operation: str, decision: str, rule: str, role: str | None
) -> str:
    """The ``method`` to ``role`` members; the same few combinations recur, so they are kept."""
    key = (method, path, operation, decision, rule, role)
    members = _members.get(key)
    if members is None:
        quoted = _quoted
        members = (
            f'"method":{quoted(method)},"path":{_json_string(path)},'
            f'"operation":{quoted(operation)},"decision":{quoted(decision)},'
            f'"rule":{quoted(rule)},"role":{quoted(role)}'
        )
        if len(path) <= MEMO_PATH_MAX:
            if len(_members) >= MEMBERS_KEPT:
                _members.clear()
            _members[key] = members
    return members


def _json_string(text: str) -> str:
    """``json.dumps(text)``, without its overhead for the usual plain-ASCII path."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text)


def _timestamp(started: float) -> str:
    """ISO 8601 UTC with milliseconds; the part up to the second is formatted once a second."""
    global _second, _second_text
    second = int(started)
    if second != _second:
        _second_text = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = second
    # started - second is exact and at least one ulp below 1, so the index is at most 999
    return _second_text + _MILLIS[int((started - second) * 1000)]


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
