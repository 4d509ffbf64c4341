"""The container-risk judge: each row trips on what it names and only on that; the policy and
the scanner, which both read it, give the same verdict."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from dockward.policy.container_risk import (
    CONTAINER_RISKS,
    MOUNT_CHECKS,
    Problem,
    RiskSettings,
    container_problems,
    host_path_problem,
    mount_problems,
)
from dockward.policy.profiles import (
    DEFAULT_MASKED_PATHS,
    DEFAULT_READONLY_PATHS,
    FactQuery,
    ProfileSettings,
    check_request,
)
from dockward.scan.audit import CONTAINER_CHECKS, DaemonFacts, audit
from dockward.scan.checks import CHECKS, findings
from dockward.scan.findings import Severity

SCANNER = RiskSettings()
POLICY = RiskSettings(allowed_host_paths=("/srv/ci",))

# What dockerd reports for a container made with default settings: nothing to find.
CONFINED_HOST_CONFIG: dict[str, object] = {
    "Privileged": False,
    "NetworkMode": "default",
    "PidMode": "",
    "IpcMode": "private",
    "UTSMode": "",
    "UsernsMode": "",
    "CgroupnsMode": "host",
    "CapAdd": None,
    "Capabilities": None,
    "SecurityOpt": None,
    "Devices": [],
    "DeviceCgroupRules": None,
    "DeviceRequests": None,
    "Binds": None,
    "PortBindings": {},
    "Runtime": "runc",
    # what a daemon of today sets (an older daemon's lists lack the newest paths)
    "MaskedPaths": list(DEFAULT_MASKED_PATHS),
    "ReadonlyPaths": list(DEFAULT_READONLY_PATHS),
}


def inspect(host_config: Mapping[str, object] | None = None, **top: object) -> dict[str, object]:
    """An inspect answer: a confined container with ``host_config`` and ``top`` changed."""
    return {
        "Id": "c" * 64,
        "Name": "/web",
        "AppArmorProfile": "docker-default",
        "HostConfig": {**CONFINED_HOST_CONFIG, **(host_config or {})},
        "Mounts": [],
        **top,
    }


def checks(found: list[Problem]) -> list[str]:
    return [problem.check for problem in found]


def bind(source: str, target: str = "/data", rw: bool = True) -> dict[str, object]:
    return {"Type": "bind", "Source": source, "Destination": target, "Mode": "", "RW": rw}


def volume_mount(name: str) -> dict[str, object]:
    return {
        "Type": "volume",
        "Name": name,
        "Source": f"/var/lib/docker/volumes/{name}/_data",
        "Destination": "/data",
        "Driver": "local",
        "RW": True,
    }


# --- each row: a container that trips it, one that does not -----------------------------------

TRIPS: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    "privileged": (
        inspect({"Privileged": True, "MaskedPaths": None, "ReadonlyPaths": None}),
        inspect({"Privileged": False}),
    ),
    "host-network": (inspect({"NetworkMode": "host"}), inspect({"NetworkMode": "bridge"})),
    "host-pid": (inspect({"PidMode": "host"}), inspect({"PidMode": "container:abc"})),
    "host-ipc": (inspect({"IpcMode": "host"}), inspect({"IpcMode": "shareable"})),
    "host-uts": (inspect({"UTSMode": "host"}), inspect({"UTSMode": ""})),
    "host-userns": (inspect({"UsernsMode": "host"}), inspect({"UsernsMode": ""})),
    "capabilities": (
        inspect({"CapAdd": ["NET_ADMIN"]}),
        inspect({"CapAdd": ["NET_RAW", "CAP_CHOWN", "kill"], "CapDrop": ["ALL"]}),
    ),
    "devices": (
        inspect({"DeviceCgroupRules": ["c 1:3 rmw"]}),
        inspect({"Devices": [], "DeviceCgroupRules": [], "DeviceRequests": []}),
    ),
    "security-options": (
        inspect({"SecurityOpt": ["label=disable"]}),
        inspect({"SecurityOpt": ["no-new-privileges", "label=level:s0", "seccomp=/x.json"]}),
    ),
    "system-paths": (
        inspect({"ReadonlyPaths": []}),
        inspect({"MaskedPaths": None, "ReadonlyPaths": None}),  # unknown: nothing to compare
    ),
    "docker-socket": (
        inspect(Mounts=[bind("/var/run/docker.sock", "/var/run/docker.sock")]),
        inspect(Mounts=[bind("/srv/ci/sockets", "/s")]),
    ),
    "host-root": (inspect(Mounts=[bind("/", "/host", rw=False)]), inspect(Mounts=[])),
    "host-path": (
        inspect(Mounts=[bind("/etc", "/etc2", rw=False)]),
        inspect(Mounts=[bind("/srv/ci/data")]),
    ),
    "public-port": (
        inspect({"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}),
        inspect({"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}}),
    ),
}
VOLUMES: dict[str, Mapping[str, object] | None] = {
    "bound": {"Driver": "local", "Options": {"type": "none", "o": "bind", "device": "/etc"}},
    "plain": {"Driver": "local", "Options": None},
}
TRIPS["host-volume"] = (
    inspect(Mounts=[volume_mount("bound")]),
    inspect(Mounts=[volume_mount("plain")]),
)


def test_every_row_has_a_case() -> None:
    assert set(TRIPS) == {check.name for check in CONTAINER_RISKS}


@pytest.mark.parametrize("settings", [SCANNER, POLICY], ids=["scanner", "policy"])
@pytest.mark.parametrize("name", sorted(TRIPS))
def test_each_row_trips_on_its_case_and_only_there(name: str, settings: RiskSettings) -> None:
    tripping, harmless = TRIPS[name]
    found = container_problems(tripping, settings, VOLUMES.get)
    assert checks(found) == [name], found
    assert container_problems(harmless, settings, VOLUMES.get) == []


def test_a_problem_names_field_value_reason_and_severity() -> None:
    [problem] = container_problems(inspect({"CapAdd": ["sys_admin", "NET_RAW"]}), SCANNER)
    assert problem == Problem(
        "capabilities",
        "HostConfig.CapAdd",
        "CAP_SYS_ADMIN",
        "has the added capabilities CAP_SYS_ADMIN",
        "high",
        True,
    )
    assert problem.evidence == "HostConfig.CapAdd: CAP_SYS_ADMIN"


# --- the rows in detail ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("added", "severity"),
    [(["ALL"], "high"), (["CAP_BPF"], "high"), (["NET_ADMIN", "SYS_TIME"], "medium")],
)
def test_capability_severity(added: list[str], severity: str) -> None:
    [problem] = container_problems(inspect({"CapAdd": added}), SCANNER)
    assert problem.severity == severity


def test_the_exact_capability_set_of_api_1_40_is_judged_too() -> None:
    found = container_problems(inspect({"Capabilities": ["CAP_CHOWN", "CAP_SYS_MODULE"]}), SCANNER)
    assert [(p.field, p.value) for p in found] == [("HostConfig.Capabilities", "CAP_SYS_MODULE")]


def test_devices_device_rules_and_device_requests_are_each_a_problem() -> None:
    found = container_problems(
        inspect(
            {
                "Devices": [{"PathOnHost": "/dev/kmsg", "PathInContainer": "/dev/kmsg"}],
                "DeviceCgroupRules": ["b *:* rwm"],
                "DeviceRequests": [{"Driver": "nvidia", "Count": -1}],
            }
        ),
        SCANNER,
    )
    assert [(p.field, p.value) for p in found] == [
        ("HostConfig.Devices", "/dev/kmsg"),
        ("HostConfig.DeviceCgroupRules", "b *:* rwm"),
        ("HostConfig.DeviceRequests", "nvidia"),
    ]
    assert 'may open host devices (device cgroup rule "b *:* rwm")' in found[1].reason


@pytest.mark.parametrize(
    "option",
    [
        "seccomp=unconfined",
        "seccomp:unconfined",
        "apparmor=unconfined",
        "label=disable",
        "label:disable",
        "disable",
        "writable-cgroups=true",
        "writable-cgroups=1",
    ],
)
def test_unconfining_security_options(option: str) -> None:
    [problem] = container_problems(inspect({"SecurityOpt": ["no-new-privileges", option]}), SCANNER)
    assert (problem.check, problem.value, problem.reason) == (
        "security-options",
        option,
        f'runs with "{option}"',
    )


def test_all_unconfining_options_are_one_problem() -> None:
    [problem] = container_problems(
        inspect({"SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined"]}), SCANNER
    )
    assert problem.reason == 'runs with "seccomp=unconfined", "apparmor=unconfined"'


@pytest.mark.parametrize(
    "option", ["writable-cgroups=false", "writable-cgroups=0", "apparmor=my-profile", "seccomp="]
)
def test_confining_security_options_pass(option: str) -> None:
    assert container_problems(inspect({"SecurityOpt": [option]}), SCANNER) == []


def test_an_unconfined_apparmor_profile_is_found_once() -> None:
    alone = container_problems(inspect(AppArmorProfile="unconfined"), SCANNER)
    assert [(p.field, p.value) for p in alone] == [("AppArmorProfile", "unconfined")]
    with_option = container_problems(
        inspect({"SecurityOpt": ["apparmor=unconfined"]}, AppArmorProfile="unconfined"), SCANNER
    )
    assert [p.field for p in with_option] == ["HostConfig.SecurityOpt"]
    privileged = inspect(
        {"Privileged": True, "MaskedPaths": None, "ReadonlyPaths": None},
        AppArmorProfile="unconfined",
    )
    assert checks(container_problems(privileged, SCANNER)) == ["privileged"]


def test_system_paths_name_what_was_dropped() -> None:
    found = container_problems(
        inspect({"ReadonlyPaths": [], "MaskedPaths": ["/proc/kcore"]}), SCANNER
    )
    assert [(p.field, p.value) for p in found] == [
        ("HostConfig.MaskedPaths", "drops /proc/keys, /proc/sched_debug, /proc/timer_list"),
        ("HostConfig.ReadonlyPaths", "drops /proc/sys, /proc/sysrq-trigger"),
    ]
    assert (
        found[1].reason == "has /proc/sys, /proc/sysrq-trigger no longer read-only (ReadonlyPaths)"
    )


@pytest.mark.parametrize(
    ("source", "check"),
    [
        ("/", "host-root"),
        ("/var/run/docker.sock", "docker-socket"),
        ("/run", "docker-socket"),  # holds /run/docker.sock
        ("/var/run/", "docker-socket"),
        ("/run/user/1000/docker.sock", "docker-socket"),  # rootless dockerd
        ("/run/containerd/containerd.sock", "docker-socket"),
        ("/var/run/containerd", "docker-socket"),
        ("/home/u/.local/share/podman.sock", "docker-socket"),
        ("/etc", "host-path"),
        ("/etc/../etc/ssl", "host-path"),
        ("/var/lib/docker/volumes", "host-path"),
        ("/dev/kmsg", "host-path"),
    ],
)
def test_dangerous_binds_without_an_allow_list(source: str, check: str) -> None:
    found = mount_problems(inspect(Mounts=[bind(source)]), SCANNER)
    assert checks(found) == [check]
    assert found[0].value == f"{source} mounted at /data (rw)"


@pytest.mark.parametrize("source", ["/srv/data", "/home/u/app", "/var/lib/app", "/tmp/x"])
def test_other_binds_are_judged_by_the_allow_list(source: str) -> None:
    assert mount_problems(inspect(Mounts=[bind(source)]), SCANNER) == []
    [problem] = mount_problems(inspect(Mounts=[bind(source)]), POLICY)
    assert (problem.check, problem.reason) == (
        "host-path",
        f'mounts host path "{source}" (allowed: /srv/ci)',
    )


def test_an_allowed_path_never_allows_a_daemon_socket() -> None:
    everything = RiskSettings(allowed_host_paths=("/",))
    assert host_path_problem("/etc", everything) is None
    for source, says in (
        ("/var/run", "which exposes the Docker socket /var/run/docker.sock (never allowed)"),
        ("/srv/ci/docker.sock", "which exposes a container daemon's socket (never allowed)"),
        ("/run/containerd/s/abc", "which exposes a container daemon's socket (never allowed)"),
    ):
        assert host_path_problem(source, everything) == f'host path "{source}", {says}'


def test_binds_listed_only_in_the_host_config_are_judged() -> None:
    created = inspect({"Binds": ["/etc:/etc2:ro", "/srv/ci:/ci", "named:/v", "/x:/y"]})
    created["Mounts"] = [bind("/x", "/y")]
    found = mount_problems(created, SCANNER)
    assert [(p.field, p.value) for p in found] == [
        ("HostConfig.Binds", "/etc mounted at /etc2 (ro)")
    ]


def test_mounts_without_a_type_are_read_as_old_daemons_wrote_them() -> None:
    old = inspect(Mounts=[{"Source": "/etc", "Destination": "/e", "RW": True},
                          {"Name": "bound", "Source": "/var/lib/docker/volumes/bound/_data",
                           "Destination": "/v", "Driver": "local"}])  # fmt: skip
    assert checks(mount_problems(old, SCANNER, VOLUMES.get)) == ["host-path", "host-volume"]


def test_volumes_are_only_judged_when_they_can_be_looked_up() -> None:
    container = inspect(Mounts=[volume_mount("bound")])
    assert mount_problems(container, SCANNER) == []
    [problem] = mount_problems(container, SCANNER, VOLUMES.get)
    assert problem.reason == 'uses volume "bound", which binds host path "/etc", a system directory'
    asked: list[str] = []

    def lookup(name: str) -> Mapping[str, object] | None:
        asked.append(name)
        return None  # the daemon does not know it

    assert mount_problems(container, POLICY, lookup) == []
    assert asked == ["bound"]


def test_a_named_pipe_is_a_daemon_socket() -> None:
    pipe = {"Type": "npipe", "Source": r"\\.\pipe\docker_engine", "Destination": r"\\.\pipe\d"}
    [problem] = mount_problems(inspect(Mounts=[pipe]), SCANNER)
    assert (problem.check, problem.reason) == ("docker-socket", "mounts a named pipe")


def test_unreadable_answers_find_nothing() -> None:
    for junk in ({}, {"HostConfig": None, "Mounts": None}, {"HostConfig": [], "Mounts": "x"}):
        assert container_problems(junk, SCANNER) == []


def test_the_runtime_is_not_judged() -> None:
    # inspect names the daemon's default runtime, which a create with no Runtime gets
    assert container_problems(inspect({"Runtime": "crun"}), POLICY) == []


def test_only_public_ports_leave_the_host_out_of_reach() -> None:
    assert [c.name for c in CONTAINER_RISKS if not c.reaches_host] == ["public-port"]
    assert {c.name for c in CONTAINER_RISKS if c.name in MOUNT_CHECKS} == MOUNT_CHECKS


# --- the two consumers ---------------------------------------------------------------------


def test_the_scanner_reports_every_row_with_its_severity() -> None:
    rows = [name for _, names in CONTAINER_CHECKS for name in names]
    assert sorted(rows) == sorted(check.name for check in CONTAINER_RISKS)
    for check_id, names in CONTAINER_CHECKS:
        for check in CONTAINER_RISKS:
            if check.name in names:
                assert CHECKS[check_id].severity.value == check.severity, check.name


def policy_verdict(container: Mapping[str, object]) -> str | None:
    """The reason a ``ci`` role may not exec into ``container`` (``None``: it may)."""
    violation = check_request(
        "baseline",
        "container.exec",
        {"name": "web"},
        {},
        None,
        ProfileSettings(allowed_host_paths=("/srv/ci",)),
        {FactQuery("container", "web"): container},
    )
    return None if violation is None else str(violation)


def scanner_verdict(container: Mapping[str, object]) -> list[tuple[str, Severity, str]]:
    found = findings(audit(DaemonFacts(containers=[dict(container)])), "127.0.0.1:2376")
    return [(f.id, f.severity, f.evidence) for f in found if f.id.startswith("DW-CONTAINER-")]


# The four settings on which the two judges used to disagree, and the verdict both give now.
DISAGREEMENTS = {
    # NET_RAW is in Docker's default capability set: adding it adds nothing
    "cap-add-net-raw": ({"CapAdd": ["NET_RAW"]}, None, None),
    # with CAP_MKNOD (default), root in the container may mknod and open every block device
    "device-cgroup-rules": (
        {"DeviceCgroupRules": ["b *:* rwm"]},
        'may open host devices (device cgroup rule "b *:* rwm")',
        ("DW-CONTAINER-DEVICES", "HostConfig.DeviceCgroupRules: b *:* rwm"),
    ),
    # the list replaces the daemon's: /proc/sys and /proc/sysrq-trigger become writable
    "readonly-paths-empty": (
        {"ReadonlyPaths": []},
        "has /proc/sys, /proc/sysrq-trigger no longer read-only (ReadonlyPaths)",
        (
            "DW-CONTAINER-UNCONFINED",
            "HostConfig.ReadonlyPaths: drops /proc/sys, /proc/sysrq-trigger",
        ),
    ),
    # SELinux confinement off for the container
    "label-disable": (
        {"SecurityOpt": ["label=disable"]},
        'runs with "label=disable"',
        ("DW-CONTAINER-UNCONFINED", "HostConfig.SecurityOpt: label=disable"),
    ),
}


@pytest.mark.parametrize("case", sorted(DISAGREEMENTS))
def test_policy_and_scanner_agree(case: str) -> None:
    host_config, refusal, finding = DISAGREEMENTS[case]
    container = inspect(host_config)
    reason = policy_verdict(container)
    found = scanner_verdict(container)
    if refusal is None:
        assert reason is None and found == []
        return
    assert finding is not None
    assert reason == f'container "web" {refusal}; exec into it is refused'
    assert found == [(finding[0], Severity.MEDIUM, f"container web (cccccccccccc): {finding[1]}")]


def test_a_confined_container_passes_both() -> None:
    assert policy_verdict(inspect()) is None
    assert scanner_verdict(inspect()) == []
