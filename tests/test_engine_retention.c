/*
 * test_engine_retention.c - the store's retention policy, meta/retention
 * (engine/retention.c):
 *  - set, read back, changed, survives reopening, cleared;
 *  - cairn_gc applies it when its options leave a rule unset, and an
 *    option overrides it for one run only (0: the rule off), the report
 *    saying which policy ran; the store's grace counts as the default's;
 *  - a damaged record (not a map, a duration out of range) is
 *    CAIRN_CORRUPT, a rule this version does not know CAIRN_VERSION, and
 *    gc then stops before deleting anything;
 *  - the record replicates: a follower gets it at a write, and one left
 *    behind catches up with it (it is copied as a blob, not walked as a
 *    commit).
 */
#include <sys/stat.h>
#include <time.h>

#include "engine.h"
#include "retention.h"
#include "gcutil.h"
#include "test.h"

static void commit_n(cairn_db *db, int n, int *counter)
{
    for (int i = 0; i < n; i++) {
        cairn_txn *txn;
        char key[32], val[64];
        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        int kl = snprintf(key, sizeof(key), "k%d", (*counter)++ % 7);
        int vl = snprintf(val, sizeof(val), "v%d-%llu", *counter, (unsigned long long)test_seed);
        ASSERT_OK(cairn_txn_put(txn, NULL, key, (size_t)kl, val, (size_t)vl));
        ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    }
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void policy_and_gc(const char *spec, bool durable)
{
    cairn_db *db = gc_open_db(spec);
    cairn_retention r, got;
    cairn_gc_options o;
    cairn_gc_report rep;
    int counter = 0;

    ASSERT_OK(cairn_retention_get(db, &got));
    ASSERT_TRUE(!got.has_keep_last && !got.has_keep_newer && !got.has_grace);
    commit_n(db, 12, &counter);

    memset(&r, 0, sizeof(r));
    r.has_keep_last = true;
    r.keep_last = 8;
    r.has_grace = true;
    r.grace_s = 0;
    ASSERT_OK(cairn_retention_set(db, &r));
    ASSERT_OK(cairn_retention_get(db, &got));
    ASSERT_TRUE(got.has_keep_last && got.keep_last == 8 && got.has_grace && got.grace_s == 0 &&
                !got.has_keep_newer);

    /* gc with no option: the store's policy. */
    cairn_gc_options_init(&o);
    ASSERT_OK(cairn_gc(db, &o, &rep));
    ASSERT_EQ(rep.keep_last, 8);
    ASSERT_EQ(rep.grace_s, 0);
    ASSERT_EQ(rep.commits_kept, 8);
    /* An option overrides it for this run... */
    o.keep_last = 5;
    ASSERT_OK(cairn_gc(db, &o, &rep));
    ASSERT_EQ(rep.commits_kept, 5);
    /* ...and not for the next. */
    commit_n(db, 6, &counter);
    cairn_gc_options_init(&o);
    ASSERT_OK(cairn_gc(db, &o, &rep));
    ASSERT_EQ(rep.keep_last, 8);
    ASSERT_EQ(rep.commits_kept, 8);
    /* 0 turns the rule off for one run: all history left is kept. */
    commit_n(db, 2, &counter);
    o.keep_last = 0;
    ASSERT_OK(cairn_gc(db, &o, &rep));
    ASSERT_EQ(rep.keep_last, 0);
    ASSERT_EQ(rep.commits_kept, 10);
    /* The store's grace: unset gives the default (3600 s), which keeps
     * every commit superseded within the hour. */
    r.has_grace = false;
    r.keep_last = 2;
    ASSERT_OK(cairn_retention_set(db, &r));
    cairn_gc_options_init(&o);
    ASSERT_OK(cairn_gc(db, &o, &rep));
    ASSERT_EQ(rep.grace_s, 3600);
    ASSERT_EQ(rep.commits_kept, 10);
    /* keep_newer from the store, at a clock two hours on: nothing newer. */
    r.has_keep_newer = true;
    r.keep_newer_s = 3 * 3600;
    r.has_grace = true;
    r.grace_s = 0;
    ASSERT_OK(cairn_retention_set(db, &r));
    ASSERT_OK(cairn__gc_at(db, &o, now_us() + 2 * 3600 * 1000000ll, &rep));
    ASSERT_EQ(rep.keep_newer_s, 3 * 3600);
    ASSERT_EQ(rep.commits_kept, 10); /* all newer than 3 h */
    ASSERT_OK(cairn__gc_at(db, &o, now_us() + 4 * 3600 * 1000000ll, &rep));
    ASSERT_EQ(rep.commits_kept, 2); /* none newer than 3 h: keep_last 2 */

    /* Survives reopening (a durable store). */
    if (durable) {
        cairn_close(db);
        db = gc_open_db(spec);
    }
    ASSERT_OK(cairn_retention_get(db, &got));
    ASSERT_TRUE(got.has_keep_last && got.keep_last == 2 && got.has_keep_newer &&
                got.keep_newer_s == 3 * 3600 && got.has_grace && got.grace_s == 0);
    ASSERT_OK(cairn_verify(db, NULL, NULL, NULL)); /* the record's blob was kept */
    /* Out of range is refused; clearing removes the record. */
    r.grace_s = (uint64_t)CAIRN_RETENTION_SECONDS_MAX + 1;
    ASSERT_RC(cairn_retention_set(db, &r), CAIRN_BADARG);
    ASSERT_OK(cairn_retention_set(db, NULL));
    ASSERT_OK(cairn_retention_get(db, &got));
    ASSERT_TRUE(!got.has_keep_last && !got.has_keep_newer && !got.has_grace);
    cairn_id id;
    ASSERT_RC(cairn__stack_ref_get(db->stack, "meta/retention", &id), CAIRN_NOTFOUND);
    cairn_close(db);
    printf("%s: the policy is set, read back, used by gc, overridden for one run, and "
           "survives reopening\n", spec);
}

/* Writes bytes as the record, behind the API's back. */
static void raw_record(cairn_db *db, const void *bytes, size_t len)
{
    ASSERT_OK(cairn__db_write_lock(db));
    ASSERT_OK(cairn__meta_put(db, "meta/retention", bytes, len));
    cairn__db_write_unlock(db);
}

static void damaged(const char *spec)
{
    cairn_db *db = gc_open_db(spec);
    cairn_retention got;
    cairn_gc_options o;
    cairn_gc_report rep;
    int counter = 0;

    commit_n(db, 5, &counter);
    cairn_gc_options_init(&o);
    o.keep_last = 1;
    o.grace_s = 0;
    static const struct {
        const char *bytes;
        size_t len;
        int rc;
    } cases[] = {
        {"\xff\x00", 2, CAIRN_CORRUPT},                                 /* not a map */
        {"\x81\xa9keep_last\xa1x", 13, CAIRN_CORRUPT},                  /* not a number */
        {"\x82\xa9keep_last\x01\xa9keep_last\x02", 23, CAIRN_CORRUPT},  /* twice */
        {"\x81\xa7grace_s\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 18, CAIRN_CORRUPT}, /* range */
        {"\x81\xa9keep_last\x01\x00", 13, CAIRN_CORRUPT},               /* bytes after */
        {"\x81\xa9keep_tags\x01", 12, CAIRN_VERSION},                   /* a newer rule */
        {"\x8f", 1, CAIRN_CORRUPT},                                     /* cut short */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        raw_record(db, cases[i].bytes, cases[i].len);
        ASSERT_RC(cairn_retention_get(db, &got), cases[i].rc);
        ASSERT_DETAIL("meta/retention");
        ASSERT_RC(cairn_gc(db, &o, &rep), cases[i].rc);
        ASSERT_EQ(rep.tiers[0].blobs_freed, 0);
        cairn_verify_report vr;
        ASSERT_RC(cairn_verify(db, NULL, NULL, &vr), CAIRN_VERIFY); /* verify reports it */
        ASSERT_EQ(vr.problems, 1);
    }
    raw_record(db, "\x81\xa9keep_last\x03", 12); /* a good one, by hand */
    ASSERT_OK(cairn_retention_get(db, &got));
    ASSERT_TRUE(got.has_keep_last && got.keep_last == 3);
    cairn_verify_report vr;
    ASSERT_OK(cairn_verify(db, NULL, NULL, &vr));
    cairn_close(db);
    printf("%s: damaged records are CAIRN_CORRUPT, an unknown rule CAIRN_VERSION, gc deletes "
           "nothing then, and verify reports each\n", spec);
}

static void replicated(const char *dir)
{
    char both[1400], a[600], b[600];
    cairn_retention r = {.has_keep_last = true, .keep_last = 4};
    cairn_id in_a, in_b;
    int counter = 0;

    snprintf(a, sizeof(a), "lmdb:%s/rep-a", dir);
    snprintf(b, sizeof(b), "lmdb:%s/rep-b", dir);
    snprintf(both, sizeof(both), "%s>%s", a, b);
    cairn_db *db = gc_open_db(both);
    commit_n(db, 3, &counter);
    ASSERT_OK(cairn_retention_set(db, &r));
    ASSERT_OK(cairn__tier_ref_get(cairn__stack_tier(db->stack, 0), "meta/retention", &in_a));
    ASSERT_OK(cairn__tier_ref_get(cairn__stack_tier(db->stack, 1), "meta/retention", &in_b));
    ASSERT_TRUE(cairn__id_eq(&in_a, &in_b));
    cairn_close(db);
    /* Changed through the primary alone: the follower is left behind. */
    db = gc_open_db(a);
    r.keep_last = 6;
    ASSERT_OK(cairn_retention_set(db, &r));
    commit_n(db, 1, &counter);
    cairn_close(db);
    db = gc_open_db(both);
    ASSERT_EQ(cairn_tiers_behind(db, NULL), 1);
    ASSERT_OK(cairn_sync(db));
    ASSERT_EQ(cairn_tiers_behind(db, NULL), 0);
    ASSERT_OK(cairn__tier_ref_get(cairn__stack_tier(db->stack, 0), "meta/retention", &in_a));
    ASSERT_OK(cairn__tier_ref_get(cairn__stack_tier(db->stack, 1), "meta/retention", &in_b));
    ASSERT_TRUE(cairn__id_eq(&in_a, &in_b));
    ASSERT_OK(cairn_verify(db, NULL, NULL, NULL));
    cairn_close(db);
    db = gc_open_db(b); /* the follower alone reads the new policy */
    cairn_retention got;
    ASSERT_OK(cairn_retention_get(db, &got));
    ASSERT_TRUE(got.has_keep_last && got.keep_last == 6);
    cairn_close(db);
    printf("%s: the policy replicates to a follower, and one left behind catches up\n", both);
}

int main(void)
{
    char dir[512], spec[700];

    test_seed_init(23);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    ASSERT_OK(mkdir(dir, 0700));
    policy_and_gc("mem", false);
    damaged("mem");
    snprintf(spec, sizeof(spec), "lmdb:%s/l", dir);
    policy_and_gc(spec, true);
    snprintf(spec, sizeof(spec), "file:%s/f", dir);
    policy_and_gc(spec, true);
    snprintf(spec, sizeof(spec), "lmdb:%s/d", dir);
    damaged(spec);
    replicated(dir);
    printf("ok\n");
    return 0;
}
