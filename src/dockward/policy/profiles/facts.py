"""What the profiles ask the daemon, and for how many rounds.

A ``FactQuery`` names one lookup (an inspect of a container, volume, network, exec or image, or
the addresses of a registry's host name); ``Facts`` holds the answers. ``facts_needed`` lists
the lookups still missing and is called again with the answers merged in, for at most
``MAX_FACT_ROUNDS`` rounds; a check that reads a fact nobody fetched raises ``MissingFact``,
which ``check_request`` turns into a violation ("could not be checked"), never an allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias


@dataclass(frozen=True)
class FactQuery:
    """A lookup of daemon state (``GET /containers/{name}/json``, ``/volumes/{name}``,
    ``/networks/{name}``, ``/exec/{id}/json``, ``/images/{name}/json``), or of the addresses a
    host name resolves to (kind ``host``: the answer is ``{"Addresses": [...]}``, ``None`` when
    the name does not resolve)."""

    kind: Literal["container", "volume", "network", "exec", "image", "host"]
    name: str


Facts: TypeAlias = Mapping[FactQuery, Mapping[str, object] | None]
"""The daemon's inspect answers; ``None`` = the daemon does not know the object (404)."""

MAX_FACT_ROUNDS = 4
"""How many rounds of lookups a caller of ``facts_needed`` makes before it judges anyway.

The deepest chain the checks follow takes three (an exec, its container, that container's named
volumes); one more is slack. A fact still missing after the last round refuses the request
("could not be checked"), as any lookup the caller did not make.
"""


class MissingFact(Exception):
    """A check read a fact the caller did not fetch (``check_request`` refuses on it)."""

    def __init__(self, query: FactQuery) -> None:
        super().__init__(query)
        self.query = query
