#!/usr/bin/env bash
# The main job on an embedded default: installs what is missing, builds, then
# imports a generated data set into a local LMDB store (./demo-data), queries
# it, changes it, and shows the diff of the two versions, the log, the stats
# and a full verify. Each step prints the command it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build

records=${DEMO_RECORDS:-200000}
store=./demo-data
export CAIRN_STACK="lmdb:$store"
rm -rf "$store" demo-users.tsv demo-changes.tsv

run() { printf '\n$ %s\n' "$*"; "$@"; }

echo "Generating $records user records (demo-users.tsv)..."
awk -v n="$records" 'BEGIN { srand(7); for (i = 0; i < n; i++)
    printf "user:%07d\t{\"name\":\"user %d\",\"score\":%d,\"team\":\"t%02d\"}\n", i, i, int(rand() * 1000), i % 40 }' \
    > demo-users.tsv

run build/cairn import --batch 50000 demo-users.tsv
run build/cairn tag v1
run build/cairn count
run build/cairn count --prefix user:00012
run build/cairn get user:0001234
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
