"""The sans-IO TLS record layer, driven against Python's own TLS client over memory BIOs, on
both backends (Python's ssl and the bundled OpenSSL): every test runs on each."""

from __future__ import annotations

import contextlib
import datetime as dt
import ssl
import threading

import pytest

from dockward.pki.ca import CertificateAuthority
from dockward.tls.context import TLSBackend, build_context
from dockward.tls.plain_http import PLAIN_HTTP_ANSWER
from dockward.tls.session import HandshakeFailed, TLSServerSession


@pytest.fixture(params=list(TLSBackend), ids=lambda backend: backend.value)
def backend(request: pytest.FixtureRequest) -> TLSBackend:
    return request.param


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create()
    ca.write(root / "ca.pem", root / "ca-key.pem")
    ca.issue_server(["localhost", "127.0.0.1"]).write(root / "server.pem", root / "server-key.pem")
    ca.issue_client("alice").write_bundle(root / "alice")
    other = CertificateAuthority.create("another CA")
    other.issue_client("mallory").write_bundle(root / "mallory")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    ca.issue_client("old", days=30, now=past).write_bundle(root / "old")
    return root


@pytest.fixture
def server(pki, backend):
    """A new server session on the backend under test, each time it is called."""
    context = build_context(backend, pki / "server.pem", pki / "server-key.pem", pki / "ca.pem")
    return lambda: TLSServerSession(context)


class Client:
    """Python's TLS client over memory BIOs, pumped by hand against a TLSServerSession."""

    def __init__(self, pki, bundle: str | None, version: ssl.TLSVersion | None = None):
        ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        if bundle:
            ctx.load_cert_chain(str(pki / bundle / "cert.pem"), str(pki / bundle / "key.pem"))
        if version:
            ctx.maximum_version = version
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def handshake(self, srv: TLSServerSession) -> None:
        for _ in range(10):
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            srv.receive(self.outgoing.read())
            self.incoming.write(srv.data_to_send())
        # TLS 1.3: the server learns of the client's certificate from the client's last flight
        srv.receive(self.outgoing.read())
        self.incoming.write(srv.data_to_send())

    def read_all(self) -> tuple[bytes, bool]:
        out = b""
        while True:
            try:
                piece = self.obj.read(65536)
            except ssl.SSLWantReadError:
                return out, False
            except ssl.SSLZeroReturnError:
                return out, True
            if not piece:
                return out, True
            out += piece


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_client_half_close_keeps_the_write_side_open(pki, server, version):
    srv = server()
    client = Client(pki, "alice", version)
    client.handshake(srv)
    assert srv.established and srv.version == version.name.replace("_", ".")
    client.obj.write(b"stdin")
    with contextlib.suppress(ssl.SSLWantReadError):
        client.obj.unwrap()  # close_notify, as Go's tls.Conn.CloseWrite
    assert srv.receive(client.outgoing.read()) == b"stdin"
    assert srv.peer_closed
    srv.send(b"late output")
    srv.close_notify()
    client.incoming.write(srv.data_to_send())
    # the client half-closed; the output written after that still reaches it, then our EOF
    assert client.read_all() == (b"late output", True)


def test_server_close_notify_ends_the_clients_stream_and_reading_continues(pki, server):
    srv = server()
    client = Client(pki, "alice")
    client.handshake(srv)
    srv.send(b"output")
    srv.close_notify()
    client.incoming.write(srv.data_to_send())
    assert client.read_all() == (b"output", True)
    client.obj.write(b"more stdin")
    assert srv.receive(client.outgoing.read()) == b"more stdin"


def test_each_send_is_its_own_record(pki, server):
    srv = server()
    client = Client(pki, "alice")
    client.handshake(srv)
    srv.send(b"HTTP/1.1 101 UPGRADED\r\n\r\n")
    srv.send(b"\x01\x00\x00\x00\x00\x00\x00\x02hi")
    client.incoming.write(srv.data_to_send())
    assert client.obj.read(65536) == b"HTTP/1.1 101 UPGRADED\r\n\r\n"
    assert client.obj.read(65536) == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"


def test_every_complete_record_comes_out_of_one_receive(pki, server):
    # a 1 MiB upload in full 16 KiB records plus a short one, all in one delivery
    srv = server()
    client = Client(pki, "alice")
    client.handshake(srv)
    upload = bytes(range(256)) * 4096 + b"tail"
    client.obj.write(upload)
    ciphertext = client.outgoing.read()
    assert srv.receive(ciphertext[:-10]) == upload[: len(upload) - 4]  # last record incomplete
    assert srv.receive(ciphertext[-10:]) == b"tail"


@pytest.mark.parametrize(
    ("bundle", "reason"),
    [
        (None, "certificate"),
        ("mallory", "unable to get local issuer"),
        ("old", "expired"),
    ],
)
def test_refused_handshakes_send_an_alert(pki, server, bundle, reason):
    srv = server()
    client = Client(pki, bundle)
    with pytest.raises(HandshakeFailed) as caught:
        client.handshake(srv)
    assert reason in caught.value.reason
    alert = srv.data_to_send()
    client.incoming.write(alert)
    with pytest.raises(ssl.SSLError) as seen:
        client.obj.do_handshake()
        client.obj.read(1)
    assert "alert" in str(seen.value).lower()


def test_a_server_certificate_is_not_a_client_certificate(pki, server):
    srv = server()
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    ctx.load_cert_chain(str(pki / "server.pem"), str(pki / "server-key.pem"))
    client = Client(pki, None)
    client.obj = ctx.wrap_bio(client.incoming, client.outgoing, server_hostname="localhost")
    with pytest.raises(HandshakeFailed) as caught:
        client.handshake(srv)
    assert "unsuitable certificate purpose" in caught.value.reason


def splits(data: bytes) -> list[list[bytes]]:
    """``data`` whole, one byte at a time, and in two pieces split at every position."""
    return [
        [data],
        [data[i : i + 1] for i in range(len(data))],
        *([data[:i], data[i:]] for i in range(1, len(data))),
    ]


def feed_until_refused(srv: TLSServerSession, pieces: list[bytes]) -> tuple[range, HandshakeFailed]:
    """Feed ``pieces`` until the session refuses; return which bytes the refusing piece held."""
    fed = 0
    for piece in pieces:
        held = range(fed, fed + len(piece))
        fed += len(piece)
        try:
            assert srv.receive(piece) == b""
        except HandshakeFailed as failed:
            return held, failed
        assert srv.data_to_send() == b""  # nothing goes out before the fifth byte
    raise AssertionError("the session never refused")


PLAIN_REQUEST = b"GET /v1.47/containers/json HTTP/1.1\r\nHost: 127.0.0.1:2376\r\n\r\n"


@pytest.mark.parametrize(
    "pieces", splits(PLAIN_REQUEST), ids=lambda p: "/".join(map(str, map(len, p)))
)
def test_a_plain_http_request_gets_gos_400_however_it_arrives(pki, server, pieces):
    srv = server()
    held, failed = feed_until_refused(srv, pieces)
    assert 4 in held  # decided on the fifth byte: not before, and not one piece later
    assert "plain HTTP request" in failed.reason
    assert srv.data_to_send() == PLAIN_HTTP_ANSWER
    assert not srv.established


@pytest.mark.parametrize("start", [b"HEAD /_ping", b"POST /build", b"PUT /x", b"OPTIONS *"])
def test_every_go_request_start_gets_the_answer(pki, server, start):
    srv = server()
    with pytest.raises(HandshakeFailed):
        srv.receive(start + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert srv.data_to_send() == PLAIN_HTTP_ANSWER


@pytest.mark.parametrize("start", [b"DELETE /containers/c HTTP/1.1\r\n\r\n", b"\x00" * 64])
def test_other_non_tls_bytes_are_a_failed_handshake_without_an_http_answer(pki, server, start):
    srv = server()
    with pytest.raises(HandshakeFailed) as caught:
        srv.receive(start)
    assert "plain HTTP" not in caught.value.reason
    assert b"HTTP/" not in srv.data_to_send()


def test_a_client_hello_split_anywhere_still_gets_a_server_hello(pki, server):
    hello_client = Client(pki, "alice")
    with pytest.raises(ssl.SSLWantReadError):
        hello_client.obj.do_handshake()
    hello = hello_client.outgoing.read()
    for pieces in splits(hello):
        srv = server()
        for piece in pieces:
            assert srv.receive(piece) == b""
        assert srv.data_to_send()[:3] == b"\x16\x03\x03", len(pieces[0])  # a ServerHello


def test_a_handshake_fed_one_byte_at_a_time_completes(pki, server):
    srv = server()
    client = Client(pki, "alice")
    for _ in range(10):
        try:
            client.obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        for byte in client.outgoing.read():
            srv.receive(bytes([byte]))
        client.incoming.write(srv.data_to_send())
    for byte in client.outgoing.read():
        srv.receive(bytes([byte]))
    assert srv.established
    client.obj.write(b"GET /_ping HTTP/1.1\r\n\r\n")
    assert srv.receive(client.outgoing.read()) == b"GET /_ping HTTP/1.1\r\n\r\n"


def test_encrypt_owned_gives_ciphertext_that_stays_valid_after_the_plaintext_is_reused(pki, server):
    srv = server()
    client = Client(pki, "alice")
    client.handshake(srv)
    buffer = bytearray(256 * 1024)
    view = memoryview(buffer)
    sent, written = [], []
    for size, fill in ((10, 1), (200 * 1024, 2), (40 * 1024, 3), (256 * 1024, 4)):
        view[:size] = bytes([fill]) * size
        written.append(srv.encrypt_owned(view[:size]))  # large: a buffer of its own
        sent.append(bytes([fill]) * size)
        view[:size] = bytes(size)  # the read buffer is reused at once
    written.append(srv.encrypt(b"after"))
    for piece in written:
        client.incoming.write(bytes(piece))
    assert client.read_all() == (b"".join(sent) + b"after", False)


def test_buffers_grown_by_a_burst_are_given_back_and_the_connection_goes_on(pki, server, backend):
    srv = server()
    client = Client(pki, "alice")
    client.handshake(srv)
    assert not srv.grown
    client.incoming.write(srv.encrypt(bytes(300 * 1024)))  # a burst each way
    client.obj.write(bytes(300 * 1024))
    assert srv.receive(client.outgoing.read()) == bytes(300 * 1024)
    assert client.read_all() == (bytes(300 * 1024), False)
    assert srv.grown is (backend is TLSBackend.BUNDLED_OPENSSL)
    client.obj.write(b"half a record")
    partial = client.outgoing.read()
    assert srv.receive(partial[:-3]) == b""
    assert srv.release_buffers()  # the half record is OpenSSL's, not the BIO's: it survives
    assert not srv.grown
    assert srv.receive(partial[-3:]) == b"half a record"
    client.incoming.write(srv.encrypt(b"after"))  # both directions still work
    assert client.read_all() == (b"after", False)
    client.obj.write(b"more")
    assert srv.receive(client.outgoing.read()) == b"more"
    srv.close_notify()
    client.incoming.write(srv.data_to_send())
    assert client.read_all() == (b"", True)


def stepped_handshake(client: Client, srv: TLSServerSession) -> bool | str:
    """The handshake as the gateway's threads drive it: ``feed`` here, each
    ``handshake_step`` on a thread of its own; the first outcome other than False."""
    outcomes: list[bool | str] = []
    for _ in range(10):
        with contextlib.suppress(ssl.SSLWantReadError):
            client.obj.do_handshake()
        if srv.feed(client.outgoing.read()):
            worker = threading.Thread(target=lambda: outcomes.append(srv.handshake_step()))
            worker.start()
            worker.join()
            if outcomes[-1] is not False:
                return outcomes[-1]
        client.incoming.write(srv.data_to_send())
    raise AssertionError(f"no outcome after 10 flights: {outcomes}")


@pytest.mark.parametrize("bundle", ["alice", None, "mallory", "old"])
def test_a_handshake_stepped_on_another_thread_ends_as_receive_ends_it(pki, server, bundle):
    inline, stepped = server(), server()
    try:
        Client(pki, bundle).handshake(inline)
        expected: bool | str = True
    except HandshakeFailed as failed:
        expected = failed.reason
    client = Client(pki, bundle)
    assert stepped_handshake(client, stepped) == expected
    if expected is True:
        stepped.established = True  # the caller's part, on its own thread
        client.incoming.write(stepped.data_to_send())
        client.obj.write(b"ping")
        assert stepped.receive(client.outgoing.read()) == b"ping"
        client.incoming.write(stepped.encrypt(b"pong"))
        assert client.read_all() == (b"pong", False)
    else:
        client.incoming.write(stepped.data_to_send())  # OpenSSL's alert, as receive sends it
        with pytest.raises(ssl.SSLError, match=r"(?i)alert"):
            client.obj.do_handshake()
            client.obj.read(1)


def test_feed_answers_plain_http_before_any_step(pki, server):
    srv = server()
    assert srv.feed(b"GET ") is False
    with pytest.raises(HandshakeFailed, match="plain HTTP"):
        srv.feed(b"/_ping HTTP/1.1\r\n\r\n")
    assert srv.data_to_send() == PLAIN_HTTP_ANSWER
