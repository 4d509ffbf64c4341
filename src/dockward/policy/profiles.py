"""Container profiles: what ``baseline`` and ``restricted`` refuse, as a table of checks.

``CHECKS`` is read top to bottom; each row names the operations it applies to, the least
profile it belongs to (a ``baseline`` row also applies under ``restricted``), what it refuses,
and the function that looks. Adding a check is adding a row. ``check_request`` returns the first
``Violation`` in table order; ``unrestricted`` checks nothing.

The checks see requests as dockerd will act on them:

* bodies come from ``dockward.policy.gojson.decode_body`` (Go's case-insensitive keys, no
  folded duplicates) and are read through ``GoObject``'s Go-typed accessors, which raise
  ``ProtocolError`` (400) where dockerd's decoder would fail;
* a container create is checked in its inner ``HostConfig`` *and* in the top-level object read
  as a HostConfig, which dockerd before 27.0 applies when ``HostConfig`` is absent (a dangerous
  setting in either refuses); the restricted *requirements* (limits, ``CapDrop``,
  ``no-new-privileges``) must be met by the inner ``HostConfig``, which every daemon honours;
* query parameters are read with Go's ``r.Form.Get`` (the first value) or ``r.Form[k]`` (all
  values), as the handler does;
* host paths are compared after Go's ``path.Clean``;
* state the request does not carry comes from the daemon's own inspect answers (``Facts``): the
  options of a named volume, the mounts and privileges of a container one execs into, writes
  files into or takes volumes from, the driver of a network a service joins, the defaults an
  image gives the container (its ``WORKDIR`` and ``USER``); and, from the gateway's resolver,
  the addresses of a registry named by a host name. ``facts_needed`` lists the lookups still
  missing; call it again with what was fetched until it returns ``[]``, for ``MAX_FACT_ROUNDS``
  rounds at most (the deepest chain takes three: an exec, its container, then that container's
  volumes). A lookup the caller did not make is a violation ("could not be checked"), never an
  implicit allow.

Pure functions: no I/O, no logging. Decisions where the daemon's behaviour left a choice are
documented on the rows and in docs/policy.md ("Profiles").
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, TypeAlias

from dockward.errors import ProtocolError
from dockward.policy.capabilities import ALL, DEFAULT_CAPABILITIES, normalize_capability
from dockward.policy.container_risk import (
    DEFAULT_SOCKET_PATHS,
    RiskSettings,
    container_problems,
    host_path_problem,
    local_options_problem,
    mount_problems,
    named_volume_problem,
)

# Shared with the container-risk judge; imported under the names this module's checks use.
from dockward.policy.container_risk import LOCAL_VOLUME_DRIVERS as _LOCAL_DRIVERS
from dockward.policy.container_risk import PARSE_BOOL_FALSE as _GO_FALSE
from dockward.policy.container_risk import PARSE_BOOL_TRUE as _GO_TRUE
from dockward.policy.container_risk import clean_host_path as _clean_host_path
from dockward.policy.container_risk import is_under as _under
from dockward.policy.container_risk import json_mapping as _mapping
from dockward.policy.container_risk import json_string as _string
from dockward.policy.container_risk import json_strings as _strings
from dockward.policy.container_risk import split_security_option as _split_security_option
from dockward.policy.gojson import GoObject, go_fold
from dockward.policy.images import looks_like_image_id, parse_image_reference, registry_allows
from dockward.policy.operations import PINNED_OPERATIONS, TARGET_ACTIONS
from dockward.policy.outbound import (
    Destination,
    OutboundRules,
    Resolution,
    auth_destination,
    log_destination,
    parse_destination,
    search_destination,
    url_destination,
)
from dockward.policy.paths import go_bool

__all__ = [
    "CHECKS",
    "DEFAULT_MASKED_PATHS",
    "DEFAULT_READONLY_PATHS",
    "MAX_FACT_ROUNDS",
    "PROFILES",
    "SAFE_SYSCTLS",
    "Check",
    "FactQuery",
    "Facts",
    "ProfileSettings",
    "Violation",
    "check_request",
    "facts_needed",
    "inspected_operations",
]

PROFILES = ("unrestricted", "baseline", "restricted")
_NO_OUTBOUND = OutboundRules()
Profile: TypeAlias = Literal["unrestricted", "baseline", "restricted"]


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
class Violation:
    """Why a request is refused: ``f"{field} {reason}"`` reads as one sentence."""

    field: str
    reason: str
    check: str = ""
    """The name of the ``CHECKS`` row that refused (stable, for logs and rules)."""

    def __str__(self) -> str:
        return f"{self.field} {self.reason}"


@dataclass(frozen=True)
class FactQuery:
    """A lookup of daemon state (``GET /containers/{name}/json``, ``/volumes/{name}``,
    ``/networks/{name}``, ``/exec/{id}/json``, ``/images/{name}/json``), or of the addresses a
    host name resolves to (kind ``host``: the answer is ``{"Addresses": [...]}``, ``None`` when
    the name does not resolve)."""

    kind: Literal["container", "volume", "network", "exec", "image", "host"]
    name: str


Facts: TypeAlias = Mapping[FactQuery, Mapping[str, object] | None]
"""The daemon's inspect answers; ``None`` = the daemon does not know the object (404)."""

MAX_FACT_ROUNDS = 4
"""How many rounds of lookups a caller of ``facts_needed`` makes before it judges anyway.

The deepest chain the checks follow takes three (an exec, its container, that container's named
volumes); one more is slack. A fact still missing after the last round refuses the request
("could not be checked"), as any lookup the caller did not make.
"""


# --- constants the checks use --------------------------------------------------------------

SAFE_SYSCTLS: frozenset[str] = frozenset(
    {
        # Kubernetes Pod Security Standards, baseline "Sysctls" (v1.32): namespaced, and
        # isolated from the host and other pods.
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)

# The paths dockerd masks and makes read-only by default (moby oci/defaults.go), over the
# versions we know: 20.10 and later added /sys/devices/virtual/powercap, 28 /proc/interrupts.
# Sending MaskedPaths or ReadonlyPaths *replaces* the daemon's list, so any list that leaves
# one of these out unmasks it.
DEFAULT_MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
)
DEFAULT_READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

# SELinux types a container may ask for (Kubernetes baseline "SELinux"); spc_t and the like
# are unconfined.
SAFE_SELINUX_TYPES = frozenset({"container_t", "container_init_t", "container_kvm_t"})

_NAMESPACES = (
    ("NetworkMode", "network"),
    ("PidMode", "PID"),
    ("IpcMode", "IPC"),
    ("UTSMode", "UTS"),
    ("UsernsMode", "user"),
    ("CgroupnsMode", "cgroup"),
)
_GO_ATOI = re.compile(r"[+-]?[0-9]+")
_VALID_MOUNT_MODES = re.compile(
    r"(?:(?:ro|rw|z|Z|nocopy|shared|rshared|slave|rslave|private|rprivate"
    r"|consistent|cached|delegated)(?:,|$))+"
)


# --- the request as the checks read it -----------------------------------------------------


class _MissingFact(Exception):
    def __init__(self, query: FactQuery) -> None:
        super().__init__(query)
        self.query = query


@dataclass(frozen=True)
class _Section:
    """A JSON object dockerd decodes into a known type, and how a user names its fields."""

    obj: GoObject
    prefix: str

    def path(self, name: str) -> str:
        return f"{self.prefix}{name}"


_Finding: TypeAlias = tuple[str, str]  # (field, reason)


class _Request:
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
            raise _MissingFact(query)
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
    def host_configs(self) -> list[_Section]:
        """Objects dockerd reads as a HostConfig: the inner one and, pre-27, the top level."""
        if self.operation != "container.create":
            return []
        top = self.body_object
        inner = top.obj("HostConfig")
        sections = [_Section(inner, "HostConfig.")] if inner is not None else []
        if not _only_config_keys(top):
            sections.append(_Section(top, "(top level) "))
        return sections

    @cached_property
    def required_host_config(self) -> _Section:
        """Where restricted's requirements must be met: the inner HostConfig."""
        return _Section(self.body_object.obj("HostConfig") or GoObject(), "HostConfig.")

    @cached_property
    def resources(self) -> list[_Section]:
        """Objects holding ``container.Resources`` fields (create, and update's body)."""
        if self.operation == "container.update":
            return [_Section(self.body_object, "")]
        return self.host_configs

    @cached_property
    def task_template(self) -> GoObject:
        if self.operation not in ("service.create", "service.update"):
            return GoObject()
        return self.body_object.obj("TaskTemplate") or GoObject()

    @cached_property
    def container_specs(self) -> list[_Section]:
        if self.operation not in ("service.create", "service.update"):
            return []
        spec = self.task_template.obj("ContainerSpec")
        return [] if spec is None else [_Section(spec, "TaskTemplate.ContainerSpec.")]

    @cached_property
    def limits(self) -> _Section:
        resources = self.task_template.obj("Resources") or GoObject()
        return _Section(resources.obj("Limits") or GoObject(), "TaskTemplate.Resources.Limits.")

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


# --- host paths and volumes ----------------------------------------------------------------


def _host_path_problem(source: str, settings: ProfileSettings) -> str | None:
    """Why binding host path ``source`` is refused, as "host path ..." (or ``None``)."""
    return host_path_problem(source, settings.risk)


def _local_options_problem(options: Mapping[str, str], settings: ProfileSettings) -> str | None:
    """Why local-driver volume options reach the host, as a verb phrase (or ``None``)."""
    return local_options_problem(options, settings.risk)


def _volume_options_problem(
    driver: str, options: Mapping[str, str], settings: ProfileSettings
) -> str | None:
    """Driver options of a volume being created: local judged, plugin options refused."""
    if driver in _LOCAL_DRIVERS:
        return _local_options_problem(options, settings)
    if options:
        return f'passes options to volume plugin "{driver}", which dockward cannot judge'
    return None


def _named_volume_problem(req: _Request, name: str) -> str | None:
    """Why mounting the existing volume ``name`` reaches the host (``None``: it does not)."""
    return named_volume_problem(name, req.volume, req.settings.risk)


def _parse_bind(spec: str) -> tuple[str, str] | None:
    """The linux volume parser's ``splitRawSpec``: (source, target); ``None`` if invalid.

    ``/src:/dst[:mode]`` binds a host path, ``name:/dst[:mode]`` a named volume, a lone
    ``/dst`` creates an anonymous volume (source ``""``).
    """
    if spec.count(":") > 2:
        return None
    parts = spec.split(":")
    if not parts[0]:
        return None
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2 and _VALID_MOUNT_MODES.fullmatch(parts[1]):
        return None  # "/dst:ro": dockerd's "invalid volume specification"
    return parts[0], parts[1]


def _mount_problem(req: _Request, mount: GoObject) -> str | None:
    """Why one ``mount.Mount`` reaches the host, as a verb phrase (or ``None``)."""
    kind = mount.str_of("Type") or ""
    source = mount.str_of("Source") or ""
    match kind.lower():
        case "bind":
            problem = _host_path_problem(source, req.settings)
            return None if problem is None else f"binds {problem}"
        case "volume":
            options = mount.obj("VolumeOptions") or GoObject()
            driver_config = options.obj("DriverConfig") or GoObject()
            problem = _volume_options_problem(
                driver_config.str_of("Name") or "",
                driver_config.str_map_of("Options"),
                req.settings,
            )
            if problem is not None:
                return f"creates a volume that {problem}"
            return _named_volume_problem(req, source) if source else None
        case "tmpfs" | "image":
            return None
        case "npipe":
            return "is a named-pipe mount (how Windows exposes the Docker engine)"
        case "cluster":
            return "is a cluster (CSI) volume, which dockward cannot judge"
        case _:
            return f'has type "{kind}", which dockward does not know'


def _inspected_mount_problems(req: _Request, inspect: Mapping[str, object]) -> Iterator[str]:
    """Host-reaching mounts of an existing container, judged by the container-risk judge."""
    for problem in mount_problems(inspect, req.settings.risk, req.volume):
        yield problem.reason


# --- the checks ----------------------------------------------------------------------------


def _privileged(req: _Request) -> Iterator[_Finding]:
    for section in req.host_configs:
        if section.obj.bool_of("Privileged"):
            yield (
                section.path("Privileged"),
                "is true: a privileged container has every capability and host device",
            )


def _namespaces(req: _Request) -> Iterator[_Finding]:
    for section in req.host_configs:
        for name, namespace in _NAMESPACES:
            mode = section.obj.str_of(name) or ""
            if mode.lower() == "host":
                yield (
                    section.path(name),
                    f'is "{mode}": it shares the host\'s {namespace} namespace',
                )
            elif mode.lower().startswith("container:"):
                yield (
                    section.path(name),
                    f'is "{mode}": it joins another container\'s {namespace} namespace',
                )
        cgroup = section.obj.str_of("Cgroup") or ""
        if cgroup:
            yield section.path("Cgroup"), f'is "{cgroup}": it joins another container\'s cgroup'


def _binds(req: _Request) -> Iterator[_Finding]:
    for section in req.host_configs:
        for spec in section.obj.strings_of("Binds"):
            bind = _parse_bind(spec)
            if bind is None:
                yield section.path("Binds"), f'holds "{spec}", which is not a valid bind'
                continue
            source = bind[0]
            if source.startswith("/"):
                problem = _host_path_problem(source, req.settings)
                if problem is not None:
                    yield section.path("Binds"), f"mounts {problem}"
            elif source and (problem := _named_volume_problem(req, source)) is not None:
                yield section.path("Binds"), problem


def _mounts(req: _Request) -> Iterator[_Finding]:
    for section in [*req.host_configs, *req.container_specs]:
        for index, mount in enumerate(section.obj.objects_of("Mounts")):
            problem = _mount_problem(req, mount)
            if problem is not None:
                yield section.path(f"Mounts[{index}]"), problem


def _volumes_from(req: _Request) -> Iterator[_Finding]:
    for section in req.host_configs:
        for spec in section.obj.strings_of("VolumesFrom"):
            name = spec.partition(":")[0]
            # "/web" is how dockerd stores the name "web", and it accepts that spelling; but
            # the lookup path cannot carry the slash (the daemon's router redirects
            # /containers//web/json), so ask for "web". That answer speaks for "/web" only
            # if it is the container *named* web: GET /containers/web/json tries IDs first,
            # and a container may be renamed to another one's full ID.
            lookup = name[1:] if name.startswith("/") else name
            source = req.fact(FactQuery("container", lookup)) if lookup else None
            if source is None:
                continue  # dockerd answers "No such container"
            if lookup != name and _string(source.get("Name")) != name:
                yield (
                    section.path("VolumesFrom"),
                    f'names container "{name}", but "{lookup}" is the ID of container '
                    f'"{_string(source.get("Name")).lstrip("/")}": refused as ambiguous',
                )
                continue
            for problem in _inspected_mount_problems(req, source):
                yield (
                    section.path("VolumesFrom"),
                    f'takes the volumes of container "{name}", which {problem}',
                )


def _capabilities(req: _Request) -> Iterator[_Finding]:
    lists: list[tuple[str, list[str]]] = []
    for section in req.host_configs:
        lists.append((section.path("CapAdd"), section.obj.strslice_of("CapAdd")))
        # API 1.40 only (Docker 19.03): the exact capability set, replacing the default one.
        lists.append((section.path("Capabilities"), section.obj.strslice_of("Capabilities")))
    for section in req.container_specs:
        lists.append((section.path("CapabilityAdd"), section.obj.strings_of("CapabilityAdd")))
    for path, names in lists:
        for name in names:
            capability = normalize_capability(name)
            spelled = "" if capability == name else f' (sent as "{name}")'
            if capability == ALL:
                yield path, f"adds ALL capabilities{spelled}"
            elif capability not in DEFAULT_CAPABILITIES:
                yield path, f"adds {capability}{spelled}, which is not in Docker's default set"


def _devices(req: _Request) -> Iterator[_Finding]:
    for section in req.resources:
        devices = section.obj.objects_of("Devices")
        if devices:
            host = devices[0].str_of("PathOnHost") or "?"
            yield section.path("Devices"), f'maps host devices into the container ("{host}")'
        rules = section.obj.strings_of("DeviceCgroupRules")
        if rules:
            yield section.path("DeviceCgroupRules"), f'allows host devices ("{rules[0]}")'
        if section.obj.items_of("DeviceRequests"):
            yield section.path("DeviceRequests"), "requests host devices from a device driver"
    reservations = (req.task_template.obj("Resources") or GoObject()).obj("Reservations")
    if reservations is not None and reservations.items_of("GenericResources"):
        yield (
            "TaskTemplate.Resources.Reservations.GenericResources",
            "requests node devices (generic resources such as GPUs)",
        )


def _security_option_problem(option: str) -> str | None:
    """Why one ``--security-opt`` value is refused (``daemon_unix.go`` ``parseSecurityOpt``)."""
    if option == "no-new-privileges":
        return None
    if option == "disable":
        return "disables SELinux labeling"
    if "=" not in option and ":" not in option:
        return "is not a security option dockerd accepts"
    key, value = _split_security_option(option)
    match key.lower():
        case "seccomp":
            if value == "unconfined":
                return "disables seccomp"
            if value not in ("", "builtin"):
                return "sets a custom seccomp profile (only the daemon's default is allowed)"
        case "apparmor":
            if value.lower() == "unconfined":
                return "disables AppArmor"
        case "label":
            kind, _, name = value.partition(":")
            if value.lower() == "disable":
                return "disables SELinux labeling"
            if kind == "type" and name not in SAFE_SELINUX_TYPES:
                return (
                    f"sets SELinux type {name} (allowed: {', '.join(sorted(SAFE_SELINUX_TYPES))})"
                )
            if kind != "level" and kind != "type":
                return f"sets the SELinux {kind or 'label'} (only type and level may be set)"
        case "no-new-privileges":
            if value not in _GO_TRUE and value not in _GO_FALSE:
                return "is not a security option dockerd accepts"
        case "writable-cgroups":
            if value not in _GO_FALSE:
                return "makes the cgroup filesystem writable"
        case "systempaths":
            return "unmasks /proc and /sys paths"
        case _:
            return "is not a security option dockward knows"
    return None


def _security_options(req: _Request) -> Iterator[_Finding]:
    lists = [(s.path("SecurityOpt"), s.obj.strings_of("SecurityOpt")) for s in req.host_configs]
    if req.operation == "image.build":
        lists.append(("query securityopt", req.every("securityopt")))
    for path, options in lists:
        for option in options:
            problem = _security_option_problem(option)
            if problem is not None:
                yield path, f'holds "{option}", which {problem}'
    for section in req.container_specs:
        privileges = section.obj.obj("Privileges")
        if privileges is None:
            continue
        path = section.path("Privileges.")
        seccomp = (privileges.obj("Seccomp") or GoObject()).str_of("Mode") or ""
        if seccomp.lower() == "unconfined":
            yield path + "Seccomp.Mode", 'is "unconfined": it disables seccomp'
        elif seccomp.lower() == "custom":
            yield path + "Seccomp.Mode", 'is "custom": only the default seccomp profile is allowed'
        apparmor = (privileges.obj("AppArmor") or GoObject()).str_of("Mode") or ""
        if apparmor.lower() == "disabled":
            yield path + "AppArmor.Mode", 'is "disabled": it disables AppArmor'
        selinux = privileges.obj("SELinuxContext")
        if selinux is not None:
            if selinux.bool_of("Disable"):
                yield path + "SELinuxContext.Disable", "is true: it disables SELinux labeling"
            selinux_type = selinux.str_of("Type") or ""
            if selinux_type and selinux_type not in SAFE_SELINUX_TYPES:
                yield path + "SELinuxContext.Type", f'is "{selinux_type}", not a confined type'
            for name in ("User", "Role"):
                if selinux.str_of(name):
                    yield path + f"SELinuxContext.{name}", "is set (only type and level may be)"


def _system_paths(req: _Request) -> Iterator[_Finding]:
    for section in req.host_configs:
        for name, defaults in (
            ("MaskedPaths", DEFAULT_MASKED_PATHS),
            ("ReadonlyPaths", DEFAULT_READONLY_PATHS),
        ):
            if section.obj.field(name) is None:
                continue  # null or absent: the daemon's defaults
            paths = {_clean_host_path(path) for path in section.obj.strings_of(name)}
            missing = [path for path in defaults if path not in paths]
            if len(missing) == len(defaults):
                yield section.path(name), "replaces the daemon's default list and drops all of it"
            elif missing:
                yield (
                    section.path(name),
                    f"replaces the daemon's default list and drops {', '.join(missing)}",
                )


def _cgroup_parent(req: _Request) -> Iterator[_Finding]:
    for section in req.resources:
        parent = section.obj.str_of("CgroupParent") or ""
        if parent:
            yield (
                section.path("CgroupParent"),
                f'is "{parent}": it places the container in a host cgroup',
            )
    if req.operation == "image.build" and (build_parent := req.first("cgroupparent")):
        yield (
            "query cgroupparent",
            f'is "{build_parent}": it places build containers in a host cgroup',
        )


def _sysctls(req: _Request) -> Iterator[_Finding]:
    for section in [*req.host_configs, *req.container_specs]:
        for key in section.obj.str_map_of("Sysctls"):
            if key.replace("/", ".") not in SAFE_SYSCTLS:
                yield (
                    section.path("Sysctls"),
                    f'sets "{key}", which is not a safe namespaced sysctl',
                )


def _runtime(req: _Request) -> Iterator[_Finding]:
    allowed = req.settings.allowed_runtimes
    for section in req.host_configs:
        runtime = section.obj.str_of("Runtime") or ""
        if runtime and runtime not in allowed:
            yield (
                section.path("Runtime"),
                f'is "{runtime}" (allowed: {", ".join(allowed) or "none"})',
            )


_PROC_WORKDIR = (
    "a working directory under /proc can reach host files through leaked descriptors "
    "(runc CVE-2024-21626)"
)


def _under_proc(directory: str) -> bool:
    return bool(directory) and _under(_clean_host_path("/" + directory), "/proc")


def _working_directory(req: _Request) -> Iterator[_Finding]:
    """A working directory under /proc, given in the request or left to a default.

    Without ``WorkingDir`` a container works in its image's ``WORKDIR`` (which ``docker
    commit --change`` or a build sets) and an exec in its container's working directory:
    both are looked up and judged like a value in the body.
    """
    if req.operation in _SERVICE:
        for section in req.container_specs:
            directory = section.obj.str_of("Dir") or ""
            if _under_proc(directory):
                yield section.path("Dir"), f'is "{directory}": {_PROC_WORKDIR}'
        return
    directory = req.body_object.str_of("WorkingDir") or ""
    if directory:
        if _under_proc(directory):
            yield "WorkingDir", f'is "{directory}": {_PROC_WORKDIR}'
        return
    if req.operation == "container.create":
        if (image := req.image_config) is not None:
            default = _string(image[1].get("WorkingDir"))
            if _under_proc(default):
                yield (
                    "WorkingDir",
                    f'is not set and image "{image[0]}" sets "{default}": {_PROC_WORKDIR}',
                )
    elif (target := req.target) is not None:
        default = _string(_mapping(target[1].get("Config")).get("WorkingDir"))
        if _under_proc(default):
            yield (
                "WorkingDir",
                f'is not set and container "{target[0]}" works in "{default}": {_PROC_WORKDIR}',
            )


def _start_host_config(req: _Request) -> Iterator[_Finding]:
    if req.body is not None:
        yield (
            "HostConfig (start body)",
            "is refused: dockerd applies it as the container's new HostConfig (API < 1.24); "
            "set options when creating the container",
        )


def _checkpoint_directory(req: _Request) -> Iterator[_Finding]:
    if req.operation == "container.start" and (directory := req.first("checkpoint-dir")):
        yield "query checkpoint-dir", f'is "{directory}": it names a host directory'
    if req.operation == "checkpoint.create":
        directory = req.body_object.str_of("CheckpointDir") or ""
        if directory:
            yield "CheckpointDir", f'is "{directory}": it names a host directory'


def _exec_privileged(req: _Request) -> Iterator[_Finding]:
    if req.body_object.bool_of("Privileged"):
        yield "Privileged", "is true: the process would get every capability and host device"


def _target_container(req: _Request) -> Iterator[_Finding]:
    """exec, file writes and stdin attach reach whatever the container itself can reach."""
    if req.operation in ("container.attach", "container.attach_ws") and not go_bool(
        req.first("stdin")
    ):
        return
    target = req.target
    if target is None:
        return  # the daemon answers "No such container"
    name, inspect = target
    action = TARGET_ACTIONS[req.operation]
    for problem in _container_problems(req, inspect):
        yield f'container "{name}"', f"{problem}; {action} is refused"


def _exec_start(req: _Request) -> Iterator[_Finding]:
    """Starting an exec someone else created: judge it as if it were being created now.

    Exec IDs are visible in ``docker inspect``, so a role that may start execs could otherwise
    start a privileged one an admin prepared, or one inside an unconfined container.
    """
    exec_id = req.params.get("name", "")
    if not exec_id:
        return
    info = req.fact(FactQuery("exec", exec_id))
    if info is None:
        return  # the daemon answers "No such exec instance" (or the lookup is still to come)
    shown = f'exec "{exec_id[:12]}"'
    if _mapping(info.get("ProcessConfig")).get("privileged") is True:
        yield shown, "was created with Privileged true; starting it is refused"
    container_id = _string(info.get("ContainerID"))
    if not container_id:
        return
    inspect = req.fact(FactQuery("container", container_id))
    if inspect is None:
        return
    action = TARGET_ACTIONS[req.operation]
    for problem in _container_problems(req, inspect):
        yield shown, f"runs in a container that {problem}; {action} is refused"


def _container_problems(req: _Request, inspect: Mapping[str, object]) -> list[str]:
    """What reaching into an existing container would reach (``dockward.policy.container_risk``)."""
    problems = container_problems(inspect, req.settings.risk, req.volume)
    return [problem.reason for problem in problems if problem.reaches_host]


def _volume_create(req: _Request) -> Iterator[_Finding]:
    body = req.body_object
    driver = body.str_of("Driver") or ""
    problem = _volume_options_problem(driver, body.str_map_of("DriverOpts"), req.settings)
    if problem is not None:
        yield "DriverOpts", problem
    if body.field("ClusterVolumeSpec") is not None:
        yield "ClusterVolumeSpec", "creates a cluster (CSI) volume, which dockward cannot judge"


def _plugin_privileges(req: _Request) -> Iterator[_Finding]:
    if req.operation in ("plugin.pull", "plugin.upgrade"):
        if req.body is not None and not isinstance(req.body, list):
            raise ProtocolError("a plugin privileges body must be a JSON array")
        privileges = req.body or []
        path = "privileges"
    else:
        spec = req.task_template.obj("PluginSpec")
        privileges = [] if spec is None else spec.items_of("PluginPrivilege")
        path = "TaskTemplate.PluginSpec.PluginPrivilege"
    names = [
        (item.str_of("Name") or "?") if isinstance(item, GoObject) else "?" for item in privileges
    ]
    if names:
        yield path, f"request {', '.join(names)}: plugins that need privileges are refused"


def _plugin_configuration(req: _Request) -> Iterator[_Finding]:
    if req.operation == "plugin.set":
        yield (
            "plugin settings",
            "are refused: they can point a plugin's mounts and devices at the host",
        )
    else:
        yield "plugin archive", "is refused: its config.json can ask for any privilege"


_SAFE_NETWORK_DRIVERS = frozenset({"", "bridge"})
_SAFE_NETWORK_OPTIONS = frozenset(
    {"com.docker.network.driver.mtu", "com.docker.network.bridge.enable_icc"}
)


def _network_create(req: _Request) -> Iterator[_Finding]:
    """A network must stay a private bridge: no host interfaces, bridges or routes.

    macvlan and ipvlan put containers on a host interface's network; a bridge named after an
    existing host bridge (``com.docker.network.bridge.name``) joins it; a chosen subnet can
    shadow a route the host depends on. Compose's default network asks for none of these.
    """
    body = req.body_object
    driver = body.str_of("Driver") or ""
    if driver not in _SAFE_NETWORK_DRIVERS:
        yield "Driver", f'is "{driver}": only private bridge networks are allowed'
    for key in body.str_map_of("Options"):
        if key not in _SAFE_NETWORK_OPTIONS:
            yield "Options", f'sets "{key}": driver options beyond the MTU and ICC are refused'
    ipam = body.obj("IPAM")
    if ipam is not None:
        if (ipam.str_of("Driver") or "default") != "default":
            yield "IPAM.Driver", f'is "{ipam.str_of("Driver")}": only the default IPAM driver'
        if ipam.objects_of("Config"):
            yield "IPAM.Config", "chooses subnets: a subnet can shadow a route of the host"
    for flag in ("Ingress", "ConfigOnly"):
        if body.bool_of(flag):
            yield flag, "is true: swarm and config-only networks are refused"
    if body.obj("ConfigFrom") is not None:
        yield "ConfigFrom", "takes its configuration from another network: refused"


def _build_network(req: _Request) -> Iterator[_Finding]:
    mode = req.first("networkmode") or ""
    if mode.lower() == "host":
        yield "query networkmode", 'is "host": build steps would share the host\'s network'
    elif mode.lower().startswith("container:"):
        yield "query networkmode", f'is "{mode}": build steps would join a container\'s network'


def _remote_context(req: _Request) -> Iterator[_Finding]:
    """A URL the daemon fetches: allowed only to a host the role's ``outbound`` lists."""
    if req.operation == "image.build":
        remote = req.first("remote") or ""
        if not remote or remote == "client-session":
            return
        field, what = "query remote", "the daemon would fetch the build context itself"
    else:
        remote = req.first("fromSrc") or ""
        if not remote or remote == "-":
            return
        field, what = "query fromSrc", "the daemon would download the image itself"
    destination = url_destination(remote)
    if destination is None:
        yield field, f'is "{remote}": {what}, from a host dockward cannot read'
        return
    problem = req.settings.outbound.problem(destination, None, public_ok=False)
    if problem is not None:
        yield field, f'is "{remote}": {what}, from {destination}, {problem}'


# --- tmpfs mount flags ----------------------------------------------------------------------

_TMPFS_FLAGS = {"dev": "device files", "suid": "setuid programs", "exec": "programs to run"}


def _flag_enabled(options: Iterable[str], flag: str, default: bool) -> bool:
    """Whether mount option ``flag`` ends up set: the last of ``flag``/``noflag`` wins, as in
    dockerd's ``MergeTmpfsOptions`` and in mount(8). Spellings dockerd would refuse (``DEV``,
    `` dev``) count too: refusing them costs nothing."""
    enabled = default
    for option in options:
        option = option.strip().lower()
        if option == flag:
            enabled = True
        elif option == "no" + flag:
            enabled = False
    return enabled


def _tmpfs_flags_problem(options: list[str], flags: tuple[str, ...], default: bool) -> str | None:
    for flag in flags:
        if _flag_enabled(options, flag, default):
            return f'allows {_TMPFS_FLAGS[flag]} ("{flag}" is in effect; add "no{flag}")'
    return None


def _local_tmpfs_problem(options: Mapping[str, str], flags: tuple[str, ...]) -> str | None:
    """A local-driver tmpfs volume: mount(2) sets no flag the options do not name, so unlike
    the daemon's own tmpfs mounts it allows device files, setuid and exec unless ``o`` says
    ``nodev``, ``nosuid``, ``noexec``."""
    folded = {key.lower(): value for key, value in options.items()}
    if folded.get("type", "").strip().lower() != "tmpfs":
        return None
    problem = _tmpfs_flags_problem(folded.get("o", "").split(","), flags, default=True)
    return None if problem is None else f"a tmpfs volume that {problem}"


def _named_tmpfs_problem(req: _Request, name: str, flags: tuple[str, ...]) -> str | None:
    volume = req.fact(FactQuery("volume", name))
    if volume is None or _string(volume.get("Driver")) not in _LOCAL_DRIVERS:
        return None
    options = {key: _string(value) for key, value in _mapping(volume.get("Options")).items()}
    problem = _local_tmpfs_problem(options, flags)
    return None if problem is None else f'uses volume "{name}", {problem}'


def _tmpfs_mount_options(mount: GoObject) -> list[str]:
    """``TmpfsOptions.Options`` (API 1.46): ``[["exec"], ["size", "1m"]]``."""
    tmpfs = mount.obj("TmpfsOptions") or GoObject()
    options: list[str] = []
    for item in tmpfs.items_of("Options"):
        parts = item if isinstance(item, list) else [item]
        options.append("=".join(part for part in parts if isinstance(part, str)))
    return options


def _tmpfs_mount_problem(req: _Request, mount: GoObject, flags: tuple[str, ...]) -> str | None:
    kind = (mount.str_of("Type") or "").lower()
    if kind == "tmpfs":
        problem = _tmpfs_flags_problem(_tmpfs_mount_options(mount), flags, default=False)
        return None if problem is None else f"is a tmpfs that {problem}"
    if kind != "volume":
        return None
    driver_config = (mount.obj("VolumeOptions") or GoObject()).obj("DriverConfig") or GoObject()
    if (driver_config.str_of("Name") or "") in _LOCAL_DRIVERS:
        problem = _local_tmpfs_problem(driver_config.str_map_of("Options"), flags)
        if problem is not None:
            return f"creates {problem}"
    source = mount.str_of("Source") or ""
    return _named_tmpfs_problem(req, source, flags) if source else None


def _tmpfs_findings(req: _Request, flags: tuple[str, ...]) -> Iterator[_Finding]:
    """tmpfs mount flags in all three spellings: ``HostConfig.Tmpfs``, ``Mounts`` of type
    tmpfs, and local-driver volumes of type tmpfs (created here, inline in a mount, or named)."""
    for section in req.host_configs:
        for target, data in section.obj.str_map_of("Tmpfs").items():
            problem = _tmpfs_flags_problem(data.split(","), flags, default=False)
            if problem is not None:
                yield section.path("Tmpfs"), f'mounts a tmpfs on "{target}" that {problem}'
        for spec in section.obj.strings_of("Binds"):
            if spec.startswith("/"):
                continue  # a host path, not a volume
            bind = _parse_bind(spec)
            if bind is not None and bind[0]:
                problem = _named_tmpfs_problem(req, bind[0], flags)
                if problem is not None:
                    yield section.path("Binds"), problem
    sections = req.container_specs if req.operation in _SERVICE else req.host_configs
    for section in sections:
        for index, mount in enumerate(section.obj.objects_of("Mounts")):
            problem = _tmpfs_mount_problem(req, mount, flags)
            if problem is not None:
                yield section.path(f"Mounts[{index}]"), problem
    if req.operation == "volume.create":
        body = req.body_object
        if (body.str_of("Driver") or "") in _LOCAL_DRIVERS:
            problem = _local_tmpfs_problem(body.str_map_of("DriverOpts"), flags)
            if problem is not None:
                yield "DriverOpts", f"creates {problem}"


def _tmpfs_dev_suid(req: _Request) -> Iterator[_Finding]:
    return _tmpfs_findings(req, ("dev", "suid"))


def _tmpfs_exec(req: _Request) -> Iterator[_Finding]:
    return _tmpfs_findings(req, ("exec",))


# --- the read side ---------------------------------------------------------------------------

# ps options without an argument that print no environment, in ps's UNIX (-) and BSD spellings.
# No "e": BSD e prints every process's environment, and procps re-reads *every* argument the
# BSD way (so -e becomes e) when any one of them fails to parse, which a combination of valid
# options can (-eHT).
_PS_UNIX_LETTERS = frozenset("AacdfFHjlLMTwyZ")
_PS_BSD_LETTERS = frozenset("acfhjlmrsSuvwxX")
_PS_FORMAT_OPTIONS = frozenset({"-o", "o", "-O", "O", "--format", "--sort"})
_PS_NUMBER_OPTIONS = frozenset({"--cols", "--columns", "--width"})
_PS_FLAG_OPTIONS = frozenset({"--forest"})
# procps format specifiers; "environ" (and anything unknown) is not among them.
_PS_FORMAT_SPECS = frozenset(
    {
        "pid",
        "ppid",
        "pgid",
        "pgrp",
        "sid",
        "sess",
        "tid",
        "lwp",
        "spid",
        "nlwp",
        "thcount",
        "tgid",
        "user",
        "euser",
        "ruser",
        "suser",
        "fuser",
        "uid",
        "euid",
        "ruid",
        "suid",
        "fuid",
        "uname",
        "group",
        "egroup",
        "rgroup",
        "sgroup",
        "fgroup",
        "gid",
        "egid",
        "rgid",
        "sgid",
        "fgid",
        "comm",
        "ucomm",
        "ucmd",
        "fname",
        "args",
        "cmd",
        "command",
        "etime",
        "etimes",
        "time",
        "cputime",
        "cputimes",
        "start",
        "start_time",
        "lstart",
        "stime",
        "bsdstart",
        "bsdtime",
        "stat",
        "state",
        "s",
        "%cpu",
        "pcpu",
        "c",
        "cp",
        "%mem",
        "pmem",
        "vsz",
        "vsize",
        "rss",
        "rssize",
        "rsz",
        "sz",
        "size",
        "drs",
        "trs",
        "tty",
        "tt",
        "tname",
        "pri",
        "priority",
        "ni",
        "nice",
        "psr",
        "rtprio",
        "policy",
        "sched",
        "class",
        "cls",
        "wchan",
        "nwchan",
        "f",
        "flags",
        "flag",
        "label",
        "cgroup",
        "cgname",
        "majflt",
        "maj_flt",
        "minflt",
        "min_flt",
        "pending",
        "blocked",
        "ignored",
        "caught",
        "sig",
        "sigmask",
        "sigcatch",
        "sigignore",
    }
)
_PS_SPEC = re.compile(r"[+-]?(?P<name>[%a-z_]+)(?::[0-9]{1,4})?")


def _ps_token_problem(token: str) -> str | None:
    if token in _PS_FLAG_OPTIONS:
        return None
    if token.startswith("-") and not token.startswith("--") and len(token) > 1:
        letters = token[1:]
        allowed = _PS_UNIX_LETTERS
    elif token and token[0].isalpha():
        letters, allowed = token, _PS_BSD_LETTERS
    else:
        return f'holds "{token}", which is not a ps option dockward allows'
    if "e" in letters:
        return (
            f"holds \"{token}\": ps's e prints each process's environment (and -e is read as e "
            "when ps falls back to BSD options); leave ps_args out for dockerd's default, -ef"
        )
    unknown = [letter for letter in letters if letter not in allowed]
    if unknown:
        return f'holds "{token}": "{unknown[0]}" is not a ps option dockward allows'
    return None


def _ps_args_problem(ps_args: str) -> str | None:
    """Why ``ps_args`` could print process environments (``None``: it cannot).

    dockerd splits ``ps_args`` on single spaces and runs the host's ps with the pieces.
    """
    tokens = ps_args.split(" ")
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in _PS_FORMAT_OPTIONS or token in _PS_NUMBER_OPTIONS:
            if index + 1 >= len(tokens):
                return f'ends with "{token}", which needs a value'
            value = tokens[index + 1]
            if token in _PS_NUMBER_OPTIONS:
                if not value.isdigit():
                    return f'gives "{token}" the value "{value}", which is not a number'
            else:
                for spec in value.split(","):
                    match = _PS_SPEC.fullmatch(spec)
                    if match is None or match["name"] not in _PS_FORMAT_SPECS:
                        return (
                            f'asks ps for "{spec}", which is not a format dockward allows '
                            "(environ prints each process's environment)"
                        )
            index += 2
            continue
        problem = _ps_token_problem(token)
        if problem is not None:
            return problem
        index += 1
    return None


def _ps_args(req: _Request) -> Iterator[_Finding]:
    """``docker top``'s ps options: none that print process environments (BSD ``e``).

    The environment is what inspect redacts; a role with the ``secrets`` grant may see it.
    """
    ps_args = req.first("ps_args")
    if not ps_args or req.settings.secrets:
        return
    problem = _ps_args_problem(ps_args)
    if problem is not None:
        yield "query ps_args", problem


def _attach_logs(req: _Request) -> Iterator[_Finding]:
    """Attach with ``logs`` true answers with the container's whole output so far: what
    ``container.logs`` gives, so only a role that may read logs may ask for it."""
    if go_bool(req.first("logs")) and not req.settings.reads_logs:
        yield (
            "query logs",
            "is true: it returns the container's past output, as container.logs does, which "
            "this role may not read",
        )


# --- outbound: registries and log servers ----------------------------------------------------


def _reference_destination(reference: str) -> Destination | str:
    """The registry an image reference names, or why it cannot be read."""
    try:
        domain = parse_image_reference(reference).domain
    except ValueError as err:
        return str(err)
    destination = parse_destination(domain)
    return destination if destination is not None else f"registry {domain!r} cannot be read"


def _registries(req: _Request) -> Iterator[tuple[str, str, Destination | str]]:
    """(field, value, registry) for each registry the request makes the daemon contact."""
    operation = req.operation
    references: list[tuple[str, str]] = []
    if operation == "image.pull":
        references.append(("query fromImage", req.first("fromImage") or ""))
    elif operation in ("distribution.inspect", "image.push", "plugin.push"):
        references.append(("the image in the path", req.params.get("name", "")))
    elif operation in ("plugin.privileges", "plugin.pull", "plugin.upgrade"):
        references.append(("query remote", req.first("remote") or ""))
    for section in req.container_specs:
        references.append((section.path("Image"), section.obj.str_of("Image") or ""))
    for field, reference in references:
        if reference:
            yield field, reference, _reference_destination(reference)
    if operation == "image.search":
        term = req.first("term") or ""
        searched = search_destination(term)
        if searched is not None:
            yield "query term", term, searched
    elif operation == "auth":
        address = req.body_object.str_of("ServerAddress") or ""
        login = auth_destination(address)
        if login is not None:
            yield "ServerAddress", address, login
        elif address:
            yield "ServerAddress", address, "it names no registry dockward can read"


def _outbound_registry(req: _Request) -> Iterator[_Finding]:
    for field, value, destination in _registries(req):
        if isinstance(destination, str):
            yield field, f'is "{value}": {destination}'
            continue
        outbound = req.settings.outbound
        resolution = None
        if not (destination.address or destination.docker_hub or outbound.names(destination)):
            resolution = req.resolved(destination)
        problem = outbound.problem(destination, resolution, public_ok=True)
        if problem is not None:
            yield (
                field,
                f'is "{value}": the daemon would connect to registry {destination}, {problem}',
            )


def _log_configs(req: _Request) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(field, driver, options) of each logging configuration the request sets."""
    for section in req.host_configs:
        log = section.obj.obj("LogConfig")
        if log is not None:
            yield section.path("LogConfig"), log.str_of("Type") or "", log.str_map_of("Config")
    if req.operation in _SERVICE:
        log_driver = req.task_template.obj("LogDriver")
        if log_driver is not None:
            driver = log_driver.str_of("Name") or ""
            yield "TaskTemplate.LogDriver", driver, log_driver.str_map_of("Options")


def _log_driver(req: _Request) -> Iterator[_Finding]:
    """Network logging drivers send every line a container prints to their server."""
    for field, driver, options in _log_configs(req):
        if not (driver or options):
            continue  # the daemon's own default, as it configured it (what the CLI sends)
        destination = log_destination(driver, options)
        if destination is None:
            continue
        if isinstance(destination, str):
            yield field, destination
            continue
        problem = req.settings.outbound.problem(destination, None, public_ok=False)
        if problem is not None:
            yield field, f'sends the logs with "{driver}" to {destination}, {problem}'


def _service_networks(req: _Request) -> Iterator[_Finding]:
    attachments = [
        ("TaskTemplate.Networks", req.task_template.objects_of("Networks")),
        ("Networks", req.body_object.objects_of("Networks")),  # deprecated spelling
    ]
    for path, networks in attachments:
        for network in networks:
            target = network.str_of("Target") or ""
            if not target:
                continue
            if target.lower() == "host":
                yield path, "attaches the tasks to the host's network"
                continue
            found = req.fact(FactQuery("network", target))
            if found is not None and (
                _string(found.get("Driver")) == "host" or _string(found.get("Name")) == "host"
            ):
                yield path, f'attaches the tasks to network "{target}", the host\'s network'


def _service_rollback(req: _Request) -> Iterator[_Finding]:
    if req.first("rollback") == "previous":
        yield (
            "query rollback",
            'is "previous": it restores a spec dockward has not checked; send the spec instead',
        )


# restricted: requirements


def _is_root(user: str) -> bool:
    """The user part of ``user[:group]`` is root: empty (image default), "root" or uid 0."""
    name = user.partition(":")[0]
    if name == "" or name.lower() == "root":
        return True
    return _GO_ATOI.fullmatch(name) is not None and int(name) == 0


def _non_root(req: _Request) -> Iterator[_Finding]:
    need = "restricted containers must run as a non-root user"
    users: list[tuple[str, str]] = []
    if req.operation == "container.create":
        user = req.body_object.str_of("User") or ""
        image = None if user else req.image_config
        if image is None:
            users.append(("User", user))
        else:  # without User, the container runs as its image's USER
            default = _string(image[1].get("User"))
            if _is_root(default):
                shown = f'"{default}"' if default else "root (it sets no USER)"
                yield "User", f'is not set and image "{image[0]}" runs as {shown}: {need}'
    for section in req.container_specs:
        users.append((section.path("User"), section.obj.str_of("User") or ""))
    if req.operation == "container.exec":
        user = req.body_object.str_of("User") or ""
        if user:
            users.append(("User", user))
        elif (target := req.target) is not None:  # without User, exec runs as the container's
            default = _string(_mapping(target[1].get("Config")).get("User"))
            if _is_root(default):
                shown = f'"{default}"' if default else "the image's default user"
                yield "User", f'is not set and container "{target[0]}" runs as {shown}: {need}'
    for path, user in users:
        if not user:
            yield path, f"is not set (the image's user may be root): {need}"
        elif _is_root(user):
            yield path, f'is "{user}": {need}'


def _effective_no_new_privileges(options: list[str]) -> bool:
    enabled = False
    for option in options:
        if option == "no-new-privileges":
            enabled = True
            continue
        key, value = _split_security_option(option)
        if key == "no-new-privileges":
            enabled = value in _GO_TRUE
    return enabled


def _no_new_privileges(req: _Request) -> Iterator[_Finding]:
    if req.operation == "container.create":
        section = req.required_host_config
        if not _effective_no_new_privileges(section.obj.strings_of("SecurityOpt")):
            yield (
                section.path("SecurityOpt"),
                'lacks "no-new-privileges": restricted containers must not gain privileges',
            )
    for section in req.container_specs:
        privileges = section.obj.obj("Privileges") or GoObject()
        if not privileges.bool_of("NoNewPrivileges"):
            yield (
                section.path("Privileges.NoNewPrivileges"),
                "is not true: restricted containers must not gain privileges",
            )


def _drop_all_capabilities(req: _Request) -> Iterator[_Finding]:
    lists: list[tuple[str, list[str]]] = []
    if req.operation == "container.create":
        section = req.required_host_config
        lists.append((section.path("CapDrop"), section.obj.strslice_of("CapDrop")))
    for section in req.container_specs:
        lists.append((section.path("CapabilityDrop"), section.obj.strings_of("CapabilityDrop")))
    for path, names in lists:
        if ALL not in {normalize_capability(name) for name in names}:
            yield path, 'lacks "ALL": restricted containers drop every capability they do not add'


def _limits(req: _Request) -> Iterator[_Finding]:
    if req.operation == "container.create":
        section = req.required_host_config
        memory = section.obj.int_of("Memory") or 0
        if memory <= 0:
            yield section.path("Memory"), "is not set: restricted containers need a memory limit"
        nano_cpus = section.obj.int_of("NanoCpus") or 0
        quota = section.obj.int_of("CpuQuota") or 0
        if nano_cpus <= 0 and quota <= 0:
            yield (
                section.path("NanoCpus"),
                "is not set (nor CpuQuota): restricted containers need a CPU limit",
            )
        pids = section.obj.int_of("PidsLimit") or 0
        if pids <= 0:
            yield section.path("PidsLimit"), "is not set: restricted containers need a PIDs limit"
    elif req.operation == "container.update":
        # 0 and null mean "unchanged"; these would lift a limit.
        body = req.body_object
        for name in ("Memory", "NanoCpus", "CpuQuota"):
            value = body.int_of(name)
            if value is not None and value < 0:
                yield name, f"is {value}: it would remove the container's limit"
        pids_limit = body.int_of("PidsLimit")
        if pids_limit is not None and pids_limit <= 0:
            yield "PidsLimit", f"is {pids_limit}: it would remove the container's PIDs limit"
    elif req.container_specs:
        limits = req.limits
        for name, what in (("MemoryBytes", "memory"), ("NanoCPUs", "CPU"), ("Pids", "PIDs")):
            if (limits.obj.int_of(name) or 0) <= 0:
                yield limits.path(name), f"is not set: restricted services need a {what} limit"


def _image_problem(image: str, settings: ProfileSettings) -> str | None:
    allowed = ", ".join(settings.allowed_registries) or "none"
    if not image:
        return "is not set"
    if looks_like_image_id(image):
        return (
            f'is "{image}", which dockerd may resolve as a local image ID; name an image '
            f"from an allowed registry ({allowed}) or pin it by digest"
        )
    try:
        reference = parse_image_reference(image)
    except ValueError as err:
        return f'is "{image}": {err}'
    if reference.pinned or registry_allows(reference, settings.allowed_registries):
        return None
    return (
        f'is "{image}" ({reference.name}), not from an allowed registry ({allowed}) '
        "and not pinned by digest"
    )


def _image_registry(req: _Request) -> Iterator[_Finding]:
    images: list[tuple[str, str]] = []
    if req.operation == "container.create":
        images.append(("Image", req.body_object.str_of("Image") or ""))
    for section in req.container_specs:
        images.append((section.path("Image"), section.obj.str_of("Image") or ""))
    for path, image in images:
        problem = _image_problem(image, req.settings)
        if problem is not None:
            yield path, problem


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One row: ``run`` yields (field, reason) for each refused setting it finds."""

    name: str
    profile: Literal["baseline", "restricted"]
    operations: frozenset[str]
    field: str
    refuses: str
    run: Callable[[_Request], Iterator[_Finding]] = dataclasses.field(repr=False)
    uses_facts: bool = False


_CREATE = "container.create"
_UPDATE = "container.update"
_START = "container.start"
_EXEC = "container.exec"
_SERVICE = ("service.create", "service.update")


def _ops(*names: str | Iterable[str]) -> frozenset[str]:
    flat: set[str] = set()
    for name in names:
        flat.update([name] if isinstance(name, str) else name)
    return frozenset(flat)


# fmt: off
CHECKS: tuple[Check, ...] = (
    # baseline: no way onto the host
    Check("privileged", "baseline", _ops(_CREATE), "HostConfig.Privileged",
          "Privileged true", _privileged),
    Check("host-namespaces", "baseline", _ops(_CREATE),
          "HostConfig.NetworkMode, PidMode, IpcMode, UTSMode, UsernsMode, CgroupnsMode, Cgroup",
          '"host" or "container:<id>" (joining the host\'s or another container\'s namespace)',
          _namespaces),
    Check("host-path-binds", "baseline", _ops(_CREATE), "HostConfig.Binds",
          "host paths outside allowed_host_paths, the Docker socket or a directory above it, "
          "named volumes created with bind or device options", _binds, uses_facts=True),
    Check("host-path-mounts", "baseline", _ops(_CREATE, _SERVICE),
          "HostConfig.Mounts, TaskTemplate.ContainerSpec.Mounts",
          "bind mounts as Binds; volume mounts whose DriverConfig binds or mounts devices, or "
          "passes options to a plugin; existing volumes with such options; npipe, cluster and "
          "unknown types", _mounts, uses_facts=True),
    Check("volumes-from", "baseline", _ops(_CREATE), "HostConfig.VolumesFrom",
          "taking the volumes of a container whose mounts reach the host", _volumes_from,
          uses_facts=True),
    Check("capabilities", "baseline", _ops(_CREATE, _SERVICE),
          "HostConfig.CapAdd, HostConfig.Capabilities, TaskTemplate.ContainerSpec.CapabilityAdd",
          "capabilities outside Docker's default set, ALL, any spelling", _capabilities),
    Check("devices", "baseline", _ops(_CREATE, _UPDATE, _SERVICE),
          "HostConfig.Devices, DeviceCgroupRules, DeviceRequests; "
          "TaskTemplate.Resources.Reservations.GenericResources", "any entry", _devices),
    Check("security-options", "baseline", _ops(_CREATE, _SERVICE, "image.build"),
          "HostConfig.SecurityOpt, query securityopt, TaskTemplate.ContainerSpec.Privileges",
          "unconfined or custom seccomp, unconfined AppArmor, SELinux disabled or unconfined "
          "type/user/role, writable-cgroups, systempaths, unknown options", _security_options),
    Check("system-paths", "baseline", _ops(_CREATE), "HostConfig.MaskedPaths, ReadonlyPaths",
          "a list (even []) that leaves out a path the daemon masks or makes read-only",
          _system_paths),
    Check("cgroup-parent", "baseline", _ops(_CREATE, _UPDATE, "image.build"),
          "HostConfig.CgroupParent, query cgroupparent", "any value", _cgroup_parent),
    Check("sysctls", "baseline", _ops(_CREATE, _SERVICE),
          "HostConfig.Sysctls, TaskTemplate.ContainerSpec.Sysctls",
          "sysctls outside the safe namespaced set", _sysctls),
    Check("runtime", "baseline", _ops(_CREATE), "HostConfig.Runtime",
          "runtimes outside allowed_runtimes", _runtime),
    Check("proc-working-dir", "baseline", _ops(_CREATE, _EXEC, _SERVICE),
          "WorkingDir, TaskTemplate.ContainerSpec.Dir",
          "directories under /proc, also as the image's WORKDIR or the exec'd container's "
          "working directory when none is given", _working_directory, uses_facts=True),
    Check("tmpfs-options", "baseline", _ops(_CREATE, _SERVICE, "volume.create"),
          "HostConfig.Tmpfs, Mounts (tmpfs, volume), Binds (volume), DriverOpts",
          "tmpfs mounts with dev or suid in effect: daemon tmpfs options, tmpfs mount options, "
          "local tmpfs volumes without nodev,nosuid (created or named)", _tmpfs_dev_suid,
          uses_facts=True),
    Check("start-host-config", "baseline", _ops(_START), "container start body",
          "any body (a HostConfig at start, API < 1.24)", _start_host_config),
    Check("checkpoint-dir", "baseline", _ops(_START, "checkpoint.create"),
          "query checkpoint-dir, CheckpointDir", "any host directory", _checkpoint_directory),
    Check("exec-privileged", "baseline", _ops(_EXEC), "Privileged (exec)", "Privileged true",
          _exec_privileged),
    # the operations whose path container the relay pins to the ID judged here
    Check("target-container", "baseline", PINNED_OPERATIONS,
          "the container named in the path",
          "exec, file upload or stdin attach into a container that is privileged, shares a "
          "host namespace, has added capabilities or devices, or mounts host paths",
          _target_container, uses_facts=True),
    Check("attach-logs", "baseline", _ops("container.attach", "container.attach_ws"),
          "query logs", "true, for a role that may not container.logs", _attach_logs),
    Check("ps-args", "baseline", _ops("container.top"), "query ps_args",
          "ps options that can print process environments (e, environ, unknown ones), for a "
          "role without the secrets grant", _ps_args),
    Check("exec-start", "baseline", _ops("container.exec.start"),
          "the exec named in the path",
          "starting an exec created privileged, or one in a container the target-container "
          "check refuses", _exec_start, uses_facts=True),
    Check("volume-options", "baseline", _ops("volume.create"),
          "DriverOpts, ClusterVolumeSpec",
          "local options that bind host paths outside the allow-list or mount devices; plugin "
          "options; cluster volumes", _volume_create),
    Check("plugin-privileges", "baseline", _ops("plugin.pull", "plugin.upgrade", _SERVICE),
          "privileges body, TaskTemplate.PluginSpec.PluginPrivilege", "any privilege",
          _plugin_privileges),
    Check("plugin-configuration", "baseline", _ops("plugin.set", "plugin.create"),
          "plugin set, plugin create", "every request", _plugin_configuration),
    Check("network-create", "baseline", _ops("network.create"),
          "Driver, Options, IPAM, Ingress, ConfigOnly, ConfigFrom",
          "drivers other than bridge (macvlan, ipvlan, overlay, ...), driver options beyond MTU "
          "and ICC (a host bridge name), custom IPAM drivers or subnets, swarm and config-only "
          "networks", _network_create),
    Check("build-network", "baseline", _ops("image.build"), "query networkmode",
          '"host" or "container:<id>"', _build_network),
    Check("remote-fetch", "baseline", _ops("image.build", "image.pull"),
          "query remote (build), query fromSrc (import)",
          "a URL or Git context the daemon fetches itself, from a host outbound does not list",
          _remote_context),
    Check("outbound-registry", "baseline",
          _ops("image.pull", "image.push", "image.search", "distribution.inspect", "auth",
               "plugin.privileges", "plugin.pull", "plugin.upgrade", "plugin.push", _SERVICE),
          "query fromImage, term, remote; the image in the path; ServerAddress; "
          "TaskTemplate.ContainerSpec.Image",
          "registries at loopback, link-local, private or other non-public addresses (literal, "
          "or a name that resolves to one) that outbound does not list", _outbound_registry,
          uses_facts=True),
    Check("log-driver", "baseline", _ops(_CREATE, _SERVICE),
          "HostConfig.LogConfig, TaskTemplate.LogDriver",
          "logging drivers that send logs off the host, unless to a server outbound lists; "
          "options of the daemon's default driver beyond the local ones", _log_driver),
    Check("service-host-network", "baseline", _ops(_SERVICE),
          "TaskTemplate.Networks, Networks", "the host network, by name or ID",
          _service_networks, uses_facts=True),
    Check("service-rollback", "baseline", _ops("service.update"), "query rollback",
          '"previous" (a spec dockward has not seen)', _service_rollback),
    # restricted: baseline, plus requirements
    Check("non-root-user", "restricted", _ops(_CREATE, _EXEC, _SERVICE),
          "User, TaskTemplate.ContainerSpec.User",
          '"root", uid 0 (also "0:0", "root:x"); empty when the image\'s USER is root or unset '
          "(services: empty); an exec without User into a root container", _non_root,
          uses_facts=True),
    Check("no-new-privileges", "restricted", _ops(_CREATE, _SERVICE),
          "HostConfig.SecurityOpt, TaskTemplate.ContainerSpec.Privileges.NoNewPrivileges",
          "missing no-new-privileges", _no_new_privileges),
    Check("drop-all-capabilities", "restricted", _ops(_CREATE, _SERVICE),
          "HostConfig.CapDrop, TaskTemplate.ContainerSpec.CapabilityDrop", 'missing "ALL"',
          _drop_all_capabilities),
    Check("resource-limits", "restricted", _ops(_CREATE, _UPDATE, _SERVICE),
          "HostConfig.Memory, NanoCpus/CpuQuota, PidsLimit; TaskTemplate.Resources.Limits",
          "missing limits; an update that lifts one", _limits),
    Check("tmpfs-exec", "restricted", _ops(_CREATE, _SERVICE, "volume.create"),
          "HostConfig.Tmpfs, Mounts (tmpfs, volume), Binds (volume), DriverOpts",
          "tmpfs mounts with exec in effect (local tmpfs volumes without noexec)", _tmpfs_exec,
          uses_facts=True),
    Check("image-registry", "restricted", _ops(_CREATE, _SERVICE),
          "Image, TaskTemplate.ContainerSpec.Image",
          "images outside allowed_registries and not pinned by digest; image IDs",
          _image_registry),
)
# fmt: on

_INSPECTED = frozenset().union(*(check.operations for check in CHECKS))


def inspected_operations() -> frozenset[str]:
    """Operations whose body, query or target the baseline and restricted profiles check."""
    return _INSPECTED


def _select_checks(profile: str, operation: str) -> tuple[Check, ...]:
    if profile == "unrestricted":
        return ()
    return tuple(
        check
        for check in CHECKS
        if operation in check.operations
        and (check.profile == "baseline" or profile == "restricted")
    )


# Chosen once, not per request: the rows of each profile for each operation, in table order.
_CHECKS_BY_PROFILE = {
    profile: {operation: _select_checks(profile, operation) for operation in _INSPECTED}
    for profile in PROFILES
}


def _checks_for(profile: str, operation: str) -> tuple[Check, ...]:
    if profile not in _CHECKS_BY_PROFILE:
        raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    return _CHECKS_BY_PROFILE[profile].get(operation, ())


def facts_needed(
    profile: str,
    operation: str,
    params: Mapping[str, str],
    query: Mapping[str, list[str]],
    body: object,
    settings: ProfileSettings,
    facts: Facts | None = None,
) -> list[FactQuery]:
    """The daemon lookups ``check_request`` still needs, given the ``facts`` fetched so far.

    ``settings`` must be those ``check_request`` will judge with: which lookups a check makes
    can depend on them (a volume bound to an allowed host path is still looked up). Call it
    again with the answers merged in until it returns ``[]``: a container's volumes are only
    known once the container has been inspected. Raises ``ProtocolError`` for a body dockerd
    would refuse.
    """
    missing: list[FactQuery] = []
    request = _Request(operation, params, query, body, settings, facts or {}, missing)
    for check in _checks_for(profile, operation):
        if check.uses_facts:
            for _ in check.run(request):
                pass
    return missing


def check_request(
    profile: str,
    operation: str,
    params: Mapping[str, str],
    query: Mapping[str, list[str]],
    body: object,
    settings: ProfileSettings,
    facts: Facts,
) -> Violation | None:
    """The first violation of ``profile`` in table order, or ``None`` if the request passes.

    ``body`` is ``decode_body``'s result (``None`` for no body, or for operations whose
    registry row has no judged JSON body). Raises ``ProtocolError`` (400) where dockerd's own
    decoding would fail (a string where a boolean belongs, ...). A fact ``facts_needed`` asked
    for but absent from ``facts`` is a violation.
    """
    request = _Request(operation, params, query, body, settings, facts)
    for check in _checks_for(profile, operation):
        try:
            for path, reason in check.run(request):
                return Violation(path, reason, check.name)
        except _MissingFact as missing:
            return Violation(
                check.field,
                f"could not be checked: the daemon was not asked about {missing.query.kind} "
                f'"{missing.query.name}"',
                check.name,
            )
    return None
