"""Tenancy through ``dockward up`` with the real docker CLI, the daemon's own socket as judge.

alice and bob hold certificates of the role ``tenants`` (``scope = "own"``), carol one of the
role ``builders`` (``scope = "role"``). Each creates a container, a volume, a network and a
committed image; then each must see only their own objects, a foreign object must answer as a
missing one does (dockerd's own text, compared with the answer for a name nobody has), and a
reference to a foreign object inside a request must be refused with the daemon unchanged.
"""

from __future__ import annotations

import http.client
import json
import queue
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockward.policy.roles import PRESETS
from support.up import Up, dockward, role_toml
from support.waiting import free_port, wait_for

pytestmark = pytest.mark.e2e

OWNER = "dockward.owner"
TAG = uuid.uuid4().hex[:6]
# beyond the ci preset, so that the foreign-object answers of these are covered too
EXTRA = (
    "system.df",
    "container.export",
    "container.archive.read",
    "image.history",
    "network.prune",
)


def _roles() -> str:
    allow = (*PRESETS["ci"].allow, *EXTRA)
    return role_toml("tenants", allow, scope="own") + role_toml("builders", allow, scope="role")


class Tenant:
    """One identity: its bundle and the names of what it creates."""

    def __init__(self, up: Up, name: str) -> None:
        self.up = up
        self.name = name
        self.bundle = up.state / "clients" / name
        self.container = f"t{TAG}-{name}-web"
        self.volume = f"t{TAG}-{name}-vol"
        self.network = f"t{TAG}-{name}-net"
        self.image = f"t{TAG}-{name}-img"

    def docker(self, *args: str, timeout: float = 60):  # type: ignore[no-untyped-def]
        return self.up.docker(*args, bundle=self.bundle, timeout=timeout)

    def ok(self, *args: str) -> str:
        result = self.docker(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout


@pytest.fixture(scope="module")
def tenants(
    tmp_path_factory: pytest.TempPathFactory, dockerd, busybox_image
) -> Iterator[dict[str, Tenant]]:
    state = tmp_path_factory.mktemp("tenancy") / "state"
    with Up(state, f"127.0.0.1:{free_port()}", dockerd.socket_path) as up:
        up.wait_ready()
        up.add_roles(_roles(), what="the tenancy roles to load")
        people = {}
        for name, role in (("alice", "tenants"), ("bob", "tenants"), ("carol", "builders")):
            issued = up.ca("issue", "client", name, "--role", role).stdout
            owner = "role:builders" if role == "builders" else f"cn:{name}"
            assert f"owner key: {owner} (role {role}, scope " in issued, issued
            people[name] = tenant = Tenant(up, name)
            tenant.ok("volume", "create", tenant.volume)
            tenant.ok("network", "create", tenant.network)
            tenant.ok(
                "run", "-d", "--name", tenant.container, "--network", tenant.network,
                "-v", f"{tenant.volume}:/data", busybox_image, "sleep", "600",
            )  # fmt: skip
            tenant.ok("commit", tenant.container, tenant.image)
        try:
            yield people
        finally:
            for tenant in people.values():
                dockerd.api("DELETE", f"/containers/{tenant.container}?force=1&v=1")
                dockerd.api("DELETE", f"/images/{tenant.image}?force=1")
                dockerd.api("DELETE", f"/volumes/{tenant.volume}")
                dockerd.api("DELETE", f"/networks/{tenant.network}")


def _owner_of(dockerd, path: str, labels: str = "Labels") -> str | None:  # type: ignore[no-untyped-def]
    document = dockerd.api_json("GET", path)
    if labels == "Config":
        return (document["Config"].get("Labels") or {}).get(OWNER)
    return (document.get("Labels") or {}).get(OWNER)


def test_every_created_object_carries_its_owner(tenants, dockerd) -> None:
    for name, owner in (("alice", "cn:alice"), ("bob", "cn:bob"), ("carol", "role:builders")):
        tenant = tenants[name]
        assert _owner_of(dockerd, f"/containers/{tenant.container}/json", "Config") == owner
        assert _owner_of(dockerd, f"/images/{tenant.image}/json", "Config") == owner
        assert _owner_of(dockerd, f"/volumes/{tenant.volume}") == owner
        assert _owner_of(dockerd, f"/networks/{tenant.network}") == owner


def test_each_sees_only_their_own_objects(tenants, busybox_image) -> None:
    for tenant in tenants.values():
        assert tenant.ok("ps", "-a", "--format", "{{.Names}}").split() == [tenant.container]
        assert tenant.ok("volume", "ls", "-q").split() == [tenant.volume]
        assert tenant.ok("network", "ls", "--format", "{{.Name}}").split() == [tenant.network]
        images = tenant.ok("images", "--format", "{{.Repository}}").split()
        assert set(images) == {tenant.image}  # the shared busybox is usable, not listed
        df = tenant.ok("system", "df", "-v")
        others = [t for t in tenants.values() if t is not tenant]
        assert tenant.container in df and tenant.volume in df
        for other in others:
            for name in (other.container, other.volume, other.image):
                assert name not in df, (tenant.name, name, df)


def _same_answer(foreign: str, missing: str, foreign_name: str, missing_name: str) -> None:
    assert foreign.replace(foreign_name, "NAME") == missing.replace(missing_name, "NAME")


# (command, the object kind it names); each is run by bob on alice's object, and by the admin
# on a name nobody has: the two answers must be the same but for the name.
FOREIGN_COMMANDS = [
    (("logs", "{container}"), "container"),
    (("exec", "{container}", "true"), "container"),
    (("top", "{container}"), "container"),
    (("stop", "-t", "1", "{container}"), "container"),
    (("kill", "{container}"), "container"),
    (("rm", "-f", "{container}"), "container"),
    (("rename", "{container}", "stolen"), "container"),
    (("update", "--cpu-shares", "512", "{container}"), "container"),
    (("export", "{container}"), "container"),
    (("cp", "{container}:/etc/hostname", "-"), "container"),
    (("container", "inspect", "{container}"), "container"),
    (("commit", "{container}"), "container"),
    (("wait", "{container}"), "container"),
    (("volume", "inspect", "{volume}"), "volume"),
    (("volume", "rm", "{volume}"), "volume"),
    (("network", "inspect", "{network}"), "network"),
    (("network", "rm", "{network}"), "network"),
    (("image", "inspect", "{image}"), "image"),
    (("rmi", "{image}"), "image"),
    (("tag", "{image}", "stolen"), "image"),
    (("history", "{image}"), "image"),
]


@pytest.mark.parametrize(("command", "kind"), FOREIGN_COMMANDS, ids=lambda c: " ".join(c))
def test_a_foreign_object_answers_as_a_missing_one(tenants, dockerd, command, kind) -> None:
    alice, bob = tenants["alice"], tenants["bob"]
    names = {kind: getattr(alice, kind)}
    missing = {kind: getattr(alice, kind).replace(TAG, "nobody")}
    before = dockerd.api_json("GET", f"/containers/{alice.container}/json")
    foreign = bob.docker(*(word.format(**names) for word in command))
    absent = alice.up.docker(*(word.format(**missing) for word in command))
    assert foreign.returncode == absent.returncode  # rm -f: 0 for both
    _same_answer(foreign.stderr, absent.stderr, names[kind], missing[kind])
    assert "dockward" not in foreign.stderr
    after = dockerd.api_json("GET", f"/containers/{alice.container}/json")
    assert after["State"]["Running"] and after["Name"] == before["Name"]
    assert _owner_of(dockerd, f"/volumes/{alice.volume}") == "cn:alice"
    assert _owner_of(dockerd, f"/networks/{alice.network}") == "cn:alice"
    assert dockerd.api_json("GET", f"/images/{alice.image}/json")["Id"]
    assert dockerd.api("GET", "/images/stolen/json")[0] == 404


def test_carol_shares_her_roles_space_and_bob_does_not_see_it(tenants) -> None:
    carol, bob = tenants["carol"], tenants["bob"]
    assert bob.docker("logs", carol.container).returncode != 0
    assert carol.docker("logs", bob.container).returncode != 0


REFERENCES = [
    ("run", "--rm", "--volumes-from", "{container}", "{busybox}", "true"),
    ("run", "--rm", "-v", "{volume}:/data", "{busybox}", "true"),
    ("run", "--rm", "--mount", "type=volume,source={volume},target=/d", "{busybox}", "true"),
    ("run", "--rm", "--network", "{network}", "{busybox}", "true"),
    ("run", "--rm", "--link", "{container}:db", "{busybox}", "true"),
    ("run", "--rm", "{image}", "true"),
    ("network", "connect", "{network}", "{own_container}"),
    ("network", "connect", "{own_network}", "{container}"),
    ("network", "disconnect", "{network}", "{container}"),
    ("commit", "{container}", "stolen"),
    ("tag", "{image}", "stolen"),
]


@pytest.mark.parametrize("command", REFERENCES, ids=" ".join)
def test_a_reference_to_a_foreign_object_is_refused(
    tenants, dockerd, busybox_image, command
) -> None:
    alice, bob = tenants["alice"], tenants["bob"]
    before = {c["Id"] for c in dockerd.api_json("GET", "/containers/json?all=1")}
    words = {
        "container": alice.container,
        "volume": alice.volume,
        "network": alice.network,
        "image": alice.image,
        "busybox": busybox_image,
        "own_container": bob.container,
        "own_network": bob.network,
    }
    result = bob.docker(*(word.format(**words) for word in command))
    assert result.returncode != 0, result.stdout
    assert {c["Id"] for c in dockerd.api_json("GET", "/containers/json?all=1")} == before
    networks = dockerd.api_json("GET", f"/networks/{alice.network}")["Containers"] or {}
    assert [c["Name"] for c in networks.values()] == [alice.container]
    assert dockerd.api("GET", "/images/stolen/json")[0] == 404


def test_a_dockward_label_from_the_client_is_refused(tenants, dockerd, busybox_image) -> None:
    bob = tenants["bob"]
    name = f"t{TAG}-forged"
    result = bob.docker("volume", "create", "--label", "dockward.owner=cn:alice", name)
    assert result.returncode != 0 and "set by the gateway only" in result.stderr
    assert dockerd.api("GET", f"/volumes/{name}")[0] == 404
    volumes = {v["Name"] for v in dockerd.api_json("GET", "/volumes")["Volumes"] or []}
    mount = "type=volume,target=/d,volume-label=dockward.owner=cn:alice"
    anonymous = bob.docker("run", "--rm", "--mount", mount, busybox_image, "true")
    assert anonymous.returncode != 0 and "set by the gateway only" in anonymous.stderr
    assert {v["Name"] for v in dockerd.api_json("GET", "/volumes")["Volumes"] or []} == volumes


def test_events_show_only_the_callers_objects(tenants, busybox_image) -> None:
    alice, bob = tenants["alice"], tenants["bob"]
    stream = bob.up.docker_popen(
        "events", "--format", "{{.Actor.Attributes.name}}", bundle=bob.bundle
    )
    assert stream.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line.strip()) for line in stream.stdout])
    reader.start()
    seen: list[str] = []
    try:

        def bobs_own_event_arrives() -> bool:
            # alice works while bob listens: her container's events must never reach him
            alice.ok("run", "--rm", "--name", f"t{TAG}-alice-job", busybox_image, "true")
            bob.ok("restart", "-t", "0", bob.container)
            try:
                while True:
                    seen.append(lines.get(timeout=1))
                    if seen[-1] == bob.container:
                        return True
            except queue.Empty:
                return False

        wait_for(bobs_own_event_arrives, timeout=30, what="bob's own event in his stream")
    finally:
        _end_stream(stream, reader)
    assert seen and all(name in (bob.container, "") for name in seen), seen


def _end_stream(stream: subprocess.Popen[str], reader: threading.Thread) -> None:
    """Stop a ``docker events`` process and the thread reading it; close its pipes."""
    stream.kill()
    stream.wait()
    reader.join(timeout=10)
    assert stream.stdout is not None and stream.stderr is not None
    stream.stdout.close()
    stream.stderr.close()


def test_alices_event_stream_shows_none_of_bobs_work_while_he_works(tenants, busybox_image) -> None:
    alice, bob = tenants["alice"], tenants["bob"]
    stream = alice.up.docker_popen(
        "events", "--format", "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}",
        bundle=alice.bundle,
    )  # fmt: skip
    assert stream.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line.strip()) for line in stream.stdout])
    reader.start()
    seen: list[str] = []
    bobs: set[str] = set()
    rounds = iter(range(1000))
    try:

        def alices_marker_follows_bobs_work() -> bool:
            n = next(rounds)
            volume, container = f"t{TAG}-bob-evvol{n}", f"t{TAG}-bob-ev{n}"
            bobs.update((volume, container))
            bob.ok("volume", "create", volume)
            bobs.add(
                bob.ok(
                    "create", "--name", container, "-v", f"{volume}:/d", busybox_image, "true"
                ).strip()
            )
            bob.ok("start", "-a", container)
            bob.ok("rm", container)
            bob.ok("volume", "rm", volume)
            marker = f"t{TAG}-alice-ev{n}"
            alice.ok("run", "--rm", "--name", marker, busybox_image, "true")
            try:
                while True:
                    seen.append(lines.get(timeout=2))
                    if seen[-1].startswith("container destroy ") and seen[-1].endswith(marker):
                        return True
            except queue.Empty:
                return False

        wait_for(alices_marker_follows_bobs_work, timeout=60, what="alice's own events")
    finally:
        _end_stream(stream, reader)
    actions = {" ".join(line.split()[:2]) for line in seen}
    assert {"container create", "container start", "container die", "container destroy"} <= actions
    leaked = [line for line in seen for name in bobs if name in line]
    assert not leaked, (leaked, seen)
    # volume and network events carry no owner label: a scoped stream shows none, even one's own
    assert all(line.split()[0] == "container" for line in seen), seen


def test_another_owners_or_a_shared_tag_is_not_re_pointed(tenants, dockerd, busybox_image) -> None:
    alice, bob = tenants["alice"], tenants["bob"]
    before = {
        name: dockerd.api_json("GET", f"/images/{name}/json")["Id"]
        for name in (alice.image, busybox_image)
    }
    for target in before:
        result = bob.docker("tag", bob.image, target)
        assert result.returncode != 0 and "choose another tag" in result.stderr, result.stderr
    after = {name: dockerd.api_json("GET", f"/images/{name}/json")["Id"] for name in before}
    assert after == before
    bob.ok("tag", bob.image, f"{bob.image}:v2")  # his own name: fine
    assert _owner_of(dockerd, f"/images/{bob.image}:v2/json", "Config") == "cn:bob"


COMPOSE_FILE = """\
version: "3"
services:
  web:
    image: {image}
    command: ["sh", "-c", "echo up-and-running; sleep 600"]
    volumes: ["data:/data"]
volumes:
  data: {{}}
"""


def _compose(tenant: Tenant, directory: Path, project: str, *args: str) -> subprocess.Popen[str]:
    return tenant.up.compose_popen(tenant.bundle, directory, project, *args)


def _both(*runs: subprocess.Popen[str]) -> list[tuple[int, str]]:
    return [(run.wait(timeout=180), "".join(run.communicate(timeout=10))) for run in runs]


def _project(dockerd, project: str) -> list[dict]:  # type: ignore[no-untyped-def]
    label = f"com.docker.compose.project={project}"
    return dockerd.api_json("GET", f'/containers/json?all=1&filters={{"label":["{label}"]}}')


def test_compose_projects_of_two_owners_run_side_by_side(
    tenants, dockerd, busybox_image, tmp_path
) -> None:
    alice, bob = tenants["alice"], tenants["bob"]
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE.format(image=busybox_image))
    projects = {alice: f"c{TAG}a", bob: f"c{TAG}b"}
    try:
        started = _both(*(_compose(t, tmp_path, p, "up", "-d") for t, p in projects.items()))
        assert all(code == 0 for code, _ in started), started
        for tenant, project in projects.items():
            containers = _project(dockerd, project)
            assert [c["Labels"][OWNER] for c in containers] == [f"cn:{tenant.name}"]
            volume = dockerd.api_json("GET", f"/volumes/{project}_data")
            assert volume["Labels"][OWNER] == f"cn:{tenant.name}"
            listed = _compose(tenant, tmp_path, project, "ps", "-q")
            [(code, out)] = _both(listed)
            assert code == 0 and out.split() == [containers[0]["Id"]], out
        # the same project name for bob: names are one namespace, so it is refused, and
        # alice's project is untouched
        [(code, out)] = _both(_compose(bob, tmp_path, projects[alice], "up", "-d"))
        assert code != 0 and "another owner" in out, out
        [theirs] = _project(dockerd, projects[alice])
        assert theirs["Labels"][OWNER] == "cn:alice" and theirs["Id"][:12] not in out
    finally:
        stopped = _both(
            *(_compose(t, tmp_path, p, "down", "-v", "--timeout", "1") for t, p in projects.items())
        )
    assert all(code == 0 for code, _ in stopped), stopped
    for project in projects.values():
        assert _project(dockerd, project) == []
        assert dockerd.api("GET", f"/volumes/{project}_data")[0] == 404


def test_builds_imports_and_execs_of_ones_own_work_and_are_stamped(
    tenants, dockerd, busybox_image, tmp_path
) -> None:
    bob = tenants["bob"]
    assert bob.ok("exec", bob.container, "echo", "inside") == "inside\n"
    context = tmp_path / "context"
    context.mkdir()
    # a Dockerfile's own dockward label loses to the gateway's, applied after the last step
    dockerfile = f"FROM {busybox_image}\nLABEL stage=test dockward.owner=cn:alice\n"
    (context / "Dockerfile").write_text(dockerfile)
    built = f"t{TAG}-bob-built"
    result = bob.up.docker(
        "build", "-q", "-t", built, str(context), bundle=bob.bundle, DOCKER_BUILDKIT="0"
    )
    assert result.returncode == 0, result.stderr
    labels = dockerd.api_json("GET", f"/images/{built}/json")["Config"]["Labels"]
    assert labels == {"stage": "test", OWNER: "cn:bob"}
    forged = bob.up.docker(
        "build", "-q", "--label", "dockward.owner=cn:alice", "-t", f"{built}-2", str(context),
        bundle=bob.bundle, DOCKER_BUILDKIT="0",
    )  # fmt: skip
    assert forged.returncode != 0 and "set by the gateway only" in forged.stderr
    imported = f"t{TAG}-bob-imported"
    archive = tmp_path / "rootfs.tar"
    archive.write_bytes(dockerd.api("GET", f"/containers/{bob.container}/export")[2])
    bob.ok("import", str(archive), imported)
    assert _owner_of(dockerd, f"/images/{imported}/json", "Config") == "cn:bob"
    try:
        images = bob.ok("images", "--format", "{{.Repository}}").split()
        assert set(images) == {bob.image, built, imported}  # bob.image may have two tags
        assert built not in tenants["alice"].ok("images", "--format", "{{.Repository}}")
    finally:
        for image in (built, imported):
            dockerd.api("DELETE", f"/images/{image}?force=1")


def test_a_classic_build_from_another_owners_image_is_refused(
    tenants, dockerd, busybox_image, tmp_path
) -> None:
    alice, bob = tenants["alice"], tenants["bob"]
    context = tmp_path / "context"
    context.mkdir()
    built = f"t{TAG}-bob-from"
    images_before = {i["Id"] for i in dockerd.api_json("GET", "/images/json?all=1")}

    def build(dockerfile: str, *flags: str):  # type: ignore[no-untyped-def]
        (context / "Dockerfile").write_text(dockerfile)
        return bob.up.docker(
            "build", "-q", *flags, "-t", built, str(context), bundle=bob.bundle,
            DOCKER_BUILDKIT="0",
        )  # fmt: skip

    stolen = [
        f"FROM {alice.image}\n",
        f"FROM --platform=linux/amd64 {busybox_image} AS base\nFROM base\nFROM {alice.image}\n",
        f"ARG BASE={alice.image}\nFROM ${{BASE}}\nRUN true\n",
        f"FROM {busybox_image}\nCOPY --from={alice.image} /etc/hostname /x\n",
    ]
    for dockerfile in stolen:
        for flags in ((), ("--compress",)):  # --compress: a gzip context
            result = build(dockerfile, *flags)
            assert result.returncode != 0, (dockerfile, result.stdout)
            assert f"No such image: {alice.image}:latest" in result.stderr, result.stderr
            assert "dockward" not in result.stderr
    missing = build("ARG UNSET\nFROM ${UNSET}\n")
    assert missing.returncode != 0 and "UNSET" in missing.stderr, missing.stderr
    assert dockerd.api("GET", f"/images/{built}/json")[0] == 404
    assert {i["Id"] for i in dockerd.api_json("GET", "/images/json?all=1")} == images_before
    # multi-stage from a shared image, a build arg, and a gzip context: built and stamped
    own = "ARG BASE=unset\nFROM ${BASE} AS one\nRUN true\nFROM one\nLABEL stage=two\n"
    result = build(own, "--compress", "--build-arg", f"BASE={busybox_image}")
    try:
        assert result.returncode == 0, result.stderr
        labels = dockerd.api_json("GET", f"/images/{built}/json")["Config"]["Labels"]
        assert labels == {"stage": "two", OWNER: "cn:bob"}
        # alice may not build from bob's new image either
        (context / "Dockerfile").write_text(f"FROM {built}\n")
        theirs = alice.up.docker(
            "build", "-q", str(context), bundle=alice.bundle, DOCKER_BUILDKIT="0"
        )
        assert theirs.returncode != 0 and f"No such image: {built}:latest" in theirs.stderr
    finally:
        dockerd.api("DELETE", f"/images/{built}?force=1")


def test_prunes_remove_only_the_callers_objects(tenants, dockerd, busybox_image) -> None:
    alice, bob = tenants["alice"], tenants["bob"]
    stopped = {t: f"t{TAG}-{t.name}-stopped" for t in (alice, bob)}
    spare = {t: f"t{TAG}-{t.name}-spare" for t in (alice, bob)}
    for tenant in (alice, bob):
        tenant.ok("create", "--name", stopped[tenant], busybox_image, "true")
        tenant.ok("network", "create", spare[tenant])
    try:
        bob.ok("container", "prune", "-f")
        bob.ok("network", "prune", "-f")
        assert dockerd.api("GET", f"/containers/{stopped[bob]}/json")[0] == 404
        assert dockerd.api("GET", f"/networks/{spare[bob]}")[0] == 404
        assert dockerd.api("GET", f"/containers/{stopped[alice]}/json")[0] == 200
        assert dockerd.api("GET", f"/networks/{spare[alice]}")[0] == 200
        assert dockerd.api_json("GET", f"/containers/{bob.container}/json")["State"]["Running"]
    finally:
        for tenant in (alice, bob):
            dockerd.api("DELETE", f"/containers/{stopped[tenant]}?force=1")
            dockerd.api("DELETE", f"/networks/{spare[tenant]}")


def test_the_owners_of_the_daemons_objects_are_listed(tenants, dockerd, busybox_image) -> None:
    result = dockward("tenancy", "owners", "--upstream", dockerd.socket_path, "--json")
    assert result.returncode == 0, result.stderr
    owners = {(row["kind"], row["name"]): row["owner"] for row in json.loads(result.stdout)}
    for name, owner in (("alice", "cn:alice"), ("carol", "role:builders")):
        tenant = tenants[name]
        assert owners[("container", tenant.container)] == owner
        assert owners[("volume", tenant.volume)] == owner
        assert owners[("network", tenant.network)] == owner
    assert any(
        kind == "image" and busybox_image in name and owner is None
        for (kind, name), owner in owners.items()
    )
    unowned = dockward("tenancy", "owners", "--upstream", dockerd.socket_path, "--unowned")
    assert unowned.returncode == 0 and tenants["alice"].container not in unowned.stdout
    assert unowned.stdout.startswith("KIND")


def test_objects_made_before_tenancy_are_adopted_by_an_owner(
    tenants, dockerd, busybox_image
) -> None:
    """Last in this file: alice's lists are filtered by the adoption record from here on."""
    alice, bob = tenants["alice"], tenants["bob"]
    legacy, volume = f"t{TAG}-legacy", f"t{TAG}-legacy-vol"
    dockerd.api_json("POST", "/volumes/create", {"Name": volume})
    created = dockerd.api_json(
        "POST", f"/containers/create?name={legacy}", {"Image": busybox_image, "Cmd": ["true"]}
    )
    try:
        assert legacy not in alice.ok("ps", "-a", "--format", "{{.Names}}")
        adopt = dockward(
            "tenancy", "adopt", "--owner", "cn:alice", "--state-dir", str(alice.up.state),
            "--upstream", dockerd.socket_path, f"container:{legacy}", f"volume:{volume}",
        )  # fmt: skip
        assert adopt.returncode == 0, adopt.stderr
        assert f"adopted container {legacy} ({created['Id'][:19]}) for cn:alice" in adopt.stdout
        wait_for(
            lambda: legacy in alice.ok("ps", "-a", "--format", "{{.Names}}"),
            what="the adoption record to apply",
        )
        assert set(alice.ok("ps", "-a", "--format", "{{.Names}}").split()) == {
            alice.container,
            legacy,
        }
        assert set(alice.ok("volume", "ls", "-q").split()) == {alice.volume, volume}
        assert (
            alice.ok("container", "inspect", "--format", "{{.Id}}", legacy).strip()
            == (created["Id"])
        )
        assert bob.docker("container", "inspect", legacy).returncode != 0
        assert legacy not in bob.ok("ps", "-a", "--format", "{{.Names}}")
        again = dockward(
            "tenancy", "adopt", "--owner", "cn:bob", "--state-dir", str(alice.up.state),
            "--upstream", dockerd.socket_path, f"container:{legacy}",
        )  # fmt: skip
        assert again.returncode == 2 and "already adopted" in again.stderr
        owned = dockward(
            "tenancy", "adopt", "--owner", "cn:bob", "--state-dir", str(alice.up.state),
            "--upstream", dockerd.socket_path, f"container:{alice.container}",
        )  # fmt: skip
        assert owned.returncode == 2 and "already has the owner cn:alice" in owned.stderr
    finally:
        dockerd.api("DELETE", f"/containers/{legacy}?force=1")
        dockerd.api("DELETE", f"/volumes/{volume}")


class _KeepAliveClient:
    """Requests of one identity over one TLS connection, for a loop of thousands."""

    def __init__(self, tenant: Tenant) -> None:
        host, port = tenant.up.exported()["DOCKER_HOST"].removeprefix("tcp://").rsplit(":", 1)
        context = ssl.create_default_context(cafile=str(tenant.bundle / "ca.pem"))
        context.load_cert_chain(tenant.bundle / "cert.pem", tenant.bundle / "key.pem")
        connection = socket.create_connection((host, int(port)), timeout=30)
        self.sock = context.wrap_socket(connection, server_hostname=host)

    def post(self, target: str, tar: bytes | None = None) -> tuple[int, bytes]:
        head = f"POST {target} HTTP/1.1\r\nHost: docker\r\n"
        if tar is not None:
            head += f"Content-Type: application/x-tar\r\nContent-Length: {len(tar)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + (tar or b""))
        answer = http.client.HTTPResponse(self.sock)  # type: ignore[arg-type]
        answer.begin()
        return answer.status, answer.read()


def test_a_name_renamed_onto_never_reaches_another_owners_container(
    tenants, dockerd, busybox_image
) -> None:
    alice, bob = tenants["alice"], tenants["bob"]
    wanted, parked = f"t{TAG}-wanted", f"t{TAG}-bob-racer"
    victim = bob.ok("run", "-d", "--name", parked, busybox_image, "sleep", "600").strip()
    started = dockerd.api_json("GET", f"/containers/{victim}/json")["State"]["StartedAt"]
    stop = threading.Event()
    renames: list[int] = []

    def accomplice() -> None:  # bob moves his container onto the name alice uses, and away
        while not stop.is_set():
            for name in (wanted, parked):
                status = dockerd.api("POST", f"/containers/{victim}/rename?name={name}")[0]
                renames.append(status)

    thread = threading.Thread(target=accomplice, daemon=True)
    client = _KeepAliveClient(alice)
    statuses: dict[int, int] = {}
    thread.start()
    try:
        # 20 s at least, and on a busy machine on (up to 60 s) until thousands of moves ran
        began = time.monotonic()
        while set(statuses) <= {404} and (
            (elapsed := time.monotonic() - began) < 20
            or (
                elapsed < 60
                and (statuses.get(404, 0) <= 500 or len(renames) + statuses[404] <= 2000)
            )
        ):
            status, _ = client.post(f"/v1.41/containers/{wanted}/kill")
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        stop.set()
        thread.join(timeout=30)
        client.sock.close()
    try:
        state = dockerd.api_json("GET", f"/containers/{victim}/json")["State"]
        # the daemon decides: bob's container was never killed, alice was only ever told 404
        assert state["Running"] and state["StartedAt"] == started, state
        assert set(statuses) == {404}, statuses
        assert set(renames) == {204} and sum(statuses.values()) + len(renames) > 2000
        assert statuses[404] > 500, statuses
    finally:
        dockerd.api("DELETE", f"/containers/{victim}?force=1")


def _tar(*files: tuple[str, str]) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, text in files:
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    return out.getvalue()


def test_a_later_dockerfile_entry_that_dockerd_would_use_is_the_one_judged(
    tenants, dockerd, busybox_image
) -> None:
    alice, bob = tenants["alice"], tenants["bob"]
    tar = _tar(
        ("Dockerfile", f"FROM {busybox_image}\n"),
        ("./Dockerfile", f"FROM {alice.image}\nLABEL took=it\n"),
    )
    built = f"t{TAG}-twice"
    try:
        # the daemon itself builds from the last entry: alice's image
        status, _, output = dockerd.api(
            "POST", f"/build?t={built}", tar, headers={"Content-Type": "application/x-tar"}
        )
        assert status == 200 and b"errorDetail" not in output, output
        alices = dockerd.api_json("GET", f"/images/{alice.image}/json")["Id"]
        assert dockerd.api_json("GET", f"/images/{built}/json")["Parent"] == alices
        dockerd.api("DELETE", f"/images/{built}?force=1")
        client = _KeepAliveClient(bob)
        try:
            status, answer = client.post(f"/v1.41/build?t={built}", tar)
        finally:
            client.sock.close()
        assert status == 404, answer
        assert json.loads(answer)["message"] == f"No such image: {alice.image}:latest"
        assert dockerd.api("GET", f"/images/{built}/json")[0] == 404
    finally:
        dockerd.api("DELETE", f"/images/{built}?force=1")
