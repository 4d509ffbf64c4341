"""Content-Type: dockward's reading against Go's ``mime.ParseMediaType``.

A body is a form to dockerd when Go's media type is a form type; dockward must then refuse it
(``is_form_media_type``). A body is JSON to dockerd's ``CheckForJSON`` only when
``ParseMediaType`` succeeds with ``application/json``; dockward may vouch for less, never more.
"""

from __future__ import annotations

import pytest
from go_inputs import content_type, seeded
from hypothesis import event, example, given

from dockward.gateway.analysis import media_type
from dockward.policy.mediatype import (
    FORM_MEDIA_TYPES,
    agreed_media_type,
    go_media_type,
    is_form_media_type,
)
from support.godiff import DIFFERENTIAL, GoHelper

DUPLICATE_PARAMETER = "mime: duplicate parameter name"
NAMED = {
    # U+0130 as UTF-8 bytes: Go lower-cases it to "i", so this is a form to dockerd.
    "dotted capital I": "applİcation/x-www-form-urlencoded".encode(),
    "dotted capital I, multipart": "multİpart/form-data; boundary=x".encode(),
    "ideographic space before": "\u3000application/x-www-form-urlencoded".encode(),
    "no-break space after": "application/x-www-form-urlencoded\u00a0".encode(),
    "broken parameters": b"application/x-www-form-urlencoded; ;;",
    "upper case": b"APPLICATION/X-WWW-FORM-URLENCODED",
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_form_content_types_are_forms_to_go_and_to_dockward(
    name: str, godiff: GoHelper
) -> None:
    value = NAMED[name]
    assert godiff.parse_media_type(value).media_type.decode() in FORM_MEDIA_TYPES
    assert is_form_media_type(value)


def test_latin_1_lower_casing_would_have_missed_the_dotted_capital_i(godiff: GoHelper) -> None:
    """The reading dockward had before: Python's lower() on a latin-1 decoding."""
    value = "applİcation/x-www-form-urlencoded".encode()
    old_reading = value.decode("latin-1").split(";", 1)[0].strip().lower()
    assert old_reading not in FORM_MEDIA_TYPES
    assert godiff.parse_media_type(value).media_type == b"application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    "value",
    [
        b"application/json",
        b"Application/JSON",
        b"application/json; charset=utf-8",
        b"application/json;charset=UTF-8",
        b'application/json; charset="utf-8"',
        b"application/json;",
    ],
)
def test_what_clients_send_as_json_is_json_to_both(value: bytes, godiff: GoHelper) -> None:
    go = godiff.parse_media_type(value)
    assert (go.media_type, go.err) == (b"application/json", "")
    assert media_type(value) == agreed_media_type(value) == "application/json"


@pytest.mark.parametrize(
    "value",
    [
        b"application/json; charset=utf-8; charset=latin1",
        b"application/json; a",
        b"application/json;;",
        "applİcation/json".encode(),
    ],
)
def test_json_that_go_reads_otherwise_is_not_json_to_dockward(
    value: bytes, godiff: GoHelper
) -> None:
    go = godiff.parse_media_type(value)
    assert go.err != "" or go.media_type == b"application/json"
    if go.err:
        assert agreed_media_type(value) == ""


@DIFFERENTIAL
@given(seeded(content_type))
@example("applİcation/x-www-form-urlencoded".encode())
@example(b"a/b; x=1; x=2")
@example(b"\xc4\xb0/x")
def test_media_type_matches_go(godiff: GoHelper, value: bytes) -> None:
    go = godiff.parse_media_type(value)
    ours = go_media_type(value)
    base_only = godiff.parse_media_type(value.split(b";", 1)[0])
    # The media type half, exactly: Go's answer for the text before the first ";".
    assert ours.encode() == base_only.media_type, (value, ours, base_only)
    if go.err != DUPLICATE_PARAMETER:
        assert ours.encode() == go.media_type, (value, ours, go)
    # Forms: whenever Go would parse a form, dockward refuses.
    go_form = go.media_type.decode("latin-1") in FORM_MEDIA_TYPES
    if go_form:
        assert is_form_media_type(value), value
    event(f"go media type: {'form' if go_form else 'other'}")
    # JSON: dockward vouches only for what Go accepts whole.
    agreed = agreed_media_type(value)
    if agreed:
        assert (go.err, go.media_type) == ("", agreed.encode()), (value, agreed, go)
    event(f"agreed: {'yes' if agreed else 'no'}; go error: {'yes' if go.err else 'no'}")
