#!/usr/bin/env bash
# Installs what dockward needs on a fresh Debian machine: Debian packages when missing,
# then the project and its pinned Python dependencies into .venv. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=${1:-}
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "$want_tests" = "--tests" ]; then
    [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx cat || missing+=(busybox-static)
    command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    # the audit store's PostgreSQL tests start a private server from these binaries
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "dockward: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
        exit 2
    fi
    echo "dockward: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
    touch "$stamp"
fi
