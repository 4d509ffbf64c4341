"""The certificate report (nmap ssl-cert parity) and every certificate check."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dockward.pki.ca import CertificateAuthority
from dockward.scan.tlsinfo import (
    check_certificate,
    describe_certificate,
    format_ssl_cert,
    host_matches,
)

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _self_signed(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    algorithm: hashes.HashAlgorithm,
    sans: list[x509.GeneralName],
    eku: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "docker-host"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ops")])  # fmt: skip
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=10))
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(key, algorithm)


@pytest.fixture(scope="module")
def ca_issued() -> bytes:
    ca = CertificateAuthority.create("report CA", now=NOW - dt.timedelta(days=10))
    issued = ca.issue_server(
        ["docker.example", "127.0.0.1"], days=90, now=NOW - dt.timedelta(days=1)
    )
    return _der(issued.cert)


def test_describe_matches_nmap_fields(ca_issued: bytes) -> None:
    info = describe_certificate(ca_issued)
    assert info.subject == "commonName=docker.example"
    assert info.issuer == "commonName=report CA"
    assert info.subject_alt_names == ("DNS:docker.example", "IP Address:127.0.0.1")
    assert (info.public_key_type, info.public_key_bits, info.public_key_curve) == (
        "ec", 256, "secp256r1")  # fmt: skip
    assert info.signature_algorithm == "ecdsa-with-SHA256"
    assert len(info.sha256) == 64 and len(info.sha1) == 40 and len(info.md5) == 32
    assert not info.self_signed and info.server_auth is True
    assert info.pem.startswith("-----BEGIN CERTIFICATE-----")
    lines = format_ssl_cert(info)
    assert [line.split(":")[0] for line in lines] == [
        "Subject", "Subject Alternative Name", "Issuer", "Public Key type", "Public Key bits",
        "Signature Algorithm", "Not valid before", "Not valid after", "MD5", "SHA-1", "SHA-256",
    ]  # fmt: skip
    assert lines[-1] == "SHA-256: " + " ".join(info.sha256[i : i + 4] for i in range(0, 64, 4))
    assert lines[6] == f"Not valid before: {info.not_before:%Y-%m-%dT%H:%M:%S}"


def test_good_certificate_has_no_findings(ca_issued: bytes) -> None:
    info = describe_certificate(ca_issued)
    assert check_certificate(info, "127.0.0.1", NOW) == []
    assert check_certificate(info, "docker.example", NOW) == []


def _ids(info: object, host: str, now: dt.datetime) -> set[str]:
    return {e.check for e in check_certificate(info, host, now)}  # type: ignore[arg-type]


def test_expiry_checks(ca_issued: bytes) -> None:
    info = describe_certificate(ca_issued)
    assert _ids(info, "127.0.0.1", NOW + dt.timedelta(days=80)) == {"DW-CERT-EXPIRING"}
    assert _ids(info, "127.0.0.1", NOW + dt.timedelta(days=100)) == {"DW-CERT-EXPIRED"}
    assert _ids(info, "127.0.0.1", NOW - dt.timedelta(days=2)) == {"DW-CERT-NOT-YET-VALID"}


def test_self_signed_sha1_weak_rsa_mismatch_and_usage() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cert = _self_signed(key, hashes.SHA256(), [x509.DNSName("other.example")],
                        [ExtendedKeyUsageOID.CLIENT_AUTH])  # fmt: skip
    info = describe_certificate(_der(cert))
    assert info.signature_algorithm == "sha256WithRSAEncryption"
    # cryptography no longer signs with SHA-1: the check reads the algorithm's name only
    info = info.model_copy(update={"signature_algorithm": "sha1WithRSAEncryption"})
    assert (info.public_key_type, info.public_key_bits) == ("rsa", 1024)
    assert info.self_signed and info.server_auth is False
    assert _ids(info, "127.0.0.1", NOW) == {
        "DW-CERT-SELF-SIGNED",
        "DW-CERT-WEAK-SIGNATURE",
        "DW-CERT-WEAK-KEY",
        "DW-CERT-NAME-MISMATCH",
        "DW-CERT-NO-SERVER-AUTH",
        "DW-CERT-EXPIRING",  # ten days left
    }
    assert "subjectAltName" not in format_ssl_cert(info)[1]


def test_host_matching_rules() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    info = describe_certificate(
        _der(_self_signed(key, hashes.SHA256(), [x509.DNSName("*.docker.example")]))
    )
    assert host_matches(info, "a.docker.example")
    assert not host_matches(info, "docker.example")
    assert not host_matches(info, "a.b.docker.example")
    assert not host_matches(info, "127.0.0.1")
    no_san = describe_certificate(_der(_self_signed(key, hashes.SHA256(), [])))
    assert host_matches(no_san, "docker-host")
