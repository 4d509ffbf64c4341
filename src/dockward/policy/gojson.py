"""Request bodies read the way dockerd's Go ``encoding/json`` reads them, or refused.

dockerd decodes request bodies with Go's ``encoding/json``, whose rules differ from Python's
``json`` in ways an attacker can use to show the policy one document and the daemon another:

* object keys match struct fields **case-insensitively**, exact spelling preferred, with Unicode
  *simple* case folding (``bytes.EqualFold``): ``privileged``, ``PRIVILEGED``, ``Bindſ``
  (U+017F LONG S) and ``\\u212Aernel``-style keys (U+212A KELVIN SIGN) all reach their fields;
* keys are unescaped before matching: ``"\\u0050rivileged"`` is ``Privileged``;
* a repeated key is applied again, so the **last duplicate wins**, and a repeated object key
  **merges** into the object decoded before it;
* invalid UTF-8 inside strings becomes U+FFFD, one per bad byte, and so does a ``\\u`` escape of
  a lone UTF-16 surrogate; ``NaN`` and ``Infinity`` are not JSON; a byte order mark is an error.

Decision: instead of modelling "last wins" and "objects merge", **dockward refuses any JSON
object holding two keys that are equal under Go's folding**, anywhere in the document (inside
maps such as ``Labels`` too, where Go would keep both; no client sends such a body). With that
gone, every key names exactly one field, and the checks read a document both sides agree on.
The refusal is a ``ProtocolError`` with status 400, e.g. ``duplicate JSON key "privileged"
(same as "Privileged" to dockerd)``. Also refused with 400: anything that is not one JSON value
with optional whitespace around it (dockerd's "unexpected content after JSON"), ``NaN``,
``Infinity``, a leading byte order mark, an empty body, integers longer than Python will
convert (4300 digits), and nesting deeper than ``MAX_DEPTH`` (Go allows 10000; dockward 1000).

Numbers stay ``int`` when they are written without fraction or exponent, else ``float``, as
``json.loads`` does; the typed accessors of ``GoObject`` then apply Go's rules for the field's
type (an ``int64`` field refuses ``1.0`` and ``1e3``, as Go does).

Pure functions over bytes: no I/O, no logging. Python's C JSON scanner does the parsing; the
few places where it differs from Go are fixed around it (UTF-8 decoding, lone surrogates,
constants, duplicate keys) and a small iterative parser takes over for documents nested deeper
than the interpreter's recursion limit allows.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import NoReturn

from dockward.errors import ProtocolError

__all__ = [
    "MAX_DEPTH",
    "GoObject",
    "decode_body",
    "go_equal_fold",
    "go_fold",
]

MAX_DEPTH = 1000
"""Deepest nesting of arrays and objects accepted (the outermost container is depth 1)."""

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# --- Go's Unicode simple case folding ------------------------------------------------------

# Every code point with a case mapping or folding lies in these ranges (Unicode 14, checked
# against a scan of all code points in the tests), so building the table scans ~30k runes.
_CASED_RANGES = ((0x0000, 0x2E00), (0xA640, 0xAC00), (0xFB00, 0xFF80), (0x10400, 0x1E950))


@cache
def _fold_table() -> dict[int, int]:
    """Code point -> smallest code point of its ``unicode.SimpleFold`` orbit (if different).

    Go builds its orbits from the simple (C and S) mappings of CaseFolding.txt. Python exposes
    the full folding (C and F) as ``str.casefold``: where that is one character it is the C
    mapping; where it is several (an F entry), the S entry, if any, is the simple lower-case
    mapping (U+1E9E -> U+00DF, U+1F88 -> U+1F80, ...). U+0130 and U+0131 fold only under the
    Turkic (T) rules, so they stay alone, as in Go's ``caseOrbit`` table.
    """
    parent: dict[int, int] = {}

    def root(point: int) -> int:
        while (up := parent.get(point, point)) != point:
            point = up
        return point

    def link(a: int, b: int) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for low, high in _CASED_RANGES:
        for point in range(low, high):
            char = chr(point)
            folded = char.casefold()
            if len(folded) == 1:
                if folded != char:
                    link(point, ord(folded))
                continue
            lower = char.lower()
            if len(lower) == 1 and lower != char:
                link(point, ord(lower))
    # The union keeps the smallest member as the root, which is what Go's foldRune returns.
    return {point: smallest for point in parent if (smallest := root(point)) != point}


def go_fold(text: str) -> str:
    """``text`` with each rune replaced by the smallest rune of its simple-folding orbit.

    Two strings are equal to ``bytes.EqualFold`` (and to ``encoding/json``'s key matching) iff
    their folds are equal: ``go_fold("Bindſ") == go_fold("BINDS") == "BINDS"``. ASCII letters
    fold to upper case, because ``A`` < ``a`` < any non-ASCII member of the orbit.
    """
    folded = _fold_cache.get(text)
    if folded is None:
        folded = text.upper() if text.isascii() else text.translate(_fold_table())
        if len(text) <= _FOLD_CACHE_KEY_MAX and len(_fold_cache) < _FOLD_CACHE_SIZE:
            _fold_cache[text] = folded  # field names and the keys clients send repeat
    return folded


_fold_cache: dict[str, str] = {}
_FOLD_CACHE_SIZE = 16384
_FOLD_CACHE_KEY_MAX = 64


def go_equal_fold(a: str, b: str) -> bool:
    """Go's ``bytes.EqualFold`` / ``strings.EqualFold`` on two strings."""
    return a == b or go_fold(a) == go_fold(b)


# --- the decoded object --------------------------------------------------------------------


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _quoted(text: str) -> str:
    return json.dumps(text)


def _refuse_duplicate(items: list[tuple[str, object]]) -> NoReturn:
    seen: dict[str, str] = {}
    for key, _ in items:
        folded = go_fold(key)
        if folded not in seen:
            seen[folded] = key
            continue
        first = seen[folded]
        if first == key:
            raise ProtocolError(f"duplicate JSON key {_quoted(key)}")
        raise ProtocolError(
            f"duplicate JSON key {_quoted(key)} (same as {_quoted(first)} to dockerd)"
        )
    raise AssertionError("no duplicate found")  # pragma: no cover


class GoObject(dict[str, object]):
    """A decoded JSON object: keys as written (after unescaping), read with Go's field rules.

    No two keys fold equal (``decode_body`` refuses such documents and so does the
    constructor), so a field name finds at most one key. The object is read-only: the policy
    judges the document as received.

    Accessors follow Go's decoding into a struct field: ``field`` prefers the exact key, else
    the key that folds equal; JSON ``null`` and an absent key both give ``None`` (Go leaves the
    zero value). The typed accessors raise ``ProtocolError`` (400) where Go's decoder would fail
    (a string where a bool is expected, ...), because dockerd would answer 400 too: fail closed.
    """

    __slots__ = ("_by_fold",)

    def __init__(self, pairs: Iterable[tuple[str, object]] | Mapping[str, object] = ()) -> None:
        items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
        # ASCII keys (nearly all) fold inline: this runs for every object of every body
        by_fold = {(key.upper() if key.isascii() else go_fold(key)): key for key, _ in items}
        if len(by_fold) != len(items):
            _refuse_duplicate(items)
        super().__init__(items)
        self._by_fold = by_fold

    # Read-only: every mutator refuses.
    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a GoObject is read-only")

    __setitem__ = _read_only
    __delitem__ = _read_only
    __ior__ = _read_only
    clear = _read_only
    pop = _read_only
    popitem = _read_only
    setdefault = _read_only
    update = _read_only

    def __reduce__(self) -> tuple[type[GoObject], tuple[list[tuple[str, object]]]]:
        return (GoObject, (list(self.items()),))

    def __repr__(self) -> str:
        return f"GoObject({dict.__repr__(self)})"

    def with_values(self, values: Mapping[str, object]) -> GoObject:
        """A copy with the values of some keys (as written) replaced; the keys stay, so the
        copy shares the original's fold table (no fold is computed again)."""
        assert all(dict.__contains__(self, key) for key in values)
        copy = GoObject.__new__(GoObject)
        dict.__init__(copy, self)
        dict.update(copy, values)  # replaces in place: the keys keep their order
        copy._by_fold = self._by_fold
        return copy

    def key_for(self, name: str) -> str | None:
        """The key Go would decode into the struct field ``name``, or ``None``."""
        if dict.__contains__(self, name):
            return name
        return self._by_fold.get(name.upper() if name.isascii() else go_fold(name))

    def field(self, name: str) -> object | None:
        """The value of struct field ``name``: exact key, else the folded one; null -> None."""
        key = self.key_for(name)
        return None if key is None else dict.__getitem__(self, key)

    def _typed(self, name: str, value: object, expected: str) -> NoReturn:
        raise ProtocolError(
            f"JSON field {_quoted(self.key_for(name) or name)} is {_json_kind(value)} where "
            f"dockerd expects {expected}"
        )

    def obj(self, name: str) -> GoObject | None:
        """A struct (or pointer-to-struct) field: ``None`` if absent or null."""
        value = self.field(name)
        if value is None or isinstance(value, GoObject):
            return value
        self._typed(name, value, "an object")

    def items_of(self, name: str) -> list[object]:
        """A slice field: ``[]`` if absent or null (Go's nil slice)."""
        value = self.field(name)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self._typed(name, value, "an array")

    def str_of(self, name: str) -> str | None:
        """A string field: ``None`` if absent or null."""
        value = self.field(name)
        if value is None or isinstance(value, str):
            return value
        self._typed(name, value, "a string")

    def bool_of(self, name: str) -> bool:
        """A bool field: ``False`` if absent or null; a non-boolean is refused, as by Go."""
        value = self.field(name)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        self._typed(name, value, "a boolean")

    def int_of(self, name: str) -> int | None:
        """An ``int64`` field: ``None`` if absent or null.

        Go parses the literal with ``strconv.ParseInt``, so ``1.0``, ``1e3`` and values outside
        the int64 range are refused.
        """
        value = self.field(name)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            if _INT64_MIN <= value <= _INT64_MAX:
                return value
            self._typed(name, value, "a 64-bit integer (this one is out of range)")
        self._typed(name, value, "an integer")

    def map_of(self, name: str) -> dict[str, object]:
        """A map field: ``{}`` if absent or null. Map keys are exact (Go does not fold them)."""
        value = self.field(name)
        if value is None:
            return {}
        if isinstance(value, GoObject):
            return dict(value)
        self._typed(name, value, "an object")

    def strings_of(self, name: str) -> list[str]:
        """A ``[]string`` field; a null element is Go's zero value, ``""``."""
        result: list[str] = []
        for item in self.items_of(name):
            if item is None:
                result.append("")
            elif isinstance(item, str):
                result.append(item)
            else:
                raise ProtocolError(
                    f"JSON field {_quoted(self.key_for(name) or name)} holds "
                    f"{_json_kind(item)} where dockerd expects strings"
                )
        return result

    def strslice_of(self, name: str) -> list[str]:
        """A ``strslice.StrSlice`` field (``CapAdd`` on dockerd <= 26): a string or strings."""
        value = self.field(name)
        if isinstance(value, str):
            return [value]
        return self.strings_of(name)

    def str_map_of(self, name: str) -> dict[str, str]:
        """A ``map[string]string`` field; a null value is Go's zero value, ``""``."""
        result: dict[str, str] = {}
        for key, item in self.map_of(name).items():
            if item is None:
                result[key] = ""
            elif isinstance(item, str):
                result[key] = item
            else:
                raise ProtocolError(
                    f"JSON field {_quoted(self.key_for(name) or name)} maps {_quoted(key)} "
                    f"to {_json_kind(item)} where dockerd expects a string"
                )
        return result

    def objects_of(self, name: str) -> list[GoObject]:
        """A slice of structs: ``[]`` if absent or null; a null element is an empty struct."""
        result: list[GoObject] = []
        for item in self.items_of(name):
            if item is None:
                result.append(GoObject())
            elif isinstance(item, GoObject):
                result.append(item)
            else:
                raise ProtocolError(
                    f"JSON field {_quoted(self.key_for(name) or name)} holds "
                    f"{_json_kind(item)} where dockerd expects objects"
                )
        return result


# --- decoding ------------------------------------------------------------------------------


def _go_utf8_errors(error: UnicodeError) -> tuple[str, int]:
    """Go's ``utf8.DecodeRune`` replaces each byte that is not part of a valid rune."""
    assert isinstance(error, UnicodeDecodeError)
    return "\ufffd" * (error.end - error.start), error.end


_GO_UTF8 = "dockward-go-utf8"
codecs.register_error(_GO_UTF8, _go_utf8_errors)

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Scanned left to right, every backslash escape is consumed as a unit, so "\\ud800" (an escaped
# backslash, then text) is never read as an escape. Alternatives: a valid pair, a lone surrogate,
# any other escape.
_ESCAPES = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|(\\u[dD][89a-fA-F][0-9a-fA-F]{2})"
    r"|\\.",
    re.DOTALL,
)


def _replace_lone_surrogate(match: re.Match[str]) -> str:
    return "\\ufffd" if match.group(1) else match.group(0)


def _reject_constant(name: str) -> NoReturn:
    raise ProtocolError(f"invalid JSON: {name} is not a JSON value (dockerd rejects it)")


def _too_deep(value: object) -> bool:
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[object]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _too_deep_error() -> ProtocolError:
    return ProtocolError(f"JSON nested deeper than {MAX_DEPTH} levels is not accepted")


def _syntax_error(err: json.JSONDecodeError) -> ProtocolError:
    if err.msg == "Extra data":
        return ProtocolError(
            f"unexpected content after JSON at line {err.lineno} column {err.colno}"
        )
    return ProtocolError(f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}")


def _prepare(body: bytes) -> str:
    """The body as text Python's scanner reads like Go: Go's UTF-8 repair, no lone surrogates."""
    text = codecs.decode(body, "utf-8", _GO_UTF8)
    if text.startswith("\ufeff"):
        raise ProtocolError(
            "invalid JSON: the body starts with a byte order mark, which dockerd rejects"
        )
    if not text.strip(" \t\r\n"):
        raise ProtocolError("invalid JSON: the body is empty")
    if _SURROGATE_ESCAPE.search(text):
        text = _ESCAPES.sub(_replace_lone_surrogate, text)
    return text


# Built once: json.loads with arguments builds a decoder per call.
_DECODER = json.JSONDecoder(
    object_pairs_hook=GoObject, parse_constant=_reject_constant, strict=True
)


def decode_body(body: bytes) -> object:
    """Decode a request body as dockerd will, refusing what it would read differently.

    JSON objects become ``GoObject``; see the module docstring for the rules. Raises
    ``ProtocolError`` (400) for anything refused.
    """
    text = _prepare(body)
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as err:
        raise _syntax_error(err) from None
    except RecursionError:
        # Deeper than the interpreter's recursion limit leaves room for: parse with a stack.
        return _decode_iteratively(text)
    except ValueError as err:  # integers beyond sys.get_int_max_str_digits()
        raise ProtocolError(f"invalid JSON: {err}") from None
    if text.count("{") + text.count("[") > MAX_DEPTH and _too_deep(value):
        raise _too_deep_error()
    return value


# --- the iterative parser, for documents deeper than the C scanner's recursion allows -------

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_LITERALS: tuple[tuple[str, object], ...] = (("true", True), ("false", False), ("null", None))


class _Frame:
    """An open array (``pairs is None``) or object, and the key of the value being read."""

    __slots__ = ("key", "pairs", "values")

    def __init__(self, is_object: bool) -> None:
        self.pairs: list[tuple[str, object]] | None = [] if is_object else None
        self.values: list[object] = []
        self.key = ""


def _fail(message: str, text: str, pos: int) -> NoReturn:
    raise _syntax_error(json.JSONDecodeError(message, text, pos))


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    assert match is not None
    return match.end()


def _object_key(text: str, pos: int) -> tuple[str, int]:
    """Read ``"key" :`` at ``pos`` (whitespace skipped); return the key and the value's start."""
    if text.startswith('"', pos):
        key, pos = _scanstring(text, pos + 1, True)
        pos = _skip(text, pos)
        if text.startswith(":", pos):
            return key, _skip(text, pos + 1)
        _fail("Expecting ':' delimiter", text, pos)
    _fail("Expecting property name enclosed in double quotes", text, pos)


def _scalar(text: str, pos: int) -> tuple[object, int]:
    if text.startswith('"', pos):
        return _scanstring(text, pos + 1, True)
    number = _NUMBER.match(text, pos)
    if number is not None:
        integer, fraction, exponent = number.groups()
        if fraction or exponent:
            return float(integer + (fraction or "") + (exponent or "")), number.end()
        try:
            return int(integer), number.end()
        except ValueError as err:
            raise ProtocolError(f"invalid JSON: {err}") from None
    for literal, value in _LITERALS:
        if text.startswith(literal, pos):
            return value, pos + len(literal)
    for constant in ("NaN", "Infinity", "-Infinity"):
        if text.startswith(constant, pos):
            _reject_constant(constant)
    _fail("Expecting value", text, pos)


def _decode_iteratively(text: str) -> object:
    """The same reading as ``decode_body``'s fast path, with an explicit stack."""
    stack: list[_Frame] = []
    pos = _skip(text, 0)
    while True:
        # Read one value at pos, or open a container and continue with its first value.
        value: object
        if text.startswith("{", pos) or text.startswith("[", pos):
            if len(stack) >= MAX_DEPTH:
                raise _too_deep_error()
            is_object = text[pos] == "{"
            pos = _skip(text, pos + 1)
            if text.startswith("}" if is_object else "]", pos):
                value, pos = (GoObject() if is_object else []), pos + 1
            else:
                frame = _Frame(is_object)
                if frame.pairs is not None:
                    frame.key, pos = _object_key(text, pos)
                stack.append(frame)
                continue
        else:
            value, pos = _scalar(text, pos)
        # Attach the value to its parent, closing every container that ends here.
        while True:
            if not stack:
                end = _skip(text, pos)
                if end != len(text):
                    _fail("Extra data", text, end)
                return value
            frame = stack[-1]
            if frame.pairs is not None:
                frame.pairs.append((frame.key, value))
            else:
                frame.values.append(value)
            pos = _skip(text, pos)
            if text.startswith(",", pos):
                pos = _skip(text, pos + 1)
                if frame.pairs is not None:
                    frame.key, pos = _object_key(text, pos)
                break
            if text.startswith("]" if frame.pairs is None else "}", pos):
                pos += 1
                stack.pop()
                value = frame.values if frame.pairs is None else GoObject(frame.pairs)
                continue
            _fail("Expecting ',' delimiter", text, pos)
