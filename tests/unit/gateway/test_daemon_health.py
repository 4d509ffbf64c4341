"""The daemon breaker: opens when the daemon cannot be reached, closes when it answers a ping."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dockward.gateway import daemon_health
from dockward.gateway.daemon_health import DaemonHealth


class FakeDaemon:
    """A unix socket that answers pings, or accepts and stays silent (a stopped dockerd)."""

    def __init__(self, path: Path, *, answer: bool = True) -> None:
        self.path, self.answer = path, answer
        self.server: asyncio.Server | None = None
        self.release = asyncio.Event()
        self.handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FakeDaemon:
        self.server = await asyncio.start_unix_server(self._handle, str(self.path))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        self.release.set()
        await asyncio.gather(*self.handlers)
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.answer:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                await writer.drain()
            else:
                await self.release.wait()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _until(condition, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_a_failed_connect_opens_the_breaker_until_the_daemon_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(daemon_health, "PROBE_INTERVAL", 0.05)
    path = tmp_path / "d.sock"

    async def scenario() -> None:
        health = DaemonHealth(str(path), probe_timeout=0.5)
        health.connect_failed("No such file or directory")
        assert health.down == f"cannot reach the Docker daemon at {path}: No such file or directory"
        probe = health._probe
        assert probe is not None
        await asyncio.sleep(0.2)  # the probe fails a few times: still open, still the same reason
        assert not probe.done() and health.down.startswith("cannot reach the Docker daemon")
        try:
            async with FakeDaemon(path):
                await _until(lambda: health.down is None)
                assert health.trips == 1
        finally:
            health.close()

    asyncio.run(scenario())


def test_a_daemon_that_accepts_but_never_answers_keeps_it_open(tmp_path, monkeypatch):
    monkeypatch.setattr(daemon_health, "PROBE_INTERVAL", 0.05)
    path = tmp_path / "d.sock"

    async def scenario() -> None:
        health = DaemonHealth(str(path), probe_timeout=0.1)
        async with FakeDaemon(path, answer=False):
            try:
                health.suspect("late")
                await _until(lambda: health.down is not None)
                assert "no answer to a ping within 0.1 s" in (health.down or "")
            finally:
                health.close()

    asyncio.run(scenario())


def test_a_suspicion_with_a_daemon_that_answers_leaves_it_closed(tmp_path):
    path = tmp_path / "d.sock"

    async def scenario() -> None:
        health = DaemonHealth(str(path))
        async with FakeDaemon(path):
            health.suspect("one slow operation")
            probe = health._probe
            assert probe is not None
            await probe
            assert health.down is None and health.trips == 0

    asyncio.run(scenario())
