"""``dockward --version``: the installed package's version, from its metadata."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest

import dockward.cli
from support.cli import ok

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_version_prints_the_project_version(capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert ok(capsys, "--version") == f"dockward {project['version']}\n"


def test_version_wins_over_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert ok(capsys, "--version", "ca", "list").startswith("dockward ")


def test_version_without_installed_metadata_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(dockward.cli, "version", missing)
    assert ok(capsys, "--version") == (
        "dockward (version unknown: the package is not installed; run `make install`)\n"
    )
