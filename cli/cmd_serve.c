/*
 * cmd_serve.c - `cairn serve`: the options into a serve_config, the
 * version to serve, then the server (cli/serve/, docs/serve.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "cli.h"
#include "serve.h"

#define DEFAULT_PORT 6380
#define DEFAULT_MAXCLIENTS 10000
#define DEFAULT_IDLE_S 300
#define DEFAULT_KEYS_MAX 100000
#define DEFAULT_MAX_OUTPUT (256u << 20)

/* "HOST:PORT" into host and *port. */
static bool parse_addr(const char *text, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(text, ':');
    char *end;
    if (!colon || colon == text || (size_t)(colon - text) >= cap)
        return false;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535)
        return false;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = 0;
    *port = (int)p;
    return true;
}

/* The password: the first line of path, which only its owner may read. */
static int read_password(const char *path, serve_config *cfg)
{
    struct stat st;
    FILE *f = fopen(path, "r");
    if (!f)
        return cli_say(EXIT_USAGE, "serve: --requirepass-file %s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077))
        fprintf(stderr, "cairn serve: warning: %s may be read by others (mode %03o)\n", path,
                (unsigned)(st.st_mode & 0777));
    char line[SERVE_PASSWORD_MAX + 2];
    bool ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    if (!ok)
        return cli_say(EXIT_USAGE, "serve: --requirepass-file %s is empty", path);
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0] || strlen(line) > SERVE_PASSWORD_MAX)
        return cli_say(EXIT_USAGE, "serve: --requirepass-file %s: the first line must hold a "
                       "password of 1 to %d bytes", path, SERVE_PASSWORD_MAX);
    memcpy(cfg->password, line, strlen(line) + 1); /* fits: checked above */
    cfg->has_password = true;
    return 0;
}

int cmd_serve(cli *c)
{
    static serve_server srv; /* large; one per process */
    serve_config *cfg = &srv.cfg;
    int rc;

    memset(&srv, 0, sizeof(srv));
    snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
    cfg->port = DEFAULT_PORT;
    if (c->listen && !parse_addr(c->listen, cfg->host, sizeof(cfg->host), &cfg->port))
        return cli_usage("--listen needs HOST:PORT (an IPv4 address and a port), not '%s'",
                         c->listen);
    if (c->metrics && (!parse_addr(c->metrics, cfg->metrics_host, sizeof(cfg->metrics_host),
                                   &cfg->metrics_port) || cfg->metrics_port == 0))
        return cli_usage("--metrics needs HOST:PORT (a port above 0), not '%s'", c->metrics);
    if ((c->seen & OPT_AT) && (c->seen & OPT_REF))
        return cli_usage("give --ref or --at, not both");
    if ((c->seen & OPT_AT) && (c->seen & OPT_FOLLOW))
        return cli_usage("--follow follows a branch (--ref); --at serves one version, fixed");
    cfg->threads = (c->seen & OPT_THREADS) ? (unsigned)c->threads : 0;
    cfg->maxclients = (c->seen & OPT_MAXCLIENTS) ? (unsigned)c->maxclients : DEFAULT_MAXCLIENTS;
    cfg->idle_timeout_s = (c->seen & OPT_IDLE) ? (uint32_t)c->idle_s : DEFAULT_IDLE_S;
    cfg->keys_max = (c->seen & OPT_KEYS_MAX) ? (unsigned)c->keys_max : DEFAULT_KEYS_MAX;
    cfg->max_output = DEFAULT_MAX_OUTPUT;
    cfg->limits = resp_limits_default();
    cfg->spec = c->spec;
    if (c->passfile && (rc = read_password(c->passfile, cfg)))
        return rc;
    uint8_t rnd[20];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        memset(rnd, 0, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(srv.run_id + 2 * i, 3, "%02x", rnd[i]);
    srv.db = c->db;
    if ((rc = serve_version_start(&srv.version, c->db, c->at, c->ref,
                                  (c->seen & OPT_FOLLOW) ? (uint32_t)c->follow_s : 0)))
        return cli_error(rc, "serve: the version to serve");
    rc = serve_run(&srv);
    serve_version_stop(&srv.version);
    return rc;
}
