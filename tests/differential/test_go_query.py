"""Query strings: ``dockward.policy.paths.parse_query`` against Go's ``url.ParseQuery``.

dockward reads what Go reads, or refuses: where Go reports an error (a ``;``, an invalid
escape) dockerd's ``ParseForm`` answers 400, but handlers that only call ``r.FormValue`` act on
the values Go did parse, so dockward must refuse every such query. Values that are not UTF-8
are Go's to keep and dockward's to refuse.
"""

from __future__ import annotations

import pytest
from go_inputs import query, seeded
from hypothesis import event, example, given

from dockward.errors import ProtocolError
from dockward.policy.paths import parse_query
from support.godiff import DIFFERENTIAL, GoHelper


def as_bytes(values: dict[str, list[str]]) -> dict[bytes, list[bytes]]:
    return {k.encode(): [v.encode() for v in vs] for k, vs in values.items()}


def utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize(
    ("text", "go_err"),
    [
        ("a=1;b=2", "invalid semicolon separator in query"),
        ("stdin=0&x=1;stdin=1", "invalid semicolon separator in query"),
        ("a=%zz", 'invalid URL escape "%zz"'),
        ("a=%4", 'invalid URL escape "%4"'),
        ("a=1&b=%", 'invalid URL escape "%"'),
    ],
)
def test_queries_go_reports_as_errors_are_refused(text: str, go_err: str, godiff: GoHelper) -> None:
    go = godiff.parse_query(text.encode())
    assert go.err == go_err
    with pytest.raises(ProtocolError):
        parse_query(text)


def test_go_keeps_the_values_around_an_error_which_is_why_dockward_refuses(
    godiff: GoHelper,
) -> None:
    """A handler that reads r.FormValue without ParseForm's error acts on these values."""
    go = godiff.parse_query(b"stdin=1&x=%zz&y=1;z=2")
    assert go.values == {b"stdin": [b"1"]}
    assert go.err


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("a=1&a=2", {b"a": [b"1", b"2"]}),
        ("a=&b", {b"a": [b""], b"b": [b""]}),
        ("=x&&", {b"": [b"x"]}),
        ("a+b=c+d%2B", {b"a b": [b"c d+"]}),
        ("k=%C4%B0", {b"k": ["İ".encode()]}),
        ("k=a=b", {b"k": [b"a=b"]}),
    ],
)
def test_named_queries_read_the_same(
    text: str, values: dict[bytes, list[bytes]], godiff: GoHelper
) -> None:
    go = godiff.parse_query(text.encode())
    assert (go.values, go.err) == (values, "")
    assert as_bytes(parse_query(text)) == values


def test_a_value_that_is_not_utf8_is_kept_by_go_and_refused_by_dockward(godiff: GoHelper) -> None:
    assert godiff.parse_query(b"a=%FF").values == {b"a": [b"\xff"]}
    with pytest.raises(ProtocolError, match="UTF-8"):
        parse_query("a=%FF")


@DIFFERENTIAL
@given(seeded(query))
@example("a=1;b=2")
@example("%zz=1&a=2")
def test_query_matches_go(godiff: GoHelper, text: str) -> None:
    go = godiff.parse_query(text.encode())
    try:
        ours = parse_query(text)
    except ProtocolError:
        ours = None
    if ours is not None:
        assert go.err == "", (text, ours, go)
        assert as_bytes(ours) == go.values, (text, ours, go)
    else:
        readable = all(utf8(k) and all(utf8(v) for v in vs) for k, vs in go.values.items())
        assert go.err or not readable, (text, go)  # refused only what Go could not read for us
    event(f"dockward: {'read' if ours is not None else 'refused'}; go error: {bool(go.err)}")
