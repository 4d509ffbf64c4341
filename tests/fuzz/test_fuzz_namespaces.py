"""Private names under arbitrary requests: moved or refused with ProtocolError, never a crash,
and a moved body is still one JSON document whose names all come back out as written."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from dockward.errors import ProtocolError
from dockward.policy.decision import Decision
from dockward.policy.gojson import decode_body
from dockward.policy.namespaces import Entered, Refusal, enter_request, fallbacks, namespace
from dockward.policy.paths import split_target
from dockward.policy.profiles import FactQuery
from dockward.policy.routes import classify_route
from support.godiff import DIFFERENTIAL as FUZZ

_TARGETS = [
    ("POST", "/v1.41/containers/create?name={}"),
    ("POST", "/v1.41/containers/{}/rename?name=x-{}"),
    ("GET", "/v1.41/containers/{}/json"),
    ("DELETE", "/v1.41/volumes/{}"),
    ("POST", "/v1.41/volumes/create"),
    ("POST", "/v1.41/networks/create"),
    ("POST", "/v1.41/networks/{}/connect"),
    ("GET", "/v1.41/containers/json?filters={}"),
    ("POST", "/v1.41/commit?container={}"),
]
_NAMES = st.one_of(
    st.sampled_from(["web", "db", "3f2a", "/web", "bridge", "a" * 64, "x:y", "container:web"]),
    st.text(st.characters(codec="ascii", exclude_characters="\r\n #?&%"), max_size=10),
)
_KEYS = st.sampled_from(
    ["Name", "HostConfig", "Binds", "Mounts", "VolumesFrom", "Links", "NetworkMode", "PidMode",
     "IpcMode", "NetworkingConfig", "EndpointsConfig", "EndpointConfig", "Container", "Type",
     "Source", "ConfigFrom", "Network", "binds", "hostconfig", "name"]
)  # fmt: skip
_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), _NAMES, st.just("volume")),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(_KEYS, _NAMES), inner, max_size=4)
    ),
    max_leaves=16,
)
_DECISION = Decision(True, "x", "r", owner="cn:alice", private_names=True)
_SPACE = namespace("cn:alice")


@FUZZ
@given(st.sampled_from(_TARGETS), _NAMES, _VALUES, st.data())
def test_names_are_moved_or_refused(target, name: str, document: object, data) -> None:  # type: ignore[no-untyped-def]
    method, template = target
    filters = json.dumps({"name": [name], "before": [name]}, separators=(",", ":"))
    text = template.format(*([filters if "filters" in template else name] * 2))
    try:
        split = split_target(text.encode())
    except ProtocolError:
        return
    request = classify_route(method, split)
    if request.route is None:
        return
    body = json.dumps(document).encode()
    head = f"{method} {text} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    decision = Decision(True, request.operation, "r", owner="cn:alice", private_names=True)
    try:
        decoded = decode_body(body)
        entered = enter_request(decision, request, head, body, decoded)
        if isinstance(entered, Refusal):
            return
        assert isinstance(entered, Entered) and entered.body is not None
        assert decode_body(entered.body) == entered.document  # what the checks judge
        facts = {
            FactQuery(kind, stored.lstrip("/")): None  # type: ignore[arg-type]
            for kind, _, stored in entered.moved
            if data.draw(st.booleans())
        }
        kept = fallbacks(entered.moved, facts)
        again = enter_request(decision, request, head, body, decoded, kept)
        assert isinstance(again, Entered) and len(again.moved) <= len(entered.moved)
    except ProtocolError:
        return
    # what goes in comes back out: the moved body, stripped, is the body as sent (a bare link
    # gets its alias written out, the one exception)
    if "Links" not in body.decode() and _SPACE.prefix not in body.decode():
        assert json.loads(_SPACE.strip(entered.body)) == json.loads(body)
