"""Request bodies: ``dockward.policy.gojson`` against Go's ``encoding/json`` into a struct.

The Go helper decodes a body as dockerd does (``json.NewDecoder(body).Decode(&v)``) into a
struct built with the field names and types of dockerd's create request (the fields the
policy reads), and answers ``v`` re-encoded. dockward decodes the body with ``decode_body`` and
reads every field with the ``GoObject`` accessor for its type. Properties:

* whenever dockward reads the body, Go decodes it without error, nothing follows the value,
  and every field holds what dockward read (so a policy check sees the daemon's value);
* whenever dockward refuses, Go fails too, unless the refusal is one the module documents as
  its own: keys that fold equal (Go takes the last, merging objects), nesting beyond
  ``MAX_DEPTH``, content after the value (dockerd 20.10 ignores it; newer ones refuse it).
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
from go_inputs import any_text, chance, seeded
from hypothesis import event, example, given

from dockward.errors import ProtocolError
from dockward.policy.gojson import GoObject, decode_body
from support.godiff import DIFFERENTIAL, GoHelper

Field = dict[str, Any]


def _f(name: str, kind: str, *fields: Field) -> Field:
    return {"name": name, "type": kind, "fields": list(fields)}


DRIVER_CONFIG = _f("DriverConfig", "object", _f("Name", "string"), _f("Options", "strmap"))
CREATE_FIELDS: list[Field] = [
    _f("Image", "string"),
    _f("User", "string"),
    _f("WorkingDir", "string"),
    _f("Env", "strings"),
    _f("Labels", "strmap"),
    _f("Tty", "bool"),
    _f("OpenStdin", "bool"),
    _f("Cmd", "any"),
    _f(
        "HostConfig",
        "object",
        _f("Privileged", "bool"),
        _f("Binds", "strings"),
        _f("NetworkMode", "string"),
        _f("PidMode", "string"),
        _f("CapAdd", "any"),
        _f("SecurityOpt", "strings"),
        _f("Sysctls", "strmap"),
        _f("Tmpfs", "strmap"),
        _f("Memory", "int64"),
        _f("KernelMemory", "int64"),
        _f("VolumesFrom", "strings"),
        _f(
            "Mounts",
            "objects",
            _f("Type", "string"),
            _f("Source", "string"),
            _f("ReadOnly", "bool"),
            _f("VolumeOptions", "object", DRIVER_CONFIG),
        ),
        _f("Devices", "objects", _f("PathOnHost", "string")),
    ),
    _f("NetworkingConfig", "object", _f("EndpointsConfig", "any")),
]

# --- dockward's reading, in the shape of Go's re-encoded struct ----------------------------


class _Unrepresentable(Exception):
    """A number Go cannot hold in a float64 (Go fails on it in an interface{} field)."""


def _plain(value: object) -> object:
    """A decoded JSON value as Go's interface{} holds it: numbers are float64."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    assert isinstance(value, int | float)
    try:
        number = float(value)
    except OverflowError:
        raise _Unrepresentable from None
    if math.isinf(number):
        raise _Unrepresentable
    return number


def read_like_go(obj: GoObject, fields: list[Field]) -> dict[str, object]:
    out: dict[str, object] = {}
    for field in fields:
        name, kind = field["name"], field["type"]
        if kind == "bool":
            out[name] = obj.bool_of(name)
        elif kind == "string":
            out[name] = obj.str_of(name) or ""
        elif kind == "int64":
            out[name] = obj.int_of(name) or 0
        elif kind == "strings":
            out[name] = obj.strings_of(name)
        elif kind == "strmap":
            out[name] = obj.str_map_of(name)
        elif kind == "any":
            out[name] = _plain(obj.field(name))
        elif kind == "object":
            inner = obj.obj(name)
            out[name] = None if inner is None else read_like_go(inner, field["fields"])
        else:
            out[name] = [read_like_go(o, field["fields"]) for o in obj.objects_of(name)]
    return out


def go_value(value: object, fields: list[Field]) -> dict[str, object]:
    """Go's re-encoded struct with nil slices and maps as empty ones, numbers in any as float."""
    assert isinstance(value, dict)
    out: dict[str, object] = {}
    for field in fields:
        name, kind, item = field["name"], field["type"], value[field["name"]]
        if kind in ("strings", "objects") and item is None:
            item = []
        elif kind == "strmap" and item is None:
            item = {}
        if kind == "any":
            item = _plain(item)
        elif kind == "object" and item is not None:
            item = go_value(item, field["fields"])
        elif kind == "objects":
            item = [go_value(o, field["fields"]) for o in item]
        out[name] = item
    return out


def dockward_reading(body: bytes) -> dict[str, object] | str:
    """dockward's reading of every field, or the message it refuses the body with."""
    try:
        decoded = decode_body(body)
        if decoded is None:
            decoded = GoObject()  # JSON null: Go leaves the struct as it was (empty)
        if not isinstance(decoded, GoObject):
            return "the request body must be a JSON object"
        return read_like_go(decoded, CREATE_FIELDS)
    except ProtocolError as err:
        return str(err)
    except _Unrepresentable:
        return "a number beyond float64 in an interface{} field"


# --- bodies --------------------------------------------------------------------------------

_FOLD_ALIKES = {"s": "ſ", "S": "ſ", "k": "\u212a", "K": "\u212a"}  # fold equal to the letter
_NEAR_ALIKES = {"i": "ı", "I": "İ", "e": "é"}  # look alike, fold differently


def spelled(rng: random.Random, name: str) -> str:
    """A key for field ``name``: as is, case-changed, fold-equal Unicode, or not quite."""
    roll = rng.randrange(10)
    if roll < 5:
        return name
    out = []
    for char in name:
        if roll < 8 and char in _FOLD_ALIKES and chance(rng, 2):
            out.append(_FOLD_ALIKES[char])
        elif roll == 9 and char in _NEAR_ALIKES and chance(rng, 2):
            out.append(_NEAR_ALIKES[char])
        else:
            out.append(char.swapcase() if chance(rng, 3) else char)
    return "".join(out)


class Raw(str):
    """Text emitted into the body as is (already JSON, or deliberately not)."""


class Obj(list[tuple[str, object]]):
    """A JSON object as its (key, value) pairs, in order, repeats kept."""


_STRINGS = ("busybox", "/", "/var/run/docker.sock", "host", "container:x", "", "a=b", "İ")
_INTS = (
    "0", "-1", "1", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "-0", "1.0", "1e3", "1E+2", "0.5", "1" + "0" * 30, "1e400",
)  # fmt: skip


def scalar(rng: random.Random) -> object:
    roll = rng.randrange(6)
    if roll == 0:
        return Raw(rng.choice(_INTS))
    if roll == 1:
        return rng.choice([True, False, None])
    return rng.choice(_STRINGS) if chance(rng, 2) else any_text(rng, 6)


def value_of(rng: random.Random, field: Field, depth: int) -> object:
    """Mostly a value of the field's type; sometimes another type or null."""
    kind = field["type"]
    if chance(rng, 12):
        return scalar(rng) if chance(rng, 2) else None
    if kind == "bool":
        return Raw(rng.choice(["1", '"true"'])) if chance(rng, 10) else rng.choice([True, False])
    if kind == "string":
        return rng.choice(_STRINGS) if chance(rng, 2) else any_text(rng, 6)
    if kind == "int64":
        return Raw(rng.choice(_INTS))
    if kind == "strings":
        return [None if chance(rng, 10) else rng.choice(_STRINGS) for _ in range(rng.randint(0, 3))]
    if kind == "strmap":
        keys = ["a", "A", "b", "ſ", "S", "k", "\u212a", ""]
        return Obj(
            (rng.choice(keys), scalar(rng) if chance(rng, 5) else "v")
            for _ in range(rng.randint(0, 3))
        )
    if kind == "any":
        return any_value(rng, depth)
    if kind == "object":
        return an_object(rng, field["fields"], depth + 1)
    return [
        None if chance(rng, 8) else an_object(rng, field["fields"], depth + 1)
        for _ in range(rng.randint(0, 2))
    ]


def any_value(rng: random.Random, depth: int) -> object:
    roll = rng.randrange(4) if depth < 4 else 3
    if roll == 0:
        return [any_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if roll == 1:
        return Obj(
            (rng.choice(["a", "A", "x"]), any_value(rng, depth + 1))
            for _ in range(rng.randint(0, 2))
        )
    return scalar(rng)


def an_object(rng: random.Random, fields: list[Field], depth: int) -> Obj:
    """An object as a list of (key, value) pairs: fields in any spelling, repeats, unknowns."""
    pairs: list[tuple[str, object]] = []
    for field in rng.sample(fields, rng.randint(0, min(len(fields), 5))):
        pairs.append((spelled(rng, field["name"]), value_of(rng, field, depth)))
        if chance(rng, 15):  # the same field again, spelled another way: Go keeps the last
            pairs.append((spelled(rng, field["name"]), value_of(rng, field, depth)))
    if chance(rng, 4):
        pairs.append((rng.choice(["Unknown", "x", "", "Hostconfig2"]), any_value(rng, depth)))
    rng.shuffle(pairs)
    return Obj(pairs)


def _space(rng: random.Random) -> str:
    if chance(rng, 3):
        return ""
    if chance(rng, 200):
        return "\x0c"  # not JSON whitespace
    return "".join(rng.choice(" \t\r\n") for _ in range(rng.randint(1, 2)))


_ODD_STRING_BYTES = (b"\xff", b"\xc4", b"\xed\xa0\x80", b"\\ud800", b"\\udc00x", b"\\ud83d\\ude00")


def _string(rng: random.Random, text: str) -> bytes:
    out = bytearray(b'"')
    for char in text:
        roll = rng.randrange(12)
        if roll == 0:
            out += (
                json.dumps(char).strip('"').encode()
                if ord(char) > 0xFFFF
                else b"\\u%04x" % ord(char)
            )
        elif roll == 1 and char in '"\\/':
            out += b"\\" + char.encode()
        else:
            out += json.dumps(char, ensure_ascii=False)[1:-1].encode()
    if chance(rng, 25):
        out += rng.choice(_ODD_STRING_BYTES)
    return bytes(out) + b'"'


def encode(rng: random.Random, value: object) -> bytes:
    sp = _space(rng)
    if isinstance(value, Raw):
        return str(value).encode()
    if isinstance(value, str):
        return _string(rng, value)
    if value is True or value is False or value is None:
        return json.dumps(value).encode()
    if isinstance(value, Obj):
        items = [
            _space(rng).encode() + _string(rng, k) + sp.encode() + b":" + encode(rng, v)
            for k, v in value
        ]
        return b"{" + b",".join(items) + _space(rng).encode() + b"}"
    assert isinstance(value, list)
    return b"[" + b",".join(_space(rng).encode() + encode(rng, v) for v in value) + b"]"


def a_body(rng: random.Random) -> bytes:
    document = encode(rng, an_object(rng, CREATE_FIELDS, 0))
    body = _space(rng).encode() + document + _space(rng).encode()
    roll = rng.randrange(40)
    if roll == 0:
        body = b"\xef\xbb\xbf" + body
    elif roll == 1:
        body += rng.choice([b"x", b"{}", b"null", b" ]"])
    elif roll == 2:
        body = body[: rng.randrange(len(body) + 1)]
    elif roll == 3:
        body = rng.choice([b"null", b"[]", b'"x"', b"1", b"NaN", b'{"Memory": NaN}', b""])
    return body


# --- the claims of gojson's docstring, one by one ------------------------------------------

DOCUMENTED_REFUSALS = ("duplicate JSON key", "nested deeper than", "unexpected content after JSON")


def both(godiff: GoHelper, body: bytes) -> tuple[Any, dict[str, object] | str]:
    go = godiff.decode_json(CREATE_FIELDS, body)
    value = go_value(go.value, CREATE_FIELDS) if not go.err else None
    return (go, value), dockward_reading(body)


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        (b'{"HostConfig": {"privileged": true}}', "Privileged", True),
        (b'{"HostConfig": {"PRIVILEGED": true}}', "Privileged", True),
        ('{"HostConfig": {"Bindſ": ["/:/h"]}}'.encode(), "Binds", ["/:/h"]),
        (b'{"HostConfig": {"\\u212aernelMemory": 5}}', "KernelMemory", 5),  # JSON escape
        ('{"HostConfig": {"\u212aernelMemory": 5}}'.encode(), "KernelMemory", 5),  # UTF-8
        (b'{"HostConfig": {"\\u0050rivileged": true}}', "Privileged", True),
        (b'{"HostConfig": {"NetworkMode": "h\\u006fst"}}', "NetworkMode", "host"),
        (b'{"HostConfig": {"NetworkMode": "h\xffst"}}', "NetworkMode", "h\ufffdst"),
        (b'{"HostConfig": {"NetworkMode": "\xe2\x84x"}}', "NetworkMode", "\ufffd\ufffdx"),
        (b'{"HostConfig": {"NetworkMode": "\\ud800x"}}', "NetworkMode", "\ufffdx"),
    ],
)
def test_keys_and_strings_read_as_go_reads_them(
    body: bytes, field: str, expected: object, godiff: GoHelper
) -> None:
    (go, go_read), ours = both(godiff, body)
    assert go.err == "" and isinstance(go_read, dict)
    assert go_read["HostConfig"][field] == expected  # type: ignore[index]
    assert isinstance(ours, dict) and ours == go_read


@pytest.mark.parametrize(
    ("body", "go_sees"),
    [
        # the last duplicate wins in Go: a policy reading the first would see false
        (b'{"HostConfig": {"Privileged": false, "privileged": true}}', True),
        (b'{"HostConfig": {"Privileged": false, "Privileged": true}}', True),
        # duplicate objects merge: Privileged from the first survives the second
        (b'{"HostConfig": {"Privileged": true}, "hostconfig": {"Binds": []}}', True),
    ],
)
def test_duplicates_go_would_resolve_are_refused(
    body: bytes, go_sees: bool, godiff: GoHelper
) -> None:
    (go, go_read), ours = both(godiff, body)
    assert go.err == "" and go_read["HostConfig"]["Privileged"] is go_sees  # type: ignore[index]
    assert isinstance(ours, str) and ours.startswith("duplicate JSON key")


@pytest.mark.parametrize(
    "body",
    [
        b'{"HostConfig": {"Memory": 1.0}}',
        b'{"HostConfig": {"Memory": 1e3}}',
        b'{"HostConfig": {"Memory": 9223372036854775808}}',
        b'{"HostConfig": {"Privileged": "true"}}',
        b'{"HostConfig": {"Privileged": 1}}',
        b'{"HostConfig": {"Binds": "/:/h"}}',
        b'{"HostConfig": {"Memory": NaN}}',
        b'{"HostConfig": {"Memory": Infinity}}',
        b'\xef\xbb\xbf{"Image": "x"}',
        b"",
        b"[]",
        b'"x"',
        b'{"Image": "x",}',
        b'{"Image": "x\x01"}',
    ],
)
def test_what_go_refuses_dockward_refuses(body: bytes, godiff: GoHelper) -> None:
    (go, _), ours = both(godiff, body)
    assert go.err != ""
    assert isinstance(ours, str)


def test_content_after_the_value_is_refused(godiff: GoHelper) -> None:
    """dockerd 20.10's Decode reads the first value and ignores the rest; dockward refuses."""
    body = b'{"HostConfig": {"Privileged": false}} {"HostConfig": {"Privileged": true}}'
    (go, go_read), ours = both(godiff, body)
    assert go.err == "" and go.trailing
    assert go_read["HostConfig"]["Privileged"] is False  # type: ignore[index]
    assert isinstance(ours, str) and ours.startswith("unexpected content after JSON")


def test_null_is_an_empty_request_to_both(godiff: GoHelper) -> None:
    (go, go_read), ours = both(godiff, b"null")
    assert go.err == "" and ours == go_read


@DIFFERENTIAL
@given(seeded(a_body))
@example(b'{"HostConfig": {"Privileged": false, "privileged": true}}')
@example('{"hostconfig": {"Bindſ": ["/:/h"], "Mounts": [null, {"type": "bind"}]}}'.encode())
def test_json_reading_matches_go(godiff: GoHelper, body: bytes) -> None:
    (go, go_read), ours = both(godiff, body)
    if isinstance(ours, dict):
        event("dockward: read")
        assert go.err == "" and not go.trailing, (body, go)
        assert ours == go_read, (body, ours, go_read)
        return
    documented = ours.startswith(DOCUMENTED_REFUSALS)
    event(f"dockward: refused ({'its own rule' if documented else 'as Go'})")
    if not documented:
        assert go.err != "", (body, ours, go)
