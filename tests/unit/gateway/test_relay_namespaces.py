"""The relay under a role with private names: what reaches the daemon and what the client sees.

The mapping itself is tests/unit/policy/test_namespaces.py; these prove the wiring: the target
and body are moved before the lookups and the pinning, the head follows the body's new length,
and no prefixed name reaches the client, whether dockerd's answer, an error of the daemon's,
or a refusal of the gateway's carries it.
"""

from __future__ import annotations

import json

from test_relay import UNIX, Context, unix_relay
from test_relay_tenancy import _sent_client, _sent_upstream

from dockward.gateway.relay import (
    ClientData,
    Command,
    FactsReady,
    FetchFacts,
    UpstreamConnected,
    UpstreamData,
)
from dockward.http1.response import error_response
from dockward.policy.engine import RolePolicy
from dockward.policy.namespaces import name_prefix
from dockward.policy.paths import parse_query
from dockward.policy.profiles import FactQuery
from dockward.policy.roles import policy_config_from_dict

OWNER = f"uid:{UNIX.uid}"
P = name_prefix(OWNER)
ROLE = {"name": "t", "clients": ["uid:0"], "preset": "ci", "scope": "own"}
PRIVATE = RolePolicy(policy_config_from_dict({"role": [{**ROLE, "names": "private"}]}))
SHARED = RolePolicy(policy_config_from_dict({"role": [ROLE]}))
ID = "c" * 64
IMAGE_ID = "sha256:" + "d" * 64
MINE = {"Id": ID, "Name": f"/{P}web", "Config": {"Labels": {"dockward.owner": OWNER}}}


def _answer(status: int, document: object, reason: bytes = b"OK") -> bytes:
    body = json.dumps(document).encode()
    return b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        reason,
        len(body),
        body,
    )


def _body_of(sent: bytes) -> object:
    head, _, body = sent.partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % len(body) in head
    return json.loads(body)


def test_a_create_is_looked_up_and_forwarded_under_the_stored_names() -> None:
    relay = unix_relay(Context(policy=PRIVATE))
    body = json.dumps(
        {
            "Image": "busybox",
            "HostConfig": {"Binds": ["data:/data"], "NetworkMode": "app_default"},
            "NetworkingConfig": {"EndpointsConfig": {"app_default": {"Aliases": ["web"]}}},
        }
    ).encode()
    request = (
        b"POST /v1.41/containers/create?name=app_web_1 HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    out = relay.handle(ClientData((request + body,)))
    [fetch] = [c for c in out if isinstance(c, FetchFacts)]
    queries = set(fetch.queries)  # type: ignore[attr-defined]
    assert {
        FactQuery("container", P + "app_web_1"),
        FactQuery("volume", P + "data"),
        FactQuery("network", P + "app_default"),
    } <= queries
    answers: dict[FactQuery, object] = {q: None for q in queries}
    owned = {"Labels": {"dockward.owner": OWNER}}
    answers[FactQuery("image", "busybox")] = {"Id": IMAGE_ID, "Config": {"Labels": None}}
    answers[FactQuery("volume", P + "data")] = {"Name": P + "data", **owned}
    answers[FactQuery("network", P + "app_default")] = {"Id": "n" * 64, **owned}
    out = relay.handle(FactsReady((answers,)))  # type: ignore[arg-type]
    forwarded = _sent_upstream(out + relay.handle(UpstreamConnected()))
    head, _, sent = forwarded.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == f"/v1.41/containers/create?name={P}app_web_1".encode()
    assert b"Content-Length: %d" % len(sent) in head
    document = json.loads(sent)
    assert document["HostConfig"]["Binds"] == [P + "data:/data"]
    assert document["Image"] == IMAGE_ID  # images have no private names; pinned by ID
    # the network judged under the stored name is then pinned to its ID (issue 12)
    network = "n" * 64
    assert document["HostConfig"]["NetworkMode"] == network
    assert document["NetworkingConfig"]["EndpointsConfig"] == {
        network: {"Aliases": ["web"], "NetworkID": network}
    }
    warning = f"the name /{P}app_web_1 was given"
    sent_back = _sent_client(
        relay.handle(UpstreamData((_answer(201, {"Id": ID, "Warnings": [warning]}, b"Created"),)))
    )
    assert _body_of(sent_back) == {"Id": ID, "Warnings": ["the name /app_web_1 was given"]}


def test_an_inspect_is_pinned_and_answered_under_the_plain_names() -> None:
    relay = unix_relay(Context(policy=PRIVATE))
    out = relay.handle(ClientData((b"GET /v1.41/containers/web/json HTTP/1.1\r\nHost: x\r\n\r\n",)))
    [fetch] = [c for c in out if isinstance(c, FetchFacts)]
    assert fetch.queries == (FactQuery("container", P + "web"),)  # type: ignore[attr-defined]
    out = relay.handle(FactsReady(({FactQuery("container", P + "web"): MINE},)))
    forwarded = _sent_upstream(out + relay.handle(UpstreamConnected()))
    assert forwarded.split(b" ")[1] == f"/v1.41/containers/{ID}/json".encode()
    inspect = {
        **MINE,
        "HostConfig": {"Binds": [f"{P}data:/d"], "NetworkMode": f"{P}net", "Links": None},
        "Mounts": [{"Name": f"{P}data", "Source": f"/var/lib/docker/volumes/{P}data/_data"}],
        "NetworkSettings": {"Networks": {f"{P}net": {}}},
    }
    sent = _sent_client(relay.handle(UpstreamData((_answer(200, inspect),))))
    assert P.encode() not in sent
    got = _body_of(sent)
    assert got["Name"] == "/web" and list(got["NetworkSettings"]["Networks"]) == ["net"]  # type: ignore[index]


class Client:
    """A relay under PRIVATE, and the lookups it asked for last."""

    def __init__(self) -> None:
        self.relay = unix_relay(Context(policy=PRIVATE))
        self.asked: tuple[FactQuery, ...] = ()

    def send(self, data: bytes) -> list[Command]:
        return self._noted(self.relay.handle(ClientData((data,))))

    def answer(self, found: dict[str, object]) -> list[Command]:
        """Answer the lookups asked for: by name from ``found``, None for the rest."""
        answers = {query: found.get(query.name) for query in self.asked}
        return self._noted(self.relay.handle(FactsReady((answers,))))  # type: ignore[arg-type]

    def _noted(self, out: list[Command]) -> list[Command]:
        fetches = [c for c in out if isinstance(c, FetchFacts)]
        self.asked = fetches[0].queries if fetches else ()  # type: ignore[attr-defined]
        return out


def test_a_missing_name_is_looked_for_as_written_then_refused_in_dockerds_words() -> None:
    client = Client()
    client.send(b"POST /v1.41/containers/web/stop HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.asked == (FactQuery("container", P + "web"),)
    client.answer({})
    assert client.asked == (FactQuery("container", "web"),)  # not ours under the prefix
    out = client.answer({})
    assert _sent_client(out) == error_response(404, "No such container: web", as_daemon=True)


def test_a_short_id_and_an_object_made_before_are_found_as_written() -> None:
    legacy = {"Id": "d" * 64, "Name": "/web", "Config": {"Labels": {"dockward.owner": OWNER}}}
    for written, found in (("web", legacy), ("ddd", legacy), ("cc", MINE)):
        client = Client()
        client.send(f"POST /v1.41/containers/{written}/stop HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        if found is MINE:  # a name of the owner's that reads as an ID prefix
            out = client.answer({P + written: MINE})
        else:
            client.answer({})
            out = client.answer({written: found})
        forwarded = _sent_upstream(out + client.relay.handle(UpstreamConnected()))
        assert forwarded.split(b" ")[1] == f"/v1.41/containers/{found['Id']}/stop".encode()
    # another owner's object under the plain name is still another owner's
    client = Client()
    client.send(b"POST /v1.41/containers/web/stop HTTP/1.1\r\nHost: x\r\n\r\n")
    client.answer({})
    theirs = {**legacy, "Config": {"Labels": {"dockward.owner": "cn:bob"}}}
    out = client.answer({"web": theirs})
    assert _sent_client(out) == error_response(404, "No such container: web", as_daemon=True)


def test_a_daemon_error_loses_the_prefix_and_a_stream_goes_as_it_came() -> None:
    client = Client()
    client.send(b"GET /v1.41/volumes/data HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.asked == (FactQuery("volume", P + "data"),)
    volume = {"Name": P + "data", "Labels": {"dockward.owner": OWNER}}
    out = client.answer({P + "data": volume})
    relay = client.relay
    forwarded = _sent_upstream(out + relay.handle(UpstreamConnected()))
    assert forwarded.split(b" ")[1] == f"/v1.41/volumes/{P}data".encode()
    missing = _answer(404, {"message": f"get {P}data: no such volume"}, b"Not Found")
    assert _body_of(_sent_client(relay.handle(UpstreamData((missing,))))) == {
        "message": "get data: no such volume"
    }

    client = Client()
    client.send(b"GET /v1.41/containers/web/logs?stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    client.answer({P + "web": MINE})
    relay = client.relay
    relay.handle(UpstreamConnected())
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    line = f"the container's own output may say {P}web\n".encode()
    chunk = b"%x\r\n%s\r\n" % (len(line), line)
    assert _sent_client(relay.handle(UpstreamData((head + chunk,)))) == head + chunk


def test_list_filters_move_and_events_lose_the_prefix() -> None:
    relay = unix_relay(Context(policy=PRIVATE))
    query = "all=1&filters=" + json.dumps({"name": ["^web"]}, separators=(",", ":")).replace(
        '"', "%22"
    )
    out = relay.handle(
        ClientData((f"GET /v1.41/containers/json?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),))
    )
    target = _sent_upstream(out + relay.handle(UpstreamConnected())).split(b" ")[1].decode()
    filters = json.loads(parse_query(target.partition("?")[2])["filters"][0])
    escaped = P.replace(".", "\\.")
    assert filters == {"name": {f"^{escaped}web": True}, "label": {f"dockward.owner={OWNER}": True}}
    listing = [{"Id": ID, "Names": [f"/{P}web"], "Labels": {"dockward.owner": OWNER}}]
    sent = _sent_client(relay.handle(UpstreamData((_answer(200, listing),))))
    assert _body_of(sent) == [{"Id": ID, "Names": ["/web"], "Labels": {"dockward.owner": OWNER}}]

    relay = unix_relay(Context(policy=PRIVATE))
    out = relay.handle(ClientData((b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n",)))
    relay.handle(UpstreamConnected())
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    event = {
        "Type": "container",
        "Action": "start",
        "Actor": {"ID": ID, "Attributes": {"name": f"{P}web", "dockward.owner": OWNER}},
    }
    line = json.dumps(event).encode() + b"\n"
    sent = _sent_client(relay.handle(UpstreamData((head + b"%x\r\n%s\r\n" % (len(line), line),))))
    assert P.encode() not in sent and b'"name": "web"' in sent


def test_a_role_with_shared_names_forwards_names_as_written() -> None:
    relay = unix_relay(Context(policy=SHARED))
    out = relay.handle(ClientData((b"GET /v1.41/volumes/data HTTP/1.1\r\nHost: x\r\n\r\n",)))
    [fetch] = [c for c in out if isinstance(c, FetchFacts)]
    assert fetch.queries == (FactQuery("volume", "data"),)  # type: ignore[attr-defined]


def test_a_create_naming_a_volume_made_before_forwards_it_as_written() -> None:
    client = Client()
    body = b'{"Image":"busybox","HostConfig":{"Binds":["old-data:/d"]}}'
    client.send(
        b"POST /v1.41/containers/create?name=web-1 HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    assert FactQuery("volume", P + "old-data") in client.asked
    busybox = {"Id": IMAGE_ID, "Config": {"Labels": None}}
    client.answer({"busybox": busybox})
    assert FactQuery("volume", "old-data") in client.asked
    old = {"Name": "old-data", "Labels": {"dockward.owner": OWNER}}
    out = client.answer({"old-data": old, "busybox": busybox})
    forwarded = _sent_upstream(out + client.relay.handle(UpstreamConnected()))
    head, _, sent = forwarded.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == f"/v1.41/containers/create?name={P}web-1".encode()
    assert b"Content-Length: %d" % len(sent) in head
    assert json.loads(sent)["HostConfig"]["Binds"] == ["old-data:/d"]


def test_a_stats_stream_loses_the_prefix_line_by_line() -> None:
    client = Client()
    client.send(b"GET /v1.41/containers/web/stats HTTP/1.1\r\nHost: x\r\n\r\n")
    client.answer({P + "web": MINE})
    relay = client.relay
    relay.handle(UpstreamConnected())
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    line = json.dumps({"name": f"/{P}web", "id": ID, "cpu_stats": {}}).encode() + b"\n"
    data = head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (line[:9], line[9:], line))
    sent = _sent_client(relay.handle(UpstreamData((data,))))
    assert sent.startswith(head) and P.encode() not in sent
    assert sent.count(b'"name": "/web"') == 2
