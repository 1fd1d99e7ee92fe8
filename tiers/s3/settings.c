/*
 * settings.c - resolves an S3 tier's credentials, region and endpoint from
 * the spec, the environment and the shared AWS files, in the AWS CLI's
 * order.
 *
 * Precedence, first match wins (the CLI's, as botocore implements it):
 *
 *   profile      spec "profile=" > AWS_PROFILE > "default"
 *   credentials  1. a profile named by the spec (the CLI's --profile): the
 *                   files only, even if AWS_ACCESS_KEY_ID is set;
 *                2. otherwise AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *                   (+ AWS_SESSION_TOKEN) from the environment;
 *                3. otherwise the profile's aws_access_key_id +
 *                   aws_secret_access_key (+ aws_session_token) from the
 *                   credentials file, then from the config file;
 *                4. none anywhere: anonymous (requests go unsigned).
 *   region       spec > AWS_REGION > AWS_DEFAULT_REGION > the profile's
 *                region in the config file > "us-east-1"
 *   endpoint     spec > AWS_ENDPOINT_URL_S3 > AWS_ENDPOINT_URL > the
 *                profile's endpoint_url in the config file >
 *                "https://s3.REGION.amazonaws.com"
 *   CA file      spec "ca_file=" (the CLI's --ca-bundle) > AWS_CA_BUNDLE >
 *                the profile's ca_bundle in the config file > none (the
 *                system's CA certificates)
 *
 * Files: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, whose sections
 * are "[name]"; AWS_CONFIG_FILE or ~/.aws/config, whose sections are
 * "[default]" and "[profile name]". As in the CLI, region, endpoint_url and
 * ca_bundle are read from the config file only. A missing file is no error; a
 * profile named by the spec or AWS_PROFILE that neither file holds is,
 * unless it is "default".
 *
 * The INI dialect (Python's configparser, which the CLI uses, cut down):
 * lines of at most SETTINGS_LINE_MAX bytes; '#' and ';' start comment
 * lines (not inline comments: "region = x # y" is "x # y"); "key = value"
 * or "key: value", whitespace around both trimmed, keys compared without
 * regard to case, section names exactly; a later duplicate key wins;
 * indented lines after a key continue it (the CLI's nested settings such as
 * "s3 =" are skipped, but a continued key this file reads is an error).
 *
 * Error details name the variable, file:line or profile, never a value
 * read for a key: a malformed line may be a pasted secret.
 */
#include "settings.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "error.h"

/* The longest line of a shared file, its newline excluded. Session tokens
 * run to a few kilobytes; settings.h holds 4095 bytes of one. */
#define SETTINGS_LINE_MAX 8192

/* What one file says for the profile being resolved. */
typedef struct profile_values {
    bool found; /* the file has the profile's section */
    /* The line of each key (0: not given), then its value. */
    unsigned access_line, secret_line, token_line, region_line, endpoint_line, ca_line;
    char access_key[sizeof(((cairn_s3_settings *)0)->access_key)];
    char secret_key[sizeof(((cairn_s3_settings *)0)->secret_key)];
    char session_token[sizeof(((cairn_s3_settings *)0)->session_token)];
    char region[sizeof(((cairn_s3_settings *)0)->region)];
    char endpoint[sizeof(((cairn_s3_settings *)0)->endpoint)];
    char ca_file[sizeof(((cairn_s3_settings *)0)->ca_file)];
} profile_values;

/* The keys read, where their value and line go in profile_values. */
static const struct ini_key {
    const char *name;
    size_t value_off, value_size, line_off;
} ini_keys[] = {
#define KEY(name, field, line)                                                    \
    {name, offsetof(profile_values, field), sizeof(((profile_values *)0)->field),  \
     offsetof(profile_values, line)}
    KEY("aws_access_key_id", access_key, access_line),
    KEY("aws_secret_access_key", secret_key, secret_line),
    KEY("aws_session_token", session_token, token_line),
    KEY("region", region, region_line),
    KEY("endpoint_url", endpoint, endpoint_line),
    KEY("ca_bundle", ca_file, ca_line),
#undef KEY
};

/* Everything a resolution works on, allocated once (it holds secrets and
 * is wiped before it is freed). */
typedef struct resolve_state {
    char cred_path[PATH_MAX];   /* "" when there is no such file to read */
    char config_path[PATH_MAX];
    profile_values cred, config;
    char line[SETTINGS_LINE_MAX + 2]; /* a line, its newline and a NUL */
} resolve_state;

/* ---------------------------------------------------------------- helpers */

/* The environment variable name, or NULL when unset or empty. */
static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

/* Copies src into dst[cap]; false if it does not fit. */
static bool copy(char *dst, size_t cap, const char *src)
{
    size_t len = strlen(src);

    if (len >= cap)
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* s with leading and trailing whitespace cut off (in place). */
static char *trim(char *s)
{
    char *end;

    while (is_space(*s))
        s++;
    end = s + strlen(s);
    while (end > s && is_space(end[-1]))
        *--end = '\0';
    return s;
}

/* The path of a shared file into path[PATH_MAX]: the variable's value
 * ("~/" expanded) or $HOME/home_rel; "" when neither is set. */
static int file_path(const char *var, const char *home_rel, char *path)
{
    const char *v = env(var), *home = env("HOME");
    int n;

    if (v && v[0] == '~' && v[1] == '/' && home)
        n = snprintf(path, PATH_MAX, "%s%s", home, v + 1);
    else if (v)
        n = snprintf(path, PATH_MAX, "%s", v);
    else if (home)
        n = snprintf(path, PATH_MAX, "%s/%s", home, home_rel);
    else
        n = snprintf(path, PATH_MAX, "%s", "");
    if (n < 0 || n >= PATH_MAX)
        return cairn__fail(CAIRN_BADSPEC, "s3: the path of %s is longer than %d bytes",
                           v ? var : "$HOME", PATH_MAX - 1);
    return 0;
}

/* ---------------------------------------------------------------- INI */

/* Whether section names the profile: "[name]" in the credentials file,
 * "[profile name]" (or "[default]" for default) in the config file. */
static bool section_matches(const char *section, bool config, const char *profile)
{
    if (!config)
        return !strcmp(section, profile);
    if (!strcmp(profile, "default") && !strcmp(section, "default"))
        return true;
    if (strncmp(section, "profile", 7) || !is_space(section[7]))
        return false;
    section += 7;
    while (is_space(*section))
        section++;
    return !strcmp(section, profile);
}

/* Reads the profile's keys from the file at path into *pv. A missing file
 * (or "" for a path) leaves *pv empty. */
static int parse_file(resolve_state *st, const char *path, bool config, const char *profile,
                      profile_values *pv)
{
    const struct ini_key *continued = NULL; /* our key that the last key line set */
    bool in_section = false, any_section = false, after_key = false;
    unsigned lineno = 0;
    char *line = st->line;
    int rc = 0;
    FILE *f;

    if (!path[0])
        return 0;
    if (!(f = fopen(path, "r"))) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        rc = -errno;
        return cairn__fail(rc, "s3: cannot open %s: %s", path, strerror(-rc));
    }
    while (fgets(line, SETTINGS_LINE_MAX + 2, f)) {
        size_t len = strlen(line);
        char *text, *sep, *key, *value;

        lineno++;
        if (len == SETTINGS_LINE_MAX + 1 && line[len - 1] != '\n') {
            rc = cairn__fail(CAIRN_BADSPEC, "s3: %s:%u: line longer than %d bytes", path,
                             lineno, SETTINGS_LINE_MAX);
            goto out;
        }
        text = trim(line);
        if (!*text) {
            after_key = false;
            continue;
        }
        if (*text == '#' || *text == ';')
            continue;
        if (is_space(line[0]) && after_key) {
            /* A continuation line of the last key. */
            if (continued) {
                rc = cairn__fail(CAIRN_BADSPEC,
                                 "s3: %s:%u: %s continues on an indented line (not supported)",
                                 path, lineno, continued->name);
                goto out;
            }
            continue;
        }
        after_key = false;
        continued = NULL;
        if (*text == '[') {
            len = strlen(text);
            if (len < 2 || text[len - 1] != ']') {
                rc = cairn__fail(CAIRN_BADSPEC, "s3: %s:%u: a section header lacks its ']'",
                                 path, lineno);
                goto out;
            }
            text[len - 1] = '\0';
            any_section = true;
            in_section = section_matches(trim(text + 1), config, profile);
            if (in_section)
                pv->found = true;
            continue;
        }
        sep = text + strcspn(text, "=:");
        if (!*sep || sep == text) {
            rc = cairn__fail(CAIRN_BADSPEC,
                             "s3: %s:%u: expected 'key = value', '[section]' or a comment",
                             path, lineno);
            goto out;
        }
        if (!any_section) {
            rc = cairn__fail(CAIRN_BADSPEC, "s3: %s:%u: a key before any [section]", path,
                             lineno);
            goto out;
        }
        *sep = '\0';
        key = trim(text);
        value = trim(sep + 1);
        after_key = true;
        if (!in_section)
            continue;
        for (size_t i = 0; i < sizeof(ini_keys) / sizeof(ini_keys[0]); i++) {
            const struct ini_key *k = &ini_keys[i];
            if (strcasecmp(key, k->name))
                continue;
            if (!copy((char *)pv + k->value_off, k->value_size, value)) {
                rc = cairn__fail(CAIRN_BADSPEC, "s3: %s:%u: %s is longer than %zu bytes", path,
                                 lineno, k->name, k->value_size - 1);
                goto out;
            }
            *(unsigned *)((char *)pv + k->line_off) = lineno;
            continued = k;
        }
    }
    if (ferror(f)) {
        rc = -(errno ? errno : EIO);
        rc = cairn__fail(rc, "s3: cannot read %s: %s", path, strerror(-rc));
    }
out:
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------- resolve */

/* Takes the credentials of *pv (read from path) into *s. Returns 1 if it
 * had some, 0 if none, or CAIRN_BADSPEC for half a pair. */
static int take_file_credentials(const profile_values *pv, const char *path, bool config,
                                 const char *profile, cairn_s3_settings *s)
{
    const char *prefix = config && strcmp(profile, "default") ? "profile " : "";

    if (!pv->access_line && !pv->secret_line)
        return 0;
    if (!pv->secret_line || !pv->access_line)
        return cairn__fail(CAIRN_BADSPEC, "s3: %s:%u: [%s%s] has %s but no %s", path,
                           pv->access_line ? pv->access_line : pv->secret_line, prefix,
                           profile,
                           pv->access_line ? "aws_access_key_id" : "aws_secret_access_key",
                           pv->access_line ? "aws_secret_access_key" : "aws_access_key_id");
    if (!pv->access_key[0] || !pv->secret_key[0])
        return cairn__fail(CAIRN_BADSPEC, "s3: %s:%u: [%s%s] has an empty %s", path,
                           pv->access_key[0] ? pv->secret_line : pv->access_line, prefix,
                           profile,
                           pv->access_key[0] ? "aws_secret_access_key" : "aws_access_key_id");
    /* The sizes are those of *s: these copies fit. */
    memcpy(s->access_key, pv->access_key, sizeof(s->access_key));
    memcpy(s->secret_key, pv->secret_key, sizeof(s->secret_key));
    memcpy(s->session_token, pv->session_token, sizeof(s->session_token));
    snprintf(s->source, sizeof(s->source), "%.*s [%s%.*s]", 400, path, prefix, 128, profile);
    return 1;
}

/* Takes the credentials of the environment into *s. Returns 1 if it had
 * some, 0 if none, or CAIRN_BADSPEC (half a pair, a value too long). */
static int take_env_credentials(cairn_s3_settings *s)
{
    const char *access = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
    const char *token = env("AWS_SESSION_TOKEN");

    if (!access && !secret)
        return 0;
    if (!access || !secret)
        return cairn__fail(CAIRN_BADSPEC, "s3: environment: %s is set but %s is not",
                           access ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                           access ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    if (!copy(s->access_key, sizeof(s->access_key), access))
        return cairn__fail(CAIRN_BADSPEC, "s3: environment: AWS_ACCESS_KEY_ID is longer "
                           "than %zu bytes", sizeof(s->access_key) - 1);
    if (!copy(s->secret_key, sizeof(s->secret_key), secret))
        return cairn__fail(CAIRN_BADSPEC, "s3: environment: AWS_SECRET_ACCESS_KEY is longer "
                           "than %zu bytes", sizeof(s->secret_key) - 1);
    if (token && !copy(s->session_token, sizeof(s->session_token), token))
        return cairn__fail(CAIRN_BADSPEC, "s3: environment: AWS_SESSION_TOKEN is longer "
                           "than %zu bytes", sizeof(s->session_token) - 1);
    snprintf(s->source, sizeof(s->source), "environment");
    return 1;
}

/* Fills dst[cap] from the first of two environment variables set, else
 * from the config file's value (given on line), else leaves it alone. */
static int take_setting(char *dst, size_t cap, const char *var1, const char *var2,
                        const char *file_value, unsigned line)
{
    const char *v = env(var1) ? var1 : env(var2) ? var2 : NULL;

    if (v) {
        if (!copy(dst, cap, env(v)))
            return cairn__fail(CAIRN_BADSPEC, "s3: environment: %s is longer than %zu bytes", v,
                               cap - 1);
        return 0;
    }
    if (line && file_value[0]) /* fits: the sizes are the same */
        memcpy(dst, file_value, strlen(file_value) + 1);
    return 0;
}

/* Fills s->ca_file and s->ca_source: the spec's ca_file when given, else
 * AWS_CA_BUNDLE, else the profile's ca_bundle in the config file (read
 * into st), else none. Errors: CAIRN_BADSPEC for a variable too long. */
static int take_ca_file(cairn_s3_settings *s, const resolve_state *st)
{
    const char *from_env = env("AWS_CA_BUNDLE");
    const char *prefix = strcmp(s->profile, "default") ? "profile " : "";

    if (s->ca_file[0]) {
        snprintf(s->ca_source, sizeof(s->ca_source), "ca_file in the spec");
    } else if (from_env) {
        if (!copy(s->ca_file, sizeof(s->ca_file), from_env))
            return cairn__fail(CAIRN_BADSPEC, "s3: environment: AWS_CA_BUNDLE is longer than "
                               "%zu bytes", sizeof(s->ca_file) - 1);
        snprintf(s->ca_source, sizeof(s->ca_source), "AWS_CA_BUNDLE");
    } else if (st->config.ca_line && st->config.ca_file[0]) {
        /* fits: the sizes are the same */
        memcpy(s->ca_file, st->config.ca_file, strlen(st->config.ca_file) + 1);
        snprintf(s->ca_source, sizeof(s->ca_source), "ca_bundle in %.400s:%u [%s%.128s]",
                 st->config_path, st->config.ca_line, prefix, s->profile);
    }
    return 0;
}

int cairn__s3_settings_resolve(cairn_s3_settings *s)
{
    bool spec_profile = s->profile[0] != '\0', named = spec_profile;
    const char *env_profile = env("AWS_PROFILE");
    resolve_state *st;
    int rc;

    cairn__s3_settings_wipe(s);
    s->anonymous = false;
    s->source[0] = '\0';
    s->ca_source[0] = '\0';
    if (!memchr(s->profile, '\0', sizeof(s->profile)) ||
        !memchr(s->region, '\0', sizeof(s->region)) ||
        !memchr(s->endpoint, '\0', sizeof(s->endpoint)) ||
        !memchr(s->ca_file, '\0', sizeof(s->ca_file)))
        return cairn__fail(CAIRN_BADSPEC, "s3: a profile, region, endpoint or ca_file option "
                                          "is too long");
    if (!spec_profile) {
        if (env_profile && !copy(s->profile, sizeof(s->profile), env_profile))
            return cairn__fail(CAIRN_BADSPEC, "s3: environment: AWS_PROFILE is longer than "
                               "%zu bytes", sizeof(s->profile) - 1);
        if (!env_profile)
            memcpy(s->profile, "default", sizeof("default"));
        named = env_profile != NULL;
    }
    if (!(st = cairn__calloc(1, sizeof(*st))))
        return cairn__fail(CAIRN_NOMEM, "s3: out of memory resolving settings");
    if ((rc = file_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", st->cred_path)) ||
        (rc = file_path("AWS_CONFIG_FILE", ".aws/config", st->config_path)) ||
        (rc = parse_file(st, st->cred_path, false, s->profile, &st->cred)) ||
        (rc = parse_file(st, st->config_path, true, s->profile, &st->config)))
        goto fail;
    /* "default" may be missing even when named (botocore's rule too). */
    if (named && strcmp(s->profile, "default") && !st->cred.found && !st->config.found) {
        rc = cairn__fail(CAIRN_BADSPEC, "s3: profile '%s' (from %s) is in neither %s nor %s",
                         s->profile, spec_profile ? "the spec" : "AWS_PROFILE",
                         st->cred_path[0] ? st->cred_path : "(no credentials file)",
                         st->config_path[0] ? st->config_path : "(no config file)");
        goto fail;
    }

    /* Credentials: first source that has any, as the header comment says. */
    rc = spec_profile ? 0 : take_env_credentials(s);
    if (!rc)
        rc = take_file_credentials(&st->cred, st->cred_path, false, s->profile, s);
    if (!rc)
        rc = take_file_credentials(&st->config, st->config_path, true, s->profile, s);
    if (rc < 0)
        goto fail;
    if (!rc) {
        s->anonymous = true;
        snprintf(s->source, sizeof(s->source), "none (anonymous)");
    }

    /* Region, then the endpoint that may depend on it. */
    if (!s->region[0]) {
        if ((rc = take_setting(s->region, sizeof(s->region), "AWS_REGION", "AWS_DEFAULT_REGION",
                               st->config.region, st->config.region_line)))
            goto fail;
        if (!s->region[0])
            memcpy(s->region, "us-east-1", sizeof("us-east-1"));
    }
    if (!s->endpoint[0]) {
        if ((rc = take_setting(s->endpoint, sizeof(s->endpoint), "AWS_ENDPOINT_URL_S3",
                               "AWS_ENDPOINT_URL", st->config.endpoint,
                               st->config.endpoint_line)))
            goto fail;
        if (!s->endpoint[0])
            snprintf(s->endpoint, sizeof(s->endpoint), "https://s3.%.63s.amazonaws.com",
                     s->region);
    }
    if ((rc = take_ca_file(s, st)))
        goto fail;
    explicit_bzero(st, sizeof(*st));
    cairn__free(st);
    return 0;

fail:
    explicit_bzero(st, sizeof(*st));
    cairn__free(st);
    cairn__s3_settings_wipe(s);
    s->anonymous = false;
    return rc;
}

void cairn__s3_settings_wipe(cairn_s3_settings *s)
{
    if (!s)
        return;
    explicit_bzero(s->access_key, sizeof(s->access_key));
    explicit_bzero(s->secret_key, sizeof(s->secret_key));
    explicit_bzero(s->session_token, sizeof(s->session_token));
}
