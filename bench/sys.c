/*
 * sys.c - the system helpers of cairn-bench: make, remove and copy
 * directory trees, measure disk usage (st_blocks * 512), read
 * /proc/self/io, drop files from the page cache, and expand spec templates.
 *
 * It samples the process's memory: RssAnon (heap and other anonymous
 * memory) and RssFile (mapped file pages, e.g. LMDB's map) from
 * /proc/self/status, at checkpoints and every 50 ms from a sampler thread,
 * keeping the peaks over a timed section.
 *
 * It also describes the machine: cores, CPU model, memory, kernel, and the
 * file system and block device the data directory is on.
 *
 * Copies use copy_file_range (in-kernel, a reflink where the file system
 * can). Cache drops first advise POSIX_FADV_DONTNEED on every file (after
 * an fdatasync, since dirty pages cannot be dropped), then try
 * `echo 1 > /proc/sys/vm/drop_caches`, which needs root; the caller is told
 * which of the two happened.
 */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

int bench_mkdirs(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

/* Calls fn on every entry below path, children before their directory.
 * fn gets the full path and its lstat. */
typedef int (*walk_fn)(void *ctx, const char *path, const struct stat *st);

static int walk(const char *path, walk_fn fn, void *ctx)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (lstat(path, &st))
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        if (!(d = opendir(path)))
            return -1;
        while (!rc && (e = readdir(d))) {
            char child[4096];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >= (int)sizeof(child))
                rc = -1;
            else
                rc = walk(child, fn, ctx);
        }
        closedir(d);
        if (rc)
            return rc;
    }
    return fn(ctx, path, &st);
}

static int remove_one(void *ctx, const char *path, const struct stat *st)
{
    (void)ctx;
    return (S_ISDIR(st->st_mode) ? rmdir(path) : unlink(path)) && errno != ENOENT ? -1 : 0;
}

int bench_rmtree(const char *path)
{
    return walk(path, remove_one, NULL);
}

static int copy_file(const char *src, const char *dst, mode_t mode)
{
    int in, out, rc = 0;
    struct stat st;
    off_t left;

    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 0777)) < 0) {
        close(in);
        return -1;
    }
    if (fstat(in, &st))
        rc = -1;
    for (left = st.st_size; !rc && left > 0;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
        if (n <= 0) {
            /* no copy_file_range here: fall back to read/write */
            char buf[1 << 16];
            ssize_t r = read(in, buf, sizeof(buf));
            if (r <= 0 || write(out, buf, (size_t)r) != r)
                rc = -1;
            else
                left -= r;
            continue;
        }
        left -= n;
    }
    close(in);
    if (close(out))
        rc = -1;
    return rc;
}

static int copy_tree(const char *src, const char *dst)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (lstat(src, &st))
        return -1;
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? copy_file(src, dst, st.st_mode) : 0;
    if (mkdir(dst, st.st_mode & 0777) && errno != EEXIST)
        return -1;
    if (!(d = opendir(src)))
        return -1;
    while (!rc && (e = readdir(d))) {
        char s[4096], t[4096];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(s, sizeof(s), "%s/%s", src, e->d_name) >= (int)sizeof(s) ||
            snprintf(t, sizeof(t), "%s/%s", dst, e->d_name) >= (int)sizeof(t))
            rc = -1;
        else
            rc = copy_tree(s, t);
    }
    closedir(d);
    return rc;
}

int bench_copytree(const char *src, const char *dst)
{
    return copy_tree(src, dst);
}

static int add_blocks(void *ctx, const char *path, const struct stat *st)
{
    (void)path;
    if (S_ISREG(st->st_mode))
        *(double *)ctx += (double)st->st_blocks * 512.0;
    return 0;
}

double bench_disk_usage(const char *path)
{
    double total = 0;

    return walk(path, add_blocks, &total) ? -1 : total;
}

void bench_proc_io(double *read_bytes, double *write_bytes)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    unsigned long long v;

    *read_bytes = *write_bytes = -1;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "read_bytes: %llu", &v) == 1)
            *read_bytes = (double)v;
        else if (sscanf(line, "write_bytes: %llu", &v) == 1)
            *write_bytes = (double)v;
    }
    fclose(f);
}

void bench_proc_rss(double *anon, double *file)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    unsigned long long kb;

    *anon = *file = -1;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
            *anon = (double)kb * 1024.0;
        else if (sscanf(line, "RssFile: %llu kB", &kb) == 1)
            *file = (double)kb * 1024.0;
    }
    fclose(f);
}

/* The memory sampler: peaks of RssAnon and RssFile, sampled by mark() and
 * every 50 ms by a thread of its own between start and stop. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool running, stop;
    double anon, file;
} mem = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, false, -1, -1};

void bench_mem_mark(void)
{
    double anon, file;

    bench_proc_rss(&anon, &file);
    pthread_mutex_lock(&mem.lock);
    mem.anon = anon > mem.anon ? anon : mem.anon;
    mem.file = file > mem.file ? file : mem.file;
    pthread_mutex_unlock(&mem.lock);
}

static void *mem_main(void *arg)
{
    struct timespec until;

    (void)arg;
    pthread_mutex_lock(&mem.lock);
    while (!mem.stop) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&mem.cond, &mem.lock, &until);
        if (mem.stop)
            break;
        pthread_mutex_unlock(&mem.lock);
        bench_mem_mark();
        pthread_mutex_lock(&mem.lock);
    }
    pthread_mutex_unlock(&mem.lock);
    return NULL;
}

void bench_mem_start(void)
{
    mem.anon = mem.file = -1;
    mem.stop = false;
    bench_mem_mark();
    mem.running = pthread_create(&mem.thread, NULL, mem_main, NULL) == 0;
}

void bench_mem_stop(bench_result *res)
{
    if (mem.running) {
        pthread_mutex_lock(&mem.lock);
        mem.stop = true;
        pthread_cond_signal(&mem.cond);
        pthread_mutex_unlock(&mem.lock);
        pthread_join(mem.thread, NULL);
        mem.running = false;
    }
    bench_mem_mark();
    res->rss_anon = mem.anon;
    res->rss_file = mem.file;
}

static int drop_one(void *ctx, const char *path, const struct stat *st)
{
    int fd;

    if (!S_ISREG(st->st_mode))
        return 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    fdatasync(fd);
    if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0)
        (*(unsigned *)ctx)++;
    close(fd);
    return 0;
}

void bench_drop_caches(const char *path, char *how, size_t howlen)
{
    unsigned files = 0;
    bool dropped = false;
    int fd;

    sync();
    walk(path, drop_one, &files);
    if ((fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC)) >= 0) {
        dropped = write(fd, "1", 1) == 1;
        close(fd);
    }
    snprintf(how, howlen, "%s", dropped ? "fadvise+drop_caches" : "fadvise");
}

void bench_fmt(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

void bench_copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (!size)
        return;
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* The S3 service of the environment: the bucket and endpoint the S3
 * configurations use (docs/benchmarks.md, "S3 (issue 10)"). */
static const char *s3_bucket(void)
{
    const char *v = getenv("CAIRN_S3_BUCKET");

    return v && *v ? v : NULL;
}

static const char *s3_endpoint(void)
{
    const char *v = getenv("AWS_ENDPOINT_URL_S3");

    if (!v || !*v)
        v = getenv("AWS_ENDPOINT_URL");
    return v && *v ? v : NULL;
}

bool bench_s3_env(void)
{
    return s3_bucket() && s3_endpoint();
}

/* The Redis server of the environment (CAIRN_REDIS_URL, as
 * scripts/redis-server.sh sets it) as HOST:PORT, without the scheme. */
static const char *redis_address(void)
{
    const char *v = getenv("CAIRN_REDIS_URL");

    if (!v || strncmp(v, "redis://", 8) != 0 || !v[8])
        return NULL;
    return v + 8;
}

bool bench_redis_env(void)
{
    return redis_address() != NULL;
}

/* {cache}: see bench.h. */
static char cache_name[128] = "cache";

void bench_set_cache_name(const char *name)
{
    bench_copy(cache_name, sizeof(cache_name), name ? name : "cache");
}

/* Appends path as one path-free name ('/' turned into '-', no leading one). */
static size_t put_name(char *out, const char *path)
{
    size_t len = 0;

    for (const char *r = path + (*path == '/'); *r; r++)
        out[len++] = *r == '/' ? '-' : *r;
    return len;
}

char *bench_expand(const char *tmpl, const char *dir, const char *tmp, const char *run)
{
    const char *bucket = s3_bucket(), *endpoint = s3_endpoint(), *redis = redis_address();
    size_t cap = strlen(tmpl) + 1, len = 0;
    char *out;
    const char *p;

    bucket = bucket ? bucket : "";
    endpoint = endpoint ? endpoint : "";
    redis = redis ? redis : "";
    for (p = tmpl; (p = strchr(p, '{')); p++)
        cap += strlen(dir) + strlen(tmp) + strlen(run) + strlen(bucket) + strlen(endpoint) +
               strlen(redis) + strlen(cache_name);
    if (!(out = malloc(cap)))
        return NULL;
    for (p = tmpl; *p;) {
        if (strncmp(p, "{dir}", 5) == 0) {
            len += (size_t)sprintf(out + len, "%s", dir);
            p += 5;
        } else if (strncmp(p, "{tmp}", 5) == 0) {
            len += (size_t)sprintf(out + len, "%s", tmp);
            p += 5;
        } else if (strncmp(p, "{run}", 5) == 0) {
            /* the run directory as one path-free name */
            len += put_name(out + len, run);
            p += 5;
        } else if (strncmp(p, "{prefix}", 8) == 0) {
            /* the data directory as one path-free name: the template's
             * for runs that read it, the run's own for loads and writers */
            len += put_name(out + len, dir);
            p += 8;
        } else if (strncmp(p, "{bucket}", 8) == 0) {
            len += (size_t)sprintf(out + len, "%s", bucket);
            p += 8;
        } else if (strncmp(p, "{endpoint}", 10) == 0) {
            len += (size_t)sprintf(out + len, "%s", endpoint);
            p += 10;
        } else if (strncmp(p, "{redis}", 7) == 0) {
            len += (size_t)sprintf(out + len, "%s", redis);
            p += 7;
        } else if (strncmp(p, "{cache}", 7) == 0) {
            len += (size_t)sprintf(out + len, "%s", cache_name);
            p += 7;
        } else {
            out[len++] = *p++;
        }
    }
    out[len] = '\0';
    return out;
}

bool bench_spec_on_disk(const char *tmpl)
{
    return strstr(tmpl, "{dir}") != NULL || bench_spec_remote(tmpl) || bench_spec_redis(tmpl);
}

bool bench_spec_redis(const char *tmpl)
{
    return strstr(tmpl, "redis://") != NULL;
}

bool bench_spec_remote(const char *tmpl)
{
    return strstr(tmpl, "s3://") != NULL;
}

/* ---------------------------------------------------------------- machine */

/* Reads the first line of path into buf, without its newline. */
static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");

    if (!f)
        return -1;
    if (!fgets(buf, (int)len, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static const char *fs_name(long type)
{
    switch ((unsigned long)type) {
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794c7630: return "overlayfs";
    case 0x2fc12fc1: return "zfs";
    case 0x6a656a63: return "fakeowner";
    default: return "unknown fs";
    }
}

/* "ext4 on vda (rotational=0, model X)" from the device of path. */
static void describe_disk(const char *path, char *out, size_t len)
{
    struct stat st;
    struct statfs sfs;
    char sys[256], name[64] = "", rot[16] = "?", model[96] = "", line[256];
    const char *fs = "unknown fs";
    FILE *f;

    if (statfs(path, &sfs) == 0)
        fs = fs_name((long)sfs.f_type);
    if (stat(path, &st)) {
        snprintf(out, len, "%s", fs);
        return;
    }
    snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/uevent", major(st.st_dev),
             minor(st.st_dev));
    if ((f = fopen(sys, "r"))) {
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "DEVNAME=%63s", name) == 1)
                break;
        fclose(f);
    }
    snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/queue/rotational", major(st.st_dev),
             minor(st.st_dev));
    if (read_line(sys, rot, sizeof(rot))) {
        snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/../queue/rotational",
                 major(st.st_dev), minor(st.st_dev));
        read_line(sys, rot, sizeof(rot));
    }
    snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/device/model", major(st.st_dev),
             minor(st.st_dev));
    read_line(sys, model, sizeof(model));
    snprintf(out, len, "%s on %s (rotational=%s%s%s)", fs, name[0] ? name : "?", rot,
             model[0] ? ", model " : "", model);
}

void bench_machine_info(bench_machine *m, const char *data_dir)
{
    struct utsname u;
    char line[512];
    unsigned long long kb;
    time_t now = time(NULL);
    FILE *f;

    memset(m, 0, sizeof(*m));
    m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(m->cpu, sizeof(m->cpu), "unknown CPU");
    if ((f = fopen("/proc/cpuinfo", "r"))) {
        while (fgets(line, sizeof(line), f)) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon) {
                colon += 1 + (colon[1] == ' ');
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(m->cpu, sizeof(m->cpu), "%s", colon);
                break;
            }
        }
        fclose(f);
    }
    if (uname(&u) == 0 &&
        snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname, u.release, u.machine) < 0)
        m->kernel[0] = '\0';
    if ((f = fopen("/proc/meminfo", "r"))) {
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
                m->mem_bytes = (double)kb * 1024.0;
        fclose(f);
    }
    describe_disk(data_dir, m->disk, sizeof(m->disk));
    strftime(m->date, sizeof(m->date), "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
}
