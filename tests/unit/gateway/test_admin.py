"""The admin endpoint served on a real unix socket, in process, with a stand-in daemon."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from dockward.config import config_from_dict
from dockward.errors import UsageError
from dockward.gateway.admin import AdminServer, start_admin
from dockward.gateway.metrics import GatewayMetrics
from dockward.gateway.server import Gateway


async def fake_daemon(path: Path, status: bytes = b"200 OK") -> asyncio.AbstractServer:
    """Answers every request like dockerd's /_ping."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nApi-Version: 1.47\r\nContent-Length: 2\r\n\r\nOK"
        )
        await writer.drain()
        writer.close()

    return await asyncio.start_unix_server(answer, str(path))


async def get(path: Path, page: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(f"{method} {page} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers["Content-Length"]) == len(body)
    return int(lines[0].split()[1]), headers, body


def gateway_for(tmp_path: Path, **admin: str) -> Gateway:
    config = config_from_dict(
        {
            "listen": [{"unix": str(tmp_path / "api.sock")}],
            "upstream": str(tmp_path / "docker.sock"),
            "admin": {"socket": str(tmp_path / "admin.sock"), **admin},
        }
    )
    return Gateway(config)


def run(tmp_path: Path, check: Callable[[Gateway, Path], Awaitable[None]], daemon: bool = True):
    async def main() -> None:
        gateway = gateway_for(tmp_path)
        upstream = await fake_daemon(tmp_path / "docker.sock") if daemon else None
        server = await start_admin(gateway)
        assert server is not None
        try:
            await check(gateway, tmp_path / "admin.sock")
        finally:
            await server.stop()
            if upstream is not None:
                upstream.close()
        assert not (tmp_path / "admin.sock").exists()

    asyncio.run(main())


def test_health_metrics_ready_and_status(tmp_path):
    async def check(gateway: Gateway, admin: Path) -> None:
        assert stat.S_IMODE(os.stat(admin).st_mode) == 0o600
        assert await get(admin, "/health") == (
            200,
            {
                "Content-Type": "text/plain; charset=utf-8",
                "Content-Length": "3",
                "Cache-Control": "no-store",
                "Connection": "close",
            },
            b"ok\n",
        )
        status, headers, body = await get(admin, "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
        assert b"# TYPE dockward_requests_total counter" in body
        status, _headers, body = await get(admin, "/ready")
        assert status == 200
        assert json.loads(body) == {
            "ready": True,
            "checks": {"upstream": {"ok": True, "detail": "answers /_ping (API 1.47)"}},
        }
        status, _headers, body = await get(admin, "/status")
        answer = json.loads(body)
        assert status == 200
        assert answer["clients"] == [] and answer["upstream_ok"] is True
        assert answer["policy"] == {"file": "", "sha256": "", "roles": ["admin"]}
        assert answer["audit"] is None and answer["crl"] is None
        status, _headers, body = await get(admin, "/nothing")
        assert status == 404 and b"/metrics" in body
        assert (await get(admin, "/health", "POST"))[0] == 405

    run(tmp_path, check)


def test_ready_is_503_when_the_daemon_does_not_answer(tmp_path):
    async def check(gateway: Gateway, admin: Path) -> None:
        status, _headers, body = await get(admin, "/ready")
        answer = json.loads(body)
        assert status == 503 and answer["ready"] is False
        assert answer["checks"]["upstream"]["ok"] is False
        assert (
            f"cannot connect to {tmp_path / 'docker.sock'}"
            in answer["checks"]["upstream"]["detail"]
        )

    run(tmp_path, check, daemon=False)


def test_ready_is_503_while_the_audit_store_refuses_writes(tmp_path):
    from dockward.audit.store import AuditStore
    from dockward.gateway.events import ConnectionRefused, Peer

    async def check(gateway: Gateway, admin: Path) -> None:
        store = AuditStore(str(tmp_path / "audit.sqlite3"), "gw", buffer=100)
        gateway.audit_store = store
        assert (await get(admin, "/ready"))[0] == 200
        refused = ConnectionRefused(1.0, Peer("127.0.0.1:2376", "192.0.2.1:5000", None), "no")
        for _ in range(95):
            store(refused)  # never written: the store is not started
        status, _headers, body = await get(admin, "/ready")
        audit = json.loads(body)["checks"]["audit"]
        assert status == 503
        assert audit == {"ok": False, "detail": "refusing write operations: 95 records wait"}

    run(tmp_path, check)


def test_a_file_in_the_way_is_not_replaced(tmp_path):
    (tmp_path / "admin.sock").write_text("not a socket")

    async def main() -> None:
        gateway = gateway_for(tmp_path)
        with pytest.raises(UsageError, match=r"admin\.sock: exists and is not a socket"):
            await start_admin(gateway)

    asyncio.run(main())
    assert (tmp_path / "admin.sock").read_text() == "not a socket"


def test_a_loopback_tcp_address_serves_the_same_pages(tmp_path):
    async def main() -> None:
        gateway = gateway_for(tmp_path, address="127.0.0.1:0")
        server = AdminServer(gateway, gateway.config.admin, GatewayMetrics(gateway))
        await server.start()
        try:
            host, port = server.where[1].rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await reader.read()).endswith(b"\r\n\r\nok\n")
            writer.close()
        finally:
            await server.stop()

    asyncio.run(main())


def test_a_socket_another_gateway_serves_is_not_taken_over(tmp_path):
    async def main() -> None:
        first = await start_admin(gateway_for(tmp_path))
        assert first is not None
        try:
            with pytest.raises(UsageError, match="another gateway is serving it"):
                await start_admin(gateway_for(tmp_path))
            assert (await get(tmp_path / "admin.sock", "/health"))[0] == 200
        finally:
            await first.stop()

    asyncio.run(main())


def test_a_socket_left_behind_is_replaced(tmp_path):
    import socket

    left = socket.socket(socket.AF_UNIX)
    left.bind(str(tmp_path / "admin.sock"))  # bound, not listening: a gateway that was killed
    left.close()

    async def check(gateway: Gateway, admin: Path) -> None:
        assert (await get(admin, "/health"))[0] == 200

    run(tmp_path, check)
