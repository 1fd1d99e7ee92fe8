/*
 * cmd_pins.c - pins and the retention policy from the command line:
 * "cairn pins", "cairn retention", and --pin on the long read commands
 * (a pin taken on each version read, renewed by a background thread at a
 * third of its lease, deleted when the command ends).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define MAX_HELD 4 /* versions one command reads (diff: two) */

struct cli_pins {
    cairn_db *db;
    uint32_t ttl_s;
    cairn_pin_info held[MAX_HELD];
    size_t n_held;
    pthread_t thread;
    bool running;
    bool stop;
    bool warned;
    pthread_mutex_t mu; /* guards held, stop and warned */
    pthread_cond_t wake;
};

/* ---------------------------------------------------------------- --pin */

/* Renews every pin held at a third of the lease until told to stop. A
 * failed renewal is said once on stderr; the command goes on (its output
 * stays right: it fails at a missing blob, should gc free one). */
static void *renew_loop(void *arg)
{
    struct cli_pins *p = arg;
    struct timespec until;

    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += p->ttl_s / 3 ? p->ttl_s / 3 : 1;
        while (!p->stop && pthread_cond_timedwait(&p->wake, &p->mu, &until) != ETIMEDOUT)
            ;
        for (size_t i = 0; i < p->n_held && !p->stop; i++) {
            int rc = cairn_pin_renew(p->db, &p->held[i], p->ttl_s);
            if (rc && !p->warned) {
                p->warned = true;
                cli_error(rc, "warning: renewing pin %s", p->held[i].name);
            }
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int cli_pin_commit(cli *c, const cairn_id *commit)
{
    struct cli_pins *p = c->pins;
    char hex[CAIRN_ID_HEX + 1];
    int rc;

    if (!(c->seen & OPT_PIN))
        return 0;
    if (!p) {
        if (!(p = calloc(1, sizeof(*p))))
            return cli_say(EXIT_FAILURE_, "out of memory");
        p->db = c->db;
        p->ttl_s = (uint32_t)c->pin_ttl_s;
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->wake, NULL);
        c->pins = p;
    }
    if (p->n_held == MAX_HELD)
        return cli_say(EXIT_FAILURE_, "too many versions to pin");
    cairn_id_to_hex(commit, hex);
    pthread_mutex_lock(&p->mu);
    rc = cairn_pin(c->db, commit, p->ttl_s, &p->held[p->n_held]);
    if (!rc)
        p->n_held++;
    pthread_mutex_unlock(&p->mu);
    if (rc)
        return cli_error(rc, "--pin: pinning %s", hex);
    if (!p->running && pthread_create(&p->thread, NULL, renew_loop, p) == 0)
        p->running = true;
    if (!p->running)
        return cli_say(EXIT_FAILURE_, "--pin: cannot start the thread that renews the pin");
    return 0;
}

void cli_pins_release(cli *c)
{
    struct cli_pins *p = c->pins;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->mu);
    if (p->running)
        pthread_join(p->thread, NULL);
    for (size_t i = 0; i < p->n_held; i++) {
        int rc = cairn_unpin(c->db, p->held[i].name);
        if (rc) /* it expires on its own */
            cli_error(rc, "warning: removing pin %s", p->held[i].name);
    }
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p);
    c->pins = NULL;
}

/* ---------------------------------------------------------------- pins */

/* "2025-01-31T12:00:00Z" for a time in microseconds. */
static const char *utc_text(int64_t us, char buf[32])
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;

    if (!gmtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, 32, "%lld", (long long)(us / 1000000));
    return buf;
}

static int print_pin(void *ctx, const cairn_pin_info *pin)
{
    char hex[CAIRN_ID_HEX + 1], when[32], q[512];
    bool damaged = pin->problem[0] && !pin->holder[0];

    (void)ctx;
    cairn_id_to_hex(&pin->commit, hex);
    printf("%s\t%s\t%s\t%s\t", pin->name, damaged ? "-" : hex,
           damaged ? "-" : utc_text(pin->expires_us, when),
           damaged ? "-" : cli_quote(pin->holder, strlen(pin->holder), q));
    if (pin->problem[0])
        printf("ignored: %s\n", pin->problem);
    else
        printf("%s\n", pin->expired ? "expired" : "in force");
    return 0;
}

/* pins: lists them; pins -d NAME deletes one. */
int cmd_pins(cli *c)
{
    char q[512];
    int rc;

    if (c->delete_ != (c->n_args == 1))
        return cli_usage("pins: -d takes a pin's name, and a name needs -d (usage: cairn pins "
                         "| cairn pins -d NAME)");
    if (c->delete_) {
        const char *name = c->args[0];
        if ((rc = cairn_unpin(c->db, name)))
            return cli_error(rc, "deleting pin '%s'", cli_quote(name, strlen(name), q));
        printf("deleted pin %s\n", name);
        return cli_flush_stdout();
    }
    if ((rc = cairn_pin_list(c->db, print_pin, NULL)))
        return cli_error(rc, "listing pins");
    return cli_flush_stdout();
}

/* ---------------------------------------------------------------- retention */

static void print_rule(const char *name, bool set, uint64_t v, bool seconds, const char *unset)
{
    if (!set)
        printf("%s: unset (%s)\n", name, unset);
    else if (!seconds)
        printf("%s: %" PRIu64 "%s\n", name, v, v ? "" : " (off)");
    else
        printf("%s: %" PRIu64 " s%s\n", name, v, v ? "" : " (none)");
}

/* retention: shows the policy, or changes the rules given and shows the
 * result. */
int cmd_retention(cli *c)
{
    cairn_retention r;
    int rc;

    if ((rc = cairn_retention_get(c->db, &r)))
        return cli_error(rc, "reading the retention policy");
    if (c->seen & (OPT_KEEP_LAST | OPT_KEEP_NEWER | OPT_GRACE | OPT_CLEAR)) {
        if (c->seen & OPT_CLEAR)
            memset(&r, 0, sizeof(r));
        if (c->seen & OPT_KEEP_LAST) {
            r.has_keep_last = c->keep_last != 0; /* off: unset */
            r.keep_last = c->keep_last;
        }
        if (c->seen & OPT_KEEP_NEWER) {
            r.has_keep_newer = c->keep_newer_s != 0;
            r.keep_newer_s = c->keep_newer_s;
        }
        if (c->seen & OPT_GRACE) {
            r.has_grace = true;
            r.grace_s = c->grace_s;
        }
        if ((rc = cairn_retention_set(c->db, &r)))
            return cli_error(rc, "setting the retention policy");
    }
    print_rule("keep-last", r.has_keep_last, r.keep_last, false, "off: all history");
    print_rule("keep-newer", r.has_keep_newer, r.keep_newer_s, true, "off");
    print_rule("grace", r.has_grace, r.grace_s, true, "gc uses 3600 s");
    return cli_flush_stdout();
}
