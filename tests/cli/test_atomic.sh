#!/usr/bin/env bash
# test_atomic.sh - the conditional write commands. cas (a match, a
# mismatch: exit 4 naming the key and what it holds, nothing written;
# --absent; -d; a cas that changes nothing; usage errors), incr (a missing
# key, negative deltas without "--", values that are no counter and sums
# out of range: exit 2 and nothing written), apply (a good file with
# comments, blank lines, CRLF and escapes, where each line sees the ones
# before it; a bad line in the middle, a failing cas and a bad counter:
# exit 2 or 4 naming FILE:LINE, and the store unchanged, compared by root
# and log; stdin; -m, -b and --space; a FIFO held open shows that apply
# keeps the writer lock until its commit), help for each, and two shell loops
# of incr racing on one counter (each retrying while the store is busy, as
# a script must: the command does not wait) ending at exactly 2N.
# Usage: test_atomic.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

# state: the root and the number of commits, to show that nothing changed.
state() { echo "$(c root) $(c log | wc -l)"; }

# ---- help
expect_status 0 "--help" "$bin" --help
for cmd in cas incr apply; do
    grep -q "^  $cmd" "$tmp/out" || fail "--help does not list $cmd"
done
grep -q "^4 a compare-and-swap found another value" "$tmp/out" || fail "--help lacks exit status 4"
expect_status 0 "help cas" "$bin" help cas
grep -q -- "--absent" "$tmp/out" || fail "help cas lacks --absent"
grep -q "exit.*4\|status is 4" "$tmp/out" || fail "help cas lacks its exit status"
expect_status 0 "help incr" "$bin" help incr
grep -q "usage: cairn incr KEY \[DELTA\]" "$tmp/out" || fail "help incr synopsis"
expect_status 0 "help apply" "$bin" help apply
grep -q "cas-absent KEY NEW" "$tmp/out" || fail "help apply lists the operations"

# ---- cas
c put k old
expect_status 0 "cas that matches" c cas k old new
expect_eq "$(c get k)" "new" "cas wrote NEW"
c log -n 1 | cut -f1 | grep -q ' cas k$' || fail "cas commit message: $(c log -n 1)"
before=$(state)
expect_status 4 "cas that does not match" c cas k old newer
expect_err "^cairn: cas failed: key 'k': expected the value 'old', found another value \(3 bytes: 'new'\)$" \
    "cas mismatch message"
expect_eq "$(state)" "$before" "a failed cas writes nothing"
expect_status 4 "cas of a missing key" c cas nokey x y
expect_err "key 'nokey': expected the value 'x', found the key absent" "cas of a missing key"
expect_status 1 "nothing created by a failed cas" c get nokey
# --absent
expect_status 0 "cas --absent of a missing key" c cas --absent fresh v1
expect_eq "$(c get fresh)" "v1" "cas --absent wrote"
expect_status 4 "cas --absent of a present key" c cas --absent fresh v2
expect_err "key 'fresh': expected the key absent, found a value \(2 bytes: 'v1'\)" "cas --absent message"
expect_eq "$(c get fresh)" "v1" "cas --absent kept the value"
# -d
expect_status 4 "cas -d with another value" c cas -d fresh nope
expect_eq "$(c get fresh)" "v1" "cas -d mismatch kept the key"
expect_status 0 "cas -d with the value" c cas --delete fresh v1
expect_status 1 "cas -d deleted" c get fresh
# A cas that changes nothing writes no commit and says so.
before=$(state)
expect_status 0 "cas to the same value" c cas k new new
expect_err "nothing to commit" "cas to the same value"
expect_eq "$(state)" "$before" "cas to the same value writes no commit"
# Keys in messages are quoted; a long value is cut.
c put $'ctl\x01' "$(head -c 500 /dev/zero | tr '\0' x)"
expect_status 4 "cas on a key with a control byte" c cas $'ctl\x01' a b
expect_err "key 'ctl\\\\x01': .*\(500 bytes: 'x{32}\.\.\. \(500 bytes\)'\)" "escaped key, cut value"
# Usage errors.
expect_status 2 "cas --absent -d" c cas --absent -d k
expect_err "give --absent or -d, not both" "--absent with -d"
expect_status 2 "cas with two arguments" c cas k old
expect_err "cas takes 3 arguments, not 2" "cas argument count"
expect_status 2 "cas --absent with three arguments" c cas --absent k a b
# -b and --space.
expect_status 0 "cas --absent on a branch and keyspace" c cas --absent -b side --space s bk bv
expect_eq "$(c get -b side --space s bk)" "bv" "cas on -b and --space"
expect_status 1 "main's keyspace untouched" c get --space s bk

# ---- incr
expect_status 0 "incr of a missing key" c incr n
expect_eq "$(cat "$tmp/out")" "1" "incr prints the new value"
expect_eq "$(c incr n 41)" "42" "incr by 41"
expect_eq "$(c incr n -50)" "-8" "a negative delta needs no --"
expect_eq "$(c incr -- n -2)" "-10" "a negative delta after --"
expect_eq "$(c get n)" "-10" "the counter as stored"
c log -n 1 | cut -f1 | grep -q ' incr n$' || fail "incr commit message"
c put word abc
before=$(state)
expect_status 2 "incr of a value that is no counter" c incr word
expect_err "key 'word': the value 'abc' is not a decimal integer" "not a counter message"
expect_eq "$(state)" "$before" "a refused incr writes nothing"
c put max 9223372036854775807
expect_status 2 "incr past INT64_MAX" c incr max
expect_err "9223372036854775807 \+ 1 lies outside the range of int64" "overflow message"
expect_eq "$(c get max)" "9223372036854775807" "overflow writes nothing"
expect_eq "$(c incr max -9223372036854775808)" "-1" "INT64_MIN as a delta"
expect_status 2 "a delta with a plus sign" c incr n +1
expect_err "DELTA must be a whole number" "bad delta message"
expect_status 2 "a delta out of range" c incr n 9223372036854775808
expect_status 2 "a delta that is no number" c incr n 1x
expect_eq "$(c get n)" "-10" "bad deltas write nothing"
c put padded 007
expect_eq "$(c incr padded 0)" "7" "leading zeros accepted, written canonically"
expect_eq "$(c get padded)" "7" "canonical form stored"

# ---- apply: a good file
{
    printf '# set up the account\n'
    printf 'put\tacct:1\t100\n'
    printf '\n'
    printf 'cas\tacct:1\t100\t90\r\n'             # CRLF, and sees the line before
    printf 'incr\tacct:2\t10\n'
    printf 'incr\tacct:2\n'                       # DELTA defaults to 1
    printf 'incr\tacct:2\t-20\n'
    printf 'put\ttab\\tkey\tline1\\nline2\\x00\\\\\n'
    printf 'cas-absent\tnew\tfresh\n'
    printf 'put\tgone\tx\n'
    printf 'cas-del\tgone\tx\n'
    printf 'del\tk\n'
    printf '# done'                               # no final newline
} >"$tmp/good.txt"
commits_before=$(c log | wc -l)
expect_status 0 "apply of a good file" c apply "$tmp/good.txt"
expect_err "^applied 10 operations in 1 commit$" "apply summary"
expect_eq "$(c log | wc -l)" $((commits_before + 1)) "apply makes one commit"
c log -n 1 | grep -q " apply $tmp/good.txt: 10 operations" || fail "apply message: $(c log -n 1)"
expect_eq "$(c get acct:1)" "90" "cas after put in one file"
expect_eq "$(c get acct:2)" "-9" "incr lines"
c get $'tab\tkey' >"$tmp/got"
printf 'line1\nline2\0\\\n' | cmp -s - "$tmp/got" || fail "escapes in apply: $(od -c "$tmp/got")"
expect_eq "$(c get new)" "fresh" "cas-absent line"
expect_status 1 "cas-del line" c get gone
expect_status 1 "del line" c get k

# ---- apply: a bad line in the middle changes nothing
printf 'put\ta1\t1\nput\ta2\t2\nput\ta3\nput\ta4\t4\n' >"$tmp/bad.txt"
before=$(state)
expect_status 2 "apply with a bad line" c apply "$tmp/bad.txt"
expect_err "^cairn: $tmp/bad.txt:3: put takes 2 tab-separated arguments, not 1 \(put KEY VALUE\)$" \
    "bad line message"
expect_err "^applied nothing: no commit" "apply summary after an error"
expect_eq "$(state)" "$before" "a bad line commits nothing"
expect_status 1 "lines before the bad one were not committed" c get a1
# Other malformed lines.
bad_line() { # bad_line WHAT LINE PATTERN
    printf 'put\tb1\t1\n%s\n' "$2" >"$tmp/bad2.txt"
    expect_status 2 "apply: $1" c apply "$tmp/bad2.txt"
    expect_err "^cairn: $tmp/bad2.txt:2: $3" "apply: $1 message"
    expect_eq "$(state)" "$before" "apply: $1 commits nothing"
}
bad_line "unknown operation" $'frob\tx' "unknown operation 'frob'"
bad_line "a space for a tab" 'put x y' "unknown operation 'put x y'"
bad_line "too many fields" $'put\tx\ty\tz\tw' "too many fields"
bad_line "a bad escape" $'put\tx\\q\ty' "KEY \(field 2\): bad escape '\\\\q' at column 2 of the field"
bad_line "a bad escape in NEW" $'cas\tx\ty\tz\\' "NEW \(field 4\): unfinished escape"
bad_line "a bad escape in OLD" $'cas-del\tx\ty\\z' "OLD \(field 3\): bad escape"
bad_line "a bad escape in DELTA" $'incr\tx\t\\x4' "DELTA \(field 3\): bad escape"
bad_line "a bad delta" $'incr\tn\t+1' "incr 'n': DELTA '\+1' is not a whole number"
bad_line "incr of no counter" $'incr\tword' "incr 'word': malformed input: key 'word': the value 'abc'"
bad_line "incr past INT64_MAX" $'incr\tpadded\t9223372036854775807' "incr 'padded': .*lies outside the range"
bad_line "a key too long" "put	$(head -c 1025 /dev/zero | tr '\0' k)	v" "put 'k{64}.*key too long"

# ---- apply: a failing cas changes nothing, exit 4
printf 'put\tc1\t1\ncas\tacct:1\t100\t80\nput\tc2\t2\n' >"$tmp/cas.txt"
expect_status 4 "apply with a failing cas" c apply "$tmp/cas.txt"
expect_err "^cairn: $tmp/cas.txt:2: cas failed: key 'acct:1': expected the value '100', found another value \(2 bytes: '90'\)$" \
    "failing cas message"
expect_eq "$(state)" "$before" "a failing cas commits nothing"
printf 'cas-absent\tacct:1\tx\n' >"$tmp/cas2.txt"
expect_status 4 "apply with a failing cas-absent" c apply "$tmp/cas2.txt"
expect_err "cas2.txt:1: cas-absent failed: key 'acct:1': expected the key absent" "cas-absent line"

# ---- apply from stdin
printf 'incr\tacct:2\t9\ncas\tacct:1\t90\t91\n' | c apply - >"$tmp/out" 2>"$tmp/err" ||
    fail "apply from stdin: $(cat "$tmp/err")"
expect_eq "$(c get acct:2)$(c get acct:1)" "091" "apply from stdin"
before=$(state)
printf 'put\tz\t1\n\nbogus\n' | c apply - >"$tmp/out" 2>"$tmp/err" && fail "bad stdin applied"
expect_err "^cairn: <stdin>:3: unknown operation 'bogus'" "stdin names its line"
expect_eq "$(state)" "$before" "bad stdin commits nothing"
# -m, -b, --space; an empty file; a missing file.
printf 'put\tsk\tsv\n' | c apply -m "batch 7" -b side --space s - 2>/dev/null
expect_eq "$(c get -b side --space s sk)" "sv" "apply with -b and --space"
c log -b side -n 1 | grep -q ' batch 7' || fail "apply -m"
printf '# nothing\n\n' >"$tmp/empty.txt"
expect_status 0 "apply of a file without operations" c apply "$tmp/empty.txt"
expect_err "^applied 0 operations in 0 commits \(they change nothing\)$" "empty apply summary"
expect_eq "$(state)" "$before" "an empty apply commits nothing"
expect_status 2 "apply of a missing file" c apply "$tmp/nosuch.txt"
expect_err "cannot open" "missing file message"

# ---- apply holds the writer lock from its first line to its commit
# (reading a FIFO that stays open): another writer is refused meanwhile
# (exit 3, busy), and the apply commits once its input ends.
mkfifo "$tmp/fifo"
c apply "$tmp/fifo" 2>"$tmp/apply.err" &
apply_pid=$!
exec 7>"$tmp/fifo"
printf 'incr\tn\t100\n' >&7
busy=0
for ((i = 0; i < 100; i++)); do
    rc=0
    c incr side >/dev/null 2>"$tmp/err" || rc=$?
    if ((rc == 3)) && grep -q "locked by another writer" "$tmp/err"; then busy=1; break; fi
    ((rc == 0)) || fail "incr beside apply: exit $rc: $(cat "$tmp/err")"
    sleep 0.05
done
((busy)) || fail "a writer was never refused while apply held the lock"
n_before=$(c get n)
exec 7>&-
wait $apply_pid || fail "apply from a FIFO: $(cat "$tmp/apply.err")"
expect_eq "$(c get n)" $((n_before + 100)) "apply committed after its input ended"

# ---- two writers racing: no increment lost
# Each loop retries an incr refused because the other holds the writer
# lock (exit 3, "locked by another writer"); any other failure fails.
race_db="lmdb:$tmp/race"
"$bin" -s "$race_db" put counter 0 2>/dev/null
racer() { # racer N OUT
    local i=0 busy=0 rc
    while ((i < $1)); do
        rc=0
        "$bin" -s "$race_db" incr counter >>"$2" 2>"$2.err" || rc=$?
        if ((rc == 0)); then
            i=$((i + 1))
        elif ((rc == 3)) && grep -q "locked by another writer" "$2.err"; then
            busy=$((busy + 1))
        else
            echo "racer: exit $rc: $(cat "$2.err")" >&2
            return 1
        fi
    done
    echo "$busy" >"$2.busy"
}
n=40
racer $n "$tmp/r1" &
p1=$!
racer $n "$tmp/r2" &
p2=$!
wait $p1 || fail "racer 1 failed"
wait $p2 || fail "racer 2 failed"
expect_eq "$("$bin" -s "$race_db" get counter)" $((2 * n)) "two racing incr loops"
# Every value from 1 to 2N was printed exactly once across both loops.
expect_eq "$(sort -n "$tmp/r1" "$tmp/r2" | uniq | wc -l | tr -d ' ')" $((2 * n)) "distinct results"
echo "race: 2 x $n increments, busy retries: $(cat "$tmp/r1.busy") + $(cat "$tmp/r2.busy")"
echo "ok"
