"""A gateway under systemd (``Type=notify``) says READY=1 once it serves and STOPPING=1 on exit."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.gateway import TestPKI, serving

pytestmark = pytest.mark.e2e


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """systemd's side of $NOTIFY_SOCKET, handed to the gateway process through its environment."""
    directory = tempfile.mkdtemp(prefix="dw-sd-", dir="/tmp")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(Path(directory, "notify")))
            sock.settimeout(15)
            monkeypatch.setenv("NOTIFY_SOCKET", sock.getsockname())
            yield sock
    finally:
        shutil.rmtree(directory)


def test_serve_notifies_ready_then_stopping(pki: TestPKI, notify_socket: socket.socket) -> None:
    with serving(pki, "/nonexistent/docker.sock") as gateway:
        assert gateway.address  # the ready line was printed
        assert notify_socket.recv(4096) == b"READY=1"
        gateway.stop()
        assert gateway.process is not None and gateway.process.returncode == 0
    assert notify_socket.recv(4096) == b"STOPPING=1"
