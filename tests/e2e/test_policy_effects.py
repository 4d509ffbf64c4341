"""Issue 12, classes 3 to 6: what dockerd will do, not what the request says.

Each attack goes through a real gateway and is then checked against the daemon's own state (no
container, volume or image made), the answer the role got (no secret in it), or a loopback
witness listener (no connection made). Each also has a control that shows the attack works
when the policy lets it through (an administrator, or a role that is granted it), so a refusal
means something.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from support.gateway import GatewayProcess, serving, tls_connect
from support.raw_http import Reply, assert_denied, send
from support.witness import LoopbackWitness

pytestmark = pytest.mark.e2e

POLICY = """
[[role]]
name = "admin"
preset = "admin"
clients = ["cn:admin"]

[[role]]
name = "ci"
preset = "ci"
clients = ["cn:ci-*"]
host_paths = ["/srv/ci"]

[[role]]
name = "restricted"
preset = "ci"
profile = "restricted"
clients = ["cn:restricted-*"]
registries = ["docker.io/dockward-test/"]

[[role]]
name = "viewer"
preset = "readonly"
clients = ["cn:viewer"]

[[role]]
name = "attacher"
clients = ["cn:attacher"]
allow = ["container.list", "container.inspect", "container.attach"]

[[role]]
name = "mirror"
clients = ["cn:mirror"]
allow = ["*.read", "distribution.inspect"]
outbound = ["{witness}"]

[[role]]
name = "buildkit"
clients = ["cn:buildkit"]
allow = ["image.build", "build.*", "session", "grpc"]
"""

SECRET = "s3cr3t-effects-value"
CREATE_LIMITS = {
    "Memory": 64 * 1024 * 1024,
    "NanoCpus": 500_000_000,
    "PidsLimit": 64,
    "CapDrop": ["ALL"],
    "SecurityOpt": ["no-new-privileges"],
}


def unique(what: str) -> str:
    return f"dw-fx-{what}-{uuid.uuid4().hex[:6]}"


def container_ids(dockerd) -> set[str]:
    return {c["Id"] for c in dockerd.api_json("GET", "/containers/json?all=1")}


def volume_names(dockerd) -> set[str]:
    return {v["Name"] for v in dockerd.api_json("GET", "/volumes")["Volumes"] or []}


def assert_operation_denied(reply: Reply, role: str, operation: str) -> None:
    assert reply.status == 403, reply
    expected = f'dockward: denied by role "{role}": operation {operation} is not allowed'
    assert reply.message == expected, reply.message


@pytest.fixture(scope="module")
def witness() -> Iterator[LoopbackWitness]:
    with LoopbackWitness() as listener:
        yield listener


@pytest.fixture(scope="module")
def gw(pki, dockerd, busybox_image, witness) -> Iterator[GatewayProcess]:
    policy = POLICY.replace("{witness}", witness.address)
    with serving(pki, dockerd.socket_path, policy=policy) as process:
        yield process


class Made:
    """Containers, volumes and images made during a test, removed afterwards."""

    def __init__(self, dockerd) -> None:
        self.dockerd = dockerd
        self.containers: list[str] = []
        self.volumes: list[str] = []
        self.images: list[str] = []

    def container(self, body: dict, start: bool = False) -> str:
        name = unique("c")
        self.containers.append(name)
        self.dockerd.api_json("POST", f"/containers/create?name={name}", body)
        if start:
            self.dockerd.api_json("POST", f"/containers/{name}/start")
        return name

    def commit(self, source: str, changes: str) -> str:
        repo, tag = "dockward-test/effects", uuid.uuid4().hex[:8]
        self.images.append(f"{repo}:{tag}")
        query = f"container={source}&repo={repo}&tag={tag}&changes={quote(changes)}"
        self.dockerd.api_json("POST", f"/commit?{query}")
        return f"{repo}:{tag}"

    def cleanup(self) -> None:
        for name in self.containers:
            self.dockerd.api("DELETE", f"/containers/{name}?force=1&v=1")
        for name in self.volumes:
            self.dockerd.api("DELETE", f"/volumes/{name}?force=1")
        for image in self.images:
            self.dockerd.api("DELETE", f"/images/{image}?force=1")


@pytest.fixture
def made(dockerd) -> Iterator[Made]:
    objects = Made(dockerd)
    yield objects
    objects.cleanup()


# --- class 3: effective configuration ---------------------------------------------------------


def test_a_workdir_committed_under_proc_is_refused_at_create(gw, dockerd, busybox_image, made):
    source = made.container({"Image": busybox_image, "Cmd": ["true"]})
    # the instance: ci itself may commit, with a WORKDIR the body check would refuse
    committed = send(
        gw,
        "ci-1",
        "POST",
        f"/commit?container={source}&repo=dockward-test/effects&tag=procwd"
        f"&changes={quote('WORKDIR /proc/self/fd/8')}",
    )
    assert committed.status == 201, committed
    image = "dockward-test/effects:procwd"
    made.images.append(image)
    assert dockerd.api_json("GET", f"/images/{image}/json")["Config"]["WorkingDir"] == (
        "/proc/self/fd/8"
    )
    before = container_ids(dockerd)
    reply = send(gw, "ci-1", "POST", "/containers/create", {"Image": image, "Cmd": ["true"]})
    assert_denied(reply, "WorkingDir")
    assert f'is not set and image "{image}" sets "/proc/self/fd/8"' in reply.message
    # the same value in the body is refused by the same check
    in_body = {"Image": busybox_image, "WorkingDir": "/proc/self/fd/8"}
    assert_denied(send(gw, "ci-1", "POST", "/containers/create", in_body), "WorkingDir")
    assert container_ids(dockerd) == before
    # control: what the daemon would have made
    name = unique("procwd")
    made.containers.append(name)
    control = send(gw, "admin", "POST", f"/containers/create?name={name}", {"Image": image})
    assert control.status == 201, control
    inspected = dockerd.api_json("GET", f"/containers/{name}/json")
    assert inspected["Config"]["WorkingDir"] == "/proc/self/fd/8"
    # a working directory in the body overrides the image's: allowed
    name = unique("workdir-ok")
    made.containers.append(name)
    body = {"Image": image, "WorkingDir": "/tmp", "Cmd": ["true"]}
    assert send(gw, "ci-1", "POST", f"/containers/create?name={name}", body).status == 201


def test_restricted_judges_the_images_user(gw, dockerd, busybox_image, made):
    source = made.container({"Image": busybox_image, "Cmd": ["true"]})
    unprivileged = made.commit(source, "USER 1000")
    body = {"Image": unprivileged, "Cmd": ["id", "-u"], "HostConfig": CREATE_LIMITS}
    name = unique("restricted-user")
    made.containers.append(name)
    reply = send(gw, "restricted-1", "POST", f"/containers/create?name={name}", body)
    assert reply.status == 201, reply
    # the daemon gave the container its image's user
    assert dockerd.api_json("GET", f"/containers/{name}/json")["Config"]["User"] == "1000"
    before = container_ids(dockerd)
    root = send(gw, "restricted-1", "POST", "/containers/create", {**body, "Image": busybox_image})
    assert_denied(root, "User", role="restricted", profile="restricted")
    assert f'is not set and image "{busybox_image}" runs as root' in root.message
    assert container_ids(dockerd) == before


TMPFS_VOLUME = {"type": "tmpfs", "device": "tmpfs"}


def test_tmpfs_dev_and_suid_are_refused_in_all_three_spellings(gw, dockerd, busybox_image, made):
    containers, volumes = container_ids(dockerd), volume_names(dockerd)
    attacks = [
        ({"Tmpfs": {"/x": "exec,suid,dev"}}, "HostConfig.Tmpfs"),
        (
            {"Mounts": [{"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"Options": [["dev"]]}}]},
            "HostConfig.Mounts[0]",
        ),
        (
            {
                "Mounts": [
                    {
                        "Type": "volume",
                        "Source": unique("inline-tmpfs"),
                        "Target": "/x",
                        "VolumeOptions": {
                            "DriverConfig": {"Name": "local", "Options": {**TMPFS_VOLUME}}
                        },
                    }
                ]
            },
            "HostConfig.Mounts[0]",
        ),
    ]
    for host_config, field in attacks:
        body = {"Image": busybox_image, "HostConfig": host_config}
        assert_denied(send(gw, "ci-1", "POST", "/containers/create", body), field)
    for options in ("dev,suid", "size=1m", "nodev,size=1m"):
        body = {"Name": unique("tmpfs"), "DriverOpts": {**TMPFS_VOLUME, "o": options}}
        reply = send(gw, "ci-1", "POST", "/volumes/create", body)
        assert_denied(reply, "DriverOpts")
        assert "creates a tmpfs volume that allows" in reply.message
    # a tmpfs volume an administrator made without nodev, mounted by name
    admin_volume = unique("admin-tmpfs")
    made.volumes.append(admin_volume)
    dockerd.api_json(
        "POST", "/volumes/create", {"Name": admin_volume, "DriverOpts": {**TMPFS_VOLUME}}
    )
    volumes.add(admin_volume)
    body = {"Image": busybox_image, "HostConfig": {"Binds": [f"{admin_volume}:/v"]}}
    reply = send(gw, "ci-1", "POST", "/containers/create", body)
    assert_denied(reply, "HostConfig.Binds")
    assert f'uses volume "{admin_volume}", a tmpfs volume that allows device files' in (
        reply.message
    )
    assert container_ids(dockerd) == containers
    assert volume_names(dockerd) == volumes


def test_a_tmpfs_volume_that_says_nodev_nosuid_is_created_and_mounted_so(
    gw, dockerd, busybox_image, made
):
    volume = unique("tmpfs-ok")
    made.volumes.append(volume)
    body = {"Name": volume, "DriverOpts": {**TMPFS_VOLUME, "o": "size=1m,nodev,nosuid"}}
    assert send(gw, "ci-1", "POST", "/volumes/create", body).status == 201
    name = unique("tmpfs-user")
    made.containers.append(name)
    run = {
        "Image": busybox_image,
        "Cmd": ["sleep", "60"],
        "HostConfig": {"Binds": [f"{volume}:/v"], "Tmpfs": {"/t": "size=1m"}},
    }
    assert send(gw, "ci-1", "POST", f"/containers/create?name={name}", run).status == 201
    dockerd.api_json("POST", f"/containers/{name}/start")
    exec_id = dockerd.api_json(
        "POST",
        f"/containers/{name}/exec",
        {"Cmd": ["cat", "/proc/mounts"], "AttachStdout": True, "Tty": True},
    )["Id"]
    status, _, output = dockerd.api("POST", f"/exec/{exec_id}/start", {"Tty": True})
    assert status == 200
    mounts = {
        fields[1]: set(fields[3].split(","))
        for line in output.decode(errors="replace").splitlines()
        if len(fields := re.split(r"\s+", line.strip())) >= 4
    }
    assert {"nodev", "nosuid"} <= mounts["/v"] and {"nodev", "nosuid"} <= mounts["/t"]


def test_restricted_refuses_exec_on_a_tmpfs(gw, dockerd, busybox_image, made):
    source = made.container({"Image": busybox_image, "Cmd": ["true"]})
    image = made.commit(source, "USER 1000")
    before = container_ids(dockerd)
    host_config = {**CREATE_LIMITS, "Tmpfs": {"/x": "exec"}}
    body = {"Image": image, "HostConfig": host_config}
    reply = send(gw, "restricted-1", "POST", "/containers/create", body)
    assert_denied(reply, "HostConfig.Tmpfs", role="restricted", profile="restricted")
    assert "allows programs to run" in reply.message
    assert container_ids(dockerd) == before


# --- class 4: the read side follows what a route reveals ---------------------------------------


@pytest.fixture
def secret_container(dockerd, busybox_image, made) -> str:
    return made.container(
        {
            "Image": busybox_image,
            "Cmd": ["sh", "-c", "echo output-$API_TOKEN; sleep 600"],
            "Env": [f"API_TOKEN={SECRET}"],
        },
        start=True,
    )


@pytest.mark.parametrize("ps_args", ["aux e", "eww", "-ef -x", "-o pid,environ", "axe"])
def test_top_cannot_print_process_environments(ps_args, gw, secret_container):
    target = f"/containers/{secret_container}/top?ps_args={quote(ps_args)}"
    reply = send(gw, "viewer", "GET", target)
    assert_denied(reply, "query ps_args", role="viewer")
    assert SECRET not in reply.body.decode(errors="replace")


def test_top_control_the_environment_is_there_to_be_had(gw, secret_container):
    control = send(gw, "admin", "GET", f"/containers/{secret_container}/top?ps_args=aux%20e")
    assert control.status == 200 and SECRET in control.body.decode()
    plain = send(gw, "viewer", "GET", f"/containers/{secret_container}/top")
    assert plain.status == 200, plain
    assert "sleep 600" in plain.body.decode() and SECRET not in plain.body.decode()
    listed = send(gw, "viewer", "GET", f"/containers/{secret_container}/top?ps_args=aux")
    assert listed.status == 200 and SECRET not in listed.body.decode()


def _context(dockerfile: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_image_history_and_inspect_hide_env_values_and_build_args(gw, dockerd, busybox_image, made):
    tag = f"dockward-test/effects:history-{uuid.uuid4().hex[:8]}"
    made.images.append(tag)
    dockerfile = (
        f"FROM {busybox_image}\nARG BUILD_TOKEN\nENV APP_KEY=env-{SECRET}\n"
        "RUN echo $BUILD_TOKEN > /dev/null\n"
    )
    args = quote(json.dumps({"BUILD_TOKEN": f"arg-{SECRET}"}))
    status, _, output = dockerd.api(
        "POST",
        f"/build?t={tag}&buildargs={args}&rm=1",
        _context(dockerfile),
        headers={"Content-Type": "application/x-tar"},
        timeout=120,
    )
    assert status == 200 and b"Successfully tagged" in output, output[-500:]
    for path in (f"/images/{tag}/history", f"/images/{tag}/json"):
        control = send(gw, "admin", "GET", path)
        assert SECRET in control.body.decode(), path  # the daemon does hand them out
        reply = send(gw, "viewer", "GET", path)
        assert reply.status == 200, reply
        assert SECRET not in reply.body.decode(), (path, reply.body)
    steps = [
        step["CreatedBy"]
        for step in json.loads(send(gw, "viewer", "GET", f"/images/{tag}/history").body)
    ]
    assert any(step.endswith("ENV <redacted>") for step in steps), steps
    assert any(step.startswith("|1 <redacted>") for step in steps), steps


def test_inspect_hides_logging_driver_tokens(gw, dockerd, busybox_image, made):
    log_config = {
        "Type": "splunk",
        "Config": {"splunk-token": f"tok-{SECRET}", "splunk-url": "https://127.0.0.1:1"},
    }
    name = made.container({"Image": busybox_image, "HostConfig": {"LogConfig": log_config}})
    assert SECRET in send(gw, "admin", "GET", f"/containers/{name}/json").body.decode()
    reply = send(gw, "viewer", "GET", f"/containers/{name}/json")
    assert reply.status == 200 and SECRET not in reply.body.decode()
    redacted = json.loads(reply.body)["HostConfig"]["LogConfig"]
    assert redacted == {
        "Type": "splunk",
        "Config": {"splunk-token": "<redacted>", "splunk-url": "<redacted>"},
    }


def test_volume_answers_hide_mount_credentials(gw, dockerd, made):
    volume = unique("cifs")
    made.volumes.append(volume)
    options = {"type": "cifs", "device": "//127.0.0.1/share", "o": f"username=u,password={SECRET}"}
    dockerd.api_json("POST", "/volumes/create", {"Name": volume, "DriverOpts": options})
    for path in (f"/volumes/{volume}", "/volumes"):
        assert SECRET in send(gw, "admin", "GET", path).body.decode(), path
        reply = send(gw, "viewer", "GET", path)
        assert reply.status == 200, reply
        assert SECRET not in reply.body.decode(), path
    answer = json.loads(send(gw, "viewer", "GET", f"/volumes/{volume}").body)
    assert answer["Options"]["o"] == "username=u,password=<redacted>"


def test_attach_with_logs_counts_as_reading_logs(gw, secret_container):
    target = f"/containers/{secret_container}/attach?logs=1&stream=0&stdout=1&stderr=1"
    reply = send(gw, "attacher", "POST", target)
    assert reply.status == 403, reply
    assert reply.message.startswith('dockward: denied by role "attacher" (profile baseline): '
                                    "query logs is true")  # fmt: skip
    assert SECRET not in reply.body.decode(errors="replace")
    logs = send(gw, "attacher", "GET", f"/containers/{secret_container}/logs?stdout=1")
    assert_operation_denied(logs, "attacher", "container.logs")
    # control: a role that may read logs gets the same output through attach
    control = send(gw, "ci-1", "POST", target)
    assert control.status == 200 and f"output-{SECRET}".encode() in control.body


def test_readonly_makes_the_daemon_fetch_nothing(gw, witness):
    before = witness.connections
    for method, target, operation in (
        ("GET", f"/distribution/{witness.address}/x/json", "distribution.inspect"),
        ("GET", f"/images/search?term={witness.address}/x", "image.search"),
        ("GET", f"/plugins/privileges?remote={witness.address}/p", "plugin.privileges"),
        ("POST", f"/images/create?fromImage={witness.address}/x&tag=1", "image.pull"),
    ):
        assert_operation_denied(send(gw, "viewer", method, target), "viewer", operation)
    assert witness.connections == before
    # control: the same lookup from an administrator reaches the witness
    send(gw, "admin", "GET", f"/distribution/{witness.address}/x/json")
    witness.wait_for_connection(more_than=before)


# --- class 5: outbound ---------------------------------------------------------------------


def test_ci_cannot_make_the_daemon_connect_to_loopback(gw, dockerd, busybox_image, witness):
    address, port = witness.address, witness.port
    before, containers, images = witness.connections, container_ids(dockerd), _images(dockerd)
    for method, target, field in (
        ("GET", f"/distribution/{address}/x/json", "the image in the path"),
        ("GET", f"/distribution/localhost:{port}/x/json", "the image in the path"),
        ("POST", f"/images/create?fromImage={address}/x&tag=1", "query fromImage"),
        ("POST", f"/images/create?fromImage=localhost:{port}/x&tag=1", "query fromImage"),
        ("POST", f"/images/create?fromSrc=http://{address}/x.tar&repo=imp", "query fromSrc"),
        ("POST", f"/build?remote=http://{address}/context.tar&t=remote", "query remote"),
    ):
        reply = send(gw, "ci-1", method, target)
        assert_denied(reply, field)
    for log_config in (
        {"Type": "syslog", "Config": {"syslog-address": f"tcp://{address}"}},
        {"Type": "fluentd", "Config": {"fluentd-address": address}},
        {"Type": "gelf", "Config": {"gelf-address": f"tcp://{address}"}},
    ):
        body = {"Image": busybox_image, "Cmd": ["true"], "HostConfig": {"LogConfig": log_config}}
        assert_denied(send(gw, "ci-1", "POST", "/containers/create", body), "HostConfig.LogConfig")
    search = send(gw, "ci-1", "GET", f"/images/search?term={address}/x")
    assert_operation_denied(search, "ci", "image.search")
    assert witness.connections == before
    assert container_ids(dockerd) == containers and _images(dockerd) == images


def _images(dockerd) -> set[str]:
    return {image["Id"] for image in dockerd.api_json("GET", "/images/json?all=1")}


def test_control_a_log_server_on_loopback_is_reached_when_allowed(
    gw, dockerd, busybox_image, witness, made
):
    before = witness.connections
    log_config = {"Type": "syslog", "Config": {"syslog-address": f"tcp://{witness.address}"}}
    name = unique("syslog")
    made.containers.append(name)
    body = {"Image": busybox_image, "Cmd": ["echo", "x"], "HostConfig": {"LogConfig": log_config}}
    assert send(gw, "admin", "POST", f"/containers/create?name={name}", body).status == 201
    assert send(gw, "admin", "POST", f"/containers/{name}/start").status == 204
    witness.wait_for_connection(more_than=before)


def test_the_outbound_allow_list_lets_a_listed_registry_be_reached(gw, witness):
    before = witness.connections
    reply = send(gw, "mirror", "GET", f"/distribution/{witness.address}/x/json")
    assert "dockward" not in reply.message, reply  # the daemon's own error: nothing there
    witness.wait_for_connection(more_than=before)
    # another port of the same host is not listed
    other = send(gw, "mirror", "GET", f"/distribution/127.0.0.1:{witness.port + 1}/x/json")
    assert_denied(other, "the image in the path", role="mirror")


# --- class 6: tunnels the policy cannot see into -------------------------------------------


def _status_line(gateway: GatewayProcess, who: str, path: str) -> bytes:
    """The first line of the answer to an h2c upgrade (a 101 stays open: read only the line)."""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: docker\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
        "X-Docker-Expose-Session-Uuid: dw\r\nX-Docker-Expose-Session-Name: dw\r\n"
        "X-Docker-Expose-Session-Sharedkey: dw\r\n\r\n"
    ).encode()
    with tls_connect(gateway, gateway.pki.client(who)) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n" not in received:
            piece = sock.recv(4096)
            if not piece:
                break
            received += piece
        return received.partition(b"\r\n")[0]


@pytest.mark.parametrize("path", ["/session", "/grpc"])
def test_buildkit_tunnels_are_refused_to_ci(gw, path):
    reply = send(gw, "ci-1", "POST", path, headers=("Upgrade: h2c", "Connection: Upgrade"))
    assert_operation_denied(reply, "ci", path.strip("/"))
    # control: a role that names them gets the daemon's upgrade
    assert _status_line(gw, "buildkit", path) == b"HTTP/1.1 101 Switching Protocols"
