#!/usr/bin/env bash
# test_history.sh - versions: log (order, format, -n, messages, the refs
# of each commit), --at time travel by commit id, tag and branch, diff of
# two versions, tag, branch and refs, -b branches, and root (empty store,
# per keyspace, per version).
# Usage: test_history.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

# ---- no store yet: read commands refuse (and create nothing); init creates one
expect_status 2 "root where no store is" c root
expect_err "no store at" "root where no store is"
[[ ! -e $tmp/db ]] || fail "a read command created $tmp/db"
expect_status 0 "init" c init --node-size 1024
expect_eq "$(cat "$tmp/out")" "store '$db': node size 1024" "init output"
expect_status 0 "init again" c init
expect_eq "$(cat "$tmp/out")" "store '$db': node size 1024" "init keeps the node size"
expect_status 2 "init with another node size" c init --node-size 2048
expect_err "node size 1024, not 2048" "init with another node size"
expect_status 2 "bad --node-size" c init --node-size 100

# ---- an empty store
empty=$("$bin" -s mem root)
[[ $empty =~ ^[0-9a-f]{64}$ ]] || fail "root prints 64 hex digits: '$empty'"
expect_eq "$(c root)" "$empty" "root of a fresh lmdb store"
expect_eq "$(c root --space '')" "$empty" "keyspace root of a fresh store"
expect_eq "$(c log)" "" "log of an empty store"
expect_eq "$(c scan)" "" "scan of an empty store"
expect_eq "$(c count)" 0 "count of an empty store"
expect_status 2 "tag on an empty store" c tag nothing
expect_err "no commits" "tag on an empty store message"

# ---- four commits
c put a 1 -m first
c put b 2 --message second
c put a 3 -m "third
with a newline"
c del b -m fourth
c log >"$tmp/log"
expect_eq "$(wc -l <"$tmp/log" | tr -d ' ')" 4 "log has one line per commit"
re='^[0-9a-f]{64} [0-9]+ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z [0-9]+ [^	]*(	\(.*\))?$'
while IFS= read -r line; do
    [[ $line =~ $re ]] || fail "log line format: '$line'"
done <"$tmp/log"
# The refs of a commit follow its message after a tab; here only main's head
# has one.
expect_eq "$(cut -s -f2 "$tmp/log")" "(main)" "log shows the branch at its head"
expect_eq "$(grep -c $'\t' "$tmp/log")" 1 "log decorates only commits that refs point at"
expect_eq "$(cut -d' ' -f2 "$tmp/log" | tr '\n' ' ')" "4 3 2 1 " "log is newest first"
expect_eq "$(cut -d' ' -f4 "$tmp/log" | tr '\n' ' ')" "1 2 2 1 " "log key counts"
expect_eq "$(cut -f1 "$tmp/log" | cut -d' ' -f5- | tr '\n' '|')" \
    'fourth|third\nwith a newline|second|first|' "log messages, escaped"
expect_eq "$(c log -n 2 | wc -l | tr -d ' ')" 2 "log -n 2"
expect_eq "$(c log -n 0)" "" "log -n 0"
id4=$(sed -n 1p "$tmp/log" | cut -d' ' -f1)
id3=$(sed -n 2p "$tmp/log" | cut -d' ' -f1)
id2=$(sed -n 3p "$tmp/log" | cut -d' ' -f1)
id1=$(sed -n 4p "$tmp/log" | cut -d' ' -f1)
expect_eq "$(c log --at "$id2" | cut -d' ' -f1 | tr '\n' ' ')" "$id2 $id1 " "log --at"
c put z 0
c log -n 1 | cut -f1 | grep -q ' put z$' || fail "default commit message: $(c log -n 1)"
c del z

# ---- time travel
expect_eq "$(c get a --at "$id1")" 1 "--at first commit"
expect_status 1 "b not yet written at commit 1" c get b --at "$id1"
expect_eq "$(c get b --at "$id2")" 2 "--at second commit"
expect_eq "$(c get a --at "$id3")" 3 "--at third commit"
expect_status 1 "b deleted at commit 4" c get b --at "$id4"
expect_eq "$(c scan --at "$id2")" $'a\t1\nb\t2' "scan --at"
expect_eq "$(c count --at "$id3")" 2 "count --at"
expect_eq "$(c export --at "$id1")" $'a\t1' "export --at"
expect_eq "$(c get a --at "${id1^^}")" 1 "--at with uppercase hex"
expect_status 2 "unknown --at" c get a --at nosuch
expect_err "nosuch" "unknown ref is named"
expect_status 2 "unknown --at for scan" c scan --at nosuch
expect_status 2 "unknown --at for export" c export --at nosuch
expect_status 2 "unknown --at for log" c log --at nosuch
[[ "$(c root --at "$id1")" != "$(c root)" ]] || fail "roots of different versions differ"

# ---- tags and branches
c tag v1 --at "$id1"
c tag v4 --at "$id4"
expect_status 2 "a tag does not move" c tag v1 --at "$id2"
expect_err "already exists" "existing tag message"
expect_eq "$(c get a --at v1)" 1 "--at a tag"
expect_eq "$(c root --at v4)" "$(c root)" "the same keys give the same root (v4 and the head after put z, del z)"
c branch feature --at v1
c -b feature put c 5 -m "on feature"
expect_eq "$(c get c -b feature)" 5 "read a branch"
expect_eq "$(c get c --at feature)" 5 "--at a branch"
expect_status 1 "main does not see the branch's write" c get c
expect_eq "$(c log -b feature | cut -f1 | cut -d' ' -f5- | tr '\n' '|')" "on feature|first|" "log -b"
c branch copy -b feature
expect_eq "$(c get c --at copy)" 5 "branch NAME -b BRANCH starts at BRANCH's head"
expect_status 2 "moving a branch where it would lose commits" c branch copy --at v4
expect_err "would drop [0-9]+ commits? from the branch.*--force" "a rewind needs --force"
expect_eq "$(c get c --at copy)" 5 "a refused rewind leaves the branch"
c branch copy --at v4 --force
expect_status 1 "a forced branch move moves" c get c --at copy
expect_status 2 "unknown branch for reading" c get a -b nosuch
c refs >"$tmp/refs"
expect_eq "$(wc -l <"$tmp/refs" | tr -d ' ')" 5 "refs lists every ref"
grep -qx "branch main $(c log -n 1 | cut -d' ' -f1)" "$tmp/refs" || fail "refs: main"
grep -qx "tag v1 $id1" "$tmp/refs" || fail "refs: v1 $(cat "$tmp/refs")"
grep -qx "tag v4 $id4" "$tmp/refs" || fail "refs: v4"
grep -q "^branch feature [0-9a-f]\{64\}$" "$tmp/refs" || fail "refs: feature"
grep -qx "branch copy $id4" "$tmp/refs" || fail "refs: copy"

# ---- log shows every branch and tag at each commit: branches first, then
# tags, each group in name order.
c tag v4b --at "$id4"
c log --at "$id4" >"$tmp/log"
expect_eq "$(sed -n 1p "$tmp/log" | cut -s -f2)" "(copy, tag: v4, tag: v4b)" "log: refs at id4"
expect_eq "$(sed -n 4p "$tmp/log" | cut -s -f2)" "(tag: v1)" "log: refs at id1"
expect_eq "$(cut -s -f2 "$tmp/log" | wc -l | tr -d ' ')" 2 "log: undecorated commits have no tab"
expect_eq "$(c log -b feature -n 1 | cut -s -f2)" "(feature)" "log: a branch's own head"
main_head=$(c log -n 1 | cut -d' ' -f1)
c tag "head-tag"
expect_eq "$(c log -n 1 | cut -s -f2)" "(main, tag: head-tag)" "log: main and a tag at the head"
expect_eq "$(c log -n 1 | cut -d' ' -f1)" "$main_head" "tagging makes no commit"

# ---- a write that changes nothing commits nothing
n_before=$(c log | wc -l)
head_before=$(c log -n 1 | cut -d' ' -f1)
expect_status 0 "del of an absent key" c del no-such-key
expect_err "nothing to commit: del 'no-such-key' changes nothing" "del of an absent key says so"
c put -b scratch same-value 1
expect_status 0 "put of the value a key has" c put -b scratch same-value 1
expect_err "nothing to commit" "put of an equal value says so"
expect_eq "$(c log -b scratch | wc -l)" 1 "no commit for a put of an equal value"
expect_eq "$(c log | wc -l)" "$n_before" "no commit for a del of an absent key"
c branch -d scratch >/dev/null

# ---- versions by prefix and ancestry, moving forward, deleting refs
expect_eq "$(c root --at "${id4:0:7}")" "$(c root --at v4)" "a 7-digit commit prefix"
expect_eq "$(c root --at "${id4^^}")" "$(c root --at v4)" "an upper-case full id"
expect_status 2 "a 6-digit prefix is too short" c root --at "${id4:0:6}"
expect_status 2 "a prefix no commit has" c root --at 0000000
expect_eq "$(c log -n 1 --at main~1 | cut -d' ' -f1)" "$(c log -n 2 | tail -n 1 | cut -d' ' -f1)" "main~1"
expect_eq "$(c root --at v4~)" "$(c root --at v4~1)" "REF~ is REF~1"
expect_eq "$(c root --at "${id4:0:8}~2")" "$(c root --at v4~2)" "PREFIX~N"
expect_status 2 "an ancestor past the first commit" c root --at v1~5
expect_err "has only" "ancestor past the first commit says so"
expect_status 2 "a bad ~N" c root --at v1~x
c branch fwd --at v1
c branch fwd --at v4
expect_eq "$(c root --at fwd)" "$(c root --at v4)" "a branch moves forward without --force"
expect_status 2 "tag on an existing tag" c tag v1 --at v4
expect_err "tag 'v1' already exists" "tag exists message"
if grep -q "moved concurrently" "$tmp/err"; then fail "tag exists says 'moved concurrently'"; fi
expect_status 0 "tag -d" c tag -d v1
expect_eq "$(cat "$tmp/out")" "deleted tag v1 (was $id1)" "tag -d says what it named"
expect_status 2 "tag -d again" c tag -d v1
expect_err "no tag 'v1'" "tag -d of a missing tag"
c tag v1 --at "$id1"
expect_status 0 "branch -d" c branch -d fwd
expect_status 2 "reading a deleted branch" c root --at fwd
expect_status 2 "branch -d with --at" c branch -d copy --at v1

# ---- diff
expect_eq "$(c diff v1 v4)" $'~ a\t1\t3' "diff: changed"
expect_eq "$(c diff "$id2" "$id4")" $'~ a\t1\t3\n- b\t2' "diff: changed and removed"
expect_eq "$(c diff "$id4" "$id2")" $'~ a\t3\t1\n+ b\t2' "diff: changed and added"
expect_eq "$(c diff main main)" "" "diff of a version with itself"
expect_eq "$(c diff main feature)" $'~ a\t3\t1\n+ c\t5' "diff of two branches"
c put $'t\tk' $'line\nvalue' -b feature
expect_eq "$(c diff main feature | grep '^+ t')" $'+ t\\tk\tline\\nvalue' "diff output is tsv-escaped"
c put --space s1 x 1
c put --space s1 x 2
expect_eq "$(c diff "$(c log -n 2 | sed -n 2p | cut -d' ' -f1)" main --space s1)" $'~ x\t1\t2' \
    "diff --space"
expect_eq "$(c diff "$id4" main)" "" "diff of the default keyspace ignores other keyspaces"
expect_status 2 "diff with an unknown ref" c diff v1 nosuch
expect_err "nosuch" "diff names the unknown ref"
expect_status 2 "diff needs two refs" c diff v1

# ---- roots per keyspace
[[ "$(c root --space s1)" != "$(c root --space '')" ]] || fail "keyspace roots differ"
expect_eq "$(c root --space nosuch)" "$empty" "a missing keyspace has the empty root"
c del a
expect_eq "$(c root --space '')" "$empty" "a keyspace emptied again has the empty root"

echo "ok"
