"""TLS handshake messages as the client sees them, observed through OpenSSL's message callback.

``HandshakeObserver`` is attached to one probe's ``SSLContext``; OpenSSL hands it every
decrypted handshake message (TLS 1.3 included) and every alert, even when the handshake then
fails. That is how a probe sees the server's Certificate and CertificateRequest without a
client certificate and without completing the handshake (the recipe in notes/auditors.md §7).

Parsing is pure: ``parse_certificate_message`` and ``parse_certificate_request`` take the bytes
of one handshake message (4-byte header included) and never raise on garbage, they return less.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

# TLS numbers (RFC 8446 §4, RFC 5246 §7.4).
SERVER_HELLO = 2
CERTIFICATE = 11
CERTIFICATE_REQUEST = 13
CONTENT_ALERT = 21
CONTENT_HANDSHAKE = 22
EXT_CERTIFICATE_AUTHORITIES = 47
VERSION_NAMES = {0x0300: "SSLv3", 0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2",
                 0x0304: "TLSv1.3"}  # fmt: skip
_EXT_SUPPORTED_VERSIONS = 43

# DER attribute OIDs (dotted) to the short names of RFC 4514 / OpenSSL.
_OID_NAMES = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
}  # fmt: skip


@dataclass
class HandshakeObserver:
    """What one handshake showed: versions, the server's certificate, a certificate request."""

    records_seen: bool = False
    server_hello_version: str | None = None
    certificate_der: bytes | None = None
    certificate_requested: bool = False
    client_ca_names: list[str] = field(default_factory=list)
    alerts: list[int] = field(default_factory=list)

    def attach(self, context: ssl.SSLContext) -> None:
        # _msg_callback is private but has been stable since CPython 3.8; without it the probe
        # still works, from the handshake outcome and the HTTP answer alone.
        setattr(context, "_msg_callback", self._callback)  # noqa: B010

    def _callback(
        self, _conn: Any, direction: str, _version: Any, content_type: Any, _msg: Any, data: bytes
    ) -> None:
        if direction != "read":
            return
        kind = int(content_type)
        if kind == CONTENT_ALERT and len(data) >= 2:
            self.records_seen = True
            self.alerts.append(data[1])
        elif kind == CONTENT_HANDSHAKE and data:
            self.records_seen = True
            self._handshake(data)

    def _handshake(self, data: bytes) -> None:
        kind = data[0]
        if kind == SERVER_HELLO:
            self.server_hello_version = parse_server_hello_version(data)
        elif kind == CERTIFICATE and self.certificate_der is None:
            self.certificate_der = parse_certificate_message(data, tls13=self._tls13)
        elif kind == CERTIFICATE_REQUEST:
            self.certificate_requested = True
            self.client_ca_names = parse_certificate_request(
                data, version=self.server_hello_version
            )

    @property
    def _tls13(self) -> bool:
        return self.server_hello_version == "TLSv1.3"


class _Reader:
    """Bounds-checked reads of length-prefixed fields; raises ``ValueError`` when short."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, n: int) -> bytes:
        return self.take(self.uint(n))

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def parse_server_hello_version(message: bytes) -> str | None:
    """The version a ServerHello selected (``supported_versions`` wins over legacy_version)."""
    try:
        r = _Reader(message, 4)
        version = r.uint(2)
        r.take(32)  # random
        r.vector(1)  # session id
        r.take(3)  # cipher suite, compression
        if r.left:
            extensions = _Reader(r.vector(2))
            while extensions.left:
                ext_type, body = extensions.uint(2), extensions.vector(2)
                if ext_type == _EXT_SUPPORTED_VERSIONS and len(body) == 2:
                    version = int.from_bytes(body, "big")
    except ValueError:
        return None
    return VERSION_NAMES.get(version, f"0x{version:04x}")


def parse_certificate_message(message: bytes, *, tls13: bool) -> bytes | None:
    """The DER of the first (leaf) certificate in a Certificate message."""
    try:
        r = _Reader(message, 4)
        if tls13:
            r.vector(1)  # certificate_request_context
        entries = _Reader(r.vector(3))
        return entries.vector(3) or None
    except ValueError:
        return None


def parse_certificate_request(message: bytes, *, version: str | None) -> list[str]:
    """The distinguished names of the CAs a CertificateRequest accepts (often empty)."""
    try:
        r = _Reader(message, 4)
        if version == "TLSv1.3":
            r.vector(1)  # certificate_request_context
            extensions = _Reader(r.vector(2))
            while extensions.left:
                ext_type, body = extensions.uint(2), extensions.vector(2)
                if ext_type == EXT_CERTIFICATE_AUTHORITIES:
                    return _names(_Reader(body).vector(2))
            return []
        r.vector(1)  # certificate_types
        if version not in ("TLSv1.0", "TLSv1.1"):
            r.vector(2)  # TLS 1.2: supported_signature_algorithms
        return _names(r.vector(2))
    except ValueError:
        return []


def _names(blob: bytes) -> list[str]:
    r = _Reader(blob)
    names = []
    while r.left:
        names.append(der_name_to_string(r.vector(2)))
    return names


def der_name_to_string(der: bytes) -> str:
    """An X.501 Name in DER as ``CN=...,O=...`` (most specific first, like RFC 4514)."""
    try:
        parts: list[str] = []
        for rdn in _der_children(_der_value(der, 0x30)):
            for atv in _der_children(_der_value(rdn, 0x31)):
                oid_tlv, value_tlv = _der_children(_der_value(atv, 0x30))[:2]
                oid = _decode_oid(_der_value(oid_tlv, 0x06))
                value = _der_value(value_tlv, None)
                text = value.decode("utf-16-be" if value_tlv[0] == 0x1E else "utf-8", "replace")
                parts.append(f"{_OID_NAMES.get(oid, oid)}={_escape(text)}")
        return ",".join(reversed(parts))
    except (ValueError, IndexError):
        return der.hex()


def _escape(value: str) -> str:
    """RFC 4514 escaping of an attribute value."""
    out = "".join(f"\\{c}" if c in ',+"\\<>;' else c for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out


def _der_header(data: bytes) -> tuple[int, int, int]:
    """``(tag, header length, content length)`` of the TLV at the start of ``data``."""
    if len(data) < 2:
        raise ValueError("short DER")
    tag, first = data[0], data[1]
    if first < 0x80:
        return tag, 2, first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        raise ValueError("bad DER length")
    return tag, 2 + count, int.from_bytes(data[2 : 2 + count], "big")


def _der_value(tlv: bytes, tag: int | None) -> bytes:
    actual, header, length = _der_header(tlv)
    if tag is not None and actual != tag:
        raise ValueError("unexpected DER tag")
    if header + length > len(tlv):
        raise ValueError("truncated DER")
    return tlv[header : header + length]


def _der_children(content: bytes) -> list[bytes]:
    children, pos = [], 0
    while pos < len(content):
        _, header, length = _der_header(content[pos:])
        children.append(content[pos : pos + header + length])
        pos += header + length
    if pos != len(content):
        raise ValueError("trailing DER")
    return children


def _decode_oid(content: bytes) -> str:
    if not content:
        raise ValueError("empty OID")
    arcs = [min(content[0] // 40, 2)]
    arcs.append(content[0] - 40 * arcs[0])
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(map(str, arcs))
