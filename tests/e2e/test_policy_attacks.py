"""Container-create escapes under ``baseline``: every field, every spelling, every framing.

Each attack is sent through a real gateway as ``ci-1`` (role ``ci``, profile ``baseline``) on a
raw TLS connection, and must come back as dockward's own refusal naming the field. Then the
daemon is asked on its own socket: the container does not exist and no container appeared.
Control tests send the same spellings straight to dockerd and show that it *does* apply them,
so each refusal above is about a real escape, not a body dockerd would have ignored.
"""

from __future__ import annotations

import http.client
import json
import os
import uuid
from pathlib import Path

import pytest

from support.gateway import GatewayProcess, serving, tls_connect
from support.raw_http import Reply, assert_denied, encode_chunks, send, send_raw

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
host_paths = ["/srv/ci", "{allowed}"]

[[role]]
name = "wide"
preset = "ci"
profile = "baseline"
clients = ["cn:wide-*"]
host_paths = ["/tmp"]
"""


@pytest.fixture(scope="module")
def allowed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ci-allowed")


@pytest.fixture(scope="module")
def gw(pki, dockerd, busybox_image, allowed_dir):
    policy = POLICY.replace("{allowed}", str(allowed_dir))
    with serving(pki, dockerd.socket_path, policy=policy) as process:
        yield process


# --- helpers --------------------------------------------------------------------------------


def create_as_ci(gateway: GatewayProcess, name: str, body: bytes | None = None, **options) -> Reply:
    """``POST /v1.41/containers/create?name=NAME`` as ``ci-1``; ``options`` go to ``send``."""
    return send(gateway, "ci-1", "POST", f"/v1.41/containers/create?name={name}", body, **options)


def container_ids(dockerd) -> set[str]:
    return {c["Id"] for c in dockerd.api_json("GET", "/containers/json?all=1")}


def assert_no_container(dockerd, name: str, before: set[str]) -> None:
    assert dockerd.api("GET", f"/containers/{name}/json")[0] == 404
    assert container_ids(dockerd) == before


def unique(case: str) -> str:
    return f"dw-atk-{case[:40]}-{uuid.uuid4().hex[:6]}"


def remove_container(dockerd, name: str) -> None:
    dockerd.api("DELETE", f"/containers/{name}?force=1&v=1")


def fill(text: str, image: str, dockerd) -> bytes:
    """A JSON body template: IMG, SOCKDIR and SOCK become the image and the daemon's socket."""
    socket_path = dockerd.socket_path
    return (
        text.replace("IMG", json.dumps(image))
        .replace("SOCKDIR", os.path.dirname(socket_path))
        .replace("SOCK", socket_path)
        .encode()
    )


# --- every baseline field of a container create --------------------------------------------

# case -> (body template, the field the refusal must name). Templates are sent byte for byte:
# "\\u0050" is a JSON escape, "\u017f" (LONG S) and "\u212a" (KELVIN SIGN) are sent as UTF-8.
CREATE_ATTACKS: dict[str, tuple[str, str]] = {
    # privileged, in every spelling
    "privileged": ('{"Image":IMG,"HostConfig":{"Privileged":true}}', "HostConfig.Privileged"),
    "privileged-lower": ('{"image":IMG,"hostconfig":{"privileged":true}}', "HostConfig.Privileged"),
    "privileged-upper": ('{"IMAGE":IMG,"HOSTCONFIG":{"PRIVILEGED":true}}', "HostConfig.Privileged"),
    "privileged-mixed": ('{"Image":IMG,"hOsTcOnFiG":{"pRiViLeGeD":true}}', "HostConfig.Privileged"),
    "privileged-escaped": (
        '{"Image":IMG,"HostConfig":{"\\u0050rivileged":true}}',
        "HostConfig.Privileged",
    ),
    "privileged-all-escaped": (
        '{"\\u0049mage":IMG,"\\u0048ost\\u0043onfig":{"\\u0070\\u0072ivileged":true}}',
        "HostConfig.Privileged",
    ),
    "privileged-folded-hostconfig": (
        '{"Image":IMG,"Ho\u017ftConfig":{"Privileged":true}}',
        "HostConfig.Privileged",
    ),
    "privileged-top-level": ('{"Image":IMG,"Privileged":true}', "(top level) Privileged"),
    "privileged-top-level-lower": ('{"Image":IMG,"privileged":true}', "(top level) Privileged"),
    "privileged-top-level-hostconfig-null": (
        '{"Image":IMG,"HostConfig":null,"Privileged":true}',
        "(top level) Privileged",
    ),
    "privileged-top-level-beside-hostconfig": (
        '{"Image":IMG,"HostConfig":{"Memory":0},"Privileged":true}',
        "(top level) Privileged",
    ),
    # host and container namespaces
    "network-host": ('{"Image":IMG,"HostConfig":{"NetworkMode":"host"}}', "HostConfig.NetworkMode"),
    "network-host-kelvin-key": (
        '{"Image":IMG,"HostConfig":{"Networ\u212aMode":"host"}}',
        "HostConfig.NetworkMode",
    ),
    "network-host-upper-value": (
        '{"Image":IMG,"HostConfig":{"NetworkMode":"HOST"}}',
        "HostConfig.NetworkMode",
    ),
    "network-container": (
        '{"Image":IMG,"HostConfig":{"NetworkMode":"container:victim"}}',
        "HostConfig.NetworkMode",
    ),
    "pid-host": ('{"Image":IMG,"HostConfig":{"PidMode":"host"}}', "HostConfig.PidMode"),
    "pid-container": (
        '{"Image":IMG,"HostConfig":{"PidMode":"container:victim"}}',
        "HostConfig.PidMode",
    ),
    "pid-host-top-level": ('{"Image":IMG,"PidMode":"host"}', "(top level) PidMode"),
    "ipc-host": ('{"Image":IMG,"HostConfig":{"IpcMode":"host"}}', "HostConfig.IpcMode"),
    "ipc-container": (
        '{"Image":IMG,"HostConfig":{"IpcMode":"container:victim"}}',
        "HostConfig.IpcMode",
    ),
    "uts-host": ('{"Image":IMG,"HostConfig":{"UTSMode":"host"}}', "HostConfig.UTSMode"),
    "userns-host": ('{"Image":IMG,"HostConfig":{"UsernsMode":"host"}}', "HostConfig.UsernsMode"),
    "cgroupns-host": (
        '{"Image":IMG,"HostConfig":{"CgroupnsMode":"host"}}',
        "HostConfig.CgroupnsMode",
    ),
    "cgroup-container": (
        '{"Image":IMG,"HostConfig":{"Cgroup":"container:victim"}}',
        "HostConfig.Cgroup",
    ),
    # host paths through Binds
    "binds-root": ('{"Image":IMG,"HostConfig":{"Binds":["/:/host"]}}', "HostConfig.Binds"),
    "binds-root-lower": ('{"image":IMG,"hostconfig":{"binds":["/:/host"]}}', "HostConfig.Binds"),
    "binds-root-folded": (
        '{"Image":IMG,"HostConfig":{"Bind\u017f":["/:/host"]}}',
        "HostConfig.Binds",
    ),
    "binds-root-top-level": ('{"Image":IMG,"Binds":["/:/host"]}', "(top level) Binds"),
    "binds-etc-read-only": (
        '{"Image":IMG,"HostConfig":{"Binds":["/etc:/e:ro"]}}',
        "HostConfig.Binds",
    ),
    "binds-dotdot-escape": (
        '{"Image":IMG,"HostConfig":{"Binds":["/srv/ci/../../etc:/e"]}}',
        "HostConfig.Binds",
    ),
    "binds-prefix-lookalike": (
        '{"Image":IMG,"HostConfig":{"Binds":["/srv/cix:/e"]}}',
        "HostConfig.Binds",
    ),
    "binds-docker-sock": (
        '{"Image":IMG,"HostConfig":{"Binds":["/var/run/docker.sock:/var/run/docker.sock"]}}',
        "HostConfig.Binds",
    ),
    "binds-run-docker-sock": (
        '{"Image":IMG,"HostConfig":{"Binds":["/run/docker.sock:/d.sock"]}}',
        "HostConfig.Binds",
    ),
    "binds-daemon-socket": (
        '{"Image":IMG,"HostConfig":{"Binds":["SOCK:/d.sock"]}}',
        "HostConfig.Binds",
    ),
    "binds-daemon-socket-dir": (
        '{"Image":IMG,"HostConfig":{"Binds":["SOCKDIR:/d"]}}',
        "HostConfig.Binds",
    ),
    "binds-var-run": ('{"Image":IMG,"HostConfig":{"Binds":["/var/run:/r"]}}', "HostConfig.Binds"),
    "binds-second-entry": (
        '{"Image":IMG,"HostConfig":{"Binds":["/srv/ci:/ok","/:/host"]}}',
        "HostConfig.Binds",
    ),
    # host paths through Mounts
    "mounts-bind-root": (
        '{"Image":IMG,"HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}}',
        "HostConfig.Mounts[0]",
    ),
    "mounts-bind-lower-keys": (
        '{"Image":IMG,"hostconfig":{"mounts":[{"type":"bind","source":"/","target":"/host"}]}}',
        "HostConfig.Mounts[0]",
    ),
    "mounts-bind-daemon-socket": (
        '{"Image":IMG,"HostConfig":{"Mounts":[{"Type":"bind","Source":"SOCK","Target":"/s"}]}}',
        "HostConfig.Mounts[0]",
    ),
    "mounts-bind-second": (
        '{"Image":IMG,"HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/t"},'
        '{"Type":"bind","Source":"/etc","Target":"/e"}]}}',
        "HostConfig.Mounts[1]",
    ),
    "mounts-bind-top-level": (
        '{"Image":IMG,"Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}',
        "(top level) Mounts[0]",
    ),
    "mounts-volume-local-bind": (
        '{"Image":IMG,"HostConfig":{"Mounts":[{"Type":"volume","Source":"dw-inline-bind",'
        '"Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local",'
        '"Options":{"type":"none","o":"bind","device":"/etc"}}}}]}}',
        "HostConfig.Mounts[0]",
    ),
    "mounts-volume-local-device": (
        '{"Image":IMG,"HostConfig":{"Mounts":[{"Type":"volume","Target":"/v",'
        '"VolumeOptions":{"DriverConfig":{"Options":{"type":"ext4","device":"/dev/sda1"}}}}]}}',
        "HostConfig.Mounts[0]",
    ),
    "mounts-volume-local-overlay": (
        '{"Image":IMG,"HostConfig":{"Mounts":[{"Type":"volume","Target":"/v",'
        '"VolumeOptions":{"DriverConfig":{"Options":{"type":"overlay","device":"overlay",'
        '"o":"lowerdir=/etc"}}}}]}}',
        "HostConfig.Mounts[0]",
    ),
    "mounts-npipe": (
        '{"Image":IMG,"HostConfig":{"Mounts":[{"Type":"npipe","Source":"/x","Target":"/y"}]}}',
        "HostConfig.Mounts[0]",
    ),
    # capabilities
    "capadd-sys-admin": (
        '{"Image":IMG,"HostConfig":{"CapAdd":["SYS_ADMIN"]}}',
        "HostConfig.CapAdd",
    ),
    "capadd-cap-sys-admin": (
        '{"Image":IMG,"HostConfig":{"CapAdd":["CAP_SYS_ADMIN"]}}',
        "HostConfig.CapAdd",
    ),
    "capadd-lower": ('{"Image":IMG,"HostConfig":{"CapAdd":["sys_admin"]}}', "HostConfig.CapAdd"),
    "capadd-long-s": (
        '{"Image":IMG,"HostConfig":{"CapAdd":["\u017fys_admin"]}}',
        "HostConfig.CapAdd",
    ),
    "capadd-all": ('{"Image":IMG,"HostConfig":{"CapAdd":["ALL"]}}', "HostConfig.CapAdd"),
    "capadd-string-not-list": (
        '{"Image":IMG,"HostConfig":{"CapAdd":"SYS_PTRACE"}}',
        "HostConfig.CapAdd",
    ),
    "capadd-escaped-key": (
        '{"Image":IMG,"HostConfig":{"\\u0043apAdd":["SYS_MODULE"]}}',
        "HostConfig.CapAdd",
    ),
    "capadd-after-default": (
        '{"Image":IMG,"HostConfig":{"CapAdd":["CHOWN","NET_ADMIN"]}}',
        "HostConfig.CapAdd",
    ),
    "capadd-top-level": ('{"Image":IMG,"CapAdd":["SYS_ADMIN"]}', "(top level) CapAdd"),
    "capabilities-api-1-40": (
        '{"Image":IMG,"HostConfig":{"Capabilities":["CAP_SYS_ADMIN"]}}',
        "HostConfig.Capabilities",
    ),
    # devices
    "devices": (
        '{"Image":IMG,"HostConfig":{"Devices":[{"PathOnHost":"/dev/mem",'
        '"PathInContainer":"/dev/mem","CgroupPermissions":"rwm"}]}}',
        "HostConfig.Devices",
    ),
    "devices-folded-key": (
        '{"Image":IMG,"HostConfig":{"Device\u017f":[{"PathOnHost":"/dev/mem",'
        '"PathInContainer":"/dev/mem","CgroupPermissions":"rwm"}]}}',
        "HostConfig.Devices",
    ),
    "device-cgroup-rules": (
        '{"Image":IMG,"HostConfig":{"DeviceCgroupRules":["a *:* rwm"]}}',
        "HostConfig.DeviceCgroupRules",
    ),
    "device-requests": (
        '{"Image":IMG,"HostConfig":{"DeviceRequests":[{"Driver":"nvidia","Count":-1,'
        '"Capabilities":[["gpu"]]}]}}',
        "HostConfig.DeviceRequests",
    ),
    # security options
    "seccomp-unconfined": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}',
        "HostConfig.SecurityOpt",
    ),
    "seccomp-colon-unconfined": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["seccomp:unconfined"]}}',
        "HostConfig.SecurityOpt",
    ),
    "seccomp-inline-profile": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":'
        '["seccomp={\\"defaultAction\\":\\"SCMP_ACT_ALLOW\\"}"]}}',
        "HostConfig.SecurityOpt",
    ),
    "apparmor-unconfined": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["apparmor=unconfined"]}}',
        "HostConfig.SecurityOpt",
    ),
    "label-disable": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["label=disable"]}}',
        "HostConfig.SecurityOpt",
    ),
    "label-colon-disable": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["label:disable"]}}',
        "HostConfig.SecurityOpt",
    ),
    "systempaths-unconfined": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["systempaths=unconfined"]}}',
        "HostConfig.SecurityOpt",
    ),
    "writable-cgroups": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["writable-cgroups=true"]}}',
        "HostConfig.SecurityOpt",
    ),
    "apparmor-colon-unconfined": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["apparmor:unconfined"]}}',
        "HostConfig.SecurityOpt",
    ),
    "label-type-spc": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["label=type:spc_t"]}}',
        "HostConfig.SecurityOpt",
    ),
    "label-colon-user": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["label:user:system_u"]}}',
        "HostConfig.SecurityOpt",
    ),
    "seccomp-upper-key": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["Seccomp=unconfined"]}}',
        "HostConfig.SecurityOpt",
    ),
    "security-opt-top-level": (
        '{"Image":IMG,"SecurityOpt":["seccomp=unconfined"]}',
        "(top level) SecurityOpt",
    ),
    "security-opt-folded-key": (
        '{"Image":IMG,"HostConfig":{"\u017fecurityOpt":["seccomp=unconfined"]}}',
        "HostConfig.SecurityOpt",
    ),
    "security-opt-after-harmless": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["no-new-privileges","apparmor=unconfined"]}}',
        "HostConfig.SecurityOpt",
    ),
    # masked and read-only paths
    "masked-paths-empty": (
        '{"Image":IMG,"HostConfig":{"MaskedPaths":[]}}',
        "HostConfig.MaskedPaths",
    ),
    "readonly-paths-empty": (
        '{"Image":IMG,"HostConfig":{"ReadonlyPaths":[]}}',
        "HostConfig.ReadonlyPaths",
    ),
    "masked-paths-one-dropped": (
        '{"Image":IMG,"HostConfig":{"MaskedPaths":["/proc/acpi","/proc/kcore"]}}',
        "HostConfig.MaskedPaths",
    ),
    # cgroup parent
    "cgroup-parent": ('{"Image":IMG,"HostConfig":{"CgroupParent":"/"}}', "HostConfig.CgroupParent"),
    "cgroup-parent-slice": (
        '{"Image":IMG,"HostConfig":{"CgroupParent":"system.slice"}}',
        "HostConfig.CgroupParent",
    ),
    # sysctls
    "sysctl-core-pattern": (
        '{"Image":IMG,"HostConfig":{"Sysctls":{"kernel.core_pattern":"|/bin/sh"}}}',
        "HostConfig.Sysctls",
    ),
    "sysctl-folded-key": (
        '{"Image":IMG,"HostConfig":{"Sy\u017fctls":{"kernel.core_pattern":"|/bin/sh"}}}',
        "HostConfig.Sysctls",
    ),
    "sysctl-kelvin-name": (
        '{"Image":IMG,"HostConfig":{"Sysctls":{"\u212aernel.core_pattern":"|/bin/sh"}}}',
        "HostConfig.Sysctls",
    ),
    "sysctl-slash-separated": (
        '{"Image":IMG,"HostConfig":{"Sysctls":{"kernel/core_pattern":"|/bin/sh"}}}',
        "HostConfig.Sysctls",
    ),
    "sysctl-ip-forward": (
        '{"Image":IMG,"HostConfig":{"Sysctls":{"net.ipv4.ip_forward":"1"}}}',
        "HostConfig.Sysctls",
    ),
    # runtime
    "runtime-unknown": ('{"Image":IMG,"HostConfig":{"Runtime":"nvidia"}}', "HostConfig.Runtime"),
    "runtime-containerd-shim": (
        '{"Image":IMG,"HostConfig":{"Runtime":"io.containerd.runc.v2"}}',
        "HostConfig.Runtime",
    ),
    # runc CVE-2024-21626
    "working-dir-proc-fd": ('{"Image":IMG,"WorkingDir":"/proc/self/fd/8"}', "WorkingDir"),
}


@pytest.mark.parametrize("case", sorted(CREATE_ATTACKS))
def test_dangerous_create_is_denied_and_the_daemon_creates_nothing(
    case, gw, dockerd, busybox_image
):
    template, field = CREATE_ATTACKS[case]
    name = unique(case)
    before = container_ids(dockerd)
    reply = create_as_ci(gw, name, fill(template, busybox_image, dockerd))
    assert_denied(reply, field)
    assert_no_container(dockerd, name, before)


def test_the_daemon_socket_is_named_as_such(gw, dockerd, busybox_image):
    body = fill('{"Image":IMG,"HostConfig":{"Binds":["SOCK:/d.sock"]}}', busybox_image, dockerd)
    reply = send(gw, "ci-1", "POST", "/containers/create", body)
    assert_denied(reply, "HostConfig.Binds")
    assert f'"{dockerd.socket_path}", the Docker socket' in reply.message


@pytest.mark.parametrize(
    "source", ["SOCK", "SOCKDIR", "/tmp", "SOCKDIR/../.", "/var/run/docker.sock", "/run"]
)
def test_the_docker_socket_is_refused_even_under_an_allowed_path(
    source, gw, dockerd, busybox_image
):
    """Role ``wide`` may bind anything under /tmp, where the test daemon's socket lives."""
    name = unique("wide")
    before = container_ids(dockerd)
    body = fill(
        '{"Image":IMG,"HostConfig":{"Binds":["' + source + ':/d"]}}', busybox_image, dockerd
    )
    reply = send(gw, "wide-1", "POST", f"/containers/create?name={name}", body)
    assert_denied(reply, "HostConfig.Binds", role="wide")
    if source.startswith(("SOCK", "/tmp")):
        assert "exposes the Docker socket" in reply.message
    assert_no_container(dockerd, name, before)


# --- the same requests, harmless, go through ------------------------------------------------

# case -> (body template, a check of the created container's inspect answer)
ALLOWED_CREATES: dict[str, tuple[str, object]] = {
    "plain": ('{"Image":IMG,"Cmd":["true"]}', lambda c: c["HostConfig"]["Privileged"] is False),
    "privileged-false": (
        '{"Image":IMG,"HostConfig":{"Privileged":false}}',
        lambda c: c["HostConfig"]["Privileged"] is False,
    ),
    "default-capability": (
        '{"Image":IMG,"HostConfig":{"CapAdd":["CHOWN","cap_net_bind_service"]}}',
        lambda c: c["HostConfig"]["CapAdd"] == ["CHOWN", "cap_net_bind_service"],
    ),
    "safe-sysctl": (
        '{"Image":IMG,"HostConfig":{"Sysctls":{"net.ipv4.tcp_syncookies":"1"}}}',
        lambda c: c["HostConfig"]["Sysctls"] == {"net.ipv4.tcp_syncookies": "1"},
    ),
    "no-new-privileges": (
        '{"Image":IMG,"HostConfig":{"SecurityOpt":["no-new-privileges"]}}',
        lambda c: c["HostConfig"]["SecurityOpt"] == ["no-new-privileges"],
    ),
    "bind-under-srv-ci": (
        '{"Image":IMG,"HostConfig":{"Binds":["/srv/ci/dw-never-created:/data"]}}',
        lambda c: c["HostConfig"]["Binds"] == ["/srv/ci/dw-never-created:/data"],
    ),
    "named-volume": (
        '{"Image":IMG,"HostConfig":{"Binds":["dw-atk-plain-volume:/data"]}}',
        lambda c: c["Mounts"][0]["Name"] == "dw-atk-plain-volume",
    ),
    "tmpfs-mount": (
        '{"Image":IMG,"HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/t"}]}}',
        lambda c: c["HostConfig"]["Mounts"][0]["Type"] == "tmpfs",
    ),
    "masked-paths-superset": (
        '{"Image":IMG,"HostConfig":{"MaskedPaths":["/proc/acpi","/proc/asound",'
        '"/proc/interrupts","/proc/kcore","/proc/keys","/proc/latency_stats",'
        '"/proc/sched_debug","/proc/scsi","/proc/timer_list","/proc/timer_stats",'
        '"/sys/devices/virtual/powercap","/sys/firmware","/proc/extra"]}}',
        lambda c: "/proc/extra" in c["HostConfig"]["MaskedPaths"],
    ),
    "masked-paths-null": (
        '{"Image":IMG,"HostConfig":{"MaskedPaths":null}}',
        lambda c: "/proc/kcore" in c["HostConfig"]["MaskedPaths"],
    ),
    "dotless-i-is-not-privileged": (
        '{"Image":IMG,"HostConfig":{"Pr\u0131v\u0131leged":true}}',
        lambda c: c["HostConfig"]["Privileged"] is False,
    ),
    "runtime-runc": (
        '{"Image":IMG,"HostConfig":{"Runtime":"runc"}}',
        lambda c: c["HostConfig"]["Runtime"] == "runc",
    ),
}


@pytest.mark.parametrize("case", sorted(ALLOWED_CREATES))
def test_harmless_create_is_allowed(case, gw, dockerd, busybox_image):
    template, check = ALLOWED_CREATES[case]
    name = unique(case)
    reply = create_as_ci(gw, name, fill(template, busybox_image, dockerd))
    try:
        assert reply.status == 201, reply
        assert check(dockerd.api_json("GET", f"/containers/{name}/json"))  # type: ignore[operator]
    finally:
        remove_container(dockerd, name)
        dockerd.api("DELETE", "/volumes/dw-atk-plain-volume")


def test_bind_under_the_allowed_temp_dir_is_allowed(gw, dockerd, busybox_image, allowed_dir):
    name = unique("allowed-bind")
    body = json.dumps(
        {"Image": busybox_image, "HostConfig": {"Binds": [f"{allowed_dir}/sub/../data:/data"]}}
    ).encode()
    reply = send(gw, "ci-1", "POST", f"/containers/create?name={name}", body)
    try:
        assert reply.status == 201, reply
    finally:
        remove_container(dockerd, name)


# --- controls: dockerd itself applies each spelling -----------------------------------------

# case -> (body template, what dockerd's inspect shows when it applied the dangerous setting)
DAEMON_CONTROLS: dict[str, tuple[str, object]] = {
    "lower-case-keys": (
        '{"image":IMG,"hostconfig":{"privileged":true}}',
        lambda h: h["Privileged"] is True,
    ),
    "escaped-key": (
        '{"Image":IMG,"HostConfig":{"\\u0050rivileged":true}}',
        lambda h: h["Privileged"] is True,
    ),
    "long-s-in-hostconfig": (
        '{"Image":IMG,"Ho\u017ftConfig":{"Privileged":true}}',
        lambda h: h["Privileged"] is True,
    ),
    "long-s-in-binds": (
        '{"Image":IMG,"HostConfig":{"Bind\u017f":["/:/host"]}}',
        lambda h: h["Binds"] == ["/:/host"],
    ),
    "kelvin-in-networkmode": (
        '{"Image":IMG,"HostConfig":{"Networ\u212aMode":"host"}}',
        lambda h: h["NetworkMode"] == "host",
    ),
    "top-level-privileged": ('{"Image":IMG,"Privileged":true}', lambda h: h["Privileged"] is True),
    "top-level-binds": ('{"Image":IMG,"Binds":["/:/host"]}', lambda h: h["Binds"] == ["/:/host"]),
    "duplicate-key-last-wins": (
        '{"Image":IMG,"HostConfig":{"Privileged":false,"privileged":true}}',
        lambda h: h["Privileged"] is True,
    ),
    "duplicate-object-merges": (
        '{"Image":IMG,"HostConfig":{"Privileged":true},"HostConfig":{"Memory":0}}',
        lambda h: h["Privileged"] is True,
    ),
    "dotless-i-is-ignored": (
        '{"Image":IMG,"HostConfig":{"Pr\u0131v\u0131leged":true}}',
        lambda h: h["Privileged"] is False,
    ),
}


@pytest.mark.parametrize("case", sorted(DAEMON_CONTROLS))
def test_control_dockerd_applies_the_spelling_when_sent_directly(case, dockerd, busybox_image):
    template, applied = DAEMON_CONTROLS[case]
    name = unique(f"control-{case}")
    status, _, payload = dockerd.api(
        "POST",
        f"/v1.41/containers/create?name={name}",
        fill(template, busybox_image, dockerd),
        headers={"Content-Type": "application/json"},
    )
    try:
        assert status == 201, payload
        host_config = dockerd.api_json("GET", f"/containers/{name}/json")["HostConfig"]
        assert applied(host_config), host_config  # type: ignore[operator]
    finally:
        remove_container(dockerd, name)


# --- duplicate keys and objects: refused before the policy even looks -----------------------

DUPLICATES: dict[str, str] = {
    "case-variant-last-wins": '{"Image":IMG,"HostConfig":{"Privileged":false,"privileged":true}}',
    "exact-duplicate": '{"Image":IMG,"HostConfig":{"Privileged":false,"Privileged":true}}',
    "folded-duplicate": '{"Image":IMG,"HostConfig":{"Binds":[],"Bind\u017f":["/:/host"]}}',
    "escaped-duplicate": '{"Image":IMG,"HostConfig":{"Privileged":false,"\\u0050rivileged":true}}',
    "duplicate-objects-merge": (
        '{"Image":IMG,"HostConfig":{"Privileged":true},"HostConfig":{"Memory":0}}'
    ),
    "duplicate-objects-case": '{"Image":IMG,"HostConfig":{"Privileged":true},"hostconfig":{}}',
    "top-level-duplicate": '{"Image":IMG,"Privileged":false,"PRIVILEGED":true}',
    "nested-mount-duplicate": (
        '{"Image":IMG,"HostConfig":{"Mounts":[{"Type":"tmpfs","type":"bind",'
        '"Source":"/","Target":"/h"}]}}'
    ),
}


@pytest.mark.parametrize("case", sorted(DUPLICATES))
def test_duplicate_keys_are_refused_with_400(case, gw, dockerd, busybox_image):
    name = unique(case)
    before = container_ids(dockerd)
    body = fill(DUPLICATES[case], busybox_image, dockerd)
    reply = create_as_ci(gw, name, body)
    assert reply.status == 400, reply
    assert reply.message.startswith("dockward: duplicate JSON key "), reply.message
    assert_no_container(dockerd, name, before)


def test_unrestricted_admin_bodies_are_forwarded_unread(gw, dockerd, busybox_image):
    """Control: the duplicate refusal belongs to inspection, which ``unrestricted`` skips."""
    name = unique("admin-dup")
    body = fill(DUPLICATES["case-variant-last-wins"], busybox_image, dockerd)
    reply = send(gw, "admin", "POST", f"/containers/create?name={name}", body)
    try:
        # unrestricted: forwarded as is, and dockerd applies the last duplicate
        assert reply.status == 201, reply
        assert dockerd.api_json("GET", f"/containers/{name}/json")["HostConfig"]["Privileged"]
    finally:
        remove_container(dockerd, name)


# --- documents Go and Python read differently: refused ---------------------------------------

ODD_DOCUMENTS: dict[str, bytes] = {
    "second-document": b'{"Image":IMG}{"HostConfig":{"Privileged":true}}',
    "trailing-bracket": b'{"Image":IMG,"HostConfig":{"Privileged":true}}]',
    "byte-order-mark": b'\xef\xbb\xbf{"Image":IMG,"HostConfig":{"Privileged":true}}',
    "nan": b'{"Image":IMG,"HostConfig":{"Privileged":true,"CpuShares":NaN}}',
    "string-bool": b'{"Image":IMG,"HostConfig":{"Privileged":"true"}}',
    "number-bool": b'{"Image":IMG,"HostConfig":{"Privileged":1}}',
    "hostconfig-string": b'{"Image":IMG,"HostConfig":"Privileged"}',
    "array-body": b'[{"Image":IMG,"HostConfig":{"Privileged":true}}]',
}


@pytest.mark.parametrize("case", sorted(ODD_DOCUMENTS))
def test_documents_read_differently_or_invalid_are_refused_with_400(
    case, gw, dockerd, busybox_image
):
    name = unique(case)
    before = container_ids(dockerd)
    body = ODD_DOCUMENTS[case].replace(b"IMG", json.dumps(busybox_image).encode())
    reply = create_as_ci(gw, name, body)
    assert reply.status == 400, reply
    assert reply.message.startswith("dockward: "), reply.message
    assert_no_container(dockerd, name, before)


def test_control_dockerd_20_10_ignores_a_second_document(dockerd, busybox_image):
    """Why trailing content is refused: this dockerd reads the first document and drops the
    rest, so a checker that read the last one (or all) would judge another request."""
    name = unique("control-second-document")
    body = ODD_DOCUMENTS["second-document"].replace(b"IMG", json.dumps(busybox_image).encode())
    status, _, payload = dockerd.api(
        "POST", f"/containers/create?name={name}", body, {"Content-Type": "application/json"}
    )
    try:
        assert status == 201, payload
        assert (
            dockerd.api_json("GET", f"/containers/{name}/json")["HostConfig"]["Privileged"] is False
        )
    finally:
        remove_container(dockerd, name)


# --- framing: however the body arrives, it is read whole and checked ------------------------

PRIVILEGED = '{"Image":IMG,"HostConfig":{"Privileged":true}}'


def split_mid_key(body: bytes) -> list[bytes]:
    at = body.index(b"Privileged") + 5
    return [body[:at], body[at:]]


CHUNKINGS = {
    "split-mid-key": split_mid_key,
    "one-byte-chunks": lambda body: [body[i : i + 1] for i in range(len(body))],
    "split-mid-escape": lambda body: [body[:10], body[10:]],
}


@pytest.mark.parametrize("case", sorted(CHUNKINGS))
def test_chunked_body_is_read_whole_and_checked(case, gw, dockerd, busybox_image):
    name = unique(case)
    before = container_ids(dockerd)
    body = fill(
        '{"Image":IMG,"HostConfig":{"\\u0050rivileged":true}}'
        if case == "split-mid-escape"
        else PRIVILEGED,
        busybox_image,
        dockerd,
    )
    if case == "split-mid-escape":
        at = body.index(b"\\u0050") + 3
        chunks = [body[:at], body[at:]]
    else:
        chunks = CHUNKINGS[case](body)
    reply = create_as_ci(gw, name, chunks=chunks)
    assert_denied(reply, "HostConfig.Privileged")
    assert_no_container(dockerd, name, before)


def test_chunked_body_with_extensions_and_trailers_is_checked(gw, dockerd, busybox_image):
    name = unique("chunk-ext")
    before = container_ids(dockerd)
    body = fill(PRIVILEGED, busybox_image, dockerd)
    raw = (
        f"POST /v1.41/containers/create?name={name} HTTP/1.1\r\nHost: docker\r\n"
        "Connection: close\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunked = encode_chunks(split_mid_key(body), extension=b';a="b"').removesuffix(b"\r\n")
    reply = send_raw(gw, "ci-1", raw + chunked + b"X-Trailer: 1\r\n\r\n")
    assert_denied(reply, "HostConfig.Privileged")
    assert_no_container(dockerd, name, before)


def test_content_length_zero_with_chunked_body_is_refused_as_framing(gw, dockerd, busybox_image):
    name = unique("cl0-te")
    before = container_ids(dockerd)
    body = fill(PRIVILEGED, busybox_image, dockerd)
    raw = (
        f"POST /v1.41/containers/create?name={name} HTTP/1.1\r\nHost: docker\r\n"
        "Content-Type: application/json\r\nContent-Length: 0\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode() + encode_chunks([body])
    reply = send_raw(gw, "ci-1", raw)
    assert reply.status == 400, reply
    assert reply.message.startswith("dockward: "), reply.message
    assert_no_container(dockerd, name, before)


def test_content_length_zero_with_a_body_never_reaches_the_daemon_as_a_body(
    gw, dockerd, busybox_image
):
    """``Content-Length: 0`` ends the request: the create the daemon gets is empty, and the
    bytes after it are a malformed next request that dockward refuses itself."""
    name = unique("cl0")
    before = container_ids(dockerd)
    body = fill(PRIVILEGED, busybox_image, dockerd)
    raw = (
        (
            f"POST /v1.41/containers/create?name={name} HTTP/1.1\r\nHost: docker\r\n"
            "Content-Type: application/json\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        + body
        + b"\r\n\r\n"
    )
    with tls_connect(gw, gw.pki.client("ci-1")) as sock:
        sock.sendall(raw)
        first = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
        first.begin()
        first.read()
        second = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
        second.begin()
        second_body = second.read()
    assert first.status >= 400  # dockerd's own answer to an empty create
    assert second.status == 400
    assert json.loads(second_body)["message"].startswith("dockward: malformed request")
    assert_no_container(dockerd, name, before)


def test_a_pipelined_second_create_is_inspected_too(gw, dockerd, busybox_image):
    harmless, evil = unique("pipelined-ok"), unique("pipelined-evil")
    before = container_ids(dockerd)
    # the first create names a volume, so dockward asks the daemon about it before deciding,
    # while the second request already waits in its buffer
    plain = fill(
        '{"Image":IMG,"HostConfig":{"Binds":["dw-atk-pipelined:/v"]}}', busybox_image, dockerd
    )
    privileged = fill(PRIVILEGED, busybox_image, dockerd)

    def create(name: str, body: bytes, last: bool) -> bytes:
        close = "Connection: close\r\n" if last else ""
        return (
            f"POST /v1.41/containers/create?name={name} HTTP/1.1\r\nHost: docker\r\n{close}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    try:
        with tls_connect(gw, gw.pki.client("ci-1")) as sock:
            sock.sendall(create(harmless, plain, False) + create(evil, privileged, True))
            statuses = []
            messages = []
            for _ in range(2):
                response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
                response.begin()
                statuses.append(response.status)
                messages.append(json.loads(response.read()).get("message", ""))
        assert statuses == [201, 403], messages
        assert messages[1].startswith('dockward: denied by role "ci" (profile baseline): ')
        assert dockerd.api("GET", f"/containers/{evil}/json")[0] == 404
        assert container_ids(dockerd) - before == {
            dockerd.api_json("GET", f"/containers/{harmless}/json")["Id"]
        }
    finally:
        remove_container(dockerd, harmless)
        dockerd.api("DELETE", "/volumes/dw-atk-pipelined")


def test_expect_100_continue_body_is_still_checked(gw, dockerd, busybox_image):
    name = unique("expect")
    before = container_ids(dockerd)
    body = fill(PRIVILEGED, busybox_image, dockerd)
    reply = create_as_ci(gw, name, body, headers=("Expect: 100-continue",))
    assert_denied(reply, "HostConfig.Privileged")
    assert_no_container(dockerd, name, before)


def test_oversized_inspected_body_is_refused_with_413_before_it_is_sent(gw, dockerd):
    name = unique("huge")
    before = container_ids(dockerd)
    head = (
        f"POST /v1.41/containers/create?name={name} HTTP/1.1\r\nHost: docker\r\n"
        f"Content-Type: application/json\r\nContent-Length: {4 * 1024 * 1024 + 1}\r\n\r\n"
    )
    reply = send_raw(gw, "ci-1", head.encode() + b'{"Image":')
    assert reply.status == 413, reply
    assert_no_container(dockerd, name, before)


# --- paths: every spelling that routes to create is inspected, the rest refused -------------

PATHS: dict[str, tuple[str, int]] = {
    "versioned": ("/v1.41/containers/create", 403),
    "unversioned": ("/containers/create", 403),
    "old-version": ("/v1.24/containers/create", 403),
    "encoded-slash": ("/v1.41/containers%2Fcreate", 403),
    "encoded-slash-lower": ("/v1.41/containers%2fcreate", 403),
    "encoded-letter": ("/v1.41/contain%65rs/create", 403),
    "encoded-version": ("/%761.41/containers/create", 403),
    "double-slash-start": ("//v1.41/containers/create", 400),
    "double-slash-inside": ("/v1.41//containers/create", 400),
    "dot-segment": ("/v1.41/./containers/create", 400),
    "dotdot-segment": ("/v1.41/images/../containers/create", 400),
    "encoded-dotdot": ("/v1.41/images/%2e%2e/containers/create", 400),
    "trailing-slash": ("/v1.41/containers/create/", 404),  # gorilla/mux keeps it: no route
    "encoded-double-slash": ("/v1.41/containers%2F%2Fcreate", 400),
}


@pytest.mark.parametrize("case", sorted(PATHS))
def test_path_variants_are_inspected_or_refused(case, gw, dockerd, busybox_image):
    path, status = PATHS[case]
    name = unique(case)
    before = container_ids(dockerd)
    body = fill(PRIVILEGED, busybox_image, dockerd)
    reply = send(gw, "ci-1", "POST", f"{path}?name={name}", body)
    if status == 403:
        assert_denied(reply, "HostConfig.Privileged")
    elif status == 404:
        assert reply.status == 403, reply
        assert "is not a known Engine API route" in reply.message, reply.message
    else:
        assert reply.status == status, reply
        assert reply.message.startswith("dockward: "), reply.message
    assert_no_container(dockerd, name, before)


@pytest.mark.parametrize("method", ["post", "Post", "POST "])
def test_method_spellings_do_not_slip_past_the_router(method, gw, dockerd, busybox_image):
    name = unique("method")
    before = container_ids(dockerd)
    body = fill(PRIVILEGED, busybox_image, dockerd)
    reply = send(gw, "ci-1", method, f"/v1.41/containers/create?name={name}", body)
    assert reply.status in (400, 403), reply
    assert reply.message.startswith("dockward: "), reply.message
    assert_no_container(dockerd, name, before)


def test_a_path_that_does_not_route_is_denied_not_forwarded(gw, dockerd, busybox_image):
    name = unique("encoded-query")
    before = container_ids(dockerd)
    body = fill(PRIVILEGED, busybox_image, dockerd)
    reply = send(gw, "ci-1", "POST", f"/v1.41/containers/create%3Fname={name}", body)
    assert reply.status in (400, 403), reply
    assert reply.message.startswith("dockward: "), reply.message
    assert_no_container(dockerd, name, before)


# --- Content-Type: JSON in any spelling is checked, anything else refused -------------------

CONTENT_TYPES: dict[str, tuple[str | None, int]] = {
    "json": ("application/json", 403),
    "json-charset": ("application/json; charset=utf-8", 403),
    "json-mixed-case": ("Application/JSON", 403),
    "json-no-space": ("application/json;charset=UTF-8", 403),
    "missing": (None, 400),
    "text-plain": ("text/plain", 400),
    "json-suffix": ("application/vnd.docker+json", 400),
    "form-urlencoded": ("application/x-www-form-urlencoded", 415),
    "multipart": ("multipart/form-data; boundary=xyz", 415),
    "form-mixed-case": ("Application/X-WWW-Form-Urlencoded", 415),
}


@pytest.mark.parametrize("case", sorted(CONTENT_TYPES))
def test_content_type_variants_never_let_an_unchecked_body_through(
    case, gw, dockerd, busybox_image
):
    content_type, status = CONTENT_TYPES[case]
    name = unique(case)
    before = container_ids(dockerd)
    body = fill(PRIVILEGED, busybox_image, dockerd)
    reply = create_as_ci(gw, name, body, content_type=content_type)
    if status == 403:
        assert_denied(reply, "HostConfig.Privileged")
    else:
        assert reply.status == status, reply
        assert reply.message.startswith("dockward: "), reply.message
    assert_no_container(dockerd, name, before)


def test_two_content_types_are_refused(gw, dockerd, busybox_image):
    name = unique("two-ct")
    before = container_ids(dockerd)
    body = fill(PRIVILEGED, busybox_image, dockerd)
    reply = create_as_ci(gw, name, body, headers=("Content-Type: text/plain",))
    assert reply.status == 400, reply
    assert_no_container(dockerd, name, before)
