/*
 * lmdb_compact.c - giving an LMDB store's space back after gc.
 *
 * LMDB reuses the pages of deleted blobs for later writes, but its file
 * never shrinks: after gc, data.mdb keeps its high-water mark (and the
 * deletes' copy-on-write can even grow it). So reclaim copies the store
 * compacted (mdb_env_copyfd2 with MDB_CP_COMPACT: live pages only, back to
 * back) and swaps the copy in for data.mdb.
 *
 * The swap is safe only when no other process has the store open: one
 * that had it would go on reading the old file (unlinked, but intact, so
 * never wrong, only stale) while LMDB's lock file, shared with the new
 * file, no longer matches either. Hence the users lock: every process that
 * opens the environment holds a shared lock on PATH/cairn.users (an open
 * file description lock, F_OFD_SETLKW: per open file, untouched by other
 * descriptors of the same file being closed) for as long as it has it
 * open. A compaction upgrades its own lock to exclusive without waiting;
 * if that fails, another process has the store open, and the compaction
 * is skipped with a note (gc still freed the pages for reuse). While the
 * exclusive lock is held, a process opening the store waits; then it opens
 * the new file. In this process the env's resize lock, held exclusive,
 * keeps every transaction out while the env is closed and reopened.
 *
 * A read-only open of a store made before cairn.users existed cannot
 * create the file; such a reader is not seen (docs/tiers.md), so the
 * first writable open creates it.
 *
 * Crash safety: the copy is written to .data.mdb.<pid> (removed at the
 * next open if the process died: lmdb.c's remove_leftovers), fsynced, and
 * renamed over data.mdb, then the directory is synced. LMDB's lock file
 * is reinitialised by the first process that opens the new file, which is
 * this one: nobody else has the store open.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "lmdb_int.h"
#include "local.h"

static int users_lock_op(int fd, short type, bool wait)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    int rc;
    while ((rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl)) != 0 && errno == EINTR)
        ;
    return rc ? -errno : 0;
}

int cairn__lmdb_users_lock(const char *path, bool rdonly, bool *created)
{
    char name[PATH_MAX];
    int fd, rc;
    snprintf(name, sizeof(name), "%s/cairn.users", path);
    *created = false;
    if (rdonly) {
        fd = open(name, O_RDONLY | O_CLOEXEC);
    } else if ((fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) >= 0) {
        *created = true;
    } else if (errno == EEXIST) {
        fd = open(name, O_RDWR | O_CLOEXEC);
    }
    if (fd < 0) {
        if (rdonly)
            return -1;
        if (errno == ENOENT)
            return -1; /* no directory yet: the open reports that */
        return cairn__fail(-errno, "lmdb %s: cannot open cairn.users: %s", path, strerror(errno));
    }
    if ((rc = users_lock_op(fd, F_RDLCK, true))) {
        if (*created)
            unlink(name);
        close(fd);
        return cairn__fail(rc, "lmdb %s: cannot lock cairn.users: %s", path, strerror(-rc));
    }
    return fd;
}

static uint64_t file_size(const char *path)
{
    char name[PATH_MAX];
    struct stat st;
    snprintf(name, sizeof(name), "%s/data.mdb", path);
    return stat(name, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Pages in use and pages in all (up to the last one written). */
static int page_counts(lmdb_tier *t, uint64_t *used, uint64_t *total)
{
    lmdb_env *e = t->shared;
    MDB_envinfo info;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val key, val;
    uint64_t free_pages = 0;
    int rc;

    if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn)))
        return cairn__lmdb_err(t, rc, "counting free pages");
    /* The free list (database 0): each record's value is a list of page
     * numbers whose first word is its length. */
    if (!(rc = mdb_cursor_open(txn, 0, &cur))) {
        MDB_cursor_op op = MDB_FIRST;
        while ((rc = mdb_cursor_get(cur, &key, &val, op)) == 0) {
            size_t n = 0;
            if (val.mv_size >= sizeof(n))
                memcpy(&n, val.mv_data, sizeof(n));
            free_pages += n;
            op = MDB_NEXT;
        }
        mdb_cursor_close(cur);
    }
    mdb_env_info(e->env, &info);
    mdb_txn_abort(txn);
    if (rc && rc != MDB_NOTFOUND)
        return cairn__lmdb_err(t, rc, "counting free pages");
    *total = (uint64_t)info.me_last_pgno + 1;
    *used = free_pages < *total ? *total - free_pages : 0;
    return 0;
}

/* Copies the env compacted into .data.mdb.<pid> and renames it over
 * data.mdb. Caller holds the users lock and the resize lock exclusive. */
static int copy_and_swap(lmdb_tier *t)
{
    lmdb_env *e = t->shared;
    const char *path = t->path;
    char tmp[PATH_MAX], data[PATH_MAX];
    int fd, rc;

    snprintf(tmp, sizeof(tmp), "%s/.data.mdb.%ld", path, (long)getpid());
    snprintf(data, sizeof(data), "%s/data.mdb", path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return cairn__fail(-errno, "lmdb %s: cannot create %s: %s", path, tmp, strerror(errno));
    rc = mdb_env_copyfd2(e->env, fd, MDB_CP_COMPACT);
    if (!rc && fsync(fd) != 0)
        rc = errno;
    close(fd);
    if (!rc && rename(tmp, data) != 0)
        rc = errno;
    if (rc) {
        unlink(tmp);
        return cairn__lmdb_err(t, rc, "writing the compacted copy");
    }
    return cairn__sync_dir(path);
}

int cairn__lmdb_reclaim(cairn_tier *base, cairn_reclaim_result *out)
{
    lmdb_tier *t = (lmdb_tier *)base;
    lmdb_env *e = t->shared;
    uint64_t used = 0, total = 0;
    MDB_envinfo info;
    int rc;

    out->stored_before = out->stored_after = file_size(t->path);
    if (t->rdonly || e->rdonly)
        return 0;
    if ((rc = page_counts(t, &used, &total)))
        return rc;
    if (used * 3 > total * 2)
        return 0; /* would shrink by less than a third: not worth a copy */
    if (e->users_fd < 0 || users_lock_op(e->users_fd, F_WRLCK, false) != 0) {
        snprintf(out->note, sizeof(out->note),
                 "not compacted: another process has the store open; %llu of %llu pages are "
                 "free for reuse, and a gc while no other process has it open shrinks the file",
                 (unsigned long long)(total - used), (unsigned long long)total);
        return 0;
    }
    pthread_rwlock_wrlock(&e->resize_lock);
    mdb_env_info(e->env, &info);
    if (!(rc = copy_and_swap(t))) {
        mdb_env_close(e->env);
        rc = cairn__lmdb_env_reopen(e, t->path, info.me_mapsize);
    }
    pthread_rwlock_unlock(&e->resize_lock);
    users_lock_op(e->users_fd, F_RDLCK, false); /* a downgrade never waits */
    out->stored_after = file_size(t->path);
    return rc;
}
