"""``--deep``: which TLS 1.0-1.2 cipher suites the server accepts, and which are weak.

One handshake per suite offered alone. A suite counts as accepted when the server's ServerHello
picks it, even if the handshake then fails for want of a client certificate: this is why the
enumeration still works against mutual TLS (sslscan reports no TLS 1.2 suites there). Only
suites the local OpenSSL can offer are tested; TLS 1.3 suites are fixed in dockerd and not
selectable from Python's ``ssl``, so only the negotiated one is reported.
"""

from __future__ import annotations

import asyncio
import ssl

from dockward.scan.probes import ALL_CIPHERS, TLS_VERSIONS, ProbeSettings, Unreachable, tls_attempt
from dockward.scan.targets import Endpoint

PER_ENDPOINT_CONNECTIONS = 5  # as sslyze: be gentle with one server
_NO_CLIENT_SUPPORT = ("PSK", "SRP", "GOST", "KRB5")
_STRONG_KEX = ("ECDHE-", "DHE-")
_AEAD = ("GCM", "CHACHA20", "CCM")
_BROKEN = ("RC4", "DES-CBC3", "3DES", "NULL", "EXP", "ADH", "AECDH", "MD5")


def candidate_suites(version: str) -> list[str]:
    """OpenSSL names of the suites this OpenSSL can offer for ``version`` (TLS 1.0-1.2)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers(ALL_CIPHERS)
    names = []
    for suite in context.get_ciphers():
        name = str(suite["name"])
        if name.startswith("TLS_") or any(tag in name for tag in _NO_CLIENT_SUPPORT):
            continue
        if version != "TLSv1.2" and str(suite.get("protocol")) == "TLSv1.2":
            continue  # AEAD and SHA-2 suites do not exist before TLS 1.2
        names.append(name)
    return sorted(set(names))


def is_weak_suite(name: str) -> bool:
    """Weak: no forward secrecy, not AEAD, or a broken cipher or hash."""
    return (
        not name.startswith(_STRONG_KEX)
        or not any(tag in name for tag in _AEAD)
        or any(tag in name for tag in _BROKEN)
    )


async def accepted_suites(
    endpoint: Endpoint, settings: ProbeSettings, version: str
) -> tuple[str, ...]:
    """The suites the server picks when each is offered alone with ``version``."""
    if version not in TLS_VERSIONS or version == "TLSv1.3":
        return ()
    gate = asyncio.Semaphore(PER_ENDPOINT_CONNECTIONS)

    async def one(name: str) -> str | None:
        async with gate:
            try:
                attempt = await tls_attempt(endpoint, settings, version=version, ciphers=name)
            except (Unreachable, ssl.SSLError):
                return None
            return name if attempt.accepted_version == version else None

    results = await asyncio.gather(*(one(name) for name in candidate_suites(version)))
    return tuple(name for name in results if name)
