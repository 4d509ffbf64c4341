"""Private name spaces: names moved in (target, query, filters, bodies) and out (answers)."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest

from dockward.policy.decision import Decision
from dockward.policy.gojson import decode_body
from dockward.policy.namespaces import (
    BODY_REWRITERS,
    NAMED_ANSWERS,
    Entered,
    Mover,
    Namespace,
    Refusal,
    enter_request,
    fallbacks,
    name_prefix,
    namespace,
    rewrite_body,
    rewrite_filters,
    rewrite_target,
    rewrites_answer,
    shown,
)
from dockward.policy.paths import parse_query
from dockward.policy.tenancy import forwarded_response

ALICE = namespace("cn:alice")
BOB = namespace("cn:bob")
P = ALICE.prefix
CONTAINER_NAME = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")  # dockerd's RestrictedNamePattern
VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
# what any owner's prefix looks like: readable part, a dot, 8 hex digits, a dot
ANY_PREFIX = re.compile(rb"[a-z0-9-]+\.[0-9a-f]{8}\.")


@pytest.mark.parametrize(
    "owner",
    ["cn:alice", "uid:1000", "role:tenants", "san:https://ci.example/x", "cn:ÄÖ", "cn:" + "x" * 90],
)
def test_a_prefix_is_valid_in_every_name_grammar_and_readable(owner: str) -> None:
    prefix = name_prefix(owner)
    assert CONTAINER_NAME.fullmatch(prefix + "web") and VOLUME_NAME.fullmatch(prefix + "data")
    assert ANY_PREFIX.fullmatch(prefix.encode())
    assert len(prefix) <= 24 + 10
    assert name_prefix(owner) == prefix  # the same on every request and after restarts


def test_owners_whose_readable_parts_agree_get_distinct_prefixes() -> None:
    owners = ["cn:a.b", "cn:a-b", "cn:a b", "cn:A.B", "uid:1", "role:1", "cn:" + "x" * 40]
    owners.append("cn:" + "x" * 41)
    prefixes = {name_prefix(owner) for owner in owners}
    assert len(prefixes) == len(owners)
    assert name_prefix("cn:a.b").startswith("cn-a-b.")
    assert P.startswith("cn-alice.") and BOB.prefix.startswith("cn-bob.")


def test_names_move_in_and_full_ids_and_predefined_networks_stay() -> None:
    assert ALICE.container("web") == P + "web"
    assert ALICE.container("/web") == "/" + P + "web"
    assert ALICE.container("3f2a9c") == P + "3f2a9c"  # a name first, as dockerd reads it
    assert ALICE.container("a" * 64) == "a" * 64
    assert ALICE.network("app_default") == P + "app_default"
    for predefined in ("bridge", "host", "none", "default", "Bridge"):
        assert ALICE.network(predefined) == predefined
    assert ALICE.volume("data") == P + "data"
    assert ALICE.volume("db") == P + "db"  # volumes have no IDs
    assert ALICE.volume("f" * 64) == "f" * 64  # the name of an anonymous volume
    assert ALICE.mode("container:db-1") == "container:" + P + "db-1"
    assert ALICE.mode("host") == "host" and ALICE.mode("net") == P + "net"


def test_a_new_name_goes_under_the_prefix_whatever_it_looks_like() -> None:
    target = rewrite_target(ALICE, "container.create", "/containers/create", {}, None, "name=db")
    assert target == f"/containers/create?name={P}db"
    for operation in ("network.create", "volume.create"):
        body = b'{"Name":"beef"}'
        assert rewrite_body(ALICE, operation, body, decode_body(body)) == (
            b'{"Name":"' + P.encode() + b'beef"}'
        )


def _decision_of(operation: str) -> Decision:
    return Decision(True, operation, "r", owner="cn:alice", private_names=True)


def test_a_reference_the_owner_has_no_object_for_is_forwarded_as_written() -> None:
    from dockward.policy.paths import split_target
    from dockward.policy.profiles import FactQuery
    from dockward.policy.routes import classify_route

    body = b'{"Image":"x","HostConfig":{"VolumesFrom":["3f2a"],"Binds":["old:/o","new:/n"]}}'
    request = classify_route("POST", split_target(b"/v1.41/containers/create?name=web-1"))
    head = b"POST /v1.41/containers/create?name=web-1 HTTP/1.1\r\n\r\n"
    decision = _decision_of("container.create")
    first = enter_request(decision, request, head, body, decode_body(body))
    assert isinstance(first, Entered)
    assert first.head.startswith(f"POST /v1.41/containers/create?name={P}web-1 ".encode())
    assert set(first.moved) == {
        ("container", "3f2a", P + "3f2a"),
        ("volume", "old", P + "old"),
        ("volume", "new", P + "new"),
    }
    facts = {
        FactQuery("container", P + "3f2a"): None,  # no such name: the ID prefix it is
        FactQuery("volume", P + "old"): None,  # made before the names were private
        FactQuery("volume", P + "new"): {"Name": P + "new"},
    }
    kept = fallbacks(first.moved, facts)
    assert kept == {("container", "3f2a"), ("volume", "old")}
    second = enter_request(decision, request, head, body, decode_body(body), kept)
    assert isinstance(second, Entered) and second.head == first.head
    assert json.loads(second.body or b"")["HostConfig"] == {
        "VolumesFrom": ["3f2a"],
        "Binds": ["old:/o", P + "new:/n"],
    }
    assert second.moved == (("volume", "new", P + "new"),)
    shared = Decision(True, "container.create", "r", owner="cn:alice")
    decoded = decode_body(body)
    assert enter_request(shared, request, head, body, decoded) == Entered(head, body, decoded, ())


def _target(operation: str, template: str, params: dict[str, str], query: str = "") -> object:
    return rewrite_target(ALICE, operation, template, params, "1.41", query)


def test_the_path_object_moves_and_the_rest_of_the_target_stays() -> None:
    assert _target("container.inspect", "/containers/{name:.*}/json", {"name": "web"}) == (
        f"/v1.41/containers/{P}web/json"
    )
    assert _target("volume.remove", "/volumes/{name:.*}", {"name": "d"}, "force=1") == (
        f"/v1.41/volumes/{P}d?force=1"
    )
    assert _target("network.inspect", "/networks/{id:.*}", {"id": "n"}) == f"/v1.41/networks/{P}n"
    assert _target("container.stop", "/containers/{name:.*}/stop", {"name": "f" * 64}) is None
    assert _target("network.remove", "/networks/{id:.*}", {"id": "bridge"}) is None
    assert _target("container.list", "/containers/json", {}, "all=1") is None
    assert _target("image.inspect", "/images/{name:.*}/json", {"name": "web"}) is None


def test_query_names_move() -> None:
    moved = _target("container.create", "/containers/create", {}, "name=app_web_1&platform=")
    assert moved == f"/v1.41/containers/create?name={P}app_web_1&platform="
    path = "/containers/{name:.*}/rename"
    moved = _target("container.rename", path, {"name": "old-1"}, "name=new-1")
    assert moved == f"/v1.41/containers/{P}old-1/rename?name={P}new-1"
    moved = _target("container.commit", "/commit", {}, "container=web&repo=r")
    assert moved == f"/v1.41/commit?container={P}web&repo=r"
    moved = _target("image.build", "/build", {}, "networkmode=container%3Aweb")
    assert moved == f"/v1.41/build?networkmode=container%3A{P}web"
    assert _target("image.build", "/build", {}, "networkmode=host") is None
    moved = _target("container.commit", "/commit", {}, "%63ontainer=web&repo=r")
    assert moved == f"/v1.41/commit?%63ontainer={P}web&repo=r"  # the key as Go reads it
    twice = _target("container.create", "/containers/create", {}, "name=a&name=b")
    assert isinstance(twice, Refusal)


def _filters(operation: str, document: object) -> dict[str, object]:
    return json.loads(rewrite_filters(ALICE, operation, json.dumps(document)))


def test_filters_naming_objects_move_and_label_filters_stay() -> None:
    moved = _filters(
        "container.list",
        {
            "name": {"^/web$": True, "^db": True, "/api": True, "loose": True},
            "before": ["old-one"],
            "since": {"c" * 64: True, "3f2a": True},
            "volume": ["data", "/mnt"],
            "network": ["net", "bridge"],
            "label": ["com.docker.compose.project=app"],
        },
    )
    escaped = P.replace(".", "\\.")
    assert moved == {
        "name": {f"^/{escaped}web$": True, f"^{escaped}db": True, f"/{escaped}api": True,
                 "loose": True},
        "before": {P + "old-one": True},
        "since": {"c" * 64: True, "3f2a": True},
        "volume": {P + "data": True, "/mnt": True},
        "network": {P + "net": True, "bridge": True},
        "label": ["com.docker.compose.project=app"],
    }  # fmt: skip
    assert _filters("volume.list", {"name": ["^app_"]}) == {"name": {f"^{escaped}app_": True}}
    assert _filters("system.events", {"container": ["web"], "type": ["container"]}) == {
        "container": {P + "web": True},
        "type": ["container"],
    }
    text = json.dumps({"label": ["a=b"]})
    assert rewrite_filters(ALICE, "container.list", text) is text
    query = "filters=" + quote(json.dumps({"name": ["^web"]}))
    moved_target = _target("container.list", "/containers/json", {}, query)
    assert isinstance(moved_target, str)
    [value] = parse_query(moved_target.partition("?")[2])["filters"]
    assert json.loads(value) == {"name": {f"^{escaped}web": True}}


def test_a_create_body_moves_every_name_it_gives_in_both_sections() -> None:
    body = {
        "Image": "busybox",
        "Binds": ["legacy:/l"],
        "HostConfig": {
            "Binds": ["data:/data:rw", "/srv:/srv", "f" * 64 + ":/anon"],
            "Mounts": [
                {"Type": "volume", "Source": "cache", "Target": "/c"},
                {"Type": "bind", "Source": "/etc", "Target": "/e"},
            ],
            "VolumesFrom": ["db-1:ro", "c" * 64],
            "Links": ["db-1:database", "/cache-1"],
            "NetworkMode": "app_default",
            "PidMode": "container:db-1",
            "IpcMode": "shareable",
        },
        "NetworkingConfig": {
            "EndpointsConfig": {
                "app_default": {"Aliases": ["web"], "Links": ["db-1"]},
                "bridge": {},
                "caf\u00e9": {},
            }
        },
    }
    raw = json.dumps(body).encode()
    moved = rewrite_body(ALICE, "container.create", raw, decode_body(raw))
    assert isinstance(moved, bytes)
    got = json.loads(moved)
    host = got["HostConfig"]
    assert got["Binds"] == [P + "legacy:/l"]
    assert host["Binds"] == [P + "data:/data:rw", "/srv:/srv", "f" * 64 + ":/anon"]
    assert [m["Source"] for m in host["Mounts"]] == [P + "cache", "/etc"]
    assert host["VolumesFrom"] == [P + "db-1:ro", "c" * 64]
    assert host["Links"] == [P + "db-1:database", "/" + P + "cache-1:cache-1"]
    assert host["NetworkMode"] == P + "app_default"
    assert host["PidMode"] == "container:" + P + "db-1" and host["IpcMode"] == "shareable"
    endpoints = got["NetworkingConfig"]["EndpointsConfig"]
    assert list(endpoints) == [P + "app_default", "bridge", P + "caf\u00e9"]
    assert endpoints[P + "app_default"] == {"Aliases": ["web"], "Links": [P + "db-1:db-1"]}
    assert got["Image"] == "busybox"


def test_keys_are_matched_as_go_matches_them() -> None:
    raw = b'{"hostconfig": {"binds": ["data:/d"], "networkmode": "n"}, "Image": "x"}'
    moved = rewrite_body(ALICE, "container.create", raw, decode_body(raw))
    assert moved == (
        b'{"hostconfig":{"binds":["' + P.encode() + b'data:/d"],"networkmode":"'
        + P.encode() + b'n"},"Image":"x"}'
    )  # fmt: skip


def test_named_creates_and_connects_move() -> None:
    raw = b'{"Name":"app_default","ConfigFrom":{"Network":"tmpl"},"Labels":{}}'
    moved = rewrite_body(ALICE, "network.create", raw, decode_body(raw))
    assert moved == (
        b'{"Name":"' + P.encode() + b'app_default","ConfigFrom":{"Network":"'
        + P.encode() + b'tmpl"},"Labels":{}}'
    )  # fmt: skip
    raw = b'{"Container":"web","EndpointConfig":{"Links":["db-1:d"]}}'
    moved = rewrite_body(ALICE, "network.connect", raw, decode_body(raw))
    assert json.loads(moved) == {
        "Container": P + "web",
        "EndpointConfig": {"Links": [P + "db-1:d"]},
    }  # type: ignore[arg-type]
    raw = b'{"Driver":"local"}'
    assert rewrite_body(ALICE, "volume.create", raw, decode_body(raw)) is raw
    assert set(BODY_REWRITERS) == {
        "container.create",
        "volume.create",
        "network.create",
        "network.connect",
        "network.disconnect",
    }


def test_what_goes_in_comes_back_out_as_written() -> None:
    raw = json.dumps(
        {
            "HostConfig": {
                "Binds": ["data:/data"],
                "VolumesFrom": ["db-1"],
                "Links": ["/db-1:/web-1/db"],
                "NetworkMode": "container:db-1",
            },
            "NetworkingConfig": {"EndpointsConfig": {"n-1": {"Links": ["x-1:y"]}}},
        }
    ).encode()
    moved = rewrite_body(ALICE, "container.create", raw, decode_body(raw))
    assert isinstance(moved, bytes) and moved != raw
    assert json.loads(ALICE.strip(moved)) == json.loads(raw)


def test_strip_takes_the_prefix_off_where_a_name_starts_only() -> None:
    samples = {
        f'"/{P}web"': '"/web"',
        f'"{P}{P}web"': f'"{P}web"',  # a client that named its container with its prefix
        f'"x{P}y"': f'"x{P}y"',  # inside a name: the client wrote it so
        f"No such container: {P}web": "No such container: web",
        f'"/var/lib/docker/volumes/{P}data/_data"': '"/var/lib/docker/volumes/data/_data"',
        f'"container:{P}db"': '"container:db"',
        f'"/{P}db:/{P}web/db"': '"/db:/web/db"',
        f'"/{BOB.prefix}web"': f'"/{BOB.prefix}web"',  # not ours: filtered out before
    }
    for before, after in samples.items():
        assert ALICE.strip(before.encode()) == after.encode()
        assert ALICE.strip_text(before) == after
    untouched = b'{"Name":"/web"}'
    assert ALICE.strip(untouched) is untouched


def _decision(operation: str, **fields: object) -> Decision:
    base = {"owner": "cn:alice", "private_names": True}
    return Decision(allowed=True, operation=operation, rule="r", **{**base, **fields})  # type: ignore[arg-type]


def test_no_prefixed_name_reaches_the_client_in_any_collected_answer() -> None:
    inspect = {
        "Name": f"/{P}web",
        "HostConfig": {
            "Binds": [f"{P}data:/data"],
            "NetworkMode": f"{P}app_default",
            "Links": [f"/{P}db:/{P}web/db"],
            "VolumesFrom": [f"{P}db"],
        },
        "Mounts": [{"Name": f"{P}data", "Source": f"/var/lib/docker/volumes/{P}data/_data"}],
        "NetworkSettings": {"Networks": {f"{P}app_default": {"Aliases": ["web"]}}},
        "Config": {"Labels": {"dockward.owner": "cn:alice"}},
    }
    listing = [{"Names": [f"/{P}web"], "Labels": {"dockward.owner": "cn:alice"}}]
    volumes = {"Volumes": [{"Name": f"{P}data", "Labels": {"dockward.owner": "cn:alice"}}]}
    error = {"message": f'Conflict. The container name "/{P}web" is already in use by ...'}
    answers = [
        ("container.inspect", 200, inspect, {}),
        ("container.list", 200, listing, {"filter_response": True}),
        ("volume.list", 200, volumes, {"filter_response": True}),
        ("system.df", 200, {"Containers": listing, **volumes}, {"filter_response": True}),
        ("container.create", 409, error, {}),
        ("volume.inspect", 404, {"message": f"get {P}x: no such volume"}, {}),
        ("volume.prune", 200, {"VolumesDeleted": [f"{P}data"], "SpaceReclaimed": 0}, {}),
        ("network.prune", 200, {"NetworksDeleted": [f"{P}app_default"]}, {}),
    ]
    for operation, status, document, fields in answers:
        decision = _decision(operation, **fields)
        assert rewrites_answer(decision, status)
        sent = forwarded_response(decision, json.dumps(document).encode(), status)
        assert ANY_PREFIX.search(sent) is None, (operation, sent)
    assert shown(_decision("container.start"), f"No such container: {P}web") == (
        "No such container: web"
    )


def test_which_answers_are_collected() -> None:
    assert not rewrites_answer(_decision("container.logs"), 200)  # streams go as they come
    assert rewrites_answer(_decision("container.logs"), 404)  # errors name the object
    assert rewrites_answer(_decision("volume.create"), 201)
    assert not rewrites_answer(_decision("volume.create", private_names=False), 201)
    assert {"container.list", "container.inspect", "system.df", "network.inspect"} <= NAMED_ANSWERS
    shared = Decision(allowed=True, operation="container.list", rule="r", owner="cn:alice")
    assert rewrites_answer(shared, 200) and not rewrites_answer(shared, 404)
    assert forwarded_response(shared, f"/{P}x".encode(), 200) == f"/{P}x".encode()


def test_the_namespace_is_shared_per_owner() -> None:
    assert namespace("cn:alice") is namespace("cn:alice")
    assert isinstance(ALICE, Namespace) and ALICE.prefix != BOB.prefix


def test_every_reference_tenancy_judges_is_moved_first() -> None:
    from dockward.policy import tenancy
    from dockward.policy.namespaces import _QUERY_REFERENCES, NAMED_TARGETS, PATH_KINDS
    from dockward.policy.operations import Kind, Place

    for rule in tenancy.REFERENCE_RULES:
        if rule.extract is None or rule.kind not in (Kind.CONTAINER, Kind.VOLUME, Kind.NETWORK):
            continue
        movers = BODY_REWRITERS if rule.place is Place.BODY else _QUERY_REFERENCES
        assert rule.operation in movers, (rule.operation, rule.field)
    # the relay moves names only of requests it inspects, and bodies only of those it reads
    assert frozenset(PATH_KINDS) <= tenancy.JUDGED_OPERATIONS
    assert NAMED_TARGETS <= tenancy.INSPECTED_OPERATIONS
    assert frozenset(BODY_REWRITERS) <= tenancy.BODY_READ_OPERATIONS


def test_tenancy_reads_only_moved_names_from_a_moved_body() -> None:
    from dockward.policy import tenancy
    from dockward.policy.operations import Kind

    body = {
        "Image": "busybox",
        "Binds": ["top:/t"],
        "VolumesFrom": ["top-c"],
        "HostConfig": {
            "Binds": ["data:/data"],
            "Mounts": [{"type": "volume", "source": "cache", "target": "/c"}],
            "VolumesFrom": ["db-1:ro"],
            "Links": ["link-1:alias"],
            "NetworkMode": "container:net-1",
            "PidMode": "container:pid-1",
            "IpcMode": "container:ipc-1",
        },
        "NetworkingConfig": {
            "EndpointsConfig": {"app_default": {"Links": ["ep-link"]}, "other-net": {}}
        },
    }
    raw = json.dumps(body).encode()
    moved = rewrite_body(ALICE, "container.create", raw, decode_body(raw))
    assert isinstance(moved, bytes)
    named = tenancy.named_objects("container.create", {}, {}, decode_body(moved))
    names = {(n.kind, n.name) for n in named if n.kind is not Kind.IMAGE}
    assert len(names) == 12
    assert all(name.startswith(P) for _, name in names), names
    for operation, document in (
        ("network.connect", {"Container": "web", "EndpointConfig": {"Links": ["l-1"]}}),
        ("network.create", {"Name": "n", "ConfigFrom": {"Network": "tmpl"}}),
    ):
        raw = json.dumps(document).encode()
        moved = rewrite_body(ALICE, operation, raw, decode_body(raw))
        assert isinstance(moved, bytes)
        named = tenancy.named_objects(operation, {}, {}, decode_body(moved))
        assert named and all(n.name.startswith(P) for n in named), named


def test_a_moved_body_is_encoded_from_the_document_the_checks_judge() -> None:
    from dockward.policy.namespaces import rewrite_document

    raw = (
        rb'{"Image":"x","Env":["A=\u00e9"],"HostConfig":{"Memory":1e3,"Binds":["d:/d"],'
        rb'"NanoCpus":123456789012345678901234567890},"Labels":{"k":"caf\u00e9 \ud83d\ude00"}}'
    )
    moved = rewrite_document(ALICE, "container.create", raw, decode_body(raw))
    assert not isinstance(moved, Refusal)
    body, document = moved
    assert decode_body(body) == document and body.isascii()
    assert list(json.loads(body)) == ["Image", "Env", "HostConfig", "Labels"]
    assert json.loads(body)["HostConfig"]["NanoCpus"] == 123456789012345678901234567890
    assert json.loads(body)["Labels"] == {"k": "caf\u00e9 \U0001f600"}
    huge = b'{"HostConfig":{"Binds":["d:/d"]},"X":1e400}'
    refused = rewrite_document(ALICE, "container.create", huge, decode_body(huge))
    assert isinstance(refused, Refusal) and refused.status == 400
    # a stored name written out and found to be nothing (kept), and a name moved onto it
    clash = b'{"NetworkingConfig":{"EndpointsConfig":{"n-1":{},"' + P.encode() + b'n-1":{}}}}'
    kept = Mover(ALICE, frozenset({("network", P + "n-1")}))
    refused = rewrite_document(kept, "container.create", clash, decode_body(clash))
    assert isinstance(refused, Refusal) and refused.status == 400
    untouched = b'{"Image":"x"}'
    document = decode_body(untouched)
    assert rewrite_document(ALICE, "container.create", untouched, document) == (
        untouched,
        document,
    )
