"""``dockward tenancy owners`` and ``adopt``: bringing an existing host under tenancy
(docs/tenancy.md).

Both ask the daemon's own socket (``--upstream``), never the gateway. ``owners`` lists every
object and its owner: those without one are what a role with scope ``role`` or ``own`` cannot
see (images: cannot list, may use). ``adopt`` gives unowned objects an owner in the policy
file's ``[[adopt]]`` record (Docker cannot relabel an object in place); the gateway reloads the
policy within a second. Exit codes: 0 done, 2 bad input or the daemon could not be asked.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from dockward.config import DEFAULT_UPSTREAM, state_config
from dockward.engine_api import HttpError, open_unix
from dockward.errors import DockwardError, UsageError
from dockward.policy.roles import load_policy_config
from dockward.policy.tenancy import OWNER_LABEL, owner_problem

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


_INSPECT = {
    "container": "/containers/{}/json",
    "volume": "/volumes/{}",
    "network": "/networks/{}",
    "image": "/images/{}/json",
}


async def _inspect_all(upstream: str, objects: list[tuple[str, str]]) -> list[Any]:
    answers = []
    for kind, name in objects:
        connection = await open_unix(upstream, 10.0)
        try:
            answers.append(await connection.inspect(_INSPECT[kind].format(quote(name, safe=""))))
        finally:
            await connection.close()
    return answers


def _parse_object(text: str) -> tuple[str, str]:
    kind, sep, name = text.partition(":")
    if not sep or kind not in _INSPECT or not name:
        raise UsageError(
            f"{text!r}: name an object as KIND:NAME with KIND one of {', '.join(_INSPECT)} "
            "(container:web, volume:data)"
        )
    return kind, name


def _policy_file(policy: Path | None, state_dir: Path | None) -> Path:
    if policy is not None:
        return policy
    if state_dir is None:
        raise UsageError(
            "name the policy file to record owners in: --policy FILE or --state-dir DIR"
        )
    configured = state_config(state_dir).policy
    return configured if configured is not None else state_dir / "policy.toml"


@app.command("adopt")
def adopt(
    objects: Annotated[
        list[str], typer.Argument(metavar="OBJECT...", help="KIND:NAME, e.g. container:web")
    ],
    owner: Annotated[
        str, typer.Option("--owner", help="The owner key: cn:NAME, uid:N or role:NAME.")
    ],
    policy: Annotated[
        Path | None, typer.Option("--policy", help="The policy file the gateway runs.")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Or the state directory of dockward up.")
    ] = None,
    upstream: Annotated[
        Path, typer.Option(help="The Docker daemon's socket, asked directly.")
    ] = Path(DEFAULT_UPSTREAM),
) -> None:
    """Give unowned objects an owner, recorded in the policy file's [[adopt]] list."""
    problem = owner_problem(owner)
    if problem is not None:
        raise UsageError(f"--owner: {problem}")
    path = _policy_file(policy, state_dir)
    if not path.is_file():
        raise UsageError(f"policy file {path} not found")
    parsed = [_parse_object(text) for text in objects]
    try:
        answers = asyncio.run(_inspect_all(str(upstream), parsed))
    except (OSError, TimeoutError, ValueError, HttpError) as err:
        raise UsageError(f"cannot ask the Docker daemon at {upstream}: {err}") from None
    keys = []
    for (kind, name), answer in zip(parsed, answers, strict=True):
        if answer is None:
            raise UsageError(f"the Docker daemon has no {kind} {name!r}")
        labels = (answer.get("Config") or {}) if kind in ("container", "image") else answer
        present = (
            (labels.get("Labels") or {}).get(OWNER_LABEL) if isinstance(labels, dict) else None
        )
        if present:
            raise UsageError(f"{kind} {name!r} already has the owner {present} (its label)")
        identifier = answer.get("Name") if kind == "volume" else answer.get("Id")
        keys.append(f"{kind}:{identifier}")
    before = path.read_text()
    entries = ", ".join(json.dumps(key) for key in keys)
    path.write_text(
        before.rstrip("\n") + f"\n\n[[adopt]]\nowner = {json.dumps(owner)}\nobjects = [{entries}]\n"
    )
    try:
        config = load_policy_config(path)
    except DockwardError:
        path.write_text(before)
        raise
    taken = [key for key in keys if sum(key in e.objects for e in config.adopt) > 1]
    if taken:
        path.write_text(before)
        raise UsageError(f"already adopted in {path}: {', '.join(taken)}")
    for (kind, name), key in zip(parsed, keys, strict=True):
        typer.echo(f"adopted {kind} {name} ({key.partition(':')[2][:19]}) for {owner}")
    typer.echo(f"recorded in {path}; a running gateway applies it within a second")
    raise typer.Exit(0)
