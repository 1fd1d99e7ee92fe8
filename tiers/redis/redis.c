/*
 * redis.c - the Redis tier (redis://HOST[:PORT][/DB]?OPTIONS): its spec,
 * check and open, and its blob methods. Connections are conn.c's, the
 * writer lease lease.c's, refs and pins refs.c's; redis_int.h draws the
 * key layout.
 *
 * Role. The tier is durable as a store and a cache when a durable tier is
 * behind it (cairn_tier_config.durable_as_store): "redis://..." alone,
 * "mem:64M>redis://..." or "lmdb:D>redis://..." make it a store;
 * "mem>redis://...>lmdb:D" or "redis://...>s3://..." a cache. role=store
 * makes it a store wherever it stands. A store must be reachable when it
 * opens; a cache may start with its server down, and then misses.
 *
 * Blobs. get_many is MGET (in chunks), has_many pipelined TYPE (a key of
 * another type is no blob), put_many the put script (refs.c), remove_many
 * UNLINK, scan_ids SCAN MATCH on the blob prefix (glob characters of the
 * prefix escaped) with STRLEN for the sizes.
 */
#include "redis_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "id.h"

/* ---------------------------------------------------------------- spec */

static int parse_uint(const char *key, const char *val, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(val, &end, 10);
    if (!*val || *end || errno || val[0] == '-' || val[0] == '+' || v < min || v > max)
        return cairn__fail(CAIRN_BADSPEC, "redis: %s must be a whole number in [%llu, %llu], not "
                           "'%s'", key, (unsigned long long)min, (unsigned long long)max, val);
    *out = v;
    return 0;
}

/* Reads the password: the file's first line (a trailing newline is not
 * part of it). Details name the path, never what the file holds. */
static int read_password(redis_settings *s, const char *path)
{
    char buf[sizeof(s->password) + 2];
    ssize_t n;
    size_t len = 0;
    int fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return cairn__fail(CAIRN_BADSPEC, "redis: password_file '%s': %s", path, strerror(errno));
    while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            return cairn__fail(CAIRN_BADSPEC, "redis: password_file '%s': %s", path,
                               strerror(err));
        }
        len += (size_t)n;
    }
    close(fd);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len == 0 || len >= sizeof(s->password) || memchr(buf, '\n', len) || memchr(buf, '\0', len)) {
        memset(buf, 0, sizeof(buf));
        return cairn__fail(CAIRN_BADSPEC, "redis: password_file '%s' %s", path,
                           len == 0 ? "is empty" : "must hold one line of at most 511 bytes");
    }
    memcpy(s->password, buf, len);
    s->password[len] = '\0';
    s->has_password = true;
    memset(buf, 0, sizeof(buf));
    return 0;
}

static bool prefix_ok(const char *p)
{
    for (; *p; p++)
        if (*p <= ' ' || *p > '~')
            return false;
    return true;
}

static int redis_option(void *ctx, const char *key, const char *val)
{
    redis_settings *s = ctx;
    uint64_t v;
    int rc;

    if (!strcmp(key, "prefix")) {
        if (strlen(val) > REDIS_PREFIX_MAX || !prefix_ok(val))
            return cairn__fail(CAIRN_BADSPEC, "redis: prefix must be at most %d printable "
                               "characters without spaces, not '%.80s'", REDIS_PREFIX_MAX, val);
        snprintf(s->prefix, sizeof(s->prefix), "%s", val);
    } else if (!strcmp(key, "password_file")) {
        if (!*val)
            return cairn__fail(CAIRN_BADSPEC, "redis: password_file needs a path");
        return read_password(s, val);
    } else if (!strcmp(key, "user")) {
        if (!*val || strlen(val) >= sizeof(s->user) || !prefix_ok(val))
            return cairn__fail(CAIRN_BADSPEC, "redis: bad user '%.80s'", val);
        snprintf(s->user, sizeof(s->user), "%s", val);
    } else if (!strcmp(key, "timeout")) {
        if ((rc = parse_uint(key, val, 1, 600000, &v)))
            return rc;
        s->timeout_ms = (unsigned)v;
    } else if (!strcmp(key, "pool")) {
        if ((rc = parse_uint(key, val, 1, 64, &v)))
            return rc;
        s->pool = (unsigned)v;
    } else if (!strcmp(key, "lease")) {
        if ((rc = parse_uint(key, val, 1, 3600, &v)))
            return rc;
        s->lease_ms = (unsigned)v * 1000u;
    } else if (!strcmp(key, "role")) {
        if (strcmp(val, "auto") && strcmp(val, "store"))
            return cairn__fail(CAIRN_BADSPEC, "redis: role must be auto or store, not '%s'", val);
        s->role_store = !strcmp(val, "store");
    } else if (!strcmp(key, "promote")) {
        if (strcmp(val, "0") && strcmp(val, "1"))
            return cairn__fail(CAIRN_BADSPEC, "redis: promote must be 0 or 1, not '%s'", val);
    } else {
        return cairn__fail(CAIRN_BADSPEC, "redis: unknown option '%s' (known: prefix, "
                           "password_file, user, timeout, pool, lease, role, promote)", key);
    }
    return 0;
}

struct promote_opt {
    int promote; /* -1: not given */
};

static int promote_option(void *ctx, const char *key, const char *val)
{
    if (!strcmp(key, "promote"))
        ((struct promote_opt *)ctx)->promote = val[0] == '1';
    return 0;
}

/* Parses "//HOST[:PORT][/DB]" and the options into *s. */
static int parse_spec(const cairn_tier_config *cfg, redis_settings *s)
{
    const char *p = cfg->arg, *host;
    size_t host_len;
    uint64_t v;
    int rc;

    memset(s, 0, sizeof(*s));
    s->port = REDIS_DEFAULT_PORT;
    s->timeout_ms = REDIS_DEFAULT_TIMEOUT_MS;
    s->pool = REDIS_DEFAULT_POOL;
    s->lease_ms = REDIS_DEFAULT_LEASE_MS;
    snprintf(s->prefix, sizeof(s->prefix), "%s", REDIS_DEFAULT_PREFIX);
    if (!strcmp(cfg->scheme, "rediss"))
        return cairn__fail(CAIRN_BADSPEC,
                           "rediss: TLS to Redis needs hiredis >= 1.0 (hiredis_ssl); this build "
                           "has hiredis %d.%d, as Debian 12 packages it, which has no TLS. Use "
                           "redis:// on a trusted network, or a TLS tunnel (stunnel, spiped) "
                           "to the server",
                           HIREDIS_MAJOR, HIREDIS_MINOR);
    if (strncmp(p, "//", 2))
        return cairn__fail(CAIRN_BADSPEC, "redis: want redis://HOST[:PORT][/DB], not 'redis:%s'",
                           p);
    p += 2;
    /* A URL's user:password@ would put a secret on command lines and in
     * messages: refused without repeating it. */
    if (memchr(p, '@', strcspn(p, "/")))
        return cairn__fail(CAIRN_BADSPEC, "redis: no user or password in the address: put "
                           "the password in a file named by password_file= (and user=)");
    if (*p == '[') { /* [IPv6] */
        host = p + 1;
        host_len = strcspn(host, "]");
        if (host[host_len] != ']')
            return cairn__fail(CAIRN_BADSPEC, "redis: unclosed '[' in the host");
        p = host + host_len + 1;
    } else {
        host = p;
        host_len = strcspn(host, ":/");
        p = host + host_len;
    }
    if (host_len == 0 || host_len >= sizeof(s->host))
        return cairn__fail(CAIRN_BADSPEC, "redis: want redis://HOST[:PORT][/DB]: %s host",
                           host_len ? "too long a" : "no");
    for (size_t i = 0; i < host_len; i++) {
        char c = host[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':'))
            return cairn__fail(CAIRN_BADSPEC, "redis: bad host '%.*s'", (int)host_len, host);
    }
    memcpy(s->host, host, host_len);
    if (*p == ':') {
        char port[16];
        size_t n = strcspn(p + 1, "/");
        snprintf(port, sizeof(port), "%.*s", (int)(n < 15 ? n : 15), p + 1);
        if (n >= 15 || parse_uint("port", port, 1, 65535, &v))
            return cairn__fail(CAIRN_BADSPEC, "redis: bad port '%.*s' (1 to 65535)", (int)n, p + 1);
        s->port = (int)v;
        p += 1 + n;
    }
    if (*p == '/' && p[1]) {
        if (parse_uint("db", p + 1, 0, INT_MAX, &v))
            return cairn__fail(CAIRN_BADSPEC, "redis: bad database '%s' (a number, 0 by default)",
                               p + 1);
        s->db = (int)v;
    } else if (*p && strcmp(p, "/")) {
        return cairn__fail(CAIRN_BADSPEC, "redis: want redis://HOST[:PORT][/DB], not 'redis:%s'",
                           cfg->arg);
    }
    snprintf(s->where, sizeof(s->where), "%s%s%s:%d/%d", strchr(s->host, ':') ? "[" : "", s->host,
             strchr(s->host, ':') ? "]" : "", s->port, s->db);
    if ((rc = cairn__opts_each(cfg->opts, redis_option, s))) {
        memset(s->password, 0, sizeof(s->password));
        return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- check */

/* What check learnt, for role_check and open. */
typedef struct redis_checked {
    redis_pool *pool;     /* connected (warm) unless down */
    bool down;
    char cause[300];      /* why it is down */
    bool has_refs;
    char policy[64];      /* maxmemory-policy, "" if unknown */
    uint64_t maxmemory;
} redis_checked;

static void checked_free(void *p)
{
    redis_checked *ck = p;

    cairn__redis_pool_close(ck->pool);
    cairn__free(ck);
}

/* Reads what the server says of the store under the prefix (HLEN of its
 * refs) and of eviction (INFO memory). Reads only. */
static int inspect(redis_checked *ck, const char *key_refs)
{
    const char *hlen[2] = {"HLEN", key_refs}, *info[2] = {"INFO", "memory"};
    size_t hlens[2] = {4, strlen(key_refs)}, ilens[2] = {4, 6};
    redis_cmd cmds[2] = {{2, hlen, hlens, RK_OTHER, NULL, NULL},
                         {2, info, ilens, RK_OTHER, NULL, NULL}};
    int rc;

    if ((rc = cairn__redis_run(ck->pool, cmds, 2, true)))
        return rc;
    /* A key of another type there is not ours to overwrite: a store. */
    ck->has_refs = cmds[0].reply->type != REDIS_REPLY_INTEGER || cmds[0].reply->integer > 0;
    if (cmds[1].reply->type == REDIS_REPLY_STRING) {
        const char *pol = strstr(cmds[1].reply->str, "maxmemory_policy:");
        const char *max = strstr(cmds[1].reply->str, "\nmaxmemory:");
        if (pol)
            sscanf(pol + 17, "%63[^\r\n]", ck->policy);
        if (max)
            ck->maxmemory = strtoull(max + 11, NULL, 10);
    }
    cairn__redis_cmds_clear(cmds, 2);
    return 0;
}

/* The checks that depend on the role: a store must be reachable, hold a
 * store when it must exist, and not be evicted from. */
static int role_check(cairn_tier_config *cfg)
{
    redis_checked *ck = cfg->checked;
    const redis_settings *s = cairn__redis_settings(ck->pool);

    if (cfg->is_cache)
        return 0;
    if (ck->down)
        return cairn__fail(CAIRN_UNAVAILABLE,
                           "spec '%s': %s; a Redis store must be reachable when it opens (a "
                           "cache may start down)",
                           cfg->spec, ck->cause);
    if ((cfg->open_flags & (CAIRN_RDONLY | CAIRN_EXISTING)) && !ck->has_refs)
        return cairn__fail(CAIRN_NOTFOUND, "redis %s holds no cairn store under prefix '%s' "
                           "(no %srefs)", s->where, s->prefix, s->prefix);
    if (ck->maxmemory && !strncmp(ck->policy, "allkeys-", 8))
        return cairn__fail(CAIRN_BADSPEC,
                           "spec '%s': redis %s evicts keys when full (maxmemory %llu, "
                           "maxmemory-policy %s), which would lose a store's blobs: set "
                           "maxmemory-policy noeviction for a store, or put a durable tier "
                           "behind it to make it a cache",
                           cfg->spec, s->where, (unsigned long long)ck->maxmemory, ck->policy);
    return 0;
}

int cairn__redis_check(cairn_tier_config *cfg)
{
    redis_settings s;
    redis_checked *ck = NULL;
    char key_refs[REDIS_PREFIX_MAX + 8];
    int rc;

    if ((rc = parse_spec(cfg, &s)))
        return rc;
    if (!(ck = cairn__calloc(1, sizeof(*ck)))) {
        rc = cairn__fail(CAIRN_NOMEM, "redis: out of memory");
        goto out;
    }
    if ((rc = cairn__redis_pool_open(&s, &ck->pool)))
        goto out;
    snprintf(key_refs, sizeof(key_refs), "%srefs", s.prefix);
    rc = cairn__redis_pool_probe(ck->pool);
    if (rc == 0)
        rc = inspect(ck, key_refs);
    if (rc == CAIRN_UNAVAILABLE) { /* a store refuses it in role_check */
        ck->down = true;
        snprintf(ck->cause, sizeof(ck->cause), "%s", cairn_errdetail());
        cairn__detail_clear();
        rc = 0;
    }
    if (rc)
        goto out;
    cfg->caps = CAIRN_TIER_SHARED | (s.role_store ? CAIRN_TIER_DURABLE : 0);
    cfg->durable_as_store = !s.role_store;
    cfg->holds_store = ck->has_refs;
    cfg->role_check = role_check;
    cfg->checked = ck;
    cfg->checked_free = checked_free;
    ck = NULL;
out:
    if (ck)
        checked_free(ck);
    memset(s.password, 0, sizeof(s.password));
    return rc;
}

/* ---------------------------------------------------------------- blobs */

static void blob_key(const redis_tier *rt, const cairn_id *id, char *out, size_t cap)
{
    char hex[CAIRN_ID_HEX + 1];

    cairn_id_to_hex(id, hex);
    snprintf(out, cap, "%s%s", rt->key_blob, hex);
}

/* Command arrays for up to REDIS_CHUNK_CMDS keys of one command. */
typedef struct key_batch {
    const char *argv[REDIS_CHUNK_CMDS + 1];
    size_t lens[REDIS_CHUNK_CMDS + 1];
    char keys[REDIS_CHUNK_CMDS][REDIS_PREFIX_MAX + 8 + CAIRN_ID_HEX];
} key_batch;

static void batch_fill(const redis_tier *rt, key_batch *b, const char *verb, const cairn_id *ids,
                       size_t k)
{
    b->argv[0] = verb;
    b->lens[0] = strlen(verb);
    for (size_t j = 0; j < k; j++) {
        blob_key(rt, &ids[j], b->keys[j], sizeof(b->keys[j]));
        b->argv[j + 1] = b->keys[j];
        b->lens[j + 1] = strlen(b->keys[j]);
    }
}

static int redis_get_many(cairn_tier *t, const cairn_id *ids, size_t n, cairn_buf *out)
{
    redis_tier *rt = (redis_tier *)t;
    key_batch *b = cairn__malloc(sizeof(*b));
    int rc = 0;

    if (!b)
        return cairn__fail(CAIRN_NOMEM, "redis: out of memory reading %zu blobs", n);
    for (size_t from = 0; from < n && !rc; from += REDIS_CHUNK_CMDS) {
        size_t k = n - from < REDIS_CHUNK_CMDS ? n - from : REDIS_CHUNK_CMDS;
        redis_cmd cmd = {(int)k + 1, b->argv, b->lens, RK_GET, NULL, NULL};
        batch_fill(rt, b, "MGET", ids + from, k);
        if ((rc = cairn__redis_run(rt->pool, &cmd, 1, true)))
            break;
        const redisReply *r = cmd.reply;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != k) {
            cairn__redis_note_error(rt->pool);
            rc = cairn__fail(CAIRN_TIER, "redis %s: MGET of %zu blobs: %.200s", rt->s.where, k,
                             r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        }
        /* A key of another type reads as nil: absent. */
        for (size_t j = 0; j < k && !rc; j++) {
            const redisReply *e = r->element[j];
            if (e->type != REDIS_REPLY_STRING)
                continue;
            if (!(out[from + j].data = cairn__memdup(e->str, e->len)))
                rc = cairn__fail(CAIRN_NOMEM, "redis: out of memory reading a blob of %zu bytes",
                                 (size_t)e->len);
            out[from + j].len = e->len;
        }
        cairn__redis_cmds_clear(&cmd, 1);
    }
    cairn__free(b);
    return rc;
}

static int redis_put_many(cairn_tier *t, const cairn_blob *blobs, size_t n)
{
    return cairn__redis_put_blobs((redis_tier *)t, blobs, n);
}

/* TYPE of each key, pipelined: only a string is a blob. */
static int redis_has_many(cairn_tier *t, const cairn_id *ids, size_t n, bool *out)
{
    redis_tier *rt = (redis_tier *)t;
    key_batch *b = cairn__malloc(sizeof(*b));
    redis_cmd *cmds = cairn__calloc(REDIS_CHUNK_CMDS, sizeof(*cmds));
    const char *(*argv)[2] = cairn__calloc(REDIS_CHUNK_CMDS, sizeof(*argv));
    size_t (*lens)[2] = cairn__calloc(REDIS_CHUNK_CMDS, sizeof(*lens));
    int rc = 0;

    if (!b || !cmds || !argv || !lens)
        rc = cairn__fail(CAIRN_NOMEM, "redis: out of memory looking for %zu blobs", n);
    for (size_t from = 0; from < n && !rc; from += REDIS_CHUNK_CMDS) {
        size_t k = n - from < REDIS_CHUNK_CMDS ? n - from : REDIS_CHUNK_CMDS;
        batch_fill(rt, b, "TYPE", ids + from, k);
        for (size_t j = 0; j < k; j++) {
            argv[j][0] = "TYPE";
            argv[j][1] = b->keys[j];
            lens[j][0] = 4;
            lens[j][1] = b->lens[j + 1];
            cmds[j] = (redis_cmd){2, argv[j], lens[j], RK_HEAD, NULL, NULL};
        }
        if ((rc = cairn__redis_run(rt->pool, cmds, k, true)))
            break;
        for (size_t j = 0; j < k; j++)
            out[from + j] = cmds[j].reply->type == REDIS_REPLY_STATUS &&
                            !strcmp(cmds[j].reply->str, "string");
        cairn__redis_cmds_clear(cmds, k);
    }
    cairn__free(b);
    cairn__free(cmds);
    cairn__free(argv);
    cairn__free(lens);
    return rc;
}

static int redis_remove_many(cairn_tier *t, const cairn_id *ids, size_t n)
{
    redis_tier *rt = (redis_tier *)t;
    key_batch *b = cairn__malloc(sizeof(*b));
    int rc = 0;

    if (!b)
        return cairn__fail(CAIRN_NOMEM, "redis: out of memory removing %zu blobs", n);
    for (size_t from = 0; from < n && !rc; from += REDIS_CHUNK_CMDS) {
        size_t k = n - from < REDIS_CHUNK_CMDS ? n - from : REDIS_CHUNK_CMDS;
        redis_cmd cmd = {(int)k + 1, b->argv, b->lens, RK_DELETE, NULL, NULL};
        batch_fill(rt, b, "UNLINK", ids + from, k);
        if ((rc = cairn__redis_run(rt->pool, &cmd, 1, true)))
            break;
        if (cmd.reply->type == REDIS_REPLY_ERROR) {
            cairn__redis_note_error(rt->pool);
            rc = cairn__fail(CAIRN_TIER, "redis %s: UNLINK of %zu blobs: %.200s", rt->s.where, k,
                             cmd.reply->str);
        }
        cairn__redis_cmds_clear(&cmd, 1);
    }
    cairn__free(b);
    return rc;
}

/* ---------------------------------------------------------------- scans */

struct scan_item {
    cairn_id id;
    size_t len;
};

struct scan_list {
    struct scan_item *v;
    size_t n, cap;
};

static int scan_item_order(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(cairn_id));
}

/* The glob that matches the blob keys: the prefix with *?[]\ escaped. */
static void blob_glob(const redis_tier *rt, char *out, size_t cap)
{
    size_t n = 0;

    for (const char *p = rt->key_blob; *p && n + 3 < cap; p++) {
        if (strchr("*?[]\\", *p))
            out[n++] = '\\';
        out[n++] = *p;
    }
    out[n++] = '*';
    out[n] = '\0';
}

/* Adds the lengths of the k ids at l->v[from...] (STRLEN; a key that is
 * no string is dropped). */
static int scan_lengths(redis_tier *rt, struct scan_list *l, size_t from)
{
    size_t k = l->n - from, kept = from;
    redis_cmd *cmds = cairn__calloc(k ? k : 1, sizeof(*cmds));
    const char *(*argv)[2] = cairn__calloc(k ? k : 1, sizeof(*argv));
    size_t (*lens)[2] = cairn__calloc(k ? k : 1, sizeof(*lens));
    char (*keys)[REDIS_PREFIX_MAX + 8 + CAIRN_ID_HEX] = cairn__calloc(k ? k : 1, sizeof(*keys));
    int rc = 0;

    if (!cmds || !argv || !lens || !keys) {
        rc = cairn__fail(CAIRN_NOMEM, "redis: out of memory listing blobs");
        goto done;
    }
    for (size_t j = 0; j < k; j++) {
        blob_key(rt, &l->v[from + j].id, keys[j], sizeof(keys[j]));
        argv[j][0] = "STRLEN";
        argv[j][1] = keys[j];
        lens[j][0] = 6;
        lens[j][1] = strlen(keys[j]);
        cmds[j] = (redis_cmd){2, argv[j], lens[j], RK_HEAD, NULL, NULL};
    }
    if ((rc = cairn__redis_run(rt->pool, cmds, k, true)))
        goto done;
    /* STRLEN is 0 for an empty blob and for a key gone since the SCAN:
     * EXISTS tells them apart (empty blobs are rare). */
    for (size_t j = 0; j < k; j++) {
        const redisReply *r = cmds[j].reply;
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
            argv[j][0] = "EXISTS";
            lens[j][0] = 6;
            cmds[j].reply = NULL;
            int again = cairn__redis_run(rt->pool, &cmds[j], 1, true);
            freeReplyObject((void *)r);
            if (again) {
                rc = again;
                cairn__redis_cmds_clear(cmds, k);
                goto done;
            }
            if (cmds[j].reply->type == REDIS_REPLY_INTEGER && cmds[j].reply->integer == 1) {
                freeReplyObject(cmds[j].reply);
                cmds[j].reply = NULL; /* an empty blob */
            }
        }
    }
    for (size_t j = 0; j < k; j++) {
        const redisReply *r = cmds[j].reply;
        if (r && (r->type != REDIS_REPLY_INTEGER || r->integer <= 0))
            continue; /* another type, or gone since */
        l->v[kept].id = l->v[from + j].id;
        l->v[kept++].len = r ? (size_t)r->integer : 0;
    }
    l->n = kept;
    cairn__redis_cmds_clear(cmds, k);
done:
    cairn__free(cmds);
    cairn__free(argv);
    cairn__free(lens);
    cairn__free(keys);
    return rc;
}

/* Every blob id and size under the prefix, sorted, once each (SCAN may
 * return a key twice). Nothing is held when it returns, so a visitor may
 * call back into the tier. */
static int scan_all(redis_tier *rt, struct scan_list *l)
{
    char glob[2 * (REDIS_PREFIX_MAX + 8) + 2], cursor[32] = "0";
    size_t plen = strlen(rt->key_blob);
    int rc = 0;

    blob_glob(rt, glob, sizeof(glob));
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", glob, "COUNT", "1000"};
        size_t lens[6];
        redis_cmd cmd = {6, argv, lens, RK_OTHER, NULL, NULL};
        size_t from = l->n;
        for (int i = 0; i < 6; i++)
            lens[i] = strlen(argv[i]);
        if ((rc = cairn__redis_run(rt->pool, &cmd, 1, true)))
            return cairn__fail_context(rc, "listing blobs");
        const redisReply *r = cmd.reply;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            cairn__redis_cmds_clear(&cmd, 1);
            return cairn__fail(CAIRN_TIER, "redis %s: SCAN: unexpected reply", rt->s.where);
        }
        snprintf(cursor, sizeof(cursor), "%.*s", (int)r->element[0]->len, r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements && !rc; i++) {
            const redisReply *k = r->element[1]->element[i];
            char hex[CAIRN_ID_HEX + 1];
            cairn_id id;
            if (k->type != REDIS_REPLY_STRING || (size_t)k->len != plen + CAIRN_ID_HEX)
                continue;
            memcpy(hex, k->str + plen, CAIRN_ID_HEX);
            hex[CAIRN_ID_HEX] = '\0';
            if (strspn(hex, "0123456789abcdef") != CAIRN_ID_HEX || cairn_id_from_hex(hex, &id))
                continue;
            if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 1024;
                struct scan_item *v = cairn__reallocarray(l->v, cap, sizeof(*v));
                if (!v) {
                    rc = cairn__fail(CAIRN_NOMEM, "redis: out of memory listing blobs");
                    break;
                }
                l->v = v;
                l->cap = cap;
            }
            l->v[l->n++] = (struct scan_item){id, 0};
        }
        cairn__redis_cmds_clear(&cmd, 1);
        if (!rc && l->n > from)
            rc = scan_lengths(rt, l, from);
    } while (!rc && strcmp(cursor, "0"));
    if (rc || l->n == 0)
        return rc;
    qsort(l->v, l->n, sizeof(*l->v), scan_item_order);
    size_t kept = 0;
    for (size_t i = 0; i < l->n; i++)
        if (!kept || memcmp(&l->v[kept - 1].id, &l->v[i].id, sizeof(cairn_id)))
            l->v[kept++] = l->v[i];
    l->n = kept;
    return 0;
}

static int redis_scan_from(cairn_tier *t, const cairn_id *from, cairn_id_visitor fn, void *ctx)
{
    struct scan_list l = {0};
    int rc;

    if (!(rc = scan_all((redis_tier *)t, &l)))
        for (size_t i = 0; i < l.n && !rc; i++)
            if (!from || memcmp(&l.v[i].id, from, sizeof(*from)) >= 0)
                rc = fn(ctx, &l.v[i].id, l.v[i].len);
    cairn__free(l.v);
    return rc;
}

static int redis_scan_ids(cairn_tier *t, cairn_id_visitor fn, void *ctx)
{
    return redis_scan_from(t, NULL, fn, ctx);
}

static int redis_usage(cairn_tier *t, uint64_t *blobs, uint64_t *bytes)
{
    struct scan_list l = {0};
    int rc;

    if (!(rc = scan_all((redis_tier *)t, &l))) {
        *blobs = l.n;
        *bytes = 0;
        for (size_t i = 0; i < l.n; i++)
            *bytes += l.v[i].len;
    }
    cairn__free(l.v);
    return rc;
}

/* ---------------------------------------------------------------- life */

/* Everything written before was acknowledged by the server (every call
 * waits for its replies); what reaches its disk, and when, is the
 * server's appendonly/appendfsync (docs/tiers.md). So a store's sync only
 * asks the server to answer, so that a sync of an unreachable store
 * fails; a cache's does nothing. */
static int redis_sync(cairn_tier *t)
{
    redis_tier *rt = (redis_tier *)t;
    const char *argv[1] = {"PING"};
    size_t lens[1] = {4};
    redis_cmd cmd = {1, argv, lens, RK_OTHER, NULL, NULL};
    int rc;

    if (t->is_cache)
        return 0;
    if ((rc = cairn__redis_run(rt->pool, &cmd, 1, true)))
        return rc;
    cairn__redis_cmds_clear(&cmd, 1);
    return 0;
}

static void redis_close(cairn_tier *t)
{
    redis_tier *rt = (redis_tier *)t;

    cairn__redis_lease_stop(rt);
    cairn__redis_pool_close(rt->pool);
    pthread_mutex_destroy(&rt->lease_mu);
    pthread_cond_destroy(&rt->lease_cv);
    cairn__free(rt);
}

static void redis_identity(cairn_tier *t, char *out, size_t cap)
{
    redis_tier *rt = (redis_tier *)t;

    snprintf(out, cap, "redis %s %s", rt->s.where, rt->s.prefix);
}

static void redis_remote_stats(cairn_tier *t, cairn_tier_stats *out)
{
    const redis_counters *c = cairn__redis_counters(((redis_tier *)t)->pool);

    out->remote = true;
    out->req_get = atomic_load(&c->requests[RK_GET]);
    out->req_put = atomic_load(&c->requests[RK_PUT]);
    out->req_head = atomic_load(&c->requests[RK_HEAD]);
    out->req_delete = atomic_load(&c->requests[RK_DELETE]);
    out->req_post = atomic_load(&c->requests[RK_OTHER]);
    out->bytes_in = atomic_load(&c->bytes_in);
    out->bytes_out = atomic_load(&c->bytes_out);
    out->errors = atomic_load(&c->errors);
    out->retries = atomic_load(&c->retries);
    out->breaker_trips = atomic_load(&c->outages);
    out->latency_p50_us = cairn__latency_quantile(c->latency_us, 0.50);
    out->latency_p99_us = cairn__latency_quantile(c->latency_us, 0.99);
}

static const cairn_tier_methods redis_methods = {
    .version = 2,
    .name = "redis",
    .get_many = redis_get_many,
    .put_many = redis_put_many,
    .ref_get = cairn__redis_ref_get,
    .ref_cas = cairn__redis_ref_cas,
    .ref_list = cairn__redis_ref_list,
    .sync = redis_sync,
    .close = redis_close,
    .has_many = redis_has_many,
    .remove_many = redis_remove_many,
    .scan_ids = redis_scan_ids,
    .publish = cairn__redis_publish,
    .writer_lock = cairn__redis_writer_lock,
    .usage = redis_usage,
    .scan_from = redis_scan_from,
    .remote_stats = redis_remote_stats,
    .identity = redis_identity,
    .ref_cas_many = cairn__redis_ref_cas_many,
    .pin_put = cairn__redis_pin_put,
    .pin_list = cairn__redis_pin_list,
    .pin_delete = cairn__redis_pin_delete,
};

int cairn__redis_open(const cairn_tier_config *cfg, cairn_tier **out)
{
    redis_checked *ck = cfg->checked;
    struct promote_opt po = {-1};
    redis_tier *rt;

    *out = NULL;
    if (!ck || !ck->pool)
        return cairn__fail(CAIRN_BADARG, "redis: open without a check");
    if (!(rt = cairn__calloc(1, sizeof(*rt))))
        return cairn__fail(CAIRN_NOMEM, "redis: out of memory");
    rt->base.m = &redis_methods;
    rt->s = *cairn__redis_settings(ck->pool);
    memset(rt->s.password, 0, sizeof(rt->s.password));
    rt->base.caps = CAIRN_TIER_SHARED | (rt->s.role_store || !cfg->is_cache ? CAIRN_TIER_DURABLE : 0);
    cairn__opts_each(cfg->opts, promote_option, &po);
    rt->base.promote = po.promote != 0;
    snprintf(rt->key_blob, sizeof(rt->key_blob), "%sblob:", rt->s.prefix);
    snprintf(rt->key_refs, sizeof(rt->key_refs), "%srefs", rt->s.prefix);
    snprintf(rt->key_pins, sizeof(rt->key_pins), "%spins", rt->s.prefix);
    snprintf(rt->key_lock, sizeof(rt->key_lock), "%slock", rt->s.prefix);
    pthread_mutex_init(&rt->lease_mu, NULL);
    pthread_cond_init(&rt->lease_cv, NULL);
    cairn__redis_scripts_load();
    /* The open takes check's pool (its connection is warm). */
    rt->pool = ck->pool;
    ck->pool = NULL;
    cairn__redis_pool_set_logging(rt->pool, cfg->is_cache, ck->down ? ck->cause : NULL);
    *out = &rt->base;
    return 0;
}
