/*
 * gen.c - the generated data of cairn-bench: a seeded PRNG, keys, values
 * and the key choosers (uniform, scrambled zipfian, latest).
 *
 * Keys are "user" followed by 16 lowercase hex digits of a bijective 64-bit
 * mix of the key number (a hashed mix, as YCSB's insertorder=hashed), so
 * keys are 20 bytes, fixed width, and consecutive key numbers land far apart
 * in key order: inserts of new keys spread over the whole tree. Sorted order
 * is the order of the mixed ids.
 *
 * Values are value_size bytes of a splitmix64 stream seeded by (seed, key
 * number, version): incompressible, the same for every engine.
 *
 * The zipfian generator is YCSB's (Gray et al., "Quickly generating
 * billion-record synthetic databases"), theta 0.99, with zeta extended
 * incrementally when the key count grows; scrambled zipfian hashes the rank
 * with FNV-1a so popular keys are scattered; latest is n-1 minus a zipfian
 * rank (YCSB's SkewedLatestGenerator).
 */
#include <math.h>
#include <string.h>

#include "bench.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void bench_rng_seed(bench_rng *r, uint64_t seed)
{
    uint64_t x = seed;

    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

/* xoshiro256** */
uint64_t bench_rng_next(bench_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t bench_rng_below(bench_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift; the bias is far below what we can measure. */
    return n ? (uint64_t)(((unsigned __int128)bench_rng_next(r) * n) >> 64) : 0;
}

double bench_rng_double(bench_rng *r)
{
    return (double)(bench_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t bench_key_id(uint64_t i)
{
    uint64_t x = i;

    return splitmix64(&x); /* a bijection of i (odd multipliers, xorshifts) */
}

void bench_key(uint64_t id, char out[BENCH_KEY_LEN])
{
    static const char hex[] = "0123456789abcdef";

    memcpy(out, "user", 4);
    for (int i = 0; i < 16; i++)
        out[4 + i] = hex[(id >> (60 - 4 * i)) & 0xf];
}

void bench_value(uint64_t seed, uint64_t i, uint64_t version, uint8_t *out, size_t len)
{
    uint64_t x = seed ^ (i * 0xd1b54a32d192ed03ull) ^ (version * 0x8cb92ba72f3d8dd7ull);
    size_t off = 0;

    while (off < len) {
        uint64_t w = splitmix64(&x);
        size_t n = len - off < 8 ? len - off : 8;
        memcpy(out + off, &w, n);
        off += n;
    }
}

/* ---------------------------------------------------------------- zipfian */

static double zeta_range(uint64_t from, uint64_t to, double theta)
{
    double sum = 0;

    for (uint64_t i = from; i < to; i++)
        sum += 1.0 / pow((double)(i + 1), theta);
    return sum;
}

static void zipf_update(bench_zipf *z)
{
    z->eta = (1 - pow(2.0 / (double)z->n, 1 - z->theta)) / (1 - z->zeta2 / z->zetan);
}

void bench_zipf_init(bench_zipf *z, uint64_t n, double theta)
{
    memset(z, 0, sizeof(*z));
    z->n = n ? n : 1;
    z->theta = theta;
    z->alpha = 1.0 / (1.0 - theta);
    z->zeta2 = zeta_range(0, 2, theta);
    z->zetan = zeta_range(0, z->n, theta);
    zipf_update(z);
}

uint64_t bench_zipf_next(bench_zipf *z, bench_rng *r, uint64_t n)
{
    double u, uz;
    uint64_t v;

    if (n > z->n) {
        z->zetan += zeta_range(z->n, n, z->theta);
        z->n = n;
        zipf_update(z);
    }
    u = bench_rng_double(r);
    uz = u * z->zetan;
    if (uz < 1.0)
        return 0;
    if (uz < 1.0 + pow(0.5, z->theta))
        return 1;
    v = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1, z->alpha));
    return v < z->n ? v : z->n - 1;
}

static uint64_t fnv1a64(uint64_t v)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

void bench_chooser_init(bench_chooser *c, bench_dist dist, uint64_t n)
{
    c->dist = dist;
    if (dist != DIST_UNIFORM)
        bench_zipf_init(&c->zipf, n, 0.99);
}

uint64_t bench_choose(bench_chooser *c, bench_rng *r, uint64_t n)
{
    switch (c->dist) {
    case DIST_ZIPF:
        return fnv1a64(bench_zipf_next(&c->zipf, r, n)) % n;
    case DIST_LATEST:
        return n - 1 - bench_zipf_next(&c->zipf, r, n);
    case DIST_UNIFORM:
    default:
        return bench_rng_below(r, n);
    }
}
