"""Reading the audit store: which records, and how ``dockward audit`` shows them.

``Query`` holds the command line's conditions; the backend narrows by time, identity, role,
operation, decision and gateway in SQL, and ``Query.matches`` applies the source network, which
SQL cannot do alike in both databases. Records are shown one a line (``record_line``), as JSON
lines (``record_json``, the record's fields as they are stored), or counted (``summarise``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field

from dockward.audit.backends import Backend, RecordFilter
from dockward.audit.chain import ChainReport, verify_chain
from dockward.audit.record import DENIED_DECISIONS, AuditRecord

_SPAN = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_SPANS = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_time(text: str, now: dt.datetime) -> dt.datetime:
    """``1h``, ``30m``, ``2d``, ``1h30m`` (that long before ``now``) or an ISO 8601 time (UTC
    when it names no zone); ``ValueError`` otherwise."""
    spec = text.strip().lower()
    if _SPANS.fullmatch(spec):
        seconds = sum(float(n) * _UNIT[unit] for n, unit in _SPAN.findall(spec))
        return now - dt.timedelta(seconds=seconds)
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration such as 1h, 30m, 2d nor a time such as "
            "2026-05-01T12:00:00Z"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _micros(when: dt.datetime) -> int:
    return round(when.timestamp() * 1_000_000)


@dataclass(frozen=True, slots=True)
class Query:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    clients: tuple[str, ...] = ()  # a CN, or a full identity label (cn:…, uid:…, serial:…)
    role: str | None = None
    operation: str | None = None
    denied: bool = False
    sources: tuple[Network, ...] = field(default_factory=tuple)
    gateway: str | None = None

    def record_filter(self) -> RecordFilter:
        labels: list[str] = []
        for client in self.clients:
            if re.match(r"^(cn|uid|serial):", client):
                labels.append(client)
            else:
                labels.append(f"cn:{client}")
        return RecordFilter(
            since_us=_micros(self.since) if self.since else None,
            until_us=_micros(self.until) if self.until else None,
            identities=tuple(labels),
            role=self.role,
            operation=self.operation,
            decisions=DENIED_DECISIONS if self.denied else (),
            gateway=self.gateway,
        )

    def matches(self, record: AuditRecord) -> bool:
        """The conditions SQL did not apply: the source networks."""
        if not self.sources:
            return True
        try:
            address = ipaddress.ip_address(record.address)
        except ValueError:
            return False
        return any(address in network for network in self.sources)


def select(backend: Backend, query: Query) -> Generator[AuditRecord]:
    for record in backend.select(query.record_filter()):
        if query.matches(record):
            yield record


def _stamp(record: AuditRecord) -> str:
    return record.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_line(record: AuditRecord) -> str:
    """One record for a person: time, gateway, decision, who, what, why (and how an exchange
    ended, when it did not complete)."""
    parts = [_stamp(record), record.gateway, record.decision or "-", record.identity or "-"]
    parts.append(f"role={record.role}" if record.role else "role=-")
    parts.append(record.source or "-")
    if record.method or record.path:
        parts.append(f"{record.method} {record.path}".strip())
    parts.append(record.operation or record.kind)
    if record.rule:
        parts.append(f"rule={_word(record.rule)}")
    if record.status:
        parts.append(str(record.status))
    if record.end:
        parts.append(f"end={_word(record.end)}")
    line = "  ".join(parts)
    if record.reason:
        line += f"  reason={json.dumps(record.reason)}"
    return line


def _word(value: str) -> str:
    """``value``, quoted as JSON when it would not read as one word."""
    return value if value and " " not in value and '"' not in value else json.dumps(value)


def record_json(record: AuditRecord) -> str:
    """One record as a JSON object (the stored fields plus ``time`` in ISO 8601)."""
    return json.dumps({"time": _stamp(record), **record.as_dict()}, separators=(",", ":"))


SUMMARY_KEYS = ("gateway", "identity", "operation", "decision")


def summarise(records: Iterable[AuditRecord]) -> list[tuple[tuple[str, ...], int]]:
    """Counts by gateway, identity, operation and decision; the largest first."""
    counts: Counter[tuple[str, ...]] = Counter()
    for record in records:
        counts[
            (
                record.gateway,
                record.identity or "-",
                record.operation or record.kind,
                record.decision or "-",
            )
        ] += 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def summary_lines(rows: list[tuple[tuple[str, ...], int]]) -> list[str]:
    if not rows:
        return ["no records"]
    header = (*SUMMARY_KEYS, "count")
    table = [header] + [(*key, str(count)) for key, count in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    by_gateway: Counter[str] = Counter()
    for key, count in rows:
        by_gateway[key[0]] += count
    total = sum(by_gateway.values())
    per = ", ".join(f"{gateway} {count}" for gateway, count in sorted(by_gateway.items()))
    lines.append(f"{total} records ({per})")
    return lines


def summary_json(rows: list[tuple[tuple[str, ...], int]]) -> str:
    return json.dumps(
        [{**dict(zip(SUMMARY_KEYS, key, strict=True)), "count": count} for key, count in rows],
        separators=(",", ":"),
    )


def verify(backend: Backend) -> list[ChainReport]:
    """Every gateway's chain, checked from its anchor to its head."""
    reports = []
    for state in backend.chains():

        def find(digest: str, gateway: str = state.gateway) -> int | None:
            return backend.find_hash(gateway, digest)

        reports.append(verify_chain(state, backend.stored(state.gateway), find))
    return reports
