"""The JSON and SARIF outputs of one fixed scan, byte for byte against files in golden/.

The report is made by the producers of every check (support/scan_samples.py: the posture
audit, the certificate checks, the engine's verdicts) from inputs a real scan could see. The
golden files were written by the scanner before its checks became an enum-keyed table with
producers: a change that alters either output fails here. Regenerate (once the change is
wanted) with ``DOCKWARD_REGENERATE_GOLDEN=1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dockward.scan.checks import CHECKS, findings
from dockward.scan.engine import ScanOptions, build_report
from dockward.scan.findings import CheckId, EndpointResult, ScanReport, Severity
from dockward.scan.report import to_json
from dockward.scan.sarif import to_sarif
from support.scan_samples import SAMPLE_SCAN, T0, SampleEndpoint

GOLDEN = Path(__file__).parent / "golden"


def _endpoint(sample: SampleEndpoint) -> EndpointResult:
    host, _, port = sample.endpoint.rpartition(":")
    found = findings((item for call in sample.calls for item in call.evidence()), sample.endpoint)
    ordered = sorted(found, key=lambda f: -f.severity.rank)  # as the engine orders them
    return EndpointResult(
        endpoint=sample.endpoint,
        host=host.strip("[]"),
        port=int(port),
        state=sample.state,
        findings=tuple(ordered),
        **sample.extra,
    )


def _report() -> ScanReport:
    results = [_endpoint(sample) for sample in SAMPLE_SCAN]
    targets = ["127.0.0.1", "docker.example", "10.0.0.7", "::1"]
    return build_report(results, targets, [2375, 2376, 2377, 8443], ScanOptions(), T0, T0)


def _compare(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DOCKWARD_REGENERATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{name} differs from {path}"


def test_the_report_uses_every_check() -> None:
    found = _report().findings()
    assert {f.id for f in found} == set(CHECKS)
    # and the severities a producer chooses over the table's default
    assert {f.severity for f in found if f.id is CheckId.CONTAINER_CAP_ADD} == {
        Severity.HIGH,
        Severity.MEDIUM,
    }
    assert {f.cve for f in found if f.id is CheckId.ENGINE_VULNERABLE} >= {("CVE-2019-5736",)}


def test_json_output_is_byte_identical() -> None:
    _compare("report.json", to_json(_report()) + "\n")


def test_sarif_output_is_byte_identical() -> None:
    _compare("report.sarif", json.dumps(to_sarif(_report()), indent=2) + "\n")


def test_a_report_read_back_writes_the_same_bytes() -> None:
    text = to_json(_report())
    again = ScanReport.model_validate_json(text)
    assert all(isinstance(f.id, CheckId) for f in again.findings())
    assert to_json(again) == text
    assert json.dumps(to_sarif(again)) == json.dumps(to_sarif(_report()))
