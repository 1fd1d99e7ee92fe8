#!/usr/bin/env bash
# test_s3_fixture.sh - the S3 test fixtures themselves: scripts/s3-server.sh
# (Ceph's RADOS Gateway on one node) and cairn-netproxy (latency and HTTP
# faults). Under "s3-server.sh run": signed PUT and GET with curl, directly
# and through the proxy (which counts requests by method); a conditional
# create on an existing key (412); a wrong secret (403); a second bucket
# (create-bucket); TLS (CAIRN_S3_TLS_ENDPOINT: verified with
# CAIRN_S3_CA_FILE, refused without it and for another host name) and
# virtual-host style (BUCKET.localhost, over http and TLS, reading back
# by path style what it wrote); the proxy's faults
# (500:1 answers 500 and is counted, 503:1 SlowDown, drop:1 leaves the
# object written though the client heard nothing, stall:1 answers nothing,
# reset:1 and "down" reset connections, "up" heals; --delay-ms). Then:
# run passes on the command's status, no daemon of the fixture outlives it
# (by pid) and its folder is gone, also when run is sent SIGTERM.
# Usage: test_s3_fixture.sh PATH/TO/cairn, with CAIRN_NETPROXY the proxy
# (default: beside cairn). Skips (77) only where the packages cannot be
# installed.
source "$(dirname "$0")/lib.sh" "$@"

server=$(cd "$(dirname "$0")/../../scripts" && pwd)/s3-server.sh
proxy=${CAIRN_NETPROXY:-$(dirname "$bin")/cairn-netproxy}
[ -x "$proxy" ] || fail "no cairn-netproxy at $proxy"
empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# req METHOD URL [FILE [CURL ARGS...]]: a SigV4-signed request with FILE as
# its body ("" for none), as $key:$secret (default: the fixture's user);
# prints the HTTP status (000 if none came), the body lands in $tmp/body.
req() {
    local method=$1 url=$2 file=${3:-} sha=$empty_sha256 body=()
    shift 2
    [ $# -gt 0 ] && shift
    if [ -n "$file" ]; then
        sha=$(sha256sum <"$file" | cut -d' ' -f1)
        body=(--data-binary "@$file" -H "Content-Type: application/octet-stream")
    fi
    curl -s -o "$tmp/body" -w '%{http_code}' --max-time 20 -X "$method" \
        --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
        --user "${key:-$AWS_ACCESS_KEY_ID}:${secret:-$AWS_SECRET_ACCESS_KEY}" \
        -H "x-amz-content-sha256: $sha" "${body[@]}" "$@" "$url" || true
}

# alive_daemons PID...: those of PID still running as a ceph daemon.
alive_daemons() {
    local pid
    for pid in "$@"; do
        [ -r "/proc/$pid/cmdline" ] || continue
        grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && continue
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -Eq 'ceph|radosgw' && echo "$pid"
    done
    return 0
}

# ---- inside "s3-server.sh run" (the fixture's env is set)
if [ -n "${S3_FIXTURE_TEST_OUT:-}" ]; then
    for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL AWS_REGION \
             CAIRN_S3_BUCKET CAIRN_S3_DIR; do
        [ -n "${!v:-}" ] || fail "run did not set $v"
    done
    expect_eq "$AWS_REGION" us-east-1 "AWS_REGION"
    [[ $AWS_ENDPOINT_URL =~ ^http://127\.0\.0\.1:([0-9]+)$ ]] || fail "endpoint $AWS_ENDPOINT_URL"
    (( BASH_REMATCH[1] < 32768 )) || fail "endpoint port ${BASH_REMATCH[1]} not below 32768"
    # What the outer test checks after the fixture stopped.
    echo "$CAIRN_S3_DIR" >"$S3_FIXTURE_TEST_OUT/dir"
    cat "$CAIRN_S3_DIR"/pids/*.pid >"$S3_FIXTURE_TEST_OUT/pids"
    [ "$(wc -l <"$S3_FIXTURE_TEST_OUT/pids")" -eq 3 ] || fail "want 3 daemon pids"
    mapfile -t pids <"$S3_FIXTURE_TEST_OUT/pids"
    [ "$(alive_daemons "${pids[@]}" | wc -l)" -eq 3 ] || fail "the daemons are not running"

    bucket=$AWS_ENDPOINT_URL/$CAIRN_S3_BUCKET
    head -c 100000 /dev/urandom >"$tmp/obj"
    echo "small object" >"$tmp/small"

    # ---- direct: PUT, GET, conditional create, a wrong secret
    expect_eq "$(req PUT "$bucket/a/obj" "$tmp/obj")" 200 "PUT"
    expect_eq "$(req GET "$bucket/a/obj")" 200 "GET"
    cmp -s "$tmp/body" "$tmp/obj" || fail "GET returned other bytes than were PUT"
    expect_eq "$(req HEAD "$bucket/a/obj" "" -I)" 200 "HEAD"
    expect_eq "$(req GET "$bucket/missing")" 404 "GET of a missing key"
    expect_eq "$(req PUT "$bucket/a/obj" "$tmp/small" -H 'If-None-Match: *')" 412 \
        "conditional create of an existing key"
    expect_eq "$(req PUT "$bucket/a/new" "$tmp/small" -H 'If-None-Match: *')" 200 \
        "conditional create of a new key"
    expect_eq "$(req GET "$bucket/a/obj")" 200 "GET after the refused create"
    cmp -s "$tmp/body" "$tmp/obj" || fail "a refused conditional create changed the object"
    expect_eq "$(secret=wrong-secret req GET "$bucket/a/obj")" 403 "GET with a wrong secret"
    grep -q SignatureDoesNotMatch "$tmp/body" || fail "wrong secret: $(cat "$tmp/body")"
    expect_eq "$(key=NOSUCHKEY0000000000 req GET "$bucket/a/obj")" 403 "GET with an unknown key"

    # ---- a second bucket
    second=cairn-second-$RANDOM
    bash "$server" create-bucket "$second" || fail "create-bucket $second"
    expect_eq "$(req PUT "$AWS_ENDPOINT_URL/$second/k" "$tmp/small")" 200 "PUT in $second"

    # ---- TLS: the same gateway, its certificate verified by the fixture's CA
    for v in CAIRN_S3_TLS_ENDPOINT CAIRN_S3_CA_FILE CAIRN_S3_VHOST_ENDPOINT; do
        [ -n "${!v:-}" ] || fail "run did not set $v"
    done
    http_port=${AWS_ENDPOINT_URL##*:}
    [[ $CAIRN_S3_TLS_ENDPOINT =~ ^https://127\.0\.0\.1:([0-9]+)$ ]] ||
        fail "TLS endpoint $CAIRN_S3_TLS_ENDPOINT"
    tls_port=${BASH_REMATCH[1]}
    (( tls_port < 32768 && tls_port != http_port )) || fail "TLS port $tls_port"
    expect_eq "$CAIRN_S3_VHOST_ENDPOINT" "http://localhost:$http_port" "CAIRN_S3_VHOST_ENDPOINT"
    [ -r "$CAIRN_S3_CA_FILE" ] || fail "no CA file at $CAIRN_S3_CA_FILE"
    ca=(--cacert "$CAIRN_S3_CA_FILE")
    expect_eq "$(req PUT "$CAIRN_S3_TLS_ENDPOINT/$CAIRN_S3_BUCKET/t/obj" "$tmp/obj" "${ca[@]}")" \
        200 "PUT over TLS"
    expect_eq "$(req GET "$bucket/t/obj")" 200 "GET over http of what went over TLS"
    cmp -s "$tmp/body" "$tmp/obj" || fail "GET over http returned other bytes than TLS PUT"
    expect_eq "$(req GET "$CAIRN_S3_TLS_ENDPOINT/$CAIRN_S3_BUCKET/t/obj" "" "${ca[@]}")" 200 \
        "GET over TLS"
    cmp -s "$tmp/body" "$tmp/obj" || fail "GET over TLS returned other bytes"
    # Without the CA (curl's built-in bundle: the machine's may be set in
    # the environment) and for a host name the certificate does not name:
    # curl refuses the certificate (60).
    rc=0
    env -u CURL_CA_BUNDLE -u SSL_CERT_FILE -u SSL_CERT_DIR \
        curl -s -o /dev/null --max-time 20 "$CAIRN_S3_TLS_ENDPOINT/" || rc=$?
    expect_eq "$rc" 60 "curl's exit over TLS without the CA (60: certificate refused)"
    rc=0
    curl -s -o /dev/null --max-time 20 "${ca[@]}" "https://other.localhost:$tls_port/" || rc=$?
    expect_eq "$rc" 60 "curl's exit over TLS for a host name not in the certificate"

    # ---- virtual-host style: the bucket in the host name (rgw_dns_name)
    vhost=http://$CAIRN_S3_BUCKET.localhost:$http_port
    expect_eq "$(req PUT "$vhost/v/obj" "$tmp/obj")" 200 "PUT, virtual-host style"
    expect_eq "$(req GET "$bucket/v/obj")" 200 "GET, path style, of a virtual-host style PUT"
    cmp -s "$tmp/body" "$tmp/obj" || fail "path style read other bytes than virtual-host put"
    expect_eq "$(req GET "https://$CAIRN_S3_BUCKET.localhost:$tls_port/v/obj" "" "${ca[@]}")" \
        200 "GET, virtual-host style over TLS"
    cmp -s "$tmp/body" "$tmp/obj" || fail "virtual-host style over TLS read other bytes"
    expect_eq "$(req GET "$CAIRN_S3_VHOST_ENDPOINT/$CAIRN_S3_BUCKET/v/obj")" 200 \
        "GET, path style with Host localhost (rgw_dns_name itself)"
    expect_eq "$(req GET "$vhost/$CAIRN_S3_BUCKET/v/obj")" 404 \
        "GET of /BUCKET/KEY from BUCKET.localhost (the path is the key: no such key)"

    # ---- through cairn-netproxy
    "$proxy" --listen 127.0.0.1:0 --upstream "${AWS_ENDPOINT_URL#http://}" --seed 7 \
        --port-file "$tmp/port" --control "$tmp/control" --stats-file "$tmp/stats" \
        >"$tmp/proxy.out" 2>"$tmp/proxy.err" &
    proxy_pid=$!
    trap 'kill "$proxy_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
    for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
    [ -s "$tmp/port" ] || fail "the proxy wrote no port file: $(cat "$tmp/proxy.err")"
    port=$(cat "$tmp/port")
    expect_eq "$(head -1 "$tmp/proxy.out")" "$port" "the port the proxy printed"
    via=http://127.0.0.1:$port/$CAIRN_S3_BUCKET
    stat_of() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" "$tmp/stats"; }

    expect_eq "$(req PUT "$via/p/obj" "$tmp/obj")" 200 "PUT through the proxy"
    expect_eq "$(req GET "$via/p/obj")" 200 "GET through the proxy"
    cmp -s "$tmp/body" "$tmp/obj" || fail "GET through the proxy returned other bytes"
    expect_eq "$(req GET "$bucket/p/obj")" 200 "GET directly of what went through the proxy"
    cmp -s "$tmp/body" "$tmp/obj" || fail "the proxy altered a PUT's bytes"
    expect_eq "$(req PUT "$via/p/obj" "$tmp/small" -H 'If-None-Match: *')" 412 \
        "conditional create through the proxy"
    expect_eq "$(secret=wrong-secret req GET "$via/p/obj")" 403 "wrong secret through the proxy"
    expect_eq "$(req HEAD "$via/p/obj" "" -I)" 200 "HEAD through the proxy"
    expect_eq "$(req DELETE "$via/p/nothing")" 204 "DELETE through the proxy"
    expect_eq "$(stat_of forwarded)" 6 "requests forwarded"
    expect_eq "$(stat_of gets) $(stat_of puts) $(stat_of heads) $(stat_of deletes) $(stat_of posts)" \
        "2 2 1 1 0" "requests forwarded by method (gets puts heads deletes posts)"

    # 500:1: every request answered 500 by the proxy, counted.
    echo "500:1" >"$tmp/control"
    for i in 1 2 3; do
        expect_eq "$(req GET "$via/p/obj")" 500 "GET $i under 500:1"
        grep -q '<Code>InternalError</Code>' "$tmp/body" || fail "500 body: $(cat "$tmp/body")"
    done
    expect_eq "$(req PUT "$via/p/under500" "$tmp/small")" 500 "PUT under 500:1"
    expect_eq "$(req GET "$bucket/p/under500")" 404 "a PUT answered 500 by the proxy stored nothing"
    expect_eq "$(stat_of e500)" 4 "500s counted"
    echo "503:1" >"$tmp/control"
    expect_eq "$(req GET "$via/p/obj")" 503 "GET under 503:1"
    grep -q '<Code>SlowDown</Code>' "$tmp/body" || fail "503 body: $(cat "$tmp/body")"

    # drop:1: the server stores the object, the client hears nothing.
    echo "drop:1" >"$tmp/control"
    rc=0
    curl -s -o /dev/null --max-time 20 -X PUT --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: $(sha256sum <"$tmp/obj" | cut -d' ' -f1)" \
        -H "Content-Type: application/octet-stream" --data-binary "@$tmp/obj" \
        "$via/p/dropped" || rc=$?
    expect_eq "$rc" 52 "curl's exit for a dropped response (52: empty reply)"
    expect_eq "$(req GET "$bucket/p/dropped")" 200 "the object of a dropped PUT exists"
    cmp -s "$tmp/body" "$tmp/obj" || fail "the object of a dropped PUT differs"
    expect_eq "$(stat_of drop)" 1 "drops counted"

    # stall:1: no answer (the client gives up after 1 s).
    echo "stall:1" >"$tmp/control"
    rc=0
    curl -s -o /dev/null --max-time 1 "$via/p/obj" || rc=$?
    expect_eq "$rc" 28 "curl's exit for a stalled request (28: timeout)"
    expect_eq "$(stat_of stall)" 1 "stalls counted"

    # reset:1 and down: connections reset.
    echo "reset:1" >"$tmp/control"
    rc=0
    curl -s -o /dev/null --max-time 20 "$via/p/obj" || rc=$?
    expect_eq "$rc" 56 "curl's exit for a reset (56: recv failure)"
    echo down >"$tmp/control"
    for i in 1 2; do
        rc=0
        curl -s -o /dev/null --max-time 20 "$via/p/obj" || rc=$?
        [[ $rc == 7 || $rc == 52 || $rc == 55 || $rc == 56 ]] || fail "request $i while down: curl exit $rc"
    done
    expect_eq "$(stat_of down)" 2 "connections refused while down"
    echo up >"$tmp/control"
    expect_eq "$(req GET "$via/p/obj")" 200 "GET after up"
    cmp -s "$tmp/body" "$tmp/obj" || fail "GET after up returned other bytes"
    expect_eq "$(stat_of reset)" 1 "resets counted"
    expect_eq "$(stat_of requests)" 15 "requests counted"
    expect_eq "$(stat_of forwarded)" 7 "requests forwarded in all"
    # Methods count what reached the server: the dropped PUT too, no faults.
    expect_eq "$(stat_of gets) $(stat_of puts) $(stat_of heads) $(stat_of deletes) $(stat_of posts)" \
        "3 3 1 1 0" "requests sent on by method in all"
    grep -Eq '^requests=[0-9]+ forwarded=[0-9]+ e500=[0-9]+ e503=[0-9]+ reset=[0-9]+ stall=[0-9]+ drop=[0-9]+ down=[0-9]+ gets=' \
        "$tmp/stats" || fail "the stats line's old fields moved: $(cat "$tmp/stats")"

    # --delay-ms: 100 ms each way makes a GET take at least 200 ms.
    kill "$proxy_pid"
    wait "$proxy_pid" 2>/dev/null || true
    rm -f "$tmp/port"
    "$proxy" --listen 127.0.0.1:0 --upstream "${AWS_ENDPOINT_URL#http://}" --delay-ms 100 \
        --port-file "$tmp/port" >/dev/null 2>"$tmp/proxy.err" &
    proxy_pid=$!
    for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
    [ -s "$tmp/port" ] || fail "the delaying proxy wrote no port file"
    ms=$(curl -s -o /dev/null -w '%{time_total}' --max-time 20 \
         "http://127.0.0.1:$(cat "$tmp/port")/" | awk '{ printf "%d", $1 * 1000 }')
    (( ms >= 200 )) || fail "a request through --delay-ms 100 took $ms ms, want >= 200"
    echo "S3_FIXTURE_INNER_OK" >"$S3_FIXTURE_TEST_OUT/ok"
    exit 0
fi

# ---- outside: start, run the checks above, stop, look for leftovers
# no_leftovers WHAT: the daemons and folder of the last run are gone.
no_leftovers() {
    local dir left
    dir=$(cat "$tmp/inner/dir")
    mapfile -t pids <"$tmp/inner/pids"
    left=$(alive_daemons "${pids[@]}" | tr '\n' ' ')
    [ -z "$left" ] || fail "$1: daemons still running: $left"
    [ ! -e "$dir" ] || fail "$1: $dir is still there"
}

mkdir "$tmp/inner"
export S3_FIXTURE_TEST_OUT=$tmp/inner
rc=0
bash "$server" run -- bash "$0" "$bin" || rc=$?
[ $rc != 77 ] || exit 77
[ $rc = 0 ] || fail "the checks under s3-server.sh run failed (exit $rc)"
[ -f "$tmp/inner/ok" ] || fail "the checks under s3-server.sh run did not complete"
no_leftovers "after run"

# run passes on the command's status and stops the fixture then too.
rc=0
bash "$server" run -- bash -c 'cat "$CAIRN_S3_DIR"/pids/*.pid >"$1/pids"
    echo "$CAIRN_S3_DIR" >"$1/dir"; exit 3' sh "$tmp/inner" 2>/dev/null || rc=$?
expect_eq "$rc" 3 "run's exit status with a command exiting 3"
no_leftovers "after a failing command"

# SIGTERM to run: the command is ended and the fixture stopped.
rm -f "$tmp/inner/dir"
bash "$server" run -- bash -c 'cat "$CAIRN_S3_DIR"/pids/*.pid >"$1/pids"
    echo "$CAIRN_S3_DIR" >"$1/dir"; sleep 120' sh "$tmp/inner" 2>/dev/null &
run_pid=$!
for _ in $(seq 1200); do [ -s "$tmp/inner/dir" ] && break; sleep 0.05; done
[ -s "$tmp/inner/dir" ] || fail "run -- CMD did not start CMD within 60 s"
kill -TERM "$run_pid"
rc=0
wait "$run_pid" || rc=$?
expect_eq "$rc" 143 "run's exit status after SIGTERM"
no_leftovers "after SIGTERM"
echo "cairn-summary: s3_fixture_runs=3"
