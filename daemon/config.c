/* config.c: the daemon config (daemon.md, "Daemon config") with libyaml's
 * document API.
 *
 * The file is read whole (at most 1 MiB), parsed into one YAML document and
 * walked key by key. Every problem is reported as "PATH:LINE:COLUMN:
 * message" (lines and columns from 1, pointing at the offending key or
 * value) and the walk goes on, so that one run shows every error. The
 * cross-field checks (endpoints without security, intake equal to events)
 * run at the end.
 *
 * Choices where daemon.md is silent:
 *   - A key given without a value ("intake:") is an error, not the default:
 *     leaving the key out is how one asks for the default.
 *   - Duplicate keys in one mapping are errors (libyaml allows them).
 *   - Endpoints: tcp://HOST:PORT with PORT 1 to 65535 (no wildcard port:
 *     clients must know where to connect), HOST a name, an IPv4 address or
 *     a bracketed IPv6 address; ipc://PATH and inproc://NAME are taken as
 *     written (an ipc path is not resolved against the config folder).
 *   - Local means tcp on 127.0.0.0/8, ::1 (also ::ffff:127.x.y.z) or
 *     "localhost", or ipc:// or inproc://. "*", 0.0.0.0 and interface names
 *     are not local.
 *   - ${CREDENTIALS_DIRECTORY} and ${STATE_DIRECTORY} are the only variables
 *     expanded; when systemd lists several folders (colon-separated) the
 *     first is used. Any other ${...}, or one of the two not set, is an
 *     error.
 *   - security.clients may be left out or empty: that is valid but earns a
 *     warning, since no client can connect. secret_key_file is required; the
 *     file itself is read by the daemon at start, not here.
 *   - A public key must be 40 Z85 characters that decode (each group of 5
 *     at most 2^32 - 1).
 *   - A file with several YAML documents is an error. */
#include "config.h"
#include "keys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "referral.h"

#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_PATH_MAX 4096
#define DEFAULT_INTAKE "tcp://127.0.0.1:5570"
#define DEFAULT_EVENTS "tcp://127.0.0.1:5571"
#define DEFAULT_DATABASE "referrald.db"
#define DEFAULT_RETENTION_S (365LL * 86400)
#define DEFAULT_AUDIT_RETENTION_S (730LL * 86400)
#define SUGGEST_MAX 2

static const char *const role_names[] = {
        [RD_ROLE_PARTNER] = "partner",
        [RD_ROLE_CONNECTOR] = "connector",
        [RD_ROLE_COORDINATOR] = "coordinator",
        [RD_ROLE_MONITOR] = "monitor",
};

static const char *const top_keys[] = {"intake",         "events",    "database",
                                       "routing",        "retention", "audit_retention",
                                       "journal_events", "security"};
static const char *const security_keys[] = {"secret_key_file", "clients"};
static const char *const client_keys[] = {"id", "role", "public_key"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *rd_role_name(enum rd_role role)
{
        if ((unsigned)role >= COUNT(role_names))
                return "unknown";
        return role_names[role];
}

/* ---- endpoints ---------------------------------------------------------- */

/* Split a tcp endpoint's rest "HOST:PORT" into HOST (without brackets)
 * and PORT. Returns 0, or -EINVAL. */
static int tcp_split(const char *rest, char *host, size_t host_size, const char **port)
{
        const char *colon;
        size_t n;

        if (rest[0] == '[') {
                const char *close = strchr(rest, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                n = (size_t)(close - rest - 1);
                if (n == 0 || n >= host_size)
                        return -EINVAL;
                memcpy(host, rest + 1, n);
                host[n] = '\0';
                *port = close + 2;
                return 0;
        }
        colon = strrchr(rest, ':');
        if (!colon)
                return -EINVAL;
        n = (size_t)(colon - rest);
        if (n == 0 || n >= host_size || memchr(rest, ':', n))
                return -EINVAL;
        memcpy(host, rest, n);
        host[n] = '\0';
        *port = colon + 1;
        return 0;
}

static bool endpoint_valid(const char *s)
{
        if (strncmp(s, "ipc://", 6) == 0)
                return s[6] != '\0';
        if (strncmp(s, "inproc://", 9) == 0)
                return s[9] != '\0';
        if (strncmp(s, "tcp://", 6) == 0) {
                char host[256];
                const char *port;
                long p = 0;

                if (tcp_split(s + 6, host, sizeof host, &port))
                        return false;
                for (const char *h = host; *h; h++)
                        if (*h <= ' ' || *h == '/' || *h == 0x7f)
                                return false;
                if (port[0] == '\0' || strlen(port) > 5)
                        return false;
                for (const char *c = port; *c; c++) {
                        if (*c < '0' || *c > '9')
                                return false;
                        p = p * 10 + (*c - '0');
                }
                return p >= 1 && p <= 65535;
        }
        return false;
}

int rd_endpoint_is_local(const char *endpoint)
{
        char host[256];
        const char *port;
        struct in_addr a4;
        struct in6_addr a6;

        if (!endpoint)
                return 0;
        if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
                return 1;
        if (strncmp(endpoint, "tcp://", 6) != 0)
                return 0;
        if (tcp_split(endpoint + 6, host, sizeof host, &port))
                return 0;
        if (strcasecmp(host, "localhost") == 0)
                return 1;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (inet_pton(AF_INET6, host, &a6) == 1) {
                if (IN6_IS_ADDR_LOOPBACK(&a6))
                        return 1;
                return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
        }
        return 0;
}

/* ---- defaults ------------------------------------------------------------ */

/* The first folder of a systemd directory variable, or NULL when unset. */
static const char *env_dir(const char *name, char *buf, size_t size)
{
        const char *v = getenv(name);
        size_t n;

        if (!v || !v[0])
                return NULL;
        n = strcspn(v, ":");
        if (n == 0 || n >= size)
                return NULL;
        memcpy(buf, v, n);
        buf[n] = '\0';
        return buf;
}

/* DIR/NAME, or NAME when DIR is "." or NULL. */
static char *path_join(const char *dir, const char *name)
{
        char *out;
        size_t d;

        if (!dir || strcmp(dir, ".") == 0 || name[0] == '/')
                return strdup(name);
        d = strlen(dir);
        if (asprintf(&out, "%s%s%s", dir, d > 0 && dir[d - 1] == '/' ? "" : "/", name) < 0)
                return NULL;
        return out;
}

/* A config with every default; DIR is where a default database goes when
 * $STATE_DIRECTORY is not set (NULL: the current folder). */
static struct rd_config *config_new(const char *dir)
{
        struct rd_config *c = calloc(1, sizeof *c);
        char state[CONFIG_PATH_MAX];
        const char *sd;

        if (!c)
                return NULL;
        c->intake = strdup(DEFAULT_INTAKE);
        c->events = strdup(DEFAULT_EVENTS);
        sd = env_dir("STATE_DIRECTORY", state, sizeof state);
        c->database = path_join(sd ? sd : dir, DEFAULT_DATABASE);
        c->retention_s = DEFAULT_RETENTION_S;
        c->audit_retention_s = DEFAULT_AUDIT_RETENTION_S;
        c->journal_events = RD_JOURNAL_ALL;
        if (!c->intake || !c->events || !c->database) {
                rd_config_free(c);
                return NULL;
        }
        return c;
}

int rd_config_default(struct rd_config **out)
{
        struct rd_config *c = config_new(NULL);
        if (!c)
                return -ENOMEM;
        *out = c;
        return 0;
}

void rd_config_free(struct rd_config *config)
{
        if (!config)
                return;
        free(config->source);
        free(config->intake);
        free(config->events);
        free(config->database);
        free(config->routing);
        free(config->secret_key_file);
        free(config->clients);
        free(config);
}

/* ---- the loader ------------------------------------------------------------ */

struct loader {
        const char *path; /* as given: the FILE of every diagnostic */
        char *dir;        /* PATH's folder, for relative paths */
        struct rd_diag *diag;
        yaml_document_t *doc;
        struct rd_config *cfg;
        size_t errors;
        bool oom;
        bool has_intake, has_events;
        yaml_mark_t intake_mark, events_mark;
        /* clients: where each id and key was, for duplicate messages */
        size_t *id_lines, *key_lines;
};

static void report(struct loader *ld, enum rd_diag_severity sev, yaml_mark_t m, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

static void report(struct loader *ld, enum rd_diag_severity sev, yaml_mark_t m, const char *fmt,
                   ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (rd_diag_add(ld->diag, sev, ld->path, m.line + 1, m.column + 1, "%s", msg))
                ld->oom = true;
        if (sev == RD_DIAG_ERROR)
                ld->errors++;
}

#define ERR(ld, m, ...) report((ld), RD_DIAG_ERROR, (m), __VA_ARGS__)

static yaml_node_t *node(struct loader *ld, int index)
{
        return yaml_document_get_node(ld->doc, index);
}

static bool is_null(const yaml_node_t *n)
{
        const char *v;
        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        v = (const char *)n->data.scalar.value;
        return !v[0] || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
               !strcmp(v, "NULL");
}

static const char *node_kind(const yaml_node_t *n)
{
        switch (n->type) {
        case YAML_MAPPING_NODE: return "a mapping";
        case YAML_SEQUENCE_NODE: return "a list";
        default: return "a value";
        }
}

/* The string value of V, or NULL after reporting why it has none. NAME is
 * the key's path for messages. */
static const char *scalar(struct loader *ld, const char *name, const yaml_node_t *v, bool optional)
{
        if (v->type != YAML_SCALAR_NODE) {
                ERR(ld, v->start_mark, "%s must be a single value, not %s", name, node_kind(v));
                return NULL;
        }
        if (is_null(v)) {
                if (optional)
                        ERR(ld, v->start_mark,
                            "%s has no value; leave the key out to use the default", name);
                else
                        ERR(ld, v->start_mark, "%s has no value", name);
                return NULL;
        }
        if (strlen((const char *)v->data.scalar.value) != v->data.scalar.length) {
                ERR(ld, v->start_mark, "%s must not contain a NUL character", name);
                return NULL;
        }
        return (const char *)v->data.scalar.value;
}

static size_t edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b), row[65];

        if (la > 64 || lb > 64)
                return (size_t)-1;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t best = diag + (a[i - 1] != b[j - 1]);
                        if (up + 1 < best)
                                best = up + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

static void unknown_key(struct loader *ld, yaml_mark_t m, const char *key, const char *where,
                        const char *const *known, size_t n)
{
        const char *best = NULL;
        size_t best_d = SUGGEST_MAX + 1;
        char list[256] = "";

        for (size_t i = 0; i < n; i++) {
                size_t d = edit_distance(key, known[i]);
                if (d < best_d) {
                        best_d = d;
                        best = known[i];
                }
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                         known[i]);
        }
        if (best)
                ERR(ld, m, "unknown key '%.64s'%s; did you mean '%s'?", key, where, best);
        else
                ERR(ld, m, "unknown key '%.64s'%s; the known keys are %s", key, where, list);
}

typedef void key_fn(struct loader *ld, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx);

/* Walk the mapping MAP: report non-scalar, duplicate and unknown keys, and
 * call FN for every known key. WHERE (" in security", ...) goes into the
 * messages. */
static void walk(struct loader *ld, yaml_node_t *map, const char *where, const char *const *known,
                 size_t n_known, key_fn *fn, void *ctx)
{
        yaml_node_pair_t *start = map->data.mapping.pairs.start;
        yaml_node_pair_t *top = map->data.mapping.pairs.top;

        for (yaml_node_pair_t *p = start; p < top; p++) {
                yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
                const char *key;
                bool dup = false, is_known = false;

                if (!k || !v)
                        continue;
                if (k->type != YAML_SCALAR_NODE) {
                        ERR(ld, k->start_mark, "keys must be plain names, not %s%s", node_kind(k),
                            where);
                        continue;
                }
                key = (const char *)k->data.scalar.value;
                for (yaml_node_pair_t *q = start; q < p && !dup; q++) {
                        yaml_node_t *qk = node(ld, q->key);
                        if (qk && qk->type == YAML_SCALAR_NODE &&
                            strcmp((const char *)qk->data.scalar.value, key) == 0) {
                                ERR(ld, k->start_mark,
                                    "duplicate key '%.64s'%s (first at line %zu)", key, where,
                                    (size_t)qk->start_mark.line + 1);
                                dup = true;
                        }
                }
                if (dup)
                        continue;
                for (size_t i = 0; i < n_known; i++)
                        if (strcmp(key, known[i]) == 0)
                                is_known = true;
                if (!is_known) {
                        unknown_key(ld, k->start_mark, key, where, known, n_known);
                        continue;
                }
                fn(ld, key, k, v, ctx);
        }
}

/* Expand ${CREDENTIALS_DIRECTORY} and ${STATE_DIRECTORY} in VALUE and
 * resolve it against the config's folder. Returns a new string, or NULL
 * after reporting. */
static char *config_path(struct loader *ld, const char *name, const yaml_node_t *v,
                         const char *value)
{
        char buf[CONFIG_PATH_MAX];
        size_t n = 0;
        char *out;

        if (value[0] == '\0') {
                ERR(ld, v->start_mark, "%s must be a path, not an empty string", name);
                return NULL;
        }
        for (const char *p = value; *p;) {
                const char *add = p;
                size_t len = 1;
                char dirbuf[CONFIG_PATH_MAX];

                if (p[0] == '$' && p[1] == '{') {
                        const char *close = strchr(p, '}');
                        char var[64];
                        size_t vl = close ? (size_t)(close - p - 2) : 0;

                        if (!close || vl == 0 || vl >= sizeof var) {
                                ERR(ld, v->start_mark,
                                    "%s: only ${CREDENTIALS_DIRECTORY} and "
                                    "${STATE_DIRECTORY} are expanded in a path",
                                    name);
                                return NULL;
                        }
                        memcpy(var, p + 2, vl);
                        var[vl] = '\0';
                        if (strcmp(var, "CREDENTIALS_DIRECTORY") != 0 &&
                            strcmp(var, "STATE_DIRECTORY") != 0) {
                                ERR(ld, v->start_mark,
                                    "%s: only ${CREDENTIALS_DIRECTORY} and "
                                    "${STATE_DIRECTORY} are expanded in a path",
                                    name);
                                return NULL;
                        }
                        add = env_dir(var, dirbuf, sizeof dirbuf);
                        if (!add) {
                                ERR(ld, v->start_mark,
                                    "%s uses ${%s}, which is not set in the environment "
                                    "(systemd sets it for the service)",
                                    name, var);
                                return NULL;
                        }
                        len = strlen(add);
                        p = close + 1;
                } else {
                        p++;
                }
                if (n + len >= sizeof buf) {
                        ERR(ld, v->start_mark, "%s is too long for a path", name);
                        return NULL;
                }
                memcpy(buf + n, add, len);
                n += len;
        }
        buf[n] = '\0';
        out = path_join(ld->dir, buf);
        if (!out)
                ld->oom = true;
        return out;
}

static void set_string(char **slot, char *value)
{
        if (!value)
                return;
        free(*slot);
        *slot = value;
}

/* ---- security.clients ------------------------------------------------------ */

struct client_ctx {
        yaml_node_t *id, *role, *key;
};

static void client_key(struct loader *ld, const char *key, yaml_node_t *k, yaml_node_t *v,
                       void *ctx)
{
        struct client_ctx *c = ctx;
        (void)ld;
        (void)k;
        if (strcmp(key, "id") == 0)
                c->id = v;
        else if (strcmp(key, "role") == 0)
                c->role = v;
        else
                c->key = v;
}

static void load_client(struct loader *ld, size_t i, yaml_node_t *item)
{
        struct rd_config *cfg = ld->cfg;
        struct client_ctx c = {0};
        struct rd_client cl;
        char name[64];
        const char *id = NULL, *role = NULL, *key = NULL;
        bool ok = true;
        size_t before = ld->errors;

        memset(&cl, 0, sizeof cl);
        if (item->type != YAML_MAPPING_NODE) {
                ERR(ld, item->start_mark,
                    "security.clients[%zu] must be a mapping {id, role, public_key}", i);
                return;
        }
        walk(ld, item, " in a client", client_keys, COUNT(client_keys), client_key, &c);

        snprintf(name, sizeof name, "security.clients[%zu].id", i);
        if (!c.id)
                ERR(ld, item->start_mark, "security.clients[%zu] needs an id", i);
        else if ((id = scalar(ld, name, c.id, false)) && !rd_id_valid(id)) {
                ERR(ld, c.id->start_mark,
                    "%s must be an id: 1 to 64 characters from a-z, 0-9, '_' and '-', "
                    "starting with a letter or digit",
                    name);
                id = NULL;
        }

        snprintf(name, sizeof name, "security.clients[%zu].role", i);
        if (!c.role)
                ERR(ld, item->start_mark, "security.clients[%zu] needs a role", i);
        else if ((role = scalar(ld, name, c.role, false))) {
                bool found = false;
                for (size_t r = 0; r < COUNT(role_names); r++) {
                        if (strcmp(role, role_names[r]) == 0) {
                                cl.role = (enum rd_role)r;
                                found = true;
                        }
                }
                if (!found) {
                        ERR(ld, c.role->start_mark,
                            "%s must be partner, connector, coordinator or monitor", name);
                        role = NULL;
                }
        }

        snprintf(name, sizeof name, "security.clients[%zu].public_key", i);
        if (!c.key)
                ERR(ld, item->start_mark, "security.clients[%zu] needs a public_key", i);
        else if ((key = scalar(ld, name, c.key, false)) && !rd_key_valid(key)) {
                ERR(ld, c.key->start_mark,
                    "%s must be a CURVE public key: 40 Z85 characters (referralctl keygen "
                    "makes one)",
                    name);
                key = NULL;
        }

        if (id) {
                for (size_t j = 0; j < cfg->n_clients; j++) {
                        if (strcmp(cfg->clients[j].id, id) == 0) {
                                ERR(ld, c.id->start_mark,
                                    "duplicate client id '%s' (first at line %zu); ids must "
                                    "be unique",
                                    id, ld->id_lines[j]);
                                ok = false;
                        }
                }
        }
        if (key) {
                for (size_t j = 0; j < cfg->n_clients; j++) {
                        if (strcmp(cfg->clients[j].public_key, key) == 0) {
                                ERR(ld, c.key->start_mark,
                                    "this public_key is also the key of client '%s' (line "
                                    "%zu); each client needs its own key",
                                    cfg->clients[j].id, ld->key_lines[j]);
                                ok = false;
                        }
                }
        }
        if (!ok || !id || !role || !key || ld->errors != before)
                return;

        {
                struct rd_client *cs = realloc(cfg->clients, (cfg->n_clients + 1) * sizeof *cs);
                size_t *il = realloc(ld->id_lines, (cfg->n_clients + 1) * sizeof *il);
                size_t *kl;
                if (cs)
                        cfg->clients = cs;
                if (il)
                        ld->id_lines = il;
                kl = il ? realloc(ld->key_lines, (cfg->n_clients + 1) * sizeof *kl) : NULL;
                if (kl)
                        ld->key_lines = kl;
                if (!cs || !il || !kl) {
                        ld->oom = true;
                        return;
                }
        }
        snprintf(cl.id, sizeof cl.id, "%s", id);
        snprintf(cl.public_key, sizeof cl.public_key, "%s", key);
        ld->id_lines[cfg->n_clients] = c.id->start_mark.line + 1;
        ld->key_lines[cfg->n_clients] = c.key->start_mark.line + 1;
        cfg->clients[cfg->n_clients++] = cl;
}

struct security_ctx {
        bool has_secret, has_clients;
};

static void security_key(struct loader *ld, const char *key, yaml_node_t *k, yaml_node_t *v,
                         void *ctx)
{
        struct security_ctx *s = ctx;
        (void)k;

        if (strcmp(key, "secret_key_file") == 0) {
                const char *val = scalar(ld, "security.secret_key_file", v, false);
                s->has_secret = true;
                if (val)
                        set_string(&ld->cfg->secret_key_file,
                                   config_path(ld, "security.secret_key_file", v, val));
                return;
        }
        s->has_clients = true;
        if (v->type != YAML_SEQUENCE_NODE) {
                ERR(ld, v->start_mark,
                    "security.clients must be a list of {id, role, public_key}, not %s",
                    is_null(v) ? "empty" : node_kind(v));
                return;
        }
        if (v->data.sequence.items.start == v->data.sequence.items.top)
                report(ld, RD_DIAG_WARNING, v->start_mark,
                       "security.clients is empty: no client can connect");
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
                yaml_node_t *item = node(ld, *it);
                if (item)
                        load_client(ld, (size_t)(it - v->data.sequence.items.start), item);
        }
}

/* ---- the top level --------------------------------------------------------- */

static void top_key(struct loader *ld, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
        struct rd_config *cfg = ld->cfg;
        const char *val;
        (void)ctx;

        if (strcmp(key, "security") == 0) {
                struct security_ctx s = {0};
                if (v->type != YAML_MAPPING_NODE) {
                        ERR(ld, v->start_mark,
                            "security must be a mapping with secret_key_file and clients, not "
                            "%s",
                            is_null(v) ? "empty" : node_kind(v));
                        cfg->has_security = true; /* do not add endpoint errors on top */
                        return;
                }
                cfg->has_security = true;
                walk(ld, v, " in security", security_keys, COUNT(security_keys), security_key, &s);
                if (!s.has_secret)
                        ERR(ld, k->start_mark,
                            "security needs secret_key_file: the path of the server's Z85 "
                            "secret key");
                if (!s.has_clients)
                        report(ld, RD_DIAG_WARNING, k->start_mark,
                               "security has no clients: no client can connect");
                return;
        }

        val = scalar(ld, key, v, true);
        if (!val)
                return;

        if (strcmp(key, "intake") == 0 || strcmp(key, "events") == 0) {
                bool intake = key[0] == 'i';
                char *copy;
                if (!endpoint_valid(val)) {
                        ERR(ld, v->start_mark,
                            "%s must be a ZeroMQ endpoint: tcp://HOST:PORT (port 1 to 65535), "
                            "ipc://PATH or inproc://NAME",
                            key);
                        return;
                }
                copy = strdup(val);
                if (!copy) {
                        ld->oom = true;
                        return;
                }
                set_string(intake ? &cfg->intake : &cfg->events, copy);
                if (intake) {
                        ld->has_intake = true;
                        ld->intake_mark = v->start_mark;
                } else {
                        ld->has_events = true;
                        ld->events_mark = v->start_mark;
                }
        } else if (strcmp(key, "database") == 0) {
                set_string(&cfg->database, config_path(ld, key, v, val));
        } else if (strcmp(key, "routing") == 0) {
                set_string(&cfg->routing, config_path(ld, key, v, val));
        } else if (strcmp(key, "retention") == 0 || strcmp(key, "audit_retention") == 0) {
                int64_t s;
                if (rd_duration_parse(val, &s)) {
                        ERR(ld, v->start_mark,
                            "%s must be a duration: a positive whole number and a unit s, m, h "
                            "or d (e.g. %s)",
                            key, key[0] == 'r' ? "365d" : "730d");
                        return;
                }
                if (key[0] == 'r')
                        cfg->retention_s = s;
                else
                        cfg->audit_retention_s = s;
        } else if (strcmp(key, "journal_events") == 0) {
                if (strcmp(val, "all") == 0)
                        cfg->journal_events = RD_JOURNAL_ALL;
                else if (strcmp(val, "decisions") == 0)
                        cfg->journal_events = RD_JOURNAL_DECISIONS;
                else if (strcmp(val, "none") == 0)
                        cfg->journal_events = RD_JOURNAL_NONE;
                else
                        ERR(ld, v->start_mark, "journal_events must be all, decisions or none");
        }
}

/* The checks that need the whole file. */
static void cross_checks(struct loader *ld)
{
        struct rd_config *cfg = ld->cfg;
        yaml_mark_t top = {0, 0, 0};

        if (strcmp(cfg->intake, cfg->events) == 0)
                ERR(ld, ld->has_events ? ld->events_mark : ld->intake_mark,
                    "events must be another endpoint than intake");
        if (cfg->has_security)
                return;
        if (!rd_endpoint_is_local(cfg->intake))
                ERR(ld, ld->has_intake ? ld->intake_mark : top,
                    "intake %s is not a local endpoint: security must be configured to listen "
                    "beyond loopback (127.0.0.0/8, ::1, localhost, ipc://, inproc://)",
                    cfg->intake);
        if (!rd_endpoint_is_local(cfg->events))
                ERR(ld, ld->has_events ? ld->events_mark : top,
                    "events %s is not a local endpoint: security must be configured to listen "
                    "beyond loopback (127.0.0.0/8, ::1, localhost, ipc://, inproc://)",
                    cfg->events);
}

/* libyaml's problem position; reader errors only have a byte offset. */
static yaml_mark_t problem_mark(const yaml_parser_t *p, const char *buf, size_t len)
{
        yaml_mark_t m = p->problem_mark;

        if (p->error == YAML_READER_ERROR) {
                size_t off = p->problem_offset < len ? p->problem_offset : len;
                m.line = 0;
                m.column = 0;
                for (size_t i = 0; i < off; i++) {
                        if (buf[i] == '\n') {
                                m.line++;
                                m.column = 0;
                        } else {
                                m.column++;
                        }
                }
        }
        return m;
}

static void syntax_error(struct loader *ld, const yaml_parser_t *p, const char *buf, size_t len)
{
        yaml_mark_t m = problem_mark(p, buf, len);

        if (p->error == YAML_MEMORY_ERROR) {
                ld->oom = true;
                return;
        }
        if (p->context)
                ERR(ld, m, "YAML syntax error %s: %s", p->context,
                    p->problem ? p->problem : "unknown problem");
        else
                ERR(ld, m, "YAML syntax error: %s", p->problem ? p->problem : "unknown problem");
}

static int read_file(const char *path, char **buf, size_t *len)
{
        struct stat st;
        char *b = NULL;
        size_t n = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        int rc;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                rc = -errno;
                goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
                rc = -EINVAL;
                goto fail;
        }
        b = malloc(CONFIG_FILE_MAX + 1);
        if (!b) {
                rc = -ENOMEM;
                goto fail;
        }
        for (;;) {
                ssize_t r = read(fd, b + n, CONFIG_FILE_MAX + 1 - n);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        rc = -errno;
                        goto fail;
                }
                if (r == 0)
                        break;
                n += (size_t)r;
                if (n > CONFIG_FILE_MAX) {
                        rc = -EFBIG;
                        goto fail;
                }
        }
        close(fd);
        *buf = b;
        *len = n;
        return 0;
fail:
        close(fd);
        free(b);
        return rc;
}

static char *folder_of(const char *path)
{
        const char *slash = strrchr(path, '/');
        if (!slash)
                return strdup(".");
        if (slash == path)
                return strdup("/");
        return strndup(path, (size_t)(slash - path));
}

int rd_config_load(const char *path, struct rd_config **out, struct rd_diag *diag)
{
        struct loader ld;
        yaml_parser_t parser;
        yaml_document_t doc;
        char *buf = NULL;
        size_t len = 0;
        int rc;

        if (!path || !out)
                return -EINVAL;
        rc = read_file(path, &buf, &len);
        if (rc) {
                if (rc == -EFBIG)
                        rd_diag_add(diag, RD_DIAG_ERROR, path, 0, 0,
                                    "cannot read: the file is larger than %d bytes",
                                    CONFIG_FILE_MAX);
                else if (rc == -EINVAL)
                        rd_diag_add(diag, RD_DIAG_ERROR, path, 0, 0,
                                    "cannot read: not a regular file");
                else
                        rd_diag_add(diag, RD_DIAG_ERROR, path, 0, 0, "cannot read: %s",
                                    strerror(-rc));
                return rc;
        }

        memset(&ld, 0, sizeof ld);
        ld.path = path;
        ld.diag = diag;
        ld.dir = folder_of(path);
        ld.cfg = ld.dir ? config_new(ld.dir) : NULL;
        if (ld.cfg)
                ld.cfg->source = strdup(path);
        if (!ld.cfg || !ld.cfg->source || !yaml_parser_initialize(&parser)) {
                free(buf);
                free(ld.dir);
                rd_config_free(ld.cfg);
                return -ENOMEM;
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

        if (!yaml_parser_load(&parser, &doc)) {
                syntax_error(&ld, &parser, buf, len);
        } else {
                yaml_node_t *root = yaml_document_get_root_node(&doc);
                ld.doc = &doc;
                if (root && root->type == YAML_MAPPING_NODE) {
                        walk(&ld, root, "", top_keys, COUNT(top_keys), top_key, NULL);
                } else if (root && !is_null(root)) {
                        ERR(&ld, root->start_mark,
                            "the daemon config must be a mapping of keys (intake, events, "
                            "database, routing, retention, audit_retention, journal_events, "
                            "security), not %s",
                            node_kind(root));
                }
                yaml_document_delete(&doc);
                ld.doc = NULL;
                if (root) {
                        /* one document only */
                        if (!yaml_parser_load(&parser, &doc)) {
                                syntax_error(&ld, &parser, buf, len);
                        } else {
                                yaml_node_t *again = yaml_document_get_root_node(&doc);
                                if (again)
                                        ERR(&ld, doc.start_mark,
                                            "the daemon config must be one YAML document; "
                                            "remove the second one");
                                yaml_document_delete(&doc);
                        }
                }
                cross_checks(&ld);
        }
        yaml_parser_delete(&parser);
        free(buf);
        free(ld.dir);
        free(ld.id_lines);
        free(ld.key_lines);

        if (ld.oom) {
                rd_config_free(ld.cfg);
                return -ENOMEM;
        }
        if (ld.errors > 0) {
                rd_config_free(ld.cfg);
                return -EINVAL;
        }
        *out = ld.cfg;
        return 0;
}
