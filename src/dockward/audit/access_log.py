"""The access log: one JSON line per request, appended as it completes.

Lines are written in batches: at most ``FLUSH_INTERVAL`` seconds after the first unwritten one,
at once when ``FLUSH_LINES`` are waiting, and on shutdown. Under load that is one ``write`` for
hundreds of requests instead of one per event-loop turn (a write per request cost about a sixth
of the gateway's CPU on ``GET /_ping``). A gateway killed with SIGKILL loses at most the last
``FLUSH_INTERVAL`` of lines; a clean stop (SIGTERM, SIGINT) loses nothing. When the file cannot
be written (disk full, I/O error), the error is logged once, requests go on, and up to
``MAX_BACKLOG`` bytes of lines are kept and retried; beyond that the oldest lines are dropped and
the count is logged.

It subscribes to the gateway's exchange events (the gateway does not import it). A line holds
time, identity, source, method, path, operation, decision, status, bytes each way and duration.
It never holds request bodies, query strings, registry credentials or ``Authorization`` headers:
the record it is given has no field for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path

from dockward.gateway.events import ExchangeRecord

FLUSH_INTERVAL = 0.05
FLUSH_LINES = 1024
MAX_BACKLOG = 16 * 1024 * 1024
RETRY_INTERVAL = 1.0

log = logging.getLogger("dockward.audit")


class AccessLog:
    """Writes each record as one line to a file (or standard error for ``-``)."""

    def __init__(self, destination: str | Path) -> None:
        self.destination = str(destination)
        if self.destination == "-":
            self._fd = sys.stderr.fileno()
            self._owned = False
        else:
            path = Path(self.destination)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._owned = True
        self._pending: list[ExchangeRecord] = []
        self._unwritten = bytearray()
        self._failing = False
        self._retry: asyncio.TimerHandle | None = None

    def __call__(self, record: ExchangeRecord) -> None:
        if self._fd < 0:
            return
        pending = self._pending
        pending.append(record)
        if len(pending) == 1:
            try:
                asyncio.get_running_loop().call_later(FLUSH_INTERVAL, self.flush)
            except RuntimeError:  # no loop (offline use): write at once
                self.flush()
                return
        if len(pending) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        """Write what is waiting; never raises (a write error is logged and retried later)."""
        if self._fd < 0:
            return
        if self._pending:
            # formatted here, a batch at a time: cheaper than one line per request as it completes
            self._unwritten += "".join([record.as_json_line() for record in self._pending]).encode()
            self._pending.clear()
        try:
            while self._unwritten:
                written = os.write(self._fd, self._unwritten)
                del self._unwritten[:written]
        except OSError as err:
            self._write_failed(err)
            return
        if self._failing:
            self._failing = False
            log.warning("the access log %s is written again", self.destination)

    def _write_failed(self, err: OSError) -> None:
        if not self._failing:
            self._failing = True
            log.error(
                "cannot write the access log %s: %s; keeping up to %d MiB of lines to retry",
                self.destination,
                err.strerror or err,
                MAX_BACKLOG >> 20,
            )
        excess = len(self._unwritten) - MAX_BACKLOG
        if excess > 0:
            cut = self._unwritten.find(b"\n", excess) + 1 or len(self._unwritten)
            dropped = self._unwritten[:cut].count(b"\n")
            del self._unwritten[:cut]
            log.error("access log %s: dropped the %d oldest lines", self.destination, dropped)
        if self._retry is None:
            with contextlib.suppress(RuntimeError):  # no loop: the next record or close() retries
                self._retry = asyncio.get_running_loop().call_later(RETRY_INTERVAL, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        self.flush()

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self.flush()
        if self._unwritten:
            log.error(
                "access log %s: %d lines could not be written",
                self.destination,
                self._unwritten.count(b"\n"),
            )
        if self._owned:
            os.close(self._fd)
            self._owned = False
        self._fd = -1
