"""Checks on a container's own settings and on reaching into an existing container.

Create, update, exec, start and a service's ContainerSpec: privileges, namespaces, capabilities,
devices, security options, masked paths, cgroups, sysctls, runtime, working directory, logs
through attach; exec, file upload and stdin attach into a container that reaches the host, as
``dockward.policy.container_risk`` judges it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from dockward.policy.capabilities import ALL, DEFAULT_CAPABILITIES, normalize_capability
from dockward.policy.container_risk import PARSE_BOOL_FALSE as _GO_FALSE
from dockward.policy.container_risk import PARSE_BOOL_TRUE as _GO_TRUE
from dockward.policy.container_risk import clean_host_path as _clean_host_path
from dockward.policy.container_risk import container_problems
from dockward.policy.container_risk import is_under as _under
from dockward.policy.container_risk import json_mapping as _mapping
from dockward.policy.container_risk import json_string as _string
from dockward.policy.container_risk import split_security_option as _split_security_option
from dockward.policy.gojson import GoObject
from dockward.policy.operations import TARGET_ACTIONS
from dockward.policy.paths import go_bool
from dockward.policy.profiles.facts import FactQuery
from dockward.policy.profiles.request import SERVICE_OPERATIONS, Finding, Request

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


def privileged(req: Request) -> Iterator[Finding]:
    for section in req.host_configs:
        if section.obj.bool_of("Privileged"):
            yield (
                section.path("Privileged"),
                "is true: a privileged container has every capability and host device",
            )


def namespaces(req: Request) -> Iterator[Finding]:
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


def capabilities(req: Request) -> Iterator[Finding]:
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


def devices(req: Request) -> Iterator[Finding]:
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


def security_options(req: Request) -> Iterator[Finding]:
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


def system_paths(req: Request) -> Iterator[Finding]:
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


def cgroup_parent(req: Request) -> Iterator[Finding]:
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


def sysctls(req: Request) -> Iterator[Finding]:
    for section in [*req.host_configs, *req.container_specs]:
        for key in section.obj.str_map_of("Sysctls"):
            if key.replace("/", ".") not in SAFE_SYSCTLS:
                yield (
                    section.path("Sysctls"),
                    f'sets "{key}", which is not a safe namespaced sysctl',
                )


def runtime(req: Request) -> Iterator[Finding]:
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


def working_directory(req: Request) -> Iterator[Finding]:
    """A working directory under /proc, given in the request or left to a default.

    Without ``WorkingDir`` a container works in its image's ``WORKDIR`` (which ``docker
    commit --change`` or a build sets) and an exec in its container's working directory:
    both are looked up and judged like a value in the body.
    """
    if req.operation in SERVICE_OPERATIONS:
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


def start_host_config(req: Request) -> Iterator[Finding]:
    if req.body is not None:
        yield (
            "HostConfig (start body)",
            "is refused: dockerd applies it as the container's new HostConfig (API < 1.24); "
            "set options when creating the container",
        )


def checkpoint_directory(req: Request) -> Iterator[Finding]:
    if req.operation == "container.start" and (directory := req.first("checkpoint-dir")):
        yield "query checkpoint-dir", f'is "{directory}": it names a host directory'
    if req.operation == "checkpoint.create":
        directory = req.body_object.str_of("CheckpointDir") or ""
        if directory:
            yield "CheckpointDir", f'is "{directory}": it names a host directory'


def exec_privileged(req: Request) -> Iterator[Finding]:
    if req.body_object.bool_of("Privileged"):
        yield "Privileged", "is true: the process would get every capability and host device"


def target_container(req: Request) -> Iterator[Finding]:
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


def exec_start(req: Request) -> Iterator[Finding]:
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


def _container_problems(req: Request, inspect: Mapping[str, object]) -> list[str]:
    """What reaching into an existing container would reach (``dockward.policy.container_risk``)."""
    problems = container_problems(inspect, req.settings.risk, req.volume)
    return [problem.reason for problem in problems if problem.reaches_host]


def attach_logs(req: Request) -> Iterator[Finding]:
    """Attach with ``logs`` true answers with the container's whole output so far: what
    ``container.logs`` gives, so only a role that may read logs may ask for it."""
    if go_bool(req.first("logs")) and not req.settings.reads_logs:
        yield (
            "query logs",
            "is true: it returns the container's past output, as container.logs does, which "
            "this role may not read",
        )
