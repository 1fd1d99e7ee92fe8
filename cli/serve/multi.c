/*
 * multi.c - `cairn serve`'s transactions: MULTI, EXEC, DISCARD, WATCH,
 * UNWATCH (docs/serve.md, "Transactions").
 *
 * Clients use them even to read: redis-py's pipeline() sends MULTI ...
 * EXEC unless told not to. Between MULTI and EXEC each command is checked
 * as it arrives (unknown, wrong arity, a write, not authenticated: the
 * error is answered at once and EXEC then answers EXECABORT, as Redis
 * does) and queued with +QUEUED; EXEC runs the queue on one version of
 * the store, so a transaction never reads two versions.
 *
 * WATCH remembers the commit the connection reads. The data never changes
 * within a version, so EXEC fails (a nil reply) only when the version read
 * changed since WATCH: a switch counts as a change of every watched key,
 * which may abort a transaction whose keys did not change (the client
 * retries, as after any WATCH failure) but never lets one run on data
 * changed under it.
 */
#include <stdlib.h>
#include <string.h>

#include "command.h"

/* Past this many bytes of queued arguments a transaction is refused
 * (EXEC answers EXECABORT): one request's limit, so a transaction holds
 * no more than a single request could. */
#define QUEUED_BYTES_MAX(srv) ((srv)->cfg.limits.max_request)

struct serve_multi {
    resp_request *reqs; /* each one allocation: its argv, then its bytes */
    size_t n, cap;
    size_t bytes;
    bool aborted;       /* a command was refused while queueing */
};

void serve_multi_free(serve_multi *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free((void *)m->reqs[i].argv);
    free(m->reqs);
    free(m);
}

static void multi_end(serve_conn *c)
{
    serve_multi_free(c->multi);
    c->multi = NULL;
    c->watching = false;
}

void serve_multi_refuse(serve_conn *c)
{
    if (c->multi)
        c->multi->aborted = true;
}

/* A copy of req whose arguments outlive the connection's input buffer. */
static int request_copy(const resp_request *req, resp_request *out, size_t *bytes)
{
    size_t len = 0;
    for (size_t i = 0; i < req->argc; i++)
        len += req->argv[i].len;
    resp_arg *argv = malloc(req->argc * sizeof(*argv) + len + 1);
    if (!argv)
        return CAIRN_NOMEM;
    char *at = (char *)(argv + req->argc);
    for (size_t i = 0; i < req->argc; i++) {
        memcpy(at, req->argv[i].ptr, req->argv[i].len);
        argv[i] = (resp_arg){at, req->argv[i].len};
        at += req->argv[i].len;
    }
    *out = (resp_request){req->argc, argv, false};
    *bytes = req->argc * sizeof(*argv) + len;
    return 0;
}

void serve_multi_queue(cmd_ctx *x)
{
    serve_multi *m = x->c->multi;
    if (m->aborted) { /* EXEC will refuse it whole: keep nothing more */
        resp_out_simple(x->out, "QUEUED");
        return;
    }
    resp_request copy;
    size_t bytes;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        resp_request *grown = realloc(m->reqs, cap * sizeof(*grown));
        if (!grown)
            goto nomem;
        m->reqs = grown;
        m->cap = cap;
    }
    if (request_copy(x->req, &copy, &bytes))
        goto nomem;
    if (m->bytes + bytes > QUEUED_BYTES_MAX(x->w->srv)) {
        free((void *)copy.argv);
        m->aborted = true;
        resp_out_errorf(x->out, "ERR transaction too large: its queued commands pass %zu bytes",
                        (size_t)QUEUED_BYTES_MAX(x->w->srv));
        return;
    }
    m->reqs[m->n++] = copy;
    m->bytes += bytes;
    resp_out_simple(x->out, "QUEUED");
    return;
nomem:
    m->aborted = true;
    resp_out_error(x->out, "ERR out of memory queueing the command");
}

void redis_multi(cmd_ctx *x)
{
    if (x->c->multi) {
        resp_out_error(x->out, "ERR MULTI calls can not be nested");
        return;
    }
    if (!(x->c->multi = calloc(1, sizeof(*x->c->multi)))) {
        resp_out_error(x->out, "ERR out of memory");
        return;
    }
    resp_out_simple(x->out, "OK");
}

void redis_discard(cmd_ctx *x)
{
    if (!x->c->multi) {
        resp_out_error(x->out, "ERR DISCARD without MULTI");
        return;
    }
    multi_end(x->c);
    resp_out_simple(x->out, "OK");
}

/* The commit the connection reads now (its view refreshed unless pinned);
 * false when there is none to read. */
static bool commit_read(cmd_ctx *x, cairn_id *commit)
{
    if (!x->c->pinned && serve_view_refresh(&x->w->srv->version, &x->w->view))
        return false;
    cairn_snapshot *snap = serve_snap(x);
    return snap && cairn_snapshot_commit(snap, commit);
}

void redis_watch(cmd_ctx *x)
{
    if (x->c->multi) {
        resp_out_error(x->out, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    if (!x->c->watching) { /* a later WATCH keeps the first one's version */
        if (!commit_read(x, &x->c->watched))
            return serve_reply_error(x, CAIRN_NOTFOUND);
        x->c->watching = true;
    }
    resp_out_simple(x->out, "OK");
}

void redis_unwatch(cmd_ctx *x)
{
    x->c->watching = false;
    resp_out_simple(x->out, "OK");
}

void redis_exec(cmd_ctx *x)
{
    serve_conn *c = x->c;
    serve_multi *m = c->multi;
    if (!m) {
        resp_out_error(x->out, "ERR EXEC without MULTI");
        return;
    }
    cairn_id now;
    bool readable = commit_read(x, &now);
    if (m->aborted) {
        resp_out_error(x->out, "EXECABORT Transaction discarded because of previous errors.");
    } else if (c->watching && (!readable || memcmp(&now, &c->watched, sizeof(now)) != 0)) {
        resp_out_null_array(x->out);
    } else {
        /* The queue's commands run on the view just refreshed: no switch
         * between them (serve_command leaves the view alone in_exec). */
        c->multi = NULL;
        c->in_exec = true;
        resp_out_array(x->out, m->n);
        for (size_t i = 0; i < m->n; i++)
            serve_command(x->w, c, &m->reqs[i]);
        c->in_exec = false;
        c->multi = m;
    }
    multi_end(c);
}

size_t serve_multi_queued(const serve_conn *c)
{
    return c->multi ? c->multi->n : 0;
}
