"""Where audit records are kept: SQLite (one host) or PostgreSQL (a fleet), one schema, one API.

Both backends hold two tables. ``audit_record`` has one row per record: the record's fields,
its gateway's sequence number, ``prev_hash`` and ``hash`` (see ``audit.chain``).
``audit_chain`` has one row per gateway: the head (newest record) and the anchor (the newest
record retention removed). ``append`` writes a batch in one transaction that locks its gateway's
chain row, so gateways sharing a database never interleave their chains, and two processes
that share a gateway name extend one chain instead of forking it.

SQLite runs in WAL mode (readers such as ``dockward audit`` never block the gateway) with
``synchronous=NORMAL``: a power cut may lose the last transactions but never breaks the chain.
The database file is created 0600; SQLite gives its ``-wal`` and ``-shm`` files the same mode.
PostgreSQL is reached with psycopg 3 (``postgresql://`` URLs, libpq's rules, ``PG*`` variables).

Nothing here runs in the gateway process: the audit store's writer process (``audit.writer``)
calls ``append``, ``prune`` and ``last``, ``dockward audit`` the readers.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from dockward.audit.chain import GENESIS, ChainState, StoredRecord, chain_rows
from dockward.audit.record import FIELD_NAMES, AuditRecord
from dockward.errors import UsageError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")

_COLUMNS = (*FIELD_NAMES, "seq", "prev_hash", "hash")
_INTEGERS = {"time_us", "status", "bytes_in", "bytes_out", "duration_us"}


def _column(name: str) -> str:
    return '"end"' if name == "end" else name  # END is an SQL keyword


def _column_type(name: str) -> str:
    if name == "end":  # added after the first stores were made: empty in their records
        return "TEXT NOT NULL DEFAULT ''"
    return f"{'BIGINT' if name in _INTEGERS else 'TEXT'} NOT NULL"


_COLUMN_LIST = ", ".join(_column(name) for name in _COLUMNS)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS audit_record ("
    + ", ".join(f"{_column(name)} {_column_type(name)}" for name in FIELD_NAMES)
    + ", seq BIGINT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,"
    " PRIMARY KEY (gateway, seq))",
    "CREATE INDEX IF NOT EXISTS audit_record_time ON audit_record (time_us)",
    "CREATE TABLE IF NOT EXISTS audit_chain ("
    "gateway TEXT PRIMARY KEY, head_seq BIGINT NOT NULL, head_hash TEXT NOT NULL,"
    " anchor_seq BIGINT NOT NULL, anchor_hash TEXT NOT NULL, anchor_time_us BIGINT NOT NULL)",
)
# the migration of a store made before the ``end`` column (its records keep their hashes)
_ADD_END = f"ALTER TABLE audit_record ADD COLUMN {_column('end')} {_column_type('end')}"
_INSERT = f"INSERT INTO audit_record ({_COLUMN_LIST}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
# SQLite: records inserted this many at a time by one statement (its parameters stay under 999,
# the limit of SQLite before 3.32), about a fifth cheaper per record than a statement each
_ROWS_AT_ONCE = 999 // len(_COLUMNS)
_INSERT_MANY = f"INSERT INTO audit_record ({_COLUMN_LIST}) VALUES " + ", ".join(
    [f"({', '.join('?' for _ in _COLUMNS)})"] * _ROWS_AT_ONCE
)
# PostgreSQL: the records by binary COPY (about half the client's CPU of the text format)
_COPY = f"COPY audit_record ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ["int8" if name in _INTEGERS or name == "seq" else "text" for name in _COLUMNS]
_NEW_CHAIN = (
    "INSERT INTO audit_chain (gateway, head_seq, head_hash, anchor_seq, anchor_hash,"
    f" anchor_time_us) VALUES (?, 0, '{GENESIS}', 0, '{GENESIS}', 0)"
    " ON CONFLICT (gateway) DO NOTHING"
)
_CHAIN_COLUMNS = "gateway, anchor_seq, anchor_hash, head_seq, head_hash"
_SELECT = f"SELECT {_COLUMN_LIST} FROM audit_record"
# reading a store not migrated yet (``dockward audit`` only reads): no record there has an end
_SELECT_BEFORE_END = (
    "SELECT "
    + ", ".join("'' AS \"end\"" if name == "end" else _column(name) for name in _COLUMNS)
    + " FROM audit_record"
)


# what ``append_rows`` is given: the rows to insert after a head, and the new head
Chainer = Callable[[tuple[int, str]], tuple[list[tuple[object, ...]], int, str]]


class StoreUnavailable(Exception):
    """The store cannot be read or written now (disk full, database down, missing file)."""


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """What ``dockward audit`` asks for; ``None`` or empty: no condition."""

    since_us: int | None = None
    until_us: int | None = None
    identities: tuple[str, ...] = ()  # any of these identity labels
    role: str | None = None
    operation: str | None = None  # exact, or a prefix ending in "*" ("container.*")
    decisions: tuple[str, ...] = ()
    gateway: str | None = None


class Backend(Protocol):
    """One database holding the records of one or more gateways."""

    description: str

    @property
    def usable(self) -> bool:
        """False when the connection is lost and must be opened anew (after a failure)."""
        ...

    def append(self, gateway: str, records: Sequence[AuditRecord]) -> int: ...

    def prune(self, gateway: str, before_us: int) -> int: ...

    def chains(self) -> list[ChainState]: ...

    def stored(self, gateway: str) -> Iterator[StoredRecord]: ...

    def find_hash(self, gateway: str, digest: str) -> int | None: ...

    def last(self, gateway: str) -> StoredRecord | None: ...

    def select(self, wanted: RecordFilter) -> Iterator[AuditRecord]: ...

    def close(self) -> None: ...


def is_postgres(database: str) -> bool:
    return database.startswith(POSTGRES_SCHEMES)


def display_name(database: str) -> str:
    """``database`` fit for a log line: a URL without its password, a path as it is."""
    if not is_postgres(database):
        return database
    parts = urlsplit(database)
    if parts.password is None:
        return database
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}"))


def open_backend(database: str, *, create: bool = True) -> Backend:
    """The backend for ``database``: a ``postgresql://`` URL or a SQLite file path.

    ``create=False`` (reading) refuses a SQLite file that does not exist. ``StoreUnavailable``
    when it cannot be opened now.
    """
    if is_postgres(database):
        return PostgresBackend(database, create=create)
    return SqliteBackend(Path(database), create=create)


class _SqlBackend:
    """The SQL both databases share; subclasses connect and say how to begin a transaction."""

    description = ""
    _errors: tuple[type[Exception], ...] = ()
    _select = _SELECT

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[object]:
        """A write transaction: committed at the end of the block, rolled back on an error."""
        raise NotImplementedError

    def _lock_chain(self) -> str:
        return ""

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _write(self, work: Any) -> Any:
        """Run ``work()`` in one write transaction; database errors become ``StoreUnavailable``."""
        try:
            with self._transaction():
                result = work()
        except self._errors as err:
            raise StoreUnavailable(_message(err)) from err
        return result

    def _chain_head(self, gateway: str) -> tuple[int, str]:
        self._execute(_NEW_CHAIN, (gateway,))
        row = self._execute(
            f"SELECT head_seq, head_hash FROM audit_chain WHERE gateway = ?{self._lock_chain()}",
            (gateway,),
        ).fetchone()
        return int(row[0]), str(row[1])

    def append(self, gateway: str, records: Sequence[AuditRecord]) -> int:
        """Chain and insert ``records`` (their ``gateway`` is ``gateway``); the new head seq."""
        if any(record.gateway != gateway for record in records):
            raise ValueError(f"append to the chain of {gateway!r}: a record names another gateway")
        return self.append_rows(gateway, lambda head: chain_rows(records, head))

    def append_rows(self, gateway: str, chain: Chainer) -> int:
        """``append`` for the writer: ``chain(head)`` gives the rows to insert after ``head``
        (seq, hash) and the new head, as ``chain_rows`` does; the new head seq."""

        def work() -> int:
            head = self._chain_head(gateway)
            rows, seq, digest = chain(head)
            if not rows:
                return head[0]
            self._executemany(_INSERT, rows)
            self._execute(
                "UPDATE audit_chain SET head_seq = ?, head_hash = ? WHERE gateway = ?",
                (seq, digest, gateway),
            )
            return seq

        seq: int = self._write(work)
        return seq

    def prune(self, gateway: str, before_us: int) -> int:
        """Delete ``gateway``'s oldest records, those before the first one at or after
        ``before_us``, and anchor the chain at the newest one deleted; how many were deleted."""

        def work() -> int:
            self._chain_head(gateway)  # locks the chain row
            row = self._execute(
                "SELECT MIN(seq) FROM audit_record WHERE gateway = ? AND time_us >= ?",
                (gateway, before_us),
            ).fetchone()
            if row[0] is None:
                row = self._execute(
                    "SELECT MAX(seq) FROM audit_record WHERE gateway = ?", (gateway,)
                ).fetchone()
                if row[0] is None:
                    return 0
                last = int(row[0])
            else:
                last = int(row[0]) - 1
            anchor = self._execute(
                "SELECT hash, time_us FROM audit_record WHERE gateway = ? AND seq = ?",
                (gateway, last),
            ).fetchone()
            if anchor is None:
                return 0  # nothing older than the first record kept
            cursor = self._execute(
                "DELETE FROM audit_record WHERE gateway = ? AND seq <= ?", (gateway, last)
            )
            self._execute(
                "UPDATE audit_chain SET anchor_seq = ?, anchor_hash = ?, anchor_time_us = ?"
                " WHERE gateway = ?",
                (last, anchor[0], anchor[1], gateway),
            )
            return int(cursor.rowcount)

        deleted: int = self._write(work)
        return deleted

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            rows: list[tuple[Any, ...]] = self._execute(sql, params).fetchall()
        except self._errors as err:
            raise StoreUnavailable(_message(err)) from err
        return rows

    def chains(self) -> list[ChainState]:
        rows = self._read(f"SELECT {_CHAIN_COLUMNS} FROM audit_chain ORDER BY gateway")
        return [ChainState(str(g), int(a), str(ah), int(h), str(hh)) for g, a, ah, h, hh in rows]

    def stored(self, gateway: str) -> Iterator[StoredRecord]:
        sql = f"{self._select} WHERE gateway = ? ORDER BY seq"
        for row in self._guarded(self._stream(sql, (gateway,))):
            yield _stored(row)

    def last(self, gateway: str) -> StoredRecord | None:
        """``gateway``'s newest record (None when it has none)."""
        rows = self._read(f"{self._select} WHERE gateway = ? ORDER BY seq DESC LIMIT 1", (gateway,))
        return _stored(rows[0]) if rows else None

    def find_hash(self, gateway: str, digest: str) -> int | None:
        rows = self._read(
            "SELECT seq FROM audit_record WHERE gateway = ? AND hash = ?", (gateway, digest)
        )
        return int(rows[0][0]) if rows else None

    def select(self, wanted: RecordFilter) -> Iterator[AuditRecord]:
        where: list[str] = []
        params: list[Any] = []
        if wanted.since_us is not None:
            where.append("time_us >= ?")
            params.append(wanted.since_us)
        if wanted.until_us is not None:
            where.append("time_us < ?")
            params.append(wanted.until_us)
        for column, values in (("identity", wanted.identities), ("decision", wanted.decisions)):
            if values:
                where.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        for column, value in (("role", wanted.role), ("gateway", wanted.gateway)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if wanted.operation is not None:
            if wanted.operation.endswith("*"):
                where.append("substr(operation, 1, ?) = ?")
                prefix = wanted.operation[:-1]
                params.extend((len(prefix), prefix))
            else:
                where.append("operation = ?")
                params.append(wanted.operation)
        sql = self._select + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY time_us, gateway, seq"
        for row in self._guarded(self._stream(sql, params)):
            yield _stored(row).record

    def _guarded(self, rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        try:
            yield from rows
        except self._errors as err:
            raise StoreUnavailable(_message(err)) from err


def _stored(row: Sequence[Any]) -> StoredRecord:
    count = len(FIELD_NAMES)
    record = AuditRecord(*row[:count])
    return StoredRecord(int(row[count]), record, str(row[count + 1]), str(row[count + 2]))


def _message(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


class SqliteBackend(_SqlBackend):
    """A SQLite file (WAL mode), created 0600 when missing."""

    _errors = (sqlite3.Error,)

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.description = f"SQLite {path}"
        if not path.exists():
            if not create:
                raise UsageError(f"no audit store at {path}")
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
            except OSError as err:
                raise StoreUnavailable(f"cannot create {path}: {err.strerror}") from err
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 10000")
            if create:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                for statement in _SCHEMA:
                    self._db.execute(statement)
                if not self._has_end():
                    with self._transaction():  # another gateway may be adding it too
                        if not self._has_end():
                            self._db.execute(_ADD_END)
            elif not self._has_end():
                self._select = _SELECT_BEFORE_END
        except sqlite3.Error as err:
            raise StoreUnavailable(f"{path}: {_message(err)}") from err

    def _has_end(self) -> bool:
        """Whether ``audit_record`` has the ``end`` column (a table not made yet counts as so)."""
        names = {row[1] for row in self._db.execute("PRAGMA table_info(audit_record)")}
        return not names or "end" in names

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(sql, params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if sql is _INSERT and len(rows) >= _ROWS_AT_ONCE:  # the records: several a statement
            whole = len(rows) - len(rows) % _ROWS_AT_ONCE
            values = list(itertools.chain.from_iterable(rows[:whole]))
            step = _ROWS_AT_ONCE * len(_COLUMNS)
            self._db.executemany(
                _INSERT_MANY, [values[at : at + step] for at in range(0, len(values), step)]
            )
            rows = rows[whole:]
        self._db.executemany(sql, rows)

    @contextmanager
    def _transaction(self) -> Iterator[object]:
        self._db.execute("BEGIN IMMEDIATE")  # the write lock now, not at the first write
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        yield from self._db.execute(sql, params)

    @property
    def usable(self) -> bool:
        # a file stays usable: reopening would only drop the WAL (and the space it holds)
        return True

    def close(self) -> None:
        self._db.close()


class PostgresBackend(_SqlBackend):
    """A PostgreSQL database shared by a fleet of gateways (psycopg 3)."""

    CONNECT_TIMEOUT = 5

    def __init__(self, url: str, *, create: bool = True) -> None:
        import psycopg
        from psycopg import conninfo

        self._psycopg = psycopg
        self._errors = (psycopg.Error,)
        try:
            info = conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as err:
            raise UsageError(f"audit database: not a PostgreSQL URL: {_message(err)}") from None
        where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"
        self.description = f"PostgreSQL {where}/{info.get('dbname', '')}"  # never the password
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=self.CONNECT_TIMEOUT)
            if create:  # a reader may only SELECT: CREATE ... IF NOT EXISTS needs more
                with self._db.transaction():
                    # two gateways starting at once must not both create the tables
                    self._db.execute("SELECT pg_advisory_xact_lock(7465727)")
                    for statement in _SCHEMA:
                        self._db.execute(statement)
                    self._db.execute(_ADD_END.replace("COLUMN", "COLUMN IF NOT EXISTS", 1))
            else:
                row = self._db.execute(
                    "SELECT count(*) FROM information_schema.columns WHERE table_name ="
                    " 'audit_record' AND table_schema = current_schema() AND column_name = 'end'"
                ).fetchone()
                if row is not None and not row[0]:
                    self._select = _SELECT_BEFORE_END
        except psycopg.Error as err:
            raise StoreUnavailable(f"{self.description}: {_message(err)}") from err

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(self._sql(sql), params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if sql is _INSERT:  # the records: COPY, several times cheaper than one INSERT a row
            with self._db.cursor() as cursor, cursor.copy(_COPY) as copy:
                copy.set_types(_COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
            return
        with self._db.cursor() as cursor:
            cursor.executemany(self._sql(sql), rows)

    def _lock_chain(self) -> str:
        return " FOR UPDATE"

    def _transaction(self) -> AbstractContextManager[object]:
        transaction: AbstractContextManager[object] = self._db.transaction()
        return transaction

    @property
    def usable(self) -> bool:
        return not (self._db.closed or self._db.broken)

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        with self._db.transaction(), self._db.cursor(name="dockward_audit_read") as cursor:
            cursor.itersize = 2000
            cursor.execute(self._sql(sql), params)
            yield from cursor

    def close(self) -> None:
        self._db.close()
