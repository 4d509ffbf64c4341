"""Checks on what the daemon connects to and the networks it creates.

Network creation (a private bridge only), a build's network mode, remote build contexts and
imports, registries and network log drivers (allowed to non-public hosts only when the role's
``outbound`` lists them).
"""

from __future__ import annotations

from collections.abc import Iterator

from dockward.policy.images import parse_image_reference
from dockward.policy.outbound import (
    Destination,
    auth_destination,
    log_destination,
    parse_destination,
    search_destination,
    url_destination,
)
from dockward.policy.profiles.request import SERVICE_OPERATIONS, Finding, Request

_SAFE_NETWORK_DRIVERS = frozenset({"", "bridge"})
_SAFE_NETWORK_OPTIONS = frozenset(
    {"com.docker.network.driver.mtu", "com.docker.network.bridge.enable_icc"}
)


def network_create(req: Request) -> Iterator[Finding]:
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


def build_network(req: Request) -> Iterator[Finding]:
    mode = req.first("networkmode") or ""
    if mode.lower() == "host":
        yield "query networkmode", 'is "host": build steps would share the host\'s network'
    elif mode.lower().startswith("container:"):
        yield "query networkmode", f'is "{mode}": build steps would join a container\'s network'


def remote_context(req: Request) -> Iterator[Finding]:
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


def _reference_destination(reference: str) -> Destination | str:
    """The registry an image reference names, or why it cannot be read."""
    try:
        domain = parse_image_reference(reference).domain
    except ValueError as err:
        return str(err)
    destination = parse_destination(domain)
    return destination if destination is not None else f"registry {domain!r} cannot be read"


def _registries(req: Request) -> Iterator[tuple[str, str, Destination | str]]:
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


def outbound_registry(req: Request) -> Iterator[Finding]:
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


def _log_configs(req: Request) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(field, driver, options) of each logging configuration the request sets."""
    for section in req.host_configs:
        log = section.obj.obj("LogConfig")
        if log is not None:
            yield section.path("LogConfig"), log.str_of("Type") or "", log.str_map_of("Config")
    if req.operation in SERVICE_OPERATIONS:
        log_driver = req.task_template.obj("LogDriver")
        if log_driver is not None:
            driver = log_driver.str_of("Name") or ""
            yield "TaskTemplate.LogDriver", driver, log_driver.str_map_of("Options")


def log_driver(req: Request) -> Iterator[Finding]:
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
