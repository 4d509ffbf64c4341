"""Running ``dockward`` in-process for CLI tests: exit code, standard output, standard error."""

from __future__ import annotations

import os

import pytest

from dockward.cli import main
from dockward.pki.index import CertKind, IndexEntry
from dockward.pki.state import StateDir


def run(capsys: pytest.CaptureFixture[str], *argv: str | os.PathLike[str]) -> tuple[int, str, str]:
    """``dockward ARGV`` through ``main()``: (exit code, stdout, stderr)."""
    code = main([os.fspath(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str | os.PathLike[str]) -> str:
    """Run a command that must succeed without a word on stderr; return stdout."""
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, ""), err
    return out


def current(state: StateDir, kind: CertKind, name: str | None = None) -> IndexEntry:
    """The index entry of the certificate in use for ``kind`` (and ``name``)."""
    with state.open_index() as index:
        entry = index.current(kind, name)
    assert entry is not None
    return entry
