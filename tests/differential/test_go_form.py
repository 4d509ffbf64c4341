"""``r.Form``: what dockerd's handlers read, against what dockward reads, for whole requests.

Go's ``http.ReadRequest`` reads the raw request; then ``r.ParseForm()`` (dockerd's
``httputils.ParseForm``, which ignores errors starting with ``mime:``) and
``r.ParseMultipartForm`` (what ``r.FormValue`` and ``httputils.BoolValue`` call) fill ``r.Form``:
form body values first (POST, PUT, PATCH), then the URL query, then multipart body values (any
method). dockward reads the query only and refuses every request whose Content-Type Go takes
for a form. Property: whenever dockward reads a request (no refusal), ``r.Form`` after both
calls is exactly dockward's query: the body added nothing, and the path is the same.
"""

from __future__ import annotations

import random

import pytest
from go_inputs import chance, content_type, mangled, query, seeded
from hypothesis import event, example, given

from dockward.errors import ProtocolError
from dockward.gateway.analysis import analyse_head
from dockward.policy.paths import parse_query
from support.godiff import DIFFERENTIAL, GoHelper

METHODS = ("POST", "POST", "GET", "PUT", "PATCH", "DELETE", "HEAD")
PATHS = (
    "/v1.41/containers/victim/attach",
    "/images/create",
    "/containers/json",
    "/v1.41/build",
    "/containers/victim",
)
FORM_FIELDS = ("stdin", "fromSrc", "fromImage", "all", "force", "remote", "networkmode")


def request(
    method: str,
    target: str,
    content_type: bytes | None,
    body: bytes,
    *extra: bytes,
    header_name: bytes = b"Content-Type",
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: docker", *extra]
    if content_type is not None:
        lines.append(header_name + b": " + content_type)
    lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def multipart(boundary: str, fields: dict[str, str]) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    ]
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


def dockward_reading(raw: bytes) -> tuple[str, dict[str, list[str]]] | None:
    """(path, query values) dockward judges, or ``None`` when it refuses the request."""
    head = raw[: raw.index(b"\r\n\r\n") + 4]
    try:
        seen = analyse_head(head)
    except ProtocolError:
        return None
    if seen.target is None or seen.target_error is not None or seen.head_refusal is not None:
        return None
    try:
        return seen.target.path, parse_query(seen.target.query)
    except ProtocolError:
        return None


def as_bytes(values: dict[str, list[str]]) -> dict[bytes, list[bytes]]:
    return {k.encode(): [v.encode() for v in vs] for k, vs in values.items()}


def a_request(rng: random.Random) -> bytes:
    method = rng.choice(METHODS)
    text = query(rng, ascii_only=True, clean=chance(rng, 2))
    target = rng.choice(PATHS) + ("?" + text if text or chance(rng, 5) else "")
    fields = {rng.choice(FORM_FIELDS): rng.choice(["1", "0", "http://127.0.0.1:9/x.tar"])}
    roll = rng.randrange(6)
    if roll == 0:
        ctype: bytes | None = mangled(rng, "application/x-www-form-urlencoded").encode()
        body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    elif roll == 1:
        ctype = mangled(rng, "multipart/form-data").encode() + b"; boundary=b0undary"
        body = multipart("b0undary", fields)
    elif roll == 2:
        ctype = None if chance(rng, 3) else content_type(rng)
        body = b"stdin=1&fromSrc=-" if chance(rng, 2) else multipart("x", fields)
    elif roll == 3:
        ctype = rng.choice([b"application/json", b"text/plain", b"application/x-tar"])
        body = b"stdin=1&fromSrc=-"
    else:
        ctype = content_type(rng)
        body = b"" if chance(rng, 2) else b"stdin=1"
    if ctype is not None:
        ctype = ctype.replace(b"\r", b"").replace(b"\n", b"")
    name = rng.choice([b"Content-Type", b"content-type", b"CONTENT-TYPE", b"Content-type"])
    return request(method, target, ctype, body, header_name=name)


ATTACK_BODY = b"stdin=1"
DOTTED_FORM = "applİcation/x-www-form-urlencoded".encode()  # U+0130, as UTF-8


def test_the_dotted_capital_i_form_opens_stdin_to_go_and_is_refused_by_dockward(
    godiff: GoHelper,
) -> None:
    raw = request(
        "POST", "/v1.41/containers/victim/attach?stream=1&stdout=1", DOTTED_FORM, ATTACK_BODY
    )
    go = godiff.request(raw)
    assert go.parse_form_err == ""
    assert go.form[b"stdin"] == [b"1"]  # dockerd's attach handler would open stdin
    seen = analyse_head(raw[: raw.index(b"\r\n\r\n") + 4])
    assert seen.head_refusal == (415, "form-encoded and multipart bodies are not accepted")


def test_a_form_body_wins_over_the_query_in_go(godiff: GoHelper) -> None:
    raw = request(
        "POST",
        "/images/create?fromImage=busybox&fromSrc=",
        b"application/x-www-form-urlencoded",
        b"fromSrc=http://127.0.0.1:9/rootfs.tar",
    )
    go = godiff.request(raw)
    assert go.form[b"fromSrc"][0] == b"http://127.0.0.1:9/rootfs.tar"  # r.Form.Get's answer
    assert dockward_reading(raw) is None


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST"])
def test_multipart_values_reach_r_form_value_whatever_the_method(
    method: str, godiff: GoHelper
) -> None:
    raw = request(
        method,
        "/containers/victim?v=0",
        b"multipart/form-data; boundary=zz",
        multipart("zz", {"force": "1", "stdin": "1"}),
    )
    go = godiff.request(raw)
    assert go.form_after_multipart[b"force"] == [b"1"]
    assert dockward_reading(raw) is None


def test_what_the_docker_cli_sends_to_attach_is_read_the_same(godiff: GoHelper) -> None:
    raw = request(
        "POST",
        "/v1.41/containers/victim/attach?stream=1&stdin=1&stdout=1&stderr=1",
        b"text/plain",
        b"",
        b"Connection: Upgrade",
        b"Upgrade: tcp",
    )
    go = godiff.request(raw)
    reading = dockward_reading(raw)
    assert reading is not None
    assert go.form_after_multipart == as_bytes(reading[1])


@DIFFERENTIAL
@given(seeded(a_request))
@example(request("POST", "/containers/victim/attach", DOTTED_FORM, ATTACK_BODY))
def test_r_form_matches_what_dockward_reads(godiff: GoHelper, raw: bytes) -> None:
    reading = dockward_reading(raw)
    event(f"dockward: {'read' if reading is not None else 'refused'}")
    if reading is None:
        return
    path, values = reading
    go = godiff.request(raw)
    assert go.read_err == "", (raw, go)
    assert go.parse_form_err == "" or go.parse_form_err.startswith("mime:"), (raw, go)
    assert go.path == path.encode(), (raw, go)
    assert go.form_after_multipart == as_bytes(values), (raw, values, go)
