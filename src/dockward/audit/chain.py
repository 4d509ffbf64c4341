"""The hash chain that makes the audit trail tamper-evident, and its verification.

Each gateway's records form one chain: record ``n`` stores ``prev_hash`` (the hash of record
``n-1`` of the same gateway, ``GENESIS`` for the first) and its own ``hash``, the SHA-256 of a
version tag, ``prev_hash`` and the record's canonical serialisation (a compact JSON array of its
fields in a fixed order; integers and ASCII-escaped strings only, so every backend and every
Python gives the same bytes). The last field, ``end``, is in the array only when it is not
empty: records written before it existed (and every complete exchange) hash as they did. The
sequence number is not hashed: it orders the chain, and a record moved to another place keeps
its hash, which is how a reorder is told from an edit.

Per gateway the store keeps one chain row: the head (sequence number and hash of the newest
record, written in the same transaction as the records) and the anchor (the last record removed
by retention, ``0``/``GENESIS`` before any). Retention deletes the oldest records and moves the
anchor to the newest deleted one, so what remains still verifies from the anchor.

``verify_chain`` walks one gateway's records in sequence order and returns the first problem as
a ``ChainProblem``: an edited record (its content no longer gives its hash), deleted records (a
gap, or a successor naming a hash no record has), a reordered record (it names the hash of a
record elsewhere in the chain), or newest records deleted (the head is ahead of the last one).
What it cannot see, by construction: someone who can write the database and recomputes every
later hash, the head included. Keeping the head hash elsewhere (``dockward audit verify``
prints it) closes that gap.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dockward.audit.record import AuditRecord

GENESIS = "0" * 64
_sha256 = hashlib.sha256
_TAG_TEXT = "dockward-audit-v1\n"
_TAG = _TAG_TEXT.encode("ascii")
_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def canonical(record: AuditRecord) -> bytes:
    """The bytes the record's hash covers (every field, in declaration order; ``end`` only
    when it is not empty)."""
    return _dumps(record if record.end else record[:-1]).encode("ascii")


def record_hash(prev_hash: str, record: AuditRecord) -> str:
    return _sha256(b"%s%s\n%s" % (_TAG, prev_hash.encode("ascii"), canonical(record))).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as it sits in the store: its place in the chain and the two hashes."""

    seq: int
    record: AuditRecord
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainState:
    """One gateway's chain row: where it starts (anchor) and ends (head)."""

    gateway: str
    anchor_seq: int = 0
    anchor_hash: str = GENESIS
    head_seq: int = 0
    head_hash: str = GENESIS


@dataclass(frozen=True, slots=True)
class ChainProblem:
    gateway: str
    seq: int  # the first record concerned
    kind: str  # "edited", "deleted", "reordered", "renumbered"
    detail: str

    def __str__(self) -> str:
        return f"gateway {self.gateway}: {self.detail}"


@dataclass(frozen=True, slots=True)
class ChainReport:
    gateway: str
    records: int
    head_seq: int
    head_hash: str
    problem: ChainProblem | None


def link(records: Iterable[AuditRecord], head: tuple[int, str]) -> list[StoredRecord]:
    """Chain ``records`` after ``head`` (seq, hash); the last one is the new head."""
    seq, prev = head
    out: list[StoredRecord] = []
    for record in records:
        seq += 1
        digest = record_hash(prev, record)
        out.append(StoredRecord(seq, record, prev, digest))
        prev = digest
    return out


def chain_rows(
    records: Iterable[AuditRecord], head: tuple[int, str]
) -> tuple[list[tuple[object, ...]], int, str]:
    """``link`` as a backend stores it: each record's row (its fields, seq, prev_hash, hash)
    and the new head. (The writer's own fast path is ``writer.chain_batch``.)"""
    linked = link(records, head)
    if not linked:
        return [], head[0], head[1]
    rows: list[tuple[object, ...]] = [
        (*item.record, item.seq, item.prev_hash, item.hash) for item in linked
    ]
    return rows, linked[-1].seq, linked[-1].hash


def verify_chain(
    state: ChainState,
    records: Iterable[StoredRecord],
    find_hash: Callable[[str], int | None],
) -> ChainReport:
    """Check one gateway's records (in sequence order) from its anchor to its head.

    ``find_hash(h)`` gives the sequence number of the record whose hash is ``h`` (or ``None``);
    it is asked only at a broken link, to tell a reorder from a deletion.
    """
    gateway = state.gateway
    expected_seq, expected_prev = state.anchor_seq + 1, state.anchor_hash
    count = 0
    last_seq, last_hash = state.anchor_seq, state.anchor_hash

    def report(problem: ChainProblem | None) -> ChainReport:
        return ChainReport(gateway, count, last_seq, last_hash, problem)

    for stored in records:
        seq = stored.seq
        if record_hash(stored.prev_hash, stored.record) != stored.hash:
            return report(
                ChainProblem(gateway, seq, "edited", f"record #{seq} was edited ({_when(stored)})")
            )
        if stored.prev_hash != expected_prev:
            return report(_broken_link(gateway, stored, expected_seq, find_hash))
        if seq != expected_seq:
            return report(
                ChainProblem(
                    gateway,
                    seq,
                    "renumbered",
                    f"record #{seq} follows #{expected_seq - 1}: sequence numbers were changed",
                )
            )
        count += 1
        last_seq, last_hash = seq, stored.hash
        expected_seq, expected_prev = seq + 1, stored.hash
    if state.head_seq > last_seq:
        first = last_seq + 1
        span = f"#{first}" if first == state.head_seq else f"#{first} to #{state.head_seq}"
        return report(
            ChainProblem(gateway, first, "deleted", f"the newest records {span} were deleted")
        )
    if (state.head_seq, state.head_hash) != (last_seq, last_hash):
        return report(
            ChainProblem(
                gateway,
                last_seq,
                "edited",
                f"record #{last_seq} is not the head the store recorded "
                f"(#{state.head_seq}): it was edited or replaced",
            )
        )
    return report(None)


def _broken_link(
    gateway: str,
    stored: StoredRecord,
    expected_seq: int,
    find_hash: Callable[[str], int | None],
) -> ChainProblem:
    seq = stored.seq
    named = find_hash(stored.prev_hash)
    if named is not None:
        return ChainProblem(
            gateway,
            seq,
            "reordered",
            f"record #{seq} was reordered: it follows #{named} in the chain, "
            f"not #{expected_seq - 1} ({_when(stored)})",
        )
    if seq > expected_seq:
        what = (
            f"record #{expected_seq} before #{seq} was deleted"
            if seq == expected_seq + 1
            else f"records #{expected_seq} to #{seq - 1} before #{seq} were deleted"
        )
        return ChainProblem(gateway, expected_seq, "deleted", what)
    previous = expected_seq - 1
    return ChainProblem(
        gateway,
        previous,
        "edited",
        f"record #{previous} was edited or replaced (#{seq} names another hash before it)",
    )


def _when(stored: StoredRecord) -> str:
    record = stored.record
    stamp = record.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    what = " ".join(part for part in (record.identity, record.method, record.path) if part)
    return f"{stamp} {what}".strip()
