"""Handshake message parsing: real encodings, and no exception on any truncation."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from dockward.pki.ca import CertificateAuthority
from dockward.scan.tlswire import (
    CERTIFICATE,
    CERTIFICATE_REQUEST,
    SERVER_HELLO,
    der_name_to_string,
    parse_certificate_message,
    parse_certificate_request,
    parse_server_hello_version,
)

NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc."),
        x509.NameAttribute(NameOID.COMMON_NAME, "dockward CA é"),
    ]
)


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _vec(n: int, data: bytes) -> bytes:
    return len(data).to_bytes(n, "big") + data


def _cert_der() -> bytes:
    ca = CertificateAuthority.create("wire CA", now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    return ca.cert.public_bytes(serialization.Encoding.DER)


def test_der_name_matches_rfc4514() -> None:
    der = NAME.public_bytes()
    assert der_name_to_string(der) == NAME.rfc4514_string()


def test_certificate_message_tls12_and_tls13() -> None:
    der = _cert_der()
    tls12 = _handshake(CERTIFICATE, _vec(3, _vec(3, der) + _vec(3, b"chain")))
    assert parse_certificate_message(tls12, tls13=False) == der
    entry = _vec(3, der) + _vec(2, b"")
    tls13 = _handshake(CERTIFICATE, _vec(1, b"") + _vec(3, entry))
    assert parse_certificate_message(tls13, tls13=True) == der


def test_certificate_request_ca_names_each_version() -> None:
    names = _vec(2, _vec(2, NAME.public_bytes()))
    tls12 = _handshake(CERTIFICATE_REQUEST, _vec(1, b"\x01\x40") + _vec(2, b"\x04\x03") + names)
    assert parse_certificate_request(tls12, version="TLSv1.2") == [NAME.rfc4514_string()]
    tls10 = _handshake(CERTIFICATE_REQUEST, _vec(1, b"\x01") + names)
    assert parse_certificate_request(tls10, version="TLSv1.0") == [NAME.rfc4514_string()]
    extension = (47).to_bytes(2, "big") + _vec(2, names)
    sigalgs = (13).to_bytes(2, "big") + _vec(2, _vec(2, b"\x04\x03"))
    tls13 = _handshake(CERTIFICATE_REQUEST, _vec(1, b"") + _vec(2, sigalgs + extension))
    assert parse_certificate_request(tls13, version="TLSv1.3") == [NAME.rfc4514_string()]
    empty13 = _handshake(CERTIFICATE_REQUEST, _vec(1, b"") + _vec(2, sigalgs))
    assert parse_certificate_request(empty13, version="TLSv1.3") == []


def test_server_hello_version_prefers_supported_versions() -> None:
    base = b"\x03\x03" + b"\x00" * 32 + _vec(1, b"") + b"\x13\x01\x00"
    assert parse_server_hello_version(_handshake(SERVER_HELLO, base)) == "TLSv1.2"
    ext = (43).to_bytes(2, "big") + _vec(2, b"\x03\x04")
    assert parse_server_hello_version(_handshake(SERVER_HELLO, base + _vec(2, ext))) == "TLSv1.3"
    legacy = b"\x03\x01" + base[2:]
    assert parse_server_hello_version(_handshake(SERVER_HELLO, legacy)) == "TLSv1.0"


@pytest.mark.parametrize("tls13", [False, True])
def test_truncated_messages_never_raise(tls13: bool) -> None:
    der = _cert_der()
    names = _vec(2, _vec(2, NAME.public_bytes()))
    messages = [
        _handshake(CERTIFICATE, (_vec(1, b"") if tls13 else b"") + _vec(3, _vec(3, der))),
        _handshake(CERTIFICATE_REQUEST, _vec(1, b"\x01") + _vec(2, b"\x04\x03") + names),
    ]
    version = "TLSv1.3" if tls13 else "TLSv1.2"
    for cut in range(len(messages[0])):
        assert parse_certificate_message(messages[0][:cut], tls13=tls13) is None
    for message in messages:
        for cut in range(len(message)):
            parse_certificate_request(message[:cut], version=version)
            parse_server_hello_version(message[:cut])
    for cut in range(len(NAME.public_bytes())):
        assert isinstance(der_name_to_string(NAME.public_bytes()[:cut]), str)
