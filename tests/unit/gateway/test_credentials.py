"""Tests of dockward.gateway.credentials: the TLS material a running gateway reloads while the CA
rewrites it, checked with real handshakes on each TLS backend."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockward.config import TlsConfig
from dockward.gateway import credentials as credentials_module
from dockward.gateway.credentials import TLSCredentials
from dockward.identity import PeerIdentity
from dockward.pki import lifecycle
from dockward.pki.ca import CLOCK_SKEW, load_certificate
from dockward.pki.crl import RevocationList
from dockward.pki.state import StateDir
from dockward.tls.bundled import BundledServerContext
from dockward.tls.context import BACKEND_VARIABLE, TLSBackend
from support.handshake import server_verdict
from support.waiting import wait_for


@pytest.fixture(autouse=True, params=list(TLSBackend), ids=lambda backend: backend.value)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> TLSBackend:
    """Every test runs on each backend, selected as a gateway process selects it."""
    monkeypatch.setenv(BACKEND_VARIABLE, request.param.value)
    return request.param


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    state = StateDir(tmp_path / "state")
    state.bootstrap(["localhost"])
    return state


def load(state: StateDir) -> TLSCredentials:
    """The credentials as ``dockward up`` configures them for a state directory."""
    return TLSCredentials(
        TlsConfig(
            cert=state.server_cert, key=state.server_key, ca=state.ca_bundle, crl=state.crl_path
        )
    )


def keep(state: StateDir, name: str, label: str = "kept") -> Path:
    """A copy of a client's bundle as it is now (as the client holds it)."""
    copy = state.path.parent / f"{label}-{name}"
    shutil.copytree(state.client_dir(name), copy)
    return copy


def serial_of(bundle: Path) -> int:
    return load_certificate(bundle / "cert.pem").serial_number


@pytest.fixture
def tick_after_every_write(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[Callable[[Path], None]], None]]:
    """Call a watcher tick after every file the CA writes (files are replaced by rename)."""
    ticks: list[Callable[[Path], None]] = []
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real_replace(src, dst)
        for tick in ticks:
            tick(Path(os.fspath(dst)))

    monkeypatch.setattr(os, "replace", replace)
    yield ticks.append


def test_a_reload_between_any_two_writes_of_a_rotation_refuses_no_client(
    state: StateDir, tick_after_every_write: Callable[[Callable[[Path], None]], None]
) -> None:
    lifecycle.issue_client(state, "alice")
    lifecycle.issue_client(state, "mallory")
    lifecycle.revoke(state, "mallory")
    old_alice = keep(state, "alice")
    credentials = load(state)
    accepted = [old_alice]
    refused = [keep(state, "mallory")]
    seen: list[tuple[str, str | None, list[str], list[str]]] = []

    def tick(written: Path) -> None:
        credentials.reload(only_if_changed=True)
        seen.append(
            (
                written.name,
                credentials.state.crl_problem,
                [server_verdict(credentials.context, bundle) for bundle in accepted],
                [server_verdict(credentials.context, bundle) for bundle in refused],
            )
        )

    tick_after_every_write(tick)
    lifecycle.rotate(state)
    reissued = keep(state, "alice", "reissued")  # under the new CA
    accepted.append(reissued)
    lifecycle.issue_client(state, "eve")
    lifecycle.revoke(state, "eve")
    refused.append(keep(state, "eve"))
    accepted.remove(old_alice)  # retiring the old CA ends it
    lifecycle.retire_old(state)
    accepted.clear()  # renewing with --revoke-old ends the reissued one
    lifecycle.renew(state, "alice", revoke_old=True)

    assert {name for name, *_ in seen} >= {"bundle.pem", "crl.pem"}
    for written, problem, ok, refusals in seen:
        assert problem is None, (written, problem)
        assert ok == ["ok"] * len(ok), (written, ok)
        assert "ok" not in refusals, (written, refusals)
    assert server_verdict(credentials.context, old_alice) != "ok"  # the old CA is retired
    assert "certificate revoked" in server_verdict(credentials.context, state.client_dir("eve"))
    assert "certificate revoked" in server_verdict(credentials.context, reissued)
    assert server_verdict(credentials.context, state.client_dir("alice")) == "ok"
    assert credentials.settled


def test_a_file_replaced_within_the_same_clock_tick_is_reloaded(state: StateDir) -> None:
    lifecycle.issue_client(state, "mallory")
    credentials = load(state)
    before = state.crl_path.stat()
    lifecycle.revoke(state, "mallory")
    # A filesystem with coarse timestamps can give the new CRL the old one's mtime.
    os.utime(state.crl_path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert credentials.reload(only_if_changed=True)
    assert "certificate revoked" in server_verdict(credentials.context, state.client_dir("mallory"))
    assert not credentials.reload(only_if_changed=True)  # and only once


def test_a_file_that_changes_while_it_is_read_is_read_again(
    state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifecycle.issue_client(state, "mallory")
    mallory = serial_of(state.client_dir("mallory"))
    credentials = load(state)
    real_load = credentials_module.load_revocation_list
    revoked_during_read: list[str] = []

    def load_then_revoke(*args: Path) -> RevocationList:
        read = real_load(*args)
        if not revoked_during_read:
            revoked_during_read.append("mallory")
            lifecycle.revoke(state, "mallory")
        return read

    monkeypatch.setattr(credentials_module, "load_revocation_list", load_then_revoke)
    assert credentials.reload()  # SIGHUP
    assert revoked_during_read
    # The per-request check (and the end of live streams) knows what the handshake knows.
    assert credentials.state.revocations is not None
    assert credentials.state.revocations.is_revoked(mallory)
    assert credentials.settled
    assert not credentials.reload(only_if_changed=True)


def test_a_crl_that_does_not_verify_is_retried_until_it_does(
    state: StateDir, caplog: pytest.LogCaptureFixture
) -> None:
    # A CRL from a CA host whose clock is 1.5 s ahead: not valid yet here, and no file will
    # change when it becomes valid.
    ahead = dt.datetime.now(dt.UTC) + CLOCK_SKEW + dt.timedelta(seconds=1.5)
    with state.open_index() as index:
        state.write_crl(state.load_authorities(), index, now=ahead)
    caplog.set_level(logging.INFO, logger="dockward.gateway")
    credentials = load(state)
    admin = state.client_dir("admin")
    assert credentials.state.crl_problem is not None
    assert "is not valid before" in credentials.state.crl_problem
    assert server_verdict(credentials.context, admin) != "ok"  # fail closed meanwhile
    assert not credentials.settled

    def verified() -> bool:
        credentials.reload(only_if_changed=True)
        return credentials.state.crl_problem is None

    wait_for(verified, timeout=10, interval=0.1, what="the CRL to become valid")
    assert credentials.settled
    # OpenSSL reads the clock at the handshake and may still say "not yet valid" in the same
    # second (a fresh-clone CI run saw it once): fail closed for a moment, never stuck.
    wait_for(
        lambda: server_verdict(credentials.context, admin) == "ok",
        timeout=3,
        interval=0.1,
        what="OpenSSL to accept the now valid CRL",
    )
    messages = [record.getMessage() for record in caplog.records]
    # Retries that change nothing are not logged again.
    assert sum("refusing every client" in m for m in messages) == 1, messages
    assert sum("TLS credentials reloaded" in m for m in messages) == 1, messages
    assert not credentials.reload(only_if_changed=True)


def test_the_context_is_built_on_the_selected_backend(state: StateDir, backend: TLSBackend) -> None:
    lifecycle.issue_client(state, "alice")
    credentials = load(state)
    expected = ssl.SSLContext if backend is TLSBackend.PYTHON_SSL else BundledServerContext
    assert isinstance(credentials.context, expected)
    assert server_verdict(credentials.context, state.client_dir("alice")) == "ok"


def test_a_request_after_the_crls_next_update_is_refused(
    state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = load(state)
    revocations = credentials.state.revocations
    assert revocations is not None
    client = PeerIdentity(kind="tls", common_name="someone", serial=12345)
    assert credentials.refusal(client) is None
    assert credentials.refusal(client, now=revocations.next_update) == (
        f"the CRL expired on {revocations.next_update.isoformat(timespec='seconds')}"
    )
    later = revocations.next_update.timestamp() + 1.0
    monkeypatch.setattr(credentials_module.time, "time", lambda: later)
    assert credentials.refusal(client) == credentials.refusal(client, now=revocations.next_update)
