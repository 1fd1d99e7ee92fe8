#!/usr/bin/env bash
# s3-server.sh - a real S3 service for the tests: Ceph's RADOS Gateway on a
# single-node cluster (one monitor, one memstore OSD, radosgw with the beast
# front end), everything under one folder and bound to 127.0.0.1. Its use:
# docs/testing.md ("The S3 fixture and the network proxy"); its settings are
# explained above write_conf.
#
#   s3-server.sh start DIR          start a cluster under DIR (created if
#                                   missing, else empty), write DIR/env
#   s3-server.sh stop DIR           stop its daemons, remove DIR (idempotent)
#   s3-server.sh run -- CMD ARGS... start one in a fresh folder, run CMD with
#                                   DIR/env in its environment, stop, exit
#                                   with CMD's status
#   s3-server.sh create-bucket NAME create one more bucket (inside run, or
#                                   with DIR/env sourced)
#
# DIR/env holds AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL
# (http://127.0.0.1:PORT, path style), AWS_REGION, CAIRN_S3_BUCKET (a bucket
# made for the caller), CAIRN_S3_DIR (DIR), and for TLS and virtual-host
# addressing:
#   CAIRN_S3_TLS_ENDPOINT   https://127.0.0.1:TLS_PORT, the same gateway
#                           over TLS, its certificate signed by a CA made
#                           at start (for localhost, 127.0.0.1 and
#                           CAIRN_S3_BUCKET.localhost)
#   CAIRN_S3_CA_FILE        that CA's certificate (PEM), DIR/tls/ca.pem
#   CAIRN_S3_VHOST_ENDPOINT http://localhost:PORT: radosgw takes
#                           BUCKET.localhost as virtual-host style
#                           (rgw_dns_name); libcurl >= 7.85 resolves
#                           *.localhost to loopback by itself
# CAIRN_S3_WAIT bounds each wait (seconds, default 60); CAIRN_S3_KEEP=1
# keeps the logs of a failed start in DIR; CAIRN_S3_PORT_BASE=N makes the
# first attempt use ports N..N+17 unchecked (to test the retry). Missing
# packages are installed with apt-get; without apt the script exits 77 (the
# tests' "skip"). Every wait is bounded; a failed start prints the end of
# the daemon's log, stops what it started and exits 1. Quiet on success but
# for one line on stderr naming the endpoint.
set -euo pipefail

packages=(ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl openssl)
wait_s=${CAIRN_S3_WAIT:-60}          # bound on each wait for a daemon
region=us-east-1
empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

die() { echo "s3-server: $*" >&2; exit 1; }

# ensure_packages: installs what is missing of $packages, once at a time
# across concurrent fixtures (a lock, then a second look). Exits 77 without
# apt-get.
ensure_packages() {
    local missing=() p sudo=
    missing_packages() {
        missing=()
        for p in "${packages[@]}"; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
                missing+=("$p")
        done
    }
    missing_packages
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
        echo "s3-server: no apt-get to install ${missing[*]}; skipping" >&2
        exit 77
    fi
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "s3-server: not root and no sudo; skipping" >&2; exit 77; }
        sudo=sudo
    fi
    (
        flock -w 600 9 || die "timed out waiting for another fixture's apt-get"
        missing_packages
        [ ${#missing[@]} -eq 0 ] && exit 0
        echo "s3-server: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq >&2
        $sudo apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
            "${missing[@]}" >&2
    ) 9>"${TMPDIR:-/tmp}/cairn-s3-server-apt.lock" || die "could not install ${missing[*]}"
}

# rand N: N random bytes as lowercase hex.
rand() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# used_ports: every local TCP port in use (any state), one a line.
used_ports() {
    local f sl local_addr rest
    for f in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] || continue
        while read -r sl local_addr rest; do
            [ "$sl" = "sl" ] && continue
            echo $((16#${local_addr##*:}))
        done <"$f"
    done
}

# pick_base: a random base port in [10000, 32700) with base..base+19 free
# (the fixture uses base..base+17, write_conf says which for what; the rest
# is slack). All stay below 32768, clear of the kernel's ephemeral ports.
pick_base() {
    local used base p ok
    used=" $(used_ports | tr '\n' ' ') "
    for _ in $(seq 1 50); do
        base=$((10000 + (16#$(rand 3)) % 22700))
        ok=1
        for ((p = base; p < base + 20; p++)); do
            [[ $used == *" $p "* ]] && { ok=0; break; }
        done
        [ $ok = 1 ] && { echo "$base"; return 0; }
    done
    die "no free port range found"
}

# alive PID: the process exists and is not a zombie.
alive() {
    local stat state
    # One read: the process may end between a test and a read.
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    state=${stat##*) }
    [ "${state%% *}" != Z ]
}

# ours DIR PID: PID is a daemon of the fixture in DIR (its command line names
# DIR/ceph.conf), so a stale pid file never kills a stranger.
ours() {
    [ -r "/proc/$2/cmdline" ] && tr '\0' ' ' <"/proc/$2/cmdline" | grep -qF -- "$1/ceph.conf"
}

# write_conf DIR BASE: DIR/ceph.conf for monitor port BASE, OSD ports
# BASE+1..BASE+15, radosgw's HTTP port BASE+16 and HTTPS port BASE+17
# (its certificate and key from make_certs, in DIR/tls).
# Each setting that is not obvious was needed (Ceph 16.2, Debian 12):
# - no authentication (loopback only), and then "ms mon client mode = crc",
#   without which radosgw retries its secure mode forever;
# - the paxos intervals: radosgw makes about ten map changes at start,
#   about 1 s each without them (12.5 s to start instead of 1.2 s);
# - beast's tcp_nodelay: kept-alive GETs take 44 ms without it, 1.4 ms with;
# - one replica: pool size 1, min size 1, "mon allow pool size one",
#   chooseleaf type 0 (one host), 8 PGs a pool, no autoscaler, a high
#   "mon max pg per osd", and no warning about the data disk filling;
# - "ms bind retry count = 1": a monitor whose port is taken gives up after
#   1 s instead of 15, and start tries other ports;
# - "rgw dns name = localhost": a request whose Host is BUCKET.localhost is
#   virtual-host style (the bucket from the host name, the key from the
#   path); any other Host (127.0.0.1, localhost itself) stays path style.
write_conf() {
    local dir=$1 base=$2
    cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $(uuidgen)
mon host = v2:127.0.0.1:$base
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
ms bind port min = $((base + 1))
ms bind port max = $((base + 15))
ms bind retry count = 1
ms bind retry delay = 1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
mon data avail warn = 0
mon data avail crit = 0
osd objectstore = memstore

[mon]
mon data = $dir/mon.\$id
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $dir/osd.\$id

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$((base + 16)) ssl_endpoint=127.0.0.1:$((base + 17)) ssl_certificate=$dir/tls/server.pem ssl_private_key=$dir/tls/server.key tcp_nodelay=1
rgw dns name = localhost
rgw data = $dir/rgw
EOF
}

# make_certs DIR BUCKET: a throwaway CA (DIR/tls/ca.pem; its key is
# deleted once it has signed) and a server certificate it signs
# (DIR/tls/server.pem and .key) for localhost, 127.0.0.1 and
# BUCKET.localhost, the last for virtual-host style over TLS: a wildcard
# "*.localhost" is no help, as libcurl refuses a wildcard directly
# under a top-level name. P-256 keys: made in milliseconds. Valid for a
# week: a fixture lives for one test run.
make_certs() {
    local tls=$1/tls bucket=$2
    mkdir -p "$tls"
    (
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
            -subj "/CN=cairn test CA $(rand 4)" -keyout "$tls/ca.key" -out "$tls/ca.pem" \
            -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign &&
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj /CN=localhost -keyout "$tls/server.key" -out "$tls/server.csr" &&
        printf '%s\n' "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
            "subjectAltName=DNS:localhost,DNS:$bucket.localhost,IP:127.0.0.1" \
            "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$tls/server.ext" &&
        openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
            -set_serial "0x$(rand 8)" -days 7 -extfile "$tls/server.ext" -out "$tls/server.pem"
    ) >"$1/log/openssl.out" 2>&1 || return 1
    rm -f "$tls/ca.key" "$tls/server.csr"
    chmod 644 "$tls/ca.pem"
}

# The fixture being started (for the failure path).
cur_dir=

# start_fail LOG MESSAGE: the end of LOG, then stop and exit 1 (or return 2
# for a retry with other ports when LOG shows a port taken meanwhile).
start_fail() {
    local log=$1
    shift
    if grep -qsE 'Address already in use|unable to bind|failed to bind' "$log" "$cur_dir"/log/*; then
        echo "s3-server: a port was taken meanwhile; trying other ports" >&2
        return 2
    fi
    echo "s3-server: $*" >&2
    if [ -f "$log" ]; then
        echo "--- last lines of $log:" >&2
        tail -n 30 "$log" >&2
    fi
    return 1
}

# launch DIR NAME CMD...: runs a daemon in the foreground of a background
# job, its pid in DIR/pids/NAME.pid, its output in DIR/log/NAME.out.
launch() {
    local dir=$1 name=$2
    shift 2
    setsid "$@" </dev/null >>"$dir/log/$name.out" 2>&1 &
    echo $! >"$dir/pids/$name.pid"
}

# wait_for DIR NAME LOG WHAT CHECK...: polls CHECK until it succeeds, while
# the daemon NAME lives, for at most $wait_s seconds.
wait_for() {
    local dir=$1 name=$2 log=$3 what=$4 pid deadline=$((SECONDS + wait_s))
    shift 4
    pid=$(cat "$dir/pids/$name.pid")
    until "$@" >/dev/null 2>&1; do
        alive "$pid" || { start_fail "$log" "$name exited while waiting for $what"; return; }
        [ $SECONDS -lt $deadline ] ||
            { start_fail "$log" "timed out after $wait_s s waiting for $what"; return; }
        sleep 0.05
    done
}

# cceph ARGS...: the ceph command line tool on this cluster, bounded.
cceph() { timeout 20 ceph -c "$cur_dir/ceph.conf" --connect-timeout 5 "$@"; }

# s3 METHOD URL [CURL ARGS...]: a SigV4-signed request without a body or
# query string (curl 7.88 signs neither the payload hash, which radosgw
# requires, nor a query string properly); prints the HTTP status.
s3() { s3_answer "$@" -o /dev/null -w '%{http_code}'; }

# s3_answer METHOD URL [CURL ARGS...]: the same request; prints what curl
# writes (the response's body, unless the arguments say otherwise).
s3_answer() {
    local method=$1 url=$2
    shift 2
    curl -sS --max-time 10 -X "$method" \
        --aws-sigv4 "aws:amz:$region:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: $empty_sha256" "$@" "$url"
}

# mon_up PORT: the monitor answers (its port is open first: the ceph tool
# would wait out its connect timeout on a monitor that failed to bind).
mon_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && cceph mon stat; }
osd_up() { cceph osd dump | grep -q '^osd\.0 up'; }
# http_up URL [CURL ARGS...]: something answers HTTP there (over TLS: with
# a certificate that verifies, given --cacert).
http_up() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${@:2}" "$1")" != 000 ]; }
# signed_ok URL [CURL ARGS...]: a signed GET of URL (a bucket) answers 200.
signed_ok() { [ "$(s3 GET "$@")" = 200 ]; }
# bucket_listed BUCKET URL [CURL ARGS...]: a signed GET of URL lists BUCKET's
# objects. For URL http://BUCKET.localhost:PORT/ only virtual-host style
# does: a gateway that took the host name for no bucket's would answer its
# list of buckets, also with 200.
bucket_listed() {
    local body
    body=$(s3_answer GET "${@:2}") && [[ $body == *"<ListBucketResult"*"<Name>$1</Name>"* ]]
}

# try_start DIR BASE: one attempt; returns 0, 1 (failed) or 2 (retry with
# other ports).
try_start() {
    local dir=$1 base=$2 uuid bucket rgw_port=$(($2 + 16)) tls_port=$(($2 + 17)) code
    cur_dir=$dir
    mkdir -p "$dir"/{run,log,pids,rgw,mon.a,osd.0}
    # The bucket's name first: the certificate names BUCKET.localhost.
    bucket=cairn-test-$(rand 4)
    make_certs "$dir" "$bucket" ||
        { start_fail "$dir/log/openssl.out" "making the TLS certificates failed"; return; }
    write_conf "$dir" "$base"
    local conf=$dir/ceph.conf fsid
    fsid=$(sed -n 's/^fsid = //p' "$conf")

    monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$base]" \
        "$dir/monmap" >"$dir/log/monmaptool.out" 2>&1 ||
        { start_fail "$dir/log/monmaptool.out" "monmaptool failed"; return; }
    timeout "$wait_s" ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" \
        >"$dir/log/mon-mkfs.out" 2>&1 ||
        { start_fail "$dir/log/mon-mkfs.out" "ceph-mon --mkfs failed"; return; }
    launch "$dir" mon.a ceph-mon -c "$conf" -i a -f
    wait_for "$dir" mon.a "$dir/log/mon.a.log" "the monitor" mon_up "$base" || return

    uuid=$(uuidgen)
    cceph osd new "$uuid" >"$dir/log/osd-new.out" 2>&1 ||
        { start_fail "$dir/log/osd-new.out" "ceph osd new failed"; return; }
    timeout "$wait_s" ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" \
        >"$dir/log/osd-mkfs.out" 2>&1 ||
        { start_fail "$dir/log/osd-mkfs.out" "ceph-osd --mkfs failed"; return; }
    launch "$dir" osd.0 ceph-osd -c "$conf" -i 0 -f
    wait_for "$dir" osd.0 "$dir/log/osd.0.log" "osd.0 up" osd_up || return

    launch "$dir" rgw.a radosgw -c "$conf" -n client.rgw.a -f
    wait_for "$dir" rgw.a "$dir/log/client.rgw.a.log" "radosgw's HTTP port" \
        http_up "http://127.0.0.1:$rgw_port/" || return
    wait_for "$dir" rgw.a "$dir/log/client.rgw.a.log" "radosgw's HTTPS port (verified)" \
        http_up "https://127.0.0.1:$tls_port/" --cacert "$dir/tls/ca.pem" || return

    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL=http://127.0.0.1:$rgw_port
    AWS_ACCESS_KEY_ID=$(rand 10 | tr a-f A-F)
    AWS_SECRET_ACCESS_KEY=$(rand 20)
    timeout "$wait_s" radosgw-admin -c "$conf" user create --uid=cairn-test \
        --display-name=cairn-test --access-key="$AWS_ACCESS_KEY_ID" \
        --secret-key="$AWS_SECRET_ACCESS_KEY" >"$dir/log/user-create.out" 2>&1 ||
        { start_fail "$dir/log/user-create.out" "radosgw-admin user create failed"; return; }

    local deadline=$((SECONDS + wait_s))
    until code=$(s3 PUT "$AWS_ENDPOINT_URL/$bucket" 2>>"$dir/log/curl.out") &&
          [ "$code" = 200 ]; do
        [ $SECONDS -lt $deadline ] ||
            { start_fail "$dir/log/client.rgw.a.log" "bucket create: HTTP $code"; return; }
        sleep 0.05
    done
    wait_for "$dir" rgw.a "$dir/log/client.rgw.a.log" "a signed request" \
        signed_ok "$AWS_ENDPOINT_URL/$bucket" || return
    # What DIR/env promises, each checked once: virtual-host style (the
    # bucket in the host name), and TLS, path and virtual-host style, with
    # the CA verifying the certificate.
    wait_for "$dir" rgw.a "$dir/log/client.rgw.a.log" "a virtual-host style request" \
        bucket_listed "$bucket" "http://$bucket.localhost:$rgw_port/" || return
    wait_for "$dir" rgw.a "$dir/log/client.rgw.a.log" "a signed request over TLS" \
        signed_ok "https://127.0.0.1:$tls_port/$bucket" --cacert "$dir/tls/ca.pem" || return
    wait_for "$dir" rgw.a "$dir/log/client.rgw.a.log" "a virtual-host style request over TLS" \
        bucket_listed "$bucket" "https://$bucket.localhost:$tls_port/" --cacert "$dir/tls/ca.pem" ||
        return

    cat >"$dir/env.tmp" <<EOF
export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
export AWS_REGION=$region
export CAIRN_S3_BUCKET=$bucket
export CAIRN_S3_DIR=$dir
export CAIRN_S3_TLS_ENDPOINT=https://127.0.0.1:$tls_port
export CAIRN_S3_CA_FILE=$dir/tls/ca.pem
export CAIRN_S3_VHOST_ENDPOINT=http://localhost:$rgw_port
EOF
    mv "$dir/env.tmp" "$dir/env"
}

# stop_one DIR NAME: SIGTERM to the daemon NAME of DIR, SIGKILL if it is
# still alive after 10 s, then a bounded wait for it to go.
stop_one() {
    local dir=$1 pid deadline
    pid=$(cat "$dir/pids/$2.pid" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && ours "$dir" "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.02; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    deadline=$((SECONDS + 5))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.02; done
    ! alive "$pid" || echo "s3-server: $2 (pid $pid) would not die" >&2
}

# stop_daemons DIR: stops the daemons of DIR, clients first (stopped
# together, an OSD waits 5 s for the gone monitor to hear it leave).
stop_daemons() {
    local name
    for name in rgw.a osd.0 mon.a; do stop_one "$1" "$name"; done
}

cmd_start() {
    local dir=${1:?usage: s3-server.sh start DIR} attempt rc base
    ensure_packages
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    for attempt in 1 2 3 4 5; do
        rc=0
        base=${CAIRN_S3_PORT_BASE:-}
        [ -n "$base" ] && [ "$attempt" = 1 ] || base=$(pick_base)
        try_start "$dir" "$base" || rc=$?
        [ $rc = 0 ] && break
        stop_daemons "$dir"
        [ $rc = 2 ] || [ -z "${CAIRN_S3_KEEP:-}" ] || exit 1
        # Keep DIR itself (the caller named it), empty it for another try.
        find "$dir" -mindepth 1 -delete 2>/dev/null || rm -rf "${dir:?}"/*
        [ $rc = 2 ] || exit 1
    done
    [ $rc = 0 ] || die "ports kept colliding; gave up after $attempt attempts"
    echo "s3-server: $AWS_ENDPOINT_URL (bucket $(sed -n 's/^export CAIRN_S3_BUCKET=//p' "$dir/env"))" >&2
}

cmd_stop() {
    local dir=${1:?usage: s3-server.sh stop DIR}
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd)
    # Never remove a folder that is not a fixture's (or what is left, empty,
    # of a failed start).
    [ -e "$dir/ceph.conf" ] || [ -d "$dir/pids" ] || [ -z "$(ls -A "$dir")" ] ||
        die "$dir holds no fixture; not removing it"
    stop_daemons "$dir"
    rm -rf "$dir"
}

cmd_create_bucket() {
    local name=${1:?usage: s3-server.sh create-bucket NAME} code
    : "${AWS_ENDPOINT_URL:?not set: use inside s3-server.sh run or source DIR/env}"
    code=$(s3 PUT "$AWS_ENDPOINT_URL/$name") || die "create-bucket $name: curl failed"
    [ "$code" = 200 ] || die "create-bucket $name: HTTP $code"
}

# descendants PID: the pids of PID's children, grandchildren and so on.
descendants() {
    local f stat fields kids=() k
    for f in /proc/[0-9]*/stat; do
        stat=$(cat "$f" 2>/dev/null) || continue
        read -ra fields <<<"${stat##*) }"
        [ "${fields[1]}" = "$1" ] && kids+=("${f//[^0-9]/}")
    done
    for k in "${kids[@]}"; do echo "$k"; descendants "$k"; done
}

# kill_tree SIG PID: sends SIG to PID and all its descendants, found first.
kill_tree() {
    local pids
    pids=$(descendants "$2")
    # shellcheck disable=SC2086
    kill "-$1" "$2" $pids 2>/dev/null || true
}

# cmd_run CMD...: start, run CMD (in the background so that SIGINT/SIGTERM
# are handled at once: CMD gets SIGTERM, the cluster is stopped), stop.
cmd_run() {
    local dir rc=0 child=
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: s3-server.sh run -- CMD ARGS..."
    dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-s3.XXXXXX")
    on_signal() {
        trap - INT TERM
        [ -z "$child" ] || kill_tree TERM "$child"
        cmd_stop "$dir"
        exit "$1"
    }
    trap 'cmd_stop "$dir"' EXIT
    trap 'on_signal 130' INT
    trap 'on_signal 143' TERM
    ( cmd_start "$dir" ) || { rc=$?; exit $rc; }
    # shellcheck disable=SC1091
    source "$dir/env"
    "$@" <&0 &
    child=$!
    wait "$child" || rc=$?
    child=
    exit $rc
}

case ${1:-} in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    run) shift; cmd_run "$@" ;;
    create-bucket) shift; cmd_create_bucket "$@" ;;
    *) echo "usage: s3-server.sh start DIR | stop DIR | run -- CMD ARGS... | create-bucket NAME" >&2
       exit 2 ;;
esac
