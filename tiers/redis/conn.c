/*
 * conn.c - the Redis tier's connections: a bounded pool shared by threads,
 * pipelines of commands on a borrowed connection, and a small breaker.
 *
 * Pool. At most settings.pool connections exist; a thread borrows one for
 * a whole pipeline and gives it back, so pipelines never interleave. A
 * thread finding every connection lent waits (bounded: a lent connection
 * is back within its command timeout). Connections are made on demand,
 * with the connect timeout, then AUTH and SELECT; the command timeout is
 * the socket's.
 *
 * Breaker. A connect that fails marks the server down: for REDIS_RETRY_MS
 * every call fails at once with CAIRN_UNAVAILABLE instead of waiting for
 * its own connect timeout; then one caller tries again (the others still
 * fail at once) and, if it connects, the server is up. Each time the
 * server goes down counts one outage (cairn_tier_stats.breaker_trips)
 * and, when logging is on (a cache), prints one line on stderr; coming
 * back prints another. A broken connection (EOF, a reset, a timeout) is
 * thrown away with every idle one (a restarted server broke them all); an
 * idempotent pipeline is then sent once more on a fresh connection. A
 * fresh connection that breaks (a server that accepts connections but
 * does not answer within the timeout) also marks the server down.
 */
#include "redis_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "error.h"

struct redis_pool {
    redis_settings s;
    pthread_mutex_t mu;
    pthread_cond_t freed;
    redisContext **idle; /* s.pool slots */
    unsigned n_idle;
    unsigned n_open;     /* idle + lent + being made */
    bool down;
    uint64_t down_since_ms, retry_at_ms;
    bool full;           /* the last write was refused for memory (OOM) */
    bool log;
    redis_counters counters;
};

/* ---------------------------------------------------------------- helpers */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool cairn__redis_is_error(const redisReply *r, const char *code)
{
    return r && r->type == REDIS_REPLY_ERROR && r->str &&
           strncmp(r->str, code, strlen(code)) == 0;
}

static uint64_t reply_bytes(const redisReply *r)
{
    uint64_t n = 0;

    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
        r->type == REDIS_REPLY_ERROR)
        n += (uint64_t)r->len;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++)
            n += reply_bytes(r->element[i]);
    return n;
}

void cairn__redis_scripts_init(redis_script *scripts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        if (scripts[i].sha[0])
            continue;
        EVP_Digest(scripts[i].text, strlen(scripts[i].text), md, &md_len, EVP_sha1(), NULL);
        for (unsigned j = 0; j < md_len && j < 20; j++)
            snprintf(scripts[i].sha + 2 * j, 3, "%02x", md[j]);
    }
}

/* ---------------------------------------------------------------- open */

int cairn__redis_pool_open(const redis_settings *s, redis_pool **out)
{
    redis_pool *p;

    *out = NULL;
    if (!(p = cairn__calloc(1, sizeof(*p))))
        return cairn__fail(CAIRN_NOMEM, "redis: out of memory");
    p->s = *s;
    if (!(p->idle = cairn__calloc(s->pool ? s->pool : 1, sizeof(*p->idle)))) {
        cairn__free(p);
        return cairn__fail(CAIRN_NOMEM, "redis: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->freed, NULL);
    *out = p;
    return 0;
}

void cairn__redis_pool_close(redis_pool *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->n_idle; i++)
        redisFree(p->idle[i]);
    cairn__free(p->idle);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->freed);
    memset(p->s.password, 0, sizeof(p->s.password));
    cairn__free(p);
}

static void say_down(const redis_pool *p, const char *cause)
{
    /* The detail names the server already; the line does too. */
    const char *own = strstr(cause, p->s.where);
    if (own == cause + 6 && !strncmp(own + strlen(p->s.where), ": ", 2))
        cause = own + strlen(p->s.where) + 2;
    fprintf(stderr,
            "cairn: redis %s is unreachable (%s); reading through the tiers behind it, "
            "trying again every %d ms\n",
            p->s.where, cause, REDIS_RETRY_MS);
}

void cairn__redis_pool_set_logging(redis_pool *p, bool log, const char *cause)
{
    pthread_mutex_lock(&p->mu);
    if (log && !p->log && p->down)
        say_down(p, cause ? cause : "down");
    p->log = log;
    pthread_mutex_unlock(&p->mu);
}

const redis_counters *cairn__redis_counters(const redis_pool *p)
{
    return &p->counters;
}

const redis_settings *cairn__redis_settings(const redis_pool *p)
{
    return &p->s;
}

/* ---------------------------------------------------------------- breaker */

/* Under mu: the server did not answer (cause says how). */
static void mark_down(redis_pool *p, const char *cause)
{
    uint64_t now = now_ms();

    p->retry_at_ms = now + REDIS_RETRY_MS;
    if (p->down)
        return;
    p->down = true;
    p->down_since_ms = now;
    atomic_fetch_add(&p->counters.outages, 1);
    if (p->log)
        say_down(p, cause);
}

/* Under mu: a connect succeeded. */
static void mark_up(redis_pool *p)
{
    if (!p->down)
        return;
    p->down = false;
    if (p->log)
        fprintf(stderr, "cairn: redis %s is reachable again after %.1f s\n", p->s.where,
                (double)(now_ms() - p->down_since_ms) / 1000.0);
}

void cairn__redis_note_error(redis_pool *p)
{
    atomic_fetch_add(&p->counters.errors, 1);
}

void cairn__redis_note_full(redis_pool *p, bool full, const char *reply)
{
    pthread_mutex_lock(&p->mu);
    if (full && !p->full && p->log)
        fprintf(stderr,
                "cairn: redis %s refuses writes for memory (%.120s); blobs are not cached "
                "there until it takes writes again (maxmemory-policy allkeys-lru evicts "
                "instead)\n",
                p->s.where, reply ? reply : "OOM");
    else if (!full && p->full && p->log)
        fprintf(stderr, "cairn: redis %s takes writes again\n", p->s.where);
    p->full = full;
    pthread_mutex_unlock(&p->mu);
}

/* ---------------------------------------------------------------- connect */

/* One command on a fresh connection (AUTH, SELECT); the reply, or NULL
 * with c->err set. */
static redisReply *command(redisContext *c, int argc, const char **argv)
{
    size_t lens[4];

    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return redisCommandArgv(c, argc, argv, lens);
}

/* Makes one connection: connect within the timeout, then AUTH and SELECT.
 * Errors: CAIRN_UNAVAILABLE (no answer: *reached false), CAIRN_DENIED,
 * CAIRN_BADSPEC (the server answered: *reached true), CAIRN_NOMEM. */
static int connect_one(redis_pool *p, redisContext **out, bool *reached)
{
    struct timeval tv = {(time_t)(p->s.timeout_ms / 1000),
                         (suseconds_t)(p->s.timeout_ms % 1000) * 1000};
    redisContext *c;
    redisReply *r;
    int rc = 0;

    *out = NULL;
    *reached = false;
    if (!(c = redisConnectWithTimeout(p->s.host, p->s.port, tv)))
        return cairn__fail(CAIRN_NOMEM, "redis %s: out of memory connecting", p->s.where);
    if (c->err) {
        rc = cairn__fail(CAIRN_UNAVAILABLE, "redis %s: cannot connect: %s", p->s.where,
                         c->errstr);
        goto fail;
    }
    redisSetTimeout(c, tv);
    redisEnableKeepAlive(c);
    if (p->s.has_password) {
        const char *auth[3] = {"AUTH", p->s.user, p->s.password};
        r = p->s.user[0] ? command(c, 3, auth) : (auth[1] = p->s.password, command(c, 2, auth));
        if (!r) {
            rc = cairn__fail(CAIRN_UNAVAILABLE, "redis %s: AUTH: %s", p->s.where, c->errstr);
            goto fail;
        }
        *reached = true;
        if (r->type == REDIS_REPLY_ERROR)
            rc = cairn__fail(CAIRN_DENIED, "redis %s refused the password (from password_file"
                             "%s%s): %.200s", p->s.where, p->s.user[0] ? ", user " : "",
                             p->s.user, r->str);
        freeReplyObject(r);
        if (rc)
            goto fail;
    }
    if (p->s.db) {
        char db[16];
        const char *sel[2] = {"SELECT", db};
        snprintf(db, sizeof(db), "%d", p->s.db);
        if (!(r = command(c, 2, sel))) {
            rc = cairn__fail(CAIRN_UNAVAILABLE, "redis %s: SELECT: %s", p->s.where, c->errstr);
            goto fail;
        }
        *reached = true;
        if (r->type == REDIS_REPLY_ERROR)
            rc = cairn__fail(cairn__redis_is_error(r, "NOAUTH") ? CAIRN_DENIED : CAIRN_BADSPEC,
                             "redis %s: SELECT %d refused: %.200s%s", p->s.where, p->s.db,
                             r->str, cairn__redis_is_error(r, "NOAUTH")
                                         ? " (the server wants a password: password_file=)"
                                         : "");
        freeReplyObject(r);
        if (rc)
            goto fail;
    }
    *out = c;
    return 0;

fail:
    redisFree(c);
    return rc;
}

/* Borrows a connection: an idle one, else a new one while fewer than
 * settings.pool exist, else waits for one. A server down fails at once
 * until its retry time. */
static int take(redis_pool *p, redisContext **out, bool *fresh)
{
    bool reached;
    int rc;

    *out = NULL;
    *fresh = false;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->n_idle) {
            *out = p->idle[--p->n_idle];
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
        if (p->down && now_ms() < p->retry_at_ms) {
            uint64_t since = now_ms() - p->down_since_ms;
            pthread_mutex_unlock(&p->mu);
            return cairn__fail(CAIRN_UNAVAILABLE,
                               "redis %s is down (no connection for %.1f s; next try within "
                               "%d ms)",
                               p->s.where, (double)since / 1000.0, REDIS_RETRY_MS);
        }
        if (p->n_open < (p->s.pool ? p->s.pool : 1))
            break;
        pthread_cond_wait(&p->freed, &p->mu);
    }
    p->n_open++;
    if (p->down) /* the others fail at once while this one tries */
        p->retry_at_ms = now_ms() + REDIS_RETRY_MS;
    pthread_mutex_unlock(&p->mu);

    rc = connect_one(p, out, &reached);
    pthread_mutex_lock(&p->mu);
    if (rc) {
        p->n_open--;
        if (!reached && rc == CAIRN_UNAVAILABLE)
            mark_down(p, cairn_errdetail());
        pthread_cond_signal(&p->freed);
    } else {
        *fresh = true;
        mark_up(p);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Gives a connection back; a broken one is closed with every idle one. */
static void give(redis_pool *p, redisContext *c, bool broken)
{
    redisContext *stale[64];
    unsigned n_stale = 0;

    pthread_mutex_lock(&p->mu);
    if (broken) {
        p->n_open--;
        while (p->n_idle && n_stale < 64) {
            stale[n_stale++] = p->idle[--p->n_idle];
            p->n_open--;
        }
    } else {
        p->idle[p->n_idle++] = c;
    }
    pthread_cond_broadcast(&p->freed);
    pthread_mutex_unlock(&p->mu);
    if (broken)
        redisFree(c);
    for (unsigned i = 0; i < n_stale; i++)
        redisFree(stale[i]);
}

int cairn__redis_pool_probe(redis_pool *p)
{
    redisContext *c;
    bool fresh;
    int rc;

    if ((rc = take(p, &c, &fresh)))
        return rc;
    give(p, c, false);
    return 0;
}

/* ---------------------------------------------------------------- pipelines */

static void set_script(redis_cmd *cmd, bool by_text)
{
    cmd->argv[0] = by_text ? "EVAL" : "EVALSHA";
    cmd->lens[0] = strlen(cmd->argv[0]);
    cmd->argv[1] = by_text ? cmd->script->text : cmd->script->sha;
    cmd->lens[1] = strlen(cmd->argv[1]);
}

/* Sends cmds[from, to) and reads their replies; a script the server lacks
 * (NOSCRIPT) is sent again with its text. Returns false when the
 * connection broke (c->errstr says why). */
static bool pipeline(redis_pool *p, redisContext *c, redis_cmd *cmds, size_t from, size_t to)
{
    for (int pass = 0; pass < 2; pass++) {
        size_t sent = 0;
        for (size_t i = from; i < to; i++) {
            redis_cmd *cmd = &cmds[i];
            uint64_t bytes = 0;
            if (pass == 1 && !cairn__redis_is_error(cmd->reply, "NOSCRIPT"))
                continue;
            if (cmd->script)
                set_script(cmd, pass == 1);
            if (pass == 1) {
                freeReplyObject(cmd->reply);
                cmd->reply = NULL;
            }
            if (redisAppendCommandArgv(c, cmd->argc, cmd->argv, cmd->lens) != REDIS_OK)
                return false;
            for (int a = 0; a < cmd->argc; a++)
                bytes += cmd->lens[a];
            atomic_fetch_add(&p->counters.bytes_out, bytes);
            atomic_fetch_add(&p->counters.requests[cmd->kind], 1);
            sent++;
        }
        for (size_t i = from; i < to && sent; i++) {
            void *reply = NULL;
            if (cmds[i].reply)
                continue;
            if (redisGetReply(c, &reply) != REDIS_OK)
                return false;
            cmds[i].reply = reply;
            atomic_fetch_add(&p->counters.bytes_in, reply_bytes(reply));
            sent--;
        }
        if (pass == 0) {
            bool again = false;
            for (size_t i = from; i < to; i++)
                again = again || (cmds[i].script && cairn__redis_is_error(cmds[i].reply, "NOSCRIPT"));
            if (!again)
                break;
        }
    }
    return true;
}

static void count_latency(redis_pool *p, uint64_t us)
{
    int bucket = 0;

    while (bucket < 31 && us >= ((uint64_t)2 << bucket))
        bucket++;
    atomic_fetch_add(&p->counters.latency_us[bucket], 1);
}

void cairn__redis_cmds_clear(redis_cmd *cmds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].reply)
            freeReplyObject(cmds[i].reply);
        cmds[i].reply = NULL;
    }
}

int cairn__redis_run(redis_pool *p, redis_cmd *cmds, size_t n, bool idempotent)
{
    char cause[200];
    int rc;

    for (int attempt = 0;; attempt++) {
        redisContext *c;
        bool ok = true, fresh;
        size_t from = 0;

        if ((rc = take(p, &c, &fresh))) {
            atomic_fetch_add(&p->counters.errors, 1);
            return rc;
        }
        while (ok && from < n) {
            size_t to = from, bytes = 0;
            uint64_t start = now_us();
            while (to < n && to - from < REDIS_CHUNK_CMDS &&
                   (to == from || bytes < REDIS_CHUNK_BYTES)) {
                for (int a = 0; a < cmds[to].argc; a++)
                    bytes += cmds[to].lens[a];
                to++;
            }
            ok = pipeline(p, c, cmds, from, to);
            count_latency(p, now_us() - start);
            from = to;
        }
        if (ok) {
            give(p, c, false);
            return 0;
        }
        snprintf(cause, sizeof(cause), "%s", c->errstr[0] ? c->errstr : "connection lost");
        give(p, c, true);
        /* A connection made for this call that broke (a server that
         * accepts but does not answer in time, or died meanwhile) is an
         * outage; a pooled one that broke may only be stale. */
        if (fresh) {
            pthread_mutex_lock(&p->mu);
            mark_down(p, cause);
            pthread_mutex_unlock(&p->mu);
        }
        cairn__redis_cmds_clear(cmds, n);
        if (!idempotent || attempt > 0) {
            atomic_fetch_add(&p->counters.errors, 1);
            return cairn__fail(CAIRN_UNAVAILABLE, "redis %s: %s%s", p->s.where, cause,
                               idempotent ? "" : " (the outcome of the write is unknown)");
        }
        atomic_fetch_add(&p->counters.retries, 1);
    }
}
