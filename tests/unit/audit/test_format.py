"""Access-log lines built from gateway events."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from dockward.audit import format as events
from dockward.audit.format import json_line, log_entry
from dockward.gateway.events import (
    ConnectionRefused,
    ExchangeRecord,
    HandshakeFailed,
    Peer,
    StreamCut,
)
from dockward.identity import PeerIdentity


def record(**fields: object) -> ExchangeRecord:
    base: dict[str, object] = {
        "started": 1_800_000_000.0625,
        "peer": Peer("127.0.0.1:2376", "127.0.0.1:5000", None),
    }
    return ExchangeRecord(**(base | fields))  # type: ignore[arg-type]


def test_a_line_is_the_records_log_view_as_json():
    rec = record(
        method="GET",
        path='/containers/"odd"\\name/json',
        operation="container.inspect",
        decision="deny",
        rule="profile",
        role="ci",
        reason="denied: \u00e9",
        status=403,
        bytes_in=3,
        bytes_out=120,
        duration_ms=1.2345,
        hijacked=True,
    )
    line = json_line(rec)
    assert line.endswith("}\n") and line.count("\n") == 1
    expected = log_entry(rec)
    expected["duration_ms"] = 1.234  # three decimals, rounded half to even like round()
    assert json.loads(line) == expected


def test_the_per_connection_members_are_kept_on_the_peer_and_give_the_same_line():
    identity = PeerIdentity("tls", common_name="ci", serial=7, spki_sha256="ab")
    peer = Peer("127.0.0.1:2376", "127.0.0.1:5000", identity)
    first = json_line(record(peer=peer, method="GET", path="/_ping", status=200))
    assert peer.memo and peer.memo in first
    again = json_line(record(peer=peer, method="GET", path="/_ping", status=200))
    fresh = json_line(
        record(peer=Peer(peer.listener, peer.source, identity), method="GET", path="/_ping")
    )
    assert again == first
    assert json.loads(fresh)["identity"] == {
        "kind": "tls",
        "cn": "ci",
        "serial": "7",
        "spki_sha256": "ab",
    }


def test_client_chosen_paths_are_not_memoised():
    before = events._quoted.cache_info().currsize
    kept = len(events._members)
    for n in range(50):
        json_line(record(method="GET", path=f"/unique/{n}" + "x" * 10_000))
    assert events._quoted.cache_info().currsize <= before + 2  # method/decision values only
    assert len(events._members) == kept  # long paths are never kept


def test_kept_request_members_are_bounded():
    for n in range(events.MEMBERS_KEPT + 10):
        line = json_line(record(method="GET", path=f"/containers/c{n}/json"))
        assert json.loads(line)["path"] == f"/containers/c{n}/json"
    assert len(events._members) <= events.MEMBERS_KEPT


def test_timestamps_across_seconds_and_durations_to_the_microsecond():
    for started, shown in (
        (1_800_000_000.0625, "2027-01-15T08:00:00.062+00:00"),
        (1_800_000_001.9995, "2027-01-15T08:00:01.999+00:00"),
        (1_800_000_000.5, "2027-01-15T08:00:00.500+00:00"),
    ):
        rec = record(started=started, duration_ms=0.0004)
        entry = json.loads(json_line(rec))
        assert entry["time"] == shown == log_entry(rec)["time"]
        assert entry["duration_ms"] == 0.0


@given(st.text())
def test_quoted_strings_read_back(text):
    assert json.loads(events._json_string(text)) == text


def test_a_batch_is_each_events_line_in_order_across_seconds_and_kinds():
    peer = Peer("127.0.0.1:2376", "10.0.0.9:4000", PeerIdentity("tls", common_name="ci", serial=7))
    batch: list[object] = []
    for n in range(6):  # two per second over three seconds, a failed handshake between
        started = 1_800_000_000.25 + n * 0.5
        batch.append(record(started=started, peer=peer, method="GET", path=f"/p{n % 2}"))
        if n == 2:
            batch.append(HandshakeFailed(started, peer, "plain HTTP request"))
    lines = events.json_lines(batch).splitlines()  # type: ignore[arg-type]
    assert len(lines) == len(batch)
    for line, event in zip(lines, batch, strict=True):
        assert json.loads(line) == log_entry(event)  # type: ignore[arg-type]
    assert [json.loads(line)["time"][17:23] for line in lines[:3]] == [
        "00.250",
        "00.750",
        "01.250",
    ]


def test_connection_events_have_the_exchange_members_and_name_themselves():
    peer = Peer("127.0.0.1:2376", "10.0.0.9:4000", None)
    started = 1_800_000_000.0625
    refused = json.loads(json_line(ConnectionRefused(started, peer, "not allowed")))
    assert refused["event"] == "connection.refused" and refused["decision"] == "refuse"
    assert refused["reason"] == "not allowed" and refused["identity"] is None
    exchange = json.loads(json_line(record(method="GET", path="/_ping")))
    assert set(refused) == set(exchange) | {"event", "reason"}
    failed = json.loads(json_line(HandshakeFailed(started, peer, "plain HTTP request")))
    assert failed["event"] == "connection.handshake_failed" and failed["path"] == ""
    identity = PeerIdentity("tls", common_name="ci", serial=7)
    cut = StreamCut(
        started,
        Peer("127.0.0.1:2376", "127.0.0.1:5000", identity),
        "certificate revoked",
        "POST",
        "/containers/c/attach",
        "container.attach",
    )
    entry = json.loads(json_line(cut))
    assert entry["event"] == "connection.cut" and entry["decision"] == "cut"
    assert (entry["method"], entry["path"], entry["operation"]) == (
        "POST",
        "/containers/c/attach",
        "container.attach",
    )
    assert entry["identity"]["cn"] == "ci" and entry["time"] == "2027-01-15T08:00:00.062+00:00"


def test_a_policy_reload_has_a_line_of_its_own():
    from dockward.gateway.events import Reloaded

    line = json_line(Reloaded(0.0, "policy", "/s/policy.toml", True, "cd" * 32, "reloaded"))
    assert json.loads(line) == {
        "time": "1970-01-01T00:00:00.000+00:00",
        "listener": "",
        "source": "",
        "identity": None,
        "event": "gateway.reload",
        "operation": "policy.reload",
        "path": "/s/policy.toml",
        "decision": "ok",
        "sha256": "cd" * 32,
        "reason": "reloaded",
    }


def test_an_exchange_that_did_not_complete_says_how_it_ended():
    cut = record(method="GET", path="/images/get", status=200, bytes_out=4096, end="client gone")
    assert json.loads(json_line(cut))["end"] == "client gone"
    assert log_entry(cut)["end"] == "client gone"
    assert json.loads(json_line(cut)) == {**log_entry(cut), "duration_ms": 0.0}
    done = record(method="GET", path="/_ping", status=200)
    assert "end" not in json.loads(json_line(done)) and "end" not in log_entry(done)
