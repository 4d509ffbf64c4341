"""Deadlines and bounds the relay applies, as plain values and counters (no I/O, no timers).

``Timeouts`` says how long each kind of wait may last: the daemon's response head per operation
class (the registry's ``stream`` column), a request body without progress, an idle keep-alive
connection. ``InspectionBudget`` bounds the request bodies buffered for inspection across every
connection. The gateway owns one of each and hands them to the relays through its context; the
relays start the timers and do the accounting, the adapter runs the clocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockward.policy.operations import Stream


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds each wait may last; ``None``: no deadline."""

    response: float | None = 60.0
    """From a brief operation's request sent to its response head."""
    stream_response: float | None = None
    """The same for long operations and tunnels (their head may wait for the work)."""
    body: float | None = 30.0
    """A request body (forwarded or inspected) without a byte of progress."""
    idle: float | None = None
    """A keep-alive connection with no request in flight (off, as in dockerd)."""
    by_stream: dict[Stream, float | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "by_stream",
            {
                stream: self.response if stream is Stream.BRIEF else self.stream_response
                for stream in Stream
            },
        )


NO_TIMEOUTS = Timeouts(response=None, body=None)


class InspectionBudget:
    """Bytes of request bodies held for inspection, summed over every connection.

    A relay ``take``s what it buffers and ``give``s it back when the body is forwarded or
    dropped; ``full`` tells a new inspected request to wait (and, after a while, be refused).
    """

    __slots__ = ("cap", "refused", "used")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.used = 0
        self.refused = 0  # requests answered 503 for want of room

    @property
    def full(self) -> bool:
        return self.used >= self.cap

    def take(self, size: int) -> None:
        self.used += size

    def give(self, size: int) -> None:
        self.used = max(0, self.used - size)
