/*
 * file_layout.c - what opening a file tier takes besides the tier itself:
 * its options, the format file (created in an empty directory, checked
 * otherwise), the objects/, refs/, tmp/ and packs/ directories, and the removal of
 * files that dead writers left in tmp/. The layout is drawn in file.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "file_int.h"

#define FORMAT_FILE "cairn-file-store"
#define FORMAT_HEAD "cairn file store\n"
#define FORMAT_VERSION 1

int cairn__file_option(void *ctx, const char *key, const char *val)
{
    struct file_opts *o = ctx;

    if (strcmp(key, "capacity") == 0) {
        if (cairn__parse_size(val, &o->capacity) || o->capacity == 0)
            return cairn__fail(CAIRN_BADSPEC, "file: bad capacity '%s' (want a size such as 64M)",
                               val);
    } else if (strcmp(key, "sync") == 0) {
        if (strcmp(val, "full") != 0 && strcmp(val, "none") != 0)
            return cairn__fail(CAIRN_BADSPEC, "file: sync must be full or none, not '%s'", val);
        o->sync = val[0] == 'f';
    } else if (strcmp(key, "io") == 0) {
        if (strcmp(val, "uring") != 0 && strcmp(val, "syscall") != 0)
            return cairn__fail(CAIRN_BADSPEC, "file: io must be uring or syscall, not '%s'", val);
        o->force_syscall = val[0] == 's';
    } else if (strcmp(key, "queue") == 0) {
        char *end;
        unsigned long q;
        errno = 0;
        q = strtoul(val, &end, 10);
        if (!*val || *end || errno || val[0] == '-' || q < 8 || q > 4096)
            return cairn__fail(CAIRN_BADSPEC, "file: queue must be 8 to 4096, not '%s'", val);
        o->queue = (unsigned)q;
    } else if (strcmp(key, "promote") == 0) {
        if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
            return cairn__fail(CAIRN_BADSPEC, "file: promote must be 0 or 1, not '%s'", val);
        o->promote = val[0] == '1';
    } else if (strcmp(key, "pack") == 0) {
        char *end;
        unsigned long n;
        errno = 0;
        n = strtoul(val, &end, 10);
        if (!*val || *end || errno || val[0] == '-' || n > 1000000)
            return cairn__fail(CAIRN_BADSPEC,
                               "file: pack must be 0 (never) or a blob count up to 1000000, "
                               "not '%s'",
                               val);
        o->pack_min = (int)n;
    } else {
        return cairn__fail(CAIRN_BADSPEC,
                           "file: unknown option '%s' (known: capacity, sync, io, queue, "
                           "promote, pack)",
                           key);
    }
    return 0;
}

/* What a directory named as a file store holds. */
enum dir_kind { DIR_EMPTY, DIR_STORE, DIR_LMDB, DIR_OTHER };

static int dir_kind_of(int dirfd, const char *path, enum dir_kind *kind)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *de;
    DIR *d;

    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return cairn__fail(-errno, "file: cannot list '%s': %s", path, strerror(errno));
    }
    *kind = DIR_EMPTY;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, FORMAT_FILE) == 0) {
            *kind = DIR_STORE;
            break;
        }
        if (strcmp(de->d_name, "data.mdb") == 0)
            *kind = DIR_LMDB;
        else if (*kind == DIR_EMPTY && strcmp(de->d_name, ".") != 0 &&
                 strcmp(de->d_name, "..") != 0 &&
                 strncmp(de->d_name, "." FORMAT_FILE ".", strlen(FORMAT_FILE) + 2) != 0)
            *kind = DIR_OTHER; /* (a format file being written does not count) */
    }
    closedir(d);
    return 0;
}

/* Reads and checks the format file. A process creating the store this
 * instant has it in place only once it is complete (create_format), but an
 * empty one from an older build is given a moment. */
static int check_format(int dirfd, const char *path)
{
    char buf[128], *end;
    unsigned long version;
    ssize_t got;
    int fd;

    if ((fd = openat(dirfd, FORMAT_FILE, O_RDONLY | O_CLOEXEC)) < 0)
        return cairn__fail(-errno, "file %s: cannot open %s: %s", path, FORMAT_FILE,
                           strerror(errno));
    for (int wait = 0; (got = pread(fd, buf, sizeof(buf) - 1, 0)) == 0 && wait < 50; wait++)
        usleep(2000);
    close(fd);
    if (got < 0)
        return cairn__fail(-errno, "file %s: cannot read %s", path, FORMAT_FILE);
    buf[got] = '\0';
    if (strncmp(buf, FORMAT_HEAD "format ", strlen(FORMAT_HEAD "format ")) != 0)
        return cairn__fail(CAIRN_CORRUPT, "file %s: %s is not a cairn format file", path,
                           FORMAT_FILE);
    errno = 0;
    version = strtoul(buf + strlen(FORMAT_HEAD "format "), &end, 10);
    if (errno || *end != '\n')
        return cairn__fail(CAIRN_CORRUPT, "file %s: %s is not a cairn format file", path,
                           FORMAT_FILE);
    if (version != FORMAT_VERSION)
        return cairn__fail(CAIRN_VERSION, "file %s: store format %lu; this build reads format %d",
                           path, version, FORMAT_VERSION);
    return 0;
}

/* Whether the directory rel below parent_fd holds a ref file (a name not
 * starting with '.', in it or below). */
static bool has_refs(int parent_fd, const char *rel, int depth)
{
    int fd = openat(parent_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *de;
    bool found = false;
    DIR *d;

    if (fd < 0 || depth > 64 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    while (!found && (de = readdir(d))) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
            continue;
        found = S_ISREG(st.st_mode) || (S_ISDIR(st.st_mode) && has_refs(dirfd(d), de->d_name,
                                                                        depth + 1));
    }
    closedir(d);
    return found;
}

int cairn__file_layout_check(const char *path, bool must_exist, bool *holds_store)
{
    enum dir_kind kind;
    struct stat st;
    int fd, rc;

    *holds_store = false;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT)
            return cairn__fail(-errno, "file: cannot open '%s': %s", path, strerror(errno));
        if (must_exist)
            return cairn__fail(CAIRN_NOTFOUND, "file %s: no store here", path);
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return cairn__fail(-ENOTDIR, "file: '%s' is not a directory", path);
    if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return cairn__fail(-errno, "file: cannot open '%s': %s", path, strerror(errno));
    if ((rc = dir_kind_of(fd, path, &kind)) == 0) {
        switch (kind) {
        case DIR_STORE:
            if ((rc = check_format(fd, path)) == 0)
                *holds_store = has_refs(fd, "refs", 0);
            break;
        case DIR_LMDB:
            rc = cairn__fail(CAIRN_BADSPEC,
                             "file: '%s' is a cairn lmdb store, not a file one (open it as "
                             "lmdb:%s)",
                             path, path);
            break;
        case DIR_OTHER:
            rc = cairn__fail(CAIRN_BADSPEC,
                             "file: '%s' is not empty and holds no %s: not a cairn file "
                             "store, refusing to write into it",
                             path, FORMAT_FILE);
            break;
        case DIR_EMPTY:
            if (must_exist)
                rc = cairn__fail(CAIRN_NOTFOUND, "file %s: no store here", path);
            break;
        }
    }
    close(fd);
    return rc;
}

/* Writes the format file of a new store: complete in a temporary name,
 * synced, then linked into place, so the name never shows a partial file
 * (a crash during creation leaves no marker, and the directory reads as a
 * new store). link fails if another process created the store first. */
static int create_format(const file_tier *t)
{
    static const char text[] = FORMAT_HEAD "format 1\n";
    char tmp[64];
    int fd, rc = 0;

    snprintf(tmp, sizeof(tmp), ".%s.%ld", FORMAT_FILE, (long)getpid());
    if ((fd = openat(t->root_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return cairn__fail(-errno, "file %s: cannot create %s: %s", t->path, FORMAT_FILE,
                           strerror(errno));
    if (write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1) || fsync(fd) != 0)
        rc = cairn__fail(errno ? -errno : -EIO, "file %s: cannot write %s", t->path, FORMAT_FILE);
    close(fd);
    if (!rc && linkat(t->root_fd, tmp, t->root_fd, FORMAT_FILE, 0) != 0 && errno != EEXIST)
        rc = cairn__fail(-errno, "file %s: cannot create %s: %s", t->path, FORMAT_FILE,
                         strerror(errno));
    unlinkat(t->root_fd, tmp, 0);
    if (!rc && fsync(t->root_fd) != 0)
        rc = cairn__fail(-errno, "file %s: cannot sync: %s", t->path, strerror(errno));
    return rc;
}

/* Creates objects/, refs/, tmp/ and (a store) packs/ if missing (after a
 * crash during creation, in a copy that lost empty directories, or in a
 * store made before packs). */
static int make_layout(const file_tier *t)
{
    static const char *const dirs[] = {"objects", "refs", "tmp", "packs"};
    bool made = false;

    for (size_t i = 0; i < (t->base.capacity ? 3u : 4u); i++) {
        if (mkdirat(t->root_fd, dirs[i], 0755) == 0)
            made = true;
        else if (errno != EEXIST)
            return cairn__fail(-errno, "file %s: cannot create %s: %s", t->path, dirs[i],
                               strerror(errno));
    }
    if (made && t->sync_full && fsync(t->root_fd) != 0)
        return cairn__fail(-errno, "file %s: cannot sync: %s", t->path, strerror(errno));
    return 0;
}

/* Removes tmp/ files left by processes that no longer exist: names end in
 * ".<pid>.<counter>". Files of live processes (sharing a cache, or writing
 * the same store right now) stay. Best effort. */
static void clean_tmp(const file_tier *t)
{
    int fd = openat(t->root_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *de;
    DIR *d;

    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((de = readdir(d))) {
        char *last = strrchr(de->d_name, '.'), *end;
        long pid;

        if (!last || last == de->d_name)
            continue;
        *last = '\0';
        char *dot = strrchr(de->d_name, '.');
        *last = '.';
        if (!dot || dot[1] == '-')
            continue;
        pid = strtol(dot + 1, &end, 10);
        if (end != last || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

int cairn__file_layout_open(const file_tier *t)
{
    enum dir_kind kind;
    int rc;

    if ((rc = dir_kind_of(t->root_fd, t->path, &kind)))
        return rc;
    if (kind == DIR_EMPTY && !t->rdonly && (rc = create_format(t)))
        return rc;
    if ((rc = check_format(t->root_fd, t->path)))
        return rc;
    if (t->rdonly)
        return 0;
    if ((rc = make_layout(t)))
        return rc;
    clean_tmp(t);
    return 0;
}
