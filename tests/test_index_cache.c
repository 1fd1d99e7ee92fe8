/*
 * test_index_cache.c - the node cache and its reclamation under threads,
 * evictions and forks.
 *
 * - Four threads look nodes up inside read sections, without pins, while
 *   they and the others insert into a cache so small that nearly every
 *   insert evicts. Every node found must be the one asked for, whole: a node
 *   freed while a reader could still see it shows up as a wrong key here,
 *   as a use after free under ASan, or as a race under TSan. Some threads
 *   also hold pinned nodes across many evictions and check them later.
 * - Reclamation: a thread inside a read section holds back the epoch below
 *   which retired nodes may be freed, and only until it leaves; a forked
 *   child, which has none of its parent's other threads, is not held back.
 * - The hit and miss counters add up to the lookups made.
 */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "ebr.h"
#include "id.h"
#include "node.h"

#define N_NODES 3000
#define THREADS 4

static struct {
    cairn_id id;
    uint8_t *bytes;
    size_t len;
    char key[16];
} nodes[N_NODES];

static cairn_cache *cache;
static long iterations;
static _Atomic uint64_t lookups;

/* Node i: a leaf holding key "k<i>" and a value of 0..300 bytes. */
static void make_nodes(void)
{
    uint8_t val[300];
    for (int i = 0; i < N_NODES; i++) {
        size_t vlen = test_rand_below(sizeof(val) + 1);
        for (size_t j = 0; j < vlen; j++)
            val[j] = (uint8_t)test_rand();
        snprintf(nodes[i].key, sizeof(nodes[i].key), "k%05d", i);
        cairn_item it = {.key = (const uint8_t *)nodes[i].key,
                         .key_len = (uint32_t)strlen(nodes[i].key), .val = val,
                         .val_len = (uint32_t)vlen};
        ASSERT_OK(cairn__node_encode(0, &it, 1, &nodes[i].bytes, &nodes[i].len));
        cairn__sha256(nodes[i].bytes, nodes[i].len, &nodes[i].id);
    }
}

static void check_node(const cairn_node *nd, int i)
{
    if (!cairn__id_eq(&nd->id, &nodes[i].id) || nd->n != 1 || nd->size != nodes[i].len ||
        memcmp(nd->bytes, nodes[i].bytes, nodes[i].len) != 0 ||
        nd->e[0].key_len != strlen(nodes[i].key) ||
        memcmp(cairn__node_key(nd, 0), nodes[i].key, nd->e[0].key_len) != 0)
        TEST_FAIL("node %d: the cache handed out another node or a damaged one", i);
}

/* A thread-local PRNG (test_rand is not thread-safe). */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *reader(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 7919 + test_seed;
    cairn_node *held[4] = {0};
    int held_i[4] = {0};

    for (long it = 0; it < iterations; it++) {
        int i = (int)(next(&rng) % N_NODES);
        cairn_node *nd;

        cairn__ebr_enter();
        if ((nd = cairn__cache_lookup(cache, &nodes[i].id)))
            check_node(nd, i);
        cairn__ebr_exit();
        atomic_fetch_add(&lookups, 1);
        if (!nd) {
            ASSERT_OK(cairn__node_decode(&nodes[i].id, nodes[i].bytes, nodes[i].len, &nd));
            nd = cairn__cache_put(cache, nd);
            check_node(nd, i);
            cairn__node_release(nd);
        }
        if (next(&rng) % 64 == 0) { /* hold a pinned node across many evictions */
            int slot = (int)(next(&rng) % 4);
            if (held[slot]) {
                check_node(held[slot], held_i[slot]);
                cairn__node_release(held[slot]);
            }
            held[slot] = cairn__cache_get(cache, &nodes[i].id);
            held_i[slot] = i;
            atomic_fetch_add(&lookups, 1);
        }
    }
    for (int s = 0; s < 4; s++) {
        if (held[s]) {
            check_node(held[s], held_i[s]);
            cairn__node_release(held[s]);
        }
    }
    return NULL;
}

static void threads_and_evictions(void)
{
    pthread_t t[THREADS];
    cairn_cache_stats st;

    /* about 10 nodes per shard: nearly every insert evicts */
    ASSERT_OK(cairn__cache_open(64 << 10, &cache));
    for (uintptr_t i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, reader, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_join(t[i], NULL), 0);
    cairn__cache_stats(cache, &st);
    ASSERT_EQ(st.hits + st.misses, atomic_load(&lookups));
    ASSERT_TRUE(st.bytes <= 64 << 10);
    ASSERT_TRUE(st.misses > st.hits); /* the cache is far smaller than the nodes */
    printf("%d threads x %ld lookups: %llu hits, %llu misses, %llu nodes cached\n", THREADS,
           iterations, (unsigned long long)st.hits, (unsigned long long)st.misses,
           (unsigned long long)st.nodes);
    cairn__cache_close(cache);

    /* a cache that holds everything: after one pass, lookups only hit */
    ASSERT_OK(cairn__cache_open(64 << 20, &cache));
    atomic_store(&lookups, 0);
    for (uintptr_t i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, reader, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_join(t[i], NULL), 0);
    cairn__cache_stats(cache, &st);
    ASSERT_EQ(st.hits + st.misses, atomic_load(&lookups));
    ASSERT_TRUE(st.misses >= N_NODES / 2 && st.nodes <= N_NODES);
    cairn__cache_close(cache);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage;

static void set_stage(int s)
{
    pthread_mutex_lock(&mu);
    stage = s;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_stage(int s)
{
    pthread_mutex_lock(&mu);
    while (stage < s)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void *long_reader(void *arg)
{
    (void)arg;
    cairn__ebr_enter();
    cairn__ebr_enter(); /* sections nest */
    cairn__ebr_exit();
    set_stage(1);
    wait_stage(2);
    cairn__ebr_exit();
    return NULL;
}

static void reclamation_waits_for_readers(void)
{
    pthread_t t;
    uint64_t retired;
    int status;
    pid_t pid;

    ASSERT_EQ(pthread_create(&t, NULL, long_reader, NULL), 0);
    wait_stage(1);
    retired = cairn__ebr_retire_epoch();
    if (cairn__ebr_safe_epoch() > retired)
        TEST_FAIL("a node retired while a reader was inside a section may be freed");

    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) /* the reading thread is not in the child */
        _exit(cairn__ebr_safe_epoch() > retired ? 0 : 1);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        TEST_FAIL("a forked child is held back by a thread it does not have");

    set_stage(2);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    if (cairn__ebr_safe_epoch() <= retired)
        TEST_FAIL("the reader left its section, yet the retired node may not be freed");
    printf("reclamation waits for readers, and only for readers that exist\n");
}

int main(void)
{
    const char *scale_env = getenv("CAIRN_TEST_SCALE");
    double scale = scale_env ? atof(scale_env) : 1.0;

    test_seed_init(11);
    iterations = (long)(200000 * scale) + 1000;
    make_nodes();
    threads_and_evictions();
    reclamation_waits_for_readers();
    for (int i = 0; i < N_NODES; i++)
        free(nodes[i].bytes);
    printf("ok\n");
    return 0;
}
