/*
 * uring.h - batched file operations through io_uring, with a plain
 * system-call fallback of identical semantics (the file tier's I/O layer).
 *
 * The caller fills an array of cairn_io, each one whole operation on one
 * path relative to a directory fd, and runs it with cairn__io_run. On the
 * io_uring path each operation becomes one SQE or a short linked chain of
 * them, and as many chains as fit in the ring go out per io_uring_submit:
 *
 *     STATX      statx                                          1 SQE
 *     MKDIR      mkdirat                                        1 SQE
 *     UNLINK     unlinkat                                       1 SQE
 *     READ       openat_direct -> read(offset) -> close_direct  3 SQEs, 1 slot
 *     WRITE      openat_direct -> write -> [fsync] ->           4-5 SQEs, 1 slot
 *                close_direct -> renameat(tmp_path, path)
 *     FSYNC_DIR  openat_direct(O_DIRECTORY) -> fsync -> close   3 SQEs, 1 slot
 *     FSYNC      openat_direct(O_RDONLY) -> fsync -> close      3 SQEs, 1 slot
 *
 * Links are soft (IOSQE_IO_LINK): a failed step cancels the rest, so a
 * WRITE whose write or fsync fails is never renamed into place. "Direct"
 * descriptors live in a sparse registered file table (one slot per chain in
 * flight) and never enter the process's fd table. After each round every
 * slot is empty again: a chain whose close was cancelled has its slot
 * cleared with io_uring_register_files_update.
 *
 * Short transfers: io_uring breaks a link when a read or write moves fewer
 * bytes than asked. A chain that made progress is queued again from where
 * it stopped (open without O_CREAT, then the rest at its offset); one that
 * made none fails: -EIO for a write, -ENODATA for a read (the file is
 * shorter than the length asked for). The fallback loops the same way.
 *
 * Rings: a small pool per engine (CAIRN_IO_MAX_RINGS), created lazily, each
 * guarded by its own mutex. A batch takes a free ring (or creates one, or
 * waits for one) and keeps it for the whole batch; concurrent batches from
 * other threads use other rings. After fork() the child never touches the
 * parent's rings: its batches run on the fallback.
 *
 * Counters: each io_uring_submit adds 1 to io_submits and its SQEs to
 * io_ops; on the fallback each system call adds 1 to io_ops.
 */
#ifndef CAIRN_URING_H
#define CAIRN_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tier.h"

#define CAIRN_IO_MAX_RINGS 4

enum cairn_io_kind {
    CAIRN_IO_STATX = 1,
    CAIRN_IO_MKDIR,
    CAIRN_IO_UNLINK,
    CAIRN_IO_READ,
    CAIRN_IO_WRITE,
    CAIRN_IO_FSYNC_DIR,
    CAIRN_IO_FSYNC, /* a file that exists, made durable */
};

/* One operation. Inputs are borrowed until cairn__io_run returns. */
typedef struct cairn_io {
    /* Inputs. */
    unsigned char kind;   /* enum cairn_io_kind */
    bool sync;            /* WRITE: fdatasync the file before the rename */
    const char *path;     /* the file or directory; WRITE: the final name */
    const char *tmp_path; /* WRITE: the new file, renamed to path when complete */
    const void *data;     /* WRITE: the bytes */
    size_t len;           /* WRITE: bytes to write; READ: bytes to read */
    uint64_t offset;      /* READ: where in the file to start (a blob in a pack) */

    /* Outputs. */
    int rc;            /* 0 or -errno (READ: -ENODATA if the file is short) */
    const char *step;  /* on failure, the step that failed: "open", "write"... */
    void *buf;         /* READ: malloc'd len bytes (at least 1), or NULL on failure */
    uint64_t size;     /* STATX: st_size */
    int64_t mtime_ns;  /* STATX: modification time, ns since the epoch */
    unsigned mode;     /* STATX: st_mode */

    /* Private to uring.c. */
    size_t done;      /* bytes moved so far */
    bool created;     /* WRITE: tmp_path exists and is ours */
} cairn_io;

typedef struct cairn_io_engine cairn_io_engine;

/* Creates an engine. With force_syscall, or when io_uring cannot be set up
 * (no such syscall, forbidden by a sandbox, an opcode or registered files
 * missing), the engine uses system calls; the reason goes to *why (a static
 * string, NULL when io_uring works or was not asked for). entries sizes
 * each ring. counters (borrowed, outlives the engine) get io_uring,
 * io_submits and io_ops. Returns 0 or CAIRN_NOMEM. OUT: *out. */
int cairn__io_open(unsigned entries, bool force_syscall, cairn_tier_counters *counters,
                   cairn_io_engine **out, const char **why);
/* Frees the engine and its rings. Accepts NULL. */
void cairn__io_close(cairn_io_engine *e);

/* Runs the n operations, all relative to dirfd, and fills their outputs.
 * Returns 0 when every operation ran (each has its own rc), or an error
 * for the batch as a whole (io_uring_submit failing, out of memory); then
 * operations that did not run have rc set to that error and READ buffers
 * are freed. Safe to call from several threads at once. */
int cairn__io_run(cairn_io_engine *e, int dirfd, cairn_io *ios, size_t n);

/* Frees the READ buffers of ios[0..n) and sets them to NULL. */
void cairn__io_free_bufs(cairn_io *ios, size_t n);

#endif /* CAIRN_URING_H */
