/*
 * file_refs.c - refs of the file tier: one small file per ref under refs/,
 * as git keeps loose refs.
 *
 *     refs/heads/main     "3f2a...64 lowercase hex digits...\n" (65 bytes)
 *     refs/meta/config
 *     refs/.lock          flock'd while a ref_cas reads, compares and writes
 *
 * Each '/'-separated part of a ref name is one path component. Bytes other
 * than letters, digits, '_', '-' and '.' (and a '.' that starts a part, so
 * that ".", ".." and ".lock" can never be spelled) are written %XX; an
 * empty part is written "%". Common names therefore read as themselves.
 *
 * As in git, a ref cannot be both a file and a directory: with "heads/a"
 * set, "heads/a/b" is refused (CAIRN_BADARG naming both), and the reverse.
 * Deleting a ref removes the directories it leaves empty.
 *
 * A ref moves by writing tmp/ref.<pid>.<n>, fdatasync, rename over the ref
 * file, fsync of its directory (the syncs only with sync=full); readers
 * take no lock and see the old or the new value. Refs are tiny and rare, so
 * they use plain system calls, not io_uring.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#define REF_FILE_LEN (CAIRN_ID_HEX + 1)
#define REF_NAME_CAP (CAIRN_NAME_MAX + 16 + 1)

static const char hex[] = "0123456789ABCDEF";

/* ---------------------------------------------------------------- names */

static bool plain_byte(unsigned char c, bool part_start)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || (c == '.' && !part_start);
}

/* Writes "refs/<encoded name>" into out (PATH_MAX bytes). */
static int ref_path(const file_tier *t, const char *name, char *out)
{
    size_t pos = 0, cap = PATH_MAX - 4;
    bool start = true;

    pos += (size_t)snprintf(out, PATH_MAX, "refs/");
    for (const unsigned char *p = (const unsigned char *)name; *p && pos < cap; p++) {
        if (*p == '/') {
            if (start)
                out[pos++] = '%';
            out[pos++] = '/';
            start = true;
            continue;
        }
        if (plain_byte(*p, start)) {
            out[pos++] = (char)*p;
        } else {
            out[pos++] = '%';
            out[pos++] = hex[*p >> 4];
            out[pos++] = hex[*p & 15];
        }
        start = false;
    }
    if (pos >= cap)
        return cairn__fail(-ENAMETOOLONG, "file %s: ref name '%.40s...' is too long", t->path,
                           name);
    if (start)
        out[pos++] = '%';
    out[pos] = '\0';
    return 0;
}

/* Decodes a path below refs/ back into a name; false if it is not one we
 * wrote. out holds REF_NAME_CAP bytes. */
static bool ref_name(const char *rel, char *out)
{
    size_t pos = 0;

    for (const char *p = rel; *p; p++) {
        if (pos + 1 >= REF_NAME_CAP)
            return false;
        if (*p == '%' && (p[1] == '/' || p[1] == '\0') && (p == rel || p[-1] == '/'))
            continue; /* an empty part */
        if (*p == '%') {
            int hi = cairn__hex_digit((unsigned char)p[1]);
            int lo = hi < 0 ? -1 : cairn__hex_digit((unsigned char)p[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return false;
            out[pos++] = (char)(hi << 4 | lo);
            p += 2;
        } else {
            out[pos++] = *p;
        }
    }
    out[pos] = '\0';
    return pos > 0;
}

/* ---------------------------------------------------------------- reading */

/* Reads the ref file rel (name for messages): 0, CAIRN_NOTFOUND, or an
 * error naming the file. */
static int read_ref(const file_tier *t, const char *rel, const char *name, cairn_id *out)
{
    char buf[REF_FILE_LEN + 8];
    struct stat st;
    ssize_t got;
    int fd;

    if ((fd = openat(t->root_fd, rel, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return cairn__fail(CAIRN_NOTFOUND, "file %s: no ref '%s'", t->path, name);
        return cairn__fail(-errno, "file %s: cannot open %s: %s", t->path, rel, strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cairn__fail(CAIRN_NOTFOUND, "file %s: no ref '%s'", t->path, name);
    }
    do
        got = pread(fd, buf, sizeof(buf), 0);
    while (got < 0 && errno == EINTR);
    close(fd);
    if (got < 0)
        return cairn__fail(-errno, "file %s: cannot read %s: %s", t->path, rel, strerror(errno));
    buf[got == (ssize_t)sizeof(buf) ? sizeof(buf) - 1 : (size_t)got] = '\0';
    if (got != REF_FILE_LEN || buf[CAIRN_ID_HEX] != '\n')
        return cairn__fail(CAIRN_CORRUPT, "file %s: %s does not hold an id and a newline",
                           t->path, rel);
    buf[CAIRN_ID_HEX] = '\0';
    if (cairn_id_from_hex(buf, out) != 0)
        return cairn__fail(CAIRN_CORRUPT, "file %s: %s does not hold a hex id", t->path, rel);
    return 0;
}

int cairn__file_ref_get(cairn_tier *base, const char *name, cairn_id *out)
{
    file_tier *t = (file_tier *)base;
    char rel[PATH_MAX];
    int rc;

    if ((rc = ref_path(t, name, rel)))
        return rc;
    return read_ref(t, rel, name, out);
}

/* ---------------------------------------------------------------- writing */

static int fsync_dir(const file_tier *t, const char *rel)
{
    int fd = openat(t->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0 || fsync(fd) != 0)
        rc = cairn__fail(-errno, "file %s: cannot sync directory %s: %s", t->path, rel,
                         strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

static int df_conflict(const file_tier *t, const char *name)
{
    return cairn__fail(CAIRN_BADARG,
                       "file %s: ref '%s' collides with another ref that is a prefix of it "
                       "or has it as a prefix (refs are files here, as in git)",
                       t->path, name);
}

/* Creates the directories of rel below refs/; *created gets the length of
 * the shortest new one (0: none). */
static int make_parents(const file_tier *t, const char *name, char *rel, size_t *created)
{
    *created = 0;
    for (char *p = rel + 5; (p = strchr(p, '/')); p++) {
        *p = '\0';
        int rc = mkdirat(t->root_fd, rel, 0755) == 0 ? 0 : errno;
        *p = '/';
        if (rc == 0 && !*created)
            *created = (size_t)(p - rel);
        else if (rc == ENOTDIR)
            return df_conflict(t, name);
        else if (rc && rc != EEXIST)
            return cairn__fail(-rc, "file %s: cannot create directories for %s: %s", t->path,
                               rel, strerror(rc));
    }
    return 0;
}

/* Syncs the directory of rel and, if directories were created (created >
 * 0, the length of the first), each parent up to refs/. */
static int sync_parents(const file_tier *t, char *rel, size_t created)
{
    char *slash = strrchr(rel, '/');
    int rc = 0;

    while (slash && rc == 0) {
        *slash = '\0';
        rc = fsync_dir(t, rel);
        bool more = created && (size_t)(slash - rel) >= created;
        char *up = strrchr(rel, '/');
        *slash = '/';
        slash = more ? up : NULL;
    }
    return rc;
}

/* Writes id as the value of ref file rel: new file in tmp/, then rename. */
static int write_ref(file_tier *t, const char *name, char *rel, const cairn_id *id)
{
    char tmp[FILE_TMP_PATH], text[REF_FILE_LEN + 1];
    size_t created = 0;
    int fd, rc = 0;

    cairn_id_to_hex(id, text);
    text[CAIRN_ID_HEX] = '\n';
    cairn__file_tmp_name(t, "ref", tmp);
    if ((fd = openat(t->root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
        return cairn__fail(-errno, "file %s: cannot create %s: %s", t->path, tmp,
                           strerror(errno));
    errno = 0;
    if (write(fd, text, REF_FILE_LEN) != REF_FILE_LEN)
        rc = errno ? -errno : -EIO;
    else if (t->sync_full && fdatasync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && !rc)
        rc = -errno;
    if (rc) {
        rc = cairn__fail(rc, "file %s: cannot write %s: %s", t->path, tmp, strerror(-rc));
        goto fail;
    }
    if ((rc = make_parents(t, name, rel, &created)))
        goto fail;
    for (int attempt = 0;; attempt++) {
        if (renameat(t->root_fd, tmp, t->root_fd, rel) == 0)
            break;
        rc = errno;
        /* A directory in the way: a leftover (empty) one goes, one holding
         * other refs is a conflict. */
        if ((rc == EISDIR || rc == ENOTEMPTY || rc == EEXIST) && attempt == 0 &&
            unlinkat(t->root_fd, rel, AT_REMOVEDIR) == 0)
            continue;
        rc = rc == ENOTDIR || rc == EISDIR || rc == ENOTEMPTY || rc == EEXIST
                 ? df_conflict(t, name)
                 : cairn__fail(-rc, "file %s: cannot rename %s to %s: %s", t->path, tmp, rel,
                               strerror(rc));
        goto fail;
    }
    return t->sync_full ? sync_parents(t, rel, created) : 0;

fail:
    unlinkat(t->root_fd, tmp, 0);
    return rc;
}

/* Deletes ref file rel, then the directories it leaves empty, and syncs
 * the directory that lost an entry. */
static int delete_ref(file_tier *t, char *rel)
{
    if (unlinkat(t->root_fd, rel, 0) != 0 && errno != ENOENT)
        return cairn__fail(-errno, "file %s: cannot remove %s: %s", t->path, rel,
                           strerror(errno));
    *strrchr(rel, '/') = '\0';
    while (strcmp(rel, "refs") != 0 && unlinkat(t->root_fd, rel, AT_REMOVEDIR) == 0)
        *strrchr(rel, '/') = '\0';
    return t->sync_full ? fsync_dir(t, rel) : 0;
}

/* Holds refs/.lock (flock, waiting) across read, compare and write, so a
 * CAS is atomic against every thread and process using the store. */
int cairn__file_ref_cas(cairn_tier *base, const char *name, const cairn_id *old_id,
                        const cairn_id *new_id)
{
    file_tier *t = (file_tier *)base;
    char rel[PATH_MAX];
    cairn_id current;
    bool found;
    int lock_fd, rc;

    if (t->rdonly)
        return cairn__fail(CAIRN_RDONLY_STORE, "file %s: store is open read-only", t->path);
    if ((rc = ref_path(t, name, rel)))
        return rc;
    if ((lock_fd = openat(t->root_fd, "refs/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return cairn__fail(-errno, "file %s: cannot open refs/.lock: %s", t->path,
                           strerror(errno));
    while ((rc = flock(lock_fd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (rc) {
        rc = cairn__fail(-errno, "file %s: cannot lock refs/.lock: %s", t->path,
                         strerror(errno));
        goto done;
    }
    if ((rc = read_ref(t, rel, name, &current)) && rc != CAIRN_NOTFOUND)
        goto done;
    found = rc == 0;
    if (found != (old_id != NULL) || (found && !cairn__id_eq(&current, old_id))) {
        rc = cairn__fail(CAIRN_CONFLICT, "file %s: ref '%s' %s", t->path, name,
                         !found   ? "does not exist"
                         : old_id ? "moved (compare-and-swap failed)"
                                  : "already exists");
        goto done;
    }
    if (new_id)
        rc = write_ref(t, name, rel, new_id);
    else
        rc = found ? delete_ref(t, rel) : 0;
done:
    close(lock_fd); /* releases the flock */
    return rc;
}

/* ---------------------------------------------------------------- listing */

struct ref_item {
    char name[REF_NAME_CAP];
    cairn_id id;
    bool damaged;
};

struct ref_walk {
    file_tier *t;
    const char *prefix;
    size_t prefix_len;
    struct ref_item *items;
    size_t n, cap;
};

/* Visits the directory rel (a path below the root) and its subdirectories,
 * collecting refs whose names start with the prefix. */
static int walk_refs(struct ref_walk *w, char *rel, size_t len)
{
    struct dirent *de;
    DIR *d;
    int fd, rc = 0;

    if ((fd = openat(w->t->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return errno == ENOENT || errno == ENOTDIR
                   ? 0
                   : cairn__fail(-errno, "file %s: cannot list %s: %s", w->t->path, rel,
                                 strerror(errno));
    if (!(d = fdopendir(fd))) {
        close(fd);
        return cairn__fail(-errno, "file %s: cannot list %s", w->t->path, rel);
    }
    while (rc == 0 && (de = readdir(d))) {
        size_t n_len = strlen(de->d_name);
        char name[REF_NAME_CAP];
        cairn_id id;

        if (de->d_name[0] == '.' || len + 1 + n_len >= PATH_MAX)
            continue;
        rel[len] = '/';
        memcpy(rel + len + 1, de->d_name, n_len + 1);
        if (de->d_type == DT_DIR) {
            rc = walk_refs(w, rel, len + 1 + n_len);
        } else if (ref_name(rel + 5, name) && strncmp(name, w->prefix, w->prefix_len) == 0) {
            bool damaged = false;
            if ((rc = read_ref(w->t, rel, name, &id)) == CAIRN_NOTFOUND) {
                rc = 0; /* deleted meanwhile, or a directory (DT_UNKNOWN) */
                if (de->d_type == DT_UNKNOWN)
                    rc = walk_refs(w, rel, len + 1 + n_len);
                rel[len] = '\0';
                continue;
            }
            if (rc == CAIRN_CORRUPT) { /* listed as damaged; the walk goes on */
                cairn__detail_clear();
                damaged = true;
                rc = 0;
            }
            if (rc == 0) {
                if (w->n == w->cap) {
                    size_t cap = w->cap ? 2 * w->cap : 16;
                    struct ref_item *grown = cairn__realloc(w->items, cap * sizeof(*grown));
                    if (!grown) {
                        rc = cairn__fail(CAIRN_NOMEM, "file %s: out of memory listing refs",
                                         w->t->path);
                        break;
                    }
                    w->items = grown;
                    w->cap = cap;
                }
                memcpy(w->items[w->n].name, name, sizeof(name));
                w->items[w->n].damaged = damaged;
                w->items[w->n++].id = id;
            }
        }
        rel[len] = '\0';
    }
    closedir(d);
    return rc;
}

static int item_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ref_item *)a)->name, ((const struct ref_item *)b)->name);
}

/* Collects the matching refs, sorts them by name, then calls fn with no
 * lock held (fn may call back into the tier). */
int cairn__file_ref_list(cairn_tier *base, const char *prefix, cairn_ref_fn fn, void *ctx)
{
    struct ref_walk w = {(file_tier *)base, prefix, strlen(prefix), NULL, 0, 0};
    char rel[PATH_MAX] = "refs";
    int rc;

    rc = walk_refs(&w, rel, 4);
    if (rc == 0 && w.n > 1)
        qsort(w.items, w.n, sizeof(*w.items), item_cmp);
    for (size_t i = 0; i < w.n && rc == 0; i++)
        rc = fn(ctx, w.items[i].name, w.items[i].damaged ? NULL : &w.items[i].id);
    cairn__free(w.items);
    return rc;
}
