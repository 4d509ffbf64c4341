"""The gateway as an operator runs it: ``up``, ``serve``, a unix listener, bad conditions."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from dockward.gateway.spares import SPARES
from support.dockerd import find_docker_cli
from support.gateway import GatewayProcess
from support.up import Up, dockward
from support.waiting import free_port, wait_for

pytestmark = pytest.mark.e2e


def test_up_creates_everything_then_reuses_it(tmp_path, dockerd):
    state = tmp_path / "state"
    port = free_port()
    first = Up(state, f"127.0.0.1:{port}", dockerd.socket_path)
    try:
        first.wait_ready()
        env = first.exported()
        assert env["DOCKER_HOST"] == f"tcp://127.0.0.1:{port}"
        assert env["DOCKER_TLS_VERIFY"] == "1"
        assert Path(env["DOCKER_CERT_PATH"]) == state / "clients" / "admin"
        result = subprocess.run(
            [find_docker_cli(), "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")},
                **env,
                "DOCKER_CONFIG": str(tmp_path / "cfg"),
            },
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == dockerd.api_json("GET", "/version")["Version"]
    finally:
        first.stop()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    ca_before = (state / "ca" / "ca.pem").read_bytes()
    assert any(line.startswith("dockward: created the CA") for line in first.lines)
    second = Up(state, f"127.0.0.1:{port}", dockerd.socket_path)
    try:
        second.wait_ready()
        assert any(line.startswith("dockward: using the CA") for line in second.lines)
    finally:
        second.stop()
    assert (state / "ca" / "ca.pem").read_bytes() == ca_before


def test_unix_listener_identifies_the_peer_by_uid(pki, dockerd, tmp_path):
    path = Path(f"/tmp/dw-{os.getpid()}-{tmp_path.name[-6:]}.sock")
    try:
        with GatewayProcess(pki, dockerd.socket_path, unix_socket=path) as gateway:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            result = subprocess.run(
                [find_docker_cli(), "-H", f"unix://{path}", "ps"],
                capture_output=True,
                text=True,
                timeout=60,
                env={k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")},
            )
            assert result.returncode == 0, result.stderr
            wait_for(
                lambda: any(e["identity"]["kind"] == "unix" for e in gateway.access_entries()),
                what="an access-log line from the unix listener",
            )
            entry = next(e for e in gateway.access_entries() if e["identity"]["kind"] == "unix")
            assert entry["identity"]["uid"] == os.getuid() and entry["identity"]["pid"] > 0
        assert not path.exists()
    finally:
        path.unlink(missing_ok=True)  # the gateway removes it; a failed test must too


def test_daemon_unreachable_is_502_with_a_message_and_the_gateway_stays_up(pki, tmp_path):
    missing = tmp_path / "no-docker.sock"
    with GatewayProcess(pki, str(missing)) as gateway:
        env = gateway.env()
        for _ in range(2):
            result = subprocess.run(
                [find_docker_cli(), "ps"], capture_output=True, text=True, env=env, timeout=60
            )
            assert result.returncode != 0
            assert f"dockward: cannot reach the Docker daemon at {missing}" in result.stderr
        assert gateway.process is not None and gateway.process.poll() is None


def _upstream_connections(pid: int, upstream: str) -> int:
    """How many unix sockets the gateway process holds (its client + upstream sockets)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            count += 1
    return count


def test_client_that_disconnects_mid_stream_frees_its_upstream(pki, dockerd, busybox_image):
    with GatewayProcess(pki, dockerd.socket_path) as gateway:
        assert gateway.process is not None
        pid = gateway.process.pid
        idle = _upstream_connections(pid, dockerd.socket_path)
        subprocess.run([find_docker_cli(), "version"], env=gateway.env(), check=True, timeout=60)
        # from its first client on, the gateway keeps SPARES unused daemon connections ready
        wait_for(
            lambda: _upstream_connections(pid, dockerd.socket_path) == idle + SPARES,
            what="the spare daemon connections",
        )
        baseline = idle + SPARES
        follower = subprocess.Popen(
            [find_docker_cli(), "events"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=gateway.env(),
        )
        try:
            wait_for(
                lambda: _upstream_connections(pid, dockerd.socket_path) >= baseline + 2,
                what="the events stream's client and upstream sockets",
            )
        finally:
            follower.kill()
            follower.communicate()
        wait_for(
            lambda: _upstream_connections(pid, dockerd.socket_path) == baseline,
            what="the gateway to release both sockets of the dead client",
        )


def test_port_in_use_exits_2_with_one_line(pki, dockerd):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        gateway = GatewayProcess(pki, dockerd.socket_path, listen=f"127.0.0.1:{port}")
        result = dockward("serve", "--config", str(gateway.config))
    assert result.returncode == 2
    assert f"dockward: cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_certificate_exits_2(pki, dockerd, tmp_path):
    gateway = GatewayProcess(pki, dockerd.socket_path)
    text = gateway.config.read_text().replace(str(pki.server_cert), str(tmp_path / "missing.pem"))
    gateway.config.write_text(text)
    result = dockward("serve", "--config", str(gateway.config))
    assert result.returncode == 2
    missing = tmp_path / "missing.pem"
    expected = f"dockward: cannot read server certificate {missing}: no such file or directory\n"
    assert result.stderr == expected


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            'upstream = "/x"\n[[listen]]\naddress = "127.0.0.1:99999"\n',
            r"listen\[0\]\.address: .*port must be",
        ),
        ('upstream = "/x"\nlisten = []\n', "at least one listener"),
        ('upstream = "/x"\n[[listen]]\naddress = "127.0.0.1:2376"\n', r"needs a \[tls\] section"),
        ('upstream = "/x"\nallow_networks = ["10.0.0.300/8"]\n', r"allow_networks"),
        ('upstream = "/x"\nbogus = 1\n', r"bogus: unknown key \(known keys: upstream,"),
        ("upstream = \n", "invalid TOML"),
    ],
)
def test_bad_config_exits_2_naming_the_key(tmp_path, config, message):
    path = tmp_path / "bad.toml"
    path.write_text(config)
    result = dockward("serve", "--config", str(path))
    assert result.returncode == 2, result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_missing_config_file_exits_2(tmp_path):
    result = dockward("serve", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"dockward: config file {tmp_path / 'nope.toml'} not found"


def test_a_slow_request_head_is_cut_but_an_idle_connection_is_not(pki, dockerd):
    from support.gateway import read_until_close, tls_connect

    with GatewayProcess(pki, dockerd.socket_path, extra={"head_timeout": 0.5}) as gateway:
        with (
            tls_connect(gateway, pki.client("admin")) as idle,
            tls_connect(gateway, pki.client("admin")) as slow,
        ):
            slow.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n")  # never finished
            assert read_until_close(slow).startswith(b"HTTP/1.1 408 ")
            # an idle keep-alive connection (no partial head) is left alone, as dockerd does
            idle.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_until_close(idle).startswith(b"HTTP/1.1 200 ")
        assert "not complete in time" in gateway.log()
