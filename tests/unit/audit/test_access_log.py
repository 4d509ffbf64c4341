"""The access log writes in batches but loses nothing on a clean stop."""

from __future__ import annotations

import asyncio
import json

from dockward.audit import access_log
from dockward.audit.access_log import AccessLog
from dockward.gateway.events import ExchangeRecord


def record(path: str = "/_ping") -> ExchangeRecord:
    return ExchangeRecord(
        started=1_800_000_000.25,
        source="127.0.0.1:5000",
        listener="127.0.0.1:2376",
        identity=None,
        method="GET",
        path=path,
        operation="system.ping",
        decision="allow",
        status=200,
    )


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lines_are_batched_then_arrive_without_a_further_request(tmp_path):
    target = tmp_path / "access.log"

    async def scenario() -> tuple[int, int]:
        log = AccessLog(target)
        log(record("/a"))
        log(record("/b"))
        before = len(target.read_text().splitlines())  # nothing yet: the batch is open
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while len(target.read_text().splitlines()) < 2 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        after = len(target.read_text().splitlines())
        log.close()
        return before, after

    before, after = asyncio.run(scenario())
    assert (before, after) == (0, 2)
    assert [entry["path"] for entry in lines(target)] == ["/a", "/b"]
    assert lines(target)[0]["time"] == "2027-01-15T08:00:00.250+00:00"


def test_a_full_batch_is_written_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(access_log, "FLUSH_LINES", 3)
    target = tmp_path / "access.log"

    async def scenario() -> int:
        log = AccessLog(target)
        for n in range(3):
            log(record(f"/{n}"))
        written = len(target.read_text().splitlines())
        log.close()
        return written

    assert asyncio.run(scenario()) == 3


def test_close_writes_what_is_pending(tmp_path):
    target = tmp_path / "access.log"

    async def scenario() -> None:
        log = AccessLog(target)
        log(record())
        log.close()

    asyncio.run(scenario())
    assert [entry["status"] for entry in lines(target)] == [200]


def test_without_an_event_loop_each_line_is_written_at_once(tmp_path):
    target = tmp_path / "access.log"
    log = AccessLog(target)
    log(record())
    assert len(lines(target)) == 1
    log.close()
