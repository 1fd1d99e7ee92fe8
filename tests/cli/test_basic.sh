#!/usr/bin/env bash
# test_basic.sh - put (also of a value read from stdin), get, mget, del,
# scan, count (prefix, from/to, reverse, limit), keyspaces, option
# placement, help and version, keys quoted in messages (UTF-8 as it is,
# control and invalid bytes as \xHH), and exit codes (1 missing key, 2 bad
# usage or bad spec).
# Usage: test_basic.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

# ---- help and version
expect_status 0 "--version" "$bin" --version
grep -q '^cairn [0-9]' "$tmp/out" || fail "--version printed '$(cat "$tmp/out")'"
expect_status 0 "--help" "$bin" --help
grep -q 'usage: cairn' "$tmp/out" || fail "--help lacks usage"
cp "$tmp/out" "$tmp/help"
for cmd in put get mget del scan count import export root log diff verify stats tag branch refs spaces; do
    grep -q "^  $cmd" "$tmp/help" || fail "--help does not list $cmd"
    expect_status 0 "help $cmd" "$bin" help "$cmd"
    grep -q "usage: cairn $cmd" "$tmp/out" || fail "help $cmd lacks its synopsis"
done
expect_status 0 "scan --help" "$bin" scan --help
grep -q -- '--prefix' "$tmp/out" || fail "scan --help lacks --prefix"
expect_status 2 "help of an unknown command" "$bin" help frobnicate
expect_status 0 "help help" "$bin" help help
grep -q '^usage: cairn help \[COMMAND\]' "$tmp/out" || fail "help help: $(cat "$tmp/out")"
grep -q "cairn COMMAND --help" "$tmp/out" || fail "help help explains COMMAND --help"

# ---- put, get, del
c put apple red
c put banana yellow
"$bin" put cherry dark -s "$db"            # options after the command
"$bin" -s"$db" put date brown               # -sSPEC
"$bin" --stack="$db" put elder black        # --stack=SPEC
expect_eq "$(c get apple)" "red" "get apple"
expect_eq "$(c get cherry)" "dark" "get with options before"
expect_eq "$(c get date -s "$db")" "brown" "get with options after"
c put apple green
expect_eq "$(c get apple)" "green" "overwrite"
c get apple >"$tmp/raw"
printf 'green\n' | cmp -s - "$tmp/raw" || fail "get prints the value and one newline"

expect_status 1 "get of a missing key" c get nosuch
expect_err "key 'nosuch' not found" "missing key message"
[[ ! -s "$tmp/out" ]] || fail "get of a missing key printed to stdout"
c del banana
expect_status 1 "get after del" c get banana
expect_status 0 "del of a missing key" c del banana

# ---- put KEY -: the value from stdin, all bytes, up to CAIRN_VALUE_MAX
# (on a store of its own, m, so that the checks below see only their keys)
m() { "$bin" -s "lmdb:$tmp/m" "$@"; }
printf 'a\0b\nc\r\n\xff' | m put bin - || fail "put - from a pipe"
m get bin >"$tmp/got"
printf 'a\0b\nc\r\n\xff\n' | cmp -s - "$tmp/got" || fail "put - is binary-safe: $(od -c "$tmp/got")"
m put empty - </dev/null
expect_eq "$(m get empty | od -An -c | tr -d ' ')" '\n' "put - of empty stdin stores the empty value"
printf %s - | m put dash -
expect_eq "$(m get dash)" "-" "the literal value '-' via stdin"
m put -m "from a file" big - <"$bin"
cmp -s "$bin" <(m get big | head -c "$(stat -c %s "$bin")") || fail "put - of a large binary file"
m log -n 1 | cut -f1 | grep -q ' from a file$' || fail "put - takes -m"
head -c $((64 * 1024 * 1024)) /dev/zero >"$tmp/max"
expect_status 0 "put - of exactly CAIRN_VALUE_MAX bytes" m put max - <"$tmp/max"
expect_eq "$(m get max | wc -c | tr -d ' ')" $((64 * 1024 * 1024 + 1)) "the largest value"
printf x >>"$tmp/max"
expect_status 2 "put - of one byte more" m put max2 - <"$tmp/max"
expect_err "^cairn: put: the value on stdin is too long \(more than 67108864 bytes" "too long message"
expect_status 1 "nothing stored for a value too long" m get max2
rm -f "$tmp/max"

# Raw bytes: no unescaping of arguments; tabs and backslashes survive.
c put 'back\slash' 'tab	inside\n'
expect_eq "$(c get 'back\slash')" 'tab	inside\n' "raw bytes in put/get"
c del 'back\slash'
# A key starting with '-' after "--".
c put -- -dash minus
expect_eq "$(c get -- -dash)" "minus" "key after --"
c del -- -dash

# ---- mget: one snapshot, one line per key in argument order; a missing key
# is its escaped name alone (no tab); exit 1 if any is missing.
m put apple green
m put cherry dark
m put $'t\tab' $'v\n2'
expect_status 0 "mget of present keys" m mget cherry apple
expect_eq "$(cat "$tmp/out")" $'cherry\tdark\napple\tgreen' "mget output"
expect_status 1 "mget with a missing key" m mget apple nosuch $'t\tab' apple ''
printf 'apple\tgreen\nnosuch\nt\\tab\tv\\n2\napple\tgreen\n\n' | cmp -s - "$tmp/out" ||
    fail "mget lines: $(od -c "$tmp/out")"
expect_err "^cairn: 2 of 5 keys not found$" "mget summary of missing keys"
expect_status 2 "mget needs a key" m mget
old_apple=$(m log -n 1 | cut -d' ' -f1)
m put apple ripe
expect_eq "$(m mget apple --at "$old_apple")" $'apple\tgreen' "mget --at"
m put --space fruit apple sweet
expect_eq "$(m mget --space fruit apple cherry 2>/dev/null || true)" $'apple\tsweet\ncherry' "mget --space"
m -b side put apple sour
expect_eq "$(m mget -b side apple)" $'apple\tsour' "mget -b"
expect_status 2 "mget of an unknown version" m mget apple --at nosuch

# ---- keys in messages: valid UTF-8 as it is; control bytes, bytes that are
# not UTF-8 and C1 controls as \xHH; a backslash doubled.
expect_status 1 "get of a missing UTF-8 key" c get 'café ☕ 𝄞'
expect_err "^cairn: key 'café ☕ 𝄞' not found$" "UTF-8 key in a message"
expect_status 1 "get of a missing binary key" c get $'a\x01\xff\xc3(\xe2\x82\\z\xc2\x9b\x7f'
expect_err "^cairn: key 'a\\\\x01\\\\xff\\\\xc3\\(\\\\xe2\\\\x82\\\\\\\\z\\\\xc2\\\\x9b\\\\x7f' not found$" \
    "invalid UTF-8 and controls in a message"
expect_status 1 "get of an overlong form" c get $'\xc0\xaf\xed\xa0\x80'
expect_err "^cairn: key '\\\\xc0\\\\xaf\\\\xed\\\\xa0\\\\x80' not found$" "overlong and surrogate bytes"

# ---- scan and count
expect_eq "$(c scan)" $'apple\tgreen\ncherry\tdark\ndate\tbrown\nelder\tblack' "scan"
expect_eq "$(c scan --reverse)" $'elder\tblack\ndate\tbrown\ncherry\tdark\napple\tgreen' \
    "scan --reverse"
expect_eq "$(c scan --limit 2)" $'apple\tgreen\ncherry\tdark' "scan --limit"
expect_eq "$(c scan --limit=2 --reverse)" $'elder\tblack\ndate\tbrown' "scan --limit --reverse"
expect_eq "$(c scan --limit 0)" "" "scan --limit 0"
expect_eq "$(c scan --from cherry --to elder)" $'cherry\tdark\ndate\tbrown' "scan --from --to"
expect_eq "$(c scan --from b)" $'cherry\tdark\ndate\tbrown\nelder\tblack' "--from is inclusive"
expect_eq "$(c scan --to date)" $'apple\tgreen\ncherry\tdark' "--to is exclusive"
expect_eq "$(c scan --from e --to a)" "" "empty range"
expect_eq "$(c count)" 4 "count"
expect_eq "$(c count --from b --to e)" 2 "count --from --to"
expect_eq "$(c count --from z)" 0 "count of an empty range"

for k in pre pre0 pre1 prf pr 'pre\xff'; do c put "$k" "v-$k"; done
c put $'pre\xff' v-ff
c put $'pre\xff\xff' v-ffff
c put $'\xff\xff' top
expect_eq "$(c scan --prefix pre | cut -f1 | tr '\n' ' ')" \
    $'pre pre0 pre1 pre\\\\xff pre\xff pre\xff\xff ' "scan --prefix"
expect_eq "$(c count --prefix pre)" 6 "count --prefix"
expect_eq "$(c scan --prefix pre --reverse --limit 1 | cut -f1)" $'pre\xff\xff' \
    "--prefix --reverse"
expect_eq "$(c count --prefix $'pre\xff')" 2 "prefix ending in 0xff"
expect_eq "$(c scan --prefix $'\xff' | cut -f1)" $'\xff\xff' "all-0xff prefix is unbounded above"
expect_eq "$(c count --prefix pre --from pre1)" 4 "--prefix with --from"
expect_eq "$(c count --prefix pre --to pre1)" 2 "--prefix with --to"
expect_eq "$(c count --prefix nothing)" 0 "prefix with no keys"

# ---- keyspaces
c put --space users alice 1
c --space users put bob 2
expect_eq "$(c count --space users)" 2 "count in a keyspace"
expect_eq "$(c get --space users alice)" 1 "get in a keyspace"
expect_status 1 "keyspaces are separate" c get alice
expect_status 1 "keyspaces are separate (2)" c get --space users apple
expect_eq "$(c spaces | grep -c .)" 2 "spaces lists two keyspaces"
c spaces | grep -q $'^users\t2$' || fail "spaces: $(c spaces)"
c spaces | grep -q $'^\t13$' || fail "spaces shows the default keyspace: $(c spaces)"

# ---- the store from $CAIRN_STACK, and mem stores
expect_eq "$(CAIRN_STACK="$db" "$bin" get apple)" green "CAIRN_STACK"
expect_eq "$(CAIRN_STACK="$db" "$bin" -s mem count)" 0 "-s wins over CAIRN_STACK"
(cd "$tmp" && "$bin" put k v && "$bin" get k >/dev/null) || fail "default store"
[[ -d "$tmp/cairn-data" ]] || fail "the default store is lmdb:./cairn-data"

# ---- bad usage: exit 2
expect_status 2 "no command" "$bin"
expect_status 2 "unknown command" c frobnicate
expect_err "unknown command 'frobnicate'" "unknown command message"
expect_status 2 "unknown option" c scan --frobnicate
expect_err "unknown option '--frobnicate'" "unknown option message"
expect_status 2 "unknown short option" c scan -Z
expect_status 2 "missing argument" c get
expect_status 2 "too many arguments" c get a b
expect_status 2 "put needs two arguments" c put a
expect_status 2 "option needs a value" c scan --limit
expect_status 2 "non-numeric --limit" c scan --limit ten
expect_err "--limit" "non-numeric --limit message"
expect_status 2 "negative --limit" c scan --limit -1
expect_status 2 "non-numeric -n" c log -n x
expect_status 2 "non-numeric --batch" c import --batch 1x /dev/null
expect_status 2 "zero --batch" c import --batch 0 /dev/null
expect_status 2 "unknown --format" c export --format csv
expect_err "unknown format 'csv'" "unknown format message"
expect_status 2 "option not for this command" c put a b --limit 3
expect_err "does not apply to put" "inapplicable option message"
expect_status 2 "--at with --branch" c get a --at main -b main
expect_status 2 "value for a flag" c scan --reverse=yes
expect_status 2 "bad stack spec" "$bin" -s 'nosuchtier:x' get a
expect_err '^cairn: ' "messages start with 'cairn: '"
expect_status 2 "bad stack spec (mem)" "$bin" -s 'mem:lots' get a
expect_status 2 "key too long" c put "$(head -c 1025 /dev/zero | tr '\0' k)" v
expect_status 0 "longest key" c put "$(head -c 1024 /dev/zero | tr '\0' k)" v

# ---- a second writer: an import from a FIFO holds the write transaction
# open while it waits for input; a put meanwhile fails with exit 3 (busy).
# With --batch 2 and three lines written at once, the import commits lines
# 1-2 and at once begins the transaction for line 3, then waits for more.
# We watch for the first batch with reads, which take no writer lock.
mkfifo "$tmp/fifo"
"$bin" -s "$db" import --batch 2 "$tmp/fifo" 2>"$tmp/import.err" &
import_pid=$!
exec 7>"$tmp/fifo"
printf 'held1\t1\nheld2\t2\nheld3\t3\n' >&7
for ((i = 0; i < 200; i++)); do
    c get held2 >/dev/null 2>&1 && break
    sleep 0.05
done
c get held2 >/dev/null 2>&1 || fail "the import's first batch never appeared"
sleep 0.3
expect_status 3 "a second writer during an import" c put second-writer x
grep -q '^cairn: put: .*busy' "$tmp/err" || fail "busy message: $(cat "$tmp/err")"
exec 7>&-
wait "$import_pid" || fail "the import holding the lock failed: $(cat "$tmp/import.err")"
expect_eq "$(c get held3)" 3 "the import committed its last batch after the refused put"

echo "ok"
