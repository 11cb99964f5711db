/* auth.h: CURVE on both sockets and the ZAP handler that decides who may
 * connect (protocol.md, "Security").
 *
 * libzmq 4.3 lets every client in when a CURVE server has no ZAP handler,
 * so the handler is bound (inproc://zeromq.zap.01) before any server
 * socket, each server socket has a ZAP domain and ZMQ_ZAP_ENFORCE_DOMAIN.
 * A listed client's id becomes the connection's User-Id, and its public
 * key the connection's property RD_ZAP_KEY; each request is judged by the
 * list in force when it arrives (rd_auth_user, rd_auth_lookup), so a client
 * removed on reload, or whose key was replaced, is refused even on a
 * connection it opened before. */
#ifndef RD_AUTH_H
#define RD_AUTH_H

#include <stddef.h>

#include "config.h"

#define RD_ZAP_DOMAIN_INTAKE "referrald-intake"
#define RD_ZAP_DOMAIN_EVENTS "referrald-events"
/* The connection property (ZAP metadata) that holds the client's public key. */
#define RD_ZAP_KEY "X-Public-Key"

struct rd_auth;

/* Read the server's secret key from CONFIG->secret_key_file, bind the ZAP
 * handler in ZCTX and take a copy of CONFIG's clients. Returns 0 and *OUT,
 * or a negative errno with a sentence for the operator in ERRBUF. */
int rd_auth_new(void *zctx, const struct rd_config *config, struct rd_auth **out, char *errbuf,
                size_t errsize);

/* Check that PATH holds a Z85 secret key (40 characters), as rd_auth_new
 * will read it. 0, or a negative errno with a sentence in ERRBUF. */
int rd_auth_check_key(const char *path, char *errbuf, size_t errsize);

/* Close the handler. AUTH may be NULL. */
void rd_auth_free(struct rd_auth *auth);

/* Make SOCK a CURVE server in DOMAIN (one of the RD_ZAP_DOMAIN_*), before
 * it is bound. 0 or a negative errno. */
int rd_auth_server_socket(struct rd_auth *auth, void *sock, const char *domain);

/* The ZAP socket, for the loop to poll; rd_auth_handle answers one ready
 * request and returns 1, or 0 when none was ready. */
void *rd_auth_zap_socket(struct rd_auth *auth);
int rd_auth_handle(struct rd_auth *auth);

/* The id to judge a request by: USER_ID (the connection's User-Id, borrowed)
 * when the list in force still holds that id with KEY (the connection's
 * RD_ZAP_KEY), else "" (no client: refused). */
const char *rd_auth_user(const struct rd_auth *auth, const char *user_id, const char *key);

/* Replace the client list. 0 or -ENOMEM (the old list stays). */
int rd_auth_set_clients(struct rd_auth *auth, const struct rd_client *clients, size_t n);

/* The two halves of rd_auth_set_clients, for a reload that must put the
 * list in force only once its transaction committed: a copy of
 * CLIENTS[N] (the caller's until swapped in; free() it otherwise), or NULL
 * when out of memory; then the swap, which cannot fail and frees the old
 * list (every pointer rd_auth_lookup gave becomes invalid). */
struct rd_client *rd_auth_copy_clients(const struct rd_client *clients, size_t n);
void rd_auth_swap_clients(struct rd_auth *auth, struct rd_client *copy, size_t n);

/* 1 if replacing the list in force by CLIENTS[N] takes the right to
 * subscribe from someone (a monitor or coordinator removed, or its key or
 * role changed): the events socket must then be made anew, so that every
 * subscriber reconnects through the ZAP handler. */
int rd_auth_loses_subscriber(const struct rd_auth *auth, const struct rd_client *clients, size_t n);

/* The client in force with this id (the request's User-Id), or NULL. The
 * pointer is valid until the next rd_auth_set_clients. */
const struct rd_client *rd_auth_lookup(const struct rd_auth *auth, const char *id);

#endif
