"""Recognising a plain HTTP request sent to the TLS port, from the connection's first bytes.

A client without TLS settings (the docker CLI with ``DOCKER_HOST=tcp://…`` but no
``DOCKER_TLS_VERIFY``) writes its request where a TLS record header is expected. Go's net/http
server, and so dockerd's ``--tlsverify`` listener, answers that with a fixed 400 so the CLI can
say what is wrong; a bare close only gives "EOF". The same five request starts as Go are
recognised, and nothing else: any other first record is OpenSSL's to refuse. Pure functions:
no socket, no ``ssl`` object.
"""

from __future__ import annotations

import enum

RECORD_HEADER_SIZE = 5  # content type, version, length: what a TLS server reads first

# Go's net/http: tlsRecordHeaderLooksLikeHTTP, the starts of a misdirected plain HTTP request.
PLAIN_HTTP_STARTS = frozenset({b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO"})

# Go's answer, byte for byte: the CLI prints its body as "Error response from daemon: …".
PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


class FirstBytes(enum.Enum):
    """What the start of a connection on the TLS port is."""

    INCOMPLETE = "fewer than five bytes so far"
    PLAIN_HTTP = "a plain HTTP request"
    OTHER = "for the TLS handshake to judge"


def classify_first_bytes(received: bytes | bytearray) -> FirstBytes:
    """Classify a connection by the bytes received on it so far (only the first five count)."""
    if len(received) < RECORD_HEADER_SIZE:
        return FirstBytes.INCOMPLETE
    if bytes(received[:RECORD_HEADER_SIZE]) in PLAIN_HTTP_STARTS:
        return FirstBytes.PLAIN_HTTP
    return FirstBytes.OTHER
