/*
 * mem.c - the in-process memory tier: "mem" (an unbounded store that also
 * holds refs) or "mem:CAPACITY" (a cache bounded by payload bytes, evicting
 * the least recently used blobs).
 *
 * Layout: a chained hash table of entries keyed by cairn__id_hash, every
 * entry also on one doubly linked LRU list (most recent at the head), and
 * refs in an array kept sorted by name, pins (tier.h) in a small unsorted
 * array: they live as long as the process. One mutex guards it all: gets
 * move entries on the LRU list, so even readers write.
 *
 *     buckets[h & mask] -> entry -> entry -> NULL      (hash chains)
 *     lru <-> newest <-> ... <-> oldest <-> lru        (sentinel ring)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "id.h"
#include "tier.h"

typedef struct mem_entry {
    struct mem_entry *chain;      /* next entry in the same bucket */
    struct mem_entry *prev, *next; /* LRU ring neighbours */
    cairn_id id;
    size_t len;
    unsigned char data[]; /* the blob's bytes */
} mem_entry;

typedef struct mem_ref {
    char *name; /* malloc'd, NUL-terminated */
    cairn_id id;
} mem_ref;

typedef struct mem_pin {
    char name[CAIRN_PIN_NAME_MAX + 1];
    uint8_t *bytes; /* malloc'd record */
    size_t len;
} mem_pin;

typedef struct mem_tier {
    cairn_tier base; /* must be first */
    pthread_mutex_t mu;
    mem_entry **buckets; /* n_buckets chains, a power of two */
    size_t n_buckets;
    size_t n_entries;
    uint64_t bytes; /* payload bytes held */
    mem_entry lru;  /* sentinel: lru.next is the newest, lru.prev the oldest */
    mem_ref *refs;  /* sorted by name */
    size_t n_refs, cap_refs;
    mem_pin *pins;
    size_t n_pins, cap_pins;
} mem_tier;

#define MEM_MIN_BUCKETS 64

/* ---------------------------------------------------------------- table */

static mem_entry **find_slot(mem_tier *mt, const cairn_id *id)
{
    mem_entry **slot = &mt->buckets[cairn__id_hash(id) & (mt->n_buckets - 1)];

    while (*slot && !cairn__id_eq(&(*slot)->id, id))
        slot = &(*slot)->chain;
    return slot;
}

static void lru_unlink(mem_entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_push_front(mem_tier *mt, mem_entry *e)
{
    e->prev = &mt->lru;
    e->next = mt->lru.next;
    mt->lru.next->prev = e;
    mt->lru.next = e;
}

/* Doubles the bucket array when the table averages more than one entry per
 * bucket. Failing to grow is not an error: chains just get longer. */
static void maybe_grow(mem_tier *mt)
{
    size_t n = mt->n_buckets * 2;
    mem_entry **buckets;

    if (mt->n_entries <= mt->n_buckets)
        return;
    if (!(buckets = cairn__calloc(n, sizeof(*buckets))))
        return;
    for (size_t i = 0; i < mt->n_buckets; i++) {
        mem_entry *e = mt->buckets[i], *chain;
        for (; e; e = chain) {
            mem_entry **head = &buckets[cairn__id_hash(&e->id) & (n - 1)];
            chain = e->chain;
            e->chain = *head;
            *head = e;
        }
    }
    cairn__free(mt->buckets);
    mt->buckets = buckets;
    mt->n_buckets = n;
}

/* Unlinks the entry at *slot from the table and the LRU ring and frees it. */
static void drop_entry(mem_tier *mt, mem_entry **slot)
{
    mem_entry *e = *slot;

    *slot = e->chain;
    lru_unlink(e);
    mt->n_entries--;
    mt->bytes -= e->len;
    cairn__free(e);
}

/* Evicts from the old end of the LRU ring until the payload fits. */
static void evict(mem_tier *mt)
{
    while (mt->base.capacity && mt->bytes > mt->base.capacity && mt->lru.prev != &mt->lru) {
        drop_entry(mt, find_slot(mt, &mt->lru.prev->id));
        atomic_fetch_add_explicit(&mt->base.counters.evictions, 1, memory_order_relaxed);
    }
}

/* ---------------------------------------------------------------- blobs */

/* Copies each blob found into malloc'd memory (one byte for an empty blob,
 * so that data is never NULL for a hit); in a bounded tier a hit becomes
 * the most recently used. */
static int mem_get_many(cairn_tier *t, const cairn_id *ids, size_t n, cairn_buf *out)
{
    mem_tier *mt = (mem_tier *)t;
    int rc = 0;

    pthread_mutex_lock(&mt->mu);
    for (size_t i = 0; i < n; i++) {
        mem_entry *e = *find_slot(mt, &ids[i]);
        if (!e)
            continue;
        if (!(out[i].data = cairn__malloc(e->len ? e->len : 1))) {
            rc = cairn__fail(CAIRN_NOMEM, "mem: out of memory copying a blob of %zu bytes",
                             e->len);
            break;
        }
        memcpy(out[i].data, e->data, e->len);
        out[i].len = e->len;
        if (t->capacity) {
            lru_unlink(e);
            lru_push_front(mt, e);
        }
    }
    pthread_mutex_unlock(&mt->mu);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            cairn__free(out[i].data);
            out[i].data = NULL;
        }
    }
    return rc;
}

/* Stores copies of the blobs. A blob already held only becomes the most
 * recent; a blob larger than the whole capacity is skipped (it could only
 * evict everything and then itself). */
static int mem_put_many(cairn_tier *t, const cairn_blob *blobs, size_t n)
{
    mem_tier *mt = (mem_tier *)t;
    int rc = 0;

    pthread_mutex_lock(&mt->mu);
    for (size_t i = 0; i < n; i++) {
        mem_entry **slot = find_slot(mt, &blobs[i].id), *e = *slot;

        if (e) {
            lru_unlink(e);
            lru_push_front(mt, e);
            continue;
        }
        if (t->capacity && blobs[i].len > t->capacity)
            continue;
        if (!(e = cairn__malloc(sizeof(*e) + blobs[i].len))) {
            rc = cairn__fail(CAIRN_NOMEM, "mem: out of memory storing a blob of %zu bytes",
                             blobs[i].len);
            break;
        }
        e->id = blobs[i].id;
        e->len = blobs[i].len;
        if (e->len)
            memcpy(e->data, blobs[i].data, e->len);
        e->chain = NULL;
        *slot = e;
        lru_push_front(mt, e);
        mt->n_entries++;
        mt->bytes += e->len;
        evict(mt);
        maybe_grow(mt);
    }
    pthread_mutex_unlock(&mt->mu);
    return rc;
}

static int mem_has_many(cairn_tier *t, const cairn_id *ids, size_t n, bool *out)
{
    mem_tier *mt = (mem_tier *)t;

    pthread_mutex_lock(&mt->mu);
    for (size_t i = 0; i < n; i++)
        out[i] = *find_slot(mt, &ids[i]) != NULL;
    pthread_mutex_unlock(&mt->mu);
    return 0;
}

static int mem_remove_many(cairn_tier *t, const cairn_id *ids, size_t n)
{
    mem_tier *mt = (mem_tier *)t;

    pthread_mutex_lock(&mt->mu);
    for (size_t i = 0; i < n; i++) {
        mem_entry **slot = find_slot(mt, &ids[i]);
        if (*slot)
            drop_entry(mt, slot);
    }
    pthread_mutex_unlock(&mt->mu);
    return 0;
}

/* Copies the ids and lengths out under the lock and calls fn after
 * releasing it, so that fn may call back into the tier. */
static int mem_scan_ids(cairn_tier *t, cairn_id_visitor fn, void *ctx)
{
    mem_tier *mt = (mem_tier *)t;
    struct item {
        cairn_id id;
        size_t len;
    } *items;
    size_t n = 0;
    int rc = 0;

    pthread_mutex_lock(&mt->mu);
    if (!(items = cairn__malloc((mt->n_entries ? mt->n_entries : 1) * sizeof(*items)))) {
        pthread_mutex_unlock(&mt->mu);
        return cairn__fail(CAIRN_NOMEM, "mem: out of memory listing %zu blobs", mt->n_entries);
    }
    for (mem_entry *e = mt->lru.next; e != &mt->lru; e = e->next) {
        items[n].id = e->id;
        items[n++].len = e->len;
    }
    pthread_mutex_unlock(&mt->mu);
    for (size_t i = 0; i < n && !rc; i++)
        rc = fn(ctx, &items[i].id, items[i].len);
    cairn__free(items);
    return rc;
}

static int mem_usage(cairn_tier *t, uint64_t *blobs, uint64_t *bytes)
{
    mem_tier *mt = (mem_tier *)t;

    pthread_mutex_lock(&mt->mu);
    *blobs = mt->n_entries;
    *bytes = mt->bytes;
    pthread_mutex_unlock(&mt->mu);
    return 0;
}

/* ---------------------------------------------------------------- refs */

/* Binary search: returns the index of name, or where it would go with
 * *found false. */
static size_t ref_find(const mem_tier *mt, const char *name, bool *found)
{
    size_t lo = 0, hi = mt->n_refs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(mt->refs[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int mem_ref_get(cairn_tier *t, const char *name, cairn_id *out)
{
    mem_tier *mt = (mem_tier *)t;
    bool found;
    size_t i;

    pthread_mutex_lock(&mt->mu);
    i = ref_find(mt, name, &found);
    if (found)
        *out = mt->refs[i].id;
    pthread_mutex_unlock(&mt->mu);
    return found ? 0 : cairn__fail(CAIRN_NOTFOUND, "mem: no ref '%s'", name);
}

static int mem_ref_cas(cairn_tier *t, const char *name, const cairn_id *old_id,
                       const cairn_id *new_id)
{
    mem_tier *mt = (mem_tier *)t;
    char *name_copy = NULL;
    bool found;
    size_t i;
    int rc = 0;

    pthread_mutex_lock(&mt->mu);
    i = ref_find(mt, name, &found);
    if (found != (old_id != NULL) || (found && !cairn__id_eq(&mt->refs[i].id, old_id))) {
        rc = cairn__fail(CAIRN_CONFLICT, "mem: ref '%s' %s", name,
                         !found ? "does not exist"
                         : old_id ? "moved (compare-and-swap failed)"
                                  : "already exists");
        goto done;
    }
    if (found && new_id) {
        mt->refs[i].id = *new_id;
    } else if (found) {
        cairn__free(mt->refs[i].name);
        memmove(&mt->refs[i], &mt->refs[i + 1], (mt->n_refs - i - 1) * sizeof(mt->refs[0]));
        mt->n_refs--;
    } else if (new_id) {
        if (mt->n_refs == mt->cap_refs) {
            size_t cap = mt->cap_refs ? mt->cap_refs * 2 : 8;
            mem_ref *refs = cairn__realloc(mt->refs, cap * sizeof(*refs));
            if (!refs) {
                rc = cairn__fail(CAIRN_NOMEM, "mem: out of memory adding ref '%s'", name);
                goto done;
            }
            mt->refs = refs;
            mt->cap_refs = cap;
        }
        if (!(name_copy = cairn__strdup(name))) {
            rc = cairn__fail(CAIRN_NOMEM, "mem: out of memory adding ref '%s'", name);
            goto done;
        }
        memmove(&mt->refs[i + 1], &mt->refs[i], (mt->n_refs - i) * sizeof(mt->refs[0]));
        mt->refs[i].name = name_copy;
        mt->refs[i].id = *new_id;
        mt->n_refs++;
    }
done:
    pthread_mutex_unlock(&mt->mu);
    return rc;
}

/* Copies the matching refs under the lock, then calls fn without it. */
static int mem_ref_list(cairn_tier *t, const char *prefix, cairn_ref_fn fn, void *ctx)
{
    mem_tier *mt = (mem_tier *)t;
    size_t prefix_len = strlen(prefix), n = 0, i;
    mem_ref *copy;
    bool found;
    int rc = 0;

    pthread_mutex_lock(&mt->mu);
    i = ref_find(mt, prefix, &found);
    if (!(copy = cairn__calloc(mt->n_refs - i + 1, sizeof(*copy)))) {
        pthread_mutex_unlock(&mt->mu);
        return cairn__fail(CAIRN_NOMEM, "mem: out of memory listing refs");
    }
    for (; i < mt->n_refs && strncmp(mt->refs[i].name, prefix, prefix_len) == 0; i++) {
        if (!(copy[n].name = cairn__strdup(mt->refs[i].name))) {
            rc = cairn__fail(CAIRN_NOMEM, "mem: out of memory listing refs");
            break;
        }
        copy[n++].id = mt->refs[i].id;
    }
    pthread_mutex_unlock(&mt->mu);
    for (i = 0; i < n && !rc; i++)
        rc = fn(ctx, copy[i].name, &copy[i].id);
    for (i = 0; i < n; i++)
        cairn__free(copy[i].name);
    cairn__free(copy);
    return rc;
}

/* ---------------------------------------------------------------- pins */

static mem_pin *pin_find(mem_tier *mt, const char *name)
{
    for (size_t i = 0; i < mt->n_pins; i++)
        if (strcmp(mt->pins[i].name, name) == 0)
            return &mt->pins[i];
    return NULL;
}

static int mem_pin_put(cairn_tier *t, const char *name, const void *bytes, size_t len)
{
    mem_tier *mt = (mem_tier *)t;
    uint8_t *copy = cairn__memdup(bytes, len);
    mem_pin *p;

    if (!copy)
        return cairn__fail(CAIRN_NOMEM, "mem: out of memory writing pin '%s'", name);
    pthread_mutex_lock(&mt->mu);
    if (!(p = pin_find(mt, name))) {
        if (mt->n_pins == mt->cap_pins) {
            size_t cap = mt->cap_pins ? mt->cap_pins * 2 : 4;
            mem_pin *grown = cairn__realloc(mt->pins, cap * sizeof(*grown));
            if (!grown) {
                pthread_mutex_unlock(&mt->mu);
                cairn__free(copy);
                return cairn__fail(CAIRN_NOMEM, "mem: out of memory writing pin '%s'", name);
            }
            mt->pins = grown;
            mt->cap_pins = cap;
        }
        p = &mt->pins[mt->n_pins++];
        snprintf(p->name, sizeof(p->name), "%s", name);
        p->bytes = NULL;
    }
    cairn__free(p->bytes);
    p->bytes = copy;
    p->len = len;
    pthread_mutex_unlock(&mt->mu);
    return 0;
}

/* Copies the pins under the lock, then calls fn without it. */
static int mem_pin_list(cairn_tier *t, cairn_pin_fn fn, void *ctx)
{
    mem_tier *mt = (mem_tier *)t;
    cairn_pin_records recs = {0};
    cairn_pin_record *rec;
    int rc = 0;

    pthread_mutex_lock(&mt->mu);
    for (size_t i = 0; i < mt->n_pins && !rc; i++)
        if (!(rec = cairn__pin_records_add(&recs, mt->pins[i].name)) ||
            !(rec->bytes = cairn__memdup(mt->pins[i].bytes, mt->pins[i].len)))
            rc = cairn__fail(CAIRN_NOMEM, "mem: out of memory listing pins");
        else
            rec->len = mt->pins[i].len;
    pthread_mutex_unlock(&mt->mu);
    return cairn__pin_records_emit(&recs, rc, fn, ctx);
}

static int mem_pin_delete(cairn_tier *t, const char *name)
{
    mem_tier *mt = (mem_tier *)t;
    mem_pin *p;

    pthread_mutex_lock(&mt->mu);
    if ((p = pin_find(mt, name))) {
        cairn__free(p->bytes);
        *p = mt->pins[--mt->n_pins];
    }
    pthread_mutex_unlock(&mt->mu);
    return 0;
}

/* ---------------------------------------------------------------- life */

static int mem_sync(cairn_tier *t)
{
    (void)t;
    return 0;
}

static void mem_close(cairn_tier *t)
{
    mem_tier *mt = (mem_tier *)t;
    mem_entry *e, *next;

    for (e = mt->lru.next; e != &mt->lru; e = next) {
        next = e->next;
        cairn__free(e);
    }
    for (size_t i = 0; i < mt->n_refs; i++)
        cairn__free(mt->refs[i].name);
    cairn__free(mt->refs);
    for (size_t i = 0; i < mt->n_pins; i++)
        cairn__free(mt->pins[i].bytes);
    cairn__free(mt->pins);
    cairn__free(mt->buckets);
    pthread_mutex_destroy(&mt->mu);
    cairn__free(mt);
}

static const cairn_tier_methods mem_methods = {
    .version = 2,
    .name = "mem",
    .get_many = mem_get_many,
    .put_many = mem_put_many,
    .ref_get = mem_ref_get,
    .ref_cas = mem_ref_cas,
    .ref_list = mem_ref_list,
    .sync = mem_sync,
    .close = mem_close,
    .has_many = mem_has_many,
    .remove_many = mem_remove_many,
    .scan_ids = mem_scan_ids,
    .usage = mem_usage,
    .pin_put = mem_pin_put,
    .pin_list = mem_pin_list,
    .pin_delete = mem_pin_delete,
};

static int mem_option(void *ctx, const char *key, const char *val)
{
    bool *promote = ctx;

    if (strcmp(key, "promote") == 0) {
        if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
            return cairn__fail(CAIRN_BADSPEC, "mem: promote must be 0 or 1, not '%s'", val);
        *promote = val[0] == '1';
        return 0;
    }
    return cairn__fail(CAIRN_BADSPEC, "mem: unknown option '%s' (known: promote)", key);
}

/* arg is "" (unbounded) or a positive size; opts may set promote (default
 * 1; the stack decides whether the tier is a cache). */
int cairn__mem_check(cairn_tier_config *cfg)
{
    bool promote;

    if (cfg->arg[0] && (cairn__parse_size(cfg->arg, &cfg->capacity) || cfg->capacity == 0))
        return cairn__fail(CAIRN_BADSPEC,
                           "mem: bad capacity '%s' (want a positive size such as 64M)",
                           cfg->arg);
    cfg->caps = 0;
    return cairn__opts_each(cfg->opts, mem_option, &promote);
}

int cairn__mem_open(const cairn_tier_config *cfg, cairn_tier **out)
{
    mem_tier *mt;
    bool promote = true;
    int rc;

    *out = NULL;
    if ((rc = cairn__opts_each(cfg->opts, mem_option, &promote)))
        return rc;
    if (!(mt = cairn__calloc(1, sizeof(*mt))))
        return cairn__fail(CAIRN_NOMEM, "mem: out of memory");
    mt->base.m = &mem_methods;
    mt->base.capacity = cfg->capacity;
    mt->base.promote = promote;
    mt->lru.next = mt->lru.prev = &mt->lru;
    if (!(mt->buckets = cairn__calloc(MEM_MIN_BUCKETS, sizeof(*mt->buckets)))) {
        rc = cairn__fail(CAIRN_NOMEM, "mem: out of memory");
        goto fail_buckets;
    }
    mt->n_buckets = MEM_MIN_BUCKETS;
    if ((rc = pthread_mutex_init(&mt->mu, NULL))) {
        rc = cairn__fail(-rc, "mem: cannot create a mutex");
        goto fail_mutex;
    }
    *out = &mt->base;
    return 0;

fail_mutex:
    cairn__free(mt->buckets);
fail_buckets:
    cairn__free(mt);
    return rc;
}
