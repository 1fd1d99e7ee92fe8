/* ebr.c - epoch-based reclamation (see ebr.h).
 *
 * Why it is safe. A cache drops a node by unlinking it and then taking
 * R = the global epoch, which it advances to R + 1 (cairn__ebr_retire_epoch);
 * the node is freed only when every reader slot is idle or holds an epoch
 * above R. A reader publishes its epoch in its slot, then issues a
 * sequentially consistent fence, then reads the cache. Either the freeing
 * thread's scan (after its own fence) sees the reader's epoch, which is at
 * most R if the reader could have found the node, or the reader's loads come
 * after the unlink and cannot find it. A reader that read R + 1 or later
 * acquired the advance, which follows the unlink.
 */
#include "ebr.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Threads reading at the same time that get a slot of their own; more than
 * that share one counter, which only delays freeing while they read. */
#define MAX_SLOTS 1024

typedef struct slot {
    alignas(64) _Atomic uint64_t epoch; /* 0: not in a read section */
    _Atomic int used;                   /* owned by a live thread */
} slot;

static slot slots[MAX_SLOTS];
static _Atomic uint32_t slots_high;        /* slots ever handed out: the scan's end */
static _Atomic uint64_t global_epoch = 1;
static _Atomic uint64_t slotless_readers;  /* readers inside a section without a slot */

static _Thread_local slot *my_slot;
static _Thread_local bool slotless; /* this thread could not get a slot: never retry */
static _Thread_local uint32_t depth;
static _Thread_local uint64_t section_epoch; /* the outermost open section's start */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static bool exit_key_ok;

static void release_slot(void *p)
{
    slot *s = p;
    atomic_store(&s->epoch, 0);
    atomic_store(&s->used, 0);
}

/* A forked child has only the forking thread: the other threads' slots
 * would look busy forever and stop all freeing. */
static void after_fork_in_child(void)
{
    uint32_t high = atomic_load(&slots_high);
    for (uint32_t i = 0; i < high; i++)
        if (&slots[i] != my_slot)
            release_slot(&slots[i]);
    atomic_store(&slotless_readers, slotless && depth ? 1 : 0);
}

static void init_once(void)
{
    /* Without a key a thread's slot could not be released when it exits,
     * so threads go slotless instead. */
    exit_key_ok = pthread_key_create(&exit_key, release_slot) == 0;
    (void)pthread_atfork(NULL, NULL, after_fork_in_child);
}

static slot *claim_slot(void)
{
    pthread_once(&once, init_once);
    if (!exit_key_ok)
        return NULL;
    for (uint32_t i = 0; i < MAX_SLOTS; i++) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&slots[i].used, &expected, 1))
            continue;
        if (pthread_setspecific(exit_key, &slots[i]) != 0) {
            atomic_store(&slots[i].used, 0);
            return NULL;
        }
        uint32_t high = atomic_load(&slots_high);
        while (high < i + 1 && !atomic_compare_exchange_weak(&slots_high, &high, i + 1))
            ;
        return &slots[i];
    }
    return NULL;
}

void cairn__ebr_enter(void)
{
    if (depth++ > 0)
        return;
    if (!my_slot && !slotless && !(my_slot = claim_slot()))
        slotless = true;
    section_epoch = atomic_load_explicit(&global_epoch, memory_order_acquire);
    if (my_slot) {
        atomic_store_explicit(&my_slot->epoch, section_epoch, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&slotless_readers, 1, memory_order_relaxed);
    }
    atomic_thread_fence(memory_order_seq_cst);
}

void cairn__ebr_exit(void)
{
    if (--depth > 0)
        return;
    if (my_slot)
        atomic_store_explicit(&my_slot->epoch, 0, memory_order_release);
    else
        atomic_fetch_sub_explicit(&slotless_readers, 1, memory_order_release);
}

uint64_t cairn__ebr_retire_epoch(void)
{
    return atomic_fetch_add(&global_epoch, 1);
}

uint64_t cairn__ebr_safe_epoch(void)
{
    uint64_t safe = atomic_load(&global_epoch);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&slotless_readers, memory_order_acquire))
        return 0;
    uint32_t high = atomic_load(&slots_high);
    for (uint32_t i = 0; i < high; i++) {
        uint64_t e = atomic_load_explicit(&slots[i].epoch, memory_order_acquire);
        if (e && e < safe)
            safe = e;
    }
    return safe;
}

uint64_t cairn__ebr_section_epoch(void)
{
    return section_epoch;
}

/* Why it is safe. Say a node X found in a section S1 that began in epoch
 * E (section_epoch, loaded before S1's fence) was freed before this call,
 * made in a later section S2 after S2's fence. X was found, so it was
 * unlinked after E was loaded, and retired with R >= E: the advance wrote
 * R + 1 > E. The thread that freed X saw, after its own fence, this
 * thread's slot idle or above R. If its fence came first in the single
 * order of fences, the load below (after S2's fence) sees R + 1 or later;
 * if S2's fence came first, it saw S2's slot epoch, which then was above R,
 * and this load is no older than that. Either way the load is not E. A
 * slotless thread's S2 makes the freeing thread free nothing (it sees
 * slotless_readers), so X was freed before S2's fence: the first case. */
bool cairn__ebr_unchanged_since(uint64_t since)
{
    return atomic_load_explicit(&global_epoch, memory_order_acquire) == since;
}

uint32_t cairn__ebr_thread_index(void)
{
    return my_slot ? (uint32_t)(my_slot - slots) : MAX_SLOTS;
}
