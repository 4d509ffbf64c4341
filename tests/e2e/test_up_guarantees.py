"""Every guarantee on the path the README recommends: ``dockward up``, then the real docker CLI.

Revocation, the policy, live policy edits, automatic renewal, plain HTTP on the TLS port, the
exposure warning and extra certificate names, each checked through ``up`` (not a hand-written
``serve --config``), with the daemon's own socket as the judge where state matters.
"""

from __future__ import annotations

import datetime as dt
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from cryptography import x509

from dockward.config import state_config
from dockward.firstrun import server_names
from dockward.pki.state import StateDir
from support.up import Up, dockward
from support.waiting import free_port, wait_for

pytestmark = pytest.mark.e2e

GO_PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


@pytest.fixture
def up(tmp_path: Path, dockerd):
    with Up(tmp_path / "state", f"127.0.0.1:{free_port()}", dockerd.socket_path) as gateway:
        yield gateway.wait_ready()


def port_of(up: Up) -> int:
    return int(up.exported()["DOCKER_HOST"].rsplit(":", 1)[1])


def served_certificate(host: str, port: int, bundle: Path) -> x509.Certificate:
    context = ssl.create_default_context(cafile=str(bundle / "ca.pem"))
    context.load_cert_chain(str(bundle / "cert.pem"), str(bundle / "key.pem"))
    with context.wrap_socket(socket.create_connection((host, port)), server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_up_says_what_it_enforces(up: Up) -> None:
    state = up.state
    out = up.output
    assert f"created the policy {state / 'policy.toml'}" in out
    assert (
        f"policy {state / 'policy.toml'}: roles admin, ci, readonly, reverse-proxy, updater" in out
    )
    assert f"revocation: CRL {state / 'ca' / 'crl.pem'} (0 revoked, next update" in out
    assert "renewed automatically" in out
    assert "no policy" not in out and "warning" not in out.lower(), out
    version = up.docker("version", "--format", "{{.Server.Version}}")
    assert version.returncode == 0, version.stderr


def test_serve_state_dir_runs_what_up_runs(tmp_path: Path, dockerd) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    port = free_port()
    (state / "dockward.toml").write_text(
        f'upstream = "{dockerd.socket_path}"\n[[listen]]\naddress = "127.0.0.1:{port}"\n'
    )
    with Up(state, None, None) as up:
        up.wait_ready()
        assert up.exported()["DOCKER_HOST"] == f"tcp://127.0.0.1:{port}"
        assert up.docker("version").returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "dockward", "serve", "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        exported = next(i for i, line in enumerate(up.lines) if "export DOCKER_HOST" in line)
        enforced = up.lines[exported + 1 :]
        assert any("policy" in line for line in enforced), enforced
        served = [process.stdout.readline() for _ in enforced]
        assert served == enforced
        assert up.docker("version").returncode == 0
    finally:
        process.terminate()
        process.communicate(timeout=15)


def test_revoking_a_client_ends_its_events_stream_and_refuses_it(up: Up, dockerd) -> None:
    up.ca("issue", "client", "bob", "--role", "readonly")
    bob = up.state / "clients" / "bob"
    events = up.docker_popen("events", "--format", "{{.Type}} {{.Action}}", bundle=bob)
    lines: queue.Queue[str] = queue.Queue()
    assert events.stdout is not None
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in events.stdout], daemon=True
    )
    reader.start()
    volumes: list[str] = []
    try:

        def an_event_arrives() -> bool:
            # the stream is up once an admin action shows in it; one made before the CLI's
            # request reached dockerd is not shown, so make another until one is
            volumes.append(f"up-rev-{uuid.uuid4().hex[:8]}")
            assert up.docker("volume", "create", volumes[-1]).returncode == 0
            return lines.get(timeout=1).startswith("volume create")

        wait_for(an_event_arrives, timeout=30, what="an event on bob's stream")
        up.ca("revoke", "bob", "--reason", "keyCompromise")
        # the gateway notices the new CRL within a second and cuts bob's stream
        events.wait(timeout=4)
    finally:
        if events.poll() is None:
            events.kill()
        reader.join(10)  # the stream ended: the reader is done with stdout
        events.communicate()
        for volume in volumes:
            dockerd.api("DELETE", f"/volumes/{volume}")
    refused = up.docker("version", bundle=bob)
    assert refused.returncode != 0
    assert "revoked certificate" in refused.stderr, refused.stderr
    assert up.docker("version").returncode == 0  # the admin is untouched


def test_the_policy_binds_issued_roles_and_edits_apply_live(up: Up, dockerd, busybox_image) -> None:
    issued = up.ca("issue", "client", "reader", "--role", "readonly")
    assert "warning" not in issued.stderr, issued.stderr
    reader = up.state / "clients" / "reader"
    before = {c["Id"] for c in dockerd.api_json("GET", "/containers/json?all=1")}
    attack = up.docker(
        "run", "--rm", "--privileged", "-v", "/:/host", busybox_image, "true", bundle=reader
    )
    assert attack.returncode != 0
    assert 'dockward: denied by role "readonly"' in attack.stderr, attack.stderr
    assert {c["Id"] for c in dockerd.api_json("GET", "/containers/json?all=1")} == before
    assert up.docker("ps", bundle=reader).returncode == 0

    volume = f"up-live-{uuid.uuid4().hex[:8]}"
    denied = up.docker("volume", "create", volume, bundle=reader)
    assert denied.returncode != 0 and "denied" in denied.stderr, denied.stderr
    policy = up.state / "policy.toml"
    text = policy.read_text()
    bound = 'clients = ["role:readonly"]'
    assert bound in text
    policy.write_text(text.replace(bound, bound + '\nallow = ["*.read", "volume.create"]'))
    try:
        wait_for(
            lambda: up.docker("volume", "create", volume, bundle=reader).returncode == 0,
            what="the edited policy to apply",
        )
        assert dockerd.api_json("GET", f"/volumes/{volume}")["Name"] == volume
        assert "policy reloaded" in up.log()
    finally:
        dockerd.api("DELETE", f"/volumes/{volume}")


def test_a_role_the_policy_does_not_know_is_warned_about_at_issue(up: Up) -> None:
    result = up.ca("issue", "client", "eve", "--role", "builder")
    assert "no role of" in result.stderr and "matches eve" in result.stderr, result.stderr
    assert 'clients = ["role:builder"]' in result.stderr
    eve = up.state / "clients" / "eve"
    refused = up.docker("ps", bundle=eve)
    assert refused.returncode != 0 and "no role matches cn:eve" in refused.stderr, refused.stderr


def test_up_renews_its_server_certificate(tmp_path: Path, dockerd) -> None:
    state = StateDir(tmp_path / "state")
    listen = f"127.0.0.1:{free_port()}"
    settings = state_config(state.path, overrides={"listen": [{"address": listen}]})
    state.bootstrap(server_names(settings))
    # a server certificate two thirds through its life, with the names up wants
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=50)
    issued = state.load_ca().issue_server(server_names(settings), days=3, now=past)
    with state.open_index() as index:
        state.save_server(index, issued, now=past)
    old = issued.cert.serial_number
    with Up(state.path, listen, dockerd.socket_path) as up:
        up.wait_ready()
        assert "reissued" not in up.output, up.output
        admin = state.client_dir("admin")
        host, port = listen.rsplit(":", 1)
        renewed = wait_for(
            lambda: served_certificate(host, int(port), admin).serial_number != old,
            timeout=20,
            what="the renewed server certificate to be served",
        )
        assert renewed
        assert "renewed the server certificate" in up.log()
        assert up.docker("version").returncode == 0


def test_plain_http_on_the_tls_port_gets_gos_answer(up: Up) -> None:
    with socket.create_connection(("127.0.0.1", port_of(up))) as plain:
        plain.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := plain.recv(4096):
            answer += chunk
    assert answer == GO_PLAIN_HTTP_ANSWER
    no_tls = up.docker("version", DOCKER_TLS_VERIFY="", DOCKER_CERT_PATH="")
    assert no_tls.returncode != 0
    assert "Client sent an HTTP request to an HTTPS server." in no_tls.stderr, no_tls.stderr


def test_a_listener_for_other_machines_is_warned_about_and_named_in_the_certificate(
    tmp_path: Path, dockerd
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "dockward.toml").write_text('allow_networks = ["127.0.0.0/8"]\n')
    port = free_port()
    with Up(state, f"0.0.0.0:{port}", dockerd.socket_path, "--san", "127.0.0.9") as up:
        up.wait_ready()
        out = up.output
        assert (
            f"warning: 0.0.0.0:{port} accepts connections from other machines; allowed source "
            "networks: 127.0.0.0/8" in out
        ), out
        assert up.exported()["DOCKER_HOST"] == f"tcp://127.0.0.9:{port}"
        version = up.docker("version", "--format", "{{.Server.Version}}")
        assert version.returncode == 0, version.stderr
        cert = served_certificate("127.0.0.9", port, state / "clients" / "admin")
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "127.0.0.9" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def test_a_bad_configuration_writes_nothing(tmp_path: Path, dockerd) -> None:
    state = tmp_path / "state"
    missing = tmp_path / "no-such-policy.toml"
    result = dockward(
        "up", "--state-dir", str(state), "--upstream", dockerd.socket_path, "--policy", str(missing)
    )
    assert result.returncode == 2
    assert str(missing) in result.stderr and "not found" in result.stderr, result.stderr
    assert not state.exists()
    result = dockward("up", "--state-dir", str(state), "--listen", "127.0.0.1:99999")
    assert result.returncode == 2 and "port must be" in result.stderr, result.stderr
    assert not state.exists()


def test_the_access_log_of_up_is_reopened_after_a_move_and_after_sighup(up: Up) -> None:
    log = up.state / "access.log"

    def logged_after(marker: str) -> bool:
        # no such volume: a 404, logged with the path that names the marker
        assert "no such volume" in up.docker("volume", "inspect", marker).stderr.lower()
        return log.exists() and marker in log.read_text()

    wait_for(lambda: logged_after("before-move"), what="a line in access.log")
    log.rename(up.state / "access.log.1")
    wait_for(lambda: logged_after("after-move"), what="lines in a new access.log after a move")
    assert "after-move" not in (up.state / "access.log.1").read_text()
    log.rename(up.state / "access.log.2")
    up.process.send_signal(signal.SIGHUP)
    wait_for(log.exists, what="SIGHUP to reopen access.log")
    wait_for(lambda: logged_after("after-hup"), what="lines in access.log after SIGHUP")


def test_up_warns_about_a_trust_bundle_override(tmp_path: Path, dockerd) -> None:
    listen = f"127.0.0.1:{free_port()}"
    bundle = tmp_path / "corporate-ca.pem"
    with Up(
        tmp_path / "state", listen, dockerd.socket_path, env={"REQUESTS_CA_BUNDLE": str(bundle)}
    ) as up:
        up.wait_ready()
        (line,) = [line for line in up.lines if "REQUESTS_CA_BUNDLE" in line]
        assert line.startswith("dockward: warning: ") and "env -u REQUESTS_CA_BUNDLE" in line
