"""Operating a gateway started with ``dockward up``: the admin socket (``/metrics``, ``/health``,
``/ready``, ``/status``) read with curl while the real docker CLI works, ``dockward status``,
``dockward audit`` of a denial made seconds earlier, policy reloads as records, and the audit
store's failure policy with a really full disk and a really stopped PostgreSQL."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import signal
import ssl
import stat
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.disk import fill, small_disk
from support.postgres import PostgresServer
from support.up import Up, dockward
from support.waiting import free_port, wait_for

pytestmark = pytest.mark.e2e


def curl(up: Up, page: str) -> tuple[int, str]:
    """``curl --unix-socket STATE/admin.sock http://x/PAGE``: status and body."""
    result = subprocess.run(
        ["curl", "-sS", "--unix-socket", str(up.state / "admin.sock"), "-w", "\n%{http_code}",
         f"http://x{page}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    body, _, code = result.stdout.rpartition("\n")
    return int(code), body


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(up: Up) -> Samples:
    code, text = curl(up, "/metrics")
    assert code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a counter that has not counted yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def ready(up: Up) -> tuple[int, dict[str, dict[str, object]]]:
    code, body = curl(up, "/ready")
    answer = json.loads(body)
    assert answer["ready"] is (code == 200)
    return code, answer["checks"]


def start(tmp_path: Path, dockerd: object, settings: str) -> Up:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "dockward.toml").write_text(settings)
    up = Up(state, f"127.0.0.1:{free_port()}", dockerd.socket_path)  # type: ignore[attr-defined]
    try:
        return up.wait_ready()
    except BaseException:
        up.stop()
        raise


def pings(up: Up, count: int) -> None:
    """``count`` keep-alive requests as the admin, each answered 200."""
    bundle = up.state / "clients" / "admin"
    host, port = up.exported()["DOCKER_HOST"].removeprefix("tcp://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(bundle / "ca.pem"))
    context.load_cert_chain(str(bundle / "cert.pem"), str(bundle / "key.pem"))
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
    try:
        for _ in range(count):
            connection.request("GET", "/_ping")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
    finally:
        connection.close()


def volumes(dockerd: object) -> list[str]:
    """The volumes the daemon has, asked on its own socket."""
    listed = dockerd.cli("volume", "ls", "-q", check=True)  # type: ignore[attr-defined]
    return listed.stdout.decode().split()


@pytest.fixture
def up(tmp_path: Path, dockerd: object) -> Iterator[Up]:
    gateway = start(tmp_path, dockerd, '[audit]\ndatabase = "state"\n')
    with gateway:
        yield gateway


def test_metrics_move_status_lists_clients_and_audit_shows_a_denial(up: Up, dockerd) -> None:
    socket = up.state / "admin.sock"
    assert stat.S_IMODE(socket.lstat().st_mode) == 0o600
    assert curl(up, "/health") == (200, "ok\n")
    code, checks = ready(up)
    assert code == 200, checks
    assert checks["upstream"]["ok"] and checks["crl"]["ok"] and checks["audit"]["ok"]
    up.ca("issue", "client", "viewer", "--role", "readonly")
    viewer = up.state / "clients" / "viewer"
    name = f"kept-out-{uuid.uuid4().hex[:6]}"

    before = scrape(up)
    assert up.docker("ps").returncode == 0
    denied = up.docker("volume", "create", name, bundle=viewer)
    assert denied.returncode == 1
    assert "operation volume.create is not allowed" in denied.stderr
    after = scrape(up)

    listed = {"operation": "container.list", "decision": "allow", "role": "admin"}
    assert value(after, "dockward_requests_total", **listed) == (
        value(before, "dockward_requests_total", **listed) + 1
    )
    refused = {"operation": "volume.create", "decision": "deny", "role": "readonly"}
    assert value(after, "dockward_requests_total", **refused) == (
        value(before, "dockward_requests_total", **refused) + 1
    )
    count = "dockward_request_duration_seconds_count"
    assert value(after, count, operation="container.list") == (
        value(before, count, operation="container.list") + 1
    )
    head = "dockward_response_head_seconds_count"
    assert value(after, head, operation="container.list") == (
        value(before, head, operation="container.list") + 1
    )
    sent = "dockward_transferred_bytes_total"
    assert value(after, sent, direction="out", role="admin") > value(
        before, sent, direction="out", role="admin"
    )
    assert value(after, "dockward_crl_valid") == 1
    assert value(after, "dockward_crl_next_update_timestamp_seconds") > 0
    assert value(after, "dockward_audit_store_accepting_writes") == 1
    assert name not in volumes(dockerd)

    # two clients connected now: each follows the daemon's events
    streams = [up.docker_popen("events"), up.docker_popen("events", bundle=viewer)]
    try:

        def connected() -> set[tuple[str, str]]:
            answer = dockward("status", "--state-dir", str(up.state), "--json")
            assert answer.returncode == 0, answer.stderr
            return {(c["identity"], c["role"]) for c in json.loads(answer.stdout)["clients"]}

        wait_for(
            lambda: connected() == {("cn:admin", "admin"), ("cn:viewer", "readonly")},
            what="both clients in dockward status",
        )
        shown = dockward("status", "--state-dir", str(up.state))
        assert shown.returncode == 0, shown.stderr
        rows = [line.split() for line in shown.stdout.splitlines() if "cn:" in line]
        assert {(row[1], row[3]) for row in rows} == {
            ("cn:admin", "admin"),
            ("cn:viewer", "readonly"),
        }
        assert "connected clients" in shown.stdout
        assert f"policy       {up.state / 'policy.toml'} sha256 " in shown.stdout
        open_now = scrape(up)
        assert value(open_now, "dockward_open_connections", role="admin") >= 1
        assert value(open_now, "dockward_open_connections", role="readonly") >= 1
    finally:
        for stream in streams:
            stream.terminate()
            stream.communicate(timeout=30)

    denials = wait_for(
        lambda: [
            line
            for line in dockward(
                "audit", "--denied", "--since", "5m", "--state-dir", str(up.state)
            ).stdout.splitlines()
            if "volume.create" in line
        ],
        what="the denial in the audit trail",
    )
    assert len(denials) == 1
    assert "  deny  cn:viewer  role=readonly  " in denials[0]
    assert 'rule="' in denials[0]
    assert 'reason="denied by role \\"readonly\\": operation volume.create' in denials[0]


def test_policy_reloads_are_counted_hashed_and_recorded(up: Up) -> None:
    policy = up.state / "policy.toml"
    before = scrape(up)
    policy.write_text(policy.read_text() + "\n# edited\n")
    wait_for(
        lambda: (
            value(scrape(up), "dockward_reloads_total", what="policy", result="ok")
            == value(before, "dockward_reloads_total", what="policy", result="ok") + 1
        ),
        what="the reload counted",
    )
    digest = hashlib.sha256(policy.read_bytes()).hexdigest()
    assert value(scrape(up), "dockward_policy_info", file=str(policy), sha256=digest) == 1
    policy.write_text("[[role]]\nname = 1\n")
    wait_for(
        lambda: value(scrape(up), "dockward_reloads_total", what="policy", result="refused") == 1,
        what="the refused reload counted",
    )
    assert value(scrape(up), "dockward_policy_info", file=str(policy), sha256=digest) == 1

    def reloads() -> list[dict[str, object]]:
        out = dockward("audit", "--json", "--state-dir", str(up.state))
        records = [json.loads(line) for line in out.stdout.splitlines()]
        return [record for record in records if record["kind"] == "gateway.reload"]

    recorded = wait_for(lambda: len(reloads()) == 2 and reloads(), what="both reload records")
    assert [record["decision"] for record in recorded] == ["ok", "refused"]
    assert recorded[0]["rule"] == f"sha256:{digest}"
    assert "the previous policy stays in force" in str(recorded[1]["reason"])
    assert dockward("audit", "verify", "--state-dir", str(up.state)).returncode == 0


@pytest.mark.parametrize("on_failure", ["refuse-writes", "continue"])
def test_a_full_disk_refuses_writes_or_continues(tmp_path: Path, dockerd, on_failure: str) -> None:
    with small_disk(tmp_path) as disk:
        settings = (
            f'[audit]\ndatabase = "{disk}/audit.sqlite3"\nbuffer = 100\n'
            f'on_failure = "{on_failure}"\n'
        )

        def fill_disk() -> Callable[[], None]:
            return fill(disk).unlink

        with start(tmp_path, dockerd, settings) as up:
            check_failure_policy(up, dockerd, on_failure, fill_disk, "database or disk is full")


def test_a_stopped_postgres_refuses_writes(
    tmp_path: Path, dockerd, postgres: PostgresServer
) -> None:
    url = postgres.create_database(f"ops_{uuid.uuid4().hex[:10]}")
    settings = f'[audit]\ndatabase = "{url}"\nbuffer = 100\n'
    stopped = []

    def stop() -> Callable[[], None]:
        postgres.stop()
        stopped.append(True)

        def restart() -> None:
            postgres.start()
            stopped.clear()

        return restart

    with start(tmp_path, dockerd, settings) as up:
        try:
            check_failure_policy(up, dockerd, "refuse-writes", stop, "PostgreSQL")
        finally:
            if stopped:
                postgres.start()


def check_failure_policy(
    up: Up,
    dockerd: object,
    on_failure: str,
    break_store: Callable[[], Callable[[], None]],
    failure: str,
) -> None:
    """Break the store, fill its buffer past nine tenths with reads, try a write; repair it."""
    pings(up, 1)
    wait_for(
        lambda: value(scrape(up), "dockward_audit_records_written_total") >= 1,
        what="the first record written",
    )
    repair = break_store()
    pings(up, 1)
    wait_for(lambda: "cannot write the audit store" in up.log(), what="the failure logged")
    assert failure in up.log()
    pings(up, 95)  # reads: served while nothing can be written, past 90 of the buffer of 100
    samples = scrape(up)
    assert value(samples, "dockward_audit_store_failing") == 1
    assert value(samples, "dockward_audit_store_failures_total") >= 1
    name = f"v-{uuid.uuid4().hex[:6]}"
    attempt = up.docker("volume", "create", name)
    assert up.docker("ps").returncode == 0  # reads are always served
    code, checks = ready(up)
    samples = scrape(up)
    if on_failure == "refuse-writes":
        assert attempt.returncode == 1
        assert (
            "Error response from daemon: dockward: the audit store of this gateway cannot "
            "record volume.create now: operations that change something are refused until it "
            "can; reads still work" in attempt.stderr
        ), attempt.stderr
        assert name not in volumes(dockerd)
        assert code == 503 and not checks["audit"]["ok"]
        assert "refusing write operations" in str(checks["audit"]["detail"])
        assert value(samples, "dockward_audit_store_accepting_writes") == 0
        assert value(samples, "dockward_audit_refused_requests_total") == 1
        assert "refusing write operations until it records again" in up.log()
    else:
        assert attempt.returncode == 0, attempt.stderr
        assert name in volumes(dockerd)
        assert code == 200 and checks["audit"]["ok"]
        assert "failing" in str(checks["audit"]["detail"])
        assert value(samples, "dockward_audit_store_accepting_writes") == 1
        assert "refusing write operations until" not in up.log()
    repair()
    wait_for(
        lambda: value(scrape(up), "dockward_audit_store_failing") == 0 and ready(up)[0] == 200,
        timeout=30,
        what="the store written again, the gateway ready",
    )
    again = up.docker("volume", "create", f"{name}-after")
    assert again.returncode == 0, again.stderr
    assert f"{name}-after" in volumes(dockerd)


def writer_pids(root: int) -> list[int]:
    """The audit writer processes under process ``root`` (its children, grandchildren...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat_line = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat_line.rsplit(")", 1)[1].split()[1])
    found = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor != root and ancestor > 1:
            ancestor = parents.get(ancestor)
        if ancestor == root:
            with contextlib.suppress(OSError):
                if b"dockward.audit.writer" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
    return found


def test_a_killed_writer_process_refuses_writes_until_another_runs(tmp_path: Path, dockerd) -> None:
    with start(tmp_path, dockerd, '[audit]\ndatabase = "state"\n') as up:
        pings(up, 3)
        wait_for(
            lambda: value(scrape(up), "dockward_audit_records_written_total") >= 3,
            what="the first records written",
        )
        [first] = writer_pids(up.process.pid)
        killing = threading.Event()
        killed: set[int] = set()

        def kill_every_writer() -> None:  # every one the gateway starts, until told to stop
            while not killing.is_set():
                for pid in writer_pids(up.process.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        killed.add(pid)
                killing.wait(0.005)

        killer = threading.Thread(target=kill_every_writer)
        killer.start()
        name = f"v-{uuid.uuid4().hex[:6]}"
        try:
            wait_for(
                lambda: f"the writer process {first} ended (killed by signal 9)" in up.log(),
                what="the death logged",
            )
            attempt = up.docker("volume", "create", name)
            assert attempt.returncode == 1
            assert (
                "Error response from daemon: dockward: the audit store of this gateway cannot "
                "record volume.create now" in attempt.stderr
            ), attempt.stderr
            assert name not in volumes(dockerd)
            assert up.docker("ps").returncode == 0  # reads are served
            code, checks = ready(up)
            assert code == 503 and not checks["audit"]["ok"]
            assert "the writer process" in str(checks["audit"]["detail"])
            assert value(scrape(up), "dockward_audit_store_failing") == 1
        finally:
            killing.set()
            killer.join()
        assert first in killed
        wait_for(
            lambda: ready(up)[0] == 200 and value(scrape(up), "dockward_audit_store_failing") == 0,
            timeout=30,
            what="another writer running, the gateway ready",
        )
        [second] = writer_pids(up.process.pid)
        assert second not in killed
        again = up.docker("volume", "create", f"{name}-after")
        assert again.returncode == 0, again.stderr
        assert f"{name}-after" in volumes(dockerd)
    # nothing lost: the pings, the refusal and the create after it, in one unbroken chain
    verified = dockward("audit", "verify", "--state-dir", str(up.state))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    records = [
        json.loads(line)
        for line in dockward("audit", "--json", "--state-dir", str(up.state)).stdout.splitlines()
    ]
    creates = [
        (record["decision"], record["rule"], record["status"])
        for record in records
        if record["operation"] == "volume.create"
    ]
    assert creates[0] == ("deny", "audit-store", 503)
    assert creates[-1][0] == "allow" and creates[-1][2] == 201
    assert sum(record["operation"] == "system.ping" for record in records) >= 3


def test_handshake_failures_are_counted_by_reason(up: Up) -> None:
    import socket

    host, port = up.exported()["DOCKER_HOST"].removeprefix("tcp://").rsplit(":", 1)
    failures = "dockward_handshake_failures_total"
    before = scrape(up)
    with socket.create_connection((host, int(port)), timeout=10) as plain:
        plain.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert plain.recv(1024).startswith(b"HTTP/1.0 400 Bad Request")
    context = ssl.create_default_context(cafile=str(up.state / "clients" / "admin" / "ca.pem"))
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as anonymous,
    ):
        anonymous.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")  # TLS 1.3: refused after
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            anonymous.recv(1024)

    def counted(reason: str) -> float:
        return value(scrape(up), failures, reason=reason) - value(before, failures, reason=reason)

    wait_for(lambda: counted("plain_http") == 1, what="the plain HTTP request counted")
    wait_for(lambda: counted("no_certificate") == 1, what="the client without a certificate")
    assert (
        sum(v for (name, _), v in scrape(up).items() if name == failures)
        == sum(v for (name, _), v in before.items() if name == failures) + 2
    )
