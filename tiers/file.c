/*
 * file.c - the file tier: "file:PATH[?capacity=SIZE&sync=full|none
 * &io=uring|syscall&queue=N&promote=0|1]".
 *
 * Layout under PATH, git's loose objects (rsync, cp -r and backup tools
 * work on it, and a copy opens and verifies like the original):
 *
 *     cairn-file-store     "cairn file store\nformat 1\n"
 *     objects/3f/2a9c...   one file per blob: the id in hex is "3f2a9c..."
 *     refs/heads/main      one file per ref (file_refs.c)
 *     pins/NAME            one file per pin (file_pins.c)
 *     tmp/                 files being written: <hex>.<pid>.<counter>
 *     cairn.lock           the writer lock (flock)
 *     cache-order          cache mode: ids by recency at the last close
 *
 * A directory that exists, is not empty and has no cairn-file-store is
 * refused (CAIRN_BADSPEC): the tier never scribbles into a random place
 * (file_layout.c; refs are in file_refs.c, the cache index in
 * file_cache.c, the io_uring batches in uring.c).
 *
 * Writing (put_many), all blob I/O through uring.h in a few submissions:
 *   1. statx the final names: a blob whose file exists with the blob's size
 *      is skipped (ids name contents); a file of another size is replaced.
 *   2. mkdirat the objects/XX directories this process has not seen yet.
 *   3. per blob, one linked chain: openat(tmp/...) -> write -> fdatasync ->
 *      close -> renameat(objects/XX/...). A blob's final name appears only
 *      once its bytes are complete and durable.
 *   4. fsync every objects/XX that got a new name (and objects/ when an XX
 *      was created), so the renames are durable when put_many returns.
 * Partial writes are resumed from where they stopped (uring.h).
 *
 * Sync semantics. sync=full (a store's default): put_many and ref_cas are
 * durable when they return, so sync() has nothing left to do and returns
 * 0; a commit's blobs are durable before its ref moves, and a killed
 * writer leaves the store at its last ref. sync=none: nothing is fsynced,
 * not even by a commit (publish), and sync() calls syncfs() on the store's
 * filesystem, which keeps the tier.h promise (put, then sync, is durable). A cache (capacity set;
 * sync=none by default) promises nothing: its sync() returns 0 and a power
 * cut may leave damaged files, which the stack's hash check drops.
 *
 * Reading (get_many): statx for sizes (skipped for ids a cache already
 * indexes), then per blob openat -> read -> close, linked, many in flight.
 * A file shorter than its size is absent for a cache and CAIRN_IO for a
 * store. Tiers do not hash: the stack checks every blob against its id.
 *
 * Cache mode (capacity=SIZE): file_cache.c keeps an LRU index built at
 * open from a scan of objects/ (the price of a warm restart) and the
 * cache-order file; puts add, gets refresh, and past the capacity the least
 * recently used files are unlinked in one batch (counters.evictions).
 * Blobs larger than the capacity are not cached. Several processes may
 * share a cache directory; each keeps its own index, and a file another
 * process removed is just a miss. CAIRN_RDONLY does not apply to a cache
 * (a read-only store still fills its cache).
 *
 * At open, tmp/ files whose <pid> names no live process are removed.
 *
 * Threads: every method may run in several threads at once. uring.h keeps a
 * small pool of rings, one per concurrent batch; the cache index has its
 * own mutex; ref_cas serialises on refs/.lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "file_int.h"
#include "id.h"
#include "local.h"

#define ORDER_FILE "cache-order"

static atomic_flag fallback_said = ATOMIC_FLAG_INIT;

/* ---------------------------------------------------------------- paths */

void cairn__file_tmp_name(file_tier *t, const char *stem, char *buf)
{
    snprintf(buf, FILE_TMP_PATH, "tmp/%.64s.%ld.%llu", stem, (long)getpid(),
             (unsigned long long)atomic_fetch_add(&t->tmp_counter, 1));
}

/* "objects/3f/2a9c..." for id. */
static void blob_path(const cairn_id *id, char *out)
{
    char hex[CAIRN_ID_HEX + 1];

    cairn_id_to_hex(id, hex);
    memcpy(out, "objects/", 8);
    out[8] = hex[0];
    out[9] = hex[1];
    out[10] = '/';
    memcpy(out + 11, hex + 2, CAIRN_ID_HEX - 2 + 1);
}

/* Parses n lowercase hex digits (the only spelling we write) into n / 2
 * bytes. */
static bool parse_hex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    for (size_t i = 0; i < n; i += 2)
        out[i / 2] = (uint8_t)(cairn__hex_digit((unsigned char)s[i]) << 4 |
                               cairn__hex_digit((unsigned char)s[i + 1]));
    return true;
}

static bool absent_rc(int rc)
{
    return rc == -ENOENT || rc == -ENOTDIR;
}

/* The detail for an operation that failed: what the tier was doing, the
 * step and the file. -ENOMEM becomes CAIRN_NOMEM. */
static int io_fail(const file_tier *t, const char *what, const cairn_io *io)
{
    const char *file = io->kind == CAIRN_IO_WRITE && io->step && strcmp(io->step, "rename") != 0
                           ? io->tmp_path
                           : io->path;
    int rc = io->rc == -ENOMEM ? CAIRN_NOMEM : io->rc == -ENODATA ? CAIRN_IO : io->rc;

    if (io->rc == -ENODATA)
        return cairn__fail(rc, "file %s: %s: %s is shorter than its %zu bytes", t->path, what,
                           file, io->len);
    return cairn__fail(rc, "file %s: %s: %s %s: %s", t->path, what, io->step ? io->step : "",
                       file, strerror(-io->rc));
}

/* Runs a batch; a failure of the batch as a whole names the store. */
static int run(file_tier *t, cairn_io *ios, size_t n)
{
    int rc = cairn__io_run(t->io, t->root_fd, ios, n);
    return rc ? cairn__fail_context(rc, "file %s", t->path) : 0;
}

/* ---------------------------------------------------------------- cache */

/* Unlinks what the cache index evicts to fit its capacity. */
static void evict_excess(file_tier *t)
{
    char (*paths)[FILE_BLOB_PATH] = NULL;
    cairn_id *victims = NULL;
    cairn_io *ios = NULL;
    size_t n = 0;

    if (cairn__fcache_evict(t->cache, &victims, &n) || n == 0)
        goto done;
    if (!(ios = cairn__calloc(n, sizeof(*ios))) || !(paths = cairn__malloc(n * sizeof(*paths))))
        goto done;
    for (size_t i = 0; i < n; i++) {
        blob_path(&victims[i], paths[i]);
        ios[i].kind = CAIRN_IO_UNLINK;
        ios[i].path = paths[i];
    }
    if (run(t, ios, n) == 0)
        atomic_fetch_add(&t->base.counters.evictions, n);
done:
    cairn__free(victims);
    cairn__free(ios);
    cairn__free(paths);
}

/* ---------------------------------------------------------------- reads */

struct get_slot {
    char path[FILE_BLOB_PATH]; /* the loose file, or the pack holding the blob */
    uint64_t size;
    uint64_t offset; /* in the pack */
    bool want;       /* the file is there: read it */
    bool packed;     /* path is a pack */
};

/* For the ids of slots that are not loose (want unset), looks in the
 * packs; with refresh, looks for new packs first if any is missing.
 * *missing counts the ids found nowhere. */
static int find_packed(file_tier *t, const cairn_id *ids, size_t n, struct get_slot *slots,
                       bool refresh, size_t *missing)
{
    int rc;

    *missing = 0;
    if (refresh && (rc = cairn__fpacks_refresh(t)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct fpack_loc loc;
        if (slots[i].want)
            continue;
        if (!cairn__fpacks_lookup(t->packs, &ids[i], &loc)) {
            (*missing)++;
            continue;
        }
        memcpy(slots[i].path, loc.path, sizeof(loc.path));
        slots[i].size = loc.length;
        slots[i].offset = loc.offset;
        slots[i].want = slots[i].packed = true;
    }
    return 0;
}

/* A store whose packs are damaged may have lost blobs in them: a blob
 * found nowhere is then reported as corrupt, naming the packs. */
static int missing_in_damaged(file_tier *t, const cairn_id *ids, size_t n,
                              const struct get_slot *slots)
{
    char note[800], hex[13];
    size_t i;

    if (!cairn__fpacks_damage_note(t->packs, note, sizeof(note)))
        return 0;
    for (i = 0; i < n && slots[i].want; i++)
        ;
    return cairn__fail(CAIRN_CORRUPT,
                       "file %s: blob %s is in no loose file and no readable pack, and damaged "
                       "packs are not read: %s",
                       t->path, cairn__id_short(&ids[i < n ? i : 0], hex), note);
}

static int get_many_once(file_tier *t, const cairn_id *ids, size_t n, cairn_buf *out,
                         bool *pack_gone)
{
    struct get_slot *slots = cairn__calloc(n, sizeof(*slots));
    cairn_io *ios = cairn__calloc(n, sizeof(*ios));
    size_t *map = cairn__malloc(n * sizeof(*map)), m = 0, missing = 0;
    bool added = false;
    int rc = 0;

    if (!slots || !ios || !map) {
        rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory reading %zu blobs", t->path, n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        blob_path(&ids[i], slots[i].path);
        if (t->cache && cairn__fcache_lookup(t->cache, &ids[i], &slots[i].size, false)) {
            slots[i].want = true;
            continue;
        }
        ios[m].kind = CAIRN_IO_STATX;
        ios[m].path = slots[i].path;
        map[m++] = i;
    }
    if (m && (rc = run(t, ios, m)))
        goto done;
    for (size_t k = 0; k < m; k++) {
        struct get_slot *s = &slots[map[k]];
        if (ios[k].rc == 0 && S_ISREG(ios[k].mode)) {
            s->want = true;
            s->size = ios[k].size;
        } else if (ios[k].rc == 0 && !t->cache) {
            rc = cairn__fail(CAIRN_IO, "file %s: %s is not a regular file", t->path, s->path);
            goto done;
        } else if (ios[k].rc && !absent_rc(ios[k].rc) && !t->cache) {
            rc = io_fail(t, "reading blobs", &ios[k]);
            goto done;
        }
    }
    /* Not loose: a store looks in its packs (loose copies win: a repaired
     * blob is written loose over a damaged packed one). */
    if (t->packs && ((rc = find_packed(t, ids, n, slots, false, &missing)) ||
                     (missing && (rc = find_packed(t, ids, n, slots, true, &missing))) ||
                     (missing && (rc = missing_in_damaged(t, ids, n, slots)))))
        goto done;
    m = 0;
    memset(ios, 0, n * sizeof(*ios));
    for (size_t i = 0; i < n; i++) {
        if (!slots[i].want)
            continue;
        ios[m].kind = CAIRN_IO_READ;
        ios[m].path = slots[i].path;
        ios[m].len = slots[i].size;
        ios[m].offset = slots[i].offset;
        map[m++] = i;
    }
    if (m && (rc = run(t, ios, m)))
        goto done;
    for (size_t k = 0; k < m && !rc; k++) {
        if (ios[k].rc == 0)
            continue;
        if (absent_rc(ios[k].rc)) {
            *pack_gone |= slots[map[k]].packed; /* rewritten meanwhile: look again */
            continue;
        }
        if (!t->cache || ios[k].rc == -ENOMEM)
            rc = io_fail(t, "reading blobs", &ios[k]);
    }
    if (rc || *pack_gone) {
        cairn__io_free_bufs(ios, m);
        goto done;
    }
    for (size_t k = 0; k < m; k++) {
        size_t i = map[k];
        if (ios[k].rc) {
            if (t->cache) /* gone or damaged: forget it, the stack refetches */
                cairn__fcache_remove(t->cache, &ids[i]);
            continue;
        }
        out[i].data = ios[k].buf;
        out[i].len = ios[k].len;
        if (t->cache && !cairn__fcache_lookup(t->cache, &ids[i], &slots[i].size, true)) {
            cairn__fcache_add(t->cache, &ids[i], ios[k].len); /* another process wrote it */
            added = true;
        }
    }
    if (added)
        evict_excess(t);
done:
    cairn__free(slots);
    cairn__free(ios);
    cairn__free(map);
    return rc;
}

/* Reads loose files first, then packs. A pack that vanished under the read
 * (rewritten by remove_many, here or in another process) sends the whole
 * batch round once more, after the pack index is refreshed. */
static int file_get_many(cairn_tier *base, const cairn_id *ids, size_t n, cairn_buf *out)
{
    file_tier *t = (file_tier *)base;
    bool pack_gone = false;
    int rc;

    for (int round = 0;; round++) {
        pack_gone = false;
        rc = get_many_once(t, ids, n, out, &pack_gone);
        if (rc || !pack_gone || round == 2)
            return rc;
        if ((rc = cairn__fpacks_refresh(t)))
            return rc;
    }
}

static int file_has_many(cairn_tier *base, const cairn_id *ids, size_t n, bool *out)
{
    file_tier *t = (file_tier *)base;
    char (*paths)[FILE_BLOB_PATH] = cairn__malloc(n * sizeof(*paths));
    cairn_io *ios = cairn__calloc(n, sizeof(*ios));
    int rc = 0;

    if (!paths || !ios) {
        rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory", t->path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        blob_path(&ids[i], paths[i]);
        ios[i].kind = CAIRN_IO_STATX;
        ios[i].path = paths[i];
    }
    if ((rc = run(t, ios, n)))
        goto done;
    for (size_t i = 0; i < n && !rc; i++) {
        out[i] = ios[i].rc == 0 && S_ISREG(ios[i].mode);
        if (ios[i].rc && !absent_rc(ios[i].rc) && !t->cache)
            rc = io_fail(t, "looking blobs up", &ios[i]);
    }
    /* Not loose: packed? (New packs of another process are looked for
     * once, if anything is still missing.) */
    for (int round = 0; t->packs && !rc && round < 2; round++) {
        size_t missing = 0;
        struct fpack_loc loc;
        if (round == 1 && (rc = cairn__fpacks_refresh(t)))
            break;
        for (size_t i = 0; i < n; i++)
            if (!out[i] && !(out[i] = cairn__fpacks_lookup(t->packs, &ids[i], &loc)))
                missing++;
        if (!missing)
            break;
    }
done:
    cairn__free(paths);
    cairn__free(ios);
    return rc;
}

/* ---------------------------------------------------------------- writes */

struct put_slot {
    char path[FILE_BLOB_PATH];
    char tmp[FILE_TMP_PATH];
};

static bool dir_known(file_tier *t, unsigned xx)
{
    return atomic_load(&t->dir_known[xx / 64]) >> (xx % 64) & 1;
}

static void dir_set(file_tier *t, unsigned xx, bool known)
{
    uint64_t bit = 1ull << (xx % 64);

    if (known)
        atomic_fetch_or(&t->dir_known[xx / 64], bit);
    else
        atomic_fetch_and(&t->dir_known[xx / 64], ~bit);
}

/* Directory names "objects/XX" for the 256 values of XX, and "objects". */
struct dir_batch {
    char names[257][12];
    cairn_io ios[257];
    unsigned xx_of[257];
};

/* Makes sure objects/XX exists for every XX in need[]; *created says if
 * one was made (objects/ then needs an fsync). */
static int make_dirs(file_tier *t, struct dir_batch *b, const bool need[256], bool *created)
{
    unsigned n = 0;
    int rc;

    *created = false;
    memset(b->ios, 0, sizeof(b->ios));
    for (unsigned xx = 0; xx < 256; xx++) {
        if (!need[xx] || dir_known(t, xx))
            continue;
        snprintf(b->names[n], sizeof(b->names[n]), "objects/%02x", xx);
        b->ios[n].kind = CAIRN_IO_MKDIR;
        b->ios[n].path = b->names[n];
        b->xx_of[n++] = xx;
    }
    if (n == 0)
        return 0;
    if ((rc = run(t, b->ios, n)))
        return rc;
    for (unsigned k = 0; k < n; k++) {
        if (b->ios[k].rc && b->ios[k].rc != -EEXIST)
            return io_fail(t, "creating directories", &b->ios[k]);
        *created |= b->ios[k].rc == 0;
        dir_set(t, b->xx_of[k], true);
    }
    return 0;
}

/* fsyncs objects/XX for every XX in touched[], and objects/ itself. */
static int sync_dirs(file_tier *t, struct dir_batch *b, const bool touched[256],
                     bool objects_too)
{
    unsigned n = 0;
    int rc;

    memset(b->ios, 0, sizeof(b->ios));
    for (unsigned xx = 0; xx < 256; xx++) {
        if (!touched[xx])
            continue;
        snprintf(b->names[n], sizeof(b->names[n]), "objects/%02x", xx);
        b->ios[n].kind = CAIRN_IO_FSYNC_DIR;
        b->ios[n].path = b->names[n];
        n++;
    }
    if (objects_too) {
        b->ios[n].kind = CAIRN_IO_FSYNC_DIR;
        b->ios[n++].path = "objects";
    }
    if (n == 0)
        return 0;
    if ((rc = run(t, b->ios, n)))
        return rc;
    for (unsigned k = 0; k < n; k++)
        if (b->ios[k].rc)
            return io_fail(t, "syncing directories", &b->ios[k]);
    return 0;
}

/* Reads back the p blobs a store already has (present[], indexes into
 * blobs with their paths in slots): one whose bytes differ, or that cannot
 * be read whole, joins writes[] (to be written again); with sync=full the
 * others are fsynced. need[] gets the directories of both. */
static int check_present(file_tier *t, const cairn_blob *blobs, struct put_slot *slots,
                         const size_t *present, size_t p, size_t *writes, size_t *w,
                         bool need[256])
{
    cairn_io *ios = cairn__calloc(p, sizeof(*ios));
    size_t *keep = cairn__malloc(p * sizeof(*keep)), k, n_keep = 0;
    int rc;

    if (!ios || !keep) {
        cairn__free(ios);
        cairn__free(keep);
        return cairn__fail(CAIRN_NOMEM, "file %s: out of memory", t->path);
    }
    for (k = 0; k < p; k++) {
        ios[k].kind = CAIRN_IO_READ;
        ios[k].path = slots[present[k]].path;
        ios[k].len = blobs[present[k]].len;
    }
    if ((rc = run(t, ios, p)))
        goto done;
    for (k = 0; k < p; k++) {
        const cairn_blob *b = &blobs[present[k]];
        bool same = ios[k].rc == 0 && (b->len == 0 || memcmp(ios[k].buf, b->data, b->len) == 0);
        need[b->id.bytes[0]] = true;
        if (same)
            keep[n_keep++] = present[k];
        else
            writes[(*w)++] = present[k];
    }
    cairn__io_free_bufs(ios, p);
    if (!t->sync_full || n_keep == 0)
        goto done;
    memset(ios, 0, p * sizeof(*ios));
    for (k = 0; k < n_keep; k++) {
        ios[k].kind = CAIRN_IO_FSYNC;
        ios[k].path = slots[keep[k]].path;
    }
    if ((rc = run(t, ios, n_keep)))
        goto done;
    for (k = 0; k < n_keep && !rc; k++)
        if (ios[k].rc)
            rc = io_fail(t, "syncing blobs already present", &ios[k]);
done:
    cairn__free(ios);
    cairn__free(keep);
    return rc;
}

/* Reads back the n blobs a store holds in packs (packed[], indexes into
 * blobs, found at locs[]): one whose record differs or cannot be read
 * joins writes[] (written again, loose); with sync=full the packs of the
 * others are made durable (once per pack and process). */
static int check_packed(file_tier *t, const cairn_blob *blobs, const size_t *packed,
                        const struct fpack_loc *locs, size_t n, size_t *writes, size_t *w)
{
    cairn_io *ios = cairn__calloc(n, sizeof(*ios));
    int rc;

    if (!ios)
        return cairn__fail(CAIRN_NOMEM, "file %s: out of memory", t->path);
    for (size_t k = 0; k < n; k++) {
        ios[k].kind = CAIRN_IO_READ;
        ios[k].path = locs[k].path;
        ios[k].offset = locs[k].offset;
        ios[k].len = (size_t)locs[k].length;
    }
    if ((rc = run(t, ios, n)))
        goto done;
    for (size_t k = 0; k < n && !rc; k++) {
        const cairn_blob *b = &blobs[packed[k]];
        bool same = ios[k].rc == 0 && ios[k].len == b->len &&
                    (b->len == 0 || memcmp(ios[k].buf, b->data, b->len) == 0);
        if (!same)
            writes[(*w)++] = packed[k];
        else
            rc = cairn__fpacks_make_durable(t, locs[k].pack);
    }
    cairn__io_free_bufs(ios, n);
done:
    cairn__free(ios);
    return rc;
}

static int file_put_many(cairn_tier *base, const cairn_blob *blobs, size_t n)
{
    file_tier *t = (file_tier *)base;
    struct put_slot *slots = cairn__malloc(n * sizeof(*slots));
    cairn_io *ios = cairn__calloc(n, sizeof(*ios));
    size_t *map = cairn__malloc(n * sizeof(*map)), *writes = cairn__malloc(n * sizeof(*writes));
    size_t *present = cairn__malloc(n * sizeof(*present));
    size_t *fresh = cairn__malloc(n * sizeof(*fresh)), *packed = cairn__malloc(n * sizeof(*packed));
    struct fpack_loc *locs = NULL;
    struct dir_batch *dirs = NULL;
    size_t m = 0, w = 0, p = 0, n_fresh = 0, n_packed = 0;
    bool need[256] = {false}, created = false;
    int rc = 0;

    if (t->rdonly) {
        rc = cairn__fail(CAIRN_RDONLY_STORE, "file %s: store is open read-only", t->path);
        goto done;
    }
    if (!slots || !ios || !map || !writes || !present || !fresh || !packed ||
        (t->packs && !(locs = cairn__malloc(n * sizeof(*locs))))) {
        rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory writing %zu blobs", t->path, n);
        goto done;
    }
    /* 1. Which blobs are missing? */
    for (size_t i = 0; i < n; i++) {
        uint64_t size;
        if (t->cache && (blobs[i].len > t->base.capacity ||
                         cairn__fcache_lookup(t->cache, &blobs[i].id, &size, true)))
            continue;
        blob_path(&blobs[i].id, slots[i].path);
        ios[m].kind = CAIRN_IO_STATX;
        ios[m].path = slots[i].path;
        map[m++] = i;
    }
    if (m && (rc = run(t, ios, m)))
        goto done;
    for (size_t k = 0; k < m; k++) {
        size_t i = map[k];
        if (ios[k].rc == 0 && S_ISREG(ios[k].mode) && ios[k].size == blobs[i].len) {
            if (t->cache)
                cairn__fcache_add(t->cache, &blobs[i].id, blobs[i].len);
            else
                present[p++] = i;
            continue;
        }
        if (ios[k].rc && !absent_rc(ios[k].rc)) {
            rc = io_fail(t, "writing blobs", &ios[k]);
            goto done;
        }
        if (ios[k].rc == 0) /* a loose file of the wrong size: replaced, loose */
            writes[w++] = i;
        else if (t->packs && cairn__fpacks_lookup(t->packs, &blobs[i].id, &locs[n_packed]))
            packed[n_packed++] = i;
        else
            fresh[n_fresh++] = i;
    }
    /* 1b. A store does not trust a file it already has: one holding other
     * bytes (damaged) is written again, and one holding the right bytes is
     * made durable before the ref moves (a killed writer may have renamed
     * it into place without its directory, or a sync=none writer without
     * the file, ever reaching the disk). Rare: a commit writes new blobs. */
    if (p && (rc = check_present(t, blobs, slots, present, p, writes, &w, need)))
        goto done;
    /* 1c. The same for blobs already in a pack; a damaged one is written
     * loose (reads look at loose files first). */
    if (n_packed && (rc = check_packed(t, blobs, packed, locs, n_packed, writes, &w)))
        goto done;
    /* 1d. New blobs: one pack when there are enough of them (a store), else
     * one file each. Copies that replace damaged ones always go loose. */
    if (t->packs && t->pack_min && n_fresh >= t->pack_min) {
        if ((rc = cairn__fpacks_write(t, blobs, fresh, n_fresh)))
            goto done;
    } else {
        memcpy(writes + w, fresh, n_fresh * sizeof(*fresh));
        w += n_fresh;
    }
    for (size_t k = 0; k < w; k++)
        need[blobs[writes[k]].id.bytes[0]] = true;
    /* 2. Directories, 3. the files. */
    if (w && !(dirs = cairn__malloc(sizeof(*dirs)))) {
        rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory writing %zu blobs", t->path, n);
        goto done;
    }
    if (w && (rc = make_dirs(t, dirs, need, &created)))
        goto done;
    memset(ios, 0, n * sizeof(*ios));
    for (size_t k = 0; k < w; k++) {
        size_t i = writes[k];
        char hex[CAIRN_ID_HEX + 1];
        cairn_id_to_hex(&blobs[i].id, hex);
        cairn__file_tmp_name(t, hex, slots[i].tmp);
        ios[k].kind = CAIRN_IO_WRITE;
        ios[k].sync = t->sync_full;
        ios[k].path = slots[i].path;
        ios[k].tmp_path = slots[i].tmp;
        ios[k].data = blobs[i].data;
        ios[k].len = blobs[i].len;
    }
    if (w && (rc = run(t, ios, w)))
        goto done;
    for (size_t k = 0; k < w; k++) {
        const cairn_blob *b = &blobs[writes[k]];
        if (ios[k].rc == 0) {
            if (t->cache)
                cairn__fcache_add(t->cache, &b->id, b->len);
            continue;
        }
        if (absent_rc(ios[k].rc))
            dir_set(t, b->id.bytes[0], false); /* someone removed objects/XX */
        if (!rc)
            rc = io_fail(t, "writing blobs", &ios[k]);
    }
    /* 4. The new names (and those found present), durable. */
    if (!rc && (w || p) && t->sync_full) {
        if (!dirs && !(dirs = cairn__malloc(sizeof(*dirs))))
            rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory", t->path);
        else
            rc = sync_dirs(t, dirs, need, created);
    }
    if (t->cache)
        evict_excess(t);
done:
    cairn__free(slots);
    cairn__free(ios);
    cairn__free(map);
    cairn__free(writes);
    cairn__free(present);
    cairn__free(fresh);
    cairn__free(packed);
    cairn__free(locs);
    cairn__free(dirs);
    return rc;
}

static int file_remove_many(cairn_tier *base, const cairn_id *ids, size_t n)
{
    file_tier *t = (file_tier *)base;
    char (*paths)[FILE_BLOB_PATH] = cairn__malloc(n * sizeof(*paths));
    cairn_io *ios = cairn__calloc(n, sizeof(*ios));
    int rc = 0;

    if (t->rdonly) {
        rc = cairn__fail(CAIRN_RDONLY_STORE, "file %s: store is open read-only", t->path);
        goto done;
    }
    if (!paths || !ios) {
        rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory", t->path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        blob_path(&ids[i], paths[i]);
        ios[i].kind = CAIRN_IO_UNLINK;
        ios[i].path = paths[i];
        if (t->cache)
            cairn__fcache_remove(t->cache, &ids[i]);
    }
    if ((rc = run(t, ios, n)))
        goto done;
    for (size_t i = 0; i < n && !rc; i++)
        if (ios[i].rc && !absent_rc(ios[i].rc))
            rc = io_fail(t, "removing blobs", &ios[i]);
    /* Packs are immutable: one holding a removed blob is rewritten without
     * it. */
    if (!rc && t->packs)
        rc = cairn__fpacks_remove(t, ids, n);
done:
    cairn__free(paths);
    cairn__free(ios);
    return rc;
}

/* ---------------------------------------------------------------- walking */

typedef int (*walk_fn)(void *ctx, const cairn_id *id, uint64_t size, int64_t mtime_ns);

struct walk_item {
    cairn_id id;
    char path[FILE_BLOB_PATH];
};

static int item_cmp(const void *a, const void *b)
{
    return cairn__id_cmp(&((const struct walk_item *)a)->id, &((const struct walk_item *)b)->id);
}

/* Lists the blob files of objects/XX (names that are not 62 lowercase hex
 * digits are skipped) into *items, sorted by id. */
static int list_dir(file_tier *t, unsigned xx, struct walk_item **items, size_t *n)
{
    char rel[16];
    struct dirent *de;
    size_t cap = 0;
    DIR *d;
    int fd;

    *items = NULL;
    *n = 0;
    snprintf(rel, sizeof(rel), "objects/%02x", xx);
    if ((fd = openat(t->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        !(d = fdopendir(fd))) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return err == ENOENT ? 0 : cairn__fail(-err, "file %s: cannot list %s: %s", t->path,
                                              rel, strerror(err));
    }
    while ((de = readdir(d))) {
        struct walk_item item;
        if (strlen(de->d_name) != CAIRN_ID_HEX - 2 ||
            !parse_hex(de->d_name, CAIRN_ID_HEX - 2, item.id.bytes + 1))
            continue;
        item.id.bytes[0] = (uint8_t)xx;
        blob_path(&item.id, item.path);
        if (*n == cap) {
            struct walk_item *grown;
            cap = cap ? 2 * cap : 64;
            if (!(grown = cairn__realloc(*items, cap * sizeof(*grown)))) {
                closedir(d);
                cairn__free(*items);
                *items = NULL;
                return cairn__fail(CAIRN_NOMEM, "file %s: out of memory listing %s", t->path,
                                   rel);
            }
            *items = grown;
        }
        (*items)[(*n)++] = item;
    }
    closedir(d);
    if (*n > 1)
        qsort(*items, *n, sizeof(**items), item_cmp);
    return 0;
}

/* Calls fn for every blob whose id is >= *from (NULL: all), in id order,
 * with its size and mtime: loose files (one batched statx per objects/XX
 * directory) merged with a store's packed blobs (mtime 0; an id both loose
 * and packed is visited once, loose). Files that vanish meanwhile are
 * skipped. fn runs with nothing locked. */
static int walk_objects(file_tier *t, const cairn_id *from, walk_fn fn, void *ctx)
{
    struct fpack_id *pk = NULL;
    size_t n_pk = 0, j = 0;
    int rc = 0;

    if (t->packs && (rc = cairn__fpacks_ids(t->packs, from, &pk, &n_pk)))
        return rc;
    for (unsigned xx = from ? from->bytes[0] : 0; xx < 256 && !rc; xx++) {
        struct walk_item *items;
        cairn_io *ios = NULL;
        size_t n, skip = 0;

        if ((rc = list_dir(t, xx, &items, &n)))
            break;
        while (from && skip < n && cairn__id_cmp(&items[skip].id, from) < 0)
            skip++;
        if (n - skip > 0) {
            memmove(items, items + skip, (n - skip) * sizeof(*items));
            n -= skip;
            if (!(ios = cairn__calloc(n, sizeof(*ios)))) {
                cairn__free(items);
                rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory", t->path);
                break;
            }
            for (size_t i = 0; i < n; i++) {
                ios[i].kind = CAIRN_IO_STATX;
                ios[i].path = items[i].path;
            }
            rc = run(t, ios, n);
        } else {
            n = 0;
        }
        for (size_t i = 0; i <= n && !rc; i++) {
            /* Packed blobs before loose item i (all the rest of XX at the end). */
            while (!rc && j < n_pk && pk[j].id.bytes[0] == xx &&
                   (i == n || cairn__id_cmp(&pk[j].id, &items[i].id) < 0)) {
                rc = fn(ctx, &pk[j].id, pk[j].length, 0);
                j++;
            }
            if (i == n || rc)
                break;
            if (ios[i].rc == 0 && S_ISREG(ios[i].mode)) {
                if (j < n_pk && cairn__id_eq(&pk[j].id, &items[i].id))
                    j++;
                rc = fn(ctx, &items[i].id, ios[i].size, ios[i].mtime_ns);
            } else if (ios[i].rc && !absent_rc(ios[i].rc)) {
                rc = io_fail(t, "listing blobs", &ios[i]);
            }
        }
        cairn__free(ios);
        cairn__free(items);
    }
    cairn__free(pk);
    return rc;
}

struct scan_ctx {
    cairn_id_visitor fn;
    void *ctx;
    uint64_t blobs, bytes;
};

static int scan_visit(void *ctx, const cairn_id *id, uint64_t size, int64_t mtime_ns)
{
    struct scan_ctx *s = ctx;

    (void)mtime_ns;
    s->blobs++;
    s->bytes += size;
    return s->fn ? s->fn(s->ctx, id, (size_t)size) : 0;
}

static int file_scan_ids(cairn_tier *base, cairn_id_visitor fn, void *ctx)
{
    struct scan_ctx s = {fn, ctx, 0, 0};
    return walk_objects((file_tier *)base, NULL, scan_visit, &s);
}

static int file_scan_from(cairn_tier *base, const cairn_id *from, cairn_id_visitor fn,
                          void *ctx)
{
    struct scan_ctx s = {fn, ctx, 0, 0};
    return walk_objects((file_tier *)base, from, scan_visit, &s);
}

/* A cache answers from its index; a store counts its files. */
static int file_usage(cairn_tier *base, uint64_t *blobs, uint64_t *bytes)
{
    file_tier *t = (file_tier *)base;
    struct scan_ctx s = {NULL, NULL, 0, 0};
    int rc;

    if (t->cache) {
        cairn__fcache_usage(t->cache, blobs, bytes);
        return 0;
    }
    if ((rc = walk_objects(t, NULL, scan_visit, &s)))
        return rc;
    *blobs = s.blobs;
    *bytes = s.bytes;
    return 0;
}

static int cache_load_visit(void *ctx, const cairn_id *id, uint64_t size, int64_t mtime_ns)
{
    return cairn__fcache_load_add(ctx, id, size, mtime_ns);
}

/* ---------------------------------------------------------------- misc */

static int file_sync(cairn_tier *base)
{
    file_tier *t = (file_tier *)base;

    if (t->sync_full || t->cache || t->rdonly)
        return 0; /* see the file comment */
    if (syncfs(t->root_fd) != 0)
        return cairn__fail(-errno, "file %s: syncfs: %s", t->path, strerror(errno));
    return 0;
}

/* Blobs, then the ref. With sync=full both are durable as they return;
 * with sync=none neither is forced to disk (as LMDB's sync=none), which is
 * why this does not call file_sync: a commit must not syncfs the whole
 * file system when the user asked for no syncing. */
static int file_publish(cairn_tier *base, const cairn_blob *blobs, size_t n, const char *ref,
                        const cairn_id *old_id, const cairn_id *new_id)
{
    int rc;

    if (n && (rc = file_put_many(base, blobs, n)))
        return rc;
    return cairn__file_ref_cas(base, ref, old_id, new_id);
}

/* flock on PATH/cairn.lock (cairn__store_lock). */
static int file_writer_lock(cairn_tier *base, bool acquire)
{
    file_tier *t = (file_tier *)base;

    if (acquire && t->rdonly)
        return cairn__fail(CAIRN_RDONLY_STORE, "file %s: store is open read-only", t->path);
    return cairn__store_lock(&t->lock_fd, t->root_fd, t->path, acquire);
}

/* A cache saves its order for the next open (best effort). */
static void file_close(cairn_tier *base)
{
    file_tier *t = (file_tier *)base;
    char tmp[FILE_TMP_PATH];

    if (t->cache) {
        cairn__file_tmp_name(t, ORDER_FILE, tmp);
        cairn__fcache_save(t->cache, t->root_fd, tmp, ORDER_FILE);
        cairn__fcache_free(t->cache);
    }
    file_writer_lock(base, false);
    cairn__fpacks_free(t->packs);
    cairn__io_close(t->io);
    if (t->root_fd >= 0)
        close(t->root_fd);
    cairn__free(t);
}

static void file_identity(cairn_tier *base, char *out, size_t cap)
{
    file_tier *t = (file_tier *)base;
    struct stat st;
    if (fstat(t->root_fd, &st) == 0)
        snprintf(out, cap, "file %llu:%llu", (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_ino);
    else
        snprintf(out, cap, "file %s", t->path);
}

static const cairn_tier_methods file_methods = {
    .version = 2,
    .name = "file",
    .get_many = file_get_many,
    .put_many = file_put_many,
    .ref_get = cairn__file_ref_get,
    .ref_cas = cairn__file_ref_cas,
    .ref_list = cairn__file_ref_list,
    .sync = file_sync,
    .close = file_close,
    .has_many = file_has_many,
    .remove_many = file_remove_many,
    .scan_ids = file_scan_ids,
    .writer_lock = file_writer_lock,
    .usage = file_usage,
    .publish = file_publish,
    .scan_from = file_scan_from,
    .identity = file_identity,
    .pin_put = cairn__file_pin_put,
    .pin_list = cairn__file_pin_list,
    .pin_delete = cairn__file_pin_delete,
};

/* ---------------------------------------------------------------- open */

int cairn__file_check(cairn_tier_config *cfg)
{
    struct file_opts o = {0, -1, false, FILE_DEFAULT_QUEUE, -1, -1};
    int rc;

    if (!cfg->arg[0])
        return cairn__fail(CAIRN_BADSPEC, "file: needs a directory (file:PATH)");
    if ((rc = cairn__opts_each(cfg->opts, cairn__file_option, &o)))
        return rc;
    if (strlen(cfg->arg) >= sizeof(((file_tier *)0)->path))
        return cairn__fail(CAIRN_BADSPEC, "file: path '%.40s...' is too long", cfg->arg);
    cfg->capacity = o.capacity;
    cfg->caps = o.capacity ? CAIRN_TIER_SHARED : CAIRN_TIER_DURABLE | CAIRN_TIER_SHARED;
    /* A cache is filled by readers too, so CAIRN_RDONLY never applies. */
    return cairn__file_layout_check(
        cfg->arg, (cfg->open_flags & (CAIRN_RDONLY | CAIRN_EXISTING)) && !o.capacity,
        &cfg->holds_store);
}

int cairn__file_open(const cairn_tier_config *cfg, cairn_tier **out)
{
    struct file_opts o = {0, -1, false, FILE_DEFAULT_QUEUE, -1, -1};
    const char *arg = cfg->arg, *why = NULL;
    struct stat st;
    file_tier *t;
    int rc;

    *out = NULL;
    if ((rc = cairn__opts_each(cfg->opts, cairn__file_option, &o)))
        return rc;
    if (!(t = cairn__calloc(1, sizeof(*t))))
        return cairn__fail(CAIRN_NOMEM, "file %s: out of memory", arg);
    t->base.m = &file_methods;
    t->base.caps = o.capacity ? CAIRN_TIER_SHARED : CAIRN_TIER_DURABLE | CAIRN_TIER_SHARED;
    t->base.capacity = o.capacity;
    t->base.promote = o.promote == 1;
    t->rdonly = (cfg->open_flags & CAIRN_RDONLY) && !o.capacity;
    t->sync_full = o.sync >= 0 ? o.sync == 1 : o.capacity == 0;
    t->pack_min = o.capacity ? 0 : o.pack_min >= 0 ? (unsigned)o.pack_min : FILE_DEFAULT_PACK_MIN;
    t->root_fd = -1;
    atomic_init(&t->lock_fd, -1);
    snprintf(t->path, sizeof(t->path), "%s", arg);

    if (t->rdonly) {
        if (stat(arg, &st) != 0) {
            rc = cairn__fail(errno == ENOENT ? CAIRN_NOTFOUND : -errno,
                             "file %s: no store here (%s)", arg, strerror(errno));
            goto fail;
        }
    } else if ((rc = cairn__mkdir_p(arg))) {
        cairn__fail_context(rc, "file");
        goto fail;
    }
    if ((t->root_fd = open(arg, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = cairn__fail(-errno, "file: cannot open '%s': %s", arg, strerror(errno));
        goto fail;
    }
    if ((rc = cairn__file_layout_open(t)))
        goto fail;
    if ((rc = cairn__io_open(o.queue, o.force_syscall, &t->base.counters, &t->io, &why)))
        goto fail;
    if (why && !atomic_flag_test_and_set(&fallback_said))
        fprintf(stderr, "cairn: io_uring unavailable (%s); the file tier uses plain system calls\n",
                why);
    if (o.capacity) {
        if ((rc = cairn__fcache_new(o.capacity, &t->cache)) ||
            (rc = walk_objects(t, NULL, cache_load_visit, t->cache)) ||
            (rc = cairn__fcache_load_finish(t->cache, t->root_fd, ORDER_FILE)))
            goto fail;
        evict_excess(t); /* the capacity may have shrunk since last time */
    } else if ((rc = cairn__fpacks_open(t))) {
        goto fail;
    }
    *out = &t->base;
    return 0;

fail:
    cairn__fcache_free(t->cache);
    cairn__fpacks_free(t->packs);
    cairn__io_close(t->io);
    if (t->root_fd >= 0)
        close(t->root_fd);
    cairn__free(t);
    return rc;
}
