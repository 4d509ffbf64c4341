"""One scan's worth of observations, fed to the scanner's producers: every check fires.

``SAMPLE_SCAN`` is a list of endpoints, each with its state and the producer calls that give
its evidence (the same calls the engine makes, on inputs a real scan could see). The golden
output test builds a report from it; the check-registry test reads which producer emitted what.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockward.scan import audit, tlsinfo, verdicts
from dockward.scan.audit import DaemonFacts
from dockward.scan.findings import CertificateInfo, EndpointState, Evidence
from dockward.scan.http import HttpResponse

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
    # NET_BIND_SERVICE is in Docker's default set (adds nothing, not reported); NET_ADMIN is not
    "HostConfig": {"CapAdd": ["NET_BIND_SERVICE", "NET_ADMIN"]},
}
WORST_FACTS = DaemonFacts(
    version=WORST_VERSION, info=WORST_INFO, containers=[WORST_CONTAINER, QUIET_CONTAINER]
)


def certificate(**changes: Any) -> CertificateInfo:
    """An expired, self-signed, SHA-1, RSA-1024 certificate, or what ``changes`` make of it."""
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


EXPIRED = certificate()
NOT_YET_VALID = certificate(
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
EXPIRING = NOT_YET_VALID.model_copy(
    update={
        "subject": "commonName=localhost",
        "subject_alt_names": ("DNS:localhost", "IP Address:::1"),
        "not_before": T0 - dt.timedelta(days=60),
        "not_after": T0 + dt.timedelta(days=12),
    }
)


def ping_answer(status: int = 200, **headers: str) -> HttpResponse:
    return HttpResponse(status, {k.replace("_", "-"): v for k, v in headers.items()}, b"OK", True)


@dataclass(frozen=True)
class Call:
    """One call of a producer, as the engine makes it."""

    producer: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def evidence(self) -> list[Evidence]:
        """What the producer returned, as a list (producers return one, a list, or a verdict)."""
        result = self.producer(*self.args, **self.kwargs)
        if isinstance(result, verdicts.TlsVerdict):
            return [result.evidence] if result.evidence is not None else []
        return [result] if isinstance(result, Evidence) else list(result)


@dataclass(frozen=True)
class SampleEndpoint:
    endpoint: str
    state: EndpointState
    calls: tuple[Call, ...]
    extra: dict[str, Any] = field(default_factory=dict)


def _tls(
    response: HttpResponse | None,
    refusal: str | None = None,
    *,
    requested: bool = False,
    ca: str = "",
    negotiated: str = "TLSv1.3",
) -> Call:
    options = {"requested": requested, "ca_names": [ca] if ca else [], "negotiated": negotiated}
    return Call(verdicts.tls_exposure, (response, refusal), options)


SAMPLE_SCAN = (
    SampleEndpoint(
        "127.0.0.1:2375",
        EndpointState.PLAINTEXT_DOCKER,
        (
            Call(
                verdicts.plaintext_exposure,
                (ping_answer(server="Docker/18.09.1 (linux)", api_version="1.39"),),
            ),
            Call(audit.audit, (WORST_FACTS,)),
        ),
        {"audited_as": "anonymous", "containers_inspected": 2},
    ),
    SampleEndpoint(
        "docker.example:2376",
        EndpointState.TLS_NO_CLIENT_AUTH,
        (
            Call(verdicts.legacy_versions, (["TLSv1.0", "TLSv1.1", "TLSv1.2"],)),
            Call(
                verdicts.weak_suites,
                (
                    {
                        "TLSv1.0": ("AES128-SHA",),
                        "TLSv1.2": ("DES-CBC3-SHA", "ECDHE-RSA-AES128-GCM-SHA256"),
                    },
                ),
            ),
            _tls(ping_answer(api_version="1.39"), negotiated="TLSv1.2"),
            Call(tlsinfo.check_certificate, (EXPIRED, "docker.example", T0)),
        ),
        {"certificate": EXPIRED},
    ),
    SampleEndpoint(
        "10.0.0.7:2376",
        EndpointState.TLS_CLIENT_CERT_OPTIONAL,
        (
            _tls(ping_answer(api_version="1.44"), requested=True, ca="CN=Lab CA"),
            Call(tlsinfo.check_certificate, (NOT_YET_VALID, "10.0.0.7", T0)),
        ),
        {"certificate": NOT_YET_VALID},
    ),
    SampleEndpoint(
        "[::1]:2376",
        EndpointState.MTLS_REQUIRED,
        (
            _tls(None, "TLS alert certificate_required (116)", requested=True, ca="CN=dockward CA"),
            Call(tlsinfo.check_certificate, (EXPIRING, "::1", T0)),
        ),
        {
            "certificate": EXPIRING,
            "errors": ("no Docker API with the client certificate: timed out",),
        },
    ),
    SampleEndpoint(
        "127.0.0.1:8443",
        EndpointState.TLS_NON_DOCKER,
        (_tls(HttpResponse(404, {}, b"", False)),),
    ),
    SampleEndpoint("127.0.0.1:2377", EndpointState.CLOSED, ()),
)
# More verdicts, for the registry test: the same ids by other paths, and none at all.
MORE_CALLS = (
    _tls(ping_answer(403), requested=True, negotiated="TLSv1.2"),
    _tls(None, "connection reset", negotiated="TLSv1.2"),
    Call(verdicts.legacy_versions, (["TLSv1.2", "TLSv1.3"],)),
    Call(verdicts.weak_suites, ({"TLSv1.2": ("ECDHE-ECDSA-AES128-GCM-SHA256",)},)),
    Call(audit.audit, (DaemonFacts(),)),
)
