/*
 * meta.c - the store's records named by meta/ refs (docs/format.md): a
 * ref meta/NAME naming a blob that holds the record. Settings
 * (meta/config, db.c), the boundary of dropped history (meta/boundary,
 * boundary.c) and the retention policy (meta/retention, retention.c) are
 * stored this way, so that they travel with the store as any ref and blob
 * do: followers and copies take them, gc keeps their blobs (gc_mark.c
 * marks every meta/ ref's blob).
 */
#include "engine.h"
#include "error.h"

int cairn__meta_get(cairn_db *db, const char *name, const cairn_id *known, cairn_id *id,
                    cairn_buf *bytes)
{
    int rc;

    bytes->data = NULL;
    bytes->len = 0;
    if ((rc = cairn__stack_ref_get(db->stack, name, id)))
        return rc;
    if (known && cairn__id_eq(known, id))
        return 0;
    return cairn__stack_get(db->stack, id, bytes);
}

int cairn__meta_put(cairn_db *db, const char *name, const void *bytes, size_t len)
{
    cairn_id old, id;
    bool had;
    int rc;

    if (bytes && (rc = cairn__sha256(bytes, len, &id)))
        return rc;
    rc = cairn__stack_ref_get(db->stack, name, &old);
    if (rc && rc != CAIRN_NOTFOUND)
        return rc;
    had = rc == 0;
    cairn__detail_clear();
    if (!bytes)
        return had ? cairn__stack_ref_cas(db->stack, name, &old, NULL) : 0;
    if (had && cairn__id_eq(&old, &id))
        return 0; /* the same record: nothing moves */
    cairn_blob blob = {id, bytes, len};
    return cairn__stack_publish(db->stack, &blob, 1, name, had ? &old : NULL, &id);
}
