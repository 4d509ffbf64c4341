"""An in-process TLS gateway for unit tests: certificates, the gateway, a client's context."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

from dockward.config import config_from_dict
from dockward.gateway.server import Gateway
from dockward.pki.ca import CertificateAuthority


def make_pki(root: Path) -> Path:
    """A CA (``ca.pem``), a server certificate for 127.0.0.1 (``server.pem``,
    ``server-key.pem``) and alice's client bundle (``alice/``) under ``root``."""
    ca = CertificateAuthority.create()
    ca.write(root / "ca.pem", root / "ca-key.pem")
    ca.issue_server(["127.0.0.1"]).write(root / "server.pem", root / "server-key.pem")
    ca.issue_client("alice").write_bundle(root / "alice")
    return root


def tls_gateway(
    pki: Path,
    upstream: Path,
    *,
    allow: Sequence[str] = ("127.0.0.0/8",),
    observers: Sequence[object] = (),
    handshake_threads: int | None = None,
) -> Gateway:
    """A gateway (not started) on 127.0.0.1, any port, serving ``make_pki``'s certificates."""
    tls: dict[str, object] = {
        "cert": str(pki / "server.pem"),
        "key": str(pki / "server-key.pem"),
        "ca": str(pki / "ca.pem"),
    }
    if handshake_threads is not None:
        tls["handshake_threads"] = handshake_threads
    config = config_from_dict(
        {
            "upstream": str(upstream),
            "listen": [{"address": "127.0.0.1:0"}],
            "allow_networks": list(allow),
            "tls": tls,
        }
    )
    return Gateway(config, observers=list(observers))  # type: ignore[arg-type]


def client_context(pki: Path) -> ssl.SSLContext:
    """alice's client context, trusting ``make_pki``'s CA."""
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.load_cert_chain(pki / "alice" / "cert.pem", pki / "alice" / "key.pem")
    return context


def port_of(gateway: Gateway) -> int:
    """The TCP port the started gateway listens on."""
    return int(gateway.bound_addresses()[0].rsplit(":", 1)[1])
