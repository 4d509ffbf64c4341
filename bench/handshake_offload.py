"""What a handshake thread (``tls.handshake_threads``) costs per handshake, in process.

A Python ``ssl`` client (as ``bench.loadgen``'s) and a bundled-OpenSSL ``TLSServerSession`` pump
each other's memory BIOs on a uvloop event loop, one handshake at a time, the server's steps
either on the loop (``receive``, as with ``handshake_threads = 0``) or on one
``HandshakeThreads`` worker (``feed`` and ``handshake_step``, the outcome handed back with
``call_soon_threadsafe``, as ``gateway.protocol`` does). Rows alternate in batches; it prints
the medians of the process's CPU per handshake (client, loop and worker together) and of the
CPU inside ``handshake_step`` alone (``time.thread_time``, on whichever thread ran it), so the
difference splits into the step itself and the hand-offs.

Usage: ``python -m bench.handshake_offload [--rounds R] [--batch N]``
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.adapter_cost import Client  # noqa: E402
from dockward.tls.context import TLSBackend, build_context  # noqa: E402
from dockward.tls.offload import HandshakeThreads  # noqa: E402
from dockward.tls.session import StepOutcome, TLSServerSession  # noqa: E402
from support.gateway import TestPKI  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.handshake_offload", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=40, help="handshakes per row and round")
    args = parser.parse_args(argv)
    pki = TestPKI(Path(tempfile.mkdtemp(prefix="dw-offload-")) / "pki")
    bundle = pki.client("admin")
    context = build_context(
        TLSBackend.BUNDLED_OPENSSL, pki.server_cert, pki.server_key, pki.ca_bundle
    )
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.minimum_version = ssl.TLSVersion.TLSv1_3
    client_context.load_verify_locations(cafile=str(bundle / "ca.pem"))
    client_context.load_cert_chain(str(bundle / "cert.pem"), str(bundle / "key.pem"))
    in_step = [0]

    def step(session: TLSServerSession) -> StepOutcome:
        start = time.thread_time_ns()
        outcome = session.handshake_step()
        in_step[0] += time.thread_time_ns() - start
        return outcome

    class Timed:
        """A session whose ``handshake_step`` is timed on the thread that runs it."""

        def __init__(self, session: TLSServerSession) -> None:
            self.session = session

        def handshake_step(self) -> StepOutcome:
            return step(self.session)

    def on_loop() -> None:
        client, server, reply = Client(client_context), TLSServerSession(context), b""
        while not client.handshake(reply):
            if server.feed(client.outgoing.read()):
                assert step(server) is False
            reply = server.data_to_send()
        server.feed(client.outgoing.read())
        assert step(server) is True

    async def on_thread(threads: HandshakeThreads) -> None:
        loop = asyncio.get_running_loop()
        client, server, reply = Client(client_context), TLSServerSession(context), b""

        async def stepped() -> StepOutcome:
            done: asyncio.Future[StepOutcome] = loop.create_future()
            threads.submit(Timed(server), done.set_result)  # type: ignore[arg-type]
            return await done

        while not client.handshake(reply):
            if server.feed(client.outgoing.read()):
                assert await stepped() is False
            reply = server.data_to_send()
        server.feed(client.outgoing.read())
        assert await stepped() is True

    async def run() -> dict[str, tuple[list[float], list[float]]]:
        threads = HandshakeThreads(1, asyncio.get_running_loop())
        out: dict[str, tuple[list[float], list[float]]] = {"loop": ([], []), "thread": ([], [])}
        try:
            for round_ in range(args.rounds + 1):  # the first round warms up
                for name in ("loop", "thread") if round_ % 2 else ("thread", "loop"):
                    in_step[0] = 0
                    start = time.process_time_ns()
                    for _ in range(args.batch):
                        if name == "loop":
                            on_loop()
                        else:
                            await on_thread(threads)
                    total = (time.process_time_ns() - start) / args.batch / 1000
                    if round_:
                        out[name][0].append(total)
                        out[name][1].append(in_step[0] / args.batch / 1000)
        finally:
            threads.close()
        return out

    out = uvloop.run(run())
    print(f"µs of CPU per handshake, medians of {args.rounds} rounds x {args.batch}")
    print(f"{'steps on':10} {'process':>8} {'in steps':>9}")
    for name, (total, steps) in out.items():
        print(f"{name:10} {statistics.median(total):8.0f} {statistics.median(steps):9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
