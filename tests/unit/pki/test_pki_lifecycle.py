"""Tests of dockward.pki.lifecycle: issue, revoke, renew, rotate, retire, list and status."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from cryptography import x509

from dockward.pki import lifecycle
from dockward.pki.ca import (
    CertificateAuthority,
    ExpiredCAError,
    LifetimeError,
    PKIError,
    WrongPassphraseError,
)
from dockward.pki.crl import load_revocation_list
from dockward.pki.index import CertKind, CertStatus, IndexEntry
from dockward.pki.state import StateDir

NAMES = ["localhost", "127.0.0.1"]


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    state = StateDir(tmp_path / "state")
    state.bootstrap(NAMES)
    return state


def entries(state: StateDir) -> list[IndexEntry]:
    with state.open_index() as index:
        return index.entries()


def statuses(state: StateDir, name: str) -> list[str]:
    with state.open_index() as index:
        return [entry.status.value for entry in index.named(name)]


def revoked_serials(state: StateDir) -> set[int]:
    return set(load_revocation_list(state.crl_path, state.ca_bundle).revoked)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


# -- issue -------------------------------------------------------------------------------------


def test_issue_client_records_role_and_writes_the_bundle(state: StateDir) -> None:
    done = lifecycle.issue_client(state, "ci-runner", role="ci", hours=12, host="gw.example")
    assert done.location == state.client_dir("ci-runner")
    assert done.entry.role == "ci"
    assert done.entry.lifetime == dt.timedelta(hours=12, minutes=5)
    assert sorted(p.name for p in done.location.iterdir()) == [
        "ca.pem",
        "cert.pem",
        "env",
        "key.pem",
    ]
    assert (done.location / "env").read_text().splitlines()[2:] == [
        "DOCKER_HOST=tcp://gw.example:2376",
        "DOCKER_TLS_VERIFY=1",
        f"DOCKER_CERT_PATH={done.location}",
    ]
    with state.open_index() as index:
        current = index.current(CertKind.CLIENT, "ci-runner")
    assert current == done.entry


@pytest.mark.parametrize("role", ["", "has space", "-dash", "x" * 65])
def test_issue_client_refuses_a_bad_role(state: StateDir, role: str) -> None:
    with pytest.raises(PKIError) as caught:
        lifecycle.issue_client(state, "alice", role=role)
    assert str(caught.value) == (
        f"invalid role {role!r}: use 1 to 64 of A-Z a-z 0-9 . _ - and start with a letter or digit"
    )


def test_lifetimes_default_and_add_up(state: StateDir) -> None:
    server = lifecycle.issue_server(state, ["localhost"])
    assert server.entry.lifetime == dt.timedelta(days=90, minutes=5)
    client = lifecycle.issue_client(state, "alice", days=1, hours=6)
    assert client.entry.lifetime == dt.timedelta(days=1, hours=6, minutes=5)
    with pytest.raises(LifetimeError) as caught:
        lifecycle.issue_client(state, "alice", days=0, hours=0)
    assert str(caught.value) == "a lifetime must be at least 1 hour (got 0 days and 0 hours)"


def test_a_leaf_that_would_outlive_the_ca_is_refused(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    ca = state.create_ca(days=10)
    with pytest.raises(LifetimeError) as caught:
        lifecycle.issue_client(state, "alice", days=10, hours=1)
    assert str(caught.value).startswith("a 10-day 1-hour certificate would expire on ")
    assert str(caught.value).endswith(
        f"after the CA itself ({ca.not_after:%Y-%m-%d %H:%M:%S} UTC); choose fewer days or "
        "rotate the CA"
    )


# -- revoke ------------------------------------------------------------------------------------


def test_revoke_by_name_revokes_every_live_certificate_of_it(state: StateDir) -> None:
    first = lifecycle.issue_client(state, "alice")
    second = lifecycle.issue_client(state, "alice")
    bob = lifecycle.issue_client(state, "bob")
    done = lifecycle.revoke(state, "alice", reason=x509.ReasonFlags.key_compromise)
    assert [e.serial for e in done.entries] == [first.entry.serial, second.entry.serial]
    assert all(e.revocation_reason is x509.ReasonFlags.key_compromise for e in done.entries)
    assert done.crl.revoked == {first.entry.serial, second.entry.serial}
    assert revoked_serials(state) == done.crl.revoked
    assert statuses(state, "bob") == ["valid"]
    assert bob.entry.serial not in done.crl.revoked


def test_revoke_by_serial_prefix_revokes_only_that_one(state: StateDir) -> None:
    first = lifecycle.issue_client(state, "alice")
    lifecycle.issue_client(state, "alice")
    done = lifecycle.revoke(state, first.entry.serial_hex[:10])
    assert [e.serial for e in done.entries] == [first.entry.serial]
    assert statuses(state, "alice") == ["revoked", "valid"]


def test_revoking_twice_says_when(state: StateDir) -> None:
    lifecycle.issue_client(state, "alice")
    done = lifecycle.revoke(state, "alice")
    with pytest.raises(lifecycle.AlreadyRevokedError) as caught:
        lifecycle.revoke(state, "alice")
    (entry,) = done.entries
    assert entry.revoked_at is not None
    assert str(caught.value) == (
        f"client alice is already revoked (serial {entry.serial_hex}, "
        f"on {entry.revoked_at:%Y-%m-%d %H:%M} UTC)"
    )


def test_revoke_refuses_unknown_ambiguous_and_ca(state: StateDir) -> None:
    with pytest.raises(lifecycle.UnknownCertificateError) as unknown:
        lifecycle.revoke(state, "nobody")
    assert str(unknown.value) == (
        f"no certificate named or with serial 'nobody' in {state.path} "
        f"(see `dockward ca list --state-dir {state.path}`)"
    )
    lifecycle.issue_client(state, "localhost")  # same name as the server certificate
    with pytest.raises(lifecycle.AmbiguousReferenceError) as ambiguous:
        lifecycle.revoke(state, "localhost")
    assert str(ambiguous.value) == (
        "'localhost' names a client and a server certificate: give the serial "
        f"(see `dockward ca list --state-dir {state.path}`)"
    )
    ca = state.load_ca()
    with pytest.raises(PKIError) as refused:
        lifecycle.revoke(state, f"{ca.serial:040x}")
    assert str(refused.value) == (
        f"{ca.serial:040x} is the certificate of a CA, which is not revoked but replaced: "
        f"run `dockward ca rotate --state-dir {state.path}`"
    )


def test_a_failed_crl_write_leaves_the_index_unchanged(
    state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifecycle.issue_client(state, "alice")

    def fail(*args: object, **kwargs: object) -> None:
        raise PKIError("cannot write the CRL: disk full")

    monkeypatch.setattr(StateDir, "write_crl", fail)
    with pytest.raises(PKIError, match="disk full"):
        lifecycle.revoke(state, "alice")
    assert statuses(state, "alice") == ["valid"]


def test_expired_revoked_certificates_leave_the_crl(state: StateDir) -> None:
    done = lifecycle.issue_client(state, "alice", hours=1)
    lifecycle.revoke(state, "alice")
    later = now() + dt.timedelta(hours=2)
    crl = lifecycle.refresh_crl(state, now=later)
    assert done.entry.serial not in crl.revoked


def test_refresh_crl_sets_next_update(state: StateDir) -> None:
    crl = lifecycle.refresh_crl(state, days=3)
    assert crl.next_update - crl.this_update == dt.timedelta(days=3, minutes=5)


# -- renew -------------------------------------------------------------------------------------


def test_renew_keeps_identity_role_and_lifetime(state: StateDir) -> None:
    old = lifecycle.issue_client(state, "alice", role="ci", hours=36, host="gw.example:12376")
    done = lifecycle.renew(state, "alice")
    new = done.new.entry
    assert (new.name, new.role, new.lifetime) == ("alice", "ci", old.entry.lifetime)
    assert new.serial != old.entry.serial
    assert done.old.status is CertStatus.SUPERSEDED
    assert done.crl is None
    assert "DOCKER_HOST=tcp://gw.example:12376" in (done.new.location / "env").read_text()
    assert statuses(state, "alice") == ["superseded", "valid"]


def test_renew_with_revoke_old(state: StateDir) -> None:
    old = lifecycle.issue_client(state, "alice")
    done = lifecycle.renew(state, "alice", revoke_old=True, days=2)
    assert done.new.entry.lifetime == dt.timedelta(days=2, minutes=5)
    assert done.old.serial == old.entry.serial
    assert done.old.status is CertStatus.REVOKED
    assert done.old.revocation_reason is x509.ReasonFlags.superseded
    assert done.crl is not None and old.entry.serial in done.crl.revoked
    assert statuses(state, "alice") == ["revoked", "valid"]


def test_renew_with_revoke_old_revokes_only_the_renewed_certificate(state: StateDir) -> None:
    first = lifecycle.issue_client(state, "alice")
    second = lifecycle.issue_client(state, "alice")
    done = lifecycle.renew(state, "alice", revoke_old=True)
    assert done.old.serial == second.entry.serial
    assert statuses(state, "alice") == ["superseded", "revoked", "valid"]
    assert done.crl is not None
    assert second.entry.serial in done.crl.revoked
    assert first.entry.serial not in done.crl.revoked
    assert revoked_serials(state) == {second.entry.serial}


def test_renew_by_serial_with_revoke_old_revokes_that_serial(state: StateDir) -> None:
    first = lifecycle.issue_client(state, "alice")
    second = lifecycle.issue_client(state, "alice")
    done = lifecycle.renew(state, first.entry.serial_hex, revoke_old=True)
    assert done.old.serial == first.entry.serial
    # The renewal is the identity's new current certificate, so the second is superseded.
    assert statuses(state, "alice") == ["revoked", "superseded", "valid"]
    assert revoked_serials(state) == {first.entry.serial}
    assert second.entry.serial != done.new.entry.serial


def test_renew_picks_the_current_certificate_issued_in_the_same_second(state: StateDir) -> None:
    moment = now()
    lifecycle.issue_client(state, "alice", now=moment)
    second = lifecycle.issue_client(state, "alice", now=moment)
    done = lifecycle.renew(state, "alice", revoke_old=True, now=moment)
    assert done.old.serial == second.entry.serial
    assert revoked_serials(state) == {second.entry.serial}


def test_renew_the_server_certificate_keeps_its_names(state: StateDir) -> None:
    before = state.server_cert.read_bytes()
    done = lifecycle.renew(state, "localhost")
    assert done.new.entry.sans == ("localhost", "127.0.0.1")
    assert done.new.location == state.server_cert
    assert state.server_cert.read_bytes() != before
    assert done.new.entry.lifetime == dt.timedelta(days=90, minutes=5)


def test_a_revoked_certificate_is_not_renewed(state: StateDir) -> None:
    lifecycle.issue_client(state, "alice", role="ci")
    lifecycle.revoke(state, "alice")
    with pytest.raises(PKIError) as caught:
        lifecycle.renew(state, "alice")
    assert str(caught.value) == (
        "client alice is revoked: it is not renewed; issue a new one with "
        f"`dockward ca issue client alice --role ROLE --state-dir {state.path}`"
    )


def test_renew_refuses_the_ca(state: StateDir) -> None:
    with pytest.raises(PKIError, match="which is not renewed but replaced"):
        lifecycle.renew(state, "dockward CA")


def test_a_wrong_passphrase_changes_nothing(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.bootstrap(NAMES, passphrase=b"right")
    before = entries(state)
    with pytest.raises(WrongPassphraseError):
        lifecycle.renew(state, "admin", passphrase=b"wrong")
    assert entries(state) == before


# -- rotation ----------------------------------------------------------------------------------


def test_rotate_keeps_the_old_ca_trusted_and_reissues_clients(state: StateDir) -> None:
    old_ca = state.load_ca()
    server_before = state.server_cert.read_bytes()
    alice = lifecycle.issue_client(state, "alice", role="ci", hours=48)
    revoked = lifecycle.issue_client(state, "mallory")
    lifecycle.revoke(state, "mallory")
    done = lifecycle.rotate(state)

    new_ca = state.load_ca()
    assert done.overlap
    assert done.new_ca.name == "dockward CA 2" and done.new_ca.serial == new_ca.serial
    assert done.old_ca.serial == old_ca.serial
    assert done.old_ca.status is CertStatus.SUPERSEDED
    assert sorted(i.entry.name for i in done.reissued) == ["admin", "alice"]
    reissued_alice = next(i for i in done.reissued if i.entry.name == "alice")
    assert reissued_alice.entry.role == "ci"
    assert reissued_alice.entry.lifetime == alice.entry.lifetime
    reissued_alice.issued.cert.verify_directly_issued_by(new_ca.cert)

    trust = new_ca.cert_pem() + old_ca.cert_pem()
    assert state.ca_bundle.read_bytes() == trust
    assert (state.client_dir("alice") / "ca.pem").read_bytes() == trust
    assert state.old_ca_cert.read_bytes() == old_ca.cert_pem()
    assert state.server_cert.read_bytes() == server_before  # old clients still trust it
    crl = load_revocation_list(state.crl_path, state.ca_bundle)
    assert crl.revoked == {revoked.entry.serial}  # the old CA's CRL is still signed
    assert statuses(state, "alice") == ["superseded", "valid"]


def test_rotate_twice_is_refused(state: StateDir) -> None:
    lifecycle.rotate(state)
    with pytest.raises(lifecycle.RotationError) as caught:
        lifecycle.rotate(state)
    assert str(caught.value) == (
        f"a CA rotation is already in progress (the previous CA is in {state.old_ca_dir}): "
        f"finish it with `dockward ca retire-old --state-dir {state.path}` first"
    )


def test_rotate_an_encrypted_ca_keeps_the_passphrase(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.bootstrap(NAMES, passphrase=b"pw")
    lifecycle.rotate(state, passphrase=b"pw")
    assert state.ca_key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert state.old_ca_key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    authorities = state.load_authorities(b"pw")
    assert authorities.old is not None
    lifecycle.revoke(state, "admin", passphrase=b"pw")


def test_revoke_during_rotation_lands_in_the_right_crl(state: StateDir) -> None:
    old = lifecycle.issue_client(state, "alice")
    lifecycle.rotate(state)
    done = lifecycle.revoke(state, old.entry.serial_hex)
    assert done.crl.revoked == {old.entry.serial}
    assert statuses(state, "alice") == ["revoked", "valid"]


def test_retire_old_moves_the_server_and_drops_the_old_ca(state: StateDir) -> None:
    lifecycle.issue_client(state, "alice")
    lifecycle.rotate(state)
    late = lifecycle.issue_client(state, "bob")  # under the new CA
    new_ca = state.load_ca()
    done = lifecycle.retire_old(state)

    assert done.old_ca.status is CertStatus.RETIRED
    assert done.stranded == ()
    assert done.server is not None
    done.server.issued.cert.verify_directly_issued_by(new_ca.cert)
    assert done.server.entry.sans == ("localhost", "127.0.0.1")
    assert not state.rotating() and not state.old_ca_dir.exists()
    assert state.ca_bundle.read_bytes() == new_ca.cert_pem()
    assert (state.client_dir("alice") / "ca.pem").read_bytes() == new_ca.cert_pem()
    assert load_revocation_list(state.crl_path, state.ca_bundle).revoked == set()
    assert statuses(state, "alice") == ["retired", "valid"]
    assert statuses(state, "bob") == ["valid"]
    assert late.entry.status is CertStatus.VALID


def test_retire_old_lists_clients_that_were_not_reissued(state: StateDir) -> None:
    lifecycle.rotate(state)
    # A certificate of the old CA that rotate did not replace, e.g. restored from a backup.
    authorities = state.load_authorities()
    assert authorities.old is not None
    stray = authorities.old.issue_client("stray")
    with state.open_index() as index:
        index.record(stray.cert, CertKind.CLIENT, issuer_serial=authorities.old.serial)
    done = lifecycle.retire_old(state)
    assert [e.name for e in done.stranded] == ["stray"]


def test_every_bundle_and_crl_pair_on_disk_during_a_rotation_verifies(
    state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A gateway reloads whenever a file changes: whatever pair it reads must verify, or it
    # refuses every client until the next change.
    lifecycle.issue_client(state, "alice")
    real_replace = os.replace
    checked: list[str] = []

    def replace(src: str, dst: str) -> None:
        real_replace(src, dst)
        if Path(dst) in (state.ca_bundle, state.crl_path):
            load_revocation_list(state.crl_path, state.ca_bundle)
            checked.append(Path(dst).name)

    monkeypatch.setattr(os, "replace", replace)
    lifecycle.rotate(state)
    assert checked == ["crl.pem", "bundle.pem"]  # a CA joins the bundle after its CRL
    checked.clear()
    lifecycle.revoke(state, "alice")
    lifecycle.refresh_crl(state)
    lifecycle.retire_old(state)
    assert checked[-2:] == ["bundle.pem", "crl.pem"]  # and leaves it before its CRL


def test_retire_old_without_a_rotation(state: StateDir) -> None:
    with pytest.raises(lifecycle.RotationError) as caught:
        lifecycle.retire_old(state)
    assert str(caught.value) == (
        f"no CA rotation in progress ({state.old_ca_dir} does not exist): nothing to retire"
    )


def test_rotating_an_expired_ca_retires_it_at_once(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    past = now() - dt.timedelta(days=20)
    state.create_ca(days=10, now=past)
    lifecycle_past = past + dt.timedelta(hours=1)
    ca = state.load_ca(allow_expired=True)
    issued = ca.issue_client("alice", days=5, now=lifecycle_past)
    with state.open_index() as index:
        index.record(issued.cert, CertKind.CLIENT, issuer_serial=ca.serial, role="ci")
    with pytest.raises(ExpiredCAError) as caught:
        lifecycle.issue_client(state, "bob")
    assert str(caught.value) == (
        f"the CA certificate {state.ca_cert} expired on "
        f"{ca.not_after:%Y-%m-%d %H:%M:%S} UTC: run `dockward ca rotate --state-dir "
        f"{state.path}` to make a new CA and reissue the certificates"
    )

    done = lifecycle.rotate(state)
    assert not done.overlap
    assert not state.rotating()
    assert done.old_ca.status is CertStatus.RETIRED
    assert [i.entry.name for i in done.reissued] == ["alice"]
    assert done.reissued[0].entry.role == "ci"
    assert state.ca_bundle.read_bytes() == state.load_ca().cert_pem()
    lifecycle.issue_client(state, "bob")


def test_ca_names_stay_distinct_across_rotations(state: StateDir) -> None:
    names = []
    for _ in range(3):
        names.append(lifecycle.rotate(state).new_ca.name)
        lifecycle.retire_old(state)
    assert names == ["dockward CA 2", "dockward CA 3", "dockward CA 4"]


# -- list --------------------------------------------------------------------------------------


def test_list_hides_history_unless_asked(state: StateDir) -> None:
    lifecycle.issue_client(state, "short", hours=1)
    lifecycle.issue_client(state, "gone", hours=1)
    lifecycle.revoke(state, "gone")
    lifecycle.issue_client(state, "gone", hours=1)
    later = now() + dt.timedelta(hours=2)
    shown = [(r.entry.name, r.shown_status) for r in lifecycle.list_certificates(state, now=later)]
    assert shown == [
        ("dockward CA", "valid"),
        ("localhost", "valid"),
        ("admin", "valid"),
        ("gone", "expired"),
        ("short", "expired"),
    ]
    every = lifecycle.list_certificates(state, include_all=True, now=later)
    assert [(r.entry.name, r.shown_status) for r in every if r.entry.name == "gone"] == [
        ("gone", "revoked"),
        ("gone", "expired"),
    ]


def test_list_flags_under_a_fifth_of_the_lifetime(state: StateDir) -> None:
    lifecycle.issue_client(state, "alice", days=10)
    at_85 = now() + dt.timedelta(days=8, hours=12)
    rows = {r.entry.name: r for r in lifecycle.list_certificates(state, now=at_85)}
    assert rows["alice"].attention
    assert not rows["admin"].attention  # 30 days, 8.5 in
    assert 0 < rows["alice"].seconds_left < 2 * 86400


def test_listed_certificate_json_round_trips(state: StateDir) -> None:
    for row in lifecycle.list_certificates(state):
        data = json.loads(json.dumps(row.to_json()))
        assert lifecycle.ListedCertificate.from_json(data) == row


# -- status ------------------------------------------------------------------------------------


def test_status_of_a_fresh_state_needs_nothing(state: StateDir) -> None:
    report = lifecycle.status(state)
    assert not report.needs_action
    assert [(i.kind, i.name) for i in report.items] == [
        ("ca", "dockward CA"),
        ("server", "localhost"),
        ("client", "admin"),
        ("crl", "crl.pem"),
    ]
    crl = report.items[-1]
    assert crl.detail.endswith(", 5m ago, 0 revoked")


def test_status_flags_what_expires_within_the_window(state: StateDir) -> None:
    lifecycle.issue_client(state, "soon", days=3)
    report = lifecycle.status(state)
    assert report.needs_action
    (item,) = [i for i in report.items if i.action]
    assert item.name == "soon"
    assert item.action == (
        f"expires within 7 days: run `dockward ca renew soon --state-dir {state.path}`"
    )
    assert not lifecycle.status(state, window=dt.timedelta(days=2)).needs_action
    later = lifecycle.status(state, now=now() + dt.timedelta(days=4))
    assert [i.action for i in later.items if i.name == "soon"] == [
        f"expired: run `dockward ca renew soon --state-dir {state.path}`"
    ]


def test_status_ignores_superseded_and_revoked(state: StateDir) -> None:
    lifecycle.issue_client(state, "soon", days=3)
    lifecycle.renew(state, "soon", days=30)
    lifecycle.issue_client(state, "bad", days=3)
    lifecycle.revoke(state, "bad")
    assert not lifecycle.status(state).needs_action


def test_status_flags_the_crl(state: StateDir) -> None:
    lifecycle.refresh_crl(state, days=5)
    report = lifecycle.status(state)
    assert [i.action for i in report.items if i.kind == "crl"] == [
        f"next update within 7 days: run `dockward ca crl --state-dir {state.path}`"
    ]
    state.crl_path.unlink()
    report = lifecycle.status(state)
    assert [i.action for i in report.items if i.kind == "crl"] == [
        f"no CRL at {state.crl_path}: run `dockward ca crl --state-dir {state.path}` to write one"
    ]


def test_status_flags_loose_key_permissions(state: StateDir) -> None:
    os.chmod(state.server_key, 0o640)
    report = lifecycle.status(state)
    assert [(i.kind, i.name, i.action) for i in report.items if i.action] == [
        (
            "key",
            "server/key.pem",
            f"private key {state.server_key} is accessible by group or others (mode 0640): "
            f"run `chmod 600 {state.server_key}`",
        )
    ]


def test_status_during_a_rotation(state: StateDir) -> None:
    lifecycle.rotate(state)
    kinds = [(i.kind, i.name, i.detail) for i in lifecycle.status(state).items[:2]]
    assert kinds == [
        ("ca", "dockward CA 2", ""),
        ("old-ca", "dockward CA", "rotation in progress"),
    ]


def test_status_json_round_trips(state: StateDir) -> None:
    lifecycle.issue_client(state, "soon", days=3)
    report = lifecycle.status(state)
    data = json.loads(json.dumps(report.to_json()))
    assert data["needs_action"] is True
    assert lifecycle.StatusReport.from_json(data) == report


def test_status_works_without_the_passphrase(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.bootstrap(NAMES, passphrase=b"pw")
    assert not lifecycle.status(state).needs_action
    assert len(lifecycle.list_certificates(state)) == 3


def test_status_of_an_expired_ca(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    CertificateAuthority.create(days=1, now=now() - dt.timedelta(days=3)).write(
        state.ca_cert, state.ca_key
    )
    report = lifecycle.status(state)
    assert report.items[0].action == (f"expired: run `dockward ca rotate --state-dir {state.path}`")
