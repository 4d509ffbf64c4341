"""The engine's verdicts, without a network: each way a TLS endpoint can answer ``/_ping``."""

from __future__ import annotations

import pytest

from dockward.scan.findings import CheckId, EndpointState
from dockward.scan.http import HttpResponse
from dockward.scan.verdicts import (
    describe_answer,
    legacy_versions,
    plaintext_exposure,
    tls_exposure,
    weak_suites,
)

DOCKER = HttpResponse(200, {"api-version": "1.47", "server": "Docker/27.3.1 (linux)"}, b"OK", True)
CAS = ["CN=dockward CA"]


@pytest.mark.parametrize(
    ("response", "requested", "state", "check", "evidence"),
    [
        (DOCKER, False, EndpointState.TLS_NO_CLIENT_AUTH, CheckId.TLS_NO_CLIENT_AUTH,
         "TLSv1.3 handshake without a client certificate: no CertificateRequest; GET /_ping "
         "answered 200 (Server: Docker/27.3.1 (linux), Api-Version: 1.47)"),
        (DOCKER, True, EndpointState.TLS_CLIENT_CERT_OPTIONAL, CheckId.TLS_CLIENT_CERT_OPTIONAL,
         "TLSv1.3 handshake without a client certificate: the server sent a CertificateRequest "
         "(acceptable CAs: CN=dockward CA), but GET /_ping answered 200 (Server: Docker/27.3.1 "
         "(linux), Api-Version: 1.47)"),
        (HttpResponse(403, {}, b"", True), True, EndpointState.MTLS_REQUIRED,
         CheckId.MTLS_ENFORCED, "CertificateRequest (acceptable CAs: CN=dockward CA); GET /_ping "
         "without a certificate answered 403"),
        (HttpResponse(403, {}, b"", True), False, EndpointState.TLS_NON_DOCKER,
         CheckId.TLS_NON_DOCKER, "GET /_ping answered 403"),
        (None, True, EndpointState.MTLS_REQUIRED, CheckId.MTLS_ENFORCED,
         "CertificateRequest (acceptable CAs: CN=dockward CA); without a client certificate: "
         "TLS alert certificate_required (116)"),
    ],
)  # fmt: skip
def test_tls_exposure(
    response: HttpResponse | None,
    requested: bool,
    state: EndpointState,
    check: CheckId,
    evidence: str,
) -> None:
    verdict = tls_exposure(
        response,
        "TLS alert certificate_required (116)",
        requested=requested,
        ca_names=CAS if requested else [],
        negotiated="TLSv1.3",
    )
    assert verdict.state is state and verdict.note is None
    assert verdict.evidence is not None
    assert (verdict.evidence.check, verdict.evidence.text) == (check, evidence)
    assert verdict.docker_without_certificate is (response is DOCKER)


def test_tls_without_a_certificate_request_or_an_answer_is_a_note() -> None:
    verdict = tls_exposure(None, "connection reset", requested=False, ca_names=[], negotiated=None)
    assert verdict.state is EndpointState.TLS_UNKNOWN and verdict.evidence is None
    assert verdict.note == "TLS without a CertificateRequest, but no HTTP answer: connection reset"


def test_plaintext_versions_and_suites() -> None:
    plain = plaintext_exposure(HttpResponse(200, {"api-version": "1.41"}, b"OK", True))
    assert plain.check is CheckId.API_PLAINTEXT
    assert plain.text == "GET /_ping over plain HTTP answered 200 (Api-Version: 1.41)"
    assert [e.text for e in legacy_versions(["TLSv1.0", "TLSv1.2"])] == ["accepts TLSv1.0"]
    assert legacy_versions(["TLSv1.2", "TLSv1.3"]) == []
    weak = weak_suites({"TLSv1.1": ["AES256-SHA"], "TLSv1.2": ["AES256-SHA", "RC4-SHA"]})
    assert [e.text for e in weak] == ["accepts AES256-SHA, RC4-SHA"]
    assert weak_suites({"TLSv1.2": ["ECDHE-ECDSA-CHACHA20-POLY1305"]}) == []
    assert describe_answer(HttpResponse(404, {}, b"", False)) == "404"
