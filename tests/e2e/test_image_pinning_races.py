"""Check-then-act on image names (issue 12, class 1): the image judged is the image used.

Tenancy judges a create's image by its owner. A tag can be moved to another image at any
moment (``docker tag``), so an accomplice role of scope ``all`` (through the gateway too)
moves one tag between alice's image and bob's in a loop while alice (role scope ``own``,
through ``dockward up``) creates containers from the tag by name. The two images come from
the same busybox root filesystem and differ in their owner label, an ``ENV`` and ``WORKDIR``.
The daemon's own socket decides: every container alice got was made from her image, never
from bob's; so does what an inspect shows and a tag copies. Then: the docker CLI and compose
still run alice's images by name, and what ``docker ps`` shows; a classic build naming a
network in ``--network`` is refused to the scoped role; a network create's ``ConfigFrom``
cannot reach another owner's configuration network.
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

from dockward.policy.roles import PRESETS
from support.images import build_busybox_image
from support.keepalive import KeepAlive
from support.up import Up, role_toml
from support.waiting import free_port

pytestmark = pytest.mark.e2e

RACE_SECONDS = 10.0
RACE_CAP_SECONDS = 60.0  # on a busy machine the race runs on until it has run enough
OWNER = "dockward.owner"
REPO = "dw-imgpin/app"


def _roles() -> str:
    return (
        role_toml("tenants", PRESETS["ci"].allow, scope="own")
        + role_toml("retaggers", ["image.tag"], scope="all")
        + role_toml(
            "networkers",
            ["network.create", "network.inspect", "network.remove"],
            profile="unrestricted",
            scope="own",
        )
    )


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, dockerd) -> Iterator[Up]:
    state = tmp_path_factory.mktemp("imgpin") / "state"
    with Up(state, f"127.0.0.1:{free_port()}", dockerd.socket_path) as gateway:
        gateway.wait_ready()
        gateway.add_roles(_roles(), what="the tenants and retaggers roles to load")
        gateway.ca("issue", "client", "alice", "--role", "tenants")
        gateway.ca("issue", "client", "tagger", "--role", "retaggers")
        gateway.ca("issue", "client", "carol", "--role", "networkers")
        yield gateway
    assert "Traceback" not in gateway.log(), gateway.log()[-6000:]


@pytest.fixture(scope="module")
def images(dockerd) -> Iterator[dict[str, str]]:
    """alice's and bob's image (imported, never pulled): tag and full ID of each."""
    run = uuid.uuid4().hex[:8]
    made: dict[str, str] = {"run": run}
    try:
        for owner in ("alice", "bob"):
            tag = f"dw-imgpin/{owner}:{run}"
            changes = (f"LABEL {OWNER}=cn:{owner}", f"ENV SIDE={owner}", f"WORKDIR /{owner}")
            build_busybox_image(dockerd, tag, changes)
            made[owner] = tag
            made[f"{owner}_id"] = dockerd.api_json("GET", f"/images/{tag}/json")["Id"]
        yield made
    finally:
        label = urllib.parse.quote(json.dumps({"label": [f"dw-imgpin={run}"]}))
        for container in dockerd.api_json("GET", f"/containers/json?all=1&filters={label}"):
            dockerd.api("DELETE", f"/containers/{container['Id']}?force=1&v=1")
        for owner in ("alice", "bob"):
            if f"{owner}_id" in made:
                dockerd.api("DELETE", f"/images/{made[f'{owner}_id']}?force=1")


@pytest.fixture
def alice(up: Up) -> Iterator[KeepAlive]:
    client = KeepAlive(up, up.state / "clients" / "alice")
    yield client
    client.close()


class Retagger(threading.Thread):
    """Moves one tag between alice's image and bob's through the gateway, until stopped."""

    def __init__(self, up: Up, dockerd, images: dict[str, str], tag: str) -> None:
        super().__init__(name="retagger", daemon=True)
        self.client = KeepAlive(up, up.state / "clients" / "tagger")
        self.dockerd, self.images, self.tag = dockerd, images, tag
        self.retags = 0
        self.failures: list[str] = []
        self.stop = threading.Event()

    def point_at(self, owner: str) -> None:
        target = f"/v1.41/images/{self.images[f'{owner}_id']}/tag?repo={REPO}&tag={self.tag}"
        status, answer = self.client.request("POST", target)
        if status != 201:
            self.failures.append(f"{status} {answer!r}")
        self.retags += 1

    def run(self) -> None:
        holds = (0, 1, 3, 8)
        try:
            while not self.stop.is_set() and not self.failures:
                for owner in ("alice", "bob"):
                    self.point_at(owner)
                    # keep the tag for a varying number of daemon round trips, so that alice's
                    # creates fall at every point between two retags
                    for _ in range(holds[self.retags % len(holds)]):
                        self.dockerd.api("GET", "/_ping")
        finally:
            self.client.close()


def raced_enough(statuses: Counter[int], retags: int) -> bool:
    """Creates were judged on both images, and tags and creates moved thousands of times."""
    return statuses[201] > 20 and statuses[404] > 20 and sum(statuses.values()) + retags > 2000


def test_a_container_is_always_made_from_the_image_judged_in_a_retag_race(
    up, alice, dockerd, images
):
    run = images["run"]
    tag = f"race-{run}"
    retagger = Retagger(up, dockerd, images, tag)
    retagger.point_at("alice")
    body = {"Image": f"{REPO}:{tag}", "Cmd": ["true"], "Labels": {"dw-imgpin": run}}
    statuses: Counter[int] = Counter()
    retagger.start()
    started = time.monotonic()
    try:
        # at least RACE_SECONDS, and on a busy machine longer (up to RACE_CAP_SECONDS) until
        # the race has run thousands of times and judged both images
        while (elapsed := time.monotonic() - started) < RACE_SECONDS or (
            elapsed < RACE_CAP_SECONDS and not raced_enough(statuses, retagger.retags)
        ):
            status, _ = alice.request("POST", "/v1.41/containers/create", body)
            statuses[status] += 1
    finally:
        retagger.stop.set()
        retagger.join(timeout=30)
    assert not retagger.failures, retagger.failures[:3]
    label = urllib.parse.quote(json.dumps({"label": [f"dw-imgpin={run}"]}))
    created = dockerd.api_json("GET", f"/containers/json?all=1&filters={label}")
    made_from = Counter(
        "alice" if c["ImageID"] == images["alice_id"] else c["ImageID"] for c in created
    )
    # the daemon made every one of alice's containers from the image tenancy judged: hers
    assert made_from == {"alice": statuses[201]}, (made_from, statuses)
    # the race ran: creates judged alice's image (201) and bob's (404, as dockerd answers an
    # image it does not have), while the tag moved thousands of times
    assert raced_enough(statuses, retagger.retags), (statuses, retagger.retags)
    assert set(statuses) <= {201, 404}, statuses
    sample = dockerd.api_json("GET", f"/containers/{created[0]['Id']}/json")
    assert sample["Config"]["Image"] == images["alice_id"]  # forwarded as the ID judged
    assert "SIDE=alice" in sample["Config"]["Env"]
    assert sample["Config"]["WorkingDir"] == "/alice"


def test_inspect_and_tag_never_reach_the_image_a_tag_moved_to(up, alice, dockerd, images):
    # an inspect answers, and a tag copies, the image tenancy judged: alice's, or dockerd's
    # own 404 when the tag named bob's
    run = images["run"]
    tag = f"read-{run}"
    copy = f"dw-imgpin/copy:{run}"
    retagger = Retagger(up, dockerd, images, tag)
    retagger.point_at("alice")
    statuses: Counter[str] = Counter()
    reached: Counter[str] = Counter()

    def raced_enough() -> bool:
        return len(statuses) == 4 and min(statuses.values()) > 20

    retagger.start()
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < RACE_SECONDS / 2 or (
            elapsed < RACE_CAP_SECONDS and not raced_enough()
        ):
            status, answer = alice.request("GET", f"/v1.41/images/{REPO}:{tag}/json")
            statuses[f"inspect {status}"] += 1
            if status == 200:
                reached[answer["Id"]] += 1
            target = f"/v1.41/images/{REPO}:{tag}/tag?repo=dw-imgpin/copy&tag={run}"
            status, _ = alice.request("POST", target)
            statuses[f"tag {status}"] += 1
            if status == 201:  # the daemon says which image the copy names
                reached[dockerd.api_json("GET", f"/images/{copy}/json")["Id"]] += 1
    finally:
        retagger.stop.set()
        retagger.join(timeout=30)
        dockerd.api("DELETE", f"/images/{copy}")
    assert not retagger.failures, retagger.failures[:3]
    assert set(reached) == {images["alice_id"]}, (reached, statuses)
    assert set(statuses) <= {"inspect 200", "inspect 404", "tag 201", "tag 404"}, statuses
    assert raced_enough(), statuses


def test_the_cli_runs_an_image_by_name_and_ps_shows_its_short_id(up, dockerd, images):
    bundle = up.state / "clients" / "alice"
    run = images["run"]

    def docker(*args: str) -> str:
        result = up.docker(*args, bundle=bundle)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout.strip()

    # the image's defaults come with it: its ENV and WORKDIR
    script = 'echo "$SIDE $PWD"'
    out = docker("run", "--rm", "--label", f"dw-imgpin={run}", images["alice"], "sh", "-c", script)
    assert out == "alice /alice"
    name = f"dw-imgpin-cli-{run}"
    docker("create", "--name", name, "--label", f"dw-imgpin={run}", images["alice"], "true")
    inspect = dockerd.api_json("GET", f"/containers/{name}/json")
    assert inspect["Image"] == inspect["Config"]["Image"] == images["alice_id"]
    # what a scoped role's `docker ps` shows: the image's short ID, as for any container
    # created by ID (dockerd lists Config.Image; the CLI shortens an ID)
    short = images["alice_id"].removeprefix("sha256:")[:12]
    assert docker("ps", "-a", "--filter", f"name={name}", "--format", "{{.Image}}") == short
    # bob's image is still another owner's: answered as dockerd answers a missing image (the
    # CLI then tries to pull it, which tenancy refuses: the tag is bob's)
    result = up.docker("create", "--label", f"dw-imgpin={run}", images["bob"], bundle=bundle)
    assert result.returncode != 0
    assert f"Unable to find image '{images['bob']}' locally" in result.stderr
    assert dockerd.api_json("GET", f"/images/{images['bob']}/json")["Id"] == images["bob_id"]


def test_a_scoped_classic_build_may_not_name_a_network(up, dockerd, images, tmp_path):
    bundle = up.state / "clients" / "alice"
    run = images["run"]
    network = f"dw-imgpin-net-{run}"
    result = up.docker("network", "create", "--label", f"dw-imgpin={run}", network, bundle=bundle)
    assert result.returncode == 0, result.stderr
    (tmp_path / "Dockerfile").write_text(f"FROM {images['alice']}\nRUN echo built > /built\n")
    try:
        tag = f"dw-imgpin/built:{run}"
        # alice's own network: each RUN step would look the name up again, so it is refused
        result = up.docker(
            "build", "--network", network, "-t", tag, str(tmp_path),
            bundle=bundle, DOCKER_BUILDKIT="0",
        )  # fmt: skip
        assert result.returncode != 0
        assert "query networkmode names a user-defined network" in result.stderr
        assert "Build with the default network" in result.stderr
        assert "scope all" in result.stderr
        assert dockerd.api("GET", f"/images/{tag}/json")[0] == 404
        # the default network and the predefined names still build
        for mode in (None, "default", "none"):
            args = ("--network", mode) if mode else ()
            result = up.docker(
                "build", *args, "-t", tag, str(tmp_path), bundle=bundle, DOCKER_BUILDKIT="0"
            )
            assert result.returncode == 0, (mode, result.stdout, result.stderr)
            assert dockerd.api_json("GET", f"/images/{tag}/json")["Config"]["Labels"][OWNER] == (
                "cn:alice"
            )
            dockerd.api("DELETE", f"/images/{tag}?force=1")
        # --cache-from goes as the image IDs judged, and the classic builder still uses them
        build = ("build", "-t", tag, str(tmp_path))
        assert up.docker(*build, bundle=bundle, DOCKER_BUILDKIT="0").returncode == 0
        result = up.docker(*build, "--cache-from", tag, bundle=bundle, DOCKER_BUILDKIT="0")
        assert result.returncode == 0, result.stderr
        assert "Using cache" in result.stdout, result.stdout
        dockerd.api("DELETE", f"/images/{tag}?force=1")
    finally:
        label = urllib.parse.quote(json.dumps({"label": [f"dw-imgpin={run}"]}))
        for found in dockerd.api_json("GET", f"/networks?filters={label}"):
            dockerd.api("DELETE", f"/networks/{found['Id']}")


def test_compose_converges_on_a_service_whose_image_went_by_id(up, dockerd, images, tmp_path):
    # compose 1.29 compares the container's image ID with the service image's ID (its config
    # hash): a second `up` leaves the container alone, and `images` still names the tag
    bundle = up.state / "clients" / "alice"
    project = f"imgpin{images['run']}"
    (tmp_path / "docker-compose.yml").write_text(
        f'version: "3"\nservices:\n  web:\n    image: {images["alice"]}\n'
        '    command: ["sleep", "600"]\n'
    )

    def compose(*args: str) -> str:
        process = up.compose_popen(bundle, tmp_path, project, *args)
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, (args, out, err)
        return out + err

    label = urllib.parse.quote(json.dumps({"label": [f"com.docker.compose.project={project}"]}))
    try:
        compose("up", "-d")
        [first] = dockerd.api_json("GET", f"/containers/json?all=1&filters={label}")
        assert first["ImageID"] == images["alice_id"]
        assert "is up-to-date" in compose("up", "-d")
        [second] = dockerd.api_json("GET", f"/containers/json?all=1&filters={label}")
        assert second["Id"] == first["Id"]
        listed = compose("images")
        assert images["alice"].partition(":")[0] in listed, listed
    finally:
        compose("down", "--timeout", "1")
    assert dockerd.api_json("GET", f"/containers/json?all=1&filters={label}") == []


def test_a_config_network_of_another_owner_is_answered_as_missing(up, dockerd, images):
    # libnetwork finds a configuration network by name only, so ConfigFrom goes as written;
    # tenancy refuses another owner's (baseline refuses ConfigFrom outright, so the role here
    # is unrestricted)
    run = images["run"]
    labels = {"dw-imgpin": run}
    carol = KeepAlive(up, up.state / "clients" / "carol")
    theirs, mine = f"dw-imgpin-cfg-bob-{run}", f"dw-imgpin-cfg-carol-{run}"
    config_only = {"Driver": "bridge", "ConfigOnly": True, "Labels": labels}
    try:
        dockerd.api_json(
            "POST", "/networks/create", {**config_only, "Name": theirs,
                                         "Labels": {**labels, OWNER: "cn:bob"}},
        )  # fmt: skip
        status, answer = carol.request("POST", "/v1.41/networks/create",
                                       {**config_only, "Name": mine})  # fmt: skip
        assert status == 201, answer
        made = f"dw-imgpin-from-{run}"
        body = {"Name": made, "Driver": "bridge"}
        status, message = carol.message(
            "POST", "/v1.41/networks/create", {**body, "ConfigFrom": {"Network": theirs}}
        )
        # dockerd's own words for a configuration network it does not have
        assert (status, message) == (404, f'configuration network "{theirs}" does not exist')
        assert dockerd.api("GET", f"/networks/{made}")[0] == 404
        # from her own, dockerd itself refuses: a network taking its configuration from
        # another may carry no labels, and every network a scoped role creates carries its
        # owner label. So no scoped role ever gets a network made from a configuration network
        status, message = carol.message(
            "POST", "/v1.41/networks/create", {**body, "ConfigFrom": {"Network": mine}}
        )
        assert (status, message) == (
            403,
            "user specified configurations are not supported if the network depends on a "
            "configuration network",
        )
        assert dockerd.api("GET", f"/networks/{made}")[0] == 404
    finally:
        carol.close()
        label = urllib.parse.quote(json.dumps({"label": [f"dw-imgpin={run}"]}))
        found = dockerd.api_json("GET", f"/networks?filters={label}")
        for network in sorted(found, key=lambda n: n.get("ConfigOnly", False)):
            dockerd.api("DELETE", f"/networks/{network['Id']}")
