"""The admin endpoint: ``/metrics``, ``/health``, ``/ready`` and ``/status`` for operators.

It listens on a unix socket (``STATE/admin.sock`` by default, mode 0600: only the gateway's
user may ask) and, when ``[admin] address`` says so, on a loopback TCP address too; never on an
API listener, and it has no authentication of its own. It speaks just enough HTTP/1.1 for curl,
Prometheus and ``dockward status``: one ``GET`` per connection, answered with a length and
closed. It reads the gateway (``gateway.live``, ``gateway.metrics``) and changes nothing.

``/ready`` is 200 when the daemon answers ``/_ping``, the CRL in force is valid and the audit
store (when on) accepts write operations; 503 otherwise, with the failing checks in its JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from dockward.config import AdminConfig, parse_host_port
from dockward.engine_api import open_unix
from dockward.errors import UsageError
from dockward.gateway import live
from dockward.gateway.metrics import GatewayCollector, GatewayMetrics
from dockward.gateway.server import socket_answers

if TYPE_CHECKING:
    from dockward.gateway.server import Gateway

log = logging.getLogger("dockward.admin")

PING_TIMEOUT = 2.0
REQUEST_TIMEOUT = 5.0
MAX_REQUEST_HEAD = 8192

Response = tuple[int, str, bytes]  # status, content type, body
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: str


class AdminServer:
    """The admin listeners of one gateway, and the answers they give."""

    def __init__(self, gateway: Gateway, config: AdminConfig, metrics: GatewayMetrics) -> None:
        self.gateway = gateway
        self.config = config
        self.metrics = metrics
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(GatewayCollector(gateway, metrics))
        self.servers: list[asyncio.base_events.Server] = []
        self.where: list[str] = []
        self.routes: dict[str, Callable[[], Awaitable[Response]]] = {
            "/metrics": self.metrics_page,
            "/health": self.health,
            "/ready": self.ready,
            "/status": self.status,
        }

    # ------------------------------------------------------------------ the answers

    async def metrics_page(self) -> Response:
        return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)

    async def health(self) -> Response:
        return 200, "text/plain; charset=utf-8", b"ok\n"

    async def checks(self) -> dict[str, Check]:
        gateway = self.gateway
        out = {"upstream": await ping(gateway.upstream_path)}
        if gateway.credentials is not None and gateway.config.tls is not None:
            problem = live.crl_problem(gateway)
            if gateway.config.tls.crl is None:
                out["crl"] = Check(True, "no CRL configured")
            else:
                out["crl"] = Check(not problem, problem or "valid")
        store = gateway.audit_store
        if store is not None:
            state = store.state()
            if not state.accepting_writes:
                detail = f"refusing write operations: {state.pending} records wait"
                if state.failing:
                    detail += f" ({state.last_error})"
            elif state.failing:
                detail = (
                    f"failing ({state.last_error}); {state.pending} records wait, "
                    f"{state.dropped} dropped (on_failure = {state.on_failure})"
                )
            else:
                detail = f"recording ({state.database})"
            # not ready only while write operations are refused: with on_failure = "continue"
            # the gateway serves everything, and the detail says the store is failing
            out["audit"] = Check(state.accepting_writes, detail)
        return out

    async def ready(self) -> Response:
        checks = await self.checks()
        ready = all(check.ok for check in checks.values())
        body = {
            "ready": ready,
            "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
        }
        return (200 if ready else 503), "application/json", _json(body)

    async def status(self) -> Response:
        self.metrics.keep_bounded()
        snapshot = live.snapshot(self.gateway, self.metrics).as_json()
        upstream = (await self.checks())["upstream"]
        snapshot["upstream_ok"] = upstream.ok
        snapshot["upstream_detail"] = upstream.detail
        return 200, "application/json", _json(snapshot)

    # ------------------------------------------------------------------ the listeners

    async def start(self) -> None:
        """Open the configured listeners; ``UsageError`` naming the one that cannot be opened."""
        path = self.config.socket_path
        if path is not None:
            self.servers.append(await self._open_unix(path))
            self.where.append(str(path))
        if self.config.address is not None:
            host, port = parse_host_port(self.config.address)
            try:
                server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
            except OSError as err:
                raise UsageError(
                    f"cannot open the admin endpoint on {self.config.address}: "
                    f"{err.strerror or err}"
                ) from None
            self.servers.append(server)
            bound = server.sockets[0].getsockname()
            self.where.append(
                f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"
            )
        for where in self.where:
            log.info("admin endpoint (/metrics, /health, /ready, /status) on %s", where)

    async def _open_unix(self, path: Path) -> asyncio.base_events.Server:
        if path.is_symlink() or (path.exists() and not stat.S_ISSOCK(path.lstat().st_mode)):
            raise UsageError(f"cannot open the admin socket {path}: exists and is not a socket")
        if path.exists() and socket_answers(path):
            raise UsageError(
                f"cannot open the admin socket {path}: another gateway is serving it (is "
                "dockward already running for this state directory?)"
            )
        path.unlink(missing_ok=True)  # a socket left by a gateway that did not stop cleanly
        old_umask = os.umask(0o177)  # 0600 from the start: metrics and clients are not public
        try:
            server = await asyncio.start_unix_server(self._serve, str(path))
        except OSError as err:
            raise UsageError(
                f"cannot open the admin socket {path}: {err.strerror or err}"
            ) from None
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        return server

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self.servers.clear()
        path = self.config.socket_path
        if path is not None:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(path.lstat().st_mode):
                    path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, content_type, body = await asyncio.wait_for(
                self._answer(reader), REQUEST_TIMEOUT
            )
            writer.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode("ascii")
                + body
            )
            await writer.drain()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except Exception:  # a bug in an answer must not end the gateway
            log.exception("the admin endpoint failed to answer")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> Response:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_REQUEST_HEAD:
            return 400, "text/plain", b"request head too large\n"
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3:
            return 400, "text/plain", b"bad request line\n"
        method, target = parts[0].decode("latin-1"), parts[1].decode("latin-1")
        path = target.split("?", 1)[0]
        route = self.routes.get(path)
        if route is None:
            known = ", ".join(self.routes)
            return 404, "text/plain", f"no such page; try {known}\n".encode()
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"GET only\n"
        return await route()


async def ping(upstream: str) -> Check:
    """Whether the daemon answers ``GET /_ping`` on its socket, and what it said."""
    try:
        connection = await open_unix(upstream, PING_TIMEOUT)
    except (OSError, TimeoutError) as err:
        return Check(
            False, f"cannot connect to {upstream}: {getattr(err, 'strerror', None) or err}"
        )
    try:
        response = await connection.get("/_ping")
    except Exception as err:  # an HttpError, a timeout, a reset: all mean "not answering"
        return Check(False, f"{upstream} did not answer /_ping: {err or type(err).__name__}")
    finally:
        with contextlib.suppress(Exception):
            await connection.close()
    if response.status != 200:
        return Check(False, f"{upstream} answered /_ping with {response.status}")
    api = response.headers.get("api-version")
    return Check(True, f"answers /_ping (API {api})" if api else "answers /_ping")


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True) + "\n").encode()


async def start_admin(gateway: Gateway) -> AdminServer | None:
    """The gateway's metrics observer and admin endpoint, started; None when ``[admin]`` names
    no listener. The runner's one call (it stops the server with ``stop()``)."""
    config = gateway.config.admin
    if config.socket_path is None and config.address is None:
        return None  # nobody could read the metrics: not even counted
    metrics = GatewayMetrics(gateway)
    server = AdminServer(gateway, config, metrics)
    await server.start()
    gateway.events.observers.append(metrics)
    return server
