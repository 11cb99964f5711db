/* config.c: the daemon config (daemon.md, "Daemon config").
 *
 * lib/yaml_reader reads the file (the limits of every YAML file, one
 * document, positions, keys and types); this walks it key by key with what
 * the keys mean. Every problem is reported as "PATH:LINE:COLUMN:
 * message" (lines and columns from 1, pointing at the offending key or
 * value) and the walk goes on, so that one run shows every error. The
 * cross-field checks (endpoints without security, intake equal to events)
 * run at the end.
 *
 * Choices where daemon.md is silent:
 *   - A key given without a value ("intake:") is an error, not the default:
 *     leaving the key out is how one asks for the default.
 *   - Endpoints: tcp://HOST:PORT with PORT 1 to 65535 (no wildcard port:
 *     clients must know where to connect), HOST a name, an IPv4 address or
 *     a bracketed IPv6 address; ipc://PATH and inproc://NAME are taken as
 *     written (an ipc path is not resolved against the config folder).
 *   - Local means tcp on 127.0.0.0/8, ::1 (also ::ffff:127.x.y.z) or
 *     "localhost", or ipc:// or inproc://. "*", 0.0.0.0 and interface names
 *     are not local.
 *   - ${CREDENTIALS_DIRECTORY} and ${STATE_DIRECTORY} are the only variables
 *     expanded; when systemd lists several folders (colon-separated) the
 *     first is used. Any other ${...} is an error; one of the two not set
 *     is an error too, except in a check outside the service
 *     (rd_config_check, daemon.md rev 2): a warning at the key, and the
 *     path stays unchecked. The rest of such a path is still checked.
 *   - security.clients may be left out or empty: that is valid but earns a
 *     warning, since no client can connect. secret_key_file is required; the
 *     file itself is read by the daemon at start, not here.
 *   - A public key must be 40 Z85 characters that decode (each group of 5
 *     at most 2^32 - 1).
 *   - store: postgresql needs postgresql.conninfo, which libpq must be able
 *     to parse (nothing is connected to); a postgresql section with another
 *     store is an error (the operator thinks it is in use); `database`
 *     with store: postgresql is checked as usual and not used (an operator
 *     may keep it from the SQLite days). The password file holds the
 *     password on its first line; it is read at start (and by -t), not
 *     here. */
#include "config.h"
#include "keys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "referral.h"
#include "yaml_reader.h"

#define CONFIG_PATH_MAX 4096
#define DEFAULT_INTAKE "tcp://127.0.0.1:5570"
#define DEFAULT_EVENTS "tcp://127.0.0.1:5571"
#define DEFAULT_DATABASE "referrald.db"
#define DEFAULT_RETENTION_S (365LL * 86400)
#define DEFAULT_AUDIT_RETENTION_S (730LL * 86400)

static const char *const role_names[] = {
        [RD_ROLE_PARTNER] = "partner",
        [RD_ROLE_CONNECTOR] = "connector",
        [RD_ROLE_COORDINATOR] = "coordinator",
        [RD_ROLE_MONITOR] = "monitor",
};

const char *rd_role_name(enum rd_role role)
{
        if ((unsigned)role >= RD_ELEMENTSOF(role_names))
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
        free(config->pg_conninfo);
        free(config->pg_password_file);
        free(config->routing);
        free(config->secret_key_file);
        free(config->clients);
        free(config);
}

/* ---- the loader ------------------------------------------------------------ */

struct loader {
        struct rd_yaml *y; /* the file; every message goes here */
        char *dir;         /* the file's folder, for relative paths */
        struct rd_config *cfg;
        bool check; /* rd_config_check: an unset variable is a warning */
        bool oom;
        bool has_intake, has_events;
        struct rd_yaml_pos intake_at, events_at;
        const yaml_node_t *store_at, *postgresql_at; /* keys given */
        /* clients: where each id and key was, for duplicate messages */
        size_t *id_lines, *key_lines;
};

#define ERR(ld, n, ...) rd_yaml_error((ld)->y, (n), __VA_ARGS__)

/* The text of V, or NULL after reporting why it has none. NAME is the
 * key's path for messages; an OPTIONAL key (one with a default) given
 * without a value is told how to get the default. */
static const char *text(struct loader *ld, const char *name, const yaml_node_t *v, bool optional)
{
        if (optional && rd_yaml_is_null(v)) {
                ERR(ld, v, "%s has no value; leave the key out to use the default", name);
                return NULL;
        }
        return rd_yaml_text(ld->y, v, name);
}

static void set_string(char **slot, char *value)
{
        if (!value)
                return;
        free(*slot);
        *slot = value;
}

/* The path keys: their names in messages, whether they have a default (a
 * key without a value is then told how to get it), and what a check
 * cannot check when the path names a variable that is not set. */
static const struct {
        const char *name;
        bool optional;
        const char *unchecked;
} path_keys[] = {
        [RD_CONFIG_DATABASE] = {"database", true, "the path is not checked"},
        [RD_CONFIG_ROUTING] = {"routing", true, "the routing file is not checked"},
        [RD_CONFIG_SECRET_KEY_FILE] = {"security.secret_key_file", false,
                                       "the secret key is not checked"},
        [RD_CONFIG_PASSWORD_FILE] = {"postgresql.password_file", false,
                                     "the password file is not checked"},
};
RD_TABLE_COVERS(path_keys, RD_CONFIG__PATHS);

/* The variables a path may use (systemd sets them for the service). */
static const char *const path_vars[] = {"CREDENTIALS_DIRECTORY", "STATE_DIRECTORY"};

/* The variable that the "${" at P names, with *END after its "}", or NULL
 * when it names none of path_vars. */
static const char *path_var(const char *p, const char **end)
{
        const char *close = strchr(p, '}');

        for (size_t i = 0; close && i < RD_ELEMENTSOF(path_vars); i++) {
                size_t len = strlen(path_vars[i]);

                if ((size_t)(close - p - 2) == len && strncmp(p + 2, path_vars[i], len) == 0) {
                        *end = close + 1;
                        return path_vars[i];
                }
        }
        return NULL;
}

/* Expand ${CREDENTIALS_DIRECTORY} and ${STATE_DIRECTORY} in VALUE, the
 * value V of the key NAME, into BUF (SIZE bytes). Returns true, with
 * *UNSET the first of them that is not set in the environment (NULL when
 * both were; what it stood for is then left out of BUF), or false after
 * reporting. */
static bool expand(struct loader *ld, const char *name, const yaml_node_t *v, const char *value,
                   char *buf, size_t size, const char **unset)
{
        size_t n = 0;

        *unset = NULL;
        for (const char *p = value; *p;) {
                const char *add = p;
                size_t len = 1;
                char dirbuf[CONFIG_PATH_MAX];

                if (p[0] == '$' && p[1] == '{') {
                        const char *var = path_var(p, &p);

                        if (!var) {
                                ERR(ld, v,
                                    "%s: only ${CREDENTIALS_DIRECTORY} and ${STATE_DIRECTORY} "
                                    "are expanded in a path",
                                    name);
                                return false;
                        }
                        add = env_dir(var, dirbuf, sizeof dirbuf);
                        if (!add && !*unset)
                                *unset = var;
                        add = add ? add : "";
                        len = strlen(add);
                } else {
                        p++;
                }
                if (n + len >= size) {
                        ERR(ld, v, "%s is too long for a path", name);
                        return false;
                }
                memcpy(buf + n, add, len);
                n += len;
        }
        buf[n] = '\0';
        return true;
}

static char **path_slot(struct rd_config *cfg, enum rd_config_path which)
{
        switch (which) {
        case RD_CONFIG_DATABASE: return &cfg->database;
        case RD_CONFIG_ROUTING: return &cfg->routing;
        case RD_CONFIG_PASSWORD_FILE: return &cfg->pg_password_file;
        default: return &cfg->secret_key_file;
        }
}

/* The path key WHICH, at the key node K with the value V, into the
 * config: its variables expanded, resolved against the config's folder.
 * A variable that is not set is an error, or in a check a warning at K
 * that leaves the path NULL and unexpanded. */
static void load_path(struct loader *ld, enum rd_config_path which, const yaml_node_t *k,
                      const yaml_node_t *v)
{
        const char *name = path_keys[which].name;
        char **slot = path_slot(ld->cfg, which);
        const char *value = text(ld, name, v, path_keys[which].optional);
        char buf[CONFIG_PATH_MAX];
        const char *unset;
        char *path;

        if (!value || !expand(ld, name, v, value, buf, sizeof buf, &unset))
                return;
        if (unset && !ld->check) {
                ERR(ld, v,
                    "%s uses ${%s}, which is not set in the environment (systemd sets it for the "
                    "service)",
                    name, unset);
                return;
        }
        if (unset) {
                rd_yaml_report(ld->y, RD_DIAG_WARNING, rd_yaml_pos(k),
                               "%s uses ${%s}, which is not set here (systemd sets it for the "
                               "service): %s",
                               name, unset, path_keys[which].unchecked);
                free(*slot);
                *slot = NULL;
                ld->cfg->unexpanded[which] = true;
                return;
        }
        path = path_join(ld->dir, buf);
        if (!path)
                ld->oom = true;
        else
                set_string(slot, path);
}

/* ---- security.clients ------------------------------------------------------ */

enum client_key { C_ID, C_ROLE, C_KEY, C__MAX };
static const char *const client_keys[] = {[C_ID] = "id", [C_ROLE] = "role", [C_KEY] = "public_key"};
RD_TABLE_COVERS(client_keys, C__MAX);

/* The id of client I (its node ID), or NULL after reporting. */
static const char *client_id(struct loader *ld, size_t i, const yaml_node_t *id)
{
        char name[64];
        const char *s;

        snprintf(name, sizeof name, "security.clients[%zu].id", i);
        s = text(ld, name, id, false);
        if (s && !rd_id_valid(s)) {
                ERR(ld, id,
                    "%s must be an id: 1 to 64 characters from a-z, 0-9, '_' and '-', starting "
                    "with a letter or digit",
                    name);
                return NULL;
        }
        return s;
}

/* The public key of client I (its node KEY), or NULL after reporting. */
static const char *client_public_key(struct loader *ld, size_t i, const yaml_node_t *key)
{
        char name[64];
        const char *s;

        snprintf(name, sizeof name, "security.clients[%zu].public_key", i);
        s = text(ld, name, key, false);
        if (s && !rd_key_valid(s)) {
                ERR(ld, key,
                    "%s must be a CURVE public key: 40 Z85 characters (referralctl keygen makes "
                    "one)",
                    name);
                return NULL;
        }
        return s;
}

/* Are ID and KEY (each NULL when invalid; at the nodes of V) another
 * client's than those loaded before? Reports each clash. */
static bool client_unique(struct loader *ld, const char *id, const char *key, yaml_node_t **v)
{
        const struct rd_config *cfg = ld->cfg;
        bool ok = true;

        for (size_t j = 0; j < cfg->n_clients; j++) {
                if (id && strcmp(cfg->clients[j].id, id) == 0) {
                        ERR(ld, v[C_ID],
                            "duplicate client id '%s' (first at line %zu); ids must be unique", id,
                            ld->id_lines[j]);
                        ok = false;
                }
                if (key && strcmp(cfg->clients[j].public_key, key) == 0) {
                        ERR(ld, v[C_KEY],
                            "this public_key is also the key of client '%s' (line %zu); each "
                            "client needs its own key",
                            cfg->clients[j].id, ld->key_lines[j]);
                        ok = false;
                }
        }
        return ok;
}

/* Append CL, whose id and key are at the nodes of V. */
static void client_add(struct loader *ld, const struct rd_client *cl, yaml_node_t **v)
{
        struct rd_config *cfg = ld->cfg;
        size_t n = cfg->n_clients;
        struct rd_client *cs = realloc(cfg->clients, (n + 1) * sizeof *cs);
        size_t *il = cs ? realloc(ld->id_lines, (n + 1) * sizeof *il) : NULL;
        size_t *kl = il ? realloc(ld->key_lines, (n + 1) * sizeof *kl) : NULL;

        if (cs)
                cfg->clients = cs;
        if (il)
                ld->id_lines = il;
        if (kl)
                ld->key_lines = kl;
        if (!cs || !il || !kl) {
                ld->oom = true;
                return;
        }
        ld->id_lines[n] = rd_yaml_pos(v[C_ID]).line;
        ld->key_lines[n] = rd_yaml_pos(v[C_KEY]).line;
        cfg->clients[cfg->n_clients++] = *cl;
}

static void load_client(struct loader *ld, size_t i, yaml_node_t *item)
{
        yaml_node_t *v[C__MAX];
        struct rd_client cl;
        char name[64];
        const char *id = NULL, *key = NULL;
        int role = -1;
        size_t before = rd_yaml_errors(ld->y);

        memset(&cl, 0, sizeof cl);
        snprintf(name, sizeof name, "security.clients[%zu]", i);
        if (!rd_yaml_fields(ld->y, item, name, client_keys, C__MAX, NULL, v))
                return;
        if (!v[C_ID])
                ERR(ld, item, "%s needs an id", name);
        else
                id = client_id(ld, i, v[C_ID]);
        snprintf(name, sizeof name, "security.clients[%zu].role", i);
        if (!v[C_ROLE])
                ERR(ld, item, "security.clients[%zu] needs a role", i);
        else
                rd_yaml_enum(ld->y, v[C_ROLE], name, role_names, RD_ELEMENTSOF(role_names), &role);
        if (!v[C_KEY])
                ERR(ld, item, "security.clients[%zu] needs a public_key", i);
        else
                key = client_public_key(ld, i, v[C_KEY]);
        if (!client_unique(ld, id, key, v) || !id || role < 0 || !key ||
            rd_yaml_errors(ld->y) != before)
                return;
        snprintf(cl.id, sizeof cl.id, "%s", id);
        snprintf(cl.public_key, sizeof cl.public_key, "%s", key);
        cl.role = (enum rd_role)role;
        client_add(ld, &cl, v);
}

static void load_clients(struct loader *ld, yaml_node_t *v)
{
        if (v->type != YAML_SEQUENCE_NODE) {
                rd_yaml_expected(ld->y, v, "security.clients", "a list of {id, role, public_key}");
                return;
        }
        if (rd_yaml_count(v) == 0)
                rd_yaml_report(ld->y, RD_DIAG_WARNING, rd_yaml_pos(v),
                               "security.clients is empty: no client can connect");
        for (size_t i = 0; i < rd_yaml_count(v); i++) {
                yaml_node_t *item = rd_yaml_item(ld->y, v, i);

                if (item)
                        load_client(ld, i, item);
        }
}

/* security: at the key K, with the value V. */
static void load_security(struct loader *ld, yaml_node_t *k, yaml_node_t *v)
{
        static const char *const security_keys[] = {"secret_key_file", "clients"};
        yaml_node_t *sk[2], *sv[2];

        ld->cfg->has_security = true; /* also when broken: no endpoint errors on top */
        if (!rd_yaml_fields(ld->y, v, "security", security_keys, 2, sk, sv))
                return;
        if (!sv[0])
                ERR(ld, k,
                    "security needs secret_key_file: the path of the server's Z85 secret key");
        else
                load_path(ld, RD_CONFIG_SECRET_KEY_FILE, sk[0], sv[0]);
        if (!sv[1])
                rd_yaml_report(ld->y, RD_DIAG_WARNING, rd_yaml_pos(k),
                               "security has no clients: no client can connect");
        else
                load_clients(ld, sv[1]);
}

/* ---- postgresql ------------------------------------------------------------- */

/* postgresql.conninfo at V: libpq must be able to parse it (daemon.md,
 * "Several machines"); nothing is connected to here. */
static void load_conninfo(struct loader *ld, yaml_node_t *v)
{
        const char *ci = text(ld, "postgresql.conninfo", v, false);
        char err[256], *copy;

        if (!ci)
                return;
        if (rd_store_pg_check_conninfo(ci, err, sizeof err) == -EINVAL) {
                ERR(ld, v, "postgresql.conninfo is not a connection string libpq can read: %s",
                    err);
                return;
        }
        copy = strdup(ci);
        if (!copy)
                ld->oom = true;
        else
                set_string(&ld->cfg->pg_conninfo, copy);
}

/* postgresql: at the key K, with the value V. */
static void load_postgresql(struct loader *ld, yaml_node_t *k, yaml_node_t *v)
{
        static const char *const pg_keys[] = {"conninfo", "password_file"};
        yaml_node_t *pk[2], *pv[2];

        ld->postgresql_at = k;
        if (!rd_yaml_fields(ld->y, v, "postgresql", pg_keys, 2, pk, pv))
                return;
        if (!pv[0])
                ERR(ld, k, "postgresql needs conninfo: libpq's connection string");
        else
                load_conninfo(ld, pv[0]);
        if (pv[1])
                load_path(ld, RD_CONFIG_PASSWORD_FILE, pk[1], pv[1]);
}

int rd_config_read_password(const struct rd_config *config, char **out, char *errbuf,
                            size_t errsize)
{
        char buf[RD_KEY_FILE_MAX + 1];
        int r;

        if (!config->pg_password_file) {
                *out = NULL;
                return 0;
        }
        r = rd_secret_file_read(config->pg_password_file, "password file", buf, sizeof buf, NULL,
                                errbuf, errsize);
        if (r == 0) {
                buf[strcspn(buf, "\r\n")] = '\0'; /* the first line */
                if (!buf[0]) {
                        snprintf(errbuf, errsize, "the password file %s holds no password",
                                 config->pg_password_file);
                        r = -EINVAL;
                } else if (!(*out = strdup(buf))) {
                        r = -ENOMEM;
                        snprintf(errbuf, errsize, "out of memory");
                }
        }
        explicit_bzero(buf, sizeof buf);
        return r;
}

/* ---- the top level --------------------------------------------------------- */

enum top_key {
        T_INTAKE,
        T_EVENTS,
        T_DATABASE,
        T_ROUTING,
        T_RETENTION,
        T_AUDIT,
        T_JOURNAL,
        T_SECURITY,
        T_STORE,
        T_POSTGRESQL,
        T__MAX
};
static const char *const top_keys[] = {
        [T_INTAKE] = "intake",          [T_EVENTS] = "events",       [T_DATABASE] = "database",
        [T_ROUTING] = "routing",        [T_RETENTION] = "retention", [T_AUDIT] = "audit_retention",
        [T_JOURNAL] = "journal_events", [T_SECURITY] = "security",   [T_STORE] = "store",
        [T_POSTGRESQL] = "postgresql",
};
RD_TABLE_COVERS(top_keys, T__MAX);

static const char *const store_names[] = {
        [RD_STORE_SQLITE] = "sqlite", [RD_STORE_POSTGRESQL] = "postgresql"};

static const char *const journal_names[] = {
        [RD_JOURNAL_ALL] = "all", [RD_JOURNAL_DECISIONS] = "decisions", [RD_JOURNAL_NONE] = "none"};

/* An endpoint KEY (intake or events) at V into *SLOT; *HAS and *AT say
 * that it was given and where. */
static void load_endpoint(struct loader *ld, const char *key, yaml_node_t *v, char **slot,
                          bool *has, struct rd_yaml_pos *at)
{
        const char *val = text(ld, key, v, true);
        char *copy;

        if (!val)
                return;
        if (!endpoint_valid(val)) {
                ERR(ld, v,
                    "%s must be a ZeroMQ endpoint: tcp://HOST:PORT (port 1 to 65535), ipc://PATH "
                    "or inproc://NAME",
                    key);
                return;
        }
        copy = strdup(val);
        if (!copy) {
                ld->oom = true;
                return;
        }
        set_string(slot, copy);
        *has = true;
        *at = rd_yaml_pos(v);
}

/* A duration KEY at V into *SLOT. */
static void load_duration(struct loader *ld, const char *key, yaml_node_t *v, int64_t *slot)
{
        if (text(ld, key, v, true))
                rd_yaml_duration(ld->y, v, key, slot);
}

static void load_top(struct loader *ld, yaml_node_t *root)
{
        struct rd_config *cfg = ld->cfg;
        yaml_node_t *k[T__MAX], *v[T__MAX];
        int e;

        if (!rd_yaml_fields(ld->y, root, "the file", top_keys, T__MAX, k, v))
                return;
        if (v[T_INTAKE])
                load_endpoint(ld, "intake", v[T_INTAKE], &cfg->intake, &ld->has_intake,
                              &ld->intake_at);
        if (v[T_EVENTS])
                load_endpoint(ld, "events", v[T_EVENTS], &cfg->events, &ld->has_events,
                              &ld->events_at);
        if (v[T_DATABASE])
                load_path(ld, RD_CONFIG_DATABASE, k[T_DATABASE], v[T_DATABASE]);
        if (v[T_STORE] && text(ld, "store", v[T_STORE], true) &&
            rd_yaml_enum(ld->y, v[T_STORE], "store", store_names, RD_ELEMENTSOF(store_names), &e)) {
                cfg->store = (enum rd_store_kind)e;
                ld->store_at = k[T_STORE];
        }
        if (v[T_POSTGRESQL])
                load_postgresql(ld, k[T_POSTGRESQL], v[T_POSTGRESQL]);
        if (v[T_ROUTING])
                load_path(ld, RD_CONFIG_ROUTING, k[T_ROUTING], v[T_ROUTING]);
        if (v[T_RETENTION])
                load_duration(ld, "retention", v[T_RETENTION], &cfg->retention_s);
        if (v[T_AUDIT])
                load_duration(ld, "audit_retention", v[T_AUDIT], &cfg->audit_retention_s);
        if (v[T_JOURNAL] && text(ld, "journal_events", v[T_JOURNAL], true) &&
            rd_yaml_enum(ld->y, v[T_JOURNAL], "journal_events", journal_names,
                         RD_ELEMENTSOF(journal_names), &e))
                cfg->journal_events = (enum rd_journal_events)e;
        if (v[T_SECURITY])
                load_security(ld, k[T_SECURITY], v[T_SECURITY]);
}

/* Without security an endpoint must be local: KEY's ENDPOINT, given at AT
 * when HAS (else it is the default: the top of the file). */
static void check_local(struct loader *ld, const char *key, const char *endpoint, bool has,
                        struct rd_yaml_pos at)
{
        static const struct rd_yaml_pos top = {1, 1};

        if (!rd_endpoint_is_local(endpoint))
                rd_yaml_report(ld->y, RD_DIAG_ERROR, has ? at : top,
                               "%s %s is not a local endpoint: security must be configured to "
                               "listen beyond loopback (127.0.0.0/8, ::1, localhost, ipc://, "
                               "inproc://)",
                               key, endpoint);
}

/* The store's keys together: store, database, postgresql. */
static void store_checks(struct loader *ld)
{
        struct rd_config *cfg = ld->cfg;

        if (cfg->store != RD_STORE_POSTGRESQL) {
                if (ld->postgresql_at)
                        ERR(ld, ld->postgresql_at,
                            "postgresql is read only with store: postgresql (this config's store "
                            "is sqlite)");
                return;
        }
        if (!ld->postgresql_at)
                ERR(ld, ld->store_at, "store: postgresql needs postgresql.conninfo");
}

/* The checks that need the whole file. */
static void cross_checks(struct loader *ld)
{
        struct rd_config *cfg = ld->cfg;

        store_checks(ld);
        if (strcmp(cfg->intake, cfg->events) == 0)
                rd_yaml_report(ld->y, RD_DIAG_ERROR, ld->has_events ? ld->events_at : ld->intake_at,
                               "events must be another endpoint than intake");
        if (cfg->has_security)
                return;
        check_local(ld, "intake", cfg->intake, ld->has_intake, ld->intake_at);
        check_local(ld, "events", cfg->events, ld->has_events, ld->events_at);
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

static int config_read(const char *path, bool check, struct rd_config **out, struct rd_diag *diag)
{
        struct loader ld = {.check = check};
        int rc;

        if (!path || !out)
                return -EINVAL;
        rc = rd_yaml_open_file(path, &ld.y);
        if (rc < 0)
                return rc;
        ld.dir = folder_of(path);
        ld.cfg = ld.dir ? config_new(ld.dir) : NULL;
        if (ld.cfg)
                ld.cfg->source = strdup(path);
        if (!ld.cfg || !ld.cfg->source) {
                ld.oom = true;
        } else if (rd_yaml_loaded(ld.y)) {
                if (rd_yaml_root(ld.y)) /* an empty file: every default */
                        load_top(&ld, rd_yaml_root(ld.y));
                cross_checks(&ld);
        }
        if (ld.oom)
                rd_yaml_nomem(ld.y);
        rc = rd_yaml_finish(ld.y, diag);
        free(ld.dir);
        free(ld.id_lines);
        free(ld.key_lines);
        if (rc < 0) {
                rd_config_free(ld.cfg);
                return rc;
        }
        *out = ld.cfg;
        return 0;
}

int rd_config_load(const char *path, struct rd_config **out, struct rd_diag *diag)
{
        return config_read(path, false, out, diag);
}

int rd_config_check(const char *path, struct rd_config **out, struct rd_diag *diag)
{
        return config_read(path, true, out, diag);
}
