"""The benchmark's tables: results per path, ratios to dockerd's native TLS, targets met or missed.

Every ratio is "how well this path does relative to native TLS, higher is better": requests or
connections per second divided by native's, MiB/s divided by native's, and for ``docker save``
native's seconds divided by this path's (a throughput ratio). Latencies are shown as a difference
in milliseconds instead. The targets are the issue's:

* keep-alive requests/s >= 0.5x native TLS, and p50 no more than 0.2 ms above native's;
* ``docker save`` and exec stream throughput >= 0.9x native TLS;
* dockward's peak RSS during the big transfers < 80 MiB.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

TARGETS = ("unix", "native", "dockward")
LABELS = {"unix": "unix socket", "native": "dockerd native TLS", "dockward": "dockward"}


def label(name: str) -> str:
    """A path's column title; a second gateway ``dockward:BACKEND`` is "dockward BACKEND"."""
    return LABELS.get(name) or name.replace(":", " ")


def paths(results: dict[str, Any]) -> list[str]:
    """The measured paths: the three of every run, then any further gateways (other backends)."""
    extra = [name for name in results["load"]["ping"] if name not in TARGETS]
    return [*TARGETS, *extra]


RPS_RATIO = 0.5
P50_SLACK_MS = 0.2
TRANSFER_RATIO = 0.9
PEAK_RSS_MIB = 80.0


@dataclass
class Row:
    metric: str
    values: dict[str, float | None]
    unit_fmt: Callable[[float], str]
    ratio: Callable[[float, float], float] | None = None  # (value, native) -> ratio
    delta: bool = False  # show value - native in ms instead of a ratio
    target: str = "—"
    check: Callable[[float, float], bool] | None = None  # (dockward, native) -> met?
    note: dict[str, str] | None = None  # per-path suffix, e.g. "(plain)"
    ratio_na: tuple[str, ...] = ()  # paths whose ratio is meaningless
    broken: tuple[str, ...] = ()  # peers that could not carry this transfer

    def cell(self, name: str) -> str:
        value = self.values.get(name)
        if name in self.broken:
            return "broken"
        if value is None or math.isnan(value):
            return "—"
        suffix = (self.note or {}).get(name, "")
        return self.unit_fmt(value) + (f" {suffix}" if suffix else "")

    def compare(self, name: str) -> str:
        value, native = self.values.get(name), self.values.get("native")
        if name in self.broken:
            return "broken"
        if name in self.ratio_na or value is None or native is None:
            return "n/a"
        if self.delta:
            return f"{value - native:+.3f} ms"
        if self.ratio is None:
            return "—"
        return f"{self.ratio(value, native):.2f}×"

    def verdict(self) -> str:
        value, native = self.values.get("dockward"), self.values.get("native")
        if self.check is None:
            return ""
        if value is None or (native is None and "native" in self.values):
            return "n/a"
        return "PASS" if self.check(value, native if native is not None else 0.0) else "MISS"

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "values": self.values,
            "vs_native": {n: self.compare(n) for n in self.values if n != "native"},
            "target": self.target,
            "result": self.verdict(),
        }


def _higher(value: float, native: float) -> float:
    return value / native if native else float("nan")


def _lower(value: float, native: float) -> float:
    return native / value if value else float("nan")


def build_rows(results: dict[str, Any]) -> list[Row]:
    load, transfers, rss = results["load"], results["transfers"], results["rss"]
    names = paths(results)

    def load_values(kind: str, key: str) -> dict[str, float | None]:
        return {n: load[kind][n][key] if n in load[kind] else None for n in names}

    rows: list[Row] = []
    for kind, label in (("ping", "GET /_ping"), ("containers", "GET /containers/json")):
        conns = load[kind]["dockward"]["connections"]
        runs = load[kind]["dockward"].get("repeats", 1)
        median = f", median of {runs}" if runs > 1 else ""
        rows.append(
            Row(
                f"{label} keep-alive, {conns} conns: req/s{median}",
                load_values(kind, "rate_per_s"),
                lambda v: f"{v:,.0f}",
                ratio=_higher,
                target=f"≥ {RPS_RATIO:.1f}× native",
                check=lambda d, n: d >= RPS_RATIO * n,
            )
        )
        rows.append(
            Row(
                f"{label} p50 latency (ms)",
                load_values(kind, "p50_ms"),
                lambda v: f"{v:.3f}",
                delta=True,
                target=f"≤ native + {P50_SLACK_MS:.1f} ms",
                check=lambda d, n: d <= n + P50_SLACK_MS,
            )
        )
        rows.append(
            Row(
                f"{label} p99 latency (ms)",
                load_values(kind, "p99_ms"),
                lambda v: f"{v:.3f}",
                delta=True,
            )
        )
    conns = load["connect"]["dockward"]["connections"]
    rows.append(
        Row(
            f"new connections/s (mTLS handshake + /_ping, {conns} parallel)",
            load_values("connect", "rate_per_s"),
            lambda v: f"{v:,.0f}",
            ratio=_higher,
            note={"unix": "(plain, no TLS)"},
            ratio_na=("unix",),
        )
    )
    save, exec_ = transfers["save"], transfers["exec"]
    broken = transfers.get("broken", {})
    rows.append(
        Row(
            f"docker save {save['size_label']} (s, median of {save['repeats']})",
            {n: save["median_seconds"].get(n) for n in names},
            lambda v: f"{v:.2f}",
            ratio=_lower,
            target=f"≥ {TRANSFER_RATIO:.1f}× native throughput",
            check=lambda d, n: n / d >= TRANSFER_RATIO,
            broken=tuple(broken.get("save", {})),
        )
    )
    rows.append(
        Row(
            f"docker exec stream {exec_['size_label']} (MiB/s, median of {exec_['repeats']})",
            {n: exec_["median_mib_per_s"].get(n) for n in names},
            lambda v: f"{v:,.0f}",
            ratio=_higher,
            target=f"≥ {TRANSFER_RATIO:.1f}× native",
            check=lambda d, n: d >= TRANSFER_RATIO * n,
            broken=tuple(broken.get("exec", {})),
        )
    )
    rows.append(
        Row(
            "dockward RSS before the transfers (MiB)",
            {"dockward": rss["before_kib"] / 1024},
            lambda v: f"{v:.1f}",
        )
    )
    rows.append(
        Row(
            f"dockward peak RSS during the transfers (MiB, {rss['peak_source']})",
            {"dockward": rss["peak_kib"] / 1024},
            lambda v: f"{v:.1f}",
            target=f"< {PEAK_RSS_MIB:.0f} MiB",
            check=lambda d, _n: d < PEAK_RSS_MIB,
        )
    )
    return rows


def results_table(rows: list[Row], title: str, names: list[str] | None = None) -> Table:
    names = names or list(TARGETS)
    compared = [n for n in names if n != "native"]
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("metric")
    for name in names:
        table.add_column(label(name), justify="right")
    for name in compared:
        table.add_column(f"{label(name)} vs native", justify="right")
    table.add_column("target (dockward)")
    table.add_column("result")
    for row in rows:
        verdict = row.verdict()
        style = {"PASS": "green", "MISS": "bold red"}.get(verdict, "")
        table.add_row(
            row.metric,
            *(row.cell(n) for n in names),
            *(row.compare(n) for n in compared),
            row.target,
            f"[{style}]{verdict}[/]" if style else verdict,
        )
    return table


def cpu_table(results: dict[str, Any]) -> Table:
    """Where the CPU went: per request for the load rows, per GiB for the transfers."""
    table = Table(
        title="CPU cost per unit of work (same runs; 'client' = load generator or docker CLI)",
        title_justify="left",
        header_style="bold",
    )
    table.add_column("workload")
    table.add_column("path")
    table.add_column("client", justify="right")
    table.add_column("dockerd+containerd", justify="right")
    table.add_column("relay (dockward, peer)", justify="right")
    table.add_column("cores busy", justify="right")
    load = results["load"]
    names = paths(results)
    for kind, workload in (
        ("ping", "/_ping keep-alive"),
        ("containers", "/containers/json keep-alive"),
        ("connect", "new connection + /_ping"),
    ):
        for name in names:
            r = load[kind].get(name)
            if not r or not r["completed"]:
                continue
            per = 1e6 / r["completed"]
            watched = r["watched_cpu_s"]
            total = r["generator_cpu_s"] + sum(watched.values())
            table.add_row(
                workload,
                label(name),
                f"{r['generator_cpu_s'] * per:.0f} µs/req",
                f"{watched.get('dockerd', 0.0) * per:.0f} µs/req",
                f"{watched.get(name, 0.0) * per:.0f} µs/req" if _relay(name) else "—",
                f"{total / r['duration_s']:.2f}",
            )
    for kind, workload in (("save", "docker save"), ("exec", "exec stream")):
        for name in names:
            runs = results["transfers"][kind]["runs"].get(name) or []
            if not runs:
                continue
            gib = sum(r["bytes"] for r in runs) / (1 << 30)
            wall = sum(r["seconds"] for r in runs)
            cli = sum(r["cli_cpu_s"] for r in runs)
            dockerd = sum(r["watched_cpu_s"].get("dockerd", 0.0) for r in runs)
            gateway = sum(r["watched_cpu_s"].get(name, 0.0) for r in runs)
            table.add_row(
                workload,
                label(name),
                f"{cli / gib:.2f} s/GiB",
                f"{dockerd / gib:.2f} s/GiB",
                f"{gateway / gib:.2f} s/GiB" if _relay(name) else "—",
                f"{(cli + dockerd + gateway) / wall:.2f}",
            )
    return table


def _relay(name: str) -> bool:
    """Whether the path has a process of its own between client and dockerd."""
    return name not in ("unix", "native")


def print_report(results: dict[str, Any], console: Console | None = None) -> list[Row]:
    console = console or Console(width=200)
    machine = results["machine"]
    console.print()
    console.print(
        "[bold]machine:[/] " + ", ".join(f"{k}: {v}" for k, v in machine.items() if k != "tls")
    )
    console.print(
        "[bold]TLS negotiated:[/] "
        + "; ".join(f"{label(n)}: {t}" for n, t in machine.get("tls", {}).items())
    )
    console.print(
        "[bold]load generator:[/] "
        + results["generator"]
        + " — Python, CPU-bound on this machine: it competes with dockerd and dockward for the "
        "same cores, identically for every path."
    )
    rows = build_rows(results)
    console.print(
        results_table(rows, f"dockward benchmark ({results['mode']} run)", paths(results))
    )
    console.print(cpu_table(results))
    verdicts = [r.verdict() for r in rows if r.check is not None]
    missed = [r.metric for r in rows if r.verdict() == "MISS"]
    console.print(
        f"[bold]targets:[/] {verdicts.count('PASS')} PASS, {len(missed)} MISS"
        + (": " + "; ".join(missed) if missed else "")
    )
    return rows
