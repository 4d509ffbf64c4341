"""Check-then-act on names (issue 12, class 1): a name judged is the object acted on.

An accomplice renames a container that mounts the host's ``/`` (made by an administrator on
the daemon's socket) and an innocent one back and forth as fast as the daemon allows, while a
``ci`` client (baseline) sends creates that take ``VolumesFrom`` the name, and execs into the
name. The daemon's own state decides: no container it holds mounts the host's ``/`` unless an
administrator made it, and the host-mounting container never gets an exec instance. The
requests go over one keep-alive TLS connection with a hand-written HTTP client, so the loop
runs thousands of iterations in seconds. Everything goes through ``dockward up`` with the
policy it writes, and a client certificate issued with ``--role ci``, as a user would set it up.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from support.keepalive import KeepAlive
from support.up import Up
from support.waiting import free_port

pytestmark = pytest.mark.e2e

RACE_SECONDS = 15.0
RACE_CAP_SECONDS = 60.0  # on a busy machine the race runs on until it has run enough


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
def up(tmp_path_factory: pytest.TempPathFactory, dockerd) -> Iterator[Up]:
    state = tmp_path_factory.mktemp("up") / "state"
    with Up(state, f"127.0.0.1:{free_port()}", dockerd.socket_path) as gateway:
        gateway.wait_ready()
        gateway.ca("issue", "client", "runner", "--role", "ci")
        yield gateway
    assert "Traceback" not in gateway.log(), gateway.log()[-6000:]


@pytest.fixture
def ci(up: Up) -> Iterator[KeepAlive]:
    """A ``ci`` client (certificate issued with ``--role ci``) on one keep-alive connection."""
    client = KeepAlive(up, up.state / "clients" / "runner")
    yield client
    client.close()


DENIED = 'dockward: denied by role "ci" (profile baseline): '


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
    started = time.monotonic()
    try:
        # at least RACE_SECONDS, and on a busy machine longer (up to RACE_CAP_SECONDS) until
        # the race has run thousands of times and reached both containers
        while (elapsed := time.monotonic() - started) < RACE_SECONDS or (
            elapsed < RACE_CAP_SECONDS and not raced_enough(statuses, accomplice.renames)
        ):
            statuses[step(names[0])] += 1
    finally:
        accomplice.stop.set()
        accomplice.join(timeout=30)
    assert not accomplice.failures, accomplice.failures[:3]
    return statuses, accomplice.renames


def raced_enough(statuses: Counter[int], renames: int) -> bool:
    """Both containers were judged under the name, and names and requests moved thousands of
    times between them."""
    return statuses[201] > 20 and statuses[403] > 20 and sum(statuses.values()) + renames > 2000


def test_volumes_from_by_name_never_takes_the_host_root_in_a_rename_race(
    ci, dockerd, busybox_image, pair
):
    labels = {"dw-pin-race": pair["run"]}

    def create(victim: str) -> int:
        body = {
            "Image": busybox_image,
            "Cmd": ["true"],
            "Labels": labels,
            "HostConfig": {"VolumesFrom": [victim]},
        }
        status, _ = ci.request("POST", "/v1.41/containers/create", body)
        return status

    statuses, renames = race(dockerd, pair, create)
    filters = label_filter(pair["run"])
    created = dockerd.api_json("GET", f"/containers/json?all=1&filters={filters}")
    assert [c["Id"] for c in created if mounts_host_root(c)] == []
    # the race ran: creates judged the innocent container (201), the host-mounting one (403)
    # and no container under the name (400, as dockerd answers), while the names moved
    # thousands of times
    assert raced_enough(statuses, renames), (statuses, renames)
    assert set(statuses) <= {201, 400, 403}, statuses
    assert len(created) == statuses[201]
    # each took its volumes from the innocent container, named by its full ID
    sample = dockerd.api_json("GET", f"/containers/{created[0]['Id']}/json")
    assert sample["HostConfig"]["VolumesFrom"] == [pair["innocent"]]


def test_exec_by_name_never_lands_in_the_host_mounting_container_in_a_rename_race(
    ci, dockerd, pair
):
    def exec_create(victim: str) -> int:
        status, _ = ci.request("POST", f"/containers/{victim}/exec", {"Cmd": ["true"]})
        return status

    statuses, renames = race(dockerd, pair, exec_create)
    host = dockerd.api_json("GET", f"/containers/{pair['hostroot']}/json")
    assert not host["ExecIDs"], host["ExecIDs"]
    # judged innocent (201), host-mounting (403), no container under the name (404)
    assert raced_enough(statuses, renames), (statuses, renames)
    assert set(statuses) <= {201, 403, 404}, statuses
    innocent = dockerd.api_json("GET", f"/containers/{pair['innocent']}/json")
    assert len(innocent["ExecIDs"] or ()) == statuses[201]


def test_ci_cannot_rename_a_container_that_reaches_the_host(ci, dockerd, pair):
    name = f"dw-pin-hostroot-{pair['run']}"
    status, message = ci.message("POST", f"/containers/{name}/rename?name=innocent-looking")
    assert status == 403, message
    assert (
        message.startswith(f'{DENIED}container "{name}" ') and "renaming it is refused" in message
    )
    assert dockerd.api_json("GET", f"/containers/{pair['hostroot']}/json")["Name"] == f"/{name}"
    # the innocent one may be renamed, and the rename went to it by ID
    innocent = f"dw-pin-innocent-{pair['run']}"
    status, message = ci.message("POST", f"/containers/{innocent}/rename?name={innocent}-2")
    assert status == 204, message
    after = dockerd.api_json("GET", f"/containers/{pair['innocent']}/json")
    assert after["Name"] == f"/{innocent}-2"


def test_a_name_unknown_when_judged_is_refused(ci, dockerd, busybox_image, pair):
    ghost = f"dw-pin-ghost-{pair['run']}"
    before = len(dockerd.api_json("GET", "/containers/json?all=1"))
    body = {"Image": busybox_image, "HostConfig": {"VolumesFrom": [ghost]}}
    status, message = ci.message("POST", "/containers/create", body)
    assert status == 400, message  # what dockerd answers for an unknown VolumesFrom
    assert message == f"No such container: {ghost}"  # dockerd's words, as dockerd sends them
    assert len(dockerd.api_json("GET", "/containers/json?all=1")) == before
    status, message = ci.message("POST", f"/containers/{ghost}/exec", {"Cmd": ["true"]})
    assert (status, message) == (404, f"No such container: {ghost}")


def test_the_image_is_pinned_by_value_and_still_shows_its_name(ci, dockerd, pair):
    # an image whose WORKDIR and USER the policy judges; the name stays what the client sent
    tag = f"dw-pin-img-{pair['run']}"
    changes = ["WORKDIR /srv", "USER 1234"]
    query = "&".join(f"changes={c.replace(' ', '%20')}" for c in changes)
    dockerd.api_json("POST", f"/commit?container={pair['innocent']}&repo={tag}&tag=latest&{query}")
    try:
        body = {"Image": tag, "Cmd": ["true"], "Labels": {"dw-pin-race": pair["run"]}}
        status, answer = ci.request("POST", "/containers/create", body)
        assert status == 201, answer
        created = dockerd.api_json("GET", f"/containers/{answer['Id']}/json")
        assert created["Config"]["Image"] == tag
        assert (created["Config"]["WorkingDir"], created["Config"]["User"]) == ("/srv", "1234")
        listed = dockerd.api_json(
            "GET", f"/containers/json?all=1&filters={label_filter(pair['run'])}"
        )
        assert [c["Image"] for c in listed] == [tag]  # what `docker ps` shows
    finally:
        dockerd.api("DELETE", f"/images/{tag}?force=1")
