"""The audit store's writer: a process of its own (``python -m dockward.audit.writer``), fed by the
gateway over a pipe, that owns the hash chain and the database connection.

The gateway (``audit.store``) starts it with its standard input and output as two pipes. On
standard input come messages, each a 4-byte big-endian length and a ``marshal`` payload: first the
settings (a dict: database, gateway name, retention, the row number to start from, and an
optional ``module:function`` that opens the backend), then batches ``(first_row, rows)``. A row
is either the fields of an exchange as the gateway's event holds them (``EXCHANGE_FIELDS``: the
gateway takes them with one ``attrgetter`` and leaves the work to this process), or a 1-tuple
holding a whole ``AuditRecord`` (the rarer kinds, and the store's own ``audit.dropped``). Rows are
numbered from the gateway's start, so that a writer started again after one died resumes where
the last acknowledged write ended.

On standard output it answers in the same framing: ``("hello", pid)`` once it runs, then after
each attempt to write ``("ok", taken, done, cpu)`` or ``("fail", taken, done, cpu, message,
traceback, failures)`` (``taken``: rows it has read and holds; ``done``: rows written, both as
row numbers), and ``("log", level, message)`` for what the gateway should log. It writes as the
thread did: batches of up to ``BATCH`` in one transaction, the batch in hand retried with a
growing delay while the store fails, retention once an hour. At the end of its input (the
gateway stops, or dies) it writes what it holds, with one more attempt if the store fails, and
exits. SIGINT and SIGTERM are ignored: a Ctrl-C or a service manager's stop reaches the gateway,
which flushes and then closes the pipe.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import importlib
import logging
import marshal
import os
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import IO, Any

from dockward.audit.backends import Backend, StoreUnavailable, open_backend
from dockward.audit.chain import _TAG_TEXT, _dumps
from dockward.audit.record import END_COMPLETED, EXCHANGE, TEXT_FIELDS, AuditRecord, text

BATCH = 2_000  # rows written in one transaction, at most
RETRY_FIRST, RETRY_MAX = 0.2, 5.0  # seconds between attempts while the store fails
PRUNE_INTERVAL = 3600.0
IDLE_WAIT = 0.5  # seconds: how long the writer sleeps when nothing comes

# The fields of an exchange as the gateway sends them, in this order (``ExchangeRecord``'s
# attribute paths): what the gateway does per request is one ``attrgetter`` call. The fields
# that become the record's strings come first (``STRING_FIELDS`` of them): they mostly recur from
# request to request, so the writer looks their record strings up by that part of the row.
EXCHANGE_FIELDS = (
    "peer.listener",
    "peer.source",
    "peer.identity.kind",
    "peer.identity.common_name",
    "peer.identity.serial",
    "peer.identity.uid",
    "method",
    "path",
    "operation",
    "decision",
    "rule",
    "role",
    "reason",
    "started",
    "status",
    "bytes_in",
    "bytes_out",
    "duration_ms",
    "end",
)
STRING_FIELDS = EXCHANGE_FIELDS.index("started")

_HEADER = struct.Struct("!I")


def frame(message: object) -> bytes:
    """``message`` as it goes over the pipe: its length, then its ``marshal`` bytes."""
    payload = marshal.dumps(message)  # type: ignore[arg-type]
    return _HEADER.pack(len(payload)) + payload


def read_message(source: IO[bytes]) -> Any:
    """The next message from ``source``; ``EOFError`` at its end (or in the middle of one)."""
    header = source.read(4)
    if len(header) < 4:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    payload = source.read(size)
    if len(payload) < size:
        raise EOFError
    return marshal.loads(payload)


_new = tuple.__new__
# a row's string part: the gateway name, the record strings it gives and their JSON (as
# ``audit.chain`` hashes it: without the closing bracket)
_texts: dict[tuple[Any, ...], tuple[str, tuple[str, ...], str]] = {}
_sha256 = hashlib.sha256
STRINGS_KEPT = 4096


def _text(value: str) -> str:
    return value if value.isascii() and "\x00" not in value else text(value)


def _record_strings(part: tuple[Any, ...], gateway: str) -> tuple[str, ...]:
    """The record's string fields (``kind`` to ``reason``) of an exchange row's string part."""
    (listener, source, kind, common_name, serial, uid, method, path, operation, decision, rule,
     role, reason) = part  # fmt: skip
    if kind == "tls":
        label = f"cn:{common_name}" if common_name else f"serial:{serial}"
    else:
        label = f"uid:{uid}"
    strings = (
        EXCHANGE,
        gateway,
        text(label),
        "" if serial is None else str(serial),
        role or "",
        source,
        listener,
        _text(method),
        _text(path),
        operation,
        decision,
        rule,
        _text(reason) if reason else "",
    )
    if not all(type(value) is str for value in strings):
        raise TypeError(f"not an exchange row: {part!r}")
    return strings


def to_record(row: tuple[Any, ...], gateway: str) -> AuditRecord:
    """The record of one row the gateway sent (see ``EXCHANGE_FIELDS``)."""
    if len(row) == 1:
        return AuditRecord(*row[0])
    part = row[:STRING_FIELDS]
    found = _texts.get(part)
    if found is not None and found[0] == gateway:
        strings = found[1]
    else:
        strings = _record_strings(tuple(part), gateway)
    started, status, bytes_in, bytes_out, duration_ms, end = row[STRING_FIELDS:]
    numbers = (
        round(started * 1_000_000),
        status,
        bytes_in,
        bytes_out,
        round(duration_ms * 1000),
        "" if end == END_COMPLETED else end,
    )
    record: AuditRecord = _new(AuditRecord, strings + numbers)  # without its __new__ call
    return record


def chain_batch(
    rows: Sequence[tuple[Any, ...]], gateway: str, head: tuple[int, str], lost: list[int]
) -> tuple[list[tuple[object, ...]], int, str]:
    """``chain.chain_rows`` of the rows' records, in one pass from the rows the gateway sent:
    each record's row for the database (its fields, seq, prev_hash, hash) and the new head.

    It hashes the bytes ``chain.record_hash`` hashes (a test holds it to that); an exchange's
    record strings and their JSON are looked up by the row's string part, so per request only
    the numbers are formatted. The index of a row that gives no record goes to ``lost``.
    """
    seq, prev = head
    out: list[tuple[object, ...]] = []
    append, sha256, dumps, tag, texts = out.append, _sha256, _dumps, _TAG_TEXT, _texts
    for at, row in enumerate(rows):
        try:
            if len(row) == 1:  # a whole record
                record = AuditRecord(*row[0])
                if record.gateway != gateway:
                    raise ValueError(f"a record of gateway {record.gateway!r}")
                strings, members = record[:TEXT_FIELDS], None
                time_us, status, bytes_in, bytes_out, duration_us, end = record[TEXT_FIELDS:]
            else:
                part = row[:STRING_FIELDS]
                found = texts.get(part)
                if found is None or found[0] != gateway:
                    strings = _record_strings(tuple(part), gateway)
                    if len(texts) >= STRINGS_KEPT:
                        texts.clear()
                    found = texts[part] = (gateway, strings, dumps(strings)[:-1])
                strings, members = found[1], found[2]
                started, status, bytes_in, bytes_out, duration_ms, end = row[STRING_FIELDS:]
                time_us = round(started * 1_000_000)
                duration_us = round(duration_ms * 1000)
                if end == END_COMPLETED:
                    end = ""
            if members is None:
                members = dumps(strings)[:-1]
            line = f"{tag}{prev}\n{members},{time_us},{status},{bytes_in},{bytes_out},{duration_us}"
            line += f",{dumps(end)}]" if end else "]"
            current = sha256(line.encode("ascii")).hexdigest()
        except Exception:
            lost.append(at)
            continue
        seq += 1
        numbers = (time_us, status, bytes_in, bytes_out, duration_us, end, seq, prev, current)
        append(strings + numbers)
        prev = current
    return out, seq, prev


def load_opener(spec: str | None) -> Callable[[str], Backend]:
    """``open_backend``, or the ``module:function`` named (for tests)."""
    if not spec:
        return open_backend
    module, _, name = spec.partition(":")
    opener: Callable[[str], Backend] = getattr(importlib.import_module(module), name)
    return opener


class Writer:
    """The writing loop, fed rows by ``feed`` (from the reading thread) and telling ``say``.

    It runs in the writer process; tests may run it in a thread with a backend of their own.
    """

    def __init__(
        self,
        database: str,
        gateway: str,
        say: Callable[[tuple[object, ...]], None],
        *,
        retention_days: float | None = None,
        first_row: int = 0,
        opener: Callable[[str], Backend] = open_backend,
    ) -> None:
        self.database = database
        self.gateway = gateway
        self.retention_days = retention_days
        self._say = say
        self._opener = opener
        self._rows: collections.deque[tuple[Any, ...]] = collections.deque()
        self._wake = threading.Condition()
        self._ended = False
        self._skip_to = first_row  # rows before this one were written by an earlier writer
        self._held: list[tuple[Any, ...]] = []  # rows taken, as the gateway sent them
        self._taken = first_row  # rows read into hand
        self._done = first_row  # rows written
        self._resumed = first_row > 0  # the last acknowledgement may have come late
        self._failures = 0
        self._failing = False
        self._last_error = ""
        self._next_prune = 0.0

    # ------------------------------------------------------------ the reading side

    def feed(self, first_row: int, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows numbered from ``first_row`` (rows already written are skipped)."""
        skip = self._skip_to - first_row
        if skip > 0:
            rows = rows[skip:]
            first_row += skip
        with self._wake:
            self._rows.extend(rows)
            self._wake.notify()

    def end(self) -> None:
        """No more rows: write what is there and return from ``run``."""
        with self._wake:
            self._ended = True
            self._wake.notify()

    # ------------------------------------------------------------ the writing side

    def run(self) -> None:
        backend: Backend | None = None
        delay = 0.0
        try:
            while True:
                with self._wake:
                    ending = self._ended
                    if not self._rows and not self._held and not ending and not self._due():
                        self._wake.wait(IDLE_WAIT)
                        ending = self._ended
                if not self._failing or not self._held:
                    self._take()
                try:
                    if self._held or self._due():
                        if backend is None:
                            backend = self._opener(self.database)
                        if self._held:
                            self._write(backend)
                        if self._due():
                            self._prune(backend)
                except Exception as err:
                    if backend is not None and not (
                        isinstance(err, StoreUnavailable) and backend.usable
                    ):
                        with contextlib.suppress(Exception):
                            backend.close()
                        backend = None
                    self._failed(err)
                    if ending:
                        return
                    delay = min(max(delay * 2, RETRY_FIRST), RETRY_MAX)
                    with self._wake:
                        self._wake.wait(delay)  # the end of input cuts it short
                    continue
                delay = 0.0
                if ending and not self._rows and not self._held:
                    return
        finally:
            if backend is not None:
                with contextlib.suppress(Exception):
                    backend.close()

    def _take(self) -> None:
        held, rows = self._held, self._rows
        taken = min(len(rows), BATCH - len(held))
        if taken > 0:
            popleft = rows.popleft
            held.extend([popleft() for _ in range(taken)])
            self._taken += taken

    def _records(self) -> list[AuditRecord]:
        """The records of the rows in hand (a row that gives none is logged and let go)."""
        records: list[AuditRecord] = []
        lost: list[int] = []
        for at, row in enumerate(self._held):
            try:
                records.append(to_record(row, self.gateway))
            except Exception:  # a bug: this row is lost, the store goes on
                lost.append(at)
                self._lose(traceback.format_exc())
        if lost:
            gone = set(lost)
            self._held = [row for at, row in enumerate(self._held) if at not in gone]
        return records

    def _lose(self, trace: str) -> None:
        self._say(("log", logging.ERROR, f"a row is lost: {trace}"))

    def _write(self, backend: Backend) -> None:
        if self._resumed:  # records written by the writer that died, its answer lost
            self._resumed = False
            head = backend.last(self.gateway)
            records = self._records()
            if head is not None and head.record in records:
                where = len(records) - 1 - records[::-1].index(head.record)
                del self._held[: where + 1]
                self._log(logging.INFO, f"{where + 1} records were written before the restart")
        append_rows = getattr(backend, "append_rows", None)
        if append_rows is None:  # a backend of a test: it takes records
            backend.append(self.gateway, self._records())
        else:
            lost: list[int] = []
            try:
                append_rows(
                    self.gateway, lambda head: chain_batch(self._held, self.gateway, head, lost)
                )
            finally:
                if lost:  # said once: they are not tried again
                    for at in lost:
                        self._lose(f"not a row the gateway sends: {self._held[at]!r}")
                    gone = set(lost)
                    self._held = [row for at, row in enumerate(self._held) if at not in gone]
        self._done = self._taken
        self._held.clear()
        self._failing = False
        self._last_error = ""
        self._say(("ok", self._taken, self._done, time.process_time()))

    def _due(self) -> bool:
        return self.retention_days is not None and time.monotonic() >= self._next_prune

    def _prune(self, backend: Backend) -> None:
        assert self.retention_days is not None
        self._next_prune = time.monotonic() + PRUNE_INTERVAL
        before = time.time() - self.retention_days * 86400
        try:
            deleted = backend.prune(self.gateway, round(before * 1_000_000))
        except StoreUnavailable as err:
            self._log(logging.ERROR, f"retention failed: {err}")
            return
        if deleted:
            self._log(
                logging.INFO,
                f"{deleted} records older than {self.retention_days:g} days removed "
                "(chain re-anchored)",
            )

    def _failed(self, err: Exception) -> None:
        self._failures += 1
        self._failing = True
        if isinstance(err, StoreUnavailable):
            message, trace = str(err), ""
        else:  # a bug: its traceback goes to the gateway's log
            message, trace = repr(err), traceback.format_exc()
        self._last_error = message
        self._say(
            (
                "fail",
                self._taken,
                self._done,
                time.process_time(),
                message,
                trace,
                self._failures,
            )
        )

    def _log(self, level: int, message: str) -> None:
        self._say(("log", level, message))


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    source = os.fdopen(sys.stdin.fileno(), "rb", buffering=1 << 16, closefd=False)
    out = sys.stdout.fileno()
    lock = threading.Lock()

    def say(message: tuple[object, ...]) -> None:
        data = frame(message)
        with lock:
            while data:
                data = data[os.write(out, data) :]

    settings = read_message(source)
    writer = Writer(
        settings["database"],
        settings["gateway"],
        say,
        retention_days=settings.get("retention_days"),
        first_row=settings.get("first_row", 0),
        opener=load_opener(settings.get("opener")),
    )

    def read() -> None:
        try:
            while True:
                first_row, rows = read_message(source)
                writer.feed(first_row, rows)
        except (EOFError, OSError):
            pass
        finally:
            writer.end()

    threading.Thread(target=read, name="dockward-audit-read", daemon=True).start()
    say(("hello", os.getpid()))
    try:
        writer.run()
    except BrokenPipeError:  # the gateway is gone: nobody to tell
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
