/*
 * blobset.h - a set of owned blobs keyed by id: the new nodes and values of
 * a transaction, waiting to be published. Adding an id twice keeps one copy.
 */
#ifndef CAIRN_BLOBSET_H
#define CAIRN_BLOBSET_H

#include <stddef.h>

#include "tier.h"

typedef struct cairn_blobset {
    cairn_blob *v;     /* the blobs, in insertion order; data is owned */
    size_t n, cap;
    size_t *slots;     /* open addressing: index + 1 into v, 0 = empty */
    size_t n_slots;
    size_t bytes;      /* total payload */
} cairn_blobset;

/* Adds data (taking ownership of the malloc'd buffer; freed at once if the
 * id is already present). Errors: CAIRN_NOMEM (data is freed). */
int cairn__blobset_add_owned(cairn_blobset *s, const cairn_id *id, void *data, size_t len);
/* Adds a copy of data. */
int cairn__blobset_add_copy(cairn_blobset *s, const cairn_id *id, const void *data, size_t len);
/* Returns the blob with this id, or NULL. */
const cairn_blob *cairn__blobset_get(const cairn_blobset *s, const cairn_id *id);
/* Frees every blob and empties the set (it stays usable). */
void cairn__blobset_clear(cairn_blobset *s);

#endif /* CAIRN_BLOBSET_H */
