#!/usr/bin/env bash
# The main job on an embedded default: installs what is missing, builds, then
# imports a generated data set into a local LMDB store (./demo-data), timing
# the import, tags it and shows the log, shows the headline property (the
# same data imported in another order, in other batches, into a store of
# another kind gives the same root id), queries it, changes it, and shows the
# diff of the two versions, the log, the stats and a full verify. Each step
# prints the command it runs. DEMO_RECORDS sets the size (default 200000).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "Installing what is missing and building (the first run takes a few minutes)..."
bash scripts/deps.sh
bash scripts/build.sh build
echo "Built build/cairn."

records=${DEMO_RECORDS:-200000}
store=./demo-data
scratch=$(mktemp -d)            # the second store and the shuffled copy
trap 'rm -rf "$scratch"' EXIT
store2=$scratch/demo-data-file
export CAIRN_STACK="lmdb:$store"
rm -rf "$store" demo-users.tsv demo-changes.tsv demo-diff.txt

run() { printf '\n$ %s\n' "$*"; "$@"; }
# now: seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }
# rate RECORDS START END: "N records in S s: R records/s".
rate() { awk -v n="$1" -v s="$2" -v e="$3" \
    'BEGIN { t = e - s; if (t <= 0) t = 1e-9; printf "%d records in %.2f s: %.0f records/s\n", n, t, n / t }'; }

echo
echo "Generating $records user records (demo-users.tsv)..."
awk -v n="$records" 'BEGIN { srand(7); for (i = 0; i < n; i++)
    printf "user:%07d\t{\"name\":\"user %d\",\"score\":%d,\"team\":\"t%02d\"}\n", i, i, int(rand() * 1000), i % 40 }' \
    > demo-users.tsv

start=$(now)
run build/cairn import --batch 50000 demo-users.tsv
end=$(now)
echo "import: $(rate "$records" "$start" "$end")"
run build/cairn tag v1
run build/cairn log

echo
echo "The headline property: the root id depends only on the data. The same records,"
echo "shuffled, imported in batches of 40000 into a store of another kind (the file tier):"
shuf demo-users.tsv > "$scratch/demo-users-shuffled.tsv"
start=$(now)
run build/cairn -s "file:$store2" import --batch 40000 "$scratch/demo-users-shuffled.tsv"
end=$(now)
echo "import: $(rate "$records" "$start" "$end")"
root1=$(build/cairn root)
root2=$(build/cairn -s "file:$store2" root)
echo
printf '  %-46s %s\n' "lmdb:$store, in key order, batches of 50000:" "$root1" \
    "file tier, shuffled, batches of 40000:" "$root2"
if [[ $root1 == "$root2" ]]; then
    echo "  The root ids match: same data, same root, whatever the order, batching or tier."
else
    echo "  The root ids DIFFER: this is a bug, please report it."
    exit 1
fi

run build/cairn count
run build/cairn count --prefix user:00012
run build/cairn get user:0001234
run build/cairn mget user:0000001 user:0000002 user:9999999 || true
run build/cairn scan --prefix user:000100 --limit 5
run build/cairn scan --from user:0199990 --reverse --limit 3

echo
echo "Changing a few records: 100 updates, 50 deletes, 20 new users..."
awk 'BEGIN { for (i = 0; i < 100; i++) printf "user:%07d\t{\"name\":\"renamed %d\",\"score\":0}\n", i * 997, i }' \
    > demo-changes.tsv
run build/cairn import demo-changes.tsv
for i in $(seq 0 49); do build/cairn del "$(printf 'user:%07d' $((i * 3001 + 5)))" -m "remove user"; done
for i in $(seq 0 19); do build/cairn put "$(printf 'new:%03d' "$i")" "{\"name\":\"new $i\"}" -m "add user"; done

run build/cairn log -n 5
run build/cairn get user:0000997
printf '\n$ build/cairn diff v1 main | head -8   (and a summary of all lines)\n'
build/cairn diff v1 main > demo-diff.txt
head -8 demo-diff.txt
echo "... $(grep -c '^+' demo-diff.txt) added, $(grep -c '^-' demo-diff.txt) removed, $(grep -c '^~' demo-diff.txt) changed"
run build/cairn get --at v1 user:0000997
run build/cairn root
run build/cairn stats
run build/cairn verify
rm -f demo-users.tsv demo-changes.tsv demo-diff.txt
echo
echo "Done. The store is in $store; try: CAIRN_STACK=lmdb:$store build/cairn scan --prefix new: "
