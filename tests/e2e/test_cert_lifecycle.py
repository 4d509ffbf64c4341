"""Certificates change under a running gateway: revoke, rotate, renew, expire — no restart."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cryptography import x509

from dockward.pki.lifecycle import issue_server
from dockward.pki.state import StateDir
from support.clients import DockerCLI
from support.gateway import GatewayProcess, TestPKI
from support.waiting import wait_for

pytestmark = pytest.mark.e2e


def ca(state: StateDir, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "dockward", "ca", *args, "--state-dir", str(state.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    directory = StateDir(tmp_path / "state")
    directory.bootstrap(["localhost", "127.0.0.1", "::1"])
    return directory


def state_gateway(state: StateDir, dockerd, extra: dict | None = None) -> GatewayProcess:
    """A gateway (not started) serving the state directory's certificates, CA bundle and CRL."""
    tls = {
        "cert": str(state.server_cert),
        "key": str(state.server_key),
        "ca": str(state.ca_bundle),
        "crl": str(state.crl_path),
    }
    # TestPKI only supplies the temp dir layout; every certificate here comes from the state dir
    pki = TestPKI(state.path.parent / "unused-pki")
    return GatewayProcess(pki, dockerd.socket_path, tls=tls, extra=extra)


@pytest.fixture
def gateway(state: StateDir, dockerd, busybox_image):
    with state_gateway(state, dockerd, extra={"state_dir": str(state.path)}) as process:
        yield process


def docker(gateway: GatewayProcess, bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return DockerCLI(gateway, bundle)(*args, text=True, timeout=60)


def served_serial(gateway: GatewayProcess, bundle: Path) -> int:
    ctx = ssl.create_default_context(cafile=str(bundle / "ca.pem"))
    ctx.load_cert_chain(str(bundle / "cert.pem"), str(bundle / "key.pem"))
    with ctx.wrap_socket(
        __import__("socket").create_connection(("127.0.0.1", gateway.port)),
        server_hostname="127.0.0.1",
    ) as sock:
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_revoke_ends_a_live_logs_stream_and_refuses_the_next_command(
    gateway, state, busybox_image, dockerd
):
    ca(state, "issue", "client", "alice")
    alice = state.client_dir("alice")
    name = f"rev-{uuid.uuid4().hex[:6]}"
    assert (
        docker(
            gateway,
            alice,
            "run",
            "-d",
            "--name",
            name,
            busybox_image,
            "sh",
            "-c",
            "while true; do echo tick; sleep 0.2; done",
        ).returncode
        == 0
    )
    follower = DockerCLI(gateway, alice).popen(
        "logs", "-f", name, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert follower.stdout is not None and follower.stdout.readline() == b"tick\n"
        ca(state, "revoke", "alice", "--reason", "keyCompromise")
        follower.wait(timeout=10)  # the gateway ended the stream within its reload interval
        refused = docker(gateway, alice, "ps")
        assert refused.returncode != 0
        assert "revoked certificate" in refused.stderr, refused.stderr
        assert "closing connection" in gateway.log() and "certificate revoked" in gateway.log()
        admin = state.client_dir("admin")
        assert docker(gateway, admin, "ps").returncode == 0  # everyone else carries on
    finally:
        if follower.poll() is None:
            follower.kill()
        follower.communicate()
        dockerd.api("DELETE", f"/containers/{name}?force=1")


def test_server_certificate_rotation_keeps_live_events_and_logs_streams(
    gateway, state, busybox_image, dockerd
):
    admin = state.client_dir("admin")
    before = served_serial(gateway, admin)
    label = uuid.uuid4().hex
    # --since: events from before the stream was set up are replayed, so none is missed
    since = str(int(time.time()) - 1)
    as_admin = DockerCLI(gateway, admin)
    events = as_admin.popen(
        "events",
        "--since",
        since,
        "--filter",
        f"label=t={label}",
        "--format",
        "{{.Action}}",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    talker = f"talker-{label[:8]}"
    assert (
        docker(
            gateway,
            admin,
            "run",
            "-d",
            "--name",
            talker,
            busybox_image,
            "sh",
            "-c",
            "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.1; done",
        ).returncode
        == 0
    )
    logs = as_admin.popen("logs", "-f", talker, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    created = []
    try:
        created.append(
            dockerd.api_json(
                "POST", "/containers/create", {"Image": busybox_image, "Labels": {"t": label}}
            )
        )
        assert events.stdout is not None and events.stdout.readline().strip() == b"create"
        assert logs.stdout is not None and logs.stdout.readline().startswith(b"line")
        ca(state, "renew", f"{before:x}")
        wait_for(
            lambda: served_serial(gateway, admin) != before,
            what="new handshakes to get the new certificate",
        )
        created.append(
            dockerd.api_json(
                "POST", "/containers/create", {"Image": busybox_image, "Labels": {"t": label}}
            )
        )
        # the connections opened under the old certificate are still streaming
        assert events.stdout.readline().strip() == b"create"
        mark = logs.stdout.readline()
        later = [logs.stdout.readline() for _ in range(5)]
        assert all(line.startswith(b"line") for line in [mark, *later])
        assert events.poll() is None and logs.poll() is None
    finally:
        for process in (events, logs):
            process.kill()
            process.communicate()
        dockerd.api("DELETE", f"/containers/{talker}?force=1")
    for container in created:
        dockerd.api("DELETE", f"/containers/{container['Id']}?force=1")


def test_serve_refuses_a_private_key_readable_by_others(state, dockerd):
    os.chmod(state.server_key, 0o644)
    gateway = state_gateway(state, dockerd)
    result = subprocess.run(
        [sys.executable, "-m", "dockward", "serve", "--config", str(gateway.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"chmod 600 {state.server_key}" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1


def test_ca_rotation_overlap_then_retire(gateway, state):
    ca(state, "issue", "client", "old-client")
    old_bundle = state.client_dir("old-client")
    keep = old_bundle.parent / "old-client-kept"
    subprocess.run(["cp", "-a", str(old_bundle), str(keep)], check=True)
    ca(state, "rotate")
    # the bundle files changed under us: the gateway reloads them by itself
    wait_for(lambda: "TLS credentials reloaded" in gateway.log(), what="the reload after rotate")
    new_bundle = state.client_dir("old-client")  # reissued under the new CA
    assert docker(gateway, keep, "ps").returncode == 0, "an old-CA client works during the overlap"
    assert docker(gateway, new_bundle, "ps").returncode == 0, (
        "a new-CA client works during the overlap"
    )
    ca(state, "retire-old")
    wait_for(
        lambda: gateway.log().count("TLS credentials reloaded") >= 2,
        what="the reload after retire-old",
    )

    def old_refused() -> bool:
        result = docker(gateway, keep, "ps")
        return result.returncode != 0

    wait_for(old_refused, what="the old-CA client to be refused")
    assert docker(gateway, new_bundle, "ps").returncode == 0


def test_renew_with_revoke_old(gateway, state):
    ca(state, "issue", "client", "bob")
    bob = state.client_dir("bob")
    first = bob.parent / "bob-first"
    second = bob.parent / "bob-second"
    subprocess.run(["cp", "-a", str(bob), str(first)], check=True)
    ca(state, "renew", "bob")
    subprocess.run(["cp", "-a", str(bob), str(second)], check=True)
    assert docker(gateway, bob, "ps").returncode == 0
    assert docker(gateway, first, "ps").returncode == 0  # the old one stays valid until revoked
    ca(state, "renew", "bob", "--revoke-old")
    wait_for(
        lambda: docker(gateway, second, "ps").returncode != 0,
        what="the renewed certificate to stop working",
    )
    assert docker(gateway, state.client_dir("bob"), "ps").returncode == 0
    # Only the certificate renewed is revoked; the earlier, superseded one is left alone.
    assert docker(gateway, first, "ps").returncode == 0


def test_expired_crl_refuses_everyone_with_a_clear_log_line(state, dockerd, busybox_image):
    # a CRL whose nextUpdate has passed: signed "60 days ago" for 30 days
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
    index = state.open_index()
    try:
        state.write_crl(state.load_authorities(), index, now=past)
    finally:
        index.close()
    crl = x509.load_pem_x509_crl(state.crl_path.read_bytes())
    assert crl.next_update_utc is not None and crl.next_update_utc < dt.datetime.now(dt.UTC)
    with state_gateway(state, dockerd) as gateway:
        result = docker(gateway, state.client_dir("admin"), "ps")
        assert result.returncode != 0
        assert "refusing every client until the CRL is fixed" in gateway.log()
        assert "dockward ca crl" in gateway.log()
        ca(state, "crl")  # fixing it takes effect without a restart
        wait_for(
            lambda: docker(gateway, state.client_dir("admin"), "ps").returncode == 0,
            what="clients to be accepted again after `dockward ca crl`",
        )


def test_auto_renew_replaces_an_aging_server_certificate(tmp_path, dockerd, busybox_image):
    state = StateDir(tmp_path / "state")
    state.bootstrap(["localhost", "127.0.0.1"])
    # a server certificate already 80% through a 10-day life
    issued_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    old = issue_server(state, ["localhost", "127.0.0.1"], days=10, now=issued_at).issued
    extra = {"state_dir": str(state.path), "auto_renew": True}
    with state_gateway(state, dockerd, extra=extra) as gateway:
        admin = state.client_dir("admin")
        wait_for(
            lambda: served_serial(gateway, admin) != old.serial,
            timeout=20,
            what="the gateway to serve a renewed certificate",
        )
        assert "renewed the server certificate" in gateway.log()
        assert docker(gateway, admin, "ps").returncode == 0
    assert os.stat(state.server_key).st_mode & 0o077 == 0
