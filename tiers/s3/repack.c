/*
 * repack.c - rewriting the S3 tier's packs. A pack is immutable, so its
 * space comes back only by writing the blobs still wanted into a new pack,
 * naming that pack in the head in place of the old ones (one
 * compare-and-swap), and deleting the old ones once their grace period is
 * over: a reader that read the old head keeps reading them meanwhile.
 *
 * Two things rewrite:
 *  - merging, after a commit: when the head names more than merge_at small
 *    packs, the smallest become one, so the packs a reader must know stay
 *    few;
 *  - reclaiming, at the end of gc: remove_many only marks blobs dead in
 *    the directory; reclaim then rewrites every pack whose live bytes fell
 *    below half of its records, and retires a pack with none left.
 * Both copy a blob only if the directory still places it in that pack, so
 * a merge never brings back a blob gc removed, and a blob with a live copy
 * in another pack is not copied twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "error.h"
#include "id.h"
#include "pack.h"
#include "s3_int.h"

/* A pack is rewritten when its live bytes are below this share of its
 * records' bytes. */
#define REWRITE_BELOW 0.5

/* ------------------------------------------------------------ retiring */

static int delete_expired(s3_tier *st)
{
    uint64_t now = (uint64_t)time(NULL);
    size_t n = 0;
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->head.n_retired; i++)
        n += st->head.retired[i].delete_after <= now;
    char(*names)[CAIRN_S3_PACK_NAME_MAX + 1] = n ? cairn__calloc(n, sizeof(*names)) : NULL;
    if (names) {
        size_t j = 0;
        for (size_t i = 0; i < st->head.n_retired; i++)
            if (st->head.retired[i].delete_after <= now)
                memcpy(names[j++], st->head.retired[i].name, sizeof(names[0]));
    }
    pthread_mutex_unlock(&st->mu);
    if (!n)
        return 0;
    cairn_s3_request *reqs = names ? cairn__calloc(n, sizeof(*reqs)) : NULL;
    char(*keys)[256] = reqs ? cairn__calloc(n, sizeof(*keys)) : NULL;
    int rc = keys ? 0 : CAIRN_NOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        cairn__s3_pack_key(st, names[i], keys[i], sizeof(keys[i]));
        reqs[i] = (cairn_s3_request){.method = CAIRN_S3_DELETE, .key = keys[i]};
    }
    if (!rc)
        rc = cairn__s3_run(st->client, reqs, n);
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; !rc && i < n; i++) {
        if (reqs[i].rc && reqs[i].rc != CAIRN_NOTFOUND)
            continue; /* tried again at the next write */
        void *grown = cairn__reallocarray(st->deleted, st->n_deleted + 1, sizeof(*st->deleted));
        if (!grown) {
            rc = CAIRN_NOMEM;
            break;
        }
        st->deleted = grown;
        memcpy(st->deleted[st->n_deleted++], names[i], sizeof(names[0]));
    }
    pthread_mutex_unlock(&st->mu);
    if (reqs)
        cairn__s3_request_reset(reqs, n);
    cairn__free(reqs);
    cairn__free(keys);
    cairn__free(names);
    return rc;
}

/* Packs leaving the head: retired, deleted after delete_after. */
struct swap {
    char (*names)[CAIRN_S3_PACK_NAME_MAX + 1];
    size_t n;
    uint64_t delete_after;
};

static int change_swap(s3_tier *st, cairn_s3_head *next, void *ctx)
{
    const struct swap *plan = ctx;
    for (size_t i = 0; i < plan->n; i++) {
        size_t k = 0;
        while (k < next->n_packs && strcmp(next->packs[k].name, plan->names[i]))
            k++;
        if (k == next->n_packs)
            return cairn__fail(CAIRN_CONFLICT, "%s: pack %s left the head during a rewrite",
                               st->where, plan->names[i]);
        memmove(&next->packs[k], &next->packs[k + 1], (next->n_packs - k - 1) * sizeof(*next->packs));
        next->n_packs--;
        cairn_s3_retired r = {.delete_after = plan->delete_after};
        memcpy(r.name, plan->names[i], sizeof(r.name));
        cairn_s3_retired *all = cairn__reallocarray(next->retired, next->n_retired + 1, sizeof(*all));
        if (!all)
            return CAIRN_NOMEM;
        next->retired = all;
        all[next->n_retired++] = r;
    }
    return 0;
}

static int change_nothing(s3_tier *st, cairn_s3_head *next, void *ctx)
{
    (void)st;
    (void)next;
    (void)ctx;
    return 0;
}

/* ------------------------------------------------------------ rewriting */

/* The directory's slot of pack name, or -1. Caller holds mu. */
static long dir_slot(const s3_tier *st, const char *name)
{
    for (size_t k = 0; k < st->n_dir_packs; k++)
        if (!strcmp(st->dir_packs[k].name, name))
            return (long)k;
    return -1;
}

/* Whether the blob at entry pe of pack slot k is the copy the directory
 * serves (so the only one a rewrite must keep). A pack the directory does
 * not know (slot -1) keeps everything. Caller holds mu. */
static bool wanted(const s3_tier *st, long k, const cairn_pack_entry *pe)
{
    if (k < 0)
        return true;
    const s3_dir_entry *e = cairn__s3_dir_find(st, &pe->id);
    return e && e->pack == (uint32_t)k && e->offset == pe->offset;
}

/* Reads packs (oldest first), checks every blob, writes the wanted ones
 * as one new pack in their order (what was written together stays
 * together: a scan's leaves), and swaps the new pack for the old ones in
 * the head; a pack with nothing wanted is only retired. OUT: *written,
 * the new pack's bytes (0 if none). Caller holds write_mu and is the
 * writer. */
static int rewrite(s3_tier *st, const cairn_s3_pack_ref *packs, size_t n, uint64_t *written)
{
    cairn_s3_request *reqs = cairn__calloc(n, sizeof(*reqs));
    char(*keys)[256] = cairn__calloc(n, sizeof(*keys));
    struct swap plan = {.names = cairn__calloc(n, sizeof(*plan.names)), .n = n,
                        .delete_after = (uint64_t)time(NULL) + st->grace_s};
    cairn_blob *blobs = NULL;
    size_t n_blobs = 0;
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = 0;

    *written = 0;
    if (!reqs || !keys || !plan.names) {
        rc = CAIRN_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(plan.names[i], packs[i].name, sizeof(plan.names[0]));
        cairn__s3_pack_key(st, packs[i].name, keys[i], sizeof(keys[i]));
        reqs[i] = (cairn_s3_request){.method = CAIRN_S3_GET, .key = keys[i],
                                     .max_response = (size_t)packs[i].bytes};
        n_blobs += (size_t)packs[i].count;
    }
    if ((rc = cairn__s3_run(st->client, reqs, n)))
        goto done;
    if (!(blobs = cairn__calloc(n_blobs ? n_blobs : 1, sizeof(*blobs)))) {
        rc = CAIRN_NOMEM;
        goto done;
    }
    n_blobs = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char name[sizeof(st->where) + CAIRN_S3_PACK_NAME_MAX + 16];
        snprintf(name, sizeof(name), "%s/packs/%s.pack", st->where, packs[i].name);
        if ((rc = reqs[i].rc))
            break;
        if (reqs[i].len != packs[i].bytes) {
            rc = cairn__fail(CAIRN_CORRUPT, "%s: %zu bytes, the head says %llu", name, reqs[i].len,
                             (unsigned long long)packs[i].bytes);
            break;
        }
        cairn_pack_index *ix;
        uint64_t suffix = 48 * packs[i].count + CAIRN_PACK_FOOTER;
        if ((rc = cairn__pack_index_parse(name, reqs[i].data + reqs[i].len - suffix, (size_t)suffix,
                                          packs[i].bytes, &ix)))
            break;
        cairn__pack_entries_by_offset(ix->entries, (size_t)ix->count);
        pthread_mutex_lock(&st->mu);
        long k = dir_slot(st, packs[i].name);
        size_t first = n_blobs;
        for (uint64_t e = 0; e < ix->count; e++)
            if (wanted(st, k, &ix->entries[e])) {
                const cairn_pack_entry *pe = &ix->entries[e];
                blobs[n_blobs++] = (cairn_blob){pe->id, reqs[i].data + pe->offset, (size_t)pe->length};
            }
        pthread_mutex_unlock(&st->mu);
        cairn__pack_index_free(ix);
        /* Every blob copied is checked: a rewrite must not carry damage
         * forward. */
        for (size_t b = first; b < n_blobs && !rc; b++) {
            cairn_id got;
            if ((rc = cairn__sha256(blobs[b].data, blobs[b].len, &got)))
                break;
            if (!cairn__id_eq(&got, &blobs[b].id)) {
                char hex[CAIRN_ID_HEX + 1];
                cairn_id_to_hex(&blobs[b].id, hex);
                rc = cairn__fail(CAIRN_CORRUPT, "%s: blob %s does not match its id; not rewriting "
                                 "the pack", name, hex);
            }
        }
    }
    if (rc)
        goto done;

    cairn_s3_pack_ref p;
    if (n_blobs) {
        if ((rc = cairn__pack_build(blobs, n_blobs, &bytes, &len)) ||
            (rc = cairn__s3_upload_pack(st, bytes, len, &p)))
            goto done;
        *written = len;
    }
    /* Readers of this handle switch to the new pack at once; the old ones
     * stay in S3 for other readers until their grace period ends. */
    pthread_mutex_lock(&st->mu);
    if (!n_blobs || !(rc = cairn__s3_unnamed_add(st, &p))) {
        cairn__s3_dir_drop(st, plan.names, plan.n);
        if (n_blobs)
            rc = cairn__s3_dir_add(st, &p, bytes);
    }
    pthread_mutex_unlock(&st->mu);
    if (!rc)
        rc = cairn__s3_head_write(st, change_swap, &plan);

done:
    if (reqs)
        cairn__s3_request_reset(reqs, n);
    cairn__free(reqs);
    cairn__free(keys);
    cairn__free(plan.names);
    cairn__free(blobs);
    cairn__free(bytes);
    return rc;
}

static int by_size(const void *a, const void *b)
{
    const cairn_s3_pack_ref *x = a, *y = b;
    return x->bytes < y->bytes ? -1 : x->bytes > y->bytes;
}

/* Pack names start with the epoch and the writer's counter, in fixed-width
 * hex: by name is oldest first. */
static int by_name(const void *a, const void *b)
{
    const cairn_s3_pack_ref *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* ------------------------------------------------------------ merging */

/* Keeps the number of packs a reader must know bounded: when the head
 * names more than merge_at packs under pack_max bytes, the smallest of
 * them (up to pack_max bytes in all, at least two) are rewritten as one.
 * So the count stays near merge_at plus the store's size over pack_max. */
int cairn__s3_merge_small_packs(s3_tier *st)
{
    cairn_s3_pack_ref *small = NULL;
    size_t n_small = 0, pick = 0;
    uint64_t total = 0, written;
    int rc;

    if ((rc = delete_expired(st)))
        return rc;
    pthread_mutex_lock(&st->mu);
    if ((small = cairn__calloc(st->head.n_packs + 1, sizeof(*small))))
        for (size_t i = 0; i < st->head.n_packs; i++)
            if (st->head.packs[i].bytes < st->pack_max)
                small[n_small++] = st->head.packs[i];
    pthread_mutex_unlock(&st->mu);
    if (!small)
        return CAIRN_NOMEM;
    if (n_small > st->merge_at) {
        qsort(small, n_small, sizeof(*small), by_size);
        while (pick < n_small && (pick < 2 || total + small[pick].bytes <= st->pack_max))
            total += small[pick++].bytes;
        qsort(small, pick, sizeof(*small), by_name);
        if (!(rc = rewrite(st, small, pick, &written)))
            st->merges++;
    }
    cairn__free(small);
    return rc;
}

/* ------------------------------------------------------------ gc */

int cairn__s3_remove_many(cairn_tier *t, const cairn_id *ids, size_t n)
{
    s3_tier *st = (s3_tier *)t;
    int rc;
    if (st->rdonly)
        return cairn__fail(CAIRN_RDONLY_STORE, "%s is open read-only", st->where);
    pthread_mutex_lock(&st->mu);
    if (!(rc = cairn__s3_dir_ensure(st)))
        for (size_t i = 0; i < n; i++)
            cairn__s3_dir_kill(st, &ids[i]);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static uint64_t named_bytes(const s3_tier *st)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < st->head.n_packs; i++)
        sum += st->head.packs[i].bytes;
    return sum;
}

/* The packs of the head whose live bytes fell below REWRITE_BELOW of their
 * records, oldest first. OUT: *out (cairn__free), *n. Caller holds mu. */
static int mostly_dead(s3_tier *st, cairn_s3_pack_ref **out, size_t *n)
{
    uint64_t *live = cairn__calloc(st->n_dir_packs + 1, sizeof(*live));
    cairn_s3_pack_ref *picked = cairn__calloc(st->head.n_packs + 1, sizeof(*picked));
    if (!live || !picked) {
        cairn__free(live);
        cairn__free(picked);
        return CAIRN_NOMEM;
    }
    cairn__s3_dir_compact(st);
    for (size_t i = 0; i < st->n_dir; i++)
        live[st->dir[i].pack] += st->dir[i].length;
    *n = 0;
    for (size_t i = 0; i < st->head.n_packs; i++) {
        const cairn_s3_pack_ref *p = &st->head.packs[i];
        long k = dir_slot(st, p->name);
        uint64_t records = p->bytes - (48 * p->count + CAIRN_PACK_FOOTER);
        if (k >= 0 && (double)live[k] < REWRITE_BELOW * (double)records)
            picked[(*n)++] = *p;
    }
    cairn__free(live);
    qsort(picked, *n, sizeof(*picked), by_name);
    *out = picked;
    return 0;
}

/* Orphans: packs under PREFIX/packs/ that no head names or retires and
 * that no writer can still name. A writer uploads a pack before the head
 * write that names it, so a writer killed in between leaves one; its
 * epoch is below ours, and a writer of an older epoch is fenced for good,
 * so its pack can never be named. A pack of our own epoch is left alone. */
struct orphans {
    s3_tier *st;
    char (*keys)[256];
    size_t n, cap;
};

static int on_pack_object(void *ctx, const char *key, uint64_t size)
{
    struct orphans *o = ctx;
    s3_tier *st = o->st;
    size_t pl = strlen(st->prefix) + strlen("packs/");
    size_t kl = strlen(key);
    char name[CAIRN_S3_PACK_NAME_MAX + 1];
    (void)size;
    if (kl <= pl + 5 || kl - pl - 5 > CAIRN_S3_PACK_NAME_MAX || strcmp(key + kl - 5, ".pack"))
        return 0; /* not a pack of ours: left alone */
    memcpy(name, key + pl, kl - pl - 5);
    name[kl - pl - 5] = 0;
    if (!cairn__s3_pack_name_ok(name))
        return 0;
    unsigned long long epoch = strtoull(name, NULL, 16);
    if (epoch >= st->my_epoch)
        return 0;
    for (size_t i = 0; i < st->head.n_packs; i++)
        if (!strcmp(st->head.packs[i].name, name))
            return 0;
    for (size_t i = 0; i < st->head.n_retired; i++)
        if (!strcmp(st->head.retired[i].name, name))
            return 0;
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        void *grown = cairn__reallocarray(o->keys, cap, sizeof(*o->keys));
        if (!grown)
            return CAIRN_NOMEM;
        o->keys = grown;
        o->cap = cap;
    }
    snprintf(o->keys[o->n++], sizeof(o->keys[0]), "%s", key);
    return 0;
}

static int delete_orphans(s3_tier *st, uint64_t *deleted)
{
    struct orphans o = {.st = st};
    char prefix[256];
    int rc;
    *deleted = 0;
    if (!st->claimed)
        return 0; /* our epoch is not known yet: nothing is provably orphaned */
    snprintf(prefix, sizeof(prefix), "%spacks/", st->prefix);
    /* The head only changes under write_mu, which the caller holds. */
    if (!(rc = cairn__s3_list(st->client, prefix, on_pack_object, &o)) && o.n) {
        cairn_s3_request *reqs = cairn__calloc(o.n, sizeof(*reqs));
        if (!reqs) {
            rc = CAIRN_NOMEM;
        } else {
            for (size_t i = 0; i < o.n; i++)
                reqs[i] = (cairn_s3_request){.method = CAIRN_S3_DELETE, .key = o.keys[i]};
            if (!(rc = cairn__s3_run(st->client, reqs, o.n)))
                for (size_t i = 0; i < o.n; i++)
                    *deleted += reqs[i].rc == 0 || reqs[i].rc == CAIRN_NOTFOUND;
            cairn__s3_request_reset(reqs, o.n);
            cairn__free(reqs);
        }
    }
    cairn__free(o.keys);
    return rc;
}

int cairn__s3_reclaim(cairn_tier *t, cairn_reclaim_result *out)
{
    s3_tier *st = (s3_tier *)t;
    cairn_s3_pack_ref *picked = NULL;
    size_t n = 0;
    uint64_t orphans = 0;
    int rc;

    pthread_mutex_lock(&st->write_mu);
    if ((rc = cairn__s3_ensure_writer(st)) || (rc = delete_expired(st)))
        goto done;
    pthread_mutex_lock(&st->mu);
    out->stored_before = named_bytes(st);
    rc = mostly_dead(st, &picked, &n);
    pthread_mutex_unlock(&st->mu);
    /* In groups of about two pack_max of reads: memory stays bounded, and
     * each group's new pack is at most pack_max (the rest was dead). */
    for (size_t i = 0; i < n && !rc;) {
        size_t j = i;
        uint64_t group = 0, written;
        while (j < n && (j == i || group + picked[j].bytes <= 2 * st->pack_max))
            group += picked[j++].bytes;
        if (!(rc = rewrite(st, picked + i, j - i, &written)))
            out->rewritten += j - i;
        i = j;
    }
    /* Drops the lines of retired packs deleted above, if nothing else
     * wrote the head. */
    if (!rc && st->n_deleted)
        rc = cairn__s3_head_write(st, change_nothing, NULL);
    if (!rc)
        rc = delete_orphans(st, &orphans);
    pthread_mutex_lock(&st->mu);
    out->stored_after = named_bytes(st);
    size_t retired = st->head.n_retired;
    pthread_mutex_unlock(&st->mu);
    if (retired)
        snprintf(out->note, sizeof(out->note),
                 "%zu retired packs stay readable for their grace period (grace=%llus); the next "
                 "commit or gc after it deletes them", retired, (unsigned long long)st->grace_s);
    out->rewritten += orphans;
done:
    pthread_mutex_unlock(&st->write_mu);
    cairn__free(picked);
    return rc;
}
