"""Polling helpers: tests wait for conditions with a deadline, never with bare sleeps."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError, TimeoutError):
    """A polled condition did not become true before its deadline."""


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Call ``predicate`` until it returns a truthy value and return that value.

    Exceptions raised by the predicate count as "not yet"; the last one is chained to the
    ``WaitTimeout`` (both an ``AssertionError`` and a ``TimeoutError``) raised at the deadline.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = predicate()
        except Exception as exc:
            last_exc = exc
        else:
            if result:
                return result
            last_exc = None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            detail = f" (last error: {last_exc!r})" if last_exc is not None else ""
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}{detail}") from (
                last_exc
            )
        time.sleep(min(interval, remaining))


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
