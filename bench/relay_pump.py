"""The data path's own CPU per GiB, in process and without sockets, for builds side by side.

The gateway's real ``ClientProtocol`` (its relay and TLS session) and daemon-side protocol run
on fake transports: a client TLS session on the bundled OpenSSL does the mutual-TLS handshake and
the request through the real record layer, then the pump hands the daemon side reads of a fixed
size (as the event loop would, the kernel's copy included) or the client side ciphertext, and
only that is timed (``time.process_time()``); the gathering of small reads is off. No system
calls, wake-ups or scheduling are in the number: it is what the code costs per byte for a given
read size, steady even on a busy machine. How large the reads are on real sockets is
``bench.relay_bytes``'s part.

Scenarios (``--scenarios``): ``exec-out`` (a tunnel, daemon to client), ``exec-in`` (a tunnel,
client to daemon, 16 KiB records, 64 KiB per read), ``save`` (a chunked 200 of 32 KiB chunks),
``save-length`` (a Content-Length 200), ``load`` (a Content-Length request body, as exec-in);
the daemon-side ones at each ``--read-sizes`` (bytes per read; 4104 is one exec frame).

Usage: ``python -m bench.relay_pump [--build NAME=SRC ...] [--mib N] [--rounds R]``. Each
measurement runs in a fresh process of its build; the builds alternate, medians are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MIB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent
EXEC = (
    b"POST /v1.41/exec/e1/start HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
)
UPGRADED = (
    b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
)
SAVE = b"GET /v1.41/images/x/get HTTP/1.1\r\nHost: api\r\n\r\n"


class Transport:
    """Enough of a uvloop transport: writes are counted and dropped."""

    def __init__(self, peer: tuple[str, int] | None) -> None:
        self.peer = peer
        self.written = 0
        self.kept: list[bytes] = []
        self.keep = False
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass

    def write(self, data: Any) -> None:
        self.written += len(data)
        if self.keep:
            self.kept.append(bytes(data))

    def writelines(self, pieces: list[Any]) -> None:
        for piece in pieces:
            self.write(piece)

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0


def _client_ssl(pki: Path) -> tuple[Any, Any, Any, Any]:
    from cryptography.hazmat.bindings.openssl.binding import Binding

    binding = Binding()
    lib, ffi = binding.lib, binding.ffi
    ctx = lib.SSL_CTX_new(lib.TLS_client_method())
    lib.SSL_CTX_set_min_proto_version(ctx, lib.TLS1_3_VERSION)
    lib.SSL_CTX_set_ciphersuites(ctx, b"TLS_AES_128_GCM_SHA256")
    lib.SSL_CTX_use_certificate_chain_file(ctx, str(pki / "client.pem").encode())
    lib.SSL_CTX_use_PrivateKey_file(ctx, str(pki / "client-key.pem").encode(), 1)
    ssl = lib.SSL_new(ctx)
    rbio, wbio = lib.BIO_new(lib.BIO_s_mem()), lib.BIO_new(lib.BIO_s_mem())
    lib.SSL_set_bio(ssl, rbio, wbio)
    lib.SSL_set_connect_state(ssl)
    return lib, ffi, ssl, (rbio, wbio)


def measure(pki: Path, scenario: str, read_size: int, size: int) -> float:
    """Server-side CPU seconds per GiB for one scenario, in this process's build."""
    from dockward.config import config_from_dict
    from dockward.gateway import protocol
    from dockward.gateway.relay import OpenUpstream, UpstreamConnected
    from dockward.gateway.server import Gateway

    # Read sizes are set here: no gathering (on sockets it makes the reads larger, and that
    # is measured by bench.relay_bytes)
    protocol.GATHER_BELOW = 0  # type: ignore[attr-defined]

    config = config_from_dict(
        {
            "upstream": "/nonexistent/docker.sock",
            "listen": [{"address": "127.0.0.1:0"}],
            "allow_networks": ["127.0.0.0/8"],
            "tls": {
                "cert": str(pki / "server.pem"),
                "key": str(pki / "server-key.pem"),
                "ca": str(pki / "ca.pem"),
            },
        }
    )
    lib, ffi, client, (rbio, wbio) = _client_ssl(pki)
    buffer = ffi.new("char[]", 1 << 20)

    def client_out() -> bytes:
        out = b""
        while (n := lib.BIO_read(wbio, buffer, 1 << 20)) > 0:
            out += ffi.buffer(buffer, n)[:]
        return out

    async def run() -> float:
        gateway = Gateway(config)
        listener = gateway.listeners[0]
        proto = protocol.ClientProtocol(gateway, listener)
        tcp = Transport(("127.0.0.1", 40000))
        unix = Transport(None)
        upstreams: list[Any] = []

        def open_upstream(self: Any, command: Any) -> None:
            up = protocol.UpstreamProtocol(self)
            up.connection_made(unix)  # type: ignore[arg-type]
            upstreams.append(up)
            self.handle(UpstreamConnected())

        protocol._PERFORM[OpenUpstream] = open_upstream
        proto.connection_made(tcp)  # type: ignore[arg-type]
        tcp.keep = True
        while lib.SSL_do_handshake(client) != 1:  # the handshake through the real session
            proto.data_received(client_out())
            for piece in tcp.kept:
                lib.BIO_write(rbio, piece, len(piece))
            tcp.kept.clear()
        lib.SSL_read(client, buffer, 1)  # takes the server's last handshake records
        request = SAVE if scenario.startswith("save") else EXEC
        if scenario == "load":
            request = (
                b"POST /v1.41/images/load HTTP/1.1\r\nHost: api\r\n"
                b"Content-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n" % size
            )
        lib.SSL_write(client, request, len(request))
        proto.data_received(client_out())
        tcp.keep = False
        (up,) = upstreams
        buffered = hasattr(up, "buffer_updated")
        staging = memoryview(bytearray(256 * 1024))  # uvloop's own read buffer

        def from_daemon(data: bytes) -> None:
            # the kernel's copy into the read buffer is in both; uvloop's copy into a new
            # bytes object only where the protocol is not a BufferedProtocol
            size = len(data)
            if buffered:
                up.get_buffer(size)[:size] = data
                up.buffer_updated(size)
            else:
                staging[:size] = data
                up.data_received(staging[:size].tobytes())

        if scenario.startswith("exec"):
            from_daemon(UPGRADED)
        elif scenario == "save":
            from_daemon(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        elif scenario == "save-length":
            from_daemon(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (size + 1))
        if scenario in ("exec-in", "load"):
            piece = bytes(16 * 1024)
            for _ in range(size // len(piece)):
                lib.SSL_write(client, piece, len(piece))
            stream = client_out()
            feed = [stream[at : at + read_size] for at in range(0, len(stream), read_size)]
            start = time.process_time()
            for data in feed:
                proto.data_received(data)
            used = time.process_time() - start
            assert unix.written >= size, (unix.written, size)
            return used
        if scenario == "save":
            chunk = b"%x\r\n" % (32 * 1024) + bytes(32 * 1024) + b"\r\n"
            stream = chunk * (size // (32 * 1024))
        else:
            stream = bytes(size)
        feed = [stream[at : at + read_size] for at in range(0, len(stream), read_size)]
        start = time.process_time()
        for data in feed:
            from_daemon(data)
        used = time.process_time() - start
        assert tcp.written >= size, (tcp.written, size)
        return used

    used = asyncio.run(run())
    return used / (size / (1 << 30))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", action="append", default=[], help="NAME=SRC (repeatable)")
    parser.add_argument("--mib", type=int, default=64, help="MiB per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scenarios", default="exec-out,save,save-length,exec-in,load")
    parser.add_argument("--read-sizes", default="4104,65536,262144")
    args = parser.parse_args(argv)
    builds = dict(b.split("=", 1) for b in args.build) or {"this": str(ROOT / "src")}
    cases: list[tuple[str, int]] = []
    for scenario in args.scenarios.split(","):
        if scenario in ("exec-in", "load"):
            cases.append((scenario, 65536))
        else:
            cases += [(scenario, int(s)) for s in args.read_sizes.split(",")]
    names = list(builds)
    results: dict[tuple[str, int, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="relay-pump-") as tmp:
        from bench.relay_bytes import make_pki  # the parent only: children run as a script

        make_pki(Path(tmp))
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for scenario, read_size in cases:
                for name in order:
                    env = dict(os.environ, PYTHONPATH=builds[name])
                    spec = json.dumps([tmp, scenario, read_size, args.mib * MIB])
                    out = subprocess.run(
                        [sys.executable, os.path.abspath(__file__), "--measure", spec],
                        env=env,
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                    results.setdefault((scenario, read_size, name), []).append(float(out))
    print(
        f"server CPU s/GiB in process (no syscalls), median (minimum) of {args.rounds}, "
        f"{args.mib} MiB"
    )
    print(f"{'scenario':<13}{'read':>8}" + "".join(f"{n:>18}" for n in names))
    for scenario, read_size in cases:
        cells = "".join(
            f"{statistics.median(results[(scenario, read_size, n)]):>10.3f}"
            f" ({min(results[(scenario, read_size, n)]):.3f})"
            for n in names
        )
        print(f"{scenario:<13}{read_size:>8}{cells}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        pki, scenario, read_size, size = json.loads(sys.argv[2])
        print(measure(Path(pki), scenario, read_size, size))
    else:
        sys.exit(main())
