"""``dockward ca context`` and ``ca bundle`` with the real docker CLI: the tar imports, the printed
``docker context create`` line works, and both reach a real dockerd through the gateway."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from support.dockerd import DockerDaemon, find_docker_cli
from support.gateway import GatewayProcess

pytestmark = pytest.mark.e2e


def dockward(*args: str | os.PathLike[str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dockward", *map(os.fspath, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "DOCKWARD_CA_PASSPHRASE"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class Docker:
    """The docker CLI with its own DOCKER_CONFIG and none of the caller's DOCKER_* variables."""

    def __init__(self, config: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.env["DOCKER_CONFIG"] = str(config)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [find_docker_cli(), *args], capture_output=True, text=True, env=self.env, timeout=120
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result


class StatePKI:
    """What ``GatewayProcess`` needs, taken from a dockward state directory."""

    __test__ = False

    def __init__(self, state: Path) -> None:
        self.state = state
        self.server_cert = state / "server" / "cert.pem"
        self.server_key = state / "server" / "key.pem"
        self.ca_bundle = state / "ca" / "bundle.pem"

    def client(self, name: str) -> Path:
        return self.state / "clients" / name


@pytest.fixture
def state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    dockward("ca", "init", "--state-dir", state)
    dockward("ca", "issue", "server", "localhost", "127.0.0.1", "--state-dir", state)
    dockward("ca", "issue", "client", "alice", "--role", "admin", "--state-dir", state)
    return state


def test_docker_context_import_accepts_the_tar(state: Path, tmp_path: Path) -> None:
    docker = Docker(tmp_path / "docker-config")
    tar = tmp_path / "alice.dockercontext"
    out = dockward(
        "ca",
        "context",
        "alice",
        "--host",
        "tcp://gw.example:2376",
        "--out",
        tar,
        "--state-dir",
        state,
    )
    assert f"  docker context import dockward-alice {tar}\n" in out

    docker("context", "import", "dockward-alice", str(tar))
    inspected = docker(
        "context",
        "inspect",
        "dockward-alice",
        "--format",
        "{{.Endpoints.docker.Host}} {{.Endpoints.docker.SkipTLSVerify}} {{json .TLSMaterial}}",
    ).stdout.strip()
    assert inspected == 'tcp://gw.example:2376 false {"docker":["ca.pem","cert.pem","key.pem"]}'
    # The CLI stored the key it was given, unencrypted.
    exported = docker("context", "inspect", "dockward-alice", "--format", "{{.Storage.TLSPath}}")
    stored_key = Path(exported.stdout.strip()) / "docker" / "key.pem"
    assert stored_key.read_bytes() == (state / "clients" / "alice" / "key.pem").read_bytes()

    # The printed `docker context create` line makes the same endpoint.
    create = next(line for line in out.splitlines() if "docker context create" in line)
    words = shlex.split(create)
    words[3] = "dockward-alice-2"
    docker(*words[1:])
    again = docker(
        "context", "inspect", "dockward-alice-2", "--format", "{{.Endpoints.docker.Host}}"
    )
    assert again.stdout.strip() == "tcp://gw.example:2376"


def test_a_context_and_a_bundle_reach_dockerd_through_the_gateway(
    state: Path, tmp_path: Path, dockerd: DockerDaemon
) -> None:
    docker = Docker(tmp_path / "docker-config")
    with GatewayProcess(StatePKI(state), dockerd.socket_path) as gateway:  # type: ignore[arg-type]
        host = f"tcp://127.0.0.1:{gateway.port}"
        tar = tmp_path / "alice.dockercontext"
        dockward("ca", "context", "alice", "--host", host, "--out", tar, "--state-dir", state)
        docker("context", "import", "dockward-alice", str(tar))
        version = docker(
            "--context", "dockward-alice", "version", "--format", "{{.Server.APIVersion}}"
        )
        assert version.stdout.strip() == dockerd.api_json("GET", "/version")["ApiVersion"]

        bundle = tmp_path / "bundle"
        dockward("ca", "bundle", "alice", "--out", bundle, "--host", host, "--state-dir", state)
        env = dict(docker.env)
        for line in (bundle / "env").read_text().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key] = shlex.split(value)[0]
        result = subprocess.run(
            [find_docker_cli(), "version", "--format", "{{.Server.APIVersion}}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == version.stdout.strip()
