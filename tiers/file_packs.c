/*
 * file_packs.c - the packs of a file store: packs/NAME.pack, each many
 * blobs in the pack format of tiers/pack.h (the S3 layout's), and the
 * in-memory index over all of them (see file_int.h for the interface and
 * file.c for how reads and writes use it).
 *
 * Names: "<16 hex digits: ns since the epoch>-<16 hex digits: random>.pack"
 * (getrandom). Sorting names sorts packs by creation; the random half makes
 * two writers (two machines sharing a directory, a process and its
 * successor in the same nanosecond) never pick the same name, and no name
 * is ever reused after a pack is deleted.
 *
 * Writing: the pack is built in memory, written to tmp/pack.<pid>.<n>,
 * fdatasynced, renamed to packs/NAME.pack, and packs/ fsynced (the syncs
 * with sync=full): one file, one fdatasync, one rename and one directory
 * fsync per commit instead of one of each per blob. A pack under packs/ is
 * therefore always complete, and a pack no ref names yet (a writer killed
 * before its ref moved) is harmless: its blobs are readable and unused.
 *
 * Loading (at open, and on a lookup miss for packs other processes have
 * added since): one batched statx of the new names, one batched read of the
 * last 8 KiB of each (the footer and, for packs of up to 169 blobs, the
 * whole index), and a second read of the index of larger packs; each pack
 * is validated (pack.h) before any of its entries is trusted. A pack that
 * fails is recorded as damaged with the reason, and reads that find a blob
 * nowhere else name it.
 *
 * Index: open addressing with linear probing over (pack, entry) pairs,
 * keyed by the id's first eight bytes; the entries themselves stay in each
 * pack's parsed index (48 bytes per blob, plus 8 per slot). An id held by
 * two packs maps to the first loaded. A pack that goes away (removed by
 * remove_many, or by another process) is dropped and the table rebuilt.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "file_int.h"
#include "id.h"
#include "pack.h"

#define NAME_CAP 65            /* a pack's file name + NUL */
#define SUFFIX_GUESS 8192      /* bytes read from the end of a pack at first */
#define LOAD_CHUNK 512         /* packs loaded per batch (bounds memory) */
#define LABEL_CAP (256 + FILE_PACK_PATH + 2) /* "PATH/packs/NAME.pack" */
#define WHY_CAP 512            /* why a pack is damaged */

struct fpack {
    char name[NAME_CAP];  /* "NAME.pack"; "" once gone */
    cairn_pack_index *ix; /* NULL once gone */
    bool durable;         /* known to be on disk (written or fsynced by us) */
};

struct bad_pack {
    char name[NAME_CAP];
    char why[WHY_CAP];
};

struct slot {
    uint32_t pack; /* pack number + 1; 0: empty */
    uint32_t entry;
};

struct cairn_fpacks {
    pthread_rwlock_t lock;    /* guards everything below */
    pthread_mutex_t refresh;  /* one refresh (directory walk) at a time */
    struct fpack *packs;
    size_t n_packs, cap_packs, n_live;
    struct bad_pack *bad;
    size_t n_bad, cap_bad;
    struct slot *table;
    size_t table_cap, used; /* table_cap: a power of two */
    /* The last listing of packs/ (under refresh): packs/'s mtime then, and
     * the coarse clock when the listing began. */
    bool listed;
    struct timespec dir_mtime, listed_at;
};

/* ---------------------------------------------------------------- helpers */

static int run(file_tier *t, cairn_io *ios, size_t n)
{
    int rc = cairn__io_run(t->io, t->root_fd, ios, n);
    return rc ? cairn__fail_context(rc, "file %s", t->path) : 0;
}

static int io_err(file_tier *t, const char *what, const cairn_io *io)
{
    int rc = io->rc == -ENOMEM ? CAIRN_NOMEM : io->rc == -ENODATA ? CAIRN_IO : io->rc;
    return cairn__fail(rc, "file %s: %s: %s %s: %s", t->path, what, io->step ? io->step : "",
                       io->path, io->rc == -ENODATA ? "file too short" : strerror(-io->rc));
}

/* Whether name is one we would read as a pack: "*.pack", short, of
 * letters, digits, '-', '_' and '.', not starting with '.'. */
static bool pack_name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len <= 5 || len >= NAME_CAP || name[0] == '.' || strcmp(name + len - 5, ".pack") != 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* ---------------------------------------------------------------- table */

static const cairn_id *slot_id(const cairn_fpacks *p, const struct slot *s)
{
    return &p->packs[s->pack - 1].ix->entries[s->entry].id;
}

/* Inserts (pack, entry) unless its id is there already. The table must
 * have room. */
static void table_put(cairn_fpacks *p, uint32_t pack, uint32_t entry)
{
    const cairn_id *id = &p->packs[pack].ix->entries[entry].id;
    size_t mask = p->table_cap - 1, i = cairn__id_hash(id) & mask;

    for (;; i = (i + 1) & mask) {
        struct slot *s = &p->table[i];
        if (!s->pack) {
            s->pack = pack + 1;
            s->entry = entry;
            p->used++;
            return;
        }
        if (cairn__id_eq(slot_id(p, s), id))
            return;
    }
}

static const struct slot *table_get(const cairn_fpacks *p, const cairn_id *id)
{
    size_t mask, i;

    if (!p->table_cap)
        return NULL;
    mask = p->table_cap - 1;
    for (i = cairn__id_hash(id) & mask;; i = (i + 1) & mask) {
        const struct slot *s = &p->table[i];
        if (!s->pack)
            return NULL;
        if (cairn__id_eq(slot_id(p, s), id))
            return s;
    }
}

/* Rebuilds the table for at least want entries (load at most 3/4) from
 * every live pack, in pack order. */
static int table_rebuild(cairn_fpacks *p, uint64_t want)
{
    size_t cap = 64;
    struct slot *table;

    while ((uint64_t)cap * 3 / 4 <= want) {
        if (cap > SIZE_MAX / 2 / sizeof(*table))
            return cairn__fail(CAIRN_NOMEM, "file: too many packed blobs to index");
        cap *= 2;
    }
    if (!(table = cairn__calloc(cap, sizeof(*table))))
        return cairn__fail(CAIRN_NOMEM, "file: out of memory indexing %llu packed blobs",
                           (unsigned long long)want);
    cairn__free(p->table);
    p->table = table;
    p->table_cap = cap;
    p->used = 0;
    for (size_t k = 0; k < p->n_packs; k++)
        for (uint64_t e = 0; p->packs[k].ix && e < p->packs[k].ix->count; e++)
            table_put(p, (uint32_t)k, (uint32_t)e);
    return 0;
}

/* Adds a parsed pack (ix is taken over, also on failure). Under the write
 * lock. */
static int add_pack(cairn_fpacks *p, const char *name, cairn_pack_index *ix, bool durable)
{
    uint32_t k;

    if (ix->count > UINT32_MAX || p->n_packs >= UINT32_MAX - 1) {
        cairn__pack_index_free(ix);
        return cairn__fail(CAIRN_NOMEM, "file: pack %s is too large to index", name);
    }
    if (p->n_packs == p->cap_packs) {
        size_t cap = p->cap_packs ? 2 * p->cap_packs : 16;
        struct fpack *grown = cairn__reallocarray(p->packs, cap, sizeof(*grown));
        if (!grown) {
            cairn__pack_index_free(ix);
            return cairn__fail(CAIRN_NOMEM, "file: out of memory indexing pack %s", name);
        }
        p->packs = grown;
        p->cap_packs = cap;
    }
    k = (uint32_t)p->n_packs++;
    snprintf(p->packs[k].name, NAME_CAP, "%.64s", name);
    p->packs[k].ix = ix;
    p->packs[k].durable = durable;
    p->n_live++;
    if ((uint64_t)(p->used + ix->count) >= (uint64_t)p->table_cap * 3 / 4) {
        int rc = table_rebuild(p, (uint64_t)(p->used + ix->count) * 2);
        if (rc) { /* the pack stays listed but unindexed until the next rebuild */
            return rc;
        }
        return 0;
    }
    for (uint64_t e = 0; e < ix->count; e++)
        table_put(p, k, (uint32_t)e);
    return 0;
}

static void drop_pack(cairn_fpacks *p, size_t k)
{
    cairn__pack_index_free(p->packs[k].ix);
    p->packs[k].ix = NULL;
    p->packs[k].name[0] = '\0';
    p->n_live--;
}

static void add_bad(cairn_fpacks *p, const char *name, const char *why)
{
    if (p->n_bad == p->cap_bad) {
        size_t cap = p->cap_bad ? 2 * p->cap_bad : 4;
        struct bad_pack *grown = cairn__reallocarray(p->bad, cap, sizeof(*grown));
        if (!grown)
            return; /* it will be looked at again at the next refresh */
        p->bad = grown;
        p->cap_bad = cap;
    }
    snprintf(p->bad[p->n_bad].name, NAME_CAP, "%.64s", name);
    snprintf(p->bad[p->n_bad].why, sizeof(p->bad[p->n_bad].why), "%s", why);
    p->n_bad++;
}

/* ---------------------------------------------------------------- loading */

/* Loads the n packs named (file names in packs/) and adds them: readable
 * ones to the index, damaged ones to the bad list, vanished ones nowhere. */
static int load_chunk(file_tier *t, char (*names)[NAME_CAP], size_t n)
{
    cairn_fpacks *p = t->packs;
    char (*paths)[FILE_PACK_PATH] = cairn__calloc(n, sizeof(*paths));
    cairn_io *ios = cairn__calloc(n, sizeof(*ios)), *big = cairn__calloc(n, sizeof(*big));
    cairn_pack_index **ixs = cairn__calloc(n, sizeof(*ixs));
    char (*why)[WHY_CAP] = cairn__calloc(n, sizeof(*why));
    uint64_t *sizes = cairn__calloc(n, sizeof(*sizes));
    size_t *big_of = cairn__calloc(n, sizeof(*big_of)), n_big = 0;
    int rc = 0;

    if (!paths || !ios || !big || !ixs || !why || !sizes || !big_of) {
        rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory loading packs", t->path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(paths[i], FILE_PACK_PATH, "packs/%s", names[i]);
        ios[i].kind = CAIRN_IO_STATX;
        ios[i].path = paths[i];
    }
    if ((rc = run(t, ios, n)))
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (ios[i].rc == -ENOENT) {
            sizes[i] = UINT64_MAX; /* gone meanwhile */
            continue;
        }
        if (ios[i].rc) {
            rc = io_err(t, "loading packs", &ios[i]);
            goto done;
        }
        sizes[i] = S_ISREG(ios[i].mode) ? ios[i].size : UINT64_MAX;
    }
    memset(ios, 0, n * sizeof(*ios));
    for (size_t i = 0; i < n; i++) {
        uint64_t want = sizes[i] == UINT64_MAX ? 0 : sizes[i];
        if (want > SUFFIX_GUESS)
            want = SUFFIX_GUESS;
        ios[i].kind = CAIRN_IO_READ;
        ios[i].path = paths[i];
        ios[i].len = (size_t)want;
        ios[i].offset = sizes[i] == UINT64_MAX ? 0 : sizes[i] - want;
    }
    if ((rc = run(t, ios, n)))
        goto done;
    for (size_t i = 0; i < n; i++) {
        char label[LABEL_CAP];
        cairn_pack_footer f;

        if (sizes[i] == UINT64_MAX || ios[i].rc == -ENOENT)
            continue;
        snprintf(label, sizeof(label), "%s/%s", t->path, paths[i]);
        if (ios[i].rc == -ENOMEM) {
            rc = io_err(t, "loading packs", &ios[i]);
            goto done;
        }
        if (ios[i].rc) {
            snprintf(why[i], sizeof(why[i]), "cannot read %.340s: %.100s", label, strerror(-ios[i].rc));
            continue;
        }
        if (ios[i].len < CAIRN_PACK_FOOTER ||
            cairn__pack_footer_parse(label, (uint8_t *)ios[i].buf + ios[i].len - CAIRN_PACK_FOOTER,
                                     sizes[i], &f)) {
            if (ios[i].len < CAIRN_PACK_FOOTER)
                cairn__fail(CAIRN_CORRUPT, "pack %s: truncated: %llu bytes", label,
                            (unsigned long long)sizes[i]);
            snprintf(why[i], sizeof(why[i]), "%s", cairn_errdetail());
            continue;
        }
        if (cairn__pack_suffix_len(&f) > ios[i].len) {
            big[n_big].kind = CAIRN_IO_READ;
            big[n_big].path = paths[i];
            big[n_big].len = (size_t)cairn__pack_suffix_len(&f);
            big[n_big].offset = sizes[i] - cairn__pack_suffix_len(&f);
            big_of[n_big++] = i;
            continue;
        }
        if ((rc = cairn__pack_index_parse(label, ios[i].buf, ios[i].len, sizes[i], &ixs[i]))) {
            if (rc == CAIRN_NOMEM) /* not the pack's fault */
                goto done;
            snprintf(why[i], sizeof(why[i]), "%s", cairn_errdetail());
            rc = 0;
        }
    }
    if (n_big && (rc = run(t, big, n_big)))
        goto done;
    for (size_t b = 0; b < n_big; b++) {
        size_t i = big_of[b];
        char label[LABEL_CAP];
        snprintf(label, sizeof(label), "%s/%s", t->path, paths[i]);
        if (big[b].rc == -ENOMEM) {
            rc = io_err(t, "loading packs", &big[b]);
            goto done;
        }
        if (big[b].rc == -ENOENT) {
            sizes[i] = UINT64_MAX;
        } else if (big[b].rc) {
            snprintf(why[i], sizeof(why[i]), "cannot read %.340s: %.100s", label,
                     strerror(-big[b].rc));
        } else if ((rc = cairn__pack_index_parse(label, big[b].buf, big[b].len, sizes[i],
                                                 &ixs[i]))) {
            if (rc == CAIRN_NOMEM)
                goto done;
            snprintf(why[i], sizeof(why[i]), "%s", cairn_errdetail());
            rc = 0;
        }
    }
    cairn__detail_clear();
    pthread_rwlock_wrlock(&p->lock);
    for (size_t i = 0; i < n && !rc; i++) {
        if (ixs[i]) {
            rc = add_pack(p, names[i], ixs[i], false);
            ixs[i] = NULL;
        } else if (why[i][0]) {
            add_bad(p, names[i], why[i]);
        }
    }
    pthread_rwlock_unlock(&p->lock);
done:
    if (ios)
        cairn__io_free_bufs(ios, n);
    if (big)
        cairn__io_free_bufs(big, n_big);
    for (size_t i = 0; ixs && i < n; i++)
        cairn__pack_index_free(ixs[i]);
    cairn__free(paths);
    cairn__free(ios);
    cairn__free(big);
    cairn__free(ixs);
    cairn__free(why);
    cairn__free(sizes);
    cairn__free(big_of);
    return rc;
}

/* Lists packs/ into *names (sorted). A missing packs/ is an empty list. */
static int list_packs(file_tier *t, char (**names)[NAME_CAP], size_t *n)
{
    struct dirent *de;
    size_t cap = 0;
    DIR *d;
    int fd;

    *names = NULL;
    *n = 0;
    if ((fd = openat(t->root_fd, "packs", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        !(d = fdopendir(fd))) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return err == ENOENT ? 0 : cairn__fail(-err, "file %s: cannot list packs: %s", t->path,
                                              strerror(err));
    }
    while ((de = readdir(d))) {
        if (!pack_name_ok(de->d_name))
            continue;
        if (*n == cap) {
            char(*grown)[NAME_CAP];
            cap = cap ? 2 * cap : 64;
            if (!(grown = cairn__reallocarray(*names, cap, sizeof(*grown)))) {
                closedir(d);
                cairn__free(*names);
                *names = NULL;
                return cairn__fail(CAIRN_NOMEM, "file %s: out of memory listing packs", t->path);
            }
            *names = grown;
        }
        snprintf((*names)[(*n)++], NAME_CAP, "%.64s", de->d_name);
    }
    closedir(d);
    if (*n > 1)
        qsort(*names, *n, NAME_CAP, name_cmp);
    return 0;
}

static int refresh_locked(file_tier *t)
{
    cairn_fpacks *p = t->packs;
    char(*names)[NAME_CAP], (*known)[NAME_CAP] = NULL;
    size_t n, n_known = 0, n_new = 0, k = 0;
    bool gone = false;
    int rc;

    if ((rc = list_packs(t, &names, &n)))
        return rc;
    pthread_rwlock_rdlock(&p->lock);
    if (!(known = cairn__calloc(p->n_live + p->n_bad + 1, sizeof(*known)))) {
        pthread_rwlock_unlock(&p->lock);
        cairn__free(names);
        return cairn__fail(CAIRN_NOMEM, "file %s: out of memory listing packs", t->path);
    }
    for (size_t i = 0; i < p->n_packs; i++)
        if (p->packs[i].ix)
            memcpy(known[n_known++], p->packs[i].name, NAME_CAP);
    for (size_t i = 0; i < p->n_bad; i++)
        memcpy(known[n_known++], p->bad[i].name, NAME_CAP);
    pthread_rwlock_unlock(&p->lock);
    if (n_known > 1)
        qsort(known, n_known, NAME_CAP, name_cmp);
    /* names minus known go to the front of names; known minus names are
     * packs that went away. */
    for (size_t i = 0; i < n; i++) {
        int c = 1;
        while (k < n_known && (c = strcmp(known[k], names[i])) < 0) {
            gone = true;
            k++;
        }
        if (k < n_known && c == 0) {
            k++;
            continue;
        }
        memmove(names[n_new++], names[i], NAME_CAP);
    }
    gone |= k < n_known;
    if (gone) {
        pthread_rwlock_wrlock(&p->lock);
        for (size_t i = 0; i < p->n_packs; i++) {
            if (!p->packs[i].ix)
                continue;
            char path[FILE_PACK_PATH];
            snprintf(path, sizeof(path), "packs/%s", p->packs[i].name);
            if (faccessat(t->root_fd, path, F_OK, 0) != 0 && errno == ENOENT)
                drop_pack(p, i);
        }
        rc = table_rebuild(p, p->used + 1);
        pthread_rwlock_unlock(&p->lock);
    }
    for (size_t i = 0; i < n_new && !rc; i += LOAD_CHUNK)
        rc = load_chunk(t, names + i, n_new - i < LOAD_CHUNK ? n_new - i : LOAD_CHUNK);
    cairn__free(names);
    cairn__free(known);
    return rc;
}

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* Lists packs/ again unless it cannot have changed since the last
 * listing: its mtime is the same, and that mtime is older than the start
 * of the listing by more than the clock's granularity (the kernel stamps
 * directories from the same coarse clock, so any later change gives a
 * later mtime). Saves a directory walk per miss in stores of many packs. */
int cairn__fpacks_refresh(file_tier *t)
{
    cairn_fpacks *p = t->packs;
    struct timespec started;
    struct stat st;
    bool have_st;
    int rc;

    pthread_mutex_lock(&p->refresh);
    clock_gettime(CLOCK_REALTIME_COARSE, &started);
    have_st = fstatat(t->root_fd, "packs", &st, 0) == 0;
    if (have_st && p->listed && ts_ns(&st.st_mtim) == ts_ns(&p->dir_mtime) &&
        ts_ns(&p->dir_mtime) + 50000000 < ts_ns(&p->listed_at)) {
        pthread_mutex_unlock(&p->refresh);
        return 0;
    }
    rc = refresh_locked(t);
    p->listed = rc == 0 && have_st;
    if (have_st) {
        p->dir_mtime = st.st_mtim;
        p->listed_at = started;
    }
    pthread_mutex_unlock(&p->refresh);
    return rc;
}

int cairn__fpacks_open(file_tier *t)
{
    cairn_fpacks *p;
    int rc;

    if (!(p = cairn__calloc(1, sizeof(*p))))
        return cairn__fail(CAIRN_NOMEM, "file %s: out of memory", t->path);
    pthread_rwlock_init(&p->lock, NULL);
    pthread_mutex_init(&p->refresh, NULL);
    t->packs = p;
    if ((rc = table_rebuild(p, 0)) || (rc = cairn__fpacks_refresh(t))) {
        cairn__fpacks_free(p);
        t->packs = NULL;
    }
    return rc;
}

void cairn__fpacks_free(cairn_fpacks *p)
{
    if (!p)
        return;
    for (size_t k = 0; k < p->n_packs; k++)
        cairn__pack_index_free(p->packs[k].ix);
    cairn__free(p->packs);
    cairn__free(p->bad);
    cairn__free(p->table);
    pthread_rwlock_destroy(&p->lock);
    pthread_mutex_destroy(&p->refresh);
    cairn__free(p);
}

/* ---------------------------------------------------------------- lookups */

bool cairn__fpacks_lookup(cairn_fpacks *p, const cairn_id *id, struct fpack_loc *loc)
{
    const struct slot *s;
    bool found = false;

    pthread_rwlock_rdlock(&p->lock);
    if ((s = table_get(p, id))) {
        const cairn_pack_entry *e = &p->packs[s->pack - 1].ix->entries[s->entry];
        snprintf(loc->path, sizeof(loc->path), "packs/%s", p->packs[s->pack - 1].name);
        loc->offset = e->offset;
        loc->length = e->length;
        loc->pack = s->pack - 1;
        found = true;
    }
    pthread_rwlock_unlock(&p->lock);
    return found;
}

static int by_fid(const void *a, const void *b)
{
    return cairn__id_cmp(&((const struct fpack_id *)a)->id, &((const struct fpack_id *)b)->id);
}

int cairn__fpacks_ids(cairn_fpacks *p, const cairn_id *from, struct fpack_id **out, size_t *n)
{
    struct fpack_id *v;
    size_t m = 0, total = 0;

    *out = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&p->lock);
    for (size_t k = 0; k < p->n_packs; k++)
        total += p->packs[k].ix ? (size_t)p->packs[k].ix->count : 0;
    if (!(v = cairn__calloc(total ? total : 1, sizeof(*v)))) {
        pthread_rwlock_unlock(&p->lock);
        return cairn__fail(CAIRN_NOMEM, "file: out of memory listing %zu packed blobs", total);
    }
    for (size_t k = 0; k < p->n_packs; k++) {
        const cairn_pack_index *ix = p->packs[k].ix;
        for (uint64_t e = 0; ix && e < ix->count; e++) {
            if (from && cairn__id_cmp(&ix->entries[e].id, from) < 0)
                continue;
            v[m].id = ix->entries[e].id;
            v[m++].length = ix->entries[e].length;
        }
    }
    pthread_rwlock_unlock(&p->lock);
    if (m > 1)
        qsort(v, m, sizeof(*v), by_fid);
    *n = 0;
    for (size_t i = 0; i < m; i++) /* each id once */
        if (*n == 0 || !cairn__id_eq(&v[*n - 1].id, &v[i].id))
            v[(*n)++] = v[i];
    *out = v;
    return 0;
}

size_t cairn__fpacks_damage_note(cairn_fpacks *p, char *buf, size_t cap)
{
    size_t n, pos = 0;

    buf[0] = '\0';
    pthread_rwlock_rdlock(&p->lock);
    n = p->n_bad;
    for (size_t i = 0; i < n && i < 3 && pos + 1 < cap; i++) {
        int w = snprintf(buf + pos, cap - pos, "%s%s", i ? "; " : "", p->bad[i].why);
        pos += w > 0 ? (size_t)w : 0;
    }
    if (n > 3 && pos + 1 < cap)
        snprintf(buf + pos, cap - pos, "; and %zu more damaged packs", n - 3);
    pthread_rwlock_unlock(&p->lock);
    return n;
}

void cairn__fpacks_count(cairn_fpacks *p, uint64_t *packs, uint64_t *blobs)
{
    pthread_rwlock_rdlock(&p->lock);
    *packs = p->n_live;
    *blobs = p->used;
    pthread_rwlock_unlock(&p->lock);
}

/* ---------------------------------------------------------------- writing */

/* A new pack name (see the file comment). */
static void new_name(file_tier *t, char *out)
{
    struct timespec ts;
    uint64_t rnd = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
        rnd = (uint64_t)getpid() << 32 ^ atomic_fetch_add(&t->tmp_counter, 1) ^
              (uint64_t)(uintptr_t)&ts;
    snprintf(out, NAME_CAP, "%016llx-%016llx.pack",
             (unsigned long long)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec),
             (unsigned long long)rnd);
}

int cairn__fpacks_write(file_tier *t, const cairn_blob *blobs, const size_t *which, size_t n)
{
    cairn_fpacks *p = t->packs;
    char name[NAME_CAP], path[FILE_PACK_PATH], tmp[FILE_TMP_PATH];
    cairn_blob *sub = cairn__calloc(n ? n : 1, sizeof(*sub));
    cairn_pack_index *ix = NULL;
    uint8_t *buf = NULL;
    size_t len;
    cairn_io io;
    int rc;

    if (!sub)
        return cairn__fail(CAIRN_NOMEM, "file %s: out of memory writing a pack", t->path);
    for (size_t i = 0; i < n; i++)
        sub[i] = blobs[which[i]];
    if ((rc = cairn__pack_build(sub, n, &buf, &len)))
        goto done;
    new_name(t, name);
    snprintf(path, sizeof(path), "packs/%s", name);
    cairn__file_tmp_name(t, "pack", tmp);
    memset(&io, 0, sizeof(io));
    io.kind = CAIRN_IO_WRITE;
    io.sync = t->sync_full;
    io.path = path;
    io.tmp_path = tmp;
    io.data = buf;
    io.len = len;
    if ((rc = run(t, &io, 1)))
        goto done;
    if (io.rc) {
        rc = io_err(t, "writing a pack", &io);
        goto done;
    }
    if (t->sync_full) {
        memset(&io, 0, sizeof(io));
        io.kind = CAIRN_IO_FSYNC_DIR;
        io.path = "packs";
        if ((rc = run(t, &io, 1)) || (io.rc && (rc = io_err(t, "syncing packs", &io))))
            goto done;
    }
    /* Index what was written (parsing our own bytes also checks the
     * builder against the reader). */
    {
        uint64_t suffix = (uint64_t)len;
        cairn_pack_footer f;
        if ((rc = cairn__pack_footer_parse(path, buf + len - CAIRN_PACK_FOOTER, len, &f)))
            goto done;
        suffix = cairn__pack_suffix_len(&f);
        if ((rc = cairn__pack_index_parse(path, buf + len - suffix, (size_t)suffix, len, &ix)))
            goto done;
    }
    pthread_rwlock_wrlock(&p->lock);
    rc = add_pack(p, name, ix, t->sync_full);
    pthread_rwlock_unlock(&p->lock);
    ix = NULL;
done:
    cairn__pack_index_free(ix);
    cairn__free(buf);
    cairn__free(sub);
    return rc;
}

int cairn__fpacks_make_durable(file_tier *t, uint32_t pack)
{
    cairn_fpacks *p = t->packs;
    char path[FILE_PACK_PATH];
    cairn_io ios[2];
    bool durable;
    int rc;

    pthread_rwlock_rdlock(&p->lock);
    durable = pack >= p->n_packs || p->packs[pack].durable || !p->packs[pack].ix;
    if (!durable)
        snprintf(path, sizeof(path), "packs/%s", p->packs[pack].name);
    pthread_rwlock_unlock(&p->lock);
    if (durable || !t->sync_full)
        return 0;
    memset(ios, 0, sizeof(ios));
    ios[0].kind = CAIRN_IO_FSYNC;
    ios[0].path = path;
    ios[1].kind = CAIRN_IO_FSYNC_DIR;
    ios[1].path = "packs";
    if ((rc = run(t, ios, 2)))
        return rc;
    for (int i = 0; i < 2; i++)
        if (ios[i].rc)
            return io_err(t, "syncing a pack", &ios[i]);
    pthread_rwlock_wrlock(&p->lock);
    if (pack < p->n_packs)
        p->packs[pack].durable = true;
    pthread_rwlock_unlock(&p->lock);
    return 0;
}

/* ---------------------------------------------------------------- removing */

static int id_cmp_void(const void *a, const void *b)
{
    return cairn__id_cmp(a, b);
}

/* Rewrites pack k without the ids in gone[0..n_gone) (sorted): the rest
 * go into a new pack (durable first), then the old one is unlinked. */
static int rewrite_pack(file_tier *t, uint32_t k, const cairn_id *gone, size_t n_gone)
{
    cairn_fpacks *p = t->packs;
    char path[FILE_PACK_PATH];
    cairn_pack_entry *keep = NULL;
    cairn_blob *blobs = NULL;
    size_t *which = NULL, n_keep = 0;
    uint64_t size = 0, count;
    cairn_io io;
    int rc = 0;

    pthread_rwlock_rdlock(&p->lock);
    if (k >= p->n_packs || !p->packs[k].ix) {
        pthread_rwlock_unlock(&p->lock);
        return 0;
    }
    snprintf(path, sizeof(path), "packs/%s", p->packs[k].name);
    count = p->packs[k].ix->count;
    size = p->packs[k].ix->size;
    if ((keep = cairn__calloc(count ? count : 1, sizeof(*keep))))
        for (uint64_t e = 0; e < count; e++)
            if (!bsearch(&p->packs[k].ix->entries[e].id, gone, n_gone, sizeof(*gone),
                         id_cmp_void))
                keep[n_keep++] = p->packs[k].ix->entries[e];
    pthread_rwlock_unlock(&p->lock);
    if (!keep)
        return cairn__fail(CAIRN_NOMEM, "file %s: out of memory", t->path);
    cairn__pack_entries_by_offset(keep, n_keep);
    memset(&io, 0, sizeof(io));
    if (n_keep) {
        io.kind = CAIRN_IO_READ;
        io.path = path;
        io.len = (size_t)size;
        if ((rc = run(t, &io, 1)))
            goto done;
        if (io.rc) {
            rc = io_err(t, "rewriting a pack", &io);
            goto done;
        }
        blobs = cairn__calloc(n_keep, sizeof(*blobs));
        which = cairn__calloc(n_keep, sizeof(*which));
        if (!blobs || !which) {
            rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory", t->path);
            goto done;
        }
        for (size_t i = 0; i < n_keep; i++) {
            blobs[i] = (cairn_blob){keep[i].id, (uint8_t *)io.buf + keep[i].offset,
                                    (size_t)keep[i].length};
            which[i] = i;
        }
        if ((rc = cairn__fpacks_write(t, blobs, which, n_keep)))
            goto done;
    }
    {
        cairn_io un;
        memset(&un, 0, sizeof(un));
        un.kind = CAIRN_IO_UNLINK;
        un.path = path;
        if ((rc = run(t, &un, 1)))
            goto done;
        if (un.rc && un.rc != -ENOENT) {
            rc = io_err(t, "removing a pack", &un);
            goto done;
        }
    }
    pthread_rwlock_wrlock(&p->lock);
    if (p->packs[k].ix)
        drop_pack(p, k);
    rc = table_rebuild(p, p->used + 1);
    pthread_rwlock_unlock(&p->lock);
done:
    cairn__io_free_bufs(&io, 1);
    cairn__free(keep);
    cairn__free(blobs);
    cairn__free(which);
    return rc;
}

int cairn__fpacks_remove(file_tier *t, const cairn_id *ids, size_t n)
{
    cairn_id *gone = cairn__calloc(n ? n : 1, sizeof(*gone));
    uint32_t *hit = cairn__calloc(n ? n : 1, sizeof(*hit));
    size_t n_gone = 0, n_hit = 0;
    int rc = 0;

    if (!gone || !hit) {
        rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory", t->path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        struct fpack_loc loc;
        if (!cairn__fpacks_lookup(t->packs, &ids[i], &loc))
            continue;
        gone[n_gone++] = ids[i];
        hit[n_hit++] = loc.pack;
    }
    if (n_gone == 0)
        goto done;
    qsort(gone, n_gone, sizeof(*gone), id_cmp_void);
    /* Each pack once; an id held by two packs is looked up again after the
     * first is rewritten (the loop below repeats until none holds it). */
    for (size_t i = 0; i < n_hit && !rc; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = hit[j] == hit[i];
        if (!seen)
            rc = rewrite_pack(t, hit[i], gone, n_gone);
    }
    if (!rc)
        for (size_t i = 0; i < n_gone && !rc; i++) {
            struct fpack_loc loc;
            if (cairn__fpacks_lookup(t->packs, &gone[i], &loc))
                rc = cairn__fpacks_remove(t, &gone[i], 1);
        }
done:
    cairn__free(gone);
    cairn__free(hit);
    return rc;
}
