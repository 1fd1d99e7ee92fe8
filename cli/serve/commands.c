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

#include "serve.h"

#define SCAN_DEFAULT_COUNT 10
#define DATABASES 16 /* SELECT takes at least 0..15, as Redis's default */

typedef struct cmd_ctx {
    serve_worker *w;
    serve_conn *c;
    const resp_request *req;
    resp_out *out;
} cmd_ctx;

typedef struct command {
    const char *name;
    void (*run)(cmd_ctx *x);
    int arity;
    bool no_auth; /* may run before AUTH */
    bool no_view; /* needs no snapshot */
} command;

/* ---------------------------------------------------------------- cursors */

/* A SCAN cursor is the last key returned, as a decimal number (clients
 * such as redis-py parse cursors as integers): the big-endian value of the
 * byte 1 followed by the key's bytes (the 1 keeps leading zero bytes), so
 * "0" stays the start and the end. A scan goes on after that key in key
 * order, so a key present through the whole scan is returned once even if
 * the version switches meanwhile. */
#define CURSOR_KEY_MAX CAIRN_KEY_MAX
#define CURSOR_DIGITS (CURSOR_KEY_MAX * 5 / 2 + 8) /* 2.41 digits a byte */

static size_t cursor_encode(const uint8_t *key, size_t len, char *out)
{
    uint8_t num[CURSOR_KEY_MAX + 1];
    size_t n = len + 1, digits = 0;
    num[0] = 1;
    memcpy(num + 1, key, len);
    /* Repeated division by 10 of the big-endian number. */
    size_t start = 0;
    while (start < n) {
        unsigned rem = 0;
        for (size_t i = start; i < n; i++) {
            unsigned cur = rem * 256 + num[i];
            num[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
        }
        out[digits++] = (char)('0' + rem);
        while (start < n && num[start] == 0)
            start++;
    }
    for (size_t i = 0; i < digits / 2; i++) {
        char t = out[i];
        out[i] = out[digits - 1 - i];
        out[digits - 1 - i] = t;
    }
    return digits;
}

/* Decodes a cursor: "0" is the start (*len 0). false: not a cursor. */
static bool cursor_decode(const char *s, size_t len, uint8_t *key, size_t *key_len)
{
    uint8_t num[CURSOR_KEY_MAX + 2];
    size_t n = 0;
    if (len == 0 || len > CURSOR_DIGITS)
        return false;
    if (len == 1 && s[0] == '0') {
        *key_len = 0;
        return true;
    }
    /* num = num * 10 + digit, big-endian, least significant byte last */
    memset(num, 0, sizeof(num));
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned carry = (unsigned)(s[i] - '0');
        for (size_t j = sizeof(num); j-- > 0;) {
            unsigned cur = num[j] * 10u + carry;
            num[j] = (uint8_t)cur;
            carry = cur >> 8;
        }
        if (carry)
            return false;
    }
    while (n < sizeof(num) && num[n] == 0)
        n++;
    if (n == sizeof(num) || num[n] != 1)
        return false; /* not 1 followed by the key */
    *key_len = sizeof(num) - n - 1;
    if (*key_len > CURSOR_KEY_MAX)
        return false;
    memcpy(key, num + n + 1, *key_len);
    return true;
}

/* ---------------------------------------------------------------- helpers */

static const resp_arg *arg(const cmd_ctx *x, size_t i)
{
    return &x->req->argv[i];
}

static bool arg_is(const resp_arg *a, const char *word)
{
    size_t n = strlen(word);
    if (a->len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a->ptr[i]) != word[i])
            return false;
    return true;
}

/* A decimal long long, as Redis's string2ll: no spaces, no '+'. */
static bool arg_ll(const resp_arg *a, long long *out)
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

static void reply_not_integer(cmd_ctx *x)
{
    resp_out_error(x->out, "ERR value is not an integer or out of range");
}

static void reply_syntax(cmd_ctx *x)
{
    resp_out_error(x->out, "ERR syntax error");
}

static void reply_cairn_error(cmd_ctx *x, int rc)
{
    const char *detail = cairn_errdetail();
    resp_out_errorf(x->out, "ERR cairn: %s%s%s", cairn_strerror(rc), *detail ? ": " : "", detail);
}

/* The snapshot a key command reads. */
static cairn_snapshot *snap_of(cmd_ctx *x)
{
    return x->c->pinned ? x->c->pinned : x->w->view.snap;
}

/* The keyspace of the connection's database: index i over the version's
 * keyspaces in name order, the default ("") first, those starting with
 * '.' left out (cairn's own: docs/format.md). NULL: an empty database. */
static const char *space_of(cmd_ctx *x)
{
    serve_worker *w = x->w;
    if (serve_spaces_load(w, snap_of(x)))
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

static void cmd_ping(cmd_ctx *x)
{
    if (x->req->argc > 2)
        resp_out_error(x->out, "ERR wrong number of arguments for 'ping' command");
    else if (x->req->argc == 2)
        resp_out_bulk(x->out, arg(x, 1)->ptr, arg(x, 1)->len);
    else
        resp_out_simple(x->out, "PONG");
}

static void cmd_echo(cmd_ctx *x)
{
    resp_out_bulk(x->out, arg(x, 1)->ptr, arg(x, 1)->len);
}

static void cmd_quit(cmd_ctx *x)
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
    if ((user && !arg_is(user, "default")) || !password_ok(cfg, pass)) {
        resp_out_error(x->out, "WRONGPASS invalid username-password pair or user is disabled.");
        return false;
    }
    x->c->authenticated = true;
    resp_parser_require_auth(&x->c->parser, false);
    return true;
}

static void cmd_auth(cmd_ctx *x)
{
    if (x->req->argc > 3)
        return reply_syntax(x);
    if (authenticate(x, x->req->argc == 3 ? arg(x, 1) : NULL, arg(x, x->req->argc - 1)))
        resp_out_simple(x->out, "OK");
}

static void cmd_hello(cmd_ctx *x)
{
    long long proto = resp_out_proto(x->out);
    size_t i = 1;
    if (x->req->argc > 1) {
        if (!arg_ll(arg(x, 1), &proto)) {
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
        if (arg_is(arg(x, i), "auth") && i + 2 < x->req->argc) {
            if (!authenticate(x, arg(x, i + 1), arg(x, i + 2)))
                return;
            i += 2;
        } else if (arg_is(arg(x, i), "setname") && i + 1 < x->req->argc) {
            const resp_arg *n = arg(x, ++i);
            size_t len = n->len < SERVE_NAME_MAX ? n->len : SERVE_NAME_MAX;
            memcpy(x->c->name, n->ptr, len);
            x->c->name[len] = 0;
        } else {
            resp_out_errorf(x->out, "ERR Syntax error in HELLO option '%.*s'", (int)arg(x, i)->len,
                            arg(x, i)->ptr);
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

static void cmd_select(cmd_ctx *x)
{
    long long db;
    if (!arg_ll(arg(x, 1), &db))
        return reply_not_integer(x);
    space_of(x); /* loads the keyspaces */
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
             "id=%llu addr=%s laddr=? fd=%d name=%s age=%lld idle=%lld flags=N db=%u sub=0 "
             "psub=0 ssub=0 multi=-1 qbuf=%zu argv-mem=0 obl=0 oll=0 omem=%zu resp=%d "
             "lib-name= lib-ver= cmd=%s\n",
             (unsigned long long)c->id, c->addr, c->fd, c->name,
             (long long)((now - c->created_us) / 1000000), (long long)((now - c->last_us) / 1000000),
             c->db, c->in_len, resp_out_pending(&c->out), resp_out_proto(&c->out),
             c->last_cmd ? c->last_cmd : "NULL");
    (void)w;
}

static void cmd_client(cmd_ctx *x)
{
    const resp_arg *sub = arg(x, 1);
    char line[512];
    if (arg_is(sub, "setname") && x->req->argc == 3) {
        const resp_arg *n = arg(x, 2);
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
    } else if (arg_is(sub, "getname") && x->req->argc == 2) {
        if (x->c->name[0])
            resp_out_bulk(x->out, x->c->name, strlen(x->c->name));
        else
            resp_out_null(x->out);
    } else if (arg_is(sub, "id") && x->req->argc == 2) {
        resp_out_int(x->out, (long long)x->c->id);
    } else if (arg_is(sub, "info") && x->req->argc == 2) {
        client_info_line(x->w, x->c, line, sizeof(line));
        resp_out_verbatim(x->out, "txt", line, strlen(line));
    } else if (arg_is(sub, "setinfo") && x->req->argc == 4) {
        resp_out_simple(x->out, "OK"); /* library name and version: accepted, not kept */
    } else {
        resp_out_errorf(x->out, "ERR unknown subcommand or wrong number of arguments for "
                        "'%.*s'. Try CLIENT HELP.", (int)sub->len, sub->ptr);
    }
}

/* ---------------------------------------------------------------- strings */

static int lookup(cmd_ctx *x, const resp_arg *key, cairn_val *v);

static void cmd_get(cmd_ctx *x)
{
    cairn_val v;
    int r = lookup(x, arg(x, 1), &v);
    if (r < 0)
        return;
    atomic_fetch_add(r ? &x->w->srv->stats.keyspace_hits : &x->w->srv->stats.keyspace_misses, 1);
    if (r)
        resp_out_bulk(x->out, v.data, v.len);
    else
        resp_out_null(x->out);
}

static void cmd_mget(cmd_ctx *x)
{
    const char *space = space_of(x);
    resp_out_array(x->out, x->req->argc - 1);
    for (size_t i = 1; i < x->req->argc; i++) {
        cairn_val v;
        int rc = space ? cairn_get(snap_of(x), space, arg(x, i)->ptr, arg(x, i)->len, &v)
                       : CAIRN_NOTFOUND;
        if (rc == 0) {
            atomic_fetch_add(&x->w->srv->stats.keyspace_hits, 1);
            resp_out_bulk(x->out, v.data, v.len);
        } else {
            /* Redis answers nil for a key it cannot give (missing, another
             * type); a store error is nil too, counted and logged once. */
            atomic_fetch_add(&x->w->srv->stats.keyspace_misses, 1);
            resp_out_null(x->out);
        }
    }
}

static void reply_wrongtype(cmd_ctx *x)
{
    resp_out_error(x->out, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

/* The type of key (a string, a hash, none); a negative error (replied). */
static int type_of(cmd_ctx *x, const resp_arg *key, cairn_key_type *type)
{
    const char *space = space_of(x);
    *type = CAIRN_TYPE_NONE;
    if (!space)
        return 0;
    int rc = cairn_type(snap_of(x), space, key->ptr, key->len, type);
    if (rc == CAIRN_KEYTOOBIG || rc == CAIRN_NOTFOUND)
        return 0;
    if (rc) {
        reply_cairn_error(x, rc);
        return -1;
    }
    return 0;
}

/* Looks a string up: 1 found, 0 not, or a negative error (replied; a
 * hash is WRONGTYPE, as Redis's string commands answer). */
static int lookup(cmd_ctx *x, const resp_arg *key, cairn_val *v)
{
    const char *space = space_of(x);
    cairn_key_type type;
    if (!space)
        return 0;
    int rc = cairn_get(snap_of(x), space, key->ptr, key->len, v);
    if (rc == 0)
        return 1;
    if (rc == CAIRN_KEYTOOBIG)
        return 0;
    if (rc != CAIRN_NOTFOUND) {
        reply_cairn_error(x, rc);
        return -1;
    }
    if (type_of(x, key, &type))
        return -1;
    if (type == CAIRN_TYPE_HASH) {
        reply_wrongtype(x);
        return -1;
    }
    return 0;
}

static void cmd_exists(cmd_ctx *x)
{
    long long n = 0;
    for (size_t i = 1; i < x->req->argc; i++) {
        cairn_key_type type;
        if (type_of(x, arg(x, i), &type))
            return;
        n += type != CAIRN_TYPE_NONE;
    }
    resp_out_int(x->out, n);
}

static void cmd_strlen(cmd_ctx *x)
{
    cairn_val v;
    int r = lookup(x, arg(x, 1), &v);
    if (r >= 0)
        resp_out_int(x->out, r ? (long long)v.len : 0);
}

static void cmd_getrange(cmd_ctx *x)
{
    long long start, end;
    cairn_val v;
    if (!arg_ll(arg(x, 2), &start) || !arg_ll(arg(x, 3), &end))
        return reply_not_integer(x);
    int r = lookup(x, arg(x, 1), &v);
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

static void cmd_type(cmd_ctx *x)
{
    cairn_key_type type;
    if (!type_of(x, arg(x, 1), &type))
        resp_out_simple(x->out, type == CAIRN_TYPE_STRING ? "string"
                                : type == CAIRN_TYPE_HASH ? "hash"
                                                          : "none");
}

static void cmd_ttl(cmd_ctx *x)
{
    cairn_key_type type;
    if (!type_of(x, arg(x, 1), &type))
        resp_out_int(x->out, type != CAIRN_TYPE_NONE ? -1 : -2); /* nothing expires */
}

/* Strings and hashes of the database, O(log n); 0 for an empty one. */
static int dbsize_of(cmd_ctx *x, uint64_t *n)
{
    const char *space = space_of(x);
    *n = 0;
    if (!space)
        return 0;
    int rc = cairn_dbsize(snap_of(x), space, n);
    return rc == CAIRN_NOTFOUND ? 0 : rc;
}

static void cmd_dbsize(cmd_ctx *x)
{
    uint64_t n;
    int rc = dbsize_of(x, &n);
    if (rc)
        reply_cairn_error(x, rc);
    else
        resp_out_int(x->out, (long long)n);
}

/* RANDOMKEY: a uniform draw over strings and hashes by rank (subtree
 * counts), O(log n). */
static void cmd_randomkey(cmd_ctx *x)
{
    const char *space = space_of(x);
    uint64_t n, strings = 0;
    int rc = dbsize_of(x, &n);
    if (rc)
        return reply_cairn_error(x, rc);
    if (n == 0) {
        resp_out_null(x->out);
        return;
    }
    uint64_t r = ((uint64_t)random() << 31 ^ (uint64_t)random()) % n;
    char counts[CAIRN_NAME_MAX + 1];
    cairn_val k, v;
    if ((rc = cairn_count(snap_of(x), space, NULL, 0, NULL, 0, &strings)) == CAIRN_NOTFOUND)
        rc = 0, strings = 0;
    if (!rc)
        rc = r < strings ? cairn_key_at(snap_of(x), space, r, &k, &v)
                         : cairn_hash_spaces(space, NULL, counts) ? CAIRN_BADARG
                         : cairn_key_at(snap_of(x), counts, r - strings, &k, &v);
    if (rc)
        return reply_cairn_error(x, rc);
    resp_out_bulk(x->out, k.data, k.len);
}

/* ---------------------------------------------------------------- scans */

/* Redis's glob (stringmatchlen): * ? [abc] [^a-z] and \ escapes. */
static bool glob_match(const char *p, size_t pl, const char *s, size_t sl, int depth)
{
    if (depth > 64)
        return false; /* a pattern of many stars: bounded, as Redis bounds it */
    while (pl && sl) {
        switch (*p) {
        case '*':
            while (pl > 1 && p[1] == '*')
                p++, pl--;
            if (pl == 1)
                return true;
            for (size_t k = 0; k <= sl; k++)
                if (glob_match(p + 1, pl - 1, s + k, sl - k, depth + 1))
                    return true;
            return false;
        case '?':
            s++, sl--;
            break;
        case '[': {
            bool not = false, match = false;
            p++, pl--;
            if (pl && *p == '^')
                not = true, p++, pl--;
            while (pl && *p != ']') {
                if (*p == '\\' && pl >= 2) {
                    p++, pl--;
                    match |= *p == *s;
                } else if (pl >= 3 && p[1] == '-') {
                    char a = p[0], b = p[2];
                    if (a > b) {
                        char t = a;
                        a = b;
                        b = t;
                    }
                    match |= *s >= a && *s <= b;
                    p += 2, pl -= 2;
                } else {
                    match |= *p == *s;
                }
                p++, pl--;
            }
            if (not)
                match = !match;
            if (!match)
                return false;
            s++, sl--;
            break;
        }
        case '\\':
            if (pl >= 2)
                p++, pl--;
            /* fall through */
        default:
            if (*p != *s)
                return false;
            s++, sl--;
            break;
        }
        if (pl)
            p++, pl--;
    }
    while (pl && *p == '*')
        p++, pl--;
    return pl == 0 && sl == 0;
}

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

static int walk_open(cmd_ctx *x, const void *from, size_t from_len, key_walk *kw)
{
    const char *space = space_of(x);
    char counts[CAIRN_NAME_MAX + 1];
    int rc = 0;
    memset(kw, 0, sizeof(*kw));
    if (!space)
        return 0;
    if ((rc = cairn_hash_spaces(space, NULL, counts)))
        return rc;
    for (int i = 0; i < 2 && !rc; i++) {
        rc = cairn_iter_open(snap_of(x), i ? counts : space, from, from_len, NULL, 0, 0, &kw->it[i]);
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
static bool scan_options(cmd_ctx *x, size_t first, bool types, const resp_arg **pattern,
                         long long *count, const resp_arg **type)
{
    for (size_t i = first; i < x->req->argc; i += 2) {
        if (i + 1 >= x->req->argc) {
            reply_syntax(x);
            return false;
        }
        if (arg_is(arg(x, i), "match")) {
            *pattern = arg(x, i + 1);
        } else if (arg_is(arg(x, i), "count")) {
            if (!arg_ll(arg(x, i + 1), count)) {
                reply_not_integer(x);
                return false;
            }
            if (*count < 1) {
                reply_syntax(x);
                return false;
            }
        } else if (types && arg_is(arg(x, i), "type")) {
            *type = arg(x, i + 1);
        } else {
            reply_syntax(x);
            return false;
        }
    }
    return true;
}

/* [cursor, items]: the items gathered in a side buffer (the cursor comes
 * first but is known last). */
static void scan_reply(cmd_ctx *x, bool more, const uint8_t *last, size_t last_len, resp_out *items,
                       size_t n_items)
{
    char cursor[CURSOR_DIGITS];
    size_t cursor_len = 1;
    cursor[0] = '0';
    if (more)
        cursor_len = cursor_encode(last, last_len, cursor);
    resp_out_array(x->out, 2);
    resp_out_bulk(x->out, cursor, cursor_len);
    resp_out_array(x->out, n_items);
    resp_out_raw(x->out, items->buf + items->head, items->len - items->head);
}

static void cmd_scan(cmd_ctx *x)
{
    const resp_arg *pattern = NULL, *type = NULL;
    long long count = SCAN_DEFAULT_COUNT, visited = 0;
    uint8_t from[CURSOR_KEY_MAX], last[CURSOR_KEY_MAX];
    size_t from_len = 0, last_len = 0, n_keys = 0;
    if (!cursor_decode(arg(x, 1)->ptr, arg(x, 1)->len, from, &from_len)) {
        resp_out_error(x->out, "ERR invalid cursor");
        return;
    }
    if (!scan_options(x, 2, true, &pattern, &count, &type))
        return;
    bool started = arg(x, 1)->len != 1 || arg(x, 1)->ptr[0] != '0', more = false, hash;
    key_walk kw;
    resp_out keys;
    cairn_val k;
    int pending = -1, rc;
    if ((rc = walk_open(x, started ? from : NULL, from_len, &kw))) {
        walk_close(&kw);
        return reply_cairn_error(x, rc);
    }
    if (resp_out_init(&keys, resp_out_proto(x->out))) {
        walk_close(&kw);
        resp_out_error(x->out, "ERR out of memory");
        return;
    }
    while ((rc = walk_next(&kw, &k, &hash, &pending)) == 0) {
        if (started && k.len == from_len && memcmp(k.data, from, from_len) == 0)
            continue; /* the cursor's key: the call before returned it */
        if (visited >= count) {
            more = true;
            break;
        }
        visited++;
        memcpy(last, k.data, k.len);
        last_len = k.len;
        if (type && !arg_is(type, hash ? "hash" : "string"))
            continue;
        if (pattern && !glob_match(pattern->ptr, pattern->len, k.data, k.len, 0))
            continue;
        resp_out_bulk(&keys, k.data, k.len);
        n_keys++;
    }
    walk_close(&kw);
    if (rc && rc != CAIRN_NOTFOUND)
        reply_cairn_error(x, rc);
    else
        scan_reply(x, more, last, last_len, &keys, n_keys);
    resp_out_free(&keys);
}

static void cmd_keys(cmd_ctx *x)
{
    uint64_t n;
    int rc = dbsize_of(x, &n), pending = -1;
    if (rc)
        return reply_cairn_error(x, rc);
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
    if (!(rc = walk_open(x, NULL, 0, &kw)))
        while ((rc = walk_next(&kw, &k, &hash, &pending)) == 0)
            if (glob_match(arg(x, 1)->ptr, arg(x, 1)->len, k.data, k.len, 0)) {
                resp_out_bulk(x->out, k.data, k.len);
                matched++;
            }
    walk_close(&kw);
    if (rc && rc != CAIRN_NOTFOUND)
        return reply_cairn_error(x, rc);
    resp_out_end(x->out, mark, RESP_ARRAY, matched);
}

/* ---------------------------------------------------------------- hashes */

/* 0 if key may be read as a hash (one, or nothing), -1 when replied (a
 * string: WRONGTYPE; an error). */
static int hash_ok(cmd_ctx *x, const resp_arg *key, bool *exists)
{
    cairn_key_type type;
    if (type_of(x, key, &type))
        return -1;
    if (type == CAIRN_TYPE_STRING) {
        reply_wrongtype(x);
        return -1;
    }
    *exists = type == CAIRN_TYPE_HASH;
    return 0;
}

/* One field: 1 found, 0 not, -1 replied. A string key is WRONGTYPE. */
static int hfield(cmd_ctx *x, const resp_arg *key, const resp_arg *field, cairn_val *v)
{
    const char *space = space_of(x);
    bool exists;
    if (!space)
        return 0;
    int rc = cairn_hget(snap_of(x), space, key->ptr, key->len, field->ptr, field->len, v);
    if (rc == 0)
        return 1;
    if (rc != CAIRN_NOTFOUND && rc != CAIRN_KEYTOOBIG) {
        reply_cairn_error(x, rc);
        return -1;
    }
    return hash_ok(x, key, &exists);
}

static void cmd_hget(cmd_ctx *x)
{
    cairn_val v;
    int r = hfield(x, arg(x, 1), arg(x, 2), &v);
    if (r < 0)
        return;
    atomic_fetch_add(r ? &x->w->srv->stats.keyspace_hits : &x->w->srv->stats.keyspace_misses, 1);
    if (r)
        resp_out_bulk(x->out, v.data, v.len);
    else
        resp_out_null(x->out);
}

static void cmd_hexists(cmd_ctx *x)
{
    cairn_val v;
    int r = hfield(x, arg(x, 1), arg(x, 2), &v);
    if (r >= 0)
        resp_out_int(x->out, r);
}

static void cmd_hstrlen(cmd_ctx *x)
{
    cairn_val v;
    int r = hfield(x, arg(x, 1), arg(x, 2), &v);
    if (r >= 0)
        resp_out_int(x->out, r ? (long long)v.len : 0);
}

static void cmd_hmget(cmd_ctx *x)
{
    bool exists;
    if (hash_ok(x, arg(x, 1), &exists))
        return;
    resp_out_array(x->out, x->req->argc - 2);
    for (size_t i = 2; i < x->req->argc; i++) {
        cairn_val v;
        int r = exists ? hfield(x, arg(x, 1), arg(x, i), &v) : 0;
        if (r < 0) /* a store error mid-reply: the rest answer nil */
            r = 0;
        if (r)
            resp_out_bulk(x->out, v.data, v.len);
        else
            resp_out_null(x->out);
    }
}

static void cmd_hlen(cmd_ctx *x)
{
    const char *space = space_of(x);
    bool exists;
    uint64_t n = 0;
    if (hash_ok(x, arg(x, 1), &exists))
        return;
    int rc = exists ? cairn_hlen(snap_of(x), space, arg(x, 1)->ptr, arg(x, 1)->len, &n) : 0;
    if (rc && rc != CAIRN_NOTFOUND)
        return reply_cairn_error(x, rc);
    resp_out_int(x->out, (long long)n);
}

/* HGETALL, HKEYS, HVALS: the fields in field order. */
static void hash_all(cmd_ctx *x, bool fields, bool values)
{
    const char *space = space_of(x);
    bool exists;
    uint64_t n = 0;
    cairn_iter *it = NULL;
    if (hash_ok(x, arg(x, 1), &exists))
        return;
    int rc = exists ? cairn_hlen(snap_of(x), space, arg(x, 1)->ptr, arg(x, 1)->len, &n) : 0;
    if (!rc && n)
        rc = cairn_hiter_open(snap_of(x), space, arg(x, 1)->ptr, arg(x, 1)->len, NULL, 0, &it);
    if (rc && rc != CAIRN_NOTFOUND)
        return reply_cairn_error(x, rc);
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

static void cmd_hgetall(cmd_ctx *x)
{
    hash_all(x, true, true);
}

static void cmd_hkeys(cmd_ctx *x)
{
    hash_all(x, true, false);
}

static void cmd_hvals(cmd_ctx *x)
{
    hash_all(x, false, true);
}

static void cmd_hscan(cmd_ctx *x)
{
    const resp_arg *pattern = NULL, *unused = NULL;
    long long count = SCAN_DEFAULT_COUNT, visited = 0;
    uint8_t from[CURSOR_KEY_MAX], last[CURSOR_KEY_MAX];
    size_t from_len = 0, last_len = 0, n_items = 0;
    bool exists, more = false;
    if (!cursor_decode(arg(x, 2)->ptr, arg(x, 2)->len, from, &from_len)) {
        resp_out_error(x->out, "ERR invalid cursor");
        return;
    }
    if (!scan_options(x, 3, false, &pattern, &count, &unused) || hash_ok(x, arg(x, 1), &exists))
        return;
    bool started = arg(x, 2)->len != 1 || arg(x, 2)->ptr[0] != '0';
    cairn_iter *it = NULL;
    int rc = exists ? cairn_hiter_open(snap_of(x), space_of(x), arg(x, 1)->ptr, arg(x, 1)->len,
                                       started ? from : NULL, from_len, &it)
                    : 0;
    if (rc)
        return reply_cairn_error(x, rc);
    resp_out items;
    if (resp_out_init(&items, resp_out_proto(x->out))) {
        if (it)
            cairn_iter_close(it);
        resp_out_error(x->out, "ERR out of memory");
        return;
    }
    cairn_val f, v;
    while (it && (rc = cairn_iter_next(it, &f, &v)) == 0) {
        if (started && f.len == from_len && memcmp(f.data, from, from_len) == 0)
            continue;
        if (visited >= count) {
            more = true;
            break;
        }
        visited++;
        memcpy(last, f.data, f.len);
        last_len = f.len;
        if (pattern && !glob_match(pattern->ptr, pattern->len, f.data, f.len, 0))
            continue;
        resp_out_bulk(&items, f.data, f.len);
        resp_out_bulk(&items, v.data, v.len);
        n_items += 2;
    }
    if (it)
        cairn_iter_close(it);
    if (rc && rc != CAIRN_NOTFOUND)
        reply_cairn_error(x, rc);
    else
        scan_reply(x, more, last, last_len, &items, n_items);
    resp_out_free(&items);
}

/* ---------------------------------------------------------------- cairn */

static void cmd_cairn_version(cmd_ctx *x)
{
    cairn_id commit;
    char hex[CAIRN_ID_HEX + 1];
    if (!cairn_snapshot_commit(snap_of(x), &commit)) {
        resp_out_null(x->out);
        return;
    }
    cairn_id_to_hex(&commit, hex);
    resp_out_bulk(x->out, hex, CAIRN_ID_HEX);
}

/* CAIRN.AT COMMIT: this connection reads that version until CAIRN.AT
 * RELEASE (a multi-command read of one version); the commit must be one
 * the store still holds. */
static void cmd_cairn_at(cmd_ctx *x)
{
    const resp_arg *a = arg(x, 1);
    if (arg_is(a, "release")) {
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
        return reply_cairn_error(x, rc);
    if (x->c->pinned)
        cairn_snapshot_close(x->c->pinned);
    x->c->pinned = snap;
    resp_out_simple(x->out, "OK");
}

static void cmd_info(cmd_ctx *x)
{
    if (x->req->argc > 2)
        return reply_syntax(x);
    serve_info(x->w, x->c, x->req->argc == 2 ? arg(x, 1)->ptr : NULL,
               x->req->argc == 2 ? arg(x, 1)->len : 0);
}

static void cmd_shutdown(cmd_ctx *x)
{
    resp_out_error(x->out, "ERR SHUTDOWN is refused: cairn serve stops on SIGTERM or SIGINT");
}

static void cmd_command(cmd_ctx *x);

/* ---------------------------------------------------------------- tables */

static const command commands[] = {
    {"ping", cmd_ping, -1, true, true},
    {"echo", cmd_echo, 2, false, true},
    {"quit", cmd_quit, -1, true, true},
    {"hello", cmd_hello, -1, true, true},
    {"auth", cmd_auth, -2, true, true},
    {"select", cmd_select, 2, false, false},
    {"client", cmd_client, -2, false, true},
    {"command", cmd_command, -1, false, true},
    {"info", cmd_info, -1, false, false},
    {"dbsize", cmd_dbsize, 1, false, false},
    {"get", cmd_get, 2, false, false},
    {"mget", cmd_mget, -2, false, false},
    {"exists", cmd_exists, -2, false, false},
    {"strlen", cmd_strlen, 2, false, false},
    {"getrange", cmd_getrange, 4, false, false},
    {"substr", cmd_getrange, 4, false, false},
    {"type", cmd_type, 2, false, false},
    {"ttl", cmd_ttl, 2, false, false},
    {"pttl", cmd_ttl, 2, false, false},
    {"scan", cmd_scan, -2, false, false},
    {"keys", cmd_keys, 2, false, false},
    {"randomkey", cmd_randomkey, 1, false, false},
    {"hget", cmd_hget, 3, false, false},
    {"hmget", cmd_hmget, -3, false, false},
    {"hgetall", cmd_hgetall, 2, false, false},
    {"hlen", cmd_hlen, 2, false, false},
    {"hexists", cmd_hexists, 3, false, false},
    {"hkeys", cmd_hkeys, 2, false, false},
    {"hvals", cmd_hvals, 2, false, false},
    {"hstrlen", cmd_hstrlen, 3, false, false},
    {"hscan", cmd_hscan, -3, false, false},
    {"shutdown", cmd_shutdown, -1, false, true},
    {"cairn.version", cmd_cairn_version, 1, false, false},
    {"cairn.at", cmd_cairn_at, 2, false, true},
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
        if (arg_is(name, commands[i].name))
            return &commands[i];
    return NULL;
}

static bool is_write(const resp_arg *name)
{
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
        if (arg_is(name, writes[i]))
            return true;
    return false;
}

/* COMMAND [COUNT | INFO name... | DOCS [name...]]: enough for clients
 * (redis-cli's hints, redis-py's introspection). */
static void cmd_command(cmd_ctx *x)
{
    if (x->req->argc >= 2 && arg_is(arg(x, 1), "count")) {
        resp_out_int(x->out, (long long)N_COMMANDS);
        return;
    }
    if (x->req->argc >= 2 && arg_is(arg(x, 1), "docs")) {
        resp_out_map(x->out, 0);
        return;
    }
    bool info = x->req->argc >= 2 && arg_is(arg(x, 1), "info");
    if (x->req->argc >= 2 && !info) {
        resp_out_errorf(x->out, "ERR unknown subcommand '%.*s'. Try COMMAND HELP.",
                        (int)arg(x, 1)->len, arg(x, 1)->ptr);
        return;
    }
    size_t n = info ? x->req->argc - 2 : N_COMMANDS;
    resp_out_array(x->out, n);
    for (size_t i = 0; i < n; i++) {
        const command *c = info ? find_command(arg(x, i + 2)) : &commands[i];
        if (!c) {
            resp_out_null(x->out);
            continue;
        }
        bool keyed = !c->no_view && strcmp(c->name, "info") && strcmp(c->name, "dbsize") &&
                     strcmp(c->name, "select") && strcmp(c->name, "scan") &&
                     strcmp(c->name, "keys") && strcmp(c->name, "randomkey") &&
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

void serve_command(serve_worker *w, serve_conn *c, const resp_request *req)
{
    cmd_ctx x = {w, c, req, &c->out};
    const resp_arg *name = &req->argv[0];
    const command *cmd = find_command(name);
    c->last_cmd = cmd ? cmd->name : NULL;
    if (!cmd) {
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
        resp_out_error(&c->out, "NOAUTH Authentication required.");
        atomic_fetch_add(&w->srv->stats.errors, 1);
        return;
    }
    if ((cmd->arity > 0 && req->argc != (size_t)cmd->arity) ||
        (cmd->arity < 0 && req->argc < (size_t)-cmd->arity)) {
        resp_out_errorf(&c->out, "ERR wrong number of arguments for '%s' command", cmd->name);
        atomic_fetch_add(&w->srv->stats.errors, 1);
        return;
    }
    if (!cmd->no_view && !c->pinned) {
        int rc = serve_view_refresh(&w->srv->version, &w->view);
        if (rc || !w->view.snap) {
            reply_cairn_error(&x, rc ? rc : CAIRN_NOTFOUND);
            atomic_fetch_add(&w->srv->stats.errors, 1);
            return;
        }
    }
    cmd->run(&x);
}
