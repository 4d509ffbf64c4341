"""Every Docker Engine API route, in dockerd's order, and the classifier that matches like it.

``ROUTES`` is dockerd's routing table written out: the routers in the order ``buildRouters``
registers them (checkpoint, container, image, system, volume, build, session, swarm, plugin,
distribution, network, debug, grpc) and each router's routes in its ``initRoutes`` order, as on
moby master (API 1.56), plus the few routes that dockerd 20.10 (API 1.41) still serves and
master dropped. dockerd hands every route to gorilla/mux twice, ``/v{version:[0-9.]+}``-prefixed
first and bare second, and mux takes the first route whose method and anchored path regex match,
so greedy ``{name:.*}`` variables and the row order decide cases such as
``POST /containers/foo/start/kill`` (``container.kill`` of ``foo/start``).

A row names its operation and nothing else: what an operation is (its access tag, body, the
objects it names, what its answer reveals, whether it hijacks the connection) is its row in
``dockward.policy.operations``, which each ``Route`` carries as ``spec``.

This module owns the table and matching only: the path it matches is the one
``dockward.policy.paths.split_target`` produced (decoded and clean). No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from dockward.policy.operations import BY_NAME, Access, Operation
from dockward.policy.paths import RequestTarget

__all__ = [
    "OPERATIONS",
    "ROUTES",
    "Access",
    "Classification",
    "Route",
    "classify_route",
    "compile_template",
]


def compile_template(template: str) -> re.Pattern[str]:
    """Compile a gorilla/mux path template into an anchored regex (use ``fullmatch``).

    Literal text is escaped, ``{x}`` becomes ``[^/]+`` and ``{x:pattern}`` becomes the pattern,
    each captured in a group named after the variable. Braces nest as in mux, so a pattern may
    hold ``{2}``-style repetitions.
    """
    parts: list[str] = []
    literal_start = 0
    index = 0
    while index < len(template):
        if template[index] != "{":
            if template[index] == "}":
                raise ValueError(f"unbalanced braces in route template {template!r}")
            index += 1
            continue
        depth, end = 0, index
        while end < len(template):
            if template[end] == "{":
                depth += 1
            elif template[end] == "}":
                depth -= 1
                if depth == 0:
                    break
            end += 1
        if depth != 0:
            raise ValueError(f"unbalanced braces in route template {template!r}")
        parts.append(re.escape(template[literal_start:index]))
        name, colon, pattern = template[index + 1 : end].partition(":")
        if not name.isidentifier() or (colon and not pattern):
            raise ValueError(f"bad variable {template[index : end + 1]!r} in {template!r}")
        parts.append(f"(?P<{name}>{pattern if colon else '[^/]+'})")
        index = literal_start = end + 1
    parts.append(re.escape(template[literal_start:]))
    return re.compile("".join(parts))


@dataclass(frozen=True, slots=True)
class Route:
    """One row of dockerd's routing table, with the operation it performs.

    ``spec`` is the operation's registry row; ``access`` and ``hijack`` (the answer may turn the
    connection into a raw byte pipe: 101 Upgrade, or a 200 raw stream after which the daemon
    reads and writes the bare socket) are read from it once, here. ``regex`` is matched with
    ``fullmatch`` against the path with any ``/vX.Y`` prefix removed.
    """

    method: str
    template: str
    operation: str
    spec: Operation = field(init=False, repr=False, compare=False)
    access: Access = field(init=False, repr=False, compare=False)
    hijack: bool = field(init=False, repr=False, compare=False)
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spec = BY_NAME.get(self.operation)
        if spec is None:
            raise ValueError(
                f"route {self.method} {self.template}: operation {self.operation!r} has no row "
                "in dockward.policy.operations"
            )
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "access", spec.access)
        object.__setattr__(self, "hijack", spec.hijack)
        object.__setattr__(self, "regex", compile_template(self.template))


ROUTES: tuple[Route, ...] = (
    # checkpoint router: experimental, but always registered, so it masks the container router
    # (its own comment: "or the DELETE gets masked"). CheckpointDir names a host directory.
    Route("GET", "/containers/{name:.*}/checkpoints", "checkpoint.list"),
    Route("POST", "/containers/{name:.*}/checkpoints", "checkpoint.create"),
    Route("DELETE", "/containers/{name}/checkpoints/{checkpoint}", "checkpoint.delete"),
    # container router
    Route("HEAD", "/containers/{name:.*}/archive", "container.archive.stat"),
    Route("GET", "/containers/json", "container.list"),
    Route("GET", "/containers/{name:.*}/export", "container.export"),
    Route("GET", "/containers/{name:.*}/changes", "container.changes"),
    Route("GET", "/containers/{name:.*}/json", "container.inspect"),
    Route("GET", "/containers/{name:.*}/top", "container.top"),
    Route("GET", "/containers/{name:.*}/logs", "container.logs"),
    Route("GET", "/containers/{name:.*}/stats", "container.stats"),
    Route("GET", "/containers/{name:.*}/attach/ws", "container.attach_ws"),
    Route("GET", "/exec/{id:.*}/json", "container.exec.inspect"),
    Route("GET", "/containers/{name:.*}/archive", "container.archive.read"),
    Route("POST", "/containers/create", "container.create"),
    Route("POST", "/containers/{name:.*}/kill", "container.kill"),
    Route("POST", "/containers/{name:.*}/pause", "container.pause"),
    Route("POST", "/containers/{name:.*}/unpause", "container.unpause"),
    Route("POST", "/containers/{name:.*}/restart", "container.restart"),
    Route("POST", "/containers/{name:.*}/start", "container.start"),
    Route("POST", "/containers/{name:.*}/stop", "container.stop"),
    Route("POST", "/containers/{name:.*}/wait", "container.wait"),
    Route("POST", "/containers/{name:.*}/resize", "container.resize"),
    Route("POST", "/containers/{name:.*}/attach", "container.attach"),
    # removed in 2024 with API versions < 1.24: the pre-1.20 file copy, still live on dockerd
    # 20.10 for /v1.12 ... /v1.23 clients.
    Route("POST", "/containers/{name:.*}/copy", "container.copy"),
    Route("POST", "/containers/{name:.*}/exec", "container.exec"),
    Route("POST", "/exec/{name:.*}/start", "container.exec.start"),
    Route("POST", "/exec/{name:.*}/resize", "container.exec.resize"),
    Route("POST", "/containers/{name:.*}/rename", "container.rename"),
    Route("POST", "/containers/{name:.*}/update", "container.update"),
    Route("POST", "/containers/prune", "container.prune"),
    Route("POST", "/commit", "container.commit"),  # in the image router before 2025
    Route("PUT", "/containers/{name:.*}/archive", "container.archive.write"),
    Route("DELETE", "/containers/{name:.*}", "container.remove"),
    # image router
    Route("GET", "/images/json", "image.list"),
    Route("GET", "/images/search", "image.search"),
    Route("GET", "/images/get", "image.save"),
    Route("GET", "/images/{name:.*}/get", "image.save"),
    Route("GET", "/images/{name:.*}/history", "image.history"),
    Route("GET", "/images/{name:.*}/json", "image.inspect"),
    Route("POST", "/images/load", "image.load"),
    Route("POST", "/images/create", "image.pull"),  # also import (fromSrc)
    Route("POST", "/images/{name:.*}/push", "image.push"),
    Route("POST", "/images/{name:.*}/tag", "image.tag"),
    Route("POST", "/images/prune", "image.prune"),
    Route("DELETE", "/images/{name:.*}", "image.remove"),
    # system router
    Route("OPTIONS", "/{anyroute:.*}", "system.options"),
    Route("GET", "/_ping", "system.ping"),
    Route("HEAD", "/_ping", "system.ping"),
    Route("GET", "/events", "system.events"),
    Route("GET", "/info", "system.info"),
    Route("GET", "/version", "system.version"),
    Route("GET", "/system/df", "system.df"),
    Route("POST", "/auth", "auth"),
    # volume router
    Route("GET", "/volumes", "volume.list"),
    Route("GET", "/volumes/{name:.*}", "volume.inspect"),
    Route("POST", "/volumes/create", "volume.create"),
    Route("POST", "/volumes/prune", "volume.prune"),
    Route("PUT", "/volumes/{name:.*}", "volume.update"),  # swarm cluster volumes
    Route("DELETE", "/volumes/{name:.*}", "volume.remove"),
    # build router
    Route("POST", "/build", "image.build"),
    Route("POST", "/build/prune", "build.prune"),
    Route("POST", "/build/cancel", "build.cancel"),
    # session router (deprecated in API 1.53): BuildKit's file/secret/ssh session, upgraded
    Route("POST", "/session", "session"),
    # swarm router
    Route("POST", "/swarm/init", "swarm.init"),
    Route("POST", "/swarm/join", "swarm.join"),
    Route("POST", "/swarm/leave", "swarm.leave"),
    Route("GET", "/swarm", "swarm.inspect"),
    Route("GET", "/swarm/unlockkey", "swarm.unlockkey"),
    Route("POST", "/swarm/update", "swarm.update"),
    Route("POST", "/swarm/unlock", "swarm.unlock"),
    Route("GET", "/services", "service.list"),
    Route("GET", "/services/{id}", "service.inspect"),
    Route("POST", "/services/create", "service.create"),
    Route("POST", "/services/{id}/update", "service.update"),
    Route("DELETE", "/services/{id}", "service.remove"),
    Route("GET", "/services/{id}/logs", "service.logs"),
    Route("GET", "/nodes", "node.list"),
    Route("GET", "/nodes/{id}", "node.inspect"),
    Route("DELETE", "/nodes/{id}", "node.remove"),
    Route("POST", "/nodes/{id}/update", "node.update"),
    Route("GET", "/tasks", "task.list"),
    Route("GET", "/tasks/{id}", "task.inspect"),
    Route("GET", "/tasks/{id}/logs", "task.logs"),
    Route("GET", "/secrets", "secret.list"),
    Route("POST", "/secrets/create", "secret.create"),
    Route("DELETE", "/secrets/{id}", "secret.remove"),
    Route("GET", "/secrets/{id}", "secret.inspect"),
    Route("POST", "/secrets/{id}/update", "secret.update"),
    Route("GET", "/configs", "config.list"),
    Route("POST", "/configs/create", "config.create"),
    Route("DELETE", "/configs/{id}", "config.remove"),
    Route("GET", "/configs/{id}", "config.inspect"),
    Route("POST", "/configs/{id}/update", "config.update"),
    # plugin router
    Route("GET", "/plugins", "plugin.list"),
    Route("GET", "/plugins/{name:.*}/json", "plugin.inspect"),
    Route("GET", "/plugins/privileges", "plugin.privileges"),
    Route("DELETE", "/plugins/{name:.*}", "plugin.remove"),
    Route("POST", "/plugins/{name:.*}/enable", "plugin.enable"),
    Route("POST", "/plugins/{name:.*}/disable", "plugin.disable"),
    Route("POST", "/plugins/pull", "plugin.pull"),
    Route("POST", "/plugins/{name:.*}/push", "plugin.push"),
    Route("POST", "/plugins/{name:.*}/upgrade", "plugin.upgrade"),
    Route("POST", "/plugins/{name:.*}/set", "plugin.set"),
    Route("POST", "/plugins/create", "plugin.create"),
    # distribution router
    Route("GET", "/distribution/{name:.*}/json", "distribution.inspect"),
    # network router; "/networks/" (trailing slash) is a route of its own
    Route("GET", "/networks", "network.list"),
    Route("GET", "/networks/", "network.list"),
    Route("GET", "/networks/{id:.+}", "network.inspect"),
    Route("POST", "/networks/create", "network.create"),
    Route("POST", "/networks/{id:.*}/connect", "network.connect"),
    Route("POST", "/networks/{id:.*}/disconnect", "network.disconnect"),
    Route("POST", "/networks/prune", "network.prune"),
    Route("DELETE", "/networks/{id:.*}", "network.remove"),
    # debug router: GET and versioned since API 1.48; dockerd 20.10 registers these paths
    # unversioned for every method, which we leave unknown (denied).
    Route("GET", "/debug/vars", "debug.vars"),
    Route("GET", "/debug/pprof/", "debug.pprof"),
    Route("GET", "/debug/pprof/cmdline", "debug.pprof"),
    Route("GET", "/debug/pprof/profile", "debug.pprof"),
    Route("GET", "/debug/pprof/symbol", "debug.pprof"),
    Route("GET", "/debug/pprof/trace", "debug.pprof"),
    Route("GET", "/debug/pprof/{name}", "debug.pprof"),
    # grpc router (deprecated in API 1.53): BuildKit's control API over an h2c upgrade
    Route("POST", "/grpc", "grpc"),
)

OPERATIONS: frozenset[str] = frozenset(route.operation for route in ROUTES)


@dataclass(frozen=True, slots=True)
class Classification:
    """What dockerd will do with a request: the route it matches (``None``: 404) and its vars.

    ``path`` is the path without the ``/vX.Y`` prefix, ``api_version`` that prefix's version,
    ``params`` the route's template variables (``name``, ``id``, ...), never ``version``.
    """

    route: Route | None
    api_version: str | None
    path: str
    params: Mapping[str, str]  # read-only: classifications are shared between requests

    @property
    def operation(self) -> str:
        return "unknown" if self.route is None else self.route.operation

    @property
    def access(self) -> Access | None:
        return None if self.route is None else self.route.access


_VERSION_PREFIX = re.compile(r"/v([0-9.]+)(?=/)")
_VARIABLE_SEGMENT = ""  # bucket key of routes whose first segment is (or holds) a variable

_Params = tuple[tuple[str, str], ...]
_Buckets = dict[str, dict[str, tuple[tuple[int, Route], ...]]]
_NO_PARAMS: _Params = ()


def _first_segment(path: str) -> str:
    return path[1:].partition("/")[0]


def _bucket_routes(routes: Sequence[Route]) -> _Buckets:
    """Per method, per literal first path segment: the candidate routes in table order.

    Routes whose first segment is a variable (the OPTIONS catch-all) belong to every bucket, in
    their table position; the ``""`` bucket holds only them, for segments no route names.
    """
    buckets: dict[str, dict[str, list[tuple[int, Route]]]] = {}
    for route in routes:  # first every bucket, so that catch-alls can join all of them
        by_segment = buckets.setdefault(route.method, {_VARIABLE_SEGMENT: []})
        segment = _first_segment(route.template)
        by_segment.setdefault(_VARIABLE_SEGMENT if "{" in segment else segment, [])
    for index, route in enumerate(routes):
        by_segment = buckets[route.method]
        segment = _first_segment(route.template)
        if "{" in segment:
            for candidates in by_segment.values():
                candidates.append((index, route))
        else:
            by_segment[segment].append((index, route))
    return {
        method: {segment: tuple(candidates) for segment, candidates in by_segment.items()}
        for method, by_segment in buckets.items()
    }


def _first_match(
    candidates: dict[str, tuple[tuple[int, Route], ...]], path: str
) -> tuple[int, _Params] | None:
    segment = _first_segment(path) if path.startswith("/") else _VARIABLE_SEGMENT
    bucket = candidates.get(segment) or candidates[_VARIABLE_SEGMENT]
    for index, route in bucket:
        match = route.regex.fullmatch(path)
        if match is not None:
            groups = match.groupdict()
            return index, tuple(groups.items()) if groups else _NO_PARAMS
    return None


def _lookup(buckets: _Buckets, method: str, path: str) -> tuple[int, str | None, str, _Params]:
    """(route index or -1, api version, unversioned path, params) for one method and path."""
    versioned = _VERSION_PREFIX.match(path)
    version = versioned.group(1) if versioned else None
    bare_path = path[versioned.end() :] if versioned else path
    candidates = buckets.get(method)
    if candidates is None:
        return -1, version, bare_path, _NO_PARAMS
    # mux tries route 0 versioned, route 0 bare, route 1 versioned, ...: the lowest index wins,
    # and on a tie the versioned registration, which comes first.
    found = _first_match(candidates, bare_path) if versioned else None
    bare = _first_match(candidates, path)
    if bare is not None and (found is None or bare[0] < found[0]):
        return bare[0], None, path, bare[1]
    if found is not None:
        return found[0], version, bare_path, found[1]
    return -1, version, bare_path, _NO_PARAMS


_BUCKETS = _bucket_routes(ROUTES)


MAX_REMEMBERED_PATH = 512  # longer paths are looked up every time: the cache stays small


@lru_cache(maxsize=4096)
def _match_cached(method: str, path: str) -> tuple[int, str | None, str, _Params]:
    return _lookup(_BUCKETS, method, path)


def _match(method: str, path: str) -> tuple[int, str | None, str, _Params]:
    if len(path) > MAX_REMEMBERED_PATH:
        return _lookup(_BUCKETS, method, path)
    return _match_cached(method, path)


def classify_route(method: str, target: RequestTarget) -> Classification:
    """The route dockerd's mux picks for ``method`` and the decoded, clean ``target.path``.

    The method must match exactly (``get`` and ``HEAD`` on a GET route are unknown, as in
    dockerd, which answers them 404). ``route`` is ``None`` for paths dockerd would not route.
    """
    index, version, path, params = _match(method, target.path)
    route = ROUTES[index] if index >= 0 else None
    return Classification(
        route=route, api_version=version, path=path, params=MappingProxyType(dict(params))
    )
