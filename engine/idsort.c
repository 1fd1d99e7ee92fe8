/* idsort.c - sets of blob ids sorted on disk (see idsort.h). */
#include "idsort.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "alloc.h"
#include "error.h"

#define MAGIC "CAIRNIDS"
#define HEADER 16
#define TRAILER 8
#define IO_BUF (256u << 10)

struct cairn_idsort {
    char dir[4096];
    char prefix[128];
    cairn_id *buf;
    size_t n, cap;
    unsigned runs;
};

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t from_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int id_cmp_void(const void *a, const void *b)
{
    return cairn__id_cmp(a, b);
}

static void run_path(const cairn_idsort *s, unsigned k, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.run%u", s->dir, s->prefix, k);
}

/* Sorts the buffer and drops duplicates in it. */
static void sort_buffer(cairn_idsort *s)
{
    size_t m = 0;
    if (s->n > 1)
        qsort(s->buf, s->n, sizeof(*s->buf), id_cmp_void);
    for (size_t i = 0; i < s->n; i++)
        if (!m || !cairn__id_eq(&s->buf[m - 1], &s->buf[i]))
            s->buf[m++] = s->buf[i];
    s->n = m;
}

static int io_fail(const char *what, const char *path)
{
    int e = errno ? errno : EIO;
    return cairn__fail(-e, "%s %s: %s", what, path, strerror(e));
}

/* Writes the buffer, sorted, as the next run. */
static int spill(cairn_idsort *s)
{
    char path[4300];
    FILE *f;

    sort_buffer(s);
    run_path(s, s->runs, path, sizeof(path));
    errno = 0;
    if (!(f = fopen(path, "wbe")))
        return io_fail("cannot create", path);
    if (s->n && fwrite(s->buf, sizeof(*s->buf), s->n, f) != s->n) {
        fclose(f);
        return io_fail("cannot write", path);
    }
    if (fclose(f))
        return io_fail("cannot write", path);
    s->runs++;
    s->n = 0;
    return 0;
}

int cairn__idsort_open(const char *dir, const char *prefix, size_t run_bytes, cairn_idsort **out)
{
    cairn_idsort *s;

    *out = NULL;
    if (strlen(dir) >= sizeof(s->dir) || strlen(prefix) >= sizeof(s->prefix))
        return cairn__fail(CAIRN_BADARG, "id set: a path too long under %.100s", dir);
    if (!(s = cairn__calloc(1, sizeof(*s))))
        return CAIRN_NOMEM;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
    s->cap = run_bytes / sizeof(cairn_id) < 64 ? 64 : run_bytes / sizeof(cairn_id);
    if (!(s->buf = cairn__malloc(s->cap * sizeof(*s->buf)))) {
        cairn__free(s);
        return cairn__fail(CAIRN_NOMEM, "id set: no memory for a run of %zu ids", s->cap);
    }
    *out = s;
    return 0;
}

int cairn__idsort_add(cairn_idsort *s, const cairn_id *id)
{
    int rc;
    if (s->n == s->cap && (rc = spill(s)))
        return rc;
    s->buf[s->n++] = *id;
    return 0;
}

/* Writing the sorted file: the header with the count left for the end. */
struct out_file {
    FILE *f;
    XXH64_state_t *h;
    uint64_t count;
    cairn_id last;
};

static int out_put(struct out_file *o, const cairn_id *id)
{
    if (o->count && cairn__id_eq(&o->last, id))
        return 0;
    if (fwrite(id, sizeof(*id), 1, o->f) != 1)
        return -1;
    XXH64_update(o->h, id, sizeof(*id));
    o->last = *id;
    o->count++;
    return 0;
}

/* One run being merged. */
struct run {
    FILE *f;
    cairn_id head; /* its smallest id not yet taken */
};

static bool run_advance(struct run *r)
{
    return fread(&r->head, sizeof(r->head), 1, r->f) == 1;
}

/* A min-heap of runs by head. */
static void heap_down(struct run **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && cairn__id_cmp(&h[l]->head, &h[m]->head) < 0)
            m = l;
        if (l + 1 < n && cairn__id_cmp(&h[l + 1]->head, &h[m]->head) < 0)
            m = l + 1;
        if (m == i)
            return;
        struct run *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Merges the runs into o (the buffer was spilled as the last run). */
static int merge_runs(cairn_idsort *s, struct out_file *o)
{
    struct run *runs = cairn__calloc(s->runs, sizeof(*runs));
    struct run **heap = cairn__calloc(s->runs, sizeof(*heap));
    size_t n = 0;
    int rc = 0;

    if (!runs || !heap) {
        rc = CAIRN_NOMEM;
        goto done;
    }
    for (unsigned k = 0; k < s->runs; k++) {
        char path[4300];
        run_path(s, k, path, sizeof(path));
        errno = 0;
        if (!(runs[k].f = fopen(path, "rbe"))) {
            rc = io_fail("cannot read", path);
            goto done;
        }
        setvbuf(runs[k].f, NULL, _IOFBF, IO_BUF);
        if (run_advance(&runs[k]))
            heap[n++] = &runs[k];
    }
    for (size_t i = n / 2; i-- > 0;)
        heap_down(heap, n, i);
    while (n) {
        if (out_put(o, &heap[0]->head)) {
            rc = -1;
            goto done;
        }
        if (!run_advance(heap[0]))
            heap[0] = heap[--n];
        heap_down(heap, n, 0);
    }
    for (unsigned k = 0; k < s->runs; k++)
        if (ferror(runs[k].f))
            rc = cairn__fail(-EIO, "id set: a run of %s could not be read back", s->prefix);
done:
    for (unsigned k = 0; runs && k < s->runs; k++)
        if (runs[k].f)
            fclose(runs[k].f);
    cairn__free(runs);
    cairn__free(heap);
    return rc;
}

int cairn__idsort_finish(cairn_idsort *s, const char *path, uint64_t *count)
{
    char tmp[4200];
    uint8_t head[HEADER], tail[TRAILER];
    struct out_file o = {0};
    int rc = 0;

    *count = 0;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return cairn__fail(CAIRN_BADARG, "id set: path too long: %.100s", path);
    if (s->runs && (rc = spill(s)))
        return rc;
    if (!s->runs)
        sort_buffer(s);
    errno = 0;
    if (!(o.f = fopen(tmp, "wbe")))
        return io_fail("cannot create", tmp);
    setvbuf(o.f, NULL, _IOFBF, IO_BUF);
    if (!(o.h = XXH64_createState())) {
        fclose(o.f);
        return CAIRN_NOMEM;
    }
    memset(head, 0, sizeof(head));
    memcpy(head, MAGIC, 8);
    if (fwrite(head, 1, HEADER, o.f) != HEADER) /* the count is filled in last */
        rc = -1;
    XXH64_reset(o.h, 0);
    if (!rc && s->runs)
        rc = merge_runs(s, &o);
    for (size_t i = 0; !rc && !s->runs && i < s->n; i++)
        rc = out_put(&o, &s->buf[i]);
    if (!rc) {
        uint8_t c[8];
        le64(c, o.count);
        XXH64_update(o.h, c, 8);
        le64(tail, XXH64_digest(o.h));
        le64(head + 8, o.count);
        if (fwrite(tail, 1, TRAILER, o.f) != TRAILER || fseek(o.f, 8, SEEK_SET) ||
            fwrite(head + 8, 1, 8, o.f) != 8 || fflush(o.f) || fsync(fileno(o.f)))
            rc = -1;
    }
    XXH64_freeState(o.h);
    if (fclose(o.f) && !rc)
        rc = -1;
    if (rc == -1)
        rc = io_fail("cannot write", tmp);
    if (!rc && rename(tmp, path))
        rc = io_fail("cannot rename to", path);
    if (rc)
        unlink(tmp);
    else
        *count = o.count;
    return rc;
}

void cairn__idsort_close(cairn_idsort *s)
{
    if (!s)
        return;
    for (unsigned k = 0; k < s->runs; k++) {
        char path[4300];
        run_path(s, k, path, sizeof(path));
        unlink(path);
    }
    cairn__free(s->buf);
    cairn__free(s);
}

/* ---------------------------------------------------------------- reading */

struct cairn_idfile {
    FILE *f;
    char path[4096];
    uint64_t count, read;
    XXH64_state_t *h;
    cairn_id last;
};

int cairn__idfile_open(const char *path, cairn_idfile **out)
{
    uint8_t head[HEADER];
    struct stat st;
    cairn_idfile *f;

    *out = NULL;
    if (!(f = cairn__calloc(1, sizeof(*f))))
        return CAIRN_NOMEM;
    snprintf(f->path, sizeof(f->path), "%s", path);
    errno = 0;
    if (!(f->f = fopen(path, "rbe"))) {
        int rc = io_fail("cannot open", path);
        cairn__free(f);
        return rc;
    }
    setvbuf(f->f, NULL, _IOFBF, IO_BUF);
    if (fstat(fileno(f->f), &st) || fread(head, 1, HEADER, f->f) != HEADER ||
        memcmp(head, MAGIC, 8)) {
        cairn__idfile_close(f);
        return cairn__fail(CAIRN_CORRUPT, "%s is not a sorted id file", path);
    }
    f->count = from_le64(head + 8);
    if (f->count > ((uint64_t)st.st_size - HEADER) / 32 ||
        (uint64_t)st.st_size != HEADER + f->count * 32 + TRAILER) {
        cairn__idfile_close(f);
        return cairn__fail(CAIRN_CORRUPT, "%s: %llu bytes do not hold the %llu ids it says", path,
                           (unsigned long long)st.st_size, (unsigned long long)from_le64(head + 8));
    }
    if (!(f->h = XXH64_createState())) {
        cairn__idfile_close(f);
        return CAIRN_NOMEM;
    }
    XXH64_reset(f->h, 0);
    *out = f;
    return 0;
}

uint64_t cairn__idfile_count(const cairn_idfile *f)
{
    return f->count;
}

int cairn__idfile_next(cairn_idfile *f, cairn_id *out)
{
    if (f->read == f->count) {
        uint8_t c[8], tail[TRAILER];
        if (fread(tail, 1, TRAILER, f->f) != TRAILER)
            return io_fail("cannot read", f->path);
        le64(c, f->count);
        XXH64_update(f->h, c, 8);
        if (XXH64_digest(f->h) != from_le64(tail))
            return cairn__fail(CAIRN_CORRUPT, "%s: its checksum does not match its ids",
                               f->path);
        f->read++; /* past the end: later calls return 0 again */
        return 0;
    }
    if (f->read > f->count)
        return 0;
    if (fread(out, sizeof(*out), 1, f->f) != 1)
        return io_fail("cannot read", f->path);
    if (f->read && cairn__id_cmp(&f->last, out) >= 0)
        return cairn__fail(CAIRN_CORRUPT, "%s: id %llu is not above the one before", f->path,
                           (unsigned long long)f->read);
    XXH64_update(f->h, out, sizeof(*out));
    f->last = *out;
    f->read++;
    return 1;
}

void cairn__idfile_close(cairn_idfile *f)
{
    if (!f)
        return;
    if (f->f)
        fclose(f->f);
    if (f->h)
        XXH64_freeState(f->h);
    cairn__free(f);
}
