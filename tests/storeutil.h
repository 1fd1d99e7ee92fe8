/*
 * storeutil.h - whole stores for the copy and bundle tests: random
 * history, and the checks that two stores hold the same versions.
 */
#ifndef CAIRN_STOREUTIL_H
#define CAIRN_STOREUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "cairn.h"

/* The spec of a store of kind "mem", "lmdb" or "file" named name under
 * dir ("mem" for mem: every open is a store of its own). */
void store_spec(char *out, size_t cap, const char *kind, const char *dir, const char *name);
/* Opens spec with node_size (0: default) and flags, or fails the test. */
cairn_db *store_open(const char *spec, uint32_t node_size, unsigned flags);

/* One commit of n_ops random operations on branch (NULL: main): puts of
 * binary keys and values (some over the inline limit, some in keyspace
 * "other"), and deletes. Keys come from a set of a few thousand, so later
 * commits change and delete earlier keys. OUT: *head (may be NULL). */
void store_commit_random(cairn_db *db, const char *branch, int n_ops, cairn_id *head);
/* commits random commits: on main mostly, on dev every fifth, and a tag
 * now and then (tags t1, t2, ...). */
void store_history(cairn_db *db, int commits);

/* Blobs the store's primary holds (its stats). */
uint64_t store_blobs(cairn_db *db);
/* cairn_verify finds no problem, or fails the test naming the first. */
void store_verify_ok(cairn_db *db, const char *what);
/* "KIND NAME ID\n" per branch and tag, in name order, into out. */
void store_refs_text(cairn_db *db, char *out, size_t cap);
/* The branch or tag name resolves to the same commit in both stores, with
 * the same history (commit ids, in log order, and where gc's boundary
 * ends it), and its version reads the same root in both. Where a's history
 * ends at a boundary of gc, b may hold more of it (copied before that gc):
 * store_same_history does not allow that. */
void store_same_ref(cairn_db *a, cairn_db *b, const char *name);
void store_same_history(cairn_db *a, cairn_db *b, const char *name);
/* Only the head: name resolves to the same commit in both, whose version
 * reads the same root (b may hold more, or less, of its history). */
void store_same_head(cairn_db *a, cairn_db *b, const char *name);
/* Every branch and tag of a is in b, the same (store_same_ref); with
 * exact, b has no others. */
void store_same_refs(cairn_db *a, cairn_db *b, bool exact);
/* Every key and value of both keyspaces at version at, the same bytes in
 * both stores (read, not only compared by id). */
void store_same_contents(cairn_db *a, cairn_db *b, const char *at);

#endif /* CAIRN_STOREUTIL_H */
