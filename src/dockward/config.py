"""Gateway configuration: a TOML file validated by pydantic, or built from a state directory.

One model for every way the gateway starts. A configuration that names a ``state_dir`` gets
from it whatever it does not say itself: the server certificate and key, the CA bundle, the CRL,
``auto_renew = true``, the access log ``STATE/access.log`` and the policy ``STATE/policy.toml``
when that file exists (``with_state_dir``); ``[audit] database = "state"`` names the audit store
``STATE/audit.sqlite3``. ``dockward up`` and ``dockward serve --state-dir``
build their configuration with ``state_config``: ``STATE/dockward.toml`` (or another file), then
the command-line flags, then the state directory's defaults. Nothing here writes to disk.

Errors name the key and the reason, e.g. ``listen[0].address: '127.0.0.1:99999': port must be
0-65535``; an unknown key comes first, with the nearest known one (``tls.kye: unknown key (did you
mean 'key'?)``).
"""

from __future__ import annotations

import difflib
import ipaddress
import tomllib
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

from dockward.audit.sinks import STDOUT, SYSLOG
from dockward.errors import ConfigError
from dockward.pki.ca import InvalidNameError, validate_server_name
from dockward.pki.state import StateDir

DEFAULT_UPSTREAM = "/var/run/docker.sock"
ANY_NETWORK = ["0.0.0.0/0", "::/0"]


def parse_host_port(text: str) -> tuple[str, int]:
    """``127.0.0.1:2376``, ``[::1]:2376`` or ``localhost:2376`` → (host, port)."""
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r} is not [IPv6]:PORT")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{text!r} is not HOST:PORT")
        if ":" in host:
            raise ValueError(f"{text!r}: write IPv6 addresses in brackets, e.g. [::1]:2376")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port must be 0-65535")
    return host, int(port_text)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TcpListenerConfig(_Strict):
    """A mutual-TLS listener. There is no plaintext TCP listener."""

    address: str = "127.0.0.1:2376"
    allow: list[str] | None = Field(
        default=None, description="source networks (CIDRs); default: the top-level allow_networks"
    )
    reuse_port: bool = Field(
        default=False,
        description="bind with SO_REUSEPORT, so a new gateway can take over the port while the "
        "old one drains (see docs/operations.md)",
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_host_port(value)
        return value

    @field_validator("allow")
    @classmethod
    def _allow(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for cidr in value:
                ipaddress.ip_network(cidr, strict=False)
        return value


class UnixListenerConfig(_Strict):
    """A local unix-socket listener; peers are identified by SO_PEERCRED."""

    unix: Path
    mode: str = "0660"
    group: str | None = None

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        try:
            mode = int(value, 8)
        except ValueError:
            raise ValueError(f"{value!r} is not an octal file mode such as 0660") from None
        if not 0 <= mode <= 0o777:
            raise ValueError(f"{value!r} is not a file mode between 0000 and 0777")
        return value


class TlsConfig(_Strict):
    cert: Path
    key: Path
    ca: Path = Field(description="the CA bundle client certificates are verified against")
    crl: Path | None = Field(
        default=None, description="PEM CRL(s), one per CA of the bundle; when set, checked always"
    )
    handshake_threads: int = Field(
        default=0,
        ge=0,
        le=64,
        description="threads that run TLS handshakes beside the event loop; 0: on the loop",
    )


AUDIT_OFF = "off"
AUDIT_DATABASE_NAME = "audit.sqlite3"


class AuditConfig(_Strict):
    """The ``[audit]`` table: the tamper-evident audit store (see docs/operations.md)."""

    database: str | None = Field(
        default=None,
        description='a SQLite file, a postgresql:// URL, "state" (STATE/audit.sqlite3) or '
        '"off" (default: none)',
    )
    gateway: str | None = Field(
        default=None, description="this gateway's name in the store (default: the host name)"
    )
    retention_days: float | None = Field(
        default=None, gt=0, description="remove records older than this; none: keep them all"
    )
    on_failure: Literal["refuse-writes", "continue"] = Field(
        default="refuse-writes",
        description="when the store cannot be written and its buffer is full",
    )
    buffer: int = Field(
        default=100_000, ge=100, le=10_000_000, description="records kept while it cannot write"
    )

    @field_validator("database")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError('empty: name a file, a postgresql:// URL, or "off"')
        return value

    @property
    def enabled(self) -> bool:
        return self.database is not None and self.database != AUDIT_OFF


ADMIN_SOCKET_NAME = "admin.sock"


class AdminConfig(_Strict):
    """The ``[admin]`` table: the local admin endpoint (``/metrics``, ``/health``, ``/ready``,
    ``/status``), never on an API listener (see docs/operations.md)."""

    socket: str | None = Field(
        default=None,
        description='unix socket path (0600); default STATE/admin.sock with a state_dir; "off": '
        "none",
    )
    address: str | None = Field(
        default=None, description="a loopback HOST:PORT to serve it on too (for Prometheus)"
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _port = parse_host_port(value)
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ValueError(
                f"{value!r}: the admin endpoint has no authentication, so it listens on a "
                "loopback address only (127.0.0.1:PORT or [::1]:PORT)"
            )
        return value

    @property
    def socket_path(self) -> Path | None:
        if self.socket is None or self.socket == AUDIT_OFF:
            return None
        return Path(self.socket)


class LimitsConfig(_Strict):
    """The ``[limits]`` table: what one client, or all of them together, may hold."""

    inspection_bytes: int = Field(
        default=64 << 20,
        ge=1 << 20,
        description="request bodies held for inspection at once, all connections together; "
        "beyond it a new inspected request waits up to 5 s, then gets 503",
    )
    connections: int = Field(
        default=2048,
        ge=1,
        description="TCP connections held at once (unix-socket clients: per identity only)",
    )
    connections_per_source: int = Field(
        default=512, ge=1, description="TCP connections held at once from one source address"
    )
    connections_per_identity: int = Field(
        default=256, ge=1, description="connections held at once by one identity (cn:…, uid:…)"
    )
    requests_per_second: float | None = Field(
        default=None, gt=0, description="requests an identity may make per second; none: no limit"
    )
    burst: float | None = Field(
        default=None,
        ge=1,
        description="requests an identity may make at once before the rate applies "
        "(default: one second's worth, at least 10)",
    )

    def model_post_init(self, context: object) -> None:
        if self.burst is not None and self.requests_per_second is None:
            raise ValueError("limits.burst needs limits.requests_per_second")

    @property
    def descriptors_needed(self) -> int:
        """Open files the connection caps can call for: two per connection, and some spare."""
        return 2 * self.connections + 64


def _listener_kind(value: object) -> str | None:
    """A ``[[listen]]`` table with ``unix`` is a unix listener, any other table a TCP one.

    Deciding before validating means a table's errors are the errors of the listener it was
    meant to be, not of both kinds.
    """
    if isinstance(value, TcpListenerConfig | UnixListenerConfig):
        return type(value).__name__
    if isinstance(value, Mapping):
        return "UnixListenerConfig" if "unix" in value else "TcpListenerConfig"
    return None


Listener = Annotated[
    Annotated[TcpListenerConfig, Tag("TcpListenerConfig")]
    | Annotated[UnixListenerConfig, Tag("UnixListenerConfig")],
    Discriminator(
        _listener_kind,
        custom_error_type="listener_table",
        custom_error_message='a listener is a table: address = "HOST:PORT" or unix = "PATH"',
    ),
]


def _default_listeners() -> list[TcpListenerConfig | UnixListenerConfig]:
    return [TcpListenerConfig()]


class GatewayConfig(_Strict):
    upstream: Path = Path(DEFAULT_UPSTREAM)
    tls: TlsConfig | None = None
    listen: list[Listener] = Field(default_factory=_default_listeners)
    allow_networks: list[str] = Field(default_factory=lambda: list(ANY_NETWORK))
    access_log: str = "-"
    access_log_max_bytes: int | None = Field(
        default=None,
        gt=0,
        description="rotate the access log file before it grows past this size; none: never",
    )
    access_log_keep: int = Field(
        default=5, ge=1, le=1000, description="rotated access log files kept (PATH.1 … PATH.N)"
    )
    policy: Path | None = Field(
        default=None, description="policy file with [[role]] tables; none: every client is admin"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    head_timeout: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="seconds a client may take to send a request head once it started one",
    )
    connect_timeout: float = Field(
        default=5.0, gt=0, le=600, description="seconds to open a connection to the Docker daemon"
    )
    response_timeout: float | None = Field(
        default=60.0,
        gt=0,
        description="seconds the daemon has to answer a brief operation (then 504); none: no limit",
    )
    stream_response_timeout: float | None = Field(
        default=None,
        gt=0,
        description="the same for long operations and tunnels, until their head; none: no limit",
    )
    body_timeout: float | None = Field(
        default=30.0,
        gt=0,
        description="seconds a request body may go without a byte (then 408); none: no limit",
    )
    idle_timeout: float | None = Field(
        default=None,
        gt=0,
        description="close keep-alive connections idle this long; none: never (as dockerd)",
    )
    drain_timeout: float = Field(
        default=30.0,
        gt=0,
        le=86400,
        description="on SIGTERM, seconds streams and tunnels may run on before they are closed",
    )
    limits: LimitsConfig = Field(default_factory=lambda: LimitsConfig())
    state_dir: Path | None = Field(
        default=None, description="dockward's state directory (CA, index) for auto_renew"
    )
    auto_renew: bool = Field(
        default=False, description="renew the server certificate at 2/3 of its lifetime"
    )
    san: list[str] = Field(
        default_factory=list,
        description="extra DNS names or IP addresses for the server certificate (dockward up)",
    )
    audit: AuditConfig = Field(default_factory=AuditConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @field_validator("san")
    @classmethod
    def _san(cls, value: list[str]) -> list[str]:
        for name in value:
            try:
                validate_server_name(name)
            except InvalidNameError as err:
                raise ValueError(str(err)) from None
        return value

    def model_post_init(self, context: object) -> None:
        if not self.listen:
            raise ValueError("at least one listener is needed")
        if any(isinstance(item, TcpListenerConfig) for item in self.listen) and self.tls is None:
            raise ValueError("a TCP listener needs a [tls] section (cert, key, ca)")
        rotation = [
            name
            for name in ("access_log_max_bytes", "access_log_keep")
            if name in self.model_fields_set
        ]
        if rotation and self.access_log in ("-", STDOUT, SYSLOG):
            names = " and ".join(rotation)
            raise ValueError(
                f"{names} {'need' if len(rotation) > 1 else 'needs'} access_log to be a file, "
                f"not {self.access_log!r}: remove {'them' if len(rotation) > 1 else 'it'} or "
                "set access_log to a path"
            )
        if self.auto_renew and self.state_dir is None:
            raise ValueError("auto_renew needs state_dir (where the CA key is)")
        if self.audit.database == "state":
            raise ValueError('audit.database = "state" needs state_dir (where the store goes)')
        api = {item.address for item in self.listen if isinstance(item, TcpListenerConfig)}
        if self.admin.address is not None and self.admin.address in api:
            raise ValueError(f"admin.address {self.admin.address} is an API listener's address")
        unix = {item.unix for item in self.listen if isinstance(item, UnixListenerConfig)}
        if self.admin.socket_path is not None and self.admin.socket_path in unix:
            raise ValueError(f"admin.socket {self.admin.socket} is an API listener's socket")


def read_toml(path: Path, what: str) -> dict[str, object]:
    """A TOML file as a dict; ``ConfigError`` for a missing, unreadable or invalid file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found") from None
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None


MAX_LISTED_PROBLEMS = 10


def closest(word: object, choices: Iterable[str]) -> str | None:
    """The one of ``choices`` that ``word`` is most likely a misspelling of, if any is close."""
    if not isinstance(word, str):
        return None
    close = difflib.get_close_matches(word, list(choices), n=1)
    return close[0] if close else None


def did_you_mean(word: object, choices: Iterable[str], *, otherwise: str = "") -> str:
    """`` (did you mean 'NAME'?)`` with the closest of ``choices``, else ``otherwise``."""
    match = closest(word, choices)
    return f" (did you mean {match!r}?)" if match is not None else otherwise


def validation_error(
    err: ValidationError, source: str, model: type[BaseModel] | None = None
) -> ConfigError:
    """Every validation problem as a line ``SOURCE: key.path[0].name: reason``.

    Unknown keys come first, each with the nearest key ``model`` knows at that place; a required
    key that such a suggestion names is left out (it is the same mistake). Beyond
    ``MAX_LISTED_PROBLEMS`` lines, a last line says how many more there are.
    """
    errors = err.errors()
    unknown = [error for error in errors if error["type"] == "extra_forbidden"]
    lines: list[str] = []
    suggested: set[tuple[int | str, ...]] = set()
    for error in unknown:
        *table, key = error["loc"]
        known = _field_names(model, tuple(table))
        match = closest(key, known)
        if match is not None:
            suggested.add((*table, match))
            lines.append(f"{_location(error['loc'])}: unknown key (did you mean {match!r}?)")
        else:
            lines.append(f"{_location(error['loc'])}: unknown key{_known_keys(known)}")
    for error in errors:
        if error["type"] == "extra_forbidden":
            continue
        if error["type"] == "missing" and error["loc"] in suggested:
            continue
        lines.append(f"{_location(error['loc'])}: {_reason(error, model)}")
    if len(lines) > MAX_LISTED_PROBLEMS:
        more = len(lines) - MAX_LISTED_PROBLEMS + 1
        lines[MAX_LISTED_PROBLEMS - 1 :] = [f"and {more} more problems"]
    return ConfigError("\n".join(f"{source}: {line}" for line in lines))


def _reason(error: ErrorDetails, model: type[BaseModel] | None) -> str:
    if error["type"] == "literal_error":
        *table, name = error["loc"]
        choices = _literal_choices(model, tuple(table), name)
        if choices:
            options = ", ".join(repr(choice) for choice in choices)
            return f"{error['input']!r} is not one of {options}" + did_you_mean(
                error["input"], choices
            )
    return error["msg"].removeprefix("Value error, ")


def _known_keys(known: list[str]) -> str:
    return f" (known keys: {', '.join(known)})" if known else ""


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The models an annotation can hold, through lists, unions, ``Annotated`` and ``None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _models_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[type[BaseModel]]:
    """The models that may describe the table at ``loc`` (a union tag narrows them to one)."""
    models = [model] if model is not None else []
    for part in loc:
        if isinstance(part, int):
            continue
        tagged = [candidate for candidate in models if candidate.__name__ == part]
        if tagged:
            models = tagged
            continue
        models = [
            inner
            for candidate in models
            if part in candidate.model_fields
            for inner in _models_in(candidate.model_fields[part].annotation)
        ]
    return models


def _field_names(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[str]:
    names: list[str] = []
    for candidate in _models_at(model, loc):
        names += [name for name in candidate.model_fields if name not in names]
    return names


def _literal_choices(
    model: type[BaseModel] | None, loc: tuple[int | str, ...], name: int | str
) -> list[str]:
    for candidate in _models_at(model, loc):
        field = candidate.model_fields.get(str(name))
        if field is not None:
            return [str(choice) for choice in _literals_in(field.annotation)]
    return []


def _literals_in(annotation: object) -> list[object]:
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    return [value for arg in typing.get_args(annotation) for value in _literals_in(arg)]


def load_config(path: Path) -> GatewayConfig:
    """Read and validate a TOML config file; ``ConfigError`` names the key and the reason."""
    return config_from_dict(read_toml(path, "config file"), source=str(path))


def state_config(
    state_dir: Path,
    config_file: Path | None = None,
    overrides: dict[str, object] | None = None,
) -> GatewayConfig:
    """The configuration ``dockward up`` and ``serve --state-dir`` run for ``state_dir``.

    Keys come from ``config_file`` (default ``STATE/dockward.toml`` when it exists), then from
    ``overrides`` (the command-line flags), then from the state directory (``with_state_dir``).
    """
    state = StateDir(state_dir)
    path = config_file if config_file is not None else state.config_path
    data: dict[str, object] = {}
    if config_file is not None or path.exists():
        data = read_toml(path, "config file")
    if "state_dir" in data and Path(str(data["state_dir"])) != state.path:
        raise ConfigError(
            f"{path}: state_dir: {data['state_dir']!r} is not the state directory in use "
            f"({state.path}); remove the key"
        )
    merged = {**data, **(overrides or {}), "state_dir": str(state.path)}
    sources = [str(path)] if data else []
    if overrides:
        sources.append("the command line")
    return config_from_dict(merged, source=" + ".join(sources) or str(state.path))


def with_state_dir(data: dict[str, object]) -> dict[str, object]:
    """``data`` completed from its ``state_dir``: what it does not say, the state dir provides.

    The CRL is always part of it, so revocation works from the first start; ``auto_renew`` is on
    unless said otherwise; the policy is ``STATE/policy.toml`` when that file exists.
    """
    if data.get("state_dir") in (None, ""):
        return data
    state = StateDir(Path(str(data["state_dir"])))
    out = dict(data)
    tls = out.get("tls")
    if tls is None or isinstance(tls, dict):
        out["tls"] = {
            "cert": str(state.server_cert),
            "key": str(state.server_key),
            "ca": str(state.ca_bundle),
            "crl": str(state.crl_path),
            **(tls or {}),
        }
    out.setdefault("auto_renew", True)
    out.setdefault("access_log", str(state.access_log_path))
    audit = out.get("audit")
    if isinstance(audit, dict) and audit.get("database") == "state":
        # opt-in for now: the store still costs more than the 5 % of keep-alive throughput
        # it may cost (docs/operations.md, "The audit trail")
        out["audit"] = {**audit, "database": str(state.path / AUDIT_DATABASE_NAME)}
    admin = out.get("admin")
    if admin is None or (isinstance(admin, dict) and "socket" not in admin):
        out["admin"] = {**(admin or {}), "socket": str(state.path / ADMIN_SOCKET_NAME)}
    if "policy" not in out and state.policy_path.exists():
        out["policy"] = str(state.policy_path)
    return out


def config_from_dict(data: dict[str, object], source: str = "config") -> GatewayConfig:
    """Validate ``data`` (completed from its ``state_dir``, if it names one)."""
    try:
        return GatewayConfig.model_validate(with_state_dir(data))
    except ValidationError as err:
        raise validation_error(err, source, GatewayConfig) from None
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("TcpListenerConfig", "UnixListenerConfig"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"
