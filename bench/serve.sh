#!/usr/bin/env bash
# serve.sh - cairn serve against redis-server, side by side in one run
# (docs/benchmarks.md, "cairn serve against redis-server").
#
# Loads the same N keys (key:%012d, D-byte values) and N/10 hashes of 10
# fields (h:%012d, f0..f9) into a cairn store and into a redis-server, then
# runs redis-benchmark (50 clients) for GET, MGET of 10 keys and HGET, each
# without and with -P 16, against both, alternating (cairn, redis, redis,
# cairn), and prints each run's throughput and p50/p99 latency, the ratios
# cairn/redis (median of the two pairs), and each server's resident memory.
#
# Usage: bench/serve.sh [--keys N] [--value-bytes D] [--requests R]
#                       [--spec SPEC] [--threads T] [--serve-opts 'OPTS'] [--out DIR]
#                       PATH/TO/cairn
#   --spec: the stack cairn serves, with {dir} for a data directory
#           (default lmdb:{dir}/data; e.g. 'mem:64M>lmdb:{dir}/data' for a
#           data set larger than its cache).
set -euo pipefail

keys=1000000 value_bytes=100 requests=1000000 spec='lmdb:{dir}/data' threads=2 out=serve-bench
serve_opts=''
while [ $# -gt 1 ]; do
    case $1 in
    --keys) keys=$2; shift 2 ;;
    --value-bytes) value_bytes=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --spec) spec=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --serve-opts) serve_opts=$2; shift 2 ;;
    *) echo "serve.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
bin=${1:?usage: bench/serve.sh [options] PATH/TO/cairn}
[[ $bin == /* ]] || bin=$PWD/$bin
for tool in redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null || {
        echo "serve.sh: $tool is missing: apt-get install redis-tools" >&2
        exit 2
    }
done
mkdir -p "$out"
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
# Without Debian's redis-server package (which also starts a daemon),
# redis-tools' redis-check-rdb is the same program: Redis picks its mode
# from the name it is run by (as scripts/redis-server.sh does).
if ! command -v redis-server >/dev/null; then
    [ -x /usr/bin/redis-check-rdb ] || {
        echo "serve.sh: no redis-server (apt-get install redis-tools)" >&2
        exit 2
    }
    mkdir -p "$dir/bin"
    ln -s /usr/bin/redis-check-rdb "$dir/bin/redis-server"
    PATH=$dir/bin:$PATH
fi
stack=${spec//\{dir\}/$dir}
hashes=$((keys / 10))

# ---- the data, once as cairn's input, once as Redis commands
python3 - "$keys" "$value_bytes" "$hashes" "$dir" <<'EOF'
import sys
keys, vb, hashes, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def value(i):
    s = ('v%d-' % i).encode()
    return (s * (vb // len(s) + 1))[:vb]
def resp(*args):
    out = b'*%d\r\n' % len(args)
    for a in args:
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    return out
with open(d + '/strings.tsv', 'wb') as t, open(d + '/hashes.jsonl', 'wb') as j, \
        open(d + '/redis.resp', 'wb') as r:
    for i in range(keys):
        k, v = b'key:%012d' % i, value(i)
        t.write(k + b'\t' + v + b'\n')
        r.write(resp(b'SET', k, v))
    for i in range(hashes):
        h = b'h:%012d' % i
        fields = [(b'f%d' % f, value(i * 10 + f)) for f in range(10)]
        j.write(b'{"key":"' + h + b'","type":"hash","value":{' +
                b','.join(b'"' + f + b'":"' + v + b'"' for f, v in fields) + b'}}\n')
        r.write(resp(b'HSET', h, *[x for fv in fields for x in fv]))
EOF

# ---- cairn: load, serve
t0=$SECONDS
"$bin" -s "$stack" import --batch 100000 "$dir/strings.tsv" >/dev/null 2>&1
"$bin" -s "$stack" import --batch 100000 --format jsonl --key key "$dir/hashes.jsonl" >/dev/null 2>&1
echo "cairn: loaded $keys keys and $hashes hashes in $((SECONDS - t0)) s ($stack)"
# shellcheck disable=SC2086 # (serve_opts: words on purpose)
"$bin" -s "$stack" serve --listen 127.0.0.1:0 --threads "$threads" $serve_opts 2>"$dir/serve.err" &
cairn_pid=$!
pids+=("$cairn_pid")
for _ in $(seq 200); do
    cport=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir/serve.err")
    [ -n "$cport" ] && break
    sleep 0.05
done
[ -n "$cport" ] || { echo "serve.sh: cairn serve did not start: $(cat "$dir/serve.err")" >&2; exit 1; }

# ---- redis-server: load
rport=$((20000 + RANDOM % 20000))
redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no --daemonize no \
    --io-threads "$threads" >"$dir/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
t0=$SECONDS
redis-cli -p "$rport" --pipe <"$dir/redis.resp" >/dev/null
echo "redis-server: loaded in $((SECONDS - t0)) s (port $rport)"

# Both serve the same data, or the comparison means nothing.
[ "$(redis-cli -p "$cport" dbsize)" = "$(redis-cli -p "$rport" dbsize)" ] ||
    { echo "serve.sh: DBSIZE differs: cairn $(redis-cli -p "$cport" dbsize), redis $(redis-cli -p "$rport" dbsize)" >&2; exit 1; }
for i in 0 $((keys / 2)) $((keys - 1)); do
    k=$(printf 'key:%012d' "$i")
    [ "$(redis-cli -p "$cport" get "$k")" = "$(redis-cli -p "$rport" get "$k")" ] ||
        { echo "serve.sh: GET $k differs" >&2; exit 1; }
done
[ "$(redis-cli -p "$cport" hget h:000000000007 f5)" = "$(redis-cli -p "$rport" hget h:000000000007 f5)" ] ||
    { echo "serve.sh: HGET differs" >&2; exit 1; }
echo "both serve $(redis-cli -p "$cport" dbsize) keys, the same values"

# Resident memory: all, anonymous (heap: caches, buffers) and file-backed
# (mapped store pages the kernel may drop), in MB.
rss() { awk '/^(VmRSS|RssAnon|RssFile)/ {printf "%s %.1f MB  ", $1, $2 / 1024}' "/proc/$1/status"; }

# run NAME PORT -- ARGS: one redis-benchmark run; "rps p50 p99" on stdout.
run() {
    local port=$1
    shift
    redis-benchmark -p "$port" -c 50 -n "$requests" -r "$keys" --csv "$@" 2>/dev/null |
        tail -1 | tr -d '"' | awk -F, '{print $2, $5, $7}'
}

tests=(
    "GET|get key:__rand_int__"
    "MGET10|mget key:__rand_int__ key:__rand_int__ key:__rand_int__ key:__rand_int__ key:__rand_int__ key:__rand_int__ key:__rand_int__ key:__rand_int__ key:__rand_int__ key:__rand_int__"
    "HGET|hget h:__rand_int__ f5"
)
printf '%-12s %-4s %12s %12s %9s %9s %9s %9s %8s\n' test P cairn_rps redis_rps ratio p50_c p50_r p99_c p99_r \
    | tee "$out/serve.txt"
for t in "${tests[@]}"; do
    name=${t%%|*}
    read -r -a cmd <<<"${t#*|}"
    for p in 1 16; do
        # cairn, redis, redis, cairn: the median of two paired ratios
        c1=$(run "$cport" -P "$p" "${cmd[@]}")
        r1=$(run "$rport" -P "$p" "${cmd[@]}")
        r2=$(run "$rport" -P "$p" "${cmd[@]}")
        c2=$(run "$cport" -P "$p" "${cmd[@]}")
        python3 - "$name" "$p" "$c1" "$r1" "$r2" "$c2" <<'EOF' | tee -a "$out/serve.txt"
import sys
name, p = sys.argv[1], sys.argv[2]
c1, r1, r2, c2 = [list(map(float, a.split())) for a in sys.argv[3:7]]
ratios = sorted([c1[0] / r1[0], c2[0] / r2[0]])
mid = sum(ratios) / 2
c = [(a + b) / 2 for a, b in zip(c1, c2)]
r = [(a + b) / 2 for a, b in zip(r1, r2)]
print('%-12s %-4s %12.0f %12.0f %9.2f %9.3f %9.3f %9.3f %9.3f' %
      (name, p, c[0], r[0], mid, c[1], r[1], c[2], r[2]))
EOF
    done
done
{ echo "resident memory, cairn serve: $(rss "$cairn_pid")"
  echo "resident memory, redis-server: $(rss "$redis_pid")"; } | tee -a "$out/serve.txt"
du -sb "$dir" | awk '{print "data directory (cairn store and inputs):", $1, "bytes"}' | tee -a "$out/serve.txt"
