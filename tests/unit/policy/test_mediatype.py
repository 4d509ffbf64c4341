"""Content-Type readings (Go's mime.ParseMediaType); tests/differential compares them with Go."""

from __future__ import annotations

import pytest

from dockward.policy.mediatype import agreed_media_type, go_media_type, is_form_media_type


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"application/json", "application/json"),
        (b"  Application/JSON ; charset=utf-8", "application/json"),
        ("applİcation/x-www-form-urlencoded".encode(), "application/x-www-form-urlencoded"),
        ("\u3000multipart/form-data\u00a0; boundary=x".encode(), "multipart/form-data"),
        ("\u212a/x".encode(), "k/x"),  # KELVIN SIGN lower-cases to k
        ("ſ/x".encode(), ""),  # LONG S is already lower case: not a token character
        (b"text", "text"),
        (b"a/{b}", "a/{b}"),  # braces are token characters to Go's mime package
        (b"", ""),
        (b"/json", ""),
        (b"application/", ""),
        (b"application/json/x", ""),
        (b"appl\xc4ication/json", ""),  # a byte that is not UTF-8
        (b"\x1capplication/json", ""),  # U+001C is no space to Go
    ],
)
def test_go_media_type(value: bytes, expected: str) -> None:
    assert go_media_type(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        b"application/x-www-form-urlencoded",
        b"MULTIPART/FORM-DATA; boundary=zz",
        "applİcation/x-www-form-urlencoded".encode(),
        b"application/x-www-form-urlencoded;;;",  # Go's ParseForm still reads the body
    ],
)
def test_forms(value: bytes) -> None:
    assert is_form_media_type(value)


@pytest.mark.parametrize("value", [None, b"", b"text/plain", b"application/x-www-form"])
def test_not_forms(value: bytes | None) -> None:
    assert not is_form_media_type(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"application/json", "application/json"),
        (b"application/json;", "application/json"),
        (b"application/json ; charset=utf-8 ;", "application/json"),
        (b'application/json; charset="utf-8"; a=b', "application/json"),
        (None, ""),
        (b"application/json; charset=utf-8; Charset=utf-8", ""),  # repeated name
        (b"application/json;;", ""),
        (b"application/json; a", ""),
        (b"application/json; a*=utf-8''x", ""),  # RFC 2231: not vouched for
        (b'application/json; a="b\\"c"', ""),
        ("application/json; a=é".encode(), ""),
    ],
)
def test_agreed_media_type(value: bytes | None, expected: str) -> None:
    assert agreed_media_type(value) == expected
