"""Tests for dockward.policy.paths: Go's path.Clean, request-target splitting, Go query parsing."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dockward.errors import ProtocolError
from dockward.policy.paths import (
    RequestTarget,
    first_value,
    go_bool,
    go_path_clean,
    parse_query,
    split_target,
)

# --- reference implementation -------------------------------------------------------------


def go_path_clean_reference(path: str) -> str:
    """A literal translation of Go's path.Clean (src/path/path.go), lazybuf and all."""
    if path == "":
        return "."
    rooted = path[0] == "/"
    n = len(path)
    buf: list[str] | None = None  # lazybuf: stays None while the output is a prefix of path
    w = 0

    def index(i: int) -> str:
        return buf[i] if buf is not None else path[i]

    def append(c: str) -> None:
        nonlocal buf, w
        if buf is None:
            if w < n and path[w] == c:
                w += 1
                return
            buf = list(path[:w]) + [""] * (n - w)
        if w < len(buf):
            buf[w] = c
        else:
            buf.append(c)
        w += 1

    r, dotdot = 0, 0
    if rooted:
        append("/")
        r, dotdot = 1, 1
    while r < n:
        if path[r] == "/":  # noqa: SIM114 - one branch per case, as in Go
            r += 1
        elif path[r] == "." and (r + 1 == n or path[r + 1] == "/"):
            r += 1
        elif path[r] == "." and path[r + 1] == "." and (r + 2 == n or path[r + 2] == "/"):
            r += 2
            if w > dotdot:
                w -= 1
                while w > dotdot and index(w) != "/":
                    w -= 1
            elif not rooted:
                if w > 0:
                    append("/")
                append(".")
                append(".")
                dotdot = w
        else:
            if (rooted and w != 1) or (not rooted and w != 0):
                append("/")
            while r < n and path[r] != "/":
                append(path[r])
                r += 1
    if w == 0:
        return "."
    return path[:w] if buf is None else "".join(buf[:w])


def mux_clean_path_reference(p: str) -> str:
    """gorilla/mux cleanPath (mux.go) around the reference path.Clean."""
    if p == "":
        return "/"
    if p[0] != "/":
        p = "/" + p
    np = go_path_clean_reference(p)
    if p[-1] == "/" and np != "/":
        np += "/"
    return np


# --- go_path_clean ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [
        # Go's own path.Clean test table, rooted cases, through cleanPath
        ("/abc", "/abc"),
        ("/abc/def", "/abc/def"),
        ("/", "/"),
        ("//abc", "/abc"),  # posixpath.normpath keeps a leading "//"
        ("///abc", "/abc"),
        ("/abc//def//ghi", "/abc/def/ghi"),
        ("/abc/./def", "/abc/def"),
        ("/./abc/def", "/abc/def"),
        ("/abc/.", "/abc"),
        ("/abc/def/ghi/../jkl", "/abc/def/jkl"),
        ("/abc/def/../ghi/../jkl", "/abc/jkl"),
        ("/abc/def/..", "/abc"),
        ("/abc/def/../..", "/"),
        ("/abc/def/../../..", "/"),
        ("/abc/def/../../../ghi/jkl/../../../mno", "/mno"),
        ("/..", "/"),
        ("/../abc", "/abc"),
        ("/.../abc", "/.../abc"),
        ("/..abc/x", "/..abc/x"),
        # cleanPath's own rules
        ("", "/"),
        ("abc", "/abc"),
        ("../abc", "/abc"),
        ("/abc/", "/abc/"),
        ("/abc//", "/abc/"),
        ("/abc/./", "/abc/"),
        ("/abc/../", "/"),
        ("//", "/"),
        ("/./", "/"),
    ],
)
def test_go_path_clean_table(path: str, cleaned: str) -> None:
    assert go_path_clean(path) == cleaned
    assert mux_clean_path_reference(path) == cleaned


def test_go_path_clean_differs_from_posixpath_on_double_slash() -> None:
    assert posixpath.normpath("//containers/json") == "//containers/json"
    assert go_path_clean("//containers/json") == "/containers/json"


_path_alphabet = st.text(alphabet="/.a%b", max_size=24)


@given(st.one_of(_path_alphabet, st.text(max_size=40)))
@example("/a/../../b/./c//")
@example("..")
@example("/..a/b..")
def test_go_path_clean_matches_reference(path: str) -> None:
    assert go_path_clean(path) == mux_clean_path_reference(path)


@given(st.one_of(_path_alphabet, st.text(max_size=40)))
def test_go_path_clean_invariants(path: str) -> None:
    cleaned = go_path_clean(path)
    assert cleaned.startswith("/")
    assert go_path_clean(cleaned) == cleaned
    assert "//" not in cleaned
    segments = cleaned.split("/")
    assert "." not in segments
    assert ".." not in segments
    assert cleaned == "/" or cleaned.endswith("/") == path.endswith("/")


def test_reference_handles_unrooted_paths_like_go() -> None:
    # the reference is complete path.Clean, unrooted branch included (Go's test table)
    assert go_path_clean_reference("") == "."
    assert go_path_clean_reference("abc/../../..") == "../.."
    assert go_path_clean_reference("abc/./../def") == "def"
    assert go_path_clean_reference("./") == "."


# --- split_target -------------------------------------------------------------------------


def test_split_target_plain() -> None:
    target = split_target(b"/v1.41/containers/json?all=1&filters=%7B%7D")
    assert target == RequestTarget(
        raw=b"/v1.41/containers/json?all=1&filters=%7B%7D",
        path="/v1.41/containers/json",
        query="all=1&filters=%7B%7D",
    )


def test_split_target_decodes_path_like_go() -> None:
    assert split_target(b"/containers/a%2Fb/json").path == "/containers/a/b/json"
    assert split_target(b"/containers/%C3%A9t%C3%A9/json").path == "/containers/été/json"
    assert split_target(b"/images/a+b/json").path == "/images/a+b/json"  # + is not a space
    assert split_target(b"/containers/100%25/json").path == "/containers/100%/json"


def test_split_target_keeps_trailing_slash_and_empty_query() -> None:
    assert split_target(b"/networks/") == RequestTarget(b"/networks/", "/networks/", "")
    assert split_target(b"/_ping?") == RequestTarget(b"/_ping?", "/_ping", "")


def test_split_target_only_first_question_mark_splits() -> None:
    target = split_target(b"/images/json?a=b?c")
    assert (target.path, target.query) == ("/images/json", "a=b?c")


@pytest.mark.parametrize(
    ("target", "phrase"),
    [
        (b"http://evil/v1.41/containers/json", "absolute-form"),
        (b"HTTP://evil/_ping", "absolute-form"),
        (b"docker:2376", "absolute-form"),
        (b"*", "asterisk-form"),
        (b"containers/json", "must start with /"),
        (b"", "must start with /"),
        (b"/containers/json#frag", "#fragment"),
        (b"/_ping?a=1#x", "#fragment"),
        (b"/containers/%zz/json", "invalid percent escape"),
        (b"/containers/%4/json", "invalid percent escape"),
        (b"/containers/json%", "invalid percent escape"),
        (b"/containers/%00/json", "control characters"),
        (b"/containers/a%0Ab/json", "control characters"),
        (b"/containers/a%7Fb/json", "control characters"),
        (b"/containers/a%C2%85b/json", "control characters"),
        (b"/containers/%FF/json", "UTF-8"),
        (b"/containers/%C3/json", "UTF-8"),
        (b"/containers/a b/json", "visible ASCII"),
        (b"/containers/a\tb/json", "visible ASCII"),
        (b"/containers/\xc3\xa9/json", "visible ASCII"),
        (b"/containers/json\x00", "visible ASCII"),
        (b"/images/json?a=1;b=2", "semicolon"),
        (b"/images/json?a%3Bb=1;", "semicolon"),
        (b"/images/json?a=%zz", "invalid percent escape"),
        (b"/images/json?a=%FF", "UTF-8"),
        (b"//containers/json", "not clean"),
        (b"/containers//json", "not clean"),
        (b"/containers/./json", "not clean"),
        (b"/containers/x/../json", "not clean"),
        (b"/v1.41/../containers/json", "not clean"),
        (b"/containers/%2E%2E/json", "not clean"),
        (b"/containers/a%2F%2Fb/json", "not clean"),
        (b"/containers/a%2F/json", "not clean"),
        (b"/containers/json/.", "not clean"),
    ],
)
def test_split_target_rejections(target: bytes, phrase: str) -> None:
    with pytest.raises(ProtocolError) as info:
        split_target(target)
    assert info.value.status == 400
    message = str(info.value)
    assert phrase in message
    assert message[0].islower()
    assert not message.startswith("dockward:")


def test_split_target_unclean_message_names_the_redirect() -> None:
    with pytest.raises(ProtocolError, match=r'path "/a//b" is not clean .*"/a/b"'):
        split_target(b"/a//b")


@given(st.binary(max_size=40))
def test_split_target_accepts_only_clean_decodable_paths(raw: bytes) -> None:
    try:
        target = split_target(b"/" + raw)
    except ProtocolError as err:
        assert err.status == 400
        return
    assert go_path_clean(target.path) == target.path
    assert "\x00" not in target.path
    assert ";" not in target.query
    assert target.raw == b"/" + raw


# --- query parsing -------------------------------------------------------------------------


def test_parse_query_go_semantics() -> None:
    assert parse_query("") == {}
    assert parse_query("a=1&a=2&b=&c") == {"a": ["1", "2"], "b": [""], "c": [""]}
    assert parse_query("a=x+y%2Bz") == {"a": ["x y+z"]}
    assert parse_query("&&a=1&") == {"a": ["1"]}
    assert parse_query("=v") == {"": ["v"]}
    assert parse_query("a=b=c") == {"a": ["b=c"]}
    assert parse_query("n%61me=%C3%A9") == {"name": ["é"]}
    assert parse_query("a=%2526") == {"a": ["%26"]}


@pytest.mark.parametrize("query", ["a=1;b=2", "a;b", ";", "a=%", "a=%4", "%G0=1", "a=%FE"])
def test_parse_query_rejects(query: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_query(query)
    assert info.value.status == 400


def test_first_value_is_what_form_get_returns() -> None:
    params = parse_query("fromImage=allowed/img&fromImage=evil/img&tag=")
    assert first_value(params, "fromImage") == "allowed/img"
    assert first_value(params, "tag") == ""
    assert first_value(params, "absent") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("", False),
        ("0", False),
        ("no", False),
        ("NO", False),
        ("false", False),
        ("False", False),
        (" FALSE\t", False),
        ("none", False),
        ("None", False),
        ("\u3000false\u2028", False),  # Go's TrimSpace knows these spaces
        ("1", True),
        ("true", True),
        ("off", True),  # not a Go false
        ("n", True),
        ("f", True),
        ("00", True),
        ("\x1cfalse", True),  # Python's strip() would eat \x1c; Go's TrimSpace does not
        ("\u200bfalse", True),  # zero-width space is not White_Space
    ],
)
def test_go_bool(value: str | None, expected: bool) -> None:
    assert go_bool(value) is expected
