/*
 * adapter_cairn.c - cairn through its public API (include/cairn.h) only.
 *
 * One adapter for every cairn configuration: the spec is a stack spec, the
 * configuration's options may set node_cache=SIZE and node_size=BYTES.
 * A batch is one write transaction on "main" (cairn_txn_begin, put/del,
 * cairn_txn_commit). A reader is a snapshot of "main" plus one iterator that
 * scans reuse (cairn_iter_seek); when the store's generation moves on, the
 * next read reopens both. Counters come from cairn_stats_get(db, NULL, ...):
 * puts, put bytes and gets of the last (slowest) tier; live bytes from
 * cairn_stats_get(db, "main", ...): the encoded nodes of the current tree.
 *
 * Option sync_on_close=1 (write-back configurations): close calls
 * cairn_sync when the store committed since it was opened, so a load (the
 * template's, or load-*) ends with the write-back tier up to date; the
 * sync is untimed (close comes after the timed section). A failed sync is
 * printed on stderr: close cannot fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "cairn.h"

typedef struct cairn_store {
    bench_store base; /* must be first */
    cairn_db *db;
    cairn_txn *txn;
    int sync_on_close; /* option sync_on_close=1 */
    int committed;     /* a commit since open: close has something to sync */
} cairn_store;

typedef struct cairn_reader {
    bench_reader base; /* must be first */
    cairn_snapshot *snap;
    cairn_iter *it;
} cairn_reader;

static int cfail(char *err, const char *what, int rc)
{
    const char *detail = cairn_errdetail();

    return bench_fail(err, "%s: %s%s%s", what, cairn_strerror(rc), *detail ? ": " : "",
                      detail);
}

static size_t parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);

    switch (*end) {
    case 'K': case 'k': v *= 1024; break;
    case 'M': case 'm': v *= 1024 * 1024; break;
    case 'G': case 'g': v *= 1024.0 * 1024 * 1024; break;
    default: break;
    }
    return (size_t)v;
}

static int c_open(const bench_config *cfg, const char *spec, unsigned flags,
                  bench_store **out, char *err, size_t errlen)
{
    cairn_store *s;
    cairn_options opts;
    char buf[64];
    int rc;

    (void)flags;
    (void)errlen;
    cairn_options_init(&opts);
    if (bench_opt(cfg->options, "node_cache", buf, sizeof(buf)))
        opts.node_cache_bytes = parse_size(buf);
    if (bench_opt(cfg->options, "node_size", buf, sizeof(buf)))
        opts.node_size = (uint32_t)parse_size(buf);
    if (!(s = calloc(1, sizeof(*s))))
        return bench_fail(err, "out of memory");
    if (bench_opt(cfg->options, "sync_on_close", buf, sizeof(buf)))
        s->sync_on_close = strcmp(buf, "0") != 0;
    if ((rc = cairn_open(spec, &opts, &s->db))) {
        cfail(err, "cairn_open", rc);
        free(s);
        return -1;
    }
    *out = &s->base;
    return 0;
}

static void c_close(bench_store *bs)
{
    cairn_store *s = (cairn_store *)bs;
    int rc;

    cairn_txn_abort(s->txn);
    if (s->sync_on_close && s->committed && (rc = cairn_sync(s->db)))
        fprintf(stderr, "cairn-bench: %s: cairn_sync at close: %s: %s\n", bs->cfg->name,
                cairn_strerror(rc), cairn_errdetail());
    cairn_close(s->db);
    free(s);
}

static int c_begin(bench_store *bs)
{
    cairn_store *s = (cairn_store *)bs;
    int rc = cairn_txn_begin(s->db, NULL, &s->txn);

    return rc ? cfail(bs->err, "cairn_txn_begin", rc) : 0;
}

static int c_put(bench_store *bs, const void *key, size_t key_len, const void *val,
                 size_t val_len)
{
    cairn_store *s = (cairn_store *)bs;
    int rc = cairn_txn_put(s->txn, NULL, key, key_len, val, val_len);

    return rc ? cfail(bs->err, "cairn_txn_put", rc) : 0;
}

static int c_del(bench_store *bs, const void *key, size_t key_len)
{
    cairn_store *s = (cairn_store *)bs;
    int rc = cairn_txn_del(s->txn, NULL, key, key_len);

    return rc ? cfail(bs->err, "cairn_txn_del", rc) : 0;
}

static int c_commit(bench_store *bs)
{
    cairn_store *s = (cairn_store *)bs;
    int rc = cairn_txn_commit(s->txn, NULL, NULL);

    s->txn = NULL; /* freed either way */
    if (rc)
        return cfail(bs->err, "cairn_txn_commit", rc);
    bs->generation++;
    s->committed = 1;
    return 0;
}

static int c_sync(bench_store *bs)
{
    cairn_store *s = (cairn_store *)bs;
    int rc = cairn_sync(s->db);

    if (rc)
        return cfail(bs->err, "cairn_sync", rc);
    s->committed = 0;
    return 0;
}

static int c_reader_open(bench_store *bs, bench_reader **out)
{
    cairn_reader *r = calloc(1, sizeof(*r));

    if (!r)
        return bench_fail(bs->err, "out of memory");
    r->base.store = bs;
    r->base.generation = (uint64_t)-1; /* opens its snapshot on first use */
    *out = &r->base;
    return 0;
}

static void c_reader_close(bench_reader *br)
{
    cairn_reader *r = (cairn_reader *)br;

    if (!r)
        return;
    cairn_iter_close(r->it);
    cairn_snapshot_close(r->snap);
    free(r);
}

/* Reopens the snapshot if a commit happened since it was opened. */
static int refresh(cairn_reader *r)
{
    cairn_store *s = (cairn_store *)r->base.store;
    int rc;

    if (r->base.generation == r->base.store->generation && r->snap)
        return 0;
    cairn_iter_close(r->it);
    r->it = NULL;
    cairn_snapshot_close(r->snap);
    r->snap = NULL;
    if ((rc = cairn_snapshot_open(s->db, NULL, &r->snap)))
        return cfail(r->base.err, "cairn_snapshot_open", rc);
    r->base.generation = r->base.store->generation;
    return 0;
}

static int c_get(bench_reader *br, const void *key, size_t key_len, const void **val,
                 size_t *val_len)
{
    cairn_reader *r = (cairn_reader *)br;
    cairn_val v;
    int rc;

    if (refresh(r))
        return -1;
    rc = cairn_get(r->snap, NULL, key, key_len, &v);
    if (rc == CAIRN_NOTFOUND)
        return BENCH_NOTFOUND;
    if (rc)
        return cfail(br->err, "cairn_get", rc);
    *val = v.data;
    *val_len = v.len;
    return 0;
}

static int c_scan(bench_reader *br, const void *start, size_t start_len, size_t n,
                  bench_scan_fn fn, void *ctx, size_t *seen)
{
    cairn_reader *r = (cairn_reader *)br;
    cairn_val k, v;
    size_t i = 0;
    int rc;

    *seen = 0;
    if (refresh(r))
        return -1;
    if (!r->it && (rc = cairn_iter_open(r->snap, NULL, NULL, 0, NULL, 0, 0, &r->it)))
        return cfail(br->err, "cairn_iter_open", rc);
    if ((rc = cairn_iter_seek(r->it, start, start_len)))
        return cfail(br->err, "cairn_iter_seek", rc);
    for (; i < n; i++) {
        if ((rc = cairn_iter_next(r->it, &k, &v)) == CAIRN_NOTFOUND)
            break;
        if (rc)
            return cfail(br->err, "cairn_iter_next", rc);
        if (fn(ctx, k.data, k.len, v.data, v.len))
            break;
    }
    *seen = i;
    return 0;
}

static int c_counters(bench_store *bs, bench_counters *out)
{
    cairn_store *s = (cairn_store *)bs;
    cairn_stats st;
    const cairn_tier_stats *slow;
    int rc;

    memset(&st, 0, sizeof(st));
    if ((rc = cairn_stats_get(s->db, NULL, &st)))
        return cfail(bs->err, "cairn_stats_get", rc);
    if (!st.n_tiers)
        return bench_fail(bs->err, "cairn_stats_get: no tiers");
    slow = &st.tiers[st.n_tiers - 1];
    out->slow_puts = slow->puts;
    out->slow_put_bytes = slow->put_bytes;
    out->slow_gets = slow->gets;
    return 0;
}

static int c_live_bytes(bench_store *bs, double *out)
{
    cairn_store *s = (cairn_store *)bs;
    cairn_stats st;
    int rc;

    memset(&st, 0, sizeof(st));
    if ((rc = cairn_stats_get(s->db, "main", &st)))
        return cfail(bs->err, "cairn_stats_get", rc);
    *out = (double)st.node_bytes;
    return 0;
}

/* Garbage collection as an operator of an aged store runs it: keep the
 * head alone (the bench reads nothing older), no grace (no other reader). */
static int c_reclaim(bench_store *bs)
{
    cairn_store *s = (cairn_store *)bs;
    cairn_gc_options o;
    cairn_gc_options_init(&o);
    o.keep_last = 1;
    o.grace_s = 0;
    int rc = cairn_gc(s->db, &o, NULL);
    return rc ? cfail(bs->err, "cairn_gc", rc) : 0;
}

const bench_adapter bench_cairn_adapter = {
    .name = "cairn",
    .open = c_open,
    .close = c_close,
    .begin = c_begin,
    .put = c_put,
    .del = c_del,
    .commit = c_commit,
    .sync = c_sync,
    .reader_open = c_reader_open,
    .reader_close = c_reader_close,
    .get = c_get,
    .scan = c_scan,
    .counters = c_counters,
    .live_bytes = c_live_bytes,
    .settle = NULL,
    .reclaim = c_reclaim,
};
