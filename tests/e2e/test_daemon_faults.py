"""A daemon that stops answering or dies: the gateway answers 504 at the deadline, fails fast
with 502 while the daemon is away (an unrelated ``docker version`` included), and recovers by
itself when it is back (issue 15).

These tests stop and kill dockerd, so they run their own private daemon, never the session's.
The gateway reaches it through a symbolic link, which a restart points at the new socket.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.clients import DockerCLI
from support.dockerd import DockerDaemon
from support.gateway import GatewayProcess, serving
from support.waiting import wait_for

pytestmark = pytest.mark.e2e

DEADLINE = 2  # response_timeout for the test gateway, seconds


def _point(link: Path, socket_path: str) -> None:
    """Make ``link`` name ``socket_path`` (atomically: the gateway may connect meanwhile)."""
    fresh = link.with_name(link.name + ".new")
    fresh.unlink(missing_ok=True)
    fresh.symlink_to(socket_path)
    os.replace(fresh, link)


@pytest.fixture
def own_dockerd() -> Iterator[DockerDaemon]:
    with DockerDaemon() as daemon:
        yield daemon


@pytest.fixture
def link(own_dockerd: DockerDaemon) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="dw-link-", dir="/tmp"))
    path = directory / "docker.sock"
    _point(path, own_dockerd.socket_path)
    yield path
    path.unlink(missing_ok=True)
    directory.rmdir()


@pytest.fixture
def gateway(pki, link: Path) -> Iterator[GatewayProcess]:
    extra = {"response_timeout": DEADLINE, "connect_timeout": DEADLINE}
    with serving(pki, str(link), extra=extra) as process:
        yield process


def _timed(docker: DockerCLI, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    result = docker(*args, text=True, timeout=60)
    return result, time.monotonic() - t0


def test_a_stopped_daemon_gets_504_at_the_deadline_then_fast_502_then_recovers(
    own_dockerd: DockerDaemon, gateway: GatewayProcess
):
    docker = DockerCLI(gateway)
    assert docker("ps", text=True).returncode == 0
    assert own_dockerd.process is not None
    pid = own_dockerd.process.pid
    # a stream whose head arrived before the daemon stopped: exempt from the deadline
    since = str(int(time.time()) - 1)  # replays the first volume even if it comes first
    events = docker.popen(
        "events",
        *("--since", since, "--filter", "type=volume"),
        *("--format", "{{.Type}} {{.Action}} {{.Actor.ID}}"),
        stdout=subprocess.PIPE,
    )
    before, after = f"dw-before-stop-{os.getpid()}", f"dw-after-stop-{os.getpid()}"
    try:
        assert events.stdout is not None
        assert own_dockerd.cli("volume", "create", before).returncode == 0
        assert events.stdout.readline().decode() == f"volume create {before}\n"  # it is open
        _stop_and_recover(own_dockerd, gateway, docker, pid)
        assert events.poll() is None  # not cut by the deadline
        assert own_dockerd.cli("volume", "create", after).returncode == 0
        assert events.stdout.readline().decode() == f"volume create {after}\n"
    finally:
        events.kill()
        events.communicate(timeout=10)
        own_dockerd.cli("volume", "rm", before, after)


def _stop_and_recover(
    own_dockerd: DockerDaemon, gateway: GatewayProcess, docker: DockerCLI, pid: int
) -> None:
    mark = gateway.access_mark()
    os.kill(pid, signal.SIGSTOP)
    try:
        result, took = _timed(docker, "ps")
        # The CLI's first request (its ping) waits for the deadline and gets the 504; by the
        # time it sends the listing, the gateway's probe found the daemon silent: 502 at once.
        assert result.returncode != 0
        assert "Error response from daemon: dockward: the Docker daemon" in result.stderr
        assert DEADLINE - 0.5 < took < DEADLINE + 10, took
        late = gateway.access_entry(
            lambda e: e["status"] == 504, what="the request that timed out", after=mark
        )
        assert late["end"] == "timed out" and late["duration_ms"] >= DEADLINE * 1000 - 50
        assert late["reason"] == f"the Docker daemon did not answer within {DEADLINE} s"
        # the gateway's own probe finds the daemon silent: from then on, refusals are immediate
        fast = wait_for(
            lambda: (r := _timed(docker, "ps")) and "does not answer" in r[0].stderr and r,
            timeout=30,
            what="a fast 502 naming the silent daemon",
        )
        assert fast[1] < DEADLINE, fast
        # An unrelated `docker version` is answered at once from the gateway's own state (the
        # open breaker): the client's half prints, the server's half names the silent daemon,
        # and nothing waits for a deadline. The daemon's version is not made up.
        version, took = _timed(docker, "version")
        assert version.returncode == 1, version
        assert "Client:" in version.stdout and "Server:" not in version.stdout
        assert "the Docker daemon at" in version.stderr and "does not answer" in version.stderr
        assert took < DEADLINE, took
        assert gateway.process is not None and gateway.process.poll() is None
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: docker("ps").returncode == 0, timeout=30, what="docker ps working again")
    assert "Traceback" not in gateway.log()


def test_a_killed_daemon_gets_fast_502s_and_a_restarted_one_is_used_without_a_gateway_restart(
    own_dockerd: DockerDaemon, link: Path, gateway: GatewayProcess
):
    docker = DockerCLI(gateway)
    assert docker("ps", text=True).returncode == 0
    assert own_dockerd.process is not None
    mark = gateway.access_mark()
    own_dockerd.process.kill()
    own_dockerd.process.wait()
    result, took = _timed(docker, "ps")
    assert result.returncode != 0 and "dockward: " in result.stderr, result.stderr
    assert "Docker daemon" in result.stderr and took < DEADLINE, (took, result.stderr)
    gateway_pid = gateway.process.pid if gateway.process else None
    own_dockerd.stop()  # reap containerd and the directory, then start a new daemon
    own_dockerd.start()
    _point(link, own_dockerd.socket_path)
    wait_for(lambda: docker("ps").returncode == 0, timeout=30, what="docker ps through the gateway")
    assert gateway.process is not None and gateway.process.poll() is None
    assert gateway.process.pid == gateway_pid
    refused = [e for e in gateway.access_entries()[mark:] if e["status"] == 502]
    assert refused[0]["end"] == "daemon gone"  # the connect that failed; then the breaker's
    assert all("Docker daemon" in e["reason"] for e in refused)
