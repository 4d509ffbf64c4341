"""The access log of a running gateway can be rotated: moved by logrotate, or by the gateway."""

from __future__ import annotations

import json

import pytest

from support.gateway import serving
from support.raw_http import send
from support.waiting import wait_for

pytestmark = pytest.mark.e2e


def logged_paths(path) -> list[str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line)["path"] for line in text.splitlines()]


@pytest.mark.parametrize("hangup", [False, True], ids=["move-alone", "move-then-sighup"])
def test_after_a_move_new_requests_go_to_a_new_file_at_the_path(pki, dockerd, hangup):
    with serving(pki, dockerd.socket_path) as gateway:
        current = gateway.access_log
        moved = current.with_name("access.log.1")
        assert send(gateway, "admin", "GET", "/_ping").status == 200
        wait_for(lambda: logged_paths(current) == ["/_ping"], what="the first line")
        current.rename(moved)
        if hangup:
            gateway.reload()
            # SIGHUP reopens at once, before any request (a move alone waits for the next line)
            wait_for(
                lambda: current.exists() and f"access log {current} reopened" in gateway.log(),
                what="a new access log after SIGHUP",
            )
        assert send(gateway, "admin", "GET", "/version").status == 200
        assert send(gateway, "admin", "GET", "/info").status == 200
        wait_for(
            lambda: logged_paths(current) == ["/version", "/info"],
            what="the requests after the move in the new access log",
        )
        assert logged_paths(moved) == ["/_ping"]
        assert current.stat().st_mode & 0o777 == 0o600


def test_the_gateway_rotates_its_access_log_by_size(pki, dockerd):
    extra = {"access_log_max_bytes": 1500, "access_log_keep": 2}
    with serving(pki, dockerd.socket_path, extra=extra) as gateway:
        current = gateway.access_log
        files = [current.with_name("access.log.2"), current.with_name("access.log.1"), current]
        for n in range(30):
            assert send(gateway, "admin", "GET", f"/v1.41/_ping?n={n}").status == 200
        # each line is a few hundred bytes: 30 of them fill more than the three files can hold
        wait_for(
            lambda: all(path.exists() for path in files) and logged_paths(current),
            what="two rotations",
        )
    names = sorted(path.name for path in current.parent.iterdir() if "access" in path.name)
    assert names == ["access.log", "access.log.1", "access.log.2"]
    assert all(0 < path.stat().st_size <= 1500 for path in files)
    kept = [entry for path in files for entry in logged_paths(path)]
    assert 3 <= len(kept) < 30
    assert kept == ["/v1.41/_ping"] * len(kept)
