"""Go's ``strings.ToLower`` and ``strings.TrimSpace``, for readers that must agree with dockerd.

Python's ``str.lower`` applies Unicode's *full* lower-case mapping and context rules, where Go's
``unicode.ToLower`` maps one rune to one rune (the *simple* mapping): ``"İ".lower()`` is
``"i̇"`` (two code points) in Python and ``"i"`` in Go, and a final ``Σ`` becomes ``ς`` in
Python, ``σ`` in Go. ``str.strip()`` also strips U+001C..U+001F, which ``unicode.IsSpace`` does
not. Go strings are bytes: a byte that is not part of valid UTF-8 reads as U+FFFD.

Pure functions: no I/O. The differential tests (tests/differential) compare these with Go's own
``unicode`` tables rune by rune.
"""

from __future__ import annotations

import codecs
from functools import cache

__all__ = ["GO_SPACE", "go_decode", "go_to_lower", "go_trim_space"]

GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
"""The runes ``unicode.IsSpace`` reports (what ``strings.TrimSpace`` trims)."""

# In the Unicode version of the interpreter (14 for Python 3.11), no code point at or above
# U+1E922 has a lower-case mapping (tests/differential compares the result with Go, rune by rune).
_CASED_END = 0x1E922


def _go_utf8_errors(error: UnicodeError) -> tuple[str, int]:
    """Go's range loop over a string: each byte that is not part of a valid rune is U+FFFD."""
    assert isinstance(error, UnicodeDecodeError)
    return "\ufffd" * (error.end - error.start), error.end


_GO_UTF8 = "dockward-go-strings"
codecs.register_error(_GO_UTF8, _go_utf8_errors)


def go_decode(raw: bytes) -> str:
    """The runes Go sees in the string ``raw`` (invalid UTF-8 bytes become U+FFFD, one each)."""
    return raw.decode("utf-8", _GO_UTF8)


@cache
def _lower_table() -> dict[int, int]:
    """Code point -> ``unicode.ToLower`` of it, for every code point where the two differ."""
    table: dict[int, int] = {}
    for point in range(_CASED_END):
        lower = chr(point).lower()
        if len(lower) == 1:
            if lower != chr(point):
                table[point] = ord(lower)
        else:
            # Only U+0130 has a longer full mapping ("i" + U+0307); its simple one is "i".
            table[point] = ord(lower[0])
    return table


def go_to_lower(text: str) -> str:
    """Go's ``strings.ToLower``: ``unicode.ToLower`` on every rune, no context rules."""
    if text.isascii():
        return text.lower()
    return text.translate(_lower_table())


def go_trim_space(text: str) -> str:
    """Go's ``strings.TrimSpace``: leading and trailing ``unicode.IsSpace`` runes removed."""
    return text.strip(GO_SPACE)
