"""Go's strings.ToLower / TrimSpace; tests/differential checks every rune against Go's tables."""

from __future__ import annotations

import pytest

from dockward.policy.gostrings import go_decode, go_to_lower, go_trim_space


@pytest.mark.parametrize(
    ("text", "lower"),
    [
        ("ABC", "abc"),
        ("İ", "i"),  # Python: "i̇" (two code points)
        ("ΑΣ", "ασ"),  # Python: final sigma "ας"
        ("\u212a", "k"),
        ("ſ", "ſ"),
    ],
)
def test_go_to_lower(text: str, lower: str) -> None:
    assert go_to_lower(text) == lower


def test_go_trim_space_is_unicode_is_space() -> None:
    assert go_trim_space("\u3000\x85 x \xa0") == "x"
    assert go_trim_space("\x1cx\x1f") == "\x1cx\x1f"  # str.strip() would remove these


def test_go_decode_replaces_each_bad_byte() -> None:
    assert go_decode(b"a\xe2\x84b\xff") == "a\ufffd\ufffdb\ufffd"
