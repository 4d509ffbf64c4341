"""The unmodified docker CLI through dockward, against a real dockerd: works as if direct."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from support.dockerd import DockerDaemon
from support.gateway import read_until_close, source_of, tls_connect

pytestmark = pytest.mark.e2e


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ok(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_version_reports_the_real_daemon(docker, dockerd: DockerDaemon):
    server = ok(docker("version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}")).split()
    direct = dockerd.api_json("GET", "/version")
    assert server == [direct["Version"], direct["ApiVersion"]]


def test_info_and_ps(docker, dockerd: DockerDaemon):
    info = json.loads(ok(docker("info", "--format", "{{json .}}")))
    assert info["ID"] == dockerd.api_json("GET", "/info")["ID"]
    assert ok(docker("ps", "-a", "--format", "{{.ID}}")) is not None


def test_run_rm_prints_output_and_returns_the_exit_code(docker, busybox_image):
    result = docker("run", "--rm", busybox_image, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"


def test_run_i_delivers_stdin_eof_and_all_output(docker, busybox_image):
    result = docker("run", "-i", "--rm", busybox_image, "cat", input=b"a\nb\n")
    assert (result.returncode, result.stdout) == (0, b"a\nb\n"), result.stderr


def test_run_i_with_a_large_stdin(docker, busybox_image):
    data = bytes(range(256)) * 4096  # 1 MiB
    result = docker("run", "-i", "--rm", busybox_image, "sh", "-c", "cat | md5sum", input=data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0].decode() == hashlib.md5(data).hexdigest()


@pytest.fixture
def running(docker, busybox_image, dockerd):
    container = name("running")
    ok(docker("run", "-d", "--name", container, busybox_image, "sleep", "600"))
    yield container
    dockerd.api("DELETE", f"/containers/{container}?force=1")


def test_exec_without_and_with_stdin(docker, running):
    result = docker("exec", running, "sh", "-c", "echo hi; exit 4")
    assert (result.returncode, result.stdout) == (4, b"hi\n")
    result = docker("exec", "-i", running, "sh", "-c", "cat; echo done", input=b"x\ny\n")
    assert (result.returncode, result.stdout) == (0, b"x\ny\ndone\n"), result.stderr


def test_cp_both_ways(docker, running, tmp_path: Path, dockerd: DockerDaemon):
    source = tmp_path / "in.bin"
    source.write_bytes(b"payload\x00" * 10000)
    ok(docker("cp", str(source), f"{running}:/tmp/in.bin"))
    status, _, _ = dockerd.api("HEAD", f"/containers/{running}/archive?path=/tmp/in.bin")
    assert status == 200
    ok(docker("cp", f"{running}:/tmp/in.bin", str(tmp_path / "out.bin")))
    assert (tmp_path / "out.bin").read_bytes() == source.read_bytes()


def test_logs_follow_streams_as_lines_are_written(docker, busybox_image, dockerd):
    container = name("logs")
    ok(
        docker(
            "run",
            "-d",
            "--name",
            container,
            busybox_image,
            "sh",
            "-c",
            "echo first; while [ ! -f /tmp/go ]; do sleep 0.05; done; echo second; sleep 600",
        )
    )
    follower = docker.popen("logs", "-f", container, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline() == b"first\n"
        ok(docker("exec", container, "touch", "/tmp/go"))
        assert follower.stdout.readline() == b"second\n"
    finally:
        follower.kill()
        follower.communicate()
        dockerd.api("DELETE", f"/containers/{container}?force=1")


def test_events_stream(docker, busybox_image, dockerd):
    label = name("events")
    watcher = docker.popen(
        "events",
        "--since",
        str(int(time.time()) - 1),  # replays events from before the stream was set up
        "--filter",
        f"label=test={label}",
        "--format",
        "{{.Action}}",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert watcher.stdout is not None
        container = name("ev")
        ok(docker("create", "--name", container, "--label", f"test={label}", busybox_image, "true"))
        assert watcher.stdout.readline().strip() == b"create"
        ok(docker("rm", container))
        assert watcher.stdout.readline().strip() == b"destroy"
    finally:
        watcher.kill()
        watcher.communicate()


def test_classic_build(docker, busybox_image, tmp_path: Path, dockerd):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox_image}\nCOPY hello /hello\nRUN cat /hello\n"
    )
    (tmp_path / "hello").write_text("built through dockward\n")
    tag = f"dockward-test/built:{uuid.uuid4().hex[:8]}"
    result = docker("build", "-t", tag, str(tmp_path), env={"DOCKER_BUILDKIT": "0"})
    assert result.returncode == 0, result.stderr
    assert b"built through dockward" in result.stdout
    assert ok(docker("run", "--rm", tag, "cat", "/hello")) == "built through dockward\n"
    dockerd.api("DELETE", f"/images/{tag}")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/PID/status")


def test_save_and_load_200_mb_with_identical_bytes(docker, dockerd, gateway, tmp_path: Path):
    from support.images import make_big_image

    tag = "dockward-test/big200:latest"
    make_big_image(dockerd, 200, tag)
    via_gateway = tmp_path / "gateway.tar"
    direct = tmp_path / "direct.tar"
    ok(docker("save", "-o", str(via_gateway), tag, timeout=300))
    assert dockerd.cli("save", "-o", str(direct), tag, timeout=300).returncode == 0
    assert via_gateway.stat().st_size > 200 * 1024 * 1024
    assert _sha256(via_gateway) == _sha256(direct)
    image_id = dockerd.api_json("GET", f"/images/{tag}/json")["Id"]
    assert dockerd.api("DELETE", f"/images/{tag}")[0] == 200
    loaded = ok(docker("load", "-i", str(via_gateway), timeout=300))
    assert tag in loaded
    assert dockerd.api_json("GET", f"/images/{tag}/json")["Id"] == image_id
    # backpressure in both directions: the gateway never held the image in memory
    assert peak_rss_mib(gateway.process.pid) < 80


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def test_access_log_records_each_request_without_secrets(docker, gateway):
    auth = "eyJ1c2VybmFtZSI6ImFsaWNlIiwicGFzc3dvcmQiOiJodW50ZXIyIn0="
    mark = gateway.access_mark()  # an earlier test's connection may have had this source port
    with tls_connect(gateway, gateway.pki.client("admin")) as sock:
        source = source_of(sock)
        sock.sendall(
            b"GET /v1.41/images/json HTTP/1.1\r\nHost: x\r\nX-Registry-Auth: "
            + auth.encode()
            + b"\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n"
        )
        assert read_until_close(sock).startswith(b"HTTP/1.1 200")
    entry = gateway.access_entry(
        lambda e: e["source"] == source, what="GET /images/json", after=mark
    )
    assert entry["path"] == "/v1.41/images/json" and entry["operation"] == "image.list"
    assert entry["decision"] == "allow" and entry["status"] == 200
    assert entry["identity"]["cn"] == "admin"
    assert entry["bytes_out"] > 0 and entry["duration_ms"] >= 0
    assert entry["method"] == "GET"
    assert entry["listener"] == gateway.address
    text = gateway.access_log.read_text()
    assert auth not in text and "s3cret" not in text and "hunter2" not in text
