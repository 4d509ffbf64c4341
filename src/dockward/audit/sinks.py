"""Where audit lines go: a file (``AccessLog``), standard output or standard error, or syslog.

Every sink is an observer of the gateway's events (``sink(event)``) in ``audit.format``'s line
format, and has ``reopen()`` (SIGHUP) and ``close()`` (shutdown). A sink may raise: the gateway's
``emit()`` contains it. ``open_sink`` picks one from the ``access_log`` setting: ``-`` is standard
error, ``stdout:`` standard output, ``syslog:`` the local syslog (facility daemon, one message
per line), anything else a file path.
"""

from __future__ import annotations

import sys
import syslog
from pathlib import Path
from typing import Protocol

from dockward.audit.access_log import AccessLog
from dockward.audit.format import json_line
from dockward.gateway.events import AuditEvent

STDOUT = "stdout:"
SYSLOG = "syslog:"

__all__ = ["STDOUT", "SYSLOG", "AccessLog", "Sink", "StdoutSink", "SyslogSink", "open_sink"]


class Sink(Protocol):
    def __call__(self, event: AuditEvent) -> None: ...

    def reopen(self) -> None: ...

    def close(self) -> None: ...


class StdoutSink(AccessLog):
    """The access log's batching, to standard output (never reopened nor rotated)."""

    def __init__(self) -> None:
        super().__init__("-")
        self._fd = sys.stdout.fileno()
        self.destination = "standard output"


class SyslogSink:
    """One syslog message per event, through the C library's ``syslog()`` (``/dev/log``)."""

    def __init__(self, ident: str = "dockward", facility: int = syslog.LOG_DAEMON) -> None:
        syslog.openlog(ident, syslog.LOG_PID, facility)

    def __call__(self, event: AuditEvent) -> None:
        syslog.syslog(syslog.LOG_INFO, json_line(event).rstrip("\n"))

    def reopen(self) -> None:
        """Nothing to reopen: the C library reconnects to the syslog socket by itself."""

    def close(self) -> None:
        syslog.closelog()


def open_sink(destination: str | Path, *, max_bytes: int | None = None, keep: int = 5) -> Sink:
    """The sink the ``access_log`` setting names (size rotation applies to files only)."""
    where = str(destination)
    if where == STDOUT:
        return StdoutSink()
    if where == SYSLOG:
        return SyslogSink()
    return AccessLog(where, max_bytes=max_bytes, keep=keep)
