/*
 * test_engine_pins.c - pins keep their commits from gc (engine/pins.c,
 * docs/gc.md "Pins"), on mem, lmdb and file stacks:
 *  - a pinned old commit survives gc --keep-last 1 --grace 0 and reads
 *    exactly its contents (a digest of every key and value, taken when it
 *    was made), from this handle and a fresh one, and verify passes; a gc
 *    whose clock is past the pin's expiry (cairn__gc_at: a fake clock)
 *    deletes the pin and frees the commit;
 *  - renewing extends the expiry; a renewed pin survives that gc;
 *  - damaged pins (not msgpack, an absurd expiry, a newer format, a
 *    commit the store lacks) are listed with the reason, ignored by gc
 *    (counted, left in place) and removable with cairn_unpin;
 *  - a read-only handle pins when this process may write the store
 *    (lmdb, file), and a reader that may write nowhere (another user, in a
 *    child process) gets CAIRN_RDONLY_STORE naming the grace period.
 */
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "retention.h"
#include "gcutil.h"
#include "test.h"

#define KEYS 300

static int64_t real_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One commit setting every key to a value of generation gen (so no leaf
 * of one generation is another's). */
static cairn_id write_generation(cairn_db *db, int gen)
{
    cairn_txn *txn;
    char key[32], val[64];
    cairn_id id;

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (int i = 0; i < KEYS; i++) {
        int kl = snprintf(key, sizeof(key), "key%05d", i);
        int vl = snprintf(val, sizeof(val), "gen %d value %d seed %llu", gen, i,
                          (unsigned long long)test_seed);
        ASSERT_OK(cairn_txn_put(txn, NULL, key, (size_t)kl, val, (size_t)vl));
    }
    ASSERT_OK(cairn_txn_commit(txn, "gen", &id));
    return id;
}

static int say_problem(void *ctx, const char *m)
{
    (void)ctx;
    fprintf(stderr, "verify: %s\n", m);
    return 0;
}

static int count_pin(void *ctx, const cairn_pin_info *pin)
{
    (void)pin;
    (*(int *)ctx)++;
    return 0;
}

static int pins_of(cairn_db *db)
{
    int n = 0;
    ASSERT_OK(cairn_pin_list(db, count_pin, &n));
    return n;
}

static cairn_gc_options keep_last_1(void)
{
    cairn_gc_options o;
    cairn_gc_options_init(&o);
    o.keep_last = 1;
    o.grace_s = 0;
    return o;
}

/* A pinned old version survives gc and reads as it was; once the pin has
 * expired (the gc's clock past it), gc deletes the pin and frees it. */
static void pinned_survives(const char *spec, bool durable)
{
    cairn_db *db = gc_open_db_flags(spec, 0);
    cairn_id old = write_generation(db, 1), old2;
    int rc;
    uint64_t old_digest = gc_digest_commit(db, &old, &rc);
    ASSERT_OK(rc);
    old2 = write_generation(db, 2); /* a second old one, pinned and renewed */
    uint64_t old2_digest = gc_digest_commit(db, &old2, &rc);
    ASSERT_OK(rc);
    for (int g = 3; g < 6; g++)
        write_generation(db, g);

    cairn_pin_info pin, pin2;
    ASSERT_OK(cairn_pin(db, &old, 600, &pin));
    ASSERT_OK(cairn_pin(db, &old2, 60, &pin2));
    ASSERT_TRUE(cairn__id_eq(&pin.commit, &old));
    ASSERT_TRUE(strchr(pin.holder, ':') != NULL);
    ASSERT_EQ(pins_of(db), 2);

    cairn_gc_options o = keep_last_1();
    cairn_gc_report r;
    int64_t now = real_now_us();
    ASSERT_OK(cairn__gc_at(db, &o, now + 10 * 1000000ll, &r));
    ASSERT_EQ(r.pins, 2);
    ASSERT_EQ(r.pinned_only, 2);
    ASSERT_EQ(r.commits_kept, 3);
    ASSERT_TRUE(r.tiers[0].blobs_freed > 0);
    if (gc_digest_commit(db, &old, &rc) != old_digest || rc)
        TEST_FAIL("%s: the pinned commit reads otherwise after gc (rc %d %s)", spec, rc,
                  cairn_errdetail());
    if (durable) { /* a fresh handle, nothing cached, reads it the same */
        cairn_close(db);
        db = gc_open_db_flags(spec, 0);
    }
    if (gc_digest_commit(db, &old, &rc) != old_digest || rc)
        TEST_FAIL("%s: the pinned commit reads otherwise after gc, reopened (rc %d)", spec, rc);
    ASSERT_OK(cairn_verify(db, say_problem, NULL, NULL));

    /* Renew the second pin past the time of the next gc; the first is not. */
    ASSERT_OK(cairn_pin_renew(db, &pin2, 3600));
    ASSERT_TRUE(pin2.expires_us > now + 3000 * 1000000ll);
    ASSERT_OK(cairn__gc_at(db, &o, now + 700 * 1000000ll, &r));
    ASSERT_EQ(r.pins, 1);
    ASSERT_EQ(r.pins_expired, 1);
    ASSERT_EQ(r.pinned_only, 1);
    ASSERT_TRUE(r.tiers[0].blobs_freed > 0);
    ASSERT_EQ(pins_of(db), 1);
    ASSERT_OK(cairn_verify(db, say_problem, NULL, NULL));
    cairn_snapshot *snap;
    ASSERT_RC(cairn_snapshot_open_commit(db, &old, &snap), CAIRN_MISSING);
    if (gc_digest_commit(db, &old2, &rc) != old2_digest || rc)
        TEST_FAIL("%s: the renewed pin's commit reads otherwise (rc %d)", spec, rc);
    /* Renewing the expired, deleted pin: its commit is gone. */
    ASSERT_RC(cairn_pin_renew(db, &pin, 60), CAIRN_MISSING);
    ASSERT_OK(cairn_unpin(db, pin.name));
    ASSERT_OK(cairn_unpin(db, pin2.name));
    ASSERT_EQ(pins_of(db), 0);
    ASSERT_OK(cairn__gc_at(db, &o, now + 800 * 1000000ll, &r));
    ASSERT_EQ(r.pins, 0);
    ASSERT_RC(cairn_snapshot_open_commit(db, &old2, &snap), CAIRN_MISSING);
    ASSERT_OK(cairn_verify(db, say_problem, NULL, NULL));
    printf("%s: a pinned commit survives gc --keep-last 1 and reads as it was; an expired "
           "pin goes and its commit is freed; a renewed one stays\n", spec);
    cairn_close(db);
}

/* A pin record written straight to the ref tiers. */
static void raw_pin(cairn_db *db, const char *name, const void *bytes, size_t len)
{
    unsigned written;
    ASSERT_OK(cairn__stack_pin_put(db->stack, name, bytes, len, &written));
}

/* {"format": F, "commit": C, "expires_us": E, "holder": "h:1"} by hand. */
static size_t record(uint8_t *out, unsigned format, const cairn_id *commit, uint64_t expires)
{
    size_t n = 0;
    out[n++] = 0x84;
    out[n++] = 0xa6;
    memcpy(out + n, "format", 6), n += 6;
    out[n++] = (uint8_t)format;
    out[n++] = 0xa6;
    memcpy(out + n, "commit", 6), n += 6;
    out[n++] = 0xc4, out[n++] = 32;
    memcpy(out + n, commit->bytes, 32), n += 32;
    out[n++] = 0xaa;
    memcpy(out + n, "expires_us", 10), n += 10;
    out[n++] = 0xcf;
    for (int i = 7; i >= 0; i--)
        out[n++] = (uint8_t)(expires >> (8 * i));
    out[n++] = 0xa6;
    memcpy(out + n, "holder", 6), n += 6;
    out[n++] = 0xa3;
    memcpy(out + n, "h:1", 3), n += 3;
    return n;
}

struct problems {
    int damaged, far, format, missing, good;
};

static int judge(void *ctx, const cairn_pin_info *p)
{
    struct problems *pr = ctx;
    if (strstr(p->problem, "damaged record"))
        pr->damaged++;
    else if (strstr(p->problem, "further ahead"))
        pr->far++;
    else if (strstr(p->problem, "format 2"))
        pr->format++;
    else if (strstr(p->problem, "does not hold"))
        pr->missing++;
    else if (!p->problem[0] && !p->expired)
        pr->good++;
    else
        TEST_FAIL("pin %s: unexpected problem '%s'", p->name, p->problem);
    return 0;
}

static void damaged_pins(const char *spec)
{
    cairn_db *db = gc_open_db_flags(spec, 0);
    cairn_id c1 = write_generation(db, 1), nowhere;
    write_generation(db, 2);
    uint8_t buf[256];
    int64_t now = real_now_us();

    memset(&nowhere, 0xab, sizeof(nowhere));
    static const char garbage[] = "\xff\x00\x12 not msgpack";
    raw_pin(db, "garbage", garbage, sizeof(garbage) - 1);
    raw_pin(db, "truncated", buf, record(buf, 1, &c1, (uint64_t)now + 60000000) - 5);
    raw_pin(db, "far", buf, record(buf, 1, &c1, (uint64_t)now + 400ull * 86400 * 1000000));
    raw_pin(db, "newer", buf, record(buf, 2, &c1, (uint64_t)now + 60000000));
    raw_pin(db, "lost", buf, record(buf, 1, &nowhere, (uint64_t)now + 60000000));
    size_t n = record(buf, 1, &c1, (uint64_t)now + 60000000);
    buf[1] = 0xa6;
    memcpy(buf + 2, "fromat", 6); /* an unknown key */
    raw_pin(db, "unknown-key", buf, n);
    raw_pin(db, "good", buf, record(buf, 1, &c1, (uint64_t)now + 600000000));

    struct problems pr = {0};
    ASSERT_OK(cairn_pin_list(db, judge, &pr));
    ASSERT_EQ(pr.damaged, 3);
    ASSERT_EQ(pr.far, 1);
    ASSERT_EQ(pr.format, 1);
    ASSERT_EQ(pr.missing, 1);
    ASSERT_EQ(pr.good, 1);

    cairn_gc_options o = keep_last_1();
    cairn_gc_report r;
    ASSERT_OK(cairn__gc_at(db, &o, now + 1000000, &r));
    ASSERT_EQ(r.pins, 1);
    ASSERT_EQ(r.pins_ignored, 6);
    ASSERT_EQ(r.pins_expired, 0);
    ASSERT_EQ(r.commits_kept, 2); /* the head and the good pin's commit */
    ASSERT_EQ(pins_of(db), 7);   /* ignored pins are left in place */
    ASSERT_OK(cairn_unpin(db, "garbage"));
    ASSERT_OK(cairn_unpin(db, "far"));
    ASSERT_EQ(pins_of(db), 5);
    ASSERT_RC(cairn_unpin(db, "../x"), CAIRN_BADARG);
    ASSERT_RC(cairn_pin(db, &nowhere, 60, &(cairn_pin_info){0}), CAIRN_MISSING);
    ASSERT_RC(cairn_pin(db, &c1, 0, &(cairn_pin_info){0}), CAIRN_BADARG);
    ASSERT_RC(cairn_pin(db, &c1, CAIRN_PIN_TTL_MAX + 1, &(cairn_pin_info){0}), CAIRN_BADARG);
    printf("%s: damaged pins (not msgpack, cut short, an unknown key, an absurd expiry, a "
           "newer format, a lost commit) are listed with why, ignored by gc and kept\n", spec);
    cairn_close(db);
}

/* In a child: a read-only handle pins when it may write the store; as
 * another user (or with the store made read-only) it may not, and is told
 * the grace period protects it. */
static void read_only_reader(const char *spec, const char *dir)
{
    cairn_db *db = gc_open_db_flags(spec, 0);
    cairn_id c1 = write_generation(db, 1);
    cairn_close(db);
    pid_t pid = fork();
    int status;

    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        cairn_pin_info pin;
        db = gc_open_db_flags(spec, CAIRN_RDONLY);
        ASSERT_OK(cairn_pin(db, &c1, 60, &pin));
        ASSERT_EQ(pins_of(db), 1);
        ASSERT_OK(cairn_unpin(db, pin.name));
        cairn_close(db);
        /* Now as a reader who may not write here. */
        if (geteuid() == 0) {
            /* the folders above the store: traversable by that user */
            char up[1200];
            snprintf(up, sizeof(up), "%s", dir);
            for (char *slash; (slash = strrchr(up, '/')) && slash != up;) {
                ASSERT_OK(chmod(up, 0755));
                *slash = '\0';
                if (strcmp(up, "/tmp") == 0)
                    break;
            }
            ASSERT_OK(setgid(65534));
            ASSERT_OK(setuid(65534));
        } else {
            char cmd[1200];
            snprintf(cmd, sizeof(cmd), "chmod -R a-w '%s'", dir);
            ASSERT_OK(system(cmd));
        }
        db = gc_open_db_flags(spec, CAIRN_RDONLY);
        ASSERT_RC(cairn_pin(db, &c1, 60, &pin), CAIRN_RDONLY_STORE);
        ASSERT_DETAIL("grace period");
        ASSERT_EQ(pins_of(db), 0);
        cairn_close(db);
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        TEST_FAIL("%s: the reader child failed (status %d)", spec, status);
    if (geteuid() != 0) {
        char cmd[1200];
        snprintf(cmd, sizeof(cmd), "chmod -R u+w '%s'", dir);
        ASSERT_OK(system(cmd));
    }
    printf("%s: a read-only handle pins when it may write the store; a reader that may not "
           "is told the grace period protects it\n", spec);
}

int main(void)
{
    char dir[512], spec[700], sub[600];

    test_seed_init(17);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    ASSERT_OK(mkdir(dir, 0700));
    pinned_survives("mem", false);
    damaged_pins("mem");
    const char *kinds[] = {"lmdb", "file"};
    for (int k = 0; k < 2; k++) {
        snprintf(spec, sizeof(spec), "%s:%s/%s-a", kinds[k], dir, kinds[k]);
        pinned_survives(spec, true);
        snprintf(spec, sizeof(spec), "%s:%s/%s-b", kinds[k], dir, kinds[k]);
        damaged_pins(spec);
        snprintf(sub, sizeof(sub), "%s/ro-%s", dir, kinds[k]);
        ASSERT_OK(mkdir(sub, 0755));
        snprintf(spec, sizeof(spec), "%s:%s/store", kinds[k], sub);
        read_only_reader(spec, sub);
    }
    printf("ok\n");
    return 0;
}
