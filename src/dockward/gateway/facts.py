"""Facts for policy checks, asked of the daemon on a connection of their own.

Some decisions depend on state the request does not carry: ``exec`` into a container that is
privileged, a mount of a named volume created with bind options. The gateway asks the daemon
(``GET /containers/{name}/json``, ``GET /volumes/{name}``) before deciding. A failure to ask is
an error, never an implicit allow.
"""

from __future__ import annotations

import asyncio
import json
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


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    total = 0
    while piece := await reader.read(65536):
        chunks.append(piece)
        total += len(piece)
        if total > MAX_FACT_BYTES:
            raise ProtocolError("policy lookup answer too large", status=502)
    return b"".join(chunks)
