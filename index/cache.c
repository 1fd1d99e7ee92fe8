/* cache.c - the node cache: lock-free lookups, CLOCK eviction, epoch-based
 * freeing (see cache.h). */
#include "alloc.h"
#include "cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "id.h"

#define N_SHARDS 16
/* Hash buckets per byte of capacity: one per KiB, so chains stay short for
 * nodes of the usual sizes; the table never grows (readers walk it without
 * a lock). At least BUCKETS_MIN per shard. */
#define BYTES_PER_BUCKET 1024
#define BUCKETS_MIN 64
/* Evicted nodes waiting for readers to leave before the cache drops them;
 * below this many, freeing is not worth a scan of the reader slots. */
#define RETIRED_BATCH 32
/* Hit and miss counters, striped by thread so that readers do not share a
 * written cache line. */
#define STRIPES 16

typedef struct shard {
    pthread_mutex_t mu; /* taken by inserts and evictions, never by lookups */
    _Atomic(cairn_node *) *buckets;
    size_t mask;
    cairn_node *hand; /* CLOCK: the next node to look at; NULL when empty */
    size_t n_nodes, bytes, capacity;
    cairn_node *retired; /* newest first, chained by ring_next */
    size_t n_retired;
} shard;

/* Padded to a cache line (heap memory is not aligned to one, so two
 * stripes may share a line's edge; that is all). */
typedef struct stripe {
    _Atomic uint64_t hits;
    _Atomic uint64_t misses;
    char pad[64 - 2 * sizeof(uint64_t)];
} stripe;

struct cairn_cache {
    shard shards[N_SHARDS];
    stripe stripes[STRIPES];
};

static shard *shard_of(cairn_cache *c, const cairn_id *id)
{
    return &c->shards[id->bytes[31] % N_SHARDS];
}

static _Atomic(cairn_node *) *bucket_of(const shard *s, const cairn_id *id)
{
    return &s->buckets[cairn__id_hash(id) & s->mask];
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

size_t cairn__cache_capacity(const cairn_cache *c)
{
    return c->shards[0].capacity * N_SHARDS;
}

int cairn__cache_open(size_t capacity_bytes, cairn_cache **out)
{
    size_t per_shard = capacity_bytes / N_SHARDS;
    size_t n_buckets = pow2_at_least(per_shard / BYTES_PER_BUCKET);
    cairn_cache *c;

    *out = NULL;
    if (n_buckets < BUCKETS_MIN)
        n_buckets = BUCKETS_MIN;
    if (!(c = cairn__calloc(1, sizeof(*c))))
        return CAIRN_NOMEM;
    for (int i = 0; i < N_SHARDS; i++) {
        shard *s = &c->shards[i];
        s->capacity = per_shard;
        s->mask = n_buckets - 1;
        if (!(s->buckets = cairn__calloc(n_buckets, sizeof(*s->buckets)))) {
            cairn__cache_close(c);
            return CAIRN_NOMEM;
        }
        pthread_mutex_init(&s->mu, NULL);
    }
    *out = c;
    return 0;
}

void cairn__node_release(cairn_node *nd)
{
    if (nd && atomic_fetch_sub_explicit(&nd->refs, 1, memory_order_acq_rel) == 1)
        cairn__free(nd);
}

/* Drops the cache's reference to every node of a chain linked by ring_next
 * (n of them; a ring is circular, so the count ends the walk). */
static void release_chain(cairn_node *nd, size_t n)
{
    while (n-- > 0 && nd) {
        cairn_node *next = nd->ring_next;
        cairn__node_release(nd);
        nd = next;
    }
}

void cairn__cache_close(cairn_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < N_SHARDS; i++) {
        shard *s = &c->shards[i];
        if (!s->buckets) /* open failed before this shard */
            continue;
        release_chain(s->hand, s->n_nodes);
        release_chain(s->retired, s->n_retired);
        cairn__free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    cairn__free(c);
}

static stripe *my_stripe(cairn_cache *c)
{
    return &c->stripes[cairn__ebr_thread_index() % STRIPES];
}

cairn_node *cairn__cache_lookup(cairn_cache *c, const cairn_id *id)
{
    shard *s = shard_of(c, id);
    cairn_node *nd = atomic_load_explicit(bucket_of(s, id), memory_order_acquire);

    for (; nd; nd = atomic_load_explicit(&nd->hash_next, memory_order_acquire)) {
        if (!cairn__id_eq(&nd->id, id))
            continue;
        /* Written only when it changes: hot nodes stay clean in every
         * reader's cache. */
        if (!atomic_load_explicit(&nd->referenced, memory_order_relaxed))
            atomic_store_explicit(&nd->referenced, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&my_stripe(c)->hits, 1, memory_order_relaxed);
        return nd;
    }
    atomic_fetch_add_explicit(&my_stripe(c)->misses, 1, memory_order_relaxed);
    return NULL;
}

_Atomic(cairn_node *) *cairn__cache_bucket(cairn_cache *c, const cairn_id *id)
{
    _Atomic(cairn_node *) *bucket = bucket_of(shard_of(c, id), id);
    __builtin_prefetch((const void *)bucket);
    return bucket;
}

cairn_node *cairn__cache_get(cairn_cache *c, const cairn_id *id)
{
    cairn_node *nd;

    cairn__ebr_enter();
    /* A node found in a section still holds the cache's reference (it is
     * dropped only after the section ends), so pinning it is safe. */
    if ((nd = cairn__cache_lookup(c, id)))
        cairn__node_pin(nd);
    cairn__ebr_exit();
    return nd;
}

/* ---- under the shard's mutex ------------------------------------------ */

static cairn_node *find_locked(shard *s, const cairn_id *id)
{
    cairn_node *nd = atomic_load_explicit(bucket_of(s, id), memory_order_relaxed);
    for (; nd; nd = atomic_load_explicit(&nd->hash_next, memory_order_relaxed))
        if (cairn__id_eq(&nd->id, id))
            return nd;
    return NULL;
}

/* Unlinks nd from its chain. nd keeps its own link, so that a reader
 * standing on it walks on. */
static void hash_remove(shard *s, cairn_node *nd)
{
    _Atomic(cairn_node *) *link = bucket_of(s, &nd->id);
    cairn_node *at;
    while ((at = atomic_load_explicit(link, memory_order_relaxed)) != nd)
        link = &at->hash_next;
    atomic_store_explicit(link, atomic_load_explicit(&nd->hash_next, memory_order_relaxed),
                          memory_order_release);
}

/* Puts nd just behind the hand: the last the hand reaches. */
static void ring_insert(shard *s, cairn_node *nd)
{
    if (!s->hand) {
        nd->ring_next = nd->ring_prev = nd;
        s->hand = nd;
        return;
    }
    nd->ring_next = s->hand;
    nd->ring_prev = s->hand->ring_prev;
    nd->ring_prev->ring_next = nd;
    s->hand->ring_prev = nd;
}

static void ring_remove(shard *s, cairn_node *nd)
{
    if (nd->ring_next == nd) {
        s->hand = NULL;
        return;
    }
    nd->ring_prev->ring_next = nd->ring_next;
    nd->ring_next->ring_prev = nd->ring_prev;
    if (s->hand == nd)
        s->hand = nd->ring_next;
}

/* Evicts one node other than keep: the first the hand finds not read since
 * it last passed, clearing the marks it passes. Returns false if it found
 * none within two turns (readers keep marking). */
static bool evict_one(shard *s, const cairn_node *keep)
{
    for (size_t step = 0; step < 2 * s->n_nodes + 2 && s->hand; step++) {
        cairn_node *v = s->hand;
        s->hand = v->ring_next;
        if (v == keep)
            continue;
        if (atomic_load_explicit(&v->referenced, memory_order_relaxed)) {
            atomic_store_explicit(&v->referenced, 0, memory_order_relaxed);
            continue;
        }
        ring_remove(s, v);
        hash_remove(s, v);
        s->n_nodes--;
        s->bytes -= v->mem;
        v->retired_at = cairn__ebr_retire_epoch();
        v->ring_next = s->retired;
        s->retired = v;
        s->n_retired++;
        return true;
    }
    return false;
}

/* Takes off the retired list the nodes no reader can still see, newest
 * first being the list's order. Returns them chained by ring_next. */
static cairn_node *take_freeable(shard *s, size_t *n)
{
    uint64_t safe = cairn__ebr_safe_epoch();
    cairn_node **link = &s->retired, *freeable;
    size_t kept = 0;

    while (*link && (*link)->retired_at >= safe) {
        link = &(*link)->ring_next;
        kept++;
    }
    freeable = *link;
    *link = NULL;
    *n = s->n_retired - kept;
    s->n_retired = kept;
    return freeable;
}

cairn_node *cairn__cache_put(cairn_cache *c, cairn_node *nd)
{
    shard *s = shard_of(c, &nd->id);
    _Atomic(cairn_node *) *bucket = bucket_of(s, &nd->id);
    cairn_node *old, *freeable = NULL;
    size_t n_freeable = 0;

    pthread_mutex_lock(&s->mu);
    if ((old = find_locked(s, &nd->id))) {
        cairn__node_pin(old);
        pthread_mutex_unlock(&s->mu);
        cairn__node_release(nd);
        return old;
    }
    cairn__node_pin(nd); /* the cache's reference */
    atomic_store_explicit(&nd->referenced, 0, memory_order_relaxed);
    atomic_store_explicit(&nd->hash_next, atomic_load_explicit(bucket, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(bucket, nd, memory_order_release); /* readers see it whole */
    ring_insert(s, nd);
    s->n_nodes++;
    s->bytes += nd->mem;
    while (s->bytes > s->capacity && evict_one(s, nd))
        ;
    if (s->n_retired >= RETIRED_BATCH)
        freeable = take_freeable(s, &n_freeable);
    pthread_mutex_unlock(&s->mu);
    release_chain(freeable, n_freeable);
    return nd;
}

void cairn__cache_stats(cairn_cache *c, cairn_cache_stats *out)
{
    out->hits = out->misses = out->bytes = out->nodes = 0;
    for (int i = 0; i < STRIPES; i++) {
        out->hits += atomic_load_explicit(&c->stripes[i].hits, memory_order_relaxed);
        out->misses += atomic_load_explicit(&c->stripes[i].misses, memory_order_relaxed);
    }
    for (int i = 0; i < N_SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        out->bytes += s->bytes;
        out->nodes += s->n_nodes;
        pthread_mutex_unlock(&s->mu);
    }
}
