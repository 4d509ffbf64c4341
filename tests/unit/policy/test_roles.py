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
# a client issued with `--role ci`, and one whose common name merely says "role:ci"
CI_ROLE = PeerIdentity(
    kind="tls", common_name="bob", uris=("dockward:client:bob", "dockward:role:ci")
)
ROLE_IN_CN = PeerIdentity(kind="tls", common_name="dockward:role:ci", dns_names=("ci",))


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
        ("role:ci", CI_ROLE, True),
        ("role:c*", CI_ROLE, True),
        ("role:admin", CI_ROLE, False),
        ("role:ci", ROLE_IN_CN, False),
        ("role:ci", CI, False),
        ("role:ci", UNIX, False),
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
        ("container.*", "container.exec.start", False),  # exfiltrate: its output
        ("container.*", "container.attach", False),
        ("container.*", "container.exec", True),
        ("container.*", "container.logs", False),  # exfiltrate: globs never grant it
        ("container.*", "container.archive.read", False),
        # an operation whose name ends in an access tag is granted by its name (docker cp)
        ("container.archive.read", "container.archive.read", True),
        ("container.archive.read", "container.archive.stat", True),  # the READ selector
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


@pytest.mark.parametrize("profile", ["baseline", "restricted"])
def test_buildkit_tunnels_need_their_own_name_under_baseline_and_restricted(profile):
    for allow in (["*"], ["*.write"], ["sess*", "grp?"]):
        r = role(clients=["*"], allow=allow, profile=profile)
        assert r.allows_operation("session")[0] is False, allow
        assert r.allows_operation("grpc")[0] is False, allow
        assert r.allowed_tunnels() == []
    named = role(clients=["*"], allow=["image.build", "session", "grpc"], profile=profile)
    assert named.allows_operation("session") == (True, "allow session")
    assert named.allowed_tunnels() == ["grpc", "session"]
    denied = role(clients=["*"], allow=["session"], deny=["session"], profile=profile)
    assert denied.allows_operation("session") == (False, "deny session")


def test_buildkit_tunnels_come_with_everything_when_unrestricted():
    r = role(clients=["*"], allow=["*"], profile="unrestricted")
    assert r.allowed_tunnels() == ["grpc", "session"]


def test_the_ci_preset_runs_and_execs_but_opens_no_buildkit_tunnel():
    ci = role(clients=["*"], preset="ci")
    for operation in ("container.attach", "container.exec.start", "container.logs", "image.build"):
        assert ci.allows_operation(operation)[0], operation
    assert ci.allowed_tunnels() == []
    assert not ci.allows_operation("container.attach_ws")[0]


def test_readonly_makes_the_daemon_fetch_nothing():
    readonly = role(clients=["*"], preset="readonly")
    for operation in ("distribution.inspect", "image.search", "plugin.privileges", "image.pull"):
        assert not readonly.allows_operation(operation)[0], operation
    assert readonly.allows_operation("image.inspect")[0]


@pytest.mark.parametrize(
    "entry", ["registry.internal", "registry.internal:5000", "10.0.0.0/8", "::1", "[::1]:5000"]
)
def test_outbound_entries(entry):
    assert role(clients=["*"], outbound=[entry]).outbound == (entry,)


@pytest.mark.parametrize("entry", ["http://x/", "a b", "10.0.0.0/33", "host:99999", ""])
def test_bad_outbound_entries_are_refused(entry):
    with pytest.raises(ConfigError, match=r"role\[0\]\.outbound: .* is not a host, host:port"):
        role(clients=["*"], outbound=[entry])


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
            r"role\[0\]\.allow: unknown operation 'container.crate' "
            r"\(did you mean 'container.create'\?\)$",
        ),
        ({"allow": ["nothing.*"]}, r"matches no operation"),
        ({"clients": ["host:x"]}, r"role\[0\]\.clients"),
        ({"networks": ["10.0.0.300/8"]}, r"role\[0\]\.networks"),
        ({"mode": "warn"}, r"role\[0\]\.mode"),
        ({"profile": "lax"}, r"role\[0\]\.profile"),
        ({"preset": "root"}, r"role\[0\]\.preset: unknown preset 'root' \(known: admin, ci,"),
        ({"grants": ["everything"]}, r"unknown grant 'everything' \(known: secrets\)"),
        ({"host_paths": ["srv/ci"]}, r"not an absolute path"),
        ({"colour": "blue"}, r"role\[0\]\.colour: unknown key \(known keys: name, preset,"),
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


def policy_error(*roles: dict[str, object], **top: object) -> str:
    with pytest.raises(ConfigError) as caught:
        policy_config_from_dict({"role": list(roles), **top}, source="policy.toml")
    return str(caught.value)


def test_a_misspelt_operation_names_the_role_and_the_nearest_operation():
    message = policy_error({"name": "a"}, {"name": "b", "allow": ["container.craete"]})
    assert message == (
        "policy.toml: role[1].allow: unknown operation 'container.craete' "
        "(did you mean 'container.create'?)"
    )


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("deny", ["image.pusj"], "unknown operation 'image.pusj' (did you mean 'image.push'?)"),
        ("allow", ["foo.bar"], "unknown operation 'foo.bar' (see `dockward policy explain`)"),
        ("allow", ["imgae.*"], "'imgae.*' matches no operation (did you mean 'image.*'?)"),
        ("allow", ["nothing.*"], "'nothing.*' matches no operation"),
        (
            "allow",
            ["contianer.read"],
            "'contianer.read' matches no operation (did you mean 'container.read'?)",
        ),
        ("preset", "readonyl", "unknown preset 'readonyl' (did you mean 'readonly'?)"),
        (
            "profile",
            "baselin",
            "'baselin' is not one of 'unrestricted', 'baseline', 'restricted' "
            "(did you mean 'baseline'?)",
        ),
        ("grants", ["secret"], "unknown grant 'secret' (did you mean 'secrets'?)"),
        ("hosts_paths", ["/srv"], "unknown key (did you mean 'host_paths'?)"),
    ],
)
def test_misspelt_names_get_the_nearest_known_one(key, value, reason):
    assert policy_error({"name": "r", key: value}) == f"policy.toml: role[0].{key}: {reason}"


def test_a_misspelt_required_key_is_one_problem_not_two():
    assert (
        policy_error({"nmae": "ci"})
        == "policy.toml: role[0].nmae: unknown key (did you mean 'name'?)"
    )


def test_every_problem_is_listed_one_a_line_unknown_keys_first():
    message = policy_error(
        {"name": "a", "mode": "warn", "allow": ["container.craete", "imgae.*"]},
        {"name": "b", "colur": "x"},
        body_limt=1,
    )
    assert message.splitlines() == [
        "policy.toml: role[1].colur: unknown key (known keys: name, preset, clients, networks, "
        "allow, deny, profile, mode, host_paths, runtimes, registries, outbound, grants, scope, "
        "unread_dockerfile, names)",
        "policy.toml: body_limt: unknown key (did you mean 'body_limit'?)",
        "policy.toml: role[0].allow: unknown operation 'container.craete' (did you mean "
        "'container.create'?); 'imgae.*' matches no operation (did you mean 'image.*'?)",
        "policy.toml: role[0].mode: 'warn' is not one of 'enforce', 'audit'",
    ]


@pytest.mark.parametrize("name", PRESETS)
def test_a_presets_patterns_are_valid_allow_patterns(name):
    # access selectors' prefixes are checked now: a preset must pass what a policy file must
    assert role(allow=list(PRESETS[name].allow)).allow == PRESETS[name].allow


def test_private_names_need_a_scope_and_are_carried_into_the_role():
    message = policy_error({"name": "a", "names": "private"})
    assert 'names = "private" needs scope = "own" or "role"' in message
    config = policy_config_from_dict(
        {"role": [{"name": "a", "scope": "own", "names": "private"}, {"name": "b"}]}
    )
    assert [build_role(role).names for role in config.role] == ["private", "shared"]
