"""Placeholder until the profile checks land (being written)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ProfileSettings:
    allowed_host_paths: tuple[str, ...] = ()
    allowed_runtimes: tuple[str, ...] = ("runc",)
    allowed_registries: tuple[str, ...] = ()
    docker_socket_paths: tuple[str, ...] = ("/var/run/docker.sock", "/run/docker.sock")


@dataclass(frozen=True)
class Violation:
    field: str
    reason: str


@dataclass(frozen=True)
class FactQuery:
    kind: Literal["container", "volume"]
    name: str


Facts = Mapping[FactQuery, Mapping[str, object] | None]


def inspected_operations() -> frozenset[str]:
    return frozenset()


def facts_needed(profile: str, operation: str, params: Mapping[str, str], query: Mapping[str, list[str]], body: object) -> list[FactQuery]:
    return []


def check_request(profile: str, operation: str, params: Mapping[str, str], query: Mapping[str, list[str]], body: object, settings: ProfileSettings, facts: Facts) -> Violation | None:
    return None
