/*
 * lmdb_pins.c - pins of the LMDB tier (tier.h): a named database of their
 * own in the store's environment,
 *
 *     pins    key: pin name (no NUL)   value: the pin record's bytes
 *
 * created by the first pin written (so that stores without pins keep the
 * databases they had). Each put and delete is one write transaction of
 * its own, which a handle opened read-only may run too when this process
 * may write the store's files (lmdb_open.c opens its environment writable
 * then): pins take no writer lock (cairn.lock), only LMDB's own, held for
 * the few microseconds of the transaction.
 */
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "lmdb_int.h"

struct pin_op {
    const char *name;
    const void *bytes; /* NULL: delete */
    size_t len;
};

/* Opens (creating it in txn if create) the pins database once per env.
 * Returns 0, MDB_NOTFOUND (absent, not created), or an MDB code. An open
 * made in a write transaction becomes the env's only when it commits, so
 * pins_open is set by the caller after the commit. */
static int open_pins(lmdb_tier *t, MDB_txn *txn, bool create, MDB_dbi *dbi)
{
    lmdb_env *e = t->shared;
    int rc = 0;

    pthread_mutex_lock(&e->pins_mu);
    if (e->pins_open)
        *dbi = e->pins;
    else
        rc = mdb_dbi_open(txn, "pins", create ? MDB_CREATE : 0, dbi);
    pthread_mutex_unlock(&e->pins_mu);
    return rc;
}

static void opened_pins(lmdb_tier *t, MDB_dbi dbi)
{
    lmdb_env *e = t->shared;

    pthread_mutex_lock(&e->pins_mu);
    if (!e->pins_open) {
        e->pins = dbi;
        e->pins_open = true;
    }
    pthread_mutex_unlock(&e->pins_mu);
}

struct pin_txn {
    const struct pin_op *op;
    MDB_dbi dbi;
    bool have_dbi; /* dbi is open (it becomes the env's at the commit) */
};

static int pin_write(lmdb_tier *t, MDB_txn *txn, void *ctx)
{
    struct pin_txn *pt = ctx;
    const struct pin_op *op = pt->op;
    MDB_val key = {strlen(op->name), (void *)op->name}, val = {op->len, (void *)op->bytes};
    int rc;

    pt->have_dbi = false;
    if ((rc = open_pins(t, txn, op->bytes != NULL, &pt->dbi)))
        return rc == MDB_NOTFOUND && !op->bytes ? 0 : rc; /* no pins at all: nothing to delete */
    pt->have_dbi = true;
    if (op->bytes)
        return mdb_put(txn, pt->dbi, &key, &val, 0);
    rc = mdb_del(txn, pt->dbi, &key, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int run(cairn_tier *base, const struct pin_op *op, const char *what)
{
    lmdb_tier *t = (lmdb_tier *)base;
    struct pin_txn pt = {op, 0, false};
    int rc = cairn__lmdb_write(t, what, true, pin_write, &pt);

    if (rc == 0 && pt.have_dbi)
        opened_pins(t, pt.dbi);
    if (rc)
        cairn__fail_context(rc, "pin '%s'", op->name);
    return rc;
}

int cairn__lmdb_pin_put(cairn_tier *base, const char *name, const void *bytes, size_t len)
{
    struct pin_op op = {name, bytes, len};
    return run(base, &op, "writing a pin");
}

int cairn__lmdb_pin_delete(cairn_tier *base, const char *name)
{
    struct pin_op op = {name, NULL, 0};
    return run(base, &op, "deleting a pin");
}

/* Opens the pins database for reading if another process made it since
 * this env opened. The open happens in a read transaction that is
 * committed, which keeps the handle in the env (an aborted one would close
 * it). Returns 0, MDB_NOTFOUND (no pins yet) or an MDB code. */
static int ensure_open(lmdb_tier *t)
{
    lmdb_env *e = t->shared;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc;

    if (e->pins_open)
        return 0;
    if ((rc = cairn__lmdb_read_begin(t, &txn)))
        return rc;
    pthread_mutex_lock(&e->pins_mu);
    if (e->pins_open) {
        mdb_txn_abort(txn);
    } else if ((rc = mdb_dbi_open(txn, "pins", 0, &dbi))) {
        mdb_txn_abort(txn);
    } else if ((rc = mdb_txn_commit(txn)) == 0) { /* frees txn whatever happens */
        e->pins = dbi;
        e->pins_open = true;
    }
    pthread_mutex_unlock(&e->pins_mu);
    pthread_rwlock_unlock(&e->resize_lock); /* cairn__lmdb_read_begin took it */
    return rc;
}

/* Copies every record out in one read transaction, then calls fn with none
 * open (fn may call back into the tier). A key that is not a pin name is
 * skipped; a record too large is passed with bytes NULL. */
int cairn__lmdb_pin_list(cairn_tier *base, cairn_pin_fn fn, void *ctx)
{
    lmdb_tier *t = (lmdb_tier *)base;
    cairn_pin_records recs = {0};
    cairn_pin_record *rec;
    MDB_cursor *cur;
    MDB_txn *txn;
    MDB_val key, val;
    MDB_dbi dbi;
    int rc;

    if ((rc = ensure_open(t)))
        return rc == MDB_NOTFOUND ? 0 : cairn__lmdb_err(t, rc, "listing pins");
    dbi = t->shared->pins;
    if ((rc = cairn__lmdb_read_begin(t, &txn)))
        return rc;
    if (rc == 0 && (rc = mdb_cursor_open(txn, dbi, &cur)) == 0) {
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
            char name[CAIRN_PIN_NAME_MAX + 1];
            if (key.mv_size > CAIRN_PIN_NAME_MAX)
                continue;
            memcpy(name, key.mv_data, key.mv_size);
            name[key.mv_size] = '\0';
            if (!cairn__pin_name_ok(name) || strlen(name) != key.mv_size)
                continue;
            bool whole = val.mv_size && val.mv_size <= CAIRN_PIN_RECORD_MAX;
            if (!(rec = cairn__pin_records_add(&recs, name)) ||
                (whole && !(rec->bytes = cairn__memdup(val.mv_data, val.mv_size)))) {
                rc = cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory listing pins", t->path);
                break;
            }
            rec->len = val.mv_size;
        }
        mdb_cursor_close(cur);
    }
    cairn__lmdb_read_end(t, txn);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    return cairn__pin_records_emit(&recs, cairn__lmdb_err(t, rc, "listing pins"), fn, ctx);
}
