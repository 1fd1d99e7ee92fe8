/*
 * file_pins.c - pins of the file tier (tier.h): one small file per pin,
 *
 *     pins/NAME       the pin record's bytes (NAME is a safe name: tier.h)
 *
 * written as refs are (file_refs.c): a new file under tmp/, fdatasync
 * (sync=full), rename over pins/NAME, fsync of pins/. So a reader of the
 * folder sees a whole old record or a whole new one. A handle opened
 * read-only writes pins too, when this process may write pins/ and tmp/;
 * it takes no lock at all (a pin has one writer: its holder).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "file_int.h"

#define PIN_PATH (5 + CAIRN_PIN_NAME_MAX + 1) /* "pins/" NAME NUL */

/* A write refused for want of permission reads as a read-only store, with
 * the folder named: the caller (the engine) turns it into advice. */
static int write_error(const file_tier *t, int err, const char *what, const char *rel)
{
    if (err == EACCES || err == EPERM || err == EROFS)
        return cairn__fail(CAIRN_RDONLY_STORE, "file %s: cannot %s %s: %s", t->path, what, rel,
                           strerror(err));
    return cairn__fail(-err, "file %s: cannot %s %s: %s", t->path, what, rel, strerror(err));
}

static int sync_pins_dir(const file_tier *t)
{
    int fd = openat(t->root_fd, "pins", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0 || fsync(fd) != 0)
        rc = cairn__fail(-errno, "file %s: cannot sync pins/: %s", t->path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

int cairn__file_pin_put(cairn_tier *base, const char *name, const void *bytes, size_t len)
{
    file_tier *t = (file_tier *)base;
    char tmp[FILE_TMP_PATH], rel[PIN_PATH];
    int fd, err = 0;

    snprintf(rel, sizeof(rel), "pins/%.*s", CAIRN_PIN_NAME_MAX, name);
    if (mkdirat(t->root_fd, "pins", 0755) != 0 && errno != EEXIST)
        return write_error(t, errno, "create", "pins/");
    cairn__file_tmp_name(t, "pin", tmp);
    if ((fd = openat(t->root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
        return write_error(t, errno, "create", tmp);
    errno = 0;
    if (write(fd, bytes, len) != (ssize_t)len)
        err = errno ? errno : EIO;
    else if (t->sync_full && fdatasync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err)
        err = errno;
    if (!err && renameat(t->root_fd, tmp, t->root_fd, rel) != 0)
        err = errno;
    if (err) {
        unlinkat(t->root_fd, tmp, 0);
        return write_error(t, err, "write", rel);
    }
    return t->sync_full ? sync_pins_dir(t) : 0;
}

int cairn__file_pin_delete(cairn_tier *base, const char *name)
{
    file_tier *t = (file_tier *)base;
    char rel[PIN_PATH];

    snprintf(rel, sizeof(rel), "pins/%.*s", CAIRN_PIN_NAME_MAX, name);
    if (unlinkat(t->root_fd, rel, 0) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return write_error(t, errno, "remove", rel);
    }
    return t->sync_full ? sync_pins_dir(t) : 0;
}

/* Reads pins/NAME into *item: bytes NULL with the size when it is larger
 * than a record can be. Returns 0, 1 (gone meanwhile, or not a regular
 * file: skipped) or an error. */
static int read_pin(file_tier *t, const char *name, cairn_pin_record *item)
{
    char rel[PIN_PATH];
    struct stat st;
    ssize_t got;
    int fd, rc = 0;

    snprintf(rel, sizeof(rel), "pins/%.*s", CAIRN_PIN_NAME_MAX, name);
    if ((fd = openat(t->root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return errno == ENOENT || errno == ELOOP ? 1
                                                 : cairn__fail(-errno, "file %s: cannot open %s: %s",
                                                               t->path, rel, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 1;
    }
    item->len = (size_t)st.st_size;
    if (st.st_size > 0 && st.st_size <= CAIRN_PIN_RECORD_MAX) {
        if (!(item->bytes = cairn__malloc((size_t)st.st_size))) {
            rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory reading %s", t->path, rel);
        } else {
            do
                got = pread(fd, item->bytes, (size_t)st.st_size, 0);
            while (got < 0 && errno == EINTR);
            if (got < 0)
                rc = cairn__fail(-errno, "file %s: cannot read %s: %s", t->path, rel,
                                 strerror(errno));
            else
                item->len = (size_t)got; /* a record cut short shows as damaged */
        }
        if (rc) {
            cairn__free(item->bytes);
            item->bytes = NULL;
        }
    }
    close(fd);
    return rc;
}

/* Reads every pin, then calls fn with nothing open. Names that are not
 * pin names (tmp files of other tools, ".", "..") are skipped. */
int cairn__file_pin_list(cairn_tier *base, cairn_pin_fn fn, void *ctx)
{
    file_tier *t = (file_tier *)base;
    cairn_pin_records recs = {0};
    cairn_pin_record *rec;
    struct dirent *de;
    DIR *d;
    int fd, rc = 0;

    if ((fd = openat(t->root_fd, "pins", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? 0
                               : cairn__fail(-errno, "file %s: cannot list pins/: %s", t->path,
                                             strerror(errno));
    if (!(d = fdopendir(fd))) {
        close(fd);
        return cairn__fail(-errno, "file %s: cannot list pins/", t->path);
    }
    while (rc == 0 && (de = readdir(d))) {
        if (!cairn__pin_name_ok(de->d_name))
            continue;
        if (!(rec = cairn__pin_records_add(&recs, de->d_name))) {
            rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory listing pins", t->path);
            break;
        }
        if ((rc = read_pin(t, de->d_name, rec)) != 0)
            recs.n--; /* gone meanwhile (1), or an error */
        if (rc == 1)
            rc = 0;
    }
    closedir(d);
    return cairn__pin_records_emit(&recs, rc, fn, ctx);
}
