"""The posture audit of a daemon the scanner could talk to: pure checks over fetched JSON.

``collect`` reads ``/version``, ``/info``, ``/containers/json?all=1`` and each container's
inspect through a ``fetch`` function (read-only ``GET``s); ``audit`` turns those facts into
``Evidence`` through two tables and the table of known vulnerabilities. ``DAEMON_CHECKS``: each
check is a function from facts to evidence strings (no evidence, no finding).
``CONTAINER_CHECKS``: each finding and the rows of the container-risk judge
(``dockward.policy.container_risk``, which the policy also uses to refuse reaching into a
container) that produce it; the judge gets no site allow-list, so a bind mount is a finding only
where it is dangerous on any host (a daemon's socket, ``/``, system directories), and volume
options are not looked up. ``audit`` is the producer of the posture rows of ``checks.CHECKS``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from dockward.policy.container_risk import RiskSettings, container_problems
from dockward.scan.findings import CheckId, DockerVersion, Evidence, Severity
from dockward.scan.vulns import matching

Fetch = Callable[[str], Awaitable[Any]]
MAX_CONTAINERS = 1000

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
        problems = container_problems(container, SCAN_SETTINGS)
        for check_id, rows in CONTAINER_CHECKS:
            for problem in problems:
                if problem.check in rows:
                    evidence = f"{name}: {problem.evidence}"
                    severity = Severity(problem.severity)
                    found.append(Evidence(check_id, evidence, severity=severity))
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

SCAN_SETTINGS = RiskSettings()
"""No site allow-list: the judge reports what is dangerous on any host."""

# fmt: off
CONTAINER_CHECKS: tuple[tuple[CheckId, frozenset[str]], ...] = (
    (CheckId.CONTAINER_PRIVILEGED, frozenset({"privileged"})),
    (CheckId.CONTAINER_DOCKER_SOCKET, frozenset({"docker-socket"})),
    (CheckId.CONTAINER_HOST_ROOT, frozenset({"host-root"})),
    (CheckId.CONTAINER_SENSITIVE_MOUNT, frozenset({"host-path", "host-volume"})),
    (CheckId.CONTAINER_CAP_ADD, frozenset({"capabilities"})),
    (CheckId.CONTAINER_HOST_NETWORK, frozenset({"host-network"})),
    (CheckId.CONTAINER_HOST_PID, frozenset({"host-pid"})),
    (CheckId.CONTAINER_HOST_IPC, frozenset({"host-ipc"})),
    (CheckId.CONTAINER_HOST_UTS, frozenset({"host-uts"})),
    (CheckId.CONTAINER_HOST_USERNS, frozenset({"host-userns"})),
    (CheckId.CONTAINER_UNCONFINED, frozenset({"security-options", "system-paths"})),
    (CheckId.CONTAINER_DEVICES, frozenset({"devices"})),
    (CheckId.CONTAINER_PUBLIC_PORT, frozenset({"public-port"})),
)
"""Each container finding, in report order, and the judge's rows (by name) that produce it."""
# fmt: on


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
