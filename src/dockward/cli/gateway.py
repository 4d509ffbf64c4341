"""``dockward up`` (first-run setup, then serve) and ``dockward serve``.

Both run the same configuration for a state directory (``dockward.config.state_config``): ``up``
only makes what is missing first. ``serve --config FILE`` runs a hand-written file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from dockward.config import DEFAULT_UPSTREAM, GatewayConfig, load_config, state_config
from dockward.errors import UsageError
from dockward.gateway.server import Gateway
from dockward.gateway.systemd import notify


def register(app: typer.Typer) -> None:
    """Add the gateway commands to the root application."""
    app.command("up")(up)
    app.command("serve")(serve)


def _ready(gateway: Gateway) -> None:
    from dockward.gateway.summary import enforcement_lines

    for line in enforcement_lines(gateway):
        print(f"dockward: {line}", flush=True)
    notify("READY=1")


StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="State directory (default: /var/lib/dockward as root)",
        show_default=False,
    ),
]


def _flags(
    listen: str | None, upstream: Path | None, policy: Path | None, san: list[str] | None
) -> dict[str, object]:
    out: dict[str, object] = {}
    if listen is not None:
        out["listen"] = [{"address": listen}]
    if upstream is not None:
        out["upstream"] = str(upstream)
    if policy is not None:
        out["policy"] = str(policy)
    if san:
        out["san"] = list(san)
    return out


def _check_policy_file(config: GatewayConfig) -> None:
    """Refuse a missing or invalid policy file before anything is written."""
    from dockward.policy.roles import load_policy_config

    if config.policy is not None:
        load_policy_config(config.policy)


def up(
    state_dir: StateDirOption = None,
    listen: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT to serve mutual TLS on; replaces the listeners of the config file "
            "(default: 127.0.0.1:2376)",
            show_default=False,
        ),
    ] = None,
    upstream: Annotated[
        Path | None,
        typer.Option(help=f"The Docker socket to forward to (default: {DEFAULT_UPSTREAM})"),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(help="Policy file (default: STATE/policy.toml, created when missing)"),
    ] = None,
    san: Annotated[
        list[str] | None,
        typer.Option(
            "--san",
            metavar="NAME|IP",
            help="A name clients dial, added to the server certificate (repeatable)",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Gateway settings (default: STATE/dockward.toml if present)"
        ),
    ] = None,
) -> None:
    """Create what is missing (CA, CRL, server certificate, admin bundle, policy), then serve
    the state directory with every guarantee on."""
    from dockward.firstrun import client_address, prepare
    from dockward.gateway.renewal import env_passphrase
    from dockward.gateway.runner import run_gateway
    from dockward.pki.state import StateDir, default_state_dir, env_lines

    state = StateDir(state_dir or default_state_dir())
    flags = _flags(listen, upstream, policy, san)
    # validated in full before anything is written
    settings = state_config(state.path, config, flags)
    _check_policy_file(settings)
    first = prepare(state, settings, env_passphrase())
    for line in first.lines:
        print(f"dockward: {line}")
    settings = state_config(state.path, config, flags)  # now with the policy just written
    from dockward.pki.handoff import trust_override_warning

    warning = trust_override_warning(os.environ)
    if warning is not None:
        print(f"dockward: warning: {warning}")
    print("dockward: use the admin bundle with:")
    for line in env_lines(client_address(settings), state.client_dir("admin")):
        print(f"  {line}")
    sys.stdout.flush()
    sys.exit(run_gateway(settings, on_ready=_ready))


def serve(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML configuration file (with --state-dir: settings added to that state dir)",
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            help="Serve this state directory as `dockward up` does, without creating anything",
        ),
    ] = None,
    auto_renew: Annotated[
        bool,
        typer.Option(
            "--auto-renew", help="Renew the server certificate at 2/3 of its life (needs state_dir)"
        ),
    ] = False,
) -> None:
    """Serve the gateway from a configuration file or a state directory."""
    from dockward.gateway.runner import run_gateway

    if config is None and state_dir is None:
        raise UsageError("serve needs --config FILE or --state-dir DIR (or run `dockward up`)")
    overrides: dict[str, object] = {"auto_renew": True} if auto_renew else {}
    if state_dir is not None:
        loaded = state_config(state_dir, config, overrides)
    else:
        assert config is not None
        loaded = load_config(config)
        if auto_renew:
            from dockward.config import config_from_dict

            loaded = config_from_dict(
                {**loaded.model_dump(exclude_unset=True, mode="json"), **overrides},
                source=str(config),
            )
    _check_policy_file(loaded)
    sys.exit(run_gateway(loaded, on_ready=_ready))
