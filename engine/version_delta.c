/* version_delta.c - the blobs one version needs beyond another (see
 * engine.h): followers catching up and copies send them, gc marks them. */
#include <string.h>

#include "diff.h"
#include "engine.h"
#include "error.h"

int cairn__version_delta(const cairn_index *ix, const cairn_id *base, const cairn_id *catalog,
                         cairn_delta_fn fn, void *ctx)
{
    cairn_tree_diff d;
    cairn_diff_entry e;
    cairn_id empty;
    int rc;

    cairn__empty_root_id(&empty);
    if ((rc = cairn__tree_delta(ix, base, catalog, fn, ctx)))
        return rc;
    if ((rc = cairn__tree_diff_open(&d, ix, base, catalog)))
        return rc;
    while ((rc = cairn__tree_diff_next(&d, &e)) == 0) {
        cairn_id from = empty, to;
        if (e.change == CAIRN_REMOVED)
            continue;
        if (e.new_val.len != 32 || (e.change == CAIRN_CHANGED && e.old_val.len != 32)) {
            rc = cairn__fail(CAIRN_CORRUPT, "catalog entry without a 32-byte root");
            break;
        }
        memcpy(to.bytes, e.new_val.data, 32);
        if (e.change == CAIRN_CHANGED)
            memcpy(from.bytes, e.old_val.data, 32);
        if ((rc = cairn__tree_delta(ix, &from, &to, fn, ctx)))
            break;
    }
    cairn__tree_diff_close(&d);
    return rc == CAIRN_NOTFOUND ? 0 : rc;
}

