/*
 * retention.h - the store's retention policy (retention.c) and the pins
 * (pins.c) as gc uses them: the policy a run applies, and the pins it
 * keeps, deletes (expired) or ignores (damaged).
 */
#ifndef CAIRN_RETENTION_H
#define CAIRN_RETENTION_H

#include "engine.h"
#include "gc_mark.h"

#define CAIRN_RETENTION_REF "meta/retention"

/* Decodes a meta/retention record (blob names it for messages). OUT:
 * *out. Errors: CAIRN_CORRUPT, CAIRN_VERSION (retention.c says when). */
int cairn__retention_decode(const cairn_id *blob, const void *data, size_t len,
                            cairn_retention *out);

/* The policy a gc run at now_us applies: each rule from opts where set
 * (not CAIRN_GC_UNSET, grace_s not negative), else from the store's
 * meta/retention where set, else the default (keep_last and keep_newer
 * off, grace 3600 s). pinned is left empty. OUT: *out. Errors: those of
 * cairn_retention_get, CAIRN_BADARG for a duration out of range. */
int cairn__gc_policy_resolve(cairn_db *db, const cairn_gc_options *opts, int64_t now_us,
                             cairn_gc_policy *out);

/* The pins a gc run found, read once before its mark. */
typedef struct cairn__gc_pins {
    cairn_id *commits;  /* commits of pins in force, each once */
    size_t n_commits;
    uint64_t in_force;  /* pins in force */
    char (*expired)[CAIRN_PIN_NAME_MAX + 1]; /* pins expired at now_us */
    int64_t *expired_at;                     /* their expiries, as read */
    size_t n_expired;
    uint64_t ignored;   /* damaged, or naming a commit the store lacks */
} cairn__gc_pins;

/* Reads every pin of every ref tier and sorts them for gc at now_us. A
 * stack whose ref tiers hold no pins gives none. Errors: tier errors
 * (listing), CAIRN_NOMEM, those of reading a pinned commit other than
 * CAIRN_MISSING and CAIRN_CORRUPT (which make the pin ignored). OUT: *out
 * (free it with cairn__gc_pins_free, also after an error). */
int cairn__gc_pins_read(cairn_db *db, int64_t now_us, cairn__gc_pins *out);
/* Deletes the expired pins, each only if a fresh listing still shows it
 * expired with the same expiry (its holder may have renewed it late).
 * OUT: *deleted. Errors: tier errors. */
int cairn__gc_pins_expire(cairn_db *db, const cairn__gc_pins *pins, int64_t now_us,
                          uint64_t *deleted);
void cairn__gc_pins_free(cairn__gc_pins *pins);

/* cairn_gc with its clock given (tests run gc at a time of their choice:
 * expiring pins, aging commits). cairn_gc calls it with the real clock. */
int cairn__gc_at(cairn_db *db, const cairn_gc_options *opts, int64_t now_us,
                 cairn_gc_report *report);

#endif /* CAIRN_RETENTION_H */
