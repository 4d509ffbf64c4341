"""The access log writes in batches but loses nothing on a clean stop."""

from __future__ import annotations

import asyncio
import errno
import json
import logging

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


class FlakyWrite:
    """``os.write`` that fails with ENOSPC until ``healed``."""

    def __init__(self) -> None:
        self.healed = False
        self.real = access_log.os.write

    def __call__(self, fd: int, data: bytes) -> int:
        if not self.healed:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real(fd, data)


def test_a_failing_disk_neither_breaks_requests_nor_loses_lines(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(access_log, "FLUSH_LINES", 2)
    flaky = FlakyWrite()
    monkeypatch.setattr(access_log.os, "write", flaky)
    target = tmp_path / "access.log"
    log = AccessLog(target)
    with caplog.at_level(logging.ERROR, logger="dockward.audit"):
        for n in range(5):
            log(record(f"/{n}"))  # a full batch flushes here: it must not raise
        log.flush()
    assert target.read_text() == ""
    assert sum("cannot write the access log" in r.message for r in caplog.records) == 1
    flaky.healed = True
    log(record("/5"))
    log.close()
    assert [entry["path"] for entry in lines(target)] == [f"/{n}" for n in range(6)]


def test_a_backlog_over_its_limit_drops_the_oldest_whole_lines(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(access_log, "MAX_BACKLOG", 1000)
    flaky = FlakyWrite()
    monkeypatch.setattr(access_log.os, "write", flaky)
    target = tmp_path / "access.log"
    log = AccessLog(target)
    with caplog.at_level(logging.ERROR, logger="dockward.audit"):
        for n in range(20):
            log(record(f"/{n}"))  # no event loop: each one is flushed (and fails) at once
    assert any("dropped the" in r.message for r in caplog.records)
    flaky.healed = True
    log.close()
    kept = [entry["path"] for entry in lines(target)]  # whole lines only: each one parses
    assert kept and kept[-1] == "/19" and len(kept) < 20
    assert kept == [f"/{n}" for n in range(20 - len(kept), 20)]
