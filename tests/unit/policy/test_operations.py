"""The operation registry: complete, decided, and what every consumer reads."""

from __future__ import annotations

import dataclasses

import pytest

from dockward.gateway import connection
from dockward.gateway.analysis import analyse_head
from dockward.identity import PeerIdentity
from dockward.policy import operations, profiles
from dockward.policy.engine import RolePolicy
from dockward.policy.operations import (
    ACCESS,
    BY_NAME,
    ROWS,
    Access,
    Body,
    Kind,
    Operation,
    Pinning,
    Place,
    Redaction,
    Ref,
    Reveals,
    Stream,
)
from dockward.policy.paths import split_target
from dockward.policy.roles import policy_config_from_dict
from dockward.policy.routes import OPERATIONS, ROUTES, Route, classify_route

# --- complete --------------------------------------------------------------------------------


def test_every_route_has_a_row_and_every_row_a_route() -> None:
    assert {route.operation for route in ROUTES} == set(BY_NAME) == OPERATIONS
    assert len(BY_NAME) == len(ROWS) == 114


def test_rows_follow_the_route_table() -> None:
    first_seen = list(dict.fromkeys(route.operation for route in ROUTES))
    assert [row.name for row in ROWS] == first_seen


def test_a_route_without_a_row_is_refused_when_the_table_is_built() -> None:
    with pytest.raises(ValueError, match=r"'container\.frobnicate' has no row"):
        Route("POST", "/containers/{name:.*}/frobnicate", "container.frobnicate")


def test_every_route_reads_its_row() -> None:
    for route in ROUTES:
        spec = BY_NAME[route.operation]
        assert route.spec is spec
        assert (route.access, route.hijack) == (spec.access, spec.hijack), route


# --- decided ---------------------------------------------------------------------------------


@pytest.mark.parametrize("record", [Operation, Ref])
def test_no_field_has_a_default(record: type) -> None:
    """A new row (or reference) that leaves a field out does not build."""
    for field in dataclasses.fields(record):
        assert field.default is dataclasses.MISSING, field.name
        assert field.default_factory is dataclasses.MISSING, field.name


def test_a_row_missing_a_field_does_not_build() -> None:
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'refs'"):
        Operation(  # type: ignore[call-arg]
            "x.y", Access.READ, Body.NONE, Stream.BRIEF, Reveals.NOTHING, Redaction.NONE, False
        )


_FIELD_TYPES = {
    "name": str,
    "access": Access,
    "body": Body,
    "stream": Stream,
    "reveals": Reveals,
    "redaction": Redaction,
    "handshake": bool,
    "refs": tuple,
}


def test_every_field_of_every_row_holds_a_decision() -> None:
    assert {field.name for field in dataclasses.fields(Operation)} == set(_FIELD_TYPES)
    for row in ROWS:
        for name, kind in _FIELD_TYPES.items():
            assert isinstance(getattr(row, name), kind), (row.name, name)
        for ref in row.refs:
            assert isinstance(ref, Ref), row.name
            assert isinstance(ref.kind, Kind) and isinstance(ref.place, Place), row.name
            assert isinstance(ref.pinning, Pinning) and ref.field, row.name


# Path variables that name no Docker object.
_NOT_OBJECTS = {("system.options", "anyroute"), ("debug.pprof", "name")}


def test_every_path_variable_is_a_reference() -> None:
    for route in ROUTES:
        variables = set(route.regex.groupindex)
        named = {ref.field for ref in route.spec.refs if ref.place is Place.PATH}
        expected = {v for v in variables if (route.operation, v) not in _NOT_OBJECTS}
        assert expected <= named, route
    for row in ROWS:  # and no path reference names a variable none of its routes has
        variables = set().union(
            *(route.regex.groupindex for route in ROUTES if route.operation == row.name)
        )
        assert {ref.field for ref in row.refs if ref.place is Place.PATH} <= variables, row.name


def test_references_are_consistent() -> None:
    with pytest.raises(ValueError, match="only a judged reference"):
        Ref(Kind.CONTAINER, Place.PATH, "name", Pinning.NOT_JUDGED, "exec into it")
    with pytest.raises(ValueError, match="only remote hosts"):
        Ref(Kind.CONTAINER, Place.BODY, "HostConfig.VolumesFrom", Pinning.UNPINNED, None)
    for row in ROWS:
        assert len({(ref.kind, ref.place, ref.field) for ref in row.refs}) == len(row.refs)


# Operations a fact-using check covers that it judges from the body alone: a volume create's
# tmpfs options (the tmpfs rows look volumes up for container creates and services).
_JUDGED_FROM_THE_BODY = {"volume.create"}
# The checks that judge remote hosts (by name, or by what the name resolves to).
_OUTBOUND_CHECKS = {"outbound-registry", "remote-fetch", "log-driver"}


def _judged(kinds: set[Kind] | None = None) -> set[str]:
    return {
        row.name
        for row in ROWS
        if any(
            r.pinning is not Pinning.NOT_JUDGED and (kinds is None or r.kind in kinds)
            for r in row.refs
        )
    }


def test_judged_references_are_those_the_profiles_look_up() -> None:
    """Operations with a judged object reference are the ones a check asks the daemon about."""
    objects = _judged(set(Kind) - {Kind.HOST})
    looked_up = set().union(*(check.operations for check in profiles.CHECKS if check.uses_facts))
    assert objects <= looked_up
    assert looked_up - _JUDGED_FROM_THE_BODY <= _judged()


def test_remote_hosts_are_those_the_outbound_checks_judge() -> None:
    judged = set().union(
        *(check.operations for check in profiles.CHECKS if check.name in _OUTBOUND_CHECKS)
    )
    assert judged == _judged({Kind.HOST})


def test_judged_bodies_belong_to_checked_operations() -> None:
    assert profiles.inspected_operations() >= operations.JUDGED_JSON_OPERATIONS


def test_environment_is_never_handed_out_unredacted() -> None:
    limiting = {check.name: check.operations for check in profiles.CHECKS}
    for row in ROWS:
        if Reveals.ENV in row.reveals or Reveals.CREDENTIALS in row.reveals:
            assert row.redaction is not Redaction.NONE or row.access is Access.ADMIN, row.name
        if row.redaction is Redaction.LIMITED:  # a check refuses the revealing requests
            assert row.name in limiting["ps-args"], row.name


def test_tunnels_the_policy_cannot_read_are_named() -> None:
    assert {"session", "grpc"} == operations.OPAQUE_OPERATIONS
    assert all(BY_NAME[name].hijack for name in operations.OPAQUE_OPERATIONS)


def test_tunnels_are_the_hijacking_routes() -> None:
    assert {row.name for row in ROWS if row.hijack} == {
        "container.attach",
        "container.attach_ws",
        "container.exec.start",
        "session",
        "grpc",
    }
    assert [row.name for row in ROWS if row.stream is Stream.WEBSOCKET] == ["container.attach_ws"]


# --- the derived sets equal what the code held before the registry ---------------------------
# (connection._PINNED_OPERATIONS and the target-container check's operations,
# profiles._JSON_BODIES and _TARGET_ACTIONS, engine.REDACTED_OPERATIONS, roles.ALWAYS_ALLOWED)


def test_pinned_operations() -> None:
    expected = {"container.exec", "container.archive.write", "container.attach"}
    # container.rename joined with issue 12: renaming is how a name moves to another container
    assert expected | {"container.attach_ws", "container.rename"} == operations.PINNED_OPERATIONS
    assert connection._PINNED_OPERATIONS is operations.PINNED_OPERATIONS
    (target,) = (check for check in profiles.CHECKS if check.name == "target-container")
    assert target.operations == operations.PINNED_OPERATIONS


def test_target_actions() -> None:
    assert dict(operations.TARGET_ACTIONS) == {
        "container.exec": "exec into it",
        "container.exec.start": "starting an exec in it",
        "container.archive.write": "writing files into it",
        "container.attach": "attaching to its input",
        "container.attach_ws": "attaching to its input",
        "container.rename": "renaming it",
    }


def test_judged_json_operations() -> None:
    assert {
        "container.create",
        "container.update",
        "container.start",
        "container.exec",
        "volume.create",
        "network.create",
        "service.create",
        "service.update",
        "plugin.pull",
        "plugin.upgrade",
        "checkpoint.create",
        "auth",  # ServerAddress: the registry the daemon logs in to
    } == operations.JUDGED_JSON_OPERATIONS


def test_redacted_operations() -> None:
    assert {
        "container.inspect",
        "container.exec.inspect",
        "image.inspect",
        "service.inspect",
        "service.list",
        "task.inspect",
        "task.list",
        "plugin.inspect",
        "plugin.list",
        "auth",
        # issue 12, class 4: build history, volume options, config data
        "image.history",
        "volume.inspect",
        "volume.list",
        "system.df",
        "config.inspect",
        "config.list",
    } == operations.REDACTED_OPERATIONS


def test_handshake_operations() -> None:
    assert {"system.ping", "system.version"} == operations.HANDSHAKE_OPERATIONS


def test_access_tags() -> None:
    by_access: dict[Access, set[str]] = {access: set() for access in Access}
    for name, access in ACCESS.items():
        by_access[access].add(name)
    assert by_access[Access.EXFILTRATE] == {
        "container.archive.read",
        "container.copy",
        "container.export",
        "container.logs",
        "container.attach",
        "container.attach_ws",
        "container.exec.start",
        "image.save",
        "image.push",
        "service.logs",
        "task.logs",
        # the daemon contacts a host the client names
        "image.search",
        "distribution.inspect",
        "plugin.privileges",
    }
    assert by_access[Access.ADMIN] == {
        "checkpoint.create",
        "checkpoint.delete",
        "auth",
        *(f"swarm.{verb}" for verb in ("init", "join", "leave", "inspect", "unlockkey")),
        "swarm.update",
        "swarm.unlock",
        "node.remove",
        "node.update",
        *(f"secret.{verb}" for verb in ("create", "remove", "update")),
        *(f"config.{verb}" for verb in ("create", "remove", "update")),
        *(f"plugin.{verb}" for verb in ("remove", "enable", "disable", "pull", "push")),
        *(f"plugin.{verb}" for verb in ("upgrade", "set", "create")),
        "debug.vars",
        "debug.pprof",
    }
    assert by_access[Access.WRITE] == {
        *(f"container.{verb}" for verb in ("create", "kill", "pause", "unpause", "restart")),
        *(f"container.{verb}" for verb in ("start", "stop", "resize", "exec")),
        *(f"container.{verb}" for verb in ("exec.resize", "rename", "update")),
        *(f"container.{verb}" for verb in ("prune", "commit", "archive.write", "remove")),
        *(f"image.{verb}" for verb in ("load", "pull", "tag", "prune", "remove", "build")),
        *(f"volume.{verb}" for verb in ("create", "prune", "update", "remove")),
        "build.prune",
        "build.cancel",
        "session",
        *(f"service.{verb}" for verb in ("create", "update", "remove")),
        *(f"network.{verb}" for verb in ("create", "connect", "disconnect", "prune", "remove")),
        "grpc",
    }
    assert by_access[Access.READ] == {
        "checkpoint.list",
        *(f"container.{verb}" for verb in ("archive.stat", "list", "changes", "inspect", "top")),
        *(f"container.{verb}" for verb in ("stats", "exec.inspect", "wait")),
        *(f"image.{verb}" for verb in ("list", "history", "inspect")),
        *(f"system.{verb}" for verb in ("options", "ping", "events", "info", "version", "df")),
        *(
            f"{kind}.{verb}"
            for kind in ("volume", "service", "node", "task", "secret", "config")
            for verb in ("list", "inspect")
        ),
        *(f"plugin.{verb}" for verb in ("list", "inspect")),
        "network.list",
        "network.inspect",
    }


# --- the consumers read the row --------------------------------------------------------------

ANYONE = PeerIdentity(kind="tls", common_name="anyone")


def _decide(method: str, path: str, grants: tuple[str, ...] = ()) -> tuple[bool, bool, bool]:
    config = policy_config_from_dict(
        {"role": [{"name": "r", "clients": ["*"], "allow": ["*"], "grants": list(grants)}]}
    )
    request = classify_route(method, split_target(path.encode()))
    decision = RolePolicy(config).authorize(ANYONE, None, request)
    assert decision.allowed and decision.profile == "baseline"
    return decision.inspect_request, decision.inspect_body, decision.redact


def test_the_engine_reads_body_and_redaction_from_the_row() -> None:
    # (profile checks run, JSON body decoded first, answer redacted)
    assert _decide("POST", "/v1.41/containers/create") == (True, True, False)
    assert _decide("PUT", "/containers/c/archive") == (True, False, False)  # a stream
    assert _decide("POST", "/exec/e/start") == (True, False, False)  # JSON, not decoded
    assert _decide("GET", "/containers/c/json") == (False, False, True)
    assert _decide("GET", "/containers/c/json", grants=("secrets",)) == (False, False, False)
    assert _decide("POST", "/auth") == (True, True, True)
    assert _decide("GET", "/volumes/v") == (False, False, True)
    assert _decide("GET", "/volumes/v", grants=("secrets",)) == (False, False, False)
    assert _decide("GET", "/containers/c/top") == (True, False, False)  # ps_args checked


def test_only_a_websocket_route_is_refused_cross_origin() -> None:
    head = (
        b"GET /containers/c/attach/ws HTTP/1.1\r\nHost: gw:2376\r\n"
        b"Origin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    assert analyse_head(head).head_refusal is not None
    other = head.replace(b"/attach/ws", b"/attach").replace(b"GET", b"POST")
    assert analyse_head(other).head_refusal is None
