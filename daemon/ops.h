/* ops.h: one handler per operation of protocol.md behind a table. Each
 * takes the decoded request and answers with a reply object; none touches
 * a socket. Write operations run in a savepoint of their own, so a failed
 * request changes nothing while the rest of its batch commits. */
#ifndef RD_OPS_H
#define RD_OPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "hub.h"
#include "json_write.h"
#include "store.h"

struct rd_auth;

/* The message of a write refused because the database file is gone. */
/* The message of a request refused by a standby. */
#define RD_OPS_STANDBY                                                                             \
        "this daemon is a standby: another daemon is active; nothing was stored; send the "        \
        "request to the next endpoint"

#define RD_OPS_DB_GONE                                                                             \
        "the daemon's database file was removed or replaced; nothing was stored; retry later"

struct rd_ops {
        struct rd_hub *hub;
        struct rd_auth *auth; /* NULL without security: every client is a local coordinator */
        struct rd_store *store;
        const struct rd_config *config;
        int64_t started_ms;
        bool stopping; /* answer `unavailable` */
        /* (rev 2) another daemon leads the shared store (leader.c): ping
         * says "role": "standby", every other request is `unavailable` */
        bool standby;
        /* the database file was removed or replaced (daemon.md): every
         * operation that writes is answered `unavailable` */
        bool db_lost;
        int64_t writes_run; /* writing operations run so far */
        /* the writer of the replies written as text: set up at the first
         * one (zero before), kept (owned; rd_ops_free) */
        struct rd_jw replies;
};

/* Free what OPS holds (its replies' writer); its other members are
 * borrowed. OPS may be NULL. */
void rd_ops_free(struct rd_ops *ops);

/* A reply as the loop sends it: its text, and what the loop must know of
 * it until the batch ends (protocol.md: an `ok` stands only once its batch
 * committed). */
struct rd_reply {
        char *text; /* compact JSON, malloc'ed (owned); NULL when out of memory */
        size_t len;
        bool ok;         /* it says "ok": true */
        json_t *corr;    /* the corr it echoes (owned), to retract it with; or NULL */
        json_t *unwiped; /* an erase that says "wiped": false: the reply as a tree (owned),
                            to say true once its batch committed and the log is wiped; or NULL */
};

/* Make the reply TREE (taken) into *OUT: its text and what it says. */
void rd_ops_reply_of_tree(json_t *tree, struct rd_reply *out);

/* Free what R holds and zero it. R may be NULL. */
void rd_reply_clear(struct rd_reply *r);

/* Answer the request frame BUF[LEN] received at NOW from the client whose
 * ZAP User-Id is USER_ID (NULL without security), into *OUT (caller
 * owns). The reply of a change that stood (submit, update, erase) is
 * written as text without a tree; the others are built as jansson trees. */
void rd_ops_handle(struct rd_ops *ops, const char *buf, size_t len, const char *user_id,
                   int64_t now, struct rd_reply *out);

/* A failure reply with CODE and MESSAGE, into *OUT, to the request frame
 * BUF[LEN] (borrowed; may be NULL) that is refused before it is decoded
 * (several body frames, no database): it echoes the frame's corr when
 * that is readable (rd_json_scan_corr). */
void rd_ops_refuse(const char *buf, size_t len, enum rd_code code, const char *message,
                   struct rd_reply *out);

/* A new failure reply with CODE, FIELD (may be NULL) and MESSAGE, echoing
 * CORR (the corr of the request or of the reply it replaces, borrowed;
 * copied with its length, U+0000 and all) when not NULL. */
json_t *rd_ops_error(const json_t *corr, enum rd_code code, const char *field, const char *message);

#endif
