"""SARIF 2.1.0 for code-scanning dashboards: one rule per check, one result per finding.

Endpoints are not files: each result names its endpoint as a ``tcp://host:port`` artifact URI
and as a logical location, and carries a stable fingerprint (check id + endpoint + evidence).
"""

from __future__ import annotations

import hashlib
from typing import Any

from dockward.scan.checks import CHECKS
from dockward.scan.findings import CheckId, Finding, ScanReport, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/dockward/dockward/blob/main/docs/scanner.md"
LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "none",
}
# GitHub code scanning maps "security-severity" to its own critical/high/medium/low.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.8",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def to_sarif(report: ScanReport) -> dict[str, Any]:
    """The SARIF log of a scan, as a JSON-ready dict."""
    rule_ids = sorted(CHECKS)
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "dockward-scan",
                        "version": report.tool_version,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule(rule_id) for rule_id in rule_ids],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "startTimeUtc": report.started_at.isoformat(),
                        "endTimeUtc": report.finished_at.isoformat(),
                    }
                ],
                "results": [_result(f, index[f.id]) for f in report.findings()],
            }
        ],
    }


def _rule(rule_id: CheckId) -> dict[str, Any]:
    check = CHECKS[rule_id]
    tags = ["security", "docker"] + ([f"CIS-Docker-{check.cis}"] if check.cis else [])
    return {
        "id": check.id,
        "name": "".join(part.capitalize() for part in check.id.split("-")[1:]),
        "shortDescription": {"text": check.title},
        "fullDescription": {"text": check.title},
        "help": {"text": check.remediation, "markdown": check.remediation},
        "defaultConfiguration": {"level": LEVELS[check.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[check.severity],
            "tags": tags,
            "problem.severity": "error" if LEVELS[check.severity] == "error" else "warning",
        },
    }


def _result(item: Finding, rule_index: int) -> dict[str, Any]:
    fingerprint = hashlib.sha256(f"{item.id}|{item.endpoint}|{item.evidence}".encode()).hexdigest()
    properties: dict[str, Any] = {"severity": item.severity.value}
    if item.cis:
        properties["cis"] = item.cis
    if item.cve:
        properties["cve"] = list(item.cve)
    return {
        "ruleId": item.id,
        "ruleIndex": rule_index,
        "level": LEVELS[item.severity],
        "message": {"text": f"{item.title}: {item.evidence}"},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": f"tcp://{item.endpoint}"}},
                "logicalLocations": [{"name": item.endpoint, "kind": "endpoint"}],
            }
        ],
        "partialFingerprints": {"dockwardFinding/v1": fingerprint},
        "properties": properties,
    }
