"""Which role a new client certificate will get from the gateway of a state directory.

``dockward ca issue client NAME --role R`` records R and writes it into the certificate, but the
policy decides: this module reads the policy that ``dockward up`` (or ``serve --state-dir``)
runs for the state directory and says when the two disagree. Offline: source networks are not
known here, so a role's ``networks`` are not checked.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from dockward.config import state_config
from dockward.errors import DockwardError
from dockward.identity import identity_from_certificate
from dockward.pki.state import StateDir
from dockward.policy.engine import RolePolicy
from dockward.policy.namespaces import name_prefix
from dockward.policy.roles import PolicyConfig, load_policy_config, policy_config_from_dict
from dockward.policy.tenancy import owner_key


def _default_policy() -> PolicyConfig:
    import tomllib

    from dockward.firstrun import default_policy

    return policy_config_from_dict(tomllib.loads(default_policy()), source="default policy")


def _policy_of(state: StateDir) -> PolicyConfig:
    path: Path | None = state_config(state.path).policy
    return _default_policy() if path is None else load_policy_config(path)


def owner_note(state: StateDir, cert: x509.Certificate) -> str | None:
    """The owner the client's objects will carry (``dockward.policy.tenancy``), when the role
    it gets has scope ``role`` or ``own``; ``None`` under scope ``all`` or no role."""
    try:
        policy = _policy_of(state)
    except DockwardError:
        return None  # role_warnings says why
    identity = identity_from_certificate(cert.public_bytes(Encoding.DER))
    matched = RolePolicy(policy).match_role(identity, None)
    if matched is None or matched.scope == "all":
        return None
    owner = owner_key(matched.scope, matched.name, identity)
    assert owner is not None
    names = (
        f"; names private: stored at the daemon as {name_prefix(owner)}NAME"
        if matched.names == "private"
        else ""
    )
    return (
        f"owner key: {owner} (role {matched.name}, scope {matched.scope}: its objects carry "
        f"the label dockward.owner={owner}{names})"
    )


def role_warnings(
    state: StateDir, name: str, cert: x509.Certificate, role: str | None
) -> list[str]:
    """Why client ``name`` (certificate ``cert``, issued for ``role``) will not get ``role``
    from the gateway of ``state``; nothing when it will."""
    try:
        policy_path: Path | None = state_config(state.path).policy
        if policy_path is None and role is None:
            return []  # nothing was asked of the policy
        if policy_path is None:
            # no policy until the first `dockward up`, which writes the default one
            where = f"the policy `dockward up` writes to {state.policy_path}"
            policy = _default_policy()
        else:
            where = str(policy_path)
            policy = load_policy_config(policy_path)
    except DockwardError as err:
        return [f"cannot tell which role {name} will get: {err}"]
    identity = identity_from_certificate(cert.public_bytes(Encoding.DER))
    matched = RolePolicy(policy).match_role(identity, None)
    warnings = []
    wanted = f'clients = ["role:{role}"]' if role else f'clients = ["cn:{name}"]'
    if matched is None:
        warnings.append(
            f"no role of {where} matches {name}: the gateway will deny its every request; "
            f"add a [[role]] with {wanted}"
        )
    elif role is not None and matched.name != role:
        warnings.append(
            f"{name} gets role {matched.name!r} from {where} (the first role that matches), "
            f"not {role!r}"
        )
    return warnings
