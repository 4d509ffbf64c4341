"""Daemon connections opened ahead of need, so that a new client's first request need not wait.

Opening the daemon's unix socket takes a task and a few turns of the event loop: under load,
about 2 ms on the way of every new client's first request, while the loop serves other clients'
handshakes. So the gateway keeps ``SPARES`` connections open that no request has used yet. A
client connection that needs the daemon takes one at once (``take``), and another is opened
behind it; when none is left, the client opens its own, as it always did.

A spare is fresh, never reused: each client connection still has a daemon connection of its
own that carried nobody else's bytes. dockerd closes a connection on which no request began
within its ``ReadHeaderTimeout`` (5 minutes), so a spare older than ``MAX_AGE`` is closed rather
than used; one the daemon closed (a restart, say) is dropped when its EOF arrives. Spares are
opened on demand only: an idle gateway holds at most ``SPARES``, and none before its first
client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

log = logging.getLogger("dockward.gateway")

SPARES = 4  # connections kept ready: the docker CLI and compose open several at once
MAX_AGE = 30.0  # seconds a spare may wait for a client; far below dockerd's 5 minutes


class _Spare(asyncio.Protocol):
    """A daemon connection waiting for a client; the client's ``UpstreamProtocol`` replaces it."""

    __slots__ = ("born", "pool", "transport")

    def __init__(self, pool: SpareConnections) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.born = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.close()  # the daemon does not speak first: not a connection to use

    def eof_received(self) -> bool:
        return False  # closes it

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self)


class SpareConnections:
    """Up to ``size`` unused connections to the daemon's socket at ``path``."""

    def __init__(self, path: str, connect_timeout: float, size: int | None = None) -> None:
        self.path = path
        self.connect_timeout = connect_timeout
        self.size = SPARES if size is None else size
        self._idle: deque[_Spare] = deque()
        self._opening: set[asyncio.Task[None]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._idle)

    def take(self) -> asyncio.Transport | None:
        """A connected transport nobody has used (its protocol to be replaced), or None."""
        now = asyncio.get_running_loop().time()
        while self._idle:
            spare = self._idle.popleft()
            transport = spare.transport
            if transport is None or transport.is_closing():
                continue
            if now - spare.born > MAX_AGE:
                transport.close()
                continue
            return transport
        return None

    def refill(self) -> None:
        """Open spares up to ``size`` for the next clients (after a client's own connection
        attempt, which they must not delay)."""
        loop = asyncio.get_running_loop()
        while not self._closed and len(self._idle) + len(self._opening) < self.size:
            task = loop.create_task(self._open(loop))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    def lost(self, spare: _Spare) -> None:
        """A waiting spare closed (the daemon went away, say): no longer offered."""
        with contextlib.suppress(ValueError):  # not waiting (yet, or any more)
            self._idle.remove(spare)

    def close(self) -> None:
        """Close every spare and open no more (gateway stop)."""
        self._closed = True
        for task in self._opening:
            task.cancel()
        while self._idle:
            transport = self._idle.popleft().transport
            if transport is not None:
                transport.close()

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        spare = _Spare(self)
        try:
            async with asyncio.timeout(self.connect_timeout):
                await loop.create_unix_connection(lambda: spare, self.path)
        except (OSError, TimeoutError) as err:
            # a client's own connection attempt reports an unreachable daemon
            log.debug("no spare connection to %s: %s", self.path, err)
            return
        assert spare.transport is not None
        if self._closed:
            spare.transport.close()
            return
        spare.born = loop.time()
        self._idle.append(spare)
