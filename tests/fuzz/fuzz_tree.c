/*
 * fuzz_tree.c - a store whose tree is made of arbitrary (hash-valid) blobs.
 *
 * Input: a sequence of chunks, each a 2-byte big-endian length and that
 * many bytes (a short last chunk takes what is left). Every chunk is stored
 * in a fresh "mem" store under its SHA-256; a catalog whose default keyspace
 * root is the first chunk's id and a commit over it are published as branch
 * main, and an empty version as branch "empty". Then every read runs on it:
 * point reads, counts, full scans both ways (after an error every later
 * call must fail again), diffs against the empty version both ways,
 * verify, and a commit of a put on top. None may crash, hang or leak.
 *
 * And none may give a wrong answer: when verify passes, the tree must read
 * the same by every path (scans both ways, counts, point reads, a diff from
 * the empty version), must be the tree an honest writer builds from those
 * contents (the same root id), and the commit on top must hold exactly
 * those contents plus its put.
 */
#include <stdbool.h>
#include <string.h>

#include "cairn.h"
#include "engine.h"
#include "fuzz_common.h"
#include "id.h"
#include "node.h"

#define MAX_CHUNKS 64
#define MAX_STEPS 1000000 /* no tree of this input holds that many keys */

static int publish_version(cairn_db *db, const char *ref, const cairn_id *root, cairn_blob *blobs,
                           size_t n)
{
    cairn_item cat = {.key = (const uint8_t *)"", .key_len = 0, .val = root ? root->bytes : NULL,
                      .val_len = 32};
    cairn_commit_info info = {.seq = 1, .writer_epoch = 1, .key_count = n, .message = ""};
    uint8_t *cat_bytes, *commit_bytes;
    size_t cat_len, commit_len;
    int rc;

    if ((rc = cairn__node_encode(0, &cat, root ? 1 : 0, &cat_bytes, &cat_len)))
        return rc;
    blobs[n] = (cairn_blob){.data = cat_bytes, .len = cat_len};
    cairn__sha256(cat_bytes, cat_len, &blobs[n].id);
    info.catalog = blobs[n].id;
    if ((rc = cairn__commit_encode(&info, 0, &commit_bytes, &commit_len))) {
        free(cat_bytes);
        return rc;
    }
    blobs[n + 1] = (cairn_blob){.data = commit_bytes, .len = commit_len};
    cairn__sha256(commit_bytes, commit_len, &blobs[n + 1].id);
    rc = cairn__stack_publish(db->stack, blobs, n + 2, ref, NULL, &blobs[n + 1].id);
    free(cat_bytes);
    free(commit_bytes);
    return rc;
}

/* Runs a scan to its end; after an error, later calls must fail too. */
static void scan(cairn_snapshot *snap, unsigned flags)
{
    cairn_iter *it;
    cairn_val k, v;
    long steps = 0;
    int rc;

    if (cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, flags, &it))
        return;
    while ((rc = cairn_iter_next(it, &k, &v)) == 0)
        FUZZ_CHECK(++steps < MAX_STEPS, "a %s scan does not end", flags ? "reverse" : "forward");
    if (rc != CAIRN_NOTFOUND) {
        FUZZ_CHECK(cairn_iter_next(it, &k, &v) != 0, "next succeeded after %s", cairn_errname(rc));
        FUZZ_CHECK(cairn_iter_seek(it, "a", 1) != 0 || cairn_iter_next(it, &k, &v) != 0,
                   "seek and next succeeded after %s", cairn_errname(rc));
        FUZZ_CHECK(cairn_iter_next(it, &k, &v) != 0, "next succeeded after %s", cairn_errname(rc));
    }
    cairn_iter_close(it);

    /* a seek into the middle, then a few steps */
    if (cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, flags, &it))
        return;
    if (cairn_iter_seek(it, "m", 1) == 0)
        for (int i = 0; i < 4 && cairn_iter_next(it, &k, &v) == 0; i++)
            ;
    cairn_iter_close(it);
}

/* The contents of a version, in scan order. */
typedef struct item {
    uint8_t *key, *val;
    size_t key_len, val_len;
} item;
typedef struct contents {
    item *v;
    size_t n, cap;
} contents;

static void contents_free(contents *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].key);
        free(c->v[i].val);
    }
    free(c->v);
    *c = (contents){0};
}

static uint8_t *dup_bytes(cairn_val v)
{
    uint8_t *p = malloc(v.len + 1);
    FUZZ_CHECK(p != NULL, "out of memory");
    if (v.len)
        memcpy(p, v.data, v.len);
    return p;
}

static void contents_add(contents *c, cairn_val k, cairn_val v)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->v = realloc(c->v, c->cap * sizeof(*c->v));
        FUZZ_CHECK(c->v != NULL, "out of memory");
    }
    c->v[c->n++] = (item){.key = dup_bytes(k), .key_len = k.len, .val = dup_bytes(v),
                          .val_len = v.len};
}

static int key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static bool same_bytes(const void *a, size_t al, const void *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* Scans the whole default keyspace into *out; 0 if the scan completed. */
static int collect(cairn_snapshot *snap, unsigned flags, contents *out)
{
    cairn_iter *it;
    cairn_val k, v;
    int rc;

    if ((rc = cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, flags, &it)))
        return rc;
    while ((rc = cairn_iter_next(it, &k, &v)) == 0 && out->n < MAX_STEPS)
        contents_add(out, k, v);
    cairn_iter_close(it);
    return rc == CAIRN_NOTFOUND ? 0 : rc ? rc : CAIRN_CORRUPT;
}

/* The contents of a verified version, read by every path. They must agree
 * with each other and with the tree an honest writer builds. */
static void check_honest(cairn_db *db, const cairn_id *root, contents *c)
{
    static const char *const probes[] = {"", "a", "d", "m", "z", "\xff\xff"};
    cairn_snapshot *snap, *empty;
    contents rev = {0};
    uint64_t count, in_range = 0;
    cairn_val v;
    int rc;

    FUZZ_CHECK(cairn_snapshot_open(db, NULL, &snap) == 0, "a verified version does not open");
    rc = collect(snap, 0, c);
    FUZZ_CHECK(rc == 0, "a verified tree fails a scan: %s", cairn_errname(rc));
    rc = collect(snap, CAIRN_ITER_REVERSE, &rev);
    FUZZ_CHECK(rc == 0, "a verified tree fails a reverse scan: %s", cairn_errname(rc));
    FUZZ_CHECK(rev.n == c->n, "scans both ways give %zu and %zu keys", c->n, rev.n);
    for (size_t i = 0; i < c->n; i++) {
        const item *a = &c->v[i], *b = &rev.v[c->n - 1 - i];
        FUZZ_CHECK(i == 0 || key_cmp(c->v[i - 1].key, c->v[i - 1].key_len, a->key,
                                     a->key_len) < 0, "a scan is out of order at %zu", i);
        FUZZ_CHECK(same_bytes(a->key, a->key_len, b->key, b->key_len) &&
                   same_bytes(a->val, a->val_len, b->val, b->val_len),
                   "scans both ways differ at %zu", i);
        rc = cairn_get(snap, NULL, a->key, a->key_len, &v);
        FUZZ_CHECK(rc == 0 && same_bytes(v.data, v.len, a->val, a->val_len),
                   "get of scanned key %zu: %s", i, cairn_errname(rc));
        if (key_cmp(a->key, a->key_len, "b", 1) >= 0 && key_cmp(a->key, a->key_len, "y", 1) < 0)
            in_range++;
    }
    contents_free(&rev);
    for (size_t i = 0; i < sizeof(probes) / sizeof(*probes); i++) {
        size_t len = strlen(probes[i]);
        bool present = false;
        for (size_t j = 0; j < c->n && !present; j++)
            present = same_bytes(c->v[j].key, c->v[j].key_len, probes[i], len);
        if (!present)
            FUZZ_CHECK(cairn_get(snap, NULL, probes[i], len, &v) == CAIRN_NOTFOUND,
                       "get finds '%s', which no scan returns", probes[i]);
    }
    FUZZ_CHECK(cairn_count(snap, NULL, NULL, 0, NULL, 0, &count) == 0 && count == c->n,
               "count says %llu of %zu keys", (unsigned long long)count, c->n);
    FUZZ_CHECK(cairn_count(snap, NULL, "b", 1, "y", 1, &count) == 0 && count == in_range,
               "count [b, y) says %llu of %llu keys", (unsigned long long)count,
               (unsigned long long)in_range);

    /* the diff from the empty version adds exactly the scanned keys */
    if (cairn_snapshot_open(db, "empty", &empty) == 0) {
        cairn_diff *d;
        cairn_diff_entry e;
        size_t i = 0;
        FUZZ_CHECK(cairn_diff_open(empty, snap, NULL, &d) == 0, "diff_open of a verified tree");
        while ((rc = cairn_diff_next(d, &e)) == 0) {
            FUZZ_CHECK(i < c->n && e.change == CAIRN_ADDED &&
                       same_bytes(e.key.data, e.key.len, c->v[i].key, c->v[i].key_len) &&
                       same_bytes(e.new_val.data, e.new_val.len, c->v[i].val, c->v[i].val_len),
                       "the diff from empty differs from the scan at %zu", i);
            i++;
        }
        FUZZ_CHECK(rc == CAIRN_NOTFOUND && i == c->n, "the diff from empty ends at %zu of %zu: %s",
                   i, c->n, cairn_errname(rc));
        cairn_diff_close(d);
        cairn_snapshot_close(empty);
    }
    cairn_snapshot_close(snap);

    /* an honest writer, given these contents, builds this very tree */
    cairn_db *honest;
    cairn_options opts;
    cairn_txn *txn;
    cairn_id honest_root;
    cairn_options_init(&opts);
    opts.node_size = cairn_node_size(db);
    FUZZ_CHECK(cairn_open("mem", &opts, &honest) == 0, "open of an honest store");
    FUZZ_CHECK(cairn_txn_begin(honest, NULL, &txn) == 0, "txn_begin");
    for (size_t i = 0; i < c->n; i++)
        FUZZ_CHECK(cairn_txn_put(txn, NULL, c->v[i].key, c->v[i].key_len, c->v[i].val,
                                 c->v[i].val_len) == 0, "txn_put");
    rc = cairn_txn_commit(txn, "honest", NULL);
    FUZZ_CHECK(rc == 0, "the honest commit: %s", cairn_errname(rc));
    if (c->n == 0) {
        cairn_empty_root(&honest_root);
    } else {
        FUZZ_CHECK(cairn_snapshot_open(honest, NULL, &snap) == 0, "snapshot of the honest store");
        FUZZ_CHECK(cairn_snapshot_root(snap, NULL, &honest_root) == 0, "the honest root");
        cairn_snapshot_close(snap);
    }
    FUZZ_CHECK(cairn__id_eq(&honest_root, root),
               "verify passes a tree that differs from the honest build of its %zu keys", c->n);
    cairn_close(honest);
}

/* After a put of k on a verified version: its contents plus the put. */
static void check_after_put(cairn_db *db, const contents *before, const char *k, const char *v)
{
    cairn_snapshot *snap;
    contents after = {0};
    size_t j = 0;
    bool put_seen = false;
    int rc;

    FUZZ_CHECK(cairn_snapshot_open(db, NULL, &snap) == 0, "snapshot after the commit");
    rc = collect(snap, 0, &after);
    FUZZ_CHECK(rc == 0, "the commit on a verified tree reads back with %s", cairn_errname(rc));
    for (size_t i = 0; i < after.n; i++) {
        const item *a = &after.v[i];
        if (same_bytes(a->key, a->key_len, k, strlen(k))) {
            FUZZ_CHECK(same_bytes(a->val, a->val_len, v, strlen(v)), "the put reads back wrong");
            put_seen = true;
            if (j < before->n && same_bytes(before->v[j].key, before->v[j].key_len, k, strlen(k)))
                j++;
            continue;
        }
        FUZZ_CHECK(j < before->n &&
                   same_bytes(a->key, a->key_len, before->v[j].key, before->v[j].key_len) &&
                   same_bytes(a->val, a->val_len, before->v[j].val, before->v[j].val_len),
                   "the commit changed key %zu of %zu", j, before->n);
        j++;
    }
    FUZZ_CHECK(put_seen && j == before->n, "the commit lost keys: %zu of %zu", j, before->n);
    contents_free(&after);
    cairn_snapshot_close(snap);
}

static void diff(cairn_snapshot *a, cairn_snapshot *b)
{
    cairn_diff *d;
    cairn_diff_entry e;
    long steps = 0;
    int rc;

    if (cairn_diff_open(a, b, NULL, &d))
        return;
    while ((rc = cairn_diff_next(d, &e)) == 0)
        FUZZ_CHECK(++steps < MAX_STEPS, "a diff does not end");
    if (rc != CAIRN_NOTFOUND)
        FUZZ_CHECK(cairn_diff_next(d, &e) != 0, "diff_next succeeded after %s", cairn_errname(rc));
    cairn_diff_close(d);
}

static void read_all(cairn_db *db)
{
    static const char *const keys[] = {"", "a", "d", "m", "z", "\xff\xff"};
    cairn_snapshot *snap, *empty;
    cairn_val v;
    uint64_t count;

    if (cairn_snapshot_open(db, NULL, &snap))
        return;
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
        (void)cairn_get(snap, NULL, keys[i], strlen(keys[i]), &v);
    (void)cairn_count(snap, NULL, NULL, 0, NULL, 0, &count);
    (void)cairn_count(snap, NULL, "b", 1, "y", 1, &count);
    scan(snap, 0);
    scan(snap, CAIRN_ITER_REVERSE);
    if (cairn_snapshot_open(db, "empty", &empty) == 0) {
        diff(empty, snap);
        diff(snap, empty);
        cairn_snapshot_close(empty);
    }
    cairn_snapshot_close(snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_blob blobs[MAX_CHUNKS + 2];
    cairn_verify_report report;
    contents verified = {0};
    bool honest = false;
    cairn_id root;
    cairn_txn *txn;
    cairn_db *db;
    size_t n = 0;

    while (size > 0 && n < MAX_CHUNKS) {
        size_t len = size >= 2 ? (size_t)data[0] << 8 | data[1] : 0;
        size_t skip = size >= 2 ? 2 : size;
        data += skip;
        size -= skip;
        if (len > size)
            len = size;
        blobs[n] = (cairn_blob){.data = data, .len = len};
        cairn__sha256(data, len, &blobs[n].id);
        n++;
        data += len;
        size -= len;
    }
    if (n == 0)
        return 0;
    if (cairn_open("mem", NULL, &db))
        return 0;
    root = blobs[0].id; /* publishing the empty version reuses blobs[] */
    if (publish_version(db, "heads/main", &root, blobs, n) == 0 &&
        publish_version(db, "heads/empty", NULL, blobs, 0) == 0) {
        read_all(db);
        if (cairn_verify(db, NULL, NULL, &report) == 0) {
            check_honest(db, &root, &verified);
            honest = true;
        }
        if (cairn_txn_begin(db, NULL, &txn) == 0) {
            int rc = cairn_txn_put(txn, NULL, "k", 1, "v", 1);
            if (rc == 0)
                rc = cairn_txn_commit(txn, "fuzz", NULL);
            else
                cairn_txn_abort(txn);
            if (honest) {
                FUZZ_CHECK(rc == 0, "a put on a verified tree fails: %s", cairn_errname(rc));
                check_after_put(db, &verified, "k", "v");
            }
        }
        read_all(db);
    }
    contents_free(&verified);
    cairn_close(db);
    return 0;
}
