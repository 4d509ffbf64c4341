"""Checks on what a container mounts: host paths, volumes and tmpfs.

Host-path binds (compared after Go's ``path.Clean``), ``Mounts``, named volumes (their options
looked up in the daemon), ``VolumesFrom``, volume creation, and tmpfs mount flags in each of
their spellings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from dockward.policy.container_risk import LOCAL_VOLUME_DRIVERS as _LOCAL_DRIVERS
from dockward.policy.container_risk import (
    host_path_problem,
    local_options_problem,
    mount_problems,
    named_volume_problem,
)
from dockward.policy.container_risk import json_mapping as _mapping
from dockward.policy.container_risk import json_string as _string
from dockward.policy.gojson import GoObject
from dockward.policy.profiles.facts import FactQuery
from dockward.policy.profiles.request import SERVICE_OPERATIONS, Finding, ProfileSettings, Request

_VALID_MOUNT_MODES = re.compile(
    r"(?:(?:ro|rw|z|Z|nocopy|shared|rshared|slave|rslave|private|rprivate"
    r"|consistent|cached|delegated)(?:,|$))+"
)


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


def _named_volume_problem(req: Request, name: str) -> str | None:
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


def _mount_problem(req: Request, mount: GoObject) -> str | None:
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


def _inspected_mount_problems(req: Request, inspect: Mapping[str, object]) -> Iterator[str]:
    """Host-reaching mounts of an existing container, judged by the container-risk judge."""
    for problem in mount_problems(inspect, req.settings.risk, req.volume):
        yield problem.reason


def binds(req: Request) -> Iterator[Finding]:
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


def mounts(req: Request) -> Iterator[Finding]:
    for section in [*req.host_configs, *req.container_specs]:
        for index, mount in enumerate(section.obj.objects_of("Mounts")):
            problem = _mount_problem(req, mount)
            if problem is not None:
                yield section.path(f"Mounts[{index}]"), problem


def volumes_from(req: Request) -> Iterator[Finding]:
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


def volume_create(req: Request) -> Iterator[Finding]:
    body = req.body_object
    driver = body.str_of("Driver") or ""
    problem = _volume_options_problem(driver, body.str_map_of("DriverOpts"), req.settings)
    if problem is not None:
        yield "DriverOpts", problem
    if body.field("ClusterVolumeSpec") is not None:
        yield "ClusterVolumeSpec", "creates a cluster (CSI) volume, which dockward cannot judge"


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


def _named_tmpfs_problem(req: Request, name: str, flags: tuple[str, ...]) -> str | None:
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


def _tmpfs_mount_problem(req: Request, mount: GoObject, flags: tuple[str, ...]) -> str | None:
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


def _tmpfs_findings(req: Request, flags: tuple[str, ...]) -> Iterator[Finding]:
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
    sections = req.container_specs if req.operation in SERVICE_OPERATIONS else req.host_configs
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


def tmpfs_dev_suid(req: Request) -> Iterator[Finding]:
    return _tmpfs_findings(req, ("dev", "suid"))


def tmpfs_exec(req: Request) -> Iterator[Finding]:
    return _tmpfs_findings(req, ("exec",))
