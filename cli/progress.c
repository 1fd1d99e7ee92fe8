/*
 * progress.c - the "\r"-rewritten progress line of import and export.
 * Shown only when stderr is a terminal, redrawn at most ten times a second:
 *
 *     importing: 1250000 records, 96.4 MB, 412000 records/s, 38%
 */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

#define REDRAW_NS 100000000LL /* a tenth of a second */

static long long elapsed_ns(const struct timespec *from, const struct timespec *to)
{
    return (long long)(to->tv_sec - from->tv_sec) * 1000000000LL +
           (to->tv_nsec - from->tv_nsec);
}

void progress_init(progress *p, const char *verb)
{
    p->on = isatty(STDERR_FILENO) == 1;
    p->shown = false;
    p->verb = verb;
    p->unit = "records";
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    p->last = p->start;
}

void progress_update(void *ctx, uint64_t records, uint64_t bytes, uint64_t total_bytes)
{
    progress *p = ctx;
    struct timespec now;
    double seconds;

    if (!p->on)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (elapsed_ns(&p->last, &now) < REDRAW_NS)
        return;
    p->last = now;
    seconds = (double)elapsed_ns(&p->start, &now) / 1e9;
    fprintf(stderr, "\r%s: %llu %s, %.1f MB, %.0f %s/s", p->verb, (unsigned long long)records,
            p->unit, (double)bytes / 1e6, seconds > 0 ? (double)records / seconds : 0.0, p->unit);
    if (total_bytes)
        fprintf(stderr, ", %.0f%%", 100.0 * (double)bytes / (double)total_bytes);
    /* Erase what a longer previous line left. */
    fputs("\033[K", stderr);
    fflush(stderr);
    p->shown = true;
}

void progress_phase(void *ctx, const char *phase, uint64_t blobs, uint64_t bytes)
{
    progress *p = ctx;

    p->verb = phase;
    p->unit = "blobs";
    progress_update(p, blobs, bytes, 0);
}

void progress_done(progress *p)
{
    if (p->on && p->shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->shown = false;
}
