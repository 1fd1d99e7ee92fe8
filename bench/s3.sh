#!/usr/bin/env bash
# s3.sh - cairn-bench's S3 configurations against a real S3 service at
# several network latencies (issue 10; docs/benchmarks.md, "S3 (issue 10)").
#
#   bench/s3.sh [cairn-bench flags...]      e.g. bench/s3.sh --keys 100k
#
# Starts the S3 fixture (scripts/s3-server.sh: Ceph's RADOS Gateway on
# 127.0.0.1), one cairn-netproxy in front of it per delay (DELAYS, default
# "0 10 30" ms per direction, so a request costs 2 x delay more), and runs
# cairn-bench once per delay with AWS_ENDPOINT_URL pointing at that proxy:
# the S3 configurations plus raw-lmdb as the reference (which does not go
# through the proxy: the same at every delay). Flags after the defaults
# below override them. Everything it started is stopped at the end, also
# on failure or ^C (trap).
#
# Environment: KEYS (default 20k), DELAYS, OUT (default bench-out/s3: one
# folder per delay, OUT/<delay>ms, with cairn-bench's table.txt,
# results.json, s3.json and stdout.txt), BUILD (default build; needs the
# targets cairn-bench and cairn-netproxy).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD:-build}
keys=${KEYS:-20k}
delays=${DELAYS:-"0 10 30"}
out=${OUT:-bench-out/s3}
configs='mem>lmdb>s3,mem>lmdb>s3-wb,s3+mem,s3+file,raw-lmdb'
workloads='load-random,commit-small,point-1t,scan-1t,cold-get,cold-scan'

for t in cairn-bench cairn-netproxy; do
    [ -x "$build/$t" ] || {
        echo "s3.sh: no $build/$t (cmake --build $build --target cairn-bench cairn-netproxy)" >&2
        exit 1
    }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-s3-bench.XXXXXX")
proxies=()
cleanup() {
    local pid
    for pid in "${proxies[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    bash scripts/s3-server.sh stop "$work/s3" || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash scripts/s3-server.sh start "$work/s3"
# shellcheck disable=SC1091
source "$work/s3/env"
unset AWS_ENDPOINT_URL_S3 # it would win over the proxy's endpoint
upstream=${AWS_ENDPOINT_URL#http://}

# one proxy per delay, each printing its port into a file
declare -A port
for d in $delays; do
    "$build/cairn-netproxy" --listen 127.0.0.1:0 --upstream "$upstream" --delay-ms "$d" \
        --port-file "$work/port.$d" >/dev/null &
    proxies+=($!)
done
for d in $delays; do
    for _ in $(seq 100); do
        [ -s "$work/port.$d" ] && break
        sleep 0.05
    done
    [ -s "$work/port.$d" ] || { echo "s3.sh: the proxy at $d ms did not start" >&2; exit 1; }
    port[$d]=$(cat "$work/port.$d")
done

for d in $delays; do
    mkdir -p "$out/${d}ms"
    echo "s3.sh: $d ms per direction: proxy 127.0.0.1:${port[$d]} -> $upstream" >&2
    AWS_ENDPOINT_URL="http://127.0.0.1:${port[$d]}" \
        "$build/cairn-bench" --configs "$configs" --workloads "$workloads" --keys "$keys" \
        --repeat 1 --max-seconds 1 --min-ops 50 --commit-window 20 --no-plots \
        --out "$out/${d}ms" "$@" | tee "$out/${d}ms/stdout.txt"
done
echo "s3.sh: results in $out/{$(echo "$delays" | sed 's/ /ms,/g')ms}" >&2
