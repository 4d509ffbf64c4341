"""The access log: one JSON line per request, appended as it completes.

Lines are written in batches: at most ``FLUSH_INTERVAL`` seconds after the first unwritten one,
at once when ``FLUSH_LINES`` are waiting, and on shutdown. Under load that is one ``write`` for
hundreds of requests instead of one per event-loop turn (a write per request cost about a sixth
of the gateway's CPU on ``GET /_ping``). A gateway killed with SIGKILL loses at most the last
``FLUSH_INTERVAL`` of lines; a clean stop (SIGTERM, SIGINT) loses nothing. When the file cannot
be written (disk full, I/O error), the error is logged once, requests go on, and up to
``MAX_BACKLOG`` bytes of lines are kept and retried; beyond that the oldest lines are dropped and
the count is logged.

A file log follows its path, so it can be rotated from outside: ``reopen()`` (the gateway calls it
on SIGHUP) opens the path anew, and each flush checks with one ``stat`` whether the path still
names the open file; when it was moved or deleted, a new file is opened at the path before the
batch is written. Lines written before a move stay in the moved file; nothing waiting is lost.
With ``max_bytes``, the log rotates itself: before a write would take the file past it, the file
becomes ``PATH.1`` (``PATH.1`` becomes ``PATH.2`` and so on up to ``keep``; the oldest is
replaced) and a new file is started. Standard error is never reopened nor rotated.

It subscribes to the gateway's events (the gateway does not import it): one line per exchange,
and one per refused connection, failed handshake or revocation cut, in ``audit.format``'s line
format. A line never holds request bodies, query strings, registry credentials or
``Authorization`` headers: the events it is given have no field for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path

from dockward.audit.format import json_lines
from dockward.gateway.events import AuditEvent

FLUSH_INTERVAL = 0.05
FLUSH_LINES = 1024
MAX_BACKLOG = 16 * 1024 * 1024
RETRY_INTERVAL = 1.0

log = logging.getLogger("dockward.audit")


class AccessLog:
    """Writes each record as one line to a file (or standard error for ``-``)."""

    def __init__(
        self, destination: str | Path, *, max_bytes: int | None = None, keep: int = 5
    ) -> None:
        self.destination = str(destination)
        self.max_bytes = max_bytes if max_bytes and self.destination != "-" else None
        self.keep = keep
        self._fd = -1
        self._file = (0, 0)  # (st_dev, st_ino) of the open file
        self._size = 0  # of the open file, as of the last stat plus what was written since
        self._at_line_start = True
        if self.destination == "-":
            self._fd = sys.stderr.fileno()
            self._owned = False
        else:
            Path(self.destination).parent.mkdir(parents=True, exist_ok=True)
            self._open_path()
            self._owned = True
        self._pending: list[AuditEvent] = []
        self._unwritten = bytearray()
        self._failing = False
        self._rotation_failing = False
        self._retry: asyncio.TimerHandle | None = None

    def __call__(self, event: AuditEvent) -> None:
        if self._fd < 0:
            return
        pending = self._pending
        pending.append(event)
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
            self._unwritten += json_lines(self._pending).encode()
            self._pending.clear()
        if not self._unwritten:
            return
        try:
            if self._owned:
                self._follow_path()
            self._write_unwritten()
        except OSError as err:
            self._write_failed(err)
            return
        if self._failing:
            self._failing = False
            log.warning("the access log %s is written again", self.destination)

    def reopen(self) -> None:
        """Open the path anew (after an outside rotation); what waits goes to the new file."""
        if not self._owned:
            return
        try:
            self._open_path()
        except OSError as err:
            log.error("cannot reopen the access log %s: %s", self.destination, err.strerror or err)
            return
        log.info("access log %s reopened", self.destination)

    def _open_path(self) -> None:
        """Open (creating it 0600) the file the path names now, in place of the open one."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        fd = os.open(self.destination, flags, 0o600)
        info = os.fstat(fd)
        old, self._fd = self._fd, fd
        self._file = (info.st_dev, info.st_ino)
        self._size = info.st_size
        if old >= 0:
            with contextlib.suppress(OSError):
                os.close(old)

    def _follow_path(self) -> None:
        """One ``stat`` per batch: reopen when the path no longer names the open file."""
        try:
            info = os.stat(self.destination)
        except FileNotFoundError:
            pass
        except OSError:  # cannot tell (a directory no longer searchable): keep the open file
            return
        else:
            if (info.st_dev, info.st_ino) == self._file:
                self._size = info.st_size  # also right after an outside truncation
                return
        self._open_path()  # raises OSError: the lines are kept and retried like a write error
        log.info("access log %s was moved or deleted: writing to a new file", self.destination)

    def _write_unwritten(self) -> None:
        limit = self.max_bytes
        while self._unwritten:
            end = self._fitting(limit)
            if end == 0:
                if not self._rotate() or self._size:
                    limit = None  # cannot make room: this batch goes to the file as it is
                continue
            data = self._unwritten if end == len(self._unwritten) else self._unwritten[:end]
            written = os.write(self._fd, data)
            if written:
                self._at_line_start = self._unwritten[written - 1] == 0x0A
            del self._unwritten[:written]
            self._size += written

    def _fitting(self, limit: int | None) -> int:
        """How many bytes of the waiting lines to write to the open file; 0: rotate first."""
        waiting = len(self._unwritten)
        if limit is None or self._size + waiting <= limit:
            return waiting
        line_end = self._unwritten.find(b"\n") + 1 or waiting
        if not self._at_line_start:  # a short write left a line open: finish it in this file
            return line_end
        whole_lines = self._unwritten.rfind(b"\n", 0, max(limit - self._size, 0)) + 1
        if whole_lines:
            return whole_lines
        return line_end if self._size == 0 else 0  # a line longer than the limit: its own file

    def _rotate(self) -> bool:
        """PATH → PATH.1 → … → PATH.keep (the oldest is replaced), then a new file at PATH."""
        try:
            for n in range(self.keep - 1, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{self.destination}.{n}", f"{self.destination}.{n + 1}")
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.destination, f"{self.destination}.1")
        except OSError as err:
            if not self._rotation_failing:
                self._rotation_failing = True
                log.error(
                    "cannot rotate the access log %s: %s; it grows past %d bytes until it can be",
                    self.destination,
                    err.strerror or err,
                    self.max_bytes,
                )
            return False
        if self._rotation_failing:
            self._rotation_failing = False
            log.warning("the access log %s is rotated again", self.destination)
        self._open_path()  # raises OSError: the lines are kept and retried like a write error
        return True

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
