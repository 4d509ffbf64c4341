"""The server ``SSLContext``: mutual TLS with the dockward CA only, modern suites only.

TLS 1.2 minimum (1.3 preferred by OpenSSL), ECDHE with AEAD ciphers for 1.2 (every 1.3 suite is
AEAD), ALPN ``http/1.1`` (a client offering only h2 gets no ALPN and speaks HTTP/1.1 or fails),
client certificate required and verified against the given CA bundle and never the system roots,
no session tickets, no compression. Every suite offered is strong, so the client's preference
decides (Go picks AES-128-GCM where it has AES-NI, which is cheaper for bulk transfers). OpenSSL
checks the client certificate's purpose (clientAuth) on its own, so a server certificate presented
as a client certificate is refused.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from dockward.errors import UsageError

TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!SHA1:!SHA256:!SHA384"


def build_server_context(cert: Path, key: Path, ca_bundle: Path) -> ssl.SSLContext:
    """A server context for ``cert``/``key`` that requires clients signed by ``ca_bundle``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= (
        ssl.OP_NO_TICKET | ssl.OP_NO_COMPRESSION | ssl.OP_SINGLE_ECDH_USE | ssl.OP_NO_RENEGOTIATION
    )
    ctx.num_tickets = 0
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    for what, path in (("server certificate", cert), ("server key", key), ("CA bundle", ca_bundle)):
        try:
            with open(path, "rb"):
                pass
        except OSError as err:
            raise UsageError(
                f"cannot read {what} {path}: {(err.strerror or str(err)).lower()}"
            ) from None
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as err:
        raise UsageError(f"cannot load server certificate {cert} with key {key}: {err}") from None
    try:
        ctx.load_verify_locations(cafile=str(ca_bundle))
    except (ssl.SSLError, OSError) as err:
        raise UsageError(f"cannot load CA bundle {ca_bundle}: {err}") from None
    return ctx
