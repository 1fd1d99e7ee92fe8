#!/usr/bin/env bash
# test_powerloss.sh - simulated power loss, in the style of SQLite's crash
# tests (issue 8). For each stack (file:DIR?io=syscall&pack=5, lmdb:DIR,
# lmdb:DIR>file:DIR2?io=syscall&pack=5 with half the workload; pack=5 makes
# the imports write packs and the small puts loose files) it:
#
#  1. runs a workload through the cairn command (init; small puts, puts
#     above the inline limit so value blobs are written, deletes, two
#     imports that write many-node trees, tags, a branch, a tag deletion)
#     under the LD_PRELOAD shim tests/crashsim/shim.c, which performs every
#     file-system call under the store's directory and logs it with its
#     bytes; after each command returns, an ACK record naming what that
#     command acknowledged (main's head, the refs) goes into the same log;
#  2. self-checks the shim: replaying every logged call onto the snapshot
#     taken before the run gives the final directory byte for byte
#     (tests/crashsim/replay.py), or the test fails;
#  3. at every crash point (just before each fsync, fdatasync, sync or
#     O_DSYNC write in the log, and at its end) builds crash states with
#     tests/crashsim/replay.py: what was durable stays, and every call not
#     yet durable is kept, dropped or torn (writes; 512-byte sectors), the
#     two extremes (keep all, drop all) plus CAIRN_CRASHSIM_VARIANTS random
#     mixes (default 1). The model, precisely: the header of replay.py and
#     docs/testing.md. Identical states are checked once.
#  4. opens each state with cairn (not under the shim) and checks: verify
#     exits 0; main's head is the commit acknowledged last before the crash
#     point or a later one (never earlier), with exactly that commit's
#     contents; acknowledged tags and branches are there and an
#     acknowledged tag deletion stays deleted; the store takes one more
#     commit. A state that fails is a lost acknowledged commit or a corrupt
#     recovery; it is kept (with the snapshot and the log) under
#     $CAIRN_CRASHSIM_KEEP (default /tmp) and the command to rebuild it is
#     printed.
#
# Prints "cairn-summary: crash_points=N lost_acked=L corrupt_recoveries=C"
# and fails if L or C is not 0. Seed: CAIRN_TEST_SEED. Stacks:
# CAIRN_CRASHSIM_STACKS=file,lmdb,follower (the default; also: cached,
# mem:4M>lmdb:DIR, whose disk calls are lmdb's). The shim
# is built only without sanitizers (ASan must come first in LD_PRELOAD);
# without it the test is skipped (77). Not under the shim: the io=uring
# path (io_uring submissions bypass libc); test_engine_crash covers it with
# SIGKILL.
# Usage: test_powerloss.sh PATH/TO/cairn [PATH/TO/libcairn_crashsim.so]
source "$(dirname "$0")/lib.sh" "$@"

shim=${2:-${CAIRN_CRASHSIM_SHIM:-$(dirname "$bin")/crashsim/libcairn_crashsim.so}}
if [[ ! -f $shim ]]; then
    echo "skip: no crash shim at $shim (it is built only without sanitizers)"
    exit 77
fi
[[ $shim == /* ]] || shim=$PWD/$shim
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }

# The crash states are checked on tmpfs when there is one: cairn fsyncs
# there cost nothing, and the test is about what the model keeps, not the
# disk. (States that fail are copied to $CAIRN_CRASHSIM_KEEP.)
scratch=$tmp
if [[ -d /dev/shm && -w /dev/shm ]] && shm=$(mktemp -d -p /dev/shm cairn-powerloss.XXXXXX); then
    scratch=$shm
    trap 'rm -rf "$tmp" "$shm"' EXIT
fi
python3 "$(dirname "$0")/../crashsim/powerloss.py" "$bin" "$shim" "$scratch"
echo ok
