"""The table of every finding the scanner can report: a reader scans it top to bottom.

Adding a check is adding a row here and the code that produces its evidence. CIS ids are those
of the CIS Docker Benchmark 1.6.0 as numbered by docker-bench-security 1.6.0; ``None`` where the
benchmark has no such control.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockward.scan.findings import Finding, Severity

# The hardening advice every exposure finding ends with.
EXPOSURE_FIX = (
    "Require mutual TLS (dockerd --tlsverify with --tlscacert, or a gateway such as dockward in "
    "front of the unix socket), never expose the API to the internet, restrict it to management "
    "hosts with a firewall, and prefer SSH (docker context create --docker host=ssh://...)."
)
CERT_FIX = "Issue a new server certificate (dockward ca issue server HOST...) and rotate it."


@dataclass(frozen=True, slots=True)
class Check:
    """One kind of finding: what it means, how bad it is and how to fix it."""

    id: str
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

# fmt: off
_ROWS = (
    # -- exposure: does the API answer without a client certificate? ---------------------------
    Check("DW-API-PLAINTEXT", C, "Unauthenticated Docker API (plaintext HTTP)",
          EXPOSURE_FIX, "2.7"),
    Check("DW-TLS-NO-CLIENT-AUTH", C, "TLS without client-certificate verification",
          EXPOSURE_FIX, "2.7"),
    Check("DW-TLS-CLIENT-CERT-OPTIONAL", C,
          "Client certificate requested but not required: the API answers without one",
          EXPOSURE_FIX, "2.7"),
    Check("DW-MTLS-ENFORCED", I, "Mutual TLS enforced",
          "Nothing to fix. Keep client certificates short-lived and revoke them when people or "
          "machines leave.", "2.7"),
    Check("DW-TLS-NON-DOCKER", I, "TLS service that is not a Docker API",
          "Nothing to fix for Docker; check that this service is expected on this port."),
    # -- server certificate ---------------------------------------------------------------------
    Check("DW-CERT-EXPIRED", H, "Server certificate expired", CERT_FIX),
    Check("DW-CERT-NOT-YET-VALID", H, "Server certificate not valid yet",
          "Check the clocks of the server and the CA, then reissue the certificate."),
    Check("DW-CERT-EXPIRING", M, "Server certificate expires within 30 days", CERT_FIX),
    Check("DW-CERT-SELF-SIGNED", M, "Self-signed server certificate",
          "Issue the server certificate from a CA that clients pin (--tlscacert), so that a "
          "client can tell the daemon from an impostor."),
    Check("DW-CERT-WEAK-SIGNATURE", H, "Server certificate signed with SHA-1 or MD5",
          "Reissue the certificate with a SHA-256 (or better) signature."),
    Check("DW-CERT-WEAK-KEY", H, "Weak server key (RSA/DSA < 2048 bits or EC < 224 bits)",
          "Reissue the certificate with an ECDSA P-256 or RSA 3072 key."),
    Check("DW-CERT-NAME-MISMATCH", L, "Server certificate does not name the scanned host",
          "Add the host name or IP address clients dial to the certificate's subjectAltName, "
          "or clients with --tlsverify refuse to connect."),
    Check("DW-CERT-NO-SERVER-AUTH", L, "Server certificate lacks the serverAuth key usage",
          "Reissue the certificate with extendedKeyUsage = serverAuth."),
    # -- protocol versions and ciphers ----------------------------------------------------------
    Check("DW-TLS-LEGACY-VERSION", H, "Legacy TLS version accepted (TLS 1.0 or 1.1)",
          "Accept TLS 1.2 and 1.3 only. dockerd has done so since 2018 (go-connections 0.4): a "
          "legacy version means an old engine or a terminating proxy in front of it."),
    Check("DW-TLS-WEAK-CIPHER", M, "Weak TLS 1.2 cipher suites accepted (CBC, RSA key exchange, "
          "3DES, RC4 or no forward secrecy)",
          "Offer only ECDHE with AES-GCM or ChaCha20-Poly1305 (dockerd >= 29 does)."),
    # -- daemon posture (authenticated audit) ---------------------------------------------------
    Check("DW-ENGINE-VULNERABLE", H, "Engine or runtime version with known vulnerabilities",
          "Upgrade Docker Engine, containerd and runc to a release that fixes it.", "1.2.2"),
    Check("DW-DAEMON-INSECURE-LISTENER", C,
          "The daemon reports another listener without TLS client verification",
          EXPOSURE_FIX, "2.7"),
    Check("DW-DAEMON-WARNING", L, "The daemon reports a configuration warning",
          "Read the warning in `docker info` and fix the daemon configuration."),
    Check("DW-DAEMON-NO-USERNS", L, "User namespace remapping is off",
          "Consider userns-remap (or rootless mode) so that root in a container is not root on "
          "the host.", "2.9"),
    Check("DW-DAEMON-NOT-ROOTLESS", I, "The daemon runs as root (not rootless)",
          "Consider rootless mode where the workload allows it.", "2.1"),
    Check("DW-DAEMON-SECCOMP", M, "The default seccomp profile is not in use",
          "Run the daemon with the default seccomp profile (remove --seccomp-profile).", "2.17"),
    Check("DW-DAEMON-NO-LSM", L, "Neither AppArmor nor SELinux confines containers",
          "Enable AppArmor or SELinux on the host so containers get a default profile."),
    Check("DW-DAEMON-NO-AUTHZ", L, "No authorization plugin: every client is root-equivalent",
          "Authorize requests per client, with an authorization plugin or a policy gateway "
          "such as dockward.", "2.12"),
    Check("DW-DAEMON-NO-LIVE-RESTORE", L, "Live restore is disabled",
          'Set "live-restore": true in daemon.json.', "2.15"),
    Check("DW-DAEMON-NO-NEW-PRIVILEGES", L, "no-new-privileges is not the daemon default",
          'Set "no-new-privileges": true in daemon.json.', "2.14"),
    Check("DW-DAEMON-INSECURE-REGISTRY", M, "Insecure registries are configured",
          "Remove insecure-registries; give every registry a TLS certificate.", "2.5"),
    Check("DW-DAEMON-EXPERIMENTAL", L, "Experimental features are enabled",
          "Turn experimental features off on production daemons.", "2.18"),
    # -- containers ------------------------------------------------------------------------------
    Check("DW-CONTAINER-PRIVILEGED", H, "Privileged container",
          "Run the container without --privileged; add only the capabilities and devices it "
          "needs.", "5.5"),
    Check("DW-CONTAINER-DOCKER-SOCKET", H, "Container mounts the Docker or containerd socket",
          "Do not mount the daemon's socket into containers: it is root on the host. Give the "
          "tool a narrow, read-only role through a socket proxy such as dockward.", "5.32"),
    Check("DW-CONTAINER-HOST-ROOT", H, "Container mounts the host's root filesystem",
          "Mount only the directories the container needs, read-only where possible.", "5.6"),
    Check("DW-CONTAINER-SENSITIVE-MOUNT", M, "Container mounts a sensitive host directory",
          "Do not mount /boot, /dev, /etc, /lib, /proc, /sys, /usr or the Docker data root "
          "into containers, read-write or read-only.", "5.6"),
    Check("DW-CONTAINER-CAP-ADD", M, "Container has capabilities beyond Docker's default set",
          "Drop the added capabilities (--cap-add); start from --cap-drop ALL.", "5.4"),
    Check("DW-CONTAINER-HOST-NETWORK", M, "Container shares the host's network namespace",
          "Do not use --network host.", "5.10"),
    Check("DW-CONTAINER-HOST-PID", M, "Container shares the host's PID namespace",
          "Do not use --pid host.", "5.16"),
    Check("DW-CONTAINER-HOST-IPC", M, "Container shares the host's IPC namespace",
          "Do not use --ipc host.", "5.17"),
    Check("DW-CONTAINER-HOST-UTS", L, "Container shares the host's UTS namespace",
          "Do not use --uts host.", "5.21"),
    Check("DW-CONTAINER-HOST-USERNS", M, "Container opts out of user namespace remapping",
          "Do not use --userns host.", "5.31"),
    Check("DW-CONTAINER-UNCONFINED", M, "Container runs without part of Docker's default "
          "confinement (seccomp, AppArmor, SELinux labels, read-only cgroups or /proc paths)",
          "Remove --security-opt seccomp=unconfined, apparmor=unconfined, label=disable, "
          "systempaths=unconfined and writable-cgroups=true; do not set MaskedPaths or "
          "ReadonlyPaths.", "5.22"),
    Check("DW-CONTAINER-DEVICES", M, "Container has host devices or may open them",
          "Do not pass host devices (--device, --device-cgroup-rule, --gpus) unless the "
          "workload needs them.", "5.18"),
    Check("DW-CONTAINER-PUBLIC-PORT", L, "Container port published on every host interface",
          "Publish on a specific interface (-p 127.0.0.1:8080:80).", "5.14"),
)
# fmt: on

CHECKS: dict[str, Check] = {row.id: row for row in _ROWS}
assert len(CHECKS) == len(_ROWS), "duplicate check id"


def finding(
    check_id: str,
    endpoint: str,
    evidence: str,
    *,
    severity: Severity | None = None,
    cve: tuple[str, ...] = (),
) -> Finding:
    """A ``Finding`` for the check ``check_id``; ``severity`` overrides the table's default."""
    check = CHECKS[check_id]
    return Finding(
        id=check.id,
        severity=severity or check.severity,
        endpoint=endpoint,
        title=check.title,
        evidence=evidence,
        remediation=check.remediation,
        cis=check.cis,
        cve=cve,
    )
