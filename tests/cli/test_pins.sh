#!/usr/bin/env bash
# test_pins.sh - pins and the retention policy from the command line, in
# several processes, on lmdb and file stores:
#  - a reader process scans an old version with --pin while gc (another
#    process) runs with --keep-last 1 --grace 0: the reader's output is
#    exactly that version, though it was blocked (its output not read)
#    longer than its lease, so only renewal kept the pin; the pin is gone
#    when the reader ends, and the next gc frees the version;
#  - the same without --pin fails: the scenario can tell (control);
#  - 'cairn pins' lists a pin (name, commit, expiry, holder, state);
#  - a reader that may write nowhere gets an error naming the grace period;
#  - 'cairn retention' sets, shows and clears the policy, and gc uses it.
# Usage: test_pins.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

keys=20000
reader_pid=
# A failing check must not leave a reader waiting on its pipe.
trap '[ -n "$reader_pid" ] && touch "$tmp/go" 2>/dev/null; wait; rm -rf "$tmp"' EXIT
# A version of $keys keys, all values of generation $2.
gen() { awk -v g="$2" -v n="$keys" 'BEGIN { for (i = 0; i < n; i++) printf "key%06d\tgen %d value %d\n", i, g, i }' >"$tmp/gen$2.tsv"
    "$bin" -s "$1" import --batch "$keys" "$tmp/gen$2.tsv" >/dev/null 2>&1; }

# reader STORE OLD OUT [PIN...]: scans OLD into OUT in the background; the
# scan blocks on its pipe until $tmp/go exists. Sets $reader_pid.
reader() {
    local store=$1 old=$2 out=$3
    shift 3
    rm -f "$tmp/go"
    ( rc=0; "$bin" -s "$store" scan --at "$old" "$@" 2>"$out.err" || rc=$?; echo $rc >"$out.rc" ) |
        { for _ in $(seq 1200); do [ -e "$tmp/go" ] && break; sleep 0.05; done; cat >"$out"; } &
    reader_pid=$!
}

# wait_pin STORE COMMIT: waits until a pin on COMMIT is listed.
wait_pin() {
    for _ in $(seq 200); do
        "$bin" -s "$1" pins 2>/dev/null | grep -q "	$2	" && return 0
        sleep 0.05
    done
    fail "no pin on $2 appeared"
}

for kind in lmdb file; do
    store="$kind:$tmp/$kind"
    gen "$store" 1
    old=$("$bin" -s "$store" log -n 1 | cut -d' ' -f1)
    "$bin" -s "$store" export --at "$old" >"$tmp/want"
    gen "$store" 2
    gen "$store" 3

    # The control: without a pin, gc frees the version under the reader.
    cp -r "$tmp/$kind" "$tmp/$kind-control"
    reader "$kind:$tmp/$kind-control" "$old" "$tmp/control"
    sleep 0.3 # the scan is running and blocked on its pipe
    c_out=$("$bin" -s "$kind:$tmp/$kind-control" gc --keep-last 1 --grace 0) || fail "control gc"
    touch "$tmp/go"
    wait "$reader_pid" || true
    [[ $(<"$tmp/control.rc") != 0 ]] || fail "$kind: the unpinned reader read a version gc freed: the test cannot tell"
    grep -q "missing\|no tier" "$tmp/control.err" || fail "$kind: control: $(<"$tmp/control.err")"

    # With --pin (a 3 s lease, held 4 s: renewal keeps it).
    reader "$store" "$old" "$tmp/pinned" --pin=3s
    wait_pin "$store" "$old"
    line=$("$bin" -s "$store" pins | grep "	$old	")
    [[ $line =~ ^[A-Za-z0-9_.-]+-[0-9]+-[0-9a-f]{16}$'\t'$old$'\t'[0-9-]+T[0-9:]+Z$'\t'[^$'\t']+:[0-9]+$'\t''in force'$ ]] ||
        fail "$kind: pins line '$line'"
    sleep 4
    out=$("$bin" -s "$store" gc --keep-last 1 --grace 0) || fail "$kind: gc"
    [[ $out == *"pins: 1 in force (1 commit kept only for them)"* ]] || fail "$kind: gc said: $out"
    touch "$tmp/go"
    wait "$reader_pid"
    [[ $(<"$tmp/pinned.rc") == 0 ]] || fail "$kind: the pinned reader failed: $(<"$tmp/pinned.err")"
    cmp -s "$tmp/pinned" "$tmp/want" || fail "$kind: the pinned reader's output differs from the version"
    [[ -z $("$bin" -s "$store" pins) ]] || fail "$kind: the pin outlived its reader"
    out=$("$bin" -s "$store" gc --keep-last 1 --grace 0)
    [[ $out == *"kept 1 commit"* ]] || fail "$kind: gc after the reader: $out"
    expect_status 2 "$kind: the old version is gone" "$bin" -s "$store" scan --at "$old" --limit 1
    expect_err "no commit $old" "$kind: the old version is gone"

    # --pin on export and diff: pins that go at the end.
    "$bin" -s "$store" export --pin >/dev/null || fail "$kind: export --pin"
    "$bin" -s "$store" diff main main --pin=1m >/dev/null || fail "$kind: diff --pin"
    [[ -z $("$bin" -s "$store" pins) ]] || fail "$kind: export/diff left a pin"
    echo "$kind: a pinned reader in one process reads its version whole while gc runs in another"
done

# A reader that may write nowhere: told what protects it.
store="lmdb:$tmp/lmdb"
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
    chmod 755 "$tmp"
    as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
    chmod -R a-w "$tmp/lmdb"
    as_nobody=()
fi
expect_status 3 "a reader without write access" "${as_nobody[@]}" "$bin" -s "$store" scan --pin --limit 1
expect_err "grace period" "a reader without write access"
[[ ${#as_nobody[@]} -gt 0 ]] || chmod -R u+w "$tmp/lmdb"

# The retention policy.
store="file:$tmp/file"
out=$("$bin" -s "$store" retention)
[[ $out == *"keep-last: unset"* ]] || fail "retention, unset: $out"
out=$("$bin" -s "$store" retention --keep-last 2 --grace 0)
[[ $out == *"keep-last: 2"*"grace: 0 s"* ]] || fail "retention set: $out"
gen "$store" 4
gen "$store" 5
gen "$store" 6
out=$("$bin" -s "$store" gc)
[[ $out == *"policy: keep-last 2, keep-newer off, grace 0 s"*"kept 2 commits"* ]] || fail "gc with the store's policy: $out"
out=$("$bin" -s "$store" gc --keep-last 1)
[[ $out == *"kept 1 commit"* ]] || fail "gc --keep-last 1 over the policy: $out"
out=$("$bin" -s "$store" retention --keep-last off --keep-newer 7d)
[[ $out == *"keep-last: unset"*"keep-newer: 604800 s"*"grace: 0 s"* ]] || fail "retention change: $out"
out=$("$bin" -s "$store" retention --clear)
[[ $out == *"keep-last: unset"*"keep-newer: unset"*"grace: unset"* ]] || fail "retention --clear: $out"
expect_status 2 "a bad duration" "$bin" -s "$store" retention --grace 5x
expect_status 2 "a pin lease too long" "$bin" -s "$store" scan --pin=30d
expect_status 2 "retention on no store" "$bin" -s "lmdb:$tmp/none" retention --keep-last 3
echo "ok"
