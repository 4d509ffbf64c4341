"""Outbound: the remote hosts a request makes the daemon contact, and whether a role may.

dockerd connects to other hosts for its clients: the registry of an image it pulls, pushes,
looks up (``/distribution``) or searches, the URL of an import (``fromSrc``) or a build context
(``remote``), a registry it logs in to (``/auth``), and the server a network logging driver
sends every line of a container's output to. A role that can name the host can make the
daemon reach the host's loopback, its link-local metadata service or the private network.

The rules, for roles under ``baseline`` and ``restricted``:

* a **registry** may be any host whose address is public (``ipaddress``'s ``is_global``, not
  multicast); a literal loopback, link-local, private or otherwise special address is refused,
  and so is a name that resolves to one (the gateway resolves it, ``Resolution``);
* a **URL** (import, build context) and a **log server** must be listed in the role's
  ``outbound`` allow-list, whatever its address;
* a host listed in ``outbound`` is allowed in every case: by name (``registry.internal``, with
  or without ``:port``) or by address (``10.1.2.3``, ``10.0.0.0/8``); a registry name whose
  non-public addresses all lie in listed networks passes too.

Logging drivers other than ``json-file``, ``local``, ``journald``, ``none`` and ``syslog`` on a
unix socket send logs over the network: ``syslog`` (tcp, udp, tls), ``gelf``, ``fluentd`` and
``splunk`` are judged by their address option; every other driver (``awslogs``, ``gcplogs``,
``logentries``, plugins) is refused.

Pure functions; name resolution is the gateway's (``dockward.gateway.facts``). The limit:
DNS may answer the daemon differently from the gateway (a short TTL, rebinding), so a name is
judged by the answer the gateway got; list internal registries by name, and keep the host's
own egress rules for anything that must never be reached.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from dockward.policy.images import DEFAULT_DOMAIN

__all__ = [
    "LOCAL_LOG_DRIVERS",
    "Destination",
    "OutboundRules",
    "Resolution",
    "auth_destination",
    "is_public",
    "log_destination",
    "parse_allow_entry",
    "parse_destination",
    "search_destination",
    "url_destination",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LOCAL_LOG_DRIVERS = frozenset({"json-file", "local", "journald", "none"})
# Options the daemon's default driver may take when a request names no driver: those of the
# local drivers. A network driver's address option would override the daemon's own.
LOCAL_LOG_OPTIONS = frozenset(
    {
        "max-size",
        "max-file",
        "compress",
        "labels",
        "labels-regex",
        "env",
        "env-regex",
        "tag",
        "mode",
        "max-buffer-size",
    }
)
# The option of each network driver that names its server, and its default.
_ADDRESS_OPTIONS: Mapping[str, tuple[str, str | None]] = {
    "syslog": ("syslog-address", None),
    "gelf": ("gelf-address", None),
    "fluentd": ("fluentd-address", "localhost:24224"),
    "splunk": ("splunk-url", None),
}
_UNIX_SCHEMES = ("unix://", "unixgram://")
_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]@]+)(?::(?P<port>[0-9]{1,5}))?")
_DOCKER_HUB_NAMES = frozenset({DEFAULT_DOMAIN, "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True, slots=True)
class Destination:
    """A host the daemon would connect to: a lower-cased name or an IP address text (IPv6
    without brackets), and the port when the request gives one."""

    host: str
    port: int | None = None

    @property
    def address(self) -> Address | None:
        """The host as an IP literal (``None`` for a name); IPv4-mapped IPv6 is unmapped."""
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped
        return address

    @property
    def docker_hub(self) -> bool:
        return self.host in _DOCKER_HUB_NAMES

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a name resolved to at the gateway (``None`` in a fact: it does not resolve)."""

    addresses: tuple[Address, ...]


def parse_destination(text: str) -> Destination | None:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address; ``None`` if it is none."""
    try:
        return Destination(str(ipaddress.ip_address(text)).lower())
    except ValueError:
        pass
    match = _HOST_PORT.fullmatch(text)
    if match is None:
        return None
    host = match["host"].strip("[]").lower()
    port = int(match["port"]) if match["port"] is not None else None
    if not host or (port is not None and port > 65535):
        return None
    if match["host"].startswith("["):
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            return None
    return Destination(host, port)


def is_public(address: Address) -> bool:
    """Reachable on the internet: not loopback, link-local, private, shared, reserved,
    unspecified or multicast."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def parse_allow_entry(text: str) -> Destination | Network:
    """One ``outbound`` entry: an address or network (``10.0.0.0/8``), or a host[:port]."""
    problem = f"{text!r} is not a host, host:port, address or network (such as 10.0.0.0/8)"
    if "/" in text:
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(problem + "; list a URL by its host") from None
    destination = parse_destination(text)
    if destination is None:
        raise ValueError(problem)
    return destination


@dataclass(frozen=True)
class OutboundRules:
    """A role's ``outbound`` allow-list, parsed."""

    hosts: frozenset[Destination] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> OutboundRules:
        hosts: set[Destination] = set()
        networks: list[Network] = []
        for entry in entries:
            parsed = parse_allow_entry(entry)
            if isinstance(parsed, Destination):
                address = parsed.address
                if address is not None and parsed.port is None:
                    networks.append(ipaddress.ip_network(address))
                else:
                    hosts.add(parsed)
            else:
                networks.append(parsed)
        return cls(frozenset(hosts), tuple(networks))

    def names(self, destination: Destination) -> bool:
        """Listed by host (any port) or by host and this port."""
        return (
            Destination(destination.host) in self.hosts
            or (destination.port is not None and destination in self.hosts)
            or self.contains(destination.address)
        )

    def contains(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def problem(
        self, destination: Destination, resolution: Resolution | None, *, public_ok: bool
    ) -> str | None:
        """Why the daemon may not connect to ``destination`` (``None``: it may).

        ``resolution`` is what a name resolved to (``None``: it does not resolve, or it is an
        address). ``public_ok``: public addresses pass unlisted (registries); otherwise only
        listed hosts do (URLs, log servers).
        """
        if self.names(destination):
            return None
        address = destination.address
        if not public_ok:
            return "which is not in the role's outbound allow-list"
        if address is not None:
            if is_public(address):
                return None
            return f"a {_kind_of(address)} address (not in the role's outbound allow-list)"
        if destination.docker_hub or resolution is None:
            return None  # Docker Hub; or a name that does not resolve, for the daemon either
        for resolved in resolution.addresses:
            if not is_public(resolved) and not self.contains(resolved):
                return (
                    f"which resolves to {resolved}, a {_kind_of(resolved)} address (not in the "
                    "role's outbound allow-list)"
                )
        return None


def _kind_of(address: Address) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    return "non-public"


def search_destination(term: str) -> Destination | None:
    """The registry ``GET /images/search?term=`` asks (``registry.ParseSearchIndexInfo``):
    the first component when it holds a dot or a colon or is ``localhost``, else Docker Hub
    (``None``)."""
    first, slash, _ = term.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        return None
    return parse_destination(first)


def url_destination(url: str) -> Destination | None:
    """The host of a URL the daemon fetches (``fromSrc``, a build ``remote``), or of a Git
    remote (``git@host:repo``, ``github.com/...``); ``None`` when dockward cannot tell."""
    if url.startswith("git@"):
        host = url[4:].partition(":")[0]
        return parse_destination(host) if host else None
    if url.startswith("github.com/"):
        return Destination("github.com")
    if "://" not in url:
        url = "http://" + url  # what dockerd's import does with a URL without a scheme
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError:
        return None
    hostname = split.hostname
    if not hostname:
        return None
    with contextlib.suppress(ValueError):
        hostname = str(ipaddress.ip_address(hostname))
    return Destination(hostname.lower(), port)


def auth_destination(server_address: str) -> Destination | None:
    """The registry ``POST /auth`` logs in to (``registry.ConvertToHostname``); ``None``:
    Docker Hub."""
    if not server_address:
        return None
    stripped = server_address
    for scheme in ("http://", "https://"):
        if stripped.startswith(scheme):
            stripped = stripped[len(scheme) :]
            break
    return parse_destination(stripped.partition("/")[0])


def log_destination(driver: str, options: Mapping[str, str]) -> Destination | str | None:
    """Where a logging driver sends a container's output.

    ``None``: nowhere off the host (a local driver, syslog on a unix socket). A
    ``Destination``: that server. A string: why the driver is refused outright.
    """
    if driver in LOCAL_LOG_DRIVERS:
        return None
    folded = {key.lower(): value for key, value in options.items()}
    if driver == "":
        unknown = sorted(key for key in folded if key not in LOCAL_LOG_OPTIONS)
        if unknown:
            return (
                f'sets option "{unknown[0]}" for the daemon\'s default logging driver, which '
                "may name a log server; name the driver"
            )
        return None
    if driver not in _ADDRESS_OPTIONS:
        return (
            f'is "{driver}", a logging driver that sends logs off the host (allowed: '
            f"{', '.join(sorted(LOCAL_LOG_DRIVERS))}, syslog on a unix socket, or syslog, gelf, "
            "fluentd, splunk to a server in the role's outbound allow-list)"
        )
    option, default = _ADDRESS_OPTIONS[driver]
    address = folded.get(option, default)
    if driver == "syslog" and (not address or address.startswith(_UNIX_SCHEMES)):
        return None  # the host's own syslog socket
    if not address:
        return f'is "{driver}" without {option}'
    if driver == "fluentd" and "://" not in address:
        address = "tcp://" + address
    scheme = address.partition("://")[0].lower()
    if scheme in ("unix", "unixgram"):
        return f'is "{driver}" on a unix socket ({address}); only syslog may use one'
    destination = url_destination(address)
    if destination is None:
        return f'is "{driver}" with {option} "{address}", which dockward cannot read'
    return destination
