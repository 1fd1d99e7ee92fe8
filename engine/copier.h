/*
 * copier.h - copying history from a store into somewhere else by Merkle
 * delta: what followers catching up (replicate.c), copies between stores
 * (copy.c) and bundles (bundle.c) share.
 *
 * The walk: for a head, the commits back to one the destination already
 * holds whole (a commit in `complete`), a first commit, or a commit whose
 * history gc dropped in the source (a boundary); then, oldest first, each
 * commit's version diffed against its parent's (cairn__version_delta), so
 * that only what changed is read and offered. Each commit object follows
 * its trees. Offered blobs gather in batches: one has_many of the
 * destination per batch, one get_many of the source for the blobs whose
 * bytes the walk did not already hold (commits and value blobs), one
 * put_many of what the destination lacks. So the destination only ever
 * holds a commit once it holds its trees (in the order of the batches).
 */
#ifndef CAIRN_COPIER_H
#define CAIRN_COPIER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "idset.h"

/* Blobs are offered to the destination in batches of at most this many,
 * or bytes. */
#define CAIRN_COPY_BATCH 256
#define CAIRN_COPY_BATCH_BYTES (16u << 20)

/* ---- refs as tiers hold them ("heads/main", "tags/v1", "meta/config") -- */

typedef struct cairn__ref {
    char name[CAIRN_REF_NAME_MAX + 1];
    cairn_id id;
} cairn__ref;

typedef struct cairn__ref_list {
    cairn__ref *v;
    size_t n, cap;
} cairn__ref_list;

/* Appends name -> id. A NULL id is a damaged ref: CAIRN_CORRUPT naming it
 * (so the function can be a tier's ref_list visitor). Errors: CAIRN_NOMEM. */
int cairn__ref_list_add(void *list, const char *name, const cairn_id *id);
/* Every ref of tier t whose name starts with prefix, in name order. OUT:
 * *out (free with cairn__ref_list_free, also on failure). */
int cairn__ref_list_tier(cairn_tier *t, const char *prefix, cairn__ref_list *out);
/* The same, read from a stack's primary. */
int cairn__ref_list_stack(cairn_stack *st, const char *prefix, cairn__ref_list *out);
const cairn__ref *cairn__ref_list_find(const cairn__ref_list *l, const char *name);
/* Sorts by name (bytewise), the order tiers list them in. */
void cairn__ref_list_sort(cairn__ref_list *l);
void cairn__ref_list_free(cairn__ref_list *l);
/* Whether a ref names a blob of the store's own (settings, the boundary
 * list: "meta/...") rather than a commit. */
bool cairn__ref_is_meta(const char *name);

/* ---- where copied blobs go -------------------------------------------- */

typedef struct cairn__sink {
    /* Sets out[i] to whether the destination holds blob i. */
    int (*has_many)(void *ctx, const cairn_id *ids, size_t n, bool *out);
    /* Writes the blobs (ids unique within a call, none of them held). */
    int (*put_many)(void *ctx, const cairn_blob *blobs, size_t n);
    void *ctx;
} cairn__sink;

/* A sink writing into one tier. */
cairn__sink cairn__sink_tier(cairn_tier *t);

/* ---- the copier --------------------------------------------------------- */

/* What a copier does with what the destination lacks. */
enum cairn__copy_mode {
    CAIRN__COPY_WRITE,      /* read it from the source, put it */
    CAIRN__COPY_CHECK,      /* write nothing: check that the source holds it
                               (commits and value blobs are looked up, not read;
                               nodes were read by the walk) */
    CAIRN__COPY_CHECK_SAME, /* CHECK, also remembering what it found (an id set)
                               so that the counts are those of a real run */
};

typedef struct cairn__copier {
    cairn_db *src;            /* read from (blobs, commits, trees) */
    cairn__sink sink;         /* written to */
    enum cairn__copy_mode mode;
    cairn_id ids[CAIRN_COPY_BATCH];
    void *bytes[CAIRN_COPY_BATCH]; /* copies of the walk's node bytes, or NULL */
    size_t lens[CAIRN_COPY_BATCH];
    size_t n, batch_bytes;
    cairn_idset seen;         /* CHECK_SAME: the ids a real run would write */
    /* Counts so far. */
    uint64_t commits;         /* commits walked (the destination lacked them whole) */
    uint64_t blobs_copied, bytes_copied;
    uint64_t blobs_skipped;   /* offered, but the destination held them already */
    /* Commits the walks stopped at because the source's gc dropped their
     * parent, where the destination does not hold the parent whole either:
     * the destination must list them in its own meta/boundary. */
    cairn_idset boundaries;
    /* Called after each batch (may be NULL). */
    void (*progress)(void *ctx, const char *phase, uint64_t blobs, uint64_t bytes);
    void *progress_ctx;
    const char *phase;
} cairn__copier;

/* Sets up c (zeroed first) to copy from src into sink. OUT: *c (release
 * with cairn__copier_clear). */
void cairn__copier_init(cairn__copier *c, cairn_db *src, cairn__sink sink,
                        enum cairn__copy_mode mode);
/* Frees what c holds (pending bytes, sets); unflushed blobs are dropped. */
void cairn__copier_clear(cairn__copier *c);

/* Offers one blob: bytes (copied) if the caller has them, else NULL (read
 * from the source at the flush). Flushes a full batch. */
int cairn__copier_add(cairn__copier *c, const cairn_id *id, const void *bytes, size_t len);
/* Writes what is queued: the blobs the destination lacks. */
int cairn__copier_flush(cairn__copier *c);

/* Offers what the destination lacks of head's history: the commits back to
 * one in complete (versions the destination holds whole), a first commit,
 * or a boundary of the source's gc; each commit's version is diffed
 * against its parent's, the oldest against the commit the walk stopped at
 * (in complete), else against fallback (a commit the destination holds
 * whole and the source holds too, or NULL: the empty version). Adds every
 * commit walked to complete, and boundaries reached to c->boundaries.
 * Errors: those of reading the source (CAIRN_MISSING, CAIRN_CORRUPT), of
 * the sink, CAIRN_NOMEM. */
int cairn__copier_history(cairn__copier *c, const cairn_id *head, const cairn_id *fallback,
                          cairn_idset *complete);

/* Offers head's version alone, for a write-back tier's sync (replicate.c:
 * versions superseded between two syncs never reach the tier): its delta
 * against fallback's version (the commit the destination's ref named,
 * which it holds whole) or the empty version, then the commit. Unless its
 * parent is in complete (or it has none), head is added to c->boundaries:
 * the destination then holds it without its history. Adds head to
 * complete. Errors: as cairn__copier_history. */
int cairn__copier_head(cairn__copier *c, const cairn_id *head, const cairn_id *fallback,
                       cairn_idset *complete);

/* ---- copies (copy.c) ---------------------------------------------------- */

/* The branches and tags of src that names[0..n_names) select (each name:
 * the branch and the tag of that name, whichever exist; none: all), as
 * "heads/NAME" and "tags/NAME", in name order. OUT: *out.
 * Errors: CAIRN_NOTFOUND naming a name that selects nothing, CAIRN_BADARG
 * (a bad name), CAIRN_CORRUPT (a damaged ref of src). */
int cairn__copy_select(cairn_db *src, const char *const *names, size_t n_names,
                       cairn__ref_list *out);

/* cairn_copy. With bundle (the path of the bundle src was opened on),
 * the history to copy is first walked without writing (CAIRN__COPY_CHECK),
 * so that a source that lacks a blob or holds one that does not decode (a
 * hostile bundle) is refused before the destination changes: CAIRN_CORRUPT
 * naming the bundle. */
int cairn__copy(cairn_db *src, cairn_db *dst, const char *const *names, size_t n_names,
                const cairn_copy_options *opts, cairn_copy_report *report, const char *bundle);

/* The error rc of reading the bundle at path, as the caller reports it:
 * CAIRN_MISSING becomes CAIRN_CORRUPT ("bundle PATH lacks a blob its
 * history needs: ..."), and a detail that does not name the bundle gets
 * "bundle PATH: " in front. Returns the code. */
int cairn__bundle_refused(const char *path, int rc);

#endif /* CAIRN_COPIER_H */
