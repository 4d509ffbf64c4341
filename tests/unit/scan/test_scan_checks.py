"""The check registry: one row per id, and each row's producer is the code that emits it.

The producers run on the sample scan (support/scan_samples.py), where every check fires: a row
whose producer never emits its id, or a producer that emits an id whose row names another
producer, fails here.
"""

from __future__ import annotations

from collections.abc import Iterable

from dockward.scan import audit, verdicts
from dockward.scan.checks import CHECKS, Check, finding
from dockward.scan.findings import CheckId, Evidence, Severity
from support.scan_samples import MORE_CALLS, SAMPLE_SCAN, Call

CALLS = (*(call for sample in SAMPLE_SCAN for call in sample.calls), *MORE_CALLS)


def _mismatches(calls: Iterable[Call], table: dict[CheckId, Check]) -> list[str]:
    """What is wrong between the table and what the producers emit, one line per problem."""
    problems = []
    emitted: dict[object, set[CheckId]] = {}
    for call in calls:
        for item in call.evidence():
            emitted.setdefault(call.producer, set()).add(item.check)
            row = table.get(item.check)
            if row is None:
                problems.append(f"{call.producer.__qualname__} emits {item.check}: no row")
            elif row.producer is not call.producer:
                problems.append(
                    f"{call.producer.__qualname__} emits {item.check}, whose row names "
                    f"{row.producer.__qualname__}"
                )
    for row in table.values():
        if row.id not in emitted.get(row.producer, set()):
            problems.append(f"{row.id}: {row.producer.__qualname__} never emitted it")
    return list(dict.fromkeys(problems))


def test_one_row_per_id_named_after_it() -> None:
    assert list(CHECKS) == [row.id for row in CHECKS.values()]
    assert set(CHECKS) == set(CheckId)
    for check_id in CheckId:
        assert check_id.name == check_id.value.removeprefix("DW-").replace("-", "_")


def test_every_row_is_emitted_by_its_producer_and_by_no_other() -> None:
    assert _mismatches(CALLS, CHECKS) == []


def test_the_registry_test_sees_a_wrong_producer_and_an_id_without_a_row() -> None:
    wrong = dict(CHECKS)
    legacy = wrong[CheckId.TLS_LEGACY_VERSION]
    wrong[CheckId.TLS_LEGACY_VERSION] = Check(
        legacy.id, verdicts.weak_suites, legacy.severity, legacy.title, legacy.remediation
    )
    assert _mismatches(CALLS, wrong) == [
        "legacy_versions emits DW-TLS-LEGACY-VERSION, whose row names weak_suites",
        "DW-TLS-LEGACY-VERSION: weak_suites never emitted it",
    ]
    without = {key: row for key, row in CHECKS.items() if key is not CheckId.DAEMON_NO_LSM}
    assert _mismatches(CALLS, without) == ["audit emits DW-DAEMON-NO-LSM: no row"]


def test_the_posture_audit_produces_the_daemon_and_container_rows() -> None:
    owned = {row.id for row in CHECKS.values() if row.producer is audit.audit}
    assert {c for c in CheckId if c.name.startswith(("DAEMON_", "CONTAINER_", "ENGINE_"))} == owned


def test_a_finding_takes_its_words_from_the_row_and_its_judgement_from_the_evidence() -> None:
    plain = finding(Evidence(CheckId.CONTAINER_CAP_ADD, "web: CapAdd: NET_ADMIN"), "h:2376")
    row = CHECKS[CheckId.CONTAINER_CAP_ADD]
    assert (plain.id, plain.severity, plain.title, plain.remediation, plain.cis) == (
        row.id,
        Severity.MEDIUM,
        row.title,
        row.remediation,
        "5.4",
    )
    assert (plain.endpoint, plain.evidence, plain.cve) == ("h:2376", "web: CapAdd: NET_ADMIN", ())
    judged = finding(
        Evidence(CheckId.ENGINE_VULNERABLE, "runc 1.1.5", Severity.CRITICAL, ("CVE-X",)), "h:1"
    )
    assert (judged.severity, judged.cve) == (Severity.CRITICAL, ("CVE-X",))
