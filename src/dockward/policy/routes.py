"""Every Docker Engine API route, in dockerd's order, and the classifier that matches like it.

``ROUTES`` is dockerd's routing table written out: the routers in the order ``buildRouters``
registers them (checkpoint, container, image, system, volume, build, session, swarm, plugin,
distribution, network, debug, grpc) and each router's routes in its ``initRoutes`` order, as on
moby master (API 1.56), plus the few routes that dockerd 20.10 (API 1.41) still serves and
master dropped. dockerd hands every route to gorilla/mux twice, ``/v{version:[0-9.]+}``-prefixed
first and bare second, and mux takes the first route whose method and anchored path regex match,
so greedy ``{name:.*}`` variables and the row order decide cases such as
``POST /containers/foo/start/kill`` (``container.kill`` of ``foo/start``).

Access tags, one rule each: READ inspects or lists and changes nothing; WRITE changes state on
this host; EXFILTRATE hands out file contents, image contents or process output (or sends them
to a registry); ADMIN changes the daemon, the swarm, plugins, credentials, or reads what is as
good as a credential (swarm join tokens, unlock key, debug endpoints). The policy layer grants
operations, not tags; the tags are for summaries and defaults.

This module owns the table and matching only: the path it matches is the one
``dockward.policy.paths.split_target`` produced (decoded and clean). No I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

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


class Access(enum.StrEnum):
    """What an operation can do to the host or its data; see the module docstring."""

    READ = "read"
    WRITE = "write"
    EXFILTRATE = "exfiltrate"
    ADMIN = "admin"


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

    ``hijack`` marks endpoints whose answer may turn the connection into a raw byte pipe (101
    Upgrade, or a 200 raw stream after which the daemon reads and writes the bare socket).
    ``regex`` is matched with ``fullmatch`` against the path with any ``/vX.Y`` prefix removed.
    """

    method: str
    template: str
    operation: str
    access: Access
    hijack: bool = False
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", compile_template(self.template))


_READ, _WRITE, _EXFIL, _ADMIN = Access.READ, Access.WRITE, Access.EXFILTRATE, Access.ADMIN

ROUTES: tuple[Route, ...] = (
    # checkpoint router: experimental, but always registered, so it masks the container router
    # (its own comment: "or the DELETE gets masked"). CheckpointDir names a host directory.
    Route("GET", "/containers/{name:.*}/checkpoints", "checkpoint.list", _READ),
    Route("POST", "/containers/{name:.*}/checkpoints", "checkpoint.create", _ADMIN),
    Route("DELETE", "/containers/{name}/checkpoints/{checkpoint}", "checkpoint.delete", _ADMIN),
    # container router
    Route("HEAD", "/containers/{name:.*}/archive", "container.archive.stat", _READ),
    Route("GET", "/containers/json", "container.list", _READ),
    Route("GET", "/containers/{name:.*}/export", "container.export", _EXFIL),
    Route("GET", "/containers/{name:.*}/changes", "container.changes", _READ),
    Route("GET", "/containers/{name:.*}/json", "container.inspect", _READ),
    Route("GET", "/containers/{name:.*}/top", "container.top", _READ),
    Route("GET", "/containers/{name:.*}/logs", "container.logs", _EXFIL),
    Route("GET", "/containers/{name:.*}/stats", "container.stats", _READ),
    Route("GET", "/containers/{name:.*}/attach/ws", "container.attach_ws", _EXFIL, hijack=True),
    Route("GET", "/exec/{id:.*}/json", "container.exec.inspect", _READ),
    Route("GET", "/containers/{name:.*}/archive", "container.archive.read", _EXFIL),
    Route("POST", "/containers/create", "container.create", _WRITE),
    Route("POST", "/containers/{name:.*}/kill", "container.kill", _WRITE),
    Route("POST", "/containers/{name:.*}/pause", "container.pause", _WRITE),
    Route("POST", "/containers/{name:.*}/unpause", "container.unpause", _WRITE),
    Route("POST", "/containers/{name:.*}/restart", "container.restart", _WRITE),
    Route("POST", "/containers/{name:.*}/start", "container.start", _WRITE),
    Route("POST", "/containers/{name:.*}/stop", "container.stop", _WRITE),
    Route("POST", "/containers/{name:.*}/wait", "container.wait", _READ),
    Route("POST", "/containers/{name:.*}/resize", "container.resize", _WRITE),
    Route("POST", "/containers/{name:.*}/attach", "container.attach", _WRITE, hijack=True),
    # removed in 2024 with API versions < 1.24: the pre-1.20 file copy, still live on dockerd
    # 20.10 for /v1.12 ... /v1.23 clients.
    Route("POST", "/containers/{name:.*}/copy", "container.copy", _EXFIL),
    Route("POST", "/containers/{name:.*}/exec", "container.exec", _WRITE),
    Route("POST", "/exec/{name:.*}/start", "container.exec.start", _WRITE, hijack=True),
    Route("POST", "/exec/{name:.*}/resize", "container.exec.resize", _WRITE),
    Route("POST", "/containers/{name:.*}/rename", "container.rename", _WRITE),
    Route("POST", "/containers/{name:.*}/update", "container.update", _WRITE),
    Route("POST", "/containers/prune", "container.prune", _WRITE),
    Route("POST", "/commit", "container.commit", _WRITE),  # in the image router before 2025
    Route("PUT", "/containers/{name:.*}/archive", "container.archive.write", _WRITE),
    Route("DELETE", "/containers/{name:.*}", "container.remove", _WRITE),
    # image router
    Route("GET", "/images/json", "image.list", _READ),
    Route("GET", "/images/search", "image.search", _READ),
    Route("GET", "/images/get", "image.save", _EXFIL),
    Route("GET", "/images/{name:.*}/get", "image.save", _EXFIL),
    Route("GET", "/images/{name:.*}/history", "image.history", _READ),
    Route("GET", "/images/{name:.*}/json", "image.inspect", _READ),
    Route("POST", "/images/load", "image.load", _WRITE),
    Route("POST", "/images/create", "image.pull", _WRITE),  # also import (fromSrc)
    Route("POST", "/images/{name:.*}/push", "image.push", _EXFIL),
    Route("POST", "/images/{name:.*}/tag", "image.tag", _WRITE),
    Route("POST", "/images/prune", "image.prune", _WRITE),
    Route("DELETE", "/images/{name:.*}", "image.remove", _WRITE),
    # system router
    Route("OPTIONS", "/{anyroute:.*}", "system.options", _READ),
    Route("GET", "/_ping", "system.ping", _READ),
    Route("HEAD", "/_ping", "system.ping", _READ),
    Route("GET", "/events", "system.events", _READ),
    Route("GET", "/info", "system.info", _READ),
    Route("GET", "/version", "system.version", _READ),
    Route("GET", "/system/df", "system.df", _READ),
    Route("POST", "/auth", "auth", _ADMIN),
    # volume router
    Route("GET", "/volumes", "volume.list", _READ),
    Route("GET", "/volumes/{name:.*}", "volume.inspect", _READ),
    Route("POST", "/volumes/create", "volume.create", _WRITE),
    Route("POST", "/volumes/prune", "volume.prune", _WRITE),
    Route("PUT", "/volumes/{name:.*}", "volume.update", _WRITE),  # swarm cluster volumes
    Route("DELETE", "/volumes/{name:.*}", "volume.remove", _WRITE),
    # build router
    Route("POST", "/build", "image.build", _WRITE),
    Route("POST", "/build/prune", "build.prune", _WRITE),
    Route("POST", "/build/cancel", "build.cancel", _WRITE),
    # session router (deprecated in API 1.53): BuildKit's file/secret/ssh session, upgraded
    Route("POST", "/session", "session", _WRITE, hijack=True),
    # swarm router; GET /swarm answers with the join tokens, so it is ADMIN, not READ
    Route("POST", "/swarm/init", "swarm.init", _ADMIN),
    Route("POST", "/swarm/join", "swarm.join", _ADMIN),
    Route("POST", "/swarm/leave", "swarm.leave", _ADMIN),
    Route("GET", "/swarm", "swarm.inspect", _ADMIN),
    Route("GET", "/swarm/unlockkey", "swarm.unlockkey", _ADMIN),
    Route("POST", "/swarm/update", "swarm.update", _ADMIN),
    Route("POST", "/swarm/unlock", "swarm.unlock", _ADMIN),
    Route("GET", "/services", "service.list", _READ),
    Route("GET", "/services/{id}", "service.inspect", _READ),
    Route("POST", "/services/create", "service.create", _WRITE),
    Route("POST", "/services/{id}/update", "service.update", _WRITE),
    Route("DELETE", "/services/{id}", "service.remove", _WRITE),
    Route("GET", "/services/{id}/logs", "service.logs", _EXFIL),
    Route("GET", "/nodes", "node.list", _READ),
    Route("GET", "/nodes/{id}", "node.inspect", _READ),
    Route("DELETE", "/nodes/{id}", "node.remove", _ADMIN),
    Route("POST", "/nodes/{id}/update", "node.update", _ADMIN),
    Route("GET", "/tasks", "task.list", _READ),
    Route("GET", "/tasks/{id}", "task.inspect", _READ),
    Route("GET", "/tasks/{id}/logs", "task.logs", _EXFIL),
    Route("GET", "/secrets", "secret.list", _READ),
    Route("POST", "/secrets/create", "secret.create", _ADMIN),
    Route("DELETE", "/secrets/{id}", "secret.remove", _ADMIN),
    Route("GET", "/secrets/{id}", "secret.inspect", _READ),
    Route("POST", "/secrets/{id}/update", "secret.update", _ADMIN),
    Route("GET", "/configs", "config.list", _READ),
    Route("POST", "/configs/create", "config.create", _ADMIN),
    Route("DELETE", "/configs/{id}", "config.remove", _ADMIN),
    Route("GET", "/configs/{id}", "config.inspect", _READ),
    Route("POST", "/configs/{id}/update", "config.update", _ADMIN),
    # plugin router
    Route("GET", "/plugins", "plugin.list", _READ),
    Route("GET", "/plugins/{name:.*}/json", "plugin.inspect", _READ),
    Route("GET", "/plugins/privileges", "plugin.privileges", _READ),
    Route("DELETE", "/plugins/{name:.*}", "plugin.remove", _ADMIN),
    Route("POST", "/plugins/{name:.*}/enable", "plugin.enable", _ADMIN),
    Route("POST", "/plugins/{name:.*}/disable", "plugin.disable", _ADMIN),
    Route("POST", "/plugins/pull", "plugin.pull", _ADMIN),
    Route("POST", "/plugins/{name:.*}/push", "plugin.push", _ADMIN),
    Route("POST", "/plugins/{name:.*}/upgrade", "plugin.upgrade", _ADMIN),
    Route("POST", "/plugins/{name:.*}/set", "plugin.set", _ADMIN),
    Route("POST", "/plugins/create", "plugin.create", _ADMIN),
    # distribution router
    Route("GET", "/distribution/{name:.*}/json", "distribution.inspect", _READ),
    # network router; "/networks/" (trailing slash) is a route of its own
    Route("GET", "/networks", "network.list", _READ),
    Route("GET", "/networks/", "network.list", _READ),
    Route("GET", "/networks/{id:.+}", "network.inspect", _READ),
    Route("POST", "/networks/create", "network.create", _WRITE),
    Route("POST", "/networks/{id:.*}/connect", "network.connect", _WRITE),
    Route("POST", "/networks/{id:.*}/disconnect", "network.disconnect", _WRITE),
    Route("POST", "/networks/prune", "network.prune", _WRITE),
    Route("DELETE", "/networks/{id:.*}", "network.remove", _WRITE),
    # debug router: GET and versioned since API 1.48; dockerd 20.10 registers these paths
    # unversioned for every method, which we leave unknown (denied).
    Route("GET", "/debug/vars", "debug.vars", _ADMIN),
    Route("GET", "/debug/pprof/", "debug.pprof", _ADMIN),
    Route("GET", "/debug/pprof/cmdline", "debug.pprof", _ADMIN),
    Route("GET", "/debug/pprof/profile", "debug.pprof", _ADMIN),
    Route("GET", "/debug/pprof/symbol", "debug.pprof", _ADMIN),
    Route("GET", "/debug/pprof/trace", "debug.pprof", _ADMIN),
    Route("GET", "/debug/pprof/{name}", "debug.pprof", _ADMIN),
    # grpc router (deprecated in API 1.53): BuildKit's control API over an h2c upgrade
    Route("POST", "/grpc", "grpc", _WRITE, hijack=True),
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
