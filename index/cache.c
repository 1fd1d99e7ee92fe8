/* cache.c - sharded LRU cache of decoded nodes (see cache.h). */
#include "alloc.h"
#include "cache.h"

#include <pthread.h>
#include <stdlib.h>

#include "id.h"

#define N_SHARDS 16
#define BUCKETS_MIN 256

typedef struct shard {
    pthread_mutex_t mu;
    cairn_node **buckets;
    size_t n_buckets, n_nodes, bytes, capacity;
    cairn_node lru; /* sentinel: lru.lru_next is the most recently used */
    uint64_t hits, misses;
} shard;

struct cairn_cache {
    shard shards[N_SHARDS];
};

static shard *shard_of(cairn_cache *c, const cairn_id *id)
{
    return &c->shards[id->bytes[31] % N_SHARDS];
}

static size_t bucket_of(const shard *s, const cairn_id *id)
{
    return cairn__id_hash(id) & (s->n_buckets - 1);
}

int cairn__cache_open(size_t capacity_bytes, cairn_cache **out)
{
    cairn_cache *c;
    int i;

    *out = NULL;
    if (!(c = cairn__calloc(1, sizeof(*c))))
        return CAIRN_NOMEM;
    for (i = 0; i < N_SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->n_buckets = BUCKETS_MIN;
        s->capacity = capacity_bytes / N_SHARDS;
        s->lru.lru_next = s->lru.lru_prev = &s->lru;
        if (!(s->buckets = cairn__calloc(s->n_buckets, sizeof(*s->buckets)))) {
            cairn__cache_close(c);
            return CAIRN_NOMEM;
        }
    }
    *out = c;
    return 0;
}

void cairn__node_release(cairn_node *nd)
{
    if (nd && atomic_fetch_sub_explicit(&nd->refs, 1, memory_order_acq_rel) == 1)
        cairn__free(nd);
}

void cairn__cache_close(cairn_cache *c)
{
    int i;
    if (!c)
        return;
    for (i = 0; i < N_SHARDS; i++) {
        shard *s = &c->shards[i];
        cairn_node *nd, *next;
        if (!s->lru.lru_next) /* never initialised: open failed before it */
            continue;
        for (nd = s->lru.lru_next; nd != &s->lru; nd = next) {
            next = nd->lru_next;
            cairn__node_release(nd);
        }
        cairn__free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    cairn__free(c);
}

static void lru_unlink(cairn_node *nd)
{
    nd->lru_prev->lru_next = nd->lru_next;
    nd->lru_next->lru_prev = nd->lru_prev;
}

static void lru_push_front(shard *s, cairn_node *nd)
{
    nd->lru_next = s->lru.lru_next;
    nd->lru_prev = &s->lru;
    s->lru.lru_next->lru_prev = nd;
    s->lru.lru_next = nd;
}

static cairn_node *find(shard *s, const cairn_id *id)
{
    cairn_node *nd;
    for (nd = s->buckets[bucket_of(s, id)]; nd; nd = nd->hash_next)
        if (cairn__id_eq(&nd->id, id))
            return nd;
    return NULL;
}

static void hash_remove(shard *s, cairn_node *nd)
{
    cairn_node **pp = &s->buckets[bucket_of(s, &nd->id)];
    while (*pp != nd)
        pp = &(*pp)->hash_next;
    *pp = nd->hash_next;
}

/* Doubles the bucket array when chains grow long; on allocation failure
 * the table just stays denser. */
static void maybe_grow(shard *s)
{
    cairn_node **nb, *nd, *next;
    size_t i, n = s->n_buckets * 2;

    if (s->n_nodes < s->n_buckets * 2 || !(nb = cairn__calloc(n, sizeof(*nb))))
        return;
    for (i = 0; i < s->n_buckets; i++) {
        for (nd = s->buckets[i]; nd; nd = next) {
            size_t b = cairn__id_hash(&nd->id) & (n - 1);
            next = nd->hash_next;
            nd->hash_next = nb[b];
            nb[b] = nd;
        }
    }
    cairn__free(s->buckets);
    s->buckets = nb;
    s->n_buckets = n;
}

cairn_node *cairn__cache_get(cairn_cache *c, const cairn_id *id)
{
    shard *s = shard_of(c, id);
    cairn_node *nd;

    pthread_mutex_lock(&s->mu);
    if ((nd = find(s, id))) {
        cairn__node_pin(nd);
        lru_unlink(nd);
        lru_push_front(s, nd);
        s->hits++;
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->mu);
    return nd;
}

cairn_node *cairn__cache_put(cairn_cache *c, cairn_node *nd)
{
    shard *s = shard_of(c, &nd->id);
    cairn_node *old, *victim, *evicted = NULL;

    pthread_mutex_lock(&s->mu);
    if ((old = find(s, &nd->id))) {
        cairn__node_pin(old);
        pthread_mutex_unlock(&s->mu);
        cairn__node_release(nd);
        return old;
    }
    cairn__node_pin(nd); /* the cache's reference */
    nd->hash_next = s->buckets[bucket_of(s, &nd->id)];
    s->buckets[bucket_of(s, &nd->id)] = nd;
    lru_push_front(s, nd);
    s->n_nodes++;
    s->bytes += nd->mem;
    /* Evict from the cold end; collect victims to release outside the lock. */
    while (s->bytes > s->capacity && (victim = s->lru.lru_prev) != nd) {
        lru_unlink(victim);
        hash_remove(s, victim);
        s->n_nodes--;
        s->bytes -= victim->mem;
        victim->lru_next = evicted;
        evicted = victim;
    }
    maybe_grow(s);
    pthread_mutex_unlock(&s->mu);
    while (evicted) {
        victim = evicted;
        evicted = victim->lru_next;
        cairn__node_release(victim);
    }
    return nd;
}

void cairn__cache_stats(cairn_cache *c, cairn_cache_stats *out)
{
    int i;
    out->hits = out->misses = out->bytes = out->nodes = 0;
    for (i = 0; i < N_SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        out->hits += s->hits;
        out->misses += s->misses;
        out->bytes += s->bytes;
        out->nodes += s->n_nodes;
        pthread_mutex_unlock(&s->mu);
    }
}
