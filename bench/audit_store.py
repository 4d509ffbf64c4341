"""The audit store's cost: how many records a second it writes, and what it takes from the gateway.

Two measurements, each printed as a table:

* **throughput**: ``AuditStore`` fed with gateway events as fast as one thread can call it, for
  SQLite and for a private PostgreSQL (Debian's binaries, as in the tests; skipped when it is not
  installed): records written per second from the first event to the last one written, the
  time the caller (the event loop, in the gateway) spends per event, and the writer process's CPU
  per record (its start, imports and schema excluded). Target: 5,000 records/s.
* **keep-alive**: ``GET /_ping`` on 8 keep-alive connections (``bench.loadgen``, as ``make
  bench``) through two gateways in front of the same private dockerd, one without the store and
  one with the SQLite store, runs alternated; requests/s, p50, p99 and the ratio. Target: the
  store costs at most 5 %. Per request, the CPU of the gateway process and of the store's writer
  process (its CPU per request is its CPU per record).

Usage: ``.venv/bin/python -m bench.audit_store [--events N] [--duration S] [--repeats N]
[--skip-load]`` from the repository root. Everything it starts goes away on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench import loadgen  # noqa: E402
from bench.loadgen import Target  # noqa: E402
from dockward.audit.store import AuditStore  # noqa: E402
from dockward.gateway.events import ExchangeRecord, Peer  # noqa: E402
from dockward.identity import PeerIdentity  # noqa: E402
from support.dockerd import DockerDaemon  # noqa: E402
from support.gateway import GatewayProcess, TestPKI  # noqa: E402
from support.postgres import PostgresServer, find_bindir  # noqa: E402

KEEPALIVE = {"processes": 2, "connections_per_process": 4}
IDENTITY = PeerIdentity(kind="tls", common_name="ci-runner", serial=123456789)


def _events(count: int) -> list[ExchangeRecord]:
    now = time.time()
    peers = [Peer("127.0.0.1:2376", f"127.0.0.1:{40000 + n}", IDENTITY) for n in range(8)]
    return [
        ExchangeRecord(
            started=now + n * 1e-4,
            peer=peers[n % 8],  # 8 keep-alive connections
            method="POST",
            path=f"/v1.41/containers/c{n % 5}/start",
            operation="container.start",
            decision="allow",
            rule="allow container.*",
            role="ci",
            status=204,
            bytes_in=180,
            bytes_out=90,
            duration_ms=2.5,
        )
        for n in range(count)
    ]


def throughput(database: str, count: int) -> dict[str, float]:
    """Feed ``count`` events to a fresh store; records/s until all are written."""
    events = _events(count)
    store = AuditStore(database, "bench", buffer=count + 1)
    store.start()
    store(events[0])  # the writer's start (interpreter, imports, schema) is not per record
    if not store.drain(60):
        raise RuntimeError(f"the store did not start: {store.state()}")
    cpu_before = store.state().writer_cpu
    events = events[1:]
    count -= 1
    started = time.perf_counter()
    for event in events:
        store(event)
    fed = time.perf_counter() - started
    if not store.drain(120):
        raise RuntimeError(f"the store did not drain: {store.state()}")
    elapsed = time.perf_counter() - started
    cpu = store.state().writer_cpu - cpu_before
    store.close()
    return {
        "records_per_s": count / elapsed,
        "caller_ns_per_event": fed / count * 1e9,
        "writer_us_per_record": cpu / count * 1e6,
        "seconds": elapsed,
    }


def compare(
    gateways: dict[str, GatewayProcess],
    bundle: Path,
    *,
    duration: float,
    repeats: int,
    warmup: float = 0.5,
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> dict[str, dict[str, Any]]:
    """Keep-alive ``GET /_ping`` through each gateway, runs alternated; medians per gateway."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in gateways}
    names = list(gateways)
    for rep in range(repeats):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            gateway = gateways[name]
            assert gateway.process is not None
            pid = gateway.process.pid
            watch = {"gateway": [pid], "writer": _children(pid)}
            result = loadgen.run_load(
                Target(name, port=gateway.port, bundle=bundle),
                mode="keepalive",
                path="/_ping",
                warmup_s=warmup,
                duration_s=duration,
                watch=watch,
                **KEEPALIVE,
            )
            summary = result.summary()
            if summary["errors"]:
                raise RuntimeError(f"{summary['errors']} errors via {name}")
            # the gateway's CPU (its writer thread included) per request: what the store costs,
            # less disturbed than the rate by whatever else the machine runs
            summary["cpu_us"] = summary["watched_cpu_s"]["gateway"] / summary["completed"] * 1e6
            # the writer process (store on): its CPU per request is its CPU per record
            summary["writer_us"] = summary["watched_cpu_s"]["writer"] / summary["completed"] * 1e6
            runs[name].append(summary)
            say(
                f"audit store: #{rep + 1} {name:<9} {summary['rate_per_s']:>9,.0f}/s  "
                f"p50 {summary['p50_ms']:.3f} ms  p99 {summary['p99_ms']:.3f} ms  "
                f"gateway CPU {summary['cpu_us']:.1f} µs/request, "
                f"writer {summary['writer_us']:.1f}"
            )
    return {
        name: {
            "rate_per_s": statistics.median(r["rate_per_s"] for r in results),
            "p50_ms": statistics.median(r["p50_ms"] for r in results),
            "p99_ms": statistics.median(r["p99_ms"] for r in results),
            "cpu_us": statistics.median(r["cpu_us"] for r in results),
            "writer_us": statistics.median(r["writer_us"] for r in results),
            "rates": [round(r["rate_per_s"]) for r in results],
        }
        for name, results in runs.items()
    }


def describe(load: dict[str, dict[str, Any]]) -> str:
    """The comparison as a Markdown table and a verdict line (store on within 5 % of off)."""
    off, on = load["store off"], load["store on"]
    lines = [
        "| /_ping keep-alive | rps (median) | p50 ms | p99 ms | gateway CPU µs/request "
        "| writer CPU µs/request | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("store off", "store on"):
        row = load[name]
        lines.append(
            f"| audit {name} | {row['rate_per_s']:,.0f} | {row['p50_ms']:.3f} | "
            f"{row['p99_ms']:.3f} | {row['cpu_us']:.1f} | {row['writer_us']:.1f} | "
            f"{', '.join(f'{r:,}' for r in row['rates'])} |"
        )
    ratio = on["rate_per_s"] / off["rate_per_s"]
    verdict = "PASS" if ratio >= 0.95 else "MISS"
    lines.append(
        f"audit store on / off: rate {ratio:.3f} ({verdict}: within 5 %), gateway CPU per "
        f"request {on['cpu_us'] / off['cpu_us']:.3f} (+{on['cpu_us'] - off['cpu_us']:.1f} µs), "
        f"with the writer process {(on['cpu_us'] + on['writer_us']) / off['cpu_us']:.3f}"
    )
    return "\n".join(lines)


def keepalive(duration: float, repeats: int) -> tuple[dict[str, dict[str, Any]], int]:
    """Its own dockerd and two gateways, store off and on; the comparison and records written."""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dw-bench-audit-")))
        pki = TestPKI(tmp / "pki")
        daemon = stack.enter_context(DockerDaemon())
        database = tmp / "audit.sqlite3"
        gateways = {
            "store off": GatewayProcess(pki, daemon.socket_path),
            "store on": GatewayProcess(
                pki, daemon.socket_path, extra={"audit": {"database": str(database)}}
            ),
        }
        for gateway in gateways.values():
            stack.callback(shutil.rmtree, gateway.dir, ignore_errors=True)
            stack.enter_context(gateway)
        load = compare(gateways, pki.client("admin"), duration=duration, repeats=repeats)
        return load, _count(database)


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started and that still run (the audit store's writer)."""
    children: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):  # each thread lists the ones it started
        with open(f"/proc/{pid}/task/{task}/children") as listing:
            children.extend(int(child) for child in listing.read().split())
    return children


def _count(path: Path) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM audit_record").fetchone()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_store")
    parser.add_argument("--events", type=int, default=50_000, help="events per throughput run")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per keep-alive run")
    parser.add_argument("--repeats", type=int, default=3, help="keep-alive runs per gateway")
    parser.add_argument("--skip-load", action="store_true", help="throughput only")
    options = parser.parse_args(argv)

    print(f"throughput: {options.events:,} events fed from one thread", file=sys.stderr)
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="dw-bench-audit-") as tmp:
        rows.append(("SQLite (WAL)", throughput(str(Path(tmp) / "audit.sqlite3"), options.events)))
        if find_bindir() is not None:
            with PostgresServer(Path(tmp) / "postgres") as server:
                rows.append(
                    ("PostgreSQL", throughput(server.create_database("bench"), options.events))
                )
    print("\n| store | records/s | caller ns/event | writer CPU µs/record | PASS ≥ 5,000/s |")
    print("|---|---|---|---|---|")
    for name, row in rows:
        verdict = "PASS" if row["records_per_s"] >= 5000 else "MISS"
        print(
            f"| {name} | {row['records_per_s']:,.0f} | {row['caller_ns_per_event']:,.0f} | "
            f"{row['writer_us_per_record']:.1f} | {verdict} |"
        )
    if options.skip_load:
        return 0
    print(
        f"\nkeep-alive GET /_ping, 8 connections, {options.repeats} × {options.duration:g}s",
        file=sys.stderr,
    )
    load, written = keepalive(options.duration, options.repeats)
    print()
    print(describe(load))
    print(f"{written:,} records written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
