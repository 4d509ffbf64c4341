"""``dockward audit`` and ``dockward audit verify`` on a SQLite store made by the test."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from dockward.audit.backends import open_backend
from dockward.audit.query import parse_time
from dockward.audit.record import AuditRecord
from support.cli import run

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(autouse=True)
def _now() -> None:
    """Record times are relative to when each test runs, not to when the module was imported:
    in the whole suite that can be minutes earlier, and ``--until 15m`` would move past them."""
    global NOW
    NOW = dt.datetime.now(dt.UTC)


def at(minutes_ago: float) -> int:
    return round((NOW - dt.timedelta(minutes=minutes_ago)).timestamp() * 1_000_000)


def made_records() -> dict[str, list[AuditRecord]]:
    return {
        "gw-a": [
            AuditRecord(
                kind="exchange", time_us=at(180), gateway="gw-a", identity="cn:admin", role="admin",
                source="10.1.2.3:5000", method="GET", path="/containers/json",
                operation="container.list", decision="allow", rule="admin:all", status=200,
            ),
            AuditRecord(
                kind="exchange", time_us=at(30), gateway="gw-a", identity="cn:ci-runner", role="ci",
                source="127.0.0.1:4000", method="POST", path="/containers/create",
                operation="container.create", decision="deny", rule="profile:baseline",
                reason="privileged containers are not allowed", status=403,
            ),
            AuditRecord(
                kind="exchange", time_us=at(20), gateway="gw-a", identity="cn:ci-runner", role="ci",
                source="127.0.0.1:4001", method="POST", path="/containers/abc/start",
                operation="container.start", decision="allow", rule="allow:container.start",
                status=204, end="client gone",
            ),
            AuditRecord(
                kind="connection.refused", time_us=at(10), gateway="gw-a",
                source="192.0.2.9:6000", decision="refuse", reason="source not allowed",
            ),
        ],
        "gw-b": [
            AuditRecord(
                kind="exchange", time_us=at(5), gateway="gw-b", identity="uid:1000", role="local",
                source="unix:/run/dockward.sock", method="DELETE", path="/images/x",
                operation="image.delete", decision="audit-deny", rule="deny:image.delete",
                reason="operation image.delete is not allowed", status=200,
            ),
        ],
    }  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "audit.sqlite3"
    backend = open_backend(str(path))
    for gateway, records in made_records().items():
        backend.append(gateway, records)
    backend.close()
    return path


def audit(capsys: pytest.CaptureFixture[str], store: Path, *args: str) -> list[str]:
    code, out, err = run(capsys, "audit", *args, "--database", str(store))
    assert (code, err) == (0, ""), err
    return out.splitlines()


def paths(lines: list[str]) -> list[str]:
    return [next((p for p in line.split("  ") if p.startswith(("GET", "POST", "DELETE"))), "-")
            for line in lines]  # fmt: skip


def test_one_line_per_record_oldest_first(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    lines = audit(capsys, store)
    assert len(lines) == 5
    denial = lines[1]
    assert denial.startswith(
        dt.datetime.fromtimestamp(at(30) / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    )
    assert (
        "  gw-a  deny  cn:ci-runner  role=ci  127.0.0.1:4000  POST /containers/create  " in denial
    )
    assert denial.endswith(
        "container.create  rule=profile:baseline  403  "
        'reason="privileged containers are not allowed"'
    )
    assert "connection.refused" in lines[3]


def test_filters(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    assert paths(audit(capsys, store, "--since", "1h")) == [
        "POST /containers/create",
        "POST /containers/abc/start",
        "-",
        "DELETE /images/x",
    ]
    assert paths(audit(capsys, store, "--since", "1h", "--until", "15m")) == [
        "POST /containers/create",
        "POST /containers/abc/start",
    ]
    assert len(audit(capsys, store, "--client", "ci-runner")) == 2
    assert paths(audit(capsys, store, "--client", "uid:1000", "--client", "admin")) == [
        "GET /containers/json",
        "DELETE /images/x",
    ]
    assert paths(audit(capsys, store, "--role", "ci", "--op", "container.start")) == [
        "POST /containers/abc/start"
    ]
    assert len(audit(capsys, store, "--op", "container.*")) == 3
    denied = audit(capsys, store, "--denied")
    assert [line.split("  ")[2] for line in denied] == ["deny", "refuse", "audit-deny"]
    assert paths(audit(capsys, store, "--source", "127.0.0.0/8")) == [
        "POST /containers/create",
        "POST /containers/abc/start",
    ]
    assert paths(audit(capsys, store, "--source", "10.0.0.0/8", "--source", "192.0.2.9")) == [
        "GET /containers/json",
        "-",
    ]
    assert paths(audit(capsys, store, "--gateway", "gw-b")) == ["DELETE /images/x"]
    assert audit(capsys, store, "--client", "nobody") == []


def test_json_lines_round_trip(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    lines = audit(capsys, store, "--json", "--denied")
    parsed = [json.loads(line) for line in lines]
    made = made_records()  # the same times: NOW is set once per test
    assert [AuditRecord.from_dict(item) for item in parsed] == [
        made["gw-a"][1],
        made["gw-a"][3],
        made["gw-b"][0],
    ]
    assert parsed[0]["time"].endswith("Z")


def test_how_an_exchange_ended_is_shown_and_in_the_json(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    [line] = audit(capsys, store, "--op", "container.start")
    assert line.endswith('container.start  rule=allow:container.start  204  end="client gone"')
    assert "end=" not in audit(capsys, store, "--op", "container.create")[0]
    parsed = [json.loads(line) for line in audit(capsys, store, "--json", "--gateway", "gw-a")]
    assert [item["end"] for item in parsed] == ["", "", "client gone", ""]


def test_summary_counts_by_gateway_identity_operation_decision(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    lines = audit(capsys, store, "--summary", "--since", "1h")
    assert lines[0].split() == ["gateway", "identity", "operation", "decision", "count"]
    rows = [line.split() for line in lines[1:-1]]
    assert sorted(rows) == sorted(
        [
            ["gw-a", "cn:ci-runner", "container.create", "deny", "1"],
            ["gw-a", "cn:ci-runner", "container.start", "allow", "1"],
            ["gw-a", "-", "connection.refused", "refuse", "1"],
            ["gw-b", "uid:1000", "image.delete", "audit-deny", "1"],
        ]
    )
    assert lines[-1] == "4 records (gw-a 3, gw-b 1)"
    summary = json.loads(audit(capsys, store, "--summary", "--json", "--client", "ci-runner")[0])
    assert summary == [
        {"gateway": "gw-a", "identity": "cn:ci-runner", "operation": "container.create",
         "decision": "deny", "count": 1},
        {"gateway": "gw-a", "identity": "cn:ci-runner", "operation": "container.start",
         "decision": "allow", "count": 1},
    ]  # fmt: skip
    assert audit(capsys, store, "--summary", "--client", "nobody") == ["no records"]


def test_verify_ok_and_after_an_edit(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    code, out, err = run(capsys, "audit", "verify", "--database", str(store))
    assert (code, err) == (0, "")
    assert out.startswith("ok gateway gw-a: 4 records, head #4 ")
    assert "ok gateway gw-b: 1 records, head #1 " in out
    with sqlite3.connect(store) as db:
        db.execute("UPDATE audit_record SET decision = 'allow' WHERE gateway = 'gw-a' AND seq = 2")
    code, out, err = run(capsys, "audit", "verify", "--database", str(store))
    assert code == 1
    assert "FAILED gateway gw-a: record #2 was edited (" in out
    assert "cn:ci-runner POST /containers/create)" in out
    assert "ok gateway gw-b" in out


def test_the_state_dirs_store_is_the_default(
    capsys: pytest.CaptureFixture[str], store: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    store.rename(state / "audit.sqlite3")
    code, out, err = run(capsys, "audit", "--state-dir", str(state), "--denied")
    assert (code, err) == (0, "")
    assert len(out.splitlines()) == 3
    (state / "dockward.toml").write_text('[audit]\ndatabase = "off"\n')
    code, out, err = run(capsys, "audit", "--state-dir", str(state))
    assert code == 2
    assert "the audit store is off" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since: 'yesterday' is neither a duration"),
        (["--source", "10.0.0.0/33"], "--source '10.0.0.0/33': not an address or network"),
    ],
)
def test_bad_input_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], store: Path, args: list[str], message: str
) -> None:
    code, _out, err = run(capsys, "audit", *args, "--database", str(store))
    assert code == 2
    assert message in err


def test_a_missing_store_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "none.sqlite3"
    for args in ([], ["verify"]):
        code, _out, err = run(capsys, "audit", *args, "--database", str(missing))
        assert code == 2
        assert f"no audit store at {missing}" in err
    assert not missing.exists()


def test_parse_time() -> None:
    now = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    assert parse_time("1h", now) == dt.datetime(2026, 5, 1, 11, 0, tzinfo=dt.UTC)
    assert parse_time("1h30m", now) == dt.datetime(2026, 5, 1, 10, 30, tzinfo=dt.UTC)
    assert parse_time("2d", now) == dt.datetime(2026, 4, 29, 12, 0, tzinfo=dt.UTC)
    assert parse_time("2026-04-30T08:00:00Z", now) == dt.datetime(2026, 4, 30, 8, tzinfo=dt.UTC)
    assert parse_time("2026-04-30T08:00", now) == dt.datetime(2026, 4, 30, 8, tzinfo=dt.UTC)
    offset = dt.timezone(dt.timedelta(hours=2))
    assert parse_time("2026-04-30T10:00+02:00", now) == dt.datetime(2026, 4, 30, 10, tzinfo=offset)
    with pytest.raises(ValueError):
        parse_time("5 minutes", now)
