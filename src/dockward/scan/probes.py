"""Network probes of one endpoint: TCP connect, TLS handshakes, plaintext and TLS ``GET``.

A probe never verifies the server (we are looking at it, not trusting it) and never sends
anything but a ClientHello and read-only ``GET`` requests. Every connection it opens is closed
before it returns, unless it hands an open ``HttpConnection`` to the caller.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from dockward.errors import UsageError
from dockward.scan.http import HttpConnection, HttpError, HttpResponse
from dockward.scan.targets import Endpoint
from dockward.scan.tlswire import HandshakeObserver

TLS_VERSIONS = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
LEGACY_VERSIONS = ("TLSv1.0", "TLSv1.1")
_SSL_VERSION_NAMES = {"TLSv1": "TLSv1.0"}  # ssl's names to the ones the report uses
# Offer everything this OpenSSL can still speak, so that what the server accepts shows.
ALL_CIPHERS = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"
ALERT_NAMES = {40: "handshake_failure", 42: "bad_certificate", 46: "certificate_unknown",
               48: "unknown_ca", 70: "protocol_version", 112: "unrecognized_name",
               116: "certificate_required"}  # fmt: skip


class Unreachable(Exception):
    """The TCP connection failed: ``kind`` is ``closed`` (refused) or ``filtered`` (timeout)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class ClientBundle:
    """A ``DOCKER_CERT_PATH`` directory: ``ca.pem``, ``cert.pem``, ``key.pem``."""

    directory: Path
    cert: Path
    key: Path

    @classmethod
    def load(cls, directory: Path) -> ClientBundle:
        cert, key = directory / "cert.pem", directory / "key.pem"
        for path in (cert, key):
            if not path.is_file():
                raise UsageError(
                    f"--cert-path {directory}: {path.name} is missing (a client bundle holds "
                    "ca.pem, cert.pem and key.pem, as made by `dockward ca issue client`)"
                )
        try:  # fail now, with the reason, rather than once per endpoint
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as err:
            raise UsageError(
                f"--cert-path {directory}: cannot load cert.pem/key.pem: {err}"
            ) from err
        return cls(directory, cert, key)


class RateLimiter:
    """At most ``rate`` new connections per second across the whole scan (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def acquire(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(self._next, now)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    timeout: float
    limiter: RateLimiter


@dataclass
class TlsAttempt:
    """One TLS handshake: what the server showed, and the open connection if it completed."""

    observer: HandshakeObserver = field(default_factory=HandshakeObserver)
    version: str | None = None
    cipher: str | None = None
    peer_der: bytes | None = None
    error: str | None = None
    connection: HttpConnection | None = None

    @property
    def tls_spoken(self) -> bool:
        return self.observer.records_seen

    @property
    def accepted_version(self) -> str | None:
        """The version the server picked, even if the handshake failed afterwards."""
        return self.version or self.observer.server_hello_version

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
            self.connection = None


async def open_tcp(
    endpoint: Endpoint, settings: ProbeSettings
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect, or raise ``Unreachable`` saying whether the port is closed or filtered."""
    await settings.limiter.acquire()
    try:
        return await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port), settings.timeout
        )
    except TimeoutError:
        raise Unreachable("filtered", f"no answer within {settings.timeout:g}s") from None
    except ConnectionRefusedError:
        raise Unreachable("closed", "connection refused") from None
    except OSError as err:  # unreachable network, DNS failure, ...
        raise Unreachable("filtered", (err.strerror or str(err)).lower()) from None


def client_context(
    version: str | None = None,
    ciphers: str | None = None,
    bundle: ClientBundle | None = None,
) -> tuple[ssl.SSLContext, HandshakeObserver]:
    """A non-verifying client context with an observer attached; ``version`` pins one version."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if version is not None:
        with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: that is what we look for
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = TLS_VERSIONS[version]
            context.maximum_version = TLS_VERSIONS[version]
    if ciphers is not None or version in LEGACY_VERSIONS:
        context.set_ciphers(ciphers or ALL_CIPHERS)
    if bundle is not None:
        context.load_cert_chain(bundle.cert, bundle.key)
    observer = HandshakeObserver()
    observer.attach(context)
    return context, observer


async def tls_attempt(
    endpoint: Endpoint,
    settings: ProbeSettings,
    *,
    version: str | None = None,
    ciphers: str | None = None,
    bundle: ClientBundle | None = None,
    keep: bool = False,
) -> TlsAttempt:
    """Connect and handshake; keep the connection open only if ``keep`` and it completed.

    Raises ``Unreachable`` when the TCP connection itself fails.
    """
    context, observer = client_context(version, ciphers, bundle)
    attempt = TlsAttempt(observer=observer)
    reader, writer = await open_tcp(endpoint, settings)
    sni = None if endpoint.is_ip else endpoint.host
    try:
        await asyncio.wait_for(
            writer.start_tls(context, server_hostname=sni, ssl_handshake_timeout=settings.timeout),
            settings.timeout,
        )
    except (OSError, EOFError, TimeoutError) as err:
        attempt.error = describe_tls_error(err, observer)
        writer.transport.abort()
        return attempt
    ssl_object = writer.get_extra_info("ssl_object")
    try:
        attempt.peer_der = ssl_object.getpeercert(binary_form=True)
    except ValueError:  # the peer closed as the handshake ended: asyncio reports success
        attempt.error = describe_tls_error(ConnectionResetError("closed"), observer)
        writer.transport.abort()
        return attempt
    attempt.version = _SSL_VERSION_NAMES.get(ssl_object.version(), ssl_object.version())
    cipher = ssl_object.cipher()
    attempt.cipher = cipher[0] if cipher else None
    connection = HttpConnection(reader, writer, endpoint.host, settings.timeout)
    if keep:
        attempt.connection = connection
    else:
        await connection.close()
    return attempt


async def plain_connection(endpoint: Endpoint, settings: ProbeSettings) -> HttpConnection:
    reader, writer = await open_tcp(endpoint, settings)
    return HttpConnection(reader, writer, endpoint.host, settings.timeout)


async def ping(connection: HttpConnection) -> tuple[HttpResponse | None, str | None]:
    """``GET /_ping``: the response, or why there was none (alert, reset, EOF, timeout)."""
    try:
        return await connection.get("/_ping"), None
    except (OSError, HttpError, TimeoutError, EOFError) as err:
        return None, describe_error(err)


def is_docker_ping(response: HttpResponse) -> bool:
    """A Docker daemon answers ``/_ping`` with 200 ``OK`` and its ``Api-Version`` header."""
    server = response.headers.get("server", "")
    return (
        response.status == 200
        and response.body.strip() in (b"OK", b"")
        and ("api-version" in response.headers or server.startswith("Docker/"))
    )


def describe_tls_error(err: BaseException, observer: HandshakeObserver) -> str:
    """One line: the alert the server sent if there was one, else the error."""
    if observer.alerts:
        code = observer.alerts[-1]
        return f"TLS alert {ALERT_NAMES.get(code, 'alert')} ({code})"
    return describe_error(err)


def describe_error(err: BaseException) -> str:
    if isinstance(err, ssl.SSLError):
        return f"TLS error: {err.reason or err}".replace("_", " ").lower()
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, ConnectionResetError):
        return "connection reset"
    if isinstance(err, HttpError | EOFError):
        return str(err) or "connection closed"
    if isinstance(err, OSError):
        return (err.strerror or str(err) or type(err).__name__).lower()
    return str(err) or type(err).__name__
