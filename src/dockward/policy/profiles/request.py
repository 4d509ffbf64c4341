"""The request as the checks read it, and the role settings they consult.

``Request`` holds one request's operation, path parameters, query, decoded body, the role's
``ProfileSettings`` and the daemon's answers, and computes the views the checks share once, on
demand: the objects dockerd applies as a HostConfig (the inner one and, before 27.0, the top
level), a service's ContainerSpec, the target container, an image's defaults. Bodies are
``GoObject``s read through Go-typed accessors (``ProtocolError`` where dockerd's decoder fails);
query values are read as Go's ``r.Form.Get`` / ``r.Form[k]``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TypeAlias

from dockward.errors import ProtocolError
from dockward.policy.container_risk import DEFAULT_SOCKET_PATHS, RiskSettings
from dockward.policy.container_risk import json_mapping as _mapping
from dockward.policy.container_risk import json_strings as _strings
from dockward.policy.gojson import GoObject, go_fold
from dockward.policy.outbound import Destination, OutboundRules, Resolution
from dockward.policy.profiles.facts import FactQuery, Facts, MissingFact

_NO_OUTBOUND = OutboundRules()
SERVICE_OPERATIONS = ("service.create", "service.update")
"""The operations whose body is a swarm service spec."""


@dataclass(frozen=True)
class ProfileSettings:
    """Per-role settings the checks consult."""

    allowed_host_paths: tuple[str, ...] = ()
    """Host path prefixes bind mounts may use (absolute; compared after ``path.Clean``)."""
    allowed_runtimes: tuple[str, ...] = ("runc",)
    """Runtimes a container may name in ``HostConfig.Runtime`` (empty = daemon default)."""
    allowed_registries: tuple[str, ...] = ()
    """restricted: image name prefixes, whole path components (``registry.example.com/``)."""
    docker_socket_paths: tuple[str, ...] = DEFAULT_SOCKET_PATHS
    """Never mountable, nor any directory above them, even under an allowed path."""
    outbound: OutboundRules = _NO_OUTBOUND
    """Remote hosts the daemon may contact for the role beyond public registries
    (``dockward.policy.outbound``)."""
    secrets: bool = False
    """The role has the ``secrets`` grant: what redaction would hide may be revealed."""
    reads_logs: bool = False
    """The role may ``container.logs``: attach with ``logs`` true returns the same."""

    # Derived once per settings object (a role's settings live as long as the policy), not
    # per bind mount.
    @cached_property
    def risk(self) -> RiskSettings:
        """What the container-risk judge (host paths, existing containers) reads."""
        return RiskSettings(self.allowed_host_paths, self.docker_socket_paths)


@dataclass(frozen=True)
class Section:
    """A JSON object dockerd decodes into a known type, and how a user names its fields."""

    obj: GoObject
    prefix: str

    def path(self, name: str) -> str:
        return f"{self.prefix}{name}"


Finding: TypeAlias = tuple[str, str]  # (field, reason)


class Request:
    """One request's inputs, with the views the checks share (computed once, on demand)."""

    def __init__(
        self,
        operation: str,
        params: Mapping[str, str],
        query: Mapping[str, list[str]],
        body: object,
        settings: ProfileSettings,
        facts: Facts,
        missing: list[FactQuery] | None = None,
    ) -> None:
        self.operation = operation
        self.params = params
        self.query = query
        self.body = body
        self.settings = settings
        self.facts = facts
        self.missing = missing  # not None: record missing facts, read them as "not found"

    def fact(self, query: FactQuery) -> Mapping[str, object] | None:
        if query in self.facts:
            return self.facts[query]
        if self.missing is None:
            raise MissingFact(query)
        if query not in self.missing:
            self.missing.append(query)
        return None

    def volume(self, name: str) -> Mapping[str, object] | None:
        """The daemon's answer for volume ``name``, a lookup like ``fact``."""
        return self.fact(FactQuery("volume", name))

    def first(self, key: str) -> str | None:
        """``r.Form.Get(key)``: the first value, ``None`` when absent."""
        values = self.query.get(key)
        return values[0] if values else None

    def every(self, key: str) -> list[str]:
        """``r.Form[key]``: all values."""
        return list(self.query.get(key, ()))

    @cached_property
    def body_object(self) -> GoObject:
        if self.body is None:
            return GoObject()
        if isinstance(self.body, GoObject):
            return self.body
        raise ProtocolError(f"the {self.operation} request body must be a JSON object")

    @cached_property
    def host_configs(self) -> list[Section]:
        """Objects dockerd reads as a HostConfig: the inner one and, pre-27, the top level."""
        if self.operation != "container.create":
            return []
        top = self.body_object
        inner = top.obj("HostConfig")
        sections = [Section(inner, "HostConfig.")] if inner is not None else []
        if not _only_config_keys(top):
            sections.append(Section(top, "(top level) "))
        return sections

    @cached_property
    def required_host_config(self) -> Section:
        """Where restricted's requirements must be met: the inner HostConfig."""
        return Section(self.body_object.obj("HostConfig") or GoObject(), "HostConfig.")

    @cached_property
    def resources(self) -> list[Section]:
        """Objects holding ``container.Resources`` fields (create, and update's body)."""
        if self.operation == "container.update":
            return [Section(self.body_object, "")]
        return self.host_configs

    @cached_property
    def task_template(self) -> GoObject:
        if self.operation not in SERVICE_OPERATIONS:
            return GoObject()
        return self.body_object.obj("TaskTemplate") or GoObject()

    @cached_property
    def container_specs(self) -> list[Section]:
        if self.operation not in SERVICE_OPERATIONS:
            return []
        spec = self.task_template.obj("ContainerSpec")
        return [] if spec is None else [Section(spec, "TaskTemplate.ContainerSpec.")]

    @cached_property
    def limits(self) -> Section:
        resources = self.task_template.obj("Resources") or GoObject()
        return Section(resources.obj("Limits") or GoObject(), "TaskTemplate.Resources.Limits.")

    @cached_property
    def image_config(self) -> tuple[str, Mapping[str, object]] | None:
        """A container create's image and the defaults it gives (its ``Config``), as the
        daemon inspects it; ``None`` when the body names none or the daemon has none."""
        if self.operation != "container.create":
            return None
        image = self.body_object.str_of("Image") or ""
        if not image:
            return None
        inspect = self.fact(FactQuery("image", image))
        return None if inspect is None else (image, _mapping(inspect.get("Config")))

    def resolved(self, destination: Destination) -> Resolution | None:
        """What a host name resolves to at the gateway (``None``: not a name, or it does
        not resolve)."""
        if destination.address is not None:
            return None
        answer = self.fact(FactQuery("host", destination.host))
        if answer is None:
            return None
        addresses = []
        for text in _strings(answer.get("Addresses")):
            try:
                addresses.append(ipaddress.ip_address(text))
            except ValueError:
                continue
        return Resolution(tuple(addresses))

    @cached_property
    def target(self) -> tuple[str, Mapping[str, object]] | None:
        """The existing container the request acts on, as the daemon inspects it."""
        name = self.params.get("name")
        if not name:
            return None
        inspect = self.fact(FactQuery("container", name))
        return None if inspect is None else (name, inspect)


# container.Config's JSON fields plus the create request's own: a top level holding only these
# cannot carry a legacy HostConfig field, so the second pass over it can be skipped. Any other key
# (a HostConfig field, or anything unknown) keeps the top level under inspection.
_CREATE_TOP_LEVEL_KEYS = frozenset(
    name.upper()
    for name in (
        "Hostname",
        "Domainname",
        "User",
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "ExposedPorts",
        "Tty",
        "OpenStdin",
        "StdinOnce",
        "Env",
        "Cmd",
        "Healthcheck",
        "ArgsEscaped",
        "Image",
        "Volumes",
        "WorkingDir",
        "Entrypoint",
        "NetworkDisabled",
        "MacAddress",
        "OnBuild",
        "Labels",
        "StopSignal",
        "StopTimeout",
        "Shell",
        "HostConfig",
        "NetworkingConfig",
    )
)


def _only_config_keys(top: GoObject) -> bool:
    return all(go_fold(key) in _CREATE_TOP_LEVEL_KEYS for key in top)
