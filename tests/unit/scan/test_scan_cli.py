"""``dockward scan`` in-process: exit codes, outputs, usage errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockward.cli import main
from dockward.scan import engine
from dockward.scan.findings import ScanReport


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["scan", "--timeout", "3", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["127.0.0.1", "--ports", "70000"], "--ports"),
        (["not a host!"], "invalid target"),
        (["127.0.0.1", "--cert-path", "/nonexistent"], "cert.pem is missing"),
        (["127.0.0.1", "--json", "-", "--sarif", "-"], "only one of --json and --sarif"),
        (["127.0.0.1", "--exclude", "10.0.0.1:22"], "not ports"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], reason: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert err.startswith("dockward: ") and reason in err
    assert out == ""


def test_option_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "127.0.0.1", "--fail-on", "urgent"]) == 2
    assert main(["scan", "127.0.0.1", "--concurrency", "0"]) == 2
    assert main(["scan", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--ports", "--exclude", "--cert-path", "--json", "--sarif", "--fail-on",
                   "--concurrency", "--timeout", "--rate", "--deep"):  # fmt: skip
        assert option in out


def test_nothing_open_exits_0_with_banner(
    capsys: pytest.CaptureFixture[str], closed_port: int, tmp_path: Path
) -> None:
    report_path = tmp_path / "report.json"
    code, out, err = _run(capsys, f"127.0.0.1:{closed_port}", "--json", str(report_path))
    assert code == 0
    assert "authorized" in err
    assert "1 endpoints scanned" in out
    report = ScanReport.model_validate_json(report_path.read_text())
    assert report.endpoints == () and report.stats.endpoints_scanned == 1


def test_plaintext_api_exits_1_with_json_on_stdout(
    capsys: pytest.CaptureFixture[str], fake_docker: Any
) -> None:
    server = fake_docker()
    code, out, _ = _run(capsys, f"127.0.0.1:{server.port}", "--json", "-")
    assert code == 1
    report = ScanReport.model_validate_json(out)  # stdout holds the JSON and nothing else
    assert report.endpoints[0].state == "plaintext-docker"


def test_fail_on_threshold(
    capsys: pytest.CaptureFixture[str], fake_docker: Any, scan_pki: Any
) -> None:
    server = fake_docker(scan_pki.server_context(verify=True))
    target = f"127.0.0.1:{server.port}"
    code, out, _ = _run(capsys, target)
    assert code == 0
    assert "mutual TLS enforced" in out and "DW-MTLS-ENFORCED" in out
    assert "Subject: commonName=localhost" in out and "SHA-256:" in out  # nmap ssl-cert lines
    code, _, _ = _run(capsys, target, "--fail-on", "info", "--quiet")
    assert code == 1


def test_cert_path_from_docker_env_and_sarif(
    capsys: pytest.CaptureFixture[str],
    fake_docker: Any,
    scan_pki: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = fake_docker(scan_pki.server_context(verify=True))
    monkeypatch.setenv("DOCKER_CERT_PATH", str(scan_pki.bundle))
    sarif_path = tmp_path / "scan.sarif"
    code, out, _ = _run(capsys, f"127.0.0.1:{server.port}", "--sarif", str(sarif_path))
    assert code == 1  # the privileged container is high
    assert "audited as client-certificate" in out
    sarif = json.loads(sarif_path.read_text())
    rule_ids = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert {"DW-MTLS-ENFORCED", "DW-CONTAINER-PRIVILEGED"} <= rule_ids


def test_a_bug_in_the_scanner_exits_3_with_its_traceback_and_no_report(
    capsys: pytest.CaptureFixture[str],
    fake_docker: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_audit(facts: object) -> list[object]:
        return [facts.info["Plugins"]["Authorization"][0]]  # type: ignore[attr-defined]

    monkeypatch.setattr(engine, "audit", broken_audit)
    server = fake_docker()
    report_path = tmp_path / "report.json"
    code, out, err = _run(capsys, f"127.0.0.1:{server.port}", "--json", str(report_path))
    assert code == 3
    assert "Traceback (most recent call last)" in err and "in broken_audit" in err
    assert err.rstrip().splitlines()[-1] == (
        f"dockward: internal error while scanning 127.0.0.1:{server.port}: TypeError: "
        "'NoneType' object is not subscriptable (a bug in dockward scan; the scan was stopped)"
    )
    assert out == "" and not report_path.exists()
