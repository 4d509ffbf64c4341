"""``dockward up`` and ``dockward serve`` (placeholder until the gateway lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the gateway commands to the root application."""
