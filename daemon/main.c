/* referrald: parse arguments, load the config and the routing rules, open
 * the store, bind, READY=1, serve, tear down in reverse. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "config.h"
#include "dbfile.h"
#include "log.h"
#include "routing_files.h"
#include "rules.h"
#include "server.h"
#include "store.h"

static void usage(FILE *f)
{
        fprintf(f, "Usage: referrald [-c FILE] [-t]\n"
                   "Route referrals of families to connectors (see referrald(8)).\n\n"
                   "  -c, --config FILE  the daemon config (referrald.yaml); without it the\n"
                   "                     embedded defaults: loopback endpoints 5570 and 5571,\n"
                   "                     referrald.db in $STATE_DIRECTORY or the current folder,\n"
                   "                     and the built-in example routing rules\n"
                   "  -t, --test         check the daemon config and its routing file, print\n"
                   "                     every error as FILE:LINE:COLUMN: message, start nothing\n"
                   "      --help         show this help\n"
                   "      --version      show the version\n\n"
                   "Exit codes: 0 done, 1 a runtime fault, 2 a usage error, 78 an invalid "
                   "configuration.\n");
}

static void print_diag(const struct rd_diag *diag)
{
        for (size_t i = 0; i < diag->n; i++)
                fprintf(stderr, "%s\n", diag->items[i].text);
}

/* Read the arguments into *CONFIG_PATH and *TEST_ONLY. Returns -1 to go on,
 * else the exit code (--help, --version, a usage error). */
static int parse_args(int argc, char **argv, const char **config_path, int *test_only)
{
        static const struct option longopts[] = {
                {"config", required_argument, NULL, 'c'},
                {"test", no_argument, NULL, 't'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {NULL, 0, NULL, 0},
        };
        int opt;

        while ((opt = getopt_long(argc, argv, "c:t", longopts, NULL)) != -1) {
                switch (opt) {
                case 'c': *config_path = optarg; break;
                case 't': *test_only = 1; break;
                case 'h': usage(stdout); return 0;
                case 'V': printf("referrald %s\n", RD_VERSION); return 0;
                default: usage(stderr); return 2; /* daemon.md: 2 is a usage error */
                }
        }
        if (optind < argc) {
                fprintf(stderr, "referrald: unexpected argument '%s'\n", argv[optind]);
                usage(stderr);
                return 2; /* daemon.md: 2 is a usage error */
        }
        return -1;
}

/* Send the log where REFERRALD_LOG_TARGET says (-t: standard error
 * always). Returns -1 to go on, else the exit code (an unknown target). */
static int log_target(int test_only)
{
        const char *text = getenv("REFERRALD_LOG_TARGET");
        enum rd_log_target target;

        if (rd_log_target_parse(text, &target) < 0) {
                fprintf(stderr,
                        "referrald: REFERRALD_LOG_TARGET: unknown value '%s' (auto or console)\n",
                        text);
                return 2; /* daemon.md: 2 is a usage error */
        }
        rd_log_init(test_only ? RD_LOG_CONSOLE : target);
        return -1;
}

/* The routing rules in force and the bytes they were loaded from. */
struct routing {
        struct rd_rules *rules;
        char *text; /* NULL with -t */
        size_t len;
};

/* The PostgreSQL password file, like the secret key, is part of the
 * configuration: readable, and a password in it. 0, or -EINVAL after
 * saying why on stderr. */
static int check_password(const struct rd_config *config)
{
        char errbuf[512], *password = NULL;
        int r = rd_config_read_password(config, &password, errbuf, sizeof errbuf);

        if (r < 0) {
                fprintf(stderr, "%s: postgresql.password_file: %s\n", config->source, errbuf);
                return -EINVAL;
        }
        if (password) {
                explicit_bzero(password, strlen(password));
                free(password);
        }
        return 0;
}

/* The daemon config at CONFIG_PATH (or the embedded defaults), the routing
 * rules it names and its secret key, each checked, every problem on
 * stderr. With TEST_ONLY (-t), a path whose systemd variable is not set is
 * skipped with a warning: *RULES is then NULL when the routing file is
 * such a path. Returns -1 and *CONFIG and *ROUTING (caller owns) to go on,
 * else the exit code (both left empty). */
static int load(const char *config_path, int test_only, struct rd_config **config,
                struct routing *routing)
{
        struct rd_rules **rules = &routing->rules;
        struct rd_diag diag = {0};
        char errbuf[512];
        int r;

        if (!config_path)
                r = rd_config_default(config);
        else
                r = (test_only ? rd_config_check : rd_config_load)(config_path, config, &diag);
        if (r < 0) {
                print_diag(&diag);
                if (!diag.n)
                        fprintf(stderr, "referrald: cannot load the configuration: %s\n",
                                strerror(-r));
                rd_diag_clear(&diag);
                return r == -ENOMEM ? 1 : 78;
        }
        r = (*config)->unexpanded[RD_CONFIG_ROUTING]
                    ? 0
                    : rd_server_load_rules(*config, rules, test_only ? NULL : &routing->text,
                                           &routing->len, &diag);
        print_diag(&diag); /* errors and warnings alike */
        rd_diag_clear(&diag);
        /* the secret key is part of the configuration: check it here, so that
         * -t catches a bad one and a start with it exits 78 */
        if (r == 0 && (*config)->has_security &&
            !(*config)->unexpanded[RD_CONFIG_SECRET_KEY_FILE] &&
            rd_auth_check_key((*config)->secret_key_file, errbuf, sizeof errbuf) < 0) {
                fprintf(stderr, "%s: security.secret_key_file: %s\n",
                        (*config)->source ? (*config)->source : "referrald", errbuf);
                r = -EINVAL;
        }
        if (r == 0)
                r = check_password(*config);
        if (r < 0) {
                rd_rules_free(*rules); /* NULL when they were not read */
                *rules = NULL;
                free(routing->text);
                routing->text = NULL;
                rd_config_free(*config);
                *config = NULL;
                return 78;
        }
        return -1;
}

/* The store's name in the log: the SQLite file, or the PostgreSQL
 * database (its conninfo is never logged: it may hold a password). */
static const char *store_name(const struct rd_config *config)
{
        return config->store == RD_STORE_POSTGRESQL ? "PostgreSQL" : config->database;
}

/* Open the PostgreSQL store CONFIG names, with the password of its
 * password file. 0 and *OUT, or a negative errno (logged). */
static int open_pg(const struct rd_config *config, struct rd_store **out)
{
        struct rd_store_target t = {.kind = RD_STORE_POSTGRESQL, .conninfo = config->pg_conninfo};
        char errbuf[512], *password = NULL;
        int r = rd_config_read_password(config, &password, errbuf, sizeof errbuf);

        t.password = password;
        if (r == 0)
                r = rd_store_open_target(&t, out, errbuf, sizeof errbuf);
        if (r < 0)
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "cannot open the PostgreSQL database: %s",
                       errbuf);
        if (password) {
                explicit_bzero(password, strlen(password));
                free(password);
        }
        return r;
}

/* Open the SQLite store CONFIG names: one daemon per database, the lock
 * before the store touches it, the file watched. 0 and *OUT and *DBFILE,
 * or a negative errno (logged; nothing left open). */
static int open_sqlite(const struct rd_config *config, struct rd_store **out,
                       struct rd_dbfile **dbfile)
{
        char errbuf[512];
        int r = rd_dbfile_lock(config->database, dbfile, errbuf, sizeof errbuf);

        if (r < 0) {
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "%s", errbuf);
                return r;
        }
        r = rd_store_open(config->database, true, out, errbuf, sizeof errbuf);
        if (r < 0)
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "cannot open the database %s: %s",
                       config->database, errbuf);
        else if ((r = rd_dbfile_watch(*dbfile)) < 0)
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "cannot watch the database %s: %s",
                       config->database, strerror(-r));
        if (r < 0) {
                rd_store_close(*out);
                *out = NULL;
                rd_dbfile_free(*dbfile); /* after the store */
                *dbfile = NULL;
        }
        return r;
}

/* Record the routing file of RO as the one in force in STORE from now
 * (daemon.md rev 2), in a transaction of its own. 0 or a negative errno. */
static int record_routing(struct rd_store *store, const struct routing *ro)
{
        int r = rd_store_begin(store);

        if (r == 0)
                r = rd_routing_record(store, ro->rules, ro->text, ro->len, rd_now_ms());
        if (r == 0)
                r = rd_store_commit(store);
        if (r < 0)
                rd_store_rollback(store);
        return r;
}

/* Open the store, record the routing file in force, bind, serve until
 * stopped (RO's rules and text are taken over). On PostgreSQL the server
 * records the routing file when it takes the lead: a standby never
 * writes; and the checks of SQLite's file (its lock file, a removed or
 * empty file) do not apply (daemon.md: leadership takes their place).
 * Returns the exit code. */
static int serve(const struct rd_config *config, struct routing *ro)
{
        struct rd_rules *rules = ro->rules;
        struct rd_store *store = NULL;
        struct rd_server *server = NULL;
        struct rd_dbfile *dbfile = NULL; /* SQLite's only */
        sigset_t mask;
        int r;

        /* signals come through the server's signalfd */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = config->store == RD_STORE_POSTGRESQL ? open_pg(config, &store)
                                                 : open_sqlite(config, &store, &dbfile);
        if (r == 0 && !(rd_store_caps(store) & RD_STORE_LEADERSHIP) &&
            (r = record_routing(store, ro)) < 0)
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                       "cannot record the routing file in force in the database %s: %s (%s)",
                       store_name(config), strerror(-r), rd_store_errmsg(store));
        if (r < 0) {
                rd_store_close(store);
                rd_dbfile_free(dbfile); /* after the store */
                rd_rules_free(rules);
                return 1;
        }
        /* takes the rules, their text, the store and the file */
        r = rd_server_new(config, rules, ro->text, ro->len, store, dbfile, &server);
        ro->text = NULL;
        if (r == 0)
                r = rd_server_run(server);
        rd_server_free(server);
        return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
        const char *config_path = NULL;
        struct rd_config *config = NULL;
        struct routing ro = {0};
        int test_only = 0, code;

        code = parse_args(argc, argv, &config_path, &test_only);
        if (code >= 0)
                return code;
        code = log_target(test_only);
        if (code >= 0)
                return code;
        code = load(config_path, test_only, &config, &ro);
        if (code >= 0)
                return code;
        if (test_only) {
                if (ro.rules)
                        printf("%s: ok; routing file %s: %zu rules, digest %s\n",
                               config->source ? config->source : "(embedded defaults)",
                               ro.rules->source, ro.rules->n_rules, ro.rules->digest);
                else
                        printf("%s: ok; routing file not checked\n", config->source);
                rd_rules_free(ro.rules);
                rd_config_free(config);
                return 0;
        }
        code = serve(config, &ro);
        free(ro.text);
        rd_config_free(config);
        return code;
}
