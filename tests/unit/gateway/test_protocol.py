"""The asyncio adapter, in process: a unix listener in front of a scripted fake daemon."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from dockward.config import config_from_dict
from dockward.gateway.events import ExchangeRecord
from dockward.gateway.server import Gateway

PING = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
PONG = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


async def _fake_daemon(path: Path) -> asyncio.base_events.Server:
    """Answers every ``GET /_ping`` head it reads with ``PONG`` (keep-alive)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(PONG)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_unix_server(serve, str(path))


async def _ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(PING)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head + await asyncio.wait_for(reader.readexactly(2), 5)


def test_a_raising_observer_does_not_break_the_next_keepalive_request(tmp_path, caplog):
    daemon, front = tmp_path / "docker.sock", tmp_path / "front.sock"
    seen: list[ExchangeRecord] = []

    def full_disk(event: object) -> None:
        raise OSError(28, "No space left on device")

    async def scenario() -> list[bytes]:
        fake = await _fake_daemon(daemon)
        config = config_from_dict({"upstream": str(daemon), "listen": [{"unix": str(front)}]})
        gateway = Gateway(config, observers=[full_disk, seen.append])  # type: ignore[list-item]
        await gateway.start()
        try:
            reader, writer = await asyncio.open_unix_connection(str(front))
            answers = [await _ask(reader, writer) for _ in range(3)]
            writer.close()
            return answers
        finally:
            await gateway.stop()
            fake.close()

    with caplog.at_level(logging.ERROR, logger="dockward.gateway"):
        answers = asyncio.run(scenario())
    assert answers == [PONG] * 3
    assert [(r.path, r.status) for r in seen] == [("/_ping", 200)] * 3
    failures = [r for r in caplog.records if "observer" in r.getMessage()]
    assert len(failures) == 1
