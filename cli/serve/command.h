/*
 * command.h - what the files of `cairn serve`'s commands share
 * (commands.c: the table, dispatch and connection commands; cmd_keys.c:
 * strings, scans and the database; cmd_hashes.c: hashes).
 */
#ifndef CAIRN_SERVE_COMMAND_H
#define CAIRN_SERVE_COMMAND_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "resp_glob.h"
#include "serve.h"

#define SCAN_DEFAULT_COUNT 10
#define CURSOR_KEY_MAX CAIRN_KEY_MAX

/* One command being run. */
typedef struct cmd_ctx {
    serve_worker *w;
    serve_conn *c;
    const resp_request *req;
    resp_out *out;
} cmd_ctx;

static inline const resp_arg *serve_arg(const cmd_ctx *x, size_t i)
{
    return &x->req->argv[i];
}

/* Whether a equals word (lower case) in any case. */
static inline bool serve_arg_is(const resp_arg *a, const char *word)
{
    size_t n = strlen(word);
    if (a->len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a->ptr[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != word[i])
            return false;
    }
    return true;
}

/* The snapshot a key command reads: the connection's own (CAIRN.AT) or
 * the worker's. */
static inline cairn_snapshot *serve_snap(cmd_ctx *x)
{
    return x->c->pinned ? x->c->pinned : x->w->view.snap;
}

/* commands.c */
bool serve_arg_ll(const resp_arg *a, long long *out);
void serve_reply_not_integer(cmd_ctx *x);
void serve_reply_syntax(cmd_ctx *x);
void serve_reply_error(cmd_ctx *x, int rc);
/* A value found (r 1: v) or not (r 0): its bulk or nil, counted as a
 * keyspace hit or miss. */
void serve_reply_found(cmd_ctx *x, int r, const cairn_val *v);
/* The keyspace of the connection's database, or NULL (an empty one). */
const char *serve_space_of(cmd_ctx *x);

/* cmd_keys.c */
void serve_reply_wrongtype(cmd_ctx *x);
/* The type of key; a negative error when replied. */
int serve_type_of(cmd_ctx *x, const resp_arg *key, cairn_key_type *type);
/* A string: 1 found, 0 not, -1 replied (a hash: WRONGTYPE). */
int serve_lookup(cmd_ctx *x, const resp_arg *key, cairn_val *v);
/* After a string lookup of key in space found nothing: 0 (nil), or -1
 * replied (a hash of that name: WRONGTYPE; a store error). */
int serve_string_missing(cmd_ctx *x, const char *space, const resp_arg *key);
/* Answers n GETs of keys, in order, as if each ran alone, with one
 * cairn_get_many (the view is the caller's to refresh). */
void serve_get_run(cmd_ctx *x, const cairn_val *keys, size_t n);
/* Strings and hashes of the database, O(log n). */
int serve_dbsize(cmd_ctx *x, uint64_t *n);
bool serve_scan_options(cmd_ctx *x, size_t first, bool types, const resp_arg **pattern,
                        long long *count, const resp_arg **type);

/* cursor.c: SCAN's and HSCAN's cursors. A set is what a scan walks: a
 * database's keys (strings and hash names merged) or one hash's fields. */
typedef struct scan_set {
    char space[CAIRN_NAME_MAX + 1]; /* SCAN: the strings; HSCAN: the fields' keyspace */
    char names[CAIRN_NAME_MAX + 1]; /* SCAN: the hash names' keyspace */
    bool hash;                      /* HSCAN: members are the keys after prefix */
    uint8_t prefix[16 + CURSOR_KEY_MAX];
    size_t prefix_len;
} scan_set;
/* The database's keys; CAIRN_NOTFOUND for an empty database. */
int serve_scan_set_db(cmd_ctx *x, scan_set *set);
/* The fields of hash key; CAIRN_NOTFOUND for an empty database or a name
 * too long for any hash. */
int serve_scan_set_hash(cmd_ctx *x, const resp_arg *key, scan_set *set);
/* One SCAN or HSCAN call: after which member it starts, how many it may
 * visit, and where it stopped. */
typedef struct scan_page {
    uint8_t from[CURSOR_KEY_MAX]; /* the last member the call before returned */
    size_t from_len;
    bool started;                 /* false: cursor 0, from the first member */
    long long count, visited;     /* COUNT, and members visited so far */
    uint8_t last[CURSOR_KEY_MAX]; /* the last member visited */
    size_t last_len;
    bool more;                    /* members are left past last */
} scan_page;
/* What the walk does with the next member m. */
enum { SCAN_SKIP, SCAN_STOP, SCAN_TAKE };
static inline int serve_scan_visit(scan_page *pg, const cairn_val *m)
{
    if (pg->started && m->len == pg->from_len && memcmp(m->data, pg->from, m->len) == 0)
        return SCAN_SKIP; /* the cursor's member: the call before returned it */
    if (pg->visited >= pg->count) {
        pg->more = true;
        return SCAN_STOP;
    }
    pg->visited++;
    memcpy(pg->last, m->data, m->len);
    pg->last_len = m->len;
    return SCAN_TAKE; /* counted; the caller's filters (MATCH, TYPE) may drop it */
}
/* Decodes cursor arg into pg (from, started). Returns 0, 1 when no member
 * is left after it, or -1 replied (an invalid cursor, an error). */
int serve_cursor_resume(cmd_ctx *x, const scan_set *set, const resp_arg *arg, scan_page *pg);
/* The cursor that goes on after member last of the version read now. */
int serve_cursor_after(cmd_ctx *x, const scan_set *set, const uint8_t *last, size_t len,
                       uint64_t *cursor);
/* (cmd_keys.c) Ends a scan whose walk ended with rc (0 or CAIRN_NOTFOUND:
 * fine): replies [cursor, items], the cursor going on after pg's last
 * member when more are left, else "0"; or the error. Frees items. */
void serve_scan_end(cmd_ctx *x, int rc, const scan_set *set, const scan_page *pg,
                    resp_out *items, size_t n_items);

/* multi.c */
/* Queues the command (MULTI is on), answering +QUEUED or an error. */
void serve_multi_queue(cmd_ctx *x);
/* A command was refused while MULTI is on: EXEC answers EXECABORT. */
void serve_multi_refuse(serve_conn *c);
/* Commands queued; 0 outside MULTI. */
size_t serve_multi_queued(const serve_conn *c);
void redis_multi(cmd_ctx *x);
void redis_exec(cmd_ctx *x);
void redis_discard(cmd_ctx *x);
void redis_watch(cmd_ctx *x);
void redis_unwatch(cmd_ctx *x);

/* The commands of cmd_keys.c and cmd_hashes.c. */
void redis_get(cmd_ctx *x);
void redis_mget(cmd_ctx *x);
void redis_exists(cmd_ctx *x);
void redis_strlen(cmd_ctx *x);
void redis_getrange(cmd_ctx *x);
void redis_type(cmd_ctx *x);
void redis_ttl(cmd_ctx *x);
void redis_dbsize(cmd_ctx *x);
void redis_randomkey(cmd_ctx *x);
void redis_scan(cmd_ctx *x);
void redis_keys(cmd_ctx *x);
void redis_hget(cmd_ctx *x);
void redis_hexists(cmd_ctx *x);
void redis_hstrlen(cmd_ctx *x);
void redis_hmget(cmd_ctx *x);
void redis_hlen(cmd_ctx *x);
void redis_hgetall(cmd_ctx *x);
void redis_hkeys(cmd_ctx *x);
void redis_hvals(cmd_ctx *x);
void redis_hscan(cmd_ctx *x);
void redis_memory(cmd_ctx *x);

#endif /* CAIRN_SERVE_COMMAND_H */
