"""Request targets and paths: ``split_target`` and ``go_path_clean`` against Go.

dockerd's server reads the target with ``url.ParseRequestURI`` (the path percent-decoded, the
query kept raw), gorilla/mux answers any path that its ``cleanPath`` (``path.Clean``, trailing
slash kept) changes with a 301, and handlers read the query with ``url.ParseQuery``. Whenever
``split_target`` accepts a target, Go must read the same path and query, the path must be clean
to mux, and the query must parse without error. And it refuses only what it says it refuses.
"""

from __future__ import annotations

import random
import re

import pytest
from go_inputs import any_text, chance, query, seeded
from hypothesis import event, example, given
from hypothesis import strategies as st

from dockward.errors import ProtocolError
from dockward.policy.paths import go_path_clean, parse_query, split_target
from support.godiff import DIFFERENTIAL, GoHelper

_SEGMENTS = (
    "containers", "json", "v1.41", "v1..4", "x", "attach", "", ".", "..", "...", "%2F", "%2f",
    "%2e", "%2E%2E", "%2e.", "%", "%zz", "%4", "%00", "%0A", "%7F", "%C2%85", "%C4%B0", "%FF",
    "%E2%80%AE", "+", ";", ":", "@", "a b", "#", "%23", "%3F", "?", "é", "\\", "~", "http:",
)  # fmt: skip


_CLEAN_SEGMENTS = ("containers", "json", "v1.41", "x", "attach", "%2F", "%C4%B0", "+", "@", ":")


def a_path(rng: random.Random, clean: bool = False) -> str:
    choices = _CLEAN_SEGMENTS if clean else _SEGMENTS
    segments = [rng.choice(choices) for _ in range(rng.randint(0, 5))]
    if clean:
        return "/" + "/".join(segments)
    if chance(rng, 10):
        segments.append(any_text(rng, 3))
    path = "/".join(segments)
    return path if chance(rng, 12) else "/" + path + ("/" if chance(rng, 6) else "")


def a_target(rng: random.Random) -> bytes:
    clean = chance(rng, 2)
    target = a_path(rng, clean)
    if chance(rng, 2):
        target += "?" + query(rng, ascii_only=clean or not chance(rng, 10), clean=clean)
    return target.encode()


def as_bytes(values: dict[str, list[str]]) -> dict[bytes, list[bytes]]:
    return {k.encode(): [v.encode() for v in vs] for k, vs in values.items()}


_VISIBLE_ASCII = re.compile(rb"[\x21-\x7e]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def readable_by_dockward(target: bytes, path: bytes) -> bool:
    """What split_target documents it refuses, though Go would read it."""
    if not _VISIBLE_ASCII.fullmatch(target) or b"#" in target:
        return False
    try:
        text = path.decode()
    except UnicodeDecodeError:
        return False
    return not _CONTROL.search(text)


@pytest.mark.parametrize(
    ("target", "path"),
    [
        (b"/containers/a%2Fb/json", b"/containers/a/b/json"),
        (b"/containers/x/attach?stdin=1", b"/containers/x/attach"),
        (b"/v1.41/containers/%C4%B0/json", "/v1.41/containers/İ/json".encode()),
        (b"/a+b", b"/a+b"),
    ],
)
def test_named_targets_read_the_same(target: bytes, path: bytes, godiff: GoHelper) -> None:
    go = godiff.request_uri(target)
    assert (go.err, go.path, go.clean) == ("", path, path)
    assert split_target(target).path.encode() == path


@pytest.mark.parametrize(
    "target",
    [
        b"/containers/x/../../json",  # mux redirects: the handler never runs
        b"//containers/json",
        b"/containers/x%2F..%2F..%2Fjson",  # unclean once decoded
        b"/containers/json/.",
    ],
)
def test_paths_mux_would_redirect_are_refused(target: bytes, godiff: GoHelper) -> None:
    go = godiff.request_uri(target)
    assert go.err == "" and go.clean != go.path
    with pytest.raises(ProtocolError, match="not clean"):
        split_target(target)


@DIFFERENTIAL
@given(seeded(a_target))
@example(b"/containers/x%2F..%2Fy/json")
@example(b"/containers/json?all=1;x=2")
def test_split_target_matches_go(godiff: GoHelper, target: bytes) -> None:
    go = godiff.request_uri(target)
    try:
        ours = split_target(target)
    except ProtocolError:
        ours = None
    event(f"dockward: {'read' if ours is not None else 'refused'}")
    if ours is not None:
        assert go.err == "", (target, go)
        assert go.path == ours.path.encode() and go.clean == go.path, (target, ours, go)
        assert go.raw_query == ours.query.encode(), (target, ours, go)
        go_query = godiff.parse_query(go.raw_query)
        assert go_query.err == "", (target, go_query)
        assert go_query.values == as_bytes(parse_query(ours.query)), (target, go_query)
        return
    # Refused: Go fails, or mux redirects, or the query errs, or it is one of the documented
    # refusals of what Go would read (bytes that are not visible ASCII, '#', a path that is
    # not UTF-8 or decodes to control characters, query values that are not UTF-8).
    if go.err or go.clean != go.path or not readable_by_dockward(target, go.path):
        return
    if not target.startswith(b"/"):
        return  # ParseRequestURI takes "a/b" as a relative path; the server never sees one
    go_query = godiff.parse_query(go.raw_query)
    values_utf8 = True
    try:
        for key, values in go_query.values.items():
            key.decode()
            for value in values:
                value.decode()
    except UnicodeDecodeError:
        values_utf8 = False
    assert go_query.err or not values_utf8, (target, go, go_query)


_PATH_TEXT = st.text(st.sampled_from("/.a%b"), max_size=14) | st.text(max_size=12)


@DIFFERENTIAL
@given(_PATH_TEXT)
@example("//a/../b/")
@example("a/..")
def test_go_path_clean_is_mux_clean_path(godiff: GoHelper, path: str) -> None:
    clean, mux = godiff.path_clean(path.encode("utf-8", "surrogatepass"))
    assert go_path_clean(path).encode("utf-8", "surrogatepass") == mux, (path, mux)
    if path.startswith("/"):
        # Host paths in bodies (profiles' bind checks) use it without the trailing slash.
        ours = go_path_clean(path).rstrip("/") or "/"
        assert ours.encode("utf-8", "surrogatepass") == clean, (path, clean)
