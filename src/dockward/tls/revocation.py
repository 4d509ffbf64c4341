"""What a handshake checks the client's certificate against for revocation (either backend)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RevocationCheck:
    """The leaf certificate's revocation check, failing closed.

    ``crl`` is the CRL file when it verified against the CA bundle, with the serials it revokes
    and the earliest nextUpdate of its CRLs; None when it did not, and then every client is
    refused ("unable to get certificate CRL"). Past ``next_update`` every client is refused
    too ("CRL has expired"). A revoked certificate gets a ``certificate revoked`` alert.
    """

    crl: Path | None
    revoked: frozenset[int] = frozenset()
    next_update: dt.datetime | None = None

    @property
    def expires_at(self) -> float:
        """``next_update`` as a POSIX time (infinity without one)."""
        return float("inf") if self.next_update is None else self.next_update.timestamp()
