"""Request targets and query strings, read exactly as dockerd reads them, or refused.

dockerd routes on Go's ``req.URL.Path`` (percent-decoded, so ``%2F`` is a ``/``) after gorilla/mux
has answered any path that ``path.Clean`` would change with a 301, and its handlers read query
parameters with ``r.Form.Get`` (the first of repeated values). This module reproduces those
readings so the policy sees what the daemon will act on; whatever could be read two ways (an
unclean path, a ``;`` in the query, a fragment, an absolute-form target) is refused with a
``ProtocolError`` instead. Pure functions: no sockets, no I/O, no logging.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from dockward.errors import ProtocolError
from dockward.policy.gostrings import go_to_lower, go_trim_space

__all__ = [
    "RequestTarget",
    "first_value",
    "go_bool",
    "go_path_clean",
    "parse_query",
    "split_target",
]


@dataclass(frozen=True, slots=True)
class RequestTarget:
    """An origin-form request target as dockerd sees it.

    ``raw`` is the target exactly as received, ``path`` the percent-decoded (and verified clean)
    path that the router matches, ``query`` the raw, still-encoded query string without ``?``.
    """

    raw: bytes
    path: str
    query: str


def go_path_clean(path: str) -> str:
    """gorilla/mux's ``cleanPath``: Go's ``path.Clean`` on a rooted path, trailing slash kept.

    Unlike ``posixpath.normpath`` a leading ``//`` collapses to ``/``. ``..`` at the root stays
    at the root. An empty path is ``/``; a trailing slash survives unless the result is ``/``.
    """
    if path == "":
        return "/"
    # After the leading "/" that cleanPath guarantees, path.Clean reduces to a segment stack.
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "" or segment == ".":
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    cleaned = "/" + "/".join(segments)
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Visible ASCII only: Go would take raw spaces, controls and 8-bit bytes in some places, the
# RFC does not allow them, and no Docker client sends them.
_TARGET_BYTE_OK = bytes(range(0x21, 0x7F))
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SCHEME = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*:")


def split_target(target: bytes) -> RequestTarget:
    """Split and decode an origin-form target (``/path?query``) or raise ``ProtocolError``.

    Refused with 400: absolute-form (``http://host/path``), asterisk-form (``*``) and anything
    else not starting with ``/``; bytes other than visible ASCII; ``#`` fragments; invalid
    percent escapes; a decoded path that is not UTF-8 or holds control characters; a path that
    Go's ``path.Clean`` would change (dockerd would answer 301 and run nothing); a query with a
    ``;`` (Go rejects it) or with invalid escapes.
    """
    if not target.startswith(b"/"):
        if target == b"*":
            raise ProtocolError("asterisk-form request target (*) is not accepted")
        if _SCHEME.match(target) or target.startswith(b"//"):
            raise ProtocolError(
                "absolute-form request targets are not accepted; send origin-form (/path?query)"
            )
        raise ProtocolError("request target must start with /")
    if target.translate(None, _TARGET_BYTE_OK):
        raise ProtocolError("request target contains a byte that is not visible ASCII")
    if b"#" in target:
        raise ProtocolError("request target must not carry a #fragment")
    text = target.decode("ascii")
    raw_path, _, query = text.partition("?")
    if _BAD_PERCENT.search(raw_path):
        raise ProtocolError(f'invalid percent escape in path "{raw_path}"')
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f'path "{raw_path}" does not decode to UTF-8') from None
    if _CONTROL.search(path):
        raise ProtocolError(f'path "{raw_path}" decodes to control characters')
    cleaned = go_path_clean(path)
    if cleaned != path:
        raise ProtocolError(f'path "{path}" is not clean (dockerd would redirect to "{cleaned}")')
    if query:
        parse_query(query)  # refuse now what the handler's ParseForm would refuse later
    return RequestTarget(raw=target, path=path, query=query)


def _query_unescape(component: str) -> str:
    """Go's ``url.QueryUnescape``: ``+`` is a space, ``%XX`` a byte; the result must be UTF-8."""
    if _BAD_PERCENT.search(component):
        raise ProtocolError(f'invalid percent escape in query component "{component}"')
    if "%" not in component:
        return component.replace("+", " ")
    try:
        return unquote_to_bytes(component.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f'query component "{component}" does not decode to UTF-8') from None


def parse_query(query: str) -> dict[str, list[str]]:
    """Go's ``url.ParseQuery``: ``&``-separated, blank values kept, values in arrival order.

    The first value of a key is what dockerd's ``r.Form.Get`` returns (see ``first_value``).
    Refused with 400 where Go returns an error: a ``;`` anywhere, an invalid escape. Go keeps
    bytes that are not UTF-8; we refuse them rather than read them differently.
    """
    params: dict[str, list[str]] = {}
    if not query:
        return params
    if ";" in query:
        raise ProtocolError("invalid semicolon separator in query")
    for pair in query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        params.setdefault(_query_unescape(key), []).append(_query_unescape(value))
    return params


def first_value(params: dict[str, list[str]], key: str) -> str | None:
    """The value dockerd's ``r.Form.Get(key)`` sees: the first one; ``None`` when absent."""
    values = params.get(key)
    return values[0] if values else None


_GO_FALSE = frozenset({"", "0", "no", "false", "none"})


def go_bool(value: str | None) -> bool:
    """dockerd's ``httputils.BoolValue``: false only for "", 0, no, false, none (any case).

    Anything else is true, so ``stdin=off`` and ``privileged=False `` read differently than a
    Python programmer expects: the first is true, the second false. ``None`` (absent) is false.
    Trimming and lower-casing are Go's (``"\x1cfalse"`` is *true*: U+001C is no space to Go).
    """
    if value is None:
        return False
    return go_to_lower(go_trim_space(value)) not in _GO_FALSE
