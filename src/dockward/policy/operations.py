"""The operation registry: one row per Engine API operation, everything known about it.

``ROWS`` is read top to bottom, in the route table's order (``dockward.policy.routes``, which
maps each route to an operation name). A row says:

* ``access``: what the operation can do (the tags are explained on ``Access``);
* ``body``: what dockerd reads from the request body, and whether the policy decodes it;
* ``refs``: the objects the request names (every path variable, and the containers, execs,
  volumes, networks and images named in its query or body; list filters aside), and for each
  whether the policy judges it and how it is pinned;
* ``reveals`` and ``redaction``: what the response can hand out, and how it is kept from a
  role without the ``secrets`` grant (redacted by ``dockward.policy.redact``, or the request
  options that would reveal it refused);
* ``stream``: whether the exchange is brief, long-lived, or turns into a tunnel;
* ``handshake``: whether every client calls it before anything else, so every role may.

Every field is required: a new row has to decide each one. The sets the policy, the profiles,
redaction and the relay consult (``PINNED_OPERATIONS``, ``REDACTED_OPERATIONS``, ...) are
derived from the rows here; none is written out by hand anywhere else.

Data only: no I/O, and nothing from the rest of dockward is imported.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "ACCESS",
    "BY_NAME",
    "HANDSHAKE_OPERATIONS",
    "JUDGED_JSON_OPERATIONS",
    "OPAQUE_OPERATIONS",
    "PINNED_OPERATIONS",
    "REDACTED_OPERATIONS",
    "ROWS",
    "TARGET_ACTIONS",
    "Access",
    "Body",
    "Kind",
    "Operation",
    "Pinning",
    "Place",
    "Redaction",
    "Ref",
    "Reveals",
    "Stream",
]


class Access(enum.StrEnum):
    """What an operation can do to the host or its data, one rule each.

    READ inspects or lists, changes nothing and makes the daemon contact no other host; WRITE
    changes state on this host; EXFILTRATE hands out file contents, image contents or process
    output (attach and exec output too), sends them to a registry, or has the daemon contact a
    remote host the client names (a registry search, a manifest lookup); ADMIN changes the
    daemon, the swarm, plugins, credentials, or reads what is as good as a credential (swarm
    join tokens, unlock key, debug endpoints). The policy grants operations, not tags; the
    tags are for summaries, defaults and access selectors (``network.read``).
    """

    READ = "read"
    WRITE = "write"
    EXFILTRATE = "exfiltrate"
    ADMIN = "admin"


class Body(enum.StrEnum):
    """What dockerd reads from the request body.

    There is no form kind: a form-encoded body is refused on every operation
    (``dockward.gateway.analysis``), because Go's ``ParseForm`` would read it as query
    parameters.
    """

    NONE = "none"
    """No body is read (a client sends none)."""
    JSON = "json"
    """One JSON document, forwarded without the policy decoding it."""
    JSON_JUDGED = "json, judged"
    """One JSON document the policy decodes (``application/json``, at most ``body_limit``)
    and the profile checks judge before anything is forwarded."""
    STREAM = "stream"
    """Bytes dockerd consumes as they arrive (a tar archive, an image), never decoded."""


class Kind(enum.StrEnum):
    """The kind of Docker object a reference names."""

    CONTAINER = "container"
    EXEC = "exec"
    IMAGE = "image"
    VOLUME = "volume"
    NETWORK = "network"
    SERVICE = "service"
    NODE = "node"
    TASK = "task"
    SECRET = "secret"
    CONFIG = "config"
    PLUGIN = "plugin"
    CHECKPOINT = "checkpoint"
    HOST = "host"
    """A remote host the daemon contacts for the client: a registry, a URL's host, a log
    server. Judged by its address (names resolved), never pinned: DNS may answer the daemon
    differently."""


class Place(enum.StrEnum):
    """Where in the request a reference is: a path variable, a query key or a body field."""

    PATH = "path"
    QUERY = "query"
    BODY = "body"


class Pinning(enum.StrEnum):
    """Whether the policy judges the object a reference names, and how the request is pinned
    to the object it judged (``dockward.policy.pinning`` rewrites the request; a unit test
    fails when a judged object reference is left unpinned)."""

    NOT_JUDGED = "not judged"
    """The policy does not look the object up; the reference is forwarded as written."""
    UNPINNED = "judged, unpinned"
    """Judged from the daemon's answer about the name, but forwarded as written. Only a remote
    host (``Kind.HOST``) is: it is judged by its name or the addresses the name resolves to,
    and DNS may answer the daemon differently whatever the gateway forwards."""
    FULL_ID = "judged, pinned to the full id"
    """Judged, and the request is forwarded rewritten to the full ID that was judged; a name
    the daemon did not know when it was judged is refused (404), so it cannot be given to
    another object in between."""
    VALUES = "judged, pinned by value"
    """Judged, and what the policy judged from the object is written into the request, so
    whatever object the name reaches then, nothing judged changes. A create's image: its
    WORKDIR and USER become the body's ``WorkingDir`` and ``User`` where those are empty
    (exactly what dockerd's merge of the image's defaults would do), so that ``docker ps``
    keeps showing the name. For a scoped role, whose judgement depends on which image it is
    (tenancy judged its owner), the image is forwarded as its full ID instead."""
    EXACT = "judged, exact"
    """Judged; dockerd knows the object only by this exact string (no name lookup, no prefix,
    no rename): an exec ID, a volume name. Nothing to pin."""


@dataclass(frozen=True, slots=True)
class Ref:
    """One object a request names.

    ``field`` is the path variable, the query key or the body field (dotted from the top of the
    body; a container create's fields may also come at the top level, see docs/policy.md).
    ``action`` is what the operation does inside the object it judges, for refusals
    ("exec into it"); ``None`` for every other reference.
    """

    kind: Kind
    place: Place
    field: str
    pinning: Pinning
    action: str | None

    def __post_init__(self) -> None:
        if self.action is not None and self.pinning is Pinning.NOT_JUDGED:
            raise ValueError(f"{self}: only a judged reference has an action")
        if self.pinning is Pinning.UNPINNED and self.kind is not Kind.HOST:
            raise ValueError(f"{self}: a judged object is pinned (only remote hosts are not)")


class Reveals(enum.Flag):
    """What a response can hand out."""

    NOTHING = 0
    ENV = enum.auto()
    """Environment values (``Env``), where applications keep their secrets."""
    CREDENTIALS = enum.auto()
    """Tokens, passwords, keys."""
    FILES = enum.auto()
    """File contents: a container's, an image's, a config's."""
    OUTPUT = enum.auto()
    """Process output: logs, attach, exec."""


class Redaction(enum.StrEnum):
    """How a response is changed for a role without the ``secrets`` grant."""

    NONE = "none"
    """Forwarded as the daemon sent it."""
    SECRETS = "secrets"
    """Collected whole and re-sent with ``Env`` values, build arguments, logging driver
    options, credential keys and config data replaced (``dockward.policy.redact``)."""
    LIMITED = "limited request"
    """Forwarded as sent, but a profile check refuses the request options that would make the
    answer reveal it (``ps_args`` that print environments)."""


class Stream(enum.StrEnum):
    """How long the exchange lasts, and whether it stays HTTP (for timeouts and the relay)."""

    BRIEF = "brief"
    """An ordinary request and answer."""
    LONG = "long"
    """A body or an answer that can last as long as the work or the client wants (follow,
    progress, archives, waiting for a container)."""
    TUNNEL = "tunnel"
    """The connection becomes a raw byte pipe both ways (101, or a raw-stream 200) carrying one
    process's input and output."""
    OPAQUE_TUNNEL = "opaque tunnel"
    """A tunnel carrying another protocol the policy cannot read (BuildKit's session and gRPC
    control API: build network mode, entitlements, exports). Under ``baseline`` and
    ``restricted`` only a role that names the operation may open one."""
    WEBSOCKET = "websocket"
    """A tunnel a browser can open too: cross-origin requests are refused."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One row. No field has a default: a row decides every one (see the module docstring)."""

    name: str
    access: Access
    body: Body
    stream: Stream
    reveals: Reveals
    redaction: Redaction
    handshake: bool
    refs: tuple[Ref, ...]

    @property
    def hijack(self) -> bool:
        """The answer may turn the connection into a byte pipe (101 or a raw-stream 200)."""
        return self.stream in (Stream.TUNNEL, Stream.OPAQUE_TUNNEL, Stream.WEBSOCKET)

    @property
    def target_action(self) -> str | None:
        """What the operation does inside the object it judges ("exec into it"), if anything."""
        return next((ref.action for ref in self.refs if ref.action is not None), None)


# --- reference shorthands ------------------------------------------------------------------


def _path(kind: Kind, variable: str = "name") -> Ref:
    return Ref(kind, Place.PATH, variable, Pinning.NOT_JUDGED, None)


def _query(kind: Kind, key: str) -> Ref:
    return Ref(kind, Place.QUERY, key, Pinning.NOT_JUDGED, None)


def _body(kind: Kind, field: str) -> Ref:
    return Ref(kind, Place.BODY, field, Pinning.NOT_JUDGED, None)


def _judged(
    kind: Kind, place: Place, field: str, pinning: Pinning, action: str | None = None
) -> Ref:
    return Ref(kind, place, field, pinning, action)


def _remote(place: Place, field: str) -> Ref:
    """A remote host the daemon contacts for the request, judged by the outbound checks."""
    return Ref(Kind.HOST, place, field, Pinning.UNPINNED, None)


def _pinned_target(action: str) -> Ref:
    """The container in the path, judged and forwarded as the full ID that was judged."""
    return Ref(Kind.CONTAINER, Place.PATH, "name", Pinning.FULL_ID, action)


_READ, _WRITE, _EXFIL, _ADMIN = Access.READ, Access.WRITE, Access.EXFILTRATE, Access.ADMIN
_NO_BODY, _JSON, _JUDGED, _STREAM = Body.NONE, Body.JSON, Body.JSON_JUDGED, Body.STREAM
_BRIEF, _LONG, _TUNNEL, _WEBSOCKET = Stream.BRIEF, Stream.LONG, Stream.TUNNEL, Stream.WEBSOCKET
_OPAQUE = Stream.OPAQUE_TUNNEL
_NOTHING, _ENV, _CREDENTIALS = Reveals.NOTHING, Reveals.ENV, Reveals.CREDENTIALS
_FILES, _OUTPUT = Reveals.FILES, Reveals.OUTPUT
_PLAIN, _REDACTED, _LIMITED = Redaction.NONE, Redaction.SECRETS, Redaction.LIMITED
_CONTAINER, _EXEC, _IMAGE, _VOLUME = Kind.CONTAINER, Kind.EXEC, Kind.IMAGE, Kind.VOLUME
_NETWORK, _SERVICE, _PLUGIN = Kind.NETWORK, Kind.SERVICE, Kind.PLUGIN

_C = (_path(_CONTAINER),)  # the container named in the path, forwarded as written
# What a service spec names; volume names are exact, networks pinned to their IDs.
_SERVICE_SPEC = (
    _body(_IMAGE, "TaskTemplate.ContainerSpec.Image"),
    _remote(Place.BODY, "TaskTemplate.ContainerSpec.Image (registry), TaskTemplate.LogDriver"),
    _judged(_VOLUME, Place.BODY, "TaskTemplate.ContainerSpec.Mounts", Pinning.EXACT),
    _judged(_NETWORK, Place.BODY, "TaskTemplate.Networks", Pinning.FULL_ID),
    _judged(_NETWORK, Place.BODY, "Networks", Pinning.FULL_ID),
)

# Columns: name, access, body, stream, reveals, redaction, handshake, references.
# fmt: off
ROWS: tuple[Operation, ...] = (
    # checkpoint
    Operation("checkpoint.list", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, _C),
    Operation("checkpoint.create", _ADMIN, _JUDGED, _BRIEF, _NOTHING, _PLAIN, False, _C),
    Operation("checkpoint.delete", _ADMIN, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (*_C, _path(Kind.CHECKPOINT, "checkpoint"))),
    # container
    Operation("container.archive.stat", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, _C),
    Operation("container.list", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("container.export", _EXFIL, _NO_BODY, _LONG, _FILES, _PLAIN, False, _C),
    Operation("container.changes", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, _C),
    # HostConfig.LogConfig.Config can hold a logging driver's token (splunk-token): every value
    # of it is redacted, as are the credentials in a volume mount's driver options
    Operation("container.inspect", _READ, _NO_BODY, _BRIEF, _ENV | _CREDENTIALS, _REDACTED,
              False, _C),
    # ps_args e (BSD) prints every process's environment: refused by the ps-args check
    Operation("container.top", _READ, _NO_BODY, _BRIEF, _ENV, _LIMITED, False, _C),
    Operation("container.logs", _EXFIL, _NO_BODY, _LONG, _OUTPUT, _PLAIN, False, _C),
    Operation("container.stats", _READ, _NO_BODY, _LONG, _NOTHING, _PLAIN, False, _C),
    Operation("container.attach_ws", _EXFIL, _NO_BODY, _WEBSOCKET, _OUTPUT, _PLAIN, False,
              (_pinned_target("attaching to its input"),)),
    # an exec inspect carries no Env on the daemons we know; redacted in case one does
    Operation("container.exec.inspect", _READ, _NO_BODY, _BRIEF, _NOTHING, _REDACTED, False,
              (_path(_EXEC, "id"),)),
    Operation("container.archive.read", _EXFIL, _NO_BODY, _LONG, _FILES, _PLAIN, False, _C),
    # the image is looked up for the defaults the profiles judge (WORKDIR, USER); a
    # "container:<id>" mode is refused outright under baseline (host-namespaces); links,
    # networks and the modes are judged by tenancy only, and pinned when it looked them up
    # (dockward.policy.pinning.PINNED_WHEN_LOOKED_UP)
    Operation("container.create", _WRITE, _JUDGED, _BRIEF, _NOTHING, _PLAIN, False, (
        _judged(_IMAGE, Place.BODY, "Image", Pinning.VALUES),
        _remote(Place.BODY, "HostConfig.LogConfig"),
        _judged(_VOLUME, Place.BODY, "HostConfig.Binds", Pinning.EXACT),
        _judged(_VOLUME, Place.BODY, "HostConfig.Mounts", Pinning.EXACT),
        _judged(_CONTAINER, Place.BODY, "HostConfig.VolumesFrom", Pinning.FULL_ID),
        _body(_CONTAINER, "HostConfig.Links"),
        _body(_CONTAINER, "HostConfig.NetworkMode, PidMode, IpcMode (container:<id>)"),
        _body(_NETWORK, "HostConfig.NetworkMode"),
        _body(_NETWORK, "NetworkingConfig.EndpointsConfig"),
        # an endpoint's Links are DNS aliases, never resolved to an object by dockerd
        # (dockward.policy.pinning.DNS_NAMES)
        _body(_CONTAINER, "NetworkingConfig.EndpointsConfig.*.Links"),
    )),
    Operation("container.kill", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, _C),
    Operation("container.pause", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, _C),
    Operation("container.unpause", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, _C),
    # restart and stop wait up to query t seconds for the container to exit; t=-1: forever
    Operation("container.restart", _WRITE, _NO_BODY, _LONG, _NOTHING, _PLAIN, False, _C),
    # the body is a HostConfig for API < 1.24, refused by the start-host-config check
    Operation("container.start", _WRITE, _JUDGED, _BRIEF, _NOTHING, _PLAIN, False, _C),
    Operation("container.stop", _WRITE, _NO_BODY, _LONG, _NOTHING, _PLAIN, False, _C),
    Operation("container.wait", _READ, _NO_BODY, _LONG, _NOTHING, _PLAIN, False, _C),
    Operation("container.resize", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, _C),
    # the container's output (logs=1: all of it since it started, as container.logs gives)
    Operation("container.attach", _EXFIL, _NO_BODY, _TUNNEL, _OUTPUT, _PLAIN, False,
              (_pinned_target("attaching to its input"),)),
    Operation("container.copy", _EXFIL, _JSON, _LONG, _FILES, _PLAIN, False, _C),
    Operation("container.exec", _WRITE, _JUDGED, _BRIEF, _NOTHING, _PLAIN, False,
              (_pinned_target("exec into it"),)),
    # {"Detach", "Tty", "ConsoleSize"}: the exec itself is judged, from the daemon's inspect;
    # its output is whatever the command reads inside the container
    Operation("container.exec.start", _EXFIL, _JSON, _TUNNEL, _OUTPUT, _PLAIN, False,
              (_judged(_EXEC, Place.PATH, "name", Pinning.EXACT, "starting an exec in it"),)),
    Operation("container.exec.resize", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_EXEC),)),
    # the renamed container is judged as exec's is: renaming is how a name is moved onto a
    # container that reaches the host (query name is the new name, not a reference)
    Operation("container.rename", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_pinned_target("renaming it"),)),
    Operation("container.update", _WRITE, _JUDGED, _BRIEF, _NOTHING, _PLAIN, False, _C),
    Operation("container.prune", _WRITE, _NO_BODY, _LONG, _NOTHING, _PLAIN, False, ()),
    Operation("container.commit", _WRITE, _JSON, _LONG, _NOTHING, _PLAIN, False,
              (_query(_CONTAINER, "container"),)),
    Operation("container.archive.write", _WRITE, _STREAM, _LONG, _NOTHING, _PLAIN, False,
              (_pinned_target("writing files into it"),)),
    Operation("container.remove", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, _C),
    # image
    Operation("image.list", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, ()),
    # the daemon asks the registry the term names (127.0.0.1:PORT/x: the host's loopback)
    Operation("image.search", _EXFIL, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_remote(Place.QUERY, "term"),)),
    Operation("image.save", _EXFIL, _NO_BODY, _LONG, _FILES, _PLAIN, False,
              (_path(_IMAGE), _query(_IMAGE, "names"))),
    # CreatedBy holds ENV values and a RUN step's build arguments
    Operation("image.history", _READ, _NO_BODY, _BRIEF, _ENV | _CREDENTIALS, _REDACTED, False,
              (_path(_IMAGE),)),
    # Env, and build arguments in (Container)Config.Cmd
    Operation("image.inspect", _READ, _NO_BODY, _BRIEF, _ENV | _CREDENTIALS, _REDACTED, False,
              (_path(_IMAGE),)),
    Operation("image.load", _WRITE, _STREAM, _LONG, _NOTHING, _PLAIN, False, ()),
    # a pull has no body; an import (fromSrc=-) streams the image archive
    Operation("image.pull", _WRITE, _STREAM, _LONG, _NOTHING, _PLAIN, False,
              (_query(_IMAGE, "fromImage"),
               _remote(Place.QUERY, "fromImage (registry), fromSrc (URL)"))),
    Operation("image.push", _EXFIL, _NO_BODY, _LONG, _NOTHING, _PLAIN, False,
              (_path(_IMAGE), _remote(Place.PATH, "name"))),
    Operation("image.tag", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_IMAGE),)),
    Operation("image.prune", _WRITE, _NO_BODY, _LONG, _NOTHING, _PLAIN, False, ()),
    Operation("image.remove", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_IMAGE),)),
    # system
    Operation("system.options", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("system.ping", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, True, ()),
    Operation("system.events", _READ, _NO_BODY, _LONG, _NOTHING, _PLAIN, False, ()),
    Operation("system.info", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("system.version", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, True, ()),
    # sizes every image, container and volume; lists volumes with their Options
    Operation("system.df", _READ, _NO_BODY, _LONG, _CREDENTIALS, _REDACTED, False, ()),
    # the daemon logs in to ServerAddress; the answer may carry an IdentityToken
    Operation("auth", _ADMIN, _JUDGED, _BRIEF, _CREDENTIALS, _REDACTED, False,
              (_remote(Place.BODY, "ServerAddress"),)),
    # volume; Options can hold a password (a cifs volume's o=...,password=...)
    Operation("volume.list", _READ, _NO_BODY, _BRIEF, _CREDENTIALS, _REDACTED, False, ()),
    Operation("volume.inspect", _READ, _NO_BODY, _BRIEF, _CREDENTIALS, _REDACTED, False,
              (_path(_VOLUME),)),
    Operation("volume.create", _WRITE, _JUDGED, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("volume.prune", _WRITE, _NO_BODY, _LONG, _NOTHING, _PLAIN, False, ()),
    Operation("volume.update", _WRITE, _JSON, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_VOLUME),)),
    Operation("volume.remove", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_VOLUME),)),
    # build: the answer carries the output of RUN steps
    # FROM images the classic builder pulls are inside the (undecoded) context: not judged
    Operation("image.build", _WRITE, _STREAM, _LONG, _OUTPUT, _PLAIN, False,
              (_query(_IMAGE, "cachefrom"), _query(_NETWORK, "networkmode"),
               _remote(Place.QUERY, "remote"))),
    Operation("build.prune", _WRITE, _NO_BODY, _LONG, _NOTHING, _PLAIN, False, ()),
    Operation("build.cancel", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, ()),
    # session: the daemon reads the client's build files through it, not the other way
    Operation("session", _WRITE, _NO_BODY, _OPAQUE, _NOTHING, _PLAIN, False, ()),
    # swarm
    Operation("swarm.init", _ADMIN, _JSON, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("swarm.join", _ADMIN, _JSON, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("swarm.leave", _ADMIN, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, ()),
    # GET /swarm answers with the join tokens: ADMIN, not READ
    Operation("swarm.inspect", _ADMIN, _NO_BODY, _BRIEF, _CREDENTIALS, _PLAIN, False, ()),
    Operation("swarm.unlockkey", _ADMIN, _NO_BODY, _BRIEF, _CREDENTIALS, _PLAIN, False, ()),
    Operation("swarm.update", _ADMIN, _JSON, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("swarm.unlock", _ADMIN, _JSON, _BRIEF, _NOTHING, _PLAIN, False, ()),
    # service and task specs: Env, and log driver options as for container.inspect
    Operation("service.list", _READ, _NO_BODY, _BRIEF, _ENV | _CREDENTIALS, _REDACTED, False,
              ()),
    Operation("service.inspect", _READ, _NO_BODY, _BRIEF, _ENV | _CREDENTIALS, _REDACTED,
              False, (_path(_SERVICE, "id"),)),
    Operation("service.create", _WRITE, _JUDGED, _BRIEF, _NOTHING, _PLAIN, False,
              _SERVICE_SPEC),
    Operation("service.update", _WRITE, _JUDGED, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_SERVICE, "id"), *_SERVICE_SPEC)),
    Operation("service.remove", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_SERVICE, "id"),)),
    Operation("service.logs", _EXFIL, _NO_BODY, _LONG, _OUTPUT, _PLAIN, False,
              (_path(_SERVICE, "id"),)),
    Operation("node.list", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("node.inspect", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(Kind.NODE, "id"),)),
    Operation("node.remove", _ADMIN, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(Kind.NODE, "id"),)),
    Operation("node.update", _ADMIN, _JSON, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(Kind.NODE, "id"),)),
    Operation("task.list", _READ, _NO_BODY, _BRIEF, _ENV | _CREDENTIALS, _REDACTED, False, ()),
    Operation("task.inspect", _READ, _NO_BODY, _BRIEF, _ENV | _CREDENTIALS, _REDACTED, False,
              (_path(Kind.TASK, "id"),)),
    Operation("task.logs", _EXFIL, _NO_BODY, _LONG, _OUTPUT, _PLAIN, False,
              (_path(Kind.TASK, "id"),)),
    # a secret's data is never returned; a config's is (Spec.Data, redacted)
    Operation("secret.list", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("secret.create", _ADMIN, _JSON, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("secret.remove", _ADMIN, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(Kind.SECRET, "id"),)),
    Operation("secret.inspect", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(Kind.SECRET, "id"),)),
    Operation("secret.update", _ADMIN, _JSON, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(Kind.SECRET, "id"),)),
    Operation("config.list", _READ, _NO_BODY, _BRIEF, _FILES, _REDACTED, False, ()),
    Operation("config.create", _ADMIN, _JSON, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("config.remove", _ADMIN, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(Kind.CONFIG, "id"),)),
    Operation("config.inspect", _READ, _NO_BODY, _BRIEF, _FILES, _REDACTED, False,
              (_path(Kind.CONFIG, "id"),)),
    Operation("config.update", _ADMIN, _JSON, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(Kind.CONFIG, "id"),)),
    # plugin; a plugin's settings hold its Env
    Operation("plugin.list", _READ, _NO_BODY, _BRIEF, _ENV, _REDACTED, False, ()),
    Operation("plugin.inspect", _READ, _NO_BODY, _BRIEF, _ENV, _REDACTED, False,
              (_path(_PLUGIN),)),
    # the daemon fetches the plugin's configuration from the registry remote names
    Operation("plugin.privileges", _EXFIL, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_query(_PLUGIN, "remote"), _remote(Place.QUERY, "remote"))),
    Operation("plugin.remove", _ADMIN, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_PLUGIN),)),
    Operation("plugin.enable", _ADMIN, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_PLUGIN),)),
    Operation("plugin.disable", _ADMIN, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_PLUGIN),)),
    # the body of pull and upgrade: the privileges the user accepted
    Operation("plugin.pull", _ADMIN, _JUDGED, _LONG, _NOTHING, _PLAIN, False,
              (_query(_PLUGIN, "remote"), _remote(Place.QUERY, "remote"))),
    Operation("plugin.push", _ADMIN, _NO_BODY, _LONG, _NOTHING, _PLAIN, False,
              (_path(_PLUGIN), _remote(Place.PATH, "name"))),
    Operation("plugin.upgrade", _ADMIN, _JUDGED, _LONG, _NOTHING, _PLAIN, False,
              (_path(_PLUGIN), _query(_PLUGIN, "remote"), _remote(Place.QUERY, "remote"))),
    # ["KEY=value", ...], refused whole by the plugin-configuration check without decoding
    Operation("plugin.set", _ADMIN, _JSON, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_PLUGIN),)),
    Operation("plugin.create", _ADMIN, _STREAM, _LONG, _NOTHING, _PLAIN, False, ()),
    # distribution: the daemon asks the registry the name holds for the manifest
    Operation("distribution.inspect", _EXFIL, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_IMAGE), _remote(Place.PATH, "name"))),
    # network
    Operation("network.list", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("network.inspect", _READ, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_NETWORK, "id"),)),
    Operation("network.create", _WRITE, _JUDGED, _BRIEF, _NOTHING, _PLAIN, False,
              (_body(_NETWORK, "ConfigFrom.Network"),)),
    Operation("network.connect", _WRITE, _JSON, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_NETWORK, "id"), _body(_CONTAINER, "Container"),
               _body(_CONTAINER, "EndpointConfig.Links"))),
    Operation("network.disconnect", _WRITE, _JSON, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_NETWORK, "id"), _body(_CONTAINER, "Container"))),
    Operation("network.prune", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("network.remove", _WRITE, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False,
              (_path(_NETWORK, "id"),)),
    # debug; pprof's profile and trace sample for query seconds (30 s by default)
    Operation("debug.vars", _ADMIN, _NO_BODY, _BRIEF, _NOTHING, _PLAIN, False, ()),
    Operation("debug.pprof", _ADMIN, _NO_BODY, _LONG, _NOTHING, _PLAIN, False, ()),
    # grpc: BuildKit's control API, which can export build results to the client
    Operation("grpc", _WRITE, _NO_BODY, _OPAQUE, _FILES, _PLAIN, False, ()),
)
# fmt: on

BY_NAME: Mapping[str, Operation] = MappingProxyType({row.name: row for row in ROWS})

# --- derived: what each consumer asks ------------------------------------------------------

ACCESS: Mapping[str, Access] = MappingProxyType({row.name: row.access for row in ROWS})
"""Each operation's access tag (roles' access selectors, ``policy explain``)."""

PINNED_OPERATIONS: frozenset[str] = frozenset(
    row.name
    for row in ROWS
    if any(
        (ref.kind, ref.place, ref.field, ref.pinning)
        == (Kind.CONTAINER, Place.PATH, "name", Pinning.FULL_ID)
        for ref in row.refs
    )
)
"""Judged on the container their path names and forwarded with that container's full ID
(the relay rewrites them; the profiles' target-container check judges them)."""

JUDGED_JSON_OPERATIONS: frozenset[str] = frozenset(
    row.name for row in ROWS if row.body is Body.JSON_JUDGED
)
"""Operations whose JSON body the policy decodes before deciding."""

REDACTED_OPERATIONS: frozenset[str] = frozenset(
    row.name for row in ROWS if row.redaction is Redaction.SECRETS
)
"""Responses redacted for roles without the ``secrets`` grant."""

HANDSHAKE_OPERATIONS: frozenset[str] = frozenset(row.name for row in ROWS if row.handshake)
"""Every client calls these first (the CLI cannot start without them): every role may."""

OPAQUE_OPERATIONS: frozenset[str] = frozenset(
    row.name for row in ROWS if row.stream is Stream.OPAQUE_TUNNEL
)
"""Tunnels the policy cannot see into: under baseline and restricted, only a role that names
the operation itself (no glob, no access selector) may open one."""

TARGET_ACTIONS: Mapping[str, str] = MappingProxyType(
    {row.name: action for row in ROWS if (action := row.target_action) is not None}
)
"""What an operation does inside the container it is judged on, for refusals."""
