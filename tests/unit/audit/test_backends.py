"""The two backends behind one interface: append, chain, select, prune, verify (SQLite and a
real PostgreSQL)."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import stat
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from dockward.audit.backends import (
    Backend,
    RecordFilter,
    SqliteBackend,
    StoreUnavailable,
    open_backend,
)
from dockward.audit.chain import GENESIS, link
from dockward.audit.query import verify
from dockward.audit.record import AuditRecord
from dockward.errors import UsageError

T0 = 1_700_000_000_000_000


def make(n: int, gateway: str = "gw-a", **fields: object) -> AuditRecord:
    values: dict[str, object] = {
        "kind": "exchange",
        "time_us": T0 + n * 1_000_000,
        "gateway": gateway,
        "identity": "cn:ci-runner",
        "role": "ci",
        "source": "127.0.0.1:4000",
        "method": "GET",
        "path": "/containers/json",
        "operation": "container.list",
        "decision": "allow",
        "status": 200,
    }
    values.update(fields)
    return AuditRecord(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "audit.sqlite3")
    server = request.getfixturevalue("postgres")
    return str(server.create_database(f"t_{uuid.uuid4().hex[:10]}"))


@pytest.fixture
def backend(database: str) -> Iterator[Backend]:
    opened = open_backend(database)
    yield opened
    opened.close()


def test_append_chains_each_gateway_on_its_own(backend: Backend) -> None:
    assert backend.append("gw-a", [make(0), make(1)]) == 2
    assert backend.append("gw-b", [make(0, "gw-b")]) == 1
    assert backend.append("gw-a", [make(2)]) == 3
    assert backend.append("gw-a", []) == 3
    chains = {state.gateway: state for state in backend.chains()}
    assert {name: state.head_seq for name, state in chains.items()} == {"gw-a": 3, "gw-b": 1}
    reports = verify(backend)
    assert [(r.gateway, r.records, r.problem) for r in reports] == [
        ("gw-a", 3, None),
        ("gw-b", 1, None),
    ]
    stored = list(backend.stored("gw-a"))
    assert [item.record for item in stored] == [make(0), make(1), make(2)]
    assert stored[1].prev_hash == stored[0].hash


def test_a_large_batch_keeps_every_record_in_order_and_verifies(backend: Backend) -> None:
    # SQLite inserts many records a statement: whole groups and the rest must all land, in order
    batch = [make(n, path=f"/containers/{n}/json") for n in range(103)]
    assert backend.append("gw-a", batch[:100]) == 100
    assert backend.append("gw-a", batch[100:]) == 103
    assert [(r.records, r.problem) for r in verify(backend)] == [(103, None)]
    assert [item.record for item in backend.stored("gw-a")] == batch
    assert [item.seq for item in backend.stored("gw-a")] == list(range(1, 104))


def test_a_record_of_another_gateway_is_refused(backend: Backend) -> None:
    with pytest.raises(ValueError, match="another gateway"):
        backend.append("gw-a", [make(0, "gw-b")])


def test_select_filters(backend: Backend) -> None:
    backend.append(
        "gw-a",
        [
            make(0),
            make(1, decision="deny", operation="container.create", method="POST", status=403),
            make(2, identity="cn:admin", role="admin", operation="image.list"),
            make(3, identity="uid:1000", role="local", decision="audit-deny"),
        ],
    )
    backend.append("gw-b", [make(4, "gw-b", decision="refuse", kind="connection.refused")])

    def times(**conditions: object) -> list[int]:
        wanted = RecordFilter(**conditions)  # type: ignore[arg-type]
        return [(r.time_us - T0) // 1_000_000 for r in backend.select(wanted)]

    assert times() == [0, 1, 2, 3, 4]
    assert times(since_us=T0 + 1_000_000, until_us=T0 + 3_000_000) == [1, 2]
    assert times(identities=("cn:admin", "uid:1000")) == [2, 3]
    assert times(role="ci") == [0, 1, 4]
    assert times(operation="container.create") == [1]
    assert times(operation="container.*") == [0, 1, 3, 4]
    assert times(decisions=("deny", "audit-deny", "refuse")) == [1, 3, 4]
    assert times(gateway="gw-b") == [4]


def test_prune_re_anchors_and_the_rest_still_verifies(backend: Backend) -> None:
    backend.append("gw-a", [make(n) for n in range(6)])
    backend.append("gw-b", [make(n, "gw-b") for n in range(3)])
    assert backend.prune("gw-a", T0 + 4_000_000) == 4
    assert [r.seq for r in backend.stored("gw-a")] == [5, 6]
    state = next(s for s in backend.chains() if s.gateway == "gw-a")
    assert (state.anchor_seq, state.head_seq) == (4, 6)
    assert all(report.problem is None for report in verify(backend))
    assert len(list(backend.stored("gw-b"))) == 3  # another gateway's records are its own
    backend.append("gw-a", [make(9)])
    assert backend.prune("gw-a", T0 + 100_000_000) == 3  # everything: anchor = head
    state = next(s for s in backend.chains() if s.gateway == "gw-a")
    assert (state.anchor_seq, state.head_seq, state.anchor_hash) == (7, 7, state.head_hash)
    backend.append("gw-a", [make(10)])
    assert all(report.problem is None for report in verify(backend))
    assert backend.prune("gw-a", T0) == 0


def test_prune_keeps_what_follows_a_record_that_started_late(backend: Backend) -> None:
    # a long stream is recorded when it ends, with the time it started: sequence and time
    # disagree, and nothing after the first recent record goes
    backend.append("gw-a", [make(0), make(10), make(1), make(11)])
    assert backend.prune("gw-a", T0 + 5_000_000) == 1
    assert [r.seq for r in backend.stored("gw-a")] == [2, 3, 4]


def test_the_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    backend = open_backend(str(path))
    backend.append("gw-a", [make(0)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "audit.sqlite3-wal").stat().st_mode) == 0o600
    backend.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_reading_a_missing_sqlite_store_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no audit store at"):
        open_backend(str(tmp_path / "none.sqlite3"), create=False)
    assert not (tmp_path / "none.sqlite3").exists()


def test_a_store_that_cannot_be_written_raises_store_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="cannot create"):
        SqliteBackend(tmp_path / "missing-dir" / "audit.sqlite3")
    path = tmp_path / "audit.sqlite3"
    backend = open_backend(str(path))
    backend.append("gw-a", [make(0)])
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE audit_record")
    with pytest.raises(StoreUnavailable, match="no such table"):
        backend.append("gw-a", [make(1)])
    backend.close()


def test_postgres_is_unavailable_when_nothing_listens() -> None:
    with pytest.raises(StoreUnavailable, match=r"PostgreSQL 127\.0\.0\.1:1/x"):
        open_backend("postgresql://u@127.0.0.1:1/x")


def test_postgres_url_never_shows_its_password() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        open_backend("postgresql://u:s3cret@127.0.0.1:1/x")
    assert "s3cret" not in str(caught.value)


def test_a_changed_record_in_the_database_is_caught(backend: Backend, database: str) -> None:
    backend.append("gw-a", [make(n) for n in range(4)])
    sql = "UPDATE audit_record SET decision = 'allow', status = 201 WHERE seq = 2"
    if database.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(database, autocommit=True) as db:
            db.execute(sql)
    else:
        with sqlite3.connect(database) as db:
            db.execute(sql)
    problem = verify(backend)[0].problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("edited", 2)
    assert dataclasses.asdict(problem)["gateway"] == "gw-a"


def test_a_postgres_reader_needs_only_select(postgres) -> None:  # type: ignore[no-untyped-def]
    url = postgres.create_database(f"t_{uuid.uuid4().hex[:10]}")
    writer = open_backend(url)
    writer.append("gw-a", [make(0), make(1)])
    writer.close()
    name = url.rsplit("/", 1)[1]
    if not _role_exists(url):  # roles belong to the server, which the session shares
        postgres.execute(url, "CREATE ROLE auditor LOGIN")
    postgres.execute(url, "GRANT SELECT ON audit_record, audit_chain TO auditor")
    reader = open_backend(f"postgresql://auditor@127.0.0.1:{postgres.port}/{name}", create=False)
    try:
        assert [r.problem for r in verify(reader)] == [None]
        assert len(list(reader.select(RecordFilter()))) == 2
        with pytest.raises(StoreUnavailable, match="permission denied"):
            reader.append("gw-a", [make(2)])
    finally:
        reader.close()


def _role_exists(url: str) -> bool:
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute("SELECT 1 FROM pg_roles WHERE rolname = 'auditor'").fetchone() is not None


# the tables as the first stores had them, before the ``end`` column
OLD_SCHEMA = (
    "CREATE TABLE audit_record (kind TEXT NOT NULL, gateway TEXT NOT NULL,"
    " identity TEXT NOT NULL, serial TEXT NOT NULL, role TEXT NOT NULL, source TEXT NOT NULL,"
    " listener TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,"
    " operation TEXT NOT NULL, decision TEXT NOT NULL, rule TEXT NOT NULL,"
    " reason TEXT NOT NULL, time_us BIGINT NOT NULL, status BIGINT NOT NULL,"
    " bytes_in BIGINT NOT NULL, bytes_out BIGINT NOT NULL, duration_us BIGINT NOT NULL,"
    " seq BIGINT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,"
    " PRIMARY KEY (gateway, seq))",
    "CREATE TABLE audit_chain (gateway TEXT PRIMARY KEY, head_seq BIGINT NOT NULL,"
    " head_hash TEXT NOT NULL, anchor_seq BIGINT NOT NULL, anchor_hash TEXT NOT NULL,"
    " anchor_time_us BIGINT NOT NULL)",
)


def _by_hand(database: str, statements: Sequence[tuple[str, Sequence[object]]]) -> None:
    if database.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(database, autocommit=True) as db:
            for sql, params in statements:
                db.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
    else:
        with contextlib.closing(sqlite3.connect(database)) as db, db:
            for sql, params in statements:
                db.execute(sql, params)


def old_store(database: str, count: int) -> None:
    """A store as the gateway wrote it before the ``end`` column: ``count`` chained records."""
    stored = link([make(n) for n in range(count)], (0, GENESIS))
    rows = [
        (*item.record[:-1], item.seq, item.prev_hash, item.hash)  # no end
        for item in stored
    ]
    marks = ", ".join("?" for _ in rows[0])
    _by_hand(
        database,
        [(sql, ()) for sql in OLD_SCHEMA]
        + [(f"INSERT INTO audit_record VALUES ({marks})", row) for row in rows]
        + [
            (
                "INSERT INTO audit_chain VALUES (?, ?, ?, 0, ?, 0)",
                ("gw-a", stored[-1].seq, stored[-1].hash, GENESIS),
            )
        ],
    )


def test_a_store_made_before_the_end_column_is_read_migrated_and_still_verifies(
    database: str,
) -> None:
    old_store(database, 3)
    reader = open_backend(database, create=False)  # dockward audit on a store not migrated
    try:
        assert [r.problem for r in verify(reader)] == [None]
        assert [r.end for r in reader.select(RecordFilter())] == ["", "", ""]
    finally:
        reader.close()
    writer = open_backend(database)  # the gateway: adds the column
    try:
        writer.append("gw-a", [make(3, end="client gone"), make(4)])
        [report] = verify(writer)
        assert (report.records, report.problem) == (5, None)
        assert [r.end for r in writer.select(RecordFilter())] == ["", "", "", "client gone", ""]
    finally:
        writer.close()
    again = open_backend(database)  # opening a migrated store changes nothing
    again.close()
    # the end is covered by the hash: changed by hand, verify names the record
    _by_hand(database, [("UPDATE audit_record SET \"end\" = '' WHERE seq = 4", ())])
    reader = open_backend(database, create=False)
    try:
        problem = verify(reader)[0].problem
        assert problem is not None
        assert (problem.kind, problem.seq) == ("edited", 4)
    finally:
        reader.close()
