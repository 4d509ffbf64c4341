"""`make bench`'s "new mTLS conn/s" row alone: dockerd's native TLS against dockward builds.

The same private dockerd (its own mutual-TLS listener) and the same clients as ``bench.run``'s
connect row (``CONNECT``: 4 processes, a full mutual-TLS handshake and one ``GET /_ping`` per
connection), against native TLS and one ``dockward serve`` per ``--build NAME=SRC`` in front of
the daemon's unix socket, rotated each repeat. It prints, per target, the median rate, its ratio
to native in the same repeat (median over repeats), and the CPU per connection of the gateway
and dockerd (``/proc``) and of the load generator's processes. ``--handshake-threads NAME=N``
sets ``tls.handshake_threads`` for one build (the same sources named twice compare thread
counts).

Usage: ``python -m bench.connect_rate --build prev=/work/wt-prev/src --build new=src``
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench import loadgen  # noqa: E402
from bench.loadgen import Target  # noqa: E402
from bench.run import CONNECT  # noqa: E402
from support.dockerd import DockerDaemon  # noqa: E402
from support.gateway import GatewayProcess, TestPKI, server_tls  # noqa: E402
from support.waiting import free_port  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.connect_rate", description=__doc__)
    parser.add_argument("--build", action="append", default=[], metavar="NAME=SRC")
    parser.add_argument("--handshake-threads", action="append", default=[], metavar="NAME=N")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--duration", type=float, default=4.0)
    args = parser.parse_args(argv)
    builds = [item.split("=", 1) for item in args.build] or [["this", str(ROOT / "src")]]
    threads = dict(item.split("=", 1) for item in args.handshake_threads)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dw-connect-")))
        pki = TestPKI(tmp / "pki")
        bundle = pki.client("admin")
        port = free_port()
        daemon = DockerDaemon(
            tls_listen=("127.0.0.1", port),
            tls_ca=pki.ca_bundle,
            tls_cert=pki.server_cert,
            tls_key=pki.server_key,
        )
        stack.enter_context(daemon)
        targets: dict[str, Target] = {"native": Target("native", port=port, bundle=bundle)}
        pids: dict[str, int] = {}
        for name, source in builds:
            tls: dict[str, Any] | None = None
            if name in threads:
                tls = server_tls(pki, handshake_threads=int(threads[name]))
            gateway = GatewayProcess(
                pki,
                daemon.socket_path,
                tls=tls,
                environment={"PYTHONPATH": str(Path(source).resolve())},
            )
            stack.callback(shutil.rmtree, gateway.dir, ignore_errors=True)
            stack.enter_context(gateway)
            assert gateway.process is not None
            pids[name] = gateway.process.pid
            targets[name] = Target(name, port=gateway.port, bundle=bundle)
        names = list(targets)
        rates: dict[str, list[float]] = {name: [] for name in names}
        ratios: dict[str, list[float]] = {name: [] for name in names}
        costs: dict[str, list[float]] = {name: [] for name in names}
        clients: dict[str, list[float]] = {name: [] for name in names}
        daemons: dict[str, list[float]] = {name: [] for name in names}
        assert daemon.process is not None
        for rep in range(args.repeats):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            this: dict[str, float] = {}
            for name in order:
                watch = {"dockerd": [daemon.process.pid]}
                if name in pids:
                    watch["server"] = [pids[name]]
                result = loadgen.run_load(
                    targets[name],
                    mode="connect",
                    path="/_ping",
                    warmup_s=0.5,
                    duration_s=args.duration,
                    watch=watch,
                    **CONNECT,
                )
                if result.errors or not result.completed:
                    raise SystemExit(f"{name}: {result.errors} errors")
                this[name] = result.rate
                clients[name].append(result.generator_cpu_s / result.completed * 1e6)
                daemons[name].append(result.watched_cpu_s["dockerd"] / result.completed * 1e6)
                rates[name].append(result.rate)
                if name in pids:
                    costs[name].append(result.watched_cpu_s["server"] / result.completed * 1e6)
            for name in names:
                ratios[name].append(this[name] / this["native"])
            line = "  ".join(f"{n} {this[n]:.0f}/s" for n in names)
            print(f"repeat {rep + 1}/{args.repeats}: {line}", file=sys.stderr, flush=True)
        print(f"new mutual-TLS connections, medians of {args.repeats} repeats, order rotated")
        print("CPU µs per connection: the gateway's, dockerd's (with containerd) and the clients'")
        print(
            f"{'target':10} {'conn/s':>8} {'× native':>9} {'gateway':>8} {'dockerd':>8} "
            f"{'clients':>8}  ratios per repeat"
        )
        for name in names:
            cost = f"{statistics.median(costs[name]):8.0f}" if costs[name] else f"{'—':>8}"
            each = " ".join(f"{r:.2f}" for r in ratios[name])
            print(
                f"{name:10} {statistics.median(rates[name]):8.0f} "
                f"{statistics.median(ratios[name]):8.2f}× {cost} "
                f"{statistics.median(daemons[name]):8.0f} {statistics.median(clients[name]):8.0f}"
                f"  [{each}]"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
