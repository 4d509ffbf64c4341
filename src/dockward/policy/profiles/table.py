"""The check table: which checks each profile runs, and the two entry points.

``CHECKS`` is read top to bottom; each row names the operations it applies to, the least profile
it belongs to (a ``baseline`` row also applies under ``restricted``), what it refuses and the
function that looks. Adding a check is adding a row. ``check_request`` returns the first
``Violation`` in table order; ``facts_needed`` the daemon lookups the rows still need;
``evaluate`` does both in one pass; ``unrestricted`` checks nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from dockward.policy.operations import PINNED_OPERATIONS
from dockward.policy.profiles.container import (
    attach_logs,
    capabilities,
    cgroup_parent,
    checkpoint_directory,
    devices,
    exec_privileged,
    exec_start,
    namespaces,
    privileged,
    runtime,
    security_options,
    start_host_config,
    sysctls,
    system_paths,
    target_container,
    working_directory,
)
from dockward.policy.profiles.facts import FactQuery, Facts, MissingFact
from dockward.policy.profiles.mounts import (
    binds,
    mounts,
    tmpfs_dev_suid,
    tmpfs_exec,
    volume_create,
    volumes_from,
)
from dockward.policy.profiles.network import (
    build_network,
    log_driver,
    network_create,
    outbound_registry,
    remote_context,
)
from dockward.policy.profiles.plugins import plugin_configuration, plugin_privileges
from dockward.policy.profiles.ps_args import ps_args
from dockward.policy.profiles.request import SERVICE_OPERATIONS, Finding, ProfileSettings, Request
from dockward.policy.profiles.restricted import (
    drop_all_capabilities,
    image_registry,
    limits,
    no_new_privileges,
    non_root,
)
from dockward.policy.profiles.service import service_networks, service_rollback

PROFILES = ("unrestricted", "baseline", "restricted")


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
class Check:
    """One row: ``run`` yields (field, reason) for each refused setting it finds."""

    name: str
    profile: Literal["baseline", "restricted"]
    operations: frozenset[str]
    field: str
    refuses: str
    run: Callable[[Request], Iterator[Finding]] = dataclasses.field(repr=False)
    uses_facts: bool = False


_CREATE = "container.create"
_UPDATE = "container.update"
_START = "container.start"
_EXEC = "container.exec"
_SERVICE = SERVICE_OPERATIONS


def _ops(*names: str | Iterable[str]) -> frozenset[str]:
    flat: set[str] = set()
    for name in names:
        flat.update([name] if isinstance(name, str) else name)
    return frozenset(flat)


# fmt: off
CHECKS: tuple[Check, ...] = (
    # baseline: no way onto the host
    Check("privileged", "baseline", _ops(_CREATE), "HostConfig.Privileged",
          "Privileged true", privileged),
    Check("host-namespaces", "baseline", _ops(_CREATE),
          "HostConfig.NetworkMode, PidMode, IpcMode, UTSMode, UsernsMode, CgroupnsMode, Cgroup",
          '"host" or "container:<id>" (joining the host\'s or another container\'s namespace)',
          namespaces),
    Check("host-path-binds", "baseline", _ops(_CREATE), "HostConfig.Binds",
          "host paths outside allowed_host_paths, the Docker socket or a directory above it, "
          "named volumes created with bind or device options", binds, uses_facts=True),
    Check("host-path-mounts", "baseline", _ops(_CREATE, _SERVICE),
          "HostConfig.Mounts, TaskTemplate.ContainerSpec.Mounts",
          "bind mounts as Binds; volume mounts whose DriverConfig binds or mounts devices, or "
          "passes options to a plugin; existing volumes with such options; npipe, cluster and "
          "unknown types", mounts, uses_facts=True),
    Check("volumes-from", "baseline", _ops(_CREATE), "HostConfig.VolumesFrom",
          "taking the volumes of a container whose mounts reach the host", volumes_from,
          uses_facts=True),
    Check("capabilities", "baseline", _ops(_CREATE, _SERVICE),
          "HostConfig.CapAdd, HostConfig.Capabilities, TaskTemplate.ContainerSpec.CapabilityAdd",
          "capabilities outside Docker's default set, ALL, any spelling", capabilities),
    Check("devices", "baseline", _ops(_CREATE, _UPDATE, _SERVICE),
          "HostConfig.Devices, DeviceCgroupRules, DeviceRequests; "
          "TaskTemplate.Resources.Reservations.GenericResources", "any entry", devices),
    Check("security-options", "baseline", _ops(_CREATE, _SERVICE, "image.build"),
          "HostConfig.SecurityOpt, query securityopt, TaskTemplate.ContainerSpec.Privileges",
          "unconfined or custom seccomp, unconfined AppArmor, SELinux disabled or unconfined "
          "type/user/role, writable-cgroups, systempaths, unknown options", security_options),
    Check("system-paths", "baseline", _ops(_CREATE), "HostConfig.MaskedPaths, ReadonlyPaths",
          "a list (even []) that leaves out a path the daemon masks or makes read-only",
          system_paths),
    Check("cgroup-parent", "baseline", _ops(_CREATE, _UPDATE, "image.build"),
          "HostConfig.CgroupParent, query cgroupparent", "any value", cgroup_parent),
    Check("sysctls", "baseline", _ops(_CREATE, _SERVICE),
          "HostConfig.Sysctls, TaskTemplate.ContainerSpec.Sysctls",
          "sysctls outside the safe namespaced set", sysctls),
    Check("runtime", "baseline", _ops(_CREATE), "HostConfig.Runtime",
          "runtimes outside allowed_runtimes", runtime),
    Check("proc-working-dir", "baseline", _ops(_CREATE, _EXEC, _SERVICE),
          "WorkingDir, TaskTemplate.ContainerSpec.Dir",
          "directories under /proc, also as the image's WORKDIR or the exec'd container's "
          "working directory when none is given", working_directory, uses_facts=True),
    Check("tmpfs-options", "baseline", _ops(_CREATE, _SERVICE, "volume.create"),
          "HostConfig.Tmpfs, Mounts (tmpfs, volume), Binds (volume), DriverOpts",
          "tmpfs mounts with dev or suid in effect: daemon tmpfs options, tmpfs mount options, "
          "local tmpfs volumes without nodev,nosuid (created or named)", tmpfs_dev_suid,
          uses_facts=True),
    Check("start-host-config", "baseline", _ops(_START), "container start body",
          "any body (a HostConfig at start, API < 1.24)", start_host_config),
    Check("checkpoint-dir", "baseline", _ops(_START, "checkpoint.create"),
          "query checkpoint-dir, CheckpointDir", "any host directory", checkpoint_directory),
    Check("exec-privileged", "baseline", _ops(_EXEC), "Privileged (exec)", "Privileged true",
          exec_privileged),
    # the operations whose path container the relay pins to the ID judged here
    Check("target-container", "baseline", PINNED_OPERATIONS,
          "the container named in the path",
          "exec, file upload or stdin attach into a container that is privileged, shares a "
          "host namespace, has added capabilities or devices, or mounts host paths",
          target_container, uses_facts=True),
    Check("attach-logs", "baseline", _ops("container.attach", "container.attach_ws"),
          "query logs", "true, for a role that may not container.logs", attach_logs),
    Check("ps-args", "baseline", _ops("container.top"), "query ps_args",
          "ps options that can print process environments (e, environ, unknown ones), for a "
          "role without the secrets grant", ps_args),
    Check("exec-start", "baseline", _ops("container.exec.start"),
          "the exec named in the path",
          "starting an exec created privileged, or one in a container the target-container "
          "check refuses", exec_start, uses_facts=True),
    Check("volume-options", "baseline", _ops("volume.create"),
          "DriverOpts, ClusterVolumeSpec",
          "local options that bind host paths outside the allow-list or mount devices; plugin "
          "options; cluster volumes", volume_create),
    Check("plugin-privileges", "baseline", _ops("plugin.pull", "plugin.upgrade", _SERVICE),
          "privileges body, TaskTemplate.PluginSpec.PluginPrivilege", "any privilege",
          plugin_privileges),
    Check("plugin-configuration", "baseline", _ops("plugin.set", "plugin.create"),
          "plugin set, plugin create", "every request", plugin_configuration),
    Check("network-create", "baseline", _ops("network.create"),
          "Driver, Options, IPAM, Ingress, ConfigOnly, ConfigFrom",
          "drivers other than bridge (macvlan, ipvlan, overlay, ...), driver options beyond MTU "
          "and ICC (a host bridge name), custom IPAM drivers or subnets, swarm and config-only "
          "networks", network_create),
    Check("build-network", "baseline", _ops("image.build"), "query networkmode",
          '"host" or "container:<id>"', build_network),
    Check("remote-fetch", "baseline", _ops("image.build", "image.pull"),
          "query remote (build), query fromSrc (import)",
          "a URL or Git context the daemon fetches itself, from a host outbound does not list",
          remote_context),
    Check("outbound-registry", "baseline",
          _ops("image.pull", "image.push", "image.search", "distribution.inspect", "auth",
               "plugin.privileges", "plugin.pull", "plugin.upgrade", "plugin.push", _SERVICE),
          "query fromImage, term, remote; the image in the path; ServerAddress; "
          "TaskTemplate.ContainerSpec.Image",
          "registries at loopback, link-local, private or other non-public addresses (literal, "
          "or a name that resolves to one) that outbound does not list", outbound_registry,
          uses_facts=True),
    Check("log-driver", "baseline", _ops(_CREATE, _SERVICE),
          "HostConfig.LogConfig, TaskTemplate.LogDriver",
          "logging drivers that send logs off the host, unless to a server outbound lists; "
          "options of the daemon's default driver beyond the local ones", log_driver),
    Check("service-host-network", "baseline", _ops(_SERVICE),
          "TaskTemplate.Networks, Networks", "the host network, by name or ID",
          service_networks, uses_facts=True),
    Check("service-rollback", "baseline", _ops("service.update"), "query rollback",
          '"previous" (a spec dockward has not seen)', service_rollback),
    # restricted: baseline, plus requirements
    Check("non-root-user", "restricted", _ops(_CREATE, _EXEC, _SERVICE),
          "User, TaskTemplate.ContainerSpec.User",
          '"root", uid 0 (also "0:0", "root:x"); empty when the image\'s USER is root or unset '
          "(services: empty); an exec without User into a root container", non_root,
          uses_facts=True),
    Check("no-new-privileges", "restricted", _ops(_CREATE, _SERVICE),
          "HostConfig.SecurityOpt, TaskTemplate.ContainerSpec.Privileges.NoNewPrivileges",
          "missing no-new-privileges", no_new_privileges),
    Check("drop-all-capabilities", "restricted", _ops(_CREATE, _SERVICE),
          "HostConfig.CapDrop, TaskTemplate.ContainerSpec.CapabilityDrop", 'missing "ALL"',
          drop_all_capabilities),
    Check("resource-limits", "restricted", _ops(_CREATE, _UPDATE, _SERVICE),
          "HostConfig.Memory, NanoCpus/CpuQuota, PidsLimit; TaskTemplate.Resources.Limits",
          "missing limits; an update that lifts one", limits),
    Check("tmpfs-exec", "restricted", _ops(_CREATE, _SERVICE, "volume.create"),
          "HostConfig.Tmpfs, Mounts (tmpfs, volume), Binds (volume), DriverOpts",
          "tmpfs mounts with exec in effect (local tmpfs volumes without noexec)", tmpfs_exec,
          uses_facts=True),
    Check("image-registry", "restricted", _ops(_CREATE, _SERVICE),
          "Image, TaskTemplate.ContainerSpec.Image",
          "images outside allowed_registries and not pinned by digest; image IDs",
          image_registry),
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
    again with the answers merged in until it returns ``[]``, for at most ``MAX_FACT_ROUNDS``
    rounds: a container's volumes are only known once the container has been inspected.
    Raises ``ProtocolError`` for a body dockerd would refuse.
    """
    missing: list[FactQuery] = []
    request = Request(operation, params, query, body, settings, facts or {}, missing)
    for check in _checks_for(profile, operation):
        if check.uses_facts:
            for _ in check.run(request):
                pass
    return missing


@dataclass(frozen=True)
class Evaluation:
    """One pass of ``evaluate``: the lookups still missing, or the verdict once none are."""

    missing: tuple[FactQuery, ...]
    violation: Violation | None


def evaluate(
    profile: str,
    operation: str,
    params: Mapping[str, str],
    query: Mapping[str, list[str]],
    body: object,
    settings: ProfileSettings,
    facts: Facts,
) -> Evaluation:
    """``facts_needed`` and ``check_request`` in one pass over the table.

    Returns the lookups still missing (the verdict waits for them), or, once nothing is missing,
    ``check_request``'s verdict. In the first round (no facts yet) only the rows that make
    lookups run until they have asked for what they need. Later, a violation found while every
    fact read so far was present is final even if later rows would still want lookups: it is
    the first in table order. The gateway calls this once per round, where calling
    ``facts_needed`` and then ``check_request`` would run the checks twice.
    """
    missing: list[FactQuery] = []
    request = Request(operation, params, query, body, settings, facts, missing)
    checks = _checks_for(profile, operation)
    if not facts:  # the first round: most requests that need lookups need them now
        for check in checks:
            if check.uses_facts:
                for _ in check.run(request):
                    pass
        if missing:
            return Evaluation(tuple(missing), None)
    for check in checks:
        if missing and not check.uses_facts:
            continue  # the verdict waits for lookups anyway; only more lookups matter now
        for path, reason in check.run(request):
            if not missing:  # found on facts the daemon gave, not on a lookup still to come
                return Evaluation((), Violation(path, reason, check.name))
    return Evaluation(tuple(missing), None)


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
    request = Request(operation, params, query, body, settings, facts)
    for check in _checks_for(profile, operation):
        try:
            for path, reason in check.run(request):
                return Violation(path, reason, check.name)
        except MissingFact as missing:
            return Violation(
                check.field,
                f"could not be checked: the daemon was not asked about {missing.query.kind} "
                f'"{missing.query.name}"',
                check.name,
            )
    return None
