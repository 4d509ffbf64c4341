"""A private PostgreSQL server for the tests: Debian's binaries, a data dir in the suite's temp
dir, loopback only, stopped at the end of the session.

``PostgresServer(root).start()`` runs ``initdb`` into ``ROOT/data`` (trust authentication for
the one user ``dockward``: nothing but this machine's loopback reaches it) and ``postgres`` on
127.0.0.1 at a free port, with no unix socket. Running as root, both run as the ``postgres``
user (PostgreSQL refuses root), and the directories above the data dir in the checkout get the
search bit for others so that user can reach it (when a directory above the checkout is closed
to others, the data dir is a private one in /tmp, removed with the server). The server gets
SIGINT (a fast shutdown) when the process that started it dies, so even a killed session leaves
no server behind. ``stop()`` and ``start()`` again keep the data: the tests use that for "the
database is down".
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from .waiting import wait_for

USER = "dockward"
CHECKOUT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` with ``initdb``, else ``initdb`` on PATH."""

    def version(initdb: str) -> int:
        name = Path(initdb).parent.parent.name
        return int(name) if name.isdigit() else 0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)


class PostgresServer:
    """One PostgreSQL server for the test session."""

    def __init__(self, root: Path) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed: run `make install-tests`")
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.log_path = root / "postgres.log"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as: dict[str, object] = {}
        self._remove_after_stop: Path | None = None
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            self._as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            self._uid, self._gid = account.pw_uid, account.pw_gid

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            env=self._env(),
            **self._as,  # type: ignore[arg-type]
        )

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self._as:
            return
        # The postgres user must reach the data dir: the directories above it in this checkout
        # (the suite's temp dirs, 0700) get the search bit for others. Directories above the
        # checkout are not ours to change: when one is closed, the server lives in /tmp instead.
        for parent in self.root.parents:
            mode = parent.stat().st_mode
            if mode & 0o001:
                continue
            if not parent.is_relative_to(CHECKOUT):
                self._relocate()
                break
            os.chmod(parent, mode | 0o001)
        os.chown(self.root, self._uid, self._gid)

    def _relocate(self) -> None:
        private = Path(tempfile.mkdtemp(prefix="dw-pg-"))
        os.chmod(private, 0o711)
        self._remove_after_stop = private
        self.root = private / "server"
        self.root.mkdir()
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"

    def start(self) -> PostgresServer:
        if not self.data.exists():
            self._prepare()
            self._run(
                "initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                "--no-locale", "--no-sync",
            )  # fmt: skip
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the server
        if self._as:
            os.fchown(log.fileno(), self._uid, self._gid)
        command = [
            str(self.bindir / "postgres"),
            "-D", str(self.data),
            "-h", "127.0.0.1",
            "-p", str(self.port),
            "-k", "",  # no unix socket
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=50",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=log,
            env=self._env(),
            preexec_fn=_die_with_parent,  # only prctl(), after the fork
            **self._as,  # type: ignore[arg-type]
        )
        log.close()
        wait_for(self._ready, timeout=60, what=f"PostgreSQL on 127.0.0.1:{self.port}")
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"postgres exited {self.process.returncode}:\n{self.log()}")
        result = subprocess.run(
            [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            capture_output=True,
        )
        return result.returncode == 0

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def execute(self, database_url: str, sql: str) -> int:
        """Run one statement as the test's own "by hand" change; the rows it touched."""
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as connection:
            return connection.execute(sql).rowcount

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # fast shutdown: clients are disconnected
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def remove(self) -> None:
        """Stop the server and remove a data dir that had to live outside the checkout."""
        self.stop()
        if self._remove_after_stop is not None:
            shutil.rmtree(self._remove_after_stop, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.remove()
