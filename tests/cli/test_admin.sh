#!/usr/bin/env bash
# test_admin.sh - stats (text and --json, which must parse as JSON, on an
# empty and a filled store), verify on a healthy store, and the progress
# line: absent when stderr is not a terminal, present on one (via script(1)
# if it is installed).
# Usage: test_admin.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

# json_get EXPR: evaluates EXPR on the JSON document in $tmp/out as "d".
json_get() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$tmp/out"; }

# ---- stats of an empty store
c init >/dev/null
expect_status 0 "stats --json on an empty store" c stats --json
python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmp/out" || fail "stats --json (empty) is not JSON: $(cat "$tmp/out")"
expect_eq "$(json_get 'd["version"] is None or d["version"]["keys"] == 0')" True "empty store stats"
expect_status 0 "stats on an empty store" c stats
grep -q '^tiers:' "$tmp/out" || fail "stats text lacks tiers"

# ---- stats of a store with data
for ((i = 0; i < 2000; i++)); do printf 'key%05d\t%0100d\n' "$i" "$i"; done >"$tmp/data.tsv"
c import "$tmp/data.tsv" 2>/dev/null
c put --space other k v
expect_status 0 "stats --json" c stats --json
python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmp/out" || fail "stats --json is not JSON: $(cat "$tmp/out")"
expect_eq "$(json_get 'len(d["tiers"]) >= 1')" True "stats lists the tiers"
expect_eq "$(json_get 'd["tiers"][0]["name"]')" lmdb "tier name"
expect_eq "$(json_get 'sorted(d["cache"])')" "['bytes', 'hits', 'misses', 'nodes']" "cache fields"
expect_eq "$(json_get 'd["version"]["keys"]')" 2001 "stats counts the keys of every keyspace"
expect_eq "$(json_get 'd["version"]["nodes"] >= d["version"]["leaf_nodes"] > 1')" True "node counts"
expect_eq "$(json_get 'sum(b["count"] for b in d["version"]["node_size_hist"]) == d["version"]["nodes"]')" \
    True "the histogram covers every node"
expect_eq "$(json_get 'len(d["version"]["node_size_hist"])')" 16 "histogram buckets"
expect_status 0 "stats text" c stats
grep -q 'node size histogram' "$tmp/out" || fail "stats text lacks the histogram"
grep -q 'keys 2001' "$tmp/out" || fail "stats text lacks the key count: $(cat "$tmp/out")"
c tag t1
expect_status 0 "stats --at a tag" c stats --json --at t1
python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmp/out" || fail "stats --json --at is not JSON"
expect_status 2 "stats --at an unknown ref" c stats --at nosuch
expect_status 0 "stats with a spec holding JSON specials" "$bin" -s 'mem' stats --json
python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmp/out" || fail "stats --json (mem)"

# ---- verify
expect_status 0 "verify of a healthy store" c verify
grep -Eq '^checked [0-9]+ refs, [0-9]+ commits, [0-9]+ nodes, [0-9]+ values, [0-9]+ bytes: 0 problems$' \
    "$tmp/out" || fail "verify summary: $(cat "$tmp/out")"
expect_status 2 "verify takes no --at" c verify --at t1

# A corrupted blob: change a value's bytes inside the LMDB file (LMDB keeps
# no checksums), then verify must name the problem and exit 3, and reading
# the key must fail with exit 3. Skipped if the bytes are not found exactly
# once (the node encoding could hide them).
cdb="$tmp/corrupt"
for ((i = 0; i < 500; i++)); do printf 'key%05d\tvalue-%05d-padding\n' "$i" "$i"; done >"$tmp/c.tsv"
"$bin" -s "lmdb:$cdb" import "$tmp/c.tsv" 2>/dev/null
if python3 - "$cdb/data.mdb" <<'EOF'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
needle = b"value-00250-padding"
if data.count(needle) != 1:
    sys.exit(1)
i = data.find(needle)
data[i + 6:i + 11] = b"XXXXX"
open(path, "wb").write(data)
EOF
then
    expect_status 3 "verify of a corrupted store" "$bin" -s "lmdb:$cdb" verify
    grep -q '^problem: .*does not match its id' "$tmp/out" || fail "verify problem line: $(cat "$tmp/out")"
    grep -Eq '^checked .*: [1-9][0-9]* problems?$' "$tmp/out" || fail "verify summary with problems"
    grep -q '^cairn: verify found' "$tmp/err" || fail "verify message: $(cat "$tmp/err")"
    expect_status 3 "get from a corrupted node" "$bin" -s "lmdb:$cdb" get key00250
    grep -q '^cairn: get .*corrupt' "$tmp/err" || fail "corrupt get message: $(cat "$tmp/err")"
    expect_eq "$("$bin" -s "lmdb:$cdb" get key00001)" "value-00001-padding" "other nodes still read"
fi

# ---- verify --repair: a blob missing from one ref tier comes back from the other
two="lmdb:$tmp/ra>file:$tmp/rb"
"$bin" -s "$two" import "$tmp/data.tsv" 2>/dev/null
victim=$(find "$tmp/rb/objects" -type f -print -quit)
rm "$victim"
expect_status 3 "verify of a tier missing a blob" "$bin" -s "$two" verify
grep -q "^problem: tier 'file:.*missing" "$tmp/out" || fail "verify names the tier: $(cat "$tmp/out")"
expect_status 0 "verify --repair" "$bin" -s "$two" verify --repair
grep -q "^repaired: tier 'file:.*repaired from tier 'lmdb:" "$tmp/out" || fail "repair says what it did: $(cat "$tmp/out")"
grep -q ", 1 blob repaired: 0 problems" "$tmp/out" || fail "repair summary: $(cat "$tmp/out")"
[[ -f $victim ]] || fail "the blob file is back"
expect_status 0 "verify after the repair" "$bin" -s "$two" verify
expect_status 2 "verify --repair where no store is" c -s "lmdb:$tmp/none" verify --repair
[[ ! -e $tmp/none ]] || fail "verify --repair created a store"

# ---- progress: never on a non-terminal
expect_status 0 "import with stderr to a file" c import "$tmp/data.tsv"
! grep -q $'\r' "$tmp/err" || fail "progress line written to a file"
# (the same records again: the store holds them, so no commit is written)
expect_eq "$(cat "$tmp/err")" "imported 2000 records in 0 commits (the store already held them)" "only the summary"
expect_status 0 "export with stderr to a file" c export
[[ ! -s "$tmp/err" ]] || fail "export wrote to a non-terminal stderr: $(cat "$tmp/err")"

# ---- progress on a terminal, if script(1) can give us one
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
    for ((i = 0; i < 200000; i++)); do printf 'p%07d\tv\n' "$i"; done >"$tmp/big.tsv"
    script -qec "$bin -s lmdb:$tmp/pty import $tmp/big.tsv" "$tmp/typescript" >/dev/null 2>&1 ||
        fail "import under script(1)"
    grep -q 'imported 200000 records in 20 commits' "$tmp/typescript" ||
        fail "summary on a terminal: $(tr '\r' '|' <"$tmp/typescript")"
    # The import may finish before the first redraw (0.1 s); if it did not,
    # the line must carry records and MB.
    if grep -q $'\r''importing' "$tmp/typescript"; then
        grep -q 'importing: [0-9]* records, [0-9.]* MB, [0-9]* records/s' "$tmp/typescript" ||
            fail "progress line format: $(tr '\r' '\n' <"$tmp/typescript" | head -3)"
    fi
fi

echo "ok"
