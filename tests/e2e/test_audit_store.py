"""The audit store end to end: real gateways, the real docker CLI, ``dockward audit`` as a user
runs it, hand edits to SQLite and PostgreSQL caught by ``verify``, a full disk and a stopped
database survived."""

from __future__ import annotations

import contextlib
import http.client
import os
import sqlite3
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import disk
from support.clients import DockerCLI
from support.gateway import GatewayProcess, TestPKI, serving
from support.postgres import PostgresServer
from support.up import dockward
from support.waiting import wait_for

pytestmark = pytest.mark.e2e

POLICY = """
[[role]]
name = "admin"
preset = "admin"
clients = ["cn:admin"]

[[role]]
name = "monitor"
preset = "readonly"
clients = ["cn:monitor"]
"""


def audit(database: str | Path, *args: str) -> subprocess.CompletedProcess[str]:
    return dockward("audit", *args, "--database", str(database))


def audit_lines(database: str | Path, *args: str) -> list[str]:
    result = audit(database, *args)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return result.stdout.splitlines()


def pings(gateway: GatewayProcess, count: int, who: str = "admin") -> None:
    """``count`` requests on one keep-alive connection, each answered 200."""
    bundle = gateway.pki.client(who)
    context = ssl.create_default_context(cafile=str(gateway.pki.ca_bundle))
    context.load_cert_chain(str(bundle / "cert.pem"), str(bundle / "key.pem"))
    connection = http.client.HTTPSConnection("127.0.0.1", gateway.port, context=context, timeout=30)
    try:
        for _ in range(count):
            connection.request("GET", "/_ping")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
    finally:
        connection.close()


def store_gateway(
    pki: TestPKI, upstream: str, database: str | Path, name: str, **audit_options: object
) -> contextlib.AbstractContextManager[GatewayProcess]:
    extra = {"audit": {"database": str(database), "gateway": name, **audit_options}}
    return serving(pki, upstream, policy=POLICY, extra=extra)


def allowed_and_denied(gateway: GatewayProcess) -> None:
    """The real CLI: the admin lists containers, the monitor tries to create a volume."""
    admin = DockerCLI(gateway)
    assert admin("ps", text=True).returncode == 0
    monitor = DockerCLI(gateway, gateway.pki.client("monitor"))
    result = monitor("volume", "create", f"v-{uuid.uuid4().hex[:6]}", text=True)
    assert result.returncode != 0
    assert "operation volume.create is not allowed" in result.stderr


def tamper(database: str, sql: str, postgres: PostgresServer | None) -> None:
    if postgres is not None:
        assert postgres.execute(database, sql) == 1
        return
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        assert db.execute(sql).rowcount == 1


@pytest.fixture(params=["sqlite", "postgres"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, PostgresServer | None]]:
    if request.param == "sqlite":
        yield str(tmp_path / "audit.sqlite3"), None
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    yield server.create_database(f"e2e_{uuid.uuid4().hex[:10]}"), server


def test_a_denial_made_seconds_ago_is_shown_with_role_rule_and_reason(pki, dockerd, tmp_path):
    database = tmp_path / "audit.sqlite3"
    with store_gateway(pki, dockerd.socket_path, database, "gw-e2e") as gateway:
        allowed_and_denied(gateway)
        denials = wait_for(
            lambda: [
                line
                for line in audit_lines(database, "--denied", "--since", "5m")
                if "volume.create" in line
            ],
            what="the denial in the audit store",
        )
        assert len(denials) == 1
        denial = denials[0]
        assert "  gw-e2e  deny  cn:monitor  role=monitor  127.0.0.1:" in denial
        assert "  POST /v1." in denial and "/volumes/create  volume.create  " in denial
        assert 'rule="not in allow"  403  ' in denial
        assert 'reason="denied by role \\"monitor\\": operation volume.create is not allowed"' in (
            denial
        )
        everything = audit_lines(database, "--since", "5m")
        assert any("  allow  cn:admin  role=admin  " in line and "container.list" in line
                   for line in everything)  # fmt: skip
        assert not any("container.list" in line for line in audit_lines(database, "--denied"))
        assert stat_mode(database) == 0o600


def stat_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def test_verify_catches_an_update_and_a_delete_done_by_hand(pki, dockerd, database):
    url, postgres = database
    with store_gateway(pki, dockerd.socket_path, url, "gw-verify") as gateway:
        pings(gateway, 6)
        wait_for(lambda: len(audit_lines(url)) >= 6, what="six records")
    result = audit(url, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok gateway gw-verify: 6 records, head #6 ")

    tamper(url, "UPDATE audit_record SET identity = 'cn:someone-else' WHERE seq = 3", postgres)
    result = audit(url, "verify")
    assert result.returncode == 1
    assert "FAILED gateway gw-verify: record #3 was edited (" in result.stdout
    assert "cn:someone-else GET /_ping)" in result.stdout
    assert "the 2 records before it verify" in result.stdout

    tamper(url, "UPDATE audit_record SET identity = 'cn:admin' WHERE seq = 3", postgres)
    assert audit(url, "verify").returncode == 0
    tamper(url, "DELETE FROM audit_record WHERE seq = 4", postgres)
    result = audit(url, "verify")
    assert result.returncode == 1
    assert "FAILED gateway gw-verify: record #4 before #5 was deleted" in result.stdout


def test_two_gateways_write_to_one_postgres_and_the_summary_shows_both(
    pki, dockerd, postgres: PostgresServer
):
    url = postgres.create_database(f"fleet_{uuid.uuid4().hex[:10]}")
    with (
        store_gateway(pki, dockerd.socket_path, url, "host-a") as first,
        store_gateway(pki, dockerd.socket_path, url, "host-b") as second,
    ):
        allowed_and_denied(first)
        pings(second, 3)
        allowed_and_denied(second)
        wait_for(
            lambda: sum("volume.create" in line for line in audit_lines(url, "--denied")) == 2,
            what="both denials",
        )
    lines = audit_lines(url, "--summary", "--since", "5m")
    rows = [line.split() for line in lines[1:-1]]
    assert ["host-a", "cn:monitor", "volume.create", "deny", "1"] in rows
    assert ["host-b", "cn:monitor", "volume.create", "deny", "1"] in rows
    pinged = {
        row[0]: int(row[-1]) for row in rows if row[1:4] == ["cn:admin", "system.ping", "allow"]
    }
    assert pinged["host-b"] == pinged["host-a"] + 3  # the docker CLI pings too
    assert {row[0] for row in rows} == {"host-a", "host-b"}
    assert lines[-1].startswith(f"{sum(int(row[-1]) for row in rows)} records (host-a ")
    verified = audit(url, "verify")
    assert verified.returncode == 0, verified.stdout
    assert "ok gateway host-a: " in verified.stdout and "ok gateway host-b: " in verified.stdout


def test_a_graceful_stop_writes_every_record_and_ends_the_writer(pki, dockerd, tmp_path):
    database = tmp_path / "audit.sqlite3"
    with store_gateway(pki, dockerd.socket_path, database, "gw-stop") as gateway:
        assert gateway.process is not None
        pid = gateway.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        [writer] = [
            int(child)
            for child in children
            if b"dockward.audit.writer" in Path(f"/proc/{child}/cmdline").read_bytes()
        ]
        pings(gateway, 300)  # the last of them still wait in the gateway when it is told to stop
    assert gateway.process.returncode == 0
    assert not Path(f"/proc/{writer}").exists()  # the writer ended (and was reaped)
    assert len(audit_lines(database, "--op", "system.ping")) == 300
    verified = audit(database, "verify")
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.startswith("ok gateway gw-stop: 300 records, head #300 ")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that can be filled."""
    with disk.small_disk(tmp_path) as mountpoint:
        yield mountpoint


def test_a_full_disk_keeps_the_gateway_serving_then_the_store_catches_up(pki, dockerd, small_disk):
    database = small_disk / "audit.sqlite3"
    with store_gateway(pki, dockerd.socket_path, database, "gw-disk", buffer=100) as gateway:
        pings(gateway, 1)
        wait_for(lambda: len(audit_lines(database)) == 1, what="the first record")
        filler = disk.fill(small_disk)
        pings(gateway, 1)
        wait_for(lambda: "cannot write the audit store" in gateway.log(), what="the failure logged")
        assert "database or disk is full" in gateway.log()
        pings(gateway, 150)  # served while nothing can be written, past the buffer of 100
        assert DockerCLI(gateway)("ps", text=True).returncode == 0
        assert len(audit_lines(database)) == 1
        filler.unlink()
        wait_for(lambda: "is written again" in gateway.log(), timeout=30, what="the recovery")
        wait_for(
            lambda: any("audit.dropped" in line for line in audit_lines(database)),
            what="the record of the dropped ones",
        )
    assert "records were dropped since" in gateway.log()
    records = audit_lines(database, "--json")
    kinds = [line.split('"kind":"')[1].split('"')[0] for line in records]
    assert kinds.count("audit.dropped") == 1
    # the first, the one in hand when it failed, the 100 the buffer kept, and the CLI's after
    assert 1 + 1 + 100 <= kinds.count("exchange") <= 1 + 1 + 100 + 10
    assert audit(database, "verify").returncode == 0


def test_a_stopped_postgres_keeps_the_gateway_serving_then_the_store_catches_up(
    pki, dockerd, postgres: PostgresServer
):
    url = postgres.create_database(f"down_{uuid.uuid4().hex[:10]}")
    with store_gateway(pki, dockerd.socket_path, url, "gw-pg-down") as gateway:
        pings(gateway, 2)
        wait_for(lambda: len(audit_lines(url)) == 2, what="the first records")
        postgres.stop()
        try:
            pings(gateway, 20)
            assert DockerCLI(gateway)("ps", text=True).returncode == 0
            wait_for(
                lambda: "cannot write the audit store PostgreSQL" in gateway.log(),
                what="the failure logged",
            )
        finally:
            postgres.start()
        wait_for(lambda: "is written again" in gateway.log(), timeout=30, what="the recovery")
        wait_for(lambda: len(audit_lines(url)) >= 2 + 20 + 1, what="the records kept meanwhile")
    assert audit(url, "verify").returncode == 0
