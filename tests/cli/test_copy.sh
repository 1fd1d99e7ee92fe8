#!/usr/bin/env bash
# test_copy.sh - cairn copy and export/import --format pack, as a user runs
# them, between lmdb and file stores:
#  - every pair of lmdb and file: the copy has the same refs, log --all,
#    roots, and verifies clean; a second copy after more commits moves only
#    those; a dry run changes nothing;
#  - a diverged branch: exit 4 naming it, nothing changed; --force moves it;
#  - other settings: exit 2; an empty store takes the source's;
#  - a copy killed (SIGKILL) at random moments leaves a store that verifies,
#    and running it again gives the same result;
#  - bundles: round trips through a file and through a pipe, byte-identical
#    twice; a damaged bundle (cut short, a byte changed) exits 3 naming the
#    file and changes nothing; usage errors exit 2.
# Usage: test_copy.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

seed=${CAIRN_TEST_SEED:-$RANDOM}
echo "seed $seed"
RANDOM=$seed

# same SRC DST: both stores show the same refs, history and roots; DST
# verifies clean.
same() {
    "$bin" -s "$1" refs >"$tmp/refs.a"
    "$bin" -s "$2" refs >"$tmp/refs.b"
    diff "$tmp/refs.a" "$tmp/refs.b" >/dev/null || fail "refs differ: $(diff "$tmp/refs.a" "$tmp/refs.b")"
    "$bin" -s "$1" log --all >"$tmp/log.a"
    "$bin" -s "$2" log --all >"$tmp/log.b"
    diff "$tmp/log.a" "$tmp/log.b" >/dev/null || fail "log --all differs ($1, $2)"
    while read -r kind name id; do
        expect_eq "$("$bin" -s "$2" root --at "$id")" "$("$bin" -s "$1" root --at "$id")" "root of $kind $name"
    done <"$tmp/refs.a"
    "$bin" -s "$2" verify >"$tmp/verify" 2>&1 || fail "verify $2: $(cat "$tmp/verify")"
}

# history SPEC N: N commits of random puts (tsv import), a dev branch, a tag.
history() {
    local spec=$1 n=$2 i
    for ((i = 0; i < n; i++)); do
        for ((k = 0; k < 200; k++)); do
            printf 'key%05d\tvalue %d %d\\x00\\t\n' $((RANDOM % 3000)) $i $RANDOM
        done >"$tmp/batch.tsv"
        "$bin" -s "$spec" import "$tmp/batch.tsv" -m "batch $i" >/dev/null 2>&1
    done
    "$bin" -s "$spec" branch dev >/dev/null 2>&1 || true
    "$bin" -s "$spec" -b dev put "dev-$RANDOM" "x" >/dev/null
    tags=$((tags + 1))
    "$bin" -s "$spec" tag "v$tags" >/dev/null
}
tags=0

# ---- every pair of lmdb and file
for from in lmdb file; do
    for to in lmdb file; do
        src="$from:$tmp/src-$from-$to" dst="$to:$tmp/dst-$from-$to"
        history "$src" 4
        expect_status 0 "copy $from -> $to" "$bin" copy "$src" "$dst"
        grep -q "^copied 3 refs" "$tmp/out" || fail "copy summary: $(cat "$tmp/out")"
        grep -q "^branch main: (new) -> " "$tmp/out" || fail "copy lines: $(cat "$tmp/out")"
        same "$src" "$dst"
        history "$src" 1
        "$bin" -s "$dst" refs >"$tmp/before"
        expect_status 0 "dry run" "$bin" copy "$src" "$dst" --dry-run
        grep -q "^dry run: nothing was written" "$tmp/out" || fail "dry run: $(cat "$tmp/out")"
        "$bin" -s "$dst" refs | diff - "$tmp/before" >/dev/null || fail "a dry run changed $dst"
        expect_status 0 "second copy $from -> $to" "$bin" copy "$src" "$dst"
        grep -Eq "^copied [0-9]+ refs? \(1 already there\), 2 commits" "$tmp/out" ||
            fail "second copy: $(cat "$tmp/out")"
        same "$src" "$dst"
        expect_status 0 "third copy" "$bin" copy "$src" "$dst"
        grep -Eq "^copied 0 refs \([0-9]+ already there\), 0 commits, 0 blobs" "$tmp/out" ||
            fail "third copy: $(cat "$tmp/out")"
    done
done
echo "copies between lmdb and file stores: equal refs, logs and roots"

# ---- conflicts
src="lmdb:$tmp/src-lmdb-lmdb" dst="lmdb:$tmp/dst-lmdb-lmdb"
"$bin" -s "$dst" put mine 1 >/dev/null
"$bin" -s "$src" put theirs 2 >/dev/null
"$bin" -s "$dst" refs >"$tmp/before"
expect_status 4 "a diverged branch" "$bin" copy "$src" "$dst"
expect_err "branch 'main' is at" "the conflict names the branch"
expect_err "nothing was changed" "the conflict says nothing changed"
"$bin" -s "$dst" refs | diff - "$tmp/before" >/dev/null || fail "a refused copy changed $dst"
expect_status 0 "a forced copy" "$bin" copy "$src" "$dst" main --force
grep -q "^branch main: .* (forced)$" "$tmp/out" || fail "forced: $(cat "$tmp/out")"
expect_eq "$("$bin" -s "$dst" get theirs)" 2 "the forced branch"
expect_status 1 "the forced branch lost the destination's commit" "$bin" -s "$dst" get mine
expect_status 2 "an unknown ref" "$bin" copy "$src" "$dst" nosuchref
expect_err "no branch or tag 'nosuchref'" "an unknown ref is named"
expect_status 2 "copy with -s" "$bin" -s "$src" copy "$src" "$dst"
expect_status 2 "copy of one store" "$bin" copy "$src"

# ---- settings
"$bin" -s "lmdb:$tmp/small" init --node-size 1024 >/dev/null
history "lmdb:$tmp/small" 2
"$bin" -s "$dst" refs >"$tmp/before"
expect_status 2 "other settings" "$bin" copy "lmdb:$tmp/small" "$dst"
expect_err "other settings" "the refusal says why"
"$bin" -s "$dst" refs | diff - "$tmp/before" >/dev/null || fail "a refused copy changed $dst"
expect_status 0 "an empty store takes the settings" "$bin" copy "lmdb:$tmp/small" "file:$tmp/fresh"
grep -q "took the source's settings" "$tmp/out" || fail "adopted: $(cat "$tmp/out")"
[[ "$("$bin" -s "file:$tmp/fresh" init)" == *"node size 1024" ]] || fail "the copy's node size"
same "lmdb:$tmp/small" "file:$tmp/fresh"
echo "conflicts exit 4 and change nothing; settings are checked or taken"

# ---- killed copies
big="lmdb:$tmp/big"
# (about 25 MB: a copy takes a few hundred milliseconds, the kills land inside)
awk -v seed="$seed" 'BEGIN { srand(seed); pad = sprintf("%150s", "");
    for (i = 0; i < 150000; i++) printf "k%07d\t%s%d\n", i, pad, int(rand() * 1e9) }' >"$tmp/big.tsv"
"$bin" -s "$big" import --batch 50000 "$tmp/big.tsv" >/dev/null 2>&1
history "$big" 2
killed=0
for round in 1 2 3 4; do
    target="file:$tmp/killed-$round"
    "$bin" copy "$big" "$target" >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf '0.%03d' $((RANDOM % 150 + 5)))"
    kill -9 $pid 2>/dev/null && killed=$((killed + 1))
    wait $pid 2>/dev/null || true
    if [ -d "$tmp/killed-$round" ]; then
        "$bin" -s "$target" verify >"$tmp/verify" 2>&1 ||
            [[ $(cat "$tmp/verify") == *"no store at"* ]] ||
            fail "a killed copy left $target damaged: $(cat "$tmp/verify")"
    fi
    expect_status 0 "a copy run again after a kill" "$bin" copy "$big" "$target"
    same "$big" "$target"
done
((killed > 0)) || fail "no copy was killed before it finished: is the store too small?"
echo "killed copies: $killed killed, each valid, each finished by a rerun"

# ---- bundles
src="file:$tmp/src-file-file"
expect_status 0 "export --format pack" "$bin" -s "$src" export --format pack "$tmp/b.pack"
grep -Eq "^exported [0-9]+ refs" "$tmp/out" || fail "export summary: $(cat "$tmp/out")"
"$bin" -s "$src" export --format pack "$tmp/b2.pack" >/dev/null
cmp -s "$tmp/b.pack" "$tmp/b2.pack" || fail "two exports of one store differ"
ls "$tmp"/b.pack.tmp.* >/dev/null 2>&1 && fail "export left a temporary file"
for to in lmdb file; do
    expect_status 0 "import --format pack into $to" \
        "$bin" -s "$to:$tmp/from-bundle-$to" import --format pack "$tmp/b.pack"
    same "$src" "$to:$tmp/from-bundle-$to"
done
expect_status 0 "a dry run of an import" "$bin" -s "lmdb:$tmp/not-yet" import --format pack --dry-run "$tmp/b.pack"
grep -Eq "^would import [0-9]+ refs \(0 already there\)" "$tmp/out" || fail "dry run of an import: $(cat "$tmp/out")"
[ -e "$tmp/not-yet" ] && fail "a dry run of an import created the store"
"$bin" -s "$src" export --format pack - 2>/dev/null | cat >"$tmp/piped.pack"
cmp -s "$tmp/b.pack" "$tmp/piped.pack" || fail "a bundle through a pipe differs"
expect_status 0 "import of part" "$bin" -s "lmdb:$tmp/only-dev" import --format pack "$tmp/b.pack" dev
expect_eq "$("$bin" -s "lmdb:$tmp/only-dev" refs | cut -d' ' -f1-2)" "branch dev" "a part of a bundle"

# damaged bundles: exit 3, named, nothing changed
dst="lmdb:$tmp/from-bundle-lmdb"
"$bin" -s "$dst" put own 1 >/dev/null
"$bin" -s "$dst" refs >"$tmp/before"
size=$(stat -c %s "$tmp/b.pack")
for cut in 0 17 $((size / 3)) $((size - 41)) $((size - 1)); do
    head -c "$cut" "$tmp/b.pack" >"$tmp/cut.pack"
    expect_status 3 "a bundle cut at $cut" "$bin" -s "$dst" import --format pack "$tmp/cut.pack"
    expect_err "cut.pack" "the refusal names the file"
done
for at in 5 $((size / 2)) $((size - 100)) $((size - 8)); do
    cp "$tmp/b.pack" "$tmp/flip.pack"
    printf '\xff' | dd of="$tmp/flip.pack" bs=1 seek="$at" conv=notrunc 2>/dev/null
    cmp -s "$tmp/flip.pack" "$tmp/b.pack" && continue # (it was 0xff already)
    expect_status 3 "a bundle with byte $at changed" "$bin" -s "$dst" import --format pack "$tmp/flip.pack"
    expect_err "flip.pack" "the refusal names the file"
done
"$bin" -s "$dst" refs | diff - "$tmp/before" >/dev/null || fail "a damaged bundle changed $dst"
"$bin" -s "$dst" verify >/dev/null 2>&1 || fail "$dst no longer verifies"

# usage
expect_status 2 "import of stdin" "$bin" -s "$dst" import --format pack -
expect_status 2 "export without FILE" "$bin" -s "$src" export --format pack
expect_status 2 "export of an unknown ref" "$bin" -s "$src" export --format pack "$tmp/x" nosuchref
[ -e "$tmp/x" ] && fail "a failed export left its file"
expect_status 2 "export --format pack --at" "$bin" -s "$src" export --format pack "$tmp/x" --at main
expect_status 2 "import --force without pack" "$bin" -s "$dst" import --force "$tmp/batch.tsv"
expect_status 2 "a missing bundle" "$bin" -s "$dst" import --format pack "$tmp/none.pack"
echo "bundles: round trips, pipes, damaged ones refused, usage errors"
echo ok
