/* blobset.c - see blobset.h. */
#include "alloc.h"
#include "blobset.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "id.h"

static size_t find_slot(const cairn_blobset *s, const cairn_id *id)
{
    size_t mask = s->n_slots - 1, i = cairn__id_hash(id) & mask;
    while (s->slots[i] && !cairn__id_eq(&s->v[s->slots[i] - 1].id, id))
        i = (i + 1) & mask;
    return i;
}

static int grow_slots(cairn_blobset *s)
{
    size_t n = s->n_slots ? s->n_slots * 2 : 64, i;
    size_t *old = s->slots, old_n = s->n_slots;
    if (!(s->slots = cairn__calloc(n, sizeof(*s->slots)))) {
        s->slots = old;
        return CAIRN_NOMEM;
    }
    s->n_slots = n;
    for (i = 0; i < old_n; i++)
        if (old[i])
            s->slots[find_slot(s, &s->v[old[i] - 1].id)] = old[i];
    cairn__free(old);
    return 0;
}

int cairn__blobset_add_owned(cairn_blobset *s, const cairn_id *id, void *data, size_t len)
{
    size_t slot;

    if ((s->n + 1) * 2 > s->n_slots && grow_slots(s))
        goto nomem;
    slot = find_slot(s, id);
    if (s->slots[slot]) {
        cairn__free(data);
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        cairn_blob *v = cairn__realloc(s->v, cap * sizeof(*v));
        if (!v)
            goto nomem;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n] = (cairn_blob){*id, data, len};
    s->slots[slot] = ++s->n;
    s->bytes += len;
    return 0;
nomem:
    cairn__free(data);
    return cairn__fail(CAIRN_NOMEM, "holding %zu new blobs", s->n + 1);
}

int cairn__blobset_add_copy(cairn_blobset *s, const cairn_id *id, const void *data, size_t len)
{
    void *copy;
    if (cairn__blobset_get(s, id))
        return 0;
    if (!(copy = cairn__malloc(len ? len : 1)))
        return cairn__fail(CAIRN_NOMEM, "copying a blob of %zu bytes", len);
    memcpy(copy, data, len);
    return cairn__blobset_add_owned(s, id, copy, len);
}

const cairn_blob *cairn__blobset_get(const cairn_blobset *s, const cairn_id *id)
{
    size_t slot;
    if (!s || !s->n_slots)
        return NULL;
    slot = find_slot(s, id);
    return s->slots[slot] ? &s->v[s->slots[slot] - 1] : NULL;
}

void cairn__blobset_clear(cairn_blobset *s)
{
    size_t i;
    for (i = 0; i < s->n; i++)
        cairn__free((void *)s->v[i].data);
    cairn__free(s->v);
    cairn__free(s->slots);
    memset(s, 0, sizeof(*s));
}
