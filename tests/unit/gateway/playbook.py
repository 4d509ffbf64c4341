"""Playbook tests for the relay: events in, the exact commands expected out, no sockets.

    assert Playbook(relay) >> ClientData(PING) << OpenUpstream() >> UpstreamConnected() << ...

``>> event`` feeds an event; each ``<< command`` (or ``<< [commands]``) that follows is what it
must return, in order, and nothing else. Evaluating the playbook (``assert``) runs the steps not
run yet, so one playbook can be extended and asserted again. ``Like(cls, **fields)`` matches
any value of ``cls`` whose named fields are equal (records carry times and durations that vary).
"""

from __future__ import annotations

from typing import Any

from dockward.gateway.relay import Command, Event, Relay


class Like:
    """Equal to any ``cls`` instance whose ``fields`` have the given values."""

    def __init__(self, cls: type, **fields: Any) -> None:
        self.cls = cls
        self.fields = fields

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self.cls) and all(
            getattr(other, name) == value for name, value in self.fields.items()
        )

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.fields.items())
        return f"Like({self.cls.__name__}, {shown})"


class Playbook:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.steps: list[tuple[Event, list[Command | Like]]] = []
        self.done = 0

    def __rshift__(self, event: Event) -> Playbook:
        self.steps.append((event, []))
        return self

    def __lshift__(self, command: Command | Like | list[Command | Like]) -> Playbook:
        """One expected command, or a list of them in order."""
        assert self.steps, "a command needs an event before it"
        expected = self.steps[-1][1]
        if isinstance(command, list):
            expected.extend(command)
        else:
            expected.append(command)
        return self

    def __bool__(self) -> bool:
        for number, (event, expected) in enumerate(self.steps[self.done :], self.done + 1):
            actual = self.relay.handle(event)
            if actual != expected:
                raise AssertionError(
                    f"step {number}: {event!r} in phase {self.relay.phase.name}\n"
                    + "expected:\n"
                    + "".join(f"  {command!r}\n" for command in expected)
                    + "got:\n"
                    + "".join(f"  {command!r}\n" for command in actual)
                )
        self.done = len(self.steps)
        return True
