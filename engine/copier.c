/*
 * copier.c - copying history by Merkle delta (copier.h): ref lists, the
 * batched copier and the walk of a head's history.
 */
#include "copier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "id.h"

/* ---------------------------------------------------------------- refs */

int cairn__ref_list_add(void *list, const char *name, const cairn_id *id)
{
    cairn__ref_list *l = list;

    if (!id)
        return cairn__fail(CAIRN_CORRUPT, "ref '%s' is damaged; copying refs stops here "
                                          "(cairn verify reports it)", name);
    if (strlen(name) > CAIRN_REF_NAME_MAX)
        return cairn__fail(CAIRN_CORRUPT, "ref name '%.40s...' is longer than %d bytes", name,
                           CAIRN_REF_NAME_MAX);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        cairn__ref *v = cairn__reallocarray(l->v, cap, sizeof(*v));
        if (!v)
            return cairn__fail(CAIRN_NOMEM, "out of memory listing refs");
        l->v = v;
        l->cap = cap;
    }
    snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", name);
    l->v[l->n++].id = *id;
    return 0;
}

int cairn__ref_list_tier(cairn_tier *t, const char *prefix, cairn__ref_list *out)
{
    memset(out, 0, sizeof(*out));
    return cairn__tier_ref_list(t, prefix, cairn__ref_list_add, out);
}

int cairn__ref_list_stack(cairn_stack *st, const char *prefix, cairn__ref_list *out)
{
    memset(out, 0, sizeof(*out));
    return cairn__stack_ref_list(st, prefix, cairn__ref_list_add, out);
}

const cairn__ref *cairn__ref_list_find(const cairn__ref_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const cairn__ref *)a)->name, ((const cairn__ref *)b)->name);
}

void cairn__ref_list_sort(cairn__ref_list *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), by_name);
}

void cairn__ref_list_free(cairn__ref_list *l)
{
    cairn__free(l->v);
    memset(l, 0, sizeof(*l));
}

bool cairn__ref_is_meta(const char *name)
{
    return strncmp(name, "meta/", 5) == 0;
}

/* ---------------------------------------------------------------- sinks */

static int tier_has(void *ctx, const cairn_id *ids, size_t n, bool *out)
{
    return cairn__tier_has_many(ctx, ids, n, out);
}

static int tier_put(void *ctx, const cairn_blob *blobs, size_t n)
{
    return cairn__tier_put_many(ctx, blobs, n);
}

cairn__sink cairn__sink_tier(cairn_tier *t)
{
    return (cairn__sink){tier_has, tier_put, t};
}

/* ---------------------------------------------------------------- copier */

void cairn__copier_init(cairn__copier *c, cairn_db *src, cairn__sink sink,
                        enum cairn__copy_mode mode)
{
    memset(c, 0, sizeof(*c));
    c->src = src;
    c->sink = sink;
    c->mode = mode;
    c->phase = mode == CAIRN__COPY_WRITE ? "copying" : "checking";
}

void cairn__copier_clear(cairn__copier *c)
{
    for (size_t i = 0; i < c->n; i++)
        cairn__free(c->bytes[i]);
    c->n = 0;
    cairn__idset_free(&c->seen);
    cairn__idset_free(&c->boundaries);
}

static int missing_blob(const cairn_id *id)
{
    char hex[CAIRN_ID_HEX + 1];
    cairn_id_to_hex(id, hex);
    return cairn__fail(CAIRN_MISSING, "blob %s is in no tier", hex);
}

/* In a check: whether the source holds the blobs the walk did not read
 * (a lookup, not a read: a bundle's records were hash-checked before). */
static int source_has(cairn__copier *c, const cairn_id *want, size_t n_want)
{
    cairn_stack *st = c->src->stack;
    bool found[CAIRN_COPY_BATCH], any[CAIRN_COPY_BATCH] = {false};
    int rc;

    for (size_t k = 0; k < cairn__stack_n_tiers(st); k++) {
        if ((rc = cairn__tier_has_many(cairn__stack_tier(st, k), want, n_want, found)))
            return rc;
        for (size_t i = 0; i < n_want; i++)
            any[i] |= found[i];
    }
    for (size_t i = 0; i < n_want; i++)
        if (!any[i])
            return missing_blob(&want[i]);
    return 0;
}

/* Whether an earlier entry of the batch has the same id (a blob offered
 * twice, by two deltas, is written and counted once). */
static bool earlier_in_batch(const cairn__copier *c, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (cairn__id_eq(&c->ids[j], &c->ids[i]))
            return true;
    return false;
}

int cairn__copier_flush(cairn__copier *c)
{
    bool has[CAIRN_COPY_BATCH];
    cairn_id want[CAIRN_COPY_BATCH];
    cairn_buf got[CAIRN_COPY_BATCH];
    cairn_blob out[CAIRN_COPY_BATCH];
    size_t n_want = 0, n_out = 0;
    int rc;

    if (c->n == 0)
        return 0;
    if ((rc = c->sink.has_many(c->sink.ctx, c->ids, c->n, has)))
        goto done;
    for (size_t i = 0; i < c->n; i++) {
        if (!has[i])
            has[i] = earlier_in_batch(c, i) ||
                     (c->mode == CAIRN__COPY_CHECK_SAME && cairn__idset_has(&c->seen, &c->ids[i]));
        if (has[i])
            c->blobs_skipped++;
        else if (!c->bytes[i])
            want[n_want++] = c->ids[i];
    }
    if (c->mode != CAIRN__COPY_WRITE) {
        uint64_t bytes = 0;
        if (n_want && (rc = source_has(c, want, n_want)))
            goto done;
        for (size_t i = 0; i < c->n && !rc; i++) {
            if (has[i])
                continue;
            c->blobs_copied++;
            bytes += c->lens[i]; /* (known for nodes only: a check reads no values) */
            if (c->mode == CAIRN__COPY_CHECK_SAME)
                rc = cairn__idset_add(&c->seen, &c->ids[i]);
        }
        c->bytes_copied += bytes;
        goto done;
    }
    if (n_want && (rc = cairn__stack_get_many(c->src->stack, want, n_want, got)))
        goto done;
    for (size_t i = 0, w = 0; i < c->n; i++) {
        if (has[i])
            continue;
        if (c->bytes[i]) {
            out[n_out++] = (cairn_blob){c->ids[i], c->bytes[i], c->lens[i]};
            continue;
        }
        if (!got[w].data) {
            rc = missing_blob(&c->ids[i]);
            break;
        }
        out[n_out++] = (cairn_blob){c->ids[i], got[w].data, got[w].len};
        w++;
    }
    if (!rc && n_out && (rc = c->sink.put_many(c->sink.ctx, out, n_out)) == 0) {
        c->blobs_copied += n_out;
        for (size_t i = 0; i < n_out; i++)
            c->bytes_copied += out[i].len;
    }
    for (size_t i = 0; i < n_want; i++)
        cairn__free(got[i].data);
done:
    for (size_t i = 0; i < c->n; i++)
        cairn__free(c->bytes[i]);
    c->n = 0;
    c->batch_bytes = 0;
    if (!rc && c->progress)
        c->progress(c->progress_ctx, c->phase, c->blobs_copied, c->bytes_copied);
    return rc;
}

int cairn__copier_add(cairn__copier *c, const cairn_id *id, const void *bytes, size_t len)
{
    void *copy = NULL;

    if (bytes) {
        if (!(copy = cairn__malloc(len ? len : 1)))
            return cairn__fail(CAIRN_NOMEM, "out of memory copying a blob of %zu bytes", len);
        memcpy(copy, bytes, len);
        c->batch_bytes += len;
    }
    c->ids[c->n] = *id;
    c->bytes[c->n] = copy;
    c->lens[c->n++] = len;
    if (c->n == CAIRN_COPY_BATCH || c->batch_bytes >= CAIRN_COPY_BATCH_BYTES)
        return cairn__copier_flush(c);
    return 0;
}

static int on_delta(void *ctx, const cairn_id *id, const void *bytes, size_t len)
{
    return cairn__copier_add(ctx, id, bytes, len);
}

/* The catalog of commit id in the source, for a diff base. A fallback the
 * source does not hold (the destination's ref names a commit the source
 * never had, or dropped) is no base: *found false. */
static int base_catalog(cairn__copier *c, const cairn_id *id, bool may_lack, cairn_id *out,
                        bool *found)
{
    cairn_commit_info info;
    int rc = cairn_commit_get(c->src, id, &info);

    *found = false;
    if (rc == CAIRN_MISSING && may_lack) {
        cairn__detail_clear();
        return 0;
    }
    if (rc)
        return rc;
    *out = info.catalog;
    *found = true;
    cairn_commit_info_clear(&info);
    return 0;
}

int cairn__copier_history(cairn__copier *c, const cairn_id *head, const cairn_id *fallback,
                          cairn_idset *complete)
{
    cairn_commit_info info;
    cairn_id *chain = NULL, base;
    size_t n = 0, cap = 0;
    cairn_id id = *head;
    bool stop_held = false, dropped = false, found = false;
    int rc = 0;

    /* Back from head: to a commit the destination holds whole (stop_held),
     * a first commit, or a boundary of the source's gc (dropped; id is
     * then its parent, which the destination may hold whole after all). */
    for (;;) {
        bool has_parent;
        if (cairn__idset_has(complete, &id)) {
            stop_held = true;
            break;
        }
        if (n == cap) {
            cairn_id *grown = cairn__reallocarray(chain, cap = cap ? cap * 2 : 16, sizeof(*chain));
            if (!grown) {
                rc = cairn__fail(CAIRN_NOMEM, "out of memory walking history");
                goto done;
            }
            chain = grown;
        }
        chain[n++] = id;
        if ((rc = cairn_commit_get(c->src, &id, &info)))
            goto done;
        has_parent = info.has_parent;
        dropped = info.history_dropped;
        id = info.parent;
        cairn_commit_info_clear(&info);
        if (!has_parent)
            break;
        if (dropped) {
            stop_held = cairn__idset_has(complete, &id);
            break;
        }
    }
    if (n == 0)
        goto done; /* the destination holds head whole */
    /* The version the oldest new commit is diffed against: the commit the
     * walk stopped at, if the destination holds it whole (and the source
     * still has it), else the fallback, else nothing. A boundary whose
     * parent the destination lacks too becomes one of the destination's. */
    cairn__empty_root_id(&base);
    if (stop_held && (rc = base_catalog(c, &id, dropped, &base, &found)))
        goto done;
    if (!stop_held && dropped && (rc = cairn__idset_add(&c->boundaries, &chain[n - 1])))
        goto done;
    if (!found && fallback && (rc = base_catalog(c, fallback, true, &base, &found)))
        goto done;
    c->commits += n;
    while (n > 0) {
        id = chain[--n];
        if ((rc = cairn_commit_get(c->src, &id, &info)))
            goto done;
        rc = cairn__version_delta(&c->src->ix, &base, &info.catalog, on_delta, c);
        base = info.catalog;
        cairn_commit_info_clear(&info);
        if (rc || (rc = cairn__copier_add(c, &id, NULL, 0)) ||
            (rc = cairn__idset_add(complete, &id)))
            goto done;
    }
done:
    cairn__free(chain);
    return rc;
}

int cairn__copier_head(cairn__copier *c, const cairn_id *head, const cairn_id *fallback,
                       cairn_idset *complete)
{
    cairn_commit_info info;
    cairn_id base;
    bool found = false;
    int rc;

    if (cairn__idset_has(complete, head))
        return 0;
    cairn__empty_root_id(&base);
    if (fallback && (rc = base_catalog(c, fallback, true, &base, &found)))
        return rc;
    if ((rc = cairn_commit_get(c->src, head, &info)))
        return rc;
    rc = cairn__version_delta(&c->src->ix, &base, &info.catalog, on_delta, c);
    if (!rc && info.has_parent && !cairn__idset_has(complete, &info.parent))
        rc = cairn__idset_add(&c->boundaries, head);
    cairn_commit_info_clear(&info);
    if (rc || (rc = cairn__copier_add(c, head, NULL, 0)) || (rc = cairn__idset_add(complete, head)))
        return rc;
    c->commits++;
    return 0;
}
