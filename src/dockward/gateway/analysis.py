"""What a request head alone says: its parse, its target, its route, and head-only refusals.

Clients repeat the same few heads (``GET /_ping``, ``GET /containers/json``), so the analysis is
remembered per raw head. Everything here depends on the head's bytes only, never on who sent
them: the policy is asked for every request. Cached results are shared and must
be treated as read-only. Heads carrying credentials (``X-Registry-Auth``, ``X-Registry-Config``,
``Authorization``, ``Proxy-Authorization``) are never remembered.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockward.errors import ProtocolError
from dockward.http1.request import RequestHead, parse_request_head
from dockward.policy.mediatype import agreed_media_type, is_form_media_type
from dockward.policy.operations import Stream
from dockward.policy.paths import RequestTarget, split_target
from dockward.policy.routes import Classification, classify_route

MAX_REMEMBERED_HEAD = 2048


@dataclass(frozen=True, slots=True)
class HeadAnalysis:
    """One request head, parsed and classified.

    ``target_error`` is a ``(status, message)`` (and ``target``/``request`` are ``None``) when
    the target cannot be read; ``head_refusal`` is a ``(status, message)`` the head earns
    whatever the policy says (Upgrade on a route that does not hijack, a cross-origin WebSocket,
    a form body).
    """

    head: RequestHead
    log_path: str
    target: RequestTarget | None
    request: Classification | None
    target_error: tuple[int, str] | None
    head_refusal: tuple[int, str] | None


def analyse_head(raw: bytes) -> HeadAnalysis:
    """Parse and classify ``raw``; raises ``ProtocolError`` when the head itself is malformed."""
    head = parse_request_head(raw)
    try:
        target = split_target(head.target)
    except ProtocolError as err:
        log_path = head.target.split(b"?", 1)[0].decode("latin-1")[:512]
        return HeadAnalysis(head, log_path, None, None, (err.status, str(err)), None)
    request = classify_route(head.method, target)
    return HeadAnalysis(head, target.path, target, request, None, _head_refusal(head, request))


REMEMBERED_HEADS = 1024
_remembered: dict[bytes, HeadAnalysis] = {}


def analyse_head_cached(raw: bytes) -> HeadAnalysis:
    """``analyse_head``, remembered for small heads without credentials (oldest out first)."""
    seen = _remembered.get(raw)
    if seen is not None:
        return seen
    seen = analyse_head(raw)
    if len(raw) <= MAX_REMEMBERED_HEAD and not _carries_credentials(raw):
        if len(_remembered) >= REMEMBERED_HEADS:
            del _remembered[next(iter(_remembered))]
        _remembered[raw] = seen
    return seen


def _carries_credentials(raw: bytes) -> bool:
    """True when a header line is one that can carry credentials (names compared lower-case)."""
    lowered = raw.lower()
    return b"\nx-registry-" in lowered or b"authorization:" in lowered


def _head_refusal(head: RequestHead, request: Classification) -> tuple[int, str] | None:
    route = request.route
    if route is not None:
        if head.upgrade is not None and not route.hijack:
            return 400, f"Upgrade is not accepted on {route.operation}"
        if route.spec.stream is Stream.WEBSOCKET and not _same_origin(head):
            return (
                403,
                "WebSocket attach refused: the Origin header does not match Host "
                "(cross-site WebSocket attach is blocked)",
            )
    if is_form_media_type(head.header(b"content-type")):
        # Go's ParseForm lets a form body override the query string (POST, PUT, PATCH), and
        # r.FormValue adds multipart values to it (any method): never forward either, whatever
        # the method, and read the media type as Go does (U+0130 lower-cases to "i").
        return 415, "form-encoded and multipart bodies are not accepted"
    return None


def media_type(content_type: bytes | None) -> str:
    """The media type dockerd's ``CheckForJSON`` reads, or ``""`` when it could read another.

    See ``dockward.policy.mediatype.agreed_media_type``.
    """
    return agreed_media_type(content_type)


def _same_origin(head: RequestHead) -> bool:
    """True when a WebSocket request has no Origin, or one whose host:port equals Host."""
    origin = head.header(b"origin")
    if origin is None:
        return True
    host = head.header(b"host") or b""
    _, _, rest = origin.partition(b"://")
    return rest.rstrip(b"/").lower() == host.lower()
