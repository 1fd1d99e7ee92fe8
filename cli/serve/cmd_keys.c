/*
 * cmd_keys.c - `cairn serve`'s string commands, the database (DBSIZE,
 * RANDOMKEY) and the scans (SCAN, KEYS, their cursors and globs).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

/* ---------------------------------------------------------------- strings */


void redis_get(cmd_ctx *x)
{
    cairn_val v;
    int r = serve_lookup(x, serve_arg(x, 1), &v);
    if (r >= 0)
        serve_reply_found(x, r, &v);
}

/* MGET's reply, one element per key, in order. */
typedef struct mget_reply {
    cmd_ctx *x;
    size_t done; /* elements written */
} mget_reply;

static int mget_one(void *ctx, size_t i, const cairn_val *val)
{
    mget_reply *r = ctx;
    (void)i;
    serve_reply_found(r->x, val != NULL, val);
    r->done++;
    return 0;
}

/* The keys go to cairn_get_many in batches, so that those past the node
 * cache are read together, one tier round per tree level. Redis answers
 * nil for a key it cannot give (missing, another type); a key that meets
 * a store error is nil too, and counted as a miss. */
void redis_mget(cmd_ctx *x)
{
    const char *space = serve_space_of(x);
    size_t n = x->req->argc - 1;
    mget_reply r = {x, 0};

    resp_out_array(x->out, n);
    while (r.done < n) {
        cairn_val keys[SERVE_GET_RUN];
        size_t first = r.done, m = n - first < SERVE_GET_RUN ? n - first : SERVE_GET_RUN;

        for (size_t i = 0; i < m; i++) {
            keys[i].data = serve_arg(x, 1 + first + i)->ptr;
            keys[i].len = serve_arg(x, 1 + first + i)->len;
        }
        if (!space || cairn_get_many(serve_snap(x), space, keys, m, mget_one, &r) != 0)
            while (r.done < first + m)
                mget_one(&r, r.done, NULL);
    }
}

void serve_reply_wrongtype(cmd_ctx *x)
{
    resp_out_error(x->out, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

/* The type of key (a string, a hash, none); a negative error (replied). */
int serve_type_of(cmd_ctx *x, const resp_arg *key, cairn_key_type *type)
{
    const char *space = serve_space_of(x);
    *type = CAIRN_TYPE_NONE;
    if (!space)
        return 0;
    int rc = cairn_type(serve_snap(x), space, key->ptr, key->len, type);
    if (rc == CAIRN_KEYTOOBIG || rc == CAIRN_NOTFOUND)
        return 0;
    if (rc) {
        serve_reply_error(x, rc);
        return -1;
    }
    return 0;
}

/* Looks a string up: 1 found, 0 not, or a negative error (replied; a
 * hash is WRONGTYPE, as Redis's string commands answer). */
int serve_lookup(cmd_ctx *x, const resp_arg *key, cairn_val *v)
{
    const char *space = serve_space_of(x);
    if (!space)
        return 0;
    int rc = cairn_get(serve_snap(x), space, key->ptr, key->len, v);
    if (rc == 0)
        return 1;
    if (rc == CAIRN_KEYTOOBIG)
        return 0;
    if (rc == CAIRN_NOTFOUND)
        return serve_string_missing(x, space, key);
    serve_reply_error(x, rc);
    return -1;
}

int serve_string_missing(cmd_ctx *x, const char *space, const resp_arg *key)
{
    uint64_t fields = 0;
    /* One lookup of the hash's count, not cairn_type's second string
     * lookup. */
    int rc = cairn_hlen(serve_snap(x), space, key->ptr, key->len, &fields);
    if (rc && rc != CAIRN_KEYTOOBIG) {
        serve_reply_error(x, rc);
        return -1;
    }
    if (fields) {
        serve_reply_wrongtype(x);
        return -1;
    }
    return 0;
}

/* A run of pipelined GETs: each key's reply, as its GET would give it. */
typedef struct get_run {
    cmd_ctx *x;
    const char *space;
    const cairn_val *keys;
    size_t done; /* replies written */
} get_run;

static int get_run_one(void *ctx, size_t i, const cairn_val *val)
{
    get_run *g = ctx;
    resp_arg key = {g->keys[i].data, g->keys[i].len};
    int r = val ? 1 : serve_string_missing(g->x, g->space, &key);
    if (r >= 0)
        serve_reply_found(g->x, r, val);
    g->done++;
    return 0;
}

void serve_get_run(cmd_ctx *x, const cairn_val *keys, size_t n)
{
    get_run g = {x, serve_space_of(x), keys, 0};
    if (!g.space || cairn_get_many(serve_snap(x), g.space, keys, n, get_run_one, &g) != 0)
        /* What the batch could not answer, each GET answers on its own
         * (a store error is then that GET's reply). */
        for (; g.done < n; g.done++) {
            resp_arg key = {keys[g.done].data, keys[g.done].len};
            cairn_val v;
            int r = serve_lookup(x, &key, &v);
            if (r >= 0)
                serve_reply_found(x, r, &v);
        }
}

void redis_exists(cmd_ctx *x)
{
    long long n = 0;
    for (size_t i = 1; i < x->req->argc; i++) {
        cairn_key_type type;
        if (serve_type_of(x, serve_arg(x, i), &type))
            return;
        n += type != CAIRN_TYPE_NONE;
    }
    resp_out_int(x->out, n);
}

void redis_strlen(cmd_ctx *x)
{
    cairn_val v;
    int r = serve_lookup(x, serve_arg(x, 1), &v);
    if (r >= 0)
        resp_out_int(x->out, r ? (long long)v.len : 0);
}

void redis_getrange(cmd_ctx *x)
{
    long long start, end;
    cairn_val v;
    if (!serve_arg_ll(serve_arg(x, 2), &start) || !serve_arg_ll(serve_arg(x, 3), &end))
        return serve_reply_not_integer(x);
    int r = serve_lookup(x, serve_arg(x, 1), &v);
    if (r < 0)
        return;
    long long len = r ? (long long)v.len : 0;
    /* Redis's rules: negative counts from the end; clamp; empty if crossed. */
    if (start < 0 && end < 0 && start > end) {
        resp_out_bulk(x->out, "", 0);
        return;
    }
    if (start < 0)
        start += len;
    if (end < 0)
        end += len;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= len)
        end = len - 1;
    if (len == 0 || start > end)
        resp_out_bulk(x->out, "", 0);
    else
        resp_out_bulk(x->out, (const char *)v.data + start, (size_t)(end - start + 1));
}

void redis_type(cmd_ctx *x)
{
    cairn_key_type type;
    if (!serve_type_of(x, serve_arg(x, 1), &type))
        resp_out_simple(x->out, type == CAIRN_TYPE_STRING ? "string"
                                : type == CAIRN_TYPE_HASH ? "hash"
                                                          : "none");
}

void redis_ttl(cmd_ctx *x)
{
    cairn_key_type type;
    if (!serve_type_of(x, serve_arg(x, 1), &type))
        resp_out_int(x->out, type != CAIRN_TYPE_NONE ? -1 : -2); /* nothing expires */
}

/* Strings and hashes of the database, O(log n); 0 for an empty one. */
int serve_dbsize(cmd_ctx *x, uint64_t *n)
{
    const char *space = serve_space_of(x);
    *n = 0;
    if (!space)
        return 0;
    int rc = cairn_dbsize(serve_snap(x), space, n);
    return rc == CAIRN_NOTFOUND ? 0 : rc;
}

void redis_dbsize(cmd_ctx *x)
{
    uint64_t n;
    int rc = serve_dbsize(x, &n);
    if (rc)
        serve_reply_error(x, rc);
    else
        resp_out_int(x->out, (long long)n);
}

/* RANDOMKEY: a uniform draw over strings and hashes by rank (subtree
 * counts), O(log n). */
void redis_randomkey(cmd_ctx *x)
{
    const char *space = serve_space_of(x);
    uint64_t n, strings = 0;
    int rc = serve_dbsize(x, &n);
    if (rc)
        return serve_reply_error(x, rc);
    if (n == 0) {
        resp_out_null(x->out);
        return;
    }
    uint64_t r = ((uint64_t)random() << 31 ^ (uint64_t)random()) % n;
    char counts[CAIRN_NAME_MAX + 1];
    cairn_val k, v;
    if ((rc = cairn_count(serve_snap(x), space, NULL, 0, NULL, 0, &strings)) == CAIRN_NOTFOUND)
        rc = 0, strings = 0;
    if (!rc)
        rc = r < strings ? cairn_key_at(serve_snap(x), space, r, &k, &v)
                         : cairn_hash_spaces(space, NULL, counts) ? CAIRN_BADARG
                         : cairn_key_at(serve_snap(x), counts, r - strings, &k, &v);
    if (rc)
        return serve_reply_error(x, rc);
    resp_out_bulk(x->out, k.data, k.len);
}

/* ---------------------------------------------------------------- scans */

/* The keys of a database in key order: its strings and its hash names
 * (the keys of the counts keyspace), merged; a key is one or the other. */
typedef struct key_walk {
    cairn_iter *it[2];
    cairn_val k[2];
    bool have[2];
} key_walk;

static int walk_advance(key_walk *kw, int i)
{
    cairn_val v;
    int rc = kw->it[i] ? cairn_iter_next(kw->it[i], &kw->k[i], &v) : CAIRN_NOTFOUND;
    kw->have[i] = rc == 0;
    return rc == CAIRN_NOTFOUND ? 0 : rc;
}

/* Opens the walk of set's members (a database's) after from (NULL: from
 * the first). walk_close closes what a failed open opened. */
static int walk_open(cmd_ctx *x, const scan_set *set, const void *from, size_t from_len,
                     key_walk *kw)
{
    int rc = 0;
    memset(kw, 0, sizeof(*kw));
    for (int i = 0; i < 2 && !rc; i++) {
        rc = cairn_iter_open(serve_snap(x), i ? set->names : set->space, from, from_len, NULL, 0,
                             0, &kw->it[i]);
        if (rc == CAIRN_NOTFOUND)
            rc = 0, kw->it[i] = NULL;
        if (!rc)
            rc = walk_advance(kw, i);
    }
    return rc;
}

/* The next key: 0 (key and *hash set), CAIRN_NOTFOUND at the end, or an
 * error. The key stays valid until the next call. */
static int walk_next(key_walk *kw, cairn_val *key, bool *hash, int *pending)
{
    if (*pending >= 0) {
        int rc = walk_advance(kw, *pending);
        *pending = -1;
        if (rc)
            return rc;
    }
    if (!kw->have[0] && !kw->have[1])
        return CAIRN_NOTFOUND;
    int i = !kw->have[0] ? 1
            : !kw->have[1] ? 0
            : memcmp(kw->k[0].data, kw->k[1].data,
                     kw->k[0].len < kw->k[1].len ? kw->k[0].len : kw->k[1].len) < 0 ||
                      (memcmp(kw->k[0].data, kw->k[1].data,
                              kw->k[0].len < kw->k[1].len ? kw->k[0].len : kw->k[1].len) == 0 &&
                       kw->k[0].len <= kw->k[1].len)
                ? 0
                : 1;
    *key = kw->k[i];
    *hash = i == 1;
    *pending = i; /* advanced at the next call, so that key stays valid */
    return 0;
}

static void walk_close(key_walk *kw)
{
    for (int i = 0; i < 2; i++)
        if (kw->it[i])
            cairn_iter_close(kw->it[i]);
}

/* SCAN's and HSCAN's options: MATCH, COUNT, TYPE (SCAN only). */
bool serve_scan_options(cmd_ctx *x, size_t first, bool types, const resp_arg **pattern,
                         long long *count, const resp_arg **type)
{
    for (size_t i = first; i < x->req->argc; i += 2) {
        if (i + 1 >= x->req->argc) {
            serve_reply_syntax(x);
            return false;
        }
        if (serve_arg_is(serve_arg(x, i), "match")) {
            *pattern = serve_arg(x, i + 1);
        } else if (serve_arg_is(serve_arg(x, i), "count")) {
            if (!serve_arg_ll(serve_arg(x, i + 1), count)) {
                serve_reply_not_integer(x);
                return false;
            }
            if (*count < 1) {
                serve_reply_syntax(x);
                return false;
            }
        } else if (types && serve_arg_is(serve_arg(x, i), "type")) {
            *type = serve_arg(x, i + 1);
        } else {
            serve_reply_syntax(x);
            return false;
        }
    }
    return true;
}

/* Replies [cursor, items] (the items gathered in a side buffer: the
 * cursor comes first but is known last), or the error rc, and frees the
 * items. */
void serve_scan_end(cmd_ctx *x, int rc, const scan_set *set, const scan_page *pg,
                    resp_out *items, size_t n_items)
{
    uint64_t cursor = 0;
    char digits[24];
    if ((!rc || rc == CAIRN_NOTFOUND) && pg->more)
        rc = serve_cursor_after(x, set, pg->last, pg->last_len, &cursor);
    if (rc && rc != CAIRN_NOTFOUND) {
        serve_reply_error(x, rc);
    } else {
        int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)cursor);
        resp_out_array(x->out, 2);
        resp_out_bulk(x->out, digits, (size_t)n);
        resp_out_array(x->out, n_items);
        resp_out_raw(x->out, items->buf + items->head, items->len - items->head);
    }
    resp_out_free(items);
}

void redis_scan(cmd_ctx *x)
{
    const resp_arg *pattern = NULL, *type = NULL;
    scan_page pg = {.count = SCAN_DEFAULT_COUNT};
    size_t n_keys = 0;
    bool hash;
    scan_set set;
    resp_out keys;
    int rc = serve_scan_set_db(x, &set), done = 1;
    if (rc && rc != CAIRN_NOTFOUND)
        return serve_reply_error(x, rc);
    if (!rc && (done = serve_cursor_resume(x, &set, serve_arg(x, 1), &pg)) < 0)
        return;
    if (!serve_scan_options(x, 2, true, &pattern, &pg.count, &type))
        return;
    if (resp_out_init(&keys, resp_out_proto(x->out))) {
        resp_out_error(x->out, "ERR out of memory");
        return;
    }
    key_walk kw;
    cairn_val k;
    int pending = -1, step;
    if (!done) {
        if (!(rc = walk_open(x, &set, pg.started ? pg.from : NULL, pg.from_len, &kw)))
            while ((rc = walk_next(&kw, &k, &hash, &pending)) == 0 &&
                   (step = serve_scan_visit(&pg, &k)) != SCAN_STOP) {
                if (step == SCAN_SKIP || (type && !serve_arg_is(type, hash ? "hash" : "string")) ||
                    (pattern && !resp_glob_match(pattern->ptr, pattern->len, k.data, k.len)))
                    continue;
                resp_out_bulk(&keys, k.data, k.len);
                n_keys++;
            }
        walk_close(&kw);
    }
    serve_scan_end(x, rc, &set, &pg, &keys, n_keys);
}

void redis_keys(cmd_ctx *x)
{
    uint64_t n;
    int rc = serve_dbsize(x, &n), pending = -1;
    if (rc)
        return serve_reply_error(x, rc);
    if (n > x->w->srv->cfg.keys_max) {
        resp_out_errorf(x->out, "ERR KEYS refused: the database holds %llu keys, more than "
                        "cairn serve's limit of %u (--keys-max); use SCAN",
                        (unsigned long long)n, x->w->srv->cfg.keys_max);
        return;
    }
    key_walk kw;
    cairn_val k;
    bool hash;
    size_t matched = 0;
    resp_mark mark = resp_out_mark(x->out);
    scan_set set;
    if ((rc = serve_scan_set_db(x, &set)) == CAIRN_NOTFOUND) {
        resp_out_array(x->out, 0); /* an empty database */
        return;
    }
    if (!rc && !(rc = walk_open(x, &set, NULL, 0, &kw)))
        while ((rc = walk_next(&kw, &k, &hash, &pending)) == 0)
            if (resp_glob_match(serve_arg(x, 1)->ptr, serve_arg(x, 1)->len, k.data, k.len)) {
                resp_out_bulk(x->out, k.data, k.len);
                matched++;
            }
    walk_close(&kw);
    if (rc && rc != CAIRN_NOTFOUND)
        return serve_reply_error(x, rc);
    resp_out_end(x->out, mark, RESP_ARRAY, matched);
}

