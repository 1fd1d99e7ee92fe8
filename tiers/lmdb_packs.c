/*
 * lmdb_packs.c - the LMDB tier's packed layout (the default for new
 * stores; docs/format.md has the exact bytes).
 *
 * One LMDB value per blob makes every node above ~2 KB an overflow value
 * of whole pages, written to pages LMDB must find contiguous runs for in
 * its free list (docs/benchmarks.md, "LMDB storage shape"). Here a
 * transaction's new blobs are laid into pack records (tiers/pack.h's
 * format: records, an index sorted by id, a checksummed footer) of at
 * most one page, appended under increasing sequence numbers, and each
 * blob's location goes into "where":
 *
 *     packs   key: sequence (u64 big-endian)   value: a pack
 *     where   key: 32-byte id                  value: sequence (u64 BE),
 *                                              offset (u32 BE), length (u32 BE)
 *
 * A commit so dirties its few pack pages, appended, plus the "where"
 * leaves of its new ids. Reads take two B-tree lookups (where, then
 * packs). Removing a blob drops its location; a pack with no live blob
 * left is deleted, and one less than half live is rewritten (its live
 * blobs go into new packs), so dead bytes stay below half of every pack a
 * removal touched. A blob is live in a pack when "where" points at that
 * exact copy: a blob written again (a damaged copy replaced) leaves the old
 * copy dead. Every pack is self-describing, so "where" could be rebuilt
 * from "packs" alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "id.h"
#include "lmdb_int.h"
#include "pack.h"

#define SEQ_SIZE 8
#define OPEN_PACKS 16 /* packs being filled at once: first fit looks at these */

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

/* A decoded "where" value. */
typedef struct loc {
    uint64_t seq;
    uint32_t off, len;
} loc;

static bool loc_parse(const MDB_val *v, loc *out)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size != CAIRN_LMDB_LOC)
        return false;
    out->seq = get_be(p, 8);
    out->off = (uint32_t)get_be(p + 8, 4);
    out->len = (uint32_t)get_be(p + 12, 4);
    return true;
}

size_t cairn__lmdb_loc_len(const MDB_val *v)
{
    loc l;
    return loc_parse(v, &l) ? l.len : 0;
}

static int corrupt_blob(const lmdb_tier *t, const cairn_id *id, const char *why,
                        unsigned long long seq)
{
    char hex[CAIRN_ID_HEX + 1];
    cairn_id_to_hex(id, hex);
    return cairn__fail(CAIRN_CORRUPT, "lmdb %s: blob %s: %s (pack %llu)", t->path, hex, why,
                       seq);
}

/* Resolves id to its bytes; *where_out (when not NULL) gets the location. */
static int find(const lmdb_tier *t, MDB_txn *txn, const cairn_id *id, MDB_val *out,
                loc *where_out)
{
    uint8_t seq_key[SEQ_SIZE];
    MDB_val key = cairn__lmdb_id_val(id), v, pk = {SEQ_SIZE, seq_key}, pack;
    loc l;
    int rc;

    if ((rc = mdb_get(txn, t->shared->where, &key, &v)))
        return rc;
    if (!loc_parse(&v, &l))
        return corrupt_blob(t, id, "its location record is damaged", 0);
    if (where_out)
        *where_out = l;
    put_be(seq_key, l.seq, SEQ_SIZE);
    if ((rc = mdb_get(txn, t->shared->packs, &pk, &pack)) == MDB_NOTFOUND)
        return corrupt_blob(t, id, "its pack is missing", l.seq);
    if (rc)
        return rc;
    if ((uint64_t)l.off + l.len > pack.mv_size)
        return corrupt_blob(t, id, "it lies past the end of its pack", l.seq);
    out->mv_data = (uint8_t *)pack.mv_data + l.off;
    out->mv_size = l.len;
    return 0;
}

int cairn__lmdb_packed_find(const lmdb_tier *t, MDB_txn *txn, const cairn_id *id, MDB_val *out)
{
    return find(t, txn, id, out, NULL);
}

/* The next free sequence number: one past the last pack's. */
static int next_seq(const lmdb_tier *t, MDB_txn *txn, uint64_t *seq)
{
    MDB_cursor *cur;
    MDB_val key, val;
    int rc;

    if ((rc = mdb_cursor_open(txn, t->shared->packs, &cur)))
        return rc;
    rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
    mdb_cursor_close(cur);
    *seq = 1;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (key.mv_size != SEQ_SIZE)
        return cairn__fail(CAIRN_CORRUPT, "lmdb %s: a pack key of %zu bytes", t->path,
                           key.mv_size);
    *seq = get_be(key.mv_data, SEQ_SIZE) + 1;
    return 0;
}

/* Packs blobs[order[0..n)] (distinct ids, none held yet) into new records
 * appended to "packs", filling each up to pack_max bytes first fit over the
 * last OPEN_PACKS records (a blob too large for one is a record alone), and
 * points "where" at every one (overwriting an older location). */
static int append_packs(lmdb_tier *t, MDB_txn *txn, const cairn_blob *blobs,
                        const size_t *order, size_t n)
{
    lmdb_env *e = t->shared;
    size_t *pack_of = NULL, *bytes = NULL, *count = NULL, *start = NULL, n_packs = 0, open = 0;
    cairn_blob *members = NULL;
    MDB_cursor *cur = NULL;
    uint64_t seq;
    int rc;

    if (n == 0)
        return 0;
    if (!(pack_of = cairn__malloc(n * sizeof(*pack_of))) ||
        !(bytes = cairn__malloc(n * sizeof(*bytes))) ||
        !(count = cairn__malloc(n * sizeof(*count))) ||
        !(start = cairn__calloc(n + 1, sizeof(*start))) ||
        !(members = cairn__malloc(n * sizeof(*members)))) {
        rc = cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory packing %zu blobs", t->path, n);
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        size_t len = blobs[order[k]].len, p;

        if (len > UINT32_MAX - CAIRN_PACK_FOOTER - CAIRN_PACK_ENTRY) {
            rc = cairn__fail(CAIRN_VALTOOBIG, "lmdb %s: a blob of %zu bytes is larger than "
                             "the packed layout holds (4 GiB)", t->path, len);
            goto done;
        }
        for (p = open; p < n_packs; p++)
            if (bytes[p] + len + CAIRN_PACK_ENTRY * (count[p] + 1) + CAIRN_PACK_FOOTER <=
                e->pack_max)
                break;
        if (p == n_packs) {
            bytes[n_packs] = count[n_packs] = 0;
            if (++n_packs - open > OPEN_PACKS)
                open++;
        }
        pack_of[k] = p;
        bytes[p] += len;
        count[p]++;
    }
    /* Members grouped by pack, in the order given (a counting sort). */
    for (size_t k = 0; k < n; k++)
        start[pack_of[k] + 1]++;
    for (size_t p = 0; p < n_packs; p++)
        start[p + 1] += start[p];
    for (size_t p = 0; p < n_packs; p++)
        count[p] = 0; /* now: members placed so far */
    for (size_t k = 0; k < n; k++)
        members[start[pack_of[k]] + count[pack_of[k]]++] = blobs[order[k]];
    if ((rc = next_seq(t, txn, &seq)) || (rc = mdb_cursor_open(txn, e->packs, &cur)))
        goto done;
    for (size_t p = 0; p < n_packs; p++) {
        const cairn_blob *m = members + start[p];
        size_t k = start[p + 1] - start[p];
        uint8_t seq_key[SEQ_SIZE];
        MDB_val pk = {SEQ_SIZE, seq_key}, pv;

        if (!(pv.mv_size = (size_t)cairn__pack_size(m, k))) {
            rc = cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory packing blobs", t->path);
            goto done;
        }
        pv.mv_data = NULL;
        put_be(seq_key, seq + p, SEQ_SIZE);
        if ((rc = mdb_cursor_put(cur, &pk, &pv, MDB_APPEND | MDB_RESERVE)) ||
            (rc = cairn__pack_build_into(m, k, pv.mv_data, pv.mv_size)))
            goto done;
    }
    /* The locations, after all packs (pack_build_into lays records in the
     * order given, back to back). */
    for (size_t p = 0; p < n_packs; p++) {
        uint32_t off = 0;

        for (size_t j = start[p]; j < start[p + 1]; j++) {
            uint8_t where[CAIRN_LMDB_LOC];
            MDB_val key = cairn__lmdb_id_val(&members[j].id), val = {CAIRN_LMDB_LOC, where};

            put_be(where, seq + p, 8);
            put_be(where + 8, off, 4);
            put_be(where + 12, members[j].len, 4);
            off += (uint32_t)members[j].len;
            if ((rc = mdb_put(txn, e->where, &key, &val, 0)))
                goto done;
        }
    }
done:
    if (cur)
        mdb_cursor_close(cur);
    cairn__free(members);
    cairn__free(start);
    cairn__free(count);
    cairn__free(bytes);
    cairn__free(pack_of);
    return rc;
}

/* ---------------------------------------------------------------- compaction */

/* A set of pack sequences a write left with a dead copy: checked at its end. */
typedef struct seq_set {
    uint64_t *v;
    size_t n, cap;
} seq_set;

static int seq_set_add(seq_set *s, uint64_t seq)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        uint64_t *v = cairn__realloc(s->v, cap * sizeof(*v));
        if (!v)
            return cairn__fail(CAIRN_NOMEM, "lmdb: out of memory");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = seq;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Whether "where" points at exactly this copy of e in pack seq. */
static int is_live(const lmdb_tier *t, MDB_txn *txn, uint64_t seq, const cairn_pack_entry *e,
                   bool *live)
{
    MDB_val key = cairn__lmdb_id_val(&e->id), v;
    loc l;
    int rc = mdb_get(txn, t->shared->where, &key, &v);

    *live = false;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    *live = loc_parse(&v, &l) && l.seq == seq && l.off == e->offset && l.len == e->length;
    return 0;
}

/* Deletes pack seq when no blob in it is live, or moves its live blobs
 * into new packs and deletes it when they are less than half its record
 * bytes. A pack whose index is damaged is left alone: its blobs stay
 * readable through "where", and a blob's own bytes are checked against
 * its id on every read. */
static int compact_one(lmdb_tier *t, MDB_txn *txn, uint64_t seq)
{
    uint8_t seq_key[SEQ_SIZE];
    MDB_val pk = {SEQ_SIZE, seq_key}, pack;
    cairn_pack_footer footer;
    cairn_pack_index *ix = NULL;
    cairn_blob *live = NULL;
    size_t *order = NULL, n_live = 0;
    uint8_t *copy = NULL;
    uint64_t live_bytes = 0;
    char name[48];
    int rc;

    put_be(seq_key, seq, SEQ_SIZE);
    if ((rc = mdb_get(txn, t->shared->packs, &pk, &pack)))
        return rc == MDB_NOTFOUND ? 0 : rc;
    snprintf(name, sizeof(name), "lmdb pack %llu", (unsigned long long)seq);
    rc = pack.mv_size < CAIRN_PACK_FOOTER ? CAIRN_CORRUPT
         : cairn__pack_footer_parse(name, (const uint8_t *)pack.mv_data + pack.mv_size -
                                              CAIRN_PACK_FOOTER,
                                    pack.mv_size, &footer);
    if (!rc)
        rc = cairn__pack_index_parse(name, pack.mv_data, pack.mv_size, pack.mv_size, &ix);
    if (rc == CAIRN_NOMEM)
        return rc;
    if (rc) { /* damaged: leave it */
        cairn__detail_clear();
        return 0;
    }
    if (!(live = cairn__malloc((ix->count ? ix->count : 1) * sizeof(*live))) ||
        !(order = cairn__malloc((ix->count ? ix->count : 1) * sizeof(*order)))) {
        rc = cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory compacting a pack", t->path);
        goto done;
    }
    for (uint64_t i = 0; i < ix->count; i++) {
        const cairn_pack_entry *e = &ix->entries[i];
        bool is;

        if ((rc = is_live(t, txn, seq, e, &is)))
            goto done;
        if (is) {
            live[n_live] = (cairn_blob){e->id, (const uint8_t *)pack.mv_data + e->offset,
                                        (size_t)e->length};
            order[n_live] = n_live;
            n_live++;
            live_bytes += e->length;
        }
    }
    if (n_live && live_bytes * 2 >= footer.index_offset)
        goto done; /* at least half live: keep it */
    if (n_live) { /* copy out: deleting the record frees its pages */
        uint8_t *at;
        if (!(copy = at = cairn__malloc((size_t)live_bytes ? (size_t)live_bytes : 1))) {
            rc = cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory compacting a pack", t->path);
            goto done;
        }
        for (size_t k = 0; k < n_live; k++) {
            memcpy(at, live[k].data, live[k].len);
            live[k].data = at;
            at += live[k].len;
        }
    }
    if ((rc = mdb_del(txn, t->shared->packs, &pk, NULL)) == 0)
        rc = append_packs(t, txn, live, order, n_live);
done:
    cairn__free(copy);
    cairn__free(order);
    cairn__free(live);
    cairn__pack_index_free(ix);
    return rc;
}

static int compact(lmdb_tier *t, MDB_txn *txn, seq_set *s)
{
    int rc = 0;

    if (s->n > 1) /* s->v is NULL when empty, which qsort may not take */
        qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
    for (size_t i = 0; i < s->n && !rc; i++)
        if (i == 0 || s->v[i] != s->v[i - 1])
            rc = compact_one(t, txn, s->v[i]);
    return rc;
}

/* ---------------------------------------------------------------- put, remove */

/* Orders pointers into one array of blobs by id, then by position. */
static int by_id(const void *a, const void *b)
{
    const cairn_blob *x = *(const cairn_blob *const *)a, *y = *(const cairn_blob *const *)b;
    int c = memcmp(x->id.bytes, y->id.bytes, sizeof(x->id.bytes));
    return c ? c : (x > y) - (x < y);
}

int cairn__lmdb_packed_put(lmdb_tier *t, MDB_txn *txn, const cairn_blob *blobs, size_t n)
{
    const cairn_blob **by = NULL;
    size_t *todo = NULL, n_todo = 0;
    unsigned char *write = NULL;
    seq_set dead = {0};
    int rc = 0;

    if (n == 0)
        return 0;
    if (!(by = cairn__malloc(n * sizeof(*by))) ||
        !(todo = cairn__malloc(n * sizeof(*todo))) || !(write = cairn__calloc(n, 1))) {
        rc = cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory writing %zu blobs", t->path, n);
        goto done;
    }
    /* Which to write: sorted by id, so a duplicate follows its first copy. */
    for (size_t i = 0; i < n; i++)
        by[i] = &blobs[i];
    qsort(by, n, sizeof(*by), by_id);
    for (size_t k = 0; k < n; k++) {
        const cairn_blob *b = by[k];
        MDB_val held;
        loc where;

        if (k > 0 && cairn__id_eq(&by[k - 1]->id, &b->id))
            continue;
        rc = find(t, txn, &b->id, &held, &where);
        if (rc == 0 && held.mv_size == b->len && memcmp(held.mv_data, b->data, b->len) == 0)
            continue; /* held, intact */
        if (rc == 0) /* held with other bytes: the damaged copy goes dead */
            rc = seq_set_add(&dead, where.seq);
        else if (rc == CAIRN_CORRUPT) /* a location that does not resolve: replace it */
            rc = 0, cairn__detail_clear();
        else if (rc == MDB_NOTFOUND)
            rc = 0;
        if (rc)
            goto done;
        write[b - blobs] = 1;
    }
    /* Written in the caller's order, which keeps a commit's nodes together. */
    for (size_t i = 0; i < n; i++)
        if (write[i])
            todo[n_todo++] = i;
    if ((rc = append_packs(t, txn, blobs, todo, n_todo)) == 0)
        rc = compact(t, txn, &dead);
done:
    cairn__free(dead.v);
    cairn__free(write);
    cairn__free(todo);
    cairn__free(by);
    return rc;
}

int cairn__lmdb_packed_remove(lmdb_tier *t, MDB_txn *txn, const cairn_id *ids, size_t n)
{
    seq_set touched = {0};
    int rc = 0;

    for (size_t i = 0; i < n && !rc; i++) {
        MDB_val key = cairn__lmdb_id_val(&ids[i]), v;
        loc l;

        if ((rc = mdb_get(txn, t->shared->where, &key, &v)) == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (!rc && loc_parse(&v, &l))
            rc = seq_set_add(&touched, l.seq);
        if (!rc)
            rc = mdb_del(txn, t->shared->where, &key, NULL);
    }
    if (!rc)
        rc = compact(t, txn, &touched);
    cairn__free(touched.v);
    return rc;
}

int cairn__lmdb_packed_evict_oldest(lmdb_tier *t, MDB_txn *txn, uint64_t *evicted)
{
    MDB_cursor *cur;
    MDB_val key, pack;
    cairn_pack_index *ix = NULL;
    uint8_t seq_key[SEQ_SIZE];
    uint64_t seq;
    char name[48];
    int rc;

    *evicted = 0;
    if ((rc = mdb_cursor_open(txn, t->shared->packs, &cur)))
        return rc;
    rc = mdb_cursor_get(cur, &key, &pack, MDB_FIRST);
    mdb_cursor_close(cur);
    if (rc)
        return rc; /* MDB_NOTFOUND: nothing left */
    if (key.mv_size != SEQ_SIZE)
        return cairn__fail(CAIRN_CORRUPT, "lmdb %s: a pack key of %zu bytes", t->path, key.mv_size);
    seq = get_be(key.mv_data, SEQ_SIZE);
    snprintf(name, sizeof(name), "lmdb pack %llu", (unsigned long long)seq);
    /* Its live blobs lose their locations; a damaged index only means the
     * locations stay and resolve to nothing (a miss, for a cache). */
    if (pack.mv_size >= CAIRN_PACK_FOOTER &&
        cairn__pack_index_parse(name, pack.mv_data, pack.mv_size, pack.mv_size, &ix) == 0) {
        for (uint64_t i = 0; i < ix->count && !rc; i++) {
            bool live;
            MDB_val k = cairn__lmdb_id_val(&ix->entries[i].id);
            if ((rc = is_live(t, txn, seq, &ix->entries[i], &live)) || !live)
                continue;
            if ((rc = mdb_del(txn, t->shared->where, &k, NULL)) == 0)
                (*evicted)++;
        }
        cairn__pack_index_free(ix);
    }
    cairn__detail_clear();
    put_be(seq_key, seq, SEQ_SIZE);
    MDB_val pk = {SEQ_SIZE, seq_key};
    if (!rc)
        rc = mdb_del(txn, t->shared->packs, &pk, NULL);
    return rc;
}
