#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, and runs every test
# twice: a normal build, then under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)

echo "== build (release, -Werror)"
bash scripts/build.sh build
echo "== tests"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== build (ASan + UBSan)"
bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON
echo "== tests under ASan + UBSan"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CAIRN_TEST_SCALE=${CAIRN_TEST_SCALE:-0.3}
(cd build-asan && ctest --output-on-failure -j"$jobs")
