"""The gateway's own CPU per keep-alive request and per new connection, old build against new.

No dockerd: ``bench.fake_daemon`` answers ``/_ping`` and ``/containers/json`` with dockerd's
heads, so the CPU on the two cores goes to the load generator and the gateways. Each build named
with ``--build NAME=SRC`` runs as its own ``dockward serve`` importing dockward from ``SRC`` (a
worktree's ``src``), with the same certificates, access log on and no policy (admin), as ``make
bench`` runs it; ``--floor`` adds the do-nothing relay (``bench.floor_relay``). The rows of
``bench.loadgen`` (keep-alive ``/_ping`` and ``/containers/json``, new mutual-TLS connections)
run against every target in turn, the order rotated each round, and the medians over the rounds
are printed: requests (or connections) per second, and the server's CPU per request from
``/proc`` (user + system) over the counted window. CPU per request is what a change moves; the
rate follows it only on a quiet machine.

``--handshake-threads NAME=N`` sets ``tls.handshake_threads`` for one build (the same sources
named twice compare thread counts).

Usage: ``python -m bench.gateway_cost --build prev=/work/wt-prev/src --build new=src --floor``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.loadgen import Target, run_load

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support.gateway import GatewayProcess, TestPKI, server_tls  # noqa: E402
from support.waiting import wait_for  # noqa: E402

ROWS = {
    "ping": ("keepalive", "/v1.41/_ping"),
    "list": ("keepalive", "/v1.41/containers/json"),
    "connect": ("connect", "/v1.41/_ping"),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def _start(stack: contextlib.ExitStack, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env})
    stack.callback(process.wait)
    stack.callback(process.terminate)
    return process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_cost", description=__doc__)
    parser.add_argument("--build", action="append", default=[], metavar="NAME=SRC")
    parser.add_argument("--floor", action="store_true", help="also run bench.floor_relay")
    parser.add_argument(
        "--handshake-threads",
        action="append",
        default=[],
        metavar="NAME=N",
        help="tls.handshake_threads for build NAME (builds that have the setting)",
    )
    parser.add_argument("--rows", default="ping,list,connect")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4, help="per process (keep-alive)")
    args = parser.parse_args(argv)
    rows = [row.strip() for row in args.rows.split(",") if row.strip()]
    builds = [item.split("=", 1) for item in args.build] or [["this", str(ROOT / "src")]]
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dw-cost-")))
        pki = TestPKI(scratch / "pki")
        bundle = pki.client("admin")
        daemon = str(scratch / "fake-docker.sock")
        _start(stack, [sys.executable, "-m", "bench.fake_daemon", daemon], {})
        wait_for(lambda: os.path.exists(daemon), what="the fake daemon to listen")
        targets: dict[str, tuple[Target, int]] = {}
        threads = dict(item.split("=", 1) for item in args.handshake_threads)
        for name, source in builds:
            tls = None
            if name in threads:
                tls = server_tls(pki, handshake_threads=int(threads[name]))
            gateway = GatewayProcess(
                pki, daemon, tls=tls, environment={"PYTHONPATH": str(Path(source).resolve())}
            )
            stack.enter_context(gateway)
            assert gateway.process is not None
            targets[name] = (Target(name, port=gateway.port, bundle=bundle), gateway.process.pid)
        if args.floor:
            port = _free_port()
            floor = _start(
                stack,
                [
                    sys.executable,
                    "-m",
                    "bench.floor_relay",
                    str(pki.server_cert),
                    str(pki.server_key),
                    str(pki.ca_bundle),
                    daemon,
                    str(port),
                ],
                {"PYTHONPATH": str(Path(builds[0][1]).resolve())},
            )
            wait_for(lambda: _accepts(port), what="the floor relay to listen")
            targets["floor"] = (Target("floor", port=port, bundle=bundle), floor.pid)
        names = list(targets)
        rates: dict[tuple[str, str], list[float]] = {}
        costs: dict[tuple[str, str], list[float]] = {}
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for row in rows:
                mode, path = ROWS[row]
                for name in order:
                    target, pid = targets[name]
                    result = run_load(
                        target,
                        mode=mode,
                        path=path,
                        processes=args.processes if mode == "keepalive" else 2 * args.processes,
                        connections_per_process=args.connections,
                        warmup_s=0.5,
                        duration_s=args.duration,
                        watch={"server": [pid]},
                    )
                    if result.errors or not result.completed:
                        raise SystemExit(f"{name} {row}: {result.errors} errors")
                    rates.setdefault((row, name), []).append(result.rate)
                    cpu = result.watched_cpu_s["server"] / result.completed * 1e6
                    costs.setdefault((row, name), []).append(cpu)
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
            time.sleep(0.2)
        print(f"medians of {args.rounds} rounds, {args.duration:g} s each, order rotated")
        print(f"{'row':8} {'target':10} {'rate/s':>9} {'CPU µs':>8}  CPU µs per round")
        for row in rows:
            base = statistics.median(costs[(row, names[0])])
            for name in names:
                rate = statistics.median(rates[(row, name)])
                cpu = statistics.median(costs[(row, name)])
                each = " ".join(f"{c:.0f}" for c in costs[(row, name)])
                print(f"{row:8} {name:10} {rate:9.0f} {cpu:8.1f}  ({cpu / base:.2f}×) [{each}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
