"""Tests of dockward.pki.handoff: bundle directories and docker context tars."""

from __future__ import annotations

import datetime as dt
import io
import json
import shlex
import stat
import tarfile
from pathlib import Path

import pytest

from dockward.pki import handoff, lifecycle
from dockward.pki.ca import PKIError
from dockward.pki.state import StateDir

NOW = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    state = StateDir(tmp_path / "state")
    state.bootstrap(["localhost"])
    lifecycle.issue_client(state, "alice", role="ci")
    return state


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_credentials_come_from_the_state_dir(state: StateDir) -> None:
    credentials = handoff.client_credentials(state, "alice")
    source = state.client_dir("alice")
    assert credentials.source == source
    assert credentials.cert_pem == (source / "cert.pem").read_bytes()
    assert credentials.key_pem == (source / "key.pem").read_bytes()
    assert credentials.ca_pem == state.ca_bundle.read_bytes()
    assert credentials.entry.role == "ci"


def test_unknown_revoked_and_expired_clients_are_refused(state: StateDir) -> None:
    with pytest.raises(handoff.UnknownClientError) as unknown:
        handoff.client_credentials(state, "bob")
    assert str(unknown.value) == (
        f"no client named 'bob' in {state.path}: issue one with "
        f"`dockward ca issue client bob --role ROLE --state-dir {state.path}`"
    )
    entry = handoff.client_credentials(state, "alice").entry
    with pytest.raises(PKIError) as expired:
        handoff.client_credentials(state, "alice", now=entry.not_after)
    assert str(expired.value) == (
        f"the certificate of client alice expired on {entry.not_after:%Y-%m-%d %H:%M} UTC: "
        f"run `dockward ca renew alice --state-dir {state.path}`"
    )
    lifecycle.revoke(state, "alice")
    with pytest.raises(PKIError) as revoked:
        handoff.client_credentials(state, "alice")
    assert str(revoked.value) == (
        f"client alice is revoked (serial {entry.serial_hex}): issue a new certificate with "
        f"`dockward ca issue client alice --role ROLE --state-dir {state.path}`"
    )


def test_bundle_directory(state: StateDir, tmp_path: Path) -> None:
    credentials = handoff.client_credentials(state, "alice")
    target = handoff.write_bundle_directory(credentials, tmp_path / "out" / "alice", "gw:2377")
    assert target == tmp_path / "out" / "alice"
    assert sorted(p.name for p in target.iterdir()) == ["ca.pem", "cert.pem", "env", "key.pem"]
    assert mode(target) == 0o700
    assert mode(target / "key.pem") == 0o600
    assert (target / "env").read_text() == (
        f"# dockward client bundle; in a shell: set -a; . {target / 'env'}; set +a\n"
        "# Python clients (docker-py, docker-compose 1.x) need REQUESTS_CA_BUNDLE and "
        "CURL_CA_BUNDLE unset: either one replaces ca.pem for them\n"
        "DOCKER_HOST=tcp://gw:2377\n"
        "DOCKER_TLS_VERIFY=1\n"
        f"DOCKER_CERT_PATH={target}\n"
    )


def test_env_file_quotes_for_the_shell(state: StateDir, tmp_path: Path) -> None:
    credentials = handoff.client_credentials(state, "alice")
    target = handoff.write_bundle_directory(credentials, tmp_path / "my certs", "::1")
    lines = (target / "env").read_text().splitlines()
    assert lines[2] == "DOCKER_HOST='tcp://[::1]:2376'"
    assert lines[4] == f"DOCKER_CERT_PATH='{target}'"
    assert shlex.split(lines[4].partition("=")[2]) == [str(target)]


def test_context_tar_has_the_layout_docker_exports(state: StateDir) -> None:
    credentials = handoff.client_credentials(state, "alice")
    data = handoff.context_tar(credentials, "dockward-alice", "gw.example", now=NOW)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == [
            "meta.json",
            "tls",
            "tls/docker",
            "tls/docker/ca.pem",
            "tls/docker/cert.pem",
            "tls/docker/key.pem",
        ]
        assert members["tls"].isdir() and members["tls"].mode == 0o700
        assert members["tls/docker/key.pem"].mode == 0o600
        assert members["meta.json"].mtime == int(NOW.timestamp())

        def read(name: str) -> bytes:
            handle = tar.extractfile(name)
            assert handle is not None
            return handle.read()

        assert json.loads(read("meta.json")) == {
            "Name": "dockward-alice",
            "Metadata": {
                "Description": (
                    f"dockward client alice (serial {credentials.entry.serial_hex[:16]}, "
                    f"expires {credentials.entry.not_after:%Y-%m-%d})"
                )
            },
            "Endpoints": {"docker": {"Host": "tcp://gw.example:2376", "SkipTLSVerify": False}},
        }
        assert read("tls/docker/ca.pem") == credentials.ca_pem
        assert read("tls/docker/cert.pem") == credentials.cert_pem
        assert read("tls/docker/key.pem") == credentials.key_pem


@pytest.mark.parametrize("name", ["default", "a", "-x", "with space", "x/y", ""])
def test_context_names_follow_the_docker_cli(name: str) -> None:
    with pytest.raises(PKIError) as caught:
        handoff.validate_context_name(name)
    assert str(caught.value) == (
        f"invalid context name {name!r}: use a letter or digit, then at least one more of "
        "A-Z a-z 0-9 _ . + - (and not 'default')"
    )


@pytest.mark.parametrize("client", ["a", "-dash", "_x", "build.host"])
def test_default_context_names_are_valid(client: str) -> None:
    assert handoff.validate_context_name(handoff.default_context_name(client))


def test_context_create_command(tmp_path: Path) -> None:
    assert handoff.context_create_command("dockward-a", "gw", Path("/s/clients/a")) == (
        "docker context create dockward-a --docker "
        "host=tcp://gw:2376,ca=/s/clients/a/ca.pem,cert=/s/clients/a/cert.pem,"
        "key=/s/clients/a/key.pem"
    )
    odd = handoff.context_create_command("c1", "::1", Path('/my dir,"x"'))
    words = shlex.split(odd)
    assert words[:4] == ["docker", "context", "create", "c1"]
    # One CSV record: a field with a comma or a quote is quoted, quotes doubled.
    assert words[5] == (
        "host=tcp://[::1]:2376,"
        '"ca=/my dir,""x""/ca.pem","cert=/my dir,""x""/cert.pem","key=/my dir,""x""/key.pem"'
    )


def test_credentials_of_a_state_dir_without_a_trust_bundle(state: StateDir) -> None:
    state.ca_bundle.unlink()
    credentials = handoff.client_credentials(state, "alice")
    assert credentials.ca_pem == state.ca_cert.read_bytes()


# -- REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE ------------------------------------------------------


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""},
        {"PATH": "/usr/bin", "SSL_CERT_FILE": "x"},
    ],
)
def test_no_trust_override_warning_without_the_variables(environ: dict[str, str]) -> None:
    # requests ignores an empty value
    assert handoff.trust_override_warning(environ) is None


def test_trust_override_warning_names_the_variable_and_the_fixes() -> None:
    environ = {"REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt", "HOME": "/root"}
    assert handoff.trust_override_warning(environ) == (
        "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt is set: Python docker clients "
        "(docker-py, docker-compose 1.x) verify the gateway against "
        "/etc/ssl/certs/ca-certificates.crt instead of DOCKER_CERT_PATH/ca.pem, and fail; run "
        "them as `env -u REQUESTS_CA_BUNDLE docker-compose ...`, or append STATE/ca/bundle.pem "
        "to /etc/ssl/certs/ca-certificates.crt"
    )


def test_trust_override_warning_for_curl_ca_bundle() -> None:
    warning = handoff.trust_override_warning({"CURL_CA_BUNDLE": "/srv/ca.pem"})
    assert warning is not None
    assert warning.startswith("CURL_CA_BUNDLE=/srv/ca.pem is set: ")
    assert "`env -u CURL_CA_BUNDLE docker-compose ...`" in warning
    assert "REQUESTS_CA_BUNDLE" not in warning


def test_trust_override_warning_with_both_names_the_one_requests_uses() -> None:
    environ = {"CURL_CA_BUNDLE": "/b.pem", "REQUESTS_CA_BUNDLE": "/my certs/a.pem"}
    warning = handoff.trust_override_warning(environ)
    assert warning is not None
    assert warning.startswith(
        "REQUESTS_CA_BUNDLE='/my certs/a.pem' and CURL_CA_BUNDLE=/b.pem are set: "
    )
    assert "verify the gateway against '/my certs/a.pem' instead of" in warning
    assert "`env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE docker-compose ...`" in warning
    assert warning.endswith("append STATE/ca/bundle.pem to '/my certs/a.pem'")


def test_trust_override_warning_reads_only_the_mapping_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    assert handoff.trust_override_warning({}) is None
