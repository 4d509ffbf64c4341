#!/usr/bin/env bash
# Puts `dockward` on PATH: links .venv/bin/dockward into /usr/local/bin (root) or ~/.local/bin.
# Only creates a missing link or replaces one that points into a dockward .venv; anything else
# at that name is another program and is left alone. Never fails `make run` over it.
#
# Environment:
#   DOCKWARD_BIN_DIR  the directory to link into (default as above)
set -euo pipefail
cd "$(dirname "$0")/.."

source_bin=$PWD/.venv/bin/dockward
if [ "$(id -u)" = 0 ]; then default_dir=/usr/local/bin; else default_dir=$HOME/.local/bin; fi
bin_dir=${DOCKWARD_BIN_DIR:-$default_dir}
link=$bin_dir/dockward

if [ ! -x "$source_bin" ]; then
    echo "dockward: $source_bin is missing; run \`make install\` first" >&2
    exit 2
fi
if [ -L "$link" ]; then
    current=$(readlink "$link")
    if [ "$current" = "$source_bin" ]; then
        exit 0
    fi
    case "$current" in
        */.venv/bin/dockward) ;;  # an earlier checkout's .venv: ours to replace
        *)
            echo "dockward: left $link alone: it links to $current, not to a dockward .venv"
            exit 0
            ;;
    esac
elif [ -e "$link" ]; then
    echo "dockward: left $link alone: it is another program; run $source_bin instead"
    exit 0
fi
mkdir -p "$bin_dir"
ln -sfn "$source_bin" "$link"
echo "dockward: linked $link -> $source_bin"
case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) echo "dockward: $bin_dir is not on your PATH; add it to use the dockward command" ;;
esac
