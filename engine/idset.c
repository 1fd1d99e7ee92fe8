/* idset.c - a set of ids in memory (see idset.h). */
#include "idset.h"

#include <string.h>

#include "alloc.h"
#include "error.h"

static int grow(cairn_idset *s)
{
    cairn_idset g = {0};

    g.slots = s->slots ? s->slots * 2 : 256;
    if (!(g.v = cairn__malloc(g.slots * sizeof(*g.v))) || !(g.used = cairn__calloc(g.slots, 1))) {
        cairn__free(g.v);
        return cairn__fail(CAIRN_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->slots; i++)
        if (s->used[i])
            cairn__idset_add(&g, &s->v[i]);
    cairn__free(s->v);
    cairn__free(s->used);
    *s = g;
    return 0;
}

bool cairn__idset_has(const cairn_idset *s, const cairn_id *id)
{
    if (!s->slots)
        return false;
    for (size_t i = cairn__id_hash(id) & (s->slots - 1); s->used[i]; i = (i + 1) & (s->slots - 1))
        if (cairn__id_eq(&s->v[i], id))
            return true;
    return false;
}

int cairn__idset_add(cairn_idset *s, const cairn_id *id)
{
    size_t i;
    int rc;

    if ((s->n + 1) * 2 > s->slots && (rc = grow(s)))
        return rc;
    for (i = cairn__id_hash(id) & (s->slots - 1); s->used[i]; i = (i + 1) & (s->slots - 1))
        if (cairn__id_eq(&s->v[i], id))
            return 0;
    s->v[i] = *id;
    s->used[i] = true;
    s->n++;
    return 0;
}

const cairn_id *cairn__idset_next(const cairn_idset *s, size_t *pos)
{
    while (*pos < s->slots)
        if (s->used[(*pos)++])
            return &s->v[*pos - 1];
    return NULL;
}

void cairn__idset_free(cairn_idset *s)
{
    cairn__free(s->v);
    cairn__free(s->used);
    memset(s, 0, sizeof(*s));
}
