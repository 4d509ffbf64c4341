"""Checks on plugins: the privileges they ask for, and settings dockward cannot judge."""

from __future__ import annotations

from collections.abc import Iterator

from dockward.errors import ProtocolError
from dockward.policy.gojson import GoObject
from dockward.policy.profiles.request import Finding, Request


def plugin_privileges(req: Request) -> Iterator[Finding]:
    if req.operation in ("plugin.pull", "plugin.upgrade"):
        if req.body is not None and not isinstance(req.body, list):
            raise ProtocolError("a plugin privileges body must be a JSON array")
        privileges = req.body or []
        path = "privileges"
    else:
        spec = req.task_template.obj("PluginSpec")
        privileges = [] if spec is None else spec.items_of("PluginPrivilege")
        path = "TaskTemplate.PluginSpec.PluginPrivilege"
    names = [
        (item.str_of("Name") or "?") if isinstance(item, GoObject) else "?" for item in privileges
    ]
    if names:
        yield path, f"request {', '.join(names)}: plugins that need privileges are refused"


def plugin_configuration(req: Request) -> Iterator[Finding]:
    if req.operation == "plugin.set":
        yield (
            "plugin settings",
            "are refused: they can point a plugin's mounts and devices at the host",
        )
    else:
        yield "plugin archive", "is refused: its config.json can ask for any privilege"
