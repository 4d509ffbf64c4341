"""The server certificate: parsed into ``CertificateInfo``, printed like nmap's ``ssl-cert``,
and checked (expiry, self-signed, weak signature or key, host name, key usage).

Pure functions of the certificate, the scanned host name and the time; no network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dockward.scan.findings import CertificateInfo, CheckId, Evidence

EXPIRY_WARNING = dt.timedelta(days=30)
_NMAP_FIELDS = (
    (NameOID.COMMON_NAME, "commonName"),
    (NameOID.ORGANIZATION_NAME, "organizationName"),
    (NameOID.STATE_OR_PROVINCE_NAME, "stateOrProvinceName"),
    (NameOID.COUNTRY_NAME, "countryName"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "organizationalUnitName"),
    (NameOID.LOCALITY_NAME, "localityName"),
)
_WEAK_HASHES = ("sha1", "md5", "md2", "md4")


def describe_certificate(der: bytes) -> CertificateInfo:
    """Parse a DER certificate into the fields nmap's ``ssl-cert`` prints, and a few more."""
    cert = x509.load_der_x509_certificate(der)
    key_type, bits, curve = _public_key(cert)
    return CertificateInfo(
        subject=_nmap_name(cert.subject),
        issuer=_nmap_name(cert.issuer),
        subject_alt_names=_sans(cert),
        serial=f"{cert.serial_number:x}",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        public_key_type=key_type,
        public_key_bits=bits,
        public_key_curve=curve,
        signature_algorithm=_signature_name(cert),
        sha256=hashlib.sha256(der).hexdigest(),
        sha1=hashlib.sha1(der).hexdigest(),  # a fingerprint, as nmap prints it
        md5=hashlib.md5(der).hexdigest(),
        self_signed=_self_signed(cert),
        server_auth=_server_auth(cert),
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


def format_ssl_cert(info: CertificateInfo) -> list[str]:
    """The lines nmap ``--script ssl-cert -v`` prints, in its order."""
    lines = [f"Subject: {info.subject}"]
    if info.subject_alt_names:
        lines.append(f"Subject Alternative Name: {', '.join(info.subject_alt_names)}")
    lines += [
        f"Issuer: {info.issuer}",
        f"Public Key type: {info.public_key_type}",
        f"Public Key bits: {info.public_key_bits}",
        f"Signature Algorithm: {info.signature_algorithm}",
        f"Not valid before: {info.not_before:%Y-%m-%dT%H:%M:%S}",
        f"Not valid after:  {info.not_after:%Y-%m-%dT%H:%M:%S}",
        f"MD5:     {_groups(info.md5)}",
        f"SHA-1:   {_groups(info.sha1)}",
        f"SHA-256: {_groups(info.sha256)}",
    ]
    return lines


CertCheck = Callable[[CertificateInfo, str, dt.datetime], str | None]


def _expired(info: CertificateInfo, _host: str, now: dt.datetime) -> str | None:
    if info.not_after < now:
        days = (now - info.not_after).days
        return f"not valid after {info.not_after:%Y-%m-%d %H:%M:%S} UTC ({days} days ago)"
    return None


def _not_yet_valid(info: CertificateInfo, _host: str, now: dt.datetime) -> str | None:
    if info.not_before > now:
        return f"not valid before {info.not_before:%Y-%m-%d %H:%M:%S} UTC"
    return None


def _expiring(info: CertificateInfo, _host: str, now: dt.datetime) -> str | None:
    if now <= info.not_after < now + EXPIRY_WARNING:
        days = (info.not_after - now).days
        return f"expires {info.not_after:%Y-%m-%d %H:%M:%S} UTC ({days} days left)"
    return None


def _self_signed_check(info: CertificateInfo, _host: str, _now: dt.datetime) -> str | None:
    return f"subject and issuer are both {info.subject}" if info.self_signed else None


def _weak_signature(info: CertificateInfo, _host: str, _now: dt.datetime) -> str | None:
    lowered = info.signature_algorithm.lower()
    weak = any(name in lowered for name in _WEAK_HASHES)
    return f"signature algorithm {info.signature_algorithm}" if weak else None


def _weak_key(info: CertificateInfo, _host: str, _now: dt.datetime) -> str | None:
    minimum = {"rsa": 2048, "dsa": 2048, "ec": 224}.get(info.public_key_type)
    if minimum and info.public_key_bits < minimum:
        return f"{info.public_key_type} key of {info.public_key_bits} bits (minimum {minimum})"
    return None


def _name_mismatch(info: CertificateInfo, host: str, _now: dt.datetime) -> str | None:
    if host_matches(info, host):
        return None
    names = ", ".join(info.subject_alt_names) or "no subjectAltName"
    return f"scanned as {host}; the certificate names {names}"


def _no_server_auth(info: CertificateInfo, _host: str, _now: dt.datetime) -> str | None:
    return "extendedKeyUsage without serverAuth" if info.server_auth is False else None


CERT_CHECKS: tuple[tuple[CheckId, CertCheck], ...] = (
    (CheckId.CERT_EXPIRED, _expired),
    (CheckId.CERT_NOT_YET_VALID, _not_yet_valid),
    (CheckId.CERT_EXPIRING, _expiring),
    (CheckId.CERT_SELF_SIGNED, _self_signed_check),
    (CheckId.CERT_WEAK_SIGNATURE, _weak_signature),
    (CheckId.CERT_WEAK_KEY, _weak_key),
    (CheckId.CERT_NAME_MISMATCH, _name_mismatch),
    (CheckId.CERT_NO_SERVER_AUTH, _no_server_auth),
)


def check_certificate(info: CertificateInfo, host: str, now: dt.datetime) -> list[Evidence]:
    """Every certificate check that fires, in table order."""
    found = []
    for check_id, check in CERT_CHECKS:
        evidence = check(info, host, now)
        if evidence is not None:
            found.append(Evidence(check_id, evidence))
    return found


def host_matches(info: CertificateInfo, host: str) -> bool:
    """RFC 6125 matching of ``host`` against the SANs (CN only when there is no SAN)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return f"IP Address:{address}" in info.subject_alt_names
    wanted = host.lower().rstrip(".")
    names = [s.removeprefix("DNS:") for s in info.subject_alt_names if s.startswith("DNS:")]
    if not info.subject_alt_names:
        names = [p.removeprefix("commonName=") for p in info.subject.split("/")
                 if p.startswith("commonName=")]  # fmt: skip
    return any(_dns_match(name.lower().rstrip("."), wanted) for name in names)


def _dns_match(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def _nmap_name(name: x509.Name) -> str:
    """nmap's ``stringify_name``: its four fields first, then every other attribute."""
    parts = []
    for oid, label in _NMAP_FIELDS:
        parts += [f"{label}={attr.value!s}" for attr in name.get_attributes_for_oid(oid)]
    known = {oid for oid, _ in _NMAP_FIELDS}
    for attr in name:
        if attr.oid not in known:
            label = attr.oid._name if attr.oid._name != "Unknown OID" else attr.oid.dotted_string
            parts.append(f"{label}={attr.value!s}")
    return "/".join(parts)


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    out = []
    for entry in san:
        if isinstance(entry, x509.DNSName):
            out.append(f"DNS:{entry.value}")
        elif isinstance(entry, x509.IPAddress):
            out.append(f"IP Address:{entry.value}")
        elif isinstance(entry, x509.UniformResourceIdentifier):
            out.append(f"URI:{entry.value}")
        elif isinstance(entry, x509.RFC822Name):
            out.append(f"email:{entry.value}")
        else:
            out.append(f"othername:{entry.value!s}")
    return tuple(out)


def _public_key(cert: x509.Certificate) -> tuple[str, int, str | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec", key.key_size, key.curve.name
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa", key.key_size, None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", 456, None
    return type(key).__name__.lower(), 0, None


def _signature_name(cert: x509.Certificate) -> str:
    # OpenSSL's long names, as nmap prints them (sha256WithRSAEncryption, ecdsa-with-SHA256).
    oid = cert.signature_algorithm_oid
    return _OPENSSL_SIG_NAMES.get(oid.dotted_string, oid._name)


_OPENSSL_SIG_NAMES = {
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.10": "rsassaPss",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.2.840.10040.4.3": "dsaWithSHA1",
    "1.3.101.112": "ED25519",
    "1.3.101.113": "ED448",
}


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):  # TypeError: unsupported key type
        return False
    return True


def _server_auth(cert: x509.Certificate) -> bool | None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return (
        ExtendedKeyUsageOID.SERVER_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku
    )


def _groups(hexdigest: str) -> str:
    return " ".join(hexdigest[i : i + 4] for i in range(0, len(hexdigest), 4))
