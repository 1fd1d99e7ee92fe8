#!/usr/bin/env bash
# Configures and builds cairn into DIR (default build/) with extra CMake
# arguments passed through: scripts/build.sh build-asan -DCAIRN_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCAIRN_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)" -- --no-print-directory >/dev/null
