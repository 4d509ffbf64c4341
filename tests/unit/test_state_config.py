"""One configuration model: what a state directory provides, and what ``up`` and
``serve --state-dir`` run for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockward.config import config_from_dict, state_config, with_state_dir
from dockward.errors import ConfigError


def test_a_config_without_state_dir_is_left_as_written() -> None:
    data = {"listen": [{"unix": "/run/x.sock"}]}
    assert with_state_dir(data) == data


def test_a_state_dir_provides_tls_crl_renewal_and_the_access_log(tmp_path: Path) -> None:
    config = state_config(tmp_path)
    assert config.tls is not None
    assert config.tls.cert == tmp_path / "server" / "cert.pem"
    assert config.tls.key == tmp_path / "server" / "key.pem"
    assert config.tls.ca == tmp_path / "ca" / "bundle.pem"
    assert config.tls.crl == tmp_path / "ca" / "crl.pem"
    assert config.auto_renew is True
    assert config.access_log == str(tmp_path / "access.log")
    assert config.state_dir == tmp_path
    assert config.policy is None  # no STATE/policy.toml yet


def test_the_policy_is_state_policy_toml_once_it_exists(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text("")
    assert state_config(tmp_path).policy == tmp_path / "policy.toml"


def test_a_hand_written_tls_section_still_gets_the_crl(tmp_path: Path) -> None:
    config = config_from_dict(
        {"state_dir": str(tmp_path), "tls": {"cert": "/c.pem", "key": "/k.pem", "ca": "/ca.pem"}}
    )
    assert config.tls is not None and config.tls.cert == Path("/c.pem")
    assert config.tls.crl == tmp_path / "ca" / "crl.pem"


def test_state_dockward_toml_then_flags_then_the_state_dir(tmp_path: Path) -> None:
    (tmp_path / "dockward.toml").write_text(
        'allow_networks = ["127.0.0.0/8"]\nsan = ["gw.example"]\n'
        '[[listen]]\naddress = "127.0.0.1:3000"\n'
    )
    config = state_config(tmp_path)
    assert [item.address for item in config.listen] == ["127.0.0.1:3000"]  # type: ignore[union-attr]
    assert config.allow_networks == ["127.0.0.0/8"] and config.san == ["gw.example"]
    flagged = state_config(tmp_path, overrides={"listen": [{"address": "[::1]:4000"}]})
    assert [item.address for item in flagged.listen] == ["[::1]:4000"]  # type: ignore[union-attr]
    assert flagged.allow_networks == ["127.0.0.0/8"]


def test_another_config_file_replaces_state_dockward_toml(tmp_path: Path) -> None:
    (tmp_path / "dockward.toml").write_text('log_level = "debug"\n')
    other = tmp_path / "other.toml"
    other.write_text('log_level = "warning"\n')
    assert state_config(tmp_path, other).log_level == "warning"


def test_a_config_file_for_another_state_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dockward.toml").write_text('state_dir = "/elsewhere"\n')
    with pytest.raises(ConfigError, match="is not the state directory in use"):
        state_config(tmp_path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('san = ["not a name!"]', "san"),
        ("listne = []", "unknown key"),
    ],
)
def test_state_settings_are_validated_with_the_key_named(
    tmp_path: Path, text: str, problem: str
) -> None:
    (tmp_path / "dockward.toml").write_text(text + "\n")
    with pytest.raises(ConfigError, match=problem) as caught:
        state_config(tmp_path)
    assert str(tmp_path / "dockward.toml") in str(caught.value)
    assert not (tmp_path / "ca").exists()


def test_a_state_dir_gets_an_admin_socket_unless_it_says_otherwise(tmp_path: Path) -> None:
    from dockward.config import config_from_dict

    assert config_from_dict({"state_dir": str(tmp_path)}).admin.socket_path == (
        tmp_path / "admin.sock"
    )
    off = config_from_dict({"state_dir": str(tmp_path), "admin": {"socket": "off"}})
    assert off.admin.socket_path is None
    elsewhere = config_from_dict(
        {"state_dir": str(tmp_path), "admin": {"address": "127.0.0.1:9323"}}
    )
    assert elsewhere.admin.socket_path == tmp_path / "admin.sock"
    assert config_from_dict({"listen": [{"unix": "/run/d.sock"}]}).admin.socket_path is None
