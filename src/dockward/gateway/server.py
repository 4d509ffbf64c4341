"""Listeners and the running gateway: owns the sockets, nothing else does.

``Gateway`` opens every configured listener (mutual-TLS TCP, unix socket), keeps the registry
of live connections (each with a public ``abort()``, and ``cut()`` for a revocation), and hands
each accepted connection to a ``ClientProtocol`` (``gateway.protocol``). A TCP peer whose
address is outside the listener's allow-list is dropped at accept time, before the handshake.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import functools
import grp
import ipaddress
import logging
import os
import socket
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dockward.audit.store import AuditStore
from dockward.config import GatewayConfig, TcpListenerConfig, UnixListenerConfig, parse_host_port
from dockward.errors import UsageError
from dockward.gateway.credentials import TLSCredentials, file_digest, file_stamp
from dockward.gateway.daemon_health import DaemonHealth
from dockward.gateway.events import Emitter, Observer, Reloaded
from dockward.gateway.limits import ConnectionCaps, InspectionBudget, RateLimiter, Timeouts
from dockward.gateway.protocol import ClientProtocol
from dockward.gateway.relay import LINGER_SECONDS
from dockward.gateway.spares import SpareConnections
from dockward.identity import PeerIdentity
from dockward.pki.ca import check_key_permissions
from dockward.policy.engine import AdminPolicy, Policy, RolePolicy
from dockward.policy.roles import load_policy_config
from dockward.tls.context import ServerContext
from dockward.tls.offload import HandshakeThreads

log = logging.getLogger("dockward.gateway")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# TCP keepalive on client sockets: a peer that vanished without a FIN (a host powered off, a
# NAT entry dropped) is found after 60 s of silence and 6 unanswered probes 10 s apart. Set on
# the listening socket: Linux copies it to every accepted one, so no connection pays for it.
KEEPALIVE_IDLE = 60
KEEPALIVE_INTERVAL = 10
KEEPALIVE_COUNT = 6
ADDRESSES_KEPT = 4096  # source addresses whose allow-list verdict a listener remembers


def set_keepalive(sock: object) -> None:
    """Turn TCP keepalive on for ``sock`` (a socket, or uvloop's stand-in for one)."""
    setsockopt = getattr(sock, "setsockopt", None)
    if setsockopt is None:
        return
    try:
        setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
        setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
        setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)
    except OSError as err:  # not fatal: the connections work without
        log.warning("cannot set TCP keepalive on %s: %s", sock, err)


@dataclass
class Listener:
    """One listening endpoint and its source-network allow-list."""

    kind: str  # "tcp" or "unix"
    where: str  # "127.0.0.1:2376", "[::1]:2376" or the socket path
    host: str = ""
    port: int = 0
    path: Path | None = None
    mode: int = 0o660
    group: str | None = None
    networks: tuple[Network, ...] = ()
    reuse_port: bool = False
    server: asyncio.base_events.Server | None = field(default=None, repr=False)
    # the verdicts of ``allows`` by address text: the networks never change after start
    _verdicts: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def allows(self, address: str) -> bool:
        verdict = self._verdicts.get(address)
        if verdict is None:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            verdict = any(ip in net for net in self.networks)
            if len(self._verdicts) >= ADDRESSES_KEPT:
                self._verdicts.clear()
            self._verdicts[address] = verdict
        return verdict


def listeners_from_config(config: GatewayConfig) -> list[Listener]:
    out: list[Listener] = []
    for item in config.listen:
        if isinstance(item, TcpListenerConfig):
            host, port = parse_host_port(item.address)
            cidrs = item.allow if item.allow is not None else config.allow_networks
            networks = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            out.append(
                Listener(
                    "tcp",
                    where,
                    host=host,
                    port=port,
                    networks=networks,
                    reuse_port=item.reuse_port,
                )
            )
        elif isinstance(item, UnixListenerConfig):
            out.append(
                Listener(
                    "unix", str(item.unix), path=item.unix, mode=int(item.mode, 8), group=item.group
                )
            )
    return out


class Gateway:
    """The running gateway: listeners, policy, upstream and observers."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        policy: Policy | None = None,
        observers: Iterable[Observer] = (),
    ) -> None:
        self.config = config
        self.upstream_path = str(config.upstream)
        self._policy_stamp = file_stamp(config.policy)  # before reading: a later edit is seen
        self.policy: Policy = policy or load_policy(config)
        self.policy_digest = file_digest(config.policy)  # SHA-256 of the policy file in force
        self.audit_store: AuditStore | None = None  # refuses writes it cannot record (runner)
        self.events = Emitter(observers)
        self.emit = self.events.emit
        self.listeners = listeners_from_config(config)
        self.connections: set[ClientProtocol] = set()
        self.all_closed = asyncio.Event()  # set when the last connection closes
        self._closed_since_trim = 0
        self._trim_pending = False
        self.daemon = DaemonHealth(self.upstream_path)
        self.spares = SpareConnections(self.upstream_path, config.connect_timeout)
        self.timeouts = Timeouts(
            response=config.response_timeout,
            stream_response=config.stream_response_timeout,
            body=config.body_timeout,
            idle=config.idle_timeout,
        )
        limits = config.limits
        self.inspection = InspectionBudget(limits.inspection_bytes)
        self.caps = ConnectionCaps(
            limits.connections, limits.connections_per_source, limits.connections_per_identity
        )
        self.rates: RateLimiter | None = None
        if limits.requests_per_second is not None:
            burst = limits.burst or max(limits.requests_per_second, 10.0)
            self.rates = RateLimiter(limits.requests_per_second, burst, time.monotonic)
        self.credentials: TLSCredentials | None = None
        self.handshake_threads: HandshakeThreads | None = None  # started by start()
        if config.tls is not None:
            check_key_permissions(config.tls.key)
            self.credentials = TLSCredentials(config.tls)

    @property
    def ssl_context(self) -> ServerContext | None:
        """The context for new handshakes (established connections keep theirs)."""
        return self.credentials.context if self.credentials is not None else None

    @property
    def head_timeout(self) -> float:
        return self.config.head_timeout

    def refusal_counts(self) -> dict[str, int]:
        """What the limits refused since start, and how often the daemon breaker opened."""
        refused = self.caps.refused
        return {
            "connections_over_total": refused["total"],
            "connections_over_source": refused["source"],
            "connections_over_identity": refused["identity"],
            "requests_over_rate": refused["rate"],
            "inspection_budget_full": self.inspection.refused,
            "daemon_breaker_trips": self.daemon.trips,
        }

    @property
    def daemon_down(self) -> str | None:
        return self.daemon.down

    def refusal(self, identity: PeerIdentity | None) -> str | None:
        """Why a connection's identity may not make requests any more (revoked, no CRL)."""
        if self.credentials is None:
            return None
        return self.credentials.refusal(identity)

    def reload(self, *, only_if_changed: bool = False) -> None:
        """Reload certificates, CA bundle, CRL and policy; end connections now refused."""
        if self.credentials is not None:
            self.credentials.reload(only_if_changed=only_if_changed)
            self.credentials.check_freshness()
        self.reload_policy(only_if_changed=only_if_changed)
        self.enforce_revocations()

    @property
    def credentials_settled(self) -> bool:
        """False while the TLS material in force did not verify: the watcher retries sooner."""
        return self.credentials is None or self.credentials.settled

    def enforce_revocations(self) -> int:
        """Close every connection whose certificate is now refused; return how many."""
        closed = 0
        for connection in list(self.connections):
            why = self.refusal(connection.identity)
            if why is not None:
                log.warning(
                    "closing connection from %s (%s): %s",
                    connection.source,
                    connection.identity.label if connection.identity else "?",
                    why,
                )
                connection.cut(why)
                closed += 1
        return closed

    def reload_policy(self, *, only_if_changed: bool = False) -> bool:
        """Re-read the policy file; an invalid one is refused and the old one stays in force."""
        path = self.config.policy
        if path is None:
            return False
        stamp = file_stamp(path)
        if only_if_changed and stamp == self._policy_stamp:
            return False
        self._policy_stamp = stamp
        try:
            policy = load_policy(self.config)
        except UsageError as err:
            problems = "; ".join(str(err).splitlines())  # one log line, however many problems
            log.error("policy reload refused, the previous policy stays in force: %s", problems)
            refused = f"refused, the previous policy stays in force: {problems}"
            self.emit(Reloaded(time.time(), "policy", str(path), False, "", refused))
            return False
        self.policy, self.policy_digest = policy, file_digest(path)
        log.info("policy reloaded from %s", path)
        self.emit(Reloaded(time.time(), "policy", str(path), True, self.policy_digest, "reloaded"))
        return True

    async def start(self) -> None:
        """Open every listener; ``UsageError`` with a one-line reason if one cannot be opened."""
        loop = asyncio.get_running_loop()
        try:
            tls = self.config.tls
            threads = 0 if tls is None else tls.handshake_threads
            if threads and any(listener.kind == "tcp" for listener in self.listeners):
                self.handshake_threads = HandshakeThreads(threads, loop)
            for listener in self.listeners:
                if listener.kind == "tcp":
                    listener.server = await self._open_tcp(loop, listener)
                    if listener.port == 0:  # name the port the kernel picked
                        host, port = listener.server.sockets[0].getsockname()[:2]
                        listener.where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                else:
                    listener.server = await self._open_unix(loop, listener)
                log.info("listening on %s", listener.where)
        except BaseException:
            await self.stop()
            raise

    async def _open_tcp(
        self, loop: asyncio.AbstractEventLoop, listener: Listener
    ) -> asyncio.base_events.Server:
        try:
            server = await loop.create_server(
                lambda: ClientProtocol(self, listener),
                listener.host,
                listener.port,
                reuse_address=True,
                reuse_port=listener.reuse_port or None,
                backlog=1024,
            )
        except OSError as err:
            raise UsageError(f"cannot listen on {listener.where}: {_os_reason(err)}") from None
        for sock in server.sockets:
            set_keepalive(sock)  # before any accept: each accepted socket inherits it
        return server

    async def _open_unix(
        self, loop: asyncio.AbstractEventLoop, listener: Listener
    ) -> asyncio.base_events.Server:
        path = listener.path
        assert path is not None
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise UsageError(f"cannot listen on {path}: exists and is not a socket")
            if _socket_answers(path):
                raise UsageError(f"cannot listen on {path}: another process is serving it")
            path.unlink()
        gid = -1
        if listener.group is not None:
            try:
                gid = grp.getgrnam(listener.group).gr_gid
            except KeyError:
                raise UsageError(
                    f"cannot listen on {path}: no group named {listener.group!r}"
                ) from None
        old_umask = os.umask(0o177)  # never world-accessible, not even for an instant
        try:
            server = await loop.create_unix_server(
                lambda: ClientProtocol(self, listener), str(path)
            )
        except OSError as err:
            raise UsageError(f"cannot listen on {path}: {_os_reason(err)}") from None
        finally:
            os.umask(old_umask)
        if gid != -1:
            os.chown(path, -1, gid)
        os.chmod(path, listener.mode)
        return server

    def bound_addresses(self) -> list[str]:
        """``host:port`` for each TCP listener as actually bound (port 0 resolved)."""
        return [address for item in self.listeners for address in self.bound_addresses_of(item)]

    @staticmethod
    def bound_addresses_of(listener: Listener) -> list[str]:
        """``host:port`` of one TCP listener's sockets as actually bound."""
        out = []
        if listener.kind == "tcp" and listener.server is not None:
            for sock in listener.server.sockets:
                host, port = sock.getsockname()[:2]
                out.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        return out

    def connection_closed(self) -> None:
        """A connection closed: once many have, hand the freed heap back to the system.

        Each idle TLS connection holds about 40 KiB; after a burst of thousands closes, the
        allocator keeps that memory for reuse unless it is trimmed.
        """
        if not self.connections:
            self.all_closed.set()
        self._closed_since_trim += 1
        if self._closed_since_trim >= TRIM_AFTER_CLOSED and not self._trim_pending:
            self._trim_pending = True
            asyncio.get_running_loop().call_later(TRIM_DELAY, self._trim)

    def _trim(self) -> None:
        self._trim_pending = False
        self._closed_since_trim = 0
        release_free_memory()

    async def drain(self, timeout: float, hurry: asyncio.Event) -> None:
        """Stop accepting, let the exchanges in flight finish (streams and tunnels for up to
        ``timeout`` seconds), then close what is left with close_notify. Returns as soon as no
        connection is left, or when ``hurry`` is set."""
        for listener in self.listeners:
            if listener.server is not None:
                listener.server.close()
        for connection in list(self.connections):
            connection.drain()
        if not await self._all_closed_within(timeout, hurry):
            left = len(self.connections)
            log.warning("drain time over: closing %d connection%s", left, "" if left == 1 else "s")
            for connection in list(self.connections):
                connection.drain_cut()
            await self._all_closed_within(LINGER_SECONDS + 0.5, hurry)

    async def _all_closed_within(self, seconds: float, hurry: asyncio.Event) -> bool:
        if not self.connections:
            return True
        self.all_closed.clear()
        waiters = {
            asyncio.ensure_future(self.all_closed.wait()),
            asyncio.ensure_future(hurry.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return not self.connections

    async def stop(self) -> None:
        """Stop accepting, then drop every live connection."""
        for listener in self.listeners:
            if listener.server is not None:
                listener.server.close()
        self.daemon.close()
        self.spares.close()
        for connection in list(self.connections):
            connection.abort()
        for _ in range(3):  # let the aborted connections report their last exchange
            await asyncio.sleep(0)
        for listener in self.listeners:
            if listener.server is not None:
                await listener.server.wait_closed()
                listener.server = None
            if listener.kind == "unix" and listener.path is not None:
                listener.path.unlink(missing_ok=True)
        threads, self.handshake_threads = self.handshake_threads, None
        if threads is not None:
            threads.close()


TRIM_AFTER_CLOSED = 256  # connections closed before the heap is trimmed...
TRIM_DELAY = 1.0  # ...at most once a second


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_free_memory() -> None:
    """Give free heap pages back to the system (glibc's ``malloc_trim``; elsewhere nothing)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def load_policy(config: GatewayConfig) -> Policy:
    """The policy the config names, or ``AdminPolicy`` when it names none."""
    if config.policy is None:
        return AdminPolicy()
    return RolePolicy(load_policy_config(config.policy), upstream_socket=str(config.upstream))


def socket_answers(path: Path) -> bool:
    """Whether a process accepts connections on the unix socket ``path`` now."""
    return _socket_answers(path)


def _socket_answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _os_reason(err: OSError) -> str:
    if err.errno == errno.EADDRINUSE:
        return "address already in use"
    if err.errno == errno.EACCES:
        return "permission denied"
    if err.errno == errno.EADDRNOTAVAIL:
        return "address not available on this host"
    return err.strerror or str(err)
