"""``auto_renew``: keep the gateway's own server certificate and the CRL fresh.

Once the certificate on disk is two thirds through its lifetime, a new one is issued for the
same names by the CA in the state directory (passphrase from ``DOCKWARD_CA_PASSPHRASE`` when the
key is encrypted) and written in place; the credential watcher then loads it for new handshakes
while established connections carry on. The CRL is re-signed the same way once it is two thirds
through its validity (or unusable), so that a gateway left running never locks every client out
when its CRL expires.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from pathlib import Path

from cryptography import x509

from dockward.config import GatewayConfig
from dockward.errors import UsageError
from dockward.pki.crl import RevocationListError, load_revocation_list
from dockward.pki.lifecycle import refresh_crl, renew
from dockward.pki.state import StateDir

log = logging.getLogger("dockward.gateway")
CHECK_INTERVAL = 60.0


def renewal_due(cert_path: Path, now: dt.datetime | None = None) -> bool:
    """Whether the certificate at ``cert_path`` is two thirds through its lifetime."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return (now or dt.datetime.now(dt.UTC)) >= start + (end - start) * 2 / 3


def env_passphrase() -> bytes | None:
    """The CA key's passphrase for an unattended gateway: ``DOCKWARD_CA_PASSPHRASE``, if set."""
    env = os.environ.get("DOCKWARD_CA_PASSPHRASE")
    return env.encode() if env else None


def crl_due(state: StateDir, now: dt.datetime | None = None) -> bool:
    """Whether the state directory's CRL must be re-signed: due, expired, missing or broken."""
    try:
        crl = load_revocation_list(state.crl_path, state.ca_bundle, now=now)
    except RevocationListError:
        return True
    return crl.needs_refresh(now)


def renew_server_certificate(state: StateDir, passphrase: bytes | None) -> int:
    """Renew the state directory's server certificate; return the new serial."""
    cert = x509.load_pem_x509_certificate(state.server_cert.read_bytes())
    renewed = renew(state, f"{cert.serial_number:x}", passphrase=passphrase)
    return renewed.new.issued.serial


async def auto_renew(config: GatewayConfig, interval: float = CHECK_INTERVAL) -> None:
    """Check every ``interval`` seconds; failures are logged and retried, never fatal."""
    assert config.state_dir is not None
    state = StateDir(config.state_dir)
    passphrase = env_passphrase()
    while True:
        try:
            if renewal_due(state.server_cert):
                serial = await asyncio.to_thread(renew_server_certificate, state, passphrase)
                log.info("renewed the server certificate (new serial %x)", serial)
        except (OSError, ValueError, UsageError) as err:
            log.error("automatic renewal of the server certificate failed: %s", err)
        try:
            if crl_due(state):
                crl = await asyncio.to_thread(refresh_crl, state, passphrase=passphrase)
                log.info("re-signed the CRL (next update %s)", crl.next_update.isoformat())
        except (OSError, ValueError, UsageError) as err:
            log.error("automatic re-signing of the CRL failed: %s", err)
        await asyncio.sleep(interval)
