/*
 * lmdb_open.c - checking an lmdb spec and opening its store: the options,
 * the registry that shares one MDB_env per directory per process (and the
 * fork generations that keep a child off its parent's envs), creating a
 * new store's data file whole, the layouts, and the read-only looks at a
 * directory that check takes before anything changes. The methods of an
 * open handle are in lmdb.c.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "lmdb_int.h"
#include "local.h"

#define LMDB_DEFAULT_MAP (1ull << 30)
#define LMDB_PACK_PAGES 4 /* the default of pack_pages (docs/benchmarks.md) */

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static lmdb_env *registry;
static _Atomic unsigned fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* ---------------------------------------------------------------- fork */

/* Holding registry_mu across fork keeps the child from inheriting it
 * locked; the child then starts a new generation, so inherited envs are
 * never touched again. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&registry_mu);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&registry_mu);
}

static void atfork_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
    pthread_mutex_unlock(&registry_mu);
}

static void atfork_register(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

int cairn__lmdb_check_fork(const lmdb_tier *t)
{
    if (t->shared->generation != atomic_load(&fork_generation))
        return cairn__fail(CAIRN_TIER,
                           "lmdb %s: handle opened before fork(); open the store again in "
                           "this process",
                           t->path);
    return 0;
}

void cairn__lmdb_env_release(lmdb_env *e)
{
    lmdb_env **p;

    pthread_mutex_lock(&registry_mu);
    if (--e->refcount > 0) {
        pthread_mutex_unlock(&registry_mu);
        return;
    }
    for (p = &registry; *p != e; p = &(*p)->next)
        ;
    *p = e->next;
    pthread_mutex_unlock(&registry_mu);
    if (e->generation != atomic_load(&fork_generation))
        return;
    if (e->env)
        mdb_env_close(e->env);
    if (e->users_fd >= 0)
        close(e->users_fd); /* releases the users lock */
    pthread_rwlock_destroy(&e->resize_lock);
    pthread_mutex_destroy(&e->pins_mu);
    cairn__free(e);
}

/* ---------------------------------------------------------------- open */

struct lmdb_opts {
    uint64_t map_size;     /* fixed size, 0: growable */
    uint64_t map_initial;  /* first size of a growable map, 0: default */
    unsigned env_flags;    /* MDB_NOSYNC / MDB_NOMETASYNC */
    unsigned max_readers;  /* 0: LMDB's default */
    int promote;           /* -1: not given */
    int layout;            /* -1: not given (a new store: packed), 0: blobs, 1: packed */
    unsigned pack_pages;   /* LMDB pages a pack fills (packed layout), 0: default */
    int readahead;         /* -1: not given (on), 0: MDB_NORDAHEAD, 1: the kernel's */
    uint64_t capacity;     /* a cache of at most this many bytes; 0: a store */
    bool sync_given;
};

static int lmdb_option(void *ctx, const char *key, const char *val)
{
    struct lmdb_opts *o = ctx;
    uint64_t *size = NULL;
    char *end;

    if (strcmp(key, "map_size") == 0)
        size = &o->map_size;
    else if (strcmp(key, "map_initial") == 0) /* hidden: tests of map growth */
        size = &o->map_initial;
    if (size) {
        if (cairn__parse_size(val, size) || *size == 0 || *size > SIZE_MAX)
            return cairn__fail(CAIRN_BADSPEC, "lmdb: bad %s '%s' (want a size such as 4G)", key,
                               val);
        return 0;
    }
    if (strcmp(key, "capacity") == 0) {
        if (cairn__parse_size(val, &o->capacity) || o->capacity < (1u << 20))
            return cairn__fail(CAIRN_BADSPEC,
                               "lmdb: bad capacity '%s' (want a size of at least 1M, such as 20G)",
                               val);
        return 0;
    }
    if (strcmp(key, "sync") == 0) {
        o->sync_given = true;
        if (strcmp(val, "full") == 0)
            o->env_flags = 0;
        else if (strcmp(val, "meta") == 0)
            o->env_flags = MDB_NOMETASYNC;
        else if (strcmp(val, "none") == 0)
            o->env_flags = MDB_NOSYNC;
        else
            return cairn__fail(CAIRN_BADSPEC, "lmdb: sync must be full, meta or none, not '%s'",
                               val);
        return 0;
    }
    if (strcmp(key, "max_readers") == 0) {
        unsigned long n;
        errno = 0;
        n = strtoul(val, &end, 10);
        if (!*val || *end || errno || n == 0 || n > 1000000 || val[0] == '-')
            return cairn__fail(CAIRN_BADSPEC, "lmdb: bad max_readers '%s'", val);
        o->max_readers = (unsigned)n;
        return 0;
    }
    if (strcmp(key, "pack_pages") == 0) {
        unsigned long n;
        errno = 0;
        n = strtoul(val, &end, 10);
        if (!*val || *end || errno || n == 0 || n > 64 || val[0] == '-')
            return cairn__fail(CAIRN_BADSPEC, "lmdb: pack_pages must be 1 to 64, not '%s'",
                               val);
        o->pack_pages = (unsigned)n;
        return 0;
    }
    if (strcmp(key, "readahead") == 0) {
        if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
            return cairn__fail(CAIRN_BADSPEC, "lmdb: readahead must be 0 or 1, not '%s'", val);
        o->readahead = val[0] == '1';
        return 0;
    }
    if (strcmp(key, "promote") == 0) {
        if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
            return cairn__fail(CAIRN_BADSPEC, "lmdb: promote must be 0 or 1, not '%s'", val);
        o->promote = val[0] == '1';
        return 0;
    }
    if (strcmp(key, "layout") == 0) {
        if (strcmp(val, "blobs") != 0 && strcmp(val, "packed") != 0)
            return cairn__fail(CAIRN_BADSPEC, "lmdb: layout must be blobs or packed, not '%s'",
                               val);
        o->layout = val[0] == 'p';
        return 0;
    }
    return cairn__fail(CAIRN_BADSPEC,
                       "lmdb: unknown option '%s' (known: map_size, capacity, sync, max_readers, "
                       "promote, layout, pack_pages, readahead)",
                       key);
}

/* Refuses an LMDB environment that holds anything but cairn's named
 * databases: the directory belongs to some other program. */
static int check_ours(MDB_txn *txn, const char *path)
{
    MDB_dbi main_db;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc;

    if ((rc = mdb_dbi_open(txn, NULL, 0, &main_db)) ||
        (rc = mdb_cursor_open(txn, main_db, &cur)))
        return cairn__lmdb_err_at(NULL, path, rc, "opening");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if ((key.mv_size == 5 && memcmp(key.mv_data, "blobs", 5) == 0) ||
            (key.mv_size == 4 && memcmp(key.mv_data, "refs", 4) == 0) ||
            (key.mv_size == 5 && memcmp(key.mv_data, "packs", 5) == 0) ||
            (key.mv_size == 5 && memcmp(key.mv_data, "where", 5) == 0) ||
            (key.mv_size == 4 && memcmp(key.mv_data, "pins", 4) == 0))
            continue;
        mdb_cursor_close(cur);
        return cairn__fail(CAIRN_BADSPEC,
                           "lmdb: '%s' holds an LMDB database that is not a cairn store "
                           "(it has a key '%.*s'); refusing to write into it",
                           path, (int)(key.mv_size < 64 ? key.mv_size : 64),
                           (const char *)key.mv_data);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : cairn__lmdb_err_at(NULL, path, rc, "opening");
}

/* CAIRN_BADSPEC when a spec names a layout (0 blobs, 1 packed; -1: none)
 * other than the store's. */
static int layout_matches(const char *path, bool packed, int layout)
{
    if (layout < 0 || layout == (int)packed)
        return 0;
    return cairn__fail(CAIRN_BADSPEC,
                       "lmdb %s: the store has layout=%s, the spec asks for layout=%s (a store "
                       "keeps the layout it was created with)",
                       path, packed ? "packed" : "blobs", layout ? "packed" : "blobs");
}

/* Opens the databases of the store's layout (a new store: layout, -1 is
 * packed): created in a write txn, or, read-only, looked up in a read txn
 * (committed, which keeps the handles). An existing store keeps its
 * layout; a layout named explicitly that differs is CAIRN_BADSPEC. The env
 * is not shared yet, so a map another process grew is adopted without the
 * resize lock. */
static int open_dbis(lmdb_env *e, const char *path, int layout, unsigned pack_pages)
{
    unsigned flags = e->rdonly ? 0 : MDB_CREATE;
    bool has_blobs, has_packs;
    MDB_stat env_stat;
    MDB_dbi probe;
    MDB_txn *txn;
    int rc;

    for (int attempt = 0;; attempt++) {
        rc = mdb_txn_begin(e->env, NULL, e->rdonly ? MDB_RDONLY : 0, &txn);
        if (rc != MDB_MAP_RESIZED || attempt >= CAIRN_LMDB_MAX_RETRIES)
            break;
        mdb_env_set_mapsize(e->env, 0);
    }
    if (rc)
        return cairn__lmdb_err_at(NULL, path, rc, "opening");
    if ((rc = check_ours(txn, path))) {
        mdb_txn_abort(txn);
        return rc;
    }
    has_blobs = mdb_dbi_open(txn, "blobs", 0, &probe) == 0;
    has_packs = mdb_dbi_open(txn, "packs", 0, &probe) == 0;
    if (has_blobs && has_packs) {
        mdb_txn_abort(txn);
        return cairn__fail(CAIRN_CORRUPT,
                           "lmdb %s: holds the databases of both layouts (blobs, and packs "
                           "with where); refusing to guess which is the store",
                           path);
    }
    e->packed = has_packs || (!has_blobs && layout != 0);
    if ((rc = layout_matches(path, e->packed, layout))) {
        mdb_txn_abort(txn);
        return rc;
    }
    mdb_env_stat(e->env, &env_stat);
    /* whole overflow pages: LMDB's page header is 16 bytes */
    e->pack_max = (pack_pages ? pack_pages : LMDB_PACK_PAGES) * (size_t)env_stat.ms_psize - 16;
    if (e->packed)
        rc = mdb_dbi_open(txn, "packs", flags, &e->packs);
    else
        rc = mdb_dbi_open(txn, "blobs", flags, &e->blobs);
    if (rc || (e->packed && (rc = mdb_dbi_open(txn, "where", flags, &e->where))) ||
        (rc = mdb_dbi_open(txn, "refs", flags, &e->refs))) {
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND)
            return cairn__fail(CAIRN_NOTFOUND, "lmdb %s: holds no cairn data", path);
        return cairn__lmdb_err_at(NULL, path, rc, "opening databases");
    }
    /* Pins have a database of their own once the first is written
     * (lmdb_pins.c creates it). */
    e->pins_open = mdb_dbi_open(txn, "pins", 0, &e->pins) == 0;
    return cairn__lmdb_err_at(NULL, path, mdb_txn_commit(txn), "opening databases");
}

/* Creates an MDB_env with a map of map_size bytes and max_readers slots
 * (0: LMDB's default) and opens path with flags. Returns 0 or an LMDB code
 * (the env is closed on failure, as LMDB requires). */
static int create_env_sized(const char *path, size_t map_size, unsigned max_readers,
                            unsigned flags, MDB_env **out)
{
    MDB_env *env;
    int rc;

    if ((rc = mdb_env_create(&env)))
        return rc;
    rc = mdb_env_set_maxdbs(env, 5);
    if (!rc)
        rc = mdb_env_set_mapsize(env, map_size);
    if (!rc && max_readers)
        rc = mdb_env_set_maxreaders(env, max_readers);
    if (!rc)
        rc = mdb_env_open(env, path, flags, 0644);
    if (rc) {
        mdb_env_close(env);
        return rc;
    }
    *out = env;
    return 0;
}

/* The same with o's settings. */
static int create_env(const char *path, const struct lmdb_opts *o, unsigned flags, MDB_env **out)
{
    return create_env_sized(path, o->map_size ? o->map_size
                                  : o->map_initial ? o->map_initial
                                                   : LMDB_DEFAULT_MAP,
                            o->max_readers, flags, out);
}

#define NEW_DATA_PREFIX ".data.mdb."

/* Removes the leftovers of creations and compactions cut short:
 * .data.mdb.<pid> and its "-lock" file, for pids that no longer run. Best
 * effort. */
static void remove_leftovers(const char *path)
{
    struct dirent *de;
    DIR *d;

    if (!(d = opendir(path)))
        return;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        char *end;
        long pid;

        if (strncmp(n, NEW_DATA_PREFIX, strlen(NEW_DATA_PREFIX)) != 0)
            continue;
        pid = strtol(n + strlen(NEW_DATA_PREFIX), &end, 10);
        if (pid <= 0 || (*end && strcmp(end, "-lock") != 0) || pid == (long)getpid() ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

/* A new store's data.mdb appears whole or not at all. LMDB creates its
 * file in place and writes the first meta pages without syncing them, so a
 * power cut while a store is being created could leave a data.mdb whose
 * meta pages never reached the disk while later pages did: LMDB refuses
 * such a file (MDB_INVALID) for ever, and the directory can be neither
 * opened nor created again. So a new environment is made under
 * .data.mdb.<pid> (MDB_NOSUBDIR), with cairn's two databases, committed
 * with full syncs whatever the sync option, closed, and linked into place
 * (link, not rename: if another process created the store meanwhile, its
 * data.mdb stays). The caller syncs the directory. Found by the simulated
 * power-loss test (tests/cli/test_powerloss.sh). */
static int create_data_file(const char *path, const struct lmdb_opts *o, unsigned flags)
{
    char data[PATH_MAX], tmp[PATH_MAX], tmp_lock[PATH_MAX + 8];
    lmdb_env e = {0};
    struct stat st;
    int rc;

    snprintf(data, sizeof(data), "%s/data.mdb", path);
    if (stat(data, &st) == 0 || errno != ENOENT)
        return 0; /* there already (or LMDB will say what is wrong) */
    snprintf(tmp, sizeof(tmp), "%s/" NEW_DATA_PREFIX "%ld", path, (long)getpid());
    snprintf(tmp_lock, sizeof(tmp_lock), "%s-lock", tmp);
    unlink(tmp);
    flags &= ~(unsigned)(MDB_NOSYNC | MDB_NOMETASYNC);
    if ((rc = create_env(tmp, o, flags | MDB_NOSUBDIR, &e.env))) {
        rc = cairn__lmdb_err_at(NULL, path, rc, "creating the environment");
        goto done;
    }
    rc = open_dbis(&e, path, o->layout, o->pack_pages);
    mdb_env_close(e.env);
    if (rc == 0 && link(tmp, data) != 0 && errno != EEXIST)
        rc = cairn__fail(-errno, "lmdb %s: cannot create data.mdb: %s", path, strerror(errno));
done:
    unlink(tmp);
    unlink(tmp_lock);
    return rc;
}

/* LMDB reads data.mdb through a map: a page past the end of a file that
 * was cut short (a damaged copy, a disk that lost the tail of a write it
 * acknowledged) would kill the process with SIGBUS at the first read. So a
 * file shorter than the last page its meta page names is refused at open
 * (CAIRN_CORRUPT). The file only grows while a store is in use. */
static int check_length(MDB_env *env, const char *path)
{
    char data[PATH_MAX];
    MDB_envinfo info;
    MDB_stat stat_info;
    struct stat st;
    uint64_t need;

    snprintf(data, sizeof(data), "%s/data.mdb", path);
    if (mdb_env_info(env, &info) || mdb_env_stat(env, &stat_info) || stat(data, &st) != 0)
        return 0; /* nothing to compare: LMDB itself reports what is wrong */
    need = ((uint64_t)info.me_last_pgno + 1) * stat_info.ms_psize;
    if ((uint64_t)st.st_size < need)
        return cairn__fail(CAIRN_CORRUPT,
                           "lmdb %s: data.mdb is %llu bytes but its pages end at byte %llu: "
                           "the file was cut short",
                           path, (unsigned long long)st.st_size, (unsigned long long)need);
    return 0;
}

int cairn__lmdb_env_reopen(lmdb_env *e, const char *path, size_t map_size)
{
    int rc = create_env_sized(path, map_size, e->max_readers, e->open_flags, &e->env);
    if (rc) {
        e->env = NULL;
        return cairn__lmdb_err_at(NULL, path, rc, "reopening the environment");
    }
    if ((rc = check_length(e->env, path)) || (rc = open_dbis(e, path, e->layout, e->pack_pages))) {
        mdb_env_close(e->env);
        e->env = NULL;
    }
    return rc;
}

/* Whether this process may write data.mdb and lock.mdb of the existing
 * store at path (a read-only handle's env may then be writable). */
static bool store_files_writable(const char *path)
{
    char file[PATH_MAX];

    snprintf(file, sizeof(file), "%s/data.mdb", path);
    if (access(file, W_OK) != 0)
        return false;
    snprintf(file, sizeof(file), "%s/lock.mdb", path);
    return access(file, W_OK) == 0 || (errno == ENOENT && access(path, W_OK) == 0);
}

/* Creates and opens a new env for path (registry_mu held by the caller).
 * A read-only open without write permission on lock.mdb (a store owned by
 * another user) falls back to MDB_NOLOCK: this reader then has no slot in
 * LMDB's reader table, so a writer active at the same time may reuse pages
 * it is reading; the stack's hash check turns such a torn read into
 * CAIRN_CORRUPT, never into wrong data (docs/tiers.md). */
static int env_open(const char *path, const struct stat *st, const struct lmdb_opts *o,
                    bool rdonly, lmdb_env **out)
{
    unsigned flags = MDB_NOTLS | (o->readahead == 0 ? MDB_NORDAHEAD : 0) | o->env_flags |
                     (rdonly ? MDB_RDONLY : 0);
    pthread_rwlockattr_t attr;
    lmdb_env *e;
    bool users_created = false;
    int rc, dead;

    if (!(e = cairn__calloc(1, sizeof(*e))))
        return cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory", path);
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->generation = atomic_load(&fork_generation);
    e->rdonly = rdonly;
    e->env_rdonly = rdonly; /* until a writable env is opened below */
    e->growable = o->map_size == 0;
    /* Prefer the resizer: readers arrive all the time and must not starve
     * it. No thread ever takes the lock shared twice, so this is safe. */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    rc = pthread_rwlock_init(&e->resize_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (!rc && (rc = pthread_mutex_init(&e->pins_mu, NULL)))
        pthread_rwlock_destroy(&e->resize_lock);
    if (rc) {
        rc = cairn__fail(-rc, "lmdb %s: cannot create a lock", path);
        goto fail_rwlock;
    }
    e->max_readers = o->max_readers;
    e->layout = o->layout;
    e->pack_pages = o->pack_pages;
    if ((e->users_fd = cairn__lmdb_users_lock(path, rdonly, &users_created)) < -1) {
        rc = e->users_fd;
        goto fail_users;
    }
    if (!rdonly)
        remove_leftovers(path); /* of creations and compactions cut short */
    if (!rdonly && (rc = create_data_file(path, o, flags)))
        goto fail_create;
    /* A read-only handle still writes pins (lmdb_pins.c) when this process
     * may write the store's files: its env is opened writable, and the
     * handle refuses every other write (lmdb_tier.rdonly). Only when that
     * is refused is the env read-only (and then without the lock file if
     * that is not writable either). */
    rc = ENOENT;
    if (rdonly && store_files_writable(path))
        rc = create_env(path, o, flags & ~(unsigned)MDB_RDONLY, &e->env);
    if (rc)
        rc = create_env(path, o, flags, &e->env);
    else
        e->env_rdonly = false;
    if (rc == EACCES && rdonly)
        rc = create_env(path, o, flags |= MDB_NOLOCK, &e->env);
    e->open_flags = flags;
    if (rc == ENOENT && rdonly) {
        rc = cairn__fail(CAIRN_NOTFOUND, "lmdb %s: no store here (read-only open creates none)",
                         path);
        goto fail_create;
    }
    if (rc) {
        rc = cairn__lmdb_err_at(NULL, path, rc, "opening the environment");
        goto fail_create;
    }
    if ((rc = check_length(e->env, path)))
        goto fail_open;
    if ((rc = mdb_reader_check(e->env, &dead))) {
        rc = cairn__lmdb_err_at(NULL, path, rc, "checking readers");
        goto fail_open;
    }
    if ((rc = open_dbis(e, path, o->layout, o->pack_pages)))
        goto fail_open;
    /* LMDB may just have created data.mdb and lock.mdb: their names are
     * durable once the directory is synced. */
    if (!rdonly && (rc = cairn__sync_dir(path)))
        goto fail_open;
    e->refcount = 1;
    *out = e;
    return 0;

fail_open:
    mdb_env_close(e->env);
fail_create:
    if (users_created) {
        char name[PATH_MAX];
        snprintf(name, sizeof(name), "%s/cairn.users", path);
        unlink(name);
    }
    if (e->users_fd >= 0)
        close(e->users_fd);
fail_users:
    pthread_rwlock_destroy(&e->resize_lock);
    pthread_mutex_destroy(&e->pins_mu);
fail_rwlock:
    cairn__free(e);
    return rc;
}

/* Finds the env of the directory st in this process and generation and
 * takes a reference, or opens a new one. */
static int env_get(const char *path, const struct stat *st, const struct lmdb_opts *o,
                   bool rdonly, lmdb_env **out)
{
    unsigned gen = atomic_load(&fork_generation);
    lmdb_env *e;
    int rc = 0;

    pthread_mutex_lock(&registry_mu);
    for (e = registry; e; e = e->next)
        if (e->dev == st->st_dev && e->ino == st->st_ino && e->generation == gen)
            break;
    if (e) {
        rc = layout_matches(path, e->packed, o->layout);
        if (!rc && e->rdonly && !rdonly)
            rc = cairn__fail(CAIRN_BUSY,
                             "lmdb %s: already open read-only in this process; close that "
                             "handle first",
                             path);
        if (!rc)
            e->refcount++;
    } else if ((rc = env_open(path, st, o, rdonly, &e)) == 0) {
        e->next = registry;
        registry = e;
    }
    pthread_mutex_unlock(&registry_mu);
    if (rc == 0)
        *out = e;
    return rc;
}

/* For check, which changes nothing: CAIRN_BADSPEC when the store in path
 * has another layout than the one a spec names. The layout comes from
 * this process's env of the store when there is one (LMDB allows one per
 * process), else from a read-only open without the lock file. A store that
 * cannot be read here is left for the open to report. */
static int check_layout(const char *path, int layout)
{
    unsigned gen = atomic_load(&fork_generation);
    bool known = false, packed = false;
    struct stat st;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;

    if (stat(path, &st) != 0)
        return 0;
    pthread_mutex_lock(&registry_mu);
    for (lmdb_env *e = registry; e; e = e->next)
        if (e->dev == st.st_dev && e->ino == st.st_ino && e->generation == gen) {
            known = true;
            packed = e->packed;
        }
    if (!known && mdb_env_create(&env) == 0) {
        if (mdb_env_set_maxdbs(env, 4) == 0 &&
            mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0644) == 0 &&
            mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
            packed = mdb_dbi_open(txn, "packs", 0, &dbi) == 0;
            known = packed || mdb_dbi_open(txn, "blobs", 0, &dbi) == 0;
            mdb_txn_abort(txn);
        }
        mdb_env_close(env);
    }
    pthread_mutex_unlock(&registry_mu);
    return known ? layout_matches(path, packed, layout) : 0;
}

/* Whether the LMDB store at path holds refs: a store, which must not be
 * opened as a cache (it would evict the store's blobs). Read-only, as
 * check_layout. Unknown (it cannot be opened) counts as a store. */
static bool holds_refs(const char *path)
{
    unsigned gen = atomic_load(&fork_generation);
    bool has = true;
    struct stat st;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat ms;

    if (stat(path, &st) != 0)
        return false;
    pthread_mutex_lock(&registry_mu);
    lmdb_env *open = NULL;
    for (lmdb_env *e = registry; e; e = e->next)
        if (e->dev == st.st_dev && e->ino == st.st_ino && e->generation == gen)
            open = e;
    if (open) {
        if (mdb_txn_begin(open->env, NULL, MDB_RDONLY, &txn) == 0) {
            has = mdb_stat(txn, open->refs, &ms) != 0 || ms.ms_entries > 0;
            mdb_txn_abort(txn);
        }
    } else if (mdb_env_create(&env) == 0) {
        if (mdb_env_set_maxdbs(env, 4) == 0 &&
            mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0644) == 0 &&
            mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
            int rc = mdb_dbi_open(txn, "refs", 0, &dbi);
            has = rc == MDB_NOTFOUND ? false
                  : rc || mdb_stat(txn, dbi, &ms) != 0 ? true
                                                       : ms.ms_entries > 0;
            mdb_txn_abort(txn);
        }
        mdb_env_close(env);
    }
    pthread_mutex_unlock(&registry_mu);
    return has;
}

/* What a directory named as an lmdb store holds. */
enum dir_kind { DIR_MISSING, DIR_EMPTY, DIR_LMDB, DIR_FILE_STORE, DIR_OTHER };

/* Looks at path without changing anything. Only LMDB's own files, our
 * lock file and a data file being created (.data.mdb.<pid>) count as
 * "empty" leftovers (a creation cut short). */
static int inspect_dir(const char *path, enum dir_kind *kind)
{
    struct dirent *de;
    struct stat st;
    DIR *d;

    if (stat(path, &st) != 0) {
        if (errno == ENOENT) {
            *kind = DIR_MISSING;
            return 0;
        }
        return cairn__fail(-errno, "lmdb: cannot open '%s': %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return cairn__fail(-ENOTDIR, "lmdb: '%s' is not a directory", path);
    if (!(d = opendir(path)))
        return cairn__fail(-errno, "lmdb: cannot list '%s': %s", path, strerror(errno));
    *kind = DIR_EMPTY;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strcmp(n, "data.mdb") == 0) {
            *kind = DIR_LMDB;
            break;
        }
        if (strcmp(n, "cairn-file-store") == 0)
            *kind = DIR_FILE_STORE;
        else if (*kind == DIR_EMPTY && strcmp(n, ".") != 0 && strcmp(n, "..") != 0 &&
                 strcmp(n, "lock.mdb") != 0 && strcmp(n, "cairn.lock") != 0 &&
                 strcmp(n, "cairn.users") != 0 &&
                 strncmp(n, NEW_DATA_PREFIX, strlen(NEW_DATA_PREFIX)) != 0)
            *kind = DIR_OTHER;
    }
    closedir(d);
    return 0;
}

/* arg is the directory: an LMDB cairn store, or a directory that is empty
 * or does not exist yet (a new store, unless read-only). Anything else is
 * refused, so that a mistyped spec never writes into a random place. */
int cairn__lmdb_check(cairn_tier_config *cfg)
{
    struct lmdb_opts o = {0, 0, 0, 0, -1, -1, 0, -1, 0, false};
    enum dir_kind kind = DIR_OTHER;
    int rc;

    if (!cfg->arg[0])
        return cairn__fail(CAIRN_BADSPEC, "lmdb: needs a directory (lmdb:PATH)");
    if ((rc = cairn__opts_each(cfg->opts, lmdb_option, &o)))
        return rc;
    if (o.map_size && o.map_initial)
        return cairn__fail(CAIRN_BADSPEC, "lmdb: map_size and map_initial exclude each other");
    if (o.capacity && o.layout == 0)
        return cairn__fail(CAIRN_BADSPEC,
                           "lmdb: a cache (capacity=) evicts whole packs: it needs layout=packed");
    if (strlen(cfg->arg) >= sizeof(((lmdb_tier *)0)->path))
        return cairn__fail(CAIRN_BADSPEC, "lmdb: path '%.40s...' is too long", cfg->arg);
    if ((rc = inspect_dir(cfg->arg, &kind)))
        return rc;
    switch (kind) {
    case DIR_FILE_STORE:
        return cairn__fail(CAIRN_BADSPEC,
                           "lmdb: '%s' is a cairn file store, not an lmdb one (open it as "
                           "file:%s)",
                           cfg->arg, cfg->arg);
    case DIR_OTHER:
        return cairn__fail(CAIRN_BADSPEC,
                           "lmdb: '%s' is not empty and holds no data.mdb: not a cairn lmdb "
                           "store, refusing to write into it",
                           cfg->arg);
    case DIR_MISSING:
    case DIR_EMPTY:
        /* A cache is made where it is missing, even for a read-only stack:
         * filling it is its purpose. */
        if ((cfg->open_flags & (CAIRN_RDONLY | CAIRN_EXISTING)) && !o.capacity)
            return cairn__fail(CAIRN_NOTFOUND, "lmdb %s: no store here", cfg->arg);
        break;
    case DIR_LMDB:
        cfg->holds_store = !o.capacity || holds_refs(cfg->arg);
        if ((o.layout >= 0 || o.capacity) &&
            (rc = check_layout(cfg->arg, o.capacity ? 1 : o.layout)))
            return rc;
        break;
    }
    cfg->caps = CAIRN_TIER_DURABLE | CAIRN_TIER_SHARED;
    cfg->capacity = o.capacity;
    return 0;
}

/* Opens the store checked by cairn__lmdb_check, creating the directory if
 * needed (not read-only). A second handle on a directory already open
 * shares its env; the first handle's map_size, sync and max_readers
 * settings then hold. */
int cairn__lmdb_open(const cairn_tier_config *cfg, cairn_tier **out)
{
    struct lmdb_opts o = {0, 0, 0, 0, -1, -1, 0, -1, 0, false};
    bool rdonly = (cfg->open_flags & CAIRN_RDONLY) && !cfg->capacity;
    const char *path = cfg->arg;
    struct stat st;
    lmdb_tier *t;
    int rc;

    *out = NULL;
    pthread_once(&atfork_once, atfork_register);
    if ((rc = cairn__opts_each(cfg->opts, lmdb_option, &o)))
        return rc;
    if (o.capacity && !o.sync_given)
        o.env_flags = MDB_NOSYNC; /* a cache loses nothing a crash can take */
    if (o.capacity && o.layout < 0)
        o.layout = 1;
    if (!rdonly && (rc = cairn__mkdir_p(path)))
        return cairn__fail_context(rc, "lmdb");
    if (stat(path, &st) != 0)
        return cairn__fail(errno == ENOENT ? CAIRN_NOTFOUND : -errno,
                           "lmdb %s: no store here (%s)", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cairn__fail(-ENOTDIR, "lmdb: '%s' is not a directory", path);
    if (!(t = cairn__calloc(1, sizeof(*t))))
        return cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory", path);
    t->base.m = &cairn__lmdb_methods;
    t->base.caps = CAIRN_TIER_DURABLE | CAIRN_TIER_SHARED;
    t->base.promote = o.promote == 1;
    t->base.capacity = o.capacity;
    t->rdonly = rdonly;
    atomic_init(&t->lock_fd, -1);
    snprintf(t->path, sizeof(t->path), "%s", path);
    if ((rc = env_get(path, &st, &o, rdonly, &t->shared)))
        goto fail_env;
    *out = &t->base;
    return 0;

fail_env:
    cairn__free(t);
    return rc;
}
