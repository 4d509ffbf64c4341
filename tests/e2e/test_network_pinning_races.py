"""Check-then-act on network names (issue 12, class 1): the network judged is the one attached.

Networks cannot be renamed, but a name can be freed and taken again: an accomplice on the
daemon's socket removes the network ``alice`` named and creates one of the same name owned by
bob, then one owned by alice again, in a loop. alice (role scope ``own``, through ``dockward
up``) creates containers on the network by name, as ``docker run --network NAME`` does, and
starts them: dockerd resolves a container's networks when it starts it, so the window runs
from tenancy's lookup to the start. The daemon's own socket decides: no container of alice's is
ever attached to one of bob's networks. Then the ordinary paths (the docker CLI's ``run
--network``, ``network connect``) still show the network's name where dockerd shows it.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from dockward.policy.roles import PRESETS
from support.keepalive import KeepAlive
from support.up import Up, role_toml
from support.waiting import free_port

pytestmark = pytest.mark.e2e

RACE_SECONDS = 5.0
OWNER = "dockward.owner"


def _role() -> str:
    return role_toml("tenants", PRESETS["ci"].allow, scope="own")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, dockerd) -> Iterator[Up]:
    state = tmp_path_factory.mktemp("netpin") / "state"
    with Up(state, f"127.0.0.1:{free_port()}", dockerd.socket_path) as gateway:
        gateway.wait_ready()
        gateway.add_roles(_role(), what="the tenants role to load")
        gateway.ca("issue", "client", "alice", "--role", "tenants")
        yield gateway
    assert "Traceback" not in gateway.log(), gateway.log()[-6000:]


@pytest.fixture
def alice(up: Up) -> Iterator[KeepAlive]:
    client = KeepAlive(up, up.state / "clients" / "alice")
    yield client
    client.close()


@pytest.fixture
def run(dockerd) -> Iterator[str]:
    """A label value for what one test creates; everything carrying it is removed after."""
    run = uuid.uuid4().hex[:8]
    yield run
    label = urllib.parse.quote(json.dumps({"label": [f"dw-netpin={run}"]}))
    for container in dockerd.api_json("GET", f"/containers/json?all=1&filters={label}"):
        dockerd.api("DELETE", f"/containers/{container['Id']}?force=1")
    for network in dockerd.api_json("GET", f"/networks?filters={label}"):
        dockerd.api("DELETE", f"/networks/{network['Id']}")


class Accomplice(threading.Thread):
    """Frees the name and takes it again, for bob and for alice in turn, until stopped."""

    def __init__(self, dockerd, name: str, run: str) -> None:
        super().__init__(name="accomplice", daemon=True)
        self.dockerd, self.network_name, self.tag = dockerd, name, run
        self.ids: dict[str, set[str]] = {"cn:alice": set(), "cn:bob": set()}
        self.swaps = 0
        self.failures: list[str] = []
        self.stop = threading.Event()

    def take(self, owner: str) -> str:
        labels = {OWNER: owner, "dw-netpin": self.tag}
        body = {"Name": self.network_name, "CheckDuplicate": True, "Labels": labels}
        network = self.dockerd.api_json("POST", "/networks/create", body)["Id"]
        self.ids[owner].add(network)
        return str(network)

    def free(self, network: str) -> None:
        # a network with a container attached cannot be removed: wait for alice's loop to
        # remove the container (a bob network with an endpoint is the failure this looks for)
        deadline = time.monotonic() + 10
        while True:
            status, _, body = self.dockerd.api("DELETE", f"/networks/{network}")
            if status in (204, 404):
                return
            if time.monotonic() > deadline:
                self.failures.append(f"{status} {body[:200]!r}")
                return
            time.sleep(0.005)  # retrying a refused removal, not waiting for a condition

    def run(self) -> None:
        holds = itertools.cycle((0, 5, 20, 40))
        while not self.stop.is_set() and not self.failures:
            for owner in ("cn:alice", "cn:bob"):
                network = self.take(owner)
                # keep the name for a varying number of daemon round trips, so that alice's
                # creates and starts fall at every point of the swap
                for _ in range(next(holds)):
                    self.dockerd.api("GET", f"/networks/{network}")
                self.free(network)
                self.swaps += 1


def attached(dockerd, container: str) -> set[str]:
    networks = dockerd.api_json("GET", f"/containers/{container}/json")["NetworkSettings"]
    return {ep.get("NetworkID") or "" for ep in (networks["Networks"] or {}).values()}


def _bodies(name: str, image: str, run: str) -> list[dict]:
    """What clients send for ``--network NAME``: the CLI's mode and endpoint, the mode alone,
    an endpoint alone."""
    labels = {"dw-netpin": run}
    base = {"Image": image, "Cmd": ["sleep", "30"], "Labels": labels}
    endpoint = {"EndpointsConfig": {name: {"Aliases": ["web"]}}}
    return [
        {**base, "HostConfig": {"NetworkMode": name}, "NetworkingConfig": endpoint},
        {**base, "HostConfig": {"NetworkMode": name}},
        {**base, "NetworkingConfig": endpoint},
    ]


def test_a_network_replaced_between_create_and_start_is_never_joined(
    alice, dockerd, run, busybox_image
):
    # the attacker times it: create while the name is alice's network, replace the network
    # with bob's, then start. dockerd resolves networks at start: unpinned, each start joined
    # bob's network; pinned, the start finds the network judged gone (404)
    name = f"dw-netpin-timed-{run}"
    accomplice = Accomplice(dockerd, name, run)
    outcomes: Counter[str] = Counter()
    for index, body in enumerate(_bodies(name, busybox_image, run) * 2):
        network = accomplice.take("cn:alice")
        status, answer = alice.request("POST", "/v1.41/containers/create", body)
        assert status == 201, answer
        container = answer["Id"]
        replaced, judged = index % 2 == 0, network
        if replaced:
            accomplice.free(network)
            network = accomplice.take("cn:bob")
        status, answer = alice.request("POST", f"/v1.41/containers/{container}/start")
        outcomes[f"{'replaced' if replaced else 'kept'} {status}"] += 1
        assert attached(dockerd, container) & accomplice.ids["cn:bob"] == set(), (index, body)
        if replaced:
            assert (status, answer) == (404, {"message": f"network {judged} not found"})
        else:
            assert status == 204, answer
            assert attached(dockerd, container) == {network}
        dockerd.api("DELETE", f"/containers/{container}?force=1")
        accomplice.free(network)
    assert outcomes == {"replaced 404": 3, "kept 204": 3}, outcomes


def test_containers_never_join_a_network_recreated_under_the_name_judged(
    alice, dockerd, run, busybox_image
):
    # free-running: the accomplice swaps the name while alice creates and starts
    name = f"dw-netpin-{run}"
    accomplice = Accomplice(dockerd, name, run)
    bodies = itertools.cycle(_bodies(name, busybox_image, run))
    outcomes: Counter[str] = Counter()
    joined: dict[str, set[str]] = {}
    accomplice.start()
    deadline = time.monotonic() + RACE_SECONDS
    try:
        while time.monotonic() < deadline and not accomplice.failures:
            status, answer = alice.request("POST", "/v1.41/containers/create", next(bodies))
            outcomes[f"create {status}"] += 1
            if status != 201:
                continue
            container = answer["Id"]
            status, _ = alice.request("POST", f"/v1.41/containers/{container}/start")
            outcomes[f"start {status}"] += 1
            joined[container] = attached(dockerd, container) if status == 204 else set()
            dockerd.api("DELETE", f"/containers/{container}?force=1")
    finally:
        accomplice.stop.set()
        accomplice.join(timeout=30)
    assert not accomplice.failures, accomplice.failures[:3]
    foreign = {c: ids for c, ids in joined.items() if ids & accomplice.ids["cn:bob"]}
    assert foreign == {}, (foreign, outcomes)
    started = {c: ids for c, ids in joined.items() if ids}
    assert all(ids <= accomplice.ids["cn:alice"] for ids in started.values()), started
    # the race ran: creates judged alice's network (201), bob's or none (404, as dockerd
    # answers a network it does not have); starts that found the network judged gone (404)
    assert outcomes["create 201"] > 3 and outcomes["create 404"] > 5, outcomes
    assert set(outcomes) <= {"create 201", "create 404", "start 204", "start 404"}, outcomes
    assert accomplice.swaps > 10, (accomplice.swaps, outcomes)


def test_a_foreign_network_id_in_an_endpoint_is_refused(alice, dockerd, run, busybox_image):
    # dockerd's start prefers an endpoint's NetworkID to its key: naming alice's network and
    # bob's ID would attach bob's network
    mine = Accomplice(dockerd, f"dw-netpin-mine-{run}", run).take("cn:alice")
    theirs = Accomplice(dockerd, f"dw-netpin-theirs-{run}", run).take("cn:bob")
    endpoint = {"NetworkID": theirs}
    body = {
        "Image": busybox_image,
        "Labels": {"dw-netpin": run},
        "HostConfig": {"NetworkMode": f"dw-netpin-mine-{run}"},
        "NetworkingConfig": {"EndpointsConfig": {f"dw-netpin-mine-{run}": endpoint}},
    }
    status, message = alice.message("POST", "/v1.41/containers/create", body)
    assert status == 400 and "NetworkID names another network" in message, message
    label = urllib.parse.quote(json.dumps({"label": [f"dw-netpin={run}"]}))
    assert dockerd.api_json("GET", f"/containers/json?all=1&filters={label}") == []
    # the same through network connect, for a container of alice's
    body = {"Image": busybox_image, "Labels": {"dw-netpin": run}, "Cmd": ["true"]}
    status, answer = alice.request("POST", "/v1.41/containers/create", body)
    assert status == 201, answer
    connect = {"Container": answer["Id"], "EndpointConfig": {"NetworkID": theirs}}
    status, message = alice.message("POST", f"/v1.41/networks/{mine[:12]}/connect", connect)
    assert status == 400 and "NetworkID names another network" in message, message
    assert dockerd.api_json("GET", f"/networks/{theirs}")["Containers"] == {}
    assert attached(dockerd, answer["Id"]) <= {""}


def test_the_cli_still_shows_network_names(up, dockerd, run, busybox_image):
    bundle = up.state / "clients" / "alice"

    def docker(*args: str) -> str:
        result = up.docker(*args, bundle=bundle)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout.strip()

    net, other = f"dw-netpin-cli-{run}", f"dw-netpin-cli2-{run}"
    docker("network", "create", "--label", f"dw-netpin={run}", net)
    docker("network", "create", "--label", f"dw-netpin={run}", other)
    name = f"dw-netpin-c-{run}"
    docker(
        "run", "-d", "--name", name, "--label", f"dw-netpin={run}", "--network", net,
        "--network-alias", "web", busybox_image, "sleep", "60",
    )  # fmt: skip
    docker("network", "connect", "--alias", "db", other, name)
    inspect = dockerd.api_json("GET", f"/containers/{name}/json")
    networks = inspect["NetworkSettings"]["Networks"]
    assert sorted(networks) == sorted([net, other])  # filed under the names
    ids = {dockerd.api_json("GET", f"/networks/{n}")["Id"]: n for n in (net, other)}
    assert {ep["NetworkID"]: key for key, ep in networks.items()} == ids
    assert "web" in networks[net]["Aliases"] and "db" in networks[other]["Aliases"]
    assert sorted(docker("ps", "--format", "{{.Networks}}").split(",")) == sorted([net, other])
    keys = "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"
    assert sorted(docker("inspect", "-f", keys, name).split()) == sorted([net, other])
    # the one visible difference: the mode keeps the ID it was forwarded as
    net_id = next(i for i, n in ids.items() if n == net)
    assert docker("inspect", "-f", "{{.HostConfig.NetworkMode}}", name) == net_id
    # names and aliases still resolve inside the network
    docker(
        "run", "--rm", "--label", f"dw-netpin={run}", "--network", net, busybox_image,
        "ping", "-c", "1", "-W", "5", "web",
    )  # fmt: skip


def test_a_case_variant_of_a_predefined_name_is_judged_as_the_network_it_is(
    alice, dockerd, run, busybox_image
):
    # dockerd compares bridge/host/none/default and "container:" case-sensitively: "Bridge" is
    # an ordinary network anyone may create, and a container naming it joins it at start
    # network mode "Container:<id>" likewise: a network, not alice's container's namespace
    body = {"Image": busybox_image, "Cmd": ["true"], "Labels": {"dw-netpin": run}}
    status, answer = alice.request("POST", "/v1.41/containers/create", body)
    assert status == 201, answer
    label = urllib.parse.quote(json.dumps({"label": [f"dw-netpin={run}"]}))
    mine = dockerd.api_json("GET", f"/containers/json?all=1&filters={label}")
    names = ("Bridge", f"Container:{answer['Id']}")
    theirs = [Accomplice(dockerd, name, run).take("cn:bob") for name in names]
    try:
        for name in names:
            for body in _bodies(name, busybox_image, run):
                status, message = alice.message("POST", "/v1.41/containers/create", body)
                assert (status, message) == (404, f"network {name} not found"), body
        for network in theirs:
            assert dockerd.api_json("GET", f"/networks/{network}")["Containers"] == {}
        assert dockerd.api_json("GET", f"/containers/json?all=1&filters={label}") == mine
    finally:
        for network in theirs:
            dockerd.api("DELETE", f"/networks/{network}")
