"""The endpoint state machine against loopback servers of each kind (plain, TLS, mTLS, ...)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from dockward.scan import engine
from dockward.scan.engine import ScannerBug, ScanOptions, scan
from dockward.scan.findings import EndpointResult, EndpointState, Evidence
from dockward.scan.probes import ClientBundle
from dockward.scan.targets import Endpoint


def _scan(port: int, **options: Any) -> EndpointResult:
    options.setdefault("timeout", 3.0)
    results = asyncio.run(scan([Endpoint("127.0.0.1", port)], ScanOptions(**options)))
    assert len(results) == 1
    return results[0]


def _ids(result: EndpointResult) -> list[str]:
    return [f.id for f in result.findings]


def _only_gets(server: Any) -> None:
    assert server.requests, "the server saw no request"
    assert all(line.startswith("GET ") for line in server.requests), server.requests


def test_plaintext_docker_is_critical_and_audited(fake_docker: Any) -> None:
    server = fake_docker()
    result = _scan(server.port)
    assert result.state is EndpointState.PLAINTEXT_DOCKER
    assert result.findings[0].id == "DW-API-PLAINTEXT"
    assert result.findings[0].severity == "critical"
    assert "DW-CONTAINER-PRIVILEGED" in _ids(result)
    assert result.docker is not None and result.docker.version == "20.10.24"
    assert result.audited_as == "anonymous" and result.containers_inspected == 1
    assert result.tls is None and result.certificate is None
    _only_gets(server)
    assert "GET /containers/json?all=1 HTTP/1.1" in server.requests


def test_tls_without_client_auth_is_critical(fake_docker: Any, scan_pki: Any) -> None:
    server = fake_docker(scan_pki.server_context())
    result = _scan(server.port)
    assert result.state is EndpointState.TLS_NO_CLIENT_AUTH
    assert result.findings[0].id == "DW-TLS-NO-CLIENT-AUTH"
    assert result.tls is not None and not result.tls.client_cert_requested
    assert result.tls.versions_accepted == ("TLSv1.2", "TLSv1.3")
    assert result.certificate is not None
    assert result.certificate.subject_alt_names == ("DNS:localhost", "IP Address:127.0.0.1")
    assert "DW-CONTAINER-PRIVILEGED" in _ids(result)
    _only_gets(server)


def test_mutual_tls_is_ok_and_audited_with_a_bundle(fake_docker: Any, scan_pki: Any) -> None:
    server = fake_docker(scan_pki.server_context(verify=True))
    result = _scan(server.port)
    assert result.state is EndpointState.MTLS_REQUIRED
    assert _ids(result) == ["DW-MTLS-ENFORCED"]
    assert result.tls is not None
    assert result.tls.client_cert_requested_by_version == {"TLSv1.2": True, "TLSv1.3": True}
    assert result.certificate is not None  # seen in the handshake although it failed
    assert server.requests == []  # without a certificate no request got through
    assert result.audited_as is None

    audited = _scan(server.port, bundle=ClientBundle.load(scan_pki.bundle))
    assert audited.state is EndpointState.MTLS_REQUIRED
    assert audited.audited_as == "client-certificate"
    assert "DW-CONTAINER-PRIVILEGED" in _ids(audited)
    _only_gets(server)


def test_expired_certificate(fake_docker: Any, scan_pki: Any) -> None:
    server = fake_docker(scan_pki.expired_context())
    result = _scan(server.port)
    assert "DW-CERT-EXPIRED" in _ids(result)


def test_legacy_versions_are_found(fake_docker: Any, scan_pki: Any) -> None:
    server = fake_docker(scan_pki.server_context(legacy=True))
    result = _scan(server.port)
    if result.tls is None or "TLSv1.0" not in result.tls.versions_accepted:
        pytest.skip("the local OpenSSL does not speak TLS 1.0 even at security level 0")
    assert "DW-TLS-LEGACY-VERSION" in _ids(result)
    legacy = next(f for f in result.findings if f.id == "DW-TLS-LEGACY-VERSION")
    assert legacy.evidence == "accepts TLSv1.0, TLSv1.1"


def test_deep_enumerates_suites_and_flags_cbc(fake_docker: Any, scan_pki: Any) -> None:
    server = fake_docker(scan_pki.server_context())
    result = _scan(server.port, deep=True)
    assert result.tls is not None
    suites = result.tls.cipher_suites["TLSv1.2"]
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in suites
    assert "TLSv1.3" not in result.tls.cipher_suites
    weak = next(f for f in result.findings if f.id == "DW-TLS-WEAK-CIPHER")
    assert "GCM" not in weak.evidence


def test_non_docker_services(fake_docker: Any, scan_pki: Any) -> None:
    plain = fake_docker(docker=False)
    assert _scan(plain.port).state is EndpointState.HTTP_NON_DOCKER
    tls = fake_docker(scan_pki.server_context(), docker=False)
    result = _scan(tls.port)
    assert result.state is EndpointState.TLS_NON_DOCKER
    assert _ids(result) == ["DW-TLS-NON-DOCKER"]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def test_silent_and_closed_ports(silent_port: int, closed_port: int) -> None:
    result = _scan(silent_port, timeout=0.3)
    assert result.state is EndpointState.OPEN_UNKNOWN
    assert result.errors and "timed out" in result.errors[0]
    assert _scan(closed_port).state is EndpointState.CLOSED


def test_many_closed_loopback_addresses_in_order(closed_port: int) -> None:
    endpoints = [Endpoint(f"127.3.0.{i}", closed_port) for i in range(64)]
    results = asyncio.run(scan(endpoints, ScanOptions(concurrency=16, timeout=2.0)))
    assert [r.endpoint for r in results] == [str(e) for e in endpoints]
    assert {r.state for r in results} == {EndpointState.CLOSED}


def _misspelt_id(*_: object) -> Evidence:
    # what a typo in a check id was before ids were an enum: the table has no such row
    return Evidence("DW-API-PLAINTXT", "GET /_ping answered 200")  # type: ignore[arg-type]


def _type_error(*_: object) -> list[Evidence]:
    return [Evidence(*range(5))]  # type: ignore[arg-type,call-arg]


def _attribute_error(info: object, *_: object) -> list[Evidence]:
    return info.extensions  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize(
    ("where", "bug", "error"),
    [
        ("plaintext_exposure", _misspelt_id, "KeyError: 'DW-API-PLAINTXT'"),
        ("audit", _type_error, "TypeError: "),
        ("check_certificate", _attribute_error, "AttributeError: "),  # after the probes
    ],
)
def test_a_bug_stops_the_scan_naming_the_endpoint(
    fake_docker: Any,
    scan_pki: Any,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    bug: Any,
    error: str,
) -> None:
    monkeypatch.setattr(engine, where, bug)
    server = fake_docker(scan_pki.server_context() if where == "check_certificate" else None)
    with pytest.raises(ScannerBug) as caught:
        _scan(server.port)
    endpoint = f"127.0.0.1:{server.port}"
    assert str(caught.value).startswith(f"internal error while scanning {endpoint}: {error}")
    assert caught.value.endpoint == endpoint and caught.value.exit_code == 3
    assert caught.value.__cause__ is caught.value.error
    assert caught.value.error.__traceback__ is not None  # the CLI prints it


def test_what_the_network_does_stays_a_note_on_its_endpoint(
    fake_docker: Any, scan_pki: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def reset(*_: object, **__: object) -> None:
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(engine, "tls_attempt", reset)
    server = fake_docker(scan_pki.server_context())
    result = _scan(server.port)
    assert result.errors == ("probe error: ConnectionResetError: connection reset by peer",)
    assert result.findings == ()
