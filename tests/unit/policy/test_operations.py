"""The operation registry: complete, decided, and equal to the sets the code had before."""

from __future__ import annotations

from dockward.gateway import connection
from dockward.policy import engine, operations, profiles, roles
from dockward.policy.operations import ACCESS, BY_NAME, ROWS
from dockward.policy.routes import ROUTES


def test_every_route_has_a_row_and_every_row_a_route() -> None:
    assert {route.operation for route in ROUTES} == set(BY_NAME)
    assert len(BY_NAME) == len(ROWS)


def test_rows_follow_the_route_table() -> None:
    first_seen = list(dict.fromkeys(route.operation for route in ROUTES))
    assert [row.name for row in ROWS] == first_seen


def test_access_tags_agree_with_the_route_table() -> None:
    for route in ROUTES:
        assert ACCESS[route.operation] == route.access, route


def test_hijack_agrees_with_the_route_table() -> None:
    for route in ROUTES:
        assert BY_NAME[route.operation].hijack is route.hijack, route


def test_derived_sets_equal_the_old_constants() -> None:
    assert operations.PINNED_OPERATIONS == connection._PINNED_OPERATIONS
    target_row = next(check for check in profiles.CHECKS if check.name == "target-container")
    assert target_row.operations == operations.PINNED_OPERATIONS
    assert operations.JUDGED_JSON_OPERATIONS == profiles._JSON_BODIES
    assert operations.REDACTED_OPERATIONS == engine.REDACTED_OPERATIONS
    assert operations.HANDSHAKE_OPERATIONS == roles.ALWAYS_ALLOWED
    assert dict(operations.TARGET_ACTIONS) == profiles._TARGET_ACTIONS
    assert dict(ACCESS) == roles.ACCESS_BY_OPERATION
