"""The audit store as a gateway observer: records written by a process of its own, in batches.

``AuditStore`` is called with every gateway event on the event loop; all it does there is take
an exchange's fields with one ``attrgetter`` call (while the event is fresh in the CPU's cache;
the rarer kinds become whole records) and append them to a bounded queue (a ``deque``, no lock).
A feeding thread wakes every ``FLUSH_INTERVAL`` (or when a batch is full) and writes what waits,
``marshal``-ed, to the pipe of the writer process (``audit.writer``). That process owns the
database connection and the hash chain: it turns the rows into records, chains them and writes
them in one transaction per batch, prunes records older than ``retention_days`` once an hour,
and answers over a second pipe after each attempt (rows written, or the failure). So the gateway
pays about 3 µs per record instead of the 15 to 18 µs the writer takes, and that work is not
done under the gateway's GIL.

Rows are numbered; the store keeps what it sent until the writer says it is written. When the
writer process dies, the store logs it, counts the store as failing (with ``refuse-writes``
write operations are refused, and ``/ready`` fails) and starts another, which resumes at the
first row not known to be written (skipping the ones the dead writer wrote but had no time to
acknowledge).

When the store cannot be written (disk full, database down), the gateway keeps serving: the
writer keeps its batch in hand and retries with a growing delay (reconnecting when the
connection is lost), and the rows it has not taken wait, up to ``buffer`` records (the batch in
hand comes on top). With ``on_failure = "refuse-writes"`` (the default) ``accepting_writes()``
turns false once nine tenths of the buffer wait, so the gateway can refuse operations that change
or take out something (their refusals still find room in the last tenth); with ``"continue"``
it stays true. A full buffer drops new events and counts them; a record of kind
``audit.dropped`` says how many were lost and when, in the chain where the gap is. ``state()``
tells all of this to ``/ready``, metrics and ``dockward status``. ``close()`` sends what waits,
lets the writer write it, and waits for the process to end.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import operator
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from dockward.audit.backends import display_name, is_postgres
from dockward.audit.record import RECORDS_DROPPED, AuditRecord, project
from dockward.audit.writer import BATCH, EXCHANGE_FIELDS, frame, read_message
from dockward.policy.decision import Decision

OnFailure = Literal["refuse-writes", "continue"]

BUFFER = 100_000  # events kept while the store cannot be written (a few hundred bytes each)
FLUSH_INTERVAL = 0.1  # seconds: the longest an event waits in the queue when all is well
FEED_CHUNK = 500  # events converted and sent at once (the GIL is held about 0.3 ms for them)
DROP_REPORT_INTERVAL = 10.0
REFUSE_WRITES_AT = 0.9  # of the buffer
RESTART_DELAYS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0)  # after deaths in a row (lived < STEADY s)
STEADY = 30.0

log = logging.getLogger("dockward.audit")
_exchange_fields = operator.attrgetter(*EXCHANGE_FIELDS)


@dataclass(frozen=True, slots=True)
class AuditState:
    """What the store is doing, for ``/ready``, metrics and the status command."""

    database: str
    gateway: str
    on_failure: str
    failing: bool  # the last attempt to write failed, or the writer process is down
    failing_since: float | None  # time.time() of the first failure of this episode
    last_error: str
    pending: int  # events not yet written (queued, sent, in hand)
    written: int  # records written since start
    dropped: int  # events dropped since start (the buffer was full)
    lag: float  # seconds the oldest unwritten record has waited (0 when none)
    accepting_writes: bool
    writer_cpu: float  # CPU seconds the writer process has used (the current one)
    failures: int = 0  # failed attempts to write since start (the writer's deaths included)
    refusing_since: float | None = None  # time.time() write operations began to be refused
    writer_pid: int | None = None  # the writer process, while it runs
    writer_restarts: int = 0  # writer processes started again after one died


def default_gateway_name() -> str:
    return socket.gethostname() or "dockward"


def _writer_environment() -> dict[str, str]:
    """The environment of the writer process: this one's, with this process's import path (so
    it runs the same dockward, installed or from a checkout)."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    paths = [package_root, *(p for p in sys.path if p and p != package_root)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class _Writer:
    """One writer process and what the store knows of it."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        self.stdin: IO[bytes] = process.stdin
        self.stdout: IO[bytes] = process.stdout
        self.started = time.monotonic()
        self.hello = False  # it said it runs
        self.gone = False  # its answers ended (it exited or was killed)
        self.reader: threading.Thread | None = None


class AuditStore:
    """A gateway observer that has a writer process write every event to the store."""

    def __init__(
        self,
        database: str,
        gateway: str | None = None,
        *,
        on_failure: OnFailure = "refuse-writes",
        retention_days: float | None = None,
        buffer: int = BUFFER,
        opener: str | None = None,
    ) -> None:
        self.database = database
        self.gateway = gateway or default_gateway_name()
        self.on_failure = on_failure
        self.retention_days = retention_days
        self.buffer = buffer
        self._refuse_at = max(1, int(buffer * REFUSE_WRITES_AT))
        self._opener = opener  # "module:function" that opens the backend in the writer (tests)
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()  # rows
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        kind = "PostgreSQL" if is_postgres(database) else "SQLite"
        self._description = f"{kind} {display_name(database)}"
        # row numbers: rows sent to writers, taken into a writer's hand, written (acknowledged)
        self._sent = 0  # feeder
        self._in_flight = 0  # feeder: events taken from the queue, not yet counted as sent
        self._taken = 0  # reader (set by the feeder at a restart)
        self._done = 0  # reader
        self._unacked: collections.deque[tuple[int, int, bytes]] = collections.deque()
        self._writer: _Writer | None = None
        self._deaths = 0  # writer deaths in a row
        self._restarts = 0
        self._next_start = 0.0
        self._down = False  # a writer died and the next one has not said hello yet
        self._queued = 0  # loop thread: events queued since start
        self._popped = 0  # feeder: events taken from the queue since start
        self._dropped = 0  # loop thread
        self._drop_mark = 0  # loop thread: events queued before the first unreported drop
        self._first_drop = 0.0  # loop thread: time of the first drop not yet reported
        self._reported_drops = 0  # feeder
        self._failing_since: float | None = None
        self._last_error = ""
        self._oldest_wait = 0.0  # monotonic time the oldest unwritten row was sent
        self._next_drop_report = 0.0
        self._cpu = 0.0
        self._failures = 0
        self._refusing_since: float | None = None  # loop thread: refuse_unrecorded

    # ---------------------------------------------------------------- the event loop's side

    def __call__(self, event: object) -> None:
        queue = self._queue
        if len(queue) + self._in_flight + self._sent - self._taken >= self.buffer:
            if self._first_drop == 0.0:
                self._first_drop = time.time()
                self._drop_mark = self._queued  # the gap comes after the events queued so far
            self._dropped += 1
            return
        try:  # an exchange: its fields now, while the event is in the CPU's cache
            row: tuple[Any, ...] = _exchange_fields(event)
        except AttributeError:  # another kind (rarer): the whole record
            record = project(event, self.gateway)
            if record is None:
                return  # a kind the store does not keep
            row = (tuple(record),)
        self._queued += 1
        queue.append(row)
        if len(queue) == BATCH:
            self._wake.set()

    def waiting(self) -> int:
        """Events not taken into the writer's hand yet (what the buffer bounds)."""
        return len(self._queue) + self._in_flight + self._sent - self._taken

    def refusal_detail(self) -> str:
        """Why write operations are refused, in a few words (for the log and ``/ready``)."""
        if self._down:
            return "its writer process is not running"
        return f"{self.waiting()} records wait"

    def accepting_writes(self) -> bool:
        """False when operations that change or take out something should be refused
        (``on_failure = "refuse-writes"``): nine tenths of the buffer wait, or the writer
        process died and the next one does not run yet."""
        if self.on_failure == "continue":
            return True
        return not self._down and (
            len(self._queue) + self._in_flight + self._sent - self._taken < self._refuse_at
        )

    def state(self) -> AuditState:
        oldest = self._oldest_wait
        pending = len(self._queue) + self._in_flight + self._sent - self._done
        writer = self._writer
        accepting = self.accepting_writes()
        return AuditState(
            database=self._description,
            gateway=self.gateway,
            on_failure=self.on_failure,
            failing=self._failing_since is not None,
            failing_since=self._failing_since,
            last_error=self._last_error,
            pending=pending,
            written=self._done,
            dropped=self._dropped,
            lag=time.monotonic() - oldest if pending and oldest else 0.0,
            accepting_writes=accepting,
            writer_cpu=self._cpu,
            failures=self._failures,
            refusing_since=None if accepting else self._refusing_since,
            writer_pid=writer.process.pid if writer is not None and not writer.gone else None,
            writer_restarts=self._restarts,
        )

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the writer process and the thread that feeds it."""
        self._start_writer()
        self._thread = threading.Thread(target=self._run, name="dockward-audit", daemon=True)
        self._thread.start()

    def drain(self, timeout: float) -> bool:
        """Wait until every event queued so far is written; False at the timeout."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while (
                self._queue
                or self._in_flight
                or self._done < self._sent
                or self._dropped > self._reported_drops
            ):
                self._wake.set()
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._progress.wait(min(remaining, FLUSH_INTERVAL))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what waits, let the writer write it (one more attempt if the store fails) and
        wait for it to end; at the timeout, kill it."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive() and self._writer is not None:  # stuck writing to it
                self._writer.process.kill()
                self._thread.join(1.0)
        writer = self._writer
        if writer is not None:
            self._end_writer(writer, deadline)
        left = len(self._queue) + self._in_flight + self._sent - self._done
        if left:
            log.error(
                "audit store %s: %d records could not be written before stopping",
                self._description,
                left,
            )

    # ---------------------------------------------------------------- the writer process

    def _start_writer(self) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "dockward.audit.writer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_writer_environment(),
            start_new_session=True,  # a Ctrl-C at the terminal is the gateway's to handle
        )
        writer = _Writer(process)
        settings = {
            "database": self.database,
            "gateway": self.gateway,
            "retention_days": self.retention_days,
            "first_row": self._done,
            "opener": self._opener,
        }
        self._taken = self._done  # the new writer holds nothing yet
        self._writer = writer
        writer.reader = threading.Thread(
            target=self._listen, args=(writer,), name="dockward-audit-answers", daemon=True
        )
        writer.reader.start()
        with contextlib.suppress(OSError):  # it is gone already: its reader says so
            self._send(writer, frame(settings))
            for _first, _end, data in list(self._unacked):  # what the last one did not confirm
                self._send(writer, data)

    def _send(self, writer: _Writer, data: bytes) -> None:
        fd = writer.stdin.fileno()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def _end_writer(self, writer: _Writer, deadline: float) -> None:
        with contextlib.suppress(OSError):
            writer.stdin.close()
        try:
            writer.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error(
                "audit store %s: the writer process %d did not finish in time: killed",
                self._description,
                writer.process.pid,
            )
            writer.process.kill()
            writer.process.wait()
        if writer.reader is not None:
            writer.reader.join(max(0.1, deadline - time.monotonic()))

    def _listen(self, writer: _Writer) -> None:
        """The writer's answers, until it ends."""
        try:
            while True:
                self._answer(writer, read_message(writer.stdout))
        except (EOFError, OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.stdout.close()
            if not self._stop.is_set():
                self._died(writer)
            writer.gone = True  # after _died: the feeding thread then starts another
            with self._progress:
                self._progress.notify_all()
            self._wake.set()

    def _answer(self, writer: _Writer, message: tuple[Any, ...]) -> None:
        what = message[0]
        if what == "hello":
            writer.hello = True
            if self._down:
                self._down = False
                log.warning(
                    "audit store %s: the writer process %d runs; it resumes at the first record "
                    "not known to be written",
                    self._description,
                    writer.process.pid,
                )
                if not self._unacked and not self._queue:  # else its first write says
                    self._recovered()
            return
        if what == "log":
            log.log(message[1], "audit store %s: %s", self._description, message[2])
            return
        self._taken, self._cpu = message[1], message[3]
        done = message[2]
        if done != self._done:
            self._done = done
            unacked = self._unacked
            while unacked and unacked[0][1] <= done:
                unacked.popleft()
            self._oldest_wait = time.monotonic() if done < self._sent else 0.0
        if what == "ok":
            self._recovered()
        else:
            self._failed(message[4], message[5])
        with self._progress:
            self._progress.notify_all()

    def _died(self, writer: _Writer) -> None:
        code = writer.process.wait()
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        self._down = True
        self._deaths = self._deaths + 1 if time.monotonic() - writer.started < STEADY else 1
        delay = RESTART_DELAYS[min(self._deaths, len(RESTART_DELAYS)) - 1]
        self._next_start = time.monotonic() + delay
        self._failed(
            f"the writer process {writer.process.pid} ended ({how}); starting another"
            + (f" in {delay:g} s" if delay else ""),
            "",
        )

    def _recovered(self) -> None:
        if self._failing_since is not None and not self._down:
            log.warning(
                "audit store %s is written again (it failed for %.1f s)",
                self._description,
                time.time() - self._failing_since,
            )
            self._failing_since = None
            self._last_error = ""

    def _failed(self, message: str, trace: str) -> None:
        self._failures += 1
        first = self._failing_since is None
        if first:
            self._failing_since = time.time()
        if first or message != self._last_error:
            if trace:  # a bug: its traceback, once per distinct message
                log.error("the audit store writer failed: %s", trace.rstrip())
            else:
                log.error(
                    "cannot write the audit store %s: %s; keeping up to %d records, then %s",
                    self._description,
                    message,
                    self.buffer,
                    "refusing write operations"
                    if self.on_failure == "refuse-writes"
                    else "dropping records",
                )
        self._last_error = message
        if self._dropped > self._reported_drops:
            now = time.monotonic()
            if now >= self._next_drop_report:
                self._next_drop_report = now + DROP_REPORT_INTERVAL
                log.error(
                    "audit store %s: %d records dropped so far (the buffer is full)",
                    self._description,
                    self._dropped - self._reported_drops,
                )

    # ---------------------------------------------------------------- the feeding thread

    def _run(self) -> None:
        try:
            while True:
                stopping = self._stop.is_set()
                writer = self._writer
                if writer is None or writer.gone:
                    if writer is not None:
                        with contextlib.suppress(OSError):
                            writer.stdin.close()  # here: this thread is the one writing to it
                    if stopping and not (self._queue or self._unacked):
                        break
                    if stopping or time.monotonic() >= self._next_start:
                        if writer is not None:
                            self._restarts += 1
                        try:
                            self._start_writer()
                        except OSError as err:  # cannot start a process now (no memory, ...)
                            self._next_start = time.monotonic() + RESTART_DELAYS[-1]
                            self._failed(f"cannot start the writer process: {err}", "")
                            if stopping:
                                break
                        continue
                    self._wake.wait(min(FLUSH_INTERVAL, self._next_start - time.monotonic()))
                    self._wake.clear()
                    continue
                self._feed(writer)
                if stopping and not self._queue and not self._in_flight:
                    break
                self._wake.wait(FLUSH_INTERVAL)
                self._wake.clear()
        except Exception:  # a bug: the writer still gets what was sent; say it loudly
            log.exception("the audit store's feeding thread failed")
        finally:
            with self._progress:
                self._progress.notify_all()

    def _feed(self, writer: _Writer) -> None:
        """Send what waits in the queue, a batch at a time."""
        queue = self._queue
        while queue:
            count = min(len(queue), FEED_CHUNK)
            self._in_flight = count  # counted as waiting before it leaves the queue
            if self._dropped > self._reported_drops or self._drop_mark > self._popped:
                rows = self._rows_one_by_one(count)
            else:
                rows = [queue.popleft() for _ in range(count)]
                self._popped += count
            self._send_rows(writer, rows)
        if (
            self._dropped > self._reported_drops
            and self._failing_since is None
            and self._popped >= self._drop_mark
        ):
            self._send_rows(writer, [(tuple(self._drop_record()),)])

    def _rows_one_by_one(self, count: int) -> list[tuple[Any, ...]]:
        """``count`` events as rows, with the record of dropped events where the gap is."""
        rows: list[tuple[Any, ...]] = []
        queue = self._queue
        for _ in range(count):
            if self._popped == self._drop_mark and self._dropped > self._reported_drops:
                rows.append((tuple(self._drop_record()),))
            rows.append(queue.popleft())
            self._popped += 1
        return rows

    def _send_rows(self, writer: _Writer, rows: list[tuple[Any, ...]]) -> None:
        first = self._sent
        if rows:
            data = frame((first, rows))
            self._unacked.append((first, first + len(rows), data))
            if not self._oldest_wait:
                self._oldest_wait = time.monotonic()
        self._sent = first + len(rows)
        self._in_flight = 0
        if rows and not writer.gone:
            with contextlib.suppress(OSError):  # it died: its reader says so; the next one
                self._send(writer, data)  # gets the rows again

    def _drop_record(self) -> AuditRecord:
        dropped, first = self._dropped, self._first_drop
        lost = dropped - self._reported_drops
        self._reported_drops = dropped
        self._first_drop = 0.0
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first))
        log.error(
            "audit store %s: %d records were dropped since %s (the buffer of %d was full)",
            self._description,
            lost,
            since,
            self.buffer,
        )
        return AuditRecord(
            kind=RECORDS_DROPPED,
            gateway=self.gateway,
            decision="dropped",
            reason=f"{lost} records dropped: the audit store could not be written",
            time_us=round(first * 1_000_000),
            status=lost,
        )


def refuse_unrecorded(decision: Decision, access: str | None, store: AuditStore | None) -> Decision:
    """``decision``, or a 503 refusal when it would let through an operation that changes or
    takes out something while the audit store cannot record it (``refuse-writes``).

    For the place where the gateway decides: one call after ``policy.authorize``. The first
    refusal of an episode, and the first write let through after it, are logged.
    """
    if store is None or not decision.allowed or access == "read":
        return decision
    if store.accepting_writes():
        if store._refusing_since is not None:
            store._refusing_since = None
            log.warning(
                "audit store %s records again: write operations accepted", store._description
            )
        return decision
    if store._refusing_since is None:
        store._refusing_since = time.time()
        log.error(
            "audit store %s cannot keep up (%s): refusing write operations "
            "until it records again (audit.on_failure = refuse-writes)",
            store._description,
            store.refusal_detail(),
        )
    return Decision(
        allowed=False,
        operation=decision.operation,
        rule="audit-store",
        reason=f"the audit store of this gateway cannot record {decision.operation} now: "
        "operations that change something are refused until it can; reads still work",
        role=decision.role,
        status=503,
        profile=decision.profile,
    )
