"""The handshake threads: a step runs on one of them, its outcome comes back on the event loop."""

from __future__ import annotations

import asyncio
import threading

from dockward.tls.offload import HandshakeThreads


class Step:
    """A stand-in session: records the thread its step ran on."""

    def __init__(self, outcome: bool | str) -> None:
        self.outcome = outcome
        self.thread: str | None = None

    def handshake_step(self) -> bool | str:
        self.thread = threading.current_thread().name
        return self.outcome


def test_steps_run_on_the_threads_and_their_outcomes_come_back_on_the_loop():
    async def scenario() -> tuple[list[tuple[bool | str, str]], list[Step], int]:
        loop = asyncio.get_running_loop()
        threads = HandshakeThreads(2, loop)
        back: list[tuple[bool | str, str]] = []
        all_back = asyncio.Event()
        steps = [Step(outcome) for outcome in (True, False, "unknown ca")]

        def done(outcome: bool | str) -> None:
            back.append((outcome, threading.current_thread().name))
            if len(back) == len(steps):
                all_back.set()

        for step in steps:
            threads.submit(step, done)  # type: ignore[arg-type]
        await asyncio.wait_for(all_back.wait(), 5)
        running = len(threads)
        threads.close()
        return back, steps, running

    back, steps, running = asyncio.run(scenario())
    loop_thread = threading.current_thread().name
    assert sorted(map(str, (outcome for outcome, _ in back))) == ["False", "True", "unknown ca"]
    assert {thread for _, thread in back} == {loop_thread}
    assert all(step.thread and step.thread.startswith("dockward-handshake-") for step in steps)
    assert running == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("dockward-handshake-")]
