"""The relay's fast lanes do what the general path does: same bytes sent, same record."""

from __future__ import annotations

from test_relay import ATTACH, PING, SWITCH, connected, unix_relay

from dockward.gateway.events import END_DAEMON_GONE, ExchangeRecord
from dockward.gateway.relay import (
    ClientData,
    ClientEOF,
    ClientGone,
    Command,
    Emit,
    Relay,
    SendClient,
    SendUpstream,
    UpstreamData,
    UpstreamEOF,
)

LOAD = b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n"
SAVE = b"GET /images/x/get HTTP/1.1\r\nHost: x\r\n\r\n"
SAVED = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: 30\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


def from_daemon(relay: Relay, data: bytes, lanes: bool) -> list[Command]:
    """What the adapter does with the daemon's ``data``."""
    if lanes and relay.pass_to_client(data):
        return [SendClient((data,))]
    return relay.handle(UpstreamData((data,)))


def from_client(relay: Relay, data: bytes, lanes: bool) -> list[Command]:
    """What the adapter does with the client's ``data``."""
    if lanes and relay.pass_to_upstream(len(data)):
        return [SendUpstream((data,))]
    return relay.handle(ClientData((data,)))


def records(commands: list[Command]) -> list[ExchangeRecord]:
    return [c[0] for c in commands if type(c) is Emit and isinstance(c[0], ExchangeRecord)]


def tunnel(lanes: bool) -> tuple[list[Command], ExchangeRecord]:
    relay = unix_relay()
    connected(relay, ATTACH)
    out = from_daemon(relay, SWITCH, lanes)
    for piece in (b"out-1", b"out-22", b"out-333"):
        out += from_daemon(relay, piece, lanes)
        out += from_client(relay, b"in-" + piece, lanes)
    out += relay.handle(ClientEOF())  # stdin EOF: output goes on
    out += from_daemon(relay, b"last", lanes)
    out += relay.handle(UpstreamEOF())
    out += from_daemon(relay, b"after the end", lanes)  # dropped both ways
    out += relay.handle(ClientGone())
    (record,) = records(out)
    return [c for c in out if type(c) is not Emit], record


def test_a_tunnel_through_the_lanes_sends_and_records_what_the_general_path_does():
    fast, fast_record = tunnel(lanes=True)
    slow, slow_record = tunnel(lanes=False)
    assert fast == slow
    assert fast_record.bytes_out == slow_record.bytes_out == len(SWITCH) + 5 + 6 + 7 + 4
    assert fast_record.hijacked and fast_record.status == 101


def length_bodies(lanes: bool) -> tuple[list[Command], list[ExchangeRecord]]:
    relay = unix_relay()
    playbook = connected(relay, SAVE)
    assert playbook
    out = from_daemon(relay, SAVED + b"0123456789", lanes)
    out += from_daemon(relay, b"0123456789", lanes)  # the middle: the lane
    out += from_daemon(relay, b"012345678", lanes)
    out += from_daemon(relay, b"9", lanes)  # the end takes the general way
    out += from_client(relay, LOAD, lanes)
    for piece in (b"a" * 10, b"b" * 10, b"c" * 10):
        out += from_client(relay, piece, lanes)
    out += from_daemon(relay, OK, lanes)
    out += from_client(relay, PING, lanes)
    return [c for c in out if type(c) is not Emit], records(out)


def test_content_length_bodies_through_the_lanes_end_as_on_the_general_path():
    fast, fast_records = length_bodies(lanes=True)
    slow, slow_records = length_bodies(lanes=False)
    assert fast == slow
    assert [(r.path, r.status, r.bytes_in, r.bytes_out) for r in fast_records] == [
        ("/images/x/get", 200, 0, len(SAVED) + 30),
        ("/images/load", 200, 30, len(OK)),
    ]
    assert [(r.bytes_in, r.bytes_out) for r in slow_records] == [
        (r.bytes_in, r.bytes_out) for r in fast_records
    ]


def test_the_lanes_refuse_what_needs_the_relay():
    relay = unix_relay()
    assert not relay.pass_to_client(b"12345") and not relay.pass_to_upstream(5)  # no exchange
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    connected(relay, SAVE)
    relay.handle(UpstreamData((chunked,)))
    assert not relay.pass_to_client(b"0\r\n\r\n")  # the last chunk ends the exchange
    assert not relay.pass_to_client(b"5\r\nhelloX")  # malformed: the general path reports it
    assert relay.pass_to_client(b"5\r\nhello\r\n0")  # the last chunk's line is not whole yet
    relay = unix_relay()
    connected(relay, SAVE)
    relay.handle(UpstreamData((SAVED,)))
    assert not relay.pass_to_client(bytes(30))  # the body's last bytes end the exchange
    assert relay.pass_to_client(bytes(29))
    relay = unix_relay()
    connected(relay, ATTACH)
    relay.handle(UpstreamData((SWITCH,)))
    relay.handle(UpstreamEOF())  # the daemon is done: the client's side is half-closed
    assert not relay.pass_to_client(b"12345")
    assert relay.pass_to_upstream(5)


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n"
)
CHUNKS = (
    b"a\r\n0123456789\r\n",
    b"1a;ext=1\r",
    b"\nabcdefghijklmnopqrstuvwxyz\r\n4\r\nwx",
    b"yz\r\n10\r\n0123456789abcdef",
    b"\r\n0\r",  # the last chunk's line split across reads
    b"\nX-Trailer: t\r\n\r\n",
)


def chunked_bodies(lanes: bool) -> tuple[list[Command], list[ExchangeRecord]]:
    relay = unix_relay()
    connected(relay, SAVE)
    out = from_daemon(relay, CHUNKED + CHUNKS[0], lanes)
    for piece in CHUNKS[1:]:
        out += from_daemon(relay, piece, lanes)
    out += from_client(relay, PING, lanes)  # the connection goes on after the last chunk
    out += from_daemon(relay, OK, lanes)
    return [c for c in out if type(c) is not Emit], records(out)


def test_chunked_bodies_through_the_lanes_send_every_byte_and_end_as_on_the_general_path():
    fast, fast_records = chunked_bodies(lanes=True)
    slow, slow_records = chunked_bodies(lanes=False)
    assert fast == slow
    sent = b"".join(bytes(c[0]) for c in fast if type(c) is SendClient)
    assert sent == CHUNKED + b"".join(CHUNKS) + OK
    body = sum(len(piece) for piece in CHUNKS)
    assert [(r.path, r.status, r.bytes_out) for r in fast_records] == [
        ("/images/x/get", 200, len(CHUNKED) + body),
        ("/_ping", 200, len(OK)),
    ]
    assert [r.bytes_out for r in slow_records] == [r.bytes_out for r in fast_records]


def cut_chunked_body(lanes: bool) -> tuple[list[Command], list[ExchangeRecord]]:
    relay = unix_relay()
    connected(relay, SAVE)
    out = from_daemon(relay, CHUNKED + CHUNKS[0], lanes)
    out += from_daemon(relay, CHUNKS[1], lanes)  # in the middle of a size line
    out += relay.handle(UpstreamEOF())  # the daemon stops there: the answer is cut
    out += relay.handle(ClientGone())
    return [c for c in out if type(c) is not Emit], records(out)


def test_a_chunked_body_cut_after_the_lane_ends_as_on_the_general_path():
    fast, fast_records = cut_chunked_body(lanes=True)
    slow, slow_records = cut_chunked_body(lanes=False)
    assert fast == slow
    assert [(r.status, r.bytes_out, r.end) for r in fast_records] == [
        (r.status, r.bytes_out, r.end) for r in slow_records
    ]
    assert fast_records[0].end == END_DAEMON_GONE  # not a complete answer
