"""The state directory: where the CA, the server certificate and client bundles live.

Layout (every directory 0700, every key 0600)::

    STATE/ca/ca.pem            CA certificate (also the bundle clients are verified against)
    STATE/ca/ca-key.pem        CA key, optionally encrypted
    STATE/server/cert.pem      the gateway's certificate
    STATE/server/key.pem       the gateway's key
    STATE/clients/NAME/        a DOCKER_CERT_PATH bundle: ca.pem cert.pem key.pem

This module owns that layout, the first-run bootstrap (``StateDir.bootstrap``) and the
environment lines that point the docker CLI at a bundle. Certificate profiles belong to
``dockward.pki.ca``; printing belongs to the CLI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from dockward.errors import UsageError
from dockward.pki.ca import (
    CertificateAuthority,
    InvalidNameError,
    MalformedFileError,
    MissingFileError,
    PassphraseError,
    PKIError,
    ensure_private_dir,
    load_certificate,
    load_private_key,
    validate_client_name,
    validate_server_name,
)

__all__ = [
    "ADMIN_CLIENT",
    "DEFAULT_PORT",
    "BootstrapReport",
    "CANotFoundError",
    "StateDir",
    "default_server_names",
    "default_state_dir",
    "docker_host_url",
    "env_lines",
]

ADMIN_CLIENT = "admin"
DEFAULT_PORT = 2376
SYSTEM_STATE_DIR = Path("/var/lib/dockward")


class CANotFoundError(PKIError):
    """The state directory has no CA yet."""


def default_state_dir() -> Path:
    """``/var/lib/dockward`` for root, else ``$XDG_STATE_HOME/dockward`` (~/.local/state)."""
    if os.geteuid() == 0:
        return SYSTEM_STATE_DIR
    xdg = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "dockward"


def default_server_names() -> list[str]:
    """The names a local client dials: localhost, the loopback IPs and this host's name."""
    names = ["localhost", "127.0.0.1", "::1"]
    hostname = socket.gethostname()
    try:
        general = validate_server_name(hostname)
    except InvalidNameError:
        return names
    if isinstance(general, x509.DNSName) and general.value not in names:
        names.append(general.value)
    return names


def docker_host_url(host: str) -> str:
    """``HOST[:PORT]`` → ``tcp://HOST:PORT`` as ``DOCKER_HOST`` wants it (port 2376 by default).

    The docker CLI dials 2375 when the port is missing, even with TLS, so the port is always
    written out; IPv6 literals are bracketed.
    """
    given = host.removeprefix("tcp://")
    if not given:
        raise UsageError("the host cannot be empty")
    if given.startswith("["):
        literal, sep, rest = given[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"invalid host {host!r}: expected [IPV6] or [IPV6]:PORT")
        _check_ipv6(literal, host)
        name, port = f"[{literal}]", rest[1:] if rest else str(DEFAULT_PORT)
    elif given.count(":") > 1:  # a bare IPv6 literal cannot carry a port
        _check_ipv6(given, host)
        name, port = f"[{given}]", str(DEFAULT_PORT)
    else:
        name, _, port = given.partition(":")
        port = port or str(DEFAULT_PORT)
        if not name:
            raise UsageError(f"invalid host {host!r}: the host name is missing")
        try:
            validate_server_name(name)
        except InvalidNameError as err:
            raise UsageError(f"invalid host {host!r}: not an IP address or a DNS name") from err
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"invalid host {host!r}: the port must be a number from 1 to 65535")
    return f"tcp://{name}:{int(port)}"


def _check_ipv6(literal: str, host: str) -> None:
    try:
        ipaddress.IPv6Address(literal)
    except ValueError as err:
        raise UsageError(f"invalid host {host!r}: {literal!r} is not an IPv6 address") from err


def env_lines(host: str, cert_path: Path) -> list[str]:
    """Shell lines that point the docker CLI (and docker-py) at a client bundle.

    ``DOCKER_TLS_VERIFY=1`` is required: without it the CLI speaks plain HTTP to the TLS port.
    """
    url = shlex.quote(docker_host_url(host))
    path = shlex.quote(os.path.abspath(cert_path))
    return [f"export DOCKER_HOST={url} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={path}"]


@dataclass(frozen=True)
class BootstrapReport:
    """What ``StateDir.bootstrap`` did; ``notes`` say why something was replaced."""

    state_dir: Path
    created_ca: bool
    created_server: bool
    created_admin: bool
    admin_dir: Path
    notes: tuple[str, ...] = ()

    @property
    def created(self) -> tuple[str, ...]:
        """The pieces that were made in this run, among ``ca``, ``server`` and ``admin``."""
        made = (
            ("ca", self.created_ca),
            ("server", self.created_server),
            (ADMIN_CLIENT, self.created_admin),
        )
        return tuple(name for name, done in made if done)

    def describe(self) -> list[str]:
        """One line per piece, created or reused, then the notes: for a person to read."""
        state = StateDir(self.state_dir)
        pieces = (
            (self.created_ca, f"the CA in {state.ca_dir}"),
            (self.created_server, f"the server certificate {state.server_cert}"),
            (self.created_admin, f"the admin bundle {self.admin_dir}"),
        )
        lines = [f"{'created' if made else 'using'} {what}" for made, what in pieces]
        return lines + list(self.notes)


class StateDir:
    """Paths inside one state directory, and the operations that fill it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(os.fspath(path))

    def __repr__(self) -> str:
        return f"StateDir({str(self.path)!r})"

    @property
    def ca_dir(self) -> Path:
        """The directory of the CA certificate and key."""
        return self.path / "ca"

    @property
    def ca_cert(self) -> Path:
        """The CA certificate."""
        return self.ca_dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        """The CA private key (encrypted when the CA was made with a passphrase)."""
        return self.ca_dir / "ca-key.pem"

    @property
    def ca_bundle(self) -> Path:
        """The CA certificates the gateway verifies client certificates against."""
        return self.ca_cert

    @property
    def server_dir(self) -> Path:
        """The directory of the gateway's certificate and key."""
        return self.path / "server"

    @property
    def server_cert(self) -> Path:
        """The gateway's certificate."""
        return self.server_dir / "cert.pem"

    @property
    def server_key(self) -> Path:
        """The gateway's private key."""
        return self.server_dir / "key.pem"

    @property
    def clients_dir(self) -> Path:
        """The parent of all client bundles."""
        return self.path / "clients"

    def client_dir(self, name: str) -> Path:
        """The bundle directory of client ``name`` (which must be a safe file name)."""
        return self.clients_dir / validate_client_name(name)

    def has_ca(self) -> bool:
        """Whether a CA certificate or key is already present."""
        return self.ca_cert.exists() or self.ca_key.exists()

    def create_ca(
        self, passphrase: bytes | None = None, common_name: str = "dockward CA"
    ) -> CertificateAuthority:
        """Make a new CA and write it, replacing any CA already there."""
        ensure_private_dir(self.path)
        ca = CertificateAuthority.create(common_name)
        ca.write(self.ca_cert, self.ca_key, passphrase)
        return ca

    def load_ca(self, passphrase: bytes | None = None) -> CertificateAuthority:
        """Load the CA, or explain how to make one."""
        if not self.has_ca():
            raise CANotFoundError(
                f"no CA in {self.path}: run `dockward ca init --state-dir {self.path}` first"
            )
        return CertificateAuthority.load(self.ca_cert, self.ca_key, passphrase)

    def bootstrap(
        self, server_names: list[str], passphrase: bytes | None = None
    ) -> BootstrapReport:
        """Make whatever is missing: the CA, a server certificate, an ``admin`` client bundle.

        Later runs reuse what exists, even if ``server_names`` changed. A server certificate or
        admin bundle that has expired, does not parse, or was not signed by the current CA is
        issued anew (and a note says why); an unreadable CA is an error, never replaced.
        """
        ensure_private_dir(self.path)
        notes: list[str] = []
        created_ca = not self.has_ca()
        ca = self.create_ca(passphrase) if created_ca else self.load_ca(passphrase)

        server_problem = _leaf_problem(self.server_cert, self.server_key, ca)
        if server_problem:
            if server_problem != "missing":
                notes.append(f"server certificate {self.server_cert} {server_problem}; reissued")
            ensure_private_dir(self.server_dir)
            ca.issue_server(server_names).write(self.server_cert, self.server_key)

        admin_dir = self.client_dir(ADMIN_CLIENT)
        admin_problem = _leaf_problem(admin_dir / "cert.pem", admin_dir / "key.pem", ca)
        if admin_problem:
            if admin_problem != "missing":
                notes.append(f"admin bundle {admin_dir} {admin_problem}; reissued")
            ensure_private_dir(self.clients_dir)
            ca.issue_client(ADMIN_CLIENT).write_bundle(admin_dir)

        return BootstrapReport(
            state_dir=self.path,
            created_ca=created_ca,
            created_server=bool(server_problem),
            created_admin=bool(admin_problem),
            admin_dir=admin_dir,
            notes=tuple(notes),
        )


def _leaf_problem(cert_path: Path, key_path: Path, ca: CertificateAuthority) -> str | None:
    """Why an existing leaf cannot be reused (``"missing"`` if absent), or None if it can."""
    if not cert_path.exists() and not key_path.exists():
        return "missing"
    try:
        cert = load_certificate(cert_path)
        key = load_private_key(key_path)
    except MissingFileError:
        return "was incomplete"
    except (MalformedFileError, PassphraseError):
        # Unreadable files (permissions) still raise: that is the operator's to fix.
        return "did not parse"
    if cert.public_key() != key.public_key():
        return "did not match its key"
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return "was not issued by the current CA"
    if cert.not_valid_after_utc <= dt.datetime.now(dt.UTC):
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    return None
