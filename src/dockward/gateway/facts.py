"""Facts for policy checks, asked of the daemon on a connection of their own.

Some decisions depend on state the request does not carry: ``exec`` into a container that is
privileged, a mount of a named volume created with bind options. The gateway asks the daemon
(``GET /containers/{name}/json``, ``GET /volumes/{name}``, ``GET /images/{name}/json``) before
deciding, and resolves the registry host names the outbound checks judge. A failure to ask is
an error, never an implicit allow.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from dockward.errors import ProtocolError
from dockward.http1.body import ChunkedReader
from dockward.http1.response import parse_response_head
from dockward.policy.profiles import FactQuery

FACT_TIMEOUT = 10.0
MAX_FACT_BYTES = 16 * 1024 * 1024
_PATHS = {
    "container": "/containers/{}/json",
    "volume": "/volumes/{}",
    "network": "/networks/{}",
    "exec": "/exec/{}/json",
    "image": "/images/{}/json",
}
MAX_ROUNDS = 4  # a container, then its volumes and networks; more means something is wrong


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
    if query.kind == "host":
        return await _resolve(query.name)
    path = _PATHS[query.kind].format(quote(query.name, safe=""))
    reader, writer = await asyncio.open_unix_connection(upstream, limit=MAX_FACT_BYTES)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n".encode())
        raw = await _read_all(reader)
    finally:
        writer.close()
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        raise ProtocolError("the Docker daemon sent no answer to a policy lookup", status=502)
    head = parse_response_head(raw[: end + 4])
    body = raw[end + 4 :]
    if head.chunked:
        payload: list[memoryview] = []
        ChunkedReader().feed(body, payload)
        body = b"".join(payload)
    if head.status == 404:
        return None
    if head.status != 200:
        raise ProtocolError(
            f"policy lookup of {query.kind} {query.name!r} failed with status {head.status}",
            status=502,
        )
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ProtocolError(
            f"policy lookup of {query.kind} {query.name!r}: unexpected answer", status=502
        )
    return document


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


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    total = 0
    while piece := await reader.read(65536):
        chunks.append(piece)
        total += len(piece)
        if total > MAX_FACT_BYTES:
            raise ProtocolError("policy lookup answer too large", status=502)
    return b"".join(chunks)
