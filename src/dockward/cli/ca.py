"""``dockward ca`` (placeholder)."""

import typer

app = typer.Typer(help="Certificate authority: create the CA, issue server and client certificates.")
