"""Tests for dockward.policy.routes: the route table and the mux-compatible classifier."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockward.policy.paths import RequestTarget, split_target
from dockward.policy.routes import (
    OPERATIONS,
    ROUTES,
    Access,
    Classification,
    Route,
    _bucket_routes,
    _lookup,
    classify_route,
    compile_template,
)


def classify(method: str, target: str) -> Classification:
    return classify_route(method, split_target(target.encode()))


# One real request per route (method, unversioned path, operation, template variables).
CASES: list[tuple[str, str, str, dict[str, str]]] = [
    # checkpoint router
    ("GET", "/containers/c1/checkpoints", "checkpoint.list", {"name": "c1"}),
    ("POST", "/containers/c1/checkpoints", "checkpoint.create", {"name": "c1"}),
    (
        "DELETE",
        "/containers/c1/checkpoints/cp1",
        "checkpoint.delete",
        {"name": "c1", "checkpoint": "cp1"},
    ),
    # container router
    ("HEAD", "/containers/c1/archive", "container.archive.stat", {"name": "c1"}),
    ("GET", "/containers/json", "container.list", {}),
    ("GET", "/containers/c1/export", "container.export", {"name": "c1"}),
    ("GET", "/containers/c1/changes", "container.changes", {"name": "c1"}),
    ("GET", "/containers/c1/json", "container.inspect", {"name": "c1"}),
    ("GET", "/containers/c1/top", "container.top", {"name": "c1"}),
    ("GET", "/containers/c1/logs", "container.logs", {"name": "c1"}),
    ("GET", "/containers/c1/stats", "container.stats", {"name": "c1"}),
    ("GET", "/containers/c1/attach/ws", "container.attach_ws", {"name": "c1"}),
    ("GET", "/exec/e1/json", "container.exec.inspect", {"id": "e1"}),
    ("GET", "/containers/c1/archive", "container.archive.read", {"name": "c1"}),
    ("POST", "/containers/create", "container.create", {}),
    ("POST", "/containers/c1/kill", "container.kill", {"name": "c1"}),
    ("POST", "/containers/c1/pause", "container.pause", {"name": "c1"}),
    ("POST", "/containers/c1/unpause", "container.unpause", {"name": "c1"}),
    ("POST", "/containers/c1/restart", "container.restart", {"name": "c1"}),
    ("POST", "/containers/c1/start", "container.start", {"name": "c1"}),
    ("POST", "/containers/c1/stop", "container.stop", {"name": "c1"}),
    ("POST", "/containers/c1/wait", "container.wait", {"name": "c1"}),
    ("POST", "/containers/c1/resize", "container.resize", {"name": "c1"}),
    ("POST", "/containers/c1/attach", "container.attach", {"name": "c1"}),
    ("POST", "/containers/c1/copy", "container.copy", {"name": "c1"}),
    ("POST", "/containers/c1/exec", "container.exec", {"name": "c1"}),
    ("POST", "/exec/e1/start", "container.exec.start", {"name": "e1"}),
    ("POST", "/exec/e1/resize", "container.exec.resize", {"name": "e1"}),
    ("POST", "/containers/c1/rename", "container.rename", {"name": "c1"}),
    ("POST", "/containers/c1/update", "container.update", {"name": "c1"}),
    ("POST", "/containers/prune", "container.prune", {}),
    ("POST", "/commit", "container.commit", {}),
    ("PUT", "/containers/c1/archive", "container.archive.write", {"name": "c1"}),
    ("DELETE", "/containers/c1", "container.remove", {"name": "c1"}),
    # image router
    ("GET", "/images/json", "image.list", {}),
    ("GET", "/images/search", "image.search", {}),
    ("GET", "/images/get", "image.save", {}),
    ("GET", "/images/busybox:latest/get", "image.save", {"name": "busybox:latest"}),
    ("GET", "/images/busybox/history", "image.history", {"name": "busybox"}),
    (
        "GET",
        "/images/docker.io/library/busybox/json",
        "image.inspect",
        {"name": "docker.io/library/busybox"},
    ),
    ("POST", "/images/load", "image.load", {}),
    ("POST", "/images/create", "image.pull", {}),
    ("POST", "/images/registry:5000/app/push", "image.push", {"name": "registry:5000/app"}),
    ("POST", "/images/busybox/tag", "image.tag", {"name": "busybox"}),
    ("POST", "/images/prune", "image.prune", {}),
    ("DELETE", "/images/sha256:abc", "image.remove", {"name": "sha256:abc"}),
    # system router
    ("OPTIONS", "/containers/json", "system.options", {"anyroute": "containers/json"}),
    ("GET", "/_ping", "system.ping", {}),
    ("HEAD", "/_ping", "system.ping", {}),
    ("GET", "/events", "system.events", {}),
    ("GET", "/info", "system.info", {}),
    ("GET", "/version", "system.version", {}),
    ("GET", "/system/df", "system.df", {}),
    ("POST", "/auth", "auth", {}),
    # volume router
    ("GET", "/volumes", "volume.list", {}),
    ("GET", "/volumes/data", "volume.inspect", {"name": "data"}),
    ("POST", "/volumes/create", "volume.create", {}),
    ("POST", "/volumes/prune", "volume.prune", {}),
    ("PUT", "/volumes/data", "volume.update", {"name": "data"}),
    ("DELETE", "/volumes/data", "volume.remove", {"name": "data"}),
    # build router
    ("POST", "/build", "image.build", {}),
    ("POST", "/build/prune", "build.prune", {}),
    ("POST", "/build/cancel", "build.cancel", {}),
    # session router
    ("POST", "/session", "session", {}),
    # swarm router
    ("POST", "/swarm/init", "swarm.init", {}),
    ("POST", "/swarm/join", "swarm.join", {}),
    ("POST", "/swarm/leave", "swarm.leave", {}),
    ("GET", "/swarm", "swarm.inspect", {}),
    ("GET", "/swarm/unlockkey", "swarm.unlockkey", {}),
    ("POST", "/swarm/update", "swarm.update", {}),
    ("POST", "/swarm/unlock", "swarm.unlock", {}),
    ("GET", "/services", "service.list", {}),
    ("GET", "/services/s1", "service.inspect", {"id": "s1"}),
    ("POST", "/services/create", "service.create", {}),
    ("POST", "/services/s1/update", "service.update", {"id": "s1"}),
    ("DELETE", "/services/s1", "service.remove", {"id": "s1"}),
    ("GET", "/services/s1/logs", "service.logs", {"id": "s1"}),
    ("GET", "/nodes", "node.list", {}),
    ("GET", "/nodes/n1", "node.inspect", {"id": "n1"}),
    ("DELETE", "/nodes/n1", "node.remove", {"id": "n1"}),
    ("POST", "/nodes/n1/update", "node.update", {"id": "n1"}),
    ("GET", "/tasks", "task.list", {}),
    ("GET", "/tasks/t1", "task.inspect", {"id": "t1"}),
    ("GET", "/tasks/t1/logs", "task.logs", {"id": "t1"}),
    ("GET", "/secrets", "secret.list", {}),
    ("POST", "/secrets/create", "secret.create", {}),
    ("DELETE", "/secrets/s1", "secret.remove", {"id": "s1"}),
    ("GET", "/secrets/s1", "secret.inspect", {"id": "s1"}),
    ("POST", "/secrets/s1/update", "secret.update", {"id": "s1"}),
    ("GET", "/configs", "config.list", {}),
    ("POST", "/configs/create", "config.create", {}),
    ("DELETE", "/configs/c1", "config.remove", {"id": "c1"}),
    ("GET", "/configs/c1", "config.inspect", {"id": "c1"}),
    ("POST", "/configs/c1/update", "config.update", {"id": "c1"}),
    # plugin router
    ("GET", "/plugins", "plugin.list", {}),
    ("GET", "/plugins/vieux/sshfs:latest/json", "plugin.inspect", {"name": "vieux/sshfs:latest"}),
    ("GET", "/plugins/privileges", "plugin.privileges", {}),
    ("DELETE", "/plugins/p1", "plugin.remove", {"name": "p1"}),
    ("POST", "/plugins/p1/enable", "plugin.enable", {"name": "p1"}),
    ("POST", "/plugins/p1/disable", "plugin.disable", {"name": "p1"}),
    ("POST", "/plugins/pull", "plugin.pull", {}),
    ("POST", "/plugins/p1/push", "plugin.push", {"name": "p1"}),
    ("POST", "/plugins/p1/upgrade", "plugin.upgrade", {"name": "p1"}),
    ("POST", "/plugins/p1/set", "plugin.set", {"name": "p1"}),
    ("POST", "/plugins/create", "plugin.create", {}),
    # distribution router
    (
        "GET",
        "/distribution/docker.io/library/busybox/json",
        "distribution.inspect",
        {"name": "docker.io/library/busybox"},
    ),
    # network router
    ("GET", "/networks", "network.list", {}),
    ("GET", "/networks/", "network.list", {}),
    ("GET", "/networks/n1", "network.inspect", {"id": "n1"}),
    ("POST", "/networks/create", "network.create", {}),
    ("POST", "/networks/n1/connect", "network.connect", {"id": "n1"}),
    ("POST", "/networks/n1/disconnect", "network.disconnect", {"id": "n1"}),
    ("POST", "/networks/prune", "network.prune", {}),
    ("DELETE", "/networks/n1", "network.remove", {"id": "n1"}),
    # debug router
    ("GET", "/debug/vars", "debug.vars", {}),
    ("GET", "/debug/pprof/", "debug.pprof", {}),
    ("GET", "/debug/pprof/cmdline", "debug.pprof", {}),
    ("GET", "/debug/pprof/profile", "debug.pprof", {}),
    ("GET", "/debug/pprof/symbol", "debug.pprof", {}),
    ("GET", "/debug/pprof/trace", "debug.pprof", {}),
    ("GET", "/debug/pprof/heap", "debug.pprof", {"name": "heap"}),
    # grpc router
    ("POST", "/grpc", "grpc", {}),
]


@pytest.mark.parametrize("prefix", ["", "/v1.41", "/v1.56", "/v1.24"])
@pytest.mark.parametrize(("method", "path", "operation", "params"), CASES)
def test_every_route(
    prefix: str, method: str, path: str, operation: str, params: dict[str, str]
) -> None:
    result = classify(method, prefix + path)
    assert result.operation == operation
    assert result.route is not None
    assert result.route.operation == operation
    assert result.params == params
    assert result.path == path
    assert result.api_version == (prefix[2:] or None)


def test_cases_cover_every_route() -> None:
    matched = {id(classify(method, path).route) for method, path, _, _ in CASES}
    missing = [f"{r.method} {r.template}" for r in ROUTES if id(r) not in matched]
    assert missing == []


def test_table_size_and_uniqueness() -> None:
    assert len(ROUTES) == 122
    keys = [(route.method, route.template) for route in ROUTES]
    assert len(keys) == len(set(keys))
    assert len(OPERATIONS) == 114
    assert {route.operation for route in ROUTES} == OPERATIONS
    assert "unknown" not in OPERATIONS
    for operation in OPERATIONS:
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", operation), operation


def test_router_order_is_dockerds() -> None:
    def router_of(route: Route) -> str:
        op: str = route.operation
        template = route.template
        if op.startswith("checkpoint."):
            return "checkpoint"
        if op.startswith(("container.", "exec.")):
            return "container"
        if op.startswith("image.") and op != "image.build":
            return "image"
        if op.startswith("system.") or op == "auth":
            return "system"
        if op.startswith("volume."):
            return "volume"
        if template.startswith("/build"):
            return "build"
        if op.startswith(("swarm.", "service.", "node.", "task.", "secret.", "config.")):
            return "swarm"
        return op.split(".")[0]

    blocks: list[str] = []
    for route in ROUTES:
        name = router_of(route)
        if not blocks or blocks[-1] != name:
            blocks.append(name)
    assert blocks == [
        "checkpoint",
        "container",
        "image",
        "system",
        "volume",
        "build",
        "session",
        "swarm",
        "plugin",
        "distribution",
        "network",
        "debug",
        "grpc",
    ]


# --- greedy names and first match --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "operation", "params"),
    [
        ("POST", "/containers/foo/start/kill", "container.kill", {"name": "foo/start"}),
        ("DELETE", "/containers/x/json", "container.remove", {"name": "x/json"}),
        ("GET", "/containers/a/logs/json", "container.inspect", {"name": "a/logs"}),
        ("GET", "/containers/json/json", "container.inspect", {"name": "json"}),
        ("POST", "/containers/create/start", "container.start", {"name": "create"}),
        ("POST", "/containers/a%2Fb/stop", "container.stop", {"name": "a/b"}),
        # checkpoint routes come first: they mask the container router
        ("GET", "/containers/x/checkpoints", "checkpoint.list", {"name": "x"}),
        ("GET", "/containers/x/y/checkpoints", "checkpoint.list", {"name": "x/y"}),
        (
            "DELETE",
            "/containers/x/checkpoints/cp",
            "checkpoint.delete",
            {"name": "x", "checkpoint": "cp"},
        ),
        # {name} is [^/]+: a slash falls through to the greedy container DELETE
        (
            "DELETE",
            "/containers/x/y/checkpoints/cp",
            "container.remove",
            {"name": "x/y/checkpoints/cp"},
        ),
        ("GET", "/containers/x/attach/ws", "container.attach_ws", {"name": "x"}),
        ("GET", "/images/get/json", "image.inspect", {"name": "get"}),
        ("GET", "/images/x/get", "image.save", {"name": "x"}),
        ("GET", "/images/a/b/history", "image.history", {"name": "a/b"}),
        ("GET", "/networks/a/b", "network.inspect", {"id": "a/b"}),
        ("DELETE", "/networks/", "network.remove", {"id": ""}),
        ("GET", "/volumes/", "volume.inspect", {"name": ""}),
        ("POST", "/plugins/pull/enable", "plugin.enable", {"name": "pull"}),
        ("POST", "/networks/create/connect", "network.connect", {"id": "create"}),
        ("GET", "/exec/a/b/json", "container.exec.inspect", {"id": "a/b"}),
    ],
)
def test_greedy_names_and_first_match(
    method: str, path: str, operation: str, params: dict[str, str]
) -> None:
    result = classify(method, path)
    assert (result.operation, result.params) == (operation, params)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/services/a/b"),  # {id} is [^/]+
        ("GET", "/nodes/a/b"),
        ("GET", "/tasks/a/b/logs"),
        ("DELETE", "/secrets/a/b"),
        ("GET", "/debug/pprof/a/b"),
    ],
)
def test_plain_variables_do_not_span_slashes(method: str, path: str) -> None:
    assert classify(method, path).route is None


# --- method, case, trailing slash, version prefix ---------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/containers/json/"),  # no StrictSlash
        ("GET", "/v1.41/containers/json/"),
        ("GET", "/_ping/"),
        ("POST", "/build/"),
        ("GET", "/debug/pprof"),
        ("GET", "/Containers/json"),  # case-sensitive paths
        ("GET", "/CONTAINERS/JSON"),
        ("GET", "/V1.41/containers/json"),
        ("get", "/containers/json"),  # case-sensitive methods
        ("Get", "/_ping"),
        ("options", "/_ping"),
        ("HEAD", "/containers/json"),  # HEAD is not GET
        ("HEAD", "/v1.41/version"),
        ("HEAD", "/containers/x/json"),
        ("POST", "/containers/json"),  # no 405 in dockerd: 404
        ("PATCH", "/containers/x/update"),
        ("PUT", "/containers/x"),
        ("POST", "/debug/vars"),
        ("CONNECT", "/_ping"),
        ("GET", "/"),
        ("GET", "/v1.41"),
        ("GET", "/v1.41/"),
        ("GET", "/containers"),
        ("GET", "/images"),
        ("GET", "/v1.41/v1.40/containers/json"),
        ("GET", "/vx/containers/json"),
        ("GET", "/v/containers/json"),
        ("GET", "/v1.41-rc/containers/json"),
        ("GET", "/swarm/"),
        ("POST", "/session/"),
        ("GET", "/exec/json"),
    ],
)
def test_unknown(method: str, path: str) -> None:
    result = classify(method, path)
    assert result.route is None
    assert result.operation == "unknown"
    assert result.access is None
    assert result.params == {}


def test_unknown_keeps_version_and_unversioned_path() -> None:
    result = classify("GET", "/v1.41/nothing/here")
    assert (result.api_version, result.path) == ("1.41", "/nothing/here")


@pytest.mark.parametrize(
    ("path", "version", "operation"),
    [
        ("/v1..4/containers/json", "1..4", "container.list"),  # mux only wants [0-9.]+
        ("/v./_ping", ".", "system.ping"),
        ("/v1/_ping", "1", "system.ping"),
        ("/version", None, "system.version"),  # starts with /v, is no version prefix
        ("/v1.41/version", "1.41", "system.version"),
        ("/volumes", None, "volume.list"),
        ("/v1.41/volumes/v1.41", "1.41", "volume.inspect"),
    ],
)
def test_version_prefix(path: str, version: str | None, operation: str) -> None:
    result = classify("GET", path)
    assert (result.api_version, result.operation) == (version, operation)
    assert "version" not in result.params


def test_head_routes() -> None:
    assert classify("HEAD", "/_ping").operation == "system.ping"
    assert classify("HEAD", "/v1.41/_ping").operation == "system.ping"
    assert classify("HEAD", "/containers/a/b/archive").params == {"name": "a/b"}
    heads = sorted(route.template for route in ROUTES if route.method == "HEAD")
    assert heads == ["/_ping", "/containers/{name:.*}/archive"]


@pytest.mark.parametrize(
    ("path", "version", "anyroute"),
    [
        ("/", None, ""),
        ("/anything/at/all", None, "anything/at/all"),
        ("/v1.41/containers/json", "1.41", "containers/json"),
        ("/v1.41/", "1.41", ""),
        ("/v1.41", None, "v1.41"),
    ],
)
def test_options_catch_all(path: str, version: str | None, anyroute: str) -> None:
    result = classify("OPTIONS", path)
    assert result.operation == "system.options"
    assert result.access is Access.READ
    assert (result.api_version, result.params) == (version, {"anyroute": anyroute})


# --- the regex compiler ----------------------------------------------------------------------


def test_compile_template() -> None:
    assert compile_template("/services/{id}").pattern == r"/services/(?P<id>[^/]+)"
    assert compile_template("/containers/{name:.*}/json").pattern == (
        r"/containers/(?P<name>.*)/json"
    )
    assert compile_template("/v{version:[0-9]{1,2}}/x").fullmatch("/v12/x") is not None
    assert compile_template("/a.b").fullmatch("/aXb") is None  # literals are escaped
    assert compile_template("/x").fullmatch("/x\n") is None  # anchored like Go's $
    for bad in ["/{x", "/x}", "/{}", "/{x:}", "/{1x}"]:
        with pytest.raises(ValueError):
            compile_template(bad)


def test_params_are_read_only() -> None:
    # classifications are shared between requests (the head-analysis cache): nobody may edit them
    first = classify("GET", "/containers/c1/json")
    with pytest.raises(TypeError):
        first.params["name"] = "mutated"  # type: ignore[index]
    assert classify("GET", "/containers/c1/json").params == {"name": "c1"}


def test_classify_accepts_any_request_target() -> None:
    # not from split_target: still no crash, still no match
    assert classify_route("GET", RequestTarget(b"x", "containers/json", "")).route is None
    assert classify_route("GET", RequestTarget(b"", "", "")).route is None


# --- against a literal model of gorilla/mux -----------------------------------------------


def _reference_regex(template: str) -> str:
    out, pos = [], 0
    for var in re.finditer(r"\{([^{}:]+)(?::([^{}]+))?\}", template):
        out.append(re.escape(template[pos : var.start()]))
        out.append(f"(?P<{var.group(1)}>{var.group(2) or '[^/]+'})")
        pos = var.end()
    out.append(re.escape(template[pos:]))
    return "".join(out)


def _reference_table(
    routes: Sequence[Route],
) -> list[tuple[Route, re.Pattern[str], re.Pattern[str]]]:
    return [
        (
            route,
            re.compile(r"/v(?P<version>[0-9.]+)" + _reference_regex(route.template)),
            re.compile(_reference_regex(route.template)),
        )
        for route in routes
    ]


_REFERENCE = _reference_table(ROUTES)


def mux_reference(
    method: str, path: str, table: list[tuple[Route, re.Pattern[str], re.Pattern[str]]] = _REFERENCE
) -> tuple[Route | None, str | None, dict[str, str]]:
    """dockerd's mux, literally: each route versioned then bare, first full match wins."""
    for route, versioned, bare in table:
        if route.method != method:
            continue
        for regex in (versioned, bare):
            match = regex.fullmatch(path)
            if match is not None:
                params = match.groupdict()
                version = params.pop("version", None)
                return route, version, params
    return None, None, {}


_SEGMENTS = sorted(
    {seg for route in ROUTES for seg in route.template.split("/") if "{" not in seg}
    | {"x", "a.b", "v1.41", "1.41", "v1", "v", "sha256:ab", "json"}
)
_methods = st.sampled_from(["GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "get", "PATCH"])
_paths = st.builds(
    lambda version, segments, slash: version + "/" + "/".join(segments) + slash,
    st.sampled_from(["", "", "/v1.41", "/v1.24", "/v."]),
    st.lists(st.sampled_from(_SEGMENTS), min_size=0, max_size=6),
    st.sampled_from(["", "", "/"]),
)


@given(_methods, _paths)
def test_classify_matches_mux_reference(method: str, path: str) -> None:
    result = classify_route(method, RequestTarget(path.encode(), path, ""))
    route, version, params = mux_reference(method, path)
    assert result.route is route
    if route is not None:
        assert result.api_version == version
        assert result.params == params
        assert result.path == (path[len(version) + 2 :] if version is not None else path)


# The real table has catch-alls only for OPTIONS, where no literal route competes; this one mixes
# them, so that the first-segment buckets must keep catch-alls in their table position.
# Routes name real operations (a route needs a registry row); only the templates matter here.
_SYNTHETIC = (
    Route("GET", "/a/json", "container.list"),
    Route("GET", "/{any:.*}/json", "container.inspect"),
    Route("GET", "/a/{name:.*}", "image.inspect"),
    Route("GET", "/pre{x}/b", "network.inspect"),
    Route("GET", "/b/{id}", "volume.inspect"),
    Route("POST", "/a/{name:.*}/json", "container.start"),
    Route("POST", "/{all:.*}", "container.create"),
)
_SYNTHETIC_BUCKETS = _bucket_routes(_SYNTHETIC)
_SYNTHETIC_REFERENCE = _reference_table(_SYNTHETIC)


@given(
    st.sampled_from(["GET", "POST", "PUT"]),
    st.builds(
        lambda version, segments: version + "/" + "/".join(segments),
        st.sampled_from(["", "/v1.41"]),
        st.lists(st.sampled_from(["a", "b", "json", "prefix", "pre", "x", "v1.2"]), max_size=4),
    ),
)
def test_buckets_keep_catch_alls_in_order(method: str, path: str) -> None:
    index, version, unversioned, params = _lookup(_SYNTHETIC_BUCKETS, method, path)
    route, ref_version, ref_params = mux_reference(method, path, _SYNTHETIC_REFERENCE)
    assert (_SYNTHETIC[index] if index >= 0 else None) is route
    if route is not None:
        assert (version, dict(params)) == (ref_version, ref_params)
        assert unversioned == (path[len(version) + 2 :] if version is not None else path)


def test_buckets_synthetic_examples() -> None:
    def op(method: str, path: str) -> str:
        index = _lookup(_SYNTHETIC_BUCKETS, method, path)[0]
        return _SYNTHETIC[index].operation if index >= 0 else "unknown"

    assert op("GET", "/a/json") == "container.list"
    # the catch-all /{any:.*}/json before the later literal route /a/{name:.*}
    assert op("GET", "/a/x/json") == "container.inspect"
    assert op("GET", "/a/x") == "image.inspect"
    assert op("GET", "/prefix/b") == "network.inspect"
    assert op("GET", "/v1.41/b/x") == "volume.inspect"
    assert op("POST", "/a/x/json") == "container.start"
    assert op("POST", "/b/x") == "container.create"


def test_long_paths_are_classified_but_not_remembered() -> None:
    from dockward.policy import routes

    before = routes._match_cached.cache_info().currsize
    name = "c" * 100_000
    request = classify_route("GET", split_target(f"/v1.41/containers/{name}/json".encode()))
    assert request.operation == "container.inspect" and request.params == {"name": name}
    assert routes._match_cached.cache_info().currsize == before
