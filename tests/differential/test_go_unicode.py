"""Go's Unicode tables, rune by rune, against dockward's: ToLower, SimpleFold orbits, IsSpace.

Python's ``unicodedata`` and Go's ``unicode`` package implement different Unicode versions (and
so do the Go versions dockerd is built with), so some runes differ: with Python 3.11 (Unicode
14) against Go 1.27, runes added since, and a few simple foldings added since (U+1FD3 with
U+0390, U+1FE3 with U+03B0, U+FB05 with U+FB06). No difference may involve ASCII: Engine API
field names and the media types dockward compares are ASCII, so only a non-ASCII rune that
lowers or folds *to* ASCII (U+0130 to "i", U+212A to "k", U+017F to "s") can change what
dockerd reads, and those sets are checked exactly.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dockward.policy.gojson import go_equal_fold, go_fold
from dockward.policy.gostrings import GO_SPACE, go_to_lower
from dockward.policy.paths import go_bool
from support.godiff import DIFFERENTIAL, GoHelper


@cache
def _tables(godiff: GoHelper) -> dict[str, Any]:
    return godiff.unicode_tables()


def _differences(go_map: dict[int, int], ours: dict[int, int]) -> dict[int, tuple[int, int]]:
    return {
        point: (go_map.get(point, point), ours.get(point, point))
        for point in go_map.keys() | ours.keys()
        if go_map.get(point, point) != ours.get(point, point)
    }


def _check(differences: dict[int, tuple[int, int]]) -> None:
    """Differences are allowed only far from ASCII: they cannot change an ASCII name."""
    for point, (go_value, our_value) in sorted(differences.items()):
        assert min(point, go_value, our_value) > 0x7F, (
            f"U+{point:04X}: Go {go_value:#x}, dockward {our_value:#x} "
            f"(Python's Unicode is {unicodedata.unidata_version})"
        )


def test_to_lower_matches_go_for_every_rune(godiff: GoHelper) -> None:
    go_lower = {point: lower for point, lower in _tables(godiff)["lower"]}
    ours = {}
    for point in go_lower.keys() | set(range(0x80, 0x1E922)):
        if not 0xD800 <= point <= 0xDFFF:
            lowered = go_to_lower(chr(point))
            assert len(lowered) == 1
            if lowered != chr(point):
                ours[point] = ord(lowered)
    for point in range(0x80):
        assert go_to_lower(chr(point)) == chr(go_lower.get(point, point))
    _check(_differences(go_lower, ours))
    # The runes that lower to ASCII from outside it: the ones media types are spelled with.
    assert {p for p, low in go_lower.items() if low < 0x80 <= p} == {0x130, 0x212A}


def test_simple_fold_orbits_match_go_for_every_rune(godiff: GoHelper) -> None:
    go_smallest = {point: smallest for point, smallest in _tables(godiff)["fold"]}
    ours = {}
    for point in go_smallest.keys() | set(range(0x1E950)):
        if not 0xD800 <= point <= 0xDFFF:
            folded = go_fold(chr(point))
            if folded != chr(point):
                ours[point] = ord(folded)
    _check(_differences(go_smallest, ours))
    # The runes that fold to ASCII from outside it: the ones field names can be spelled with.
    assert {p for p, low in go_smallest.items() if low < 0x80 <= p} == {0x17F, 0x212A}


def test_is_space_matches_go(godiff: GoHelper) -> None:
    assert set(map(ord, GO_SPACE)) == set(_tables(godiff)["space"])


_FOLDY = st.text(st.sampled_from("sSſkK\u212aiIİıµΜμΣσςǅǄǆ"), max_size=4)


@DIFFERENTIAL
@given(_FOLDY | st.text(max_size=4), _FOLDY | st.text(max_size=4))
def test_equal_fold_matches_go(godiff: GoHelper, a: str, b: str) -> None:
    assert go_equal_fold(a, b) == godiff.equal_fold(a, b), (a, b)


_BOOLISH = st.sampled_from(["", "0", "no", "false", "none", "1", "off", "False ", "İ", "NONE"])


@DIFFERENTIAL
@given(
    st.tuples(
        st.text(st.sampled_from(GO_SPACE + "\x1c\x1f\u200b"), max_size=2),
        _BOOLISH | st.text(max_size=5),
        st.text(st.sampled_from(GO_SPACE + "\x1c\x1f\u200b"), max_size=2),
    ).map("".join)
)
def test_go_bool_is_dockerds_bool_value(godiff: GoHelper, value: str) -> None:
    assert go_bool(value) == godiff.bool_value(value.encode()), value
