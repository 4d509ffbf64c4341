"""``dockward up`` (first-run setup, then serve) and ``dockward serve --config FILE``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dockward.config import (
    DEFAULT_UPSTREAM,
    GatewayConfig,
    config_from_dict,
    load_config,
    parse_host_port,
)
from dockward.errors import UsageError
from dockward.gateway.server import Gateway
from dockward.gateway.systemd import notify


def register(app: typer.Typer) -> None:
    """Add the gateway commands to the root application."""
    app.command("up")(up)
    app.command("serve")(serve)


def _ready(gateway: Gateway) -> None:
    for address in gateway.bound_addresses():
        print(f"dockward: serving the Docker API on {address} (mutual TLS)", flush=True)
    for listener in gateway.listeners:
        if listener.kind == "unix":
            print(f"dockward: serving the Docker API on unix://{listener.where}", flush=True)
    notify("READY=1")


def up(
    state_dir: Annotated[
        Path | None, typer.Option(help="State directory (default /var/lib/dockward as root)")
    ] = None,
    listen: Annotated[
        str, typer.Option(help="HOST:PORT to serve mutual TLS on")
    ] = "127.0.0.1:2376",
    upstream: Annotated[Path, typer.Option(help="The Docker socket to forward to")] = Path(
        DEFAULT_UPSTREAM
    ),
) -> None:
    """Create what is missing (state dir, CA, server certificate, admin bundle), then serve."""
    from dockward.gateway.runner import run_gateway
    from dockward.pki.state import StateDir, default_server_names, default_state_dir, env_lines

    try:
        host, _port = parse_host_port(listen)
    except ValueError as err:
        raise UsageError(f"--listen: {err}") from None
    state = StateDir(state_dir or default_state_dir())
    names = default_server_names()
    if host not in names and host not in ("0.0.0.0", "::"):
        names.append(host)
    report = state.bootstrap(names)
    for line in report.describe():
        print(f"dockward: {line}")
    config = config_from_dict(
        {
            "upstream": str(upstream),
            "tls": {
                "cert": str(state.server_cert),
                "key": str(state.server_key),
                "ca": str(state.ca_bundle),
            },
            "listen": [{"address": listen}],
            "access_log": str(state.path / "access.log"),
        },
        source="--listen/--upstream",
    )
    client_host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    print("dockward: use the admin bundle with:")
    for line in env_lines(f"{_bracket(client_host)}:{_port}", state.client_dir("admin")):
        print(f"  {line}")
    print(f"dockward: access log: {state.path / 'access.log'}", flush=True)
    sys.exit(run_gateway(config, on_ready=_ready))


def serve(
    config: Annotated[Path, typer.Option("--config", "-c", help="TOML configuration file")],
    auto_renew: Annotated[
        bool,
        typer.Option(
            "--auto-renew", help="Renew the server certificate at 2/3 of its life (needs state_dir)"
        ),
    ] = False,
) -> None:
    """Serve the gateway from a TOML configuration file."""
    from dockward.gateway.runner import run_gateway

    loaded: GatewayConfig = load_config(config)
    if auto_renew:
        loaded = config_from_dict(
            {**loaded.model_dump(exclude_unset=True, mode="json"), "auto_renew": True},
            source=str(config),
        )
    sys.exit(run_gateway(loaded, on_ready=_ready))


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
