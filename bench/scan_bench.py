"""``dockward scan`` at fleet scale: a /22 of loopback addresses times two ports.

Linux routes all of 127.0.0.0/8 to the loopback interface, so 127.1.0.0/22 is 1024 real
addresses on this machine. The benchmark picks two ports that are free on every address, opens
a fake plaintext Docker API on one address and a mutual-TLS endpoint on another (everything else
answers RST at once), runs ``python -m dockward scan 127.1.0.0/22 --ports P1,P2`` as a user
would, and prints wall time, CPU time and endpoints per second against the issue's target
(under 15 s on 2 cores). Traffic goes to loopback only, to ports this process opened or checked
were free; every server stops on exit.

Usage: ``.venv/bin/python -m bench.scan_bench [--range 127.1.0.0/22] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from dockward.pki.ca import CertificateAuthority

TARGET_SECONDS = 15.0
PING = (
    b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nServer: Docker/20.10.24 (linux)\r\n"
    b"Content-Length: 2\r\nConnection: close\r\n\r\nOK"
)


def free_everywhere() -> int:
    """A port nobody listens on, on any address (bound to 0.0.0.0 and released)."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def serve(address: str, port: int, context: ssl.SSLContext | None) -> socket.socket:
    """A tiny responder: ``/_ping`` answers like dockerd, everything else closes."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(64)

    def handle(conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            stream = context.wrap_socket(conn, server_side=True) if context else conn
            if stream.recv(4096).startswith(b"GET /_ping"):
                stream.sendall(PING)
            stream.close()
        except OSError:
            conn.close()

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return listener


def mtls_context(directory: Path) -> ssl.SSLContext:
    ca = CertificateAuthority.create("bench CA")
    ca.issue_server(["127.1.2.20"]).write(directory / "s.pem", directory / "s-key.pem")
    (directory / "ca.pem").write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "s.pem", directory / "s-key.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(directory / "ca.pem")
    return context


def run_scan(
    network: str, ports: tuple[int, int], report: Path, concurrency: int
) -> dict[str, float]:
    command = [sys.executable, "-m", "dockward", "scan", network, "--ports",
               f"{ports[0]},{ports[1]}", "--quiet", "--json", str(report), "--timeout", "3",
               "--concurrency", str(concurrency)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"dockward scan failed ({done.returncode}): {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "exit": done.returncode}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--range", default="127.1.0.0/22", help="a loopback CIDR range")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the numbers here")
    args = parser.parse_args()
    network = ipaddress.ip_network(args.range)
    if not network.subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
        raise SystemExit("the benchmark scans loopback only (127.0.0.0/8)")
    ports = (free_everywhere(), free_everywhere())
    endpoints = network.num_addresses * 2
    with tempfile.TemporaryDirectory(prefix="dw-scan-bench-") as tmp:
        work = Path(tmp)
        listeners = [
            serve("127.1.0.10", ports[0], None),
            serve("127.1.2.20", ports[1], mtls_context(work)),
        ]
        rows = []
        try:
            for concurrency in (256, 64):
                for run in range(args.runs):
                    numbers = run_scan(str(network), ports, work / "r.json", concurrency)
                    report = json.loads((work / "r.json").read_text())
                    states = sorted(e["state"] for e in report["endpoints"])
                    rows.append({"concurrency": concurrency, "run": run + 1, **numbers,
                                 "found": states})  # fmt: skip
        finally:
            for listener in listeners:
                listener.close()
    print(f"dockward scan {network} x 2 ports = {endpoints} endpoints, {os.cpu_count()} CPUs")
    print(f"{'concurrency':>11} {'run':>3} {'wall s':>7} {'cpu s':>6} {'endpoints/s':>11}  found")
    for row in rows:
        rate = endpoints / row["wall"]
        print(f"{row['concurrency']:>11} {row['run']:>3} {row['wall']:>7.2f} {row['cpu']:>6.2f} "
              f"{rate:>11.0f}  {', '.join(row['found'])}")  # fmt: skip
    best = min(r["wall"] for r in rows if r["concurrency"] == 256)
    verdict = "PASS" if best < TARGET_SECONDS else "MISS"
    target = f"target < {TARGET_SECONDS:g}s"
    print(f"default concurrency, best of {args.runs}: {best:.2f}s ({target}): {verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps({"endpoints": endpoints, "rows": rows}, indent=2))
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
