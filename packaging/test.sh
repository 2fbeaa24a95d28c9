#!/bin/sh
# The README's second command: build with ASan+UBSan and run the whole test suite with ctest.
# With clang, the libFuzzer targets are built and run (bounded) too.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/packaging/deps.sh" test

cc=gcc
fuzz=OFF
if command -v clang >/dev/null 2>&1; then
	cc=clang
	fuzz=ON
fi
build="$root/build-test"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug \
	-DPINDNS_SANITIZE=ON -DPINDNS_FUZZ="$fuzz" -DPINDNS_TESTS=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
exec ctest --output-on-failure --timeout 600 -j 2
