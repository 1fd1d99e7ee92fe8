/*
 * local.c - what the local tiers (lmdb, file) share about their
 * directories: creating them and the writer lock file.
 */
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* ---------------------------------------------------------------- files */

/* fsyncs the directory holding path (the path up to its last '/'). */
static int sync_parent(char *path)
{
    char *slash = strrchr(path, '/');
    int fd, rc = 0;

    if (slash == path)
        fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    else if (slash) {
        *slash = '\0';
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *slash = '/';
    } else {
        fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0 || fsync(fd) != 0)
        rc = cairn__fail(-errno, "cannot sync the directory holding '%s': %s", path,
                         strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

int cairn__mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    struct stat st;
    int rc;

    if (strlen(path) >= sizeof(buf))
        return cairn__fail(-ENAMETOOLONG, "path '%.60s...' is too long", path);
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0755) == 0) {
            /* A new directory's name is durable only once its parent is
             * synced: without it a crash could lose the whole store. */
            if ((rc = sync_parent(buf)))
                return rc;
        } else if (errno != EEXIST) {
            return cairn__fail(-errno, "cannot create directory '%s': %s", buf,
                               strerror(errno));
        }
        *p = saved;
        if (!saved)
            break;
    }
    if (stat(path, &st) != 0)
        return cairn__fail(-errno, "cannot open '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cairn__fail(-ENOTDIR, "'%s' is not a directory", path);
    return 0;
}

int cairn__sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0 || fsync(fd) != 0)
        rc = cairn__fail(-errno, "cannot sync directory '%s': %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

int cairn__store_lock(_Atomic int *slot, int dirfd, const char *store_path, bool acquire)
{
    char path[PATH_MAX];
    int fd, expected = -1;

    if (!acquire) {
        if ((fd = atomic_exchange(slot, -1)) >= 0)
            close(fd); /* releases the flock */
        return 0;
    }
    if (atomic_load(slot) >= 0)
        return cairn__fail(CAIRN_BUSY, "store %s is locked by another writer", store_path);
    if (dirfd == AT_FDCWD)
        snprintf(path, sizeof(path), "%s/cairn.lock", store_path);
    else
        snprintf(path, sizeof(path), "cairn.lock");
    if ((fd = openat(dirfd, path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return cairn__fail(-errno, "store %s: cannot open cairn.lock: %s", store_path,
                           strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        if (err == EWOULDBLOCK)
            return cairn__fail(CAIRN_BUSY, "store %s is locked by another writer", store_path);
        return cairn__fail(-err, "store %s: cannot lock cairn.lock: %s", store_path,
                           strerror(err));
    }
    if (!atomic_compare_exchange_strong(slot, &expected, fd)) {
        close(fd); /* another thread of this handle won the race */
        return cairn__fail(CAIRN_BUSY, "store %s is locked by another writer", store_path);
    }
    return 0;
}
