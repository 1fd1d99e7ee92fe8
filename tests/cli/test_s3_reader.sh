#!/usr/bin/env bash
# test_s3_reader.sh - docs/format.md's S3 layout is enough to read a store:
# tests/s3_reader.py (standard-library Python written from the document
# alone) reads a store the cairn CLI wrote to s3://$CAIRN_S3_BUCKET/indep
# (an import in several batches, puts, dels, a tag, a branch with a commit of
# its own). Its refs must equal `cairn refs`, its blob count the S3 tier's
# "blobs" (and "bytes") in `cairn stats --json`, and it must exit 0. Then
# the head is damaged with curl (its end line altered, its end line dropped,
# text after it): the reader refuses each with a message, and `cairn refs`
# refuses the altered one. Then a pack: a record byte flipped (the reader's
# SHA-256 check), and the footer checksum altered with the head's INDEX and
# end re-computed to match (only the XXH64 check sees it; cairn refuses too).
# Runs itself under scripts/s3-server.sh run.
# Usage: test_s3_reader.sh PATH/TO/cairn. Skips (77) where python3 is missing
# or the fixture's packages cannot be installed.
source "$(dirname "$0")/lib.sh" "$@"

server=$(cd "$(dirname "$0")/../../scripts" && pwd)/s3-server.sh
reader=$(cd "$(dirname "$0")/.." && pwd)/s3_reader.py
command -v python3 >/dev/null || { echo "no python3: skipping" >&2; exit 77; }
[ -f "$reader" ] || fail "no reader at $reader"
empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# ---- inside "s3-server.sh run"
if [ -n "${S3_READER_INNER:-}" ]; then
    prefix=indep
    store="s3://$CAIRN_S3_BUCKET/$prefix"
    url=$AWS_ENDPOINT_URL/$CAIRN_S3_BUCKET/$prefix
    s() { "$bin" -s "$store" "$@"; }
    # req METHOD URL [FILE]: signed as test_s3_fixture.sh does; prints the
    # status, the body lands in $tmp/body.
    req() {
        local method=$1 u=$2 file=${3:-} sha=$empty_sha256 body=()
        if [ -n "$file" ]; then
            sha=$(sha256sum <"$file" | cut -d' ' -f1)
            body=(--data-binary "@$file" -H "Content-Type: application/octet-stream")
        fi
        curl -s -o "$tmp/body" -w '%{http_code}' --max-time 20 -X "$method" \
            --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
            --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
            -H "x-amz-content-sha256: $sha" "${body[@]}" "$u" || true
    }

    # ---- write a store with the CLI
    awk 'BEGIN { for (i = 1; i <= 3000; i++) {
        v = ""; for (j = 0; j < i % 97; j++) v = v "x"
        printf "key%05d\tvalue %d %s\n", i, i, v } }' >"$tmp/data.tsv"
    t0=$(date +%s%N)
    expect_status 0 "import" s import --batch 700 "$tmp/data.tsv"
    expect_err "imported 3000 records in 5 commits" "import summary"
    expect_status 0 "put big" s put big "$(head -c 5000 /dev/zero | tr '\0' v)"
    expect_status 0 "put a" s put a 1
    expect_status 0 "del" s del key00010
    expect_status 0 "del" s del key02999
    expect_status 0 "tag v1" s tag v1
    expect_status 0 "branch b2" s branch b2
    expect_status 0 "put on b2" s -b b2 put only-on-b2 yes
    expect_status 0 "put after the branch" s put after-branch 1
    write_ms=$(( ($(date +%s%N) - t0) / 1000000 ))

    expect_status 0 "refs" s refs
    cp "$tmp/out" "$tmp/refs"
    [ "$(wc -l <"$tmp/refs")" -ge 3 ] || fail "cairn refs: $(cat "$tmp/refs")"
    expect_status 0 "stats" s stats --json
    cp "$tmp/out" "$tmp/stats.json"

    # ---- the independent reader
    t0=$(date +%s%N)
    expect_status 0 "s3_reader on the store" python3 "$reader" "$CAIRN_S3_BUCKET" "$prefix"
    read_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    cp "$tmp/out" "$tmp/reader.out"
    cp "$tmp/err" "$tmp/reader.err"
    grep -Eq '^blobs [0-9]+$' "$tmp/reader.out" || fail "reader printed no blob count: $(cat "$tmp/reader.out")"
    grep -Eq '^packs [1-9][0-9]*$' "$tmp/reader.out" || fail "reader read no pack: $(cat "$tmp/reader.out")"
    grep -Eq '^bytes [1-9][0-9]*$' "$tmp/reader.out" || fail "reader read no bytes: $(cat "$tmp/reader.out")"
    grep -Eq '^ref meta/config [0-9a-f]{64}$' "$tmp/reader.out" || fail "reader found no meta/config"

    # Its refs as `cairn refs` writes them (KIND NAME COMMIT): heads/ are
    # branches, tags/ tags; meta/config is not a commit ref.
    python3 - "$tmp/reader.out" "$tmp/refs" <<'EOF' || fail "refs differ (above)"
import sys
mine = []
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] != "ref" or f[1] == "meta/config":
        continue
    kind, _, name = f[1].partition("/")
    mine.append("%s %s %s" % ({"heads": "branch", "tags": "tag"}[kind], name, f[2]))
theirs = [l.rstrip("\n") for l in open(sys.argv[2]) if l.strip()]
if sorted(mine) != sorted(theirs):
    print("reader: %s\ncairn refs: %s" % (sorted(mine), sorted(theirs)), file=sys.stderr)
    sys.exit(1)
want = {"branch main", "branch b2", "tag v1"}
if {" ".join(l.split()[:2]) for l in theirs} != want:
    print("cairn refs lists %s, want %s" % (theirs, want), file=sys.stderr)
    sys.exit(1)
EOF
    s3_blobs=$(python3 -c '
import json, sys
st = json.load(open(sys.argv[1]))
t = [t for t in st["tiers"] if t.get("spec", "").startswith("s3://") or t.get("name") == "s3"]
assert len(t) == 1, st["tiers"]
print(t[0]["blobs"])' "$tmp/stats.json") || fail "no S3 tier in stats: $(cat "$tmp/stats.json")"
    expect_eq "$(sed -n 's/^blobs //p' "$tmp/reader.out")" "$s3_blobs" "blobs: reader vs cairn stats"
    s3_bytes=$(python3 -c '
import json, sys
st = json.load(open(sys.argv[1]))
print([t for t in st["tiers"] if t.get("spec", "").startswith("s3://")][0]["bytes"])' "$tmp/stats.json")
    expect_eq "$(sed -n 's/^bytes //p' "$tmp/reader.out")" "$s3_bytes" "bytes: reader vs cairn stats"

    # ---- damage: the reader and cairn refuse a head whose end line is altered
    expect_eq "$(req GET "$url/head")" 200 "GET head"
    cp "$tmp/body" "$tmp/head.good"
    tail -n 1 "$tmp/head.good" | grep -Eq '^end [0-9a-f]{64}$' || fail "head's last line: $(tail -n 1 "$tmp/head.good")"
    python3 - "$tmp/head.good" "$tmp/head.bad" <<'EOF'
import sys
raw = open(sys.argv[1], "rb").read()
assert raw.endswith(b"\n")
last = raw[-2:-1]
flip = b"0" if last != b"0" else b"1"
open(sys.argv[2], "wb").write(raw[:-2] + flip + b"\n")
EOF
    cmp -s "$tmp/head.good" "$tmp/head.bad" && fail "the altered head is the same"
    expect_eq "$(req PUT "$url/head" "$tmp/head.bad")" 200 "PUT the altered head"
    expect_status 1 "s3_reader on an altered head" python3 "$reader" "$CAIRN_S3_BUCKET" "$prefix"
    expect_err "refused: damaged head: end hash" "s3_reader's message on an altered head"
    [ ! -s "$tmp/out" ] || fail "s3_reader printed refs from an altered head: $(cat "$tmp/out")"
    rc=0
    s refs >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" != 0 ] || fail "cairn refs accepted an altered head: $(cat "$tmp/out")"
    [ -s "$tmp/err" ] || fail "cairn refs refused an altered head without a message"
    echo "cairn refs on an altered head: exit $rc: $(head -c 300 "$tmp/err")"

    # a torn head (no end line) and text after the end line: refused too
    head -n -1 "$tmp/head.good" >"$tmp/head.torn"
    expect_eq "$(req PUT "$url/head" "$tmp/head.torn")" 200 "PUT the torn head"
    expect_status 1 "s3_reader on a torn head" python3 "$reader" "$CAIRN_S3_BUCKET" "$prefix"
    expect_err "refused: damaged head: no end line" "s3_reader's message on a torn head"
    { cat "$tmp/head.good"; echo "epoch 9"; } >"$tmp/head.after"
    expect_eq "$(req PUT "$url/head" "$tmp/head.after")" 200 "PUT a head with text after end"
    expect_status 1 "s3_reader on text after end" python3 "$reader" "$CAIRN_S3_BUCKET" "$prefix"
    expect_err "refused: damaged head: text after its end line" "s3_reader's message on text after end"

    # ---- damage a pack (the head put back first)
    expect_eq "$(req PUT "$url/head" "$tmp/head.good")" 200 "PUT the good head back"
    pack=$(grep -m1 '^pack ' "$tmp/head.good" | cut -d' ' -f2)
    expect_eq "$(req GET "$url/packs/$pack.pack")" 200 "GET pack $pack"
    cp "$tmp/body" "$tmp/pack.good"
    # its first record's first byte flipped: that blob no longer hashes to its id
    python3 - "$tmp/pack.good" "$tmp/pack.rec" <<'EOF2'
import struct, sys
raw = bytearray(open(sys.argv[1], "rb").read())
assert struct.unpack(">Q", raw[-16:-8])[0] > 0, "pack without records"
raw[0] ^= 0x01
open(sys.argv[2], "wb").write(raw)
EOF2
    expect_eq "$(req PUT "$url/packs/$pack.pack" "$tmp/pack.rec")" 200 "PUT a pack with a damaged record"
    expect_status 1 "s3_reader on a damaged record" python3 "$reader" "$CAIRN_S3_BUCKET" "$prefix"
    expect_err "refused: pack $pack: blob [0-9a-f]{64} at [0-9]+\\+[0-9]+ hashes to" \
        "s3_reader's message on a damaged record"
    # its footer checksum altered, with the head's INDEX and end hash made to
    # match: only the XXH64 check can catch it
    python3 - "$tmp/pack.good" "$tmp/pack.sum" "$tmp/head.good" "$tmp/head.sum" "$pack" <<'EOF2'
import hashlib, sys
raw = bytearray(open(sys.argv[1], "rb").read())
raw[-1] ^= 0x01
open(sys.argv[2], "wb").write(raw)
lines = open(sys.argv[3], "rb").read().decode().split("\n")[:-2]
for i, l in enumerate(lines):
    f = l.split(" ")
    if f[0] == "pack" and f[1] == sys.argv[5]:
        s = 48 * int(f[2]) + 40
        f[4] = hashlib.sha256(bytes(raw[-s:])).hexdigest()
        lines[i] = " ".join(f)
body = ("\n".join(lines) + "\n").encode()
open(sys.argv[4], "wb").write(body + b"end " + hashlib.sha256(body).hexdigest().encode() + b"\n")
EOF2
    expect_eq "$(req PUT "$url/packs/$pack.pack" "$tmp/pack.sum")" 200 "PUT a pack with a wrong checksum"
    expect_eq "$(req PUT "$url/head" "$tmp/head.sum")" 200 "PUT a head matching it"
    expect_status 1 "s3_reader on a wrong pack checksum" python3 "$reader" "$CAIRN_S3_BUCKET" "$prefix"
    expect_err "refused: pack $pack: footer checksum" "s3_reader's message on a wrong pack checksum"
    rc=0
    s refs >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" != 0 ] || fail "cairn refs accepted a pack with a wrong checksum"
    echo "cairn refs on a wrong pack checksum: exit $rc: $(head -c 300 "$tmp/err")"
    expect_eq "$(req PUT "$url/packs/$pack.pack" "$tmp/pack.good")" 200 "PUT the good pack back"

    # and the good head back: both read it again
    expect_eq "$(req PUT "$url/head" "$tmp/head.good")" 200 "PUT the good head back"
    expect_status 0 "s3_reader on the restored head" python3 "$reader" "$CAIRN_S3_BUCKET" "$prefix"
    cmp -s "$tmp/out" "$tmp/reader.out" || fail "the restored head reads differently"
    expect_status 0 "cairn refs on the restored head" s refs
    cmp -s "$tmp/out" "$tmp/refs" || fail "cairn refs differ after the restore"

    cat "$tmp/reader.out"
    echo "cairn-summary: s3_reader_blobs=$s3_blobs s3_reader_write_ms=$write_ms s3_reader_read_ms=$read_ms $(sed -n 's/.*, \([0-9]*\) requests$/s3_reader_requests=\1/p' "$tmp/reader.err")"
    exit 0
fi

# ---- outside: run the above under the fixture
export S3_READER_INNER=1
rc=0
bash "$server" run -- bash "$0" "$bin" || rc=$?
[ $rc != 77 ] || exit 77
[ $rc = 0 ] || fail "the checks under s3-server.sh run failed (exit $rc)"
