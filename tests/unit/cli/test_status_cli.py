"""``dockward status``: asks the admin socket, prints a view, ``--json``; no gateway is exit 2."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from dockward.cli import main
from dockward.cli.status import render
from dockward.config import config_from_dict
from dockward.gateway.admin import start_admin
from dockward.gateway.server import Gateway


@pytest.fixture
def admin_socket(tmp_path: Path) -> Iterator[Path]:
    """An admin endpoint served by an event loop in a thread, for a gateway that is not
    listening (no clients) in front of no daemon."""
    path = tmp_path / "admin.sock"
    config = config_from_dict(
        {
            "listen": [{"unix": str(tmp_path / "api.sock")}],
            "upstream": str(tmp_path / "docker.sock"),
            "admin": {"socket": str(path)},
        }
    )
    loop = asyncio.new_event_loop()
    gateway = Gateway(config)
    server = loop.run_until_complete(start_admin(gateway))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        assert server is not None
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_json_is_the_gateways_answer(admin_socket, capsys):
    assert main(["status", "--socket", str(admin_socket), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["clients"] == []
    assert answer["upstream_ok"] is False
    assert answer["policy"]["roles"] == ["admin"]


def test_the_view_names_the_gateway_its_policy_and_the_daemon(admin_socket, capsys):
    assert main(["status", "--socket", str(admin_socket)]) == 0
    out = capsys.readouterr().out
    assert "upstream     " in out and "cannot connect to" in out
    assert "policy       none: every authenticated client is admin" in out
    assert "audit store  off" in out
    assert "0 connected clients" in out


def test_no_gateway_is_exit_2_with_what_to_do(tmp_path, capsys):
    assert main(["status", "--socket", str(tmp_path / "admin.sock")]) == 2
    err = capsys.readouterr().err
    assert f"no admin socket at {tmp_path / 'admin.sock'}: is the gateway running" in err


def test_two_clients_and_a_store_refusing_writes_are_shown():
    now = 1_800_000_000.0
    client = {
        "identity": "cn:admin",
        "serial": "5",
        "role": "admin",
        "source": "127.0.0.1:40000",
        "listener": "127.0.0.1:2376",
        "since": now - 90,
        "requests": 12,
        "in_flight": "system.events",
        "open_tunnels": 0,
        "bytes_in": 0,
        "bytes_out": 3 * 1024 * 1024,
    }
    status = {
        "pid": 42,
        "started": now - 3600,
        "listeners": ["127.0.0.1:2376"],
        "upstream": "/run/docker.sock",
        "upstream_ok": True,
        "upstream_detail": "answers /_ping (API 1.47)",
        "clients": [client, {**client, "identity": "cn:viewer", "role": "readonly"}],
        "policy": {"file": "/s/policy.toml", "sha256": "ab" * 32, "roles": ["admin", "readonly"]},
        "certificates": [{"what": "server", "subject": "gw", "not_after": now + 30 * 86400}],
        "crl": {"path": "/s/crl.pem", "next_update": now + 86400, "revoked": 1, "problem": ""},
        "audit": {
            "database": "SQLite /s/audit.sqlite3",
            "accepting_writes": False,
            "failing": True,
            "last_error": "database or disk is full",
            "written": 10,
            "pending": 95,
            "dropped": 0,
            "lag": 12.0,
        },
    }
    console = Console(width=200, record=True)
    console.print(render(status, now=now))
    out = console.export_text()
    assert "gateway      pid 42, up 60m, listening on 127.0.0.1:2376" in out
    assert "policy       /s/policy.toml sha256 abababababababab… roles admin, readonly" in out
    assert (
        "CRL          /s/crl.pem: 1 revoked, next update 2027-01-16T08:00:00Z (1 days left)" in out
    )
    assert "server cert  gw until 2027-02-14T08:00:00Z (30 days left)" in out
    assert "REFUSING WRITE OPERATIONS; 10 written, 95 pending" in out
    assert "2 connected clients" in out
    rows = [line.split() for line in out.splitlines() if "cn:" in line]
    assert [(row[1], row[3], row[5]) for row in rows] == [
        ("cn:admin", "admin", "127.0.0.1:40000"),
        ("cn:viewer", "readonly", "127.0.0.1:40000"),
    ]
    assert "12 +1" in out and "3.0 MiB" in out


def test_watch_redraws_until_ctrl_c(admin_socket, monkeypatch, capsys):
    from dockward.cli import status as status_cli

    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_cli.time, "sleep", sleep)
    assert main(["status", "--socket", str(admin_socket), "--watch", "--interval", "0.5"]) == 130
    assert naps == [0.5, 0.5, 0.5]
    assert "0 connected clients" in capsys.readouterr().out
