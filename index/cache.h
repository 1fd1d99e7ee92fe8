/*
 * cache.h - the shared cache of decoded nodes.
 *
 * Nodes are immutable and named by their hash, so a cached node is never
 * stale. The cache is bounded by the bytes of the nodes it holds and split
 * into shards by id, each with a fixed hash table and a CLOCK ring.
 *
 * Reads write nothing shared. A lookup walks the hash chain without a lock
 * inside a read section (ebr.h) and marks the node used with one bit that
 * is left alone when already set; so a warm tree descent takes no lock,
 * moves no list and counts no references. Inserts and evictions take the
 * shard's mutex. An evicted node is retired, not freed: it stays valid for
 * readers already inside a section, and the cache drops its reference once
 * they have all left. A node pinned (a reference of its own) outlives its
 * eviction until its last pin is released.
 */
#ifndef CAIRN_CACHE_H
#define CAIRN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "ebr.h"
#include "node.h"

typedef struct cairn_cache cairn_cache;

int cairn__cache_open(size_t capacity_bytes, cairn_cache **out);
/* The bytes of nodes the cache keeps at most. */
size_t cairn__cache_capacity(const cairn_cache *c);
/* Frees the cache and every node no one pins. No thread may be reading it. */
void cairn__cache_close(cairn_cache *c);

/* Inside a read section (cairn__ebr_enter): the cached node with this id,
 * valid until the section ends and not pinned, or NULL if not cached. */
cairn_node *cairn__cache_lookup(cairn_cache *c, const cairn_id *id);

/* Hints for a lookup to come, so that it finds its lines in the CPU's
 * cache instead of waiting on two dependent misses (bucket, then node).
 * cairn__cache_bucket returns the hash bucket where id would be found and
 * starts loading it; the bucket lives as long as the cache. Later,
 * cairn__cache_warm reads the bucket and starts loading the first lines of
 * the first node on its chain (most likely id's). Neither needs a read
 * section nor dereferences a node: a stale hint costs one wasted prefetch
 * (prefetching freed memory is harmless). */
_Atomic(cairn_node *) *cairn__cache_bucket(cairn_cache *c, const cairn_id *id);

static inline void cairn__cache_warm(_Atomic(cairn_node *) *bucket)
{
    const char *nd = (const char *)atomic_load_explicit(bucket, memory_order_relaxed);
    if (nd) {
        __builtin_prefetch(nd);       /* id, n, hint: what the lookup reads */
        __builtin_prefetch(nd + 64);  /* bytes, refs: what a pin writes */
        __builtin_prefetch(nd + 128); /* the first entries */
    }
}

/* Returns the node with this id, pinned, or NULL if not cached. */
cairn_node *cairn__cache_get(cairn_cache *c, const cairn_id *id);

/* Inserts nd (refs == 1, the caller's pin) and keeps a reference for the
 * cache. If a node with the same id is already cached, nd is released and
 * the cached one is returned pinned instead. Never fails. */
cairn_node *cairn__cache_put(cairn_cache *c, cairn_node *nd);

/* Drops one pin; frees the node when no one (nor the cache) holds it. */
void cairn__node_release(cairn_node *nd);

/* Pins nd once more. */
static inline void cairn__node_pin(cairn_node *nd)
{
    atomic_fetch_add_explicit(&nd->refs, 1, memory_order_relaxed);
}

typedef struct cairn_cache_stats {
    uint64_t hits, misses, bytes, nodes;
} cairn_cache_stats;
void cairn__cache_stats(cairn_cache *c, cairn_cache_stats *out);

#endif /* CAIRN_CACHE_H */
