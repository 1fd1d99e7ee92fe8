/*
 * cairn.h - the public interface of cairn, an embeddable storage engine.
 *
 * Concepts
 * --------
 * A store (cairn_db) keeps an immutable, versioned, sorted key/value index.
 * Keys and values are byte strings; keys order by unsigned bytewise
 * comparison (memcmp, then length).
 *
 * The index is a copy-on-write B+tree whose nodes are content-addressed
 * blobs: a node's id is the SHA-256 of its bytes (cairn_id). Node boundaries
 * are chosen by content, so the same keys and values always give the same
 * root id, whatever order or batching produced them.
 *
 * A commit is itself a blob naming a catalog tree (keyspace name -> keyspace
 * root), its parent commit, a sequence number, a time and a message. Refs are
 * named, mutable pointers to commits: branches ("main" by default) and tags.
 * Moving a branch is the commit point.
 *
 * Blobs and refs live in a stack of tiers written front to back, for example
 * "mem:256M>lmdb:./data". See docs/tiers.md for the spec syntax and policies.
 *
 * One writer, many readers: one write transaction per store at a time
 * (across processes for local stores), and any number of snapshots, each used
 * by one thread at a time, reading consistent versions without blocking the
 * writer.
 *
 * Errors
 * ------
 * Every fallible function returns int: 0 on success, a negative code on
 * failure. System errors pass through as -errno; cairn's own codes are listed
 * below (CAIRN_ERRNO_MAP). cairn_strerror() names a code; cairn_errdetail()
 * gives the thread's last detailed message (what went wrong and where).
 *
 * Ownership
 * ---------
 * Handles are created by cairn_X_open/begin and released by cairn_X_close
 * (or commit/abort for transactions); every close accepts NULL. Keys and
 * values returned by a read point into engine memory owned by the handle
 * that returned them and stay valid until the next call on that handle or
 * its close. Copy them if you need them longer.
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CAIRN_EXTERN __attribute__((visibility("default")))
#else
#define CAIRN_EXTERN
#endif

/* ---------------------------------------------------------------- version */

#define CAIRN_VERSION_MAJOR 0
#define CAIRN_VERSION_MINOR 1
#define CAIRN_VERSION_PATCH 0
#define CAIRN_VERSION_STRING "0.1.0"

/* Returns the library's version string, e.g. "0.1.0". Static storage. */
CAIRN_EXTERN const char *cairn_version(void);

/* ---------------------------------------------------------------- limits */

/* Longest key, in bytes. A longer key is rejected with CAIRN_KEYTOOBIG. */
#define CAIRN_KEY_MAX 1024
/* Values up to this many bytes are stored inside leaf nodes; longer ones
 * are stored as separate content-addressed value blobs (so equal large
 * values are stored once). Part of the on-storage format. */
#define CAIRN_INLINE_MAX 1024
/* Largest value, in bytes. A longer one is rejected with CAIRN_VALTOOBIG. */
#define CAIRN_VALUE_MAX (64u << 20)
/* Longest keyspace, branch or tag name, in bytes. */
#define CAIRN_NAME_MAX 200
/* Default and allowed node size targets, in bytes (see docs/format.md). */
#define CAIRN_NODE_SIZE_DEFAULT 4096
#define CAIRN_NODE_SIZE_MIN 256
#define CAIRN_NODE_SIZE_MAX 65536

/* ---------------------------------------------------------------- types */

typedef struct cairn_db cairn_db;             /* an open store */
typedef struct cairn_txn cairn_txn;           /* a write transaction */
typedef struct cairn_snapshot cairn_snapshot; /* a read-only version */
typedef struct cairn_iter cairn_iter;         /* a range iterator */
typedef struct cairn_diff cairn_diff;         /* a diff stream */

/* A blob id: the SHA-256 of the blob's bytes. */
typedef struct cairn_id {
    uint8_t bytes[32];
} cairn_id;

/* Length of a hex id without its terminating NUL. */
#define CAIRN_ID_HEX 64

/* A borrowed byte string. */
typedef struct cairn_val {
    const void *data;
    size_t len;
} cairn_val;

/* ---------------------------------------------------------------- options */

/* Open flags. */
#define CAIRN_RDONLY 0x1u   /* never write; a write transaction gets CAIRN_RDONLY_STORE */
#define CAIRN_EXISTING 0x2u /* open a store that exists; never create one (CAIRN_NOTFOUND) */

typedef struct cairn_options {
    /* Bytes of decoded nodes kept in the shared node cache. */
    size_t node_cache_bytes;
    /* Node size target for a new store (0: CAIRN_NODE_SIZE_DEFAULT). An
     * existing store keeps the target it was created with; asking for a
     * different one is CAIRN_BADARG, since it would change every id. */
    uint32_t node_size;
    /* CAIRN_RDONLY and friends. */
    unsigned flags;
    /* Follow mode: when not 0, reading a ref (opening a snapshot, resolving
     * a name) first refreshes the refs of a tier that caches them (S3) if
     * it last did so at least this many milliseconds ago, so new versions
     * appear without cairn_refresh. A refresh that fails there is ignored:
     * the reader keeps the version it has. 0 (the default): refs of such a
     * tier are read at open, by cairn_refresh and by this handle's writes. */
    uint32_t follow_ms;
    /* Write-back in a long-running process: when not 0 and the stack has a
     * write-back tier (write=back), a background thread syncs it every
     * this many milliseconds (and at once when the queue fills). Commits
     * do not wait for it; cairn_sync() still syncs at once and returns
     * when done. 0 (the default): only cairn_sync() does. */
    uint32_t sync_interval_ms;
    /* The queue: commits and ref moves not yet synced. A write transaction
     * that would begin with this many waits for the flusher, at most ten
     * intervals (1 to 60 s), then fails with CAIRN_BUSY naming its last
     * error (a service down).
     * 0: 1000. */
    uint32_t sync_queue_max;
} cairn_options;

/* Fills *opts with the defaults: a 256 MiB node cache, node_size 0, no
 * flags. */
CAIRN_EXTERN void cairn_options_init(cairn_options *opts);

/* ---------------------------------------------------------------- errors */

/* cairn's own error codes: name, value, message. Clear of -errno values and
 * of LMDB's range (about -30800), which the LMDB tier translates. */
#define CAIRN_ERRNO_MAP(XX)                                                      \
    XX(NOTFOUND, -41001, "not found")                                            \
    XX(BUSY, -41002, "store is busy: another write transaction is open")         \
    XX(BADSPEC, -41003, "bad stack spec")                                        \
    XX(BADARG, -41004, "invalid argument")                                       \
    XX(KEYTOOBIG, -41005, "key too long")                                        \
    XX(VALTOOBIG, -41006, "value too long")                                      \
    XX(CORRUPT, -41007, "corrupt data")                                          \
    XX(MISSING, -41008, "blob missing from every tier")                          \
    XX(TXN_UNUSABLE, -41009, "transaction unusable after an earlier error")      \
    XX(CONFLICT, -41010, "compare-and-swap failed (a ref moved concurrently, or a "  \
                         "key did not hold the expected value)")                     \
    XX(MAPFULL, -41011, "LMDB map is full: reopen with a larger map_size")      \
    XX(NOMEM, -41012, "out of memory")                                           \
    XX(IO, -41013, "I/O error")                                                  \
    XX(RDONLY_STORE, -41014, "store is open read-only")                          \
    XX(VERSION, -41015, "unsupported format version")                            \
    XX(BADINPUT, -41016, "malformed input")                                      \
    XX(TIER, -41017, "tier failure")                                             \
    XX(VERIFY, -41018, "verification found problems")                          \
    XX(EXISTS, -41019, "already exists")                                         \
    XX(REWIND, -41020, "the branch would lose commits (not a descendant of its head)") \
    XX(FENCED, -41021, "another writer took over this store (fenced)")                 \
    XX(UNAVAILABLE, -41022, "a tier's service is unreachable")                           \
    XX(DENIED, -41023, "access denied (a tier's service refused the credentials, or its "  \
                       "TLS certificate did not verify)")

typedef enum cairn_errno {
#define CAIRN__ERR_ENUM(name, value, msg) CAIRN_##name = (value),
    CAIRN_ERRNO_MAP(CAIRN__ERR_ENUM)
#undef CAIRN__ERR_ENUM
} cairn_errno;

/* Returns a static message for rc (a cairn code or -errno). */
CAIRN_EXTERN const char *cairn_strerror(int rc);
/* Returns the static name of rc, e.g. "CAIRN_BUSY" or "ENOENT". */
CAIRN_EXTERN const char *cairn_errname(int rc);
/* Returns the calling thread's most recent detailed error message (what
 * failed and where: a spec option, a key, a blob id, a file and line), or ""
 * if the last failing call left none. Valid until the thread's next call into
 * cairn. */
CAIRN_EXTERN const char *cairn_errdetail(void);

/* Copies spec into out (cap bytes, truncated, always NUL-terminated) with
 * the user part of every address ("redis://USER:PASSWORD@HOST") replaced
 * by "***", for messages and logs: a spec that carries a password is
 * refused, and its error must not repeat the password. Returns out. */
CAIRN_EXTERN char *cairn_spec_redact(const char *spec, char *out, size_t cap);

/* ---------------------------------------------------------------- memory */

/* A replacement for libc's allocator, for embedders that account for or
 * limit the library's memory (compare SQLite's SQLITE_CONFIG_MALLOC).
 * Every allocation the library makes itself goes through it; those of the
 * libraries it uses do not (LMDB, liburing, libcrypto, libc's own: see
 * docs/architecture.md, "Memory").
 *   malloc_fn   returns size bytes (size is never 0), aligned as malloc's,
 *               or NULL; the library then fails the call with CAIRN_NOMEM.
 *   realloc_fn  resizes ptr (never NULL; size never 0) as realloc(3) does:
 *               on failure it returns NULL and leaves ptr as it was.
 *   free_fn     releases ptr (never NULL).
 *   ctx         passed to each of them as is.
 * The functions are called from every thread that uses the library, at the
 * same time, so they must be thread-safe. They must not call back into
 * cairn. (The members are not named malloc and free, so that a program
 * that defines those as macros can still use the struct.) */
typedef struct cairn_allocator {
    void *(*malloc_fn)(void *ctx, size_t size);
    void *(*realloc_fn)(void *ctx, void *ptr, size_t size);
    void (*free_fn)(void *ctx, void *ptr);
    void *ctx;
} cairn_allocator;

/* Installs *a (copied) as the allocator of the whole process; NULL puts
 * libc's back. Call it before the first store is opened, or when every
 * store is closed: memory is released by the allocator that gave it, so
 * nothing the library allocated may be alive when the allocator changes.
 * That includes strings it handed out (cairn_tsv_escape's, a
 * cairn_commit_info's message): free them first. Not thread-safe: no other
 * thread may be using the library meanwhile.
 * Errors: CAIRN_BADARG if a function of *a is NULL, or if a store is open
 * (then nothing changes; stores are counted from cairn_open's success to
 * cairn_close). */
CAIRN_EXTERN int cairn_set_allocator(const cairn_allocator *a);

/* Releases memory the library handed to the caller (cairn_tsv_escape's
 * string) through the allocator in use. Accepts NULL. */
CAIRN_EXTERN void cairn_free(void *ptr);

/* ---------------------------------------------------------------- ids */

/* Writes id as 64 lowercase hex digits plus NUL into hex (65 bytes). */
CAIRN_EXTERN void cairn_id_to_hex(const cairn_id *id, char hex[CAIRN_ID_HEX + 1]);
/* Parses exactly 64 hex digits (either case). Returns CAIRN_BADARG otherwise. */
CAIRN_EXTERN int cairn_id_from_hex(const char *hex, cairn_id *out);
/* Writes the id of the empty tree (an empty leaf node) into *out. The same
 * value for every store and node size; see docs/format.md. */
CAIRN_EXTERN void cairn_empty_root(cairn_id *out);

/* ---------------------------------------------------------------- store */

/* Opens the store described by spec, a stack of tiers written front to back
 * ("mem", "lmdb:./data", "mem:64M>lmdb:./data?map_size=4G"; docs/tiers.md).
 * opts may be NULL for the defaults. A new durable store records its node
 * size target on first open.
 * OUT: *out, the store handle, set only on success; close it with
 * cairn_close().
 * Errors: CAIRN_BADSPEC (the detail names the option), CAIRN_BADARG,
 * CAIRN_VERSION, CAIRN_CORRUPT, CAIRN_NOMEM, -errno from the file system,
 * CAIRN_BUSY when this process already has the same LMDB path open
 * read-only and this open wants to write (one LMDB environment per path
 * per process). */
CAIRN_EXTERN int cairn_open(const char *spec, const cairn_options *opts, cairn_db **out);

/* Closes db. Every transaction, snapshot, iterator and diff of db must be
 * closed first. Accepts NULL. */
CAIRN_EXTERN void cairn_close(cairn_db *db);

/* Returns the node size target the store uses. */
CAIRN_EXTERN uint32_t cairn_node_size(const cairn_db *db);

/* Makes every tier durable up to now (a no-op for write-through stacks of
 * durable tiers), after bringing every ref tier that is behind the primary
 * up to date (see cairn_tiers_behind; this takes the writer lock, so no
 * write transaction may be open on db). Errors: those of the tiers,
 * CAIRN_BUSY. */
CAIRN_EXTERN int cairn_sync(cairn_db *db);

/* Re-reads the refs of the primary where it caches them (an S3 tier: one
 * conditional GET of its head object, answered 304 when nothing changed);
 * a no-op for tiers whose refs are read live (mem, lmdb, file). Snapshots
 * opened afterwards see the new version; open ones keep theirs. Errors:
 * the tier's (CAIRN_UNAVAILABLE when its service cannot be reached,
 * CAIRN_CORRUPT for a damaged head); the refs stay as they were. */
CAIRN_EXTERN int cairn_refresh(cairn_db *db);

/* Returns how many ref tiers behind the primary are behind it: a write to
 * them failed after the primary had committed (the commit stands), or they
 * were added to the stack behind an existing store. Such a tier keeps refs
 * to versions it holds whole, never more; it catches up, copying only what
 * it lacks (found by diff), at the next write transaction, branch move or
 * cairn_sync(). If spec is not NULL and the count is not 0, *spec is the
 * first such tier's spec (valid until cairn_close). A write-back tier
 * (write=back), which is behind by design until cairn_sync(), is not
 * counted. */
CAIRN_EXTERN unsigned cairn_tiers_behind(cairn_db *db, const char **spec);

/* ---------------------------------------------------------------- refs */

/* Resolves at to a commit id. at is a branch name, else a tag name, else a
 * commit id: 64 hex digits, or a unique prefix of at least 7 (either case);
 * any of them may end in "~N", the Nth ancestor ("~" alone: the parent).
 * NULL means the branch "main".
 * OUT: *out. Errors: CAIRN_NOTFOUND (the detail names at; a branch with no
 * commits yet, a prefix no commit has, an ancestor past the first commit),
 * CAIRN_BADARG (a prefix that several commits share, naming them; a bad
 * "~N"). */
CAIRN_EXTERN int cairn_resolve(cairn_db *db, const char *at, cairn_id *out);

/* Ref kinds. */
typedef enum cairn_ref_kind { CAIRN_BRANCH = 1, CAIRN_TAG = 2 } cairn_ref_kind;

/* cairn_ref_set flags. */
#define CAIRN_REF_FORCE 0x1u    /* move a branch even where that drops commits from it */
#define CAIRN_REF_EXISTING 0x2u /* only move a ref that exists (a reset): never create one */

/* Points the branch or tag name at commit, creating it if it does not
 * exist (with CAIRN_REF_EXISTING in flags, a missing ref is CAIRN_NOTFOUND
 * instead, decided under the writer lock). A tag never moves: an existing
 * one is CAIRN_EXISTS. An existing branch moves forward only (to commit or
 * a descendant of its head, so that no commit drops out of its history)
 * unless flags has CAIRN_REF_FORCE; moving it elsewhere is CAIRN_REWIND,
 * whose detail names the branch's head, commit, and how many commits would
 * leave the branch (counted up to 10000 commits back; past that "more
 * than 10000"). Moving a branch to the commit it names already changes
 * nothing and succeeds. Changing a ref is a write: it takes the writer
 * lock (CAIRN_BUSY while a write transaction is open).
 * Errors: CAIRN_BADARG (bad name, unknown kind), CAIRN_MISSING (no such
 * commit), CAIRN_NOTFOUND (no such ref, with CAIRN_REF_EXISTING),
 * CAIRN_EXISTS, CAIRN_REWIND, CAIRN_BUSY, CAIRN_RDONLY_STORE, tier
 * errors. */
CAIRN_EXTERN int cairn_ref_set(cairn_db *db, cairn_ref_kind kind, const char *name,
                               const cairn_id *commit, unsigned flags);

/* Deletes branch or tag name. Its commits stay in the store (another ref
 * may reach them, and cairn_ref_set can restore the ref).
 * OUT: *was (may be NULL): the commit the ref named.
 * Takes the writer lock, as cairn_ref_set does.
 * Errors: CAIRN_NOTFOUND (no such ref), CAIRN_BADARG, CAIRN_BUSY,
 * CAIRN_RDONLY_STORE, tier errors. */
CAIRN_EXTERN int cairn_ref_delete(cairn_db *db, cairn_ref_kind kind, const char *name,
                                  cairn_id *was);

/* Calls fn once per ref, in name order, with its kind, name and commit. The
 * name is valid during the call only. fn returns 0 to go on, anything else
 * to stop, and that value is returned. */
typedef int (*cairn_ref_visitor)(void *ctx, cairn_ref_kind kind, const char *name,
                                 const cairn_id *commit);
/* A ref whose stored value is damaged is skipped, the others are listed,
 * and then CAIRN_CORRUPT names it (fn was still called for every good
 * ref). */
CAIRN_EXTERN int cairn_ref_list(cairn_db *db, cairn_ref_visitor fn, void *ctx);

/* ---------------------------------------------------------------- commits */

/* What a commit object says. message is allocated by the library and owned
 * by the struct: release it with cairn_commit_info_clear(). */
typedef struct cairn_commit_info {
    cairn_id id;           /* the commit's own id */
    cairn_id catalog;      /* root of the keyspace catalog tree */
    cairn_id parent;       /* meaningful only if has_parent */
    bool has_parent;       /* false for a branch's first commit */
    uint64_t seq;          /* 1 for the first commit, parent's + 1 after */
    int64_t time_us;       /* microseconds since the Unix epoch */
    uint64_t writer_epoch; /* grows by one each time a new writer handle commits */
    uint64_t key_count;    /* keys in all keyspaces */
    char *message;         /* NUL-terminated, "" if none */
    bool history_dropped;  /* has_parent, but gc dropped the history before
                              this commit (meta/boundary): the parent may be
                              gone, and a walk of history ends here */
} cairn_commit_info;

/* Reads commit id into *out (clear it afterwards). A branch's log is its
 * head (cairn_resolve) followed by each commit's parent until has_parent is
 * false; `cairn log` walks it that way.
 * Errors: CAIRN_MISSING, CAIRN_CORRUPT (not a commit object). */
CAIRN_EXTERN int cairn_commit_get(cairn_db *db, const cairn_id *id, cairn_commit_info *out);
/* Frees what cairn_commit_get allocated and zeroes *info. Accepts a zeroed
 * struct. */
CAIRN_EXTERN void cairn_commit_info_clear(cairn_commit_info *info);

/* Called by cairn_commit_walk once per commit. info (its message too) is
 * the walk's and valid during the call only. Return 0 to go on, anything
 * else to stop the walk. */
typedef int (*cairn_commit_visitor)(void *ctx, const cairn_commit_info *info);

/* Visits every commit in the history of heads[0..n_heads) (each head, its
 * parent, and so on back to a first commit), each commit once however many
 * heads reach it: the history of several branches and tags together
 * (`cairn log --all` passes every ref's commit). The order, newest first:
 * by seq, descending, so that every commit comes after all its children
 * (a child's seq is its parent's + 1; commit times, which a clock set back
 * can disorder, do not decide it); commits of equal seq by time_us,
 * descending; then by id, ascending bytewise. Heads that repeat, or that
 * lie in another head's history, are visited once, in their place.
 *
 * The walk reads each commit once, when the commit before it in its chain
 * is visited (a head: at the start), and holds at most one commit per head
 * plus a set of the ids reached (32 bytes and some per commit), so a
 * visitor that stops early costs little.
 *
 * A damaged history is walked around, never looped on: a commit that
 * cannot be read (CAIRN_MISSING, CAIRN_CORRUPT), or whose seq is not below
 * its child's, is skipped with the ancestors no other chain reaches; every
 * other commit is still visited, and the walk then returns the first such
 * problem's code, its detail naming the commit and the child naming it (a
 * parent is only read, and so only reported, where the walk reaches it: a
 * walk stopped earlier does not mention it). Other errors (CAIRN_NOMEM, a
 * tier's I/O error) stop the walk and are returned.
 *
 * Returns 0 when every commit was visited, fn's value when fn stopped the
 * walk, or an error (a damaged commit's takes precedence over fn's value).
 * With no heads, fn is not called and 0 is returned.
 * Errors: CAIRN_MISSING, CAIRN_CORRUPT (above), CAIRN_BADARG (heads NULL
 * with n_heads > 0), CAIRN_NOMEM, tier errors. */
CAIRN_EXTERN int cairn_commit_walk(cairn_db *db, const cairn_id *heads, size_t n_heads,
                                   cairn_commit_visitor fn, void *ctx);

/* ---------------------------------------------------------------- txn */

/* Begins a write transaction on branch (NULL: "main"). A branch that does
 * not exist yet starts empty and is created by the commit. Only one write
 * transaction per store can be open at a time, across threads and, for
 * local durable stores, across processes: the writer lock is taken here
 * and held until commit or abort. It never waits: a store whose lock is
 * held elsewhere is CAIRN_BUSY at once, and the caller decides whether to
 * retry (the cairn command does not; it exits 3).
 * OUT: *out, set only on success.
 * Errors: CAIRN_BUSY, CAIRN_RDONLY_STORE, CAIRN_BADARG (bad branch name). */
CAIRN_EXTERN int cairn_txn_begin(cairn_db *db, const char *branch, cairn_txn **out);

/* Records key = value in keyspace space (NULL or "": the default keyspace).
 * The bytes are copied. Errors: CAIRN_KEYTOOBIG, CAIRN_VALTOOBIG,
 * CAIRN_BADARG (keyspace name), CAIRN_NOMEM, CAIRN_TXN_UNUSABLE. After any
 * error the transaction is unusable: every call but abort returns
 * CAIRN_TXN_UNUSABLE. */
CAIRN_EXTERN int cairn_txn_put(cairn_txn *txn, const char *space, const void *key,
                               size_t key_len, const void *val, size_t val_len);

/* Records the deletion of key from space. Deleting a missing key is not an
 * error. Errors as for cairn_txn_put. */
CAIRN_EXTERN int cairn_txn_del(cairn_txn *txn, const char *space, const void *key,
                               size_t key_len);

/* Reads key in space as the transaction sees it (its own writes over the
 * version it began from). OUT: *val, valid until the next call on txn.
 * Errors: CAIRN_NOTFOUND, CAIRN_TXN_UNUSABLE, tier errors. */
CAIRN_EXTERN int cairn_txn_get(cairn_txn *txn, const char *space, const void *key,
                               size_t key_len, cairn_val *val);

/* Conditional operations.
 *
 * cairn_txn_cas and cairn_txn_incr read key as cairn_txn_get does (the
 * version the transaction began from, under its own earlier writes), decide,
 * and record an ordinary put or delete. Their checks hold at the commit:
 * the writer lock is taken by cairn_txn_begin and kept until commit or
 * abort, so no other writer of this store (thread, handle or, for local
 * stores, process) can move the branch meanwhile; and where the lock cannot
 * reach (an S3 primary written from two machines), the commit moves the
 * branch by compare-and-swap from the head the transaction began from, so
 * a branch that moved anyway fails the commit with CAIRN_CONFLICT and
 * writes nothing. A transaction that commits therefore behaves as if each
 * of its calls ran, in order, on the head it replaces: transactions are
 * serializable. See docs/architecture.md, "Atomic key operations".
 *
 * Refusals about the data leave the transaction usable: a cas whose check
 * fails (CAIRN_CONFLICT) and an incr of a value that is not a counter
 * (CAIRN_BADINPUT) or would leave the range (-ERANGE) record nothing, and
 * the transaction goes on as before the call (as after CAIRN_NOTFOUND from
 * cairn_txn_get). Check their result: committing after a refusal commits
 * the transaction's other operations; abort to drop them all. Every other
 * error (a bad argument, a key or value too long, a tier error,
 * CAIRN_NOMEM) makes the transaction unusable, as for cairn_txn_put. */

/* cairn_txn_cas flags. */
#define CAIRN_CAS_ABSENT 0x1u /* the check: key is absent (expected must be NULL, 0) */
#define CAIRN_CAS_DELETE 0x2u /* on a match, delete key (val must be NULL, 0) */

/* Compare-and-swap: if key in space currently holds exactly the
 * expected_len bytes at expected (or, with CAIRN_CAS_ABSENT, is absent),
 * records key = val (or, with CAIRN_CAS_DELETE, the deletion of key);
 * otherwise records nothing and returns CAIRN_CONFLICT. "Currently" is as
 * cairn_txn_get sees it. An empty value (expected_len 0) is a value, not
 * absence. CAIRN_CAS_ABSENT | CAIRN_CAS_DELETE only checks that key is
 * absent. The bytes are copied.
 * Errors: CAIRN_CONFLICT (the transaction stays usable; the detail names the
 * key, printable-escaped, and what it found: "absent", or the value's length
 * and at most its first 32 bytes), and, making the transaction unusable:
 * CAIRN_BADARG (unknown flags, NULL with a length, expected given with
 * CAIRN_CAS_ABSENT or val with CAIRN_CAS_DELETE, bad keyspace name),
 * CAIRN_KEYTOOBIG, CAIRN_VALTOOBIG, CAIRN_NOMEM, CAIRN_TXN_UNUSABLE, tier
 * errors. */
CAIRN_EXTERN int cairn_txn_cas(cairn_txn *txn, const char *space, const void *key,
                               size_t key_len, const void *expected, size_t expected_len,
                               const void *val, size_t val_len, unsigned flags);

/* Adds delta (which may be negative) to the decimal counter at key in
 * space and records the sum, written in its canonical form: '-' for a
 * negative number, then its digits, no leading zeros ("0", never "-0").
 * An absent key counts as 0. A present value must be a counter: an
 * optional '-' and then one or more ASCII digits, nothing else (no '+', no
 * spaces, no newline, not empty), whose value lies in the range of int64_t
 * (leading zeros are accepted: "007" is 7).
 * OUT: *out (may be NULL), the new value, on success only.
 * Errors, leaving the transaction usable and recording nothing:
 *   CAIRN_BADINPUT  the value is not a counter (the detail names the key
 *                   and shows the value, at most its first 32 bytes);
 *   -ERANGE         the value, or the sum, lies outside the range of
 *                   int64_t (the detail names the key and both numbers).
 * Errors making the transaction unusable: as for cairn_txn_put. */
CAIRN_EXTERN int cairn_txn_incr(cairn_txn *txn, const char *space, const void *key,
                                size_t key_len, int64_t delta, int64_t *out);

/* Writes the transaction's changes as a new commit and moves the branch to
 * it: blobs first, then the ref, in every tier the write policy requires.
 * message may be NULL. A transaction whose changes leave every keyspace as
 * it was (no operations, deletes of absent keys, puts of equal values)
 * writes nothing, as git does: the branch stays where it was (compare the
 * id returned with cairn_txn_base to tell). The transaction is freed
 * whether or not the commit succeeds; on failure the branch is unchanged.
 * Once the primary tier has committed, the commit stands: a ref tier behind
 * it that fails to follow is reported by cairn_tiers_behind, not here.
 * OUT: *commit_id if not NULL, on success: the branch's head, that is the
 * new commit, or the unchanged head when nothing changed (left untouched
 * when nothing changed on a branch with no commits, which stays absent).
 * Errors: CAIRN_TXN_UNUSABLE, CAIRN_CONFLICT (the branch moved under us:
 * another writer committed to it since cairn_txn_begin, which the writer
 * lock prevents except on an S3 primary written from several machines;
 * nothing is written, and a retry begins from the new head),
 * CAIRN_MAPFULL, CAIRN_IO, -ENOSPC and other tier errors. */
CAIRN_EXTERN int cairn_txn_commit(cairn_txn *txn, const char *message, cairn_id *commit_id);

/* Discards the transaction and frees it. Accepts NULL. */
CAIRN_EXTERN void cairn_txn_abort(cairn_txn *txn);

/* The commit the transaction builds on: its branch's head when it began.
 * Returns false for a branch with no commits yet (*out is then untouched). */
CAIRN_EXTERN bool cairn_txn_base(const cairn_txn *txn, cairn_id *out);

/* ---------------------------------------------------------------- snapshot */

/* Opens a read-only view of the version named by at (as cairn_resolve; NULL:
 * the head of "main"). An empty store's "main" opens as an empty snapshot.
 * A snapshot is used by one thread at a time; open one per thread.
 * OUT: *out. Errors: CAIRN_NOTFOUND, CAIRN_MISSING, CAIRN_CORRUPT. */
CAIRN_EXTERN int cairn_snapshot_open(cairn_db *db, const char *at, cairn_snapshot **out);

/* Opens the version of commit id. Errors as cairn_snapshot_open. */
CAIRN_EXTERN int cairn_snapshot_open_commit(cairn_db *db, const cairn_id *commit,
                                            cairn_snapshot **out);

/* Closes snap. Its iterators and diffs must be closed first. Accepts NULL. */
CAIRN_EXTERN void cairn_snapshot_close(cairn_snapshot *snap);

/* The commit the snapshot reads. Returns false for the empty snapshot of a
 * branch with no commits (then *out is untouched). */
CAIRN_EXTERN bool cairn_snapshot_commit(const cairn_snapshot *snap, cairn_id *out);

/* The root id of keyspace space (NULL or "": default), or with
 * space == CAIRN_CATALOG the catalog root, which names the whole version.
 * An empty or missing keyspace has the empty-tree id. */
#define CAIRN_CATALOG ((const char *)1)
CAIRN_EXTERN int cairn_snapshot_root(cairn_snapshot *snap, const char *space, cairn_id *out);

/* Looks key up in space. OUT: *val, valid until the next call on snap or its
 * close. Errors: CAIRN_NOTFOUND, CAIRN_KEYTOOBIG, CAIRN_MISSING,
 * CAIRN_CORRUPT, tier errors. */
CAIRN_EXTERN int cairn_get(cairn_snapshot *snap, const char *space, const void *key,
                           size_t key_len, cairn_val *val);

/* Looks up n keys of space at once (a Redis MGET). The nodes they need
 * are read level by level, those not cached in one tier batch per level,
 * so keys past the caches cost one round per tree level instead of one per
 * key (a file tier submits the reads together, S3 sends them in parallel).
 * Calls fn(ctx, i, val) for each key in order, val NULL when key i is
 * absent (a key longer than CAIRN_KEY_MAX is absent: it cannot be
 * stored); *val is valid during the call, until fn itself reads snap
 * (which it may: cairn_get, other keyspaces). fn returns 0 to go on,
 * anything else to stop, and that value is returned. Errors: CAIRN_BADARG
 * (keyspace name), CAIRN_MISSING, CAIRN_CORRUPT, tier errors. Keys are
 * taken in batches of 64: an error reading a batch's nodes comes before
 * its first call; one reading a value stored as a blob of its own (over
 * CAIRN_INLINE_MAX) comes at that key, instead of its call. */
typedef int (*cairn_get_fn)(void *ctx, size_t i, const cairn_val *val);
CAIRN_EXTERN int cairn_get_many(cairn_snapshot *snap, const char *space, const cairn_val *keys,
                                size_t n, cairn_get_fn fn, void *ctx);

/* Counts the keys k of space with lo <= k < hi in O(log n) node reads. A
 * NULL lo or hi is unbounded on that side. OUT: *count. */
CAIRN_EXTERN int cairn_count(cairn_snapshot *snap, const char *space, const void *lo,
                             size_t lo_len, const void *hi, size_t hi_len, uint64_t *count);

/* The rank-th key of space in key order (rank 0 is the first), found by
 * descending the subtree counts: O(log n) node reads, like cairn_count. With
 * rank drawn uniformly from [0, count) it picks a uniformly random key (a
 * Redis RANDOMKEY); cairn_count of the keys below a key gives its rank back.
 * Works on every keyspace, reserved ones too (cairn_dbsize says how a
 * keyspace's hashes are counted).
 * OUT: *key and *val (val may be NULL: the value is then not read), valid
 * until the next call on snap or its close.
 * Errors: CAIRN_NOTFOUND (rank >= the keyspace's key count; an empty or
 * missing keyspace has none), CAIRN_BADARG (keyspace name), CAIRN_MISSING,
 * CAIRN_CORRUPT, tier errors. */
CAIRN_EXTERN int cairn_key_at(cairn_snapshot *snap, const char *space, uint64_t rank,
                              cairn_val *key, cairn_val *val);

/* Calls fn once per keyspace of the version, in name order, with its name
 * and key count. The name is valid during the call only. fn returns 0 to go
 * on, anything else to stop, and that value is returned. */
typedef int (*cairn_space_visitor)(void *ctx, const char *name, uint64_t key_count);
CAIRN_EXTERN int cairn_space_list(cairn_snapshot *snap, cairn_space_visitor fn, void *ctx);

/* ---------------------------------------------------------------- iter */

#define CAIRN_ITER_REVERSE 0x1u /* descending key order */

/* Opens an iterator over the keys k of space with lo <= k < hi (NULL:
 * unbounded), ascending or, with CAIRN_ITER_REVERSE, descending. The bounds
 * are copied. The iterator starts before the first key in its direction.
 * OUT: *out. Errors: CAIRN_NOMEM, CAIRN_BADARG, tier errors. */
CAIRN_EXTERN int cairn_iter_open(cairn_snapshot *snap, const char *space, const void *lo,
                                 size_t lo_len, const void *hi, size_t hi_len, unsigned flags,
                                 cairn_iter **out);

/* Positions it so that the next cairn_iter_next returns the first key >= key
 * (ascending) or the last key <= key (descending), within the bounds. */
CAIRN_EXTERN int cairn_iter_seek(cairn_iter *it, const void *key, size_t key_len);

/* Steps to the next key. OUT: *key and *val, valid until the next call on it
 * or its close. Returns CAIRN_NOTFOUND past the end; tier errors. */
CAIRN_EXTERN int cairn_iter_next(cairn_iter *it, cairn_val *key, cairn_val *val);

/* Closes it. Accepts NULL. */
CAIRN_EXTERN void cairn_iter_close(cairn_iter *it);

/* ---------------------------------------------------------------- hashes */

/* Strings and hashes: the Redis data model over keyspaces (docs/format.md,
 * "Redis types", has the layout; `cairn serve` reads it).
 *
 * In keyspace S (NULL or "": the default one):
 *   - a string k is the plain key k of S (so cairn_get and a Redis GET
 *     agree);
 *   - a hash h with field f holding v is the key varint(len(h)) h f (the
 *     length of h as an unsigned LEB128 varint, then h, then f) in the
 *     keyspace ".hash." S, so the fields of one hash are one contiguous key
 *     range in field order; and the number of its fields is the key h in
 *     ".hlen." S, with that number as its value, in decimal ASCII.
 * A key is a string or a hash, never both, if it is written only through
 * the functions of this section: cairn_txn_set_string removes a hash of
 * the same name, and cairn_txn_hset a string. A hash with no fields does
 * not exist (cairn_txn_hdel of its last field removes its count).
 *
 * Keyspace names that begin with '.' are reserved for cairn's own use. The
 * functions of this section refuse them (CAIRN_BADARG), and refuse a
 * keyspace whose ".hash." name would be longer than CAIRN_NAME_MAX, that is
 * a name of more than CAIRN_NAME_MAX - 6 bytes. The general functions
 * (cairn_txn_put, cairn_get, cairn_iter_open, ...) do not know about hashes:
 * they read and write any keyspace, reserved ones too, and writing the
 * reserved ones or the string of a hash's name through them can break the
 * rules above (readers then see what cairn_type says).
 *
 * A hash's name is at most CAIRN_KEY_MAX bytes, and its name, the varint
 * before it and a field together at most CAIRN_KEY_MAX (so a name of 1000
 * bytes leaves 22 for its fields); a longer one is CAIRN_KEYTOOBIG, whose
 * detail names the hash, the field and the sizes. */

typedef enum cairn_key_type {
    CAIRN_TYPE_NONE = 0,   /* no such key */
    CAIRN_TYPE_STRING = 1, /* the plain key of the keyspace */
    CAIRN_TYPE_HASH = 2    /* a hash of one or more fields */
} cairn_key_type;

/* Writes the names of the keyspaces holding the hashes of space into
 * fields (".hash." space) and counts (".hlen." space), each of
 * CAIRN_NAME_MAX + 1 bytes, NUL-terminated; either may be NULL. For a
 * reader that walks them with the general functions (cairn_iter_open over
 * the counts lists every hash name in order; cairn_key_at over it picks
 * one). Errors: CAIRN_BADARG (a reserved or too long name). */
CAIRN_EXTERN int cairn_hash_spaces(const char *space, char *fields, char *counts);

/* What key is in space: CAIRN_TYPE_STRING if the plain key exists (it wins
 * if the rules above were broken and a hash has the same name), else
 * CAIRN_TYPE_HASH if a hash of that name exists, else CAIRN_TYPE_NONE.
 * Two point reads at most. OUT: *out.
 * Errors: CAIRN_KEYTOOBIG, CAIRN_BADARG (keyspace), CAIRN_MISSING,
 * CAIRN_CORRUPT, tier errors. */
CAIRN_EXTERN int cairn_type(cairn_snapshot *snap, const char *space, const void *key,
                            size_t key_len, cairn_key_type *out);

/* Looks up field of hash key in space: one point read. OUT: *val, valid
 * until the next call on snap or its close.
 * Errors: CAIRN_NOTFOUND (no such hash or field), CAIRN_KEYTOOBIG (name and
 * field too long together: no such field can exist), CAIRN_BADARG,
 * CAIRN_MISSING, CAIRN_CORRUPT, tier errors. */
CAIRN_EXTERN int cairn_hget(cairn_snapshot *snap, const char *space, const void *key,
                            size_t key_len, const void *field, size_t field_len, cairn_val *val);

/* The number of fields of hash key in space (0 if there is no such hash):
 * one point read. OUT: *out.
 * Errors: CAIRN_KEYTOOBIG, CAIRN_BADARG, CAIRN_CORRUPT (a count that is not
 * a positive decimal number: the detail names the hash), tier errors. */
CAIRN_EXTERN int cairn_hlen(cairn_snapshot *snap, const char *space, const void *key,
                            size_t key_len, uint64_t *out);

/* Opens an iterator over the fields of hash key in space that are >=
 * from_field (from_field NULL or from_len 0: all of them), ascending in
 * field order: a range scan (HGETALL, HSCAN with the last field returned as
 * the cursor). cairn_iter_next returns each field as *key and its value as
 * *val; cairn_iter_seek takes a field. No such hash: an iterator that
 * returns nothing. Close it with cairn_iter_close, before snap.
 * OUT: *out.
 * Errors: CAIRN_KEYTOOBIG (key and from_field too long together),
 * CAIRN_BADARG, CAIRN_NOMEM, tier errors. */
CAIRN_EXTERN int cairn_hiter_open(cairn_snapshot *snap, const char *space, const void *key,
                                  size_t key_len, const void *from_field, size_t from_len,
                                  cairn_iter **out);

/* The number of keys of space as Redis counts them (DBSIZE): its strings
 * plus its hashes, that is the key counts of space and of ".hlen." space:
 * two keyspace roots read, O(log n) at most. Rank r of the whole is the string cairn_key_at(space, r)
 * for r below the first count, else the hash name cairn_key_at(".hlen."
 * space, r - that count). OUT: *out.
 * Errors: CAIRN_BADARG, CAIRN_MISSING, CAIRN_CORRUPT, tier errors. */
CAIRN_EXTERN int cairn_dbsize(cairn_snapshot *snap, const char *space, uint64_t *out);

/* Writes in a transaction. They read what the transaction sees (as
 * cairn_txn_get does) and record ordinary puts and deletes, in the same
 * keyspaces, so they commit atomically with everything else the
 * transaction does. Every error makes the transaction unusable, as for
 * cairn_txn_put (cairn_txn_hdel of a field that is not there is no
 * error). */

/* Sets the string key of space to val, removing a hash of that name first
 * (so key is a string afterwards, whatever it was). cairn_txn_put, which
 * does not know about hashes, would leave the hash in place: use this
 * where hashes may exist. The bytes are copied.
 * Errors: CAIRN_KEYTOOBIG, CAIRN_VALTOOBIG, CAIRN_BADARG (keyspace),
 * CAIRN_NOMEM, CAIRN_TXN_UNUSABLE, CAIRN_CORRUPT, tier errors. */
CAIRN_EXTERN int cairn_txn_set_string(cairn_txn *txn, const char *space, const void *key,
                                      size_t key_len, const void *val, size_t val_len);

/* Sets field of hash key in space to val, creating the hash if it does
 * not exist (and removing a string key of that name: the key becomes a
 * hash) and keeping its field count. The bytes are copied.
 * OUT: *created (may be NULL): whether the field is new (a Redis HSET
 * counts those). Errors: CAIRN_KEYTOOBIG, CAIRN_VALTOOBIG, CAIRN_BADARG,
 * CAIRN_NOMEM, CAIRN_TXN_UNUSABLE, CAIRN_CORRUPT (a damaged count), tier
 * errors. */
CAIRN_EXTERN int cairn_txn_hset(cairn_txn *txn, const char *space, const void *key,
                                size_t key_len, const void *field, size_t field_len,
                                const void *val, size_t val_len, bool *created);

/* Removes field from hash key in space, keeping the field count; the hash
 * itself goes with its last field. A field that is not there is not an
 * error. OUT: *removed (may be NULL): whether the field was there.
 * Errors: as cairn_txn_hset (CAIRN_CORRUPT: a field without a count). */
CAIRN_EXTERN int cairn_txn_hdel(cairn_txn *txn, const char *space, const void *key,
                                size_t key_len, const void *field, size_t field_len,
                                bool *removed);

/* Removes hash key of space, every field and its count (a string of that
 * name stays: cairn_txn_del removes that). Costs one read if there is no
 * such hash, else a range scan of its fields as of the transaction's
 * beginning plus, if the transaction wrote to this hash before, one look at
 * each of its writes to the keyspace's hashes. A hash that is not there is
 * not an error. OUT: *removed (may be NULL): whether there was one.
 * Errors: CAIRN_KEYTOOBIG, CAIRN_BADARG, CAIRN_NOMEM, CAIRN_TXN_UNUSABLE,
 * CAIRN_CORRUPT, tier errors. */
CAIRN_EXTERN int cairn_txn_hclear(cairn_txn *txn, const char *space, const void *key,
                                  size_t key_len, bool *removed);

/* ---------------------------------------------------------------- diff */

typedef enum cairn_change {
    CAIRN_ADDED = 1,   /* in b only: new_val set */
    CAIRN_REMOVED = 2, /* in a only: old_val set */
    CAIRN_CHANGED = 3  /* in both with different values: both set */
} cairn_change;

typedef struct cairn_diff_entry {
    cairn_change change;
    cairn_val key;
    cairn_val old_val;
    cairn_val new_val;
} cairn_diff_entry;

/* Opens a stream of the differences of keyspace space from snapshot a to
 * snapshot b, in key order. Subtrees with equal ids are skipped, so the cost
 * follows the size of the change. Both snapshots must stay open while the
 * diff is. OUT: *out. */
CAIRN_EXTERN int cairn_diff_open(cairn_snapshot *a, cairn_snapshot *b, const char *space,
                                 cairn_diff **out);

/* Steps to the next difference. OUT: *entry, whose bytes are valid until the
 * next call on d or its close. Returns CAIRN_NOTFOUND at the end. */
CAIRN_EXTERN int cairn_diff_next(cairn_diff *d, cairn_diff_entry *entry);

/* Number of nodes the diff has read so far (a measure of its cost). */
CAIRN_EXTERN uint64_t cairn_diff_nodes_read(const cairn_diff *d);

/* Closes d. Accepts NULL. */
CAIRN_EXTERN void cairn_diff_close(cairn_diff *d);

/* ---------------------------------------------------------------- gc */

/* What gc keeps (docs/gc.md): the commit of every branch and tag; along
 * each branch, walking back from its head, every commit one of these rules
 * keeps, up to the first none keeps: the last keep_last commits (0: off),
 * commits newer than keep_newer_s seconds (0: off), and commits superseded
 * less than grace_s seconds ago (a reader that opened one while it was the
 * head keeps reading); and every pinned commit (cairn_pin) until its pin
 * expires. With keep_last and keep_newer_s both off, all history is kept
 * and gc frees only blobs no commit reaches.
 *
 * Each rule left at its unset value (what cairn_gc_options_init sets)
 * comes from the store's retention policy (cairn_retention_get), and where
 * that does not set it either, from the default: keep_last and
 * keep_newer_s off, grace_s 3600. A value given here overrides the store's
 * for this run only: 0 turns keep_last or keep_newer_s off, grace_s 0
 * means no grace. */
#define CAIRN_GC_UNSET UINT64_MAX /* keep_last, keep_newer_s: the store's */
typedef struct cairn_gc_options {
    uint64_t keep_last;     /* CAIRN_GC_UNSET: the store's */
    uint64_t keep_newer_s;  /* CAIRN_GC_UNSET: the store's */
    int64_t grace_s;        /* negative: the store's (else 3600) */
    bool dry_run;           /* find what is dead, delete nothing */
    const char *work_dir;   /* where gc's id files go (sorted on disk: memory
                               stays bounded); NULL: $TMPDIR or /tmp */
    /* Called now and then from the calling thread: the phase ("marking",
     * "listing", "sweeping") and a count of ids or blobs so far. */
    void (*progress)(void *ctx, const char *phase, uint64_t done);
    void *progress_ctx;
} cairn_gc_options;

/* Defaults: every rule unset (the store's policy, else keep all history,
 * grace 3600 s), no dry run. */
CAIRN_EXTERN void cairn_gc_options_init(cairn_gc_options *opts);

#define CAIRN_GC_TIERS_MAX 8

/* What gc found and did, per tier of the stack. */
typedef struct cairn_gc_report {
    bool resumed;            /* the mark of an earlier run that was killed or
                                failed was used (same policy, under a day old) */
    uint64_t commits_kept;   /* commits the policy keeps */
    uint64_t boundaries;     /* kept commits whose parent was dropped */
    uint64_t live_blobs;     /* distinct blobs the kept commits reach */
    uint64_t caught_up;      /* commits made while gc ran, marked before a deletion */
    uint64_t kept_late;      /* blobs dead at the mark that such commits needed */
    /* The policy this run applied (the store's, overridden by the options;
     * 0: off) and the pins it read (cairn_pin). */
    uint64_t keep_last, keep_newer_s, grace_s;
    uint64_t pins;           /* pins in force: their commits were kept */
    uint64_t pinned_only;    /* commits kept only because a pin names them */
    uint64_t pins_expired;   /* expired pins deleted (a dry run: found) */
    uint64_t pins_ignored;   /* damaged pins, or naming no commit the store
                                holds: ignored, left in place (cairn_pin_list
                                says why; cairn_unpin removes one) */
    size_t n_tiers;
    struct cairn_gc_tier_report {
        char spec[256];                      /* the tier's part of the spec */
        uint64_t blobs_before, bytes_before; /* held when gc listed them */
        uint64_t blobs_dead, bytes_dead;     /* found dead */
        uint64_t blobs_freed;                /* deleted (0 in a dry run) */
        /* Space given back where deleting a blob cannot at once (S3
         * rewrites packs, LMDB compacts its file): the tier's storage
         * before and after (bytes; 0: not known), the packs rewritten,
         * and why space is still held, if it is ("" otherwise). */
        uint64_t stored_before, stored_after;
        uint64_t packs_rewritten;
        char note[200];
    } tiers[CAIRN_GC_TIERS_MAX];
} cairn_gc_report;

/* Frees every blob no kept commit reaches, in every tier of the stack,
 * while writers commit and readers read: it deletes in short batches,
 * each under the writer lock after marking what was committed since (a
 * new commit may reference an old blob it did not write). A commit whose
 * parent it drops becomes a boundary (cairn_commit_info.history_dropped).
 * Waits while a write transaction holds the writer lock; a writer that
 * wants the lock during a batch gets CAIRN_BUSY, as with any writer.
 * Every tier must be able to list and delete blobs: mem, lmdb and file
 * can; S3 cannot yet (CAIRN_BADARG naming it, nothing done). Pins are
 * read from every ref tier once, before the mark; a run that deletes
 * deletes the expired ones at its end. A damaged pin (its record does not
 * decode, or its expiry lies further ahead than CAIRN_PIN_TTL_MAX) and a
 * pin naming a commit the store does not hold are ignored and counted in
 * report->pins_ignored, never fatal: a pin is a lease its holder renews,
 * so the damage lasts until its next renewal at most.
 * Errors: CAIRN_RDONLY_STORE, CAIRN_BADARG, CAIRN_BUSY (a writer held the
 * lock for 10 minutes), those of reading commits and nodes (a kept
 * version that cannot be read stops gc before it deletes anything), tier
 * errors, -errno of the work files, CAIRN_CORRUPT or CAIRN_VERSION for a
 * retention policy (meta/retention) this version cannot read (gc never
 * guesses a policy). OUT: *report (may be NULL). */
CAIRN_EXTERN int cairn_gc(cairn_db *db, const cairn_gc_options *opts, cairn_gc_report *report);

/* ---------------------------------------------------------------- copy */

/* Copying refs with their history from one store to another (cairn_copy),
 * or through a file (cairn_bundle_export, cairn_bundle_import). Blobs are
 * copied as they are, so both sides have the same commit and root ids; only
 * the blobs the destination lacks move, found by diffing each version
 * against the one before it (the cost follows what changed), in batches.
 * See docs/architecture.md, "Copies and bundles". */

/* cairn_copy_options.flags */
#define CAIRN_COPY_FORCE 0x1u   /* move refs that conflict (below) all the same */
#define CAIRN_COPY_DRY_RUN 0x2u /* find what would be copied and which refs would
                                   move, write nothing (the report counts it) */

typedef struct cairn_copy_options {
    unsigned flags; /* CAIRN_COPY_* */
    /* Called now and then from the calling thread (may be NULL): the
     * phase and the blobs and bytes done in it so far. Phases: "checking"
     * (a bundle's records are hashed, then its history walked, before
     * anything is written; a dry run walks too), "copying", "exporting". */
    void (*progress)(void *ctx, const char *phase, uint64_t blobs, uint64_t bytes);
    void *progress_ctx;
    /* Called once per branch or tag the copy creates or moves (in a dry
     * run: would), after it moved (may be NULL). old_commit is NULL for a
     * ref the destination did not have; forced: the destination's ref did
     * not lie in the source's history and CAIRN_COPY_FORCE moved it. The
     * arguments are valid during the call only. */
    void (*on_ref)(void *ctx, cairn_ref_kind kind, const char *name,
                   const cairn_id *old_commit, const cairn_id *new_commit, bool forced);
    void *on_ref_ctx;
} cairn_copy_options;

/* Zeroes *opts: no flags, no callbacks. */
CAIRN_EXTERN void cairn_copy_options_init(cairn_copy_options *opts);

/* What a copy did (a dry run: would do). */
typedef struct cairn_copy_report {
    uint64_t refs_moved;     /* branches and tags created or moved */
    uint64_t refs_same;      /* already where the source has them */
    uint64_t commits;        /* commits walked: the destination lacked them
                                (or their trees) when the copy began */
    uint64_t blobs_copied;   /* blobs written (a bundle: records) */
    uint64_t bytes_copied;   /* their bytes (a dry run: those of the nodes only) */
    uint64_t blobs_skipped;  /* offered but held by the destination already */
    uint64_t boundaries;     /* commits the destination's meta/boundary gained:
                                their parents were dropped by the source's gc */
    bool settings_adopted;   /* an empty destination took the source's settings */
} cairn_copy_report;

/* Copies the branches and tags named by refs[0..n_refs) (each name
 * selects the branch and the tag of that name, whichever exist; n_refs 0:
 * every branch and tag) from src to dst with all their retained history:
 * each ref's commits back to a first commit, or to where the source's gc
 * dropped history (the destination's meta/boundary then lists those
 * commits too, so that its log and verify stop there as the source's do).
 *
 * Settings: both stores must have the same settings (node size), or dst
 * must be empty (no branch, tag or boundary: a new store), and then it
 * takes src's. A copy into a store with other settings would make later
 * commits there build other trees for the same data.
 *
 * Refs: a branch dst does not have is created; one it has is moved only
 * if its commit lies in the source branch's history (a fast-forward);
 * a tag dst has at another commit is not moved. Otherwise the copy is
 * refused (CAIRN_CONFLICT naming the ref), unless opts->flags has
 * CAIRN_COPY_FORCE. dst's other refs stay as they are. Every check is
 * made before anything is written, under dst's writer lock (held
 * throughout; src needs none: history never changes).
 *
 * Order: blobs first (a blob dst already holds is skipped), made durable,
 * then dst's settings and boundary list, then its branches and tags. A
 * copy stopped at any point therefore leaves dst a valid store (with some
 * blobs no ref reaches yet), and running it again finishes it, copying
 * only what is still missing.
 *
 * src and dst are different handles (they may be stores of any tier
 * kinds). dst must be open for writing (unless the copy is a dry run).
 * opts may be NULL. OUT: *report (may be NULL), also on failure (what was
 * done until then).
 * Errors: CAIRN_NOTFOUND (no branch or tag of a name in refs, named),
 * CAIRN_BADARG (other settings, naming both; a bad name; a new ref that
 * would clash with a folder of refs), CAIRN_CONFLICT (naming the ref and
 * both commits), CAIRN_RDONLY_STORE, CAIRN_BUSY (dst's writer lock),
 * CAIRN_MISSING and CAIRN_CORRUPT (src lacks or holds damaged history),
 * tier errors of either side. */
CAIRN_EXTERN int cairn_copy(cairn_db *src, cairn_db *dst, const char *const *refs,
                            size_t n_refs, const cairn_copy_options *opts,
                            cairn_copy_report *report);

/* Writes a bundle to out (a FILE *, written from its current position in
 * one sequential pass, so a pipe will do): one file holding the branches
 * and tags named by refs[0..n_refs) (as for cairn_copy; n_refs 0: all),
 * the store's settings, the commits their retained history needs, with
 * their trees and values, and the boundary commits where that history
 * stops. The format (a pack with a manifest as its last record) is in
 * docs/format.md, "Bundles". The same store and refs give the same bytes.
 * Memory: about 64 bytes per blob written (the index, and a table to
 * write each blob once), not the blobs themselves.
 * A failed export leaves out with part of a bundle, which an import
 * refuses; write to a temporary file and rename it once this returns 0
 * (the cairn command does). opts: progress only (flags are ignored).
 * OUT: *report (may be NULL): refs_moved counts the refs written.
 * Errors: CAIRN_NOTFOUND (a name in refs), CAIRN_BADARG, -errno of
 * writing out, and those of reading the store. */
CAIRN_EXTERN int cairn_bundle_export(cairn_db *db, void *out /* FILE * */,
                                     const char *const *refs, size_t n_refs,
                                     const cairn_copy_options *opts,
                                     cairn_copy_report *report);

/* Imports the bundle at path into db: its branches and tags named by
 * refs[0..n_refs) (n_refs 0: all of them), as cairn_copy would copy them
 * from the store the bundle was made of (same ids, settings and boundary
 * rules, conflicts, CAIRN_COPY_FORCE and CAIRN_COPY_DRY_RUN).
 *
 * Nothing is written unless the whole bundle is sound: first its footer,
 * index and manifest are checked, then every record is read and hashed
 * (its SHA-256 must be its id), then the history to copy is walked through
 * without writing, so that a blob it needs and lacks, or one that does not
 * decode, is found; only then are blobs copied, and refs moved last. The
 * bundle is read as a stream of records, never whole: memory is about 112
 * bytes per blob of the bundle while its index is parsed, 48 after, plus a
 * node cache of 64 MiB. path must be a regular file (the index is at its
 * end). OUT: *report (may be NULL).
 * Errors: CAIRN_CORRUPT for a bundle that is truncated, damaged, or not
 * a bundle (a plain pack, another file), or whose manifest names refs or
 * blobs it does not hold; the detail names path and what is wrong (the
 * store is then unchanged); CAIRN_VERSION (a newer bundle or pack
 * format); CAIRN_BADARG (path is not a regular file); -errno (ENOENT...)
 * opening or reading path; otherwise those of cairn_copy. */
CAIRN_EXTERN int cairn_bundle_import(cairn_db *db, const char *path, const char *const *refs,
                                     size_t n_refs, const cairn_copy_options *opts,
                                     cairn_copy_report *report);

/* ---------------------------------------------------------------- retention */

/* A store's retention policy (docs/gc.md, "What is kept"): the rules
 * cairn_gc applies when its options leave them unset. Each rule is set or
 * not (has_*); keep_last 0 and keep_newer_s 0 mean the rule is off. */
typedef struct cairn_retention {
    bool has_keep_last;
    uint64_t keep_last;     /* the last N commits of each branch */
    bool has_keep_newer;
    uint64_t keep_newer_s;  /* commits newer than this many seconds */
    bool has_grace;
    uint64_t grace_s;       /* commits superseded less than this ago */
} cairn_retention;

/* The largest keep_newer_s or grace_s a policy may hold (about 73,000
 * years: microseconds of it fit gc's clock arithmetic). */
#define CAIRN_RETENTION_SECONDS_MAX (INT64_MAX / 2000000)

/* Reads the store's policy: the blob the ref meta/retention names. A
 * store without one gets every has_* false. OUT: *out.
 * Errors: CAIRN_CORRUPT (a record that does not decode, or a value out of
 * range; the detail names the blob), CAIRN_VERSION (a key this version
 * does not know: a newer cairn wrote it), tier errors. */
CAIRN_EXTERN int cairn_retention_get(cairn_db *db, cairn_retention *out);

/* Records *policy as the store's policy (a blob, then the ref
 * meta/retention, which replicates to ref tiers and copies as other meta/
 * refs do); rules not set are left out of the record. policy NULL, or one
 * setting nothing, removes the record. Takes the writer lock as
 * cairn_ref_set does.
 * Errors: CAIRN_BADARG (a duration above CAIRN_RETENTION_SECONDS_MAX),
 * CAIRN_RDONLY_STORE, CAIRN_BUSY, tier errors. */
CAIRN_EXTERN int cairn_retention_set(cairn_db *db, const cairn_retention *policy);

/* ---------------------------------------------------------------- pins */

/* A pin keeps a commit, its whole version, from gc until the pin expires
 * (docs/gc.md, "Pins"). A reader that reads an old version for long pins
 * it and renews the pin while it reads. Pins take no writer lock, and a
 * handle opened read-only may pin when its tiers let this process write
 * pins (lmdb: write permission on the store's files; file: on its pins/
 * folder; s3: PUT permission on PREFIX/pins/). A pin is written to every
 * ref tier of the stack that takes it (gc reads every ref tier's). */

#define CAIRN_PIN_NAME_MAX 64     /* letters, digits, '.', '_', '-' */
#define CAIRN_PIN_HOLDER_MAX 128  /* "host:pid" */
#define CAIRN_PIN_TTL_MAX (7u * 86400) /* the longest lease, in seconds */

typedef struct cairn_pin_info {
    char name[CAIRN_PIN_NAME_MAX + 1]; /* the pin's identity */
    cairn_id commit;                   /* the commit kept */
    int64_t expires_us;                /* microseconds since the Unix epoch */
    char holder[CAIRN_PIN_HOLDER_MAX + 1]; /* who took it, for messages */
    /* cairn_pin_list only: */
    bool expired;                      /* expires_us has passed */
    char problem[160];                 /* "" or why gc ignores this pin: a
                                          damaged record (commit, expiry and
                                          holder then unknown), an expiry too
                                          far ahead, a commit not held */
} cairn_pin_info;

/* Pins commit for ttl_s seconds (1 to CAIRN_PIN_TTL_MAX) under a new,
 * unique name ("HOST-PID-RANDOM"), then checks that the commit is still
 * in the store. Pin a version while it is still kept (the head, or within
 * the grace period): a gc that is already sweeping read the pins before,
 * and keeps what its own mark kept (docs/gc.md).
 * OUT: *out: the pin (name, commit, expiry, holder), on success only.
 * Errors: CAIRN_BADARG (ttl_s), CAIRN_MISSING (no such commit: the pin is
 * removed again), CAIRN_RDONLY_STORE when no ref tier of the stack takes
 * pins from this process (the detail says that without a pin the version
 * is protected only by gc's grace period), tier errors. */
CAIRN_EXTERN int cairn_pin(cairn_db *db, const cairn_id *commit, uint32_t ttl_s,
                           cairn_pin_info *out);

/* Renews pin (from cairn_pin) to expire ttl_s seconds from now, and
 * updates pin->expires_us. A pin that expired and was deleted meanwhile is
 * written again, if its commit is still held. Call it well before the pin
 * expires (the cairn command renews at a third of the lease).
 * Errors: as cairn_pin (CAIRN_MISSING: gc freed the commit after the pin
 * had expired). */
CAIRN_EXTERN int cairn_pin_renew(cairn_db *db, cairn_pin_info *pin, uint32_t ttl_s);

/* Deletes pin name from every ref tier that holds pins (absent: not an
 * error; a damaged pin is deleted the same way). Errors: CAIRN_BADARG (not
 * a pin name), CAIRN_RDONLY_STORE, tier errors. */
CAIRN_EXTERN int cairn_unpin(cairn_db *db, const char *name);

/* Calls fn once per pin of the store (from every ref tier, each name
 * once), in name order; damaged ones too (pin->problem says why). pin is
 * valid during the call only. fn returns 0 to go on, anything else to
 * stop, and that value is returned. Errors: tier errors, CAIRN_NOMEM;
 * -ENOTSUP when no tier of the stack holds pins. */
typedef int (*cairn_pin_visitor)(void *ctx, const cairn_pin_info *pin);
CAIRN_EXTERN int cairn_pin_list(cairn_db *db, cairn_pin_visitor fn, void *ctx);

/* ---------------------------------------------------------------- verify */

/* Called once per problem verify finds; message names the blob, key or ref.
 * Return 0 to go on, anything else to stop. */
typedef int (*cairn_problem_fn)(void *ctx, const char *message);

/* Counts are summed over every ref tier checked. */
typedef struct cairn_verify_report {
    uint64_t tiers;    /* ref tiers checked, each on its own */
    uint64_t refs;     /* refs checked */
    uint64_t commits;  /* commit objects checked */
    uint64_t nodes;    /* distinct tree nodes checked */
    uint64_t values;   /* distinct out-of-line value blobs checked */
    uint64_t bytes;    /* bytes of all those blobs */
    uint64_t problems; /* problems found (and, for cairn_repair, not repaired) */
    uint64_t repaired; /* cairn_repair: blobs restored from another tier */
} cairn_verify_report;

/* Checks everything reachable from every ref, in every ref tier of the
 * stack on its own (reading blobs from that tier alone, so a tier that
 * lacks what its refs reach is found out): each blob is present and
 * matches its id, decodes, keys are ordered within and across nodes, levels
 * and subtree counts agree, and node boundaries obey the chunking rule.
 * Problems in a stack of several ref tiers name the tier.
 * fn (may be NULL) hears of each problem. OUT: *report (may be NULL).
 * Returns 0 if all is well, CAIRN_VERIFY if problems were found, or another
 * error if verification itself could not proceed. */
CAIRN_EXTERN int cairn_verify(cairn_db *db, cairn_problem_fn fn, void *ctx,
                              cairn_verify_report *report);

/* Verifies as cairn_verify does and, for every blob of a ref tier that is
 * missing or damaged, looks for a good copy (one that hashes to its id) in
 * any other tier of the stack, caches included, and writes it back, which
 * overwrites the damaged copy. fn hears of each repair ("...; repaired from
 * tier 'X'") as well as of each problem left. Damage of another kind (a
 * blob that hashes right but breaks a rule) cannot be repaired by copying
 * and is reported as a problem. db must be open for writing.
 * Returns 0 if no problem is left, CAIRN_VERIFY if some are (report->
 * problems), CAIRN_RDONLY_STORE, or an error that stopped the check. */
CAIRN_EXTERN int cairn_repair(cairn_db *db, cairn_problem_fn fn, void *ctx,
                              cairn_verify_report *report);

/* ---------------------------------------------------------------- stats */

#define CAIRN_STATS_MAX_TIERS 8
#define CAIRN_NODE_HIST_BUCKETS 16

typedef struct cairn_tier_stats {
    char name[16];      /* "mem", "lmdb", ... */
    char spec[256];     /* the tier's part of the spec */
    uint64_t blobs;     /* blobs held now */
    uint64_t bytes;     /* bytes of blobs held now (payload) */
    uint64_t gets;      /* blobs asked for */
    uint64_t hits;      /* blobs found */
    uint64_t misses;    /* blobs not found */
    uint64_t puts;      /* blobs written */
    uint64_t put_bytes; /* bytes written */
    uint64_t evictions; /* blobs a bounded cache dropped to stay in capacity */
    uint64_t io_submits; /* file tier: io_uring submissions (0 on the fallback) */
    uint64_t io_ops;     /* file tier: operations issued (SQEs, or system calls) */
    bool io_uring;       /* file tier: I/O goes through io_uring */
    bool behind;         /* a ref tier behind the primary (cairn_tiers_behind) */
    bool write_back;     /* written by cairn_sync only (write=back) */
    /* Ref tiers: the commit this tier's branch names (the branch the stats
     * were asked for); for a write-back tier, the durability watermark:
     * the newest commit it holds. commits_behind: how many commits the
     * primary's branch is ahead of it (the write-back queue). */
    bool has_head;
    cairn_id head;
    uint64_t commits_behind;
    /* Remote tiers (s3): requests sent by kind, bytes, outcomes, latency
     * of single requests, and blobs written but not yet uploaded. */
    bool remote;
    uint64_t req_get, req_put, req_head, req_delete, req_post;
    uint64_t bytes_in, bytes_out;
    uint64_t errors;        /* requests that failed for good */
    uint64_t retries;       /* attempts repeated after a retryable failure */
    uint64_t breaker_trips; /* times the circuit opened */
    uint64_t latency_p50_us, latency_p99_us; /* upper bounds (powers of two) */
    uint64_t pending_blobs, pending_bytes;
} cairn_tier_stats;

typedef struct cairn_stats {
    unsigned n_tiers;
    cairn_tier_stats tiers[CAIRN_STATS_MAX_TIERS];
    /* Node cache. */
    uint64_t cache_hits, cache_misses, cache_bytes, cache_nodes;
    /* Nodes of the tree at the snapshot asked for (all keyspaces). */
    uint64_t keys;
    uint64_t nodes, leaf_nodes, node_bytes;
    uint32_t height;                           /* of the default keyspace */
    uint32_t node_size_min, node_size_max;     /* encoded bytes */
    double node_size_mean, node_size_stddev;
    /* Node sizes: bucket i counts nodes of [i, i+1) * node_size/4 bytes;
     * the last bucket holds the rest. */
    uint64_t node_size_hist[CAIRN_NODE_HIST_BUCKETS];
} cairn_stats;

/* Fills *out with tier and cache counters and, if at is not NULL, with the
 * node statistics of the version at (walking every node of it).
 * Errors: those of cairn_snapshot_open. */
CAIRN_EXTERN int cairn_stats_get(cairn_db *db, const char *at, cairn_stats *out);

/* ---------------------------------------------------------------- import */

/* Line formats of cairn_import and cairn_export (docs/cli.md has the full
 * rules):
 *   CAIRN_TSV      KEY<TAB>VALUE, both escaped (\t \n \r \\ \xHH; see
 *                  cairn_tsv_escape), so any bytes round-trip.
 *   CAIRN_JSONL    one JSON object per line; the line is the value, the key
 *                  is one of its top-level fields.
 *   CAIRN_TSV_RAW  KEY<TAB>VALUE as bytes, split at the first tab, with no
 *                  escapes at all (for data whose backslashes are data, such
 *                  as systemd's "\x2d").
 *   CAIRN_JSONL_TYPED  typed jsonl (cairn.h, "hashes"; docs/cli.md): one
 *                  record per string or hash, {"key":K,"type":"string",
 *                  "value":V} or {"key":K,"type":"hash","value":{F:V,...}}.
 *                  Export writes it; import reads it as CAIRN_JSONL does
 *                  (which reads typed records too), with key_field "key"
 *                  unless set. */
typedef enum cairn_format {
    CAIRN_TSV = 1,
    CAIRN_JSONL = 2,
    CAIRN_TSV_RAW = 3,
    CAIRN_JSONL_TYPED = 4
} cairn_format;

/* cairn_import_options.flags */
#define CAIRN_IMPORT_UNTYPED 0x1u /* jsonl: no typed records; every line is a string
                                     whose value is the line, "type" or not */

/* Progress callback for long operations: records done so far, bytes of
 * input consumed (or 0), total bytes if known (else 0). */
typedef void (*cairn_progress_fn)(void *ctx, uint64_t records, uint64_t bytes,
                                  uint64_t total_bytes);

typedef struct cairn_import_options {
    cairn_format format;    /* CAIRN_TSV (default), CAIRN_JSONL, CAIRN_TSV_RAW or
                               CAIRN_JSONL_TYPED */
    const char *key_field;  /* JSONL: top-level field holding the key */
    unsigned flags;         /* CAIRN_IMPORT_UNTYPED */
    const char *space;      /* keyspace, NULL for the default */
    const char *branch;     /* NULL for "main" */
    const char *source;     /* name used in messages, e.g. the file name */
    const char *message;    /* commit message prefix; NULL: "import SOURCE" */
    uint64_t batch;         /* records per commit; 0 means 10000 */
    cairn_progress_fn progress;
    void *progress_ctx;
    /* May be NULL. Read (never written) before each record and when a read
     * is interrupted by a signal: once *stop is nonzero the import stops at
     * that record boundary, as described at cairn_import. Meant to be set
     * by a signal handler (sig_atomic_t); the caller owns it and it must
     * stay valid until cairn_import returns. */
    const volatile sig_atomic_t *stop;
} cairn_import_options;

/* Reads records from the stdio stream in and commits them in batches.
 * Every line is one record (a blank line is malformed), in the format
 * opts->format: tsv (KEY<TAB>VALUE, escaped), raw tsv (split at the first
 * tab, no unescaping), or jsonl (one JSON object per line; the key is the
 * text of top-level field key_field, a string unescaped or a number as
 * written; the value is the whole line). A "\r" before the "\n" is
 * dropped (CRLF input).
 *
 * jsonl lines with a top-level "type" member are typed records (unless
 * opts->flags has CAIRN_IMPORT_UNTYPED, or key_field is "type" or
 * "value"): {"key":K,"type":"string","value":V} stores the string V
 * itself (unescaped) under K; {"key":K,"type":"hash","value":{F:V,...}}
 * stores the hash K with those fields (at least one, all strings, each
 * once), replacing all K held. In typed records \udc80-\udcff stand for the
 * bytes 0x80-0xff, so any bytes can be written; other members are ignored.
 * jsonl records go through the typed writers (cairn_txn_set_string for a
 * string or an untyped line, cairn_txn_hclear and cairn_txn_hset for a
 * hash), so a key is only ever one kind; tsv records are plain puts
 * (cairn_txn_put). Each batch commits with the message
 * "PREFIX records A-B" (PREFIX is opts->message, else "import SOURCE").
 *
 * Because every line is one record and batches commit in order, the records
 * committed are always exactly lines 1..*records of the input: a rerun
 * resumes at line *records + 1 (rerunning from line 1 is also safe, since
 * puts are idempotent).
 *
 * Errors:
 *   CAIRN_BADINPUT  a malformed line; the detail is "SOURCE:LINE: what is
 *                   wrong". Batches committed before it stay; the open
 *                   batch is discarded.
 *   -ECANCELED      *opts->stop became nonzero. The import stopped at a
 *                   record boundary: the records already read (all whole
 *                   and valid) were committed as a last, shorter batch, and
 *                   nothing after them was. A line that was being read when
 *                   a signal interrupted the read is dropped (it was not
 *                   imported). The detail is "SOURCE:LINE: stopped on
 *                   request before this line". If committing that last
 *                   batch fails, its error is returned instead.
 *   CAIRN_BADARG    bad options (unknown format or flags, jsonl without
 *                   key_field); a typed record for a reserved keyspace (its
 *                   detail "SOURCE:LINE: ...").
 *   -errno          a read error (a read interrupted by a signal while
 *                   *stop is still 0 is resumed, not an error).
 *   and the errors of cairn_txn_begin, cairn_txn_put and cairn_txn_commit.
 * OUT: *records (may be NULL): records committed, also on failure.
 * *commits (may be NULL): commits written, also on failure; a batch that
 * changes nothing (records the store already holds) writes no commit.
 * The library never installs signal handlers; the caller does, and sets
 * *stop from them (the cairn command does this for SIGINT and SIGTERM). */
CAIRN_EXTERN int cairn_import(cairn_db *db, void *in /* FILE * */,
                              const cairn_import_options *opts, uint64_t *records,
                              uint64_t *commits);

/* Writes every key of space at version at to out (a FILE *), one line per
 * key in key order:
 *   CAIRN_TSV      escaped key, tab, escaped value: any bytes can be written.
 *   CAIRN_JSONL    the value as stored. Every value must be one JSON object
 *                  on one line (what a jsonl import stores); otherwise the
 *                  export stops at that key with CAIRN_BADINPUT, the detail
 *                  naming the key and the problem, and the value is not
 *                  written (a bare value would not re-import).
 *   CAIRN_TSV_RAW  key, tab, value as bytes; a record raw tsv cannot hold
 *                  (cairn_tsv_raw_check) stops the export the same way.
 *   CAIRN_JSONL_TYPED  one typed record per string and per hash of space
 *                  (cairn.h, "hashes"), merged in key order, a hash's fields
 *                  in field order; keys, fields and values as JSON strings
 *                  (bytes that are not UTF-8 as \udc80-\udcff), so any
 *                  contents round-trip through a jsonl import. A key that
 *                  is both a string and a hash (only cairn_txn_put can make
 *                  one) stops the export with CAIRN_BADINPUT naming it; a
 *                  reserved keyspace is CAIRN_BADARG.
 * Lines written before a refused key are whole records; *records says how
 * many. progress (may be NULL) is called after each record with
 * progress_ctx, the records and the bytes written so far.
 * Errors: CAIRN_BADINPUT (above), CAIRN_BADARG (format), those of
 * cairn_snapshot_open and cairn_iter_open/next, stream errors as -errno.
 * OUT: *records (may be NULL): records written, also on failure. */
CAIRN_EXTERN int cairn_export(cairn_db *db, const char *at, const char *space,
                              cairn_format format, void *out, cairn_progress_fn progress,
                              void *progress_ctx, uint64_t *records);

/* Escapes bytes for tsv into a NUL-terminated string allocated by the
 * library. OUT: *out, the caller's: release it with cairn_free (not free).
 * Returns CAIRN_NOMEM. */
CAIRN_EXTERN int cairn_tsv_escape(const void *data, size_t len, char **out);
/* Unescapes a tsv field in place; *len is updated. Returns CAIRN_BADINPUT
 * for a bad escape or a raw tab, newline or carriage return (the detail
 * says which and where); then the field and *len are unchanged. */
CAIRN_EXTERN int cairn_tsv_unescape(char *field, size_t *len);
/* Checks that a record can be written as a raw tsv line that reads back as
 * the same record: the key holds no tab, newline or carriage return, and
 * the value holds no tab or newline and does not end in a carriage return
 * (a raw import would take it for a CRLF line ending). Reads the bytes
 * only. Returns 0, or CAIRN_BADINPUT with the detail saying what is wrong
 * ("the key holds a tab", "the value ends in a carriage return", ...). */
CAIRN_EXTERN int cairn_tsv_raw_check(const void *key, size_t key_len, const void *val,
                                     size_t val_len);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_H */
