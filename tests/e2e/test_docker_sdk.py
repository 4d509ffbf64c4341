"""The Docker SDK for Python through dockward: run, exec with demux, raw attach sockets, load."""

from __future__ import annotations

import io
import os
import socket
import ssl
import tarfile
import threading
import time
import uuid

import pytest

from support.waiting import wait_for

pytestmark = pytest.mark.e2e


def close_attach_socket(sock) -> None:
    """Close a socket from ``attach_socket`` and the HTTP response the SDK keeps behind it."""
    response = getattr(sock, "_response", None)
    sock.close()
    if response is not None:
        response.close()


def test_containers_run_returns_the_output(sdk, busybox_image):
    output = sdk.containers.run(busybox_image, ["sh", "-c", "echo from-sdk"], remove=True)
    assert output == b"from-sdk\n"


def test_exec_run_demux_separates_stdout_and_stderr(sdk, busybox_image, dockerd):
    container = sdk.containers.run(busybox_image, ["sleep", "600"], detach=True)
    try:
        code, (out, err) = container.exec_run(
            ["sh", "-c", "echo out; echo err >&2; exit 5"], demux=True
        )
        assert (code, out, err) == (5, b"out\n", b"err\n")
    finally:
        container.remove(force=True)


def test_attach_socket_carries_stdin_and_stdout(sdk, busybox_image):
    container = sdk.containers.create(busybox_image, ["cat"], stdin_open=True, tty=True)
    try:
        container.start()
        sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
        raw = getattr(sock, "_sock", sock)  # the SDK may wrap the SSLSocket
        raw.settimeout(20)
        raw.sendall(b"ping through the tunnel\n")
        received = b""
        while b"ping through the tunnel" not in received:
            piece = raw.recv(4096)
            assert piece, f"tunnel closed early; got {received!r}"
            received += piece
        close_attach_socket(raw)
    finally:
        container.remove(force=True)


def test_stdin_half_close_with_a_bare_fin(sdk, busybox_image):
    """A client may half-close with a TCP FIN and no close_notify (docker-py's shutdown does)."""
    container = sdk.containers.create(
        busybox_image, ["sh", "-c", "cat; echo EOF-seen"], stdin_open=True
    )
    try:
        sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
        container.start()
        tls = getattr(sock, "_sock", sock)
        tls.settimeout(20)
        tls.sendall(b"line\n")
        # FIN on the TCP socket underneath, keeping the TLS state to read the rest
        plain = socket.socket(fileno=os.dup(tls.fileno()))
        plain.shutdown(socket.SHUT_WR)
        plain.close()
        received = b""
        while True:
            try:
                piece = tls.recv(4096)
            except (ssl.SSLError, OSError):
                break
            if not piece:
                break
            received += piece
        close_attach_socket(tls)
        assert b"line\n" in received and b"EOF-seen" in received, received
    finally:
        container.remove(force=True)


def test_images_load_and_save_round_trip(sdk, busybox_image, dockerd):
    tag = f"dockward-test/sdk-load:{uuid.uuid4().hex[:6]}"
    sdk.images.get(busybox_image).tag(tag)
    data = b"".join(sdk.images.get(tag).save(named=tag))
    assert dockerd.api("DELETE", f"/images/{tag}")[0] == 200
    assert dockerd.api("GET", f"/images/{tag}/json")[0] == 404
    sdk.images.load(data)
    assert dockerd.api("GET", f"/images/{tag}/json")[0] == 200
    dockerd.api("DELETE", f"/images/{tag}")


def test_events_stream_reaches_the_sdk(sdk, busybox_image):
    label = uuid.uuid4().hex
    seen: list[str] = []
    since = int(time.time()) - 1  # replays events from before the stream was set up
    stream = sdk.events(decode=True, filters={"label": f"t={label}"}, since=since)

    def read() -> None:
        for event in stream:
            seen.append(event["Action"])
            if event["Action"] == "destroy":
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    container = sdk.containers.create(busybox_image, ["true"], labels={"t": label})
    container.remove()
    wait_for(lambda: "destroy" in seen, timeout=20, what="create and destroy events")
    stream.close()
    assert seen[:1] == ["create"]


def test_put_archive_and_get_archive(sdk, busybox_image):
    container = sdk.containers.create(busybox_image, ["true"])
    try:
        payload = io.BytesIO()
        with tarfile.open(fileobj=payload, mode="w") as tar:
            info = tarfile.TarInfo("hello.txt")
            info.size = 5
            tar.addfile(info, io.BytesIO(b"hello"))
        assert container.put_archive("/tmp", payload.getvalue())
        stream, stat = container.get_archive("/tmp/hello.txt")
        assert stat["name"] == "hello.txt" and stat["size"] == 5
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile("hello.txt")
            assert member is not None and member.read() == b"hello"
    finally:
        container.remove(force=True)
