#!/usr/bin/env bash
# test_readonly.sh - read commands open stores read-only: they create nothing,
# write into nothing, and work for a user who may only read the store (run
# as "nobody" through setpriv when the test runs as root) and on a read-only
# mount (when this machine lets the test make one). A write by such a user
# fails with a clear error and changes nothing.
# Usage: test_readonly.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

# ---- read commands create nothing
for cmd in "get k" "scan" "count" "log" "root" "export" "verify" "stats" "refs" "spaces"; do
    expect_status 2 "$cmd where no store is" c $cmd
    expect_err "no store at" "$cmd where no store is"
    [[ ! -e $tmp/db ]] || fail "'$cmd' created $tmp/db"
    expect_status 2 "$cmd where no file store is" "$bin" -s "file:$tmp/f" $cmd
    [[ ! -e $tmp/f ]] || fail "'$cmd' created $tmp/f"
done

# ---- a store for the other checks: lmdb and file, readable by everyone
chmod 755 "$tmp"
for ((i = 0; i < 500; i++)); do printf 'key%04d\tvalue %d\n' "$i" "$i"; done >"$tmp/data.tsv"
c import "$tmp/data.tsv" 2>/dev/null
"$bin" -s "file:$tmp/f" import "$tmp/data.tsv" 2>/dev/null
want_root=$(c root)
expect_eq "$("$bin" -s "file:$tmp/f" root)" "$want_root" "file store root"
snapshot() { (cd "$tmp" && find db f -type f ! -name lock.mdb -exec sha256sum {} + | sort); }
before=$(snapshot)

# check_reads WHO RUNNER...: the read commands work through RUNNER.
check_reads() {
    local who=$1 spec
    shift
    for spec in "lmdb:$tmp/db" "file:$tmp/f"; do
        expect_eq "$("$@" -s "$spec" get key0042)" "value 42" "$who: get on $spec"
        expect_eq "$("$@" -s "$spec" count)" 500 "$who: count on $spec"
        expect_eq "$("$@" -s "$spec" root)" "$want_root" "$who: root on $spec"
        expect_eq "$("$@" -s "$spec" export | sha256sum)" "$(c export | sha256sum)" "$who: export on $spec"
        expect_status 0 "$who: verify on $spec" "$@" -s "$spec" verify
        expect_status 3 "$who: put on $spec" "$@" -s "$spec" put new 1
        expect_err "ermission denied|read-only" "$who: put on $spec says why"
    done
}

if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
    cp "$bin" "$tmp/cairn"
    chmod 755 "$tmp/cairn"
    check_reads "nobody" setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/cairn"
    echo "read as nobody: ok"
else
    echo "skipped: reading as another user needs root and setpriv"
fi
expect_eq "$(snapshot)" "$before" "files after reads by a user who may only read"

mkdir "$tmp/ro"
trap 'umount "$tmp/ro" 2>/dev/null || true; rm -rf "$tmp"' EXIT
if [[ $(id -u) == 0 ]] && mount --bind "$tmp" "$tmp/ro" 2>/dev/null; then
    if mount -o remount,ro,bind "$tmp/ro" 2>/dev/null; then
        runner() { "$bin" "$@"; }
        for spec in "lmdb:$tmp/ro/db" "file:$tmp/ro/f"; do
            expect_eq "$(runner -s "$spec" get key0042)" "value 42" "read-only mount: get on $spec"
            expect_eq "$(runner -s "$spec" count)" 500 "read-only mount: count on $spec"
            expect_status 0 "read-only mount: verify on $spec" runner -s "$spec" verify
            expect_status 3 "read-only mount: put on $spec" runner -s "$spec" put new 1
        done
        echo "read on a read-only mount: ok"
    else
        echo "skipped: cannot remount read-only here"
    fi
    umount "$tmp/ro"
else
    echo "skipped: cannot bind-mount here"
fi
expect_eq "$(snapshot)" "$before" "files after reads on a read-only mount"
echo ok
