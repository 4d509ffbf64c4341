"""Run a gateway in the foreground until SIGINT/SIGTERM: event loop, logging, observers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from dockward.audit.sinks import open_sink
from dockward.audit.store import AuditStore
from dockward.config import AuditConfig, GatewayConfig
from dockward.gateway.admin import start_admin
from dockward.gateway.renewal import auto_renew
from dockward.gateway.server import Gateway
from dockward.gateway.systemd import notify

log = logging.getLogger("dockward")
WATCH_INTERVAL = 1.0
# While the TLS material in force did not verify (a CRL that does not match the bundle, files
# caught mid-change), the watcher retries sooner: after 0.1 s, then doubling up to WATCH_INTERVAL.
RETRY_INTERVAL = 0.1


def setup_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run_gateway(config: GatewayConfig, on_ready: Callable[[Gateway], None] | None = None) -> int:
    """Serve ``config`` until a signal; ``UsageError`` escapes for startup failures (exit 2)."""
    setup_logging(config.log_level)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a pinned dependency
        runner = asyncio.run
    else:
        runner = uvloop.run
    return runner(_serve(config, on_ready))


def raise_open_file_limit(needed: int) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; warn when it stays below ``needed``
    (what the connection caps can call for). Returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        target = max(soft, _kernel_open_file_max())
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as err:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, err)
    if soft < needed:
        log.warning(
            "the open-file limit is %d, below the %d the connection caps can need (two per "
            "connection): raise it (LimitNOFILE= in the systemd unit, ulimit -n) or lower "
            "limits.connections",
            soft,
            needed,
        )
    return soft


def _kernel_open_file_max() -> int:
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return 1 << 20


def next_watch_delay(previous: float | None, settled: bool) -> float | None:
    """The watcher's next retry delay (None: back to WATCH_INTERVAL) after a reload check."""
    if settled:
        return None
    if previous is None:
        return RETRY_INTERVAL
    return min(previous * 2, WATCH_INTERVAL)


async def _watch_files(gateway: Gateway) -> None:
    """Reload what changed on disk (polling: no inotify dependency, 1 s latency)."""
    retry: float | None = None
    while True:
        await asyncio.sleep(WATCH_INTERVAL if retry is None else retry)
        gateway.reload(only_if_changed=True)
        retry = next_watch_delay(retry, gateway.credentials_settled)


def open_audit_store(audit: AuditConfig) -> AuditStore | None:
    """The audit store ``[audit]`` configures, its writer thread started; None when off."""
    if not audit.enabled:
        return None
    assert audit.database is not None
    store = AuditStore(
        audit.database,
        audit.gateway,
        on_failure=audit.on_failure,
        retention_days=audit.retention_days,
        buffer=audit.buffer,
    )
    store.start()
    log.info("audit store %s, gateway %s", store.state().database, store.gateway)
    return store


async def _serve(config: GatewayConfig, on_ready: Callable[[Gateway], None] | None) -> int:
    # The gateway reads the policy and TLS files: a bad one stops us before anything is created.
    gateway = Gateway(config)
    raise_open_file_limit(config.limits.descriptors_needed)
    access_log = open_sink(
        config.access_log, max_bytes=config.access_log_max_bytes, keep=config.access_log_keep
    )
    gateway.events.observers.append(access_log)
    audit_store = gateway.audit_store = open_audit_store(config.audit)
    if audit_store is not None:
        gateway.events.observers.append(audit_store)
    if not Path(config.upstream).exists():
        log.warning(
            "the Docker socket %s does not exist (yet): requests get 502 until it does",
            config.upstream,
        )
    admin = await start_admin(gateway)  # /metrics, /health, /ready, /status
    await gateway.start()
    stop = asyncio.Event()
    hurry = asyncio.Event()  # a second SIGTERM/SIGINT: stop draining
    loop = asyncio.get_running_loop()

    def on_stop_signal() -> None:
        if stop.is_set():
            log.info("second stop signal: closing every connection now")
            hurry.set()
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_stop_signal)

    def on_hangup() -> None:
        access_log.reopen()  # after logrotate moved it
        gateway.reload()

    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    watcher = loop.create_task(_watch_files(gateway))
    renewer = loop.create_task(auto_renew(config)) if config.auto_renew else None
    try:
        if on_ready is not None:
            on_ready(gateway)
        await stop.wait()
        notify("STOPPING=1")
        if gateway.connections:
            log.info(
                "stopping: no new connections; %d open ones may finish (up to %g s, "
                "a second signal ends them now)",
                len(gateway.connections),
                config.drain_timeout,
            )
        else:
            log.info("stopping")
        await gateway.drain(config.drain_timeout, hurry)
    finally:
        watcher.cancel()
        if renewer is not None:
            renewer.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)
        try:
            if admin is not None:
                await admin.stop()
            await gateway.stop()
        finally:
            access_log.close()
            if audit_store is not None:
                audit_store.close()
    return 0
