"""The scanner's HTTP client: ``dockward.engine_api``'s, identifying itself as the scanner.

Only ``GET`` exists, on purpose: the scanner must never change a daemon. The probes open the
TCP or TLS stream themselves (they watch the handshake) and hand it to ``HttpConnection``;
requests run one after the other on it, kept alive when the server allows it.
"""

from __future__ import annotations

import asyncio

from dockward.engine_api import ApiConnection
from dockward.http1.client import HttpError, HttpResponse

__all__ = ["USER_AGENT", "HttpConnection", "HttpError", "HttpResponse"]

USER_AGENT = "dockward-scan"


class HttpConnection(ApiConnection):
    """``ApiConnection`` with the scanner's ``User-Agent``."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, timeout: float
    ) -> None:
        super().__init__(reader, writer, host, timeout, user_agent=USER_AGENT)
