"""Whether the Docker daemon answers: a small circuit breaker shared by every connection.

A failed connect, or a response deadline that passed, makes the gateway ask the daemon
``GET /_ping`` itself (the half-open probe). While that probe fails the breaker is open:
``down`` says why, and the relays answer new requests 502 at once instead of letting each one
wait for its own deadline. The probe repeats every ``PROBE_INTERVAL`` seconds and closes the
breaker as soon as the daemon answers; nothing is restarted. A single slow operation does not
open it, because the daemon still answers the probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dockward.engine_api import HttpError, open_unix

log = logging.getLogger("dockward.gateway")

PROBE_INTERVAL = 1.0
PROBE_TIMEOUT = 2.0


class DaemonHealth:
    """The breaker: ``down`` is ``None`` while the daemon is thought to answer, else why not."""

    def __init__(self, path: str, *, probe_timeout: float = PROBE_TIMEOUT) -> None:
        self.path = path
        self.probe_timeout = probe_timeout
        self.down: str | None = None
        self.trips = 0  # how often the breaker opened
        self._probe: asyncio.Task[None] | None = None

    def connect_failed(self, reason: str) -> None:
        """A connection to the daemon could not be opened: open the breaker, then probe."""
        self._open(f"cannot reach the Docker daemon at {self.path}: {reason}")
        self.suspect(reason)

    def suspect(self, reason: str) -> None:
        """Something suggests the daemon stopped answering: probe it (once at a time)."""
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_up(reason))

    def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None

    def _open(self, message: str) -> None:
        if self.down is None:
            self.trips += 1
            log.error("%s; new requests get 502 until it answers again", message)
        self.down = message

    async def _probe_until_up(self, reason: str) -> None:
        while True:
            failure = await self._ping()
            if failure is None:
                if self.down is not None:
                    log.info("the Docker daemon at %s answers again", self.path)
                self.down = None
                return
            self._open(failure)
            await asyncio.sleep(PROBE_INTERVAL)

    async def _ping(self) -> str | None:
        """Why ``GET /_ping`` failed (a sentence for the client), or ``None`` when the daemon
        answered it."""
        unreachable = f"cannot reach the Docker daemon at {self.path}"
        silent = f"the Docker daemon at {self.path} does not answer"
        try:
            connection = await open_unix(self.path, self.probe_timeout)
        except TimeoutError:
            return f"{unreachable}: no connection within {self.probe_timeout:g} s"
        except OSError as err:
            return f"{unreachable}: {err.strerror or err}"
        try:
            response = await connection.get("/_ping")
        except TimeoutError:
            return f"{silent} (no answer to a ping within {self.probe_timeout:g} s)"
        except (OSError, HttpError) as err:
            return f"{silent} ({err or type(err).__name__})"
        finally:
            with contextlib.suppress(Exception):
                await connection.close()
        if response.status >= 500:
            return f"{silent} (a ping answered {response.status})"
        return None
