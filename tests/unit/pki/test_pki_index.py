"""Tests of dockward.pki.index: the SQLite index of issued certificates."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from dockward.pki.ca import CertificateAuthority
from dockward.pki.index import (
    CertificateIndex,
    CertificateIndexError,
    CertKind,
    CertStatus,
    IndexEntry,
    format_serial,
    spki_sha256,
)

NOW = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create(days=365, now=NOW)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[CertificateIndex]:
    with CertificateIndex.open(tmp_path / "ca" / "index.sqlite3") as opened:
        yield opened


def record_client(
    index: CertificateIndex, ca: CertificateAuthority, name: str, role: str | None = None
) -> IndexEntry:
    issued = ca.issue_client(name, now=NOW)
    return index.record(issued.cert, CertKind.CLIENT, issuer_serial=ca.serial, role=role, now=NOW)


def test_a_new_index_is_private_and_says_it_was_created(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ca" / "index.sqlite3"
    with CertificateIndex.open(path) as index:
        assert index.created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with CertificateIndex.open(path) as again:
        assert not again.created


def test_record_keeps_every_field(index: CertificateIndex, ca: CertificateAuthority) -> None:
    issued = ca.issue_server(["gw.example", "127.0.0.1"], days=7, now=NOW)
    entry = index.record(issued.cert, CertKind.SERVER, issuer_serial=ca.serial, now=NOW)
    assert entry == IndexEntry(
        serial=issued.serial,
        kind=CertKind.SERVER,
        name="gw.example",
        role=None,
        sans=("gw.example", "127.0.0.1"),
        not_before=NOW - dt.timedelta(minutes=5),
        not_after=NOW + dt.timedelta(days=7),
        spki_sha256=spki_sha256(issued.cert),
        issuer_serial=ca.serial,
        status=CertStatus.VALID,
        issued_at=NOW,
    )
    stored = index.get(issued.serial)
    assert stored == entry
    assert stored is not None
    assert stored.certificate() == issued.cert
    assert len(entry.spki_sha256) == 64


def test_serials_of_159_bits_survive_the_round_trip(
    index: CertificateIndex, ca: CertificateAuthority
) -> None:
    # SQLite integers are 64-bit: the serial is stored as fixed-width hex.
    entries = [record_client(index, ca, f"c{i}") for i in range(10)]
    assert max(entry.serial for entry in entries) > 2**64
    for entry in entries:
        stored = index.get(entry.serial)
        assert stored is not None and stored.serial == entry.serial
    assert format_serial(255) == "0" * 38 + "ff"


def test_a_new_certificate_supersedes_the_identity_only(
    index: CertificateIndex, ca: CertificateAuthority
) -> None:
    first = record_client(index, ca, "alice", "ci")
    bob = record_client(index, ca, "bob")
    second = record_client(index, ca, "alice", "ci")
    statuses = {entry.serial: entry.status for entry in index.entries()}
    assert statuses == {
        first.serial: CertStatus.SUPERSEDED,
        bob.serial: CertStatus.VALID,
        second.serial: CertStatus.VALID,
    }
    current = index.current(CertKind.CLIENT, "alice")
    assert current is not None and current.serial == second.serial
    assert current.role == "ci"


def test_a_server_certificate_supersedes_every_server_certificate(
    index: CertificateIndex, ca: CertificateAuthority
) -> None:
    old = ca.issue_server(["old.example"], now=NOW)
    new = ca.issue_server(["new.example"], now=NOW)
    index.record(old.cert, CertKind.SERVER, issuer_serial=ca.serial)
    index.record(new.cert, CertKind.SERVER, issuer_serial=ca.serial)
    assert [e.status for e in index.entries(CertKind.SERVER)] == [
        CertStatus.VALID,  # new.example sorts first by name
        CertStatus.SUPERSEDED,
    ]


def test_recording_a_serial_twice_changes_nothing(
    index: CertificateIndex, ca: CertificateAuthority
) -> None:
    issued = ca.issue_client("alice", now=NOW)
    index.record(issued.cert, CertKind.CLIENT, issuer_serial=ca.serial, role="a")
    index.record(issued.cert, CertKind.CLIENT, issuer_serial=ca.serial, role="b")
    (entry,) = index.entries()
    assert (entry.role, entry.status) == ("a", CertStatus.VALID)


def test_entries_are_ordered_ca_server_clients(
    index: CertificateIndex, ca: CertificateAuthority
) -> None:
    record_client(index, ca, "zed")
    record_client(index, ca, "amy")
    server = ca.issue_server(["localhost"], now=NOW)
    index.record(server.cert, CertKind.SERVER, issuer_serial=ca.serial)
    index.record(ca.cert, CertKind.CA, issuer_serial=ca.serial)
    assert [(e.kind.value, e.name) for e in index.entries()] == [
        ("ca", "dockward CA"),
        ("server", "localhost"),
        ("client", "amy"),
        ("client", "zed"),
    ]


def test_find_by_name_serial_prefix_and_decimal(
    index: CertificateIndex, ca: CertificateAuthority
) -> None:
    alice = record_client(index, ca, "alice")
    hex40 = alice.serial_hex
    assert index.find("alice").by == "name"
    for reference in (
        hex40,
        hex40.upper(),
        "0x" + hex40,
        ":".join(hex40[i : i + 2] for i in range(0, 40, 2)),
        hex40[:8],
        format(alice.serial, "x"),  # without leading zeros
        str(alice.serial),  # decimal, as an access log writes it
    ):
        lookup = index.find(reference)
        assert (lookup.by, [e.serial for e in lookup.entries]) == ("serial", [alice.serial])
    assert index.find(hex40[:7]).entries == ()  # too short to be a prefix
    assert index.find("nobody").entries == ()
    assert index.find("zz-not-hex").entries == ()


def test_a_name_wins_over_a_serial_prefix(
    index: CertificateIndex, ca: CertificateAuthority
) -> None:
    alice = record_client(index, ca, "alice")
    named = record_client(index, ca, alice.serial_hex[:8])
    lookup = index.find(alice.serial_hex[:8])
    assert (lookup.by, [e.serial for e in lookup.entries]) == ("name", [named.serial])


def test_revoke_retire_and_issued_by(index: CertificateIndex, ca: CertificateAuthority) -> None:
    index.record(ca.cert, CertKind.CA, issuer_serial=ca.serial)
    alice = record_client(index, ca, "alice")
    bob = record_client(index, ca, "bob")
    index.revoke([alice.serial], x509.ReasonFlags.key_compromise, NOW)
    revoked = index.get(alice.serial)
    assert revoked is not None
    assert (revoked.status, revoked.revoked_at, revoked.revocation_reason) == (
        CertStatus.REVOKED,
        NOW,
        x509.ReasonFlags.key_compromise,
    )
    assert [e.name for e in index.issued_by(ca.serial)] == ["alice", "bob"]

    index.retire(ca.serial)
    statuses = {e.name: e.status for e in index.entries()}
    # A revoked certificate stays revoked: the CRL history must not change.
    assert statuses == {
        "dockward CA": CertStatus.RETIRED,
        "alice": CertStatus.REVOKED,
        "bob": CertStatus.RETIRED,
    }
    assert bob.in_force(NOW)
    retired = index.get(bob.serial)
    assert retired is not None and not retired.in_force(NOW)


def test_crl_numbers_increase_per_ca(index: CertificateIndex) -> None:
    assert [index.next_crl_number(1) for _ in range(3)] == [1, 2, 3]
    assert index.next_crl_number(2) == 1


def test_a_failed_transaction_leaves_nothing(
    index: CertificateIndex, ca: CertificateAuthority
) -> None:
    with pytest.raises(RuntimeError), index.transaction():
        record_client(index, ca, "alice")
        raise RuntimeError("the bundle could not be written")
    assert index.entries() == []


def test_time_left_and_fraction(ca: CertificateAuthority, index: CertificateIndex) -> None:
    entry = record_client(index, ca, "alice")  # 30 days from NOW, backdated 5 minutes
    later = NOW + dt.timedelta(days=27)
    assert entry.time_left(later) == dt.timedelta(days=3)
    assert 0.09 < entry.fraction_left(later) < 0.11
    assert entry.fraction_left(NOW + dt.timedelta(days=40)) == 0.0
    assert entry.expired(NOW + dt.timedelta(days=30))
    assert not entry.in_force(NOW + dt.timedelta(days=30))


def test_json_projection_round_trips(index: CertificateIndex, ca: CertificateAuthority) -> None:
    alice = record_client(index, ca, "alice", "ci")
    index.revoke([alice.serial], x509.ReasonFlags.superseded, NOW)
    for entry in [*index.entries(), record_client(index, ca, "bob")]:
        data = entry.to_json()
        assert IndexEntry.from_json(data) == entry
    revoked = index.get(alice.serial)
    assert revoked is not None
    assert revoked.to_json() == {
        "serial": alice.serial_hex,
        "kind": "client",
        "name": "alice",
        "role": "ci",
        "sans": ["dockward:client:alice"],
        "not_before": "2030-01-01T11:55:00+00:00",
        "not_after": "2030-01-31T12:00:00+00:00",
        "spki_sha256": alice.spki_sha256,
        "issuer_serial": format_serial(ca.serial),
        "status": "revoked",
        "issued_at": "2030-01-01T12:00:00+00:00",
        "revoked_at": "2030-01-01T12:00:00+00:00",
        "revocation_reason": "superseded",
    }


def test_an_index_from_a_newer_dockward_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(CertificateIndexError) as caught:
        CertificateIndex.open(path)
    assert str(caught.value) == (
        f"certificate index {path} has schema 99, newer than this dockward understands (1): "
        "upgrade dockward"
    )


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    path.write_bytes(b"this is not sqlite, just text that is long enough" * 20)
    with pytest.raises(CertificateIndexError) as caught:
        CertificateIndex.open(path)
    assert str(caught.value) == (f"cannot read certificate index {path}: file is not a database")
