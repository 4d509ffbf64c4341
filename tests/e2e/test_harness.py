"""The end-to-end harness itself works: a private dockerd that really runs containers, and
temporary files that leave nothing behind."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from support.dockerd import DEAD_PROXY, DockerDaemon, DockerdError, mounts_under
from support.images import build_busybox_image
from support.scratch import SCRATCH_ROOT
from support.waiting import free_port, wait_for

pytestmark = pytest.mark.e2e


def test_ping_on_private_socket(dockerd: DockerDaemon) -> None:
    status, headers, body = dockerd.api("GET", "/_ping")
    assert (status, body) == (200, b"OK")
    assert "api-version" in headers
    assert len(dockerd.socket_path.encode()) < 108
    assert dockerd.base_dir.startswith("/tmp/")


def test_run_interactive_cat_echoes(dockerd: DockerDaemon, busybox_image: str) -> None:
    proc = dockerd.cli("run", "--rm", "-i", busybox_image, "cat", input=b"hello\nworld\n")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b"hello\nworld\n"


def test_exit_code_propagates(dockerd: DockerDaemon, busybox_image: str) -> None:
    proc = dockerd.cli("run", "--rm", busybox_image, "sh", "-c", "exit 3")
    assert proc.returncode == 3, proc.stderr.decode()
    containers = dockerd.api_json("GET", "/containers/json?all=1")
    assert containers == []


def test_info_and_no_bridge_network(dockerd: DockerDaemon) -> None:
    proc = dockerd.cli("info", "--format", "{{json .}}")
    assert proc.returncode == 0, proc.stderr.decode()
    info = json.loads(proc.stdout)
    assert info["HttpProxy"] == DEAD_PROXY
    assert info["HttpsProxy"] == DEAD_PROXY
    assert info["NoProxy"] == ""
    assert info["DockerRootDir"].startswith(dockerd.base_dir)
    proc = dockerd.cli("network", "ls", "--format", "{{.Name}} {{.Driver}}")
    assert proc.returncode == 0, proc.stderr.decode()
    drivers = {line.split()[1] for line in proc.stdout.decode().splitlines()}
    assert "bridge" not in drivers


def test_pull_fails_fast_on_dead_proxy(dockerd: DockerDaemon) -> None:
    started = time.monotonic()
    proc = dockerd.cli("pull", "dockward-test/does-not-exist:latest", timeout=60)
    assert proc.returncode != 0
    assert time.monotonic() - started < 60
    assert b"127.0.0.1:9" in proc.stderr or b"proxy" in proc.stderr, proc.stderr.decode()


def test_daemon_cleans_up_after_itself(busybox_image: str) -> None:
    """A second daemon starts, runs a container and leaves no process, mount or file behind."""
    with DockerDaemon() as daemon:
        base = daemon.base_dir
        assert daemon.process is not None
        pid = daemon.process.pid
        tag = build_busybox_image(daemon, "dockward-test/cleanup:latest")
        proc = daemon.cli("run", "-d", tag, "sleep", "600")
        assert proc.returncode == 0, proc.stderr.decode()
        assert mounts_under(base)
        related = daemon._related_pids()
        assert related  # containerd, a shim and the container's sleep
    assert not os.path.exists(base)
    assert mounts_under(base) == []
    for p in [pid, *related]:
        try:
            with open(f"/proc/{p}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        assert state == "Z", f"pid {p} still alive"


def _write_tls_material(directory: Path) -> dict[str, str]:
    """CA, server (127.0.0.1) and client certificates for dockerd's native TLS listener."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def issue(
        cn: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
        *,
        ca: bool = False,
        usage: x509.ObjectIdentifier | None = None,
    ) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        issuer_name, issuer_key = issuer or (name, key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if usage is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def save(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / f"{stem}-key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue("harness CA", ca_key, None, ca=True)
    save("ca", ca_cert, ca_key)
    for stem, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        save(stem, issue(stem, key, (ca_cert.subject, ca_key), usage=usage), key)
    return {stem: str(directory / f"{stem}.pem") for stem in ("ca", "server", "client")} | {
        f"{stem}-key": str(directory / f"{stem}-key.pem") for stem in ("server", "client")
    }


def test_native_tls_listener(tmp_path: Path) -> None:
    """The benchmark's comparison point: dockerd's own mutual-TLS TCP listener."""
    pem = _write_tls_material(tmp_path)
    listen = ("127.0.0.1", free_port())
    with DockerDaemon(
        tls_listen=listen, tls_ca=pem["ca"], tls_cert=pem["server"], tls_key=pem["server-key"]
    ) as daemon:
        assert daemon.tls_url == f"tcp://127.0.0.1:{listen[1]}"
        tls_args = ["--tlsverify", "--tlscacert", pem["ca"], "-H", daemon.tls_url]
        proc = daemon.cli(
            *tls_args, "--tlscert", pem["client"], "--tlskey", pem["client-key"], "version"
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert b"20.10" in proc.stdout or b"Server" in proc.stdout
        # Without a client certificate the handshake is refused.
        proc = daemon.cli(*tls_args, "version", timeout=30)
        assert proc.returncode != 0


def test_failed_start_reports_log_and_cleans_up() -> None:
    daemon = DockerDaemon(extra_args=["--no-such-flag"])
    with pytest.raises(DockerdError, match="no-such-flag"):
        daemon.start()
    assert daemon.process is None
    assert daemon.base_dir == ""


# -- temporary files ---------------------------------------------------------------------------

INNER_SESSION = """
import signal
from pathlib import Path

from support.gateway import GatewayProcess, TestPKI


def test_leaves_files(tmp_path):
    (tmp_path / "data.bin").write_bytes(bytes(4096))
    gateway = GatewayProcess(TestPKI(tmp_path / "pki"), "/nonexistent/docker.sock")
    report = Path(__file__).with_name("report")
    report.with_suffix(".part").write_text(f"{tmp_path}\\n{gateway.dir}\\n")
    report.with_suffix(".part").rename(report)  # whole when it appears: SIGTERM may follow
    if "{end}" == "sigterm":
        signal.pause()
    assert False, "fails on purpose: cleaning up must not depend on the outcome"
"""


def test_temporary_files_are_in_the_checkout(tmp_path: Path) -> None:
    assert tmp_path.is_relative_to(SCRATCH_ROOT / str(os.getpid()))
    if not SCRATCH_ROOT.is_relative_to(tempfile.gettempdir()):  # a checkout cloned into /tmp
        assert not tmp_path.is_relative_to(tempfile.gettempdir())


@pytest.mark.parametrize("end", ["failure", "sigterm"])
def test_a_session_leaves_no_temporary_files(tmp_path: Path, end: str) -> None:
    """A pytest session with the suite's plugin: its basetemp, a gateway's scratch directory and
    an abandoned session's directory are gone afterwards, whether a test failed or the session was
    terminated."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    abandoned = SCRATCH_ROOT / str(gone.pid)  # as if a session had been killed with SIGKILL
    (abandoned / "old").mkdir(parents=True)
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "test_inner.py").write_text(INNER_SESSION.replace("{end}", end))
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    tests_dir = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "TMPDIR": str(system_tmp),
        "PYTHONPATH": os.pathsep.join(
            [str(tests_dir), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        ),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "support.scratch"]
    command += ["-p", "no:cacheprovider", str(inner / "test_inner.py")]
    session = subprocess.Popen(
        command, cwd=tests_dir.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    report = inner / "report"
    try:
        wait_for(report.exists, timeout=60, what="the inner session's test to start")
        if end == "sigterm":
            session.send_signal(signal.SIGTERM)
        output, _ = session.communicate(timeout=60)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
    # 1: a test failed; 2: interrupted, as by Ctrl-C (not killed by the signal)
    assert session.returncode == (1 if end == "failure" else 2), output.decode()
    basetemp, gateway_dir = (Path(line) for line in report.read_text().splitlines())
    assert basetemp.is_relative_to(SCRATCH_ROOT / str(session.pid))
    assert not (SCRATCH_ROOT / str(session.pid)).exists()
    assert gateway_dir.is_relative_to(system_tmp)
    assert list(system_tmp.iterdir()) == []
    assert not abandoned.exists()
