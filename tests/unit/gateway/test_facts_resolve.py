"""The gateway's resolver lookups (``FactQuery("host", name)``) for the outbound checks."""

from __future__ import annotations

import asyncio
import socket

import pytest

from dockward.errors import ProtocolError
from dockward.gateway import facts
from dockward.policy.profiles import FactQuery


def test_a_name_resolves_to_its_addresses() -> None:
    answer = asyncio.run(facts.fetch_facts("/nonexistent.sock", [FactQuery("host", "localhost")]))
    addresses = answer[FactQuery("host", "localhost")]
    assert addresses is not None
    assert "127.0.0.1" in addresses["Addresses"]  # type: ignore[operator]


def _failing(errno: int):
    async def getaddrinfo(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(errno, "test failure")

    return getaddrinfo


def test_a_name_without_address_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.new_event_loop()
    try:
        monkeypatch.setattr(loop, "getaddrinfo", _failing(socket.EAI_NONAME))
        answer = loop.run_until_complete(facts.fetch_facts("/x", [FactQuery("host", "no.such")]))
    finally:
        loop.close()
    assert answer == {FactQuery("host", "no.such"): None}


def test_a_resolver_failure_is_an_error_not_an_allow(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.new_event_loop()
    try:
        monkeypatch.setattr(loop, "getaddrinfo", _failing(socket.EAI_AGAIN))
        with pytest.raises(ProtocolError, match=r"policy lookup of host 'r\.example' failed"):
            loop.run_until_complete(facts.fetch_facts("/x", [FactQuery("host", "r.example")]))
    finally:
        loop.close()
