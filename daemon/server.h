/* server.h: the daemon's loop: the ZeroMQ sockets, the request handlers,
 * group commit, publishing, signals. */
#ifndef RD_SERVER_H
#define RD_SERVER_H

#include "config.h"
#include "rules.h"
#include "store.h"

struct rd_server;
struct rd_dbfile;

/* The routing file CONFIG names, or the compiled-in example when it names
 * none: as rd_rules_load_file (errors and warnings into DIAG). At start
 * and on every reload. With TEXT not NULL, also the bytes the rules were
 * loaded from, to record them (*TEXT malloc'ed, *LEN bytes; on success
 * only). */
int rd_server_load_rules(const struct rd_config *config, struct rd_rules **out, char **text,
                         size_t *len, struct rd_diag *diag);

/* Bind the intake ROUTER and the events PUB of CONFIG, and take the rule
 * set RULES with TEXT (malloc'ed: the LEN bytes they were loaded from), the
 * open STORE and DBFILE, its database file locked and watched (NULL: not
 * watched), all now owned by the server, also on failure. On a store that
 * several daemons share (RD_STORE_LEADERSHIP) the server starts as a
 * standby and puts RULES in force in the store when it takes the lead;
 * else the caller has put them in force already. Returns 0 and a new
 * server in *OUT, or a negative errno (a message is logged: the endpoint
 * and why). */
int rd_server_new(const struct rd_config *config, struct rd_rules *rules, char *text, size_t len,
                  struct rd_store *store, struct rd_dbfile *dbfile, struct rd_server **out);

/* Serve until SIGTERM or SIGINT (which must be blocked by the caller; the
 * server reads them, and SIGHUP, from a signalfd). Returns 0 after a clean
 * stop, or a negative errno on a fault that stopped the loop. */
int rd_server_run(struct rd_server *server);

/* Close sockets, free the rules and close the store. SERVER may be NULL. */
void rd_server_free(struct rd_server *server);

#endif
