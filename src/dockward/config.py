"""Gateway configuration: a TOML file validated by pydantic, or built by ``dockward up``.

Errors name the key and the reason, e.g. ``listen[0].address: '127.0.0.1:99999' port must be
1-65535``.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dockward.errors import ConfigError

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


def _default_listeners() -> list[TcpListenerConfig | UnixListenerConfig]:
    return [TcpListenerConfig()]


class GatewayConfig(_Strict):
    upstream: Path = Path(DEFAULT_UPSTREAM)
    tls: TlsConfig | None = None
    listen: list[
        Annotated[TcpListenerConfig | UnixListenerConfig, Field(union_mode="left_to_right")]
    ] = Field(default_factory=_default_listeners)
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
    state_dir: Path | None = Field(
        default=None, description="dockward's state directory (CA, index) for auto_renew"
    )
    auto_renew: bool = Field(
        default=False, description="renew the server certificate at 2/3 of its lifetime"
    )

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    def model_post_init(self, context: object) -> None:
        if not self.listen:
            raise ValueError("at least one listener is needed")
        if any(isinstance(item, TcpListenerConfig) for item in self.listen) and self.tls is None:
            raise ValueError("a TCP listener needs a [tls] section (cert, key, ca)")
        if self.access_log_max_bytes is not None and self.access_log == "-":
            raise ValueError("access_log_max_bytes needs access_log to be a file, not '-'")
        if self.auto_renew and self.state_dir is None:
            raise ValueError("auto_renew needs state_dir (where the CA key is)")


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


def validation_error(err: ValidationError, source: str) -> ConfigError:
    """The first validation problem as ``SOURCE: key.path[0].name: reason (and N more)``."""
    first = err.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return ConfigError(f"{source}: {_location(first['loc'])}: {message}{more}")


def load_config(path: Path) -> GatewayConfig:
    """Read and validate a TOML config file; ``ConfigError`` names the key and the reason."""
    return config_from_dict(read_toml(path, "config file"), source=str(path))


def config_from_dict(data: dict[str, object], source: str = "config") -> GatewayConfig:
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as err:
        raise validation_error(err, source) from None
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
