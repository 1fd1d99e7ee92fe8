#!/usr/bin/env bash
# test_serve.sh - cairn serve against real Redis clients (Debian's
# redis-cli and python3-redis; tests/serve_client.py):
#  - redis-cli: the commands of docs/serve.md, SELECT over keyspaces,
#    writes refused READONLY, unknown commands, INFO and CAIRN.VERSION;
#  - redis-py: every key of the store's export through every read command,
#    SCAN with COUNT and MATCH, pipelines from 40 clients at once;
#  - RESP3 (HELLO 3), a mixed pipeline in one write, malformed and
#    oversized requests (each closes only its own connection);
#  - following: a writer publishes versions while 8 clients MGET every key
#    or GET them all in a MULTI ... EXEC: no reply mixes two versions; a
#    reset of the branch rolls the server back; WATCH fails across a switch;
#  - AUTH from --requirepass-file, maxclients (and under a low ulimit -n),
#    idle timeout, the metrics over HTTP, and a clean exit on SIGTERM.
# Usage: test_serve.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

py=/usr/bin/python3 # Debian's, with python3-redis
client=$(cd "$(dirname "$0")/.." && pwd)/serve_client.py
command -v redis-cli >/dev/null || fail "redis-cli is missing (scripts/deps.sh installs redis-tools)"
$py -c 'import redis' 2>/dev/null || fail "python3-redis is missing (scripts/deps.sh installs it)"

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

# serve NAME ARGS...: starts cairn serve on $db in the background (run by
# the command ${serve_with[@]} when set); sets port and pid, the log in
# $tmp/NAME.err.
serve_with=()
serve() {
    local name=$1
    shift
    "${serve_with[@]}" "$bin" -s "$db" serve --listen 127.0.0.1:0 "$@" 2>"$tmp/$name.err" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 200); do
        port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/$name.err")
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || fail "serve $name died: $(cat "$tmp/$name.err")"
        sleep 0.05
    done
    fail "serve $name did not start: $(cat "$tmp/$name.err")"
}
rc() { redis-cli -p "$port" "$@"; }

# ---- a store: keys with binary values, a second keyspace
{
    for i in $(seq 0 199); do printf 'k%d\tvalue %d\\x00\\t\\n end\n' "$i" "$i"; done
    printf 'xa1\tone\nxb2\ttwo\nempty\t\n'
} >"$tmp/a.tsv"
c import "$tmp/a.tsv" >/dev/null 2>&1
printf 's1\tsecond one\ns2\tsecond two\n' | c import --space second - >/dev/null 2>&1
c export >"$tmp/export.tsv"

serve main --threads 2
expect_eq "$(rc ping)" PONG "PING"
expect_eq "$(rc echo hi)" hi "ECHO"
expect_eq "$(rc get xa1)" one "GET"
expect_eq "$(rc dbsize)" 203 "DBSIZE"
expect_eq "$(rc exists xa1 xb2 nope)" 2 "EXISTS"
expect_eq "$(rc strlen empty)" 0 "STRLEN of an empty value"
expect_eq "$(rc type xa1) $(rc type nope)" "string none" "TYPE"
expect_eq "$(rc set a b)" "READONLY You can't write against a read only replica." "SET"
rc frobnicate x y >"$tmp/out" || true
grep -q "unknown command 'frobnicate', with args beginning with: 'x' 'y'" "$tmp/out" ||
    fail "an unknown command: $(cat "$tmp/out")"
expect_eq "$(rc get s1)" "" "the second keyspace is not database 0"
expect_eq "$(rc -n 1 get s1)" "second one" "SELECT 1 reads the keyspace 'second'"
expect_eq "$(rc -n 1 dbsize)" 2 "DBSIZE of database 1"
expect_eq "$(rc select 99)" "ERR DB index is out of range" "SELECT out of range"
expect_eq "$(rc cairn.version)" "$(c log -n 1 | cut -c1-64)" "CAIRN.VERSION is the commit served"
rc info cairn | grep -q "^commit:$(c log -n 1 | cut -c1-64)" || fail "INFO cairn: $(rc info cairn)"
rc info keyspace | grep -q '^db0:keys=203' || fail "INFO keyspace: $(rc info keyspace)"
expect_eq "$(rc client setname tester)" OK "CLIENT SETNAME"
expect_eq "$(rc shutdown)" "ERR SHUTDOWN is refused: cairn serve stops on SIGTERM or SIGINT" "SHUTDOWN"
[ "$(rc command count)" -gt 10 ] || fail "COMMAND COUNT"
rc command docs hmget >"$tmp/out"
grep -qx 'Returns the values of fields of a hash.' "$tmp/out" && grep -qx multiple "$tmp/out" ||
    fail "COMMAND DOCS (redis-cli's hints): $(cat "$tmp/out")"
rc -3 hello 3 | grep -q 'proto' || fail "HELLO 3 through redis-cli -3"

$py "$client" model "$port" "$tmp/export.tsv" "${CAIRN_TEST_SEED:-1}" || fail "the redis-py model"
$py "$client" raw "$port" || fail "raw RESP"
kill -TERM "$pid"
wait "$pid" || fail "serve exited $? on SIGTERM"
grep -q 'SIGTERM: shutting down' "$tmp/main.err" || fail "the shutdown was not said"

# ---- hashes, loaded from typed jsonl records
$py - "$tmp/typed.jsonl" <<'EOF'
import json, random, sys
rnd = random.Random(7)
with open(sys.argv[1], 'w') as f:
    for i in range(30):
        fields = {'f%d' % j: ('v%d-%d' % (i, j)) * rnd.randint(1, 3) for j in range(rnd.randint(1, 12))}
        if i % 7 == 0:
            fields['bin\udc80'] = 'x\udcff\x00y'
        f.write(json.dumps({'key': 'h%02d' % i, 'type': 'hash', 'value': fields}) + '\n')
    for i in range(10):
        f.write(json.dumps({'key': 's%02d' % i, 'type': 'string', 'value': 'string %d' % i}) + '\n')
EOF
hdb="lmdb:$tmp/hdb"
"$bin" -s "$hdb" import --format jsonl --key key "$tmp/typed.jsonl" >"$tmp/out" 2>&1 ||
    fail "typed import: $(cat "$tmp/out")"
saved_db=$db
db=$hdb
serve hashes --threads 2
$py "$client" hashes "$port" "$tmp/typed.jsonl" "${CAIRN_TEST_SEED:-1}" || fail "hashes through redis-py"
expect_eq "$(rc type h01)" hash "TYPE of a hash through redis-cli"
kill -TERM "$pid"; wait "$pid" || true
db=$saved_db

# ---- following versions, and a rollback
for v in 1 2; do
    for i in $(seq -f '%03g' 0 49); do printf 'put\tv%s\t%s\n' "$i" "$v"; done >"$tmp/v.apply"
    c apply "$tmp/v.apply" >/dev/null
done
second=$(c log -n 1 | cut -c1-64)
serve follow --follow 1 --threads 2
(
    for v in 3 4 5 6 7 8; do
        sleep 0.7
        for i in $(seq -f '%03g' 0 49); do printf 'put\tv%s\t%s\n' "$i" "$v"; done >"$tmp/w.apply"
        "$bin" -s "$db" apply "$tmp/w.apply" >/dev/null || exit 1
    done
) &
writer=$!
seen=$($py "$client" versions "$port" 50 6) || fail "clients during version switches"
wait "$writer" || fail "the writer"
echo "versions seen while switching: $seen"
[ "$(wc -w <<<"$seen")" -ge 3 ] || fail "the server switched versions fewer than 2 times: $seen"
sleep 1.5
expect_eq "$(rc get v000)" 8 "the server follows the last version"
c reset main "$second" --force >/dev/null
for _ in $(seq 60); do [ "$(rc get v000)" = 2 ] && break; sleep 0.1; done
expect_eq "$(rc get v000)" 2 "a reset of the branch rolls the server back"
expect_eq "$(rc cairn.version)" "$second" "CAIRN.VERSION after the rollback"
$py "$client" tx "$port" "$bin" "$db" || fail "transactions on a following server"
port1=$port pid1=$pid
serve follow2 --follow 1 --threads 1
port2=$port port=$port1
$py "$client" scan "$port" "$port2" "$bin" "$db" "${CAIRN_TEST_SEED:-1}" ||
    fail "SCAN and HSCAN cursors"
expect_eq "$(rc --scan | wc -l)" "$(rc dbsize)" "redis-cli --scan (strtoull cursors)"
rc --bigkeys >"$tmp/out" 2>&1 || fail "redis-cli --bigkeys: $(tail -3 "$tmp/out")"
grep -q "keys in $(rc dbsize) keys" "$tmp/out" || grep -q "Sampled $(rc dbsize) keys" "$tmp/out" ||
    fail "redis-cli --bigkeys: $(tail -5 "$tmp/out")"
kill -TERM "$pid"; wait "$pid" || true
pid=$pid1
kill -TERM "$pid"; wait "$pid" || true

# ---- AUTH, maxclients, idle timeout, metrics
printf 's3cret pass\n' >"$tmp/pass"
chmod 600 "$tmp/pass"
mport=$((20000 + RANDOM % 20000))
serve auth --requirepass-file "$tmp/pass" --maxclients 2 --idle-timeout 1 --metrics "127.0.0.1:$mport"
expect_eq "$(rc get xa1)" "NOAUTH Authentication required." "GET before AUTH"
rc -a 'wrong' --no-auth-warning get xa1 >"$tmp/out" 2>&1 || true
grep -q "WRONGPASS invalid username-password pair or user is disabled." "$tmp/out" ||
    fail "a wrong password: $(cat "$tmp/out")"
expect_eq "$(rc -a 's3cret pass' --no-auth-warning get xa1)" one "GET after AUTH"
$py - "$port" <<'EOF' || fail "maxclients and the idle timeout"
import socket, sys, time
port = int(sys.argv[1])
a = socket.create_connection(('127.0.0.1', port)); b = socket.create_connection(('127.0.0.1', port))
for s in (a, b):  # both accepted and counted before the third comes
    s.sendall(b'PING\r\n')
    assert s.recv(100).startswith(b'-NOAUTH'), "a client under maxclients was refused"
c = socket.create_connection(('127.0.0.1', port))
got = c.recv(100)
assert b'max number of clients reached' in got, got
a.close(); b.close(); c.close()
for _ in range(100):  # until the server has seen a and b go
    d = socket.create_connection(('127.0.0.1', port)); d.settimeout(5)
    d.sendall(b'PING\r\n')
    if d.recv(100).startswith(b'-NOAUTH'):
        break
    d.close(); time.sleep(0.05)
time.sleep(2.5)   # idle past --idle-timeout 1
assert d.recv(10) == b'', "an idle client was not closed"
EOF
curl -s "http://127.0.0.1:$mport/metrics" >"$tmp/metrics" || fail "the metrics endpoint"
grep -q '^cairn_serve_commands_total [1-9]' "$tmp/metrics" || fail "metrics: $(head -5 "$tmp/metrics")"
grep -q 'cairn_serve_command_duration_seconds_bucket{le="+Inf"}' "$tmp/metrics" ||
    fail "the latency histogram is missing"
kill -TERM "$pid"; wait "$pid" || true

# ---- the open files limit: a hard limit of 100 leaves room for 100 - 64 -
# 2 x 3 = 30 clients; maxclients is lowered to that, and said, so that the
# 31st client is told, not left unaccepted while the loop spins on it.
serve_with=(prlimit --nofile=100)
serve nofile --threads 2
serve_with=()
grep -q "maxclients lowered from 10000 to 30: the open files limit (ulimit -n) is 100" \
    "$tmp/nofile.err" || fail "maxclients under ulimit -n 100: $(cat "$tmp/nofile.err")"
$py - "$port" <<'EOF' || fail "clients past the open files limit"
import socket, sys
port = int(sys.argv[1])
socks, got = [], []
for i in range(40):
    s = socket.create_connection(('127.0.0.1', port)); s.settimeout(10)
    s.sendall(b'PING\r\n'); got.append(s.recv(100)); socks.append(s)
assert got[:30] == [b'+PONG\r\n'] * 30, got[:30]
assert all(b'max number of clients reached' in g for g in got[30:]), got[30:]
EOF
prlimit --nofile=60 "$bin" -s "$db" serve --listen 127.0.0.1:0 --threads 2 >"$tmp/out" 2>&1 &&
    fail "serve started with no descriptors left for clients"
grep -q "open files limit (ulimit -n) is 60: the store and 2 workers need 70" "$tmp/out" ||
    fail "ulimit -n 60: $(cat "$tmp/out")"
kill -TERM "$pid"; wait "$pid" || true
echo "ok"
