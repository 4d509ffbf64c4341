"""auto_renew: when the server certificate and the CRL are due, and that renewing them works."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from dockward.config import state_config
from dockward.gateway import renewal
from dockward.pki.crl import load_revocation_list
from dockward.pki.state import StateDir

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    state = StateDir(tmp_path / "state")
    state.bootstrap(["localhost"])
    return state


def test_a_fresh_crl_is_not_due_and_one_two_thirds_through_is(state: StateDir) -> None:
    crl = load_revocation_list(state.crl_path, state.ca_bundle)
    assert not renewal.crl_due(state)
    assert renewal.crl_due(state, now=crl.refresh_at + dt.timedelta(seconds=1))


def test_a_missing_or_broken_crl_is_due(state: StateDir) -> None:
    state.crl_path.write_text("not a CRL\n")
    assert renewal.crl_due(state)
    state.crl_path.unlink()
    assert renewal.crl_due(state)


def test_the_renewal_loop_re_signs_a_due_crl_and_a_due_server_certificate(
    state: StateDir,
) -> None:
    past = NOW - dt.timedelta(days=25)
    with state.open_index() as index:
        state.write_crl(state.load_authorities(), index, now=past)  # 25 of 30 days gone
        issued = state.load_ca().issue_server(["localhost"], days=3, now=NOW - dt.timedelta(days=2))
        state.save_server(index, issued, now=NOW - dt.timedelta(days=2))
    assert renewal.crl_due(state) and renewal.renewal_due(state.server_cert)

    async def one_round() -> None:
        task = asyncio.create_task(renewal.auto_renew(state_config(state.path), interval=3600))
        for _ in range(500):
            await asyncio.sleep(0.01)
            if not renewal.crl_due(state) and not renewal.renewal_due(state.server_cert):
                break
        task.cancel()

    asyncio.run(one_round())
    assert not renewal.crl_due(state)
    assert not renewal.renewal_due(state.server_cert)
