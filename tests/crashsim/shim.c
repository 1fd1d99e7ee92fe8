/*
 * shim.c - the recording half of the simulated power-loss test
 * (tests/cli/test_powerloss.sh; the model is described there and in
 * docs/testing.md).
 *
 * An LD_PRELOAD library. For every path under $CAIRN_CRASHSIM_ROOT it
 * performs each file-system call for real and appends one record to the
 * log $CAIRN_CRASHSIM_LOG (opened O_APPEND, one write(2) per record, so the
 * processes of a run append in turn). tests/crashsim/replay.py reads the
 * log back, rebuilds the final directory from the snapshot taken before
 * the run (the self-check that nothing was missed) and builds the crash
 * states.
 *
 * A record is one text line, fields separated by single spaces, paths
 * absolute and %XX-escaped (bytes <= ' ', '%' and >= 0x7f):
 *
 *     PID open FD PATH FLAGS CREATED   every open under the root; FLAGS in
 *                                      decimal; CREATED 1 if the call made
 *                                      the file
 *     PID close FD
 *     PID dup OLDFD NEWFD
 *     PID write FD OFFSET LEN          then LEN raw bytes (write, pwrite,
 *                                      writev, pwritev: what reached the
 *                                      file, at the offset it reached)
 *     PID trunc FD LEN                 ftruncate
 *     PID truncp PATH LEN              truncate
 *     PID extend FD LEN                fallocate/posix_fallocate that can
 *                                      grow the file to LEN
 *     PID fsync FD | PID fdatasync FD
 *     PID syncall                      sync, syncfs
 *     PID mkdir PATH | PID rmdir PATH | PID unlink PATH
 *     PID rename OLD NEW | PID link OLD NEW
 *
 * Only calls that succeed are recorded, after they return, under one mutex
 * (so a record's place in the log is the call's place among the others of
 * the process). An fd is followed once opened under the root (and through
 * dup); writes to other fds are not recorded. LMDB's lock.mdb is skipped:
 * it is shared memory, rebuilt after a reboot, and a crash state has none.
 *
 * What this cannot see (the self-check in replay.py fails when it
 * matters): calls glibc makes internally (fopen, opendir: read-only here),
 * io_uring submissions (the file tier's io=uring path; the test uses
 * io=syscall), and writes through a shared mmap (LMDB's MDB_WRITEMAP, not
 * used by cairn).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 65536

static pthread_mutex_t mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static char root[PATH_MAX];
static size_t root_len;
static int log_fd = -1;
static bool ready, disabled;
static char *fd_path[MAX_FDS]; /* a followed fd: the path it was opened by */

/* ---------------------------------------------------------------- real calls */

#define REAL(ret, name, ...)                                                             \
    static ret (*real_##name)(__VA_ARGS__);                                              \
    static ret (*get_##name(void))(__VA_ARGS__)                                          \
    {                                                                                    \
        if (!real_##name)                                                                \
            *(void **)&real_##name = dlsym(RTLD_NEXT, #name);                            \
        return real_##name;                                                              \
    }

REAL(int, open, const char *, int, ...)
REAL(int, open64, const char *, int, ...)
REAL(int, openat, int, const char *, int, ...)
REAL(int, openat64, int, const char *, int, ...)
REAL(int, close, int)
REAL(int, dup, int)
REAL(int, dup2, int, int)
REAL(int, dup3, int, int, int)
REAL(ssize_t, write, int, const void *, size_t)
REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
REAL(ssize_t, pwrite64, int, const void *, size_t, off_t)
REAL(ssize_t, writev, int, const struct iovec *, int)
REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t)
REAL(ssize_t, pwritev64, int, const struct iovec *, int, off_t)
REAL(ssize_t, pwritev2, int, const struct iovec *, int, off_t, int)
REAL(int, ftruncate, int, off_t)
REAL(int, ftruncate64, int, off_t)
REAL(int, truncate, const char *, off_t)
REAL(int, truncate64, const char *, off_t)
REAL(int, fallocate, int, int, off_t, off_t)
REAL(int, fallocate64, int, int, off_t, off_t)
REAL(int, posix_fallocate, int, off_t, off_t)
REAL(int, posix_fallocate64, int, off_t, off_t)
REAL(int, fsync, int)
REAL(int, fdatasync, int)
REAL(void, sync, void)
REAL(int, syncfs, int)
REAL(int, mkdir, const char *, mode_t)
REAL(int, mkdirat, int, const char *, mode_t)
REAL(int, rmdir, const char *)
REAL(int, unlink, const char *)
REAL(int, unlinkat, int, const char *, int)
REAL(int, rename, const char *, const char *)
REAL(int, renameat, int, const char *, int, const char *)
REAL(int, renameat2, int, const char *, int, const char *, unsigned)
REAL(int, link, const char *, const char *)
REAL(int, linkat, int, const char *, int, const char *, int)

/* ---------------------------------------------------------------- setup */

static void die(const char *what)
{
    static const char msg[] = "cairn crashsim shim: cannot record: ";
    get_write()(2, msg, sizeof(msg) - 1);
    get_write()(2, what, strlen(what));
    get_write()(2, "\n", 1);
    _exit(99);
}

/* Reads the environment once; without both variables the shim only passes
 * calls through. */
static void setup(void)
{
    const char *r, *l;

    if (ready || disabled)
        return;
    r = getenv("CAIRN_CRASHSIM_ROOT");
    l = getenv("CAIRN_CRASHSIM_LOG");
    if (!r || !l || !*r || *r != '/' || strlen(r) >= sizeof(root) - 1) {
        disabled = true;
        return;
    }
    strcpy(root, r);
    root_len = strlen(root);
    while (root_len > 1 && root[root_len - 1] == '/')
        root[--root_len] = '\0';
    log_fd = get_open()(l, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log_fd < 0)
        die("cannot open CAIRN_CRASHSIM_LOG");
    /* Keep the log fd out of the way of the program's own numbers. */
    int high = fcntl(log_fd, F_DUPFD_CLOEXEC, 900);
    if (high >= 0) {
        get_close()(log_fd);
        log_fd = high;
    }
    ready = true;
}

/* ---------------------------------------------------------------- paths */

/* Normalises an absolute path in place: no "//", no "/./", no trailing
 * "/." or "/", and ".." removed lexically. */
static void normalise(char *p)
{
    char out[PATH_MAX];
    size_t n = 0;
    const char *s = p;

    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        const char *e = strchrnul(s, '/');
        size_t len = (size_t)(e - s);
        if (len == 1 && s[0] == '.') {
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else if (n + 1 + len < sizeof(out)) {
            out[n++] = '/';
            memcpy(out + n, s, len);
            n += len;
        }
        s = e;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    strcpy(p, out);
}

/* The absolute path of (dirfd, path) into out; false if it cannot be known
 * (a relative path against an fd the shim does not follow: such an fd was
 * not opened under the root). */
static bool resolve(int dirfd, const char *path, char *out)
{
    char cwd[PATH_MAX];
    const char *base = "";
    int n;

    if (!path)
        return false;
    if (path[0] == '/') {
        base = NULL;
    } else if (dirfd == AT_FDCWD) {
        if (!getcwd(cwd, sizeof(cwd)))
            return false;
        base = cwd;
    } else if (dirfd >= 0 && dirfd < MAX_FDS && fd_path[dirfd]) {
        base = fd_path[dirfd];
    } else {
        return false;
    }
    n = base ? snprintf(out, PATH_MAX, "%s/%s", base, path) : snprintf(out, PATH_MAX, "%s", path);
    if (n < 0 || n >= PATH_MAX)
        return false;
    normalise(out);
    return true;
}

static bool under_root(const char *abs)
{
    const char *base;

    if (strncmp(abs, root, root_len) != 0 || (abs[root_len] != '/' && abs[root_len] != '\0'))
        return false;
    base = strrchr(abs, '/');
    return strcmp(base, "/lock.mdb") != 0;
}

static bool followed(int fd)
{
    return ready && fd >= 0 && fd < MAX_FDS && fd_path[fd];
}

/* ---------------------------------------------------------------- the log */

static void esc(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (; *s && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == '%' || c >= 0x7f) {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
}

/* Appends one record: the header line, then len bytes of payload gathered
 * from iov (NULL: none). */
__attribute__((format(printf, 4, 5))) static void record(const struct iovec *iov, int iovcnt,
                                                         size_t len, const char *fmt, ...);

static void record(const struct iovec *iov, int iovcnt, size_t len, const char *fmt, ...)
{
    char head[3 * PATH_MAX + 128];
    va_list ap;
    int n = snprintf(head, sizeof(head), "%ld ", (long)getpid());

    va_start(ap, fmt);
    n += vsnprintf(head + n, sizeof(head) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(head) - 1)
        die("record too long");
    head[n++] = '\n';
    char *buf = malloc((size_t)n + len);
    if (!buf)
        die("out of memory");
    memcpy(buf, head, (size_t)n);
    size_t at = (size_t)n, left = len;
    for (int i = 0; i < iovcnt && left; i++) {
        size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
        memcpy(buf + at, iov[i].iov_base, take);
        at += take;
        left -= take;
    }
    size_t done = 0;
    while (done < at) {
        ssize_t w = get_write()(log_fd, buf + done, at - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write to the log failed");
        done += (size_t)w;
    }
    free(buf);
}

static void follow(int fd, const char *abs)
{
    if (fd < 0 || fd >= MAX_FDS)
        die("fd beyond the table");
    free(fd_path[fd]);
    fd_path[fd] = strdup(abs);
    if (!fd_path[fd])
        die("out of memory");
}

static void unfollow(int fd)
{
    if (fd >= 0 && fd < MAX_FDS) {
        free(fd_path[fd]);
        fd_path[fd] = NULL;
    }
}

/* ---------------------------------------------------------------- opening */

static int do_open(int dirfd, const char *path, int flags, mode_t mode, bool at, bool big)
{
    char abs[PATH_MAX], e[3 * PATH_MAX];
    bool track, existed = true;
    struct stat st;
    int fd, saved;

    pthread_mutex_lock(&mu);
    setup();
    track = ready && resolve(dirfd, path, abs) && under_root(abs);
    if (track && (flags & O_CREAT))
        existed = fstatat(AT_FDCWD, abs, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (at)
        fd = big ? get_openat64()(dirfd, path, flags, mode) : get_openat()(dirfd, path, flags, mode);
    else
        fd = big ? get_open64()(path, flags, mode) : get_open()(path, flags, mode);
    saved = errno;
    if (fd >= 0 && track) {
        follow(fd, abs);
        esc(e, sizeof(e), abs);
        record(NULL, 0, 0, "open %d %s %d %d", fd, e, flags, !existed);
    } else if (fd >= 0) {
        unfollow(fd);
    }
    pthread_mutex_unlock(&mu);
    errno = saved;
    return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_open(AT_FDCWD, path, flags, mode, false, false);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_open(AT_FDCWD, path, flags, mode, false, true);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_open(dirfd, path, flags, mode, true, false);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_open(dirfd, path, flags, mode, true, true);
}

int creat(const char *path, mode_t mode)
{
    return do_open(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode, false, false);
}

int creat64(const char *path, mode_t mode)
{
    return do_open(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode, false, true);
}

int close(int fd)
{
    int rc, saved;

    pthread_mutex_lock(&mu);
    if (ready && fd == log_fd) { /* a program closing every fd: keep ours */
        pthread_mutex_unlock(&mu);
        return 0;
    }
    rc = get_close()(fd);
    saved = errno;
    if (followed(fd)) {
        unfollow(fd);
        record(NULL, 0, 0, "close %d", fd);
    }
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

static int after_dup(int oldfd, int newfd)
{
    if (newfd >= 0 && followed(oldfd)) {
        follow(newfd, fd_path[oldfd]);
        record(NULL, 0, 0, "dup %d %d", oldfd, newfd);
    } else if (newfd >= 0 && followed(newfd)) {
        unfollow(newfd);
        record(NULL, 0, 0, "close %d", newfd);
    }
    return newfd;
}

int dup(int oldfd)
{
    pthread_mutex_lock(&mu);
    int fd = get_dup()(oldfd), saved = errno;
    after_dup(oldfd, fd);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return fd;
}

int dup2(int oldfd, int newfd)
{
    pthread_mutex_lock(&mu);
    int fd = get_dup2()(oldfd, newfd), saved = errno;
    if (fd >= 0 && oldfd != newfd)
        after_dup(oldfd, fd);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return fd;
}

int dup3(int oldfd, int newfd, int flags)
{
    pthread_mutex_lock(&mu);
    int fd = get_dup3()(oldfd, newfd, flags), saved = errno;
    after_dup(oldfd, fd);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return fd;
}

/* ---------------------------------------------------------------- writing */

/* Records n bytes of iov that reached fd at off (-1: the offset the file
 * position says, after the call). */
static void wrote(int fd, const struct iovec *iov, int iovcnt, ssize_t n, off_t off)
{
    if (n <= 0 || !followed(fd))
        return;
    if (off < 0)
        off = lseek(fd, 0, SEEK_CUR) - n;
    if (off < 0)
        die("cannot tell where a write went");
    record(iov, iovcnt, (size_t)n, "write %d %lld %zd", fd, (long long)off, n);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    if (!followed(fd))
        return get_write()(fd, buf, len);
    pthread_mutex_lock(&mu);
    ssize_t n = get_write()(fd, buf, len);
    int saved = errno;
    struct iovec iov = {(void *)buf, len};
    wrote(fd, &iov, 1, n, -1);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return n;
}

static ssize_t do_pwrite(int fd, const void *buf, size_t len, off_t off, bool big)
{
    pthread_mutex_lock(&mu);
    ssize_t n = big ? get_pwrite64()(fd, buf, len, off) : get_pwrite()(fd, buf, len, off);
    int saved = errno;
    struct iovec iov = {(void *)buf, len};
    wrote(fd, &iov, 1, n, off);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return n;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    return do_pwrite(fd, buf, len, off, false);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    return do_pwrite(fd, buf, len, off, true);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    pthread_mutex_lock(&mu);
    ssize_t n = get_writev()(fd, iov, iovcnt);
    int saved = errno;
    wrote(fd, iov, iovcnt, n, -1);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return n;
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    pthread_mutex_lock(&mu);
    ssize_t n = get_pwritev()(fd, iov, iovcnt, off);
    int saved = errno;
    wrote(fd, iov, iovcnt, n, off);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return n;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    pthread_mutex_lock(&mu);
    ssize_t n = get_pwritev64()(fd, iov, iovcnt, off);
    int saved = errno;
    wrote(fd, iov, iovcnt, n, off);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return n;
}

ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
    pthread_mutex_lock(&mu);
    ssize_t n = get_pwritev2()(fd, iov, iovcnt, off, flags);
    int saved = errno;
    wrote(fd, iov, iovcnt, n, off);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return n;
}

static int do_ftruncate(int fd, off_t len, bool big)
{
    pthread_mutex_lock(&mu);
    int rc = big ? get_ftruncate64()(fd, len) : get_ftruncate()(fd, len), saved = errno;
    if (rc == 0 && followed(fd))
        record(NULL, 0, 0, "trunc %d %lld", fd, (long long)len);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int ftruncate(int fd, off_t len)
{
    return do_ftruncate(fd, len, false);
}

int ftruncate64(int fd, off_t len)
{
    return do_ftruncate(fd, len, true);
}

static int do_truncate(const char *path, off_t len, bool big)
{
    char abs[PATH_MAX], e[3 * PATH_MAX];

    pthread_mutex_lock(&mu);
    setup();
    int rc = big ? get_truncate64()(path, len) : get_truncate()(path, len), saved = errno;
    if (rc == 0 && ready && resolve(AT_FDCWD, path, abs) && under_root(abs)) {
        esc(e, sizeof(e), abs);
        record(NULL, 0, 0, "truncp %s %lld", e, (long long)len);
    }
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int truncate(const char *path, off_t len)
{
    return do_truncate(path, len, false);
}

int truncate64(const char *path, off_t len)
{
    return do_truncate(path, len, true);
}

/* fallocate without FALLOC_FL_KEEP_SIZE may grow the file (with zeros). */
static void allocated(int fd, int mode, off_t off, off_t len)
{
    if (followed(fd) && !(mode & FALLOC_FL_KEEP_SIZE))
        record(NULL, 0, 0, "extend %d %lld", fd, (long long)(off + len));
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    pthread_mutex_lock(&mu);
    int rc = get_fallocate()(fd, mode, off, len), saved = errno;
    if (rc == 0)
        allocated(fd, mode, off, len);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int fallocate64(int fd, int mode, off_t off, off_t len)
{
    pthread_mutex_lock(&mu);
    int rc = get_fallocate64()(fd, mode, off, len), saved = errno;
    if (rc == 0)
        allocated(fd, mode, off, len);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int posix_fallocate(int fd, off_t off, off_t len)
{
    pthread_mutex_lock(&mu);
    int rc = get_posix_fallocate()(fd, off, len);
    if (rc == 0)
        allocated(fd, 0, off, len);
    pthread_mutex_unlock(&mu);
    return rc;
}

int posix_fallocate64(int fd, off_t off, off_t len)
{
    pthread_mutex_lock(&mu);
    int rc = get_posix_fallocate64()(fd, off, len);
    if (rc == 0)
        allocated(fd, 0, off, len);
    pthread_mutex_unlock(&mu);
    return rc;
}

/* ---------------------------------------------------------------- syncing */

int fsync(int fd)
{
    pthread_mutex_lock(&mu);
    int rc = get_fsync()(fd), saved = errno;
    if (rc == 0 && followed(fd))
        record(NULL, 0, 0, "fsync %d", fd);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int fdatasync(int fd)
{
    pthread_mutex_lock(&mu);
    int rc = get_fdatasync()(fd), saved = errno;
    if (rc == 0 && followed(fd))
        record(NULL, 0, 0, "fdatasync %d", fd);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

void sync(void)
{
    pthread_mutex_lock(&mu);
    setup();
    get_sync()();
    if (ready)
        record(NULL, 0, 0, "syncall");
    pthread_mutex_unlock(&mu);
}

int syncfs(int fd)
{
    pthread_mutex_lock(&mu);
    int rc = get_syncfs()(fd), saved = errno;
    if (rc == 0 && followed(fd))
        record(NULL, 0, 0, "syncall");
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

/* ---------------------------------------------------------------- names */

/* Records "op PATH" for a call on one name that succeeded under the root. */
static void named(int rc, int dirfd, const char *path, const char *op)
{
    char abs[PATH_MAX], e[3 * PATH_MAX];

    if (rc == 0 && ready && resolve(dirfd, path, abs) && under_root(abs)) {
        esc(e, sizeof(e), abs);
        record(NULL, 0, 0, "%s %s", op, e);
    }
}

/* Records "op OLD NEW" for rename and link. Both ends must be under the
 * root or neither (the test never moves files across it). */
static void named2(int rc, int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                   const char *op, char *old_abs)
{
    char new_abs[PATH_MAX], e1[3 * PATH_MAX], e2[3 * PATH_MAX];

    if (rc != 0 || !ready || !resolve(newdirfd, newpath, new_abs))
        return;
    bool in_old = old_abs[0] && under_root(old_abs), in_new = under_root(new_abs);
    (void)olddirfd;
    (void)oldpath;
    if (in_old != in_new)
        die("a rename or link crosses the root");
    if (!in_new)
        return;
    esc(e1, sizeof(e1), old_abs);
    esc(e2, sizeof(e2), new_abs);
    record(NULL, 0, 0, "%s %s %s", op, e1, e2);
}

int mkdir(const char *path, mode_t mode)
{
    pthread_mutex_lock(&mu);
    setup();
    int rc = get_mkdir()(path, mode), saved = errno;
    named(rc, AT_FDCWD, path, "mkdir");
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
    pthread_mutex_lock(&mu);
    setup();
    int rc = get_mkdirat()(dirfd, path, mode), saved = errno;
    named(rc, dirfd, path, "mkdir");
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int rmdir(const char *path)
{
    pthread_mutex_lock(&mu);
    setup();
    int rc = get_rmdir()(path), saved = errno;
    named(rc, AT_FDCWD, path, "rmdir");
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int unlink(const char *path)
{
    pthread_mutex_lock(&mu);
    setup();
    int rc = get_unlink()(path), saved = errno;
    named(rc, AT_FDCWD, path, "unlink");
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int unlinkat(int dirfd, const char *path, int flags)
{
    pthread_mutex_lock(&mu);
    setup();
    int rc = get_unlinkat()(dirfd, path, flags), saved = errno;
    named(rc, dirfd, path, (flags & AT_REMOVEDIR) ? "rmdir" : "unlink");
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

/* The old name is resolved before the call (after a rename it is gone,
 * but resolving is lexical, so either works; before is plainer). */
static void old_name(int dirfd, const char *path, char *out)
{
    if (!ready || !resolve(dirfd, path, out))
        out[0] = '\0';
}

int rename(const char *oldpath, const char *newpath)
{
    char old_abs[PATH_MAX];

    pthread_mutex_lock(&mu);
    setup();
    old_name(AT_FDCWD, oldpath, old_abs);
    int rc = get_rename()(oldpath, newpath), saved = errno;
    named2(rc, AT_FDCWD, oldpath, AT_FDCWD, newpath, "rename", old_abs);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    char old_abs[PATH_MAX];

    pthread_mutex_lock(&mu);
    setup();
    old_name(olddirfd, oldpath, old_abs);
    int rc = get_renameat()(olddirfd, oldpath, newdirfd, newpath), saved = errno;
    named2(rc, olddirfd, oldpath, newdirfd, newpath, "rename", old_abs);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned flags)
{
    char old_abs[PATH_MAX];

    pthread_mutex_lock(&mu);
    setup();
    old_name(olddirfd, oldpath, old_abs);
    if (flags & ~(unsigned)RENAME_NOREPLACE)
        die("renameat2 with flags other than RENAME_NOREPLACE is not modelled");
    int rc = get_renameat2()(olddirfd, oldpath, newdirfd, newpath, flags), saved = errno;
    named2(rc, olddirfd, oldpath, newdirfd, newpath, "rename", old_abs);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int link(const char *oldpath, const char *newpath)
{
    char old_abs[PATH_MAX];

    pthread_mutex_lock(&mu);
    setup();
    old_name(AT_FDCWD, oldpath, old_abs);
    int rc = get_link()(oldpath, newpath), saved = errno;
    named2(rc, AT_FDCWD, oldpath, AT_FDCWD, newpath, "link", old_abs);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
    char old_abs[PATH_MAX];

    pthread_mutex_lock(&mu);
    setup();
    old_name(olddirfd, oldpath, old_abs);
    int rc = get_linkat()(olddirfd, oldpath, newdirfd, newpath, flags), saved = errno;
    named2(rc, olddirfd, oldpath, newdirfd, newpath, "link", old_abs);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return rc;
}
