"""A private dockerd for end-to-end tests and benchmarks.

The daemon gets its own short base directory under /tmp (unix socket paths are limited to
108 bytes) holding its socket, data root, exec root, pid file, log and an empty config file, so it
shares nothing with a system dockerd.  It has no bridge network and no iptables rules, and its
HTTP(S)_PROXY points at a closed loopback port so that a stray pull fails at once instead of
reaching a registry.  Optionally it also serves its own mutual-TLS TCP listener, which the
benchmark compares dockward against.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .waiting import wait_for

DEAD_PROXY = "http://127.0.0.1:9"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 3  # dockerd's --shutdown-timeout: seconds containers get to stop on exit
_SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin")
_MNT_DETACH = 2
_ip6tables_cache: dict[str, bool] = {}


class DockerdError(RuntimeError):
    """The private dockerd could not be started or cleaned up."""


def _search_path() -> str:
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    parts += [d for d in _SBIN_DIRS if d not in parts]
    return os.pathsep.join(parts)


def find_dockerd() -> str:
    path = shutil.which("dockerd", path=_search_path())
    if path is None:
        raise DockerdError(
            "dockerd is not installed; the end-to-end tests need a real Docker Engine. "
            "Run `make install-tests` (it installs Debian's docker.io and busybox-static)."
        )
    return path


def find_docker_cli() -> str:
    path = shutil.which("docker", path=_search_path())
    if path is None:
        raise DockerdError("the docker CLI is not installed; run `make install-tests`.")
    return path


def _supports_ip6tables(dockerd: str) -> bool:
    if dockerd not in _ip6tables_cache:
        out = subprocess.run(
            [dockerd, "--help"], capture_output=True, text=True, timeout=30, check=False
        )
        _ip6tables_cache[dockerd] = "--ip6tables" in out.stdout + out.stderr
    return _ip6tables_cache[dockerd]


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _unescape_mount_path(field: str) -> str:
    # /proc/*/mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1 : i + 4]) == 3 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(directory: str) -> list[str]:
    """Mount points at or below ``directory``, in mount order (parents before children)."""
    prefix = directory.rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            point = _unescape_mount_path(line.split(" ", 5)[4])
            if point == directory.rstrip("/") or point.startswith(prefix):
                found.append(point)
    return found


def _umount_lazy(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(os.fsencode(path), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # EINVAL: no longer a mount point
            subprocess.run(["umount", "-l", path], capture_output=True, check=False)


def _proc_table() -> dict[int, tuple[int, str, str, int]]:
    """pid -> (ppid, state, cmdline, start time) for every process."""
    table: dict[int, tuple[int, str, str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2 :].split()
        table[pid] = (int(rest[1]), rest[0], cmdline, int(rest[19]))
    return table


class DockerDaemon:
    """A private dockerd on a unix socket in a fresh directory under /tmp.

    Use as a context manager, or call ``start()`` and ``stop()``.  ``stop()`` also removes every
    trace: the containerd and shim processes the daemon spawned, mounts left below the base
    directory and the directory itself.
    """

    def __init__(
        self,
        *,
        tls_listen: tuple[str, int] | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        storage_driver: str | None = None,
        extra_args: Sequence[str] = (),
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        if tls_listen is not None and not (tls_ca and tls_cert and tls_key):
            raise ValueError("tls_listen needs tls_ca, tls_cert and tls_key")
        self.tls_listen = tls_listen
        self.tls_ca, self.tls_cert, self.tls_key = tls_ca, tls_cert, tls_key
        self.storage_driver = storage_driver
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.dockerd = find_dockerd()
        self.base_dir: str = ""
        self.socket_path: str = ""
        self.log_path: str = ""
        self.pid_path: str = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None
        self._known_pids: dict[int, int] = {}  # pid -> start time (guards against pid reuse)
        self._atexit_registered = False

    # -- paths and client helpers -----------------------------------------------------------

    @property
    def url(self) -> str:
        """``unix://…`` address of the daemon's socket (for DOCKER_HOST or the SDK)."""
        return f"unix://{self.socket_path}"

    @property
    def tls_url(self) -> str | None:
        """``tcp://host:port`` of the native TLS listener, if any."""
        if self.tls_listen is None:
            return None
        host, port = self.tls_listen
        return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"

    def env(self) -> dict[str, str]:
        """Environment for subprocesses (``docker`` CLI) that talk to this daemon."""
        env = dict(os.environ)
        for key in ("DOCKER_CONTEXT", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            env.pop(key, None)
        env["DOCKER_HOST"] = self.url
        env["DOCKER_CONFIG"] = os.path.join(self.base_dir, "cli-config")
        env["PATH"] = _search_path()
        return env

    def cli(
        self,
        *args: str,
        input: bytes | None = None,
        timeout: float = 120.0,
        check: bool = False,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run the real ``docker`` CLI against this daemon's socket."""
        return subprocess.run(
            [find_docker_cli(), *args],
            input=input,
            capture_output=True,
            env=self.env(),
            timeout=timeout,
            check=check,
        )

    def api(
        self,
        method: str,
        path: str,
        body: bytes | str | Mapping[str, Any] | list[Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request straight to the daemon's unix socket: ``(status, headers, body)``.

        Header names in the result are lower-cased.  A mapping or list body is sent as JSON.
        """
        hdrs = {"Host": "docker", **(headers or {})}
        data: bytes | None
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn = _UnixHTTPConnection(self.socket_path, timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
            return resp.status, resp_headers, payload
        finally:
            conn.close()

    def api_json(self, method: str, path: str, body: Any = None) -> Any:
        """``api()`` that requires a 2xx answer and decodes its JSON body."""
        status, _, payload = self.api(method, path, body)
        if not 200 <= status < 300:
            raise AssertionError(f"{method} {path} -> {status}: {payload[:500]!r}")
        return json.loads(payload) if payload else None

    def sdk_client(self) -> Any:
        """A ``docker.DockerClient`` on the private socket; the caller must ``close()`` it."""
        import docker

        return docker.DockerClient(base_url=self.url, version="auto", timeout=120)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except OSError:
            return "(no dockerd log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle ------------------------------------------------------------------------

    def private_flags(self) -> list[str]:
        """dockerd flags that keep this daemon in ``base_dir``: no bridge, no iptables rules."""
        base = self.base_dir
        flags = [
            "--config-file",
            os.path.join(base, "daemon.json"),
            "--data-root",
            os.path.join(base, "root"),
            "--exec-root",
            os.path.join(base, "exec"),
            "--pidfile",
            self.pid_path,
            "--bridge=none",
            "--iptables=false",
            f"--shutdown-timeout={SHUTDOWN_TIMEOUT}",
        ]
        if _supports_ip6tables(self.dockerd):
            flags.append("--ip6tables=false")
        if self.storage_driver:
            flags += ["--storage-driver", self.storage_driver]
        return flags

    def _command(self) -> list[str]:
        cmd = [self.dockerd, "-H", self.url, *self.private_flags()]
        if self.tls_listen is not None:
            cmd += [
                "--tlsverify",
                "--tlscacert",
                os.fspath(self.tls_ca or ""),
                "--tlscert",
                os.fspath(self.tls_cert or ""),
                "--tlskey",
                os.fspath(self.tls_key or ""),
                "-H",
                self.tls_url or "",
            ]
        return cmd + self.extra_args

    def daemon_env(self) -> dict[str, str]:
        """Environment for dockerd itself: proxies point at a closed loopback port."""
        env = dict(os.environ)
        for key in ("NO_PROXY", "no_proxy", "DOCKER_HOST", "DOCKER_CONTEXT"):
            env.pop(key, None)
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env[key] = DEAD_PROXY
        env["PATH"] = _search_path()
        return env

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise DockerdError(f"dockerd exited with status {self.process.returncode}")
        try:
            status, _, body = self.api("GET", "/_ping", timeout=2)
        except OSError:
            return False
        if status != 200 or body != b"OK":
            return False
        if self.tls_listen is not None:
            try:
                socket.create_connection(self.tls_listen, timeout=2).close()
            except OSError:
                return False
        return True

    def prepare(self) -> DockerDaemon:
        """Create the base directory and its paths; ``stop()`` removes them again.

        ``start()`` calls this; call it alone to run dockerd some other way with
        ``private_flags()`` (``stop()`` then reaps only containerd and its shims).
        """
        self.base_dir = tempfile.mkdtemp(prefix="dwd-", dir="/tmp")
        self.socket_path = os.path.join(self.base_dir, "docker.sock")
        self.log_path = os.path.join(self.base_dir, "dockerd.log")
        self.pid_path = os.path.join(self.base_dir, "docker.pid")
        Path(self.base_dir, "daemon.json").write_text("{}\n")
        os.mkdir(os.path.join(self.base_dir, "cli-config"))
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        return self

    def start(self) -> DockerDaemon:
        if self.process is not None:
            raise DockerdError("this DockerDaemon is already started")
        t0 = time.monotonic()
        self.prepare()
        try:
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    self._command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.daemon_env(),
                    start_new_session=True,  # Ctrl-C in pytest must not reach dockerd directly
                )
            deadline = time.monotonic() + self.start_timeout
            while not self._ready():  # raises at once if dockerd exits
                if time.monotonic() > deadline:
                    raise DockerdError(f"no answer to GET /_ping within {self.start_timeout:g}s")
                time.sleep(0.05)
        except BaseException as exc:
            tail = self.log_tail()
            try:
                self.stop()
            except Exception as cleanup_exc:
                tail += f"\n(cleanup after failed start also failed: {cleanup_exc})"
            if isinstance(exc, Exception):
                raise DockerdError(
                    f"private dockerd did not come up: {exc}\n--- dockerd log tail ---\n{tail}"
                ) from exc
            raise
        self.start_seconds = time.monotonic() - t0
        self._known_pids.update(self._related_pids())
        return self

    def _related_pids(self) -> dict[int, int]:
        """containerd, shims and container processes spawned by this daemon (not dockerd).

        Only ``containerd*`` processes naming the base dir and descendants of dockerd count, so a
        gateway whose command line names the socket is never touched.
        """
        if not self.base_dir:
            return {}
        table = _proc_table()
        roots = {
            pid
            for pid, (_, state, cmd, _) in table.items()
            if state != "Z"
            and self.base_dir in cmd
            and os.path.basename(cmd.split(" ", 1)[0]).startswith("containerd")
        }
        if self.process is not None:
            roots.add(self.process.pid)
        children: dict[int, list[int]] = {}
        for pid, (ppid, *_) in table.items():
            children.setdefault(ppid, []).append(pid)
        found: set[int] = set()
        todo = list(roots)
        while todo:
            pid = todo.pop()
            if pid in found:
                continue
            found.add(pid)
            todo += children.get(pid, [])
        live = {pid: table[pid][3] for pid in found if pid in table and table[pid][1] != "Z"}
        for pid, started in self._known_pids.items():
            if pid in table and table[pid][1] != "Z" and table[pid][3] == started:
                live[pid] = started
        live.pop(os.getpid(), None)
        if self.process is not None:
            live.pop(self.process.pid, None)
        return live

    def stop(self) -> None:
        """Stop dockerd and everything it started, unmount leftovers, delete the base dir."""
        if self.process is not None:
            self._known_pids.update(self._related_pids())
            if self.process.poll() is None:
                self._kill_containers()
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        self.process.kill()
                    self.process.wait(timeout=STOP_TIMEOUT)
            self.process = None
        if self.base_dir:
            self._reap_children()
            self._cleanup_dir()
            self.base_dir = ""
        self._known_pids.clear()

    def _kill_containers(self) -> None:
        """SIGKILL running containers first: dockerd would give each its 10 s stop timeout."""
        try:
            status, _, body = self.api("GET", "/containers/json", timeout=5)
            if status != 200:
                return
            for container in json.loads(body):
                self.api("POST", f"/containers/{container['Id']}/kill", timeout=5)
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            pass  # best effort: the SIGTERM path below still stops everything

    def _reap_children(self) -> None:
        try:
            wait_for(
                lambda: not self._related_pids(),
                timeout=5,  # normally instant; shims outlive a dockerd that was SIGKILLed
                interval=0.05,
                what="containerd and shims to exit",
            )
            return
        except AssertionError:
            pass
        for pid in self._related_pids():  # only processes this daemon spawned
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(
            lambda: not self._related_pids(),
            timeout=10,
            interval=0.05,
            what="containerd and shims to die after SIGKILL",
        )

    def _cleanup_dir(self) -> None:
        base = self.base_dir
        for _ in range(5):
            points = mounts_under(base)
            if not points:
                break
            for point in reversed(points):  # children before their parents
                _umount_lazy(point)
        leftover = mounts_under(base)
        if leftover:
            raise DockerdError(f"could not unmount {leftover} under {base}")
        shutil.rmtree(base, ignore_errors=True)
        if os.path.exists(base):
            shutil.rmtree(base)  # second try, surfacing the error

    def __enter__(self) -> DockerDaemon:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process is not None else "stopped"
        return f"<DockerDaemon {self.url or '(not started)'} {state}>"
