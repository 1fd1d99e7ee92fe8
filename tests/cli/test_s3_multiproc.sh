#!/usr/bin/env bash
# test_s3_multiproc.sh - a write-back writer and S3 readers as separate
# cairn processes, against a real S3 service (scripts/s3-server.sh run) and
# through cairn-netproxy, which counts the requests. Checks:
#  - a writer lmdb:W>s3://B/db?write=back imports in batches, puts, dels
#    and syncs; readers s3:// alone, mem:>s3:// and mem:>file:>s3:// then
#    print the writer's root, scan (byte for byte) and count, and verify
#    reports 0 problems; their log is the synced heads alone (a sync
#    uploads no version superseded before it), then the boundary note;
#  - commits not yet synced are invisible to readers (they see the last
#    synced root), and visible after the sync;
#  - request counts: several commits go up in one sync as ONE pack and at
#    most 2 PUTs, a one-put sync makes at most 2 PUTs, a sync with nothing
#    new none;
#  - kill -9 during syncs of a large change (random delays within the
#    time such a sync takes, seed printed), then a rerun of sync: readers
#    see the writer's root, verify is clean;
#  - failover: a second writer on an empty directory takes the history
#    over and syncs; the first writer, holding a commit of its own, is
#    then refused (fork or fenced: exit non-zero, message says so) and S3
#    keeps the second writer's root;
#  - a wrong secret fails fast, naming the bucket and the refusal, and no
#    secret, right or wrong, appears in any output of the test.
# Failed checks are collected and listed at the end, so that one failure
# does not hide the others.
# Usage: test_s3_multiproc.sh PATH/TO/cairn, with CAIRN_NETPROXY the proxy
# (default: beside cairn). CAIRN_TEST_SEED fixes the kill delays.
source "$(dirname "$0")/lib.sh" "$@"

under_s3_fixture
t_start=$SECONDS
seed=${CAIRN_TEST_SEED:-$(( $(date +%s) % 100000 ))}
echo "seed $seed (CAIRN_TEST_SEED=$seed to repeat)"
RANDOM=$seed

bucket=$CAIRN_S3_BUCKET
failures=()
# check_fail MESSAGE: records a failed check and goes on.
check_fail() { echo "FAIL: $*" >&2; failures+=("$*"); }

# ---- the proxy, counting
"$proxy" --listen 127.0.0.1:0 --upstream "${AWS_ENDPOINT_URL#http://}" --seed "$seed" \
    --port-file "$tmp/port" --stats-file "$tmp/stats" >/dev/null 2>"$tmp/proxy.err" &
proxy_pid=$!
trap 'kill "$proxy_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || fail "the proxy wrote no port file: $(cat "$tmp/proxy.err")"
ep="endpoint=http://127.0.0.1:$(cat "$tmp/port")"
stat_of() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" "$tmp/stats"; }

s3="s3://$bucket/db?$ep"
W="lmdb:$tmp/w>s3://$bucket/db?write=back&$ep"
readers=("$s3" "mem:64M>$s3" "mem:16M>file:$tmp/cache?capacity=64M>$s3")

# cr SPEC ARGS...: runs cairn; stdout to stdout, stderr to $tmp/err (and
# both appended to $tmp/all, searched for secrets at the end); its status.
n_runs=0
cr() {
    local spec=$1 rc=0
    shift
    n_runs=$((n_runs + 1))
    "$bin" -s "$spec" "$@" >"$tmp/o" 2>"$tmp/err" || rc=$?
    cat "$tmp/o" "$tmp/err" >>"$tmp/all"
    cat "$tmp/o"
    return $rc
}
# crx SPEC ARGS...: cr, and a failure ends the test.
crx() { cr "$@" || fail "cairn -s '$1' ${*:2}: exit $?: $(cat "$tmp/err")"; }

# packs: the number of objects under db/packs/ (ListObjectsV2, directly).
packs() {
    curl -s --max-time 20 --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
        "$AWS_ENDPOINT_URL/$bucket?list-type=2&max-keys=1000&prefix=db%2Fpacks%2F" >"$tmp/list" ||
        fail "ListObjectsV2 failed"
    grep -q '<ListBucketResult' "$tmp/list" || fail "ListObjectsV2: $(cat "$tmp/list")"
    grep -o '<Key>db/packs/[^<]*</Key>' "$tmp/list" | wc -l
}

note='(history before this commit is not kept in this store)'
# writer_state [N]: the writer's root, scan, count and log, from lmdb:W
# alone, into $tmp/want.*; want.rlog: what a reader's log must be, the
# writer's first N commits (default 1: the synced head), then the note.
writer_state() {
    crx "lmdb:$tmp/w" root >"$tmp/want.root"
    crx "lmdb:$tmp/w" scan >"$tmp/want.scan"
    crx "lmdb:$tmp/w" count >"$tmp/want.count"
    crx "lmdb:$tmp/w" log >"$tmp/want.log"
    { head -n "${1:-1}" "$tmp/want.log"; echo "$note"; } >"$tmp/want.rlog"
}

# readers_match WHAT [MODE]: every reader prints the writer's state (from
# writer_state) and verifies clean. MODE quick: the s3 reader's root and
# scan only; one-verify: only the s3 reader verifies (verify reads blob by
# blob, slow on a large history).
readers_match() {
    local what=$1 mode=${2:-} spec i=0 x rc
    for spec in "${readers[@]}"; do
        i=$((i + 1))
        [ "$mode" = quick ] && [ $i -gt 1 ] && break
        for x in root scan count log verify; do
            [ "$mode" = quick ] && [[ $x != root && $x != scan ]] && continue
            [ "$mode" = one-verify ] && [ $x = verify ] && [ $i -gt 1 ] && continue
            rc=0
            cr "$spec" "$x" >"$tmp/got.$x" || rc=$?
            if [ $x = verify ]; then
                [ $rc = 0 ] && grep -q ': 0 problems$' "$tmp/got.verify" ||
                    check_fail "$what: reader $i ($spec) verify: exit $rc: $(cat "$tmp/got.verify" "$tmp/err")"
            elif [ $rc != 0 ]; then
                check_fail "$what: reader $i ($spec) $x: exit $rc: $(cat "$tmp/err")"
            elif [ $x = log ] && ! cmp -s "$tmp/got.log" "$tmp/want.rlog"; then
                check_fail "$what: reader $i ($spec) log is not the synced heads:
$(diff "$tmp/want.rlog" "$tmp/got.log" | head -5)"
            elif [ $x != log ] && ! cmp -s "$tmp/got.$x" "$tmp/want.$x"; then
                check_fail "$what: reader $i ($spec) $x differs from the writer's:
$(diff "$tmp/want.$x" "$tmp/got.$x" | head -5)"
            fi
        done
    done
}

# tsv FIRST LAST TAG: records kFIRST..kLAST with values naming TAG.
tsv() { awk -v a="$1" -v b="$2" -v t="$3" \
    'BEGIN { for (i = a; i <= b; i++) printf "k%06d\t%s-%d-%s\n", i, t, i * 7919 % 100003, "padding-padding-padding-padding" }'; }

# ---- 1. writer: imports in batches, puts, dels; sync; readers match
tsv 1 3000 one >"$tmp/a.tsv"
crx "$W" import --batch 700 "$tmp/a.tsv" >/dev/null
grep -q 'imported 3000 records in 5 commits' "$tmp/err" || fail "import: $(cat "$tmp/err")"
crx "$W" put 'single key' 'single value' >/dev/null
crx "$W" put k000010 'replaced' >/dev/null
crx "$W" del k000020 >/dev/null
crx "$W" del 'no such key' >/dev/null
crx "$W" sync >/dev/null
writer_state
expect_eq "$(cat "$tmp/want.count")" 3000 "the writer's count"
[ "$(wc -l <"$tmp/want.log")" -ge 8 ] || fail "the writer's log: $(cat "$tmp/want.log")"
readers_match "after the first sync"
cp "$tmp/want.root" "$tmp/synced.root"
cp "$tmp/want.scan" "$tmp/synced.scan"
cp "$tmp/want.rlog" "$tmp/synced.log"

echo "at $((SECONDS - t_start)) s"
# ---- 2. unsynced commits are invisible; several commits, one pack
tsv 2001 4000 two >"$tmp/b.tsv"
crx "$W" import --batch 500 "$tmp/b.tsv" >/dev/null
crx "$W" put extra 'extra value' >/dev/null
crx "$W" del k000001 >/dev/null
writer_state
[ "$(cat "$tmp/want.root")" != "$(cat "$tmp/synced.root")" ] || fail "the commits changed no root"
for i in "${!readers[@]}"; do
    expect_eq "$(crx "${readers[i]}" root)" "$(cat "$tmp/synced.root")" \
        "reader $((i + 1)) before the sync: the last synced root"
    crx "${readers[i]}" scan >"$tmp/got.scan"
    cmp -s "$tmp/got.scan" "$tmp/synced.scan" || check_fail "reader $((i + 1)) sees unsynced data"
    crx "${readers[i]}" log >"$tmp/got.log"
    cmp -s "$tmp/got.log" "$tmp/synced.log" || check_fail "reader $((i + 1)) sees unsynced commits"
done
packs_before=$(packs)
puts_before=$(stat_of puts)
crx "$W" sync >/dev/null
puts=$(( $(stat_of puts) - puts_before ))
new_packs=$(( $(packs) - packs_before ))
echo "sync of 6 commits: $puts PUTs, $new_packs new packs"
expect_eq "$new_packs" 1 "new packs from one sync of 6 commits"
(( puts <= 2 )) || check_fail "a sync of 6 commits made $puts PUTs, want at most 2 (one pack, the head)"
readers_match "after the second sync"

echo "at $((SECONDS - t_start)) s"
# ---- 3. a sync of one put; a sync of nothing
crx "$W" put k000005 'one more change' >/dev/null
puts_before=$(stat_of puts)
crx "$W" sync >/dev/null
puts=$(( $(stat_of puts) - puts_before ))
echo "sync of one put: $puts PUTs"
(( puts <= 2 )) || check_fail "a sync of one put made $puts PUTs, want at most 2"
puts_before=$(stat_of puts)
crx "$W" sync >/dev/null
expect_eq "$(( $(stat_of puts) - puts_before ))" 0 "PUTs of a sync with nothing new"
writer_state
readers_match "after a one-put sync" quick

echo "at $((SECONDS - t_start)) s"
# ---- 4. kill -9 during syncs of a large change, on a store of its own
# (prefix big/, writer directory k) so that the later checks stay quick.
# Through a second proxy that delays each message 25 ms, so that a sync
# takes a while and the kills land at its different steps.
"$proxy" --listen 127.0.0.1:0 --upstream "${AWS_ENDPOINT_URL#http://}" --delay-ms 25 \
    --port-file "$tmp/slow.port" >/dev/null 2>>"$tmp/proxy.err" &
slow_pid=$!
trap 'kill "$proxy_pid" "$slow_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -s "$tmp/slow.port" ] && break; sleep 0.05; done
[ -s "$tmp/slow.port" ] || fail "the delaying proxy wrote no port file"
K="lmdb:$tmp/k>s3://$bucket/big?write=back&endpoint=http://127.0.0.1:$(cat "$tmp/slow.port")"
big="s3://$bucket/big?$ep"
# Round 0 is not killed: it measures how long such a sync takes, so that
# the kills land inside one.
echo "kill -9 during syncs (seed $seed)"
sync_ms=0
for round in 0 1 2; do
    tsv 1 50000 "round$round" >"$tmp/big.tsv"
    crx "$K" import --batch 10000 "$tmp/big.tsv" >/dev/null
    if [ $round = 0 ]; then
        t0=$(date +%s%N)
        crx "$K" sync >/dev/null
        sync_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        echo "round 0: a sync of 50000 changed records took $sync_ms ms"
        continue
    fi
    delay_ms=$(( 10 + RANDOM % (sync_ms > 40 ? sync_ms * 3 / 4 : 30) ))
    "$bin" -s "$K" sync >"$tmp/killed.out" 2>"$tmp/killed.err" &
    sync_pid=$!
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    killed=no
    kill -9 "$sync_pid" 2>/dev/null && killed=yes
    wait "$sync_pid" 2>/dev/null || true
    cat "$tmp/killed.out" "$tmp/killed.err" >>"$tmp/all"
    echo "round $round: kill -9 after $delay_ms ms (killed: $killed)"
    cr "$K" sync >/dev/null || check_fail "round $round: sync after kill -9: $(cat "$tmp/err")"
    expect_eq "$(crx "$big" root)" "$(crx "lmdb:$tmp/k" root)" "round $round: S3's root after kill -9 at $delay_ms ms and a new sync"
done
crx "lmdb:$tmp/k" scan >"$tmp/k.scan"
grep -q "round2-" "$tmp/k.scan" || fail "the writer lacks its last import"
for spec in "$big" "mem:64M>$big" "mem:16M>file:$tmp/cache?capacity=64M>$big"; do
    for x in root scan count log; do
        crx "lmdb:$tmp/k" "$x" >"$tmp/want.$x"
        [ $x = log ] && { head -n 1 "$tmp/want.log"; echo "$note"; } >"$tmp/want.rlog" &&
            mv "$tmp/want.rlog" "$tmp/want.log"
        crx "$spec" "$x" >"$tmp/got.$x"
        cmp -s "$tmp/want.$x" "$tmp/got.$x" || check_fail "after the kill rounds: $spec $x differs"
    done
done
rc=0
cr "$big" verify >"$tmp/got.verify" || rc=$?
[ $rc = 0 ] && grep -q ': 0 problems$' "$tmp/got.verify" ||
    check_fail "verify after the kill rounds: exit $rc: $(cat "$tmp/got.verify" "$tmp/err")"
echo "at $((SECONDS - t_start)) s"
# ---- 5. failover: a second writer on an empty directory
crx "$W" put 'first writer' 'not synced' >/dev/null       # the first writer's own commit
W2="lmdb:$tmp/w2>s3://$bucket/db?write=back&$ep"
s3_root=$(crx "$s3" root)
crx "$s3" log >"$tmp/s3.log"
crx "$W2" put 'second writer' 'took over' >/dev/null
crx "$W2" sync >/dev/null
crx "lmdb:$tmp/w2" log >"$tmp/w2.log"
# Its log: its commit, then the history S3 held (the first writer's).
tail -n +2 "$tmp/w2.log" | cut -f1 >"$tmp/w2.hist"
cut -f1 "$tmp/s3.log" >"$tmp/s3.hist"
[ -s "$tmp/s3.hist" ] && cmp -s "$tmp/s3.hist" "$tmp/w2.hist" ||
    check_fail "the second writer's log lacks the first's history:
$(diff "$tmp/s3.hist" "$tmp/w2.hist" | head -5)"
head -1 "$tmp/w2.log" | grep -q ' put second writer' ||
    check_fail "the second writer's commit heads its log: $(head -1 "$tmp/w2.log")"
w2_root=$(crx "lmdb:$tmp/w2" root)
[ "$w2_root" != "$s3_root" ] || fail "the second writer's commit changed no root"
expect_eq "$(crx "$s3" root)" "$w2_root" "S3's root after the second writer's sync"
rc=0
cr "$W" sync >/dev/null || rc=$?
[ $rc != 0 ] || check_fail "the first writer's sync after a takeover succeeded; want a fork or fenced error"
grep -Eqi 'fork|fenced' "$tmp/err" ||
    check_fail "the first writer's refused sync does not name the problem: $(cat "$tmp/err")"
expect_eq "$(crx "$s3" root)" "$w2_root" "S3's root after the first writer's refused sync"
expect_eq "$(crx "$s3" get 'second writer')" 'took over' "the second writer's value"
rc=0
cr "$s3" get 'first writer' >/dev/null || rc=$?
expect_eq "$rc" 1 "the first writer's refused commit is absent from S3"
crx "$s3" verify >"$tmp/got.verify"
grep -q ': 0 problems$' "$tmp/got.verify" || check_fail "verify after failover: $(cat "$tmp/got.verify")"

echo "at $((SECONDS - t_start)) s"
# ---- 6. a wrong secret
wrong_secret=wrong${AWS_SECRET_ACCESS_KEY:5}x
real_secret=$AWS_SECRET_ACCESS_KEY
rc=0
t0=$SECONDS
AWS_SECRET_ACCESS_KEY=$wrong_secret timeout 60 "$bin" -s "$s3" root >"$tmp/o" 2>"$tmp/err" || rc=$?
cat "$tmp/o" "$tmp/err" >>"$tmp/all"
[ $rc != 0 ] && [ $rc != 124 ] || check_fail "a wrong secret: exit $rc (124: timed out)"
(( SECONDS - t0 <= 10 )) || check_fail "a wrong secret took $((SECONDS - t0)) s to fail"
grep -Eq 'SignatureDoesNotMatch|denied' "$tmp/err" && grep -q "$bucket" "$tmp/err" ||
    check_fail "a wrong secret: the message lacks the refusal or the bucket: $(cat "$tmp/err")"
for spec in "mem:64M>$s3" "mem:16M>file:$tmp/cache?capacity=64M>$s3"; do
    rc=0
    AWS_SECRET_ACCESS_KEY=$wrong_secret timeout 60 "$bin" -s "$spec" scan >"$tmp/o" 2>"$tmp/err" || rc=$?
    cat "$tmp/o" "$tmp/err" >>"$tmp/all"
    [ $rc != 0 ] && [ $rc != 124 ] || check_fail "a wrong secret, $spec: exit $rc"
done
cat "$tmp/proxy.err" >>"$tmp/all"
if grep -qF -- "$real_secret" "$tmp/all"; then check_fail "the secret appears in an output"; fi
if grep -qF -- "$wrong_secret" "$tmp/all"; then check_fail "the wrong secret appears in an output"; fi

echo "cairn-summary: s3_multiproc_runs=$n_runs seconds=$((SECONDS - t_start))"
if [ ${#failures[@]} -gt 0 ]; then
    echo "FAILED ${#failures[@]} checks:" >&2
    printf '  - %s\n' "${failures[@]}" >&2
    exit 1
fi
