"""What only the bundled-OpenSSL backend has to get right: its own loading, its revocation
callback failing closed, OpenSSL's error queue and the per-thread scratch buffer."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from dockward.errors import UsageError
from dockward.pki.ca import CertificateAuthority
from dockward.tls import bundled
from dockward.tls.bundled import ffi, lib
from dockward.tls.context import TLSBackend, build_context
from dockward.tls.revocation import RevocationCheck
from dockward.tls.session import HandshakeFailed, TLSServerSession


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create()
    ca.write(root / "ca.pem", root / "ca-key.pem")
    server = ca.issue_server(["localhost"])
    server.write(root / "server.pem", root / "server-key.pem")
    ca.issue_client("alice").write_bundle(root / "alice")
    encrypted = server.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (root / "encrypted-key.pem").write_bytes(encrypted)
    return root


def alice_handshake(pki: Path, server: TLSServerSession) -> bytes:
    """Alice's handshake and a request, as the server saw it (HandshakeFailed if refused)."""
    client_context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    client_context.load_cert_chain(pki / "alice/cert.pem", pki / "alice/key.pem")
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    while True:
        try:
            client.do_handshake()
            break
        except ssl.SSLWantReadError:
            server.receive(outgoing.read())
            incoming.write(server.data_to_send())
    client.write(b"GET /_ping HTTP/1.1\r\n\r\n")
    return server.receive(outgoing.read())


def context(pki: Path, revocation: RevocationCheck | None = None) -> object:
    return build_context(
        TLSBackend.BUNDLED_OPENSSL,
        pki / "server.pem",
        pki / "server-key.pem",
        pki / "ca.pem",
        revocation,
    )


def test_an_encrypted_server_key_is_refused_without_a_prompt(pki):
    # An empty passphrase is tried: usually the padding check fails ("bad decrypt"), but about
    # once in 256 random salts the padding passes and the key's ASN.1 is what fails.
    with pytest.raises(UsageError, match=r"cannot load server certificate .* with key .*: \S"):
        build_context(
            TLSBackend.BUNDLED_OPENSSL,
            pki / "server.pem",
            pki / "encrypted-key.pem",
            pki / "ca.pem",
        )


def test_a_failing_revocation_check_refuses_the_client(pki, monkeypatch, caplog):
    def broken(cert: object) -> int:
        raise RuntimeError("no serial")

    monkeypatch.setattr(bundled, "_serial", broken)
    check = RevocationCheck(
        pki / "crl.pem", frozenset({1}), dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    )
    with caplog.at_level(logging.ERROR, "dockward.tls"), pytest.raises(HandshakeFailed):
        alice_handshake(pki, TLSServerSession(context(pki, check)))  # type: ignore[arg-type]
    assert "revocation check failed, client refused: RuntimeError('no serial')" in caplog.text


def test_a_revocation_check_that_passes_lets_the_client_in(pki):
    check = RevocationCheck(
        pki / "crl.pem", frozenset({1}), dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    )
    server = TLSServerSession(context(pki, check))  # type: ignore[arg-type]
    assert alice_handshake(pki, server) == b"GET /_ping HTTP/1.1\r\n\r\n"


def test_errors_left_on_openssls_queue_by_others_do_not_break_a_session(pki):
    client_context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    client_context.load_cert_chain(pki / "alice/cert.pem", pki / "alice/key.pem")
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    server = TLSServerSession(context(pki))  # type: ignore[arg-type]
    while True:
        try:
            client.do_handshake()
            break
        except ssl.SSLWantReadError:
            server.receive(outgoing.read())
            incoming.write(server.data_to_send())
    server.receive(outgoing.read())
    scratch = lib.SSL_CTX_new(lib.TLS_server_method())
    try:
        assert lib.SSL_CTX_use_certificate_file(scratch, b"/nonexistent", lib.SSL_FILETYPE_PEM) != 1
        assert lib.ERR_peek_error() != 0  # someone else's error, still queued
        client.write(b"GET /_ping HTTP/1.1\r\n\r\n")
        # SSL_get_error would blame the stale error for the read that finds no more records
        assert server.receive(outgoing.read()) == b"GET /_ping HTTP/1.1\r\n\r\n"
    finally:
        lib.SSL_CTX_free(scratch)
        lib.ERR_clear_error()


def test_each_thread_has_its_own_scratch_buffer():
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(bundled.scratch_buffer()))
    thread.start()
    thread.join()
    here = bundled.scratch_buffer()
    assert here is bundled.scratch_buffer()
    assert ffi.addressof(here) != ffi.addressof(seen[0])


def test_a_memory_bio_holding_more_than_the_scratch_buffer_is_drained_whole():
    bio = lib.BIO_new(lib.BIO_s_mem())
    try:
        data = bytes(range(256)) * (bundled.SCRATCH_SIZE // 256) + b"and a tail"
        assert lib.BIO_write(bio, data, len(data)) == len(data)
        assert bundled.drain(bio) == data  # read in two pieces
        assert bundled.drain(bio) == b""
    finally:
        lib.BIO_free(bio)


def test_a_large_write_comes_out_whole(pki):
    # more ciphertext than the scratch buffer holds: drained into a buffer of its own
    client_context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    client_context.load_cert_chain(pki / "alice/cert.pem", pki / "alice/key.pem")
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    server = TLSServerSession(context(pki))  # type: ignore[arg-type]
    while True:
        try:
            client.do_handshake()
            break
        except ssl.SSLWantReadError:
            server.receive(outgoing.read())
            incoming.write(server.data_to_send())
    server.receive(outgoing.read())
    payload = bytes(range(256)) * (3 * bundled.SCRATCH_SIZE // 256)
    ciphertext = server.encrypt(memoryview(payload))
    assert len(ciphertext) > 3 * bundled.SCRATCH_SIZE
    incoming.write(ciphertext)
    received = bytearray()
    while len(received) < len(payload):
        received += client.read(65536)
    assert received == payload


def bundled_client(
    pki: Path,
    server: TLSServerSession,
    groups: bytes = b"X25519",
    *,
    suites: bytes | None = None,
    ciphers: bytes | None = None,
    tls12: bool = False,
) -> object:
    """A client on the bundled OpenSSL offering only ``groups`` (and ``suites``, or for TLS 1.2
    ``ciphers``, in that order), after its handshake with ``server``."""
    ctx = ffi.gc(lib.SSL_CTX_new(lib.TLS_client_method()), lib.SSL_CTX_free)
    assert lib.SSL_CTX_set1_curves_list(ctx, groups) == 1
    if suites is not None:
        assert lib.SSL_CTX_set_ciphersuites(ctx, suites) == 1
    if ciphers is not None:
        assert lib.SSL_CTX_set_cipher_list(ctx, ciphers) == 1
    if tls12:
        assert lib.SSL_CTX_set_max_proto_version(ctx, lib.TLS1_2_VERSION) == 1
    assert lib.SSL_CTX_use_certificate_chain_file(ctx, str(pki / "alice/cert.pem").encode()) == 1
    key = str(pki / "alice/key.pem").encode()
    assert lib.SSL_CTX_use_PrivateKey_file(ctx, key, lib.SSL_FILETYPE_PEM) == 1
    conn = ffi.gc(lib.SSL_new(ctx), lib.SSL_free)
    incoming, outgoing = lib.BIO_new(lib.BIO_s_mem()), lib.BIO_new(lib.BIO_s_mem())
    lib.SSL_set_bio(conn, incoming, outgoing)
    lib.SSL_set_connect_state(conn)
    for _ in range(5):
        lib.SSL_do_handshake(conn)
        lib.ERR_clear_error()
        server.receive(bundled.drain(outgoing))
        answer = server.data_to_send()
        lib.BIO_write(incoming, answer, len(answer))
    return conn


def bundled_client_handshake(pki: Path, server: TLSServerSession, groups: bytes) -> str | None:
    """A TLS 1.3 client on the bundled OpenSSL offering only ``groups``; the group agreed on."""
    conn = bundled_client(pki, server, groups)
    return bundled.text(lib.SSL_get0_group_name(conn)) if server.established else None


@pytest.mark.parametrize(
    ("offered", "agreed"),
    [
        (b"X25519MLKEM768:X25519", "X25519MLKEM768"),
        (b"X25519", "x25519"),
        (b"P-256", "secp256r1"),
        (b"P-384", "secp384r1"),
    ],
)
def test_the_key_exchange_groups_are_gos(pki, offered, agreed):
    server = TLSServerSession(context(pki))  # type: ignore[arg-type]
    assert bundled_client_handshake(pki, server, offered) == agreed


@pytest.mark.parametrize("offered", [b"ffdhe2048", b"ffdhe8192", b"X448"])
def test_costly_or_unusual_groups_are_refused(pki, offered):
    server = TLSServerSession(context(pki))  # type: ignore[arg-type]
    with pytest.raises(HandshakeFailed, match="no suitable key share"):
        bundled_client_handshake(pki, server, offered)


# -- what the server picks and sends, as dockerd's Go does -----------------------------------


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        # the client's order does not decide: AES-128-GCM is Go's first choice
        (b"TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
        (b"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384"),
        # ... unless the client puts ChaCha20 first (no AES instructions): then ChaCha20
        (b"TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
    ],
)
def test_the_tls13_suite_is_picked_in_gos_order(pki, offered, chosen):
    server = TLSServerSession(context(pki))  # type: ignore[arg-type]
    bundled_client(pki, server, suites=offered)
    assert server.established and server.cipher == chosen


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (
            b"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ),
        (
            b"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        ),
    ],
)
def test_the_tls12_suite_is_picked_in_gos_order(pki, offered, chosen):
    server = TLSServerSession(context(pki))  # type: ignore[arg-type]
    # TLS 1.2 ties an ECDSA certificate to the groups offered: P-256 must be among them
    bundled_client(pki, server, b"X25519:P-256", ciphers=offered, tls12=True)
    assert server.established and server.cipher == chosen


def test_python_ssl_clients_get_aes_128_gcm_as_from_dockerd(pki):
    # Python's OpenSSL 3.0 lists AES-256-GCM first; dockerd answers it with AES-128-GCM
    server = TLSServerSession(context(pki))  # type: ignore[arg-type]
    alice_handshake(pki, server)
    assert server.cipher == "TLS_AES_128_GCM_SHA256"


def test_the_server_sends_the_certificates_of_its_file_and_no_more(pki, tmp_path):
    server = TLSServerSession(context(pki))  # type: ignore[arg-type]
    conn = bundled_client(pki, server)
    # the leaf alone: OpenSSL does not add the CA from the verify store (a client must trust it)
    assert server.established and lib.sk_X509_num(lib.SSL_get_peer_cert_chain(conn)) == 1
    # a file that carries a chain is sent whole
    chained = tmp_path / "server-chain.pem"
    chained.write_bytes((pki / "server.pem").read_bytes() + (pki / "ca.pem").read_bytes())
    server = TLSServerSession(
        build_context(TLSBackend.BUNDLED_OPENSSL, chained, pki / "server-key.pem", pki / "ca.pem")  # type: ignore[arg-type]
    )
    conn = bundled_client(pki, server)
    assert server.established and lib.sk_X509_num(lib.SSL_get_peer_cert_chain(conn)) == 2
