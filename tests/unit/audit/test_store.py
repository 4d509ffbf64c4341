"""The store as an observer: batches written by a writer process, buffering and dropping while
the store cannot be written, the refuse-writes policy, retention, a writer process that dies."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
from pathlib import Path

import pytest

from dockward.audit import store as store_module
from dockward.audit.backends import open_backend
from dockward.audit.query import verify
from dockward.audit.record import RECORDS_DROPPED, AuditRecord
from dockward.audit.store import AuditStore, refuse_unrecorded
from dockward.audit.writer import EXCHANGE_FIELDS, Writer, chain_batch, to_record
from dockward.gateway.events import ExchangeRecord, Peer
from dockward.identity import PeerIdentity
from dockward.policy.decision import Decision
from support.audit_fake import batches, records
from support.waiting import wait_for

CI = PeerIdentity(kind="tls", common_name="ci", serial=7)


def event(n: int = 0, **fields: object) -> ExchangeRecord:
    values: dict[str, object] = {
        "started": 1_700_000_000 + n,
        "peer": Peer("127.0.0.1:2376", "127.0.0.1:4000", CI),
        "method": "GET",
        "path": f"/containers/{n}/json",
        "operation": "container.inspect",
        "decision": "allow",
        "status": 200,
    }
    values.update(fields)
    return ExchangeRecord(**values)  # type: ignore[arg-type]


FAKE = "support.audit_fake:open_fake"


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    """The fake backend's directory (see ``support.audit_fake``)."""
    directory = tmp_path / "fake"
    directory.mkdir()
    return directory


def down(fake: Path, error: str = "disk full") -> None:
    (fake / "down").write_text(error)


def up(fake: Path) -> None:
    (fake / "down").unlink()


def started(fake: Path, **options: object) -> AuditStore:
    store = AuditStore(str(fake), "gw", opener=FAKE, **options)  # type: ignore[arg-type]
    store.start()
    return store


def test_records_are_written_in_batches_by_the_writer_process(fake: Path) -> None:
    store = started(fake)
    count = store_module.BATCH * 2 + 5
    for n in range(count):
        store(event(n))
    assert store.drain(20)
    written = batches(fake)
    assert sum(len(batch["records"]) for batch in written) == count
    # a transaction per batch, never more than BATCH rows, and many rows each (how many depends
    # on how the writer's reads fall on a busy machine)
    assert max(len(batch["records"]) for batch in written) <= store_module.BATCH
    assert len(written) <= count // 20, [len(batch["records"]) for batch in written]
    state = store.state()
    assert {batch["pid"] for batch in written} == {state.writer_pid}
    assert state.writer_pid != os.getpid()
    kept = records(fake)
    assert {record.gateway for record in kept} == {"gw"}
    assert [record.path for record in kept[:2]] == ["/containers/0/json", "/containers/1/json"]
    assert kept[0] == AuditRecord(
        kind="exchange", gateway="gw", identity="cn:ci", serial="7", source="127.0.0.1:4000",
        listener="127.0.0.1:2376", method="GET", path="/containers/0/json",
        operation="container.inspect", decision="allow", time_us=1_700_000_000_000_000,
        status=200,
    )  # fmt: skip
    assert (state.written, state.pending, state.failing, state.dropped) == (count, 0, False, 0)
    store.close()
    assert store.state().writer_pid is None


def test_the_rows_give_the_records_the_projection_gives() -> None:
    import operator

    from dockward.audit.record import project

    fields = operator.attrgetter(*EXCHANGE_FIELDS)
    unix = PeerIdentity("unix", uid=1000, gid=1000, pid=5)
    anonymous = PeerIdentity(kind="tls", serial=99)
    for one in (
        event(3, end="client gone", reason="no", role=None, duration_ms=1.25),
        event(4, peer=Peer("unix:/run/d.sock", "unix:/run/d.sock", unix), path="/a\x00\udc80"),
        event(5, peer=Peer("l", "s", anonymous), method="PUT", status=201, reason="ü\x00"),
    ):
        assert to_record(fields(one), "gw") == project(one, "gw")


def test_the_writer_chains_rows_as_the_chain_hashes_their_records() -> None:
    import operator

    from dockward.audit.chain import GENESIS, chain_rows, record_hash

    fields = operator.attrgetter(*EXCHANGE_FIELDS)
    unix = PeerIdentity("unix", uid=1000, gid=1000, pid=5)
    dropped = AuditRecord(kind=RECORDS_DROPPED, gateway="gw", decision="dropped", status=3)
    rows = [
        fields(event(0)),
        fields(event(1, end="client gone", reason="no", role=None, duration_ms=1.25)),
        fields(event(2, peer=Peer("unix:/run/d.sock", "unix:/run/d.sock", unix), path="/a\x00")),
        ("not", "a", "row"),
        (tuple(dropped),),
        (tuple(dropped._replace(gateway="another")),),
        fields(event(0)),  # its strings again: looked up, not made
    ]
    lost: list[int] = []
    got, seq, head = chain_batch(rows, "gw", (7, "ab" * 32), lost)
    kept = [to_record(row, "gw") for at, row in enumerate(rows) if at not in (3, 5)]
    assert lost == [3, 5]
    assert (got, seq, head) == chain_rows(kept, (7, "ab" * 32))
    assert got[0][-2] == "ab" * 32 and got[-1][-1] == head
    assert all(record_hash(row[-2], AuditRecord(*row[:-3])) == row[-1] for row in got)
    assert chain_batch([], "gw", (0, GENESIS), lost) == ([], 0, GENESIS)


def test_events_it_does_not_keep_are_skipped(fake: Path) -> None:
    store = started(fake)
    store(object())
    store(event(1))
    assert store.drain(20)
    assert len(records(fake)) == 1
    store.close()


def test_a_failing_store_buffers_then_refuses_writes_then_drops(
    fake: Path, caplog: pytest.LogCaptureFixture
) -> None:
    down(fake)
    store = started(fake, buffer=200)
    store(event(0))
    wait_for(lambda: store.state().failing, what="the first failed write")
    state = store.state()
    assert state.last_error == "disk full"
    assert state.accepting_writes  # the buffer absorbs an outage first
    for n in range(1, 180):
        store(event(n))
    assert store.accepting_writes()
    store(event(180))
    assert not store.accepting_writes()  # nine tenths of 200 are waiting
    assert not store.state().accepting_writes
    for n in range(181, 260):
        store(event(n))
    state = store.state()
    assert state.dropped == 59  # event 0 is in hand, 1 to 200 wait, 201 to 259 are dropped
    assert state.pending == 200 + 1
    up(fake)
    assert store.drain(20)
    written = records(fake)
    assert len(written) == 201 + 1
    assert [r.path for r in written[:2]] == ["/containers/0/json", "/containers/1/json"]
    assert written[200].path == "/containers/200/json"
    marker = written[201]  # after what was kept: where the gap is
    assert (marker.kind, marker.status, marker.gateway) == (RECORDS_DROPPED, 59, "gw")
    assert marker.reason == "59 records dropped: the audit store could not be written"
    state = store.state()
    assert (state.failing, state.last_error, state.accepting_writes) == (False, "", True)
    store.close()
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("cannot write the audit store SQLite " in m and ": disk full" in m for m in messages)
    assert any("refusing write operations" in m for m in messages)
    assert any("records were dropped since" in m for m in messages)
    assert any("is written again" in m for m in messages)


def test_continue_keeps_accepting_writes_while_dropping(fake: Path) -> None:
    down(fake)
    store = started(fake, buffer=100, on_failure="continue")
    for n in range(150):
        store(event(n))
    assert store.accepting_writes()
    assert store.state().dropped >= 49
    store.close(timeout=2)


def test_close_writes_what_waits(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    store = AuditStore(str(path), "gw")
    store.start()
    for n in range(500):
        store(event(n))
    store.close()
    backend = open_backend(str(path), create=False)
    [report] = verify(backend)
    backend.close()
    assert (report.gateway, report.records, report.problem) == ("gw", 500, None)


def test_close_says_what_could_not_be_written(fake: Path, caplog: pytest.LogCaptureFixture) -> None:
    down(fake)
    store = started(fake)
    for n in range(5):
        store(event(n))
    store.close(timeout=5)
    assert any(
        "5 records could not be written before stopping" in r.getMessage() for r in caplog.records
    )


def test_retention_prunes_this_gateways_records(fake: Path) -> None:
    store = started(fake, retention_days=2)
    pruned = fake / "pruned.jsonl"
    wait_for(pruned.exists, what="a prune")
    store.close()
    (gateway, before_us), *_ = (line.split(",") for line in pruned.read_text().splitlines())
    assert gateway == '["gw"'
    assert int(before_us.rstrip("]")) < (store_module.time.time() - 2 * 86400 + 60) * 1_000_000


def test_a_failed_open_is_a_failure(fake: Path) -> None:
    (fake / "refuse-open").write_text("connection refused")
    store = started(fake)
    store(event())
    wait_for(lambda: store.state().failing, what="a failed open")
    assert store.state().last_error == "connection refused"
    store.close(timeout=2)


def test_a_killed_writer_refuses_writes_then_another_writes_everything(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.sqlite3"
    store = AuditStore(str(path), "gw")
    store.start()
    for n in range(300):
        store(event(n))
    assert store.drain(20)
    first = store.state().writer_pid
    assert first is not None
    for n in range(300, 400):
        store(event(n))  # some of these may be on their way when it dies
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: store.state().failing, what="the death noticed")
    state = store.state()
    assert "ended (killed by signal 9)" in state.last_error
    wait_for(lambda: not store.state().failing, what="another writer")
    state = store.state()
    assert state.writer_pid not in (None, first)
    assert (state.writer_restarts, state.accepting_writes) == (1, True)
    for n in range(400, 450):
        store(event(n))
    assert store.drain(20)
    store.close()
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(f"the writer process {first} ended (killed by signal 9)" in m for m in messages)
    assert any("is written again" in m for m in messages)
    backend = open_backend(str(path), create=False)
    try:
        [report] = verify(backend)
        paths = [stored.record.path for stored in backend.stored("gw")]
    finally:
        backend.close()
    assert (report.records, report.problem) == (450, None)
    assert paths == [f"/containers/{n}/json" for n in range(450)]  # each once, in order


def test_while_the_writer_is_down_writes_are_refused(fake: Path) -> None:
    store = started(fake)
    store(event(0))
    assert store.drain(20)
    assert store.accepting_writes()
    store._down = True  # as between a writer's death and the next one's start
    refused = refuse_unrecorded(ALLOW, "write", store)
    assert (refused.allowed, refused.status, refused.rule) == (False, 503, "audit-store")
    assert refuse_unrecorded(ALLOW, "read", store) is ALLOW
    continuing = AuditStore(str(fake), "gw", on_failure="continue")
    continuing._down = True
    assert continuing.accepting_writes()
    store._down = False
    store.close()


def test_a_new_writer_skips_what_the_dead_one_wrote_but_did_not_confirm(tmp_path: Path) -> None:
    import operator

    fields = operator.attrgetter(*EXCHANGE_FIELDS)
    database = str(tmp_path / "audit.sqlite3")
    rows = [fields(event(n)) for n in range(10)]
    said: list[tuple[object, ...]] = []

    def run(writer: Writer, first: int) -> None:
        thread = threading.Thread(target=writer.run)
        thread.start()
        writer.feed(first, rows[first:])
        writer.end()
        thread.join(20)

    run(Writer(database, "gw", said.append), 0)  # wrote 0 to 9; say only 0 to 4 were written
    run(Writer(database, "gw", said.append, first_row=5), 5)
    assert said[-1][:3] == ("ok", 10, 10)
    backend = open_backend(database, create=False)
    try:
        [report] = verify(backend)
        paths = [stored.record.path for stored in backend.stored("gw")]
    finally:
        backend.close()
    assert (report.records, report.problem) == (10, None)
    assert paths == [f"/containers/{n}/json" for n in range(10)]
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM audit_record").fetchone() == (10,)


ALLOW = Decision(allowed=True, operation="container.create", rule="r", role="ci")


def test_refuse_unrecorded_refuses_only_changes_while_the_store_is_full(fake: Path) -> None:
    down(fake)
    store = started(fake, buffer=100)
    assert refuse_unrecorded(ALLOW, "write", store) is ALLOW
    for n in range(100):
        store(event(n))
    refused = refuse_unrecorded(ALLOW, "write", store)
    assert (refused.allowed, refused.status, refused.rule, refused.role) == (
        False,
        503,
        "audit-store",
        "ci",
    )
    assert "audit store" in refused.reason
    assert refuse_unrecorded(ALLOW, "admin", store).allowed is False
    assert refuse_unrecorded(ALLOW, "exfiltrate", store).allowed is False
    assert refuse_unrecorded(ALLOW, "read", store) is ALLOW
    denied = Decision(allowed=False, operation="x", rule="r")
    assert refuse_unrecorded(denied, "write", store) is denied
    assert refuse_unrecorded(ALLOW, "write", None) is ALLOW
    store.close(timeout=2)


def test_a_row_the_writer_cannot_read_is_logged_and_the_rest_is_written(tmp_path: Path) -> None:
    import operator

    fields = operator.attrgetter(*EXCHANGE_FIELDS)
    database = str(tmp_path / "audit.sqlite3")
    said: list[tuple[object, ...]] = []
    writer = Writer(database, "gw", said.append)
    thread = threading.Thread(target=writer.run)
    thread.start()
    writer.feed(0, [fields(event(0)), ("not", "a", "row"), fields(event(2))])
    writer.end()
    thread.join(20)
    assert [m[:3] for m in said if m[0] == "ok"] == [("ok", 3, 3)]
    [lost] = [m for m in said if m[0] == "log"]
    assert lost[1] == logging.ERROR and "a row is lost" in str(lost[2])
    backend = open_backend(database, create=False)
    try:
        assert [s.record.path for s in backend.stored("gw")] == [
            "/containers/0/json",
            "/containers/2/json",
        ]
    finally:
        backend.close()


def test_a_writer_that_cannot_be_started_again_is_retried(
    fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = started(fake)
    store(event(0))
    assert store.drain(20)
    first = store.state().writer_pid
    assert first is not None
    real_popen = store_module.subprocess.Popen

    def no_process(*args: object, **kwargs: object) -> None:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(store_module.subprocess, "Popen", no_process)
    os.kill(first, signal.SIGKILL)
    wait_for(
        lambda: "cannot start the writer process" in store.state().last_error,
        what="the failed start",
    )
    assert not store.accepting_writes()
    store(event(1))
    monkeypatch.setattr(store_module.subprocess, "Popen", real_popen)
    store._next_start = 0.0  # instead of waiting for the retry
    assert store.drain(20)
    assert [record.path for record in records(fake)] == ["/containers/0/json", "/containers/1/json"]
    assert store.accepting_writes()
    store.close()
