"""SIGTERM drains: new connections are refused, work in flight finishes byte-exact, streams run
until drain_timeout and then end with close_notify, and the gateway exits as soon as nothing
is left (issue 15)."""

from __future__ import annotations

import hashlib
import signal
import socket
import subprocess
import time

import pytest

from support.clients import DockerCLI
from support.gateway import GatewayProcess
from support.images import make_big_image
from support.waiting import wait_for

pytestmark = pytest.mark.e2e

DRAIN = 8.0


@pytest.fixture(scope="module")
def big_image(dockerd) -> str:
    return make_big_image(dockerd, 24, "dockward-test/drain-big:1")


@pytest.fixture
def container(dockerd, busybox_image):
    name = f"dw-drain-{time.monotonic_ns()}"
    result = dockerd.cli(
        "run", "-d", "--name", name, busybox_image, "sh", "-c", "echo hi; sleep 600"
    )
    assert result.returncode == 0, result.stderr
    yield name
    dockerd.api("DELETE", f"/containers/{name}?force=1")


def _exec_running(dockerd, container: str) -> bool:
    """The daemon's own view: an exec of ``container`` is running."""
    ids = dockerd.api_json("GET", f"/containers/{container}/json")["ExecIDs"] or []
    return any(dockerd.api_json("GET", f"/exec/{i}/json")["Running"] for i in ids)


def _finish(process: subprocess.Popen[bytes]) -> None:
    """End a client process of a test and close its pipes."""
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _exit_within(gateway: GatewayProcess, seconds: float) -> float:
    assert gateway.process is not None
    t0 = time.monotonic()
    gateway.process.wait(timeout=seconds)
    return time.monotonic() - t0


def test_sigterm_lets_a_save_and_an_exec_finish_and_cuts_a_follow_at_the_drain_time(
    pki, dockerd, big_image, container
):
    direct = dockerd.cli("save", big_image, timeout=120)
    assert direct.returncode == 0
    again = dockerd.cli("save", big_image, timeout=120)
    assert _sha256(again.stdout) == _sha256(direct.stdout)  # a save is reproducible

    extra = {"drain_timeout": DRAIN}
    gateway = GatewayProcess(pki, dockerd.socket_path, extra=extra, reuse_port=True).start()
    successor: GatewayProcess | None = None
    try:
        docker = DockerCLI(gateway)
        # a save whose reader is slow: most of it is still in flight at SIGTERM
        save = docker.popen("save", big_image, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        exec_i = docker.popen(
            "exec", "-i", container, "sh", "-c", "cat; sleep 2; echo done",
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        follow = docker.popen(
            "logs", "-f", container, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert save.stdout is not None and exec_i.stdin is not None
        assert follow.stdout is not None
        first = save.stdout.read(65536)  # the save has started
        assert follow.stdout.readline() == b"hi\n"  # the follow is open
        exec_i.stdin.write(b"line 1\nline 2\n")
        exec_i.stdin.flush()
        wait_for(lambda: _exec_running(dockerd, container), timeout=20, what="the exec running")
        # the upgrade: a new gateway takes the same port (SO_REUSEPORT), then the old one stops
        successor = GatewayProcess(
            pki, dockerd.socket_path, listen=gateway.address, extra=extra, reuse_port=True
        ).start()
        assert gateway.process is not None
        t0 = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping" in gateway.log(), timeout=5, what="the drain to begin")
        mark = successor.access_mark()
        assert docker("version").returncode == 0  # new connections reach the successor
        successor.access_entry(
            lambda e: e["operation"] == "system.version", what="the successor's line", after=mark
        )
        rest = save.stdout.read()
        assert save.wait(timeout=30) == 0
        assert _sha256(first + rest) == _sha256(direct.stdout)  # byte-exact through the drain
        out, err = exec_i.communicate(timeout=30)
        assert (exec_i.returncode, out) == (0, b"line 1\nline 2\ndone\n"), err
        assert time.monotonic() - t0 < DRAIN  # within the window
        # the follow never ends by itself: cut at the drain time, cleanly
        follow.wait(timeout=DRAIN + 10)
        took = time.monotonic() - t0
        assert DRAIN - 0.5 < took < DRAIN + 5, took
        gateway.process.wait(timeout=10)
        assert gateway.process.returncode == 0
        cut = [e for e in gateway.access_entries() if e["operation"] == "container.logs"]
        assert cut and cut[-1]["end"] == "cut by drain"
        saved = [e for e in gateway.access_entries() if e["operation"] == "image.save"]
        assert saved and "end" not in saved[-1]
        assert "Traceback" not in gateway.log()
    finally:
        for process in ("save", "exec_i", "follow"):
            running = locals().get(process)
            if running is not None:
                _finish(running)
        gateway.stop()
        if successor is not None:
            successor.stop()


def test_an_idle_gateway_exits_at_once_and_a_second_signal_ends_a_drain(pki, dockerd, container):
    gateway = GatewayProcess(pki, dockerd.socket_path, extra={"drain_timeout": 300}).start()
    try:
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGTERM)
        assert _exit_within(gateway, 10) < 1.5
    finally:
        gateway.stop()
    gateway = GatewayProcess(pki, dockerd.socket_path, extra={"drain_timeout": 300}).start()
    follow = DockerCLI(gateway).popen("logs", "-f", container, stdout=subprocess.PIPE)
    try:
        assert follow.stdout is not None and follow.stdout.readline() == b"hi\n"
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "a second signal" in gateway.log(), timeout=5, what="the drain")
        assert gateway.process.poll() is None  # the follow holds it
        with pytest.raises(OSError):  # but no new connection is accepted
            socket.create_connection(("127.0.0.1", gateway.port), timeout=2).close()
        gateway.process.send_signal(signal.SIGTERM)
        assert _exit_within(gateway, 10) < 3
        follow.wait(timeout=10)
    finally:
        _finish(follow)
        gateway.stop()
