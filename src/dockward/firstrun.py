"""What ``dockward up`` makes before it serves a state directory, from the configuration.

``StateDir.bootstrap`` makes the certificates; this module decides what they depend on: the
names the server certificate carries (this host's, every listener's address, the ``san``
names), the address a client dials (a name the certificate carries), and the default policy
``STATE/policy.toml``, which binds each preset to the certificates issued with its role
(``dockward ca issue client NAME --role ROLE``). Printing belongs to the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import Encoding

from dockward.config import GatewayConfig, TcpListenerConfig, parse_host_port
from dockward.identity import identity_from_certificate
from dockward.pki.ca import write_private_file
from dockward.pki.index import CertKind, CertStatus
from dockward.pki.state import ADMIN_CLIENT, StateDir, default_server_names
from dockward.policy.roles import PRESETS

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def tcp_addresses(config: GatewayConfig) -> list[tuple[str, int]]:
    """``(host, port)`` of every TCP listener, in configuration order."""
    return [
        parse_host_port(item.address)
        for item in config.listen
        if isinstance(item, TcpListenerConfig)
    ]


def server_names(config: GatewayConfig) -> list[str]:
    """The names the server certificate must carry for ``config``."""
    names = default_server_names()
    hosts = [host for host, _port in tcp_addresses(config) if host not in WILDCARD_HOSTS]
    for name in [*hosts, *config.san]:
        if name not in names:
            names.append(name)
    return names


def client_address(config: GatewayConfig) -> str:
    """``HOST:PORT`` for ``DOCKER_HOST``: the first TCP listener, by a name its certificate
    carries. A wildcard listener is named by the first ``san``, else by this host's name."""
    addresses = tcp_addresses(config)
    host, port = addresses[0] if addresses else ("127.0.0.1", 2376)
    if host in WILDCARD_HOSTS:
        local = default_server_names()
        host = config.san[0] if config.san else (local[3] if len(local) > 3 else "127.0.0.1")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def default_policy() -> str:
    """The policy ``up`` writes: one role per preset, bound to certificates of that role."""
    lines = [
        "# dockward policy (docs/policy.md): who may do what. Reloaded when it changes.",
        "# Roles are tried in order; the first that matches a client decides; no match: denied.",
        "# `dockward ca issue client NAME --role ROLE` writes ROLE into the certificate, and",
        '# `clients = ["role:ROLE"]` matches it. Add roles, networks, host_paths as needed.',
    ]
    for name, preset in PRESETS.items():
        lines += [
            "",
            f"# {preset.description}",
            "[[role]]",
            f'name = "{name}"',
            f'preset = "{name}"',
            f'clients = ["role:{name}"]',
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class FirstRun:
    """What ``prepare`` did, as lines for a person."""

    lines: tuple[str, ...]
    created_policy: bool


def prepare(state: StateDir, config: GatewayConfig, passphrase: bytes | None = None) -> FirstRun:
    """Make what is missing in ``state`` for ``config``: certificates, then the policy."""
    report = state.bootstrap(server_names(config), passphrase, client_host=client_address(config))
    lines = report.describe()
    created_policy = False
    if config.policy is None and not state.policy_path.exists():
        write_private_file(state.policy_path, default_policy().encode())
        created_policy = True
        lines.append(f"created the policy {state.policy_path} (a role for each preset)")
        unbound = _clients_without_role(state) if not report.created_ca else []
        if unbound:
            lines.append(
                "clients issued before the policy carry no role and are denied until renewed "
                f"(`dockward ca renew NAME`): {', '.join(unbound)}"
            )
    return FirstRun(tuple(lines), created_policy)


def _clients_without_role(state: StateDir) -> list[str]:
    with state.open_index() as index:
        return sorted(
            {
                entry.name
                for entry in index.entries(CertKind.CLIENT)
                if entry.status is CertStatus.VALID
                and entry.name != ADMIN_CLIENT
                and not identity_from_certificate(
                    entry.certificate().public_bytes(Encoding.DER)
                ).certified_roles
            }
        )
