"""A cheap, identical HTTP/1.1 load generator for the unix socket and both TLS endpoints.

The machine has two cores shared by the generator, the gateway and dockerd, so the generator does
as little as it can per request: worker processes (no threads, no event loop) each drive a few
blocking sockets round-robin, send one pre-built request and read exactly one response
(Content-Length or chunked), and time each request with ``time.perf_counter_ns``. A TLS target
gets TLS 1.3 with the admin client bundle; the unix socket gets the same bytes in plain text.

Two modes:

* ``keepalive``: each connection keeps one request in flight for the whole run; latency is from
  the write of a request to the end of its response.
* ``connect``: each worker opens a fresh connection (full mutual-TLS handshake, no resumption),
  sends one request, reads the answer and closes, again and again.

Workers start together at a barrier, warm up, then count only what completes inside the
measurement window. Worker 0 also samples the CPU time of the watched processes (gateway,
dockerd) at the window's edges, so costs line up with the numbers. ``perf_counter_ns`` is
``CLOCK_MONOTONIC`` on Linux, one clock for every process.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
import ssl
import statistics
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procstat import total_cpu

RECV_SIZE = 65536


@dataclass(frozen=True)
class Target:
    """Where to send requests: a unix socket path, or a TLS ``host:port`` with a client bundle."""

    name: str
    unix_path: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    bundle: Path | None = None  # ca.pem, cert.pem, key.pem

    @property
    def tls(self) -> bool:
        return self.unix_path is None


@dataclass
class LoadResult:
    """What one run of the generator measured."""

    target: str
    mode: str
    path: str
    connections: int
    duration_s: float
    completed: int
    errors: int
    latencies_ns: array = field(repr=False)
    generator_cpu_s: float = 0.0
    watched_cpu_s: dict[str, float] = field(default_factory=dict)
    tls: str = ""

    @property
    def rate(self) -> float:
        return self.completed / self.duration_s if self.duration_s else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index] / 1e6

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ns
        return {
            "target": self.target,
            "mode": self.mode,
            "path": self.path,
            "connections": self.connections,
            "duration_s": self.duration_s,
            "completed": self.completed,
            "errors": self.errors,
            "rate_per_s": self.rate,
            "p50_ms": self.percentile_ms(50),
            "p99_ms": self.percentile_ms(99),
            "mean_ms": statistics.fmean(lat) / 1e6 if lat else float("nan"),
            "generator_cpu_s": self.generator_cpu_s,
            "watched_cpu_s": self.watched_cpu_s,
            "tls": self.tls,
        }


def request_bytes(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n".encode("ascii")


def client_context(bundle: Path) -> ssl.SSLContext:
    """TLS 1.3 only, verifying the server against the bundle's CA, presenting its certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cafile=str(bundle / "ca.pem"))
    ctx.load_cert_chain(str(bundle / "cert.pem"), str(bundle / "key.pem"))
    return ctx


def connect(target: Target, ctx: ssl.SSLContext | None) -> socket.socket:
    """A connected (and, for TLS, handshaken) blocking socket."""
    if target.unix_path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(target.unix_path)
        except BaseException:
            sock.close()
            raise
        return sock
    raw = socket.create_connection((target.host, target.port), timeout=30)
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert ctx is not None
        return ctx.wrap_socket(raw, server_hostname=target.host)
    except BaseException:
        raw.close()
        raise


def read_response(sock: socket.socket, buf: bytearray) -> int:
    """Read exactly one response from ``sock`` (leftovers stay in ``buf``); return its status."""
    recv = sock.recv
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        data = recv(RECV_SIZE)
        if not data:
            raise ConnectionError("connection closed before a response head")
        buf += data
    head = bytes(buf[:end]).lower()
    status = int(head[9:12])
    start = end + 4
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        eol = head.find(b"\r\n", at + 2)
        need = start + int(head[at + 17 : eol if eol >= 0 else len(head)])
        while len(buf) < need:
            data = recv(RECV_SIZE)
            if not data:
                raise ConnectionError("connection closed inside a response body")
            buf += data
        del buf[:need]
        return status
    if b"\r\ntransfer-encoding: chunked" in head:
        del buf[:start]
        _read_chunked(recv, buf)
        return status
    if status in (204, 304) or 100 <= status < 200:
        del buf[:start]
        return status
    raise ConnectionError(f"response without framing: {head[:200]!r}")


def _read_chunked(recv: Any, buf: bytearray) -> None:
    while True:
        while (eol := buf.find(b"\r\n")) < 0:
            data = recv(RECV_SIZE)
            if not data:
                raise ConnectionError("connection closed inside a chunked body")
            buf += data
        size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
        need = eol + 2 + size + 2
        while len(buf) < need:
            data = recv(RECV_SIZE)
            if not data:
                raise ConnectionError("connection closed inside a chunk")
            buf += data
        del buf[:need]
        if size == 0:  # no trailers from dockerd
            return


def _tls_description(sock: socket.socket) -> str:
    if isinstance(sock, ssl.SSLSocket):
        cipher = sock.cipher()
        return f"{sock.version()} {cipher[0] if cipher else '?'}"
    return "plain"


def _snapshot(watch: dict[str, list[int]]) -> dict[str, float]:
    return {name: total_cpu(pids) for name, pids in watch.items()}


def _worker(
    index: int,
    target: Target,
    mode: str,
    path: str,
    conns: int,
    warmup_ns: int,
    duration_ns: int,
    watch: dict[str, list[int]],
    barrier: Any,
    results: Any,
) -> None:
    try:
        results.put(_work(index, target, mode, path, conns, warmup_ns, duration_ns, watch, barrier))
    except KeyboardInterrupt:
        pass
    except BaseException as exc:
        barrier.abort()
        results.put({"index": index, "error": f"{type(exc).__name__}: {exc}"})


def _work(
    index: int,
    target: Target,
    mode: str,
    path: str,
    conns: int,
    warmup_ns: int,
    duration_ns: int,
    watch: dict[str, list[int]],
    barrier: Any,
) -> dict[str, Any]:
    ctx = client_context(target.bundle) if target.tls and target.bundle else None
    req = request_bytes(path)
    clock = time.perf_counter_ns
    cpu = time.process_time_ns
    latencies = array("q")
    completed = errors = 0
    edges: list[dict[str, float]] = []
    cpu_edges: list[int] = []
    watch = watch if index == 0 else {}

    if mode == "keepalive":
        socks = [connect(target, ctx) for _ in range(conns)]
        tls = _tls_description(socks[0])
        bufs = [bytearray() for _ in socks]
        barrier.wait()
        start = clock()
        warm_end, deadline = start + warmup_ns, start + warmup_ns + duration_ns
        sent = [0] * conns
        for i, sock in enumerate(socks):
            sent[i] = clock()
            sock.sendall(req)
        measuring = False
        i = 0
        while True:
            sock = socks[i]
            status = read_response(sock, bufs[i])
            now = clock()
            if now >= warm_end:
                if not measuring:
                    measuring = True
                    edges.append(_snapshot(watch))
                    cpu_edges.append(cpu())
                if now >= deadline:
                    break
                latencies.append(now - sent[i])
                completed += 1
                if status != 200:
                    errors += 1
            sent[i] = clock()
            sock.sendall(req)
            i = i + 1 if i + 1 < conns else 0
        edges.append(_snapshot(watch))
        cpu_edges.append(cpu())
        for j in range(conns):  # drain the requests still in flight
            if j != i:
                read_response(socks[j], bufs[j])
        for sock in socks:
            sock.close()
    elif mode == "connect":
        probe = connect(target, ctx)
        tls = _tls_description(probe)
        probe.close()
        barrier.wait()
        start = clock()
        warm_end, deadline = start + warmup_ns, start + warmup_ns + duration_ns
        measuring = False
        buf = bytearray()
        while True:
            t0 = clock()
            sock = connect(target, ctx)
            try:
                sock.sendall(req)
                status = read_response(sock, buf)
            finally:
                sock.close()
            buf.clear()
            now = clock()
            if now >= warm_end:
                if not measuring:
                    measuring = True
                    edges.append(_snapshot(watch))
                    cpu_edges.append(cpu())
                    continue  # this one started before the window
                if now >= deadline:
                    break
                latencies.append(now - t0)
                completed += 1
                if status != 200:
                    errors += 1
        edges.append(_snapshot(watch))
        cpu_edges.append(cpu())
    else:
        raise ValueError(f"unknown mode {mode!r}")
    watched = {k: edges[1][k] - edges[0][k] for k in watch}
    return {
        "index": index,
        "completed": completed,
        "errors": errors,
        "latencies": latencies.tobytes(),
        "cpu_s": (cpu_edges[1] - cpu_edges[0]) / 1e9,
        "watched": watched,
        "tls": tls,
    }


def run_load(
    target: Target,
    *,
    mode: str,
    path: str,
    processes: int,
    connections_per_process: int,
    warmup_s: float,
    duration_s: float,
    watch: dict[str, list[int]] | None = None,
) -> LoadResult:
    """Run ``processes`` workers against ``target`` and merge what they measured."""
    ctx = mp.get_context("spawn")  # the benchmark process has threads: never fork it
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=_worker,
            args=(
                i,
                target,
                mode,
                path,
                connections_per_process,
                int(warmup_s * 1e9),
                int(duration_s * 1e9),
                watch or {},
                barrier,
                results,
            ),
            daemon=True,
        )
        for i in range(processes)
    ]
    try:
        for worker in workers:
            worker.start()
        timeout = 60 + warmup_s + duration_s
        reports = [results.get(timeout=timeout) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=10)
    failures = [r["error"] for r in reports if "error" in r]
    if failures:
        raise RuntimeError(f"load generator failed against {target.name}: {failures[0]}")
    latencies = array("q")
    for report in reports:
        latencies.frombytes(report["latencies"])
    watched = next(r["watched"] for r in reports if r["index"] == 0)
    return LoadResult(
        target=target.name,
        mode=mode,
        path=path,
        connections=processes * connections_per_process,
        duration_s=duration_s,
        completed=sum(r["completed"] for r in reports),
        errors=sum(r["errors"] for r in reports),
        latencies_ns=latencies,
        generator_cpu_s=sum(r["cpu_s"] for r in reports),
        watched_cpu_s=watched,
        tls=reports[0]["tls"],
    )
