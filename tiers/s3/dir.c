/*
 * dir.c - the S3 tier's directory: which pack holds which blob, built from
 * the packs' indexes (each fetched with one ranged GET of exactly its size,
 * all in parallel, checked against the head's hash of it, and kept in the
 * caches in front when there are any), merged into one array sorted by id;
 * and the pending blobs a writer has not uploaded yet. The blob lookup of
 * the layout stays behind cairn__s3_dir_find (DESIGN.md 5.1: a later
 * two-level directory changes this file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "id.h"
#include "pack.h"
#include "s3_int.h"

static int entry_cmp(const void *a, const void *b)
{
    return cairn__id_cmp(&((const s3_dir_entry *)a)->id, &((const s3_dir_entry *)b)->id);
}

const s3_dir_entry *cairn__s3_dir_find(const s3_tier *st, const cairn_id *id)
{
    size_t lo = 0, hi = st->n_dir;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cairn__id_cmp(&st->dir[mid].id, id);
        if (c == 0)
            return st->dir[mid].pack & S3_DIR_DEAD ? NULL : &st->dir[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int dir_reserve(s3_tier *st, uint64_t more)
{
    if (st->n_dir + more <= st->cap_dir)
        return 0;
    size_t cap = st->cap_dir ? st->cap_dir : 1024;
    while (cap < st->n_dir + more)
        cap *= 2;
    s3_dir_entry *d = cairn__reallocarray(st->dir, cap, sizeof(*d));
    if (!d)
        return CAIRN_NOMEM;
    st->dir = d;
    st->cap_dir = cap;
    return 0;
}

/* Keeps one entry per id in the sorted directory: any live copy of a
 * blob will do, and a live one wins over a dead one (a blob gc removed
 * and a writer then wrote again). */
static void dir_dedupe(s3_tier *st)
{
    size_t w = 0;
    for (size_t i = 0; i < st->n_dir; i++) {
        if (w == 0 || !cairn__id_eq(&st->dir[w - 1].id, &st->dir[i].id)) {
            st->dir[w++] = st->dir[i];
        } else if (st->dir[w - 1].pack & S3_DIR_DEAD) {
            if (!(st->dir[i].pack & S3_DIR_DEAD))
                st->n_dead--;
            st->dir[w - 1] = st->dir[i];
        } else if (st->dir[i].pack & S3_DIR_DEAD) {
            st->n_dead--;
        }
    }
    st->n_dir = w;
}

static void dir_sort(s3_tier *st)
{
    if (!st->n_dir)
        return; /* (dir may still be NULL) */
    qsort(st->dir, st->n_dir, sizeof(*st->dir), entry_cmp);
    dir_dedupe(st);
}

/* Appends the entries of a parsed index as pack number k, unsorted. */
static int dir_append(s3_tier *st, const cairn_pack_index *ix, uint32_t k)
{
    int rc;
    if ((rc = dir_reserve(st, ix->count)))
        return rc;
    for (uint64_t i = 0; i < ix->count; i++) {
        if (ix->entries[i].length > UINT32_MAX)
            continue; /* no blob is that large; a reader would refuse it anyway */
        st->dir[st->n_dir++] = (s3_dir_entry){.id = ix->entries[i].id,
                                              .offset = ix->entries[i].offset,
                                              .length = (uint32_t)ix->entries[i].length,
                                              .pack = k};
    }
    return 0;
}

/* Merges a pack's index (sorted by id) into the sorted directory: linear,
 * so a writer's commit costs what the directory's size costs to copy, not
 * a sort of it. */
static int dir_merge(s3_tier *st, const cairn_pack_index *ix, uint32_t k)
{
    size_t old = st->n_dir;
    int rc;
    if ((rc = dir_append(st, ix, k)))
        return rc;
    size_t added = st->n_dir - old;
    if (!added)
        return 0;
    /* Merge from the back: the old run [0, old) and the new [old, n). */
    s3_dir_entry *fresh = cairn__memdup(st->dir + old, added * sizeof(*fresh));
    if (!fresh) {
        st->n_dir = old;
        return CAIRN_NOMEM;
    }
    size_t i = old, j = added, w = st->n_dir;
    while (j > 0) {
        if (i > 0 && cairn__id_cmp(&st->dir[i - 1].id, &fresh[j - 1].id) > 0)
            st->dir[--w] = st->dir[--i];
        else
            st->dir[--w] = fresh[--j];
    }
    cairn__free(fresh);
    dir_dedupe(st); /* an id already held from another pack */
    return 0;
}

static int dir_pack_slot(s3_tier *st, const cairn_s3_pack_ref *p, uint32_t *k)
{
    cairn_s3_pack_ref *packs =
        cairn__reallocarray(st->dir_packs, st->n_dir_packs + 1, sizeof(*packs));
    if (!packs)
        return CAIRN_NOMEM;
    st->dir_packs = packs;
    packs[st->n_dir_packs] = *p;
    *k = (uint32_t)st->n_dir_packs++;
    return 0;
}

int cairn__s3_dir_add(s3_tier *st, const cairn_s3_pack_ref *p, const void *pack_bytes)
{
    cairn_pack_index *ix;
    uint64_t suffix = 48 * p->count + CAIRN_PACK_FOOTER;
    uint32_t k;
    int rc = cairn__pack_index_parse(p->name, (const uint8_t *)pack_bytes + p->bytes - suffix,
                                     (size_t)suffix, p->bytes, &ix);
    if (rc)
        return rc;
    if (!(rc = dir_pack_slot(st, p, &k)))
        rc = dir_merge(st, ix, k);
    cairn__pack_index_free(ix);
    return rc;
}

static bool named(const cairn_s3_pack_ref *packs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(packs[i].name, name))
            return true;
    return false;
}

void cairn__s3_dir_kill(s3_tier *st, const cairn_id *id)
{
    s3_dir_entry *e = (s3_dir_entry *)cairn__s3_dir_find(st, id);
    if (e) {
        e->pack |= S3_DIR_DEAD;
        st->n_dead++;
    }
}

void cairn__s3_dir_compact(s3_tier *st)
{
    size_t w = 0;
    for (size_t i = 0; i < st->n_dir; i++)
        if (!(st->dir[i].pack & S3_DIR_DEAD) && st->dir_packs[st->dir[i].pack].name[0])
            st->dir[w++] = st->dir[i];
    st->n_dir = w;
    st->n_dead = 0;
}

void cairn__s3_dir_drop(s3_tier *st, char (*names)[CAIRN_S3_PACK_NAME_MAX + 1], size_t n)
{
    for (size_t k = 0; k < st->n_dir_packs; k++)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(st->dir_packs[k].name, names[i]))
                st->dir_packs[k].name[0] = 0;
    cairn__s3_dir_compact(st);
}

int cairn__s3_dir_sync(s3_tier *st)
{
    int rc = 0;

    /* Drop packs neither the head nor this writer's unnamed list names. */
    bool dropped = false;
    for (size_t k = 0; k < st->n_dir_packs; k++)
        if (st->dir_packs[k].name[0] && !named(st->head.packs, st->head.n_packs, st->dir_packs[k].name) &&
            !named(st->unnamed, st->n_unnamed, st->dir_packs[k].name)) {
            st->dir_packs[k].name[0] = 0;
            dropped = true;
        }
    if (dropped)
        cairn__s3_dir_compact(st);

    /* The indexes of the packs not loaded yet: from a cache in front when
     * one holds them (a restarted reader), else fetched all at once. */
    size_t n_new = 0;
    for (size_t i = 0; i < st->head.n_packs; i++)
        if (!named(st->dir_packs, st->n_dir_packs, st->head.packs[i].name))
            n_new++;
    if (n_new) {
        cairn_s3_request *reqs = cairn__calloc(n_new, sizeof(*reqs));
        char(*keys)[256] = cairn__calloc(n_new, sizeof(*keys));
        const cairn_s3_pack_ref **which = cairn__calloc(n_new, sizeof(*which));
        size_t n_fetch = 0, n_cached = 0;
        if (!reqs || !keys || !which) {
            rc = CAIRN_NOMEM;
            goto done;
        }
        for (size_t i = 0; i < st->head.n_packs; i++) {
            const cairn_s3_pack_ref *p = &st->head.packs[i];
            if (named(st->dir_packs, st->n_dir_packs, p->name))
                continue;
            uint64_t suffix = 48 * p->count + CAIRN_PACK_FOOTER;
            if (suffix > SIZE_MAX / 2) {
                rc = cairn__fail(CAIRN_CORRUPT, "%s/head: pack %s claims %llu blobs", st->where,
                                 p->name, (unsigned long long)p->count);
                goto done;
            }
            cairn_buf cached = {0};
            if (st->base.front_get)
                st->base.front_get(st->base.front_ctx, &p->index_id, &cached);
            /* Fetched ones first, cached ones from the back. */
            size_t j = cached.data ? n_new - ++n_cached : n_fetch++;
            which[j] = p;
            if (cached.data) {
                reqs[j].data = cached.data;
                reqs[j].len = cached.len;
                reqs[j].object_size = p->bytes;
                continue;
            }
            cairn__s3_pack_key(st, p->name, keys[j], sizeof(keys[j]));
            reqs[j] = (cairn_s3_request){.method = CAIRN_S3_GET, .key = keys[j],
                                         .range_from = CAIRN_S3_SUFFIX, .range_len = suffix,
                                         .max_response = (size_t)suffix};
        }
        /* Network call under mu: only the first load of a reader's
         * directory and a follower's refresh come here. */
        if ((rc = cairn__s3_run(st->client, reqs, n_fetch)))
            goto done;
        for (size_t j = 0; j < n_new && !rc; j++) {
            const cairn_s3_pack_ref *p = which[j];
            char name[sizeof(st->where) + CAIRN_S3_PACK_NAME_MAX + 16];
            cairn_id got;
            snprintf(name, sizeof(name), "%s/packs/%s.pack", st->where, p->name);
            if ((rc = reqs[j].rc)) {
                if (rc == CAIRN_NOTFOUND) {
                    /* Merged and deleted after this head was read, or lost. */
                    st->pack_vanished = true;
                    rc = cairn__fail(CAIRN_CORRUPT, "%s: the head names it but it does not exist", name);
                }
                break;
            }
            if (reqs[j].object_size != p->bytes) {
                rc = cairn__fail(CAIRN_CORRUPT, "%s: %llu bytes, the head says %llu", name,
                                 (unsigned long long)reqs[j].object_size, (unsigned long long)p->bytes);
                break;
            }
            if ((rc = cairn__sha256(reqs[j].data, reqs[j].len, &got)))
                break;
            if (!cairn__id_eq(&got, &p->index_id)) {
                rc = cairn__fail(CAIRN_CORRUPT, "%s: its index does not match the head's hash of it",
                                 name);
                break;
            }
            if (j < n_fetch && st->base.front_put) {
                cairn_blob b = {p->index_id, reqs[j].data, reqs[j].len};
                st->base.front_put(st->base.front_ctx, &b);
            }
            cairn_pack_index *ix;
            uint32_t k;
            if ((rc = cairn__pack_index_parse(name, reqs[j].data, reqs[j].len, p->bytes, &ix)))
                break;
            if (ix->count != p->count)
                rc = cairn__fail(CAIRN_CORRUPT, "%s: %llu blobs, the head says %llu", name,
                                 (unsigned long long)ix->count, (unsigned long long)p->count);
            if (!rc && !(rc = dir_pack_slot(st, p, &k)))
                rc = dir_append(st, ix, k);
            cairn__pack_index_free(ix);
        }
        dir_sort(st);
    done:
        if (reqs)
            cairn__s3_request_reset(reqs, n_new);
        cairn__free(reqs);
        cairn__free(keys);
        cairn__free(which);
    }
    if (!rc)
        st->dir_loaded = true;
    return rc;
}

int cairn__s3_dir_ensure(s3_tier *st)
{
    return st->dir_loaded ? 0 : cairn__s3_dir_sync(st);
}

const s3_pending *cairn__s3_pending_find(const s3_tier *st, const cairn_id *id)
{
    if (!st->n_slots)
        return NULL;
    for (size_t i = cairn__id_hash(id) & (st->n_slots - 1);; i = (i + 1) & (st->n_slots - 1)) {
        uint32_t s = st->pending_slots[i];
        if (!s)
            return NULL;
        if (cairn__id_eq(&st->pending[s - 1].id, id))
            return &st->pending[s - 1];
    }
}

