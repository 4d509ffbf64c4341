"""The policy in force: decides each classified request for an identity.

Until roles and profiles land (issue: policy), there is one role, ``admin``, which may perform
every operation that classifies; routes that do not classify are denied for everyone.
"""

from __future__ import annotations

from typing import Protocol

from dockward.identity import PeerIdentity
from dockward.policy.decision import Decision
from dockward.policy.routes import Classification


class Policy(Protocol):
    def authorize(self, identity: PeerIdentity, request: Classification) -> Decision: ...


class AdminPolicy:
    """Every authenticated peer is ``admin``; unknown routes are denied."""

    role = "admin"

    def authorize(self, identity: PeerIdentity, request: Classification) -> Decision:
        route = request.route
        if route is None:
            return Decision(
                allowed=False,
                operation="unknown",
                rule="unknown-route",
                reason=f"denied: {request.path} is not a known Engine API route for this method",
                role=self.role,
            )
        return Decision(allowed=True, operation=route.operation, rule="admin:all", role=self.role)
