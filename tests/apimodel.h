/*
 * apimodel.h - the model-based test of the public API, for any stack spec
 * (test_engine_model runs it on mem, lmdb, file and stacks of them;
 * test_engine_redis on the Redis tier).
 */
#ifndef CAIRN_APIMODEL_H
#define CAIRN_APIMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

/* n_ops random operations on the store spec names (created with
 * node_size): puts (values of 0..3000 bytes, so some go out of line),
 * deletes (absent keys a third of the time; phases that drain the
 * keyspaces), reads inside the transaction, commits, aborts, point reads,
 * forward and reverse range scans with seeks, range counts, diffs between
 * commits and reopening the store (unless it is "mem" alone), over two
 * keyspaces and key_space distinct keys. Each committed version is
 * remembered with a copy of the model and re-read later (time travel);
 * after every commit each keyspace root is compared with a fresh build of
 * the model's contents in a mem store (history independence); the end
 * runs cairn_verify. Fails the test on any difference. */
void apimodel_run(const char *spec, uint32_t node_size, int n_ops, unsigned key_space);

/* Builds the same final contents (n keys over keyspaces "", "other" and
 * an emptied "junk") in the store spec names, in one of four histories
 * (how 0..3: one commit; reverse order in batches of 97; a stride in
 * batches of 13; with junk put and deleted later), node size 512, and
 * returns the catalog root. Every history gives the same root. */
void apimodel_build_history(const char *spec, int how, size_t n, cairn_id *root);

#endif /* CAIRN_APIMODEL_H */
