"""The lines a started gateway prints about what it enforces."""

from __future__ import annotations

from pathlib import Path

from dockward.config import config_from_dict, state_config
from dockward.firstrun import prepare
from dockward.gateway.server import Gateway
from dockward.gateway.summary import enforcement_lines
from dockward.pki.state import StateDir


def prepared(tmp_path: Path, **overrides: object) -> StateDir:
    state = StateDir(tmp_path / "state")
    prepare(state, state_config(state.path, overrides=overrides or None))
    return state


def test_a_state_dir_gateway_names_every_guarantee(tmp_path: Path) -> None:
    state = prepared(tmp_path)
    lines = enforcement_lines(Gateway(state_config(state.path)))
    assert lines[0] == "serving the Docker API on 127.0.0.1:2376 (mutual TLS) to any address"
    assert f"client certificates verified against {state.ca_bundle}" in lines
    assert any(line.startswith(f"revocation: CRL {state.crl_path} (0 revoked") for line in lines)
    assert f"policy {state.policy_path}: roles admin, ci, readonly, reverse-proxy, updater" in lines
    assert any("renewed automatically" in line for line in lines)
    assert not any("warning" in line.lower() for line in lines)


def test_a_listener_for_other_machines_is_a_warning_naming_its_networks(tmp_path: Path) -> None:
    state = prepared(tmp_path)
    config = state_config(
        state.path,
        overrides={"listen": [{"address": "0.0.0.0:2376"}], "allow_networks": ["127.0.0.0/8"]},
    )
    lines = enforcement_lines(Gateway(config))
    assert (
        "warning: 0.0.0.0:2376 accepts connections from other machines; allowed source "
        "networks: 127.0.0.0/8 (narrow them with allow_networks or listen[].allow)"
    ) in lines


def test_no_policy_and_no_crl_are_said_loudly(tmp_path: Path) -> None:
    state = prepared(tmp_path)
    config = config_from_dict(
        {
            "tls": {
                "cert": str(state.server_cert),
                "key": str(state.server_key),
                "ca": str(state.ca_bundle),
            },
            "access_log": "-",
        }
    )
    lines = enforcement_lines(Gateway(config))
    assert "WARNING: no policy: every valid certificate is admin" in lines
    assert any(
        line.startswith("warning: no CRL: revoking a certificate has no effect") for line in lines
    )
    assert not any(line.startswith("access log") for line in lines)


def test_the_audit_store_is_named_without_a_password(tmp_path: Path) -> None:
    state = prepared(tmp_path)
    assert not any(
        line.startswith("audit store")
        for line in enforcement_lines(Gateway(state_config(state.path)))
    )  # opt-in for now
    overrides: dict[str, object] = {"audit": {"database": "state"}}
    lines = enforcement_lines(Gateway(state_config(state.path, overrides=overrides)))
    assert any(
        line.startswith(f"audit store: {state.path / 'audit.sqlite3'} (gateway ")
        and line.endswith("hash-chained; when it cannot be written: refuse-writes)")
        for line in lines
    )
    audit = {"database": "postgresql://gw:s3cret@db.example:5433/audit", "gateway": "gw-1"}
    lines = enforcement_lines(Gateway(state_config(state.path, overrides={"audit": audit})))
    assert (
        "audit store: postgresql://gw@db.example:5433/audit (gateway gw-1, hash-chained; "
        "when it cannot be written: refuse-writes)"
    ) in lines


def test_the_admin_endpoint_is_named(tmp_path: Path) -> None:
    state = prepared(tmp_path)
    lines = enforcement_lines(Gateway(state_config(state.path)))
    assert (
        f"admin endpoint (metrics, health, `dockward status`): {state.path / 'admin.sock'}"
    ) in lines
    overrides: dict[str, object] = {"admin": {"socket": "off"}}
    lines = enforcement_lines(Gateway(state_config(state.path, overrides=overrides)))
    assert not any(line.startswith("admin endpoint") for line in lines)
