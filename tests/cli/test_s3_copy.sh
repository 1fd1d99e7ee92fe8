#!/usr/bin/env bash
# test_s3_copy.sh - cairn copy and bundles with S3 stores, through the
# command, in the S3 fixture: lmdb -> s3 -> file, s3 -> s3, file -> s3 ->
# lmdb, with the same refs, logs and roots at each step, verify clean; a
# second copy moves only the new commits; a bundle of an S3 store imports into another and into lmdb;
# a diverged branch on S3 exits 4 and changes nothing.
# Usage: test_s3_copy.sh PATH/TO/cairn, with CAIRN_NETPROXY the proxy.
source "$(dirname "$0")/lib.sh" "$@"

under_s3_fixture

s3a="s3://$CAIRN_S3_BUCKET/cli-copy-a" s3b="s3://$CAIRN_S3_BUCKET/cli-copy-b"
s3c="s3://$CAIRN_S3_BUCKET/cli-copy-c" s3d="s3://$CAIRN_S3_BUCKET/cli-copy-d"

same() {
    "$bin" -s "$1" refs >"$tmp/refs.a"
    "$bin" -s "$2" refs >"$tmp/refs.b"
    diff "$tmp/refs.a" "$tmp/refs.b" >/dev/null || fail "refs differ ($1, $2)"
    "$bin" -s "$1" log --all >"$tmp/log.a"
    "$bin" -s "$2" log --all >"$tmp/log.b"
    diff "$tmp/log.a" "$tmp/log.b" >/dev/null || fail "log --all differs ($1, $2)"
    expect_eq "$("$bin" -s "$2" root)" "$("$bin" -s "$1" root)" "root of main"
    "$bin" -s "$2" verify >"$tmp/verify" 2>&1 || fail "verify $2: $(cat "$tmp/verify")"
}

for i in 1 2 3; do
    awk -v i=$i 'BEGIN { for (k = 0; k < 3000; k++) printf "key%05d\tvalue-%d-%d\n", (k * 7 + i) % 5000, i, k }' \
        >"$tmp/batch.tsv"
    "$bin" -s "$db" import "$tmp/batch.tsv" >/dev/null 2>&1
done
"$bin" -s "$db" tag v1 >/dev/null
"$bin" -s "$db" -b dev put d 1 >/dev/null

expect_status 0 "lmdb -> s3" "$bin" copy "$db" "$s3a"
same "$db" "$s3a"
expect_status 0 "s3 -> file" "$bin" copy "$s3a" "file:$tmp/f"
same "$s3a" "file:$tmp/f"
expect_status 0 "s3 -> s3" "$bin" copy "$s3a" "$s3b"
same "$s3a" "$s3b"
expect_status 0 "file -> s3" "$bin" copy "file:$tmp/f" "$s3d"
same "file:$tmp/f" "$s3d"
expect_status 0 "s3 -> lmdb" "$bin" copy "$s3d" "lmdb:$tmp/l2"
same "$s3d" "lmdb:$tmp/l2"

"$bin" -s "$db" put more 1 >/dev/null
expect_status 0 "a second copy to s3" "$bin" copy "$db" "$s3a"
grep -q "^copied 1 ref (2 already there), 1 commit," "$tmp/out" || fail "second copy: $(cat "$tmp/out")"
same "$db" "$s3a"

expect_status 0 "export from s3" "$bin" -s "$s3a" export --format pack "$tmp/s3.pack"
expect_status 0 "import into s3" "$bin" -s "$s3c" import --format pack "$tmp/s3.pack"
same "$s3a" "$s3c"
expect_status 0 "import into lmdb" "$bin" -s "lmdb:$tmp/l" import --format pack "$tmp/s3.pack"
same "$s3a" "lmdb:$tmp/l"

"$bin" -s "$s3b" put mine 1 >/dev/null
"$bin" -s "$s3b" refs >"$tmp/before"
expect_status 4 "a diverged branch on s3" "$bin" copy "$db" "$s3b"
expect_err "branch 'main'" "the conflict names the branch"
"$bin" -s "$s3b" refs | diff - "$tmp/before" >/dev/null || fail "a refused copy changed $s3b"
echo ok
