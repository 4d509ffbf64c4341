"""Tests of CRLs: signing (dockward.pki.ca), reading for the gateway (dockward.pki.crl), and what
Python's ssl does with the file in a real mutual-TLS handshake."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from dockward.errors import UsageError
from dockward.pki import lifecycle
from dockward.pki.ca import CertificateAuthority, MissingFileError, PKIError, Revocation
from dockward.pki.crl import (
    CRLExpiredError,
    CRLSignatureError,
    IncompleteCRLError,
    MalformedCRLError,
    MissingCRLError,
    RevocationList,
    RevocationListError,
    encode_crls,
    load_revocation_list,
    parse_reason,
)
from dockward.pki.state import StateDir
from support.handshake import server_verdict

NOW = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create(days=365, now=NOW)


def write(tmp_path: Path, ca: CertificateAuthority, *crls: x509.CertificateRevocationList) -> Path:
    (tmp_path / "bundle.pem").write_bytes(ca.cert_pem())
    (tmp_path / "crl.pem").write_bytes(encode_crls(crls))
    return tmp_path / "crl.pem"


# -- signing -----------------------------------------------------------------------------------


def test_sign_crl_makes_a_v2_crl_with_number_aki_and_reasons(ca: CertificateAuthority) -> None:
    crl = ca.sign_crl(
        [
            Revocation(7, NOW - dt.timedelta(hours=1), x509.ReasonFlags.key_compromise),
            Revocation(2**158 + 1, NOW),
        ],
        number=4,
        days=10,
        now=NOW,
    )
    assert crl.is_signature_valid(ca.cert.public_key())  # type: ignore[arg-type]
    assert crl.issuer == ca.cert.subject
    assert crl.last_update_utc == NOW - dt.timedelta(minutes=5)
    assert crl.next_update_utc == NOW + dt.timedelta(days=10)
    assert isinstance(crl.signature_hash_algorithm, hashes.SHA256)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 4
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    revoked = crl.get_revoked_certificate_by_serial_number(7)
    assert revoked is not None
    assert revoked.revocation_date_utc == NOW - dt.timedelta(hours=1)
    reason = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    big = crl.get_revoked_certificate_by_serial_number(2**158 + 1)
    assert big is not None
    # RFC 5280: no reason code extension for "unspecified".
    assert len(big.extensions) == 0


def test_an_expired_ca_signs_no_crl() -> None:
    old = CertificateAuthority.create(days=1, now=NOW - dt.timedelta(days=3))
    with pytest.raises(PKIError, match=r"^the CA certificate expired on 2029-12-30 12:00:00 UTC$"):
        old.sign_crl([], number=1, now=NOW)


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("keyCompromise", x509.ReasonFlags.key_compromise),
        ("key-compromise", x509.ReasonFlags.key_compromise),
        ("KEY_COMPROMISE", x509.ReasonFlags.key_compromise),
        ("superseded", x509.ReasonFlags.superseded),
        ("cessation-of-operation", x509.ReasonFlags.cessation_of_operation),
        ("unspecified", x509.ReasonFlags.unspecified),
    ],
)
def test_parse_reason(text: str, flag: x509.ReasonFlags) -> None:
    assert parse_reason(text) is flag


@pytest.mark.parametrize("text", ["certificateHold", "removeFromCRL", "aACompromise", "lost"])
def test_parse_reason_refuses_others(text: str) -> None:
    with pytest.raises(PKIError) as caught:
        parse_reason(text)
    assert str(caught.value) == (
        f"unknown revocation reason {text!r}: use one of unspecified, keyCompromise, "
        "cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn"
    )


# -- load_revocation_list ----------------------------------------------------------------------


def test_load_returns_serials_and_dates(tmp_path: Path, ca: CertificateAuthority) -> None:
    crl = ca.sign_crl(
        [Revocation(11, NOW, x509.ReasonFlags.superseded), Revocation(12, NOW)],
        number=1,
        days=30,
        now=NOW,
    )
    path = write(tmp_path, ca, crl)
    loaded = load_revocation_list(path, tmp_path / "bundle.pem", now=NOW)
    assert loaded == RevocationList(
        path=path,
        revoked=frozenset({11, 12}),
        this_update=NOW - dt.timedelta(minutes=5),
        next_update=NOW + dt.timedelta(days=30),
        issuers=(f"'dockward CA' (serial {ca.serial:040x})",),
    )
    assert loaded.is_revoked(11) and not loaded.is_revoked(13)
    assert loaded.reasons == {
        11: x509.ReasonFlags.superseded,
        12: x509.ReasonFlags.unspecified,
    }
    # Two thirds of the validity, as step-ca renews.
    assert (
        loaded.refresh_at == loaded.this_update + (loaded.next_update - loaded.this_update) * 2 / 3
    )
    assert not loaded.needs_refresh(NOW + dt.timedelta(days=19))
    assert loaded.needs_refresh(NOW + dt.timedelta(days=21))


def test_errors_are_usage_errors_that_say_what_to_run(tmp_path: Path) -> None:
    assert issubclass(RevocationListError, UsageError)
    state = StateDir(tmp_path / "state")
    state.create_ca(now=NOW)
    state.crl_path.unlink()
    with pytest.raises(MissingCRLError) as caught:
        load_revocation_list(state.crl_path, state.ca_bundle, now=NOW)
    assert str(caught.value) == (
        f"no CRL at {state.crl_path}: run `dockward ca crl --state-dir {state.path}` to write one"
    )


def test_a_missing_crl_outside_a_state_dir(tmp_path: Path, ca: CertificateAuthority) -> None:
    (tmp_path / "bundle.pem").write_bytes(ca.cert_pem())
    with pytest.raises(MissingCRLError) as caught:
        load_revocation_list(tmp_path / "revoked.pem", tmp_path / "bundle.pem", now=NOW)
    assert str(caught.value) == (
        f"no CRL at {tmp_path / 'revoked.pem'}: run `dockward ca crl` to write one"
    )


def test_a_missing_bundle(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError) as caught:
        load_revocation_list(tmp_path / "crl.pem", tmp_path / "bundle.pem")
    assert str(caught.value) == f"trust bundle {tmp_path / 'bundle.pem'} does not exist"


def test_an_expired_crl(tmp_path: Path, ca: CertificateAuthority) -> None:
    path = write(tmp_path, ca, ca.sign_crl([], number=1, days=1, now=NOW))
    load_revocation_list(path, tmp_path / "bundle.pem", now=NOW + dt.timedelta(hours=23))
    with pytest.raises(CRLExpiredError) as caught:
        load_revocation_list(path, tmp_path / "bundle.pem", now=NOW + dt.timedelta(days=1))
    assert str(caught.value) == (
        f"CRL {path} expired on 2030-01-02 12:00:00 UTC (nextUpdate): "
        "run `dockward ca crl` to re-sign it"
    )


def test_a_crl_from_the_future(tmp_path: Path, ca: CertificateAuthority) -> None:
    path = write(tmp_path, ca, ca.sign_crl([], number=1, now=NOW))
    with pytest.raises(CRLExpiredError) as caught:
        load_revocation_list(path, tmp_path / "bundle.pem", now=NOW - dt.timedelta(hours=1))
    assert str(caught.value) == (
        f"CRL {path} is not valid before 2030-01-01 11:55:00 UTC: check this host's clock, "
        "or run `dockward ca crl`"
    )


def test_a_crl_signed_by_another_key(tmp_path: Path, ca: CertificateAuthority) -> None:
    impostor = CertificateAuthority.create(days=365, now=NOW)  # same subject, other key
    path = write(tmp_path, ca, impostor.sign_crl([], number=1, now=NOW))
    with pytest.raises(CRLSignatureError) as caught:
        load_revocation_list(path, tmp_path / "bundle.pem", now=NOW)
    assert str(caught.value) == (
        f"CRL {path} has a CRL from 'CN=dockward CA' that no CA in {tmp_path / 'bundle.pem'} "
        "signed: run `dockward ca crl` to re-sign it"
    )


def test_every_ca_of_the_bundle_needs_a_crl(tmp_path: Path, ca: CertificateAuthority) -> None:
    other = CertificateAuthority.create("dockward CA 2", days=365, now=NOW)
    (tmp_path / "bundle.pem").write_bytes(other.cert_pem() + ca.cert_pem())
    (tmp_path / "crl.pem").write_bytes(encode_crls([ca.sign_crl([], number=1, now=NOW)]))
    with pytest.raises(IncompleteCRLError) as caught:
        load_revocation_list(tmp_path / "crl.pem", tmp_path / "bundle.pem", now=NOW)
    assert str(caught.value) == (
        f"CRL {tmp_path / 'crl.pem'} has no CRL from CA 'dockward CA 2' "
        f"(serial {other.serial:040x}) of {tmp_path / 'bundle.pem'}: "
        "run `dockward ca crl` to re-sign it"
    )
    (tmp_path / "crl.pem").write_bytes(
        encode_crls(
            [
                ca.sign_crl([Revocation(5, NOW)], number=1, days=3, now=NOW),
                other.sign_crl([Revocation(6, NOW)], number=1, days=2, now=NOW),
            ]
        )
    )
    both = load_revocation_list(tmp_path / "crl.pem", tmp_path / "bundle.pem", now=NOW)
    assert both.revoked == {5, 6}
    assert both.next_update == NOW + dt.timedelta(days=2)  # the earliest one


def test_a_crl_of_a_ca_outside_the_bundle_is_skipped(
    tmp_path: Path, ca: CertificateAuthority
) -> None:
    # What a reloading gateway may read between the two writes of a rotation or a retirement.
    other = CertificateAuthority.create("dockward CA 2", days=365, now=NOW)
    path = write(
        tmp_path,
        ca,
        other.sign_crl([Revocation(6, NOW)], number=1, days=1, now=NOW),
        ca.sign_crl([Revocation(5, NOW)], number=1, days=3, now=NOW),
    )
    crl = load_revocation_list(path, tmp_path / "bundle.pem", now=NOW)
    assert crl.revoked == {5}
    assert crl.next_update == NOW + dt.timedelta(days=3)
    assert crl.issuers == (f"'dockward CA' (serial {ca.serial:040x})",)


@pytest.mark.parametrize(
    "content", [b"", b"garbage\n", b"-----BEGIN X509 CRL-----\nAA==\n-----END X509 CRL-----\n"]
)
def test_a_malformed_crl(tmp_path: Path, ca: CertificateAuthority, content: bytes) -> None:
    (tmp_path / "bundle.pem").write_bytes(ca.cert_pem())
    (tmp_path / "crl.pem").write_bytes(content)
    with pytest.raises(MalformedCRLError) as caught:
        load_revocation_list(tmp_path / "crl.pem", tmp_path / "bundle.pem", now=NOW)
    assert str(caught.value) == (
        f"CRL {tmp_path / 'crl.pem'} does not hold a PEM CRL: run `dockward ca crl` to write "
        "a new one"
    )


# -- the CRL file in a real handshake ----------------------------------------------------------


def _gateway_context(state: StateDir) -> ssl.SSLContext:
    # What the gateway is expected to do with StateDir.ca_bundle and StateDir.crl_path.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    context.load_cert_chain(state.server_cert, state.server_key)
    context.load_verify_locations(cafile=state.ca_bundle)
    context.load_verify_locations(cafile=state.crl_path)
    return context


def test_python_ssl_refuses_a_revoked_client_with_the_crl_file(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    state.bootstrap(["localhost"])
    lifecycle.issue_client(state, "alice")
    lifecycle.issue_client(state, "mallory")
    lifecycle.revoke(state, "mallory", reason=x509.ReasonFlags.key_compromise)
    context = _gateway_context(state)
    assert server_verdict(context, state.client_dir("alice")) == "ok"
    assert "certificate revoked" in server_verdict(context, state.client_dir("mallory"))


def test_python_ssl_accepts_both_cas_during_a_rotation(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    state.bootstrap(["localhost"])
    lifecycle.issue_client(state, "old-client")
    old_bundle = tmp_path / "old-client"
    shutil.copytree(state.client_dir("old-client"), old_bundle)
    lifecycle.issue_client(state, "old-revoked")
    lifecycle.rotate(state)
    lifecycle.revoke(state, "old-revoked")  # its bundle is now under the new CA: revoke both
    lifecycle.issue_client(state, "new-client")
    context = _gateway_context(state)
    assert server_verdict(context, old_bundle) == "ok"  # old CA, old ca.pem, old server cert
    assert server_verdict(context, state.client_dir("new-client")) == "ok"
    assert server_verdict(context, state.client_dir("old-client")) == "ok"  # reissued
    assert "certificate revoked" in server_verdict(context, state.client_dir("old-revoked"))

    lifecycle.retire_old(state)
    context = _gateway_context(state)
    # The old client no longer trusts the gateway (its server certificate moved to the new CA)...
    assert "unknown ca" in server_verdict(context, old_bundle)
    # ... and the gateway no longer trusts the old client certificate.
    (old_bundle / "ca.pem").write_bytes(state.ca_bundle.read_bytes())
    assert "certificate verify failed" in server_verdict(context, old_bundle)
    assert server_verdict(context, state.client_dir("new-client")) == "ok"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")
def test_openssl_reads_the_crl_file(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    state.bootstrap(["localhost"])
    lifecycle.issue_client(state, "mallory")
    lifecycle.revoke(state, "mallory")
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-crl_check",
            "-CAfile",
            os.fspath(state.ca_bundle),
            "-CRLfile",
            os.fspath(state.crl_path),
            os.fspath(state.client_dir("mallory") / "cert.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr
