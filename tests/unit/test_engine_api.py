"""The Engine API client over a real (unix socket) stream: requests in turn on one kept-alive
connection, JSON and inspect answers, 404 as "no such object", timeouts, closed connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from dockward.engine_api import ApiConnection, HttpError, open_unix

Answer = tuple[int, bytes, str]  # status, body, extra header lines


class FakeDaemon:
    """A unix-socket server answering GETs from ``answers``; records every request head."""

    def __init__(self, path: Path, answers: dict[str, Answer]) -> None:
        self.path, self.answers = path, answers
        self.heads: list[bytes] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.heads.append(head)
                target = head.split(b" ")[1].decode()
                status, body, extra = self.answers.get(target, (404, b'{"message":"no"}', ""))
                if status == 0:  # hang
                    await asyncio.sleep(3600)
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode()
                    + body
                )
                await writer.drain()
                if "close" in extra.lower():
                    break
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()


def run(
    tmp_path: Path, answers: dict[str, Answer], scenario: Callable[[str], Awaitable[Any]]
) -> tuple[Any, FakeDaemon]:
    daemon = FakeDaemon(tmp_path / "d.sock", answers)

    async def main() -> Any:
        server = await asyncio.start_unix_server(daemon.handle, str(daemon.path))
        async with server:
            return await scenario(str(daemon.path))

    return asyncio.run(main()), daemon


OBJECT = (200, json.dumps({"Id": "abc", "HostConfig": {}}).encode(), "")


def test_requests_in_turn_on_one_kept_alive_connection(tmp_path: Path) -> None:
    async def scenario(path: str) -> Any:
        connection = await open_unix(path, 5.0)
        try:
            first = await connection.get_json("/containers/abc/json")
            second = await connection.inspect("/volumes/v")
            third = await connection.get("/_ping")
            return first, second, third.status, connection.closed
        finally:
            await connection.close()

    answers = {"/containers/abc/json": OBJECT, "/_ping": (200, b"OK", "")}
    (first, second, status, closed), daemon = run(tmp_path, answers, scenario)
    assert (first, second, status, closed) == ({"Id": "abc", "HostConfig": {}}, None, 200, False)
    assert daemon.connections == 1
    assert daemon.heads[0] == (
        b"GET /containers/abc/json HTTP/1.1\r\nHost: docker\r\nUser-Agent: dockward\r\n"
        b"Accept: application/json\r\n\r\n"
    )
    assert [head.split(b"\r\n")[0] for head in daemon.heads] == [
        b"GET /containers/abc/json HTTP/1.1",
        b"GET /volumes/v HTTP/1.1",
        b"GET /_ping HTTP/1.1",
    ]


def test_a_connection_the_server_closes_is_not_used_again(tmp_path: Path) -> None:
    async def scenario(path: str) -> Any:
        connection = await open_unix(path, 5.0)
        try:
            await connection.get("/_ping")
            assert connection.closed
            with pytest.raises(HttpError, match="connection closed by the server"):
                await connection.get("/_ping")
        finally:
            await connection.close()

    _, daemon = run(tmp_path, {"/_ping": (200, b"OK", "Connection: close\r\n")}, scenario)
    assert len(daemon.heads) == 1


@pytest.mark.parametrize(
    ("answer", "method", "error"),
    [
        ((500, b'{"message":"boom"}', ""), "inspect", "answered 500"),
        ((200, b"[1, 2]", ""), "inspect", "not a JSON object"),
        ((200, b"not json", ""), "inspect", "200 answer is not JSON"),
        ((404, b"{}", ""), "get_json", "GET /x answered 404"),
    ],
)
def test_unusable_answers(tmp_path: Path, answer: Answer, method: str, error: str) -> None:
    async def scenario(path: str) -> Any:
        connection = await open_unix(path, 5.0)
        try:
            with pytest.raises(HttpError, match=error):
                await getattr(connection, method)("/x")
        finally:
            await connection.close()

    run(tmp_path, {"/x": answer}, scenario)


def test_a_silent_server_times_out_and_spends_the_connection(tmp_path: Path) -> None:
    async def scenario(path: str) -> Any:
        connection = await open_unix(path, 0.2)
        try:
            with pytest.raises(TimeoutError):
                await connection.get("/hang")
            return connection.closed
        finally:
            await connection.close()

    closed, _ = run(tmp_path, {"/hang": (0, b"", "")}, scenario)
    assert closed is True


def test_the_caller_may_bring_its_own_stream_and_name(tmp_path: Path) -> None:
    async def scenario(path: str) -> Any:
        reader, writer = await asyncio.open_unix_connection(path)
        connection = ApiConnection(reader, writer, "10.0.0.1:2376", 5.0, user_agent="probe")
        try:
            return await connection.get_json("/version")
        finally:
            await connection.close()

    version, daemon = run(tmp_path, {"/version": (200, b'{"Version":"27.0"}', "")}, scenario)
    assert version == {"Version": "27.0"}
    assert b"Host: 10.0.0.1:2376\r\nUser-Agent: probe\r\n" in daemon.heads[0]
