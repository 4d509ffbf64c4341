"""``dockward ca``: create the CA and issue server and client certificates.

Parsing and printing only: the certificate work is ``dockward.pki.ca`` and the file layout is
``dockward.pki.state``. Bad input raises ``dockward.errors.UsageError``; the root ``main()`` turns
it into one ``dockward: <reason>`` line on stderr and exit code 2.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509

from dockward.errors import UsageError
from dockward.pki.ca import (
    BUNDLE_CA,
    BUNDLE_CERT,
    BUNDLE_KEY,
    DEFAULT_CLIENT_DAYS,
    DEFAULT_SERVER_DAYS,
    CertificateAuthority,
    IssuedCertificate,
    PassphraseRequiredError,
    validate_client_name,
    validate_server_name,
)
from dockward.pki.state import (
    DEFAULT_PORT,
    StateDir,
    default_state_dir,
    docker_host_url,
    env_lines,
)

PASSPHRASE_ENV = "DOCKWARD_CA_PASSPHRASE"

app = typer.Typer(
    help="Certificate authority: create the CA, issue server and client certificates.",
    no_args_is_help=True,
)
issue_app = typer.Typer(help="Issue a server or client certificate.", no_args_is_help=True)
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
        help=f"File holding the CA key passphrase (else ${PASSPHRASE_ENV}, if set).",
        show_default=False,
    ),
]


@app.command("init")
def init_command(
    state_dir: StateDirOption = None,
    passphrase_file: PassphraseFileOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing CA (its certificates stop working)."),
    ] = False,
) -> None:
    """Create the CA (ECDSA P-256, ten years); the key is encrypted if a passphrase is given."""
    with _os_errors():
        state = _state(state_dir)
        replacing = state.has_ca()
        if replacing and not force:
            raise UsageError(
                f"a CA already exists in {state.ca_dir}; "
                "pass --force to replace it (every certificate it issued stops working)"
            )
        passphrase = _read_passphrase(passphrase_file)
        ca = state.create_ca(passphrase)
        typer.echo(f"wrote CA certificate {state.ca_cert} (expires {_date(ca.not_after)})")
        protection = "encrypted" if passphrase else "unencrypted"
        typer.echo(f"wrote CA key {state.ca_key} ({protection}, mode 0600)")
        if replacing:
            typer.echo("replaced the previous CA: issue new server and client certificates")


@issue_app.command("server")
def issue_server_command(
    names: Annotated[
        list[str],
        typer.Argument(metavar="NAME", help="Host names and IP addresses clients dial."),
    ],
    days: Annotated[int, typer.Option("--days", min=1, help="Lifetime in days.")] = (
        DEFAULT_SERVER_DAYS
    ),
    state_dir: StateDirOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Issue the gateway's certificate (serverAuth) into STATE/server/."""
    with _os_errors():
        for name in names:
            validate_server_name(name)
        state = _state(state_dir)
        ca = _load_ca(state, passphrase_file)
        issued = ca.issue_server(names, days)
        issued.write(state.server_cert, state.server_key)
        typer.echo(
            f"wrote server certificate {state.server_cert} for {', '.join(_san_values(issued))} "
            f"({_describe(issued)})"
        )
        typer.echo(f"wrote server key {state.server_key} (mode 0600)")


@issue_app.command("client")
def issue_client_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Client name: A-Z a-z 0-9 . _ -")],
    days: Annotated[int, typer.Option("--days", min=1, help="Lifetime in days.")] = (
        DEFAULT_CLIENT_DAYS
    ),
    host: Annotated[
        str, typer.Option("--host", metavar="HOST[:PORT]", help="Gateway address for DOCKER_HOST.")
    ] = f"127.0.0.1:{DEFAULT_PORT}",
    state_dir: StateDirOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Issue a client certificate (clientAuth) as a DOCKER_CERT_PATH bundle."""
    with _os_errors():
        validate_client_name(name)
        docker_host_url(host)  # refuse a bad --host before anything is written
        state = _state(state_dir)
        ca = _load_ca(state, passphrase_file)
        issued = ca.issue_client(name, days)
        bundle = issued.write_bundle(state.client_dir(name))
        typer.echo(
            f"wrote client bundle {bundle} ({BUNDLE_CA}, {BUNDLE_CERT}, {BUNDLE_KEY}) "
            f"for {name} ({_describe(issued)})"
        )
        typer.echo("to use it:")
        for line in env_lines(host, bundle):
            typer.echo(f"  {line}")


def _state(state_dir: Path | None) -> StateDir:
    return StateDir(state_dir if state_dir is not None else default_state_dir())


def _load_ca(state: StateDir, passphrase_file: Path | None) -> CertificateAuthority:
    try:
        return state.load_ca(_read_passphrase(passphrase_file))
    except PassphraseRequiredError as err:
        raise UsageError(f"{err} (--passphrase-file FILE or ${PASSPHRASE_ENV})") from err


def _read_passphrase(passphrase_file: Path | None) -> bytes | None:
    """The passphrase from ``--passphrase-file`` (one trailing newline dropped), else the env."""
    if passphrase_file is None:
        value = os.environ.get(PASSPHRASE_ENV, "")
        return os.fsencode(value) if value else None
    try:
        data = passphrase_file.read_bytes()
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise UsageError(f"cannot read passphrase file {passphrase_file}: {reason}") from err
    data = data.removesuffix(b"\n").removesuffix(b"\r")
    if not data:
        raise UsageError(f"passphrase file {passphrase_file} is empty")
    return data


@contextlib.contextmanager
def _os_errors() -> Iterator[None]:
    # The pki modules report the files they touch; this catches the odd stat() on a path we
    # may not read, so the user sees one line rather than a traceback.
    try:
        yield
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        raise UsageError(f"{where}{(err.strerror or str(err)).lower()}") from err


def _san_values(issued: IssuedCertificate) -> list[str]:
    san = issued.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(entry.value) for entry in san]


def _describe(issued: IssuedCertificate) -> str:
    return f"serial {issued.serial:040x}, expires {_date(issued.not_after)}"


def _date(when: dt.datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M UTC}"
