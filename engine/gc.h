/*
 * gc.h - garbage collection (docs/gc.md): list every tier's blobs, mark
 * what the retention policy keeps, and sweep the rest in batches, each
 * under the writer lock after catching the mark up with what was
 * committed meanwhile (the protocol that keeps a resurrected old blob).
 *
 * cairn_gc() (include/cairn.h) wraps it: options, a work directory.
 */
#ifndef CAIRN_GC_H
#define CAIRN_GC_H

#include "gc_mark.h"

/* A progress report: the phase and a count so far (cairn_gc_options). */
typedef void (*cairn__gc_progress_fn)(void *ctx, const char *phase, uint64_t done);

/* Runs gc on db under policy, with its id files in work_dir (removed at
 * the end). dry_run: list and mark, count what is dead, delete nothing.
 * Every tier must support scan_from and remove_many (mem, lmdb, file).
 * progress may be NULL. Errors: those of the mark, of listing and
 * deleting, CAIRN_BUSY if the writer lock stays taken for too long,
 * -errno of the id files. cairn_gc (gc.c) is the public way in. */
int cairn__gc_run(cairn_db *db, const cairn_gc_policy *policy, const char *work_dir,
                  bool dry_run, cairn__gc_progress_fn progress, void *progress_ctx,
                  cairn_gc_report *out);

#endif /* CAIRN_GC_H */
