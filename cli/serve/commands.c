/*
 * commands.c - what `cairn serve` answers (docs/serve.md, "Commands").
 *
 * A table of commands with Redis's arity convention (n: exactly n words,
 * -n: at least n, the name counted) and flags. Every command Redis knows
 * as a write answers -READONLY, as a read-only replica does; a command
 * neither table knows answers Redis's unknown-command error. Key commands
 * run on the worker's snapshot of the served version (version.h), or on
 * the connection's own when CAIRN.AT pinned one.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

#define DATABASES 16 /* SELECT takes at least 0..15, as Redis's default */

typedef struct command {
    const char *name;
    void (*run)(cmd_ctx *x);
    int arity;
    bool no_auth; /* may run before AUTH */
    bool no_view; /* needs no snapshot */
    const char *group, *summary;
    /* Its arguments for COMMAND DOCS (redis-cli's hints): words of
     * NAME:TYPE, TYPE a Redis argument type (key, string, integer,
     * pattern, pure-token), then '?' for optional, '*' for multiple. */
    const char *args;
} command;

/* ---------------------------------------------------------------- helpers */

/* A decimal long long, as Redis's string2ll: no spaces, no '+'. */
bool serve_arg_ll(const resp_arg *a, long long *out)
{
    char buf[32];
    char *end;
    if (a->len == 0 || a->len >= sizeof(buf))
        return false;
    memcpy(buf, a->ptr, a->len);
    buf[a->len] = 0;
    if (buf[0] == '+' || isspace((unsigned char)buf[0]))
        return false;
    errno = 0;
    *out = strtoll(buf, &end, 10);
    return !errno && *end == 0;
}

void serve_reply_found(cmd_ctx *x, int r, const cairn_val *v)
{
    serve_stats *st = &x->w->srv->stats;
    atomic_fetch_add(r ? &st->keyspace_hits : &st->keyspace_misses, 1);
    if (r)
        resp_out_bulk(x->out, v->data, v->len);
    else
        resp_out_null(x->out);
}

void serve_reply_not_integer(cmd_ctx *x)
{
    resp_out_error(x->out, "ERR value is not an integer or out of range");
}

void serve_reply_syntax(cmd_ctx *x)
{
    resp_out_error(x->out, "ERR syntax error");
}

void serve_reply_error(cmd_ctx *x, int rc)
{
    const char *detail = cairn_errdetail();
    resp_out_errorf(x->out, "ERR cairn: %s%s%s", cairn_strerror(rc), *detail ? ": " : "", detail);
}

/* The keyspace of the connection's database: index i over the version's
 * keyspaces in name order, the default ("") first, those starting with
 * '.' left out (cairn's own: docs/format.md). NULL: an empty database. */
const char *serve_space_of(cmd_ctx *x)
{
    serve_worker *w = x->w;
    if (serve_spaces_load(w, serve_snap(x)))
        return NULL;
    return x->c->db < w->n_spaces ? w->spaces[x->c->db] : NULL;
}

static int collect_space(void *ctx, const char *name, uint64_t key_count)
{
    serve_worker *w = ctx;
    (void)key_count;
    if (name[0] == '.' || name[0] == 0)
        return 0; /* cairn's own; the default is first already */
    char **grown = realloc(w->spaces, (w->n_spaces + 1) * sizeof(*grown));
    char *copy = strdup(name);
    if (!grown || !copy) {
        free(copy);
        if (grown)
            w->spaces = grown;
        return CAIRN_NOMEM;
    }
    w->spaces = grown;
    w->spaces[w->n_spaces++] = copy;
    return 0;
}

void serve_spaces_free(serve_worker *w)
{
    for (size_t i = 0; i < w->n_spaces; i++)
        free(w->spaces[i]);
    free(w->spaces);
    w->spaces = NULL;
    w->n_spaces = 0;
    w->spaces_valid = false;
}

int serve_spaces_load(serve_worker *w, cairn_snapshot *snap)
{
    cairn_id commit;
    if (!cairn_snapshot_commit(snap, &commit))
        memset(&commit, 0, sizeof(commit));
    if (w->spaces_valid && memcmp(&commit, &w->spaces_commit, sizeof(commit)) == 0)
        return 0;
    serve_spaces_free(w);
    if (!(w->spaces = malloc(sizeof(*w->spaces))) || !(w->spaces[0] = strdup("")))
        return CAIRN_NOMEM;
    w->n_spaces = 1;
    int rc = cairn_space_list(snap, collect_space, w);
    if (rc) {
        serve_spaces_free(w);
        return rc;
    }
    w->spaces_commit = commit;
    w->spaces_valid = true;
    return 0;
}

/* ---------------------------------------------------------------- connection */

static void redis_ping(cmd_ctx *x)
{
    if (x->req->argc > 2)
        resp_out_error(x->out, "ERR wrong number of arguments for 'ping' command");
    else if (x->req->argc == 2)
        resp_out_bulk(x->out, serve_arg(x, 1)->ptr, serve_arg(x, 1)->len);
    else
        resp_out_simple(x->out, "PONG");
}

static void redis_echo(cmd_ctx *x)
{
    resp_out_bulk(x->out, serve_arg(x, 1)->ptr, serve_arg(x, 1)->len);
}

static void redis_quit(cmd_ctx *x)
{
    resp_out_simple(x->out, "OK");
    x->c->closing = true;
}

/* Compares without leaking where they differ, as Redis's time-independent
 * strcmp. */
static bool password_ok(const serve_config *cfg, const resp_arg *given)
{
    size_t n = strlen(cfg->password);
    unsigned char diff = (unsigned char)(n != given->len);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(cfg->password[i] ^ (i < given->len ? given->ptr[i] : 0));
    return diff == 0;
}

/* AUTH [user] password; user must be "default" (there are no others). */
static bool authenticate(cmd_ctx *x, const resp_arg *user, const resp_arg *pass)
{
    const serve_config *cfg = &x->w->srv->cfg;
    if (!cfg->has_password) {
        resp_out_error(x->out, "ERR AUTH <password> called without any password configured for "
                       "the default user. Are you sure your configuration is correct?");
        return false;
    }
    if ((user && !serve_arg_is(user, "default")) || !password_ok(cfg, pass)) {
        resp_out_error(x->out, "WRONGPASS invalid username-password pair or user is disabled.");
        return false;
    }
    x->c->authenticated = true;
    resp_parser_require_auth(&x->c->parser, false);
    return true;
}

static void redis_auth(cmd_ctx *x)
{
    if (x->req->argc > 3)
        return serve_reply_syntax(x);
    if (authenticate(x, x->req->argc == 3 ? serve_arg(x, 1) : NULL, serve_arg(x, x->req->argc - 1)))
        resp_out_simple(x->out, "OK");
}

static void redis_hello(cmd_ctx *x)
{
    long long proto = resp_out_proto(x->out);
    size_t i = 1;
    if (x->req->argc > 1) {
        if (!serve_arg_ll(serve_arg(x, 1), &proto)) {
            resp_out_error(x->out, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (proto != 2 && proto != 3) {
            resp_out_error(x->out, "NOPROTO unsupported protocol version");
            return;
        }
        i = 2;
    }
    for (; i < x->req->argc; i++) {
        if (serve_arg_is(serve_arg(x, i), "auth") && i + 2 < x->req->argc) {
            if (!authenticate(x, serve_arg(x, i + 1), serve_arg(x, i + 2)))
                return;
            i += 2;
        } else if (serve_arg_is(serve_arg(x, i), "setname") && i + 1 < x->req->argc) {
            const resp_arg *n = serve_arg(x, ++i);
            size_t len = n->len < SERVE_NAME_MAX ? n->len : SERVE_NAME_MAX;
            memcpy(x->c->name, n->ptr, len);
            x->c->name[len] = 0;
        } else {
            resp_out_errorf(x->out, "ERR Syntax error in HELLO option '%.*s'", (int)serve_arg(x, i)->len,
                            serve_arg(x, i)->ptr);
            return;
        }
    }
    if (!x->c->authenticated) {
        resp_out_error(x->out, "NOAUTH HELLO must be called with the client already "
                       "authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can "
                       "be used to authenticate the client and select the RESP protocol version "
                       "at the same time");
        return;
    }
    resp_out_set_proto(x->out, (int)proto);
    resp_out_map(x->out, 7);
    resp_out_bulk(x->out, "server", 6);
    resp_out_bulk(x->out, "redis", 5); /* what clients look for; INFO says cairn */
    resp_out_bulk(x->out, "version", 7);
    resp_out_bulk(x->out, "7.0.0", 5);
    resp_out_bulk(x->out, "proto", 5);
    resp_out_int(x->out, proto);
    resp_out_bulk(x->out, "id", 2);
    resp_out_int(x->out, (long long)x->c->id);
    resp_out_bulk(x->out, "mode", 4);
    resp_out_bulk(x->out, "standalone", 10);
    resp_out_bulk(x->out, "role", 4);
    resp_out_bulk(x->out, "replica", 7);
    resp_out_bulk(x->out, "modules", 7);
    resp_out_array(x->out, 0);
}

static void redis_select(cmd_ctx *x)
{
    long long db;
    if (!serve_arg_ll(serve_arg(x, 1), &db))
        return serve_reply_not_integer(x);
    serve_space_of(x); /* loads the keyspaces */
    if (db < 0 || (db >= DATABASES && (size_t)db >= x->w->n_spaces)) {
        resp_out_error(x->out, "ERR DB index is out of range");
        return;
    }
    x->c->db = (unsigned)db;
    resp_out_simple(x->out, "OK");
}

static void client_info_line(serve_worker *w, serve_conn *c, char *buf, size_t cap)
{
    int64_t now = serve_now_us();
    snprintf(buf, cap,
             "id=%llu addr=%s laddr=%s:%d fd=%d name=%s age=%lld idle=%lld flags=N db=%u sub=0 "
             "psub=0 ssub=0 multi=%lld qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=0 obl=0 oll=0 "
             "omem=%zu tot-mem=%zu events=r cmd=%s user=default redir=-1 resp=%d "
             "lib-name= lib-ver=\n",
             (unsigned long long)c->id, c->addr, w->srv->cfg.host, w->srv->port, c->fd, c->name,
             (long long)((now - c->created_us) / 1000000), (long long)((now - c->last_us) / 1000000),
             c->db, c->multi ? (long long)serve_multi_queued(c) : -1LL, c->in_len,
             c->in_cap - c->in_len, resp_out_pending(&c->out),
             c->in_cap + resp_out_pending(&c->out), c->last_cmd ? c->last_cmd : "NULL",
             resp_out_proto(&c->out));
}

static void redis_client(cmd_ctx *x)
{
    const resp_arg *sub = serve_arg(x, 1);
    char line[512];
    if (serve_arg_is(sub, "setname") && x->req->argc == 3) {
        const resp_arg *n = serve_arg(x, 2);
        for (size_t i = 0; i < n->len; i++)
            if (n->ptr[i] <= ' ' || n->ptr[i] > '~') {
                resp_out_error(x->out, "ERR Client names cannot contain spaces, newlines or "
                               "special characters.");
                return;
            }
        size_t len = n->len < SERVE_NAME_MAX ? n->len : SERVE_NAME_MAX;
        memcpy(x->c->name, n->ptr, len);
        x->c->name[len] = 0;
        resp_out_simple(x->out, "OK");
    } else if (serve_arg_is(sub, "getname") && x->req->argc == 2) {
        if (x->c->name[0])
            resp_out_bulk(x->out, x->c->name, strlen(x->c->name));
        else
            resp_out_null(x->out);
    } else if (serve_arg_is(sub, "id") && x->req->argc == 2) {
        resp_out_int(x->out, (long long)x->c->id);
    } else if (serve_arg_is(sub, "info") && x->req->argc == 2) {
        client_info_line(x->w, x->c, line, sizeof(line));
        resp_out_verbatim(x->out, "txt", line, strlen(line));
    } else if (serve_arg_is(sub, "setinfo") && x->req->argc == 4) {
        resp_out_simple(x->out, "OK"); /* library name and version: accepted, not kept */
    } else {
        resp_out_errorf(x->out, "ERR unknown subcommand or wrong number of arguments for "
                        "'%.*s'. Try CLIENT HELP.", (int)sub->len, sub->ptr);
    }
}

/* ---------------------------------------------------------------- cairn */

static void redis_cairn_version(cmd_ctx *x)
{
    cairn_id commit;
    char hex[CAIRN_ID_HEX + 1];
    if (!cairn_snapshot_commit(serve_snap(x), &commit)) {
        resp_out_null(x->out);
        return;
    }
    cairn_id_to_hex(&commit, hex);
    resp_out_bulk(x->out, hex, CAIRN_ID_HEX);
}

/* CAIRN.AT COMMIT: this connection reads that version until CAIRN.AT
 * RELEASE (a multi-command read of one version); the commit must be one
 * the store still holds. */
static void redis_cairn_at(cmd_ctx *x)
{
    const resp_arg *a = serve_arg(x, 1);
    if (serve_arg_is(a, "release")) {
        if (x->c->pinned)
            cairn_snapshot_close(x->c->pinned);
        x->c->pinned = NULL;
        resp_out_simple(x->out, "OK");
        return;
    }
    char at[CAIRN_ID_HEX + 1];
    cairn_id commit;
    cairn_snapshot *snap;
    if (a->len >= sizeof(at)) {
        resp_out_error(x->out, "ERR CAIRN.AT wants a commit id (64 hex digits) or RELEASE");
        return;
    }
    memcpy(at, a->ptr, a->len);
    at[a->len] = 0;
    int rc = cairn_id_from_hex(at, &commit);
    if (rc) {
        resp_out_error(x->out, "ERR CAIRN.AT wants a commit id (64 hex digits) or RELEASE");
        return;
    }
    if ((rc = cairn_snapshot_open_commit(x->w->srv->db, &commit, &snap)))
        return serve_reply_error(x, rc);
    if (x->c->pinned)
        cairn_snapshot_close(x->c->pinned);
    x->c->pinned = snap;
    resp_out_simple(x->out, "OK");
}

static void redis_info(cmd_ctx *x)
{
    if (x->req->argc > 2)
        return serve_reply_syntax(x);
    serve_info(x->w, x->c, x->req->argc == 2 ? serve_arg(x, 1)->ptr : NULL,
               x->req->argc == 2 ? serve_arg(x, 1)->len : 0);
}

static void redis_shutdown(cmd_ctx *x)
{
    resp_out_error(x->out, "ERR SHUTDOWN is refused: cairn serve stops on SIGTERM or SIGINT");
}

static void redis_command(cmd_ctx *x);

/* ---------------------------------------------------------------- tables */

static const command commands[] = {
    {"ping", redis_ping, -1, false, true, "connection", "Returns the server's liveliness response.",
     "message:string?"},
    {"echo", redis_echo, 2, false, true, "connection", "Returns the given string.",
     "message:string"},
    {"quit", redis_quit, -1, true, true, "connection", "Closes the connection.",
     ""},
    {"hello", redis_hello, -1, true, true, "connection", "Handshakes with the server: the protocol, AUTH, a name.",
     "protover:integer? AUTH:pure-token? username:string? password:string? SETNAME:pure-token? clientname:string?"},
    {"auth", redis_auth, -2, true, true, "connection", "Authenticates the connection.",
     "username:string? password:string"},
    {"select", redis_select, 2, false, false, "connection", "Changes the database: the n-th keyspace of the version.",
     "index:integer"},
    {"client", redis_client, -2, false, true, "connection", "SETNAME, GETNAME, ID, INFO, SETINFO of the connection.",
     "subcommand:string argument:string?*"},
    {"command", redis_command, -1, false, true, "server", "Returns the command table (COUNT, INFO, DOCS).",
     "subcommand:string? command-name:string?*"},
    {"info", redis_info, -1, false, false, "server", "Returns information about the server and the version served.",
     "section:string?"},
    {"dbsize", redis_dbsize, 1, false, false, "server", "Returns the number of keys of the database.",
     ""},
    {"get", redis_get, 2, false, false, "string", "Returns the string value of a key.",
     "key:key"},
    {"mget", redis_mget, -2, false, false, "string", "Returns the string values of one or more keys.",
     "key:key*"},
    {"exists", redis_exists, -2, false, false, "generic", "Counts the keys that exist.",
     "key:key*"},
    {"strlen", redis_strlen, 2, false, false, "string", "Returns the length of a string value.",
     "key:key"},
    {"getrange", redis_getrange, 4, false, false, "string", "Returns a substring of a string value.",
     "key:key start:integer end:integer"},
    {"substr", redis_getrange, 4, false, false, "string", "Returns a substring of a string value.",
     "key:key start:integer end:integer"},
    {"type", redis_type, 2, false, false, "generic", "Returns the type of a key.",
     "key:key"},
    {"ttl", redis_ttl, 2, false, false, "generic", "Returns -1 (nothing expires in a version), -2 for no key.",
     "key:key"},
    {"pttl", redis_ttl, 2, false, false, "generic", "Returns -1 (nothing expires in a version), -2 for no key.",
     "key:key"},
    {"scan", redis_scan, -2, false, false, "generic", "Iterates over the keys in key order, across version switches.",
     "cursor:integer MATCH:pure-token? pattern:pattern? COUNT:pure-token? count:integer? TYPE:pure-token? type:string?"},
    {"keys", redis_keys, 2, false, false, "generic", "Returns the keys matching a pattern (refused above --keys-max).",
     "pattern:pattern"},
    {"randomkey", redis_randomkey, 1, false, false, "generic", "Returns a key drawn uniformly.",
     ""},
    {"hget", redis_hget, 3, false, false, "hash", "Returns the value of a field of a hash.",
     "key:key field:string"},
    {"hmget", redis_hmget, -3, false, false, "hash", "Returns the values of fields of a hash.",
     "key:key field:string*"},
    {"hgetall", redis_hgetall, 2, false, false, "hash", "Returns every field and value of a hash.",
     "key:key"},
    {"hlen", redis_hlen, 2, false, false, "hash", "Returns the number of fields of a hash.",
     "key:key"},
    {"hexists", redis_hexists, 3, false, false, "hash", "Whether a hash holds a field.",
     "key:key field:string"},
    {"hkeys", redis_hkeys, 2, false, false, "hash", "Returns the fields of a hash.",
     "key:key"},
    {"hvals", redis_hvals, 2, false, false, "hash", "Returns the values of a hash.",
     "key:key"},
    {"hstrlen", redis_hstrlen, 3, false, false, "hash", "Returns the length of a field's value.",
     "key:key field:string"},
    {"hscan", redis_hscan, -3, false, false, "hash", "Iterates over the fields of a hash in field order.",
     "key:key cursor:integer MATCH:pure-token? pattern:pattern? COUNT:pure-token? count:integer?"},
    {"memory", redis_memory, -2, false, false, "server", "USAGE key [SAMPLES n]: the bytes of a key's data.",
     "subcommand:string key:key SAMPLES:pure-token? count:integer?"},
    {"multi", redis_multi, 1, false, true, "transactions", "Starts a transaction: the commands up to EXEC run on one version.",
     ""},
    {"exec", redis_exec, 1, false, true, "transactions", "Runs the commands queued since MULTI, on one version.",
     ""},
    {"discard", redis_discard, 1, false, true, "transactions", "Drops the commands queued since MULTI.",
     ""},
    {"watch", redis_watch, -2, false, true, "transactions", "EXEC fails if the version read changes before it.",
     "key:key*"},
    {"unwatch", redis_unwatch, 1, false, true, "transactions", "Forgets WATCH.",
     ""},
    {"shutdown", redis_shutdown, -1, false, true, "server", "Refused: cairn serve stops on SIGTERM or SIGINT.",
     ""},
    {"cairn.version", redis_cairn_version, 1, false, false, "cairn", "Returns the commit id of the version read.",
     ""},
    {"cairn.at", redis_cairn_at, 2, false, true, "cairn", "Reads one commit on this connection until CAIRN.AT RELEASE.",
     "commit:string"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Redis's write commands (those a read-only replica refuses). */
static const char *const writes[] = {
    "set", "setnx", "setex", "psetex", "append", "del", "unlink", "incr", "decr", "incrby",
    "decrby", "incrbyfloat", "getset", "getdel", "getex", "mset", "msetnx", "setrange",
    "hset", "hsetnx", "hmset", "hdel", "hincrby", "hincrbyfloat", "expire", "pexpire",
    "expireat", "pexpireat", "persist", "rename", "renamenx", "move", "copy", "restore",
    "flushdb", "flushall", "swapdb", "lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop",
    "linsert", "lset", "lrem", "ltrim", "rpoplpush", "lmove", "blpop", "brpop", "blmove",
    "sadd", "srem", "spop", "smove", "sinterstore", "sunionstore", "sdiffstore", "zadd",
    "zincrby", "zrem", "zremrangebyscore", "zremrangebyrank", "zremrangebylex", "zpopmin",
    "zpopmax", "zunionstore", "zinterstore", "zdiffstore", "zrangestore", "pfadd", "pfmerge",
    "xadd", "xdel", "xtrim", "xgroup", "xack", "xclaim", "xautoclaim", "xsetid", "geoadd",
    "setbit", "bitop", "bitfield", "eval", "evalsha", "fcall", "function", "sort",
    "georadius", "georadiusbymember", "migrate", "lmpop", "zmpop", "blmpop", "bzmpop",
    "bzpopmin", "bzpopmax",
};

static const command *find_command(const resp_arg *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (serve_arg_is(name, commands[i].name))
            return &commands[i];
    return NULL;
}

static bool is_write(const resp_arg *name)
{
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
        if (serve_arg_is(name, writes[i]))
            return true;
    return false;
}

/* COMMAND [COUNT | INFO name... | DOCS [name...]]: enough for clients
 * (redis-cli's hints, redis-py's introspection). */
/* One command's COMMAND DOCS entry: summary, since, group, arguments. */
static void command_doc(cmd_ctx *x, const command *c)
{
    char args[256];
    size_t n = 0;
    snprintf(args, sizeof(args), "%s", c->args);
    for (char *save = NULL, *w = strtok_r(args, " ", &save); w; w = strtok_r(NULL, " ", &save))
        n++;
    resp_out_bulk(x->out, c->name, strlen(c->name));
    resp_out_map(x->out, 4);
    resp_out_bulk(x->out, "summary", 7);
    resp_out_bulk(x->out, c->summary, strlen(c->summary));
    resp_out_bulk(x->out, "since", 5);
    resp_out_bulk(x->out, "1.0.0", 5);
    resp_out_bulk(x->out, "group", 5);
    resp_out_bulk(x->out, c->group, strlen(c->group));
    resp_out_bulk(x->out, "arguments", 9);
    resp_out_array(x->out, n);
    snprintf(args, sizeof(args), "%s", c->args);
    for (char *save = NULL, *w = strtok_r(args, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char *type = strchr(w, ':');
        *type++ = 0;
        bool optional = strchr(type, '?') != NULL, multiple = strchr(type, '*') != NULL;
        type[strcspn(type, "?*")] = 0;
        bool token = !strcmp(type, "pure-token");
        resp_out_map(x->out, 2 + token + (optional || multiple));
        resp_out_bulk(x->out, "name", 4);
        resp_out_bulk(x->out, w, strlen(w));
        resp_out_bulk(x->out, "type", 4);
        resp_out_bulk(x->out, type, strlen(type));
        if (token) {
            resp_out_bulk(x->out, "token", 5);
            resp_out_bulk(x->out, w, strlen(w));
        }
        if (optional || multiple) {
            resp_out_bulk(x->out, "flags", 5);
            resp_out_array(x->out, (size_t)optional + multiple);
            if (optional)
                resp_out_simple(x->out, "optional");
            if (multiple)
                resp_out_simple(x->out, "multiple");
        }
    }
}

/* COMMAND DOCS [name...]: what redis-cli builds its hints from. */
static void command_docs(cmd_ctx *x)
{
    size_t n = 0;
    if (x->req->argc > 2) {
        for (size_t i = 2; i < x->req->argc; i++)
            n += find_command(serve_arg(x, i)) != NULL;
        resp_out_map(x->out, n);
        for (size_t i = 2; i < x->req->argc; i++) {
            const command *c = find_command(serve_arg(x, i));
            if (c)
                command_doc(x, c);
        }
        return;
    }
    resp_out_map(x->out, N_COMMANDS);
    for (size_t i = 0; i < N_COMMANDS; i++)
        command_doc(x, &commands[i]);
}

static void redis_command(cmd_ctx *x)
{
    if (x->req->argc >= 2 && serve_arg_is(serve_arg(x, 1), "count")) {
        resp_out_int(x->out, (long long)N_COMMANDS);
        return;
    }
    if (x->req->argc >= 2 && serve_arg_is(serve_arg(x, 1), "docs")) {
        command_docs(x);
        return;
    }
    bool info = x->req->argc >= 2 && serve_arg_is(serve_arg(x, 1), "info");
    if (x->req->argc >= 2 && !info) {
        resp_out_errorf(x->out, "ERR unknown subcommand '%.*s'. Try COMMAND HELP.",
                        (int)serve_arg(x, 1)->len, serve_arg(x, 1)->ptr);
        return;
    }
    size_t n = info ? x->req->argc - 2 : N_COMMANDS;
    resp_out_array(x->out, n);
    for (size_t i = 0; i < n; i++) {
        const command *c = info ? find_command(serve_arg(x, i + 2)) : &commands[i];
        if (!c) {
            resp_out_null(x->out);
            continue;
        }
        bool keyed = !c->no_view && strcmp(c->name, "info") && strcmp(c->name, "dbsize") &&
                     strcmp(c->name, "select") && strcmp(c->name, "scan") &&
                     strcmp(c->name, "keys") && strcmp(c->name, "randomkey") &&
                     strcmp(c->name, "memory") &&
                     strncmp(c->name, "cairn.", 6);
        resp_out_array(x->out, 6);
        resp_out_bulk(x->out, c->name, strlen(c->name));
        resp_out_int(x->out, c->arity);
        resp_out_set(x->out, 1);
        resp_out_simple(x->out, keyed ? "readonly" : "fast");
        resp_out_int(x->out, keyed ? 1 : 0);
        resp_out_int(x->out, keyed ? (c->arity < 0 ? -1 : 1) : 0);
        resp_out_int(x->out, keyed ? 1 : 0);
    }
}

/* Whether cmd runs at once while MULTI is on rather than being queued. */
static bool runs_in_multi(const command *cmd)
{
    return cmd->run == redis_exec || cmd->run == redis_discard || cmd->run == redis_multi ||
           cmd->run == redis_watch || cmd->run == redis_quit;
}

void serve_command(serve_worker *w, serve_conn *c, const resp_request *req)
{
    cmd_ctx x = {w, c, req, &c->out};
    const resp_arg *name = &req->argv[0];
    const command *cmd = find_command(name);
    c->last_cmd = cmd ? cmd->name : NULL;
    if (!cmd) {
        serve_multi_refuse(c);
        if (!c->authenticated) {
            resp_out_error(&c->out, "NOAUTH Authentication required.");
        } else if (is_write(name)) {
            atomic_fetch_add(&w->srv->stats.readonly_errors, 1);
            resp_out_error(&c->out, "READONLY You can't write against a read only replica.");
        } else {
            atomic_fetch_add(&w->srv->stats.unknown_commands, 1);
            char args[200] = "";
            size_t at = 0;
            for (size_t i = 1; i < req->argc && at < 128; i++)
                at += (size_t)snprintf(args + at, sizeof(args) - at, "'%.*s' ",
                                       (int)(req->argv[i].len < 64 ? req->argv[i].len : 64),
                                       req->argv[i].ptr);
            resp_out_errorf(&c->out, "ERR unknown command '%.*s', with args beginning with: %s",
                            (int)(name->len < 64 ? name->len : 64), name->ptr, args);
        }
        atomic_fetch_add(&w->srv->stats.errors, 1);
        return;
    }
    if (!c->authenticated && !cmd->no_auth) {
        serve_multi_refuse(c);
        resp_out_error(&c->out, "NOAUTH Authentication required.");
        atomic_fetch_add(&w->srv->stats.errors, 1);
        return;
    }
    if ((cmd->arity > 0 && req->argc != (size_t)cmd->arity) ||
        (cmd->arity < 0 && req->argc < (size_t)-cmd->arity)) {
        serve_multi_refuse(c);
        resp_out_errorf(&c->out, "ERR wrong number of arguments for '%s' command", cmd->name);
        atomic_fetch_add(&w->srv->stats.errors, 1);
        return;
    }
    if (c->multi && !runs_in_multi(cmd)) {
        if (cmd->run == redis_hello) { /* EXEC's reply would change protocol midway */
            serve_multi_refuse(c);
            resp_out_error(&c->out, "ERR Command not allowed inside a transaction");
            atomic_fetch_add(&w->srv->stats.errors, 1);
        } else {
            serve_multi_queue(&x);
        }
        return;
    }
    if (!cmd->no_view && !c->pinned && !c->in_exec) {
        int rc = serve_view_refresh(&w->srv->version, &w->view);
        if (rc || !w->view.snap) {
            serve_reply_error(&x, rc ? rc : CAIRN_NOTFOUND);
            atomic_fetch_add(&w->srv->stats.errors, 1);
            return;
        }
    }
    cmd->run(&x);
}

bool serve_get_batchable(const serve_conn *c, const resp_request *req)
{
    /* An inline request's arguments live in the parser's scratch, which
     * the next request overwrites. */
    return req->argc == 2 && !req->is_inline && c->authenticated && !c->multi &&
           serve_arg_is(&req->argv[0], "get");
}

void serve_get_run_many(serve_worker *w, serve_conn *c, const cairn_val *keys, size_t n)
{
    cmd_ctx x = {w, c, NULL, &c->out};
    c->last_cmd = "get";
    /* One view for the run: as if the version switched after it. */
    if (!c->pinned) {
        int rc = serve_view_refresh(&w->srv->version, &w->view);
        if (rc || !w->view.snap) {
            for (size_t i = 0; i < n; i++)
                serve_reply_error(&x, rc ? rc : CAIRN_NOTFOUND);
            atomic_fetch_add(&w->srv->stats.errors, n);
            return;
        }
    }
    serve_get_run(&x, keys, n);
}
