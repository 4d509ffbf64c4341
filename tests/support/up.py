"""``dockward up`` as the README tells users to run it, in a subprocess, and the docker CLI
pointed at it with the ``export`` line it prints."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .dockerd import find_docker_cli
from .waiting import wait_for


def dockward(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``dockward ARGS`` in a subprocess, as a user types it (no trust-bundle overrides)."""
    return subprocess.run(
        [sys.executable, "-m", "dockward", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_without_trust_overrides(os.environ),
    )


# Set on some hosts (this one too); they change which CA Python clients trust and make `up` and
# `ca issue` print a warning. Tests that want them set them explicitly.
TRUST_OVERRIDES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _without_trust_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k not in TRUST_OVERRIDES}


def role_toml(name: str, allow: Iterable[str], **options: str) -> str:
    """A ``[[role]]`` table for ``Up.add_roles``: the clients of role NAME (``role:NAME``),
    ``allow``, and string ``options`` (``scope = "own"``, ``names = "private"``, …)."""
    listed = ", ".join(f'"{operation}"' for operation in allow)
    lines = [f'name = "{name}"', f'clients = ["role:{name}"]', f"allow = [{listed}]"]
    lines += [f'{key} = "{value}"' for key, value in options.items()]
    return "\n[[role]]\n" + "\n".join(lines) + "\n"


class Up:
    """``dockward up --state-dir STATE [--listen LISTEN] [--upstream SOCKET] [EXTRA...]``."""

    def __init__(
        self,
        state: Path,
        listen: str | None,
        upstream: str | None,
        *extra: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.state = state
        listen_args = ["--listen", listen] if listen is not None else []
        listen_args += ["--upstream", upstream] if upstream is not None else []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dockward",
                "up",
                "--state-dir",
                str(state),
                *listen_args,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**_without_trust_overrides(os.environ), **(env or {})},
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        for stream, sink in ((self.process.stdout, self.lines), (self.process.stderr, self.errors)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _read(stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def log(self) -> str:
        """The operational log (standard error) so far."""
        return "".join(self.errors)

    def wait_ready(self) -> Up:
        wait_for(
            lambda: "serving the Docker API" in self.output or self.process.poll() is not None,
            timeout=30,
            what="dockward up to serve",
        )
        assert self.process.poll() is None, self.output + self.log()
        return self

    def exported(self) -> dict[str, str]:
        """The variables of the ``export DOCKER_HOST=…`` line ``up`` printed."""
        line = next(line for line in self.lines if "export DOCKER_HOST=" in line)
        words = shlex.split(line.strip().removeprefix("export "))
        return dict(word.split("=", 1) for word in words)

    def docker_env(self, bundle: Path | None = None, **extra: str) -> dict[str, str]:
        """The CLI's environment: the printed export line, another bundle if given."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(self.exported())
        if bundle is not None:
            env["DOCKER_CERT_PATH"] = str(bundle)
        env["DOCKER_CONFIG"] = str(self.state.parent / "docker-config")
        env.update(extra)
        return env

    def docker(
        self, *args: str, bundle: Path | None = None, timeout: float = 60, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [find_docker_cli(), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.docker_env(bundle, **extra),
        )

    def docker_popen(self, *args: str, bundle: Path | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [find_docker_cli(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.docker_env(bundle),
        )

    def add_roles(self, roles: str, what: str) -> None:
        """Append ``roles`` (TOML) to ``STATE/policy.toml`` and wait for the live reload."""
        policy = self.state / "policy.toml"
        policy.write_text(policy.read_text() + roles)
        wait_for(lambda: "policy reloaded" in self.log(), what=what)

    def compose_popen(
        self, bundle: Path, directory: Path, project: str, *args: str
    ) -> subprocess.Popen[str]:
        """Debian's ``docker-compose -p PROJECT ARGS`` in ``directory`` as the client of
        ``bundle`` (compose 1.29 reads the CLI's variables; the CA variables of requests would
        override DOCKER_CERT_PATH's, so they are dropped)."""
        binary = shutil.which("docker-compose")
        assert binary, "docker-compose is missing: run `make install-tests`"
        env = self.docker_env(bundle)
        for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            env.pop(variable, None)
        return subprocess.Popen(
            [binary, "-p", project, *args],
            cwd=directory,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def ca(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``dockward ca ARGS --state-dir STATE``: must succeed."""
        result = dockward("ca", *args, "--state-dir", str(self.state))
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=15)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Up:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
