#include "ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "referral.h"
#include "timefmt.h"

/* ---- replies ------------------------------------------------------------- */

/* corr of the request being answered, echoed byte for byte (it may hold
 * U+0000); set by rd_ops_handle, NULL when the request had none */
static const json_t *corr_value;

static size_t utf8_length_n(const char *s, size_t n)
{
        size_t count = 0;
        for (size_t i = 0; i < n; i++)
                count += ((unsigned char)s[i] & 0xC0) != 0x80;
        return count;
}

static json_t *corr_json(const char *corr)
{
        if (corr_value && json_string_value(corr_value) == corr)
                return json_stringn(corr, json_string_length(corr_value));
        return json_string(corr);
}

static json_t *reply_ok(const char *corr)
{
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        if (corr)
                json_object_set_new(o, "corr", corr_json(corr));
        return o;
}

static json_t *reply_error(const char *corr, const struct rd_error *err)
{
        json_t *o = json_object();
        json_t *e = json_object();
        json_object_set_new(o, "ok", json_false());
        if (corr)
                json_object_set_new(o, "corr", corr_json(corr));
        json_object_set_new(e, "code", json_string(rd_code_name(err->code)));
        json_object_set_new(e, "message", json_string(err->message));
        if (err->field[0])
                json_object_set_new(e, "field", json_string(err->field));
        json_object_set_new(o, "error", e);
        return o;
}

json_t *rd_ops_error(const char *corr, enum rd_code code, const char *field, const char *message)
{
        struct rd_error err;
        rd_error_set(&err, code, field, "%s", message);
        return reply_error(corr, &err);
}

static void set_time(json_t *o, const char *key, int64_t ms)
{
        char buf[RD_TIME_STR];
        if (ms)
                json_object_set_new(o, key, json_string(rd_time_format(ms, buf)));
}

static void set_str(json_t *o, const char *key, const char *v)
{
        if (v[0])
                json_object_set_new(o, key, json_string(v));
}

/* The decision fields of a stored referral, into O. */
static void put_decision(json_t *o, const struct rd_stored *st)
{
        json_object_set_new(o, "id", json_string(st->id));
        json_object_set_new(o, "status", json_string(rd_status_name(st->status)));
        set_str(o, "rule", st->rule);
        set_str(o, "team", st->team);
        set_str(o, "connector", st->connector);
        set_time(o, "start_by", st->start_by_ms);
        set_time(o, "expected_start", st->expected_start_ms);
        set_time(o, "offer_expires", st->offer_expires_ms);
        set_str(o, "forward_to", st->forward_to);
        set_str(o, "reason", st->reason);
}

/* ---- request helpers ------------------------------------------------------- */

struct ctx {
        struct rd_ops *ops;
        const json_t *req;
        const char *op;
        const char *corr;
        int64_t now;
        /* who asks: with security the client in force, else a local coordinator */
        const char *who;
        enum rd_role role;
        struct rd_viewer viewer;
};

static const struct rd_viewer *viewer(const struct ctx *c)
{
        return &c->viewer;
}

static json_t *not_found(const struct ctx *c)
{
        return rd_ops_error(c->corr, RD_NOT_FOUND, NULL, "no such referral");
}

/* Reject keys of REQ other than op, corr and the NULL-terminated ALLOWED. */
static json_t *check_keys(const struct ctx *c, const char *const *allowed)
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
                        /* The key is the client's own text: name it only when it
                         * is a plain identifier, so no free text is echoed. */
                        if (rd_json_key_is_plain(key))
                                rd_error_set(&err, RD_INVALID, key,
                                             "unknown key '%s' in a %s request", key, c->op);
                        else
                                rd_error_set(&err, RD_INVALID, NULL,
                                             "a %s request has an unknown key", c->op);
                        return reply_error(c->corr, &err);
                }
        }
        return NULL;
}

/* Read an optional non-negative integer KEY of the request. */
static json_t *get_count(const struct ctx *c, const char *key, int64_t min, int64_t def,
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

static void log_fault(const struct ctx *c, const char *what, int r)
{
        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "database fault while %s: %s (%s)", what,
               strerror(-r), rd_store_errmsg(c->ops->store));
}

static json_t *internal_error(const struct ctx *c, const char *what, int r)
{
        log_fault(c, what, r);
        return rd_ops_error(c->corr, RD_INTERNAL, NULL,
                            "the daemon could not complete this request; nothing was stored; "
                            "retry later");
}

/* ---- get, list, events, ping, stats ------------------------------------------ */

static json_t *op_get(struct ctx *c)
{
        static const char *const keys[] = {"id", "partner", "ref", NULL};
        struct rd_stored st;
        json_t *reply, *content = NULL, *trace = NULL, *history;
        const char *id, *partner, *ref;
        char digest[65];
        int r;

        if ((reply = check_keys(c, keys)))
                return reply;
        id = json_string_value(json_object_get(c->req, "id"));
        partner = json_string_value(json_object_get(c->req, "partner"));
        ref = json_string_value(json_object_get(c->req, "ref"));
        if (json_object_get(c->req, "id") && !id)
                return rd_ops_error(c->corr, RD_INVALID, "id", "id must be a string");
        if (json_object_get(c->req, "partner") && !partner)
                return rd_ops_error(c->corr, RD_INVALID, "partner", "partner must be a string");
        if (json_object_get(c->req, "ref") && !ref)
                return rd_ops_error(c->corr, RD_INVALID, "ref", "ref must be a string");
        if (id && (partner || ref))
                return rd_ops_error(c->corr, RD_INVALID, "id",
                                    "give either id, or partner and ref, not both");
        if (id)
                r = rd_store_get(c->ops->store, id, &st);
        else if (partner && ref)
                r = rd_store_find(c->ops->store, partner, ref, &st);
        else
                return rd_ops_error(c->corr, RD_INVALID, partner ? "ref" : "id",
                                    "a get request needs id, or partner and ref");
        if (r == 0)
                r = rd_store_visible(c->ops->store, &st, viewer(c)) == 1 ? 0 : -ENOENT;
        if (r == -ENOENT)
                return not_found(c); /* never whether another partner's exists */
        if (r < 0)
                return internal_error(c, "reading a referral", r);
        history = json_array();
        r = rd_store_content(c->ops->store, st.rowid, &content, &trace, digest);
        if (r == 0)
                r = rd_store_history(c->ops->store, st.rowid, history);
        if (r < 0) {
                json_decref(history);
                json_decref(content);
                json_decref(trace);
                return internal_error(c, "reading a referral", r);
        }
        reply = reply_ok(c->corr);
        json_object_set_new(reply, "referral", content ? content : json_null());
        put_decision(reply, &st);
        json_object_set_new(reply, "history", history);
        if (trace)
                json_object_set_new(reply, "trace", trace);
        if (digest[0])
                json_object_set_new(reply, "rules_digest", json_string(digest));
        return reply;
}

static json_t *op_list(struct ctx *c)
{
        static const char *const keys[] = {"status", "since", "limit", NULL};
        json_t *reply, *arr, *sv = json_object_get(c->req, "status");
        enum rd_status status;
        int64_t since, limit;
        int r;

        if ((reply = check_keys(c, keys)) || (reply = get_count(c, "since", 0, 0, &since)) ||
            (reply = get_count(c, "limit", 1, RD_LIST_LIMIT_DEFAULT, &limit)))
                return reply;
        if (sv && (!json_is_string(sv) || rd_status_parse(json_string_value(sv), &status) < 0 ||
                   status == RD_STATUS_RECEIVED))
                return rd_ops_error(c->corr, RD_INVALID, "status",
                                    "status must be one of waitlisted, assigned, accepted, "
                                    "started, forwarded, closed, withdrawn");
        if (limit > RD_LIST_LIMIT_MAX)
                limit = RD_LIST_LIMIT_MAX;
        arr = json_array();
        r = rd_store_list(c->ops->store, sv ? (int)status : -1, since, limit, viewer(c), arr);
        if (r < 0) {
                json_decref(arr);
                return internal_error(c, "listing referrals", r);
        }
        reply = reply_ok(c->corr);
        json_object_set_new(reply, "referrals", arr);
        json_object_set_new(reply, "last", json_integer(rd_store_last_seq(c->ops->store)));
        return reply;
}

static json_t *op_events(struct ctx *c)
{
        static const char *const keys[] = {"since", "limit", NULL};
        json_t *reply, *arr;
        int64_t since, limit;
        int r;

        if ((reply = check_keys(c, keys)) || (reply = get_count(c, "since", 0, 0, &since)) ||
            (reply = get_count(c, "limit", 1, RD_EVENTS_LIMIT_DEFAULT, &limit)))
                return reply;
        if (limit > RD_EVENTS_LIMIT_MAX)
                limit = RD_EVENTS_LIMIT_MAX;
        arr = json_array();
        r = rd_store_events(c->ops->store, since, limit, viewer(c), arr);
        if (r < 0) {
                json_decref(arr);
                return internal_error(c, "reading events", r);
        }
        reply = reply_ok(c->corr);
        json_object_set_new(reply, "events", arr);
        json_object_set_new(reply, "last", json_integer(rd_store_last_seq(c->ops->store)));
        return reply;
}

static json_t *op_ping(struct ctx *c)
{
        static const char *const keys[] = {NULL};
        json_t *reply;
        if ((reply = check_keys(c, keys)))
                return reply;
        reply = reply_ok(c->corr);
        json_object_set_new(reply, "version", json_string(RD_VERSION));
        json_object_set_new(reply, "uptime_s", json_integer((c->now - c->ops->started_ms) / 1000));
        json_object_set_new(reply, "last_seq", json_integer(rd_store_last_seq(c->ops->store)));
        return reply;
}

static json_t *durations(const struct rd_durations *d)
{
        return json_pack("{s:I, s:o, s:o}", "count", (json_int_t)d->count, "p50_s",
                         d->count ? json_integer(d->p50_ms / 1000) : json_null(), "p90_s",
                         d->count ? json_integer(d->p90_ms / 1000) : json_null());
}

/* The figures coordinators ask for (an extension of protocol.md's stats,
 * see docs/integration.md). */
static void put_figures(json_t *reply, const struct rd_figures *f, int64_t started, int64_t in_time)
{
        json_t *fw = json_array();
        int64_t forwarded = 0, decided = 0;
        char t[RD_TIME_STR];
        json_t *by = json_object_get(reply, "by_status");
        const char *key;
        json_t *v;

        for (size_t i = 0; i < f->n_forwards; i++) {
                json_array_append_new(fw, json_pack("{s:s, s:I}", "to", f->forwards[i].to, "count",
                                                    (json_int_t)f->forwards[i].count));
                forwarded += f->forwards[i].count;
        }
        json_object_foreach(by, key, v) decided += json_integer_value(v);
        json_object_set_new(
                reply, "window",
                json_pack("{s:I, s:I, s:o}", "started", (json_int_t)started, "in_time",
                          (json_int_t)in_time, "share_in_time",
                          started ? json_real((double)in_time / (double)started) : json_null()));
        json_object_set_new(reply, "time_to_offer", durations(&f->to_offer));
        json_object_set_new(reply, "time_to_start", durations(&f->to_start));
        json_object_set_new(
                reply, "forwarded",
                json_pack("{s:I, s:o, s:o}", "count", (json_int_t)forwarded, "share",
                          decided ? json_real((double)forwarded / (double)decided) : json_null(),
                          "to", fw));
        json_object_set_new(
                reply, "waitlist",
                json_pack("{s:I, s:o}", "length", (json_int_t)f->waiting, "oldest",
                          f->oldest_waiting_received_ms
                                  ? json_string(rd_time_format(f->oldest_waiting_received_ms, t))
                                  : json_null()));
}

static json_t *op_stats(struct ctx *c)
{
        static const char *const keys[] = {NULL};
        const struct rd_rules *rules = rd_hub_rules(c->ops->hub);
        int64_t counts[RD_STATUS__MAX], started, in_time;
        struct rd_figures fig;
        json_t *reply, *by_status, *teams;
        int r;

        if ((reply = check_keys(c, keys)))
                return reply;
        r = rd_store_count_by_status(c->ops->store, counts);
        if (r == 0)
                r = rd_store_window_counts(c->ops->store, &started, &in_time);
        if (r < 0)
                return internal_error(c, "counting referrals", r);
        by_status = json_object();
        for (int i = 0; i < RD_STATUS__MAX; i++)
                if (counts[i] && i != RD_STATUS_RECEIVED)
                        json_object_set_new(by_status, rd_status_name((enum rd_status)i),
                                            json_integer(counts[i]));
        teams = json_array();
        for (size_t t = 0; t < rules->n_teams; t++) {
                const struct rd_team *team = &rules->teams[t];
                json_t *conns = json_array();
                uint64_t cap = 0, load = 0;
                for (size_t k = 0; k < team->n_connectors; k++) {
                        size_t ci = team->connectors[k];
                        cap += rules->connectors[ci].capacity;
                        load += rd_hub_load(c->ops->hub, ci);
                        json_array_append_new(
                                conns,
                                json_pack("{s:s, s:I, s:I}", "id", rules->connectors[ci].id,
                                          "capacity", (json_int_t)rules->connectors[ci].capacity,
                                          "load", (json_int_t)rd_hub_load(c->ops->hub, ci)));
                }
                json_array_append_new(teams, json_pack("{s:s, s:I, s:I, s:o}", "id", team->id,
                                                       "capacity", (json_int_t)cap, "load",
                                                       (json_int_t)load, "connectors", conns));
        }
        r = rd_store_figures(c->ops->store, &fig);
        if (r < 0) {
                json_decref(by_status);
                json_decref(teams);
                return internal_error(c, "computing figures", r);
        }
        reply = reply_ok(c->corr);
        json_object_set_new(reply, "by_status", by_status);
        put_figures(reply, &fig, started, in_time);
        json_object_set_new(reply, "teams", teams);
        json_object_set_new(reply, "rules_digest", json_string(rules->digest));
        json_object_set_new(reply, "last_seq", json_integer(rd_store_last_seq(c->ops->store)));
        return reply;
}

/* ---- submit and update -------------------------------------------------------- */

static json_t *op_submit(struct ctx *c)
{
        static const char *const keys[] = {"referral", NULL};
        struct rd_referral ref;
        struct rd_error err;
        struct rd_stored st;
        bool duplicate;
        json_t *reply, *body;
        int r;

        if ((reply = check_keys(c, keys)))
                return reply;
        body = json_object_get(c->req, "referral");
        if (!body)
                return rd_ops_error(c->corr, RD_INVALID, "referral",
                                    "a submit request needs a referral object");
        if (rd_referral_from_json(body, &ref, &err) < 0)
                return reply_error(c->corr, &err);
        if (c->role == RD_ROLE_PARTNER) {
                /* a partner submits as itself */
                if (!ref.partner[0]) {
                        snprintf(ref.partner, sizeof ref.partner, "%s", c->who);
                } else if (strcmp(ref.partner, c->who) != 0) {
                        rd_referral_clear(&ref);
                        return rd_ops_error(c->corr, RD_FORBIDDEN, "referral.partner",
                                            "a partner submits as itself: leave referral.partner "
                                            "out or give your own client id");
                }
        }
        if (!ref.partner[0]) {
                rd_referral_clear(&ref);
                return rd_ops_error(c->corr, RD_INVALID, "referral.partner",
                                    "referral.partner is required: the id of the referring "
                                    "partner, e.g. \"ocmw-genk\"");
        }
        r = rd_hub_submit(c->ops->hub, &ref, c->now, &st, &duplicate, &err);
        rd_referral_clear(&ref);
        if (r < 0) {
                if (err.code == RD_INTERNAL)
                        log_fault(c, "storing a referral", r);
                return reply_error(c->corr, &err);
        }
        reply = reply_ok(c->corr);
        put_decision(reply, &st);
        json_object_set_new(reply, "duplicate", json_boolean(duplicate));
        return reply;
}

/* An optional string KEY of at most MAX characters into *OUT. */
static json_t *get_string(const struct ctx *c, const char *key, size_t max, const char **out)
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

static json_t *op_update(struct ctx *c)
{
        static const char *const keys[] = {"id",         "status",       "connector", "reason",
                                           "forward_to", "expected_end", NULL};
        struct rd_update u = {0};
        struct rd_error err;
        struct rd_stored st;
        const char *status, *end;
        bool changed;
        json_t *reply;
        int r;

        if ((reply = check_keys(c, keys)) || (reply = get_string(c, "id", 32, &u.id)) ||
            (reply = get_string(c, "status", 32, &status)) ||
            (reply = get_string(c, "connector", RD_ID_MAX, &u.connector)) ||
            (reply = get_string(c, "forward_to", RD_ID_MAX, &u.forward_to)) ||
            (reply = get_string(c, "reason", RD_UPDATE_REASON_MAX, &u.reason)) ||
            (reply = get_string(c, "expected_end", 64, &end)))
                return reply;
        if (!u.id)
                return rd_ops_error(c->corr, RD_INVALID, "id", "an update needs the referral's id");
        if (!status)
                return rd_ops_error(c->corr, RD_INVALID, "status",
                                    "an update needs status: accepted, started, declined, "
                                    "closed, withdrawn, assigned or forwarded");
        if (strcmp(status, "declined") == 0)
                u.declined = true;
        else if (rd_status_parse(status, &u.status) < 0 || u.status == RD_STATUS_RECEIVED)
                return rd_ops_error(c->corr, RD_INVALID, "status",
                                    "status must be one of accepted, started, declined, closed, "
                                    "withdrawn, assigned, forwarded");
        if (end && rd_time_parse(end, &u.expected_end_ms) < 0)
                return rd_ops_error(c->corr, RD_INVALID, "expected_end",
                                    "expected_end must be an RFC 3339 time, e.g. "
                                    "2027-03-01T00:00:00Z");
        if (c->role == RD_ROLE_PARTNER || c->role == RD_ROLE_CONNECTOR) {
                r = rd_store_get(c->ops->store, u.id, &st);
                if (r == 0)
                        r = rd_store_visible(c->ops->store, &st, viewer(c)) == 1 ? 0 : -ENOENT;
                if (r == -ENOENT)
                        return not_found(c);
                if (r < 0)
                        return internal_error(c, "reading a referral", r);
                if (c->role == RD_ROLE_PARTNER && (strcmp(st.partner, c->who) != 0 || u.declined ||
                                                   u.status != RD_STATUS_WITHDRAWN))
                        return rd_ops_error(c->corr, RD_FORBIDDEN, "status",
                                            "a partner may only withdraw referrals it submitted");
                if (c->role == RD_ROLE_CONNECTOR) {
                        if (!u.declined && u.status != RD_STATUS_ACCEPTED &&
                            u.status != RD_STATUS_STARTED && u.status != RD_STATUS_CLOSED)
                                return rd_ops_error(c->corr, RD_FORBIDDEN, "status",
                                                    "a connector may accept, decline, start and "
                                                    "close; a coordinator does the rest");
                        if (u.connector && strcmp(u.connector, c->who) != 0)
                                return rd_ops_error(c->corr, RD_FORBIDDEN, "connector",
                                                    "a connector acts as itself");
                        u.connector = c->who; /* its own id is used */
                }
        }
        r = rd_hub_update(c->ops->hub, &u, c->now, &st, &changed, &err);
        if (r < 0) {
                if (err.code == RD_INTERNAL)
                        log_fault(c, "storing an update", r);
                return reply_error(c->corr, &err);
        }
        reply = reply_ok(c->corr);
        put_decision(reply, &st);
        if (st.started_ms)
                set_time(reply, "started", st.started_ms);
        if (st.expected_end_ms)
                set_time(reply, "expected_end", st.expected_end_ms);
        return reply;
}

static json_t *op_erase(struct ctx *c)
{
        static const char *const keys[] = {"id", NULL};
        struct rd_error err;
        struct rd_stored st;
        const char *id;
        bool changed;
        json_t *reply;
        int r;

        if ((reply = check_keys(c, keys)) || (reply = get_string(c, "id", 32, &id)))
                return reply;
        if (!id)
                return rd_ops_error(c->corr, RD_INVALID, "id", "an erase needs the referral's id");
        r = rd_hub_erase(c->ops->hub, id, c->now, &st, &changed, &err);
        if (r < 0) {
                if (err.code == RD_INTERNAL)
                        log_fault(c, "erasing", r);
                return reply_error(c->corr, &err);
        }
        reply = reply_ok(c->corr);
        put_decision(reply, &st);
        set_time(reply, "erased", st.erased_ms);
        return reply;
}

static json_t *op_audit(struct ctx *c)
{
        static const char *const keys[] = {"since", "limit", "id", NULL};
        int64_t since, limit, last;
        const char *id;
        json_t *reply, *arr;
        int r;

        if ((reply = check_keys(c, keys)) || (reply = get_count(c, "since", 0, 0, &since)) ||
            (reply = get_count(c, "limit", 1, RD_LIST_LIMIT_DEFAULT, &limit)) ||
            (reply = get_string(c, "id", 32, &id)))
                return reply;
        if (limit > RD_EVENTS_LIMIT_MAX)
                limit = RD_EVENTS_LIMIT_MAX;
        arr = json_array();
        r = rd_store_audit_list(c->ops->store, since, limit, id, arr, &last);
        if (r < 0) {
                json_decref(arr);
                return internal_error(c, "reading the audit trail", r);
        }
        reply = reply_ok(c->corr);
        json_object_set_new(reply, "entries", arr);
        json_object_set_new(reply, "last", json_integer(last));
        return reply;
}

/* Roles, as bits. */
#define P (1u << RD_ROLE_PARTNER)
#define CN (1u << RD_ROLE_CONNECTOR)
#define CO (1u << RD_ROLE_COORDINATOR)
#define M (1u << RD_ROLE_MONITOR)

/* One handler per operation (protocol.md). WRITES: runs in a savepoint of
 * its own. ROLES: who may ask (the Security table). AUDITED: recorded in the
 * audit trail with who asked. */
static const struct op {
        const char *name;
        json_t *(*handler)(struct ctx *c);
        int writes;
        unsigned roles;
        int audited;
} ops_table[] = {
        {"submit", op_submit, 1, P | CO, 1},
        {"update", op_update, 1, P | CN | CO, 1},
        {"get", op_get, 1, P | CN | CO, 1}, /* a read of personal data is audited */
        {"list", op_list, 0, P | CN | CO, 0},
        {"events", op_events, 0, P | CN | CO | M, 0},
        {"ping", op_ping, 0, P | CN | CO | M, 0},
        {"stats", op_stats, 0, CO | M, 0},
        {"erase", op_erase, 1, CO, 1},
        {"audit", op_audit, 0, CO, 0},
};

#undef P
#undef CN
#undef CO
#undef M

#define KNOWN_OPS "submit, update, get, list, events, ping, stats, erase, audit"

/* Record in the audit trail who did what to which referral: ids, never the
 * data. A get is recorded only when it returned family data or a note. */
static int audit(const struct ctx *c, const json_t *reply)
{
        const char *id = json_string_value(json_object_get(reply, "id"));
        const json_t *ref = json_object_get(reply, "referral");
        char action[48];

        if (!id)
                return 0;
        if (strcmp(c->op, "get") == 0 && !json_object_get(ref, "family") &&
            !json_object_get(ref, "note"))
                return 0;
        if (strcmp(c->op, "update") == 0)
                snprintf(action, sizeof action, "update:%s",
                         json_string_value(json_object_get(c->req, "status")));
        else
                snprintf(action, sizeof action, "%s", c->op);
        return rd_store_audit(c->ops->store, c->now, c->who, rd_role_name(c->role), action, id);
}

static const struct op *find_op(const char *name)
{
        for (size_t i = 0; i < sizeof ops_table / sizeof ops_table[0]; i++)
                if (strcmp(ops_table[i].name, name) == 0)
                        return &ops_table[i];
        return NULL;
}

static json_t *handle(struct rd_ops *ops, const char *buf, size_t len, const char *user_id,
                      int64_t now);

json_t *rd_ops_handle(struct rd_ops *ops, const char *buf, size_t len, const char *user_id,
                      int64_t now)
{
        json_t *reply;
        corr_value = NULL;
        reply = handle(ops, buf, len, user_id, now);
        corr_value = NULL; /* it pointed into the request, which is gone */
        return reply;
}

static json_t *handle(struct rd_ops *ops, const char *buf, size_t len, const char *user_id,
                      int64_t now)
{
        struct ctx c = {.ops = ops, .now = now, .who = "local", .role = RD_ROLE_COORDINATOR};
        struct rd_error err;
        json_t *req = NULL, *reply, *corr, *opv;
        const struct op *op;
        int r;

        if (rd_json_parse_request(buf, len, &req, &err) < 0)
                return reply_error(NULL, &err);
        c.req = req;
        corr = json_object_get(req, "corr");
        if (corr) {
                if (!json_is_string(corr) ||
                    utf8_length_n(json_string_value(corr), json_string_length(corr)) >
                            RD_CORR_MAX) {
                        json_decref(req);
                        return rd_ops_error(NULL, RD_INVALID, "corr",
                                            "corr must be a string of at most 128 characters");
                }
                c.corr = json_string_value(corr);
                corr_value = corr;
        } else {
                corr_value = NULL;
        }
        if (ops->stopping) {
                reply = rd_ops_error(c.corr, RD_UNAVAILABLE, NULL,
                                     "the daemon is shutting down; nothing was stored; retry "
                                     "later");
                json_decref(req);
                return reply;
        }
        {
                /* only corr may hold U+0000: every other top-level string is an
                 * id, a name or a time (the referral's own fields are checked
                 * by its validator) */
                const char *key;
                json_t *v;
                json_object_foreach(req, key, v)
                {
                        if (json_is_string(v) && strcmp(key, "corr") != 0 &&
                            strlen(json_string_value(v)) != json_string_length(v)) {
                                reply = rd_ops_error(c.corr, RD_INVALID,
                                                     rd_json_key_is_plain(key) ? key : NULL,
                                                     "this field may not contain U+0000");
                                json_decref(req);
                                return reply;
                        }
                }
        }
        opv = json_object_get(req, "op");
        if (!opv || !json_is_string(opv) || !(op = find_op(json_string_value(opv)))) {
                reply = rd_ops_error(c.corr, RD_UNKNOWN_OP, "op",
                                     !opv ? "the request has no op; known ops are " KNOWN_OPS
                                          : "unknown op; known ops are " KNOWN_OPS);
                json_decref(req);
                return reply;
        }
        c.op = op->name;
        if (ops->auth) {
                /* judged by the client list in force now, not at connect */
                const struct rd_client *cl = rd_auth_lookup(ops->auth, user_id);
                if (!cl) {
                        reply = rd_ops_error(c.corr, RD_FORBIDDEN, NULL,
                                             "this client is not (or no longer) listed in the "
                                             "daemon's security.clients");
                        json_decref(req);
                        return reply;
                }
                c.who = cl->id;
                c.role = cl->role;
        }
        c.viewer.id = c.who;
        c.viewer.kind = c.role == RD_ROLE_PARTNER     ? RD_VIEW_PARTNER
                        : c.role == RD_ROLE_CONNECTOR ? RD_VIEW_CONNECTOR
                                                      : RD_VIEW_ALL;
        if (!(op->roles & (1u << c.role))) {
                char msg[128];
                snprintf(msg, sizeof msg, "a %s may not use %s", rd_role_name(c.role), op->name);
                reply = rd_ops_error(c.corr, RD_FORBIDDEN, "op", msg);
                json_decref(req);
                return reply;
        }
        if (!op->writes) {
                reply = op->handler(&c);
        } else {
                r = rd_hub_request_begin(ops->hub);
                if (r < 0) {
                        reply = internal_error(&c, "starting a request", r);
                } else {
                        int ok;
                        reply = op->handler(&c);
                        ok = json_is_true(json_object_get(reply, "ok"));
                        if (ok && op->audited && (r = audit(&c, reply)) < 0) {
                                json_decref(reply);
                                reply = internal_error(&c, "writing the audit trail", r);
                                ok = 0;
                        }
                        r = rd_hub_request_end(ops->hub, ok);
                        if (r < 0 && ok) {
                                json_decref(reply);
                                reply = internal_error(&c, "ending a request", r);
                        }
                }
        }
        json_decref(req);
        return reply;
}
