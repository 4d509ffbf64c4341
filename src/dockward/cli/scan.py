"""``dockward scan``: find Docker APIs that answer without proper mutual TLS.

Parsing and printing only: targets are ``dockward.scan.targets``, the probes and the audit are
``dockward.scan.engine``, the outputs ``dockward.scan.report`` and ``dockward.scan.sarif``. Exit
codes: 0 when no finding is at or above ``--fail-on``, 1 when one is, 2 for usage errors, 3 when
a bug in the scanner stopped the scan (its traceback on standard error, no report written).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dockward.errors import UsageError
from dockward.scan.audit import MAX_CONTAINERS
from dockward.scan.engine import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    ScannerBug,
    ScanOptions,
    build_report,
    scan,
)
from dockward.scan.findings import EndpointResult, ScanReport, Severity
from dockward.scan.probes import ClientBundle
from dockward.scan.report import BANNER, render, to_json
from dockward.scan.sarif import to_sarif
from dockward.scan.targets import DEFAULT_PORTS, TargetSet, parse_ports, parse_targets

STDOUT = "-"


def register(app: typer.Typer) -> None:
    """Add ``dockward scan`` to the root application."""
    app.command("scan", no_args_is_help=True)(scan_command)


def scan_command(
    targets: Annotated[
        list[str],
        typer.Argument(
            metavar="TARGET...",
            help="Host, IP address, CIDR range, HOST:PORT, [IPv6]:PORT, or @FILE (one per line).",
            show_default=False,
        ),
    ],
    ports: Annotated[
        str, typer.Option("--ports", "-p", metavar="LIST", help="Ports to probe, e.g. 2375,2376.")
    ] = ",".join(map(str, DEFAULT_PORTS)),
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="TARGET", help="Hosts or ranges to skip (repeatable)."),
    ] = None,
    cert_path: Annotated[
        Path | None,
        typer.Option(
            "--cert-path",
            metavar="DIR",
            envvar="DOCKER_CERT_PATH",
            help="Client bundle (ca.pem cert.pem key.pem) for the authenticated audit.",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[
        str | None,
        typer.Option("--json", metavar="FILE|-", help="Write the JSON report (schema: docs)."),
    ] = None,
    sarif_out: Annotated[
        str | None, typer.Option("--sarif", metavar="FILE|-", help="Write a SARIF 2.1.0 log.")
    ] = None,
    fail_on: Annotated[
        Severity,
        typer.Option("--fail-on", case_sensitive=False, help="Exit 1 at this severity or above."),
    ] = Severity.HIGH,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=10000, help="Endpoints probed at once.")
    ] = DEFAULT_CONCURRENCY,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.05, help="Seconds per connect, handshake, read.")
    ] = DEFAULT_TIMEOUT,
    rate: Annotated[
        float, typer.Option("--rate", min=0, help="New connections per second (0: no limit).")
    ] = 0,
    deep: Annotated[
        bool, typer.Option("--deep", help="Also enumerate TLS 1.0-1.2 cipher suites.")
    ] = False,
    max_containers: Annotated[
        int, typer.Option("--max-containers", min=0, help="Containers inspected per daemon.")
    ] = MAX_CONTAINERS,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No terminal report, no progress bar.")
    ] = False,
) -> None:
    """Find Docker APIs without mutual TLS, report certificates, audit daemons read-only."""
    err_console = Console(stderr=True, highlight=False)
    target_set = parse_targets(targets, parse_ports(ports), exclude or ())
    options = ScanOptions(
        timeout=timeout,
        concurrency=concurrency,
        rate=rate,
        deep=deep,
        bundle=ClientBundle.load(cert_path) if cert_path is not None else None,
        max_containers=max_containers,
    )
    outputs = _check_outputs(json_out, sarif_out)
    if not quiet:
        err_console.print(BANNER, style="yellow")
    started = dt.datetime.now(dt.UTC)
    try:
        results = _run(target_set, options, err_console, progress=not quiet)
    except ScannerBug as bug:  # main() prints the one-line reason and exits 3
        traceback.print_exception(bug.error, file=sys.stderr)
        raise
    report = build_report(
        results, targets, target_set.ports, options, started, dt.datetime.now(dt.UTC)
    )
    if json_out is not None:
        _write(json_out, to_json(report) + "\n")
    if sarif_out is not None:
        _write(sarif_out, json.dumps(to_sarif(report), indent=2) + "\n")
    if not quiet and STDOUT not in outputs:
        render(report, Console(highlight=False))
    raise typer.Exit(1 if report.fails(fail_on) else 0)


def _run(
    target_set: TargetSet, options: ScanOptions, console: Console, *, progress: bool
) -> list[EndpointResult]:
    if not (progress and console.is_terminal):
        return asyncio.run(scan(target_set, options))
    columns = (TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("scan", total=target_set.upper_bound())

        class _Observer:
            def endpoint_done(self, result: EndpointResult) -> None:
                bar.advance(task)

        return asyncio.run(scan(target_set, options, _Observer()))


def _check_outputs(*paths: str | None) -> set[str]:
    chosen = [p for p in paths if p is not None]
    if chosen.count(STDOUT) > 1:
        raise UsageError("only one of --json and --sarif can write to standard output (-)")
    for path in chosen:
        if path != STDOUT and Path(path).is_dir():
            raise UsageError(f"cannot write report to {path}: it is a directory")
    return set(chosen)


def _write(path: str, text: str) -> None:
    if path == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot write report to {path}: {(err.strerror or err)}") from err


__all__ = ["ScanReport", "register", "scan_command"]
