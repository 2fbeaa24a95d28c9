#!/bin/sh
# Builds the Debian package in its own build folder ($1, default build-deb) and prints its path.
# Everything but that path goes to stderr, so that deb=$(packaging/deb.sh) works.
# PINDNS_VERSION=0.1.1 in the environment builds that version instead of the project's
# (pindnsd --version and the package say it), e.g. to try an upgrade of the same tree.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-deb}
"$root/packaging/deps.sh" run >&2
mkdir -p "$build"
build=$(cd "$build" && pwd)
# What the package's files assume (packaging/cpack-check.cmake refuses anything else);
# the options are given every time, so that a folder used before is set right again (an
# empty PINDNS_VERSION is the project's).
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPINDNS_TESTS=OFF \
	-DPINDNS_SANITIZE=OFF -DPINDNS_TSAN=OFF -DPINDNS_FUZZ=OFF \
	-DCMAKE_INSTALL_PREFIX=/usr -DPINDNS_ZONES_DIR=/var/lib/pindns/zones \
	-DPINDNS_STATE_DIR=/var/lib/pindns/state \
	-DPINDNS_VERSION="${PINDNS_VERSION-}" >&2
cmake --build "$build" -j "$(nproc)" >&2
rm -f "$build"/pindns_*.deb
(cd "$build" && cpack -G DEB) >&2
deb=$(ls "$build"/pindns_*.deb)
echo "$deb"
