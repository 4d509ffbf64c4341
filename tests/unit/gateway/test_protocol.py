"""The asyncio adapter, in process: unix and TLS listeners in front of a scripted fake daemon."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from pathlib import Path

import pytest

from dockward.config import config_from_dict
from dockward.gateway import relay as relay_module
from dockward.gateway.events import ConnectionRefused, ExchangeRecord, HandshakeFailed, StreamCut
from dockward.gateway.protocol import ClientProtocol
from dockward.gateway.server import Gateway
from dockward.tls import session as session_module
from dockward.tls.plain_http import PLAIN_HTTP_ANSWER
from support.inprocess_tls import client_context, make_pki, port_of, tls_gateway

PING = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
PONG = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


async def _fake_daemon(path: Path) -> asyncio.base_events.Server:
    """Answers every ``GET /_ping`` head it reads with ``PONG`` (keep-alive)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(PONG)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_unix_server(serve, str(path))


async def _ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(PING)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head + await asyncio.wait_for(reader.readexactly(2), 5)


def test_a_raising_observer_does_not_break_the_next_keepalive_request(tmp_path, caplog):
    daemon, front = tmp_path / "docker.sock", tmp_path / "front.sock"
    seen: list[ExchangeRecord] = []

    def full_disk(event: object) -> None:
        raise OSError(28, "No space left on device")

    async def scenario() -> list[bytes]:
        fake = await _fake_daemon(daemon)
        config = config_from_dict({"upstream": str(daemon), "listen": [{"unix": str(front)}]})
        gateway = Gateway(config, observers=[full_disk, seen.append])  # type: ignore[list-item]
        await gateway.start()
        try:
            reader, writer = await asyncio.open_unix_connection(str(front))
            answers = [await _ask(reader, writer) for _ in range(3)]
            writer.close()
            return answers
        finally:
            await gateway.stop()
            fake.close()

    with caplog.at_level(logging.ERROR, logger="dockward.gateway"):
        answers = asyncio.run(scenario())
    assert answers == [PONG] * 3
    assert [(r.path, r.status) for r in seen] == [("/_ping", 200)] * 3
    failures = [r for r in caplog.records if "observer" in r.getMessage()]
    assert len(failures) == 1


# --------------------------------------------------------------- over TLS, in process


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_over_tls_keepalive_then_a_revocation_cut_reach_the_observers(pki, tmp_path):
    daemon = tmp_path / "docker.sock"
    seen: list[object] = []

    async def scenario() -> tuple[list[bytes], bytes]:
        fake = await _fake_daemon(daemon)
        gateway = tls_gateway(pki, daemon, allow=["127.0.0.0/8"], observers=[seen.append])
        await gateway.start()
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port_of(gateway), ssl=client_context(pki), server_hostname="127.0.0.1"
            )
            answers = [await _ask(reader, writer) for _ in range(2)]
            gateway.refusal = lambda identity: "certificate revoked"  # type: ignore[method-assign]
            assert gateway.enforce_revocations() == 1
            rest = await asyncio.wait_for(reader.read(), 5)  # the cut: EOF, nothing more
            writer.close()
            return answers, rest
        finally:
            await gateway.stop()
            fake.close()

    answers, rest = asyncio.run(scenario())
    assert answers == [PONG, PONG] and rest == b""
    records = [e for e in seen if isinstance(e, ExchangeRecord)]
    assert [(r.status, r.identity.common_name) for r in records] == [(200, "alice")] * 2
    cuts = [e for e in seen if isinstance(e, StreamCut)]
    assert len(cuts) == 1 and cuts[0].reason == "certificate revoked"
    assert cuts[0].peer.identity is not None and cuts[0].peer.identity.common_name == "alice"


def test_refused_sources_and_plain_http_are_audit_events(pki, tmp_path):
    daemon = tmp_path / "docker.sock"
    seen: list[object] = []

    async def scenario() -> tuple[bytes, bytes]:
        refusing = tls_gateway(pki, daemon, allow=["10.0.0.0/8"], observers=[seen.append])
        serving = tls_gateway(pki, daemon, allow=["127.0.0.0/8"], observers=[seen.append])
        await refusing.start()
        await serving.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(refusing))
            refused = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(serving))
            writer.write(PING)
            answered = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return refused, answered
        finally:
            await refusing.stop()
            await serving.stop()

    refused, answered = asyncio.run(scenario())
    assert refused == b"" and answered == PLAIN_HTTP_ANSWER
    assert [type(e) for e in seen] == [ConnectionRefused, HandshakeFailed]
    assert seen[0].reason == "source address not in the allow-list"  # type: ignore[attr-defined]
    assert seen[0].peer.source.startswith("127.0.0.1:")  # type: ignore[attr-defined]
    assert seen[1].reason == "plain HTTP request, answered 400 Bad Request"  # type: ignore[attr-defined]


def test_a_client_that_leaves_while_the_daemon_connection_opens_leaves_nothing_behind(
    tmp_path, caplog
):
    daemon, front = tmp_path / "docker.sock", tmp_path / "front.sock"

    async def scenario() -> int:
        fake = await _fake_daemon(daemon)
        config = config_from_dict({"upstream": str(daemon), "listen": [{"unix": str(front)}]})
        gateway = Gateway(config)
        await gateway.start()
        try:
            for _ in range(20):
                _, writer = await asyncio.open_unix_connection(str(front))
                writer.write(PING)
                writer.close()  # gone before the gateway's daemon connection is up
                await writer.wait_closed()
            for _ in range(200):  # until the gateway has let every connection go
                if not gateway.connections:
                    break
                await asyncio.sleep(0.01)
            return len(gateway.connections)
        finally:
            await gateway.stop()
            fake.close()

    with caplog.at_level(logging.WARNING):
        left = asyncio.run(scenario())
    assert left == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    ("version", "writes"),
    [
        # our flight, then the session tickets together with the first answer
        (ssl.TLSVersion.TLSv1_3, 2),
        # our flight, our Finished (which the client waits for), the answer
        (ssl.TLSVersion.TLSv1_2, 3),
    ],
)
def test_tls13_session_tickets_wait_for_the_first_answer(
    pki, tmp_path, monkeypatch, version, writes
):
    daemon = tmp_path / "docker.sock"
    written: list[int] = []
    made = ClientProtocol.connection_made

    def spied(self: ClientProtocol, transport: asyncio.BaseTransport) -> None:
        write = transport.write  # type: ignore[attr-defined]

        def counted(data: bytes) -> None:
            written.append(len(data))
            write(data)

        transport.write = counted  # type: ignore[attr-defined]
        made(self, transport)

    monkeypatch.setattr(ClientProtocol, "connection_made", spied)

    async def scenario() -> bytes:
        fake = await _fake_daemon(daemon)
        gateway = tls_gateway(pki, daemon)
        await gateway.start()
        try:
            context = client_context(pki)
            context.maximum_version = version
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port_of(gateway), ssl=context, server_hostname="127.0.0.1"
            )
            answer = await _ask(reader, writer)
            writer.close()
            return answer
        finally:
            await gateway.stop()
            fake.close()

    assert asyncio.run(scenario()) == PONG
    assert len(written) == writes, written


@pytest.mark.parametrize("threads", [0, 2], ids=["on-the-loop", "on-2-threads"])
def test_handshakes_on_threads_end_as_handshakes_on_the_loop(pki, tmp_path, caplog, threads):
    daemon = tmp_path / "docker.sock"
    seen: list[object] = []

    async def scenario() -> tuple[int, bytes, bytes, bytes]:
        fake = await _fake_daemon(daemon)
        gateway = tls_gateway(
            pki, daemon, allow=["127.0.0.0/8"], observers=[seen.append], handshake_threads=threads
        )
        await gateway.start()
        running = len(gateway.handshake_threads or ())
        port = port_of(gateway)
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_context(pki), server_hostname="127.0.0.1"
            )
            answer = await _ask(reader, writer)
            writer.close()
            anonymous = ssl.create_default_context(cafile=str(pki / "ca.pem"))
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=anonymous, server_hostname="127.0.0.1"
            )
            try:  # TLS 1.3: the client learns of the refusal when it reads
                writer.write(PING)
                refused = await asyncio.wait_for(reader.read(), 5)
            except ssl.SSLError as err:
                refused = str(err).encode()
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(PING)
            plain = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return running, answer, refused, plain
        finally:
            await gateway.stop()
            fake.close()

    with caplog.at_level(logging.WARNING):
        running, answer, refused, plain = asyncio.run(scenario())
    assert running == threads
    assert answer == PONG
    assert b"CERTIFICATE_REQUIRED" in refused
    assert plain == PLAIN_HTTP_ANSWER
    failed = [e for e in seen if isinstance(e, HandshakeFailed)]
    assert [e.reason for e in failed] == [
        "peer did not return a certificate",
        "plain HTTP request, answered 400 Bad Request",
    ]
    assert [(r.path, r.status) for r in seen if isinstance(r, ExchangeRecord)] == [("/_ping", 200)]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_handshake_that_times_out_during_a_step_on_a_thread_stays_timed_out(
    pki, tmp_path, caplog, monkeypatch
):
    daemon = tmp_path / "docker.sock"
    seen: list[object] = []
    release = threading.Event()
    monkeypatch.setattr(relay_module, "HANDSHAKE_TIMEOUT", 0.2)
    for backend in (session_module.BundledSession, session_module.PythonSSLSession):
        original = backend.handshake_step

        def held_step(self, original=original):  # the last step outlives the handshake timeout
            outcome = original(self)
            if outcome is True:
                release.wait(10)
            return outcome

        monkeypatch.setattr(backend, "handshake_step", held_step)
    original_stepped = ClientProtocol._stepped
    stepped: list[bool | str] = []

    def recorded(self, outcome):
        original_stepped(self, outcome)
        stepped.append(outcome)

    monkeypatch.setattr(ClientProtocol, "_stepped", recorded)

    async def scenario() -> bytes:
        timed_out = asyncio.Event()

        def observe(event: object) -> None:
            seen.append(event)
            if isinstance(event, HandshakeFailed):
                timed_out.set()

        fake = await _fake_daemon(daemon)
        gateway = tls_gateway(
            pki, daemon, allow=["127.0.0.0/8"], observers=[observe], handshake_threads=2
        )
        await gateway.start()
        try:
            opening = asyncio.ensure_future(
                asyncio.open_connection(
                    "127.0.0.1",
                    port_of(gateway),
                    ssl=client_context(pki),
                    server_hostname="127.0.0.1",
                )
            )
            await asyncio.wait_for(timed_out.wait(), 5)
            release.set()  # the step ends after the connection did
            deadline = asyncio.get_running_loop().time() + 5
            while not stepped and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            try:  # TLS 1.3: the client is through before the server has its Finished
                reader, writer = await asyncio.wait_for(opening, 5)
                writer.write(PING)
                ended = await asyncio.wait_for(reader.read(), 5)
                writer.close()
            except (ConnectionError, ssl.SSLError) as err:
                ended = type(err).__name__.encode()
            return ended
        finally:
            release.set()
            await gateway.stop()
            fake.close()

    with caplog.at_level(logging.WARNING):
        ended = asyncio.run(scenario())
    assert PONG not in ended  # aborted: no request of it reached the daemon
    assert stepped[-1] is True  # the held step came back, to a connection already gone
    assert [type(e) for e in seen] == [HandshakeFailed]
    assert seen[0].reason == "timed out"  # type: ignore[attr-defined]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
