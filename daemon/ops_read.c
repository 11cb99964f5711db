/* ops_read.c: the operations that only read (get, list, events, ping,
 * stats, audit). get runs in a savepoint all the same: a read of personal
 * data is written to the audit trail (the table in ops.c). */

#include "embedded.h"
#include "ops_priv.h"
#include "referral.h"
#include "timefmt.h"

#include <string.h>

/* Items read from the store at a time while a page is filled, so that a
 * page of 10,000 small items never holds more than this many decoded
 * beyond what fits. */
#define PAGE_CHUNK 256
/* What a page reply holds besides its items: ok, a corr of 128 code
 * points escaped (6 bytes each at most), last, more, the keys. */
#define PAGE_MARGIN 1024

/* The referral a get request names (id, or partner and ref) into *ST,
 * when C's client may see it. NULL, or the reply. */
static json_t *get_lookup(const struct ctx *c, struct rd_stored *st)
{
        const char *id = json_string_value(json_object_get(c->req, "id"));
        const char *partner = json_string_value(json_object_get(c->req, "partner"));
        const char *ref = json_string_value(json_object_get(c->req, "ref"));

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
                return rd_ops_visible(c, rd_store_get(c->ops->store, id, st), st);
        if (partner && ref)
                return rd_ops_visible(c, rd_store_find(c->ops->store, partner, ref, st), st);
        return rd_ops_error(c->corr, RD_INVALID, partner ? "ref" : "id",
                            "a get request needs id, or partner and ref");
}

/* Bytes of V as compact JSON. */
static size_t json_bytes(const json_t *v)
{
        return json_dumpb(v, NULL, 0, JSON_COMPACT);
}

/* Put TRACE (may be NULL) and HISTORY (both taken; the newest events,
 * OMITTED older ones not read) into the get reply R, within RD_PAGE_BYTES
 * in all: a trace that does not fit (a decision under a very large routing
 * file) is left out with "trace_omitted": true, then the oldest events
 * that do not fit (a referral re-assigned thousands of times); those and
 * the OMITTED are counted in "history_omitted". */
static void fit_get(json_t *r, json_t *trace, json_t *history, int64_t omitted)
{
        size_t bytes = json_bytes(r) + PAGE_MARGIN, n = json_array_size(history), keep = n;
        size_t t = trace ? json_bytes(trace) : 0, h = json_bytes(history);

        if (trace && bytes + t + h > RD_PAGE_BYTES) {
                json_object_set_new(r, "trace_omitted", json_true());
                json_decref(trace);
                trace = NULL;
        }
        if (trace)
                json_object_set_new(r, "trace", trace);
        bytes += trace ? t : 0;
        if (bytes + h > RD_PAGE_BYTES) {
                /* the newest events that fit, oldest first */
                for (h = 2, keep = 0; keep < n; keep++) {
                        size_t e = json_bytes(json_array_get(history, n - 1 - keep)) + 1;
                        if (bytes + h + e > RD_PAGE_BYTES)
                                break;
                        h += e;
                }
                for (size_t i = 0; i < n - keep; i++)
                        json_array_remove(history, 0);
        }
        omitted += (int64_t)(n - keep);
        if (omitted > 0)
                json_object_set_new(r, "history_omitted", json_integer((json_int_t)omitted));
        json_object_set_new(r, "history", history);
}

/* The trace TEXT (may be NULL) of a referral decided under the routing
 * file DIGEST, as JSON (rd_hub_trace_json), into *OUT: NULL when there is
 * none or it cannot be shown. A trace that does not read, or a compact one
 * whose routing file the database does not keep (never in a database the
 * daemon kept: it records every file it puts in force before it decides
 * under it), is left out and the fault logged. 0 or a negative errno (a
 * store fault, -ENOMEM). */
static int get_trace(const struct ctx *c, const char *text, const char *digest, json_t **out)
{
        int r = text ? rd_hub_trace_json(c->ops->hub, text, digest, out) : 0;

        if (r == -ENOENT || r == -EBADMSG) {
                rd_ops_log_fault(c, "showing a decision trace", r);
                return 0;
        }
        return r;
}

json_t *rd_op_get(struct ctx *c)
{
        static const char *const keys[] = {"id", "partner", "ref", NULL};
        struct rd_stored st;
        json_t *reply, *content = NULL, *trace = NULL, *history, *reasons;
        char digest[65], *text = NULL;
        int64_t omitted = 0;
        int r;

        if ((reply = rd_ops_check_keys(c, keys)) || (reply = get_lookup(c, &st)))
                return reply;
        history = json_array();
        reasons = json_array();
        r = rd_store_content(c->ops->store, st.rowid, &content, &text, digest);
        if (r == 0)
                r = get_trace(c, text, digest, &trace);
        free(text);
        if (r == 0)
                r = rd_store_history(c->ops->store, st.rowid, RD_HISTORY_MAX, history, &omitted);
        if (r == 0) /* personal data: audited with the rest (ops.c) */
                r = rd_store_reasons(c->ops->store, st.rowid, reasons);
        if (r < 0) {
                json_decref(history);
                json_decref(reasons);
                json_decref(content);
                json_decref(trace);
                return rd_ops_internal(c, "reading a referral", r);
        }
        reply = rd_ops_ok(c);
        json_object_set_new(reply, "referral", content ? content : json_null());
        rd_ops_put_decision(reply, &st);
        if (st.attention)
                json_object_set_new(reply, "attention",
                                    json_string(rd_attention_name(st.attention)));
        json_object_set_new(reply, "reasons", reasons);
        if (digest[0])
                json_object_set_new(reply, "rules_digest", json_string(digest));
        fit_get(reply, trace, history, omitted);
        return reply;
}

/* Reads at most N items after SINCE into ARR (ARGS: what the caller
 * passed to fill_page). 0 or a negative errno. */
typedef int (*fetch_fn)(const struct ctx *c, const void *args, int64_t since, int64_t n,
                        json_t *arr);

/* Items after SINCE into ARR, oldest first, read PAGE_CHUNK at a time by
 * FETCH: at most LIMIT, and at most RD_PAGE_BYTES in the reply (at least
 * one item). Items are ordered by their integer key CURSOR. *MORE is set
 * when the bytes cut the page short. 0 or a negative errno. */
static int fill_page(const struct ctx *c, fetch_fn fetch, const void *args, const char *cursor,
                     int64_t since, int64_t limit, json_t *arr, bool *more)
{
        size_t bytes = PAGE_MARGIN;

        *more = false;
        while ((int64_t)json_array_size(arr) < limit) {
                int64_t want = limit - (int64_t)json_array_size(arr);
                json_t *chunk = json_array(), *it;
                size_t i, got;
                int r;

                if (want > PAGE_CHUNK)
                        want = PAGE_CHUNK;
                r = fetch(c, args, since, want, chunk);
                if (r < 0) {
                        json_decref(chunk);
                        return r;
                }
                got = json_array_size(chunk);
                json_array_foreach(chunk, i, it)
                {
                        size_t n = json_bytes(it) + 1;
                        if (bytes + n > RD_PAGE_BYTES && json_array_size(arr) > 0) {
                                *more = true;
                                break;
                        }
                        bytes += n;
                        json_array_append(arr, it);
                        since = json_integer_value(json_object_get(it, cursor));
                }
                json_decref(chunk);
                if (*more || (int64_t)got < want)
                        return 0;
        }
        return 0;
}

/* The reply to a read of a page of KEY into ARR (taken) that ended with R,
 * LAST the position to go on from, MORE whether the page was cut short by
 * its size; on a fault the `internal` reply for WHAT. */
static json_t *page(const struct ctx *c, const char *what, int r, const char *key, json_t *arr,
                    int64_t last, bool more)
{
        json_t *reply;

        if (r < 0) {
                json_decref(arr);
                return rd_ops_internal(c, what, r);
        }
        reply = rd_ops_ok(c);
        json_object_set_new(reply, key, arr);
        json_object_set_new(reply, "last", json_integer(last));
        if (more)
                json_object_set_new(reply, "more", json_true());
        return reply;
}

/* The referrals of the list query ARGS after SINCE, at most N. */
static int fetch_list(const struct ctx *c, const void *args, int64_t since, int64_t n, json_t *arr)
{
        struct rd_list_query q = *(const struct rd_list_query *)args;

        q.since = since;
        q.limit = n;
        return rd_store_list(c->ops->store, &q, arr);
}

/* The statuses of a list request (a status, or a list of them) as bits
 * into *OUT (0: any). NULL, or the reply. */
static json_t *list_statuses(const struct ctx *c, unsigned *out)
{
        json_t *sv = json_object_get(c->req, "status"), *v;
        bool one = json_is_string(sv);
        enum rd_status s;
        size_t i;

        *out = 0;
        if (!sv)
                return NULL;
        if (one || (json_is_array(sv) && json_array_size(sv) > 0)) {
                for (i = 0; i < (one ? 1 : json_array_size(sv)); i++) {
                        v = one ? sv : json_array_get(sv, i);
                        if (!json_is_string(v) || rd_status_parse(json_string_value(v), &s) < 0 ||
                            s == RD_STATUS_RECEIVED)
                                break;
                        *out |= 1u << s;
                }
                if (i == (one ? 1 : json_array_size(sv)))
                        return NULL;
        }
        return rd_ops_error(c->corr, RD_INVALID, "status",
                            "status must be one of waitlisted, assigned, accepted, started, "
                            "forwarded, closed, withdrawn, or a non-empty list of them");
}

/* The optional id KEY of a list request (a team, a connector) into *OUT.
 * NULL, or the reply. */
static json_t *list_id(const struct ctx *c, const char *key, const char **out)
{
        json_t *reply = rd_ops_get_string(c, key, RD_ID_MAX, out);
        char msg[128];

        if (reply || !*out || rd_id_valid(*out))
                return reply;
        snprintf(msg, sizeof msg, "%s must be an id such as \"genk\" ([a-z0-9][a-z0-9_-]*)", key);
        return rd_ops_error(c->corr, RD_INVALID, key, msg);
}

json_t *rd_op_list(struct ctx *c)
{
        static const char *const keys[] = {"status",    "since",     "limit", "team",
                                           "connector", "attention", NULL};
        struct rd_list_query q = {.viewer = &c->viewer};
        json_t *reply, *arr, *att = json_object_get(c->req, "attention");
        bool more;
        int r;

        if ((reply = rd_ops_check_keys(c, keys)) ||
            (reply = rd_ops_get_count(c, "since", 0, 0, &q.since)) ||
            (reply = rd_ops_get_count(c, "limit", 1, RD_LIST_LIMIT_DEFAULT, &q.limit)) ||
            (reply = list_statuses(c, &q.statuses)) || (reply = list_id(c, "team", &q.team)) ||
            (reply = list_id(c, "connector", &q.connector)))
                return reply;
        if (att && !json_is_true(att))
                return rd_ops_error(c->corr, RD_INVALID, "attention",
                                    "attention takes true only: the referrals that wait for a "
                                    "coordinator");
        q.attention = att != NULL;
        if (q.limit > RD_LIST_LIMIT_MAX)
                q.limit = RD_LIST_LIMIT_MAX;
        arr = json_array();
        r = fill_page(c, fetch_list, &q, "seq", q.since, q.limit, arr, &more);
        return page(c, "listing referrals", r, "referrals", arr, rd_store_last_seq(c->ops->store),
                    more);
}

static int fetch_events(const struct ctx *c, const void *args, int64_t since, int64_t n,
                        json_t *arr)
{
        (void)args;
        return rd_store_events(c->ops->store, since, n, &c->viewer, arr);
}

json_t *rd_op_events(struct ctx *c)
{
        static const char *const keys[] = {"since", "limit", NULL};
        json_t *reply, *arr;
        int64_t since, limit;
        bool more;
        int r;

        if ((reply = rd_ops_check_keys(c, keys)) ||
            (reply = rd_ops_get_count(c, "since", 0, 0, &since)) ||
            (reply = rd_ops_get_count(c, "limit", 1, RD_EVENTS_LIMIT_DEFAULT, &limit)))
                return reply;
        if (limit > RD_EVENTS_LIMIT_MAX)
                limit = RD_EVENTS_LIMIT_MAX;
        arr = json_array();
        r = fill_page(c, fetch_events, NULL, "seq", since, limit, arr, &more);
        return page(c, "reading events", r, "events", arr, rd_store_last_seq(c->ops->store), more);
}

/* The period of the routing file in force in the database when it is the
 * file with DIGEST (rd_store_each_routing: the last one, until_ms 0). */
struct in_force {
        const char *digest;
        int64_t from_ms; /* 0: not found */
};

static int find_in_force(void *ctx, const struct rd_routing_period *p)
{
        struct in_force *f = ctx;

        if (p->until_ms == 0 && strcmp(p->digest, f->digest) == 0)
                f->from_ms = p->from_ms;
        return 0;
}

/* The routing file in force (an addition to ping and stats): its digest,
 * where it came from (the path, or "built-in example") and when it was put
 * in force by the database's record (null when the database has no record
 * of this file in force, or cannot be read: that is logged). */
static json_t *routing_json(const struct ctx *c)
{
        const struct rd_rules *rules = rd_hub_rules(c->ops->hub);
        struct in_force f = {rules->digest, 0};
        char t[RD_TIME_STR];
        int r = rd_store_each_routing(c->ops->store, find_in_force, &f);

        /* -ENOTCONN: a standby without a session, whose attempts to
         * connect say why in the journal (leader.c), once a minute */
        if (r < 0 && r != -ENOTCONN)
                rd_ops_log_fault(c, "reading the routing file in force", r);
        return json_pack("{s:s, s:s, s:o}", "digest", rules->digest, "source",
                         strcmp(rules->source, RD_EMBEDDED_ROUTING_NAME) ? rules->source
                                                                         : "built-in example",
                         "in_force_since",
                         f.from_ms ? json_string(rd_time_format(f.from_ms, t)) : json_null());
}

json_t *rd_op_ping(struct ctx *c)
{
        static const char *const keys[] = {NULL};
        json_t *reply;
        if ((reply = rd_ops_check_keys(c, keys)))
                return reply;
        reply = rd_ops_ok(c);
        json_object_set_new(reply, "version", json_string(RD_VERSION));
        json_object_set_new(reply, "uptime_s", json_integer((c->now - c->ops->started_ms) / 1000));
        json_object_set_new(reply, "last_seq", json_integer(rd_store_last_seq(c->ops->store)));
        json_object_set_new(reply, "role", json_string(c->ops->standby ? "standby" : "active"));
        if (c->viewer.kind == RD_VIEW_ALL) /* as config.* events: not for partners, connectors */
                json_object_set_new(reply, "routing", routing_json(c));
        return reply;
}

static json_t *durations(const struct rd_durations *d)
{
        return json_pack("{s:I, s:o, s:o}", "count", (json_int_t)d->count, "p50_s",
                         d->count ? json_integer(d->p50_ms / 1000) : json_null(), "p90_s",
                         d->count ? json_integer(d->p90_ms / 1000) : json_null());
}

/* The reasons kept, by change and code ("none": no code given), every code
 * of the change's list with 0 where none was given. */
static json_t *reason_codes(const struct rd_figures *f)
{
        json_t *o = json_pack("{s:o*, s:o*, s:o*}", "declined",
                              rd_reason_codes_zeros(&rd_declined_codes), "withdrawn",
                              rd_reason_codes_zeros(&rd_withdrawn_codes), "closed",
                              rd_reason_codes_zeros(&rd_closed_codes));

        for (size_t i = 0; o && i < f->n_reasons; i++) {
                json_t *by = json_object_get(o, f->reasons[i].change);
                if (by)
                        json_object_set_new(by, f->reasons[i].code[0] ? f->reasons[i].code : "none",
                                            json_integer(f->reasons[i].count));
        }
        return o;
}

/* The figures coordinators ask for (an extension of protocol.md's stats,
 * see docs/integration.md). */
static void put_figures(json_t *reply, const struct rd_figures *f, int64_t started, int64_t in_time,
                        int64_t missed)
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
                json_pack("{s:I, s:I, s:I, s:o}", "started", (json_int_t)started, "in_time",
                          (json_int_t)in_time, "missed", (json_int_t)missed, "share_in_time",
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
                json_pack("{s:I, s:o, s:I}", "length", (json_int_t)f->waiting, "oldest",
                          f->oldest_waiting_received_ms
                                  ? json_string(rd_time_format(f->oldest_waiting_received_ms, t))
                                  : json_null(),
                          "attention", (json_int_t)f->attention));
        json_object_set_new(reply, "reason_codes", reason_codes(f));
}

/* Each team of the rules in force with its capacity and load, and those of
 * its connectors. */
static json_t *teams_json(const struct ctx *c, const struct rd_rules *rules)
{
        json_t *teams = json_array();

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
        return teams;
}

json_t *rd_op_stats(struct ctx *c)
{
        static const char *const keys[] = {NULL};
        const struct rd_rules *rules = rd_hub_rules(c->ops->hub);
        int64_t counts[RD_STATUS__MAX], started, in_time, missed;
        struct rd_figures fig;
        json_t *reply, *by_status;
        int r;

        if ((reply = rd_ops_check_keys(c, keys)))
                return reply;
        {
                struct rd_error err;
                if (rd_hub_ready(c->ops->hub, &err) < 0) /* loads unknown: not shown as 0 */
                        return rd_ops_fail(c, &err);
        }
        r = rd_store_count_by_status(c->ops->store, counts);
        if (r == 0)
                r = rd_store_window_counts(c->ops->store, &started, &in_time, &missed);
        if (r < 0)
                return rd_ops_internal(c, "counting referrals", r);
        r = rd_store_figures(c->ops->store, &fig);
        if (r < 0)
                return rd_ops_internal(c, "computing figures", r);
        by_status = json_object();
        for (int i = 0; i < RD_STATUS__MAX; i++)
                if (counts[i] && i != RD_STATUS_RECEIVED)
                        json_object_set_new(by_status, rd_status_name((enum rd_status)i),
                                            json_integer(counts[i]));
        reply = rd_ops_ok(c);
        json_object_set_new(reply, "by_status", by_status);
        put_figures(reply, &fig, started, in_time, missed);
        json_object_set_new(reply, "teams", teams_json(c, rules));
        json_object_set_new(reply, "rules_digest", json_string(rules->digest));
        json_object_set_new(reply, "routing", routing_json(c));
        json_object_set_new(reply, "last_seq", json_integer(rd_store_last_seq(c->ops->store)));
        return reply;
}

static int fetch_audit(const struct ctx *c, const void *id, int64_t since, int64_t n, json_t *arr)
{
        int64_t last;
        return rd_store_audit_list(c->ops->store, since, n, id, arr, &last);
}

json_t *rd_op_audit(struct ctx *c)
{
        static const char *const keys[] = {"since", "limit", "id", NULL};
        int64_t since, limit;
        const char *id;
        json_t *reply, *arr;
        bool more;
        int r;

        if ((reply = rd_ops_check_keys(c, keys)) ||
            (reply = rd_ops_get_count(c, "since", 0, 0, &since)) ||
            (reply = rd_ops_get_count(c, "limit", 1, RD_LIST_LIMIT_DEFAULT, &limit)) ||
            (reply = rd_ops_get_string(c, "id", 32, &id)))
                return reply;
        if (limit > RD_EVENTS_LIMIT_MAX)
                limit = RD_EVENTS_LIMIT_MAX;
        arr = json_array();
        r = fill_page(c, fetch_audit, id, "n", since, limit, arr, &more);
        /* last: the number of the last entry given, SINCE when none */
        if (r == 0 && json_array_size(arr))
                since = json_integer_value(
                        json_object_get(json_array_get(arr, json_array_size(arr) - 1), "n"));
        return page(c, "reading the audit trail", r, "entries", arr, since, more);
}
