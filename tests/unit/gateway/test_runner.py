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
