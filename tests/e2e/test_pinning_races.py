"""Check-then-act on names (issue 12, class 1): a name judged is the object acted on.

An accomplice renames a container that mounts the host's ``/`` (made by an administrator on
the daemon's socket) and an innocent one back and forth as fast as the daemon allows, while a
``ci`` client (baseline) sends creates that take ``VolumesFrom`` the name, and execs into the
name. The daemon's own state decides: no container it holds mounts the host's ``/`` unless an
administrator made it, and the host-mounting container never gets an exec instance. The
requests go over one keep-alive TLS connection with a hand-written HTTP client, so the loop
runs thousands of iterations in seconds.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from support.gateway import GatewayProcess, serving, tls_connect
from support.raw_http import assert_denied, send

pytestmark = pytest.mark.e2e

POLICY = """
[[role]]
name = "ci"
preset = "ci"
profile = "baseline"
clients = ["cn:ci-*"]
"""

RACE_SECONDS = 15.0


class KeepAlive:
    """One TLS connection to the gateway, requests sent one after another."""

    def __init__(self, gateway: GatewayProcess, who: str) -> None:
        self.sock = tls_connect(gateway, gateway.pki.client(who))

    def request(self, method: str, target: str, body: Any = None) -> tuple[int, Any]:
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {target} HTTP/1.1\r\nHost: docker\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + payload)
        response = http.client.HTTPResponse(self.sock)  # type: ignore[arg-type]
        response.begin()
        data = response.read()
        assert not response.will_close, (response.status, data)
        return response.status, json.loads(data) if data else None

    def close(self) -> None:
        self.sock.close()


class Accomplice(threading.Thread):
    """Swaps the names of two containers on the daemon's socket until stopped."""

    def __init__(self, dockerd, first: str, second: str, names: tuple[str, str]) -> None:
        super().__init__(name="accomplice", daemon=True)
        self.dockerd = dockerd
        self.ids = (first, second)
        self.names = names
        self.renames = 0
        self.failures: list[str] = []
        self.stop = threading.Event()

    def rename(self, container_id: str, name: str) -> None:
        status, _, body = self.dockerd.api("POST", f"/containers/{container_id}/rename?name={name}")
        if status != 204:
            self.failures.append(f"{status} {body[:200]!r}")
        self.renames += 1

    def run(self) -> None:
        (a, b), (name_a, name_b) = self.ids, self.names
        spare = f"{name_a}-spare"
        while not self.stop.is_set() and not self.failures:
            self.rename(a, spare)
            self.rename(b, name_a)
            self.rename(a, name_b)
            self.rename(b, spare)
            self.rename(a, name_a)
            self.rename(b, name_b)


@pytest.fixture(scope="module")
def gw(pki, dockerd, busybox_image) -> Iterator[GatewayProcess]:
    with serving(pki, dockerd.socket_path, policy=POLICY) as process:
        yield process


@pytest.fixture
def pair(dockerd, busybox_image) -> Iterator[dict[str, str]]:
    """An innocent container and one binding the host's /, both running, named by ``run``."""
    run = uuid.uuid4().hex[:8]
    made: dict[str, str] = {"run": run}
    try:
        for role, host_config in (("innocent", {}), ("hostroot", {"Binds": ["/:/hostroot:ro"]})):
            name = f"dw-pin-{role}-{run}"
            body = {"Image": busybox_image, "Cmd": ["sleep", "3600"], "HostConfig": host_config}
            made[role] = dockerd.api_json("POST", f"/containers/create?name={name}", body)["Id"]
            dockerd.api_json("POST", f"/containers/{made[role]}/start")
        yield made
    finally:
        for role in ("innocent", "hostroot"):
            if role in made:
                dockerd.api("DELETE", f"/containers/{made[role]}?force=1")
        dockerd.api("POST", f"/containers/prune?filters={label_filter(run)}")


def label_filter(run: str) -> str:
    return urllib.parse.quote(json.dumps({"label": [f"dw-pin-race={run}"]}))


def mounts_host_root(container: dict) -> bool:
    return any(mount.get("Source") == "/" for mount in container.get("Mounts") or ())


def race(dockerd, pair: dict[str, str], step) -> tuple[Counter[int], int]:
    """Run ``step()`` (returning a status) while the accomplice swaps the two names."""
    names = (f"dw-pin-victim-{pair['run']}", f"dw-pin-other-{pair['run']}")
    accomplice = Accomplice(dockerd, pair["innocent"], pair["hostroot"], names)
    dockerd.api_json("POST", f"/containers/{pair['innocent']}/rename?name={names[0]}")
    dockerd.api_json("POST", f"/containers/{pair['hostroot']}/rename?name={names[1]}")
    statuses: Counter[int] = Counter()
    accomplice.start()
    deadline = time.monotonic() + RACE_SECONDS
    try:
        while time.monotonic() < deadline:
            statuses[step(names[0])] += 1
    finally:
        accomplice.stop.set()
        accomplice.join(timeout=30)
    assert not accomplice.failures, accomplice.failures[:3]
    return statuses, accomplice.renames


def test_volumes_from_by_name_never_takes_the_host_root_in_a_rename_race(
    gw, dockerd, busybox_image, pair
):
    client = KeepAlive(gw, "ci-race")
    labels = {"dw-pin-race": pair["run"]}

    def create(victim: str) -> int:
        body = {
            "Image": busybox_image,
            "Cmd": ["true"],
            "Labels": labels,
            "HostConfig": {"VolumesFrom": [victim]},
        }
        status, _ = client.request("POST", "/v1.41/containers/create", body)
        return status

    try:
        statuses, renames = race(dockerd, pair, create)
    finally:
        client.close()
    filters = label_filter(pair["run"])
    created = dockerd.api_json("GET", f"/containers/json?all=1&filters={filters}")
    assert [c["Id"] for c in created if mounts_host_root(c)] == []
    # the race ran: creates judged the innocent container (201), the host-mounting one (403)
    # and no container under the name (400, as dockerd answers), while the names moved
    # thousands of times
    assert statuses[201] > 20 and statuses[403] > 20, statuses
    assert set(statuses) <= {201, 400, 403}, statuses
    assert sum(statuses.values()) + renames > 2000, (statuses, renames)
    assert len(created) == statuses[201]
    # each took its volumes from the innocent container, named by its full ID
    sample = dockerd.api_json("GET", f"/containers/{created[0]['Id']}/json")
    assert sample["HostConfig"]["VolumesFrom"] == [pair["innocent"]]


def test_exec_by_name_never_lands_in_the_host_mounting_container_in_a_rename_race(
    gw, dockerd, pair
):
    client = KeepAlive(gw, "ci-race")

    def exec_create(victim: str) -> int:
        status, _ = client.request("POST", f"/containers/{victim}/exec", {"Cmd": ["true"]})
        return status

    try:
        statuses, renames = race(dockerd, pair, exec_create)
    finally:
        client.close()
    host = dockerd.api_json("GET", f"/containers/{pair['hostroot']}/json")
    assert not host["ExecIDs"], host["ExecIDs"]
    # judged innocent (201), host-mounting (403), no container under the name (404)
    assert statuses[201] > 20 and statuses[403] > 20, statuses
    assert set(statuses) <= {201, 403, 404}, statuses
    assert sum(statuses.values()) + renames > 2000, (statuses, renames)
    innocent = dockerd.api_json("GET", f"/containers/{pair['innocent']}/json")
    assert len(innocent["ExecIDs"] or ()) == statuses[201]


def test_ci_cannot_rename_a_container_that_reaches_the_host(gw, dockerd, pair):
    name = f"dw-pin-hostroot-{pair['run']}"
    reply = send(gw, "ci-1", "POST", f"/containers/{name}/rename?name=innocent-looking")
    assert_denied(reply, f'container "{name}"')
    assert "renaming it is refused" in reply.message
    assert dockerd.api_json("GET", f"/containers/{pair['hostroot']}/json")["Name"] == f"/{name}"
    # the innocent one may be renamed, and the rename went to it by ID
    innocent = f"dw-pin-innocent-{pair['run']}"
    reply = send(gw, "ci-1", "POST", f"/containers/{innocent}/rename?name={innocent}-2")
    assert reply.status == 204, reply
    after = dockerd.api_json("GET", f"/containers/{pair['innocent']}/json")
    assert after["Name"] == f"/{innocent}-2"


def test_a_name_unknown_when_judged_is_refused(gw, dockerd, busybox_image, pair):
    ghost = f"dw-pin-ghost-{pair['run']}"
    before = len(dockerd.api_json("GET", "/containers/json?all=1"))
    body = {"Image": busybox_image, "HostConfig": {"VolumesFrom": [ghost]}}
    reply = send(gw, "ci-1", "POST", "/containers/create", body)
    assert reply.status == 400, reply  # what dockerd answers for an unknown VolumesFrom
    assert reply.message == f"dockward: No such container: {ghost}"
    assert len(dockerd.api_json("GET", "/containers/json?all=1")) == before


def test_the_image_is_pinned_by_value_and_still_shows_its_name(gw, dockerd, busybox_image, pair):
    # an image whose WORKDIR and USER the policy judges; the name stays what the client sent
    tag = f"dw-pin-img-{pair['run']}"
    changes = ["WORKDIR /srv", "USER 1234"]
    query = "&".join(f"changes={c.replace(' ', '%20')}" for c in changes)
    dockerd.api_json("POST", f"/commit?container={pair['innocent']}&repo={tag}&tag=latest&{query}")
    try:
        body = {"Image": tag, "Cmd": ["true"], "Labels": {"dw-pin-race": pair["run"]}}
        reply = send(gw, "ci-1", "POST", "/containers/create", body)
        assert reply.status == 201, reply
        created = dockerd.api_json("GET", f"/containers/{json.loads(reply.body)['Id']}/json")
        assert created["Config"]["Image"] == tag
        assert (created["Config"]["WorkingDir"], created["Config"]["User"]) == ("/srv", "1234")
    finally:
        dockerd.api("DELETE", f"/images/{tag}?force=1")
