/*
 * hist.c - log-linear latency histograms (HdrHistogram-like).
 *
 * Values are nanoseconds from CLOCK_MONOTONIC. Below 64 ns every value has
 * its own bucket; above, each power of two [2^e, 2^(e+1)) is split into 64
 * equal sub-buckets, so a bucket is at most 1/64 of its value wide:
 *
 *     index = v                                  if v < 64
 *           = 64 + (e - 6) * 64 + (v >> (e - 6)) - 64   with e = floor(log2 v)
 *
 * 44 groups cover up to 2^49 ns (about six days); longer values land in the
 * last bucket. A quantile is reported as the middle of its bucket, capped
 * at the largest value seen.
 */
#include <string.h>
#include <time.h>

#include "bench.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t bucket_of(uint64_t v)
{
    unsigned e;
    size_t idx;

    if (v < BENCH_HIST_SUB)
        return (size_t)v;
    e = 63u - (unsigned)__builtin_clzll(v);
    idx = BENCH_HIST_SUB + (size_t)(e - 6) * BENCH_HIST_SUB +
          (size_t)((v >> (e - 6)) - BENCH_HIST_SUB);
    return idx < BENCH_HIST_BUCKETS ? idx : BENCH_HIST_BUCKETS - 1;
}

static uint64_t bucket_mid(size_t idx)
{
    size_t group, sub;
    uint64_t width;

    if (idx < BENCH_HIST_SUB)
        return idx;
    group = (idx - BENCH_HIST_SUB) / BENCH_HIST_SUB;
    sub = (idx - BENCH_HIST_SUB) % BENCH_HIST_SUB;
    width = 1ull << group;
    return ((BENCH_HIST_SUB + sub) << group) + width / 2;
}

void bench_hist_add(bench_hist *h, uint64_t ns)
{
    h->b[bucket_of(ns)]++;
    h->count++;
    if (ns > h->max)
        h->max = ns;
}

void bench_hist_merge(bench_hist *into, const bench_hist *from)
{
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t bench_hist_quantile(const bench_hist *h, double q)
{
    uint64_t rank, seen = 0, v;

    if (!h->count)
        return 0;
    rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > rank) {
            v = bucket_mid(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}
