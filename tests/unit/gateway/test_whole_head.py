"""The keep-alive fast path takes only data that is exactly one complete request head."""

from __future__ import annotations

import pytest

from dockward.gateway.relay import _one_whole_head
from dockward.http1.request import MAX_HEAD_BYTES

HEAD = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"


@pytest.mark.parametrize(
    ("data", "whole"),
    [
        (HEAD, True),
        (b"GET", False),  # a head arriving in pieces waits for the rest
        (b"GE", False),
        (b"", False),
        (HEAD[:-1], False),
        (HEAD + b"G", False),  # a pipelined request behind it
        (b"POST /build HTTP/1.1\r\nHost: d\r\nContent-Length: 4\r\n\r\n\r\n\r\n", False),
        (HEAD + HEAD, False),
        (b"PRI * HTTP/2.0\r\n\r\n", False),  # the HTTP/2 preface takes the general path
        (b"GET /" + b"a" * MAX_HEAD_BYTES + b" HTTP/1.1\r\nHost: d\r\n\r\n", False),
    ],
)
def test_one_whole_head(data, whole):
    assert _one_whole_head(data) is whole
