"""A real dockward gateway process for end-to-end tests, plus the certificates around it.

``TestPKI`` makes a CA, a server certificate for localhost/127.0.0.1/::1 and client bundles,
including the wrong ones the negative tests need. ``GatewayProcess`` runs ``python -m dockward
serve --config FILE`` exactly as a user would and reads the bound address from its ready line.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dockward.pki.ca import CertificateAuthority

from .waiting import wait_for

READY = re.compile(r"serving the Docker API on (\S+) \(mutual TLS\)")


def server_tls(pki: Any, **settings: Any) -> dict[str, Any]:
    """A gateway's ``tls`` table for ``pki``'s server certificate and CA bundle (a ``TestPKI``,
    or anything with the same ``server_cert``, ``server_key`` and ``ca_bundle``), plus
    ``settings``."""
    return {
        "cert": str(pki.server_cert),
        "key": str(pki.server_key),
        "ca": str(pki.ca_bundle),
        **settings,
    }


class TestPKI:
    """Certificates for the tests: good ones and each kind of bad one."""

    __test__ = False

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.ca = CertificateAuthority.create("dockward test CA")
        self.ca.write(root / "ca.pem", root / "ca-key.pem")
        server = self.ca.issue_server(["localhost", "127.0.0.1", "::1"])
        server.write(root / "server.pem", root / "server-key.pem")
        self.server_cert = root / "server.pem"
        self.server_key = root / "server-key.pem"
        self.ca_bundle = root / "ca.pem"
        self.client("admin")

    def client(self, name: str, days: int = 30, now: dt.datetime | None = None) -> Path:
        """A client bundle directory (ca.pem, cert.pem, key.pem) signed by the test CA."""
        directory = self.root / "clients" / name
        if not (directory / "cert.pem").exists():
            self.ca.issue_client(name, days=days, now=now).write_bundle(directory)
        return directory

    def foreign_client(self, name: str = "mallory") -> Path:
        """A bundle signed by another CA (its ca.pem is still ours, so the CLI trusts us)."""
        directory = self.root / "foreign" / name
        if not directory.exists():
            other = CertificateAuthority.create("some other CA")
            other.issue_client(name).write_bundle(directory)
            (directory / "ca.pem").write_bytes(self.ca_bundle.read_bytes())
        return directory

    def expired_client(self, name: str = "expired") -> Path:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
        return self.client(name, days=2, now=past)

    def server_as_client(self) -> Path:
        """The server's own certificate used as a client certificate (wrong key usage)."""
        directory = self.root / "server-as-client"
        directory.mkdir(exist_ok=True)
        (directory / "ca.pem").write_bytes(self.ca_bundle.read_bytes())
        (directory / "cert.pem").write_bytes(self.server_cert.read_bytes())
        (directory / "key.pem").write_bytes(self.server_key.read_bytes())
        os.chmod(directory / "key.pem", 0o600)
        return directory


class GatewayProcess:
    """``dockward serve`` in a subprocess, in front of ``upstream``."""

    def __init__(
        self,
        pki: TestPKI,
        upstream: str,
        *,
        listen: str = "127.0.0.1:0",
        allow_networks: list[str] | None = None,
        unix_socket: Path | None = None,
        policy: str | None = None,
        tls: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        environment: dict[str, str] | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.pki = pki
        self.environment = dict(environment or {})  # added to ours for the gateway process
        self.upstream = upstream
        self.dir = _scratch_dir()
        self.access_log = self.dir / "access.log"
        self.log_path = self.dir / "gateway.log"
        self.unix_socket = unix_socket
        listeners: list[dict[str, Any]] = [{"address": listen}]
        if reuse_port:
            listeners[0]["reuse_port"] = True
        if unix_socket is not None:
            listeners.append({"unix": str(unix_socket), "mode": "0600"})
        self.config = self.dir / "dockward.toml"
        self.policy = self.dir / "policy.toml"
        extra = dict(extra or {})
        if policy is not None:
            self.policy.write_text(policy)
            extra["policy"] = str(self.policy)
        self.config.write_text(
            _toml(
                {
                    **extra,
                    "upstream": upstream,
                    "access_log": str(self.access_log),
                    "allow_networks": allow_networks or ["127.0.0.0/8", "::1/128"],
                    "tls": tls or server_tls(pki),
                },
                listeners,
            )
        )
        self.process: subprocess.Popen[str] | None = None
        self.address = ""
        self._lines: list[str] = []

    def start(self) -> GatewayProcess:
        log = open(self.log_path, "w")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dockward", "serve", "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, **self.environment, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        reader = threading.Thread(target=self._read_stdout, daemon=True)
        reader.start()
        wait_for(
            lambda: self.address or self.process.poll() is not None,  # type: ignore[union-attr]
            timeout=30,
            what="the gateway's ready line",
        )
        if not self.address:
            raise RuntimeError(f"dockward serve exited {self.process.returncode}:\n{self.log()}")
        return self

    def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line)
            match = READY.search(line)
            if match and not self.address:
                self.address = match.group(1)

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def env(self, bundle: Path | None = None, host: str | None = None) -> dict[str, str]:
        """Environment for the docker CLI through the gateway with ``bundle`` (admin by default)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_HOST"] = f"tcp://{host or self.address}"
        env["DOCKER_TLS_VERIFY"] = "1"
        env["DOCKER_CERT_PATH"] = str(bundle or self.pki.client("admin"))
        env["DOCKER_CONFIG"] = str(self.dir / "docker-config")
        return env

    def log(self) -> str:
        try:
            return self.log_path.read_text()
        except FileNotFoundError:
            return ""

    def access_entries(self) -> list[dict[str, Any]]:
        try:
            text = self.access_log.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def access_mark(self) -> int:
        """How many access-log lines there are now: ``access_entry(after=...)`` skips them."""
        return len(self.access_entries())

    def access_entry(
        self,
        match: Callable[[dict[str, Any]], bool],
        *,
        what: str,
        after: int = 0,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The last access-log line past ``after`` that ``match`` accepts, once it is written.

        The gateway writes the line after it answers, so a test polls for it; and a shared
        gateway's log holds earlier tests' lines, so ``after`` is a mark taken before the
        request. A source port (see ``source_of``) alone does not name a request: an earlier
        test's connection may have had the same one, and its line would match first.
        """

        def found() -> dict[str, Any] | None:
            return next((e for e in reversed(self.access_entries()[after:]) if match(e)), None)

        return wait_for(found, timeout, what=f"the access-log line for {what}")

    def reload(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serving(pki: TestPKI, upstream: str, **options: Any) -> Iterator[GatewayProcess]:
    """A ``GatewayProcess`` running for the block; afterwards its log must hold no traceback."""
    with GatewayProcess(pki, upstream, **options) as process:
        yield process
    assert "Traceback" not in process.log(), process.log()[-6000:]


_BASE: Path | None = None


def _scratch_dir() -> Path:
    """A directory for one gateway's files, under one base removed when this process exits
    (tests read a gateway's logs after stopping it, so it cannot go with the gateway)."""
    global _BASE
    if _BASE is None:
        _BASE = Path(tempfile.mkdtemp(prefix="dw-gw-"))
        atexit.register(shutil.rmtree, _BASE, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=_BASE))


def _toml(top: dict[str, Any], listeners: list[dict[str, Any]]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)

    lines = []
    tables = []
    for key, v in top.items():
        if isinstance(v, dict):
            tables.append(f"[{key}]\n" + "".join(f"{k} = {value(x)}\n" for k, x in v.items()))
        else:
            lines.append(f"{key} = {value(v)}")
    for listener in listeners:
        tables.append("[[listen]]\n" + "".join(f"{k} = {value(x)}\n" for k, x in listener.items()))
    return "\n".join(lines) + "\n\n" + "\n".join(tables)


def tls_connect(gateway: GatewayProcess, bundle: Path | None) -> ssl.SSLSocket:
    """A raw TLS connection to the gateway, for requests no real client would send."""
    ctx = ssl.create_default_context(cafile=str(gateway.pki.ca_bundle))
    if bundle is not None:
        ctx.load_cert_chain(str(bundle / "cert.pem"), str(bundle / "key.pem"))
    raw = socket.create_connection(("127.0.0.1", gateway.port), timeout=30)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def source_of(sock: ssl.SSLSocket | socket.socket) -> str:
    """The ``source`` the gateway logs for a connection from ``sock``."""
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def read_until_close(sock: ssl.SSLSocket | socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            piece = sock.recv(65536)
        except (ssl.SSLEOFError, ConnectionResetError):
            break
        if not piece:
            break
        chunks.append(piece)
    return b"".join(chunks)
