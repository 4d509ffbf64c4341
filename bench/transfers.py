"""Big transfers with the real ``docker`` CLI: ``docker save`` of an image and an exec stream.

Timed runs send the CLI's standard output to /dev/null, as ``docker save IMAGE > /dev/null``
would. Separate counted runs read the output through a pipe and return its size, so the benchmark
can check that a path delivered every byte (a proxy that truncates would otherwise look fast).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import select
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bench.procstat import total_cpu

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_READ = 1 << 20


class TransferError(RuntimeError):
    """A docker CLI transfer failed or delivered the wrong number of bytes."""


@dataclass
class TransferResult:
    target: str
    what: str
    seconds: float
    nbytes: int
    cli_cpu_s: float = 0.0
    watched_cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def mib_per_s(self) -> float:
        return self.nbytes / (1 << 20) / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "target": self.target,
            "what": self.what,
            "seconds": self.seconds,
            "bytes": self.nbytes,
            "mib_per_s": self.mib_per_s,
            "cli_cpu_s": self.cli_cpu_s,
            "watched_cpu_s": self.watched_cpu_s,
        }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    target: str,
    what: str,
    nbytes: int,
    watch: Mapping[str, Callable[[], list[int]]],
    timeout: float,
) -> TransferResult:
    """Run ``command`` with stdout to /dev/null; wall time and CPU of everyone involved."""
    pids = {name: pids() for name, pids in watch.items()}
    before = {name: total_cpu(p) for name, p in pids.items()}
    cli_before = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(env),
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - t0
    cli_cpu = _children_cpu() - cli_before
    # processes that appeared during the run (exec'd children, new shims) count from zero
    after_pids = {name: sorted(set(p) | set(watch[name]())) for name, p in pids.items()}
    watched = {name: total_cpu(p) - before[name] for name, p in after_pids.items()}
    if proc.returncode != 0:
        raise TransferError(
            f"{what} via {target} failed (exit {proc.returncode}): "
            f"{proc.stderr.decode(errors='replace').strip()[-2000:]}"
        )
    return TransferResult(target, what, seconds, nbytes, cli_cpu, watched)


def counted(command: Sequence[str], env: Mapping[str, str], *, timeout: float) -> int:
    """Run ``command`` and return how many bytes it wrote to standard output."""
    proc = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
    )
    assert proc.stdout is not None and proc.stderr is not None
    fd = proc.stdout.fileno()
    with contextlib.suppress(OSError):  # the default 64 KiB pipe only costs more wake-ups
        fcntl.fcntl(fd, F_SETPIPE_SZ, _READ)
    buf = bytearray(_READ)
    total = 0
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TransferError(f"{command[1]} did not finish within {timeout:g}s")
            n = os.readv(fd, [buf])
            if not n:
                break
            total += n
        stderr = proc.stderr.read()
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if proc.returncode != 0:
        raise TransferError(
            f"{' '.join(command[1:3])} failed (exit {proc.returncode}): "
            f"{stderr.decode(errors='replace').strip()[-2000:]}"
        )
    return total
