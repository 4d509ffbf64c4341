"""`make bench`: dockward against the direct unix socket and dockerd's native TLS, in one run.

It starts a private dockerd (the test harness's) with its own mutual-TLS listener, a dockward
gateway in front of the same daemon's unix socket, and measures the three paths with the same
clients in the same run:

* keep-alive ``GET /_ping`` and ``GET /containers/json`` on 8 connections (requests/s, p50, p99);
* new connections per second (full mutual-TLS handshake and one ``GET /_ping`` each);
* ``docker save`` of a 1 GiB image and a 500 MiB ``docker exec`` output stream, with the real CLI;
* dockward's resident memory before and at its peak during those transfers;
* keep-alive ``GET /_ping`` through dockward with the SQLite audit store off and on
  (``bench.audit_store``), alternated: the store's cost, within 5 % is the target.

It prints one table with ratios to native TLS and PASS/MISS against the targets, plus where the
CPU went. ``--quick`` is a smoke run with small sizes and short rows; ``--json FILE`` also writes
every number. ``--also-tls-backend NAME`` (repeatable) adds a second dockward gateway on that TLS
backend (``DOCKWARD_TLS_BACKEND``), measured on every row beside the first, which runs the
default backend: old and new record layer in the same run. Everything it starts (daemon,
gateways, temporary files) goes away on exit, including Ctrl-C and SIGTERM.

Usage: ``.venv/bin/python -m bench.run [--quick] [--json FILE]`` from the repository root.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from rich.console import Console  # noqa: E402

from bench import (  # noqa: E402
    audit_store,
    loadgen,
    peers,
    policy_bench,
    procstat,
    report,
    tenancy_bench,
    transfers,
)
from bench.loadgen import Target  # noqa: E402
from dockward.tls import bundled  # noqa: E402
from dockward.tls.context import BACKEND_VARIABLE, TLSBackend, selected_backend  # noqa: E402
from support.dockerd import DockerDaemon, find_docker_cli  # noqa: E402
from support.gateway import GatewayProcess, TestPKI  # noqa: E402
from support.images import build_busybox_image, make_big_image  # noqa: E402
from support.waiting import free_port  # noqa: E402

BIG_TAG = "dockward-bench/big:latest"
EXEC_CONTAINER = "dockward-bench-exec"
MIB = 1 << 20

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "image_mb": 1024,
        "exec_mb": 500,
        "warmup_s": 0.5,
        "duration_s": 5.0,
        "load_repeats": 3,
        "repeats": 5,
    },
    "quick": {
        "image_mb": 100,
        "exec_mb": 50,
        "warmup_s": 0.3,
        "duration_s": 1.0,
        "load_repeats": 1,
        "repeats": 1,
    },
}
KEEPALIVE = {"processes": 2, "connections_per_process": 4}  # 8 connections
CONNECT = {"processes": 4, "connections_per_process": 1}  # 4 handshakes in parallel

console = Console(stderr=True, highlight=False)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _size_label(mib: int) -> str:
    return f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"


def _step(text: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}", soft_wrap=True)


class Bench:
    """The daemon, the gateway, the three paths and the runs against them."""

    def __init__(
        self,
        stack: contextlib.ExitStack,
        options: dict[str, Any],
        extra_backends: list[TLSBackend] | None = None,
    ) -> None:
        self.options = options
        self.tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dw-bench-")))
        self.pki = TestPKI(self.tmp / "pki")
        self.bundle = self.pki.client("admin")
        port = free_port()
        _step("starting a private dockerd with its native mutual-TLS listener")
        self.daemon = DockerDaemon(
            tls_listen=("127.0.0.1", port),
            tls_ca=self.pki.ca_bundle,
            tls_cert=self.pki.server_cert,
            tls_key=self.pki.server_key,
        )
        stack.enter_context(self.daemon)
        _step(f"dockerd up in {self.daemon.start_seconds:.1f}s; starting dockward")
        self.gateway = GatewayProcess(self.pki, self.daemon.socket_path)
        stack.callback(shutil.rmtree, self.gateway.dir, ignore_errors=True)
        stack.enter_context(self.gateway)
        # the same gateway with the SQLite audit store on, for the store's row (its cost)
        self.audited = GatewayProcess(
            self.pki,
            self.daemon.socket_path,
            extra={"audit": {"database": str(self.tmp / "audit.sqlite3")}},
        )
        stack.callback(shutil.rmtree, self.audited.dir, ignore_errors=True)
        stack.enter_context(self.audited)
        assert self.gateway.process is not None
        self.gateway_pid = self.gateway.process.pid
        self.relay_pids = {"dockward": self.gateway_pid}  # paths with a process of their own
        self.targets = {
            "unix": Target("unix", unix_path=self.daemon.socket_path),
            "native": Target("native", port=port, bundle=self.bundle),
            "dockward": Target("dockward", port=self.gateway.port, bundle=self.bundle),
        }
        self.backends = {"dockward": selected_backend().value}
        self.extra_gateways: list[GatewayProcess] = []
        for backend in extra_backends or []:
            name = f"dockward:{backend.value}"
            _step(f"starting a second dockward on the {backend.value} TLS backend")
            extra = GatewayProcess(
                self.pki,
                self.daemon.socket_path,
                environment={BACKEND_VARIABLE: backend.value},
            )
            stack.callback(shutil.rmtree, extra.dir, ignore_errors=True)
            stack.enter_context(extra)
            self.extra_gateways.append(extra)
            assert extra.process is not None
            self.relay_pids[name] = extra.process.pid
            self.targets[name] = Target(name, port=extra.port, bundle=self.bundle)
            self.backends[name] = backend.value
        self.peers: list[str] = []  # paths that are not dockward and may fail a transfer
        if options.get("peers", True):
            self._start_peers(stack)
        self.cli_config = self.tmp / "docker-config"
        self.cli_config.mkdir()

    def _start_peers(self, stack: contextlib.ExitStack) -> None:
        started = peers.start_haproxy(
            stack,
            self.tmp / "haproxy",
            server_cert=self.pki.server_cert,
            server_key=self.pki.server_key,
            ca_bundle=self.pki.ca_bundle,
            socket_path=self.daemon.socket_path,
        )
        if started is None:
            _step("haproxy is not installed: no HAProxy row (apt-get install haproxy adds it)")
            return
        port, pid = started
        _step(f"{peers.version()} with mutual TLS in HTTP mode on port {port}")
        self.targets["haproxy"] = Target("haproxy", port=port, bundle=self.bundle)
        self.relay_pids["haproxy"] = pid
        self.peers.append("haproxy")

    # -- processes whose CPU we count ------------------------------------------------------

    def dockerd_pids(self) -> list[int]:
        assert self.daemon.process is not None
        # the harness's own view of containerd, shims and container processes
        return [self.daemon.process.pid, *self.daemon._related_pids()]

    def watch_now(self, target: str) -> dict[str, list[int]]:
        watch = {"dockerd": self.dockerd_pids()}
        if target in self.relay_pids:
            watch[target] = [self.relay_pids[target]]
        return watch

    def watch_live(self, target: str) -> dict[str, Callable[[], list[int]]]:
        watch: dict[str, Callable[[], list[int]]] = {"dockerd": self.dockerd_pids}
        if target in self.relay_pids:
            pid = self.relay_pids[target]
            watch[target] = lambda: [pid]
        return watch

    # -- the docker CLI on each path -------------------------------------------------------

    def cli_env(self, target: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["PATH"] = self.daemon.env()["PATH"]
        env["DOCKER_CONFIG"] = str(self.cli_config)
        t = self.targets[target]
        if t.unix_path is not None:
            env["DOCKER_HOST"] = f"unix://{t.unix_path}"
        else:
            env["DOCKER_HOST"] = f"tcp://{t.host}:{t.port}"
            env["DOCKER_TLS_VERIFY"] = "1"
            env["DOCKER_CERT_PATH"] = str(self.bundle)
        return env

    # -- setup ----------------------------------------------------------------------------

    def prepare(self) -> None:
        image_mb, exec_mb = self.options["image_mb"], self.options["exec_mb"]
        _step("building the busybox image and the exec container")
        busybox = build_busybox_image(self.daemon)
        self.daemon.cli("run", "-d", "--name", EXEC_CONTAINER, busybox, "sleep", "3600", check=True)
        _step(f"importing a {_size_label(image_mb)} image of random bytes (takes a while)")
        t0 = time.perf_counter()
        make_big_image(self.daemon, image_mb, BIG_TAG)
        _step(f"image ready in {time.perf_counter() - t0:.1f}s")
        self.image_bytes = int(self.daemon.api_json("GET", f"/images/{BIG_TAG}/json")["Size"])
        self.exec_bytes = exec_mb * MIB
        for name, target in self.targets.items():  # every path answers before we time it
            ctx = loadgen.client_context(target.bundle) if target.bundle else None
            sock = loadgen.connect(target, ctx)
            try:
                sock.sendall(loadgen.request_bytes("/_ping"))
                status = loadgen.read_response(sock, bytearray())
            finally:
                sock.close()
            if status != 200:
                raise RuntimeError(f"GET /_ping via {name} answered {status}")

    def machine(self) -> dict[str, Any]:
        version = self.daemon.api_json("GET", "/version")
        info = self.daemon.api_json("GET", "/info")
        cli = subprocess.run(
            [find_docker_cli(), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        model = ""
        with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), ""
            )
        return {
            "cores": os.cpu_count(),
            "cpu": model,
            "kernel": platform.release(),
            "python": platform.python_version(),
            "openssl (python ssl)": ssl.OPENSSL_VERSION,
            "openssl (bundled)": bundled.OPENSSL_VERSION,
            "dockerd": f"{version.get('Version')} ({version.get('GoVersion')})",
            "storage driver": info.get("Driver"),
            "docker CLI": cli.removeprefix("Docker version "),
            "dockward": commit or "?",
            "peers": ", ".join(f"{n}: {peers.version()}" for n in self.peers) or "none installed",
            "dockward TLS backends": ", ".join(f"{n}: {b}" for n, b in self.backends.items()),
        }

    # -- measurements ---------------------------------------------------------------------

    def load_rows(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Each row ``load_repeats`` times per path, paths rotated; the median run by rate is
        reported (with every run's rate), so one unlucky five seconds does not decide a row."""
        o = self.options
        out: dict[str, dict[str, dict[str, Any]]] = {}
        plan = (
            ("ping", "keepalive", "/_ping", KEEPALIVE),
            ("containers", "keepalive", "/containers/json", KEEPALIVE),
            ("connect", "connect", "/_ping", CONNECT),
        )
        names = list(self.targets)
        for kind, mode, path, shape in plan:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for rep in range(o["load_repeats"]):
                for name in _rotated(names, rep):
                    result = loadgen.run_load(
                        self.targets[name],
                        mode=mode,
                        path=path,
                        warmup_s=o["warmup_s"],
                        duration_s=o["duration_s"],
                        watch=self.watch_now(name),
                        **shape,
                    )
                    s = result.summary()
                    runs[name].append(s)
                    _step(
                        f"{kind:<10} #{rep + 1} {name:<8} {s['rate_per_s']:>9,.0f}/s  "
                        f"p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms  errors {s['errors']}"
                    )
                    if s["errors"]:
                        raise RuntimeError(f"{s['errors']} non-200 answers on {kind} via {name}")
            out[kind] = {name: _median_run(r) for name, r in runs.items()}
        return out

    def transfers(self) -> tuple[dict[str, Any], dict[str, Any]]:
        o = self.options
        docker = find_docker_cli()
        save_cmd = [docker, "save", BIG_TAG]
        exec_cmd = [docker, "exec", EXEC_CONTAINER, "head", "-c", str(self.exec_bytes), "/dev/zero"]
        timeout = 600 + o["image_mb"]
        pid = self.gateway_pid
        rss_before = procstat.memory_kib(pid, "VmRSS")
        peak_reset = procstat.reset_peak_rss(pid)

        # Untimed, counted runs: warm the page cache and check that every relay (dockward, and
        # the floor relay in bench.floor) delivers every byte: one that truncates looks fast.
        # A peer that fails a check is reported broken on that row; dockward failing stops the
        # run. A peer may hang instead of failing: its checks get a deadline from the reference.
        relays = [name for name in self.targets if name not in ("unix", "native")]
        _step(f"checking byte counts (untimed): docker save via unix socket, {', '.join(relays)}")
        t0 = time.perf_counter()
        reference = transfers.counted(save_cmd, self.cli_env("unix"), timeout=timeout)
        peer_timeout = 60 + 10 * (time.perf_counter() - t0)
        broken: dict[str, dict[str, str]] = {"save": {}, "exec": {}}
        for name in relays:
            checks = (
                ("save", "docker save", save_cmd, reference),
                ("exec", "exec stream", exec_cmd, self.exec_bytes),
            )
            for kind, what, command, expected in checks:
                try:
                    got = transfers.counted(
                        command,
                        self.cli_env(name),
                        timeout=peer_timeout if name in self.peers else timeout,
                    )
                    if got != expected:
                        raise transfers.TransferError(
                            f"{what} via {name} delivered {got} bytes, expected {expected}"
                        )
                except transfers.TransferError as error:
                    if name not in self.peers:
                        raise
                    broken[kind][name] = str(error)
                    _step(f"{what} via {name} is broken: {error}")

        names = list(self.targets)
        plan = (
            ("save", "docker save", save_cmd, reference),
            ("exec", "exec stream", exec_cmd, self.exec_bytes),
        )
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            kind: {n: [] for n in names if n not in broken[kind]} for kind, *_ in plan
        }
        for rep in range(o["repeats"]):
            order = _rotated(names, rep)
            for kind, what, command, nbytes in plan:
                for name in order:
                    if name in broken[kind]:
                        continue
                    r = transfers.timed(
                        command,
                        self.cli_env(name),
                        target=name,
                        what=what,
                        nbytes=nbytes,
                        watch=self.watch_live(name),
                        timeout=timeout,
                    )
                    runs[kind][name].append(r.summary())
                    _step(
                        f"{kind} #{rep + 1}  {name:<8} {r.seconds:6.2f} s  {r.mib_per_s:7.0f} MiB/s"
                    )
        save_runs, exec_runs = runs["save"], runs["exec"]

        peak = procstat.memory_kib(pid, "VmHWM")
        rss = {
            "before_kib": rss_before,
            "peak_kib": peak,
            "peak_source": "VmHWM reset before" if peak_reset else "VmHWM since start",
            "after_kib": procstat.memory_kib(pid, "VmRSS"),
        }
        result = {
            "broken": broken,
            "save": {
                "size_label": _size_label(o["image_mb"]) + " image",
                "bytes": reference,
                "repeats": o["repeats"],
                "runs": save_runs,
                "median_seconds": {
                    n: statistics.median(r["seconds"] for r in runs)
                    for n, runs in save_runs.items()
                },
            },
            "exec": {
                "size_label": _size_label(o["exec_mb"]),
                "bytes": self.exec_bytes,
                "repeats": o["repeats"],
                "runs": exec_runs,
                "median_mib_per_s": {
                    n: statistics.median(r["mib_per_s"] for r in runs)
                    for n, runs in exec_runs.items()
                },
            },
        }
        return result, rss

    def run(self, mode: str) -> dict[str, Any]:
        self.prepare()
        results: dict[str, Any] = {"mode": mode, "options": self.options}
        results["machine"] = self.machine()
        results["generator"] = (
            f"bench.loadgen, keep-alive {KEEPALIVE['processes']} processes × "
            f"{KEEPALIVE['connections_per_process']} blocking connections, connect "
            f"{CONNECT['processes']} processes; {self.options['warmup_s']:g}s warm-up + "
            f"{self.options['duration_s']:g}s per row, {self.options['load_repeats']} run(s) per "
            "path in rotated order, the median run shown"
        )
        results["load"] = self.load_rows()
        results["audit_store"] = audit_store.compare(
            {"store off": self.gateway, "store on": self.audited},
            self.bundle,
            duration=self.options["duration_s"],
            repeats=max(3, self.options["load_repeats"]),
            warmup=self.options["warmup_s"],
            say=_step,
        )
        results["machine"]["tls"] = {n: r["tls"] for n, r in results["load"]["ping"].items()}
        results["transfers"], results["rss"] = self.transfers()
        _step("policy decision micro-benchmark (container create under a baseline role)")
        results["policy_decision"] = policy_bench.measure()
        _step("tenancy micro-benchmark (a scoped create's decision, a filtered list)")
        results["tenancy"] = tenancy_bench.measure()
        logs = [gateway.log() for gateway in (self.gateway, *self.extra_gateways)]
        results["gateway_tracebacks"] = sum(log.count("Traceback") for log in logs)
        return results


def _rotated(names: list[str], rep: int) -> list[str]:
    """``names`` started ``rep`` places later: over the repeats, no path always runs last."""
    shift = rep % len(names)
    return names[shift:] + names[:shift]


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate (the lower middle one for an even count), plus all rates."""
    ranked = sorted(runs, key=lambda r: r["rate_per_s"])
    return {
        **ranked[(len(ranked) - 1) // 2],
        "repeats": len(runs),
        "rates": [r["rate_per_s"] for r in runs],
    }


def _jsonable(value: Any) -> Any:
    """NaN (no samples) becomes null; anything exotic becomes its string."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int):
        return value
    return str(value)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, 1 s rows")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the results here")
    parser.add_argument("--duration", type=float, help="seconds per load row (after warm-up)")
    parser.add_argument("--load-repeats", type=int, help="runs per load row and path (median)")
    parser.add_argument("--repeats", type=int, help="timed runs per transfer and path")
    parser.add_argument("--image-mb", type=int, help="size of the image for docker save (MiB)")
    parser.add_argument("--exec-mb", type=int, help="size of the exec stream (MiB)")
    parser.add_argument(
        "--no-peers", action="store_true", help="measure no peer (HAProxy) even if installed"
    )
    parser.add_argument(
        "--also-tls-backend",
        action="append",
        default=[],
        type=TLSBackend,
        choices=list(TLSBackend),
        metavar="{" + ",".join(b.value for b in TLSBackend) + "}",
        help="also measure a dockward gateway on this TLS backend (repeatable)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    options = dict(PROFILES[mode])
    for key, value in (
        ("duration_s", args.duration),
        ("load_repeats", args.load_repeats),
        ("repeats", args.repeats),
        ("image_mb", args.image_mb),
        ("exec_mb", args.exec_mb),
    ):
        if value is not None:
            options[key] = value
    options["peers"] = not args.no_peers
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with contextlib.ExitStack() as stack:
            bench = Bench(stack, options, args.also_tls_backend)
            results = bench.run(mode)
            _step("stopping the gateway and dockerd")
    except KeyboardInterrupt:
        console.print("[bold]interrupted[/]: everything the benchmark started has been stopped")
        return 130
    rows = report.print_report(results, Console(width=200, highlight=False))
    Console(width=200, highlight=False).print(policy_bench.describe(results["policy_decision"]))
    Console(width=200, highlight=False).print(tenancy_bench.describe(results["tenancy"]))
    Console(width=200, highlight=False).print(audit_store.describe(results["audit_store"]))
    results["rows"] = [row.as_dict() for row in rows]
    if results["gateway_tracebacks"]:
        console.print(f"[bold red]dockward logged {results['gateway_tracebacks']} traceback(s)[/]")
    if args.json is not None:
        args.json.write_text(json.dumps(_jsonable(results), indent=2) + "\n")
        console.print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
