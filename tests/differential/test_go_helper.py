"""The Go helper itself: built once and reused, and it reports what it cannot answer."""

from __future__ import annotations

import pytest

from support.godiff import GoHelper, GoHelperError, build_helper


def test_a_second_build_reuses_the_binary(godiff: GoHelper) -> None:
    before = godiff.binary.stat()
    assert build_helper() == godiff.binary
    after = godiff.binary.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_an_unknown_question_is_an_error_not_a_silent_answer(godiff: GoHelper) -> None:
    with pytest.raises(GoHelperError, match="unknown fn"):
        godiff.call("NoSuchFunction")
    assert godiff.parse_query(b"a=1").values == {b"a": [b"1"]}  # still answering
