"""Memory per idle mutual-TLS connection, for builds side by side.

Each build's ``Gateway`` runs in a fresh process (``bench.relay_bytes``'s fake daemon behind
it). This process opens ``--connections`` mutual-TLS connections to it and leaves them idle,
in one of two states: ``handshake`` (established, no request yet) or ``keep-alive`` (one
request answered, so the daemon connection is open too). The gateway's ``VmRSS`` and the bytes
its malloc has handed out (``mallinfo2``, asked for with SIGUSR1), before (after a warm-up of a
few connections, closed) and two seconds after, divided by the number of connections, are the
cost of one. Freed memory stays in RSS until malloc gives it back; the heap figure does not.
``--bulk`` first moves that many KiB of a Content-Length body through each connection (what a
connection keeps after a transfer).

Usage: ``python -m bench.idle_memory [--build NAME=SRC ...] [--connections N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.relay_bytes import ROOT, make_pki

HERE = Path(__file__).resolve()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _context(pki: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.load_cert_chain(str(pki / "client.pem"), str(pki / "client-key.pem"))
    return context


def _open(context: ssl.SSLContext, port: int, state: str, bulk_kib: int) -> ssl.SSLSocket:
    conn = context.wrap_socket(
        socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1"
    )
    if bulk_kib:
        size = bulk_kib * 1024
        conn.sendall(
            b"GET /v1.41/images/bench-%d/get?length=1 HTTP/1.1\r\nHost: api\r\n\r\n" % size
        )
        got = b""
        while b"\r\n\r\n" not in got:
            got += conn.recv(65536)
        left = size - (len(got) - got.index(b"\r\n\r\n") - 4)
        while left > 0:
            left -= len(conn.recv(min(left, 65536)))
    if state == "keep-alive":
        conn.sendall(b"GET /v1.41/_ping HTTP/1.1\r\nHost: api\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got:
            got += conn.recv(4096)
    else:
        conn.sendall(b"")  # the handshake is done (TLS 1.3: the server has our certificate)
    return conn


def _heap_kib(pid: int, report: Path) -> float:
    """What the gateway's malloc has handed out (``mallinfo2``), in KiB."""
    report.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    for _ in range(500):
        if report.exists() and report.read_text():
            return int(report.read_text()) / 1024
        time.sleep(0.01)
    raise RuntimeError("the gateway did not report its heap")


def measure(
    src: str, pki: Path, daemon: str, count: int, state: str, bulk_kib: int
) -> tuple[float, float]:
    report = pki / "heap"
    env = dict(os.environ, PYTHONPATH=src, BENCH_HEAP_FILE=str(report))
    gateway = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "relay_bytes.py"),
            "--serve-gateway",
            str(pki),
            daemon,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert gateway.stdout is not None
        port = int(gateway.stdout.readline())
        context = _context(pki)
        warm = [_open(context, port, state, bulk_kib) for _ in range(20)]
        for conn in warm:
            conn.close()
        time.sleep(0.5)
        before = _rss_kib(gateway.pid), _heap_kib(gateway.pid, report)
        conns = [_open(context, port, state, bulk_kib) for _ in range(count)]
        time.sleep(2.0)  # the last answers are written, and grown TLS buffers given back (1 s)
        after = _rss_kib(gateway.pid), _heap_kib(gateway.pid, report)
        for conn in conns:
            conn.close()
        return (after[0] - before[0]) / count, (after[1] - before[1]) / count
    finally:
        gateway.kill()
        gateway.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", action="append", default=[], help="NAME=SRC (repeatable)")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--states", default="handshake,keep-alive")
    parser.add_argument("--bulk", type=int, default=0, help="KiB through each connection first")
    args = parser.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    builds = dict(b.split("=", 1) for b in args.build) or {"this": str(ROOT / "src")}
    names = list(builds)
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="idle-memory-") as tmp:
        root = Path(tmp)
        make_pki(root)
        daemon_path = str(root / "docker.sock")
        daemon = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "relay_bytes.py"),
                "--serve-daemon",
                daemon_path,
                "0",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert daemon.stdout is not None and daemon.stdout.readline().strip() == "ready"
            for round_ in range(args.rounds):
                order = names[round_ % len(names) :] + names[: round_ % len(names)]
                for state in args.states.split(","):
                    for name in order:
                        rss, heap = measure(
                            builds[name], root, daemon_path, args.connections, state, args.bulk
                        )
                        results.setdefault((f"{state} rss", name), []).append(rss)
                        results.setdefault((f"{state} heap", name), []).append(heap)
        finally:
            daemon.kill()
            daemon.wait()
    print(
        f"gateway VmRSS growth per idle connection, KiB, median of {args.rounds} "
        f"({args.connections} connections{f', {args.bulk} KiB moved first' if args.bulk else ''})"
    )
    print("(rss: VmRSS; heap: what malloc has handed out, mallinfo2)")
    print(f"{'state':<16}" + "".join(f"{n:>10}" for n in names))
    for state in args.states.split(","):
        for what in ("rss", "heap"):
            row = f"{state} {what}"
            cells = "".join(f"{statistics.median(results[(row, n)]):>10.1f}" for n in names)
            print(f"{row:<16}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
