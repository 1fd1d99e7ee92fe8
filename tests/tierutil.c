/* tierutil.c - the helpers declared in tierutil.h. */
#include "tierutil.h"

#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "id.h"
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

void raw_lmdb(const char *dir, const char *dbname, const void *key, size_t key_len,
              const void *data, size_t len, void **out, size_t *out_len)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {key_len, (void *)key}, v = {len, (void *)data};
    unsigned flags = out ? MDB_RDONLY : 0;

    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 2), 0);
    ASSERT_EQ(mdb_env_set_mapsize(env, 1ull << 30), 0);
    ASSERT_EQ(mdb_env_open(env, dir, MDB_NOTLS | flags, 0644), 0);
    ASSERT_EQ(mdb_txn_begin(env, NULL, flags, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, dbname, 0, &dbi), 0);
    if (out) {
        ASSERT_EQ(mdb_get(txn, dbi, &k, &v), 0);
        ASSERT_TRUE((*out = malloc(v.mv_size ? v.mv_size : 1)) != NULL);
        memcpy(*out, v.mv_data, v.mv_size);
        *out_len = v.mv_size;
        mdb_txn_abort(txn);
    } else {
        ASSERT_EQ(data ? mdb_put(txn, dbi, &k, &v, 0) : mdb_del(txn, dbi, &k, NULL), 0);
        ASSERT_EQ(mdb_txn_commit(txn), 0);
    }
    mdb_env_close(env);
}

void raw_lmdb_damage(const char *dir, const cairn_id *id)
{
    void *bytes;
    size_t len;

    raw_lmdb(dir, "blobs", id->bytes, 32, NULL, 0, &bytes, &len);
    ((uint8_t *)bytes)[len / 2] ^= 0x40;
    raw_lmdb(dir, "blobs", id->bytes, 32, bytes, len, NULL, NULL);
    free(bytes);
}
