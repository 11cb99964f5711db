/* ops_priv.h: what the files of the operations share (not for the rest of
 * the daemon). ops.c holds the table that declares each operation, the
 * dispatch and the pieces every handler uses; ops_read.c the operations
 * that only read, ops_write.c those that change referrals. */
#ifndef RD_OPS_PRIV_H
#define RD_OPS_PRIV_H

#include <jansson.h>
#include <stdint.h>

#include "ops.h"
#include "request.h"
#include "store.h"

/* A change that stood: its reply is written as text from these (ops.c),
 * without a tree (docs/performance.md, issue 16, cut 6). */
enum decided { DECIDED_NONE = 0, DECIDED_SUBMIT, DECIDED_UPDATE, DECIDED_ERASE };
struct decision {
        enum decided kind;
        struct rd_stored st;
        bool duplicate; /* submit: the same content was stored before */
        bool wiped;     /* erase: its bytes are gone from the files already */
};

/* The request being answered: everything a reply is built from. Lives as
 * long as one call of rd_ops_handle; nothing outside it changes per
 * request. */
struct ctx {
        struct rd_ops *ops;
        const json_t *req; /* the parsed request (borrowed): its referral stands in (request.h) */
        struct rd_request *rq; /* the decoded request, with its referral (borrowed) */
        const char *op;        /* its operation's name */
        const json_t *corr;    /* its corr, echoed byte for byte (it may hold U+0000), or NULL */
        int64_t now;
        /* who asks: with security the client in force, else a local coordinator */
        const char *who;
        enum rd_role role;
        struct rd_viewer viewer;
        struct decision decision; /* the handler's answer when it returned NULL */
};

/* The handlers, each named in the table of ops.c (which says who may call
 * it and whether it writes). Each returns a new reply object, or NULL
 * when its change stood: then C->decision is the answer (rd_ops_decided). */
json_t *rd_op_get(struct ctx *c);
json_t *rd_op_list(struct ctx *c);
json_t *rd_op_events(struct ctx *c);
json_t *rd_op_ping(struct ctx *c);
json_t *rd_op_stats(struct ctx *c);
json_t *rd_op_audit(struct ctx *c);
json_t *rd_op_submit(struct ctx *c);
json_t *rd_op_update(struct ctx *c);
json_t *rd_op_erase(struct ctx *c);

/* A new `ok` reply to C, echoing its corr. */
json_t *rd_ops_ok(const struct ctx *c);

/* A new failure reply to C with ERR (borrowed), echoing its corr. */
json_t *rd_ops_fail(const struct ctx *c, const struct rd_error *err);

/* `not_found`, worded so that it never tells whether another partner's
 * referral exists. */
json_t *rd_ops_not_found(const struct ctx *c);

/* R is the result of reading ST (0, -ENOENT, or a store fault): NULL when
 * ST exists and C's client may see it, else `not_found` or `internal`. */
json_t *rd_ops_visible(const struct ctx *c, int r, const struct rd_stored *st);

/* Log a store fault R while doing WHAT (LOG_ERR, no personal data; at most
 * a line a second, rd_txn_log_fault). */
void rd_ops_log_fault(const struct ctx *c, const char *what, int r);

/* Log the fault R while doing WHAT and return a new `internal` reply. */
json_t *rd_ops_internal(const struct ctx *c, const char *what, int r);

/* Reading the request. Each returns NULL when the request is fine (the
 * out-parameter written), else a new `invalid` reply naming the field. */

/* Keys other than op, corr and the NULL-terminated ALLOWED are refused. */
json_t *rd_ops_check_keys(const struct ctx *c, const char *const *allowed);

/* The optional integer KEY (at least MIN) into *OUT, DEF when absent. */
json_t *rd_ops_get_count(const struct ctx *c, const char *key, int64_t min, int64_t def,
                         int64_t *out);

/* The optional string KEY of at most MAX characters, without U+0000, into
 * *OUT (borrowed from the request; NULL when absent). */
json_t *rd_ops_get_string(const struct ctx *c, const char *key, size_t max, const char **out);

/* The answer to C that its change KIND stood, with ST: into C->decision
 * (DUPLICATE for a submit, WIPED for an erase); returns NULL, as a handler
 * does then. */
json_t *rd_ops_decided(struct ctx *c, enum decided kind, const struct rd_stored *st, bool duplicate,
                       bool wiped);

/* Into reply O: the decision fields of ST, and time KEY when MS is not 0. */
void rd_ops_put_decision(json_t *o, const struct rd_stored *st);
void rd_ops_set_time(json_t *o, const char *key, int64_t ms);

#endif
