"""`make soak`: many clients doing mixed work through one gateway for a long time (issue 15).

It starts a private dockerd (the test harness's) and a dockward gateway in front of it, then runs
``--clients`` workers for ``--duration`` seconds with the real docker CLI, each cycling through
``ps``, ``run --rm``, ``exec -i`` (output checked byte for byte), ``logs -f`` (cut by the
client), ``events`` (bounded by ``--until``), ``cp`` in and out (checked), and ``save | load``.
A sampler records the gateway's resident memory and open descriptors; the table printed at the
end shows them over time. It fails (exit 1) on any unexpected error, on memory that keeps
growing (the last quarter's average more than 25 % or 32 MiB above the second quarter's), or on
descriptors left open once the clients have stopped.

Usage: ``.venv/bin/python -m bench.soak [--clients 50] [--duration 600]`` from the repository
root (``make soak``; ``make soak SOAK_SECONDS=60`` for the short version).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.procstat import memory_kib  # noqa: E402
from dockward.gateway.spares import SPARES  # noqa: E402
from support.dockerd import DockerDaemon, find_docker_cli  # noqa: E402
from support.gateway import GatewayProcess, TestPKI  # noqa: E402
from support.images import build_busybox_image  # noqa: E402
from support.waiting import wait_for  # noqa: E402

IMAGE = "dockward-soak/busybox:1"
MIB = 1 << 20
# Descriptors the gateway may hold after the clients beyond those before them: a connection
# still lingering, and the spare daemon connections it keeps from its first client on.
LEFT_FDS_ALLOWED = 2 + SPARES


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def ok(self, kind: str) -> None:
        with self.lock:
            self.done[kind] += 1

    def fail(self, kind: str, detail: str) -> None:
        with self.lock:
            self.errors.append(f"{kind}: {detail.strip()[:300]}")


class Worker:
    """One client: a container of its own, then the workloads in turn until the deadline."""

    def __init__(
        self, number: int, env: dict[str, str], scratch: Path, tally: Tally, image: str
    ) -> None:
        self.number, self.env, self.tally, self.image = number, env, tally, image
        self.container = f"dw-soak-{os.getpid()}-{number}"
        self.scratch = scratch / str(number)
        self.scratch.mkdir()
        self.docker = find_docker_cli()

    def run(self, *args: str, stdin: bytes | None = None, timeout: float = 120) -> bytes:
        result = subprocess.run(
            [self.docker, *args],
            input=stdin,
            capture_output=True,
            env=self.env,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:2])}: {result.stderr.decode()!r}")
        return result.stdout

    def loop(self, deadline: float) -> None:
        try:
            command = ("sh", "-c", "echo up; sleep 86400")
            self.run("run", "-d", "--name", self.container, self.image, *command)
        except Exception as err:  # reported; the soak goes on
            self.tally.fail("setup", str(err))
            return
        workloads: list[tuple[str, Callable[[], None]]] = [
            ("ps", lambda: self.run("ps", "-q") and None),
            ("run", self.run_rm),
            ("exec -i", self.exec_stdin),
            ("logs -f", self.follow),
            ("events", self.events),
            ("cp", self.copy),
            ("save|load", self.save_load),
        ]
        start = self.number % len(workloads)
        for kind, work in itertools.islice(itertools.cycle(workloads), start, None):
            if time.monotonic() >= deadline:
                break
            try:
                work()
            except Exception as err:  # every failure is a finding
                self.tally.fail(kind, str(err))
            else:
                self.tally.ok(kind)
        try:
            self.run("rm", "-f", self.container)
        except Exception as err:
            self.tally.fail("cleanup", str(err))

    def run_rm(self) -> None:
        out = self.run("run", "--rm", self.image, "echo", "soak")
        if out != b"soak\n":
            raise RuntimeError(f"run printed {out!r}")

    def exec_stdin(self) -> None:
        data = os.urandom(64 * 1024 + self.number)
        out = self.run("exec", "-i", self.container, "sha256sum", stdin=data)
        if out.split()[0].decode() != hashlib.sha256(data).hexdigest():
            raise RuntimeError("exec -i: the daemon saw other bytes")

    def follow(self) -> None:
        process = subprocess.Popen(
            [self.docker, "logs", "-f", self.container],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if line != b"up\n":
                raise RuntimeError(f"logs -f printed {line!r}")
        finally:
            process.terminate()  # the client goes away in the middle of the stream
            process.communicate(timeout=30)

    def events(self) -> None:
        now = int(time.time())
        self.run("events", "--since", str(now - 5), "--until", str(now))

    def copy(self) -> None:
        local = self.scratch / "in.bin"
        data = os.urandom(256 * 1024)
        local.write_bytes(data)
        self.run("cp", str(local), f"{self.container}:/tmp/in.bin")
        back = self.scratch / "back"
        self.run("cp", f"{self.container}:/tmp/in.bin", str(back))
        if back.read_bytes() != data:
            raise RuntimeError("cp: the copy came back different")
        back.unlink()

    def save_load(self) -> None:
        archive = self.run("save", self.image)
        self.run("load", "-q", stdin=archive)


def descriptors(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def sample(pid: int, tally: Tally, t0: float) -> tuple[float, int, int, int, int]:
    with tally.lock:
        done, errors = sum(tally.done.values()), len(tally.errors)
    return (time.monotonic() - t0, memory_kib(pid, "VmRSS"), descriptors(pid), done, errors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="dw-soak-"))
    try:
        return soak(args.clients, args.duration, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def soak(clients: int, duration: float, scratch: Path) -> int:
    with DockerDaemon() as daemon:
        build_busybox_image(daemon, IMAGE)
        pki = TestPKI(scratch / "pki")
        with GatewayProcess(pki, daemon.socket_path) as gateway:  # the default limits
            result = run_clients(gateway, IMAGE, clients, duration, scratch)
    return report(result)


@dataclass
class SoakResult:
    samples: list[tuple[float, int, int, int, int]]  # seconds, RSS KiB, fds, ops, errors
    tally: Tally
    left_fds: int  # descriptors the gateway holds beyond those it held before the clients


def run_clients(
    gateway: GatewayProcess, image: str, clients: int, duration: float, scratch: Path
) -> SoakResult:
    """``clients`` workers through ``gateway`` for ``duration`` seconds, sampled."""
    tally = Tally()
    assert gateway.process is not None
    pid = gateway.process.pid
    env = {**gateway.env(), "DOCKER_CONFIG": str(scratch / "docker-config")}
    workers = [Worker(n, env, scratch, tally, image) for n in range(clients)]
    t0 = time.monotonic()
    deadline = t0 + duration
    threads = [threading.Thread(target=w.loop, args=(deadline,)) for w in workers]
    idle_fds = descriptors(pid)
    samples = [sample(pid, tally, t0)]
    for thread in threads:
        thread.start()
    interval = max(1.0, duration / 20)
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=interval / len(threads))
        if time.monotonic() - t0 >= samples[-1][0] + interval:
            samples.append(sample(pid, tally, t0))
    # every client is done: its connections close (their lingers end within a second)
    with contextlib.suppress(AssertionError):  # judged by the caller
        wait_for(lambda: descriptors(pid) <= idle_fds + LEFT_FDS_ALLOWED, timeout=10)
    samples.append(sample(pid, tally, t0))
    return SoakResult(samples, tally, descriptors(pid) - idle_fds)


def problems(result: SoakResult) -> list[str]:
    """What makes the soak fail: unexpected errors, memory that keeps growing, leaked fds."""
    found = []
    if result.tally.errors:
        found.append(f"{len(result.tally.errors)} unexpected errors")
    running = result.samples[1:-1] or result.samples
    quarter = max(1, len(running) // 4)
    second = running[quarter : 2 * quarter] or running
    early = sum(s[1] for s in second) / len(second)
    late = sum(s[1] for s in running[-quarter:]) / quarter
    if late > max(early * 1.25, early + 32 * 1024):
        found.append(f"memory grows: {early / 1024:.1f} MiB -> {late / 1024:.1f} MiB")
    if result.left_fds > LEFT_FDS_ALLOWED:
        found.append(f"descriptors left open: {result.left_fds} more than before the clients")
    return found


def report(result: SoakResult) -> int:
    samples, tally = result.samples, result.tally
    print(f"{'seconds':>8} {'RSS MiB':>8} {'fds':>6} {'ops':>8} {'errors':>7}")
    for seconds, rss, fds, done, errors in samples:
        print(f"{seconds:8.0f} {rss / 1024:8.1f} {fds:6d} {done:8d} {errors:7d}")
    print("ops: " + ", ".join(f"{kind} {n}" for kind, n in sorted(tally.done.items())))
    for error in tally.errors[:20]:
        print(f"ERROR {error}")
    found = problems(result)
    for problem in found:
        print(problem.upper())
    failed = bool(found)
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
