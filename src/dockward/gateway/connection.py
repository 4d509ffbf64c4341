"""What the relay forwards in place of what the client sent: the pinned target container.

The relay itself (``gateway.relay``) and its asyncio adapter (``gateway.protocol``) live next
door; this module only rewrites a request head once the policy has judged the container its
path names. Pure functions, no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockward.http1.request import replace_request_target
from dockward.policy.operations import PINNED_OPERATIONS
from dockward.policy.profiles import FactQuery, Facts

if TYPE_CHECKING:
    from dockward.policy.routes import Classification


# Operations judged on the container their path names (profiles' target-container check).
_PINNED_OPERATIONS = PINNED_OPERATIONS


def _pin_target_container(raw: bytes, request: Classification, query: str, facts: Facts) -> bytes:
    """Name the checked container by its ID in the forwarded request.

    The policy judged the container the daemon described for this name; between that lookup
    and the request, the name could be moved to another container (``docker rename``). Sending
    the ID makes dockerd act on exactly the container that was checked.
    """
    route = request.route
    name = request.params.get("name")
    if route is None or route.operation not in _PINNED_OPERATIONS or not name:
        return raw
    inspect = facts.get(FactQuery("container", name))
    container_id = inspect.get("Id") if inspect else None
    if not isinstance(container_id, str) or not container_id.isalnum():
        return raw  # unknown container: dockerd answers 404 by itself
    path = route.template.replace("{name:.*}", container_id)
    prefix = f"/v{request.api_version}" if request.api_version is not None else ""
    target = f"{prefix}{path}" + (f"?{query}" if query else "")
    return replace_request_target(raw, target.encode("ascii"))
