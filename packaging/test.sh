#!/bin/sh
# The README's second command: build with ASan+UBSan and run the whole test suite with ctest.
# With clang, the libFuzzer targets and the ThreadSanitizer tests are built and run too.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/packaging/deps.sh" test

cc=gcc
fuzz=OFF
if command -v clang >/dev/null 2>&1; then
	cc=clang
	fuzz=ON
elif [ "${CI-}" = true ]; then
	# deps.sh test installs clang: missing here, the install is broken, and CI must not
	# pass without the tests only clang builds.
	echo "packaging/test.sh: clang is missing under CI=true (packaging/deps.sh test" \
		"installs it): the fuzz and ThreadSanitizer tests cannot run" >&2
	exit 1
else
	echo "packaging/test.sh: no clang, so the fuzz.* and tsan.* tests are left out" \
		"(packaging/deps.sh test, run as root, installs clang)" >&2
fi
build="$root/build-test"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug \
	-DPINDNS_SANITIZE=ON -DPINDNS_FUZZ="$fuzz" -DPINDNS_TESTS=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
exec ctest --output-on-failure --timeout 600 -j 2
