"""Version parsing and matching against the known-vulnerabilities table."""

from __future__ import annotations

import pytest

from dockward.scan.vulns import KNOWN_VULNERABILITIES, is_vulnerable, matching, parse_version


@pytest.mark.parametrize(
    ("text", "version"),
    [("20.10.24+dfsg1", (20, 10, 24)), ("v1.1.12", (1, 1, 12)), ("27.1", (27, 1, 0)),
     ("1.0.0-rc93", (1, 0, 0)), ("", None), (None, None), ("dev", None)],
)  # fmt: skip
def test_parse_version(text: str | None, version: tuple[int, ...] | None) -> None:
    assert parse_version(text) == version


def _cves(component: str, version: str, authz: bool = False) -> set[str]:
    return {row.cve for row in matching(component, version, authz_plugins=authz)}


def test_release_lines_use_their_own_fix() -> None:
    row = next(r for r in KNOWN_VULNERABILITIES if r.cve == "CVE-2024-41110")
    assert is_vulnerable((26, 1, 4), row) and not is_vulnerable((26, 1, 5), row)
    assert is_vulnerable((24, 0, 9), row)  # no fix on the 24.0 line
    assert not is_vulnerable((27, 2, 0), row)  # a later line than every fix


def test_authz_bypasses_need_an_authz_plugin() -> None:
    assert "CVE-2024-41110" not in _cves("engine", "26.1.0")
    assert {"CVE-2024-41110", "CVE-2026-34040"} <= _cves("engine", "26.1.0", authz=True)
    assert _cves("engine", "29.3.1", authz=True) == set()


def test_old_engines_and_runc() -> None:
    assert "CVE-2019-14271" in _cves("engine", "19.03.0")
    assert "CVE-2019-14271" not in _cves("engine", "18.09.9")
    assert "CVE-2022-36109" in _cves("engine", "20.10.17")
    assert _cves("engine", "20.10.24") == set()
    assert _cves("runc", "1.1.11") == {"CVE-2024-21626"}
    assert _cves("runc", "1.1.12") == set()
