"""The access log writes in batches but loses nothing on a clean stop."""

from __future__ import annotations

import asyncio
import errno
import json
import logging

from dockward.audit import access_log
from dockward.audit.access_log import AccessLog
from dockward.audit.format import json_line
from dockward.gateway.events import ExchangeRecord, Peer


def record(path: str = "/_ping") -> ExchangeRecord:
    return ExchangeRecord(
        started=1_800_000_000.25,
        peer=Peer("127.0.0.1:2376", "127.0.0.1:5000", None),
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


def paths(path) -> list[str]:
    try:
        return [entry["path"] for entry in lines(path)]
    except FileNotFoundError:
        return []


def test_a_moved_file_is_followed_by_a_new_one_at_the_path(tmp_path, caplog):
    target = tmp_path / "access.log"
    log = AccessLog(target)
    log(record("/before"))
    target.rename(tmp_path / "access.log.1")
    with caplog.at_level(logging.INFO, logger="dockward.audit"):
        log(record("/after"))
    log.close()
    assert paths(tmp_path / "access.log.1") == ["/before"]
    assert paths(target) == ["/after"]
    assert target.stat().st_mode & 0o777 == 0o600
    assert any("was moved or deleted" in r.message for r in caplog.records)


def test_a_deleted_file_is_created_again(tmp_path):
    target = tmp_path / "access.log"
    log = AccessLog(target)
    log(record("/before"))
    target.unlink()
    log(record("/after"))
    log.close()
    assert paths(target) == ["/after"]


def test_lines_waiting_when_the_file_is_moved_are_not_lost(tmp_path):
    target = tmp_path / "access.log"
    moved = tmp_path / "access.log.1"

    async def scenario() -> None:
        log = AccessLog(target)
        log(record("/a"))
        log(record("/b"))  # both wait for the batch
        target.rename(moved)
        log(record("/c"))
        log.close()

    asyncio.run(scenario())
    assert paths(moved) + paths(target) == ["/a", "/b", "/c"]


def test_reopen_switches_to_the_file_now_at_the_path(tmp_path):
    target = tmp_path / "access.log"
    log = AccessLog(target)
    log(record("/before"))
    target.rename(tmp_path / "old.log")
    target.write_text("")  # as logrotate's `create` leaves it
    log.reopen()
    log(record("/after"))
    log.close()
    assert paths(tmp_path / "old.log") == ["/before"]
    assert paths(target) == ["/after"]


def test_reopen_after_close_and_on_standard_error_does_nothing(tmp_path, capfd):
    log = AccessLog("-", max_bytes=10)
    log.reopen()
    log(record("/on-stderr"))  # longer than max_bytes: standard error is never rotated
    log.close()
    assert '"path":"/on-stderr"' in capfd.readouterr().err
    closed = AccessLog(tmp_path / "access.log")
    closed.close()
    closed.reopen()
    closed(record("/late"))
    assert (tmp_path / "access.log").read_text() == ""


def test_a_path_that_cannot_be_reopened_keeps_the_lines_until_it_can(tmp_path, caplog):
    directory = tmp_path / "logs"
    target = directory / "access.log"
    log = AccessLog(target)
    log(record("/0"))
    target.unlink()
    directory.rmdir()
    with caplog.at_level(logging.ERROR, logger="dockward.audit"):
        log(record("/1"))
        log(record("/2"))
    assert sum("cannot write the access log" in r.message for r in caplog.records) == 1
    directory.mkdir()
    log(record("/3"))
    log.close()
    assert paths(target) == ["/1", "/2", "/3"]


def test_one_stat_per_batch_not_per_request(tmp_path, monkeypatch):
    target = tmp_path / "access.log"
    calls = []
    real_stat = access_log.os.stat

    def counting_stat(path, *args, **kwargs):
        calls.append(path)
        return real_stat(path, *args, **kwargs)

    async def scenario() -> None:
        log = AccessLog(target)
        monkeypatch.setattr(access_log.os, "stat", counting_stat)
        for n in range(100):
            log(record(f"/{n}"))
        log.close()

    asyncio.run(scenario())
    assert len(paths(target)) == 100
    assert [path for path in calls if str(path) == str(target)] == [str(target)]


def all_paths(files) -> list[str]:
    return [logged for file in files for logged in paths(file)]


LINE = len(json_line(record("/00")).encode())


def rotated(target, keep: int) -> list:
    """The log's files, oldest first."""
    return [target.with_name(f"{target.name}.{n}") for n in range(keep, 0, -1)] + [target]


def test_size_rotation_shifts_the_files_and_keeps_at_most_keep(tmp_path):
    target = tmp_path / "access.log"
    log = AccessLog(target, max_bytes=3 * LINE, keep=3)
    for n in range(20):
        log(record(f"/{n:02}"))
    log.close()
    files = rotated(target, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files)
    assert [len(paths(p)) for p in files] == [3, 3, 3, 2]
    # the newest lines, in order, across the files; the oldest ones were deleted
    assert all_paths(files) == [f"/{n:02}" for n in range(9, 20)]
    assert all(p.stat().st_size <= 3 * LINE for p in files)
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_batch_larger_than_max_bytes_is_split_at_line_ends(tmp_path):
    target = tmp_path / "access.log"

    async def scenario() -> None:
        log = AccessLog(target, max_bytes=2 * LINE + LINE // 2, keep=10)
        for n in range(7):
            log(record(f"/{n:02}"))  # one batch: written on close
        log.close()

    asyncio.run(scenario())
    files = [p for p in rotated(target, 10) if p.exists()]
    assert [len(paths(p)) for p in files] == [2, 2, 2, 1]
    assert all_paths(files) == [f"/{n:02}" for n in range(7)]


def test_a_line_longer_than_max_bytes_gets_a_file_of_its_own(tmp_path):
    target = tmp_path / "access.log"
    log = AccessLog(target, max_bytes=LINE, keep=5)
    log(record("/00"))
    log(record("/" + "x" * 200))
    log(record("/01"))
    log.close()
    assert paths(target.with_name("access.log.2")) == ["/00"]
    assert paths(target.with_name("access.log.1")) == ["/" + "x" * 200]
    assert paths(target) == ["/01"]


def test_a_file_truncated_from_outside_is_not_rotated_early(tmp_path):
    target = tmp_path / "access.log"
    log = AccessLog(target, max_bytes=3 * LINE)
    log(record("/00"))
    log(record("/01"))
    target.write_text("")  # logrotate's copytruncate
    log(record("/02"))
    log(record("/03"))
    log.close()
    assert paths(target) == ["/02", "/03"]
    assert not target.with_name("access.log.1").exists()


def test_when_rotation_fails_the_log_grows_on_and_says_so_once(tmp_path, caplog):
    target = tmp_path / "access.log"
    blocker = tmp_path / "access.log.1"
    blocker.mkdir()
    (blocker / "x").write_text("")  # a non-empty directory cannot be replaced by a file
    log = AccessLog(target, max_bytes=LINE, keep=1)
    with caplog.at_level(logging.ERROR, logger="dockward.audit"):
        for n in range(4):
            log(record(f"/{n:02}"))
    assert paths(target) == ["/00", "/01", "/02", "/03"]
    assert sum("cannot rotate the access log" in r.message for r in caplog.records) == 1
    (blocker / "x").unlink()
    blocker.rmdir()
    log(record("/04"))
    log.close()
    assert paths(blocker) == ["/00", "/01", "/02", "/03"]
    assert paths(target) == ["/04"]


def test_write_errors_with_rotation_lose_no_lines(tmp_path, monkeypatch, caplog):
    flaky = FlakyWrite()
    monkeypatch.setattr(access_log.os, "write", flaky)
    target = tmp_path / "access.log"
    log = AccessLog(target, max_bytes=2 * LINE, keep=10)
    with caplog.at_level(logging.ERROR, logger="dockward.audit"):
        for n in range(5):
            log(record(f"/{n:02}"))
    assert target.read_text() == ""
    assert sum("cannot write the access log" in r.message for r in caplog.records) == 1
    flaky.healed = True
    log(record("/05"))
    log.close()
    files = [p for p in rotated(target, 10) if p.exists()]
    assert all_paths(files) == [f"/{n:02}" for n in range(6)]
    assert all(p.stat().st_size <= 2 * LINE for p in files)
