"""Typed scan results; JSON is a projection of these models (schema in docs/scanner.md).

Everything is a frozen pydantic model so that ``ScanReport.model_validate_json(report_json)``
gives back an equal report: the JSON output has a schema and a round-trip test.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = "1"


class Severity(enum.StrEnum):
    """How bad a finding is; ordered (``Severity.CRITICAL.rank`` is the highest)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, threshold: Severity) -> bool:
        return self.rank >= threshold.rank


_RANKS = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class CheckId(enum.StrEnum):
    """Every kind of finding, by the id reports show; ``checks.CHECKS`` has the row of each.

    A member is named after its id (``DW-`` dropped, ``-`` as ``_``). Being a ``str``, a member
    serialises as its id: the JSON and SARIF outputs are those of plain strings.
    """

    API_PLAINTEXT = "DW-API-PLAINTEXT"
    TLS_NO_CLIENT_AUTH = "DW-TLS-NO-CLIENT-AUTH"
    TLS_CLIENT_CERT_OPTIONAL = "DW-TLS-CLIENT-CERT-OPTIONAL"
    MTLS_ENFORCED = "DW-MTLS-ENFORCED"
    TLS_NON_DOCKER = "DW-TLS-NON-DOCKER"
    CERT_EXPIRED = "DW-CERT-EXPIRED"
    CERT_NOT_YET_VALID = "DW-CERT-NOT-YET-VALID"
    CERT_EXPIRING = "DW-CERT-EXPIRING"
    CERT_SELF_SIGNED = "DW-CERT-SELF-SIGNED"
    CERT_WEAK_SIGNATURE = "DW-CERT-WEAK-SIGNATURE"
    CERT_WEAK_KEY = "DW-CERT-WEAK-KEY"
    CERT_NAME_MISMATCH = "DW-CERT-NAME-MISMATCH"
    CERT_NO_SERVER_AUTH = "DW-CERT-NO-SERVER-AUTH"
    TLS_LEGACY_VERSION = "DW-TLS-LEGACY-VERSION"
    TLS_WEAK_CIPHER = "DW-TLS-WEAK-CIPHER"
    ENGINE_VULNERABLE = "DW-ENGINE-VULNERABLE"
    DAEMON_INSECURE_LISTENER = "DW-DAEMON-INSECURE-LISTENER"
    DAEMON_WARNING = "DW-DAEMON-WARNING"
    DAEMON_NO_USERNS = "DW-DAEMON-NO-USERNS"
    DAEMON_NOT_ROOTLESS = "DW-DAEMON-NOT-ROOTLESS"
    DAEMON_SECCOMP = "DW-DAEMON-SECCOMP"
    DAEMON_NO_LSM = "DW-DAEMON-NO-LSM"
    DAEMON_NO_AUTHZ = "DW-DAEMON-NO-AUTHZ"
    DAEMON_NO_LIVE_RESTORE = "DW-DAEMON-NO-LIVE-RESTORE"
    DAEMON_NO_NEW_PRIVILEGES = "DW-DAEMON-NO-NEW-PRIVILEGES"
    DAEMON_INSECURE_REGISTRY = "DW-DAEMON-INSECURE-REGISTRY"
    DAEMON_EXPERIMENTAL = "DW-DAEMON-EXPERIMENTAL"
    CONTAINER_PRIVILEGED = "DW-CONTAINER-PRIVILEGED"
    CONTAINER_DOCKER_SOCKET = "DW-CONTAINER-DOCKER-SOCKET"
    CONTAINER_HOST_ROOT = "DW-CONTAINER-HOST-ROOT"
    CONTAINER_SENSITIVE_MOUNT = "DW-CONTAINER-SENSITIVE-MOUNT"
    CONTAINER_CAP_ADD = "DW-CONTAINER-CAP-ADD"
    CONTAINER_HOST_NETWORK = "DW-CONTAINER-HOST-NETWORK"
    CONTAINER_HOST_PID = "DW-CONTAINER-HOST-PID"
    CONTAINER_HOST_IPC = "DW-CONTAINER-HOST-IPC"
    CONTAINER_HOST_UTS = "DW-CONTAINER-HOST-UTS"
    CONTAINER_HOST_USERNS = "DW-CONTAINER-HOST-USERNS"
    CONTAINER_UNCONFINED = "DW-CONTAINER-UNCONFINED"
    CONTAINER_DEVICES = "DW-CONTAINER-DEVICES"
    CONTAINER_PUBLIC_PORT = "DW-CONTAINER-PUBLIC-PORT"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a producer saw for one check; ``checks.finding`` makes it a ``Finding``.

    ``severity`` is the producer's own judgement where the table's default does not fit (a
    vulnerability's, an added capability that amounts to root); ``None`` keeps the default.
    """

    check: CheckId
    text: str
    severity: Severity | None = None
    cve: tuple[str, ...] = ()


class EndpointState(enum.StrEnum):
    """What answers on an endpoint, from worst to best; ``closed`` ones are not reported."""

    PLAINTEXT_DOCKER = "plaintext-docker"
    TLS_NO_CLIENT_AUTH = "tls-no-client-auth"
    TLS_CLIENT_CERT_OPTIONAL = "tls-client-cert-optional"
    MTLS_REQUIRED = "mtls-required"
    TLS_NON_DOCKER = "tls-non-docker"
    TLS_UNKNOWN = "tls-unknown"
    HTTP_NON_DOCKER = "http-non-docker"
    OPEN_UNKNOWN = "open-unknown"
    FILTERED = "filtered"
    CLOSED = "closed"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Finding(_Model):
    """One problem (or one reassurance, at ``info``) on one endpoint."""

    id: CheckId
    severity: Severity
    endpoint: str
    title: str
    evidence: str
    remediation: str
    cis: str | None = None
    cve: tuple[str, ...] = ()


class CertificateInfo(_Model):
    """The server certificate, with the fields of nmap's ``ssl-cert`` and a few more."""

    subject: str
    issuer: str
    subject_alt_names: tuple[str, ...]
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    public_key_type: str
    public_key_bits: int
    public_key_curve: str | None = None
    signature_algorithm: str
    sha256: str
    sha1: str
    md5: str
    self_signed: bool
    server_auth: bool | None
    pem: str


class TlsInfo(_Model):
    """What the TLS layer told us; ``cipher_suites`` is filled by ``--deep`` only."""

    negotiated_version: str | None
    cipher: str | None
    versions_accepted: tuple[str, ...]
    client_cert_requested: bool
    client_cert_requested_by_version: dict[str, bool]
    client_ca_names: tuple[str, ...]
    cipher_suites: dict[str, tuple[str, ...]] = {}


class DockerVersion(_Model):
    """The interesting part of ``GET /version`` (or of the ``/_ping`` headers)."""

    version: str | None = None
    api_version: str | None = None
    min_api_version: str | None = None
    os: str | None = None
    arch: str | None = None
    kernel_version: str | None = None
    git_commit: str | None = None
    components: dict[str, str] = {}


class EndpointResult(_Model):
    """Everything learned about one ``host:port``."""

    endpoint: str
    host: str
    port: int
    state: EndpointState
    tls: TlsInfo | None = None
    certificate: CertificateInfo | None = None
    docker: DockerVersion | None = None
    audited_as: str | None = None  # "anonymous" or "client-certificate" when audited
    containers_inspected: int = 0
    findings: tuple[Finding, ...] = ()
    errors: tuple[str, ...] = ()

    def worst(self) -> Severity | None:
        ranked = sorted(self.findings, key=lambda f: f.severity.rank, reverse=True)
        return ranked[0].severity if ranked else None


class ScanStats(_Model):
    endpoints_scanned: int
    endpoints_open: int
    docker_apis: int
    findings_by_severity: dict[Severity, int]


class ScanReport(_Model):
    """A whole scan: the ``--json`` document."""

    schema_version: str = SCHEMA_VERSION
    tool: str = "dockward"
    tool_version: str
    started_at: dt.datetime
    finished_at: dt.datetime
    targets: tuple[str, ...]
    ports: tuple[int, ...]
    options: dict[str, str | int | float | bool | None]
    stats: ScanStats
    endpoints: tuple[EndpointResult, ...]

    def findings(self) -> list[Finding]:
        return [f for endpoint in self.endpoints for f in endpoint.findings]

    def fails(self, threshold: Severity) -> bool:
        """True if any finding is at or above ``threshold`` (the exit-1 rule)."""
        return any(f.severity.at_least(threshold) for f in self.findings())
