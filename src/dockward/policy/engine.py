"""The policy in force: decides each classified request for an identity.

Deciding is two steps, so the gateway can stop a request as early as possible:

1. ``authorize(identity, address, request)`` — role and operation, from the head alone. Its
   ``Decision`` says whether the body must be inspected (``inspect_body``) before the final word.
2. ``check_body(...)`` — for inspected operations, the profile checks on the decoded body, the
   query, and facts the gateway fetched from the daemon (``facts_needed``).

``AdminPolicy`` is the policy when no policy file is configured: every authenticated peer is
``admin`` (unrestricted); routes that do not classify are still denied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from dockward.identity import PeerIdentity
from dockward.policy import profiles, tenancy
from dockward.policy.decision import Decision
from dockward.policy.operations import Body, Redaction
from dockward.policy.outbound import OutboundRules
from dockward.policy.roles import PolicyConfig, Role, build_role
from dockward.policy.routes import OPERATIONS, Classification

DEFAULT_BODY_LIMIT = 4 * 1024 * 1024
DEFAULT_BUILD_CONTEXT_LIMIT = 64 * 1024 * 1024

# Operations the profiles check; whether their JSON body is decoded first (the rest stream
# through undecoded) and whether an answer is redacted is the operation's registry row.
INSPECTED_OPERATIONS = profiles.inspected_operations()


class Policy(Protocol):
    @property
    def body_limit(self) -> int: ...

    @property
    def build_context_limit(self) -> int: ...

    def authorize(
        self, identity: PeerIdentity, address: str | None, request: Classification
    ) -> Decision: ...

    def facts_needed(
        self,
        decision: Decision,
        request: Classification,
        query: Mapping[str, list[str]],
        body: object,
        facts: profiles.Facts | None = None,
    ) -> list[profiles.FactQuery]: ...

    def check_body(
        self,
        decision: Decision,
        request: Classification,
        query: Mapping[str, list[str]],
        body: object,
        facts: profiles.Facts,
    ) -> Decision: ...

    def judge(
        self,
        decision: Decision,
        request: Classification,
        query: Mapping[str, list[str]],
        body: object,
        facts: profiles.Facts,
    ) -> Decision | list[profiles.FactQuery]: ...


def judge_in_rounds(
    policy: Policy,
    decision: Decision,
    request: Classification,
    query: Mapping[str, list[str]],
    body: object,
    lookup: Callable[[profiles.FactQuery], Mapping[str, object] | None],
) -> Decision:
    """The decision the relay reaches, with ``lookup`` answering for the daemon: ``judge`` once
    per round of lookups, ``check_body`` after the last round (``policy check`` offline)."""
    facts: dict[profiles.FactQuery, Mapping[str, object] | None] = {}
    for _ in range(profiles.MAX_FACT_ROUNDS):
        verdict = policy.judge(decision, request, query, body, facts)
        if isinstance(verdict, Decision):
            return verdict
        facts.update({wanted: lookup(wanted) for wanted in verdict})
    return policy.check_body(decision, request, query, body, facts)


@dataclass(frozen=True)
class _Unrestricted:
    """Shared by AdminPolicy: nothing to inspect."""

    body_limit: int = DEFAULT_BODY_LIMIT
    build_context_limit: int = DEFAULT_BUILD_CONTEXT_LIMIT

    def facts_needed(
        self,
        decision: Decision,
        request: Classification,
        query: Mapping[str, list[str]],
        body: object,
        facts: profiles.Facts | None = None,
    ) -> list[profiles.FactQuery]:
        return []

    def check_body(
        self,
        decision: Decision,
        request: Classification,
        query: Mapping[str, list[str]],
        body: object,
        facts: profiles.Facts,
    ) -> Decision:
        return decision

    def judge(
        self,
        decision: Decision,
        request: Classification,
        query: Mapping[str, list[str]],
        body: object,
        facts: profiles.Facts,
    ) -> Decision | list[profiles.FactQuery]:
        return decision


class AdminPolicy(_Unrestricted):
    """Every authenticated peer is ``admin``; unknown routes are denied."""

    role = "admin"

    def authorize(
        self, identity: PeerIdentity, address: str | None, request: Classification
    ) -> Decision:
        route = request.route
        if route is None:
            return Decision(
                allowed=False,
                operation="unknown",
                rule="unknown-route",
                reason=f"denied: {request.path} is not a known Engine API route for this method",
                role=self.role,
            )
        return _ADMIN_ALLOWS[route.operation]


_ADMIN_ALLOWS = {
    operation: Decision(allowed=True, operation=operation, rule="admin:all", role="admin")
    for operation in OPERATIONS
}


class RolePolicy:
    """A policy file's roles, first match wins, deny by default."""

    def __init__(self, config: PolicyConfig, upstream_socket: str | None = None) -> None:
        self.config = config
        self.extra_sockets: tuple[str, ...] = (upstream_socket,) if upstream_socket else ()
        self.roles: tuple[Role, ...] = tuple(build_role(item) for item in config.role)
        # built once: each role's settings keep their cleaned host and socket paths for every
        # request
        self._settings_of = {
            role.name: self._settings(role, self.extra_sockets) for role in self.roles
        }
        self.body_limit = config.body_limit
        self.build_context_limit = config.build_context_limit
        self._role_cache: dict[tuple[PeerIdentity, str | None], Role | None] = {}
        # what authorize decided, per caller and operation (known routes only)
        self._decided: dict[tuple[PeerIdentity, str | None], dict[str, Decision]] = {}
        # objects made before tenancy, given an owner in [[adopt]]: KIND:ID -> owner
        self.adopted: dict[str, str] = {
            text: entry.owner for entry in config.adopt for text in entry.objects
        }
        self._adopted_by_owner: dict[str, frozenset[str]] = {}
        for key, owner in self.adopted.items():
            self._adopted_by_owner[owner] = self._adopted_by_owner.get(owner, frozenset()) | {key}

    def role_named(self, name: str) -> Role | None:
        return next((role for role in self.roles if role.name == name), None)

    def match_role(self, identity: PeerIdentity, address: str | None) -> Role | None:
        key = (identity, address)
        try:
            return self._role_cache[key]
        except KeyError:
            pass
        role = next((role for role in self.roles if role.matches(identity, address)), None)
        if len(self._role_cache) >= 4096:  # a policy object lives until the next reload
            self._role_cache.clear()
        self._role_cache[key] = role
        return role

    def authorize(
        self, identity: PeerIdentity, address: str | None, request: Classification
    ) -> Decision:
        """The decision for ``request``: on a known route it depends only on the caller and
        the route's operation, so it is made once per caller and operation for this policy
        (a reload makes a new policy) and shared (a ``Decision`` is immutable)."""
        if request.route is None:  # the reason names the path: made each time
            return self._authorize(identity, address, request)
        key = (identity, address)
        made = self._decided.get(key)
        if made is None:
            if len(self._decided) >= 4096:
                self._decided.clear()
            made = self._decided[key] = {}
        decision = made.get(request.route.operation)
        if decision is None:
            decision = made[request.route.operation] = self._authorize(identity, address, request)
        return decision

    def _authorize(
        self, identity: PeerIdentity, address: str | None, request: Classification
    ) -> Decision:
        role = self.match_role(identity, address)
        operation = request.operation
        if role is None:
            where = f" from {address}" if address else ""
            return Decision(
                allowed=False,
                operation=operation,
                rule="no-role",
                reason=f"denied: no role matches {identity.label}{where}",
            )
        if request.route is None:
            if role.profile == "unrestricted" and "*" in role.allow:
                return Decision(True, operation, "unrestricted: unknown route", role=role.name)
            return self._deny(
                role,
                "unknown-route",
                f"{request.path} is not a known Engine API route for this method",
                operation,
            )
        allowed, rule = role.allows_operation(operation)
        if not allowed:
            return self._deny(role, rule, f"operation {operation} is not allowed", operation)
        spec = request.route.spec
        inspect = role.profile != "unrestricted" and operation in INSPECTED_OPERATIONS
        decision = Decision(
            allowed=True,
            operation=operation,
            rule=rule,
            role=role.name,
            profile=role.profile,
            inspect_body=inspect and spec.body is Body.JSON_JUDGED,
            inspect_request=inspect,
            redact="secrets" not in role.grants and spec.redaction is Redaction.SECRETS,
        )
        if role.scope == "all":
            return decision
        return self._scoped(role, identity, decision)

    def _scoped(self, role: Role, identity: PeerIdentity, decision: Decision) -> Decision:
        """Tenancy: the owner the caller acts as, and what of the request it has to see."""
        operation = decision.operation
        refusal = tenancy.unscoped_refusal(operation)
        if refusal is not None:
            return self._deny(role, f"scope {role.scope}", refusal, operation)
        owner = tenancy.owner_key(role.scope, role.name, identity)
        judged = operation in tenancy.INSPECTED_OPERATIONS
        enforce = role.mode == "enforce"
        return replace(
            decision,
            owner=owner,
            adopted=self._adopted_by_owner.get(owner or "", frozenset()),
            owner_filter=enforce,
            private_names=role.names == "private",
            filter_response=enforce
            and (operation in tenancy.FILTERED_RESPONSES or operation in tenancy.FILTERED_STREAMS),
            inspect_request=decision.inspect_request or judged,
            inspect_body=decision.inspect_body or operation in tenancy.BODY_READ_OPERATIONS,
        )

    def _deny(
        self, role: Role, rule: str, why: str, operation: str, profile: str | None = None
    ) -> Decision:
        label = f'role "{role.name}"' + (f" (profile {profile})" if profile else "")
        decision = Decision(
            allowed=False,
            operation=operation,
            rule=rule,
            reason=f"denied by {label}: {why}",
            role=role.name,
            profile=profile,
        )
        if role.mode == "audit":
            return replace(decision, allowed=True, audit_only=True)
        return decision

    def _tenancy_deny(self, role: Role, decision: Decision, refusal: tenancy.Refusal) -> Decision:
        """A cross-owner request: answered as dockerd answers a missing object (404 text
        as is), logged with the rule that says whose object it was."""
        as_daemon = refusal.status in (400, 404)
        reason = (
            refusal.message if as_daemon else f'denied by role "{role.name}": {refusal.message}'
        )
        denied = replace(
            decision,
            allowed=False,
            rule=refusal.rule,
            reason=reason,
            status=refusal.status,
            as_daemon=as_daemon,
        )
        if role.mode == "audit":
            return replace(denied, allowed=True, audit_only=True)
        return denied

    def _settings(
        self, role: Role, extra_sockets: tuple[str, ...] = ()
    ) -> profiles.ProfileSettings:
        defaults = profiles.ProfileSettings()
        return profiles.ProfileSettings(
            allowed_host_paths=role.host_paths,
            allowed_runtimes=role.runtimes,
            allowed_registries=role.registries,
            docker_socket_paths=defaults.docker_socket_paths + extra_sockets,
            outbound=OutboundRules.parse(role.outbound),
            secrets="secrets" in role.grants,
            reads_logs=role.allows_operation("container.logs")[0],
        )

    def facts_needed(
        self,
        decision: Decision,
        request: Classification,
        query: Mapping[str, list[str]],
        body: object,
        facts: profiles.Facts | None = None,
    ) -> list[profiles.FactQuery]:
        if not decision.inspect_request or decision.profile is None or decision.role is None:
            return []
        needed = profiles.facts_needed(
            decision.profile,
            decision.operation,
            request.params,
            query,
            body,
            self._settings_of[decision.role],
            facts,
        )
        if decision.owner is not None:
            known = facts or {}
            for fact in tenancy.facts_needed(
                decision.operation, request.params, query, body, known
            ):
                if fact not in needed:
                    needed.append(fact)
        return needed

    def check_body(
        self,
        decision: Decision,
        request: Classification,
        query: Mapping[str, list[str]],
        body: object,
        facts: profiles.Facts,
    ) -> Decision:
        judging = self._judging(decision)
        if judging is None:
            return decision
        role, profile = judging
        if decision.owner is not None:
            refusal = self._tenancy_refusal(role, decision, request, query, body, facts)
            if refusal is not None:
                return refusal
        violation = profiles.check_request(
            profile,
            decision.operation,
            request.params,
            query,
            body,
            self._settings_of[role.name],
            facts,
        )
        return decision if violation is None else self._profile_deny(role, decision, violation)

    def judge(
        self,
        decision: Decision,
        request: Classification,
        query: Mapping[str, list[str]],
        body: object,
        facts: profiles.Facts,
    ) -> Decision | list[profiles.FactQuery]:
        """One round of ``facts_needed`` and ``check_body``: the lookups still missing, or the
        decision (what ``check_body`` would decide) once none are, or as soon as a refusal no
        lookup can change is found. The gateway calls it once per round of lookups; after the
        last round it calls ``check_body``, which refuses on a fact still missing."""
        judging = self._judging(decision)
        if judging is None:
            return decision
        role, profile = judging
        needed: list[profiles.FactQuery] = []
        if decision.owner is not None:
            needed = tenancy.facts_needed(decision.operation, request.params, query, body, facts)
            if not needed:
                refusal = self._tenancy_refusal(role, decision, request, query, body, facts)
                if refusal is not None:
                    return refusal
        evaluation = profiles.evaluate(
            profile,
            decision.operation,
            request.params,
            query,
            body,
            self._settings_of[role.name],
            facts,
        )
        if evaluation.violation is not None and not needed:
            return self._profile_deny(role, decision, evaluation.violation)
        needed.extend(fact for fact in evaluation.missing if fact not in needed)
        return needed or decision

    def _judging(self, decision: Decision) -> tuple[Role, str] | None:
        """The role and profile that judge the request's body and facts; None: nothing to."""
        if not decision.inspect_request or decision.profile is None or decision.role is None:
            return None
        role = self.role_named(decision.role)
        assert role is not None
        return role, decision.profile

    def _tenancy_refusal(
        self,
        role: Role,
        decision: Decision,
        request: Classification,
        query: Mapping[str, list[str]],
        body: object,
        facts: profiles.Facts,
    ) -> Decision | None:
        """The refusal of a request that reaches another owner's objects, if it does."""
        assert decision.owner is not None
        refusal = tenancy.check(
            decision.operation,
            request.params,
            query,
            body,
            facts,
            decision.owner,
            self.adopted,
            allow_unread=role.unread_dockerfile == "allow",
        )
        return None if refusal is None else self._tenancy_deny(role, decision, refusal)

    def _profile_deny(
        self, role: Role, decision: Decision, violation: profiles.Violation
    ) -> Decision:
        return self._deny(
            role,
            f"profile {decision.profile}: {violation.field}",
            f"{violation.field} {violation.reason}",
            decision.operation,
            profile=decision.profile,
        )
