/*
 * gcutil.h - the histories gc tests build: random commits where keys are
 * deleted and put back with the same value (so old leaves are referenced
 * again: the case gc's protocol exists for), and a digest of a version's
 * whole contents to check that a kept version reads as it did.
 */
#ifndef CAIRN_GCUTIL_H
#define CAIRN_GCUTIL_H

#include <stdint.h>

#include "cairn.h"

#define GC_KEYS 200 /* keys a history touches */

/* A cheap digest of commit's whole contents (FNV-1a over keys and values,
 * in order); *rc_out gets the first error (0: read whole). */
uint64_t gc_digest_commit(cairn_db *db, const cairn_id *commit, int *rc_out);

/* Opens spec with small nodes (512 bytes: many nodes per commit), or
 * fails the test. */
cairn_db *gc_open_db(const char *spec);
/* The same with open flags (CAIRN_RDONLY...). */
cairn_db *gc_open_db_flags(const char *spec, unsigned flags);

/* One commit of a random batch of puts and deletes drawn from *rng;
 * values depend on the key only, so a delete and a later put bring the old
 * leaf back. Returns the commit's error, CAIRN_BUSY (nothing done) when
 * another holds the writer lock. OUT: *id. */
int gc_commit_batch(cairn_db *db, uint64_t *rng, cairn_id *id);

/* The model-based gc test (gcmodel.c): on a new store at spec, steps of
 * random commits on several branches, branches made and deleted, tags,
 * resets and gc runs with random retention; after each gc every commit
 * the model keeps reads exactly its contents, every other one is gone,
 * and verify passes. Fails the test otherwise. */
void gc_model_run(const char *spec, uint64_t seed, int steps);

/* n commits of gc_commit_batch, each changing something (one that
 * changes nothing is drawn again): their ids into ids and the digest of
 * each version (gc_digest_commit) into digests. Fails the test on an error. */
void gc_history(cairn_db *db, uint64_t *rng, cairn_id *ids, uint64_t *digests, int n);

#endif /* CAIRN_GCUTIL_H */
