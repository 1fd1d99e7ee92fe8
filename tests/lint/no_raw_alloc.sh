#!/usr/bin/env bash
# no_raw_alloc.sh SRCDIR - fails if library code (base/, tiers/, index/,
# engine/) calls libc's allocator directly instead of base/alloc.h, or uses
# a libc function that hands back malloc'd memory (getline, strdup,
# asprintf, open_memstream, realpath with a NULL buffer ...), or
# msgpack-c's sbuffer (which reallocs with libc): such memory would bypass
# the allocator installed with cairn_set_allocator and be released by the
# wrong one. base/alloc.c is the one file allowed to call libc's.
set -euo pipefail
cd "$1"
pattern='(^|[^[:alnum:]_.>])(malloc|calloc|realloc|reallocarray|free|strdup|strndup|getline|getdelim|asprintf|vasprintf|open_memstream|realpath|aligned_alloc|posix_memalign|msgpack_sbuffer_[a-z_]+|msgpack_zone_[a-z_]+|msgpack_unpacker_[a-z_]+)[[:space:]]*\('
# Comments are skipped roughly: lines that start a comment or continue one.
hits=$(grep -rn -E "$pattern" base tiers index engine --include='*.c' --include='*.h' |
       grep -v '^base/alloc\.c:' |
       grep -v -E '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)' || true)
if [ -n "$hits" ]; then
    echo "raw allocation in library code (use base/alloc.h):"
    echo "$hits"
    exit 1
fi
echo "ok: library code allocates only through base/alloc.h"
