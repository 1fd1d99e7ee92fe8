/*
 * bundle.h - bundles: refs and the blobs their history needs, in one file
 * that is a pack (pack.h) whose last record is a manifest naming the refs.
 *
 *     offset 0                                   index_offset      size
 *     +----------------------------+-----------+---------+--------+
 *     | records: blobs, each once  | manifest  | index   | footer |
 *     +----------------------------+-----------+---------+--------+
 *
 * The manifest is an ordinary record (its index entry is the SHA-256 of
 * its bytes), the one that ends where the index begins. It is UTF-8 text;
 * every line ends in "\n":
 *
 *     cairn-bundle 1                 magic and bundle format version
 *     ref NAME ID                    one per ref: NAME 1..216 bytes of
 *     ...                            '!'..'~', ID 64 lowercase hex digits;
 *                                    names strictly ascending (bytewise)
 *     end
 *
 * Ref names and what their blobs are follow the store's (docs/format.md,
 * "Refs"): heads/NAME and tags/NAME name commits, meta/config the settings
 * blob, meta/boundary the boundary list. This module knows only that refs
 * name blobs the bundle holds; what they mean is the engine's
 * (engine/bundle.c checks names and contents).
 *
 * A plain pack reader reads a bundle as a pack (the footer's reserved
 * field stays 0): the manifest is one more blob to it.
 *
 * Writing streams: records are appended as they come, and only the index
 * entries (48 bytes per blob) and a table of the ids written (16 bytes
 * per blob) stay in memory. Reading streams too: a bundle opened as a
 * tier holds its parsed index (48 bytes per blob; twice that, and the
 * suffix read, while parsing) and reads records one by one with pread.
 * Every parse treats the file as hostile: errors are CAIRN_CORRUPT naming
 * the file and what is wrong.
 */
#ifndef CAIRN_BUNDLE_H
#define CAIRN_BUNDLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tier.h"

#define CAIRN_BUNDLE_MAGIC "cairn-bundle"
#define CAIRN_BUNDLE_VERSION 1
/* Longest record a reader accepts: no blob of a store is longer (values
 * are at most CAIRN_VALUE_MAX; nodes far shorter), and no manifest. */
#define CAIRN_BUNDLE_RECORD_MAX ((uint64_t)CAIRN_VALUE_MAX)
/* Longest ref name in a manifest: a branch or tag name and its prefix. */
#define CAIRN_BUNDLE_NAME_MAX (CAIRN_NAME_MAX + 16)

/* A ref as a manifest holds it. */
typedef struct cairn_bundle_ref {
    const char *name;
    cairn_id id;
} cairn_bundle_ref;

/* The manifest of refs[0..n), which must be sorted by name with no two
 * equal and names as above. OUT: *bytes (cairn__free), *len.
 * Errors: CAIRN_BADARG (a bad name, or out of order), CAIRN_NOMEM. */
int cairn__bundle_manifest_encode(const cairn_bundle_ref *refs, size_t n, uint8_t **bytes,
                                  size_t *len);

/* ---- writing ------------------------------------------------------------ */

typedef struct cairn_bundle_writer cairn_bundle_writer;

/* A writer appending a bundle to out from its current position (nothing
 * is written until the first blob). OUT: *w. Errors: CAIRN_NOMEM. */
int cairn__bundle_writer_new(FILE *out, cairn_bundle_writer **w);
/* Sets held[i] to whether blob ids[i] was written already. */
void cairn__bundle_writer_has(const cairn_bundle_writer *w, const cairn_id *ids, size_t n,
                              bool *held);
/* Appends the blobs not written yet (ids are taken as given). Errors:
 * -errno of writing, CAIRN_NOMEM; after one, the writer is unusable. */
int cairn__bundle_writer_put(cairn_bundle_writer *w, const cairn_blob *blobs, size_t n);
/* Appends the manifest of refs[0..n) (sorted, each naming a blob written),
 * the index and the footer, and flushes out. Errors: CAIRN_BADARG (a ref
 * to a blob not written, refs out of order), -errno, CAIRN_NOMEM. */
int cairn__bundle_writer_finish(cairn_bundle_writer *w, const cairn_bundle_ref *refs, size_t n);
/* Records written so far and their bytes (the manifest included once
 * finished). */
void cairn__bundle_writer_counts(const cairn_bundle_writer *w, uint64_t *blobs, uint64_t *bytes);
/* Frees the writer (not out). Accepts NULL. */
void cairn__bundle_writer_free(cairn_bundle_writer *w);

/* ---- reading -------------------------------------------------------------- */

/* Opens the bundle at path as a read-only tier (put and ref_cas fail with
 * CAIRN_RDONLY_STORE): its footer and index are checked as any pack's,
 * its manifest found (the last record), hash-checked and parsed, and every
 * ref it names must be a blob the bundle holds; no record may exceed
 * CAIRN_BUNDLE_RECORD_MAX. The records themselves are not read (see
 * cairn__bundle_check). OUT: *out.
 * Errors: CAIRN_CORRUPT (the detail names path and the first problem),
 * CAIRN_VERSION (a pack or bundle format this build does not read),
 * -errno (open, read), CAIRN_NOMEM. */
int cairn__bundle_open(const char *path, cairn_tier **out);

/* Reads every record of bundle tier t in file order and checks that it
 * hashes to its id; progress (may be NULL) hears the records and bytes
 * checked now and then. The index is put in file order and back in place,
 * so nothing else may use t meanwhile. Errors: CAIRN_CORRUPT naming the file, the
 * record's offset and id; -errno. */
int cairn__bundle_check(cairn_tier *t, void (*progress)(void *ctx, uint64_t blobs, uint64_t bytes),
                        void *ctx);

/* Whether t is a bundle opened by cairn__bundle_open. */
bool cairn__is_bundle(const cairn_tier *t);

#endif /* CAIRN_BUNDLE_H */
