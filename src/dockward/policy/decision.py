"""``Decision``: the outcome of authorizing one request, as a value.

A denial is not an exception: it carries the role and rule that decided, the human reason the
client is shown, and the status it is answered with.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    operation: str
    rule: str
    reason: str = ""
    role: str | None = None
    status: int = 403

    @property
    def verdict(self) -> str:
        return "allow" if self.allowed else "deny"
