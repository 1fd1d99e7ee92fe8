#!/usr/bin/env bash
# test_s3_serve.sh - cairn serve reading straight from S3 (the fixture's
# real service) while a write-back writer publishes: redis-cli and redis-py
# read the synced version (every key of the writer's export), a new sync is
# followed, and a reset of the writer's branch, synced, rolls the server
# back. A client that sends without reading its replies (a slow client)
# neither stalls the server nor loses a reply.
# Usage: test_s3_serve.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"
under_s3_fixture

py=/usr/bin/python3
client=$(cd "$(dirname "$0")/.." && pwd)/serve_client.py
$py -c 'import redis' 2>/dev/null || fail "python3-redis is missing (scripts/deps.sh installs it)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

s3="s3://$CAIRN_S3_BUCKET/served"
w="lmdb:$tmp/w>$s3?write=back"
{
    for i in $(seq 0 299); do printf 'k%03d\tvalue %d\n' "$i" "$i"; done
    printf 'big\t%s\n' "$(head -c 8000 /dev/zero | tr '\0' 'b')"
} >"$tmp/a.tsv"
"$bin" -s "$w" import "$tmp/a.tsv" >/dev/null 2>&1
"$bin" -s "$w" sync >/dev/null
first=$("$bin" -s "lmdb:$tmp/w" log -n 1 | cut -c1-64)
"$bin" -s "lmdb:$tmp/w" export >"$tmp/export.tsv"

"$bin" -s "mem:64M>$s3" serve --listen 127.0.0.1:0 --follow 1 --threads 2 2>"$tmp/serve.err" &
pid=$!
pids+=("$pid")
for _ in $(seq 200); do
    port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/serve.err")
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || fail "serve did not start: $(cat "$tmp/serve.err")"
expect_eq "$(redis-cli -p "$port" get k007)" "value 7" "GET from S3"
expect_eq "$(redis-cli -p "$port" cairn.version)" "$first" "the synced version is served"
$py "$client" model "$port" "$tmp/export.tsv" 1 || fail "redis-py over S3"

# a new version, synced: followed
"$bin" -s "$w" put k007 'seven, later' >/dev/null
"$bin" -s "$w" sync >/dev/null
for _ in $(seq 100); do [ "$(redis-cli -p "$port" get k007)" = 'seven, later' ] && break; sleep 0.1; done
expect_eq "$(redis-cli -p "$port" get k007)" 'seven, later' "the server follows a sync"
# a rollback: the writer's branch reset, synced
"$bin" -s "$w" reset main "$first" --force >/dev/null 2>&1
"$bin" -s "$w" sync >/dev/null
for _ in $(seq 100); do [ "$(redis-cli -p "$port" get k007)" = 'value 7' ] && break; sleep 0.1; done
expect_eq "$(redis-cli -p "$port" get k007)" 'value 7' "a reset, synced, rolls the server back"
expect_eq "$(redis-cli -p "$port" cairn.version)" "$first" "CAIRN.VERSION after the rollback"

# a slow client: 20,000 pipelined GETs of an 8000-byte value (160 MB of
# replies), sent as fast as the server takes them and read only when the
# socket will not take more: the server stops reading it while its replies
# wait (past 1 MiB), serves others meanwhile, and loses no reply
$py - "$port" <<'EOF' || fail "a slow client"
import socket, sys, time
port = int(sys.argv[1])
n = 20000
slow = socket.create_connection(('127.0.0.1', port))
slow.setblocking(False)
by = socket.create_connection(('127.0.0.1', port)); by.settimeout(5)
req = b'*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n' * n
one = b'$8000\r\n' + b'b' * 8000 + b'\r\n'
sent, got, pings, deadline = 0, bytearray(), 0, time.time() + 120
while len(got) < len(one) * n and time.time() < deadline:
    try:
        if sent < len(req):
            sent += slow.send(req[sent:sent + 65536])
            continue
    except BlockingIOError:
        pass
    try:
        chunk = slow.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    except BlockingIOError:
        by.sendall(b'PING\r\n')     # others are served meanwhile
        assert by.recv(100) == b'+PONG\r\n'
        pings += 1
        time.sleep(0.005)
assert len(got) == len(one) * n and got == one * n, \
    "replies lost or out of order (%d of %d bytes)" % (len(got), len(one) * n)
print("slow client: %d pipelined GETs of 8000 bytes, every reply in order; %d PINGs of "
      "another client answered meanwhile" % (n, pings))
EOF
kill -TERM "$pid"
wait "$pid" || fail "serve exited $? on SIGTERM"
echo "ok"
