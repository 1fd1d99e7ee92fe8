/*
 * cmd_hashes.c - `cairn serve`'s hash commands, over the layout of
 * docs/format.md "Redis types" (engine/hashes.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

/* ---------------------------------------------------------------- hashes */

/* 0 if key may be read as a hash (one, or nothing), -1 when replied (a
 * string: WRONGTYPE; an error). */
static int hash_ok(cmd_ctx *x, const resp_arg *key, bool *exists)
{
    cairn_key_type type;
    if (serve_type_of(x, key, &type))
        return -1;
    if (type == CAIRN_TYPE_STRING) {
        serve_reply_wrongtype(x);
        return -1;
    }
    *exists = type == CAIRN_TYPE_HASH;
    return 0;
}

/* One field: 1 found, 0 not, -1 replied. A string key is WRONGTYPE. */
static int hfield(cmd_ctx *x, const resp_arg *key, const resp_arg *field, cairn_val *v)
{
    const char *space = serve_space_of(x);
    bool exists;
    if (!space)
        return 0;
    int rc = cairn_hget(serve_snap(x), space, key->ptr, key->len, field->ptr, field->len, v);
    if (rc == 0)
        return 1;
    if (rc != CAIRN_NOTFOUND && rc != CAIRN_KEYTOOBIG) {
        serve_reply_error(x, rc);
        return -1;
    }
    return hash_ok(x, key, &exists);
}

void redis_hget(cmd_ctx *x)
{
    cairn_val v;
    int r = hfield(x, serve_arg(x, 1), serve_arg(x, 2), &v);
    if (r >= 0)
        serve_reply_found(x, r, &v);
}

void redis_hexists(cmd_ctx *x)
{
    cairn_val v;
    int r = hfield(x, serve_arg(x, 1), serve_arg(x, 2), &v);
    if (r >= 0)
        resp_out_int(x->out, r);
}

void redis_hstrlen(cmd_ctx *x)
{
    cairn_val v;
    int r = hfield(x, serve_arg(x, 1), serve_arg(x, 2), &v);
    if (r >= 0)
        resp_out_int(x->out, r ? (long long)v.len : 0);
}

void redis_hmget(cmd_ctx *x)
{
    bool exists;
    if (hash_ok(x, serve_arg(x, 1), &exists))
        return;
    resp_out_array(x->out, x->req->argc - 2);
    for (size_t i = 2; i < x->req->argc; i++) {
        cairn_val v;
        int r = exists ? hfield(x, serve_arg(x, 1), serve_arg(x, i), &v) : 0;
        if (r < 0) /* a store error mid-reply: the rest answer nil */
            r = 0;
        if (r)
            resp_out_bulk(x->out, v.data, v.len);
        else
            resp_out_null(x->out);
    }
}

void redis_hlen(cmd_ctx *x)
{
    const char *space = serve_space_of(x);
    bool exists;
    uint64_t n = 0;
    if (hash_ok(x, serve_arg(x, 1), &exists))
        return;
    int rc = exists ? cairn_hlen(serve_snap(x), space, serve_arg(x, 1)->ptr, serve_arg(x, 1)->len, &n) : 0;
    if (rc && rc != CAIRN_NOTFOUND)
        return serve_reply_error(x, rc);
    resp_out_int(x->out, (long long)n);
}

/* HGETALL, HKEYS, HVALS: the fields in field order. */
static void hash_all(cmd_ctx *x, bool fields, bool values)
{
    const char *space = serve_space_of(x);
    bool exists;
    uint64_t n = 0;
    cairn_iter *it = NULL;
    if (hash_ok(x, serve_arg(x, 1), &exists))
        return;
    int rc = exists ? cairn_hlen(serve_snap(x), space, serve_arg(x, 1)->ptr, serve_arg(x, 1)->len, &n) : 0;
    if (!rc && n)
        rc = cairn_hiter_open(serve_snap(x), space, serve_arg(x, 1)->ptr, serve_arg(x, 1)->len, NULL, 0, &it);
    if (rc && rc != CAIRN_NOTFOUND)
        return serve_reply_error(x, rc);
    if (fields && values)
        resp_out_map(x->out, (size_t)n);
    else
        resp_out_array(x->out, (size_t)n);
    cairn_val f, v;
    uint64_t got = 0;
    while (it && got < n && (rc = cairn_iter_next(it, &f, &v)) == 0) {
        if (fields)
            resp_out_bulk(x->out, f.data, f.len);
        if (values)
            resp_out_bulk(x->out, v.data, v.len);
        got++;
    }
    /* The count promised: a hash whose fields fell short of its count
     * (a damaged store) is filled with nils rather than a broken reply. */
    for (; got < n; got++) {
        if (fields)
            resp_out_null(x->out);
        if (values)
            resp_out_null(x->out);
    }
    if (it)
        cairn_iter_close(it);
}

void redis_hgetall(cmd_ctx *x)
{
    hash_all(x, true, true);
}

void redis_hkeys(cmd_ctx *x)
{
    hash_all(x, true, false);
}

void redis_hvals(cmd_ctx *x)
{
    hash_all(x, false, true);
}

/* MEMORY USAGE key [SAMPLES n]: the bytes of the key's data in the
 * version, the key and its value (a hash: its name, and its fields and
 * values, averaged over the first n fields (default 5, 0: all) times its
 * field count, as Redis samples); nil for no key. No per-key overhead is
 * added: the tree's own is shared by the nodes (cairn stats gives it). */
void redis_memory(cmd_ctx *x)
{
    long long samples = 5;
    if (!serve_arg_is(serve_arg(x, 1), "usage")) {
        resp_out_errorf(x->out, "ERR unknown subcommand '%.*s'. Try MEMORY USAGE.",
                        (int)serve_arg(x, 1)->len, serve_arg(x, 1)->ptr);
        return;
    }
    if (x->req->argc != 3 && x->req->argc != 5) {
        resp_out_error(x->out, "ERR wrong number of arguments for 'memory|usage' command");
        return;
    }
    const resp_arg *key = serve_arg(x, 2);
    if (x->req->argc == 5) {
        if (!serve_arg_is(serve_arg(x, 3), "samples"))
            return serve_reply_syntax(x);
        if (!serve_arg_ll(serve_arg(x, 4), &samples) || samples < 0)
            return serve_reply_not_integer(x);
    }
    /* A string first (one read), else a hash's count (one more). */
    const char *space = serve_space_of(x);
    uint64_t n = 0, seen = 0, bytes = 0;
    cairn_val v;
    int rc = space ? cairn_get(serve_snap(x), space, key->ptr, key->len, &v) : CAIRN_NOTFOUND;
    if (rc == 0) {
        resp_out_int(x->out, (long long)(key->len + v.len));
        return;
    }
    if (rc == CAIRN_NOTFOUND && space)
        rc = cairn_hlen(serve_snap(x), space, key->ptr, key->len, &n);
    if (rc && rc != CAIRN_NOTFOUND && rc != CAIRN_KEYTOOBIG)
        return serve_reply_error(x, rc);
    if (!n) {
        resp_out_null(x->out);
        return;
    }
    cairn_iter *it = NULL;
    cairn_val f;
    rc = cairn_hiter_open(serve_snap(x), space, key->ptr, key->len, NULL, 0, &it);
    while (!rc && (samples == 0 || seen < (uint64_t)samples) &&
           (rc = cairn_iter_next(it, &f, &v)) == 0) {
        bytes += f.len + v.len;
        seen++;
    }
    if (it)
        cairn_iter_close(it);
    if (rc && rc != CAIRN_NOTFOUND)
        return serve_reply_error(x, rc);
    resp_out_int(x->out, (long long)(key->len + (seen ? bytes * n / seen : 0)));
}

void redis_hscan(cmd_ctx *x)
{
    const resp_arg *pattern = NULL, *unused = NULL;
    scan_page pg = {.count = SCAN_DEFAULT_COUNT};
    size_t n_items = 0;
    bool exists = false;
    scan_set set;
    int rc = serve_scan_set_hash(x, serve_arg(x, 1), &set), done = 1, step;
    if (rc && rc != CAIRN_NOTFOUND)
        return serve_reply_error(x, rc);
    if (!rc && (done = serve_cursor_resume(x, &set, serve_arg(x, 2), &pg)) < 0)
        return;
    if (!serve_scan_options(x, 3, false, &pattern, &pg.count, &unused) ||
        hash_ok(x, serve_arg(x, 1), &exists))
        return;
    cairn_iter *it = NULL;
    rc = exists && !done ? cairn_hiter_open(serve_snap(x), serve_space_of(x), serve_arg(x, 1)->ptr,
                                            serve_arg(x, 1)->len, pg.started ? pg.from : NULL,
                                            pg.from_len, &it)
                         : 0;
    if (rc)
        return serve_reply_error(x, rc);
    resp_out items;
    if (resp_out_init(&items, resp_out_proto(x->out))) {
        if (it)
            cairn_iter_close(it);
        resp_out_error(x->out, "ERR out of memory");
        return;
    }
    cairn_val f, v;
    while (it && (rc = cairn_iter_next(it, &f, &v)) == 0 &&
           (step = serve_scan_visit(&pg, &f)) != SCAN_STOP) {
        if (step == SCAN_SKIP ||
            (pattern && !resp_glob_match(pattern->ptr, pattern->len, f.data, f.len)))
            continue;
        resp_out_bulk(&items, f.data, f.len);
        resp_out_bulk(&items, v.data, v.len);
        n_items += 2;
    }
    if (it)
        cairn_iter_close(it);
    serve_scan_end(x, rc, &set, &pg, &items, n_items);
}
