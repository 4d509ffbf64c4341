"""The relay under a scoped role: what it forwards (stamped, filters narrowed) and answers.

The tenancy verdicts themselves are tests/unit/policy/test_tenancy.py; these prove the wiring
the relay owns: the rewritten head and body reach the daemon with the right framing, a list
answer is filtered before the client sees it, and a foreign object is answered in dockerd's
words without dockward's prefix.
"""

from __future__ import annotations

import json

from test_relay import UNIX, Context, unix_relay

from dockward.gateway.relay import (
    ClientData,
    Command,
    FactsReady,
    FetchFacts,
    OpenUpstream,
    SendClient,
    SendUpstream,
    UpstreamConnected,
    UpstreamData,
)
from dockward.http1.response import error_response
from dockward.policy.engine import RolePolicy
from dockward.policy.paths import parse_query
from dockward.policy.profiles import FactQuery
from dockward.policy.roles import policy_config_from_dict

OWNER = f"uid:{UNIX.uid}"
POLICY = RolePolicy(
    policy_config_from_dict(
        {"role": [{"name": "t", "clients": ["uid:0"], "preset": "ci", "scope": "own"}]}
    )
)


def _sent_upstream(commands: list[Command]) -> bytes:
    pieces = [c for c in commands if isinstance(c, SendUpstream)]
    return b"".join(bytes(p) for c in pieces for p in c.data)  # type: ignore[attr-defined]


def _sent_client(commands: list[Command]) -> bytes:
    return b"".join(bytes(c.data) for c in commands if isinstance(c, SendClient))  # type: ignore[attr-defined]


def test_a_create_is_forwarded_stamped_under_its_new_length() -> None:
    relay = unix_relay(Context(policy=POLICY))
    body = b'{"Image":"busybox","Labels":{"app":"web"}}'
    request = (
        b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    out = relay.handle(ClientData((request + body,)))
    [fetch] = [c for c in out if isinstance(c, FetchFacts)]
    assert FactQuery("image", "busybox") in fetch.queries  # type: ignore[attr-defined]
    answers = {q: None for q in fetch.queries}  # type: ignore[attr-defined]
    image_id = "sha256:" + "ab" * 32
    answers[FactQuery("image", "busybox")] = {"Id": image_id, "Config": {"Labels": None}}
    out = relay.handle(FactsReady((answers,)))
    assert OpenUpstream() in out
    forwarded = _sent_upstream(out + relay.handle(UpstreamConnected()))
    head, _, sent = forwarded.partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % len(sent) in head
    labels: dict[str, str] = {}
    images = []
    for key, value in json.loads(sent, object_pairs_hook=list):
        if key == "Labels":
            labels.update(dict(value))
        if key == "Image":
            images.append(value)
    assert labels == {"app": "web", "dockward.owner": OWNER}
    # tenancy judged the image's owner: the image judged is the one dockerd uses (issue 12)
    assert images == [image_id]


def test_a_list_is_narrowed_and_its_answer_filtered_again() -> None:
    relay = unix_relay(Context(policy=POLICY))
    request = b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    out = relay.handle(ClientData((request,)))
    out += relay.handle(UpstreamConnected())
    head = _sent_upstream(out)
    target = head.split(b" ")[1].decode()
    filters = json.loads(parse_query(target.partition("?")[2])["filters"][0])
    assert filters == {"label": {f"dockward.owner={OWNER}": True}}
    listing = json.dumps(
        [{"Id": "1", "Labels": {"dockward.owner": OWNER}}, {"Id": "2", "Labels": {}}]
    ).encode()
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    sent = _sent_client(relay.handle(UpstreamData((answer % len(listing) + listing,))))
    sent_head, _, sent_body = sent.partition(b"\r\n\r\n")
    assert [item["Id"] for item in json.loads(sent_body)] == ["1"]
    assert b"Content-Length: %d\r\n" % len(sent_body) in sent_head + b"\r\n"


def test_a_foreign_container_is_answered_in_dockerds_words() -> None:
    relay = unix_relay(Context(policy=POLICY))
    out = relay.handle(ClientData((b"GET /v1.41/containers/web/json HTTP/1.1\r\nHost: x\r\n\r\n",)))
    [fetch] = [c for c in out if isinstance(c, FetchFacts)]
    foreign = {"Name": "/web", "Config": {"Labels": {"dockward.owner": "uid:1000"}}}
    out = relay.handle(FactsReady(({q: foreign for q in fetch.queries},)))  # type: ignore[attr-defined]
    expected = error_response(404, "No such container: web", as_daemon=True)
    assert _sent_client(out) == expected
    assert b"dockward" not in expected


def _event(name: str, owner: str | None) -> bytes:
    attributes = {"name": name} | ({"dockward.owner": owner} if owner else {})
    message = {
        "Type": "container",
        "Action": "start",
        "Actor": {"ID": name, "Attributes": attributes},
    }
    return json.dumps(message).encode() + b"\n"


def test_an_events_stream_is_narrowed_and_filtered_again_as_it_streams() -> None:
    relay = unix_relay(Context(policy=POLICY))
    out = relay.handle(ClientData((b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n",)))
    out += relay.handle(UpstreamConnected())
    target = _sent_upstream(out).split(b" ")[1].decode()
    filters = json.loads(parse_query(target.partition("?")[2])["filters"][0])
    assert filters == {"label": {f"dockward.owner={OWNER}": True}}
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    own, foreign = _event("mine", OWNER), _event("theirs", "uid:1000")
    sent = _sent_client(relay.handle(UpstreamData((head + b"%x\r\n%s\r\n" % (len(own), own),))))
    assert sent == head + b"%x\r\n%s\r\n" % (len(own), own)  # sent at once: not collected
    # a foreign message and an own one, the chunk boundaries inside them
    rest = foreign + own + _event("nobodys", None)
    data = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (rest[:7], rest[7:90], rest[90:]))
    sent = b"".join(
        _sent_client(relay.handle(UpstreamData((data[i : i + 5],)))) for i in range(0, len(data), 5)
    )
    assert sent == b"%x\r\n%s\r\n" % (len(own), own)
    assert _sent_client(relay.handle(UpstreamData((b"0\r\n\r\n",)))) == b"0\r\n\r\n"


def _context_tar(dockerfile: bytes, padding: int = 0) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, content in (("Dockerfile", dockerfile), ("pad", b"p" * padding)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return out.getvalue()


def _chunked(data: bytes, size: int) -> bytes:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def _dechunked(data: bytes) -> bytes:
    from dockward.http1.body import ChunkedReader

    reader, payload = ChunkedReader(), []  # type: ignore[var-annotated]
    assert reader.feed(data, payload) == len(data) and reader.done
    return b"".join(bytes(p) for p in payload)


BUILD = (
    b"POST /v1.41/build?t=app HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def _build_policy(unread: str, limit: int = 65536) -> RolePolicy:
    role = {"name": "t", "clients": ["uid:0"], "preset": "ci", "scope": "own"}
    config = {"role": [{**role, "unread_dockerfile": unread}], "build_context_limit": limit}
    return RolePolicy(policy_config_from_dict(config))


def test_a_build_is_judged_by_its_dockerfiles_from_then_forwarded_whole() -> None:
    relay = unix_relay(Context(policy=_build_policy("refuse")))
    tar = _context_tar(b"FROM theirs:1\n")
    out = relay.handle(ClientData((BUILD + _chunked(tar, 300),)))
    [fetch] = [c for c in out if isinstance(c, FetchFacts)]
    assert FactQuery("image", "theirs:1") in fetch.queries  # type: ignore[attr-defined]
    answers = {q: None for q in fetch.queries}  # type: ignore[attr-defined]
    answers[FactQuery("image", "theirs:1")] = {"Config": {"Labels": {"dockward.owner": "cn:x"}}}
    refused = _sent_client(relay.handle(FactsReady((answers,))))
    assert refused == error_response(404, "No such image: theirs:1", as_daemon=True)

    relay = unix_relay(Context(policy=_build_policy("refuse")))
    tar = _context_tar(b"FROM busybox\n")
    out = relay.handle(ClientData((BUILD + _chunked(tar, 300),)))
    [fetch] = [c for c in out if isinstance(c, FetchFacts)]
    out = relay.handle(FactsReady(({q: None for q in fetch.queries},)))  # type: ignore[attr-defined]
    forwarded = _sent_upstream(out + relay.handle(UpstreamConnected()))
    head, _, body = forwarded.partition(b"\r\n\r\n")
    assert b"labels=" in head.split(b"\r\n")[0]
    assert _dechunked(body) == tar


def test_a_context_beyond_the_bound_is_refused_or_streamed_unread_as_the_role_says() -> None:
    tar = _context_tar(b"FROM busybox\n", padding=20000)
    request = BUILD + _chunked(tar, 1000)
    relay = unix_relay(Context(policy=_build_policy("refuse", 1024)))
    out = relay.handle(ClientData((request,)))
    [fetch] = [c for c in out if isinstance(c, FetchFacts)]
    assert fetch.queries == (FactQuery("image", "app:latest"),)  # type: ignore[attr-defined]
    refused = _sent_client(relay.handle(FactsReady(({q: None for q in fetch.queries},))))  # type: ignore[attr-defined]
    assert refused.startswith(b"HTTP/1.1 403 ") and b"larger than 1024 bytes" in refused
    relay = unix_relay(Context(policy=_build_policy("allow", 1024)))
    out = relay.handle(ClientData((request[:3000],)))  # the bound is passed within these
    [fetch] = [c for c in out if isinstance(c, FetchFacts)]
    out = relay.handle(FactsReady(({q: None for q in fetch.queries},)))  # type: ignore[attr-defined]
    out += relay.handle(UpstreamConnected())
    out += relay.handle(ClientData((request[3000:],)))
    forwarded = _sent_upstream(out)
    assert _dechunked(forwarded.partition(b"\r\n\r\n")[2]) == tar
