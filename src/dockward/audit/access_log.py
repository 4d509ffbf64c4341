"""The access log: one JSON line per request, appended as it completes.

Lines are written in batches: at most ``FLUSH_INTERVAL`` seconds after the first unwritten one,
at once when ``FLUSH_LINES`` are waiting, and on shutdown. Under load that is one ``write`` for
hundreds of requests instead of one per event-loop turn (a write per request cost about a sixth
of the gateway's CPU on ``GET /_ping``). A gateway killed with SIGKILL loses at most the last
``FLUSH_INTERVAL`` of lines; a clean stop (SIGTERM, SIGINT) loses nothing.

It subscribes to the gateway's exchange events (the gateway does not import it). A line holds
time, identity, source, method, path, operation, decision, status, bytes each way and duration.
It never holds request bodies, query strings, registry credentials or ``Authorization`` headers:
the record it is given has no field for them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from dockward.gateway.events import ExchangeRecord

FLUSH_INTERVAL = 0.05
FLUSH_LINES = 1024


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
        if not self._pending or self._fd < 0:
            return
        # formatted here, a batch at a time: cheaper than one line per request as it completes
        data = "".join([record.as_json_line() for record in self._pending]).encode()
        self._pending.clear()
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def close(self) -> None:
        self.flush()
        if self._owned:
            os.close(self._fd)
            self._owned = False
        self._fd = -1
