"""dockward.policy.tenancy: owners, stamping, filters, and a cross-owner request per operation.

``CROSS_OWNER`` holds, for every operation whose registry row names a container, exec, volume,
network or image, a request by bob that names alice's object; it is driven through the policy
engine (authorize, the lookup rounds against a fake daemon, check_body) exactly as the relay
drives it. A new operation with such a reference and no row here fails
``test_every_judged_operation_has_a_cross_owner_request``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

import pytest

from dockward.errors import ProtocolError
from dockward.identity import PeerIdentity
from dockward.policy import tenancy
from dockward.policy.build_context import BuildContext
from dockward.policy.decision import Decision
from dockward.policy.engine import RolePolicy
from dockward.policy.gojson import decode_body
from dockward.policy.operations import ROWS
from dockward.policy.paths import parse_query, split_target
from dockward.policy.profiles import FactQuery
from dockward.policy.roles import policy_config_from_dict
from dockward.policy.routes import classify_route
from support.rounds import judged_in_rounds

ALICE = PeerIdentity(kind="tls", common_name="alice")
BOB = PeerIdentity(kind="tls", common_name="bob")
CAROL = PeerIdentity(kind="tls", common_name="carol", uris=("dockward:role:builders",))


def _owned(owner: str) -> dict[str, object]:
    return {"Labels": {tenancy.OWNER_LABEL: owner}}


ALICE_ID = "a" * 64
IMAGE_A = {
    "Id": "sha256:" + "1" * 64,
    "RepoTags": ["img-a:latest", "img-a:v1"],
    "Config": _owned("cn:alice"),
}
IMAGE_B = {"Id": "sha256:" + "3" * 64, "RepoTags": ["img-b:latest"], "Config": _owned("cn:bob")}
BUSYBOX = {"Id": "sha256:" + "2" * 64, "RepoTags": ["busybox:latest"], "Config": {}}
DAEMON: dict[FactQuery, Mapping[str, object]] = {
    FactQuery("container", "web-a"): {
        "Id": ALICE_ID,
        "Name": "/web-a",
        "Config": _owned("cn:alice"),
        "HostConfig": {},
        "Mounts": [],
    },
    FactQuery("container", ALICE_ID): {
        "Id": ALICE_ID,
        "Name": "/web-a",
        "Config": _owned("cn:alice"),
        "HostConfig": {},
        "Mounts": [],
    },
    FactQuery("container", "web-admin"): {"Id": "c" * 64, "Name": "/web-admin", "Config": {}},
    FactQuery("exec", "e-a"): {"ID": "e-a", "ContainerID": ALICE_ID, "ProcessConfig": {}},
    FactQuery("image", "img-a"): IMAGE_A,
    FactQuery("image", "img-a:v1"): IMAGE_A,
    FactQuery("image", "img-a:latest"): IMAGE_A,
    FactQuery("image", "busybox"): BUSYBOX,
    FactQuery("image", "busybox:latest"): BUSYBOX,
    FactQuery("image", "img-b:latest"): IMAGE_B,
    FactQuery("volume", "vol-a"): {"Name": "vol-a", "Driver": "local", **_owned("cn:alice")},
    FactQuery("network", "net-a"): {"Name": "net-a", "Driver": "bridge", **_owned("cn:alice")},
    FactQuery("network", "bridge"): {"Name": "bridge", "Driver": "bridge"},
}

POLICY = {
    "role": [
        {
            "name": "tenants",
            "clients": ["cn:alice", "cn:bob"],
            "allow": ["*"],
            "profile": "unrestricted",
            "scope": "own",
        },
        {"name": "builders", "clients": ["role:builders"], "preset": "ci", "scope": "role"},
    ]
}


def decide(
    identity: PeerIdentity,
    method: str,
    target: str,
    body: object = None,
    daemon: Mapping[FactQuery, Mapping[str, object]] = DAEMON,
    policy: Mapping[str, object] = POLICY,
) -> tuple[Decision, dict[FactQuery, Mapping[str, object] | None]]:
    engine = RolePolicy(policy_config_from_dict(dict(policy)))
    split = split_target(target.encode())
    request = classify_route(method, split)
    decision = engine.authorize(identity, None, request)
    facts: dict[FactQuery, Mapping[str, object] | None] = {}
    if decision.allowed and decision.inspect_request:
        query = parse_query(split.query)
        decoded: object = BuildContext(images=(("busybox", "Dockerfile FROM"),))
        if isinstance(body, BuildContext):
            decoded = body
        elif body is not None or decision.operation != "image.build":
            decoded = decode_body(json.dumps(body).encode()) if body is not None else None
        for _ in range(4):
            needed = engine.facts_needed(decision, request, query, decoded, facts)
            if not needed:
                break
            facts.update({q: daemon.get(q) for q in needed})
        checked = engine.check_body(decision, request, query, decoded, facts)
        assert judged_in_rounds(engine, decision, request, query, decoded, daemon) == checked
        decision = checked
    return decision, facts


# One request per judged operation, naming alice's objects: (method, target, body).
CROSS_OWNER: dict[str, tuple[str, str, object]] = {
    "checkpoint.list": ("GET", "/containers/web-a/checkpoints", None),
    "checkpoint.create": ("POST", "/containers/web-a/checkpoints", {"CheckpointID": "c"}),
    "checkpoint.delete": ("DELETE", "/containers/web-a/checkpoints/c", None),
    "container.archive.stat": ("HEAD", "/containers/web-a/archive?path=/", None),
    "container.archive.read": ("GET", "/containers/web-a/archive?path=/", None),
    "container.archive.write": ("PUT", "/containers/web-a/archive?path=/", None),
    "container.attach": ("POST", "/containers/web-a/attach?stream=1&stdout=1", None),
    "container.attach_ws": ("GET", "/containers/web-a/attach/ws?stream=1", None),
    "container.changes": ("GET", "/containers/web-a/changes", None),
    "container.commit": ("POST", "/commit?container=web-a&repo=mine", None),
    "container.copy": ("POST", "/v1.23/containers/web-a/copy", None),
    "container.create": ("POST", "/containers/create", {"Image": "img-a"}),
    "container.exec": ("POST", "/containers/web-a/exec", {"Cmd": ["true"]}),
    "container.exec.inspect": ("GET", "/exec/e-a/json", None),
    "container.exec.resize": ("POST", "/exec/e-a/resize?h=1&w=1", None),
    "container.exec.start": ("POST", "/exec/e-a/start", None),
    "container.export": ("GET", "/containers/web-a/export", None),
    "container.inspect": ("GET", "/containers/web-a/json", None),
    "container.kill": ("POST", "/containers/web-a/kill", None),
    "container.logs": ("GET", "/containers/web-a/logs?stdout=1", None),
    "container.pause": ("POST", "/containers/web-a/pause", None),
    "container.remove": ("DELETE", "/containers/web-a", None),
    "container.rename": ("POST", "/containers/web-a/rename?name=x", None),
    "container.resize": ("POST", "/containers/web-a/resize?h=1&w=1", None),
    "container.restart": ("POST", "/containers/web-a/restart", None),
    "container.start": ("POST", "/containers/web-a/start", None),
    "container.stats": ("GET", "/containers/web-a/stats?stream=0", None),
    "container.stop": ("POST", "/containers/web-a/stop", None),
    "container.top": ("GET", "/containers/web-a/top", None),
    "container.unpause": ("POST", "/containers/web-a/unpause", None),
    "container.update": ("POST", "/containers/web-a/update", {"Memory": 0}),
    "container.wait": ("POST", "/containers/web-a/wait", None),
    "image.build": ("POST", "/build?cachefrom=%5B%22img-a%22%5D", None),
    "image.history": ("GET", "/images/img-a/history", None),
    "image.inspect": ("GET", "/images/img-a/json", None),
    "image.push": ("POST", "/images/img-a/push?tag=v1", None),
    "image.remove": ("DELETE", "/images/img-a", None),
    "image.save": ("GET", "/images/get?names=img-a", None),
    "image.tag": ("POST", "/images/img-a/tag?repo=stolen", None),
    "network.connect": ("POST", "/networks/net-a/connect", {"Container": "web-a"}),
    "network.create": (
        "POST",
        "/networks/create",
        {"Name": "n", "ConfigFrom": {"Network": "net-a"}},
    ),
    "network.disconnect": ("POST", "/networks/net-a/disconnect", {"Container": "web-a"}),
    "network.inspect": ("GET", "/networks/net-a", None),
    "network.remove": ("DELETE", "/networks/net-a", None),
    "volume.inspect": ("GET", "/volumes/vol-a", None),
    "volume.remove": ("DELETE", "/volumes/vol-a", None),
    "volume.update": ("PUT", "/volumes/vol-a?version=1", {"Spec": {}}),
}

# References inside a create's body and queries, each alone (item 4 of issue 13).
CREATE_REFERENCES: dict[str, object] = {
    "image": {"Image": "img-a"},
    "VolumesFrom": {"Image": "busybox", "HostConfig": {"VolumesFrom": ["web-a"]}},
    "Links": {"Image": "busybox", "HostConfig": {"Links": ["web-a:db"]}},
    "NetworkMode container:": {
        "Image": "busybox",
        "HostConfig": {"NetworkMode": "container:web-a"},
    },
    "PidMode container:": {"Image": "busybox", "HostConfig": {"PidMode": "container:web-a"}},
    "IpcMode container:": {"Image": "busybox", "HostConfig": {"IpcMode": "container:web-a"}},
    "NetworkMode network": {"Image": "busybox", "HostConfig": {"NetworkMode": "net-a"}},
    "EndpointsConfig": {
        "Image": "busybox",
        "NetworkingConfig": {"EndpointsConfig": {"net-a": {}}},
    },
    "endpoint Links": {
        "Image": "busybox",
        "NetworkingConfig": {"EndpointsConfig": {"bridge": {"Links": ["web-a"]}}},
    },
    "Binds volume": {"Image": "busybox", "HostConfig": {"Binds": ["vol-a:/data"]}},
    "Mounts volume": {
        "Image": "busybox",
        "HostConfig": {"Mounts": [{"Type": "volume", "Source": "vol-a", "Target": "/d"}]},
    },
    "top-level Binds (API < 1.24)": {"Image": "busybox", "Binds": ["vol-a:/data"]},
}


def test_every_judged_operation_has_a_cross_owner_request() -> None:
    assert tenancy.unjudged_references() == []
    assert sorted(tenancy.JUDGED_OPERATIONS - CROSS_OWNER.keys()) == []
    assert sorted(CROSS_OWNER.keys() - tenancy.JUDGED_OPERATIONS) == []


@pytest.mark.parametrize("operation", sorted(CROSS_OWNER))
def test_a_foreign_object_is_refused_and_the_owners_own_is_not(operation: str) -> None:
    method, target, body = CROSS_OWNER[operation]
    assert classify_route(method, split_target(target.encode())).operation == operation
    as_bob, _ = decide(BOB, method, target, body)
    assert not as_bob.allowed, as_bob
    assert as_bob.rule.startswith("tenancy:"), as_bob
    as_alice, _ = decide(ALICE, method, target, body)
    assert as_alice.allowed, as_alice


def test_network_connect_judges_both_the_network_and_the_container() -> None:
    daemon = {
        **DAEMON,
        FactQuery("container", "web-b"): {"Name": "/web-b", "Config": _owned("cn:bob")},
    }
    body = {"Container": "web-b"}
    as_bob, _ = decide(BOB, "POST", "/networks/net-a/connect", body, daemon=daemon)
    assert as_bob.reason == "network net-a not found"
    as_alice, _ = decide(ALICE, "POST", "/networks/net-a/connect", body, daemon=daemon)
    assert as_alice.reason == "No such container: web-b"
    linked = {"Container": "web-a", "EndpointConfig": {"Links": ["web-b:db"]}}
    as_alice, _ = decide(ALICE, "POST", "/networks/net-a/connect", linked, daemon=daemon)
    assert as_alice.reason == "No such container: web-b"


@pytest.mark.parametrize("case", sorted(CREATE_REFERENCES))
def test_every_reference_of_a_create_resolves_to_owned_objects_only(case: str) -> None:
    body = CREATE_REFERENCES[case]
    as_bob, _ = decide(BOB, "POST", "/containers/create", body)
    assert not as_bob.allowed and as_bob.rule.startswith("tenancy:"), as_bob
    assert decide(ALICE, "POST", "/containers/create", body)[0].allowed


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/containers/web-a/json", "No such container: web-a"),
        ("/exec/e-a/json", "No such exec instance: e-a"),
        ("/images/img-a/json", "no such image: img-a: No such image: img-a:latest"),
        ("/images/img-a/history", "No such image: img-a:latest"),
        ("/volumes/vol-a", "get vol-a: no such volume"),
        ("/networks/net-a", "network net-a not found"),
        ("/containers/web-admin/json", "No such container: web-admin"),  # unowned
    ],
)
def test_a_foreign_object_is_answered_with_dockerds_not_found(target: str, message: str) -> None:
    decision, _ = decide(BOB, "GET", target)
    assert (decision.allowed, decision.status, decision.reason) == (False, 404, message)


def test_shared_images_are_usable_but_not_removable_and_builtin_networks_usable() -> None:
    assert decide(BOB, "GET", "/images/busybox/json")[0].allowed
    body = {"Image": "busybox", "HostConfig": {"NetworkMode": "bridge"}}
    assert decide(BOB, "POST", "/containers/create", body)[0].allowed
    removal, _ = decide(BOB, "DELETE", "/images/busybox")
    assert (removal.allowed, removal.status) == (False, 403) and "shared" in removal.reason
    assert decide(BOB, "GET", "/networks/bridge")[0].status == 404  # its Containers leak


def test_role_scope_shares_one_owner_and_audit_mode_only_logs() -> None:
    carol, _ = decide(CAROL, "GET", "/containers/web-a/json")
    assert carol.owner == "role:builders" and carol.status == 404
    audit = {"role": [{**POLICY["role"][0], "mode": "audit"}]}
    decision, _ = decide(BOB, "GET", "/containers/web-a/json", policy=audit)
    assert decision.allowed and decision.audit_only and decision.verdict == "audit-deny"
    assert not decision.owner_filter


def test_a_missing_volume_must_be_created_first_with_the_same_answer_as_a_foreign_one() -> None:
    foreign, _ = decide(BOB, "POST", "/containers/create", CREATE_REFERENCES["Binds volume"])
    missing_body = {"Image": "busybox", "HostConfig": {"Binds": ["vol-x:/data"]}}
    missing, _ = decide(BOB, "POST", "/containers/create", missing_body)
    assert not missing.allowed and "create it first" in missing.reason
    assert foreign.reason == missing.reason.replace("vol-x", "vol-a")


@pytest.mark.parametrize(
    ("method", "target", "shared"),
    [
        ("POST", "/images/img-b/tag?repo=img-a&tag=v1", False),
        ("POST", "/images/img-b/tag?repo=docker.io/library/busybox", True),
        ("POST", "/build?t=mine&t=img-a:v1", False),
        ("POST", "/commit?container=web-b&repo=busybox&tag=latest", True),
        ("POST", "/images/create?fromImage=img-a&tag=v1", False),
        ("POST", "/images/create?fromSrc=-&repo=img-a", False),
    ],
)
def test_a_tag_of_another_owners_or_a_shared_image_is_not_re_pointed(
    method: str, target: str, shared: bool
) -> None:
    web_b = {"Name": "/web-b", "Config": _owned("cn:bob")}
    daemon = {**DAEMON, FactQuery("container", "web-b"): web_b}
    decision, _ = decide(BOB, method, target, daemon=daemon)
    assert (decision.allowed, decision.status) == (False, 409), decision
    assert ("shared image" in decision.reason) is shared


def test_pulling_a_shared_image_again_is_allowed() -> None:
    assert decide(BOB, "POST", "/images/create?fromImage=busybox&tag=latest")[0].allowed
    assert decide(BOB, "POST", "/images/img-b/tag?repo=img-b&tag=latest")[0].allowed


def test_a_name_taken_by_another_owner_is_a_conflict_without_its_id() -> None:
    renamed, _ = decide(
        BOB,
        "POST",
        "/containers/web-b/rename?name=web-a",
        daemon={
            **DAEMON,
            FactQuery("container", "web-b"): {"Name": "/web-b", "Config": _owned("cn:bob")},
        },
    )
    assert (renamed.allowed, renamed.status) == (False, 409)
    decision, _ = decide(BOB, "POST", "/containers/create?name=web-a", {"Image": "busybox"})
    assert (decision.allowed, decision.status) == (False, 409)
    assert ALICE_ID[:12] not in decision.reason and "another owner" in decision.reason
    assert decide(ALICE, "POST", "/containers/create?name=web-a", {"Image": "busybox"})[0].allowed


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("POST", "/containers/create", {"Image": "busybox", "Labels": {"dockward.owner": "x"}}),
        ("POST", "/volumes/create", {"Name": "v", "Labels": {"Dockward.Owner": "cn:alice"}}),
        ("POST", "/networks/create", {"Name": "n", "Labels": {"dockward.x": ""}}),
        (
            "POST",
            "/containers/create",
            {
                "Image": "busybox",
                "HostConfig": {
                    "Mounts": [
                        {
                            "Type": "volume",
                            "Target": "/d",
                            "VolumeOptions": {"Labels": {"dockward.owner": "cn:alice"}},
                        }
                    ]
                },
            },
        ),
        ("POST", "/build?labels=%7B%22dockward.owner%22%3A%22cn%3Aalice%22%7D", None),
        ("POST", "/commit?container=web-b&changes=LABEL%20dockward.owner%3Dx", None),
    ],
)
def test_client_supplied_dockward_labels_are_refused(
    method: str, target: str, body: object
) -> None:
    daemon = {
        **DAEMON,
        FactQuery("container", "web-b"): {"Name": "/web-b", "Config": _owned("cn:bob")},
    }
    decision, _ = decide(BOB, method, target, body, daemon=daemon)
    assert not decision.allowed and decision.rule == "tenancy: reserved label", decision


def test_swarm_objects_and_image_load_are_refused_under_a_scope() -> None:
    for method, target in (("POST", "/services/create"), ("POST", "/images/load")):
        decision, _ = decide(BOB, method, target, {})
        assert not decision.allowed and "scope own" in decision.reason


def test_scope_all_changes_nothing() -> None:
    policy = {"role": [{**POLICY["role"][0], "scope": "all"}]}
    decision, facts = decide(BOB, "GET", "/containers/web-a/json", policy=policy)
    assert decision.allowed and decision.owner is None and facts == {}


# --- owner keys ---------------------------------------------------------------------------


def test_owner_keys() -> None:
    assert tenancy.owner_key("all", "r", ALICE) is None
    assert tenancy.owner_key("own", "r", ALICE) == "cn:alice"
    assert tenancy.owner_key("role", "r", ALICE) == "role:r"
    assert tenancy.owner_key("own", "r", PeerIdentity(kind="unix", uid=1000)) == "uid:1000"
    assert tenancy.owner_key("own", "r", PeerIdentity(kind="tls", dns_names=("h",))) == "san:h"


# --- rewriting --------------------------------------------------------------------------------

HEAD = b"POST /v1.41/containers/create?name=x HTTP/1.1\r\nHost: d\r\nContent-Length: %d\r\n\r\n"


@pytest.mark.parametrize(
    "body",
    [b'{"Image":"b"}', b'{"Image":"b","Labels":{"k":"v"}} \n', b"{}", b'{ "labels" : null }'],
)
def test_a_create_body_is_stamped_and_keeps_the_clients_labels(body: bytes) -> None:
    head, stamped = tenancy.rewrite_request(
        "container.create", "cn:bob", HEAD % len(body), False, body
    )
    assert stamped is not None
    assert b"Content-Length: %d\r\n" % len(stamped) in head
    # Go decodes the second "Labels" into the map the first filled: emulate that merge
    pairs = json.loads(stamped, object_pairs_hook=list)
    labels: dict[str, str] = {}
    for key, value in pairs:
        if key.lower() == "labels" and value:
            labels.update(dict(value))
    assert labels[tenancy.OWNER_LABEL] == "cn:bob"
    original = json.loads(body)
    for key, value in (original.get("Labels") or {}).items():
        assert labels[key] == value


def test_a_bodiless_volume_create_gets_a_json_body() -> None:
    raw = b"POST /volumes/create HTTP/1.1\r\nHost: d\r\n\r\n"
    head, body = tenancy.rewrite_request("volume.create", "cn:bob", raw, False, None)
    assert json.loads(body or b"") == {"Labels": {"dockward.owner": "cn:bob"}}
    assert b"Content-Type: application/json" in head and b"Content-Length: " in head


def test_a_chunked_body_keeps_its_framing() -> None:
    raw = b"POST /networks/create HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    head, body = tenancy.rewrite_request("network.create", "cn:bob", raw, True, b'{"Name":"n"}')
    assert head == raw and json.loads(body or b"")["Labels"] == {"dockward.owner": "cn:bob"}


def _forwarded_query(raw: bytes) -> dict[str, list[str]]:
    target = raw.split(b" ")[1].decode()
    return parse_query(target.partition("?")[2])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"label": {"dockward.owner=cn:bob": True}}),
        (
            "all=1&filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D",
            {"label": {"a=b": True, "dockward.owner=cn:bob": True}},
        ),
        (  # the legacy list form; a repeated key: dockerd reads the first
            "filters=%7B%22status%22%3A%5B%22exited%22%5D%7D&filt%65rs=%7B%7D",
            {"status": {"exited": True}, "label": {"dockward.owner=cn:bob": True}},
        ),
    ],
)
def test_list_filters_gain_the_owner_label(query: str, expected: object) -> None:
    raw = b"GET /containers/json?%s HTTP/1.1\r\nHost: d\r\n\r\n" % query.encode()
    head, _ = tenancy.rewrite_request("container.list", "cn:bob", raw, False, None)
    forwarded = _forwarded_query(head)
    assert len(forwarded["filters"]) == 1
    assert json.loads(forwarded["filters"][0]) == expected
    if "all=1" in query:
        assert forwarded["all"] == ["1"]


def test_bad_filters_are_refused() -> None:
    raw = b"GET /containers/json?filters=%7Bx HTTP/1.1\r\nHost: d\r\n\r\n"
    with pytest.raises(ProtocolError):
        tenancy.rewrite_request("container.list", "cn:bob", raw, False, None)


def test_build_labels_and_commit_changes_are_stamped() -> None:
    raw = b"POST /build?t=x&labels=%7B%22a%22%3A%22b%22%7D HTTP/1.1\r\nHost: d\r\n\r\n"
    head, _ = tenancy.rewrite_request("image.build", "cn:bob", raw, False, None)
    labels = json.loads(_forwarded_query(head)["labels"][0])
    assert labels == {"a": "b", "dockward.owner": "cn:bob"}
    raw = b"POST /commit?container=c&changes=ENV%20A%3D1 HTTP/1.1\r\nHost: d\r\n\r\n"
    head, _ = tenancy.rewrite_request("container.commit", "cn:bob", raw, False, None)
    assert _forwarded_query(head)["changes"] == ["ENV A=1", 'LABEL dockward.owner="cn:bob"']


def test_list_answers_are_filtered_again() -> None:
    mine = {"Id": "1", "Labels": {"dockward.owner": "cn:bob"}}
    theirs = {"Id": "2", "Labels": {"dockward.owner": "cn:alice"}}
    unowned = {"Id": "3", "Labels": None}
    listing = json.dumps([mine, theirs, unowned]).encode()
    assert json.loads(tenancy.filter_response("container.list", listing, "cn:bob")) == [mine]
    volumes = json.dumps({"Volumes": [theirs, mine], "Warnings": None}).encode()
    assert json.loads(tenancy.filter_response("volume.list", volumes, "cn:bob")) == {
        "Volumes": [mine],
        "Warnings": None,
    }
    df = {
        "Images": [theirs],
        "Containers": [mine, theirs],
        "Volumes": [unowned],
        "BuildCache": [{"ID": "x"}],
        "LayersSize": 1,
    }
    filtered = json.loads(tenancy.filter_response("system.df", json.dumps(df).encode(), "cn:bob"))
    assert filtered == {
        "Images": [],
        "Containers": [mine],
        "Volumes": [],
        "BuildCache": [],
        "LayersSize": 1,
    }


def test_every_list_operation_is_filtered() -> None:
    lists = {row.name for row in ROWS if row.name.endswith(".list") and not row.refs}
    scoped = {op for op in lists if tenancy.unscoped_refusal(op) is None}
    assert scoped <= tenancy.FILTERED_RESPONSES | {"checkpoint.list"}


def test_an_answer_with_nothing_to_drop_is_sent_as_the_daemon_sent_it() -> None:
    mine = {"Id": "1", "Labels": {"dockward.owner": "cn:bob"}}
    body = json.dumps([mine, mine], indent=1).encode()
    assert tenancy.filter_response("container.list", body, "cn:bob") is body
    df = json.dumps({"Images": [], "Containers": [mine], "BuildCache": None}).encode()
    assert tenancy.filter_response("system.df", df, "cn:bob") is df


# --- adopted objects ------------------------------------------------------------------------

ADMIN_ID = "c" * 64


def test_an_adopted_object_belongs_to_its_adopter() -> None:
    adopted = {**POLICY, "adopt": [{"owner": "cn:alice", "objects": [f"container:{ADMIN_ID}"]}]}
    as_alice, _ = decide(ALICE, "GET", "/containers/web-admin/json", policy=adopted)
    assert as_alice.allowed and as_alice.adopted == frozenset({f"container:{ADMIN_ID}"})
    as_bob, _ = decide(BOB, "GET", "/containers/web-admin/json", policy=adopted)
    assert as_bob.reason == "No such container: web-admin"
    assert not decide(ALICE, "GET", "/containers/web-admin/json")[0].allowed  # not adopted


def test_an_adopters_list_is_filtered_by_the_record_not_by_the_daemon() -> None:
    decision = Decision(
        True, "container.list", "r", owner="cn:alice", owner_filter=True, filter_response=True,
        adopted=frozenset({f"container:{ADMIN_ID}"}),
    )  # fmt: skip
    raw = b"GET /containers/json?all=1 HTTP/1.1\r\nHost: d\r\n\r\n"
    assert tenancy.forwarded_request(decision, raw, False, None) == (raw, None)
    listing = [
        {"Id": ADMIN_ID, "Labels": {}},
        {"Id": "d" * 64, "Labels": {}},
        {"Id": "e" * 64, "Labels": {"dockward.owner": "cn:alice"}},
        {"Id": "f" * 64, "Labels": {"dockward.owner": "cn:bob"}},
    ]
    sent = tenancy.forwarded_response(decision, json.dumps(listing).encode())
    assert [item["Id"] for item in json.loads(sent)] == [ADMIN_ID, "e" * 64]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"owner": "alice", "objects": []}, "not an owner key"),
        ({"owner": "cn:alice", "objects": ["container:web"]}, "full ID"),
        ({"owner": "cn:alice", "objects": ["image:" + "1" * 64]}, "image:sha256:"),
        ({"owner": "cn:alice", "objects": ["thing:x"]}, "KIND:ID"),
    ],
)
def test_bad_adoption_entries_are_refused(entry: dict[str, object], problem: str) -> None:
    with pytest.raises(Exception, match=problem):
        policy_config_from_dict({"adopt": [entry]})


def _context(*images: str, problem: str = "") -> BuildContext:
    return BuildContext(images=tuple((i, "Dockerfile FROM") for i in images), problem=problem)


def test_a_build_from_another_owners_image_answers_as_a_missing_image() -> None:
    refused, facts = decide(BOB, "POST", "/build?t=b2", _context("busybox", "img-a:v1"))
    assert (refused.allowed, refused.status, refused.as_daemon) == (False, 404, True)
    assert refused.reason == "No such image: img-a:v1"
    assert "owned by cn:alice" in refused.rule and "Dockerfile FROM" in refused.rule
    assert FactQuery("image", "img-a:v1") in facts
    assert decide(ALICE, "POST", "/build?t=a2", _context("busybox", "img-a:v1"))[0].allowed
    assert decide(BOB, "POST", "/build?t=b2", _context("img-b:latest", "busybox"))[0].allowed


@pytest.mark.parametrize(
    "mode", ["net-a", "net-b", "Bridge", "HOST", "n" * 64, "container:web-a", "container:ghost"]
)
def test_a_build_naming_a_network_or_container_is_refused_whatever_it_names(mode: str) -> None:
    # each RUN step looks networkmode up again (issue 12): an owner judged once cannot hold;
    # the owner's own network is refused too, and a foreign or missing one the same way
    target = "/build?t=a2&networkmode=" + quote(mode, safe="")
    refused, _ = decide(ALICE, "POST", target, _context("busybox"))
    assert (refused.allowed, refused.status) == (False, 403), refused
    assert refused.rule == "tenancy: build network by name"
    assert "looks it up by name again at each RUN step" in refused.reason
    assert "default network" in refused.reason and "scope all" in refused.reason
    assert mode not in refused.reason  # the same answer whether it exists or whose it is


@pytest.mark.parametrize("mode", ["", "bridge", "default", "none", "host"])
def test_a_build_on_the_default_or_a_predefined_network_goes_on(mode: str) -> None:
    query = f"&networkmode={mode}" if mode else ""
    decision, _ = decide(ALICE, "POST", f"/build?t=a2{query}", _context("busybox"))
    assert decision.allowed, decision  # the role is unrestricted: host is its profile's call


def test_an_unread_dockerfile_is_refused_unless_the_role_allows_it() -> None:
    unread = _context(problem="the build context has no Dockerfile at 'Dockerfile'")
    refused, _ = decide(BOB, "POST", "/build", unread)
    assert (refused.allowed, refused.status, refused.rule) == (
        False,
        403,
        "tenancy: unread Dockerfile",
    )
    assert "no Dockerfile" in refused.reason and 'unread_dockerfile = "allow"' in refused.reason
    lenient = {"role": [{**POLICY["role"][0], "unread_dockerfile": "allow"}]}
    assert decide(BOB, "POST", "/build", unread, policy=lenient)[0].allowed
    # what it could read is still judged
    foreign = _context("img-a", problem="")
    assert decide(BOB, "POST", "/build", foreign, policy=lenient)[0].status == 404
