"""Who is on the other end of a connection: ``PeerIdentity``, built from cryptography only.

For TLS peers it is the verified client certificate (subject CN, SANs, SPKI SHA-256, serial,
not-after); for unix-socket peers it is the kernel's ``SO_PEERCRED`` (uid, gid, pid). Never a
header, never a source address alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import struct
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# A client certificate issued with ``dockward ca issue client NAME --role ROLE`` carries the URI
# SAN ``dockward:role:ROLE``; the policy's ``role:`` selector matches it.
ROLE_URI_PREFIX = "dockward:role:"


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """The authenticated peer of one connection."""

    kind: str  # "tls" or "unix"
    common_name: str | None = None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    spki_sha256: str | None = None
    serial: int | None = None
    not_after: dt.datetime | None = None
    uid: int | None = None
    gid: int | None = None
    pid: int | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def certified_roles(self) -> tuple[str, ...]:
        """The roles the issuing CA wrote into the certificate (``dockward:role:`` URI SANs)."""
        prefix = ROLE_URI_PREFIX
        return tuple(uri[len(prefix) :] for uri in self.uris if uri.startswith(prefix))

    @property
    def label(self) -> str:
        """A short human name for logs: ``cn:admin`` or ``uid:1000``."""
        if self.kind == "tls":
            return f"cn:{self.common_name}" if self.common_name else f"serial:{self.serial}"
        return f"uid:{self.uid}"

    def as_log(self) -> dict[str, object]:
        """The identity as it appears in an access-log line."""
        if self.kind == "tls":
            return {
                "kind": "tls",
                "cn": self.common_name,
                "serial": str(self.serial),
                "spki_sha256": self.spki_sha256,
            }
        return {"kind": "unix", "uid": self.uid, "gid": self.gid, "pid": self.pid}


@lru_cache(maxsize=4096)
def identity_from_certificate(der: bytes) -> PeerIdentity:
    """Build the identity of a verified client certificate (cached: one parse per cert)."""
    cert = x509.load_der_x509_certificate(der)
    cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    common_name = str(cns[0].value) if cns else None
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
        uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return PeerIdentity(
        kind="tls",
        common_name=common_name,
        dns_names=dns,
        ip_addresses=ips,
        uris=uris,
        spki_sha256=hashlib.sha256(spki).hexdigest(),
        serial=cert.serial_number,
        not_after=cert.not_valid_after_utc,
    )


_PEERCRED = struct.Struct("3i")


def identity_from_unix_socket(sock: socket.socket) -> PeerIdentity:
    """The identity of a unix-socket peer from ``SO_PEERCRED``."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, gid = _PEERCRED.unpack(raw)
    return PeerIdentity(kind="unix", uid=uid, gid=gid, pid=pid)
