#!/usr/bin/env bash
# test_growing.sh - readers open and read an LMDB store while a writer grows
# its map again and again. Each growth makes every other process's next
# transaction fail with MDB_MAP_RESIZED until it adopts the new size; the
# open path once lacked that retry, and 39 of 60 readers of a store growing
# past 1 GiB failed. Here the map starts at 64 KiB (the hidden map_initial
# option), so it doubles a dozen times during one import, while waves of
# reader processes (get, count, scan) open the store: every one must
# succeed (exit 0, or 1 for a key not written yet), never fail (3).
# Usage: test_growing.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

spec="lmdb:$tmp/g?map_initial=64K"
for ((i = 0; i < 40000; i++)); do printf 'key%06d\t%0150d\n' "$i" "$i"; done >"$tmp/data.tsv"
"$bin" -s "$spec" init >/dev/null
"$bin" -s "$spec" import --batch 500 "$tmp/data.tsv" 2>"$tmp/import.err" &
writer=$!

readers=0
failed=0
while kill -0 "$writer" 2>/dev/null; do
    pids=()
    for ((r = 0; r < 12; r++)); do
        case $((r % 3)) in
        0) "$bin" -s "$spec" get "key$(printf %06d $((RANDOM % 40000)))" >/dev/null 2>>"$tmp/readers.err" & ;;
        1) "$bin" -s "$spec" count >/dev/null 2>>"$tmp/readers.err" & ;;
        2) "$bin" -s "$spec" scan --limit 50 >/dev/null 2>>"$tmp/readers.err" & ;;
        esac
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        st=0
        wait "$p" || st=$?
        readers=$((readers + 1))
        [[ $st == 0 || $st == 1 ]] || failed=$((failed + 1))
    done
done
wait "$writer" || fail "the writer failed: $(cat "$tmp/import.err")"
((failed == 0)) || fail "$failed of $readers readers failed while the map grew: $(sort "$tmp/readers.err" | uniq -c | head -5)"
((readers >= 24)) || fail "only $readers readers ran during the import"
size=$(stat -c %s "$tmp/g/data.mdb")
((size > 64 * 1024 * 64)) || fail "the map did not grow much: data.mdb is $size bytes"
expect_eq "$("$bin" -s "$spec" count)" 40000 "count after the import"
echo "$readers readers opened the store while its map grew to $size bytes: none failed"
echo ok
