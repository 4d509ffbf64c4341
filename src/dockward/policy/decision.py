"""``Decision``: the outcome of authorizing one request, as a value.

A denial is not an exception: it carries the role and rule that decided, the human reason the
client is shown, and the status it is answered with. In ``audit`` mode a would-be denial is
``allowed`` with ``audit_only`` set, so it is logged and let through.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    operation: str
    rule: str
    reason: str = ""
    role: str | None = None
    status: int = 403
    profile: str | None = None
    inspect_body: bool = False  # read the JSON body before the final decision
    inspect_request: bool = False  # run the profile checks (query, body, facts)
    redact: bool = False  # rewrite the response without Env values and credentials
    audit_only: bool = False  # a denial in audit mode: logged, let through
    owner: str | None = None  # tenancy: the caller's owner key (scope role or own)
    owner_filter: bool = False  # tenancy: list and event filters narrowed to ``owner``
    filter_response: bool = False  # tenancy: the list answer filtered to ``owner`` again
    adopted: frozenset[str] = frozenset()  # tenancy: ``KIND:ID`` adopted for ``owner``
    as_daemon: bool = False  # a denial worded as dockerd's own answer (no "dockward:" prefix)
    private_names: bool = False  # tenancy: names live under the owner's prefix (namespaces)

    # The answer is collected whole and re-sent changed (redacted, filtered). Derived from the
    # fields above, once: the relay reads it for every answer.
    rewrites_response: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rewrites = self.redact or self.filter_response or self.private_names
        object.__setattr__(self, "rewrites_response", rewrites)

    @property
    def verdict(self) -> str:
        if self.audit_only:
            return "audit-deny"
        return "allow" if self.allowed else "deny"
