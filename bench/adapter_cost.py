"""The gateway's Python work per keep-alive request and per connection, in process, no sockets.

A real ``Gateway`` (certificates from ``TestPKI``, the access log on, no policy: admin) and a
real ``ClientProtocol`` on stand-in transports that only collect what is written; the client is
Python's ``ssl`` over memory BIOs, and the daemon's answer is fed to the real
``UpstreamProtocol``. Only the gateway's calls are timed (``perf_counter_ns``), and beside them
the least a TLS relay does for the same bytes (``TLSServerSession.receive`` of the request and
``encrypt`` of the answer, as ``bench.floor_relay`` does), so ``extra`` is dockward's own cost on
top of the record layer. Medians, which a busy machine's preemptions do not move; the
exchanges that write the access log's batch are timed apart and their median is shared out over
the batch's lines (``log batch`` is that median). ``connect`` times a whole connection: accept,
handshake, one ``/_ping``, the client's close_notify and FIN, gone.

Each ``--build NAME=SRC`` runs in a child process importing dockward from ``SRC``; the builds
alternate for ``--rounds`` rounds and the medians of the rounds are printed, so a shared machine
slows them alike.

Usage: ``python -m bench.adapter_cost --build prev=/work/wt-prev/src --build new=src``
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PING_REQUEST = (
    b"GET /v1.41/_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: Docker-Client/28.2\r\n\r\n"
)
LIST_REQUEST = b"GET /v1.41/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n"


class Transport:
    """What ``ClientProtocol`` and ``UpstreamProtocol`` call on a transport; writes are kept."""

    def __init__(self, peer: tuple[str, int] | None = None) -> None:
        self.peer = peer
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def writelines(self, items: list[bytes]) -> None:
        self.written.extend(bytes(item) for item in items)

    def take(self) -> bytes:
        out = b"".join(self.written)
        self.written.clear()
        return out

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closing = True

    abort = close


class Client:
    """Python's ``ssl`` client over memory BIOs, as the load generator's."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def handshake(self, server_reply: bytes) -> bool:
        if server_reply:
            self.incoming.write(server_reply)
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            return False
        return True

    def request(self, data: bytes) -> bytes:
        self.tls.write(data)
        return self.outgoing.read()

    def response(self, records: bytes) -> bytes:
        self.incoming.write(records)
        out = b""
        try:
            while True:
                out += self.tls.read(65536)
        except ssl.SSLWantReadError:
            pass
        return out


def _child(rows: list[str], count: int) -> dict[str, float]:
    """Run in a child process with PYTHONPATH naming the build under test."""
    sys.path.insert(0, str(ROOT / "tests"))
    import uvloop

    from bench.fake_daemon import LIST, PING
    from dockward.audit.access_log import FLUSH_LINES
    from dockward.audit.sinks import open_sink
    from dockward.config import load_config
    from dockward.gateway import protocol
    from dockward.gateway.relay import OpenUpstream, UpstreamConnected
    from dockward.gateway.server import Gateway, Listener
    from dockward.tls.session import TLSServerSession
    from support.gateway import GatewayProcess, TestPKI

    scratch = Path(tempfile.mkdtemp(prefix="dw-adapter-"))
    pki = TestPKI(scratch / "pki")
    bundle = pki.client("admin")
    files = GatewayProcess(pki, str(scratch / "docker.sock"))  # writes the config, not started
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.minimum_version = ssl.TLSVersion.TLSv1_3
    client_context.load_verify_locations(cafile=str(bundle / "ca.pem"))
    client_context.load_cert_chain(str(bundle / "cert.pem"), str(bundle / "key.pem"))
    listener = Listener("tcp", "127.0.0.1:2376", networks=(ipaddress.ip_network("127.0.0.0/8"),))
    opened: list[protocol.ClientProtocol] = []

    def open_upstream(client: protocol.ClientProtocol, command: object) -> None:
        opened.append(client)  # connected once the current event is carried out

    protocol._PERFORM[OpenUpstream] = open_upstream  # no daemon socket: a stand-in transport
    clock = time.perf_counter_ns

    async def run() -> dict[str, float]:
        gateway = Gateway(load_config(files.config))
        sink = open_sink(files.access_log)
        gateway.events.observers.append(sink)
        context = gateway.ssl_context
        port = 40000

        def connect() -> tuple[protocol.ClientProtocol, Transport, Client, int]:
            nonlocal port
            port += 1
            client = Client(client_context)
            spent = 0
            start = clock()
            proto = protocol.ClientProtocol(gateway, listener)
            transport = Transport(("127.0.0.1", port))
            proto.connection_made(transport)  # type: ignore[arg-type]
            spent += clock() - start
            reply = b""
            while not client.handshake(reply):
                records = client.outgoing.read()
                start = clock()
                proto.data_received(records)
                spent += clock() - start
                reply = transport.take()
            records = client.outgoing.read()  # the client's Finished
            start = clock()
            proto.data_received(records)
            spent += clock() - start
            client.response(transport.take())  # the session tickets, if any
            return proto, transport, client, spent

        def exchange(
            proto: protocol.ClientProtocol,
            transport: Transport,
            client: Client,
            request: bytes,
            answer: bytes,
        ) -> int:
            records = client.request(request)
            start = clock()
            proto.data_received(records)
            spent = clock() - start
            while opened:
                connecting = opened.pop()
                upstream = protocol.UpstreamProtocol(connecting)
                start = clock()
                upstream.connection_made(Transport())  # type: ignore[arg-type]
                connecting.handle(UpstreamConnected())
                spent += clock() - start
            upstream = proto.upstream
            assert upstream is not None and upstream.transport is not None
            sent = upstream.transport.take()  # type: ignore[attr-defined]
            assert sent.startswith(request.split(b" HTTP")[0]), sent[:80]
            start = clock()
            feed(upstream, answer)
            spent += clock() - start
            got = client.response(transport.take())
            assert got.startswith(b"HTTP/1.1 200"), got[:80]
            return spent

        def feed(upstream: Any, answer: bytes) -> None:
            """The daemon's answer as the event loop hands it over: into the protocol's buffer
            (a ``BufferedProtocol``), or as bytes (builds before it was one)."""
            if not hasattr(upstream, "get_buffer"):
                upstream.data_received(answer)
                return
            buffer = upstream.get_buffer(len(answer))
            buffer[: len(answer)] = answer
            upstream.buffer_updated(len(answer))

        def floor_exchange(session: Any, client: Client, request: bytes, answer: bytes) -> int:
            records = client.request(request)
            start = clock()
            plaintext = session.receive(records)
            out = session.encrypt(answer)
            spent = clock() - start
            assert plaintext == request
            client.response(out)
            return spent

        def floor_session() -> tuple[Any, Client, int]:
            client = Client(client_context)
            start = clock()
            session = TLSServerSession(context)
            spent = clock() - start
            reply = b""
            while not client.handshake(reply):
                records = client.outgoing.read()
                start = clock()
                session.receive(records)
                reply = session.data_to_send()
                spent += clock() - start
            records = client.outgoing.read()
            start = clock()
            session.receive(records)
            out = session.data_to_send()
            spent += clock() - start
            client.response(out)
            return session, client, spent

        results: dict[str, float] = {}
        for row in rows:
            if row in ("ping", "list"):
                request, answer = (PING_REQUEST, PING) if row == "ping" else (LIST_REQUEST, LIST)
                proto, transport, client, _ = connect()
                session, floor_client, _ = floor_session()
                for _ in range(200):  # warm the caches on both
                    exchange(proto, transport, client, request, answer)
                    floor_exchange(session, floor_client, request, answer)
                ours, floor, flushes = [], [], []
                pending = sink._pending  # type: ignore[union-attr]
                for _ in range(count):
                    waiting = len(pending)
                    spent = exchange(proto, transport, client, request, answer)
                    # the access log writes a batch at a time: those exchanges apart, so that
                    # the median is not the only thing counted and preemption is not either
                    (flushes if len(pending) <= waiting else ours).append(spent)
                    floor.append(floor_exchange(session, floor_client, request, answer))
                results[row + " log batch"] = statistics.median(flushes or [0]) / 1000
                ours = [statistics.median(ours) + statistics.median(flushes or [0]) / FLUSH_LINES]
                proto.connection_lost(None)
            else:
                ours, floor = [], []
                for _ in range(max(count // 20, 50)):
                    proto, transport, client, spent = connect()
                    spent += exchange(proto, transport, client, PING_REQUEST, PING)
                    with contextlib.suppress(ssl.SSLWantReadError):  # its close_notify
                        client.tls.unwrap()
                    start = clock()
                    proto.data_received(client.outgoing.read())
                    proto.eof_received()
                    proto.connection_lost(None)
                    spent += clock() - start
                    ours.append(spent)
                    session, floor_client, floor_spent = floor_session()
                    floor_spent += floor_exchange(session, floor_client, PING_REQUEST, PING)
                    floor.append(floor_spent)
            results[row] = statistics.median(ours) / 1000
            results[row + " floor"] = statistics.median(floor) / 1000
        sink.close()
        return results

    try:
        return uvloop.run(run())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adapter_cost", description=__doc__)
    parser.add_argument("--build", action="append", default=[], metavar="NAME=SRC")
    parser.add_argument("--rows", default="ping,list,connect")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=5120, help="exchanges per row and round")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rows = [row.strip() for row in args.rows.split(",") if row.strip()]
    if args.child:
        print(json.dumps(_child(rows, args.count)))
        return 0
    builds = [item.split("=", 1) for item in args.build] or [["this", str(ROOT / "src")]]
    seen: dict[str, dict[str, list[float]]] = {name: {} for name, _ in builds}
    for round_ in range(args.rounds):
        order = builds[round_ % len(builds) :] + builds[: round_ % len(builds)]
        for name, source in order:
            env = {**os.environ, "PYTHONPATH": str(Path(source).resolve())}
            argv_child = ["--child", "--rows", ",".join(rows), "--count", str(args.count)]
            output = subprocess.run(
                [sys.executable, "-m", "bench.adapter_cost", *argv_child],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for key, value in json.loads(output.splitlines()[-1]).items():
                seen[name].setdefault(key, []).append(value)
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    print(f"µs of gateway CPU, medians of {args.rounds} rounds (each a median of its exchanges)")
    print(f"{'row':8} {'build':8} {'dockward':>9} {'floor':>7} {'extra':>7}")
    for row in rows:
        for name, _ in builds:
            ours = statistics.median(seen[name][row])
            floor = statistics.median(seen[name][row + " floor"])
            batch = seen[name].get(row + " log batch")
            shown = f"   log batch {statistics.median(batch):.0f}" if batch else ""
            print(f"{row:8} {name:8} {ours:9.1f} {floor:7.1f} {ours - floor:7.1f}{shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
