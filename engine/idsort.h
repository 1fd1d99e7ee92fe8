/*
 * idsort.h - sets of blob ids too large for memory: appended in any order,
 * sorted and deduplicated on disk, read back in ascending order.
 *
 * gc keeps its candidate and live sets this way (docs/gc.md): a store of
 * 10^8 nodes has 3.2 GB of ids, and memory holds one run of them at a time.
 * Ids are appended to a buffer of run_bytes; a full buffer is sorted and
 * written as a run file; finishing merges the runs (and the buffer) into
 * one sorted file without duplicates.
 *
 * A sorted id file: the 8-byte magic "CAIRNIDS", the count (u64,
 * little-endian), the ids (32 bytes each, ascending, no duplicates), then
 * XXH64 (seed 0) of the ids followed by the count's 8 bytes (u64,
 * little-endian; the count is known only once the ids are written). A reader
 * checks the magic and the count against the size when it opens, and the
 * checksum when it reaches the end, so a truncated or damaged file (a gc
 * killed while writing it) is an error, never a short set.
 */
#ifndef CAIRN_IDSORT_H
#define CAIRN_IDSORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "id.h"

typedef struct cairn_idsort cairn_idsort;

/* Starts a set whose run files go into dir (which must exist), named
 * PREFIX.runN; run_bytes bounds the memory (at least 64 ids' worth). */
int cairn__idsort_open(const char *dir, const char *prefix, size_t run_bytes,
                       cairn_idsort **out);
/* Adds an id (duplicates are fine). Errors: -errno writing a run. */
int cairn__idsort_add(cairn_idsort *s, const cairn_id *id);
/* Writes the sorted, deduplicated set to path (via path.tmp and a rename:
 * a kill leaves the old file or none) and removes the runs. *count gets
 * the number of ids. The set may not be added to afterwards. */
int cairn__idsort_finish(cairn_idsort *s, const char *path, uint64_t *count);
/* Frees the set and removes any run file left. NULL is ignored. */
void cairn__idsort_close(cairn_idsort *s);

/* Reading a sorted id file in order. */
typedef struct cairn_idfile cairn_idfile;

/* Opens path. Errors: -errno; CAIRN_CORRUPT (not an id file, or its size
 * does not match its count). */
int cairn__idfile_open(const char *path, cairn_idfile **out);
uint64_t cairn__idfile_count(const cairn_idfile *f);
/* The next id into *out; 1 when there is one, 0 at the end (after the
 * checksum was found right), or an error: -errno, CAIRN_CORRUPT (ids out
 * of order, a bad checksum). */
int cairn__idfile_next(cairn_idfile *f, cairn_id *out);
void cairn__idfile_close(cairn_idfile *f);

#endif /* CAIRN_IDSORT_H */
