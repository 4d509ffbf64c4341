"""Tests for dockward.policy.gojson: Go's case folding, and bodies decoded as dockerd decodes them.

The reference below is a literal reading of Go's rules, independent of the code under test: a
byte-level JSON scanner with ``encoding/json``'s ``unquote`` (``utf8.DecodeRune``, surrogate
pairs), ``bytes.EqualFold`` over ``unicode.SimpleFold`` with Go's own ``caseOrbit`` table, and
dockward's decision on top (objects with keys equal under folding are refused).
"""

from __future__ import annotations

import copy
import json
import pickle
import random
import re
import sys
import unicodedata
from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockward.errors import ProtocolError
from dockward.policy import gojson
from dockward.policy.gojson import MAX_DEPTH, GoObject, decode_body, go_equal_fold, go_fold

# --- reference: Go's unicode.SimpleFold and bytes.EqualFold ---------------------------------

# golang/go src/unicode/tables.go, caseOrbit (Unicode 15): the orbits that are not simply
# {ToUpper(r), ToLower(r)}, including the two runes that fold to nothing else.
GO_CASE_ORBIT = {
    0x004B: 0x006B, 0x0053: 0x0073, 0x006B: 0x212A, 0x0073: 0x017F, 0x00B5: 0x039C,
    0x00C5: 0x00E5, 0x00DF: 0x1E9E, 0x00E5: 0x212B, 0x0130: 0x0130, 0x0131: 0x0131,
    0x017F: 0x0053, 0x01C4: 0x01C5, 0x01C5: 0x01C6, 0x01C6: 0x01C4, 0x01C7: 0x01C8,
    0x01C8: 0x01C9, 0x01C9: 0x01C7, 0x01CA: 0x01CB, 0x01CB: 0x01CC, 0x01CC: 0x01CA,
    0x01F1: 0x01F2, 0x01F2: 0x01F3, 0x01F3: 0x01F1, 0x0345: 0x0399, 0x0392: 0x03B2,
    0x0395: 0x03B5, 0x0398: 0x03B8, 0x0399: 0x03B9, 0x039A: 0x03BA, 0x039C: 0x03BC,
    0x03A0: 0x03C0, 0x03A1: 0x03C1, 0x03A3: 0x03C2, 0x03A6: 0x03C6, 0x03A9: 0x03C9,
    0x03B2: 0x03D0, 0x03B5: 0x03F5, 0x03B8: 0x03D1, 0x03B9: 0x1FBE, 0x03BA: 0x03F0,
    0x03BC: 0x00B5, 0x03C0: 0x03D6, 0x03C1: 0x03F1, 0x03C2: 0x03C3, 0x03C3: 0x03A3,
    0x03C6: 0x03D5, 0x03C9: 0x2126, 0x03D0: 0x0392, 0x03D1: 0x03F4, 0x03D5: 0x03A6,
    0x03D6: 0x03A0, 0x03F0: 0x039A, 0x03F1: 0x03A1, 0x03F4: 0x0398, 0x03F5: 0x0395,
    0x0412: 0x0432, 0x0414: 0x0434, 0x041E: 0x043E, 0x0421: 0x0441, 0x0422: 0x0442,
    0x042A: 0x044A, 0x0432: 0x1C80, 0x0434: 0x1C81, 0x043E: 0x1C82, 0x0441: 0x1C83,
    0x0442: 0x1C84, 0x044A: 0x1C86, 0x0462: 0x0463, 0x0463: 0x1C87, 0x1C80: 0x0412,
    0x1C81: 0x0414, 0x1C82: 0x041E, 0x1C83: 0x0421, 0x1C84: 0x1C85, 0x1C85: 0x0422,
    0x1C86: 0x042A, 0x1C87: 0x0462, 0x1C88: 0xA64A, 0x1E60: 0x1E61, 0x1E61: 0x1E9B,
    0x1E9B: 0x1E60, 0x1E9E: 0x00DF, 0x1FBE: 0x0345, 0x2126: 0x03A9, 0x212A: 0x004B,
    0x212B: 0x00C5, 0xA64A: 0xA64B, 0xA64B: 0x1C88,
}  # fmt: skip

LAST_CASED = 0x1E943


@cache
def _inverse_lower() -> dict[str, str]:
    """Simple upper-case mappings Python only exposes through the inverse of ``lower``."""
    inverse: dict[str, str] = {}
    for point in range(LAST_CASED + 1):
        char = chr(point)
        lower = char.lower()
        if len(lower) == 1 and lower != char:
            inverse.setdefault(lower, char)
    return inverse


def _simple_upper(char: str) -> str:
    upper = char.upper()
    return upper if len(upper) == 1 else _inverse_lower().get(char, char)


def _simple_lower(char: str) -> str:
    lower = char.lower()
    return lower if len(lower) == 1 else char


def simple_fold(point: int) -> int:
    """unicode.SimpleFold: caseOrbit, else ToLower if different, else ToUpper."""
    if point in GO_CASE_ORBIT:
        return GO_CASE_ORBIT[point]
    char = chr(point)
    lower = _simple_lower(char)
    if lower != char:
        return ord(lower)
    return ord(_simple_upper(char))


def orbit(point: int) -> set[int]:
    members, current = {point}, simple_fold(point)
    for _ in range(8):
        if current == point:
            return members
        members.add(current)
        current = simple_fold(current)
    raise AssertionError(f"SimpleFold does not cycle back to U+{point:04X}")


def equal_fold_reference(s: str, t: str) -> bool:
    """bytes.EqualFold, rune by rune, as in Go's src/bytes/bytes.go."""
    if len(s) != len(t):
        return False
    for sc, tc in zip(s, t, strict=True):
        sr, tr = ord(sc), ord(tc)
        if sr == tr:
            continue
        if tr < sr:
            sr, tr = tr, sr
        if tr < 0x80:
            if ord("A") <= sr <= ord("Z") and tr == sr + 32:
                continue
            return False
        r = simple_fold(sr)
        while r != sr and r < tr:
            r = simple_fold(r)
        if r == tr:
            continue
        return False
    return True


# --- reference: Go's encoding/json over bytes, plus dockward's duplicate-key refusal ------


class Refused(Exception):
    pass


_GO_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_SHORT_ESCAPES = {
    ord('"'): '"', ord("\\"): "\\", ord("/"): "/",
    ord("b"): "\b", ord("f"): "\f", ord("n"): "\n", ord("r"): "\r", ord("t"): "\t",
}  # fmt: skip


def decode_rune(data: bytes, i: int) -> tuple[str, int]:
    """utf8.DecodeRune: a valid rune, or (RuneError, 1)."""
    b0 = data[i]
    if b0 < 0x80:
        return chr(b0), 1
    if 0xC2 <= b0 <= 0xDF:
        ranges = [(0x80, 0xBF)]
    elif b0 == 0xE0:
        ranges = [(0xA0, 0xBF), (0x80, 0xBF)]
    elif 0xE1 <= b0 <= 0xEC or 0xEE <= b0 <= 0xEF:
        ranges = [(0x80, 0xBF)] * 2
    elif b0 == 0xED:
        ranges = [(0x80, 0x9F), (0x80, 0xBF)]
    elif b0 == 0xF0:
        ranges = [(0x90, 0xBF), (0x80, 0xBF), (0x80, 0xBF)]
    elif 0xF1 <= b0 <= 0xF3:
        ranges = [(0x80, 0xBF)] * 3
    elif b0 == 0xF4:
        ranges = [(0x80, 0x8F), (0x80, 0xBF), (0x80, 0xBF)]
    else:
        return "\ufffd", 1
    for offset, (low, high) in enumerate(ranges, start=1):
        if i + offset >= len(data) or not low <= data[i + offset] <= high:
            return "\ufffd", 1
    size = len(ranges) + 1
    return data[i : i + size].decode("utf-8"), size


def _hex4(data: bytes, i: int) -> int:
    digits = data[i : i + 4]
    if len(digits) < 4 or not re.fullmatch(rb"[0-9a-fA-F]{4}", digits):
        return -1
    return int(digits, 16)


class GoReference:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def ws(self, i: int) -> int:
        while i < len(self.data) and self.data[i] in b" \t\n\r":
            i += 1
        return i

    def decode(self) -> object:
        i = self.ws(0)
        value, i = self.value(i, 1)
        if self.ws(i) != len(self.data):
            raise Refused("trailing content")
        return value

    def value(self, i: int, depth: int) -> tuple[object, int]:
        data = self.data
        if i >= len(data):
            raise Refused("unexpected end")
        c = data[i]
        if c in b"{[":
            if depth > MAX_DEPTH:
                raise Refused("too deep")
            return self.container(i, depth)
        if c == ord('"'):
            return self.string(i)
        number = _GO_NUMBER.match(data, i)
        if number is not None:
            text = number.group(0).decode()
            if number.group(1) or number.group(2):
                return float(text), number.end()
            return int(text), number.end()
        for literal, result in ((b"true", True), (b"false", False), (b"null", None)):
            if data.startswith(literal, i):
                return result, i + len(literal)
        raise Refused(f"invalid character at {i}")

    def container(self, i: int, depth: int) -> tuple[object, int]:
        data = self.data
        is_object = data[i] == ord("{")
        closer = ord("}") if is_object else ord("]")
        i = self.ws(i + 1)
        items: list[object] = []
        pairs: list[tuple[str, object]] = []
        if i < len(data) and data[i] == closer:
            i += 1
        else:
            while True:
                if is_object:
                    if i >= len(data) or data[i] != ord('"'):
                        raise Refused("expected key")
                    key, i = self.string(i)
                    i = self.ws(i)
                    if i >= len(data) or data[i] != ord(":"):
                        raise Refused("expected colon")
                    item, i = self.value(self.ws(i + 1), depth + 1)
                    pairs.append((key, item))
                else:
                    item, i = self.value(i, depth + 1)
                    items.append(item)
                i = self.ws(i)
                if i < len(data) and data[i] == ord(","):
                    i = self.ws(i + 1)
                    continue
                if i < len(data) and data[i] == closer:
                    i += 1
                    break
                raise Refused("expected , or closer")
        if not is_object:
            return items, i
        for index, (key, _) in enumerate(pairs):
            for other, _ in pairs[:index]:
                if equal_fold_reference(key, other):
                    raise Refused(f"duplicate key {key!r} ~ {other!r}")
        return dict(pairs), i

    def string(self, i: int) -> tuple[str, int]:
        data, out = self.data, []
        i += 1
        while True:
            if i >= len(data):
                raise Refused("unterminated string")
            b = data[i]
            if b == ord('"'):
                return "".join(out), i + 1
            if b < 0x20:
                raise Refused("control character in string")
            if b != ord("\\"):
                char, size = decode_rune(data, i)
                out.append(char)
                i += size
                continue
            escape = data[i + 1] if i + 1 < len(data) else -1
            if escape in _SHORT_ESCAPES:
                out.append(_SHORT_ESCAPES[escape])
                i += 2
                continue
            if escape != ord("u") or (r := _hex4(data, i + 2)) < 0:
                raise Refused("invalid escape")
            i += 6
            if 0xD800 <= r < 0xE000:
                r2 = _hex4(data, i + 2) if data[i : i + 2] == b"\\u" else -1
                if 0xD800 <= r < 0xDC00 and 0xDC00 <= r2 < 0xE000:
                    out.append(chr(0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00)))
                    i += 6
                else:
                    out.append("\ufffd")
            else:
                out.append(chr(r))


def go_reference(data: bytes) -> object:
    return GoReference(data).decode()


def canon(value: object) -> object:
    """A type-strict, comparable form (1 != 1.0 != True)."""
    if isinstance(value, dict):
        return ("object", tuple((key, canon(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("array", tuple(canon(item) for item in value))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def outcome(decode: Callable[[bytes], object], data: bytes) -> object:
    try:
        return canon(decode(data))
    except (ProtocolError, Refused):
        return "refused"


# --- go_fold --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("privileged", "Privileged"),
        ("PRIVILEGED", "privileged"),
        ("Bindſ", "Binds"),
        ("ſ", "S"),
        ("\u212aernel", "kernel"),  # KELVIN SIGN
        ("K", "k"),
        ("µ", "μ"),  # MICRO SIGN, GREEK SMALL MU
        ("μ", "Μ"),
        ("ß", "ẞ"),
        ("Σ", "σ"),
        ("σ", "ς"),
        ("ǅ", "ǆ"),
        ("Ǆ", "ǅ"),
        ("θ", "ϑ"),
        ("ϑ", "Θ"),
        ("ϴ", "θ"),
        ("Å", "\u212b"),  # ANGSTROM SIGN
        ("ω", "\u2126"),  # OHM SIGN
        ("ι", "\u1fbe"),
        ("\u0345", "Ι"),
        ("ᲀ", "в"),  # CYRILLIC SMALL LETTER ROUNDED VE
        ("ẛ", "ṡ"),
    ],
)
def test_go_equal_fold_matches_go_examples(a: str, b: str) -> None:
    assert go_equal_fold(a, b)
    assert equal_fold_reference(a, b)
    assert go_fold(a) == go_fold(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("İ", "i"),  # U+0130 folds only under Turkic rules: alone in Go
        ("ı", "I"),  # U+0131 likewise
        ("ß", "ss"),  # full folding is not simple folding
        ("ß", "S"),
        ("privileged", "privileges"),
        ("k", "ķ"),
        ("Binds", "Bind"),
        ("ΐ", "\u1fd3"),  # Unicode 14 added no simple fold between them
    ],
)
def test_go_equal_fold_rejects_non_equivalents(a: str, b: str) -> None:
    assert not go_equal_fold(a, b)
    assert not equal_fold_reference(a, b)


def test_go_fold_is_the_smallest_rune_of_each_orbit() -> None:
    assert go_fold("privileged") == "PRIVILEGED"
    assert go_fold("Bindſ") == "BINDS"
    assert go_fold("\u212aernel") == "KERNEL"
    assert go_fold("ς") == "Σ"
    assert go_fold("ǆ") == "Ǆ"
    assert go_fold("ϑ") == "Θ"
    assert go_fold("ß") == "ß"  # ß (U+00DF) < ẞ (U+1E9E)
    assert go_fold("İı") == "İı"


def test_go_fold_agrees_with_unicode_simple_fold_on_every_cased_rune() -> None:
    for point in range(LAST_CASED + 1):
        if 0xD800 <= point <= 0xDFFF:
            continue
        expected = min(orbit(point))
        assert ord(go_fold(chr(point))) == expected, f"U+{point:04X}"


def test_go_case_orbit_table_is_reproduced() -> None:
    for point, successor in GO_CASE_ORBIT.items():
        assert go_fold(chr(point)) == go_fold(chr(successor))
    assert go_fold("\u0130") == "\u0130"
    assert go_fold("\u0131") == "\u0131"


def test_cased_ranges_cover_every_rune_with_a_case_mapping() -> None:
    ranges = gojson._CASED_RANGES
    for point in range(sys.maxunicode + 1):
        if any(low <= point < high for low, high in ranges) or 0xD800 <= point <= 0xDFFF:
            continue
        char = chr(point)
        assert char.casefold() == char.lower() == char.upper() == char, f"U+{point:04X}"


def test_unicode_version_is_known() -> None:
    # The folding table is derived from the interpreter's Unicode database; a new version
    # should be checked against Go's tables again.
    assert unicodedata.unidata_version.split(".")[0] in {"14", "15", "16"}


# --- GoObject -------------------------------------------------------------------------------


def test_field_prefers_the_exact_key_then_the_folded_one() -> None:
    obj = GoObject([("privileged", True), ("Image", "busybox")])
    assert obj.field("Privileged") is True
    assert obj.key_for("Privileged") == "privileged"
    assert obj.field("image") == "busybox"
    assert obj.field("Missing") is None
    assert GoObject([("Bindſ", ["/:/h"])]).field("Binds") == ["/:/h"]
    assert GoObject([("\u212aernelMemory", 1)]).field("KernelMemory") == 1


def test_null_is_the_zero_value() -> None:
    obj = GoObject([("HostConfig", None), ("Binds", None), ("Privileged", None), ("Memory", None)])
    assert obj.obj("HostConfig") is None
    assert obj.items_of("Binds") == []
    assert obj.bool_of("Privileged") is False
    assert obj.int_of("Memory") is None
    assert obj.str_of("User") is None
    assert obj.map_of("Labels") == {}


@pytest.mark.parametrize(
    ("accessor", "value"),
    [
        ("bool_of", "true"),
        ("bool_of", 1),
        ("obj", []),
        ("obj", "x"),
        ("items_of", "x"),
        ("items_of", {}),
        ("str_of", 1),
        ("str_of", False),
        ("int_of", 1.0),
        ("int_of", 1.5),
        ("int_of", True),
        ("int_of", "1"),
        ("int_of", 2**63),
        ("map_of", []),
        ("strings_of", [1]),
        ("strslice_of", 5),
        ("str_map_of", {"a": 1}),
        ("objects_of", ["x"]),
    ],
)
def test_typed_accessors_refuse_what_go_cannot_decode(accessor: str, value: object) -> None:
    if isinstance(value, dict):
        value = GoObject(value)
    obj = GoObject([("field", value)])
    with pytest.raises(ProtocolError) as caught:
        getattr(obj, accessor)("Field")
    assert caught.value.status == 400
    assert '"field"' in str(caught.value)


def test_typed_accessors_accept_go_values() -> None:
    obj = GoObject(
        [
            ("CapAdd", "SYS_ADMIN"),
            ("CapDrop", ["ALL", None]),
            ("Memory", -(2**63)),
            ("Sysctls", GoObject([("a", "1"), ("b", None)])),
            ("Mounts", [None, GoObject([("Type", "bind")])]),
        ]
    )
    assert obj.strslice_of("CapAdd") == ["SYS_ADMIN"]
    assert obj.strslice_of("CapDrop") == ["ALL", ""]
    assert obj.int_of("Memory") == -(2**63)
    assert obj.str_map_of("Sysctls") == {"a": "1", "b": ""}
    assert obj.objects_of("Mounts") == [GoObject(), GoObject([("Type", "bind")])]


def test_go_object_refuses_folded_duplicates_and_mutation() -> None:
    with pytest.raises(ProtocolError, match='"PRIVILEGED" \\(same as "Privileged" to dockerd\\)'):
        GoObject([("Privileged", False), ("PRIVILEGED", True)])
    obj = GoObject({"a": 1})
    for mutate in (
        lambda: obj.__setitem__("b", 2),
        lambda: obj.__delitem__("a"),
        lambda: obj.update(b=2),
        lambda: obj.pop("a"),
        lambda: obj.setdefault("b", 2),
        obj.clear,
        obj.popitem,
    ):
        with pytest.raises(TypeError):
            mutate()
    assert obj == {"a": 1}


def test_go_object_copies_and_pickles() -> None:
    obj = decode_body(b'{"HostConfig": {"privileged": true}}')
    assert isinstance(obj, GoObject)
    for clone in (copy.copy(obj), copy.deepcopy(obj), pickle.loads(pickle.dumps(obj))):
        assert clone == obj and isinstance(clone, GoObject)
        inner = clone.obj("hostconfig")
        assert inner is not None and inner.bool_of("Privileged")
    assert repr(GoObject({"a": 1})) == "GoObject({'a': 1})"


# --- decode_body: every spelling trick --------------------------------------------------------


def refusal(body: bytes) -> str:
    with pytest.raises(ProtocolError) as caught:
        decode_body(body)
    assert caught.value.status == 400
    return str(caught.value)


@pytest.mark.parametrize(
    ("body", "reader"),
    [
        (b'{"privileged": true}', "Privileged"),
        (b'{"PRIVILEGED": true}', "Privileged"),
        (b'{"PrIvIlEgEd": true}', "Privileged"),
        (b'{"\\u0050rivileged": true}', "Privileged"),
        (b'{"\\u0070RIVILEGED": true}', "Privileged"),
        ('{"Bindſ": true}'.encode(), "Binds"),
        (b'{"Bind\\u017f": true}', "Binds"),
        ('{"\u212aernelMemory": true}'.encode(), "KernelMemory"),
        (b'{"\\u212AernelMemory": true}', "KernelMemory"),
        ('{"ſecurityOpt": true}'.encode(), "SecurityOpt"),
    ],
)
def test_key_spellings_reach_the_field(body: bytes, reader: str) -> None:
    decoded = decode_body(body)
    assert isinstance(decoded, GoObject)
    assert decoded.field(reader) is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"Privileged": false, "privileged": true}', '"privileged" (same as "Privileged"'),
        (b'{"Privileged": false, "Privileged": true}', 'duplicate JSON key "Privileged"'),
        (b'{"a": {"Binds": [], "Bind\\u017f": ["/:/h"]}}', 'same as "Binds"'),
        ('{"Labels": {"kernel": "1", "\u212aernel": "2"}}'.encode(), "duplicate JSON key"),
        (b'{"\\u0050rivileged": false, "Privileged": true}', 'duplicate JSON key "Privileged"'),
        (b'{"HostConfig": {"Privileged": true}, "HostConfig": {"Memory": 1}}', "HostConfig"),
        (b'{"HostConfig": {}, "hostconfig": {"Privileged": true}}', '"hostconfig"'),
        (b'[{"a": 1, "A": 2}]', 'same as "a"'),
    ],
)
def test_duplicate_keys_and_objects_are_refused(body: bytes, message: str) -> None:
    assert message in refusal(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"Image": "a"} {"Privileged": true}', "unexpected content after JSON"),
        (b'{"Image": "a"}}', "unexpected content after JSON"),
        (b'{"Image": "a"}x', "unexpected content after JSON"),
        (b"NaN", "NaN is not a JSON value"),
        (b'{"Memory": Infinity}', "Infinity is not a JSON value"),
        (b'{"Memory": -Infinity}', "-Infinity is not a JSON value"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b"", "empty"),
        (b" \r\n\t", "empty"),
        (b"{", "invalid JSON"),
        (b'{"a": 1,}', "invalid JSON"),
        (b"[1,]", "invalid JSON"),
        (b"01", "unexpected content"),
        (b'{"a": "\x01"}', "invalid JSON"),
        (b'{"a": "\\x"}', "invalid JSON"),
        (b'{"a": "\\u12"}', "invalid JSON"),
        (b"{'a': 1}", "invalid JSON"),
        (b"\x0b{}", "invalid JSON"),  # vertical tab is not JSON whitespace
        (b"1" * 5000, "invalid JSON"),  # beyond Python's int conversion limit
    ],
)
def test_malformed_bodies_are_refused(body: bytes, message: str) -> None:
    assert message in refusal(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'"\xff"', "\ufffd"),
        (b'"a\xe2\x82"', "a\ufffd\ufffd"),  # truncated rune: one U+FFFD per byte, as Go
        (b'"\xed\xa0\x80"', "\ufffd" * 3),  # UTF-8-encoded surrogate
        (b'"\xc0\x80"', "\ufffd" * 2),  # overlong
        (b'"\xf4\x90\x80\x80"', "\ufffd" * 4),  # beyond U+10FFFF
        (b'"\xf0\x9f\x98"x', None),
        (b'"\\ud800"', "\ufffd"),
        (b'"\\udc00"', "\ufffd"),
        (b'"\\ud83d\\ude00"', "\U0001f600"),
        (b'"\\uD83D\\uDE00"', "\U0001f600"),
        (b'"\\ud800\\ud800\\udc00"', "\ufffd\U00010000"),
        (b'"\\ud800\\u0041"', "\ufffdA"),
        (b'"\\\\ud800"', "\\ud800"),  # an escaped backslash, then text
        (b'"\\\\\\ud800"', "\\\ufffd"),
        ('"héllo"'.encode(), "héllo"),
    ],
)
def test_strings_decode_as_go(body: bytes, expected: str | None) -> None:
    if expected is None:
        refusal(body)
        return
    assert decode_body(body) == expected
    assert go_reference(body) == expected


def test_invalid_utf8_in_keys_is_replaced_before_matching() -> None:
    decoded = decode_body(b'{"Priv\xffileged": true}')
    assert isinstance(decoded, GoObject)
    assert list(decoded) == ["Priv\ufffdileged"]
    assert decoded.field("Privileged") is None


def test_numbers_keep_their_kind() -> None:
    decoded = decode_body(b'{"a": 1, "b": 1.0, "c": 1e3, "d": -0, "e": 123456789012345678901234}')
    assert isinstance(decoded, GoObject)
    assert canon(decoded) == canon(
        {"a": 1, "b": 1.0, "c": 1000.0, "d": 0, "e": 123456789012345678901234}
    )


def test_scalars_and_whitespace() -> None:
    assert decode_body(b" \t\r\n true \n") is True
    assert decode_body(b"null") is None
    assert decode_body(b"[]") == []
    assert decode_body(b"{}") == GoObject()


def _nested(depth: int) -> bytes:
    return (
        b'{"a":' * (depth // 2)
        + b"[" * (depth - depth // 2)
        + b"]" * (depth - depth // 2)
        + b"}" * (depth // 2)
    )


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH])
def test_nesting_up_to_the_limit_is_accepted(depth: int) -> None:
    decoded = decode_body(_nested(depth))
    levels = 0
    while isinstance(decoded, dict | list):
        levels += 1
        decoded = decoded["a"] if isinstance(decoded, dict) else (decoded or [None])[0]
    assert levels == depth


@pytest.mark.parametrize(
    "body", [_nested(MAX_DEPTH + 1), b"[" * 100_000, b"[" * 5000 + b"]" * 5000]
)
def test_nesting_beyond_the_limit_is_refused(body: bytes) -> None:
    assert "nested deeper than 1000 levels" in refusal(body)


def test_deep_documents_fall_back_to_the_iterative_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nesting of 1000 exceeds what the C scanner's recursion can reach under the default
    # recursion limit, so the explicit-stack parser reads the document.
    assert sys.getrecursionlimit() <= MAX_DEPTH
    calls: list[str] = []
    original = gojson._decode_iteratively

    def spy(text: str) -> object:
        calls.append(text)
        return original(text)

    monkeypatch.setattr(gojson, "_decode_iteratively", spy)
    decoded = decode_body(b'{"Privileged":' + _nested(MAX_DEPTH - 1) + b"}")
    assert calls and isinstance(decoded, GoObject)
    with pytest.raises(ProtocolError, match="duplicate"):
        decode_body(b'{"a":' + _nested(MAX_DEPTH - 2) + b', "A": 1}')
    with pytest.raises(ProtocolError, match="nested deeper"):
        decode_body(b'{"a":' + _nested(MAX_DEPTH) + b"}")
    assert len(calls) == 3


def test_wide_but_shallow_documents_are_accepted() -> None:
    body = b"[" + b",".join([b"[]"] * 3000) + b"]"
    assert len(decode_body(body)) == 3000  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------

FOLD_KEYS = [
    "Privileged", "privileged", "PRIVILEGED", "\u0050rivileged", "Binds", "Bindſ", "BINDS",
    "kernel", "\u212aernel", "Kernel", "ß", "ẞ", "Σ", "σ", "ς", "µ", "μ", "Μ", "ǅ", "ǆ", "Ǆ",
    "θ", "ϑ", "Θ", "İ", "ı", "i", "I", "Å", "\u212b", "a", "x", "",
]  # fmt: skip
keys = st.sampled_from(FOLD_KEYS) | st.text(max_size=5)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
# Objects are lists of (key, value) pairs so that documents can repeat keys.
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4).map(lambda items: ("array", items))
        | st.lists(st.tuples(keys, children), max_size=4).map(lambda pairs: ("object", pairs))
    ),
    max_leaves=16,
)

WHITESPACE = [b"", b"", b" ", b"\t", b"\n", b"\r", b"  \n"]
INVALID_UTF8 = [
    b"\xff",
    b"\x80",
    b"\xc2",
    b"\xc0\x80",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xf0\x90\x80",
]
SURROGATES = [b"\\ud800", b"\\uDC00", b"\\ud83d\\ude00", b"\\ud800\\ud800\\udc00", b"\\uDBFF"]


class Writer:
    """Serialises a document with random whitespace, escapes and (optionally) invalid bytes."""

    def __init__(self, rnd: random.Random, dirty: bool = False) -> None:
        self.rnd = rnd
        self.dirty = dirty

    def ws(self) -> bytes:
        return self.rnd.choice(WHITESPACE)

    def string(self, text: str) -> bytes:
        out = [b'"']
        for char in text:
            point = ord(char)
            choice = self.rnd.random()
            if self.dirty and choice < 0.05:
                out.append(self.rnd.choice(INVALID_UTF8 + SURROGATES))
            if char in '"\\' or point < 0x20 or choice < 0.3:
                if point > 0xFFFF:
                    high, low = divmod(point - 0x10000, 0x400)
                    escape = f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04X}"
                elif char in '"\\/\b\f\n\r\t' and choice < 0.15:
                    escape = json.dumps(char)[1:-1]
                else:
                    escape = f"\\u{point:04x}" if choice < 0.2 else f"\\u{point:04X}"
                out.append(escape.encode())
            else:
                out.append(char.encode())
        if self.dirty and self.rnd.random() < 0.1:
            out.append(self.rnd.choice(INVALID_UTF8 + SURROGATES))
        out.append(b'"')
        return b"".join(out)

    def write(self, doc: object) -> bytes:
        if isinstance(doc, tuple) and doc[0] == "array":
            items = [self.ws() + self.write(item) + self.ws() for item in doc[1]]
            return b"[" + self.ws() + b",".join(items) + b"]"
        if isinstance(doc, tuple):
            pairs = [
                self.ws() + self.string(key) + self.ws() + b":" + self.ws() + self.write(value)
                for key, value in doc[1]
            ]
            return b"{" + self.ws() + b",".join(pairs) + self.ws() + b"}"
        if isinstance(doc, str):
            return self.string(doc)
        return json.dumps(doc).encode()

    def document(self, doc: object) -> bytes:
        return self.ws() + self.write(doc) + self.ws()


def has_folded_duplicates(doc: object) -> bool:
    if not isinstance(doc, tuple):
        return False
    if doc[0] == "array":
        return any(has_folded_duplicates(item) for item in doc[1])
    names = [key for key, _ in doc[1]]
    if any(equal_fold_reference(a, b) for index, a in enumerate(names) for b in names[:index]):
        return True
    return any(has_folded_duplicates(value) for _, value in doc[1])


def plain(doc: object) -> object:
    if isinstance(doc, tuple) and doc[0] == "array":
        return [plain(item) for item in doc[1]]
    if isinstance(doc, tuple):
        return {key: plain(value) for key, value in doc[1]}
    return doc


@settings(max_examples=300)
@given(doc=documents, rnd=st.randoms(use_true_random=False))
def test_decoder_agrees_with_json_loads_unless_keys_fold_equal(
    doc: object, rnd: random.Random
) -> None:
    body = Writer(rnd).document(doc)
    if has_folded_duplicates(doc):
        with pytest.raises(ProtocolError, match="duplicate JSON key"):
            decode_body(body)
        return
    expected = json.loads(body)
    assert canon(decode_body(body)) == canon(expected) == canon(plain(doc))


@settings(max_examples=300)
@given(doc=documents, rnd=st.randoms(use_true_random=False))
def test_decoder_agrees_with_the_go_reference_on_dirty_documents(
    doc: object, rnd: random.Random
) -> None:
    body = Writer(rnd, dirty=True).document(doc)
    assert outcome(decode_body, body) == outcome(go_reference, body)


@given(text=st.text(), rnd=st.randoms(use_true_random=False))
def test_escaped_keys_decode_like_json_loads(text: str, rnd: random.Random) -> None:
    body = b"{" + Writer(rnd).string(text) + b": 1}"
    decoded = decode_body(body)
    assert isinstance(decoded, GoObject)
    assert list(decoded) == list(json.loads(body)) == [text]


@given(data=st.binary(max_size=40))
def test_arbitrary_bytes_in_strings_decode_as_go(data: bytes) -> None:
    body = b'"' + data.replace(b'"', b"").replace(b"\\", b"") + b'"'
    assert outcome(decode_body, body) == outcome(go_reference, body)


@given(data=st.binary(max_size=30))
def test_arbitrary_bytes_are_judged_as_go(data: bytes) -> None:
    assert outcome(decode_body, data) == outcome(go_reference, data)


@settings(max_examples=200)
@given(doc=documents, rnd=st.randoms(use_true_random=False))
def test_iterative_parser_reads_like_the_fast_path(doc: object, rnd: random.Random) -> None:
    body = Writer(rnd, dirty=True).document(doc)

    def iterative(data: bytes) -> object:
        return gojson._decode_iteratively(gojson._prepare(data))

    assert outcome(iterative, body) == outcome(decode_body, body)


def test_with_values_copies_with_the_same_keys_and_fold_table():
    original = decode_body(b'{"HostConfig":{"Binds":["a:/a"]},"Image":"x"}')
    assert isinstance(original, GoObject)
    changed = original.with_values({"Image": "y"})
    assert changed == {"HostConfig": original["HostConfig"], "Image": "y"}
    assert original["Image"] == "x" and changed.key_for("image") == "Image"
    assert changed["HostConfig"] is original["HostConfig"]
    with pytest.raises(TypeError):
        changed["Image"] = "z"
