"""Escapes through existing daemon objects, other operations, restricted, the read side, audit.

Every attack goes through a real gateway and is then checked against the daemon's own state:
the volume, exec instance, image, plugin or file does not exist, or the container is unchanged.
Containers an attacker would target (privileged, mounting a host directory) are made by an
administrator straight on the daemon's socket, as they would be on a real host.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest

from support.clients import DockerCLI
from support.gateway import GatewayProcess, serving
from support.raw_http import Reply, assert_denied, send

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
name = "restricted"
preset = "ci"
profile = "restricted"
clients = ["cn:restricted-*"]
registries = ["docker.io/dockward-test/"]

[[role]]
name = "ops"
profile = "baseline"
clients = ["cn:ops-*"]
allow = ["plugin.pull", "plugin.upgrade", "plugin.set", "plugin.create", "plugin.list",
         "service.create", "service.update", "service.list"]

[[role]]
name = "viewer"
preset = "readonly"
clients = ["cn:viewer"]

[[role]]
name = "rollout"
preset = "ci"
clients = ["cn:rollout-*"]
mode = "audit"
"""


def assert_operation_denied(reply: Reply, role: str, operation: str) -> None:
    assert reply.status == 403, reply
    expected = f'dockward: denied by role "{role}": operation {operation} is not allowed'
    assert reply.message == expected, reply.message


def unique(what: str) -> str:
    return f"dw-st-{what}-{uuid.uuid4().hex[:6]}"


def container_ids(dockerd) -> set[str]:
    return {c["Id"] for c in dockerd.api_json("GET", "/containers/json?all=1")}


def volume_names(dockerd) -> set[str]:
    return {v["Name"] for v in dockerd.api_json("GET", "/volumes")["Volumes"] or []}


def inspect(dockerd, name: str) -> dict:
    return dockerd.api_json("GET", f"/containers/{name}/json")


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def docker_as(gateway: GatewayProcess, who: str, *args: str, **env: str):
    return DockerCLI(gateway, gateway.pki.client(who))(*args, text=True, timeout=60, env=env)


# --- fixtures: the gateway and the administrator's objects ----------------------------------


@pytest.fixture(scope="module")
def allowed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ci-allowed")


@pytest.fixture(scope="module")
def forbidden_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host directory outside every allow-list, which admin containers mount."""
    return tmp_path_factory.mktemp("host-secrets")


@pytest.fixture(scope="module")
def gw(pki, dockerd, busybox_image, allowed_dir):
    policy = POLICY.replace("{allowed}", str(allowed_dir))
    with serving(pki, dockerd.socket_path, policy=policy) as process:
        yield process


class AdminObjects:
    """Containers and volumes made directly on the daemon, removed at the end."""

    def __init__(self, dockerd, image: str, forbidden: Path) -> None:
        self.dockerd = dockerd
        self.image = image
        self.containers: list[str] = []
        self.volumes: list[str] = []
        try:
            self._make(forbidden)
        except BaseException:
            self.remove()
            raise

    def _make(self, forbidden: Path) -> None:
        self.plain = self.container("plain", {})
        # created, not started: a sandboxed test host may refuse to start a privileged
        # container ("unable to apply caps"), and the policy judges its settings either way
        self.privileged = self.container("privileged", {"Privileged": True}, start=False)
        self.host_mount = self.container("host-mount", {"Binds": [f"{forbidden}:/host"]})
        self.bind_volume = self.volume(
            "bind-volume", {"type": "none", "o": "bind", "device": str(forbidden)}
        )
        self.volume_user = self.container("volume-user", {"Binds": [f"{self.bind_volume}:/v"]})
        self.anonymous = self.container("anonymous-volume", {}, volumes={"/data": {}})
        # settings baseline refuses at create; an exec'd process would inherit each of them
        self.device_rule = self.container("device-rule", {"DeviceCgroupRules": ["b *:* rwm"]})
        self.unmasked = self.container("unmasked", {"ReadonlyPaths": [], "MaskedPaths": []})
        self.unconfined = self.container(
            "unconfined", {"SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined"]}
        )

    def container(
        self, what: str, host_config: dict, volumes: dict | None = None, start: bool = True
    ) -> str:
        name = unique(f"admin-{what}")
        body = {
            "Image": self.image,
            "Cmd": ["sleep", "3600"],
            "Env": ["API_TOKEN=s3cr3t-value"],
            "HostConfig": host_config,
        }
        if volumes:
            body["Volumes"] = volumes
        self.dockerd.api_json("POST", f"/containers/create?name={name}", body)
        self.containers.append(name)
        if start:
            self.dockerd.api_json("POST", f"/containers/{name}/start")
        return name

    def volume(self, what: str, options: dict[str, str]) -> str:
        name = unique(f"admin-{what}")
        self.dockerd.api_json(
            "POST", "/volumes/create", {"Name": name, "Driver": "local", "DriverOpts": options}
        )
        self.volumes.append(name)
        return name

    def remove(self) -> None:
        for name in self.containers:
            self.dockerd.api("DELETE", f"/containers/{name}?force=1&v=1")
        for name in self.volumes:
            self.dockerd.api("DELETE", f"/volumes/{name}?force=1")


@pytest.fixture(scope="module")
def admin(dockerd, busybox_image, forbidden_dir):
    objects = AdminObjects(dockerd, busybox_image, forbidden_dir)
    yield objects
    objects.remove()


# --- volumes --------------------------------------------------------------------------------

VOLUME_ATTACKS: dict[str, dict] = {
    "bind-etc": {"Driver": "local", "DriverOpts": {"type": "none", "o": "bind", "device": "/etc"}},
    "bind-root-lower-keys": {
        "driver": "local",
        "driveropts": {"type": "none", "o": "bind", "device": "/"},
    },
    "rbind-no-driver": {"DriverOpts": {"type": "none", "o": "rbind,ro", "device": "/root"}},
    "bind-dotdot": {"DriverOpts": {"type": "none", "o": "bind", "device": "/srv/ci/../../etc"}},
    "bind-upper-option-keys": {"DriverOpts": {"TYPE": "none", "O": "bind", "DEVICE": "/etc"}},
    "block-device": {"DriverOpts": {"type": "ext4", "device": "/dev/sda1"}},
    "overlay-lowerdir": {
        "DriverOpts": {"type": "overlay", "device": "overlay", "o": "lowerdir=/etc"}
    },
    "nfs": {"DriverOpts": {"type": "nfs", "o": "addr=127.0.0.1", "device": ":/exports"}},
    "plugin-options": {"Driver": "some-plugin", "DriverOpts": {"mountpoint": "/"}},
}


@pytest.mark.parametrize("case", sorted(VOLUME_ATTACKS))
def test_volume_create_with_host_options_is_denied(case, gw, dockerd):
    name = unique(f"vol-{case}")
    before = volume_names(dockerd)
    reply = send(
        gw, "ci-1", "POST", "/v1.41/volumes/create", {"Name": name, **VOLUME_ATTACKS[case]}
    )
    assert_denied(reply, "DriverOpts")
    assert dockerd.api("GET", f"/volumes/{name}")[0] == 404
    assert volume_names(dockerd) == before


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,nodev,nosuid"},
        {"o": "bind", "type": "none"},
    ],
    ids=["plain", "tmpfs", "bind-allowed-dir"],
)
def test_harmless_volume_create_is_allowed(options, gw, dockerd, allowed_dir):
    name = unique("vol-ok")
    if options.get("o") == "bind":
        options = {**options, "device": str(allowed_dir)}
    reply = send(gw, "ci-1", "POST", "/volumes/create", {"Name": name, "DriverOpts": options})
    try:
        assert reply.status == 201, reply
        assert (dockerd.api_json("GET", f"/volumes/{name}")["Options"] or {}) == options
    finally:
        dockerd.api("DELETE", f"/volumes/{name}")


def test_a_bind_volume_created_by_admin_cannot_be_mounted_by_name(
    gw, dockerd, busybox_image, admin
):
    before = container_ids(dockerd)
    for host_config, field in (
        ({"Binds": [f"{admin.bind_volume}:/data"]}, "HostConfig.Binds"),
        ({"Binds": [f"{admin.bind_volume}:/data:ro"]}, "HostConfig.Binds"),
        (
            {"Mounts": [{"Type": "volume", "Source": admin.bind_volume, "Target": "/data"}]},
            "HostConfig.Mounts[0]",
        ),
    ):
        name = unique("mount-bind-volume")
        body = {"Image": busybox_image, "HostConfig": host_config}
        reply = send(gw, "ci-1", "POST", f"/containers/create?name={name}", body)
        assert_denied(reply, field)
        assert f'uses volume "{admin.bind_volume}", which binds host path' in reply.message
        assert dockerd.api("GET", f"/containers/{name}/json")[0] == 404
    top_level = {"Image": busybox_image, "Binds": [f"{admin.bind_volume}:/data"]}
    assert_denied(send(gw, "ci-1", "POST", "/containers/create", top_level), "(top level) Binds")
    assert container_ids(dockerd) == before


def test_a_volume_created_by_ci_is_mountable_by_ci(gw, dockerd, busybox_image):
    volume, name = unique("ci-volume"), unique("ci-volume-user")
    try:
        assert send(gw, "ci-1", "POST", "/volumes/create", {"Name": volume}).status == 201
        body = {"Image": busybox_image, "HostConfig": {"Binds": [f"{volume}:/data"]}}
        reply = send(gw, "ci-1", "POST", f"/containers/create?name={name}", body)
        assert reply.status == 201, reply
    finally:
        dockerd.api("DELETE", f"/containers/{name}?force=1")
        dockerd.api("DELETE", f"/volumes/{volume}")


def test_an_inline_bind_volume_mount_creates_no_volume(gw, dockerd, busybox_image):
    volume, name = unique("inline-volume"), unique("inline-user")
    before = volume_names(dockerd)
    mount = {
        "Type": "volume",
        "Source": volume,
        "Target": "/v",
        "VolumeOptions": {
            "DriverConfig": {"Options": {"type": "none", "o": "bind", "device": "/"}}
        },
    }
    body = {"Image": busybox_image, "HostConfig": {"Mounts": [mount]}}
    reply = send(gw, "ci-1", "POST", f"/containers/create?name={name}", body)
    assert_denied(reply, "HostConfig.Mounts[0]")
    assert dockerd.api("GET", f"/volumes/{volume}")[0] == 404
    assert volume_names(dockerd) == before


# --- VolumesFrom ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["host_mount", "volume_user", "host_mount_id", "host_mount_slash"]
)
@pytest.mark.parametrize("suffix", ["", ":ro", ":rw"])
def test_volumes_from_a_container_with_host_mounts_is_denied(
    source, suffix, gw, dockerd, busybox_image, admin
):
    name = unique("volumes-from")
    before = container_ids(dockerd)
    if source == "host_mount_id":  # a short ID prefix, resolved by the daemon like a name
        victim = inspect(dockerd, admin.host_mount)["Id"][:12]
    elif source == "host_mount_slash":  # the name as dockerd stores it, with its slash
        victim = "/" + admin.host_mount
    else:
        victim = getattr(admin, source)
    body = {"Image": busybox_image, "HostConfig": {"VolumesFrom": [victim + suffix]}}
    reply = send(gw, "ci-1", "POST", f"/containers/create?name={name}", body)
    assert_denied(reply, "HostConfig.VolumesFrom")
    assert f'takes the volumes of container "{victim}"' in reply.message
    assert container_ids(dockerd) == before


def test_volumes_from_a_container_renamed_to_another_ones_id_is_denied(
    gw, dockerd, busybox_image, forbidden_dir
):
    """Renamed to the full ID of a harmless one, a host-mounting container is what "/<that ID>"
    names for dockerd, while a lookup by "<that ID>" finds the harmless one. (ci may not rename
    a host-mounting container itself: the target-container check; someone else did.)"""
    harmless, hostile, taker = unique("harmless"), unique("hostile"), unique("taker")
    names = [harmless, hostile, taker]
    try:
        body = {"Image": busybox_image}
        harmless_id = dockerd.api_json("POST", f"/containers/create?name={harmless}", body)["Id"]
        hostile_body = {**body, "HostConfig": {"Binds": [f"{forbidden_dir}:/host"]}}
        dockerd.api_json("POST", f"/containers/create?name={hostile}", hostile_body)
        refused = send(gw, "ci-1", "POST", f"/containers/{hostile}/rename?name={harmless_id}")
        assert_denied(refused, f'container "{hostile}"')
        dockerd.api_json("POST", f"/containers/{hostile}/rename?name={harmless_id}")
        names[1] = harmless_id
        # control: for dockerd, "/<id>" is the container named so, the hostile one
        control = {"Image": busybox_image, "HostConfig": {"VolumesFrom": [f"/{harmless_id}"]}}
        dockerd.api_json("POST", f"/containers/create?name={taker}", control)
        assert inspect(dockerd, taker)["Mounts"][0]["Source"] == str(forbidden_dir)
        dockerd.api("DELETE", f"/containers/{taker}?force=1")

        before = container_ids(dockerd)
        reply = send(gw, "ci-1", "POST", f"/containers/create?name={taker}", control)
        assert_denied(reply, "HostConfig.VolumesFrom")
        assert container_ids(dockerd) == before
        # without the slash, both resolve the ID first: the harmless container
        plain = {"Image": busybox_image, "HostConfig": {"VolumesFrom": [harmless_id]}}
        reply = send(gw, "ci-1", "POST", f"/containers/create?name={taker}", plain)
        assert reply.status == 201, reply
        assert inspect(dockerd, taker)["Mounts"] == []
    finally:
        for name in names:
            dockerd.api("DELETE", f"/containers/{name}?force=1")


def test_volumes_from_a_container_without_host_mounts_is_allowed(gw, dockerd, busybox_image, admin):
    name = unique("volumes-from-ok")
    body = {"Image": busybox_image, "HostConfig": {"VolumesFrom": [admin.anonymous]}}
    reply = send(gw, "ci-1", "POST", f"/containers/create?name={name}", body)
    try:
        assert reply.status == 201, reply
    finally:
        dockerd.api("DELETE", f"/containers/{name}?force=1")


# --- exec -----------------------------------------------------------------------------------


def exec_ids(dockerd, name: str) -> set[str]:
    return set(inspect(dockerd, name)["ExecIDs"] or ())


def test_exec_with_privileged_is_denied(gw, dockerd, admin):
    before = exec_ids(dockerd, admin.plain)
    for body in (
        {"Cmd": ["id"], "Privileged": True},
        {"cmd": ["id"], "privileged": True},
        json.loads('{"Cmd":["id"],"\\u0050rivileged":true}'),
    ):
        reply = send(gw, "ci-1", "POST", f"/v1.41/containers/{admin.plain}/exec", body)
        assert_denied(reply, "Privileged")
    raw = b'{"Cmd":["id"],"Pr\\u0069vileged":true}'
    assert_denied(send(gw, "ci-1", "POST", f"/containers/{admin.plain}/exec", raw), "Privileged")
    assert exec_ids(dockerd, admin.plain) == before


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("privileged", "is privileged"),
        ("host_mount", "mounts host path"),
        ("volume_user", "uses volume"),
        ("device_rule", 'may open host devices (device cgroup rule "b *:* rwm")'),
        (
            "unmasked",
            "/proc/kcore, /proc/keys, /proc/sched_debug, /proc/timer_list no longer masked",
        ),
        ("unconfined", 'runs with "seccomp=unconfined"'),
    ],
)
def test_exec_into_a_container_that_reaches_the_host_is_denied(target, problem, gw, dockerd, admin):
    name = getattr(admin, target)
    container_id = inspect(dockerd, name)["Id"]
    before = exec_ids(dockerd, name)
    for ref in (name, container_id, container_id[:12]):
        reply = send(gw, "ci-1", "POST", f"/containers/{ref}/exec", {"Cmd": ["id"]})
        assert_denied(reply, f'container "{ref}"')
        assert problem in reply.message and "exec into it is refused" in reply.message
    assert exec_ids(dockerd, name) == before


def test_exec_with_a_working_directory_under_proc_is_denied(gw, dockerd, admin):
    before = exec_ids(dockerd, admin.plain)
    body = {"Cmd": ["ls"], "WorkingDir": "/proc/self/fd/7"}
    reply = send(gw, "ci-1", "POST", f"/containers/{admin.plain}/exec", body)
    assert_denied(reply, "WorkingDir")
    assert exec_ids(dockerd, admin.plain) == before


def test_starting_an_exec_someone_else_created_privileged_is_denied(gw, dockerd, admin):
    exec_id = dockerd.api_json(
        "POST",
        f"/containers/{admin.plain}/exec",
        {"Cmd": ["id"], "Privileged": True, "AttachStdout": True},
    )["Id"]
    reply = send(gw, "ci-1", "POST", f"/v1.41/exec/{exec_id}/start", {"Detach": True})
    assert reply.status == 403, reply
    assert "was created with Privileged true" in reply.message
    assert dockerd.api_json("GET", f"/exec/{exec_id}/json")["Pid"] == 0


def test_starting_an_exec_someone_else_created_in_a_host_mounting_container_is_denied(
    gw, dockerd, admin
):
    exec_id = dockerd.api_json(
        "POST", f"/containers/{admin.host_mount}/exec", {"Cmd": ["id"], "AttachStdout": True}
    )["Id"]
    reply = send(gw, "ci-1", "POST", f"/v1.41/exec/{exec_id}/start", {"Detach": True})
    assert reply.status == 403, reply
    assert "runs in a container that" in reply.message
    assert dockerd.api_json("GET", f"/exec/{exec_id}/json")["Pid"] == 0


def test_exec_into_a_plain_container_works_through_the_cli(gw, admin):
    result = docker_as(gw, "ci-1", "exec", admin.plain, "echo", "exec-ok")
    assert (result.returncode, result.stdout) == (0, "exec-ok\n"), result.stderr
    denied = docker_as(gw, "ci-1", "exec", "--privileged", admin.plain, "id")
    assert denied.returncode != 0
    assert 'denied by role "ci" (profile baseline): Privileged is true' in denied.stderr


def test_exec_into_a_privileged_container_fails_in_the_cli(gw, admin):
    result = docker_as(gw, "ci-1", "exec", admin.privileged, "id")
    assert result.returncode != 0
    assert f'container "{admin.privileged}" is privileged' in result.stderr


# --- container update ----------------------------------------------------------------------

UPDATE_ATTACKS: dict[str, tuple[dict | bytes, str]] = {
    "devices": (
        {
            "Devices": [
                {"PathOnHost": "/dev/mem", "PathInContainer": "/m", "CgroupPermissions": "rwm"}
            ]
        },
        "Devices",
    ),
    "devices-lower": (
        {
            "devices": [
                {"pathonhost": "/dev/mem", "pathincontainer": "/m", "cgrouppermissions": "r"}
            ]
        },
        "Devices",
    ),
    "device-cgroup-rules": ({"DeviceCgroupRules": ["a *:* rwm"]}, "DeviceCgroupRules"),
    "device-requests": ({"DeviceRequests": [{"Driver": "nvidia", "Count": -1}]}, "DeviceRequests"),
    "cgroup-parent": ({"CgroupParent": "/"}, "CgroupParent"),
    "cgroup-parent-escaped": (b'{"\\u0043groupParent":"/"}', "CgroupParent"),
}


@pytest.mark.parametrize("case", sorted(UPDATE_ATTACKS))
def test_container_update_adding_devices_or_cgroup_parent_is_denied(case, gw, dockerd, admin):
    body, field = UPDATE_ATTACKS[case]
    before = inspect(dockerd, admin.plain)["HostConfig"]
    reply = send(gw, "ci-1", "POST", f"/v1.41/containers/{admin.plain}/update", body)
    assert_denied(reply, field)
    after = inspect(dockerd, admin.plain)["HostConfig"]
    assert after == before
    assert not after["Devices"] and not after["CgroupParent"]


def test_harmless_container_update_is_allowed(gw, dockerd, admin):
    reply = send(
        gw, "ci-1", "POST", f"/containers/{admin.plain}/update", {"RestartPolicy": {"Name": "no"}}
    )
    assert reply.status == 200, reply


# --- container start with a HostConfig (API < 1.24) ---------------------------------------


def test_control_dockerd_applies_a_start_host_config_on_old_api_versions(dockerd, busybox_image):
    name = unique("control-start-hostconfig")
    dockerd.api_json("POST", f"/containers/create?name={name}", {"Image": busybox_image})
    try:
        dockerd.api_json("POST", f"/v1.23/containers/{name}/start", {"Binds": ["/etc:/host-etc"]})
        assert inspect(dockerd, name)["HostConfig"]["Binds"] == ["/etc:/host-etc"]
    finally:
        dockerd.api("DELETE", f"/containers/{name}?force=1")


@pytest.mark.parametrize(
    "body",
    [
        {"Binds": ["/:/host"]},
        {"Privileged": True},
        {"privileged": True},
        {},
    ],
    ids=["binds", "privileged", "lower-case", "empty-object"],
)
def test_start_with_a_host_config_body_is_denied(body, gw, dockerd, busybox_image):
    name = unique("start-hostconfig")
    created = send(gw, "ci-1", "POST", f"/containers/create?name={name}", {"Image": busybox_image})
    assert created.status == 201, created
    try:
        reply = send(gw, "ci-1", "POST", f"/v1.23/containers/{name}/start", body)
        assert_denied(reply, "HostConfig (start body)")
        state = inspect(dockerd, name)
        assert state["State"]["Status"] == "created"
        assert not state["HostConfig"]["Binds"] and not state["HostConfig"]["Privileged"]
    finally:
        dockerd.api("DELETE", f"/containers/{name}?force=1")


# --- file upload into a container -----------------------------------------------------------


def test_archive_upload_into_a_container_with_a_host_mount_is_denied(
    gw, dockerd, admin, forbidden_dir
):
    archive = tar_of({"planted.sh": b"#!/bin/sh\necho owned\n"})
    for path in ("/host", "/"):
        reply = send(
            gw,
            "ci-1",
            "PUT",
            f"/v1.41/containers/{admin.host_mount}/archive?path={path}",
            archive,
            content_type="application/x-tar",
        )
        assert_denied(reply, f'container "{admin.host_mount}"')
        assert "writing files into it is refused" in reply.message
    assert not (forbidden_dir / "planted.sh").exists()
    assert list(forbidden_dir.iterdir()) == []


def test_docker_cp_into_a_container_with_a_host_mount_is_denied(gw, admin, forbidden_dir, tmp_path):
    (tmp_path / "planted.txt").write_text("owned\n")
    result = docker_as(
        gw, "ci-1", "cp", str(tmp_path / "planted.txt"), f"{admin.host_mount}:/host/"
    )
    assert result.returncode != 0
    assert "writing files into it is refused" in result.stderr
    assert not (forbidden_dir / "planted.txt").exists()


def test_archive_upload_into_a_plain_container_is_allowed(gw, dockerd, admin):
    archive = tar_of({"uploaded.txt": b"hello\n"})
    reply = send(
        gw,
        "ci-1",
        "PUT",
        f"/containers/{admin.plain}/archive?path=/tmp",
        archive,
        content_type="application/x-tar",
    )
    assert reply.status == 200, reply
    status, _, _ = dockerd.api("HEAD", f"/containers/{admin.plain}/archive?path=/tmp/uploaded.txt")
    assert status == 200


# --- build ---------------------------------------------------------------------------------


def build_context() -> bytes:
    return tar_of({"Dockerfile": b"FROM dockward-test/busybox:latest\nRUN id\n"})


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("networkmode=host", "query networkmode"),
        ("networkmode=HOST", "query networkmode"),
        ("networkmode=container:victim", "query networkmode"),
        ("networkmode=default&networkmode=host", None),
        ("remote=http://127.0.0.1:9/context.tar", "query remote"),
        ("remote=git://127.0.0.1:9/repo.git", "query remote"),
        ("remote=https://github.com/docker/example.git%23main", "query remote"),
        ("cgroupparent=/", "query cgroupparent"),
        ("network%6Dode=host", "query networkmode"),
        ("networkmode=ho%73t", "query networkmode"),
        ("version=2&networkmode=host", "query networkmode"),
    ],
)
def test_build_with_host_network_or_remote_context_never_starts(query, field, gw, dockerd):
    tag = f"dockward-test/denied-build:{uuid.uuid4().hex[:8]}"
    reply = send(
        gw,
        "ci-1",
        "POST",
        f"/v1.41/build?t={tag}&{query}",
        build_context(),
        content_type="application/x-tar",
    )
    if field is None:
        # the first value is the one dockerd reads ("default"): the build may run
        assert reply.status == 200, reply
        dockerd.api("DELETE", f"/images/{tag}")
        return
    assert_denied(reply, field)
    assert dockerd.api("GET", f"/images/{tag}/json")[0] == 404


def test_build_options_in_a_form_body_are_refused(gw, dockerd):
    """Go's ParseForm lets a form body override the query: such bodies never pass."""
    tag = f"dockward-test/form-build:{uuid.uuid4().hex[:8]}"
    reply = send(
        gw,
        "ci-1",
        "POST",
        f"/build?t={tag}",
        b"networkmode=host&remote=http://127.0.0.1:9/context.tar",
        content_type="application/x-www-form-urlencoded",
    )
    assert reply.status == 415, reply
    assert dockerd.api("GET", f"/images/{tag}/json")[0] == 404


def test_import_from_a_url_is_denied(gw, dockerd):
    repo = f"dockward-test/imported-{uuid.uuid4().hex[:8]}"
    reply = send(
        gw, "ci-1", "POST", f"/images/create?fromSrc=http://127.0.0.1:9/rootfs.tar&repo={repo}"
    )
    assert_denied(reply, "query fromSrc")
    assert dockerd.api("GET", f"/images/{repo}/json")[0] == 404


def test_cli_build_with_network_host_is_denied(gw, dockerd, busybox_image, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN id\n")
    tag = f"dockward-test/cli-denied:{uuid.uuid4().hex[:8]}"
    result = docker_as(
        gw, "ci-1", "build", "--network", "host", "-t", tag, str(tmp_path), DOCKER_BUILDKIT="0"
    )
    assert result.returncode != 0
    assert 'denied by role "ci" (profile baseline): query networkmode is "host"' in result.stderr
    assert dockerd.api("GET", f"/images/{tag}/json")[0] == 404


# --- plugins and services -------------------------------------------------------------------

PRIVILEGES = [
    {"Name": "network", "Description": "", "Value": ["host"]},
    {"Name": "mount", "Description": "", "Value": ["/"]},
    {"Name": "allow-all-devices", "Description": "", "Value": ["true"]},
]


def test_plugin_pull_with_privileges_is_denied_before_any_pull(gw, dockerd):
    target = "/v1.41/plugins/pull?remote=127.0.0.1:9/evil/plugin:latest&name=evil"
    assert_operation_denied(send(gw, "ci-1", "POST", target, PRIVILEGES), "ci", "plugin.pull")
    reply = send(gw, "ops-1", "POST", target, PRIVILEGES)
    assert_denied(reply, "privileges", role="ops")
    assert "network, mount, allow-all-devices" in reply.message
    upgrade = send(gw, "ops-1", "POST", "/plugins/evil/upgrade?remote=x/y", PRIVILEGES[:1])
    assert_denied(upgrade, "privileges", role="ops")
    assert dockerd.api_json("GET", "/plugins") == []


@pytest.mark.parametrize(
    ("method", "target", "operation"),
    [
        ("POST", "/swarm/init", "swarm.init"),
        ("POST", "/plugins/evil/enable", "plugin.enable"),
        ("POST", "/plugins/evil/set", "plugin.set"),
        ("POST", "/networks/prune", "network.prune"),
        ("POST", "/auth", "auth"),
        ("POST", "/containers/x/checkpoints", "checkpoint.create"),
    ],
)
def test_admin_operations_are_off_for_ci(method, target, operation, gw, dockerd):
    reply = send(gw, "ci-1", method, target, {"Name": "x"})
    assert_operation_denied(reply, "ci", operation)
    assert dockerd.api_json("GET", "/info")["Swarm"]["LocalNodeState"] == "inactive"


def test_plugin_set_and_create_are_denied(gw, dockerd):
    reply = send(gw, "ops-1", "POST", "/plugins/evil/set", ["mountpoint.source=/"])
    assert_denied(reply, "plugin settings", role="ops")
    reply = send(
        gw,
        "ops-1",
        "POST",
        "/plugins/create?name=evil",
        tar_of({"config.json": b"{}"}),
        content_type="application/x-tar",
    )
    assert_denied(reply, "plugin archive", role="ops")
    assert dockerd.api_json("GET", "/plugins") == []


def service_spec(image: str, **container_spec: object) -> dict:
    return {
        "Name": unique("svc"),
        "TaskTemplate": {"ContainerSpec": {"Image": image, **container_spec}},
    }


SERVICE_ATTACKS: dict[str, tuple[dict, str]] = {
    "bind-root": (
        {"Mounts": [{"Type": "bind", "Source": "/", "Target": "/host"}]},
        "TaskTemplate.ContainerSpec.Mounts[0]",
    ),
    "capability-add": (
        {"CapabilityAdd": ["CAP_SYS_ADMIN"]},
        "TaskTemplate.ContainerSpec.CapabilityAdd",
    ),
    "sysctl": ({"Sysctls": {"kernel.core_pattern": "|/x"}}, "TaskTemplate.ContainerSpec.Sysctls"),
    "seccomp-unconfined": (
        {"Privileges": {"Seccomp": {"Mode": "unconfined"}}},
        "TaskTemplate.ContainerSpec.Privileges.Seccomp.Mode",
    ),
}


def test_service_create_is_denied_by_dockward_not_by_the_daemon(gw, dockerd, busybox_image):
    spec = service_spec(busybox_image)
    assert_operation_denied(
        send(gw, "ci-1", "POST", "/v1.41/services/create", spec), "ci", "service.create"
    )
    for case, (container_spec, field) in SERVICE_ATTACKS.items():
        reply = send(
            gw, "ops-1", "POST", "/services/create", service_spec(busybox_image, **container_spec)
        )
        assert reply.status == 403, (case, reply)
        assert_denied(reply, field, role="ops")
    host_network = {
        **spec,
        "TaskTemplate": {**spec["TaskTemplate"], "Networks": [{"Target": "host"}]},
    }
    assert_denied(
        send(gw, "ops-1", "POST", "/services/create", host_network),
        "TaskTemplate.Networks",
        role="ops",
    )
    plugin = {
        "Name": unique("svc"),
        "TaskTemplate": {
            "Runtime": "plugin",
            "PluginSpec": {"Name": "evil", "Remote": "x/evil", "PluginPrivilege": PRIVILEGES},
        },
    }
    assert_denied(
        send(gw, "ops-1", "POST", "/services/create", plugin),
        "TaskTemplate.PluginSpec.PluginPrivilege",
        role="ops",
    )
    # control: a harmless spec passes the policy and it is the daemon that refuses it
    control = send(gw, "ops-1", "POST", "/services/create", spec)
    assert control.status == 503, control
    assert "not a swarm manager" in control.message


# --- restricted -----------------------------------------------------------------------------


def restricted_body(image: str, **changes: object) -> dict:
    host_config = {
        "SecurityOpt": ["no-new-privileges"],
        "CapDrop": ["ALL"],
        "Memory": 64 * 1024 * 1024,
        "NanoCpus": 500_000_000,
        "PidsLimit": 64,
    }
    body: dict = {"Image": image, "User": "65534:65534", "Cmd": ["id", "-u"]}
    for key, value in changes.items():
        if key.startswith("hc_"):
            if value is None:
                host_config.pop(key[3:], None)
            else:
                host_config[key[3:]] = value
        elif value is None:
            body.pop(key, None)
        else:
            body[key] = value
    body["HostConfig"] = host_config
    return body


RESTRICTED_ATTACKS: dict[str, tuple[dict, str]] = {
    "user-missing": ({"User": None}, "User"),
    "user-root": ({"User": "root"}, "User"),
    "user-uid-0": ({"User": "0"}, "User"),
    "user-uid-00-group": ({"User": "00:1000"}, "User"),
    "user-plus-0": ({"User": "+0"}, "User"),
    "user-root-upper": ({"User": "ROOT:65534"}, "User"),
    "no-new-privileges-missing": ({"hc_SecurityOpt": None}, "HostConfig.SecurityOpt"),
    "no-new-privileges-turned-off": (
        {"hc_SecurityOpt": ["no-new-privileges", "no-new-privileges=false"]},
        "HostConfig.SecurityOpt",
    ),
    "cap-drop-missing": ({"hc_CapDrop": None}, "HostConfig.CapDrop"),
    "cap-drop-partial": ({"hc_CapDrop": ["NET_RAW"]}, "HostConfig.CapDrop"),
    "memory-missing": ({"hc_Memory": None}, "HostConfig.Memory"),
    "cpu-missing": ({"hc_NanoCpus": None}, "HostConfig.NanoCpus"),
    "pids-missing": ({"hc_PidsLimit": None}, "HostConfig.PidsLimit"),
    "pids-unlimited": ({"hc_PidsLimit": -1}, "HostConfig.PidsLimit"),
    "image-docker-hub": ({"Image": "busybox:latest"}, "Image"),
    "image-lookalike-registry": ({"Image": "docker.io/dockward-testx/busybox"}, "Image"),
    "image-id": ({"Image": "sha256:0123456789ab"}, "Image"),
    "privileged-still-baseline": ({"hc_Privileged": True}, "HostConfig.Privileged"),
}


@pytest.mark.parametrize("case", sorted(RESTRICTED_ATTACKS))
def test_restricted_requirements_are_enforced(case, gw, dockerd, busybox_image):
    changes, field = RESTRICTED_ATTACKS[case]
    name = unique(f"restricted-{case}")
    before = container_ids(dockerd)
    body = restricted_body(busybox_image, **changes)
    reply = send(gw, "restricted-1", "POST", f"/containers/create?name={name}", body)
    assert_denied(reply, field, role="restricted", profile="restricted")
    assert container_ids(dockerd) == before


def test_restricted_limits_only_at_the_top_level_do_not_count(gw, dockerd, busybox_image):
    body = restricted_body(busybox_image)
    host_config = body.pop("HostConfig")
    body.update(host_config)  # dockerd 27+ ignores these; restricted wants the inner HostConfig
    reply = send(gw, "restricted-1", "POST", "/containers/create", body)
    assert_denied(reply, "HostConfig.SecurityOpt", role="restricted", profile="restricted")


def test_a_compliant_restricted_container_runs(gw, dockerd, busybox_image):
    name = unique("restricted-ok")
    reply = send(
        gw,
        "restricted-1",
        "POST",
        f"/containers/create?name={name}",
        restricted_body(busybox_image),
    )
    try:
        assert reply.status == 201, reply
        host_config = inspect(dockerd, name)["HostConfig"]
        assert host_config["CapDrop"] == ["ALL"] and host_config["PidsLimit"] == 64
        # an exec inherits the container's non-root user: the policy lets it through, and
        # the daemon answers that the container is not running
        reply = send(gw, "restricted-1", "POST", f"/containers/{name}/exec", {"Cmd": ["id"]})
        assert reply.status == 409, reply
    finally:
        dockerd.api("DELETE", f"/containers/{name}?force=1")


def test_restricted_exec_into_a_root_container_needs_a_user(gw, dockerd, admin):
    before = exec_ids(dockerd, admin.plain)
    reply = send(gw, "restricted-1", "POST", f"/containers/{admin.plain}/exec", {"Cmd": ["id"]})
    assert_denied(reply, "User", role="restricted", profile="restricted")
    reply = send(
        gw, "restricted-1", "POST", f"/containers/{admin.plain}/exec", {"Cmd": ["id"], "User": "0"}
    )
    assert_denied(reply, "User", role="restricted", profile="restricted")
    assert exec_ids(dockerd, admin.plain) == before


# --- the read side --------------------------------------------------------------------------


def test_exfiltration_is_off_for_a_readonly_role(gw, dockerd, busybox_image, admin, tmp_path):
    cases = [
        (("logs", admin.plain), "container.logs"),
        (("cp", f"{admin.plain}:/etc/passwd", str(tmp_path / "passwd")), "container.archive.read"),
        (("export", "-o", str(tmp_path / "fs.tar"), admin.plain), "container.export"),
        (("save", "-o", str(tmp_path / "image.tar"), busybox_image), "image.save"),
    ]
    for args, operation in cases:
        result = docker_as(gw, "viewer", *args)
        assert result.returncode != 0, args
        assert f'denied by role "viewer": operation {operation} is not allowed' in result.stderr
    assert not (tmp_path / "passwd").exists()
    assert not (tmp_path / "image.tar").exists() or (tmp_path / "image.tar").stat().st_size == 0
    # inspecting is fine for a readonly role
    assert docker_as(gw, "viewer", "inspect", admin.plain).returncode == 0


def test_legacy_copy_is_an_exfiltration_operation_too(gw, admin):
    body = {"Resource": "/etc/passwd"}
    for who, role in (("ci-1", "ci"), ("viewer", "viewer")):
        reply = send(gw, who, "POST", f"/v1.23/containers/{admin.plain}/copy", body)
        assert_operation_denied(reply, role, "container.copy")


def test_exfiltration_is_off_for_ci_except_logs(gw, busybox_image, admin, tmp_path):
    for args, operation in [
        (("cp", f"{admin.plain}:/etc/passwd", str(tmp_path / "passwd")), "container.archive.read"),
        (("export", "-o", str(tmp_path / "fs.tar"), admin.plain), "container.export"),
        (("save", "-o", str(tmp_path / "image.tar"), busybox_image), "image.save"),
    ]:
        result = docker_as(gw, "ci-1", *args)
        assert result.returncode != 0, args
        assert f'denied by role "ci": operation {operation} is not allowed' in result.stderr
    assert docker_as(gw, "ci-1", "logs", admin.plain).returncode == 0  # granted by the preset


WEBSOCKET = (
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
)


def test_attach_and_websocket_attach_are_denied_without_the_grant(gw, admin):
    target = f"/v1.41/containers/{admin.plain}/attach/ws?stream=1&stdout=1&stdin=1"
    for who, role in (("viewer", "viewer"), ("ci-1", "ci")):
        reply = send(gw, who, "GET", target, headers=WEBSOCKET)
        assert_operation_denied(reply, role, "container.attach_ws")
    reply = send(gw, "viewer", "POST", f"/containers/{admin.plain}/attach?stream=1&stdout=1")
    assert_operation_denied(reply, "viewer", "container.attach")


@pytest.mark.parametrize("stdin", ["1", "true", "yes", "on", "%20x", "0&stdin=1"])
def test_stdin_attach_into_a_host_reaching_container_is_denied(stdin, gw, admin):
    """dockerd reads any value but "", 0, no, false and none as true (``BoolValue``)."""
    for victim in (admin.privileged, admin.host_mount):
        reply = send(
            gw,
            "ci-1",
            "POST",
            f"/containers/{victim}/attach?stream=1&stdin={stdin}&stdout=1",
            headers=("Upgrade: tcp", "Connection: Upgrade"),
        )
        if stdin.startswith("0&"):  # the first value wins: stdin is off, output only
            assert reply.status == 101, reply
            continue
        assert_denied(reply, f'container "{victim}"')
        assert "attaching to its input is refused" in reply.message


def test_env_values_are_redacted_for_ci(gw, admin):
    reply = send(gw, "ci-1", "GET", f"/v1.41/containers/{admin.plain}/json")
    assert reply.status == 200, reply
    document = json.loads(reply.body)  # a complete, well-framed JSON document
    assert "API_TOKEN=<redacted>" in document["Config"]["Env"]
    assert b"s3cr3t-value" not in reply.body
    result = docker_as(gw, "ci-1", "inspect", "--format", "{{json .Config.Env}}", admin.plain)
    assert result.returncode == 0, result.stderr
    assert "API_TOKEN=<redacted>" in result.stdout and "s3cr3t" not in result.stdout
    as_admin = send(gw, "admin", "GET", f"/containers/{admin.plain}/json")
    assert "API_TOKEN=s3cr3t-value" in json.loads(as_admin.body)["Config"]["Env"]


# --- audit mode -----------------------------------------------------------------------------


def test_audit_mode_lets_a_privileged_create_through_and_logs_why(gw, dockerd, busybox_image):
    name = unique("audited")
    body = {"Image": busybox_image, "HostConfig": {"Privileged": True}}
    mark = gw.access_mark()
    reply = send(gw, "rollout-1", "POST", f"/containers/create?name={name}", body)
    try:
        assert reply.status == 201, reply
        assert inspect(dockerd, name)["HostConfig"]["Privileged"] is True
        logged = gw.access_entry(
            lambda e: e["operation"] == "container.create", what="the create", after=mark
        )
        assert logged["decision"] == "audit-deny" and logged["role"] == "rollout"
        assert logged["status"] == 201
        assert logged["reason"].startswith(
            'denied by role "rollout" (profile baseline): HostConfig.Privileged is true'
        )
    finally:
        dockerd.api("DELETE", f"/containers/{name}?force=1")
