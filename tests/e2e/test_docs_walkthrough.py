"""The README's quick start and docs/ca.md's walkthrough, run line by line as written.

``make run`` runs for real (bootstrap, ``dockward`` linked onto PATH, the Docker check, ``dockward
up``) against the suite's private dockerd; the only changes to the documented lines are the
state directory and the address (``/var/lib/dockward`` and ``127.0.0.1:2376`` become the test's
own, through ``DOCKWARD_STATE_DIR``, ``LISTEN`` and ``UPSTREAM`` as a user would set them). A
line whose comment says ``# refused: TEXT`` must fail with TEXT on standard error (polled for a
few seconds: a revocation reaches the gateway within a second); every other line must succeed.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.images import BUSYBOX_TAG
from support.waiting import free_port, wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DOC_STATE_DIR = "/var/lib/dockward"
DOC_ADDRESS = "127.0.0.1:2376"
MARKER = "<!-- walkthrough"
REFUSED = re.compile(r"\s+#\s*refused:\s*(.+)$")


def shell_blocks(path: Path) -> list[list[str]]:
    """Every ```sh block of a Markdown file, as lines."""
    return [
        block.strip("\n").splitlines()
        for block in re.findall(r"```sh\n(.*?)```", path.read_text(), flags=re.S)
    ]


def walkthrough(path: Path) -> list[str]:
    """The lines of the ```sh block that follows the walkthrough marker."""
    text = path.read_text()
    start = text.index(MARKER)
    (block,) = re.findall(r"```sh\n(.*?)```", text[start:], flags=re.S)[:1]
    return [line for line in block.splitlines() if line.strip()]


@dataclass
class Session:
    """A user's shell after ``make run``: the environment and the directory they work in."""

    env: dict[str, str]
    cwd: Path
    state: Path
    address: str
    made_run: subprocess.Popen[str]
    output: list[str]

    def as_here(self, line: str) -> str:
        return line.replace(DOC_STATE_DIR, str(self.state)).replace(DOC_ADDRESS, self.address)

    def run(self, line: str) -> None:
        """Run one documented line as written (with this session's state dir and address)."""
        refused = REFUSED.search(line)
        command = self.as_here(REFUSED.sub("", line) if refused else line.split("  #")[0])
        if command.startswith("export "):
            for word in shlex.split(command.removeprefix("export ")):
                key, _, value = word.partition("=")
                self.env[key] = value
            return

        def attempt() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["bash", "-c", command],
                capture_output=True,
                text=True,
                timeout=120,
                env=self.env,
                cwd=self.cwd,
            )

        if refused is None:
            result = attempt()
            assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
            return
        expected = refused.group(1).strip()

        def refused_as_documented() -> bool:
            result = attempt()
            assert result.returncode != 0 and expected in result.stderr, (
                f"{line}\n{result.stdout}{result.stderr}"
            )
            return True

        wait_for(refused_as_documented, timeout=5, what=f"{line!r} to be refused")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory, dockerd, busybox_image) -> Iterator[Session]:
    home = tmp_path_factory.mktemp("walkthrough")
    state, bin_dir = home / "state", home / "bin"
    bin_dir.mkdir()
    address = f"127.0.0.1:{free_port()}"
    # the documented lines use the image name `busybox`: this daemon never pulls, so tag ours
    dockerd.api("POST", f"/images/{BUSYBOX_TAG}/tag?repo=busybox&tag=latest")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "DOCKWARD_"))}
    env.update(
        DOCKWARD_STATE_DIR=str(state),
        DOCKWARD_BIN_DIR=str(bin_dir),
        LISTEN=address,
        UPSTREAM=dockerd.socket_path,
        PATH=f"{bin_dir}:{env['PATH']}",
        DOCKER_CONFIG=str(home / "docker-config"),
        MAKEFLAGS="",
    )
    (first,) = [block for block in shell_blocks(REPO / "README.md") if "make run" in block[0]]
    commands = [line.split("#")[0].strip() for line in first if line.split("#")[0].strip()]
    assert commands == ["make run", "make test"]  # `make test` is this suite
    made_run = subprocess.Popen(
        ["make", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []

    def read() -> None:
        assert made_run.stdout is not None
        for text in made_run.stdout:
            output.append(text)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(
            lambda: (
                any("policy" in line and "roles" in line for line in output)
                or made_run.poll() is not None
            ),
            timeout=120,
            what="make run to serve",
        )
        assert made_run.poll() is None, "".join(output)
        yield Session(dict(env), home, state, address, made_run, output)
    finally:
        if made_run.poll() is None:
            os.killpg(made_run.pid, signal.SIGINT)  # Ctrl-C in the terminal that ran it
        made_run.wait(timeout=30)
        reader.join(timeout=10)
        assert made_run.stdout is not None
        made_run.stdout.close()
        dockerd.api("DELETE", "/images/busybox:latest?noprune=1")


def test_readme_quick_start_as_written(session: Session) -> None:
    printed = next(line.strip() for line in session.output if "export DOCKER_HOST=" in line)
    lines = walkthrough(REPO / "README.md")
    assert session.as_here(lines[0]) == printed, "the README's export line is what make run prints"
    assert (Path(session.env["PATH"].split(":")[0]) / "dockward").exists(), "dockward on PATH"
    for line in lines:
        session.run(line)


def test_ca_walkthrough_as_written(session: Session) -> None:
    printed = next(line.strip() for line in session.output if "export DOCKER_HOST=" in line)
    session.run(printed)
    for line in walkthrough(REPO / "docs" / "ca.md"):
        session.run(line)
