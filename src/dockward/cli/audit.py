"""``dockward audit`` (query the audit store) and ``dockward audit verify`` (check its chains).

Offline: both read the store directly (the SQLite file or the PostgreSQL database), never the
running gateway. The store is ``--database``, else the ``[audit] database`` of the state
directory's configuration, else ``STATE/audit.sqlite3``. Exit codes: 0 ok, 1 a chain does not
verify, 2 bad input or no store.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from dockward.audit import query as audit_query
from dockward.audit.backends import Backend, StoreUnavailable, open_backend
from dockward.config import AUDIT_DATABASE_NAME, state_config
from dockward.errors import ConfigError, DockwardError, UsageError

app = typer.Typer(
    help="Query the audit store (who did what, when, and what became of it), or verify it.",
    rich_markup_mode=None,
)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        metavar="URL|PATH",
        help="A postgresql:// URL or a SQLite file (default: the state directory's store)",
        show_default=False,
    ),
]
StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        help="State directory whose store to read (default: /var/lib/dockward as root)",
        show_default=False,
    ),
]


class StoreFailure(DockwardError):
    """The store could not be read: exit code 2."""

    exit_code = 2


def resolve_database(database: str | None, state_dir: Path | None) -> str:
    """``--database``, else the state directory's ``[audit] database``, else its default."""
    if database:
        return database
    from dockward.pki.state import default_state_dir

    state = state_dir or default_state_dir()
    try:
        audit = state_config(state).audit
    except ConfigError:
        return str(state / AUDIT_DATABASE_NAME)
    if audit.database is None and (state / AUDIT_DATABASE_NAME).exists():
        return str(state / AUDIT_DATABASE_NAME)  # written before the store became opt-in
    if audit.database is None:
        raise UsageError(
            f'no audit store in {state}: turn it on with `[audit] database = "state"` in '
            f"{state}/dockward.toml, or name one with --database"
        )
    if not audit.enabled:
        raise UsageError(
            f"the audit store is off in {state}/dockward.toml; name one with --database"
        )
    return audit.database


def _open(database: str | None, state_dir: Path | None) -> Backend:
    where = resolve_database(database, state_dir)
    try:
        return open_backend(where, create=False)
    except StoreUnavailable as err:
        raise StoreFailure(f"cannot read the audit store: {err}") from None


def _networks(values: list[str]) -> tuple[audit_query.Network, ...]:
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise UsageError(f"--source {value!r}: not an address or network (CIDR)") from None
    return tuple(out)


def _when(option: str, value: str | None, now: dt.datetime) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return audit_query.parse_time(value, now)
    except ValueError as err:
        raise UsageError(f"{option}: {err}") from None


@app.callback(invoke_without_command=True)
def audit(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="SPAN|TIME",
            help="From this long ago (1h, 30m, 2d) or this time (ISO 8601, UTC)",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            metavar="SPAN|TIME", help="Before this long ago or this time", show_default=False
        ),
    ] = None,
    client: Annotated[
        list[str] | None,
        typer.Option(
            "--client",
            metavar="NAME",
            help="A client's certificate CN, or cn:/uid:/serial: label (repeatable)",
        ),
    ] = None,
    role: Annotated[str | None, typer.Option(metavar="ROLE", help="Records of this role")] = None,
    op: Annotated[
        str | None,
        typer.Option("--op", metavar="OP", help="An operation (container.create) or prefix.*"),
    ] = None,
    denied: Annotated[
        bool, typer.Option("--denied", help="Only what was denied, refused or cut")
    ] = False,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", metavar="CIDR", help="From this network (repeatable)"),
    ] = None,
    gateway: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Records of this gateway (a shared database)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    summary: Annotated[
        bool,
        typer.Option("--summary", help="Counts by gateway, identity, operation and decision"),
    ] = False,
    database: DatabaseOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """One line per record, oldest first; --summary counts them instead."""
    if ctx.invoked_subcommand is not None:
        return
    now = dt.datetime.now(dt.UTC)
    wanted = audit_query.Query(
        since=_when("--since", since, now),
        until=_when("--until", until, now),
        clients=tuple(client or ()),
        role=role,
        operation=op,
        denied=denied,
        sources=_networks(source or []),
        gateway=gateway,
    )
    backend = _open(database, state_dir)
    records = audit_query.select(backend, wanted)
    try:
        if summary:
            rows = audit_query.summarise(records)
            if as_json:
                print(audit_query.summary_json(rows))
            else:
                print("\n".join(audit_query.summary_lines(rows)))
            return
        show = audit_query.record_json if as_json else audit_query.record_line
        out = sys.stdout
        for record in records:
            out.write(show(record) + "\n")
    except StoreUnavailable as err:
        raise StoreFailure(f"cannot read the audit store: {err}") from None
    except BrokenPipeError:  # `dockward audit | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        records.close()
        backend.close()


@app.command()
def verify(database: DatabaseOption = None, state_dir: StateDirOption = None) -> None:
    """Check every gateway's hash chain: the first edited, deleted or reordered record (exit 1),
    or ok with each chain's head (exit 0)."""
    backend = _open(database, state_dir)
    try:
        reports = audit_query.verify(backend)
    except StoreUnavailable as err:
        raise StoreFailure(f"cannot read the audit store: {err}") from None
    finally:
        backend.close()
    failed = False
    for report in reports:
        if report.problem is not None:
            failed = True
            print(f"FAILED {report.problem}")
            print(f"  the {report.records} records before it verify")
        else:
            print(
                f"ok gateway {report.gateway}: {report.records} records, "
                f"head #{report.head_seq} {report.head_hash}"
            )
    if not reports:
        print("ok: the store holds no records")
    raise typer.Exit(1 if failed else 0)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="audit")
