"""Known vulnerable Docker Engine and runc versions: a table, and the version matching.

A row says which component it concerns and the first fixed release of each release line; a
version is vulnerable if it is at least ``introduced`` and below the fix of its own line (a
line with no fix listed is vulnerable up to the newest fix). Distribution builds (Debian's
``docker.io``, for instance) may carry backported fixes: the evidence says so.

Sources: the Docker Engine release notes and the moby/runc GitHub security advisories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockward.scan.findings import Severity

Version = tuple[int, ...]
_NUMBERS = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, slots=True)
class KnownVulnerability:
    cve: str
    component: str  # "engine" or "runc"
    summary: str
    severity: Severity
    fixed: tuple[str, ...]
    introduced: str = "0.0.0"
    needs_authz_plugin: bool = False  # only matters when an authorization plugin is in use


KNOWN_VULNERABILITIES = (
    KnownVulnerability("CVE-2019-5736", "runc", "runc binary overwrite: container breakout",
                       Severity.HIGH, ("1.0.0",)),
    KnownVulnerability("CVE-2019-5736", "engine", "runc binary overwrite: container breakout",
                       Severity.HIGH, ("18.06.2", "18.09.2")),
    KnownVulnerability("CVE-2019-14271", "engine", "docker cp loads host libraries from the "
                       "container: code execution on the host", Severity.HIGH, ("19.03.1",),
                       introduced="19.03.0"),
    KnownVulnerability("CVE-2021-21284", "engine", "userns-remap root can modify the host's "
                       "files", Severity.MEDIUM, ("19.03.15", "20.10.3")),
    KnownVulnerability("CVE-2021-41091", "engine", "data directory lets unprivileged host users "
                       "run container binaries", Severity.MEDIUM, ("20.10.9",)),
    KnownVulnerability("CVE-2022-24769", "engine", "containers start with inheritable "
                       "capabilities", Severity.MEDIUM, ("20.10.14",)),
    KnownVulnerability("CVE-2022-36109", "engine", "supplementary groups bypass file "
                       "permission restrictions", Severity.MEDIUM, ("20.10.18",)),
    KnownVulnerability("CVE-2024-21626", "runc", "leaked file descriptor: container breakout "
                       "(Leaky Vessels)", Severity.HIGH, ("1.1.12",), introduced="1.0.0"),
    KnownVulnerability("CVE-2024-41110", "engine", "authorization plugin bypass with an empty "
                       "request body", Severity.CRITICAL,
                       ("23.0.15", "25.0.6", "26.1.5", "27.1.1"), needs_authz_plugin=True),
    KnownVulnerability("CVE-2026-34040", "engine", "authorization plugin bypass with an "
                       "oversized request body", Severity.HIGH, ("29.3.1",),
                       needs_authz_plugin=True),
)  # fmt: skip


def parse_version(text: str | None) -> Version | None:
    """``"20.10.24+dfsg1"`` → ``(20, 10, 24)``; ``None`` when there is no version number."""
    if not text:
        return None
    match = _NUMBERS.search(text)
    if not match:
        return None
    return tuple(int(part) for part in match.groups(default="0"))


def is_vulnerable(version: Version, row: KnownVulnerability) -> bool:
    introduced = parse_version(row.introduced) or (0,)
    if version < introduced:
        return False
    fixes = sorted(v for v in (parse_version(f) for f in row.fixed) if v is not None)
    same_line = [fix for fix in fixes if fix[:2] == version[:2]]
    if same_line:
        return version < same_line[0]
    return version < fixes[-1]


def matching(component: str, text: str | None, *, authz_plugins: bool) -> list[KnownVulnerability]:
    """The rows that apply to ``component`` at version ``text``."""
    version = parse_version(text)
    if version is None:
        return []
    return [
        row
        for row in KNOWN_VULNERABILITIES
        if row.component == component
        and (authz_plugins or not row.needs_authz_plugin)
        and is_vulnerable(version, row)
    ]
