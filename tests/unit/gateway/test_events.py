"""One contained emit(): an observer that raises is logged once and never reaches the caller."""

from __future__ import annotations

import logging

from dockward.gateway.events import ConnectionRefused, Emitter, ExchangeRecord, Peer

PEER = Peer("127.0.0.1:2376", "127.0.0.1:5000", None)


def test_every_observer_gets_every_event_even_after_one_raised(caplog):
    seen: list[object] = []

    def broken(event: object) -> None:
        raise OSError(28, "No space left on device")

    emitter = Emitter([broken, seen.append])
    events = [ExchangeRecord(1.0, PEER), ConnectionRefused(2.0, PEER, "not allowed")]
    with caplog.at_level(logging.ERROR, logger="dockward.gateway"):
        for event in events:
            emitter.emit(event)
    assert seen == events
    assert emitter.failures == 2
    failures = [r for r in caplog.records if "observer" in r.getMessage()]
    assert len(failures) == 1  # once per observer, with its traceback
    assert failures[0].exc_info is not None and "No space left" in str(failures[0].exc_info[1])


def test_each_failing_observer_is_reported_once(caplog):
    def first(event: object) -> None:
        raise ValueError("first")

    def second(event: object) -> None:
        raise KeyError("second")

    emitter = Emitter([first, second])
    with caplog.at_level(logging.ERROR, logger="dockward.gateway"):
        for _ in range(3):
            emitter.emit(ExchangeRecord(1.0, PEER))
    reported = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert [type(err) for err in reported] == [ValueError, KeyError]
    assert emitter.failures == 6
