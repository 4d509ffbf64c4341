"""The relay forwards what pinning made of a judged request: rewritten body, its framing, and
the refusal of a name the daemon did not know (playbooks, no sockets)."""

from __future__ import annotations

from playbook import Like, Playbook
from test_relay import Context, _Scripted, linger, record, refusal, unix_relay

from dockward.gateway.relay import (
    ClientData,
    FactsReady,
    FetchFacts,
    OpenUpstream,
    PauseReading,
    ResumeReading,
    SendClient,
    SendUpstream,
    Side,
    UpstreamConnected,
)
from dockward.http1.body import LAST_CHUNK, encode_chunk
from dockward.policy.profiles import FactQuery

ID = "0123456789ab" * 5 + "cdef"
DATA = FactQuery("container", "data")
BODY = b'{"Image":"i", "HostConfig":{"VolumesFrom":["data:ro"]}}'
PINNED = BODY.replace(b"data:ro", ID.encode() + b":ro")


def relay_judging_data():
    return unix_relay(Context(policy=_Scripted(inspect=True, rounds=[[DATA]])))


def test_a_rewritten_body_goes_with_its_new_length():
    head = b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    assert (
        Playbook(relay_judging_data())
        >> ClientData((head + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY,))
        << PauseReading((Side.CLIENT,))
        << FetchFacts(((DATA,),))
        >> FactsReady(({DATA: {"Id": ID, "Name": "/data"}},))
        << ResumeReading((Side.CLIENT,))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([head + b"Content-Length: %d\r\n\r\n" % len(PINNED), PINNED],))
    )


def test_a_chunked_body_is_re_chunked_rewritten():
    head = (
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (BODY[:9], BODY[9:])) + b"0\r\n\r\n"
    assert (
        Playbook(relay_judging_data())
        >> ClientData((head + chunked,))
        << PauseReading((Side.CLIENT,))
        << FetchFacts(((DATA,),))
        >> FactsReady(({DATA: {"Id": ID}},))
        << ResumeReading((Side.CLIENT,))
        << OpenUpstream()
        >> UpstreamConnected()
        << SendUpstream(([head, b"".join([*encode_chunk(PINNED), LAST_CHUNK])],))
    )


def test_a_name_unknown_when_judged_never_reaches_the_daemon():
    head = b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    request = head + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY
    assert (
        Playbook(relay_judging_data())
        >> ClientData((request,))
        << PauseReading((Side.CLIENT,))
        << FetchFacts(((DATA,),))
        >> FactsReady(({DATA: None},))
        << ResumeReading((Side.CLIENT,))
        << refusal(400, "No such container: data", close=False, as_daemon=True)
        << record(status=400, decision="refuse", reason="No such container: data")
    )


def test_an_unread_upload_refused_for_an_unknown_container_closes():
    web = FactQuery("container", "web")
    relay = unix_relay(Context(policy=_Scripted(rounds=[[web]])))
    request = b"PUT /containers/web/archive?path=/ HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n"
    assert (
        Playbook(relay)
        >> ClientData((request,))
        << PauseReading((Side.CLIENT,))
        << FetchFacts(((web,),))
        >> FactsReady(({web: None},))
        << ResumeReading((Side.CLIENT,))
        << Like(SendClient)
        << record(status=404, decision="refuse")
        << linger()
    )
