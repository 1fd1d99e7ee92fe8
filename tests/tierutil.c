/* tierutil.c - the helpers declared in tierutil.h. */
#include "tierutil.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "client.h"
#include "settings.h"
#include "id.h"
#include "pack.h"
#include "test.h"

test_blob make_blob(uint64_t seed, size_t len)
{
    test_blob b;

    b.len = len;
    b.data = malloc(len ? len : 1);
    ASSERT_TRUE(b.data != NULL);
    for (size_t i = 0; i < len; i++)
        b.data[i] = (unsigned char)((seed * 31 + i * 7 + (seed >> 3)) & 0xff);
    if (len)
        memcpy(b.data, &seed, len < sizeof(seed) ? len : sizeof(seed));
    cairn__sha256(b.data, len, &b.id);
    return b;
}

cairn_blob as_blob(const test_blob *b)
{
    cairn_blob c = {b->id, b->data, b->len};
    return c;
}

int put_one(cairn_tier *t, const test_blob *b)
{
    cairn_blob c = as_blob(b);
    return cairn__tier_put_many(t, &c, 1);
}

bool holds(cairn_tier *t, const test_blob *b)
{
    cairn_buf buf;
    bool ok;

    ASSERT_OK(cairn__tier_get_many(t, &b->id, 1, &buf));
    if (!buf.data)
        return false;
    ok = buf.len == b->len && memcmp(buf.data, b->data, b->len) == 0;
    ASSERT_TRUE(ok);
    free(buf.data);
    return true;
}

void expect_get(cairn_tier *t, const test_blob *blobs, const size_t *pick, size_t k,
                const bool *held, int op)
{
    cairn_id *ids = calloc(k ? k : 1, sizeof(*ids));
    cairn_buf *out = calloc(k ? k : 1, sizeof(*out));

    ASSERT_TRUE(ids && out);
    for (size_t j = 0; j < k; j++)
        ids[j] = blobs[pick[j]].id;
    ASSERT_OK(cairn__tier_get_many(t, ids, k, out));
    for (size_t j = 0; j < k; j++) {
        if (held[pick[j]] != (out[j].data != NULL))
            TEST_FAIL("op %d: blob %zu held %d, got %p", op, pick[j], held[pick[j]],
                      out[j].data);
        if (out[j].data)
            ASSERT_MEM_EQ(out[j].data, out[j].len, blobs[pick[j]].data, blobs[pick[j]].len);
        free(out[j].data);
    }
    free(out);
    free(ids);
}

MDB_txn *raw_lmdb_begin(const char *dir, bool write)
{
    MDB_env *env;
    MDB_txn *txn;
    unsigned flags = write ? 0 : MDB_RDONLY;

    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 5), 0);
    ASSERT_EQ(mdb_env_set_mapsize(env, 1ull << 30), 0);
    ASSERT_EQ(mdb_env_open(env, dir, MDB_NOTLS | flags, 0644), 0);
    ASSERT_EQ(mdb_txn_begin(env, NULL, flags, &txn), 0);
    return txn;
}

void raw_lmdb_end(MDB_txn *txn, bool commit)
{
    MDB_env *env = mdb_txn_env(txn);

    if (commit)
        ASSERT_EQ(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    mdb_env_close(env);
}

void raw_lmdb(const char *dir, const char *dbname, const void *key, size_t key_len,
              const void *data, size_t len, void **out, size_t *out_len)
{
    MDB_txn *txn = raw_lmdb_begin(dir, !out);
    MDB_dbi dbi;
    MDB_val k = {key_len, (void *)key}, v = {len, (void *)data};

    ASSERT_EQ(mdb_dbi_open(txn, dbname, 0, &dbi), 0);
    if (out) {
        ASSERT_EQ(mdb_get(txn, dbi, &k, &v), 0);
        ASSERT_TRUE((*out = malloc(v.mv_size ? v.mv_size : 1)) != NULL);
        memcpy(*out, v.mv_data, v.mv_size);
        *out_len = v.mv_size;
    } else {
        ASSERT_EQ(data ? mdb_put(txn, dbi, &k, &v, 0) : mdb_del(txn, dbi, &k, NULL), 0);
    }
    raw_lmdb_end(txn, !out);
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

void raw_lmdb_blob(const char *dir, const cairn_id *id, const void *data, size_t len,
                   void **out, size_t *out_len)
{
    MDB_txn *txn = raw_lmdb_begin(dir, !out);
    MDB_dbi packs, where;
    MDB_val k = {32, (void *)id->bytes}, loc, pk, pack;
    uint8_t seq_key[8], loc_bytes[16];

    if (mdb_dbi_open(txn, "packs", 0, &packs) != 0) { /* layout=blobs */
        raw_lmdb_end(txn, false);
        raw_lmdb(dir, "blobs", id->bytes, 32, data, len, out, out_len);
        return;
    }
    ASSERT_EQ(mdb_dbi_open(txn, "where", 0, &where), 0);
    if (!out && !data) { /* delete: forget the location */
        ASSERT_EQ(mdb_del(txn, where, &k, NULL), 0);
    } else if (mdb_get(txn, where, &k, &loc) == 0 && (out || len == get_be(
                                                                 (uint8_t *)loc.mv_data + 12, 4))) {
        uint64_t off = get_be((uint8_t *)loc.mv_data + 8, 4);
        size_t blob_len = (size_t)get_be((uint8_t *)loc.mv_data + 12, 4);
        memcpy(seq_key, loc.mv_data, 8);
        pk = (MDB_val){8, seq_key};
        ASSERT_EQ(mdb_get(txn, packs, &pk, &pack), 0);
        ASSERT_TRUE(off + blob_len <= pack.mv_size);
        if (out) {
            ASSERT_TRUE((*out = malloc(blob_len ? blob_len : 1)) != NULL);
            memcpy(*out, (uint8_t *)pack.mv_data + off, blob_len);
            *out_len = blob_len;
        } else { /* overwrite in place: the pack record, patched */
            uint8_t *copy = malloc(pack.mv_size);
            ASSERT_TRUE(copy != NULL);
            memcpy(copy, pack.mv_data, pack.mv_size);
            memcpy(copy + off, data, len);
            pack.mv_data = copy;
            ASSERT_EQ(mdb_put(txn, packs, &pk, &pack, 0), 0);
            free(copy);
        }
    } else { /* a new blob, or one of another length: a pack of its own */
        cairn_blob b = {*id, data, len};
        MDB_cursor *cur;
        uint8_t *bytes;
        size_t size;
        uint64_t seq = 1;

        ASSERT_TRUE(!out);
        ASSERT_OK(cairn__pack_build(&b, 1, &bytes, &size));
        ASSERT_EQ(mdb_cursor_open(txn, packs, &cur), 0);
        if (mdb_cursor_get(cur, &pk, &pack, MDB_LAST) == 0)
            seq = get_be(pk.mv_data, 8) + 1;
        mdb_cursor_close(cur);
        put_be(seq_key, seq, 8);
        pk = (MDB_val){8, seq_key};
        pack = (MDB_val){size, bytes};
        ASSERT_EQ(mdb_put(txn, packs, &pk, &pack, 0), 0);
        put_be(loc_bytes, seq, 8);
        put_be(loc_bytes + 8, 0, 4);
        put_be(loc_bytes + 12, len, 4);
        loc = (MDB_val){16, loc_bytes};
        ASSERT_EQ(mdb_put(txn, where, &k, &loc, 0), 0);
        cairn__free(bytes);
    }
    raw_lmdb_end(txn, !out);
}

void raw_lmdb_damage(const char *dir, const cairn_id *id)
{
    void *bytes;
    size_t len;

    raw_lmdb_blob(dir, id, NULL, 0, &bytes, &len);
    ((uint8_t *)bytes)[len / 2] ^= 0x40;
    raw_lmdb_blob(dir, id, bytes, len, NULL, NULL);
    free(bytes);
}

/* ---------------------------------------------------------------- pins */

struct pin_seen {
    char names[16][CAIRN_PIN_NAME_MAX + 1];
    unsigned char bytes[16][CAIRN_PIN_RECORD_MAX];
    size_t lens[16];
    bool unread[16];
    size_t n;
};

static int pin_seen_add(void *ctx, const char *name, const void *bytes, size_t len)
{
    struct pin_seen *s = ctx;

    ASSERT_TRUE(s->n < 16);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    s->unread[s->n] = bytes == NULL;
    if (bytes) {
        ASSERT_TRUE(len <= CAIRN_PIN_RECORD_MAX);
        memcpy(s->bytes[s->n], bytes, len);
    }
    s->lens[s->n++] = len;
    return 0;
}

/* The index of name in the listing, or -1. */
static int pin_seen_find(const struct pin_seen *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return (int)i;
    return -1;
}

size_t list_pins(cairn_tier *t, const char *name, void *bytes, size_t *len, bool *unread)
{
    static struct pin_seen s;
    int i;

    memset(&s, 0, sizeof(s));
    ASSERT_OK(cairn__tier_pin_list(t, pin_seen_add, &s));
    if (name && (i = pin_seen_find(&s, name)) >= 0) {
        if (bytes)
            memcpy(bytes, s.bytes[i], s.lens[i]);
        if (len)
            *len = s.lens[i];
        if (unread)
            *unread = s.unread[i];
    } else if (name && len) {
        *len = SIZE_MAX; /* not listed */
    }
    return s.n;
}

void check_tier_pins(cairn_tier *t, const char *what)
{
    static const char *const bad_names[] = {
        "", ".", "..", "../x", "a/b", ".hidden", "a b", "a\\b", "x\n",
        "12345678901234567890123456789012345678901234567890123456789012345", /* 65 */
    };
    char rec[CAIRN_PIN_RECORD_MAX + 1], got[CAIRN_PIN_RECORD_MAX];
    size_t len;
    bool unread;

    ASSERT_EQ(list_pins(t, NULL, NULL, NULL, NULL), 0);
    ASSERT_OK(cairn__tier_pin_put(t, "host-1-aa", "first", 5));
    ASSERT_OK(cairn__tier_pin_put(t, "b.2_x", "second record", 13));
    ASSERT_EQ(list_pins(t, "host-1-aa", got, &len, &unread), 2);
    ASSERT_MEM_EQ(got, len, "first", 5);
    ASSERT_TRUE(!unread);
    list_pins(t, "b.2_x", got, &len, NULL);
    ASSERT_MEM_EQ(got, len, "second record", 13);
    /* A put replaces the whole record. */
    memset(rec, 'r', sizeof(rec));
    ASSERT_OK(cairn__tier_pin_put(t, "host-1-aa", rec, CAIRN_PIN_RECORD_MAX));
    ASSERT_EQ(list_pins(t, "host-1-aa", got, &len, NULL), 2);
    ASSERT_MEM_EQ(got, len, rec, (size_t)CAIRN_PIN_RECORD_MAX);
    ASSERT_OK(cairn__tier_pin_put(t, "host-1-aa", "short", 5));
    list_pins(t, "host-1-aa", got, &len, NULL);
    ASSERT_MEM_EQ(got, len, "short", 5);
    /* Hostile names and sizes are refused before the tier sees them. */
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        ASSERT_RC(cairn__tier_pin_put(t, bad_names[i], "x", 1), CAIRN_BADARG);
        ASSERT_RC(cairn__tier_pin_delete(t, bad_names[i]), CAIRN_BADARG);
    }
    ASSERT_RC(cairn__tier_pin_put(t, NULL, "x", 1), CAIRN_BADARG);
    ASSERT_RC(cairn__tier_pin_put(t, "ok", rec, CAIRN_PIN_RECORD_MAX + 1), CAIRN_BADARG);
    ASSERT_RC(cairn__tier_pin_put(t, "ok", "", 0), CAIRN_BADARG);
    ASSERT_EQ(list_pins(t, NULL, NULL, NULL, NULL), 2);
    /* Deletes: one, then one absent (not an error). */
    ASSERT_OK(cairn__tier_pin_delete(t, "host-1-aa"));
    ASSERT_EQ(list_pins(t, "host-1-aa", NULL, &len, NULL), 1);
    ASSERT_EQ(len, SIZE_MAX);
    ASSERT_OK(cairn__tier_pin_delete(t, "host-1-aa"));
    ASSERT_OK(cairn__tier_pin_delete(t, "b.2_x"));
    ASSERT_EQ(list_pins(t, NULL, NULL, NULL, NULL), 0);
    /* A table of version 1 has no pins: a clear error, not a crash. */
    const cairn_tier_methods *m = t->m;
    cairn_tier_methods old = *m;
    old.version = 1;
    t->m = &old;
    ASSERT_RC(cairn__tier_pin_put(t, "x", "x", 1), -ENOTSUP);
    ASSERT_DETAIL("cannot hold pins");
    t->m = m;
    printf("%s: pins put, replaced, listed, deleted; hostile names and sizes refused\n", what);
}

cairn_s3_client *test_s3_client(const char *bucket)
{
    cairn_s3_client_config cfg = {0};
    cairn_s3_client *c;
    snprintf(cfg.bucket, sizeof(cfg.bucket), "%s", bucket);
    cfg.retries = -1;
    cfg.tls_verify = true;
    ASSERT_OK(cairn__s3_settings_resolve(&cfg.settings));
    ASSERT_OK(cairn__s3_client_open(&cfg, &c));
    return c;
}

const char *test_redis_url(void)
{
    const char *url = getenv("CAIRN_REDIS_URL");
    if (!url || !getenv("CAIRN_REDIS_PORT")) {
        fprintf(stderr, "skipped: no Redis server (run under scripts/redis-server.sh run)\n");
        exit(77);
    }
    return url;
}

static redisReply *raw_redis_v(const char *fmt, va_list ap)
{
    static redisContext *c;
    struct timeval tv = {10, 0};
    redisReply *r;

    test_redis_url();
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!c) {
            c = redisConnectWithTimeout("127.0.0.1", atoi(getenv("CAIRN_REDIS_PORT")), tv);
            ASSERT_TRUE(c != NULL);
            if (c->err)
                TEST_FAIL("raw_redis: cannot connect: %s", c->errstr);
            redisSetTimeout(c, tv);
        }
        va_list copy;
        va_copy(copy, ap);
        r = redisvCommand(c, fmt, copy);
        va_end(copy);
        if (r)
            return r;
        /* The server restarted under us: one more try on a new connection. */
        redisFree(c);
        c = NULL;
    }
    TEST_FAIL("raw_redis '%s': no reply", fmt);
}

redisReply *raw_redis(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = raw_redis_v(fmt, ap);
    va_end(ap);
    return r;
}

long long raw_redis_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = raw_redis_v(fmt, ap);
    va_end(ap);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

void test_redis_fixture(const char *verb)
{
    char cmd[1024];
    const char *script = getenv("CAIRN_REDIS_FIXTURE"), *dir = getenv("CAIRN_REDIS_DIR");
    if (!script || !dir)
        TEST_FAIL("no CAIRN_REDIS_FIXTURE/CAIRN_REDIS_DIR: not under redis-server.sh run");
    snprintf(cmd, sizeof(cmd), "bash '%s' %s '%s'", script, verb, dir);
    if (system(cmd) != 0)
        TEST_FAIL("'%s' failed", cmd);
}
