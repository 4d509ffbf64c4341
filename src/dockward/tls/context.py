"""The server context: mutual TLS with the dockward CA only, modern suites only, two backends.

TLS 1.2 minimum (1.3 preferred by OpenSSL), ECDHE with AEAD ciphers for 1.2 (every 1.3 suite is
AEAD), ALPN ``http/1.1`` (a client offering only h2 gets no ALPN and speaks HTTP/1.1 or fails),
client certificate required and verified against the given CA bundle and never the system roots,
no session resumption, no compression, no renegotiation. The bundled backend picks the suite in
Go's order, as dockerd does (AES-128-GCM first, which is cheaper per handshake and per byte than
AES-256-GCM, unless the client lists ChaCha20 first) and sends only the certificates of the
server's file; Python's ``ssl`` cannot order the TLS 1.3 suites, so there the client's preference
decides. OpenSSL checks the client certificate's purpose (clientAuth) on its own, so a server
certificate presented as a client certificate is refused. With a ``RevocationCheck`` the leaf
certificate is checked for revocation too, failing closed.

Two backends build the same context: Python's ``ssl`` (the system OpenSSL) and the OpenSSL that
``cryptography`` bundles (``tls.bundled``), which spends less CPU per handshake. ``TLSBackend``
names them, ``DEFAULT_BACKEND`` picks one, and ``build_context`` is the one place that builds
either; ``TLSServerSession`` drives whichever it is given.
"""

from __future__ import annotations

import enum
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TypeAlias

from dockward.errors import UsageError
from dockward.tls.bundled import BundledServerContext
from dockward.tls.revocation import RevocationCheck

# Both lists in the order of Go's crypto/tls (so dockerd's): AES-128-GCM, AES-256-GCM, ChaCha20.
TLS12_CIPHERS = (
    "ECDHE+AES128+AESGCM:ECDHE+AES256+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!SHA1:!SHA256:!SHA384"
)
TLS13_SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
ALPN_PROTOCOL = "http/1.1"
# Key exchange groups, as Go's crypto/tls (and so dockerd) offers them: the post-quantum hybrid
# first, then X25519 and the NIST curves; no finite-field groups, whose 8192-bit variant would let
# any client spend tens of milliseconds of our CPU per handshake. The hybrid costs about 0.1 ms
# more per handshake than X25519 alone, with the clients that offer it (Go 1.24: docker CLI 28).
# Python's ssl cannot set a list (it keeps OpenSSL 3.0's defaults, which include ffdhe).
KEY_EXCHANGE_GROUPS = "X25519MLKEM768:X25519:P-256:P-384:P-521"

ServerContext: TypeAlias = ssl.SSLContext | BundledServerContext


class TLSBackend(enum.Enum):
    """Which OpenSSL serves the handshakes and records."""

    PYTHON_SSL = "python-ssl"  # Python's ssl module, the system OpenSSL
    BUNDLED_OPENSSL = "bundled-openssl"  # cryptography's OpenSSL, through its cffi bindings


# The bundled OpenSSL (4.0 with cryptography 48) spends about a quarter less CPU per mutual-TLS
# handshake than the system OpenSSL 3.0 behind Python's ssl: see bench/handshake.py.
DEFAULT_BACKEND = TLSBackend.BUNDLED_OPENSSL

# Overrides DEFAULT_BACKEND for a process (benchmarks, or to fall back without a rebuild).
BACKEND_VARIABLE = "DOCKWARD_TLS_BACKEND"


def selected_backend(environ: Mapping[str, str] = os.environ) -> TLSBackend:
    """``DEFAULT_BACKEND``, unless ``DOCKWARD_TLS_BACKEND`` names another."""
    value = environ.get(BACKEND_VARIABLE, "").strip()
    if not value:
        return DEFAULT_BACKEND
    try:
        return TLSBackend(value)
    except ValueError:
        names = ", ".join(backend.value for backend in TLSBackend)
        raise UsageError(
            f"{BACKEND_VARIABLE}={value!r} names no TLS backend: use {names}"
        ) from None


def build_context(
    backend: TLSBackend,
    cert: Path,
    key: Path,
    ca_bundle: Path,
    revocation: RevocationCheck | None = None,
) -> ServerContext:
    """A server context of ``backend`` for ``cert``/``key``, requiring clients of ``ca_bundle``."""
    if backend is TLSBackend.BUNDLED_OPENSSL:
        check_readable(cert, key, ca_bundle)
        return BundledServerContext(
            cert,
            key,
            ca_bundle,
            ciphers=TLS12_CIPHERS,
            suites=TLS13_SUITES,
            groups=KEY_EXCHANGE_GROUPS,
            alpn=ALPN_PROTOCOL,
            revocation=revocation,
        )
    context = build_server_context(cert, key, ca_bundle)
    if revocation is not None:
        # OpenSSL reads the CRL file itself and finds the leaf's CRL in the store by issuer name
        # (checking its signature every handshake); without one (crl None) it refuses every
        # client certificate, and an expired one too.
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        if revocation.crl is not None:
            context.load_verify_locations(cafile=str(revocation.crl))
    return context


def check_readable(cert: Path, key: Path, ca_bundle: Path) -> None:
    """UsageError naming the first of the three files that cannot be read."""
    for what, path in (("server certificate", cert), ("server key", key), ("CA bundle", ca_bundle)):
        try:
            with open(path, "rb"):
                pass
        except OSError as err:
            raise UsageError(
                f"cannot read {what} {path}: {(err.strerror or str(err)).lower()}"
            ) from None


def build_server_context(cert: Path, key: Path, ca_bundle: Path) -> ssl.SSLContext:
    """A Python ``ssl`` server context for ``cert``/``key`` that requires clients signed by
    ``ca_bundle`` (no revocation check: ``build_context`` adds it)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= (
        ssl.OP_NO_TICKET | ssl.OP_NO_COMPRESSION | ssl.OP_SINGLE_ECDH_USE | ssl.OP_NO_RENEGOTIATION
    )
    # Python sets server preference on every context; the client's order is the one to follow.
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.num_tickets = 0
    ctx.set_alpn_protocols([ALPN_PROTOCOL])
    ctx.verify_mode = ssl.CERT_REQUIRED
    check_readable(cert, key, ca_bundle)
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as err:
        raise UsageError(f"cannot load server certificate {cert} with key {key}: {err}") from None
    try:
        ctx.load_verify_locations(cafile=str(ca_bundle))
    except (ssl.SSLError, OSError) as err:
        raise UsageError(f"cannot load CA bundle {ca_bundle}: {err}") from None
    return ctx
