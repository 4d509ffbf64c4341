"""The gateway's lookup rounds over a policy, against a fake daemon, for unit tests."""

from __future__ import annotations

from collections.abc import Mapping

from dockward.policy.decision import Decision
from dockward.policy.engine import Policy, judge_in_rounds
from dockward.policy.profiles import FactQuery
from dockward.policy.routes import Classification

Daemon = Mapping[FactQuery, Mapping[str, object] | None]


def judged_in_rounds(
    policy: Policy,
    decision: Decision,
    request: Classification,
    query: Mapping[str, list[str]],
    body: object,
    daemon: Daemon,
) -> Decision:
    """The decision the relay reaches, the fake ``daemon`` answering the lookups."""
    asked: set[FactQuery] = set()

    def lookup(wanted: FactQuery) -> Mapping[str, object] | None:
        assert wanted not in asked, "asked twice for the same fact"
        asked.add(wanted)
        return daemon.get(wanted)

    return judge_in_rounds(policy, decision, request, query, body, lookup)
