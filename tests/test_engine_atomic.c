/*
 * test_engine_atomic.c - compare-and-swap and counters in transactions
 * (cairn_txn_cas, cairn_txn_incr).
 *
 * 1. A model-based run (seeded; CAIRN_TEST_SEED replays one): rounds of
 *    transactions mixing put, del, cas, cas-absent, cas-delete, incr and
 *    get on a few keys whose values come from a pool chosen to make every
 *    outcome common (matches and mismatches, counters, values that are no
 *    counter, the int64 limits, an out-of-line value, the empty key and
 *    value). The model (tests/model.h) predicts each result; its counter
 *    grammar is written independently of the engine's (strtoll behind a
 *    character check). After every refusal the same transaction is used
 *    again (a get of the key, then more operations), which must work. A
 *    transaction then commits (also after refusals: its other operations
 *    stand) or aborts; after each commit the whole store is compared with
 *    the model, and the store is sometimes closed and reopened. The run
 *    fails unless every kind of outcome happened.
 * 2. Bad input, each refusal taken twice on the same transaction: counter
 *    values that are not one ("", "-", "+1", " 1", "1\n", "0x1", "1.5", a
 *    NUL inside, a long non-number out of line), values and sums outside
 *    int64 (at INT64_MAX and INT64_MIN), canonical output ("007", "-0"),
 *    the empty key, keys of CAIRN_KEY_MAX and one more, values of
 *    CAIRN_VALUE_MAX and one more, bad flags and arguments. Refusals about
 *    the data leave the transaction usable and record nothing; argument
 *    errors make it unusable and the branch stays. Details name the key
 *    (escaped) and never dump a large value.
 * 3. Lost updates: two processes (this program again, --child-incr), and
 *    then two threads with a handle each, each do N increments of one
 *    counter, retrying a begin that finds the store busy (the API does not
 *    wait). The counter must end at exactly 2N higher, and each writer
 *    must see its own results strictly increase.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model.h"
#include "test.h"

/* ---------------------------------------------------------------- helpers */

static cairn_db *open_store(const char *spec)
{
    cairn_db *db;
    ASSERT_OK(cairn_open(spec, NULL, &db));
    return db;
}

/* The whole default keyspace of main equals m. */
static void check_store(cairn_db *db, const model *m)
{
    cairn_snapshot *snap;
    cairn_iter *it;
    cairn_val k, v;
    size_t i = 0;
    int rc;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, 0, &it));
    while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
        if (i >= m->n)
            TEST_FAIL("store has more keys than the model's %zu", m->n);
        ASSERT_MEM_EQ(k.data, k.len, m->v[i].key, m->v[i].key_len);
        ASSERT_MEM_EQ(v.data, v.len, m->v[i].val, m->v[i].val_len);
        i++;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    ASSERT_EQ(i, m->n);
    cairn_iter_close(it);
    cairn_snapshot_close(snap);
}

/* The transaction sees key as the model does. */
static void check_txn_get(cairn_txn *txn, const model *m, const char *key, size_t key_len)
{
    bool found;
    size_t i = model_find(m, key, key_len, &found);
    cairn_val v;
    int rc = cairn_txn_get(txn, NULL, key, key_len, &v);

    if (!found) {
        ASSERT_RC(rc, CAIRN_NOTFOUND);
        return;
    }
    ASSERT_OK(rc);
    ASSERT_MEM_EQ(v.data, v.len, m->v[i].val, m->v[i].val_len);
}

/* The model's counter grammar, written apart from the engine's: a
 * character check, then strtoll. Returns 0, CAIRN_BADINPUT or -ERANGE. */
static int model_counter(const uint8_t *s, size_t len, int64_t *out)
{
    char buf[256];
    char *end;
    size_t i, start = len && s[0] == '-';
    long long v;

    if (len == start)
        return CAIRN_BADINPUT;
    for (i = start; i < len; i++)
        if (!memchr("0123456789", s[i], 10) || s[i] == 0)
            return CAIRN_BADINPUT;
    if (len >= sizeof(buf))
        return -ERANGE; /* digits only, and far too many */
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    ASSERT_TRUE(*end == '\0');
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- 1. model */

static const char *const keys[] = {"", "k1", "k2", "k3", "c1", "c2", "c3", "x\001y\\"};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static char big_value[2000]; /* longer than CAIRN_INLINE_MAX: a value blob */

/* A value from the pool (*len set). */
static const char *pool_value(size_t *len)
{
    static const char *const pool[] = {
        "a", "b", "", "0", "1", "-5", "007", "-0", "12x", "+3", " 4",
        "9223372036854775807", "-9223372036854775808", "9223372036854775808",
    };
    size_t n = sizeof(pool) / sizeof(pool[0]), pick = test_rand_below(n + 1);

    if (pick == n) {
        *len = sizeof(big_value);
        return big_value;
    }
    *len = strlen(pool[pick]);
    return pool[pick];
}

static int64_t pick_delta(void)
{
    static const int64_t deltas[] = {1, 1, 1, -1, 2, -7, 0, INT64_MAX, INT64_MIN, 1000000};
    return deltas[test_rand_below(sizeof(deltas) / sizeof(deltas[0]))];
}

enum { OUT_OK, OUT_CONFLICT, OUT_BADINPUT, OUT_RANGE, N_OUT };
enum { OP_PUT, OP_DEL, OP_CAS, OP_CAS_ABSENT, OP_CAS_DEL, OP_INCR, OP_GET, N_OPS };
static uint64_t outcomes[N_OPS][N_OUT];

/* After a refusal: the transaction must still work and must not have
 * recorded anything. */
static void after_refusal(cairn_txn *txn, const model *view, const char *key, size_t key_len)
{
    check_txn_get(txn, view, key, key_len);
    check_txn_get(txn, view, key, key_len);
}

/* One cas of any kind against the view; returns the outcome. */
static int model_cas(cairn_txn *txn, model *view, int op, const char *key, size_t key_len)
{
    bool found;
    size_t i = model_find(view, key, key_len, &found), exp_len = 0, new_len = 0;
    const char *expected = NULL, *new_val = NULL;
    unsigned flags = op == OP_CAS_ABSENT ? CAIRN_CAS_ABSENT : op == OP_CAS_DEL ? CAIRN_CAS_DELETE : 0;
    bool match;
    int rc;

    if (op != OP_CAS_ABSENT) {
        if (found && test_rand_below(5) < 3) {
            expected = (const char *)view->v[i].val;
            exp_len = view->v[i].val_len;
        } else {
            expected = pool_value(&exp_len);
        }
    }
    if (op != OP_CAS_DEL)
        new_val = pool_value(&new_len);
    match = op == OP_CAS_ABSENT ? !found
                                : found && view->v[i].val_len == exp_len &&
                                      memcmp(view->v[i].val, expected, exp_len) == 0;
    /* Copy expected: it may point into the model entry the put replaces. */
    char *exp_copy = malloc(exp_len + 1);
    ASSERT_TRUE(exp_copy != NULL);
    if (exp_len)
        memcpy(exp_copy, expected, exp_len);
    rc = cairn_txn_cas(txn, NULL, key, key_len, expected ? exp_copy : NULL, exp_len, new_val,
                       new_len, flags);
    free(exp_copy);
    if (!match) {
        ASSERT_RC(rc, CAIRN_CONFLICT);
        ASSERT_DETAIL(found ? "found a" : "found the key absent");
        after_refusal(txn, view, key, key_len);
        return OUT_CONFLICT;
    }
    ASSERT_OK(rc);
    if (op == OP_CAS_DEL)
        model_del(view, key, key_len);
    else
        model_put(view, key, key_len, new_val, new_len);
    return OUT_OK;
}

static int model_incr(cairn_txn *txn, model *view, const char *key, size_t key_len)
{
    bool found;
    size_t i = model_find(view, key, key_len, &found);
    int64_t delta = pick_delta(), now = 0, got = 12345, sum;
    int want = found ? model_counter(view->v[i].val, view->v[i].val_len, &now) : 0;
    int rc = cairn_txn_incr(txn, NULL, key, key_len, delta, &got);
    char text[32];

    if (!want && __builtin_add_overflow(now, delta, &sum))
        want = -ERANGE;
    if (want) {
        ASSERT_RC(rc, want);
        ASSERT_EQ(got, 12345); /* out untouched */
        after_refusal(txn, view, key, key_len);
        return want == -ERANGE ? OUT_RANGE : OUT_BADINPUT;
    }
    ASSERT_OK(rc);
    ASSERT_EQ(got, sum);
    snprintf(text, sizeof(text), "%lld", (long long)sum);
    model_put(view, key, key_len, text, strlen(text));
    check_txn_get(txn, view, key, key_len);
    return OUT_OK;
}

/* One random operation on txn, mirrored in view. */
static void random_op(cairn_txn *txn, model *view)
{
    const char *key = keys[test_rand_below(N_KEYS)];
    size_t key_len = strlen(key), len;
    int op = (int)test_rand_below(N_OPS), out = OUT_OK;
    const char *val;

    switch (op) {
    case OP_PUT:
        val = pool_value(&len);
        ASSERT_OK(cairn_txn_put(txn, NULL, key, key_len, val, len));
        model_put(view, key, key_len, val, len);
        break;
    case OP_DEL:
        ASSERT_OK(cairn_txn_del(txn, NULL, key, key_len));
        model_del(view, key, key_len);
        break;
    case OP_CAS:
    case OP_CAS_ABSENT:
    case OP_CAS_DEL:
        out = model_cas(txn, view, op, key, key_len);
        break;
    case OP_INCR:
        out = model_incr(txn, view, key, key_len);
        break;
    default:
        check_txn_get(txn, view, key, key_len);
        break;
    }
    outcomes[op][out]++;
}

static void model_run(const char *dir, int rounds)
{
    char spec[PATH_MAX + 16];
    model committed = {0};
    cairn_db *db;
    int commits = 0, aborts = 0, reopens = 0;

    memset(big_value, 'v', sizeof(big_value));
    snprintf(spec, sizeof(spec), "lmdb:%s?sync=none", dir);
    db = open_store(spec);
    for (int r = 0; r < rounds; r++) {
        model view = model_copy(&committed);
        int n_ops = 1 + (int)test_rand_below(8);
        cairn_txn *txn;

        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        for (int k = 0; k < n_ops; k++)
            random_op(txn, &view);
        if (test_rand_below(4) == 0) {
            cairn_txn_abort(txn);
            model_free(&view);
            aborts++;
        } else {
            ASSERT_OK(cairn_txn_commit(txn, "round", NULL));
            model_free(&committed);
            committed = view;
            commits++;
        }
        check_store(db, &committed);
        if (test_rand_below(20) == 0) {
            cairn_close(db);
            db = open_store(spec);
            check_store(db, &committed);
            reopens++;
        }
    }
    cairn_close(db);
    model_free(&committed);
    printf("model: %d rounds, %d commits, %d aborts, %d reopens\n", rounds, commits, aborts,
           reopens);
    {
        uint64_t ops = 0;
        for (int op = 0; op < N_OPS; op++)
            for (int out = 0; out < N_OUT; out++)
                ops += outcomes[op][out];
        printf("cairn-summary: model_seeds=1 model_ops=%llu\n", (unsigned long long)ops);
    }
    printf("  cas: %llu ok, %llu conflicts; cas-absent: %llu ok, %llu conflicts; cas-del: %llu ok, "
           "%llu conflicts\n",
           (unsigned long long)outcomes[OP_CAS][OUT_OK],
           (unsigned long long)outcomes[OP_CAS][OUT_CONFLICT],
           (unsigned long long)outcomes[OP_CAS_ABSENT][OUT_OK],
           (unsigned long long)outcomes[OP_CAS_ABSENT][OUT_CONFLICT],
           (unsigned long long)outcomes[OP_CAS_DEL][OUT_OK],
           (unsigned long long)outcomes[OP_CAS_DEL][OUT_CONFLICT]);
    printf("  incr: %llu ok, %llu not a counter, %llu out of range\n",
           (unsigned long long)outcomes[OP_INCR][OUT_OK],
           (unsigned long long)outcomes[OP_INCR][OUT_BADINPUT],
           (unsigned long long)outcomes[OP_INCR][OUT_RANGE]);
    /* Every path was taken, or the run proved less than it claims. */
    for (int op = OP_CAS; op <= OP_CAS_DEL; op++) {
        ASSERT_TRUE(outcomes[op][OUT_OK] > 0);
        ASSERT_TRUE(outcomes[op][OUT_CONFLICT] > 0);
    }
    ASSERT_TRUE(outcomes[OP_INCR][OUT_OK] > 0);
    ASSERT_TRUE(outcomes[OP_INCR][OUT_BADINPUT] > 0);
    ASSERT_TRUE(outcomes[OP_INCR][OUT_RANGE] > 0);
    ASSERT_TRUE(commits > 0 && aborts > 0 && reopens > 0);
}

/* ---------------------------------------------------------------- 2. bad input */

/* Commits key = val on main. */
static void set_value(cairn_db *db, const void *key, size_t key_len, const void *val,
                      size_t val_len)
{
    cairn_txn *txn;
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_put(txn, NULL, key, key_len, val, val_len));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
}

/* Reads key from main into a static buffer. OUT: *len. */
static const char *get_value(cairn_db *db, const void *key, size_t key_len, size_t *len)
{
    static char buf[8192];
    cairn_snapshot *snap;
    cairn_val v;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_get(snap, NULL, key, key_len, &v));
    ASSERT_TRUE(v.len < sizeof(buf));
    memcpy(buf, v.data, v.len);
    buf[v.len] = '\0';
    *len = v.len;
    cairn_snapshot_close(snap);
    return buf;
}

/* incr of a key holding val is refused with want (twice on the same
 * transaction), the detail naming the key (and needle, if not NULL), and
 * the value stays. */
static void incr_refused_saying(cairn_db *db, const char *val, size_t val_len, int64_t delta,
                                int want, const char *needle)
{
    cairn_txn *txn;
    int64_t out = 77;
    size_t len;
    const char *now;

    set_value(db, "ctr", 3, val, val_len);
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (int twice = 0; twice < 2; twice++) {
        ASSERT_RC(cairn_txn_incr(txn, NULL, "ctr", 3, delta, &out), want);
        ASSERT_DETAIL("key 'ctr'");
        if (needle)
            ASSERT_DETAIL(needle);
        ASSERT_TRUE(strlen(cairn_errdetail()) < 400);
        ASSERT_EQ(out, 77);
    }
    ASSERT_OK(cairn_txn_put(txn, NULL, "other", 5, "x", 1)); /* still usable */
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    now = get_value(db, "ctr", 3, &len);
    ASSERT_MEM_EQ(now, len, val, val_len);
}

static void incr_refused(cairn_db *db, const char *val, size_t val_len, int64_t delta, int want)
{
    incr_refused_saying(db, val, val_len, delta, want, NULL);
}

/* incr of a key holding val by delta gives want, stored canonically. */
static void incr_gives(cairn_db *db, const char *val, int64_t delta, const char *want)
{
    cairn_txn *txn;
    int64_t out;
    size_t len;
    const char *now;

    if (val)
        set_value(db, "ctr", 3, val, strlen(val));
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_incr(txn, NULL, "ctr", 3, delta, &out));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    now = get_value(db, "ctr", 3, &len);
    if (strcmp(now, want) != 0)
        TEST_FAIL("incr of '%s' by %lld gave '%s', want '%s'", val ? val : "(absent)",
                  (long long)delta, now, want);
    ASSERT_EQ(out, strtoll(want, NULL, 10));
}

static void counters(cairn_db *db)
{
    static const char *const not_counters[] = {"", "-", "+1", " 1", "1 ", "1\n", "0x1", "1.5",
                                               "--1", "1-", "abc", "99999999999999999999x"};
    char *long_text;

    for (size_t i = 0; i < sizeof(not_counters) / sizeof(not_counters[0]); i++)
        incr_refused(db, not_counters[i], strlen(not_counters[i]), 1, CAIRN_BADINPUT);
    incr_refused_saying(db, "12\0003", 4, 1, CAIRN_BADINPUT, "'12\\x003'");
    /* An out-of-line value that is no counter: refused, not dumped. */
    ASSERT_TRUE((long_text = malloc(5000)) != NULL);
    memset(long_text, '7', 5000);
    long_text[4999] = 'z';
    incr_refused_saying(db, long_text, 5000, 1, CAIRN_BADINPUT, "7777... (5000 bytes)");
    long_text[4999] = '7';
    incr_refused_saying(db, long_text, 5000, 1, -ERANGE, "(5000 bytes)");
    free(long_text);
    /* The limits. */
    incr_refused_saying(db, "9223372036854775807", 19, 1, -ERANGE, "9223372036854775807 + 1");
    incr_refused_saying(db, "-9223372036854775808", 20, -1, -ERANGE, "-9223372036854775808 - 1");
    incr_refused(db, "9223372036854775808", 19, -1, -ERANGE);
    incr_refused(db, "-9223372036854775809", 20, 1, -ERANGE);
    incr_refused(db, "1", 1, INT64_MAX, -ERANGE);
    incr_refused_saying(db, "-2", 2, INT64_MIN, -ERANGE, "-2 - 9223372036854775808");
    incr_gives(db, "9223372036854775806", 1, "9223372036854775807");
    incr_gives(db, "-9223372036854775807", -1, "-9223372036854775808");
    incr_gives(db, "9223372036854775807", INT64_MIN, "-1");
    incr_gives(db, "-1", INT64_MIN + 1, "-9223372036854775808");
    /* Canonical output; leading zeros accepted. */
    incr_gives(db, "007", 0, "7");
    incr_gives(db, "-0", 0, "0");
    incr_gives(db, "-007", 1, "-6");
    incr_gives(db, "00000000000000000000000000000000042", 1, "43");
    incr_gives(db, "5", -5, "0");
    /* Absent counts as 0. */
    {
        cairn_txn *txn;
        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        ASSERT_OK(cairn_txn_del(txn, NULL, "ctr", 3));
        ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    }
    incr_gives(db, NULL, -3, "-3");
    printf("counters: refusals and limits ok\n");
}

/* A sticky error: every later call but abort is CAIRN_TXN_UNUSABLE, and
 * the branch stays at base. */
static void expect_unusable(cairn_db *db, cairn_txn *txn)
{
    cairn_id base, head;
    cairn_val v;
    int64_t n;
    bool had = cairn_txn_base(txn, &base);

    for (int twice = 0; twice < 2; twice++) {
        ASSERT_RC(cairn_txn_cas(txn, NULL, "a", 1, NULL, 0, "v", 1, CAIRN_CAS_ABSENT),
                  CAIRN_TXN_UNUSABLE);
        ASSERT_RC(cairn_txn_incr(txn, NULL, "a", 1, 1, &n), CAIRN_TXN_UNUSABLE);
        ASSERT_RC(cairn_txn_get(txn, NULL, "a", 1, &v), CAIRN_TXN_UNUSABLE);
    }
    ASSERT_RC(cairn_txn_commit(txn, NULL, NULL), CAIRN_TXN_UNUSABLE);
    ASSERT_TRUE(had);
    ASSERT_OK(cairn_resolve(db, NULL, &head));
    ASSERT_MEM_EQ(head.bytes, 32, base.bytes, 32);
}

static void bad_arguments(cairn_db *db)
{
    static char key[CAIRN_KEY_MAX + 1];
    cairn_txn *txn;
    int64_t n;
    struct {
        const void *exp;
        size_t exp_len;
        const void *val;
        size_t val_len;
        unsigned flags;
        int want;
    } cases[] = {
        {"a", 1, "b", 1, 0x4, CAIRN_BADARG},
        {"a", 1, "b", 1, CAIRN_CAS_ABSENT, CAIRN_BADARG},
        {NULL, 3, "b", 1, 0, CAIRN_BADARG},
        {"a", 1, "b", 1, CAIRN_CAS_DELETE, CAIRN_BADARG},
        {"a", 1, NULL, 2, 0, CAIRN_BADARG},
        {"a", 1, "b", (size_t)CAIRN_VALUE_MAX + 1, 0, CAIRN_VALTOOBIG},
    };

    memset(key, 'k', sizeof(key));
    set_value(db, "a", 1, "a", 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        ASSERT_RC(cairn_txn_cas(txn, NULL, "a", 1, cases[i].exp, cases[i].exp_len, cases[i].val,
                                cases[i].val_len, cases[i].flags),
                  cases[i].want);
        expect_unusable(db, txn);
    }
    /* A key one byte too long, in cas and in incr. */
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_RC(cairn_txn_cas(txn, NULL, key, sizeof(key), NULL, 0, "v", 1, CAIRN_CAS_ABSENT),
              CAIRN_KEYTOOBIG);
    expect_unusable(db, txn);
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_RC(cairn_txn_incr(txn, NULL, key, sizeof(key), 1, &n), CAIRN_KEYTOOBIG);
    expect_unusable(db, txn);
    /* A bad keyspace name. */
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_RC(cairn_txn_incr(txn, CAIRN_CATALOG, "a", 1, 1, &n), CAIRN_BADARG);
    expect_unusable(db, txn);
    printf("bad arguments: refused, transaction unusable, branch kept\n");
}

static void limits(cairn_db *db)
{
    static char key[CAIRN_KEY_MAX];
    char *huge, *huge2;
    cairn_txn *txn;
    cairn_snapshot *snap;
    cairn_val v;
    int64_t n;

    memset(key, 'K', sizeof(key));
    ASSERT_TRUE((huge = malloc(CAIRN_VALUE_MAX)) != NULL);
    ASSERT_TRUE((huge2 = malloc(CAIRN_VALUE_MAX)) != NULL);
    memset(huge, 'h', CAIRN_VALUE_MAX);
    memset(huge2, 'h', CAIRN_VALUE_MAX);
    huge2[CAIRN_VALUE_MAX - 1] = 'H';

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    /* The empty key is a key like any other. */
    ASSERT_OK(cairn_txn_cas(txn, NULL, "", 0, NULL, 0, "", 0, CAIRN_CAS_ABSENT));
    ASSERT_RC(cairn_txn_cas(txn, NULL, "", 0, NULL, 0, "x", 1, CAIRN_CAS_ABSENT), CAIRN_CONFLICT);
    ASSERT_DETAIL("key '': expected the key absent, found a value (0 bytes: '')");
    ASSERT_RC(cairn_txn_incr(txn, NULL, "", 0, 1, &n), CAIRN_BADINPUT); /* "" is no counter */
    ASSERT_OK(cairn_txn_cas(txn, NULL, "", 0, "", 0, "41", 2, 0));
    ASSERT_OK(cairn_txn_incr(txn, NULL, "", 0, 1, &n));
    ASSERT_EQ(n, 42);
    /* The longest key, and the largest values as expected and new. */
    ASSERT_OK(cairn_txn_cas(txn, NULL, key, sizeof(key), NULL, 0, huge, CAIRN_VALUE_MAX,
                            CAIRN_CAS_ABSENT));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (int twice = 0; twice < 2; twice++) {
        ASSERT_RC(cairn_txn_cas(txn, NULL, key, sizeof(key), huge2, CAIRN_VALUE_MAX, "s", 1, 0),
                  CAIRN_CONFLICT);
        ASSERT_TRUE(strlen(cairn_errdetail()) < 800); /* 64 MiB not dumped */
        ASSERT_DETAIL("(67108864 bytes)");
    }
    ASSERT_OK(cairn_txn_cas(txn, NULL, key, sizeof(key), huge, CAIRN_VALUE_MAX, huge2,
                            CAIRN_VALUE_MAX, 0));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_get(snap, NULL, key, sizeof(key), &v));
    ASSERT_MEM_EQ(v.data, v.len, huge2, (size_t)CAIRN_VALUE_MAX);
    ASSERT_OK(cairn_get(snap, NULL, "", 0, &v));
    ASSERT_MEM_EQ(v.data, v.len, "42", 2);
    cairn_snapshot_close(snap);

    /* cas-delete of the largest value; a key with control bytes is
     * escaped in the detail. */
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_cas(txn, NULL, key, sizeof(key), huge2, CAIRN_VALUE_MAX, NULL, 0,
                            CAIRN_CAS_DELETE));
    ASSERT_RC(cairn_txn_cas(txn, NULL, key, sizeof(key), huge2, CAIRN_VALUE_MAX, NULL, 0,
                            CAIRN_CAS_DELETE),
              CAIRN_CONFLICT);
    ASSERT_DETAIL("found the key absent");
    ASSERT_RC(cairn_txn_cas(txn, NULL, "a\001\n\\\xff", 5, "x", 1, "y", 1, 0), CAIRN_CONFLICT);
    ASSERT_DETAIL("key 'a\\x01\\x0a\\\\\\xff': expected the value 'x', found the key absent");
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_RC(cairn_get(snap, NULL, key, sizeof(key), &v), CAIRN_NOTFOUND);
    cairn_snapshot_close(snap);
    free(huge);
    free(huge2);
    printf("limits: empty key, CAIRN_KEY_MAX key, CAIRN_VALUE_MAX values ok\n");
}

/* ---------------------------------------------------------------- 3. lost updates */

/* Begins a transaction, retrying while another writer holds the lock (as
 * a caller of the API must: begin never waits). */
static cairn_txn *begin_retrying(cairn_db *db, uint64_t *busy)
{
    cairn_txn *txn;
    int rc;

    while ((rc = cairn_txn_begin(db, NULL, &txn)) == CAIRN_BUSY) {
        (*busy)++;
        sched_yield();
    }
    ASSERT_OK(rc);
    return txn;
}

/* What one writer of the race saw. */
typedef struct race_stats {
    uint64_t busy;  /* begins refused because the other writer held the lock */
    uint64_t jumps; /* results more than one above the previous: the other
                       writer committed in between (the loops interleaved) */
} race_stats;

/* n increments of "counter" on db, one commit each; each result must
 * exceed the one before. */
static race_stats incr_loop(cairn_db *db, int n)
{
    race_stats rs = {0, 0};
    int64_t last = INT64_MIN, now;

    for (int i = 0; i < n; i++) {
        cairn_txn *txn = begin_retrying(db, &rs.busy);
        ASSERT_OK(cairn_txn_incr(txn, NULL, "counter", 7, 1, &now));
        ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
        ASSERT_TRUE(now > last);
        if (i > 0 && now > last + 1)
            rs.jumps++;
        last = now;
    }
    return rs;
}

/* --child-incr SPEC N: a process of its own doing incr_loop, once its
 * stdin (the parent's start gate, a pipe) reaches its end, so that both
 * children start together. */
static int child_incr(const char *spec, int n)
{
    cairn_db *db = open_store(spec);
    race_stats rs;
    char c;

    while (read(STDIN_FILENO, &c, 1) > 0)
        ;
    rs = incr_loop(db, n);
    cairn_close(db);
    printf("child %d: %d increments, %llu busy refusals, %llu interleavings\n", (int)getpid(),
           n, (unsigned long long)rs.busy, (unsigned long long)rs.jumps);
    return 0;
}

static int64_t read_counter(const char *spec)
{
    cairn_db *db = open_store(spec);
    size_t len;
    const char *text = get_value(db, "counter", 7, &len);
    int64_t v = strtoll(text, NULL, 10);
    cairn_close(db);
    return v;
}

static void *thread_main(void *arg)
{
    const char *spec = ((const char **)arg)[0];
    int n = atoi(((const char **)arg)[1]);
    cairn_db *db = open_store(spec); /* a handle of its own */
    race_stats rs = incr_loop(db, n);
    cairn_close(db);
    printf("thread: %d increments, %llu busy refusals, %llu interleavings\n", n,
           (unsigned long long)rs.busy, (unsigned long long)rs.jumps);
    return NULL;
}

static void lost_updates(const char *dir, int n)
{
    char spec[PATH_MAX + 16], count[16];
    const char *args[2] = {spec, count};
    pid_t pids[2];
    int gate[2];
    pthread_t th[2];
    int64_t start;

    snprintf(spec, sizeof(spec), "lmdb:%s?sync=none", dir);
    snprintf(count, sizeof(count), "%d", n);
    {
        cairn_db *db = open_store(spec);
        set_value(db, "counter", 7, "1000", 4);
        cairn_close(db);
    }
    fflush(NULL);
    ASSERT_TRUE(pipe(gate) == 0);
    for (int p = 0; p < 2; p++) {
        char *argv[] = {"test_engine_atomic", "--child-incr", spec, count, NULL};
        ASSERT_TRUE((pids[p] = fork()) >= 0);
        if (pids[p] == 0) {
            dup2(gate[0], STDIN_FILENO);
            close(gate[0]);
            close(gate[1]);
            execv("/proc/self/exe", argv);
            _exit(127);
        }
    }
    close(gate[0]);
    usleep(100000); /* let both open the store; correctness does not depend on it */
    close(gate[1]);
    for (int p = 0; p < 2; p++) {
        int status;
        ASSERT_TRUE(waitpid(pids[p], &status, 0) == pids[p]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            TEST_FAIL("child incr process failed (status 0x%x)", status);
    }
    ASSERT_EQ(read_counter(spec), 1000 + 2 * n);
    printf("processes: 2 x %d increments: counter %lld\n", n, (long long)(1000 + 2 * n));

    start = read_counter(spec);
    for (int t = 0; t < 2; t++)
        ASSERT_TRUE(pthread_create(&th[t], NULL, thread_main, args) == 0);
    for (int t = 0; t < 2; t++)
        ASSERT_TRUE(pthread_join(th[t], NULL) == 0);
    ASSERT_EQ(read_counter(spec), start + 2 * n);
    printf("threads: 2 handles x %d increments: counter %lld\n", n, (long long)(start + 2 * n));
}

int main(int argc, char **argv)
{
    const char *scale_env = getenv("CAIRN_TEST_SCALE");
    double scale = scale_env && atof(scale_env) > 0 ? atof(scale_env) : 1.0;
    char *dir;
    cairn_db *db;
    char spec[PATH_MAX + 16];

    if (argc == 4 && strcmp(argv[1], "--child-incr") == 0)
        return child_incr(argv[2], atoi(argv[3]));
    test_seed_init(20240611);

    ASSERT_TRUE((dir = strdup(test_tmpdir())) != NULL);
    model_run(dir, (int)(400 * scale));
    free(dir);

    ASSERT_TRUE((dir = strdup(test_tmpdir())) != NULL);
    snprintf(spec, sizeof(spec), "lmdb:%s?sync=none", dir);
    db = open_store(spec);
    counters(db);
    bad_arguments(db);
    limits(db);
    cairn_close(db);
    free(dir);

    ASSERT_TRUE((dir = strdup(test_tmpdir())) != NULL);
    lost_updates(dir, (int)(500 * scale));
    free(dir);
    printf("ok\n");
    return 0;
}
