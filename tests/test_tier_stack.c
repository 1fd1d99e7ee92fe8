/*
 * test_tier_stack.c - stacks of tiers: spec errors and their details,
 * roles (cache, primary, ref tiers, promote), front-first reads with
 * promotion seen through the tier counters, hash checks (a corrupt blob in
 * a cache is a miss, elsewhere CAIRN_CORRUPT), write-through publish, ref
 * moves in every ref tier, stats, the writer lock, and faults.
 */
#include <errno.h>
#include <limits.h>

#include "id.h"
#include "stack.h"
#include "test.h"
#include "tierutil.h"

/* Whether tier t holds the blob id (any bytes). */
static bool tier_has(cairn_tier *t, const cairn_id *id)
{
    bool has = false;
    ASSERT_OK(cairn__tier_has_many(t, id, 1, &has));
    return has;
}

static cairn_stack *open_stack(const char *spec)
{
    cairn_stack *st = NULL;
    ASSERT_OK(cairn__stack_open(spec, 0, &st));
    ASSERT_TRUE(st != NULL);
    return st;
}

static void spec_bad(const char *spec, const char *detail_part)
{
    cairn_stack *st = (cairn_stack *)1;

    ASSERT_RC(cairn__stack_open(spec, 0, &st), CAIRN_BADSPEC);
    ASSERT_TRUE(st == NULL);
    if (!strstr(cairn_errdetail(), detail_part))
        TEST_FAIL("spec '%s': detail '%s' lacks '%s'", spec, cairn_errdetail(), detail_part);
}

static char *dir_a, *dir_b;

static void test_spec_errors(void)
{
    char spec[1024];

    spec_bad("", "empty");
    spec_bad(">mem", "spec '>mem': tier 1 is empty ('>' at the start, character 1)");
    spec_bad("mem>", "spec 'mem>': tier 2 is empty ('>' at the end, character 4)");
    spec_bad("mem>>mem", "spec 'mem>>mem': tier 2 is empty (doubled '>', character 5)");
    spec_bad(">", "tier 1 is empty");
    spec_bad("mem:64M", "spec 'mem:64M': mem:64M is a cache and needs a durable tier behind it");
    spec_bad("mem:64M>mem", "mem:64M is a cache and needs a durable tier behind it");
    spec_bad("mem>foo:x", "spec 'foo:x': unknown tier 'foo' (known: mem, lmdb, file, s3, redis)");
    spec_bad("mem:1M?bogus=1>mem", "spec 'mem:1M?bogus=1': mem: unknown option 'bogus'");
    spec_bad("mem>mem>mem>mem>mem>mem>mem>mem>mem", "more than 8 tiers");
    snprintf(spec, sizeof(spec), "mem:1M>lmdb:%s?sync=maybe", dir_a);
    spec_bad(spec, "sync must be full, meta or none");
}

static void test_roles(void)
{
    char spec[1024];
    cairn_stack *st;
    cairn_id r, got;

    st = open_stack("mem");
    ASSERT_EQ(cairn__stack_n_tiers(st), 1);
    ASSERT_TRUE(!cairn__stack_durable(st));
    ASSERT_TRUE(!cairn__stack_tier(st, 0)->is_cache);
    ASSERT_TRUE(!cairn__stack_tier(st, 0)->promote);
    ASSERT_TRUE(cairn__stack_tier(st, 1) == NULL);
    cairn__stack_close(st);

    /* Two plain mems: neither is durable, so both hold refs. */
    st = open_stack("mem>mem");
    ASSERT_TRUE(!cairn__stack_tier(st, 0)->is_cache && !cairn__stack_tier(st, 1)->is_cache);
    memset(&r, 7, sizeof(r));
    ASSERT_OK(cairn__stack_ref_cas(st, "main", NULL, &r));
    ASSERT_OK(cairn__tier_ref_get(cairn__stack_tier(st, 1), "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &r));
    cairn__stack_close(st);

    snprintf(spec, sizeof(spec), "mem:1M>mem>lmdb:%s>lmdb:%s?promote=1", dir_a, dir_b);
    st = open_stack(spec);
    ASSERT_EQ(cairn__stack_n_tiers(st), 4);
    ASSERT_TRUE(cairn__stack_durable(st));
    ASSERT_TRUE(cairn__stack_tier(st, 0)->is_cache && cairn__stack_tier(st, 0)->promote);
    ASSERT_TRUE(cairn__stack_tier(st, 1)->is_cache && cairn__stack_tier(st, 1)->promote);
    ASSERT_TRUE(!cairn__stack_tier(st, 2)->is_cache && !cairn__stack_tier(st, 2)->promote);
    ASSERT_TRUE(!cairn__stack_tier(st, 3)->is_cache && cairn__stack_tier(st, 3)->promote);
    ASSERT_EQ(cairn__stack_tier(st, 0)->capacity, 1 << 20);

    /* The primary is lmdb A: refs go to both lmdbs, never to caches. */
    ASSERT_OK(cairn__stack_ref_cas(st, "roles", NULL, &r));
    ASSERT_OK(cairn__stack_ref_get(st, "roles", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &r));
    ASSERT_RC(cairn__tier_ref_get(cairn__stack_tier(st, 0), "roles", &got), CAIRN_NOTFOUND);
    ASSERT_RC(cairn__tier_ref_get(cairn__stack_tier(st, 1), "roles", &got), CAIRN_NOTFOUND);
    ASSERT_OK(cairn__tier_ref_get(cairn__stack_tier(st, 2), "roles", &got));
    ASSERT_OK(cairn__tier_ref_get(cairn__stack_tier(st, 3), "roles", &got));
    ASSERT_OK(cairn__stack_ref_cas(st, "roles", &r, NULL));
    ASSERT_RC(cairn__tier_ref_get(cairn__stack_tier(st, 3), "roles", &got), CAIRN_NOTFOUND);
    cairn__stack_close(st);

    snprintf(spec, sizeof(spec), "mem:1M?promote=0>lmdb:%s", dir_a);
    st = open_stack(spec);
    ASSERT_TRUE(cairn__stack_tier(st, 0)->is_cache && !cairn__stack_tier(st, 0)->promote);
    cairn__stack_close(st);
}

/* A miss in the mem cache and a hit in lmdb promotes the blob into mem;
 * the second read hits mem and never reaches lmdb. Counted by the tier
 * wrappers. */
static void test_promotion(void)
{
    char spec[1024];
    cairn_stack *st;
    cairn_tier *mem, *lmdb;
    test_blob a = make_blob(1, 700), absent = make_blob(2, 10);
    cairn_blob ca = as_blob(&a);
    cairn_buf buf;

    snprintf(spec, sizeof(spec), "mem:1M>lmdb:%s", dir_a);
    st = open_stack(spec);
    mem = cairn__stack_tier(st, 0);
    lmdb = cairn__stack_tier(st, 1);
    ASSERT_OK(cairn__tier_put_many(lmdb, &ca, 1));

    ASSERT_OK(cairn__stack_get(st, &a.id, &buf));
    ASSERT_MEM_EQ(buf.data, buf.len, a.data, a.len);
    free(buf.data);
    ASSERT_EQ(mem->counters.gets, 1);
    ASSERT_EQ(mem->counters.misses, 1);
    ASSERT_EQ(mem->counters.puts, 1);
    ASSERT_EQ(mem->counters.put_bytes, 700);
    ASSERT_EQ(lmdb->counters.gets, 1);
    ASSERT_EQ(lmdb->counters.hits, 1);
    ASSERT_TRUE(tier_has(mem, &a.id));

    ASSERT_OK(cairn__stack_get(st, &a.id, &buf));
    ASSERT_MEM_EQ(buf.data, buf.len, a.data, a.len);
    free(buf.data);
    ASSERT_EQ(mem->counters.hits, 1);
    ASSERT_EQ(mem->counters.puts, 1);
    ASSERT_EQ(lmdb->counters.gets, 1);

    /* Absent everywhere: CAIRN_MISSING naming the id. */
    char hex[CAIRN_ID_HEX + 1];
    cairn_id_to_hex(&absent.id, hex);
    ASSERT_RC(cairn__stack_get(st, &absent.id, &buf), CAIRN_MISSING);
    ASSERT_TRUE(buf.data == NULL);
    ASSERT_TRUE(strstr(cairn_errdetail(), hex) != NULL);
    ASSERT_EQ(lmdb->counters.misses, 1);
    cairn__stack_close(st);

    /* promote=0: the cache is asked but never filled. */
    snprintf(spec, sizeof(spec), "mem:1M?promote=0>lmdb:%s", dir_a);
    st = open_stack(spec);
    mem = cairn__stack_tier(st, 0);
    for (int i = 0; i < 2; i++) {
        ASSERT_OK(cairn__stack_get(st, &a.id, &buf));
        free(buf.data);
    }
    ASSERT_EQ(mem->counters.misses, 2);
    ASSERT_EQ(mem->counters.puts, 0);
    ASSERT_TRUE(!tier_has(mem, &a.id));
    cairn__stack_close(st);
    free(a.data), free(absent.data);
}

/* Many ids at once (more than the on-stack bookkeeping holds), spread over
 * the tiers, in one call. */
static void test_many(void)
{
    enum { N = 100 };
    char spec[1024];
    cairn_stack *st;
    test_blob b[N];
    cairn_id ids[N];
    cairn_buf out[N];

    snprintf(spec, sizeof(spec), "mem:1M>mem>lmdb:%s", dir_b);
    st = open_stack(spec);
    for (int i = 0; i < N; i++) {
        cairn_blob c;
        b[i] = make_blob(100 + (uint64_t)i, 50 + (size_t)i);
        c = as_blob(&b[i]);
        ids[i] = b[i].id;
        if (i % 4 != 3) /* every fourth absent */
            ASSERT_OK(cairn__tier_put_many(cairn__stack_tier(st, (size_t)i % 3), &c, 1));
    }
    ASSERT_OK(cairn__stack_get_many(st, ids, N, out));
    for (int i = 0; i < N; i++) {
        if (i % 4 == 3) {
            ASSERT_TRUE(out[i].data == NULL);
            continue;
        }
        ASSERT_MEM_EQ(out[i].data, out[i].len, b[i].data, b[i].len);
        free(out[i].data);
        /* Promoted into every cache in front of where it was found. */
        ASSERT_TRUE(tier_has(cairn__stack_tier(st, 0), &ids[i]));
        ASSERT_EQ(tier_has(cairn__stack_tier(st, 1), &ids[i]), i % 3 != 0);
    }
    ASSERT_EQ(cairn__stack_tier(st, 0)->counters.gets, N);
    ASSERT_OK(cairn__stack_get_many(st, NULL, 0, NULL));
    cairn__stack_close(st);
    for (int i = 0; i < N; i++)
        free(b[i].data);
}

/* A blob whose bytes do not match its id. */
static cairn_blob forged(const test_blob *real, const test_blob *other)
{
    cairn_blob c = {real->id, other->data, other->len};
    return c;
}

static void test_corruption(void)
{
    char spec[1024], hex[CAIRN_ID_HEX + 1];
    cairn_stack *st;
    cairn_tier *mem, *lmdb;
    test_blob a = make_blob(300, 400), junk = make_blob(301, 400), b = make_blob(302, 64);
    cairn_blob bad = forged(&a, &junk), good = as_blob(&a), cb = as_blob(&b);
    cairn_id ids[2] = {b.id, a.id};
    cairn_buf out[2], buf;

    /* Corrupt in lmdb (a ref tier): CAIRN_CORRUPT, nothing returned. */
    snprintf(spec, sizeof(spec), "mem:1M>lmdb:%s/corrupt", dir_a);
    st = open_stack(spec);
    mem = cairn__stack_tier(st, 0);
    lmdb = cairn__stack_tier(st, 1);
    ASSERT_OK(cairn__tier_put_many(lmdb, &bad, 1));
    ASSERT_OK(cairn__tier_put_many(lmdb, &cb, 1));
    ASSERT_RC(cairn__stack_get_many(st, ids, 2, out), CAIRN_CORRUPT);
    ASSERT_TRUE(out[0].data == NULL && out[1].data == NULL);
    cairn_id_to_hex(&a.id, hex);
    ASSERT_TRUE(strstr(cairn_errdetail(), hex) != NULL);
    ASSERT_TRUE(strstr(cairn_errdetail(), "does not match its id") != NULL);
    ASSERT_TRUE(strstr(cairn_errdetail(), lmdb->spec) != NULL);
    ASSERT_TRUE(!tier_has(mem, &a.id)); /* never promoted */
    ASSERT_RC(cairn__stack_get(st, &a.id, &buf), CAIRN_CORRUPT);
    cairn__stack_close(st);

    /* Corrupt in the cache: dropped from it, served from lmdb, and the
     * good copy is promoted in its place. */
    snprintf(spec, sizeof(spec), "mem:1M>lmdb:%s/clean", dir_a);
    st = open_stack(spec);
    mem = cairn__stack_tier(st, 0);
    lmdb = cairn__stack_tier(st, 1);
    ASSERT_OK(cairn__tier_put_many(mem, &bad, 1));
    ASSERT_OK(cairn__tier_put_many(lmdb, &good, 1));
    ASSERT_OK(cairn__stack_get(st, &a.id, &buf));
    ASSERT_MEM_EQ(buf.data, buf.len, a.data, a.len);
    free(buf.data);
    ASSERT_EQ(lmdb->counters.hits, 1);
    ASSERT_OK(cairn__tier_get_many(mem, &a.id, 1, &buf));
    ASSERT_MEM_EQ(buf.data, buf.len, a.data, a.len);
    free(buf.data);

    /* Corrupt in the cache and absent behind: a miss, not an error. */
    ASSERT_OK(cairn__tier_put_many(mem, &(cairn_blob){b.id, junk.data, junk.len}, 1));
    ASSERT_RC(cairn__stack_get(st, &b.id, &buf), CAIRN_MISSING);
    ASSERT_TRUE(!tier_has(mem, &b.id));
    cairn__stack_close(st);
    free(a.data), free(junk.data), free(b.data);
}

/* publish: blobs into every tier, the ref into ref tiers only; a CAS
 * conflict on the primary moves nothing; a ref tier behind the primary
 * that lags keeps its ref and is marked behind. */
static void test_publish(void)
{
    char spec[1024];
    cairn_stack *st;
    test_blob a = make_blob(400, 100), b = make_blob(401, 200), c = make_blob(402, 300);
    cairn_blob ab[2] = {as_blob(&a), as_blob(&b)}, cc = as_blob(&c);
    cairn_id r1, r2, r3, stale, got;

    memset(&r1, 1, sizeof(r1));
    memset(&r2, 2, sizeof(r2));
    memset(&r3, 3, sizeof(r3));
    memset(&stale, 9, sizeof(stale));
    snprintf(spec, sizeof(spec), "mem:1M>lmdb:%s/p1>lmdb:%s/p2", dir_a, dir_b);
    st = open_stack(spec);
    ASSERT_OK(cairn__stack_publish(st, ab, 2, "main", NULL, &r1));
    for (size_t k = 0; k < 3; k++) {
        cairn_tier *t = cairn__stack_tier(st, k);
        ASSERT_TRUE(tier_has(t, &a.id) && tier_has(t, &b.id));
        ASSERT_EQ(t->counters.puts, 2);
        int rc = cairn__tier_ref_get(t, "main", &got);
        if (k == 0) {
            ASSERT_RC(rc, CAIRN_NOTFOUND);
        } else {
            ASSERT_OK(rc);
            ASSERT_TRUE(cairn__id_eq(&got, &r1));
        }
    }

    /* Conflict on the primary: the ref stays in every tier. */
    ASSERT_RC(cairn__stack_publish(st, &cc, 1, "main", &r2, &r3), CAIRN_CONFLICT);
    ASSERT_TRUE(!tier_has(cairn__stack_tier(st, 1), &c.id));
    ASSERT_OK(cairn__tier_ref_get(cairn__stack_tier(st, 2), "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &r1));

    /* The back ref tier lags (holds stale): the publish succeeds (the
     * primary decides), the lagging tier keeps the ref it has (never one
     * naming blobs it may lack) and is marked behind; the engine brings it
     * up to date by diff (test_engine_followers). */
    ASSERT_OK(cairn__tier_ref_cas(cairn__stack_tier(st, 2), "main", &r1, &stale));
    ASSERT_EQ(cairn__stack_behind(st), 0);
    ASSERT_OK(cairn__stack_publish(st, &cc, 1, "main", &r1, &r2));
    ASSERT_OK(cairn__tier_ref_get(cairn__stack_tier(st, 2), "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &stale));
    ASSERT_OK(cairn__stack_ref_get(st, "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &r2));
    ASSERT_EQ(cairn__stack_behind(st), 1u << 2);
    /* A tier marked behind is left alone by later publishes and ref moves. */
    ASSERT_OK(cairn__stack_ref_cas(st, "main", &r2, &r3));
    ASSERT_OK(cairn__tier_ref_get(cairn__stack_tier(st, 2), "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &stale));
    cairn__stack_set_behind(st, 2, false);
    ASSERT_OK(cairn__tier_ref_cas(cairn__stack_tier(st, 2), "main", &stale, &r3));

    /* put_many writes every tier, no ref. */
    test_blob d = make_blob(403, 50);
    cairn_blob cd = as_blob(&d);
    ASSERT_OK(cairn__stack_put_many(st, &cd, 1));
    for (size_t k = 0; k < 3; k++)
        ASSERT_TRUE(tier_has(cairn__stack_tier(st, k), &d.id));
    ASSERT_OK(cairn__stack_sync(st));
    cairn__stack_close(st);

    /* Durable: reopened, the primary still has it all. */
    snprintf(spec, sizeof(spec), "lmdb:%s/p1", dir_a);
    st = open_stack(spec);
    ASSERT_OK(cairn__stack_ref_get(st, "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &r3));
    ASSERT_TRUE(tier_has(cairn__stack_tier(st, 0), &c.id));
    cairn__stack_close(st);
    free(a.data), free(b.data), free(c.data), free(d.data);
}

struct ref_names {
    char text[256];
};

static int ref_collect(void *ctx, const char *name, const cairn_id *id)
{
    struct ref_names *log = ctx;
    size_t used = strlen(log->text);
    (void)id;
    snprintf(log->text + used, sizeof(log->text) - used, "%s ", name);
    return 0;
}

static void test_stats_lock_faults(void)
{
    char spec[1024];
    cairn_stack *st, *st2;
    cairn_stats stats;
    test_blob a = make_blob(500, 1000);
    cairn_blob ca = as_blob(&a);
    struct ref_names names = {""};
    cairn_buf buf;
    cairn_id r, got;

    snprintf(spec, sizeof(spec), "mem:1M>lmdb:%s/s", dir_b);
    st = open_stack(spec);
    memset(&r, 4, sizeof(r));
    ASSERT_OK(cairn__stack_publish(st, &ca, 1, "main", NULL, &r));
    ASSERT_OK(cairn__stack_ref_cas(st, "dev", NULL, &r));
    ASSERT_OK(cairn__stack_ref_list(st, "", ref_collect, &names));
    ASSERT_TRUE(strcmp(names.text, "dev main ") == 0);
    ASSERT_OK(cairn__stack_get(st, &a.id, &buf));
    free(buf.data);

    memset(&stats, 0xff, sizeof(stats));
    ASSERT_OK(cairn__stack_stats(st, &stats));
    ASSERT_EQ(stats.n_tiers, 2);
    ASSERT_TRUE(strcmp(stats.tiers[0].name, "mem") == 0);
    ASSERT_TRUE(strcmp(stats.tiers[0].spec, "mem:1M") == 0);
    ASSERT_TRUE(strcmp(stats.tiers[1].name, "lmdb") == 0);
    ASSERT_TRUE(strncmp(stats.tiers[1].spec, "lmdb:", 5) == 0);
    ASSERT_EQ(stats.tiers[0].blobs, 1);
    ASSERT_EQ(stats.tiers[0].bytes, 1000);
    ASSERT_EQ(stats.tiers[0].hits, 1);
    ASSERT_EQ(stats.tiers[0].puts, 1);
    ASSERT_EQ(stats.tiers[1].blobs, 1);
    ASSERT_EQ(stats.tiers[1].bytes, 1000);
    ASSERT_EQ(stats.tiers[1].gets, 0);
    ASSERT_EQ(stats.tiers[1].puts, 1);
    ASSERT_EQ(stats.tiers[1].put_bytes, 1000);

    /* The writer lock is the primary's: a second stack on the same store
     * is refused. */
    st2 = open_stack(spec);
    ASSERT_OK(cairn__stack_writer_lock(st, true));
    ASSERT_RC(cairn__stack_writer_lock(st2, true), CAIRN_BUSY);
    ASSERT_OK(cairn__stack_writer_lock(st, false));
    ASSERT_OK(cairn__stack_writer_lock(st2, true));
    ASSERT_OK(cairn__stack_writer_lock(st2, false));

    /* A failing cache is skipped; a failing primary fails the read. */
    ASSERT_OK(cairn__tier_remove_many(cairn__stack_tier(st2, 0), &a.id, 1));
    cairn__tier_fault_arm("get_many", 1, -EIO);
    ASSERT_OK(cairn__stack_get(st2, &a.id, &buf));
    ASSERT_MEM_EQ(buf.data, buf.len, a.data, a.len);
    free(buf.data);
    ASSERT_OK(cairn__tier_remove_many(cairn__stack_tier(st2, 0), &a.id, 1));
    cairn__tier_fault_arm("get_many", 2, -EIO);
    buf.data = (void *)1;
    ASSERT_RC(cairn__stack_get(st2, &a.id, &buf), -EIO);
    ASSERT_TRUE(buf.data == NULL);

    /* A failing write to a cache is skipped (a blob a cache lacks is a
     * miss); a failing primary stops a publish before the ref moves. */
    {
        test_blob e = make_blob(404, 70);
        cairn_blob ce = as_blob(&e);
        cairn_id r4;
        memset(&r4, 4, sizeof(r4));
        cairn__tier_fault_arm("put_many", 1, -ENOSPC);
        ASSERT_OK(cairn__stack_publish(st2, &ce, 1, "main", &r, &r4));
        ASSERT_TRUE(!tier_has(cairn__stack_tier(st2, 0), &e.id));
        ASSERT_TRUE(tier_has(cairn__stack_tier(st2, 1), &e.id));
        ASSERT_OK(cairn__stack_ref_get(st2, "main", &got));
        ASSERT_TRUE(cairn__id_eq(&got, &r4));
        cairn__tier_fault_arm("publish", 1, -ENOSPC);
        ASSERT_RC(cairn__stack_publish(st2, &ca, 1, "main", &r4, &r), -ENOSPC);
        ASSERT_OK(cairn__stack_ref_get(st2, "main", &got));
        ASSERT_TRUE(cairn__id_eq(&got, &r4));
        free(e.data);
    }
    cairn__stack_close(st2);
    cairn__stack_close(st);
    cairn__stack_close(NULL);
    free(a.data);
}

int main(void)
{
    test_seed_init(3);
    dir_a = strdup(test_tmpdir());
    dir_b = strdup(test_tmpdir());
    test_spec_errors();
    test_roles();
    test_promotion();
    test_many();
    test_corruption();
    test_publish();
    test_stats_lock_faults();
    free(dir_a);
    free(dir_b);
    printf("ok\n");
    return 0;
}
