/*
 * test_tier_lmdb_packs.c - the LMDB tier's packed layout: which layout a
 * store gets and keeps (refused before anything changes on disk), a
 * randomized model of puts and removes that checks the layout's
 * invariants on the raw databases (every pack valid, every location
 * pointing at its blob's copy, no pack less than half live), damaged
 * locations and pack indexes, and blobs of every size.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "id.h"
#include "pack.h"
#include "test.h"
#include "tier.h"
#include "tierutil.h"

static cairn_tier *open_lmdb(const char *dir, const char *opts)
{
    char spec[512];
    cairn_tier *t = NULL;

    snprintf(spec, sizeof(spec), "lmdb:%s%s%s", dir, *opts ? "?" : "", opts);
    ASSERT_OK(cairn__tier_open(spec, 0, &t));
    return t;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Whether the closed store at dir holds the named database. */
static bool has_db(const char *dir, const char *name)
{
    MDB_txn *txn = raw_lmdb_begin(dir, false);
    MDB_dbi dbi;
    bool has = mdb_dbi_open(txn, name, 0, &dbi) == 0;

    raw_lmdb_end(txn, false);
    return has;
}

/* What check_packs found. */
typedef struct pack_stats {
    uint64_t packs, damaged, blobs, live_bytes, record_bytes;
} pack_stats;

/* Checks the packed layout's invariants on the closed store at dir:
 * every pack parses (or is one of `damaged_ok` damaged ones, left alone);
 * every location names a pack that lists that id at that offset and
 * length; every pack that parses has a live blob, and at least half of its
 * record bytes live (unless leaks_ok: a damaged location loses track of
 * the copy it pointed at, whose pack then stays as it was). */
static pack_stats check_packs(const char *dir, uint64_t damaged_ok, bool leaks_ok)
{
    MDB_txn *txn = raw_lmdb_begin(dir, false);
    MDB_dbi packs, where;
    MDB_cursor *cur;
    MDB_val k, v;
    pack_stats st = {0};
    struct seen {
        uint64_t seq, live, live_count, records;
        cairn_pack_index *ix;
    } *seen = NULL;
    size_t n_seen = 0;
    int rc;

    ASSERT_EQ(mdb_dbi_open(txn, "packs", 0, &packs), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "where", 0, &where), 0);
    ASSERT_EQ(mdb_cursor_open(txn, packs, &cur), 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        cairn_pack_footer f;
        cairn_pack_index *ix = NULL;

        ASSERT_EQ(k.mv_size, 8);
        st.packs++;
        if (v.mv_size < CAIRN_PACK_FOOTER ||
            cairn__pack_footer_parse("p", (uint8_t *)v.mv_data + v.mv_size - CAIRN_PACK_FOOTER,
                                     v.mv_size, &f) ||
            cairn__pack_index_parse("p", v.mv_data, v.mv_size, v.mv_size, &ix)) {
            st.damaged++;
            continue;
        }
        seen = realloc(seen, (n_seen + 1) * sizeof(*seen));
        ASSERT_TRUE(seen != NULL);
        seen[n_seen++] = (struct seen){get_be(k.mv_data, 8), 0, 0, f.index_offset, ix};
        st.record_bytes += f.index_offset;
        /* every record hashes to its id (the pack says which it holds) */
        for (uint64_t i = 0; i < ix->count; i++) {
            cairn_id got;
            cairn__sha256((uint8_t *)v.mv_data + ix->entries[i].offset,
                          (size_t)ix->entries[i].length, &got);
            ASSERT_TRUE(cairn__id_eq(&got, &ix->entries[i].id));
        }
    }
    ASSERT_EQ(rc, MDB_NOTFOUND);
    mdb_cursor_close(cur);
    ASSERT_EQ(st.damaged <= damaged_ok, true);
    ASSERT_EQ(mdb_cursor_open(txn, where, &cur), 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *loc = v.mv_data;
        uint64_t seq, off, len;
        const cairn_pack_entry *e;
        cairn_id id;
        size_t i;

        ASSERT_EQ(k.mv_size, 32);
        ASSERT_EQ(v.mv_size, 16);
        memcpy(id.bytes, k.mv_data, 32);
        seq = get_be(loc, 8);
        off = get_be(loc + 8, 4);
        len = get_be(loc + 12, 4);
        st.blobs++;
        for (i = 0; i < n_seen && seen[i].seq != seq; i++)
            ;
        if (i == n_seen) { /* only a damaged pack may hold it */
            ASSERT_TRUE(st.damaged > 0);
            continue;
        }
        ASSERT_TRUE((e = cairn__pack_lookup(seen[i].ix, &id)) != NULL);
        ASSERT_EQ(e->offset, off);
        ASSERT_EQ(e->length, len);
        seen[i].live += len;
        seen[i].live_count++;
        st.live_bytes += len;
    }
    ASSERT_EQ(rc, MDB_NOTFOUND);
    mdb_cursor_close(cur);
    for (size_t i = 0; i < n_seen; i++) {
        if (!leaks_ok && (seen[i].live_count == 0 || seen[i].live * 2 < seen[i].records))
            TEST_FAIL("pack %llu: %llu of %llu record bytes live",
                      (unsigned long long)seen[i].seq, (unsigned long long)seen[i].live,
                      (unsigned long long)seen[i].records);
        cairn__pack_index_free(seen[i].ix);
    }
    free(seen);
    raw_lmdb_end(txn, false);
    return st;
}

/* A new store is packed unless the spec says layout=blobs; a store keeps
 * its layout, and a spec naming the other one is refused by the check,
 * before any tier of the stack changes anything on disk, and also when
 * the store is already open in this process. */
static void test_layouts(void)
{
    char *packed = strdup(test_tmpdir()), *blobs = strdup(test_tmpdir());
    char spec[1200], other[600];
    struct stat st;
    cairn_tier *t, *t2;
    cairn_db *db;
    test_blob b = make_blob(1, 100);

    t = open_lmdb(packed, "");
    ASSERT_OK(put_one(t, &b));
    cairn__tier_close(t);
    t = open_lmdb(blobs, "layout=blobs");
    ASSERT_OK(put_one(t, &b));
    cairn__tier_close(t);
    ASSERT_TRUE(has_db(packed, "packs") && has_db(packed, "where") && !has_db(packed, "blobs"));
    ASSERT_TRUE(has_db(blobs, "blobs") && !has_db(blobs, "packs"));

    /* Without the option each keeps its layout; naming it is fine. */
    t = open_lmdb(blobs, "");
    ASSERT_TRUE(holds(t, &b));
    cairn__tier_close(t);
    t = open_lmdb(packed, "layout=packed");
    ASSERT_TRUE(holds(t, &b));
    cairn__tier_close(t);

    /* The other layout: refused at check, with nothing created. */
    snprintf(other, sizeof(other), "%s/new-file-store", test_tmpdir());
    snprintf(spec, sizeof(spec), "file:%s>lmdb:%s?layout=blobs", other, packed);
    ASSERT_RC(cairn_open(spec, NULL, &db), CAIRN_BADSPEC);
    ASSERT_DETAIL("layout=packed");
    ASSERT_TRUE(stat(other, &st) != 0 && errno == ENOENT);
    snprintf(spec, sizeof(spec), "file:%s>lmdb:%s?layout=packed", other, blobs);
    ASSERT_RC(cairn_open(spec, NULL, &db), CAIRN_BADSPEC);
    ASSERT_DETAIL("layout=blobs");
    ASSERT_TRUE(stat(other, &st) != 0 && errno == ENOENT);

    /* The same while this process has the store open (one env per path). */
    t = open_lmdb(packed, "");
    snprintf(spec, sizeof(spec), "lmdb:%s?layout=blobs", packed);
    ASSERT_RC(cairn__tier_open(spec, 0, &t2), CAIRN_BADSPEC);
    ASSERT_DETAIL("layout=packed");
    ASSERT_RC(cairn__tier_open(spec, 0, &t2), CAIRN_BADSPEC); /* and again */
    ASSERT_TRUE(holds(t, &b));
    cairn__tier_close(t);
    snprintf(spec, sizeof(spec), "lmdb:%s?layout=tiled", packed);
    ASSERT_RC(cairn__tier_open(spec, 0, &t2), CAIRN_BADSPEC);
    ASSERT_DETAIL("layout must be blobs or packed");
    for (int i = 0; i < 4; i++) {
        static const char *bad[] = {"0", "65", "-1", "4k"};
        snprintf(spec, sizeof(spec), "lmdb:%s?pack_pages=%s", packed, bad[i]);
        ASSERT_RC(cairn__tier_open(spec, 0, &t2), CAIRN_BADSPEC);
        ASSERT_DETAIL("pack_pages must be 1 to 64");
    }
    check_packs(packed, 0, false);

    /* Both layouts' databases: refused, not guessed. */
    {
        MDB_txn *txn = raw_lmdb_begin(packed, true);
        MDB_dbi dbi;
        ASSERT_EQ(mdb_dbi_open(txn, "blobs", MDB_CREATE, &dbi), 0);
        raw_lmdb_end(txn, true);
    }
    snprintf(spec, sizeof(spec), "lmdb:%s", packed);
    ASSERT_RC(cairn__tier_open(spec, 0, &t2), CAIRN_CORRUPT);
    ASSERT_DETAIL("both layouts");
    free(b.data);
    free(packed);
    free(blobs);
    printf("layouts: new stores packed, kept, the other refused before any change\n");
}

#define MODEL_BLOBS 96

/* A blob length for the model: mostly node-sized, some tiny, some larger
 * than a page (a pack of their own), a few large. At least 8 bytes, so
 * that blobs of distinct seeds differ (blob 0 is the one empty blob). */
static size_t model_len(void)
{
    switch (test_rand_below(10)) {
    case 0:
        return 8 + (size_t)test_rand_below(40);
    case 1:
        return 4000 + (size_t)test_rand_below(12000);
    case 2:
        return test_rand_below(8) == 0 ? 200000 + (size_t)test_rand_below(100000)
                                       : 100 + (size_t)test_rand_below(300);
    default:
        return 300 + (size_t)test_rand_below(2200);
    }
}

/* Random batches of puts (with duplicates in a batch) and removes against
 * a model of what is held; at every reopen the raw invariants. */
static void test_model(int ops, unsigned pack_pages)
{
    char *dir = strdup(test_tmpdir()), opts[96];
    cairn_tier *t;
    test_blob blobs[MODEL_BLOBS];
    bool held[MODEL_BLOBS] = {false};
    uint64_t reopens = 0, max_packs = 0;

    snprintf(opts, sizeof(opts), "sync=none&map_initial=1M&pack_pages=%u", pack_pages);
    t = open_lmdb(dir, opts);
    for (int i = 0; i < MODEL_BLOBS; i++)
        blobs[i] = make_blob(test_rand(), i == 0 ? 0 : model_len());
    for (int op = 0; op < ops; op++) {
        size_t k = 1 + (size_t)test_rand_below(12), pick[12];
        cairn_id ids[12];
        cairn_blob c[12];

        for (size_t j = 0; j < k; j++) {
            pick[j] = (size_t)test_rand_below(MODEL_BLOBS);
            ids[j] = blobs[pick[j]].id;
            c[j] = as_blob(&blobs[pick[j]]);
        }
        switch (test_rand_below(5)) {
        case 0:
        case 1:
            ASSERT_OK(cairn__tier_put_many(t, c, k));
            for (size_t j = 0; j < k; j++)
                held[pick[j]] = true;
            break;
        case 2:
            ASSERT_OK(cairn__tier_remove_many(t, ids, k));
            for (size_t j = 0; j < k; j++)
                held[pick[j]] = false;
            break;
        case 3:
            expect_get(t, blobs, pick, k, held, op);
            break;
        case 4:
            if (test_rand_below(20) == 0) {
                pack_stats st;
                uint64_t want_blobs = 0, want_bytes = 0;

                cairn__tier_close(t);
                st = check_packs(dir, 0, false);
                for (int i = 0; i < MODEL_BLOBS; i++)
                    if (held[i])
                        want_blobs++, want_bytes += blobs[i].len;
                ASSERT_EQ(st.blobs, want_blobs);
                ASSERT_EQ(st.live_bytes, want_bytes);
                max_packs = st.packs > max_packs ? st.packs : max_packs;
                reopens++;
                t = open_lmdb(dir, opts);
            }
            break;
        }
    }
    cairn__tier_close(t);
    check_packs(dir, 0, false);
    for (int i = 0; i < MODEL_BLOBS; i++)
        free(blobs[i].data);
    free(dir);
    printf("model, pack_pages=%u: %d operations, %llu invariant checks, at most %llu packs\n",
           pack_pages, ops, (unsigned long long)reopens, (unsigned long long)max_packs);
}

/* Writes a location record for id behind cairn's back. */
static void set_loc(const char *dir, const cairn_id *id, const void *loc, size_t len)
{
    MDB_txn *txn = raw_lmdb_begin(dir, true);
    MDB_dbi where;
    MDB_val k = {32, (void *)id->bytes}, v = {len, (void *)loc};

    ASSERT_EQ(mdb_dbi_open(txn, "where", 0, &where), 0);
    ASSERT_EQ(mdb_put(txn, where, &k, &v, 0), 0);
    raw_lmdb_end(txn, true);
}

/* Flips a byte of the index of pack seq behind cairn's back. */
static void damage_pack_index(const char *dir, uint64_t seq)
{
    MDB_txn *txn = raw_lmdb_begin(dir, true);
    MDB_dbi packs;
    uint8_t key[8], *copy;
    MDB_val k = {8, key}, v;

    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(seq >> (56 - 8 * i));
    ASSERT_EQ(mdb_dbi_open(txn, "packs", 0, &packs), 0);
    ASSERT_EQ(mdb_get(txn, packs, &k, &v), 0);
    ASSERT_TRUE((copy = malloc(v.mv_size)) != NULL);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size - CAIRN_PACK_FOOTER - 10] ^= 0x10; /* in the last index entry */
    v.mv_data = copy;
    ASSERT_EQ(mdb_put(txn, packs, &k, &v, 0), 0);
    raw_lmdb_end(txn, true);
    free(copy);
}

/* A location that does not resolve is CORRUPT naming the blob, twice,
 * and the next put of the blob replaces it; a pack whose index is damaged
 * keeps its blobs readable, and removing them leaves it alone. */
static void test_damage(void)
{
    char *dir = strdup(test_tmpdir()), hex[CAIRN_ID_HEX + 1];
    test_blob a = make_blob(11, 700), b = make_blob(12, 900);
    cairn_blob both[2] = {as_blob(&a), as_blob(&b)};
    uint8_t loc[16] = {0};
    cairn_tier *t = open_lmdb(dir, "");
    cairn_buf got[2];
    pack_stats st;

    ASSERT_OK(cairn__tier_put_many(t, both, 2)); /* one pack, seq 1 */
    cairn__tier_close(t);
    cairn_id_to_hex(&a.id, hex);

    /* Damaged locations: short, past its pack's end, in a missing pack. */
    for (int c = 0; c < 3; c++) {
        loc[7] = c == 2 ? 9 : 1; /* seq 1, or 9 (none) */
        loc[10] = c == 1 ? 0x7f : 0;
        loc[15] = 100;
        set_loc(dir, &a.id, loc, c == 0 ? 15 : 16);
        t = open_lmdb(dir, "");
        for (int twice = 0; twice < 2; twice++) {
            ASSERT_RC(cairn__tier_get_many(t, &a.id, 1, got), CAIRN_CORRUPT);
            ASSERT_DETAIL(hex);
        }
        ASSERT_OK(put_one(t, &a));
        ASSERT_TRUE(holds(t, &a) && holds(t, &b));
        cairn__tier_close(t);
        check_packs(dir, 0, true);
    }

    /* The pack holding b (and the dead copy of a): damage its index. */
    t = open_lmdb(dir, "");
    ASSERT_OK(cairn__tier_put_many(t, both, 2));
    cairn__tier_close(t);
    st = check_packs(dir, 0, true);
    damage_pack_index(dir, 1);
    t = open_lmdb(dir, "");
    ASSERT_TRUE(holds(t, &b));
    ASSERT_OK(cairn__tier_remove_many(t, &b.id, 1));
    ASSERT_OK(cairn__tier_remove_many(t, &b.id, 1));
    ASSERT_TRUE(!holds(t, &b) && holds(t, &a));
    cairn__tier_close(t);
    ASSERT_EQ(check_packs(dir, 1, true).packs, st.packs); /* left alone */
    free(a.data);
    free(b.data);
    free(dir);
    printf("damage: bad locations named and replaced; a damaged pack index left alone\n");
}

int main(void)
{
    const char *s = getenv("CAIRN_TEST_SCALE");
    double scale = s ? atof(s) : 1.0;

    test_seed_init(9);
    test_layouts();
    test_damage();
    test_model((int)(4000 * (scale > 0 ? scale : 1.0)) + 200, 1);
    test_model((int)(4000 * (scale > 0 ? scale : 1.0)) + 200, 4);
    printf("ok\n");
    return 0;
}
