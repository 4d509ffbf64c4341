"""Hand-written HTTP/1.1 requests to the gateway, each on its own TLS connection, for the bodies,
spellings and framings no real client sends; and the check of dockward's policy refusal."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass

from .gateway import GatewayProcess, tls_connect


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def message(self) -> str:
        try:
            return str(json.loads(self.body)["message"])
        except (ValueError, KeyError, TypeError):
            return self.body.decode(errors="replace")

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:400]!r})"


def encode_chunks(chunks: list[bytes], extension: bytes = b"") -> bytes:
    return b"".join(b"%x%s\r\n%s\r\n" % (len(c), extension, c) for c in chunks) + b"0\r\n\r\n"


def send_raw(gateway: GatewayProcess, who: str, raw: bytes) -> Reply:
    """Send ``raw`` as client ``who`` of the gateway's TestPKI and read one response."""
    with tls_connect(gateway, gateway.pki.client(who)) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
        response.begin()
        return Reply(response.status, response.headers, response.read())


def send(
    gateway: GatewayProcess,
    who: str,
    method: str,
    target: str,
    body: bytes | dict | list | None = None,
    *,
    content_type: str | None = "application/json",
    headers: tuple[str, ...] = (),
    chunks: list[bytes] | None = None,
) -> Reply:
    """One request (``Connection: close`` unless ``headers`` name one); a dict or list body is
    sent as JSON, ``chunks`` as a chunked body."""
    connection = () if any(h.startswith("Connection:") for h in headers) else ("Connection: close",)
    lines = [f"{method} {target} HTTP/1.1", "Host: docker", *connection, *headers]
    payload = b""
    if chunks is not None:
        lines.append("Transfer-Encoding: chunked")
        payload = encode_chunks(chunks)
    elif body is not None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        lines.append(f"Content-Length: {len(payload)}")
    if content_type is not None and (body is not None or chunks is not None):
        lines.append(f"Content-Type: {content_type}")
    return send_raw(gateway, who, ("\r\n".join(lines) + "\r\n\r\n").encode() + payload)


def assert_denied(reply: Reply, field: str, role: str = "ci", profile: str = "baseline") -> None:
    """``reply`` is dockward's refusal by ``role`` under ``profile``, naming ``field``."""
    assert reply.status == 403, reply
    prefix = f'dockward: denied by role "{role}" (profile {profile}): {field} '
    assert reply.message.startswith(prefix), reply.message
