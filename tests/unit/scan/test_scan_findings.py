"""The typed results: JSON round trip, severity order, the --fail-on rule, SARIF shape."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dockward.scan.checks import CHECKS, finding
from dockward.scan.engine import ScanOptions, build_report
from dockward.scan.findings import (
    CertificateInfo,
    CheckId,
    DockerVersion,
    EndpointResult,
    EndpointState,
    Evidence,
    ScanReport,
    Severity,
    TlsInfo,
)
from dockward.scan.report import to_json
from dockward.scan.sarif import LEVELS, to_sarif

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _report() -> ScanReport:
    cert = CertificateInfo(
        subject="commonName=localhost", issuer="commonName=CA",
        subject_alt_names=("DNS:localhost",), serial="1f", not_before=T0,
        not_after=T0 + dt.timedelta(days=90), public_key_type="ec",
        public_key_bits=256, public_key_curve="secp256r1", signature_algorithm="ecdsa-with-SHA256",
        sha256="ab" * 32, sha1="cd" * 20, md5="ef" * 16, self_signed=False, server_auth=True,
        pem="-----BEGIN CERTIFICATE-----\n...\n",
    )  # fmt: skip
    results = [
        EndpointResult(
            endpoint="127.0.0.1:2375", host="127.0.0.1", port=2375,
            state=EndpointState.PLAINTEXT_DOCKER,
            docker=DockerVersion(version="20.10.24", components={"runc": "1.1.5"}),
            audited_as="anonymous", containers_inspected=1,
            findings=(finding(Evidence(CheckId.API_PLAINTEXT, "GET /_ping answered 200"),
                              "127.0.0.1:2375"),
                      finding(Evidence(CheckId.ENGINE_VULNERABLE, "runc 1.1.5",
                                       severity=Severity.HIGH, cve=("CVE-2024-21626",)),
                              "127.0.0.1:2375")),
        ),
        EndpointResult(
            endpoint="[::1]:2376", host="::1", port=2376, state=EndpointState.MTLS_REQUIRED,
            tls=TlsInfo(negotiated_version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384",
                        versions_accepted=("TLSv1.2", "TLSv1.3"), client_cert_requested=True,
                        client_cert_requested_by_version={"TLSv1.2": True, "TLSv1.3": True},
                        client_ca_names=("CN=CA",), cipher_suites={"TLSv1.2": ("X",)}),
            certificate=cert,
            findings=(finding(Evidence(CheckId.MTLS_ENFORCED, "alert 116"), "[::1]:2376"),),
            errors=("a note",),
        ),
        EndpointResult(endpoint="127.0.0.1:2377", host="127.0.0.1", port=2377,
                       state=EndpointState.CLOSED),
    ]  # fmt: skip
    return build_report(results, ["127.0.0.1", "::1"], [2375, 2376, 2377], ScanOptions(), T0, T0)


def test_json_round_trip() -> None:
    report = _report()
    text = to_json(report)
    again = ScanReport.model_validate_json(text)
    assert again == report
    assert to_json(again) == text
    data = json.loads(text)
    assert data["schema_version"] == "1"
    assert [e["state"] for e in data["endpoints"]] == ["plaintext-docker", "mtls-required"]
    assert data["stats"] == {
        "endpoints_scanned": 3,
        "endpoints_open": 2,
        "docker_apis": 2,
        "findings_by_severity": {"critical": 1, "high": 1, "medium": 0, "low": 0, "info": 1},
    }
    assert data["endpoints"][0]["findings"][1]["cve"] == ["CVE-2024-21626"]


def test_unknown_fields_and_bad_severities_are_refused() -> None:
    data = json.loads(to_json(_report()))
    data["endpoints"][0]["findings"][0]["severity"] = "urgent"
    with pytest.raises(ValueError):
        ScanReport.model_validate(data)
    data = json.loads(to_json(_report()))
    data["surprise"] = 1
    with pytest.raises(ValueError):
        ScanReport.model_validate(data)


def test_severity_order_and_fail_on() -> None:
    assert [s.rank for s in Severity] == [4, 3, 2, 1, 0]
    report = _report()
    assert report.fails(Severity.CRITICAL) and report.fails(Severity.INFO)
    quiet = report.model_copy(update={"endpoints": report.endpoints[1:]})
    assert not quiet.fails(Severity.LOW) and quiet.fails(Severity.INFO)


def test_sarif_2_1_0() -> None:
    sarif = to_sarif(_report())
    assert sarif["version"] == "2.1.0" and "sarif-2.1.0" in sarif["$schema"]
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {rule["id"] for rule in rules} == set(CHECKS)
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["DW-API-PLAINTEXT", "DW-ENGINE-VULNERABLE",
                                              "DW-MTLS-ENFORCED"]  # fmt: skip
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in LEVELS.values()
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.startswith("tcp://")
        assert len(result["partialFingerprints"]["dockwardFinding/v1"]) == 64
    assert results[0]["level"] == "error" and results[2]["level"] == "none"
    assert results[1]["properties"]["cve"] == ["CVE-2024-21626"]
    json.dumps(sarif)  # serializable as is
