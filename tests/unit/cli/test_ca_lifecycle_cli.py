"""``dockward ca list | revoke | crl | renew | status`` through ``main()``: what they print."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from dockward.pki import lifecycle
from dockward.pki.crl import load_revocation_list
from dockward.pki.index import CertKind
from dockward.pki.state import StateDir
from support.cli import current, ok, run


@pytest.fixture
def state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> StateDir:
    state = StateDir(tmp_path / "state")
    ok(capsys, "ca", "init", "--state-dir", state.path)
    ok(capsys, "ca", "issue", "server", "localhost", "127.0.0.1", "--state-dir", state.path)
    ok(capsys, "ca", "issue", "client", "alice", "--role", "ci", "--state-dir", state.path)
    return state


def date(when: dt.datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC"


# -- list --------------------------------------------------------------------------------------


def test_list_prints_an_aligned_table(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    out = ok(capsys, "ca", "list", "--state-dir", state.path)
    ca = current(state, CertKind.CA)
    server = current(state, CertKind.SERVER)
    alice = current(state, CertKind.CLIENT, "alice")
    lines = out.splitlines()
    assert lines[0].split() == ["SERIAL", "KIND", "NAME", "ROLE", "STATUS", "EXPIRES", "LEFT"]
    assert [line[:16] for line in lines[1:]] == [
        ca.serial_hex[:16],
        server.serial_hex[:16],
        alice.serial_hex[:16],
    ]
    assert lines[3].split()[:8] == [
        alice.serial_hex[:16],
        "client",
        "alice",
        "ci",
        "valid",
        *date(alice.not_after).split(),
    ]
    assert lines[3].endswith(("30d 0h", "29d 23h"))
    assert lines[1].split()[2:4] == ["dockward", "CA"]
    # Columns line up.
    assert len({line.index("valid") for line in lines[1:]}) == 1
    assert "\x1b[" not in out  # no colour when not on a terminal


def test_list_colours_what_is_short_of_time(
    capsys: pytest.CaptureFixture[str], state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(capsys, "ca", "issue", "client", "brief", "--hours", "1", "--state-dir", state.path)
    # A certificate under 20% of its lifetime, seen from the future.
    monkeypatch.setattr(
        lifecycle, "_now", lambda now: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=50)
    )
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = ok(capsys, "ca", "list", "--state-dir", state.path)
    brief = next(line for line in out.splitlines() if "brief" in line)
    alice = next(line for line in out.splitlines() if "alice" in line)
    assert brief.startswith("\x1b[33m")  # yellow
    assert "\x1b[" not in alice


def test_list_json_has_every_field(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    data = json.loads(ok(capsys, "ca", "list", "--json", "--state-dir", state.path))
    rows = [lifecycle.ListedCertificate.from_json(item) for item in data["certificates"]]
    assert [(r.entry.kind, r.entry.name, r.entry.role) for r in rows] == [
        (CertKind.CA, "dockward CA", None),
        (CertKind.SERVER, "localhost", None),
        (CertKind.CLIENT, "alice", "ci"),
    ]
    assert set(data["certificates"][2]) == {
        "serial",
        "kind",
        "name",
        "role",
        "sans",
        "not_before",
        "not_after",
        "spki_sha256",
        "issuer_serial",
        "status",
        "issued_at",
        "revoked_at",
        "revocation_reason",
        "expired",
        "seconds_left",
        "attention",
    }
    assert data["certificates"][1]["sans"] == ["localhost", "127.0.0.1"]


def test_list_all_shows_history(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    ok(capsys, "ca", "rotate", "--state-dir", state.path)
    ok(capsys, "ca", "retire-old", "--state-dir", state.path)
    short = ok(capsys, "ca", "list", "--state-dir", state.path)
    full = ok(capsys, "ca", "list", "--all", "--state-dir", state.path)
    assert "retired" not in short
    assert full.count(" retired ") == 3  # the old CA, its server certificate and alice's
    assert len(full.splitlines()) == len(short.splitlines()) + 3


# -- revoke and crl ----------------------------------------------------------------------------


def test_revoke_prints_what_it_did(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    alice = current(state, CertKind.CLIENT, "alice")
    out = ok(
        capsys, "ca", "revoke", "alice", "--reason", "key-compromise", "--state-dir", state.path
    )
    crl = load_revocation_list(state.crl_path, state.ca_bundle)
    assert out == (
        f"revoked client alice (serial {alice.serial_hex}, reason keyCompromise)\n"
        f"wrote CRL {state.crl_path} (1 revoked, next update {date(crl.next_update)})\n"
    )
    assert crl.revoked == {alice.serial}


def test_revoke_the_server_says_to_renew(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    server = current(state, CertKind.SERVER)
    out = ok(capsys, "ca", "revoke", server.serial_hex[:12], "--state-dir", state.path)
    assert out.splitlines()[0] == (
        f"revoked server localhost (serial {server.serial_hex}, reason unspecified)"
    )
    assert out.splitlines()[-1] == (
        "the gateway's own certificate is revoked: issue a new one with "
        f"`dockward ca renew localhost --state-dir {state.path}`"
    )


def test_revoke_by_decimal_serial(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    alice = current(state, CertKind.CLIENT, "alice")
    out = ok(capsys, "ca", "revoke", str(alice.serial), "--state-dir", state.path)
    assert out.startswith(f"revoked client alice (serial {alice.serial_hex}, ")


def test_crl_re_signs(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    before = state.crl_path.read_bytes()
    out = ok(capsys, "ca", "crl", "--days", "2", "--state-dir", state.path)
    crl = load_revocation_list(state.crl_path, state.ca_bundle)
    assert out == (f"wrote CRL {state.crl_path} (0 revoked, next update {date(crl.next_update)})\n")
    assert state.crl_path.read_bytes() != before
    assert crl.next_update - crl.this_update == dt.timedelta(days=2, minutes=5)


# -- renew -------------------------------------------------------------------------------------


def test_renew_a_client(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    old = current(state, CertKind.CLIENT, "alice")
    out = ok(capsys, "ca", "renew", "alice", "--state-dir", state.path)
    new = current(state, CertKind.CLIENT, "alice")
    assert new.serial != old.serial
    assert out == (
        f"renewed client alice (role ci, serial {new.serial_hex}, expires "
        f"{date(new.not_after)})\n"
        f"wrote client bundle {state.client_dir('alice')} (ca.pem, cert.pem, key.pem, env)\n"
        f"the previous certificate (serial {old.serial_hex}) stays valid until "
        f"{date(old.not_after)}; --revoke-old revokes it\n"
    )


def test_renew_the_server_with_revoke_old(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    old = current(state, CertKind.SERVER)
    out = ok(
        capsys,
        "ca",
        "renew",
        "localhost",
        "--revoke-old",
        "--hours",
        "6",
        "--state-dir",
        state.path,
    )
    new = current(state, CertKind.SERVER)
    crl = load_revocation_list(state.crl_path, state.ca_bundle)
    assert out == (
        f"renewed server localhost (serial {new.serial_hex}, expires {date(new.not_after)})\n"
        f"wrote server certificate {state.server_cert} and key {state.server_key}\n"
        f"revoked the previous certificate (serial {old.serial_hex})\n"
        f"wrote CRL {state.crl_path} (1 revoked, next update {date(crl.next_update)})\n"
    )
    assert new.sans == ("localhost", "127.0.0.1")
    assert new.lifetime == dt.timedelta(hours=6, minutes=5)


def test_renew_with_revoke_old_revokes_only_the_certificate_renewed(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    first = current(state, CertKind.CLIENT, "alice")
    ok(capsys, "ca", "issue", "client", "alice", "--role", "ci", "--state-dir", state.path)
    second = current(state, CertKind.CLIENT, "alice")
    out = ok(capsys, "ca", "renew", "alice", "--revoke-old", "--state-dir", state.path)
    new = current(state, CertKind.CLIENT, "alice")
    assert f"revoked the previous certificate (serial {second.serial_hex})\n" in out
    assert first.serial_hex not in out
    assert "(1 revoked, " in out
    listed = json.loads(ok(capsys, "ca", "list", "--json", "--state-dir", state.path))
    rows = listed["certificates"]
    assert {row["serial"]: row["status"] for row in rows if row["name"] == "alice"} == {
        first.serial_hex: "superseded",
        second.serial_hex: "revoked",
        new.serial_hex: "valid",
    }


def test_renew_refuses_a_revoked_client(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    ok(capsys, "ca", "revoke", "alice", "--state-dir", state.path)
    code, out, err = run(capsys, "ca", "renew", "alice", "--state-dir", state.path)
    assert (code, out) == (2, "")
    assert err == (
        "dockward: client alice is revoked: it is not renewed; issue a new one with "
        f"`dockward ca issue client alice --role ROLE --state-dir {state.path}`\n"
    )


# -- status ------------------------------------------------------------------------------------


def test_status_all_good(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    code, out, err = run(capsys, "ca", "status", "--state-dir", state.path)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "EXPIRES", "LEFT", "STATE"]
    assert [line.split()[0] for line in lines[1:-1]] == ["ca", "server", "client", "crl"]
    assert all(" ok" in line for line in lines[1:-1])
    assert "updated " in lines[4] and ", 0 revoked)" in lines[4]
    assert lines[-1] == "nothing needs action within 7 days"


def test_status_exits_1_when_action_is_due(
    capsys: pytest.CaptureFixture[str], state: StateDir
) -> None:
    ok(capsys, "ca", "issue", "client", "soon", "--days", "2", "--state-dir", state.path)
    ok(capsys, "ca", "crl", "--days", "3", "--state-dir", state.path)
    code, out, err = run(capsys, "ca", "status", "--state-dir", state.path)
    assert (code, err) == (1, "")
    soon = next(line for line in out.splitlines() if line.startswith("client  soon"))
    assert soon.endswith(
        f"expires within 7 days: run `dockward ca renew soon --state-dir {state.path}`"
    )
    crl = next(line for line in out.splitlines() if line.startswith("crl"))
    assert f"next update within 7 days: run `dockward ca crl --state-dir {state.path}`" in crl
    assert out.splitlines()[-1] == "2 items need action within 7 days"

    code, out, _ = run(capsys, "ca", "status", "--within", "1", "--state-dir", state.path)
    assert code == 0
    assert out.splitlines()[-1] == "nothing needs action within 1 days"


def test_status_json(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    ok(capsys, "ca", "issue", "client", "soon", "--days", "2", "--state-dir", state.path)
    code, out, _ = run(capsys, "ca", "status", "--json", "--state-dir", state.path)
    assert code == 1
    data = json.loads(out)
    report = lifecycle.StatusReport.from_json(data)
    assert report.needs_action and data["needs_action"] is True
    assert data["window_days"] == 7
    soon = next(item for item in data["items"] if item["name"] == "soon")
    assert soon["kind"] == "client"
    assert 0 < soon["seconds_left"] <= 2 * 86400
    assert soon["action"].startswith("expires within 7 days: run `dockward ca renew soon")


def test_status_reports_a_loose_key(capsys: pytest.CaptureFixture[str], state: StateDir) -> None:
    os.chmod(state.ca_key, 0o644)
    code, out, _ = run(capsys, "ca", "status", "--state-dir", state.path)
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("key"))
    assert line.endswith(
        f"private key {state.ca_key} is accessible by group or others (mode 0644): "
        f"run `chmod 600 {state.ca_key}`"
    )
