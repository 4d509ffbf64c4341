"""``dockward serve``: a configuration that cannot work is refused before anything is created."""

from __future__ import annotations

import pytest

from support.cli import run


@pytest.fixture
def paths(tmp_path):
    """A config file path, and an access log in a directory that does not exist yet."""
    return tmp_path / "dockward.toml", tmp_path / "logs" / "access.log"


def test_a_missing_policy_file_stops_serve_before_the_access_log_is_created(capsys, paths):
    config, access_log = paths
    policy = config.parent / "policy.toml"
    config.write_text(
        f'upstream = "/nonexistent/docker.sock"\npolicy = "{policy}"\n'
        f'access_log = "{access_log}"\n[[listen]]\nunix = "{config.parent / "d.sock"}"\n'
    )
    code, out, err = run(capsys, "serve", "--config", config)
    assert (code, out, err) == (2, "", f"dockward: policy file {policy} not found\n")
    assert not access_log.parent.exists()


def test_unreadable_tls_files_stop_serve_before_the_access_log_is_created(capsys, paths):
    config, access_log = paths
    missing = config.parent / "missing"
    config.write_text(
        f'upstream = "/nonexistent/docker.sock"\naccess_log = "{access_log}"\n'
        f'[tls]\ncert = "{missing}/cert.pem"\nkey = "{missing}/key.pem"\nca = "{missing}/ca.pem"\n'
        '[[listen]]\naddress = "127.0.0.1:0"\n'
    )
    code, _, err = run(capsys, "serve", "--config", config)
    assert code == 2
    assert err == f"dockward: private key {missing}/key.pem does not exist\n"
    assert not access_log.parent.exists()


def test_each_problem_of_a_config_file_is_its_own_dockward_line(capsys, paths):
    config, access_log = paths
    config.write_text(
        f'acess_log = "{access_log}"\nlog_level = "verbose"\n[[listen]]\nunix = "/run/d.sock"\n'
    )
    code, out, err = run(capsys, "serve", "--config", config)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"dockward: {config}: acess_log: unknown key (did you mean 'access_log'?)",
        f"dockward: {config}: log_level: 'verbose' is not one of 'debug', 'info', 'warning', "
        "'error'",
    ]


def test_policy_check_and_serve_report_a_bad_policy_alike(capsys, paths):
    config, _ = paths
    policy = config.parent / "policy.toml"
    policy.write_text('[[role]]\nname = "ci"\nallow = ["container.craete"]\n')
    config.write_text(f'policy = "{policy}"\n[[listen]]\nunix = "{config.parent / "d.sock"}"\n')
    expected = (
        f"dockward: {policy}: role[0].allow: unknown operation 'container.craete' "
        "(did you mean 'container.create'?)\n"
    )
    assert run(capsys, "serve", "--config", config) == (2, "", expected)
    checked = run(
        capsys, "policy", "check", "--config", policy, "--identity", "cn:ci", "GET", "/_ping"
    )
    assert checked == (2, "", expected)
