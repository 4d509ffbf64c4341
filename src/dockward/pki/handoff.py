"""Handing a client its credentials: a DOCKER_CERT_PATH directory or a ``docker context`` tar.

A bundle directory holds ``ca.pem`` (the trust bundle: old and new CA during a rotation),
``cert.pem``, ``key.pem`` (unencrypted, 0600: the docker CLI refuses encrypted keys) and ``env``
(DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). A context tar is what ``docker context
export`` writes and ``docker context import`` reads: ``meta.json`` and ``tls/docker/{ca,cert,
key}.pem``.

This module reads the client's files from the state directory and lays them out, and says when
the environment will keep Python clients from trusting them; it never issues a certificate (that
is ``dockward.pki.lifecycle``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shlex
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from dockward.pki.ca import (
    BUNDLE_CA,
    BUNDLE_CERT,
    BUNDLE_KEY,
    PKIError,
    ensure_private_dir,
    load_certificate_with_pem,
    os_error_reason,
    validate_client_name,
    write_private_file,
    write_public_file,
)
from dockward.pki.index import CertStatus, IndexEntry
from dockward.pki.state import BUNDLE_ENV, StateDir, docker_host_url, env_file

__all__ = [
    "TRUST_OVERRIDE_VARIABLES",
    "ClientCredentials",
    "UnknownClientError",
    "client_credentials",
    "context_create_command",
    "context_tar",
    "default_context_name",
    "trust_override_warning",
    "validate_context_name",
    "write_bundle_directory",
]

# requests, under docker-py and docker-compose 1.x, verifies servers against the first of these
# that is set and not empty, in place of the CA that docker-py gives it (DOCKER_CERT_PATH/ca.pem).
TRUST_OVERRIDE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

# docker/cli's context name rule (cli/context/store): a letter or digit, then more of these.
_CONTEXT_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]+")


class UnknownClientError(PKIError):
    """The state directory has no usable bundle for that client."""


@dataclass(frozen=True)
class ClientCredentials:
    """A client's certificate, key and the trust bundle, read from the state directory."""

    name: str
    entry: IndexEntry
    source: Path  # STATE/clients/NAME
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def client_credentials(
    state: StateDir, name: str, *, now: dt.datetime | None = None
) -> ClientCredentials:
    """The files of client ``name``, refusing one that is unknown, revoked, retired or expired."""
    validate_client_name(name)
    source = state.client_dir(name)
    issue = state.fix_hint(f"issue client {name} --role ROLE")
    if not (source / BUNDLE_CERT).exists() or not (source / BUNDLE_KEY).exists():
        raise UnknownClientError(
            f"no client named {name!r} in {state.path}: issue one with `{issue}`"
        )
    cert, cert_pem = load_certificate_with_pem(source / BUNDLE_CERT, "client certificate")
    moment = now or dt.datetime.now(dt.UTC)
    with state.open_index() as index:
        entry = index.get(cert.serial_number)
    if entry is None:
        raise UnknownClientError(
            f"the certificate in {source} is not in the index: issue a new one with `{issue}`"
        )
    if entry.status is CertStatus.REVOKED:
        raise PKIError(
            f"client {name} is revoked (serial {entry.serial_hex}): "
            f"issue a new certificate with `{issue}`"
        )
    if entry.status is CertStatus.RETIRED:
        raise PKIError(
            f"client {name} was issued by a retired CA: issue a new certificate with `{issue}`"
        )
    if entry.expired(moment):
        raise PKIError(
            f"the certificate of client {name} expired on "
            f"{entry.not_after:%Y-%m-%d %H:%M} UTC: run `{state.fix_hint(f'renew {name}')}`"
        )
    return ClientCredentials(
        name=name,
        entry=entry,
        source=source,
        ca_pem=_trust_pem(state),
        cert_pem=cert_pem,
        key_pem=_read(source / BUNDLE_KEY),
    )


def _trust_pem(state: StateDir) -> bytes:
    # A state directory from before the trust bundle existed: the CA certificates themselves.
    if not state.ca_bundle.exists():
        return b"".join(
            cert.public_bytes(serialization.Encoding.PEM) for cert in state.trusted_certificates()
        )
    return _read(state.ca_bundle)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise PKIError(f"cannot read {path}: {os_error_reason(err)}") from err


def write_bundle_directory(credentials: ClientCredentials, directory: Path, host: str) -> Path:
    """Write ca.pem, cert.pem, key.pem (0600) and env into ``directory`` (0700 if created)."""
    docker_host_url(host)
    target = Path(os.path.abspath(directory))
    ensure_private_dir(target)
    write_private_file(target / BUNDLE_KEY, credentials.key_pem)
    write_public_file(target / BUNDLE_CERT, credentials.cert_pem)
    write_public_file(target / BUNDLE_CA, credentials.ca_pem)
    write_public_file(target / BUNDLE_ENV, env_file(host, target))
    return target


def default_context_name(client: str) -> str:
    """``dockward-NAME``: always a valid context name, and easy to tell apart."""
    return f"dockward-{client}"


def validate_context_name(name: str) -> str:
    """Check a docker context name as the docker CLI will; return it."""
    if not _CONTEXT_NAME.fullmatch(name) or name == "default":
        raise PKIError(
            f"invalid context name {name!r}: use a letter or digit, then at least one more of "
            "A-Z a-z 0-9 _ . + - (and not 'default')"
        )
    return name


def context_tar(
    credentials: ClientCredentials,
    context_name: str,
    host: str,
    *,
    now: dt.datetime | None = None,
) -> bytes:
    """The tar ``docker context import`` accepts, with the layout ``docker context export`` uses."""
    validate_context_name(context_name)
    meta = {
        "Name": context_name,
        "Metadata": {
            "Description": (
                f"dockward client {credentials.name} "
                f"(serial {credentials.entry.serial_hex[:16]}, "
                f"expires {credentials.entry.not_after:%Y-%m-%d})"
            )
        },
        "Endpoints": {"docker": {"Host": docker_host_url(host), "SkipTLSVerify": False}},
    }
    mtime = int((now or dt.datetime.now(dt.UTC)).timestamp())
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "meta.json", json.dumps(meta).encode(), 0o644, mtime)
        _add(tar, "tls", None, 0o700, mtime)
        _add(tar, "tls/docker", None, 0o700, mtime)
        _add(tar, "tls/docker/ca.pem", credentials.ca_pem, 0o600, mtime)
        _add(tar, "tls/docker/cert.pem", credentials.cert_pem, 0o600, mtime)
        _add(tar, "tls/docker/key.pem", credentials.key_pem, 0o600, mtime)
    return out.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes | None, mode: int, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = mtime
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def context_create_command(context_name: str, host: str, cert_dir: Path) -> str:
    """The ``docker context create`` line that makes the same context from a bundle directory."""
    directory = os.path.abspath(cert_dir)
    endpoint = ",".join(
        _csv_field(field)
        for field in (
            f"host={docker_host_url(host)}",
            f"ca={os.path.join(directory, BUNDLE_CA)}",
            f"cert={os.path.join(directory, BUNDLE_CERT)}",
            f"key={os.path.join(directory, BUNDLE_KEY)}",
        )
    )
    return f"docker context create {shlex.quote(context_name)} --docker {shlex.quote(endpoint)}"


def _csv_field(field: str) -> str:
    # The CLI reads --docker as one CSV record (Go's encoding/csv): quote a field that needs it.
    if any(char in field for char in ',"\r\n'):
        return '"' + field.replace('"', '""') + '"'
    return field


def trust_override_warning(environ: Mapping[str, str]) -> str | None:
    """What to tell a user whose environment makes Python docker clients distrust the gateway
    (``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` set), or None. Pure: reads only ``environ``."""
    found = [name for name in TRUST_OVERRIDE_VARIABLES if environ.get(name)]
    if not found:
        return None
    used = shlex.quote(environ[found[0]])
    names = " and ".join(f"{name}={shlex.quote(environ[name])}" for name in found)
    verb = "is" if len(found) == 1 else "are"
    unset = " ".join(f"-u {name}" for name in found)
    return (
        f"{names} {verb} set: Python docker clients (docker-py, docker-compose 1.x) verify the "
        f"gateway against {used} instead of DOCKER_CERT_PATH/ca.pem, and fail; run them as "
        f"`env {unset} docker-compose ...`, or append STATE/ca/bundle.pem to {used}"
    )
