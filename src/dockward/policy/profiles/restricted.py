"""What ``restricted`` requires beyond ``baseline``.

A non-root user (also the image's or container's default), no-new-privileges, every capability
dropped, memory, CPU and PIDs limits, and images from allowed registries or pinned by digest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dockward.policy.capabilities import ALL, normalize_capability
from dockward.policy.container_risk import PARSE_BOOL_TRUE as _GO_TRUE
from dockward.policy.container_risk import json_mapping as _mapping
from dockward.policy.container_risk import json_string as _string
from dockward.policy.container_risk import split_security_option as _split_security_option
from dockward.policy.gojson import GoObject
from dockward.policy.images import looks_like_image_id, parse_image_reference, registry_allows
from dockward.policy.profiles.request import Finding, ProfileSettings, Request

_GO_ATOI = re.compile(r"[+-]?[0-9]+")


def _is_root(user: str) -> bool:
    """The user part of ``user[:group]`` is root: empty (image default), "root" or uid 0."""
    name = user.partition(":")[0]
    if name == "" or name.lower() == "root":
        return True
    return _GO_ATOI.fullmatch(name) is not None and int(name) == 0


def non_root(req: Request) -> Iterator[Finding]:
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


def no_new_privileges(req: Request) -> Iterator[Finding]:
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


def drop_all_capabilities(req: Request) -> Iterator[Finding]:
    lists: list[tuple[str, list[str]]] = []
    if req.operation == "container.create":
        section = req.required_host_config
        lists.append((section.path("CapDrop"), section.obj.strslice_of("CapDrop")))
    for section in req.container_specs:
        lists.append((section.path("CapabilityDrop"), section.obj.strings_of("CapabilityDrop")))
    for path, names in lists:
        if ALL not in {normalize_capability(name) for name in names}:
            yield path, 'lacks "ALL": restricted containers drop every capability they do not add'


def limits(req: Request) -> Iterator[Finding]:
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


def image_registry(req: Request) -> Iterator[Finding]:
    images: list[tuple[str, str]] = []
    if req.operation == "container.create":
        images.append(("Image", req.body_object.str_of("Image") or ""))
    for section in req.container_specs:
        images.append((section.path("Image"), section.obj.str_of("Image") or ""))
    for path, image in images:
        problem = _image_problem(image, req.settings)
        if problem is not None:
            yield path, problem
