"""The access log's JSON line: one serialiser for every gateway event.

An exchange line holds time, listener, source, identity, method, path, operation, decision, rule,
role, status, bytes each way and duration (``reason`` and ``hijacked`` when they apply, and
``end`` when the exchange did not complete: client gone, daemon gone, cut by revocation or by
drain, timed out; a cut transfer's status is that of the head that was sent). A
connection event (refused source, failed handshake, revocation cut) has the same members, empty
where they do not apply, plus ``event`` naming it, so one reader handles every line. Nothing
here can hold a body, a query string or a credential: the events have no field for them.

An exchange line is written for every request, so it is built by hand, a batch at a time
(``json_lines``): the members that recur (the connection's peer, the few
method/path/decision/status combinations) are kept, and the timestamp is formatted once a
second. ``log_entry`` is the same line as a dict, for reading.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache

from dockward.gateway.events import (
    END_COMPLETED,
    AuditEvent,
    ConnectionRefused,
    ExchangeRecord,
    HandshakeFailed,
    Peer,
    Reloaded,
    StreamCut,
)

EVENT_NAMES: dict[type[object], str] = {
    ConnectionRefused: "connection.refused",
    HandshakeFailed: "connection.handshake_failed",
    StreamCut: "connection.cut",
    Reloaded: "gateway.reload",
}
EVENT_DECISIONS: dict[type[object], str] = {
    ConnectionRefused: "refuse",
    HandshakeFailed: "refuse",
    StreamCut: "cut",
}


def json_line(event: AuditEvent) -> str:
    """The event as one JSON line, newline included."""
    return json_lines([event])


def json_lines(events: list[AuditEvent]) -> str:
    """``json_line`` of each event, joined: a batch of the access log in one call.

    The exchange lines are built in this one loop (``exchange_line`` is a batch of one): per
    line it costs a few lookups and one f-string, with no call for the timestamp, the peer or
    the request members once they are known.
    """
    global _second, _second_text
    second_now, second_text = _second, _second_text
    members_of, small, millis = _members.get, _SMALL, _MILLIS
    out: list[str] = []
    append = out.append
    for event in events:
        if type(event) is not ExchangeRecord:
            append(_connection_line(event))  # type: ignore[arg-type]
            continue
        record: ExchangeRecord = event
        peer = record.peer
        started = record.started
        second = int(started)
        if second != second_now:
            second_text = _second_text_of(second)
            second_now = second
        method, path, operation = record.method, record.path, record.operation
        decision, rule, role, status = record.decision, record.rule, record.role, record.status
        request = members_of((method, path, operation, decision, rule, role, status))
        if request is None:
            request = _request_members(method, path, operation, decision, rule, role, status)
        bytes_in = record.bytes_in
        # started - second is exact and at least one ulp below 1, so the index is at most 999;
        # the duration has the same decimals as round(value, 3)
        line = (
            f'{{"time":"{second_text}{millis[int((started - second) * 1000)]}",'
            f"{peer.memo or _remember_peer(peer)},{request},"
            f'"bytes_in":{small[bytes_in] if bytes_in < 1000 else bytes_in},'
            f'"bytes_out":{record.bytes_out},"duration_ms":{record.duration_ms:.3f}'
        )
        if record.reason:
            line += f',"reason":{json.dumps(record.reason)}'
        if record.hijacked:
            line += ',"hijacked":true'
        if record.end != END_COMPLETED:
            line += f',"end":"{record.end}"'  # one of the END_* words: nothing to escape
        append(line + "}\n")
    _second, _second_text = second_now, second_text
    return "".join(out)


def log_entry(event: AuditEvent) -> dict[str, object]:
    """What ``json_line`` writes, as a dict (``duration_ms`` rounded to three decimals)."""
    peer = event.peer
    identity = peer.identity
    entry: dict[str, object] = {
        "time": dt.datetime.fromtimestamp(event.started, dt.UTC).isoformat(timespec="milliseconds"),
        "listener": peer.listener,
        "source": peer.source,
        "identity": identity.as_log() if identity else None,
    }
    if isinstance(event, ExchangeRecord):
        entry.update(
            method=event.method,
            path=event.path,
            operation=event.operation,
            decision=event.decision,
            rule=event.rule,
            role=event.role,
            status=event.status,
            bytes_in=event.bytes_in,
            bytes_out=event.bytes_out,
            duration_ms=round(event.duration_ms, 3),
        )
        if event.reason:
            entry["reason"] = event.reason
        if event.hijacked:
            entry["hijacked"] = True
        if event.end != END_COMPLETED:
            entry["end"] = event.end
        return entry
    if isinstance(event, Reloaded):
        entry.update(
            event=EVENT_NAMES[Reloaded],
            operation=f"{event.what}.reload",
            path=event.path,
            decision="ok" if event.ok else "refused",
            sha256=event.digest,
            reason=event.reason,
        )
        return entry
    cut = event if isinstance(event, StreamCut) else None
    entry.update(
        event=EVENT_NAMES[type(event)],
        method=cut.method if cut else "",
        path=cut.path if cut else "",
        operation=cut.operation if cut else "",
        decision=EVENT_DECISIONS[type(event)],
        rule="",
        role=None,
        status=0,
        bytes_in=0,
        bytes_out=0,
        duration_ms=0.0,
        reason=event.reason,
    )
    return entry


def exchange_line(record: ExchangeRecord) -> str:
    """``log_entry(record)`` serialised, built by hand: this runs once per request."""
    return json_lines([record])


def _connection_line(event: ConnectionRefused | HandshakeFailed | StreamCut | Reloaded) -> str:
    """A connection event: rare, so plain ``json.dumps`` of its entry."""
    return json.dumps(log_entry(event), separators=(",", ":")) + "\n"


def peer_members(listener: str, source: str, identity: object) -> str:
    """The ``listener``, ``source`` and ``identity`` members of a line."""
    as_log = getattr(identity, "as_log", None)
    who = json.dumps(as_log() if as_log else None, separators=(",", ":"))
    return f'"listener":{json.dumps(listener)},"source":{json.dumps(source)},"identity":{who}'


def _remember_peer(peer: Peer) -> str:
    peer.memo = peer_members(peer.listener, peer.source, peer.identity)
    return peer.memo


_quoted = lru_cache(maxsize=4096)(json.dumps)  # only for fields with few, gateway-chosen values
_members: dict[tuple[str, str, str, str, str, str | None, int], str] = {}
_SMALL = tuple(str(n) for n in range(1000))  # bytes_in is mostly 0: no int formatting
MEMBERS_KEPT = 4096
MEMO_PATH_MAX = 512  # longer, client-chosen paths are formatted each time, never kept
_MILLIS = tuple(f".{n:03d}+00:00" for n in range(1000))
_second, _second_text = -1, ""  # the last whole second formatted, and its text


def _request_members(
    method: str,
    path: str,
    operation: str,
    decision: str,
    rule: str,
    role: str | None,
    status: int,
) -> str:
    """The ``method`` to ``status`` members; the same few combinations recur, so they are kept."""
    key = (method, path, operation, decision, rule, role, status)
    members = _members.get(key)
    if members is None:
        quoted = _quoted
        members = (
            f'"method":{quoted(method)},"path":{_json_string(path)},'
            f'"operation":{quoted(operation)},"decision":{quoted(decision)},'
            f'"rule":{quoted(rule)},"role":{quoted(role)},"status":{status}'
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


def _second_text_of(second: int) -> str:
    """The ISO 8601 UTC time of a whole second, up to the seconds (formatted once a second)."""
    return dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
