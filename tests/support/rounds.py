"""The gateway's lookup rounds over a policy, against a fake daemon, for unit tests."""

from __future__ import annotations

from collections.abc import Mapping

from dockward.policy.decision import Decision
from dockward.policy.engine import Policy
from dockward.policy.profiles import MAX_FACT_ROUNDS, FactQuery
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
    """The decision the relay reaches: ``judge`` once per round of lookups, ``check_body``
    after the last round."""
    facts: dict[FactQuery, Mapping[str, object] | None] = {}
    for _ in range(MAX_FACT_ROUNDS):
        verdict = policy.judge(decision, request, query, body, facts)
        if isinstance(verdict, Decision):
            return verdict
        assert not set(verdict) & set(facts), "asked twice for the same fact"
        facts.update({ask: daemon.get(ask) for ask in verdict})
    return policy.check_body(decision, request, query, body, facts)
