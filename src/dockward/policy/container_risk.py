"""The container-risk judge: what an existing container can reach, read from its inspect answer.

``CONTAINER_RISKS`` is one table of checks over the JSON dockerd returns for
``GET /containers/{id}/json``; ``container_problems`` runs it and returns a ``Problem`` per
finding, with the field and value that show it, a reason and a severity. Two consumers read the
same verdicts:

* the policy (``target-container`` and ``exec-start`` in ``dockward.policy.profiles``): a
  process started in a container (an exec, input through attach, files written into it) gets
  the container's privileges, so reaching into one with a problem whose row ``reaches_host`` is
  refused;
* the scanner's posture audit (``dockward.scan.audit``): every problem becomes a finding.

Verdicts follow what dockerd does with the setting, not what it looks like: ``CapAdd`` naming a
capability of Docker's default set adds nothing; a device cgroup rule lets the container's root
``mknod`` and open host devices (``CAP_MKNOD`` is in the default set); an empty
``ReadonlyPaths`` (what ``--security-opt systempaths=unconfined`` sends) leaves ``/proc/sys`` and
``/proc/sysrq-trigger`` writable; ``label=disable`` turns SELinux confinement off.

``RiskSettings`` carries the site's allow-lists. ``allowed_host_paths=None`` means "no allow-list
known" (the scanner): then only mounts that are dangerous on any host are problems (a daemon's
socket, ``/``, system directories). The runtime is deliberately not judged here: inspect shows
the daemon's default runtime by name, which the create check accepts as "empty". Volume options
are not part of a container's inspect; ``volume`` looks a volume up (the policy's daemon
lookups) or is ``None`` (not judged).

The host-path and local-volume-option judgements are also what container create and volume
create use, so a bind gets the same verdict before and after it exists.

Pure functions: no I/O, no logging.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, NamedTuple, TypeAlias

from dockward.policy.capabilities import ALL, DEFAULT_CAPABILITIES, normalize_capability
from dockward.policy.paths import go_path_clean

__all__ = [
    "CONTAINER_RISKS",
    "DANGEROUS_CAPABILITIES",
    "DEFAULT_SOCKET_PATHS",
    "LOCAL_VOLUME_DRIVERS",
    "MOUNT_CHECKS",
    "PARSE_BOOL_FALSE",
    "PARSE_BOOL_TRUE",
    "SYSTEM_DIRECTORIES",
    "Problem",
    "RiskCheck",
    "RiskSettings",
    "Severity",
    "clean_host_path",
    "container_problems",
    "host_path_problem",
    "is_under",
    "json_mapping",
    "json_string",
    "json_strings",
    "local_options_problem",
    "mount_problems",
    "named_volume_problem",
    "split_security_option",
]

Severity: TypeAlias = Literal["critical", "high", "medium", "low", "info"]
VolumeLookup: TypeAlias = Callable[[str], Mapping[str, object] | None]
"""``GET /volumes/{name}``'s answer for a volume, or ``None`` when the daemon has no such volume."""

DEFAULT_SOCKET_PATHS: tuple[str, ...] = ("/var/run/docker.sock", "/run/docker.sock")

# Sockets of a container daemon, recognised by name wherever they are (rootless dockerd puts
# docker.sock under /run/user/<uid>/), and containerd's state directory (its socket and every
# shim's): each one controls containers as root.
_DAEMON_SOCKET_NAME = re.compile(r"(?:docker|containerd|dockershim|podman)\.sock")
_DAEMON_SOCKET_DIRECTORIES = ("/run/containerd", "/var/run/containerd")

# Host directories whose contents are the host: mounted read-only they leak secrets and kernel
# state, read-write they are the host (CIS Docker Benchmark 5.6).
SYSTEM_DIRECTORIES: tuple[str, ...] = (
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/proc",
    "/sys",
    "/usr",
    "/var/lib/docker",
    "/root",
    "/var/run",
    "/run",
)

# Capabilities that amount to root on the host, or close to it: a container holding one is a
# high-severity finding (any other added capability is medium).
DANGEROUS_CAPABILITIES: frozenset[str] = frozenset(
    {
        ALL,
        "CAP_SYS_ADMIN",
        "CAP_SYS_MODULE",
        "CAP_SYS_PTRACE",
        "CAP_SYS_RAWIO",
        "CAP_DAC_READ_SEARCH",
        "CAP_BPF",
        "CAP_PERFMON",
        "CAP_SYS_BOOT",
        "CAP_MAC_ADMIN",
        "CAP_MAC_OVERRIDE",
    }
)

# Go's strconv.ParseBool
PARSE_BOOL_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
PARSE_BOOL_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

# The masked and read-only paths every daemon since 17.06 sets (the newer ones, such as
# /proc/interrupts, are missing from containers an older daemon made, which are not unmasked).
_CORE_MASKED_PATHS = ("/proc/kcore", "/proc/keys", "/proc/sched_debug", "/proc/timer_list")
_CORE_READONLY_PATHS = ("/proc/sys", "/proc/sysrq-trigger")

LOCAL_VOLUME_DRIVERS = frozenset({"", "local"})
"""Volume drivers whose options dockward reads (the built-in local driver)."""


@dataclass(frozen=True)
class RiskSettings:
    """The site's allow-lists the judge consults; the defaults are the scanner's (none known)."""

    allowed_host_paths: tuple[str, ...] | None = None
    """Host path prefixes a bind may use; ``None``: no allow-list, judge what is dangerous
    anywhere (a daemon's socket, ``/``, ``SYSTEM_DIRECTORIES``)."""
    docker_socket_paths: tuple[str, ...] = DEFAULT_SOCKET_PATHS
    """Never mountable, nor any directory above them, even under an allowed path."""

    # Derived once per settings object (a role's settings live as long as the policy).
    @cached_property
    def clean_host_paths(self) -> tuple[str, ...] | None:
        """``allowed_host_paths`` after ``path.Clean``, as bind sources are compared."""
        if self.allowed_host_paths is None:
            return None
        return tuple(clean_host_path(prefix) for prefix in self.allowed_host_paths)

    @cached_property
    def clean_socket_paths(self) -> tuple[str, ...]:
        """``docker_socket_paths`` after ``path.Clean``."""
        return tuple(clean_host_path(socket) for socket in self.docker_socket_paths)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing an existing container can reach, and where its inspect answer shows it."""

    check: str
    """The ``CONTAINER_RISKS`` row that found it."""
    field: str
    """Where in the inspect JSON: ``HostConfig.CapAdd``, ``Mounts[2]``."""
    value: str
    """The offending value as shown to a user: ``CAP_SYS_ADMIN``, ``/etc mounted at /x (ro)``."""
    reason: str
    """What it means, as a verb phrase after ``container "web"``: ``is privileged``."""
    severity: Severity
    reaches_host: bool
    """A process started in the container reaches the host through it (the policy refuses)."""

    @property
    def evidence(self) -> str:
        """``field: value``, as a scanner finding shows it."""
        return f"{self.field}: {self.value}"


class _Found(NamedTuple):
    field: str
    value: str
    reason: str
    severity: Severity | None = None  # None: the row's


# --- reading inspect JSON (the daemon's answer, read defensively) -----------------------------


def json_mapping(value: object) -> Mapping[str, object]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def json_string(value: object) -> str:
    """``value`` if it is a string, else ``""``."""
    return value if isinstance(value, str) else ""


def json_strings(value: object) -> list[str]:
    """The strings of a JSON array (a lone string counts as one)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def split_security_option(option: str) -> tuple[str, str]:
    """``key=value``, or the older ``key:value``, split as dockerd splits a security option."""
    key, _, value = option.partition("=" if "=" in option else ":")
    return key, value


# --- host paths and volumes (also the create checks') ----------------------------------------


def clean_host_path(path: str) -> str:
    """Go's ``path.Clean`` of an absolute path (no trailing slash, ``..`` stops at ``/``)."""
    cleaned = go_path_clean(path)
    return cleaned.rstrip("/") or "/"


def is_under(path: str, prefix: str) -> bool:
    """``path`` is ``prefix`` or lies below it (both clean and absolute)."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _socket_at(path: str, settings: RiskSettings) -> str | None:
    """How to name the daemon socket ``path`` is or lies in (``None``: none dockward knows)."""
    for socket in settings.clean_socket_paths:
        if is_under(path, socket):
            return f"the Docker socket {socket}"
    if (path.endswith(".sock") and _DAEMON_SOCKET_NAME.fullmatch(path.rpartition("/")[2])) or (
        path.startswith(_DAEMON_SOCKET_DIRECTORIES)
        and any(is_under(path, directory) for directory in _DAEMON_SOCKET_DIRECTORIES)
    ):
        return "a container daemon's socket"
    return None


def _socket_below(path: str, settings: RiskSettings) -> str | None:
    """How to name a configured socket inside directory ``path`` (``None``: none)."""
    socket = next((s for s in settings.clean_socket_paths if is_under(s, path)), None)
    return None if socket is None else f"the Docker socket {socket}"


def _host_path_verdict(source: str, settings: RiskSettings) -> tuple[str, str] | None:
    """``(check, reason)`` for binding host path ``source``, or ``None`` if it is no problem.

    ``check`` is the ``CONTAINER_RISKS`` row the bind belongs to: ``host-root``,
    ``docker-socket`` or ``host-path``; ``reason`` reads "host path ...".
    """
    if not source.startswith("/"):
        return "host-path", f'host path "{source}", which is not absolute'
    path = clean_host_path(source)
    shown = f'"{source}"' if path == source else f'"{source}" (= "{path}")'
    inside = _socket_at(path, settings)
    exposed = inside or _socket_below(path, settings)
    check = "host-root" if path == "/" else "docker-socket" if exposed else "host-path"
    allowed = settings.clean_host_paths
    if allowed is None:
        if path == "/":
            return check, f"host path {shown}, the host's root filesystem"
        if exposed is not None:
            return check, f"host path {shown}, which exposes {exposed}"
        if any(is_under(path, directory) for directory in SYSTEM_DIRECTORIES):
            return check, f"host path {shown}, a system directory"
        return None
    allowed_text = ", ".join(allowed) or "none"
    if not any(is_under(path, prefix) for prefix in allowed):
        if inside is not None:
            return check, f"host path {shown}, {inside} (allowed: {allowed_text})"
        return check, f"host path {shown} (allowed: {allowed_text})"
    if exposed is not None:
        return check, f"host path {shown}, which exposes {exposed} (never allowed)"
    return None


def host_path_problem(source: str, settings: RiskSettings) -> str | None:
    """Why binding host path ``source`` is a problem, as "host path ..." (or ``None``).

    A daemon's socket, anything in it and every directory above a configured one (``/var/run``,
    ``/``): always. Otherwise, with an allow-list: anything outside it; without one: ``/`` and
    the system directories.
    """
    verdict = _host_path_verdict(source, settings)
    return None if verdict is None else verdict[1]


def local_options_problem(options: Mapping[str, str], settings: RiskSettings) -> str | None:
    """Why local-driver volume options reach the host, as a verb phrase (or ``None``).

    The local driver mounts ``device`` on the volume's directory with ``type`` and the mount
    flags in ``o``. ``o=bind`` (or ``rbind``) binds a host path, judged like any bind; any other
    ``type`` than ``tmpfs`` (ext4, xfs, overlay, nfs, cifs, none) mounts a host device, host
    directories or a network filesystem, and is refused. A tmpfs volume is fine.
    """
    folded = {key.lower(): value for key, value in options.items()}
    mount_type, device = folded.get("type", ""), folded.get("device", "")
    flags = {flag.strip().lower() for flag in folded.get("o", "").split(",")}
    if flags & {"bind", "rbind"}:
        problem = host_path_problem(device, settings)
        return None if problem is None else f"binds {problem}"
    if mount_type.lower() != "tmpfs" and (mount_type or device):
        return (
            f'mounts device "{device}" with type "{mount_type}" (only tmpfs volumes may '
            "set mount options)"
        )
    return None


def named_volume_problem(name: str, volume: VolumeLookup, settings: RiskSettings) -> str | None:
    """Why mounting the existing volume ``name`` reaches the host (``None``: it does not).

    A volume that does not exist yet is created without options; a plugin's volume was made by
    someone allowed to use that plugin and is not second-guessed.
    """
    found = volume(name)
    if found is None or json_string(found.get("Driver")) not in LOCAL_VOLUME_DRIVERS:
        return None
    options = {key: json_string(value) for key, value in json_mapping(found.get("Options")).items()}
    problem = local_options_problem(options, settings)
    return None if problem is None else f'uses volume "{name}", which {problem}'


# --- the container as the checks read it ---------------------------------------------------


class _MountFinding(NamedTuple):
    check: str
    found: _Found


class _Container:
    """One inspect answer with the views the checks share (computed once, on demand)."""

    def __init__(
        self, inspect: Mapping[str, object], settings: RiskSettings, volume: VolumeLookup | None
    ) -> None:
        self.inspect = inspect
        self.host = json_mapping(inspect.get("HostConfig"))
        self.settings = settings
        self.volume = volume

    @cached_property
    def mounts(self) -> list[_MountFinding]:
        """Every host-reaching mount: ``Mounts``, then ``HostConfig.Binds`` not listed there."""
        found: list[_MountFinding] = []
        seen: set[tuple[str, str]] = set()
        mounts = self.inspect.get("Mounts")
        for index, entry in enumerate(mounts if isinstance(mounts, list) else []):
            mount = json_mapping(entry)
            source = json_string(mount.get("Source"))
            target = json_string(mount.get("Destination"))
            name = json_string(mount.get("Name"))
            # entries from daemons before API 1.25 carry no Type
            kind = json_string(mount.get("Type")) or ("volume" if name else "bind")
            where = f"Mounts[{index}]"
            if kind == "bind":
                seen.add((source, target))
                shown = f"{source} mounted at {target} ({_mode(mount.get('RW'))})"
                if (hit := self._bind(where, source, shown)) is not None:
                    found.append(hit)
            elif kind == "volume" and json_string(mount.get("Driver")) in LOCAL_VOLUME_DRIVERS:
                if name and self.volume is not None:
                    problem = named_volume_problem(name, self.volume, self.settings)
                    if problem is not None:
                        found.append(_MountFinding("host-volume", _Found(where, name, problem)))
            elif kind == "npipe":
                problem = "mounts a named pipe"
                found.append(_MountFinding("docker-socket", _Found(where, source, problem)))
        for spec in json_strings(self.host.get("Binds")):
            parts = spec.split(":")
            if len(parts) < 2 or not parts[0].startswith("/") or (parts[0], parts[1]) in seen:
                continue
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            shown = f"{parts[0]} mounted at {parts[1]} ({'ro' if read_only else 'rw'})"
            if (hit := self._bind("HostConfig.Binds", parts[0], shown)) is not None:
                found.append(hit)
        return found

    def _bind(self, where: str, source: str, shown: str) -> _MountFinding | None:
        verdict = _host_path_verdict(source, self.settings)
        if verdict is None:
            return None
        check, problem = verdict
        return _MountFinding(check, _Found(where, shown, f"mounts {problem}"))


def _mode(read_write: object) -> str:
    return "ro" if read_write is False else "rw"


# --- the checks ----------------------------------------------------------------------------


def _privileged(container: _Container) -> Iterator[_Found]:
    if container.host.get("Privileged") is True:
        yield _Found("HostConfig.Privileged", "true", "is privileged")


def _namespace(field_name: str, namespace: str) -> Callable[[_Container], Iterator[_Found]]:
    # CgroupnsMode is not judged: "host" is the default on cgroup v1 hosts.
    def check(container: _Container) -> Iterator[_Found]:
        if json_string(container.host.get(field_name)) == "host":
            reason = f"shares the host's {namespace} namespace"
            yield _Found(f"HostConfig.{field_name}", "host", reason)

    return check


def _capabilities(container: _Container) -> Iterator[_Found]:
    # Capabilities (API 1.40 only) is the exact set, replacing the default one.
    for name in ("CapAdd", "Capabilities"):
        added = [normalize_capability(cap) for cap in json_strings(container.host.get(name))]
        beyond = list(dict.fromkeys(cap for cap in added if cap not in DEFAULT_CAPABILITIES))
        if beyond:
            shown = ", ".join(beyond)
            severity: Severity = "high" if DANGEROUS_CAPABILITIES.intersection(beyond) else "medium"
            yield _Found(
                f"HostConfig.{name}", shown, f"has the added capabilities {shown}", severity
            )


def _devices(container: _Container) -> Iterator[_Found]:
    host = container.host
    devices = [json_mapping(device) for device in _list(host.get("Devices"))]
    if devices:
        shown = ", ".join(json_string(device.get("PathOnHost")) or "?" for device in devices)
        yield _Found("HostConfig.Devices", shown, "has host devices")
    # A device cgroup rule lets the container's root mknod and open host devices (CAP_MKNOD is
    # in the default set).
    if rules := json_strings(host.get("DeviceCgroupRules")):
        reason = f'may open host devices (device cgroup rule "{rules[0]}")'
        yield _Found("HostConfig.DeviceCgroupRules", ", ".join(rules), reason)
    if requests := [json_mapping(request) for request in _list(host.get("DeviceRequests"))]:
        shown = ", ".join(json_string(request.get("Driver")) or "default" for request in requests)
        yield _Found("HostConfig.DeviceRequests", shown, "has host devices from a device driver")


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _unconfining_option(option: str) -> bool:
    """The security option turns off a confinement dockerd applies by default.

    Only what the create checks refuse as unconfined, not a custom (maybe stricter) seccomp
    profile or AppArmor profile.
    """
    key, value = split_security_option(option)
    key, value = key.lower(), value.lower()
    return (
        (key in ("seccomp", "apparmor") and value == "unconfined")
        or (key == "label" and value == "disable")
        or option == "disable"
        or (key == "writable-cgroups" and value not in PARSE_BOOL_FALSE)
    )


def _security_options(container: _Container) -> Iterator[_Found]:
    options = [o for o in json_strings(container.host.get("SecurityOpt")) if _unconfining_option(o)]
    if options:
        quoted = ", ".join(f'"{option}"' for option in options)
        yield _Found("HostConfig.SecurityOpt", ", ".join(options), f"runs with {quoted}")
    # The profile dockerd applied: "unconfined" without apparmor=unconfined in SecurityOpt is
    # what a privileged container gets (judged by its own row).
    apparmor = json_string(container.inspect.get("AppArmorProfile"))
    if (
        apparmor == "unconfined"
        and container.host.get("Privileged") is not True
        and not any(split_security_option(o)[0].lower() == "apparmor" for o in options)
    ):
        yield _Found("AppArmorProfile", apparmor, 'runs with AppArmor profile "unconfined"')


def _system_paths(container: _Container) -> Iterator[_Found]:
    for name, core, what in (
        ("MaskedPaths", _CORE_MASKED_PATHS, "masked"),
        ("ReadonlyPaths", _CORE_READONLY_PATHS, "read-only"),
    ):
        paths = container.host.get(name)
        if not isinstance(paths, list):
            continue  # privileged (judged by its own row) or unknown: nothing to compare
        kept = {clean_host_path(path) for path in json_strings(paths)}
        if dropped := [path for path in core if path not in kept]:
            shown = ", ".join(dropped)
            yield _Found(
                f"HostConfig.{name}", f"drops {shown}", f"has {shown} no longer {what} ({name})"
            )


def _mounts(check: str) -> Callable[[_Container], Iterator[_Found]]:
    def run(container: _Container) -> Iterator[_Found]:
        for hit in container.mounts:
            if hit.check == check:
                yield hit.found

    return run


def _public_ports(container: _Container) -> Iterator[_Found]:
    for port, bindings in json_mapping(container.host.get("PortBindings")).items():
        for binding in _list(bindings):
            host_ip = json_string(json_mapping(binding).get("HostIp"))
            if host_ip in ("", "0.0.0.0", "::"):
                host_port = json_string(json_mapping(binding).get("HostPort"))
                shown = f"{port} published on {host_ip or '0.0.0.0'}:{host_port}"
                yield _Found("HostConfig.PortBindings", shown, f"publishes {shown}")


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskCheck:
    """One row: ``run`` yields what it finds in one container's inspect answer."""

    name: str
    fields: str
    severity: Severity
    """The usual severity; a finding may raise it (capabilities that amount to root: high)."""
    reaches_host: bool
    """A process started in the container reaches the host through what this row finds."""
    finds: str
    run: Callable[[_Container], Iterator[_Found]] = field(repr=False)


# fmt: off
CONTAINER_RISKS: tuple[RiskCheck, ...] = (
    RiskCheck("privileged", "HostConfig.Privileged", "high", True,
              "true: every capability and every host device", _privileged),
    RiskCheck("host-network", "HostConfig.NetworkMode", "medium", True, '"host"',
              _namespace("NetworkMode", "network")),
    RiskCheck("host-pid", "HostConfig.PidMode", "medium", True, '"host"',
              _namespace("PidMode", "PID")),
    RiskCheck("host-ipc", "HostConfig.IpcMode", "medium", True, '"host"',
              _namespace("IpcMode", "IPC")),
    RiskCheck("host-uts", "HostConfig.UTSMode", "low", True, '"host"',
              _namespace("UTSMode", "UTS")),
    RiskCheck("host-userns", "HostConfig.UsernsMode", "medium", True, '"host"',
              _namespace("UsernsMode", "user")),
    RiskCheck("capabilities", "HostConfig.CapAdd, Capabilities", "medium", True,
              "capabilities outside Docker's default set (high for ALL, SYS_ADMIN and the like); "
              "adding a default one (NET_RAW, ...) adds nothing", _capabilities),
    RiskCheck("devices", "HostConfig.Devices, DeviceCgroupRules, DeviceRequests", "medium", True,
              "any entry", _devices),
    RiskCheck("security-options", "HostConfig.SecurityOpt, AppArmorProfile", "medium", True,
              "seccomp or AppArmor unconfined, SELinux labels disabled (label=disable), "
              "writable cgroups", _security_options),
    RiskCheck("system-paths", "HostConfig.MaskedPaths, ReadonlyPaths", "medium", True,
              "a list (even []) without the /proc paths every daemon masks or makes read-only",
              _system_paths),
    RiskCheck("docker-socket", "Mounts, HostConfig.Binds", "high", True,
              "a daemon's socket, a directory holding one, a named pipe", _mounts("docker-socket")),
    RiskCheck("host-root", "Mounts, HostConfig.Binds", "high", True,
              "the host's /", _mounts("host-root")),
    RiskCheck("host-path", "Mounts, HostConfig.Binds", "medium", True,
              "host paths outside the allow-list (without one: system directories)",
              _mounts("host-path")),
    RiskCheck("host-volume", "Mounts", "medium", True,
              "local volumes created with bind or device options (looked up)",
              _mounts("host-volume")),
    RiskCheck("public-port", "HostConfig.PortBindings", "low", False,
              "ports published on every host interface", _public_ports),
)
# fmt: on

MOUNT_CHECKS = frozenset({"docker-socket", "host-root", "host-path", "host-volume"})
"""The rows that judge mounts: what ``VolumesFrom`` would take from a container."""


def container_problems(
    inspect: Mapping[str, object],
    settings: RiskSettings,
    volume: VolumeLookup | None = None,
    checks: tuple[RiskCheck, ...] = CONTAINER_RISKS,
) -> list[Problem]:
    """Every problem ``checks`` find in one container, in table order.

    ``inspect`` is ``GET /containers/{id}/json``'s answer; ``volume`` looks up a named volume
    (``None``: local volumes are not judged). Exceptions raised by ``volume`` propagate.
    """
    container = _Container(inspect, settings, volume)
    return [
        Problem(
            check.name,
            found.field,
            found.value,
            found.reason,
            found.severity or check.severity,
            check.reaches_host,
        )
        for check in checks
        for found in check.run(container)
    ]


_MOUNT_ROWS = tuple(check for check in CONTAINER_RISKS if check.name in MOUNT_CHECKS)


def mount_problems(
    inspect: Mapping[str, object], settings: RiskSettings, volume: VolumeLookup | None = None
) -> list[Problem]:
    """The problems of a container's mounts alone (``MOUNT_CHECKS``)."""
    return container_problems(inspect, settings, volume, _MOUNT_ROWS)
