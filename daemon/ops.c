/* ops.c: the table that declares each operation (who may call it, whether
 * it writes, whether it is audited), the dispatch that admits a request
 * and runs its handler, and the pieces every handler uses to read a
 * request and build a reply. The handlers are in ops_read.c and
 * ops_write.c. */
#include "ops.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "json_write.h"
#include "macro.h"
#include "ops_priv.h"
#include "referral.h"
#include "request.h"
#include "timefmt.h"
#include "txn.h"

/* ---- replies ------------------------------------------------------------- */

/* A new reply with "ok" and, when there is one, the request's CORR (copied
 * with its length: it may hold U+0000). */
static json_t *reply_new(const json_t *corr, int ok)
{
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_boolean(ok));
        if (corr)
                json_object_set_new(o, "corr", json_deep_copy(corr));
        return o;
}

static json_t *reply_error(const json_t *corr, const struct rd_error *err)
{
        json_t *o = reply_new(corr, 0);
        json_t *e = json_object();
        json_object_set_new(e, "code", json_string(rd_code_name(err->code)));
        json_object_set_new(e, "message", json_string(err->message));
        if (err->field[0])
                json_object_set_new(e, "field", json_string(err->field));
        json_object_set_new(o, "error", e);
        return o;
}

/* The reply to the frame BUF[LEN] refused with ERR before it was decoded,
 * with the corr it carries if that is readable. */
static json_t *refuse(const char *buf, size_t len, const struct rd_error *err)
{
        json_t *corr = NULL, *reply;

        rd_json_scan_corr(buf, len, &corr);
        reply = reply_error(corr, err);
        json_decref(corr);
        return reply;
}

void rd_ops_refuse(const char *buf, size_t len, enum rd_code code, const char *message,
                   struct rd_reply *out)
{
        struct rd_error err;
        rd_error_set(&err, code, NULL, "%s", message);
        rd_ops_reply_of_tree(refuse(buf, len, &err), out);
}

void rd_ops_reply_of_tree(json_t *tree, struct rd_reply *out)
{
        out->text = json_dumps(tree, JSON_COMPACT);
        out->len = out->text ? strlen(out->text) : 0;
        out->ok = json_is_true(json_object_get(tree, "ok"));
        out->corr = json_incref(json_object_get(tree, "corr"));
        /* an erase says whether its bytes are wiped: known after the commit */
        out->unwiped = out->ok && json_is_false(json_object_get(tree, "wiped")) ? tree : NULL;
        if (!out->unwiped)
                json_decref(tree);
}

void rd_reply_clear(struct rd_reply *r)
{
        if (!r)
                return;
        free(r->text);
        json_decref(r->corr);
        json_decref(r->unwiped);
        memset(r, 0, sizeof *r);
}

json_t *rd_ops_error(const json_t *corr, enum rd_code code, const char *field, const char *message)
{
        struct rd_error err;
        rd_error_set(&err, code, field, "%s", message);
        return reply_error(corr, &err);
}

json_t *rd_ops_ok(const struct ctx *c)
{
        return reply_new(c->corr, 1);
}

json_t *rd_ops_fail(const struct ctx *c, const struct rd_error *err)
{
        return reply_error(c->corr, err);
}

json_t *rd_ops_not_found(const struct ctx *c)
{
        return rd_ops_error(c->corr, RD_NOT_FOUND, NULL, "no such referral");
}

json_t *rd_ops_visible(const struct ctx *c, int r, const struct rd_stored *st)
{
        if (r == 0)
                r = rd_store_visible(c->ops->store, st, &c->viewer) == 1 ? 0 : -ENOENT;
        if (r == -ENOENT)
                return rd_ops_not_found(c); /* never whether another partner's exists */
        if (r < 0)
                return rd_ops_internal(c, "reading a referral", r);
        return NULL;
}

void rd_ops_log_fault(const struct ctx *c, const char *what, int r)
{
        rd_txn_log_fault("database fault while %s: %s (%s)", what, strerror(-r),
                         rd_store_errmsg(c->ops->store));
}

json_t *rd_ops_internal(const struct ctx *c, const char *what, int r)
{
        rd_ops_log_fault(c, what, r);
        return rd_ops_error(c->corr, RD_INTERNAL, NULL,
                            "the daemon could not complete this request; nothing was stored; "
                            "retry later");
}

void rd_ops_set_time(json_t *o, const char *key, int64_t ms)
{
        char buf[RD_TIME_STR];
        if (ms)
                json_object_set_new(o, key, json_string(rd_time_format(ms, buf)));
}

/* The decision fields of ST, in the order of the replies: PUT(TO, KEY,
 * VALUE) for each one that is set (a time as RFC 3339). One list for the
 * replies built as trees (get) and those written as text. */
static void each_decision_field(const struct rd_stored *st,
                                void (*put)(void *to, const char *key, const char *value), void *to)
{
        static const struct {
                const char *key;
                size_t offset;
        } strs[] = {{"rule", offsetof(struct rd_stored, rule)},
                    {"team", offsetof(struct rd_stored, team)},
                    {"connector", offsetof(struct rd_stored, connector)}},
          last[] = {{"forward_to", offsetof(struct rd_stored, forward_to)},
                    {"reason", offsetof(struct rd_stored, reason)}};
        const struct {
                const char *key;
                int64_t ms;
        } times[] = {{"start_by", st->start_by_ms},
                     {"expected_start", st->expected_start_ms},
                     {"offer_expires", st->offer_expires_ms}};
        char buf[RD_TIME_STR];

        put(to, "id", st->id);
        put(to, "status", rd_status_name(st->status));
        for (size_t i = 0; i < RD_ELEMENTSOF(strs); i++)
                if (((const char *)st + strs[i].offset)[0])
                        put(to, strs[i].key, (const char *)st + strs[i].offset);
        for (size_t i = 0; i < RD_ELEMENTSOF(times); i++)
                if (times[i].ms)
                        put(to, times[i].key, rd_time_format(times[i].ms, buf));
        for (size_t i = 0; i < RD_ELEMENTSOF(last); i++)
                if (((const char *)st + last[i].offset)[0])
                        put(to, last[i].key, (const char *)st + last[i].offset);
}

static void put_in_tree(void *to, const char *key, const char *value)
{
        json_object_set_new(to, key, json_string(value));
}

static void put_in_text(void *to, const char *key, const char *value)
{
        rd_jw_str(to, key, value);
}

void rd_ops_put_decision(json_t *o, const struct rd_stored *st)
{
        each_decision_field(st, put_in_tree, o);
}

json_t *rd_ops_decided(struct ctx *c, enum decided kind, const struct rd_stored *st, bool duplicate,
                       bool wiped)
{
        c->decision.kind = kind;
        c->decision.st = *st;
        c->decision.duplicate = duplicate;
        c->decision.wiped = wiped;
        return NULL;
}

/* The reply to C that its change stood (C->decision), written without a
 * tree into W: what rd_ops_ok, rd_ops_put_decision and the fields of its
 * kind made as a tree before. */
static void write_decided(const struct ctx *c, struct rd_jw *w)
{
        const struct decision *d = &c->decision;

        rd_jw_open(w);
        rd_jw_member_bool(w, "ok", true);
        if (c->corr) {
                rd_jw_key(w, "corr");
                rd_jw_string(w, json_string_value(c->corr), json_string_length(c->corr));
        }
        each_decision_field(&d->st, put_in_text, w);
        switch (d->kind) {
        case DECIDED_SUBMIT: rd_jw_member_bool(w, "duplicate", d->duplicate); break;
        case DECIDED_UPDATE:
                rd_jw_time_set(w, "started", d->st.started_ms);
                rd_jw_time_set(w, "expected_end", d->st.expected_end_ms);
                break;
        case DECIDED_ERASE:
                rd_jw_time_set(w, "erased", d->st.erased_ms);
                rd_jw_member_bool(w, "wiped", d->wiped);
                break;
        case DECIDED_NONE: break;
        }
        rd_jw_close(w);
}

/* OPS's writer of the replies written as text, set up at the first one and
 * kept (rd_ops_free): emptied, or NULL when out of memory. */
static struct rd_jw *reply_writer(struct rd_ops *ops)
{
        if (!ops->replies.g)
                return rd_jw_init(&ops->replies) == 0 ? &ops->replies : NULL;
        rd_jw_reset(&ops->replies);
        return &ops->replies;
}

void rd_ops_free(struct rd_ops *ops)
{
        if (ops)
                rd_jw_free(&ops->replies);
}

/* C's answer into *OUT: the reply tree REPLY (taken), or when it is NULL
 * the decision, written as text. */
static void finish(const struct ctx *c, json_t *reply, struct rd_reply *out)
{
        struct rd_jw *w;

        if (reply) {
                rd_ops_reply_of_tree(reply, out);
                return;
        }
        memset(out, 0, sizeof *out);
        out->ok = true;
        out->corr = json_incref((json_t *)c->corr);
        w = reply_writer(c->ops);
        if (w) {
                write_decided(c, w);
                out->text = rd_jw_take(w, &out->len);
        }
        if (out->text && c->decision.kind == DECIDED_ERASE && !c->decision.wiped)
                out->unwiped = json_loadb(out->text, out->len, JSON_ALLOW_NUL, NULL);
}

/* ---- reading the request ----------------------------------------------------- */

json_t *rd_ops_check_keys(const struct ctx *c, const char *const *allowed)
{
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)c->req, key, v)
        {
                int ok = strcmp(key, "op") == 0 || strcmp(key, "corr") == 0;
                for (const char *const *a = allowed; !ok && *a; a++)
                        ok = strcmp(key, *a) == 0;
                if (!ok) {
                        struct rd_error err;
                        char keys[160] = "op, corr";
                        for (const char *const *a = allowed; *a; a++)
                                snprintf(keys + strlen(keys), sizeof keys - strlen(keys), ", %s",
                                         *a);
                        /* The key is the client's own text: it is named only by
                         * `field`, and only when it is a plain identifier
                         * (protocol.md: a message never quotes the request). */
                        rd_error_set(&err, RD_INVALID, rd_json_key_is_plain(key) ? key : NULL,
                                     "a %s request has a key it does not take; it takes %s", c->op,
                                     keys);
                        return rd_ops_fail(c, &err);
                }
        }
        return NULL;
}

json_t *rd_ops_get_count(const struct ctx *c, const char *key, int64_t min, int64_t def,
                         int64_t *out)
{
        json_t *v = json_object_get(c->req, key);
        char msg[128];
        if (!v) {
                *out = def;
                return NULL;
        }
        if (!json_is_integer(v) || json_integer_value(v) < min) {
                snprintf(msg, sizeof msg, "%s must be an integer of at least %lld", key,
                         (long long)min);
                return rd_ops_error(c->corr, RD_INVALID, key, msg);
        }
        *out = json_integer_value(v);
        return NULL;
}

json_t *rd_ops_get_string(const struct ctx *c, const char *key, size_t max, const char **out)
{
        json_t *v = json_object_get(c->req, key);
        char msg[160];
        *out = NULL;
        if (!v)
                return NULL;
        if (!json_is_string(v) || rd_utf8_length(json_string_value(v)) > max ||
            strlen(json_string_value(v)) != json_string_length(v)) {
                snprintf(msg, sizeof msg, "%s must be a string of at most %zu characters", key,
                         max);
                return rd_ops_error(c->corr, RD_INVALID, key, msg);
        }
        *out = json_string_value(v);
        return NULL;
}

/* ---- the table ---------------------------------------------------------------- */

/* Roles, as bits. */
#define P (1u << RD_ROLE_PARTNER)
#define CN (1u << RD_ROLE_CONNECTOR)
#define CO (1u << RD_ROLE_COORDINATOR)
#define M (1u << RD_ROLE_MONITOR)

/* How a writing operation is undone when it fails (WRITES below). */
enum {
        READS = 0, /* writes nothing */
        ALONE = 1, /* in a savepoint of its own: undone alone */
        /* without one (rd_hub_request_begin_whole): undone with its
         * transaction when it fails after it wrote; for submit, where the
         * savepoint was a twentieth of the work (docs/performance.md) */
        WHOLE = 2,
};

/* One handler per operation (protocol.md). WRITES: READS, ALONE or WHOLE.
 * ROLES: who may ask (the Security table). AUDITED: recorded in the audit
 * trail with who asked. */
static const struct op {
        const char *name;
        json_t *(*handler)(struct ctx *c);
        int writes;
        unsigned roles;
        int audited;
} ops_table[] = {
        {"submit", rd_op_submit, WHOLE, P | CO, 1},
        {"update", rd_op_update, ALONE, P | CN | CO, 1},
        {"get", rd_op_get, ALONE, P | CN | CO, 1}, /* a read of personal data is audited */
        {"list", rd_op_list, READS, P | CN | CO, 0},
        {"events", rd_op_events, READS, P | CN | CO | M, 0},
        {"ping", rd_op_ping, READS, P | CN | CO | M, 0},
        {"stats", rd_op_stats, READS, CO | M, 0},
        {"erase", rd_op_erase, ALONE, CO, 1},
        {"audit", rd_op_audit, READS, CO, 0},
};

#undef P
#undef CN
#undef CO
#undef M

#define KNOWN_OPS "submit, update, get, list, events, ping, stats, erase, audit"

static const struct op *find_op(const char *name)
{
        for (size_t i = 0; i < sizeof ops_table / sizeof ops_table[0]; i++)
                if (strcmp(ops_table[i].name, name) == 0)
                        return &ops_table[i];
        return NULL;
}

/* ---- admitting a request ------------------------------------------------------- */

/* The request's corr into C. NULL, or a reply without corr when it is not
 * a string of at most RD_CORR_MAX characters. */
static json_t *read_corr(struct ctx *c)
{
        const json_t *corr = json_object_get(c->req, "corr");

        if (corr && !rd_corr_valid(corr))
                return rd_ops_error(NULL, RD_INVALID, "corr",
                                    "corr must be a string of at most 128 characters");
        c->corr = corr;
        return NULL;
}

/* Only corr may hold U+0000: every other top-level string is an id, a name
 * or a time (the referral's own fields are checked by its validator). */
static json_t *refuse_nul(const struct ctx *c)
{
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)c->req, key, v)
        {
                if (json_is_string(v) && strcmp(key, "corr") != 0 &&
                    strlen(json_string_value(v)) != json_string_length(v))
                        return rd_ops_error(c->corr, RD_INVALID,
                                            rd_json_key_is_plain(key) ? key : NULL,
                                            "this field may not contain U+0000");
        }
        return NULL;
}

/* The operation the request names into *OUT, or an `unknown_op` reply. */
static json_t *read_op(struct ctx *c, const struct op **out)
{
        const json_t *opv = json_object_get(c->req, "op");
        const struct op *op = json_is_string(opv) ? find_op(json_string_value(opv)) : NULL;

        if (!op)
                return rd_ops_error(c->corr, RD_UNKNOWN_OP, "op",
                                    !opv ? "the request has no op; known ops are " KNOWN_OPS
                                         : "unknown op; known ops are " KNOWN_OPS);
        c->op = op->name;
        *out = op;
        return NULL;
}

/* Who asks (USER_ID as rd_auth_user gave it: judged by the client list in
 * force now, not at connect) and what they may see, into C. */
static json_t *identify(struct ctx *c, const char *user_id)
{
        if (c->ops->auth) {
                const struct rd_client *cl = rd_auth_lookup(c->ops->auth, user_id);
                if (!cl)
                        return rd_ops_error(c->corr, RD_FORBIDDEN, NULL,
                                            "this client, with the key it connected with, is "
                                            "not (or no longer) listed in the daemon's "
                                            "security.clients");
                c->who = cl->id;
                c->role = cl->role;
        }
        c->viewer.id = c->who;
        c->viewer.kind = c->role == RD_ROLE_PARTNER     ? RD_VIEW_PARTNER
                         : c->role == RD_ROLE_CONNECTOR ? RD_VIEW_CONNECTOR
                                                        : RD_VIEW_ALL;
        return NULL;
}

/* Everything asked of a request before its operation runs, in the order a
 * client meets the errors: corr, shutting down, U+0000, op, a standby
 * (ping only), client, role, a write without a database file.
 * NULL and *OUT when it is admitted, else the reply. */
static json_t *admit(struct ctx *c, const char *user_id, const struct op **out)
{
        const struct op *op = NULL;
        json_t *reply;
        char msg[128];

        if ((reply = read_corr(c)))
                return reply;
        if (c->ops->stopping)
                return rd_ops_error(c->corr, RD_UNAVAILABLE, NULL,
                                    "the daemon is shutting down; nothing was stored; retry "
                                    "later");
        if ((reply = refuse_nul(c)) || (reply = read_op(c, &op)))
                return reply;
        if (c->ops->standby && op->handler != rd_op_ping)
                return rd_ops_error(c->corr, RD_UNAVAILABLE, NULL, RD_OPS_STANDBY);
        if ((reply = identify(c, user_id)))
                return reply;
        if (!(op->roles & (1u << c->role))) {
                snprintf(msg, sizeof msg, "a %s may not use %s", rd_role_name(c->role), op->name);
                return rd_ops_error(c->corr, RD_FORBIDDEN, "op", msg);
        }
        if (op->writes && c->ops->db_lost)
                return rd_ops_error(c->corr, RD_UNAVAILABLE, NULL, RD_OPS_DB_GONE);
        *out = op;
        return NULL;
}

/* ---- running it ------------------------------------------------------------------ */

/* true when a get's REPLY holds the free text of a reason (rev 2). */
static bool has_reason_text(const json_t *reply)
{
        const json_t *why;
        size_t i;
        json_array_foreach(json_object_get(reply, "reasons"), i, why)
        {
                if (json_object_get(why, "reason"))
                        return true;
        }
        return false;
}

/* Record in the audit trail who did what to which referral (REPLY, or
 * C's decision when it is NULL): ids, never the data. A get is recorded
 * only when it returned family data, a note or the free text of a
 * reason. */
static int audit(const struct ctx *c, const json_t *reply)
{
        const char *id =
                reply ? json_string_value(json_object_get(reply, "id")) : c->decision.st.id;
        const json_t *ref = json_object_get(reply, "referral");
        char action[48];

        if (!id)
                return 0;
        if (strcmp(c->op, "get") == 0 && !json_object_get(ref, "family") &&
            !json_object_get(ref, "note") && !has_reason_text(reply))
                return 0;
        if (strcmp(c->op, "update") == 0)
                snprintf(action, sizeof action, "update:%s",
                         json_string_value(json_object_get(c->req, "status")));
        else
                memcpy(action, c->op, strlen(c->op) + 1); /* a name of the table: short */
        return rd_store_audit(c->ops->store, c->now, c->who, rd_role_name(c->role), action, id);
}

/* Run a writing OP as a request of its own (ALONE: in a savepoint): kept
 * with its audit entry when it answers `ok` (or NULL: its change stood,
 * C->decision), else rolled back to nothing (WHOLE, after it wrote: with
 * its transaction, whose other requests the batch then answers as not
 * stored, txn.c). */
static json_t *run_write(struct ctx *c, const struct op *op)
{
        json_t *reply;
        int ok, r = op->writes == WHOLE ? rd_hub_request_begin_whole(c->ops->hub)
                                        : rd_hub_request_begin(c->ops->hub);

        c->ops->writes_run++;
        if (r < 0)
                return rd_ops_internal(c, "starting a request", r);
        reply = op->handler(c);
        ok = !reply || json_is_true(json_object_get(reply, "ok"));
        if (ok && op->audited && (r = audit(c, reply)) < 0) {
                json_decref(reply);
                reply = rd_ops_internal(c, "writing the audit trail", r);
                ok = 0;
        }
        r = rd_hub_request_end(c->ops->hub, ok);
        if (r < 0 && ok) {
                json_decref(reply);
                reply = rd_ops_internal(c, "ending a request", r);
        }
        return reply;
}

void rd_ops_handle(struct rd_ops *ops, const char *buf, size_t len, const char *user_id,
                   int64_t now, struct rd_reply *out)
{
        struct ctx c = {.ops = ops, .now = now, .who = "local", .role = RD_ROLE_COORDINATOR};
        const struct op *op = NULL;
        struct rd_request rq;
        struct rd_error err;
        json_t *reply;

        if (rd_request_decode(buf, len, &rq, &err) < 0) {
                rd_ops_reply_of_tree(refuse(buf, len, &err), out);
                return;
        }
        c.req = rq.top;
        c.rq = &rq;
        reply = admit(&c, user_id, &op);
        if (!reply)
                reply = op->writes ? run_write(&c, op) : op->handler(&c);
        finish(&c, reply, out);
        rd_request_clear(&rq);
}
