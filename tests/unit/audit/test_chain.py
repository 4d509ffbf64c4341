"""The hash chain: what verification says about edited, deleted, reordered and pruned records."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json

from dockward.audit.chain import (
    GENESIS,
    ChainState,
    StoredRecord,
    canonical,
    chain_rows,
    link,
    record_hash,
    verify_chain,
)
from dockward.audit.record import AuditRecord


def records(count: int, gateway: str = "gw") -> list[AuditRecord]:
    return [
        AuditRecord(
            kind="exchange",
            time_us=1_700_000_000_000_000 + n * 1_000_000,
            gateway=gateway,
            identity="cn:ci-runner",
            method="POST",
            path=f"/containers/c{n}/start",
            operation="container.start",
            decision="allow",
            status=204,
        )
        for n in range(count)
    ]


def chain(count: int) -> tuple[ChainState, list[StoredRecord]]:
    stored = link(records(count), (0, GENESIS))
    state = ChainState("gw", head_seq=stored[-1].seq, head_hash=stored[-1].hash)
    return state, stored


def check(state: ChainState, stored: list[StoredRecord]):  # type: ignore[no-untyped-def]
    ordered = sorted(stored, key=lambda item: item.seq)
    hashes = {item.hash: item.seq for item in ordered}
    return verify_chain(state, ordered, hashes.get)


def test_an_untouched_chain_verifies_to_its_head() -> None:
    state, stored = chain(5)
    report = check(state, stored)
    assert report.problem is None
    assert (report.records, report.head_seq, report.head_hash) == (5, 5, stored[-1].hash)
    assert [item.seq for item in stored] == [1, 2, 3, 4, 5]
    assert stored[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))


def test_the_hash_covers_every_field() -> None:
    record = records(1)[0]
    base = record_hash(GENESIS, record)
    for name in AuditRecord._fields:
        value = getattr(record, name)
        changed = record._replace(**{name: value + 1 if isinstance(value, int) else value + "x"})
        assert record_hash(GENESIS, changed) != base, name
    assert record_hash("1" * 64, record) != base


def test_the_writers_rows_are_the_linked_records() -> None:
    odd = records(2)[1]._replace(path='/é"\\x00', reason="\u2028", status=-1)
    cut = records(3)[2]._replace(end="cut by drain")
    given = [*records(4), odd, cut, odd, records(1)[0]]
    linked = link(given, (7, "a" * 64))
    rows, seq, head = chain_rows(given, (7, "a" * 64))
    assert rows == [(*item.record, item.seq, item.prev_hash, item.hash) for item in linked]
    assert (seq, head) == (15, linked[-1].hash)


def test_canonical_form_is_plain_ascii_json_in_field_order() -> None:
    record = AuditRecord(kind="exchange", time_us=1, gateway="gw", path="/é", status=200)
    assert canonical(record) == (
        b'["exchange","gw","","","","","","","/\\u00e9","","","","",1,200,0,0,0]'
    )
    # ``end`` only when the exchange did not complete: older records keep their hashes
    assert canonical(record._replace(end="client gone")) == (
        b'["exchange","gw","","","","","","","/\\u00e9","","","","",1,200,0,0,0,"client gone"]'
    )


def test_a_record_hashed_before_the_end_field_existed_still_verifies() -> None:
    record = records(1)[0]
    old_bytes = json.dumps(list(record[:-1]), separators=(",", ":")).encode()
    old_hash = hashlib.sha256(b"dockward-audit-v1\n" + GENESIS.encode() + b"\n" + old_bytes)
    assert record_hash(GENESIS, record) == old_hash.hexdigest()
    stored = [StoredRecord(1, record, GENESIS, old_hash.hexdigest())]
    state = ChainState("gw", head_seq=1, head_hash=old_hash.hexdigest())
    assert check(state, stored).problem is None
    edited = [dataclasses.replace(stored[0], record=record._replace(end="timed out"))]
    assert check(state, edited).problem is not None


def test_an_edited_record_is_named() -> None:
    state, stored = chain(5)
    stored[2] = dataclasses.replace(stored[2], record=stored[2].record._replace(decision="deny"))
    problem = check(state, stored).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("edited", 3)
    assert str(problem).startswith("gateway gw: record #3 was edited (2023-11-14T22:13:22.000Z")


def test_an_edit_with_its_hash_recomputed_is_caught_at_the_next_record() -> None:
    state, stored = chain(5)
    edited = stored[1].record._replace(identity="cn:someone-else")
    stored[1] = dataclasses.replace(
        stored[1], record=edited, hash=record_hash(stored[1].prev_hash, edited)
    )
    problem = check(state, stored).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("edited", 2)


def test_an_edit_of_the_newest_record_with_its_hash_recomputed_is_caught_at_the_head() -> None:
    state, stored = chain(3)
    edited = stored[2].record._replace(status=500)
    stored[2] = dataclasses.replace(
        stored[2], record=edited, hash=record_hash(stored[2].prev_hash, edited)
    )
    problem = check(state, stored).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("edited", 3)


def test_a_deleted_record_is_named() -> None:
    state, stored = chain(5)
    del stored[2]
    problem = check(state, stored).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("deleted", 3)
    assert "record #3 before #4 was deleted" in str(problem)


def test_deleted_oldest_and_newest_records_are_caught() -> None:
    state, stored = chain(5)
    problem = check(state, stored[2:]).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("deleted", 1)
    assert "records #1 to #2 before #3 were deleted" in str(problem)
    problem = check(state, stored[:3]).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("deleted", 4)
    assert "the newest records #4 to #5 were deleted" in str(problem)


def test_swapped_records_are_reported_as_reordered() -> None:
    state, stored = chain(5)
    stored[1], stored[2] = (
        dataclasses.replace(stored[2], seq=2),
        dataclasses.replace(stored[1], seq=3),
    )
    problem = check(state, stored).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("reordered", 2)
    assert "it follows #3 in the chain, not #1" in str(problem)


def test_retention_re_anchors_the_chain_and_it_still_verifies() -> None:
    state, stored = chain(6)
    anchor = stored[2]
    pruned = ChainState("gw", anchor.seq, anchor.hash, state.head_seq, state.head_hash)
    report = check(pruned, stored[3:])
    assert report.problem is None
    assert report.records == 3
    # without the anchor, the same rows are a deletion
    assert check(state, stored[3:]).problem is not None
    # a record removed after the anchor is still caught
    problem = check(pruned, stored[4:]).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("deleted", 4)


def test_everything_pruned_leaves_anchor_equal_to_head() -> None:
    _state, stored = chain(3)
    pruned = ChainState("gw", 3, stored[-1].hash, 3, stored[-1].hash)
    report = check(pruned, [])
    assert report.problem is None
    continued = link(records(2), (3, stored[-1].hash))
    report = check(
        ChainState("gw", 3, stored[-1].hash, continued[-1].seq, continued[-1].hash), continued
    )
    assert report.problem is None
    assert report.records == 2
