#!/bin/sh
# The README's first command: build pindns and run it in the foreground, serving zones/.
# Extra arguments go to pindnsd, e.g. "packaging/run.sh --listen 127.0.0.1:5300".
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/packaging/deps.sh" run
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPINDNS_TESTS=OFF >/dev/null
cmake --build "$root/build" -j "$(nproc)"
echo "pindns: starting pindnsd (Ctrl-C stops it)"
exec "$root/build/pindnsd" --foreground --zones "$root/zones" "$@"
