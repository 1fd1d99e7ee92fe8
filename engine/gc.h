/*
 * gc.h - garbage collection (docs/gc.md): list every tier's blobs, mark
 * what the retention policy keeps, and sweep the rest in batches, each
 * under the writer lock after catching the mark up with what was
 * committed meanwhile (the protocol that keeps a resurrected old blob).
 *
 * Internal for now: the public cairn_gc() and `cairn gc` come with the
 * policy record, pins and the S3 sweep (issue 11).
 */
#ifndef CAIRN_GC_H
#define CAIRN_GC_H

#include "gc_mark.h"

#define CAIRN_GC_TIERS_MAX 8

typedef struct cairn_gc_tier_result {
    uint64_t blobs_before, bytes_before; /* listed at the start */
    uint64_t blobs_dead, bytes_dead;     /* found dead by the mark */
    uint64_t blobs_freed;                /* deleted (0 in a dry run) */
} cairn_gc_tier_result;

typedef struct cairn_gc_result {
    cairn_gc_mark_stats mark;
    uint64_t live_ids;
    uint64_t caught_up_commits; /* committed during the gc, marked before a batch */
    uint64_t kept_late;         /* dead at the mark, kept: a later commit needs them */
    uint64_t batches;
    size_t n_tiers;
    cairn_gc_tier_result tiers[CAIRN_GC_TIERS_MAX];
} cairn_gc_result;

/* Runs gc on db under policy, with its id files in work_dir (removed at
 * the end). dry_run: list and mark, count what is dead, delete nothing.
 * Every tier must support scan_from and remove_many (mem, lmdb, file).
 * Errors: those of the mark, of listing and deleting, CAIRN_BUSY if the
 * writer lock stays taken for too long, -errno of the id files. */
int cairn__gc_run(cairn_db *db, const cairn_gc_policy *policy, const char *work_dir,
                  bool dry_run, cairn_gc_result *out);

#endif /* CAIRN_GC_H */
