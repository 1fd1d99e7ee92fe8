/*
 * server.c - `cairn serve`'s sockets, worker loops and connections
 * (serve.h).
 *
 * Each worker: a listening socket (SO_REUSEPORT, the same port for all),
 * an epoll instance, level-triggered. A connection's input is parsed and
 * its commands run as soon as they arrive, in order (pipelining); replies
 * go into its output buffer and are written at once, the rest when the
 * socket takes more (EPOLLOUT). While replies wait, the worker reads no
 * more of that client's requests, so a client that does not read cannot
 * make the server buffer without bound; past max_output it is closed.
 * A malformed request gets "-ERR Protocol error: ..." and its connection
 * is closed; other clients never notice.
 */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define READ_CHUNK (16u << 10)
#define PAUSE_OUTPUT (1u << 20) /* stop reading a client's requests while more waits */
#define MAX_EVENTS 256

int64_t serve_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---------------------------------------------------------------- sockets */

static int listen_socket(const serve_config *cfg, int port, int *out)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd, one = 1;
    if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1) {
        fprintf(stderr, "cairn serve: --listen: '%s' is not an IPv4 address\n", cfg->host);
        return EXIT_USAGE;
    }
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 511) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        fprintf(stderr, "cairn serve: cannot listen on %s:%d: %s\n", cfg->host, port,
                strerror(err));
        return EXIT_FAILURE_;
    }
    *out = fd;
    return 0;
}

static int bound_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    return getsockname(fd, (struct sockaddr *)&sa, &len) == 0 ? ntohs(sa.sin_port) : -1;
}

/* ---------------------------------------------------------------- connections */

static void conn_close(serve_worker *w, serve_conn *c)
{
    epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    resp_parser_free(&c->parser);
    resp_out_free(&c->out);
    if (c->pinned)
        cairn_snapshot_close(c->pinned);
    serve_multi_free(c->multi);
    free(c->in);
    free(c);
    atomic_fetch_sub(&w->srv->stats.clients, 1);
}

static void conn_watch(serve_worker *w, serve_conn *c, bool want_write)
{
    if (c->want_write == want_write)
        return;
    struct epoll_event ev = {.events = want_write ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    epoll_ctl(w->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_write = want_write;
}

/* Before closing a connection after its last reply (a protocol error,
 * QUIT): bytes it sent that were never read would make the kernel answer
 * with a reset, which can destroy that reply before the client reads it.
 * Reads what has arrived, up to a bound (a client still sending gets the
 * reset). */
static void drain_input(serve_conn *c)
{
    char buf[16384];
    for (int i = 0; i < 64 && read(c->fd, buf, sizeof(buf)) > 0; i++)
        ;
}

/* Writes what the socket takes. Returns false when the connection went
 * (closed, or done with QUIT). */
static bool conn_write(serve_worker *w, serve_conn *c)
{
    struct iovec iov[64];
    while (resp_out_pending(&c->out)) {
        int n_iov = resp_out_iov(&c->out, iov, 64);
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n_iov};
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (resp_out_pending(&c->out) > w->srv->cfg.max_output) {
                conn_close(w, c); /* a client that does not read its replies */
                return false;
            }
            conn_watch(w, c, true);
            return true;
        }
        if (n <= 0) {
            conn_close(w, c);
            return false;
        }
        atomic_fetch_add(&w->srv->stats.bytes_out, (uint64_t)n);
        resp_out_consume(&c->out, (size_t)n);
    }
    resp_out_shrink(&c->out);
    if (c->closing) {
        drain_input(c);
        conn_close(w, c);
        return false;
    }
    conn_watch(w, c, false);
    return true;
}

/* The GET first (parsed at off, *used bytes) and the GETs right after it
 * in c's input, up to SERVE_GET_RUN, answered as one run. The parser looks
 * ahead: a request that ends the run (another command, one not complete
 * yet, a protocol error) is left for the caller to parse again, which
 * then starts afresh at it. Returns the GETs answered; *used grows by the
 * bytes of the others. */
static size_t get_run(serve_worker *w, serve_conn *c, size_t off, const resp_request *first,
                      size_t *used)
{
    cairn_val keys[SERVE_GET_RUN];
    size_t n = 0;
    /* Parsing ahead reuses the parser's argument array: first's
     * arguments (which point into c->in) are kept here. */
    resp_arg first_argv[2] = {first->argv[0], first->argv[1]};
    resp_request alone = {2, first_argv, false};

    keys[n++] = (cairn_val){first->argv[1].ptr, first->argv[1].len};
    while (n < SERVE_GET_RUN) {
        resp_request next;
        size_t next_used = 0;
        size_t at = off + *used;
        if (resp_parse(&c->parser, c->in + at, c->in_len - at, &next_used, &next) !=
                RESP_REQUEST ||
            !serve_get_batchable(c, &next)) {
            resp_parser_reset(&c->parser);
            break;
        }
        keys[n++] = (cairn_val){next.argv[1].ptr, next.argv[1].len};
        *used += next_used;
    }
    if (n == 1)
        serve_command(w, c, &alone); /* alone: the plain GET */
    else
        serve_get_run_many(w, c, keys, n);
    return n;
}

/* Runs the complete requests in c's input, in order, until replies wait
 * past PAUSE_OUTPUT (the rest stays for later), the input runs out, or a
 * request is malformed. Returns whether it ran any. */
static bool conn_run(serve_worker *w, serve_conn *c)
{
    size_t off = 0;
    while (!c->closing && off < c->in_len && resp_out_pending(&c->out) < PAUSE_OUTPUT) {
        resp_request req;
        size_t used = 0;
        int rc = resp_parse(&c->parser, c->in + off, c->in_len - off, &used, &req);
        if (rc == RESP_NEED_MORE)
            break;
        if (rc < 0) {
            atomic_fetch_add(&w->srv->stats.protocol_errors, 1);
            resp_out_errorf(&c->out, "ERR %s", resp_parser_error(&c->parser));
            c->closing = true;
            break;
        }
        int64_t t0 = serve_now_us();
        size_t n_run = 1;
        if (serve_get_batchable(c, &req))
            n_run = get_run(w, c, off, &req, &used);
        else
            serve_command(w, c, &req);
        /* A run's commands count alike: each took its share of it. */
        int64_t dt = (serve_now_us() - t0) / (int64_t)n_run;
        unsigned b = 0;
        while (b + 1 < SERVE_LATENCY_BUCKETS && (int64_t)1 << b < dt)
            b++;
        atomic_fetch_add(&w->srv->stats.latency_us[b], n_run);
        atomic_fetch_add(&w->srv->stats.commands, n_run);
        off += used;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return off > 0 || c->closing;
}

/* Runs c's requests and writes the replies, again while the socket takes
 * them all and complete requests remain (a client that sent everything
 * at once gets no further EPOLLIN to wake it). Returns false when the
 * connection went. */
static bool conn_serve(serve_worker *w, serve_conn *c)
{
    for (;;) {
        bool ran = conn_run(w, c);
        if (!conn_write(w, c))
            return false;
        if (!ran || c->want_write || !c->in_len)
            return true;
    }
}

static void conn_read(serve_worker *w, serve_conn *c)
{
    for (;;) {
        /* Room for what the request in progress still needs, and a chunk
         * more (the parser bounds need by its limits). */
        size_t need = resp_parser_need(&c->parser);
        size_t want = (need > c->in_len ? need : c->in_len) + READ_CHUNK;
        if (want > c->in_cap) {
            char *grown = realloc(c->in, want);
            if (!grown) {
                conn_close(w, c);
                return;
            }
            c->in = grown;
            c->in_cap = want;
        }
        size_t room = c->in_cap - c->in_len;
        ssize_t n = read(c->fd, c->in + c->in_len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_close(w, c);
            return;
        }
        c->in_len += (size_t)n;
        c->last_us = serve_now_us();
        atomic_fetch_add(&w->srv->stats.bytes_in, (uint64_t)n);
        /* Stop when the socket is drained, or when the request in progress
         * is complete: it runs first, so a client that sends faster than it
         * reads its replies is held back by the socket (the server reads no
         * more of it while replies wait: conn_run), not buffered here. */
        if ((size_t)n < room || c->in_len >= need)
            break;
    }
    conn_serve(w, c);
}

/* Out of file descriptors (EMFILE, ENFILE): the client waiting would keep
 * the listening socket readable, and the loop spinning on it. The spare
 * descriptor is given up to accept it and tell it so; without a spare, a
 * short nap bounds the spin until descriptors come back. */
static void refuse_past_fd_limit(serve_worker *w)
{
    static const char msg[] = "-ERR max number of clients reached (open files limit)\r\n";
    if (w->spare_fd < 0) {
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    } else {
        close(w->spare_fd);
        int fd = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            (void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            close(fd);
            atomic_fetch_add(&w->srv->stats.rejected_connections, 1);
        }
    }
    w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void accept_all(serve_worker *w)
{
    serve_server *srv = w->srv;
    for (;;) {
        struct sockaddr_in sa;
        socklen_t len = sizeof(sa);
        int fd = accept4(w->listen_fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            refuse_past_fd_limit(w);
            continue;
        }
        if (fd < 0)
            return; /* EAGAIN, or a transient error: the next event retries */
        atomic_fetch_add(&srv->stats.connections_received, 1);
        if (atomic_fetch_add(&srv->stats.clients, 1) >= srv->cfg.maxclients) {
            static const char full[] = "-ERR max number of clients reached\r\n";
            atomic_fetch_sub(&srv->stats.clients, 1);
            atomic_fetch_add(&srv->stats.rejected_connections, 1);
            (void)!send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL);
            close(fd);
            continue;
        }
        serve_conn *c = calloc(1, sizeof(*c));
        if (!c || resp_parser_init(&c->parser, &srv->cfg.limits) || resp_out_init(&c->out, 2)) {
            free(c);
            close(fd);
            atomic_fetch_sub(&srv->stats.clients, 1);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->id = atomic_fetch_add(&srv->stats.next_client_id, 1) + 1;
        c->created_us = c->last_us = serve_now_us();
        c->authenticated = !srv->cfg.has_password;
        resp_parser_require_auth(&c->parser, !c->authenticated);
        char ip[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
        snprintf(c->addr, sizeof(c->addr), "%s:%d", ip, ntohs(sa.sin_port));
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            resp_parser_free(&c->parser);
            resp_out_free(&c->out);
            free(c);
            close(fd);
            atomic_fetch_sub(&srv->stats.clients, 1);
            continue;
        }
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
    }
}

static void close_idle(serve_worker *w)
{
    uint32_t limit_s = w->srv->cfg.idle_timeout_s;
    if (!limit_s)
        return;
    int64_t now = serve_now_us();
    for (serve_conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (now - c->last_us > (int64_t)limit_s * 1000000 && !resp_out_pending(&c->out))
            conn_close(w, c);
    }
}

/* ---------------------------------------------------------------- workers */

static char wake_marker, listen_marker;

static void *worker_main(void *arg)
{
    serve_worker *w = arg;
    struct epoll_event events[MAX_EVENTS];
    int64_t last_sweep = serve_now_us();
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals go to the main thread */

    while (!atomic_load(&w->srv->stopping)) {
        int n = epoll_wait(w->epoll_fd, events, MAX_EVENTS, 1000);
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            if (p == &wake_marker)
                continue;
            if (p == &listen_marker) {
                accept_all(w);
                continue;
            }
            serve_conn *c = p;
            if (events[i].events & EPOLLOUT) {
                if (conn_write(w, c) && !c->want_write && c->in_len)
                    conn_serve(w, c);
            } else {
                conn_read(w, c);
            }
        }
        if (serve_now_us() - last_sweep > 1000000) {
            close_idle(w);
            last_sweep = serve_now_us();
        }
    }
    while (w->conns)
        conn_close(w, w->conns);
    serve_view_close(&w->view);
    serve_spaces_free(w);
    return NULL;
}

static int worker_setup(serve_server *srv, serve_worker *w, unsigned index, int port)
{
    int rc;
    w->srv = srv;
    w->index = index;
    w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if ((rc = listen_socket(&srv->cfg, port, &w->listen_fd)))
        return rc;
    if ((w->epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return cli_say(EXIT_FAILURE_, "serve: epoll: %s", strerror(errno));
    struct epoll_event l = {.events = EPOLLIN, .data.ptr = &listen_marker};
    struct epoll_event wk = {.events = EPOLLIN, .data.ptr = &wake_marker};
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->listen_fd, &l) != 0 ||
        epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, srv->wake_fd, &wk) != 0)
        return cli_say(EXIT_FAILURE_, "serve: epoll: %s", strerror(errno));
    return 0;
}

/* Descriptors kept out of maxclients: the store's files and sockets (LMDB,
 * the file tier, S3 and Redis connections), the metrics listener, and per
 * worker its listener, epoll and spare (Redis keeps 32). */
#define RESERVED_FDS 64
#define RESERVED_FDS_PER_WORKER 3

/* Makes room for maxclients connections under the open files limit
 * (RLIMIT_NOFILE): the soft limit is raised as far as the hard one allows,
 * else maxclients is lowered to fit and the lowering said, as Redis does. So
 * a client past the limit gets "max number of clients reached", not a
 * connection the server cannot accept. */
static int fit_open_files(serve_config *cfg, unsigned workers)
{
    struct rlimit rl;
    rlim_t reserve = RESERVED_FDS + (rlim_t)RESERVED_FDS_PER_WORKER * workers;
    rlim_t want = (rlim_t)cfg->maxclients + reserve;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return 0;
    struct rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
        rl = raised;
    if (rl.rlim_cur >= want)
        return 0;
    if (rl.rlim_cur <= reserve)
        return cli_say(EXIT_FAILURE_,
                       "serve: the open files limit (ulimit -n) is %llu: the store and %u "
                       "workers need %llu of them, leaving none for clients",
                       (unsigned long long)rl.rlim_cur, workers, (unsigned long long)reserve);
    unsigned fit = (unsigned)(rl.rlim_cur - reserve);
    fprintf(stderr,
            "cairn serve: maxclients lowered from %u to %u: the open files limit (ulimit -n) "
            "is %llu and cannot be raised\n",
            cfg->maxclients, fit, (unsigned long long)rl.rlim_cur);
    cfg->maxclients = fit;
    return 0;
}

int serve_run(serve_server *srv)
{
    serve_config *cfg = &srv->cfg;
    unsigned n = cfg->threads ? cfg->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    serve_worker *workers;
    pthread_t *threads;
    sigset_t stop;
    int rc = 0, sig;

    if (n < 1)
        n = 1;
    if ((rc = fit_open_files(cfg, n)))
        return rc;
    workers = calloc(n, sizeof(*workers));
    threads = calloc(n, sizeof(*threads));
    if (!workers || !threads)
        return cli_say(EXIT_FAILURE_, "serve: out of memory");
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    srv->stats.started_us = serve_now_us();
    if ((srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        return cli_say(EXIT_FAILURE_, "serve: eventfd: %s", strerror(errno));
    int port = cfg->port;
    unsigned started = 0;
    for (unsigned i = 0; i < n && !rc; i++) {
        if ((rc = worker_setup(srv, &workers[i], i, port)))
            break;
        if (i == 0)
            port = bound_port(workers[0].listen_fd); /* --listen HOST:0: the port chosen */
    }
    srv->port = port;
    if (!rc && cfg->metrics_port && (rc = serve_metrics_start(srv)))
        rc = EXIT_FAILURE_;
    for (unsigned i = 0; i < n && !rc; i++, started++)
        if (pthread_create(&threads[i], NULL, worker_main, &workers[i]) != 0)
            rc = cli_say(EXIT_FAILURE_, "serve: cannot start a thread");
    if (!rc) {
        cairn_id commit;
        char hex[CAIRN_ID_HEX + 1];
        serve_version_get(&srv->version, &commit);
        cairn_id_to_hex(&commit, hex);
        fprintf(stderr, "cairn serve: listening on %s:%d, %u threads, serving %s", cfg->host,
                port, n, hex);
        if (srv->version.ref)
            fprintf(stderr, " (%s%s)", srv->version.follow_s ? "following " : "",
                    srv->version.ref);
        fprintf(stderr, "\n");
        fflush(stderr);
        sigwait(&stop, &sig);
        fprintf(stderr, "cairn serve: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    atomic_store(&srv->stopping, true);
    uint64_t one = 1;
    (void)!write(srv->wake_fd, &one, sizeof(one));
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    serve_metrics_stop(srv);
    for (unsigned i = 0; i < n; i++) {
        if (workers[i].listen_fd > 0)
            close(workers[i].listen_fd);
        if (workers[i].epoll_fd > 0)
            close(workers[i].epoll_fd);
        if (workers[i].spare_fd > 0)
            close(workers[i].spare_fd);
    }
    close(srv->wake_fd);
    free(workers);
    free(threads);
    return rc;
}
