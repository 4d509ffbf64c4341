"""One container-risk judge: the policy and the scanner give the same verdict on real containers.

An administrator makes containers straight on the daemon with the four settings on which the
policy's and the scanner's judges used to disagree (``CapAdd`` NET_RAW, a device cgroup rule,
``ReadonlyPaths: []``, ``label=disable``). Then, through one real gateway, a ``ci`` client runs
``docker exec`` into each (the policy path) and ``dockward scan --cert-path`` audits the daemon
as admin (the scanner path): a container the scanner reports is one ``ci`` may not exec into,
and the one it does not report, ``ci`` can exec into.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from dockward.cli import main
from dockward.scan.findings import ScanReport
from support.clients import DockerCLI
from support.dockerd import DockerDaemon
from support.gateway import GatewayProcess, TestPKI, serving

pytestmark = pytest.mark.e2e

POLICY = """
[[role]]
name = "admin"
preset = "admin"
clients = ["cn:admin"]

[[role]]
name = "ci"
preset = "ci"
profile = "baseline"
clients = ["cn:ci-*"]
"""

# host config, the policy's refusal (None: exec works), the scanner's finding (None: none)
CASES: dict[str, tuple[dict[str, object], str | None, str | None]] = {
    "cap-add-net-raw": ({"CapAdd": ["NET_RAW"]}, None, None),
    "device-cgroup-rule": (
        {"DeviceCgroupRules": ["b *:* rwm"]},
        'may open host devices (device cgroup rule "b *:* rwm")',
        "DW-CONTAINER-DEVICES",
    ),
    "readonly-paths-empty": (
        {"ReadonlyPaths": []},
        "has /proc/sys, /proc/sysrq-trigger no longer read-only (ReadonlyPaths)",
        "DW-CONTAINER-UNCONFINED",
    ),
    "label-disable": (
        {"SecurityOpt": ["label=disable"]},
        'runs with "label=disable"',
        "DW-CONTAINER-UNCONFINED",
    ),
}


@pytest.fixture(scope="module")
def gw(pki: TestPKI, dockerd: DockerDaemon, busybox_image: str) -> Iterator[GatewayProcess]:
    with serving(pki, dockerd.socket_path, policy=POLICY) as process:
        yield process


@pytest.fixture(scope="module")
def containers(dockerd: DockerDaemon, busybox_image: str) -> Iterator[dict[str, str]]:
    """Each case's running container, made by an administrator on the daemon's socket."""
    names: dict[str, str] = {}
    try:
        for case, (host_config, _, _) in CASES.items():
            name = f"dw-risk-{case}-{uuid.uuid4().hex[:6]}"
            body = {"Image": busybox_image, "Cmd": ["sleep", "3600"], "HostConfig": host_config}
            dockerd.api_json("POST", f"/containers/create?name={name}", body)
            names[case] = name
            dockerd.api_json("POST", f"/containers/{name}/start")
        yield names
    finally:
        for name in names.values():
            dockerd.api("DELETE", f"/containers/{name}?force=1")


@pytest.fixture(scope="module")
def scan_findings(gw: GatewayProcess, containers: dict[str, str]) -> dict[str, list[str]]:
    """``dockward scan`` through the gateway as admin: finding ids by container name."""
    report_path = gw.pki.root / "risk-scan.json"
    code = main(
        ["scan", "--timeout", "10", "--quiet", "--json", str(report_path), gw.address,
         "--cert-path", str(gw.pki.client("admin"))]
    )  # fmt: skip
    assert code in (0, 1)
    [endpoint] = ScanReport.model_validate_json(report_path.read_text()).endpoints
    assert endpoint.audited_as == "client-certificate", endpoint.errors
    found: dict[str, list[str]] = {}
    for finding in endpoint.findings:
        for name in containers.values():
            if finding.evidence.startswith(f"container {name} ("):
                found.setdefault(name, []).append(finding.id)
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_policy_and_scanner_agree_on_a_real_container(
    case: str, gw: GatewayProcess, containers: dict[str, str], scan_findings: dict[str, list[str]]
) -> None:
    _, refusal, finding = CASES[case]
    name = containers[case]
    result = DockerCLI(gw, gw.pki.client("ci-1"))("exec", name, "echo", "in", text=True, timeout=60)
    assert scan_findings.get(name, []) == ([] if finding is None else [finding])
    if refusal is None:
        assert (result.returncode, result.stdout) == (0, "in\n"), result.stderr
    else:
        assert result.returncode != 0
        expected = f'container "{name}" {refusal}; exec into it is refused'
        assert expected in result.stderr, result.stderr
