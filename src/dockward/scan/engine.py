"""The scan: one endpoint's state machine, and many endpoints concurrently.

Per endpoint (notes/auditors.md §7 and §9):

1. TCP connect: refused → ``closed``, no answer → ``filtered``.
2. A TLS ClientHello without a client certificate. No TLS record back → the plaintext path:
   ``GET /_ping``; a Docker answer → ``plaintext-docker`` (critical).
3. TLS: the server's Certificate and CertificateRequest are observed during the handshake
   (TLS 1.2 and 1.3), then ``GET /_ping`` decides: a Docker answer without a certificate →
   ``tls-no-client-auth`` or ``tls-client-cert-optional`` (critical); alert, reset or EOF after
   a CertificateRequest → ``mtls-required`` (ok). TLS 1.0/1.1 (and, with ``--deep``, cipher
   suites) are tried with handshake-only connections.
4. Where the API answered (anonymously, or with ``--cert-path``), the read-only audit.

What the network and the peer do (refusals, resets, timeouts, TLS alerts, broken HTTP) becomes
notes in that endpoint's result: one odd endpoint must not end a scan of thousands. Anything
else is a bug in the scanner, and a scan with a bug in it cannot be trusted to have found what
it reports: it stops with ``ScannerBug``, which names the endpoint and keeps the original
exception (and its traceback) as its cause.

The engine reports progress through a ``ScanObserver``; it never prints.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from dockward import __version__
from dockward.errors import DockwardError
from dockward.scan import deep
from dockward.scan.audit import MAX_CONTAINERS, audit, collect, docker_version
from dockward.scan.checks import findings
from dockward.scan.findings import (
    DockerVersion,
    EndpointResult,
    EndpointState,
    Evidence,
    Finding,
    ScanReport,
    ScanStats,
    Severity,
    TlsInfo,
)
from dockward.scan.http import HttpConnection, HttpError, HttpResponse
from dockward.scan.probes import (
    LEGACY_VERSIONS,
    ClientBundle,
    ProbeSettings,
    RateLimiter,
    TlsAttempt,
    Unreachable,
    describe_error,
    is_docker_ping,
    ping,
    plain_connection,
    tls_attempt,
)
from dockward.scan.targets import Endpoint
from dockward.scan.tlsinfo import check_certificate, describe_certificate
from dockward.scan.verdicts import legacy_versions, plaintext_exposure, tls_exposure, weak_suites

DEFAULT_CONCURRENCY = 256
DEFAULT_TIMEOUT = 5.0
UNREPORTED = (EndpointState.CLOSED, EndpointState.FILTERED)
# What the network and the peer can raise in a probe (OSError covers ssl.SSLError, resets and
# TimeoutError); these are notes in the endpoint's result. Any other exception is a bug.
NETWORK_ERRORS = (OSError, EOFError, HttpError, Unreachable)


class ScannerBug(DockwardError):
    """A programming error while scanning ``endpoint``: the scan stops (exit code 3)."""

    exit_code = 3

    def __init__(self, endpoint: str, error: Exception) -> None:
        super().__init__(
            f"internal error while scanning {endpoint}: {type(error).__name__}: {error} "
            "(a bug in dockward scan; the scan was stopped)"
        )
        self.endpoint = endpoint
        self.error = error


@dataclass(frozen=True, slots=True)
class ScanOptions:
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY
    rate: float = 0.0
    deep: bool = False
    bundle: ClientBundle | None = None
    max_containers: int = MAX_CONTAINERS

    def describe(self) -> dict[str, str | int | float | bool | None]:
        return {
            "timeout": self.timeout,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "deep": self.deep,
            "cert_path": str(self.bundle.directory) if self.bundle else None,
            "max_containers": self.max_containers,
        }


class ScanObserver(Protocol):
    """Progress hooks: the CLI's progress bar subscribes; the engine does not import it."""

    def endpoint_done(self, result: EndpointResult) -> None: ...


@dataclass
class _Draft:
    """An ``EndpointResult`` under construction."""

    endpoint: Endpoint
    state: EndpointState = EndpointState.OPEN_UNKNOWN
    tls: TlsInfo | None = None
    certificate_der: bytes | None = None
    docker: DockerVersion | None = None
    audited_as: str | None = None
    containers_inspected: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, *evidence: Evidence) -> None:
        self.findings += findings(evidence, str(self.endpoint))


async def scan_endpoint(
    endpoint: Endpoint, options: ScanOptions, settings: ProbeSettings, now: dt.datetime
) -> EndpointResult:
    """Probe one endpoint; never raises for what the network does, raises ``ScannerBug`` for a
    bug in the scanner."""
    try:
        return await _probe(endpoint, options, settings, now)
    except Exception as err:  # NETWORK_ERRORS are handled inside: this is a bug
        raise ScannerBug(str(endpoint), err) from err


async def _probe(
    endpoint: Endpoint, options: ScanOptions, settings: ProbeSettings, now: dt.datetime
) -> EndpointResult:
    draft = _Draft(endpoint)
    try:
        connection = await plain_connection(endpoint, settings)
    except Unreachable as gone:
        draft.state = EndpointState(gone.kind)
        return _finish(draft, now)
    try:
        # Plain HTTP first: a TLS server rejects "GET" at once, while a plain HTTP server (dockerd
        # on 2375) waits forever for the end of a ClientHello "request line".
        response, error = await ping(connection)
        if response is not None and is_docker_ping(response):
            draft.state = EndpointState.PLAINTEXT_DOCKER
            draft.add(plaintext_exposure(response))
            await _audit(draft, connection, None, settings, options, "anonymous")
            return _finish(draft, now)
        await connection.close()
        if response is not None and response.status != 400:
            draft.state = EndpointState.HTTP_NON_DOCKER  # Go's TLS servers answer "GET" with 400
            return _finish(draft, now)
        first = await tls_attempt(endpoint, settings, keep=True)
        try:
            if first.tls_spoken:
                await _tls_path(draft, first, options, settings)
            elif response is not None:
                draft.state = EndpointState.HTTP_NON_DOCKER
            else:
                draft.errors.append(f"neither HTTP ({error}) nor TLS ({first.error})")
        finally:
            await first.close()
    except Unreachable as gone:
        draft.errors.append(f"connection failed during the scan: {gone}")
    except NETWORK_ERRORS as err:  # one odd endpoint must not end a scan of thousands
        draft.errors.append(f"probe error: {type(err).__name__}: {err}")
    finally:
        await connection.close()
    return _finish(draft, now)


async def _tls_path(
    draft: _Draft, first: TlsAttempt, options: ScanOptions, settings: ProbeSettings
) -> None:
    endpoint = draft.endpoint
    extra_versions = list(LEGACY_VERSIONS)
    if first.accepted_version == "TLSv1.3":
        extra_versions.append("TLSv1.2")
    others = await asyncio.gather(
        *(_handshake_only(endpoint, settings, version) for version in extra_versions)
    )
    completed = [a for a in (first, *others) if a is not None and a.accepted_version]
    accepted = sorted({a.accepted_version for a in completed if a.accepted_version})
    requested_by_version = {
        str(a.accepted_version): a.observer.certificate_requested for a in completed
    }
    requested = any(a.observer.certificate_requested for a in completed)
    draft.certificate_der = next(
        (der for a in completed if (der := a.observer.certificate_der or a.peer_der)), None
    )
    ca_names = next(
        (a.observer.client_ca_names for a in completed if a.observer.client_ca_names), []
    )

    # The API question, asked on the first connection that completed a handshake.
    probe: TlsAttempt | None = first if first.connection is not None else None
    if probe is None and first.accepted_version is None:  # no common version: a legacy server
        probe = await _legacy_connection(endpoint, settings, accepted)
    response: HttpResponse | None = None
    refusal: str | None = first.error or "handshake failed"
    if probe is not None and probe.connection is not None:
        response, refusal = await ping(probe.connection)
    negotiated = probe.accepted_version if probe else first.accepted_version
    draft.tls = TlsInfo(
        negotiated_version=negotiated,
        cipher=probe.cipher if probe else None,
        versions_accepted=tuple(accepted),
        client_cert_requested=requested,
        client_cert_requested_by_version=requested_by_version,
        client_ca_names=tuple(ca_names),
    )

    draft.add(*legacy_versions(accepted))
    if options.deep:
        await _deep(draft, settings, accepted)

    verdict = tls_exposure(
        response, refusal, requested=requested, ca_names=ca_names, negotiated=negotiated
    )
    draft.state = verdict.state
    if verdict.evidence is not None:
        draft.add(verdict.evidence)
    if verdict.note is not None:
        draft.errors.append(verdict.note)
    if verdict.docker_without_certificate:
        await _audit(
            draft, probe.connection if probe else None, None, settings, options, "anonymous"
        )
        return
    if options.bundle is not None and draft.state is EndpointState.MTLS_REQUIRED:
        await _authenticated(draft, settings, options)


async def _handshake_only(
    endpoint: Endpoint, settings: ProbeSettings, version: str
) -> TlsAttempt | None:
    try:
        return await tls_attempt(endpoint, settings, version=version)
    except Unreachable:
        return None


async def _legacy_connection(
    endpoint: Endpoint, settings: ProbeSettings, accepted: list[str]
) -> TlsAttempt | None:
    """A completed handshake with the best version the server accepted, when the default
    (TLS 1.2-1.3) one failed for want of a common version."""
    for version in sorted((v for v in accepted if v in LEGACY_VERSIONS), reverse=True):
        attempt = await tls_attempt(endpoint, settings, version=version, keep=True)
        if attempt.connection is not None:
            return attempt
    return None


async def _authenticated(draft: _Draft, settings: ProbeSettings, options: ScanOptions) -> None:
    attempt = await tls_attempt(draft.endpoint, settings, bundle=options.bundle, keep=True)
    try:
        if attempt.connection is None:
            draft.errors.append(f"the client certificate was refused: {attempt.error}")
            return
        response, error = await ping(attempt.connection)
        if response is None or not is_docker_ping(response):
            why = error or (f"GET /_ping answered {response.status}" if response else "")
            draft.errors.append(f"no Docker API with the client certificate: {why}")
            return
        await _audit(
            draft, attempt.connection, options.bundle, settings, options, "client-certificate"
        )
    finally:
        await attempt.close()


async def _audit(
    draft: _Draft,
    connection: HttpConnection | None,
    bundle: ClientBundle | None,
    settings: ProbeSettings,
    options: ScanOptions,
    identity: str,
) -> None:
    """The read-only audit, reconnecting (same identity) when the server closes in between."""
    current = connection

    async def fetch(path: str) -> Any:
        nonlocal current
        if current is None or current.closed:
            if current is not None and current is not connection:
                await current.close()
            current = await _reconnect(draft, settings, bundle)
        return await current.get_json(path)

    try:
        facts = await collect(fetch, options.max_containers)
    except (HttpError, OSError, TimeoutError, Unreachable) as err:
        draft.errors.append(f"audit incomplete: {describe_error(err)}")
        return
    finally:
        if current is not None and current is not connection:
            await current.close()
    draft.docker = docker_version(facts.version)
    draft.audited_as = identity
    draft.containers_inspected = len(facts.containers)
    if facts.truncated:
        draft.errors.append(f"only the first {options.max_containers} containers were inspected")
    draft.add(*audit(facts))


async def _reconnect(
    draft: _Draft, settings: ProbeSettings, bundle: ClientBundle | None
) -> HttpConnection:
    if draft.state is EndpointState.PLAINTEXT_DOCKER:
        return await plain_connection(draft.endpoint, settings)
    version = draft.tls.negotiated_version if draft.tls else None
    attempt = await tls_attempt(
        draft.endpoint,
        settings,
        bundle=bundle,
        keep=True,
        version=version if version in LEGACY_VERSIONS else None,
    )
    if attempt.connection is None:
        raise HttpError(f"reconnect failed: {attempt.error}")
    return attempt.connection


async def _deep(draft: _Draft, settings: ProbeSettings, accepted: list[str]) -> None:
    suites: dict[str, tuple[str, ...]] = {}
    for version in accepted:
        if version != "TLSv1.3":
            suites[version] = await deep.accepted_suites(draft.endpoint, settings, version)
    if draft.tls is not None:
        draft.tls = draft.tls.model_copy(update={"cipher_suites": suites})
    draft.add(*weak_suites(suites))


def _finish(draft: _Draft, now: dt.datetime) -> EndpointResult:
    endpoint = str(draft.endpoint)
    certificate = None
    if draft.certificate_der is not None:
        try:
            certificate = describe_certificate(draft.certificate_der)
        except ValueError as err:
            draft.errors.append(f"unparseable server certificate: {err}")
        else:
            draft.add(*check_certificate(certificate, draft.endpoint.host, now))
    ordered = sorted(draft.findings, key=lambda f: -f.severity.rank)
    return EndpointResult(
        endpoint=endpoint,
        host=draft.endpoint.host,
        port=draft.endpoint.port,
        state=draft.state,
        tls=draft.tls,
        certificate=certificate,
        docker=draft.docker,
        audited_as=draft.audited_as,
        containers_inspected=draft.containers_inspected,
        findings=tuple(ordered),
        errors=tuple(draft.errors),
    )


async def scan(
    endpoints: Iterable[Endpoint],
    options: ScanOptions,
    observer: ScanObserver | None = None,
    now: dt.datetime | None = None,
) -> list[EndpointResult]:
    """Scan every endpoint with at most ``options.concurrency`` in flight; results in order."""
    settings = ProbeSettings(options.timeout, RateLimiter(options.rate))
    when = now or dt.datetime.now(dt.UTC)
    source: Iterator[tuple[int, Endpoint]] = enumerate(endpoints)
    results: dict[int, EndpointResult] = {}

    async def worker() -> None:
        for index, endpoint in source:  # a shared iterator: each endpoint goes to one worker
            result = await scan_endpoint(endpoint, options, settings, when)
            results[index] = result
            if observer is not None:
                observer.endpoint_done(result)

    await asyncio.gather(*(worker() for _ in range(max(1, options.concurrency))))
    return [results[i] for i in sorted(results)]


def build_report(
    results: list[EndpointResult],
    targets: Iterable[str],
    ports: Iterable[int],
    options: ScanOptions,
    started: dt.datetime,
    finished: dt.datetime,
) -> ScanReport:
    """The ``ScanReport``: closed and filtered endpoints only count in the stats."""
    shown = tuple(r for r in results if r.state not in UNREPORTED)
    counts = {severity: 0 for severity in Severity}
    for result in shown:
        for item in result.findings:
            counts[item.severity] += 1
    docker_states = {
        EndpointState.PLAINTEXT_DOCKER,
        EndpointState.TLS_NO_CLIENT_AUTH,
        EndpointState.TLS_CLIENT_CERT_OPTIONAL,
        EndpointState.MTLS_REQUIRED,
    }
    return ScanReport(
        tool_version=__version__,
        started_at=started,
        finished_at=finished,
        targets=tuple(targets),
        ports=tuple(ports),
        options=options.describe(),
        stats=ScanStats(
            endpoints_scanned=len(results),
            endpoints_open=len(shown),
            docker_apis=sum(1 for r in shown if r.state in docker_states),
            findings_by_severity=counts,
        ),
        endpoints=shown,
    )
