"""The real Docker clients, the ``docker`` CLI and Debian's docker-compose, run as subprocesses
against a gateway with a client bundle, exactly as a user would run them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from .dockerd import find_docker_cli
from .gateway import GatewayProcess


class DockerCLI:
    """The real ``docker`` CLI pointed at the gateway with a client bundle (admin by default)."""

    def __init__(self, gateway: GatewayProcess, bundle: Path | None = None) -> None:
        self.gateway = gateway
        self.bundle = bundle

    def env(self, **extra: str) -> dict[str, str]:
        return {**self.gateway.env(self.bundle), **extra}

    def __call__(
        self,
        *args: str,
        input: bytes | None = None,
        timeout: float = 120.0,
        env: dict[str, str] | None = None,
        text: bool = False,
    ) -> subprocess.CompletedProcess[Any]:
        return subprocess.run(
            [find_docker_cli(), *args],
            input=input,
            capture_output=True,
            text=text,
            env=self.env(**(env or {})),
            timeout=timeout,
        )

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
            [find_docker_cli(), *args], env=self.env(), **kwargs
        )


class ComposeProject:
    """Debian's docker-compose (1.29, on docker-py) for project ``project`` in ``directory``."""

    def __init__(
        self,
        gateway: GatewayProcess,
        directory: Path,
        project: str,
        bundle: Path | None = None,
    ) -> None:
        binary = shutil.which("docker-compose")
        assert binary, "docker-compose is missing: run `make install-tests`"
        self.binary = binary
        self.directory = directory
        self.project = project
        self.env = gateway.env(bundle)
        # docker-py would verify the gateway against these instead of DOCKER_CERT_PATH/ca.pem
        for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            self.env.pop(variable, None)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-p", self.project, *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
