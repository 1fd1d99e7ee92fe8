/*
 * adapter_sqlite.c - the SQLite peer: one WITHOUT ROWID table
 *
 *     CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID
 *
 * so rows live in the primary key's B-tree, as in a key/value store.
 * Spec: PATH?synchronous=FULL|OFF. Every connection runs
 * journal_mode=WAL, the given synchronous level (FULL: the WAL is fsynced
 * at each commit; OFF: never), a 256 MiB page cache (cairn's default node
 * cache size) and mmap_size=1 GiB (reads from the mapping, as LMDB's do).
 *
 * A batch is BEGIN, INSERT OR REPLACE / DELETE per key, COMMIT, all through
 * prepared statements. A reader is its own connection (one per thread, as
 * SQLite wants), with prepared get and scan statements; every statement is
 * reset after use, so each read sees the latest commit. A get copies the
 * value into the reader's buffer before the reset.
 *
 * Without libsqlite3 at build time the adapter exists but every open fails
 * with "built without SQLite".
 */
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "bench.h"

#ifdef CAIRN_BENCH_HAVE_SQLITE
#include <sqlite3.h>

typedef struct sql_store {
    bench_store base; /* must be first */
    sqlite3 *db;
    sqlite3_stmt *put, *del, *begin, *commit;
    char path[4096];
    char sync[16];
} sql_store;

typedef struct sql_reader {
    bench_reader base; /* must be first */
    sqlite3 *db;
    sqlite3_stmt *get, *scan;
    void *buf;
    size_t cap;
} sql_reader;

static int sfail(char *err, const char *what, sqlite3 *db)
{
    return bench_fail(err, "%s: %s", what, db ? sqlite3_errmsg(db) : "cannot open");
}

/* Opens a connection with the harness's pragmas. */
static int sql_connect(const char *path, const char *sync, sqlite3 **out, char *err)
{
    char sql[256];
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(path, &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        sfail(err, "sqlite3_open_v2", db);
        sqlite3_close(db);
        return -1;
    }
    snprintf(sql, sizeof(sql),
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA cache_size=-262144;"
             " PRAGMA mmap_size=1073741824; PRAGMA busy_timeout=10000;",
             sync);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        sfail(err, "pragmas", db);
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, char *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, out, NULL) != SQLITE_OK)
        return sfail(err, sql, db);
    return 0;
}

static void s_close(bench_store *bs)
{
    sql_store *s = (sql_store *)bs;

    sqlite3_finalize(s->put);
    sqlite3_finalize(s->del);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_close(s->db);
    free(s);
}

static int s_open(const bench_config *cfg, const char *spec, unsigned flags,
                  bench_store **out, char *err, size_t errlen)
{
    sql_store *s;
    char dir[4096], *slash;

    (void)cfg;
    (void)flags;
    (void)errlen;
    if (!(s = calloc(1, sizeof(*s))))
        return bench_fail(err, "out of memory");
    bench_spec_path(spec, s->path, sizeof(s->path));
    if (!bench_spec_opt(spec, "synchronous", s->sync, sizeof(s->sync)))
        strcpy(s->sync, "FULL");
    snprintf(dir, sizeof(dir), "%s", s->path);
    if ((slash = strrchr(dir, '/')) && slash != dir) {
        *slash = '\0';
        bench_mkdirs(dir);
    }
    if (sql_connect(s->path, s->sync, &s->db, err))
        goto fail;
    if (sqlite3_exec(s->db,
                     "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB NOT NULL)"
                     " WITHOUT ROWID",
                     NULL, NULL, NULL) != SQLITE_OK) {
        sfail(err, "create table", s->db);
        goto fail;
    }
    if (prepare(s->db, "INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)", &s->put, err) ||
        prepare(s->db, "DELETE FROM kv WHERE k = ?", &s->del, err) ||
        prepare(s->db, "BEGIN", &s->begin, err) || prepare(s->db, "COMMIT", &s->commit, err))
        goto fail;
    *out = &s->base;
    return 0;

fail:
    s_close(&s->base);
    return -1;
}

/* Steps a statement that returns no rows, then resets it. */
static int run(bench_store *bs, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sfail(bs->err, what, ((sql_store *)bs)->db);
}

static int s_begin(bench_store *bs)
{
    return run(bs, ((sql_store *)bs)->begin, "BEGIN");
}

static int s_put(bench_store *bs, const void *key, size_t key_len, const void *val,
                 size_t val_len)
{
    sql_store *s = (sql_store *)bs;

    sqlite3_bind_blob(s->put, 1, key, (int)key_len, SQLITE_STATIC);
    sqlite3_bind_blob(s->put, 2, val, (int)val_len, SQLITE_STATIC);
    return run(bs, s->put, "INSERT");
}

static int s_del(bench_store *bs, const void *key, size_t key_len)
{
    sql_store *s = (sql_store *)bs;

    sqlite3_bind_blob(s->del, 1, key, (int)key_len, SQLITE_STATIC);
    return run(bs, s->del, "DELETE");
}

static int s_commit(bench_store *bs)
{
    if (run(bs, ((sql_store *)bs)->commit, "COMMIT"))
        return -1;
    bs->generation++;
    return 0;
}

static int s_sync(bench_store *bs)
{
    sql_store *s = (sql_store *)bs;

    if (sqlite3_exec(s->db, "PRAGMA wal_checkpoint(FULL)", NULL, NULL, NULL) != SQLITE_OK)
        return sfail(bs->err, "wal_checkpoint", s->db);
    return 0;
}

static void s_reader_close(bench_reader *br)
{
    sql_reader *r = (sql_reader *)br;

    if (!r)
        return;
    sqlite3_finalize(r->get);
    sqlite3_finalize(r->scan);
    sqlite3_close(r->db);
    free(r->buf);
    free(r);
}

static int s_reader_open(bench_store *bs, bench_reader **out)
{
    sql_store *s = (sql_store *)bs;
    sql_reader *r = calloc(1, sizeof(*r));

    if (!r)
        return bench_fail(bs->err, "out of memory");
    r->base.store = bs;
    if (sql_connect(s->path, s->sync, &r->db, bs->err) ||
        prepare(r->db, "SELECT v FROM kv WHERE k = ?", &r->get, bs->err) ||
        prepare(r->db, "SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?", &r->scan,
                bs->err)) {
        s_reader_close(&r->base);
        return -1;
    }
    *out = &r->base;
    return 0;
}

static int s_get(bench_reader *br, const void *key, size_t key_len, const void **val,
                 size_t *val_len)
{
    sql_reader *r = (sql_reader *)br;
    const void *v;
    size_t n;
    int rc;

    sqlite3_bind_blob(r->get, 1, key, (int)key_len, SQLITE_STATIC);
    rc = sqlite3_step(r->get);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(r->get);
        return BENCH_NOTFOUND;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(r->get);
        return sfail(br->err, "SELECT", r->db);
    }
    v = sqlite3_column_blob(r->get, 0);
    n = (size_t)sqlite3_column_bytes(r->get, 0);
    if (n > r->cap) {
        void *grown = realloc(r->buf, n);
        if (!grown) {
            sqlite3_reset(r->get);
            return bench_fail(br->err, "out of memory");
        }
        r->buf = grown;
        r->cap = n;
    }
    if (n)
        memcpy(r->buf, v, n);
    sqlite3_reset(r->get);
    *val = r->buf;
    *val_len = n;
    return 0;
}

static int s_scan(bench_reader *br, const void *start, size_t start_len, size_t n,
                  bench_scan_fn fn, void *ctx, size_t *seen)
{
    sql_reader *r = (sql_reader *)br;
    size_t i = 0;
    int rc;

    *seen = 0;
    sqlite3_bind_blob(r->scan, 1, start, (int)start_len, SQLITE_STATIC);
    sqlite3_bind_int64(r->scan, 2, (sqlite3_int64)n);
    while ((rc = sqlite3_step(r->scan)) == SQLITE_ROW) {
        i++;
        if (fn(ctx, sqlite3_column_blob(r->scan, 0),
               (size_t)sqlite3_column_bytes(r->scan, 0), sqlite3_column_blob(r->scan, 1),
               (size_t)sqlite3_column_bytes(r->scan, 1))) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(r->scan);
    if (rc != SQLITE_DONE)
        return sfail(br->err, "SELECT range", r->db);
    *seen = i;
    return 0;
}

/* SQLite gives the pages of deleted rows back with VACUUM. */
static int s_reclaim(bench_store *bs)
{
    sql_store *s = (sql_store *)bs;
    if (sqlite3_exec(s->db, "VACUUM", NULL, NULL, NULL) != SQLITE_OK)
        return sfail(bs->err, "VACUUM", s->db);
    return 0;
}

const bench_adapter bench_sqlite_adapter = {
    .name = "sqlite",
    .open = s_open,
    .close = s_close,
    .begin = s_begin,
    .put = s_put,
    .del = s_del,
    .commit = s_commit,
    .sync = s_sync,
    .reader_open = s_reader_open,
    .reader_close = s_reader_close,
    .get = s_get,
    .scan = s_scan,
    .counters = NULL,
    .settle = NULL,
    .reclaim = s_reclaim,
};

#else /* !CAIRN_BENCH_HAVE_SQLITE */

static int s_open(const bench_config *cfg, const char *spec, unsigned flags,
                  bench_store **out, char *err, size_t errlen)
{
    (void)cfg;
    (void)spec;
    (void)flags;
    (void)out;
    (void)errlen;
    return bench_fail(err, "built without SQLite (install libsqlite3-dev and reconfigure)");
}

const bench_adapter bench_sqlite_adapter = {
    .name = "sqlite",
    .open = s_open,
};

#endif
