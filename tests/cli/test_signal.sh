#!/usr/bin/env bash
# test_signal.sh - SIGINT and SIGTERM during an import: the import stops at a
# record boundary, commits the records it read, prints where to resume
# (FILE:LINE) and the summary, and the process ends by the signal (the
# shell sees 130 for SIGINT, 143 for SIGTERM). The input comes through a
# FIFO whose writer stays open, so the import is waiting for more input when
# the signal comes: that read must be interrupted, not waited out.
# Usage: test_signal.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

# lines FROM TO: tsv lines kNNNNNN<TAB>vNNNNNN.
lines() { local i; for ((i = $1; i <= $2; i++)); do printf 'k%06d\tv%06d\n' "$i" "$i"; done; }

# start_import STORE: starts "import --batch 1000 FIFO" in the background
# (pid in $pid, stderr in $tmp/import.err) and opens the FIFO as fd 7. Job
# control (set -m) keeps SIGINT deliverable: a non-interactive shell starts
# background jobs with SIGINT ignored, and cairn keeps an ignored signal
# ignored.
start_import() {
    rm -f "$tmp/fifo"
    mkfifo "$tmp/fifo"
    set -m
    "$bin" -s "$1" import --batch 1000 "$tmp/fifo" 2>"$tmp/import.err" &
    pid=$!
    set +m
    exec 7>"$tmp/fifo"
}

# wait_count STORE N: waits until the store holds N keys (reads take no
# writer lock), then a little longer so that the import has read all the
# input it was given and waits for more.
wait_count() {
    local i
    for ((i = 0; i < 400; i++)); do
        [[ "$("$bin" -s "$1" count 2>/dev/null)" == "$2" ]] && break
        sleep 0.05
    done
    [[ "$("$bin" -s "$1" count)" == "$2" ]] || fail "the import never committed $2 records"
    sleep 0.5
}

# stop_import SIGNAL: sends SIGNAL, waits, and sets $status; closes fd 7.
stop_import() {
    kill "-$1" "$pid"
    status=0
    wait "$pid" || status=$?
    exec 7>&-
}

# check_stopped STORE SIGNAL STATUS N COMMITS: the message, the summary, the
# exit status, and the store holding exactly lines 1..N.
check_stopped() {
    local store=$1 sig=$2 want_status=$3 n=$4 commits=$5
    expect_eq "$status" "$want_status" "exit status after $sig"
    grep -qx "cairn: import interrupted by $sig; resume at $tmp/fifo:$((n + 1))" "$tmp/import.err" ||
        fail "resume message after $sig: $(cat "$tmp/import.err")"
    grep -qx "imported $n records in $commits commits" "$tmp/import.err" ||
        fail "summary after $sig: $(cat "$tmp/import.err")"
    # The summary is the last line: it comes after the message.
    expect_eq "$(tail -n 1 "$tmp/import.err")" "imported $n records in $commits commits" \
        "the summary comes last"
    expect_eq "$("$bin" -s "$store" count)" "$n" "count after $sig matches the summary"
    "$bin" -s "$store" export | cmp -s - <(lines 1 "$n") ||
        fail "after $sig the store does not hold exactly lines 1-$n"
}

# ---- SIGINT while waiting for input, with a partial batch read: the 300
# records of the open batch are committed too, as a third commit.
db="lmdb:$tmp/int"
start_import "$db"
lines 1 2300 >&7
wait_count "$db" 2000
stop_import INT
check_stopped "$db" SIGINT 130 2300 3
"$bin" -s "$db" log -n 1 | grep -q "import $tmp/fifo records 2001-2300" ||
    fail "the open batch's commit: $("$bin" -s "$db" log -n 1)"
# Resuming where the message says gives the whole input.
lines 1 3000 >"$tmp/all.tsv"
tail -n +2301 "$tmp/all.tsv" | "$bin" -s "$db" import - 2>/dev/null
expect_eq "$("$bin" -s "$db" root)" "$("$bin" -s "lmdb:$tmp/whole" import "$tmp/all.tsv" 2>/dev/null &&
    "$bin" -s "lmdb:$tmp/whole" root)" "resumed import gives the root of a whole one"

# ---- SIGTERM, with a half-written line pending: the half line is not a
# record, and resuming starts at it.
db="lmdb:$tmp/term"
start_import "$db"
lines 1 2000 >&7
printf 'k002001\tv00' >&7
wait_count "$db" 2000
stop_import TERM
check_stopped "$db" SIGTERM 143 2000 2
expect_status 1 "the half line was not imported" "$bin" -s "$db" get k002001

# ---- a signal before any record: nothing committed, resume at line 1.
db="lmdb:$tmp/none"
start_import "$db"
sleep 0.5
stop_import INT
expect_eq "$status" 130 "exit status with nothing read"
grep -qx "cairn: import interrupted by SIGINT; resume at $tmp/fifo:1" "$tmp/import.err" ||
    fail "resume message with nothing read: $(cat "$tmp/import.err")"
grep -qx "imported 0 records in 0 commits" "$tmp/import.err" || fail "summary with nothing read"
expect_eq "$("$bin" -s "$db" log)" "" "no commit when nothing was read"

# ---- an import that is not interrupted still exits 0.
expect_status 0 "an import that is not interrupted" "$bin" -s "lmdb:$tmp/plain" import "$tmp/all.tsv"
expect_eq "$(cat "$tmp/err")" "imported 3000 records in 1 commit" "summary of a whole import"

# ---- other commands keep the default action of SIGINT: "put KEY -"
# waiting on its input dies at once and writes nothing.
rm -f "$tmp/fifo"
mkfifo "$tmp/fifo"
set -m
"$bin" -s "lmdb:$tmp/plain" put waiting - <"$tmp/fifo" 2>"$tmp/put.err" &
pid=$!
set +m
exec 7>"$tmp/fifo"
printf 'part of a value' >&7
sleep 0.3
stop_import INT
expect_eq "$status" 130 "put - killed by SIGINT"
expect_status 1 "nothing written by an interrupted put" "$bin" -s "lmdb:$tmp/plain" get waiting

echo "ok"
