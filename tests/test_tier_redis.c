/*
 * test_tier_redis.c - the Redis tier against a real redis-server (started
 * by scripts/redis-server.sh run; ctest runs this program under it, which
 * exports CAIRN_REDIS_URL). Each part works under a prefix of its own:
 *  - specs: every bad option or value a clear CAIRN_BADSPEC naming it, a
 *    missing or empty password file named, rediss:// refused (no TLS in
 *    hiredis 0.14), an unreachable store refused naming HOST:PORT while a
 *    cache may start down; and nothing written to the server for a spec
 *    that is refused;
 *  - the checks every tier gets: blobs (idempotent puts, batches, absent
 *    ones, removal, listing, usage), refs and their CAS rules, ref_list in
 *    name order, ref_cas_many all or none, pins, and a randomized model
 *    with a second handle reading what the first wrote;
 *  - hostile contents: wrong bytes under a blob key, a ref that is not an
 *    id, keys of the wrong type: absent, CAIRN_CORRUPT or replaced, never
 *    a crash;
 *  - the writer lease: a second writer gets CAIRN_BUSY naming the holder,
 *    a writer whose lease was taken is fenced (CAIRN_FENCED), a writer
 *    killed with SIGKILL loses its lease after lease= and another takes
 *    over; and two processes racing compare-and-swaps lose no move.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "id.h"
#include "stack.h"
#include "test.h"
#include "tier.h"
#include "tierutil.h"

static const char *url;

static void make_spec(char *out, size_t cap, const char *prefix, const char *opts)
{
    snprintf(out, cap, "%s?prefix=%s-%ld:%s%s", url, prefix, (long)getpid(), opts[0] ? "&" : "",
             opts);
}

static cairn_tier *open_tier(const char *spec, unsigned flags)
{
    cairn_tier *t;
    ASSERT_OK(cairn__tier_open(spec, flags, &t));
    return t;
}

static void spec_bad(const char *spec, int want, const char *detail_part)
{
    cairn_tier *t = (cairn_tier *)1;

    ASSERT_RC(cairn__tier_open(spec, 0, &t), want);
    ASSERT_TRUE(t == NULL);
    if (!strstr(cairn_errdetail(), detail_part))
        TEST_FAIL("spec '%s': detail '%s' lacks '%s'", spec, cairn_errdetail(), detail_part);
}

static long long dbsize(void)
{
    return raw_redis_int("DBSIZE");
}

/* ---------------------------------------------------------------- specs */

static void test_specs(void)
{
    const char *dir = test_tmpdir();
    char spec[512], pw[300], empty[300], where[64];
    cairn_stack *st;
    long long before;

    mkdir(dir, 0700);
    snprintf(where, sizeof(where), "127.0.0.1:%s", getenv("CAIRN_REDIS_PORT"));
    snprintf(pw, sizeof(pw), "%s/missing-password", dir);
    snprintf(empty, sizeof(empty), "%s/empty-password", dir);
    test_write_text(empty, "\n");
    before = dbsize();
    snprintf(spec, sizeof(spec), "%s?bogus=1", url);
    spec_bad(spec, CAIRN_BADSPEC, "unknown option 'bogus'");
    static const char *const bad[][2] = {
        {"timeout=0", "timeout must be a whole number"},
        {"timeout=abc", "timeout must be a whole number"},
        {"pool=0", "pool must be a whole number in [1, 64]"},
        {"pool=65", "pool must be"},
        {"lease=0", "lease must be"},
        {"lease=1.5", "lease must be"},
        {"role=cache", "role must be auto or store"},
        {"promote=2", "promote must be 0 or 1"},
        {"prefix=a b", "prefix must be"},
        {"user=", "bad user"},
        {"password_file=", "password_file needs a path"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(spec, sizeof(spec), "%s?%s", url, bad[i][0]);
        spec_bad(spec, CAIRN_BADSPEC, bad[i][1]);
    }
    snprintf(spec, sizeof(spec), "%s?password_file=%s", url, pw);
    spec_bad(spec, CAIRN_BADSPEC, pw);
    snprintf(spec, sizeof(spec), "%s?password_file=%s", url, empty);
    spec_bad(spec, CAIRN_BADSPEC, "is empty");
    spec_bad("rediss://127.0.0.1:6379", CAIRN_BADSPEC, "TLS to Redis needs hiredis >= 1.0");
    spec_bad("redis:127.0.0.1", CAIRN_BADSPEC, "want redis://HOST[:PORT][/DB]");
    spec_bad("redis://user:secret@127.0.0.1:1", CAIRN_BADSPEC, "password_file");
    spec_bad("redis://127.0.0.1:70000", CAIRN_BADSPEC, "bad port '70000'");
    spec_bad("redis://127.0.0.1:1/x", CAIRN_BADSPEC, "bad database 'x'");
    spec_bad("redis://", CAIRN_BADSPEC, "no host");
    /* A database the server lacks: refused when it answers. */
    snprintf(spec, sizeof(spec), "%s/99", url);
    spec_bad(spec, CAIRN_BADSPEC, "SELECT 99 refused");
    /* A store that cannot be reached names where; a cache may start down. */
    spec_bad("redis://127.0.0.1:1", CAIRN_UNAVAILABLE, "127.0.0.1:1/0");
    spec_bad("redis://127.0.0.1:1", CAIRN_UNAVAILABLE, "must be reachable");
    /* A wrong password is refused (the fixture's server has none: AUTH
     * fails), naming the file's role, not its contents. */
    test_write_text(pw, "not-the-password\n");
    snprintf(spec, sizeof(spec), "%s?password_file=%s", url, pw);
    spec_bad(spec, CAIRN_DENIED, "refused the password");
    ASSERT_TRUE(!strstr(cairn_errdetail(), "not-the-password"));
    /* A stack refused after the redis tier was checked writes nothing. */
    snprintf(spec, sizeof(spec), "%s?prefix=refused:>lmdb:%s/db?bogus=1", url, dir);
    ASSERT_RC(cairn__stack_open(spec, 0, &st), CAIRN_BADSPEC);
    ASSERT_EQ(dbsize(), before);
    /* Roles: alone or with a cache in front, a store; with a durable tier
     * behind, a cache; role=store, a store wherever it is. */
    snprintf(spec, sizeof(spec), "mem:1M>%s?prefix=roles-%ld:", url, (long)getpid());
    ASSERT_OK(cairn__stack_open(spec, 0, &st));
    ASSERT_TRUE(cairn__stack_tier(st, 0)->is_cache && !cairn__stack_tier(st, 1)->is_cache);
    ASSERT_TRUE(cairn__stack_tier(st, 1)->caps & CAIRN_TIER_DURABLE);
    cairn__stack_close(st);
    snprintf(spec, sizeof(spec), "mem>%s?prefix=roles-%ld:>lmdb:%s/roles", url, (long)getpid(), dir);
    ASSERT_OK(cairn__stack_open(spec, 0, &st));
    ASSERT_TRUE(cairn__stack_tier(st, 1)->is_cache && !(cairn__stack_tier(st, 1)->caps & CAIRN_TIER_DURABLE));
    ASSERT_TRUE(cairn__stack_tier(st, 1)->promote);
    cairn__stack_close(st);
    snprintf(spec, sizeof(spec), "%s?prefix=roles-%ld:&role=store>lmdb:%s/roles2", url,
             (long)getpid(), dir);
    ASSERT_OK(cairn__stack_open(spec, 0, &st));
    ASSERT_EQ(cairn__stack_primary(st), 0);
    cairn__stack_close(st);
    snprintf(spec, sizeof(spec), "redis://127.0.0.1:1>lmdb:%s/down", dir);
    ASSERT_OK(cairn__stack_open(spec, 0, &st));
    cairn__stack_close(st);
    /* A read-only open of a prefix that holds no store. */
    snprintf(spec, sizeof(spec), "%s?prefix=nothing-here:", url);
    cairn_tier *t;
    ASSERT_RC(cairn__tier_open(spec, CAIRN_RDONLY, &t), CAIRN_NOTFOUND);
    ASSERT_DETAIL("holds no cairn store");
    ASSERT_EQ(dbsize(), before);
    printf("specs: bad options, password files, rediss, unreachable, roles: ok\n");
}

/* ---------------------------------------------------------------- basics */

static int count_visit(void *ctx, const cairn_id *id, size_t len)
{
    (void)id;
    (void)len;
    (*(size_t *)ctx)++;
    return 0;
}

struct ref_seen {
    char names[8][64];
    bool ok[8];
    size_t n;
};

static int ref_visit(void *ctx, const char *name, const cairn_id *id)
{
    struct ref_seen *s = ctx;
    ASSERT_TRUE(s->n < 8);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    s->ok[s->n++] = id != NULL;
    return 0;
}

static void test_basics(void)
{
    char spec[512];
    make_spec(spec, sizeof(spec), "basics", "");
    cairn_tier *t = open_tier(spec, 0);
    test_blob a = make_blob(1, 100), b = make_blob(2, 5000), empty = make_blob(3, 0);
    test_blob absent = make_blob(4, 10), big = make_blob(5, 300000);
    cairn_blob both[2] = {as_blob(&a), as_blob(&b)};
    cairn_id ids[3] = {a.id, absent.id, b.id};
    cairn_buf out[3];
    bool has[3];
    uint64_t blobs, bytes;
    size_t n = 0;
    char ident[300];

    ASSERT_TRUE(strcmp(t->m->name, "redis") == 0);
    ASSERT_TRUE(!holds(t, &a));
    ASSERT_OK(cairn__tier_put_many(t, both, 2));
    ASSERT_OK(cairn__tier_put_many(t, both, 2)); /* idempotent */
    ASSERT_OK(put_one(t, &empty));
    ASSERT_OK(put_one(t, &big));
    ASSERT_OK(cairn__tier_get_many(t, ids, 3, out));
    ASSERT_MEM_EQ(out[0].data, out[0].len, a.data, a.len);
    ASSERT_TRUE(out[1].data == NULL);
    ASSERT_MEM_EQ(out[2].data, out[2].len, b.data, b.len);
    free(out[0].data);
    free(out[2].data);
    ASSERT_TRUE(holds(t, &empty) && holds(t, &big));
    ASSERT_OK(cairn__tier_has_many(t, ids, 3, has));
    ASSERT_TRUE(has[0] && !has[1] && has[2]);
    ASSERT_OK(cairn__tier_usage(t, &blobs, &bytes));
    ASSERT_EQ(blobs, 4);
    ASSERT_EQ(bytes, 100 + 5000 + 300000);
    ASSERT_OK(cairn__tier_scan_ids(t, count_visit, &n));
    ASSERT_EQ(n, 4);
    ASSERT_OK(cairn__tier_remove_many(t, ids, 3));
    ASSERT_TRUE(!holds(t, &a) && !holds(t, &b));
    /* Many at once: chunked pipelines and MGETs. */
    enum { MANY = 700 };
    test_blob *many = calloc(MANY, sizeof(*many));
    cairn_blob *mb = calloc(MANY, sizeof(*mb));
    cairn_id *mids = calloc(MANY, sizeof(*mids));
    cairn_buf *mout = calloc(MANY, sizeof(*mout));
    for (size_t i = 0; i < MANY; i++) {
        many[i] = make_blob(1000 + i, 50 + i);
        mb[i] = as_blob(&many[i]);
        mids[i] = many[i].id;
    }
    ASSERT_OK(cairn__tier_put_many(t, mb, MANY));
    ASSERT_OK(cairn__tier_get_many(t, mids, MANY, mout));
    for (size_t i = 0; i < MANY; i++) {
        ASSERT_MEM_EQ(mout[i].data, mout[i].len, many[i].data, many[i].len);
        free(mout[i].data);
        free(many[i].data);
    }
    ASSERT_OK(cairn__tier_remove_many(t, mids, MANY));
    free(many);
    free(mb);
    free(mids);
    free(mout);

    /* Refs: the CAS rules. */
    cairn_id r1 = a.id, r2 = b.id, got;
    ASSERT_RC(cairn__tier_ref_get(t, "heads/main", &got), CAIRN_NOTFOUND);
    ASSERT_RC(cairn__tier_ref_cas(t, "heads/main", &r1, &r2), CAIRN_CONFLICT);
    ASSERT_DETAIL("does not exist");
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/main", NULL, &r1));
    ASSERT_RC(cairn__tier_ref_cas(t, "heads/main", NULL, &r2), CAIRN_CONFLICT);
    ASSERT_DETAIL("already exists");
    ASSERT_RC(cairn__tier_ref_cas(t, "heads/main", &r2, &r1), CAIRN_CONFLICT);
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/main", &r1, &r2));
    ASSERT_OK(cairn__tier_ref_get(t, "heads/main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &r2));
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/b", NULL, &r1));
    ASSERT_OK(cairn__tier_ref_cas(t, "tags/x", NULL, &r1));
    struct ref_seen seen = {0};
    ASSERT_OK(cairn__tier_ref_list(t, "heads/", ref_visit, &seen));
    ASSERT_EQ(seen.n, 2);
    ASSERT_TRUE(!strcmp(seen.names[0], "heads/b") && !strcmp(seen.names[1], "heads/main"));
    /* ref_cas_many: all or none. */
    cairn_ref_move moves[2] = {{"heads/b", &r1, &r2}, {"tags/x", &r2, &r1}};
    ASSERT_RC(cairn__tier_ref_cas_many(t, moves, 2), CAIRN_CONFLICT);
    ASSERT_DETAIL("tags/x");
    ASSERT_OK(cairn__tier_ref_get(t, "heads/b", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &r1)); /* the first did not move */
    moves[1].old_id = &r1;
    moves[1].new_id = NULL;
    ASSERT_OK(cairn__tier_ref_cas_many(t, moves, 2));
    ASSERT_OK(cairn__tier_ref_get(t, "heads/b", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &r2));
    ASSERT_RC(cairn__tier_ref_get(t, "tags/x", &got), CAIRN_NOTFOUND);
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/main", &r2, NULL));
    ASSERT_RC(cairn__tier_ref_get(t, "heads/main", &got), CAIRN_NOTFOUND);
    /* publish: the blobs are there before the ref names them. */
    ASSERT_OK(cairn__tier_publish(t, both, 2, "heads/pub", NULL, &a.id));
    ASSERT_TRUE(holds(t, &a) && holds(t, &b));
    ASSERT_RC(cairn__tier_publish(t, both, 1, "heads/pub", NULL, &a.id), CAIRN_CONFLICT);
    check_tier_pins(t, "redis");
    ASSERT_OK(cairn__tier_sync(t));
    cairn__tier_identity(t, ident, sizeof(ident));
    ASSERT_TRUE(strstr(ident, "redis 127.0.0.1:") && strstr(ident, "basics-"));
    /* The counters: stats see requests, bytes and latency. */
    cairn_tier_stats ts = {0};
    t->m->remote_stats(t, &ts);
    ASSERT_TRUE(ts.remote && ts.req_get > 0 && ts.req_put > 0 && ts.req_post > 0);
    ASSERT_TRUE(ts.bytes_out > 300000 && ts.latency_p50_us > 0 && ts.latency_p99_us >= ts.latency_p50_us);
    cairn__tier_close(t);
    free(a.data);
    free(b.data);
    free(empty.data);
    free(absent.data);
    free(big.data);
    printf("basics: blobs, refs, cas rules, cas_many all or none, publish, pins, stats: ok\n");
}

/* A prefix with glob characters lists its own blobs only. */
static void test_glob_prefix(void)
{
    char spec_glob[512], spec_plain[512];
    test_blob a = make_blob(21, 40), b = make_blob(22, 40);
    size_t n = 0;

    make_spec(spec_glob, sizeof(spec_glob), "g*[ab]\\", "");
    make_spec(spec_plain, sizeof(spec_plain), "gxa\\", "");
    cairn_tier *g = open_tier(spec_glob, 0), *p = open_tier(spec_plain, 0);
    ASSERT_OK(put_one(g, &a));
    ASSERT_OK(put_one(p, &b));
    ASSERT_OK(cairn__tier_scan_ids(g, count_visit, &n));
    ASSERT_EQ(n, 1);
    ASSERT_TRUE(holds(g, &a) && !holds(g, &b));
    cairn__tier_close(g);
    cairn__tier_close(p);
    free(a.data);
    free(b.data);
    printf("glob: a prefix of glob characters lists its own blobs only\n");
}

/* ---------------------------------------------------------------- model */

#define N_BLOBS 64
#define N_REFS 4

static void test_model(void)
{
    char spec[512];
    test_blob blobs[N_BLOBS];
    bool held[N_BLOBS] = {false}, ref_set[N_REFS] = {false};
    cairn_id ref_val[N_REFS];

    make_spec(spec, sizeof(spec), "model", "");
    for (size_t i = 0; i < N_BLOBS; i++)
        blobs[i] = make_blob(test_seed * 1000 + i, 16 + test_rand_below(3000));
    cairn_tier *w = open_tier(spec, 0), *r = open_tier(spec, 0);
    for (int op = 0; op < 600; op++) {
        unsigned what = (unsigned)test_rand_below(100);
        cairn_tier *t = test_rand_below(2) ? w : r;
        if (what < 30) {
            cairn_blob b[8];
            size_t k = 1 + test_rand_below(8);
            for (size_t j = 0; j < k; j++) {
                size_t i = test_rand_below(N_BLOBS);
                b[j] = as_blob(&blobs[i]);
                held[i] = true;
            }
            ASSERT_OK(cairn__tier_put_many(t, b, k));
        } else if (what < 55) {
            size_t pick[16], k = 1 + test_rand_below(16);
            for (size_t j = 0; j < k; j++)
                pick[j] = test_rand_below(N_BLOBS);
            expect_get(t, blobs, pick, k, held, op);
        } else if (what < 62) {
            size_t i = test_rand_below(N_BLOBS);
            ASSERT_OK(cairn__tier_remove_many(t, &blobs[i].id, 1));
            held[i] = false;
        } else if (what < 85) {
            size_t i = test_rand_below(N_REFS);
            char name[32];
            snprintf(name, sizeof(name), "heads/r%zu", i);
            cairn_id new_id = blobs[test_rand_below(N_BLOBS)].id, bogus;
            bool wrong = test_rand_below(5) == 0, del = test_rand_below(6) == 0;
            memset(&bogus, 0xab, sizeof(bogus));
            const cairn_id *old = wrong ? &bogus : ref_set[i] ? &ref_val[i] : NULL;
            int rc = cairn__tier_ref_cas(t, name, old, del ? NULL : &new_id);
            if (wrong) {
                ASSERT_RC(rc, CAIRN_CONFLICT);
            } else {
                ASSERT_OK(rc);
                ref_set[i] = !del;
                ref_val[i] = new_id;
            }
        } else {
            size_t i = test_rand_below(N_REFS);
            char name[32];
            cairn_id got;
            snprintf(name, sizeof(name), "heads/r%zu", i);
            int rc = cairn__tier_ref_get(t, name, &got);
            if (ref_set[i]) {
                ASSERT_OK(rc);
                ASSERT_TRUE(cairn__id_eq(&got, &ref_val[i]));
            } else {
                ASSERT_RC(rc, CAIRN_NOTFOUND);
            }
        }
    }
    size_t n = 0, want = 0;
    for (size_t i = 0; i < N_BLOBS; i++) {
        want += held[i];
        free(blobs[i].data);
    }
    ASSERT_OK(cairn__tier_scan_ids(r, count_visit, &n));
    ASSERT_EQ(n, want);
    cairn__tier_close(w);
    cairn__tier_close(r);
    printf("model: 600 random operations on two handles agree with the model\n");
}

/* ---------------------------------------------------------------- hostile */

static void test_hostile(void)
{
    char spec[512], prefix[64], key[256], hex[CAIRN_ID_HEX + 1];
    test_blob a = make_blob(7, 200), b = make_blob(8, 300);
    cairn_id got;
    cairn_buf out;
    bool has;

    make_spec(spec, sizeof(spec), "hostile", "");
    snprintf(prefix, sizeof(prefix), "hostile-%ld:", (long)getpid());
    cairn_tier *t = open_tier(spec, 0);
    /* Wrong bytes under a blob key come back as they are (the stack's
     * hash check rejects them), and a put replaces them. */
    cairn_id_to_hex(&a.id, hex);
    snprintf(key, sizeof(key), "%sblob:%s", prefix, hex);
    freeReplyObject(raw_redis("SET %s %b", key, "garbage", (size_t)7));
    ASSERT_OK(cairn__tier_get_many(t, &a.id, 1, &out));
    ASSERT_MEM_EQ(out.data, out.len, "garbage", 7);
    free(out.data);
    ASSERT_OK(put_one(t, &a));
    ASSERT_TRUE(holds(t, &a));
    /* A key of another type is no blob: absent, and a put replaces it. */
    cairn_id_to_hex(&b.id, hex);
    snprintf(key, sizeof(key), "%sblob:%s", prefix, hex);
    freeReplyObject(raw_redis("HSET %s f v", key));
    ASSERT_OK(cairn__tier_get_many(t, &b.id, 1, &out));
    ASSERT_TRUE(out.data == NULL);
    ASSERT_OK(cairn__tier_has_many(t, &b.id, 1, &has));
    ASSERT_TRUE(!has);
    ASSERT_OK(put_one(t, &b));
    ASSERT_TRUE(holds(t, &b));
    /* A ref that is not an id: ref_get CORRUPT, ref_list passes NULL. */
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/good", NULL, &a.id));
    snprintf(key, sizeof(key), "%srefs", prefix);
    freeReplyObject(raw_redis("HSET %s heads/bad not-an-id", key));
    ASSERT_RC(cairn__tier_ref_get(t, "heads/bad", &got), CAIRN_CORRUPT);
    ASSERT_DETAIL("heads/bad");
    struct ref_seen seen = {0};
    ASSERT_OK(cairn__tier_ref_list(t, "", ref_visit, &seen));
    ASSERT_EQ(seen.n, 2);
    ASSERT_TRUE(!seen.ok[0] && seen.ok[1]); /* heads/bad, heads/good */
    /* The refs key of another type: an error naming it, never a crash. */
    freeReplyObject(raw_redis("DEL %s", key));
    freeReplyObject(raw_redis("SET %s x", key));
    ASSERT_RC(cairn__tier_ref_get(t, "heads/good", &got), CAIRN_CORRUPT);
    ASSERT_DETAIL(key);
    ASSERT_TRUE(cairn__tier_ref_list(t, "", ref_visit, &seen) != 0);
    ASSERT_TRUE(cairn__tier_ref_cas(t, "heads/good", NULL, &a.id) != 0);
    ASSERT_DETAIL(key);
    /* A lock of another type: the lease cannot be taken, clearly. */
    snprintf(key, sizeof(key), "%slock", prefix);
    freeReplyObject(raw_redis("HSET %s f v", key));
    ASSERT_TRUE(cairn__tier_writer_lock(t, true) != 0);
    cairn__tier_close(t);
    free(a.data);
    free(b.data);
    printf("hostile: wrong bytes, wrong types, a ref that is no id: ok\n");
}

/* ---------------------------------------------------------------- lease */

static void test_lease(void)
{
    char spec[512], prefix[64], key[256];
    test_blob a = make_blob(11, 100), b = make_blob(12, 100);
    int fds[2];
    char c;

    make_spec(spec, sizeof(spec), "lease", "lease=1");
    snprintf(prefix, sizeof(prefix), "lease-%ld:", (long)getpid());
    snprintf(key, sizeof(key), "%slock", prefix);
    cairn_tier *w1 = open_tier(spec, 0), *w2 = open_tier(spec, 0);
    ASSERT_OK(cairn__tier_writer_lock(w1, true));
    ASSERT_RC(cairn__tier_writer_lock(w2, true), CAIRN_BUSY);
    ASSERT_DETAIL("is held by pid");
    /* A handle without the lease may not move refs while it is held. */
    ASSERT_RC(cairn__tier_ref_cas(w2, "heads/main", NULL, &a.id), CAIRN_BUSY);
    ASSERT_OK(cairn__tier_ref_cas(w1, "heads/main", NULL, &a.id));
    /* Renewal keeps it past its lease. */
    usleep(2500 * 1000);
    ASSERT_RC(cairn__tier_writer_lock(w2, true), CAIRN_BUSY);
    ASSERT_OK(cairn__tier_ref_cas(w1, "heads/main", &a.id, &b.id));
    /* Taken behind its back (a lease that lapsed while w1 was paused):
     * w1 is fenced, every time. */
    freeReplyObject(raw_redis("SET %s %s", key, "00000000000000000000000000000000 someone else"));
    ASSERT_RC(cairn__tier_ref_cas(w1, "heads/main", &b.id, &a.id), CAIRN_FENCED);
    ASSERT_DETAIL("someone else");
    ASSERT_RC(cairn__tier_publish(w1, NULL, 0, "heads/main", &b.id, &a.id), CAIRN_FENCED);
    cairn__tier_writer_lock(w1, false); /* releases nothing: not its token */
    ASSERT_EQ(raw_redis_int("EXISTS %s", key), 1);
    freeReplyObject(raw_redis("DEL %s", key));
    /* Released: the other takes it. */
    ASSERT_OK(cairn__tier_writer_lock(w2, true));
    ASSERT_OK(cairn__tier_ref_cas(w2, "heads/main", &b.id, &a.id));
    cairn__tier_writer_lock(w2, false);
    ASSERT_EQ(raw_redis_int("EXISTS %s", key), 0);
    cairn__tier_close(w1);
    cairn__tier_close(w2);

    /* kill -9 of a writer: its lease expires, another takes over. */
    ASSERT_TRUE(pipe(fds) == 0);
    fflush(stdout);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        cairn_tier *k;
        close(fds[0]);
        if (cairn__tier_open(spec, 0, &k) || cairn__tier_writer_lock(k, true))
            _exit(1);
        if (write(fds[1], "x", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(fds[1]);
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    close(fds[0]);
    cairn_tier *w3 = open_tier(spec, 0);
    ASSERT_RC(cairn__tier_writer_lock(w3, true), CAIRN_BUSY);
    char want[32];
    snprintf(want, sizeof(want), "pid %ld", (long)pid);
    ASSERT_DETAIL(want);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    int tries = 0, rc;
    while ((rc = cairn__tier_writer_lock(w3, true)) == CAIRN_BUSY && tries++ < 40)
        usleep(100 * 1000);
    ASSERT_OK(rc);
    printf("lease: taken over %.1f s after the holder was killed\n", tries / 10.0);
    ASSERT_TRUE(tries >= 3); /* not before the lease could have lapsed */
    ASSERT_OK(cairn__tier_ref_cas(w3, "heads/main", &a.id, &b.id));
    cairn__tier_close(w3); /* releases */
    ASSERT_EQ(raw_redis_int("EXISTS %s", key), 0);
    free(a.data);
    free(b.data);
}

/* ---------------------------------------------------------------- threads */

#define N_THREADS 6

struct worker {
    cairn_tier *t;
    unsigned id;
};

/* Puts and reads its own blobs, and moves a ref of its own, through a
 * pool smaller than the threads (so they wait for connections). */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[32];
    cairn_id prev;
    bool has_prev = false;

    snprintf(name, sizeof(name), "heads/t%u", w->id);
    for (unsigned i = 0; i < 150; i++) {
        test_blob b = make_blob(90000 + w->id * 1000 + i, 64 + i);
        ASSERT_OK(put_one(w->t, &b));
        ASSERT_TRUE(holds(w->t, &b));
        ASSERT_OK(cairn__tier_ref_cas(w->t, name, has_prev ? &prev : NULL, &b.id));
        prev = b.id;
        has_prev = true;
        free(b.data);
    }
    return NULL;
}

static void test_threads(void)
{
    char spec[512];
    pthread_t th[N_THREADS];
    struct worker w[N_THREADS];

    make_spec(spec, sizeof(spec), "threads", "pool=2");
    cairn_tier *t = open_tier(spec, 0);
    for (unsigned i = 0; i < N_THREADS; i++) {
        w[i] = (struct worker){t, i};
        ASSERT_TRUE(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    }
    for (unsigned i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    cairn__tier_close(t);
    printf("threads: %d threads on a pool of 2 connections\n", N_THREADS);
}

/* ---------------------------------------------------------------- races */

#define RACE_STEPS 200

/* Moves ref "counter" from step k to k+1 (ids of make_blob(k)) until it
 * reaches RACE_STEPS; reports its own successes on fd. */
static void racer(const char *spec, int fd)
{
    cairn_tier *t;
    cairn_id ids[RACE_STEPS + 1];
    unsigned wins = 0;

    for (int k = 0; k <= RACE_STEPS; k++) {
        test_blob b = make_blob(50000 + (uint64_t)k, 16);
        ids[k] = b.id;
        free(b.data);
    }
    if (cairn__tier_open(spec, 0, &t))
        _exit(2);
    for (;;) {
        cairn_id cur;
        int k = -1;
        if (cairn__tier_ref_get(t, "counter", &cur))
            _exit(3);
        for (int j = 0; j <= RACE_STEPS; j++)
            if (cairn__id_eq(&cur, &ids[j]))
                k = j;
        if (k < 0)
            _exit(4);
        if (k == RACE_STEPS)
            break;
        int rc = cairn__tier_ref_cas(t, "counter", &ids[k], &ids[k + 1]);
        if (rc == 0)
            wins++;
        else if (rc != CAIRN_CONFLICT)
            _exit(5);
    }
    cairn__tier_close(t);
    if (write(fd, &wins, sizeof(wins)) != sizeof(wins))
        _exit(6);
    _exit(0);
}

static void test_races(void)
{
    char spec[512];
    int fds[2];
    pid_t pids[2];
    unsigned total = 0;

    make_spec(spec, sizeof(spec), "race", "");
    cairn_tier *t = open_tier(spec, 0);
    test_blob zero = make_blob(50000, 16);
    ASSERT_OK(cairn__tier_ref_cas(t, "counter", NULL, &zero.id));
    ASSERT_TRUE(pipe(fds) == 0);
    fflush(stdout);
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        ASSERT_TRUE(pids[i] >= 0);
        if (pids[i] == 0)
            racer(spec, fds[1]);
    }
    close(fds[1]);
    for (int i = 0; i < 2; i++) {
        int status;
        unsigned wins;
        waitpid(pids[i], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status))
            TEST_FAIL("racer %d failed (status %d)", i, status);
        ASSERT_EQ(read(fds[0], &wins, sizeof(wins)), sizeof(wins));
        printf("  racer %d: %u moves\n", i, wins);
        total += wins;
    }
    close(fds[0]);
    /* Every successful move was one step: none lost, none doubled. */
    ASSERT_EQ(total, RACE_STEPS);
    cairn__tier_close(t);
    free(zero.data);
    printf("races: two processes, %d compare-and-swaps, none lost\n", RACE_STEPS);
}

int main(void)
{
    url = test_redis_url();
    test_seed_init(13);
    test_specs();
    test_basics();
    test_glob_prefix();
    test_model();
    test_hostile();
    test_lease();
    test_threads();
    test_races();
    printf("ok\n");
    return 0;
}
