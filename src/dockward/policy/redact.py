"""Redaction of inspect and list responses for roles without the ``secrets`` grant.

What is replaced by ``<redacted>``, wherever it appears in the document (the same JSON comes
from many operations and API versions, so keys are matched case-insensitively, not by path):

* ``Env`` entries keep their names and lose their values (``DB_PASSWORD=<redacted>``);
* registry and swarm credentials and config data (``password``, ``auth``, ``IdentityToken``,
  ``Data``, ...) lose their values;
* logging driver options (``LogConfig.Config``, ``LogDriver.Options``) lose every value: their
  names vary by driver (``splunk-token``, ``awslogs-credentials-endpoint``, a Loki URL with a
  password in it), so none is kept;
* driver options (``Options``, ``DriverOpts``) lose the values of credential-like keys, and of
  credential-like entries of a mount's ``o`` (a cifs volume's ``o=addr=...,password=...``);
* image build history: ``ENV`` and ``ARG`` steps keep their instruction and lose the rest, and a
  ``RUN`` step that ran with build arguments (``|2 A=x B=y /bin/sh -c ...``) keeps only their
  count, since a value may hold spaces and the end of the arguments cannot be told from the
  start of the command; the same arguments in a ``Cmd`` array keep their names.

Pure functions; the gateway re-sends the result under a new ``Content-Length``.
"""

from __future__ import annotations

import json
import re

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
# Objects whose option map belongs to a logging driver: every value goes.
_LOG_OPTION_MAPS = {"logconfig": "config", "logdriver": "options"}
# Driver option maps: credential-like entries go.
_DRIVER_OPTION_KEYS = frozenset({"options", "driveropts"})
_CREDENTIAL_WORDS = ("pass", "secret", "token", "credential", "auth", "key")
# "ENV A=1 B=2" and "ARG TOKEN=x", alone (BuildKit) or after the classic builder's "#(nop)".
_DECLARATION = re.compile(
    r"(?P<lead>(?:.*#\(nop\)\s*)?)(?P<op>ENV|ARG)\s+(?P<rest>.*)", re.S | re.I
)
# A RUN step's build arguments: "|N K=V ... command" (classic), "RUN |N K=V ..." (BuildKit).
_BUILD_ARGUMENTS = re.compile(r"(?P<lead>(?:RUN\s+)?)\|(?P<count>[0-9]+)\s.*", re.S)
_BUILD_ARGUMENT_COUNT = re.compile(r"\|([0-9]+)")


def redact_document(value: object) -> object:
    """A copy of a decoded JSON document with secrets replaced (see the module docstring)."""
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            lowered = key.lower()
            if lowered == "env" and isinstance(item, list):
                out[key] = [_redact_env(entry) for entry in item]
            elif lowered in SECRET_KEYS and isinstance(item, str) and item:
                out[key] = REDACTED
            elif lowered in _LOG_OPTION_MAPS and isinstance(item, dict):
                out[key] = _redact_log_options(item, _LOG_OPTION_MAPS[lowered])
            elif lowered in _DRIVER_OPTION_KEYS and isinstance(item, dict):
                out[key] = {name: _redact_driver_option(name, v) for name, v in item.items()}
            elif lowered == "createdby" and isinstance(item, str):
                out[key] = redact_build_step(item)
            elif lowered == "cmd" and isinstance(item, list):
                out[key] = _redact_command(item)
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


def _redact_log_options(log: dict[str, object], options_key: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, item in log.items():
        if key.lower() == options_key and isinstance(item, dict):
            out[key] = {name: REDACTED for name in item}
        else:
            out[key] = redact_document(item)
    return out


def _credential_like(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _CREDENTIAL_WORDS)


def _redact_driver_option(name: str, value: object) -> object:
    if not isinstance(value, str):
        return redact_document(value)
    if _credential_like(name):
        return REDACTED if value else value
    if name.lower() == "o":  # mount flags and data: "addr=...,username=u,password=p"
        entries = []
        for entry in value.split(","):
            key, sep, _ = entry.partition("=")
            entries.append(f"{key}={REDACTED}" if sep and _credential_like(key) else entry)
        return ",".join(entries)
    return value


def redact_build_step(created_by: str) -> str:
    """An image history step (``CreatedBy``) without ENV/ARG values and build arguments."""
    arguments = _BUILD_ARGUMENTS.fullmatch(created_by)
    if arguments is not None:
        return f"{arguments['lead']}|{arguments['count']} {REDACTED}"
    declaration = _DECLARATION.fullmatch(created_by)
    if declaration is not None and (
        declaration["op"].upper() == "ENV" or "=" in declaration["rest"]
    ):
        return f"{declaration['lead']}{declaration['op']} {REDACTED}"
    return created_by


def _redact_command(command: list[object]) -> list[object]:
    """A ``Cmd`` array: the classic builder records a RUN step's build arguments as
    ``["|2", "A=x", "B=y", "/bin/sh", "-c", ...]`` and an ENV step as ``[..., "ENV A=1"]``."""
    out = [redact_build_step(item) if isinstance(item, str) else item for item in command]
    first = command[0] if command else None
    count = _BUILD_ARGUMENT_COUNT.fullmatch(first) if isinstance(first, str) else None
    if count is not None:
        out[0] = first
        end = min(len(command), 1 + int(count.group(1)))
        out[1:end] = [_redact_env(item) for item in command[1:end]]
    return out


def redact_json(body: bytes) -> bytes:
    """Redact a JSON response body; a body that is not JSON is returned unchanged."""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    return json.dumps(redact_document(document), separators=(",", ":")).encode() + b"\n"
