"""End-to-end fixtures: a real gateway process in front of the session's real dockerd."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from support.clients import DockerCLI
from support.dockerd import DockerDaemon
from support.gateway import GatewayProcess, TestPKI, serving


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def gateway(pki: TestPKI, dockerd: DockerDaemon) -> Iterator[GatewayProcess]:
    """The gateway every end-to-end test goes through (admin role, loopback allow-list)."""
    with serving(pki, dockerd.socket_path) as process:
        yield process


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
