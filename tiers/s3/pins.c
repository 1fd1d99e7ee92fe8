/*
 * pins.c - pins of the S3 tier (tier.h): one object per pin,
 *
 *     PREFIX/pins/NAME    the pin record's bytes
 *
 * outside the head (the one mutable object: a reader must never write
 * it) and written with a plain PUT, which S3 makes atomic: a reader of the
 * object gets a whole old record or a whole new one. Each pin has one
 * writer, its holder, so no condition is needed. gc lists PREFIX/pins/
 * (one LIST per 1,000 pins) and GETs the records in parallel; no hot path
 * lists anything. A handle opened read-only writes pins too: whether it may
 * is the credentials' business (a refusal is CAIRN_DENIED).
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "s3_int.h"

#define PIN_KEY 512 /* PREFIX (< 160) + "pins/" + NAME */

static void pin_key(const s3_tier *st, const char *name, char *out)
{
    snprintf(out, PIN_KEY, "%spins/%s", st->prefix, name);
}

/* One request on its own; its rc (with the detail the client set). */
static int run_one(s3_tier *st, cairn_s3_request *r, const char *what, const char *name)
{
    int rc = cairn__s3_run(st->client, r, 1);

    if (!rc)
        rc = r->rc;
    if (rc && rc != CAIRN_NOTFOUND)
        cairn__fail_context(rc, "%s: %s pin '%s'", st->where, what, name);
    cairn__s3_request_reset(r, 1);
    return rc;
}

int cairn__s3_pin_put(cairn_tier *t, const char *name, const void *bytes, size_t len)
{
    s3_tier *st = (s3_tier *)t;
    char key[PIN_KEY];

    pin_key(st, name, key);
    cairn_s3_request r = {.method = CAIRN_S3_PUT, .key = key, .body = bytes, .body_len = len};
    return run_one(st, &r, "writing", name);
}

int cairn__s3_pin_delete(cairn_tier *t, const char *name)
{
    s3_tier *st = (s3_tier *)t;
    char key[PIN_KEY];
    int rc;

    pin_key(st, name, key);
    cairn_s3_request r = {.method = CAIRN_S3_DELETE, .key = key};
    rc = run_one(st, &r, "deleting", name);
    if (rc == CAIRN_NOTFOUND)
        cairn__detail_clear(); /* already gone */
    return rc == CAIRN_NOTFOUND ? 0 : rc;
}

struct pin_listing {
    size_t prefix_len; /* of PREFIX/pins/ */
    char (*names)[CAIRN_PIN_NAME_MAX + 1];
    uint64_t *sizes;
    size_t n, cap;
};

static int on_key(void *ctx, const char *key, uint64_t size)
{
    struct pin_listing *l = ctx;
    const char *name = key + l->prefix_len;

    if (strlen(key) <= l->prefix_len || !cairn__pin_name_ok(name))
        return 0; /* not ours (a folder marker, another tool's object) */
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char(*names)[CAIRN_PIN_NAME_MAX + 1] = cairn__realloc(l->names, cap * sizeof(*names));
        uint64_t *sizes = names ? cairn__realloc(l->sizes, cap * sizeof(*sizes)) : NULL;
        if (names)
            l->names = names;
        if (!names || !sizes)
            return cairn__fail(CAIRN_NOMEM, "s3: out of memory listing pins");
        l->sizes = sizes;
        l->cap = cap;
    }
    snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
    l->sizes[l->n++] = size;
    return 0;
}

/* Lists PREFIX/pins/, GETs every record small enough to be one (in
 * parallel), then calls fn. A pin deleted between the LIST and its GET is
 * skipped. */
int cairn__s3_pin_list(cairn_tier *t, cairn_pin_fn fn, void *ctx)
{
    s3_tier *st = (s3_tier *)t;
    struct pin_listing l = {0};
    cairn_s3_request *reqs = NULL;
    char prefix[PIN_KEY], (*keys)[PIN_KEY] = NULL;
    size_t n_reqs = 0;
    int rc;

    snprintf(prefix, sizeof(prefix), "%spins/", st->prefix);
    l.prefix_len = strlen(prefix);
    if ((rc = cairn__s3_list(st->client, prefix, on_key, &l)))
        goto done;
    if (l.n && (!(reqs = cairn__calloc(l.n, sizeof(*reqs))) ||
                !(keys = cairn__calloc(l.n, sizeof(*keys))))) {
        rc = cairn__fail(CAIRN_NOMEM, "s3: out of memory reading pins");
        goto done;
    }
    /* A record larger than one can be is passed on unread (damaged). */
    size_t n_get = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (l.sizes[i] > CAIRN_PIN_RECORD_MAX)
            continue;
        pin_key(st, l.names[i], keys[n_get]);
        reqs[n_get] = (cairn_s3_request){.method = CAIRN_S3_GET, .key = keys[n_get],
                                         .max_response = CAIRN_PIN_RECORD_MAX};
        n_get++;
    }
    n_reqs = n_get;
    if (n_get && (rc = cairn__s3_run(st->client, reqs, n_get)))
        goto done;
    for (size_t i = 0, g = 0; i < l.n && !rc; i++) {
        if (l.sizes[i] > CAIRN_PIN_RECORD_MAX) {
            rc = fn(ctx, l.names[i], NULL, (size_t)l.sizes[i]);
            continue;
        }
        cairn_s3_request *r = &reqs[g++];
        if (r->rc == CAIRN_NOTFOUND)
            continue; /* deleted since the listing */
        /* Grown past a record's size since the listing: damaged too. */
        if (r->rc == CAIRN_TIER && r->status >= 200 && r->status < 300) {
            rc = fn(ctx, l.names[i], NULL, CAIRN_PIN_RECORD_MAX + 1);
            continue;
        }
        if ((rc = r->rc)) {
            cairn__fail_context(rc, "%s: reading pin '%s'", st->where, l.names[i]);
            break;
        }
        rc = fn(ctx, l.names[i], r->len ? r->data : NULL, r->len);
    }
    if (!rc)
        cairn__detail_clear(); /* left by a pin that vanished */
done:
    if (reqs)
        cairn__s3_request_reset(reqs, n_reqs);
    cairn__free(reqs);
    cairn__free(keys);
    cairn__free(l.names);
    cairn__free(l.sizes);
    return rc;
}
