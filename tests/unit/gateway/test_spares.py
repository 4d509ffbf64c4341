"""Spare daemon connections: a new client's first request goes over one opened ahead of it, and
no daemon connection ever carries two clients' requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dockward.config import config_from_dict
from dockward.gateway import spares as spares_module
from dockward.gateway.server import Gateway

PONG = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


@dataclass
class Daemon:
    """A fake daemon that numbers its connections and notes which one each request came on."""

    accepted: int = 0
    requests: list[tuple[int, bytes]] = field(default_factory=list)
    open: dict[int, asyncio.StreamWriter] = field(default_factory=dict)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        number = self.accepted
        self.open[number] = writer
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.requests.append((number, head.split(b" ")[1]))
                writer.write(PONG)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open.pop(number, None)
            writer.close()

    def close_idle(self) -> None:
        """Close the connections no request came on (the spares)."""
        used = {number for number, _ in self.requests}
        for number, writer in list(self.open.items()):
            if number not in used:
                writer.close()


async def _until(condition, what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def _ask(front: Path, path: str) -> tuple[bytes, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(str(front))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head + await asyncio.wait_for(reader.readexactly(2), 5), writer


def _run(tmp_path: Path, scenario) -> Daemon:
    daemon = Daemon()
    socket, front = tmp_path / "docker.sock", tmp_path / "front.sock"

    async def main() -> None:
        server = await asyncio.start_unix_server(daemon.serve, str(socket))
        config = config_from_dict({"upstream": str(socket), "listen": [{"unix": str(front)}]})
        gateway = Gateway(config)
        await gateway.start()
        try:
            await scenario(gateway, daemon, front)
        finally:
            await gateway.stop()
            await _until(lambda: not daemon.open, "the daemon's connections to close")
            server.close()

    asyncio.run(main())
    return daemon


@pytest.fixture(autouse=True)
def two_spares(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spares_module, "SPARES", 2)  # the numbers below count on two


def test_a_new_client_takes_a_spare_and_no_connection_carries_two_clients(tmp_path):
    async def scenario(gateway: Gateway, daemon: Daemon, front: Path) -> None:
        answer, first = await _ask(front, "/_ping?first")  # no spare yet: its own connection
        assert answer == PONG
        await _until(lambda: len(gateway.spares) == 2, "two spares")
        assert daemon.accepted == 3
        answer, second = await _ask(front, "/_ping?second")  # a spare, opened before it came
        assert answer == PONG, answer
        first.write(b"GET /_ping?first-again HTTP/1.1\r\nHost: x\r\n\r\n")
        second.write(b"GET /_ping?second-again HTTP/1.1\r\nHost: x\r\n\r\n")
        await _until(lambda: len(daemon.requests) == 4, "the keep-alive requests")
        await _until(lambda: len(gateway.spares) == 2, "the spare taken to be replaced")
        first.close()
        second.close()

    daemon = _run(tmp_path, scenario)
    on = {path: number for number, path in daemon.requests}
    assert on[b"/_ping?first"] == on[b"/_ping?first-again"] == 1
    assert on[b"/_ping?second"] == on[b"/_ping?second-again"] in (2, 3)
    assert daemon.accepted == 4  # the replacement, unused: closed at stop


def test_spares_the_daemon_closed_are_not_used(tmp_path):
    async def scenario(gateway: Gateway, daemon: Daemon, front: Path) -> None:
        _, first = await _ask(front, "/_ping?first")
        await _until(lambda: len(gateway.spares) == 2, "two spares")
        daemon.close_idle()  # a daemon restart, say
        await _until(lambda: len(gateway.spares) == 0, "the closed spares to be dropped")
        answer, second = await _ask(front, "/_ping?second")
        assert answer == PONG
        first.close()
        second.close()

    daemon = _run(tmp_path, scenario)
    on = dict((path, number) for number, path in daemon.requests)
    assert on[b"/_ping?second"] > 3  # a connection of its own, not a closed spare


def test_a_spare_older_than_max_age_is_closed_not_used(tmp_path, monkeypatch):
    monkeypatch.setattr(spares_module, "MAX_AGE", 0.0)

    async def scenario(gateway: Gateway, daemon: Daemon, front: Path) -> None:
        _, first = await _ask(front, "/_ping?first")
        await _until(lambda: len(gateway.spares) == 2, "two spares")
        before = daemon.accepted
        answer, second = await _ask(front, "/_ping?second")
        assert answer == PONG
        await _until(lambda: 2 not in daemon.open and 3 not in daemon.open, "old spares closed")
        assert daemon.accepted > before
        first.close()
        second.close()

    daemon = _run(tmp_path, scenario)
    on = dict((path, number) for number, path in daemon.requests)
    assert on[b"/_ping?second"] not in (2, 3)


def test_spares_that_cannot_connect_leave_the_clients_own_error(tmp_path, caplog):
    async def main() -> bytes:
        front = tmp_path / "front.sock"
        config = config_from_dict(
            {"upstream": str(tmp_path / "missing.sock"), "listen": [{"unix": str(front)}]}
        )
        gateway = Gateway(config)
        await gateway.start()
        try:
            answers = []
            for _ in range(2):
                reader, writer = await asyncio.open_unix_connection(str(front))
                writer.write(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                answers.append(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5))
                writer.close()
            assert len(gateway.spares) == 0
            return answers[1]
        finally:
            await gateway.stop()

    assert asyncio.run(main()).startswith(b"HTTP/1.1 502 ")
