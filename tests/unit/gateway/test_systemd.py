"""sd_notify: one datagram to $NOTIFY_SOCKET (a path or an @abstract name), nothing without it."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockward.gateway.systemd import notify


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory whose socket paths fit in sun_path's 108 bytes, unlike some tmp_paths."""
    path = Path(tempfile.mkdtemp(prefix="dw-sd-", dir="/tmp"))
    yield path
    shutil.rmtree(path)


@pytest.fixture
def listener(short_dir: Path) -> Iterator[socket.socket]:
    """systemd's side: a datagram socket bound to a path."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(short_dir / "notify"))
        sock.settimeout(5)
        yield sock


def test_sends_the_state_to_a_socket_path(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", listener.getsockname())
    assert notify("READY=1") is True
    assert notify("STOPPING=1") is True
    assert listener.recv(4096) == b"READY=1"
    assert listener.recv(4096) == b"STOPPING=1"


def test_an_at_sign_names_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"dockward-test-{os.getpid()}-{os.urandom(4).hex()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("READY=1") is True
        assert sock.recv(4096) == b"READY=1"


@pytest.mark.parametrize("value", [None, ""])
def test_does_nothing_outside_systemd(
    value: str | None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if value is None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert notify("READY=1") is False
    assert caplog.records == []


def test_a_socket_nobody_listens_on_is_logged_not_raised(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(short_dir / "gone"))
    with caplog.at_level(logging.WARNING, logger="dockward"):
        assert notify("READY=1") is False
    assert [r.getMessage() for r in caplog.records] == [
        "could not tell systemd READY=1: [Errno 2] No such file or directory"
    ]


def test_a_vsock_address_is_refused_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    with caplog.at_level(logging.WARNING, logger="dockward"):
        assert notify("READY=1") is False
    assert "only unix sockets are supported" in caplog.text
