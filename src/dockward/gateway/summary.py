"""What a started gateway enforces, as one line per guarantee for the operator to read.

Read from the running objects (bound listeners, loaded CRL, loaded policy), not from the
configuration, so that the lines say what is in force. Printing belongs to the CLI.
"""

from __future__ import annotations

import ipaddress

from dockward.gateway.server import Gateway, Listener
from dockward.policy.engine import RolePolicy

ANY_V4 = ipaddress.ip_network("0.0.0.0/0")
ANY_V6 = ipaddress.ip_network("::/0")


def _networks(listener: Listener) -> str:
    nets = set(listener.networks)
    if ANY_V4 in nets and ANY_V6 in nets:
        return "any address"
    return ", ".join(str(net) for net in listener.networks) or "no address"


def _reachable_from_elsewhere(listener: Listener) -> bool:
    host = listener.host
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return True  # a host name: it may resolve to anything


def enforcement_lines(gateway: Gateway) -> list[str]:
    """Listeners and networks, CA and CRL, policy, renewal, access log, audit store: what is in
    force."""
    lines: list[str] = []
    for listener in gateway.listeners:
        if listener.kind == "unix":
            lines.append(
                f"serving the Docker API on unix://{listener.where} (peers identified by uid/gid)"
            )
            continue
        addresses = gateway.bound_addresses_of(listener) or [listener.where]
        for address in addresses:
            lines.append(
                f"serving the Docker API on {address} (mutual TLS) to {_networks(listener)}"
            )
        if _reachable_from_elsewhere(listener):
            lines.append(
                f"warning: {listener.where} accepts connections from other machines; allowed "
                f"source networks: {_networks(listener)} (narrow them with allow_networks or "
                "listen[].allow)"
            )
    lines += _tls_lines(gateway)
    lines += _policy_lines(gateway)
    config = gateway.config
    if config.auto_renew and config.state_dir is not None:
        lines.append(
            f"the server certificate is renewed automatically from the CA in {config.state_dir}"
        )
    if config.access_log != "-":
        lines.append(f"access log: {config.access_log}")
    if config.audit.enabled and config.audit.database is not None:
        from dockward.audit.backends import display_name
        from dockward.audit.store import default_gateway_name

        lines.append(
            f"audit store: {display_name(config.audit.database)} (gateway "
            f"{config.audit.gateway or default_gateway_name()}, hash-chained; when it cannot be "
            f"written: {config.audit.on_failure})"
        )
    admin = [str(p) for p in (config.admin.socket_path, config.admin.address) if p is not None]
    if admin:
        lines.append(f"admin endpoint (metrics, health, `dockward status`): {', '.join(admin)}")
    return lines


def _tls_lines(gateway: Gateway) -> list[str]:
    credentials = gateway.credentials
    if credentials is None:
        return []
    tls = credentials.config
    lines = [f"client certificates verified against {tls.ca}"]
    state = credentials.state
    if tls.crl is None:
        lines.append(
            "warning: no CRL: revoking a certificate has no effect on this gateway "
            "(set tls.crl, or serve a state directory)"
        )
    elif state.crl_problem is not None:
        problem = state.crl_problem
        lines.append(f"warning: every client is refused until the CRL is fixed: {problem}")
    elif state.revocations is not None:
        when = state.revocations.next_update.strftime("%Y-%m-%d %H:%M UTC")
        lines.append(
            f"revocation: CRL {tls.crl} ({len(state.revocations.revoked)} revoked, "
            f"next update {when}), checked at every handshake and request"
        )
    return lines


def _policy_lines(gateway: Gateway) -> list[str]:
    policy = gateway.policy
    if isinstance(policy, RolePolicy):
        roles = ", ".join(role.name for role in policy.roles) or "none (every request is denied)"
        return [f"policy {gateway.config.policy}: roles {roles}"]
    return ["WARNING: no policy: every valid certificate is admin"]
