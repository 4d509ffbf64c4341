"""What the probes saw, judged: an endpoint's exposure and its TLS protocol findings.

Pure functions from what ``probes`` observed (the ``/_ping`` answer, whether the server sent a
CertificateRequest, the versions and suites it accepted) to an ``EndpointState`` and
``Evidence``. The engine does the I/O and makes findings of the evidence through ``checks``,
whose exposure and protocol rows name these functions as their producers. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dockward.scan.deep import is_weak_suite
from dockward.scan.findings import CheckId, EndpointState, Evidence
from dockward.scan.http import HttpResponse
from dockward.scan.probes import LEGACY_VERSIONS, is_docker_ping


@dataclass(frozen=True, slots=True)
class TlsVerdict:
    """The state of a TLS endpoint, with its evidence, or a note saying why there is none."""

    state: EndpointState
    evidence: Evidence | None = None
    note: str | None = None

    @property
    def docker_without_certificate(self) -> bool:
        """The API answered without a client certificate: audit it anonymously."""
        return self.state in (
            EndpointState.TLS_NO_CLIENT_AUTH,
            EndpointState.TLS_CLIENT_CERT_OPTIONAL,
        )


def plaintext_exposure(response: HttpResponse) -> Evidence:
    """A Docker ``/_ping`` answer over plain HTTP (the caller has checked that it is one)."""
    return Evidence(
        CheckId.API_PLAINTEXT, f"GET /_ping over plain HTTP answered {describe_answer(response)}"
    )


def tls_exposure(
    response: HttpResponse | None,
    refusal: str | None,
    *,
    requested: bool,
    ca_names: Sequence[str],
    negotiated: str | None,
) -> TlsVerdict:
    """Judge ``GET /_ping`` sent without a client certificate after a TLS handshake.

    ``response`` is its answer (``None`` with ``refusal`` saying why there was none: an alert,
    a reset); ``requested`` whether any handshake carried a CertificateRequest.
    """
    cas = f" (acceptable CAs: {'; '.join(ca_names)})" if ca_names else ""
    if response is not None and is_docker_ping(response):
        answered = f"GET /_ping answered {describe_answer(response)}"
        shown = f"{negotiated} handshake without a client certificate:"
        if requested:
            return TlsVerdict(
                EndpointState.TLS_CLIENT_CERT_OPTIONAL,
                Evidence(
                    CheckId.TLS_CLIENT_CERT_OPTIONAL,
                    f"{shown} the server sent a CertificateRequest{cas}, but {answered}",
                ),
            )
        return TlsVerdict(
            EndpointState.TLS_NO_CLIENT_AUTH,
            Evidence(CheckId.TLS_NO_CLIENT_AUTH, f"{shown} no CertificateRequest; {answered}"),
        )
    if response is not None:
        if response.status in (401, 403) and requested:
            return TlsVerdict(
                EndpointState.MTLS_REQUIRED,
                Evidence(
                    CheckId.MTLS_ENFORCED,
                    f"CertificateRequest{cas}; GET /_ping without a certificate answered "
                    f"{response.status}",
                ),
            )
        return TlsVerdict(
            EndpointState.TLS_NON_DOCKER,
            Evidence(CheckId.TLS_NON_DOCKER, f"GET /_ping answered {describe_answer(response)}"),
        )
    if requested:
        return TlsVerdict(
            EndpointState.MTLS_REQUIRED,
            Evidence(
                CheckId.MTLS_ENFORCED,
                f"CertificateRequest{cas}; without a client certificate: {refusal}",
            ),
        )
    return TlsVerdict(
        EndpointState.TLS_UNKNOWN,
        note=f"TLS without a CertificateRequest, but no HTTP answer: {refusal}",
    )


def legacy_versions(accepted: Iterable[str]) -> list[Evidence]:
    """TLS 1.0 and 1.1 among the versions the server accepted."""
    legacy = [version for version in accepted if version in LEGACY_VERSIONS]
    return [Evidence(CheckId.TLS_LEGACY_VERSION, f"accepts {', '.join(legacy)}")] if legacy else []


def weak_suites(suites: Mapping[str, Iterable[str]]) -> list[Evidence]:
    """The weak suites among those accepted, per version (``--deep``)."""
    weak = sorted({name for names in suites.values() for name in names if is_weak_suite(name)})
    return [Evidence(CheckId.TLS_WEAK_CIPHER, f"accepts {', '.join(weak)}")] if weak else []


def describe_answer(response: HttpResponse) -> str:
    """``200 (Server: ..., Api-Version: ...)``: the status and the headers that identify."""
    server = response.headers.get("server")
    api = response.headers.get("api-version")
    details = ", ".join(
        x
        for x in (f"Server: {server}" if server else "", f"Api-Version: {api}" if api else "")
        if x
    )
    return f"{response.status}" + (f" ({details})" if details else "")
