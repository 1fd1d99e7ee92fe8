/*
 * cache.h - the shared cache of decoded nodes.
 *
 * Nodes are immutable and named by their hash, so a cached node is never
 * stale. The cache is split into shards by id, each with its own mutex,
 * hash chain table and LRU list, and bounded by the total bytes of the
 * nodes it holds. A node handed out is pinned (refcount); eviction only
 * drops the cache's own reference, so a pinned node stays valid until its
 * last user releases it.
 */
#ifndef CAIRN_CACHE_H
#define CAIRN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "node.h"

typedef struct cairn_cache cairn_cache;

int cairn__cache_open(size_t capacity_bytes, cairn_cache **out);
/* Frees the cache and every node no one pins. */
void cairn__cache_close(cairn_cache *c);

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
