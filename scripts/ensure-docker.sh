#!/usr/bin/env bash
# Makes sure a Docker daemon answers on $1 (default /var/run/docker.sock): starts the
# system service when there is one, otherwise runs dockerd in the background.
set -euo pipefail
sock=${1:-/var/run/docker.sock}
answers() {
    [ -S "$sock" ] && python3 - "$sock" <<'PY' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 200") else 1)
PY
}
answers && exit 0
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    systemctl start docker || true
fi
if ! answers; then
    echo "dockward: starting dockerd (log: /var/log/dockerd.log)"
    nohup dockerd -H "unix://$sock" >/var/log/dockerd.log 2>&1 &
fi
for _ in $(seq 1 100); do answers && exit 0; sleep 0.2; done
echo "dockward: the Docker daemon did not come up on $sock; see /var/log/dockerd.log" >&2
exit 2
