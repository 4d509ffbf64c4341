"""Tests of dockward.pki.ca: certificate profiles, files, passphrases, and real TLS peers."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from dockward.errors import UsageError
from dockward.pki.ca import (
    CertificateAuthority,
    ExpiredCAError,
    FileWriteError,
    InvalidNameError,
    IssuedCertificate,
    KeyMismatchError,
    LifetimeError,
    MalformedFileError,
    MissingFileError,
    NotACAError,
    PassphraseError,
    PassphraseRequiredError,
    UnreadableFileError,
    WrongPassphraseError,
    client_uri,
    validate_client_name,
)

NOW = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()


@pytest.fixture(scope="module")
def server(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue_server(["localhost", "127.0.0.1", "::1"])


@pytest.fixture(scope="module")
def client(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue_client("alice")


E = TypeVar("E", bound=x509.ExtensionType)


def ext(cert: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    return cert.extensions.get_extension_for_class(kind)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_zero() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# -- the CA certificate ------------------------------------------------------------------------


def test_ca_is_a_self_signed_p256_ca_limited_to_leaves(ca: CertificateAuthority) -> None:
    cert = ca.cert
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    assert isinstance(ca.key.curve, ec.SECP256R1)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "dockward CA"
    cert.verify_directly_issued_by(cert)

    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is True
    assert constraints.value.path_length == 0

    usage = ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign

    ski = ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(ca.key.public_key())
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest


def test_ca_lifetime_is_backdated_for_clock_skew() -> None:
    ca = CertificateAuthority.create("Test CA", days=10, now=NOW)
    assert ca.cert.not_valid_before_utc == NOW - dt.timedelta(minutes=5)
    assert ca.not_after == NOW + dt.timedelta(days=10)
    assert ca.cert.subject.rfc4514_string() == "CN=Test CA"


def test_serials_are_random_positive_and_at_most_159_bits(ca: CertificateAuthority) -> None:
    serials = [ca.serial] + [ca.issue_client(f"c{i}").serial for i in range(20)]
    assert all(0 < serial < 2**159 for serial in serials)
    assert len(set(serials)) == len(serials)
    # 21 random 159-bit numbers all below 2**120 would mean the serial is not 159 bits wide.
    assert max(serials) >= 2**120


def test_ca_refuses_a_lifetime_below_one_day() -> None:
    with pytest.raises(LifetimeError, match=r"at least 1 \(got 0\)"):
        CertificateAuthority.create(days=0)


# -- server certificates -----------------------------------------------------------------------


def test_server_certificate_profile(ca: CertificateAuthority, server: IssuedCertificate) -> None:
    cert = server.cert
    assert cert.subject.rfc4514_string() == "CN=localhost"
    assert cert.issuer == ca.cert.subject
    cert.verify_directly_issued_by(ca.cert)
    assert cert.serial_number == server.serial
    assert server.not_after == cert.not_valid_after_utc
    assert server.ca_cert == ca.cert

    san = ext(cert, x509.SubjectAlternativeName)
    assert not san.critical
    assert san.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    _assert_leaf_basics(ca, server)


def _assert_leaf_basics(ca: CertificateAuthority, issued: IssuedCertificate) -> None:
    cert = issued.cert
    assert isinstance(issued.key.curve, ec.SECP256R1)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not (usage.value.key_cert_sign or usage.value.crl_sign or usage.value.key_encipherment)
    assert ext(cert, x509.SubjectKeyIdentifier).value == (
        x509.SubjectKeyIdentifier.from_public_key(issued.key.public_key())
    )
    ca_ski = ext(ca.cert, x509.SubjectKeyIdentifier).value.digest
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski
    assert cert.public_key() == issued.key.public_key()


def test_server_names_are_lowercased_and_deduplicated(ca: CertificateAuthority) -> None:
    issued = ca.issue_server(["Gateway.Example.COM", "gateway.example.com", "*.example.com"])
    san = ext(issued.cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gateway.example.com", "*.example.com"]
    assert issued.cert.subject.rfc4514_string() == "CN=gateway.example.com"


def test_server_lifetime_and_backdating(ca: CertificateAuthority) -> None:
    long_lived = CertificateAuthority.create(days=365, now=NOW)
    issued = long_lived.issue_server(["localhost"], days=7, now=NOW)
    assert issued.cert.not_valid_before_utc == NOW - dt.timedelta(minutes=5)
    assert issued.not_after == NOW + dt.timedelta(days=7)


def test_a_first_name_too_long_for_a_cn_leaves_the_subject_empty(
    ca: CertificateAuthority,
) -> None:
    long_name = "a" * 60 + ".example.com"
    issued = ca.issue_server([long_name])
    assert issued.cert.subject == x509.Name([])
    san = ext(issued.cert, x509.SubjectAlternativeName)
    assert san.critical  # RFC 5280 §4.2.1.6 for an empty subject
    assert san.value.get_values_for_type(x509.DNSName) == [long_name]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "a server name cannot be empty"),
        (
            "bad_name",
            "invalid server name 'bad_name': not an IP address or a DNS name "
            "(letters, digits and hyphens in dot-separated labels)",
        ),
        (
            "fe80::1%eth0",
            "invalid server name 'fe80::1%eth0': an IP address in a certificate has no zone",
        ),
    ],
)
def test_invalid_server_names_are_refused_with_a_message(
    ca: CertificateAuthority, name: str, message: str
) -> None:
    with pytest.raises(InvalidNameError) as caught:
        ca.issue_server(["localhost", name])
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "name",
    [
        "-leading.example",
        "trailing-.example",
        "a..b",
        "example.com.",
        "256.1.1.1",
        "10.1",
        "*",
        "*.com",
        "a.*.example.com",
        "x" * 64 + ".example",
        "host name",
        "[::1]",
        "exämple.com",
    ],
)
def test_more_invalid_server_names(ca: CertificateAuthority, name: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid server name"):
        ca.issue_server([name])


def test_a_server_certificate_needs_a_name(ca: CertificateAuthority) -> None:
    with pytest.raises(InvalidNameError, match=r"^a server certificate needs at least one name$"):
        ca.issue_server([])


def test_invalid_names_are_usage_errors() -> None:
    assert issubclass(InvalidNameError, UsageError)


# -- client certificates -----------------------------------------------------------------------


def test_client_certificate_profile(ca: CertificateAuthority, client: IssuedCertificate) -> None:
    cert = client.cert
    assert cert.subject.rfc4514_string() == "CN=alice"
    cert.verify_directly_issued_by(ca.cert)
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    san = ext(cert, x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier("dockward:client:alice")]
    assert client_uri("alice") == "dockward:client:alice"
    _assert_leaf_basics(ca, client)


def test_client_key_pem_is_unencrypted_pkcs8(client: IssuedCertificate) -> None:
    pem = client.key_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    loaded = serialization.load_pem_private_key(pem, None)
    assert loaded.public_key() == client.key.public_key()
    assert client.cert_pem().startswith(b"-----BEGIN CERTIFICATE-----\n")


@pytest.mark.parametrize(
    "name", ["", ".hidden", "..", "a/b", "a b", "x" * 65, "café", "a\nb", "../admin"]
)
def test_unsafe_client_names_are_refused(ca: CertificateAuthority, name: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        ca.issue_client(name)
    assert str(caught.value) == (
        f"invalid client name {name!r}: use 1 to 64 of A-Z a-z 0-9 . _ - "
        "and do not start with a dot"
    )


@pytest.mark.parametrize("name", ["a", "ci-runner", "build_host.2", "x" * 64, "-dash"])
def test_safe_client_names_are_accepted(name: str) -> None:
    assert validate_client_name(name) == name


def test_cryptography_verifier_accepts_each_leaf_for_its_purpose_only(
    ca: CertificateAuthority, server: IssuedCertificate, client: IssuedCertificate
) -> None:
    store = Store([ca.cert])
    client_verifier = PolicyBuilder().store(store).build_client_verifier()
    assert client_verifier.verify(client.cert, []).subjects == [
        x509.UniformResourceIdentifier("dockward:client:alice")
    ]
    with pytest.raises(VerificationError, match="EKU"):
        client_verifier.verify(server.cert, [])

    for name in (
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ):
        chain = PolicyBuilder().store(store).build_server_verifier(name).verify(server.cert, [])
        assert chain[-1] == ca.cert
    with pytest.raises(VerificationError):
        PolicyBuilder().store(store).build_server_verifier(x509.DNSName("localhost")).verify(
            client.cert, []
        )


# -- lifetimes ---------------------------------------------------------------------------------


def test_a_leaf_may_not_outlive_its_ca() -> None:
    short = CertificateAuthority.create(days=10, now=NOW)
    with pytest.raises(LifetimeError) as caught:
        short.issue_server(["localhost"], days=30, now=NOW)
    assert str(caught.value) == (
        "a 30-day certificate would expire on 2030-01-31 12:00:00 UTC, after the CA itself "
        "(2030-01-11 12:00:00 UTC); choose fewer days or rotate the CA"
    )
    with pytest.raises(LifetimeError, match="a 11-day certificate"):
        short.issue_client("alice", days=11, now=NOW)


def test_a_leaf_may_end_exactly_with_its_ca() -> None:
    short = CertificateAuthority.create(days=10, now=NOW)
    issued = short.issue_client("alice", days=10, now=NOW)
    assert issued.not_after == short.not_after


def test_an_expired_ca_issues_nothing() -> None:
    old = CertificateAuthority.create(days=1, now=NOW - dt.timedelta(days=2))
    with pytest.raises(ExpiredCAError, match=r"^the CA certificate expired on 2029-12-31 12:00:00"):
        old.issue_client("alice", days=1, now=NOW)


def test_leaf_lifetime_must_be_positive(ca: CertificateAuthority) -> None:
    with pytest.raises(LifetimeError, match="at least 1"):
        ca.issue_client("alice", days=0)
    with pytest.raises(LifetimeError, match="at least 1"):
        ca.issue_server(["localhost"], days=-5)


# -- files -------------------------------------------------------------------------------------


def test_write_creates_a_0600_key_and_0700_dirs_even_with_umask_0(
    tmp_path: Path, ca: CertificateAuthority, umask_zero: None
) -> None:
    cert_path = tmp_path / "new" / "ca" / "ca.pem"
    key_path = tmp_path / "new" / "ca" / "ca-key.pem"
    ca.write(cert_path, key_path)
    assert mode(key_path) == 0o600
    assert mode(cert_path) == 0o644
    assert mode(tmp_path / "new") == 0o700
    assert mode(tmp_path / "new" / "ca") == 0o700
    assert sorted(p.name for p in cert_path.parent.iterdir()) == ["ca-key.pem", "ca.pem"]


def test_write_replaces_files_without_loosening_existing_dirs(
    tmp_path: Path, ca: CertificateAuthority, server: IssuedCertificate
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    (shared / "key.pem").write_bytes(b"old")
    os.chmod(shared / "key.pem", 0o644)
    server.write(shared / "cert.pem", shared / "key.pem")
    assert mode(shared) == 0o755
    assert mode(shared / "key.pem") == 0o600  # replaced, not rewritten in place
    assert (shared / "key.pem").read_bytes() == server.key_pem()
    assert (shared / "cert.pem").read_bytes() == server.cert_pem()


def test_write_bundle_is_ready_for_docker_cert_path(
    tmp_path: Path, ca: CertificateAuthority, client: IssuedCertificate, umask_zero: None
) -> None:
    bundle = client.write_bundle(tmp_path / "clients" / "alice")
    assert bundle == tmp_path / "clients" / "alice"
    assert mode(bundle) == 0o700
    assert sorted(p.name for p in bundle.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
    assert mode(bundle / "key.pem") == 0o600
    assert (bundle / "ca.pem").read_bytes() == ca.cert_pem()
    assert (bundle / "cert.pem").read_bytes() == client.cert_pem()
    assert (bundle / "key.pem").read_bytes() == client.key_pem()


def test_write_into_a_file_fails_with_one_line(tmp_path: Path, client: IssuedCertificate) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(FileWriteError) as caught:
        client.write_bundle(blocker / "alice")
    assert str(caught.value) == f"cannot create directory {blocker}: a file is in the way"


def test_load_round_trip_without_passphrase(tmp_path: Path, ca: CertificateAuthority) -> None:
    ca.write(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    assert (tmp_path / "ca-key.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    assert loaded.cert == ca.cert
    loaded.issue_client("bob").cert.verify_directly_issued_by(ca.cert)


def test_passphrase_round_trip_and_errors(tmp_path: Path, ca: CertificateAuthority) -> None:
    cert_path, key_path = tmp_path / "ca.pem", tmp_path / "ca-key.pem"
    ca.write(cert_path, key_path, passphrase=b"correct horse")
    pem = key_path.read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert mode(key_path) == 0o600

    loaded = CertificateAuthority.load(cert_path, key_path, b"correct horse")
    assert loaded.key.public_key() == ca.key.public_key()

    with pytest.raises(WrongPassphraseError) as wrong:
        CertificateAuthority.load(cert_path, key_path, b"battery staple")
    assert str(wrong.value) == f"wrong passphrase for CA key {key_path}"

    with pytest.raises(PassphraseRequiredError) as needed:
        CertificateAuthority.load(cert_path, key_path)
    assert str(needed.value) == f"CA key {key_path} is encrypted: a passphrase is needed"


def test_a_passphrase_for_a_plain_key_is_an_error(tmp_path: Path, ca: CertificateAuthority) -> None:
    ca.write(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    with pytest.raises(PassphraseError, match="is not encrypted, but a passphrase was given"):
        CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem", b"x")


def test_an_empty_passphrase_is_refused(tmp_path: Path, ca: CertificateAuthority) -> None:
    with pytest.raises(PassphraseError, match=r"^the passphrase is empty$"):
        ca.write(tmp_path / "ca.pem", tmp_path / "ca-key.pem", passphrase=b"")
    assert not (tmp_path / "ca-key.pem").exists()


def test_load_reports_missing_and_unreadable_files(
    tmp_path: Path, ca: CertificateAuthority
) -> None:
    with pytest.raises(MissingFileError) as missing:
        CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    assert str(missing.value) == f"CA certificate {tmp_path / 'ca.pem'} does not exist"

    (tmp_path / "dir.pem").mkdir()
    with pytest.raises(UnreadableFileError, match=r"^cannot read CA certificate .*dir\.pem: "):
        CertificateAuthority.load(tmp_path / "dir.pem", tmp_path / "ca-key.pem")

    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(MalformedFileError) as junk:
        CertificateAuthority.load(tmp_path / "junk.pem", tmp_path / "ca-key.pem")
    assert str(junk.value) == f"CA certificate {tmp_path / 'junk.pem'} is not a PEM certificate"

    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    with pytest.raises(MissingFileError, match=r"^CA key .*ca-key\.pem does not exist$"):
        CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    (tmp_path / "ca-key.pem").write_text("junk\n")
    with pytest.raises(MalformedFileError, match=r"ca-key\.pem is not a PEM private key$"):
        CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem")


def test_load_refuses_a_leaf_as_ca(tmp_path: Path, server: IssuedCertificate) -> None:
    server.write(tmp_path / "cert.pem", tmp_path / "key.pem")
    with pytest.raises(NotACAError) as caught:
        CertificateAuthority.load(tmp_path / "cert.pem", tmp_path / "key.pem")
    assert str(caught.value) == (
        f"{tmp_path / 'cert.pem'} is not a CA certificate (basicConstraints CA:false)"
    )


def test_load_refuses_a_key_of_another_ca(tmp_path: Path, ca: CertificateAuthority) -> None:
    other = CertificateAuthority.create()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    (tmp_path / "ca-key.pem").write_bytes(other.key_pem())
    with pytest.raises(KeyMismatchError, match=r"ca-key\.pem does not belong to .*ca\.pem$"):
        CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem")


def test_load_refuses_an_expired_ca(tmp_path: Path) -> None:
    old = CertificateAuthority.create(days=1, now=NOW - dt.timedelta(days=2))
    old.write(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    with pytest.raises(ExpiredCAError) as caught:
        CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem", now=NOW)
    assert str(caught.value) == (
        f"the CA certificate {tmp_path / 'ca.pem'} expired on 2029-12-31 12:00:00 UTC"
    )


def test_load_checks_expiry_against_the_clock(tmp_path: Path) -> None:
    last_week = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
    CertificateAuthority.create(days=1, now=last_week).write(
        tmp_path / "ca.pem", tmp_path / "ca-key.pem"
    )
    with pytest.raises(ExpiredCAError, match="expired on"):
        CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem")


# -- cross-checks with OpenSSL -----------------------------------------------------------------

openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")


@pytest.fixture(scope="module")
def pem_dir(
    tmp_path_factory: pytest.TempPathFactory,
    ca: CertificateAuthority,
    server: IssuedCertificate,
    client: IssuedCertificate,
) -> Path:
    directory = tmp_path_factory.mktemp("pems")
    (directory / "ca.pem").write_bytes(ca.cert_pem())
    server.write(directory / "server" / "cert.pem", directory / "server" / "key.pem")
    client.write_bundle(directory / "client")
    return directory


@openssl
@pytest.mark.parametrize(
    ("leaf", "purpose", "accepted"),
    [
        ("client", "sslclient", True),
        ("server", "sslclient", False),
        ("server", "sslserver", True),
        ("client", "sslserver", False),
    ],
)
def test_openssl_verify_checks_the_purpose(
    pem_dir: Path, leaf: str, purpose: str, accepted: bool
) -> None:
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-CAfile",
            str(pem_dir / "ca.pem"),
            "-purpose",
            purpose,
            str(pem_dir / leaf / "cert.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode == 0) is accepted, result.stdout + result.stderr
    if not accepted:
        assert "unsuitable certificate purpose" in result.stdout + result.stderr


@openssl
def test_openssl_reads_the_encrypted_ca_key(tmp_path: Path, ca: CertificateAuthority) -> None:
    ca.write(tmp_path / "ca.pem", tmp_path / "ca-key.pem", passphrase=b"s3cret")
    ok = subprocess.run(
        ["openssl", "pkey", "-in", str(tmp_path / "ca-key.pem"), "-passin", "pass:s3cret"],
        capture_output=True,
        check=False,
    )
    assert ok.returncode == 0
    bad = subprocess.run(
        ["openssl", "pkey", "-in", str(tmp_path / "ca-key.pem"), "-passin", "pass:wrong"],
        capture_output=True,
        check=False,
    )
    assert bad.returncode != 0


# -- a real mutual-TLS handshake on loopback ---------------------------------------------------


def _server_context(pem_dir: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(pem_dir / "server" / "cert.pem", pem_dir / "server" / "key.pem")
    context.load_verify_locations(cafile=pem_dir / "ca.pem")
    return context


def _client_context(ca_file: Path, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=ca_file)
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


def _handshake(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, server_hostname: str
) -> tuple[dict[str, object], bytes | BaseException]:
    """One connection on loopback; returns what the server saw and what the client read."""
    seen: dict[str, object] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        port = listener.getsockname()[1]

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(10)
                with server_context.wrap_socket(conn, server_side=True) as tls:
                    seen["peer"] = tls.getpeercert()
                    tls.sendall(b"welcome")
            except Exception as err:
                seen["error"] = err

        thread = threading.Thread(target=serve)
        thread.start()
        answer: bytes | BaseException
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
                client_context.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                # TLS 1.3 sends the client certificate after the server's Finished: a refusal
                # only shows up when the client reads.
                answer = tls.recv(64)
        except (ssl.SSLError, OSError) as err:
            answer = err
        thread.join(10)
        assert not thread.is_alive()
    return seen, answer


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
def test_mtls_handshake_with_the_issued_client_bundle(pem_dir: Path, server_hostname: str) -> None:
    bundle = pem_dir / "client"
    seen, answer = _handshake(
        _server_context(pem_dir),
        _client_context(bundle / "ca.pem", bundle / "cert.pem", bundle / "key.pem"),
        server_hostname,
    )
    assert answer == b"welcome"
    assert "error" not in seen
    peer = seen["peer"]
    assert isinstance(peer, dict)
    assert peer["subject"] == ((("commonName", "alice"),),)
    assert peer["subjectAltName"] == (("URI", "dockward:client:alice"),)


def test_a_server_certificate_is_refused_as_a_client_certificate(pem_dir: Path) -> None:
    seen, answer = _handshake(
        _server_context(pem_dir),
        _client_context(
            pem_dir / "ca.pem", pem_dir / "server" / "cert.pem", pem_dir / "server" / "key.pem"
        ),
        "localhost",
    )
    assert answer != b"welcome"
    assert "peer" not in seen
    error = seen["error"]
    assert isinstance(error, ssl.SSLError)
    assert "unsuitable certificate purpose" in str(error)


def test_a_client_without_a_certificate_is_refused(pem_dir: Path) -> None:
    seen, answer = _handshake(
        _server_context(pem_dir), _client_context(pem_dir / "ca.pem", None, None), "localhost"
    )
    assert answer != b"welcome"
    assert isinstance(seen.get("error"), ssl.SSLError)


def test_a_client_of_another_ca_is_refused(tmp_path: Path, pem_dir: Path) -> None:
    stranger = CertificateAuthority.create().issue_client("alice")
    stranger.write(tmp_path / "cert.pem", tmp_path / "key.pem")
    seen, answer = _handshake(
        _server_context(pem_dir),
        _client_context(pem_dir / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"),
        "localhost",
    )
    assert answer != b"welcome"
    error = seen.get("error")
    assert isinstance(error, ssl.SSLError)
    assert "certificate verify failed" in str(error)


def test_the_client_refuses_a_server_certificate_without_the_dialled_name(
    pem_dir: Path,
) -> None:
    bundle = pem_dir / "client"
    _, answer = _handshake(
        _server_context(pem_dir),
        _client_context(bundle / "ca.pem", bundle / "cert.pem", bundle / "key.pem"),
        "gateway.example.com",
    )
    assert isinstance(answer, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in str(answer)


# -- lifetimes in hours, key permissions, bundles ----------------------------------------------


def test_hours_add_to_days() -> None:
    ca = CertificateAuthority.create(days=30, now=NOW)
    assert ca.issue_client("a", hours=12, now=NOW).not_after == NOW + dt.timedelta(hours=12)
    assert ca.issue_client("a", days=2, hours=3, now=NOW).not_after == NOW + dt.timedelta(
        days=2, hours=3
    )
    assert ca.issue_server(["h"], days=0, hours=1, now=NOW).not_after == NOW + dt.timedelta(hours=1)
    long_lived = CertificateAuthority.create(days=365, now=NOW)
    assert long_lived.issue_server(["h"], now=NOW).not_after == NOW + dt.timedelta(days=90)
    assert long_lived.issue_client("a", now=NOW).not_after == NOW + dt.timedelta(days=30)


@pytest.mark.parametrize(
    ("days", "hours", "message"),
    [
        (0, 0, "a lifetime must be at least 1 hour (got 0 days and 0 hours)"),
        (None, 0, "a lifetime must be at least 1 hour (got 0 days and 0 hours)"),
        (-1, 5, "a lifetime must be whole, non-negative days and hours (got -1 days, 5 hours)"),
        (0, None, "a lifetime must be a whole number of days, at least 1 (got 0)"),
    ],
)
def test_bad_lifetimes(days: int | None, hours: int | None, message: str) -> None:
    ca = CertificateAuthority.create(days=30, now=NOW)
    with pytest.raises(LifetimeError) as caught:
        ca.issue_client("a", days, hours=hours, now=NOW)
    assert str(caught.value) == message


def test_an_hours_lifetime_that_outlives_the_ca() -> None:
    short = CertificateAuthority.create(days=1, now=NOW)
    with pytest.raises(LifetimeError, match=r"^a 1-day 1-hour certificate would expire"):
        short.issue_client("a", hours=25, now=NOW)
    with pytest.raises(LifetimeError, match=r"^a 2-hour certificate would expire"):
        CertificateAuthority.create(days=1, now=NOW).issue_client(
            "a", hours=2, now=NOW + dt.timedelta(hours=23)
        )


def test_check_key_permissions(tmp_path: Path, client: IssuedCertificate) -> None:
    from dockward.pki.ca import KeyPermissionError, check_key_permissions

    key = tmp_path / "my key.pem"
    client.write(tmp_path / "cert.pem", key)
    check_key_permissions(key)
    for loose in (0o640, 0o604, 0o660, 0o644):
        os.chmod(key, loose)
        with pytest.raises(KeyPermissionError) as caught:
            check_key_permissions(key)
        assert str(caught.value) == (
            f"private key {key} is accessible by group or others (mode {loose:04o}): "
            f"run `chmod 600 '{key}'`"
        )
        assert isinstance(caught.value, UsageError)
    os.chmod(key, 0o400)
    check_key_permissions(key)
    with pytest.raises(MissingFileError, match=r"^private key .*missing\.pem does not exist$"):
        check_key_permissions(tmp_path / "missing.pem")


def test_write_bundle_with_a_trust_bundle(
    tmp_path: Path, ca: CertificateAuthority, client: IssuedCertificate
) -> None:
    other = CertificateAuthority.create("other")
    trust = ca.cert_pem() + other.cert_pem()
    bundle = client.write_bundle(tmp_path / "b", trust_pem=trust)
    assert (bundle / "ca.pem").read_bytes() == trust


def test_load_certificates_and_is_encrypted_key(tmp_path: Path, ca: CertificateAuthority) -> None:
    from dockward.pki.ca import is_encrypted_key, load_certificates

    other = CertificateAuthority.create("other")
    (tmp_path / "bundle.pem").write_bytes(ca.cert_pem() + other.cert_pem())
    assert load_certificates(tmp_path / "bundle.pem") == [ca.cert, other.cert]
    (tmp_path / "junk.pem").write_text("junk\n")
    with pytest.raises(MalformedFileError, match=r"is not a PEM certificate bundle$"):
        load_certificates(tmp_path / "junk.pem", "trust bundle")
    ca.write(tmp_path / "ca.pem", tmp_path / "plain.pem")
    ca.write(tmp_path / "ca.pem", tmp_path / "secret.pem", passphrase=b"pw")
    assert not is_encrypted_key(tmp_path / "plain.pem")
    assert is_encrypted_key(tmp_path / "secret.pem")
    assert not is_encrypted_key(tmp_path / "missing.pem")


def test_load_allow_expired(tmp_path: Path) -> None:
    old = CertificateAuthority.create(days=1, now=NOW - dt.timedelta(days=2))
    old.write(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    loaded = CertificateAuthority.load(
        tmp_path / "ca.pem", tmp_path / "ca-key.pem", now=NOW, allow_expired=True
    )
    assert loaded.cert == old.cert
    with pytest.raises(ExpiredCAError):
        loaded.issue_client("a", now=NOW)
