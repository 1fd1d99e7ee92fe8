/*
 * ebr.h - epoch-based reclamation: readers that write nothing shared.
 *
 * The node cache is read far more than it changes. Readers walk it inside a
 * read section; a node the cache drops is not freed at once but retired
 * with the current epoch, and freed only once every thread that was inside
 * a read section at that moment has left it. So a reader may use what it
 * finds in the cache until it leaves its section, without a lock and
 * without touching a reference count: entering and leaving write only the
 * thread's own slot (one cache line per thread).
 *
 * Process-wide: one epoch and one slot per reading thread, shared by every
 * cache. Sections nest. A section must not wait for reclamation (nothing
 * here waits), and should not last long: a thread that stays inside holds
 * back the freeing of everything retired meanwhile.
 */
#ifndef CAIRN_EBR_H
#define CAIRN_EBR_H

#include <stdbool.h>
#include <stdint.h>

/* Enters a read section: what the cache hands out unpinned stays valid
 * until the matching cairn__ebr_exit. */
void cairn__ebr_enter(void);
void cairn__ebr_exit(void);

/* Inside a read section: the epoch the thread's outermost open section
 * began in. */
uint64_t cairn__ebr_section_epoch(void);

/* Inside a read section: whether nothing has been retired since the start
 * of an earlier section of this thread that began in epoch `since` (its
 * cairn__ebr_section_epoch). If so, nothing that section found unpinned
 * has been freed, and it may be used again in this one without a new
 * lookup. Retiring is rare in a warm cache (only an insert evicts), so a
 * reader can keep unpinned pointers between sections and check them with
 * one load of a line no reader writes. */
bool cairn__ebr_unchanged_since(uint64_t since);

/* The epoch to retire an object with, which it is safe to free once
 * cairn__ebr_safe_epoch returns more than it. Call after the object has
 * been made unreachable to new readers. */
uint64_t cairn__ebr_retire_epoch(void);

/* Every object retired with an epoch below the returned one may be freed:
 * no read section that could still see it is open. */
uint64_t cairn__ebr_safe_epoch(void);

/* A small number that tells this thread from others reading at the same
 * time (its slot), for striping counters; valid inside a read section. */
uint32_t cairn__ebr_thread_index(void);

#endif /* CAIRN_EBR_H */
