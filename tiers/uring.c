/*
 * uring.c - the batch runner of uring.h: rounds of linked io_uring chains,
 * or the same operations as plain system calls.
 *
 * A round on one ring:
 *
 *     queue of operations --take whole chains while the SQ has room-->
 *     SQ [c0.open c0.write c0.fsync c0.close c0.rename c1.statx ...]
 *     io_uring_submit_and_wait(all) --> reap every CQE --> judge each chain
 *     (done / failed / resume after a short transfer: back on the queue)
 *
 * Every SQE posts exactly one CQE (cancelled links post -ECANCELED), so a
 * round ends when it has reaped as many CQEs as it submitted; nothing is in
 * flight between rounds, which keeps path strings, statx buffers and slots
 * simple to own. user_data is (chain index in the round << 3 | step).
 */
#include "alloc.h"
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define MAX_STEPS 5
#define STEP_BITS 3
#define MIN_SLOTS 16
/* Larger transfers run on the fallback: an SQE's length is 32 bits, and a
 * chain must always ask for the whole remainder (see uring.h). */
#define URING_MAX_LEN (1u << 30)
#define SUBMIT_RETRIES 100

enum step { S_STATX, S_MKDIR, S_UNLINK, S_OPEN, S_READ, S_WRITE, S_FSYNC, S_CLOSE, S_RENAME };

static const char *const step_names[] = {"statx", "mkdir", "unlink", "open",  "read",
                                         "write", "fsync", "close",  "rename"};

/* One chain of a round: which operation, its steps and their results. */
struct chain {
    size_t io;                      /* index into the batch */
    unsigned char n_steps, left;    /* SQEs in the chain; CQEs still due */
    unsigned char steps[MAX_STEPS]; /* enum step */
    int res[MAX_STEPS];             /* cqe->res per step */
};

typedef struct io_ring {
    pthread_mutex_t mu;   /* held for a whole batch */
    struct io_uring ring; /* valid while ready */
    bool ready;           /* ring set up and usable */
    unsigned n_slots;     /* registered (sparse) file slots */
    struct chain *chains; /* entries of them, one round's worth */
    struct statx *stx;    /* entries of them, statx results by chain */
} io_ring;

struct cairn_io_engine {
    unsigned entries;                  /* SQ size of each ring */
    bool uring;                        /* rings work and are used */
    pid_t pid;                         /* the process whose rings these are */
    cairn_tier_counters *counters;     /* borrowed from the tier */
    pthread_mutex_t pool_mu;           /* guards creating rings */
    _Atomic unsigned n_rings;          /* rings[0..n_rings) have been set up */
    _Atomic unsigned next_wait;        /* spreads waiting batches over the rings */
    io_ring rings[CAIRN_IO_MAX_RINGS];
    char why[160];                     /* why io_uring is not used */
};

/* ---------------------------------------------------------------- rings */

static void ring_free(io_ring *r)
{
    if (r->ready)
        io_uring_queue_exit(&r->ring);
    cairn__free(r->chains);
    cairn__free(r->stx);
    r->chains = NULL;
    r->stx = NULL;
    r->ready = false;
}

static const struct {
    int op;
    const char *name;
} needed_ops[] = {
    {IORING_OP_OPENAT, "OPENAT"},     {IORING_OP_READ, "READ"},     {IORING_OP_WRITE, "WRITE"},
    {IORING_OP_FSYNC, "FSYNC"},       {IORING_OP_CLOSE, "CLOSE"},   {IORING_OP_STATX, "STATX"},
    {IORING_OP_RENAMEAT, "RENAMEAT"}, {IORING_OP_MKDIRAT, "MKDIRAT"},
    {IORING_OP_UNLINKAT, "UNLINKAT"},
};

/* Sets up one ring with its slot table and scratch arrays. On failure
 * writes the reason into why (if not NULL) and returns -errno. */
static int ring_init(io_ring *r, unsigned entries, char *why, size_t why_len)
{
    struct io_uring_params p;
    struct io_uring_probe *probe;
    struct rlimit lim;
    int rc;

    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_COOP_TASKRUN;
    if ((rc = io_uring_queue_init_params(entries, &r->ring, &p)) == -EINVAL) {
        memset(&p, 0, sizeof(p)); /* kernels before 5.19 */
        rc = io_uring_queue_init_params(entries, &r->ring, &p);
    }
    if (rc) {
        if (why)
            snprintf(why, why_len, "io_uring_setup: %s", strerror(-rc));
        return rc;
    }
    r->ready = true;
    if (!(probe = io_uring_get_probe_ring(&r->ring))) {
        if (why)
            snprintf(why, why_len, "cannot probe io_uring opcodes");
        rc = -ENOSYS;
        goto fail;
    }
    for (size_t i = 0; i < sizeof(needed_ops) / sizeof(needed_ops[0]); i++) {
        if (!io_uring_opcode_supported(probe, needed_ops[i].op)) {
            if (why)
                snprintf(why, why_len, "kernel lacks IORING_OP_%s", needed_ops[i].name);
            rc = -ENOSYS;
            break;
        }
    }
    io_uring_free_probe(probe);
    if (rc)
        goto fail;
    /* The kernel caps registered files at RLIMIT_NOFILE. */
    r->n_slots = entries;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 2 * (rlim_t)r->n_slots)
        r->n_slots = lim.rlim_cur / 2 > MIN_SLOTS ? (unsigned)(lim.rlim_cur / 2) : MIN_SLOTS;
    while ((rc = io_uring_register_files_sparse(&r->ring, r->n_slots)) == -EMFILE &&
           r->n_slots > MIN_SLOTS)
        r->n_slots /= 2;
    if (rc) {
        if (why)
            snprintf(why, why_len, "registering direct descriptors: %s", strerror(-rc));
        goto fail;
    }
    r->chains = cairn__calloc(entries, sizeof(*r->chains));
    r->stx = cairn__calloc(entries, sizeof(*r->stx));
    if (!r->chains || !r->stx) {
        if (why)
            snprintf(why, why_len, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    return 0;

fail:
    ring_free(r);
    return rc;
}

int cairn__io_open(unsigned entries, bool force_syscall, cairn_tier_counters *counters,
                   cairn_io_engine **out, const char **why)
{
    cairn_io_engine *e;

    *out = NULL;
    *why = NULL;
    if (!(e = cairn__calloc(1, sizeof(*e))))
        return cairn__fail(CAIRN_NOMEM, "out of memory");
    e->entries = entries;
    e->pid = getpid();
    e->counters = counters;
    pthread_mutex_init(&e->pool_mu, NULL);
    for (int i = 0; i < CAIRN_IO_MAX_RINGS; i++)
        pthread_mutex_init(&e->rings[i].mu, NULL);
    if (!force_syscall) {
        if (ring_init(&e->rings[0], entries, e->why, sizeof(e->why)) == 0) {
            e->uring = true;
            atomic_store(&e->n_rings, 1);
        } else {
            *why = e->why;
        }
    }
    atomic_store(&counters->io_uring, e->uring);
    *out = e;
    return 0;
}

void cairn__io_close(cairn_io_engine *e)
{
    if (!e)
        return;
    for (unsigned i = 0; i < atomic_load(&e->n_rings); i++)
        ring_free(&e->rings[i]);
    for (int i = 0; i < CAIRN_IO_MAX_RINGS; i++)
        pthread_mutex_destroy(&e->rings[i].mu);
    pthread_mutex_destroy(&e->pool_mu);
    cairn__free(e);
}

/* Takes a ring for one batch: a free one, else a new one, else waits for
 * one. Returns it locked and ready, or NULL (then use the fallback). */
static io_ring *ring_acquire(cairn_io_engine *e)
{
    unsigned n = atomic_load(&e->n_rings);
    io_ring *r = NULL;

    for (unsigned i = 0; i < n && !r; i++)
        if (pthread_mutex_trylock(&e->rings[i].mu) == 0)
            r = &e->rings[i];
    if (!r) {
        pthread_mutex_lock(&e->pool_mu);
        n = atomic_load(&e->n_rings);
        if (n < CAIRN_IO_MAX_RINGS && ring_init(&e->rings[n], e->entries, NULL, 0) == 0) {
            r = &e->rings[n];
            pthread_mutex_lock(&r->mu);
            atomic_store(&e->n_rings, n + 1);
        }
        pthread_mutex_unlock(&e->pool_mu);
    }
    if (!r) {
        r = &e->rings[atomic_fetch_add(&e->next_wait, 1) % n];
        pthread_mutex_lock(&r->mu);
    }
    /* A ring torn down after a failure is set up again. */
    if (!r->ready && ring_init(r, e->entries, NULL, 0) != 0) {
        pthread_mutex_unlock(&r->mu);
        return NULL;
    }
    return r;
}

/* ---------------------------------------------------------------- fallback */

static void count_ops(cairn_io_engine *e, uint64_t n)
{
    atomic_fetch_add_explicit(&e->counters->io_ops, n, memory_order_relaxed);
}

static int fail_step(cairn_io *io, int rc, int step)
{
    io->rc = rc;
    io->step = step_names[step];
    return rc;
}

/* Reads or writes len - done bytes at offset done (reads: offset +
 * done), as io_uring would:
 * resuming after short transfers, -ENODATA (read) or -EIO (write) when a
 * call moves nothing. */
static int sys_transfer(cairn_io_engine *e, cairn_io *io, int fd, bool writing)
{
    while (io->done < io->len) {
        ssize_t got;

        count_ops(e, 1);
        if (writing)
            got = pwrite(fd, (const char *)io->data + io->done, io->len - io->done,
                         (off_t)io->done);
        else
            got = pread(fd, (char *)io->buf + io->done, io->len - io->done,
                        (off_t)(io->offset + io->done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return fail_step(io, -errno, writing ? S_WRITE : S_READ);
        if (got == 0)
            return fail_step(io, writing ? -EIO : -ENODATA, writing ? S_WRITE : S_READ);
        io->done += (size_t)got;
    }
    return 0;
}

/* One operation with system calls, with the semantics of its chain. */
static void sys_run(cairn_io_engine *e, int dirfd, cairn_io *io)
{
    struct stat st;
    int fd;

    io->rc = 0;
    switch (io->kind) {
    case CAIRN_IO_STATX:
        count_ops(e, 1);
        if (fstatat(dirfd, io->path, &st, 0) != 0) {
            fail_step(io, -errno, S_STATX);
            break;
        }
        io->size = (uint64_t)st.st_size;
        io->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        io->mode = st.st_mode;
        break;
    case CAIRN_IO_MKDIR:
        count_ops(e, 1);
        if (mkdirat(dirfd, io->path, 0755) != 0)
            fail_step(io, -errno, S_MKDIR);
        break;
    case CAIRN_IO_UNLINK:
        count_ops(e, 1);
        if (unlinkat(dirfd, io->path, 0) != 0)
            fail_step(io, -errno, S_UNLINK);
        break;
    case CAIRN_IO_READ:
        if (!io->buf && !(io->buf = cairn__malloc(io->len ? io->len : 1))) {
            fail_step(io, -ENOMEM, S_READ);
            break;
        }
        count_ops(e, 2);
        if ((fd = openat(dirfd, io->path, O_RDONLY | O_CLOEXEC)) < 0) {
            fail_step(io, -errno, S_OPEN);
            break;
        }
        sys_transfer(e, io, fd, false);
        close(fd);
        break;
    case CAIRN_IO_WRITE:
        count_ops(e, 3);
        fd = openat(dirfd, io->tmp_path,
                    O_WRONLY | O_CLOEXEC | (io->created ? 0 : O_CREAT | O_EXCL), 0644);
        if (fd < 0) {
            fail_step(io, -errno, S_OPEN);
            break;
        }
        io->created = true;
        if (sys_transfer(e, io, fd, true) == 0 && io->sync && fdatasync(fd) != 0)
            fail_step(io, -errno, S_FSYNC);
        count_ops(e, io->sync);
        if (close(fd) != 0 && io->rc == 0)
            fail_step(io, -errno, S_CLOSE);
        if (io->rc == 0 && renameat(dirfd, io->tmp_path, dirfd, io->path) != 0)
            fail_step(io, -errno, S_RENAME);
        if (io->rc != 0 && unlinkat(dirfd, io->tmp_path, 0) == 0)
            count_ops(e, 1); /* a failed write leaves nothing */
        io->created = false;
        break;
    case CAIRN_IO_FSYNC_DIR:
    case CAIRN_IO_FSYNC:
        count_ops(e, 3);
        if ((fd = openat(dirfd, io->path,
                         O_RDONLY | O_CLOEXEC |
                             (io->kind == CAIRN_IO_FSYNC_DIR ? O_DIRECTORY : 0))) < 0) {
            fail_step(io, -errno, S_OPEN);
            break;
        }
        if (fsync(fd) != 0)
            fail_step(io, -errno, S_FSYNC);
        close(fd);
        break;
    default:
        io->rc = -EINVAL;
        break;
    }
}

/* ---------------------------------------------------------------- chains */

static unsigned chain_sqes(const cairn_io *io)
{
    switch (io->kind) {
    case CAIRN_IO_READ:
    case CAIRN_IO_FSYNC_DIR:
    case CAIRN_IO_FSYNC:
        return 3;
    case CAIRN_IO_WRITE:
        return io->sync ? 5 : 4;
    default:
        return 1;
    }
}

static bool uses_slot(const cairn_io *io)
{
    return chain_sqes(io) > 1;
}

/* Appends one step to chain ci: an SQE tagged with its position. */
static struct io_uring_sqe *add_step(io_ring *r, unsigned ci, enum step step)
{
    struct chain *c = &r->chains[ci];
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring); /* room checked by the caller */

    io_uring_sqe_set_data64(sqe, (uint64_t)ci << STEP_BITS | c->n_steps);
    c->steps[c->n_steps++] = (unsigned char)step;
    return sqe;
}

/* Links sqe to the next one and, if fixed, makes its fd a slot number. */
static void link_next(struct io_uring_sqe *sqe, bool fixed)
{
    sqe->flags |= IOSQE_IO_LINK | (fixed ? IOSQE_FIXED_FILE : 0);
}

/* Prepares the SQEs of operation io as chain ci (slot ci if it needs one).
 * Returns -ENOMEM if a read buffer cannot be had (nothing prepared). */
static int prep_chain(io_ring *r, unsigned ci, int dirfd, cairn_io *io)
{
    struct chain *c = &r->chains[ci];
    struct io_uring_sqe *sqe;
    int open_flags;

    if (io->kind == CAIRN_IO_READ && !io->buf && !(io->buf = cairn__malloc(io->len ? io->len : 1)))
        return -ENOMEM;
    c->n_steps = 0;
    switch (io->kind) {
    case CAIRN_IO_STATX:
        sqe = add_step(r, ci, S_STATX);
        io_uring_prep_statx(sqe, dirfd, io->path, 0, STATX_TYPE | STATX_MODE | STATX_SIZE |
                            STATX_MTIME, &r->stx[ci]);
        break;
    case CAIRN_IO_MKDIR:
        io_uring_prep_mkdirat(add_step(r, ci, S_MKDIR), dirfd, io->path, 0755);
        break;
    case CAIRN_IO_UNLINK:
        io_uring_prep_unlinkat(add_step(r, ci, S_UNLINK), dirfd, io->path, 0);
        break;
    case CAIRN_IO_READ:
        sqe = add_step(r, ci, S_OPEN);
        io_uring_prep_openat_direct(sqe, dirfd, io->path, O_RDONLY, 0, ci);
        link_next(sqe, false);
        sqe = add_step(r, ci, S_READ);
        io_uring_prep_read(sqe, (int)ci, (char *)io->buf + io->done,
                           (unsigned)(io->len - io->done), io->offset + io->done);
        link_next(sqe, true);
        io_uring_prep_close_direct(add_step(r, ci, S_CLOSE), ci);
        break;
    case CAIRN_IO_WRITE:
        open_flags = O_WRONLY | (io->created ? 0 : O_CREAT | O_EXCL);
        sqe = add_step(r, ci, S_OPEN);
        io_uring_prep_openat_direct(sqe, dirfd, io->tmp_path, open_flags, 0644, ci);
        link_next(sqe, false);
        sqe = add_step(r, ci, S_WRITE);
        io_uring_prep_write(sqe, (int)ci, (const char *)io->data + io->done,
                            (unsigned)(io->len - io->done), io->done);
        link_next(sqe, true);
        if (io->sync) {
            sqe = add_step(r, ci, S_FSYNC);
            io_uring_prep_fsync(sqe, (int)ci, IORING_FSYNC_DATASYNC);
            link_next(sqe, true);
        }
        sqe = add_step(r, ci, S_CLOSE);
        io_uring_prep_close_direct(sqe, ci);
        link_next(sqe, false);
        io_uring_prep_renameat(add_step(r, ci, S_RENAME), dirfd, io->tmp_path, dirfd,
                               io->path, 0);
        break;
    case CAIRN_IO_FSYNC_DIR:
    case CAIRN_IO_FSYNC:
        sqe = add_step(r, ci, S_OPEN);
        io_uring_prep_openat_direct(sqe, dirfd, io->path,
                                    O_RDONLY | (io->kind == CAIRN_IO_FSYNC_DIR ? O_DIRECTORY : 0),
                                    0, ci);
        link_next(sqe, false);
        sqe = add_step(r, ci, S_FSYNC);
        io_uring_prep_fsync(sqe, (int)ci, 0);
        link_next(sqe, true);
        io_uring_prep_close_direct(add_step(r, ci, S_CLOSE), ci);
        break;
    }
    c->left = c->n_steps;
    for (unsigned s = 0; s < c->n_steps; s++)
        c->res[s] = -ECANCELED;
    return 0;
}

/* The result of the chain's step, or 1 if the chain has no such step. */
static int step_res(const struct chain *c, enum step step)
{
    for (unsigned s = 0; s < c->n_steps; s++)
        if (c->steps[s] == step)
            return c->res[s];
    return 1;
}

/* Judges a finished chain: fills io's outputs, or returns true if the
 * operation must go round again (a short transfer that made progress).
 * A slot whose close did not run is emptied here. */
static bool judge_chain(io_ring *r, unsigned ci, cairn_io *io)
{
    struct chain *c = &r->chains[ci];
    int open_rc = step_res(c, S_OPEN), xfer, close_rc = step_res(c, S_CLOSE), rc;
    bool again = false;

    io->rc = 0;
    if (open_rc == 0 && close_rc != 0) {
        int none = -1;
        io_uring_register_files_update(&r->ring, ci, &none, 1);
    }
    switch (io->kind) {
    case CAIRN_IO_STATX:
        if ((rc = c->res[0]) < 0) {
            fail_step(io, rc, S_STATX);
            break;
        }
        io->size = r->stx[ci].stx_size;
        io->mtime_ns = (int64_t)r->stx[ci].stx_mtime.tv_sec * 1000000000 +
                       r->stx[ci].stx_mtime.tv_nsec;
        io->mode = r->stx[ci].stx_mode;
        break;
    case CAIRN_IO_MKDIR:
    case CAIRN_IO_UNLINK:
        if ((rc = c->res[0]) < 0)
            fail_step(io, rc, c->steps[0]);
        break;
    case CAIRN_IO_READ:
    case CAIRN_IO_WRITE:
        if (open_rc < 0) {
            fail_step(io, open_rc, S_OPEN);
            break;
        }
        if (io->kind == CAIRN_IO_WRITE)
            io->created = true;
        xfer = step_res(c, io->kind == CAIRN_IO_READ ? S_READ : S_WRITE);
        if (xfer < 0) {
            fail_step(io, xfer, io->kind == CAIRN_IO_READ ? S_READ : S_WRITE);
            break;
        }
        io->done += (size_t)xfer;
        if (io->done < io->len) {
            if (xfer > 0)
                again = true;
            else if (io->kind == CAIRN_IO_READ)
                fail_step(io, -ENODATA, S_READ);
            else
                fail_step(io, -EIO, S_WRITE);
            break;
        }
        if ((rc = step_res(c, S_FSYNC)) < 0)
            fail_step(io, rc, S_FSYNC);
        else if (io->kind == CAIRN_IO_WRITE && close_rc < 0)
            fail_step(io, close_rc, S_CLOSE);
        else if ((rc = step_res(c, S_RENAME)) < 0)
            fail_step(io, rc, S_RENAME);
        else if (io->kind == CAIRN_IO_WRITE)
            io->created = false; /* renamed into place */
        break;
    case CAIRN_IO_FSYNC_DIR:
    case CAIRN_IO_FSYNC:
        if (open_rc < 0)
            fail_step(io, open_rc, S_OPEN);
        else if ((rc = step_res(c, S_FSYNC)) < 0)
            fail_step(io, rc, S_FSYNC);
        break;
    }
    return again;
}

/* Submits the round's nsqes SQEs and reaps as many CQEs. Retries
 * interrupted and briefly refused submissions; returns 0, or -errno when
 * the ring failed (then chains not fully reaped keep -ECANCELED results). */
static int round_trip(cairn_io_engine *e, io_ring *r, unsigned nsqes)
{
    unsigned submitted = 0, reaped = 0, tries = 0;
    int rc = 0;

    while (submitted < nsqes) {
        int got = io_uring_submit_and_wait(&r->ring, nsqes - submitted);
        if (got > 0) {
            submitted += (unsigned)got;
            atomic_fetch_add_explicit(&e->counters->io_submits, 1, memory_order_relaxed);
            count_ops(e, (uint64_t)got);
            continue;
        }
        if ((got == -EINTR || got == -EAGAIN || got == -EBUSY || got == 0) &&
            ++tries < SUBMIT_RETRIES) {
            if (got != -EINTR)
                usleep(1000);
            continue;
        }
        rc = got ? got : -EIO;
        break;
    }
    while (reaped < submitted) {
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        int wrc = io_uring_wait_cqe(&r->ring, &cqe);

        if (wrc == -EINTR)
            continue;
        if (wrc < 0) {
            rc = wrc;
            break;
        }
        io_uring_for_each_cqe(&r->ring, head, cqe)
        {
            uint64_t tag = io_uring_cqe_get_data64(cqe);
            struct chain *c = &r->chains[tag >> STEP_BITS];
            c->res[tag & ((1u << STEP_BITS) - 1)] = cqe->res;
            c->left--;
            seen++;
        }
        io_uring_cq_advance(&r->ring, seen);
        reaped += seen;
    }
    return rc;
}

/* Runs the queued operations on ring r in rounds. queue holds indexes of
 * ios, a circular buffer of n; every index is in it at most once. */
static int uring_run(cairn_io_engine *e, io_ring *r, int dirfd, cairn_io *ios, size_t *queue,
                     size_t n, size_t queued)
{
    size_t head = 0;
    int rc = 0;

    while (queued > 0 && rc == 0) {
        unsigned nchains = 0, nsqes = 0;

        while (queued > 0 && nchains < e->entries) {
            cairn_io *io = &ios[queue[head]];
            unsigned need = chain_sqes(io);
            int prc;

            if (io_uring_sq_space_left(&r->ring) < need || (uses_slot(io) && nchains >= r->n_slots))
                break;
            if ((prc = prep_chain(r, nchains, dirfd, io))) {
                fail_step(io, prc, S_READ);
            } else {
                r->chains[nchains].io = queue[head];
                nchains++;
                nsqes += need;
            }
            head = (head + 1) % n;
            queued--;
        }
        rc = round_trip(e, r, nsqes);
        for (unsigned ci = 0; ci < nchains; ci++) {
            cairn_io *io = &ios[r->chains[ci].io];
            if (judge_chain(r, ci, io)) {
                queue[(head + queued) % n] = r->chains[ci].io;
                queued++;
            } else if (io->rc && io->created && io->kind == CAIRN_IO_WRITE) {
                unlinkat(dirfd, io->tmp_path, 0); /* a failed write leaves nothing */
                io->created = false;
            }
        }
    }
    if (rc) {
        /* Whatever the failed ring left queued in its SQ must never go out:
         * tear it down (it is set up again by the next batch). */
        ring_free(r);
        for (; queued > 0; queued--, head = (head + 1) % n) {
            cairn_io *io = &ios[queue[head]];
            fail_step(io, rc, S_OPEN);
            if (io->created)
                unlinkat(dirfd, io->tmp_path, 0);
            io->created = false;
        }
    }
    return rc;
}

/* ---------------------------------------------------------------- batches */

/* A READ that failed keeps no buffer. */
static void drop_failed_bufs(cairn_io *ios, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ios[i].rc && ios[i].buf) {
            cairn__free(ios[i].buf);
            ios[i].buf = NULL;
        }
    }
}

int cairn__io_run(cairn_io_engine *e, int dirfd, cairn_io *ios, size_t n)
{
    io_ring *r = NULL;
    size_t *queue, queued = 0;
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        ios[i].rc = 0;
        ios[i].step = NULL;
        ios[i].buf = NULL;
        ios[i].done = 0;
        ios[i].created = false;
    }
    if (e->uring && e->pid == getpid())
        r = ring_acquire(e);
    if (!r) {
        for (size_t i = 0; i < n; i++)
            sys_run(e, dirfd, &ios[i]);
        drop_failed_bufs(ios, n);
        return 0;
    }
    if (!(queue = cairn__malloc((n ? n : 1) * sizeof(*queue)))) {
        pthread_mutex_unlock(&r->mu);
        return cairn__fail(CAIRN_NOMEM, "out of memory for %zu file operations", n);
    }
    for (size_t i = 0; i < n; i++) {
        if (ios[i].len > URING_MAX_LEN)
            sys_run(e, dirfd, &ios[i]);
        else
            queue[queued++] = i;
    }
    if (queued)
        rc = uring_run(e, r, dirfd, ios, queue, n, queued);
    pthread_mutex_unlock(&r->mu);
    cairn__free(queue);
    if (rc) {
        cairn__io_free_bufs(ios, n);
        return cairn__fail(rc, "io_uring: %s", strerror(-rc));
    }
    drop_failed_bufs(ios, n);
    return 0;
}

void cairn__io_free_bufs(cairn_io *ios, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cairn__free(ios[i].buf);
        ios[i].buf = NULL;
    }
}
