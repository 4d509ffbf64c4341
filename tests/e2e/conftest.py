"""End-to-end fixtures: a real gateway process in front of the session's real dockerd."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.dockerd import DockerDaemon, find_docker_cli
from support.gateway import GatewayProcess, TestPKI


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def gateway(pki: TestPKI, dockerd: DockerDaemon) -> Iterator[GatewayProcess]:
    """The gateway every end-to-end test goes through (admin role, loopback allow-list)."""
    with GatewayProcess(pki, dockerd.socket_path) as process:
        yield process
    assert "Traceback" not in process.log(), process.log()[-6000:]


class DockerCLI:
    """The real ``docker`` CLI pointed at the gateway with a client bundle."""

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
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [find_docker_cli(), *args],
            input=input,
            capture_output=True,
            env=self.env(**(env or {})),
            timeout=timeout,
        )

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
            [find_docker_cli(), *args], env=self.env(), **kwargs
        )


@pytest.fixture(scope="session")
def docker(gateway: GatewayProcess) -> DockerCLI:
    return DockerCLI(gateway)


@pytest.fixture
def sdk(gateway: GatewayProcess, pki: TestPKI) -> Iterator[object]:
    """A Docker SDK client through the gateway; independent of REQUESTS_CA_BUNDLE & co."""
    import docker as docker_sdk

    bundle = pki.client("admin")
    tls = docker_sdk.tls.TLSConfig(
        client_cert=(str(bundle / "cert.pem"), str(bundle / "key.pem")),
        ca_cert=str(bundle / "ca.pem"),
        verify=str(bundle / "ca.pem"),
    )
    saved = {
        k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("REQUESTS_", "CURL_CA"))
    }
    client = docker_sdk.DockerClient(
        base_url=f"tcp://{gateway.address}", tls=tls, version="auto", timeout=120
    )
    try:
        yield client
    finally:
        client.close()
        os.environ.update(saved)
