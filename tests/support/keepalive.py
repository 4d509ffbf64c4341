"""A keep-alive TLS client for the gateway ``dockward up`` serves: requests one after another
on one connection, so a race loop runs thousands of iterations in seconds."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from pathlib import Path
from typing import Any

from support.up import Up


class KeepAlive:
    """One TLS connection to the gateway ``up`` serves, requests sent one after another."""

    def __init__(self, up: Up, bundle: Path) -> None:
        host, port = up.exported()["DOCKER_HOST"].removeprefix("tcp://").rsplit(":", 1)
        context = ssl.create_default_context(cafile=str(bundle / "ca.pem"))
        context.load_cert_chain(str(bundle / "cert.pem"), str(bundle / "key.pem"))
        raw = socket.create_connection((host, int(port)), timeout=30)
        self.sock = context.wrap_socket(raw, server_hostname=host)

    def request(self, method: str, target: str, body: Any = None) -> tuple[int, Any]:
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {target} HTTP/1.1\r\nHost: docker\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + payload)
        response = http.client.HTTPResponse(self.sock)  # type: ignore[arg-type]
        response.begin()
        data = response.read()
        assert not response.will_close, (response.status, data)
        return response.status, json.loads(data) if data else None

    def message(self, method: str, target: str, body: Any = None) -> tuple[int, str]:
        status, answer = self.request(method, target, body)
        return status, answer["message"] if isinstance(answer, dict) else ""

    def close(self) -> None:
        self.sock.close()
