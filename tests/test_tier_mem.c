/*
 * test_tier_mem.c - the memory tier through the tier wrappers: blobs,
 * refs and their CAS rules, LRU eviction by bytes, spec errors, wrapper
 * counters and defaults, fault injection, concurrent readers, and a
 * randomized comparison against a simple model.
 */
#include <errno.h>
#include <pthread.h>

#include "id.h"
#include "test.h"
#include "tier.h"
#include "tierutil.h"

static cairn_tier *open_ok(const char *spec)
{
    cairn_tier *t;
    ASSERT_OK(cairn__tier_open(spec, 0, &t));
    ASSERT_TRUE(t != NULL);
    ASSERT_TRUE(strcmp(t->spec, spec) == 0);
    return t;
}

static void spec_bad(const char *spec, const char *detail_part)
{
    cairn_tier *t = (cairn_tier *)1;

    ASSERT_RC(cairn__tier_open(spec, 0, &t), CAIRN_BADSPEC);
    ASSERT_TRUE(t == NULL);
    if (!strstr(cairn_errdetail(), detail_part))
        TEST_FAIL("spec '%s': detail '%s' lacks '%s'", spec, cairn_errdetail(), detail_part);
}

static void test_specs(void)
{
    cairn_tier *t;

    spec_bad("", "empty");
    spec_bad("foo:x", "spec 'foo:x': unknown tier 'foo' (known: mem, lmdb, file, s3, redis)");
    spec_bad("memory", "unknown tier 'memory'");
    spec_bad("mem:0", "bad capacity '0'");
    spec_bad("mem:abc", "spec 'mem:abc'");
    spec_bad("mem:-5", "bad capacity");
    spec_bad("mem?x=1", "unknown option 'x'");
    spec_bad("mem:1M?promote=2", "promote must be 0 or 1");
    spec_bad("mem?promote", "not key=value");

    t = open_ok("mem");
    ASSERT_EQ(t->capacity, 0);
    ASSERT_EQ(t->caps, 0);
    ASSERT_TRUE(strcmp(t->m->name, "mem") == 0);
    cairn__tier_close(t);
    t = open_ok("mem:64K?promote=0");
    ASSERT_EQ(t->capacity, 64 << 10);
    ASSERT_TRUE(!t->promote);
    cairn__tier_close(t);
    cairn__tier_close(NULL);
}

static void test_blobs(void)
{
    cairn_tier *t = open_ok("mem");
    test_blob a = make_blob(1, 100), b = make_blob(2, 5000), empty = make_blob(3, 0);
    test_blob absent = make_blob(4, 10);
    cairn_blob both[2] = {as_blob(&a), as_blob(&b)};
    cairn_id ids[3] = {a.id, absent.id, b.id};
    cairn_buf out[3];
    bool has[3];
    uint64_t blobs, bytes;

    ASSERT_TRUE(!holds(t, &a));
    ASSERT_OK(cairn__tier_put_many(t, both, 2));
    ASSERT_OK(cairn__tier_put_many(t, both, 2)); /* idempotent */
    ASSERT_OK(put_one(t, &empty));
    ASSERT_OK(cairn__tier_get_many(t, ids, 3, out));
    ASSERT_MEM_EQ(out[0].data, out[0].len, a.data, a.len);
    ASSERT_TRUE(out[1].data == NULL);
    ASSERT_MEM_EQ(out[2].data, out[2].len, b.data, b.len);
    free(out[0].data);
    free(out[2].data);

    /* An empty blob is held: data is not NULL, len is 0. */
    ASSERT_OK(cairn__tier_get_many(t, &empty.id, 1, out));
    ASSERT_TRUE(out[0].data != NULL);
    ASSERT_EQ(out[0].len, 0);
    free(out[0].data);

    ASSERT_OK(cairn__tier_has_many(t, ids, 3, has));
    ASSERT_TRUE(has[0] && !has[1] && has[2]);
    ASSERT_OK(cairn__tier_usage(t, &blobs, &bytes));
    ASSERT_EQ(blobs, 3);
    ASSERT_EQ(bytes, 5100);

    /* Removing present and absent blobs. */
    ASSERT_OK(cairn__tier_remove_many(t, ids, 2));
    ASSERT_OK(cairn__tier_has_many(t, ids, 3, has));
    ASSERT_TRUE(!has[0] && !has[1] && has[2]);
    ASSERT_OK(cairn__tier_usage(t, &blobs, &bytes));
    ASSERT_EQ(blobs, 2);
    ASSERT_EQ(bytes, 5000);

    /* Wrapper counters: gets per id asked, hits, misses, puts and bytes. */
    ASSERT_EQ(t->counters.gets, 1 + 3 + 1);
    ASSERT_EQ(t->counters.hits, 0 + 2 + 1);
    ASSERT_EQ(t->counters.misses, 1 + 1 + 0);
    ASSERT_EQ(t->counters.puts, 5);
    ASSERT_EQ(t->counters.put_bytes, 2 * 5100);
    ASSERT_EQ(t->counters.get_bytes, 5100);

    /* n = 0 is a no-op; NULL arrays with n > 0 are refused. */
    ASSERT_OK(cairn__tier_get_many(t, NULL, 0, NULL));
    ASSERT_RC(cairn__tier_get_many(t, NULL, 1, out), CAIRN_BADARG);
    ASSERT_RC(cairn__tier_put_many(t, NULL, 2), CAIRN_BADARG);

    cairn__tier_close(t);
    free(a.data), free(b.data), free(empty.data), free(absent.data);
}

struct scan_log {
    size_t n;
    uint64_t bytes;
    int stop_after;
};

static int scan_count(void *ctx, const cairn_id *id, size_t len)
{
    struct scan_log *log = ctx;
    (void)id;
    log->n++;
    log->bytes += len;
    return log->stop_after && (int)log->n == log->stop_after ? 42 : 0;
}

static void test_scan(void)
{
    cairn_tier *t = open_ok("mem");
    struct scan_log log = {0, 0, 0};
    uint64_t want_bytes = 0;

    for (int i = 0; i < 500; i++) {
        test_blob b = make_blob(1000 + (uint64_t)i, (size_t)i);
        want_bytes += (uint64_t)i;
        ASSERT_OK(put_one(t, &b));
        free(b.data);
    }
    ASSERT_OK(cairn__tier_scan_ids(t, scan_count, &log));
    ASSERT_EQ(log.n, 500);
    ASSERT_EQ(log.bytes, want_bytes);
    log = (struct scan_log){0, 0, 7};
    ASSERT_RC(cairn__tier_scan_ids(t, scan_count, &log), 42);
    ASSERT_EQ(log.n, 7);
    cairn__tier_close(t);
}

struct ref_log {
    char text[512];
};

static int ref_collect(void *ctx, const char *name, const cairn_id *id)
{
    struct ref_log *log = ctx;
    size_t used = strlen(log->text);
    snprintf(log->text + used, sizeof(log->text) - used, "%s=%02x ", name, id->bytes[0]);
    return 0;
}

/* The CAS rules of tier.h, for any tier that holds refs. */
static void check_ref_rules(cairn_tier *t)
{
    cairn_id a, b, c, got;
    struct ref_log log = {""};
    const char *names[] = {"tags/v2", "main", "tags/v1", "dev", "tags/v10", "tag"};

    memset(&a, 0xa1, sizeof(a));
    memset(&b, 0xb2, sizeof(b));
    memset(&c, 0xc3, sizeof(c));
    ASSERT_RC(cairn__tier_ref_get(t, "main", &got), CAIRN_NOTFOUND);
    ASSERT_RC(cairn__tier_ref_cas(t, "main", &a, &b), CAIRN_CONFLICT); /* absent, old given */
    ASSERT_OK(cairn__tier_ref_cas(t, "main", NULL, &a));
    ASSERT_RC(cairn__tier_ref_cas(t, "main", NULL, &b), CAIRN_CONFLICT); /* exists */
    ASSERT_RC(cairn__tier_ref_cas(t, "main", &c, &b), CAIRN_CONFLICT);  /* wrong old */
    ASSERT_OK(cairn__tier_ref_get(t, "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &a));
    ASSERT_OK(cairn__tier_ref_cas(t, "main", &a, &b));
    ASSERT_OK(cairn__tier_ref_get(t, "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &b));
    ASSERT_OK(cairn__tier_ref_cas(t, "main", &b, NULL)); /* delete */
    ASSERT_RC(cairn__tier_ref_get(t, "main", &got), CAIRN_NOTFOUND);
    ASSERT_RC(cairn__tier_ref_cas(t, "main", &b, NULL), CAIRN_CONFLICT);
    ASSERT_OK(cairn__tier_ref_cas(t, "main", NULL, NULL)); /* absent stays absent */

    /* Bad names. */
    ASSERT_RC(cairn__tier_ref_get(t, "", &got), CAIRN_BADARG);
    char long_name[CAIRN_NAME_MAX + 18];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    ASSERT_RC(cairn__tier_ref_cas(t, long_name, NULL, &a), CAIRN_BADARG);
    long_name[CAIRN_NAME_MAX + 16] = '\0'; /* the longest allowed */
    ASSERT_OK(cairn__tier_ref_cas(t, long_name, NULL, &a));
    ASSERT_OK(cairn__tier_ref_cas(t, long_name, &a, NULL));

    /* ref_list: name order, prefix filter. */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        cairn_id id;
        memset(&id, (int)i, sizeof(id));
        ASSERT_OK(cairn__tier_ref_cas(t, names[i], NULL, &id));
    }
    ASSERT_OK(cairn__tier_ref_list(t, NULL, ref_collect, &log));
    ASSERT_TRUE(strcmp(log.text, "dev=03 main=01 tag=05 tags/v1=02 tags/v10=04 tags/v2=00 ") ==
                0);
    log.text[0] = '\0';
    ASSERT_OK(cairn__tier_ref_list(t, "tags/", ref_collect, &log));
    ASSERT_TRUE(strcmp(log.text, "tags/v1=02 tags/v10=04 tags/v2=00 ") == 0);
    log.text[0] = '\0';
    ASSERT_OK(cairn__tier_ref_list(t, "zzz", ref_collect, &log));
    ASSERT_TRUE(strcmp(log.text, "") == 0);
}

static void test_refs(void)
{
    cairn_tier *t = open_ok("mem");
    check_ref_rules(t);
    cairn__tier_close(t);
}

/* Capacity 1000 bytes, blobs of 300: the fourth put evicts the oldest,
 * and a get makes a blob the newest. */
static void test_lru(void)
{
    cairn_tier *t = open_ok("mem:1000");
    test_blob b[6], big = make_blob(99, 1001);
    uint64_t blobs, bytes;

    for (int i = 0; i < 6; i++)
        b[i] = make_blob(200 + (uint64_t)i, 300);
    for (int i = 0; i < 3; i++)
        ASSERT_OK(put_one(t, &b[i]));
    ASSERT_OK(cairn__tier_usage(t, &blobs, &bytes));
    ASSERT_EQ(blobs, 3);
    ASSERT_EQ(bytes, 900);

    ASSERT_OK(put_one(t, &b[3])); /* 1200 > 1000: evicts b0 */
    ASSERT_TRUE(!holds(t, &b[0]));
    ASSERT_TRUE(holds(t, &b[1])); /* b1 becomes the newest */
    ASSERT_OK(put_one(t, &b[4])); /* evicts b2, the oldest now */
    ASSERT_TRUE(!holds(t, &b[2]));
    ASSERT_TRUE(holds(t, &b[1]) && holds(t, &b[3]) && holds(t, &b[4]));
    ASSERT_OK(cairn__tier_usage(t, &blobs, &bytes));
    ASSERT_EQ(blobs, 3);
    ASSERT_EQ(bytes, 900);

    /* has_many does not refresh recency; a re-put does. b1 b3 b4 were
     * read in that order, so b1 is the oldest. */
    ASSERT_OK(put_one(t, &b[1])); /* now b3 is the oldest */
    ASSERT_OK(put_one(t, &b[5]));
    ASSERT_TRUE(!holds(t, &b[3]));
    ASSERT_TRUE(holds(t, &b[1]) && holds(t, &b[4]) && holds(t, &b[5]));

    /* A blob larger than the capacity is not kept and evicts nothing. */
    ASSERT_OK(put_one(t, &big));
    ASSERT_TRUE(!holds(t, &big));
    ASSERT_OK(cairn__tier_usage(t, &blobs, &bytes));
    ASSERT_EQ(blobs, 3);

    /* Removing frees capacity. */
    ASSERT_OK(cairn__tier_remove_many(t, &b[1].id, 1));
    ASSERT_OK(cairn__tier_usage(t, &blobs, &bytes));
    ASSERT_EQ(bytes, 600);
    ASSERT_OK(put_one(t, &b[0]));
    ASSERT_TRUE(holds(t, &b[4]) && holds(t, &b[5]) && holds(t, &b[0]));

    cairn__tier_close(t);
    for (int i = 0; i < 6; i++)
        free(b[i].data);
    free(big.data);
}

/* Fault injection: the nth matching call fails once with the armed code. */
static void test_faults(void)
{
    cairn_tier *t = open_ok("mem");
    test_blob a = make_blob(7, 64);
    cairn_buf buf;
    cairn_id ref_id;

    ASSERT_OK(put_one(t, &a));
    cairn__tier_fault_arm("get_many", 2, -EIO);
    ASSERT_TRUE(holds(t, &a));
    buf.data = (void *)1;
    ASSERT_RC(cairn__tier_get_many(t, &a.id, 1, &buf), -EIO);
    ASSERT_TRUE(buf.data == NULL);
    ASSERT_TRUE(strstr(cairn_errdetail(), "injected") != NULL);
    ASSERT_TRUE(holds(t, &a)); /* once only */

    /* Other methods do not count towards a named fault. */
    cairn__tier_fault_arm("publish", 1, CAIRN_TIER);
    ASSERT_TRUE(holds(t, &a));
    ASSERT_OK(put_one(t, &a));
    cairn_blob c = as_blob(&a);
    memset(&ref_id, 1, sizeof(ref_id));
    ASSERT_RC(cairn__tier_publish(t, &c, 1, "main", NULL, &ref_id), CAIRN_TIER);
    ASSERT_RC(cairn__tier_ref_get(t, "main", &ref_id), CAIRN_NOTFOUND);

    /* "*" matches any method. */
    cairn__tier_fault_arm("*", 3, -ENOSPC);
    ASSERT_OK(cairn__tier_ref_cas(t, "x", NULL, &ref_id));
    ASSERT_OK(cairn__tier_ref_get(t, "x", &ref_id));
    ASSERT_RC(put_one(t, &a), -ENOSPC);
    ASSERT_OK(put_one(t, &a));

    /* n = 0 disarms. */
    cairn__tier_fault_arm("*", 1, -EIO);
    cairn__tier_fault_arm("*", 0, -EIO);
    ASSERT_OK(cairn__tier_sync(t));
    cairn__tier_close(t);
    free(a.data);
}

/* The default writer lock and publish. */
static void test_defaults(void)
{
    cairn_tier *t = open_ok("mem");
    test_blob a = make_blob(8, 10);
    cairn_blob c = as_blob(&a);
    cairn_id r1, r2, got;

    ASSERT_OK(cairn__tier_writer_lock(t, true));
    ASSERT_RC(cairn__tier_writer_lock(t, true), CAIRN_BUSY);
    ASSERT_TRUE(strstr(cairn_errdetail(), "locked") != NULL);
    ASSERT_OK(cairn__tier_writer_lock(t, false));
    ASSERT_OK(cairn__tier_writer_lock(t, true));
    ASSERT_OK(cairn__tier_writer_lock(t, false));

    memset(&r1, 1, sizeof(r1));
    memset(&r2, 2, sizeof(r2));
    ASSERT_OK(cairn__tier_publish(t, &c, 1, "main", NULL, &r1));
    ASSERT_TRUE(holds(t, &a));
    ASSERT_RC(cairn__tier_publish(t, NULL, 0, "main", NULL, &r2), CAIRN_CONFLICT);
    ASSERT_OK(cairn__tier_ref_get(t, "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &r1));
    ASSERT_EQ(t->counters.puts, 1);
    cairn__tier_close(t);
    free(a.data);
}

/* ---------------------------------------------------------------- threads */

struct reader_ctx {
    cairn_tier *t;
    test_blob *blobs;
    size_t n;
    uint64_t seed;
    uint64_t hits;
};

/* Readers check that whatever they get is the right blob, while a writer
 * keeps evicting. */
static void *reader(void *arg)
{
    struct reader_ctx *ctx = arg;
    uint64_t s = ctx->seed;

    for (int round = 0; round < 2000; round++) {
        cairn_id ids[8];
        cairn_buf out[8];
        size_t picks[8];

        for (int j = 0; j < 8; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            picks[j] = (size_t)(s >> 33) % ctx->n;
            ids[j] = ctx->blobs[picks[j]].id;
        }
        ASSERT_OK(cairn__tier_get_many(ctx->t, ids, 8, out));
        for (int j = 0; j < 8; j++) {
            if (!out[j].data)
                continue;
            ctx->hits++;
            ASSERT_MEM_EQ(out[j].data, out[j].len, ctx->blobs[picks[j]].data,
                          ctx->blobs[picks[j]].len);
            free(out[j].data);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    cairn_tier *t = open_ok("mem:20K");
    enum { N_BLOBS = 200, N_READERS = 4 };
    test_blob blobs[N_BLOBS];
    struct reader_ctx ctx[N_READERS];
    pthread_t th[N_READERS];

    for (int i = 0; i < N_BLOBS; i++)
        blobs[i] = make_blob(5000 + (uint64_t)i, 100 + (size_t)i);
    for (int i = 0; i < N_READERS; i++) {
        ctx[i] = (struct reader_ctx){t, blobs, N_BLOBS, 77 + (uint64_t)i, 0};
        ASSERT_EQ(pthread_create(&th[i], NULL, reader, &ctx[i]), 0);
    }
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < N_BLOBS; i++)
            ASSERT_OK(put_one(t, &blobs[(i * 7 + round) % N_BLOBS]));
    for (int i = 0; i < N_READERS; i++)
        ASSERT_EQ(pthread_join(th[i], NULL), 0);
    uint64_t n, bytes;
    ASSERT_OK(cairn__tier_usage(t, &n, &bytes));
    ASSERT_TRUE(bytes <= 20 << 10);
    cairn__tier_close(t);
    for (int i = 0; i < N_BLOBS; i++)
        free(blobs[i].data);
}

/* ---------------------------------------------------------------- model */

#define MODEL_BLOBS 64
#define MODEL_REFS 6

/* Random operations against the tier and a model: which blobs are held and
 * what each ref holds. For a bounded tier (evicting) the model only bounds
 * the truth: anything the tier holds must be in the model, with the right
 * bytes, and the payload stays within the capacity. */
static void model_run(const char *spec, int ops)
{
    static const char *ref_names[MODEL_REFS] = {"main", "dev", "tags/a", "tags/b", "m", "z"};
    cairn_tier *t = open_ok(spec);
    bool bounded = t->capacity != 0;
    test_blob blobs[MODEL_BLOBS];
    bool held[MODEL_BLOBS] = {false};
    bool ref_set[MODEL_REFS] = {false};
    cairn_id ref_val[MODEL_REFS];

    for (int i = 0; i < MODEL_BLOBS; i++)
        blobs[i] = make_blob(test_rand(), 8 + (size_t)test_rand_below(600)); /* distinct */
    for (int op = 0; op < ops; op++) {
        size_t k = 1 + (size_t)test_rand_below(8), pick[8];
        cairn_id ids[8];

        for (size_t j = 0; j < k; j++) {
            pick[j] = (size_t)test_rand_below(MODEL_BLOBS);
            ids[j] = blobs[pick[j]].id;
        }
        switch (test_rand_below(7)) {
        case 0: { /* put */
            cairn_blob c[8];
            for (size_t j = 0; j < k; j++) {
                c[j] = as_blob(&blobs[pick[j]]);
                held[pick[j]] = true;
            }
            ASSERT_OK(cairn__tier_put_many(t, c, k));
            break;
        }
        case 1: { /* get */
            cairn_buf out[8];
            ASSERT_OK(cairn__tier_get_many(t, ids, k, out));
            for (size_t j = 0; j < k; j++) {
                test_blob *b = &blobs[pick[j]];
                if (out[j].data) {
                    ASSERT_TRUE(held[pick[j]]);
                    ASSERT_MEM_EQ(out[j].data, out[j].len, b->data, b->len);
                } else if (!bounded && held[pick[j]]) {
                    TEST_FAIL("op %d: blob %zu missing", op, pick[j]);
                }
                free(out[j].data);
            }
            break;
        }
        case 2: { /* has */
            bool has[8];
            ASSERT_OK(cairn__tier_has_many(t, ids, k, has));
            for (size_t j = 0; j < k; j++)
                ASSERT_TRUE(bounded ? !has[j] || held[pick[j]] : has[j] == held[pick[j]]);
            break;
        }
        case 3: /* remove */
            ASSERT_OK(cairn__tier_remove_many(t, ids, k));
            for (size_t j = 0; j < k; j++)
                held[pick[j]] = false;
            break;
        case 4: { /* ref_cas: right or wrong old, new or delete */
            size_t r = (size_t)test_rand_below(MODEL_REFS);
            bool right = test_rand_below(3) != 0;
            cairn_id old_id = ref_val[r], new_id = blobs[pick[0]].id;
            const cairn_id *old_p = ref_set[r] ? &old_id : NULL;
            const cairn_id *new_p = test_rand_below(4) ? &new_id : NULL;
            if (!right) {
                if (old_p)
                    old_p = test_rand_below(2) ? NULL : &blobs[pick[0]].id;
                else
                    old_p = &new_id;
                if (old_p && ref_set[r] && cairn__id_eq(old_p, &ref_val[r]))
                    right = true;
            }
            int rc = cairn__tier_ref_cas(t, ref_names[r], old_p, new_p);
            if (right) {
                ASSERT_OK(rc);
                ref_set[r] = new_p != NULL;
                if (new_p)
                    ref_val[r] = *new_p;
            } else {
                ASSERT_RC(rc, CAIRN_CONFLICT);
            }
            break;
        }
        case 5: { /* ref_get */
            size_t r = (size_t)test_rand_below(MODEL_REFS);
            cairn_id got;
            int rc = cairn__tier_ref_get(t, ref_names[r], &got);
            if (ref_set[r]) {
                ASSERT_OK(rc);
                ASSERT_TRUE(cairn__id_eq(&got, &ref_val[r]));
            } else {
                ASSERT_RC(rc, CAIRN_NOTFOUND);
            }
            break;
        }
        case 6: { /* usage */
            uint64_t n = 0, bytes = 0, want_n = 0, want_bytes = 0;
            for (int i = 0; i < MODEL_BLOBS; i++)
                if (held[i])
                    want_n++, want_bytes += blobs[i].len;
            ASSERT_OK(cairn__tier_usage(t, &n, &bytes));
            if (bounded) {
                ASSERT_TRUE(n <= want_n && bytes <= want_bytes && bytes <= t->capacity);
            } else {
                ASSERT_EQ(n, want_n);
                ASSERT_EQ(bytes, want_bytes);
            }
            break;
        }
        }
    }
    cairn__tier_close(t);
    for (int i = 0; i < MODEL_BLOBS; i++)
        free(blobs[i].data);
}

static int scaled(int n)
{
    const char *s = getenv("CAIRN_TEST_SCALE");
    double f = s ? atof(s) : 1.0;
    int v = (int)(n * (f > 0 ? f : 1.0));
    return v > 100 ? v : 100;
}

int main(void)
{
    test_seed_init(1);
    test_specs();
    test_blobs();
    test_scan();
    test_refs();
    test_lru();
    test_faults();
    test_defaults();
    test_threads();
    model_run("mem", scaled(20000));
    model_run("mem:4K", scaled(20000));
    printf("ok\n");
    return 0;
}
