"""Tests of dockward.gateway.runner: the file watcher's pace."""

from __future__ import annotations

from dockward.gateway.runner import RETRY_INTERVAL, WATCH_INTERVAL, next_watch_delay


def test_the_watcher_retries_unverified_material_sooner_then_backs_off() -> None:
    delays = []
    delay = None
    for _ in range(7):
        delay = next_watch_delay(delay, settled=False)
        delays.append(delay)
    assert delays == [RETRY_INTERVAL, 0.2, 0.4, 0.8, WATCH_INTERVAL, WATCH_INTERVAL, WATCH_INTERVAL]
    assert next_watch_delay(delay, settled=True) is None  # back to the regular pace


def test_the_open_file_limit_is_raised_to_the_hard_limit_with_a_warning_when_short(
    monkeypatch, caplog
) -> None:
    import resource

    from dockward.gateway import runner

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, 4096))
    monkeypatch.setattr(resource, "setrlimit", lambda which, limits: calls.append(limits))
    assert runner.raise_open_file_limit(needed=4000) == 4096
    assert calls == [(4096, 4096)] and not caplog.records
    assert runner.raise_open_file_limit(needed=10_000) == 4096
    assert "the open-file limit is 4096, below the 10000" in caplog.text
    assert "limits.connections" in caplog.text
