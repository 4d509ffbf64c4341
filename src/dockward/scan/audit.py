"""The posture audit of a daemon the scanner could talk to: pure checks over fetched JSON.

``collect`` reads ``/version``, ``/info``, ``/containers/json?all=1`` and each container's
inspect through a ``fetch`` function (read-only ``GET``s); ``audit`` turns those facts into
``Evidence`` through two tables, ``DAEMON_CHECKS`` and ``CONTAINER_CHECKS``, and the table of
known vulnerabilities. Each check is a function from facts to evidence strings: no evidence, no
finding. ``audit`` is the producer of the posture rows of ``checks.CHECKS``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from dockward.scan.findings import CheckId, DockerVersion, Evidence, Severity
from dockward.scan.vulns import matching

Fetch = Callable[[str], Awaitable[Any]]
MAX_CONTAINERS = 1000

DOCKER_SOCKETS = re.compile(r"(^|/)(docker|containerd|dockershim|podman)\.sock$|/run/containerd/")
SENSITIVE_DIRS = (
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
# Capabilities that amount to root on the host, or close to it.
DANGEROUS_CAPS = {
    "ALL",
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "DAC_READ_SEARCH",
    "BPF",
    "PERFMON",
    "SYS_BOOT",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
}
# The listener warnings dockerd puts in /info since 18.09 (moby #37684).
_LISTENER_WARNING = re.compile(r"API is accessible on (\S+) without (encryption|TLS client)")


@dataclass
class DaemonFacts:
    """What the read-only GETs returned."""

    version: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    containers: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False


async def collect(fetch: Fetch, max_containers: int = MAX_CONTAINERS) -> DaemonFacts:
    """Fetch the facts the checks need. Only GETs: ``/version``, ``/info``, containers."""
    facts = DaemonFacts()
    facts.version = _as_dict(await fetch("/version"))
    facts.info = _as_dict(await fetch("/info"))
    listing = await fetch("/containers/json?all=1")
    summaries = listing if isinstance(listing, list) else []
    facts.truncated = len(summaries) > max_containers
    for summary in summaries[:max_containers]:
        ident = str(summary.get("Id", "")) if isinstance(summary, dict) else ""
        if ident:
            facts.containers.append(
                _as_dict(await fetch(f"/containers/{quote(ident, safe='')}/json"))
            )
    return facts


def docker_version(version: dict[str, Any]) -> DockerVersion:
    """The interesting part of ``GET /version``."""
    components = {}
    for component in version.get("Components") or []:
        if isinstance(component, dict) and component.get("Name"):
            components[str(component["Name"])] = str(component.get("Version", ""))
    return DockerVersion(
        version=_str(version.get("Version")),
        api_version=_str(version.get("ApiVersion")),
        min_api_version=_str(version.get("MinAPIVersion")),
        os=_str(version.get("Os")),
        arch=_str(version.get("Arch")),
        kernel_version=_str(version.get("KernelVersion")),
        git_commit=_str(version.get("GitCommit")),
        components=components,
    )


def audit(facts: DaemonFacts) -> list[Evidence]:
    """Every daemon and container finding, daemon first, in table order."""
    found: list[Evidence] = []
    for check_id, check in DAEMON_CHECKS:
        found += [Evidence(check_id, evidence) for evidence in check(facts)]
    found += _vulnerabilities(facts)
    for container in facts.containers:
        name = _container_name(container)
        for check_id, ccheck in CONTAINER_CHECKS:
            for evidence in ccheck(container):
                severity = _severity_override(check_id, evidence)
                found.append(Evidence(check_id, f"{name}: {evidence}", severity=severity))
    return found


# -- daemon checks ------------------------------------------------------------------------------

DaemonCheck = Callable[[DaemonFacts], list[str]]


def _security_options(facts: DaemonFacts) -> list[str]:
    return [str(opt) for opt in facts.info.get("SecurityOptions") or []]


def _has_option(facts: DaemonFacts, name: str) -> bool:
    return any(
        opt == f"name={name}" or opt.startswith(f"name={name},") for opt in _security_options(facts)
    )


def _insecure_listeners(facts: DaemonFacts) -> list[str]:
    return [m.group(0) for w in _warnings(facts) if (m := _LISTENER_WARNING.search(w))]


def _other_warnings(facts: DaemonFacts) -> list[str]:
    return [w.splitlines()[0].strip() for w in _warnings(facts) if not _LISTENER_WARNING.search(w)]


def _no_userns(facts: DaemonFacts) -> list[str]:
    if _has_option(facts, "userns") or _has_option(facts, "rootless"):
        return []
    return [f"SecurityOptions: {', '.join(_security_options(facts)) or 'none'}"]


def _not_rootless(facts: DaemonFacts) -> list[str]:
    return [] if _has_option(facts, "rootless") else ["no name=rootless in SecurityOptions"]


def _seccomp(facts: DaemonFacts) -> list[str]:
    options = [o for o in _security_options(facts) if o.startswith("name=seccomp")]
    if not options:
        return ["no seccomp in SecurityOptions: containers run without a syscall filter"]
    profile = dict(kv.split("=", 1) for kv in options[0].split(",") if "=" in kv).get("profile")
    if profile in (None, "default", "builtin"):
        return []
    return [f"seccomp profile {profile!r}"]


def _no_lsm(facts: DaemonFacts) -> list[str]:
    if _has_option(facts, "apparmor") or _has_option(facts, "selinux"):
        return []
    return ["no name=apparmor or name=selinux in SecurityOptions"]


def _no_authz(facts: DaemonFacts) -> list[str]:
    plugins = (facts.info.get("Plugins") or {}).get("Authorization") or []
    return [] if plugins else ["Plugins.Authorization is empty"]


def _no_live_restore(facts: DaemonFacts) -> list[str]:
    return [] if facts.info.get("LiveRestoreEnabled") else ["LiveRestoreEnabled is false"]


def _no_new_privileges(facts: DaemonFacts) -> list[str]:
    return (
        []
        if _has_option(facts, "no-new-privileges")
        else ["no name=no-new-privileges in SecurityOptions"]
    )


def _insecure_registries(facts: DaemonFacts) -> list[str]:
    config = facts.info.get("RegistryConfig") or {}
    loopback = {"127.0.0.0/8", "::1/128"}
    cidrs = [c for c in config.get("InsecureRegistryCIDRs") or [] if c not in loopback]
    names = [
        name
        for name, index in (config.get("IndexConfigs") or {}).items()
        if isinstance(index, dict) and index.get("Secure") is False
    ]
    found = cidrs + names
    return [f"insecure registries: {', '.join(found)}"] if found else []


def _experimental(facts: DaemonFacts) -> list[str]:
    on = facts.info.get("ExperimentalBuild") or facts.version.get("Experimental")
    return ["ExperimentalBuild is true"] if on else []


DAEMON_CHECKS: tuple[tuple[CheckId, DaemonCheck], ...] = (
    (CheckId.DAEMON_INSECURE_LISTENER, _insecure_listeners),
    (CheckId.DAEMON_WARNING, _other_warnings),
    (CheckId.DAEMON_SECCOMP, _seccomp),
    (CheckId.DAEMON_INSECURE_REGISTRY, _insecure_registries),
    (CheckId.DAEMON_NO_AUTHZ, _no_authz),
    (CheckId.DAEMON_NO_USERNS, _no_userns),
    (CheckId.DAEMON_NO_LSM, _no_lsm),
    (CheckId.DAEMON_NO_LIVE_RESTORE, _no_live_restore),
    (CheckId.DAEMON_NO_NEW_PRIVILEGES, _no_new_privileges),
    (CheckId.DAEMON_EXPERIMENTAL, _experimental),
    (CheckId.DAEMON_NOT_ROOTLESS, _not_rootless),
)


def _vulnerabilities(facts: DaemonFacts) -> list[Evidence]:
    authz = bool((facts.info.get("Plugins") or {}).get("Authorization"))
    versions = {"engine": _str(facts.version.get("Version"))}
    for component in facts.version.get("Components") or []:
        if isinstance(component, dict) and str(component.get("Name", "")).lower() == "runc":
            versions["runc"] = _str(component.get("Version"))
    found = []
    for component, text in versions.items():
        for row in matching(component, text, authz_plugins=authz):
            evidence = (
                f"{component} {text}: {row.cve}, {row.summary} (fixed in {', '.join(row.fixed)}; "
                "distribution builds may carry a backported fix)"
            )
            found.append(
                Evidence(CheckId.ENGINE_VULNERABLE, evidence, severity=row.severity, cve=(row.cve,))
            )
    return found


# -- container checks ---------------------------------------------------------------------------

ContainerCheck = Callable[[dict[str, Any]], list[str]]


def _host_config(container: dict[str, Any]) -> dict[str, Any]:
    return _as_dict(container.get("HostConfig"))


def _mounts(container: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """``(host source, container destination, read-write)`` of every bind mount."""
    seen = set()
    for mount in container.get("Mounts") or []:
        if isinstance(mount, dict) and mount.get("Type", "bind") == "bind":
            entry = (
                str(mount.get("Source", "")),
                str(mount.get("Destination", "")),
                bool(mount.get("RW", True)),
            )
            seen.add(entry[:2])
            yield entry
    for bind in _host_config(container).get("Binds") or []:
        parts = str(bind).split(":")
        if len(parts) >= 2 and parts[0].startswith("/") and (parts[0], parts[1]) not in seen:
            yield parts[0], parts[1], not (len(parts) > 2 and "ro" in parts[2].split(","))


def _privileged(container: dict[str, Any]) -> list[str]:
    return ["HostConfig.Privileged is true"] if _host_config(container).get("Privileged") else []


def _docker_socket(container: dict[str, Any]) -> list[str]:
    return [
        f"{src} mounted at {dst} ({'rw' if rw else 'ro'})"
        for src, dst, rw in _mounts(container)
        if DOCKER_SOCKETS.search(src)
    ]


def _host_root(container: dict[str, Any]) -> list[str]:
    return [
        f"/ mounted at {dst} ({'rw' if rw else 'ro'})"
        for src, dst, rw in _mounts(container)
        if src.rstrip("/") == ""
    ]


def _sensitive_mount(container: dict[str, Any]) -> list[str]:
    found = []
    for src, dst, rw in _mounts(container):
        clean = src.rstrip("/")
        if DOCKER_SOCKETS.search(src) or not clean:
            continue  # reported by the socket and root checks
        if any(clean == d or clean.startswith(d + "/") for d in SENSITIVE_DIRS):
            found.append(f"{src} mounted at {dst} ({'rw' if rw else 'ro'})")
    return found


def _cap_add(container: dict[str, Any]) -> list[str]:
    caps = [
        str(c).upper().removeprefix("CAP_") for c in _host_config(container).get("CapAdd") or []
    ]
    return [f"CapAdd: {', '.join(caps)}"] if caps else []


def _namespace(key: str) -> ContainerCheck:
    def check(container: dict[str, Any]) -> list[str]:
        mode = str(_host_config(container).get(key) or "")
        return [f"HostConfig.{key} is host"] if mode == "host" else []

    return check


def _unconfined(container: dict[str, Any]) -> list[str]:
    options = [str(o) for o in _host_config(container).get("SecurityOpt") or []]
    bad = [
        o for o in options if o.replace(":", "=") in ("seccomp=unconfined", "apparmor=unconfined")
    ]
    if str(container.get("AppArmorProfile", "")) == "unconfined" and not _host_config(
        container
    ).get("Privileged"):
        bad.append("AppArmorProfile unconfined")
    return [f"SecurityOpt: {', '.join(bad)}"] if bad else []


def _devices(container: dict[str, Any]) -> list[str]:
    devices = [
        str(d.get("PathOnHost", ""))
        for d in _host_config(container).get("Devices") or []
        if isinstance(d, dict)
    ]
    return [f"Devices: {', '.join(devices)}"] if devices else []


def _public_ports(container: dict[str, Any]) -> list[str]:
    found = []
    for port, bindings in (_host_config(container).get("PortBindings") or {}).items():
        for binding in bindings or []:
            host_ip = str((binding or {}).get("HostIp", ""))
            if host_ip in ("", "0.0.0.0", "::"):
                found.append(
                    f"{port} published on {host_ip or '0.0.0.0'}:{binding.get('HostPort', '')}"
                )
    return found


CONTAINER_CHECKS: tuple[tuple[CheckId, ContainerCheck], ...] = (
    (CheckId.CONTAINER_PRIVILEGED, _privileged),
    (CheckId.CONTAINER_DOCKER_SOCKET, _docker_socket),
    (CheckId.CONTAINER_HOST_ROOT, _host_root),
    (CheckId.CONTAINER_SENSITIVE_MOUNT, _sensitive_mount),
    (CheckId.CONTAINER_CAP_ADD, _cap_add),
    (CheckId.CONTAINER_HOST_NETWORK, _namespace("NetworkMode")),
    (CheckId.CONTAINER_HOST_PID, _namespace("PidMode")),
    (CheckId.CONTAINER_HOST_IPC, _namespace("IpcMode")),
    (CheckId.CONTAINER_HOST_UTS, _namespace("UTSMode")),
    (CheckId.CONTAINER_HOST_USERNS, _namespace("UsernsMode")),
    (CheckId.CONTAINER_UNCONFINED, _unconfined),
    (CheckId.CONTAINER_DEVICES, _devices),
    (CheckId.CONTAINER_PUBLIC_PORT, _public_ports),
)


def _severity_override(check_id: CheckId, evidence: str) -> Severity | None:
    if check_id is CheckId.CONTAINER_CAP_ADD:
        caps = set(evidence.removeprefix("CapAdd: ").split(", "))
        return Severity.HIGH if caps & DANGEROUS_CAPS else None
    return None


def _container_name(container: dict[str, Any]) -> str:
    name = str(container.get("Name") or "").lstrip("/")
    ident = str(container.get("Id") or "")[:12]
    return f"container {name} ({ident})" if name else f"container {ident}"


def _warnings(facts: DaemonFacts) -> list[str]:
    return [str(w) for w in facts.info.get("Warnings") or []]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
