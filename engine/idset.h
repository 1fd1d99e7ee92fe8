/*
 * idset.h - a set of ids in memory (open addressing), for sets that stay
 * small: commits walked, not nodes (gc keeps those on disk: idsort.h).
 */
#ifndef CAIRN_IDSET_H
#define CAIRN_IDSET_H

#include <stdbool.h>
#include <stddef.h>

#include "id.h"

typedef struct cairn_idset {
    cairn_id *v;
    bool *used;
    size_t n, slots;
} cairn_idset;

/* Adds id (present already: nothing). Errors: CAIRN_NOMEM. */
int cairn__idset_add(cairn_idset *s, const cairn_id *id);
bool cairn__idset_has(const cairn_idset *s, const cairn_id *id);
/* The next id of s from *pos on (start with *pos = 0), in no particular
 * order, or NULL after the last: for (pos = 0; (id = next(s, &pos));). */
const cairn_id *cairn__idset_next(const cairn_idset *s, size_t *pos);
/* Frees the set; it is empty and usable again after. */
void cairn__idset_free(cairn_idset *s);

#endif /* CAIRN_IDSET_H */
