"""``dockward ca``: the CA and the life of the certificates it issues.

Parsing and printing only: certificate profiles are ``dockward.pki.ca``, the file layout is
``dockward.pki.state``, operations such as revoke and rotate are ``dockward.pki.lifecycle`` and
bundles and contexts are ``dockward.pki.handoff``. Bad input raises
``dockward.errors.UsageError``; the root ``main()`` turns it into one ``dockward: <reason>`` line
on stderr and exit code 2. ``ca status`` exits 1 when something needs action.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from dockward.errors import UsageError
from dockward.pki import handoff, lifecycle
from dockward.pki.ca import (
    BUNDLE_CA,
    BUNDLE_CERT,
    BUNDLE_KEY,
    DEFAULT_CA_DAYS,
    DEFAULT_CRL_DAYS,
    IssuedCertificate,
    PassphraseRequiredError,
    is_encrypted_key,
    os_error_reason,
    validate_client_name,
    validate_server_name,
    write_private_file,
)
from dockward.pki.crl import RevocationList, parse_reason
from dockward.pki.index import CertKind, IndexEntry, format_serial
from dockward.pki.state import (
    BUNDLE_ENV,
    DEFAULT_CLIENT_HOST,
    StateDir,
    default_state_dir,
    docker_host_url,
    env_lines,
)

PASSPHRASE_ENV = "DOCKWARD_CA_PASSPHRASE"
_PASSPHRASE_HINT = f"(--passphrase-file FILE or ${PASSPHRASE_ENV})"

app = typer.Typer(
    help="Certificate authority: create the CA, issue, list, revoke, renew and rotate "
    "certificates, hand bundles to clients.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
issue_app = typer.Typer(
    help="Issue a server or client certificate.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(issue_app, name="issue")

StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        help="State directory [default: /var/lib/dockward as root, else ~/.local/state/dockward].",
        show_default=False,
    ),
]
PassphraseFileOption = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        metavar="FILE",
        help=f"File holding the CA key passphrase (else ${PASSPHRASE_ENV}, else a prompt on a "
        "terminal).",
        show_default=False,
    ),
]
DaysOption = Annotated[
    int | None,
    typer.Option("--days", min=0, help="Lifetime in days (adds to --hours).", show_default=False),
]
HoursOption = Annotated[
    int | None,
    typer.Option("--hours", min=0, help="Lifetime in hours (adds to --days).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
HostOption = Annotated[
    str,
    typer.Option("--host", metavar="HOST[:PORT]", help="Gateway address for DOCKER_HOST."),
]


# -- the CA ------------------------------------------------------------------------------------


@app.command("init")
def init_command(
    state_dir: StateDirOption = None,
    passphrase_file: PassphraseFileOption = None,
    encrypt: Annotated[
        bool,
        typer.Option(
            "--encrypt", help="Encrypt the CA key with a passphrase asked on the terminal."
        ),
    ] = False,
    days: Annotated[int, typer.Option("--days", min=1, help="CA lifetime in days.")] = (
        DEFAULT_CA_DAYS
    ),
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing CA (its certificates stop working)."),
    ] = False,
) -> None:
    """Create the CA (ECDSA P-256, ten years); the key is encrypted if a passphrase is given."""
    with _errors():
        state = _state(state_dir)
        replacing = state.has_ca()
        if replacing and not force:
            raise UsageError(
                f"a CA already exists in {state.ca_dir}; "
                "pass --force to replace it (every certificate it issued stops working)"
            )
        passphrase = _read_passphrase(passphrase_file)
        if passphrase is None and encrypt:
            passphrase = _prompt_new_passphrase()
        ca = state.create_ca(passphrase, days=days)
        typer.echo(f"wrote CA certificate {state.ca_cert} (expires {_date(ca.not_after)})")
        protection = "encrypted" if passphrase else "unencrypted"
        typer.echo(f"wrote CA key {state.ca_key} ({protection}, mode 0600)")
        if replacing:
            typer.echo("replaced the previous CA: issue new server and client certificates")


# -- issue -------------------------------------------------------------------------------------


@issue_app.command("server")
def issue_server_command(
    names: Annotated[
        list[str],
        typer.Argument(metavar="NAME", help="Host names and IP addresses clients dial."),
    ],
    days: DaysOption = None,
    hours: HoursOption = None,
    state_dir: StateDirOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Issue the gateway's certificate (serverAuth, 90 days by default) into STATE/server/."""
    with _errors():
        for name in names:
            validate_server_name(name)
        state = _state(state_dir)
        done = lifecycle.issue_server(
            state,
            names,
            days=days,
            hours=hours,
            passphrase=_passphrase(state, passphrase_file),
        )
        typer.echo(
            f"wrote server certificate {state.server_cert} for "
            f"{', '.join(done.entry.sans)} ({_describe(done.issued)})"
        )
        typer.echo(f"wrote server key {state.server_key} (mode 0600)")


@issue_app.command("client")
def issue_client_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Client name: A-Z a-z 0-9 . _ -")],
    role: Annotated[
        str | None,
        typer.Option("--role", metavar="ROLE", help="The gateway policy role (recorded)."),
    ] = None,
    days: DaysOption = None,
    hours: HoursOption = None,
    host: HostOption = DEFAULT_CLIENT_HOST,
    state_dir: StateDirOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Issue a client certificate (clientAuth, 30 days by default) as a DOCKER_CERT_PATH bundle."""
    with _errors():
        validate_client_name(name)
        if role is not None:
            lifecycle.validate_role(role)
        docker_host_url(host)  # refuse a bad --host before anything is written
        state = _state(state_dir)
        done = lifecycle.issue_client(
            state,
            name,
            role=role,
            days=days,
            hours=hours,
            host=host,
            passphrase=_passphrase(state, passphrase_file),
        )
        typer.echo(
            f"wrote client bundle {done.location} ({_bundle_files()}) for {name} "
            f"({_role(done.entry)}{_describe(done.issued)})"
        )
        typer.echo("to use it:")
        for line in env_lines(host, done.location):
            typer.echo(f"  {line}")
        from dockward.policy.binding import owner_note, role_warnings

        note = owner_note(state, done.issued.cert)
        if note is not None:
            typer.echo(note)
        for warning in role_warnings(state, name, done.issued.cert, role):
            typer.echo(f"dockward: warning: {warning}", err=True)
        _warn_trust_override()


# -- list --------------------------------------------------------------------------------------

_LIST_HEADER = ("SERIAL", "KIND", "NAME", "ROLE", "STATUS", "EXPIRES", "LEFT")


@app.command("list")
def list_command(
    state_dir: StateDirOption = None,
    show_all: Annotated[
        bool,
        typer.Option("--all", help="Include history: retired, and expired revoked or superseded."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List issued certificates with the time they have left (yellow: under 20% of lifetime)."""
    with _errors():
        state = _state(state_dir)
        rows = lifecycle.list_certificates(state, include_all=show_all)
        if as_json:
            _print_json({"certificates": [row.to_json() for row in rows]})
            return
        table = [_LIST_HEADER] + [
            (
                row.entry.serial_hex[:16],
                row.entry.kind.value,
                row.entry.name,
                row.entry.role or "-",
                row.shown_status,
                _date(row.entry.not_after),
                _left(row.seconds_left) if row.seconds_left > 0 else "-",
            )
            for row in rows
        ]
        _print_table(table, [""] + [_row_style(row) for row in rows])


def _row_style(row: lifecycle.ListedCertificate) -> str:
    if row.shown_status == "expired":
        return "red"
    if row.shown_status != "valid":
        return "dim"
    return "yellow" if row.attention else ""


# -- revoke, crl -------------------------------------------------------------------------------


@app.command("revoke")
def revoke_command(
    reference: Annotated[
        str,
        typer.Argument(
            metavar="SERIAL|NAME",
            help="A serial (hex, a unique prefix of 8+ digits, or decimal) or a name: "
            "every unrevoked certificate of that name.",
        ),
    ],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            metavar="REASON",
            help="keyCompromise, cACompromise, affiliationChanged, superseded, "
            "cessationOfOperation, privilegeWithdrawn or unspecified.",
        ),
    ] = "unspecified",
    state_dir: StateDirOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Revoke a certificate and write a fresh CRL into the state directory."""
    with _errors():
        flag = parse_reason(reason)
        state = _state(state_dir)
        done = lifecycle.revoke(
            state, reference, reason=flag, passphrase=_passphrase(state, passphrase_file)
        )
        for entry in done.entries:
            typer.echo(f"revoked {entry.label} (serial {entry.serial_hex}, reason {flag.value})")
        _print_crl(done.crl)
        if any(entry.kind is CertKind.SERVER for entry in done.entries):
            name = done.entries[0].name
            typer.echo(
                "the gateway's own certificate is revoked: issue a new one with "
                f"`{state.fix_hint(f'renew {name}')}`"
            )


@app.command("crl")
def crl_command(
    days: Annotated[int, typer.Option("--days", min=1, help="Days until nextUpdate.")] = (
        DEFAULT_CRL_DAYS
    ),
    state_dir: StateDirOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Re-sign the CRL (run it from cron well before its next update)."""
    with _errors():
        state = _state(state_dir)
        crl = lifecycle.refresh_crl(
            state, days=days, passphrase=_passphrase(state, passphrase_file)
        )
        _print_crl(crl)


def _print_crl(crl: RevocationList) -> None:
    typer.echo(
        f"wrote CRL {crl.path} ({len(crl.revoked)} revoked, next update {_date(crl.next_update)})"
    )


# -- renew -------------------------------------------------------------------------------------


@app.command("renew")
def renew_command(
    reference: Annotated[
        str, typer.Argument(metavar="SERIAL|NAME", help="The certificate to renew.")
    ],
    revoke_old: Annotated[
        bool, typer.Option("--revoke-old", help="Revoke the certificate being replaced.")
    ] = False,
    days: DaysOption = None,
    hours: HoursOption = None,
    state_dir: StateDirOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Issue a new certificate for the same identity, role and lifetime."""
    with _errors():
        state = _state(state_dir)
        done = lifecycle.renew(
            state,
            reference,
            revoke_old=revoke_old,
            days=days,
            hours=hours,
            passphrase=_passphrase(state, passphrase_file),
        )
        new = done.new
        typer.echo(f"renewed {new.entry.label} ({_role(new.entry)}{_describe(new.issued)})")
        if new.entry.kind is CertKind.SERVER:
            typer.echo(f"wrote server certificate {state.server_cert} and key {state.server_key}")
        else:
            typer.echo(f"wrote client bundle {new.location} ({_bundle_files()})")
        if done.crl is not None:
            typer.echo(f"revoked the previous certificate (serial {done.old.serial_hex})")
            _print_crl(done.crl)
        else:
            typer.echo(
                f"the previous certificate (serial {done.old.serial_hex}) stays valid until "
                f"{_date(done.old.not_after)}; --revoke-old revokes it"
            )


# -- rotation ----------------------------------------------------------------------------------


@app.command("rotate")
def rotate_command(
    days: Annotated[int, typer.Option("--days", min=1, help="New CA lifetime in days.")] = (
        DEFAULT_CA_DAYS
    ),
    state_dir: StateDirOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Create a new CA and reissue client certificates; both CAs are trusted until retire-old."""
    with _errors():
        state = _state(state_dir)
        done = lifecycle.rotate(state, days=days, passphrase=_passphrase(state, passphrase_file))
        new, old = done.new_ca, done.old_ca
        typer.echo(
            f"created CA {new.name!r} (serial {new.serial_hex}, expires {_date(new.not_after)})"
        )
        if done.overlap:
            typer.echo(
                f"the previous CA {old.name!r} (serial {old.serial_hex}) stays trusted until "
                f"`{state.fix_hint('retire-old')}`"
            )
        else:
            typer.echo(f"the previous CA {old.name!r} had expired: retired at once")
        for issued in done.reissued:
            typer.echo(
                f"reissued client {issued.entry.name} ({_role(issued.entry)}"
                f"{_describe(issued.issued)}) in {issued.location}"
            )
        if done.server is not None:
            typer.echo(
                f"reissued server certificate {state.server_cert} ({_describe(done.server.issued)})"
            )
        count = 2 if done.overlap else 1
        typer.echo(f"wrote trust bundle {state.ca_bundle} ({count} CA{'s' if count > 1 else ''})")
        _print_crl(done.crl)
        if done.overlap:
            typer.echo("next:")
            typer.echo(
                "  1. hand each client its new bundle: "
                f"`{state.fix_hint('bundle NAME --out DIR')}` "
                f"or `{state.fix_hint('context NAME --host tcp://HOST:2376')}`"
            )
            typer.echo(
                f"  2. make sure the gateway has reloaded {state.ca_bundle} and {state.crl_path}"
            )
            typer.echo(
                f"  3. once every client uses its new bundle: `{state.fix_hint('retire-old')}`"
            )


@app.command("retire-old")
def retire_old_command(
    state_dir: StateDirOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Finish a CA rotation: stop trusting the previous CA and delete its key."""
    with _errors():
        state = _state(state_dir)
        old_key = state.old_ca_key
        done = lifecycle.retire_old(state, passphrase=_passphrase(state, passphrase_file))
        typer.echo(
            f"retired CA {done.old_ca.name!r} (serial {done.old_ca.serial_hex}); "
            f"the trust bundle {state.ca_bundle} now holds one CA"
        )
        if done.server is not None:
            typer.echo(
                f"reissued server certificate {state.server_cert} under the new CA "
                f"({_describe(done.server.issued)})"
            )
        for entry in done.stranded:
            role = f" --role {entry.role}" if entry.role else ""
            typer.echo(
                f"stops working: {entry.label} (serial {entry.serial_hex}) was not reissued; "
                f"`{state.fix_hint(f'issue client {entry.name}{role}')}` makes a new one"
            )
        _print_crl(done.crl)
        typer.echo(f"deleted the previous CA key {old_key}")


# -- hand-off ----------------------------------------------------------------------------------


@app.command("bundle")
def bundle_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The client.")],
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Directory to write the bundle into."),
    ],
    host: HostOption = DEFAULT_CLIENT_HOST,
    state_dir: StateDirOption = None,
) -> None:
    """Write a client's DOCKER_CERT_PATH bundle (ca.pem cert.pem key.pem env) into DIR."""
    with _errors():
        validate_client_name(name)
        docker_host_url(host)
        state = _state(state_dir)
        credentials = handoff.client_credentials(state, name)
        target = handoff.write_bundle_directory(credentials, out, host)
        typer.echo(
            f"wrote client bundle {target} ({_bundle_files()}) for {name} "
            f"({_role(credentials.entry)}serial {credentials.entry.serial_hex}, "
            f"expires {_date(credentials.entry.not_after)})"
        )
        typer.echo("to use it:")
        for line in env_lines(host, target):
            typer.echo(f"  {line}")
        _warn_trust_override()


@app.command("context")
def context_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The client.")],
    host: Annotated[
        str,
        typer.Option("--host", metavar="tcp://HOST:PORT", help="The gateway, as clients dial it."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Where to write the tar [default: ./CONTEXT.dockercontext].",
            show_default=False,
        ),
    ] = None,
    context_name: Annotated[
        str | None,
        typer.Option(
            "--context-name",
            metavar="CONTEXT",
            help="The docker context name [default: dockward-NAME].",
            show_default=False,
        ),
    ] = None,
    state_dir: StateDirOption = None,
) -> None:
    """Write a tar that `docker context import` accepts, and print the equivalent create line."""
    with _errors():
        validate_client_name(name)
        url = docker_host_url(host)
        context = handoff.validate_context_name(context_name or handoff.default_context_name(name))
        state = _state(state_dir)
        credentials = handoff.client_credentials(state, name)
        target = Path(os.path.abspath(out or Path(f"{context}.dockercontext")))
        write_private_file(target, handoff.context_tar(credentials, context, host))
        typer.echo(
            f"wrote docker context {context} to {target} (client {name}, {url}, "
            f"expires {_date(credentials.entry.not_after)})"
        )
        typer.echo("import it with:")
        typer.echo(f"  docker context import {context} {_quote(target)}")
        typer.echo(f"  docker context use {context}")
        typer.echo("or, where the bundle files are, create it directly:")
        typer.echo(f"  {handoff.context_create_command(context, host, credentials.source)}")
        typer.echo("DOCKER_HOST overrides the current context: unset it first")
        _warn_trust_override()


# -- status ------------------------------------------------------------------------------------


@app.command("status")
def status_command(
    within: Annotated[
        int, typer.Option("--within", metavar="DAYS", min=0, help="Action window in days.")
    ] = 7,
    state_dir: StateDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Expiries of the CA, server and clients, CRL age and next update; exit 1 if action is due."""
    with _errors():
        state = _state(state_dir)
        report = lifecycle.status(state, window=dt.timedelta(days=within))
    if as_json:
        _print_json(report.to_json())
    else:
        _print_status(report)
    if report.needs_action:
        raise typer.Exit(1)


def _print_status(report: lifecycle.StatusReport) -> None:
    table = [("KIND", "NAME", "EXPIRES", "LEFT", "STATE")]
    styles = [""]
    for item in report.items:
        left = "-"
        if item.expires is not None:
            seconds = int((item.expires - report.now).total_seconds())
            left = _left(seconds) if seconds > 0 else "-"
        state = item.action or "ok"
        if item.detail:
            state = f"{state} ({item.detail})"
        table.append(
            (
                item.kind,
                item.name,
                "-" if item.expires is None else _date(item.expires),
                left,
                state,
            )
        )
        styles.append("yellow" if item.action else "")
    _print_table(table, styles)
    count = sum(1 for item in report.items if item.action)
    days = report.window.days
    if count:
        verb = "needs" if count == 1 else "need"
        typer.echo(f"{count} item{'s' if count > 1 else ''} {verb} action within {days} days")
    else:
        typer.echo(f"nothing needs action within {days} days")


# -- helpers -----------------------------------------------------------------------------------


def _state(state_dir: Path | None) -> StateDir:
    return StateDir(state_dir if state_dir is not None else default_state_dir())


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _passphrase(state: StateDir, passphrase_file: Path | None) -> bytes | None:
    """From --passphrase-file, else the environment, else a prompt if the key is encrypted and
    stdin is a terminal; else None (an encrypted key then fails with a hint)."""
    passphrase = _read_passphrase(passphrase_file)
    if passphrase is None and is_encrypted_key(state.ca_key) and _stdin_is_terminal():
        entered = getpass.getpass(f"Passphrase for CA key {state.ca_key}: ")
        if not entered:
            raise UsageError("the passphrase is empty")
        passphrase = os.fsencode(entered)
    return passphrase


def _prompt_new_passphrase() -> bytes:
    if not _stdin_is_terminal():
        raise UsageError(
            f"--encrypt asks for the passphrase on a terminal; without one use {_PASSPHRASE_HINT}"
        )
    first = getpass.getpass("New passphrase for the CA key: ")
    if not first:
        raise UsageError("the passphrase is empty")
    if getpass.getpass("Repeat the passphrase: ") != first:
        raise UsageError("the passphrases do not match")
    return os.fsencode(first)


def _read_passphrase(passphrase_file: Path | None) -> bytes | None:
    """The passphrase from ``--passphrase-file`` (one trailing newline dropped), else the env."""
    if passphrase_file is None:
        value = os.environ.get(PASSPHRASE_ENV, "")
        return os.fsencode(value) if value else None
    try:
        data = passphrase_file.read_bytes()
    except OSError as err:
        raise UsageError(
            f"cannot read passphrase file {passphrase_file}: {os_error_reason(err)}"
        ) from err
    data = data.removesuffix(b"\n").removesuffix(b"\r")
    if not data:
        raise UsageError(f"passphrase file {passphrase_file} is empty")
    return data


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    # The pki modules report the files they touch; this catches the odd stat() on a path we
    # may not read, so the user sees one line rather than a traceback, and says where a
    # passphrase comes from.
    try:
        yield
    except PassphraseRequiredError as err:
        raise UsageError(f"{err} {_PASSPHRASE_HINT}") from err
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        raise UsageError(f"{where}{os_error_reason(err)}") from err


def _warn_trust_override() -> None:
    warning = handoff.trust_override_warning(os.environ)
    if warning is not None:
        typer.echo(f"dockward: warning: {warning}", err=True)


def _print_table(table: Sequence[Sequence[str]], styles: Sequence[str]) -> None:
    """Columns two spaces apart, each as wide as its widest cell (but the last); one style a
    line. Colour only on a terminal (or with FORCE_COLOR); never wrapped."""
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    console = Console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    for line, style in zip(table, styles, strict=True):
        cells = [cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)]
        console.print(Text("  ".join([*cells, line[-1]]), style=style))


def _print_json(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, indent=2))


def _describe(issued: IssuedCertificate) -> str:
    return f"serial {format_serial(issued.serial)}, expires {_date(issued.not_after)}"


def _role(entry: IndexEntry) -> str:
    return f"role {entry.role}, " if entry.role else ""


def _bundle_files() -> str:
    return ", ".join((BUNDLE_CA, BUNDLE_CERT, BUNDLE_KEY, BUNDLE_ENV))


def _quote(path: Path) -> str:
    return shlex.quote(os.fspath(path))


def _left(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {rest // 60}m"
    return f"{max(1, rest // 60)}m"


def _date(when: dt.datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M UTC}"
