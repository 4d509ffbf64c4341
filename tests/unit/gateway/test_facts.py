"""The policy's daemon lookups: each object inspected on a connection of its own, 404 read as
"no such object", any other failure a 502 ``ProtocolError`` (never an implicit allow)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from dockward.errors import ProtocolError
from dockward.gateway import facts
from dockward.gateway.facts import fetch_facts
from dockward.policy.profiles import FactQuery


class Daemon:
    """A unix-socket daemon answering one request per connection, as dockerd would."""

    def __init__(self, answers: dict[str, tuple[int, bytes]]) -> None:
        self.answers = answers
        self.targets: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ")[1].decode()
            self.targets.append(target)
            status, body = self.answers.get(target, (404, b'{"message":"No such object"}'))
            if status == 0:
                await asyncio.sleep(3600)
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n".encode()
                + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
            )
            await writer.drain()
            await reader.read()  # the client closes once it has the answer
        finally:
            writer.close()


def fetch(tmp_path: Path, daemon: Daemon, queries: list[FactQuery]) -> Any:
    socket = str(tmp_path / "docker.sock")

    async def main() -> Any:
        async with await asyncio.start_unix_server(daemon.handle, socket):
            return await fetch_facts(socket, queries)

    return asyncio.run(main())


CONTAINER = {"Id": "c" * 64, "HostConfig": {"Privileged": True}}


def test_each_object_is_inspected_and_404_is_none(tmp_path: Path) -> None:
    daemon = Daemon({"/containers/web/json": (200, json.dumps(CONTAINER).encode())})
    queries = [
        FactQuery("container", "web"),
        FactQuery("volume", "a/b"),
        FactQuery("network", "host"),
        FactQuery("exec", "e1"),
        FactQuery("container", "web"),
    ]
    assert fetch(tmp_path, daemon, queries) == {
        FactQuery("container", "web"): CONTAINER,
        FactQuery("volume", "a/b"): None,
        FactQuery("network", "host"): None,
        FactQuery("exec", "e1"): None,
    }
    assert sorted(daemon.targets) == [
        "/containers/web/json",
        "/exec/e1/json",
        "/networks/host",
        "/volumes/a%2Fb",
    ]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((500, b'{"message":"boom"}'), "policy lookup of container 'web' failed: answered 500"),
        ((200, b'"text"'), "policy lookup of container 'web' failed: the answer is not a JSON"),
        ((200, b"{"), "policy lookup of container 'web' failed: 200 answer is not JSON"),
    ],
)
def test_a_failed_lookup_is_a_502(tmp_path: Path, answer: tuple[int, bytes], error: str) -> None:
    daemon = Daemon({"/containers/web/json": answer})
    with pytest.raises(ProtocolError, match=error) as raised:
        fetch(tmp_path, daemon, [FactQuery("container", "web")])
    assert raised.value.status == 502


def test_a_daemon_that_does_not_answer_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(facts, "FACT_TIMEOUT", 0.2)
    daemon = Daemon({"/containers/web/json": (0, b"")})
    with pytest.raises(TimeoutError):
        fetch(tmp_path, daemon, [FactQuery("container", "web")])


def test_no_daemon_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        asyncio.run(fetch_facts(str(tmp_path / "absent.sock"), [FactQuery("volume", "v")]))
