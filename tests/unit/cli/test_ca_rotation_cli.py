"""``dockward ca rotate | retire-old`` and ``ca bundle | context`` through ``main()``."""

from __future__ import annotations

import io
import json
import shlex
import stat
import tarfile
from pathlib import Path

import pytest

from dockward.pki.crl import load_revocation_list
from dockward.pki.index import CertKind, IndexEntry
from dockward.pki.state import StateDir
from support.cli import current, ok, run


@pytest.fixture
def state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> StateDir:
    state = StateDir(tmp_path / "state")
    ok(capsys, "ca", "init", "--state-dir", state.path)
    ok(capsys, "ca", "issue", "server", "localhost", "--state-dir", state.path)
    ok(capsys, "ca", "issue", "client", "alice", "--role", "ci", "--state-dir", state.path)
    return state


def date(entry: IndexEntry) -> str:
    return f"{entry.not_after:%Y-%m-%d %H:%M} UTC"


# -- rotate and retire-old ---------------------------------------------------------------------


def test_rotate_prints_the_plan(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    old_ca = current(state, CertKind.CA)
    out = ok(capsys, "ca", "rotate", "--state-dir", state.path)
    new_ca = current(state, CertKind.CA)
    alice = current(state, CertKind.CLIENT, "alice")
    crl = load_revocation_list(state.crl_path, state.ca_bundle)
    sd = f"--state-dir {state.path}"
    assert out == (
        f"created CA 'dockward CA 2' (serial {new_ca.serial_hex}, expires {date(new_ca)})\n"
        f"the previous CA 'dockward CA' (serial {old_ca.serial_hex}) stays trusted until "
        f"`dockward ca retire-old {sd}`\n"
        f"reissued client alice (role ci, serial {alice.serial_hex}, expires {date(alice)}) "
        f"in {state.client_dir('alice')}\n"
        f"wrote trust bundle {state.ca_bundle} (2 CAs)\n"
        f"wrote CRL {state.crl_path} (0 revoked, next update "
        f"{crl.next_update:%Y-%m-%d %H:%M} UTC)\n"
        "next:\n"
        f"  1. hand each client its new bundle: `dockward ca bundle NAME --out DIR {sd}` or "
        f"`dockward ca context NAME --host tcp://HOST:2376 {sd}`\n"
        f"  2. make sure the gateway has reloaded {state.ca_bundle} and {state.crl_path}\n"
        f"  3. once every client uses its new bundle: `dockward ca retire-old {sd}`\n"
    )


def test_retire_old_prints_what_changed(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    ok(capsys, "ca", "rotate", "--state-dir", state.path)
    old_ca_serial = next(
        e for e in _entries(state) if e.kind is CertKind.CA and e.name == "dockward CA"
    ).serial_hex
    out = ok(capsys, "ca", "retire-old", "--state-dir", state.path)
    server = current(state, CertKind.SERVER)
    crl = load_revocation_list(state.crl_path, state.ca_bundle)
    assert out == (
        f"retired CA 'dockward CA' (serial {old_ca_serial}); the trust bundle "
        f"{state.ca_bundle} now holds one CA\n"
        f"reissued server certificate {state.server_cert} under the new CA "
        f"(serial {server.serial_hex}, expires {date(server)})\n"
        f"wrote CRL {state.crl_path} (0 revoked, next update "
        f"{crl.next_update:%Y-%m-%d %H:%M} UTC)\n"
        f"deleted the previous CA key {state.path / 'ca' / 'old' / 'ca-key.pem'}\n"
    )


def _entries(state: StateDir) -> list[IndexEntry]:
    with state.open_index() as index:
        return index.entries()


def test_rotate_twice_and_retire_without_rotation(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    code, out, err = run(capsys, "ca", "retire-old", "--state-dir", state.path)
    assert (code, out) == (2, "")
    assert err == (
        f"dockward: no CA rotation in progress ({state.old_ca_dir} does not exist): "
        "nothing to retire\n"
    )
    ok(capsys, "ca", "rotate", "--state-dir", state.path)
    code, out, err = run(capsys, "ca", "rotate", "--state-dir", state.path)
    assert (code, out) == (2, "")
    assert err == (
        f"dockward: a CA rotation is already in progress (the previous CA is in "
        f"{state.old_ca_dir}): finish it with `dockward ca retire-old --state-dir "
        f"{state.path}` first\n"
    )


# -- bundle ------------------------------------------------------------------------------------


def test_bundle_writes_a_cert_path_with_env(
    capsys: pytest.CaptureFixture[str], state: StateDir, tmp_path: Path
) -> None:
    alice = current(state, CertKind.CLIENT, "alice")
    target = tmp_path / "handed" / "alice"
    out = ok(
        capsys,
        "ca",
        "bundle",
        "alice",
        "--out",
        target,
        "--host",
        "gw.example",
        "--state-dir",
        state.path,
    )
    assert out == (
        f"wrote client bundle {target} (ca.pem, cert.pem, key.pem, env) for alice "
        f"(role ci, serial {alice.serial_hex}, expires {date(alice)})\n"
        "to use it:\n"
        "  export DOCKER_HOST=tcp://gw.example:2376 DOCKER_TLS_VERIFY=1 "
        f"DOCKER_CERT_PATH={target}\n"
    )
    assert sorted(p.name for p in target.iterdir()) == ["ca.pem", "cert.pem", "env", "key.pem"]
    assert stat.S_IMODE((target / "key.pem").stat().st_mode) == 0o600
    assert (target / "ca.pem").read_bytes() == state.ca_bundle.read_bytes()
    lines = (target / "env").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if not line.startswith("#"))
    assert env == {
        "DOCKER_HOST": "tcp://gw.example:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(target),
    }


def test_bundle_during_a_rotation_trusts_both_cas(
    capsys: pytest.CaptureFixture[str], state: StateDir, tmp_path: Path
) -> None:
    ok(capsys, "ca", "rotate", "--state-dir", state.path)
    ok(capsys, "ca", "bundle", "alice", "--out", tmp_path / "b", "--state-dir", state.path)
    assert (tmp_path / "b" / "ca.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 2


def test_bundle_of_a_revoked_client(
    capsys: pytest.CaptureFixture[str], state: StateDir, tmp_path: Path
) -> None:
    alice = current(state, CertKind.CLIENT, "alice")
    ok(capsys, "ca", "revoke", "alice", "--state-dir", state.path)
    code, out, err = run(
        capsys, "ca", "bundle", "alice", "--out", tmp_path / "b", "--state-dir", state.path
    )
    assert (code, out) == (2, "")
    assert err == (
        f"dockward: client alice is revoked (serial {alice.serial_hex}): issue a new "
        f"certificate with `dockward ca issue client alice --role ROLE --state-dir "
        f"{state.path}`\n"
    )


# -- context -----------------------------------------------------------------------------------


def test_context_writes_a_tar_and_prints_both_ways(
    capsys: pytest.CaptureFixture[str],
    state: StateDir,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    alice = current(state, CertKind.CLIENT, "alice")
    out = ok(
        capsys,
        "ca",
        "context",
        "alice",
        "--host",
        "tcp://gw.example:2376",
        "--state-dir",
        state.path,
    )
    target = tmp_path / "dockward-alice.dockercontext"
    source = state.client_dir("alice")
    assert out == (
        f"wrote docker context dockward-alice to {target} (client alice, "
        f"tcp://gw.example:2376, expires {date(alice)})\n"
        "import it with:\n"
        f"  docker context import dockward-alice {target}\n"
        "  docker context use dockward-alice\n"
        "or, where the bundle files are, create it directly:\n"
        "  docker context create dockward-alice --docker "
        f"host=tcp://gw.example:2376,ca={source}/ca.pem,cert={source}/cert.pem,"
        f"key={source}/key.pem\n"
        "DOCKER_HOST overrides the current context: unset it first\n"
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with tarfile.open(fileobj=io.BytesIO(target.read_bytes())) as tar:
        handle = tar.extractfile("meta.json")
        assert handle is not None
        meta = json.loads(handle.read())
    assert meta["Endpoints"]["docker"]["Host"] == "tcp://gw.example:2376"


def test_context_name_and_out(
    capsys: pytest.CaptureFixture[str], state: StateDir, tmp_path: Path
) -> None:
    target = tmp_path / "my dir" / "ctx.tar"
    out = ok(
        capsys,
        "ca",
        "context",
        "alice",
        "--host",
        "::1",
        "--context-name",
        "build+ci",
        "--out",
        target,
        "--state-dir",
        state.path,
    )
    assert target.is_file()
    lines = out.splitlines()
    assert lines[0].startswith(f"wrote docker context build+ci to {target} (client alice, ")
    assert shlex.split(lines[2]) == ["docker", "context", "import", "build+ci", str(target)]
    assert "tcp://[::1]:2376" in lines[0]
