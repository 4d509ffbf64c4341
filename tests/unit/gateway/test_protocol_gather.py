"""Gathering the daemon's small writes: a stream's reads pause briefly, backpressure still wins."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from dockward.gateway import protocol
from dockward.gateway.protocol import ClientProtocol, UpstreamProtocol
from dockward.gateway.relay import Answer, PauseReading, ResumeReading, Side, UpstreamData


@pytest.fixture(autouse=True)
def _every_recent_read_is_a_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads in a test come microseconds apart, but a busy machine can stretch that past the
    real gap: the gap is made long, so whether a read counts as a stream is up to the test."""
    monkeypatch.setattr(protocol, "STREAMING_GAP", 60.0)


class Transport:
    def __init__(self) -> None:
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return False


class Client:
    """What ``UpstreamProtocol`` and ``_pause``/``_resume`` use of a ``ClientProtocol``."""

    def __init__(self, transport: Transport, answer: Answer | None = None) -> None:
        self.gone = False
        self.sent: list[bytes] = []
        self.handled: list[object] = []
        # answer None: the relay passes everything on; else it takes each read and is in answer
        self.relay = SimpleNamespace(pass_to_client=lambda size: answer is None, answer=answer)
        self.upstream = UpstreamProtocol(self)  # type: ignore[arg-type]
        self.upstream.transport = transport  # type: ignore[assignment]
        self._reader = lambda side: transport

    def send_client(self, data: memoryview) -> None:
        self.sent.append(data.tobytes())

    def handle(self, event: object) -> None:
        self.handled.append(event)

    def watch_growth(self) -> None:
        pass

    def pause(self) -> None:
        ClientProtocol._pause(self, PauseReading((Side.UPSTREAM,)))  # type: ignore[arg-type]

    def resume(self) -> None:
        ClientProtocol._resume(self, ResumeReading((Side.UPSTREAM,)))  # type: ignore[arg-type]


def receive(upstream: UpstreamProtocol, data: bytes) -> None:
    """A read from the daemon, as the event loop does it."""
    upstream.get_buffer(len(data))[: len(data)] = data
    upstream.buffer_updated(len(data))


async def _until(condition, seconds: float = 1.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.001)
    return True


def test_a_lone_read_is_not_delayed_and_a_stream_of_small_reads_is_gathered():
    async def scenario() -> None:
        transport = Transport()
        client = Client(transport)
        upstream = client.upstream
        receive(upstream, b"echo")
        assert transport.reading  # one read: nothing to gather
        receive(upstream, b"more")  # a stream: pause, then read what gathered
        assert not transport.reading and upstream.gathering
        assert await _until(lambda: transport.reading)
        receive(upstream, bytes(protocol.GATHER_BELOW))  # a large read: no pause
        assert transport.reading
        assert client.sent == [b"echo", b"more", bytes(protocol.GATHER_BELOW)]

    asyncio.run(scenario())


def test_backpressure_keeps_reading_paused_past_the_gathering():
    async def scenario() -> None:
        transport = Transport()
        client = Client(transport)
        upstream = client.upstream
        receive(upstream, b"a")
        receive(upstream, b"b")  # gathering
        client.pause()  # the client is slow: the relay pauses the daemon side
        assert await _until(lambda: not upstream.gathering)
        assert not transport.reading  # the gathering's end does not override the relay
        client.resume()
        assert transport.reading
        receive(upstream, b"c")
        assert not transport.reading and upstream.gathering
        client.resume()  # a relay resume during a gathering leaves the resume to it
        assert not transport.reading
        assert await _until(lambda: transport.reading)

    asyncio.run(scenario())


def test_a_body_the_relay_reads_itself_is_gathered_too_but_not_once_it_has_ended():
    async def scenario() -> None:
        transport = Transport()
        chunked = Client(transport, Answer.BODY)  # a chunked body: the general path
        receive(chunked.upstream, b"1")
        receive(chunked.upstream, b"2")
        assert not transport.reading and chunked.handled == [
            UpstreamData((b"1",)),
            UpstreamData((b"2",)),
        ]
        assert await _until(lambda: transport.reading)
        transport = Transport()
        answered = Client(transport, Answer.IDLE)  # whole answers: nothing to wait for
        receive(answered.upstream, b"HTTP/1.1 200 OK")
        receive(answered.upstream, b"HTTP/1.1 200 OK")
        assert transport.reading

    asyncio.run(scenario())


def test_the_reads_of_an_earlier_answer_do_not_make_the_next_body_wait():
    async def scenario() -> None:
        transport = Transport()
        client = Client(transport, Answer.BODY)
        upstream = client.upstream
        receive(upstream, b"HTTP/1.1 200 OK ... chunk")  # an answer's head and first bytes
        client.relay.answer = Answer.IDLE
        receive(upstream, b"0\r\n\r\n")  # its end, on a keep-alive connection
        assert transport.reading
        client.relay.answer = Answer.BODY  # the next answer's head and first bytes of its body
        receive(upstream, b"HTTP/1.1 200 OK ... chunk")
        assert transport.reading  # a millisecond after the last answer, but a new stream
        receive(upstream, b"chunk")  # its second read: now it is a stream
        assert not transport.reading and upstream.gathering
        assert await _until(lambda: transport.reading)

    asyncio.run(scenario())
