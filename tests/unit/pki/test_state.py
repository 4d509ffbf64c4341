"""Tests of dockward.pki.state: layout, default locations, bootstrap and environment lines."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509

from dockward.errors import UsageError
from dockward.pki.ca import (
    CertificateAuthority,
    InvalidNameError,
    PassphraseRequiredError,
    WrongPassphraseError,
)
from dockward.pki.state import (
    BootstrapReport,
    CANotFoundError,
    StateDir,
    default_server_names,
    default_state_dir,
    docker_host_url,
    env_lines,
)

NAMES = ["localhost", "127.0.0.1", "::1"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(state: StateDir) -> dict[str, bytes]:
    return {
        str(path.relative_to(state.path)): path.read_bytes()
        for path in sorted(state.path.rglob("*"))
        if path.is_file()
    }


# -- locations ---------------------------------------------------------------------------------


def test_root_keeps_state_in_var_lib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("XDG_STATE_HOME", "/elsewhere")
    assert default_state_dir() == Path("/var/lib/dockward")


@pytest.mark.parametrize("euid", [0, 1000])
def test_dockward_state_dir_chooses_the_state_dir(
    monkeypatch: pytest.MonkeyPatch, euid: int
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    monkeypatch.setenv("DOCKWARD_STATE_DIR", "/srv/dockward")
    assert default_state_dir() == Path("/srv/dockward")


def test_users_keep_state_in_xdg_state_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", "/home/u/state")
    assert default_state_dir() == Path("/home/u/state/dockward")


@pytest.mark.parametrize("xdg", [None, "", "relative/dir"])
def test_users_fall_back_to_local_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: str | None
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_STATE_HOME", xdg)
    assert default_state_dir() == tmp_path / ".local" / "state" / "dockward"


def test_layout(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "s")
    assert state.ca_cert == tmp_path / "s" / "ca" / "ca.pem"
    assert state.ca_key == tmp_path / "s" / "ca" / "ca-key.pem"
    assert state.ca_bundle == tmp_path / "s" / "ca" / "bundle.pem"
    assert state.crl_path == tmp_path / "s" / "ca" / "crl.pem"
    assert state.index_path == tmp_path / "s" / "ca" / "index.sqlite3"
    assert state.old_ca_cert == tmp_path / "s" / "ca" / "old" / "ca.pem"
    assert state.old_ca_key == tmp_path / "s" / "ca" / "old" / "ca-key.pem"
    assert state.server_cert == tmp_path / "s" / "server" / "cert.pem"
    assert state.server_key == tmp_path / "s" / "server" / "key.pem"
    assert state.client_dir("ci-runner") == tmp_path / "s" / "clients" / "ci-runner"
    assert repr(state) == f"StateDir({str(tmp_path / 's')!r})"


@pytest.mark.parametrize("name", ["..", "../admin", "a/b", ".hidden", ""])
def test_client_dir_refuses_path_tricks(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidNameError):
        StateDir(tmp_path).client_dir(name)


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("Build-Host", [*NAMES, "build-host"]),
        ("build.example.com", [*NAMES, "build.example.com"]),
        ("localhost", NAMES),
        ("bad_host", NAMES),
        ("127.0.0.1", NAMES),
    ],
)
def test_default_server_names(
    monkeypatch: pytest.MonkeyPatch, hostname: str, expected: list[str]
) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: hostname)
    assert default_server_names() == expected


# -- bootstrap ---------------------------------------------------------------------------------


def test_first_bootstrap_creates_everything_private(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    report = state.bootstrap(NAMES)
    assert report == BootstrapReport(
        state_dir=state.path,
        created_ca=True,
        created_server=True,
        created_admin=True,
        admin_dir=state.client_dir("admin"),
    )
    assert report.created == ("ca", "server", "admin")
    assert report.describe() == [
        f"created the CA in {state.ca_dir}",
        f"created the server certificate {state.server_cert}",
        f"created the admin bundle {report.admin_dir}",
    ]

    for directory in (state.path, state.ca_dir, state.server_dir, state.clients_dir):
        assert mode(directory) == 0o700, directory
    assert mode(report.admin_dir) == 0o700
    for key in (state.ca_key, state.server_key, report.admin_dir / "key.pem"):
        assert mode(key) == 0o600, key

    ca = state.load_ca()
    server = x509.load_pem_x509_certificate(state.server_cert.read_bytes())
    server.verify_directly_issued_by(ca.cert)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(v.value) for v in san] == NAMES
    admin = x509.load_pem_x509_certificate((report.admin_dir / "cert.pem").read_bytes())
    assert admin.subject.rfc4514_string() == "CN=admin"
    assert (report.admin_dir / "ca.pem").read_bytes() == state.ca_bundle.read_bytes()


def test_later_bootstraps_reuse_what_exists(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.bootstrap(NAMES)
    before = snapshot(state)
    report = state.bootstrap(list(reversed(NAMES)))
    assert report.created == ()
    assert report.notes == ()
    assert snapshot(state) == before


def test_a_change_of_server_names_reissues_the_server_certificate(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.bootstrap(NAMES)
    wanted = [*NAMES[1:], "gw.example", "127.0.0.7"]
    report = state.bootstrap(wanted)
    assert report.created == ("server",)
    (note,) = report.notes
    assert "lacked 127.0.0.7, gw.example" in note and f"named {NAMES[0]} no longer" in note
    server = x509.load_pem_x509_certificate(state.server_cert.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(str(v.value) for v in san) == sorted(wanted)
    assert state.bootstrap(wanted).created == ()


def test_the_admin_bundle_carries_the_admin_role(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    report = state.bootstrap(NAMES)
    cert = x509.load_pem_x509_certificate((report.admin_dir / "cert.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    assert uris == ["dockward:client:admin", "dockward:role:admin"]


def test_an_admin_bundle_without_its_role_is_reissued(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    report = state.bootstrap(NAMES)
    ca = state.load_ca()
    ca.issue_client("admin").write_bundle(report.admin_dir, trust_pem=state.ca_bundle.read_bytes())
    again = state.bootstrap(NAMES)
    assert again.created == ("admin",)
    assert any("carried no role 'admin'" in note for note in again.notes)


def test_bootstrap_fills_in_only_what_is_missing(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.bootstrap(NAMES)
    ca_pem = state.ca_cert.read_bytes()
    state.server_cert.unlink()
    state.server_key.unlink()
    report = state.bootstrap(NAMES)
    assert report.created == ("server",)
    assert report.notes == ()
    assert state.ca_cert.read_bytes() == ca_pem


def test_bootstrap_does_not_loosen_or_tighten_an_existing_dir(tmp_path: Path) -> None:
    existing = tmp_path / "state"
    existing.mkdir()
    os.chmod(existing, 0o750)
    StateDir(existing).bootstrap(NAMES)
    assert mode(existing) == 0o750
    assert mode(existing / "ca") == 0o700


def test_bootstrap_reissues_leaves_of_a_replaced_ca(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.bootstrap(NAMES)
    new_ca = state.create_ca()
    report = state.bootstrap(NAMES)
    assert report.created == ("server", "admin")
    assert report.describe()[0] == f"using the CA in {state.ca_dir}"
    assert report.describe()[3:] == list(report.notes)
    assert report.notes == (
        f"server certificate {state.server_cert} was not issued by the current CA; reissued",
        f"admin bundle {report.admin_dir} was not issued by the current CA; reissued",
    )
    x509.load_pem_x509_certificate(state.server_cert.read_bytes()).verify_directly_issued_by(
        new_ca.cert
    )
    assert (report.admin_dir / "ca.pem").read_bytes() == new_ca.cert_pem()


def test_bootstrap_reissues_an_expired_or_broken_server_certificate(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.bootstrap(NAMES)
    ca = state.load_ca()
    last_month = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    ca.issue_server(NAMES, days=1, now=last_month).write(state.server_cert, state.server_key)
    report = state.bootstrap(NAMES)
    expired_on = (last_month + dt.timedelta(days=1)).strftime("%Y-%m-%d")
    assert report.notes == (
        f"server certificate {state.server_cert} expired on {expired_on}; reissued",
    )
    assert report.created == ("server",)

    state.server_cert.write_text("garbage\n")
    report = state.bootstrap(NAMES)
    assert report.notes == (f"server certificate {state.server_cert} did not parse; reissued",)

    state.server_key.unlink()
    report = state.bootstrap(NAMES)
    assert report.notes == (f"server certificate {state.server_cert} was incomplete; reissued",)
    assert state.bootstrap(NAMES).created == ()


def test_bootstrap_with_a_passphrase_encrypts_only_the_ca_key(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.bootstrap(NAMES, passphrase=b"pw")
    assert state.ca_key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert state.server_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    admin_key = state.client_dir("admin") / "key.pem"
    assert admin_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")

    assert state.bootstrap(NAMES, passphrase=b"pw").created == ()
    with pytest.raises(WrongPassphraseError):
        state.bootstrap(NAMES, passphrase=b"nope")
    with pytest.raises(PassphraseRequiredError):
        state.bootstrap(NAMES)


def test_a_ca_that_cannot_be_loaded_is_never_replaced(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.bootstrap(NAMES)
    state.ca_key.unlink()
    with pytest.raises(UsageError, match=r"ca-key\.pem does not exist"):
        state.bootstrap(NAMES)
    assert not state.ca_key.exists()


def test_load_ca_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(CANotFoundError) as caught:
        StateDir(tmp_path).load_ca()
    assert str(caught.value) == (
        f"no CA in {tmp_path}: run `dockward ca init --state-dir {tmp_path}` first"
    )


def test_create_ca_replaces_the_ca(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    first = state.create_ca()
    second = state.create_ca(passphrase=b"pw")
    assert first.cert != second.cert
    loaded = CertificateAuthority.load(state.ca_cert, state.ca_key, b"pw")
    assert loaded.cert == second.cert


# -- environment lines -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1:2376", "tcp://127.0.0.1:2376"),
        ("127.0.0.1", "tcp://127.0.0.1:2376"),
        ("gateway.example.com", "tcp://gateway.example.com:2376"),
        ("gateway.example.com:12376", "tcp://gateway.example.com:12376"),
        ("tcp://localhost:2377", "tcp://localhost:2377"),
        ("::1", "tcp://[::1]:2376"),
        ("[::1]", "tcp://[::1]:2376"),
        ("[::1]:2377", "tcp://[::1]:2377"),
        ("[2001:db8::1]:2376", "tcp://[2001:db8::1]:2376"),
    ],
)
def test_docker_host_url(host: str, url: str) -> None:
    assert docker_host_url(host) == url


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("", "the host cannot be empty"),
        ("host:abc", "invalid host 'host:abc': the port must be a number from 1 to 65535"),
        ("host:0", "invalid host 'host:0': the port must be a number from 1 to 65535"),
        ("host:65536", "invalid host 'host:65536': the port must be a number from 1 to 65535"),
        (":2376", "invalid host ':2376': the host name is missing"),
        ("[::1", "invalid host '[::1': expected [IPV6] or [IPV6]:PORT"),
        ("[::1]x", "invalid host '[::1]x': expected [IPV6] or [IPV6]:PORT"),
        ("[nope]:1", "invalid host '[nope]:1': 'nope' is not an IPv6 address"),
        ("bad_host:1", "invalid host 'bad_host:1': not an IP address or a DNS name"),
    ],
)
def test_docker_host_url_refuses_bad_hosts(host: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        docker_host_url(host)
    assert str(caught.value) == message


def test_env_lines_are_one_copy_pasteable_export(tmp_path: Path) -> None:
    assert env_lines("127.0.0.1:2376", Path("/srv/dockward/clients/admin")) == [
        "export DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 "
        "DOCKER_CERT_PATH=/srv/dockward/clients/admin"
    ]
    assert env_lines("::1", Path("/my certs/admin")) == [
        "export DOCKER_HOST='tcp://[::1]:2376' DOCKER_TLS_VERIFY=1 "
        "DOCKER_CERT_PATH='/my certs/admin'"
    ]


def test_env_lines_make_the_cert_path_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (line,) = env_lines("localhost", Path("bundle"))
    assert line.endswith(f"DOCKER_CERT_PATH={tmp_path / 'bundle'}")


# -- index, trust bundle and CRL ---------------------------------------------------------------


def test_bootstrap_records_what_it_issues_and_publishes_bundle_and_crl(tmp_path: Path) -> None:
    from dockward.pki.crl import load_revocation_list
    from dockward.pki.index import CertKind

    state = StateDir(tmp_path)
    state.bootstrap(NAMES, client_host="gw.example:2376")
    with state.open_index() as index:
        recorded = [(e.kind, e.name, e.role, e.status.value) for e in index.entries()]
        server = index.current(CertKind.SERVER)
    assert recorded == [
        (CertKind.CA, "dockward CA", None, "valid"),
        (CertKind.SERVER, "localhost", None, "valid"),
        (CertKind.CLIENT, "admin", "admin", "valid"),
    ]
    assert server is not None
    assert (
        server.serial
        == x509.load_pem_x509_certificate(state.server_cert.read_bytes()).serial_number
    )
    assert state.ca_bundle.read_bytes() == state.ca_cert.read_bytes()
    crl = load_revocation_list(state.crl_path, state.ca_bundle)
    assert crl.revoked == frozenset()
    assert mode(state.index_path) == 0o600
    env = (state.client_dir("admin") / "env").read_text()
    assert "DOCKER_HOST=tcp://gw.example:2376\n" in env


def test_bootstrap_adopts_a_state_dir_from_before_the_index(tmp_path: Path) -> None:
    from dockward.pki.crl import load_revocation_list

    state = StateDir(tmp_path)
    state.bootstrap(NAMES)
    for path in (state.index_path, state.ca_bundle, state.crl_path):
        path.unlink()
    report = state.bootstrap(NAMES)
    assert report.created == ()
    assert report.notes == ()
    with state.open_index() as index:
        assert [(e.kind.value, e.name, e.role) for e in index.entries()] == [
            ("ca", "dockward CA", None),
            ("server", "localhost", None),
            ("client", "admin", "admin"),
        ]
    load_revocation_list(state.crl_path, state.ca_bundle)


def test_bootstrap_re_signs_a_broken_or_due_crl(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.bootstrap(NAMES)
    state.crl_path.write_text("garbage\n")
    report = state.bootstrap(NAMES)
    assert report.notes == (f"CRL {state.crl_path} does not hold a PEM CRL; re-signed",)

    # Two thirds into its validity a CRL is re-signed quietly.
    authorities = state.load_authorities()
    with state.open_index() as index:
        state.write_crl(
            authorities, index, days=3, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2, hours=1)
        )
    before = state.crl_path.read_bytes()
    assert state.bootstrap(NAMES).notes == ()
    assert state.crl_path.read_bytes() != before


def test_bootstrap_keeps_the_old_server_certificate_during_a_rotation(tmp_path: Path) -> None:
    from dockward.pki import lifecycle

    state = StateDir(tmp_path)
    state.bootstrap(NAMES)
    lifecycle.rotate(state)
    before = snapshot(state)
    report = state.bootstrap(NAMES)
    assert report.created == ()
    assert report.notes == ()
    assert snapshot(state) == before


def test_create_ca_retires_the_previous_one(tmp_path: Path) -> None:
    from dockward.pki.index import CertStatus

    state = StateDir(tmp_path)
    state.bootstrap(NAMES)
    state.create_ca()
    with state.open_index() as index:
        assert [e.status for e in index.entries()] == [
            CertStatus.RETIRED,  # the old CA
            CertStatus.VALID,  # the new CA, same name, issued later
            CertStatus.RETIRED,
            CertStatus.RETIRED,
        ]


def test_load_ca_explains_an_expired_ca(tmp_path: Path) -> None:
    from dockward.pki.ca import ExpiredCAError

    state = StateDir(tmp_path)
    old = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=3)
    CertificateAuthority.create(days=1, now=old).write(state.ca_cert, state.ca_key)
    with pytest.raises(ExpiredCAError) as caught:
        state.load_ca()
    assert str(caught.value) == (
        f"the CA certificate {state.ca_cert} expired on "
        f"{old + dt.timedelta(days=1):%Y-%m-%d %H:%M:%S} UTC: run `dockward ca rotate "
        f"--state-dir {state.path}` to make a new CA and reissue the certificates"
    )
    assert state.load_ca(allow_expired=True).not_after < dt.datetime.now(dt.UTC)
