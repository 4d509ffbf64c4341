"""A sans-IO TLS server session: ``ssl.SSLObject`` over two ``ssl.MemoryBIO``s.

asyncio's and uvloop's TLS transports close the whole connection when the peer half-closes,
which loses the output of ``docker exec -i`` and ``docker run -i`` after stdin EOF (see
notes/protocol.md §1.4). Owning the record layer keeps half-close a real state: the peer's
close_notify is reported as end-of-input while we keep writing, and ``close_notify()`` sends
ours without closing anything else. The caller moves bytes: ``receive()`` ciphertext in,
``data_to_send()`` ciphertext out.

The first five bytes are looked at before OpenSSL sees them: a plain HTTP request gets Go's 400
answer (``plain_http``) instead of a bare close.
"""

from __future__ import annotations

import ssl

from dockward.tls.plain_http import (
    PLAIN_HTTP_ANSWER,
    RECORD_HEADER_SIZE,
    FirstBytes,
    classify_first_bytes,
)

# One read returns at most one record's plaintext, 16 KiB. A bigger buffer is allocated and
# shrunk on every read for nothing, and past glibc's mmap threshold (128 KiB until raised) that
# costs an mmap, an mremap and a munmap per record: about 11 µs per request measured in-process.
READ_SIZE = 16 * 1024


class HandshakeFailed(Exception):
    """The handshake failed; send ``data_to_send()`` first (OpenSSL's alert, or the answer to a
    plain HTTP request), then close."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TLSServerSession:
    """One server-side TLS connection, driven entirely by the caller."""

    __slots__ = (
        "_first",
        "_incoming",
        "_object",
        "_outgoing",
        "established",
        "peer_closed",
        "sent_close",
    )

    def __init__(self, context: ssl.SSLContext) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._object = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self.established = False
        self.peer_closed = False
        self.sent_close = False
        self._first: bytes | None = b""  # the connection's first bytes, until they are judged

    def receive(self, data: bytes) -> bytes:
        """Feed ciphertext from the peer; return the plaintext it completes.

        The handshake completing shows as ``established`` turning true; the peer's close_notify
        as ``peer_closed`` (after the plaintext that preceded it is returned).
        """
        self._incoming.write(data)
        if not self.established:
            if self._first is not None and not self._first_bytes_judged(data):
                return b""
            try:
                self._object.do_handshake()
            except ssl.SSLWantReadError:
                return b""
            except ssl.SSLError as err:
                raise HandshakeFailed(_reason(err)) from None
            self.established = True
        if self.peer_closed:
            return b""
        obj, incoming = self._object, self._incoming
        pieces: list[bytes] = []
        while True:
            try:
                piece = obj.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                piece = b""
            except ssl.SSLError as err:
                raise ConnectionError(f"TLS error: {_reason(err)}") from None
            if not piece:
                self.peer_closed = True
                break
            pieces.append(piece)
            if not incoming.pending and not obj.pending():
                break  # all consumed: skip the read that would only raise SSLWantReadError
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _first_bytes_judged(self, data: bytes) -> bool:
        """Whether the handshake may start: not before five bytes are in, never for plain HTTP."""
        assert self._first is not None
        first = self._first + data[: RECORD_HEADER_SIZE - len(self._first)]
        kind = classify_first_bytes(first)
        if kind is FirstBytes.INCOMPLETE:
            self._first = first
            return False
        self._first = None
        if kind is FirstBytes.PLAIN_HTTP:
            # OpenSSL has not run and never will on this connection: its output BIO is ours.
            self._outgoing.write(PLAIN_HTTP_ANSWER)
            raise HandshakeFailed("plain HTTP request, answered 400 Bad Request")
        return True

    def send(self, plaintext: bytes | bytearray | memoryview) -> None:
        """Encrypt ``plaintext``; each call yields its own TLS record(s)."""
        if plaintext:
            self._object.write(plaintext)

    def encrypt(self, plaintext: bytes | bytearray | memoryview) -> bytes:
        """``send(plaintext)`` then ``data_to_send()``: the ciphertext to write now."""
        if plaintext:
            self._object.write(plaintext)
        return self._outgoing.read()

    def close_notify(self) -> None:
        """Queue our close_notify (write side closed, reading still possible)."""
        if self.sent_close or not self.established:
            return
        self.sent_close = True
        try:
            self._object.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass  # the alert is queued; we do not wait for the peer's
        except ssl.SSLError:
            pass

    def data_to_send(self) -> bytes:
        """Ciphertext waiting to go to the peer."""
        return self._outgoing.read()

    def peer_certificate_der(self) -> bytes | None:
        return self._object.getpeercert(binary_form=True)

    @property
    def version(self) -> str | None:
        return self._object.version()

    @property
    def cipher(self) -> str | None:
        info = self._object.cipher()
        return info[0] if info else None


def _reason(err: ssl.SSLError) -> str:
    """A short human reason: OpenSSL's reason code when it has one."""
    reason = getattr(err, "reason", None)
    verify = getattr(err, "verify_message", None)
    if verify:
        return f"{(reason or 'certificate verify failed').lower().replace('_', ' ')}: {verify}"
    if reason:
        return str(reason).lower().replace("_", " ")
    return str(err)
