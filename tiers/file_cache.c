/*
 * file_cache.c - the LRU index of a file tier used as a cache
 * ("file:PATH?capacity=SIZE"): which blobs the cache directory holds, their
 * sizes, and their order of use, so that the tier can evict the least
 * recently used files without touching the disk to decide.
 *
 *     buckets[h & mask] -> entry -> entry -> NULL      (hash chains)
 *     lru <-> newest <-> ... <-> oldest <-> lru        (sentinel ring)
 *
 * Recency survives restarts through the cache-order file, written at a
 * clean close:
 *
 *     offset  size  content
 *     0       20    "cairn cache order 1\n"
 *     20      32*n  ids, oldest first (binary)
 *
 * At open every blob file found is added; those listed in cache-order take
 * its order, the others (written after the last clean close, or by another
 * process) follow, oldest mtime first.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "file_int.h"
#include "id.h"

#define ORDER_MAGIC "cairn cache order 1\n"
#define ORDER_MAGIC_LEN 20
#define MIN_BUCKETS 256
#define IO_CHUNK (64u << 10)

typedef struct fentry {
    struct fentry *chain;       /* next entry in the same bucket */
    struct fentry *prev, *next; /* LRU ring neighbours (NULL while loading) */
    cairn_id id;
    uint64_t size;
    int64_t rank; /* loading only: position in cache-order, or -1 */
    int64_t mtime_ns;
} fentry;

struct cairn_fcache {
    pthread_mutex_t mu;
    uint64_t capacity;
    fentry **buckets; /* n_buckets chains, a power of two */
    size_t n_buckets, n_entries;
    uint64_t bytes; /* sum of sizes */
    fentry lru;     /* sentinel: lru.next newest, lru.prev oldest */
};

int cairn__fcache_new(uint64_t capacity, cairn_fcache **out)
{
    cairn_fcache *c;

    *out = NULL;
    if (!(c = cairn__calloc(1, sizeof(*c))))
        return cairn__fail(CAIRN_NOMEM, "out of memory for a cache index");
    if (!(c->buckets = cairn__calloc(MIN_BUCKETS, sizeof(*c->buckets)))) {
        cairn__free(c);
        return cairn__fail(CAIRN_NOMEM, "out of memory for a cache index");
    }
    c->n_buckets = MIN_BUCKETS;
    c->capacity = capacity;
    c->lru.prev = c->lru.next = &c->lru;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

void cairn__fcache_free(cairn_fcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_buckets; i++) {
        for (fentry *e = c->buckets[i], *chain; e; e = chain) {
            chain = e->chain;
            cairn__free(e);
        }
    }
    cairn__free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    cairn__free(c);
}

/* ---------------------------------------------------------------- table */

static fentry **find_slot(cairn_fcache *c, const cairn_id *id)
{
    fentry **slot = &c->buckets[cairn__id_hash(id) & (c->n_buckets - 1)];

    while (*slot && !cairn__id_eq(&(*slot)->id, id))
        slot = &(*slot)->chain;
    return slot;
}

static void lru_unlink(fentry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_push_front(cairn_fcache *c, fentry *e)
{
    e->prev = &c->lru;
    e->next = c->lru.next;
    c->lru.next->prev = e;
    c->lru.next = e;
}

/* Doubles the buckets past one entry per bucket; failing only costs speed. */
static void maybe_grow(cairn_fcache *c)
{
    size_t n = c->n_buckets * 2;
    fentry **buckets;

    if (c->n_entries <= c->n_buckets || !(buckets = cairn__calloc(n, sizeof(*buckets))))
        return;
    for (size_t i = 0; i < c->n_buckets; i++) {
        for (fentry *e = c->buckets[i], *chain; e; e = chain) {
            fentry **head = &buckets[cairn__id_hash(&e->id) & (n - 1)];
            chain = e->chain;
            e->chain = *head;
            *head = e;
        }
    }
    cairn__free(c->buckets);
    c->buckets = buckets;
    c->n_buckets = n;
}

/* Inserts a new entry (not on the LRU ring). Caller holds mu. */
static fentry *insert(cairn_fcache *c, fentry **slot, const cairn_id *id, uint64_t size)
{
    fentry *e = cairn__calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    e->id = *id;
    e->size = size;
    e->rank = -1;
    *slot = e;
    c->n_entries++;
    c->bytes += size;
    maybe_grow(c);
    return e;
}

/* ---------------------------------------------------------------- loading */

int cairn__fcache_load_add(cairn_fcache *c, const cairn_id *id, uint64_t size, int64_t mtime_ns)
{
    fentry **slot, *e;

    pthread_mutex_lock(&c->mu);
    slot = find_slot(c, id);
    if (!*slot && (e = insert(c, slot, id, size)))
        e->mtime_ns = mtime_ns;
    e = *find_slot(c, id);
    pthread_mutex_unlock(&c->mu);
    return e ? 0 : cairn__fail(CAIRN_NOMEM, "out of memory for a cache index");
}

/* Reads the order file and ranks the entries it lists. */
static void read_order(cairn_fcache *c, int dirfd, const char *path)
{
    unsigned char *buf;
    size_t have = 0;
    int64_t rank = 0;
    bool header = false;
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    if (!(buf = cairn__malloc(IO_CHUNK))) {
        close(fd);
        return;
    }
    for (;;) {
        ssize_t got = read(fd, buf + have, IO_CHUNK - have);
        size_t pos = 0;

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        have += (size_t)got;
        if (!header) {
            if (have < ORDER_MAGIC_LEN)
                continue;
            if (memcmp(buf, ORDER_MAGIC, ORDER_MAGIC_LEN) != 0)
                break; /* not ours: ignore it */
            header = true;
            pos = ORDER_MAGIC_LEN;
        }
        for (; have - pos >= sizeof(cairn_id); pos += sizeof(cairn_id)) {
            cairn_id id;
            fentry *e;
            memcpy(id.bytes, buf + pos, sizeof(id.bytes));
            if ((e = *find_slot(c, &id)) && e->rank < 0)
                e->rank = rank++;
        }
        memmove(buf, buf + pos, have - pos);
        have -= pos;
    }
    cairn__free(buf);
    close(fd);
}

/* Listed entries first (by rank), then the others by mtime. */
static int load_cmp(const void *a, const void *b)
{
    const fentry *x = *(fentry *const *)a, *y = *(fentry *const *)b;

    if ((x->rank < 0) != (y->rank < 0))
        return x->rank < 0 ? 1 : -1;
    if (x->rank >= 0)
        return (x->rank > y->rank) - (x->rank < y->rank);
    if (x->mtime_ns != y->mtime_ns)
        return (x->mtime_ns > y->mtime_ns) - (x->mtime_ns < y->mtime_ns);
    return cairn__id_cmp(&x->id, &y->id);
}

int cairn__fcache_load_finish(cairn_fcache *c, int dirfd, const char *path)
{
    fentry **all;
    size_t n = 0;

    pthread_mutex_lock(&c->mu);
    read_order(c, dirfd, path);
    if (!(all = cairn__malloc((c->n_entries ? c->n_entries : 1) * sizeof(*all)))) {
        pthread_mutex_unlock(&c->mu);
        return cairn__fail(CAIRN_NOMEM, "out of memory ordering a cache index");
    }
    for (size_t i = 0; i < c->n_buckets; i++)
        for (fentry *e = c->buckets[i]; e; e = e->chain)
            if (!e->prev)
                all[n++] = e;
    if (n > 1)
        qsort(all, n, sizeof(*all), load_cmp);
    for (size_t i = 0; i < n; i++)
        lru_push_front(c, all[i]); /* oldest first, so the last is the newest */
    pthread_mutex_unlock(&c->mu);
    cairn__free(all);
    return 0;
}

/* ---------------------------------------------------------------- use */

bool cairn__fcache_lookup(cairn_fcache *c, const cairn_id *id, uint64_t *size, bool touch)
{
    fentry *e;

    pthread_mutex_lock(&c->mu);
    if ((e = *find_slot(c, id))) {
        *size = e->size;
        if (touch) {
            lru_unlink(e);
            lru_push_front(c, e);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return e != NULL;
}

int cairn__fcache_add(cairn_fcache *c, const cairn_id *id, uint64_t size)
{
    fentry **slot, *e;
    int rc = 0;

    pthread_mutex_lock(&c->mu);
    slot = find_slot(c, id);
    if ((e = *slot)) {
        c->bytes = c->bytes - e->size + size;
        e->size = size;
        lru_unlink(e);
        lru_push_front(c, e);
    } else if ((e = insert(c, slot, id, size))) {
        lru_push_front(c, e);
    } else {
        rc = cairn__fail(CAIRN_NOMEM, "out of memory for a cache index");
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void drop(cairn_fcache *c, fentry **slot)
{
    fentry *e = *slot;

    *slot = e->chain;
    lru_unlink(e);
    c->n_entries--;
    c->bytes -= e->size;
    cairn__free(e);
}

void cairn__fcache_remove(cairn_fcache *c, const cairn_id *id)
{
    fentry **slot;

    pthread_mutex_lock(&c->mu);
    if (*(slot = find_slot(c, id)))
        drop(c, slot);
    pthread_mutex_unlock(&c->mu);
}

int cairn__fcache_evict(cairn_fcache *c, cairn_id **victims, size_t *n_victims)
{
    cairn_id *out = NULL, *grown;
    size_t n = 0, cap = 0;
    int rc = 0;

    pthread_mutex_lock(&c->mu);
    while (c->bytes > c->capacity && c->lru.prev != &c->lru) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            if (!(grown = cairn__realloc(out, cap * sizeof(*out)))) {
                rc = cairn__fail(CAIRN_NOMEM, "out of memory evicting from a cache");
                break;
            }
            out = grown;
        }
        out[n++] = c->lru.prev->id;
        drop(c, find_slot(c, &c->lru.prev->id));
    }
    pthread_mutex_unlock(&c->mu);
    *victims = out;
    *n_victims = n;
    return rc;
}

void cairn__fcache_usage(cairn_fcache *c, uint64_t *blobs, uint64_t *bytes)
{
    pthread_mutex_lock(&c->mu);
    *blobs = c->n_entries;
    *bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}

/* Writes buf fully, retrying short writes. */
static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t put = write(fd, p, len);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return put < 0 ? -errno : -EIO;
        p += put;
        len -= (size_t)put;
    }
    return 0;
}

int cairn__fcache_save(cairn_fcache *c, int dirfd, const char *tmp_path, const char *path)
{
    unsigned char *buf;
    size_t used = ORDER_MAGIC_LEN;
    int fd, rc = 0;

    if (!(buf = cairn__malloc(IO_CHUNK)))
        return cairn__fail(CAIRN_NOMEM, "out of memory saving a cache order");
    if ((fd = openat(dirfd, tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = -errno;
        cairn__free(buf);
        return cairn__fail(rc, "cannot create %s: %s", tmp_path, strerror(-rc));
    }
    memcpy(buf, ORDER_MAGIC, ORDER_MAGIC_LEN);
    pthread_mutex_lock(&c->mu);
    for (fentry *e = c->lru.prev; e != &c->lru && !rc; e = e->prev) {
        if (used + sizeof(e->id.bytes) > IO_CHUNK) {
            rc = write_all(fd, buf, used);
            used = 0;
        }
        memcpy(buf + used, e->id.bytes, sizeof(e->id.bytes));
        used += sizeof(e->id.bytes);
    }
    pthread_mutex_unlock(&c->mu);
    if (!rc)
        rc = write_all(fd, buf, used);
    cairn__free(buf);
    if (close(fd) != 0 && !rc)
        rc = -errno;
    if (!rc && renameat(dirfd, tmp_path, dirfd, path) != 0)
        rc = -errno;
    if (rc) {
        unlinkat(dirfd, tmp_path, 0);
        return cairn__fail(rc, "cannot write %s: %s", path, strerror(-rc));
    }
    return 0;
}
