#!/usr/bin/env bash
# test_s3_faults.sh - the cairn command on an S3 store through
# cairn-netproxy's faults (scripts/s3-server.sh run; the proxy's seed fixed
# and printed, its faults switched with --control). Checks:
#  - under 500:0.2,503:0.1,reset:0.1,drop:0.1 a write-through writer
#    (s3:// alone, timeout=2000; the last 10 with retries=1) makes 30
#    single-key commits, each either succeeding or failing cleanly (non-zero
#    exit with a message, no hang, no crash); then, faults off, every put
#    that reported success is there with its value, every failed one absent
#    or whole, and verify is clean; every fault kind fired;
#  - under the same faults (retries=20), root, scan, count and verify of a
#    few thousand keys give what they give without faults;
#  - "down": a reader of a cached stack fails with a clear message within
#    60 s, and works again after "up";
#  - stall:1 with timeout=1000 fails within bounded time.
# Failed checks are collected and listed at the end.
# Usage: test_s3_faults.sh PATH/TO/cairn, with CAIRN_NETPROXY the proxy
# (default: beside cairn). CAIRN_TEST_SEED sets the proxy's seed.
source "$(dirname "$0")/lib.sh" "$@"

under_s3_fixture
t_start=$SECONDS
seed=${CAIRN_TEST_SEED:-4242}
echo "proxy seed $seed (CAIRN_TEST_SEED=$seed to repeat)"
bucket=$CAIRN_S3_BUCKET
faults=500:0.2,503:0.1,reset:0.1,drop:0.1
failures=()
check_fail() { echo "FAIL: $*" >&2; failures+=("$*"); }

"$proxy" --listen 127.0.0.1:0 --upstream "${AWS_ENDPOINT_URL#http://}" --seed "$seed" \
    --port-file "$tmp/port" --stats-file "$tmp/stats" --control "$tmp/control" \
    >/dev/null 2>"$tmp/proxy.err" &
proxy_pid=$!
trap 'kill "$proxy_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || fail "the proxy wrote no port file: $(cat "$tmp/proxy.err")"
ep="endpoint=http://127.0.0.1:$(cat "$tmp/port")"
stat_of() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" "$tmp/stats"; }
# control TEXT: switches the proxy's faults (read at its next request).
control() { echo "$1" >"$tmp/control.new" && mv "$tmp/control.new" "$tmp/control"; }

# cb SECONDS SPEC ARGS...: cairn bounded by timeout; out in $tmp/out,
# $tmp/err; sets rc and secs.
cb() {
    local limit=$1 spec=$2 t0=$SECONDS
    shift 2
    rc=0
    timeout "$limit" "$bin" -s "$spec" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    secs=$((SECONDS - t0))
}
# clean_failure WHAT: the last command (rc) failed cleanly, or succeeded.
clean_failure() {
    if [ $rc = 124 ]; then
        check_fail "$1: still running after the timeout (a hang?)"
    elif (( rc > 128 )); then
        check_fail "$1: killed by signal $((rc - 128)): $(tail -3 "$tmp/err")"
    elif [ $rc != 0 ] && ! grep -q '^cairn: .' "$tmp/err"; then
        check_fail "$1: exit $rc without a message: '$(cat "$tmp/err")'"
    fi
    return 0
}

# ---- 1. a write-through writer under faults
W="s3://$bucket/w?$ep&timeout=2000"
control up
cb 60 "$W" put seed-key seed-value
[ $rc = 0 ] || fail "a put without faults: exit $rc: $(cat "$tmp/err")"
control "$faults"
# The last 10 with retries=1, so that some give up: failures must be clean.
ok=() failed=()
for i in $(seq 1 30); do
    spec=$W
    (( i > 20 )) && spec="$W&retries=1"
    cb 120 "$spec" put "key$i" "value-$i-$seed"
    clean_failure "put key$i under faults"
    if [ $rc = 0 ]; then ok+=("$i"); else failed+=("$i"); fi
    [ $rc = 0 ] || echo "put key$i: exit $rc in $secs s: $(head -c 300 "$tmp/err")"
done
echo "under $faults: ${#ok[@]} puts succeeded, ${#failed[@]} failed; $(cat "$tmp/stats")"
control up
# A put that failed may have landed (its answer lost) or not, but whole.
for i in "${failed[@]}"; do
    cb 60 "s3://$bucket/w?$ep" get "key$i"
    [ $rc = 1 ] || { [ $rc = 0 ] && [ "$(cat "$tmp/out")" = "value-$i-$seed" ]; } ||
        check_fail "key$i (its put failed): exit $rc, value '$(cat "$tmp/out")'"
done
for i in "${ok[@]}"; do
    cb 60 "s3://$bucket/w?$ep" get "key$i"
    [ $rc = 0 ] && [ "$(cat "$tmp/out")" = "value-$i-$seed" ] ||
        check_fail "key$i (its put succeeded): exit $rc, value '$(cat "$tmp/out")'"
done
cb 60 "s3://$bucket/w?$ep" get seed-key
expect_eq "$(cat "$tmp/out")" seed-value "the value put before the faults"
cb 120 "s3://$bucket/w?$ep" verify
[ $rc = 0 ] && grep -q ': 0 problems$' "$tmp/out" ||
    check_fail "verify after the faulty writes: exit $rc: $(cat "$tmp/out" "$tmp/err")"
for kind in e500 e503 reset drop; do
    (( $(stat_of $kind) > 0 )) || check_fail "the fault $kind never fired: $(cat "$tmp/stats")"
done
echo "at $((SECONDS - t_start)) s"

# ---- 2. readers under the same faults
R="s3://$bucket/r?$ep"
awk 'BEGIN { for (i = 1; i <= 4000; i++) printf "r%05d\tvalue %d\n", i, i * 31 }' >"$tmp/r.tsv"
cb 120 "$R" import --batch 1000 "$tmp/r.tsv"
[ $rc = 0 ] || fail "import without faults: exit $rc: $(cat "$tmp/err")"
for x in root scan count; do
    cb 60 "$R" "$x"
    [ $rc = 0 ] || fail "$x without faults: exit $rc: $(cat "$tmp/err")"
    mv "$tmp/out" "$tmp/want.$x"
done
expect_eq "$(cat "$tmp/want.count")" 4000 "the count without faults"
# retries=20: at a 50% fault rate the default 6 give up on about one
# request in 128, and a read of this store makes some hundreds.
control "$faults"
before=$(stat_of requests)
Rr="$R&retries=20"
for spec in "$Rr" "mem:16M>$Rr"; do
    for x in root scan count verify; do
        cb 150 "$spec" "$x"
        if [ $rc != 0 ]; then
            check_fail "$spec $x under faults: exit $rc in $secs s: $(head -c 300 "$tmp/err")"
        elif [ $x = verify ]; then
            grep -q ': 0 problems$' "$tmp/out" || check_fail "verify under faults: $(cat "$tmp/out")"
        elif ! cmp -s "$tmp/out" "$tmp/want.$x"; then
            check_fail "$spec $x under faults differs from without"
        fi
        echo "$spec $x under faults: exit $rc in $secs s"
    done
done
echo "reads under faults: $(( $(stat_of requests) - before )) requests; $(cat "$tmp/stats")"
control up
echo "at $((SECONDS - t_start)) s"

# ---- 3. down, then up
C="mem:16M>file:$tmp/cache?capacity=64M>$R"
cb 60 "$C" count
[ $rc = 0 ] || fail "the cached reader without faults: exit $rc: $(cat "$tmp/err")"
control down
cb 60 "$C" scan
echo "down: exit $rc in $secs s: $(cat "$tmp/err")"
[ $rc != 0 ] || check_fail "a reader while the service is down succeeded"
[ $rc != 124 ] || check_fail "a reader while the service is down hung (60 s)"
grep -Eqi 'connect|reset|unreachable|network|could not|fail' "$tmp/err" && grep -q "$bucket\|127.0.0.1" "$tmp/err" ||
    check_fail "the message while down is not clear: '$(cat "$tmp/err")'"
(( $(stat_of down) > 0 )) || check_fail "no connection was refused while down"
control up
cb 60 "$C" scan
[ $rc = 0 ] || check_fail "the reader after up: exit $rc: $(cat "$tmp/err")"
cmp -s "$tmp/out" "$tmp/want.scan" || check_fail "the reader after up: other data"
echo "at $((SECONDS - t_start)) s"

# ---- 4. stall:1 with timeout=1000
control stall:1
cb 60 "s3://$bucket/r?$ep&timeout=1000" root
echo "stall: exit $rc in $secs s: $(cat "$tmp/err")"
[ $rc != 0 ] || check_fail "a reader under stall:1 succeeded"
[ $rc != 124 ] || check_fail "a reader under stall:1 with timeout=1000 ran 60 s"
(( secs <= 40 )) || check_fail "a reader under stall:1 with timeout=1000 took $secs s"
grep -Eqi 'time' "$tmp/err" || check_fail "the message under stall does not say it timed out: '$(cat "$tmp/err")'"
control up

echo "cairn-summary: s3_faults seconds=$((SECONDS - t_start))"
if [ ${#failures[@]} -gt 0 ]; then
    echo "FAILED ${#failures[@]} checks:" >&2
    printf '  - %s\n' "${failures[@]}" >&2
    exit 1
fi
