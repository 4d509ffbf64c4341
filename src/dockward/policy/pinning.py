"""Pinning: the request dockerd receives names exactly the objects the policy judged.

The profile checks judge a name by the daemon's answer about it (``facts``). If the request
were forwarded with the name, the name could be moved to another object in between
(``docker rename``, a retag) and dockerd would act on one nobody judged. So every object
reference the policy judged is rewritten before the request is forwarded, as the operation
registry's ``Pinning`` column says (``dockward.policy.operations``):

* ``FULL_ID``: the reference is replaced by the full ID in the daemon's answer (the path
  container of exec, attach, file upload and rename; ``HostConfig.VolumesFrom``; a service's
  network targets). A name the daemon did not know when it was judged is refused with
  dockerd's own status and text: forwarding it would let a container take the name in
  between. Containers and networks that no profile check reads, and the path image of image
  inspect, history and tag and a build's ``cachefrom`` images, are pinned the same way
  whenever tenancy looked them up
  (``PINNED_WHEN_LOOKED_UP``); a network also as each
  endpoint's ``NetworkID``, because dockerd resolves networks again when it starts the
  container (see ``_pin_endpoint``). An endpoint's ``Links`` are DNS aliases, not object
  references (``DNS_NAMES``).
* ``VALUES``: what was judged from the object is written into the body (a create's image:
  its WORKDIR and USER, where the body leaves ``WorkingDir`` and ``User`` empty). For a
  scoped role, whose judgement depends on which image it is (its owner), the image is
  forwarded as its full ID instead (``image_by_id``): a retag in between cannot hand dockerd
  an image nobody judged.

A reference is rewritten only when its fact is in ``facts``, that is when a check judged it;
anything else is forwarded as written.

Body edits keep every other byte: the body (already accepted by ``gojson.decode_body``, so it
holds no two keys Go would confuse) is scanned for the byte span of each value or object key
to replace, with keys matched as Go matches them (unescaped, simple case folding; a map key
such as a network name in ``EndpointsConfig`` is then the one key equal to it), and only
that span changes; each object on the way is scanned once per request. Pure functions over
bytes: no I/O. ``gateway.connection`` applies the plan to the request head (path, query,
Content-Length).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import quote

from dockward.errors import ProtocolError
from dockward.policy.gojson import GoObject, go_fold
from dockward.policy.operations import BY_NAME, Kind, Pinning, Place
from dockward.policy.paths import parse_query
from dockward.policy.profiles import FactQuery, Facts
from dockward.policy.tenancy import Named, not_found_answer

__all__ = [
    "DNS_NAMES",
    "PINNED_WHEN_LOOKED_UP",
    "PINNERS",
    "Edit",
    "Plan",
    "Refusal",
    "apply_edits",
    "key_span",
    "plan_pins",
    "rewrite_query",
    "value_span",
]


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace ``body[start:end]`` with ``text``."""

    start: int
    end: int
    text: bytes


@dataclass(frozen=True, slots=True)
class Plan:
    """How to forward a judged request: the full ID of the object the path names (``None``: the
    path as sent; ``path_variable`` says which route variable it replaces) and the body edits
    (empty: the body as sent)."""

    path_id: str | None
    edits: tuple[Edit, ...]
    path_variable: str = "name"
    query: tuple[tuple[str, str], ...] = ()
    """Query keys whose first value (the one dockerd's ``r.Form.Get`` reads) becomes the ID."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """The request cannot be forwarded pinned; answer ``status`` with ``message``.

    ``as_daemon``: the message is dockerd's own words for a missing object, sent as dockerd
    sends them (no ``dockward:`` prefix), so a name judged unknown reads as it would unproxied.
    """

    status: int
    message: str
    as_daemon: bool = False


_NOTHING = Plan(None, ())


class _Refused(Exception):
    def __init__(self, status: int, message: str, *, as_daemon: bool = False) -> None:
        super().__init__(message)
        self.refusal = Refusal(status, message, as_daemon)


Step: TypeAlias = str | int  # an object key (matched as Go matches it) or an array index


# --- finding a value's bytes ----------------------------------------------------------------

# latin-1 maps each byte to one character, so offsets in the text are offsets in the body;
# JSON's structure is ASCII, and only keys are ever decoded (exactly, see _key).
_scan_value = json.JSONDecoder(strict=False).scan_once  # type: ignore[attr-defined]
# A member whose key is plain ASCII and whose value is a scalar, an empty object or an array of
# scalars: most of what a client sends, skipped with one match instead of a scan.
_SCALAR = r'(?:"[^"\\]*"|-?[0-9][0-9.eE+-]*|true|false|null)'
_SIMPLE_MEMBER = re.compile(
    r'"([\x20\x21\x23-\x5b\x5d-\x7e]*)"[ \t\r\n]*:[ \t\r\n]*'
    rf"({_SCALAR}|\{{[ \t\r\n]*\}}"
    rf"|\[[ \t\r\n]*(?:{_SCALAR}(?:[ \t\r\n]*,[ \t\r\n]*{_SCALAR})*[ \t\r\n]*)?\])"
    r"[ \t\r\n]*,[ \t\r\n]*"
)
_KEY_END = re.compile(r"[ \t\r\n]*:[ \t\r\n]*")
_NEXT = re.compile(r"[ \t\r\n]*([,}\]])[ \t\r\n]*")
_EMPTY = re.compile(r"[ \t\r\n]*[}\]]")
_SPACE = re.compile(r"[ \t\r\n]*")
_ID = re.compile(r"(?:sha256:)?[0-9A-Za-z]{1,128}")  # a container, image or network ID


def _scan(text: str, pos: int) -> tuple[object, int]:
    try:
        value, end = _scan_value(text, pos)
    except (StopIteration, ValueError) as err:  # decode_body accepted it: cannot happen
        raise ValueError(f"not a JSON value at offset {pos}") from err
    return value, int(end)


class _Seen:
    """One object's members scanned so far: folded key -> (key start, value start), and where
    the scan stopped (``None``: at the end of the object)."""

    __slots__ = ("found", "resume")

    def __init__(self, resume: int | None) -> None:
        self.found: dict[str, tuple[int, int]] = {}
        self.resume = resume


class _Scans:
    """What one request's edits found in its body so far, so that each object on their way is
    scanned once: value starts by path, and the members of each object by its start."""

    __slots__ = ("objects", "starts")

    def __init__(self) -> None:
        self.starts: dict[tuple[Step, ...], int | None] = {}
        self.objects: dict[int, _Seen] = {}


def _find_member(
    body: bytes, text: str, pos: int, wanted: str, scans: _Scans | None = None
) -> tuple[int, int] | None:
    """The starts of the key and of the value of key ``wanted`` (as Go matches keys) in the
    object opening at ``pos``; only the values before it are scanned. A map key (Go matches
    those exactly) is found the same way: the document holds no two keys that fold equal."""
    folded = go_fold(wanted)
    seen = scans.objects.get(pos) if scans is not None else None
    if seen is None:
        first = None if _EMPTY.match(text, pos + 1) else _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        seen = _Seen(first)
        if scans is not None:
            scans.objects[pos] = seen
    hit = seen.found.get(folded)
    if hit is not None or seen.resume is None:
        return hit
    at = seen.resume
    found = seen.found
    while True:
        simple = _SIMPLE_MEMBER.match(text, at)
        if simple is not None:  # a plain ASCII key, where Go's folding is upper-casing
            key_folded = simple.group(1).upper()
            found[key_folded] = (at, simple.start(2))
            if key_folded == folded:
                seen.resume = at
                return found[key_folded]
            at = simple.end()
            continue
        key, end = _scan(text, at)
        assert isinstance(key, str)
        if not key.isascii():  # raw UTF-8 bytes were read as latin-1: decode them properly
            key = json.loads(body[at:end].decode("utf-8", "replace"))
        value = _KEY_END.match(text, end).end()  # type: ignore[union-attr]
        key_folded = go_fold(key)
        found[key_folded] = (at, value)
        if key == wanted or key_folded == folded:
            seen.resume = at
            return at, value
        after = _NEXT.match(text, _scan(text, value)[1])
        if after is None or after.group(1) != ",":
            seen.resume = None
            return None
        at = after.end()


def _member_value(
    body: bytes, text: str, pos: int, wanted: str, scans: _Scans | None = None
) -> int | None:
    found = _find_member(body, text, pos, wanted, scans)
    return None if found is None else found[1]


def _element(text: str, pos: int, index: int) -> int | None:
    """The start of element ``index`` of the array opening at ``pos``."""
    if _EMPTY.match(text, pos + 1):
        return None
    pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
    for _ in range(index):
        after = _NEXT.match(text, _scan(text, pos)[1])
        if after is None or after.group(1) != ",":
            return None
        pos = after.end()
    return pos


def _step(
    body: bytes, text: str, start: int, step: Step, scans: _Scans | None = None
) -> int | None:
    """Where the value one ``step`` below the value starting at ``start`` starts."""
    if isinstance(step, str):
        return _member_value(body, text, start, step, scans) if text[start] == "{" else None
    return _element(text, start, step) if text[start] == "[" else None


def _value_start(
    body: bytes,
    text: str,
    path: tuple[Step, ...],
    scans: _Scans | None = None,
) -> int | None:
    """Where the value at ``path`` starts; ``scans`` keeps what was found, so that one
    request's edits share their way down."""
    if scans is not None and path in scans.starts:
        return scans.starts[path]
    if not path:
        start: int | None = _SPACE.match(text).end()  # type: ignore[union-attr]
    else:
        parent = _value_start(body, text, path[:-1], scans)
        start = None if parent is None else _step(body, text, parent, path[-1], scans)
    if scans is not None:
        scans.starts[path] = start
    return start


def value_span(
    body: bytes, path: tuple[Step, ...], scans: _Scans | None = None
) -> tuple[int, int] | None:
    """The byte span of the value at ``path`` in ``body`` (a document ``decode_body``
    accepted), keys matched as Go matches them; ``None`` when the path is not there. Only
    the values before it on the way are scanned (``scans``: what was found before, kept)."""
    text = body.decode("latin-1")
    start = _value_start(body, text, path, scans)
    return None if start is None else (start, _scan(text, start)[1])


def key_span(
    body: bytes, path: tuple[Step, ...], key: str, scans: _Scans | None = None
) -> tuple[int, int] | None:
    """The byte span of the key token (quotes included) of member ``key`` in the object at
    ``path``; ``None`` when there is no such member."""
    text = body.decode("latin-1")
    start = _value_start(body, text, path, scans)
    if start is None or text[start] != "{":
        return None
    found = _find_member(body, text, start, key, scans)
    return None if found is None else (found[0], _scan(text, found[0])[1])


def _insert_member(
    body: bytes,
    path: tuple[Step, ...],
    key: str,
    value: str | bytes,
    scans: _Scans | None = None,
) -> Edit | None:
    """An edit adding ``"key": value`` first in the object at ``path`` (``value``: a string, or
    the bytes of a JSON value)."""
    text = body.decode("latin-1")
    start = _value_start(body, text, path, scans)
    if start is None or text[start] != "{":
        return None
    after = start + 1
    empty = _EMPTY.match(text, after) is not None
    encoded = value if isinstance(value, bytes) else _encode(value)
    member = _encode(key) + b":" + encoded + (b"" if empty else b",")
    return Edit(after, after, member)


def _encode(value: str) -> bytes:
    return json.dumps(value).encode("ascii")


def apply_edits(body: bytes, edits: tuple[Edit, ...]) -> bytes:
    """``body`` with non-overlapping ``edits`` applied."""
    out = bytearray(body)
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        out[edit.start : edit.end] = edit.text
    return bytes(out)


# --- the references -------------------------------------------------------------------------


class _Pins:
    """One request's references being pinned: the facts the checks used, and the result."""

    def __init__(
        self,
        operation: str,
        params: Mapping[str, str],
        raw_body: bytes | None,
        body: object,
        facts: Facts,
        query: str,
        image_by_id: bool = False,
    ) -> None:
        self.operation = operation
        self.image_by_id = image_by_id
        self.params = params
        self.raw_query = query
        self.query_pins: list[tuple[str, str]] = []
        self.raw_body = raw_body
        self.body = body if isinstance(body, GoObject) else GoObject()
        self.facts = facts
        self.path_id: str | None = None
        self.path_variable = "name"
        self.edits: list[Edit] = []
        self.kinds = frozenset(query.kind for query in facts)
        self.scans = _Scans()
        self._sections: list[tuple[tuple[Step, ...], GoObject]] | None = None

    def judged(
        self, kind: str, name: str, shown: str, status: int = 404
    ) -> Mapping[str, object] | None:
        """The daemon's answer a check judged ``name`` by; ``None`` if no check did. A name
        the daemon did not know is refused now, as dockerd refuses it (``status``, ``shown``):
        forwarded, it could be given to another object first."""
        query = FactQuery(kind, name)  # type: ignore[arg-type]
        if query not in self.facts:
            return None
        answer = self.facts[query]
        if answer is None:
            raise _Refused(status, shown, as_daemon=True)
        return answer

    def full_id(self, answer: Mapping[str, object], what: str) -> str:
        value = answer.get("Id")
        if not isinstance(value, str) or _ID.fullmatch(value) is None:
            raise _Refused(502, f"the Docker daemon's answer about {what} has no usable Id")
        return value

    def replace(self, path: tuple[Step, ...], value: str | bytes) -> None:
        """Replace the value at ``path`` with a string, or with the bytes of a JSON value."""
        if self.raw_body is None:
            return
        span = value_span(self.raw_body, path, self.scans)
        if span is None:  # the checks read a value here: the body and the scan disagree
            raise _Refused(400, "the request body could not be rewritten to the IDs judged")
        encoded = value if isinstance(value, bytes) else _encode(value)
        self.edits.append(Edit(span[0], span[1], encoded))

    def rename_key(self, path: tuple[Step, ...], key: str, new: str) -> None:
        """Replace the key ``key`` (a map key, matched exactly) of the object at ``path``."""
        if self.raw_body is None:
            return
        span = key_span(self.raw_body, path, key, self.scans)
        if span is None:
            raise _Refused(400, "the request body could not be rewritten to the IDs judged")
        self.edits.append(Edit(span[0], span[1], _encode(new)))

    def insert(self, path: tuple[Step, ...], key: str, value: str | bytes) -> None:
        """Add member ``key`` first in the object at ``path``."""
        if self.raw_body is None:
            return
        edit = _insert_member(self.raw_body, path, key, value, self.scans)
        if edit is None:
            raise _Refused(400, "the request body could not be rewritten to the IDs judged")
        self.edits.append(edit)

    def host_configs(self) -> Iterator[tuple[Step, ...]]:
        """Where a create body holds HostConfig fields: the inner object, the top level."""
        key = self.body.key_for("HostConfig")
        if key is not None and isinstance(self.body.field(key), GoObject):
            yield (key,)
        yield ()


def _path_container(pins: _Pins) -> None:
    name = pins.params.get("name")
    if not name:
        return
    answer = pins.judged("container", name, f"No such container: {name}")
    if answer is not None:
        pins.path_id = pins.full_id(answer, f'container "{name}"')


# The image a path names is the same object by its ID for these: their answer or effect does
# not depend on the name used. Not for save (the archive records the names asked for), push (a
# name is what is pushed) or remove (by name it untags; by ID it deletes every tag).
_IMAGE_PATH_BY_ID = frozenset({"image.inspect", "image.history", "image.tag"})


def _path_image(pins: _Pins) -> None:
    name = pins.params.get("name")
    if pins.operation not in _IMAGE_PATH_BY_ID or not name:
        return
    status, message = not_found_answer(pins.operation, Named(Kind.IMAGE, name, "path name"))
    answer = pins.judged("image", name, message, status)
    if answer is not None:
        full = pins.full_id(answer, f'image "{name}"')
        if full != name:
            pins.path_id = full


def _query_cache_from(pins: _Pins) -> None:
    """A classic build's ``cachefrom`` (a JSON array of image names, the first value): each
    image judged becomes its full ID; one judged unknown is left out, as dockerd skips an
    image it cannot find (forwarded, it could be tagged onto another image in between)."""
    values = parse_query(pins.raw_query).get("cachefrom") if pins.raw_query else None
    if not values or not values[0]:
        return
    try:
        names = json.loads(values[0])
    except ValueError:
        return  # tenancy refused it
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return
    pinned: list[str] = []
    for name in names:
        query = FactQuery("image", name)
        if query not in pins.facts:
            pinned.append(name)
            continue
        answer = pins.facts[query]
        if answer is not None:
            pinned.append(pins.full_id(answer, f'image "{name}"'))
    if pinned != names:
        pins.query_pins.append(("cachefrom", json.dumps(pinned, separators=(",", ":"))))


def _volumes_from(pins: _Pins) -> None:
    for section in pins.host_configs():
        holder = pins.body
        for step in section:
            holder = holder.obj(str(step)) or GoObject()
        key = holder.key_for("VolumesFrom")
        if key is None:
            continue
        for index, spec in enumerate(holder.strings_of(key)):
            name, colon, mode = spec.partition(":")
            lookup = name[1:] if name.startswith("/") else name
            if not lookup:
                continue
            # dockerd answers 400 here (and the docker CLI does not take it for a missing image)
            answer = pins.judged("container", lookup, f"No such container: {name}", 400)
            if answer is None:
                continue
            full = pins.full_id(answer, f'container "{name}"') + colon + mode
            if full != spec:
                pins.replace((*section, key, index), full)


def _image_values(pins: _Pins) -> None:
    """A create's image: by ID where the judgement depended on which image it is (a scoped
    role: tenancy judged its owner), else by the values judged from it (WORKDIR, USER)."""
    image = pins.body.str_of("Image") or ""
    if not image:
        return
    answer = pins.judged("image", image, f"No such image: {image}")
    if answer is None:
        return
    if pins.image_by_id:
        _pin_image_id(pins, image, answer)
        return
    config = answer.get("Config")
    defaults = config if isinstance(config, Mapping) else {}
    unset = []
    for field in ("WorkingDir", "User"):
        default = defaults.get(field)
        if not (pins.body.str_of(field) or "") and isinstance(default, str) and default:
            unset.append((field, default))
    workdir = dict(unset).get("WorkingDir", "/")
    if not workdir.startswith("/"):
        # dockerd refuses a relative WorkingDir in a request but takes one from an image:
        # pin the image itself (its ID shows in `docker ps` instead of the name)
        _pin_image_id(pins, image, answer)
        return
    for field, default in unset:
        key = pins.body.key_for(field)
        if key is not None:  # present, empty or null
            pins.replace((key,), default)
        elif pins.raw_body is not None:
            edit = _insert_member(pins.raw_body, (), field, default)
            if edit is None:
                raise _Refused(400, "the request body could not be rewritten to the image judged")
            pins.edits.append(edit)


def _pin_image_id(pins: _Pins, image: str, answer: Mapping[str, object]) -> None:
    """``Image`` becomes the full ID judged (``sha256:...``): dockerd then makes the container
    from that image and no other, and keeps the ID as its ``Config.Image``."""
    full = pins.full_id(answer, f'image "{image}"')
    if full != image:
        pins.replace((pins.body.key_for("Image") or "Image",), full)


def _service_networks(pins: _Pins) -> None:
    template_key = pins.body.key_for("TaskTemplate")
    template = pins.body.obj("TaskTemplate") or GoObject()
    lists: list[tuple[tuple[Step, ...], GoObject]] = []
    if template_key is not None:
        lists.append(((template_key,), template))
    lists.append(((), pins.body))
    for prefix, holder in lists:
        key = holder.key_for("Networks")
        if key is None:
            continue
        for index, network in enumerate(holder.objects_of(key)):
            target = network.str_of("Target") or ""
            if not target:
                continue
            answer = pins.judged("network", target, f"network {target} not found", 400)
            if answer is None:
                continue
            full = pins.full_id(answer, f'network "{target}"')
            if full != target:
                target_key = network.key_for("Target") or "Target"
                pins.replace((*prefix, key, index, target_key), full)


def _host_config_sections(pins: _Pins) -> list[tuple[tuple[Step, ...], GoObject]]:
    if pins._sections is None:
        pins._sections = []
        for section in pins.host_configs():
            holder = pins.body
            for step in section:
                holder = holder.obj(str(step)) or GoObject()
            pins._sections.append((section, holder))
    return pins._sections


def _links(pins: _Pins) -> None:
    """``HostConfig.Links``: ``NAME[:ALIAS]`` becomes ``ID:ALIAS``, the alias dockerd would
    have taken (``opts.ParseLink``: a bare name is its own alias; ``/a:/b/c`` has alias ``c``)."""
    for section, holder in _host_config_sections(pins):
        key = holder.key_for("Links")
        if key is None:
            continue
        for index, link in enumerate(holder.strings_of(key)):
            parts = link.split(":")
            if len(parts) > 2 or not link:
                continue  # dockerd refuses it
            name, alias = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
            if len(parts) == 2 and name.startswith("/"):
                alias = alias.rpartition("/")[2]
            lookup = name.lstrip("/")
            if not lookup:
                continue
            answer = pins.judged("container", lookup, f"No such container: {lookup}", 400)
            if answer is None:
                continue
            pins.replace(
                (*section, key, index),
                pins.full_id(answer, f'container "{lookup}"') + ":" + alias.lstrip("/"),
            )


def _container_modes(pins: _Pins) -> None:
    """``container:NAME`` network, PID and IPC modes become ``container:ID``."""
    for section, holder in _host_config_sections(pins):
        for field in ("NetworkMode", "PidMode", "IpcMode"):
            key = holder.key_for(field)
            if key is None:
                continue
            prefix, colon, name = (holder.str_of(key) or "").partition(":")
            if not colon or prefix != "container" or not name:  # dockerd's IsContainer
                continue
            answer = pins.judged("container", name, f"No such container: {name}", 400)
            if answer is not None:
                full = pins.full_id(answer, f'container "{name}"')
                pins.replace((*section, key), f"{prefix}:{full}")


def _query_container(pins: _Pins) -> None:
    """Commit's ``?container=``: the first value, the one dockerd reads."""
    values = parse_query(pins.raw_query).get("container") if pins.raw_query else None
    name = values[0] if values else ""
    if not name:
        return
    answer = pins.judged("container", name, f"No such container: {name}")
    if answer is not None:
        full = pins.full_id(answer, f'container "{name}"')
        if full != name:
            pins.query_pins.append(("container", full))


def rewrite_query(query: str, replacements: tuple[tuple[str, str], ...]) -> str:
    """``query`` (already accepted by ``paths.parse_query``) with the first value of each key
    in ``replacements`` replaced; keys are compared unescaped, as Go's ``ParseQuery`` reads
    them, and every other byte is kept."""
    wanted = dict(replacements)
    pairs = query.split("&")
    for index, pair in enumerate(pairs):
        name = next(iter(parse_query(pair)), None)
        if name is not None and name in wanted:
            key = pair.partition("=")[0]
            pairs[index] = f"{key}={quote(wanted.pop(name), safe='')}"
    return "&".join(pairs)


def _body_container(pins: _Pins) -> None:
    """``network connect``/``disconnect``: the ``Container`` the body names."""
    key = pins.body.key_for("Container")
    name = pins.body.str_of("Container") or ""
    if key is None or not name:
        return
    answer = pins.judged("container", name, f"No such container: {name}")
    if answer is not None:
        full = pins.full_id(answer, f'container "{name}"')
        if full != name:
            pins.replace((key,), full)


# dockerd's NetworkMode predicates are case-sensitive: "Bridge" is a user-defined network
_NOT_USER_DEFINED = frozenset({"", "bridge", "host", "none", "default"})


def _user_defined(network: str) -> bool:
    """``NetworkMode(network).IsUserDefined()``: dockerd looks such a name up as a network
    (and prefers an endpoint's ``NetworkID`` to it, ``getNetworkID``)."""
    return network not in _NOT_USER_DEFINED and not network.startswith("container:")


def _network_id(pins: _Pins, name: str) -> str | None:
    """The full ID of the network a check judged ``name`` by; ``None`` if none looked it up."""
    answer = pins.judged("network", name, f"network {name} not found")
    return None if answer is None else pins.full_id(answer, f'network "{name}"')


def _network_id_member(full: str) -> bytes:
    return b'{"NetworkID":' + _encode(full) + b"}"


def _pin_endpoint(
    pins: _Pins, path: tuple[Step, ...], endpoint: object, full: str, where: str
) -> None:
    """An endpoint's ``NetworkID`` becomes the network judged.

    dockerd resolves a container's networks when it starts it, not at create (nor at a
    connect of a stopped container), and it resolves an endpoint by its ``NetworkID`` when
    one is set, by its key (a name, even when the request gave the ID) otherwise. Written in,
    the ID judged is what the start finds; a ``NetworkID`` naming another network than the one
    judged would be what dockerd attaches, so it is refused.
    """
    if endpoint is None:  # null: Go's nil *EndpointSettings
        pins.replace(path, _network_id_member(full))
        return
    if not isinstance(endpoint, GoObject):
        raise _Refused(400, f"{where} is not an object; dockerd expects endpoint settings")
    key = endpoint.key_for("NetworkID")
    if key is None:
        pins.insert(path, "NetworkID", full)
        return
    given = endpoint.str_of(key) or ""
    if given and given != full:
        raise _Refused(
            400,
            f"{where}.NetworkID names another network than the one judged ({full[:12]}); "
            "leave NetworkID out, dockerd fills it in",
        )
    if given != full:
        pins.replace((*path, key), full)


def _create_networks(pins: _Pins) -> None:
    """A create's networks: a user-defined ``NetworkMode`` and the ``EndpointsConfig`` keys
    become the full IDs judged, and every endpoint judged carries that ID as its
    ``NetworkID`` (dockerd's start prefers it to the key, which it files under the network's
    name). The mode's network gets an endpoint of its own when the body gives none."""
    if "network" not in pins.kinds:
        return
    effective_mode: str | None = None
    for index, (section, holder) in enumerate(_host_config_sections(pins)):
        key = holder.key_for("NetworkMode")
        mode = (holder.str_of(key) or "") if key is not None else ""
        if key is None or not _user_defined(mode):
            continue
        full = _network_id(pins, mode)
        if full is None:
            continue
        if index == 0:  # the inner HostConfig when there is one: the one dockerd reads
            effective_mode = full
        if full != mode:
            pins.replace((*section, key), full)
    networking_key = pins.body.key_for("NetworkingConfig")
    networking = pins.body.obj("NetworkingConfig")
    endpoints_key = networking.key_for("EndpointsConfig") if networking is not None else None
    endpoints = networking.map_of(endpoints_key) if networking and endpoints_key else {}
    where = "NetworkingConfig.EndpointsConfig"
    judged: dict[str, str] = {}
    for name, endpoint in endpoints.items():
        if not _user_defined(name):
            continue  # dockerd takes the name and ignores a NetworkID for these
        full = _network_id(pins, name)
        if full is None:
            continue
        if full in judged:
            raise _Refused(
                400,
                f"{where} names network {full[:12]} twice ({judged[full]!r} and {name!r}); "
                "name each network once",
            )
        judged[full] = name
        assert networking_key is not None and endpoints_key is not None
        path: tuple[Step, ...] = (networking_key, endpoints_key, name)
        _pin_endpoint(pins, path, endpoint, full, f"{where}[{name!r}]")
        if full != name:
            pins.rename_key((networking_key, endpoints_key), name, full)
    taken = {go_fold(name) for name in endpoints if name not in judged.values()}
    if any(go_fold(full) in taken for full in judged):
        raise _Refused(400, f"{where} names a network both by its ID and otherwise")
    if effective_mode is None or endpoints:
        return
    member = _encode(effective_mode) + b":" + _network_id_member(effective_mode)
    if networking_key is None:
        pins.insert((), "NetworkingConfig", b'{"EndpointsConfig":{' + member + b"}}")
    elif networking is None:
        pins.replace((networking_key,), b'{"EndpointsConfig":{' + member + b"}}")
    elif endpoints_key is None:
        pins.insert((networking_key,), "EndpointsConfig", b"{" + member + b"}")
    elif networking.field(endpoints_key) is None:
        pins.replace((networking_key, endpoints_key), b"{" + member + b"}")
    else:
        pins.insert(
            (networking_key, endpoints_key), effective_mode, _network_id_member(effective_mode)
        )


def _path_network(pins: _Pins) -> None:
    """The network a path names, and for ``network connect`` the endpoint's ``NetworkID``."""
    name = pins.params.get("id")
    if not name:
        return
    full = _network_id(pins, name)
    if full is None:
        return
    pins.path_id, pins.path_variable = full, "id"
    if pins.operation != "network.connect":
        return
    if pins.raw_body is None:
        raise _Refused(400, "the request body could not be rewritten to the IDs judged")
    # the path becomes an ID, which dockerd treats as user-defined: from then on it prefers
    # a NetworkID in the body even where the path was "bridge", so that is pinned too
    key = pins.body.key_for("EndpointConfig")
    if key is None:
        pins.insert((), "EndpointConfig", _network_id_member(full))
    else:
        _pin_endpoint(pins, (key,), pins.body.field(key), full, "EndpointConfig")


_Pinner: TypeAlias = Callable[[_Pins], None]

PINNERS: Mapping[tuple[Kind, Place, str], _Pinner] = {
    (Kind.CONTAINER, Place.PATH, "name"): _path_container,
    (Kind.IMAGE, Place.PATH, "name"): _path_image,
    (Kind.CONTAINER, Place.BODY, "HostConfig.VolumesFrom"): _volumes_from,
    (Kind.IMAGE, Place.BODY, "Image"): _image_values,
    (Kind.NETWORK, Place.BODY, "TaskTemplate.Networks"): _service_networks,
    (Kind.NETWORK, Place.BODY, "Networks"): _service_networks,
    (Kind.CONTAINER, Place.BODY, "HostConfig.Links"): _links,
    (Kind.CONTAINER, Place.BODY, "HostConfig.NetworkMode, PidMode, IpcMode (container:<id>)"): (
        _container_modes
    ),
    (Kind.CONTAINER, Place.BODY, "Container"): _body_container,
    (Kind.CONTAINER, Place.QUERY, "container"): _query_container,
    (Kind.IMAGE, Place.QUERY, "cachefrom"): _query_cache_from,
    (Kind.NETWORK, Place.BODY, "HostConfig.NetworkMode"): _create_networks,
    (Kind.NETWORK, Place.BODY, "NetworkingConfig.EndpointsConfig"): _create_networks,
    (Kind.NETWORK, Place.PATH, "id"): _path_network,
}
"""How each pinned reference of the registry (``FULL_ID``, ``VALUES``) is rewritten, by
(kind, place, field). A unit test fails when a row pins a reference missing here."""


def _pinners_of(operation: str) -> tuple[_Pinner, ...]:
    row = BY_NAME.get(operation)
    if row is None:
        return ()
    found: list[_Pinner] = []
    for ref in row.refs:
        key = (ref.kind, ref.place, ref.field)
        # Containers are pinned whenever a check looked them up, whichever judged them (the
        # profiles, or tenancy's owner check, which reads every container a scoped role names).
        if ref.pinning in (Pinning.FULL_ID, Pinning.VALUES) or key in PINNED_WHEN_LOOKED_UP:
            pinner = PINNERS[key]
            if pinner not in found:
                found.append(pinner)
    return tuple(found)


PINNED_WHEN_LOOKED_UP = frozenset(
    {
        (Kind.CONTAINER, Place.PATH, "name"),
        (Kind.IMAGE, Place.PATH, "name"),  # inspect, history, tag (see _IMAGE_PATH_BY_ID)
        (Kind.IMAGE, Place.QUERY, "cachefrom"),
        (Kind.CONTAINER, Place.BODY, "HostConfig.Links"),
        (Kind.CONTAINER, Place.BODY, "HostConfig.NetworkMode, PidMode, IpcMode (container:<id>)"),
        (Kind.CONTAINER, Place.BODY, "Container"),
        (Kind.CONTAINER, Place.QUERY, "container"),
        (Kind.NETWORK, Place.PATH, "id"),
        (Kind.NETWORK, Place.BODY, "HostConfig.NetworkMode"),
        (Kind.NETWORK, Place.BODY, "NetworkingConfig.EndpointsConfig"),
    }
)
"""References a row leaves ``NOT_JUDGED`` (no profile check reads them) that are pinned
whenever a check looked them up all the same: tenancy reads every container, network and
image a scoped role names."""


DNS_NAMES = frozenset(
    {
        (Kind.CONTAINER, Place.BODY, "NetworkingConfig.EndpointsConfig.*.Links"),
        (Kind.CONTAINER, Place.BODY, "EndpointConfig.Links"),
    }
)
"""References tenancy judges that are forwarded as written because dockerd never resolves them
to an object: an endpoint's ``Links`` (``name:alias``) only tell the network's embedded DNS to
answer ``alias`` with whatever answers ``name`` when a process asks, at every query (measured
on dockerd 20.10: a name nobody has is created and started, and resolves to nothing). A full
ID would break the alias, since the resolver knows names, aliases and short IDs; and any
container on the network can take a name or an alias there. What such a link reaches is a DNS
answer the container could ask for anyway."""


_BY_OPERATION: dict[str, tuple[_Pinner, ...]] = {}


def plan_pins(
    operation: str,
    params: Mapping[str, str],
    raw_body: bytes | None,
    body: object,
    facts: Facts,
    query: str = "",
    *,
    image_by_id: bool = False,
) -> Plan | Refusal:
    """How to forward a request the policy allowed after judging ``facts``.

    ``raw_body`` is the body as received (``None``: none was read), ``body`` its decoding,
    ``query`` the query string as sent (already accepted by ``paths.split_target``).
    ``image_by_id``: a create's image is forwarded as the full ID judged, not pinned by value
    (for roles whose judgement depends on which image it is: scoped roles).
    """
    if not facts:
        return _NOTHING
    pinners = _BY_OPERATION.get(operation)
    if pinners is None:
        pinners = _BY_OPERATION[operation] = _pinners_of(operation)
    if not pinners:
        return _NOTHING
    pins = _Pins(operation, params, raw_body, body, facts, query, image_by_id)
    try:
        for pinner in pinners:
            pinner(pins)
    except _Refused as refused:
        return refused.refusal
    except ProtocolError as err:  # a field no check read, of a type dockerd would refuse too
        return Refusal(err.status, str(err))
    except ValueError as err:  # the scan and decode_body disagree: never forward a guess
        return Refusal(400, f"the request body could not be rewritten to the IDs judged: {err}")
    if pins.path_id is None and not pins.edits and not pins.query_pins:
        return _NOTHING
    return Plan(pins.path_id, tuple(pins.edits), pins.path_variable, tuple(pins.query_pins))
