/*
 * test_engine_hashes.c - strings and hashes (cairn.h, "hashes") against a
 * model.
 *
 *  - Random transactions over two keyspaces mixing cairn_txn_set_string,
 *    cairn_txn_del, cairn_txn_hset, cairn_txn_hdel and cairn_txn_hclear on
 *    a small universe of names and fields chosen to collide: names that
 *    are prefixes of each other ("a", "ab", "abc"), the empty name, binary
 *    names, one long enough for a two-byte varint; so every name is a
 *    string, a hash and neither in turn, and a transaction often writes
 *    one hash many times (hclear then sees fields only the transaction
 *    wrote). Values of 0..40 bytes, some of 1500 (out of line). What
 *    hset/hdel/hclear say they did is checked as they run; a tenth of
 *    the transactions are aborted.
 *  - After each commit, every read against the model: cairn_type, cairn_get
 *    of the strings, cairn_hget of every name and field, cairn_hlen, field
 *    iterators from no field and from random fields (with a seek partway),
 *    cairn_dbsize, cairn_key_at at every rank of the strings and of the
 *    hash names, and the raw field count of ".hash." S (a field left behind
 *    by hclear or hdel shows there).
 *  - History independence: the final contents written again into a fresh
 *    store in another order, through detours (decoy fields deleted again,
 *    strings turned into hashes and back), give the same catalog root.
 *  - Limits and misuse: the key limit after encoding (exact boundaries,
 *    reads and writes, the detail), reserved and too long keyspace names
 *    (the transaction is then unusable), a damaged count, a string and a
 *    hash of one name written through cairn_txn_put.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define N_SPACES 2
#define N_NAMES 12
#define N_FIELDS 9
#define LONG_NAME_LEN 300
#define BIG_VALUE 1500

static const char *const space_names[N_SPACES] = {NULL, "second"};

typedef struct bytes {
    const char *data;
    size_t len;
} bytes;

static char long_name[LONG_NAME_LEN];
static bytes names[N_NAMES] = {
    {"", 0},   {"a", 1},        {"ab", 2}, {"abc", 3},         {"b", 1},       {"k1", 2},
    {"k10", 3}, {"\x00", 1},    {"\xff\xff", 2}, {"\x01" "a", 2}, {"a\x00", 2}, {NULL, 0},
};
static const bytes fields[N_FIELDS] = {
    {"", 0}, {"a", 1}, {"b", 1}, {"bc", 2}, {"\x00", 1}, {"\xff", 1}, {"f1", 2}, {"f10", 3}, {"f2", 2},
};
/* Indexes of names and fields in key order. */
static int name_order[N_NAMES], field_order[N_FIELDS];

/* A value: its length and the seed of its bytes (value_bytes). */
typedef struct value {
    bool present;
    uint32_t seed;
    uint32_t len;
} value;

typedef struct state {
    value strings[N_SPACES][N_NAMES];
    value hashes[N_SPACES][N_NAMES][N_FIELDS];
} state;

static uint8_t value_buf[BIG_VALUE];

static const uint8_t *value_bytes(const value *v)
{
    uint64_t x = v->seed * 0x9e3779b97f4a7c15ull;
    uint32_t i;

    for (i = 0; i < v->len; i++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ull;
        value_buf[i] = (uint8_t)(x >> 56);
    }
    return value_buf;
}

static value random_value(void)
{
    value v = {true, (uint32_t)test_rand(), 0};
    v.len = test_rand_below(8) ? (uint32_t)test_rand_below(41) : BIG_VALUE;
    return v;
}

static int bytes_cmp(bytes a, bytes b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.data, b.data, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int cmp_names(const void *a, const void *b)
{
    return bytes_cmp(names[*(const int *)a], names[*(const int *)b]);
}

static int cmp_fields(const void *a, const void *b)
{
    return bytes_cmp(fields[*(const int *)a], fields[*(const int *)b]);
}

static void setup_universe(void)
{
    int i;

    memset(long_name, 'n', sizeof(long_name));
    names[N_NAMES - 1] = (bytes){long_name, sizeof(long_name)};
    for (i = 0; i < N_NAMES; i++)
        name_order[i] = i;
    for (i = 0; i < N_FIELDS; i++)
        field_order[i] = i;
    qsort(name_order, N_NAMES, sizeof(int), cmp_names);
    qsort(field_order, N_FIELDS, sizeof(int), cmp_fields);
}

static uint64_t hash_len(const state *st, int s, int n)
{
    uint64_t count = 0;
    for (int f = 0; f < N_FIELDS; f++)
        count += st->hashes[s][n][f].present;
    return count;
}

static void expect_value(cairn_val got, const value *want)
{
    ASSERT_TRUE(want->present);
    const uint8_t *w = value_bytes(want);
    ASSERT_MEM_EQ(got.data, got.len, w, want->len);
}

/* ---------------------------------------------------------------- checks */

/* The field iterator of hash n from field index `from` (-1: all; -2: a
 * random short string) returns the model's fields >= it, in order, and
 * after a seek partway the fields >= the seek. */
static void check_fields(cairn_snapshot *snap, const state *st, int s, int n, int from)
{
    const char *space = space_names[s];
    uint8_t rnd[2];
    bytes start = {NULL, 0};
    cairn_iter *it;
    cairn_val k, v;
    int i, seek_at = (int)test_rand_below(N_FIELDS + 1), steps = 0;

    if (from >= 0)
        start = fields[from];
    else if (from == -2) {
        rnd[0] = (uint8_t)test_rand_below(256);
        rnd[1] = (uint8_t)test_rand_below(256);
        start = (bytes){(const char *)rnd, test_rand_below(3)};
    }
    ASSERT_OK(cairn_hiter_open(snap, space, names[n].data, names[n].len, start.data, start.len,
                               &it));
    for (i = 0; i < N_FIELDS; i++) {
        int f = field_order[i];
        if (!st->hashes[s][n][f].present || bytes_cmp(fields[f], start) < 0)
            continue;
        if (steps++ == seek_at) {
            /* Seek to this field: the iterator goes on from it. */
            ASSERT_OK(cairn_iter_seek(it, fields[f].data, fields[f].len));
        }
        ASSERT_OK(cairn_iter_next(it, &k, &v));
        ASSERT_MEM_EQ(k.data, k.len, fields[f].data, fields[f].len);
        expect_value(v, &st->hashes[s][n][f]);
    }
    ASSERT_RC(cairn_iter_next(it, &k, &v), CAIRN_NOTFOUND);
    ASSERT_RC(cairn_iter_next(it, &k, &v), CAIRN_NOTFOUND);
    cairn_iter_close(it);
}

static void check_space(cairn_snapshot *snap, const state *st, int s)
{
    const char *space = space_names[s];
    char fields_space[CAIRN_NAME_MAX + 1], counts_space[CAIRN_NAME_MAX + 1], text[24];
    uint64_t n_strings = 0, n_hashes = 0, n_fields = 0, got, rank;
    cairn_key_type type;
    cairn_val k, v;
    int i, n, f;

    ASSERT_OK(cairn_hash_spaces(space, fields_space, counts_space));
    for (n = 0; n < N_NAMES; n++) {
        const value *str = &st->strings[s][n];
        uint64_t len = hash_len(st, s, n);
        int rc;

        ASSERT_OK(cairn_type(snap, space, names[n].data, names[n].len, &type));
        ASSERT_EQ(type, str->present ? CAIRN_TYPE_STRING : len ? CAIRN_TYPE_HASH : CAIRN_TYPE_NONE);
        rc = cairn_get(snap, space, names[n].data, names[n].len, &v);
        ASSERT_RC(rc, str->present ? 0 : CAIRN_NOTFOUND);
        if (!rc)
            expect_value(v, str);
        ASSERT_OK(cairn_hlen(snap, space, names[n].data, names[n].len, &got));
        ASSERT_EQ(got, len);
        for (f = 0; f < N_FIELDS; f++) {
            const value *want = &st->hashes[s][n][f];
            rc = cairn_hget(snap, space, names[n].data, names[n].len, fields[f].data,
                            fields[f].len, &v);
            ASSERT_RC(rc, want->present ? 0 : CAIRN_NOTFOUND);
            if (!rc)
                expect_value(v, want);
        }
        check_fields(snap, st, s, n, -1);
        check_fields(snap, st, s, n, (int)test_rand_below(N_FIELDS));
        check_fields(snap, st, s, n, -2);
        n_strings += str->present;
        n_hashes += len > 0;
        n_fields += len;
    }
    ASSERT_OK(cairn_dbsize(snap, space, &got));
    ASSERT_EQ(got, n_strings + n_hashes);

    /* Every rank of the strings, then of the hash names. */
    for (i = 0, rank = 0; i < N_NAMES; i++) {
        n = name_order[i];
        if (!st->strings[s][n].present)
            continue;
        ASSERT_OK(cairn_key_at(snap, space, rank, &k, NULL)); /* the key alone */
        ASSERT_MEM_EQ(k.data, k.len, names[n].data, names[n].len);
        ASSERT_OK(cairn_key_at(snap, space, rank++, &k, &v));
        ASSERT_MEM_EQ(k.data, k.len, names[n].data, names[n].len);
        expect_value(v, &st->strings[s][n]);
    }
    ASSERT_RC(cairn_key_at(snap, space, rank, &k, &v), CAIRN_NOTFOUND);
    for (i = 0, rank = 0; i < N_NAMES; i++) {
        uint64_t len;
        n = name_order[i];
        if (!(len = hash_len(st, s, n)))
            continue;
        ASSERT_OK(cairn_key_at(snap, counts_space, rank++, &k, &v));
        ASSERT_MEM_EQ(k.data, k.len, names[n].data, names[n].len);
        snprintf(text, sizeof(text), "%" PRIu64, len);
        ASSERT_MEM_EQ(v.data, v.len, text, strlen(text));
    }
    ASSERT_RC(cairn_key_at(snap, counts_space, rank, &k, &v), CAIRN_NOTFOUND);

    /* No field is left over anywhere: the raw keyspace holds exactly the
     * model's fields. */
    ASSERT_OK(cairn_count(snap, fields_space, NULL, 0, NULL, 0, &got));
    ASSERT_EQ(got, n_fields);
}

static void check_version(cairn_db *db, const state *st)
{
    cairn_snapshot *snap;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    for (int s = 0; s < N_SPACES; s++)
        check_space(snap, st, s);
    cairn_snapshot_close(snap);
}

/* ---------------------------------------------------------------- random writes */

/* One random operation in txn, checked against and applied to *st. */
static void random_op(cairn_txn *txn, state *st)
{
    int s = (int)test_rand_below(N_SPACES), n = (int)test_rand_below(N_NAMES);
    int f = (int)test_rand_below(N_FIELDS), f2;
    const char *space = space_names[s];
    bytes name = names[n];
    bool did;
    value v;

    switch (test_rand_below(8)) {
    case 0:
    case 1:
    case 2:
        v = random_value();
        ASSERT_OK(cairn_txn_hset(txn, space, name.data, name.len, fields[f].data, fields[f].len,
                                 value_bytes(&v), v.len, &did));
        ASSERT_EQ(did, !st->hashes[s][n][f].present);
        st->hashes[s][n][f] = v;
        st->strings[s][n].present = false;
        break;
    case 3:
    case 4:
        ASSERT_OK(cairn_txn_hdel(txn, space, name.data, name.len, fields[f].data, fields[f].len,
                                 &did));
        ASSERT_EQ(did, st->hashes[s][n][f].present);
        st->hashes[s][n][f].present = false;
        break;
    case 5:
        ASSERT_OK(cairn_txn_hclear(txn, space, name.data, name.len, &did));
        ASSERT_EQ(did, hash_len(st, s, n) > 0);
        for (f2 = 0; f2 < N_FIELDS; f2++)
            st->hashes[s][n][f2].present = false;
        break;
    case 6:
        v = random_value();
        ASSERT_OK(cairn_txn_set_string(txn, space, name.data, name.len, value_bytes(&v), v.len));
        st->strings[s][n] = v;
        for (f2 = 0; f2 < N_FIELDS; f2++)
            st->hashes[s][n][f2].present = false;
        break;
    default:
        ASSERT_OK(cairn_txn_del(txn, space, name.data, name.len));
        st->strings[s][n].present = false;
        break;
    }
}

static void random_history(cairn_db *db, state *st, int n_txns)
{
    static state before;

    for (int t = 0; t < n_txns; t++) {
        cairn_txn *txn;
        int ops = 1 + (int)test_rand_below(16);

        before = *st;
        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        while (ops--)
            random_op(txn, st);
        if (test_rand_below(10) == 0) {
            cairn_txn_abort(txn);
            *st = before;
        } else {
            ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
        }
        check_version(db, st);
    }
}

/* ---------------------------------------------------------------- history independence */

typedef struct item {
    int s, n, f; /* f = -1: the string */
} item;

/* Writes st into db again in a random order, in 1..3 transactions, with
 * detours that must leave no trace. */
static void rebuild(cairn_db *db, const state *st)
{
    item items[N_SPACES * N_NAMES * (N_FIELDS + 1)];
    size_t n_items = 0, i, cut1, cut2;
    bool started[N_SPACES][N_NAMES] = {{false}};
    cairn_txn *txn;

    for (int s = 0; s < N_SPACES; s++)
        for (int n = 0; n < N_NAMES; n++) {
            if (st->strings[s][n].present)
                items[n_items++] = (item){s, n, -1};
            for (int f = 0; f < N_FIELDS; f++)
                if (st->hashes[s][n][f].present)
                    items[n_items++] = (item){s, n, f};
        }
    for (i = n_items; i > 1; i--) {
        size_t j = test_rand_below(i);
        item t = items[i - 1];
        items[i - 1] = items[j];
        items[j] = t;
    }
    cut1 = test_rand_below(n_items + 1);
    cut2 = cut1 + test_rand_below(n_items - cut1 + 1);
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (i = 0; i < n_items; i++) {
        const item *it = &items[i];
        const char *space = space_names[it->s];
        bytes name = names[it->n];
        if (i == cut1 || i == cut2) {
            ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
            ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        }
        if (it->f < 0) {
            /* Sometimes a hash of the name first, which the string replaces. */
            if (test_rand_below(3) == 0)
                ASSERT_OK(cairn_txn_hset(txn, space, name.data, name.len, "decoy", 5, "x", 1,
                                         NULL));
            const value *v = &st->strings[it->s][it->n];
            ASSERT_OK(cairn_txn_set_string(txn, space, name.data, name.len, value_bytes(v),
                                           v->len));
        } else {
            const value *v = &st->hashes[it->s][it->n][it->f];
            /* Before the hash's first field, sometimes a string of the
             * name, which the hash replaces; after a field, sometimes a
             * decoy field deleted again. */
            if (!started[it->s][it->n] && test_rand_below(4) == 0)
                ASSERT_OK(cairn_txn_set_string(txn, space, name.data, name.len, "old", 3));
            started[it->s][it->n] = true;
            ASSERT_OK(cairn_txn_hset(txn, space, name.data, name.len, fields[it->f].data,
                                     fields[it->f].len, value_bytes(v), v->len, NULL));
            if (test_rand_below(3) == 0) {
                ASSERT_OK(cairn_txn_hset(txn, space, name.data, name.len, "zz-decoy", 8, "x", 1,
                                         NULL));
                ASSERT_OK(cairn_txn_hdel(txn, space, name.data, name.len, "zz-decoy", 8, NULL));
            }
        }
    }
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
}

static void catalog_root(cairn_db *db, cairn_id *out)
{
    cairn_snapshot *snap;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_snapshot_root(snap, CAIRN_CATALOG, out));
    cairn_snapshot_close(snap);
}

static void test_model(uint32_t node_size, int n_txns)
{
    static state st;
    cairn_options opts;
    cairn_id want, got;
    cairn_db *db, *again;
    char hex_want[CAIRN_ID_HEX + 1], hex_got[CAIRN_ID_HEX + 1];

    memset(&st, 0, sizeof(st));
    cairn_options_init(&opts);
    opts.node_size = node_size;
    ASSERT_OK(cairn_open("mem", &opts, &db));
    random_history(db, &st, n_txns);
    catalog_root(db, &want);
    for (int round = 0; round < 3; round++) {
        ASSERT_OK(cairn_open("mem", &opts, &again));
        rebuild(again, &st);
        check_version(again, &st);
        catalog_root(again, &got);
        cairn_id_to_hex(&want, hex_want);
        cairn_id_to_hex(&got, hex_got);
        if (memcmp(want.bytes, got.bytes, sizeof(want.bytes)) != 0)
            TEST_FAIL("rebuilt catalog %s, the random history's %s", hex_got, hex_want);
        cairn_close(again);
    }
    cairn_close(db);
}

/* ---------------------------------------------------------------- limits and misuse */

static void test_limits(void)
{
    static char big[CAIRN_KEY_MAX + 2];
    cairn_snapshot *snap;
    cairn_txn *txn;
    cairn_db *db;
    cairn_iter *it;
    cairn_val v;
    uint64_t n;

    memset(big, 'h', sizeof(big));
    ASSERT_OK(cairn_open("mem", NULL, &db));
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    /* A 1022-byte name takes a 2-byte varint: 1024 with the empty field. */
    ASSERT_OK(cairn_txn_hset(txn, NULL, big, 1022, "", 0, "v", 1, NULL));
    ASSERT_RC(cairn_txn_hset(txn, NULL, big, 1022, "f", 1, "v", 1, NULL), CAIRN_KEYTOOBIG);
    ASSERT_DETAIL("the 1022-byte name, its 2-byte length before it and the 1-byte field");
    ASSERT_DETAIL("1025 bytes, over the key limit of 1024");
    ASSERT_RC(cairn_txn_hset(txn, NULL, "h", 1, "f", 1, "v", 1, NULL), CAIRN_TXN_UNUSABLE);
    cairn_txn_abort(txn);

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    /* A 126-byte name takes one byte: 1024 with a 897-byte field. */
    ASSERT_OK(cairn_txn_hset(txn, NULL, big, 126, big, 897, "v", 1, NULL));
    ASSERT_OK(cairn_txn_hset(txn, NULL, big, 1022, "", 0, "v", 1, NULL));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_RC(cairn_txn_hset(txn, NULL, big, 126, big, 898, "v", 1, NULL), CAIRN_KEYTOOBIG);
    cairn_txn_abort(txn);
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_RC(cairn_txn_hclear(txn, NULL, big, 1025, NULL), CAIRN_KEYTOOBIG);
    ASSERT_DETAIL("hash name 'hhhh");
    cairn_txn_abort(txn);

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_hget(snap, NULL, big, 126, big, 897, &v));
    ASSERT_MEM_EQ(v.data, v.len, "v", 1);
    ASSERT_OK(cairn_hget(snap, NULL, big, 1022, "", 0, &v));
    ASSERT_RC(cairn_hget(snap, NULL, big, 126, big, 898, &v), CAIRN_KEYTOOBIG);
    ASSERT_RC(cairn_hlen(snap, NULL, big, 1025, &n), CAIRN_KEYTOOBIG);
    ASSERT_RC(cairn_hiter_open(snap, NULL, big, 1022, "x", 1, &it), CAIRN_KEYTOOBIG);
    ASSERT_TRUE(it == NULL);
    ASSERT_OK(cairn_dbsize(snap, NULL, &n));
    ASSERT_EQ(n, 2);
    cairn_snapshot_close(snap);

    /* Reserved and too long keyspaces: refused, the transaction unusable. */
    static const char *const refused[] = {".hash.", ".x", "."};
    for (size_t i = 0; i < 3; i++) {
        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        ASSERT_RC(cairn_txn_hset(txn, refused[i], "h", 1, "f", 1, "v", 1, NULL), CAIRN_BADARG);
        ASSERT_DETAIL("reserved for cairn's own use");
        ASSERT_RC(cairn_txn_put(txn, NULL, "k", 1, "v", 1), CAIRN_TXN_UNUSABLE);
        cairn_txn_abort(txn);
    }
    char name194[195], name195[196];
    memset(name194, 's', 194);
    name194[194] = '\0';
    memset(name195, 's', 195);
    name195[195] = '\0';
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_hset(txn, name194, "h", 1, "f", 1, "v", 1, NULL));
    ASSERT_RC(cairn_txn_set_string(txn, name195, "h", 1, "v", 1), CAIRN_BADARG);
    ASSERT_DETAIL("of 195 bytes: one with strings and hashes may have at most 194");
    cairn_txn_abort(txn);
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    cairn_key_type type;
    ASSERT_RC(cairn_type(snap, ".hlen.", "h", 1, &type), CAIRN_BADARG);
    ASSERT_RC(cairn_dbsize(snap, name195, &n), CAIRN_BADARG);
    ASSERT_RC(cairn_hash_spaces(".x", NULL, NULL), CAIRN_BADARG);
    cairn_snapshot_close(snap);
    cairn_close(db);
}

static void test_misuse(void)
{
    char fields_space[CAIRN_NAME_MAX + 1], counts_space[CAIRN_NAME_MAX + 1];
    cairn_snapshot *snap;
    cairn_key_type type;
    cairn_txn *txn;
    cairn_db *db;
    uint64_t n;
    bool did;

    ASSERT_OK(cairn_hash_spaces("s", fields_space, counts_space));
    ASSERT_TRUE(strcmp(fields_space, ".hash.s") == 0 && strcmp(counts_space, ".hlen.s") == 0);
    ASSERT_OK(cairn_hash_spaces(NULL, fields_space, counts_space));
    ASSERT_TRUE(strcmp(fields_space, ".hash.") == 0 && strcmp(counts_space, ".hlen.") == 0);

    ASSERT_OK(cairn_open("mem", NULL, &db));
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    /* A hash and, through the general put, a string of the same name: the
     * string wins in cairn_type, the hash still reads. */
    ASSERT_OK(cairn_txn_hset(txn, "s", "both", 4, "f", 1, "v", 1, NULL));
    ASSERT_OK(cairn_txn_put(txn, "s", "both", 4, "str", 3));
    /* A damaged count. */
    ASSERT_OK(cairn_txn_put(txn, ".hlen.s", "bad", 3, "07", 2));
    /* An hdel of a field that is not there records nothing. */
    ASSERT_OK(cairn_txn_hdel(txn, "s", "none", 4, "f", 1, &did));
    ASSERT_TRUE(!did);
    ASSERT_OK(cairn_txn_hclear(txn, "s", "none", 4, &did));
    ASSERT_TRUE(!did);
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_type(snap, "s", "both", 4, &type));
    ASSERT_EQ(type, CAIRN_TYPE_STRING);
    ASSERT_OK(cairn_hlen(snap, "s", "both", 4, &n));
    ASSERT_EQ(n, 1);
    ASSERT_RC(cairn_hlen(snap, "s", "bad", 3, &n), CAIRN_CORRUPT);
    ASSERT_DETAIL("the field count of hash 'bad' is '07'");
    ASSERT_OK(cairn_type(snap, "s", "none", 4, &type));
    ASSERT_EQ(type, CAIRN_TYPE_NONE);
    cairn_snapshot_close(snap);

    /* Writes that need the damaged count fail, naming it. */
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_RC(cairn_txn_hset(txn, "s", "bad", 3, "f", 1, "v", 1, NULL), CAIRN_CORRUPT);
    ASSERT_DETAIL("'.hlen.s'");
    cairn_txn_abort(txn);
    cairn_close(db);
}

int main(void)
{
    test_seed_init(12);
    setup_universe();
    test_limits();
    test_misuse();
    test_model(256, 3000);
    test_model(4096, 1500);
    printf("ok\n");
    return 0;
}
