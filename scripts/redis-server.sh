#!/usr/bin/env bash
# redis-server.sh - a real redis-server for the tests of the Redis tier,
# bound to 127.0.0.1 on a free port, its files under one folder. Its use:
# docs/testing.md ("The Redis fixture").
#
#   redis-server.sh start DIR          start a server under DIR (created if
#                                      missing, else empty), write DIR/env
#   redis-server.sh stop DIR           stop it, remove DIR (idempotent)
#   redis-server.sh kill DIR           SIGKILL it (DIR and its env stay): a
#                                      crash, or a server gone under a reader
#   redis-server.sh restart DIR        start it again on the same port and
#                                      folder (after kill, or stopping it
#                                      first if it runs): with AOF on, it
#                                      reloads what it had
#   redis-server.sh run -- CMD ARGS... start one in a fresh folder, run CMD
#                                      with DIR/env in its environment, stop,
#                                      exit with CMD's status
#
# DIR/env exports CAIRN_REDIS_URL (redis://127.0.0.1:PORT), CAIRN_REDIS_PORT,
# CAIRN_REDIS_PID, CAIRN_REDIS_DIR (DIR) and CAIRN_REDIS_FIXTURE (this
# script, so that a test can kill and restart the server).
#
# The server saves nothing (--save '' --appendonly no) unless
# CAIRN_REDIS_AOF=always or everysec asks for an append-only file with that
# appendfsync. CAIRN_REDIS_WAIT bounds each wait (seconds, default 20).
#
# The binary: redis-server on PATH, else a link named redis-server to
# /usr/bin/redis-check-rdb, which is the same program (Redis picks its mode
# from argv[0]; Debian's redis-server package only adds that link and a
# daemon's init script). Missing, the redis-tools package is installed with
# apt-get; without apt the script exits 77 (the tests' "skip"). Every wait
# is bounded; a failed start prints the end of the server's log.
set -euo pipefail

wait_s=${CAIRN_REDIS_WAIT:-20}
self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

die() { echo "redis-server: $*" >&2; exit 1; }

# ensure_binary DIR: prints the path of a redis-server to run.
ensure_binary() {
    local dir=$1 sudo=
    if command -v redis-server >/dev/null; then command -v redis-server; return; fi
    if [ ! -x /usr/bin/redis-check-rdb ]; then
        command -v apt-get >/dev/null ||
            { echo "redis-server: no redis-server and no apt-get to install redis-tools; skipping" >&2; exit 77; }
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null ||
                { echo "redis-server: not root and no sudo; skipping" >&2; exit 77; }
            sudo=sudo
        fi
        (
            flock -w 600 9 || die "timed out waiting for another fixture's apt-get"
            [ -x /usr/bin/redis-check-rdb ] && exit 0
            echo "redis-server: installing redis-tools" >&2
            export DEBIAN_FRONTEND=noninteractive
            $sudo apt-get update -qq >&2
            $sudo apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
                redis-tools >&2
        ) 9>"${TMPDIR:-/tmp}/cairn-redis-server-apt.lock" || die "could not install redis-tools"
    fi
    mkdir -p "$dir/bin"
    ln -sf /usr/bin/redis-check-rdb "$dir/bin/redis-server"
    echo "$dir/bin/redis-server"
}

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

# pick_port: a free port in [10000, 32700), below the ephemeral range.
pick_port() {
    local used port
    used=" $(used_ports | tr '\n' ' ') "
    for _ in $(seq 1 50); do
        port=$((10000 + (16#$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')) % 22700))
        [[ $used == *" $port "* ]] || { echo "$port"; return 0; }
    done
    die "no free port found"
}

alive() {
    local stat state
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    state=${stat##*) }
    [ "${state%% *}" != Z ]
}

# ours PID PORT: PID is a redis-server listening on PORT (Redis rewrites
# its command line to "redis-server 127.0.0.1:PORT"), so a stale pid file
# never kills a stranger.
ours() {
    [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "127.0.0.1:$2"
}

# ping PORT: the server answers PONG.
ping() {
    local reply
    reply=$(timeout 2 redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null) && [ "$reply" = PONG ]
}

# try_start DIR PORT: one attempt; 0 started, 2 the port was taken, 1 failed.
try_start() {
    local dir=$1 port=$2 bin pid deadline aof=()
    bin=$(ensure_binary "$dir")
    case ${CAIRN_REDIS_AOF:-} in
        "") aof=(--appendonly no) ;;
        always|everysec) aof=(--appendonly yes --appendfsync "$CAIRN_REDIS_AOF") ;;
        *) die "CAIRN_REDIS_AOF must be always or everysec, not '$CAIRN_REDIS_AOF'" ;;
    esac
    setsid "$bin" --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' "${aof[@]}" \
        --daemonize no --logfile "$dir/redis.log" --databases 16 </dev/null \
        >>"$dir/redis.out" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/redis.pid"
    deadline=$((SECONDS + wait_s))
    until ping "$port"; do
        if ! alive "$pid"; then
            grep -qs 'Address already in use' "$dir/redis.log" "$dir/redis.out" && return 2
            echo "redis-server: the server exited at start; last lines of its log:" >&2
            tail -n 20 "$dir/redis.log" "$dir/redis.out" >&2 2>/dev/null || true
            return 1
        fi
        if [ $SECONDS -ge "$deadline" ]; then
            echo "redis-server: no PONG after $wait_s s; last lines of its log:" >&2
            tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
            kill -KILL "$pid" 2>/dev/null || true
            return 1
        fi
        sleep 0.02
    done
    cat >"$dir/env.tmp" <<EOF
export CAIRN_REDIS_URL=redis://127.0.0.1:$port
export CAIRN_REDIS_PORT=$port
export CAIRN_REDIS_PID=$pid
export CAIRN_REDIS_DIR=$dir
export CAIRN_REDIS_FIXTURE=$self
EOF
    mv "$dir/env.tmp" "$dir/env"
}

# stop_server DIR SIGNAL: sends SIGNAL (then SIGKILL after 10 s) to DIR's
# server and waits, bounded, for it to go.
stop_server() {
    local dir=$1 sig=$2 pid port deadline
    pid=$(cat "$dir/redis.pid" 2>/dev/null) || return 0
    port=$(sed -n 's/^export CAIRN_REDIS_PORT=//p' "$dir/env" 2>/dev/null)
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && ours "$pid" "$port" || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.02; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    deadline=$((SECONDS + 5))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.02; done
    ! alive "$pid" || echo "redis-server: pid $pid would not die" >&2
}

cmd_start() {
    local dir=${1:?usage: redis-server.sh start DIR} rc attempt
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    for attempt in 1 2 3 4 5; do
        rc=0
        try_start "$dir" "$(pick_port)" || rc=$?
        [ $rc = 2 ] || break
        echo "redis-server: the port was taken meanwhile; trying another" >&2
        rm -f "$dir/redis.log" "$dir/redis.out" "$dir/redis.pid"
    done
    [ $rc = 0 ] || exit 1
    echo "redis-server: $(sed -n 's/^export CAIRN_REDIS_URL=//p' "$dir/env")" >&2
}

cmd_kill() {
    local dir=${1:?usage: redis-server.sh kill DIR}
    [ -f "$dir/env" ] || die "$dir holds no fixture"
    stop_server "$dir" KILL
}

cmd_restart() {
    local dir=${1:?usage: redis-server.sh restart DIR} port rc=0
    [ -f "$dir/env" ] || die "$dir holds no fixture"
    dir=$(cd "$dir" && pwd)
    port=$(sed -n 's/^export CAIRN_REDIS_PORT=//p' "$dir/env")
    stop_server "$dir" TERM
    try_start "$dir" "$port" || rc=$?
    [ $rc = 0 ] || die "could not start again on port $port"
}

cmd_stop() {
    local dir=${1:?usage: redis-server.sh stop DIR}
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd)
    [ -e "$dir/redis.pid" ] || [ -e "$dir/env" ] || [ -z "$(ls -A "$dir")" ] ||
        die "$dir holds no fixture; not removing it"
    stop_server "$dir" TERM
    rm -rf "$dir"
}

cmd_run() {
    local dir rc=0 child=
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: redis-server.sh run -- CMD ARGS..."
    dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-redis.XXXXXX")
    on_signal() {
        trap - INT TERM
        [ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true
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
    kill) shift; cmd_kill "$@" ;;
    restart) shift; cmd_restart "$@" ;;
    run) shift; cmd_run "$@" ;;
    *) echo "usage: redis-server.sh start DIR | stop DIR | kill DIR | restart DIR | run -- CMD ARGS..." >&2
       exit 2 ;;
esac
