/*
 * lease.c - the Redis tier's writer lock: a lease that works across
 * processes and machines.
 *
 * Taking it is one SET P lock "<token> <holder>" NX PX <lease>: the token
 * is 16 random bytes (hex) made for this take, the holder says who ("pid
 * 123 on host db1"), for the CAIRN_BUSY a second writer gets. While it is
 * held, a thread renews it every lease/3 with a script that extends it
 * only if it still holds this token; releasing deletes it the same way.
 * A writer killed (kill -9) stops renewing and its lease expires after at
 * most one lease; then another writer takes it.
 *
 * Fencing. A lease alone cannot stop a writer that was paused past its
 * lease (a stopped process, a long GC pause) from writing after another
 * took over. So every ref change is a script (refs.c) that first checks,
 * on the server and in the same atomic step, that the lock still holds
 * this handle's token: a writer whose lease lapsed gets CAIRN_FENCED and
 * can never move a ref. A handle that holds no lease may move refs only
 * while no other holds one (CAIRN_BUSY otherwise): the engine writes its
 * settings when it creates a store, before any lock.
 */
#include "redis_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"

/* ---------------------------------------------------------------- helpers */

static int make_token(char *out)
{
    unsigned char raw[REDIS_TOKEN_HEX / 2];
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cairn__fail(-errno, "redis: no random bytes for a lease token");
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* The holder part of a lock value: what follows the token. */
static void holder_of(const char *value, size_t len, char *out, size_t cap)
{
    size_t skip = len > REDIS_TOKEN_HEX && value[REDIS_TOKEN_HEX] == ' ' ? REDIS_TOKEN_HEX + 1 : 0;

    snprintf(out, cap, "%.*s", (int)(len - skip), value + skip);
    if (!out[0])
        snprintf(out, cap, "an unknown holder");
}

/* Runs a lease script (renew, release) with this handle's token: its
 * integer reply, or -1 when it could not run. */
static long long lease_script(redis_tier *rt, int which, const char *token)
{
    char ms[24];
    const char *argv[6] = {NULL, NULL, "1", rt->key_lock, token, ms};
    size_t lens[6] = {0, 0, 1, strlen(rt->key_lock), strlen(token), 0};
    redis_cmd cmd = {6, argv, lens, RK_OTHER, &cairn__redis_scripts[which], NULL};
    long long v = -1;

    lens[5] = (size_t)snprintf(ms, sizeof(ms), "%u", rt->s.lease_ms);
    if (cairn__redis_run(rt->pool, &cmd, 1, true) == 0 && cmd.reply->type == REDIS_REPLY_INTEGER)
        v = cmd.reply->integer;
    cairn__redis_cmds_clear(&cmd, 1);
    cairn__detail_clear();
    return v;
}

/* ---------------------------------------------------------------- renewal */

/* The renewal thread: every lease/3 while a lease is held, extends it.
 * Finding it gone or taken marks it lost (the next ref change is fenced
 * anyway; this only says so sooner, on stderr). */
static void *renew_main(void *arg)
{
    redis_tier *rt = arg;

    pthread_mutex_lock(&rt->lease_mu);
    while (!rt->renewer_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)(rt->s.lease_ms / 3) * 1000000u;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&rt->lease_cv, &rt->lease_mu, &until);
        if (rt->renewer_stop || !rt->held)
            continue;
        char token[REDIS_TOKEN_HEX + 1];
        snprintf(token, sizeof(token), "%s", rt->token);
        pthread_mutex_unlock(&rt->lease_mu);
        long long v = lease_script(rt, SCRIPT_RENEW, token);
        pthread_mutex_lock(&rt->lease_mu);
        if (v == 0 && rt->held && !strcmp(rt->token, token) && !rt->lost) {
            rt->lost = true;
            fprintf(stderr,
                    "cairn: redis %s: the writer lease %s was lost (it expired or was taken); "
                    "this writer's next ref change will be refused (fenced)\n",
                    rt->s.where, rt->key_lock);
        }
    }
    pthread_mutex_unlock(&rt->lease_mu);
    return NULL;
}

/* ---------------------------------------------------------------- lock */

static int acquire(redis_tier *rt)
{
    char token[REDIS_TOKEN_HEX + 1], host[128] = "", px[24], value[300];
    const char *argv[6] = {"SET", rt->key_lock, value, "NX", "PX", px};
    size_t lens[6];
    redis_cmd cmd = {6, argv, lens, RK_PUT, NULL, NULL};
    int rc;

    if ((rc = make_token(token)))
        return rc;
    gethostname(host, sizeof(host) - 1);
    snprintf(value, sizeof(value), "%s pid %ld on %s", token, (long)getpid(),
             host[0] ? host : "?");
    snprintf(px, sizeof(px), "%u", rt->s.lease_ms);
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    if ((rc = cairn__redis_run(rt->pool, &cmd, 1, false)))
        return cairn__fail_context(rc, "taking the writer lease");
    if (cmd.reply->type == REDIS_REPLY_NIL) {
        /* Held: say by whom and for how long. */
        const char *get[2] = {"GET", rt->key_lock}, *pttl[2] = {"PTTL", rt->key_lock};
        size_t glens[2] = {3, strlen(rt->key_lock)}, tlens[2] = {4, strlen(rt->key_lock)};
        redis_cmd who[2] = {{2, get, glens, RK_GET, NULL, NULL}, {2, pttl, tlens, RK_OTHER, NULL, NULL}};
        char holder[300] = "another writer";
        long long ttl = -1;
        cairn__redis_cmds_clear(&cmd, 1);
        if (cairn__redis_run(rt->pool, who, 2, true) == 0) {
            if (who[0].reply->type == REDIS_REPLY_STRING)
                holder_of(who[0].reply->str, who[0].reply->len, holder, sizeof(holder));
            if (who[1].reply->type == REDIS_REPLY_INTEGER)
                ttl = who[1].reply->integer;
        }
        cairn__redis_cmds_clear(who, 2);
        pthread_mutex_lock(&rt->lease_mu);
        bool mine = rt->held;
        pthread_mutex_unlock(&rt->lease_mu);
        return cairn__fail(CAIRN_BUSY,
                           "redis %s: the writer lease %s is held by %s%s (for %.1f s more "
                           "unless renewed)",
                           rt->s.where, rt->key_lock, holder, mine ? " (this handle)" : "",
                           ttl > 0 ? (double)ttl / 1000.0 : 0.0);
    }
    if (cmd.reply->type == REDIS_REPLY_ERROR) {
        rc = cairn__fail(CAIRN_TIER, "redis %s: taking the writer lease %s: %.200s", rt->s.where,
                         rt->key_lock, cmd.reply->str);
        cairn__redis_cmds_clear(&cmd, 1);
        return rc;
    }
    cairn__redis_cmds_clear(&cmd, 1);

    pthread_mutex_lock(&rt->lease_mu);
    rt->held = true;
    rt->lost = false;
    snprintf(rt->token, sizeof(rt->token), "%s", token);
    snprintf(rt->lease_value, sizeof(rt->lease_value), "%s", value);
    if (!rt->renewer_started) {
        if ((rc = pthread_create(&rt->renewer, NULL, renew_main, rt)) == 0)
            rt->renewer_started = true;
    }
    pthread_cond_broadcast(&rt->lease_cv);
    pthread_mutex_unlock(&rt->lease_mu);
    if (rc) {
        cairn__redis_writer_lock(&rt->base, false);
        return cairn__fail(-rc, "redis %s: cannot start the lease renewal thread", rt->s.where);
    }
    return 0;
}

/* Releasing never fails: a lease left behind expires by itself. */
static void release(redis_tier *rt)
{
    char token[REDIS_TOKEN_HEX + 1];

    pthread_mutex_lock(&rt->lease_mu);
    bool held = rt->held;
    snprintf(token, sizeof(token), "%s", rt->token);
    rt->held = false;
    rt->lost = false;
    rt->token[0] = '\0';
    pthread_mutex_unlock(&rt->lease_mu);
    if (held)
        lease_script(rt, SCRIPT_RELEASE, token);
}

int cairn__redis_writer_lock(cairn_tier *t, bool acquire_it)
{
    redis_tier *rt = (redis_tier *)t;

    if (!acquire_it) {
        release(rt);
        return 0;
    }
    return acquire(rt);
}

void cairn__redis_token(redis_tier *rt, char *out)
{
    pthread_mutex_lock(&rt->lease_mu);
    snprintf(out, REDIS_TOKEN_HEX + 1, "%s", rt->held ? rt->token : "");
    pthread_mutex_unlock(&rt->lease_mu);
}

void cairn__redis_lease_stop(redis_tier *rt)
{
    release(rt);
    pthread_mutex_lock(&rt->lease_mu);
    rt->renewer_stop = true;
    pthread_cond_broadcast(&rt->lease_cv);
    bool started = rt->renewer_started;
    pthread_mutex_unlock(&rt->lease_mu);
    if (started)
        pthread_join(rt->renewer, NULL);
}

int cairn__redis_fence_fail(redis_tier *rt, const char *what, const char *code,
                            const char *holder, size_t holder_len)
{
    char who[300];

    holder_of(holder, holder_len, who, sizeof(who));
    if (!strcmp(code, "busy"))
        return cairn__fail(CAIRN_BUSY,
                           "redis %s: %s refused: the writer lease %s is held by %s, and this "
                           "handle holds none",
                           rt->s.where, what, rt->key_lock, who);
    return cairn__fail(CAIRN_FENCED,
                       "redis %s: %s refused: this writer's lease %s %s; another writer may "
                       "have taken over (reopen to write again)",
                       rt->s.where, what, rt->key_lock,
                       holder_len ? "is now held by someone else" : "expired");
}
