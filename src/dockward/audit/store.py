"""The audit store as a gateway observer: records written off the event loop, in batches.

``AuditStore`` is called with every gateway event on the event loop; all it does there is append
the event to a bounded queue (a ``deque``, no lock). A writer thread wakes every
``FLUSH_INTERVAL`` (or when a batch is full), turns the waiting events into records
(``audit.record.project``), chains and writes them in one transaction (``audit.backends``),
and prunes records older than ``retention_days`` once an hour.

When the store cannot be written (disk full, database down), the gateway keeps serving: the
writer keeps the batch in hand, retries with a growing delay (reconnecting when the connection
is lost), and events queue up to ``buffer`` records (the batch in hand comes on top). With
``on_failure = "refuse-writes"`` (the default) ``accepting_writes()`` turns false once the queue
is nine tenths full, so the gateway can refuse operations that change or take out something
(their refusals still find room in the last tenth); with ``"continue"`` it stays true. A full
queue drops new events and counts them; when the store is written again, a record of kind
``audit.dropped`` says how many were lost and when, in the chain where the gap is. ``state()``
tells all of this to ``/ready``, metrics and ``dockward status``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from dockward.audit.backends import (
    Backend,
    StoreUnavailable,
    display_name,
    is_postgres,
    open_backend,
)
from dockward.audit.record import RECORDS_DROPPED, AuditRecord, project
from dockward.policy.decision import Decision

OnFailure = Literal["refuse-writes", "continue"]

BUFFER = 100_000  # events kept while the store cannot be written (a few hundred bytes each)
BATCH = 2_000  # records taken into hand and written in one transaction, at most
PAUSE_EVERY = 250  # records projected between two chances for the event loop to run
FLUSH_INTERVAL = 0.1  # seconds: the longest a record waits in the queue when all is well
RETRY_FIRST, RETRY_MAX = 0.2, 5.0  # seconds between attempts while the store fails
PRUNE_INTERVAL = 3600.0
DROP_REPORT_INTERVAL = 10.0
REFUSE_WRITES_AT = 0.9  # of the buffer

log = logging.getLogger("dockward.audit")


@dataclass(frozen=True, slots=True)
class AuditState:
    """What the store is doing, for ``/ready``, metrics and the status command."""

    database: str
    gateway: str
    on_failure: str
    failing: bool  # the last attempt to write failed
    failing_since: float | None  # time.time() of the first failure of this episode
    last_error: str
    pending: int  # events not yet written (queued and in hand)
    written: int  # records written since start
    dropped: int  # events dropped since start (the queue was full)
    lag: float  # seconds the oldest unwritten record has waited (0 when none)
    accepting_writes: bool
    writer_cpu: float  # CPU seconds the writer thread has used
    failures: int = 0  # failed attempts to write since start
    refusing_since: float | None = None  # time.time() write operations began to be refused


def default_gateway_name() -> str:
    return socket.gethostname() or "dockward"


class AuditStore:
    """A gateway observer that writes every event to a ``Backend`` from a thread of its own."""

    def __init__(
        self,
        database: str,
        gateway: str | None = None,
        *,
        on_failure: OnFailure = "refuse-writes",
        retention_days: float | None = None,
        buffer: int = BUFFER,
        opener: Callable[[str], Backend] = open_backend,
    ) -> None:
        self.database = database
        self.gateway = gateway or default_gateway_name()
        self.on_failure = on_failure
        self.retention_days = retention_days
        self.buffer = buffer
        self._refuse_at = max(1, int(buffer * REFUSE_WRITES_AT))
        self._opener = opener
        self._queue: collections.deque[object] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        kind = "PostgreSQL" if is_postgres(database) else "SQLite"
        self._description = f"{kind} {display_name(database)}"
        # shared with the writer thread: plain counters, each written by one side only
        self._held: list[AuditRecord] = []  # taken from the queue, not yet written; writer only
        self._queued = 0  # loop thread: events queued since start
        self._taken = 0  # writer: events taken from the queue since start
        self._dropped = 0  # loop thread
        self._drop_mark = 0  # loop thread: events queued before the first unreported drop
        self._first_drop = 0.0  # loop thread: time of the first drop not yet reported
        self._reported_drops = 0  # writer
        self._written = 0
        self._failing_since: float | None = None
        self._last_error = ""
        self._oldest_wait = 0.0  # monotonic time the oldest record in hand was queued
        self._next_prune = 0.0
        self._next_drop_report = 0.0
        self._cpu = 0.0  # writer
        self._failures = 0  # writer
        self._refusing_since: float | None = None  # loop thread: refuse_unrecorded

    # ---------------------------------------------------------------- the event loop's side

    def __call__(self, event: object) -> None:
        queue = self._queue
        if len(queue) >= self.buffer:
            if self._first_drop == 0.0:
                self._first_drop = time.time()
                self._drop_mark = self._queued  # the gap comes after the events queued so far
            self._dropped += 1
            return
        self._queued += 1
        queue.append(event)
        if len(queue) == BATCH:
            self._wake.set()

    def accepting_writes(self) -> bool:
        """False when operations that change or take out something should be refused: the
        records wait beyond nine tenths of the buffer and ``on_failure`` is ``refuse-writes``."""
        return self.on_failure == "continue" or len(self._queue) < self._refuse_at

    def state(self) -> AuditState:
        oldest = self._oldest_wait
        pending = len(self._queue) + len(self._held)
        return AuditState(
            database=self._description,
            gateway=self.gateway,
            on_failure=self.on_failure,
            failing=self._failing_since is not None,
            failing_since=self._failing_since,
            last_error=self._last_error,
            pending=pending,
            written=self._written,
            dropped=self._dropped,
            lag=time.monotonic() - oldest if pending and oldest else 0.0,
            accepting_writes=self.accepting_writes(),
            writer_cpu=self._cpu,
            failures=self._failures,
            refusing_since=None if self.accepting_writes() else self._refusing_since,
        )

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the writer thread (it opens the store; a failure to open is a write failure)."""
        self._thread = threading.Thread(target=self._run, name="dockward-audit", daemon=True)
        self._thread.start()

    def drain(self, timeout: float) -> bool:
        """Wait until every event queued so far is written; False at the timeout."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while self._queue or self._held:
                self._wake.set()
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._progress.wait(min(remaining, FLUSH_INTERVAL))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what waits (one more attempt if the store fails), then stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        left = len(self._queue) + len(self._held)
        if left:
            log.error(
                "audit store %s: %d records could not be written before stopping",
                self._description,
                left,
            )

    # ---------------------------------------------------------------- the writer thread

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._cpu = time.thread_time()
            with self._progress:
                self._progress.notify_all()

    def _loop(self) -> None:
        backend: Backend | None = None
        delay = 0.0
        while True:
            self._cpu = time.thread_time()
            stopping = self._stop.is_set()
            if self._failing_since is None or not self._held:
                self._take()  # while failing, the batch in hand is retried as it is
            try:
                if self._held or self._due_for_prune():
                    if backend is None:
                        backend = self._opener(self.database)
                        self._description = backend.description
                    if self._held:
                        self._write(backend)
                    if self._due_for_prune():
                        self._prune(backend)
            except Exception as err:
                if backend is not None and not (
                    isinstance(err, StoreUnavailable) and backend.usable
                ):
                    with contextlib.suppress(Exception):
                        backend.close()
                    backend = None
                self._failed(err)
                if stopping:
                    break
                delay = min(max(delay * 2, RETRY_FIRST), RETRY_MAX)
                self._stop.wait(delay)
                continue
            delay = 0.0
            with self._progress:
                self._progress.notify_all()
            if stopping and not self._queue:
                break
            if len(self._queue) < BATCH:
                self._wake.wait(FLUSH_INTERVAL)
                self._wake.clear()
        if backend is not None:
            with contextlib.suppress(Exception):
                backend.close()

    def _take(self) -> None:
        """Move up to a batch of queued events into hand, as records."""
        held, queue = self._held, self._queue
        if len(held) >= BATCH:
            return
        if not held:
            self._oldest_wait = time.monotonic()
        gateway = self.gateway
        while queue and len(held) < BATCH:
            if self._taken == self._drop_mark and self._dropped > self._reported_drops:
                held.append(self._drop_record())  # in the chain where the gap is
            record = project(queue.popleft(), gateway)
            self._taken += 1
            if record is not None:
                held.append(record)
            if not self._taken % PAUSE_EVERY:
                time.sleep(0)  # the event loop may want the GIL: never keep it for long
        if not queue and self._dropped > self._reported_drops and len(held) < BATCH:
            held.append(self._drop_record())

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

    def _write(self, backend: Backend) -> None:
        """Write what is in hand in one transaction (a commit costs about a millisecond)."""
        held = self._held
        backend.append(self.gateway, held)
        self._written += len(held)
        held.clear()
        self._oldest_wait = 0.0
        if self._failing_since is not None:
            log.warning(
                "audit store %s is written again (it failed for %.1f s)",
                self._description,
                time.time() - self._failing_since,
            )
            self._failing_since = None
            self._last_error = ""

    def _due_for_prune(self) -> bool:
        return self.retention_days is not None and time.monotonic() >= self._next_prune

    def _prune(self, backend: Backend) -> None:
        assert self.retention_days is not None
        self._next_prune = time.monotonic() + PRUNE_INTERVAL
        before = time.time() - self.retention_days * 86400
        try:
            deleted = backend.prune(self.gateway, round(before * 1_000_000))
        except StoreUnavailable as err:
            log.error("audit store %s: retention failed: %s", self._description, err)
            return
        if deleted:
            log.info(
                "audit store %s: %d records older than %g days removed (chain re-anchored)",
                self._description,
                deleted,
                self.retention_days,
            )

    def _failed(self, err: Exception) -> None:
        message = str(err) if isinstance(err, StoreUnavailable) else repr(err)
        self._failures += 1
        first = self._failing_since is None
        if first:
            self._failing_since = time.time()
        if first or message != self._last_error:
            if isinstance(err, StoreUnavailable):
                log.error(
                    "cannot write the audit store %s: %s; keeping up to %d records, then %s",
                    self._description,
                    message,
                    self.buffer,
                    "refusing write operations"
                    if self.on_failure == "refuse-writes"
                    else "dropping records",
                )
            else:  # a bug: its traceback, once per distinct message
                log.exception("the audit store writer failed")
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
            "audit store %s cannot keep up (%d records wait): refusing write operations "
            "until it records again (audit.on_failure = refuse-writes)",
            store._description,
            len(store._queue),
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
