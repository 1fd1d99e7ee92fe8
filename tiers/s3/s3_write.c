/*
 * s3_write.c - the S3 tier's writes: new blobs gather as pending, are
 * uploaded as one pack (several when they pass pack_max), and only then
 * does a conditional PUT of the head name the packs and move the ref. So a
 * commit costs two PUTs: its pack and the head.
 *
 * Fencing. The first head write of a handle takes the store over: it
 * raises the head's epoch, in the same compare-and-swap (If-Match on the
 * ETag it read) that names its pack and moves its ref, so taking over costs
 * no request of its own and a sync from a new process is still two PUTs.
 * Every later head write keeps that epoch and is conditional on the ETag
 * this writer last saw; when one fails, the writer re-reads the head: a
 * higher epoch means another writer took over, and this one stops with
 * CAIRN_FENCED for good; its own nonce means its earlier attempt landed
 * after all (an ambiguous timeout); anything else (before it has taken
 * over) is an ordinary lost race, and the change is applied again to the
 * new head, where a ref that moved is CAIRN_CONFLICT.
 *
 * A new store's writer first checks that the service honours conditional
 * writes at all (a conditional create of the format object, done twice,
 * must fail the second time); if it does not, it refuses to write unless
 * the spec says fencing=none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "id.h"
#include "pack.h"
#include "s3_int.h"

#define PART_SIZE (32u << 20) /* packs above this go up in parts */
#define HEAD_TRIES 5
#define FORMAT_BODY "cairn-s3 1\n"

/* ---------------------------------------------------------------- pending */

static int slots_rebuild(s3_tier *st, size_t n_slots)
{
    uint32_t *slots = cairn__calloc(n_slots, sizeof(*slots));
    if (!slots)
        return CAIRN_NOMEM;
    for (size_t k = 0; k < st->n_pending; k++) {
        size_t i = cairn__id_hash(&st->pending[k].id) & (n_slots - 1);
        while (slots[i])
            i = (i + 1) & (n_slots - 1);
        slots[i] = (uint32_t)(k + 1);
    }
    cairn__free(st->pending_slots);
    st->pending_slots = slots;
    st->n_slots = n_slots;
    return 0;
}

/* Adds a copy of blob to the pending set. Caller holds mu and has checked
 * that the id is neither pending nor in the directory. */
static int pending_add(s3_tier *st, const cairn_blob *b)
{
    int rc;
    if (st->n_pending + 1 > st->n_slots / 2 &&
        (rc = slots_rebuild(st, st->n_slots ? st->n_slots * 2 : 1024)))
        return rc;
    if (st->n_pending == st->cap_pending) {
        size_t cap = st->cap_pending ? st->cap_pending * 2 : 256;
        s3_pending *p = cairn__reallocarray(st->pending, cap, sizeof(*p));
        if (!p)
            return CAIRN_NOMEM;
        st->pending = p;
        st->cap_pending = cap;
    }
    uint8_t *copy = cairn__memdup(b->data, b->len ? b->len : 1);
    if (!copy)
        return CAIRN_NOMEM;
    st->pending[st->n_pending] = (s3_pending){.id = b->id, .data = copy, .len = b->len};
    size_t i = cairn__id_hash(&b->id) & (st->n_slots - 1);
    while (st->pending_slots[i])
        i = (i + 1) & (st->n_slots - 1);
    st->pending_slots[i] = (uint32_t)(++st->n_pending);
    st->pending_bytes += b->len;
    return 0;
}

static void pending_clear(s3_tier *st)
{
    for (size_t k = 0; k < st->n_pending; k++)
        cairn__free(st->pending[k].data);
    st->n_pending = 0;
    st->pending_bytes = 0;
    if (st->pending_slots)
        memset(st->pending_slots, 0, st->n_slots * sizeof(*st->pending_slots));
}

void cairn__s3_pending_free(s3_tier *st)
{
    pending_clear(st);
    cairn__free(st->pending);
    cairn__free(st->pending_slots);
    st->pending = NULL;
    st->pending_slots = NULL;
    st->cap_pending = st->n_slots = 0;
}

/* ---------------------------------------------------------------- packs */

static void random_hex(char *out, size_t bytes)
{
    uint8_t raw[32];
    if (bytes > sizeof(raw))
        bytes = sizeof(raw);
    if (getrandom(raw, bytes, 0) != (ssize_t)bytes) {
        /* Never fails for so few bytes once the pool is seeded; fall back
         * to the clock, which is still unique enough for a nonce. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t v = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 48;
        for (size_t i = 0; i < bytes; i++)
            raw[i] = (uint8_t)(v >> (8 * (i % 8)) ^ i);
    }
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* The epoch in a new pack's name: this writer's, or the one it will take. */
static uint64_t pack_epoch(s3_tier *st)
{
    pthread_mutex_lock(&st->mu);
    uint64_t e = st->claimed ? st->my_epoch : st->head.epoch + 1;
    pthread_mutex_unlock(&st->mu);
    return e;
}

/* Names a built pack (epoch, counter, random: never reused), hashes its
 * index for the head and uploads it. OUT: *p. Caller holds write_mu. */
int cairn__s3_upload_pack(s3_tier *st, const uint8_t *bytes, size_t len, cairn_s3_pack_ref *p)
{
    cairn_pack_footer f;
    char rnd[9], key[256];
    int rc;

    *p = (cairn_s3_pack_ref){.bytes = len};
    random_hex(rnd, 4);
    snprintf(p->name, sizeof(p->name), "%016llx-%016llx-%s", (unsigned long long)pack_epoch(st),
             (unsigned long long)++st->pack_counter, rnd);
    if ((rc = cairn__pack_footer_parse(p->name, bytes + len - CAIRN_PACK_FOOTER, len, &f)))
        return rc;
    p->count = f.count;
    uint64_t suffix = cairn__pack_suffix_len(&f);
    if ((rc = cairn__sha256(bytes + len - suffix, (size_t)suffix, &p->index_id)))
        return rc;
    cairn__s3_pack_key(st, p->name, key, sizeof(key));
    return cairn__s3_put_large(st->client, key, bytes, len, PART_SIZE);
}

/* Records an uploaded pack for the next head write. Caller holds mu. */
int cairn__s3_unnamed_add(s3_tier *st, const cairn_s3_pack_ref *p)
{
    cairn_s3_pack_ref *un = cairn__reallocarray(st->unnamed, st->n_unnamed + 1, sizeof(*un));
    if (!un)
        return CAIRN_NOMEM;
    st->unnamed = un;
    un[st->n_unnamed++] = *p;
    return 0;
}

/* Uploads every pending blob as one pack, adds it to the directory and to
 * the packs the next head write names. Caller holds write_mu. */
static int flush_pending(s3_tier *st)
{
    cairn_blob *blobs = NULL;
    uint8_t *bytes = NULL;
    size_t len = 0, n;
    int rc;

    pthread_mutex_lock(&st->mu);
    n = st->n_pending;
    if (n && (blobs = cairn__calloc(n, sizeof(*blobs))))
        for (size_t k = 0; k < n; k++)
            blobs[k] = (cairn_blob){st->pending[k].id, st->pending[k].data, st->pending[k].len};
    pthread_mutex_unlock(&st->mu);
    if (!n)
        return 0;
    if (!blobs)
        return CAIRN_NOMEM;
    /* Pending blobs stay in place (readable) until the pack is in S3; only
     * this writer, holding write_mu, changes them. */
    rc = cairn__pack_build(blobs, n, &bytes, &len);
    cairn__free(blobs);
    if (rc)
        return rc;

    cairn_s3_pack_ref p;
    if (!(rc = cairn__s3_upload_pack(st, bytes, len, &p))) {
        pthread_mutex_lock(&st->mu);
        /* The directory learns the pack before the pending copies go, so
         * the blobs stay readable throughout. */
        if (!(rc = cairn__s3_unnamed_add(st, &p)) && !(rc = cairn__s3_dir_add(st, &p, bytes)))
            pending_clear(st);
        pthread_mutex_unlock(&st->mu);
    }
    cairn__free(bytes);
    return rc;
}

/* ---------------------------------------------------------------- head */

static void writer_name(char *out, size_t cap)
{
    char host[64];
    if (gethostname(host, sizeof(host)))
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = 0;
    for (char *p = host; *p; p++)
        if (*p <= ' ' || *p > '~')
            *p = '_';
    snprintf(out, cap, "%s:%ld", host, (long)getpid());
}

static int fenced_error(s3_tier *st)
{
    pthread_mutex_lock(&st->mu);
    unsigned long long epoch = st->head.epoch;
    char writer[128];
    snprintf(writer, sizeof(writer), "%s", st->head.writer);
    pthread_mutex_unlock(&st->mu);
    return cairn__fail(CAIRN_FENCED,
                       "%s: fenced: writer %s took the store over (epoch %llu; this writer had "
                       "epoch %llu); nothing more is written through this handle: reopen the "
                       "store to write again",
                       st->where, writer, epoch, (unsigned long long)st->my_epoch);
}

/* Writes a new head: the current one, with this writer's epoch, the next
 * sequence number, a fresh nonce, the packs uploaded since, and change
 * applied. Caller holds write_mu. */
int cairn__s3_head_write(s3_tier *st, cairn__s3_head_change change, void *ctx)
{
    char key[256];
    int rc = 0;
    cairn__s3_key(st, "head", key, sizeof(key));

    for (int attempt = 0; attempt < HEAD_TRIES; attempt++) {
        cairn_s3_head next;
        char etag[80];
        bool exists;
        pthread_mutex_lock(&st->mu);
        rc = cairn__s3_head_copy(&st->head, &next);
        snprintf(etag, sizeof(etag), "%s", st->etag);
        exists = st->head_exists;
        for (size_t i = 0; !rc && i < st->n_unnamed; i++)
            rc = cairn__s3_head_pack_add(&next, &st->unnamed[i]);
        /* Retired packs already deleted leave the head with this write. */
        size_t w = 0;
        for (size_t i = 0; i < next.n_retired; i++) {
            bool gone = false;
            for (size_t d = 0; d < st->n_deleted && !gone; d++)
                gone = !strcmp(next.retired[i].name, st->deleted[d]);
            if (!gone)
                next.retired[w++] = next.retired[i];
        }
        next.n_retired = w;
        pthread_mutex_unlock(&st->mu);
        if (rc) {
            cairn__s3_head_clear(&next);
            return rc;
        }
        next.epoch = st->claimed ? st->my_epoch : next.epoch + 1;
        next.seq++;
        next.time = (uint64_t)time(NULL);
        random_hex(next.nonce, 16);
        writer_name(next.writer, sizeof(next.writer));
        if ((rc = change(st, &next, ctx))) {
            cairn__s3_head_clear(&next);
            return rc;
        }
        char *text;
        size_t len;
        if ((rc = cairn__s3_head_encode(&next, &text, &len))) {
            cairn__s3_head_clear(&next);
            return rc;
        }
        cairn_s3_request r = {.method = CAIRN_S3_PUT, .key = key, .body = text, .body_len = len};
        if (st->fencing) {
            r.if_match = exists ? etag : NULL;
            r.if_none_match = exists ? NULL : "*";
        }
        rc = cairn__s3_run(st->client, &r, 1);
        if (!rc)
            rc = r.rc;
        bool ambiguous = r.ambiguous;
        if (!rc) {
            pthread_mutex_lock(&st->mu);
            st->my_epoch = next.epoch;
            st->claimed = true;
            cairn__s3_head_clear(&st->head);
            st->head = next;
            st->head_exists = true;
            snprintf(st->etag, sizeof(st->etag), "%s", r.etag);
            st->n_unnamed = 0;
            st->n_deleted = 0;
            pthread_mutex_unlock(&st->mu);
            cairn__s3_request_reset(&r, 1);
            cairn__free(text);
            return 0;
        }
        cairn__s3_request_reset(&r, 1);
        cairn__free(text);
        if (rc != CAIRN_CONFLICT && !(rc == CAIRN_UNAVAILABLE && ambiguous)) {
            cairn__s3_head_clear(&next);
            return rc;
        }
        /* Lost a race, or do not know: the head itself tells. */
        char nonce[33];
        memcpy(nonce, next.nonce, sizeof(nonce));
        cairn__s3_head_clear(&next);
        int first = rc;
        bool changed;
        if ((rc = cairn__s3_head_fetch(st, false, &changed)))
            return rc;
        pthread_mutex_lock(&st->mu);
        bool ours = st->head_exists && !strcmp(st->head.nonce, nonce);
        bool taken = st->claimed && st->head_exists && st->head.epoch > st->my_epoch;
        if (ours) {
            st->my_epoch = st->head.epoch;
            st->claimed = true;
            st->n_unnamed = 0;
            st->n_deleted = 0;
        }
        pthread_mutex_unlock(&st->mu);
        if (ours)
            return 0;
        if (first == CAIRN_UNAVAILABLE)
            return cairn__fail(CAIRN_UNAVAILABLE, "%s: the head could not be written (the service "
                               "did not answer, and the head shows the write did not land)",
                               st->where);
        if (taken) {
            st->fenced = true;
            return fenced_error(st);
        }
        /* Same epoch, another head: only without fencing (or a head this
         * writer had not seen); apply the change to the new one. */
    }
    return cairn__fail(CAIRN_CONFLICT, "%s: the head kept changing under %d attempts to write it",
                       st->where, HEAD_TRIES);
}

struct ref_move {
    const char *name;
    const cairn_id *old_id, *new_id;
};

static int change_ref(s3_tier *st, cairn_s3_head *next, void *ctx)
{
    const struct ref_move *m = ctx;
    const cairn_s3_ref *cur = cairn__s3_head_ref(next, m->name);
    if (m->old_id ? !cur || !cairn__id_eq(&cur->id, m->old_id) : cur != NULL)
        return cairn__fail(CAIRN_CONFLICT, "%s: ref '%s' moved", st->where, m->name);
    return cairn__s3_head_ref_set(next, m->name, m->new_id);
}

/* ---------------------------------------------------------------- takeover */

/* Creates the format object, or checks that the service refuses to create
 * it again: the proof that conditional writes are honoured. */
static int check_conditional_writes(s3_tier *st)
{
    char key[256];
    cairn__s3_key(st, "format", key, sizeof(key));
    for (int round = 0; round < 2; round++) {
        cairn_s3_request r = {.method = CAIRN_S3_PUT, .key = key, .body = FORMAT_BODY,
                              .body_len = strlen(FORMAT_BODY), .if_none_match = "*"};
        int rc = cairn__s3_run(st->client, &r, 1);
        if (!rc)
            rc = r.rc;
        cairn__s3_request_reset(&r, 1);
        if (rc == CAIRN_CONFLICT)
            return 0; /* refused, as it must be: the object exists */
        if (rc)
            return rc;
        /* Created (a new store, or one made without fencing): then the
         * second create must fail. */
    }
    return cairn__fail(CAIRN_BADSPEC,
                       "%s: the service at %s does not honour conditional writes (a conditional "
                       "create of an existing object succeeded), so two writers could overwrite "
                       "each other's versions; refusing to write. Add fencing=none to the spec to "
                       "write anyway: then making sure only one writer ever runs is the "
                       "operator's duty",
                       st->where, cairn__s3_endpoint(st->client));
}

/* Readies this handle to write: the head as it is now (a conditional GET),
 * the directory (to skip blobs S3 holds), and for a new store the format
 * object and the check of conditional writes. No takeover yet: the first
 * head write does it. */
int cairn__s3_ensure_writer(s3_tier *st)
{
    int rc;
    bool changed;
    if (st->fenced)
        return fenced_error(st);
    if (st->writer)
        return 0;
    if (st->rdonly)
        return cairn__fail(CAIRN_RDONLY_STORE, "%s is open read-only", st->where);
    if ((rc = cairn__s3_head_fetch(st, true, &changed)))
        return rc;
    if (st->head_exists) {
        /* an existing store: its format object is there */
    } else if (st->fencing) {
        if ((rc = check_conditional_writes(st)))
            return rc;
    } else {
        char key[256];
        cairn__s3_key(st, "format", key, sizeof(key));
        cairn_s3_request r = {.method = CAIRN_S3_PUT, .key = key, .body = FORMAT_BODY,
                              .body_len = strlen(FORMAT_BODY)};
        rc = cairn__s3_run(st->client, &r, 1);
        if (!rc)
            rc = r.rc;
        cairn__s3_request_reset(&r, 1);
        if (rc)
            return rc;
    }
    pthread_mutex_lock(&st->mu);
    st->writer = true;
    rc = cairn__s3_dir_sync(st); /* also brings a loaded one up to the head read */
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* ---------------------------------------------------------------- methods */

/* Queues the blobs S3 lacks; uploads when the queue passes pack_max.
 * Caller holds write_mu and is the writer. */
static int put_locked(s3_tier *st, const cairn_blob *blobs, size_t n)
{
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < n && !rc; i++)
        if (!cairn__s3_pending_find(st, &blobs[i].id) && !cairn__s3_dir_find(st, &blobs[i].id))
            rc = pending_add(st, &blobs[i]);
    bool full = st->pending_bytes >= st->pack_max;
    pthread_mutex_unlock(&st->mu);
    if (!rc && full)
        rc = flush_pending(st);
    return rc;
}

int cairn__s3_put_many(cairn_tier *t, const cairn_blob *blobs, size_t n)
{
    s3_tier *st = (s3_tier *)t;
    int rc;
    pthread_mutex_lock(&st->write_mu);
    if (!(rc = cairn__s3_ensure_writer(st)))
        rc = put_locked(st, blobs, n);
    pthread_mutex_unlock(&st->write_mu);
    return rc;
}

int cairn__s3_publish(cairn_tier *t, const cairn_blob *blobs, size_t n, const char *ref,
                      const cairn_id *old_id, const cairn_id *new_id)
{
    s3_tier *st = (s3_tier *)t;
    struct ref_move m = {ref, old_id, new_id};
    int rc;
    pthread_mutex_lock(&st->write_mu);
    if (!(rc = cairn__s3_ensure_writer(st)) && !(rc = put_locked(st, blobs, n)) && !(rc = flush_pending(st)))
        rc = cairn__s3_head_write(st, change_ref, &m);
    /* The commit stands; a merge that fails is tried again after the next
     * one (its new pack, if uploaded, is named then). */
    if (!rc && cairn__s3_merge_small_packs(st))
        cairn__detail_clear();
    pthread_mutex_unlock(&st->write_mu);
    return rc;
}

int cairn__s3_ref_cas(cairn_tier *t, const char *name, const cairn_id *old_id,
                      const cairn_id *new_id)
{
    return cairn__s3_publish(t, NULL, 0, name, old_id, new_id);
}

struct ref_moves {
    const cairn_ref_move *v;
    size_t n;
};

static int change_refs(s3_tier *st, cairn_s3_head *next, void *ctx)
{
    const struct ref_moves *m = ctx;
    int rc = 0;
    for (size_t i = 0; i < m->n && !rc; i++) {
        struct ref_move one = {m->v[i].name, m->v[i].old_id, m->v[i].new_id};
        rc = change_ref(st, next, &one);
    }
    return rc;
}

/* Every move in one head write: a sync of several refs (a write-back
 * tier's boundary list and its branches) costs one PUT. */
int cairn__s3_ref_cas_many(cairn_tier *t, const cairn_ref_move *moves, size_t n)
{
    s3_tier *st = (s3_tier *)t;
    struct ref_moves m = {moves, n};
    int rc;
    pthread_mutex_lock(&st->write_mu);
    if (!(rc = cairn__s3_ensure_writer(st)) && !(rc = flush_pending(st)))
        rc = cairn__s3_head_write(st, change_refs, &m);
    if (!rc && cairn__s3_merge_small_packs(st))
        cairn__detail_clear();
    pthread_mutex_unlock(&st->write_mu);
    return rc;
}

/* Durable means uploaded: a pack in S3 is as durable as S3. The head names
 * it at the next ref move, so a sync followed by a ref move (how a
 * write-back stack publishes) costs two PUTs, not three. A pack no head
 * ever names (the writer died first) is garbage for gc. */
int cairn__s3_sync(cairn_tier *t)
{
    s3_tier *st = (s3_tier *)t;
    int rc = 0;
    pthread_mutex_lock(&st->write_mu);
    if (st->n_pending && !(rc = cairn__s3_ensure_writer(st)))
        rc = flush_pending(st);
    pthread_mutex_unlock(&st->write_mu);
    return rc;
}

int cairn__s3_writer_lock(cairn_tier *t, bool acquire)
{
    s3_tier *st = (s3_tier *)t;
    int rc;
    if (!acquire) {
        atomic_store(&t->locked, false);
        return 0;
    }
    bool expected = false;
    if (!atomic_compare_exchange_strong(&t->locked, &expected, true))
        return cairn__fail(CAIRN_BUSY, "tier '%s' is locked by another writer", t->spec);
    /* No request for a write-back tier: its commits go to the store in
     * front, which must work while S3 is unreachable; the sync readies it.
     * A primary reads the head afresh (one conditional GET) so the write
     * starts from the refs as they are, unless this handle already owns
     * the store (then its head is the truth, or its next write is fenced). */
    if (t->write_back || st->claimed)
        return st->fenced ? (atomic_store(&t->locked, false), fenced_error(st)) : 0;
    pthread_mutex_lock(&st->write_mu);
    if (st->writer) {
        bool changed;
        if (!(rc = cairn__s3_head_fetch(st, true, &changed)) && changed) {
            pthread_mutex_lock(&st->mu);
            rc = cairn__s3_dir_sync(st);
            pthread_mutex_unlock(&st->mu);
        }
    } else {
        rc = cairn__s3_ensure_writer(st);
    }
    pthread_mutex_unlock(&st->write_mu);
    if (rc)
        atomic_store(&t->locked, false);
    return rc;
}
