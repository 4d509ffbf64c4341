"""Bulk bytes through the in-process TLS gateway arrive exactly: a tunnel, a Content-Length body
and a chunked body (its framing included), written by the daemon in pieces of every size (small
ones are gathered, large ones take the owned-buffer path), with the connection still usable
after its buffers were given back and after the last chunk."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from pathlib import Path

import pytest

from dockward.gateway import protocol
from dockward.gateway.server import Gateway
from support.inprocess_tls import client_context, make_pki, port_of, tls_gateway

OUTPUT = os.urandom(3 << 20)
STDIN = os.urandom(1 << 20)
UPGRADED = b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"


def _chunked(data: bytes) -> bytes:
    """``data`` in chunks of many sizes, some with extensions, ending with trailers."""
    pick = random.Random(2)
    out = bytearray()
    at = 0
    while at < len(data):
        size = pick.choice([1, 16, 4096, 32 * 1024, 32 * 1024, 200 * 1024, pick.randint(1, 9999)])
        ext = pick.choice([b"", b"", b";x=1", b";" + b"e" * 40])
        piece = data[at : at + size]
        out += b"%x%s\r\n%s\r\n" % (len(piece), ext, piece)
        at += size
    return bytes(out + b"0;end\r\nX-Checksum: abc\r\n\r\n")


CHUNKED_OUTPUT = _chunked(OUTPUT)
EXEC = (
    b"POST /exec/e1/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def _write_in_pieces(writer: asyncio.StreamWriter, data: bytes) -> None:
    """As dockerd does, in pieces of any size: some tiny, some of a frame, some large."""
    pick = random.Random(7)
    at = 0
    while at < len(data):
        size = pick.choice([1, 100, 4104, 4104, 4104, 32 * 1024, 300 * 1024])
        writer.write(data[at : at + size])
        at += size
        await writer.drain()
        if pick.random() < 0.2:
            await asyncio.sleep(0)  # let the gateway read a small piece on its own


async def _daemon(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"POST /exec/"):
                await reader.readexactly(2)
                writer.write(UPGRADED)
                await _write_in_pieces(writer, OUTPUT)
                stdin = await reader.readexactly(len(STDIN))
                writer.write(hashlib.sha256(stdin).digest())
                await writer.drain()
                writer.close()
                return
            if b"/get?chunked" in head:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                await _write_in_pieces(writer, CHUNKED_OUTPUT)
                continue
            body = OUTPUT if b"/get" in head else b"OK"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
            await _write_in_pieces(writer, body)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def _connect(
    pki: Path, gateway: Gateway
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(
        "127.0.0.1",
        port_of(gateway),
        ssl=client_context(pki),
        server_hostname="127.0.0.1",
        limit=8 << 20,
    )


def test_bulk_bytes_arrive_exactly_both_ways_and_the_connection_goes_on(pki, tmp_path, monkeypatch):
    monkeypatch.setattr(protocol, "RELEASE_AFTER", 0.05)  # buffers given back between transfers
    daemon = tmp_path / "docker.sock"

    async def scenario() -> None:
        fake = await asyncio.start_unix_server(_daemon, str(daemon))
        gateway = tls_gateway(pki, daemon)
        await gateway.start()
        try:
            reader, writer = await _connect(pki, gateway)  # a Content-Length body, twice
            for _ in range(2):
                writer.write(b"GET /images/x/get HTTP/1.1\r\nHost: x\r\n\r\n")
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                assert head.startswith(b"HTTP/1.1 200 OK")
                body = await asyncio.wait_for(reader.readexactly(len(OUTPUT)), 10)
                assert body == OUTPUT
                await asyncio.sleep(0.1)  # the grown TLS buffers are given back
            writer.write(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert await asyncio.wait_for(reader.readexactly(2), 10) == b"OK"
            for _ in range(2):  # a chunked body: the daemon's bytes, framing and all
                writer.write(b"GET /images/x/get?chunked=1 HTTP/1.1\r\nHost: x\r\n\r\n")
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                assert head.endswith(b"Transfer-Encoding: chunked\r\n\r\n")
                raw = await asyncio.wait_for(reader.readexactly(len(CHUNKED_OUTPUT)), 10)
                assert raw == CHUNKED_OUTPUT
            writer.write(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")  # the answer ended
            assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert await asyncio.wait_for(reader.readexactly(2), 10) == b"OK"
            writer.close()

            reader, writer = await _connect(pki, gateway)  # a tunnel
            writer.write(EXEC)
            writer.write(STDIN)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 101")
            output = await asyncio.wait_for(reader.readexactly(len(OUTPUT)), 10)
            assert output == OUTPUT
            assert await asyncio.wait_for(reader.read(), 10) == hashlib.sha256(STDIN).digest()
            writer.close()
        finally:
            await gateway.stop()
            fake.close()

    asyncio.run(scenario())


def test_a_chunked_body_read_in_odd_pieces_arrives_exactly(pki, tmp_path, monkeypatch):
    small = memoryview(bytearray(97))  # reads end anywhere: inside chunk-size lines, say
    monkeypatch.setattr(protocol, "read_buffer", lambda: small)
    monkeypatch.setattr(protocol, "GATHER_BELOW", 0)  # no 1 ms pause after each small read
    daemon = tmp_path / "docker.sock"
    body = _chunked(OUTPUT[:200_000])

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                await _write_in_pieces(writer, body)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def scenario() -> None:
        fake = await asyncio.start_unix_server(answer, str(daemon))
        gateway = tls_gateway(pki, daemon)
        await gateway.start()
        try:
            reader, writer = await _connect(pki, gateway)
            for _ in range(2):  # the second answer starts where the first one's last chunk ended
                writer.write(b"GET /images/x/get HTTP/1.1\r\nHost: x\r\n\r\n")
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                assert head.endswith(b"Transfer-Encoding: chunked\r\n\r\n")
                assert await asyncio.wait_for(reader.readexactly(len(body)), 10) == body
            writer.close()
        finally:
            await gateway.stop()
            fake.close()

    asyncio.run(scenario())
