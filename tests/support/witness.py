"""A loopback listener that records who connects: the witness of an outbound attack.

The outbound tests ask the gateway to make the daemon connect somewhere on the host's loopback
(a registry, a log server, a URL). The daemon's own behaviour is the ground truth: if the
witness saw no connection, the daemon made none. Every test also shows the witness does see the
connection when an administrator makes the same request, so a silent witness means something.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

from .waiting import wait_for


class LoopbackWitness:
    """Listens on 127.0.0.1 (a free port); counts connections and keeps their first bytes."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="witness", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def first_bytes(self) -> list[bytes]:
        with self._lock:
            return list(self._connections)

    def wait_for_connection(self, more_than: int, timeout: float = 30.0) -> None:
        wait_for(
            lambda: self.connections > more_than,
            timeout=timeout,
            what="a connection to the witness",
        )

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with client:
                client.settimeout(0.5)
                try:
                    data = client.recv(256)
                except OSError:
                    data = b""
            with self._lock:
                self._connections.append(data)

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackWitness:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
