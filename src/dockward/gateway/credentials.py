"""The gateway's TLS credentials: server certificate, CA bundle and CRL, reloadable live.

Each reload builds a fresh server context (``tls.context.build_context``, on the backend
``DOCKWARD_TLS_BACKEND`` or ``DEFAULT_BACKEND`` selects); new handshakes use it while established
connections keep the one they started with, so nothing is dropped. With a CRL configured, every
client certificate is checked against it at the handshake: a revoked certificate gets a
``certificate revoked`` alert, and a missing or expired CRL refuses everyone (fail closed). The
verified revocation list is also kept here, so the gateway can re-check identities per request
and end the connections a revoked certificate still holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from dockward.config import TlsConfig
from dockward.errors import UsageError
from dockward.identity import PeerIdentity
from dockward.pki.crl import RevocationList, RevocationListError, load_revocation_list
from dockward.tls.context import ServerContext, build_context, selected_backend
from dockward.tls.revocation import RevocationCheck

log = logging.getLogger("dockward.gateway")


# A file as a reload sees it: device, inode, size and modification time. Files are replaced by
# rename, so a new version is a new inode even when it lands within the same clock tick.
FileStamp = tuple[int, int, int, int]

# How often one reload re-reads when a file changed while it was being read.
STABLE_READ_ATTEMPTS = 3


def file_stamp(path: Path | None) -> FileStamp | None:
    """What identifies the version of ``path`` on disk, or None without a path or a file."""
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def file_digest(path: Path | None) -> str:
    """The SHA-256 of ``path``'s content in hex; empty without a path or a readable file."""
    if path is None:
        return ""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


@dataclass
class CredentialState:
    """What one load produced."""

    context: ServerContext
    revocations: RevocationList | None
    crl_problem: str | None  # why every client is refused, or None

    def __post_init__(self) -> None:
        # the CRL's nextUpdate as a time.time() value: checked on every request
        revocations = self.revocations
        self.good_until = revocations.next_update.timestamp() if revocations else 0.0


class TLSCredentials:
    """Loads and reloads the TLS material named by the ``[tls]`` config section.

    The certificate, key, CA bundle and CRL are separate files that change one by one, so one
    load is kept only if no file changed while it was read (else it is read again), and a load
    whose CRL does not verify against the bundle is in force (refusing everyone) but not
    settled: ``reload(only_if_changed=True)`` tries again until it verifies, file change or not.
    """

    def __init__(self, config: TlsConfig) -> None:
        self.config = config
        # UsageError at startup: unreadable certificate or key
        self.state, self._read = self._load_stable()
        self._refused: tuple[FileStamp | None, ...] | None = None  # files whose load failed
        self._log_outcome(None)
        self._warned_refresh = False

    @property
    def context(self) -> ServerContext:
        return self.state.context

    @property
    def settled(self) -> bool:
        """Whether the material in force was read whole and verified: nothing to retry."""
        return self._read is not None and self.state.crl_problem is None

    def _paths(self) -> tuple[Path | None, ...]:
        config = self.config
        return (config.cert, config.key, config.ca, config.crl)

    def _stamps(self) -> tuple[FileStamp | None, ...]:
        return tuple(file_stamp(path) for path in self._paths())

    def _load_stable(self) -> tuple[CredentialState, tuple[FileStamp | None, ...] | None]:
        """Load until no file changed during the load; return the state and the stamps of what
        it read (None if the files kept changing: the next tick reads them again)."""
        for _ in range(STABLE_READ_ATTEMPTS):
            before = self._stamps()
            state = self._load()
            if self._stamps() == before:
                return state, before
        return state, None

    def _load(self) -> CredentialState:
        config = self.config
        backend = selected_backend()

        def context(revocation: RevocationCheck | None) -> ServerContext:
            return build_context(backend, config.cert, config.key, config.ca, revocation)

        if config.crl is None:
            return CredentialState(context(None), None, None)
        try:
            revocations = load_revocation_list(config.crl, config.ca)
        except (RevocationListError, UsageError) as err:
            # No CRL for the handshake to check against: every client certificate is refused
            # ("unable to get certificate CRL"); an expired CRL is refused at the handshake too.
            return CredentialState(context(RevocationCheck(None)), None, str(err))
        check = RevocationCheck(config.crl, revocations.revoked, revocations.next_update)
        return CredentialState(context(check), revocations, None)

    def _log_outcome(self, previous: CredentialState | None) -> None:
        state = self.state
        if state.crl_problem is not None:
            if previous is None or previous.crl_problem != state.crl_problem:
                log.error("refusing every client until the CRL is fixed: %s", state.crl_problem)
        elif state.revocations is not None:
            log.info(
                "CRL loaded: %d revoked certificate(s), next update %s",
                len(state.revocations.revoked),
                state.revocations.next_update.isoformat(timespec="seconds"),
            )

    def reload(self, *, only_if_changed: bool = False) -> bool:
        """Reload from disk; a broken server certificate or key keeps the previous material.

        With ``only_if_changed`` (the file watcher), nothing is read when the files are the ones
        in force and those verified; a retry that ends where it started is not logged.
        """
        stamps = self._stamps()
        if only_if_changed and (stamps == self._refused or (self.settled and stamps == self._read)):
            return False
        try:
            state, read = self._load_stable()
        except UsageError as err:
            log.error("TLS reload refused, the previous certificate stays in force: %s", err)
            self._refused = stamps  # tried again when a file changes
            return False
        previous, previous_read = self.state, self._read
        self.state, self._read, self._refused = state, read, None
        retried = read is not None and read == previous_read
        if only_if_changed and retried and state.crl_problem == previous.crl_problem:
            return True
        self._warned_refresh = False
        self._log_outcome(previous)
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
        if (time.time() >= state.good_until) if now is None else now >= revocations.next_update:
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
