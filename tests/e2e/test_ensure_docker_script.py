"""scripts/ensure-docker.sh: a dockerd it starts survives Ctrl-C on ``make run``.

Ctrl-C sends SIGINT to the terminal's whole foreground process group: make, and whatever runs
in the foreground after the script (``dockward up``). The test starts the script in a new process
group followed by a stand-in for ``dockward up``, signals that group the way the terminal does,
and checks that the dockerd the script started (a private one, via DOCKERD_FLAGS) still runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from support.dockerd import START_TIMEOUT, STOP_TIMEOUT, DockerDaemon
from support.waiting import wait_for

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-docker.sh"
# `make run` in miniature: the script, then a foreground program in the same process group.
MAKE_RUN = '"$1" "$2" && touch "$3" && exec sleep 600'


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None once it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return None if fields[0] == "Z" else fields


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _command(pid: int) -> str | None:
    """The command name of PID (``comm``), or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        wait_for(lambda: _stat(pid) is None, timeout=STOP_TIMEOUT, what=f"dockerd {pid} to exit")
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: _stat(pid) is None, timeout=10, what=f"dockerd {pid} to die")


def test_ctrl_c_on_make_run_leaves_the_dockerd_it_started_running() -> None:
    daemon = DockerDaemon().prepare()
    base = Path(daemon.base_dir)
    ensured = base / "ensured"
    output = base / "make-run.out"
    env = {
        **daemon.daemon_env(),
        "DOCKERD_FLAGS": " ".join(daemon.private_flags()),
        "DOCKERD_LOG": daemon.log_path,
    }
    dockerd_pid: int | None = None
    try:
        with output.open("wb") as out:
            job = subprocess.Popen(
                ["bash", "-c", MAKE_RUN, "make-run", SCRIPT, daemon.socket_path, ensured],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # the group the terminal's Ctrl-C would signal
                # as a terminal's job: SIGINT at its default, even when this run inherited it
                # ignored (a background job of a shell without job control ignores SIGINT)
                preexec_fn=_default_sigint,
            )
        try:
            wait_for(
                lambda: ensured.exists() or job.poll() is not None,
                timeout=START_TIMEOUT,
                what="ensure-docker.sh to finish",
            )
            assert ensured.exists(), (
                f"ensure-docker.sh failed:\n{output.read_text()}\n{daemon.log_tail()}"
            )
            assert "dockward: starting dockerd" in output.read_text()
            dockerd_pid = int(Path(daemon.pid_path).read_text())
            # `ensured` exists while bash may still wait for touch: a SIGINT then would find no
            # foreground program (bash goes on once touch exits normally), so wait for it
            wait_for(
                lambda: _command(job.pid) == "sleep" or job.poll() is not None,
                timeout=10,
                what="the foreground program to run",
            )

            os.killpg(job.pid, signal.SIGINT)
            assert job.wait(timeout=10) == -signal.SIGINT  # the foreground program got Ctrl-C
        finally:
            if job.poll() is None:
                job.kill()
                job.wait()

        fields = _stat(dockerd_pid)
        assert fields is not None, f"dockerd died on Ctrl-C:\n{daemon.log_tail()}"
        pgid, session = int(fields[2]), int(fields[3])
        assert job.pid not in (pgid, session), "dockerd shares the terminal's process group"
        status, _, body = wait_for(
            lambda: daemon.api("GET", "/_ping", timeout=2),
            timeout=10,
            what="dockerd to answer /_ping after Ctrl-C",
        )
        assert (status, body) == (200, b"OK")
        assert int(Path(daemon.pid_path).read_text()) == dockerd_pid
        assert "Processing signal" not in Path(daemon.log_path).read_text()
    finally:
        if dockerd_pid is None and Path(daemon.pid_path).exists():
            dockerd_pid = int(Path(daemon.pid_path).read_text())
        if dockerd_pid is not None:
            _stop(dockerd_pid)
        daemon.stop()  # reaps containerd and its shims, unmounts, removes the base dir
    assert not base.exists()
