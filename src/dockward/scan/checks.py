"""The table of every finding the scanner can report: a reader scans it top to bottom.

A row says what a finding means (severity, title, fix, CIS id) and names its producer: the
function whose ``Evidence`` of that id the engine turns into findings. Adding a check is adding
a ``CheckId``, a row here, and the evidence in the producer the row names; a unit test fails
when a producer never emits an id its rows claim, or emits one whose row names another
producer. CIS ids are those of the CIS Docker Benchmark 1.6.0 as numbered by
docker-bench-security 1.6.0; ``None`` where the benchmark has no such control.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dockward.scan import audit, tlsinfo, verdicts
from dockward.scan.findings import CheckId, Evidence, Finding, Severity

# The hardening advice every exposure finding ends with.
EXPOSURE_FIX = (
    "Require mutual TLS (dockerd --tlsverify with --tlscacert, or a gateway such as dockward in "
    "front of the unix socket), never expose the API to the internet, restrict it to management "
    "hosts with a firewall, and prefer SSH (docker context create --docker host=ssh://...)."
)
CERT_FIX = "Issue a new server certificate (dockward ca issue server HOST...) and rotate it."


# A producer returns Evidence (one, a list, or a verdict holding one); their arguments differ.
Producer = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Check:
    """One kind of finding: who produces it, what it means, how bad it is and how to fix it."""

    id: CheckId
    producer: Producer
    severity: Severity
    title: str
    remediation: str
    cis: str | None = None


C, H, M, L, I = (  # noqa: E741 - single letters keep the table readable
    Severity.CRITICAL,
    Severity.HIGH,
    Severity.MEDIUM,
    Severity.LOW,
    Severity.INFO,
)
# The producers, by the short names the rows use.
PLAINTEXT = verdicts.plaintext_exposure
TLS = verdicts.tls_exposure
CERT = tlsinfo.check_certificate
VERSIONS = verdicts.legacy_versions
SUITES = verdicts.weak_suites
AUDIT = audit.audit

# fmt: off
_ROWS = (
    # -- exposure: does the API answer without a client certificate? ---------------------------
    Check(CheckId.API_PLAINTEXT, PLAINTEXT, C, "Unauthenticated Docker API (plaintext HTTP)",
          EXPOSURE_FIX, "2.7"),
    Check(CheckId.TLS_NO_CLIENT_AUTH, TLS, C, "TLS without client-certificate verification",
          EXPOSURE_FIX, "2.7"),
    Check(CheckId.TLS_CLIENT_CERT_OPTIONAL, TLS, C,
          "Client certificate requested but not required: the API answers without one",
          EXPOSURE_FIX, "2.7"),
    Check(CheckId.MTLS_ENFORCED, TLS, I, "Mutual TLS enforced",
          "Nothing to fix. Keep client certificates short-lived and revoke them when people or "
          "machines leave.", "2.7"),
    Check(CheckId.TLS_NON_DOCKER, TLS, I, "TLS service that is not a Docker API",
          "Nothing to fix for Docker; check that this service is expected on this port."),
    # -- server certificate ---------------------------------------------------------------------
    Check(CheckId.CERT_EXPIRED, CERT, H, "Server certificate expired", CERT_FIX),
    Check(CheckId.CERT_NOT_YET_VALID, CERT, H, "Server certificate not valid yet",
          "Check the clocks of the server and the CA, then reissue the certificate."),
    Check(CheckId.CERT_EXPIRING, CERT, M, "Server certificate expires within 30 days", CERT_FIX),
    Check(CheckId.CERT_SELF_SIGNED, CERT, M, "Self-signed server certificate",
          "Issue the server certificate from a CA that clients pin (--tlscacert), so that a "
          "client can tell the daemon from an impostor."),
    Check(CheckId.CERT_WEAK_SIGNATURE, CERT, H, "Server certificate signed with SHA-1 or MD5",
          "Reissue the certificate with a SHA-256 (or better) signature."),
    Check(CheckId.CERT_WEAK_KEY, CERT, H, "Weak server key (RSA/DSA < 2048 bits or EC < 224 bits)",
          "Reissue the certificate with an ECDSA P-256 or RSA 3072 key."),
    Check(CheckId.CERT_NAME_MISMATCH, CERT, L, "Server certificate does not name the scanned host",
          "Add the host name or IP address clients dial to the certificate's subjectAltName, "
          "or clients with --tlsverify refuse to connect."),
    Check(CheckId.CERT_NO_SERVER_AUTH, CERT, L, "Server certificate lacks the serverAuth key usage",
          "Reissue the certificate with extendedKeyUsage = serverAuth."),
    # -- protocol versions and ciphers ----------------------------------------------------------
    Check(CheckId.TLS_LEGACY_VERSION, VERSIONS, H, "Legacy TLS version accepted (TLS 1.0 or 1.1)",
          "Accept TLS 1.2 and 1.3 only. dockerd has done so since 2018 (go-connections 0.4): a "
          "legacy version means an old engine or a terminating proxy in front of it."),
    Check(CheckId.TLS_WEAK_CIPHER, SUITES, M,
          "Weak TLS 1.2 cipher suites accepted (CBC, RSA key exchange, 3DES, RC4 or no forward "
          "secrecy)",
          "Offer only ECDHE with AES-GCM or ChaCha20-Poly1305 (dockerd >= 29 does)."),
    # -- daemon posture (authenticated audit) ---------------------------------------------------
    Check(CheckId.ENGINE_VULNERABLE, AUDIT, H,
          "Engine or runtime version with known vulnerabilities",
          "Upgrade Docker Engine, containerd and runc to a release that fixes it.", "1.2.2"),
    Check(CheckId.DAEMON_INSECURE_LISTENER, AUDIT, C,
          "The daemon reports another listener without TLS client verification",
          EXPOSURE_FIX, "2.7"),
    Check(CheckId.DAEMON_WARNING, AUDIT, L, "The daemon reports a configuration warning",
          "Read the warning in `docker info` and fix the daemon configuration."),
    Check(CheckId.DAEMON_NO_USERNS, AUDIT, L, "User namespace remapping is off",
          "Consider userns-remap (or rootless mode) so that root in a container is not root on "
          "the host.", "2.9"),
    Check(CheckId.DAEMON_NOT_ROOTLESS, AUDIT, I, "The daemon runs as root (not rootless)",
          "Consider rootless mode where the workload allows it.", "2.1"),
    Check(CheckId.DAEMON_SECCOMP, AUDIT, M, "The default seccomp profile is not in use",
          "Run the daemon with the default seccomp profile (remove --seccomp-profile).", "2.17"),
    Check(CheckId.DAEMON_NO_LSM, AUDIT, L, "Neither AppArmor nor SELinux confines containers",
          "Enable AppArmor or SELinux on the host so containers get a default profile."),
    Check(CheckId.DAEMON_NO_AUTHZ, AUDIT, L,
          "No authorization plugin: every client is root-equivalent",
          "Authorize requests per client, with an authorization plugin or a policy gateway "
          "such as dockward.", "2.12"),
    Check(CheckId.DAEMON_NO_LIVE_RESTORE, AUDIT, L, "Live restore is disabled",
          'Set "live-restore": true in daemon.json.', "2.15"),
    Check(CheckId.DAEMON_NO_NEW_PRIVILEGES, AUDIT, L, "no-new-privileges is not the daemon default",
          'Set "no-new-privileges": true in daemon.json.', "2.14"),
    Check(CheckId.DAEMON_INSECURE_REGISTRY, AUDIT, M, "Insecure registries are configured",
          "Remove insecure-registries; give every registry a TLS certificate.", "2.5"),
    Check(CheckId.DAEMON_EXPERIMENTAL, AUDIT, L, "Experimental features are enabled",
          "Turn experimental features off on production daemons.", "2.18"),
    # -- containers ------------------------------------------------------------------------------
    Check(CheckId.CONTAINER_PRIVILEGED, AUDIT, H, "Privileged container",
          "Run the container without --privileged; add only the capabilities and devices it "
          "needs.", "5.5"),
    Check(CheckId.CONTAINER_DOCKER_SOCKET, AUDIT, H,
          "Container mounts the Docker or containerd socket",
          "Do not mount the daemon's socket into containers: it is root on the host. Give the "
          "tool a narrow, read-only role through a socket proxy such as dockward.", "5.32"),
    Check(CheckId.CONTAINER_HOST_ROOT, AUDIT, H, "Container mounts the host's root filesystem",
          "Mount only the directories the container needs, read-only where possible.", "5.6"),
    Check(CheckId.CONTAINER_SENSITIVE_MOUNT, AUDIT, M,
          "Container mounts a sensitive host directory",
          "Do not mount /boot, /dev, /etc, /lib, /proc, /sys, /usr or the Docker data root "
          "into containers, read-write or read-only.", "5.6"),
    Check(CheckId.CONTAINER_CAP_ADD, AUDIT, M,
          "Container has capabilities beyond Docker's default set",
          "Drop the added capabilities (--cap-add); start from --cap-drop ALL.", "5.4"),
    Check(CheckId.CONTAINER_HOST_NETWORK, AUDIT, M, "Container shares the host's network namespace",
          "Do not use --network host.", "5.10"),
    Check(CheckId.CONTAINER_HOST_PID, AUDIT, M, "Container shares the host's PID namespace",
          "Do not use --pid host.", "5.16"),
    Check(CheckId.CONTAINER_HOST_IPC, AUDIT, M, "Container shares the host's IPC namespace",
          "Do not use --ipc host.", "5.17"),
    Check(CheckId.CONTAINER_HOST_UTS, AUDIT, L, "Container shares the host's UTS namespace",
          "Do not use --uts host.", "5.21"),
    Check(CheckId.CONTAINER_HOST_USERNS, AUDIT, M, "Container opts out of user namespace remapping",
          "Do not use --userns host.", "5.31"),
    Check(CheckId.CONTAINER_UNCONFINED, AUDIT, M,
          "Container runs without part of Docker's default confinement (seccomp, AppArmor, "
          "SELinux labels, read-only cgroups or /proc paths)",
          "Remove --security-opt seccomp=unconfined, apparmor=unconfined, label=disable, "
          "systempaths=unconfined and writable-cgroups=true; do not set MaskedPaths or "
          "ReadonlyPaths.", "5.22"),
    Check(CheckId.CONTAINER_DEVICES, AUDIT, M, "Container has host devices or may open them",
          "Do not pass host devices (--device, --device-cgroup-rule, --gpus) unless the "
          "workload needs them.", "5.18"),
    Check(CheckId.CONTAINER_PUBLIC_PORT, AUDIT, L,
          "Container port published on every host interface",
          "Publish on a specific interface (-p 127.0.0.1:8080:80).", "5.14"),
)
# fmt: on

CHECKS: dict[CheckId, Check] = {row.id: row for row in _ROWS}
if len(CHECKS) != len(_ROWS) or set(CHECKS) != set(CheckId):
    raise ImportError(
        "the check table needs exactly one row per CheckId: "
        f"{sorted(set(CheckId) - set(CHECKS)) or 'a duplicate row'}"
    )


def finding(evidence: Evidence, endpoint: str) -> Finding:
    """The ``Finding`` on ``endpoint`` that ``evidence`` shows, described by its row."""
    check = CHECKS[evidence.check]
    return Finding(
        id=check.id,
        severity=evidence.severity or check.severity,
        endpoint=endpoint,
        title=check.title,
        evidence=evidence.text,
        remediation=check.remediation,
        cis=check.cis,
        cve=evidence.cve,
    )


def findings(evidence: Iterable[Evidence], endpoint: str) -> list[Finding]:
    """``finding`` of each, in order."""
    return [finding(item, endpoint) for item in evidence]
