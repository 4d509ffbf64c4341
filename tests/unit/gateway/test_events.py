"""Access-log lines built from exchange records."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from dockward.gateway import events
from dockward.gateway.events import ExchangeRecord, peer_json


def record(**fields: object) -> ExchangeRecord:
    base: dict[str, object] = {
        "started": 1_800_000_000.0625,
        "source": "127.0.0.1:5000",
        "listener": "127.0.0.1:2376",
        "identity": None,
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
    line = rec.as_json_line()
    assert line.endswith("}\n") and line.count("\n") == 1
    expected = rec.as_log()
    expected["duration_ms"] = 1.234  # three decimals, rounded half to even like round()
    assert json.loads(line) == expected


def test_the_per_connection_prefix_gives_the_same_line():
    rec = record(method="GET", path="/_ping", status=200)
    fixed = record(
        method="GET",
        path="/_ping",
        status=200,
        peer_json=peer_json("127.0.0.1:2376", "127.0.0.1:5000", None),
    )
    assert fixed.as_json_line() == rec.as_json_line()


def test_client_chosen_paths_are_not_memoised():
    before = events._quoted.cache_info().currsize
    kept = len(events._members)
    for n in range(50):
        record(method="GET", path=f"/unique/{n}" + "x" * 10_000).as_json_line()
    assert events._quoted.cache_info().currsize <= before + 2  # method/decision values only
    assert len(events._members) == kept  # long paths are never kept


def test_kept_request_members_are_bounded():
    for n in range(events.MEMBERS_KEPT + 10):
        line = record(method="GET", path=f"/containers/c{n}/json").as_json_line()
        assert json.loads(line)["path"] == f"/containers/c{n}/json"
    assert len(events._members) <= events.MEMBERS_KEPT


def test_timestamps_across_seconds_and_durations_to_the_microsecond():
    for started, shown in (
        (1_800_000_000.0625, "2027-01-15T08:00:00.062+00:00"),
        (1_800_000_001.9995, "2027-01-15T08:00:01.999+00:00"),
        (1_800_000_000.5, "2027-01-15T08:00:00.500+00:00"),
    ):
        rec = record(started=started, duration_ms=0.0004)
        entry = json.loads(rec.as_json_line())
        assert entry["time"] == shown == rec.as_log()["time"]
        assert entry["duration_ms"] == 0.0


@given(st.text())
def test_quoted_strings_read_back(text):
    assert json.loads(events._json_string(text)) == text
