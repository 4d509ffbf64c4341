"""Container profiles: what ``baseline`` and ``restricted`` refuse, as a table of checks.

The checks see requests as dockerd will act on them (Go's JSON decoding and query parsing, host
paths after ``path.Clean``, pre-27.0 top-level HostConfig fields) and ask the daemon for the
state a request does not carry, never guessing. ``table`` holds the rows and the entry points,
``request`` the view of one request, ``facts`` the daemon lookups and their round limit; the
checks live in ``container``, ``mounts``, ``network``, ``service``, ``plugins``, ``ps_args``
and ``restricted``. Pure functions: no I/O, no logging. Decisions where the daemon's behaviour
left a choice are documented on the rows and in docs/policy.md ("Profiles").
"""

from dockward.policy.profiles.container import (
    DEFAULT_MASKED_PATHS,
    DEFAULT_READONLY_PATHS,
    SAFE_SYSCTLS,
)
from dockward.policy.profiles.facts import MAX_FACT_ROUNDS, FactQuery, Facts
from dockward.policy.profiles.request import ProfileSettings
from dockward.policy.profiles.table import (
    CHECKS,
    PROFILES,
    Check,
    Evaluation,
    Violation,
    check_request,
    evaluate,
    facts_needed,
    inspected_operations,
)

__all__ = [
    "CHECKS",
    "DEFAULT_MASKED_PATHS",
    "DEFAULT_READONLY_PATHS",
    "MAX_FACT_ROUNDS",
    "PROFILES",
    "SAFE_SYSCTLS",
    "Check",
    "Evaluation",
    "FactQuery",
    "Facts",
    "ProfileSettings",
    "Violation",
    "check_request",
    "evaluate",
    "facts_needed",
    "inspected_operations",
]
