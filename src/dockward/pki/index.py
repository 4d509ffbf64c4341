"""The issued-certificate index: every certificate the CA has signed, in one SQLite table.

One row per certificate: its serial (an integer; stored as 40 hex digits because a 159-bit
serial does not fit SQLite's 64-bit INTEGER), kind, name, role, SANs, validity, SPKI SHA-256,
the serial of the CA that signed it, and its status (valid, superseded by a newer certificate for
the same identity, revoked with a reason and a time, or retired with the CA that signed it).

This module owns the schema and the queries. It signs nothing and writes no PEM file; the
operations that combine certificates, files and the index are ``dockward.pki.lifecycle``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dockward.pki.ca import (
    FileWriteError,
    PKIError,
    common_name,
    ensure_private_dir,
    os_error_reason,
)

__all__ = [
    "SCHEMA_VERSION",
    "CertKind",
    "CertStatus",
    "CertificateIndex",
    "CertificateIndexError",
    "IndexEntry",
    "Lookup",
    "format_serial",
    "spki_sha256",
]

SCHEMA_VERSION = 1
SERIAL_WIDTH = 40  # RFC 5280 allows 20 octets
# A serial prefix shorter than this is too likely to be a name or a typo.
MIN_SERIAL_PREFIX = 8
_HEX = re.compile(r"[0-9a-f]+")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('ca', 'server', 'client')),
    name TEXT NOT NULL,
    role TEXT,
    sans TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    spki_sha256 TEXT NOT NULL,
    issuer_serial TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('valid', 'superseded', 'revoked', 'retired')),
    issued_at TEXT NOT NULL,
    revoked_at TEXT,
    revocation_reason TEXT,
    cert_pem TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_by_name ON certificates (kind, name);
CREATE INDEX IF NOT EXISTS certificates_by_issuer ON certificates (issuer_serial, status);
CREATE TABLE IF NOT EXISTS crl_numbers (
    issuer_serial TEXT PRIMARY KEY,
    last_number INTEGER NOT NULL
);
"""
_COLUMNS = (
    "serial, kind, name, role, sans, not_before, not_after, spki_sha256, issuer_serial, "
    "status, issued_at, revoked_at, revocation_reason, cert_pem"
)


class CertificateIndexError(PKIError):
    """The index cannot be opened, read or written."""


class CertKind(enum.StrEnum):
    """What a certificate is for."""

    CA = "ca"
    SERVER = "server"
    CLIENT = "client"


class CertStatus(enum.StrEnum):
    """Where a certificate stands; expiry is not a status but a comparison with the clock."""

    VALID = "valid"
    SUPERSEDED = "superseded"  # a newer one exists for the same identity; this one still works
    REVOKED = "revoked"
    RETIRED = "retired"  # its CA was retired: nothing trusts it any more


def format_serial(serial: int) -> str:
    """A serial as fixed-width lowercase hex, the form the index stores and ``ca list`` shows."""
    return f"{serial:0{SERIAL_WIDTH}x}"


def spki_sha256(cert: x509.Certificate) -> str:
    """The SHA-256 of the certificate's SubjectPublicKeyInfo, in hex (an SPKI pin)."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def _san_values(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(str(entry.value) for entry in san)


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC)


@dataclass(frozen=True)
class IndexEntry:
    """One certificate in the index. ``cert_pem`` is not part of the JSON projection."""

    serial: int
    kind: CertKind
    name: str
    role: str | None
    sans: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    spki_sha256: str
    issuer_serial: int
    status: CertStatus
    issued_at: dt.datetime
    revoked_at: dt.datetime | None = None
    revocation_reason: x509.ReasonFlags | None = None
    cert_pem: bytes = field(default=b"", repr=False, compare=False)

    @property
    def serial_hex(self) -> str:
        """The serial as 40 hex digits."""
        return format_serial(self.serial)

    @property
    def label(self) -> str:
        """``CA``, ``server NAME`` or ``client NAME``: how messages name the certificate."""
        return "CA" if self.kind is CertKind.CA else f"{self.kind.value} {self.name}"

    @property
    def lifetime(self) -> dt.timedelta:
        """From not-before to not-after."""
        return self.not_after - self.not_before

    def time_left(self, now: dt.datetime) -> dt.timedelta:
        """Until not-after (negative once expired)."""
        return self.not_after - now

    def fraction_left(self, now: dt.datetime) -> float:
        """The share of the lifetime still ahead, 0.0 once expired."""
        total = self.lifetime.total_seconds()
        if total <= 0:
            return 0.0
        return max(0.0, min(1.0, self.time_left(now).total_seconds() / total))

    def expired(self, now: dt.datetime) -> bool:
        """Whether not-after has passed."""
        return self.not_after <= now

    def in_force(self, now: dt.datetime) -> bool:
        """Whether a verifier that trusts its CA and reads its CRL would still accept it."""
        return self.status in (CertStatus.VALID, CertStatus.SUPERSEDED) and not self.expired(now)

    def certificate(self) -> x509.Certificate:
        """The certificate itself."""
        return x509.load_pem_x509_certificate(self.cert_pem)

    def to_json(self) -> dict[str, Any]:
        """The JSON projection (``ca list --json``): serials as hex strings, times ISO 8601."""
        return {
            "serial": self.serial_hex,
            "kind": self.kind.value,
            "name": self.name,
            "role": self.role,
            "sans": list(self.sans),
            "not_before": _time(self.not_before),
            "not_after": _time(self.not_after),
            "spki_sha256": self.spki_sha256,
            "issuer_serial": format_serial(self.issuer_serial),
            "status": self.status.value,
            "issued_at": _time(self.issued_at),
            "revoked_at": None if self.revoked_at is None else _time(self.revoked_at),
            "revocation_reason": (
                None if self.revocation_reason is None else self.revocation_reason.value
            ),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexEntry:
        """Read back what ``to_json`` wrote (extra keys are ignored)."""
        revoked_at = data.get("revoked_at")
        reason = data.get("revocation_reason")
        return cls(
            serial=int(data["serial"], 16),
            kind=CertKind(data["kind"]),
            name=data["name"],
            role=data["role"],
            sans=tuple(data["sans"]),
            not_before=_parse_time(data["not_before"]),
            not_after=_parse_time(data["not_after"]),
            spki_sha256=data["spki_sha256"],
            issuer_serial=int(data["issuer_serial"], 16),
            status=CertStatus(data["status"]),
            issued_at=_parse_time(data["issued_at"]),
            revoked_at=None if revoked_at is None else _parse_time(revoked_at),
            revocation_reason=None if reason is None else x509.ReasonFlags(reason),
        )


@dataclass(frozen=True)
class Lookup:
    """What a ``SERIAL|NAME`` reference matched: ``by`` is ``"name"`` or ``"serial"``."""

    by: str
    entries: tuple[IndexEntry, ...]


class CertificateIndex:
    """The index file, open. Use as a context manager; every write is one transaction."""

    def __init__(self, path: Path, connection: sqlite3.Connection, *, created: bool) -> None:
        self.path = path
        self.created = created  # the schema was made by this open: the index was empty
        self._db = connection

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> CertificateIndex:
        """Open (or create, 0600 in a 0700 directory) the index at ``path``."""
        index_path = Path(os.fspath(path))
        ensure_private_dir(index_path.parent)
        if not index_path.exists():
            # sqlite3 would create the file with the umask's mode; make it 0600 first.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            try:
                os.close(os.open(index_path, flags, 0o600))
            except FileExistsError:
                pass
            except OSError as err:
                raise FileWriteError(
                    f"cannot create certificate index {index_path}: {os_error_reason(err)}"
                ) from err
        try:
            connection = sqlite3.connect(index_path, timeout=10, isolation_level=None)
        except sqlite3.Error as err:
            raise CertificateIndexError(
                f"cannot open certificate index {index_path}: {err}"
            ) from err
        try:
            created = cls._prepare(index_path, connection)
        except BaseException:
            connection.close()
            raise
        return cls(index_path, connection, created=created)

    @staticmethod
    def _prepare(path: Path, db: sqlite3.Connection) -> bool:
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise CertificateIndexError(
                    f"certificate index {path} has schema {version}, newer than this dockward "
                    f"understands ({SCHEMA_VERSION}): upgrade dockward"
                )
            if version == SCHEMA_VERSION:
                return False
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return True
        except sqlite3.Error as err:
            raise CertificateIndexError(f"cannot read certificate index {path}: {err}") from err

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> CertificateIndex:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen together or not at all (nested use joins the outer one)."""
        if self._db.in_transaction:
            yield
            return
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with self._errors():
                self._db.execute("ROLLBACK")
            raise
        with self._errors():
            self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as err:
            # SQLite says "unable to open database file" when it cannot create its journal
            # beside the index; say what is actually wrong.
            if isinstance(err, sqlite3.OperationalError) and not _writable(self.path):
                raise CertificateIndexError(
                    f"cannot write certificate index {self.path}: permission denied"
                ) from err
            raise CertificateIndexError(f"certificate index {self.path}: {err}") from err

    # -- writing --------------------------------------------------------------------------------

    def record(
        self,
        cert: x509.Certificate,
        kind: CertKind,
        *,
        issuer_serial: int,
        role: str | None = None,
        name: str | None = None,
        now: dt.datetime | None = None,
        supersede: bool = True,
    ) -> IndexEntry:
        """Add a newly issued certificate; the identity's earlier valid ones become superseded.

        The identity is the kind and name for clients, the kind alone for the CA and the server
        (there is one server certificate and one issuing CA at a time). Recording a serial that
        is already there changes nothing.
        """
        sans = _san_values(cert)
        entry = IndexEntry(
            serial=cert.serial_number,
            kind=kind,
            name=name
            or common_name(cert)
            or (sans[0] if sans else format_serial(cert.serial_number)),
            role=role,
            sans=sans,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            spki_sha256=spki_sha256(cert),
            issuer_serial=issuer_serial,
            status=CertStatus.VALID,
            issued_at=now or dt.datetime.now(dt.UTC).replace(microsecond=0),
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        )
        with self.transaction(), self._errors():
            if self.get(entry.serial) is not None:
                return entry
            if supersede:
                same = "kind = ? AND status = 'valid'"
                params: tuple[str, ...] = (kind.value,)
                if kind is CertKind.CLIENT:
                    same += " AND name = ?"
                    params += (entry.name,)
                self._db.execute(
                    f"UPDATE certificates SET status = 'superseded' WHERE {same}", params
                )
            self._db.execute(
                f"INSERT INTO certificates ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                (
                    entry.serial_hex,
                    entry.kind.value,
                    entry.name,
                    entry.role,
                    json.dumps(list(entry.sans)),
                    _time(entry.not_before),
                    _time(entry.not_after),
                    entry.spki_sha256,
                    format_serial(entry.issuer_serial),
                    entry.status.value,
                    _time(entry.issued_at),
                    None,
                    None,
                    entry.cert_pem.decode("ascii"),
                ),
            )
        return entry

    def revoke(self, serials: Iterable[int], reason: x509.ReasonFlags, when: dt.datetime) -> None:
        """Mark certificates revoked (the CRL is written by the caller, in the same transaction)."""
        with self.transaction(), self._errors():
            self._db.executemany(
                "UPDATE certificates SET status = 'revoked', revoked_at = ?, "
                "revocation_reason = ? WHERE serial = ?",
                [(_time(when), reason.value, format_serial(serial)) for serial in serials],
            )

    def retire(self, ca_serial: int) -> None:
        """Mark a CA and every unrevoked certificate it signed as retired."""
        with self.transaction(), self._errors():
            self._db.execute(
                "UPDATE certificates SET status = 'retired' "
                "WHERE (serial = ? OR issuer_serial = ?) AND status != 'revoked'",
                (format_serial(ca_serial), format_serial(ca_serial)),
            )

    def next_crl_number(self, issuer_serial: int) -> int:
        """The next CRL number of a CA: 1, 2, 3... (RFC 5280 wants them increasing)."""
        key = format_serial(issuer_serial)
        with self.transaction(), self._errors():
            row = self._db.execute(
                "SELECT last_number FROM crl_numbers WHERE issuer_serial = ?", (key,)
            ).fetchone()
            number = 1 if row is None else int(row[0]) + 1
            self._db.execute(
                "INSERT INTO crl_numbers (issuer_serial, last_number) VALUES (?, ?) "
                "ON CONFLICT (issuer_serial) DO UPDATE SET last_number = excluded.last_number",
                (key, number),
            )
        return number

    # -- reading --------------------------------------------------------------------------------

    def entries(self, kind: CertKind | None = None) -> list[IndexEntry]:
        """Every certificate (of ``kind``), CA first, then servers, then clients by name."""
        where, params = ("WHERE kind = ?", (kind.value,)) if kind else ("", ())
        return self._select(
            f"{where} ORDER BY CASE kind WHEN 'ca' THEN 0 WHEN 'server' THEN 1 ELSE 2 END, "
            "name, not_before, rowid",
            params,
        )

    def get(self, serial: int) -> IndexEntry | None:
        """The certificate with this serial, if recorded."""
        found = self._select("WHERE serial = ?", (format_serial(serial),))
        return found[0] if found else None

    def named(self, name: str) -> list[IndexEntry]:
        """Every certificate recorded under ``name``, oldest first."""
        return self._select("WHERE name = ? ORDER BY not_before, rowid", (name,))

    def current(self, kind: CertKind, name: str | None = None) -> IndexEntry | None:
        """The newest valid (not superseded, revoked or retired) certificate of an identity."""
        where = "WHERE kind = ? AND status = 'valid'"
        params: tuple[str, ...] = (kind.value,)
        if name is not None:
            where += " AND name = ?"
            params += (name,)
        found = self._select(f"{where} ORDER BY not_before DESC, rowid DESC LIMIT 1", params)
        return found[0] if found else None

    def issued_by(self, ca_serial: int) -> list[IndexEntry]:
        """Every leaf certificate a CA signed."""
        key = format_serial(ca_serial)
        return self._select(
            "WHERE issuer_serial = ? AND serial != ? ORDER BY kind, name, rowid", (key, key)
        )

    def find(self, reference: str) -> Lookup:
        """Resolve ``SERIAL|NAME``: a name first, then a serial.

        A serial may be the 40 hex digits ``ca list`` shows (any unique prefix of at least 8, with
        or without ``0x`` and colons) or the decimal form an access log writes.
        """
        by_name = self.named(reference)
        if by_name:
            return Lookup("name", tuple(by_name))
        text = reference.strip().lower().removeprefix("0x").replace(":", "")
        if not _HEX.fullmatch(text):
            return Lookup("serial", ())
        exact = self.get(int(text, 16))
        if exact is None and text.isdigit():
            exact = self.get(int(text, 10))
        if exact is not None:
            return Lookup("serial", (exact,))
        if len(text) < MIN_SERIAL_PREFIX or len(text) > SERIAL_WIDTH:
            return Lookup("serial", ())
        # The stored form is zero-padded, so a prefix is a range of strings.
        return Lookup(
            "serial",
            tuple(
                self._select("WHERE substr(serial, 1, ?) = ? ORDER BY serial", (len(text), text))
            ),
        )

    def _select(self, clause: str, params: tuple[object, ...] = ()) -> list[IndexEntry]:
        with self._errors():
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM certificates {clause}", params)
            return [_entry(row) for row in rows.fetchall()]


def _writable(path: Path) -> bool:
    return all(os.access(p, os.W_OK, effective_ids=True) for p in (path, path.parent))


def _entry(row: tuple[Any, ...]) -> IndexEntry:
    (
        serial,
        kind,
        name,
        role,
        sans,
        not_before,
        not_after,
        spki,
        issuer_serial,
        status,
        issued_at,
        revoked_at,
        reason,
        cert_pem,
    ) = row
    return IndexEntry(
        serial=int(serial, 16),
        kind=CertKind(kind),
        name=name,
        role=role,
        sans=tuple(json.loads(sans)),
        not_before=_parse_time(not_before),
        not_after=_parse_time(not_after),
        spki_sha256=spki,
        issuer_serial=int(issuer_serial, 16),
        status=CertStatus(status),
        issued_at=_parse_time(issued_at),
        revoked_at=None if revoked_at is None else _parse_time(revoked_at),
        revocation_reason=None if reason is None else x509.ReasonFlags(reason),
        cert_pem=cert_pem.encode("ascii"),
    )
