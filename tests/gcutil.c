/* gcutil.c - see gcutil.h. */
#include "gcutil.h"

#include <string.h>

#include "id.h"
#include "test.h"

uint64_t gc_digest_commit(cairn_db *db, const cairn_id *commit, int *rc_out)
{
    cairn_snapshot *snap;
    cairn_iter *it;
    cairn_val k, v;
    uint64_t h = 1469598103934665603ull;
    int rc;

    if ((rc = cairn_snapshot_open_commit(db, commit, &snap))) {
        *rc_out = rc;
        return 0;
    }
    if ((rc = cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, 0, &it))) {
        cairn_snapshot_close(snap);
        *rc_out = rc;
        return 0;
    }
    while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
        for (size_t i = 0; i < k.len; i++)
            h = (h ^ ((const uint8_t *)k.data)[i]) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
        for (size_t i = 0; i < v.len; i++)
            h = (h ^ ((const uint8_t *)v.data)[i]) * 1099511628211ull;
        h = (h ^ 0xfe) * 1099511628211ull;
    }
    *rc_out = rc == CAIRN_NOTFOUND ? 0 : rc;
    cairn_iter_close(it);
    cairn_snapshot_close(snap);
    return h;
}

cairn_db *gc_open_db_flags(const char *spec, unsigned flags)
{
    cairn_options o;
    cairn_db *db;
    cairn_options_init(&o);
    o.node_size = 512;
    o.flags = flags;
    ASSERT_OK(cairn_open(spec, &o, &db));
    return db;
}

cairn_db *gc_open_db(const char *spec)
{
    return gc_open_db_flags(spec, 0);
}

void gc_history(cairn_db *db, uint64_t *rng, cairn_id *ids, uint64_t *digests, int n)
{
    int made = 0, rc;
    while (made < n) {
        ASSERT_OK(gc_commit_batch(db, rng, &ids[made]));
        if (made && cairn__id_eq(&ids[made], &ids[made - 1]))
            continue; /* nothing changed */
        digests[made] = gc_digest_commit(db, &ids[made], &rc);
        ASSERT_OK(rc);
        made++;
    }
}

int gc_commit_batch(cairn_db *db, uint64_t *rng, cairn_id *id)
{
    cairn_txn *txn;
    char key[32], val[200];
    int rc;

    if ((rc = cairn_txn_begin(db, NULL, &txn)))
        return rc;
    for (int op = 0, ops = 1 + (int)(*rng % 8); op < ops; op++) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)((*rng >> 33) % GC_KEYS);
        int kl = snprintf(key, sizeof(key), "key%05d", k);
        if ((*rng >> 20) % 3 == 0) {
            ASSERT_OK(cairn_txn_del(txn, NULL, key, (size_t)kl));
        } else {
            size_t vl = k % 5 == 0 ? 150 : 12;
            memset(val, 'a' + k % 26, vl);
            ASSERT_OK(cairn_txn_put(txn, NULL, key, (size_t)kl, val, vl));
        }
    }
    return cairn_txn_commit(txn, "c", id);
}

