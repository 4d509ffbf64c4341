"""``--help`` of every command shows each help text as written, brackets included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer.main

from dockward.cli import app
from support.cli import run


def commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``command`` (typer's vendored click), by its argv path."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            yield from commands(sub, (*path, name))


COMMANDS = dict(commands(typer.main.get_command(app)))


def declared_help(command: Any) -> list[str]:
    """The help texts the source declares: the command's, then each option's and argument's."""
    texts = [command.help] + [getattr(param, "help", None) for param in command.params]
    return [text for text in texts if text]


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda path: " ".join(path) or "dockward")
def test_help_shows_every_declared_help_text_as_written(capsys, path):
    code, out, err = run(capsys, *path, "--help")
    assert (code, err) == (0, "")
    for text in declared_help(COMMANDS[path]):
        assert flat(text) in flat(out), f"{text!r} is not in the help of {' '.join(path)}"


def test_help_texts_with_brackets_are_among_those_checked():
    bracketed = {text for command in COMMANDS.values() for text in declared_help(command)}
    bracketed = {text for text in bracketed if "[" in text}
    assert "Policy file ([[role]] tables)" in bracketed
    assert any(text.startswith("State directory [default: ") for text in bracketed)
    assert len(bracketed) >= 5
