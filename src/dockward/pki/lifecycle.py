"""Certificate lifecycle on a state directory: issue, revoke, re-sign the CRL, renew, rotate the CA
and retire the old one; and the read-only views of it (``list_certificates``, ``status``).

Every operation loads the CA first, so that a wrong passphrase or an expired CA changes nothing,
then writes files and the index together: the files are written inside an index transaction, and
a file that cannot be written rolls the index back. Results are frozen dataclasses for the CLI to
print; nothing here prints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509

from dockward.pki.ca import (
    BUNDLE_CA,
    BUNDLE_KEY,
    CLOCK_SKEW,
    DEFAULT_CA_DAYS,
    DEFAULT_CRL_DAYS,
    MAX_COMMON_NAME,
    CertificateAuthority,
    IssuedCertificate,
    KeyPermissionError,
    MissingFileError,
    PKIError,
    check_key_permissions,
    common_name,
    issued_by,
    load_certificate,
    validate_client_name,
    validate_server_name,
    write_private_file,
    write_public_file,
)
from dockward.pki.crl import RevocationList, load_revocation_list
from dockward.pki.index import CertificateIndex, CertKind, CertStatus, IndexEntry, format_serial
from dockward.pki.state import (
    BUNDLE_ENV,
    DEFAULT_CLIENT_HOST,
    Authorities,
    StateDir,
    docker_host_url,
)

__all__ = [
    "ATTENTION_FRACTION",
    "AlreadyRevokedError",
    "AmbiguousReferenceError",
    "Issued",
    "ListedCertificate",
    "Renewed",
    "Retired",
    "Revoked",
    "Rotated",
    "RotationError",
    "StatusItem",
    "StatusReport",
    "UnknownCertificateError",
    "issue_client",
    "issue_server",
    "list_certificates",
    "refresh_crl",
    "renew",
    "retire_old",
    "revoke",
    "rotate",
    "status",
    "validate_role",
]

# `ca list` colours a certificate with less than this share of its lifetime left.
ATTENTION_FRACTION = 0.2
DEFAULT_STATUS_WINDOW = dt.timedelta(days=7)
_ROLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CA_GENERATION = re.compile(r"^(.*?) (\d+)$")


class UnknownCertificateError(PKIError):
    """No certificate in the index has that name or serial."""


class AmbiguousReferenceError(PKIError):
    """A name or serial prefix matches more than one identity."""


class AlreadyRevokedError(PKIError):
    """Everything the reference names is revoked already."""


class RotationError(PKIError):
    """A CA rotation cannot start or finish in the current state."""


def validate_role(role: str) -> str:
    """Check a role name (stored in the index for the gateway's policy); return it."""
    if not _ROLE.fullmatch(role):
        raise PKIError(
            f"invalid role {role!r}: use 1 to 64 of A-Z a-z 0-9 . _ - "
            "and start with a letter or digit"
        )
    return role


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)


def _date(when: dt.datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC"


@contextlib.contextmanager
def _session(
    state: StateDir, passphrase: bytes | None, now: dt.datetime | None
) -> Iterator[tuple[Authorities, CertificateIndex]]:
    authorities = state.load_authorities(passphrase)
    with state.open_index() as index:
        # A state directory from before the trust bundle and the CRL existed, or a CRL that is
        # due: any operation with the CA key puts them right.
        state.ensure_published(authorities, index, now=now)
        yield authorities, index


# -- issue -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """A certificate just issued, as recorded, and where its files went."""

    entry: IndexEntry
    issued: IssuedCertificate
    location: Path  # the server certificate file, or the client bundle directory


def issue_server(
    state: StateDir,
    names: Sequence[str],
    *,
    days: int | None = None,
    hours: int | None = None,
    passphrase: bytes | None = None,
    now: dt.datetime | None = None,
) -> Issued:
    """Issue the gateway's certificate into STATE/server/ (it supersedes the previous one)."""
    for name in names:
        validate_server_name(name)
    with _session(state, passphrase, now) as (authorities, index):
        return _issue_server(state, authorities.current, index, names, days, hours, now)


def _issue_server(
    state: StateDir,
    ca: CertificateAuthority,
    index: CertificateIndex,
    names: Sequence[str],
    days: int | None,
    hours: int | None,
    now: dt.datetime | None,
) -> Issued:
    issued = ca.issue_server(names, days, hours=hours, now=now)
    return Issued(state.save_server(index, issued, now=now), issued, state.server_cert)


def issue_client(
    state: StateDir,
    name: str,
    *,
    role: str | None = None,
    days: int | None = None,
    hours: int | None = None,
    host: str = DEFAULT_CLIENT_HOST,
    passphrase: bytes | None = None,
    now: dt.datetime | None = None,
) -> Issued:
    """Issue a client certificate as STATE/clients/NAME/ and record its role."""
    validate_client_name(name)
    if role is not None:
        validate_role(role)
    docker_host_url(host)  # refuse a bad host before anything is written
    with _session(state, passphrase, now) as (authorities, index):
        return _issue_client(state, authorities, index, name, role, days, hours, host, now)


def _issue_client(
    state: StateDir,
    authorities: Authorities,
    index: CertificateIndex,
    name: str,
    role: str | None,
    days: int | None,
    hours: int | None,
    host: str,
    now: dt.datetime | None,
) -> Issued:
    issued = authorities.current.issue_client(name, days, hours=hours, role=role, now=now)
    entry, bundle = state.save_client(
        index, name, issued, authorities.trust_pem(), role=role, host=host, now=now
    )
    return Issued(entry, issued, bundle)


# -- finding what a SERIAL|NAME means ----------------------------------------------------------


def _resolve(state: StateDir, index: CertificateIndex, reference: str) -> tuple[IndexEntry, ...]:
    """The certificates of one identity that ``reference`` names (oldest first)."""
    lookup = index.find(reference)
    if not lookup.entries:
        raise UnknownCertificateError(
            f"no certificate named or with serial {reference!r} in {state.path} "
            f"(see `{state.fix_hint('list')}`)"
        )
    if lookup.by == "serial" and len(lookup.entries) > 1:
        raise AmbiguousReferenceError(
            f"serial prefix {reference!r} matches {len(lookup.entries)} certificates: "
            "give more digits"
        )
    kinds = sorted({entry.kind.value for entry in lookup.entries})
    if len(kinds) > 1:
        raise AmbiguousReferenceError(
            f"{reference!r} names a {' and a '.join(kinds)} certificate: give the serial "
            f"(see `{state.fix_hint('list')}`)"
        )
    return lookup.entries


def _reread(index: CertificateIndex, entries: Sequence[IndexEntry]) -> tuple[IndexEntry, ...]:
    """The entries as the index records them now (after a revocation, say)."""
    return tuple(e for e in (index.get(entry.serial) for entry in entries) if e is not None)


def _refuse_ca(state: StateDir, entry: IndexEntry, what: str) -> None:
    if entry.kind is CertKind.CA:
        raise PKIError(
            f"{entry.serial_hex} is the certificate of a CA, which is not {what} but replaced: "
            f"run `{state.fix_hint('rotate')}`"
        )


# -- revoke and the CRL ------------------------------------------------------------------------


@dataclass(frozen=True)
class Revoked:
    """The certificates just revoked (as recorded now) and the CRL written for them."""

    entries: tuple[IndexEntry, ...]
    crl: RevocationList


def revoke(
    state: StateDir,
    reference: str,
    *,
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
    passphrase: bytes | None = None,
    now: dt.datetime | None = None,
) -> Revoked:
    """Revoke a certificate by serial, or every unrevoked certificate of a name; re-sign the CRL."""
    moment = _now(now)
    with _session(state, passphrase, now) as (authorities, index):
        entries = _resolve(state, index, reference)
        _refuse_ca(state, entries[0], "revoked")
        targets = [e for e in entries if e.status in (CertStatus.VALID, CertStatus.SUPERSEDED)]
        if not targets:
            last = entries[-1]
            if last.status is CertStatus.REVOKED and last.revoked_at is not None:
                raise AlreadyRevokedError(
                    f"{last.label} is already revoked (serial {last.serial_hex}, "
                    f"on {_date(last.revoked_at)})"
                )
            raise PKIError(f"{last.label} was issued by a retired CA: nothing trusts it any more")
        with index.transaction():
            index.revoke([e.serial for e in targets], reason, moment)
            crl = state.write_crl(authorities, index, now=moment)
        done = _reread(index, targets)
    return Revoked(done, crl)


def refresh_crl(
    state: StateDir,
    *,
    days: int = DEFAULT_CRL_DAYS,
    passphrase: bytes | None = None,
    now: dt.datetime | None = None,
) -> RevocationList:
    """Re-sign the CRL of every CA in the trust bundle, valid for ``days``."""
    authorities = state.load_authorities(passphrase)
    with state.open_index() as index:
        return state.publish_trust(authorities, index, days=days, now=now)


# -- renew -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Renewed:
    """The certificate renewed (as recorded now: revoked if ``crl`` is set) and its successor."""

    old: IndexEntry
    new: Issued
    crl: RevocationList | None = None  # written when the renewed certificate was revoked


def _hours_of(entry: IndexEntry) -> int:
    # Certificates are backdated by CLOCK_SKEW; the lifetime asked for excludes it.
    return max(1, round((entry.lifetime - CLOCK_SKEW).total_seconds() / 3600))


def _bundle_host(state: StateDir, name: str) -> str:
    """The DOCKER_HOST of a client's existing env file, to keep it across renewals."""
    try:
        text = (state.client_dir(name) / BUNDLE_ENV).read_text()
    except OSError:
        return DEFAULT_CLIENT_HOST
    for line in text.splitlines():
        if line.startswith("DOCKER_HOST="):
            values = shlex.split(line.partition("=")[2])
            if values:
                return values[0]
    return DEFAULT_CLIENT_HOST


def renew(
    state: StateDir,
    reference: str,
    *,
    revoke_old: bool = False,
    days: int | None = None,
    hours: int | None = None,
    passphrase: bytes | None = None,
    now: dt.datetime | None = None,
) -> Renewed:
    """Issue a new certificate for the same identity, role and names (and, unless ``days`` or
    ``hours`` say otherwise, the same lifetime) under the issuing CA.

    A serial names the certificate renewed; a name, the identity's current certificate (or, if
    none is valid, its newest superseded one). That certificate is superseded but keeps working
    until it expires, unless ``revoke_old``: then it, and only it, is revoked (reason
    superseded); earlier certificates of the identity are left as they are. A revoked
    certificate is not renewed.
    """
    moment = _now(now)
    with _session(state, passphrase, now) as (authorities, index):
        entries = _resolve(state, index, reference)
        _refuse_ca(state, entries[0], "renewed")
        live = [e for e in entries if e.status in (CertStatus.VALID, CertStatus.SUPERSEDED)]
        kind, name = entries[0].kind, entries[0].name
        if not live:
            hint = (
                state.fix_hint(f"issue client {name} --role ROLE")
                if kind is CertKind.CLIENT
                else state.fix_hint("issue server HOST...")
            )
            why = "is revoked" if entries[-1].status is CertStatus.REVOKED else "has a retired CA"
            raise PKIError(
                f"{entries[-1].label} {why}: it is not renewed; issue a new one with `{hint}`"
            )
        # Entries come oldest first; `max` by not_before would pick the older of two issued in
        # the same second.
        valid = [e for e in live if e.status is CertStatus.VALID]
        base = (valid or live)[-1]
        if days is None and hours is None:
            hours = _hours_of(base)
        if kind is CertKind.SERVER:
            new = _issue_server(state, authorities.current, index, base.sans, days, hours, moment)
        else:
            new = _issue_client(
                state,
                authorities,
                index,
                name,
                base.role,
                days,
                hours,
                _bundle_host(state, name),
                moment,
            )
        crl = None
        if revoke_old:
            with index.transaction():
                index.revoke([base.serial], x509.ReasonFlags.superseded, moment)
                crl = state.write_crl(authorities, index, now=moment)
        old = index.get(base.serial) or base
    return Renewed(old, new, crl)


# -- CA rotation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotated:
    """A new CA; the old one stays trusted until ``retire_old`` unless it had expired."""

    new_ca: IndexEntry
    old_ca: IndexEntry
    reissued: tuple[Issued, ...]
    server: Issued | None  # reissued at once only when the old CA had expired
    overlap: bool  # False: the old CA had expired and was retired at once
    crl: RevocationList


def _next_ca_name(index: CertificateIndex, current: CertificateAuthority) -> str:
    used = {entry.name for entry in index.entries(CertKind.CA)}
    current_name = common_name(current.cert) or "dockward CA"
    used.add(current_name)
    match = _CA_GENERATION.match(current_name)
    base = match.group(1) if match else current_name
    generation = 2
    # Distinct names keep OpenSSL's by-name CRL and issuer lookups unambiguous in the overlap.
    while f"{base} {generation}" in used or len(f"{base} {generation}") > MAX_COMMON_NAME:
        if len(f"{base} {generation}") > MAX_COMMON_NAME:
            base = base[: MAX_COMMON_NAME - len(f" {generation}")]
            continue
        generation += 1
    return f"{base} {generation}"


def rotate(
    state: StateDir,
    *,
    days: int = DEFAULT_CA_DAYS,
    passphrase: bytes | None = None,
    now: dt.datetime | None = None,
) -> Rotated:
    """Make a new CA and reissue every current client certificate under it.

    The old CA moves to STATE/ca/old/ and stays in the trust bundle, and keeps signing its CRL,
    until ``retire_old``; the server certificate stays with the old CA, so clients that hold only
    the old ``ca.pem`` keep trusting the gateway. An expired CA has nothing to overlap with: it is
    retired at once and the server certificate is reissued too. The new key gets the same
    passphrase as the old one.
    """
    moment = _now(now)
    if state.rotating():
        raise RotationError(
            f"a CA rotation is already in progress (the previous CA is in {state.old_ca_dir}): "
            f"finish it with `{state.fix_hint('retire-old')}` first"
        )
    current = state.load_ca(passphrase, allow_expired=True)
    overlap = current.not_after > moment
    with state.open_index() as index:
        new = CertificateAuthority.create(_next_ca_name(index, current), days, now=moment)
        clients = [
            entry
            for entry in index.issued_by(current.serial)
            if entry.kind is CertKind.CLIENT and entry.status is CertStatus.VALID
        ]
        with index.transaction():
            if index.get(current.serial) is None:
                index.record(current.cert, CertKind.CA, issuer_serial=current.serial)
            new_entry = index.record(new.cert, CertKind.CA, issuer_serial=new.serial, now=moment)
            if overlap:
                # The old CA's files move beside the new ones byte for byte: its key stays as
                # encrypted as it was.
                write_private_file(state.old_ca_key, state.ca_key.read_bytes())
                write_public_file(state.old_ca_cert, state.ca_cert.read_bytes())
                authorities = Authorities(new, current)
            else:
                index.retire(current.serial)
                authorities = Authorities(new)
            new.write(state.ca_cert, state.ca_key, passphrase)
            crl = state.publish_trust(authorities, index, now=moment)
        # Each client is its own transaction: should one fail, the index still tells the truth
        # about the others, and `ca renew NAME` finishes the job.
        reissued = []
        for entry in clients:
            reissued.append(
                _issue_client(
                    state,
                    authorities,
                    index,
                    entry.name,
                    entry.role,
                    None,
                    _hours_of(entry),
                    _bundle_host(state, entry.name),
                    moment,
                )
            )
        server = None
        if not overlap:
            server = _reissue_server_if_signed_by(state, index, new, current, moment)
        old_entry = index.get(current.serial)
    assert old_entry is not None
    return Rotated(new_entry, old_entry, tuple(reissued), server, overlap, crl)


def _reissue_server_if_signed_by(
    state: StateDir,
    index: CertificateIndex,
    issuer: CertificateAuthority,
    old: CertificateAuthority,
    now: dt.datetime,
) -> Issued | None:
    try:
        cert = load_certificate(state.server_cert, "server certificate")
    except MissingFileError:
        return None
    if not issued_by(cert, old.cert):
        return None
    entry = index.get(cert.serial_number)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = [str(value.value) for value in san]
    hours = _hours_of(entry) if entry is not None else None
    return _issue_server(state, issuer, index, names, None, hours, now)


@dataclass(frozen=True)
class Retired:
    """The old CA, retired; the server certificate if it had to move to the new CA; and the
    certificates of the old CA that were still in force and now stop working."""

    old_ca: IndexEntry
    server: Issued | None
    stranded: tuple[IndexEntry, ...]
    crl: RevocationList


def retire_old(
    state: StateDir, *, passphrase: bytes | None = None, now: dt.datetime | None = None
) -> Retired:
    """End a rotation: drop the old CA from the trust bundle and the CRL, delete its key, move
    the server certificate to the new CA if it is still with the old one."""
    moment = _now(now)
    if not state.rotating():
        raise RotationError(
            f"no CA rotation in progress ({state.old_ca_dir} does not exist): nothing to retire"
        )
    authorities = state.load_authorities(passphrase)
    old = authorities.old
    assert old is not None
    with state.open_index() as index:
        if index.get(old.serial) is None:
            index.record(old.cert, CertKind.CA, issuer_serial=old.serial, supersede=False)
        server = _reissue_server_if_signed_by(state, index, authorities.current, old, moment)
        # Superseded certificates of the old CA have a successor; valid ones were not reissued.
        stranded = tuple(
            e
            for e in index.issued_by(old.serial)
            if e.status is CertStatus.VALID and not e.expired(moment) and e.kind is CertKind.CLIENT
        )
        remaining = Authorities(authorities.current)
        with index.transaction():
            index.retire(old.serial)
            crl = state.publish_trust(remaining, index, now=moment)
            trust = remaining.trust_pem()
            for entry in index.entries(CertKind.CLIENT):
                directory = state.client_dir(entry.name)
                if entry.status is CertStatus.VALID and directory.is_dir():
                    write_public_file(directory / BUNDLE_CA, trust)
        state.remove_old_ca()
        old_entry = index.get(old.serial)
    assert old_entry is not None
    return Retired(old_entry, server, stranded, crl)


# -- views -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListedCertificate:
    """A row of ``ca list``: the index entry and how it stands at ``now``."""

    entry: IndexEntry
    expired: bool
    seconds_left: int
    attention: bool  # in force with less than ATTENTION_FRACTION of its lifetime left

    @property
    def shown_status(self) -> str:
        """The status, or ``expired`` for a valid or superseded certificate past not-after."""
        if self.expired and self.entry.status in (CertStatus.VALID, CertStatus.SUPERSEDED):
            return "expired"
        return self.entry.status.value

    def to_json(self) -> dict[str, Any]:
        """The entry's JSON plus ``expired``, ``seconds_left`` and ``attention``."""
        return {
            **self.entry.to_json(),
            "expired": self.expired,
            "seconds_left": self.seconds_left,
            "attention": self.attention,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ListedCertificate:
        """Read back ``to_json``."""
        return cls(
            entry=IndexEntry.from_json(data),
            expired=bool(data["expired"]),
            seconds_left=int(data["seconds_left"]),
            attention=bool(data["attention"]),
        )


def list_certificates(
    state: StateDir, *, include_all: bool = False, now: dt.datetime | None = None
) -> list[ListedCertificate]:
    """The index, CA first. Without ``include_all``, history is left out: retired certificates,
    and superseded or revoked ones that have expired anyway."""
    moment = _now(now)
    if not state.has_ca():
        state.load_ca()  # explains how to make one
    rows = []
    with state.open_index() as index:
        for entry in index.entries():
            expired = entry.expired(moment)
            history = entry.status is CertStatus.RETIRED or (
                expired and entry.status in (CertStatus.SUPERSEDED, CertStatus.REVOKED)
            )
            if history and not include_all:
                continue
            rows.append(
                ListedCertificate(
                    entry=entry,
                    expired=expired,
                    seconds_left=int(entry.time_left(moment).total_seconds()),
                    attention=entry.in_force(moment)
                    and entry.fraction_left(moment) < ATTENTION_FRACTION,
                )
            )
    return rows


@dataclass(frozen=True)
class StatusItem:
    """One line of ``ca status``: a certificate, the CRL or a key file, and what to do."""

    kind: str  # ca, old-ca, server, client, crl, key
    name: str
    expires: dt.datetime | None = None
    serial: int | None = None
    detail: str = ""
    action: str | None = None  # set when it needs action within the window

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        """The JSON projection; ``seconds_left`` is relative to ``now``."""
        return {
            "kind": self.kind,
            "name": self.name,
            "expires": None if self.expires is None else self.expires.isoformat(),
            "seconds_left": (
                None if self.expires is None else int((self.expires - now).total_seconds())
            ),
            "serial": None if self.serial is None else format_serial(self.serial),
            "detail": self.detail,
            "action": self.action,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatusItem:
        """Read back ``to_json``."""
        expires = data.get("expires")
        serial = data.get("serial")
        return cls(
            kind=data["kind"],
            name=data["name"],
            expires=None if expires is None else dt.datetime.fromisoformat(expires),
            serial=None if serial is None else int(serial, 16),
            detail=data["detail"],
            action=data["action"],
        )


@dataclass(frozen=True)
class StatusReport:
    """Everything with an expiry in the state directory; ``needs_action`` means exit 1."""

    now: dt.datetime
    window: dt.timedelta
    items: tuple[StatusItem, ...]

    @property
    def needs_action(self) -> bool:
        """Whether anything needs action within the window."""
        return any(item.action for item in self.items)

    def to_json(self) -> dict[str, Any]:
        """The JSON projection (``ca status --json``)."""
        return {
            "now": self.now.isoformat(),
            "window_days": self.window / dt.timedelta(days=1),
            "needs_action": self.needs_action,
            "items": [item.to_json(self.now) for item in self.items],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatusReport:
        """Read back ``to_json``."""
        return cls(
            now=dt.datetime.fromisoformat(data["now"]),
            window=dt.timedelta(days=data["window_days"]),
            items=tuple(StatusItem.from_json(item) for item in data["items"]),
        )


def _ago(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{max(0, seconds) // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def status(
    state: StateDir,
    *,
    window: dt.timedelta = DEFAULT_STATUS_WINDOW,
    now: dt.datetime | None = None,
) -> StatusReport:
    """Expiries of the CA, the server and current client certificates, the CRL's age and next
    update, and private keys others can read. Needs no passphrase."""
    moment = _now(now)
    deadline = moment + window
    items: list[StatusItem] = []

    def expiring(kind: str, name: str, cert: x509.Certificate, fix: str) -> StatusItem:
        expires = cert.not_valid_after_utc
        if expires <= moment:
            action: str | None = f"expired: run `{fix}`"
        elif expires <= deadline:
            action = f"expires within {window.days} days: run `{fix}`"
        else:
            action = None
        return StatusItem(kind, name, expires, cert.serial_number, action=action)

    if not state.has_ca():
        state.load_ca()  # explains how to make one
    ca_certs = state.trusted_certificates()
    ca_name = _common_name(ca_certs[0])
    items.append(expiring("ca", ca_name, ca_certs[0], state.fix_hint("rotate")))
    if len(ca_certs) > 1:
        old = expiring(
            "old-ca", _common_name(ca_certs[1]), ca_certs[1], state.fix_hint("retire-old")
        )
        items.append(replace(old, detail="rotation in progress"))

    with state.open_index() as index:
        try:
            server = load_certificate(state.server_cert, "server certificate")
        except MissingFileError:
            items.append(
                StatusItem(
                    "server",
                    "-",
                    action=f"no server certificate: run `{state.fix_hint('issue server HOST...')}`",
                )
            )
        else:
            entry = index.get(server.serial_number)
            name = entry.name if entry else _common_name(server)
            item = expiring("server", name, server, state.fix_hint(f"renew {name}"))
            if entry is not None and entry.status is CertStatus.REVOKED:
                item = replace(
                    item, action=f"revoked: run `{state.fix_hint('issue server HOST...')}`"
                )
            items.append(item)
        for entry in index.entries(CertKind.CLIENT):
            if entry.status is not CertStatus.VALID:
                continue
            items.append(
                expiring(
                    "client",
                    entry.name,
                    entry.certificate(),
                    state.fix_hint(f"renew {entry.name}"),
                )
            )

    try:
        crl = load_revocation_list(state.crl_path, state.ca_bundle, now=moment)
    except PKIError as err:
        items.append(StatusItem("crl", state.crl_path.name, action=str(err)))
    else:
        detail = (
            f"updated {_date(crl.this_update)}, {_ago(moment - crl.this_update)} ago, "
            f"{len(crl.revoked)} revoked"
        )
        action = None
        if crl.next_update <= deadline:
            action = f"next update within {window.days} days: run `{state.fix_hint('crl')}`"
        items.append(
            StatusItem("crl", state.crl_path.name, crl.next_update, detail=detail, action=action)
        )

    keys = [state.ca_key, state.old_ca_key, state.server_key]
    if state.clients_dir.is_dir():
        keys += sorted(state.clients_dir.glob(f"*/{BUNDLE_KEY}"))
    for key in keys:
        if not key.exists():
            continue
        try:
            check_key_permissions(key)
        except KeyPermissionError as err:
            items.append(StatusItem("key", str(key.relative_to(state.path)), action=str(err)))
    return StatusReport(moment, window, tuple(items))


def _common_name(cert: x509.Certificate) -> str:
    return common_name(cert) or format_serial(cert.serial_number)
