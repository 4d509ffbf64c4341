"""How close dockward comes to the cheapest possible Python relay, on the keep-alive rows.

``make bench`` compares dockward with dockerd's own TLS. This answers a different question:
how much of the gap is dockward's own work (parsing, policy, access log, flow control), and
how much any Python relay on this machine pays (two more sockets, two more wake-ups, one more
process sharing the cores). It runs the keep-alive rows of ``make bench`` against dockerd's
native TLS, the floor relay (``bench/floor_relay.py``: decrypt, forward, encrypt, nothing else)
and dockward, in the same run, with the same load generator.

Usage: ``.venv/bin/python -m bench.floor [--duration S]`` from the repository root, as root.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import loadgen  # noqa: E402
from bench.loadgen import Target  # noqa: E402
from bench.run import KEEPALIVE, Bench  # noqa: E402
from support.images import build_busybox_image  # noqa: E402
from support.waiting import free_port, wait_for  # noqa: E402

PATHS = ("/_ping", "/containers/json")


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    description = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=description)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per row")
    args = parser.parse_args(argv)
    console = Console(width=160, highlight=False)
    with contextlib.ExitStack() as stack:
        bench = Bench(stack, {"warmup_s": 0.5, "duration_s": args.duration})  # dockerd + dockward
        pki, daemon, floor_port = bench.pki, bench.daemon, free_port()
        floor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.floor_relay",
                str(pki.server_cert),
                str(pki.server_key),
                str(pki.ca_bundle),
                daemon.socket_path,
                str(floor_port),
            ],
            cwd=ROOT,
        )
        stack.callback(floor.wait)
        stack.callback(floor.kill)
        wait_for(lambda: _accepts(floor_port), what="the floor relay to listen")
        image = build_busybox_image(daemon)
        daemon.cli("run", "-d", "--network", "none", image, "sleep", "3600", check=True)
        dockerd = bench.dockerd_pids()
        floor_target = Target("floor", port=floor_port, bundle=bench.bundle)
        paths = {
            "native": (bench.targets["native"], {}),
            "floor": (floor_target, {"relay": [floor.pid]}),
            "dockward": (bench.targets["dockward"], {"relay": [bench.gateway_pid]}),
        }
        table = Table(title="keep-alive, 8 connections: dockward against the floor relay")
        columns = ("path", "via", "req/s", "vs native", "p50 ms", "relay µs/req", "dockerd µs/req")
        for column in columns:
            table.add_column(column, justify="left" if column in ("path", "via") else "right")
        for path in PATHS:
            native_rate = 0.0
            for name, (target, watch) in paths.items():
                time.sleep(0.5)
                result = loadgen.run_load(
                    target,
                    mode="keepalive",
                    path=path,
                    warmup_s=bench.options["warmup_s"],
                    duration_s=args.duration,
                    watch={"dockerd": dockerd, **watch},
                    **KEEPALIVE,
                )
                s = result.summary()
                done = max(1, s["completed"])
                if name == "native":
                    native_rate = s["rate_per_s"]
                relay = s["watched_cpu_s"].get("relay")
                table.add_row(
                    path,
                    name,
                    f"{s['rate_per_s']:,.0f}",
                    f"{s['rate_per_s'] / native_rate:.2f}×" if native_rate else "—",
                    f"{s['p50_ms']:.3f}",
                    "—" if relay is None else f"{relay / done * 1e6:.1f}",
                    f"{s['watched_cpu_s']['dockerd'] / done * 1e6:.1f}",
                )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
