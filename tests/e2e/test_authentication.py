"""Who gets in: each kind of wrong certificate and a foreign source address is refused."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess

import pytest

from support.dockerd import find_docker_cli
from support.gateway import GatewayProcess, read_until_close, tls_connect
from support.waiting import wait_for

GO_PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)

pytestmark = pytest.mark.e2e


def docker_ps(gateway: GatewayProcess, bundle) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [find_docker_cli(), "ps"], capture_output=True, env=gateway.env(bundle), timeout=60
    )


def test_admin_bundle_gets_in(gateway, pki):
    assert docker_ps(gateway, pki.client("admin")).returncode == 0


def test_no_client_certificate_is_refused_with_an_alert(gateway, pki):
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    ctx = ssl.create_default_context(cafile=str(pki.ca_bundle))
    with (
        pytest.raises(ssl.SSLError) as caught,
        ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        tls.recv(1)
    assert "CERTIFICATE_REQUIRED" in str(caught.value) or "HANDSHAKE_FAILURE" in str(caught.value)


@pytest.mark.parametrize(
    ("which", "cli_says"),
    [
        ("foreign", "unknown certificate authority"),
        ("expired", "expired certificate"),
        ("server_as_client", "unsupported certificate"),
    ],
)
def test_wrong_certificates_are_refused_and_the_cli_says_why(gateway, pki, which, cli_says):
    bundle = {
        "foreign": pki.foreign_client,
        "expired": pki.expired_client,
        "server_as_client": pki.server_as_client,
    }[which]()
    result = docker_ps(gateway, bundle)
    assert result.returncode != 0
    assert cli_says in result.stderr.decode(), result.stderr.decode()
    wait_for(lambda: "TLS handshake" in gateway.log(), what="a log line for the refused handshake")


def test_a_refused_handshake_never_reaches_the_daemon(gateway, pki, dockerd):
    before = dockerd.api_json("GET", "/containers/json?all=1")
    with pytest.raises(ssl.SSLError), tls_connect(gateway, pki.expired_client()) as sock:
        sock.sendall(
            b"POST /containers/create?name=should-not-exist HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )
        sock.recv(1)
    assert dockerd.api("GET", "/containers/should-not-exist/json")[0] == 404
    assert dockerd.api_json("GET", "/containers/json?all=1") == before


def test_the_docker_cli_without_tls_settings_is_told_what_is_wrong(gateway):
    # DOCKER_HOST alone, no DOCKER_TLS_VERIFY: the CLI speaks plain HTTP to the TLS port
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"tcp://127.0.0.1:{gateway.port}"
    env["DOCKER_CONFIG"] = str(gateway.dir / "docker-config")
    result = subprocess.run(
        [find_docker_cli(), "ps"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode != 0
    assert "Client sent an HTTP request to an HTTPS server." in result.stderr, result.stderr


@pytest.mark.parametrize("one_byte_at_a_time", [False, True], ids=["whole", "byte-by-byte"])
def test_plain_http_gets_gos_exact_answer_then_eof(gateway, one_byte_at_a_time):
    request = b"GET /_ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    pieces = [request[i : i + 1] for i in range(len(request))] if one_byte_at_a_time else [request]
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as raw:
        host, port = raw.getsockname()
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in pieces:
            raw.sendall(piece)
        received = b""
        while piece := raw.recv(65536):  # a reset raises here: the answer must end in a FIN
            received += piece
    assert received == GO_PLAIN_HTTP_ANSWER
    line = f"WARNING dockward.gateway: TLS handshake with {host}:{port} failed: plain HTTP request"
    wait_for(lambda: line in gateway.log(), what="the log line for the plain HTTP request")


def test_source_outside_the_allow_list_is_dropped_before_the_handshake(pki, dockerd):
    with GatewayProcess(pki, dockerd.socket_path, allow_networks=["127.0.0.2/32"]) as narrow:
        raw = socket.create_connection(("127.0.0.1", narrow.port), timeout=10)
        try:
            assert read_until_close(raw) == b""  # closed without a single TLS byte
        finally:
            raw.close()
        result = docker_ps(narrow, pki.client("admin"))
        assert result.returncode != 0
        wait_for(
            lambda: "source address not in the allow-list" in narrow.log(),
            what="the refusal log line",
        )


def test_allowed_source_other_than_127_0_0_1(pki, dockerd):
    with GatewayProcess(
        pki, dockerd.socket_path, listen="127.0.0.3:0", allow_networks=["127.0.0.3/32"]
    ) as other:
        ctx = ssl.create_default_context(cafile=str(pki.ca_bundle))
        bundle = pki.client("admin")
        ctx.load_cert_chain(str(bundle / "cert.pem"), str(bundle / "key.pem"))
        raw = socket.create_connection(
            (other.address.split(":")[0], other.port), timeout=10, source_address=("127.0.0.3", 0)
        )
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_until_close(sock).endswith(b"OK")
