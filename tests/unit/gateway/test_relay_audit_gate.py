"""The relay asks the audit store before letting a write through, and times the response head."""

from __future__ import annotations

from test_relay import Context

from dockward.gateway.events import ExchangeRecord, Peer
from dockward.gateway.relay import (
    ClientData,
    Emit,
    OpenUpstream,
    Relay,
    SendClient,
    SendUpstream,
    Start,
    UpstreamConnected,
    UpstreamData,
)
from dockward.identity import PeerIdentity

UNIX = PeerIdentity("unix", uid=0, gid=0, pid=1)
STOP = b"POST /containers/c1/stop HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
PING = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
PONG = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


class FullStore:
    """An audit store whose buffer is nine tenths full (``refuse-writes``)."""

    _refusing_since: float | None = None
    _description = "SQLite /tmp/audit.sqlite3"
    accepting = False

    def refusal_detail(self) -> str:
        return "95 records wait"

    def accepting_writes(self) -> bool:
        return self.accepting


def relay_with(store: object) -> Relay:
    relay = Relay(
        Context(audit_store=store),  # type: ignore[arg-type]
        Peer("/run/dockward.sock", "unix:/run/dockward.sock", UNIX),
        None,
        tls=False,
    )
    relay.handle(Start())
    return relay


def sent(commands: list[object]) -> bytes:
    return b"".join(c[0] for c in commands if isinstance(c, SendClient))


def records(commands: list[object]) -> list[ExchangeRecord]:
    return [c[0] for c in commands if isinstance(c, Emit)]


def test_a_write_is_refused_with_503_while_the_store_cannot_record_it():
    store = FullStore()
    relay = relay_with(store)
    commands = relay.handle(ClientData((STOP,)))
    assert not any(isinstance(c, OpenUpstream | SendUpstream) for c in commands)
    answer = sent(commands)
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"the audit store of this gateway cannot record container.stop now" in answer
    (record,) = records(commands)
    assert (record.decision, record.rule, record.status) == ("deny", "audit-store", 503)
    assert store._refusing_since is not None


def test_a_read_goes_through_while_the_store_cannot_record_and_a_write_once_it_can():
    store = FullStore()
    relay = relay_with(store)
    assert relay.handle(ClientData((PING,))) == [OpenUpstream()]
    assert relay.handle(UpstreamConnected()) == [SendUpstream(([PING],))]
    (record,) = records(relay.handle(UpstreamData((PONG,))))
    assert record.decision == "allow"
    assert 0 < record.first_byte_ms <= record.duration_ms
    store.accepting = True
    commands = relay.handle(ClientData((STOP,)))
    assert commands == [SendUpstream((STOP,))]
    assert store._refusing_since is None


def test_without_a_store_nothing_is_asked():
    relay = relay_with(None)
    assert relay.handle(ClientData((STOP,))) == [OpenUpstream()]
