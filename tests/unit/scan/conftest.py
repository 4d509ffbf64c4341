"""Fixtures for the scanner's unit tests: certificates and tiny loopback servers.

``FakeDocker`` answers like a Docker daemon (``/_ping``, ``/version``, ``/info``, containers)
over plain TCP or TLS, one request per connection, and records every request line so that tests
can check the scanner sent nothing but GETs. Every server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockward.pki.ca import CertificateAuthority

VERSION = {
    "Version": "20.10.24",
    "ApiVersion": "1.41",
    "MinAPIVersion": "1.12",
    "Os": "linux",
    "Arch": "amd64",
    "KernelVersion": "6.1.0",
    "GitCommit": "5d6db84",
    "Components": [
        {"Name": "Engine", "Version": "20.10.24"},
        {"Name": "runc", "Version": "1.1.5"},
    ],
}
INFO = {
    "SecurityOptions": ["name=seccomp,profile=default"],
    "Plugins": {"Authorization": None},
    "LiveRestoreEnabled": False,
    "Warnings": [],
}
PRIVILEGED = {
    "Id": "a" * 64,
    "Name": "/priv",
    "HostConfig": {"Privileged": True},
    "Mounts": [],
}


class PKI:
    """A CA, a server certificate for 127.0.0.1, and a client bundle."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = CertificateAuthority.create("scan test CA")
        self.server = self.ca.issue_server(["localhost", "127.0.0.1"])
        self.server.write(root / "server.pem", root / "server-key.pem")
        (root / "ca.pem").write_bytes(self.server.ca_pem())
        self.bundle = self.ca.issue_client("scanner").write_bundle(root / "client")

    def server_context(self, *, verify: bool = False, legacy: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.root / "server.pem", self.root / "server-key.pem")
        if verify:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.root / "ca.pem")
        if legacy:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = ssl.TLSVersion.TLSv1
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        return context

    def expired_context(self) -> ssl.SSLContext:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
        issued = self.ca.issue_server(["127.0.0.1"], days=2, now=past)
        issued.write(self.root / "old.pem", self.root / "old-key.pem")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.root / "old.pem", self.root / "old-key.pem")
        return context


class FakeDocker:
    """A loopback server that answers the scanner's GETs like dockerd (or like ``routes``)."""

    def __init__(
        self,
        context: ssl.SSLContext | None = None,
        routes: dict[str, Any] | None = None,
        *,
        docker: bool = True,
    ) -> None:
        self.context = context
        self.docker = docker
        self.routes = routes if routes is not None else default_routes()
        self.requests: list[str] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        conn: socket.socket = client
        try:
            client.settimeout(5)
            if self.context is not None:
                conn = self.context.wrap_socket(client, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(4096)
                if not piece:
                    return
                data += piece
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            self.requests.append(line)
            _method, path = line.split(" ")[:2]
            conn.sendall(self._answer(path))
        except (OSError, ValueError):
            pass
        finally:
            conn.close()

    def _answer(self, path: str) -> bytes:
        headers = "Api-Version: 1.41\r\nServer: Docker/20.10.24 (linux)\r\nConnection: close\r\n"
        if not self.docker:
            return b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n"
        if path == "/_ping":
            return f"HTTP/1.1 200 OK\r\n{headers}Content-Length: 2\r\n\r\nOK".encode()
        if path in self.routes:
            body = json.dumps(self.routes[path]).encode()
            head = f"HTTP/1.1 200 OK\r\n{headers}Content-Type: application/json\r\n"
            return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        body = b'{"message":"page not found"}'
        return f"HTTP/1.1 404 Not Found\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def default_routes() -> dict[str, Any]:
    return {
        "/version": VERSION,
        "/info": INFO,
        "/containers/json?all=1": [{"Id": PRIVILEGED["Id"]}],
        f"/containers/{PRIVILEGED['Id']}/json": PRIVILEGED,
    }


@pytest.fixture(scope="session")
def scan_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("scan-pki"))


@pytest.fixture
def fake_docker() -> Iterator[Any]:
    """A factory: ``fake_docker(context=None, routes=None)`` → a started ``FakeDocker``."""
    servers: list[FakeDocker] = []

    def make(
        context: ssl.SSLContext | None = None,
        routes: dict[str, Any] | None = None,
        *,
        docker: bool = True,
    ) -> FakeDocker:
        server = FakeDocker(context, routes, docker=docker)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def _no_docker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's DOCKER_CERT_PATH must not turn every scan into an authenticated one."""
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)


@pytest.fixture
def closed_port() -> int:
    """A port with nothing listening on any address (bound and released a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])
