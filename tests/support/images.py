"""Test images built locally (never pulled) from Debian's busybox-static.

The root filesystem is streamed as a tar straight into ``docker import -`` on the private
daemon's socket, so even the 1 GiB benchmark image never touches the disk as a temporary tar.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable

from .dockerd import DockerDaemon, DockerdError, find_docker_cli

BUSYBOX_TAG = "dockward-test/busybox:latest"
BIG_FILE_PATH = "data/random.bin"  # inside the image: /data/random.bin
_CHANGES = ('CMD ["/bin/sh"]', "ENV PATH=/bin")
_MIB = 1 << 20


def find_busybox() -> str:
    for candidate in (shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise DockerdError("busybox is not installed; run `make install-tests` (busybox-static).")


def _applets(busybox: str) -> list[str]:
    out = subprocess.run(
        [busybox, "--list"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    # `busybox --list` names busybox itself: a symlink over the binary would loop.
    return sorted({name for name in out.split() if name and name != "busybox" and "/" not in name})


def _info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = int(time.time())
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    tar.addfile(_info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))


def _add_busybox_rootfs(tar: tarfile.TarFile) -> None:
    busybox = find_busybox()
    for d, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700)):
        tar.addfile(_info(d, tarfile.DIRTYPE, mode))
    with open(busybox, "rb") as f:
        tar.addfile(_info("bin/busybox", tarfile.REGTYPE, 0o755, os.fstat(f.fileno()).st_size), f)
    for applet in _applets(busybox):
        tar.addfile(_info(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox"))
    _add_bytes(
        tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
    )
    _add_bytes(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")


class _RandomReader:
    """A file-like source of ``size`` incompressible bytes, made 1 MiB at a time."""

    def __init__(self, size: int) -> None:
        self.remaining = size

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = _MIB
        n = min(n, _MIB, self.remaining)
        self.remaining -= n
        return os.urandom(n)


def _import_stream(
    daemon: DockerDaemon,
    tag: str,
    fill: Callable[[tarfile.TarFile], None],
    timeout: float,
    changes: tuple[str, ...] = (),
) -> str:
    """Stream a tar written by ``fill`` into ``docker import -`` and return the image ID."""
    cmd = [find_docker_cli(), "import"]
    for change in (*_CHANGES, *changes):
        cmd += ["-c", change]
    cmd += ["-", tag]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, env=daemon.env()
        )
        assert proc.stdin is not None
        write_error: BaseException | None = None
        try:
            with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.GNU_FORMAT) as tar:
                tar.copybufsize = _MIB
                fill(tar)
        except BrokenPipeError as exc:
            write_error = exc
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError as exc:
                write_error = write_error or exc
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0 or write_error is not None:
        raise DockerdError(
            f"docker import {tag} failed (exit {proc.returncode}, {write_error!r}): {stderr}"
        )
    return stdout.strip()


def build_busybox_image(
    daemon: DockerDaemon, tag: str = BUSYBOX_TAG, changes: tuple[str, ...] = ()
) -> str:
    """Import a busybox root filesystem as ``tag`` (CMD /bin/sh, PATH=/bin, then ``changes``:
    Dockerfile instructions such as ``ENV A=b``); return ``tag``."""
    _import_stream(daemon, tag, _add_busybox_rootfs, timeout=120, changes=changes)
    return tag


def make_big_image(daemon: DockerDaemon, size_mb: int, tag: str) -> str:
    """Import a one-layer image: busybox plus ``/data/random.bin`` of ``size_mb`` MiB of random
    bytes (incompressible, never held in memory at once); return ``tag``."""
    size = size_mb * _MIB

    def fill(tar: tarfile.TarFile) -> None:
        _add_busybox_rootfs(tar)
        tar.addfile(_info("data", tarfile.DIRTYPE, 0o755))
        tar.addfile(_info(BIG_FILE_PATH, tarfile.REGTYPE, 0o644, size), _RandomReader(size))  # type: ignore[arg-type]

    _import_stream(daemon, tag, fill, timeout=600 + size_mb)
    return tag
