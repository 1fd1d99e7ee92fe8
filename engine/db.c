/*
 * db.c - opening and closing a store, and the store's recorded settings.
 *
 * Settings blob (named by the ref "meta/config"), canonical msgpack:
 *     map(2) { "format": 1, "node_size": T }
 * A new store records the node size target on its first writable open;
 * from then on every opener uses the recorded one, since a different
 * target would give different ids for the same data.
 */
#include <msgpack.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "engine.h"
#include "error.h"
#include "id.h"
#include "mp.h"
#include "mpbuf.h"

#define CAIRN_STORE_FORMAT 1

const char *cairn_version(void)
{
    return CAIRN_VERSION_STRING;
}

void cairn_options_init(cairn_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->node_cache_bytes = (size_t)256 << 20;
}

uint32_t cairn_node_size(const cairn_db *db)
{
    return db->ix.node_size;
}

int cairn__config_encode(uint32_t node_size, uint8_t **bytes, size_t *len)
{
    mp_buf sb = {0};
    msgpack_packer pk;
    int bad = 0;
    msgpack_packer_init(&pk, &sb, mp_buf_write);
    bad |= msgpack_pack_map(&pk, 2);
    bad |= msgpack_pack_str_with_body(&pk, "format", 6);
    bad |= msgpack_pack_uint32(&pk, CAIRN_STORE_FORMAT);
    bad |= msgpack_pack_str_with_body(&pk, "node_size", 9);
    bad |= msgpack_pack_uint32(&pk, node_size);
    if (bad || !sb.data) {
        cairn__free(sb.data);
        return CAIRN_NOMEM;
    }
    *len = sb.len;
    *bytes = sb.data;
    return 0;
}

static bool str_is(const uint8_t *data, uint32_t len, const char *s)
{
    return len == strlen(s) && memcmp(data, s, len) == 0;
}

/* Reads the settings map; unknown keys are skipped if their values are
 * integers or strings (room for later settings). */
int cairn__config_decode(const cairn_buf *buf, uint32_t *node_size)
{
    mp_reader r;
    uint64_t format = 0, size = 0, n, i;

    mp_init(&r, buf->data, buf->len);
    if (mp_peek(&r) < 0x80 || mp_peek(&r) > 0x8f)
        return cairn__fail(CAIRN_CORRUPT, "store settings (meta/config) are not a small map");
    n = (uint64_t)(*r.p++ & 0x0f);
    for (i = 0; i < n; i++) {
        const uint8_t *key, *sval;
        uint32_t key_len, sval_len;
        uint64_t v = 0;
        int t;
        if (!mp_str(&r, &key, &key_len))
            return cairn__fail(CAIRN_CORRUPT, "store settings (meta/config) are malformed");
        t = mp_peek(&r);
        if ((t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb) ? !mp_str(&r, &sval, &sval_len)
                                                                  : !mp_uint(&r, &v))
            return cairn__fail(CAIRN_CORRUPT, "store settings (meta/config) are malformed");
        if (str_is(key, key_len, "format"))
            format = v;
        else if (str_is(key, key_len, "node_size"))
            size = v;
    }
    if (format != CAIRN_STORE_FORMAT)
        return cairn__fail(CAIRN_VERSION, "store format %llu; this build reads format %d",
                           (unsigned long long)format, CAIRN_STORE_FORMAT);
    if (size < CAIRN_NODE_SIZE_MIN || size > CAIRN_NODE_SIZE_MAX)
        return cairn__fail(CAIRN_CORRUPT, "store settings: node_size %llu out of range",
                           (unsigned long long)size);
    *node_size = (uint32_t)size;
    return 0;
}

/* ---- is a store without settings new, or damaged? ---------------------- */

typedef struct first_blobs {
    cairn_id ids[2];
    size_t n;
} first_blobs;

static int any_ref(void *ctx, const char *name, const cairn_id *id)
{
    (void)name;
    (void)id;
    *(bool *)ctx = true;
    return 1;
}

static int first_two(void *ctx, const cairn_id *id, size_t len)
{
    first_blobs *fb = ctx;
    (void)len;
    fb->ids[fb->n++] = *id;
    return fb->n == 2;
}

int cairn__tier_holds_data(cairn_stack *st, size_t k, bool *holds)
{
    cairn_tier *t = cairn__stack_tier(st, k);
    first_blobs fb = {.n = 0};
    cairn_id zero;
    bool refs = false;
    int rc;

    *holds = false;
    if ((rc = cairn__tier_ref_list(t, "", any_ref, &refs)) < 0)
        return rc;
    memset(&zero, 0, sizeof(zero));
    if (!refs && (rc = cairn__tier_scan_from(t, &zero, first_two, &fb)) < 0)
        return rc;
    if (refs || fb.n > 1) {
        *holds = true;
    } else if (fb.n == 1) {
        cairn_stack *view;
        cairn_buf buf = {0};
        uint32_t node_size;
        if ((rc = cairn__stack_view(st, k, &view)))
            return rc;
        *holds = cairn__stack_get(view, &fb.ids[0], &buf) != 0 ||
                 cairn__config_decode(&buf, &node_size) != 0;
        cairn__free(buf.data);
        cairn__stack_close(view);
    }
    cairn__detail_clear();
    return 0;
}

/* Reads the settings blob together with the commit the default branch
 * names, in one batch, and keeps that commit's bytes (db->early) for the
 * first snapshot: on a remote tier the open then costs one round trip less,
 * since most opens go on to read main. Returns false, having changed
 * nothing, when the batch does not give both (the caller reads the
 * settings alone and reports what is wrong with them). */
static bool read_settings_early(cairn_db *db, const cairn_id *config, cairn_buf *out)
{
    char ref[CAIRN_REF_NAME_MAX + 1];
    cairn_id ids[2];
    cairn_buf got[2];

    cairn__ref_path(CAIRN_BRANCH, CAIRN_DEFAULT_BRANCH, ref);
    ids[0] = *config;
    if (cairn__stack_ref_get(db->stack, ref, &ids[1]) != 0 ||
        cairn__stack_get_many(db->stack, ids, 2, got) != 0) {
        cairn__detail_clear();
        return false;
    }
    if (!got[0].data || !got[1].data) {
        cairn__free(got[0].data);
        cairn__free(got[1].data);
        return false;
    }
    *out = got[0];
    cairn__free(db->early.data); /* (a second try of load_config) */
    db->early_id = ids[1];
    db->early = got[1];
    return true;
}

/* Reads the recorded node size, or records the requested one in a new
 * store. Two processes creating a store at once race on the ref's CAS; the
 * loser reads the winner's settings. */
static int load_config(cairn_db *db, uint32_t wanted)
{
    cairn_id id;
    cairn_buf buf = {0};
    bool lost;
    int rc, tries;

    for (tries = 0; tries < 3; tries++) {
        rc = cairn__stack_ref_get(db->stack, CAIRN_CONFIG_REF, &id);
        if (rc == 0) {
            if (!read_settings_early(db, &id, &buf) && (rc = cairn__stack_get(db->stack, &id, &buf)))
                return cairn__fail_context(rc, "reading store settings");
            rc = cairn__config_decode(&buf, &db->ix.node_size);
            cairn__free(buf.data);
            if (rc)
                return rc;
            if (wanted && wanted != db->ix.node_size)
                return cairn__fail(CAIRN_BADARG,
                                   "store was created with node size %u, not %u (it cannot change)",
                                   db->ix.node_size, wanted);
            return 0;
        }
        if (rc != CAIRN_NOTFOUND)
            return rc;
        db->ix.node_size = wanted ? wanted : CAIRN_NODE_SIZE_DEFAULT;
        if ((rc = cairn__tier_holds_data(db->stack, cairn__stack_primary(db->stack), &lost)))
            return rc;
        /* Read-only, a damaged store still opens (with the default node
         * size), so that reads and cairn verify can show what is left. */
        if (lost && !(db->flags & CAIRN_RDONLY))
            return cairn__fail(CAIRN_CORRUPT,
                               "tier '%s' holds refs or blobs but no settings (ref meta/config): "
                               "the store was damaged, it is not new; refusing to write to it "
                               "(cairn verify shows what is there)",
                               cairn__stack_tier(db->stack, cairn__stack_primary(db->stack))->spec);
        if (db->flags & CAIRN_RDONLY)
            return 0;
        {
            cairn_blob blob;
            uint8_t *bytes;
            size_t len;
            if ((rc = cairn__config_encode(db->ix.node_size, &bytes, &len)))
                return rc;
            if ((rc = cairn__sha256(bytes, len, &blob.id))) {
                cairn__free(bytes);
                return rc;
            }
            blob.data = bytes;
            blob.len = len;
            rc = cairn__stack_publish(db->stack, &blob, 1, CAIRN_CONFIG_REF, NULL, &blob.id);
            cairn__free(bytes);
        }
        if (rc != CAIRN_CONFLICT)
            return rc;
    }
    return rc;
}

/* Stores open in the process: cairn_set_allocator refuses while any is. */
static atomic_size_t n_open;

int cairn_set_allocator(const cairn_allocator *a)
{
    cairn__detail_clear();
    if (a && (!a->malloc_fn || !a->realloc_fn || !a->free_fn))
        return cairn__fail(CAIRN_BADARG, "an allocator needs malloc_fn, realloc_fn and free_fn");
    if (atomic_load(&n_open))
        return cairn__fail(CAIRN_BADARG, "the allocator cannot change while a store is open");
    cairn__alloc_set(a);
    return 0;
}

void cairn_free(void *ptr)
{
    cairn__free(ptr);
}

/* Opens a store on the stack spec names, or (spec NULL) on stack, which
 * it then owns (closed here on failure). */
static int db_open(const char *spec, cairn_stack *stack, const cairn_options *opts_in,
                   cairn_db **out)
{
    cairn_options opts;
    cairn_db *db;
    int rc;

    cairn__detail_clear();
    *out = NULL;
    if (opts_in)
        opts = *opts_in;
    else
        cairn_options_init(&opts);
    if (!stack && (!spec || !*spec))
        return cairn__fail(CAIRN_BADSPEC, "empty stack spec");
    if (opts.node_size &&
        (opts.node_size < CAIRN_NODE_SIZE_MIN || opts.node_size > CAIRN_NODE_SIZE_MAX)) {
        cairn__stack_close(stack);
        return cairn__fail(CAIRN_BADARG, "node size %u outside [%d, %d]", opts.node_size,
                           CAIRN_NODE_SIZE_MIN, CAIRN_NODE_SIZE_MAX);
    }
    if (!(db = cairn__calloc(1, sizeof(*db)))) {
        cairn__stack_close(stack);
        return CAIRN_NOMEM;
    }
    db->flags = opts.flags;
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->boundary_mu, NULL);
    if (stack)
        db->stack = stack;
    else if ((rc = cairn__stack_open(spec, opts.flags, &db->stack)))
        goto fail_stack;
    if ((rc = cairn__cache_open(opts.node_cache_bytes, &db->cache)))
        goto fail_cache;
    db->ix.stack = db->stack;
    db->ix.cache = db->cache;
    /* Before anything is written (a new primary records its settings): a
     * follower that is another store must be refused untouched. */
    if (!(db->flags & CAIRN_RDONLY) && (rc = cairn__followers_check(db)))
        goto fail_config;
    if ((rc = load_config(db, opts.node_size)))
        goto fail_config;
    cairn__stack_set_follow(db->stack, opts.follow_ms);
    if ((rc = cairn__flusher_start(db, opts.sync_interval_ms, opts.sync_queue_max)))
        goto fail_config;
    atomic_fetch_add(&n_open, 1);
    *out = db;
    return 0;

fail_config:
    cairn__flusher_stop(db);
    cairn__free(db->early.data);
    cairn__cache_close(db->cache);
fail_cache:
    cairn__stack_close(db->stack);
fail_stack:
    pthread_mutex_destroy(&db->boundary_mu);
    pthread_mutex_destroy(&db->mu);
    cairn__free(db);
    return rc;
}

int cairn_open(const char *spec, const cairn_options *opts, cairn_db **out)
{
    return db_open(spec, NULL, opts, out);
}

int cairn__db_open_stack(cairn_stack *stack, const cairn_options *opts, cairn_db **out)
{
    return db_open(NULL, stack, opts, out);
}

void cairn_close(cairn_db *db)
{
    if (!db)
        return;
    cairn__flusher_stop(db);
    cairn__free(db->early.data);
    cairn__idset_free(&db->boundary);
    cairn__cache_close(db->cache);
    cairn__stack_close(db->stack);
    pthread_mutex_destroy(&db->boundary_mu);
    pthread_mutex_destroy(&db->mu);
    cairn__free(db);
    atomic_fetch_sub(&n_open, 1);
}

int cairn_refresh(cairn_db *db)
{
    cairn__detail_clear();
    return cairn__stack_refresh(db->stack);
}

unsigned cairn_tiers_behind(cairn_db *db, const char **spec)
{
    unsigned behind = cairn__stack_behind(db->stack), n = 0;

    for (size_t k = 0; k < cairn__stack_n_tiers(db->stack); k++) {
        if (!(behind & (1u << k)) || cairn__stack_tier(db->stack, k)->write_back)
            continue;
        if (n++ == 0 && spec)
            *spec = cairn__stack_tier(db->stack, k)->spec;
    }
    return n;
}

int cairn_sync(cairn_db *db)
{
    int rc = 0;

    cairn__detail_clear();
    /* With a flusher, its round does the write-back tiers (it needs no lock,
     * and must not run twice at once); the lock is for the others. */
    if (db->flusher && (rc = cairn__flusher_sync(db)))
        return rc;
    if (cairn__stack_behind(db->stack) && !(db->flags & CAIRN_RDONLY)) {
        pthread_mutex_lock(&db->mu);
        rc = db->txn_open ? cairn__fail(CAIRN_BUSY, "a write transaction is open on this store")
                          : cairn__stack_writer_lock(db->stack, true);
        pthread_mutex_unlock(&db->mu);
        if (rc)
            return rc;
        rc = cairn__followers_catch_up(db, db->flusher ? CAIRN__CATCH_UP_WRITE_THROUGH
                                                       : CAIRN__CATCH_UP_ALL);
        cairn__stack_writer_lock(db->stack, false);
        if (rc)
            return rc;
    }
    return cairn__stack_sync(db->stack);
}
