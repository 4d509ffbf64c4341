"""The server context on both backends: same refusals (reason and alert), same negotiation.

Each case runs a real handshake over memory BIOs with Python's TLS client against a
``TLSServerSession`` on Python's ssl and on the bundled OpenSSL, and compares what each side saw.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from dockward.errors import UsageError
from dockward.pki.ca import CertificateAuthority, Revocation
from dockward.tls.bundled import BundledServerContext
from dockward.tls.context import (
    BACKEND_VARIABLE,
    DEFAULT_BACKEND,
    RevocationCheck,
    TLSBackend,
    build_context,
    selected_backend,
)
from dockward.tls.session import (
    BundledSession,
    HandshakeFailed,
    PythonSSLSession,
    TLSServerSession,
)

NOW = dt.datetime.now(dt.UTC)


@dataclass
class PKI:
    root: Path
    ca: CertificateAuthority
    revoked_serials: frozenset[int]

    def crl(self, name: str, *, expired: bool = False) -> Path:
        """A CRL file revoking ``revoked_serials`` (valid now, or expired an hour ago)."""
        signed_at = NOW - dt.timedelta(days=2, hours=1) if expired else NOW
        revocations = [Revocation(serial, signed_at) for serial in self.revoked_serials]
        crl = self.ca.sign_crl(revocations, number=1, days=2, now=signed_at)
        path = self.root / name
        path.write_bytes(crl.public_bytes(Encoding.PEM))
        return path

    def context(self, backend: TLSBackend, revocation: RevocationCheck | None = None):
        r = self.root
        return build_context(
            backend, r / "server.pem", r / "server-key.pem", r / "ca.pem", revocation
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    root = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create()
    ca.write(root / "ca.pem", root / "ca-key.pem")
    ca.issue_server(["localhost"]).write(root / "server.pem", root / "server-key.pem")
    ca.issue_client("alice").write_bundle(root / "alice")
    revoked = ca.issue_client("eve")
    revoked.write_bundle(root / "eve")
    past = NOW - dt.timedelta(days=40)
    stale = ca.issue_client("stale", days=30, now=past)  # expired and revoked
    stale.write_bundle(root / "stale")
    ca.issue_client("old", days=30, now=past).write_bundle(root / "old")
    CertificateAuthority.create("another CA").issue_client("mallory").write_bundle(root / "mallory")
    # the server's own certificate presented as a client certificate
    (root / "server-as-client").mkdir()
    (root / "server-as-client" / "cert.pem").write_bytes((root / "server.pem").read_bytes())
    (root / "server-as-client" / "key.pem").write_bytes((root / "server-key.pem").read_bytes())
    return PKI(root, ca, frozenset({revoked.serial, stale.serial}))


@dataclass(frozen=True)
class Outcome:
    server: str  # "ok" or HandshakeFailed.reason
    client: str  # "ok" or the reason of the client's SSLError (the alert it received)
    alpn: str | None = None
    cipher: str | None = None
    peer_der: bytes | None = None


def handshake(
    context: object,
    pki: PKI,
    bundle: str | None,
    *,
    version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
    alpn: list[str] | None = None,
    ciphers: str | None = None,
) -> Outcome:
    client_context = ssl.create_default_context(cafile=str(pki.root / "ca.pem"))
    client_context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:  # an old client, as far as this OpenSSL lets us
        client_context.minimum_version = version
        client_context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if bundle is not None:
        directory = pki.root / bundle
        client_context.load_cert_chain(str(directory / "cert.pem"), str(directory / "key.pem"))
    if alpn is not None:
        client_context.set_alpn_protocols(alpn)
    if ciphers is not None:
        client_context.set_ciphers(ciphers)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    server = TLSServerSession(context)  # type: ignore[arg-type]
    server_outcome = client_outcome = "ok"
    try:
        for _ in range(10):
            try:
                client.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            try:
                server.receive(outgoing.read())
            finally:
                incoming.write(server.data_to_send())
        server.receive(outgoing.read())  # TLS 1.3: the client's certificate comes last
    except HandshakeFailed as failed:
        server_outcome = failed.reason
    incoming.write(server.data_to_send())
    if server.established:
        server.send(b"ok")
        incoming.write(server.data_to_send())
    try:
        client.do_handshake()
        assert client.read(2) == b"ok"
    except ssl.SSLError as err:
        client_outcome = str(err.reason or err).lower()
    if server_outcome != "ok":
        return Outcome(server_outcome, client_outcome)
    return Outcome(
        "ok",
        client_outcome,
        client.selected_alpn_protocol(),
        server.cipher,
        server.peer_certificate_der(),
    )


def on_both(pki: PKI, revocation: RevocationCheck | None, bundle: str | None, **kw) -> Outcome:
    """The outcome on both backends, which must be the same but for the suite (the bundled
    backend picks it in Go's order, Python's ssl leaves it to the client)."""
    python_ssl, bundled = (
        handshake(pki.context(backend, revocation), pki, bundle, **kw) for backend in TLSBackend
    )
    assert dataclasses.replace(bundled, cipher=None) == dataclasses.replace(python_ssl, cipher=None)
    return bundled


def valid_crl(pki: PKI) -> RevocationCheck:
    return RevocationCheck(pki.crl("crl.pem"), pki.revoked_serials, NOW + dt.timedelta(days=2))


# -- refusals: the same reason in the log, the same alert for the client -------------------------

NO_CRL = None


@pytest.mark.parametrize(
    ("bundle", "crl", "server", "client"),
    [
        ("alice", NO_CRL, "ok", "ok"),
        (None, NO_CRL, "peer did not return a certificate", "tlsv13_alert_certificate_required"),
        ("mallory", NO_CRL, "unable to get local issuer certificate", "tlsv1_alert_unknown_ca"),
        ("old", NO_CRL, "certificate has expired", "sslv3_alert_certificate_expired"),
        ("server-as-client", NO_CRL, "unsuitable certificate purpose", "unsupported_certificate"),
        ("alice", "valid", "ok", "ok"),
        ("eve", "valid", "certificate revoked", "sslv3_alert_certificate_revoked"),
        ("stale", "valid", "certificate revoked", "sslv3_alert_certificate_revoked"),
        ("mallory", "valid", "unable to get local issuer certificate", "tlsv1_alert_unknown_ca"),
        ("alice", "none", "unable to get certificate CRL", "tlsv1_alert_unknown_ca"),
        ("alice", "expired", "CRL has expired", "sslv3_alert_certificate_expired"),
    ],
)
def test_both_backends_refuse_alike(pki, bundle, crl, server, client):
    revocation = {
        NO_CRL: None,
        "valid": valid_crl(pki),
        "none": RevocationCheck(None),  # the CRL did not verify: everyone is refused
        "expired": RevocationCheck(
            pki.crl("expired.pem", expired=True), pki.revoked_serials, NOW - dt.timedelta(hours=1)
        ),
    }[crl]
    outcome = on_both(pki, revocation, bundle)
    assert server in outcome.server
    assert client in outcome.client
    if server != "ok":
        assert outcome.server.startswith("certificate verify failed") or bundle is None


def test_tls12_clients_are_refused_alike(pki):
    outcome = on_both(pki, valid_crl(pki), "eve", version=ssl.TLSVersion.TLSv1_2)
    assert "certificate revoked" in outcome.server
    assert "certificate_revoked" in outcome.client
    assert on_both(pki, valid_crl(pki), "alice", version=ssl.TLSVersion.TLSv1_2).server == "ok"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls11_is_refused_alike(pki):
    outcome = on_both(pki, None, "alice", version=ssl.TLSVersion.TLSv1_1)
    assert "unsupported protocol" in outcome.server
    assert "protocol_version" in outcome.client


def test_the_crl_expiring_after_the_load_refuses_the_next_handshake(pki):
    # loaded while valid; the handshake after its nextUpdate is refused (bundled: checked then)
    revocation = RevocationCheck(pki.crl("crl.pem"), frozenset(), NOW - dt.timedelta(seconds=1))
    outcome = handshake(pki.context(TLSBackend.BUNDLED_OPENSSL, revocation), pki, "alice")
    assert "CRL has expired" in outcome.server


# -- negotiation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(None, None), (["h2", "http/1.1"], "http/1.1"), (["http/1.1"], "http/1.1"), (["h2"], None)],
)
def test_alpn_is_http11_or_nothing(pki, offered, chosen):
    outcome = on_both(pki, None, "alice", alpn=offered)
    assert outcome.server == "ok"
    assert outcome.alpn == chosen


@pytest.mark.parametrize(
    ("order", "chosen"),
    [
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        ),
    ],
)
def test_python_ssl_follows_the_clients_cipher_preference(pki, order, chosen):
    # the bundled backend picks in Go's order (test_bundled); Python's ssl cannot set the TLS 1.3
    # list, whose default puts AES-256-GCM first, so it leaves the choice to the client
    context = pki.context(TLSBackend.PYTHON_SSL)
    outcome = handshake(context, pki, "alice", version=ssl.TLSVersion.TLSv1_2, ciphers=order)
    assert outcome.cipher == chosen


@pytest.mark.parametrize("suite", ["ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA"])
def test_tls12_suites_outside_the_list_are_refused(pki, suite):
    outcome = on_both(pki, None, "alice", version=ssl.TLSVersion.TLSv1_2, ciphers=suite)
    assert "no shared cipher" in outcome.server


def test_the_peer_certificate_is_the_clients_der(pki):
    outcome = on_both(pki, valid_crl(pki), "alice")
    assert outcome.peer_der == ssl.PEM_cert_to_DER_cert((pki.root / "alice/cert.pem").read_text())


def test_no_session_is_resumed(pki):
    for backend in TLSBackend:
        context = pki.context(backend)
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            client_context = ssl.create_default_context(cafile=str(pki.root / "ca.pem"))
            client_context.maximum_version = version
            client_context.load_cert_chain(pki.root / "alice/cert.pem", pki.root / "alice/key.pem")
            session = None
            for attempt in range(2):
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                client = client_context.wrap_bio(
                    incoming, outgoing, server_hostname="localhost", session=session
                )
                server = TLSServerSession(context)
                while True:
                    try:
                        client.do_handshake()
                        break
                    except ssl.SSLWantReadError:
                        server.receive(outgoing.read())
                        incoming.write(server.data_to_send())
                server.receive(outgoing.read())
                server.send(b"x")
                incoming.write(server.data_to_send())
                assert client.read(1) == b"x"
                assert not client.session_reused, (backend, version, attempt)
                session = client.session


# -- construction -------------------------------------------------------------------------------


def test_the_session_follows_the_contexts_backend(pki):
    python_ssl = TLSServerSession(pki.context(TLSBackend.PYTHON_SSL))
    bundled = TLSServerSession(pki.context(TLSBackend.BUNDLED_OPENSSL))
    assert isinstance(python_ssl, PythonSSLSession) and isinstance(python_ssl, TLSServerSession)
    assert isinstance(bundled, BundledSession) and isinstance(bundled, TLSServerSession)
    assert isinstance(pki.context(TLSBackend.PYTHON_SSL), ssl.SSLContext)
    assert isinstance(pki.context(TLSBackend.BUNDLED_OPENSSL), BundledServerContext)


def test_the_backend_is_the_default_unless_the_environment_names_one():
    assert DEFAULT_BACKEND is TLSBackend.BUNDLED_OPENSSL
    assert selected_backend({}) is DEFAULT_BACKEND
    assert selected_backend({BACKEND_VARIABLE: ""}) is DEFAULT_BACKEND
    assert selected_backend({BACKEND_VARIABLE: "python-ssl"}) is TLSBackend.PYTHON_SSL
    assert selected_backend({BACKEND_VARIABLE: "bundled-openssl"}) is TLSBackend.BUNDLED_OPENSSL
    with pytest.raises(UsageError, match="use python-ssl, bundled-openssl"):
        selected_backend({BACKEND_VARIABLE: "openssl"})


@pytest.mark.parametrize("backend", list(TLSBackend), ids=lambda backend: backend.value)
def test_unusable_files_are_usage_errors_that_name_them(pki, backend, tmp_path):
    r = pki.root
    with pytest.raises(UsageError, match=r"cannot read server key .*missing\.pem"):
        build_context(backend, r / "server.pem", tmp_path / "missing.pem", r / "ca.pem")
    with pytest.raises(UsageError, match=r"with key .*key values mismatch"):
        build_context(backend, r / "server.pem", r / "alice" / "key.pem", r / "ca.pem")
    (tmp_path / "junk.pem").write_text("not a bundle\n")
    with pytest.raises(UsageError, match=r"cannot load CA bundle .*junk\.pem"):
        build_context(backend, r / "server.pem", r / "server-key.pem", tmp_path / "junk.pem")
