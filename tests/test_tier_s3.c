/*
 * test_tier_s3.c - the S3 tier against a real S3 service (Ceph's RADOS
 * Gateway, started by scripts/s3-server.sh run; ctest runs this program
 * under it, which exports AWS_* and CAIRN_S3_BUCKET). Each part works under
 * a prefix of its own:
 *  - a randomized model of blobs, refs and reopens, with a second handle
 *    reading what the first wrote;
 *  - the head: a damaged or foreign head is refused, never half-read;
 *  - fencing: a second writer takes over and the first gets CAIRN_FENCED,
 *    every time after; racing writers in threads lose no acknowledged ref;
 *  - errors that must be clear at once: a missing bucket, a wrong secret
 *    (never printed), a read-only open of an empty prefix;
 *  - a commit costs two PUTs (its pack and the head), a sync of nothing none.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "client.h"
#include "id.h"
#include "s3_int.h"
#include "stack.h"
#include "test.h"
#include "tier.h"
#include "tierutil.h"

static char bucket[64];
static char spec_base[256];

static void make_spec(char *out, size_t cap, const char *prefix, const char *opts)
{
    snprintf(out, cap, "s3://%s/%s-%ld%s%s", bucket, prefix, (long)getpid(), opts[0] ? "?" : "",
             opts);
}

static cairn_tier *open_tier(const char *spec, unsigned flags)
{
    cairn_tier *t;
    ASSERT_OK(cairn__tier_open(spec, flags, &t));
    return t;
}

static uint64_t puts_of(cairn_tier *t)
{
    return atomic_load(&cairn__s3_counters(((s3_tier *)t)->client)->requests[CAIRN_S3_PUT]);
}

/* ---------------------------------------------------------------- model */

#define N_BLOBS 64
#define N_REFS 4

static void test_model(void)
{
    char spec[256];
    make_spec(spec, sizeof(spec), "model", "");
    test_blob blobs[N_BLOBS];
    bool held[N_BLOBS] = {false};
    bool ref_set[N_REFS] = {false};
    cairn_id ref_val[N_REFS];
    for (size_t i = 0; i < N_BLOBS; i++)
        blobs[i] = make_blob(test_seed * 1000 + i, 16 + test_rand_below(3000));

    cairn_tier *w = open_tier(spec, 0);
    ASSERT_OK(cairn__tier_writer_lock(w, true));
    for (int op = 0; op < 300; op++) {
        unsigned what = (unsigned)test_rand_below(100);
        if (what < 35) { /* put a few, maybe again */
            cairn_blob b[8];
            size_t k = 1 + test_rand_below(8);
            for (size_t j = 0; j < k; j++) {
                size_t i = test_rand_below(N_BLOBS);
                b[j] = as_blob(&blobs[i]);
                held[i] = true;
            }
            ASSERT_OK(cairn__tier_put_many(w, b, k));
        } else if (what < 60) { /* read a batch: held ones exact, others absent */
            size_t pick[16];
            size_t k = 1 + test_rand_below(16);
            for (size_t j = 0; j < k; j++)
                pick[j] = test_rand_below(N_BLOBS);
            expect_get(w, blobs, pick, k, held, op);
        } else if (what < 80) { /* move a ref by CAS, sometimes with a wrong old value */
            size_t r = test_rand_below(N_REFS);
            char name[32];
            snprintf(name, sizeof(name), "heads/r%zu", r);
            cairn_id new_id = blobs[test_rand_below(N_BLOBS)].id;
            bool wrong = test_rand_below(5) == 0;
            cairn_id bogus;
            memset(&bogus, 0xab, sizeof(bogus));
            const cairn_id *old = wrong ? &bogus : ref_set[r] ? &ref_val[r] : NULL;
            int rc = cairn__tier_ref_cas(w, name, old, &new_id);
            if (wrong) {
                ASSERT_RC(rc, CAIRN_CONFLICT);
            } else {
                ASSERT_OK(rc);
                ref_set[r] = true;
                ref_val[r] = new_id;
            }
        } else if (what < 85) { /* delete a ref */
            size_t r = test_rand_below(N_REFS);
            char name[32];
            snprintf(name, sizeof(name), "heads/r%zu", r);
            if (ref_set[r]) {
                ASSERT_OK(cairn__tier_ref_cas(w, name, &ref_val[r], NULL));
                ref_set[r] = false;
            } else {
                ASSERT_RC(cairn__tier_ref_cas(w, name, &ref_val[0], NULL), CAIRN_CONFLICT);
            }
        } else if (what < 92) {
            ASSERT_OK(cairn__tier_sync(w));
        } else { /* a reader in another handle sees exactly the synced state */
            ASSERT_OK(cairn__tier_sync(w));
            /* a ref move names the uploaded packs: move a scratch ref */
            cairn_id scratch = blobs[op % N_BLOBS].id;
            cairn_id prev;
            bool missing = cairn__tier_ref_get(w, "scratch", &prev) == CAIRN_NOTFOUND;
            ASSERT_OK(cairn__tier_ref_cas(w, "scratch", missing ? NULL : &prev, &scratch));
            cairn_tier *r = open_tier(spec, CAIRN_RDONLY);
            size_t pick[N_BLOBS];
            for (size_t i = 0; i < N_BLOBS; i++)
                pick[i] = i;
            expect_get(r, blobs, pick, N_BLOBS, held, op);
            for (size_t k = 0; k < N_REFS; k++) {
                char name[32];
                cairn_id got;
                snprintf(name, sizeof(name), "heads/r%zu", k);
                int rc = cairn__tier_ref_get(r, name, &got);
                if (ref_set[k]) {
                    ASSERT_OK(rc);
                    ASSERT_TRUE(cairn__id_eq(&got, &ref_val[k]));
                } else {
                    ASSERT_RC(rc, CAIRN_NOTFOUND);
                }
            }
            cairn__tier_close(r);
        }
    }
    cairn__tier_close(w);
    for (size_t i = 0; i < N_BLOBS; i++)
        free(blobs[i].data);
    printf("model: 300 operations, readers in other handles agree\n");
}

/* ---------------------------------------------------------------- costs */

static void test_costs(void)
{
    char spec[256];
    make_spec(spec, sizeof(spec), "costs", "");
    cairn_tier *t = open_tier(spec, 0);
    ASSERT_OK(cairn__tier_writer_lock(t, true)); /* the takeover: format, head */
    test_blob b[3] = {make_blob(1, 100), make_blob(2, 200), make_blob(3, 300)};
    cairn_blob cb[3] = {as_blob(&b[0]), as_blob(&b[1]), as_blob(&b[2])};
    uint64_t before = puts_of(t);
    ASSERT_OK(cairn__tier_publish(t, cb, 3, "heads/main", NULL, &b[0].id));
    ASSERT_EQ(puts_of(t) - before, 2); /* the pack, the head */
    before = puts_of(t);
    ASSERT_OK(cairn__tier_sync(t));
    ASSERT_EQ(puts_of(t) - before, 0);
    /* blobs already held are not uploaded again: only the head moves */
    ASSERT_OK(cairn__tier_publish(t, cb, 3, "heads/main", &b[0].id, &b[1].id));
    ASSERT_EQ(puts_of(t) - before, 1);
    cairn__tier_close(t);
    /* Another handle (a new process) on the store: taking it over costs no
     * request of its own; its first commit is two PUTs too. */
    t = open_tier(spec, 0);
    ASSERT_OK(cairn__tier_writer_lock(t, true));
    ASSERT_EQ(puts_of(t), 0);
    test_blob nb = make_blob(4, 400);
    cairn_blob ncb = as_blob(&nb);
    ASSERT_OK(cairn__tier_publish(t, &ncb, 1, "heads/main", &b[1].id, &nb.id));
    ASSERT_EQ(puts_of(t), 2);
    free(nb.data);
    cairn__tier_close(t);
    for (int i = 0; i < 3; i++)
        free(b[i].data);
    printf("costs: a commit is two PUTs, a repeat one, an idle sync none; a new writer two\n");
}

/* ---------------------------------------------------------------- index cache */

static uint64_t gets_of(cairn_tier *t)
{
    return atomic_load(&cairn__s3_counters(((s3_tier *)t)->client)->requests[CAIRN_S3_GET]);
}

/* A reader restarted with a file cache in front finds the packs' indexes
 * there: its S3 requests are the head's GET and nothing for the directory. */
static void test_index_cache(void)
{
    char spec[256], stack_spec[512];
    make_spec(spec, sizeof(spec), "ixcache", "");
    cairn_tier *w = open_tier(spec, 0);
    test_blob b[4];
    for (int i = 0; i < 4; i++) {
        b[i] = make_blob(500 + (uint64_t)i, 1000);
        cairn_blob cb = as_blob(&b[i]);
        ASSERT_OK(cairn__tier_publish(w, &cb, 1, "heads/main", i ? &b[i - 1].id : NULL, &b[i].id));
    }
    cairn__tier_close(w);
    snprintf(stack_spec, sizeof(stack_spec), "file:%s/ixcache?capacity=16M>%s", test_tmpdir(), spec);
    cairn_id ids[4];
    for (int i = 0; i < 4; i++)
        ids[i] = b[i].id;
    for (int round = 0; round < 2; round++) {
        cairn_stack *st;
        bool has[4];
        ASSERT_OK(cairn__stack_open(stack_spec, CAIRN_RDONLY, &st));
        cairn_tier *s3 = cairn__stack_tier(st, 1);
        ASSERT_EQ(gets_of(s3), 1); /* the head */
        ASSERT_OK(cairn__tier_has_many(s3, ids, 4, has));
        for (int i = 0; i < 4; i++)
            ASSERT_TRUE(has[i]);
        /* first run: four index GETs, one per pack; then none */
        ASSERT_EQ(gets_of(s3), round == 0 ? 5 : 1);
        cairn__stack_close(st);
    }
    for (int i = 0; i < 4; i++)
        free(b[i].data);
    printf("index cache: a restarted reader gets the pack indexes from its file cache\n");
}

/* ---------------------------------------------------------------- merging */

static int count_key(void *ctx, const char *key, uint64_t size)
{
    (void)key;
    (void)size;
    (*(size_t *)ctx)++;
    return 0;
}

/* Objects under PREFIX/packs/ as S3 lists them. */
static size_t packs_listed(cairn_tier *t)
{
    s3_tier *st = (s3_tier *)t;
    char prefix[256];
    size_t n = 0;
    snprintf(prefix, sizeof(prefix), "%spacks/", st->prefix);
    ASSERT_OK(cairn__s3_list(st->client, prefix, count_key, &n));
    return n;
}

static const cairn_id *ids_of(const test_blob *b, size_t n)
{
    static cairn_id ids[64];
    for (size_t i = 0; i < n && i < 64; i++)
        ids[i] = b[i].id;
    return ids;
}

/* Small packs are merged so that a reader knows few; a merged-away pack
 * stays readable for the grace period, then the writer deletes it; a
 * reader holding an old head finds its blobs through a refresh. */
static void test_merge(void)
{
    enum { COMMITS = 14, MERGE_AT = 3 };
    char spec[256];
    make_spec(spec, sizeof(spec), "merge", "merge_at=3&grace=3");
    cairn_tier *w = open_tier(spec, 0), *old_reader = NULL;
    s3_tier *ws = (s3_tier *)w;
    test_blob b[COMMITS];
    bool held[COMMITS], checked_in_grace = false;
    size_t pick[COMMITS];
    for (int i = 0; i < COMMITS; i++) {
        b[i] = make_blob(900 + (uint64_t)i, 300 + (size_t)i);
        cairn_blob cb = as_blob(&b[i]);
        ASSERT_OK(cairn__tier_publish(w, &cb, 1, "heads/main", i ? &b[i - 1].id : NULL, &b[i].id));
        ASSERT_TRUE(ws->head.n_packs <= MERGE_AT + 1);
        held[i] = true;
        pick[i] = (size_t)i;
        if (i == 1) { /* a reader that knows the first two packs */
            bool has[2];
            old_reader = open_tier(spec, CAIRN_RDONLY);
            ASSERT_OK(cairn__tier_has_many(old_reader, ids_of(b, 2), 2, has));
        }
        if (ws->merges == 1 && !checked_in_grace) {
            /* just merged: within the grace period the old packs serve */
            bool early[COMMITS] = {true, true};
            expect_get(old_reader, b, pick, 2, early, i);
            checked_in_grace = true;
        }
    }
    ASSERT_TRUE(ws->merges > 0 && checked_in_grace);
    /* After the grace period, a commit deletes the retired packs. */
    sleep(4);
    test_blob last = make_blob(999, 50);
    cairn_blob cl = as_blob(&last);
    ASSERT_OK(cairn__tier_publish(w, &cl, 1, "heads/main", &b[COMMITS - 1].id, &last.id));
    ASSERT_OK(cairn__tier_ref_cas(w, "heads/other", NULL, &last.id)); /* drops deleted lines */
    ASSERT_EQ(packs_listed(w), ws->head.n_packs + ws->head.n_retired);
    /* The old reader's packs are gone; it reads everything through a refresh. */
    expect_get(old_reader, b, pick, COMMITS, held, 0);
    cairn_tier *r = open_tier(spec, CAIRN_RDONLY);
    expect_get(r, b, pick, COMMITS, held, 1);
    ASSERT_TRUE(holds(r, &last));
    printf("merge: %d commits, %llu merges, at most %d packs named; retired packs deleted after "
           "grace; an old reader recovers\n",
           COMMITS + 1, (unsigned long long)ws->merges, MERGE_AT + 1);
    cairn__tier_close(r);
    cairn__tier_close(old_reader);
    cairn__tier_close(w);
    for (int i = 0; i < COMMITS; i++)
        free(b[i].data);
    free(last.data);
}

/* A merged pack keeps what was written together together, oldest pack
 * first and each pack's blobs in their own order (not by id, not by pack
 * size), so that a scan's neighbouring leaves stay one ranged GET apart.
 * Each commit writes BLOBS_PER blobs; later commits write smaller ones, so
 * that an order by size would put them first. */
static void test_merge_order(void)
{
    enum { COMMITS = 6, BLOBS_PER = 4, N = COMMITS * BLOBS_PER };
    char spec[256];
    make_spec(spec, sizeof(spec), "mergeorder", "merge_at=3");
    cairn_tier *w = open_tier(spec, 0);
    s3_tier *ws = (s3_tier *)w;
    test_blob b[N];
    for (int c = 0; c < COMMITS; c++) {
        cairn_blob cb[BLOBS_PER];
        for (int k = 0; k < BLOBS_PER; k++) {
            int i = c * BLOBS_PER + k;
            b[i] = make_blob(4000 + (uint64_t)i, 2000 - 50 * (size_t)i);
            cb[k] = as_blob(&b[i]);
        }
        ASSERT_OK(cairn__tier_publish(w, cb, BLOBS_PER, "heads/main",
                                      c ? &b[(c - 1) * BLOBS_PER].id : NULL, &b[c * BLOBS_PER].id));
    }
    ASSERT_TRUE(ws->merges > 0);
    /* In every pack, the offsets of the blobs it holds rise with the order
     * they were written in. */
    size_t in_merged = 0;
    pthread_mutex_lock(&ws->mu);
    ASSERT_OK(cairn__s3_dir_ensure(ws));
    for (int i = 0; i < N; i++) {
        const s3_dir_entry *e = cairn__s3_dir_find(ws, &b[i].id);
        ASSERT_TRUE(e != NULL);
        for (int j = i + 1; j < N; j++) {
            const s3_dir_entry *f = cairn__s3_dir_find(ws, &b[j].id);
            ASSERT_TRUE(f != NULL);
            if (f->pack != e->pack)
                continue;
            in_merged += j / BLOBS_PER != i / BLOBS_PER;
            if (f->offset < e->offset)
                TEST_FAIL("blob %d (commit %d) lies before blob %d (commit %d) in pack %s", j,
                          j / BLOBS_PER, i, i / BLOBS_PER, ws->dir_packs[e->pack].name);
        }
    }
    pthread_mutex_unlock(&ws->mu);
    ASSERT_TRUE(in_merged > 0); /* some pack holds blobs of two commits */
    unsigned long long merges = (unsigned long long)ws->merges;
    cairn__tier_close(w);
    for (int i = 0; i < N; i++)
        free(b[i].data);
    printf("merge order: %llu merges; merged packs keep the order blobs were written in\n",
           merges);
}

/* Lines in the proxy's log once it has at least `want` (the proxy writes
 * a line after relaying the response, so it may trail the client a
 * little), or after 5 s whatever it has. */
static size_t lines_in(const char *path, size_t want)
{
    size_t n = 0;
    for (int tries = 0; tries < 500 && n < want; tries++) {
        FILE *f = fopen(path, "r");
        int ch;
        ASSERT_TRUE(f != NULL);
        for (n = 0; (ch = fgetc(f)) != EOF;)
            n += ch == '\n';
        fclose(f);
        if (n < want)
            usleep(10000);
    }
    return n;
}

/* Opening a stack reads the head once: the check that accepts the spec
 * and the open share the client and the answer (counted at a proxy, which
 * sees every connection the stack makes). */
static void test_open_cost(void)
{
    char spec[256], endpoint[64], opts[128], stack_spec[400], log[512];
    make_spec(spec, sizeof(spec), "opencost", "");
    cairn_tier *w = open_tier(spec, 0);
    test_blob b = make_blob(4100, 500);
    cairn_blob cb = as_blob(&b);
    ASSERT_OK(cairn__tier_publish(w, &cb, 1, "heads/main", NULL, &b.id));
    cairn__tier_close(w);

    const char *dir = test_tmpdir();
    ASSERT_TRUE(mkdir(dir, 0700) == 0);
    snprintf(log, sizeof(log), "%s/opencost.log", dir);
    test_proxy_start((const char *const[]){"--log", log, NULL}, endpoint, sizeof(endpoint));
    snprintf(opts, sizeof(opts), "endpoint=%s", endpoint);
    make_spec(spec, sizeof(spec), "opencost", opts);
    for (int round = 0; round < 2; round++) {
        cairn_stack *st;
        snprintf(stack_spec, sizeof(stack_spec), "mem>%s", spec);
        ASSERT_OK(cairn__stack_open(stack_spec, round ? 0 : CAIRN_RDONLY, &st));
        cairn__stack_close(st);
        ASSERT_EQ(lines_in(log, (size_t)round + 1), (size_t)round + 1);
    }
    /* a stack refused after the check (write-back with no store in front)
     * frees what the check kept (the sanitizer runs see a leak) */
    cairn_stack *st;
    snprintf(stack_spec, sizeof(stack_spec), "%s&write=back", spec);
    ASSERT_EQ(cairn__stack_open(stack_spec, 0, &st), CAIRN_BADSPEC);
    ASSERT_EQ(lines_in(log, 3), 3);
    test_proxy_stop();
    free(b.data);
    printf("open cost: one head GET per stack open, read-only or writable\n");
}

/* ---------------------------------------------------------------- single flight */

#define FLIERS 8
#define FLIGHT_BLOBS 12

struct flier {
    cairn_tier *t;
    const cairn_id *ids;
    pthread_barrier_t *go;
    int rc;
    size_t found;
};

static void *fly(void *arg)
{
    struct flier *f = arg;
    cairn_buf out[FLIGHT_BLOBS];
    pthread_barrier_wait(f->go);
    f->rc = cairn__tier_get_many(f->t, f->ids, FLIGHT_BLOBS, out);
    for (int i = 0; !f->rc && i < FLIGHT_BLOBS; i++) {
        f->found += out[i].data != NULL;
        cairn__free(out[i].data);
    }
    return NULL;
}

/* Threads wanting the same blobs at once make one request for each: with
 * 100 ms of latency each way, all of them arrive while the first flies. */
static void test_single_flight(void)
{
    char spec[256], endpoint[64], opts[128];
    make_spec(spec, sizeof(spec), "flight", "merge_gap=0");
    cairn_tier *w = open_tier(spec, 0);
    test_blob b[FLIGHT_BLOBS];
    cairn_id ids[FLIGHT_BLOBS];
    cairn_blob cb[FLIGHT_BLOBS];
    for (int i = 0; i < FLIGHT_BLOBS; i++) {
        b[i] = make_blob(700 + (uint64_t)i, 2000);
        ids[i] = b[i].id;
        cb[i] = as_blob(&b[i]);
    }
    ASSERT_OK(cairn__tier_publish(w, cb, FLIGHT_BLOBS, "heads/main", NULL, &b[0].id));
    cairn__tier_close(w);

    test_proxy_start((const char *const[]){"--delay-ms", "100", NULL}, endpoint, sizeof(endpoint));
    snprintf(opts, sizeof(opts), "merge_gap=0&endpoint=%s", endpoint);
    make_spec(spec, sizeof(spec), "flight", opts);
    cairn_tier *r = open_tier(spec, CAIRN_RDONLY);
    bool has[FLIGHT_BLOBS];
    ASSERT_OK(cairn__tier_has_many(r, ids, FLIGHT_BLOBS, has)); /* loads the directory */
    /* What one thread alone costs (the tier keeps no copies: a second read
     * fetches again). */
    uint64_t before = gets_of(r);
    cairn_buf out[FLIGHT_BLOBS];
    ASSERT_OK(cairn__tier_get_many(r, ids, FLIGHT_BLOBS, out));
    for (int i = 0; i < FLIGHT_BLOBS; i++)
        cairn__free(out[i].data);
    uint64_t solo = gets_of(r) - before;
    ASSERT_TRUE(solo >= 1);
    before = gets_of(r);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, FLIERS);
    struct flier fl[FLIERS];
    pthread_t th[FLIERS];
    for (int i = 0; i < FLIERS; i++) {
        fl[i] = (struct flier){.t = r, .ids = ids, .go = &go};
        pthread_create(&th[i], NULL, fly, &fl[i]);
    }
    for (int i = 0; i < FLIERS; i++) {
        pthread_join(th[i], NULL);
        ASSERT_OK(fl[i].rc);
        ASSERT_EQ(fl[i].found, FLIGHT_BLOBS);
    }
    pthread_barrier_destroy(&go);
    uint64_t gets = gets_of(r) - before;
    /* All of them together cost what one does, not FLIERS times it. */
    if (gets > solo)
        TEST_FAIL("%d threads reading %d blobs made %llu GETs; one thread alone makes %llu",
                  FLIERS, FLIGHT_BLOBS, (unsigned long long)gets, (unsigned long long)solo);
    cairn__tier_close(r);
    test_proxy_stop();
    for (int i = 0; i < FLIGHT_BLOBS; i++)
        free(b[i].data);
    printf("single flight: %d threads, %d blobs, %llu GETs (one thread alone: %llu)\n", FLIERS,
           FLIGHT_BLOBS, (unsigned long long)gets, (unsigned long long)solo);
}

/* ---------------------------------------------------------------- damage on the wire */

/* A body damaged on its way (the proxy flips a byte) no longer matches the
 * signed payload hash: the service refuses it, the client says so at once
 * without retrying, and nothing moves. */
static void test_payload_mismatch(void)
{
    char spec[256], endpoint[64], opts[160];
    make_spec(spec, sizeof(spec), "corrupt", "");
    cairn_tier *w = open_tier(spec, 0);
    test_blob b0 = make_blob(31, 500), b1 = make_blob(32, 500);
    cairn_blob c0 = as_blob(&b0), c1 = as_blob(&b1);
    ASSERT_OK(cairn__tier_publish(w, &c0, 1, "heads/main", NULL, &b0.id));
    cairn__tier_close(w);

    test_proxy_start((const char *const[]){"--faults", "corrupt:1", NULL}, endpoint,
                     sizeof(endpoint));
    snprintf(opts, sizeof(opts), "endpoint=%s", endpoint);
    make_spec(spec, sizeof(spec), "corrupt", opts);
    w = open_tier(spec, 0); /* GETs have no body: they pass */
    for (int twice = 0; twice < 2; twice++) {
        ASSERT_RC(cairn__tier_publish(w, &c1, 1, "heads/main", &b0.id, &b1.id), CAIRN_DENIED);
        ASSERT_DETAIL("XAmzContentSHA256Mismatch");
        ASSERT_DETAIL(bucket);
    }
    ASSERT_EQ(atomic_load(&cairn__s3_counters(((s3_tier *)w)->client)->retries), 0);
    cairn__tier_close(w);
    test_proxy_stop();
    make_spec(spec, sizeof(spec), "corrupt", "");
    cairn_tier *r = open_tier(spec, CAIRN_RDONLY);
    cairn_id got;
    ASSERT_OK(cairn__tier_ref_get(r, "heads/main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &b0.id));
    cairn__tier_close(r);
    free(b0.data);
    free(b1.data);
    printf("payload mismatch: a body damaged on the wire is refused, not retried, nothing moves\n");
}

/* ---------------------------------------------------------------- client */


/* The client's parts the tier uses little: a multipart upload read back
 * by ranges (a suffix range too), conditional GETs (304), and a listing
 * that needs continuation tokens. */
static void test_client(void)
{
    cairn_s3_client *c = test_s3_client(bucket);
    char key[128], prefix[64];
    size_t len = (11u << 20) + 12345;
    uint8_t *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    snprintf(key, sizeof(key), "client-%ld/large", (long)getpid());
    ASSERT_OK(cairn__s3_put_large(c, key, data, len, 5u << 20)); /* three parts */
    ASSERT_TRUE(atomic_load(&cairn__s3_counters(c)->requests[CAIRN_S3_POST]) == 2); /* start, complete */
    cairn_s3_request r[3] = {
        {.method = CAIRN_S3_GET, .key = key, .range_from = (5u << 20) - 7, .range_len = 100},
        {.method = CAIRN_S3_GET, .key = key, .range_from = CAIRN_S3_SUFFIX, .range_len = 4096},
        {.method = CAIRN_S3_HEAD, .key = key},
    };
    ASSERT_OK(cairn__s3_run(c, r, 3));
    ASSERT_OK(r[0].rc);
    ASSERT_MEM_EQ(r[0].data, r[0].len, data + (5u << 20) - 7, 100);
    ASSERT_EQ(r[0].object_size, len);
    ASSERT_OK(r[1].rc);
    ASSERT_MEM_EQ(r[1].data, r[1].len, data + len - 4096, 4096);
    ASSERT_OK(r[2].rc);
    ASSERT_EQ(r[2].object_size, len);
    char etag[80];
    snprintf(etag, sizeof(etag), "%s", r[2].etag);
    cairn__s3_request_reset(r, 3);
    /* If-None-Match on the current ETag: 304, no body. */
    cairn_s3_request cond = {.method = CAIRN_S3_GET, .key = key, .if_none_match = etag};
    ASSERT_OK(cairn__s3_run(c, &cond, 1));
    ASSERT_OK(cond.rc);
    ASSERT_EQ(cond.status, 304);
    ASSERT_EQ(cond.len, 0);
    cairn__s3_request_reset(&cond, 1);
    free(data);

    /* 1,050 objects: a listing takes two pages. */
    enum { N = 1050 };
    snprintf(prefix, sizeof(prefix), "client-%ld/many/", (long)getpid());
    static char keys[N][96];
    static cairn_s3_request puts[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%s%05d", prefix, i);
        puts[i] = (cairn_s3_request){.method = CAIRN_S3_PUT, .key = keys[i], .body = "x", .body_len = 1};
    }
    ASSERT_OK(cairn__s3_run(c, puts, N));
    for (int i = 0; i < N; i++)
        ASSERT_OK(puts[i].rc);
    cairn__s3_request_reset(puts, N);
    uint64_t gets_before = atomic_load(&cairn__s3_counters(c)->requests[CAIRN_S3_GET]);
    size_t listed = 0;
    ASSERT_OK(cairn__s3_list(c, prefix, count_key, &listed));
    ASSERT_EQ(listed, N);
    ASSERT_EQ(atomic_load(&cairn__s3_counters(c)->requests[CAIRN_S3_GET]) - gets_before, 2);
    cairn__s3_client_close(c);
    printf("client: multipart upload, ranges, suffix range, 304, a listing of two pages\n");
}

/* ---------------------------------------------------------------- head */


static int put_object(const char *key, const void *data, size_t len)
{
    cairn_s3_client *c = test_s3_client(bucket);
    cairn_s3_request r = {.method = CAIRN_S3_PUT, .key = key, .body = data, .body_len = len};
    ASSERT_OK(cairn__s3_run(c, &r, 1));
    int rc = r.rc;
    cairn__s3_request_reset(&r, 1);
    cairn__s3_client_close(c);
    return rc;
}

static void test_bad_heads(void)
{
    static const struct {
        const char *text;
        int rc;
        const char *detail;
    } cases[] = {
        {"garbage\n", CAIRN_CORRUPT, "not a cairn head"},
        {"cairn-s3-head 99\n", CAIRN_VERSION, "layout version 99"},
        {"cairn-s3-head 1\nepoch 1\n", CAIRN_CORRUPT, "no end line"},
        {"cairn-s3-head 1\nepoch 1\nseq 1\nnonce 0123456789abcdef0123456789abcdef\ntime 1\nend 00\n",
         CAIRN_CORRUPT, "checksum"},
        {"", CAIRN_CORRUPT, "truncated"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char spec[256], key[200];
        cairn_tier *t = (cairn_tier *)1;
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "badhead%zu", i);
        make_spec(spec, sizeof(spec), prefix, "");
        snprintf(key, sizeof(key), "%s-%ld/head", prefix, (long)getpid());
        ASSERT_OK(put_object(key, cases[i].text, strlen(cases[i].text)));
        for (int twice = 0; twice < 2; twice++) {
            ASSERT_RC(cairn__tier_open(spec, twice ? CAIRN_RDONLY : 0, &t), cases[i].rc);
            ASSERT_DETAIL(cases[i].detail);
            ASSERT_DETAIL("head");
        }
    }
    /* A head that decodes and names a pack that is not there: reads say so. */
    {
        char spec[256], key[200];
        make_spec(spec, sizeof(spec), "ghostpack", "");
        cairn_s3_head h = {.epoch = 1, .seq = 1, .time = 1};
        memcpy(h.nonce, "0123456789abcdef0123456789abcdef", 33);
        cairn_s3_pack_ref p = {.count = 1, .bytes = 100};
        snprintf(p.name, sizeof(p.name), "0000000000000001-0000000000000001-00000000");
        ASSERT_OK(cairn__s3_head_pack_add(&h, &p));
        char *text;
        size_t len;
        ASSERT_OK(cairn__s3_head_encode(&h, &text, &len));
        cairn__s3_head_clear(&h);
        snprintf(key, sizeof(key), "ghostpack-%ld/head", (long)getpid());
        ASSERT_OK(put_object(key, text, len));
        cairn__free(text);
        cairn_tier *t = open_tier(spec, CAIRN_RDONLY);
        cairn_id id;
        cairn_buf out;
        memset(&id, 1, sizeof(id));
        for (int twice = 0; twice < 2; twice++) {
            ASSERT_RC(cairn__tier_get_many(t, &id, 1, &out), CAIRN_CORRUPT);
            ASSERT_DETAIL("does not exist");
        }
        cairn__tier_close(t);
    }
    printf("heads: damaged, foreign, future and lying heads refused with their reason\n");
}

/* ---------------------------------------------------------------- fencing */

static void test_fencing(void)
{
    char spec[256];
    make_spec(spec, sizeof(spec), "fence", "");
    test_blob b[3] = {make_blob(11, 50), make_blob(12, 60), make_blob(13, 70)};
    cairn_blob cb[3] = {as_blob(&b[0]), as_blob(&b[1]), as_blob(&b[2])};

    cairn_tier *a = open_tier(spec, 0);
    ASSERT_OK(cairn__tier_publish(a, &cb[0], 1, "heads/main", NULL, &b[0].id));
    cairn_tier *bw = open_tier(spec, 0);
    ASSERT_OK(cairn__tier_writer_lock(bw, true));
    /* its first write takes the store over */
    ASSERT_OK(cairn__tier_publish(bw, &cb[0], 1, "heads/b", NULL, &b[0].id));
    for (int twice = 0; twice < 2; twice++) {
        ASSERT_RC(cairn__tier_publish(a, &cb[1], 1, "heads/main", &b[0].id, &b[1].id), CAIRN_FENCED);
        ASSERT_DETAIL("fenced");
        ASSERT_RC(cairn__tier_put_many(a, &cb[2], 1), CAIRN_FENCED);
    }
    ASSERT_OK(cairn__tier_publish(bw, &cb[2], 1, "heads/main", &b[0].id, &b[2].id));
    cairn__tier_close(a);
    cairn__tier_close(bw);
    cairn_tier *r = open_tier(spec, CAIRN_RDONLY);
    cairn_id got;
    ASSERT_OK(cairn__tier_ref_get(r, "heads/main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &b[2].id));
    ASSERT_TRUE(holds(r, &b[2]));
    cairn__tier_close(r);
    for (int i = 0; i < 3; i++)
        free(b[i].data);
    printf("fencing: the writer taken over is fenced, every time, and wrote nothing more\n");
}

#define RACERS 6
#define RACE_COMMITS 5

struct racer {
    const char *spec;
    int index;
    int acked;         /* commits acknowledged */
    cairn_id last;     /* the last acknowledged value of its ref */
    int fenced;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    cairn_tier *t;
    if (cairn__tier_open(r->spec, 0, &t))
        return NULL;
    char name[32];
    snprintf(name, sizeof(name), "heads/w%d", r->index);
    cairn_id prev;
    bool have = false;
    for (int i = 0; i < RACE_COMMITS; i++) {
        test_blob b = make_blob((uint64_t)r->index * 100 + (uint64_t)i, 40);
        cairn_blob cb = as_blob(&b);
        int rc = cairn__tier_publish(t, &cb, 1, name, have ? &prev : NULL, &b.id);
        free(b.data);
        if (rc == CAIRN_FENCED) {
            r->fenced++;
            break;
        }
        if (rc)
            continue; /* a lost race to create or take over: try again */
        prev = b.id;
        have = true;
        r->acked++;
        r->last = b.id;
    }
    cairn__tier_close(t);
    return NULL;
}

static void test_race(void)
{
    char spec[256];
    make_spec(spec, sizeof(spec), "race", "");
    struct racer rs[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (struct racer){.spec = spec, .index = i};
        pthread_create(&th[i], NULL, race, &rs[i]);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    cairn_tier *r = open_tier(spec, CAIRN_RDONLY);
    int fenced = 0, acked = 0;
    for (int i = 0; i < RACERS; i++) {
        char name[32];
        cairn_id got;
        snprintf(name, sizeof(name), "heads/w%d", i);
        fenced += rs[i].fenced;
        acked += rs[i].acked;
        if (!rs[i].acked) {
            ASSERT_RC(cairn__tier_ref_get(r, name, &got), CAIRN_NOTFOUND);
            continue;
        }
        /* No acknowledged write is lost. */
        ASSERT_OK(cairn__tier_ref_get(r, name, &got));
        ASSERT_TRUE(cairn__id_eq(&got, &rs[i].last));
    }
    cairn__tier_close(r);
    ASSERT_TRUE(acked > 0);
    printf("race: %d writers, %d commits acknowledged, none lost, %d writers fenced\n", RACERS,
           acked, fenced);
    printf("cairn-summary: s3_racers=%d s3_fenced=%d\n", RACERS, fenced);
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void)
{
    cairn_tier *t = (cairn_tier *)1;
    char spec[256];

    /* A bucket that does not exist: named, with the endpoint. */
    ASSERT_RC(cairn__tier_open("s3://no-such-bucket-cairn/x", 0, &t), CAIRN_NOTFOUND);
    ASSERT_DETAIL("no-such-bucket-cairn");
    ASSERT_DETAIL(getenv("AWS_ENDPOINT_URL"));
    /* Nothing there, read-only: not a store. */
    make_spec(spec, sizeof(spec), "empty", "");
    ASSERT_RC(cairn__tier_open(spec, CAIRN_RDONLY, &t), CAIRN_NOTFOUND);
    ASSERT_DETAIL("no cairn store");
    /* Bad specs. */
    ASSERT_RC(cairn__tier_open("s3://", 0, &t), CAIRN_BADSPEC);
    ASSERT_RC(cairn__tier_open("s3://UPPER/x", 0, &t), CAIRN_BADSPEC);
    ASSERT_DETAIL("bad bucket name");
    ASSERT_RC(cairn__tier_open("s3:bucket", 0, &t), CAIRN_BADSPEC);
    ASSERT_RC(cairn__tier_open("s3://bucket/../x", 0, &t), CAIRN_BADSPEC);
    ASSERT_RC(cairn__tier_open("s3://bucket/x?write=sideways", 0, &t), CAIRN_BADSPEC);
    ASSERT_DETAIL("write must be");
    ASSERT_RC(cairn__tier_open("s3://bucket/x?endpoint=ftp://h", 0, &t), CAIRN_BADSPEC);
    ASSERT_DETAIL("endpoint");
    ASSERT_RC(cairn__tier_open("s3://bucket/x?bogus=1", 0, &t), CAIRN_BADSPEC);
    ASSERT_DETAIL("unknown option 'bogus'");
    ASSERT_RC(cairn__tier_open("s3://bucket/x?range_max=1K", 0, &t), CAIRN_BADSPEC);
    ASSERT_DETAIL("range_max must be at least 4K");
    ASSERT_RC(cairn__tier_open("s3://bucket/x?range_max=9T", 0, &t), CAIRN_BADSPEC);
    ASSERT_DETAIL("range_max must be a size up to 4G");

    /* A wrong secret: refused at once, the secret never printed. */
    char *secret = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
    char wrong[256];
    snprintf(wrong, sizeof(wrong), "%sWRONG", secret);
    setenv("AWS_SECRET_ACCESS_KEY", wrong, 1);
    make_spec(spec, sizeof(spec), "denied", "retries=0");
    ASSERT_RC(cairn__tier_open(spec, 0, &t), CAIRN_DENIED);
    ASSERT_DETAIL("SignatureDoesNotMatch");
    ASSERT_DETAIL(bucket);
    ASSERT_TRUE(!strstr(cairn_errdetail(), wrong));
    ASSERT_TRUE(!strstr(cairn_errdetail(), secret));
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    /* An unknown key. */
    char *key = strdup(getenv("AWS_ACCESS_KEY_ID"));
    setenv("AWS_ACCESS_KEY_ID", "AKIANOSUCHKEY0000000", 1);
    ASSERT_RC(cairn__tier_open(spec, 0, &t), CAIRN_DENIED);
    ASSERT_DETAIL("InvalidAccessKeyId");
    setenv("AWS_ACCESS_KEY_ID", key, 1);
    free(key);
    free(secret);
    /* A server that is not there: unavailable, quickly, not a hang. */
    ASSERT_RC(cairn__tier_open("s3://bucket/x?endpoint=http://127.0.0.1:1&retries=1&timeout=500", 0, &t),
              CAIRN_UNAVAILABLE);
    ASSERT_DETAIL("127.0.0.1:1");
    printf("errors: missing bucket, empty prefix, bad specs, wrong secret and key, no server\n");
}

int main(void)
{
    test_seed_init(1);
    const char *b = test_s3_bucket();
    snprintf(bucket, sizeof(bucket), "%s", b);
    snprintf(spec_base, sizeof(spec_base), "s3://%s", bucket);
    test_errors();
    test_client();
    test_costs();
    test_model();
    test_index_cache();
    test_merge();
    test_merge_order();
    test_open_cost();
    test_single_flight();
    test_payload_mismatch();
    test_bad_heads();
    test_fencing();
    test_race();
    return 0;
}
