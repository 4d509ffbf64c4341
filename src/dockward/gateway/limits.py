"""Deadlines and bounds the relay applies, as plain values and counters (no I/O, no timers).

``Timeouts`` says how long each kind of wait may last: the daemon's response head per operation
class (the registry's ``stream`` column), a request body without progress, an idle keep-alive
connection. ``InspectionBudget`` bounds the request bodies buffered for inspection across every
connection, ``ConnectionCaps`` the connections held in all, per source and per identity, and
``RateLimiter`` an identity's requests per second. The gateway owns one of each and hands them
to the relays through its context; the relays start the timers and do the accounting, the
adapter runs the clocks.
"""

from __future__ import annotations

from collections.abc import Callable
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


class ConnectionCaps:
    """Connections held at once: in all, per source address and per identity.

    ``accept`` runs when a TCP connection arrives (before its handshake: over a cap, it is
    dropped without one), ``enter`` once the identity is known (over its cap, the connection's
    requests are answered 429). Each admitted one is ``left`` or ``leave``d when it closes.
    ``refused`` counts refusals by kind, for logs and metrics.
    """

    __slots__ = ("by_identity", "by_source", "per_identity", "per_source", "refused", "total")

    def __init__(self, total: int, per_source: int, per_identity: int) -> None:
        self.total = total
        self.per_source = per_source
        self.per_identity = per_identity
        self.by_source: dict[str, int] = {}
        self.by_identity: dict[str, int] = {}
        self.refused: dict[str, int] = {"total": 0, "source": 0, "identity": 0, "rate": 0}

    def accept(self, address: str, open_now: int) -> str | None:
        """Why a new connection from ``address`` is refused (``open_now`` are open), or admit
        it and return ``None``."""
        if open_now >= self.total:
            self.refused["total"] += 1
            return f"the gateway holds its maximum of {self.total} connections"
        held = self.by_source.get(address, 0)
        if held >= self.per_source:
            self.refused["source"] += 1
            return f"{address} holds its maximum of {self.per_source} connections"
        self.by_source[address] = held + 1
        return None

    def left(self, address: str) -> None:
        held = self.by_source.get(address, 0) - 1
        if held > 0:
            self.by_source[address] = held
        else:
            self.by_source.pop(address, None)

    def enter(self, identity: str) -> str | None:
        """Why one more connection of ``identity`` is refused, or count it and return ``None``."""
        held = self.by_identity.get(identity, 0)
        if held >= self.per_identity:
            self.refused["identity"] += 1
            return (
                f"{identity} holds its maximum of {self.per_identity} connections to this "
                "gateway; close some (or raise limits.connections_per_identity)"
            )
        self.by_identity[identity] = held + 1
        return None

    def leave(self, identity: str) -> None:
        held = self.by_identity.get(identity, 0) - 1
        if held > 0:
            self.by_identity[identity] = held
        else:
            self.by_identity.pop(identity, None)


class RateLimiter:
    """Requests per second per identity: a token bucket each, ``burst`` deep."""

    __slots__ = ("buckets", "burst", "clock", "rate")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # identity -> (tokens, when)

    def wait(self, identity: str) -> float:
        """0 when ``identity`` may make a request now (it is counted), else the seconds until
        it may."""
        now = self.clock()
        tokens, then = self.buckets.get(identity, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self.buckets[identity] = (tokens - 1.0, now)
            return 0.0
        self.buckets[identity] = (tokens, now)
        return (1.0 - tokens) / self.rate
