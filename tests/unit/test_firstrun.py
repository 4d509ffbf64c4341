"""What ``dockward up`` makes before serving: server names, the client address, the policy."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from dockward.config import state_config
from dockward.firstrun import client_address, default_policy, prepare, server_names
from dockward.identity import identity_from_certificate
from dockward.pki import lifecycle
from dockward.pki.state import StateDir, default_server_names
from dockward.policy.engine import RolePolicy
from dockward.policy.roles import PRESETS, policy_config_from_dict


def settings(tmp_path: Path, **overrides: object):
    return state_config(tmp_path, overrides=overrides or None)


def test_the_certificate_names_this_host_every_listener_and_the_san_names(tmp_path: Path) -> None:
    config = settings(
        tmp_path,
        listen=[{"address": "127.0.0.5:2376"}, {"address": "0.0.0.0:2377"}],
        san=["gw.example", "127.0.0.9"],
    )
    names = server_names(config)
    assert names[: len(default_server_names())] == default_server_names()
    assert names[-3:] == ["127.0.0.5", "gw.example", "127.0.0.9"]
    assert "0.0.0.0" not in names


@pytest.mark.parametrize(
    ("listen", "san", "expected"),
    [
        ("127.0.0.1:2376", [], "127.0.0.1:2376"),
        ("[::1]:2400", [], "[::1]:2400"),
        ("0.0.0.0:2376", ["gw.example"], "gw.example:2376"),
    ],
)
def test_docker_host_uses_a_name_the_certificate_carries(
    tmp_path: Path, listen: str, san: list[str], expected: str
) -> None:
    config = settings(tmp_path, listen=[{"address": listen}], san=san)
    assert client_address(config) == expected
    host = expected.rsplit(":", 1)[0].strip("[]")
    assert host in server_names(config)


def test_a_wildcard_listener_without_san_is_named_by_this_hosts_name(tmp_path: Path) -> None:
    config = settings(tmp_path, listen=[{"address": "0.0.0.0:2376"}])
    host = client_address(config).rsplit(":", 1)[0]
    assert host in server_names(config) and host != "0.0.0.0"


def test_the_default_policy_binds_each_preset_to_its_role() -> None:
    policy = policy_config_from_dict(tomllib.loads(default_policy()))
    assert [(r.name, r.preset, r.clients) for r in policy.role] == [
        (name, name, [f"role:{name}"]) for name in PRESETS
    ]


def test_prepare_writes_the_policy_once_and_the_admin_gets_admin(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    first = prepare(state, settings(state.path))
    assert first.created_policy and state.policy_path.read_text() == default_policy()
    assert oct(state.policy_path.stat().st_mode & 0o777) == "0o600"
    state.policy_path.write_text(default_policy() + "# edited\n")
    again = prepare(state, settings(state.path))
    assert not again.created_policy
    assert state.policy_path.read_text().endswith("# edited\n")
    admin = (state.client_dir("admin") / "cert.pem").read_bytes()
    der = x509.load_pem_x509_certificate(admin).public_bytes(Encoding.DER)
    policy = RolePolicy(policy_config_from_dict(tomllib.loads(default_policy())))
    role = policy.match_role(identity_from_certificate(der), "127.0.0.1")
    assert role is not None and role.name == "admin"


def test_clients_issued_before_the_policy_are_named(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    state.create_ca()
    # a certificate from before roles were written into certificates
    legacy = state.load_ca().issue_client("old-ci")
    with state.open_index() as index:
        state.save_client(index, "old-ci", legacy, state.ca_bundle.read_bytes(), role="ci")
    lifecycle.issue_client(state, "new-ci", role="ci")
    report = prepare(state, settings(state.path))
    (note,) = [line for line in report.lines if "carry no role" in line]
    assert note.endswith(": old-ci")


def test_no_policy_is_written_when_the_configuration_names_one(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    elsewhere = tmp_path / "policy.toml"
    elsewhere.write_text("")
    result = prepare(state, settings(state.path, policy=str(elsewhere)))
    assert not result.created_policy and not state.policy_path.exists()
