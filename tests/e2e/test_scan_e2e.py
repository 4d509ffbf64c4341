"""``dockward scan`` against real endpoints on loopback: dockerd with native --tlsverify, a
plaintext forwarder and a non-verifying TLS terminator in front of a real Docker socket,
dockward itself, an expired certificate and TLS 1.0; the authenticated audit; and proof that
a scan leaves the daemon exactly as it found it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockward.cli import main
from dockward.scan.findings import EndpointResult, ScanReport
from support.dockerd import DockerDaemon
from support.gateway import GatewayProcess, TestPKI
from support.images import build_busybox_image
from support.waiting import free_port

pytestmark = pytest.mark.e2e


class SocketForwarder:
    """A loopback TCP (or TLS that never asks for a client certificate) front for a unix socket:
    the 2375 and the ``--tls`` without ``--tlsverify`` mistakes, in twenty lines."""

    def __init__(self, unix_path: str, context: ssl.SSLContext | None = None) -> None:
        self.unix_path, self.context = unix_path, context
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(lambda _loop, _ctx: None)  # scanners abort handshakes
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SocketForwarder:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        for writer in self._writers:
            writer.close()
        self.loop.run_until_complete(asyncio.sleep(0.01))
        # Handshakes the scanner aborted leave asyncio transports for the collector; collect
        # them here, while the loop is open, instead of inside some later test.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        self.loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.unix_path)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ssl.SSLError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def _server_context(pki: TestPKI, *, cert: Path | None = None, key: Path | None = None,
                    tls10: bool = False) -> ssl.SSLContext:  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert or pki.server_cert, key or pki.server_key)
    if tls10:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


@pytest.fixture(scope="module")
def tls_dockerd(pki: TestPKI) -> Iterator[DockerDaemon]:
    """A second private dockerd with its own native ``--tlsverify`` listener on loopback."""
    daemon = DockerDaemon(
        tls_listen=("127.0.0.1", free_port()),
        tls_ca=pki.ca_bundle,
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
    )
    with daemon:
        yield daemon


@pytest.fixture(autouse=True)
def _no_docker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)


def _scan(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, ScanReport]:
    code = main(["scan", "--timeout", "5", "--json", "-", *argv])
    out, _ = capsys.readouterr()
    return code, ScanReport.model_validate_json(out)


def _one(report: ScanReport) -> EndpointResult:
    assert len(report.endpoints) == 1, report.endpoints
    return report.endpoints[0]


def _ids(result: EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


def test_native_tlsverify_dockerd_is_ok(
    capsys: pytest.CaptureFixture[str], tls_dockerd: DockerDaemon
) -> None:
    host, port = tls_dockerd.tls_listen or ("", 0)
    code, report = _scan(capsys, f"{host}:{port}")
    result = _one(report)
    assert code == 0, result
    assert result.state == "mtls-required"
    assert "DW-MTLS-ENFORCED" in _ids(result)
    assert result.tls is not None
    assert result.tls.client_cert_requested_by_version == {"TLSv1.2": True, "TLSv1.3": True}
    assert result.tls.client_ca_names == ("CN=dockward test CA",)  # Go sends its ClientCAs
    assert result.tls.versions_accepted == ("TLSv1.2", "TLSv1.3")
    assert result.certificate is not None
    assert result.certificate.issuer == "commonName=dockward test CA"


def test_plaintext_forwarder_is_critical(
    capsys: pytest.CaptureFixture[str], dockerd: DockerDaemon
) -> None:
    with SocketForwarder(dockerd.socket_path) as forwarder:
        code, report = _scan(capsys, f"127.0.0.1:{forwarder.port}")
    result = _one(report)
    assert code == 1
    assert result.state == "plaintext-docker"
    assert result.findings[0].id == "DW-API-PLAINTEXT" and result.findings[0].severity == "critical"
    version = dockerd.api_json("GET", "/version")
    assert result.docker is not None and result.docker.version == version["Version"]
    assert result.audited_as == "anonymous"


def test_tls_terminator_without_client_verification_is_critical(
    capsys: pytest.CaptureFixture[str], dockerd: DockerDaemon, pki: TestPKI
) -> None:
    with SocketForwarder(dockerd.socket_path, _server_context(pki)) as terminator:
        code, report = _scan(capsys, f"127.0.0.1:{terminator.port}")
    result = _one(report)
    assert code == 1
    assert result.state == "tls-no-client-auth"
    assert result.findings[0].id == "DW-TLS-NO-CLIENT-AUTH"
    assert result.tls is not None and not result.tls.client_cert_requested


def test_dockward_gateway_is_ok(
    capsys: pytest.CaptureFixture[str], gateway: GatewayProcess, pki: TestPKI
) -> None:
    code, report = _scan(capsys, gateway.address)
    result = _one(report)
    assert code == 0, result
    assert result.state == "mtls-required"
    assert "DW-MTLS-ENFORCED" in _ids(result)
    # With the admin bundle the scanner gets through and audits, read-only, through the policy.
    code, report = _scan(capsys, gateway.address, "--cert-path", str(pki.client("admin")))
    audited = _one(report)
    assert audited.audited_as == "client-certificate", audited.errors
    assert audited.docker is not None and audited.docker.version


def test_expired_certificate_is_high(
    capsys: pytest.CaptureFixture[str], dockerd: DockerDaemon, pki: TestPKI, tmp_path: Path
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    pki.ca.issue_server(["127.0.0.1"], days=10, now=past).write(
        tmp_path / "old.pem", tmp_path / "old-key.pem"
    )
    context = _server_context(pki, cert=tmp_path / "old.pem", key=tmp_path / "old-key.pem")
    with SocketForwarder(dockerd.socket_path, context) as terminator:
        code, report = _scan(capsys, f"127.0.0.1:{terminator.port}", "--fail-on", "critical")
    result = _one(report)
    assert code == 1  # the terminator itself is critical
    expired = next(f for f in result.findings if f.id == "DW-CERT-EXPIRED")
    assert expired.severity == "high" and "days ago" in expired.evidence


def test_tls10_endpoint_is_flagged(
    capsys: pytest.CaptureFixture[str], dockerd: DockerDaemon, pki: TestPKI
) -> None:
    try:
        context = _server_context(pki, tls10=True)
    except ssl.SSLError as err:
        pytest.skip(f"the local OpenSSL refuses TLS 1.0 servers: {err}")
    with SocketForwarder(dockerd.socket_path, context) as terminator:
        _, report = _scan(capsys, f"127.0.0.1:{terminator.port}")
    result = _one(report)
    assert result.tls is not None
    if "TLSv1.0" not in result.tls.versions_accepted:
        pytest.skip("the local OpenSSL does not negotiate TLS 1.0 even at security level 0")
    legacy = next(f for f in result.findings if f.id == "DW-TLS-LEGACY-VERSION")
    assert "TLSv1.0" in legacy.evidence


@pytest.fixture(scope="module")
def risky_containers(tls_dockerd: DockerDaemon) -> Iterator[dict[str, str]]:
    """A privileged container and one that mounts the daemon's own socket (created, not run)."""
    image = build_busybox_image(tls_dockerd)
    specs = {
        "dw-scan-privileged": {"Image": image, "Cmd": ["true"], "HostConfig": {"Privileged": True}},
        "dw-scan-socket": {
            "Image": image,
            "Cmd": ["true"],
            "HostConfig": {"Binds": [f"{tls_dockerd.socket_path}:/var/run/docker.sock"]},
        },
    }
    ids = {}
    try:
        for name, spec in specs.items():
            ids[name] = tls_dockerd.api_json("POST", f"/containers/create?name={name}", spec)["Id"]
        yield ids
    finally:
        for ident in ids.values():
            tls_dockerd.api("DELETE", f"/containers/{ident}?force=1")


def _snapshot(daemon: DockerDaemon) -> dict[str, Any]:
    def get(path: str) -> Any:
        return daemon.api_json("GET", path)

    return {
        "containers": sorted(
            (c["Id"], c["State"], c["Status"]) for c in get("/containers/json?all=1")
        ),
        "inspect": {
            c["Id"]: get(f"/containers/{c['Id']}/json")["State"]
            for c in get("/containers/json?all=1")
        },
        "images": sorted(i["Id"] for i in get("/images/json?all=1")),
        "volumes": sorted(v["Name"] for v in get("/volumes")["Volumes"] or []),
        "networks": sorted(n["Id"] for n in get("/networks")),
    }


def test_authenticated_audit_reports_both_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    tls_dockerd: DockerDaemon,
    risky_containers: dict[str, str],
    pki: TestPKI,
) -> None:
    host, port = tls_dockerd.tls_listen or ("", 0)
    before = _snapshot(tls_dockerd)
    since = f"{time.time():.9f}"  # after the fixture's own create events
    code, report = _scan(
        capsys, f"{host}:{port}", "--cert-path", str(pki.client("admin")), "--deep"
    )
    result = _one(report)
    assert code == 1  # both containers are high
    assert result.state == "mtls-required" and result.audited_as == "client-certificate"
    assert result.containers_inspected >= 2
    by_id: dict[str, list[str]] = {}
    for item in result.findings:
        by_id.setdefault(item.id, []).append(item.evidence)
    assert any("dw-scan-privileged" in e for e in by_id["DW-CONTAINER-PRIVILEGED"])
    socket_evidence = by_id["DW-CONTAINER-DOCKER-SOCKET"]
    assert any("dw-scan-socket" in e and tls_dockerd.socket_path in e for e in socket_evidence)
    privileged = next(f for f in result.findings if f.id == "DW-CONTAINER-PRIVILEGED")
    assert (privileged.severity, privileged.cis) == ("high", "5.5")
    assert result.tls is not None and result.tls.cipher_suites.get("TLSv1.2")

    assert _snapshot(tls_dockerd) == before
    status, _, body = tls_dockerd.api("GET", f"/events?since={since}&until={time.time():.9f}")
    assert status == 200
    events = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    assert events == [], events
