/*
 * gc_mark.h - what a store keeps (docs/gc.md): the commits its retention
 * policy keeps, and every blob they reach, written to a sorted id set on
 * disk (idsort.h) so that memory stays bounded however large the store.
 */
#ifndef CAIRN_GC_MARK_H
#define CAIRN_GC_MARK_H

#include <stdint.h>

#include "engine.h"
#include "idsort.h"

/* A retention policy and the clock it is applied at. A branch keeps its
 * head and, walking back along parents, every commit that one of the rules
 * keeps, up to the first that none keeps: the last keep_last commits
 * (0: the rule is off), commits newer than keep_newer_us (0: off), and
 * commits superseded (their successor on the branch committed) less than
 * grace_us ago. With keep_last and keep_newer_us both off, all history is
 * kept. A tag keeps its commit. */
typedef struct cairn_gc_policy {
    uint64_t keep_last;
    int64_t keep_newer_us;
    int64_t grace_us;
    int64_t now_us; /* microseconds since the Unix epoch */
    /* Pinned commits (engine/pins.h): each is kept whole, with no
     * ancestor, if the rules above do not keep it anyway. Borrowed. */
    const cairn_id *pinned;
    size_t n_pinned;
} cairn_gc_policy;

/* What a mark found. */
typedef struct cairn_gc_mark_stats {
    uint64_t commits;       /* retained commits */
    uint64_t boundaries;    /* retained commits whose parent is not retained */
    uint64_t ids_emitted;   /* ids written to the set, duplicates included */
    uint64_t pinned_only;   /* pinned commits no rule kept, marked for their pin */
} cairn_gc_mark_stats;

/* Adds to live every blob the policy keeps in db: each retained commit
 * (pinned ones too) and
 * the blobs of its version (the oldest retained one of a branch whole,
 * each later one as its delta against its parent: index/delta.h), the
 * blobs the meta/ refs name (settings, policy), and the empty tree's node.
 * Retained commit ids are also added to commits (a set of its own, for the
 * sweep's catch-up), and those whose parent is not retained (or was dropped
 * by an earlier gc: cairn_commit_info.history_dropped) to boundaries. Errors: those of reading commits
 * and nodes (a retained version that cannot be read whole stops the mark:
 * gc must not guess), CAIRN_NOMEM, -errno of the sets. */
int cairn__gc_mark(cairn_db *db, const cairn_gc_policy *policy, cairn_idsort *live,
                   cairn_idsort *commits, cairn_idset *boundaries, cairn_gc_mark_stats *stats);

#endif /* CAIRN_GC_MARK_H */
