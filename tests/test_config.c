/* test_config.c: daemon/config against daemon.md ("Daemon config").
 *
 * Each case writes a config file into a fresh temporary folder, loads it
 * and checks the result. Errors are checked by their exact
 * "FILE:LINE:COLUMN: " prefix and a part of the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* Z85 keys (the first two from the ZeroMQ CURVE examples). */
#define KEY_A "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
#define KEY_B "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
#define KEY_C "0000000000000000000000000000000000000001"
#define KEY_D "0000000000000000000000000000000000000002"

struct fixture {
        char dir[64];
        char path[128];
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof *f);
        if (!f)
                return -1;
        snprintf(f->dir, sizeof f->dir, "/tmp/rd-test-config-XXXXXX");
        if (!mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        snprintf(f->path, sizeof f->path, "%s/referrald.yaml", f->dir);
        unsetenv("STATE_DIRECTORY");
        unsetenv("CREDENTIALS_DIRECTORY");
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        unlink(f->path);
        rmdir(f->dir);
        free(f);
        return 0;
}

static void write_config(const struct fixture *f, const char *text)
{
        FILE *fp = fopen(f->path, "w");
        assert_non_null(fp);
        assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
        assert_int_equal(fclose(fp), 0);
}

static struct rd_config *load_ok(const struct fixture *f, const char *text)
{
        struct rd_config *c = NULL;
        struct rd_diag d = {0};
        int rc;

        write_config(f, text);
        rc = rd_config_load(f->path, &c, &d);
        if (rc != 0)
                fail_msg("config rejected (%d): %s", rc,
                         rd_diag_first_error(&d) ? rd_diag_first_error(&d) : "(no diag)");
        assert_int_equal(d.n_errors, 0);
        rd_diag_clear(&d);
        assert_non_null(c);
        return c;
}

static char *in_dir(const struct fixture *f, const char *name)
{
        static char buf[256];
        snprintf(buf, sizeof buf, "%s/%s", f->dir, name);
        return buf;
}

/* ---- errors, table-driven ---------------------------------------------- */

struct error_case {
        const char *name;
        const char *yaml;
        size_t line, column;
        const char *message; /* a part of the message */
};

#define CLIENTS_HEAD "security:\n  secret_key_file: server.key\n  clients:\n"

static const struct error_case error_cases[] = {
        {"unknown top-level key suggests the closest", "intak: tcp://127.0.0.1:5570\n", 1, 1,
         "unknown key 'intak'; did you mean 'intake'?"},
        {"unknown key of a feature the daemon lacks", "metrics: tcp://127.0.0.1:9100\n", 1, 1,
         "unknown key 'metrics'; the known keys are intake, events"},
        {"unknown key after a valid one", "retention: 30d\nretension: 30d\n", 2, 1,
         "did you mean 'retention'?"},
        {"duplicate key", "journal_events: all\njournal_events: none\n", 2, 1,
         "duplicate key 'journal_events' (first at line 1)"},
        {"key without value", "intake:\n", 1, 8,
         "intake has no value; leave the key out to use the default"},
        {"endpoint as a list", "intake: [tcp://127.0.0.1:5570]\n", 1, 9,
         "intake: expected a single value, not a list"},
        {"endpoint without scheme", "intake: 127.0.0.1:5570\n", 1, 9,
         "intake must be a ZeroMQ endpoint: tcp://HOST:PORT"},
        {"endpoint with unknown scheme", "events: udp://127.0.0.1:5571\n", 1, 9,
         "events must be a ZeroMQ endpoint"},
        {"tcp endpoint without port", "intake: tcp://127.0.0.1\n", 1, 9,
         "intake must be a ZeroMQ endpoint"},
        {"tcp endpoint with port 0", "intake: tcp://127.0.0.1:0\n", 1, 9, "port 1 to 65535"},
        {"tcp endpoint with port 65536", "intake: tcp://127.0.0.1:65536\n", 1, 9,
         "port 1 to 65535"},
        {"tcp endpoint with wildcard port", "intake: tcp://127.0.0.1:*\n", 1, 9,
         "intake must be a ZeroMQ endpoint"},
        {"ipc endpoint without path", "events: ipc://\n", 1, 9, "events must be a ZeroMQ endpoint"},
        {"non-local intake without security", "intake: tcp://0.0.0.0:5570\n", 1, 9,
         "security must be configured to listen beyond loopback"},
        {"non-local events without security", "events: \"tcp://192.0.2.7:5571\"\n", 1, 9,
         "events tcp://192.0.2.7:5571 is not a local endpoint: security must be configured"},
        {"wildcard host without security", "intake: tcp://*:5570\n", 1, 9, "not a local endpoint"},
        {"intake and events the same", "intake: ipc:///run/rd.sock\nevents: ipc:///run/rd.sock\n",
         2, 9, "events must be another endpoint than intake"},
        {"events equal to the default intake", "events: tcp://127.0.0.1:5570\n", 1, 9,
         "events must be another endpoint than intake"},
        {"retention without unit", "retention: 365\n", 1, 12,
         "retention: bad duration '365': use a whole number above 0 and a unit s, m, h or d"},
        {"audit_retention zero", "audit_retention: 0d\n", 1, 18,
         "audit_retention: bad duration '0d'"},
        {"retention with unknown unit", "retention: 1y\n", 1, 12, "retention: bad duration '1y'"},
        {"journal_events unknown", "journal_events: some\n", 1, 17,
         "journal_events: unknown value 'some'; did you mean 'none'?"},
        {"empty database path", "database: \"\"\n", 1, 11,
         "database: expected a value, not an empty value"},
        {"unknown variable in a path", "database: ${HOME}/rd.db\n", 1, 11,
         "only ${CREDENTIALS_DIRECTORY} and ${STATE_DIRECTORY} are expanded"},
        {"unset STATE_DIRECTORY", "database: ${STATE_DIRECTORY}/referrald.db\n", 1, 11,
         "database uses ${STATE_DIRECTORY}, which is not set in the environment"},
        {"unset STATE_DIRECTORY in the routing path", "routing: ${STATE_DIRECTORY}/routing.yaml\n",
         1, 10, "routing uses ${STATE_DIRECTORY}, which is not set in the environment"},
        {"unknown variable after an unset one", "database: ${STATE_DIRECTORY}/${HOME}/rd.db\n", 1,
         11, "only ${CREDENTIALS_DIRECTORY} and ${STATE_DIRECTORY} are expanded"},
        {"unclosed variable", "database: ${STATE_DIRECTORY/rd.db\n", 1, 11,
         "only ${CREDENTIALS_DIRECTORY} and ${STATE_DIRECTORY} are expanded"},
        {"unset CREDENTIALS_DIRECTORY",
         "security:\n  secret_key_file: ${CREDENTIALS_DIRECTORY}/server.key\n  clients: []\n", 2,
         20, "uses ${CREDENTIALS_DIRECTORY}, which is not set in the environment"},
        {"routing as a mapping", "routing:\n  file: routing.yaml\n", 2, 3,
         "routing: expected a single value, not a mapping"},
        {"security without secret_key_file", "security:\n  clients: []\n", 1, 1,
         "security needs secret_key_file"},
        {"security empty", "security:\n", 1, 10,
         "security: expected a mapping (secret_key_file, clients), not an empty value"},
        {"unknown key in security suggests", "security:\n  secret_key_file: k\n  client: []\n", 3,
         3, "unknown key 'client'; did you mean 'clients'?"},
        {"clients not a list", CLIENTS_HEAD "    id: kelly\n", 4, 5,
         "security.clients: expected a list of {id, role, public_key}, not a mapping"},
        {"client not a mapping", CLIENTS_HEAD "    - kelly\n", 4, 7,
         "security.clients[0]: expected a mapping (id, role, public_key), not a single value"},
        {"client id not an id",
         CLIENTS_HEAD "    - {id: Kelly, role: connector, public_key: \"" KEY_A "\"}\n", 4, 12,
         "security.clients[0].id must be an id"},
        {"client without role", CLIENTS_HEAD "    - {id: kelly, public_key: \"" KEY_A "\"}\n", 4, 7,
         "security.clients[0] needs a role"},
        {"client without public_key", CLIENTS_HEAD "    - {id: kelly, role: connector}\n", 4, 7,
         "security.clients[0] needs a public_key"},
        {"client without id", CLIENTS_HEAD "    - {role: connector, public_key: \"" KEY_A "\"}\n",
         4, 7, "security.clients[0] needs an id"},
        {"client role unknown",
         CLIENTS_HEAD "    - {id: kelly, role: admin, public_key: \"" KEY_A "\"}\n", 4, 25,
         "security.clients[0].role: unknown value 'admin': use 'partner', 'connector', "
         "'coordinator' or 'monitor'"},
        {"client unknown key suggests",
         CLIENTS_HEAD "    - {id: kelly, rol: connector, public_key: \"" KEY_A "\"}\n", 4, 19,
         "unknown key 'rol'; did you mean 'role'?"},
        {"public_key of 39 characters",
         CLIENTS_HEAD "    - {id: kelly, role: connector, public_key: \"" KEY_C "\"}\n"
                      "    - {id: anna, role: connector, public_key: \"000000000000000000000000000"
                      "000000000000\"}\n",
         5, 47, "security.clients[1].public_key must be a CURVE public key: 40 Z85 characters"},
        {"public_key with a character outside Z85",
         CLIENTS_HEAD "    - {id: kelly, role: connector, "
                      "public_key: \"000000000000000000000000000000000000000~\"}\n",
         4, 48, "must be a CURVE public key"},
        {"public_key that does not decode",
         CLIENTS_HEAD "    - {id: kelly, role: connector, "
                      "public_key: \"####################################0000\"}\n",
         4, 48, "must be a CURVE public key"},
        {"duplicate client id",
         CLIENTS_HEAD "    - {id: kelly, role: connector, public_key: \"" KEY_A "\"}\n"
                      "    - {id: kelly, role: partner, public_key: \"" KEY_B "\"}\n",
         5, 12, "duplicate client id 'kelly' (first at line 4)"},
        {"duplicate public_key",
         CLIENTS_HEAD "    - {id: kelly, role: connector, public_key: \"" KEY_A "\"}\n"
                      "    - {id: anna, role: partner, public_key: \"" KEY_A "\"}\n",
         5, 45, "also the key of client 'kelly' (line 4)"},
        {"store unknown", "store: mysql\n", 1, 8,
         "store: unknown value 'mysql': use 'sqlite' or 'postgresql'"},
        {"store postgresql without conninfo", "retention: 30d\nstore: postgresql\n", 2, 1,
         "store: postgresql needs postgresql.conninfo"},
        {"postgresql without conninfo", "store: postgresql\npostgresql: {password_file: pw}\n", 2,
         1, "postgresql needs conninfo"},
        {"conninfo libpq cannot read", "store: postgresql\npostgresql:\n  conninfo: \"dbname\"\n",
         3, 13, "postgresql.conninfo is not a connection string libpq can read: missing \"=\""},
        {"conninfo an unknown option", "store: postgresql\npostgresql: {conninfo: \"dbnme=x\"}\n",
         2, 24,
         "postgresql.conninfo is not a connection string libpq can read: invalid connection"},
        {"postgresql with the sqlite store", "postgresql: {conninfo: \"dbname=x\"}\n", 1, 1,
         "postgresql is read only with store: postgresql"},
        {"unset CREDENTIALS_DIRECTORY in password_file",
         "store: postgresql\npostgresql:\n  conninfo: \"dbname=x\"\n"
         "  password_file: ${CREDENTIALS_DIRECTORY}/pg.pass\n",
         4, 18, "postgresql.password_file uses ${CREDENTIALS_DIRECTORY}, which is not set in"},
        {"YAML syntax error", "intake: [tcp://127.0.0.1:5570\n", 2, 1,
         "syntax error: did not find expected ',' or ']' while parsing a flow sequence"},
        {"YAML mapping value in a plain scalar", "intake: a: b\n", 1, 10,
         "syntax error: mapping values are not allowed"},
        {"top level a list", "- intake\n", 1, 1,
         "the file: expected a mapping (intake, events, database, routing, retention, "
         "audit_retention, journal_events, security, store, postgresql), not a list"},
        {"top level a scalar", "intake\n", 1, 1,
         "the file: expected a mapping (intake, events, database"},
        {"two documents", "retention: 30d\n---\nretention: 60d\n", 2, 1,
         "a second YAML document: the file must hold one document only"},
        {"non-scalar key", "? [a, b]\n: 1\n", 1, 3, "a key must be a single value, not a list"},
};

static bool has_error(const struct rd_diag *d, const char *prefix, const char *message)
{
        for (size_t i = 0; i < d->n; i++) {
                const char *t = d->items[i].text;
                if (d->items[i].severity == RD_DIAG_ERROR &&
                    strncmp(t, prefix, strlen(prefix)) == 0 && strstr(t + strlen(prefix), message))
                        return true;
        }
        return false;
}

/* Does LOAD refuse the file of case C with its error? Prints what it got
 * when not. */
static bool refused(const struct fixture *f, const struct error_case *c, const char *how,
                    int (*load)(const char *, struct rd_config **, struct rd_diag *))
{
        struct rd_config *cfg = (struct rd_config *)0x1;
        struct rd_diag d = {0};
        char prefix[256];
        bool ok;
        int rc;

        write_config(f, c->yaml);
        rc = load(f->path, &cfg, &d);
        snprintf(prefix, sizeof prefix, "%s:%zu:%zu: ", f->path, c->line, c->column);
        ok = rc == -EINVAL && has_error(&d, prefix, c->message) &&
             cfg == (struct rd_config *)0x1; /* untouched */
        if (!ok) {
                fprintf(stderr, "case '%s' (%s, rc %d): expected '%s%s', got:\n", c->name, how, rc,
                        prefix, c->message);
                for (size_t j = 0; j < d.n; j++)
                        fprintf(stderr, "  %s\n", d.items[j].text);
        }
        rd_diag_clear(&d);
        return ok;
}

static void test_config_errors_name_file_line_column(void **state)
{
        struct fixture *f = *state;
        int failures = 0;

        for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++)
                failures += !refused(f, &error_cases[i], "load", rd_config_load);
        assert_int_equal(failures, 0);
}

/* daemon.md rev 2: outside the service only an unset variable is let
 * through; every other error stays one. */
static void test_a_check_refuses_every_error_but_an_unset_variable(void **state)
{
        struct fixture *f = *state;
        int failures = 0;

        for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++)
                if (!strstr(error_cases[i].message, "which is not set"))
                        failures += !refused(f, &error_cases[i], "check", rd_config_check);
        assert_int_equal(failures, 0);
}

static void test_every_error_is_reported_not_just_the_first(void **state)
{
        struct fixture *f = *state;
        struct rd_config *cfg = NULL;
        struct rd_diag d = {0};

        write_config(f, "intak: x\nretention: 1\njournal_events: loud\nevents: nowhere\n");
        assert_int_equal(rd_config_load(f->path, &cfg, &d), -EINVAL);
        assert_int_equal(d.n_errors, 4);
        assert_null(cfg);
        rd_diag_clear(&d);
}

static void test_missing_file_is_reported_without_position(void **state)
{
        struct fixture *f = *state;
        struct rd_config *cfg = NULL;
        struct rd_diag d = {0};
        char expect[256];

        unlink(f->path);
        assert_int_equal(rd_config_load(f->path, &cfg, &d), -ENOENT);
        snprintf(expect, sizeof expect, "%s:1:1: cannot read: ", f->path);
        assert_int_equal(d.n_errors, 1);
        assert_true(strncmp(d.items[0].text, expect, strlen(expect)) == 0);
        assert_null(cfg);
        rd_diag_clear(&d);
}

/* ---- valid files --------------------------------------------------------- */

static void assert_defaults(const struct fixture *f, const struct rd_config *c)
{
        assert_string_equal(c->intake, "tcp://127.0.0.1:5570");
        assert_string_equal(c->events, "tcp://127.0.0.1:5571");
        assert_string_equal(c->database, in_dir(f, "referrald.db"));
        assert_null(c->routing);
        assert_int_equal(c->retention_s, 365 * 86400);
        assert_int_equal(c->audit_retention_s, 730 * 86400);
        assert_int_equal(c->journal_events, RD_JOURNAL_ALL);
        assert_false(c->has_security);
        assert_null(c->secret_key_file);
        assert_int_equal(c->n_clients, 0);
        assert_string_equal(c->source, f->path);
}

static void test_empty_file_is_all_defaults(void **state)
{
        struct fixture *f = *state;
        const char *texts[] = {"", "# nothing set\n", "---\n", "\n\n# a\n   # b\n"};

        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
                struct rd_config *c = load_ok(f, texts[i]);
                assert_defaults(f, c);
                rd_config_free(c);
        }
}

static void test_database_default_is_in_state_directory(void **state)
{
        struct fixture *f = *state;
        struct rd_config *c;

        setenv("STATE_DIRECTORY", "/var/lib/referrald", 1);
        c = load_ok(f, "");
        assert_string_equal(c->database, "/var/lib/referrald/referrald.db");
        rd_config_free(c);

        setenv("STATE_DIRECTORY", "/var/lib/referrald:/var/lib/other", 1);
        c = load_ok(f, "database: ${STATE_DIRECTORY}/x.db\n");
        assert_string_equal(c->database, "/var/lib/referrald/x.db");
        rd_config_free(c);
        unsetenv("STATE_DIRECTORY");
}

static void test_relative_paths_resolve_against_config_folder(void **state)
{
        struct fixture *f = *state;
        struct rd_config *c;
        char expect[256];

        c = load_ok(f, "database: data/rd.db\nrouting: routing.yaml\n");
        snprintf(expect, sizeof expect, "%s/data/rd.db", f->dir);
        assert_string_equal(c->database, expect);
        snprintf(expect, sizeof expect, "%s/routing.yaml", f->dir);
        assert_string_equal(c->routing, expect);
        rd_config_free(c);

        c = load_ok(f, "database: /srv/rd.db\nrouting: /etc/referrald/routing.yaml\n");
        assert_string_equal(c->database, "/srv/rd.db");
        assert_string_equal(c->routing, "/etc/referrald/routing.yaml");
        rd_config_free(c);
}

static void test_full_config_with_security(void **state)
{
        struct fixture *f = *state;
        struct rd_config *c;

        setenv("CREDENTIALS_DIRECTORY", "/run/credentials/referrald.service", 1);
        c = load_ok(f, "# referrald\n"
                       "intake: tcp://0.0.0.0:5570\n"
                       "events: 'tcp://[::]:5571'\n"
                       "database: /var/lib/referrald/referrald.db\n"
                       "routing: routing.yaml\n"
                       "retention: 90d\n"
                       "audit_retention: 36h\n"
                       "journal_events: decisions\n"
                       "security:\n"
                       "  secret_key_file: ${CREDENTIALS_DIRECTORY}/server.key\n"
                       "  clients:\n"
                       "    - {id: ocmw-genk, role: partner, public_key: \"" KEY_A "\"}\n"
                       "    - id: kelly\n"
                       "      role: connector\n"
                       "      public_key: \"" KEY_B "\"\n"
                       "    - {id: coordinator, role: coordinator, public_key: \"" KEY_C "\"}\n"
                       "    - {id: grafana, role: monitor, public_key: \"" KEY_D "\"}\n");
        assert_string_equal(c->intake, "tcp://0.0.0.0:5570");
        assert_string_equal(c->events, "tcp://[::]:5571");
        assert_string_equal(c->database, "/var/lib/referrald/referrald.db");
        assert_string_equal(c->routing, in_dir(f, "routing.yaml"));
        assert_int_equal(c->retention_s, 90 * 86400);
        assert_int_equal(c->audit_retention_s, 36 * 3600);
        assert_int_equal(c->journal_events, RD_JOURNAL_DECISIONS);
        assert_true(c->has_security);
        assert_string_equal(c->secret_key_file, "/run/credentials/referrald.service/server.key");
        assert_int_equal(c->n_clients, 4);
        assert_string_equal(c->clients[0].id, "ocmw-genk");
        assert_int_equal(c->clients[0].role, RD_ROLE_PARTNER);
        assert_string_equal(c->clients[0].public_key, KEY_A);
        assert_string_equal(c->clients[1].id, "kelly");
        assert_int_equal(c->clients[1].role, RD_ROLE_CONNECTOR);
        assert_string_equal(c->clients[1].public_key, KEY_B);
        assert_int_equal(c->clients[2].role, RD_ROLE_COORDINATOR);
        assert_int_equal(c->clients[3].role, RD_ROLE_MONITOR);
        rd_config_free(c);
        unsetenv("CREDENTIALS_DIRECTORY");
}

static void test_local_endpoints_need_no_security(void **state)
{
        struct fixture *f = *state;
        struct rd_config *c = load_ok(f, "intake: ipc:///run/referrald/intake.sock\n"
                                         "events: tcp://localhost:6001\n"
                                         "journal_events: none\n");
        assert_string_equal(c->intake, "ipc:///run/referrald/intake.sock");
        assert_int_equal(c->journal_events, RD_JOURNAL_NONE);
        rd_config_free(c);
        c = load_ok(f, "intake: 'tcp://[::1]:6000'\nevents: inproc://events\n");
        rd_config_free(c);
        c = load_ok(f, "intake: tcp://127.0.0.2:6000\nevents: tcp://127.255.0.1:6001\n");
        rd_config_free(c);
}

static void test_empty_client_list_is_valid_with_a_warning(void **state)
{
        struct fixture *f = *state;
        struct rd_config *c = NULL;
        struct rd_diag d = {0};
        char expect[256];

        write_config(f, "security:\n  secret_key_file: server.key\n  clients: []\n");
        assert_int_equal(rd_config_load(f->path, &c, &d), 0);
        assert_int_equal(d.n_errors, 0);
        assert_int_equal(d.n_warnings, 1);
        snprintf(expect, sizeof expect, "%s:3:12: warning: ", f->path);
        assert_true(strncmp(d.items[0].text, expect, strlen(expect)) == 0);
        assert_string_equal(c->secret_key_file, in_dir(f, "server.key"));
        assert_true(c->has_security);
        rd_config_free(c);
        rd_diag_clear(&d);
}

/* ---- rd_config_check: -t outside the service (daemon.md rev 2) ------------- */

#define UNSET_PATHS                                                                                \
        "database: ${STATE_DIRECTORY}/referrald.db\n"                                              \
        "routing: ${STATE_DIRECTORY}/routing.yaml\n"                                               \
        "security:\n"                                                                              \
        "  secret_key_file: ${CREDENTIALS_DIRECTORY}/server.key\n"                                 \
        "  clients:\n"                                                                             \
        "    - {id: kelly, role: connector, public_key: \"" KEY_A "\"}\n"                          \
        "store: postgresql\n"                                                                      \
        "postgresql:\n"                                                                            \
        "  conninfo: \"host=db1 dbname=referrald\"\n"                                              \
        "  password_file: ${CREDENTIALS_DIRECTORY}/pg.pass\n"

/* Is item I of D the warning "PATH:LINE:COLUMN: warning: MESSAGE..."? */
static void assert_warning(const struct fixture *f, const struct rd_diag *d, size_t i, size_t line,
                           size_t column, const char *message)
{
        char expect[512];

        snprintf(expect, sizeof expect, "%s:%zu:%zu: warning: %s", f->path, line, column, message);
        assert_true(i < d->n);
        assert_int_equal(d->items[i].severity, RD_DIAG_WARNING);
        if (strncmp(d->items[i].text, expect, strlen(expect)) != 0)
                fail_msg("expected '%s...', got '%s'", expect, d->items[i].text);
}

static void test_a_check_outside_the_service_warns_at_each_path_it_cannot_expand(void **state)
{
        struct fixture *f = *state;
        struct rd_config *c = NULL;
        struct rd_diag d = {0};

        write_config(f, UNSET_PATHS);
        assert_int_equal(rd_config_check(f->path, &c, &d), 0);
        assert_int_equal(d.n_errors, 0);
        assert_int_equal(d.n_warnings, 4);
        assert_warning(f, &d, 0, 1, 1,
                       "database uses ${STATE_DIRECTORY}, which is not set here (systemd sets it "
                       "for the service): the path is not checked");
        assert_warning(
                f, &d, 1, 2, 1,
                "routing uses ${STATE_DIRECTORY}, which is not set here (systemd sets it for "
                "the service): the routing file is not checked");
        assert_warning(f, &d, 2, 4, 3,
                       "security.secret_key_file uses ${CREDENTIALS_DIRECTORY}, which is not set "
                       "here (systemd sets it for the service): the secret key is not checked");
        assert_warning(f, &d, 3, 10, 3,
                       "postgresql.password_file uses ${CREDENTIALS_DIRECTORY}, which is not set "
                       "here (systemd sets it for the service): the password file is not checked");
        for (int p = 0; p < RD_CONFIG__PATHS; p++)
                assert_true(c->unexpanded[p]);
        assert_null(c->database);
        assert_null(c->routing); /* not the compiled-in example: unchecked */
        assert_null(c->secret_key_file);
        assert_null(c->pg_password_file);
        assert_int_equal(c->store, RD_STORE_POSTGRESQL);
        assert_string_equal(c->pg_conninfo, "host=db1 dbname=referrald");
        assert_true(c->has_security);
        assert_int_equal(c->n_clients, 1);
        assert_string_equal(c->clients[0].id, "kelly");
        rd_config_free(c);
        rd_diag_clear(&d);
}

static void test_starting_with_an_unset_variable_stays_an_error(void **state)
{
        struct fixture *f = *state;
        struct rd_config *c = (struct rd_config *)0x1;
        struct rd_diag d = {0};

        write_config(f, UNSET_PATHS);
        assert_int_equal(rd_config_load(f->path, &c, &d), -EINVAL);
        assert_int_equal(d.n_errors, 4);
        assert_int_equal(d.n_warnings, 0);
        assert_true(c == (struct rd_config *)0x1);
        rd_diag_clear(&d);
}

static void test_a_check_with_the_variables_set_expands_them_without_a_warning(void **state)
{
        struct fixture *f = *state;
        struct rd_config *c = NULL;
        struct rd_diag d = {0};

        setenv("STATE_DIRECTORY", "/var/lib/referrald", 1);
        setenv("CREDENTIALS_DIRECTORY", "/run/credentials/referrald.service", 1);
        write_config(f, UNSET_PATHS);
        assert_int_equal(rd_config_check(f->path, &c, &d), 0);
        assert_int_equal(d.n, 0);
        assert_string_equal(c->database, "/var/lib/referrald/referrald.db");
        assert_string_equal(c->routing, "/var/lib/referrald/routing.yaml");
        assert_string_equal(c->secret_key_file, "/run/credentials/referrald.service/server.key");
        assert_string_equal(c->pg_password_file, "/run/credentials/referrald.service/pg.pass");
        for (int p = 0; p < RD_CONFIG__PATHS; p++)
                assert_false(c->unexpanded[p]);
        rd_config_free(c);
        unsetenv("STATE_DIRECTORY");
        unsetenv("CREDENTIALS_DIRECTORY");
}

static void test_a_check_reports_every_other_error_beside_the_warnings(void **state)
{
        struct fixture *f = *state;
        struct rd_config *c = (struct rd_config *)0x1;
        struct rd_diag d = {0};
        char at[256];

        write_config(f, "database: ${STATE_DIRECTORY}/referrald.db\n"
                        "journal_events: loud\n"
                        "routing: ${STATE_DIRECTORY}/${HOME}/routing.yaml\n");
        assert_int_equal(rd_config_check(f->path, &c, &d), -EINVAL);
        assert_true(c == (struct rd_config *)0x1);
        assert_int_equal(d.n_errors, 2);
        assert_int_equal(d.n_warnings, 1);
        assert_warning(f, &d, 0, 1, 1, "database uses ${STATE_DIRECTORY}, which is not set here");
        snprintf(at, sizeof at, "%s:2:17: ", f->path);
        assert_true(has_error(&d, at, "journal_events: unknown value 'loud'"));
        snprintf(at, sizeof at, "%s:3:10: ", f->path);
        assert_true(has_error(&d, at, "routing: only ${CREDENTIALS_DIRECTORY} and"));
        rd_diag_clear(&d);
}

/* ---- rd_config_default, rd_endpoint_is_local, rd_role_name --------------- */

static void test_default_config(void **state)
{
        struct rd_config *c = NULL;
        (void)state;

        assert_int_equal(rd_config_default(&c), 0);
        assert_null(c->source);
        assert_string_equal(c->intake, "tcp://127.0.0.1:5570");
        assert_string_equal(c->events, "tcp://127.0.0.1:5571");
        assert_string_equal(c->database, "referrald.db");
        assert_null(c->routing);
        assert_int_equal(c->retention_s, 365 * 86400);
        assert_int_equal(c->audit_retention_s, 730 * 86400);
        assert_int_equal(c->journal_events, RD_JOURNAL_ALL);
        assert_false(c->has_security);
        rd_config_free(c);

        setenv("STATE_DIRECTORY", "/var/lib/referrald", 1);
        assert_int_equal(rd_config_default(&c), 0);
        assert_string_equal(c->database, "/var/lib/referrald/referrald.db");
        rd_config_free(c);
        unsetenv("STATE_DIRECTORY");
        rd_config_free(NULL);
}

static void test_endpoint_is_local(void **state)
{
        static const struct {
                const char *endpoint;
                int local;
        } cases[] = {
                {"tcp://127.0.0.1:5570", 1},
                {"tcp://127.1.2.3:5570", 1},
                {"tcp://localhost:5570", 1},
                {"tcp://LOCALHOST:5570", 1},
                {"tcp://[::1]:5570", 1},
                {"tcp://[::ffff:127.0.0.1]:5570", 1},
                {"ipc:///run/referrald.sock", 1},
                {"inproc://x", 1},
                {"tcp://0.0.0.0:5570", 0},
                {"tcp://*:5570", 0},
                {"tcp://[::]:5570", 0},
                {"tcp://10.0.0.1:5570", 0},
                {"tcp://128.0.0.1:5570", 0},
                {"tcp://localhost.example.org:5570", 0},
                {"tcp://127.example.org:5570", 0},
                {"tcp://eth0:5570", 0},
                {"udp://127.0.0.1:5570", 0},
                {"", 0},
                {NULL, 0},
        };
        (void)state;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                if (rd_endpoint_is_local(cases[i].endpoint) != cases[i].local)
                        fail_msg("%s: expected %d", cases[i].endpoint ? cases[i].endpoint : "NULL",
                                 cases[i].local);
}

static void test_role_names(void **state)
{
        (void)state;
        assert_string_equal(rd_role_name(RD_ROLE_PARTNER), "partner");
        assert_string_equal(rd_role_name(RD_ROLE_CONNECTOR), "connector");
        assert_string_equal(rd_role_name(RD_ROLE_COORDINATOR), "coordinator");
        assert_string_equal(rd_role_name(RD_ROLE_MONITOR), "monitor");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_config_errors_name_file_line_column, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_every_error_is_reported_not_just_the_first,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_file_is_reported_without_position,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_file_is_all_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_database_default_is_in_state_directory, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_relative_paths_resolve_against_config_folder,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_config_with_security, setup, teardown),
                cmocka_unit_test_setup_teardown(test_local_endpoints_need_no_security, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_empty_client_list_is_valid_with_a_warning,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_a_check_refuses_every_error_but_an_unset_variable, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_a_check_outside_the_service_warns_at_each_path_it_cannot_expand, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(test_starting_with_an_unset_variable_stays_an_error,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_a_check_with_the_variables_set_expands_them_without_a_warning, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(
                        test_a_check_reports_every_other_error_beside_the_warnings, setup,
                        teardown),
                cmocka_unit_test(test_default_config),
                cmocka_unit_test(test_endpoint_is_local),
                cmocka_unit_test(test_role_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
