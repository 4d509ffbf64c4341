"""Differential tests: dockward's readers against Go's own functions (see support/godiff.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.godiff import PROFILE, godiff

__all__ = ["godiff"]

_HERE = Path(__file__).parent
# The first test to use the helper builds it: about 45 s with an empty Go build cache (Go
# compiles its standard library), more on a busy machine. make fuzz runs without timeouts.
_FIRST_BUILD_TIMEOUT = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if PROFILE == "fuzz":
        return
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.timeout(_FIRST_BUILD_TIMEOUT))
