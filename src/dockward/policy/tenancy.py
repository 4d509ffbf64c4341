"""Tenancy: owners, the owner label, and what an identity may see and touch under its scope.

A role's ``scope`` is ``all`` (no tenancy), ``role`` (every identity of the role shares one
owner, ``role:NAME``) or ``own`` (each identity is its own owner: ``cn:NAME`` for a certificate,
``uid:N`` for a unix peer). Under ``role`` and ``own``:

* **stamping**: the gateway writes the caller's owner into the label ``dockward.owner`` of every
  container, volume and network it creates (``Labels`` of the body, appended so that dockerd's
  decoder merges it into the client's own labels), of every built image (the ``labels`` query)
  and of every committed or imported image (one more ``LABEL`` in ``changes``); a
  client-supplied ``dockward.*`` label is refused;
* **visibility**: list, prune and event requests get the owner label filter added to
  ``filters``, and list answers are filtered again (the second line of defence; ``system/df``,
  which takes no filters, only there);
* **references**: every container, exec, volume, network and image a request names (in its
  path, query or body: the registry's ``refs``) is looked up and judged by its owner label. A
  foreign object is answered with dockerd's own not-found text (``No such container: NAME``),
  so existence does not leak. Unowned images (pulled, loaded or built by ``all``) are shared:
  usable by everyone, listed only for ``all``; unowned containers, volumes and networks are
  invisible, except the predefined networks ``bridge``, ``host`` and ``none`` as a
  container's network.

Which registry references are judged how is ``REFERENCE_RULES``; ``unjudged_references()``
(a unit test keeps it empty) names any tenancy-kind reference of the registry that has none.

Pure functions: no I/O. The engine (``dockward.policy.engine``) asks for the lookups and the
verdict; the relay applies ``rewrite_request`` and ``rewrite_response``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias
from urllib.parse import quote

from dockward.errors import ProtocolError
from dockward.http1.request import replace_request_target
from dockward.http1.response import with_content_length
from dockward.identity import PeerIdentity
from dockward.policy.build_context import BuildContext
from dockward.policy.decision import Decision
from dockward.policy.gojson import GoObject
from dockward.policy.namespaces import filters_document, namespace
from dockward.policy.operations import ROWS, Kind, Place
from dockward.policy.paths import parse_query
from dockward.policy.profiles import FactQuery, Facts
from dockward.policy.redact import redact_json

OWNER_LABEL = "dockward.owner"
RESERVED_LABEL_PREFIX = "dockward."
SCOPES = ("all", "role", "own")
Scope: TypeAlias = Literal["all", "role", "own"]

TENANT_KINDS = frozenset({Kind.CONTAINER, Kind.EXEC, Kind.VOLUME, Kind.NETWORK, Kind.IMAGE})
PREDEFINED_NETWORKS = frozenset({"bridge", "host", "none", "default"})

# Operations a scoped role may not use: swarm objects carry no owner here, and a loaded
# image archive cannot be stamped (docs/tenancy.md, "Images").
_UNSCOPED_PREFIXES = ("swarm.", "service.", "node.", "task.", "secret.", "config.", "plugin.")
_UNSCOPED_OPERATIONS = frozenset({"image.load"})


def owner_key(scope: str, role: str, identity: PeerIdentity) -> str | None:
    """The owner an identity creates objects as, ``None`` under scope ``all``."""
    if scope == "all":
        return None
    if scope == "role":
        return f"role:{role}"
    if identity.kind == "unix":
        return f"uid:{identity.uid}"
    if identity.common_name:
        return f"cn:{identity.common_name}"
    names = identity.dns_names + identity.uris + identity.ip_addresses
    if names:
        return f"san:{names[0]}"
    return f"spki:{identity.spki_sha256}"


def scope_summary(scope: str, role: str) -> str:
    """One line saying what a scope means, with the owner key it gives (``policy explain``)."""
    if scope == "role":
        return (
            f"role (every identity of the role shares one space: owner role:{role}; "
            "others' objects answer as missing)"
        )
    if scope == "own":
        return (
            "own (each identity its own space: owner cn:NAME of its certificate, or uid:N "
            "on the unix socket; others' objects answer as missing)"
        )
    return "all (every object on the daemon, owned or not)"


# --- adopted objects --------------------------------------------------------------------------

_OWNER_FORM = re.compile(r"(cn|uid|role|san|spki):.+")
_FULL_ID = re.compile(r"[0-9a-f]{64}")
ADOPTABLE_KINDS = ("container", "volume", "network", "image")


def owner_problem(owner: str) -> str | None:
    """Why ``owner`` is no owner key (``cn:NAME``, ``uid:N``, ``role:NAME``, ...), or None."""
    if _OWNER_FORM.fullmatch(owner) is None:
        return f"{owner!r} is not an owner key (cn:NAME, uid:N or role:NAME)"
    return None


def adopted_object_problem(text: str) -> str | None:
    """Why ``text`` is not ``KIND:ID`` as the adoption record keeps it, or None.

    Containers and networks are kept by their full ID, images by ``sha256:`` and their full
    ID, volumes (which have no ID) by name: a name can be moved, an ID cannot.
    """
    kind, _, identifier = text.partition(":")
    if kind not in ADOPTABLE_KINDS or not identifier:
        return f"{text!r} is not KIND:ID with KIND one of {', '.join(ADOPTABLE_KINDS)}"
    if kind == "image":
        digest = identifier.removeprefix("sha256:")
        if identifier == digest or _FULL_ID.fullmatch(digest) is None:
            return f"{text!r}: an image is kept by its full ID (image:sha256:<64 hex>)"
    elif kind in ("container", "network") and _FULL_ID.fullmatch(identifier) is None:
        return f"{text!r}: a {kind} is kept by its full ID (64 hex digits)"
    return None


def adopted_key(kind: Kind | str, inspect: Mapping[str, object]) -> str:
    """How the adoption record names an inspected (or listed) object."""
    kind = str(kind)
    identifier = inspect.get("Name") if kind == "volume" else inspect.get("Id")
    return f"{kind}:{identifier}" if isinstance(identifier, str) else ""


def unscoped_refusal(operation: str) -> str | None:
    """Why a scoped role may not use ``operation`` at all, or ``None``."""
    if operation in _UNSCOPED_OPERATIONS:
        return (
            f"operation {operation} is not available under scope own or role: a loaded image "
            "archive cannot be stamped with its owner (import it with docker import, or build it)"
        )
    if operation.startswith(_UNSCOPED_PREFIXES):
        return (
            f"operation {operation} is not available under scope own or role: swarm objects "
            "and plugins have no owner (use a role with scope all)"
        )
    return None


# --- what each operation names --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Named:
    """One object a request names: its kind, the name as written, and where it was written."""

    kind: Kind
    name: str
    where: str


Extractor: TypeAlias = Callable[
    [Mapping[str, str], Mapping[str, list[str]], GoObject], Iterator[Named]
]


def _first(query: Mapping[str, list[str]], key: str) -> str:
    values = query.get(key)
    return values[0] if values else ""


def _commit_container(
    params: Mapping[str, str], query: Mapping[str, list[str]], body: GoObject
) -> Iterator[Named]:
    name = _first(query, "container")
    if name:
        yield Named(Kind.CONTAINER, name, "query container")


def _save_names(
    params: Mapping[str, str], query: Mapping[str, list[str]], body: GoObject
) -> Iterator[Named]:
    for name in query.get("names", ()):
        if name:
            yield Named(Kind.IMAGE, name, "query names")


def _build_cache_from(
    params: Mapping[str, str], query: Mapping[str, list[str]], body: GoObject
) -> Iterator[Named]:
    text = _first(query, "cachefrom")
    if not text:
        return
    try:
        names = json.loads(text)
    except ValueError:
        raise ProtocolError("query cachefrom is not a JSON array of image names") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ProtocolError("query cachefrom is not a JSON array of image names")
    for name in names:
        if name:
            yield Named(Kind.IMAGE, name, "query cachefrom")


def _network_mode(mode: str, where: str) -> Iterator[Named]:
    # dockerd's NetworkMode predicates are case-sensitive: "Container:x" and "Bridge" are
    # network names (anyone may create them)
    if mode.startswith("container:"):
        yield Named(Kind.CONTAINER, mode.partition(":")[2], where)
    elif mode and mode not in PREDEFINED_NETWORKS:
        yield Named(Kind.NETWORK, mode, where)


def _build_network(
    params: Mapping[str, str], query: Mapping[str, list[str]], body: GoObject
) -> Iterator[Named]:
    yield from _network_mode(_first(query, "networkmode"), "query networkmode")


def _host_config_sections(body: GoObject) -> list[tuple[GoObject, str]]:
    """The inner HostConfig and the top level (dockerd before 27 reads it as one)."""
    inner = body.obj("HostConfig")
    sections = [(inner, "HostConfig.")] if inner is not None else []
    sections.append((body, ""))
    return sections


def _bind_source(spec: str) -> str:
    """The source of a ``Binds`` entry: a host path, a volume name, or "" (anonymous)."""
    parts = spec.split(":")
    return parts[0] if len(parts) in (2, 3) else ""


def _link_target(link: str) -> str:
    return link.partition(":")[0].lstrip("/")


def _create_image(
    params: Mapping[str, str], query: Mapping[str, list[str]], body: GoObject
) -> Iterator[Named]:
    image = body.str_of("Image") or ""
    if image:
        yield Named(Kind.IMAGE, image, "Image")


def _create_volumes(
    params: Mapping[str, str], query: Mapping[str, list[str]], body: GoObject
) -> Iterator[Named]:
    for section, prefix in _host_config_sections(body):
        for spec in section.strings_of("Binds"):
            source = _bind_source(spec)
            if source and not source.startswith("/"):
                yield Named(Kind.VOLUME, source, f"{prefix}Binds")
        for mount in section.objects_of("Mounts"):
            kind = (mount.str_of("Type") or "").lower()
            source = mount.str_of("Source") or ""
            if kind == "volume" and source:
                yield Named(Kind.VOLUME, source, f"{prefix}Mounts")


def _create_containers(
    params: Mapping[str, str], query: Mapping[str, list[str]], body: GoObject
) -> Iterator[Named]:
    for section, prefix in _host_config_sections(body):
        for spec in section.strings_of("VolumesFrom"):
            name = spec.partition(":")[0].lstrip("/")
            if name:
                yield Named(Kind.CONTAINER, name, f"{prefix}VolumesFrom")
        for link in section.strings_of("Links"):
            if _link_target(link):
                yield Named(Kind.CONTAINER, _link_target(link), f"{prefix}Links")
        for field in ("PidMode", "IpcMode"):
            mode = section.str_of(field) or ""
            if mode.lower().startswith("container:"):
                yield Named(Kind.CONTAINER, mode.partition(":")[2], f"{prefix}{field}")


def _create_networks(
    params: Mapping[str, str], query: Mapping[str, list[str]], body: GoObject
) -> Iterator[Named]:
    for section, prefix in _host_config_sections(body):
        yield from _network_mode(section.str_of("NetworkMode") or "", f"{prefix}NetworkMode")
    networking = body.obj("NetworkingConfig")
    endpoints = networking.map_of("EndpointsConfig") if networking is not None else {}
    for network, endpoint in endpoints.items():
        if network not in PREDEFINED_NETWORKS:
            yield Named(Kind.NETWORK, network, "NetworkingConfig.EndpointsConfig")
        if isinstance(endpoint, GoObject):
            for link in endpoint.strings_of("Links"):
                if _link_target(link):
                    yield Named(
                        Kind.CONTAINER, _link_target(link), "NetworkingConfig.EndpointsConfig.Links"
                    )


def _body_container(
    params: Mapping[str, str], query: Mapping[str, list[str]], body: GoObject
) -> Iterator[Named]:
    name = body.str_of("Container") or ""
    if name:
        yield Named(Kind.CONTAINER, name, "Container")
    endpoint = body.obj("EndpointConfig")
    for link in endpoint.strings_of("Links") if endpoint is not None else ():
        if _link_target(link):
            yield Named(Kind.CONTAINER, _link_target(link), "EndpointConfig.Links")


def _config_from(
    params: Mapping[str, str], query: Mapping[str, list[str]], body: GoObject
) -> Iterator[Named]:
    config_from = body.obj("ConfigFrom")
    name = (config_from.str_of("Network") or "") if config_from is not None else ""
    if name:
        yield Named(Kind.NETWORK, name, "ConfigFrom.Network")


@dataclass(frozen=True, slots=True)
class ReferenceRule:
    """How tenancy treats one registry reference: judged by ``extract``, or why it is not."""

    operation: str
    kind: Kind
    place: Place
    field: str
    extract: Extractor | None
    exempt_because: str = ""


def _exempt(operation: str, kind: Kind, place: Place, field: str, why: str) -> ReferenceRule:
    return ReferenceRule(operation, kind, place, field, None, why)


_C, _V, _N, _I = Kind.CONTAINER, Kind.VOLUME, Kind.NETWORK, Kind.IMAGE
_Q, _B = Place.QUERY, Place.BODY

# Query and body references; every path variable of a tenancy kind is judged by its own name.
# fmt: off
REFERENCE_RULES: tuple[ReferenceRule, ...] = (
    ReferenceRule("container.create", _I, _B, "Image", _create_image),
    ReferenceRule("container.create", _V, _B, "HostConfig.Binds", _create_volumes),
    ReferenceRule("container.create", _V, _B, "HostConfig.Mounts", _create_volumes),
    ReferenceRule("container.create", _C, _B, "HostConfig.VolumesFrom", _create_containers),
    ReferenceRule("container.create", _C, _B, "HostConfig.Links", _create_containers),
    ReferenceRule("container.create", _C, _B,
                  "HostConfig.NetworkMode, PidMode, IpcMode (container:<id>)",
                  _create_containers),
    ReferenceRule("container.create", _N, _B, "HostConfig.NetworkMode", _create_networks),
    ReferenceRule("container.create", _N, _B, "NetworkingConfig.EndpointsConfig",
                  _create_networks),
    ReferenceRule("container.create", _C, _B, "NetworkingConfig.EndpointsConfig.*.Links",
                  _create_networks),
    ReferenceRule("network.connect", _C, _B, "EndpointConfig.Links", _body_container),
    ReferenceRule("container.commit", _C, _Q, "container", _commit_container),
    ReferenceRule("image.save", _I, _Q, "names", _save_names),
    ReferenceRule("image.build", _I, _Q, "cachefrom", _build_cache_from),
    ReferenceRule("image.build", _N, _Q, "networkmode", _build_network),
    ReferenceRule("network.create", _N, _B, "ConfigFrom.Network", _config_from),
    ReferenceRule("network.connect", _C, _B, "Container", _body_container),
    ReferenceRule("network.disconnect", _C, _B, "Container", _body_container),
    _exempt("image.pull", _I, _Q, "fromImage",
            "a pull names a registry image, not a local object; image names (tags) are one "
            "namespace for every owner (docs/tenancy.md)"),
    _exempt("distribution.inspect", _I, Place.PATH, "name",
            "asks the registry about the name; no local object is read"),
)
# fmt: on
_PATH_EXEMPT = {
    (rule.operation, rule.field) for rule in REFERENCE_RULES if rule.place is Place.PATH
}
_RULES_BY_OPERATION: dict[str, list[Extractor]] = {}
for _rule in REFERENCE_RULES:
    if _rule.extract is not None:
        extractors = _RULES_BY_OPERATION.setdefault(_rule.operation, [])
        if _rule.extract not in extractors:
            extractors.append(_rule.extract)

# Path variables of a tenancy kind, per operation, from the registry.
_PATH_REFS: dict[str, tuple[tuple[Kind, str], ...]] = {
    row.name: tuple(
        (ref.kind, ref.field)
        for ref in row.refs
        if ref.place is Place.PATH
        and ref.kind in TENANT_KINDS
        and (row.name, ref.field) not in _PATH_EXEMPT
    )
    for row in ROWS
}

JUDGED_OPERATIONS: frozenset[str] = frozenset(
    {name for name, refs in _PATH_REFS.items() if refs} | set(_RULES_BY_OPERATION)
)
"""Operations whose named objects tenancy judges (their path, query or body names one)."""

INSPECTED_OPERATIONS: frozenset[str]  # defined below, with the rewritten requests

BODY_READ_OPERATIONS = frozenset(
    {
        "container.create",
        "volume.create",
        "network.create",
        "network.connect",
        "network.disconnect",
        "image.build",
    }
)
"""Operations whose body tenancy reads (for references, or to stamp and check labels): a JSON
document, or for a build its context (``CONTEXT_BODIES``)."""

CONTEXT_BODIES = frozenset({"image.build"})
"""Bodies read as a build context (``policy.build_context``), up to ``build_context_limit``."""


def unjudged_references() -> list[str]:
    """Tenancy-kind references of the registry with no rule: must stay empty (a unit test)."""
    ruled = {(r.operation, r.kind, r.place, r.field) for r in REFERENCE_RULES}
    missing = []
    for row in ROWS:
        if unscoped_refusal(row.name) is not None:
            continue  # a scoped role may not use it at all
        for ref in row.refs:
            if ref.kind not in TENANT_KINDS or ref.place is Place.PATH:
                continue
            if (row.name, ref.kind, ref.place, ref.field) not in ruled:
                missing.append(f"{row.name}: {ref.kind} in {ref.place} {ref.field}")
    return missing


# The engine asks for a request's lookups, then for its verdict, with the same objects: the
# last answer is kept (compared by identity, the objects themselves held) for the second call.
_last_named: tuple[str, object, object, object, list[Named]] | None = None


def named_objects(
    operation: str, params: Mapping[str, str], query: Mapping[str, list[str]], body: object
) -> list[Named]:
    """Every container, exec, volume, network and image the request names."""
    global _last_named
    last = _last_named
    if (
        last is not None
        and last[0] == operation
        and last[1] is params
        and last[2] is query
        and last[3] is body
    ):
        return last[4]
    named = _named_objects(operation, params, query, body)
    _last_named = (operation, params, query, body, named)
    return named


def _named_objects(
    operation: str, params: Mapping[str, str], query: Mapping[str, list[str]], body: object
) -> list[Named]:
    named = [
        Named(kind, params[variable], f"path {variable}")
        for kind, variable in _PATH_REFS.get(operation, ())
        if params.get(variable)
    ]
    if isinstance(body, BuildContext):
        named.extend(Named(Kind.IMAGE, image, where) for image, where in body.images)
    extractors = _RULES_BY_OPERATION.get(operation)
    if extractors:
        document = body if isinstance(body, GoObject) else GoObject()
        for extract in extractors:
            named.extend(extract(params, query, document))
    return list(dict.fromkeys(named))


# --- judging ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request tenancy refuses: the status and message the client sees, the rule logged."""

    status: int
    message: str
    rule: str


def _labels(kind: Kind, inspect: Mapping[str, object]) -> Mapping[str, object]:
    if kind in (Kind.CONTAINER, Kind.IMAGE):
        config = inspect.get("Config")
        labels = config.get("Labels") if isinstance(config, Mapping) else None
    else:
        labels = inspect.get("Labels")
    return labels if isinstance(labels, Mapping) else {}


NO_ADOPTIONS: Mapping[str, str] = {}


def object_owner(
    kind: Kind, inspect: Mapping[str, object], adopted: Mapping[str, str] = NO_ADOPTIONS
) -> str | None:
    """The owner of an inspected object: its label, else the adoption record; ``None``."""
    owner = _labels(kind, inspect).get(OWNER_LABEL)
    if isinstance(owner, str):
        return owner
    return adopted.get(adopted_key(kind, inspect)) if adopted else None


def _fact_kind(kind: Kind) -> Literal["container", "volume", "network", "exec", "image"]:
    mapping: dict[Kind, Literal["container", "volume", "network", "exec", "image"]] = {
        Kind.CONTAINER: "container",
        Kind.VOLUME: "volume",
        Kind.NETWORK: "network",
        Kind.EXEC: "exec",
        Kind.IMAGE: "image",
    }
    return mapping[kind]


def _image_reference(name: str) -> str:
    """How dockerd spells an image name in "No such image" (a familiar name, tag defaulted)."""
    if re.fullmatch(r"(sha256:)?[0-9a-f]{64}", name):
        return name if name.startswith("sha256:") else f"sha256:{name}"
    if "@" in name:
        return name
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def not_found_message(kind: Kind, name: str) -> str:
    """dockerd's own answer for an object it does not have (dockerd 20.10, most routes)."""
    if kind is Kind.CONTAINER:
        return f"No such container: {name}"
    if kind is Kind.EXEC:
        return f"No such exec instance: {name}"
    if kind is Kind.IMAGE:
        return f"No such image: {_image_reference(name)}"
    if kind is Kind.VOLUME:
        return f"get {name}: no such volume"
    return f"network {name} not found"


def not_found_answer(operation: str, named: Named) -> tuple[int, str]:
    """The status and text dockerd answers ``operation`` with when ``named`` does not exist.

    Measured on dockerd 20.10 for every judged operation (tests/e2e/test_tenancy_e2e.py compares
    them with the daemon's answers for a name nobody has). A container create that names a
    missing network, or ``container:`` as its network mode, is created by dockerd and fails
    at start; tenancy refuses it at create, with the text the start would give.
    """
    name, kind = named.name, named.kind
    if operation == "container.create" and kind is Kind.CONTAINER:
        if named.where.endswith("Links") and "Endpoints" not in named.where:
            return 400, f"could not get container for {name}: No such container: {name}"
        if not named.where.endswith("NetworkMode") and "Endpoints" not in named.where:
            return 400, f"No such container: {name}"
    if operation == "container.kill" and kind is Kind.CONTAINER:
        return 404, f"Cannot kill container: {name}: No such container: {name}"
    if operation == "image.inspect" and kind is Kind.IMAGE:
        return 404, f"no such image: {name}: No such image: {_image_reference(name)}"
    if operation == "image.save" and kind is Kind.IMAGE:
        return 404, f"No such image: {name}"
    if operation == "network.create" and kind is Kind.NETWORK:
        return 404, f'configuration network "{name}" does not exist'
    return 404, not_found_message(kind, name)


def facts_needed(
    operation: str,
    params: Mapping[str, str],
    query: Mapping[str, list[str]],
    body: object,
    facts: Facts,
) -> list[FactQuery]:
    """The lookups ``check`` still needs (an exec's container only once the exec is known)."""
    needed: list[FactQuery] = []
    for named in named_objects(operation, params, query, body):
        fact = FactQuery(_fact_kind(named.kind), named.name)
        if fact not in facts:
            needed.append(fact)
        elif named.kind is Kind.EXEC:
            container = _exec_container(facts[fact])
            if container and FactQuery("container", container) not in facts:
                needed.append(FactQuery("container", container))
    for fact in _taken_names(operation, query, body):
        if fact not in facts:
            needed.append(fact)
    return list(dict.fromkeys(needed))


def _exec_container(inspect: Mapping[str, object] | None) -> str:
    container = inspect.get("ContainerID") if inspect else None
    return container if isinstance(container, str) else ""


def _image_tag(repo: str, tag: str) -> str:
    """``repo`` and ``tag`` as one reference, the tag defaulted to ``latest`` as dockerd does."""
    if not repo:
        return ""
    if tag:
        return f"{repo}:{tag}"
    last = repo.rsplit("/", 1)[-1]
    return repo if ":" in last or "@" in repo else f"{repo}:latest"


def _familiar(reference: str) -> str:
    """A reference as ``RepoTags`` spells it (Docker Hub's official prefix dropped)."""
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if reference.startswith(prefix):
            return reference[len(prefix) :]
    return reference


def _taken_names(operation: str, query: Mapping[str, list[str]], body: object) -> list[FactQuery]:
    """The names the request would take (or re-point), looked up to judge a collision."""
    if operation in ("container.create", "container.rename"):
        name = _first(query, "name").lstrip("/")
        return [FactQuery("container", name)] if name else []
    if operation in ("volume.create", "network.create") and isinstance(body, GoObject):
        name = body.str_of("Name") or ""
        kind: Literal["volume", "network"] = "volume" if operation == "volume.create" else "network"
        return [FactQuery(kind, name)] if name else []
    tags: list[str] = []
    if operation in ("image.tag", "container.commit"):
        tags = [_image_tag(_first(query, "repo"), _first(query, "tag"))]
    elif operation == "image.build":
        tags = [_image_tag(tag, "") for tag in query.get("t", ())]
    elif operation == "image.pull":
        source = "repo" if _first(query, "fromSrc") else "fromImage"
        tags = [_image_tag(_first(query, source), _first(query, "tag"))]
    return [FactQuery("image", _familiar(tag)) for tag in dict.fromkeys(tags) if tag]


def check(
    operation: str,
    params: Mapping[str, str],
    query: Mapping[str, list[str]],
    body: object,
    facts: Facts,
    owner: str,
    adopted: Mapping[str, str] = NO_ADOPTIONS,
    *,
    allow_unread: bool = False,
) -> Refusal | None:
    """The first reason tenancy refuses the request, or ``None``.

    ``allow_unread``: a build whose Dockerfile cannot be read goes on (the role's
    ``unread_dockerfile = "allow"``), its readable references still judged.
    """
    refusal = _label_refusal(operation, query, body) or _build_network_by_name(operation, query)
    if refusal is not None:
        return refusal
    for named in named_objects(operation, params, query, body):
        refusal = _judge(operation, named, facts, owner, adopted)
        if refusal is not None:
            return refusal
    refusal = _name_collision(operation, query, body, facts, owner, adopted)
    if refusal is None and operation in CONTEXT_BODIES and not allow_unread:
        return _unread_dockerfile(body)
    return refusal


def _build_network_by_name(operation: str, query: Mapping[str, list[str]]) -> Refusal | None:
    """A classic build's ``networkmode`` naming a network or a container: refused for scoped
    roles, whatever it names (existence does not leak).

    The builder gives the mode, as written, to the container of each ``RUN`` step, and each of
    them looks the name up again when it starts, minutes after the judgement maybe: nothing can
    be pinned (an ID would not be either: a network can be removed and its ID taken as
    another's name). Ownership judged once cannot hold for every step.
    """
    if operation != "image.build":
        return None
    mode = _first(query, "networkmode")
    # dockerd's predicates are case-sensitive: "Bridge" and "HOST" are network names
    if not mode or mode in PREDEFINED_NETWORKS:
        return None
    what = "a container" if mode.startswith("container:") else "a user-defined network"
    return Refusal(
        403,
        f"query networkmode names {what}: the classic builder looks it up by name again at "
        "each RUN step, so the owner judged now cannot be held for the build. Build with the "
        "default network (leave --network out, or give bridge, default, or none/host where "
        "the profile allows it), or use a role of scope all",
        "tenancy: build network by name",
    )


def _unread_dockerfile(body: object) -> Refusal | None:
    if isinstance(body, BuildContext):
        if not body.problem:
            return None
        problem = body.problem
    else:
        problem = "the build context is not in the request (a remote context?)"
    return Refusal(
        403,
        f"cannot check the images this build's Dockerfile names: {problem}. Send the context "
        "as an uncompressed, gzip, bzip2 or xz tar within the policy's build_context_limit, "
        'or give the role unread_dockerfile = "allow"',
        "tenancy: unread Dockerfile",
    )


def _missing(named: Named) -> Refusal:
    return Refusal(
        403,
        f"{named.where}: {named.kind} {named.name!r} could not be checked (not looked up)",
        "tenancy: lookup missing",
    )


def _judge(
    operation: str, named: Named, facts: Facts, owner: str, adopted: Mapping[str, str]
) -> Refusal | None:
    fact = FactQuery(_fact_kind(named.kind), named.name)
    if fact not in facts:
        return _missing(named)
    inspect = facts[fact]
    if named.kind is Kind.EXEC:
        if inspect is None:
            return None  # dockerd answers its own "No such exec instance"
        container = FactQuery("container", _exec_container(inspect))
        if container not in facts:
            return _missing(named)
        holder = facts[container]
        if holder is not None and object_owner(Kind.CONTAINER, holder, adopted) == owner:
            return None
        return _foreign(
            operation, named, object_owner(Kind.CONTAINER, holder, adopted) if holder else None
        )
    if inspect is None:
        if named.kind is Kind.VOLUME and operation == "container.create":
            return _volume_to_create_first(named)
        return None  # dockerd answers (or, for a pull or an implicit create, acts) itself
    found = object_owner(named.kind, inspect, adopted)
    if found == owner:
        return None
    if found is None and named.kind is Kind.IMAGE:
        if operation == "image.remove":
            return Refusal(
                403,
                f"image {named.name!r} is shared (it has no owner): only a role with scope "
                "all may remove it",
                "tenancy: shared image",
            )
        return None  # unowned images are shared
    if (
        found is None
        and named.kind is Kind.NETWORK
        and operation not in ("network.inspect", "network.remove")
        and str(inspect.get("Name", "")) in PREDEFINED_NETWORKS
    ):
        return None  # bridge, host, none to join or leave (inspecting one lists every member)
    if named.kind is Kind.VOLUME and operation == "container.create":
        return _volume_to_create_first(named)
    return _foreign(operation, named, found)


def _foreign(operation: str, named: Named, found: str | None) -> Refusal:
    whose = f"owned by {found}" if found else "unowned"
    status, message = not_found_answer(operation, named)
    return Refusal(
        status, message, f"tenancy: {named.where} names {named.kind} {named.name!r}, {whose}"
    )


def _volume_to_create_first(named: Named) -> Refusal:
    # the same answer whether the volume is missing or another owner's: existence does not leak
    return Refusal(
        403,
        f"{named.where}: you have no volume named {named.name!r}: create it first "
        f"(docker volume create {named.name}) so that it carries your owner label",
        "tenancy: volume not owned",
    )


def _name_collision(
    operation: str,
    query: Mapping[str, list[str]],
    body: object,
    facts: Facts,
    owner: str,
    adopted: Mapping[str, str],
) -> Refusal | None:
    for fact in _taken_names(operation, query, body):
        inspect = facts.get(fact)
        if inspect is None:
            continue
        kind = Kind(fact.kind)
        if kind is Kind.IMAGE:
            tags = inspect.get("RepoTags")
            if not isinstance(tags, list) or _familiar(fact.name) not in tags:
                continue  # the lookup matched an ID or a digest, not this tag
        elif kind is Kind.CONTAINER and str(inspect.get("Name", "")) != "/" + fact.name:
            continue  # the name matched an ID prefix, not a name: dockerd creates the container
        elif kind is not Kind.CONTAINER and str(inspect.get("Name", "")) != fact.name:
            continue
        found = object_owner(kind, inspect, adopted)
        if found == owner:
            continue
        if kind is Kind.IMAGE:
            if found is None and operation == "image.pull":
                continue  # pulling a shared image again is what pull is for
            whose = "another owner's image" if found else "a shared image (it has no owner)"
            return Refusal(
                409,
                f'the tag "{fact.name}" names {whose}: choose another tag (re-pointing it '
                "would change what others run)",
                f"tenancy: image tag taken by {found or 'a shared image'}",
            )
        return Refusal(
            409,
            f'Conflict. The {fact.kind} name "{fact.name}" is already in use by another '
            "owner. Choose another name.",
            f"tenancy: {fact.kind} name taken by {found or 'an unowned object'}",
        )
    return None


def _reserved(labels: Mapping[str, object] | list[str], where: str) -> Refusal | None:
    for key in labels:
        if key.lower().startswith(RESERVED_LABEL_PREFIX):
            return Refusal(
                403,
                f"{where} sets the label {key!r}: labels under {RESERVED_LABEL_PREFIX}* are "
                "set by the gateway only",
                "tenancy: reserved label",
            )
    return None


_CHANGE_LABEL = re.compile(r"dockward\.", re.I)


def _label_refusal(operation: str, query: Mapping[str, list[str]], body: object) -> Refusal | None:
    if operation in STAMPED_BODY and isinstance(body, GoObject):
        refusal = _reserved(body.str_map_of("Labels"), "Labels")
        if refusal is not None or operation != "container.create":
            return refusal
        # a volume mount's VolumeOptions.Labels label the (anonymous) volume dockerd creates
        for section, prefix in _host_config_sections(body):
            for index, mount in enumerate(section.objects_of("Mounts")):
                options = mount.obj("VolumeOptions")
                if options is not None:
                    where = f"{prefix}Mounts[{index}].VolumeOptions.Labels"
                    refusal = _reserved(options.str_map_of("Labels"), where)
                    if refusal is not None:
                        return refusal
        return None
    if operation == "image.build":
        return _reserved(_query_labels(query), "query labels")
    if operation in ("container.commit", "image.pull"):
        for change in query.get("changes", ()):
            if _CHANGE_LABEL.search(change):
                return Refusal(
                    403,
                    f"query changes {change!r} names a dockward.* label: those are set by the "
                    "gateway only",
                    "tenancy: reserved label",
                )
    return None


def _query_labels(query: Mapping[str, list[str]]) -> dict[str, str]:
    text = _first(query, "labels")
    if not text:
        return {}
    try:
        labels = json.loads(text)
    except ValueError:
        raise ProtocolError("query labels is not a JSON object of strings") from None
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ProtocolError("query labels is not a JSON object of strings")
    return labels


# --- rewriting what is forwarded --------------------------------------------------------------

STAMPED_BODY = frozenset({"container.create", "volume.create", "network.create"})
"""Creates whose JSON body gets the owner label."""

FILTERED_REQUESTS = frozenset(
    {
        "container.list",
        "volume.list",
        "network.list",
        "image.list",
        "system.events",
        "container.prune",
        "volume.prune",
        "network.prune",
        "image.prune",
    }
)
"""Requests whose ``filters`` get the owner label filter."""

FILTERED_RESPONSES = frozenset(
    {"container.list", "volume.list", "network.list", "image.list", "system.df"}
)
"""Answers filtered to the caller's objects before they are sent."""

FILTERED_STREAMS = frozenset({"system.events"})
"""Streamed answers filtered message by message (``policy.event_filter``), never collected."""

REWRITTEN_REQUESTS = STAMPED_BODY | FILTERED_REQUESTS | {"image.build", "container.commit"}

INSPECTED_OPERATIONS = JUDGED_OPERATIONS | REWRITTEN_REQUESTS | FILTERED_RESPONSES | {"image.pull"}
"""Operations a scoped role's requests go through the deciding step for (lookups, rewrite)."""


def rewrites_request(operation: str, query: Mapping[str, list[str]]) -> bool:
    """Whether ``rewrite_request`` changes this request (an import is a pull with fromSrc)."""
    return operation in REWRITTEN_REQUESTS or (
        operation == "image.pull" and bool(_first(query, "fromSrc"))
    )


def owner_filters(text: str, owner: str) -> str:
    """A ``filters`` value as dockerd reads it, with the owner label filter added (AND)."""
    merged: dict[str, dict[str, bool]] = {}
    if text:
        for key, value in filters_document(text).items():
            if isinstance(value, dict):
                merged[key] = {str(k): bool(v) for k, v in value.items()}
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                merged[key] = dict.fromkeys(value, True)  # the legacy form
            else:
                raise ProtocolError(f"query filters: {key!r} is not a filter list")
    merged.setdefault("label", {})[f"{OWNER_LABEL}={owner}"] = True
    return json.dumps(merged, separators=(",", ":"))


def _replace_query_key(query: str, key: str, value: str | None, *, append: bool = False) -> str:
    """``query`` with every ``key`` dropped (unless ``append``) and ``key=value`` added last."""
    kept = []
    for pair in query.split("&") if query else ():
        if not pair:
            continue
        if not append and key in parse_query(pair.partition("=")[0]):
            continue
        kept.append(pair)
    if value is not None:
        kept.append(f"{key}={quote(value, safe='')}")
    return "&".join(kept)


def _with_query(raw: bytes, query: str) -> bytes:
    line = raw[: raw.index(b"\r\n")]
    target = line.split(b" ")[1]
    path = target.partition(b"?")[0]
    return replace_request_target(raw, path + (b"?" + query.encode("ascii") if query else b""))


def _raw_query(raw: bytes) -> str:
    line = raw[: raw.index(b"\r\n")]
    return line.split(b" ")[1].partition(b"?")[2].decode("ascii")


def _stamped_body(body: bytes | None, owner: str) -> bytes:
    """The body with ``"Labels":{"dockward.owner":OWNER}`` appended to the top-level object.

    dockerd decodes with Go's ``encoding/json``: a second ``Labels`` key decodes into the map
    the first one filled, so the client's labels stay and the owner label is added last.
    """
    label = json.dumps({"Labels": {OWNER_LABEL: owner}}, separators=(",", ":"))[1:-1]
    if body is None or not body.strip(b" \t\r\n"):
        return ("{" + label + "}").encode()
    text = body.rstrip(b" \t\r\n")
    if not text.endswith(b"}"):
        raise ProtocolError("the request body is not a JSON object")
    inner = text[:-1].rstrip(b" \t\r\n")
    separator = b"" if inner.endswith(b"{") else b","
    return inner + separator + label.encode() + b"}"


def rewrite_request(
    operation: str, owner: str, raw: bytes, has_chunked_body: bool, body: bytes | None
) -> tuple[bytes, bytes | None]:
    """The head and (inspected) body to forward in place of what the client sent."""
    query = _raw_query(raw)
    params = parse_query(query)
    if operation in STAMPED_BODY:
        stamped = _stamped_body(body, owner)
        if not has_chunked_body:
            raw = with_content_length(raw, len(stamped))
            if body is None:
                raw = raw[:-2] + b"Content-Type: application/json\r\n\r\n"
        return raw, stamped
    if operation in FILTERED_REQUESTS:
        filters = owner_filters(_first(params, "filters"), owner)
        return _with_query(raw, _replace_query_key(query, "filters", filters)), body
    if operation == "image.build":
        labels = {**_query_labels(params), OWNER_LABEL: owner}
        text = json.dumps(labels, separators=(",", ":"))
        return _with_query(raw, _replace_query_key(query, "labels", text)), body
    if operation == "container.commit" or (operation == "image.pull" and _first(params, "fromSrc")):
        change = f"LABEL {OWNER_LABEL}={json.dumps(owner)}"
        return _with_query(raw, _replace_query_key(query, "changes", change, append=True)), body
    return raw, body


def forwarded_request(
    decision: Decision, raw: bytes, chunked: bool, body: bytes | None
) -> tuple[bytes, bytes | None]:
    """What the relay forwards for an allowed request: stamped, its filters narrowed."""
    owner = decision.owner
    if owner is None or not decision.allowed:
        return raw, body
    if decision.operation in FILTERED_REQUESTS and not decision.owner_filter:
        return raw, body  # audit mode: lists are not narrowed, only logged
    if decision.adopted and decision.operation in FILTERED_RESPONSES:
        # adopted objects carry no label: the daemon lists everything, the answer is filtered
        return raw, body
    return rewrite_request(decision.operation, owner, raw, chunked, body)


def forwarded_response(decision: Decision, body: bytes, status: int = 200) -> bytes:
    """A collected answer as the client gets it: filtered to its owner, then redacted; under
    a private name space without the owner's prefix (``policy.namespaces``)."""
    if status == 200:
        if decision.filter_response and decision.owner is not None:
            body = filter_response(decision.operation, body, decision.owner, decision.adopted)
        if decision.redact:
            body = redact_json(body)
    if decision.private_names and decision.owner is not None:
        body = namespace(decision.owner).strip(body)
    return body


def _owned(item: object, owner: str, adopted: frozenset[str]) -> bool:
    """Whether a listed object is ``owner``'s: its label, else its ID (a volume: its name)
    among ``adopted`` (the IDs of the owner's adopted objects, without their kinds)."""
    if not isinstance(item, Mapping):
        return False
    labels = item.get("Labels")
    label = labels.get(OWNER_LABEL) if isinstance(labels, Mapping) else None
    if label is not None or not adopted:
        return label == owner
    identifier = item.get("Id") or item.get("Name")
    return isinstance(identifier, str) and identifier in adopted


def filter_document(
    operation: str, document: object, owner: str, adopted: frozenset[str] = frozenset()
) -> object:
    """A list answer without the objects ``owner`` does not own (the same object when it has
    none to drop)."""
    if isinstance(document, list):
        kept = [item for item in document if _owned(item, owner, adopted)]
        return document if len(kept) == len(document) else kept
    if not isinstance(document, dict):
        return document
    out = dict(document)
    for key in ("Volumes", "Images", "Containers"):
        items = out.get(key)
        if isinstance(items, list):
            out[key] = filter_document(operation, items, owner, adopted)
    if operation == "system.df" and out.get("BuildCache"):
        out["BuildCache"] = []  # build cache has no owner: shown to scope all only
    return document if all(out[key] is document[key] for key in out) else out


def filter_response(
    operation: str, body: bytes, owner: str, adopted: frozenset[str] = frozenset()
) -> bytes:
    """``filter_document`` on a JSON answer, re-encoded only when something was dropped (the
    daemon, asked with the owner filter, usually sent nothing to drop); an answer that is not
    JSON becomes an empty one."""
    try:
        document = json.loads(body)
    except ValueError:
        return b"[]\n" if operation != "system.df" and operation != "volume.list" else b"{}\n"
    ids = frozenset(key.partition(":")[2] for key in adopted)
    filtered = filter_document(operation, document, owner, ids)
    if filtered is document:
        return body
    return json.dumps(filtered, separators=(",", ":")).encode() + b"\n"
