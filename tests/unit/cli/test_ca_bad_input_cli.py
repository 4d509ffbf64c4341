"""Bad input for every ``dockward ca`` subcommand, with the exact message: an unknown name, an
expired CA, a wrong passphrase, a directory that cannot be written.

Root ignores file permissions, so the unwritable-directory tests run, when the suite runs as
root, with the effective uid and gid of ``nobody`` in a directory ``nobody`` owns (the real uid
stays 0, which is what lets the fixture switch back).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockward.pki.index import CertKind
from dockward.pki.state import StateDir
from support.cli import ok, run

NOBODY = 65534

# The commands that sign with the CA key; ``rotate`` does too, but an expired CA rotates afresh.
SIGNING_COMMANDS = [
    ["issue", "server", "localhost"],
    ["issue", "client", "bob"],
    ["revoke", "alice"],
    ["renew", "alice"],
    ["crl"],
]


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    return StateDir(tmp_path / "state")


@pytest.fixture
def own_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory whose permissions bind the test, even when the suite runs as root."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    # Not under tmp_path: pytest keeps that in a directory only root may enter.
    base = Path(tempfile.mkdtemp(prefix="dockward-test-"))
    try:
        os.chown(base, NOBODY, NOBODY)
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
        yield base
    finally:
        os.seteuid(0)
        os.setegid(0)
        shutil.rmtree(base)


def fails(capsys: pytest.CaptureFixture[str], *argv: str | os.PathLike[str]) -> str:
    """Run a command that must fail with exit 2 and print nothing on stdout; return stderr."""
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, ""), (code, out, err)
    return err


def setup(capsys: pytest.CaptureFixture[str], state: StateDir, *extra: str) -> None:
    """A CA, a server certificate and a client ``alice``."""
    sd = ("--state-dir", state.path)
    ok(capsys, "ca", "init", *sd, *extra)
    ok(capsys, "ca", "issue", "server", "localhost", *sd, *extra)
    ok(capsys, "ca", "issue", "client", "alice", "--role", "ci", *sd, *extra)


def expire_the_ca(state: StateDir) -> dt.datetime:
    """Replace the CA by one that expired yesterday, with a client ``alice`` it issued."""
    past = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=3)
    state.create_ca(days=2, now=past)
    ca = state.load_ca(allow_expired=True)
    issued = ca.issue_client("alice", hours=12, now=past)
    with state.open_index() as index, index.transaction():
        index.record(issued.cert, CertKind.CLIENT, issuer_serial=ca.serial, now=past)
        state.write_client_bundle("alice", issued, ca.cert_pem())
    return ca.not_after


def expired_message(state: StateDir, not_after: dt.datetime) -> str:
    return (
        f"dockward: the CA certificate {state.ca_cert} expired on "
        f"{not_after:%Y-%m-%d %H:%M:%S} UTC: run `dockward ca rotate --state-dir {state.path}` "
        "to make a new CA and reissue the certificates\n"
    )


def unknown_message(state: StateDir, name: str) -> str:
    return (
        f"dockward: no certificate named or with serial {name!r} in {state.path} "
        f"(see `dockward ca list --state-dir {state.path}`)\n"
    )


def wrong_passphrase(state: StateDir) -> str:
    return f"dockward: wrong passphrase for CA key {state.ca_key}\n"


@pytest.fixture
def encrypted(
    capsys: pytest.CaptureFixture[str], state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> StateDir:
    monkeypatch.setenv("DOCKWARD_CA_PASSPHRASE", "right")
    setup(capsys, state)
    monkeypatch.setenv("DOCKWARD_CA_PASSPHRASE", "wrong")
    return state


def snapshot(state: StateDir) -> dict[str, bytes]:
    return {
        str(path.relative_to(state.path)): path.read_bytes()
        for path in sorted(state.path.rglob("*"))
        if path.is_file()
    }


# -- unknown names -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["revoke", "renew"])
def test_unknown_name(capsys: pytest.CaptureFixture[str], state: StateDir, command: str) -> None:
    setup(capsys, state)
    err = fails(capsys, "ca", command, "bob", "--state-dir", state.path)
    assert err == unknown_message(state, "bob")


@pytest.mark.parametrize("command", ["revoke", "renew"])
def test_unknown_serial(capsys: pytest.CaptureFixture[str], state: StateDir, command: str) -> None:
    setup(capsys, state)
    err = fails(capsys, "ca", command, "0123456789abcdef", "--state-dir", state.path)
    assert err == unknown_message(state, "0123456789abcdef")


def test_unknown_client_for_bundle_and_context(
    capsys: pytest.CaptureFixture[str], state: StateDir, tmp_path: Path
) -> None:
    setup(capsys, state)
    expected = (
        f"dockward: no client named 'bob' in {state.path}: issue one with "
        f"`dockward ca issue client bob --role ROLE --state-dir {state.path}`\n"
    )
    sd = ("--state-dir", state.path)
    assert fails(capsys, "ca", "bundle", "bob", "--out", tmp_path / "b", *sd) == expected
    assert not (tmp_path / "b").exists()
    out = tmp_path / "b.tar"
    assert fails(capsys, "ca", "context", "bob", "--host", "gw", "--out", out, *sd) == expected
    assert not out.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["status"],
        ["revoke", "alice"],
        ["renew", "alice"],
        ["crl"],
        ["rotate"],
        ["retire-old"],
        ["issue", "client", "alice"],
        ["bundle", "alice", "--out", "x"],
        ["context", "alice", "--host", "gw"],
    ],
)
def test_no_ca_yet(capsys: pytest.CaptureFixture[str], state: StateDir, command: list[str]) -> None:
    err = fails(capsys, "ca", *command, "--state-dir", state.path)
    if command[0] in ("bundle", "context"):
        assert err == (
            f"dockward: no client named 'alice' in {state.path}: issue one with "
            f"`dockward ca issue client alice --role ROLE --state-dir {state.path}`\n"
        )
    elif command[0] == "retire-old":
        assert err == (
            f"dockward: no CA rotation in progress ({state.old_ca_dir} does not exist): "
            "nothing to retire\n"
        )
    else:
        assert err == (
            f"dockward: no CA in {state.path}: run `dockward ca init --state-dir {state.path}` "
            "first\n"
        )


def test_bad_reason_and_role(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    setup(capsys, state)
    sd = ("--state-dir", state.path)
    assert fails(capsys, "ca", "revoke", "alice", "--reason", "lost", *sd) == (
        "dockward: unknown revocation reason 'lost': use one of unspecified, keyCompromise, "
        "cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn\n"
    )
    assert fails(capsys, "ca", "issue", "client", "bob", "--role", "a b", *sd) == (
        "dockward: invalid role 'a b': use 1 to 64 of A-Z a-z 0-9 . _ - and start with a letter "
        "or digit\n"
    )


def test_bad_host_and_context_name(
    capsys: pytest.CaptureFixture[str], state: StateDir, tmp_path: Path
) -> None:
    setup(capsys, state)
    sd = ("--state-dir", state.path)
    assert fails(capsys, "ca", "context", "alice", "--host", "tcp://gw:0", *sd) == (
        "dockward: invalid host 'tcp://gw:0': the port must be a number from 1 to 65535\n"
    )
    assert fails(
        capsys, "ca", "context", "alice", "--host", "gw", "--context-name", "default", *sd
    ) == (
        "dockward: invalid context name 'default': use a letter or digit, then at least one "
        "more of A-Z a-z 0-9 _ . + - (and not 'default')\n"
    )
    assert fails(
        capsys, "ca", "bundle", "alice", "--out", tmp_path / "b", "--host", "a b", *sd
    ) == ("dockward: invalid host 'a b': not an IP address or a DNS name\n")


# -- expired CA --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", SIGNING_COMMANDS)
def test_expired_ca_refuses_to_sign(
    capsys: pytest.CaptureFixture[str], state: StateDir, command: list[str]
) -> None:
    not_after = expire_the_ca(state)
    before = snapshot(state)
    err = fails(capsys, "ca", *command, "--state-dir", state.path)
    assert err == expired_message(state, not_after)
    assert snapshot(state) == before


def test_expired_ca_bundle_and_context_say_renew(
    capsys: pytest.CaptureFixture[str], state: StateDir, tmp_path: Path
) -> None:
    expire_the_ca(state)
    with state.open_index() as index:
        alice = index.current(CertKind.CLIENT, "alice")
    assert alice is not None
    expected = (
        f"dockward: the certificate of client alice expired on "
        f"{alice.not_after:%Y-%m-%d %H:%M} UTC: run `dockward ca renew alice --state-dir "
        f"{state.path}`\n"
    )
    sd = ("--state-dir", state.path)
    assert fails(capsys, "ca", "bundle", "alice", "--out", tmp_path / "b", *sd) == expected
    assert fails(capsys, "ca", "context", "alice", "--host", "gw", *sd) == expected


def test_expired_ca_list_and_status_report_it(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    expire_the_ca(state)
    out = ok(capsys, "ca", "list", "--state-dir", state.path)
    assert [" expired " in line for line in out.splitlines()] == [False, True, True]
    code, out, err = run(capsys, "ca", "status", "--state-dir", state.path)
    assert (code, err) == (1, "")
    assert f"expired: run `dockward ca rotate --state-dir {state.path}`" in out.splitlines()[1]


def test_expired_ca_rotate_starts_afresh(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    expire_the_ca(state)
    out = ok(capsys, "ca", "rotate", "--state-dir", state.path)
    assert "the previous CA 'dockward CA' had expired: retired at once\n" in out
    assert "reissued client alice (serial " in out
    ok(capsys, "ca", "issue", "client", "bob", "--state-dir", state.path)


def test_an_expired_old_ca_can_still_be_retired(
    capsys: pytest.CaptureFixture[str], state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    state.create_ca(days=4, now=now - dt.timedelta(days=3))  # expires tomorrow
    ok(capsys, "ca", "issue", "server", "localhost", "--hours", "12", "--state-dir", state.path)
    ok(capsys, "ca", "rotate", "--state-dir", state.path)
    # The overlap outlasts the old CA: two days later, as the CA loader sees the clock.
    monkeypatch.setattr("dockward.pki.ca._now", lambda: now + dt.timedelta(days=2))
    out = ok(capsys, "ca", "retire-old", "--state-dir", state.path)
    assert out.startswith("retired CA 'dockward CA' (serial ")
    assert not state.rotating()


# -- wrong passphrase --------------------------------------------------------------------------


@pytest.mark.parametrize("command", [*SIGNING_COMMANDS, ["rotate"]])
def test_wrong_passphrase_changes_nothing(
    capsys: pytest.CaptureFixture[str], encrypted: StateDir, command: list[str]
) -> None:
    before = snapshot(encrypted)
    assert fails(capsys, "ca", *command, "--state-dir", encrypted.path) == wrong_passphrase(
        encrypted
    )
    assert snapshot(encrypted) == before


def test_wrong_passphrase_for_retire_old(
    capsys: pytest.CaptureFixture[str], encrypted: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKWARD_CA_PASSPHRASE", "right")
    ok(capsys, "ca", "rotate", "--state-dir", encrypted.path)
    monkeypatch.setenv("DOCKWARD_CA_PASSPHRASE", "wrong")
    before = snapshot(encrypted)
    assert fails(capsys, "ca", "retire-old", "--state-dir", encrypted.path) == wrong_passphrase(
        encrypted
    )
    assert snapshot(encrypted) == before


@pytest.mark.parametrize("command", [["list"], ["status"], ["bundle", "alice", "--out", "B"]])
def test_commands_without_the_key_ignore_the_passphrase(
    capsys: pytest.CaptureFixture[str],
    encrypted: StateDir,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    monkeypatch.delenv("DOCKWARD_CA_PASSPHRASE")
    argv = [str(tmp_path / "b") if arg == "B" else arg for arg in command]
    ok(capsys, "ca", *argv, "--state-dir", encrypted.path)


def test_a_missing_passphrase_says_where_to_give_it(
    capsys: pytest.CaptureFixture[str], encrypted: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKWARD_CA_PASSPHRASE")
    assert fails(capsys, "ca", "revoke", "alice", "--state-dir", encrypted.path) == (
        f"dockward: CA key {encrypted.ca_key} is encrypted: a passphrase is needed "
        "(--passphrase-file FILE or $DOCKWARD_CA_PASSPHRASE)\n"
    )


# -- unwritable directories --------------------------------------------------------------------


def test_init_into_a_read_only_dir(capsys: pytest.CaptureFixture[str], own_dir: Path) -> None:
    locked = own_dir / "locked"
    locked.mkdir(mode=0o500)
    err = fails(capsys, "ca", "init", "--state-dir", locked / "state")
    assert err == f"dockward: cannot create directory {locked / 'state'}: permission denied\n"


def test_issue_server_into_a_read_only_dir(
    capsys: pytest.CaptureFixture[str], own_dir: Path
) -> None:
    state = StateDir(own_dir / "state")
    setup(capsys, state)
    state.server_dir.chmod(0o500)
    err = fails(capsys, "ca", "issue", "server", "gw", "--state-dir", state.path)
    assert err == f"dockward: cannot write {state.server_key}: permission denied\n"
    state.server_dir.chmod(0o700)
    out = ok(capsys, "ca", "list", "--state-dir", state.path)
    assert " gw " not in out  # the index was rolled back


def test_issue_client_into_a_read_only_dir(
    capsys: pytest.CaptureFixture[str], own_dir: Path
) -> None:
    state = StateDir(own_dir / "state")
    setup(capsys, state)
    state.clients_dir.chmod(0o500)
    err = fails(capsys, "ca", "issue", "client", "bob", "--state-dir", state.path)
    assert err == (
        f"dockward: cannot create directory {state.clients_dir / 'bob'}: permission denied\n"
    )
    state.clients_dir.chmod(0o700)
    assert " bob " not in ok(capsys, "ca", "list", "--state-dir", state.path)


@pytest.mark.parametrize("command", [["revoke", "alice"], ["crl"], ["rotate"]])
def test_ca_dir_read_only(
    capsys: pytest.CaptureFixture[str], own_dir: Path, command: list[str]
) -> None:
    state = StateDir(own_dir / "state")
    setup(capsys, state)
    state.ca_dir.chmod(0o500)
    before = snapshot(state)
    err = fails(capsys, "ca", *command, "--state-dir", state.path)
    assert err == (
        f"dockward: cannot write certificate index {state.index_path}: permission denied\n"
    )
    assert snapshot(state) == before
    # Reading still works.
    ok(capsys, "ca", "list", "--state-dir", state.path)
    assert run(capsys, "ca", "status", "--state-dir", state.path)[0] == 0


def test_renew_into_a_read_only_bundle(capsys: pytest.CaptureFixture[str], own_dir: Path) -> None:
    state = StateDir(own_dir / "state")
    setup(capsys, state)
    state.client_dir("alice").chmod(0o500)
    err = fails(capsys, "ca", "renew", "alice", "--state-dir", state.path)
    assert err == (
        f"dockward: cannot write {state.client_dir('alice') / 'key.pem'}: permission denied\n"
    )
    state.client_dir("alice").chmod(0o700)
    assert ok(capsys, "ca", "list", "--state-dir", state.path).count(" alice ") == 1


def test_retire_old_with_a_read_only_ca_dir(
    capsys: pytest.CaptureFixture[str], own_dir: Path
) -> None:
    state = StateDir(own_dir / "state")
    setup(capsys, state)
    ok(capsys, "ca", "rotate", "--state-dir", state.path)
    state.ca_dir.chmod(0o500)
    err = fails(capsys, "ca", "retire-old", "--state-dir", state.path)
    assert err == (
        f"dockward: cannot write certificate index {state.index_path}: permission denied\n"
    )
    state.ca_dir.chmod(0o700)
    assert state.rotating()


def test_bundle_into_a_read_only_dir(capsys: pytest.CaptureFixture[str], own_dir: Path) -> None:
    state = StateDir(own_dir / "state")
    setup(capsys, state)
    locked = own_dir / "locked"
    locked.mkdir(mode=0o500)
    err = fails(
        capsys, "ca", "bundle", "alice", "--out", locked / "alice", "--state-dir", state.path
    )
    assert err == f"dockward: cannot create directory {locked / 'alice'}: permission denied\n"
    err = fails(capsys, "ca", "bundle", "alice", "--out", locked, "--state-dir", state.path)
    assert err == f"dockward: cannot write {locked / 'key.pem'}: permission denied\n"


def test_context_into_a_read_only_dir(capsys: pytest.CaptureFixture[str], own_dir: Path) -> None:
    state = StateDir(own_dir / "state")
    setup(capsys, state)
    locked = own_dir / "locked"
    locked.mkdir(mode=0o500)
    target = locked / "alice.dockercontext"
    err = fails(
        capsys, "ca", "context", "alice", "--host", "gw", "--out", target, "--state-dir", state.path
    )
    assert err == f"dockward: cannot write {target}: permission denied\n"
