"""The CRL file: PEM CRLs, one per CA in the trust bundle, and the gateway's way to read it.

``load_revocation_list`` is what the gateway calls: it reads the CRL file, checks each CRL's
signature against a CA of the trust bundle, checks that every CA of the bundle has a CRL (Python's
``ssl`` with ``VERIFY_CRL_CHECK_LEAF`` refuses every client of a CA without one) and that none has
passed its nextUpdate, and returns the revoked serials. A CRL whose issuer the bundle does not name
is skipped: during a rotation the CRL file covers the CAs of the bundle before and after it. Every
failure is a ``RevocationListError`` whose message names the ``dockward ca`` command that fixes it:
a gateway must fail closed on a missing or expired CRL, and the log line should say what to run.

This module reads and encodes CRLs; signing them is ``CertificateAuthority.sign_crl`` and deciding
what goes in them is ``dockward.pki.lifecycle``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from dockward.pki.ca import PKIError, common_name, load_certificates, os_error_reason

__all__ = [
    "REASONS",
    "CRLExpiredError",
    "CRLSignatureError",
    "IncompleteCRLError",
    "MalformedCRLError",
    "MissingCRLError",
    "RevocationList",
    "RevocationListError",
    "encode_crls",
    "load_revocation_list",
    "parse_reason",
]

# The reasons an operator may give (RFC 5280 §5.3.1). certificateHold and removeFromCRL are left
# out because a revocation here is final; aACompromise is for attribute certificates.
REASONS: Mapping[str, x509.ReasonFlags] = {
    flag.value: flag
    for flag in (
        x509.ReasonFlags.unspecified,
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.ca_compromise,
        x509.ReasonFlags.affiliation_changed,
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.privilege_withdrawn,
    )
}
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----\r?\n?", re.DOTALL)
_VERIFYING_KEYS = (
    ec.EllipticCurvePublicKey,
    rsa.RSAPublicKey,
    dsa.DSAPublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)


class RevocationListError(PKIError):
    """The CRL cannot be trusted; a gateway must refuse every client until it is fixed."""


class MissingCRLError(RevocationListError):
    """There is no CRL file."""


class MalformedCRLError(RevocationListError):
    """The CRL file cannot be read or does not hold PEM CRLs."""


class CRLSignatureError(RevocationListError):
    """A CRL names a CA of the trust bundle as its issuer, but no CA of the bundle signed it."""


class IncompleteCRLError(RevocationListError):
    """A CA of the trust bundle has no CRL in the file."""


class CRLExpiredError(RevocationListError):
    """A CRL has passed its nextUpdate (or is not valid yet)."""


def _canonical(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


_REASON_SPELLINGS = {_canonical(value): flag for value, flag in REASONS.items()}


def parse_reason(text: str) -> x509.ReasonFlags:
    """A revocation reason by its RFC 5280 name, in any case, with or without - or _."""
    try:
        return _REASON_SPELLINGS[_canonical(text)]
    except KeyError:
        raise PKIError(
            f"unknown revocation reason {text!r}: use one of {', '.join(REASONS)}"
        ) from None


def encode_crls(crls: Iterable[x509.CertificateRevocationList]) -> bytes:
    """The CRL file: the CRLs as concatenated PEM, as OpenSSL's ``load_verify_locations`` reads."""
    return b"".join(crl.public_bytes(serialization.Encoding.PEM) for crl in crls)


@dataclass(frozen=True)
class RevocationList:
    """The verified content of a CRL file.

    ``this_update`` is the oldest lastUpdate and ``next_update`` the earliest nextUpdate among
    its CRLs: the file is good until ``next_update`` and should be re-signed from ``refresh_at``.
    """

    path: Path
    revoked: frozenset[int]
    this_update: dt.datetime
    next_update: dt.datetime
    reasons: Mapping[int, x509.ReasonFlags] = field(default_factory=dict, compare=False)
    issuers: tuple[str, ...] = ()

    def is_revoked(self, serial: int) -> bool:
        """Whether a certificate serial is on the list."""
        return serial in self.revoked

    @property
    def refresh_at(self) -> dt.datetime:
        """Two thirds into the validity (as step-ca does): time to warn and re-sign."""
        return self.this_update + (self.next_update - self.this_update) * 2 / 3

    def needs_refresh(self, now: dt.datetime | None = None) -> bool:
        """Whether ``refresh_at`` has passed."""
        return (now or dt.datetime.now(dt.UTC)) >= self.refresh_at


def _fix_command(path: Path) -> str:
    # STATE/ca/crl.pem is where dockward.pki.state keeps it; name the state dir when it is one.
    if path.name == "crl.pem" and path.parent.name == "ca":
        state = path.parent.parent
        return f"dockward ca crl --state-dir {shlex.quote(os.fspath(state))}"
    return "dockward ca crl"


def _date(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _ca_label(cert: x509.Certificate) -> str:
    label = common_name(cert) or cert.subject.rfc4514_string()
    return f"{label!r} (serial {cert.serial_number:040x})"


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    if crl.issuer != ca.subject:
        return False
    key = ca.public_key()
    return isinstance(key, _VERIFYING_KEYS) and crl.is_signature_valid(key)


def load_revocation_list(
    path: str | os.PathLike[str],
    ca_bundle_path: str | os.PathLike[str],
    *,
    now: dt.datetime | None = None,
) -> RevocationList:
    """Read and verify the CRL file against the trust bundle; see the module docstring."""
    crl_path = Path(os.fspath(path))
    bundle_path = Path(os.fspath(ca_bundle_path))
    fix = _fix_command(crl_path)
    moment = now or dt.datetime.now(dt.UTC)
    authorities = load_certificates(bundle_path, "trust bundle")
    try:
        data = crl_path.read_bytes()
    except FileNotFoundError as err:
        raise MissingCRLError(f"no CRL at {crl_path}: run `{fix}` to write one") from err
    except OSError as err:
        raise MalformedCRLError(f"cannot read CRL {crl_path}: {os_error_reason(err)}") from err
    blocks = _PEM_CRL.findall(data)
    try:
        crls = [x509.load_pem_x509_crl(block) for block in blocks]
    except ValueError:
        crls = []
    if not crls:
        raise MalformedCRLError(
            f"CRL {crl_path} does not hold a PEM CRL: run `{fix}` to write a new one"
        )

    covered: set[int] = set()
    revoked: dict[int, x509.ReasonFlags] = {}
    this_updates: list[dt.datetime] = []
    next_updates: list[dt.datetime] = []
    for crl in crls:
        if not any(crl.issuer == ca.subject for ca in authorities):
            # A CA that joins the bundle gets its CRL first, and one that leaves loses its CRL
            # last, so the file may briefly hold a CRL for a CA the bundle does not name (yet or
            # any more). OpenSSL looks CRLs up by issuer name, so it cannot apply to anyone here.
            continue
        issuers = [ca for ca in authorities if _signed_by(crl, ca)]
        if not issuers:
            raise CRLSignatureError(
                f"CRL {crl_path} has a CRL from {crl.issuer.rfc4514_string()!r} that no CA in "
                f"{bundle_path} signed: run `{fix}` to re-sign it"
            )
        next_update = crl.next_update_utc
        if next_update is None:
            raise MalformedCRLError(
                f"CRL {crl_path} has a CRL without nextUpdate: run `{fix}` to re-sign it"
            )
        if moment < crl.last_update_utc:
            raise CRLExpiredError(
                f"CRL {crl_path} is not valid before {_date(crl.last_update_utc)}: "
                f"check this host's clock, or run `{fix}`"
            )
        if moment >= next_update:
            raise CRLExpiredError(
                f"CRL {crl_path} expired on {_date(next_update)} (nextUpdate): "
                f"run `{fix}` to re-sign it"
            )
        covered.update(id(ca) for ca in issuers)
        this_updates.append(crl.last_update_utc)
        next_updates.append(next_update)
        for entry in crl:
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            except x509.ExtensionNotFound:
                reason = x509.ReasonFlags.unspecified
            revoked[entry.serial_number] = reason
    for ca in authorities:
        if id(ca) not in covered:
            raise IncompleteCRLError(
                f"CRL {crl_path} has no CRL from CA {_ca_label(ca)} of {bundle_path}: "
                f"run `{fix}` to re-sign it"
            )
    return RevocationList(
        path=crl_path,
        revoked=frozenset(revoked),
        this_update=min(this_updates),
        next_update=min(next_updates),
        reasons=revoked,
        issuers=tuple(_ca_label(ca) for ca in authorities),
    )
