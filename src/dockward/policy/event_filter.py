"""The second line of defence on ``GET /events`` for a scoped role: an incremental filter.

dockerd is asked for the owner label filter (``tenancy.owner_filters``); this filter checks
every message of the answer again before it reaches the client. The answer is a long-lived
stream of JSON messages, one per line (Go's ``json.Encoder``), in whatever pieces the daemon's
flushes and the sockets make: a message may be split across reads, and several may arrive in
one. A message is passed only when ``Actor.Attributes`` carries the owner label with the
caller's owner: container and image events carry their object's labels there. Volume and
network events carry no labels, and nothing else in them establishes an owner that the
gateway could check without a daemon round trip per event (by which time a name can name
another object): they are dropped, as dockerd's own label filter drops them. So are daemon,
plugin and builder events, messages without an ``Actor``, and lines that are not JSON.

The filter works on the answer's payload (the relay removes the daemon's framing) and frames
its output as the daemon's answer was framed: chunked stays chunked; a Content-Length answer
(never seen from dockerd for events, which streams) becomes close-delimited, since its length
changes. Only whole kept lines are ever sent, never a dropped message's bytes.

Pure: bytes in, bytes out; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from dockward.errors import ProtocolError
from dockward.http1.body import LAST_CHUNK, encode_chunk
from dockward.policy.decision import Decision
from dockward.policy.namespaces import STRIPPED_STREAMS, Namespace, namespace
from dockward.policy.tenancy import FILTERED_STREAMS, OWNER_LABEL

MAX_EVENT_BYTES = 1 << 20
"""The longest message kept while waiting for its end (a container's labels included)."""

_LABEL_BYTES = OWNER_LABEL.encode()


def event_owner(message: object) -> str | None:
    """The owner label in an event's ``Actor.Attributes``, or ``None``."""
    if not isinstance(message, dict):
        return None
    actor = message.get("Actor")
    attributes = actor.get("Attributes") if isinstance(actor, dict) else None
    owner = attributes.get(OWNER_LABEL) if isinstance(attributes, dict) else None
    return owner if isinstance(owner, str) else None


def owned_line(line: bytes, owner: str) -> bool:
    """Whether one message (a line of the stream, without its newline) is ``owner``'s."""
    if _LABEL_BYTES not in line:
        return False  # no owner label anywhere: not parsed
    try:
        message = json.loads(line)
    except ValueError:
        return False
    return event_owner(message) == owner


def streamed_filter(decision: Decision, *, chunked: bool) -> EventStreamFilter | None:
    """The filter for an answer the decision filters as a stream; ``None``: collected whole.

    Under a private name space (``policy.namespaces``) the kept messages lose the owner's
    prefix, and a stats stream is passed line by line for that alone."""
    owner = decision.owner
    if owner is None:
        return None
    space = namespace(owner) if decision.private_names else None
    if decision.operation in FILTERED_STREAMS:
        return EventStreamFilter(owner, chunked=chunked, space=space)
    if space is not None and decision.operation in STRIPPED_STREAMS:
        return EventStreamFilter(owner, chunked=chunked, space=space, keep_all=True)
    return None


class EventStreamFilter:
    """Feed it the payload of an events answer; it returns what the client may be sent."""

    def __init__(
        self,
        owner: str,
        *,
        chunked: bool,
        limit: int = MAX_EVENT_BYTES,
        space: Namespace | None = None,
        keep_all: bool = False,
    ) -> None:
        self.owner = owner
        self.space = space
        self.keep_all = keep_all
        self.chunked = chunked
        self.limit = limit
        self._partial = bytearray()  # the start of a message whose newline has not come

    @property
    def closes(self) -> bool:
        """The answer is delimited by closing the connection (it was not chunked)."""
        return not self.chunked

    def head(self, raw_head: bytes) -> bytes:
        """The response head to send: unchanged when chunked, else without its length."""
        if self.chunked:
            return raw_head
        lines = raw_head[:-4].split(b"\r\n")
        dropped = (b"content-length", b"connection", b"keep-alive")
        kept = [
            line for line in lines[1:] if line.partition(b":")[0].strip().lower() not in dropped
        ]
        return b"\r\n".join([lines[0], *kept, b"Connection: close"]) + b"\r\n\r\n"

    def feed(self, payload: Iterable[bytes | memoryview]) -> list[bytes | memoryview]:
        """The framed bytes to send for these pieces of payload (often none)."""
        kept: list[bytes] = []
        partial = self._partial
        for piece in payload:
            start = 0
            data = bytes(piece)
            while True:
                end = data.find(b"\n", start)
                if end < 0:
                    partial += data[start:]
                    if len(partial) > self.limit:
                        raise ProtocolError(
                            f"an event from the Docker daemon is longer than {self.limit} bytes"
                        )
                    break
                if partial:
                    partial += data[start:end]
                    line = bytes(partial)
                    partial.clear()
                else:
                    line = data[start:end]
                if self.keep_all or owned_line(line, self.owner):
                    kept.append(self._shown(line) + b"\n")
                start = end + 1
        return self._framed(b"".join(kept))

    def finish(self) -> list[bytes | memoryview]:
        """The framed end of the answer: a last message without its newline, the last chunk."""
        line = bytes(self._partial)
        self._partial.clear()
        kept = line and (self.keep_all or owned_line(line, self.owner))
        out = self._framed(self._shown(line) + b"\n") if kept else []
        if self.chunked:
            out.append(LAST_CHUNK)
        return out

    def _shown(self, line: bytes) -> bytes:
        return line if self.space is None else self.space.strip(line)

    def _framed(self, data: bytes) -> list[bytes | memoryview]:
        if not data:
            return []
        return encode_chunk(data) if self.chunked else [data]
