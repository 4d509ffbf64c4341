"""``ca issue client``, ``ca bundle`` and ``ca context`` warn when REQUESTS_CA_BUNDLE or
CURL_CA_BUNDLE would make Python docker clients distrust the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockward.pki.state import StateDir
from support.cli import ok, run

SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture
def state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> StateDir:
    state = StateDir(tmp_path / "state")
    ok(capsys, "ca", "init", "--state-dir", state.path)
    ok(capsys, "ca", "issue", "client", "alice", "--state-dir", state.path)
    return state


def hand_off(command: str, state: StateDir, out: Path) -> tuple[list[str], Path]:
    """The command line of each command that hands a client its credentials, and what it
    writes."""
    argv, written = {
        "issue client": (["ca", "issue", "client", "bob"], state.client_dir("bob") / "cert.pem"),
        "bundle": (["ca", "bundle", "alice", "--out", str(out)], out / "cert.pem"),
        "context": (["ca", "context", "alice", "--host", "tcp://gw:2376", "--out", str(out)], out),
    }[command]
    return [*argv, "--state-dir", str(state.path)], written


COMMANDS = ["issue client", "bundle", "context"]


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
@pytest.mark.parametrize("command", COMMANDS)
def test_warns_on_stderr_when_a_requests_bundle_is_set(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    state: StateDir,
    tmp_path: Path,
    command: str,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, SYSTEM_BUNDLE)
    argv, written = hand_off(command, state, tmp_path / "out")
    code, out, err = run(capsys, *argv)
    assert code == 0
    assert out.startswith("wrote ")  # the command did its work as usual
    assert written.is_file()
    assert err == (
        f"dockward: warning: {variable}={SYSTEM_BUNDLE} is set: Python docker clients "
        f"(docker-py, docker-compose 1.x) verify the gateway against {SYSTEM_BUNDLE} instead of "
        f"DOCKER_CERT_PATH/ca.pem, and fail; run them as `env -u {variable} docker-compose ...`, "
        f"or append STATE/ca/bundle.pem to {SYSTEM_BUNDLE}\n"
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_no_warning_without_the_variables(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    state: StateDir,
    tmp_path: Path,
    command: str,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")  # empty: requests ignores it
    argv, written = hand_off(command, state, tmp_path / "out")
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    assert out.startswith("wrote ")
    assert written.is_file()
