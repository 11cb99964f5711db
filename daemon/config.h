/* config.h: the daemon config (daemon.md, "Daemon config") loaded into a
 * plain struct. Every error names FILE:LINE:COLUMN; cross-field checks run
 * after parsing. No sockets, no logging: errors go into a struct rd_diag. */
#ifndef RD_CONFIG_H
#define RD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "store.h"

enum rd_journal_events { RD_JOURNAL_ALL = 0, RD_JOURNAL_DECISIONS, RD_JOURNAL_NONE };

enum rd_role { RD_ROLE_PARTNER, RD_ROLE_CONNECTOR, RD_ROLE_COORDINATOR, RD_ROLE_MONITOR };

struct rd_client {
        char id[65];
        enum rd_role role;
        char public_key[41]; /* Z85, 40 characters */
};

/* The keys of the config that hold a path. */
enum rd_config_path {
        RD_CONFIG_DATABASE,
        RD_CONFIG_ROUTING,
        RD_CONFIG_SECRET_KEY_FILE,
        RD_CONFIG_PASSWORD_FILE,
        RD_CONFIG__PATHS
};

struct rd_config {
        char *source;             /* the config file as given, or NULL for the embedded defaults */
        char *intake;             /* ZeroMQ endpoint */
        char *events;             /* ZeroMQ endpoint */
        enum rd_store_kind store; /* `store:` sqlite (the default) or postgresql */
        char *database;           /* sqlite: absolute or relative to the working directory */
        char *pg_conninfo;        /* postgresql.conninfo: libpq's connection string */
        char *pg_password_file;   /* postgresql.password_file, resolved, or NULL */
        char *routing;            /* path resolved, or NULL: the compiled-in example */
        int64_t retention_s;
        int64_t audit_retention_s;
        enum rd_journal_events journal_events;
        bool has_security;
        char *secret_key_file; /* resolved, ${CREDENTIALS_DIRECTORY} expanded */
        struct rd_client *clients;
        size_t n_clients;
        /* rd_config_check only: true for a path that names a variable not
         * set here; that path (database, routing, secret_key_file or
         * postgresql.password_file) is then NULL and was not checked */
        bool unexpanded[RD_CONFIG__PATHS];
};

/* The embedded defaults: loopback endpoints 5570/5571, database
 * "referrald.db" in $STATE_DIRECTORY or else the current folder, the
 * compiled-in routing file, retention 365d, audit 730d, journal all.
 * Returns 0 and a new config in *OUT, or -ENOMEM. */
int rd_config_default(struct rd_config **out);

/* Load the daemon config at PATH with libyaml. Relative paths are taken
 * relative to PATH's folder; ${CREDENTIALS_DIRECTORY} and
 * ${STATE_DIRECTORY} are expanded from the environment. Every problem goes
 * to DIAG as "PATH:LINE:COLUMN: message" (unknown keys, wrong types, bad
 * durations, bad endpoints, duplicate client ids or keys, a bad role, a
 * non-loopback endpoint without security; with `store: postgresql`, a
 * missing postgresql.conninfo or one that libpq cannot parse; a postgresql
 * section with another store). Returns 0 and *OUT when there is no error,
 * else a negative errno and *OUT untouched. */
int rd_config_load(const char *path, struct rd_config **out, struct rd_diag *diag);

/* As rd_config_load, for `referrald -t` run by an operator outside the
 * service (daemon.md rev 2): a path that uses ${CREDENTIALS_DIRECTORY} or
 * ${STATE_DIRECTORY} while that variable is not set is a warning at its
 * key ("PATH:LINE:COLUMN: warning: ..."), not an error; the path is left
 * NULL and its unexpanded[] flag set, the rest is checked as usual. Such
 * a config is for checking only: never start with one. Returns as
 * rd_config_load. */
int rd_config_check(const char *path, struct rd_config **out, struct rd_diag *diag);

/* The PostgreSQL password of CONFIG's postgresql.password_file: its first
 * line, without the line's end. 0 and a new string in *OUT (NULL when the
 * config names no such file; the caller wipes and frees it), or a
 * negative errno with a sentence naming the file in ERRBUF. */
int rd_config_read_password(const struct rd_config *config, char **out, char *errbuf,
                            size_t errsize);

/* Free a config. CONFIG may be NULL. */
void rd_config_free(struct rd_config *config);

/* 1 if ENDPOINT is local (tcp on 127.0.0.0/8, ::1 or localhost, ipc://,
 * inproc://), else 0. */
int rd_endpoint_is_local(const char *endpoint);

/* Wire name of a role ("partner", ...). */
const char *rd_role_name(enum rd_role role);

#endif
