"""Content-Type values read as Go's ``mime.ParseMediaType`` reads them in dockerd, or not at all.

Two readings matter, and they are not the same:

* **Is the body a form?** ``net/http`` parses a form body when ``ParseMediaType`` returns
  ``application/x-www-form-urlencoded`` (in ``r.ParseForm``, POST/PUT/PATCH) or
  ``multipart/form-data`` (in ``r.ParseMultipartForm``, which ``r.FormValue`` calls, any
  method). For the first, Go uses the media type even when the parameters after it do not parse.
  ``go_media_type`` reproduces the media-type half exactly: the text before the first ``;``,
  lower-cased with Go's rune-by-rune ``unicode.ToLower`` (``applİcation`` with U+0130 *is*
  ``application``, and the U+212A KELVIN SIGN is a ``k``), trimmed of ``unicode.IsSpace`` runes,
  and then either ``token`` or ``token/token``.
* **Is the body JSON?** dockerd's ``CheckForJSON`` wants ``ParseMediaType`` to succeed with
  ``application/json``, parameters included. ``agreed_media_type`` vouches for a value only
  when its parameters are plainly valid (``; name=token`` or ``; name="text"``, ASCII, names
  distinct, at most one trailing ``;``); anything else reads as ``""`` (no media type), so a
  value Go might read differently is never taken for JSON.

Pure functions: no I/O, no logging. tests/differential compares both with Go's own function.
"""

from __future__ import annotations

import re

from dockward.policy.gostrings import go_decode, go_to_lower, go_trim_space

__all__ = ["FORM_MEDIA_TYPES", "agreed_media_type", "go_media_type", "is_form_media_type"]

FORM_MEDIA_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
"""The media types whose bodies ``net/http`` adds to ``r.Form``."""

# Go's isTokenChar: visible ASCII except the tspecials ()<>@,;:\"/[]?= (braces are allowed)
_TOKEN_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '()<>@,;:\\"/[]?=')
_TOKEN = f"[{re.escape(_TOKEN_CHARS)}]+"
_MEDIA_TYPE = re.compile(rf"{_TOKEN}(?:/{_TOKEN})?")
_ASCII_SPACE = " \t\n\v\f\r"
_PARAMETER = re.compile(
    rf"[ \t]*;[ \t]*([{re.escape(_TOKEN_CHARS.replace('*', ''))}]+)[ \t]*=[ \t]*"
    rf'(?:{_TOKEN}|"[ !#-\[\]-~]*")'
)
_PARAMETERS_END = re.compile(r"[ \t]*(?:;[ \t]*)?")


def go_media_type(content_type: bytes) -> str:
    """The media type ``mime.ParseMediaType`` returns for ``content_type``, parameters aside.

    ``""`` where Go finds none (its error "mime: no media type", "expected slash after first
    token", ...). Go also returns ``""`` when two parameters share a name with different
    values; this function does not look at parameters, so it answers the media type there too.
    """
    base = content_type.split(b";", 1)[0]
    if base.isascii():
        text = base.decode("ascii").lower().strip(_ASCII_SPACE)
    else:
        text = go_trim_space(go_to_lower(go_decode(base)))
    return text if _MEDIA_TYPE.fullmatch(text) else ""


def is_form_media_type(content_type: bytes | None) -> bool:
    """True when Go would read a body with this Content-Type into ``r.Form``.

    ``None`` (no header) is ``application/octet-stream`` to Go: not a form.
    """
    return content_type is not None and go_media_type(content_type) in FORM_MEDIA_TYPES


def agreed_media_type(content_type: bytes | None) -> str:
    """The media type, when ``mime.ParseMediaType`` surely accepts the whole value; else ``""``.

    The parameters must be ASCII ``; name=value`` pairs (a token or a quoted string without
    backslashes as the value; no ``*`` names, which Go reads as RFC 2231 continuations) with
    distinct names, then optional space and at most one ``;``. Go accepts more (other Unicode
    spaces, escapes, repeated equal parameters); those values read as "no media type" here.
    """
    if content_type is None:
        return ""
    media_type = go_media_type(content_type)
    if not media_type:
        return ""
    separator = content_type.find(b";")
    if separator < 0:
        return media_type
    rest = content_type[separator:]
    if not rest.isascii():
        return ""
    text = rest.decode("ascii")
    names: set[str] = set()
    position = 0
    while (parameter := _PARAMETER.match(text, position)) is not None:
        name = parameter.group(1).lower()
        if name in names:
            return ""
        names.add(name)
        position = parameter.end()
    return media_type if _PARAMETERS_END.fullmatch(text, position) else ""
