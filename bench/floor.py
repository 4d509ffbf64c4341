"""How close dockward comes to the cheapest possible Python relay, on the same rows as make bench.

``make bench`` compares dockward with dockerd's own TLS. This answers a different question:
how much of the gap is dockward's own work (parsing, policy, access log, flow control), and
how much any Python relay on this machine pays (two more sockets, two more wake-ups, one more
process sharing the cores). It runs the keep-alive rows and the ``docker save`` and exec
transfers of ``make bench`` against dockerd's native TLS, the floor relay
(``bench/floor_relay.py``: decrypt, forward, encrypt, nothing else) and dockward, in the same
run, with the same clients.

With ``--baseline SRC`` a second dockward, imported from the source tree ``SRC`` (say a worktree
of the commit before a change: ``--baseline ../base/src``), runs beside this one as
``dockward-base``, so a change is measured against the code before it in the same run: just
before it, or just after it with ``--baseline-last``. The targets run one after the other in a
fixed order, and dockerd's CPU per ``/containers/json`` request has been seen to creep up through
a run, so alternate the two orders between runs and compare medians.

Usage: ``.venv/bin/python -m bench.floor [--duration S] [--keepalive-only | --transfers-only]
[--quick] [--repeats N] [--image-mb MIB] [--exec-mb MIB] [--baseline SRC [--baseline-last]]``
from the repository root, as root."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
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
from bench.run import KEEPALIVE, PROFILES, Bench  # noqa: E402
from support.gateway import GatewayProcess  # noqa: E402
from support.images import build_busybox_image  # noqa: E402
from support.waiting import free_port, wait_for  # noqa: E402

PATHS = ("/_ping", "/containers/json")


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def _keepalive_rows(bench: Bench, paths: dict[str, Target], table: Table, duration: float) -> None:
    for path in PATHS:
        native_rate = 0.0
        for name, target in paths.items():
            time.sleep(0.5)
            result = loadgen.run_load(
                target,
                mode="keepalive",
                path=path,
                warmup_s=bench.options["warmup_s"],
                duration_s=duration,
                watch=bench.watch_now(name),
                **KEEPALIVE,
            )
            s = result.summary()
            done = max(1, s["completed"])
            if name == "native":
                native_rate = s["rate_per_s"]
            relay = s["watched_cpu_s"].get(name)
            table.add_row(
                f"GET {path} keep-alive",
                name,
                f"{s['rate_per_s']:,.0f} req/s",
                f"{s['rate_per_s'] / native_rate:.2f}×" if native_rate else "—",
                f"p50 {s['p50_ms']:.3f} ms",
                "—" if relay is None else f"{relay / done * 1e6:.1f} µs/req",
                f"{s['watched_cpu_s']['dockerd'] / done * 1e6:.1f} µs/req",
            )


def _transfer_rows(bench: Bench, paths: dict[str, Target], table: Table) -> None:
    results, _rss = bench.transfers()
    for kind in ("save", "exec"):
        runs = results[kind]["runs"]
        rate = {n: statistics.median(r["mib_per_s"] for r in runs[n]) for n in runs}
        gib = results[kind]["bytes"] / (1 << 30)
        label = "docker save" if kind == "save" else "docker exec stream"
        for name in paths:
            if name in results["broken"][kind]:
                table.add_row(f"{label} {results[kind]['size_label']}", name, "broken")
                continue
            relay = [r["watched_cpu_s"].get(name) for r in runs[name]]
            dockerd = statistics.median(r["watched_cpu_s"]["dockerd"] for r in runs[name]) / gib
            table.add_row(
                f"{label} {results[kind]['size_label']}",
                name,
                f"{rate[name]:,.0f} MiB/s",
                f"{rate[name] / rate['native']:.2f}×",
                f"median of {len(runs[name])}",
                "—"
                if None in relay
                else f"{statistics.median(relay) / gib:.2f} s/GiB (min {min(relay) / gib:.2f})",
                f"{dockerd:.2f} s/GiB",
            )


def _baseline_gateway(stack: contextlib.ExitStack, bench: Bench, source: Path) -> GatewayProcess:
    """A second gateway like the bench's own, importing dockward from ``source``."""
    if not (source / "dockward" / "__init__.py").is_file():
        raise SystemExit(f"--baseline {source}: no dockward package there")
    gateway = GatewayProcess(bench.pki, bench.daemon.socket_path)
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(source)  # the child imports the baseline's dockward
    try:
        stack.enter_context(gateway)
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
    return gateway


def main(argv: list[str] | None = None) -> int:
    description = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=description)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per keep-alive row")
    parser.add_argument(
        "--keepalive-only", action="store_true", help="skip the docker save and exec transfers"
    )
    parser.add_argument("--quick", action="store_true", help="small transfers, one run each")
    parser.add_argument("--transfers-only", action="store_true", help="skip the keep-alive rows")
    parser.add_argument("--repeats", type=int, help="timed runs per transfer and path")
    parser.add_argument("--image-mb", type=int, help="size of the image for docker save (MiB)")
    parser.add_argument("--exec-mb", type=int, help="size of the exec stream (MiB)")
    parser.add_argument(
        "--baseline", type=Path, help="also run the dockward found in this source tree"
    )
    parser.add_argument(
        "--baseline-last",
        action="store_true",
        help="run the --baseline build after this one (dockerd's CPU per /containers/json "
        "request creeps up through a run, so the build measured last is at a disadvantage: "
        "swap the order between runs)",
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="measure no peer (HAProxy) even if installed"
    )
    args = parser.parse_args(argv)
    console = Console(width=160, highlight=False)
    options = {
        **PROFILES["quick" if args.quick else "full"],
        "duration_s": args.duration,
        "peers": not args.no_peers,
    }
    for key, value in (
        ("repeats", args.repeats),
        ("image_mb", args.image_mb),
        ("exec_mb", args.exec_mb),
    ):
        if value is not None:
            options[key] = value
    with contextlib.ExitStack() as stack:
        bench = Bench(stack, options)  # dockerd (with its native TLS) + dockward
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
        bench.targets["floor"] = Target("floor", port=floor_port, bundle=bench.bundle)
        bench.relay_pids["floor"] = floor.pid
        names = ["native", "floor", *bench.peers, "dockward"]
        if args.baseline is not None:
            base = _baseline_gateway(stack, bench, args.baseline.resolve())
            bench.targets["dockward-base"] = Target(
                "dockward-base", port=base.port, bundle=bench.bundle
            )
            assert base.process is not None
            bench.relay_pids["dockward-base"] = base.process.pid
            names.insert(len(names) if args.baseline_last else 2, "dockward-base")
        if args.keepalive_only:
            image = build_busybox_image(daemon)
            daemon.cli("run", "-d", "--network", "none", image, "sleep", "3600", check=True)
        else:
            bench.prepare()  # also the big image and the exec container
        paths = {name: bench.targets[name] for name in names}
        table = Table(title="dockward against the floor relay (same run, same clients)")
        columns = ("row", "via", "rate", "vs native", "", "relay CPU", "dockerd CPU")
        for column in columns:
            table.add_column(column, justify="left" if column in ("row", "via") else "right")
        if not args.transfers_only:
            _keepalive_rows(bench, paths, table, args.duration)
        if not args.keepalive_only:
            _transfer_rows(bench, paths, table)
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
