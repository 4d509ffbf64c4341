"""Tests of ``dockward ca`` through ``dockward.cli.main`` in-process: exit codes and messages."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509

from dockward.pki.ca import CertificateAuthority
from dockward.pki.index import CertKind
from dockward.pki.state import StateDir
from support.cli import run


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    return StateDir(tmp_path / "state")


def init(capsys: pytest.CaptureFixture[str], state: StateDir, *extra: str) -> None:
    code, _, err = run(capsys, "ca", "init", "--state-dir", state.path, *extra)
    assert (code, err) == (0, "")


def run_issue(
    capsys: pytest.CaptureFixture[str], state: StateDir, *argv: str
) -> tuple[int, str, str]:
    """``dockward ca issue ARGV --state-dir STATE``: (exit code, stdout, stderr)."""
    return run(capsys, "ca", "issue", *argv, "--state-dir", state.path)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- ca init -----------------------------------------------------------------------------------


def test_init_creates_the_ca(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    code, out, err = run(capsys, "ca", "init", "--state-dir", state.path)
    assert (code, err) == (0, "")
    ca = CertificateAuthority.load(state.ca_cert, state.ca_key)
    assert out == (
        f"wrote CA certificate {state.ca_cert} (expires {ca.not_after:%Y-%m-%d %H:%M} UTC)\n"
        f"wrote CA key {state.ca_key} (unencrypted, mode 0600)\n"
    )
    assert mode(state.path) == 0o700
    assert mode(state.ca_key) == 0o600


def test_init_refuses_to_replace_a_ca(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    init(capsys, state)
    before = state.ca_cert.read_bytes()
    code, out, err = run(capsys, "ca", "init", "--state-dir", state.path)
    assert (code, out) == (2, "")
    assert err == (
        f"dockward: a CA already exists in {state.ca_dir}; "
        "pass --force to replace it (every certificate it issued stops working)\n"
    )
    assert state.ca_cert.read_bytes() == before


def test_init_force_replaces_the_ca(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    init(capsys, state)
    before = state.ca_cert.read_bytes()
    code, out, err = run(capsys, "ca", "init", "--force", "--state-dir", state.path)
    assert (code, err) == (0, "")
    assert out.endswith("replaced the previous CA: issue new server and client certificates\n")
    assert state.ca_cert.read_bytes() != before


def test_init_uses_the_default_state_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    code, _, err = run(capsys, "ca", "init")
    assert (code, err) == (0, "")
    assert (tmp_path / "xdg" / "dockward" / "ca" / "ca.pem").is_file()
    assert mode(tmp_path / "xdg") == 0o700


def test_init_into_a_path_blocked_by_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    code, out, err = run(capsys, "ca", "init", "--state-dir", tmp_path / "file" / "state")
    assert (code, out) == (2, "")
    assert err == f"dockward: cannot create directory {tmp_path / 'file'}: a file is in the way\n"


# -- passphrases -------------------------------------------------------------------------------


def test_passphrase_file_and_environment(
    capsys: pytest.CaptureFixture[str],
    state: StateDir,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = tmp_path / "passphrase"
    secret.write_bytes(b"correct horse\n")
    code, out, err = run(
        capsys, "ca", "init", "--state-dir", state.path, "--passphrase-file", secret
    )
    assert (code, err) == (0, "")
    assert f"wrote CA key {state.ca_key} (encrypted, mode 0600)\n" in out
    # The trailing newline of the file is not part of the passphrase.
    CertificateAuthority.load(state.ca_cert, state.ca_key, b"correct horse")

    issue = ("ca", "issue", "server", "localhost", "--state-dir", state.path)
    code, out, err = run(capsys, *issue)
    assert (code, out) == (2, "")
    assert err == (
        f"dockward: CA key {state.ca_key} is encrypted: a passphrase is needed "
        "(--passphrase-file FILE or $DOCKWARD_CA_PASSPHRASE)\n"
    )

    monkeypatch.setenv("DOCKWARD_CA_PASSPHRASE", "battery staple")
    code, out, err = run(capsys, *issue)
    assert (code, out) == (2, "")
    assert err == f"dockward: wrong passphrase for CA key {state.ca_key}\n"

    monkeypatch.setenv("DOCKWARD_CA_PASSPHRASE", "correct horse")
    code, _, err = run(capsys, *issue)
    assert (code, err) == (0, "")

    # An explicit file wins over the environment.
    monkeypatch.setenv("DOCKWARD_CA_PASSPHRASE", "battery staple")
    code, _, err = run(capsys, *issue, "--passphrase-file", secret)
    assert (code, err) == (0, "")


def test_unusable_passphrase_files(
    capsys: pytest.CaptureFixture[str], state: StateDir, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    code, _, err = run(capsys, "ca", "init", "--state-dir", state.path, "--passphrase-file", empty)
    assert code == 2
    assert err == f"dockward: passphrase file {empty} is empty\n"

    missing = tmp_path / "missing"
    code, _, err = run(
        capsys, "ca", "init", "--state-dir", state.path, "--passphrase-file", missing
    )
    assert code == 2
    assert err == f"dockward: cannot read passphrase file {missing}: no such file or directory\n"
    assert not state.has_ca()


def test_a_passphrase_for_an_unencrypted_ca(
    capsys: pytest.CaptureFixture[str], state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    init(capsys, state)
    monkeypatch.setenv("DOCKWARD_CA_PASSPHRASE", "pw")
    code, _, err = run_issue(capsys, state, "client", "alice")
    assert code == 2
    assert err == f"dockward: CA key {state.ca_key} is not encrypted, but a passphrase was given\n"


# -- ca issue server ---------------------------------------------------------------------------


def test_issue_server_without_a_ca(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    code, out, err = run_issue(capsys, state, "server", "localhost")
    assert (code, out) == (2, "")
    assert err == (
        f"dockward: no CA in {state.path}: run `dockward ca init --state-dir {state.path}` first\n"
    )


def test_issue_server(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    init(capsys, state)
    code, out, err = run_issue(
        capsys, state, "server", "Gateway.Example", "127.0.0.1", "::1", "--days", "7"
    )
    assert (code, err) == (0, "")
    cert = x509.load_pem_x509_certificate(state.server_cert.read_bytes())
    assert out == (
        f"wrote server certificate {state.server_cert} for gateway.example, 127.0.0.1, ::1 "
        f"(serial {cert.serial_number:040x}, "
        f"expires {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)\n"
        f"wrote server key {state.server_key} (mode 0600)\n"
    )
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime.days == 7
    assert mode(state.server_key) == 0o600


def test_issue_server_refuses_a_bad_name_before_touching_the_ca(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    code, out, err = run_issue(capsys, state, "server", "ok.example", "no_way")
    assert (code, out) == (2, "")
    assert err == (
        "dockward: invalid server name 'no_way': not an IP address or a DNS name "
        "(letters, digits and hyphens in dot-separated labels)\n"
    )


def test_issue_server_refuses_to_outlive_the_ca(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    init(capsys, state)
    code, out, err = run_issue(capsys, state, "server", "localhost", "--days", "4000")
    assert (code, out) == (2, "")
    assert err.startswith("dockward: a 4000-day certificate would expire on ")
    assert err.endswith(" UTC); choose fewer days or rotate the CA\n")
    assert "after the CA itself (" in err
    assert err.count("\n") == 1
    assert not state.server_cert.exists()


def test_days_must_be_positive(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    init(capsys, state)
    code, _, _ = run_issue(capsys, state, "server", "localhost", "--days", "0")
    assert code == 2
    assert not state.server_cert.exists()


# -- ca issue client ---------------------------------------------------------------------------


def test_issue_client_writes_a_bundle_and_prints_the_environment(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    init(capsys, state)
    code, out, err = run_issue(capsys, state, "client", "ci-runner")
    assert (code, err) == (0, "")
    bundle = state.client_dir("ci-runner")
    cert = x509.load_pem_x509_certificate((bundle / "cert.pem").read_bytes())
    assert out == (
        f"wrote client bundle {bundle} (ca.pem, cert.pem, key.pem, env) for ci-runner "
        f"(serial {cert.serial_number:040x}, "
        f"expires {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)\n"
        "to use it:\n"
        "  export DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 "
        f"DOCKER_CERT_PATH={bundle}\n"
    )
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30
    assert mode(bundle) == 0o700
    assert mode(bundle / "key.pem") == 0o600
    assert (bundle / "ca.pem").read_bytes() == state.ca_cert.read_bytes()
    assert cert.subject.rfc4514_string() == "CN=ci-runner"


@pytest.mark.parametrize(
    ("host", "docker_host"),
    [("::1", "'tcp://[::1]:2376'"), ("gw.example:12376", "tcp://gw.example:12376")],
)
def test_issue_client_host(
    capsys: pytest.CaptureFixture[str], state: StateDir, host: str, docker_host: str
) -> None:
    init(capsys, state)
    code, out, _ = run_issue(capsys, state, "client", "bob", "--host", host)
    assert code == 0
    assert f"  export DOCKER_HOST={docker_host} DOCKER_TLS_VERIFY=1 " in out


def test_issue_client_refuses_a_bad_host_before_writing(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    init(capsys, state)
    code, out, err = run_issue(capsys, state, "client", "bob", "--host", "gw:99999")
    assert (code, out) == (2, "")
    assert err == "dockward: invalid host 'gw:99999': the port must be a number from 1 to 65535\n"
    assert not state.client_dir("bob").exists()


@pytest.mark.parametrize("name", [".hidden", "..", "a/b", "../../etc", "x" * 65, "sp ace"])
def test_issue_client_refuses_unsafe_names(
    capsys: pytest.CaptureFixture[str], state: StateDir, name: str
) -> None:
    init(capsys, state)
    code, out, err = run_issue(capsys, state, "client", name)
    assert (code, out) == (2, "")
    assert err == (
        f"dockward: invalid client name {name!r}: use 1 to 64 of A-Z a-z 0-9 . _ - "
        "and do not start with a dot\n"
    )
    assert sorted(p.name for p in state.path.iterdir()) == ["ca"]


def test_reissuing_a_client_replaces_its_bundle(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    init(capsys, state)
    assert run_issue(capsys, state, "client", "alice")[0] == 0
    first = (state.client_dir("alice") / "cert.pem").read_bytes()
    assert run_issue(capsys, state, "client", "alice")[0] == 0
    assert (state.client_dir("alice") / "cert.pem").read_bytes() != first
    assert sorted(p.name for p in state.client_dir("alice").iterdir()) == [
        "ca.pem",
        "cert.pem",
        "env",
        "key.pem",
    ]


# -- terminal prompts, roles and hours ---------------------------------------------------------


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Pretend stdin is a terminal; answers to getpass come from the returned list."""
    answers: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        return answers.pop(0)

    monkeypatch.setattr("dockward.cli.ca._stdin_is_terminal", lambda: True)
    monkeypatch.setattr("getpass.getpass", fake_getpass)
    return answers


def test_init_encrypt_asks_twice_on_a_terminal(
    capsys: pytest.CaptureFixture[str], state: StateDir, terminal: list[str]
) -> None:
    terminal.extend(["s3cret", "s3cret"])
    code, out, err = run(capsys, "ca", "init", "--encrypt", "--state-dir", state.path)
    assert (code, err) == (0, "")
    assert f"wrote CA key {state.ca_key} (encrypted, mode 0600)\n" in out
    CertificateAuthority.load(state.ca_cert, state.ca_key, b"s3cret")

    # Later commands ask for it once.
    terminal.append("s3cret")
    code, _, err = run_issue(capsys, state, "client", "alice")
    assert (code, err) == (0, "")
    terminal.append("wrong")
    code, _, err = run_issue(capsys, state, "client", "alice")
    assert (code, err) == (2, f"dockward: wrong passphrase for CA key {state.ca_key}\n")
    # Commands that do not sign ask nothing.
    code, _, _ = run(capsys, "ca", "list", "--state-dir", state.path)
    assert code == 0 and terminal == []


@pytest.mark.parametrize(
    ("answers", "message"),
    [(["a", "b"], "the passphrases do not match"), ([""], "the passphrase is empty")],
)
def test_init_encrypt_refuses_bad_answers(
    capsys: pytest.CaptureFixture[str],
    state: StateDir,
    terminal: list[str],
    answers: list[str],
    message: str,
) -> None:
    terminal.extend(answers)
    code, out, err = run(capsys, "ca", "init", "--encrypt", "--state-dir", state.path)
    assert (code, out, err) == (2, "", f"dockward: {message}\n")
    assert not state.has_ca()


def test_init_encrypt_needs_a_terminal(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    code, out, err = run(capsys, "ca", "init", "--encrypt", "--state-dir", state.path)
    assert (code, out) == (2, "")
    assert err == (
        "dockward: --encrypt asks for the passphrase on a terminal; without one use "
        "(--passphrase-file FILE or $DOCKWARD_CA_PASSPHRASE)\n"
    )


def test_init_days(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    init(capsys, state, "--days", "30")
    ca = CertificateAuthority.load(state.ca_cert, state.ca_key)
    assert (ca.not_after - ca.cert.not_valid_before_utc).days == 30
    code, _, err = run_issue(capsys, state, "client", "a", "--days", "31")
    assert code == 2
    assert err.startswith("dockward: a 31-day certificate would expire on ")


def test_issue_client_with_role_and_hours(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    init(capsys, state)
    code, out, err = run_issue(capsys, state, "client", "ci-runner", "--role", "ci", "--hours", "8")
    assert (code, err) == (0, "")
    bundle = state.client_dir("ci-runner")
    cert = x509.load_pem_x509_certificate((bundle / "cert.pem").read_bytes())
    assert out.splitlines()[0] == (
        f"wrote client bundle {bundle} (ca.pem, cert.pem, key.pem, env) for ci-runner "
        f"(role ci, serial {cert.serial_number:040x}, "
        f"expires {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
    )
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(hours=8, minutes=5)
    with state.open_index() as index:
        entry = index.current(CertKind.CLIENT, "ci-runner")
    assert entry is not None and entry.role == "ci"


def test_issue_client_hours_and_days_add_up(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    init(capsys, state)
    code, _, err = run_issue(capsys, state, "server", "localhost", "--days", "1", "--hours", "2")
    assert (code, err) == (0, "")
    cert = x509.load_pem_x509_certificate(state.server_cert.read_bytes())
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(
        days=1, hours=2, minutes=5
    )
    code, _, err = run_issue(capsys, state, "server", "localhost", "--days", "0", "--hours", "0")
    assert (code, err) == (
        2,
        "dockward: a lifetime must be at least 1 hour (got 0 days and 0 hours)\n",
    )
