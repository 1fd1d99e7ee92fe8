#!/usr/bin/env bash
# test_diskfull.sh - a full disk is reported as one ("No space left on
# device", not LMDB's "Input/output error"), exit 3, and nothing committed is
# lost: the store counts what the import summary says and verifies clean,
# and it still answers reads. Runs on a 3 MiB tmpfs, so it needs root (it
# says it skipped otherwise); each tier twice, the second time appending to
# the full store.
# Usage: test_diskfull.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

mkdir "$tmp/small"
if ! { [[ $(id -u) == 0 ]] && mount -t tmpfs -o size=3m tmpfs "$tmp/small" 2>/dev/null; }; then
    echo "skipped: mounting a small tmpfs needs root"
    exit 0
fi
trap 'umount "$tmp/small" 2>/dev/null || true; rm -rf "$tmp"' EXIT

for ((i = 0; i < 20000; i++)); do printf 'key%06d\t%0200d\n' "$i" "$i"; done >"$tmp/big.tsv"
for spec in "lmdb:$tmp/small/db" "file:$tmp/small/f"; do
    for round in 1 2; do
        expect_status 3 "import onto a full disk ($spec, round $round)" \
            "$bin" -s "$spec" import --batch 2000 "$tmp/big.tsv"
        expect_err "No space left on device" "a full disk is named as such ($spec)"
        if grep -q "Input/output error" "$tmp/err"; then fail "a full disk reported as an I/O error"; fi
        imported=$(sed -n 's/^imported \([0-9]*\) records.*/\1/p' "$tmp/err")
        [[ -n $imported ]] || fail "no import summary: $(cat "$tmp/err")"
        if [[ $round == 1 ]]; then
            first=$imported
            expect_eq "$(("$imported" % 2000))" 0 "whole batches committed"
        fi
        expect_eq "$("$bin" -s "$spec" count)" "$first" "count after a full disk ($spec)"
        expect_status 0 "verify after a full disk ($spec)" "$bin" -s "$spec" verify
        expect_eq "$("$bin" -s "$spec" get key000042)" "$(printf '%0200d' 42)" "reads after a full disk"
    done
    rm -rf "${spec#*:}"
done
echo ok
