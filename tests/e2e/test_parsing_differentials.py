"""Parsing differentials with Go, attacked end to end: the daemon's own effects decide.

A Content-Type that Go's ``mime.ParseMediaType`` reads as a form (``applİcation/...`` with
U+0130, which Go's ``ToLower`` makes an "i"; a leading U+3000, which Go's ``TrimSpace``
removes) makes dockerd read the body into ``r.Form``, where body values win over the query. The
gateway must refuse such a request before it reaches the daemon, and the daemon must show no
effect: no input reaches a container's stdin, no image is imported, no connection is made to a
URL. Each test first attacks, then proves its witness works with the same action done directly
on the daemon's socket; the attack's trace would have come first.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.gateway import GatewayProcess, read_until_close, serving, tls_connect
from support.waiting import wait_for

pytestmark = pytest.mark.e2e

POLICY = """
[[role]]
name = "ci"
preset = "ci"
profile = "baseline"
clients = ["cn:ci-*"]
"""

FORM_SPELLINGS = {
    "dotted-capital-i": "applİcation/x-www-form-urlencoded",
    "ideographic-space": "\u3000application/x-www-form-urlencoded",
    "plain": "application/x-www-form-urlencoded",
}
MULTIPART_SPELLINGS = {
    "multipart-dotted-capital-i": "multİpart/form-data; boundary=zz",
    "multipart": "multipart/form-data; boundary=zz",
}


def unique(what: str) -> str:
    return f"dw-pd-{what}-{uuid.uuid4().hex[:6]}"


def request_bytes(
    target: str, content_type: str | None, body: bytes, *, upgrade: bool = False
) -> bytes:
    lines = [f"POST {target} HTTP/1.1", "Host: docker"]
    if upgrade:
        lines += ["Connection: Upgrade", "Upgrade: tcp"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_head(sock: socket.socket) -> tuple[int, bytes]:
    """The status code of one response, and the bytes read so far (its head, maybe more)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(4096)
        if not piece:
            break
        data += piece
    return int(data.split(b" ", 2)[1]), data


def hijack_and_write(sock: socket.socket, request: bytes, payload: bytes) -> tuple[int, bytes]:
    """Send an attach request; when the stream opens (101 or 200), write ``payload`` to it.

    Returns the status and, for any other status, the whole answer (the gateway closes).
    """
    with sock:
        sock.sendall(request)
        status, head = read_head(sock)
        if status in (101, 200):
            sock.sendall(payload)
            return status, head
        return status, head + read_until_close(sock)


def multipart_body(fields: dict[str, str]) -> bytes:
    parts = "".join(
        f'--zz\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    )
    return (parts + "--zz--\r\n").encode()


@pytest.fixture(scope="module")
def gw(pki, dockerd) -> Iterator[GatewayProcess]:
    with serving(pki, dockerd.socket_path, policy=POLICY) as process:
        yield process


# --- attach: stdin=1 in a form body ---------------------------------------------------------


@pytest.fixture
def stdin_witness(dockerd, busybox_image, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A running container, made by an administrator, that mounts a host directory and copies
    its stdin to a file there: a role may attach to its output, never to its input."""
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    name = unique("stdin-witness")
    body = {
        "Image": busybox_image,
        "Cmd": ["sh", "-c", "cat > /host/stdin.txt"],
        "OpenStdin": True,
        "HostConfig": {"Binds": [f"{host_dir}:/host"]},
    }
    dockerd.api_json("POST", f"/containers/create?name={name}", body)
    try:
        dockerd.api_json("POST", f"/containers/{name}/start")
        witness = host_dir / "stdin.txt"
        wait_for(witness.exists, timeout=30, what="the witness container's output file")
        yield name, witness
    finally:
        dockerd.api("DELETE", f"/containers/{name}?force=1")


def _prove_stdin_witness_works(dockerd, name: str, witness: Path) -> None:
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.settimeout(30)
    unix.connect(dockerd.socket_path)
    control = request_bytes(
        f"/containers/{name}/attach?stream=1&stdin=1", "text/plain", b"", upgrade=True
    )
    status, head = hijack_and_write(unix, control, b"CONTROL-LINE\n")
    assert status in (101, 200), head
    wait_for(lambda: b"CONTROL-LINE" in witness.read_bytes(), timeout=30, what="control line")


@pytest.mark.parametrize("spelling", sorted(FORM_SPELLINGS) + sorted(MULTIPART_SPELLINGS))
def test_stdin_in_a_form_body_never_reaches_the_container(
    spelling, gw, dockerd, stdin_witness
) -> None:
    name, witness = stdin_witness
    content_type = {**FORM_SPELLINGS, **MULTIPART_SPELLINGS}[spelling]
    body = multipart_body({"stdin": "1"}) if "multipart" in spelling else b"stdin=1"
    # stdin is absent from the query: the policy's stdin check (the container mounts a host
    # directory) does not run; to dockerd, r.Form has stdin=1 from the body.
    attack = request_bytes(
        f"/v1.41/containers/{name}/attach?stream=1&stdout=1", content_type, body, upgrade=True
    )
    status, answer = hijack_and_write(
        tls_connect(gw, gw.pki.client("ci-1")), attack, b"ATTACK-LINE\n"
    )
    assert status == 415, answer
    assert b"form-encoded and multipart bodies are not accepted" in answer
    _prove_stdin_witness_works(dockerd, name, witness)
    assert b"ATTACK-LINE" not in witness.read_bytes()


# --- images/create: fromSrc=URL in a form body ----------------------------------------------


class _Recorder(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.request_lines: list[bytes] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _RecordingHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(10)
        data = b""
        try:
            while b"\r\n" not in data:
                piece = self.request.recv(4096)
                if not piece:
                    break
                data += piece
        except OSError:
            pass
        server = self.server
        assert isinstance(server, _Recorder)
        server.request_lines.append(data.split(b"\r\n", 1)[0])
        with contextlib.suppress(OSError):
            self.request.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    """A listener on the loopback that records the request line of every connection."""
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("spelling", sorted(FORM_SPELLINGS))
def test_from_src_in_a_form_body_fetches_nothing_and_imports_nothing(
    spelling, gw, dockerd, recorder
) -> None:
    repo = f"dockward-test/{unique('form-import')}"
    url = f"http://127.0.0.1:{recorder.port}/attack.tar"
    # The query asks for an import from the request body (allowed); the form body names a URL.
    attack = request_bytes(
        f"/v1.41/images/create?fromSrc=-&repo={repo}",
        FORM_SPELLINGS[spelling],
        f"fromSrc={url}".encode(),
    )
    with tls_connect(gw, gw.pki.client("ci-1")) as sock:
        sock.sendall(attack)
        try:
            status, head = read_head(sock)
            answer = head + read_until_close(sock)
        except TimeoutError:  # a forwarded import can keep the daemon busy for long
            status, answer = 0, b"(no answer)"
    attack_lines = [line for line in recorder.request_lines if b"/attack.tar" in line]
    assert not attack_lines, f"the daemon fetched the URL of the form body: {attack_lines}"
    assert status == 415, answer
    assert b"form-encoded and multipart bodies are not accepted" in answer
    assert dockerd.api("GET", f"/images/{repo}/json")[0] == 404
    # The witness works: the same fetch straight on the daemon's socket reaches the listener.
    control = f"http://127.0.0.1:{recorder.port}/control.tar"
    dockerd.api("POST", f"/images/create?fromSrc={control}&repo={repo}-control")
    wait_for(
        lambda: any(b"/control.tar" in line for line in recorder.request_lines),
        timeout=30,
        what="the daemon's control fetch",
    )
    assert not any(b"/attack.tar" in line for line in recorder.request_lines)
    assert dockerd.api("GET", f"/images/{repo}/json")[0] == 404
