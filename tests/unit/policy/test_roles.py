"""Roles: selectors, networks, operation patterns, presets, validation messages."""

from __future__ import annotations

import pytest

from dockward.errors import ConfigError
from dockward.identity import PeerIdentity
from dockward.policy.roles import (
    PRESETS,
    Selector,
    build_role,
    operation_matches,
    policy_config_from_dict,
)

CI = PeerIdentity(
    kind="tls", common_name="ci-7", uris=("dockward:client:ci-7",), serial=42, spki_sha256="ab" * 32
)
UNIX = PeerIdentity(kind="unix", uid=1000, gid=999, pid=1)


def role(**fields):
    return build_role(policy_config_from_dict({"role": [{"name": "r", **fields}]}).role[0])


@pytest.mark.parametrize(
    ("selector", "identity", "expected"),
    [
        ("cn:ci-*", CI, True),
        ("cn:ci-1", CI, False),
        ("san:dockward:client:ci-*", CI, True),
        ("serial:42", CI, True),
        ("serial:0x2a", CI, True),
        ("spki:" + "AB" * 32, CI, True),
        ("uid:1000", UNIX, True),
        ("gid:999", UNIX, True),
        ("uid:0", UNIX, False),
        ("cn:*", UNIX, False),
        ("*", UNIX, True),
    ],
)
def test_selectors(selector, identity, expected):
    assert Selector.parse(selector).matches(identity) is expected


@pytest.mark.parametrize("bad", ["cn", "host:x", "uid:abc", "serial:zz", "spki:1234", "cn:"])
def test_bad_selectors_are_refused(bad):
    with pytest.raises(ValueError):
        Selector.parse(bad)


@pytest.mark.parametrize(
    ("pattern", "operation", "expected"),
    [
        ("container.*", "container.create", True),
        ("container.*", "container.exec.start", True),
        ("container.*", "container.logs", False),  # exfiltrate: globs never grant it
        ("container.*", "container.archive.read", False),
        ("container.logs", "container.logs", True),
        ("container.exfiltrate", "container.export", True),
        ("network.read", "network.inspect", True),
        ("network.read", "network.create", False),
        ("*.read", "system.info", True),
        ("*.read", "container.create", False),
        ("*", "swarm.join", True),
        ("swarm.*", "swarm.join", False),  # admin: globs never grant it
        ("swarm.admin", "swarm.join", True),
    ],
)
def test_operation_patterns(pattern, operation, expected):
    assert operation_matches(pattern, operation) is expected


def test_deny_wins_and_ping_is_always_allowed():
    r = role(clients=["*"], allow=["container.*"], deny=["container.remove"])
    assert r.allows_operation("container.create")[0]
    assert r.allows_operation("container.remove") == (False, "deny container.remove")
    assert r.allows_operation("system.ping") == (True, "always allowed")
    assert r.allows_operation("image.push") == (False, "not in allow")


def test_networks_apply_to_tcp_peers_only():
    r = role(clients=["*"], networks=["10.20.0.0/16", "127.0.0.1/32"])
    assert r.matches(CI, "127.0.0.1") and r.matches(CI, "::ffff:10.20.3.4")
    assert not r.matches(CI, "127.0.0.2")
    assert r.matches(UNIX, None)


def test_presets_fill_in_and_can_be_overridden():
    ci = role(preset="ci", clients=["cn:ci-*"])
    assert ci.profile == "baseline" and "container.*" in ci.allow
    assert role(preset="readonly", clients=["*"]).allows_operation("container.inspect")[0]
    assert not role(preset="readonly", clients=["*"]).allows_operation("container.create")[0]
    assert role(preset="admin", clients=["*"]).profile == "unrestricted"
    assert role(preset="ci", clients=["*"], profile="restricted").profile == "restricted"
    assert set(PRESETS) == {"admin", "ci", "readonly", "reverse-proxy", "updater"}


def test_unrestricted_roles_have_the_secrets_grant():
    assert "secrets" in role(preset="admin", clients=["*"]).grants
    assert "secrets" not in role(preset="ci", clients=["*"]).grants


@pytest.mark.parametrize(
    ("role_fields", "message"),
    [
        (
            {"allow": ["container.crate"]},
            r"role\[0\]\.allow: .*'container.crate' is not an operation",
        ),
        ({"allow": ["nothing.*"]}, r"matches no operation"),
        ({"clients": ["host:x"]}, r"role\[0\]\.clients"),
        ({"networks": ["10.0.0.300/8"]}, r"role\[0\]\.networks"),
        ({"mode": "warn"}, r"role\[0\]\.mode"),
        ({"profile": "lax"}, r"role\[0\]\.profile"),
        ({"preset": "root"}, r"preset 'root' does not exist"),
        ({"grants": ["everything"]}, r"'everything' is not a grant"),
        ({"host_paths": ["srv/ci"]}, r"not an absolute path"),
        ({"colour": "blue"}, r"role\[0\]\.colour: Extra inputs"),
    ],
)
def test_invalid_roles_name_the_key(role_fields, message):
    import re

    with pytest.raises(ConfigError) as caught:
        policy_config_from_dict({"role": [{"name": "r", **role_fields}]}, source="p.toml")
    assert re.search(message, str(caught.value)), str(caught.value)
    assert str(caught.value).startswith("p.toml: ")


def test_duplicate_role_names_are_refused():
    with pytest.raises(ConfigError, match="two roles are named 'a'"):
        policy_config_from_dict({"role": [{"name": "a"}, {"name": "a"}]})
