"""The peers a benchmark run measures beside dockward when they are installed: HAProxy today.

HAProxy runs as Tecnativa's docker-socket-proxy runs it (HTTP mode in front of the daemon's unix
socket), here with mutual TLS on its listener so that it does the same work as dockward and
dockerd's native TLS: the same server certificate, the same CA, a client certificate required.
It is optional: ``apt-get install haproxy`` adds the row, and a run without it says so and goes
on. A peer that cannot carry a transfer (a hijacked exec stream, a half-close) is reported as
broken on that row instead of stopping the run.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from pathlib import Path

from support.waiting import free_port, wait_for

HAPROXY = "haproxy"

_CONFIG = """\
global
    maxconn 4096
    nbthread {threads}

defaults
    mode http
    timeout connect 10s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h

frontend docker
    bind 127.0.0.1:{port} ssl crt {pem} ca-file {ca} verify required ssl-min-ver TLSv1.2
    default_backend dockerd

backend dockerd
    server dockerd {socket}
"""


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def start_haproxy(
    stack: contextlib.ExitStack,
    directory: Path,
    *,
    server_cert: Path,
    server_key: Path,
    ca_bundle: Path,
    socket_path: str,
    threads: int = 2,
) -> tuple[int, int] | None:
    """HAProxy with mutual TLS in front of ``socket_path``: (port, pid), or None if not installed.

    Its files live in ``directory``; the process is stopped when ``stack`` closes.
    """
    binary = shutil.which(HAPROXY)
    if binary is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    pem = directory / "server.pem"  # HAProxy reads certificate and key from one file
    pem.write_bytes(server_cert.read_bytes() + server_key.read_bytes())
    pem.chmod(0o600)
    port = free_port()
    config = directory / "haproxy.cfg"
    config.write_text(
        _CONFIG.format(port=port, pem=pem, ca=ca_bundle, socket=socket_path, threads=threads)
    )
    checked = subprocess.run(
        [binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True, check=False
    )
    if checked.returncode != 0:
        raise RuntimeError(f"haproxy rejected its configuration: {checked.stderr.strip()}")
    process = subprocess.Popen(
        [binary, "-db", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "haproxy.log").open("wb"),
    )
    stack.callback(process.wait)
    stack.callback(process.terminate)
    wait_for(lambda: _accepts(port) or process.poll() is not None, what="haproxy to listen")
    if process.poll() is not None:
        log = (directory / "haproxy.log").read_text(errors="replace").strip()
        raise RuntimeError(f"haproxy exited with {process.returncode}: {log[-2000:]}")
    return port, process.pid


def version() -> str | None:
    """``haproxy -v``'s first line, or None when it is not installed."""
    binary = shutil.which(HAPROXY)
    if binary is None:
        return None
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else None
