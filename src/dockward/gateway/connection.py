"""What the relay forwards in place of what the client sent: the request pinned to the objects
the policy judged.

The relay itself (``gateway.relay``) and its asyncio adapter (``gateway.protocol``) live next
door; this module turns ``dockward.policy.pinning``'s plan into the bytes to forward: the object
the path names (a container, a network) replaced by its full ID, the body edited,
``Content-Length`` following the body (a chunked body is re-chunked by the relay). Pure
functions, no I/O.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dockward.http1.request import parse_request_head, replace_request_target
from dockward.policy.operations import PINNED_OPERATIONS
from dockward.policy.pinning import Refusal, apply_edits, plan_pins, rewrite_query
from dockward.policy.profiles import Facts

if TYPE_CHECKING:
    from dockward.policy.routes import Classification

__all__ = ["Refusal", "pin_request"]

# Operations judged on the container their path names (profiles' target-container check).
_PINNED_OPERATIONS = PINNED_OPERATIONS


def pin_request(
    raw: bytes,
    request: Classification,
    query: str,
    raw_body: bytes | None,
    body: object,
    facts: Facts,
    *,
    image_by_id: bool = False,
) -> tuple[bytes, bytes | None] | Refusal:
    """The head and body to forward once the policy allowed the request after judging
    ``facts``; or why it cannot be forwarded pinned.

    The policy judged what the daemon said about each name; between that lookup and the
    request a name could be moved to another object (``docker rename``). Forwarding the IDs
    judged makes dockerd act on exactly the objects that were checked. ``image_by_id``: a
    create's image goes as its full ID (for scoped roles, see ``plan_pins``).
    """
    route = request.route
    if route is None or not facts:
        return raw, raw_body
    plan = plan_pins(
        route.operation, request.params, raw_body, body, facts, query, image_by_id=image_by_id
    )
    if isinstance(plan, Refusal):
        return plan
    head = raw
    if plan.path_id is not None or plan.query:
        prefix = f"/v{request.api_version}" if request.api_version is not None else ""
        if plan.path_id is not None:
            template = r"\{" + plan.path_variable + r":[^}]*\}"
            path = prefix + re.sub(template, plan.path_id, route.template, count=1)
        else:  # the path as sent (validated visible ASCII)
            path = parse_request_head(raw).target.decode("ascii").partition("?")[0]
        if plan.query:
            query = rewrite_query(query, plan.query)
        target = path + (f"?{query}" if query else "")
        head = replace_request_target(head, target.encode("ascii"))
    if plan.edits and raw_body is not None:
        raw_body = apply_edits(raw_body, plan.edits)
        head = _with_content_length(head, len(raw_body))
    return head, raw_body


def _with_content_length(raw: bytes, length: int) -> bytes:
    """``raw`` (a parsed, valid head) with its Content-Length, if any, set to ``length``."""
    lines = raw.split(b"\r\n")
    for index, line in enumerate(lines[1:], start=1):
        name, colon, _ = line.partition(b":")
        if colon and name.lower() == b"content-length":
            lines[index] = name + b": " + str(length).encode("ascii")
            break
    return b"\r\n".join(lines)
