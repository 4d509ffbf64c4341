"""The gateway's TLS credentials: server certificate, CA bundle and CRL, reloadable live.

Each reload builds a fresh ``SSLContext``; new handshakes use it while established connections
keep the one they started with, so nothing is dropped. With a CRL configured, OpenSSL checks
every client certificate against it (``VERIFY_CRL_CHECK_LEAF``): a revoked certificate gets a
``certificate revoked`` alert, and a missing or expired CRL refuses everyone (fail closed). The
verified revocation list is also kept here, so the gateway can re-check identities per request
and end the connections a revoked certificate still holds.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from dockward.config import TlsConfig
from dockward.errors import UsageError
from dockward.identity import PeerIdentity
from dockward.pki.crl import RevocationList, RevocationListError, load_revocation_list
from dockward.tls.context import build_server_context

log = logging.getLogger("dockward.gateway")


def modified_ns(path: Path | None) -> int | None:
    """``path``'s modification time, or None when there is no path or no file (reload checks)."""
    if path is None:
        return None
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


@dataclass
class CredentialState:
    """What one load produced."""

    context: ssl.SSLContext
    revocations: RevocationList | None
    crl_problem: str | None  # why every client is refused, or None


class TLSCredentials:
    """Loads and reloads the TLS material named by the ``[tls]`` config section."""

    def __init__(self, config: TlsConfig) -> None:
        self.config = config
        self._stamps = self._read_stamps()
        self.state = self._load()  # UsageError at startup: unreadable certificate or key
        self._warned_refresh = False

    @property
    def context(self) -> ssl.SSLContext:
        return self.state.context

    def _paths(self) -> tuple[Path | None, ...]:
        config = self.config
        return (config.cert, config.key, config.ca, config.crl)

    def _read_stamps(self) -> tuple[int | None, ...]:
        return tuple(modified_ns(path) for path in self._paths())

    def _load(self) -> CredentialState:
        config = self.config
        context = build_server_context(config.cert, config.key, config.ca)
        if config.crl is None:
            return CredentialState(context, None, None)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        try:
            revocations = load_revocation_list(config.crl, config.ca)
        except (RevocationListError, UsageError) as err:
            # Leave the CRL out of the context: OpenSSL then refuses every client certificate
            # ("unable to get certificate CRL"); an expired CRL is refused by OpenSSL too.
            log.error("refusing every client until the CRL is fixed: %s", err)
            return CredentialState(context, None, str(err))
        context.load_verify_locations(cafile=str(config.crl))
        log.info(
            "CRL loaded: %d revoked certificate(s), next update %s",
            len(revocations.revoked),
            revocations.next_update.isoformat(timespec="seconds"),
        )
        return CredentialState(context, revocations, None)

    def reload(self, *, only_if_changed: bool = False) -> bool:
        """Reload from disk; a broken server certificate or key keeps the previous material."""
        stamps = self._read_stamps()
        if only_if_changed and stamps == self._stamps:
            return False
        self._stamps = stamps
        try:
            self.state = self._load()
        except UsageError as err:
            log.error("TLS reload refused, the previous certificate stays in force: %s", err)
            return False
        self._warned_refresh = False
        log.info("TLS credentials reloaded (server certificate %s)", self.config.cert)
        return True

    def refusal(self, identity: PeerIdentity | None, now: dt.datetime | None = None) -> str | None:
        """Why ``identity`` may not make a request now, or None (checked per request)."""
        if self.config.crl is None or identity is None or identity.kind != "tls":
            return None
        state = self.state
        if state.crl_problem is not None:
            return f"no valid CRL: {state.crl_problem}"
        revocations = state.revocations
        assert revocations is not None
        moment = now or dt.datetime.now(dt.UTC)
        if moment >= revocations.next_update:
            return f"the CRL expired on {revocations.next_update.isoformat(timespec='seconds')}"
        if identity.serial is not None and revocations.is_revoked(identity.serial):
            return "certificate revoked"
        return None

    def check_freshness(self, now: dt.datetime | None = None) -> None:
        """Warn (once per load) when the CRL is two thirds through its validity."""
        revocations = self.state.revocations
        if revocations is None or self._warned_refresh:
            return
        if revocations.needs_refresh(now):
            self._warned_refresh = True
            log.warning(
                "the CRL %s expires at %s: run `dockward ca crl` to re-sign it before then",
                revocations.path,
                revocations.next_update.isoformat(timespec="seconds"),
            )
