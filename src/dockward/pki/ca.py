"""The certificate authority: create or load a CA, issue server and client certificates.

A trustme-sized API with the defaults of a real CA: ECDSA P-256 keys, SHA-256 signatures, random
159-bit serials kept as integers, SKI/AKI on every certificate, separate key usages for servers
(serverAuth) and clients (clientAuth), short leaf lifetimes, and private keys that are never
readable by anyone but their owner, not even for the instant between create and chmod.

This module owns the certificate profiles and the PEM files they are written to. It does not know
where those files live (that is ``dockward.pki.state``) and it never prints: every failure a user
can cause is a ``PKIError`` whose message is one line that says what was wrong.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import secrets
import shlex
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dockward.errors import UsageError
from dockward.identity import ROLE_URI_PREFIX

__all__ = [
    "BUNDLE_CA",
    "BUNDLE_CERT",
    "BUNDLE_KEY",
    "CLIENT_URI_PREFIX",
    "CertificateAuthority",
    "ExpiredCAError",
    "FileWriteError",
    "InvalidNameError",
    "IssuedCertificate",
    "KeyMismatchError",
    "KeyPermissionError",
    "LifetimeError",
    "MalformedFileError",
    "MissingFileError",
    "NotACAError",
    "PKIError",
    "PassphraseError",
    "PassphraseRequiredError",
    "Revocation",
    "UnreadableFileError",
    "WrongPassphraseError",
    "check_key_permissions",
    "client_uri",
    "common_name",
    "describe_lifetime",
    "ensure_private_dir",
    "is_encrypted_key",
    "issued_by",
    "lifetime",
    "load_certificate",
    "load_certificate_with_pem",
    "load_certificates",
    "load_private_key",
    "os_error_reason",
    "validate_client_name",
    "validate_server_name",
    "write_private_file",
    "write_public_file",
]

# Clients and servers may disagree about the time by a few minutes; a certificate that is not
# valid yet is as useless as an expired one.
CLOCK_SKEW = dt.timedelta(minutes=5)
DEFAULT_CA_DAYS = 3650
DEFAULT_SERVER_DAYS = 90
DEFAULT_CLIENT_DAYS = 30
# A CRL that expires locks every client out, and nothing re-signs it but `dockward ca crl`
# (or a revocation): a month leaves room for a weekly cron job to be missed a few times.
DEFAULT_CRL_DAYS = 30
SERIAL_BITS = 159
# ub-common-name (RFC 5280): longer names go into the SAN only.
MAX_COMMON_NAME = 64

CLIENT_URI_PREFIX = "dockward:client:"

# DOCKER_CERT_PATH layout expected by the docker CLI and docker-py.
BUNDLE_CA = "ca.pem"
BUNDLE_CERT = "cert.pem"
BUNDLE_KEY = "key.pem"

_SIGNING_KEY_TYPES = (
    ec.EllipticCurvePrivateKey,
    rsa.RSAPrivateKey,
    dsa.DSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)
# PKCS#8 and the traditional OpenSSL format mark encryption in the PEM armour.
_ENCRYPTED_MARKERS = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"Proc-Type: 4,ENCRYPTED")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_CLIENT_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


# -- errors ------------------------------------------------------------------------------------


class PKIError(UsageError):
    """A CA or certificate operation failed because of its input; the message is for the user."""


class MissingFileError(PKIError):
    """A certificate or key file does not exist."""


class UnreadableFileError(PKIError):
    """A file exists but cannot be read or does not hold what it should."""


class MalformedFileError(UnreadableFileError):
    """A file was read but does not hold a PEM certificate or key."""


class FileWriteError(PKIError):
    """A certificate, key or directory could not be written."""


class PassphraseError(PKIError):
    """The passphrase does not fit the key (base class)."""


class WrongPassphraseError(PassphraseError):
    """The key is encrypted and the passphrase does not decrypt it."""


class PassphraseRequiredError(PassphraseError):
    """The key is encrypted and no passphrase was given."""


class NotACAError(PKIError):
    """The certificate is not allowed to sign certificates."""


class KeyMismatchError(PKIError):
    """The private key does not belong to the certificate."""


class ExpiredCAError(PKIError):
    """The CA certificate has expired."""


class InvalidNameError(PKIError):
    """A server or client name that cannot go into a certificate."""


class LifetimeError(PKIError):
    """A requested lifetime is invalid or would outlive the CA."""


class KeyPermissionError(PKIError):
    """A private key file is readable or writable by group or others."""


# -- files -------------------------------------------------------------------------------------


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents as 0700; leave existing directories alone."""
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
            # mkdir's mode passes through the umask; chmod makes it exactly 0700.
            os.chmod(directory, 0o700)
        except FileExistsError:
            if not directory.is_dir():
                raise FileWriteError(
                    f"cannot create directory {directory}: a file is in the way"
                ) from None
        except OSError as err:
            raise FileWriteError(
                f"cannot create directory {directory}: {os_error_reason(err)}"
            ) from err


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically write a secret: the file is 0600 from the moment it exists."""
    _write_atomically(path, data, 0o600)


def write_public_file(path: Path, data: bytes) -> None:
    """Atomically write a certificate (0644)."""
    _write_atomically(path, data, 0o644)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    # The gateway reloads certificates when files change: it must never read half a file, so
    # write a temporary file beside the target and rename it over.
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, mode)
    except OSError as err:
        raise FileWriteError(f"cannot write {path}: {os_error_reason(err)}") from err
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have taken bits away; never adds any
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise FileWriteError(f"cannot write {path}: {os_error_reason(err)}") from err


def _read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as err:
        raise MissingFileError(f"{what} {path} does not exist") from err
    except OSError as err:
        raise UnreadableFileError(f"cannot read {what} {path}: {os_error_reason(err)}") from err


def os_error_reason(err: OSError) -> str:
    """An ``OSError``'s reason for a one-line message: ``permission denied``."""
    return (err.strerror or str(err)).lower()


def _as_path(path: str | os.PathLike[str]) -> Path:
    return Path(os.fspath(path))


def load_certificate(path: Path, what: str = "certificate") -> x509.Certificate:
    """Load the first PEM certificate in ``path``, with one-line errors."""
    return load_certificate_with_pem(path, what)[0]


def load_certificate_with_pem(
    path: Path, what: str = "certificate"
) -> tuple[x509.Certificate, bytes]:
    """``load_certificate``, and the file's bytes as read (to hand them on unchanged)."""
    data = _read_file(path, what)
    try:
        return x509.load_pem_x509_certificate(data), data
    except ValueError as err:
        raise MalformedFileError(f"{what} {path} is not a PEM certificate") from err


def load_certificates(path: Path, what: str = "certificates") -> list[x509.Certificate]:
    """Load every PEM certificate in ``path`` (a trust bundle), with one-line errors."""
    data = _read_file(path, what)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as err:
        raise MalformedFileError(f"{what} {path} is not a PEM certificate bundle") from err
    return certs


def common_name(cert: x509.Certificate) -> str | None:
    """The certificate's first subject CN, if it has one."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed ``cert`` (names and signature; not dates or usages)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_encrypted_key(path: Path) -> bool:
    """Whether the PEM private key in ``path`` is encrypted (False if it cannot be read)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return any(marker in data for marker in _ENCRYPTED_MARKERS)


def check_key_permissions(path: str | os.PathLike[str]) -> None:
    """Refuse a private key that group or others may read or write, with the chmod to run.

    The gateway calls this before it serves; ``dockward ca status`` reports it.
    """
    key = _as_path(path)
    try:
        info = key.stat()
    except FileNotFoundError as err:
        raise MissingFileError(f"private key {key} does not exist") from err
    except OSError as err:
        raise UnreadableFileError(f"cannot read private key {key}: {os_error_reason(err)}") from err
    loose = stat.S_IMODE(info.st_mode) & 0o077
    if loose:
        raise KeyPermissionError(
            f"private key {key} is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}): run `chmod 600 {shlex.quote(str(key))}`"
        )


def load_private_key(
    path: Path, passphrase: bytes | None = None, what: str = "key"
) -> CertificateIssuerPrivateKeyTypes:
    """Load a PEM private key, telling a wrong passphrase apart from a missing one."""
    data = _read_file(path, what)
    encrypted = any(marker in data for marker in _ENCRYPTED_MARKERS)
    if encrypted and not passphrase:
        raise PassphraseRequiredError(f"{what} {path} is encrypted: a passphrase is needed")
    if not encrypted and passphrase:
        raise PassphraseError(f"{what} {path} is not encrypted, but a passphrase was given")
    try:
        key = serialization.load_pem_private_key(data, passphrase or None)
    except ValueError as err:
        if encrypted:
            raise WrongPassphraseError(f"wrong passphrase for {what} {path}") from err
        raise MalformedFileError(f"{what} {path} is not a PEM private key") from err
    except TypeError as err:  # the encryption marker sat somewhere we did not expect
        raise PassphraseError(f"{what} {path}: {err}") from err
    if not isinstance(key, _SIGNING_KEY_TYPES):
        raise MalformedFileError(f"{what} {path} holds a key type that cannot sign")
    return key


def _private_pem(key: CertificateIssuerPrivateKeyTypes, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption
    if passphrase is None:
        encryption = serialization.NoEncryption()
    elif not passphrase:
        raise PassphraseError("the passphrase is empty")
    else:
        encryption = serialization.BestAvailableEncryption(passphrase)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


# -- names -------------------------------------------------------------------------------------


def validate_server_name(name: str) -> x509.GeneralName:
    """Turn a host name or IP literal into the SAN entry a client will match it against."""
    if not name:
        raise InvalidNameError("a server name cannot be empty")
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        if getattr(ip, "scope_id", None):
            raise InvalidNameError(
                f"invalid server name {name!r}: an IP address in a certificate has no zone"
            )
        return x509.IPAddress(ip)
    lowered = name.lower()
    labels = lowered.split(".")
    if labels[0] == "*" and len(labels) > 2:
        labels = labels[1:]  # a wildcard stands for exactly one leftmost label
    if (
        len(lowered) > 253
        or not all(_DNS_LABEL.fullmatch(label) for label in labels)
        # 256.1.1.1 or 10.1 must not slip in as a DNS name that no client would ever match
        or labels[-1].isdigit()
    ):
        raise InvalidNameError(
            f"invalid server name {name!r}: not an IP address or a DNS name "
            "(letters, digits and hyphens in dot-separated labels)"
        )
    return x509.DNSName(lowered)


def validate_client_name(name: str) -> str:
    """Check that a client name is safe as a path component, a CN and a URI; return it."""
    if not _CLIENT_NAME.fullmatch(name):
        raise InvalidNameError(
            f"invalid client name {name!r}: use 1 to 64 of A-Z a-z 0-9 . _ - "
            "and do not start with a dot"
        )
    return name


def client_uri(name: str) -> str:
    """The URI SAN that carries a client's identity: ``dockward:client:NAME``."""
    return CLIENT_URI_PREFIX + validate_client_name(name)


# -- certificates ------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _random_serial() -> int:
    while True:
        serial = secrets.randbits(SERIAL_BITS)
        if serial:
            return serial


def _signing_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def _check_days(days: int) -> dt.timedelta:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise LifetimeError(f"a lifetime must be a whole number of days, at least 1 (got {days!r})")
    return dt.timedelta(days=days)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def lifetime(days: int | None, hours: int | None = None, *, default_days: int) -> dt.timedelta:
    """A certificate lifetime from ``--days`` and ``--hours`` (which add up).

    Neither given means ``default_days``; with only ``days``, it must be at least 1; with
    ``hours``, both must be whole and not negative and the sum at least one hour.
    """
    if hours is None:
        return _check_days(default_days if days is None else days)
    day_count = 0 if days is None else days
    if not (_whole(day_count) and _whole(hours)) or day_count < 0 or hours < 0:
        raise LifetimeError(
            f"a lifetime must be whole, non-negative days and hours (got {days!r} days, "
            f"{hours!r} hours)"
        )
    total = dt.timedelta(days=day_count, hours=hours)
    if total < dt.timedelta(hours=1):
        raise LifetimeError("a lifetime must be at least 1 hour (got 0 days and 0 hours)")
    return total


def describe_lifetime(length: dt.timedelta) -> str:
    """``30-day``, ``12-hour`` or ``2-day 6-hour``: for messages about a lifetime."""
    hours = int(length.total_seconds() // 3600)
    days, hours = divmod(hours, 24)
    if not hours:
        return f"{days}-day"
    if not days:
        return f"{hours}-hour"
    return f"{days}-day {hours}-hour"


def _key_usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=sign_certs,
        crl_sign=sign_certs,
        encipher_only=False,
        decipher_only=False,
    )


def _spki(public: CertificatePublicKeyTypes) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _date(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class IssuedCertificate:
    """A leaf certificate with its key and the CA that signed it."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate
    serial: int
    not_after: dt.datetime

    def cert_pem(self) -> bytes:
        """The certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (the docker CLI refuses encrypted keys)."""
        return _private_pem(self.key)

    def ca_pem(self) -> bytes:
        """The issuing CA certificate as PEM: the trust anchor for the other side."""
        return self.ca_cert.public_bytes(serialization.Encoding.PEM)

    def write(self, cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]) -> None:
        """Write the certificate (0644) and the key (0600), creating missing dirs 0700."""
        write_private_file(_as_path(key_path), self.key_pem())
        write_public_file(_as_path(cert_path), self.cert_pem())

    def write_bundle(
        self, directory: str | os.PathLike[str], *, trust_pem: bytes | None = None
    ) -> Path:
        """Write ``ca.pem``, ``cert.pem`` and ``key.pem`` for ``DOCKER_CERT_PATH``; return it.

        ``ca.pem`` is the issuing CA, or ``trust_pem`` when given (during a CA rotation the
        client must trust the old and the new CA).
        """
        target = _as_path(directory)
        ensure_private_dir(target)
        write_private_file(target / BUNDLE_KEY, self.key_pem())
        write_public_file(target / BUNDLE_CERT, self.cert_pem())
        write_public_file(target / BUNDLE_CA, self.ca_pem() if trust_pem is None else trust_pem)
        return target


@dataclass(frozen=True)
class Revocation:
    """One entry of a CRL: which certificate, since when, and why."""

    serial: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate and its signing key."""

    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    @classmethod
    def create(
        cls,
        common_name: str = "dockward CA",
        days: int = DEFAULT_CA_DAYS,
        *,
        now: dt.datetime | None = None,
    ) -> CertificateAuthority:
        """Make a new self-signed CA (ECDSA P-256, path length 0); ``now`` is for tests."""
        length = _check_days(days)
        if not common_name or len(common_name) > MAX_COMMON_NAME:
            raise InvalidNameError(f"a CA name must have 1 to {MAX_COMMON_NAME} characters")
        start = now.replace(microsecond=0) if now else _now()
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(_random_serial())
            .not_valid_before(start - CLOCK_SKEW)
            .not_valid_after(start + length)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(sign_certs=True), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert=cert, key=key)

    @classmethod
    def load(
        cls,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str],
        passphrase: bytes | None = None,
        *,
        now: dt.datetime | None = None,
        allow_expired: bool = False,
    ) -> CertificateAuthority:
        """Load a CA written by ``write`` (or any CA that may sign), checking it can still issue.

        ``allow_expired`` is for replacing an expired CA: it still signs nothing
        (``issue_*`` check the date again).
        """
        cert_file, key_file = _as_path(cert_path), _as_path(key_path)
        cert = load_certificate(cert_file, "CA certificate")
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise NotACAError(f"{cert_file} is not a CA certificate (basicConstraints CA:false)")
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and not usage.key_cert_sign:
            raise NotACAError(f"{cert_file} is not a CA certificate (keyUsage lacks keyCertSign)")
        moment = now or _now()
        if cert.not_valid_after_utc < moment and not allow_expired:
            raise ExpiredCAError(
                f"the CA certificate {cert_file} expired on {_date(cert.not_valid_after_utc)}"
            )
        key = load_private_key(key_file, passphrase, "CA key")
        if _spki(key.public_key()) != _spki(cert.public_key()):
            raise KeyMismatchError(f"CA key {key_file} does not belong to {cert_file}")
        return cls(cert=cert, key=key)

    @property
    def not_after(self) -> dt.datetime:
        """When the CA certificate expires (UTC)."""
        return self.cert.not_valid_after_utc

    @property
    def serial(self) -> int:
        """The CA certificate's serial number."""
        return self.cert.serial_number

    def cert_pem(self) -> bytes:
        """The CA certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, passphrase: bytes | None = None) -> bytes:
        """The CA key as PKCS#8 PEM, encrypted when a passphrase is given."""
        return _private_pem(self.key, passphrase)

    def write(
        self,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str],
        passphrase: bytes | None = None,
    ) -> None:
        """Write the certificate (0644) and the key (0600, encrypted with ``passphrase``)."""
        write_private_file(_as_path(key_path), self.key_pem(passphrase))
        write_public_file(_as_path(cert_path), self.cert_pem())

    def issue_server(
        self,
        names: Sequence[str],
        days: int | None = None,
        *,
        hours: int | None = None,
        now: dt.datetime | None = None,
    ) -> IssuedCertificate:
        """Issue a serverAuth certificate for host names and IP literals.

        Each name becomes a DNS or IP SAN (clients match only SANs; the CN is the first name,
        for people reading the certificate). The lifetime is ``days`` plus ``hours``, by
        default 90 days.
        """
        if isinstance(names, str):
            names = [names]
        if not names:
            raise InvalidNameError("a server certificate needs at least one name")
        sans = _unique(validate_server_name(name) for name in names)
        first = names[0].lower()
        san = x509.SubjectAlternativeName(sans)
        if len(first) <= MAX_COMMON_NAME:
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first)])
        else:
            subject = x509.Name([])
        return self._issue(
            subject,
            san,
            # RFC 5280: with an empty subject the SAN must be critical.
            san_critical=not subject,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            length=lifetime(days, hours, default_days=DEFAULT_SERVER_DAYS),
            now=now,
        )

    def issue_client(
        self,
        name: str,
        days: int | None = None,
        *,
        hours: int | None = None,
        role: str | None = None,
        now: dt.datetime | None = None,
    ) -> IssuedCertificate:
        """Issue a clientAuth certificate: CN = ``name`` and a URI SAN ``dockward:client:NAME``,
        plus ``dockward:role:ROLE`` when a ``role`` is given (the policy's ``role:`` selector).

        Go's TLS stack and OpenSSL accept client certificates without any SAN, but the URI SAN
        gives the gateway an identity that cannot be confused with a host name, and
        ``cryptography.x509.verification``'s client verifier refuses client certificates that
        have no SAN at all. ``name`` must be a safe file name (see ``validate_client_name``); the
        key is never encrypted, because the docker CLI refuses encrypted client keys. The
        lifetime is ``days`` plus ``hours``, by default 30 days.
        """
        validate_client_name(name)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        uris = [client_uri(name)] + ([ROLE_URI_PREFIX + role] if role else [])
        san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri) for uri in uris])
        return self._issue(
            subject,
            san,
            san_critical=False,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            length=lifetime(days, hours, default_days=DEFAULT_CLIENT_DAYS),
            now=now,
        )

    def _issue(
        self,
        subject: x509.Name,
        san: x509.SubjectAlternativeName,
        *,
        san_critical: bool,
        usage: x509.ObjectIdentifier,
        length: dt.timedelta,
        now: dt.datetime | None,
    ) -> IssuedCertificate:
        start = now.replace(microsecond=0) if now else _now()
        if self.not_after < start:
            raise ExpiredCAError(f"the CA certificate expired on {_date(self.not_after)}")
        not_after = start + length
        if not_after > self.not_after:
            raise LifetimeError(
                f"a {describe_lifetime(length)} certificate would expire on {_date(not_after)}, "
                f"after the CA itself ({_date(self.not_after)}); choose fewer days or rotate "
                "the CA"
            )
        key = ec.generate_private_key(ec.SECP256R1())
        serial = _random_serial()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(start - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(sign_certs=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(san, critical=san_critical)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(self._authority_key_identifier(), critical=False)
            .sign(self.key, _signing_hash(self.key))
        )
        return IssuedCertificate(
            cert=cert,
            key=key,
            ca_cert=self.cert,
            serial=serial,
            not_after=cert.not_valid_after_utc,
        )

    def sign_crl(
        self,
        revocations: Iterable[Revocation],
        *,
        number: int,
        days: int = DEFAULT_CRL_DAYS,
        now: dt.datetime | None = None,
    ) -> x509.CertificateRevocationList:
        """A v2 CRL of ``revocations`` with CRL number ``number``, valid for ``days``.

        lastUpdate is backdated like the certificates, so that a verifier whose clock is a
        little behind does not find the CRL "not yet valid" and lock everyone out.
        """
        length = _check_days(days)
        start = now.replace(microsecond=0) if now else _now()
        if self.not_after < start:
            raise ExpiredCAError(f"the CA certificate expired on {_date(self.not_after)}")
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(start - CLOCK_SKEW)
            .next_update(start + length)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(self._authority_key_identifier(), critical=False)
        )
        for revocation in sorted(revocations, key=lambda r: r.serial):
            entry = x509.RevokedCertificateBuilder().serial_number(revocation.serial)
            entry = entry.revocation_date(revocation.revoked_at)
            # RFC 5280 §5.3.1: the reason code "unspecified" SHOULD be left out.
            if revocation.reason is not x509.ReasonFlags.unspecified:
                entry = entry.add_extension(x509.CRLReason(revocation.reason), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        return builder.sign(self.key, _signing_hash(self.key))

    def _authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        try:
            ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _unique(entries: Iterable[x509.GeneralName]) -> list[x509.GeneralName]:
    seen: list[x509.GeneralName] = []
    for entry in entries:
        if entry not in seen:
            seen.append(entry)
    return seen
