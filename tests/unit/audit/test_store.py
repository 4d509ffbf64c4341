"""The store as an observer: batches off the event loop, buffering and dropping while the store
cannot be written, the refuse-writes policy, retention."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from dockward.audit import store as store_module
from dockward.audit.backends import StoreUnavailable, open_backend
from dockward.audit.chain import ChainState, StoredRecord
from dockward.audit.query import verify
from dockward.audit.record import RECORDS_DROPPED, AuditRecord
from dockward.audit.store import AuditStore, refuse_unrecorded
from dockward.gateway.events import ExchangeRecord, Peer
from dockward.identity import PeerIdentity
from dockward.policy.decision import Decision
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


class FakeBackend:
    """Records what it is given, and from which thread; fails while ``down``."""

    description = "fake"
    usable = True

    def __init__(self) -> None:
        self.batches: list[list[AuditRecord]] = []
        self.threads: set[str] = set()
        self.down = False
        self.pruned: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    @property
    def records(self) -> list[AuditRecord]:
        with self.lock:
            return [record for batch in self.batches for record in batch]

    def append(self, gateway: str, records: Sequence[AuditRecord]) -> int:
        self.threads.add(threading.current_thread().name)
        if self.down:
            raise StoreUnavailable("disk full")
        with self.lock:
            self.batches.append(list(records))
        return 0

    def prune(self, gateway: str, before_us: int) -> int:
        self.pruned.append((gateway, before_us))
        return 0

    def chains(self) -> list[ChainState]:
        return []

    def stored(self, gateway: str) -> Iterator[StoredRecord]:
        return iter(())

    def find_hash(self, gateway: str, digest: str) -> int | None:
        return None

    def select(self, wanted: object) -> Iterator[AuditRecord]:
        return iter(())

    def close(self) -> None:
        pass


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend()


def started(fake: FakeBackend, **options: object) -> AuditStore:
    store = AuditStore("fake", "gw", opener=lambda _: fake, **options)  # type: ignore[arg-type]
    store.start()
    return store


def test_records_are_written_in_batches_by_the_writer_thread(fake: FakeBackend) -> None:
    store = started(fake)
    for n in range(store_module.BATCH * 2 + 5):
        store(event(n))
    assert store.drain(10)
    assert len(fake.records) == store_module.BATCH * 2 + 5
    # a transaction per batch, full ones when the queue is long
    assert max(len(batch) for batch in fake.batches) == store_module.BATCH
    assert len(fake.batches) < 10
    assert fake.threads == {"dockward-audit"}
    assert {record.gateway for record in fake.records} == {"gw"}
    assert [record.path for record in fake.records[:2]] == [
        "/containers/0/json",
        "/containers/1/json",
    ]
    state = store.state()
    assert (state.written, state.pending, state.failing, state.dropped) == (
        store_module.BATCH * 2 + 5,
        0,
        False,
        0,
    )
    store.close()


def test_events_it_does_not_keep_are_skipped(fake: FakeBackend) -> None:
    store = started(fake)
    store(object())
    store(event(1))
    assert store.drain(10)
    assert len(fake.records) == 1
    store.close()


def test_a_failing_store_buffers_then_refuses_writes_then_drops(
    fake: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    fake.down = True
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
    fake.down = False
    assert store.drain(10)
    written = fake.records
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
    assert any("cannot write the audit store fake: disk full" in m for m in messages)
    assert any("refusing write operations" in m for m in messages)
    assert any("records were dropped since" in m for m in messages)
    assert any("is written again" in m for m in messages)


def test_continue_keeps_accepting_writes_while_dropping(fake: FakeBackend) -> None:
    fake.down = True
    store = started(fake, buffer=100, on_failure="continue")
    for n in range(150):
        store(event(n))
    assert store.accepting_writes()
    assert store.state().dropped >= 49
    store.close(timeout=1)


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


def test_close_says_what_could_not_be_written(
    fake: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    fake.down = True
    store = started(fake)
    for n in range(5):
        store(event(n))
    store.close(timeout=5)
    assert any(
        "5 records could not be written before stopping" in r.getMessage() for r in caplog.records
    )


def test_retention_prunes_this_gateways_records(fake: FakeBackend) -> None:
    store = started(fake, retention_days=2)
    wait_for(lambda: fake.pruned, what="a prune")
    store.close()
    (gateway, _before_us), *_ = fake.pruned
    assert gateway == "gw"
    assert fake.pruned[0][1] < (store_module.time.time() - 2 * 86400 + 60) * 1_000_000


def test_the_store_opens_only_in_its_thread_and_a_failed_open_is_a_failure() -> None:
    opened: list[str] = []

    def opener(database: str) -> FakeBackend:
        opened.append(threading.current_thread().name)
        raise StoreUnavailable("connection refused")

    store = AuditStore("x", "gw", opener=opener)
    store.start()
    store(event())
    wait_for(lambda: store.state().failing, what="a failed open")
    assert store.state().last_error == "connection refused"
    assert set(opened) == {"dockward-audit"}
    store.close(timeout=1)


ALLOW = Decision(allowed=True, operation="container.create", rule="r", role="ci")


def test_refuse_unrecorded_refuses_only_changes_while_the_store_is_full(fake: FakeBackend) -> None:
    fake.down = True
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
    store.close(timeout=1)
