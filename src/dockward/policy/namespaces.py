"""Private name spaces: two owners may each have a container, volume or network called ``app``.

Under a role with ``names = "private"`` (and scope ``own`` or ``role``), every container,
volume and network name its identities give is stored at the daemon under the owner's prefix
(``name_prefix``), and every answer they get back has that prefix taken off again, so that a
client never sees it:

* **in**: the path object of a request (``/containers/{name}``, ``/volumes/{name}``,
  ``/networks/{id}``), the ``name`` of a create or rename, the commit's ``container``, a build's
  ``networkmode``, the name-bearing ``filters`` (``name``, ``before``, ``since``, ``volume``,
  ``network``, ``container``), and the create bodies (``rewrite_body``): a volume's or
  network's ``Name``, named volumes in ``Binds`` and ``Mounts``, ``VolumesFrom``, ``Links``,
  ``container:`` modes, ``NetworkMode``, ``NetworkingConfig.EndpointsConfig`` keys and their
  ``Links``, a network's ``ConfigFrom``, ``network connect``'s ``Container``;
* **out**: every collected answer (lists, inspects, creates, ``system df``, errors) and every
  event message has the prefix removed wherever a name starts (``Namespace.strip``).

A reference (a path object, a body or query reference) is the owner's name first, as dockerd
reads a name before an ID prefix: it is moved under the prefix, and when the lookup the tenancy
checks make anyway finds nothing there, it is forwarded as written (``fallbacks``): an ID
prefix, or an object made before the role's names were private; ownership is judged on what
it names either way. A full (64-digit) ID is never moved. ``bridge``, ``host``, ``none`` and
``default`` are the daemon's networks, never prefixed. A filter value has no lookup: it is
moved unless it is made of the digits 0-9a-f only (an ID).

The tenancy checks (``dockward.policy.tenancy``) and pinning (``dockward.policy.pinning``) run
after this, on the prefixed names, exactly as on names the client had written that way.

Pure functions over bytes and strings: no I/O.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote, unquote_plus

from dockward.errors import ProtocolError
from dockward.http1.request import replace_request_target
from dockward.policy.decision import Decision
from dockward.policy.gojson import GoObject
from dockward.policy.operations import ROWS, Kind, Place
from dockward.policy.paths import parse_query
from dockward.policy.profiles import FactQuery

if TYPE_CHECKING:
    from dockward.policy.routes import Classification

PREDEFINED_NETWORKS = frozenset({"bridge", "host", "none", "default"})
_FULL_ID = re.compile(r"[0-9a-f]{64}")
_ID_LIKE = re.compile(r"[0-9a-f]{1,64}")
_ANONYMOUS_VOLUME = _FULL_ID
_SLUG_CHARACTERS = re.compile(r"[^a-z0-9]+")
_HASH_DIGITS = 8
_SLUG_LENGTH = 24
# characters of a name (container, volume) or of a prefix: a prefix is removed only where no
# such character comes before it, that is where a name starts
_NAME_CHARACTER = "A-Za-z0-9_.-"


@functools.lru_cache(maxsize=1024)
def name_prefix(owner: str) -> str:
    """The prefix of ``owner``'s names at the daemon: ``cn-alice.1f0c3a9e.``.

    The readable part is the owner key lower-cased, every run of other characters one ``-``;
    the 8 hex digits (SHA-256 of the owner key) keep two owners whose readable parts agree
    apart. Valid at the start of a container, volume and network name alike.
    """
    slug = _SLUG_CHARACTERS.sub("-", owner.lower()).strip("-")[:_SLUG_LENGTH].rstrip("-")
    digest = hashlib.sha256(owner.encode("utf-8")).hexdigest()[:_HASH_DIGITS]
    return f"{slug or 'owner'}.{digest}."


def names_summary(names: str) -> str:
    """One line saying what a role's ``names`` means (``policy explain``)."""
    if names == "private":
        return (
            "private (container, volume and network names are the owner's own: stored at the "
            "daemon as OWNER-PREFIX.NAME, shown without the prefix)"
        )
    return "shared (one name space for the daemon: a name another owner holds is refused, 409)"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A name a private name space cannot take; answer ``status`` with ``message``."""

    status: int
    message: str


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.refusal = Refusal(400, message)


class Namespace:
    """One owner's name space: names in (``container``, ``volume``, ``network``), names out
    (``strip``)."""

    __slots__ = ("_strip_bytes", "_strip_text", "prefix")

    def __init__(self, owner: str) -> None:
        self.prefix = name_prefix(owner)
        pattern = f"(?<![{_NAME_CHARACTER}]){re.escape(self.prefix)}"
        self._strip_text = re.compile(pattern)
        self._strip_bytes = re.compile(pattern.encode("ascii"))

    # --- in ------------------------------------------------------------------------------

    def container(self, reference: str) -> str:
        """A container reference as the daemon would hold it were it the owner's name; a full
        ID stays (dockerd matches a full ID before any name)."""
        if not reference or _FULL_ID.fullmatch(reference):
            return reference
        slash = "/" if reference.startswith("/") else ""
        return slash + self.prefix + reference[len(slash) :]

    def network(self, reference: str) -> str:
        if not reference or _FULL_ID.fullmatch(reference):
            return reference
        if reference.lower() in PREDEFINED_NETWORKS:
            return reference
        return self.prefix + reference

    def volume(self, reference: str) -> str:
        if not reference or _ANONYMOUS_VOLUME.fullmatch(reference):
            return reference
        return self.prefix + reference

    def new_name(self, kind: str, name: str) -> str:
        """The name a create (or rename) takes: always under the prefix, whatever it looks
        like (a reference to it finds it first, as dockerd finds a name before an ID prefix)."""
        if not name or (kind == "network" and name.lower() in PREDEFINED_NETWORKS):
            return name
        slash = "/" if kind == "container" and name.startswith("/") else ""
        return slash + self.prefix + name[len(slash) :]

    def mode(self, mode: str) -> str:
        """A ``NetworkMode`` (``container:NAME``, a network, or a predefined mode)."""
        kind, colon, name = mode.partition(":")
        if colon and kind.lower() == "container":
            return f"{kind}:{self.container(name)}"
        return self.network(mode)

    # --- out -----------------------------------------------------------------------------

    def strip(self, data: bytes) -> bytes:
        """``data`` with the prefix removed wherever a name starts with it."""
        if self.prefix.encode("ascii") not in data:
            return data
        return self._strip_bytes.sub(b"", data)

    def strip_text(self, text: str) -> str:
        return self._strip_text.sub("", text) if self.prefix in text else text


@functools.lru_cache(maxsize=1024)
def namespace(owner: str) -> Namespace:
    return Namespace(owner)


class Mover:
    """One request's references being moved into a name space, minus ``kept``: the
    references found to name no object of the owner's (``fallbacks``), forwarded as written
    (an ID prefix, an object made before the role's names were private). Every reference
    moved is recorded in ``moved`` as (kind, as written, as stored)."""

    __slots__ = ("kept", "moved", "prefix", "space")

    def __init__(self, space: Namespace, kept: frozenset[tuple[str, str]] = frozenset()) -> None:
        self.space = space
        self.prefix = space.prefix
        self.kept = kept
        self.moved: list[tuple[str, str, str]] = []

    def _moved(self, kind: str, written: str, stored: str) -> str:
        if (kind, written.lstrip("/")) in self.kept:
            return written
        if stored != written:
            self.moved.append((kind, written, stored))
        return stored

    def container(self, reference: str) -> str:
        return self._moved("container", reference, self.space.container(reference))

    def network(self, reference: str) -> str:
        return self._moved("network", reference, self.space.network(reference))

    def volume(self, reference: str) -> str:
        return self._moved("volume", reference, self.space.volume(reference))

    def mode(self, mode: str) -> str:
        kind, colon, name = mode.partition(":")
        if colon and kind.lower() == "container":
            return f"{kind}:{self.container(name)}"
        return self.network(mode)

    def new_name(self, kind: str, name: str) -> str:
        return self.space.new_name(kind, name)


def _mover(space: Namespace | Mover) -> Mover:
    return space if isinstance(space, Mover) else Mover(space)


# --- the request target ------------------------------------------------------------------

PATH_KINDS: Mapping[str, tuple[str, Kind]] = {
    row.name: (ref.field, ref.kind)
    for row in ROWS
    for ref in row.refs
    if ref.place is Place.PATH and ref.kind in (Kind.CONTAINER, Kind.VOLUME, Kind.NETWORK)
}
"""Operations whose path names a container, volume or network: (variable, kind), from the
operation registry."""

# query keys naming a container, volume or network, per operation (besides ``filters``)
_QUERY_REFERENCES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "container.create": (("name", "new container"),),
    "container.rename": (("name", "new container"),),
    "container.commit": (("container", "container"),),
    "image.build": (("networkmode", "mode"),),
}

FILTERED_NAMES = frozenset(
    {
        "container.list",
        "volume.list",
        "network.list",
        "system.events",
        "container.prune",
        "volume.prune",
        "network.prune",
    }
)
"""Operations whose ``filters`` may name containers, volumes or networks."""

# filters keys that take a reference, by the kind they name; ``name`` is a pattern (below)
_FILTER_REFERENCES = {
    "before": "container",
    "since": "container",
    "container": "container",
    "network": "network",
    "volume": "volume",
}


def _reference(space: Mover, kind: str, value: str) -> str:
    if kind == "container":
        return space.container(value)
    if kind == "network":
        return space.network(value)
    if kind == "volume":
        # a container list's volume filter takes a mount destination too
        return value if value.startswith("/") else space.volume(value)
    if kind == "mode":
        return space.mode(value)
    return space.new_name(kind.removeprefix("new "), value)


def _name_pattern(space: Mover, pattern: str, slash: bool) -> str:
    """A ``name`` filter (a Go regular expression matched against the daemon's names) that
    matches the prefixed names as the written one matched the plain ones, where it is
    anchored at a name's start (``^web``, ``^/web``, ``/web``). A pattern anchored nowhere is
    kept: it matches the prefixed names too (and may match inside the prefix)."""
    escaped = space.prefix.replace(".", "\\.")  # Go reads the pattern: only the dots
    if pattern.startswith("^/") and slash:
        return "^/" + escaped + pattern[2:]
    if pattern.startswith("^"):
        return "^" + escaped + pattern[1:]
    if pattern.startswith("/") and slash:
        return "/" + escaped + pattern[1:]
    return pattern


def filters_document(text: str) -> dict[str, Any]:
    """A ``filters`` query value as the JSON object it must be, or the 400 that says why not."""
    try:
        document = json.loads(text)
    except ValueError:
        raise ProtocolError("query filters is not valid JSON") from None
    if not isinstance(document, dict):
        raise ProtocolError("query filters is not a JSON object")
    return document


def rewrite_filters(space: Namespace | Mover, operation: str, text: str) -> str:
    """A ``filters`` value with its names and references moved into the name space (no
    lookup says whether the owner has a name here: a value of hex digits only is an ID)."""
    space = Mover(space.space if isinstance(space, Mover) else space)
    document = filters_document(text)
    changed = False
    for key, value in document.items():
        kind = _FILTER_REFERENCES.get(key)
        if kind is None and key != "name":
            continue
        if isinstance(value, dict) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            values = list(value)
        else:
            raise ProtocolError(f"query filters: {key!r} is not a filter list")
        if key == "name":
            moved = [_name_pattern(space, v, operation == "container.list") for v in values]
        else:
            moved = [
                v if _ID_LIKE.fullmatch(v) else _reference(space, kind or "", v) for v in values
            ]
        if moved != values:
            document[key] = dict.fromkeys(moved, True)
            changed = True
    return json.dumps(document, separators=(",", ":")) if changed else text


def _replace_query(query: str, replaced: Mapping[str, str]) -> str:
    """``query`` (already read by ``parse_query``) with the values of ``replaced``'s keys."""
    pairs = []
    for pair in query.split("&") if query else ():
        raw_key = pair.partition("=")[0]
        key = unquote_plus(raw_key) if "%" in raw_key or "+" in raw_key else raw_key
        if key in replaced:
            pairs.append(f"{raw_key}={quote(replaced[key], safe='')}")
        else:
            pairs.append(pair)
    return "&".join(pairs)


def rewrite_target(
    space: Namespace | Mover,
    operation: str,
    template: str,
    params: Mapping[str, str],
    api_version: str | None,
    query: str,
) -> str | Refusal | None:
    """The request target with its names in the name space; ``None``: nothing to change."""
    space = _mover(space)
    try:
        path = _path(space, operation, template, params)
        new_query = _query(space, operation, query)
    except _Refused as refused:
        return refused.refusal
    if path is None and new_query is None:
        return None
    if path is None:
        path = _fill(template, params)
    version = f"/v{api_version}" if api_version is not None else ""
    final_query = query if new_query is None else new_query
    return f"{version}{path}" + (f"?{final_query}" if final_query else "")


def _fill(template: str, params: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        return quote(params.get(match.group(1), ""), safe="")

    return re.sub(r"\{([A-Za-z_]+)(?::[^{}]*)?\}", value, template)


def _path(space: Mover, operation: str, template: str, params: Mapping[str, str]) -> str | None:
    spec = PATH_KINDS.get(operation)
    if spec is None:
        return None
    variable, kind = spec
    written = params.get(variable, "")
    moved = _reference(space, str(kind), written)
    if moved == written:
        return None
    return _fill(template, {**params, variable: moved})


def _query(space: Mover, operation: str, query: str) -> str | None:
    if not query:
        return None
    params = parse_query(query)
    replaced: dict[str, str] = {}
    for key, kind in _QUERY_REFERENCES.get(operation, ()):
        values = params.get(key)
        if values and len(values) == 1 and values[0]:
            moved = _reference(space, kind, values[0].lstrip("/") if "new" in kind else values[0])
            if moved != values[0]:
                replaced[key] = moved
        elif values and len(values) > 1:
            raise _Refused(f"query {key!r} is given {len(values)} times: give it once")
    if operation in FILTERED_NAMES:
        values = params.get("filters")
        if values and len(values) > 1:
            raise _Refused("query 'filters' is given more than once: give it once")
        if values and values[0]:
            moved = rewrite_filters(space, operation, values[0])
            if moved != values[0]:
                replaced["filters"] = moved
    return _replace_query(query, replaced) if replaced else None


NAMED_TARGETS = frozenset(PATH_KINDS) | frozenset(_QUERY_REFERENCES) | FILTERED_NAMES
"""Operations whose path or query may name a container, volume or network."""


# --- the request body --------------------------------------------------------------------

Step: TypeAlias = str | int


class _Body:
    """One body being moved into the name space: the decoded document and the changes, each
    a path of keys as written and indexes, with the new value (or the new key, ``renamed``)."""

    def __init__(self, space: Mover, document: GoObject) -> None:
        self.space = space
        self.document = document
        self.changes: list[tuple[tuple[Step, ...], str, bool]] = []

    def replace(self, path: tuple[Step, ...], old: str, new: str) -> None:
        if new != old:
            self.changes.append((path, new, False))

    def rename(self, path: tuple[Step, ...], new: str) -> None:
        """The last step of ``path`` (a key of a map) becomes ``new``."""
        if new != path[-1]:
            self.changes.append((path, new, True))

    def sections(self) -> Iterator[tuple[tuple[Step, ...], GoObject]]:
        """The inner HostConfig and the top level (dockerd before 27 reads it as one)."""
        key = self.document.key_for("HostConfig")
        inner = self.document.obj("HostConfig")
        if key is not None and inner is not None:
            yield (key,), inner
        yield (), self.document


def _link(space: Mover, link: str) -> str:
    """``NAME[:ALIAS]`` with the name moved; a bare name keeps itself as the alias, as dockerd
    would have taken it (the container sees the link under the name the client wrote)."""
    name, colon, alias = link.partition(":")
    moved = space.container(name)
    if moved == name:
        return link
    return f"{moved}:{alias if colon else name.rpartition('/')[2]}"


def _binds(body: _Body, section: tuple[Step, ...], holder: GoObject) -> None:
    key = holder.key_for("Binds")
    if key is None:
        return
    for index, spec in enumerate(holder.strings_of(key)):
        parts = spec.split(":")
        if len(parts) in (2, 3) and parts[0] and not parts[0].startswith("/"):
            moved = ":".join([body.space.volume(parts[0]), *parts[1:]])
            body.replace((*section, key, index), spec, moved)


def _mounts(body: _Body, section: tuple[Step, ...], holder: GoObject) -> None:
    key = holder.key_for("Mounts")
    if key is None:
        return
    for index, mount in enumerate(holder.objects_of(key)):
        source_key = mount.key_for("Source")
        source = mount.str_of("Source") or ""
        if (mount.str_of("Type") or "").lower() == "volume" and source and source_key:
            body.replace((*section, key, index, source_key), source, body.space.volume(source))


def _container_fields(body: _Body, section: tuple[Step, ...], holder: GoObject) -> None:
    space = body.space
    key = holder.key_for("VolumesFrom")
    if key is not None:
        for index, spec in enumerate(holder.strings_of(key)):
            name, colon, mode = spec.partition(":")
            body.replace((*section, key, index), spec, space.container(name) + colon + mode)
    key = holder.key_for("Links")
    if key is not None:
        for index, link in enumerate(holder.strings_of(key)):
            body.replace((*section, key, index), link, _link(space, link))
    for field in ("NetworkMode", "PidMode", "IpcMode"):
        key = holder.key_for(field)
        mode = holder.str_of(field) or "" if key is not None else ""
        if key is None or not mode:
            continue
        kind, colon, name = mode.partition(":")
        if colon and kind.lower() == "container":
            body.replace((*section, key), mode, f"{kind}:{space.container(name)}")
        elif field == "NetworkMode":
            body.replace((*section, key), mode, space.network(mode))


def _endpoint_links(body: _Body, path: tuple[Step, ...], endpoint: GoObject) -> None:
    key = endpoint.key_for("Links")
    if key is not None:
        for index, link in enumerate(endpoint.strings_of(key)):
            body.replace((*path, key, index), link, _link(body.space, link))


def _endpoints(body: _Body) -> None:
    networking_key = body.document.key_for("NetworkingConfig")
    networking = body.document.obj("NetworkingConfig")
    if networking_key is None or networking is None:
        return
    key = networking.key_for("EndpointsConfig")
    endpoints = networking.map_of("EndpointsConfig")
    if key is None or not endpoints:
        return
    path = (networking_key, key)
    for network, endpoint in endpoints.items():
        if isinstance(endpoint, GoObject):
            _endpoint_links(body, (*path, network), endpoint)
    for network in endpoints:  # renamed last: the links above are found under the old keys
        body.rename((*path, network), body.space.network(network))


def _container_create(body: _Body) -> None:
    for section, holder in list(body.sections()):
        _binds(body, section, holder)
        _mounts(body, section, holder)
        _container_fields(body, section, holder)
    _endpoints(body)


def _named_create(kind: str) -> Callable[[_Body], None]:
    def rewrite(body: _Body) -> None:
        key = body.document.key_for("Name")
        name = body.document.str_of("Name") or ""
        if key is not None and name:
            body.replace((key,), name, body.space.new_name(kind, name))
        if kind == "network":
            config_key = body.document.key_for("ConfigFrom")
            config = body.document.obj("ConfigFrom")
            network_key = config.key_for("Network") if config is not None else None
            if config is not None and config_key is not None and network_key is not None:
                network = config.str_of("Network") or ""
                body.replace((config_key, network_key), network, body.space.network(network))

    return rewrite


def _connect(body: _Body) -> None:
    key = body.document.key_for("Container")
    name = body.document.str_of("Container") or ""
    if key is not None and name:
        body.replace((key,), name, body.space.container(name))
    endpoint_key = body.document.key_for("EndpointConfig")
    endpoint = body.document.obj("EndpointConfig")
    if endpoint_key is not None and endpoint is not None:
        _endpoint_links(body, (endpoint_key,), endpoint)


BODY_REWRITERS: Mapping[str, Callable[[_Body], None]] = {
    "container.create": _container_create,
    "volume.create": _named_create("volume"),
    "network.create": _named_create("network"),
    "network.connect": _connect,
    "network.disconnect": _connect,
}
"""Operations whose JSON body names containers, volumes or networks, and how it is moved."""


def rewrite_body(
    space: Namespace | Mover, operation: str, raw: bytes, document: object
) -> bytes | Refusal:
    """``raw`` (decoded as ``document``) with every name it gives moved into the name space;
    the same object when none is."""
    moved = rewrite_document(space, operation, raw, document)
    return moved if isinstance(moved, Refusal) else moved[0]


def rewrite_document(
    space: Namespace | Mover, operation: str, raw: bytes, document: object
) -> tuple[bytes, object] | Refusal:
    """The body and its decoding with every name it gives moved (the same objects when none
    is). A changed body is encoded again from the changed document, so that what dockerd
    reads is exactly what the checks then judge: keys and their order as written, strings
    escaped to ASCII, numbers as Python reads them (a number beyond a double is refused)."""
    rewriter = BODY_REWRITERS.get(operation)
    if rewriter is None or not isinstance(document, GoObject):
        return raw, document
    body = _Body(_mover(space), document)
    try:
        rewriter(body)
        if not body.changes:
            return raw, document
        changes: dict[Step, object] = {}
        for path, value, renamed in body.changes:
            _plan(changes, path, _Renamed(value) if renamed else value)
        changed = _changed(document, changes)
        encoded = json.dumps(changed, separators=(",", ":"), allow_nan=False).encode("ascii")
    except _Refused as refused:
        return refused.refusal
    except ProtocolError as err:  # a rename onto a key the map has: Go would merge them
        return Refusal(err.status, f"the request body cannot be moved into its name space: {err}")
    except ValueError:
        return Refusal(400, "the request body holds a number beyond a double: it cannot be moved")
    return encoded, changed


@dataclass(frozen=True, slots=True)
class _Renamed:
    """A change of a map key (the value stays)."""

    key: str


def _plan(changes: dict[Step, object], path: tuple[Step, ...], change: object) -> None:
    """Add ``change`` at ``path`` to a tree of changes: each object on the way copied once."""
    step, rest = path[0], path[1:]
    if not rest:
        if isinstance(change, _Renamed):  # the key is renamed, the changes below it stay
            below = changes.get(step)
            changes[step] = (change, below if isinstance(below, dict) else {})
        else:
            changes[step] = change
        return
    below = changes.get(step)
    if isinstance(below, tuple):
        below = below[1]
    elif not isinstance(below, dict):
        below = changes[step] = {}
    _plan(below, rest, change)


def _changed(node: object, changes: dict[Step, object]) -> object:
    """``node`` with ``changes`` made: the objects on the way copied, the rest shared (every
    GoObject and list is read as immutable)."""

    def value(item: object, change: object) -> object:
        if isinstance(change, tuple):
            change = change[1]
        return _changed(item, change) if isinstance(change, dict) else change

    if isinstance(node, GoObject):
        keyed = {str(k): c for k, c in changes.items()}
        renames = {k: c[0].key for k, c in keyed.items() if isinstance(c, tuple)}
        values = {k: value(node[k], c) for k, c in keyed.items() if c != {}}
        if not renames:
            return node.with_values(values)
        return GoObject([(renames.get(k, k), values.get(k, item)) for k, item in node.items()])
    assert isinstance(node, list)
    copy = list(node)
    for index, change in changes.items():
        assert isinstance(index, int)
        copy[index] = value(node[index], change)
    return copy


# --- what the relay asks -----------------------------------------------------------------

NAMED_ANSWERS = frozenset(
    {
        "container.list",
        "container.inspect",
        "container.create",
        "container.update",
        "container.stats",
        "volume.list",
        "volume.inspect",
        "volume.create",
        "network.list",
        "network.inspect",
        "network.create",
        "system.df",
        "container.prune",
        "volume.prune",
        "network.prune",
    }
)
"""Answers that name containers, volumes or networks: collected (``container.stats``:
streamed line by line) and sent with the prefix removed."""

STRIPPED_STREAMS = frozenset({"container.stats"})
"""Answers streamed as JSON lines whose names lose the prefix line by line."""


def space_of(decision: Decision) -> Namespace | None:
    """The caller's name space, ``None`` when its role shares one with everybody."""
    if not decision.private_names or decision.owner is None:
        return None
    return namespace(decision.owner)


@dataclass(frozen=True, slots=True)
class Entered:
    """A request with its names moved: the head and body to judge and forward, and the
    references moved (kind, as written, as stored) for ``fallbacks``."""

    head: bytes
    body: bytes | None
    document: object  # the body decoded (the changed document when it was changed)
    moved: tuple[tuple[str, str, str], ...]


def enter_request(
    decision: Decision,
    request: Classification,
    head: bytes,
    body: bytes | None,
    document: object,
    kept: frozenset[tuple[str, str]] = frozenset(),
) -> Entered | Refusal:
    """The request (``head``, ``body`` decoded as ``document``) with the names of its target
    and body moved into the caller's name space, but the references in ``kept``."""
    space = space_of(decision)
    route = request.route
    if space is None or route is None:
        return Entered(head, body, document, ())
    mover = Mover(space, kept)
    operation = route.operation
    if operation in NAMED_TARGETS:
        line = head[: head.index(b"\r\n")]
        query = line.split(b" ")[1].partition(b"?")[2].decode("latin-1")
        try:
            target = rewrite_target(
                mover, operation, route.template, request.params, request.api_version, query
            )
        except ProtocolError as err:
            return Refusal(err.status, str(err))
        if isinstance(target, Refusal):
            return target
        if target is not None:
            head = replace_request_target(head, target.encode("latin-1"))
    if body is not None and operation in BODY_REWRITERS:
        moved = rewrite_document(mover, operation, body, document)
        if isinstance(moved, Refusal):
            return moved
        body, document = moved
    return Entered(head, body, document, tuple(mover.moved))


def fallbacks(
    moved: tuple[tuple[str, str, str], ...], facts: Mapping[FactQuery, object]
) -> frozenset[tuple[str, str]]:
    """The moved references the daemon answered it has no object for under the prefix: they
    are forwarded as written (an ID prefix; an object made before the names were private;
    or a missing name, which the tenancy checks then judge as the client wrote it)."""
    kept = set()
    for kind, written, stored in moved:
        query = FactQuery(kind, stored.lstrip("/"))  # type: ignore[arg-type]
        if query in facts and facts[query] is None:
            kept.add((kind, written.lstrip("/")))
    return frozenset(kept)


def shown(decision: Decision | None, message: str) -> str:
    """A message as the caller is shown it: its own names without the prefix."""
    space = space_of(decision) if decision is not None else None
    return message if space is None else space.strip_text(message)


def rewrites_answer(decision: Decision, status: int) -> bool:
    """Whether an answer of ``status`` (with a body) is collected or filtered before it is
    sent (``decision.rewrites_response`` is set)."""
    if space_of(decision) is None:
        return status == 200
    if status >= 400:
        return True  # dockerd's error texts name the objects
    if decision.redact or decision.filter_response:
        return status == 200
    return 200 <= status < 300 and decision.operation in NAMED_ANSWERS
