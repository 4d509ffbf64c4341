"""systemd's readiness protocol (sd_notify) for ``Type=notify`` units, without libsystemd.

systemd passes the address of a datagram socket in ``$NOTIFY_SOCKET``: a path, or an abstract
name written with a leading ``@``. A state such as ``READY=1`` is one datagram to it. Outside
systemd the variable is unset and ``notify`` does nothing. A failed send is logged, never raised:
the gateway serves either way, and systemd reports a unit that never became ready.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("dockward")


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to ``$NOTIFY_SOCKET``; True if it was sent."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):  # e.g. vsock:CID:PORT, for virtual machines
        log.warning("NOTIFY_SOCKET=%s: only unix sockets are supported", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as err:
        log.warning("could not tell systemd %s: %s", state, err)
        return False
    return True
