"""Checks only swarm services have: the networks their tasks join, and rollback.

A network named by ID is looked up, so the host network is found under any name.
"""

from __future__ import annotations

from collections.abc import Iterator

from dockward.policy.container_risk import json_string as _string
from dockward.policy.profiles.facts import FactQuery
from dockward.policy.profiles.request import Finding, Request


def service_networks(req: Request) -> Iterator[Finding]:
    attachments = [
        ("TaskTemplate.Networks", req.task_template.objects_of("Networks")),
        ("Networks", req.body_object.objects_of("Networks")),  # deprecated spelling
    ]
    for path, networks in attachments:
        for network in networks:
            target = network.str_of("Target") or ""
            if not target:
                continue
            if target.lower() == "host":
                yield path, "attaches the tasks to the host's network"
                continue
            found = req.fact(FactQuery("network", target))
            if found is not None and (
                _string(found.get("Driver")) == "host" or _string(found.get("Name")) == "host"
            ):
                yield path, f'attaches the tasks to network "{target}", the host\'s network'


def service_rollback(req: Request) -> Iterator[Finding]:
    if req.first("rollback") == "previous":
        yield (
            "query rollback",
            'is "previous": it restores a spec dockward has not checked; send the spec instead',
        )
