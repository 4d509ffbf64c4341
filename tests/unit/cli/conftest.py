"""CLI tests never see a passphrase, colour settings or a requests CA bundle (which makes the ca
commands warn) from the environment they run in."""

from __future__ import annotations

import pytest

INHERITED = (
    "DOCKWARD_CA_PASSPHRASE",
    "FORCE_COLOR",
    "NO_COLOR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in INHERITED:
        monkeypatch.delenv(name, raising=False)
