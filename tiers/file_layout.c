/*
 * file_layout.c - what opening a file tier takes besides the tier itself:
 * its options, the format file (created in an empty directory, checked
 * otherwise), the objects/, refs/ and tmp/ directories, and the removal of
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
    } else {
        return cairn__fail(CAIRN_BADSPEC,
                           "file: unknown option '%s' (known: capacity, sync, io, queue, "
                           "promote)",
                           key);
    }
    return 0;
}

/* Whether the directory holds anything at all. */
static int dir_is_empty(const file_tier *t, bool *empty)
{
    int fd = openat(t->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *de;
    DIR *d;

    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return cairn__fail(-errno, "file: cannot list '%s': %s", t->path, strerror(errno));
    }
    *empty = true;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            *empty = false;
    closedir(d);
    return 0;
}

/* Writes the format file of a new store (then the directory entry). */
static int create_format(const file_tier *t)
{
    static const char text[] = FORMAT_HEAD "format 1\n";
    int fd, rc = 0;

    if ((fd = openat(t->root_fd, FORMAT_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
        return errno == EEXIST ? 0 : cairn__fail(-errno, "file %s: cannot create %s: %s",
                                                 t->path, FORMAT_FILE, strerror(errno));
    if (write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1) || fsync(fd) != 0)
        rc = cairn__fail(errno ? -errno : -EIO, "file %s: cannot write %s", t->path, FORMAT_FILE);
    close(fd);
    if (!rc && fsync(t->root_fd) != 0)
        rc = cairn__fail(-errno, "file %s: cannot sync: %s", t->path, strerror(errno));
    return rc;
}

/* Reads and checks the format file; creates it in an empty directory. */
static int check_format(const file_tier *t)
{
    char buf[128], *end;
    unsigned long version;
    ssize_t got;
    bool empty;
    int fd, rc;

    for (int attempt = 0;; attempt++) {
        if ((fd = openat(t->root_fd, FORMAT_FILE, O_RDONLY | O_CLOEXEC)) >= 0)
            break;
        if (errno != ENOENT || attempt > 0)
            return cairn__fail(-errno, "file %s: cannot open %s: %s", t->path, FORMAT_FILE,
                               strerror(errno));
        if ((rc = dir_is_empty(t, &empty)))
            return rc;
        if (!empty)
            return cairn__fail(CAIRN_BADSPEC,
                               "file: '%s' is not empty and holds no %s: not a cairn file "
                               "store, refusing to write into it",
                               t->path, FORMAT_FILE);
        if (t->rdonly)
            return cairn__fail(CAIRN_NOTFOUND, "file %s: no store here (read-only open "
                                               "creates none)", t->path);
        if ((rc = create_format(t)))
            return rc;
    }
    /* A process creating the store this instant may not have written the
     * file yet: an empty one is given a moment. */
    for (int wait = 0; (got = pread(fd, buf, sizeof(buf) - 1, 0)) == 0 && wait < 50; wait++)
        usleep(2000);
    close(fd);
    if (got < 0)
        return cairn__fail(-errno, "file %s: cannot read %s", t->path, FORMAT_FILE);
    buf[got] = '\0';
    if (strncmp(buf, FORMAT_HEAD "format ", strlen(FORMAT_HEAD "format ")) != 0)
        return cairn__fail(CAIRN_CORRUPT, "file %s: %s is not a cairn format file", t->path,
                           FORMAT_FILE);
    errno = 0;
    version = strtoul(buf + strlen(FORMAT_HEAD "format "), &end, 10);
    if (errno || *end != '\n')
        return cairn__fail(CAIRN_CORRUPT, "file %s: %s is not a cairn format file", t->path,
                           FORMAT_FILE);
    if (version != FORMAT_VERSION)
        return cairn__fail(CAIRN_VERSION, "file %s: store format %lu; this build reads format %d",
                           t->path, version, FORMAT_VERSION);
    return 0;
}

/* Creates objects/, refs/ and tmp/ if missing (after a crash during
 * creation, or in a copy that lost empty directories). */
static int make_layout(const file_tier *t)
{
    static const char *const dirs[] = {"objects", "refs", "tmp"};
    bool made = false;

    for (size_t i = 0; i < 3; i++) {
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
    int rc;

    if ((rc = check_format(t)))
        return rc;
    if (t->rdonly)
        return 0;
    if ((rc = make_layout(t)))
        return rc;
    clean_tmp(t);
    return 0;
}
