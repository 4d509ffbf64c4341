"""Roles: who (identity selectors, source networks) may do what (operations, a profile).

A policy is an ordered list of roles; the first role whose selectors match the peer's identity
and whose networks contain its address wins, and no match means deny. Operation patterns:

- an exact operation name (``container.logs``);
- a glob (``container.*``, ``*``); a glob other than the bare ``*`` never matches an
  ``exfiltrate`` or ``admin`` operation: those are off unless named;
- an access selector ``PREFIX.read|write|exfiltrate|admin`` (``network.read``, ``*.read``):
  the operations under PREFIX with that access tag.

``deny`` patterns are applied after ``allow`` and win. Under ``baseline`` and ``restricted``,
the tunnels the policy cannot see into (``session``, ``grpc``: BuildKit) are granted only by
their exact name, never by a glob or an access selector, not even ``*``.

A role's ``scope`` (``all``, the default; ``role``; ``own``) says whose objects its identities
see and touch (``dockward.policy.tenancy``).
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dockward.config import closest, did_you_mean, read_toml, validation_error
from dockward.identity import PeerIdentity
from dockward.policy.operations import ACCESS, HANDSHAKE_OPERATIONS, OPAQUE_OPERATIONS, Access
from dockward.policy.outbound import parse_allow_entry
from dockward.policy.routes import OPERATIONS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
GRANTS = frozenset({"secrets"})
SELECTOR_KINDS = ("role", "cn", "san", "spki", "serial", "uid", "gid")
_ACCESS_SUFFIXES = {access.value: access for access in Access}


def operation_matches(pattern: str, operation: str) -> bool:
    """Whether one allow/deny ``pattern`` covers ``operation`` (see the module docstring)."""
    if pattern == operation:  # container.archive.read names the operation, not an access tag
        return True
    access = ACCESS.get(operation)
    prefix, _, suffix = pattern.rpartition(".")
    if suffix in _ACCESS_SUFFIXES and prefix:
        if access is not _ACCESS_SUFFIXES[suffix]:
            return False
        return prefix == "*" or operation == prefix or operation.startswith(prefix + ".")
    if pattern == "*":
        return True
    if not any(ch in pattern for ch in "*?["):
        return pattern == operation
    if access in (Access.EXFILTRATE, Access.ADMIN):
        return False
    return fnmatch.fnmatchcase(operation, pattern)


def _operation_prefixes() -> frozenset[str]:
    """Every operation name and each of its dotted prefixes: what ``PREFIX.read`` may name."""
    prefixes: set[str] = set()
    for operation in OPERATIONS:
        parts = operation.split(".")
        prefixes.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return frozenset(prefixes)


OPERATION_PREFIXES = _operation_prefixes()


def _pattern_problem(pattern: str) -> str | None:
    """Why an allow/deny ``pattern`` can never match, with the nearest valid one; None if fine."""
    prefix, _, suffix = pattern.rpartition(".")
    if suffix in _ACCESS_SUFFIXES and prefix:
        if prefix == "*" or prefix in OPERATION_PREFIXES:
            return None
        return f"{pattern!r} matches no operation" + _nearest_prefix(prefix, suffix)
    if any(ch in pattern for ch in "*?["):
        if any(fnmatch.fnmatchcase(op, pattern) for op in OPERATIONS):
            return None
        hint = _nearest_prefix(prefix, suffix) if suffix == "*" and prefix else ""
        return f"{pattern!r} matches no operation{hint}"
    if pattern in OPERATIONS:
        return None
    return f"unknown operation {pattern!r}" + did_you_mean(
        pattern, OPERATIONS, otherwise=" (see `dockward policy explain`)"
    )


def _nearest_prefix(prefix: str, suffix: str) -> str:
    # compared without the suffix, which every candidate shares and would make them all look close
    match = closest(prefix, OPERATION_PREFIXES)
    return f" (did you mean '{match}.{suffix}'?)" if match is not None else ""


@dataclass(frozen=True, slots=True)
class Selector:
    """One identity selector such as ``cn:ci-*`` or ``uid:1000``."""

    kind: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Selector:
        if text == "*":
            return cls("*", "*")
        kind, sep, value = text.partition(":")
        if not sep or kind not in SELECTOR_KINDS or not value:
            raise ValueError(
                f"{text!r}: a client selector is '*' or KIND:VALUE with KIND one of "
                + ", ".join(SELECTOR_KINDS)
            )
        if kind in ("uid", "gid") and not value.isdigit():
            raise ValueError(f"{text!r}: {kind} must be a number")
        if kind == "serial":
            try:
                int(value, 0)
            except ValueError:
                raise ValueError(f"{text!r}: serial must be a decimal or 0x-hex number") from None
        if kind == "spki":
            value = value.lower().replace(":", "")
            if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                raise ValueError(f"{text!r}: spki must be a SHA-256 in hex (64 digits)")
        return cls(kind, value)

    def matches(self, identity: PeerIdentity) -> bool:
        kind = self.kind
        if kind == "*":
            return True
        if kind == "role":
            return any(fnmatch.fnmatchcase(role, self.value) for role in identity.certified_roles)
        if kind == "cn":
            return identity.common_name is not None and fnmatch.fnmatchcase(
                identity.common_name, self.value
            )
        if kind == "san":
            names = identity.dns_names + identity.uris + identity.ip_addresses
            return any(fnmatch.fnmatchcase(name, self.value) for name in names)
        if kind == "spki":
            return identity.spki_sha256 == self.value
        if kind == "serial":
            return identity.serial == int(self.value, 0)
        if kind == "uid":
            return identity.uid == int(self.value)
        return identity.gid == int(self.value)

    def __str__(self) -> str:
        return "*" if self.kind == "*" else f"{self.kind}:{self.value}"


class RoleConfig(BaseModel):
    """One ``[[role]]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    preset: str | None = None
    clients: list[str] = Field(default_factory=list)
    networks: list[str] | None = None
    allow: list[str] | None = None
    deny: list[str] = Field(default_factory=list)
    profile: Literal["unrestricted", "baseline", "restricted"] | None = None
    mode: Literal["enforce", "audit"] = "enforce"
    host_paths: list[str] | None = None
    runtimes: list[str] | None = None
    registries: list[str] | None = None
    outbound: list[str] | None = None
    grants: list[str] = Field(default_factory=list)
    scope: Literal["all", "role", "own"] = "all"
    unread_dockerfile: Literal["refuse", "allow"] = "refuse"
    names: Literal["shared", "private"] = "shared"

    @field_validator("clients")
    @classmethod
    def _clients(cls, value: list[str]) -> list[str]:
        for text in value:
            Selector.parse(text)
        return value

    @field_validator("networks")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        for cidr in value or ():
            ipaddress.ip_network(cidr, strict=False)
        return value

    @field_validator("allow", "deny")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        problems = [problem for pattern in value or () if (problem := _pattern_problem(pattern))]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("host_paths")
    @classmethod
    def _host_paths(cls, value: list[str] | None) -> list[str] | None:
        for path in value or ():
            if not path.startswith("/"):
                raise ValueError(f"{path!r} is not an absolute path")
        return value

    @field_validator("outbound")
    @classmethod
    def _outbound(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or ():
            parse_allow_entry(entry)  # ValueError names the entry
        return value

    @field_validator("grants")
    @classmethod
    def _grants(cls, value: list[str]) -> list[str]:
        for grant in value:
            if grant not in GRANTS:
                known = f" (known: {', '.join(sorted(GRANTS))})"
                raise ValueError(
                    f"unknown grant {grant!r}" + did_you_mean(grant, GRANTS, otherwise=known)
                )
        return value

    @model_validator(mode="after")
    def _private_names_need_a_scope(self) -> RoleConfig:
        if self.names == "private" and self.scope == "all":
            raise ValueError(
                'names = "private" needs scope = "own" or "role": under scope all there is no '
                "owner to keep names apart"
            )
        return self

    @field_validator("preset")
    @classmethod
    def _preset(cls, value: str | None) -> str | None:
        if value is not None and value not in PRESETS:
            known = f" (known: {', '.join(PRESETS)}; see `dockward policy presets`)"
            raise ValueError(
                f"unknown preset {value!r}" + did_you_mean(value, PRESETS, otherwise=known)
            )
        return value


@dataclass(frozen=True)
class Role:
    """A validated role, with its preset applied."""

    name: str
    selectors: tuple[Selector, ...]
    networks: tuple[Network, ...]
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    profile: str
    mode: str
    host_paths: tuple[str, ...]
    runtimes: tuple[str, ...]
    registries: tuple[str, ...]
    outbound: tuple[str, ...]
    grants: frozenset[str]
    scope: str = "all"
    """Tenancy (``dockward.policy.tenancy``): ``all``, ``role`` or ``own``."""
    unread_dockerfile: str = "refuse"
    """Tenancy: a classic build whose Dockerfile cannot be read is refused, or let through."""
    names: str = "shared"
    """Tenancy: ``private`` stores the names an owner gives under its prefix
    (``dockward.policy.namespaces``); ``shared``: one name space for the daemon."""

    def matches(self, identity: PeerIdentity, address: str | None) -> bool:
        if not any(selector.matches(identity) for selector in self.selectors):
            return False
        if address is None or not self.networks:  # unix peers: selectors only
            return True
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

    def allows_operation(self, operation: str) -> tuple[bool, str]:
        """Whether the role grants ``operation``, and the pattern that decided."""
        for pattern in self.deny:
            if operation_matches(pattern, operation):
                return False, f"deny {pattern}"
        if operation in HANDSHAKE_OPERATIONS:  # the CLI cannot start without them
            return True, "always allowed"
        if operation in OPAQUE_OPERATIONS and self.profile != "unrestricted":
            if operation in self.allow:
                return True, f"allow {operation}"
            return False, "not named in allow (a tunnel the policy cannot see into)"
        for pattern in self.allow:
            if operation_matches(pattern, operation):
                return True, f"allow {pattern}"
        return False, "not in allow"

    def allowed_operations(self) -> list[str]:
        return sorted(op for op in OPERATIONS if self.allows_operation(op)[0])

    def allowed_tunnels(self) -> list[str]:
        """The uninspectable tunnels (BuildKit) this role may open, for warnings."""
        return sorted(op for op in OPAQUE_OPERATIONS if self.allows_operation(op)[0])


@dataclass(frozen=True)
class Preset:
    allow: tuple[str, ...]
    profile: str
    description: str


PRESETS: dict[str, Preset] = {
    "admin": Preset(("*",), "unrestricted", "everything, including routes dockward does not know"),
    "ci": Preset(
        (
            "container.*",
            "container.logs",
            "container.attach",  # docker run's output (and input with -i)
            "container.exec.start",  # docker exec's output: see docs/policy.md
            "image.build",
            "image.pull",
            "image.inspect",
            "image.list",
            "image.tag",
            "image.remove",
            "build.*",
            "volume.*",
            "network.read",
            "network.create",  # compose's per-project network; checked by the profile
            "network.remove",
            "network.connect",
            "network.disconnect",
            "system.info",
            "system.events",
            "distribution.inspect",
        ),
        "baseline",
        "build (classic builder), run, exec into and remove containers, compose projects; "
        "no host escapes",
    ),
    "readonly": Preset(
        ("*.read",),
        "baseline",
        "monitoring and dashboards: list and inspect everything, change nothing",
    ),
    "reverse-proxy": Preset(
        (
            "container.list",
            "container.inspect",
            "network.list",
            "network.inspect",
            "system.events",
            "system.info",
        ),
        "baseline",
        "reverse proxies (Traefik, Caddy): read containers, networks and events",
    ),
    "updater": Preset(
        (
            "container.list",
            "container.inspect",
            "container.create",
            "container.start",
            "container.stop",
            "container.remove",
            "container.rename",
            "container.wait",
            "image.pull",
            "image.list",
            "image.inspect",
            "image.remove",
            "distribution.inspect",
            "network.read",
            "network.connect",
            "network.disconnect",
            "system.info",
        ),
        "baseline",
        "image updaters (Watchtower): pull images and recreate containers",
    ),
}


def build_role(config: RoleConfig) -> Role:
    preset = PRESETS.get(config.preset) if config.preset else None
    allow = config.allow if config.allow is not None else (list(preset.allow) if preset else [])
    profile = config.profile or (preset.profile if preset else "baseline")
    networks = config.networks if config.networks is not None else []
    return Role(
        name=config.name,
        selectors=tuple(Selector.parse(text) for text in config.clients),
        networks=tuple(ipaddress.ip_network(c, strict=False) for c in networks),
        allow=tuple(allow),
        deny=tuple(config.deny),
        profile=profile,
        mode=config.mode,
        host_paths=tuple(config.host_paths or ()),
        runtimes=tuple(config.runtimes if config.runtimes is not None else ("runc",)),
        registries=tuple(config.registries or ()),
        outbound=tuple(config.outbound or ()),
        grants=frozenset(config.grants)
        | (frozenset(GRANTS) if profile == "unrestricted" else frozenset()),
        scope=config.scope,
        unread_dockerfile=config.unread_dockerfile,
        names=config.names,
    )


class AdoptConfig(BaseModel):
    """One ``[[adopt]]`` table: objects made before tenancy, given an owner
    (``dockward tenancy adopt`` writes these; see ``dockward.policy.tenancy``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str = Field(min_length=3)
    objects: list[str] = Field(default_factory=list)

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        from dockward.policy.tenancy import owner_problem

        problem = owner_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("objects")
    @classmethod
    def _objects(cls, value: list[str]) -> list[str]:
        from dockward.policy.tenancy import adopted_object_problem

        problems = [p for text in value if (p := adopted_object_problem(text)) is not None]
        if problems:
            raise ValueError("; ".join(problems))
        return value


class PolicyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: list[RoleConfig] = Field(default_factory=list)
    body_limit: int = Field(default=4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    build_context_limit: int = Field(default=64 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    adopt: list[AdoptConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> PolicyConfig:
        seen: set[str] = set()
        for role in self.role:
            if role.name in seen:
                raise ValueError(f"two roles are named {role.name!r}")
            seen.add(role.name)
        return self


def load_policy_config(path: Path) -> PolicyConfig:
    """Read a policy file; ``ConfigError`` names the key and the reason."""
    return policy_config_from_dict(read_toml(path, "policy file"), source=str(path))


def policy_config_from_dict(data: dict[str, object], source: str = "policy") -> PolicyConfig:
    try:
        return PolicyConfig.model_validate(data)
    except ValidationError as err:
        raise validation_error(err, source, PolicyConfig) from None
