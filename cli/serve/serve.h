/*
 * serve.h - `cairn serve`: a read-only Redis-protocol server over one
 * version of a store (docs/serve.md).
 *
 * Threads: each worker thread runs an epoll loop of its own over a
 * listening socket of its own (SO_REUSEPORT: the kernel spreads new
 * connections over them) and serves its connections whole: reads,
 * parses (resp.h), runs commands on its own snapshot of the served
 * version (version.h), writes. Nothing is shared between workers on the
 * hot path but counters.
 *
 * Files: server.c (sockets, loops, connections, limits), commands.c (the
 * command table, dispatch, connection commands), cmd_keys.c and
 * cmd_hashes.c (strings, scans, hashes), cursor.c (SCAN's cursors),
 * multi.c (transactions), info.c (INFO and the metrics), version.c (the
 * version served); resp*.c (the protocol and globs) are a library of
 * their own.
 */
#ifndef CAIRN_SERVE_H
#define CAIRN_SERVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cairn.h"
#include "resp.h"
#include "version.h"

#define SERVE_PASSWORD_MAX 512
#define SERVE_NAME_MAX 128

typedef struct serve_config {
    char host[64];             /* listen address (127.0.0.1 by default) */
    int port;                  /* 6380 by default */
    unsigned threads;          /* workers; 0: one per core */
    unsigned maxclients;       /* 10000 by default */
    uint32_t idle_timeout_s;   /* close a client idle this long; 0: never */
    size_t max_output;         /* a client whose unsent replies pass this is closed */
    resp_limits limits;        /* requests (resp.h) */
    char password[SERVE_PASSWORD_MAX + 1]; /* from --requirepass-file */
    bool has_password;
    char metrics_host[64];     /* --metrics; port 0: none */
    int metrics_port;
    unsigned keys_max;         /* KEYS refuses a keyspace with more keys */
    const char *spec;          /* for INFO */
} serve_config;

/* Counters, shared by the workers (relaxed atomics). */
#define SERVE_LATENCY_BUCKETS 24 /* powers of two of microseconds */
typedef struct serve_stats {
    _Atomic uint64_t connections_received, rejected_connections;
    _Atomic uint64_t clients;
    _Atomic uint64_t commands, errors, protocol_errors, unknown_commands, readonly_errors;
    _Atomic uint64_t bytes_in, bytes_out;
    _Atomic uint64_t keyspace_hits, keyspace_misses;
    _Atomic uint64_t latency_us[SERVE_LATENCY_BUCKETS];
    _Atomic uint64_t next_client_id;
    int64_t started_us;
} serve_stats;

typedef struct serve_server {
    serve_config cfg;
    cairn_db *db;
    serve_version version;
    serve_stats stats;
    _Atomic bool stopping;
    int wake_fd;               /* eventfd: wakes every worker to stop */
    int port;                  /* the port listened on (the one chosen for --listen HOST:0) */
    char run_id[41];
} serve_server;

typedef struct serve_multi serve_multi;

/* One client connection, owned by one worker. */
typedef struct serve_conn {
    int fd;
    uint64_t id;
    resp_parser parser;
    resp_out out;
    char *in;                  /* unparsed input */
    size_t in_len, in_cap;
    int64_t last_us;           /* last activity (monotonic microseconds) */
    int64_t created_us;
    bool authenticated;
    bool closing;              /* close once the replies are written */
    bool want_write;           /* registered for EPOLLOUT */
    unsigned db;               /* SELECT index */
    char name[SERVE_NAME_MAX + 1];
    char addr[64];
    const char *last_cmd;
    cairn_snapshot *pinned;    /* CAIRN.AT: this connection's own version */
    struct serve_multi *multi; /* MULTI: the commands queued (multi.c), or NULL */
    bool in_exec;              /* EXEC is running the queue: keep the view */
    bool watching;             /* WATCH: EXEC fails unless watched is still read */
    cairn_id watched;
    struct serve_conn *prev, *next; /* the worker's list */
} serve_conn;

/* One worker thread's state, passed to the commands. */
typedef struct serve_worker {
    serve_server *srv;
    serve_view view;           /* its snapshot of the served version */
    int epoll_fd, listen_fd;
    int spare_fd;              /* /dev/null, given up to accept a client past EMFILE */
    serve_conn *conns;         /* its connections */
    unsigned index;
    /* The databases (SELECT) of the version last asked: its keyspaces in
     * name order, cairn's own ('.' first) left out, the default first. */
    char **spaces;
    size_t n_spaces;
    cairn_id spaces_commit;
    bool spaces_valid;
} serve_worker;

/* Loads w->spaces for snap (unless they are snap's already). Returns 0 or
 * a cairn error. */
int serve_spaces_load(serve_worker *w, cairn_snapshot *snap);
void serve_spaces_free(serve_worker *w);
/* Frees a connection's MULTI queue (NULL: nothing). */
void serve_multi_free(serve_multi *m);

/* Runs the server until SIGTERM/SIGINT or SHUTDOWN-less stop: binds, starts
 * the workers and the metrics listener, waits. Returns 0 or an exit status
 * after printing why (cli.h). */
int serve_run(serve_server *srv);

/* commands.c: runs one parsed request of conn, appending the reply to
 * conn->out. Sets conn->closing for QUIT. */
void serve_command(serve_worker *w, serve_conn *conn, const resp_request *req);
/* Pipelined GETs run together: a client that sends many GETs at once gets
 * their keys read in one cairn_get_many (one tier batch per tree level
 * past the caches), with the same replies as one GET after another.
 * serve_get_batchable says whether req may join such a run (a GET with
 * its key in the input buffer, from a connection that may run it);
 * serve_get_run answers n of them, keys[i] being GET i's key. */
#define SERVE_GET_RUN 64 /* GETs in a run; also MGET's keys per cairn_get_many */
bool serve_get_batchable(const serve_conn *conn, const resp_request *req);
void serve_get_run_many(serve_worker *w, serve_conn *conn, const cairn_val *keys, size_t n);

/* info.c: appends the INFO text of section (NULL: the default sections)
 * to out as a verbatim/bulk reply. */
void serve_info(serve_worker *w, serve_conn *conn, const char *section, size_t len);
/* info.c: the metrics listener (Prometheus text over HTTP): started by
 * serve_run when cfg.metrics_port is set. */
int serve_metrics_start(serve_server *srv);
void serve_metrics_stop(serve_server *srv);

/* Monotonic microseconds. */
int64_t serve_now_us(void);

#endif /* CAIRN_SERVE_H */
