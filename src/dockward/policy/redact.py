"""Redaction of inspect responses for roles without the ``secrets`` grant.

``Env`` entries keep their names and lose their values (``DB_PASSWORD=<redacted>``); registry
and swarm credentials anywhere in the document lose their values too. Key names are matched
case-insensitively, because the same JSON can come from any API version.
"""

from __future__ import annotations

import json

REDACTED = "<redacted>"
SECRET_KEYS = frozenset(
    {
        "password",
        "auth",
        "identitytoken",
        "registrytoken",
        "secret",
        "jointoken",
        "unlockkey",
        "signingcakey",
        "data",
    }
)


def redact_document(value: object) -> object:
    """A copy of a decoded JSON document with Env values and credentials replaced."""
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            lowered = key.lower()
            if lowered == "env" and isinstance(item, list):
                out[key] = [_redact_env(entry) for entry in item]
            elif lowered in SECRET_KEYS and isinstance(item, str) and item:
                out[key] = REDACTED
            else:
                out[key] = redact_document(item)
        return out
    if isinstance(value, list):
        return [redact_document(item) for item in value]
    return value


def _redact_env(entry: object) -> object:
    if isinstance(entry, str):
        name, sep, _ = entry.partition("=")
        return f"{name}={REDACTED}" if sep else entry
    return entry


def redact_json(body: bytes) -> bytes:
    """Redact a JSON response body; a body that is not JSON is returned unchanged."""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    return json.dumps(redact_document(document), separators=(",", ":")).encode() + b"\n"
