# lib.sh - what the cli tests share; each test sources it with its own
# arguments: source "$(dirname "$0")/lib.sh" "$@"
# Sets bin (the cairn binary, absolute), tmp (a fresh directory removed at
# exit) and db (an lmdb store under tmp), and defines the helpers below.
set -euo pipefail

bin=${1:?usage: $0 PATH/TO/cairn}
[[ $bin == /* ]] || bin=$PWD/$bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db="lmdb:$tmp/db"
unset CAIRN_STACK

# fail MESSAGE: reports a failed check and ends the test.
fail() { echo "FAIL: $*" >&2; exit 1; }
# c ARGS...: runs cairn on $db.
c() { "$bin" -s "$db" "$@"; }
# expect_eq GOT WANT WHAT
expect_eq() { [[ "$1" == "$2" ]] || fail "$3: got '$1', want '$2'"; }
# expect_status WANT WHAT CMD...: runs CMD, output in $tmp/out and $tmp/err.
expect_status() {
    local want=$1 what=$2 got=0
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    [[ $got == "$want" ]] || fail "$what: exit $got, want $want; stderr: $(cat "$tmp/err")"
}
# expect_err PATTERN WHAT: the last stderr matches PATTERN (grep -E).
expect_err() { grep -Eq -- "$1" "$tmp/err" || fail "$2: stderr '$(cat "$tmp/err")' lacks /$1/"; }

# under_s3_fixture: runs this test again inside scripts/s3-server.sh run (a
# real S3 service on loopback, its address in AWS_*), unless it already runs
# there; inside, sets server (the fixture script) and proxy (cairn-netproxy).
under_s3_fixture() {
    server=$(cd "$(dirname "$0")/../../scripts" && pwd)/s3-server.sh
    if [ -z "${CAIRN_S3_FIXTURE_INNER:-}" ]; then
        export CAIRN_S3_FIXTURE_INNER=1
        local rc=0
        bash "$server" run -- bash "$0" "$bin" || rc=$?
        exit $rc
    fi
    proxy=${CAIRN_NETPROXY:-$(dirname "$bin")/cairn-netproxy}
    [ -x "$proxy" ] || fail "no cairn-netproxy at $proxy"
}
