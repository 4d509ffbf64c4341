"""A sans-IO TLS server session over two memory BIOs, on either backend.

asyncio's and uvloop's TLS transports close the whole connection when the peer half-closes,
which loses the output of ``docker exec -i`` and ``docker run -i`` after stdin EOF (see
notes/protocol.md §1.4). Owning the record layer keeps half-close a real state: the peer's
close_notify is reported as end-of-input while we keep writing, and ``close_notify()`` sends
ours without closing anything else. The caller moves bytes: ``receive()`` ciphertext in,
``data_to_send()`` ciphertext out.

The first five bytes are looked at before OpenSSL sees them: a plain HTTP request gets Go's 400
answer (``plain_http``) instead of a bare close.

``TLSServerSession(context)`` picks the backend from the context it is given (see
``context.build_context``): an ``ssl.SSLContext`` gives an ``ssl.SSLObject`` session, a
``BundledServerContext`` one on the OpenSSL that ``cryptography`` bundles. Both behave the same
to the caller, down to the failure reasons.
"""

from __future__ import annotations

import ssl
from typing import Any, TypeAlias

from dockward.tls import bundled
from dockward.tls.bundled import BundledServerContext, ffi, lib, take_error_reason
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
_SCRATCH_FULL = bundled.SCRATCH_SIZE - READ_SIZE  # no room left for another record
# From this much ciphertext on, encrypt_owned reads it into a buffer of its own
TAKE_FROM = 32 * 1024
# A receive or a write larger than this grows a memory BIO for good: release_buffers() then
# swaps it for a new one once it is empty (the adapter calls it a second after the growth)
GROWN_ABOVE = 64 * 1024


Buffer: TypeAlias = bytes | bytearray | memoryview
# What one handshake step came to: True established, False more bytes wanted, else the reason it
# failed (what ``HandshakeFailed`` would carry; OpenSSL's alert is then waiting to be sent).
StepOutcome: TypeAlias = bool | str


class HandshakeFailed(Exception):
    """The handshake failed; send ``data_to_send()`` first (OpenSSL's alert, or the answer to a
    plain HTTP request), then close."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TLSServerSession:
    """One server-side TLS connection, driven entirely by the caller."""

    __slots__ = ("_first", "established", "peer_closed", "sent_close")

    def __new__(cls, context: ssl.SSLContext | BundledServerContext) -> TLSServerSession:
        if cls is not TLSServerSession:
            return super().__new__(cls)
        backend: type[TLSServerSession]
        backend = PythonSSLSession if isinstance(context, ssl.SSLContext) else BundledSession
        return super().__new__(backend)

    def __init__(self, context: ssl.SSLContext | BundledServerContext) -> None:
        self.established = False
        self.peer_closed = False
        self.sent_close = False
        self._first: bytes | None = b""  # the connection's first bytes, until they are judged

    def receive(self, data: bytes) -> bytes:
        """Feed ciphertext from the peer; return the plaintext it completes.

        The handshake completing shows as ``established`` turning true; the peer's close_notify
        as ``peer_closed`` (after the plaintext that preceded it is returned).
        """
        raise NotImplementedError

    def feed(self, data: bytes) -> bool:
        """During the handshake, instead of ``receive``: take ``data`` and say whether a
        ``handshake_step()`` may run (not before the first five bytes are judged).
        ``HandshakeFailed`` for a plain HTTP request, its answer waiting in ``data_to_send()``."""
        raise NotImplementedError

    def handshake_step(self) -> StepOutcome:
        """Run the handshake on what ``feed`` gave; never raises, touches only OpenSSL (and this
        thread's error queue), so it may run on another thread while the caller leaves the
        session alone. The caller sets ``established`` on True."""
        raise NotImplementedError

    def send(self, plaintext: bytes | bytearray | memoryview) -> None:
        """Encrypt ``plaintext``; each call yields its own TLS record(s)."""
        raise NotImplementedError

    def encrypt(self, plaintext: bytes | bytearray | memoryview) -> bytes:
        """``send(plaintext)`` then ``data_to_send()``: the ciphertext to write now."""
        raise NotImplementedError

    def encrypt_owned(self, plaintext: bytes | bytearray | memoryview) -> Buffer:
        """As ``encrypt``, as any bytes-like object that owns its memory (for a transport's
        ``write``, which may keep it): on the bundled backend, one copy fewer."""
        return self.encrypt(plaintext)

    def close_notify(self) -> None:
        """Queue our close_notify (write side closed, reading still possible)."""
        raise NotImplementedError

    @property
    def grown(self) -> bool:
        """Whether a burst left buffers that ``release_buffers()`` could give back."""
        return False

    def release_buffers(self) -> bool:
        """Give back what a burst grew, if nothing is waiting in it; False: try later."""
        return True

    def data_to_send(self) -> bytes:
        """Ciphertext waiting to go to the peer."""
        raise NotImplementedError

    def peer_certificate_der(self) -> bytes | None:
        raise NotImplementedError

    @property
    def version(self) -> str | None:
        raise NotImplementedError

    @property
    def cipher(self) -> str | None:
        raise NotImplementedError

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
            self._answer_plain_http()
            raise HandshakeFailed("plain HTTP request, answered 400 Bad Request")
        return True

    def _answer_plain_http(self) -> None:
        raise NotImplementedError


class PythonSSLSession(TLSServerSession):
    """The session on Python's ``ssl``: an ``ssl.SSLObject`` over two ``ssl.MemoryBIO``s."""

    __slots__ = ("_incoming", "_object", "_outgoing")

    def __init__(self, context: ssl.SSLContext | BundledServerContext) -> None:
        assert isinstance(context, ssl.SSLContext)
        super().__init__(context)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._object = context.wrap_bio(self._incoming, self._outgoing, server_side=True)

    def receive(self, data: bytes) -> bytes:
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

    def feed(self, data: bytes) -> bool:
        self._incoming.write(data)
        return self._first is None or self._first_bytes_judged(data)

    def handshake_step(self) -> StepOutcome:
        try:
            self._object.do_handshake()  # releases the GIL
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError as err:
            return _reason(err)
        except Exception as err:  # a worker thread must get an outcome
            return f"handshake failed: {err}"
        return True

    def _answer_plain_http(self) -> None:
        self._outgoing.write(PLAIN_HTTP_ANSWER)

    def send(self, plaintext: bytes | bytearray | memoryview) -> None:
        if plaintext:
            self._object.write(plaintext)

    def encrypt(self, plaintext: bytes | bytearray | memoryview) -> bytes:
        if plaintext:
            self._object.write(plaintext)
        return self._outgoing.read()

    def close_notify(self) -> None:
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


class BundledSession(TLSServerSession):
    """The session on the bundled OpenSSL: one ``SSL`` over two memory ``BIO``s it owns.

    ``receive`` clears OpenSSL's error queue first, as ``SSL_get_error`` requires, and a failure
    takes its reasons off the queue.
    """

    __slots__ = ("_context", "_grown", "_in", "_out", "_ssl", "_unsent")

    def __init__(self, context: ssl.SSLContext | BundledServerContext) -> None:
        assert isinstance(context, BundledServerContext)
        super().__init__(context)
        self._context = context  # its callbacks must outlive this session
        self._unsent = 0  # most ciphertext that send() queued since the last data_to_send()
        self._grown = False  # a memory BIO took more than GROWN_ABOVE at once since its start
        connection = lib.SSL_new(context.ctx)
        if connection == ffi.NULL:
            raise MemoryError(take_error_reason("SSL_new failed"))
        self._ssl: Any = ffi.gc(connection, lib.SSL_free)
        self._in: Any = lib.BIO_new(lib.BIO_s_mem())
        self._out: Any = lib.BIO_new(lib.BIO_s_mem())
        if self._in == ffi.NULL or self._out == ffi.NULL:
            for bio in (self._in, self._out):
                if bio != ffi.NULL:
                    lib.BIO_free(bio)
            raise MemoryError("BIO_new failed")
        lib.SSL_set_bio(connection, self._in, self._out)  # the SSL frees them
        lib.SSL_set_accept_state(connection)

    def receive(self, data: bytes) -> bytes:
        connection = self._ssl
        lib.ERR_clear_error()
        if len(data) > GROWN_ABOVE:
            self._grown = True
        if data:
            lib.BIO_write(
                self._in, data if type(data) is bytes else ffi.from_buffer(data), len(data)
            )
        if not self.established:
            if self._first is not None and not self._first_bytes_judged(data):
                return b""
            result = lib.SSL_do_handshake(connection)
            if result != 1:
                if lib.SSL_get_error(connection, result) == lib.SSL_ERROR_WANT_READ:
                    return b""
                raise HandshakeFailed(self._failure_reason())
            self.established = True
        if self.peer_closed:
            return b""
        # Records are decrypted one after the other into the scratch buffer and copied out once.
        buffer = bundled.scratch_buffer()
        pieces: list[bytes] = []
        filled = 0
        while True:
            size = lib.SSL_read(connection, buffer + filled, READ_SIZE)
            if size > 0:
                filled += size
                if filled > _SCRATCH_FULL:
                    pieces.append(ffi.unpack(buffer, filled))
                    filled = 0
                continue
            error = lib.SSL_get_error(connection, size)
            if error == lib.SSL_ERROR_WANT_READ:
                break
            if error == lib.SSL_ERROR_ZERO_RETURN:
                self.peer_closed = True
                break
            raise ConnectionError(f"TLS error: {take_error_reason('connection failed')}")
        if not pieces:
            return ffi.unpack(buffer, filled) if filled else b""
        if filled:
            pieces.append(ffi.unpack(buffer, filled))
        return b"".join(pieces)

    def feed(self, data: bytes) -> bool:
        if len(data) > GROWN_ABOVE:
            self._grown = True
        if data:
            lib.BIO_write(
                self._in, data if type(data) is bytes else ffi.from_buffer(data), len(data)
            )
        return self._first is None or self._first_bytes_judged(data)

    def handshake_step(self) -> StepOutcome:
        connection = self._ssl
        try:
            lib.ERR_clear_error()  # this thread's queue, as SSL_get_error requires
            result = lib.SSL_do_handshake(connection)  # cffi releases the GIL
            if result == 1:
                return True
            if lib.SSL_get_error(connection, result) == lib.SSL_ERROR_WANT_READ:
                return False
            return self._failure_reason()
        except Exception as err:  # a worker thread must get an outcome
            return f"handshake failed: {err}"

    def _failure_reason(self) -> str:
        reason = take_error_reason("handshake failed")
        verify = lib.SSL_get_verify_result(self._ssl)
        if verify != lib.X509_V_OK:
            return f"{reason}: {bundled.text(lib.X509_verify_cert_error_string(verify))}"
        return reason

    def _answer_plain_http(self) -> None:
        lib.BIO_write(self._out, PLAIN_HTTP_ANSWER, len(PLAIN_HTTP_ANSWER))

    def send(self, plaintext: bytes | bytearray | memoryview) -> None:
        if not plaintext:
            return
        # bytes go to C as they are; ffi.from_buffer costs a microsecond per call
        data = plaintext if type(plaintext) is bytes else ffi.from_buffer(plaintext)
        if lib.SSL_write(self._ssl, data, len(data)) <= 0:
            raise ConnectionError(f"TLS error: {take_error_reason('write failed')}")
        self._unsent += bundled.ciphertext_bound(len(data))
        if self._unsent > GROWN_ABOVE:
            self._grown = True

    def encrypt(self, plaintext: bytes | bytearray | memoryview) -> bytes:
        self.send(plaintext)
        return self.data_to_send()

    def encrypt_owned(self, plaintext: bytes | bytearray | memoryview) -> Buffer:
        self.send(plaintext)
        if self._unsent < TAKE_FROM:
            return self.data_to_send()  # small: a copy costs less than a buffer of its own
        self._unsent = 0
        return bundled.take(self._out)

    def close_notify(self) -> None:
        if self.sent_close or not self.established:
            return
        self.sent_close = True
        lib.SSL_shutdown(self._ssl)  # 0: our alert is queued; we do not wait for the peer's
        lib.ERR_clear_error()

    def data_to_send(self) -> bytes:
        expected, self._unsent = self._unsent, 0
        return bundled.drain(self._out, expected)

    @property
    def grown(self) -> bool:
        return self._grown

    def release_buffers(self) -> bool:
        # A memory BIO keeps the largest size it ever held: after a 256 KiB read or write, an idle
        # connection would hold that much twice over. Empty ones are swapped for new ones (the
        # SSL frees the old: SSL_set_bio with one side unchanged replaces only the other).
        if not self._grown:
            return True
        if lib.BIO_get_mem_data(self._in, ffi.NULL) or lib.BIO_get_mem_data(self._out, ffi.NULL):
            return False
        fresh_in, fresh_out = lib.BIO_new(lib.BIO_s_mem()), lib.BIO_new(lib.BIO_s_mem())
        if fresh_in == ffi.NULL or fresh_out == ffi.NULL:
            for bio in (fresh_in, fresh_out):
                if bio != ffi.NULL:
                    lib.BIO_free(bio)
            return False
        lib.SSL_set_bio(self._ssl, self._in, fresh_out)  # frees the old output BIO
        self._out = fresh_out
        lib.SSL_set_bio(self._ssl, fresh_in, self._out)  # frees the old input BIO
        self._in = fresh_in
        self._grown = False
        return True

    def peer_certificate_der(self) -> bytes | None:
        return bundled.peer_certificate_der(self._ssl)

    @property
    def version(self) -> str | None:
        return bundled.text(lib.SSL_get_version(self._ssl)) if self.established else None

    @property
    def cipher(self) -> str | None:
        current = lib.SSL_get_current_cipher(self._ssl)
        return None if current == ffi.NULL else bundled.text(lib.SSL_CIPHER_get_name(current))
