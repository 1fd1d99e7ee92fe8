/* storeutil.c - the helpers declared in storeutil.h. */
#include "storeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

void store_spec(char *out, size_t cap, const char *kind, const char *dir, const char *name)
{
    if (!strcmp(kind, "mem"))
        snprintf(out, cap, "mem");
    else
        snprintf(out, cap, "%s:%s/%s", kind, dir, name);
}

cairn_db *store_open(const char *spec, uint32_t node_size, unsigned flags)
{
    cairn_options o;
    cairn_db *db;

    cairn_options_init(&o);
    o.node_size = node_size;
    o.flags = flags;
    o.node_cache_bytes = 8 << 20;
    ASSERT_OK(cairn_open(spec, &o, &db));
    return db;
}

void store_commit_random(cairn_db *db, const char *branch, int n_ops, cairn_id *head)
{
    static uint8_t big[3000];
    cairn_txn *txn;
    char message[64];

    ASSERT_OK(cairn_txn_begin(db, branch, &txn));
    for (int i = 0; i < n_ops; i++) {
        uint8_t key[12], val[48];
        uint32_t k = (uint32_t)test_rand_below(3000);
        const char *space = test_rand_below(3) == 0 ? "other" : NULL;
        size_t key_len = 4 + (size_t)(k % 8), val_len = (size_t)test_rand_below(sizeof(val));

        /* Binary keys: a prefix that orders them, then bytes of any value. */
        key[0] = (uint8_t)(k >> 8);
        key[1] = (uint8_t)k;
        key[2] = 0x00;
        key[3] = 0xff;
        for (size_t j = 4; j < key_len; j++)
            key[j] = (uint8_t)(k * 31 + j);
        if (test_rand_below(5) == 0) {
            ASSERT_OK(cairn_txn_del(txn, space, key, key_len));
        } else if (test_rand_below(15) == 0) {
            size_t len = 1500 + (size_t)test_rand_below(1500);
            for (size_t j = 0; j < len; j++)
                big[j] = (uint8_t)test_rand();
            ASSERT_OK(cairn_txn_put(txn, space, key, key_len, big, len));
        } else {
            for (size_t j = 0; j < val_len; j++)
                val[j] = (uint8_t)test_rand(); /* tabs, newlines, NULs: all bytes */
            ASSERT_OK(cairn_txn_put(txn, space, key, key_len, val, val_len));
        }
    }
    snprintf(message, sizeof(message), "random %d", n_ops);
    ASSERT_OK(cairn_txn_commit(txn, message, head));
}

void store_history(cairn_db *db, int commits)
{
    static int tags;
    for (int c = 0; c < commits; c++) {
        cairn_id head;
        store_commit_random(db, c % 5 == 4 ? "dev" : NULL, 20 + (int)test_rand_below(200), &head);
        if (test_rand_below(8) == 0) {
            char tag[32];
            snprintf(tag, sizeof(tag), "t%d", ++tags);
            ASSERT_OK(cairn_ref_set(db, CAIRN_TAG, tag, &head, 0));
        }
    }
}

uint64_t store_blobs(cairn_db *db)
{
    cairn_stats st;
    ASSERT_OK(cairn_stats_get(db, NULL, &st));
    return st.tiers[st.n_tiers - 1].blobs;
}

static int first_problem(void *ctx, const char *msg)
{
    char *out = ctx;
    if (!out[0])
        snprintf(out, 512, "%s", msg);
    return 0;
}

void store_verify_ok(cairn_db *db, const char *what)
{
    cairn_verify_report rep;
    char first[512] = "";
    int rc = cairn_verify(db, first_problem, first, &rep);
    if (rc || rep.problems)
        TEST_FAIL("%s: verify: %s, %llu problems, the first: %s", what, cairn_errname(rc),
                  (unsigned long long)rep.problems, first);
}

typedef struct text_buf {
    char *p;
    size_t len, cap;
} text_buf;

static int ref_line(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    text_buf *b = ctx;
    char hex[CAIRN_ID_HEX + 1];
    cairn_id_to_hex(commit, hex);
    b->len += (size_t)snprintf(b->p + b->len, b->cap - b->len, "%s %s %s\n",
                               kind == CAIRN_TAG ? "tag" : "branch", name, hex);
    ASSERT_TRUE(b->len < b->cap);
    return 0;
}

void store_refs_text(cairn_db *db, char *out, size_t cap)
{
    text_buf b = {out, 0, cap};
    out[0] = '\0';
    ASSERT_OK(cairn_ref_list(db, ref_line, &b));
}

typedef struct id_log {
    cairn_id *ids;
    bool *dropped;
    size_t n, cap;
} id_log;

static int log_one(void *ctx, const cairn_commit_info *info)
{
    id_log *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ids = realloc(l->ids, l->cap * sizeof(*l->ids));
        l->dropped = realloc(l->dropped, l->cap * sizeof(*l->dropped));
        ASSERT_TRUE(l->ids && l->dropped);
    }
    l->ids[l->n] = info->id;
    l->dropped[l->n++] = info->history_dropped;
    return 0;
}

static void same_ref(cairn_db *a, cairn_db *b, const char *name, bool exact)
{
    cairn_id ha, hb, ra, rb;
    cairn_snapshot *sa, *sb;
    id_log la = {0}, lb = {0};
    char x[13], y[13];

    ASSERT_OK(cairn_resolve(a, name, &ha));
    if (cairn_resolve(b, name, &hb))
        TEST_FAIL("ref '%s' is missing in the copy (%s)", name, cairn_errdetail());
    if (memcmp(&ha, &hb, sizeof(ha)) != 0) {
        char ah[CAIRN_ID_HEX + 1], bh[CAIRN_ID_HEX + 1];
        cairn_id_to_hex(&ha, ah);
        cairn_id_to_hex(&hb, bh);
        TEST_FAIL("ref '%s': %s in the source, %s in the copy", name, ah, bh);
    }
    ASSERT_OK(cairn_commit_walk(a, &ha, 1, log_one, &la));
    ASSERT_OK(cairn_commit_walk(b, &hb, 1, log_one, &lb));
    /* Below a boundary of the source's gc, the copy may hold more history
     * (copied before that gc), never less. */
    bool more = !exact && la.n && la.dropped[la.n - 1] && lb.n > la.n;
    if (la.n != lb.n && !more)
        TEST_FAIL("ref '%s': %zu commits in the source's history, %zu in the copy's", name, la.n,
                  lb.n);
    for (size_t i = 0; i < la.n; i++) {
        snprintf(x, sizeof(x), "%02x%02x%02x", la.ids[i].bytes[0], la.ids[i].bytes[1],
                 la.ids[i].bytes[2]);
        snprintf(y, sizeof(y), "%02x%02x%02x", lb.ids[i].bytes[0], lb.ids[i].bytes[1],
                 lb.ids[i].bytes[2]);
        if (memcmp(&la.ids[i], &lb.ids[i], sizeof(cairn_id)) != 0)
            TEST_FAIL("ref '%s': commit %zu of the log is %s in the source, %s in the copy", name,
                      i, x, y);
        if (la.dropped[i] != lb.dropped[i] && !(more && i + 1 == la.n))
            TEST_FAIL("ref '%s': commit %s ends the history in %s only", name, x,
                      la.dropped[i] ? "the source" : "the copy");
    }
    ASSERT_OK(cairn_snapshot_open_commit(a, &ha, &sa));
    ASSERT_OK(cairn_snapshot_open_commit(b, &hb, &sb));
    ASSERT_OK(cairn_snapshot_root(sa, CAIRN_CATALOG, &ra));
    ASSERT_OK(cairn_snapshot_root(sb, CAIRN_CATALOG, &rb));
    ASSERT_TRUE(memcmp(&ra, &rb, sizeof(ra)) == 0);
    cairn_snapshot_close(sa);
    cairn_snapshot_close(sb);
    free(la.ids);
    free(la.dropped);
    free(lb.ids);
    free(lb.dropped);
}

void store_same_head(cairn_db *a, cairn_db *b, const char *name)
{
    cairn_id ha, hb, ra, rb;
    cairn_snapshot *sa, *sb;

    ASSERT_OK(cairn_resolve(a, name, &ha));
    ASSERT_OK(cairn_resolve(b, name, &hb));
    ASSERT_TRUE(memcmp(&ha, &hb, sizeof(ha)) == 0);
    ASSERT_OK(cairn_snapshot_open_commit(a, &ha, &sa));
    ASSERT_OK(cairn_snapshot_open_commit(b, &hb, &sb));
    ASSERT_OK(cairn_snapshot_root(sa, CAIRN_CATALOG, &ra));
    ASSERT_OK(cairn_snapshot_root(sb, CAIRN_CATALOG, &rb));
    ASSERT_TRUE(memcmp(&ra, &rb, sizeof(ra)) == 0);
    cairn_snapshot_close(sa);
    cairn_snapshot_close(sb);
}

void store_same_ref(cairn_db *a, cairn_db *b, const char *name)
{
    same_ref(a, b, name, false);
}

void store_same_history(cairn_db *a, cairn_db *b, const char *name)
{
    same_ref(a, b, name, true);
}

typedef struct name_list {
    char names[256][CAIRN_NAME_MAX + 1];
    size_t n;
} name_list;

static int collect_name(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    name_list *l = ctx;
    (void)kind;
    (void)commit;
    ASSERT_TRUE(l->n < 256);
    snprintf(l->names[l->n++], CAIRN_NAME_MAX + 1, "%s", name);
    return 0;
}

void store_same_refs(cairn_db *a, cairn_db *b, bool exact)
{
    static name_list la, lb;
    la.n = lb.n = 0;
    ASSERT_OK(cairn_ref_list(a, collect_name, &la));
    ASSERT_OK(cairn_ref_list(b, collect_name, &lb));
    for (size_t i = 0; i < la.n; i++)
        store_same_ref(a, b, la.names[i]);
    if (exact && la.n != lb.n)
        TEST_FAIL("the copy has %zu refs, the source %zu", lb.n, la.n);
}

void store_same_contents(cairn_db *a, cairn_db *b, const char *at)
{
    const char *spaces[2] = {NULL, "other"};
    cairn_snapshot *sa, *sb;

    ASSERT_OK(cairn_snapshot_open(a, at, &sa));
    ASSERT_OK(cairn_snapshot_open(b, at, &sb));
    for (int s = 0; s < 2; s++) {
        cairn_iter *ia, *ib;
        cairn_val ka, va, kb, vb;
        int ra, rb;
        uint64_t n = 0;
        ASSERT_OK(cairn_iter_open(sa, spaces[s], NULL, 0, NULL, 0, 0, &ia));
        ASSERT_OK(cairn_iter_open(sb, spaces[s], NULL, 0, NULL, 0, 0, &ib));
        for (;; n++) {
            ra = cairn_iter_next(ia, &ka, &va);
            rb = cairn_iter_next(ib, &kb, &vb);
            if (ra || rb)
                break;
            ASSERT_MEM_EQ(ka.data, ka.len, kb.data, kb.len);
            ASSERT_MEM_EQ(va.data, va.len, vb.data, vb.len);
        }
        ASSERT_RC(ra, CAIRN_NOTFOUND);
        ASSERT_RC(rb, CAIRN_NOTFOUND);
        cairn_iter_close(ia);
        cairn_iter_close(ib);
    }
    cairn_snapshot_close(sa);
    cairn_snapshot_close(sb);
}
