"""docs/scanner.md documents every check and every field of the JSON schema."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from dockward.scan.checks import CHECKS
from dockward.scan.findings import (
    CertificateInfo,
    DockerVersion,
    EndpointResult,
    EndpointState,
    Finding,
    ScanReport,
    ScanStats,
    TlsInfo,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "scanner.md"


def test_every_check_is_documented() -> None:
    text = DOC.read_text()
    for check in CHECKS.values():
        assert f"| `{check.id}` | {check.severity.value} |" in text, check.id


def test_every_schema_field_and_state_is_documented() -> None:
    text = DOC.read_text()
    models: list[type[BaseModel]] = [ScanReport, ScanStats, EndpointResult, Finding, TlsInfo,
                                     CertificateInfo, DockerVersion]  # fmt: skip
    for model in models:
        for name in model.model_fields:
            assert f"`{name}`" in text, f"{model.__name__}.{name}"
    for state in EndpointState:
        assert f"`{state.value}`" in text, state
