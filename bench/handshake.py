"""CPU per server-side mutual-TLS handshake, per TLS backend and configuration, in-process.

No sockets: a client and a ``TLSServerSession`` pump each other's memory BIOs, and only the
server's calls are timed (``time.process_time()`` around each, session creation included). The
certificates are what dockward's CA issues (ECDSA P-256 CA, server and client), the client
certificate is verified against the CA bundle with the CRL check on (a CRL revoking a few
serials), as the gateway does. TLS 1.3 throughout.

Two clients: Python's ``ssl`` as ``bench.loadgen`` uses it (system OpenSSL 3.0: an X25519 key
share), and one on the bundled OpenSSL with its defaults, shaped like Go 1.24's docker CLI (an
X25519MLKEM768 and an X25519 key share). The rows run interleaved (a few handshakes of each in
turn, the order rotated every round), so a busy machine slows every row alike; each row reports
the median and mean server CPU per handshake and its ratio to the first row, today's
configuration. A second table times the record layer: server CPU per MiB decrypted (16 KiB
records, four per receive) and encrypted (16 KiB writes, and 256 KiB writes as uvloop hands
over a busy stream).

Usage: ``python -m bench.handshake [--handshakes N] [--rounds R] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from dockward.pki.ca import CertificateAuthority, Revocation
from dockward.tls import bundled
from dockward.tls.bundled import BundledServerContext, ffi, lib
from dockward.tls.context import RevocationCheck, ServerContext, TLSBackend, build_context
from dockward.tls.session import TLSServerSession

MIB = 1 << 20
RECORD = 16 * 1024


@dataclass(frozen=True)
class Files:
    root: Path
    revoked: frozenset[int]
    next_update: dt.datetime

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    def context(self, backend: TLSBackend, *, crl: bool = True) -> ServerContext:
        check = RevocationCheck(self.crl, self.revoked, self.next_update) if crl else None
        r = self.root
        return build_context(backend, r / "server.pem", r / "server-key.pem", r / "ca.pem", check)


def make_files(root: Path) -> Files:
    ca = CertificateAuthority.create("bench CA")
    ca.write(root / "ca.pem", root / "ca-key.pem")
    ca.issue_server(["localhost", "127.0.0.1"]).write(root / "server.pem", root / "server-key.pem")
    ca.issue_client("bench").write_bundle(root / "client")
    now = dt.datetime.now(dt.UTC)
    revocations = [Revocation(ca.issue_client(f"gone-{i}").serial, now) for i in range(5)]
    crl = ca.sign_crl(revocations, number=1, days=7)
    (root / "crl.pem").write_bytes(crl.public_bytes(Encoding.PEM))
    assert crl.next_update_utc is not None
    return Files(root, frozenset(r.serial for r in revocations), crl.next_update_utc)


# -- server rows: (name, what it shows, factory of the context) ------------------------------


def _bundled_with(files: Files, change: Callable[[Any], None], *, crl: bool = True) -> Any:
    context = files.context(TLSBackend.BUNDLED_OPENSSL, crl=crl)
    assert isinstance(context, BundledServerContext)
    change(context.ctx)
    return context


def _crl_in_store(ctx: Any) -> None:
    # what Python's ssl does: OpenSSL looks the CRL up and checks its signature every handshake
    assert lib.SSL_CTX_load_verify_locations(ctx, str(FILES.crl).encode(), ffi.NULL) == 1
    lib.X509_STORE_set_flags(lib.SSL_CTX_get_cert_store(ctx), lib.X509_V_FLAG_CRL_CHECK)


def _groups(names: bytes) -> Callable[[Any], None]:
    return lambda ctx: lib.SSL_CTX_set1_curves_list(ctx, names)


def _python_ssl_tickets(files: Files) -> ssl.SSLContext:
    context = files.context(TLSBackend.PYTHON_SSL)
    assert isinstance(context, ssl.SSLContext)
    context.num_tickets = 2  # stateful (OP_NO_TICKET): what the bundled backend cannot turn off
    return context


ROWS: list[tuple[str, Callable[[Files], Any]]] = [
    ("python-ssl, as before (CRL in the store)", lambda f: f.context(TLSBackend.PYTHON_SSL)),
    ("python-ssl, no CRL", lambda f: f.context(TLSBackend.PYTHON_SSL, crl=False)),
    ("python-ssl, 2 stateful tickets", _python_ssl_tickets),
    ("bundled, as built (CRL verified at load)", lambda f: f.context(TLSBackend.BUNDLED_OPENSSL)),
    ("bundled, no CRL", lambda f: f.context(TLSBackend.BUNDLED_OPENSSL, crl=False)),
    ("bundled, CRL in the store", lambda f: _bundled_with(f, _crl_in_store, crl=False)),
    ("bundled, X25519 only", lambda f: _bundled_with(f, _groups(b"X25519"))),
    (
        "bundled, verify depth 1",
        lambda f: _bundled_with(f, lambda c: lib.SSL_CTX_set_verify_depth(c, 1)),
    ),
]

FILES: Files  # set by main(): the CRL-in-store row reads its path


# -- clients ---------------------------------------------------------------------------------


class PythonClient:
    """Python's ssl client over memory BIOs, TLS 1.3, as bench.loadgen configures it."""

    label = "python-ssl client (X25519)"

    def __init__(self, files: Files) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3
        self.context.load_verify_locations(cafile=str(files.root / "ca.pem"))
        self.context.load_cert_chain(files.root / "client/cert.pem", files.root / "client/key.pem")

    def connect(self) -> Iterator[bytes]:
        """Yields what the client sends, receives what the server answered; ends when done."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        conn = self.context.wrap_bio(incoming, outgoing, server_hostname="localhost")
        while True:
            try:
                conn.do_handshake()
                break
            except ssl.SSLWantReadError:
                incoming.write((yield outgoing.read()))
        incoming.write((yield outgoing.read()))


class GoLikeClient:
    """A client on the bundled OpenSSL with its default groups: key shares X25519MLKEM768 and
    X25519, as Go 1.24 (docker CLI 28) sends them."""

    label = "bundled client (X25519MLKEM768, as Go 1.24)"

    def __init__(self, files: Files) -> None:
        ctx = lib.SSL_CTX_new(lib.TLS_client_method())
        self.ctx = ffi.gc(ctx, lib.SSL_CTX_free)
        lib.SSL_CTX_set_min_proto_version(ctx, lib.TLS1_3_VERSION)
        assert lib.SSL_CTX_load_verify_locations(ctx, str(files.root / "ca.pem").encode(), ffi.NULL)
        assert lib.SSL_CTX_use_certificate_chain_file(
            ctx, str(files.root / "client/cert.pem").encode()
        )
        key = str(files.root / "client/key.pem").encode()
        assert lib.SSL_CTX_use_PrivateKey_file(ctx, key, lib.SSL_FILETYPE_PEM)
        lib.SSL_CTX_set_verify(ctx, lib.SSL_VERIFY_PEER, ffi.NULL)

    def connect(self) -> Iterator[bytes]:
        conn = ffi.gc(lib.SSL_new(self.ctx), lib.SSL_free)
        rbio, wbio = lib.BIO_new(lib.BIO_s_mem()), lib.BIO_new(lib.BIO_s_mem())
        lib.SSL_set_bio(conn, rbio, wbio)
        lib.SSL_set_connect_state(conn)
        while True:
            result = lib.SSL_do_handshake(conn)
            if result == 1:
                break
            if lib.SSL_get_error(conn, result) != lib.SSL_ERROR_WANT_READ:
                raise RuntimeError(bundled.take_error_reason("client handshake failed"))
            answer = yield bundled.drain(wbio)
            lib.BIO_write(rbio, answer, len(answer))
        answer = yield bundled.drain(wbio)
        if answer:
            lib.BIO_write(rbio, answer, len(answer))


def server_cpu(client: PythonClient | GoLikeClient, context: Any) -> float:
    """One handshake; the server's CPU seconds."""
    spent = 0.0
    flights = client.connect()
    sent = next(flights)
    start = time.process_time()
    server = TLSServerSession(context)
    spent += time.process_time() - start
    while True:
        start = time.process_time()
        server.receive(sent)
        answer = server.data_to_send()
        spent += time.process_time() - start
        try:
            sent = flights.send(answer)
        except StopIteration:
            break
    if not server.established:
        raise RuntimeError("the handshake did not complete")
    return spent


def handshake_rows(files: Files, handshakes: int, rounds: int) -> list[dict[str, Any]]:
    contexts = [(name, make(files)) for name, make in ROWS]
    results: list[dict[str, Any]] = []
    for client in (PythonClient(files), GoLikeClient(files)):
        samples: dict[str, list[float]] = {name: [] for name, _ in contexts}
        for _, context in contexts:  # warm-up
            server_cpu(client, context)
        for turn in range(rounds):
            shift = turn % len(contexts)
            for name, context in contexts[shift:] + contexts[:shift]:
                samples[name].extend(server_cpu(client, context) for _ in range(handshakes))
        base = statistics.median(samples[contexts[0][0]])
        for name, values in samples.items():
            median = statistics.median(values)
            results.append(
                {
                    "client": client.label,
                    "server": name,
                    "median_us": median * 1e6,
                    "mean_us": statistics.fmean(values) * 1e6,
                    "ratio": median / base,
                    "handshakes": len(values),
                }
            )
    return results


def record_rows(files: Files, megabytes: int, repeats: int) -> list[dict[str, Any]]:
    """Server CPU per MiB through the record layer, 16 KiB records, a few per receive."""
    results = []
    for backend in TLSBackend:
        context = files.context(backend)
        client_context = PythonClient(files).context
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = client_context.wrap_bio(incoming, outgoing, server_hostname="localhost")
        server = TLSServerSession(context)  # type: ignore[arg-type]
        while True:
            try:
                client.do_handshake()
                break
            except ssl.SSLWantReadError:
                server.receive(outgoing.read())
                incoming.write(server.data_to_send())
        server.receive(outgoing.read())
        chunk, big = bytes(RECORD), bytes(16 * RECORD)
        decrypt, encrypt, encrypt_big = [], [], []
        for _ in range(repeats):
            deliveries = []
            for _ in range(megabytes * MIB // (4 * RECORD)):
                for _ in range(4):
                    client.write(chunk)
                deliveries.append(outgoing.read())
            start = time.process_time()
            for delivery in deliveries:
                server.receive(delivery)
            decrypt.append((time.process_time() - start) / megabytes)
            start = time.process_time()
            for _ in range(megabytes * MIB // RECORD):
                server.encrypt(chunk)
            encrypt.append((time.process_time() - start) / megabytes)
            start = time.process_time()
            for _ in range(megabytes * MIB // len(big)):
                server.encrypt(big)
            encrypt_big.append((time.process_time() - start) / megabytes)
        results.append(
            {
                "backend": backend.value,
                "cipher": server.cipher,
                "decrypt_ms_per_mib": statistics.median(decrypt) * 1e3,
                "encrypt_ms_per_mib": statistics.median(encrypt) * 1e3,
                "encrypt_256k_ms_per_mib": statistics.median(encrypt_big) * 1e3,
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.handshake", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--handshakes", type=int, default=10, help="per row and turn (default 10)")
    parser.add_argument("--rounds", type=int, default=30, help="turns over all rows (default 30)")
    parser.add_argument("--megabytes", type=int, default=16, help="per record-layer run")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    global FILES
    with tempfile.TemporaryDirectory(prefix="dw-handshake-") as tmp:
        files = FILES = make_files(Path(tmp))
        print(f"Python ssl: {ssl.OPENSSL_VERSION}; bundled: {bundled.OPENSSL_VERSION}")
        print(f"{args.rounds} rounds x {args.handshakes} handshakes per row, interleaved\n")
        handshakes = handshake_rows(files, args.handshakes, args.rounds)
        records = record_rows(files, args.megabytes, 5)
    client = None
    for row in handshakes:
        if row["client"] != client:
            client = row["client"]
            print(f"{client}: server CPU per handshake (µs), median / mean, ratio to the first row")
        print(
            f"  {row['server']:<44} {row['median_us']:7.0f} / {row['mean_us']:7.0f}"
            f"   {row['ratio']:.2f}x"
        )
    print("\nrecord layer: server CPU per MiB (ms)")
    for row in records:
        print(
            f"  {row['backend']:<16} {row['cipher']:<24} decrypt {row['decrypt_ms_per_mib']:.3f}"
            f"  encrypt 16 KiB writes {row['encrypt_ms_per_mib']:.3f}"
            f"  256 KiB writes {row['encrypt_256k_ms_per_mib']:.3f}"
        )
    if args.json is not None:
        args.json.write_text(
            json.dumps({"handshakes": handshakes, "records": records}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
