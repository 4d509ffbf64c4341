"""CLI tests never see a passphrase or colour settings from the environment they run in."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCKWARD_CA_PASSPHRASE", "FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
