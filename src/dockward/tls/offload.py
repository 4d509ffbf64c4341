"""Handshake steps on worker threads, so that a second core signs and verifies while the event
loop keeps relaying.

Most of a mutual-TLS handshake's CPU is inside OpenSSL (the signature, the key exchange, the
client certificate's verification), and both backends release the GIL around those calls (cffi
does for every C call, Python's ``ssl`` for ``do_handshake``). ``HandshakeThreads`` runs
``TLSServerSession.handshake_step`` on a few daemon threads and hands the outcome back to the
event loop with ``call_soon_threadsafe``. A session is touched by one thread at a time: the
caller does not use it between ``submit`` and the callback (see ``gateway.protocol``). OpenSSL's
error queue is per thread, so a step clears it, runs, and takes its failure reasons on the
worker.

Off by default (``tls.handshake_threads = 0``): measured with the load generator on the same
two cores (``bench.connect_rate``, ``bench.gateway_cost``), new connections per second did not
rise beyond the noise while the gateway's CPU per connection rose 8-15 %. In process
(``bench.handshake_offload``) a thread adds about 300 µs per handshake: ~85 inside the steps
(OpenSSL's caches cold on the other core) and the rest in the four thread wake-ups.
It is meant for a gateway with cores to spare whose event loop limits handshakes (clients on
other machines); that case was not measured here.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable

from dockward.tls.session import StepOutcome, TLSServerSession

log = logging.getLogger("dockward.tls")

Done = Callable[[StepOutcome], object]
_Job = tuple[TLSServerSession, Done] | None


class HandshakeThreads:
    """``threads`` daemon threads that run handshake steps for ``loop``; ``close()`` ends them."""

    __slots__ = ("_jobs", "_loop", "_threads")

    def __init__(self, threads: int, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"dockward-handshake-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def __len__(self) -> int:
        return len(self._threads)

    def submit(self, session: TLSServerSession, done: Done) -> None:
        """Run ``session.handshake_step()`` on a worker; ``done(outcome)`` then runs on the loop."""
        self._jobs.put((session, done))

    def close(self) -> None:
        """End the threads once the steps queued before are done (steps are short)."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def _work(self) -> None:
        jobs, loop = self._jobs, self._loop
        while (job := jobs.get()) is not None:
            session, done = job
            outcome = session.handshake_step()
            try:
                loop.call_soon_threadsafe(done, outcome)
            except RuntimeError:  # the loop is closed: the gateway stopped meanwhile
                pass
            except Exception:  # never let one connection end a worker
                log.exception("handing a handshake step back failed")
