"""What a CI runner does every day keeps working under ``baseline``, with the real clients.

``ci-1`` (role ``ci``, preset ``ci``, profile ``baseline``, host paths under /srv/ci) drives
the real docker CLI and Debian's docker-compose through a real gateway. Everything made is
removed through the daemon's own socket.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.clients import ComposeProject, DockerCLI
from support.gateway import GatewayProcess, serving

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
host_paths = ["/srv/ci"]
"""


@pytest.fixture(scope="module")
def gw(pki, dockerd, busybox_image):
    with serving(pki, dockerd.socket_path, policy=POLICY) as process:
        yield process


@pytest.fixture(scope="module")
def srv_ci() -> Iterator[Path]:
    """A fresh directory under /srv/ci (made, and removed again if this module made it)."""
    root = Path("/srv/ci")
    made_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    directory = root / f"dw-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
    if made_root:
        with contextlib.suppress(OSError):  # someone else put something there meanwhile
            root.rmdir()


def ci(gateway: GatewayProcess, *args: str, input: bytes | None = None, **env: str):
    return DockerCLI(gateway, gateway.pki.client("ci-1"))(*args, input=input, env=env)


def unique(what: str) -> str:
    return f"dw-ok-{what}-{uuid.uuid4().hex[:6]}"


def test_run_rm_prints_output_and_returns_the_exit_code(gw, dockerd, busybox_image):
    result = ci(gw, "run", "--rm", busybox_image, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3, result.stderr
    assert result.stdout == b"out\n"
    assert b"err\n" in result.stderr
    assert b"dockward" not in result.stderr


def test_run_i_passes_stdin_through_to_eof(gw, busybox_image):
    result = ci(gw, "run", "-i", "--rm", busybox_image, "cat", input=b"a\nb\n")
    assert (result.returncode, result.stdout) == (0, b"a\nb\n"), result.stderr


def test_run_with_a_bind_under_the_allowed_path(gw, busybox_image, srv_ci):
    (srv_ci / "input.txt").write_text("from the host\n")
    result = ci(
        gw,
        "run",
        "--rm",
        "-v",
        f"{srv_ci}:/data",
        busybox_image,
        "sh",
        "-c",
        "cat /data/input.txt && echo from the container > /data/output.txt",
    )
    assert (result.returncode, result.stdout) == (0, b"from the host\n"), result.stderr
    assert (srv_ci / "output.txt").read_text() == "from the container\n"


def test_run_with_a_bind_outside_the_allowed_path_fails_with_the_reason(gw, busybox_image):
    result = ci(gw, "run", "--rm", "-v", "/etc:/host-etc", busybox_image, "true")
    assert result.returncode != 0
    assert (
        b'dockward: denied by role "ci" (profile baseline): HostConfig.Binds mounts host path '
        b'"/etc" (allowed: /srv/ci)' in result.stderr
    )


def test_run_with_a_named_volume_and_a_mount(gw, dockerd, busybox_image):
    volume = unique("vol")
    try:
        write = ci(
            gw, "run", "--rm", "-v", f"{volume}:/v", busybox_image, "sh", "-c", "echo kept > /v/f"
        )
        assert write.returncode == 0, write.stderr
        read = ci(
            gw,
            "run",
            "--rm",
            "--mount",
            f"type=volume,source={volume},target=/v",
            "--mount",
            "type=tmpfs,target=/scratch",
            busybox_image,
            "cat",
            "/v/f",
        )
        assert (read.returncode, read.stdout) == (0, b"kept\n"), read.stderr
        assert ci(gw, "volume", "create", unique("explicit")).returncode == 0
    finally:
        dockerd.api("DELETE", f"/volumes/{volume}")
        for item in dockerd.api_json("GET", "/volumes")["Volumes"] or []:
            if item["Name"].startswith("dw-ok-explicit-"):
                dockerd.api("DELETE", f"/volumes/{item['Name']}")


def test_run_with_everyday_options(gw, busybox_image):
    result = ci(
        gw,
        "run",
        "--rm",
        "--user",
        "65534:65534",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CHOWN",
        "--security-opt",
        "no-new-privileges",
        "--memory",
        "64m",
        "--pids-limit",
        "64",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-e",
        "GREETING=hi",
        "-w",
        "/tmp",
        busybox_image,
        "sh",
        "-c",
        'echo "$GREETING $(id -u) $(pwd)"',
    )
    assert (result.returncode, result.stdout) == (0, b"hi 65534 /tmp\n"), result.stderr


@pytest.fixture
def running(gw, dockerd, busybox_image) -> Iterator[str]:
    name = unique("running")
    result = ci(gw, "run", "-d", "--name", name, busybox_image, "sleep", "600")
    assert result.returncode == 0, result.stderr
    yield name
    dockerd.api("DELETE", f"/containers/{name}?force=1")


def test_exec_and_exec_i(gw, running):
    result = ci(gw, "exec", running, "sh", "-c", "echo exec-ok")
    assert (result.returncode, result.stdout) == (0, b"exec-ok\n"), result.stderr
    piped = ci(gw, "exec", "-i", running, "cat", input=b"a\nb\n")
    assert (piped.returncode, piped.stdout) == (0, b"a\nb\n"), piped.stderr
    as_user = ci(gw, "exec", "-u", "65534", running, "id", "-u")
    assert (as_user.returncode, as_user.stdout) == (0, b"65534\n"), as_user.stderr


def test_lifecycle_logs_inspect_and_cp_into(gw, dockerd, running, tmp_path):
    (tmp_path / "upload.txt").write_text("uploaded\n")
    assert ci(gw, "cp", str(tmp_path / "upload.txt"), f"{running}:/tmp/").returncode == 0
    cat = ci(gw, "exec", running, "cat", "/tmp/upload.txt")
    assert cat.stdout == b"uploaded\n", cat.stderr
    for args in (("logs", running), ("inspect", running), ("top", running), ("ps", "-a")):
        result = ci(gw, *args)
        assert result.returncode == 0, (args, result.stderr)
    for args in (("stop", "-t", "0", running), ("start", running), ("rm", "-f", running)):
        result = ci(gw, *args)
        assert result.returncode == 0, (args, result.stderr)
    assert dockerd.api("GET", f"/containers/{running}/json")[0] == 404


def test_classic_build_and_run(gw, dockerd, busybox_image, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox_image}\nCOPY hello /hello\nRUN cat /hello && mkdir /made\n"
    )
    (tmp_path / "hello").write_text("built under baseline\n")
    tag = f"dockward-test/ci-built:{uuid.uuid4().hex[:8]}"
    try:
        result = ci(gw, "build", "-t", tag, str(tmp_path), DOCKER_BUILDKIT="0")
        assert result.returncode == 0, result.stderr
        assert b"built under baseline" in result.stdout
        run = ci(gw, "run", "--rm", tag, "cat", "/hello")
        assert run.stdout == b"built under baseline\n", run.stderr
    finally:
        dockerd.api("DELETE", f"/images/{tag}?force=1")


COMPOSE_FILE = """\
version: "3"
services:
  web:
    image: {image}
    command: ["sh", "-c", "echo web-ready; sleep 600"]
    volumes:
      - data:/data
      - {bind}:/shared
    environment:
      - TOKEN=not-a-secret
  job:
    image: {image}
    command: ["sh", "-c", "echo job-done > /shared/job.txt"]
    volumes:
      - {bind}:/shared
volumes:
  data: {{}}
"""


@pytest.fixture(params=["ci-1"])
def compose(request, gw, dockerd, tmp_path, busybox_image, srv_ci):
    project = f"dwci{uuid.uuid4().hex[:8]}"
    run = ComposeProject(gw, tmp_path, project, gw.pki.client(request.param))
    (tmp_path / "docker-compose.yml").write_text(
        COMPOSE_FILE.format(image=busybox_image, bind=srv_ci)
    )
    yield run
    label = f"com.docker.compose.project={project}"
    for container in dockerd.api_json(
        "GET", f'/containers/json?all=1&filters={{"label":["{label}"]}}'
    ):
        dockerd.api("DELETE", f"/containers/{container['Id']}?force=1&v=1")
    for network in dockerd.api_json("GET", f'/networks?filters={{"label":["{label}"]}}'):
        dockerd.api("DELETE", f"/networks/{network['Id']}")
    for volume in dockerd.api_json("GET", "/volumes")["Volumes"] or []:
        if volume["Name"].startswith(f"{project}_"):
            dockerd.api("DELETE", f"/volumes/{volume['Name']}")


def test_compose_up_run_down(compose, dockerd, srv_ci):
    up = compose("up", "-d")
    assert up.returncode == 0, up.stderr
    label = f"com.docker.compose.project={compose.project}"
    containers = dockerd.api_json("GET", f'/containers/json?all=1&filters={{"label":["{label}"]}}')
    assert len(containers) == 2
    assert (srv_ci / "job.txt").read_text() == "job-done\n"
    down = compose("down", "--timeout", "1", "--volumes")
    assert down.returncode == 0, down.stderr
    assert dockerd.api_json("GET", f'/containers/json?all=1&filters={{"label":["{label}"]}}') == []
    assert not any(
        v["Name"].startswith(f"{compose.project}_")
        for v in dockerd.api_json("GET", "/volumes")["Volumes"] or []
    )
    assert os.path.isdir(srv_ci)


def test_a_network_on_a_host_interface_is_refused_to_ci(gw, dockerd):
    name = f"dwnet{uuid.uuid4().hex[:6]}"
    as_ci = DockerCLI(gw, gw.pki.client("ci-1"))
    result = as_ci(
        "network", "create", "-d", "macvlan", "-o", "parent=lo", name, text=True, timeout=60
    )
    assert result.returncode != 0
    assert 'denied by role "ci" (profile baseline): Driver is "macvlan"' in result.stderr
    assert dockerd.api("GET", f"/networks/{name}")[0] == 404
