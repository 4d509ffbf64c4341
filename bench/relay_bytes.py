"""Relay CPU per GiB on the data path, in process, for one or more builds side by side.

No dockerd and no docker CLI: a fake daemon (its own process) answers on a unix socket, and each
build's ``Gateway`` runs in its own process (uvloop, the real ``ClientProtocol``, relay and TLS
session, no policy file: the client is admin) with ``PYTHONPATH`` pointing at that build's
``src``. This process is the client: mutual TLS 1.3 with AES-128-GCM, as the docker CLI gets it,
through the bundled OpenSSL on a blocking socket. Only the gateway process's CPU (user + system,
from ``/proc/PID/task/*/schedstat``) is counted, per GiB moved.

Transfers, each in both shapes the daemon writes in:

* ``exec-out``: ``POST /exec/ID/start`` upgraded to a raw stream (101), the daemon writes N MiB
  in 32 KiB + 8 pieces (a stdcopy frame each, as dockerd does) and half-closes; the client reads
  to the close_notify. The exec stream's direction.
* ``exec-in``: the same tunnel the other way: the client writes N MiB and half-closes (stdin
  EOF), the daemon counts and answers with the count, which the client checks (half-close).
* ``save``: ``GET /images/ID/get``, a chunked 200 of N MiB in 32 KiB chunks (``docker save``).
* ``save-length``: the same body with a Content-Length.
* ``load``: ``POST /images/load`` with a Content-Length body of N MiB; the daemon answers with
  the count it read.

``--rate`` paces the daemon's writes (MiB/s) so that, as behind a real dockerd that produces
the exec stream more slowly than a relay forwards it, most reads see one piece; without it the
daemon writes as fast as the relay reads (large reads, the cheapest case). The builds run
interleaved, the order rotated each round; medians are printed.

Usage: ``python -m bench.relay_bytes [--build NAME=SRC ...] [--mib N] [--rounds R] [--rate R]
[--transfers exec-out,save,...] [--floor]``. Without ``--build``: this checkout's ``src`` alone.
``--floor`` adds the do-nothing relay (``bench/floor_relay.py``) as one more column.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MIB = 1 << 20
PIECE = 32 * 1024  # what dockerd's io.Copy writes per call (save)
# busybox's head copies 4 KiB per write, and dockerd frames each read of the exec's stdout as
# one stdcopy frame (8-byte header): the exec stream arrives as 4 KiB + 8 writes
EXEC_PIECE = 4 * 1024
FRAME = b"\x01\x00\x00\x00" + EXEC_PIECE.to_bytes(4, "big")
ROOT = Path(__file__).resolve().parent.parent
TRANSFERS = ("exec-out", "exec-in", "save", "save-length", "load")

UPGRADED = (
    b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
)


# ------------------------------------------------------------------------ the fake daemon


def _read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return b"", b""
        data += more
    end = data.index(b"\r\n\r\n") + 4
    return data[:end], data[end:]


class _Pacer:
    def __init__(self, rate_mib: float) -> None:
        self.steady = rate_mib < 0
        self.rate = abs(rate_mib) * MIB
        self.start = time.perf_counter()
        self.sent = 0

    def sent_bytes(self, size: int) -> None:
        if not self.rate:
            return
        self.sent += size
        due = self.start + self.sent / self.rate
        if self.steady:  # each write on time: spin (a core) instead of sleeping in bursts
            while time.perf_counter() < due:
                pass
        elif due - time.perf_counter() > 0.0002:
            time.sleep(due - time.perf_counter())


def _daemon_connection(conn: socket.socket, rate: float) -> None:
    payload = bytes(PIECE)
    with conn:
        while True:
            head, rest = _read_head(conn)
            if not head:
                return
            line = head.split(b"\r\n", 1)[0]
            pacer = _Pacer(rate)
            sized = re.search(rb"/(?:exec|images)/\w+-(\d+)/", line)
            size = int(sized.group(1)) if sized else 0
            if b"/exec/" in line:
                body_len = int(_header(head, b"content-length") or 0)
                while len(rest) < body_len:
                    rest += conn.recv(65536)
                rest = rest[body_len:]
                conn.sendall(UPGRADED)
                if b"/exec/out-" in line:
                    frame = FRAME + payload[:EXEC_PIECE]
                    for _ in range(size // EXEC_PIECE):
                        conn.sendall(frame)
                        pacer.sent_bytes(EXEC_PIECE + 8)
                    conn.shutdown(socket.SHUT_WR)
                    while conn.recv(65536):
                        pass
                else:
                    count = len(rest)
                    while more := conn.recv(256 * 1024):
                        count += len(more)
                    conn.sendall(count.to_bytes(8, "big"))
                    conn.shutdown(socket.SHUT_WR)
                return
            if b"/images/load" in line:
                remaining = int(_header(head, b"content-length") or 0) - len(rest)
                count = len(rest)
                while remaining > 0:
                    more = conn.recv(min(remaining, 256 * 1024))
                    if not more:
                        return
                    count += len(more)
                    remaining -= len(more)
                answer = b'{"count":%d}' % count
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
                )
                continue
            if b"/images/" in line and b"/get" in line:
                if b"length=1" in line:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n"
                        b"Content-Length: %d\r\n\r\n" % size
                    )
                    for _ in range(size // PIECE):
                        conn.sendall(payload)
                        pacer.sent_bytes(PIECE)
                else:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                    )
                    chunk = b"%x\r\n" % PIECE + payload + b"\r\n"
                    for _ in range(size // PIECE):
                        conn.sendall(chunk)
                        pacer.sent_bytes(PIECE)
                    conn.sendall(b"0\r\n\r\n")
                continue
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def serve_daemon(path: str, rate: float) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(64)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_daemon_connection, args=(conn, rate), daemon=True).start()


# ------------------------------------------------------------------------ a gateway build


def serve_gateway(pki: str, daemon: str) -> None:
    import asyncio

    import uvloop

    from dockward.config import config_from_dict
    from dockward.gateway.server import Gateway

    root = Path(pki)
    config = config_from_dict(
        {
            "upstream": daemon,
            "listen": [{"address": "127.0.0.1:0"}],
            "allow_networks": ["127.0.0.0/8"],
            "limits": {  # bench.idle_memory holds a thousand from one client
                "connections": 20000,
                "connections_per_source": 20000,
                "connections_per_identity": 20000,
            },
            "tls": {
                "cert": str(root / "server.pem"),
                "key": str(root / "server-key.pem"),
                "ca": str(root / "ca.pem"),
            },
        }
    )

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def run() -> None:
        gateway = Gateway(config)
        await gateway.start()
        print(gateway.bound_addresses()[0].rsplit(":", 1)[1], flush=True)
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)  # the access log: nobody reads the pipe from here on
        await asyncio.Event().wait()

    signal.signal(signal.SIGUSR1, _report_heap)  # bench.idle_memory asks
    uvloop.run(run())


def _report_heap(signum: int, frame: object) -> None:
    """Write the bytes malloc has handed out and not got back to ``$BENCH_HEAP_FILE``."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in [
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            ]
        ]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    Path(os.environ["BENCH_HEAP_FILE"]).write_text(str(info.uordblks + info.hblkhd))


# ------------------------------------------------------------------------ the client


class Client:
    """A blocking mutual-TLS client on the bundled OpenSSL, AES-128-GCM like Go's."""

    def __init__(self, pki: Path) -> None:
        from cryptography.hazmat.bindings.openssl.binding import Binding

        self.lib = lib = Binding().lib
        self.ffi = ffi = Binding().ffi
        ctx = lib.SSL_CTX_new(lib.TLS_client_method())
        self.ctx = ffi.gc(ctx, lib.SSL_CTX_free)
        lib.SSL_CTX_set_min_proto_version(ctx, lib.TLS1_3_VERSION)
        lib.SSL_CTX_set_ciphersuites(ctx, b"TLS_AES_128_GCM_SHA256")
        assert lib.SSL_CTX_use_certificate_chain_file(ctx, str(pki / "client.pem").encode()) == 1
        assert (
            lib.SSL_CTX_use_PrivateKey_file(
                ctx, str(pki / "client-key.pem").encode(), lib.SSL_FILETYPE_PEM
            )
            == 1
        )
        self.buffer = ffi.new("char[]", 256 * 1024)

    def connect(self, port: int) -> tuple[socket.socket, Any]:
        lib, ffi = self.lib, self.ffi
        sock = socket.create_connection(("127.0.0.1", port))
        # a transfer that stops fails the run instead of hanging it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 30, 0))
        ssl = ffi.gc(lib.SSL_new(self.ctx), lib.SSL_free)
        lib.SSL_set_fd(ssl, sock.fileno())
        lib.SSL_set_connect_state(ssl)
        assert lib.SSL_do_handshake(ssl) == 1, "handshake failed"
        return sock, ssl

    def write(self, ssl: Any, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self.lib.SSL_write(ssl, self.ffi.from_buffer(view), len(view))
            assert n > 0, "write failed"
            view = view[n:]

    def read(self, ssl: Any) -> bytes:
        n = self.lib.SSL_read(ssl, self.buffer, 256 * 1024)
        return self.ffi.buffer(self.buffer, n)[:] if n > 0 else b""

    def count_to_eof(self, ssl: Any, already: int = 0) -> int:
        lib, buffer = self.lib, self.buffer
        count = already
        while (n := lib.SSL_read(ssl, buffer, 256 * 1024)) > 0:
            count += n
        return count

    def head(self, ssl: Any) -> tuple[bytes, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            more = self.read(ssl)
            assert more, "closed before a response head"
            data += more
        end = data.index(b"\r\n\r\n") + 4
        return data[:end], data[end:]


def transfer(client: Client, port: int, kind: str, size: int) -> None:
    """One transfer of ``size`` bytes; AssertionError when a byte is missing."""
    sock, ssl = client.connect(port)
    try:
        if kind in ("exec-out", "exec-in"):
            body = b'{"Detach":false,"Tty":false}'
            which = "out" if kind == "exec-out" else "in"
            client.write(
                ssl,
                b"POST /v1.41/exec/%s-%d/start HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\n"
                b"Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (which.encode(), size, len(body), body),
            )
            head, rest = client.head(ssl)
            assert head.startswith(b"HTTP/1.1 101"), head
            if kind == "exec-out":
                got = client.count_to_eof(ssl, len(rest))
                assert got == size // EXEC_PIECE * (EXEC_PIECE + 8), (kind, got)
            else:
                piece = bytes(256 * 1024)
                for _ in range(size // len(piece)):
                    client.write(ssl, piece)
                client.lib.SSL_shutdown(ssl)  # stdin EOF: the answer still comes
                answer = rest + b"".join(iter(lambda: client.read(ssl), b""))
                assert int.from_bytes(answer, "big") == size, (kind, answer)
        elif kind in ("save", "save-length"):
            query = "?length=1" if kind == "save-length" else ""
            client.write(
                ssl,
                b"GET /v1.41/images/bench-%d/get%s HTTP/1.1\r\nHost: api\r\n\r\n"
                % (size, query.encode()),
            )
            head, rest = client.head(ssl)
            assert head.startswith(b"HTTP/1.1 200"), head
            chunk = len(b"%x\r\n" % PIECE) + PIECE + 2
            expected = size if kind == "save-length" else size // PIECE * chunk + 5
            got = len(rest)
            while got < expected:
                more = client.lib.SSL_read(ssl, client.buffer, 256 * 1024)
                assert more > 0, (kind, got)
                got += more
            assert got == expected, (kind, got)
        elif kind == "load":
            client.write(
                ssl,
                b"POST /v1.41/images/load HTTP/1.1\r\nHost: api\r\n"
                b"Content-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n" % size,
            )
            piece = bytes(256 * 1024)
            for _ in range(size // len(piece)):
                client.write(ssl, piece)
            head, rest = client.head(ssl)
            assert head.startswith(b"HTTP/1.1 200"), head
            while b"}" not in rest:
                rest += client.read(ssl)
            assert json.loads(rest)["count"] == size, rest
        else:
            raise ValueError(kind)
    finally:
        sock.close()


def _cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` (user and system), to the nanosecond (schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def _start_floor(root: Path, daemon: str, procs: list[subprocess.Popen[str]]) -> tuple[int, int]:
    """The do-nothing relay (this checkout's TLS session) on a free port: (port, pid)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    floor = subprocess.Popen(
        [sys.executable, "-m", "bench.floor_relay"]
        + [str(root / n) for n in ("server.pem", "server-key.pem", "ca.pem")]
        + [daemon, str(port)],
        env=dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}"),
        cwd=ROOT,
        text=True,
    )
    procs.append(floor)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return port, floor.pid
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def make_pki(root: Path) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from dockward.pki.ca import CertificateAuthority

    ca = CertificateAuthority.create()
    ca.write(root / "ca.pem", root / "ca-key.pem")
    ca.issue_server(["127.0.0.1"]).write(root / "server.pem", root / "server-key.pem")
    bundle = root / "bundle"
    ca.issue_client("bench").write_bundle(bundle)
    (root / "client.pem").write_bytes((bundle / "cert.pem").read_bytes())
    (root / "client-key.pem").write_bytes((bundle / "key.pem").read_bytes())
    os.chmod(root / "server-key.pem", 0o600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", action="append", default=[], help="NAME=SRC (repeatable)")
    parser.add_argument("--mib", type=int, default=256, help="MiB per transfer")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="daemon pace, MiB/s (0: none; negative: spin so that each write is on time)",
    )
    parser.add_argument("--transfers", default=",".join(TRANSFERS))
    parser.add_argument(
        "--floor", action="store_true", help="also the floor relay (bench/floor_relay.py)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # the helpers are stopped below
    builds = dict(b.split("=", 1) for b in args.build) or {"this": str(ROOT / "src")}
    kinds = args.transfers.split(",")
    size = args.mib * MIB
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="relay-bytes-") as tmp:
        root = Path(tmp)
        make_pki(root)
        daemon_path = str(root / "docker.sock")
        here = os.path.abspath(__file__)
        procs: list[subprocess.Popen[str]] = []
        try:
            daemon = subprocess.Popen(
                [python, here, "--serve-daemon", daemon_path, str(args.rate)],
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append(daemon)
            assert daemon.stdout is not None and daemon.stdout.readline().strip() == "ready"
            ports: dict[str, tuple[int, int]] = {}
            for name, src in builds.items():
                env = dict(os.environ, PYTHONPATH=src)
                gateway = subprocess.Popen(
                    [python, here, "--serve-gateway", str(root), daemon_path],
                    stdout=subprocess.PIPE,
                    text=True,
                    env=env,
                )
                procs.append(gateway)
                assert gateway.stdout is not None
                ports[name] = (int(gateway.stdout.readline()), gateway.pid)
            if args.floor:
                ports["floor"] = _start_floor(root, daemon_path, procs)
            client = Client(root)
            names = list(ports)
            for name in names:  # warm-up, untimed: also checks every byte arrives
                for kind in kinds:
                    transfer(client, ports[name][0], kind, 16 * MIB)
            results: dict[tuple[str, str], list[float]] = {}
            for round_ in range(args.rounds):
                order = names[round_ % len(names) :] + names[: round_ % len(names)]
                for kind in kinds:
                    for name in order:
                        port, pid = ports[name]
                        before = _cpu_seconds(pid)
                        transfer(client, port, kind, size)
                        used = _cpu_seconds(pid) - before
                        results.setdefault((kind, name), []).append(used / (size / (1 << 30)))
            print(
                f"gateway CPU s/GiB, median (minimum) of {args.rounds} ({args.mib} MiB each, "
                f"daemon pace {args.rate or 'none'} MiB/s)"
            )
            print("transfer     " + "".join(f"{n:>18}" for n in names))
            for kind in kinds:
                cells = "".join(
                    f"{statistics.median(runs):>10.3f} ({min(runs):.3f})"
                    for runs in (results[(kind, n)] for n in names)
                )
                print(f"{kind:<13}{cells}")
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-daemon":
        serve_daemon(sys.argv[2], float(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--serve-gateway":
        serve_gateway(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
