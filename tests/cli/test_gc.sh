#!/usr/bin/env bash
# test_gc.sh - cairn gc as a user runs it, on lmdb and file stores: a dry
# run frees nothing and says what a run then frees, exactly; keeping the
# last N commits frees the rest, the kept versions read as before, log
# stops at the boundary with a note, verify passes, a rerun frees nothing;
# a branch at a dropped commit is refused; keep-newer and grace; bad
# options are usage errors naming the option; gc through a cache in front.
# Usage: test_gc.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

# freed_of: the "freed N blobs" / "would free N blobs" number in $tmp/out.
freed_of() { sed -nE 's/.*(would free|freed) ([0-9]+) blobs.*/\2/p' "$tmp/out" | head -1; }

for kind in lmdb file; do
    db="$kind:$tmp/store-$kind"
    for ((i = 0; i < 40; i++)); do c put "key$((i % 9))" "value $i" >/dev/null; done
    c log | awk '{print $1}' >"$tmp/commits"
    expect_eq "$(wc -l <"$tmp/commits")" 40 "$kind: 40 commits"
    keep=$(head -n 6 "$tmp/commits")
    for id in $keep; do c export --at "$id" >"$tmp/before-$id"; done

    # the dry run says, the run does the same, exactly
    expect_status 0 "$kind: dry run" c gc --dry-run --keep-last 6 --grace 0
    grep -q "would free" "$tmp/out" || fail "$kind: the dry run says what it would free"
    would=$(freed_of)
    [[ $would -gt 0 ]] || fail "$kind: the dry run found nothing to free"
    expect_status 0 "$kind: a second dry run" c gc --dry-run --keep-last 6 --grace 0
    expect_eq "$(freed_of)" "$would" "$kind: a dry run deletes nothing"
    expect_status 0 "$kind: gc" c gc --keep-last 6 --grace 0
    expect_eq "$(freed_of)" "$would" "$kind: gc frees what the dry run said"
    grep -q "^kept 6 commits (1 whose history before was dropped)" "$tmp/out" ||
        fail "$kind: gc's summary: $(cat "$tmp/out")"

    # what was kept reads as before; history ends at the boundary
    for id in $keep; do
        c export --at "$id" >"$tmp/after"
        cmp -s "$tmp/before-$id" "$tmp/after" || fail "$kind: commit $id reads otherwise after gc"
    done
    expect_status 0 "$kind: log" c log
    expect_eq "$(grep -c '^[0-9a-f]\{64\} ' "$tmp/out")" 6 "$kind: log shows the kept commits"
    expect_eq "$(tail -n 1 "$tmp/out")" "(history before this commit is not kept in this store)" \
        "$kind: log ends with the boundary's note"
    expect_status 0 "$kind: log --all" c log --all
    expect_eq "$(tail -n 1 "$tmp/out")" "(history before this commit is not kept in this store)" \
        "$kind: log --all notes the boundary too"
    expect_status 0 "$kind: verify after gc" c verify
    expect_status 0 "$kind: a second gc" c gc --keep-last 6 --grace 0
    expect_eq "$(freed_of)" 0 "$kind: a second gc frees nothing"
    dropped=$(sed -n 20p "$tmp/commits")
    expect_status 2 "$kind: a branch at a dropped commit" c branch old --at "$dropped"

    # grace keeps what was superseded lately; keep-newer keeps by time
    expect_status 0 "$kind: grace" c gc --keep-last 1
    expect_eq "$(freed_of)" 0 "$kind: commits superseded within the grace period are kept"
    expect_status 0 "$kind: keep-newer" c gc --keep-newer 1h --grace 0
    expect_eq "$(freed_of)" 0 "$kind: commits newer than an hour are kept"
done

db="lmdb:$tmp/store-lmdb"
# bad options: usage errors naming the option, nothing done
expect_status 2 "keep-last 0" c gc --keep-last 0
expect_err "--keep-last" "keep-last 0 named"
expect_status 2 "keep-newer 5y" c gc --keep-newer 5y
expect_err "--keep-newer" "keep-newer 5y named"
expect_status 2 "grace -1" c gc --grace -1
expect_status 2 "gc takes no argument" c gc extra
# through a cache in front of the store
db="mem:64M>lmdb:$tmp/store-lmdb"
expect_status 0 "gc through a cache" c gc --keep-last 6 --grace 0
echo "ok"
