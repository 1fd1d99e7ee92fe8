#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, and runs every test
# twice: a normal build, then under AddressSanitizer + UndefinedBehaviorSanitizer.
# Then, built with clang: the C unit tests under clang's ASan + UBSan (which
# checks what gcc's does not, e.g. NULL + 0), the threaded tests under
# ThreadSanitizer, and each libFuzzer target of tests/fuzz briefly on its
# corpus. At the end one block sums every "cairn-summary: key=N ..." line
# the tests and fuzz runs printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)
start=$SECONDS
build_dirs=(build build-asan build-clang build-tsan)
fuzz_logs=build-fuzz/logs

# Sums each key of the cairn-summary lines over every test log of this run.
summary() {
  local logs=()
  for d in "${build_dirs[@]}"; do
    [ -f "$d/Testing/Temporary/LastTest.log" ] && logs+=("$d/Testing/Temporary/LastTest.log")
  done
  for f in "$fuzz_logs"/*.log; do [ -f "$f" ] && logs+=("$f"); done
  echo "== summary (${#logs[@]} logs, $((SECONDS - start)) s)"
  [ ${#logs[@]} -gt 0 ] || return 0
  grep -ho 'cairn-summary:.*' "${logs[@]}" | awk '
    { for (i = 2; i <= NF; i++) if (split($i, kv, "=") == 2 && kv[2] ~ /^[0-9]+$/) {
        if (!(kv[1] in sum)) order[n++] = kv[1]
        sum[kv[1]] += kv[2] } }
    END { for (i = 0; i < n; i++) printf "cairn-summary-total: %s=%d\n", order[i], sum[order[i]] }'
}
trap summary EXIT
phase() { echo "== $* (at $((SECONDS - start)) s)"; }

phase "build (release, -Werror)"
bash scripts/build.sh build
phase "tests"
(cd build && ctest --output-on-failure -j"$jobs")

phase "build (ASan + UBSan)"
bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON
phase "tests under ASan + UBSan"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CAIRN_TEST_SCALE=${CAIRN_TEST_SCALE:-0.3}
(cd build-asan && ctest --output-on-failure -j"$jobs")

# clang warns of two things gcc accepts in engine code (a vsnprintf format
# passed through, a struct with a flexible array member inside another):
# warnings, not errors, until that code changes.
clang_flags="-Wno-error=format-nonliteral -Wno-error=gnu-variable-sized-type-not-at-end"
clang_build() {
  local dir=$1 flags=$2; shift 2
  bash scripts/build.sh "$dir" -DCMAKE_C_COMPILER=clang -DCAIRN_BUILD_BENCH=OFF \
       "-DCMAKE_C_FLAGS=$clang_flags $flags" "$@" 2>&1 | { grep -v -e 'warning:' -e '^ ' \
       -e 'warnings\? generated' -e '^In file included' || true; }
}

phase "build (clang, ASan + UBSan + nullability, no recovery)"
clang_build build-clang "-fsanitize=nullability,local-bounds,float-divide-by-zero -fno-sanitize-recover=all" \
    -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON
phase "C unit tests under clang ASan + UBSan"
(cd build-clang && ctest --output-on-failure -j"$jobs" -E '^(cli_|install$)')

phase "build (clang, ThreadSanitizer)"
clang_build build-tsan "" -DCAIRN_TSAN=ON
phase "threaded tests under ThreadSanitizer"
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
(cd build-tsan && ctest --output-on-failure -j"$jobs" \
     -R '^test_(engine_concurrency|engine_prefetch|base|engine_import|index_cache|tier_file|tier_file_cache|tier_lmdb|tier_mem|tier_s3|engine_s3_flusher|engine_s3_gc|tier_redis|engine_redis)$')

phase "build (clang, libFuzzer targets)"
clang_build build-fuzz "" -DCMAKE_BUILD_TYPE=Debug -DCAIRN_FUZZ=ON -DCAIRN_BUILD_TESTS=OFF
phase "fuzz targets, briefly, from their corpus"
# Seconds per target (about 90 in all); new inputs go to build-fuzz/corpus,
# never into tests/fuzz/corpus; a crash, leak or hang is saved in
# build-fuzz/crashes/ and fails the suite.
rm -rf "$fuzz_logs" build-fuzz/corpus build-fuzz/crashes
mkdir -p "$fuzz_logs" build-fuzz/crashes
fuzz_failed=()
for spec in tree:25 import:15 node:10 commit:10 spec:10 settings:5 pack:5 s3head:5 resp:5 \
    resp_glob:5; do
  target=fuzz_${spec%%:*} secs=${spec##*:}
  mkdir -p "build-fuzz/corpus/$target"
  log=$fuzz_logs/$target.log
  rc=0
  build-fuzz/fuzz/$target -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="build-fuzz/crashes/$target-" \
      "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=0
  if [ "$rc" -ne 0 ]; then
    crashes=1
    fuzz_failed+=("$target")
    tail -n 40 "$log"
  fi
  echo "cairn-summary: fuzz_execs=${execs:-0} fuzz_crashes=$crashes" | tee -a "$log"
  echo "$target: ${execs:-0} runs in $secs s, exit $rc"
done
if [ ${#fuzz_failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${fuzz_failed[*]} (inputs in build-fuzz/crashes/)"
  exit 1
fi
phase "done"
