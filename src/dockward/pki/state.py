"""The state directory: where the CA, the server certificate and client bundles live.

Layout (every directory 0700, every key 0600)::

    STATE/ca/ca.pem            the CA certificate that issues
    STATE/ca/ca-key.pem        its key, optionally encrypted
    STATE/ca/old/              during a CA rotation: the previous CA (ca.pem, ca-key.pem)
    STATE/ca/bundle.pem        the trust bundle: the CA, and the previous one during a rotation;
                               the gateway verifies clients against it and bundles hand it out
    STATE/ca/crl.pem           one CRL per CA of the trust bundle (PEM)
    STATE/ca/index.sqlite3     every certificate issued (``dockward.pki.index``)
    STATE/server/cert.pem      the gateway's certificate
    STATE/server/key.pem       the gateway's key
    STATE/clients/NAME/        a DOCKER_CERT_PATH bundle: ca.pem cert.pem key.pem env
    STATE/policy.toml          the gateway's policy (written by ``dockward up`` when absent)
    STATE/dockward.toml        optional gateway settings for ``up`` and ``serve --state-dir``
    STATE/access.log           the gateway's access log

This module owns that layout, the first-run bootstrap (``StateDir.bootstrap``), the files that
follow from the CA (trust bundle, CRL, client bundles) and the environment lines that point the
docker CLI at a bundle. Certificate profiles belong to ``dockward.pki.ca``; operations such as
revoke or rotate to ``dockward.pki.lifecycle``; printing belongs to the CLI.
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

from dockward.errors import UsageError
from dockward.identity import ROLE_URI_PREFIX
from dockward.pki.ca import (
    BUNDLE_CERT,
    BUNDLE_KEY,
    DEFAULT_CA_DAYS,
    DEFAULT_CRL_DAYS,
    CertificateAuthority,
    ExpiredCAError,
    InvalidNameError,
    IssuedCertificate,
    MalformedFileError,
    MissingFileError,
    PassphraseError,
    PKIError,
    Revocation,
    ensure_private_dir,
    issued_by,
    load_certificate,
    load_private_key,
    validate_client_name,
    validate_server_name,
    write_public_file,
)
from dockward.pki.crl import (
    RevocationList,
    RevocationListError,
    encode_crls,
    load_revocation_list,
)
from dockward.pki.index import CertificateIndex, CertKind, CertStatus, IndexEntry

__all__ = [
    "ADMIN_CLIENT",
    "BUNDLE_ENV",
    "DEFAULT_PORT",
    "Authorities",
    "BootstrapReport",
    "CANotFoundError",
    "StateDir",
    "default_server_names",
    "default_state_dir",
    "docker_host_url",
    "env_file",
    "env_lines",
]

ADMIN_CLIENT = "admin"
ADMIN_ROLE = "admin"
DEFAULT_PORT = 2376
DEFAULT_CLIENT_HOST = f"127.0.0.1:{DEFAULT_PORT}"
# The file in a client bundle with DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.
BUNDLE_ENV = "env"
SYSTEM_STATE_DIR = Path("/var/lib/dockward")


class CANotFoundError(PKIError):
    """The state directory has no CA yet."""


def default_state_dir() -> Path:
    """``$DOCKWARD_STATE_DIR`` when set, else ``/var/lib/dockward`` for root, else
    ``$XDG_STATE_HOME/dockward`` (~/.local/state)."""
    chosen = os.environ.get("DOCKWARD_STATE_DIR", "")
    if chosen:
        return Path(chosen)
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


def env_file(host: str, cert_path: Path) -> bytes:
    """The ``env`` file of a bundle: ``KEY=value`` lines for a shell, systemd or compose."""
    url = shlex.quote(docker_host_url(host))
    path = shlex.quote(os.path.abspath(cert_path))
    here = shlex.quote(os.path.join(os.path.abspath(cert_path), BUNDLE_ENV))
    return (
        "# dockward client bundle; in a shell: set -a; . "
        f"{here}; set +a\n"
        "# Python clients (docker-py, docker-compose 1.x) need REQUESTS_CA_BUNDLE and "
        "CURL_CA_BUNDLE unset: either one replaces ca.pem for them\n"
        f"DOCKER_HOST={url}\n"
        "DOCKER_TLS_VERIFY=1\n"
        f"DOCKER_CERT_PATH={path}\n"
    ).encode()


@dataclass(frozen=True)
class Authorities:
    """The CA that issues and, during a rotation, the previous one that is still trusted."""

    current: CertificateAuthority
    old: CertificateAuthority | None = None

    @property
    def all(self) -> tuple[CertificateAuthority, ...]:
        """Every CA of the trust bundle, the issuing one first."""
        return (self.current,) if self.old is None else (self.current, self.old)

    def trust_pem(self) -> bytes:
        """The trust bundle: each CA certificate as PEM, the issuing one first."""
        return b"".join(ca.cert_pem() for ca in self.all)

    def issuer_of(self, cert: x509.Certificate) -> CertificateAuthority | None:
        """The CA of the bundle that signed ``cert``, if any."""
        return next((ca for ca in self.all if issued_by(cert, ca.cert)), None)


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

    # -- layout ---------------------------------------------------------------------------------

    @property
    def ca_dir(self) -> Path:
        """The directory of the CA certificate and key."""
        return self.path / "ca"

    @property
    def ca_cert(self) -> Path:
        """The certificate of the CA that issues."""
        return self.ca_dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        """The CA private key (encrypted when the CA was made with a passphrase)."""
        return self.ca_dir / "ca-key.pem"

    @property
    def old_ca_dir(self) -> Path:
        """Where the previous CA waits during a rotation, until ``dockward ca retire-old``."""
        return self.ca_dir / "old"

    @property
    def old_ca_cert(self) -> Path:
        """The previous CA's certificate, during a rotation."""
        return self.old_ca_dir / "ca.pem"

    @property
    def old_ca_key(self) -> Path:
        """The previous CA's key, during a rotation (it still signs its CRL)."""
        return self.old_ca_dir / "ca-key.pem"

    @property
    def ca_bundle(self) -> Path:
        """The trust bundle the gateway verifies clients against: the CA, and the previous one
        during a rotation (PEM, issuing CA first). Client bundles get the same as ``ca.pem``."""
        return self.ca_dir / "bundle.pem"

    @property
    def crl_path(self) -> Path:
        """The CRL file: one PEM CRL per CA of the trust bundle."""
        return self.ca_dir / "crl.pem"

    @property
    def index_path(self) -> Path:
        """The SQLite index of every certificate issued."""
        return self.ca_dir / "index.sqlite3"

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

    @property
    def policy_path(self) -> Path:
        """The policy the gateway of this state directory enforces (when the file exists)."""
        return self.path / "policy.toml"

    @property
    def config_path(self) -> Path:
        """Optional gateway settings (listeners, networks, names) for ``up``/``serve``."""
        return self.path / "dockward.toml"

    @property
    def access_log_path(self) -> Path:
        """The gateway's JSON-lines access log."""
        return self.path / "access.log"

    def client_dir(self, name: str) -> Path:
        """The bundle directory of client ``name`` (which must be a safe file name)."""
        return self.clients_dir / validate_client_name(name)

    def has_ca(self) -> bool:
        """Whether a CA certificate or key is already present."""
        return self.ca_cert.exists() or self.ca_key.exists()

    def rotating(self) -> bool:
        """Whether a CA rotation is in progress (a previous CA is still trusted)."""
        return self.old_ca_cert.exists() or self.old_ca_key.exists()

    def fix_hint(self, command: str) -> str:
        """``dockward ca COMMAND --state-dir DIR``, for messages that say what to run."""
        return f"dockward ca {command} --state-dir {shlex.quote(os.fspath(self.path))}"

    # -- the CA ---------------------------------------------------------------------------------

    def create_ca(
        self,
        passphrase: bytes | None = None,
        common_name: str = "dockward CA",
        *,
        days: int = DEFAULT_CA_DAYS,
        now: dt.datetime | None = None,
    ) -> CertificateAuthority:
        """Make a new CA and write it, replacing any CA already there.

        Every earlier CA is retired with the certificates it signed (nothing trusts them any
        more), a rotation in progress ends, and the trust bundle and the CRL start afresh.
        """
        ensure_private_dir(self.path)
        ca = CertificateAuthority.create(common_name, days, now=now)
        with self.open_index() as index, index.transaction():
            for entry in index.entries(CertKind.CA):
                if entry.status is not CertStatus.RETIRED:
                    index.retire(entry.serial)
            index.record(ca.cert, CertKind.CA, issuer_serial=ca.serial, now=now)
            ca.write(self.ca_cert, self.ca_key, passphrase)
            self.remove_old_ca()
            self.publish_trust(Authorities(ca), index, now=now)
        return ca

    def load_ca(
        self, passphrase: bytes | None = None, *, allow_expired: bool = False
    ) -> CertificateAuthority:
        """Load the CA, or explain how to make one."""
        if not self.has_ca():
            raise CANotFoundError(
                f"no CA in {self.path}: run `dockward ca init --state-dir {self.path}` first"
            )
        try:
            return CertificateAuthority.load(
                self.ca_cert, self.ca_key, passphrase, allow_expired=allow_expired
            )
        except ExpiredCAError as err:
            raise ExpiredCAError(
                f"{err}: run `{self.fix_hint('rotate')}` to make a new CA and reissue "
                "the certificates"
            ) from err

    def load_authorities(
        self, passphrase: bytes | None = None, *, allow_expired: bool = False
    ) -> Authorities:
        """The issuing CA and, during a rotation, the previous one (same passphrase)."""
        current = self.load_ca(passphrase, allow_expired=allow_expired)
        old = None
        if self.rotating():
            # The previous CA may expire during the overlap; it is then simply not used.
            old = CertificateAuthority.load(
                self.old_ca_cert, self.old_ca_key, passphrase, allow_expired=True
            )
        return Authorities(current, old)

    def trusted_certificates(self) -> list[x509.Certificate]:
        """The CA certificates as the files say (no key needed): issuing first, then old."""
        certs = [load_certificate(self.ca_cert, "CA certificate")]
        if self.old_ca_cert.exists():
            certs.append(load_certificate(self.old_ca_cert, "previous CA certificate"))
        return certs

    def remove_old_ca(self) -> None:
        """Delete the previous CA's files (the end of a rotation)."""
        for path in (self.old_ca_key, self.old_ca_cert):
            path.unlink(missing_ok=True)
        if self.old_ca_dir.is_dir():
            self.old_ca_dir.rmdir()

    # -- files that follow from the CA ----------------------------------------------------------

    def open_index(self) -> CertificateIndex:
        """Open the index; a new index first records the certificates already on disk."""
        index = CertificateIndex.open(self.index_path)
        if index.created:
            try:
                self._adopt(index)
            except BaseException:
                index.close()
                raise
        return index

    def _adopt(self, index: CertificateIndex) -> None:
        # A state directory from before the index existed: record what it holds, so that
        # `ca list` shows it and `ca revoke` can find it.
        cas: list[x509.Certificate] = []
        for path in (self.old_ca_cert, self.ca_cert):
            cert = _try_load(path)
            if cert is not None:
                cas.append(cert)
                index.record(cert, CertKind.CA, issuer_serial=cert.serial_number)
        leaves: list[tuple[Path, CertKind, str | None]] = [
            (self.server_cert, CertKind.SERVER, None)
        ]
        if self.clients_dir.is_dir():
            for directory in sorted(self.clients_dir.iterdir()):
                role = ADMIN_ROLE if directory.name == ADMIN_CLIENT else None
                leaves.append((directory / BUNDLE_CERT, CertKind.CLIENT, role))
        for path, kind, role in leaves:
            cert = _try_load(path)
            issuer = next((ca for ca in cas if issued_by(cert, ca)), None) if cert else None
            if cert is not None and issuer is not None:
                index.record(cert, kind, issuer_serial=issuer.serial_number, role=role)

    def _published_bundle(self) -> bytes | None:
        try:
            return self.ca_bundle.read_bytes()
        except FileNotFoundError:
            return None

    def publish_trust(
        self,
        authorities: Authorities,
        index: CertificateIndex,
        *,
        days: int = DEFAULT_CRL_DAYS,
        now: dt.datetime | None = None,
    ) -> RevocationList:
        """Write the trust bundle of ``authorities`` (unless it is already there) and a fresh
        CRL for it; return the CRL as verified against the new bundle.

        The gateway may reload between the two writes, and a CA of the bundle without a CRL
        refuses every client. So a CA joins the bundle only after its CRL is in the file (the
        CRL first), and leaves the bundle before its CRL does (the bundle first): every pair of
        files the gateway can read in between verifies. Only a CA replaced outright (``ca init``
        over an existing CA, ``ca rotate`` of an expired one) has a moment without a CRL.
        """
        moment = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
        trust = authorities.trust_pem()
        published = self._published_bundle()
        try:
            known = x509.load_pem_x509_certificates(published) if published else []
        except ValueError:
            known = []
        joining = any(ca.cert not in known for ca in authorities.all)
        if joining:
            self._write_crl_file(authorities, index, days=days, now=moment)
        if published != trust:
            write_public_file(self.ca_bundle, trust)  # 0644: client bundles hand it out too
        if not joining:
            self._write_crl_file(authorities, index, days=days, now=moment)
        return load_revocation_list(self.crl_path, self.ca_bundle, now=moment)

    def write_crl(
        self,
        authorities: Authorities,
        index: CertificateIndex,
        *,
        days: int = DEFAULT_CRL_DAYS,
        now: dt.datetime | None = None,
    ) -> RevocationList:
        """Sign a fresh CRL for each CA of the bundle and write them; return what was written.

        A CRL lists the revoked certificates of its CA that have not expired yet. The trust
        bundle must already hold ``authorities`` (else use ``publish_trust``).
        """
        moment = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
        self._write_crl_file(authorities, index, days=days, now=moment)
        return load_revocation_list(self.crl_path, self.ca_bundle, now=moment)

    def _write_crl_file(
        self,
        authorities: Authorities,
        index: CertificateIndex,
        *,
        days: int,
        now: dt.datetime,
    ) -> None:
        crls = []
        for ca in authorities.all:
            revoked = [
                Revocation(
                    entry.serial,
                    entry.revoked_at or now,
                    entry.revocation_reason or x509.ReasonFlags.unspecified,
                )
                for entry in index.issued_by(ca.serial)
                if entry.status is CertStatus.REVOKED and not entry.expired(now)
            ]
            number = index.next_crl_number(ca.serial)
            crls.append(ca.sign_crl(revoked, number=number, days=days, now=now))
        write_public_file(self.crl_path, encode_crls(crls))

    def ensure_published(
        self,
        authorities: Authorities,
        index: CertificateIndex,
        *,
        now: dt.datetime | None = None,
    ) -> list[str]:
        """Rewrite the trust bundle (and the CRL with it) if it is stale, else the CRL if it is
        unusable or due.

        Returns notes about what was repaired (nothing for a CRL merely due for re-signing).
        """
        published = self._published_bundle()
        if published != authorities.trust_pem():
            self.publish_trust(authorities, index, now=now)
            if published is None:
                return []
            return [f"trust bundle {self.ca_bundle} did not match the CA; rewritten"]
        notes: list[str] = []
        try:
            crl = load_revocation_list(self.crl_path, self.ca_bundle, now=now)
        except RevocationListError as err:
            if self.crl_path.exists():
                notes.append(f"{str(err).split(': run', 1)[0]}; re-signed")
            self.write_crl(authorities, index, now=now)
        else:
            if crl.needs_refresh(now):
                self.write_crl(authorities, index, now=now)
        return notes

    def write_client_bundle(
        self,
        name: str,
        issued: IssuedCertificate,
        trust_pem: bytes,
        host: str = DEFAULT_CLIENT_HOST,
    ) -> Path:
        """Write STATE/clients/NAME: ca.pem (the trust bundle), cert.pem, key.pem and env."""
        directory = self.client_dir(name)
        ensure_private_dir(self.clients_dir)
        issued.write_bundle(directory, trust_pem=trust_pem)
        write_public_file(directory / BUNDLE_ENV, env_file(host, directory))
        return directory

    # -- a certificate just issued: recorded and written together -------------------------------

    def save_server(
        self, index: CertificateIndex, issued: IssuedCertificate, *, now: dt.datetime | None = None
    ) -> IndexEntry:
        """Record a new server certificate and write it to STATE/server/, in one transaction."""
        with index.transaction():
            entry = index.record(
                issued.cert, CertKind.SERVER, issuer_serial=issued.ca_cert.serial_number, now=now
            )
            issued.write(self.server_cert, self.server_key)
        return entry

    def save_client(
        self,
        index: CertificateIndex,
        name: str,
        issued: IssuedCertificate,
        trust_pem: bytes,
        *,
        role: str | None = None,
        host: str = DEFAULT_CLIENT_HOST,
        now: dt.datetime | None = None,
    ) -> tuple[IndexEntry, Path]:
        """Record a new client certificate and write its bundle, in one transaction; return the
        entry and the bundle directory."""
        with index.transaction():
            entry = index.record(
                issued.cert,
                CertKind.CLIENT,
                issuer_serial=issued.ca_cert.serial_number,
                role=role,
                now=now,
            )
            directory = self.write_client_bundle(name, issued, trust_pem, host)
        return entry, directory

    # -- first run ------------------------------------------------------------------------------

    def bootstrap(
        self,
        server_names: list[str],
        passphrase: bytes | None = None,
        *,
        client_host: str = DEFAULT_CLIENT_HOST,
    ) -> BootstrapReport:
        """Make whatever is missing: the CA, a server certificate, an ``admin`` client bundle,
        the trust bundle and the CRL; record what it issues in the index.

        Later runs reuse what exists. A server certificate that does not name exactly
        ``server_names``, an admin certificate that does not carry the ``admin`` role, and either
        one when it has expired, does not parse, or was not signed by a CA of the trust bundle is
        issued anew (and a note says why); an unreadable CA is an error, never replaced. A CRL
        that is missing, broken or two thirds through its validity is re-signed.
        ``client_host`` goes into the admin bundle's ``env`` file.
        """
        ensure_private_dir(self.path)
        notes: list[str] = []
        created_ca = not self.has_ca()
        if created_ca:
            self.create_ca(passphrase)
        authorities = self.load_authorities(passphrase)
        ca = authorities.current

        with self.open_index() as index:
            server_problem = _leaf_problem(
                self.server_cert, self.server_key, authorities
            ) or _names_problem(self.server_cert, server_names)
            if server_problem:
                if server_problem != "missing":
                    notes.append(
                        f"server certificate {self.server_cert} {server_problem}; reissued"
                    )
                self.save_server(index, ca.issue_server(server_names))

            admin_dir = self.client_dir(ADMIN_CLIENT)
            admin_problem = _leaf_problem(
                admin_dir / BUNDLE_CERT, admin_dir / BUNDLE_KEY, authorities
            ) or _role_problem(admin_dir / BUNDLE_CERT, ADMIN_ROLE)
            if admin_problem:
                if admin_problem != "missing":
                    notes.append(f"admin bundle {admin_dir} {admin_problem}; reissued")
                self.save_client(
                    index,
                    ADMIN_CLIENT,
                    ca.issue_client(ADMIN_CLIENT, role=ADMIN_ROLE),
                    authorities.trust_pem(),
                    role=ADMIN_ROLE,
                    host=client_host,
                )
            notes.extend(self.ensure_published(authorities, index))

        return BootstrapReport(
            state_dir=self.path,
            created_ca=created_ca,
            created_server=bool(server_problem),
            created_admin=bool(admin_problem),
            admin_dir=admin_dir,
            notes=tuple(notes),
        )


def _try_load(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _leaf_problem(cert_path: Path, key_path: Path, authorities: Authorities) -> str | None:
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
    if authorities.issuer_of(cert) is None:
        return "was not issued by the current CA"
    if cert.not_valid_after_utc <= dt.datetime.now(dt.UTC):
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    return None


def _san_values(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def _names_problem(cert_path: Path, wanted: list[str]) -> str | None:
    """Why the server certificate must be reissued for ``wanted`` names, or None."""
    have = set(_san_values(load_certificate(cert_path)))
    want = {validate_server_name(name) for name in wanted}
    missing = sorted(str(name.value) for name in want - have)
    extra = sorted(str(name.value) for name in have - want)
    if not missing and not extra:
        return None
    changes = [f"lacked {', '.join(missing)}"] if missing else []
    changes += [f"named {', '.join(extra)} no longer wanted"] if extra else []
    return " and ".join(changes)


def _role_problem(cert_path: Path, role: str) -> str | None:
    """Why a client certificate must be reissued to carry ``role``, or None."""
    uris = [
        name.value
        for name in _san_values(load_certificate(cert_path))
        if isinstance(name, x509.UniformResourceIdentifier)
    ]
    return None if ROLE_URI_PREFIX + role in uris else f"carried no role {role!r}"
