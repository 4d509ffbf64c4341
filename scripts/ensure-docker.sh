#!/usr/bin/env bash
# Makes sure a Docker daemon answers on $1 (default /var/run/docker.sock): starts the
# system service when systemd runs, otherwise starts dockerd itself, detached in its own
# session so that Ctrl-C on `make run` (SIGINT to the terminal's foreground process group)
# stops dockward but leaves Docker running.
#
# Environment:
#   DOCKERD_FLAGS  extra dockerd flags, split on whitespace (e.g. --data-root DIR); when set,
#                  the system service is not tried: its flags live in its own configuration
#   DOCKERD_LOG    where a dockerd started here writes its output (default /var/log/dockerd.log)
set -euo pipefail
sock=${1:-/var/run/docker.sock}
log=${DOCKERD_LOG:-/var/log/dockerd.log}
read -r -a extra_flags <<<"${DOCKERD_FLAGS:-}"

answers() {
    [ -S "$sock" ] && python3 - "$sock" <<'PY' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 200") else 1)
PY
}

answers && exit 0
if [ ${#extra_flags[@]} -eq 0 ] && command -v systemctl >/dev/null 2>&1 \
    && systemctl is-system-running >/dev/null 2>&1; then
    systemctl start docker || true
fi
if ! answers; then
    echo "dockward: starting dockerd (log: $log)"
    # setsid -f: a new session and process group, so no signal meant for the terminal's
    # foreground job reaches dockerd; no controlling terminal, so no SIGHUP when it closes.
    setsid -f dockerd -H "unix://$sock" "${extra_flags[@]}" </dev/null >>"$log" 2>&1
fi
for _ in $(seq 1 100); do answers && exit 0; sleep 0.2; done
echo "dockward: the Docker daemon did not come up on $sock; see $log" >&2
exit 2
