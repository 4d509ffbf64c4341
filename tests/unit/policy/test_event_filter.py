"""The events stream's second line of defence: whole messages of the caller's owner only."""

from __future__ import annotations

import json

import pytest

from dockward.errors import ProtocolError
from dockward.http1.body import LAST_CHUNK, ChunkedReader
from dockward.policy.decision import Decision
from dockward.policy.event_filter import EventStreamFilter, owned_line, streamed_filter

OWNER = "cn:alice"


def _event(kind: str, name: str, owner: str | None, action: str = "start") -> bytes:
    attributes = {"name": name, "image": "busybox"}
    if owner is not None:
        attributes["dockward.owner"] = owner
    message = {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": name * 2, "Attributes": attributes},
        "time": 1,
    }
    return json.dumps(message).encode() + b"\n"


OWN = _event("container", "mine", OWNER)
FOREIGN = _event("container", "bobs", "cn:bob")
UNLABELLED = _event("container", "nobodys", None)
VOLUME = (
    b'{"Type":"volume","Action":"create","Actor":{"ID":"data","Attributes":{"driver":"local"}}}\n'
)
NETWORK = (
    b'{"Type":"network","Action":"connect","Actor":{"ID":"n1",'
    b'"Attributes":{"container":"c1","name":"net","type":"bridge"}}}\n'
)
OWN_IMAGE = _event("image", "app", OWNER, "tag")


def _unframed(pieces: list[bytes | memoryview]) -> bytes:
    return b"".join(bytes(p) for p in pieces)


def test_only_the_callers_messages_pass() -> None:
    stream = EventStreamFilter(OWNER, chunked=False)
    out = stream.feed([OWN + FOREIGN + UNLABELLED + VOLUME + NETWORK + OWN_IMAGE])
    assert _unframed(out) == OWN + OWN_IMAGE
    assert stream.finish() == []


@pytest.mark.parametrize(
    "line",
    [
        b"not json dockward.owner",
        b'{"Type":"container","dockward.owner":"cn:alice"}',  # not in Actor.Attributes
        b'{"Actor":{"Attributes":{"dockward.owner":"cn:alicE"}}}',
        b'{"Actor":{"Attributes":{"dockward.owner":["cn:alice"]}}}',
        b'["dockward.owner","cn:alice"]',
        b'{"Actor":{"Attributes":{"dockward.owner":"cn:alice "}}}',
    ],
)
def test_a_message_that_does_not_name_the_owner_exactly_is_dropped(line: bytes) -> None:
    assert not owned_line(line, OWNER)


def test_a_message_split_across_reads_is_sent_whole_once_complete() -> None:
    stream = EventStreamFilter(OWNER, chunked=False)
    data = FOREIGN + OWN + FOREIGN + OWN
    sent = b""
    for index in range(len(data)):  # one byte a read: the worst split there is
        sent += _unframed(stream.feed([data[index : index + 1]]))
        assert sent in (b"", OWN, OWN + OWN)  # never a part of a message
    assert sent == OWN + OWN


def test_a_foreign_message_split_across_reads_leaks_no_byte() -> None:
    stream = EventStreamFilter(OWNER, chunked=False)
    half = len(FOREIGN) // 2
    assert stream.feed([FOREIGN[:half]]) == []
    assert stream.feed([memoryview(FOREIGN[half:])]) == []


def test_chunked_framing_is_re_made_around_what_is_kept() -> None:
    stream = EventStreamFilter(OWNER, chunked=True)
    framed = b""
    for piece in (OWN[:10], OWN[10:] + FOREIGN[:5], FOREIGN[5:], UNLABELLED, OWN_IMAGE):
        framed += _unframed(stream.feed([piece]))
    framed += _unframed(stream.finish())
    assert framed.endswith(LAST_CHUNK)
    reader = ChunkedReader()
    payload: list[memoryview] = []
    assert reader.feed(framed, payload) == len(framed) and reader.done
    assert b"".join(bytes(p) for p in payload) == OWN + OWN_IMAGE


def test_a_last_message_without_its_newline_is_judged_at_the_end() -> None:
    stream = EventStreamFilter(OWNER, chunked=False)
    assert stream.feed([OWN.rstrip(b"\n")]) == []
    assert _unframed(stream.finish()) == OWN
    stream = EventStreamFilter(OWNER, chunked=False)
    stream.feed([FOREIGN.rstrip(b"\n")])
    assert stream.finish() == []


def test_a_message_longer_than_the_limit_ends_the_stream() -> None:
    stream = EventStreamFilter(OWNER, chunked=True, limit=64)
    with pytest.raises(ProtocolError, match="longer than 64 bytes"):
        stream.feed([b"x" * 65])


def test_a_length_framed_answer_becomes_close_delimited() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99\r\n\r\n"
    stream = EventStreamFilter(OWNER, chunked=False)
    assert stream.closes
    new = stream.head(head)
    assert b"Content-Length" not in new and new.endswith(b"Connection: close\r\n\r\n")
    chunked = EventStreamFilter(OWNER, chunked=True)
    assert not chunked.closes and chunked.head(head) is head


def test_only_a_scoped_events_answer_is_streamed_through_the_filter() -> None:
    scoped = Decision(True, "system.events", "r", owner=OWNER, filter_response=True)
    assert streamed_filter(scoped, chunked=True) is not None
    assert streamed_filter(Decision(True, "system.events", "r"), chunked=True) is None
    listed = Decision(True, "container.list", "r", owner=OWNER, filter_response=True)
    assert streamed_filter(listed, chunked=True) is None
