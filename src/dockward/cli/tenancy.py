"""``dockward tenancy owners``: every object on the daemon and its owner, for bringing a host
under tenancy (docs/tenancy.md).

Read-only: it asks the daemon's own socket (``--upstream``), never the gateway. Objects without
an owner are what a role with scope ``role`` or ``own`` cannot see (images: cannot list, may
use). Exit codes: 0 listed, 2 the daemon could not be asked.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from dockward.config import DEFAULT_UPSTREAM
from dockward.engine_api import HttpError, open_unix
from dockward.errors import UsageError
from dockward.policy.tenancy import OWNER_LABEL

app = typer.Typer(no_args_is_help=True, help="Owners of the daemon's objects (tenancy).")

_LISTS = (
    ("container", "/containers/json?all=1"),
    ("volume", "/volumes"),
    ("network", "/networks"),
    ("image", "/images/json"),
)


@dataclass(frozen=True)
class Owned:
    kind: str
    name: str
    id: str
    owner: str | None


def _labels(item: dict[str, Any]) -> dict[str, Any]:
    labels = item.get("Labels")
    return labels if isinstance(labels, dict) else {}


def _name(kind: str, item: dict[str, Any]) -> str:
    if kind == "container":
        names = item.get("Names") or []
        return str(names[0]).lstrip("/") if names else ""
    if kind == "image":
        tags = [tag for tag in item.get("RepoTags") or [] if tag != "<none>:<none>"]
        return ",".join(tags) or "<none>"
    return str(item.get("Name", ""))


def owned_objects(listings: dict[str, Any]) -> list[Owned]:
    """The daemon's list answers (by kind) as one table of objects and owners."""
    rows = []
    for kind, _ in _LISTS:
        answer = listings.get(kind)
        items = answer.get("Volumes") if isinstance(answer, dict) else answer
        for item in items or []:
            owner = _labels(item).get(OWNER_LABEL)
            identifier = str(item.get("Id") or item.get("Name") or "")
            rows.append(
                Owned(
                    kind, _name(kind, item), identifier, owner if isinstance(owner, str) else None
                )
            )
    return rows


async def _fetch(upstream: str) -> dict[str, Any]:
    listings = {}
    for kind, path in _LISTS:
        connection = await open_unix(upstream, 10.0)
        try:
            listings[kind] = await connection.get_json(path)
        finally:
            await connection.close()
    return listings


@app.command("owners")
def owners(
    upstream: Annotated[
        Path, typer.Option(help="The Docker daemon's socket, asked directly.")
    ] = Path(DEFAULT_UPSTREAM),
    unowned: Annotated[
        bool, typer.Option("--unowned", help="Only objects without an owner.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """List the daemon's containers, volumes, networks and images with their owners."""
    try:
        listings = asyncio.run(_fetch(str(upstream)))
    except (OSError, TimeoutError, ValueError, HttpError) as err:
        raise UsageError(f"cannot ask the Docker daemon at {upstream}: {err}") from None
    rows = [row for row in owned_objects(listings) if not unowned or row.owner is None]
    if as_json:
        typer.echo(json.dumps([asdict(row) for row in rows], indent=2))
        raise typer.Exit(0)
    typer.echo(f"{'KIND':10} {'OWNER':24} {'ID':14} NAME")
    for row in rows:
        shown_id = row.id.removeprefix("sha256:")[:12] if row.kind != "volume" else "-"
        typer.echo(f"{row.kind:10} {row.owner or '-':24} {shown_id:14} {row.name}")
    raise typer.Exit(0)
