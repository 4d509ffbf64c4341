"""Target specifications to endpoints: hosts, addresses, CIDR ranges, ``host:port``, ``@file``.

Parsing is strict and eager (every spec is checked before the first packet); expansion is lazy,
so a /16 times four ports never exists as a list. Nothing here touches the network: host names
are resolved later, by the connection that uses them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockward.errors import UsageError

DEFAULT_PORTS = (2375, 2376, 2377, 4243)
# A bigger range is almost certainly a typo (an IPv6 /64 has 2**64 addresses).
MAX_ADDRESSES_PER_SPEC = 1 << 24
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    """One ``host:port`` to probe; ``host`` is an IP literal or a DNS name."""

    host: str
    port: int

    @property
    def is_ip(self) -> bool:
        return _ip(self.host) is not None

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One parsed target: a network (a single address is a /32 or /128) or a host name."""

    text: str
    network: _Network | None
    hostname: str | None
    port: int | None

    @property
    def size(self) -> int:
        return self.network.num_addresses if self.network is not None else 1

    def hosts(self) -> Iterator[str]:
        if self.network is None:
            assert self.hostname is not None
            yield self.hostname
        elif self.network.num_addresses == 1:
            yield str(self.network.network_address)
        else:
            # Scan every address of a range, network and broadcast included: on 127.0.0.0/8
            # and on point-to-point links they are ordinary hosts.
            make = type(self.network.network_address)
            for address in range(int(self.network[0]), int(self.network[-1]) + 1):
                yield str(make(address))


@dataclass(frozen=True, slots=True)
class TargetSet:
    """Every endpoint to scan: targets times ports, minus exclusions."""

    specs: tuple[TargetSpec, ...]
    ports: tuple[int, ...]
    excluded_networks: tuple[_Network, ...] = ()
    excluded_names: frozenset[str] = frozenset()

    def upper_bound(self) -> int:
        """How many endpoints at most (exclusions are not subtracted): for a progress bar."""
        return sum(spec.size * (1 if spec.port else len(self.ports)) for spec in self.specs)

    def __iter__(self) -> Iterator[Endpoint]:
        seen: set[Endpoint] = set()
        for spec in self.specs:
            ports = (spec.port,) if spec.port else self.ports
            for host in spec.hosts():
                if self._excluded(host):
                    continue
                for port in ports:
                    endpoint = Endpoint(host, port)
                    if spec.size == 1:  # ranges cannot repeat themselves; single hosts can
                        if endpoint in seen:
                            continue
                        seen.add(endpoint)
                    yield endpoint

    def _excluded(self, host: str) -> bool:
        address = _ip(host)
        if address is None:
            return host.lower().rstrip(".") in self.excluded_names
        return any(address in network for network in self.excluded_networks)


def parse_ports(text: str) -> tuple[int, ...]:
    """``"2375,2376"`` or ``"2375-2377,4243"`` to a sorted tuple of distinct ports."""
    ports: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise UsageError(
                f"invalid port {part!r} in --ports: use numbers like 2375,2376"
            ) from None
        if not 1 <= first <= last <= 65535:
            raise UsageError(f"invalid port range {part!r} in --ports: ports are 1 to 65535")
        ports.update(range(first, last + 1))
    if not ports:
        raise UsageError("--ports is empty: give at least one port, e.g. --ports 2375,2376")
    return tuple(sorted(ports))


def parse_target(text: str) -> TargetSpec:
    """Parse one target: ``10.0.0.1``, ``10.0.0.0/24``, ``::1``, ``[::1]:2376``, ``host:2376``."""
    spec = text.strip()
    if not spec:
        raise UsageError("empty target")
    host, port = _split_port(spec)
    if "/" in host:
        try:
            network = ipaddress.ip_network(host, strict=False)
        except ValueError:
            raise UsageError(
                f"invalid target {text!r}: not a CIDR range like 10.0.0.0/24"
            ) from None
        if network.num_addresses > MAX_ADDRESSES_PER_SPEC:
            raise UsageError(
                f"target {text!r} has {network.num_addresses} addresses; split it into ranges of "
                f"at most {MAX_ADDRESSES_PER_SPEC} (a /8 of IPv4)"
            )
        return TargetSpec(spec, network, None, port)
    address = _ip(host)
    if address is not None:
        return TargetSpec(spec, ipaddress.ip_network(address), None, port)
    if not _HOSTNAME.fullmatch(host) or host.rstrip(".").split(".")[-1].isdigit():
        raise UsageError(
            f"invalid target {text!r}: not a host name, an IP address, a CIDR range or host:port"
        )
    return TargetSpec(spec, None, host.lower().rstrip("."), port)


def parse_targets(
    texts: Sequence[str],
    ports: Sequence[int] = DEFAULT_PORTS,
    excludes: Sequence[str] = (),
) -> TargetSet:
    """Every target spec (``@FILE`` reads one per line, ``#`` comments) into a ``TargetSet``."""
    specs = tuple(parse_target(t) for t in _expand_files(texts))
    if not specs:
        raise UsageError("no targets: give hosts, addresses, CIDR ranges or @FILE")
    networks: list[_Network] = []
    names: set[str] = set()
    for text in _expand_files(excludes):
        excluded = parse_target(text)
        if excluded.port is not None:
            raise UsageError(f"--exclude {text!r}: exclusions are hosts or ranges, not ports")
        if excluded.network is not None:
            networks.append(excluded.network)
        elif excluded.hostname is not None:
            names.add(excluded.hostname)
    return TargetSet(specs, tuple(ports), tuple(networks), frozenset(names))


def _expand_files(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        if not text.startswith("@"):
            yield from (part for part in text.split(",") if part.strip())
            continue
        path = Path(text[1:])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            reason = (err.strerror or str(err)).lower()
            raise UsageError(f"cannot read target file {path}: {reason}") from err
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line:
                yield from line.split()


def _split_port(spec: str) -> tuple[str, int | None]:
    if spec.startswith("["):
        host, sep, rest = spec[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"invalid target {spec!r}: use [IPv6]:PORT")
        return host, _port(spec, rest[1:]) if rest else None
    if spec.count(":") == 1:
        host, _, port = spec.partition(":")
        return host, _port(spec, port)
    return spec, None  # a bare IPv6 address or range has several colons and no port


def _port(spec: str, text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise UsageError(f"invalid port in target {spec!r}: ports are 1 to 65535")
    return int(text)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
