#!/usr/bin/env bash
# test_import.sh - import and export: the tsv escaping round trip (tabs,
# newlines, CR, backslashes, 0x01, 0xff), CRLF input, jsonl keys (string,
# escaped, number), malformed lines (message FILE:LINE, exit 2, committed
# batches kept, partial batch dropped), stdin, batching and commit
# messages, --space and -b, the summary's singular, raw tsv (--raw: import,
# export, scan, and their refusals), jsonl export of values that are not
# JSON objects (refused, naming the key), typed jsonl (strings, hashes,
# export --typed and back, a typed error, --raw for lines whose "type" is
# their own), and history independence (the same data in any order and
# batching gives the same root).
# Usage: test_import.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

no_cr_in_err() { ! grep -q $'\r' "$tmp/err" || fail "$1: progress written to a non-terminal"; }

# ---- tsv: escaping round trip
# Input uses every escape, uppercase hex, CRLF on one line, a raw 0xff and
# an empty value; the export must give the canonical (lowercase) form.
printf 'tab\\tkey\tv1\n'                 >"$tmp/in.tsv"
printf 'nl\\nkey\tline1\\nline2\r\n'    >>"$tmp/in.tsv"
printf 'bs\\\\key\tback\\\\slash\n'      >>"$tmp/in.tsv"
printf 'ctl\\x01\\x1F\tcr\\rhere\\x1B\n' >>"$tmp/in.tsv"
printf 'high\xff\t\xff\xfe\\x7f\n'       >>"$tmp/in.tsv"
printf 'empty\t\n'                       >>"$tmp/in.tsv"
printf 'upper\t\\x41\\x4a\\x4A'          >>"$tmp/in.tsv"   # no final newline
db="lmdb:$tmp/tsv"
expect_status 0 "tsv import" "$bin" -s "$db" import "$tmp/in.tsv"
expect_err '^imported 7 records in 1 commit$' "import summary"
no_cr_in_err "import"
expect_eq "$("$bin" -s "$db" count)" 7 "tsv record count"
# Values come back as raw bytes through get.
"$bin" -s "$db" get $'nl\nkey' >"$tmp/got"
printf 'line1\nline2\n' | cmp -s - "$tmp/got" || fail "newline in a value (CRLF stripped)"
"$bin" -s "$db" get $'ctl\x01\x1f' >"$tmp/got"
printf 'cr\rhere\x1b\n' | cmp -s - "$tmp/got" || fail "\\x and \\r escapes"
"$bin" -s "$db" get $'high\xff' >"$tmp/got"
printf '\xff\xfe\x7f\n' | cmp -s - "$tmp/got" || fail "raw 0xff and \\x7f"
expect_eq "$("$bin" -s "$db" get 'bs\key')" 'back\slash' "backslash escapes"
expect_eq "$("$bin" -s "$db" get upper)" 'AJJ' "last line without a newline"
expect_eq "$("$bin" -s "$db" get empty)" '' "empty value"

expect_status 0 "tsv export" "$bin" -s "$db" export
no_cr_in_err "export"
printf 'bs\\\\key\tback\\\\slash\n'        >"$tmp/want.tsv"
printf 'ctl\\x01\\x1f\tcr\\rhere\\x1b\n'  >>"$tmp/want.tsv"
printf 'empty\t\n'                        >>"$tmp/want.tsv"
printf 'high\xff\t\xff\xfe\x7f\n'         >>"$tmp/want.tsv"
printf 'nl\\nkey\tline1\\nline2\n'        >>"$tmp/want.tsv"
printf 'tab\\tkey\tv1\n'                  >>"$tmp/want.tsv"
printf 'upper\tAJJ\n'                     >>"$tmp/want.tsv"
cmp -s "$tmp/want.tsv" "$tmp/out" || fail "export differs: $(diff <(od -c "$tmp/want.tsv") <(od -c "$tmp/out"))"
# scan prints the same lines.
"$bin" -s "$db" scan | cmp -s "$tmp/want.tsv" - || fail "scan differs from export"
# Export, import elsewhere, export again: identical, and the same root.
"$bin" -s "lmdb:$tmp/tsv2" import - <"$tmp/out" 2>/dev/null
"$bin" -s "lmdb:$tmp/tsv2" export | cmp -s "$tmp/want.tsv" - || fail "second round trip"
expect_eq "$("$bin" -s "lmdb:$tmp/tsv2" root)" "$("$bin" -s "$db" root)" "round trip root"

# ---- tsv: malformed lines
make_lines() { # make_lines FILE N BAD_LINE BAD_TEXT
    local i
    : >"$1"
    for ((i = 1; i <= $2; i++)); do
        if ((i == $3)); then printf '%s\n' "$4" >>"$1"; else printf 'k%02d\tv%d\n' "$i" "$i" >>"$1"; fi
    done
}
make_lines "$tmp/bad.tsv" 6 5 "no tab here"
db="lmdb:$tmp/bad"
expect_status 2 "tsv: line without a tab" "$bin" -s "$db" import --batch 2 "$tmp/bad.tsv"
expect_err "^cairn: $tmp/bad.tsv:5: no tab between key and value$" "no-tab message"
expect_err '^imported 4 records in 2 commits$' "summary after an error"
expect_eq "$("$bin" -s "$db" count)" 4 "batches before the bad line stay, the partial one does not"
expect_status 1 "record after the bad line" "$bin" -s "$db" get k06
expect_eq "$("$bin" -s "$db" log | cut -f1 | sed 's/^[^ ]* [^ ]* [^ ]* [^ ]* //')" \
    "import $tmp/bad.tsv records 3-4"$'\n'"import $tmp/bad.tsv records 1-2" "commit messages"
# With --batch 3 the error on line 5 drops record 4.
expect_status 2 "tsv: batch 3" "$bin" -s "lmdb:$tmp/bad3" import --batch 3 "$tmp/bad.tsv"
expect_eq "$("$bin" -s "lmdb:$tmp/bad3" count)" 3 "partial batch discarded"
# -m sets the prefix of each batch's commit message.
expect_status 2 "tsv: with -m" "$bin" -s "lmdb:$tmp/badm" import -m "nightly load" --batch 2 "$tmp/bad.tsv"
expect_eq "$("$bin" -s "lmdb:$tmp/badm" log | cut -f1 | sed 's/^[^ ]* [^ ]* [^ ]* [^ ]* //')" \
    "nightly load records 3-4"$'\n'"nightly load records 1-2" "commit messages with -m"

make_lines "$tmp/esc.tsv" 3 2 $'k2\tv\\q'
expect_status 2 "tsv: bad escape" "$bin" -s mem import "$tmp/esc.tsv"
expect_err "esc.tsv:2: bad escape '\\\\q' in value at column 5" "bad escape message"
make_lines "$tmp/esc.tsv" 3 3 $'k\\x4\tv'
expect_status 2 "tsv: short \\x" "$bin" -s mem import "$tmp/esc.tsv"
expect_err "esc.tsv:3: bad escape '\\\\x4.*in key at column 2" "short \\x message"
make_lines "$tmp/esc.tsv" 3 1 $'k\tv\tw'
expect_status 2 "tsv: two tabs" "$bin" -s mem import "$tmp/esc.tsv"
expect_err "esc.tsv:1: unescaped tab in value at column 4" "two tabs message"
make_lines "$tmp/esc.tsv" 2 2 $'k\tv\rw'
expect_status 2 "tsv: raw CR" "$bin" -s mem import "$tmp/esc.tsv"
expect_err "esc.tsv:2: unescaped carriage return" "raw CR message"
make_lines "$tmp/esc.tsv" 2 2 ""
expect_status 2 "tsv: empty line" "$bin" -s mem import "$tmp/esc.tsv"
expect_err "esc.tsv:2: no tab" "empty line message"
{ printf 'ok\t1\n'; head -c 1025 /dev/zero | tr '\0' k; printf '\tv\n'; } >"$tmp/long.tsv"
expect_status 2 "tsv: key too long" "$bin" -s mem import "$tmp/long.tsv"
expect_err "long.tsv:2: key too long \\(1025 bytes, max 1024\\)" "key too long message"
expect_status 2 "missing file" "$bin" -s mem import "$tmp/nonexistent.tsv"
expect_err "nonexistent.tsv" "missing file message"

# ---- stdin, batching, --space, -b
db="lmdb:$tmp/batch"
for ((i = 1; i <= 25; i++)); do printf 'key%03d\tvalue %d\n' "$i" "$i"; done >"$tmp/25.tsv"
expect_status 0 "import from stdin" "$bin" -s "$db" import --batch 10 - <"$tmp/25.tsv"
expect_err '^imported 25 records in 3 commits$' "stdin summary"
expect_eq "$("$bin" -s "$db" log | wc -l | tr -d ' ')" 3 "one commit per batch"
"$bin" -s "$db" log -n 1 | cut -f1 | grep -q 'import <stdin> records 21-25$' || fail "stdin commit message"
"$bin" -s "$db" import --space other -b side "$tmp/25.tsv" 2>/dev/null
expect_eq "$("$bin" -s "$db" count --space other -b side)" 25 "import into a space on a branch"
expect_eq "$("$bin" -s "$db" count --space other)" 0 "main is untouched"
expect_eq "$("$bin" -s "$db" export --space other -b side | head -1)" $'key001\tvalue 1' \
    "export --space -b"
expect_status 0 "empty input" "$bin" -s "$db" import /dev/null
expect_err '^imported 0 records in 0 commits$' "empty input summary"
printf 'one\t1\n' >"$tmp/one.tsv"
expect_status 0 "one record" "$bin" -s "$db" import "$tmp/one.tsv"
expect_eq "$(cat "$tmp/err")" "imported 1 record in 1 commit" "singular summary"

# ---- raw tsv: backslashes are data (a systemd unit path keeps its \x2d),
# the first tab splits, and raw export, raw import give the same root.
db="lmdb:$tmp/raw"
{
    printf 'sys-devices-platform-serial8250-tty-ttyS1.device\tplain\n'
    printf 'dev-disk-by\\x2dlabel-root.device\tC:\\new\\table \\t \\x41 \\\n'
    printf 'utf8-caf\xc3\xa9\t\xe2\x82\xac \x01 ctl\n'
    printf 'tab-in-value\tleft\tright\r\n'
    printf 'empty\t\n'
} >"$tmp/raw.tsv"
expect_status 0 "raw import" "$bin" -s "$db" import --raw "$tmp/raw.tsv"
expect_err '^imported 5 records in 1 commit$' "raw import summary"
"$bin" -s "$db" get 'dev-disk-by\x2dlabel-root.device' >"$tmp/got" ||
    fail "raw import unescaped the key"
printf '%s\n' 'C:\new\table \t \x41 \' | cmp -s - "$tmp/got" || fail "raw value: $(cat "$tmp/got")"
expect_eq "$("$bin" -s "$db" get tab-in-value)" $'left\tright' "raw: the first tab splits"
# The escaped import would have turned \x2d into '-': the default is unchanged.
"$bin" -s "lmdb:$tmp/esc" import "$tmp/raw.tsv" 2>/dev/null || true
expect_status 1 "escaped import unescapes \\x2d" "$bin" -s "lmdb:$tmp/esc" get 'dev-disk-by\x2dlabel-root.device'
# Raw export refuses the value with a tab, naming its key, after the lines
# before it (in key order: dev-..., empty, sys-..., then tab-in-value).
expect_status 2 "raw export of a value with a tab" "$bin" -s "$db" export --raw
expect_err "^cairn: export: the record of key 'tab-in-value' cannot be a raw tsv line: the value holds a tab" \
    "raw export refusal message"
expect_err "^cairn: export stopped after 3 records: the output is incomplete$" "records before the refusal"
expect_eq "$(cut -f1 "$tmp/out" | tr '\n' ' ')" \
    "dev-disk-by\\x2dlabel-root.device empty sys-devices-platform-serial8250-tty-ttyS1.device " \
    "raw export writes whole lines up to the refused key"
"$bin" -s "$db" del tab-in-value
expect_status 0 "raw export" "$bin" -s "$db" export --raw
grep -v '^tab-in-value' "$tmp/raw.tsv" | sort | cmp -s - "$tmp/out" || fail "raw export is the input"
"$bin" -s "lmdb:$tmp/raw2" import --raw - <"$tmp/out" 2>/dev/null
expect_eq "$("$bin" -s "lmdb:$tmp/raw2" root)" "$("$bin" -s "$db" root)" "raw round trip root"
# Escaped export and import of the same store also round-trips.
"$bin" -s "$db" export | "$bin" -s "lmdb:$tmp/raw3" import - 2>/dev/null
expect_eq "$("$bin" -s "lmdb:$tmp/raw3" root)" "$("$bin" -s "$db" root)" "escaped round trip root"
# scan --raw prints the same lines, and the same refusals.
"$bin" -s "$db" scan --raw | cmp -s "$tmp/out" - || fail "scan --raw differs from export --raw"
expect_eq "$("$bin" -s "$db" scan --raw --prefix dev- | cut -f1)" 'dev-disk-by\x2dlabel-root.device' \
    "scan --raw --prefix"
for bad in $'key\twith tab' $'key\nwith newline' $'key\rwith cr'; do
    db="lmdb:$tmp/rawbad"
    rm -rf "$tmp/rawbad"
    "$bin" -s "$db" put "$bad" v
    expect_status 2 "raw export of a bad key" "$bin" -s "$db" export --raw
    # The library names the key tsv-escaped, the command's own messages
    # with \xHH for control bytes.
    expect_err "key 'key\\\\[tnr]with .*the key holds a" "raw export names the bad key"
    expect_status 2 "scan --raw of a bad key" "$bin" -s "$db" scan --raw
    expect_err "scan --raw: the record of key 'key\\\\x(09|0a|0d)with .*: the key holds a" \
        "scan --raw names the bad key"
done
db="lmdb:$tmp/rawbad"
rm -rf "$tmp/rawbad"
"$bin" -s "$db" put k $'line1\nline2'
expect_status 2 "raw export of a value with a newline" "$bin" -s "$db" export --raw
expect_err "key 'k'.*the value holds a newline" "newline in a value"
"$bin" -s "$db" put k $'ends in cr\r'
expect_status 2 "raw export of a value ending in CR" "$bin" -s "$db" export --raw
expect_err "key 'k'.*the value ends in a carriage return" "CR at the end of a value"
expect_status 2 "--raw with jsonl" "$bin" -s "$db" export --raw --format jsonl
expect_err "--raw applies only to --format tsv" "--raw with jsonl message"
expect_status 2 "--raw does not apply to get" "$bin" -s "$db" get k --raw
printf 'no tab here\n' >"$tmp/rawnotab.tsv"
expect_status 2 "raw import of a line without a tab" "$bin" -s "$db" import --raw "$tmp/rawnotab.tsv"
expect_err "rawnotab.tsv:1: no tab between key and value" "raw import: no tab"

# ---- jsonl
db="lmdb:$tmp/json"
cat >"$tmp/in.jsonl" <<'EOF'
{"id": "alpha", "n": 1, "tags": ["x", "y"]}
{"id": 42, "nested": {"id": "not me"}}
{"id": -1.5e3}
{"id": "caf\u00e9 \ud83d\ude00", "v": null}
{"other": 1, "id": "tab\there"}
EOF
expect_status 0 "jsonl import" "$bin" -s "$db" import --format jsonl --key id "$tmp/in.jsonl"
expect_eq "$("$bin" -s "$db" count)" 5 "jsonl count"
expect_eq "$("$bin" -s "$db" get alpha)" '{"id": "alpha", "n": 1, "tags": ["x", "y"]}' \
    "the whole line is the value"
expect_eq "$("$bin" -s "$db" get 42)" '{"id": 42, "nested": {"id": "not me"}}' "number key"
expect_eq "$("$bin" -s "$db" get -- -1.5e3)" '{"id": -1.5e3}' "number key as written"
expect_eq "$("$bin" -s "$db" get $'caf\xc3\xa9 \xf0\x9f\x98\x80')" \
    '{"id": "caf\u00e9 \ud83d\ude00", "v": null}' "unescaped UTF-8 key"
expect_eq "$("$bin" -s "$db" get $'tab\there' | cut -c1-10)" '{"other": ' "escaped tab in key"
# jsonl export writes the values, in key order, and re-imports to the same root.
"$bin" -s "$db" export --format jsonl >"$tmp/out.jsonl"
expect_eq "$(head -1 "$tmp/out.jsonl")" '{"id": -1.5e3}' "jsonl export order"
sort "$tmp/in.jsonl" | cmp -s - <(sort "$tmp/out.jsonl") || fail "jsonl export lines"
"$bin" -s "lmdb:$tmp/json2" import --format jsonl --key id --batch 2 "$tmp/out.jsonl" 2>/dev/null
expect_eq "$("$bin" -s "lmdb:$tmp/json2" root)" "$("$bin" -s "$db" root)" "jsonl round trip root"

# ---- typed jsonl: strings and hashes (and untyped lines) in, export --typed
# out, and back to the same root; a typed error names FILE:LINE; --raw keeps
# lines whose "type" is their own whole.
db="lmdb:$tmp/typed"
cat >"$tmp/typed.jsonl" <<'EOF'
{"key":"s","type":"string","value":"plain \u00e9 \udcff"}
{"key":"h","type":"hash","value":{"b":"2","a":"1\t"}}
{"key":"u","n":1}
EOF
expect_status 0 "typed import" "$bin" -s "$db" import --format jsonl --key key "$tmp/typed.jsonl"
"$bin" -s "$db" get s >"$tmp/got"
printf 'plain \xc3\xa9 \xff\n' | cmp -s - "$tmp/got" || fail "typed string: the value itself"
expect_eq "$("$bin" -s "$db" get u)" '{"key":"u","n":1}' "untyped line among typed ones"
expect_status 0 "typed export" "$bin" -s "$db" export --format jsonl --typed
printf '%s\n' '{"key":"h","type":"hash","value":{"a":"1\t","b":"2"}}' \
    $'{"key":"s","type":"string","value":"plain \xc3\xa9 \\udcff"}' \
    '{"key":"u","type":"string","value":"{\"key\":\"u\",\"n\":1}"}' >"$tmp/typed-want.jsonl"
cmp -s "$tmp/typed-want.jsonl" "$tmp/out" || fail "typed export: $(cat "$tmp/out")"
cp "$tmp/out" "$tmp/typed-out.jsonl"
expect_status 0 "typed re-import" "$bin" -s "lmdb:$tmp/typed2" import --format jsonl --typed \
    --batch 1 "$tmp/typed-out.jsonl"
expect_eq "$("$bin" -s "lmdb:$tmp/typed2" root)" "$("$bin" -s "$db" root)" "typed round trip root"
printf '{"key":"a","type":"string","value":"1"}\n{"key":"b","type":"list","value":[]}\n' \
    >"$tmp/badtype.jsonl"
expect_status 2 "unknown type" "$bin" -s "$db" import --format jsonl --key key --batch 1 \
    "$tmp/badtype.jsonl"
expect_err "badtype.jsonl:2: unknown type \"list\" \(column 19\)" "unknown type: FILE:LINE"
expect_err "^imported 1 record in 1 commit$" "unknown type: the lines before stay"
printf '{"id":"e1","type":"PushEvent"}\n' >"$tmp/event.jsonl"
expect_status 2 "a type of its own" "$bin" -s "$db" import --format jsonl --key id "$tmp/event.jsonl"
expect_err "import untyped to keep such lines whole" "a type of its own: what to do"
expect_status 0 "jsonl --raw" "$bin" -s "$db" import --format jsonl --key id --raw "$tmp/event.jsonl"
expect_eq "$("$bin" -s "$db" get e1)" '{"id":"e1","type":"PushEvent"}' "jsonl --raw: the line"
expect_status 2 "--typed with tsv" "$bin" -s "$db" export --typed
expect_err "--typed applies only to --format jsonl" "--typed with tsv message"
expect_status 2 "--raw and --typed" "$bin" -s "$db" import --format jsonl --raw --typed \
    "$tmp/event.jsonl"
expect_err "not both" "--raw and --typed message"

# ---- jsonl export of values that are not JSON objects: refused, naming the
# key, and the bare value is never written.
db="lmdb:$tmp/jexp"
printf 'a\t{"id":"a"}\nb\tplain text\nc\t{"id":"c"}\n' | "$bin" -s "$db" import - 2>/dev/null
expect_status 2 "jsonl export of a plain value" "$bin" -s "$db" export --format jsonl
expect_err "^cairn: export: the value of key 'b' is not a JSON object, so it cannot be a jsonl line \\(invalid JSON at column 1: expected '\\{'" \
    "jsonl export names the key"
expect_err "export stopped after 1 record: the output is incomplete" "jsonl export: records before"
expect_eq "$(cat "$tmp/out")" '{"id":"a"}' "jsonl export writes no bare value"
"$bin" -s "$db" put b '[1, 2]'
expect_status 2 "jsonl export of an array" "$bin" -s "$db" export --format jsonl
expect_err "key 'b' is not a JSON object" "an array is not an object"
"$bin" -s "$db" put b '{"id":"b"} trailing'
expect_status 2 "jsonl export of an object and more" "$bin" -s "$db" export --format jsonl
expect_err "key 'b'.*unexpected text after the object" "text after the object"
"$bin" -s "$db" put a 42
expect_status 2 "jsonl export with the first value bad" "$bin" -s "$db" export --format jsonl
[[ ! -s "$tmp/out" ]] || fail "jsonl export wrote '$(cat "$tmp/out")' before the first bad value"
! grep -q 'stopped after' "$tmp/err" || fail "no 'stopped after' when nothing was written"
"$bin" -s "$db" put a '{"id":"a"}'
"$bin" -s "$db" put b ' {"id": "b", "n": [1, {}]} '
expect_status 0 "jsonl export of objects" "$bin" -s "$db" export --format jsonl
expect_eq "$(cat "$tmp/out")" $'{"id":"a"}\n {"id": "b", "n": [1, {}]} \n{"id":"c"}' \
    "jsonl export writes objects as they are"

expect_status 2 "jsonl without --key" "$bin" -s mem import --format jsonl "$tmp/in.jsonl"
expect_err "needs --key" "jsonl without --key message"
expect_status 2 "--key with tsv" "$bin" -s mem import --key id "$tmp/in.jsonl"
printf '{"id":"crlf"}\r\n' | "$bin" -s "$db" import --format jsonl --key id - 2>/dev/null
expect_eq "$("$bin" -s "$db" get crlf | od -c | grep -c '\\r' || true)" 0 "jsonl CRLF stripped"

jsonl_lines() { # jsonl_lines FILE N BAD_LINE BAD_TEXT
    local i
    : >"$1"
    for ((i = 1; i <= $2; i++)); do
        if ((i == $3)); then printf '%s\n' "$4" >>"$1"; else printf '{"id":"r%d","i":%d}\n' "$i" "$i" >>"$1"; fi
    done
}
jsonl_lines "$tmp/bad.jsonl" 7 5 '{"abcdefg" 5}'
db="lmdb:$tmp/jbad"
expect_status 2 "jsonl: malformed line 5" \
    "$bin" -s "$db" import --format jsonl --key id --batch 2 "$tmp/bad.jsonl"
expect_err "^cairn: $tmp/bad.jsonl:5: invalid JSON at column 12: expected ':'$" "JSON syntax message"
expect_eq "$("$bin" -s "$db" count)" 4 "jsonl: committed batches stay, partial batch does not"
expect_status 1 "jsonl: nothing after the bad line" "$bin" -s "$db" get r6

jsonl_lines "$tmp/bad.jsonl" 3 2 '{"name":"x"}'
expect_status 2 "jsonl: field missing" "$bin" -s mem import --format jsonl --key id "$tmp/bad.jsonl"
expect_err 'bad.jsonl:2: field "id" missing$' "missing field message"
jsonl_lines "$tmp/bad.jsonl" 3 3 '{"id":{"a":1}}'
expect_status 2 "jsonl: field is an object" "$bin" -s mem import --format jsonl --key id "$tmp/bad.jsonl"
expect_err 'bad.jsonl:3: field "id" is an object, want a string or number$' "object field message"
jsonl_lines "$tmp/bad.jsonl" 3 1 '[1,2]'
expect_status 2 "jsonl: not an object" "$bin" -s mem import --format jsonl --key id "$tmp/bad.jsonl"
expect_err "bad.jsonl:1: invalid JSON at column 1: expected '\\{'" "not an object message"
jsonl_lines "$tmp/bad.jsonl" 3 2 '{"id":"a"} trailing'
expect_status 2 "jsonl: trailing text" "$bin" -s mem import --format jsonl --key id "$tmp/bad.jsonl"
expect_err "bad.jsonl:2: invalid JSON at column 12: unexpected text after the object" \
    "trailing text message"

# ---- history independence: same data, any order and batching, same root
python3 - "$tmp" <<'EOF'
import random, sys
tmp = sys.argv[1]
rng = random.Random(7)
recs = {}
while len(recs) < 3000:
    k = "k%06d" % rng.randrange(10**6)
    recs[k] = "v" * rng.randrange(1, 300)
lines = ["%s\t%s\n" % kv for kv in recs.items()]
open(tmp + "/sorted.tsv", "w").write("".join(sorted(lines)))
rng.shuffle(lines)
open(tmp + "/shuffled.tsv", "w").write("".join(lines))
# The same keys, first with other values, then with the right ones.
decoy = ["%s\tdecoy\n" % k for k in recs]
open(tmp + "/twice.tsv", "w").write("".join(decoy[:1000] + lines))
EOF
"$bin" -s "lmdb:$tmp/h1" import --batch 100000 "$tmp/sorted.tsv" 2>/dev/null
"$bin" -s "lmdb:$tmp/h2" import --batch 7 "$tmp/shuffled.tsv" 2>/dev/null
"$bin" -s "lmdb:$tmp/h3" import --batch 333 "$tmp/twice.tsv" 2>/dev/null
"$bin" -s "lmdb:$tmp/h3" put extra-key 1
"$bin" -s "lmdb:$tmp/h3" del extra-key
r1=$("$bin" -s "lmdb:$tmp/h1" root)
expect_eq "$("$bin" -s "lmdb:$tmp/h2" root)" "$r1" "root after a shuffled, small-batch import"
expect_eq "$("$bin" -s "lmdb:$tmp/h3" root)" "$r1" "root after overwrites and a delete"
expect_eq "$("$bin" -s "lmdb:$tmp/h2" root --space '')" "$("$bin" -s "lmdb:$tmp/h1" root --space '')" \
    "keyspace roots agree"
"$bin" -s "lmdb:$tmp/h2" export | cmp -s "$tmp/sorted.tsv" - || fail "export of the shuffled import"

echo "ok"
