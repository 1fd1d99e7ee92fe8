/*
 * boundary.c - the commits whose history gc dropped (docs/gc.md, "Dropped
 * history"; docs/format.md, "meta/boundary").
 *
 * meta/boundary names a blob: the msgpack array [1, [id, ...]] with the
 * ids (bin 32) ascending, so that one set has one blob. A commit in it
 * keeps its parent id, but the parent may be gone: walkers of history stop
 * there (cairn_commit_info.history_dropped) instead of failing.
 *
 * The record is kept as every meta/ record is (meta.c). The set is cached
 * in the handle by the id of the blob it was read from;
 * each lookup reads the ref (cheap: a local tier's read, or the S3 head in
 * memory), so a gc in another process is seen at once.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "error.h"
#include "mp.h"
#include "mpbuf.h"

#define BOUNDARY_REF CAIRN_BOUNDARY_REF
#define BOUNDARY_FORMAT 1

static int id_cmp_void(const void *a, const void *b)
{
    return cairn__id_cmp(a, b);
}

static int decode(const cairn_id *blob_id, const uint8_t *data, size_t len, cairn_idset *out)
{
    mp_reader r;
    uint32_t n_top, n;
    uint64_t format;
    char hex[CAIRN_ID_HEX + 1];
    int rc = 0;

    mp_init(&r, data, len);
    if (!mp_array(&r, &n_top) || n_top != 2 || !mp_uint(&r, &format) || format != BOUNDARY_FORMAT ||
        !mp_array(&r, &n))
        goto bad;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p;
        uint32_t l;
        cairn_id id;
        if (!mp_bin(&r, &p, &l) || l != 32)
            goto bad;
        memcpy(id.bytes, p, 32);
        if ((rc = cairn__idset_add(out, &id)))
            return rc;
    }
    if (mp_at_end(&r))
        return 0;
bad:
    cairn_id_to_hex(blob_id, hex);
    return cairn__fail(CAIRN_CORRUPT, "meta/boundary: blob %s is not a boundary list", hex);
}

/* Under db->boundary_mu: brings db->boundary up to the ref. */
static int refresh(cairn_db *db)
{
    cairn_id id;
    cairn_buf buf;
    int rc = cairn__meta_get(db, BOUNDARY_REF, db->has_boundary ? &db->boundary_id : NULL, &id,
                             &buf);

    if (rc == CAIRN_NOTFOUND) {
        cairn__detail_clear();
        cairn__idset_free(&db->boundary);
        db->has_boundary = false;
        return 0;
    }
    if (rc || !buf.data)
        return rc; /* an error, or the set held is current */
    cairn__idset_free(&db->boundary);
    db->has_boundary = false;
    rc = decode(&id, buf.data, buf.len, &db->boundary);
    cairn__free(buf.data);
    if (rc) {
        cairn__idset_free(&db->boundary);
        return rc;
    }
    db->boundary_id = id;
    db->has_boundary = true;
    return 0;
}

int cairn__boundary_has(cairn_db *db, const cairn_id *commit, bool *out)
{
    int rc;
    pthread_mutex_lock(&db->boundary_mu);
    if (!(rc = refresh(db)))
        *out = db->has_boundary && cairn__idset_has(&db->boundary, commit);
    pthread_mutex_unlock(&db->boundary_mu);
    return rc;
}

int cairn__boundary_load(cairn_db *db, cairn_idset *out, bool *exists)
{
    const cairn_id *id;
    int rc;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&db->boundary_mu);
    rc = refresh(db);
    *exists = !rc && db->has_boundary;
    for (size_t pos = 0; !rc && *exists && (id = cairn__idset_next(&db->boundary, &pos));)
        rc = cairn__idset_add(out, id);
    pthread_mutex_unlock(&db->boundary_mu);
    if (rc)
        cairn__idset_free(out);
    return rc;
}

int cairn__boundary_encode(const cairn_idset *set, uint8_t **bytes, size_t *len, cairn_id *id)
{
    cairn_id *ids = cairn__calloc(set->n ? set->n : 1, sizeof(*ids));
    const cairn_id *next;
    mp_buf sb = {0};
    msgpack_packer pk;
    size_t n = 0;
    int bad = 0, rc;

    *bytes = NULL;
    if (!ids)
        return cairn__fail(CAIRN_NOMEM, "out of memory encoding the boundary");
    for (size_t pos = 0; (next = cairn__idset_next(set, &pos));)
        ids[n++] = *next;
    qsort(ids, n, sizeof(*ids), id_cmp_void);
    msgpack_packer_init(&pk, &sb, mp_buf_write);
    bad |= msgpack_pack_array(&pk, 2);
    bad |= msgpack_pack_uint32(&pk, BOUNDARY_FORMAT);
    bad |= msgpack_pack_array(&pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        bad |= msgpack_pack_bin_with_body(&pk, ids[i].bytes, 32);
    cairn__free(ids);
    if (bad || !sb.data) {
        cairn__free(sb.data);
        return cairn__fail(CAIRN_NOMEM, "encoding the boundary");
    }
    if ((rc = cairn__sha256(sb.data, sb.len, id))) {
        cairn__free(sb.data);
        return rc;
    }
    *bytes = sb.data;
    *len = sb.len;
    return 0;
}

int cairn__boundary_store(cairn_db *db, const cairn_idset *set)
{
    cairn_id id;
    uint8_t *bytes;
    size_t len;
    int rc;

    if ((rc = cairn__boundary_encode(set, &bytes, &len, &id)))
        return rc;
    rc = cairn__meta_put(db, BOUNDARY_REF, bytes, len);
    cairn__free(bytes);
    return rc;
}

int cairn__boundary_load_tier(cairn_tier *t, cairn_idset *out, bool *exists)
{
    cairn_id ref, got;
    cairn_buf buf = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    *exists = false;
    if ((rc = cairn__tier_ref_get(t, BOUNDARY_REF, &ref)) == CAIRN_NOTFOUND) {
        cairn__detail_clear();
        return 0;
    }
    if (rc || (rc = cairn__tier_get_many(t, &ref, 1, &buf)))
        return rc;
    if (!buf.data) {
        char hex[CAIRN_ID_HEX + 1];
        cairn_id_to_hex(&ref, hex);
        return cairn__fail(CAIRN_MISSING, "tier '%s': meta/boundary names blob %s, which it "
                           "does not hold", t->spec, hex);
    }
    if (!(rc = cairn__sha256(buf.data, buf.len, &got)) && !cairn__id_eq(&got, &ref))
        rc = cairn__fail(CAIRN_CORRUPT, "tier '%s': meta/boundary's blob does not match its id",
                         t->spec);
    if (!rc && !(rc = decode(&ref, buf.data, buf.len, out)))
        *exists = true;
    cairn__free(buf.data);
    if (rc)
        cairn__idset_free(out);
    return rc;
}

int cairn__boundary_store_tier(cairn_tier *t, const cairn_idset *set)
{
    cairn_id old, id;
    uint8_t *bytes;
    size_t len;
    bool had;
    int rc;

    if ((rc = cairn__boundary_encode(set, &bytes, &len, &id)))
        return rc;
    rc = cairn__tier_ref_get(t, BOUNDARY_REF, &old);
    had = rc == 0;
    if (rc == CAIRN_NOTFOUND) {
        cairn__detail_clear();
        rc = 0;
    }
    if (!rc && !(had && cairn__id_eq(&old, &id))) {
        cairn_blob blob = {id, bytes, len};
        if (!(rc = cairn__tier_put_many(t, &blob, 1)) && !(rc = cairn__tier_sync(t)))
            rc = cairn__tier_ref_cas(t, BOUNDARY_REF, had ? &old : NULL, &id);
    }
    cairn__free(bytes);
    return rc;
}
