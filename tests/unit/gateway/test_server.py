"""The gateway's policy load: a refused reload says every problem, on one log line."""

from __future__ import annotations

import logging

from dockward.config import config_from_dict
from dockward.gateway.server import Gateway


def test_a_refused_policy_reload_logs_every_problem_on_one_line(tmp_path, caplog):
    policy = tmp_path / "policy.toml"
    policy.write_text('[[role]]\nname = "ci"\nallow = ["container.create"]\n')
    config = config_from_dict(
        {"policy": str(policy), "listen": [{"unix": str(tmp_path / "d.sock")}]}
    )
    gateway = Gateway(config)
    before = gateway.policy
    policy.write_text('[[role]]\nname = "ci"\nallow = ["container.craete"]\nmdoe = "audit"\n')
    with caplog.at_level(logging.ERROR, logger="dockward.gateway"):
        assert gateway.reload_policy() is False
    assert gateway.policy is before
    assert [record.getMessage() for record in caplog.records] == [
        "policy reload refused, the previous policy stays in force: "
        f"{policy}: role[0].mdoe: unknown key (did you mean 'mode'?); "
        f"{policy}: role[0].allow: unknown operation 'container.craete' "
        "(did you mean 'container.create'?)"
    ]


def test_reloads_are_events_with_the_hash_of_the_file_in_force(tmp_path):
    import hashlib

    from dockward.gateway.events import Reloaded

    policy = tmp_path / "policy.toml"
    policy.write_text('[[role]]\nname = "ci"\nallow = ["container.list"]\n')
    config = config_from_dict(
        {"policy": str(policy), "listen": [{"unix": str(tmp_path / "d.sock")}]}
    )
    events: list[object] = []
    gateway = Gateway(config, observers=[events.append])
    first = hashlib.sha256(policy.read_bytes()).hexdigest()
    assert gateway.policy_digest == first
    policy.write_text('[[role]]\nname = "ci"\nallow = ["container.list", "system.ping"]\n')
    assert gateway.reload_policy() is True
    second = hashlib.sha256(policy.read_bytes()).hexdigest()
    policy.write_text("[[role]]\nname = 1\n")
    assert gateway.reload_policy() is False
    assert gateway.policy_digest == second
    taken, refused = events
    assert isinstance(taken, Reloaded) and isinstance(refused, Reloaded)
    assert (taken.what, taken.path, taken.ok, taken.digest) == ("policy", str(policy), True, second)
    assert (refused.ok, refused.digest) == (False, "")
    assert refused.reason.startswith("refused, the previous policy stays in force: ")
