/*
 * file_int.h - what the file tier's sources (file.c, file_refs.c,
 * file_cache.c) share: the tier struct, path helpers and the cache index.
 * See file.c for the on-disk layout.
 */
#ifndef CAIRN_FILE_INT_H
#define CAIRN_FILE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tier.h"
#include "uring.h"

/* "objects/ab/" + 62 hex digits + NUL. */
#define FILE_BLOB_PATH 74
/* "tmp/" + a stem of up to 64 bytes + ".<pid>.<counter>" + NUL. */
#define FILE_TMP_PATH 112

/* "packs/" + a name of at most 64 bytes + NUL. */
#define FILE_PACK_PATH 72

typedef struct cairn_fcache cairn_fcache;
typedef struct cairn_fpacks cairn_fpacks;

typedef struct file_tier {
    cairn_tier base;       /* must be first */
    char path[256];        /* PATH as given, for messages */
    int root_fd;           /* PATH, O_DIRECTORY: every path is relative to it */
    cairn_io_engine *io;   /* io_uring or the fallback */
    bool rdonly;           /* opened CAIRN_RDONLY (stores only) */
    bool sync_full;        /* fsync files and directories before returning */
    cairn_fcache *cache;   /* capacity set: the LRU index, else NULL */
    cairn_fpacks *packs;   /* a store: the index of its packs (file_packs.c), else NULL */
    unsigned pack_min;     /* a put of at least this many new blobs goes into one
                              pack; 0: never (always for a cache) */
    _Atomic int lock_fd;   /* cairn.lock while holding the writer lock, else -1 */
    _Atomic uint64_t tmp_counter;   /* makes tmp names unique in this process */
    _Atomic uint64_t dir_known[4];  /* bit XX: objects/XX exists (seen by us) */
} file_tier;

/* Writes "tmp/<stem>.<pid>.<counter>" into buf (FILE_TMP_PATH bytes). */
void cairn__file_tmp_name(file_tier *t, const char *stem, char *buf);

/* Options of a file tier spec (file.c's header lists them). */
struct file_opts {
    uint64_t capacity;  /* 0: a store */
    int sync;           /* 1 full, 0 none, -1 not given */
    bool force_syscall; /* io=syscall */
    unsigned queue;     /* ring entries */
    int promote;        /* -1: not given */
    int pack_min;       /* pack=N; -1: not given */
};

#define FILE_DEFAULT_QUEUE 256
/* A put of at least this many new blobs writes one pack (pack=N). */
#define FILE_DEFAULT_PACK_MIN 8

/* cairn__opts_each callback filling a struct file_opts (ctx). */
int cairn__file_option(void *ctx, const char *key, const char *val);

/* Inspects path without changing anything: a file store (its format file
 * is checked; *holds_store tells whether refs/ holds a ref), or a directory
 * that is empty or missing (a new store, unless must_exist). Errors:
 * CAIRN_BADSPEC (a non-empty directory that is not a file store, naming
 * an lmdb store as such), CAIRN_NOTFOUND (must_exist, no store), CAIRN_VERSION,
 * CAIRN_CORRUPT, -errno; each names the path. */
int cairn__file_layout_check(const char *path, bool must_exist, bool *holds_store);

/* Creates the format file in t's directory if it is empty, checks it; then
 * (unless read-only) creates missing objects/, refs/ and tmp/ and removes
 * tmp/ files of dead processes. Errors as for the check. */
int cairn__file_layout_open(const file_tier *t);

/* ---- refs (file_refs.c): the tier methods of the same names ---------- */

int cairn__file_ref_get(cairn_tier *base, const char *name, cairn_id *out);
int cairn__file_ref_cas(cairn_tier *base, const char *name, const cairn_id *old_id,
                        const cairn_id *new_id);
int cairn__file_ref_list(cairn_tier *base, const char *prefix, cairn_ref_fn fn, void *ctx);

/* ---- pins (file_pins.c): the tier methods of the same names ---------- */

int cairn__file_pin_put(cairn_tier *base, const char *name, const void *bytes, size_t len);
int cairn__file_pin_list(cairn_tier *base, cairn_pin_fn fn, void *ctx);
int cairn__file_pin_delete(cairn_tier *base, const char *name);

/* ---- the cache index (file_cache.c) ------------------------------------
 *
 * An in-memory map id -> size with an LRU order, guarded by its own mutex.
 * It mirrors the files of a cache tier as this process knows them; other
 * processes sharing the directory may add or remove files behind its back,
 * which costs at most a miss (see file.c). */

int cairn__fcache_new(uint64_t capacity, cairn_fcache **out);
void cairn__fcache_free(cairn_fcache *c);

/* Loading at open: add every blob found (in any order), then finish, which
 * orders them oldest to newest by the cache-order file at dirfd/path (ids
 * listed there, in its order) and then by mtime (ids not listed: written
 * after the last clean close). A missing or damaged order file only costs
 * the order. */
int cairn__fcache_load_add(cairn_fcache *c, const cairn_id *id, uint64_t size, int64_t mtime_ns);
int cairn__fcache_load_finish(cairn_fcache *c, int dirfd, const char *path);

/* Whether id is indexed; *size gets its size. touch makes it the newest. */
bool cairn__fcache_lookup(cairn_fcache *c, const cairn_id *id, uint64_t *size, bool touch);
/* Adds id (or, if present, makes it the newest). */
int cairn__fcache_add(cairn_fcache *c, const cairn_id *id, uint64_t size);
/* Forgets id (absent: nothing). */
void cairn__fcache_remove(cairn_fcache *c, const cairn_id *id);
/* Takes the oldest entries out until the total fits the capacity; *victims
 * (malloc'd, caller frees, NULL if none) gets their ids. */
int cairn__fcache_evict(cairn_fcache *c, cairn_id **victims, size_t *n_victims);
void cairn__fcache_usage(cairn_fcache *c, uint64_t *blobs, uint64_t *bytes);
/* Writes the ids oldest to newest to dirfd/tmp_path, then renames it to
 * dirfd/path (no fsync: a cache order is a hint). */
int cairn__fcache_save(cairn_fcache *c, int dirfd, const char *tmp_path, const char *path);

/* ---- packs (file_packs.c) ---------------------------------------------
 *
 * A store's packs/ holds packs (tiers/pack.h), each written whole under
 * tmp/, fdatasynced and renamed into place. cairn_fpacks indexes every
 * blob of every readable pack in memory (a hash table, id -> pack,
 * offset, length), built at open from each pack's footer and index and
 * refreshed when a lookup misses (another process may have added packs).
 * Guarded by its own rwlock. Packs that fail validation are not trusted:
 * they are listed as damaged and named when a blob cannot be found. */

/* Where a packed blob is. */
struct fpack_loc {
    char path[FILE_PACK_PATH]; /* "packs/NAME.pack" */
    uint64_t offset, length;
    uint32_t pack; /* the pack's number in this index */
};

/* A packed blob, as listed for scans. */
struct fpack_id {
    cairn_id id;
    uint64_t length;
};

/* Loads every pack of t (t->packs must be NULL; sets it). Damaged packs
 * are recorded, not fatal. Errors: CAIRN_NOMEM, -errno listing packs/. */
int cairn__fpacks_open(file_tier *t);
void cairn__fpacks_free(cairn_fpacks *p);

/* Looks id up; true and *loc when a readable pack holds it. */
bool cairn__fpacks_lookup(cairn_fpacks *p, const cairn_id *id, struct fpack_loc *loc);

/* Loads packs added since the last look and forgets packs that are gone. */
int cairn__fpacks_refresh(file_tier *t);

/* Writes blobs[which[0..n)] as one new pack: built in memory, written to
 * tmp/, fdatasynced (sync=full), renamed into packs/, packs/ fsynced; then
 * indexed. Durable when it returns (sync=full). */
int cairn__fpacks_write(file_tier *t, const cairn_blob *blobs, const size_t *which, size_t n);

/* Makes pack number pack durable (fsync of the file and of packs/), once
 * per pack and process; packs this process wrote count as durable. For a
 * blob a put finds already packed: a killed writer may have renamed its
 * pack into place without the directory reaching the disk. */
int cairn__fpacks_make_durable(file_tier *t, uint32_t pack);

/* The blobs of all readable packs with ids >= *from (NULL: all), sorted
 * by id, each once. OUT: *out (cairn__free), *n. */
int cairn__fpacks_ids(cairn_fpacks *p, const cairn_id *from, struct fpack_id **out, size_t *n);

/* Removes the n blobs from the packs holding them: each such pack is
 * rewritten without them (a new pack, durable) and then unlinked. */
int cairn__fpacks_remove(file_tier *t, const cairn_id *ids, size_t n);

/* Writes a note naming the damaged packs (at most a few) into buf;
 * returns how many packs are damaged (0: buf is ""). */
size_t cairn__fpacks_damage_note(cairn_fpacks *p, char *buf, size_t cap);

/* Readable packs and the blobs they index. */
void cairn__fpacks_count(cairn_fpacks *p, uint64_t *packs, uint64_t *blobs);

#endif /* CAIRN_FILE_INT_H */
