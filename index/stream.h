/*
 * stream.h - a long scan's read-ahead in the background.
 *
 * A cursor reads a scan's leaves ahead in windows (cursor.c), each one
 * batched stack read that the scan waits for. On a tier far away (S3: tens
 * of milliseconds a round trip) a long scan then waits a round trip per
 * window however fast it consumes. A stream keeps several windows in
 * flight instead: worker threads take the next few parents of leaves
 * (level-1 nodes) in the scan's order from a cursor of their own walking
 * level 2, read those parents, then their leaves, into the node cache, and
 * stay at most `lead` parents ahead of the scan so that what they read is
 * not evicted before the scan gets to it.
 *
 * Positions are counted in parents from the one the scan stood in when the
 * stream started (number 0). The scan reports each parent it enters, and
 * asks the stream when it misses a node: it then waits for the worker
 * reading it, or reads the next unit itself when the workers are behind.
 *
 * Advisory, like all read-ahead: a worker's failed read is dropped (the
 * scan's own read of the node reports it), and a stream that cannot start
 * leaves the scan to its own windows.
 */
#ifndef CAIRN_STREAM_H
#define CAIRN_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tree.h"

typedef struct cairn_stream cairn_stream;

/* Starts reading ahead of a scan in direction dir (+1 or -1) over the tree
 * root (at least 3 levels), from the parent of leaves whose level-2 entry
 * has key `key` (the one the scan stands in: number 0), leaving the first
 * `skip` parents to the scan's own window. Workers read `unit` parents and
 * their leaves a batch and stay at most `lead` parents ahead of the scan.
 * Errors: CAIRN_BUSY when STREAMS_MAX streams run in the process already,
 * CAIRN_NOMEM, or no thread could start (nothing runs). */
int cairn__stream_start(const cairn_index *ix, const cairn_id *root, const void *key,
                        size_t key_len, int dir, uint32_t skip, uint32_t unit, uint32_t lead,
                        cairn_stream **out);

/* The scan entered the next parent of leaves. Cheap: one atomic add, and a
 * wake-up only when a worker waits for the scan. */
void cairn__stream_entered(cairn_stream *s);

/* The scan is about to read a node the cache does not hold: the next
 * parent (parent true) or a leaf of the one it stands in. Waits for the
 * worker reading it, if one is; or, when the workers have not got that
 * far, reads the unit from there on itself (handed out like a worker's, so
 * no one reads it twice). Then the scan fetches the node as usual (found
 * in the cache, unless a read failed or it was evicted). */
void cairn__stream_missed(cairn_stream *s, bool parent);

/* Stops the workers (a read in flight is finished first) and frees the
 * stream. NULL is ignored. */
void cairn__stream_stop(cairn_stream *s);

/* Streams started in this process (tests: a long cold scan starts one). */
uint64_t cairn__streams_started(void);

#endif /* CAIRN_STREAM_H */
