"""The ``dockward`` command line: parsing only; the work lives in the modules it calls.

``main(argv) -> int`` is the tested entry point; ``run()`` is the console script.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from dockward.cli import audit as audit_cli
from dockward.cli import ca as ca_cli
from dockward.cli import gateway as gateway_cli
from dockward.cli import policy as policy_cli
from dockward.cli import scan as scan_cli
from dockward.cli import status as status_cli
from dockward.cli import tenancy as tenancy_cli
from dockward.errors import DockwardError

app = typer.Typer(
    name="dockward",
    help="The secure front door of a Docker host.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[[role]]" must not be read as markup
)


def _print_version(wanted: bool) -> None:
    if not wanted:
        return
    try:
        print(f"dockward {version('dockward')}")
    except PackageNotFoundError:
        print("dockward (version unknown: the package is not installed; run `make install`)")
    raise typer.Exit(0)


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """The secure front door of a Docker host."""


app.add_typer(ca_cli.app, name="ca")
app.add_typer(policy_cli.app, name="policy")
app.add_typer(tenancy_cli.app, name="tenancy")
audit_cli.register(app)
gateway_cli.register(app)
scan_cli.register(app)
status_cli.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` and return the exit code."""
    try:
        app(args=argv, prog_name="dockward")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except DockwardError as err:
        for line in str(err).splitlines() or [""]:  # a file with several problems: one a line
            print(f"dockward: {line}", file=sys.stderr)
        return getattr(err, "exit_code", 1)
    except KeyboardInterrupt:
        return 130
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
