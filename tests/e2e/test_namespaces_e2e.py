"""Private name spaces through ``dockward up``: two owners run compose project ``app`` at once.

alice and bob hold certificates of the role ``spaces`` (``scope = "own"``, ``names =
"private"``). Each runs ``docker-compose -p app up -d`` with the same file, at the same time;
each must see only their own project under its plain names, ``down -v`` by one must leave the
other's running, and the daemon's own socket must show both sets under distinct prefixed names.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from dockward.policy.namespaces import name_prefix
from dockward.policy.roles import PRESETS
from support.up import Up, role_toml
from support.waiting import free_port

pytestmark = pytest.mark.e2e

OWNER = "dockward.owner"
PROJECT = f"app{uuid.uuid4().hex[:4]}x"  # one project name for both; unique per test run

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


def _role() -> str:
    allow = (*PRESETS["ci"].allow, "system.df")
    return role_toml("spaces", allow, scope="own", names="private")


class Person:
    def __init__(self, up: Up, name: str) -> None:
        self.up = up
        self.name = name
        self.bundle = up.state / "clients" / name
        self.prefix = name_prefix(f"cn:{name}")

    def docker(self, *args: str) -> str:
        result = self.up.docker(*args, bundle=self.bundle, timeout=60)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def compose(self, directory: Path, *args: str) -> subprocess.Popen[str]:
        return self.up.compose_popen(self.bundle, directory, PROJECT, *args)


def _finish(*runs: subprocess.Popen[str]) -> list[tuple[int, str]]:
    return [(run.wait(timeout=180), "".join(run.communicate(timeout=10))) for run in runs]


@pytest.fixture(scope="module")
def people(
    tmp_path_factory: pytest.TempPathFactory, dockerd, busybox_image
) -> Iterator[dict[str, Person]]:
    state = tmp_path_factory.mktemp("namespaces") / "state"
    with Up(state, f"127.0.0.1:{free_port()}", dockerd.socket_path) as up:
        up.wait_ready()
        up.add_roles(_role(), what="the spaces role to load")
        found = {}
        for name in ("alice", "bob"):
            issued = up.ca("issue", "client", name, "--role", "spaces").stdout
            assert f"owner key: cn:{name}" in issued, issued
            assert f"stored at the daemon as {name_prefix(f'cn:{name}')}NAME" in issued, issued
            found[name] = Person(up, name)
        try:
            yield found
        finally:
            for person in found.values():
                label = quote(json.dumps({"label": [f"{OWNER}=cn:{person.name}"]}))
                for item in dockerd.api_json("GET", f"/containers/json?all=1&filters={label}"):
                    dockerd.api("DELETE", f"/containers/{item['Id']}?force=1&v=1")
                for item in dockerd.api_json("GET", f"/volumes?filters={label}")["Volumes"] or ():
                    dockerd.api("DELETE", f"/volumes/{item['Name']}")
                for item in dockerd.api_json("GET", f"/networks?filters={label}"):
                    dockerd.api("DELETE", f"/networks/{item['Id']}")


def _daemon_project(dockerd) -> list[dict]:  # type: ignore[no-untyped-def]
    label = quote(json.dumps({"label": [f"com.docker.compose.project={PROJECT}"]}))
    return dockerd.api_json("GET", f"/containers/json?all=1&filters={label}")


def _names(output: str) -> list[str]:
    return sorted(line.strip() for line in output.splitlines() if line.strip())


def test_two_owners_run_the_same_compose_project_side_by_side(
    people, dockerd, busybox_image, tmp_path
) -> None:
    alice, bob = people["alice"], people["bob"]
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE.format(image=busybox_image))
    container, volume, network = f"{PROJECT}_web_1", f"{PROJECT}_data", f"{PROJECT}_default"

    started = _finish(alice.compose(tmp_path, "up", "-d"), bob.compose(tmp_path, "up", "-d"))
    assert all(code == 0 for code, _ in started), started

    # the daemon holds both sets, under each owner's prefix, each stamped with its owner
    running = {c["Names"][0]: c for c in _daemon_project(dockerd)}
    for person in (alice, bob):
        mine = running[f"/{person.prefix}{container}"]
        assert mine["Labels"][OWNER] == f"cn:{person.name}" and mine["State"] == "running"
        stored = dockerd.api_json("GET", f"/volumes/{person.prefix}{volume}")
        assert stored["Labels"][OWNER] == f"cn:{person.name}"
        net = dockerd.api_json("GET", f"/networks/{person.prefix}{network}")
        assert net["Labels"][OWNER] == f"cn:{person.name}"
        assert mine["Id"] in net["Containers"]
    assert len(running) == 2 and alice.prefix != bob.prefix

    # each sees only their own objects, under the plain names
    for person in (alice, bob):
        [(code, out)] = _finish(person.compose(tmp_path, "ps"))
        assert code == 0 and container in out and "Up" in out, out
        assert ".".join(person.prefix.split(".")[:2]) not in out, out
        assert _names(person.docker("ps", "-a", "--format", "{{.Names}}")) == [container]
        assert _names(person.docker("volume", "ls", "--format", "{{.Name}}")) == [volume]
        assert _names(person.docker("network", "ls", "--format", "{{.Name}}")) == [network]
        inspected = json.loads(person.docker("inspect", container))[0]
        assert inspected["Name"] == f"/{container}"
        assert list(inspected["NetworkSettings"]["Networks"]) == [network]
        assert inspected["Mounts"][0]["Name"] == volume
        text = json.dumps(inspected) + person.docker("system", "df", "-v")
        for someone in (alice, bob):
            assert someone.prefix not in text, text
        assert "up-and-running" in person.docker("logs", container)

    # bob naming alice's stored names reaches nothing of hers
    stored = f"{alice.prefix}{container}"
    for args in (("stop", stored), ("volume", "rm", f"{alice.prefix}{volume}")):
        tried = bob.up.docker(*args, bundle=bob.bundle)
        # answered as a name bob does not have: the name as he wrote it, "no such"
        assert tried.returncode != 0 and "no such" in tried.stderr.lower(), tried
        assert f"{alice.prefix}{PROJECT}" in tried.stderr, tried
    assert running[f"/{stored}"]["Id"] in json.dumps(_daemon_project(dockerd))
    assert dockerd.api_json("GET", f"/containers/{stored}/json")["State"]["Running"]
    assert dockerd.api("GET", f"/volumes/{alice.prefix}{volume}")[0] == 200

    # bob recreates his project (compose renames the old container, then removes it)
    [(code, out)] = _finish(bob.compose(tmp_path, "up", "-d", "--force-recreate"))
    assert code == 0, out
    assert _names(bob.docker("ps", "-a", "--format", "{{.Names}}")) == [container]
    assert {c["Names"][0] for c in _daemon_project(dockerd)} == {
        f"/{alice.prefix}{container}",
        f"/{bob.prefix}{container}",
    }

    # alice takes her project down; bob's stays as it was
    [(code, out)] = _finish(alice.compose(tmp_path, "down", "-v", "--timeout", "1"))
    assert code == 0, out
    assert f"/{alice.prefix}{container}" not in {c["Names"][0] for c in _daemon_project(dockerd)}
    assert dockerd.api("GET", f"/volumes/{alice.prefix}{volume}")[0] == 404
    assert dockerd.api("GET", f"/networks/{alice.prefix}{network}")[0] == 404
    [theirs] = _daemon_project(dockerd)
    assert theirs["Names"] == [f"/{bob.prefix}{container}"] and theirs["State"] == "running"
    assert dockerd.api("GET", f"/volumes/{bob.prefix}{volume}")[0] == 200
    assert _names(bob.docker("ps", "--format", "{{.Names}}")) == [container]
    assert alice.docker("ps", "-a", "-q") == ""

    [(code, out)] = _finish(bob.compose(tmp_path, "down", "-v", "--timeout", "1"))
    assert code == 0, out
    assert _daemon_project(dockerd) == []
    assert dockerd.api("GET", f"/volumes/{bob.prefix}{volume}")[0] == 404


def test_a_missing_name_reads_as_dockerd_says_it_without_the_prefix(people) -> None:
    alice = people["alice"]
    result = alice.up.docker("inspect", "--type", "container", "nobody-here", bundle=alice.bundle)
    assert result.returncode != 0
    assert "No such container: nobody-here" in result.stderr, result.stderr
    assert alice.prefix not in result.stderr + result.stdout
    result = alice.up.docker("volume", "inspect", "nothing-here", bundle=alice.bundle)
    assert result.returncode != 0 and alice.prefix not in result.stderr, result.stderr
    assert "nothing-here" in result.stderr


def test_renames_and_conflicts_stay_in_ones_own_space(people, dockerd, busybox_image) -> None:
    alice, bob = people["alice"], people["bob"]
    for person in (alice, bob):
        person.docker("create", "--name", "same-name", busybox_image, "true")
    taken = alice.up.docker("create", "--name", "same-name", busybox_image, "true",
                            bundle=alice.bundle)  # fmt: skip
    assert taken.returncode != 0
    assert 'The container name "/same-name" is already in use' in taken.stderr, taken.stderr
    assert alice.prefix not in taken.stderr
    alice.docker("rename", "same-name", "renamed-one")
    assert _names(alice.docker("ps", "-a", "--format", "{{.Names}}")) == ["renamed-one"]
    assert _names(bob.docker("ps", "-a", "--format", "{{.Names}}")) == ["same-name"]
    assert dockerd.api("GET", f"/containers/{alice.prefix}renamed-one/json")[0] == 200
    assert dockerd.api("GET", f"/containers/{bob.prefix}same-name/json")[0] == 200
    short = alice.docker("ps", "-aq").strip()
    alice.docker("rm", short)  # an ID prefix is an ID when no name of hers reads so
    bob.docker("rm", "same-name")
    assert dockerd.api("GET", f"/containers/{bob.prefix}same-name/json")[0] == 404


def test_a_name_that_reads_as_an_id_is_a_name_first(people, dockerd, busybox_image) -> None:
    alice, bob = people["alice"], people["bob"]
    for person in (alice, bob):
        person.docker("run", "-d", "--name", "db", busybox_image, "sleep", "600")
    assert dockerd.api_json("GET", f"/containers/{alice.prefix}db/json")["State"]["Running"]
    alice.docker("stop", "-t", "0", "db")
    assert not dockerd.api_json("GET", f"/containers/{alice.prefix}db/json")["State"]["Running"]
    assert dockerd.api_json("GET", f"/containers/{bob.prefix}db/json")["State"]["Running"]
    for person in (alice, bob):
        person.docker("rm", "-f", "db")
        assert dockerd.api("GET", f"/containers/{person.prefix}db/json")[0] == 404


def test_objects_made_before_the_names_were_private_keep_their_plain_names(
    people, dockerd, busybox_image
) -> None:
    alice, bob = people["alice"], people["bob"]
    labels = {OWNER: "cn:alice"}
    status, _, _ = dockerd.api("POST", "/volumes/create", {"Name": "old-data", "Labels": labels})
    assert status == 201
    body = {"Image": busybox_image, "Cmd": ["sleep", "600"], "Labels": labels}
    status, _, _ = dockerd.api("POST", "/containers/create?name=old-web", body)
    assert status == 201
    try:
        assert "old-web" in _names(alice.docker("ps", "-a", "--format", "{{.Names}}"))
        alice.docker("start", "old-web")
        assert dockerd.api_json("GET", "/containers/old-web/json")["State"]["Running"]
        alice.docker("run", "--rm", "-v", "old-data:/d", busybox_image, "touch", "/d/seen")
        # what dockerd ran is the volume as written: nothing was made under the prefix
        assert dockerd.api("GET", f"/volumes/{alice.prefix}old-data")[0] == 404
        bob_tries = bob.up.docker("stop", "old-web", bundle=bob.bundle)
        assert bob_tries.returncode != 0 and "No such container: old-web" in bob_tries.stderr
        assert dockerd.api_json("GET", "/containers/old-web/json")["State"]["Running"]
        alice.docker("rename", "old-web", "old-web")  # into her name space
        assert dockerd.api("GET", "/containers/old-web/json")[0] == 404
        assert dockerd.api_json("GET", f"/containers/{alice.prefix}old-web/json")["State"][
            "Running"
        ]
        alice.docker("rm", "-f", "old-web")
        alice.docker("volume", "rm", "old-data")
        assert dockerd.api("GET", f"/containers/{alice.prefix}old-web/json")[0] == 404
        assert dockerd.api("GET", "/volumes/old-data")[0] == 404
    finally:
        dockerd.api("DELETE", "/containers/old-web?force=1")
        dockerd.api("DELETE", "/volumes/old-data")
