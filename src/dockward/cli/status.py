"""``dockward status``: the running gateway, asked over its admin socket.

Who is connected now (identity, role, source, since when, open tunnels, requests and bytes),
the policy in force (file, hash, roles), certificate and CRL expiry, upstream health and the
audit store. ``--json`` prints the gateway's ``/status`` answer as it is; ``--watch`` redraws
the view every ``--interval`` seconds until Ctrl-C. Exit codes: 0 answered, 2 no gateway there.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from dockward.config import ADMIN_SOCKET_NAME, state_config
from dockward.errors import ConfigError, DockwardError

TIMEOUT = 10.0


class NoGateway(DockwardError):
    """Nothing answers on the admin socket: exit code 2."""

    exit_code = 2


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def admin_socket(socket_path: Path | None, state_dir: Path | None) -> Path:
    """``--socket``, else the state directory's ``[admin] socket``, else ``STATE/admin.sock``."""
    if socket_path is not None:
        return socket_path
    from dockward.pki.state import default_state_dir

    state = state_dir or default_state_dir()
    try:
        configured = state_config(state).admin.socket_path
    except ConfigError:
        configured = None
    return configured or state / ADMIN_SOCKET_NAME


def fetch_status(path: Path) -> dict[str, Any]:
    """The gateway's ``/status`` answer; ``NoGateway`` when nothing answers at ``path``."""
    connection = _UnixConnection(str(path))
    try:
        connection.request("GET", "/status")
        response = connection.getresponse()
        body = response.read()
    except FileNotFoundError:
        raise NoGateway(
            f"no admin socket at {path}: is the gateway running (`dockward up`)? "
            "Name another socket with --socket, or its state directory with --state-dir"
        ) from None
    except PermissionError:
        raise NoGateway(
            f"cannot open the admin socket {path}: permission denied (it is 0600: run as the "
            "gateway's user)"
        ) from None
    except (OSError, http.client.HTTPException) as err:
        raise NoGateway(f"the gateway at {path} did not answer: {err}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise NoGateway(f"the gateway at {path} answered /status with {response.status}")
    data: dict[str, Any] = json.loads(body)
    return data


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _ago(timestamp: float, now: float) -> str:
    seconds = max(0, int(now - timestamp))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"


def _left(timestamp: float | None, now: float) -> str:
    if not timestamp:
        return ""
    days = (timestamp - now) / 86400
    return "expired" if days < 0 else f"{days:.0f} days left"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover


def render(status: dict[str, Any], now: float | None = None) -> Group:
    """The status as the terminal shows it."""
    now = now or time.time()
    lines: list[Text | Table] = []

    def line(label: str, text: str, style: str = "") -> None:
        lines.append(Text.assemble((f"{label:<13}", "bold"), (text, style)))

    line(
        "gateway",
        f"pid {status['pid']}, up {_ago(status['started'], now)}, "
        f"listening on {', '.join(status['listeners'])}",
    )
    upstream_ok = status.get("upstream_ok", False)
    line(
        "upstream",
        f"{status['upstream']}: {status.get('upstream_detail', '')}",
        "" if upstream_ok else "red",
    )
    policy = status["policy"]
    if policy["file"]:
        line(
            "policy",
            f"{policy['file']} sha256 {policy['sha256'][:16]}… roles {', '.join(policy['roles'])}",
        )
    else:
        line("policy", "none: every authenticated client is admin", "yellow")
    crl = status.get("crl")
    if crl is not None:
        if crl["problem"]:
            line("CRL", f"{crl['path']}: {crl['problem']} (every client is refused)", "red")
        else:
            line(
                "CRL",
                f"{crl['path']}: {crl['revoked']} revoked, next update "
                f"{_when(crl['next_update'])} ({_left(crl['next_update'], now)})",
            )
    for certificate in status.get("certificates", []):
        line(
            f"{certificate['what']} cert",
            f"{certificate['subject']} until {_when(certificate['not_after'])} "
            f"({_left(certificate['not_after'], now)})",
        )
    audit = status.get("audit")
    if audit is None:
        line("audit store", "off")
    else:
        if not audit["accepting_writes"]:
            state, style = "REFUSING WRITE OPERATIONS", "bold red"
        elif audit["failing"]:
            state, style = f"FAILING: {audit['last_error']}", "red"
        else:
            state, style = "recording", ""
        line(
            "audit store",
            f"{audit['database']}: {state}; {audit['written']} written, {audit['pending']} "
            f"pending, {audit['dropped']} dropped, lag {audit['lag']:.1f}s",
            style,
        )
    clients = status["clients"]
    table = Table(title=f"{len(clients)} connected clients", title_justify="left", expand=False)
    for column in ("identity", "role", "source", "since", "tunnels", "requests", "in", "out"):
        table.add_column(
            column, justify="right" if column in ("tunnels", "requests", "in", "out") else "left"
        )
    for client in clients:
        table.add_row(
            client["identity"] or "(handshake)",
            client["role"] or "(none)",
            client["source"],
            f"{_when(client['since'])} ({_ago(client['since'], now)})",
            str(client["open_tunnels"]),
            str(client["requests"]) + (" +1" if client["in_flight"] else ""),
            _size(client["bytes_in"]),
            _size(client["bytes_out"]),
        )
    lines.append(Text(""))
    lines.append(table)
    return Group(*lines)


def status(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the gateway's /status answer as JSON")
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Redraw it live until Ctrl-C")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.2, help="Seconds between two redraws with --watch")
    ] = 1.0,
    socket_path: Annotated[
        Path | None,
        typer.Option(
            "--socket",
            metavar="PATH",
            help="The gateway's admin socket (default: STATE/admin.sock)",
            show_default=False,
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            metavar="DIR",
            help="State directory of the gateway (default: /var/lib/dockward as root)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Show the running gateway: connected clients, policy, certificates, CRL, upstream."""
    path = admin_socket(socket_path, state_dir)
    if json_output:
        print(json.dumps(fetch_status(path), indent=2, sort_keys=True))
        return
    console = Console(width=None if sys.stdout.isatty() else 200)
    if not watch:
        console.print(render(fetch_status(path)))
        return
    from rich.live import Live

    with Live(render(fetch_status(path)), console=console, auto_refresh=False) as view:
        while True:
            time.sleep(interval)
            view.update(render(fetch_status(path)), refresh=True)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
