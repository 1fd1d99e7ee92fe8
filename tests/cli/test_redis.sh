#!/usr/bin/env bash
# test_redis.sh - the cairn command on the Redis tier, under
# scripts/redis-server.sh run (a real redis-server on loopback): a store
# on redis:// (put, get, log, verify, gc, pins, stats with its request
# counters, text and JSON), the keys it makes (docs/format.md), a second
# prefix in the same server kept apart, a mem>redis>lmdb stack whose
# Redis is the cache (a second process reads lmdb for nothing), a cache
# whose server is down (reads work, one line said), and specs refused
# clearly: an unreachable store, rediss://, a bad option, a password in
# the address (never repeated in the message).
# Usage: test_redis.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

if [ -z "${CAIRN_REDIS_URL:-}" ]; then
    server=$(cd "$(dirname "$0")/../../scripts" && pwd)/redis-server.sh
    rc=0
    bash "$server" run -- bash "$0" "$bin" || rc=$?
    exit $rc
fi
rcli() { redis-cli -h 127.0.0.1 -p "$CAIRN_REDIS_PORT" "$@"; }

# ---- a store on redis://
db="$CAIRN_REDIS_URL?prefix=cli:"
for ((i = 0; i < 20; i++)); do c put "key$((i % 7))" "value $i" >/dev/null; done
expect_eq "$(c get key3)" "value 17" "get"
expect_eq "$(c log | wc -l)" 20 "20 commits in the log"
expect_status 0 "verify" c verify
grep -q "0 problems" "$tmp/out" || fail "verify: $(cat "$tmp/out")"
expect_status 0 "gc" c gc --keep-last 3 --grace 0
grep -Eq "freed [1-9][0-9]* blobs" "$tmp/out" || fail "gc freed nothing: $(cat "$tmp/out")"
expect_eq "$(c get key3)" "value 17" "get after gc"
expect_status 0 "verify after gc" c verify
expect_status 0 "stats" c stats
grep -Eq "requests: reads [1-9]" "$tmp/out" || fail "stats shows no requests: $(cat "$tmp/out")"
grep -q "outages 0" "$tmp/out" || fail "stats: $(cat "$tmp/out")"
expect_status 0 "stats --json" c stats --json
/usr/bin/python3 - "$tmp/out" <<'PY' || fail "stats --json"
import json, sys
t = json.load(open(sys.argv[1]))["tiers"][0]
assert t["name"] == "redis" and t["requests"]["get"] > 0 and t["latency_p50_us"] > 0, t
PY
# the keys: blobs, refs, nothing else but what docs/format.md says
rcli --scan --pattern 'cli:*' | sed -E 's/blob:[0-9a-f]{64}$/blob:ID/' | sort -u >"$tmp/keys"
expect_eq "$(tr '\n' ' ' <"$tmp/keys")" "cli:blob:ID cli:refs " "the keys of a store"
expect_eq "$(rcli hget cli:refs heads/main | tr -d '\n' | wc -c)" 64 "a ref is 64 hex"
# another prefix in the same server is another store
expect_status 2 "another prefix holds no store" "$bin" -s "$CAIRN_REDIS_URL?prefix=other:" get key3
expect_err "holds no cairn store under prefix 'other:'" "another prefix"

# ---- Redis as the cache of an lmdb store
expect_status 0 "put into lmdb" "$bin" -s "lmdb:$tmp/data" put big "$(head -c 3000 /dev/zero | tr '\0' x)"
stack="mem>$CAIRN_REDIS_URL?prefix=cache:>lmdb:$tmp/data"
expect_eq "$("$bin" -s "$stack" get big | wc -c)" 3001 "read through the cache"
expect_status 0 "stats of the stack" "$bin" -s "$stack" get big
"$bin" -s "$stack" stats --json >"$tmp/stats.json"
/usr/bin/python3 - "$tmp/stats.json" <<'PY' || fail "the second process read lmdb: $(cat "$tmp/stats.json")"
import json, sys
tiers = json.load(open(sys.argv[1]))["tiers"]
assert [t["name"] for t in tiers] == ["mem", "redis", "lmdb"], tiers
assert tiers[2]["gets"] == 0, tiers[2]
PY
# a cache whose server is down: reads go on, said once
expect_status 0 "a cache that is down" "$bin" -s "mem>redis://127.0.0.1:1>lmdb:$tmp/data" get big
expect_eq "$(grep -c 'is unreachable' "$tmp/err")" 1 "one line for the outage"

# ---- refused specs
expect_status 3 "an unreachable store" "$bin" -s "redis://127.0.0.1:1" get x
expect_err "127\.0\.0\.1:1/0: cannot connect" "an unreachable store"
expect_status 2 "rediss" "$bin" -s "rediss://127.0.0.1:1" get x
expect_err "TLS to Redis needs hiredis >= 1.0" "rediss"
expect_status 2 "a bad option" "$bin" -s "$CAIRN_REDIS_URL?pool=0" get x
expect_err "pool must be a whole number" "a bad option"
# a password in the address: refused, and never repeated
expect_status 2 "a password in the address" "$bin" -s "mem>redis://bob:hunter2@127.0.0.1:1/0>lmdb:$tmp/data" get x
expect_err "no user or password in the address" "a password in the address"
expect_err "cannot open store 'mem>redis://\*\*\*@127\.0\.0\.1:1/0>lmdb:" "the spec shown without it"
if grep -q hunter2 "$tmp/err"; then fail "the password was repeated: $(cat "$tmp/err")"; fi
echo "ok"
