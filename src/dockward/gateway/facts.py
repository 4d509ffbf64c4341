"""Facts for policy checks, asked of the daemon on a connection of their own.

Some decisions depend on state the request does not carry: ``exec`` into a container that is
privileged, a mount of a named volume created with bind options. The gateway asks the daemon
(``GET /containers/{name}/json``, ``GET /volumes/{name}``, ``GET /images/{name}/json``) before
deciding, through ``dockward.engine_api`` (the client the scanner uses too), and resolves the
registry host names the outbound checks judge. A failure to ask is an error, never an implicit
allow.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from dockward.engine_api import HttpError, open_unix
from dockward.errors import ProtocolError
from dockward.policy.profiles import FactQuery

FACT_TIMEOUT = 10.0
_PATHS = {
    "container": "/containers/{}/json",
    "volume": "/volumes/{}",
    "network": "/networks/{}",
    "exec": "/exec/{}/json",
    "image": "/images/{}/json",
}


async def fetch_facts(
    upstream: str, queries: Iterable[FactQuery]
) -> dict[FactQuery, Mapping[str, object] | None]:
    """Inspect each object; ``None`` for one the daemon does not know (404)."""
    unique = list(dict.fromkeys(queries))
    results = await asyncio.wait_for(
        asyncio.gather(*(_inspect(upstream, query) for query in unique)), FACT_TIMEOUT
    )
    return dict(zip(unique, results, strict=True))


async def _inspect(upstream: str, query: FactQuery) -> Mapping[str, object] | None:
    """One lookup on a connection of its own (lookups of one round run side by side)."""
    if query.kind == "host":
        return await _resolve(query.name)
    path = _PATHS[query.kind].format(quote(query.name, safe=""))
    connection = await open_unix(upstream, FACT_TIMEOUT)
    try:
        return await connection.inspect(path)
    except HttpError as err:
        raise ProtocolError(
            f"policy lookup of {query.kind} {query.name!r} failed: {err}", status=502
        ) from err
    finally:
        await connection.close()


# getaddrinfo errors that mean "this name has no address", as opposed to "could not ask"
_NO_ADDRESS = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


async def _resolve(name: str) -> Mapping[str, object] | None:
    """The addresses ``name`` resolves to here (as the daemon, on this host, would resolve it
    when it connects), ``None`` when it has none. A resolver failure is an error."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        if err.errno in _NO_ADDRESS:
            return None
        raise ProtocolError(
            f"policy lookup of host {name!r} failed: {err.strerror}", status=502
        ) from err
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return {"Addresses": addresses}
