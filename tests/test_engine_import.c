/*
 * test_engine_import.c - cairn_import and cairn_export through the public
 * API, for what the cli tests cannot time exactly:
 *
 *  - a stop request (cairn_import_options.stop) stops the import at a record
 *    boundary: the records read are committed as a last, shorter batch,
 *    nothing after them is, the result is -ECANCELED with the detail
 *    "SOURCE:LINE: stopped ..." naming the first line not imported, and
 *    *records is that line minus one; a flag already set commits nothing;
 *  - a read interrupted by a signal (EINTR, handler without SA_RESTART) in
 *    the middle of a line is resumed and the line joined when no stop was
 *    requested, and the partial line is dropped when one was;
 *  - raw tsv (CAIRN_TSV_RAW): no unescaping on import, split at the first
 *    tab; raw export writes bytes as they are and refuses a record it
 *    cannot hold, naming the key, after the whole lines before it;
 *  - jsonl export refuses a value that is not one JSON object, naming the
 *    key, and never writes it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static cairn_db *open_mem(void)
{
    cairn_db *db;

    ASSERT_OK(cairn_open("mem", NULL, &db));
    return db;
}

/* Lines "kNNNNN<TAB>vN" for N = 1..n, as a malloc'd string. */
static char *numbered_lines(int n)
{
    size_t cap = (size_t)n * 24 + 1, len = 0;
    char *text = malloc(cap);
    int i;

    ASSERT_TRUE(text != NULL);
    for (i = 1; i <= n; i++)
        len += (size_t)snprintf(text + len, cap - len, "k%05d\tv%d\n", i, i);
    return text;
}

static uint64_t count_keys(cairn_db *db)
{
    cairn_snapshot *snap;
    uint64_t n;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_count(snap, NULL, NULL, 0, NULL, 0, &n));
    cairn_snapshot_close(snap);
    return n;
}

static bool has_key(cairn_db *db, const char *key)
{
    cairn_snapshot *snap;
    cairn_val val;
    int rc;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    rc = cairn_get(snap, NULL, key, strlen(key), &val);
    ASSERT_TRUE(rc == 0 || rc == CAIRN_NOTFOUND);
    cairn_snapshot_close(snap);
    return rc == 0;
}

/* The value of key, copied into buf (NUL-terminated). */
static const char *value_of(cairn_db *db, const char *key, char *buf, size_t size)
{
    cairn_snapshot *snap;
    cairn_val val;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_get(snap, NULL, key, strlen(key), &val));
    ASSERT_TRUE(val.len < size);
    memcpy(buf, val.data, val.len);
    buf[val.len] = '\0';
    cairn_snapshot_close(snap);
    return buf;
}

/* ---------------------------------------------------------------- stop */

typedef struct stop_at {
    uint64_t after;              /* raise the flag once this many records are read */
    volatile sig_atomic_t flag;
} stop_at;

static void raise_stop(void *ctx, uint64_t records, uint64_t bytes, uint64_t total)
{
    stop_at *s = ctx;

    (void)bytes;
    (void)total;
    if (records >= s->after)
        s->flag = 1;
}

/* Imports 5000 lines with batches of 1000, asking to stop after `after`
 * records: the import must commit exactly records 1..after, in
 * ceil(after / 1000) commits, and name line after + 1. */
static void check_stop_after(uint64_t after)
{
    char *text = numbered_lines(5000), key[16], want[64];
    cairn_import_options opts;
    cairn_commit_info info;
    stop_at stop = {after, 0};
    cairn_db *db = open_mem();
    uint64_t records = 99;
    cairn_id head;
    FILE *in = fmemopen(text, strlen(text), "r");

    ASSERT_TRUE(in != NULL);
    memset(&opts, 0, sizeof(opts));
    opts.source = "src";
    opts.batch = 1000;
    opts.progress = raise_stop;
    opts.progress_ctx = &stop;
    opts.stop = &stop.flag;
    ASSERT_RC(cairn_import(db, in, &opts, &records, NULL), -ECANCELED);
    snprintf(want, sizeof(want), "src:%" PRIu64 ": stopped on request", after + 1);
    ASSERT_DETAIL(want);
    ASSERT_EQ(records, after);
    ASSERT_EQ(count_keys(db), after);
    snprintf(key, sizeof(key), "k%05d", (int)after);
    ASSERT_TRUE(has_key(db, key));
    snprintf(key, sizeof(key), "k%05d", (int)after + 1);
    ASSERT_TRUE(!has_key(db, key));
    /* One commit per full batch, then one for the records of the open one. */
    ASSERT_OK(cairn_resolve(db, NULL, &head));
    memset(&info, 0, sizeof(info));
    ASSERT_OK(cairn_commit_get(db, &head, &info));
    ASSERT_EQ(info.seq, (after + 999) / 1000);
    snprintf(want, sizeof(want), "import src records %" PRIu64 "-%" PRIu64,
             (info.seq - 1) * 1000 + 1, after);
    if (strcmp(info.message, want) != 0)
        TEST_FAIL("last commit message '%s', want '%s'", info.message, want);
    cairn_commit_info_clear(&info);
    fclose(in);
    free(text);
    cairn_close(db);
}

static void test_stop(void)
{
    char *text = numbered_lines(10);
    cairn_import_options opts;
    volatile sig_atomic_t flag = 1;
    uint64_t records = 99;
    cairn_db *db = open_mem();
    cairn_id head;
    FILE *in = fmemopen(text, strlen(text), "r");

    check_stop_after(2500); /* in the middle of a batch: it is committed */
    check_stop_after(2000); /* at a batch boundary: no empty commit */
    check_stop_after(1);

    /* A flag set before the call stops before the first record. */
    memset(&opts, 0, sizeof(opts));
    opts.source = "early";
    opts.stop = &flag;
    ASSERT_RC(cairn_import(db, in, &opts, &records, NULL), -ECANCELED);
    ASSERT_DETAIL("early:1: stopped on request");
    ASSERT_EQ(records, 0);
    ASSERT_RC(cairn_resolve(db, NULL, &head), CAIRN_NOTFOUND);

    /* A NULL stop pointer, or a flag left at 0, imports everything. */
    flag = 0;
    rewind(in);
    ASSERT_OK(cairn_import(db, in, &opts, &records, NULL));
    ASSERT_EQ(records, 10);
    fclose(in);
    free(text);
    cairn_close(db);
}

/* ---------------------------------------------------------------- EINTR */

static volatile sig_atomic_t usr1_stop; /* what the handler sets */
static volatile sig_atomic_t usr1_seen;
static volatile sig_atomic_t stop_flag;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_seen = 1;
    if (usr1_stop)
        stop_flag = 1;
}

typedef struct writer {
    int fd;
    pthread_t reader;
} writer;

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static void write_all(int fd, const char *text)
{
    size_t len = strlen(text), done = 0;
    ssize_t n;

    while (done < len) {
        n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        ASSERT_TRUE(n > 0);
        done += (size_t)n;
    }
}

/* Writes a line and a half, waits for the reader to block on the rest,
 * interrupts its read with SIGUSR1, then writes the rest and closes. */
static void *write_in_halves(void *arg)
{
    writer *w = arg;

    write_all(w->fd, "k1\tv1\nk2\tpart");
    nap_ms(200);
    pthread_kill(w->reader, SIGUSR1);
    nap_ms(200);
    write_all(w->fd, "ial\nk3\tv3\n");
    close(w->fd);
    return NULL;
}

/* Imports from a pipe whose read is interrupted mid-line; with stop, the
 * handler also raises the stop flag. */
static void check_interrupted_read(bool stop)
{
    cairn_import_options opts;
    struct sigaction sa;
    uint64_t records = 99;
    cairn_db *db = open_mem();
    pthread_t thread;
    char buf[64];
    writer w;
    int fds[2], rc;
    FILE *in;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the read fails with EINTR */
    ASSERT_OK(sigaction(SIGUSR1, &sa, NULL));
    usr1_stop = stop;
    usr1_seen = 0;
    stop_flag = 0;
    ASSERT_OK(pipe(fds));
    ASSERT_TRUE((in = fdopen(fds[0], "r")) != NULL);
    w.fd = fds[1];
    w.reader = pthread_self();
    ASSERT_OK(pthread_create(&thread, NULL, write_in_halves, &w));

    memset(&opts, 0, sizeof(opts));
    opts.source = "pipe";
    opts.stop = &stop_flag;
    rc = cairn_import(db, in, &opts, &records, NULL);
    pthread_join(thread, NULL);
    fclose(in);
    ASSERT_TRUE(usr1_seen);
    if (stop) {
        /* The half line was being read: it is dropped and named. */
        ASSERT_RC(rc, -ECANCELED);
        ASSERT_DETAIL("pipe:2: stopped on request");
        ASSERT_EQ(records, 1);
        ASSERT_TRUE(has_key(db, "k1") && !has_key(db, "k2") && !has_key(db, "k3"));
    } else {
        /* The interrupted read is resumed and the halves joined. */
        ASSERT_OK(rc);
        ASSERT_EQ(records, 3);
        if (strcmp(value_of(db, "k2", buf, sizeof(buf)), "partial") != 0)
            TEST_FAIL("k2 = '%s', want 'partial'", buf);
        ASSERT_TRUE(!has_key(db, "k2\tpart"));
    }
    cairn_close(db);
}

/* ---------------------------------------------------------------- export */

/* Imports text, in format, into a fresh mem store. */
static cairn_db *store_of(const char *text, cairn_format format)
{
    cairn_import_options opts;
    cairn_db *db = open_mem();
    FILE *in = fmemopen((void *)text, strlen(text), "r");

    ASSERT_TRUE(in != NULL);
    memset(&opts, 0, sizeof(opts));
    opts.format = format;
    ASSERT_OK(cairn_import(db, in, &opts, NULL, NULL));
    fclose(in);
    return db;
}

/* Exports db in format; OUT: the text written (malloc'd) and *records.
 * Returns the result of cairn_export. */
static int export_text(cairn_db *db, cairn_format format, char **text, uint64_t *records)
{
    size_t size = 0;
    FILE *out = open_memstream(text, &size);
    int rc;

    ASSERT_TRUE(out != NULL);
    rc = cairn_export(db, NULL, NULL, format, out, NULL, NULL, records);
    ASSERT_EQ(fclose(out), 0);
    return rc;
}

static void test_raw(void)
{
    /* A systemd unit path keeps its "\x2d"; the first tab splits, later
     * ones belong to the value; no escape is an error. */
    const char *in = "a\\x2d.mount\tC:\\dir\\q\tcol2\n"
                     "b\\\\\t\\n stays\n"
                     "c\t\n";
    char buf[64], *text = NULL;
    uint64_t records = 0;
    cairn_db *db = store_of(in, CAIRN_TSV_RAW);

    ASSERT_EQ(count_keys(db), 3);
    if (strcmp(value_of(db, "a\\x2d.mount", buf, sizeof(buf)), "C:\\dir\\q\tcol2") != 0)
        TEST_FAIL("raw value '%s'", buf);
    ASSERT_TRUE(strcmp(value_of(db, "b\\\\", buf, sizeof(buf)), "\\n stays") == 0);
    ASSERT_TRUE(strcmp(value_of(db, "c", buf, sizeof(buf)), "") == 0);

    /* The value holding a tab cannot be written raw: the export stops
     * there, naming the key, with nothing written. */
    ASSERT_RC(export_text(db, CAIRN_TSV_RAW, &text, &records), CAIRN_BADINPUT);
    ASSERT_DETAIL("key 'a\\\\x2d.mount'");
    ASSERT_DETAIL("the value holds a tab");
    ASSERT_EQ(records, 0);
    ASSERT_EQ(strlen(text), 0);
    free(text);
    cairn_close(db);

    /* Raw export of what raw tsv can hold gives the input back, and the
     * escaped export of the same store escapes the backslashes. */
    in = "a\\x2d.mount\tC:\\dir\\q\n"
         "b\\\\\t\\n stays\r inside\n";
    db = store_of(in, CAIRN_TSV_RAW);
    ASSERT_OK(export_text(db, CAIRN_TSV_RAW, &text, &records));
    ASSERT_EQ(records, 2);
    ASSERT_MEM_EQ(text, strlen(text), in, strlen(in));
    free(text);
    ASSERT_OK(export_text(db, CAIRN_TSV, &text, &records));
    in = "a\\\\x2d.mount\tC:\\\\dir\\\\q\n"
         "b\\\\\\\\\t\\\\n stays\\r inside\n";
    ASSERT_MEM_EQ(text, strlen(text), in, strlen(in));
    free(text);
    cairn_close(db);

    /* The escaped import still unescapes (the default is unchanged). */
    db = store_of("a\\x2d.mount\tv\n", CAIRN_TSV);
    ASSERT_TRUE(has_key(db, "a-.mount"));
    cairn_close(db);
}

static void test_jsonl_export(void)
{
    char *text = NULL;
    uint64_t records = 0;
    cairn_db *db;

    /* Keys in order: a, b, c, d. b is not an object. */
    db = store_of("a\t{\"id\":\"a\"}\nb\tplain\nc\t{\"id\":\"c\"}\n", CAIRN_TSV);
    ASSERT_RC(export_text(db, CAIRN_JSONL, &text, &records), CAIRN_BADINPUT);
    ASSERT_DETAIL("the value of key 'b' is not a JSON object");
    ASSERT_DETAIL("expected '{'");
    ASSERT_EQ(records, 1);
    ASSERT_MEM_EQ(text, strlen(text), "{\"id\":\"a\"}\n", 11);
    free(text);
    cairn_close(db);

    /* Text after the object, and an empty value, are refused too. */
    db = store_of("a\t{} {}\n", CAIRN_TSV);
    ASSERT_RC(export_text(db, CAIRN_JSONL, &text, &records), CAIRN_BADINPUT);
    ASSERT_DETAIL("unexpected text after the object");
    ASSERT_EQ(strlen(text), 0);
    free(text);
    cairn_close(db);
    db = store_of("e\t\n", CAIRN_TSV);
    ASSERT_RC(export_text(db, CAIRN_JSONL, &text, &records), CAIRN_BADINPUT);
    ASSERT_DETAIL("key 'e'");
    free(text);
    cairn_close(db);

    /* Objects are written as they are. */
    db = store_of("a\t {\"x\": [1, {}]} \nb\t{}\n", CAIRN_TSV);
    ASSERT_OK(export_text(db, CAIRN_JSONL, &text, &records));
    ASSERT_EQ(records, 2);
    ASSERT_MEM_EQ(text, strlen(text), " {\"x\": [1, {}]} \n{}\n", 20);
    free(text);
    cairn_close(db);
}

int main(void)
{
    test_seed_init(1);
    test_stop();
    check_interrupted_read(false);
    check_interrupted_read(true);
    test_raw();
    test_jsonl_export();
    printf("ok\n");
    return 0;
}
