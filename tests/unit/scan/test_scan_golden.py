"""The JSON and SARIF outputs of one fixed scan, byte for byte against files in golden/.

The report uses every check, through the code that produces it where that code is pure (the
posture audit, the certificate checks). The golden files were written by the scanner before its
check registry became an enum-keyed table: a change that alters either output fails here.
Regenerate (after deciding the change is wanted) with ``DOCKWARD_REGENERATE_GOLDEN=1``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from dockward.scan.audit import DaemonFacts, audit
from dockward.scan.checks import finding
from dockward.scan.engine import ScanOptions, build_report
from dockward.scan.findings import (
    CertificateInfo,
    EndpointResult,
    EndpointState,
    Finding,
    ScanReport,
    Severity,
)
from dockward.scan.report import to_json
from dockward.scan.sarif import to_sarif
from dockward.scan.tlsinfo import check_certificate

GOLDEN = Path(__file__).parent / "golden"
T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)

WORST_VERSION: dict[str, Any] = {
    "Version": "18.09.1",
    "ApiVersion": "1.39",
    "Os": "linux",
    "Experimental": True,
    "Components": [{"Name": "runc", "Version": "1.0.0-rc6"}],
}
WORST_INFO: dict[str, Any] = {
    "SecurityOptions": ["name=seccomp,profile=/etc/docker/relaxed.json"],
    "Plugins": {"Authorization": None},
    "LiveRestoreEnabled": False,
    "RegistryConfig": {
        "InsecureRegistryCIDRs": ["127.0.0.0/8", "10.0.0.0/8"],
        "IndexConfigs": {"registry.lan:5000": {"Secure": False}},
    },
    "Warnings": [
        "WARNING: API is accessible on http://0.0.0.0:2375 without encryption.\n  Access ...",
        "WARNING: bridge-nf-call-iptables is disabled",
    ],
}
WORST_CONTAINER: dict[str, Any] = {
    "Id": "f" * 64,
    "Name": "/web",
    "AppArmorProfile": "unconfined",
    "HostConfig": {
        "Privileged": True,
        "Binds": ["/var/run/docker.sock:/var/run/docker.sock", "/:/host:ro", "/etc:/etc2:ro"],
        "CapAdd": ["NET_ADMIN", "SYS_ADMIN"],
        "NetworkMode": "host",
        "PidMode": "host",
        "IpcMode": "host",
        "UTSMode": "host",
        "UsernsMode": "host",
        "SecurityOpt": ["seccomp=unconfined"],
        "Devices": [{"PathOnHost": "/dev/kmsg"}],
        "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
    },
}
QUIET_CONTAINER: dict[str, Any] = {
    "Id": "e" * 64,
    "Name": "/db",
    "HostConfig": {"CapAdd": ["NET_BIND_SERVICE"]},
}


def _certificate(**changes: Any) -> CertificateInfo:
    fields: dict[str, Any] = {
        "subject": "commonName=docker.internal",
        "issuer": "commonName=docker.internal",
        "subject_alt_names": ("DNS:docker.internal",),
        "serial": "01",
        "not_before": T0 - dt.timedelta(days=400),
        "not_after": T0 - dt.timedelta(days=35),
        "public_key_type": "rsa",
        "public_key_bits": 1024,
        "signature_algorithm": "sha1WithRSAEncryption",
        "sha256": "ab" * 32,
        "sha1": "cd" * 20,
        "md5": "ef" * 16,
        "self_signed": True,
        "server_auth": False,
        "pem": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
    }
    fields.update(changes)
    return CertificateInfo(**fields)


def _endpoint(
    endpoint: str, state: EndpointState, findings: list[Finding], **extra: Any
) -> EndpointResult:
    host, _, port = endpoint.rpartition(":")
    ordered = sorted(findings, key=lambda f: -f.severity.rank)  # as the engine orders them
    return EndpointResult(
        endpoint=endpoint,
        host=host.strip("[]"),
        port=int(port),
        state=state,
        findings=tuple(ordered),
        **extra,
    )


def _report() -> ScanReport:
    plain = "127.0.0.1:2375"
    facts = DaemonFacts(
        version=WORST_VERSION, info=WORST_INFO, containers=[WORST_CONTAINER, QUIET_CONTAINER]
    )
    old = "docker.example:2376"
    expired = _certificate()
    optional = "10.0.0.7:2376"
    future = _certificate(
        subject="commonName=10.0.0.7",
        issuer="commonName=Lab CA",
        subject_alt_names=("IP Address:10.0.0.7",),
        not_before=T0 + dt.timedelta(days=2),
        not_after=T0 + dt.timedelta(days=200),
        public_key_type="ec",
        public_key_bits=256,
        public_key_curve="secp256r1",
        signature_algorithm="ecdsa-with-SHA256",
        self_signed=False,
        server_auth=True,
    )
    mtls = "[::1]:2376"
    expiring = future.model_copy(
        update={
            "subject": "commonName=localhost",
            "subject_alt_names": ("DNS:localhost", "IP Address:::1"),
            "not_before": T0 - dt.timedelta(days=60),
            "not_after": T0 + dt.timedelta(days=12),
        }
    )
    results = [
        _endpoint(
            plain,
            EndpointState.PLAINTEXT_DOCKER,
            [
                finding(
                    "DW-API-PLAINTEXT",
                    plain,
                    "GET /_ping over plain HTTP answered 200 (Server: Docker/18.09.1 (linux), "
                    "Api-Version: 1.39)",
                ),
                *audit(facts, plain),
            ],
            audited_as="anonymous",
            containers_inspected=2,
        ),
        _endpoint(
            old,
            EndpointState.TLS_NO_CLIENT_AUTH,
            [
                finding("DW-TLS-LEGACY-VERSION", old, "accepts TLSv1.0, TLSv1.1"),
                finding("DW-TLS-WEAK-CIPHER", old, "accepts AES128-SHA, DES-CBC3-SHA"),
                finding(
                    "DW-TLS-NO-CLIENT-AUTH",
                    old,
                    "TLSv1.2 handshake without a client certificate: no CertificateRequest; "
                    "GET /_ping answered 200 (Api-Version: 1.39)",
                ),
                *check_certificate(expired, "docker.example", old, T0),
            ],
            certificate=expired,
        ),
        _endpoint(
            optional,
            EndpointState.TLS_CLIENT_CERT_OPTIONAL,
            [
                finding(
                    "DW-TLS-CLIENT-CERT-OPTIONAL",
                    optional,
                    "TLSv1.3 handshake without a client certificate: the server sent a "
                    "CertificateRequest (acceptable CAs: CN=Lab CA), but GET /_ping answered 200 "
                    "(Api-Version: 1.44)",
                ),
                *check_certificate(future, "10.0.0.7", optional, T0),
            ],
            certificate=future,
        ),
        _endpoint(
            mtls,
            EndpointState.MTLS_REQUIRED,
            [
                finding(
                    "DW-MTLS-ENFORCED",
                    mtls,
                    "CertificateRequest (acceptable CAs: CN=dockward CA); without a client "
                    "certificate: TLS alert certificate_required (116)",
                ),
                *check_certificate(expiring, "::1", mtls, T0),
            ],
            certificate=expiring,
            errors=("no Docker API with the client certificate: timed out",),
        ),
        _endpoint(
            "127.0.0.1:8443",
            EndpointState.TLS_NON_DOCKER,
            [finding("DW-TLS-NON-DOCKER", "127.0.0.1:8443", "GET /_ping answered 404")],
        ),
        _endpoint("127.0.0.1:2377", EndpointState.CLOSED, []),
    ]
    targets = ["127.0.0.1", "docker.example", "10.0.0.7", "::1"]
    return build_report(results, targets, [2375, 2376, 2377, 8443], ScanOptions(), T0, T0)


def _compare(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DOCKWARD_REGENERATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{name} differs from {path}"


def test_the_report_uses_every_check() -> None:
    from dockward.scan.checks import CHECKS

    found = _report().findings()
    assert {f.id for f in found} == set(CHECKS)
    # and the severities a producer chooses over the table's default
    assert {f.severity for f in found if f.id == "DW-CONTAINER-CAP-ADD"} == {
        Severity.HIGH,
        Severity.MEDIUM,
    }
    assert {f.cve for f in found if f.id == "DW-ENGINE-VULNERABLE"} >= {("CVE-2019-5736",)}


def test_json_output_is_byte_identical() -> None:
    _compare("report.json", to_json(_report()) + "\n")


def test_sarif_output_is_byte_identical() -> None:
    _compare("report.sarif", json.dumps(to_sarif(_report()), indent=2) + "\n")
