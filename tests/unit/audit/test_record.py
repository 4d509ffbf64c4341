"""Projections: every gateway event becomes one flat record, and nothing secret gets in."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dockward.audit.record import (
    CONNECTION_REFUSED,
    EXCHANGE,
    FIELD_NAMES,
    PROJECTIONS,
    AuditRecord,
    project,
    text,
)
from dockward.gateway.events import ConnectionRefused, ExchangeRecord, Peer
from dockward.identity import PeerIdentity

CI = PeerIdentity(kind="tls", common_name="ci-runner", serial=0x1F2E)


def test_an_exchange_becomes_a_record_with_every_field() -> None:
    event = ExchangeRecord(
        started=1_700_000_000.1234567,
        peer=Peer("127.0.0.1:2376", "127.0.0.1:40000", CI),
        method="POST",
        path="/v1.41/containers/create",
        operation="container.create",
        decision="deny",
        rule="profile:baseline",
        role="ci",
        reason="privileged containers are not allowed",
        status=403,
        bytes_in=120,
        bytes_out=80,
        duration_ms=1.5,
    )
    record = project(event, "gw-a")
    assert record == AuditRecord(
        kind=EXCHANGE,
        time_us=1_700_000_000_123_457,
        gateway="gw-a",
        identity="cn:ci-runner",
        serial=str(0x1F2E),
        role="ci",
        source="127.0.0.1:40000",
        listener="127.0.0.1:2376",
        method="POST",
        path="/v1.41/containers/create",
        operation="container.create",
        decision="deny",
        rule="profile:baseline",
        reason="privileged containers are not allowed",
        status=403,
        bytes_in=120,
        bytes_out=80,
        duration_us=1500,
    )
    assert record.client == "ci-runner"
    assert record.address == "127.0.0.1"
    assert record.end == ""  # it completed


@pytest.mark.parametrize(
    "end", ["client gone", "daemon gone", "cut by revocation", "cut by drain", "timed out"]
)
def test_an_exchange_that_did_not_complete_says_how_it_ended(end: str) -> None:
    event = ExchangeRecord(started=1.0, peer=Peer("l", "s", CI), method="GET", end=end)
    record = project(event, "gw")
    assert record is not None
    assert record.end == end


def test_a_record_has_no_field_for_bodies_queries_or_credentials() -> None:
    allowed = {
        "kind", "time_us", "gateway", "identity", "serial", "role", "source", "listener",
        "method", "path", "operation", "decision", "rule", "reason", "status", "bytes_in",
        "bytes_out", "duration_us", "end",
    }  # fmt: skip
    assert set(FIELD_NAMES) == allowed


def test_a_refused_connection_and_a_unix_peer() -> None:
    refused = project(
        ConnectionRefused(1.5, Peer("0.0.0.0:2376", "127.0.0.7:5000", None), "not allowed")
    )
    assert refused is not None
    assert (refused.kind, refused.decision, refused.reason) == (
        CONNECTION_REFUSED,
        "refuse",
        "not allowed",
    )
    assert (refused.identity, refused.time_us, refused.address) == ("", 1_500_000, "127.0.0.7")
    unix = project(
        ExchangeRecord(
            started=2.0,
            peer=Peer(
                "/run/dockward.sock",
                "unix:/run/dockward.sock",
                PeerIdentity(kind="unix", uid=1000, gid=1000, pid=5),
            ),
        )
    )
    assert unix is not None
    assert (unix.identity, unix.serial, unix.address, unix.client) == ("uid:1000", "", "", "1000")


def test_the_relays_connection_events_have_projections_by_name() -> None:
    """``HandshakeFailed`` and ``StreamCut`` (with a shared ``peer``) plug in by type name."""

    @dataclasses.dataclass
    class Peer:
        listener: str
        source: str
        identity: PeerIdentity | None

    @dataclasses.dataclass
    class StreamCut:
        started: float
        peer: Peer
        reason: str
        method: str = ""
        path: str = ""
        operation: str = ""

        @property
        def source(self) -> str:
            return self.peer.source

        @property
        def listener(self) -> str:
            return self.peer.listener

        @property
        def identity(self) -> PeerIdentity | None:
            return self.peer.identity

    assert {"ExchangeRecord", "ConnectionRefused", "HandshakeFailed", "StreamCut"} <= set(
        PROJECTIONS
    )
    event = StreamCut(3.0, Peer("l", "127.0.0.1:1", CI), "certificate revoked", "GET", "/x", "y")
    record = project(event, "gw")
    assert record is not None
    assert (record.kind, record.decision, record.identity, record.path) == (
        "connection.cut",
        "cut",
        "cn:ci-runner",
        "/x",
    )


def test_an_unknown_event_kind_is_not_kept() -> None:
    assert project(object()) is None


def test_client_chosen_text_is_stored_escaped() -> None:
    assert text("/containers/json") == "/containers/json"
    assert text("/a\x00b") == "/a\\x00b"
    assert text("/\udcff") == "/\\udcff"
    assert text("/é") == "/é"
    event = ExchangeRecord(started=1.0, peer=Peer("l", "s", None), path="/a\x00")
    record = project(event)
    assert record is not None and record.path == "/a\\x00"


def test_json_round_trip() -> None:
    record = AuditRecord(kind=EXCHANGE, time_us=5, gateway="g", path="/é", status=200)
    assert AuditRecord.from_dict(json.loads(json.dumps(record.as_dict()))) == record


def test_a_policy_reload_becomes_a_record_with_its_hash() -> None:
    from dockward.gateway.events import Reloaded

    taken = project(Reloaded(4.5, "policy", "/s/policy.toml", True, "ab" * 32, "reloaded"), "gw")
    assert taken == AuditRecord(
        kind="gateway.reload",
        gateway="gw",
        path="/s/policy.toml",
        operation="policy.reload",
        decision="ok",
        rule="sha256:" + "ab" * 32,
        reason="reloaded",
        time_us=4_500_000,
    )
    refused = project(Reloaded(5.0, "policy", "/s/policy.toml", False, "", "refused: x"), "gw")
    assert refused is not None
    assert (refused.decision, refused.rule, refused.reason) == ("refused", "", "refused: x")
