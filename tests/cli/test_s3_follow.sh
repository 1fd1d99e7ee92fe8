#!/usr/bin/env bash
# test_s3_follow.sh - follow mode on S3 (scripts/s3-server.sh run): a
# `cairn follow` process prints the branch's commit id at start and each
# new one as a writer in another process commits (one line each, in order,
# none twice), and stops cleanly on SIGTERM; an idle follower polls with a
# conditional GET (counted through cairn-netproxy: GETs only, each a poll).
# Usage: test_s3_follow.sh PATH/TO/cairn, with CAIRN_NETPROXY the proxy.
source "$(dirname "$0")/lib.sh" "$@"

under_s3_fixture

store="s3://$CAIRN_S3_BUCKET/follow"
"$bin" -s "$store" put k0 v0 >/dev/null

# The follower reads through the proxy, so its requests can be counted.
"$proxy" --listen 127.0.0.1:0 --upstream "${AWS_ENDPOINT_URL#http://}" \
    --port-file "$tmp/port" --stats-file "$tmp/stats" >/dev/null &
proxy_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || fail "the proxy did not start"
"$bin" -s "$store?endpoint=http://127.0.0.1:$(cat "$tmp/port")" follow --follow 1 \
    >"$tmp/followed" 2>"$tmp/follow.err" &
follower=$!
trap 'kill $follower $proxy_pid 2>/dev/null; rm -rf "$tmp"' EXIT

# Each commit at least two polls after the last: the follower sees each.
for i in 1 2 3 4; do
    sleep 2.5
    "$bin" -s "$store" put "k$i" "v$i" >/dev/null
done
sleep 2.5
# Idle: count the follower's requests over a few polls.
before=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' "$tmp/stats")
sleep 5
after=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' "$tmp/stats")
kill -TERM $follower
wait $follower || true

"$bin" -s "$store" log | cut -f1 | cut -d' ' -f1 | tac >"$tmp/want"
if ! diff "$tmp/want" "$tmp/followed" >"$tmp/diff"; then
    fail "the follower printed other versions than the writer made: $(cat "$tmp/diff")"
fi
expect_eq "$(wc -l <"$tmp/followed")" 5 "versions followed"
idle=$((after - before))
# One conditional GET a second, give or take the edges of the window.
((idle >= 3 && idle <= 7)) || fail "an idle follower made $idle requests in 5 s at --follow 1"
grep -q "puts=0 " "$tmp/stats" || fail "the follower wrote: $(cat "$tmp/stats")"
echo "follow: 5 versions seen in order; idle: $idle requests in 5 s (GETs answered 304)"
