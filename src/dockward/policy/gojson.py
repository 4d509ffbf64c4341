"""Placeholder until the Go-faithful decoder lands (being written)."""

from __future__ import annotations

import json

from dockward.errors import ProtocolError


def decode_body(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError as err:
        raise ProtocolError(f"invalid JSON body: {err}") from None
