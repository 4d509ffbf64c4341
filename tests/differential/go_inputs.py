"""Inputs that sit on Go's edges, for the differential tests.

Each builder takes a ``random.Random`` and returns one input; ``seeded(builder)`` makes a
hypothesis strategy of it from a single drawn seed. One draw per example keeps hypothesis's own
overhead small, so ``make fuzz`` can afford 100,000 examples per parser; a failure still shows
the input itself (the tests put it in their assertion messages) and the seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

from hypothesis import strategies as st

from dockward.policy.gostrings import GO_SPACE

T = TypeVar("T")

# Runes that lower-case, fold or look like ASCII letters under some rule but not another.
LOOKALIKES: dict[str, str] = {
    "i": "İıIÍ",  # U+0130 lowers to "i" in Go (simple mapping), to "i̇" in Python
    "k": "\u212aK",  # KELVIN SIGN: lowers and folds to "k"
    "s": "ſS",  # LONG S: folds to "s", lowers to itself
    "a": "ÀＡ",  # fullwidth A lowers to fullwidth a, not "a"
    "e": "ÉĖ",
    "o": "ÖΟ",  # GREEK CAPITAL OMICRON
    "c": "Ϲ",  # GREEK CAPITAL LUNATE SIGMA
    "m": "Μ",  # GREEK CAPITAL MU
}

# Spaces to Go (unicode.IsSpace) and characters Python or HTTP treat as space but Go does not.
SPACES = GO_SPACE + "\x1c\x1d\x1e\x1f\u200b\ufeff\u180e"

# Bytes that are not UTF-8 (or not all of it): Go reads each as U+FFFD.
BAD_UTF8 = (b"\xff", b"\xc4", b"\xb0", b"\xe2\x84", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80")

# A spread of code points: ASCII, Latin-1, the look-alikes, other scripts, astral, controls.
_SAMPLE_RANGES = (
    (0x00, 0x7F),
    (0x80, 0xFF),
    (0x100, 0x24F),
    (0x370, 0x3FF),
    (0x400, 0x4FF),
    (0x1E00, 0x1EFF),
    (0x2000, 0x206F),
    (0x2100, 0x214F),
    (0xFF00, 0xFFEF),
    (0x10400, 0x1044F),
    (0x1E900, 0x1E94F),
)


def seeded(builder: Callable[[random.Random], T]) -> st.SearchStrategy[T]:
    """A strategy drawing one 32-bit seed and building an input from it."""
    return st.integers(0, 2**32 - 1).map(lambda seed: builder(random.Random(seed)))


def chance(rng: random.Random, one_in: int) -> bool:
    return rng.randrange(one_in) == 0


def any_char(rng: random.Random) -> str:
    low, high = rng.choice(_SAMPLE_RANGES)
    point = rng.randint(low, high)
    return chr(point) if not 0xD800 <= point <= 0xDFFF else "?"


def any_text(rng: random.Random, max_size: int = 12) -> str:
    return "".join(any_char(rng) for _ in range(rng.randint(0, max_size)))


def mangled(rng: random.Random, word: str) -> str:
    """``word`` with some letters upper-cased or replaced by a look-alike."""
    out = []
    for char in word:
        roll = rng.randrange(40)
        if roll == 0 and char.lower() in LOOKALIKES:
            out.append(rng.choice(LOOKALIKES[char.lower()]))
        elif roll < 8:
            out.append(char.upper())
        else:
            out.append(char)
    return "".join(out)


def spaces(rng: random.Random, most: int = 2) -> str:
    if chance(rng, 2):
        return ""
    return "".join(rng.choice(SPACES) for _ in range(rng.randint(1, most)))


def with_bad_bytes(rng: random.Random, text: str, always: bool = False) -> bytes:
    """``text`` as UTF-8, sometimes (or ``always``) with a sequence that is not UTF-8 in it."""
    raw = text.encode()
    if always or chance(rng, 5):
        at = rng.randint(0, len(raw))
        raw = raw[:at] + rng.choice(BAD_UTF8) + raw[at:]
    return raw


def any_bytes(rng: random.Random, max_size: int = 40) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, max_size)))


_QUERY_ATOMS = (
    "a", "stdin", "Stdin", "fromSrc", "1", "0", "x", "-", ".", "~", "*", "'",
    "+", "%2B", "%20", "%3D", "%26", "%3B", "%3b", "%25", "%C4%B0", "%c4%b0", "%E2%84%AA",
    "%FF", "%C4", "%ED%A0%80", "%", "%4", "%zz", "%g0", "%%", "=", "==", "?", "/", "%00",
)  # fmt: skip
_CLEAN_QUERY_ATOMS = tuple(
    atom
    for atom in _QUERY_ATOMS
    if ";" not in atom and atom not in ("%FF", "%C4", "%ED%A0%80", "%", "%4", "%zz", "%g0", "%%")
)


def query_component(rng: random.Random, ascii_only: bool = False, clean: bool = False) -> str:
    """A key or value of a query: names dockerd reads, escapes good and bad, text."""
    atoms = _CLEAN_QUERY_ATOMS if clean else _QUERY_ATOMS
    parts = []
    for _ in range(rng.randint(0, 4)):
        if chance(rng, 8) and not ascii_only:
            parts.append(any_text(rng, 2))
        else:
            parts.append(rng.choice(atoms))
    return "".join(parts)


def query(rng: random.Random, ascii_only: bool = False, clean: bool = False) -> str:
    """A query string: ``&`` (sometimes ``;``) separated, repeated and empty keys and values.

    ``clean``: no ``;`` and only valid escapes of UTF-8.
    """
    pieces = []
    for _ in range(rng.randint(0, 5)):
        piece = query_component(rng, ascii_only, clean)
        if not chance(rng, 4):
            piece += "=" + query_component(rng, ascii_only, clean)
        pieces.append(piece)
    separators = "&&&&&;" if chance(rng, 3) and not clean else "&"
    out = pieces[0] if pieces else ""
    for piece in pieces[1:]:
        out += rng.choice(separators) + piece
    return out


MEDIA_TYPES = (
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "application/json",
    "text/plain",
    "application/x-tar",
)


def pick(rng: random.Random, good: list[str], bad: list[str], wild: bool = True) -> str:
    """A well-formed choice, or (``wild``, one time in four) a malformed one."""
    return rng.choice(bad if wild and chance(rng, 4) else good)


def parameters(rng: random.Random, wild: bool = True) -> str:
    """Zero or more parameters: spacing, quoting, repeats, and (``wild``) junk."""
    out = ""
    for _ in range(rng.randint(0, 3)):
        out += pick(rng, [";", "; ", " ; ", ";\t"], [";;", ";\u3000", "; ;", ""], wild)
        names = ["charset", "boundary", "Charset", "a", "b"]
        out += pick(rng, names, ["a*", "a*0", "x y", "", "é"], wild)
        out += pick(rng, ["=", "="], [" = ", "", "=="], wild)
        if chance(rng, 3):
            good = ["", "x", "a b", "a;b"]
            out += '"' + pick(rng, good, ['a\\"b', "é", "a\\b", "a\tb"], wild)
            out += pick(rng, ['"'], ["", 'x"', '""'], wild)
        else:
            out += pick(rng, ["utf-8", "UTF-8", "xyz", "{x}"], ["", "a b", "é", "a;b", "@"], wild)
    return out + pick(rng, ["", "", ";", "; ", " "], [";;", "junk", any_text(rng, 3)], wild)


def content_type(rng: random.Random) -> bytes:
    """A Content-Type value: a media type in some spelling, spaces, parameters, bad bytes.

    Two in five are well-formed (ASCII case changes and spaces only), two in five carry one
    oddity (a look-alike letter, a Unicode space, a bad byte or a malformed parameter), one in
    five is anything at all.
    """
    roll = rng.randrange(5)
    base = rng.choice(MEDIA_TYPES)
    if roll < 2:
        cased = "".join(c.upper() if chance(rng, 4) else c for c in base)
        return (rng.choice(["", " ", "\t"]) + cased + parameters(rng, wild=False)).encode()
    if roll < 4:
        oddity = rng.randrange(4)
        if oddity == 0:
            at = rng.randrange(len(base))
            lookalikes = LOOKALIKES.get(base[at], "")
            base = base[:at] + (rng.choice(lookalikes) if lookalikes else "İ") + base[at + 1 :]
        elif oddity == 1:
            base = spaces(rng) + base + spaces(rng)
        text = base + parameters(rng, wild=oddity == 3)
        return with_bad_bytes(rng, text, always=True) if oddity == 2 else text.encode()
    if chance(rng, 2):
        return any_bytes(rng)
    base = mangled(rng, base) if not chance(rng, 5) else any_text(rng)
    return with_bad_bytes(rng, spaces(rng) + base + spaces(rng) + parameters(rng))
