/*
 * stack.h - an ordered list of tiers with write and read policies.
 *
 * Spec: tiers separated by '>', front (fastest) first:
 *     mem:256M>lmdb:./data?map_size=4G
 * Each tier is "scheme[:arg][?key=value&...]" (tier.h, docs/tiers.md).
 *
 * Roles. A tier that is not durable and has a durable tier behind it, or
 * that has a capacity, is a cache: it holds blobs only, never refs. Refs
 * live in the other ("ref") tiers; the first of them is the primary: its
 * refs are the truth, and moving a ref there is the commit point.
 *
 * Write policy (write-through): a publish writes the blobs to every tier,
 * then moves the ref in the primary (the commit point), then in every other
 * ref tier (a "follower"). Blobs are always written before the ref that
 * names them. Once the primary has moved, the commit stands: a follower
 * that fails (or whose ref is not where the primary's was) is marked
 * behind and keeps its old ref, never one naming blobs it may lack; the
 * engine brings it up to date by diff (engine/replicate.c). A cache that
 * fails a write is skipped: a blob a cache lacks is only a miss.
 *
 * Write-back (a follower with write=back): publishes skip it and mark it
 * behind; it is brought up to date by diff only when the store is synced
 * (cairn_sync), in one batch: one pack and one ref move for S3.
 *
 * Read policy (front-first with promotion): get asks the tiers in order;
 * a blob found in tier k is copied into every earlier tier with promote set
 * (caches by default). Every blob read from a tier is hash-checked against
 * its id: a mismatch from a cache is dropped from that cache and treated as
 * a miss; from any other tier it is CAIRN_CORRUPT (never served).
 */
#ifndef CAIRN_STACK_H
#define CAIRN_STACK_H

#include "tier.h"

typedef struct cairn_stack cairn_stack;

/* Parses spec and opens every tier. open_flags: CAIRN_RDONLY.
 * Errors: CAIRN_BADSPEC (the detail names the tier and option), and the
 * tiers' errors. OUT: *out. */
int cairn__stack_open(const char *spec, unsigned open_flags, cairn_stack **out);
void cairn__stack_close(cairn_stack *st);

/* Number of tiers and the ith one (0 = front). */
size_t cairn__stack_n_tiers(const cairn_stack *st);
cairn_tier *cairn__stack_tier(const cairn_stack *st, size_t i);
/* Index of the primary (the first ref tier). */
size_t cairn__stack_primary(const cairn_stack *st);

/* Followers (ref tiers behind the primary) that are behind it: bit k set
 * for tier k. Set by a publish or ref move that could not reach them, and
 * by the engine for a follower found behind at open; cleared by the
 * engine once it has brought the follower up to date. */
unsigned cairn__stack_behind(const cairn_stack *st);
void cairn__stack_set_behind(cairn_stack *st, size_t k, bool behind);

/* A stack of the one tier t, which it owns from now on (closed with the
 * stack, or here if this fails): t is the primary. For tiers opened
 * otherwise than by spec (a bundle file). OUT: *out. Errors: CAIRN_NOMEM. */
int cairn__stack_of_tier(cairn_tier *t, cairn_stack **out);

/* A stack of tier k of st alone (not owned: closing the view leaves the
 * tier open; st must outlive it). For checking one tier on its own. */
int cairn__stack_view(const cairn_stack *st, size_t k, cairn_stack **out);
/* Whether the primary ref tier is durable (a store that outlives us). */
bool cairn__stack_durable(const cairn_stack *st);

/* Reads n blobs front-first with promotion and hash checks. out[i].data is
 * malloc'd (caller frees) or NULL if no tier holds blob i. Returns 0, or
 * CAIRN_CORRUPT / a tier error (then every out[i] is NULL). */
int cairn__stack_get_many(cairn_stack *st, const cairn_id *ids, size_t n, cairn_buf *out);
/* Convenience for one blob: CAIRN_MISSING if absent (detail names the id). */
int cairn__stack_get(cairn_stack *st, const cairn_id *id, cairn_buf *out);

/* Writes blobs to every tier (no ref). */
int cairn__stack_put_many(cairn_stack *st, const cairn_blob *blobs, size_t n);

/* Writes blobs to every tier, then moves ref from old_id (NULL: absent) to
 * new_id in every ref tier, the primary first, whose CAS failing is
 * CAIRN_CONFLICT (and then nothing else moves). Returns 0 once the primary
 * has moved; followers that could not follow are marked behind. */
int cairn__stack_publish(cairn_stack *st, const cairn_blob *blobs, size_t n, const char *ref,
                         const cairn_id *old_id, const cairn_id *new_id);

/* Re-reads the primary's refs where it caches them (tier refresh). */
int cairn__stack_refresh(cairn_stack *st);
/* Follow mode: ref reads refresh first when the last refresh is at least
 * ms old (0: never); a failing refresh is ignored there. */
void cairn__stack_set_follow(cairn_stack *st, uint32_t ms);

/* Refs, read from the primary. */
int cairn__stack_ref_get(cairn_stack *st, const char *name, cairn_id *out);
int cairn__stack_ref_list(cairn_stack *st, const char *prefix, cairn_ref_fn fn, void *ctx);
/* Moves a ref in every ref tier, primary first (CAS on the primary; as for
 * publish, followers that cannot follow are marked behind). */
int cairn__stack_ref_cas(cairn_stack *st, const char *name, const cairn_id *old_id,
                         const cairn_id *new_id);

/* The writer lock of every ref tier (the primary first; all or none):
 * CAIRN_BUSY if one is held elsewhere, for a follower too, since it is
 * part of this store. */
int cairn__stack_writer_lock(cairn_stack *st, bool acquire);

/* Durability barrier on every tier. */
int cairn__stack_sync(cairn_stack *st);

/* Pins (tier.h) in the ref tiers (tiers/stack.c says why there). put
 * writes to every ref tier that takes it; *written gets bit k for each
 * tier k that did; it succeeds if one did, else returns the first
 * tier's error. delete deletes from every ref tier that holds pins
 * (absent is not an error). list calls fn for every pin of every ref tier
 * (a pin held by several tiers comes once per tier); -ENOTSUP when no ref
 * tier holds pins. */
typedef int (*cairn__stack_pin_fn)(void *ctx, size_t tier, const char *name, const void *bytes,
                                   size_t len);
int cairn__stack_pin_put(cairn_stack *st, const char *name, const void *bytes, size_t len,
                         unsigned *written);
int cairn__stack_pin_delete(cairn_stack *st, const char *name);
int cairn__stack_pin_list(cairn_stack *st, cairn__stack_pin_fn fn, void *ctx);

/* Fills the tier part of *out (n_tiers, tiers[]). */
int cairn__stack_stats(cairn_stack *st, cairn_stats *out);

#endif /* CAIRN_STACK_H */
