"""What a running gateway is doing now, read from its own registries, as typed values.

``snapshot(gateway, traffic)`` reads the connection registry (``Gateway.connections``), the
policy in force, the TLS material (server certificate, CA bundle, CRL) and the audit store, and
returns a ``GatewayStatus``: what ``/status`` serves as JSON (``as_json``), what ``dockward
status`` shows and what the metrics collector counts. ``traffic`` (``gateway.metrics``) adds
each connection's finished requests and bytes. This module reads; it changes nothing and does
no I/O but reading the certificate files (cached by file stamp).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from dockward.gateway.credentials import FileStamp, file_stamp
from dockward.gateway.relay import Phase

if TYPE_CHECKING:
    from dockward.gateway.events import Peer
    from dockward.gateway.server import Gateway

STARTED = time.time()


@dataclass(frozen=True, slots=True)
class ClientView:
    """One live client connection."""

    identity: str  # "cn:NAME", "uid:N"; "" while its TLS handshake runs
    serial: str
    role: str  # the role its identity and address match now ("" for none)
    source: str
    listener: str
    since: float  # time.time() it connected
    requests: int  # finished requests
    in_flight: str  # the operation of the request in progress, if any
    open_tunnels: int  # 1 while the connection is a byte pipe (attach, exec, build)
    bytes_in: int
    bytes_out: int


@dataclass(frozen=True, slots=True)
class CertificateView:
    what: str  # "server" or "ca"
    subject: str
    not_after: float  # time.time() scale


@dataclass(frozen=True, slots=True)
class CrlView:
    path: str
    next_update: float | None
    revoked: int
    problem: str  # why every client is refused ("" when none)


@dataclass(frozen=True, slots=True)
class PolicyView:
    file: str  # "" without a policy file: every client is admin
    sha256: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    pid: int
    started: float
    listeners: tuple[str, ...]
    upstream: str
    clients: tuple[ClientView, ...]
    policy: PolicyView
    certificates: tuple[CertificateView, ...]
    crl: CrlView | None
    audit: Mapping[str, Any] | None  # AuditState as a dict

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Traffic:
    """A connection's finished requests and bytes, by its ``Peer`` (``gateway.metrics``)."""

    def totals(self, peer: Peer) -> tuple[int, int, int]:
        """(requests, bytes_in, bytes_out) of the finished exchanges of ``peer``."""
        return (0, 0, 0)


def role_of(gateway: Gateway, identity: object, address: str | None) -> str:
    """The role ``identity`` from ``address`` has under the policy in force ("" for none)."""
    policy = gateway.policy
    if identity is None:
        return ""
    match = getattr(policy, "match_role", None)
    if match is None:
        return str(getattr(policy, "role", ""))
    role = match(identity, address)
    return role.name if role is not None else ""


def clients(gateway: Gateway, traffic: Traffic) -> tuple[ClientView, ...]:
    out = []
    for connection in list(gateway.connections):
        relay = connection.relay
        if relay is None:
            continue
        peer = relay.peer
        identity = peer.identity
        requests, bytes_in, bytes_out = traffic.totals(peer)
        exchange = relay.exchange
        record = exchange.record if exchange is not None else None
        in_flight = ""
        if record is not None:
            bytes_in += record.bytes_in
            bytes_out += record.bytes_out
            in_flight = record.operation
        serial = getattr(identity, "serial", None)
        out.append(
            ClientView(
                identity=identity.label if identity is not None else "",
                serial="" if serial is None else str(serial),
                role=role_of(gateway, identity, relay.address),
                source=peer.source,
                listener=peer.listener,
                since=getattr(connection, "opened", STARTED),
                requests=requests,
                in_flight=in_flight,
                open_tunnels=1 if relay.phase is Phase.TUNNEL else 0,
                bytes_in=bytes_in,
                bytes_out=bytes_out,
            )
        )
    out.sort(key=lambda view: view.since)
    return tuple(out)


def policy_view(gateway: Gateway) -> PolicyView:
    path = gateway.config.policy
    roles = tuple(role.name for role in getattr(gateway.policy, "roles", ()))
    if not roles and hasattr(gateway.policy, "role"):
        roles = (str(gateway.policy.role),)
    return PolicyView(
        file=str(path) if path is not None else "",
        sha256=getattr(gateway, "policy_digest", ""),
        roles=roles,
    )


_certificates: dict[Path, tuple[FileStamp | None, tuple[x509.Certificate, ...]]] = {}


def _read_certificates(path: Path) -> tuple[x509.Certificate, ...]:
    """The certificates of a PEM file, read again only when the file changed."""
    stamp = file_stamp(path)
    cached = _certificates.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        certificates = tuple(x509.load_pem_x509_certificates(path.read_bytes()))
    except (OSError, ValueError):
        certificates = ()
    _certificates[path] = (stamp, certificates)
    return certificates


def _subject(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def certificates(gateway: Gateway) -> tuple[CertificateView, ...]:
    tls = gateway.config.tls
    if tls is None:
        return ()
    out = []
    for what, path in (("server", tls.cert), ("ca", tls.ca)):
        for certificate in _read_certificates(path)[: 1 if what == "server" else None]:
            not_after = certificate.not_valid_after_utc.timestamp()
            out.append(CertificateView(what, _subject(certificate), not_after))
    return tuple(out)


def crl_view(gateway: Gateway) -> CrlView | None:
    credentials = gateway.credentials
    if credentials is None or credentials.config.crl is None:
        return None
    state = credentials.state
    revocations = state.revocations
    return CrlView(
        path=str(credentials.config.crl),
        next_update=revocations.next_update.timestamp() if revocations is not None else None,
        revoked=len(revocations.revoked) if revocations is not None else 0,
        problem=state.crl_problem or "",
    )


def crl_problem(gateway: Gateway, now: float | None = None) -> str:
    """Why the CRL in force refuses every client now ("" when it does not, or there is none)."""
    view = crl_view(gateway)
    if view is None:
        return ""
    if view.problem:
        return view.problem
    if view.next_update is not None and (now or time.time()) >= view.next_update:
        when = dt.datetime.fromtimestamp(view.next_update, dt.UTC).isoformat(timespec="seconds")
        return f"the CRL expired on {when}"
    return ""


def snapshot(gateway: Gateway, traffic: Traffic) -> GatewayStatus:
    store = gateway.audit_store
    return GatewayStatus(
        pid=os.getpid(),
        started=STARTED,
        listeners=tuple(listener.where for listener in gateway.listeners),
        upstream=gateway.upstream_path,
        clients=clients(gateway, traffic),
        policy=policy_view(gateway),
        certificates=certificates(gateway),
        crl=crl_view(gateway),
        audit=dataclasses.asdict(store.state()) if store is not None else None,
    )
