/*
 * info.c - what `cairn serve` says about itself: INFO's sections, and the
 * same numbers as Prometheus text over HTTP (--metrics HOST:PORT, a
 * thread of its own answering GET /metrics, one request per connection).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"

/* A growable text. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (t->s && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *grown = realloc(t->s, cap);
        if (!grown)
            return;
        t->s = grown;
        t->cap = cap;
    }
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The latency quantile p (0..1) of the command histogram, in
 * microseconds (a bucket's upper bound). */
static uint64_t latency_quantile(const serve_stats *st, double p)
{
    uint64_t total = 0, seen = 0;
    for (int i = 0; i < SERVE_LATENCY_BUCKETS; i++)
        total += atomic_load(&st->latency_us[i]);
    if (!total)
        return 0;
    for (int i = 0; i < SERVE_LATENCY_BUCKETS; i++) {
        seen += atomic_load(&st->latency_us[i]);
        if ((double)seen >= p * (double)total)
            return (uint64_t)1 << i;
    }
    return (uint64_t)1 << (SERVE_LATENCY_BUCKETS - 1);
}

static bool want(const char *section, size_t len, const char *name, bool by_default)
{
    if (!section)
        return by_default;
    if ((len == 3 && !strncasecmp(section, "all", 3)) ||
        (len == 8 && !strncasecmp(section, "everything", 8)))
        return true;
    if (len == 7 && !strncasecmp(section, "default", 7))
        return by_default;
    return strlen(name) == len && !strncasecmp(section, name, len);
}

static void info_text(serve_worker *w, const char *section, size_t len, text *t)
{
    serve_server *srv = w->srv;
    serve_stats *st = &srv->stats;
    int64_t up_s = (serve_now_us() - st->started_us) / 1000000;
    if (want(section, len, "server", true))
        add(t, "# Server\r\nredis_version:7.0.0\r\ncairn_version:%s\r\nredis_mode:standalone\r\n"
            "os:Linux\r\nprocess_id:%ld\r\nrun_id:%s\r\ntcp_port:%d\r\nuptime_in_seconds:%" PRId64
            "\r\nexecutable:cairn\r\n\r\n",
            cairn_version(), (long)getpid(), srv->run_id, srv->port, up_s);
    if (want(section, len, "clients", true))
        add(t, "# Clients\r\nconnected_clients:%" PRIu64 "\r\nmaxclients:%u\r\n\r\n",
            atomic_load(&st->clients), srv->cfg.maxclients);
    if (want(section, len, "memory", true))
        add(t, "# Memory\r\nused_memory_rss:%" PRIu64 "\r\n\r\n", rss_bytes());
    if (want(section, len, "stats", true))
        add(t, "# Stats\r\ntotal_connections_received:%" PRIu64
            "\r\ntotal_commands_processed:%" PRIu64 "\r\nrejected_connections:%" PRIu64
            "\r\ntotal_net_input_bytes:%" PRIu64 "\r\ntotal_net_output_bytes:%" PRIu64
            "\r\nkeyspace_hits:%" PRIu64 "\r\nkeyspace_misses:%" PRIu64
            "\r\ntotal_error_replies:%" PRIu64 "\r\nunknown_commands:%" PRIu64
            "\r\nreadonly_errors:%" PRIu64 "\r\nprotocol_errors:%" PRIu64
            "\r\nlatency_p50_usec:%" PRIu64 "\r\nlatency_p99_usec:%" PRIu64 "\r\n\r\n",
            atomic_load(&st->connections_received), atomic_load(&st->commands),
            atomic_load(&st->rejected_connections), atomic_load(&st->bytes_in),
            atomic_load(&st->bytes_out), atomic_load(&st->keyspace_hits),
            atomic_load(&st->keyspace_misses), atomic_load(&st->errors),
            atomic_load(&st->unknown_commands), atomic_load(&st->readonly_errors),
            atomic_load(&st->protocol_errors), latency_quantile(st, 0.5),
            latency_quantile(st, 0.99));
    if (want(section, len, "replication", true))
        add(t, "# Replication\r\nrole:slave\r\nmaster_host:cairn\r\nmaster_link_status:up\r\n"
            "slave_read_only:1\r\n\r\n");
    if (want(section, len, "keyspace", true) && w->view.snap) {
        add(t, "# Keyspace\r\n");
        for (size_t i = 0; i < w->n_spaces; i++) {
            uint64_t n = 0;
            if (cairn_dbsize(w->view.snap, w->spaces[i], &n) == 0 && n) /* strings and hashes */
                add(t, "db%zu:keys=%" PRIu64 ",expires=0,avg_ttl=0\r\n", i, n);
        }
        add(t, "\r\n");
    }
    if (want(section, len, "cairn", true)) {
        cairn_id commit;
        char hex[CAIRN_ID_HEX + 1] = "", root[CAIRN_ID_HEX + 1] = "";
        serve_version_get(&srv->version, &commit);
        cairn_id_to_hex(&commit, hex);
        cairn_stats cs;
        memset(&cs, 0, sizeof(cs));
        cairn_stats_get(srv->db, NULL, &cs); /* counters only: no walk */
        cairn_id r;
        if (w->view.snap && cairn_snapshot_root(w->view.snap, "", &r) == 0)
            cairn_id_to_hex(&r, root);
        add(t, "# Cairn\r\nstore:%s\r\nref:%s\r\nfollow_seconds:%u\r\ncommit:%s\r\nroot:%s\r\n"
            "version_switches:%" PRIu64 "\r\nnode_cache_hits:%" PRIu64
            "\r\nnode_cache_misses:%" PRIu64 "\r\nnode_cache_bytes:%" PRIu64 "\r\n",
            srv->cfg.spec ? srv->cfg.spec : "", srv->version.ref ? srv->version.ref : "(fixed)",
            srv->version.follow_s, hex, root, atomic_load(&srv->version.switches),
            cs.cache_hits, cs.cache_misses, cs.cache_bytes);
        /* One field a line: a spec may hold '=' and ',', which clients
         * (redis-py's parse_info) read as the parts of a composite value. */
        for (unsigned i = 0; i < cs.n_tiers; i++)
            add(t, "tier%u_spec:%s\r\ntier%u_gets:%" PRIu64 "\r\ntier%u_hits:%" PRIu64
                "\r\ntier%u_misses:%" PRIu64 "\r\n", i, cs.tiers[i].spec, i, cs.tiers[i].gets,
                i, cs.tiers[i].hits, i, cs.tiers[i].misses);
        add(t, "\r\n");
    }
}

void serve_info(serve_worker *w, serve_conn *conn, const char *section, size_t len)
{
    text t = {0};
    info_text(w, section, len, &t);
    if (!t.s)
        resp_out_bulk(&conn->out, "", 0);
    else
        resp_out_verbatim(&conn->out, "txt", t.s, t.len);
    free(t.s);
}

/* ---------------------------------------------------------------- metrics */

static int metrics_fd = -1;
static pthread_t metrics_thread;
static bool metrics_running;

static void metrics_text(serve_server *srv, text *t)
{
    serve_stats *st = &srv->stats;
    add(t, "# TYPE cairn_serve_commands_total counter\ncairn_serve_commands_total %" PRIu64 "\n",
        atomic_load(&st->commands));
    add(t, "# TYPE cairn_serve_errors_total counter\ncairn_serve_errors_total %" PRIu64 "\n",
        atomic_load(&st->errors));
    add(t, "# TYPE cairn_serve_clients gauge\ncairn_serve_clients %" PRIu64 "\n",
        atomic_load(&st->clients));
    add(t, "# TYPE cairn_serve_connections_total counter\ncairn_serve_connections_total %" PRIu64
        "\n", atomic_load(&st->connections_received));
    add(t, "# TYPE cairn_serve_bytes_in_total counter\ncairn_serve_bytes_in_total %" PRIu64 "\n",
        atomic_load(&st->bytes_in));
    add(t, "# TYPE cairn_serve_bytes_out_total counter\ncairn_serve_bytes_out_total %" PRIu64
        "\n", atomic_load(&st->bytes_out));
    add(t, "# TYPE cairn_serve_keyspace_hits_total counter\ncairn_serve_keyspace_hits_total %"
        PRIu64 "\n", atomic_load(&st->keyspace_hits));
    add(t, "# TYPE cairn_serve_keyspace_misses_total counter\ncairn_serve_keyspace_misses_total %"
        PRIu64 "\n", atomic_load(&st->keyspace_misses));
    add(t, "# TYPE cairn_serve_version_switches_total counter\n"
        "cairn_serve_version_switches_total %" PRIu64 "\n",
        atomic_load(&srv->version.switches));
    add(t, "# TYPE cairn_serve_command_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < SERVE_LATENCY_BUCKETS; i++) {
        cum += atomic_load(&st->latency_us[i]);
        add(t, "cairn_serve_command_duration_seconds_bucket{le=\"%.6f\"} %" PRIu64 "\n",
            (double)((uint64_t)1 << i) / 1e6, cum);
    }
    add(t, "cairn_serve_command_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    add(t, "cairn_serve_command_duration_seconds_count %" PRIu64 "\n", cum);
    cairn_stats cs;
    memset(&cs, 0, sizeof(cs));
    if (cairn_stats_get(srv->db, NULL, &cs) == 0 || cs.n_tiers) {
        add(t, "# TYPE cairn_tier_gets_total counter\n");
        for (unsigned i = 0; i < cs.n_tiers; i++)
            add(t, "cairn_tier_gets_total{tier=\"%u\",kind=\"%s\"} %" PRIu64 "\n", i,
                cs.tiers[i].name, cs.tiers[i].gets);
        add(t, "# TYPE cairn_tier_misses_total counter\n");
        for (unsigned i = 0; i < cs.n_tiers; i++)
            add(t, "cairn_tier_misses_total{tier=\"%u\",kind=\"%s\"} %" PRIu64 "\n", i,
                cs.tiers[i].name, cs.tiers[i].misses);
    }
}

static void *metrics_main(void *arg)
{
    serve_server *srv = arg;
    while (!atomic_load(&srv->stopping)) {
        struct pollfd p = {.fd = metrics_fd, .events = POLLIN};
        if (poll(&p, 1, 500) <= 0)
            continue;
        int fd = accept4(metrics_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        /* Read the request head (bounded, with a short timeout); any path
         * gets the metrics. */
        char req[2048];
        size_t got = 0;
        struct timeval tv = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        while (got < sizeof(req) - 1) {
            ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);
            if (n <= 0)
                break;
            got += (size_t)n;
            req[got] = 0;
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        text body = {0}, head = {0};
        metrics_text(srv, &body);
        add(&head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            "Content-Length: %zu\r\nConnection: close\r\n\r\n", body.len);
        if (head.s)
            (void)!send(fd, head.s, head.len, MSG_NOSIGNAL);
        if (body.s)
            (void)!send(fd, body.s, body.len, MSG_NOSIGNAL);
        free(head.s);
        free(body.s);
        close(fd);
    }
    return NULL;
}

int serve_metrics_start(serve_server *srv)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)srv->cfg.metrics_port)};
    int one = 1;
    if (inet_pton(AF_INET, srv->cfg.metrics_host, &sa.sin_addr) != 1) {
        fprintf(stderr, "cairn serve: --metrics: '%s' is not an IPv4 address\n",
                srv->cfg.metrics_host);
        return -1;
    }
    if ((metrics_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(metrics_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(metrics_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(metrics_fd, 64) != 0) {
        fprintf(stderr, "cairn serve: cannot listen on %s:%d for metrics: %s\n",
                srv->cfg.metrics_host, srv->cfg.metrics_port, strerror(errno));
        return -1;
    }
    if (pthread_create(&metrics_thread, NULL, metrics_main, srv) != 0)
        return -1;
    metrics_running = true;
    return 0;
}

void serve_metrics_stop(serve_server *srv)
{
    (void)srv;
    if (metrics_running)
        pthread_join(metrics_thread, NULL);
    metrics_running = false;
    if (metrics_fd >= 0)
        close(metrics_fd);
    metrics_fd = -1;
}
