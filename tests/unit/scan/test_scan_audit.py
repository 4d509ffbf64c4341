"""The posture audit: collect() only GETs the documented paths; each table row fires."""

from __future__ import annotations

import asyncio
from typing import Any

from dockward.scan.audit import (
    CONTAINER_CHECKS,
    DAEMON_CHECKS,
    DaemonFacts,
    audit,
    collect,
    docker_version,
)
from dockward.scan.checks import findings
from dockward.scan.findings import Finding, Severity

ENDPOINT = "127.0.0.1:2376"
HARDENED_INFO = {
    "SecurityOptions": [
        "name=apparmor",
        "name=seccomp,profile=builtin",
        "name=userns",
        "name=rootless",
        "name=no-new-privileges",
    ],
    "Plugins": {"Authorization": ["opa-docker-authz"]},
    "LiveRestoreEnabled": True,
    "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}},
    "Warnings": None,
}


def _found(facts: DaemonFacts) -> list[Finding]:
    return findings(audit(facts), ENDPOINT)


def _ids(facts: DaemonFacts) -> list[str]:
    return [f.id for f in _found(facts)]


def test_collect_reads_only_the_documented_paths() -> None:
    asked: list[str] = []
    answers: dict[str, Any] = {
        "/version": {"Version": "27.3.1"},
        "/info": {},
        "/containers/json?all=1": [{"Id": "abc"}, {"Id": "d/ef"}, {"Id": "ghi"}],
    }

    async def fetch(path: str) -> Any:
        asked.append(path)
        return answers.get(path, {"Id": path})

    facts = asyncio.run(collect(fetch, max_containers=2))
    assert asked == [
        "/version",
        "/info",
        "/containers/json?all=1",
        "/containers/abc/json",
        "/containers/d%2Fef/json",
    ]
    assert facts.truncated and len(facts.containers) == 2


def test_hardened_daemon_without_containers_is_clean() -> None:
    facts = DaemonFacts(version={"Version": "29.4.0"}, info=HARDENED_INFO)
    assert _ids(facts) == []


def test_default_daemon_findings() -> None:
    facts = DaemonFacts(
        version={"Version": "20.10.24", "Components": [{"Name": "runc", "Version": "1.1.5"}]},
        info={
            "SecurityOptions": ["name=seccomp,profile=default", "name=cgroupns"],
            "Plugins": {"Authorization": None},
            "Warnings": [
                "[DEPRECATION NOTICE]: API is accessible on http://0.0.0.0:2375 without "
                "encryption.\n         Access to the remote API is equivalent to root access",
                "WARNING: No swap limit support",
            ],
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8", "10.0.0.0/8"]},
            "ExperimentalBuild": True,
        },
    )
    found = {f.id: f for f in _found(facts)}
    assert set(found) == {
        "DW-DAEMON-INSECURE-LISTENER",
        "DW-DAEMON-WARNING",
        "DW-DAEMON-INSECURE-REGISTRY",
        "DW-DAEMON-NO-AUTHZ",
        "DW-DAEMON-NO-USERNS",
        "DW-DAEMON-NO-LSM",
        "DW-DAEMON-NO-LIVE-RESTORE",
        "DW-DAEMON-NO-NEW-PRIVILEGES",
        "DW-DAEMON-EXPERIMENTAL",
        "DW-DAEMON-NOT-ROOTLESS",
        "DW-ENGINE-VULNERABLE",
    }
    listener = found["DW-DAEMON-INSECURE-LISTENER"]
    assert listener.severity is Severity.CRITICAL and "http://0.0.0.0:2375" in listener.evidence
    assert found["DW-DAEMON-WARNING"].evidence == "WARNING: No swap limit support"
    assert found["DW-DAEMON-INSECURE-REGISTRY"].evidence.endswith("10.0.0.0/8")
    assert found["DW-ENGINE-VULNERABLE"].cve == ("CVE-2024-21626",)
    assert found["DW-DAEMON-NO-USERNS"].cis == "2.9"


def test_seccomp_missing_or_custom() -> None:
    for options, evidence in (([], "no seccomp"), (["name=seccomp,profile=/x.json"], "/x.json")):
        info = {**HARDENED_INFO, "SecurityOptions": ["name=apparmor", "name=rootless", *options,
                                                     "name=no-new-privileges"]}  # fmt: skip
        found = _found(DaemonFacts(info=info))
        assert [f.id for f in found] == ["DW-DAEMON-SECCOMP"]
        assert evidence in found[0].evidence


def _container(**host_config: Any) -> dict[str, Any]:
    mounts = host_config.pop("Mounts", [])
    return {"Id": "f" * 64, "Name": "/web", "HostConfig": host_config, "Mounts": mounts}


def test_each_container_check_fires_once() -> None:
    container = _container(
        Privileged=True,
        Binds=["/var/run/docker.sock:/var/run/docker.sock", "/:/host:ro", "/etc:/etc2:ro"],
        CapAdd=["NET_ADMIN", "SYS_ADMIN"],
        NetworkMode="host",
        PidMode="host",
        IpcMode="host",
        UTSMode="host",
        UsernsMode="host",
        SecurityOpt=["seccomp=unconfined"],
        Devices=[{"PathOnHost": "/dev/kmsg"}],
        PortBindings={"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
    )
    found = _found(DaemonFacts(info=HARDENED_INFO, containers=[container]))
    assert [f.id for f in found] == [check_id for check_id, _ in CONTAINER_CHECKS]
    by_id = {f.id: f for f in found}
    assert by_id["DW-CONTAINER-DOCKER-SOCKET"].evidence == (
        "container web (ffffffffffff): HostConfig.Binds: "
        "/var/run/docker.sock mounted at /var/run/docker.sock (rw)"
    )
    assert by_id["DW-CONTAINER-HOST-ROOT"].evidence.endswith("/ mounted at /host (ro)")
    assert by_id["DW-CONTAINER-SENSITIVE-MOUNT"].evidence.endswith("/etc mounted at /etc2 (ro)")
    assert by_id["DW-CONTAINER-CAP-ADD"].severity is Severity.HIGH  # SYS_ADMIN
    assert by_id["DW-CONTAINER-PRIVILEGED"].cis == "5.5"


def test_mounts_array_and_harmless_container() -> None:
    socket_mount = _container(
        Mounts=[{"Type": "bind", "Source": "/run/docker.sock", "Destination": "/s", "RW": False}]
    )
    harmless = _container(
        # in Docker's default capability set: adding them changes nothing (the policy agrees)
        CapAdd=["NET_BIND_SERVICE", "NET_RAW"],
        Mounts=[
            {"Type": "volume", "Source": "/var/lib/docker/volumes/x/_data", "Destination": "/d"}
        ],
        PortBindings={"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
    )
    found = _found(DaemonFacts(info=HARDENED_INFO, containers=[socket_mount, harmless]))
    assert [(f.id, f.severity) for f in found] == [("DW-CONTAINER-DOCKER-SOCKET", Severity.HIGH)]
    assert found[0].evidence.endswith("Mounts[0]: /run/docker.sock mounted at /s (ro)")


def test_a_capability_outside_the_default_set_is_medium() -> None:
    found = _found(
        DaemonFacts(info=HARDENED_INFO, containers=[_container(CapAdd=["NET_RAW", "net_admin"])])
    )
    assert [(f.id, f.severity, f.evidence) for f in found] == [
        (
            "DW-CONTAINER-CAP-ADD",
            Severity.MEDIUM,
            "container web (ffffffffffff): HostConfig.CapAdd: CAP_NET_ADMIN",
        )
    ]


def test_tables_name_known_checks_and_version_projection() -> None:
    from dockward.scan.checks import CHECKS

    for check_id, _ in DAEMON_CHECKS + CONTAINER_CHECKS:
        assert CHECKS[check_id].producer is audit
    version = docker_version(
        {
            "Version": "27.3.1",
            "ApiVersion": "1.47",
            "Components": [{"Name": "runc", "Version": "1.1.14"}],
        }
    )
    assert (version.version, version.api_version, version.components) == (
        "27.3.1", "1.47", {"runc": "1.1.14"})  # fmt: skip
