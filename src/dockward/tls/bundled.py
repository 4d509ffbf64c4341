"""The OpenSSL that ``cryptography`` bundles, as a server context and over memory BIOs.

Python's ``ssl`` links the system OpenSSL (3.0 on Debian 12); ``cryptography`` carries its own,
newer one (4.0 in cryptography 48), whose mutual-TLS handshake costs clearly less CPU
(bench/handshake.py). This module drives it through the cffi bindings ``cryptography`` ships
(``cryptography.hazmat.bindings.openssl``, the layer pyOpenSSL is built on) with no wrapper in
between: one C call per step, records read into one scratch buffer per thread.

``BundledServerContext`` is configured like ``context.build_server_context``; the differences
are in how, not what:

* revocation: the CRL's signature and coverage are verified once per load (``pki.crl``), so a
  handshake only looks the leaf's serial up, in OpenSSL's verify callback, and sets the error
  OpenSSL's own CRL check sets (certificate revoked, unable to get certificate CRL, CRL has
  expired) so the client gets the same alert;
* resumption: the session cache is off, so nothing resumes; the bindings cannot set the TLS 1.3
  ticket count to 0, so a client gets two stateful tickets that no server can redeem.

``session.BundledSession`` is one server-side ``SSL`` of such a context with its two memory
BIOs. Each connection is used by one thread at a time, as the gateway's event loop does;
different connections may live in different threads (the scratch buffer is per thread).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.bindings.openssl.binding import Binding

from dockward.errors import UsageError
from dockward.tls.revocation import RevocationCheck

log = logging.getLogger("dockward.tls")

_binding = Binding()
lib: Any = _binding.lib
ffi: Any = _binding.ffi

OPENSSL_VERSION: str = ffi.string(lib.OpenSSL_version(lib.OPENSSL_VERSION)).decode()

# Ciphertext is read out of the memory BIO in one call when it fits: a partial read moves the
# rest of the BIO's data to its front, so a 256 KiB write read out in 256 KiB pieces costs three
# times the encryption itself. One record's plaintext is at most 16 KiB; uvloop hands over up to
# 256 KiB per read, which encrypts to a little more. Untouched pages cost no memory.
SCRATCH_SIZE = 1024 * 1024
# What one record adds at most: header, explicit nonce or content type, tag (and padding room).
RECORD_OVERHEAD = 64
RECORD_PLAINTEXT = 16 * 1024

# Two flags the bindings do not name; their values are fixed in OpenSSL's ssl.h since 1.1.0.
_SSL_OP_PRIORITIZE_CHACHA = 1 << 21
_SSL_MODE_NO_AUTO_CHAIN = 0x8

_allocate = ffi.new_allocator(should_clear_after_alloc=False)
_scratch = threading.local()

# The leaf errors that OpenSSL's CRL check runs before (it checks revocation before validity).
_LEAF_TIME_ERRORS = frozenset({lib.X509_V_ERR_CERT_HAS_EXPIRED, lib.X509_V_ERR_CERT_NOT_YET_VALID})


def scratch_buffer() -> Any:
    """This thread's buffer of ``SCRATCH_SIZE`` bytes, for OpenSSL to write into."""
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None:
        buffer = _scratch.buffer = _allocate("char[]", SCRATCH_SIZE)
    return buffer


def text(pointer: Any) -> str:
    """A C string from OpenSSL (NULL is the empty string)."""
    return "" if pointer == ffi.NULL else ffi.string(pointer).decode("utf-8", "replace")


def take_error_reasons() -> list[str]:
    """The reasons on OpenSSL's queue, oldest (the cause) first, emptying it."""
    reasons: list[str] = []
    while code := lib.ERR_get_error():
        reason = text(lib.ERR_reason_error_string(code)) or f"error {code:#x}"
        if reason not in reasons:
            reasons.append(reason)
    return reasons


def take_error_reason(default: str) -> str:
    """The newest reason on OpenSSL's queue (as Python's ``ssl`` reports it), or ``default``."""
    reasons = take_error_reasons()
    return reasons[-1] if reasons else default


def _refuse_passphrase(buf: Any, size: int, rwflag: int, userdata: Any) -> int:
    return 0  # an encrypted server key fails to load instead of prompting on a terminal


_no_passphrase = ffi.callback("int(char *, int, int, void *)", _refuse_passphrase)


def _alpn_selector(protocol: str) -> tuple[Any, Any]:
    """A selection callback that picks ``protocol`` when the client offers it, else no ALPN (as
    ``SSL_select_next_proto`` with one server protocol does), and the buffer it points into."""
    wanted = protocol.encode("ascii")
    chosen = ffi.new("unsigned char[]", wanted)

    def select(ssl: Any, out: Any, outlen: Any, offered: Any, offered_len: int, arg: Any) -> int:
        names = ffi.buffer(offered, offered_len)[:]
        at = 0
        while at < len(names):
            size = names[at]
            if names[at + 1 : at + 1 + size] == wanted:
                out[0] = chosen
                outlen[0] = len(wanted)
                return int(lib.SSL_TLSEXT_ERR_OK)
            at += 1 + size
        return int(lib.SSL_TLSEXT_ERR_NOACK)

    callback = ffi.callback(
        "int(SSL *, unsigned char **, unsigned char *, unsigned char *, unsigned int, void *)",
        select,
        error=lib.SSL_TLSEXT_ERR_ALERT_FATAL,
    )
    return callback, chosen


def _serial(cert: Any) -> int:
    number = lib.ASN1_INTEGER_to_BN(lib.X509_get_serialNumber(cert), ffi.NULL)
    if number == ffi.NULL:
        raise MemoryError("ASN1_INTEGER_to_BN")
    try:
        digits = lib.BN_bn2hex(number)
        try:
            return int(ffi.string(digits), 16)
        finally:
            lib.OPENSSL_free(digits)
    finally:
        lib.BN_free(number)


def _revocation_verifier(check: RevocationCheck) -> Any:
    """OpenSSL's verify callback for the leaf: revoked, no valid CRL, or an expired one refuse
    the client with the error OpenSSL's own CRL check would set, so the alert is the same."""
    refuse_all = check.crl is None
    revoked, expires = check.revoked, check.expires_at

    def verify(ok: int, store: Any) -> int:
        if lib.X509_STORE_CTX_get_error_depth(store) != 0:
            return ok
        if not ok and lib.X509_STORE_CTX_get_error(store) not in _LEAF_TIME_ERRORS:
            return ok  # not (yet) known to be a certificate of ours: its own error says why
        if refuse_all:
            error = lib.X509_V_ERR_UNABLE_TO_GET_CRL
        elif time.time() >= expires:
            error = lib.X509_V_ERR_CRL_HAS_EXPIRED
        elif _serial(lib.X509_STORE_CTX_get_current_cert(store)) in revoked:
            error = lib.X509_V_ERR_CERT_REVOKED
        else:
            return ok
        lib.X509_STORE_CTX_set_error(store, error)
        return 0

    def failed(kind: type[BaseException], value: BaseException, traceback: Any) -> int:
        log.error("revocation check failed, client refused: %r", value)
        return 0

    return ffi.callback("int(int, X509_STORE_CTX *)", verify, onerror=failed)


def ciphertext_bound(plaintext_size: int) -> int:
    """The most ciphertext ``plaintext_size`` bytes of application data become."""
    return plaintext_size + (plaintext_size // RECORD_PLAINTEXT + 1) * RECORD_OVERHEAD


def drain(bio: Any, expected: int = 0) -> bytes:
    """Everything waiting in a memory BIO, read in one call when at most ``expected`` bytes (or
    ``SCRATCH_SIZE``) are waiting."""
    if expected > SCRATCH_SIZE:
        capacity, buffer = expected, _allocate("char[]", expected)
    else:
        capacity, buffer = SCRATCH_SIZE, scratch_buffer()
    size = lib.BIO_read(bio, buffer, capacity)
    if size <= 0:
        return b""
    first: bytes = ffi.unpack(buffer, size)
    if size < capacity:
        return first
    pieces = [first]
    while (size := lib.BIO_read(bio, buffer, capacity)) > 0:
        pieces.append(ffi.unpack(buffer, size))
    return b"".join(pieces)


def take(bio: Any) -> bytes | memoryview:
    """Everything waiting in a memory BIO, read straight into memory of its own instead of
    through the scratch buffer: a memoryview that keeps that memory alive (asyncio's and uvloop's
    transports take memoryviews; a cffi buffer itself only uvloop)."""
    size = lib.BIO_get_mem_data(bio, ffi.NULL)
    if size <= 0:
        return b""
    buffer = _allocate("char[]", size)
    read = lib.BIO_read(bio, buffer, size)
    return memoryview(ffi.buffer(buffer, max(read, 0)))


def peer_certificate_der(connection: Any) -> bytes | None:
    """The peer's certificate (DER) on an established ``SSL``, or None."""
    cert = lib.SSL_get_peer_certificate(connection)
    if cert == ffi.NULL:
        return None
    try:
        bio = lib.BIO_new(lib.BIO_s_mem())
        if bio == ffi.NULL:
            raise MemoryError("BIO_new failed")
        try:
            if lib.i2d_X509_bio(bio, cert) != 1:
                raise ValueError(f"cannot encode the peer certificate: {take_error_reason('')}")
            return drain(bio)
        finally:
            lib.BIO_free(bio)
    finally:
        lib.X509_free(cert)


def _check(result: int, what: str) -> None:
    if result != 1:
        raise RuntimeError(f"OpenSSL refused the {what}: {take_error_reason('no reason')}")


class BundledServerContext:
    """A server ``SSL_CTX`` of the bundled OpenSSL; immutable once built, shared by sessions.

    The callbacks it installs live as long as it does: a session keeps its context.
    """

    __slots__ = ("_alpn", "_verify", "ctx")

    def __init__(
        self,
        cert: Path,
        key: Path,
        ca_bundle: Path,
        *,
        ciphers: str,
        suites: str,
        groups: str,
        alpn: str,
        revocation: RevocationCheck | None = None,
    ) -> None:
        lib.ERR_clear_error()
        ctx = lib.SSL_CTX_new(lib.TLS_server_method())
        if ctx == ffi.NULL:
            raise MemoryError(take_error_reason("SSL_CTX_new failed"))
        self.ctx = ffi.gc(ctx, lib.SSL_CTX_free)
        _check(lib.SSL_CTX_set_min_proto_version(ctx, lib.TLS1_2_VERSION), "minimum version")
        _check(lib.SSL_CTX_set_cipher_list(ctx, ciphers.encode("ascii")), "cipher list")
        _check(lib.SSL_CTX_set_ciphersuites(ctx, suites.encode("ascii")), "TLS 1.3 suite list")
        _check(lib.SSL_CTX_set1_curves_list(ctx, groups.encode("ascii")), "group list")
        # The suite is picked by our order, as dockerd's Go does it: AES-128-GCM first, unless
        # the client's own first choice is ChaCha20 (a client without AES instructions).
        lib.SSL_CTX_set_options(
            ctx,
            lib.SSL_OP_NO_TICKET
            | lib.SSL_OP_NO_COMPRESSION
            | lib.SSL_OP_NO_RENEGOTIATION
            | lib.SSL_OP_CIPHER_SERVER_PREFERENCE
            | _SSL_OP_PRIORITIZE_CHACHA,
        )
        lib.SSL_CTX_set_session_cache_mode(ctx, lib.SSL_SESS_CACHE_OFF)
        # As Python's ssl: an idle connection gives its record buffers back (flat memory)
        # No automatic chain: the certificates of the file are sent, as dockerd sends them, and
        # OpenSSL does not rebuild (and re-verify) the server's chain from the CA store on every
        # handshake only to send the root, which the client must already trust.
        lib.SSL_CTX_set_mode(
            ctx,
            lib.SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
            | lib.SSL_MODE_RELEASE_BUFFERS
            | _SSL_MODE_NO_AUTO_CHAIN,
        )
        lib.SSL_CTX_set_default_passwd_cb(ctx, _no_passphrase)
        if (
            lib.SSL_CTX_use_certificate_chain_file(ctx, str(cert).encode()) != 1
            or lib.SSL_CTX_use_PrivateKey_file(ctx, str(key).encode(), lib.SSL_FILETYPE_PEM) != 1
            or lib.SSL_CTX_check_private_key(ctx) != 1
        ):
            reason = ": ".join(reversed(take_error_reasons())) or "unreadable"
            raise UsageError(f"cannot load server certificate {cert} with key {key}: {reason}")
        if lib.SSL_CTX_load_verify_locations(ctx, str(ca_bundle).encode(), ffi.NULL) != 1:
            reason = ": ".join(reversed(take_error_reasons())) or "unreadable"
            raise UsageError(f"cannot load CA bundle {ca_bundle}: {reason}")
        self._alpn = _alpn_selector(alpn)
        lib.SSL_CTX_set_alpn_select_cb(ctx, self._alpn[0], ffi.NULL)
        self._verify = None if revocation is None else _revocation_verifier(revocation)
        lib.SSL_CTX_set_verify(
            ctx,
            lib.SSL_VERIFY_PEER | lib.SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
            ffi.NULL if self._verify is None else self._verify,
        )
