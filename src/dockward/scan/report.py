"""The terminal report (rich): a table per endpoint, colours by severity, the certificate in
nmap ``ssl-cert`` style; and the JSON projection of a ``ScanReport``.

Rendering only: it reads a finished ``ScanReport`` and writes to the console it is given.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dockward.scan.findings import EndpointResult, EndpointState, ScanReport, Severity
from dockward.scan.tlsinfo import format_ssl_cert

BANNER = (
    "dockward scan: scan only hosts and networks you are authorized to test. Every probe is "
    "read-only (GET /_ping, /version, /info, /containers)."
)
SEVERITY_STYLES = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "green",
}
STATE_LABELS = {
    EndpointState.PLAINTEXT_DOCKER: ("Docker API over plain HTTP, no authentication", "bold red"),
    EndpointState.TLS_NO_CLIENT_AUTH: ("Docker API over TLS, no client certificate", "bold red"),
    EndpointState.TLS_CLIENT_CERT_OPTIONAL: ("Docker API over TLS, client certificate optional",
                                             "bold red"),
    EndpointState.MTLS_REQUIRED: ("mutual TLS enforced", "green"),
    EndpointState.TLS_NON_DOCKER: ("TLS, not a Docker API", "dim"),
    EndpointState.TLS_UNKNOWN: ("TLS, no HTTP answer", "dim"),
    EndpointState.HTTP_NON_DOCKER: ("HTTP, not a Docker API", "dim"),
    EndpointState.OPEN_UNKNOWN: ("open, unknown service", "dim"),
    EndpointState.FILTERED: ("filtered", "dim"),
    EndpointState.CLOSED: ("closed", "dim"),
}  # fmt: skip


def to_json(report: ScanReport) -> str:
    """The ``--json`` document (schema: docs/scanner.md)."""
    return report.model_dump_json(indent=2)


def render(report: ScanReport, console: Console, *, show_certificates: bool = True) -> None:
    """Print every reported endpoint, then a summary line."""
    for result in report.endpoints:
        console.print(_endpoint_panel(result, show_certificates))
    stats = report.stats
    counts = ", ".join(
        f"{stats.findings_by_severity.get(s, 0)} {s.value}"
        for s in Severity
        if s is not Severity.INFO
    )
    seconds = (report.finished_at - report.started_at).total_seconds()
    console.print(
        f"{stats.endpoints_scanned} endpoints scanned in {seconds:.1f}s: {stats.endpoints_open} "
        f"open, {stats.docker_apis} Docker APIs; findings: {counts}"
    )


def _endpoint_panel(result: EndpointResult, show_certificates: bool) -> Panel:
    label, style = STATE_LABELS[result.state]
    parts: list[Text | Table] = []
    facts = _facts(result)
    if facts:
        parts.append(Text("\n".join(facts)))
    if result.findings:
        parts.append(_findings_table(result))
    if result.certificate is not None and show_certificates:
        parts.append(Text("ssl-cert: " + "\n| ".join(format_ssl_cert(result.certificate)),
                          style="dim"))  # fmt: skip
    for error in result.errors:
        parts.append(Text(f"note: {error}", style="dim italic"))
    title = Text.assemble((result.endpoint, "bold"), "  ", (label, style))
    return Panel(Group(*parts) if parts else Text("-"), title=title, title_align="left")


def _facts(result: EndpointResult) -> list[str]:
    lines = []
    if result.tls is not None:
        tls = result.tls
        requested = "yes" if tls.client_cert_requested else "no"
        lines.append(
            f"TLS: {tls.negotiated_version or '?'} {tls.cipher or ''}".rstrip()
            + f"; accepts {', '.join(tls.versions_accepted) or '?'}; client certificate "
            f"requested: {requested}"
        )
        if tls.client_ca_names:
            lines.append(f"acceptable client CAs: {'; '.join(tls.client_ca_names)}")
        for version, suites in tls.cipher_suites.items():
            lines.append(f"{version} suites: {', '.join(suites) or 'none'}")
    if result.docker is not None:
        d = result.docker
        components = ", ".join(f"{k} {v}" for k, v in d.components.items() if k != "Engine")
        platform = f"{d.os or '?'}/{d.arch or '?'}, kernel {d.kernel_version or '?'}"
        lines.append(
            f"Docker {d.version or '?'} (API {d.api_version or '?'}, {platform})"
            + (f"; {components}" if components else "")
        )
        lines.append(
            f"audited as {result.audited_as}: {result.containers_inspected} containers inspected"
        )
    return lines


def _findings_table(result: EndpointResult) -> Table:
    table = Table(show_edge=False, expand=True, pad_edge=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("finding", ratio=3)
    table.add_column("CIS", no_wrap=True)
    for item in result.findings:
        detail = Text(item.title, style="bold")
        detail.append(f"\n{item.evidence}", style="")
        if item.severity.at_least(Severity.LOW):
            detail.append(f"\nfix: {item.remediation}", style="dim")
        table.add_row(
            Text(item.severity.value, style=SEVERITY_STYLES[item.severity]),
            item.id,
            detail,
            item.cis or "",
        )
    return table
