/*
 * netproxy.c - cairn-netproxy: a TCP proxy for HTTP/1.1 that adds latency
 * and injects faults, between cairn's S3 tier and a real S3 service (the
 * tests' fixture, scripts/s3-server.sh, or anything else).
 *
 *   cairn-netproxy --listen 127.0.0.1:0 --upstream 127.0.0.1:PORT
 *       [--delay-ms N] [--faults SPEC] [--seed N] [--port-file F]
 *       [--control F] [--stats-file F] [--log F]
 *
 * Prints the bound port on stdout (one line, and into --port-file, written
 * whole by a rename), then serves until SIGTERM or SIGINT. One thread per
 * client connection, blocking I/O, one upstream connection per client
 * connection (opened at its first forwarded request).
 *
 * Per request: the proxy reads the head (up to CRLFCRLF, at most 64 KiB)
 * and picks, by a random draw from a generator seeded with --seed, one of
 * the faults of SPEC (comma-separated KIND:PROBABILITY, the probabilities
 * summing to at most 1):
 *
 *   500:P    answer 500 with an S3-style XML error (InternalError), body
 *            read and discarded, nothing forwarded;
 *   503:P    the same with 503 and <Code>SlowDown</Code>;
 *   reset:P  close the client connection with an RST (SO_LINGER 0);
 *   stall:P  read the request, then nothing for 30 s or until the client
 *            closes, then close;
 *   corrupt:P  forward the request with the first byte of its body flipped
 *            (a request without a body goes as it is): a signed payload
 *            hash then no longer matches, as after damage on the wire;
 *   drop:P   forward the request, read the whole response, then close the
 *            client connection without sending it (the server did the
 *            work, the client never hears);
 *
 * or none: forward the request (body: Content-Length bytes; a
 * Transfer-Encoding gets 501), then the whole response (Content-Length,
 * chunked, none for HEAD, 1xx, 204 and 304, else until the server closes).
 * "Expect: 100-continue" is forwarded and the server's 100 passed on (the
 * proxy sends one itself where it answers in the server's place).
 *
 * --delay-ms N holds each message (request, response) N ms before its first
 * byte goes on, so each exchange takes 2N ms more: latency, not bandwidth.
 *
 * --control F is re-read (when its mtime, size or inode changed) at each
 * new connection and before each request: the same SPEC syntax, or "down"
 * (every connection is accepted and reset at once, an outage), or "up" or
 * nothing (no faults). It replaces --faults while it exists.
 *
 * --stats-file F is rewritten (by a rename) after each request and each
 * refused connection, one line:
 *   requests=N forwarded=N e500=N e503=N reset=N stall=N drop=N down=N
 *   gets=N puts=N heads=N deletes=N posts=N
 * (one line; fields may be appended, never reordered) where requests counts
 * every request read, forwarded those answered by the server, down the
 * connections reset while down, and gets..posts count by method the
 * requests sent on to the server (forwarded or dropped; other methods are
 * not counted), so a test can count what a client asked of S3.
 *
 * --log F appends one line per request sent on to the server, when its
 * response has been relayed (or dropped):
 *   START_MS END_MS METHOD TARGET RANGE STATUS
 * START_MS and END_MS are milliseconds since the proxy started (the
 * request's head read, the response's end), RANGE the Range header's value
 * or "-", STATUS the server's final status, or 0 if there was none; so a
 * reader of the log can see which requests overlapped and count round
 * trips (bench/s3.sh's traces, docs/benchmarks.md).
 *
 * A malformed request gets 400 (a head over 64 KiB, 431) and the connection
 * is closed; an unreachable upstream, 502. Memory is bounded: at most
 * MAX_CONNS connections, each with two 64 KiB buffers.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX (64 * 1024) /* bound on a request's or response's head */
#define BUF_SIZE (64 * 1024) /* each connection's input buffers */
#define MAX_CONNS 256        /* connections served at once; more are closed */
#define STALL_MS 30000       /* how long a stalled request is held */
#define IDLE_S 300           /* receive timeout on either side */

enum fault { F_NONE, F_500, F_503, F_RESET, F_STALL, F_DROP, F_CORRUPT, F_NKINDS };
static const char *const fault_names[F_NKINDS] = {"", "500", "503", "reset", "stall", "drop",
                                                  "corrupt"};

/* The methods counted in the stats file, by their field names there. */
enum { N_METHODS = 5 };
static const char *const method_names[N_METHODS] = {"GET", "PUT", "HEAD", "DELETE", "POST"};

/* A fault specification: the probability of each kind, or an outage. */
typedef struct spec {
    double p[F_NKINDS]; /* p[F_NONE] unused */
    int down;           /* every connection is reset */
} spec;

/* Everything the connection threads share, under `lock`. */
static struct {
    pthread_mutex_t lock;
    spec faults;                /* the one in force */
    const char *control_path;   /* --control, or NULL */
    struct stat control_st;     /* the control file as last read */
    int control_seen;           /* control_st is valid */
    const char *stats_path;     /* --stats-file, or NULL */
    FILE *log;                  /* --log, or NULL */
    uint64_t rng;               /* xorshift64* state */
    unsigned long requests, forwarded, count[F_NKINDS], down;
    unsigned long by_method[N_METHODS]; /* sent on to the server */
    int conns;                  /* connections being served */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct sockaddr_storage upstream_addr;
static socklen_t upstream_len;
static long delay_ms;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("cairn-netproxy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- specifications, the control file, statistics ---- */

/* Parses SPEC text into *out; 0, or -1 (message printed) if malformed. */
static int spec_parse(const char *text, spec *out)
{
    char copy[1024], *item, *save = NULL;
    double sum = 0;
    size_t n;

    memset(out, 0, sizeof(*out));
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    n = strlen(text);
    while (n && (text[n - 1] == ' ' || text[n - 1] == '\n' || text[n - 1] == '\r' ||
                 text[n - 1] == '\t'))
        n--;
    if (n >= sizeof(copy)) {
        say("fault spec too long");
        return -1;
    }
    memcpy(copy, text, n);
    copy[n] = 0;
    if (!strcmp(copy, "down")) {
        out->down = 1;
        return 0;
    }
    if (!n || !strcmp(copy, "up"))
        return 0;
    for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':'), *end;
        double p;
        int k;

        while (*item == ' ')
            item++;
        if (!colon)
            goto bad;
        *colon = 0;
        for (k = 1; k < F_NKINDS && strcmp(item, fault_names[k]); k++)
            ;
        errno = 0;
        p = strtod(colon + 1, &end);
        if (k == F_NKINDS || errno || end == colon + 1 || (*end && *end != ' ') || p < 0 || p > 1)
            goto bad;
        out->p[k] = p;
        sum += p;
    }
    if (sum > 1 + 1e-9) {
        say("fault probabilities sum to %g, more than 1", sum);
        return -1;
    }
    return 0;
bad:
    say("bad fault spec item '%s' (want KIND:P, KIND one of 500 503 reset stall drop corrupt)", item);
    return -1;
}

/* Re-reads the control file if it changed; g.lock held. A missing file
 * leaves the faults in force; a malformed one is reported and ignored. */
static void control_refresh(void)
{
    struct stat st;
    char text[1024];
    size_t n;
    FILE *f;
    spec s;

    if (!g.control_path || stat(g.control_path, &st))
        return;
    if (g.control_seen && st.st_ino == g.control_st.st_ino && st.st_size == g.control_st.st_size &&
        st.st_mtim.tv_sec == g.control_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == g.control_st.st_mtim.tv_nsec)
        return;
    if (!(f = fopen(g.control_path, "r")))
        return;
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = 0;
    g.control_st = st;
    g.control_seen = 1;
    if (spec_parse(text, &s) == 0)
        g.faults = s;
}

/* Rewrites the stats file; g.lock held. */
static void stats_write(void)
{
    char tmp[4096];
    FILE *f;

    if (!g.stats_path)
        return;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", g.stats_path) >= (int)sizeof(tmp))
        return;
    if (!(f = fopen(tmp, "w")))
        return;
    fprintf(f, "requests=%lu forwarded=%lu e500=%lu e503=%lu reset=%lu stall=%lu drop=%lu down=%lu"
               " gets=%lu puts=%lu heads=%lu deletes=%lu posts=%lu corrupt=%lu\n",
            g.requests, g.forwarded, g.count[F_500], g.count[F_503], g.count[F_RESET],
            g.count[F_STALL], g.count[F_DROP], g.down, g.by_method[0], g.by_method[1],
            g.by_method[2], g.by_method[3], g.by_method[4], g.count[F_CORRUPT]);
    if (fclose(f) == 0)
        rename(tmp, g.stats_path);
}

/* A uniform draw in [0, 1) from xorshift64*; g.lock held. */
static double rng_next(void)
{
    g.rng ^= g.rng >> 12;
    g.rng ^= g.rng << 25;
    g.rng ^= g.rng >> 27;
    return (double)((g.rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* Re-reads the control file and picks this request's fault (F_NONE, or -1
 * when down); counts the request. */
static int choose_fault(void)
{
    double r, acc = 0;
    int k, pick = F_NONE;

    pthread_mutex_lock(&g.lock);
    control_refresh();
    if (g.faults.down) {
        pthread_mutex_unlock(&g.lock);
        return -1;
    }
    g.requests++;
    r = rng_next();
    for (k = 1; k < F_NKINDS; k++) {
        acc += g.faults.p[k];
        if (g.faults.p[k] > 0 && r < acc) {
            pick = k;
            break;
        }
    }
    pthread_mutex_unlock(&g.lock);
    return pick;
}

/* Counts an outcome (a fault kind, F_NONE for forwarded, -1 for down) and,
 * when method is not NULL, a request of that method sent on to the server;
 * rewrites the stats file. */
static void count_outcome(int kind, const char *method)
{
    int m;

    pthread_mutex_lock(&g.lock);
    for (m = 0; method && m < N_METHODS; m++)
        if (!strcmp(method, method_names[m]))
            g.by_method[m]++;
    if (kind < 0)
        g.down++;
    else if (kind == F_NONE)
        g.forwarded++;
    else
        g.count[kind]++;
    stats_write();
    pthread_mutex_unlock(&g.lock);
}

/* Is the proxy down? (Re-reads the control file.) */
static int is_down(void)
{
    int down;

    pthread_mutex_lock(&g.lock);
    control_refresh();
    down = g.faults.down;
    pthread_mutex_unlock(&g.lock);
    return down;
}

/* ---- buffered reading and writing ---- */

/* A buffered reader on one socket. */
typedef struct reader {
    int fd;
    char buf[BUF_SIZE];
    size_t pos, len; /* unread bytes are buf[pos, len) */
} reader;

/* Reads more into r (compacting first); bytes read, 0 at EOF, -1 on error
 * or when the buffer is full. */
static ssize_t rd_fill(reader *r)
{
    ssize_t n;

    if (r->pos) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->len == sizeof(r->buf))
        return -1;
    do
        n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        r->len += (size_t)n;
    return n;
}

/* Finds a complete head (ending in an empty line) at the reader's position,
 * reading as needed; its length (with the CRLFCRLF), 0 at a clean EOF before
 * any byte, -1 on a read error, -2 when over HEAD_MAX, -3 at EOF inside the
 * head. Leading
 * empty lines are skipped. */
static ssize_t rd_head(reader *r)
{
    size_t scanned = 0;

    for (;;) {
        while (r->len - r->pos >= 2 && r->buf[r->pos] == '\r' && r->buf[r->pos + 1] == '\n') {
            r->pos += 2;
            scanned = 0;
        }
        for (size_t i = r->pos + (scanned > 3 ? scanned - 3 : 0); i + 4 <= r->len; i++)
            if (!memcmp(r->buf + i, "\r\n\r\n", 4))
                return (ssize_t)(i + 4 - r->pos);
        scanned = r->len - r->pos;
        ssize_t n = rd_fill(r);
        if (n == 0 && r->len == r->pos)
            return 0;
        if (n <= 0)
            return r->len - r->pos >= HEAD_MAX ? -2 : n == 0 ? -3 : -1;
    }
}

/* Finds a CRLF-terminated line at the reader's position; its length with
 * the CRLF, or -1. */
static ssize_t rd_line(reader *r)
{
    for (;;) {
        char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
        if (nl)
            return nl - (r->buf + r->pos) + 1;
        if (r->len - r->pos > 4096 || rd_fill(r) <= 0)
            return -1;
    }
}

/* Writes all of data to fd; 0 or -1. */
static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;

    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* Where a message goes: a socket (fd < 0: discarded), delayed by delay_ms
 * before its first byte. */
typedef struct sink {
    int fd;
    int started;
    int flip; /* flip the first byte written (the corrupt fault) */
} sink;

static int sink_put(sink *s, const void *data, size_t n)
{
    if (!s->started) {
        s->started = 1;
        if (delay_ms > 0)
            sleep_ms(delay_ms);
    }
    if (s->fd >= 0 && s->flip && n > 0) {
        unsigned char first = *(const unsigned char *)data ^ 0x01;
        s->flip = 0;
        if (write_all(s->fd, &first, 1))
            return -1;
        data = (const char *)data + 1;
        n--;
    }
    return s->fd < 0 ? 0 : write_all(s->fd, data, n);
}

/* Moves n bytes from r to s (buffered bytes first); 0 or -1. With
 * n == SIZE_MAX, until EOF. */
static int copy_bytes(reader *r, sink *s, size_t n)
{
    while (n) {
        if (r->pos == r->len) {
            r->pos = r->len = 0;
            ssize_t got = rd_fill(r);
            if (got == 0 && n == SIZE_MAX)
                return 0;
            if (got <= 0)
                return -1;
        }
        size_t take = r->len - r->pos;
        if (take > n)
            take = n;
        if (sink_put(s, r->buf + r->pos, take))
            return -1;
        r->pos += take;
        if (n != SIZE_MAX)
            n -= take;
    }
    return 0;
}

/* ---- HTTP ---- */

/* What the proxy needs of a head. */
typedef struct head {
    char method[16];
    char target[512];     /* requests: truncated to fit */
    char range[64];       /* requests: the Range header's value, or "" */
    int status;           /* responses */
    long long length;     /* Content-Length, or -1 */
    int chunked;          /* Transfer-Encoding: chunked (any coding for requests) */
    int close;            /* Connection: close */
    int expect_continue;  /* Expect: 100-continue */
} head;

/* Case-insensitive: does the header line start with "name:"? */
static int header_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);

    return n > k && line[k] == ':' && !strncasecmp(line, name, k);
}

/* Does the value of the header line contain token (case-insensitively)? */
static int value_has(const char *line, size_t n, const char *token)
{
    size_t k = strlen(token);

    for (size_t i = 0; i + k <= n; i++)
        if (!strncasecmp(line + i, token, k))
            return 1;
    return 0;
}

/* Parses a head of n bytes (ending in CRLFCRLF); 0 or -1 if malformed.
 * Request heads: "METHOD TARGET HTTP/1.x"; responses: "HTTP/1.x NNN ...". */
static int head_parse(const char *p, size_t n, int response, head *h)
{
    const char *end = p + n - 2, *line = p, *eol;
    int first = 1;

    memset(h, 0, sizeof(*h));
    h->length = -1;
    for (; line < end; line = eol + 2) {
        eol = memchr(line, '\r', (size_t)(end - line));
        if (!eol || eol[1] != '\n')
            return -1;
        size_t len = (size_t)(eol - line);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
                return -1;
        if (first) {
            first = 0;
            if (response) {
                if (len < 12 || strncmp(line, "HTTP/1.", 7) || line[8] != ' ' ||
                    line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
                    line[11] < '0' || line[11] > '9' || (len > 12 && line[12] != ' '))
                    return -1;
                h->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
                h->close = line[7] == '0';
            } else {
                const char *sp = memchr(line, ' ', len), *sp2;
                if (!sp || sp == line || (size_t)(sp - line) >= sizeof(h->method))
                    return -1;
                for (const char *c = line; c < sp; c++)
                    if (*c < 'A' || *c > 'Z')
                        return -1;
                memcpy(h->method, line, (size_t)(sp - line));
                sp2 = memchr(sp + 1, ' ', (size_t)(eol - sp - 1));
                if (!sp2 || sp2 == sp + 1 || eol - sp2 != 9 || strncmp(sp2 + 1, "HTTP/1.", 7) ||
                    (sp2[8] != '0' && sp2[8] != '1'))
                    return -1;
                h->close = sp2[8] == '0';
                size_t tlen = (size_t)(sp2 - sp - 1);
                if (tlen >= sizeof(h->target))
                    tlen = sizeof(h->target) - 1;
                memcpy(h->target, sp + 1, tlen);
            }
            continue;
        }
        if (len == 0 || line[0] == ' ' || line[0] == '\t')
            return -1; /* obsolete line folding */
        const char *colon = memchr(line, ':', len);
        if (!colon || colon == line)
            return -1;
        if (header_is(line, len, "content-length")) {
            const char *v = colon + 1;
            long long val = 0;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            if (v == eol)
                return -1;
            for (; v < eol && *v >= '0' && *v <= '9'; v++) {
                if (val > (1LL << 50))
                    return -1;
                val = val * 10 + (*v - '0');
            }
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            if (v != eol || (h->length >= 0 && h->length != val))
                return -1;
            h->length = val;
        } else if (header_is(line, len, "transfer-encoding")) {
            h->chunked = response ? value_has(colon, (size_t)(eol - colon), "chunked") : 1;
        } else if (header_is(line, len, "connection")) {
            if (value_has(colon, (size_t)(eol - colon), "close"))
                h->close = 1;
        } else if (header_is(line, len, "range") && !response) {
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            size_t vlen = (size_t)(eol - v) < sizeof(h->range) ? (size_t)(eol - v)
                                                                : sizeof(h->range) - 1;
            memcpy(h->range, v, vlen);
            h->range[vlen] = 0;
        } else if (header_is(line, len, "expect") && !response) {
            if (value_has(colon, (size_t)(eol - colon), "100-continue"))
                h->expect_continue = 1;
        }
    }
    return 0;
}

/* Sends a small complete response (no body for HEAD). */
static int send_simple(int fd, int status, const char *reason, const char *code,
                       const char *message, const head *req, int close_after)
{
    char body[512], out[1024];
    int nb, nh;

    nb = snprintf(body, sizeof(body),
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<Error><Code>%s</Code><Message>%s</Message>"
                  "<RequestId>cairn-netproxy</RequestId></Error>\n",
                  code, message);
    nh = snprintf(out, sizeof(out),
                  "HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\n"
                  "Content-Length: %d\r\n%s\r\n",
                  status, reason, nb, close_after ? "Connection: close\r\n" : "");
    if (write_all(fd, out, (size_t)nh))
        return -1;
    if (req && !strcmp(req->method, "HEAD"))
        return 0;
    return write_all(fd, body, (size_t)nb);
}

/* Closes fd after the client has read what was sent: our side shut, then
 * what the client still sends is read and dropped until it closes (at most
 * 1 s, 1 MiB), so that unread input does not make the kernel send an RST
 * that destroys the response in flight. */
static void close_gently(int fd)
{
    char drain[4096];
    size_t total = 0;
    struct pollfd pfd = {fd, POLLIN, 0};

    shutdown(fd, SHUT_WR);
    while (total < (1 << 20) && poll(&pfd, 1, 1000) > 0) {
        ssize_t n = read(fd, drain, sizeof(drain));
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    close(fd);
}

/* Closes fd with an RST. */
static void close_reset(int fd)
{
    struct linger lg = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static void set_timeouts(int fd)
{
    struct timeval tv = {IDLE_S, 0};
    int one = 1;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* One client connection. */
typedef struct conn {
    reader client;   /* requests */
    reader upstream; /* responses; fd -1 until the first forward */
    int status;      /* the last final status relayed, 0 if none */
} conn;

static struct timespec started_at;

static double ms_since_start(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - started_at.tv_sec) * 1e3 +
           (double)(t.tv_nsec - started_at.tv_nsec) / 1e6;
}

/* Appends a request's line to the --log file (see the top of the file). */
static void log_request(const head *h, double start_ms, int status)
{
    if (!g.log)
        return;
    double end_ms = ms_since_start();
    pthread_mutex_lock(&g.lock);
    fprintf(g.log, "%.1f %.1f %s %s %s %d\n", start_ms, end_ms, h->method, h->target,
            h->range[0] ? h->range : "-", status);
    fflush(g.log);
    pthread_mutex_unlock(&g.lock);
}

/* Forwards a response from upstream: interim (1xx) heads to interim_fd,
 * the final one and its body to final_fd (fd -1: read and discarded), each
 * held delay_ms. With until_continue, returns 2 after relaying a
 * "100 Continue" (the request's body is due). Else 0, or 1 if the
 * connection must close after it; -1 on error. */
static int relay_response(conn *c, const head *req, int interim_fd, int final_fd,
                          int until_continue)
{
    reader *u = &c->upstream;
    sink s;
    head h;
    ssize_t n;

    for (;;) {
        if ((n = rd_head(u)) <= 0 || head_parse(u->buf + u->pos, (size_t)n, 1, &h))
            return -1;
        s.fd = h.status >= 200 ? final_fd : interim_fd;
        s.started = 0;
        s.flip = 0;
        if (copy_bytes(u, &s, (size_t)n))
            return -1;
        if (h.status >= 200) {
            c->status = h.status;
            break;
        }
        if (h.status == 101)
            return -1; /* no upgrades */
        if (h.status == 100 && until_continue)
            return 2;
    }
    if (!strcmp(req->method, "HEAD") || h.status == 204 || h.status == 304)
        return h.close;
    if (h.chunked) {
        for (;;) {
            unsigned long long size;
            char *end;

            if ((n = rd_line(u)) < 0)
                return -1;
            errno = 0;
            size = strtoull(u->buf + u->pos, &end, 16);
            if (errno || end == u->buf + u->pos || size > (1ULL << 50))
                return -1;
            if (copy_bytes(u, &s, (size_t)n))
                return -1;
            if (size == 0)
                break;
            if (copy_bytes(u, &s, (size_t)size))
                return -1;
            if ((n = rd_line(u)) != 2 || copy_bytes(u, &s, 2))
                return -1;
        }
        do { /* trailers, then the empty line */
            if ((n = rd_line(u)) < 0 || copy_bytes(u, &s, (size_t)n))
                return -1;
        } while (n > 2);
        return h.close;
    }
    if (h.length >= 0)
        return copy_bytes(u, &s, (size_t)h.length) ? -1 : h.close;
    return copy_bytes(u, &s, SIZE_MAX) ? -1 : 1;
}

static void upstream_close(conn *c)
{
    if (c->upstream.fd >= 0)
        close(c->upstream.fd);
    c->upstream.fd = -1;
}

/* Opens the upstream connection if there is none, or if the server closed
 * the one kept alive (readable between requests means EOF); 0 or -1. */
static int upstream_open(conn *c)
{
    struct pollfd pfd = {c->upstream.fd, POLLIN, 0};
    int fd;

    if (c->upstream.fd >= 0 && poll(&pfd, 1, 0) == 0)
        return 0;
    upstream_close(c);
    if ((fd = socket(upstream_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    set_timeouts(fd);
    if (connect(fd, (struct sockaddr *)&upstream_addr, upstream_len)) {
        close(fd);
        return -1;
    }
    c->upstream.fd = fd;
    c->upstream.pos = c->upstream.len = 0;
    return 0;
}

/* Serves one request; 0 to go on with the connection, 1 to close it, 2 to
 * reset it. */
static int serve_request(conn *c)
{
    reader *r = &c->client;
    int fd = r->fd, fault, rc;
    ssize_t n;
    head h;

    if ((n = rd_head(r)) == 0)
        return 1;
    double start_ms = ms_since_start();
    if (n == -2) {
        send_simple(fd, 431, "Request Header Fields Too Large", "RequestHeaderSectionTooLarge",
                    "The request head is over 64 KiB.", NULL, 1);
        return 1;
    }
    if (n == -1)
        return 1;
    if (n < 0 || head_parse(r->buf + r->pos, (size_t)n, 0, &h)) {
        send_simple(fd, 400, "Bad Request", "BadRequest", "Malformed request.", NULL, 1);
        return 1;
    }
    if (h.chunked) {
        send_simple(fd, 501, "Not Implemented", "NotImplemented",
                    "Transfer-Encoding is not supported.", &h, 1);
        return 1;
    }
    if ((fault = choose_fault()) < 0) {
        count_outcome(-1, NULL);
        return 2;
    }
    if (fault == F_RESET) {
        count_outcome(F_RESET, NULL);
        return 2;
    }
    if (fault == F_500 || fault == F_503 || fault == F_STALL) {
        sink discard = {-1, 1, 0};
        if (h.expect_continue && h.length > 0 &&
            write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25))
            return 1;
        r->pos += (size_t)n;
        if (h.length > 0 && copy_bytes(r, &discard, (size_t)h.length))
            return 1;
        count_outcome(fault, NULL);
        if (fault == F_500)
            return send_simple(fd, 500, "Internal Server Error", "InternalError",
                               "We encountered an internal error. Please try again.", &h,
                               h.close) ? 1 : h.close;
        if (fault == F_503)
            return send_simple(fd, 503, "Service Unavailable", "SlowDown",
                               "Please reduce your request rate.", &h, h.close) ? 1 : h.close;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) { /* the stall: until 30 s pass or the client closes */
            long left;
            char drain[4096];
            clock_gettime(CLOCK_MONOTONIC, &t1);
            left = STALL_MS - ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
            if (left <= 0)
                break;
            struct pollfd pfd = {fd, POLLIN, 0};
            int pr = poll(&pfd, 1, (int)left);
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr < 0 || (pr > 0 && read(fd, drain, sizeof(drain)) <= 0))
                break;
        }
        return 1;
    }

    /* Forwarded (F_NONE) or dropped (F_DROP). */
    if (upstream_open(c)) {
        sink discard = {-1, 1, 0};
        r->pos += (size_t)n;
        if (h.length > 0)
            copy_bytes(r, &discard, (size_t)h.length);
        send_simple(fd, 502, "Bad Gateway", "BadGateway", "The upstream is unreachable.", &h, 1);
        count_outcome(fault, NULL);
        return 1;
    }
    /* The head, then (after the server's 100 Continue if the client asked
     * for one) the body, then the response. A final answer instead of the
     * 100 ends the exchange, and the connection (the client may or may not
     * send the body now). */
    sink up = {c->upstream.fd, 0, 0};
    c->status = 0;
    if (copy_bytes(r, &up, (size_t)n))
        goto upstream_failed;
    if (h.expect_continue && h.length > 0 &&
        relay_response(c, &h, fd, fault == F_DROP ? -1 : fd, 1) != 2) {
        count_outcome(fault, h.method);
        log_request(&h, start_ms, c->status);
        upstream_close(c);
        return 1;
    }
    /* The body goes on with the head, as one message, unless it waited for
     * the 100 Continue: then it is a new message, delayed on its own. */
    if (h.expect_continue && h.length > 0)
        up.started = 0;
    up.flip = fault == F_CORRUPT;
    if (h.length > 0 && copy_bytes(r, &up, (size_t)h.length))
        goto upstream_failed;
    rc = relay_response(c, &h, fd, fault == F_DROP ? -1 : fd, 0);
    count_outcome(fault, h.method);
    log_request(&h, start_ms, rc < 0 ? 0 : c->status);
    if (rc != 0)
        upstream_close(c);
    if (fault == F_DROP || rc < 0)
        return 1;
    return rc || h.close;

upstream_failed:
    upstream_close(c);
    count_outcome(fault, h.method);
    log_request(&h, start_ms, 0);
    return 1;
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    int rc = 0;

    if (is_down()) {
        count_outcome(-1, NULL);
        rc = 2;
    }
    while (rc == 0)
        rc = serve_request(c);
    if (rc == 2)
        close_reset(c->client.fd);
    else
        close_gently(c->client.fd);
    upstream_close(c);
    free(c);
    pthread_mutex_lock(&g.lock);
    g.conns--;
    pthread_mutex_unlock(&g.lock);
    return NULL;
}

/* ---- start-up ---- */

/* Parses HOST:PORT into addr; 0 or -1. */
static int parse_addr(const char *text, int passive, struct sockaddr_storage *addr,
                      socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(text, ':');
    struct addrinfo hints = {0}, *res;
    size_t n;

    if (!colon || (n = (size_t)(colon - text)) >= sizeof(host))
        return -1;
    memcpy(host, text, n);
    host[n] = 0;
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = 0;
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if (getaddrinfo(n ? host : NULL, colon + 1, &hints, &res))
        return -1;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void *signal_main(void *arg)
{
    sigset_t *set = arg;
    int sig;

    sigwait(set, &sig);
    _exit(0);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: cairn-netproxy --listen HOST:PORT --upstream HOST:PORT [--delay-ms N]\n"
                    "       [--faults SPEC] [--seed N] [--port-file F] [--control F]\n"
                    "       [--stats-file F] [--log F]\n"
                    "SPEC: comma-separated KIND:P, KIND one of 500 503 reset stall drop corrupt\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *listen_at = NULL, *upstream = NULL, *faults = NULL, *port_file = NULL;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    unsigned long long seed = 1;
    pthread_attr_t attr;
    pthread_t tid;
    sigset_t set;
    int lfd, one = 1;
    unsigned port;

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(opt, "--help") || !strcmp(opt, "-h"))
            usage();
        if (!val)
            usage();
        i++;
        if (!strcmp(opt, "--listen"))
            listen_at = val;
        else if (!strcmp(opt, "--upstream"))
            upstream = val;
        else if (!strcmp(opt, "--delay-ms"))
            delay_ms = strtol(val, NULL, 10);
        else if (!strcmp(opt, "--faults"))
            faults = val;
        else if (!strcmp(opt, "--seed"))
            seed = strtoull(val, NULL, 10);
        else if (!strcmp(opt, "--port-file"))
            port_file = val;
        else if (!strcmp(opt, "--control"))
            g.control_path = val;
        else if (!strcmp(opt, "--stats-file"))
            g.stats_path = val;
        else if (!strcmp(opt, "--log")) {
            if (!(g.log = fopen(val, "a"))) {
                say("cannot open %s: %s", val, strerror(errno));
                return 1;
            }
        }
        else
            usage();
    }
    if (!listen_at || !upstream || delay_ms < 0)
        usage();
    clock_gettime(CLOCK_MONOTONIC, &started_at);
    if (faults && spec_parse(faults, &g.faults))
        return 2;
    g.rng = seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!g.rng)
        g.rng = 1;
    if (parse_addr(upstream, 0, &upstream_addr, &upstream_len)) {
        say("bad --upstream '%s'", upstream);
        return 2;
    }
    if (parse_addr(listen_at, 1, &addr, &addr_len)) {
        say("bad --listen '%s'", listen_at);
        return 2;
    }
    if ((lfd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(lfd, (struct sockaddr *)&addr, addr_len) || listen(lfd, 128) ||
        getsockname(lfd, (struct sockaddr *)&addr, &addr_len)) {
        say("cannot listen on %s: %s", listen_at, strerror(errno));
        return 1;
    }
    port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                            : ((struct sockaddr_in *)&addr)->sin_port);

    /* SIGTERM and SIGINT end the process, from a thread of their own. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&tid, &attr, signal_main, &set)) {
        say("cannot start a thread");
        return 1;
    }

    pthread_mutex_lock(&g.lock);
    control_refresh();
    stats_write();
    pthread_mutex_unlock(&g.lock);
    if (port_file) {
        char tmp[4096];
        FILE *f;
        if (snprintf(tmp, sizeof(tmp), "%s.tmp", port_file) >= (int)sizeof(tmp) ||
            !(f = fopen(tmp, "w")) || fprintf(f, "%u\n", port) < 0 || fclose(f) ||
            rename(tmp, port_file)) {
            say("cannot write %s", port_file);
            return 1;
        }
    }
    printf("%u\n", port);
    fflush(stdout);

    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        conn *c;

        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                sleep_ms(10); /* out of descriptors: let some close */
            continue;
        }
        set_timeouts(fd);
        pthread_mutex_lock(&g.lock);
        int full = g.conns >= MAX_CONNS;
        if (!full)
            g.conns++;
        pthread_mutex_unlock(&g.lock);
        if (full || !(c = malloc(sizeof(*c)))) {
            if (!full) {
                pthread_mutex_lock(&g.lock);
                g.conns--;
                pthread_mutex_unlock(&g.lock);
            }
            close_reset(fd);
            continue;
        }
        c->client.fd = fd;
        c->client.pos = c->client.len = 0;
        c->upstream.fd = -1;
        c->upstream.pos = c->upstream.len = 0;
        if (pthread_create(&tid, &attr, conn_main, c)) {
            free(c);
            close_reset(fd);
            pthread_mutex_lock(&g.lock);
            g.conns--;
            pthread_mutex_unlock(&g.lock);
        }
    }
}
