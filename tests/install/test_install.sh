#!/usr/bin/env bash
# test_install.sh - `cmake --install` into a temporary prefix gives a header,
# static and shared libraries and a relocatable cairn.pc, and a program built
# with `pkg-config --cflags --libs cairn` links against each and runs.
# Usage: test_install.sh BUILD_DIR [EXTRA_CFLAGS]  (e.g. -fsanitize=... for sanitized builds)
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [EXTRA_CFLAGS]}
read -r -a extra_flags <<<"${2:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in include/cairn.h lib/libcairn.a lib/libcairn.so lib/pkgconfig/cairn.pc bin/cairn; do
    [[ -e $tmp/prefix/$f ]] || fail "cmake --install did not install $f"
done

cat >"$tmp/example.c" <<'C'
#include <cairn.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    cairn_db *db;
    cairn_txn *txn;
    cairn_snapshot *snap;
    cairn_val v;
    if (cairn_open("mem", NULL, &db) || cairn_txn_begin(db, NULL, &txn) ||
        cairn_txn_put(txn, NULL, "k", 1, "value", 5) || cairn_txn_commit(txn, NULL, NULL) ||
        cairn_snapshot_open(db, NULL, &snap) || cairn_get(snap, NULL, "k", 1, &v))
        return 1;
    printf("%.*s\n", (int)v.len, (const char *)v.data);
    cairn_snapshot_close(snap);
    cairn_close(db);
    return strcmp(cairn_version(), CAIRN_VERSION_STRING) != 0;
}
C
export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
# shared
gcc -std=c11 "${extra_flags[@]}" "$tmp/example.c" $(pkg-config --cflags --libs cairn) \
    -Wl,-rpath,"$tmp/prefix/lib" -o "$tmp/shared" || fail "linking against the shared library"
[[ $("$tmp/shared") == value ]] || fail "the shared-library example did not read its value"
# static: the archive by name, with the private dependencies pkg-config lists
gcc -std=c11 "${extra_flags[@]}" "$tmp/example.c" $(pkg-config --static --cflags --libs cairn | sed 's/-lcairn /-l:libcairn.a /') \
    -o "$tmp/static" || fail "linking against the static library"
[[ $("$tmp/static") == value ]] || fail "the static example did not read its value"
# Only the public names are exported from the shared library.
extra=$(nm -D --defined-only "$tmp/prefix/lib/libcairn.so" | awk '{print $3}' | grep -v '^cairn_' || true)
[[ -z $extra ]] || fail "libcairn.so exports non-public symbols: $(echo $extra | head -c 300)"
echo "ok"
