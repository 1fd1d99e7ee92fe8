/*
 * redis_int.h - the Redis tier's parts and what they share: its settings
 * (redis.c parses them), the connection pool that runs pipelines of
 * commands (conn.c), the writer lease (lease.c) and the refs, pins and
 * server-side scripts (refs.c). docs/tiers.md ("redis") has the user's
 * view, docs/format.md ("redis") the key layout:
 *
 *     P blob: <64 hex>    string   the blob's bytes, nothing else
 *     P refs              hash     ref name -> 64 lowercase hex (the id)
 *     P pins              hash     pin name -> pin record bytes
 *     P lock              string   "<token> <holder>", PX the lease
 *
 * where P is the prefix (default "cairn:"). Every multi-key command and
 * script touches keys of one prefix only, on one server (no Cluster).
 */
#ifndef CAIRN_REDIS_INT_H
#define CAIRN_REDIS_INT_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tier.h"

#define REDIS_DEFAULT_PORT 6379
#define REDIS_DEFAULT_PREFIX "cairn:"
#define REDIS_DEFAULT_TIMEOUT_MS 2000
#define REDIS_DEFAULT_POOL 4
#define REDIS_DEFAULT_LEASE_MS 10000
#define REDIS_RETRY_MS 1000          /* a server found down is tried again at most this often */
#define REDIS_CHUNK_CMDS 256         /* commands sent before their replies are read */
#define REDIS_CHUNK_BYTES (4u << 20) /* request bytes sent before the replies are read */
#define REDIS_PREFIX_MAX 128
#define REDIS_TOKEN_HEX 32           /* the lease token: 16 random bytes as hex */

/* ---------------------------------------------------------------- settings */

/* What a spec says (redis.c parses it; the pool keeps a copy). */
typedef struct redis_settings {
    char host[256];
    int port;
    int db;
    char where[300];                    /* "HOST:PORT/DB", for messages */
    char prefix[REDIS_PREFIX_MAX + 1];  /* P, "cairn:" by default */
    char user[128];                     /* AUTH user (ACL), "" for none */
    char password[512];                 /* from password_file; wiped at close */
    bool has_password;
    unsigned timeout_ms;                /* connect and each command */
    unsigned pool;                      /* connections at most */
    unsigned lease_ms;                  /* the writer lease */
    bool role_store;                    /* role=store: never a cache */
} redis_settings;

/* ---------------------------------------------------------------- pool */

/* Request kinds, counted as cairn_tier_stats' req_get, req_put, req_head,
 * req_delete and req_post (docs/tiers.md gives the mapping). */
enum { RK_GET, RK_PUT, RK_HEAD, RK_DELETE, RK_OTHER, RK_N };

typedef struct redis_counters {
    _Atomic uint64_t requests[RK_N];
    _Atomic uint64_t bytes_in, bytes_out;
    _Atomic uint64_t errors;   /* round trips that failed for good, error replies */
    _Atomic uint64_t retries;  /* round trips repeated on a fresh connection */
    _Atomic uint64_t outages;  /* times the server was found down (breaker_trips) */
    _Atomic uint64_t latency_us[CAIRN_LATENCY_BUCKETS]; /* round trips: [i] counts [2^i, 2^(i+1)) us */
} redis_counters;

/* A server-side Lua script, run by EVALSHA (EVAL when the server lacks it). */
typedef struct redis_script {
    const char *text;
    char sha[41]; /* set by cairn__redis_scripts_init */
} redis_script;

/* One command of a pipeline. argv and lens are the caller's, argc long;
 * with script set, argv[0] and argv[1] are the pool's to fill (EVALSHA
 * and the script's sha, or EVAL and its text). */
typedef struct redis_cmd {
    int argc;
    const char **argv;
    size_t *lens;
    int kind;                   /* RK_* */
    const redis_script *script; /* or NULL */
    redisReply *reply;          /* out: owned, freed by cairn__redis_cmds_clear */
} redis_cmd;

typedef struct redis_pool redis_pool;

/* Makes a pool (no connection yet). s is copied. OUT: *out. */
int cairn__redis_pool_open(const redis_settings *s, redis_pool **out);
/* Closes every connection and wipes the password. Accepts NULL. */
void cairn__redis_pool_close(redis_pool *p);
/* Whether outages and a full server are reported on stderr (caches);
 * turned on while the server is down, it reports that outage at once. */
void cairn__redis_pool_set_logging(redis_pool *p, bool log, const char *cause);
/* Connects once (check's probe): 0, CAIRN_UNAVAILABLE (cause in the
 * detail; the pool counts it down), CAIRN_DENIED (AUTH refused),
 * CAIRN_BADSPEC (SELECT refused). */
int cairn__redis_pool_probe(redis_pool *p);

/* Runs n commands as pipelines of at most REDIS_CHUNK_CMDS commands or
 * REDIS_CHUNK_BYTES bytes on one borrowed connection, and sets each reply
 * (error replies included: the caller reads them). idempotent: a broken
 * connection is replaced and the whole batch sent once more. Errors:
 * CAIRN_UNAVAILABLE (the server is down or did not answer in time: the
 * detail names HOST:PORT and why; within REDIS_RETRY_MS of a failed
 * connect it fails at once), CAIRN_DENIED, CAIRN_NOMEM. On error no reply
 * is set. */
int cairn__redis_run(redis_pool *p, redis_cmd *cmds, size_t n, bool idempotent);
/* Frees the replies of n commands. */
void cairn__redis_cmds_clear(redis_cmd *cmds, size_t n);
/* The pool's counters and settings (live, owned by the pool). */
const redis_counters *cairn__redis_counters(const redis_pool *p);
const redis_settings *cairn__redis_settings(const redis_pool *p);
/* Counts an error reply the caller found, and reports a server out of
 * memory (an OOM reply to a write) once until a write succeeds again. */
void cairn__redis_note_error(redis_pool *p);
void cairn__redis_note_full(redis_pool *p, bool full, const char *reply);

/* The sha1 of each script (once per process). */
void cairn__redis_scripts_init(redis_script *scripts, size_t n);

/* Whether r is an error reply whose text starts with code ("WRONGTYPE"). */
bool cairn__redis_is_error(const redisReply *r, const char *code);

/* ---------------------------------------------------------------- tier */

typedef struct redis_tier {
    cairn_tier base; /* must be first */
    redis_pool *pool;
    redis_settings s; /* without the password */
    char key_blob[REDIS_PREFIX_MAX + 8];  /* P "blob:" */
    char key_refs[REDIS_PREFIX_MAX + 8];  /* P "refs" */
    char key_pins[REDIS_PREFIX_MAX + 8];  /* P "pins" */
    char key_lock[REDIS_PREFIX_MAX + 8];  /* P "lock" */

    /* The writer lease (lease.c). lease_mu guards all of it. */
    pthread_mutex_t lease_mu;
    pthread_cond_t lease_cv;
    pthread_t renewer;
    bool renewer_started, renewer_stop;
    bool held;                          /* this handle holds the lease */
    bool lost;                          /* a renewal found it taken or gone */
    char token[REDIS_TOKEN_HEX + 1];    /* "" when not held */
    char lease_value[300];              /* token, ' ', the holder's description */
} redis_tier;

/* lease.c */
int cairn__redis_writer_lock(cairn_tier *t, bool acquire);
/* Copies this handle's token ("" when it holds no lease) into out
 * (REDIS_TOKEN_HEX + 1 bytes). */
void cairn__redis_token(redis_tier *rt, char *out);
/* Stops the renewal thread and releases a lease still held (close). */
void cairn__redis_lease_stop(redis_tier *rt);
/* Explains a fencing refusal from a script: code "fenced" or "busy",
 * holder the lock's value ("" when none). Returns CAIRN_FENCED or
 * CAIRN_BUSY with the detail naming the holder. */
int cairn__redis_fence_fail(redis_tier *rt, const char *what, const char *code,
                            const char *holder, size_t holder_len);

/* refs.c */
int cairn__redis_ref_get(cairn_tier *t, const char *name, cairn_id *out);
int cairn__redis_ref_cas(cairn_tier *t, const char *name, const cairn_id *old_id,
                         const cairn_id *new_id);
int cairn__redis_ref_cas_many(cairn_tier *t, const cairn_ref_move *moves, size_t n);
int cairn__redis_ref_list(cairn_tier *t, const char *prefix, cairn_ref_fn fn, void *ctx);
int cairn__redis_publish(cairn_tier *t, const cairn_blob *blobs, size_t n, const char *ref,
                         const cairn_id *old_id, const cairn_id *new_id);
int cairn__redis_pin_put(cairn_tier *t, const char *name, const void *bytes, size_t len);
int cairn__redis_pin_list(cairn_tier *t, cairn_pin_fn fn, void *ctx);
int cairn__redis_pin_delete(cairn_tier *t, const char *name);
/* Writes n blobs with the put script (redis.c's put_many; publish's first
 * step). */
int cairn__redis_put_blobs(redis_tier *rt, const cairn_blob *blobs, size_t n);
/* The scripts refs.c and lease.c run; cairn__redis_scripts_load (once
 * per process, any thread) computes their sha1s before the first use. */
enum { SCRIPT_PUT, SCRIPT_CAS, SCRIPT_RENEW, SCRIPT_RELEASE, SCRIPT_N };
extern redis_script cairn__redis_scripts[SCRIPT_N];
void cairn__redis_scripts_load(void);

#endif /* CAIRN_REDIS_INT_H */
