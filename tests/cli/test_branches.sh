#!/usr/bin/env bash
# test_branches.sh - moving and deleting refs, and the history of all of
# them: reset (rollback refused without --force, naming both commits and
# the count; the refs unchanged after a refusal; forced; fast-forward; any
# --at syntax; missing branch; a tag's name), log --all (each commit once,
# the documented order, decorations, -n, the union of every ref's log,
# refusing --at/-b), branch -d main (needs --force) and tag/branch -d, and
# log --all around a lost commit (the others listed, exit 3 naming it).
# Runs on an lmdb store and a file store.
# Usage: test_branches.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

# id_of REF: the commit id REF names.
id_of() { c log -n 1 --at "$1" | cut -d' ' -f1; }
# The message column of log output on stdin (the 5th field on, refs cut).
messages() { cut -f1 | cut -d' ' -f5- | tr '\n' ' '; }

for db in "lmdb:$tmp/lmdb" "file:$tmp/file"; do
    echo "# $db"
    expect_status 0 "init" c init
    expect_status 0 "log --all of an empty store" c log --all
    expect_eq "$(cat "$tmp/out")" "" "log --all of an empty store prints nothing"

    # ---- main: one two three; feat forks at two: f1 f2; other: a root of its own
    c put a 1 -m one
    c put a 2 -m two
    c put a 3 -m three
    c tag v1 --at main~2
    c branch feat --at main~1
    c -b feat put f 1 -m f1
    c -b feat put f 2 -m f2
    c -b other put o 1 -m o
    one=$(id_of v1) two=$(id_of main~1) three=$(id_of main) f1=$(id_of feat~1) f2=$(id_of feat)

    # ---- log --all: every commit once, seq descending, equal seqs newest
    # first (f1 after three, o after one), each with its refs.
    expect_status 0 "log --all" c log --all
    cp "$tmp/out" "$tmp/all"
    expect_eq "$(messages <"$tmp/all")" "f2 f1 three two o one " "log --all order"
    expect_eq "$(cut -d' ' -f2 "$tmp/all" | tr '\n' ' ')" "4 3 3 2 1 1 " "log --all seqs"
    expect_eq "$(cut -s -f2 "$tmp/all" | tr '\n' ' ')" "(feat) (main) (other) (tag: v1) " \
        "log --all decorations"
    expect_eq "$(grep -c "^$two " "$tmp/all")" 1 "a commit two branches share shows once"
    for ref in main feat other v1; do c log --at "$ref"; done | cut -f1 | sort -u >"$tmp/union"
    expect_eq "$(cut -f1 "$tmp/all" | sort)" "$(cat "$tmp/union")" \
        "log --all is the union of every ref's log"
    expect_eq "$(c log --all -n 2)" "$(head -n 2 "$tmp/all")" "log --all -n 2"
    expect_eq "$(c log --all -n 0)" "" "log --all -n 0"
    expect_status 2 "log --all --at" c log --all --at v1
    expect_err "not both" "log --all --at"
    expect_status 2 "log --all -b" c log --all -b feat

    # ---- reset: a rollback is refused without --force, and nothing changes
    c refs >"$tmp/refs-before"
    expect_status 2 "reset main to an ancestor" c reset main v1
    expect_err "branch 'main' is at ${three:0:12}, which ${one:0:12} does not descend from" \
        "a refused reset names both commits"
    expect_err "would drop 2 commits from the branch" "a refused reset counts the commits"
    expect_err "nothing changed; use --force" "a refused reset says how to force it"
    c refs >"$tmp/refs-after"
    cmp -s "$tmp/refs-before" "$tmp/refs-after" || fail "a refused reset changed the refs"
    expect_status 2 "reset main across to another branch" c reset main feat
    expect_err "would drop 1 commit from" "reset across: one commit (three) would leave"
    expect_status 2 "reset main to another root" c reset main other
    expect_err "would drop 3 commits from" "reset to an unrelated history drops all of main"
    c refs >"$tmp/refs-after"
    cmp -s "$tmp/refs-before" "$tmp/refs-after" || fail "refused resets changed the refs"

    # ---- forced, then undone by a fast-forward (no --force needed)
    expect_status 0 "reset --force" c reset main v1 --force
    expect_eq "$(cat "$tmp/out")" "reset branch main: $three -> $one" "reset says old -> new"
    expect_err "forced: .*would drop 2 commits.*'cairn reset main $three' undoes it" \
        "a forced reset says what left and how to undo it"
    expect_eq "$(id_of main)" "$one" "main moved back"
    expect_eq "$(c get a)" 1 "main reads its old version"
    expect_eq "$(c log --all | messages)" "f2 f1 two o one " "three left log --all"
    expect_status 0 "reset forward" c reset main "$three"
    expect_eq "$(cat "$tmp/out")" "reset branch main: $one -> $three" "reset forward output"
    expect_eq "$(cat "$tmp/err")" "" "a fast-forward says nothing on stderr"
    c refs >"$tmp/refs-after"
    cmp -s "$tmp/refs-before" "$tmp/refs-after" || fail "reset back did not restore the refs"
    expect_status 0 "reset to where it is" c reset main main
    expect_eq "$(cat "$tmp/out")" "branch main is already at $three" "reset to the head"

    # ---- REF in any --at syntax
    c branch ff --at v1
    expect_status 0 "reset to a commit prefix" c reset ff "${three:0:9}"
    expect_eq "$(id_of ff)" "$three" "reset to a prefix"
    expect_status 2 "reset to REF~N, backward" c reset ff main~1
    expect_err "would drop 1 commit from the branch" "one commit, singular"
    expect_status 0 "reset to REF~N, forced" c reset -f ff main~1
    expect_eq "$(id_of ff)" "$two" "reset to REF~N"
    expect_status 0 "reset to a full upper-case id, forward" c reset ff "${f2^^}"
    expect_eq "$(id_of ff)" "$f2" "reset to a full id"

    # ---- bad resets: nothing created, nothing moved
    c refs >"$tmp/refs-before"
    expect_status 2 "reset of a missing branch" c reset nosuch v1
    expect_err "no branch 'nosuch' \('branch nosuch --at REF' creates one\)" "reset names it"
    expect_status 2 "reset of a tag" c reset v1 main
    expect_err "'v1' is a tag" "reset of a tag says so"
    expect_status 2 "reset to an unknown ref" c reset main nosuch
    expect_err "unknown branch, tag or commit 'nosuch'" "reset names the unknown ref"
    expect_status 2 "reset with one argument" c reset main
    expect_status 2 "reset with three arguments" c reset main v1 v1
    expect_status 2 "reset with --at" c reset main v1 --at v1
    c refs >"$tmp/refs-after"
    cmp -s "$tmp/refs-before" "$tmp/refs-after" || fail "a bad reset changed the refs"

    # ---- deleting refs: main only with --force
    expect_status 2 "branch -d main" c branch -d main
    expect_err "default branch.*--force" "branch -d main says how"
    c refs >"$tmp/refs-after"
    cmp -s "$tmp/refs-before" "$tmp/refs-after" || fail "a refused delete changed the refs"
    expect_status 0 "branch -d main --force" c branch -d main --force
    expect_eq "$(cat "$tmp/out")" "deleted branch main (was $three)" "branch -d main says what"
    expect_eq "$(c log)" "" "main has no commits after its delete"
    expect_eq "$(c log --all | messages)" "f2 f1 two o one " "log --all without main"
    expect_status 0 "branch main restored" c branch main --at "$three"
    expect_status 2 "tag -d --force" c tag -d v1 --force
    expect_status 2 "branch -d with --at" c branch -d feat --at v1
    expect_status 0 "branch -d other" c branch -d other
    expect_status 0 "tag -d v1" c tag -d v1
    expect_eq "$(c log --all | messages)" "f2 f1 three two one " "log --all after the deletes"
    expect_eq "$(c log --all | cut -s -f2 | tr '\n' ' ')" "(feat, ff) (main) " \
        "log --all decorations after the deletes"
done

# ---- a lost commit (file store: its object removed): log --all lists every
# other commit (one through a tag), then names it and its child, exit 3
db="file:$tmp/file"
c tag v0 --at "$one"
obj="$tmp/file/objects/${two:0:2}/${two:2}"
[[ -f $obj ]] || fail "no object file $obj"
rm "$obj"
expect_status 3 "log --all with a lost commit" c log --all
expect_eq "$(messages <"$tmp/out")" "f2 f1 three one " "log --all lists what it can reach"
# (named by f1, the first of its children the walk visits: f1 and three
# share seq 3, and f1 is newer)
expect_err "commit $two \(the parent of $f1\)" "log --all names the lost commit"
# The lost commit's place is after three (seq 2): -n 3 stops before it and
# says nothing; -n 4 reaches it, reports it, and shows one in its stead.
expect_status 0 "log --all -n 3 stops before the lost commit" c log --all -n 3
expect_eq "$(messages <"$tmp/out")" "f2 f1 three " "log --all -n 3"
expect_status 3 "log --all -n 4 reaches the lost commit" c log --all -n 4
expect_eq "$(messages <"$tmp/out")" "f2 f1 three one " "log --all -n 4 skips the lost commit"
expect_err "commit $two" "log --all -n 4 names the lost commit"

echo "ok"
