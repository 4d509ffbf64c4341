"""dockward.policy.engine: what a role's settings hand the profile checks."""

from __future__ import annotations

from collections.abc import Mapping

from dockward.identity import PeerIdentity
from dockward.policy.engine import RolePolicy
from dockward.policy.paths import parse_query, split_target
from dockward.policy.profiles import FactQuery
from dockward.policy.roles import policy_config_from_dict
from dockward.policy.routes import classify_route
from support.rounds import judged_in_rounds

PEER = PeerIdentity(kind="tls", common_name="someone")
CONTAINER: dict[FactQuery, Mapping[str, object]] = {
    FactQuery("container", "web"): {"HostConfig": {}, "Mounts": []}
}


def decide(role: Mapping[str, object], method: str, target: str) -> tuple[bool, str]:
    policy = RolePolicy(
        policy_config_from_dict({"role": [{"name": "r", "clients": ["*"], **role}]})
    )
    split = split_target(target.encode())
    request = classify_route(method, split)
    decision = policy.authorize(PEER, None, request)
    if decision.allowed and decision.inspect_request:
        query = parse_query(split.query)
        facts: dict[FactQuery, Mapping[str, object] | None] = {}
        for _ in range(4):
            needed = policy.facts_needed(decision, request, query, None, facts)
            if not needed:
                break
            facts.update({q: CONTAINER.get(q) for q in needed})
        checked = policy.check_body(decision, request, query, None, facts)
        assert judged_in_rounds(policy, decision, request, query, None, CONTAINER) == checked
        decision = checked
    return decision.allowed, decision.reason


def test_attach_with_logs_follows_the_roles_logs_grant() -> None:
    target = "/containers/web/attach?logs=yes&stream=0&stdout=1"
    attach_only = {"allow": ["container.attach"]}
    allowed, reason = decide(attach_only, "POST", target)
    assert not allowed and "query logs is true" in reason
    assert decide(attach_only, "POST", "/containers/web/attach?stream=1&stdout=1")[0]
    assert decide({"allow": ["container.attach", "container.logs"]}, "POST", target)[0]
    assert decide({"preset": "ci"}, "POST", target)[0]


def test_ps_args_follow_the_secrets_grant() -> None:
    target = "/containers/web/top?ps_args=aux%20e"
    assert not decide({"preset": "readonly"}, "GET", target)[0]
    assert decide({"preset": "readonly", "grants": ["secrets"]}, "GET", target)[0]


def test_the_outbound_allow_list_reaches_the_checks() -> None:
    target = "/distribution/127.0.0.1:5000/x/json"
    assert not decide({"allow": ["distribution.inspect"]}, "GET", target)[0]
    listed = {"allow": ["distribution.inspect"], "outbound": ["127.0.0.1:5000"]}
    assert decide(listed, "GET", target)[0]


def test_a_decision_is_made_once_per_caller_and_operation() -> None:
    policy = RolePolicy(
        policy_config_from_dict(
            {
                "role": [
                    {"name": "ro", "clients": ["cn:reader"], "preset": "readonly"},
                    {"name": "all", "clients": ["*"], "preset": "admin"},
                ]
            }
        )
    )
    reader = PeerIdentity(kind="tls", common_name="reader")

    def authorize(identity: PeerIdentity, method: str, target: str) -> object:
        return policy.authorize(
            identity, "127.0.0.1", classify_route(method, split_target(target.encode()))
        )

    listed = authorize(reader, "GET", "/v1.41/containers/json")
    assert authorize(reader, "GET", "/containers/json?all=1") is listed  # same operation
    assert authorize(PEER, "GET", "/containers/json") is not listed  # another caller, its role
    assert authorize(PEER, "GET", "/containers/json").role == "all"
    removed = authorize(reader, "DELETE", "/containers/web")
    assert removed is not listed and not removed.allowed and removed.role == "ro"
    unknown = authorize(reader, "GET", "/no/such/route")
    assert not unknown.allowed and "/no/such/route" in unknown.reason
    assert "/other/path" in authorize(reader, "GET", "/other/path").reason  # never shared
