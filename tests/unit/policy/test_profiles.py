"""Tests for dockward.policy.profiles: every vector a refused case and an allowed near miss.

Bodies go through ``decode_body`` first, as in the gateway, and facts through the same loop the
gateway runs: ``facts_needed`` until it asks for nothing, answered from a fake daemon.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockward.errors import ProtocolError
from dockward.policy.gojson import decode_body
from dockward.policy.outbound import OutboundRules
from dockward.policy.profiles import (
    CHECKS,
    DEFAULT_MASKED_PATHS,
    DEFAULT_READONLY_PATHS,
    MAX_FACT_ROUNDS,
    PROFILES,
    FactQuery,
    ProfileSettings,
    Violation,
    check_request,
    evaluate,
    facts_needed,
    inspected_operations,
)
from dockward.policy.routes import OPERATIONS

SETTINGS = ProfileSettings(
    allowed_host_paths=("/srv/ci",),
    allowed_registries=("registry.example.com/", "docker.io/library/"),
)
DIGEST = "sha256:" + "0123456789abcdef" * 4

Daemon = Mapping[FactQuery, Mapping[str, object]]


def container(name: str) -> FactQuery:
    return FactQuery("container", name)


def image(name: str) -> FactQuery:
    return FactQuery("image", name)


def volume(name: str) -> FactQuery:
    return FactQuery("volume", name)


def judge(
    operation: str,
    body: object = None,
    *,
    profile: str = "baseline",
    params: Mapping[str, str] | None = None,
    query: Mapping[str, list[str]] | None = None,
    daemon: Daemon | None = None,
    settings: ProfileSettings = SETTINGS,
) -> Violation | None:
    """Decode ``body`` (JSON-able or raw), fetch facts as the gateway does, then check."""
    decoded = None
    if body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        decoded = decode_body(raw)
    params, query = params or {}, query or {}
    facts, missing = gather_facts(
        operation, params, daemon or {}, decoded, query=query, profile=profile, settings=settings
    )
    assert not missing, f"facts_needed did not converge in {MAX_FACT_ROUNDS} rounds"
    verdict = check_request(profile, operation, params, query, decoded, settings, facts)
    # the gateway's one pass per round must reach the same verdict, every test of this module
    rounds = evaluated(operation, params, query, decoded, daemon or {}, profile, settings)
    assert rounds == verdict, f"evaluate gave {rounds}, check_request {verdict}"
    return verdict


def evaluated(
    operation: str,
    params: Mapping[str, str],
    query: Mapping[str, list[str]],
    decoded: object,
    daemon: Daemon,
    profile: str,
    settings: ProfileSettings,
) -> Violation | None:
    """The verdict as the gateway reaches it: ``evaluate`` once per round of lookups."""
    facts: dict[FactQuery, Mapping[str, object] | None] = {}
    for _ in range(MAX_FACT_ROUNDS + 1):
        evaluation = evaluate(profile, operation, params, query, decoded, settings, facts)
        if not evaluation.missing:
            return evaluation.violation
        assert not set(evaluation.missing) & set(facts), "asked twice for the same fact"
        facts.update({ask: daemon.get(ask) for ask in evaluation.missing})
    raise AssertionError(f"evaluate did not converge in {MAX_FACT_ROUNDS} rounds")


def gather_facts(
    operation: str,
    params: Mapping[str, str],
    daemon: Daemon,
    decoded: object = None,
    *,
    rounds: int = MAX_FACT_ROUNDS,
    query: Mapping[str, list[str]] | None = None,
    profile: str = "baseline",
    settings: ProfileSettings = SETTINGS,
) -> tuple[dict[FactQuery, Mapping[str, object] | None], list[FactQuery]]:
    """The gateway's loop: ask, fetch what is needed, ask again, ``rounds`` fetches at most.

    Returns the facts and what ``facts_needed`` still asked for when the rounds ran out."""
    query = query or {}
    facts: dict[FactQuery, Mapping[str, object] | None] = {}
    needed = facts_needed(profile, operation, params, query, decoded, settings, facts)
    for _ in range(rounds):
        if not needed:
            break
        assert not set(needed) & set(facts), "asked twice for the same fact"
        facts.update({ask: daemon.get(ask) for ask in needed})
        needed = facts_needed(profile, operation, params, query, decoded, settings, facts)
    return facts, needed


def refused(operation: str, body: object = None, **kwargs: object) -> Violation:
    violation = judge(operation, body, **kwargs)  # type: ignore[arg-type]
    assert violation is not None, "expected a refusal"
    assert violation.check in {check.name for check in CHECKS}
    return violation


def allowed(operation: str, body: object = None, **kwargs: object) -> None:
    violation = judge(operation, body, **kwargs)  # type: ignore[arg-type]
    assert violation is None, str(violation)


def create(host_config: Mapping[str, object] | None = None, **top: object) -> dict[str, object]:
    """A container create body for busybox, with an inner HostConfig when given."""
    body: dict[str, object] = {"Image": "busybox", **top}
    if host_config is not None:
        body["HostConfig"] = dict(host_config)
    return body


def service(spec: Mapping[str, object] | None = None, **template: object) -> dict[str, object]:
    return {
        "Name": "s",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", **(spec or {})}, **template},
    }


# --- the interface --------------------------------------------------------------------------


def test_the_brief_example_reads_as_one_sentence() -> None:
    violation = refused("container.create", create({"Binds": ["/:/host"]}))
    assert violation == Violation(
        "HostConfig.Binds", 'mounts host path "/" (allowed: /srv/ci)', "host-path-binds"
    )
    assert str(violation) == 'HostConfig.Binds mounts host path "/" (allowed: /srv/ci)'


def test_unrestricted_checks_nothing() -> None:
    body = create({"Privileged": True, "Binds": ["/:/h"]})
    allowed("container.create", body, profile="unrestricted")
    assert facts_needed("unrestricted", "container.exec", {"name": "x"}, {}, None, SETTINGS) == []


def test_unknown_profiles_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        check_request("strict", "container.create", {}, {}, None, SETTINGS, {})


def test_operations_are_route_operations() -> None:
    assert PROFILES == ("unrestricted", "baseline", "restricted")
    assert inspected_operations() <= OPERATIONS
    names = [check.name for check in CHECKS]
    assert len(names) == len(set(names))
    assert {check.profile for check in CHECKS} == {"baseline", "restricted"}


def test_every_check_is_documented() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "policy.md").read_text()
    for check in CHECKS:
        assert f"`{check.name}`" in docs, check.name


def test_operations_outside_the_profiles_pass() -> None:
    allowed("container.list", None)
    allowed("container.start", None)
    allowed("image.build", None)


# --- Go decoding seen through the checks ----------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"Image": "busybox", "HostConfig": {"privileged": true}}',
        b'{"Image": "busybox", "hostconfig": {"PRIVILEGED": true}}',
        b'{"Image": "busybox", "HostConfig": {"\\u0050rivileged": true}}',
        b'{"Image": "busybox", "privileged": true}',
        b'{"Image": "busybox", "HostConfig": {}, "Privileged": true}',
    ],
)
def test_key_spellings_do_not_hide_privileged(raw: bytes) -> None:
    assert refused("container.create", raw).check == "privileged"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"Image": "x", "HostConfig": {"Bindſ": ["/:/h"]}}'.encode(), "HostConfig.Binds"),
        ('{"Image": "x", "HostConfig": {"CapAdd": ["\u017fys_admin"]}}'.encode(), "CapAdd"),
        ('{"Image": "x", "HostConfig": {"ſecurityopt": ["seccomp=unconfined"]}}'.encode(),
         "SecurityOpt"),
        ('{"Image": "x", "HostConfig": {"Networ\u212aMode": "host"}}'.encode(), "NetworkMode"),
    ],
)  # fmt: skip
def test_folded_unicode_keys_reach_their_fields(raw: bytes, field: str) -> None:
    assert field in refused("container.create", raw).field


def test_duplicates_never_reach_the_checks() -> None:
    with pytest.raises(ProtocolError, match="duplicate JSON key"):
        judge("container.create", b'{"HostConfig": {"Privileged": false, "privileged": true}}')
    with pytest.raises(ProtocolError, match="duplicate JSON key"):
        judge("container.create", b'{"HostConfig": {"Privileged": true}, "HostConfig": {}}')


@pytest.mark.parametrize(
    "body",
    [
        create({"Privileged": "true"}),
        create({"Privileged": 1}),
        create({"Binds": "/:/h"}),
        create({"Mounts": ["/:/h"]}),
        {"Image": "busybox", "HostConfig": "privileged"},
        ["not", "an", "object"],
        create({"Sysctls": {"kernel.shmmax": 1}}),
    ],
)
def test_bodies_dockerd_cannot_decode_are_protocol_errors(body: object) -> None:
    with pytest.raises(ProtocolError) as caught:
        judge("container.create", body)
    assert caught.value.status == 400


def test_cap_add_may_be_a_string_as_strslice_allows() -> None:
    assert "CAP_SYS_ADMIN" in refused("container.create", create({"CapAdd": "SYS_ADMIN"})).reason
    allowed("container.create", create({"CapAdd": "CHOWN"}))


# Dangerous settings, each a (HostConfig key, value) pair; spelled at random below.
DANGEROUS: list[tuple[str, object]] = [
    ("Privileged", True),
    ("Binds", ["/etc:/x"]),
    ("Mounts", [{"Type": "bind", "Source": "/", "Target": "/h"}]),
    ("CapAdd", ["SYS_ADMIN"]),
    ("PidMode", "host"),
    ("NetworkMode", "host"),
    ("Devices", [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]),
    ("SecurityOpt", ["seccomp=unconfined"]),
    ("Sysctls", {"kernel.sem": "1"}),
    ("CgroupParent", "/"),
    ("MaskedPaths", []),
]


def respell(name: str, rnd: random.Random) -> str:
    """A spelling of ``name`` that Go's encoding/json matches to the same field."""
    out = []
    for char in name:
        options = [char, char.lower(), char.upper()]
        if char in "sS":
            options.append("\u017f")
        if char in "kK":
            options.append("\u212a")
        out.append(rnd.choice(options))
    return "".join(out)


def escape_key(name: str, rnd: random.Random) -> str:
    return "".join(f"\\u{ord(c):04x}" if rnd.random() < 0.3 else c for c in name)


@given(
    setting=st.sampled_from(DANGEROUS),
    where=st.sampled_from(["inner", "top", "both"]),
    rnd=st.randoms(use_true_random=False),
)
def test_no_spelling_or_placement_hides_a_dangerous_setting(
    setting: tuple[str, object], where: str, rnd: random.Random
) -> None:
    name, value = setting
    key = escape_key(respell(name, rnd), rnd)
    member = f'"{key}": {json.dumps(value)}'
    inner = member if where in ("inner", "both") else ""
    top = member if where in ("top", "both") else ""
    host_config = escape_key(respell("HostConfig", rnd), rnd)
    raw = f'{{"Image": "busybox", "{host_config}": {{{inner}}}{", " if top else ""}{top}}}'
    violation = refused("container.create", raw.encode())
    assert violation.field.endswith(name) or name in violation.field


# --- baseline: privileged and namespaces ----------------------------------------------------


def test_privileged() -> None:
    assert refused("container.create", create({"Privileged": True})).field == (
        "HostConfig.Privileged"
    )
    assert refused("container.create", create(Privileged=True)).field == "(top level) Privileged"
    allowed("container.create", create({"Privileged": False}, Privileged=False))
    allowed("container.create", create({"Privileged": None}))


@pytest.mark.parametrize(
    "field", ["NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode"]
)
@pytest.mark.parametrize("mode", ["host", "HOST", "container:db", "container:"])
def test_host_and_container_namespaces(field: str, mode: str) -> None:
    violation = refused("container.create", create({field: mode}))
    assert violation.check == "host-namespaces"
    assert violation.field == f"HostConfig.{field}"
    assert refused("container.create", create(**{field: mode})).field == f"(top level) {field}"


@pytest.mark.parametrize(
    ("field", "mode"),
    [
        ("NetworkMode", "bridge"),
        ("NetworkMode", "default"),
        ("NetworkMode", "none"),
        ("NetworkMode", "project_default"),
        ("NetworkMode", "hostnet"),
        ("IpcMode", "private"),
        ("IpcMode", "shareable"),
        ("CgroupnsMode", "private"),
        ("PidMode", ""),
    ],
)
def test_private_namespaces_pass(field: str, mode: str) -> None:
    allowed("container.create", create({field: mode}))


def test_joining_another_containers_cgroup() -> None:
    assert refused("container.create", create({"Cgroup": "container:db"})).field == (
        "HostConfig.Cgroup"
    )
    allowed("container.create", create({"Cgroup": ""}))


# --- baseline: host paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("/:/h", 'mounts host path "/" (allowed: /srv/ci)'),
        ("/etc:/etc:ro", 'mounts host path "/etc" (allowed: /srv/ci)'),
        ("/srv/ci/../../etc:/x", 'mounts host path "/srv/ci/../../etc" (= "/etc")'),
        ("//etc/:/x", '(= "/etc")'),
        ("/srv/ci-other:/x", '"/srv/ci-other"'),
        ("/srv:/x", '"/srv"'),
        ("/var/run/docker.sock:/var/run/docker.sock", "the Docker socket"),
        ("/run/docker.sock:/s", "the Docker socket"),
        ("/var/run:/r", '"/var/run"'),
    ],
)
def test_bind_sources_outside_the_allow_list(spec: str, reason: str) -> None:
    violation = refused("container.create", create({"Binds": [spec]}))
    assert violation.field == "HostConfig.Binds" and reason in violation.reason


@pytest.mark.parametrize(
    "spec",
    [
        "/srv/ci:/ci",
        "/srv/ci/work:/work:rw",
        "//srv//ci/./x/:/x",
        "/data",
        "named:/data",
        "v:/d:ro",
    ],
)
def test_binds_under_allowed_paths_and_volumes_pass(spec: str) -> None:
    allowed("container.create", create({"Binds": [spec]}))


@pytest.mark.parametrize("spec", ["", ":/x", "/dst:ro", "/a:/b:ro:z"])
def test_malformed_binds_are_refused(spec: str) -> None:
    assert "not a valid bind" in refused("container.create", create({"Binds": [spec]})).reason


@pytest.mark.parametrize(
    "spec", ["/:/h", "/var:/v", "/var/run:/r", "/run:/r", "/var/run/docker.sock:/s"]
)
def test_the_docker_socket_is_never_mountable(spec: str) -> None:
    everything = ProfileSettings(allowed_host_paths=("/",))
    violation = refused("container.create", create({"Binds": [spec]}), settings=everything)
    assert "Docker socket" in violation.reason
    allowed("container.create", create({"Binds": ["/etc:/etc"]}), settings=everything)


def test_the_gateways_upstream_socket_is_protected_too() -> None:
    settings = ProfileSettings(
        allowed_host_paths=("/srv",),
        docker_socket_paths=("/var/run/docker.sock", "/srv/docker/docker.sock"),
    )
    violation = refused(
        "container.create", create({"Binds": ["/srv/docker:/d"]}), settings=settings
    )
    assert "/srv/docker/docker.sock (never allowed)" in violation.reason
    allowed("container.create", create({"Binds": ["/srv/data:/d"]}), settings=settings)


BIND_VOLUME = {"Driver": "local", "Options": {"type": "none", "o": "bind", "device": "/"}}
DEVICE_VOLUME = {"Driver": "local", "Options": {"type": "ext4", "device": "/dev/sda1"}}
TMPFS_VOLUME = {
    "Driver": "local",
    "Options": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,nodev,nosuid"},
}
PLAIN_VOLUME = {"Driver": "local", "Options": None}


@pytest.mark.parametrize("options", [BIND_VOLUME, DEVICE_VOLUME])
def test_named_volumes_created_with_host_options_are_refused(options: dict[str, object]) -> None:
    daemon = {volume("data"): options}
    violation = refused("container.create", create({"Binds": ["data:/d"]}), daemon=daemon)
    assert violation.reason.startswith('uses volume "data", which ')


@pytest.mark.parametrize(
    "options",
    [
        PLAIN_VOLUME,
        TMPFS_VOLUME,
        {"Driver": "local", "Options": {"type": "none", "o": "bind", "device": "/srv/ci/x"}},
        {"Driver": "some-plugin", "Options": {"mountpoint": "/"}},
    ],
)
def test_named_volumes_without_host_options_pass(options: dict[str, object]) -> None:
    allowed("container.create", create({"Binds": ["data:/d"]}), daemon={volume("data"): options})


def test_a_volume_that_does_not_exist_yet_passes() -> None:
    allowed("container.create", create({"Binds": ["new:/d"]}))


def test_a_volume_bound_under_an_allowed_path_is_still_looked_up() -> None:
    # the lookups follow the role's settings: with the defaults (no allowed host path) the bind
    # options alone decided, the volume was never looked up, and the request was refused
    mount = {
        "Type": "volume",
        "Source": "data",
        "Target": "/d",
        "VolumeOptions": {
            "DriverConfig": {
                "Name": "local",
                "Options": {"type": "none", "o": "bind", "device": "/srv/ci/data"},
            }
        },
    }
    allowed("container.create", create({"Mounts": [mount]}))


def test_a_fact_the_caller_did_not_fetch_is_a_refusal() -> None:
    body = decode_body(json.dumps(create({"Binds": ["data:/d"]})).encode())
    assert facts_needed("baseline", "container.create", {}, {}, body, SETTINGS) == [
        volume("data"),
        image("busybox"),
    ]
    violation = check_request("baseline", "container.create", {}, {}, body, SETTINGS, {})
    assert violation is not None
    assert violation.reason == 'could not be checked: the daemon was not asked about volume "data"'


@pytest.mark.parametrize(
    ("mount", "reason"),
    [
        ({"Type": "bind", "Source": "/", "Target": "/h"}, 'binds host path "/"'),
        ({"Type": "BIND", "Source": "/etc", "Target": "/h"}, 'binds host path "/etc"'),
        ({"Type": "bind", "Source": "etc", "Target": "/h"}, "not absolute"),
        ({"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/s"}, "Docker socket"),
        (
            {"Type": "volume", "Target": "/h", "VolumeOptions": {"DriverConfig": {
                "Name": "local", "Options": {"type": "none", "o": "bind", "device": "/"}}}},
            'creates a volume that binds host path "/"',
        ),
        (
            {"Type": "volume", "Target": "/h", "VolumeOptions": {"DriverConfig": {
                "Options": {"type": "none", "o": "rbind,ro", "device": "/etc"}}}},
            "binds host path",
        ),
        (
            {"Type": "volume", "Target": "/h", "VolumeOptions": {"DriverConfig": {
                "Name": "local", "Options": {"Type": "ext4", "Device": "/dev/sda1"}}}},
            'mounts device "/dev/sda1"',
        ),
        (
            {"Type": "volume", "Target": "/h", "VolumeOptions": {"DriverConfig": {
                "Options": {"type": "overlay", "device": "overlay", "o": "lowerdir=/etc"}}}},
            'type "overlay"',
        ),
        (
            {"Type": "volume", "Target": "/h", "VolumeOptions": {"DriverConfig": {
                "Options": {"type": "nfs", "device": ":/export", "o": "addr=10.0.0.1"}}}},
            'type "nfs"',
        ),
        (
            {"Type": "volume", "Target": "/h", "VolumeOptions": {"DriverConfig": {
                "Name": "local-persist", "Options": {"mountpoint": "/"}}}},
            'volume plugin "local-persist"',
        ),
        ({"Type": "npipe", "Source": "\\\\.\\pipe\\docker_engine", "Target": "/p"}, "named-pipe"),
        ({"Type": "cluster", "Source": "csi", "Target": "/c"}, "cluster (CSI)"),
        ({"Type": "weird", "Target": "/c"}, 'type "weird"'),
        ({"Target": "/c"}, 'type ""'),
    ],
)  # fmt: skip
def test_mounts_that_reach_the_host(mount: dict[str, object], reason: str) -> None:
    violation = refused("container.create", create({"Mounts": [mount]}))
    assert violation.field == "HostConfig.Mounts[0]" and reason in violation.reason


@pytest.mark.parametrize(
    "mount",
    [
        {"Type": "bind", "Source": "/srv/ci/cache", "Target": "/cache"},
        {"Type": "volume", "Source": "data", "Target": "/data"},
        {"Type": "volume", "Target": "/anon"},
        {"Type": "volume", "Target": "/t", "VolumeOptions": {"DriverConfig": {
            "Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs",
                                         "o": "size=64m,nodev,nosuid"}}}},
        {"Type": "volume", "Target": "/b", "VolumeOptions": {"DriverConfig": {
            "Options": {"type": "none", "o": "bind", "device": "/srv/ci/b"}}}},
        {"Type": "volume", "Target": "/p", "VolumeOptions": {"DriverConfig": {"Name": "plugin"}}},
        {"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 1024}},
        {"Type": "image", "Source": "busybox", "Target": "/img"},
    ],
)  # fmt: skip
def test_mounts_that_stay_off_the_host_pass(mount: dict[str, object]) -> None:
    allowed("container.create", create({"Mounts": [mount]}))


def test_mounts_of_existing_volumes_with_host_options() -> None:
    body = create({"Mounts": [{"Type": "volume", "Source": "data", "Target": "/d"}]})
    assert (
        "binds host path"
        in refused("container.create", body, daemon={volume("data"): BIND_VOLUME}).reason
    )
    allowed("container.create", body, daemon={volume("data"): PLAIN_VOLUME})


def test_top_level_mounts_and_binds_count() -> None:
    mounts = [{"Type": "bind", "Source": "/", "Target": "/h"}]
    assert refused("container.create", create(Mounts=mounts)).field == "(top level) Mounts[0]"
    assert refused("container.create", create(Binds=["/:/h"])).field == "(top level) Binds"


HOSTILE = {
    "HostConfig": {"Privileged": False},
    "Mounts": [{"Type": "bind", "Source": "/", "Destination": "/h", "RW": True}],
}
NAMED = {
    "HostConfig": {},
    "Mounts": [{"Type": "volume", "Name": "data", "Driver": "local", "Destination": "/d"}],
}
HARMLESS = {
    "HostConfig": {"Privileged": False, "CgroupnsMode": "host", "CapAdd": ["CHOWN"]},
    "Mounts": [
        {"Type": "bind", "Source": "/srv/ci/x", "Destination": "/x"},
        {"Type": "volume", "Name": "v", "Driver": "local", "Destination": "/v"},
        {"Type": "volume", "Name": "p", "Driver": "plugin", "Destination": "/p"},
        {"Type": "tmpfs", "Destination": "/t"},
    ],
}


def test_volumes_from_a_container_with_host_mounts() -> None:
    body = create({"VolumesFrom": ["admin:ro"]})
    violation = refused("container.create", body, daemon={container("admin"): HOSTILE})
    assert violation.field == "HostConfig.VolumesFrom"
    assert violation.reason.startswith('takes the volumes of container "admin", which mounts')
    daemon = {container("admin"): NAMED, volume("data"): BIND_VOLUME}
    assert "volume" in refused("container.create", body, daemon=daemon).reason


def test_volumes_from_a_name_with_its_leading_slash() -> None:
    """dockerd accepts "/admin" for "admin"; the lookup asks for "admin" (the daemon's router
    would redirect /containers//admin/json) and must land on the container so named."""
    body = create({"VolumesFrom": ["/admin:ro"]})
    hostile = {**HOSTILE, "Name": "/admin"}
    assert facts_needed(
        "baseline", "container.create", {}, {}, decode_body(json.dumps(body).encode()), SETTINGS
    ) == [container("admin"), image("busybox")]
    violation = refused("container.create", body, daemon={container("admin"): hostile})
    assert violation.reason.startswith('takes the volumes of container "/admin", which mounts')
    allowed(
        "container.create",
        create({"VolumesFrom": ["/web"]}),
        daemon={container("web"): {**HARMLESS, "Name": "/web"}},
    )
    allowed("container.create", create({"VolumesFrom": ["/ghost"]}))


def test_volumes_from_a_slash_name_that_the_lookup_resolves_as_an_id_is_refused() -> None:
    """``/<id of B>`` is the container *named* so (which may be a renamed hostile one), while
    the lookup of ``<id of B>`` finds B by its ID first: the answer does not speak for it."""
    full_id = "ab" * 32
    body = create({"VolumesFrom": [f"/{full_id}"]})
    harmless_by_id = {**HARMLESS, "Id": full_id, "Name": "/innocent"}
    violation = refused("container.create", body, daemon={container(full_id): harmless_by_id})
    assert violation.field == "HostConfig.VolumesFrom"
    assert "refused as ambiguous" in violation.reason


def test_volumes_from_a_harmless_or_missing_container_pass() -> None:
    allowed(
        "container.create", create({"VolumesFrom": ["web"]}), daemon={container("web"): HARMLESS}
    )
    allowed("container.create", create({"VolumesFrom": ["ghost"]}))
    allowed("container.create", create({"VolumesFrom": [""]}))


# --- baseline: capabilities, devices, security options ----------------------------------------


@pytest.mark.parametrize(
    "name", ["SYS_ADMIN", "CAP_SYS_ADMIN", "sys_admin", "Cap_Sys_Admin", "\u017fys_admin",
             "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH", "BPF"],
)  # fmt: skip
def test_capabilities_beyond_the_default_set(name: str) -> None:
    violation = refused("container.create", create({"CapAdd": [name]}))
    assert violation.check == "capabilities" and "which is not in Docker's default set" in (
        violation.reason
    )


@pytest.mark.parametrize("name", ["ALL", "all", "All"])
def test_adding_all_capabilities(name: str) -> None:
    assert "adds ALL capabilities" in refused("container.create", create({"CapAdd": [name]})).reason


@pytest.mark.parametrize(
    "name", ["CHOWN", "CAP_CHOWN", "chown", "NET_RAW", "net_bind_service", "KILL"]
)
def test_default_capabilities_may_be_added(name: str) -> None:
    allowed("container.create", create({"CapAdd": [name], "CapDrop": ["ALL"]}))


def test_the_api_1_40_capabilities_list() -> None:
    violation = refused("container.create", create({"Capabilities": ["CAP_SYS_ADMIN"]}))
    assert violation.field == "HostConfig.Capabilities"
    allowed("container.create", create({"Capabilities": ["CAP_CHOWN"]}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Devices", [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]),
        ("DeviceCgroupRules", ["b *:* rwm"]),
        ("DeviceRequests", [{"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}]),
    ],
)  # fmt: skip
def test_devices(field: str, value: object) -> None:
    assert refused("container.create", create({field: value})).field == f"HostConfig.{field}"
    assert refused("container.update", {field: value}).field == field
    allowed("container.create", create({field: []}))
    allowed("container.create", create({field: None}))


@pytest.mark.parametrize(
    ("option", "reason"),
    [
        ("seccomp=unconfined", "disables seccomp"),
        ("seccomp:unconfined", "disables seccomp"),
        ('seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', "custom seccomp profile"),
        ("seccomp=/etc/profile.json", "custom seccomp profile"),
        ("seccomp=default", "custom seccomp profile"),
        ("apparmor=unconfined", "disables AppArmor"),
        ("apparmor:unconfined", "disables AppArmor"),
        ("label=disable", "disables SELinux labeling"),
        ("label:disable", "disables SELinux labeling"),
        ("disable", "disables SELinux labeling"),
        ("label=type:spc_t", "SELinux type spc_t"),
        ("label=type:unconfined_t", "SELinux type unconfined_t"),
        ("label=user:system_u", "SELinux user"),
        ("label=role:system_r", "SELinux role"),
        ("systempaths=unconfined", "unmasks /proc"),
        ("writable-cgroups=true", "cgroup filesystem writable"),
        ("writable-cgroups=1", "cgroup filesystem writable"),
        ("writable-cgroups", "not a security option dockerd accepts"),
        ("no-new-privileges=maybe", "not a security option dockerd accepts"),
        ("privileged=true", "not a security option dockward knows"),
    ],
)
def test_security_options_that_unconfine(option: str, reason: str) -> None:
    violation = refused("container.create", create({"SecurityOpt": [option]}))
    assert violation.field == "HostConfig.SecurityOpt"
    assert violation.reason.startswith(f'holds "{option}", which ') and reason in violation.reason


@pytest.mark.parametrize(
    "option",
    [
        "seccomp=builtin",
        "seccomp=",
        "apparmor=docker-default",
        "apparmor:my-profile",
        "label=level:s0:c100,c200",
        "label=type:container_t",
        "label:type:container_init_t",
        "no-new-privileges",
        "no-new-privileges=false",
        "no-new-privileges:true",
        "writable-cgroups=false",
    ],
)
def test_security_options_that_confine_pass(option: str) -> None:
    allowed("container.create", create({"SecurityOpt": [option]}))


@pytest.mark.parametrize("field", ["MaskedPaths", "ReadonlyPaths"])
def test_system_paths_lists_replace_the_defaults(field: str) -> None:
    assert "drops all of it" in refused("container.create", create({field: []})).reason
    assert "drops all of it" in refused("container.create", create({field: ["/foo"]})).reason
    defaults = DEFAULT_MASKED_PATHS if field == "MaskedPaths" else DEFAULT_READONLY_PATHS
    partial = refused("container.create", create({field: list(defaults[1:])}))
    assert partial.reason.endswith(f"drops {defaults[0]}")
    allowed("container.create", create({field: None}))
    allowed("container.create", create({field: [*defaults, "/proc/extra"]}))


def test_cgroup_parent() -> None:
    assert refused("container.create", create({"CgroupParent": "/"})).field == (
        "HostConfig.CgroupParent"
    )
    assert refused("container.update", {"CgroupParent": "system.slice"}).field == "CgroupParent"
    assert refused("image.build", query={"cgroupparent": ["/"]}).field == "query cgroupparent"
    allowed("container.create", create({"CgroupParent": ""}))
    allowed("image.build", query={"cgroupparent": [""]})


@pytest.mark.parametrize(
    "name", ["kernel.sem", "kernel.shmmax", "net.ipv4.ip_forward", "net/ipv4/ip_forward",
             "net.ipv4.conf.all.route_localnet", "fs.mqueue.msg_max", "kernel.core_pattern"],
)  # fmt: skip
def test_sysctls_outside_the_safe_set(name: str) -> None:
    violation = refused("container.create", create({"Sysctls": {name: "1"}}))
    assert violation.reason == f'sets "{name}", which is not a safe namespaced sysctl'


@pytest.mark.parametrize(
    "name", ["net.ipv4.ping_group_range", "net/ipv4/tcp_syncookies", "kernel.shm_rmid_forced",
             "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_keepalive_probes"],
)  # fmt: skip
def test_safe_sysctls_pass(name: str) -> None:
    allowed("container.create", create({"Sysctls": {name: "1"}}))


def test_runtimes() -> None:
    assert refused("container.create", create({"Runtime": "nvidia"})).reason == (
        'is "nvidia" (allowed: runc)'
    )
    allowed("container.create", create({"Runtime": "runc"}))
    allowed("container.create", create({"Runtime": ""}))
    gvisor = ProfileSettings(allowed_runtimes=("runc", "runsc"))
    allowed("container.create", create({"Runtime": "runsc"}), settings=gvisor)
    refused("container.create", create({"Runtime": "io.containerd.runc.v2"}), settings=gvisor)


@pytest.mark.parametrize(
    "directory", ["/proc/self/fd/7", "/proc/self/fd/7/../../..", "/proc", "proc/1/cwd", "//proc/x"]
)
def test_working_directories_under_proc(directory: str) -> None:
    assert "CVE-2024-21626" in refused("container.create", create(WorkingDir=directory)).reason
    params = {"name": "web"}
    violation = refused("container.exec", {"Cmd": ["sh"], "WorkingDir": directory}, params=params)
    assert violation.field == "WorkingDir"


def test_ordinary_working_directories_pass() -> None:
    allowed("container.create", create(WorkingDir="/work"))
    allowed("container.create", create(WorkingDir="/processing"))


# --- baseline: start, checkpoints, exec, archive, attach ------------------------------------


def test_a_host_config_at_start_is_refused() -> None:
    for body in ({}, {"Privileged": True}, {"Binds": ["/srv/ci:/x"]}):
        assert refused("container.start", body, params={"name": "x"}).check == "start-host-config"
    allowed("container.start", None, params={"name": "x"})


def test_checkpoint_directories() -> None:
    assert refused("container.start", query={"checkpoint-dir": ["/etc"]}).field == (
        "query checkpoint-dir"
    )
    assert refused("checkpoint.create", {"CheckpointID": "c", "CheckpointDir": "/etc"}).field == (
        "CheckpointDir"
    )
    allowed("checkpoint.create", {"CheckpointID": "c"})
    allowed("container.start", query={"checkpoint": ["c"]})


def test_privileged_exec() -> None:
    params = {"name": "web"}
    assert refused("container.exec", {"Cmd": ["sh"], "Privileged": True}, params=params).field == (
        "Privileged"
    )
    refused("container.exec", b'{"Cmd": ["sh"], "privileged": true}', params=params)
    allowed("container.exec", {"Cmd": ["sh"], "Privileged": False}, params=params)


@pytest.mark.parametrize(
    ("inspect", "problem"),
    [
        ({"HostConfig": {"Privileged": True}}, "is privileged"),
        ({"HostConfig": {"PidMode": "host"}}, "shares the host's PID namespace"),
        ({"HostConfig": {"NetworkMode": "host"}}, "shares the host's network namespace"),
        ({"HostConfig": {"CapAdd": ["SYS_ADMIN"]}}, "CAP_SYS_ADMIN"),
        ({"HostConfig": {"Devices": [{"PathOnHost": "/dev/sda"}]}}, "has host devices"),
        ({"HostConfig": {"DeviceCgroupRules": ["b *:* rwm"]}}, "may open host devices"),
        ({"HostConfig": {"DeviceRequests": [{"Driver": "nvidia"}]}}, "from a device driver"),
        ({"HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}}, '"seccomp=unconfined"'),
        ({"HostConfig": {"SecurityOpt": ["apparmor:unconfined"]}}, '"apparmor:unconfined"'),
        ({"HostConfig": {"SecurityOpt": ["label=disable"]}}, '"label=disable"'),
        ({"HostConfig": {"SecurityOpt": ["writable-cgroups=true"]}}, "writable-cgroups"),
        ({"HostConfig": {"ReadonlyPaths": []}}, "/proc/sys, /proc/sysrq-trigger no longer"),
        ({"HostConfig": {"MaskedPaths": ["/proc/kcore"]}}, "/proc/keys, /proc/sched_debug"),
        (HOSTILE, 'mounts host path "/"'),
        (
            {"Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/s"}]},
            "the Docker socket",
        ),
    ],
)
@pytest.mark.parametrize(
    ("operation", "query", "action"),
    [
        ("container.exec", {}, "exec into it is refused"),
        ("container.archive.write", {"path": ["/"]}, "writing files into it is refused"),
        ("container.attach", {"stdin": ["1"], "stream": ["1"]}, "attaching to its input"),
        ("container.attach_ws", {"stdin": ["true"]}, "attaching to its input"),
    ],
)
def test_reaching_into_a_container_that_reaches_the_host(
    inspect: dict[str, object],
    problem: str,
    operation: str,
    query: dict[str, list[str]],
    action: str,
) -> None:
    body = {"Cmd": ["sh"]} if operation == "container.exec" else None
    violation = refused(
        operation, body, params={"name": "admin"}, query=query, daemon={container("admin"): inspect}
    )
    assert violation.field == 'container "admin"'
    assert problem in violation.reason and action in violation.reason


# What dockerd 20.10 reports for a container made with default settings: confined.
DOCKERD_20_10_DEFAULTS = {
    "HostConfig": {
        "Privileged": False,
        "CgroupnsMode": "host",
        "SecurityOpt": None,
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MaskedPaths": [
            "/proc/asound",
            "/proc/acpi",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/sys/firmware",
        ],
        "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
    "Mounts": [],
}


@pytest.mark.parametrize(
    "host_config",
    [
        {},
        {"SecurityOpt": ["no-new-privileges", "seccomp={}", "label=level:s0", "apparmor=x"]},
        {"SecurityOpt": ["writable-cgroups=false"]},
        {"MaskedPaths": None, "ReadonlyPaths": None},
    ],
    ids=["defaults", "confining-options", "cgroups-read-only", "lists-unknown"],
)
def test_reaching_into_a_confined_container_passes(host_config: dict[str, object]) -> None:
    defaults: dict[str, object] = DOCKERD_20_10_DEFAULTS["HostConfig"]  # type: ignore[assignment]
    inspect = {"HostConfig": {**defaults, **host_config}}
    for operation, query in (
        ("container.exec", {}),
        ("container.archive.write", {"path": ["/"]}),
        ("container.attach", {"stdin": ["1"]}),
    ):
        body = {"Cmd": ["sh"]} if operation == "container.exec" else None
        allowed(
            operation,
            body,
            params={"name": "web"},
            query=query,
            daemon={container("web"): inspect},
        )


def test_reaching_into_a_container_through_a_host_volume_takes_two_lookups() -> None:
    params = {"name": "admin"}
    body = decode_body(b'{"Cmd": ["sh"]}')
    facts: dict[FactQuery, Mapping[str, object] | None] = {}
    assert facts_needed("baseline", "container.exec", params, {}, body, SETTINGS, facts) == [
        container("admin")
    ]
    facts[container("admin")] = NAMED
    assert facts_needed("baseline", "container.exec", params, {}, body, SETTINGS, facts) == [
        volume("data")
    ]
    facts[volume("data")] = BIND_VOLUME
    assert facts_needed("baseline", "container.exec", params, {}, body, SETTINGS, facts) == []
    violation = check_request("baseline", "container.exec", params, {}, body, SETTINGS, facts)
    assert violation is not None and 'uses volume "data", which binds host path "/"' in (
        violation.reason
    )


# The deepest chain of lookups: an exec, the container it runs in, that container's volume.
EXEC_CHAIN: Daemon = {
    FactQuery("exec", "e1"): {"ContainerID": "admin", "ProcessConfig": {"privileged": False}},
    container("admin"): NAMED,
    volume("data"): BIND_VOLUME,
}


def test_the_deepest_lookup_chain_takes_three_rounds_within_the_limit() -> None:
    params = {"name": "e1"}
    for rounds in range(3, MAX_FACT_ROUNDS + 1):
        facts, missing = gather_facts("container.exec.start", params, EXEC_CHAIN, rounds=rounds)
        assert missing == [] and set(facts) == set(EXEC_CHAIN)
    violation = refused("container.exec.start", params=params, daemon=EXEC_CHAIN)
    assert violation.check == "exec-start"
    assert 'uses volume "data", which binds host path "/"' in violation.reason


def test_a_lookup_still_missing_when_the_rounds_run_out_refuses() -> None:
    params = {"name": "e1"}
    facts, missing = gather_facts("container.exec.start", params, EXEC_CHAIN, rounds=2)
    assert missing == [volume("data")]
    violation = check_request("baseline", "container.exec.start", params, {}, None, SETTINGS, facts)
    assert violation is not None and violation.reason == (
        'could not be checked: the daemon was not asked about volume "data"'
    )


def test_reaching_into_ordinary_containers_passes() -> None:
    daemon = {container("web"): HARMLESS}
    params = {"name": "web"}
    allowed("container.exec", {"Cmd": ["sh"]}, params=params, daemon=daemon)
    allowed("container.archive.write", None, params=params, daemon=daemon)
    allowed("container.attach", None, params=params, query={"stdin": ["1"]}, daemon=daemon)
    allowed("container.exec", {"Cmd": ["sh"]}, params={"name": "ghost"})  # the daemon's 404


def test_attach_without_stdin_needs_no_lookup() -> None:
    for stdin in ([], ["0"], ["false"], ["no"], [""]):
        query = {"stdin": stdin, "stdout": ["1"]}
        assert (
            facts_needed("baseline", "container.attach", {"name": "a"}, query, None, SETTINGS) == []
        )
    assert facts_needed(
        "baseline", "container.attach", {"name": "a"}, {"stdin": ["off"]}, None, SETTINGS
    )


# --- baseline: volumes, plugins, build, pull, services ----------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"Name": "v", "Driver": "local",
          "DriverOpts": {"type": "none", "o": "bind", "device": "/"}},
         'binds host path "/" (allowed: /srv/ci)'),
        ({"Name": "v", "DriverOpts": {"type": "none", "o": "bind", "device": "/var/run"}},
         "/var/run"),
        ({"Name": "v", "DriverOpts": {"Type": "none", "O": "BIND", "Device": "/etc"}}, "/etc"),
        ({"Name": "v", "DriverOpts": {"type": "ext4", "device": "/dev/sda1"}}, "/dev/sda1"),
        ({"Name": "v", "DriverOpts": {"type": "btrfs", "device": "/dev/sdb"}}, "btrfs"),
        ({"Name": "v", "DriverOpts": {"type": "cifs", "device": "//10.0.0.1/share"}}, "cifs"),
        ({"Name": "v", "Driver": "local-persist", "DriverOpts": {"mountpoint": "/"}},
         'volume plugin "local-persist"'),
        ({"Name": "v", "ClusterVolumeSpec": {}}, "cluster (CSI)"),
    ],
)  # fmt: skip
def test_volume_create_options_that_reach_the_host(body: dict[str, object], reason: str) -> None:
    assert reason in refused("volume.create", body).reason


@pytest.mark.parametrize(
    "body",
    [
        {"Name": "v"},
        {"Name": "v", "Driver": "local", "DriverOpts": {}},
        {"Name": "v", "DriverOpts": {"type": "tmpfs", "device": "tmpfs",
                                     "o": "size=1m,uid=1,nodev,nosuid"}},
        {"Name": "v", "DriverOpts": {"type": "none", "o": "bind", "device": "/srv/ci/cache"}},
        {"Name": "v", "DriverOpts": {"size": "10G"}},
        {"Name": "v", "Driver": "some-plugin"},
    ],
)  # fmt: skip
def test_volume_create_without_host_options_passes(body: dict[str, object]) -> None:
    allowed("volume.create", body)


PRIVILEGES = [
    {"Name": "network", "Description": "", "Value": ["host"]},
    {"Name": "mount", "Description": "", "Value": ["/"]},
]


@pytest.mark.parametrize("operation", ["plugin.pull", "plugin.upgrade"])
def test_plugins_asking_for_privileges(operation: str) -> None:
    violation = refused(operation, PRIVILEGES, query={"remote": ["vieux/sshfs"]})
    assert violation.field == "privileges" and "network, mount" in violation.reason
    allowed(operation, [], query={"remote": ["x"]})
    allowed(operation, None)
    with pytest.raises(ProtocolError):
        judge(operation, {"Name": "network"})


@pytest.mark.parametrize("operation", ["plugin.set", "plugin.create"])
def test_plugin_settings_and_archives_are_refused(operation: str) -> None:
    assert refused(operation, None, params={"name": "p"}).check == "plugin-configuration"
    allowed("plugin.enable", None, params={"name": "p"})


@pytest.mark.parametrize(
    ("values", "refuse"),
    [
        (["host"], True),
        (["HOST"], True),
        (["container:db"], True),
        (["bridge", "host"], False),  # dockerd reads the first value
        (["host", "bridge"], True),
        (["bridge"], False),
        (["none"], False),
        (["default"], False),
    ],
)
def test_build_network_mode(values: list[str], refuse: bool) -> None:
    if refuse:
        assert refused("image.build", query={"networkmode": values}).field == "query networkmode"
    else:
        allowed("image.build", query={"networkmode": values})


@pytest.mark.parametrize(
    "remote",
    ["https://evil.example/context.tar", "http://169.254.169.254/", "git://github.com/x/y",
     "github.com/x/y", "git@github.com:x/y.git", "anything"],
)  # fmt: skip
def test_build_remote_contexts(remote: str) -> None:
    assert refused("image.build", query={"remote": [remote]}).field == "query remote"


def test_build_local_and_session_contexts_pass() -> None:
    allowed("image.build", query={"remote": ["client-session"], "version": ["2"]})
    allowed("image.build", query={"remote": [""], "t": ["app"]})
    allowed("image.build", query={"extrahosts": ["db:10.0.0.2", "gw:host-gateway"]})


def test_build_security_options() -> None:
    violation = refused("image.build", query={"securityopt": ["label=disable"]})
    assert violation.field == "query securityopt"
    allowed("image.build", query={"securityopt": ["no-new-privileges"]})


def test_image_import_from_a_url() -> None:
    query = {"fromSrc": ["http://169.254.169.254/latest"], "repo": ["x"]}
    assert refused("image.pull", query=query).field == "query fromSrc"
    allowed("image.pull", query={"fromSrc": ["-"], "repo": ["x"]})
    allowed("image.pull", query={"fromImage": ["busybox"], "tag": ["latest"]})


@pytest.mark.parametrize(
    ("spec", "template", "field"),
    [
        ({"Mounts": [{"Type": "bind", "Source": "/", "Target": "/h"}]}, {},
         "TaskTemplate.ContainerSpec.Mounts[0]"),
        ({"CapabilityAdd": ["CAP_SYS_ADMIN"]}, {}, "TaskTemplate.ContainerSpec.CapabilityAdd"),
        ({"Sysctls": {"kernel.sem": "1"}}, {}, "TaskTemplate.ContainerSpec.Sysctls"),
        ({"Privileges": {"Seccomp": {"Mode": "unconfined"}}}, {},
         "TaskTemplate.ContainerSpec.Privileges.Seccomp.Mode"),
        ({"Privileges": {"Seccomp": {"Mode": "custom", "Profile": "e30="}}}, {},
         "TaskTemplate.ContainerSpec.Privileges.Seccomp.Mode"),
        ({"Privileges": {"AppArmor": {"Mode": "disabled"}}}, {},
         "TaskTemplate.ContainerSpec.Privileges.AppArmor.Mode"),
        ({"Privileges": {"SELinuxContext": {"Disable": True}}}, {},
         "TaskTemplate.ContainerSpec.Privileges.SELinuxContext.Disable"),
        ({"Privileges": {"SELinuxContext": {"Type": "spc_t"}}}, {},
         "TaskTemplate.ContainerSpec.Privileges.SELinuxContext.Type"),
        ({"Privileges": {"SELinuxContext": {"User": "system_u"}}}, {},
         "TaskTemplate.ContainerSpec.Privileges.SELinuxContext.User"),
        ({"Dir": "/proc/self/fd/5"}, {}, "TaskTemplate.ContainerSpec.Dir"),
        ({}, {"Resources": {"Reservations": {"GenericResources": [
            {"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}]}}},
         "TaskTemplate.Resources.Reservations.GenericResources"),
        ({}, {"Networks": [{"Target": "host"}]}, "TaskTemplate.Networks"),
        ({}, {"PluginSpec": {"Name": "p", "PluginPrivilege": PRIVILEGES}},
         "TaskTemplate.PluginSpec.PluginPrivilege"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("operation", ["service.create", "service.update"])
def test_services_that_reach_the_host(
    spec: dict[str, object], template: dict[str, object], field: str, operation: str
) -> None:
    assert refused(operation, service(spec, **template)).field == field


def test_ordinary_services_pass() -> None:
    spec = {
        "Mounts": [{"Type": "volume", "Source": "data", "Target": "/d"}],
        "CapabilityAdd": ["CAP_NET_BIND_SERVICE"],
        "Privileges": {"Seccomp": {"Mode": "default"}, "NoNewPrivileges": False},
        "Sysctls": {"net.ipv4.tcp_syncookies": "1"},
    }
    allowed("service.create", service(spec, Networks=[{"Target": "overlay-net"}]))


def test_services_on_the_host_network_by_id() -> None:
    body = service(Networks=[{"Target": "5f3c"}])
    host = {"Name": "host", "Driver": "host", "Id": "5f3c9a"}
    violation = refused("service.create", body, daemon={FactQuery("network", "5f3c"): host})
    assert "the host's network" in violation.reason
    legacy = {**service(), "Networks": [{"Target": "5f3c"}]}
    assert refused("service.create", legacy, daemon={FactQuery("network", "5f3c"): host}).field == (
        "Networks"
    )
    overlay = {"Name": "apps", "Driver": "overlay"}
    allowed("service.create", body, daemon={FactQuery("network", "5f3c"): overlay})


def test_service_rollback() -> None:
    query = {"rollback": ["previous"], "version": ["7"]}
    assert refused("service.update", service(), query=query).field == "query rollback"
    allowed("service.update", service(), query={"version": ["7"]})


# --- restricted ---------------------------------------------------------------------------


def restricted_create(**overrides: object) -> dict[str, object]:
    """A container create that meets every restricted requirement."""
    host_config: dict[str, object] = {
        "Memory": 64 * 1024 * 1024,
        "NanoCpus": 500_000_000,
        "PidsLimit": 100,
        "CapDrop": ["ALL"],
        "SecurityOpt": ["no-new-privileges"],
    }
    top: dict[str, object] = {"Image": "busybox", "User": "1000:1000"}
    for key, value in overrides.items():
        if key in ("Image", "User"):
            top[key] = value
        elif value is None:
            host_config.pop(key, None)
        else:
            host_config[key] = value
    return {**top, "HostConfig": host_config}


def restricted_service(**overrides: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "Image": f"busybox@{DIGEST}",
        "User": "app",
        "CapabilityDrop": ["ALL"],
        "Privileges": {"NoNewPrivileges": True},
    }
    limits: dict[str, object] = {"MemoryBytes": 1 << 26, "NanoCPUs": 10**9, "Pids": 50}
    for key, value in overrides.items():
        target = limits if key in limits else spec
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return service(spec, Resources={"Limits": limits})


def test_the_restricted_baseline_passes() -> None:
    allowed("container.create", restricted_create(), profile="restricted")
    allowed("service.create", restricted_service(), profile="restricted")


def test_restricted_includes_baseline() -> None:
    body = restricted_create(Privileged=True)
    assert refused("container.create", body, profile="restricted").check == "privileged"


def test_baseline_does_not_apply_restricted_requirements() -> None:
    allowed("container.create", create())
    allowed("container.create", create(User="root"))


@pytest.mark.parametrize(
    "user", ["", "0", "00", "+0", "-0", "root", "ROOT", "0:0", "root:1000", ":1000"]
)
def test_root_users_are_refused(user: str) -> None:
    violation = refused("container.create", restricted_create(User=user), profile="restricted")
    assert violation.field == "User" and "non-root" in violation.reason


@pytest.mark.parametrize("user", ["1000", "1000:0", "nobody", "app:app", "65534:65534", "10"])
def test_non_root_users_pass(user: str) -> None:
    allowed("container.create", restricted_create(User=user), profile="restricted")


def test_exec_users() -> None:
    params = {"name": "web"}
    daemon = {container("web"): {"Config": {"User": "1000"}, "HostConfig": {}}}
    refused("container.exec", {"Cmd": ["sh"], "User": "0"}, profile="restricted", params=params,
            daemon=daemon)  # fmt: skip
    allowed("container.exec", {"Cmd": ["sh"]}, profile="restricted", params=params, daemon=daemon)
    allowed("container.exec", {"Cmd": ["sh"], "User": "1000"}, profile="restricted",
            params=params, daemon=daemon)  # fmt: skip
    root = {container("web"): {"Config": {"User": ""}, "HostConfig": {}}}
    violation = refused("container.exec", {"Cmd": ["sh"]}, profile="restricted", params=params,
                        daemon=root)  # fmt: skip
    assert violation.reason.startswith(
        'is not set and container "web" runs as the image\'s default user'
    )


@pytest.mark.parametrize(
    "options",
    [None, [], ["seccomp=builtin"], ["no-new-privileges", "no-new-privileges=false"],
     ["no-new-privileges=maybe"]],
)  # fmt: skip
def test_no_new_privileges_is_required(options: list[str] | None) -> None:
    body = (
        restricted_create(SecurityOpt=options)
        if options is not None
        else restricted_create(SecurityOpt=None)
    )
    violation = refused("container.create", body, profile="restricted")
    assert violation.field == "HostConfig.SecurityOpt"


@pytest.mark.parametrize(
    "options",
    [["no-new-privileges"], ["no-new-privileges:true"], ["no-new-privileges=true"],
     ["no-new-privileges=1"], ["no-new-privileges=false", "no-new-privileges=True"]],
)  # fmt: skip
def test_no_new_privileges_spellings(options: list[str]) -> None:
    allowed("container.create", restricted_create(SecurityOpt=options), profile="restricted")


def test_requirements_must_be_met_in_the_inner_host_config() -> None:
    # dockerd 27+ ignores top-level HostConfig fields; a limit only there is no limit.
    body = restricted_create(Memory=None)
    body["Memory"] = 1 << 26
    assert refused("container.create", body, profile="restricted").field == "HostConfig.Memory"


@pytest.mark.parametrize("drop", [None, [], ["NET_RAW"], ["CAP_ALL"]])
def test_dropping_all_capabilities_is_required(drop: list[str] | None) -> None:
    violation = refused("container.create", restricted_create(CapDrop=drop), profile="restricted")
    assert violation.field == "HostConfig.CapDrop"


@pytest.mark.parametrize("drop", [["ALL"], ["all"], "ALL", ["NET_RAW", "All"]])
def test_drop_all_spellings(drop: object) -> None:
    allowed("container.create", restricted_create(CapDrop=drop), profile="restricted")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"Memory": None}, "HostConfig.Memory"),
        ({"Memory": 0}, "HostConfig.Memory"),
        ({"Memory": -1}, "HostConfig.Memory"),
        ({"NanoCpus": None}, "HostConfig.NanoCpus"),
        ({"PidsLimit": None}, "HostConfig.PidsLimit"),
        ({"PidsLimit": -1}, "HostConfig.PidsLimit"),
        ({"PidsLimit": 0}, "HostConfig.PidsLimit"),
    ],
)
def test_limits_are_required(overrides: dict[str, object], field: str) -> None:
    assert refused(
        "container.create", restricted_create(**overrides), profile="restricted"
    ).field == (field)


def test_cpu_quota_is_a_cpu_limit_too() -> None:
    body = restricted_create(NanoCpus=None, CpuQuota=50_000, CpuPeriod=100_000)
    allowed("container.create", body, profile="restricted")


def test_limits_must_be_integers() -> None:
    with pytest.raises(ProtocolError):
        judge("container.create", restricted_create(Memory=1.5), profile="restricted")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"Memory": -1}, "Memory"),
        ({"NanoCpus": -1}, "NanoCpus"),
        ({"CpuQuota": -1}, "CpuQuota"),
        ({"PidsLimit": 0}, "PidsLimit"),
        ({"PidsLimit": -1}, "PidsLimit"),
    ],
)
def test_updates_that_lift_a_limit(body: dict[str, object], field: str) -> None:
    assert refused("container.update", body, profile="restricted").field == field
    allowed("container.update", body, profile="baseline")


@pytest.mark.parametrize(
    "body", [{}, {"Memory": 0}, {"Memory": 1 << 27}, {"PidsLimit": None}, {"PidsLimit": 200},
             {"RestartPolicy": {"Name": "always"}}],
)  # fmt: skip
def test_updates_that_keep_limits(body: dict[str, object]) -> None:
    allowed("container.update", body, profile="restricted")


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("evil/miner", '"evil/miner" (docker.io/evil/miner), not from an allowed registry'),
        ("quay.io/evil/miner:latest", "not from an allowed registry"),
        ("registry.example.com.evil.net/app", "not from an allowed registry"),
        ("Registry.Example.com/app", "not from an allowed registry"),
        ("sha256:" + "a" * 64, "local image ID"),
        ("a" * 64, "local image ID"),
        ("deadbeef", "local image ID"),
        ("Busy/Box", "must be lowercase"),
        ("", "is not set"),
    ],
)
def test_images_outside_the_allowed_registries(image: str, reason: str) -> None:
    violation = refused("container.create", restricted_create(Image=image), profile="restricted")
    assert violation.field == "Image" and reason in violation.reason


@pytest.mark.parametrize(
    "image",
    ["busybox", "busybox:1.36", "docker.io/library/busybox", "library/alpine:3",
     "registry.example.com/team/app:v2", f"evil/miner@{DIGEST}", f"busybox:1@{DIGEST}"],
)  # fmt: skip
def test_images_from_allowed_registries_or_pinned_pass(image: str) -> None:
    allowed("container.create", restricted_create(Image=image), profile="restricted")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"User": None}, "TaskTemplate.ContainerSpec.User"),
        ({"User": "0"}, "TaskTemplate.ContainerSpec.User"),
        ({"Privileges": None}, "TaskTemplate.ContainerSpec.Privileges.NoNewPrivileges"),
        ({"CapabilityDrop": None}, "TaskTemplate.ContainerSpec.CapabilityDrop"),
        ({"MemoryBytes": None}, "TaskTemplate.Resources.Limits.MemoryBytes"),
        ({"NanoCPUs": 0}, "TaskTemplate.Resources.Limits.NanoCPUs"),
        ({"Pids": None}, "TaskTemplate.Resources.Limits.Pids"),
        ({"Image": "evil/miner:latest"}, "TaskTemplate.ContainerSpec.Image"),
    ],
)
def test_restricted_services(overrides: dict[str, object], field: str) -> None:
    body = restricted_service(**overrides)
    assert refused("service.create", body, profile="restricted").field == field


def test_violations_name_their_check() -> None:
    seen = set()
    cases: list[tuple[str, object, dict[str, object]]] = [
        ("container.create", create({"Privileged": True}), {}),
        ("container.create", restricted_create(User="root"), {"profile": "restricted"}),
        ("image.build", None, {"query": {"networkmode": ["host"]}}),
    ]
    for operation, body, kwargs in cases:
        seen.add(refused(operation, body, **kwargs).check)
    assert seen == {"privileged", "non-root-user", "build-network"}
    assert all(re.fullmatch(r"[a-z0-9-]+", check.name) for check in CHECKS)


# --- network create --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"Name": "proj_default", "Driver": "bridge", "Labels": {"com.docker.compose.project": "p"}},
        {"Name": "n", "CheckDuplicate": True},
        {"Name": "n", "Options": {"com.docker.network.driver.mtu": "1400"}},
        {"Name": "n", "IPAM": {"Driver": "default", "Config": [], "Options": {}}},
        {"Name": "n", "Internal": True, "Attachable": True},
    ],
)
def test_private_bridge_networks_are_allowed(body):
    allowed("network.create", body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"Name": "n", "Driver": "macvlan", "Options": {"parent": "eth0"}}, "Driver"),
        ({"Name": "n", "driver": "ipvlan"}, "Driver"),
        ({"Name": "n", "Driver": "host"}, "Driver"),
        ({"Name": "n", "Options": {"com.docker.network.bridge.name": "docker0"}}, "Options"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.0.0.0/8"}]}}, "IPAM.Config"),
        ({"Name": "n", "IPAM": {"Driver": "custom"}}, "IPAM.Driver"),
        ({"Name": "n", "Ingress": True}, "Ingress"),
        ({"Name": "n", "ConfigOnly": True}, "ConfigOnly"),
        ({"Name": "n", "ConfigFrom": {"Network": "other"}}, "ConfigFrom"),
    ],
)
def test_networks_reaching_the_host_are_refused(body, field):
    assert refused("network.create", body).field == field


# --- effective configuration: image and container defaults (issue 12, class 3) --------------

PROC_IMAGE = {"Config": {"WorkingDir": "/proc/self/fd/8", "User": ""}}


def test_a_proc_workdir_from_the_image_is_refused_like_one_in_the_body() -> None:
    daemon = {image("procwd"): PROC_IMAGE}
    in_body = refused("container.create", {"Image": "busybox", "WorkingDir": "/proc/self/fd/8"})
    from_image = refused("container.create", {"Image": "procwd"}, daemon=daemon)
    assert in_body.check == from_image.check == "proc-working-dir"
    assert from_image == Violation(
        "WorkingDir",
        'is not set and image "procwd" sets "/proc/self/fd/8": a working directory under /proc '
        "can reach host files through leaked descriptors (runc CVE-2024-21626)",
        "proc-working-dir",
    )
    # a WorkingDir in the body overrides the image's; the image is not even looked up
    body = decode_body(json.dumps({"Image": "procwd", "WorkingDir": "/app"}).encode())
    assert image("procwd") not in facts_needed("baseline", "container.create", {}, {}, body,
                                               SETTINGS)  # fmt: skip
    allowed("container.create", {"Image": "procwd", "WorkingDir": "/app"}, daemon=daemon)
    allowed("container.create", {"Image": "app"}, daemon={image("app"): {"Config": {}}})
    allowed("container.create", {"Image": "missing"})  # the daemon answers "No such image"


def test_an_image_default_that_cannot_be_looked_up_is_a_refusal() -> None:
    body = decode_body(b'{"Image": "procwd"}')
    assert facts_needed("baseline", "container.create", {}, {}, body, SETTINGS) == [image("procwd")]
    violation = check_request("baseline", "container.create", {}, {}, body, SETTINGS, {})
    assert violation is not None and violation.check == "proc-working-dir"
    assert "could not be checked" in violation.reason


def test_an_exec_without_workdir_runs_in_the_containers_and_is_judged() -> None:
    params = {"name": "web"}
    proc = {container("web"): {"Config": {"WorkingDir": "/proc/1/cwd"}, "HostConfig": {}}}
    violation = refused("container.exec", {"Cmd": ["sh"]}, params=params, daemon=proc)
    assert violation.field == "WorkingDir"
    assert violation.reason.startswith('is not set and container "web" works in "/proc/1/cwd"')
    allowed("container.exec", {"Cmd": ["sh"], "WorkingDir": "/tmp"}, params=params, daemon=proc)
    plain = {container("web"): {"Config": {"WorkingDir": "/app"}, "HostConfig": {}}}
    allowed("container.exec", {"Cmd": ["sh"]}, params=params, daemon=plain)


@pytest.mark.parametrize(
    ("user", "allowed_"),
    [("1000", True), ("app", True), ("65534:65534", True), ("", False), ("root", False),
     ("0:0", False)],
)  # fmt: skip
def test_restricted_reads_the_images_user_when_the_body_has_none(user: str, allowed_: bool) -> None:
    daemon = {image("busybox"): {"Config": {"User": user}}}
    body = restricted_create(User="")
    if allowed_:
        allowed("container.create", body, profile="restricted", daemon=daemon)
        return
    violation = refused("container.create", body, profile="restricted", daemon=daemon)
    assert violation.field == "User" and violation.check == "non-root-user"
    shown = f'"{user}"' if user else "root (it sets no USER)"
    assert violation.reason == (
        f'is not set and image "busybox" runs as {shown}: restricted containers must run as a '
        "non-root user"
    )


def test_restricted_refuses_an_empty_user_when_the_image_is_unknown() -> None:
    violation = refused("container.create", restricted_create(User=""), profile="restricted")
    assert violation.reason.startswith("is not set (the image's user may be root)")


# --- tmpfs mount flags, in all three spellings ------------------------------------------------


@pytest.mark.parametrize(
    ("options", "flag"),
    [("exec,suid,dev", "dev"), ("dev", "dev"), ("nodev,dev", "dev"), ("suid", "suid"),
     ("size=1m,SUID", "suid"), ("nosuid,rw, dev", "dev")],
)  # fmt: skip
def test_daemon_tmpfs_mounts_with_dev_or_suid_are_refused(options: str, flag: str) -> None:
    for body in (create({"Tmpfs": {"/x": options}}), create(Tmpfs={"/x": options})):
        violation = refused("container.create", body)
        assert violation.check == "tmpfs-options"
        assert violation.field.endswith("Tmpfs")
        assert f"allows {'device files' if flag == 'dev' else 'setuid programs'}" in (
            violation.reason
        )
        assert f'add "no{flag}"' in violation.reason


@pytest.mark.parametrize("options", ["", "size=64m", "dev,nodev", "exec", "rw,noexec,mode=1777"])
def test_daemon_tmpfs_mounts_keep_their_defaults_and_pass(options: str) -> None:
    allowed("container.create", create({"Tmpfs": {"/tmp": options}}))


def test_restricted_refuses_exec_on_a_tmpfs() -> None:
    violation = refused(
        "container.create", restricted_create(Tmpfs={"/x": "exec"}), profile="restricted"
    )
    assert violation.check == "tmpfs-exec" and 'allows programs to run ("exec"' in violation.reason
    allowed("container.create", restricted_create(Tmpfs={"/x": "size=1m"}), profile="restricted")


@pytest.mark.parametrize(
    ("tmpfs_options", "refused_in"),
    [([["dev"]], "baseline"), ([["suid"]], "baseline"), ([["exec"]], "restricted"),
     ([["size", "1m"], ["mode", "1777"]], None)],
)  # fmt: skip
def test_tmpfs_mount_options(tmpfs_options: list[list[str]], refused_in: str | None) -> None:
    mount = {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"Options": tmpfs_options}}
    for profile in ("baseline", "restricted"):
        body = restricted_create(Mounts=[mount])
        if refused_in is None or (refused_in == "restricted" and profile == "baseline"):
            allowed("container.create", body, profile=profile)
        else:
            violation = refused("container.create", body, profile=profile)
            assert violation.field == "HostConfig.Mounts[0]"
            assert violation.reason.startswith("is a tmpfs that allows")


LOCAL_TMPFS = {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}


def test_a_local_tmpfs_volume_allows_dev_and_suid_unless_o_says_otherwise() -> None:
    """mount(2) sets no flag the options leave out: a tmpfs volume has dev, suid and exec."""
    violation = refused("volume.create", {"Name": "v", "DriverOpts": LOCAL_TMPFS})
    assert violation == Violation(
        "DriverOpts",
        'creates a tmpfs volume that allows device files ("dev" is in effect; add "nodev")',
        "tmpfs-options",
    )
    explicit = {"Name": "v", "DriverOpts": {**LOCAL_TMPFS, "o": "nodev,suid"}}
    assert "setuid programs" in refused("volume.create", explicit).reason
    safe = {"Name": "v", "DriverOpts": {**LOCAL_TMPFS, "o": "size=1m,nodev,nosuid"}}
    allowed("volume.create", safe)
    assert refused("volume.create", safe, profile="restricted").check == "tmpfs-exec"
    noexec = {"Name": "v", "DriverOpts": {**LOCAL_TMPFS, "o": "nodev,nosuid,noexec"}}
    allowed("volume.create", noexec, profile="restricted")
    allowed("volume.create", {"Name": "v", "Driver": "plugin"})  # not a local tmpfs


def test_local_tmpfs_volumes_inline_in_a_mount_and_by_name() -> None:
    inline = {
        "Type": "volume",
        "Source": "scratch",
        "Target": "/s",
        "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": LOCAL_TMPFS}},
    }
    violation = refused("container.create", create({"Mounts": [inline]}))
    assert (violation.field, violation.check) == ("HostConfig.Mounts[0]", "tmpfs-options")
    assert violation.reason.startswith("creates a tmpfs volume that allows device files")
    daemon = {volume("scratch"): {"Driver": "local", "Options": LOCAL_TMPFS}}
    by_name = refused("container.create", create({"Binds": ["scratch:/s"]}), daemon=daemon)
    assert (by_name.field, by_name.check) == ("HostConfig.Binds", "tmpfs-options")
    assert by_name.reason.startswith('uses volume "scratch", a tmpfs volume that allows')
    mount = {"Type": "volume", "Source": "scratch", "Target": "/s"}
    assert refused("container.create", create({"Mounts": [mount]}), daemon=daemon).field == (
        "HostConfig.Mounts[0]"
    )
    service_mount = service({"Mounts": [inline]})
    assert refused("service.create", service_mount).field == "TaskTemplate.ContainerSpec.Mounts[0]"


# --- the read side (class 4) --------------------------------------------------------------------


@pytest.mark.parametrize(
    "ps_args",
    ["aux e", "eww", "e", "axe", "-axe", "-uxe", "-ef", "-e", "-eHT", "ae", "-e -o pid,args e",
     "-o pid,environ", "-O environ", "o environ", "--format pid,environ", "aux  e", "-ef -x",
     "-x", "aux\te", "--sort", "-o", "--cols x", "-q 1", "p 1", "L", "--environment"],
)  # fmt: skip
def test_ps_args_that_can_print_environments_are_refused(ps_args: str) -> None:
    violation = refused("container.top", params={"name": "c"}, query={"ps_args": [ps_args]})
    assert (violation.field, violation.check) == ("query ps_args", "ps-args")


@pytest.mark.parametrize(
    "ps_args",
    ["aux", "-f", "-F", "-l", "-j", "-A", "u", "ww", "-ww", "auxf", "-o pid,args",
     "-o pid,user,%cpu,%mem,etime,args", "o pid,comm", "-O tty", "--format pid,cmd",
     "aux --forest", "-f --sort -pid", "-F --cols 200", "-o pid,args:40"],
)  # fmt: skip
def test_ps_args_that_print_no_environment_pass(ps_args: str) -> None:
    allowed("container.top", params={"name": "c"}, query={"ps_args": [ps_args]})


def test_ps_args_are_left_alone_for_a_role_that_may_see_secrets() -> None:
    granted = ProfileSettings(secrets=True)
    allowed("container.top", params={"name": "c"}, query={"ps_args": ["aux e"]}, settings=granted)
    allowed("container.top", params={"name": "c"})  # no ps_args: dockerd's -ef


@pytest.mark.parametrize("operation", ["container.attach", "container.attach_ws"])
def test_attach_with_logs_needs_the_logs_grant(operation: str) -> None:
    params = {"name": "web"}
    daemon = {container("web"): {"HostConfig": {}}}
    for logs in ("1", "true", "True"):
        violation = refused(operation, params=params, query={"logs": [logs], "stream": ["0"]},
                            daemon=daemon)  # fmt: skip
        assert (violation.field, violation.check) == ("query logs", "attach-logs")
    allowed(operation, params=params, query={"logs": ["0"], "stream": ["1"]}, daemon=daemon)
    readers = ProfileSettings(reads_logs=True)
    allowed(operation, params=params, query={"logs": ["1"]}, daemon=daemon, settings=readers)


# --- outbound (class 5) -------------------------------------------------------------------------


def host(name: str) -> FactQuery:
    return FactQuery("host", name)


@pytest.mark.parametrize(
    ("operation", "params", "query"),
    [
        ("distribution.inspect", {"name": "127.0.0.1:5000/x"}, {}),
        ("image.search", {}, {"term": ["127.0.0.1:5000/x"]}),
        ("image.pull", {}, {"fromImage": ["127.0.0.1:5000/x"], "tag": ["latest"]}),
        ("image.pull", {}, {"fromImage": ["[::1]:5000/x"]}),
        ("image.pull", {}, {"fromImage": ["169.254.169.254/latest"]}),
        ("image.pull", {}, {"fromImage": ["10.1.2.3:5000/x"]}),
        ("image.push", {"name": "192.168.1.5/x"}, {}),
        ("plugin.privileges", {}, {"remote": ["127.0.0.1:5000/p"]}),
        ("plugin.pull", {}, {"remote": ["0.0.0.0:5000/p"]}),
    ],
)
def test_registries_at_non_public_addresses_are_refused(
    operation: str, params: dict[str, str], query: dict[str, list[str]]
) -> None:
    violation = refused(operation, params=params, query=query)
    assert violation.check == "outbound-registry"
    assert "the daemon would connect to registry" in violation.reason
    assert "(not in the role's outbound allow-list)" in violation.reason


def test_a_registry_name_is_judged_by_what_it_resolves_to() -> None:
    query = {"fromImage": ["localhost:5000/x"]}
    loopback = {host("localhost"): {"Addresses": ["127.0.0.1", "::1"]}}
    violation = refused("image.pull", query=query, daemon=loopback)
    assert violation.reason == (
        'is "localhost:5000/x": the daemon would connect to registry localhost:5000, which '
        "resolves to 127.0.0.1, a loopback address (not in the role's outbound allow-list)"
    )
    public = {host("registry.example.com"): {"Addresses": ["93.184.216.34"]}}
    allowed("image.pull", query={"fromImage": ["registry.example.com/x"]}, daemon=public)
    allowed("image.pull", query={"fromImage": ["nowhere.invalid/x"]})  # does not resolve
    # Docker Hub is never resolved
    body = None
    assert facts_needed("baseline", "image.pull", {}, {"fromImage": ["busybox"]}, body,
                        SETTINGS) == []  # fmt: skip
    allowed("image.search", query={"term": ["busybox"]})
    allowed("image.search", query={"term": ["library/busybox"]})


def test_the_outbound_allow_list_lets_a_private_registry_through() -> None:
    listed = ProfileSettings(
        outbound=OutboundRules.parse(["registry.internal", "10.0.0.0/8", "127.0.0.1:5000"])
    )
    internal = {host("registry.internal"): {"Addresses": ["10.1.2.3"]}}
    # listed by name: not even resolved
    assert facts_needed("baseline", "image.pull", {}, {"fromImage": ["registry.internal/x"]},
                        None, listed) == []  # fmt: skip
    allowed("image.pull", query={"fromImage": ["registry.internal/x"]}, settings=listed)
    allowed("image.pull", query={"fromImage": ["10.9.9.9/x"]}, settings=listed)
    allowed("image.pull", query={"fromImage": ["127.0.0.1:5000/x"]}, settings=listed)
    refused("image.pull", query={"fromImage": ["127.0.0.1:5001/x"]}, settings=listed)
    other = {host("other.internal"): {"Addresses": ["10.4.4.4", "192.168.0.1"]}}
    violation = refused("image.pull", query={"fromImage": ["other.internal/x"]}, daemon=other,
                        settings=listed)  # fmt: skip
    assert "resolves to 192.168.0.1, a private address" in violation.reason
    del internal


def test_service_images_and_logins_are_judged_too() -> None:
    violation = refused("service.create", service({"Image": "127.0.0.1:5000/app"}))
    assert violation.field == "TaskTemplate.ContainerSpec.Image"
    login = refused("auth", {"username": "u", "password": "p", "serveraddress": "10.0.0.1:5000"})
    assert login.field == "ServerAddress" and "private address" in login.reason
    allowed("auth", {"username": "u", "password": "p", "serveraddress": ""})
    allowed("auth", {"serveraddress": "https://index.docker.io/v1/"})


@pytest.mark.parametrize(
    "query",
    [{"fromSrc": ["http://127.0.0.1:8000/rootfs.tar"]}, {"fromSrc": ["example.com/x.tar"]}],
)
def test_imports_from_urls_need_the_host_listed(query: dict[str, list[str]]) -> None:
    violation = refused("image.pull", query=query)
    assert violation.check == "remote-fetch"
    assert "which is not in the role's outbound allow-list" in violation.reason
    listed = ProfileSettings(outbound=OutboundRules.parse(["127.0.0.1", "example.com"]))
    allowed("image.pull", query=query, settings=listed)


def test_build_contexts_from_urls_need_the_host_listed() -> None:
    for remote, host_name in (
        ("https://git.example.com/app.git", "git.example.com"),
        ("git@git.example.com:team/app.git", "git.example.com"),
        ("github.com/team/app", "github.com"),
    ):
        assert refused("image.build", query={"remote": [remote]}).check == "remote-fetch"
        listed = ProfileSettings(outbound=OutboundRules.parse([host_name]))
        allowed("image.build", query={"remote": [remote]}, settings=listed)
    allowed("image.build", query={"remote": ["client-session"]})


@pytest.mark.parametrize(
    ("log_config", "reason"),
    [
        ({"Type": "syslog", "Config": {"syslog-address": "tcp://127.0.0.1:514"}},
         'sends the logs with "syslog" to 127.0.0.1:514'),
        ({"Type": "syslog", "Config": {"syslog-address": "udp://logs.example.com:514"}},
         "to logs.example.com:514"),
        ({"Type": "gelf", "Config": {"gelf-address": "udp://10.0.0.1:12201"}}, '"gelf" to'),
        ({"Type": "fluentd", "Config": {}}, 'sends the logs with "fluentd" to localhost:24224'),
        ({"Type": "fluentd", "Config": {"fluentd-address": "unix:///run/f.sock"}},
         "only syslog may use one"),
        ({"Type": "splunk", "Config": {"splunk-url": "https://127.0.0.1:8088",
                                       "splunk-token": "t"}}, '"splunk" to 127.0.0.1:8088'),
        ({"Type": "awslogs", "Config": {}}, 'is "awslogs", a logging driver that sends logs'),
        ({"Type": "gcplogs"}, 'is "gcplogs"'),
        ({"Type": "loki/loki:latest", "Config": {"loki-url": "http://127.0.0.1:3100"}},
         'is "loki/loki:latest"'),
        ({"Type": "", "Config": {"syslog-address": "tcp://127.0.0.1:514"}},
         'sets option "syslog-address" for the daemon\'s default logging driver'),
    ],
)  # fmt: skip
def test_network_log_drivers_are_refused(log_config: dict[str, object], reason: str) -> None:
    violation = refused("container.create", create({"LogConfig": log_config}))
    assert (violation.field, violation.check) == ("HostConfig.LogConfig", "log-driver")
    assert reason in violation.reason
    top = refused("container.create", create(LogConfig=log_config))
    assert top.field == "(top level) LogConfig"


@pytest.mark.parametrize(
    "log_config",
    [
        {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
        {"Type": "local"},
        {"Type": "journald", "Config": {"tag": "x"}},
        {"Type": "none"},
        {"Type": "syslog"},
        {"Type": "syslog", "Config": {"syslog-address": "unix:///dev/log"}},
        {"Type": "syslog", "Config": {"syslog-address": "unixgram:///dev/log"}},
        {"Type": "", "Config": {"max-size": "10m"}},
        {"Type": "", "Config": {}},
    ],
)
def test_local_log_drivers_pass(log_config: dict[str, object]) -> None:
    allowed("container.create", create({"LogConfig": log_config}))


def test_a_log_server_in_the_outbound_allow_list_passes() -> None:
    listed = ProfileSettings(outbound=OutboundRules.parse(["logs.example.com", "10.0.0.0/8"]))
    for log_config in (
        {"Type": "syslog", "Config": {"syslog-address": "tcp+tls://logs.example.com:6514"}},
        {"Type": "gelf", "Config": {"gelf-address": "udp://10.0.0.1:12201"}},
        {"Type": "splunk", "Config": {"splunk-url": "https://logs.example.com:8088"}},
    ):
        allowed("container.create", create({"LogConfig": log_config}), settings=listed)
    driver = {"Name": "gelf", "Options": {"gelf-address": "udp://127.0.0.1:12201"}}
    violation = refused("service.create", service(LogDriver=driver))
    assert violation.field == "TaskTemplate.LogDriver"
