/*
 * lmdb_shape.c - how a cairn lmdb store's blobs sit in LMDB's pages.
 *
 *   cc -O2 -o lmdb-shape bench/tools/lmdb_shape.c -llmdb
 *   lmdb-shape DIR
 *
 * Reads DIR/data.mdb read-only (a store with layout=blobs or layout=packed)
 * and prints, per named database, LMDB's page counts (mdb_stat), the free
 * pages, and for the blobs: how many there are, their bytes, how many are
 * stored inline in leaf pages (value <= nodemax - 8 - 32 = 1998 bytes with
 * 4 KiB pages) and how many take 1, 2, 3+ overflow pages. Used for the
 * "LMDB storage shape" section of docs/benchmarks.md.
 */
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void print_db(MDB_txn *txn, const char *name)
{
    MDB_dbi dbi;
    MDB_stat st;

    if (mdb_dbi_open(txn, name, 0, &dbi) || mdb_stat(txn, dbi, &st))
        return;
    printf("%-6s depth %u  branch %zu  leaf %zu  overflow %zu  entries %zu\n", name,
           st.ms_depth, st.ms_branch_pages, st.ms_leaf_pages, st.ms_overflow_pages,
           st.ms_entries);
}

int main(int argc, char **argv)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val key, val;
    MDB_stat st;
    MDB_envinfo info;
    uint64_t n = 0, bytes = 0, inline_n = 0, ov[4] = {0}, free_pages = 0;
    size_t psize, inline_max;
    int packed, rc;

    if (argc != 2) {
        fprintf(stderr, "usage: lmdb-shape DIR\n");
        return 2;
    }
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 4)) ||
        (rc = mdb_env_set_mapsize(env, 1ull << 40)) ||
        (rc = mdb_env_open(env, argv[1], MDB_RDONLY | MDB_NOLOCK, 0644)) ||
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))) {
        fprintf(stderr, "lmdb-shape: %s: %s\n", argv[1], mdb_strerror(rc));
        return 1;
    }
    mdb_env_stat(env, &st);
    mdb_env_info(env, &info);
    psize = st.ms_psize;
    /* LMDB's me_nodemax, minus the node header (8) and a 32-byte key */
    inline_max = (((psize - 16) / 2) & ~(size_t)1) - 2 - 8 - 32;
    packed = mdb_dbi_open(txn, "packs", 0, &dbi) == 0;
    printf("page size %zu, pages used %zu (%.1f MiB), layout %s\n", psize,
           info.me_last_pgno + 1, (double)(info.me_last_pgno + 1) * psize / 1048576,
           packed ? "packed" : "blobs");
    print_db(txn, "blobs");
    print_db(txn, "packs");
    print_db(txn, "where");
    print_db(txn, "refs");
    /* free pages: the free DB (dbi 0) holds txnid -> [count, pgno...] */
    if (mdb_cursor_open(txn, 0, &cur) == 0) {
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
            free_pages += *(size_t *)val.mv_data;
        mdb_cursor_close(cur);
    }
    printf("free pages %llu\n", (unsigned long long)free_pages);
    if (mdb_dbi_open(txn, packed ? "packs" : "blobs", 0, &dbi) == 0 &&
        mdb_cursor_open(txn, dbi, &cur) == 0) {
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
            size_t pages = (val.mv_size + 16 + psize - 1) / psize;
            n++;
            bytes += val.mv_size;
            if (val.mv_size <= inline_max)
                inline_n++;
            else
                ov[pages < 3 ? pages : 3]++;
        }
        mdb_cursor_close(cur);
        printf("%s: %llu records, %llu bytes (mean %.0f); inline (<= %zu B) %llu (%.1f%%), "
               "1 overflow page %llu (%.1f%%), 2 pages %llu (%.1f%%), 3+ pages %llu (%.1f%%)\n",
               packed ? "packs" : "blobs", (unsigned long long)n, (unsigned long long)bytes,
               n ? (double)bytes / n : 0.0, inline_max, (unsigned long long)inline_n,
               n ? 100.0 * inline_n / n : 0.0, (unsigned long long)ov[1],
               n ? 100.0 * ov[1] / n : 0.0, (unsigned long long)ov[2],
               n ? 100.0 * ov[2] / n : 0.0, (unsigned long long)ov[3],
               n ? 100.0 * ov[3] / n : 0.0);
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return 0;
}
