#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "embedded.h"
#include "event.h"
#include "log.h"
#include "referral.h"
#include "route.h"
#include "timefmt.h"

#define BATCH_MAX 512             /* requests drained into one transaction */
#define EVENTS_DEFAULT_LIMIT 1000 /* events op */
#define EVENTS_MAX_LIMIT 10000
#define LIST_DEFAULT_LIMIT 100
#define LIST_MAX_LIMIT 1000
#define CORR_MAX 128
#define SOCKET_MAXMSGSIZE (1024 * 1024) /* larger than RD_REQUEST_MAX: see protocol.md */
#define LINGER_MS 1000    /* to flush the last replies at stop */
#define REPLY_HWM 10000   /* replies queued per client */
#define STOP_DRAIN_MS 200

/* The connectors' state, indexed like rules->connectors; rebuilt from the
 * store at start, on reload and after a failed commit. */
struct cstate {
        uint32_t *load;
        uint64_t *offers;
        int64_t **ends; /* ascending */
        size_t *n_ends;
        size_t *cap_ends;
        char (*rr_last)[RD_ID_MAX + 1]; /* per rule */
        const char **rr_ptr;             /* per rule: rr_last[i] or NULL */
};

struct request {
        zmq_msg_t envelope[2]; /* routing id, and REQ's empty delimiter */
        int n_envelope;
        json_t *reply;
};

struct rd_server {
        const struct rd_config *config;
        struct rd_rules *rules;
        struct rd_store *store;
        struct cstate cs;
        void *zctx;
        void *intake;
        void *pub;
        int sigfd;
        int64_t started_ms;
        int stopping;
        /* the batch in hand */
        struct request batch[BATCH_MAX];
        int n_batch;
        struct rd_event *events; /* appended in the open transaction */
        size_t n_events, cap_events;
        int64_t dropped_replies;
        int64_t dropped_logged_ms;
};

/* ---- time -------------------------------------------------------------- */

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- connector state ----------------------------------------------------- */

static void cstate_free(struct cstate *cs, size_t n_connectors)
{
        if (cs->ends)
                for (size_t i = 0; i < n_connectors; i++)
                        free(cs->ends[i]);
        free(cs->load);
        free(cs->offers);
        free(cs->ends);
        free(cs->n_ends);
        free(cs->cap_ends);
        free(cs->rr_last);
        free(cs->rr_ptr);
        memset(cs, 0, sizeof *cs);
}

static int ends_insert(struct cstate *cs, size_t c, int64_t end)
{
        size_t i;
        if (cs->n_ends[c] == cs->cap_ends[c]) {
                size_t cap = cs->cap_ends[c] ? cs->cap_ends[c] * 2 : 8;
                int64_t *v = realloc(cs->ends[c], cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                cs->ends[c] = v;
                cs->cap_ends[c] = cap;
        }
        for (i = cs->n_ends[c]; i > 0 && cs->ends[c][i - 1] > end; i--)
                cs->ends[c][i] = cs->ends[c][i - 1];
        cs->ends[c][i] = end;
        cs->n_ends[c]++;
        return 0;
}

/* When an open referral of a connector is expected to end (routing.md). */
static int64_t expected_end(const struct rd_rules *rules, const struct rd_stored *st)
{
        if (st->expected_end_ms)
                return st->expected_end_ms;
        if (st->started_ms)
                return st->started_ms + rules->trajectory_s * 1000;
        return st->offered_ms + rules->trajectory_s * 1000;
}

struct rebuild_ctx {
        struct rd_server *srv;
        struct cstate *cs;
};

static int rebuild_open(void *ctx, const struct rd_stored *st)
{
        struct rebuild_ctx *rc = ctx;
        ssize_t c = rd_rules_connector_index(rc->srv->rules, st->connector);
        if (c < 0) /* a connector removed from the file keeps its referrals */
                return 0;
        rc->cs->load[c]++;
        return ends_insert(rc->cs, (size_t)c, expected_end(rc->srv->rules, st));
}

static int rebuild_offers(void *ctx, const char *connector, int64_t count)
{
        struct rebuild_ctx *rc = ctx;
        ssize_t c = rd_rules_connector_index(rc->srv->rules, connector);
        if (c >= 0)
                rc->cs->offers[c] = (uint64_t)count;
        return 0;
}

static int rebuild_rr(void *ctx, const char *rule, const char *connector)
{
        struct rebuild_ctx *rc = ctx;
        ssize_t i = rd_rules_rule_index(rc->srv->rules, rule);
        if (i >= 0) {
                snprintf(rc->cs->rr_last[i], RD_ID_MAX + 1, "%s", connector);
                rc->cs->rr_ptr[i] = rc->cs->rr_last[i];
        }
        return 0;
}

/* Build the connector state for the rules in force from the store. On
 * failure the old state stays. */
static int cstate_rebuild(struct rd_server *srv)
{
        size_t nc = srv->rules->n_connectors, nr = srv->rules->n_rules;
        struct cstate cs = { 0 };
        struct rebuild_ctx ctx = { srv, &cs };
        int r = -ENOMEM;

        cs.load = calloc(nc + 1, sizeof *cs.load);
        cs.offers = calloc(nc + 1, sizeof *cs.offers);
        cs.ends = calloc(nc + 1, sizeof *cs.ends);
        cs.n_ends = calloc(nc + 1, sizeof *cs.n_ends);
        cs.cap_ends = calloc(nc + 1, sizeof *cs.cap_ends);
        cs.rr_last = calloc(nr + 1, sizeof *cs.rr_last);
        cs.rr_ptr = calloc(nr + 1, sizeof *cs.rr_ptr);
        if (!cs.load || !cs.offers || !cs.ends || !cs.n_ends || !cs.cap_ends || !cs.rr_last ||
            !cs.rr_ptr)
                goto fail;
        r = rd_store_each_open(srv->store, rebuild_open, &ctx);
        if (r == 0)
                r = rd_store_each_offer_count(srv->store, rebuild_offers, &ctx);
        if (r == 0)
                r = rd_store_each_rr(srv->store, rebuild_rr, &ctx);
        if (r < 0)
                goto fail;
        cstate_free(&srv->cs, nc);
        srv->cs = cs;
        return 0;
fail:
        cstate_free(&cs, nc);
        return r;
}

/* ---- replies ------------------------------------------------------------- */

static json_t *reply_ok(const char *corr)
{
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        if (corr)
                json_object_set_new(o, "corr", json_string(corr));
        return o;
}

static json_t *reply_error(const char *corr, const struct rd_error *err)
{
        json_t *o = json_object();
        json_t *e = json_object();
        json_object_set_new(o, "ok", json_false());
        if (corr)
                json_object_set_new(o, "corr", json_string(corr));
        json_object_set_new(e, "code", json_string(rd_code_name(err->code)));
        json_object_set_new(e, "message", json_string(err->message));
        if (err->field[0])
                json_object_set_new(e, "field", json_string(err->field));
        json_object_set_new(o, "error", e);
        return o;
}

static json_t *reply_code(const char *corr, enum rd_code code, const char *field,
                          const char *message)
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

/* ---- events -------------------------------------------------------------- */

static void event_from_stored(struct rd_event *ev, enum rd_event_type type,
                              const struct rd_stored *st, int64_t at)
{
        memset(ev, 0, sizeof *ev);
        ev->type = type;
        ev->at_ms = at;
        snprintf(ev->id, sizeof ev->id, "%s", st->id);
        snprintf(ev->partner, sizeof ev->partner, "%s", st->partner);
        snprintf(ev->ref, sizeof ev->ref, "%s", st->ref);
        ev->status = st->status;
        if (type == RD_EV_RECEIVED)
                return;
        snprintf(ev->rule, sizeof ev->rule, "%s", st->rule);
        snprintf(ev->team, sizeof ev->team, "%s", st->team);
        snprintf(ev->connector, sizeof ev->connector, "%s", st->connector);
        ev->start_by_ms = st->start_by_ms;
        ev->expected_start_ms = st->expected_start_ms;
        snprintf(ev->forward_to, sizeof ev->forward_to, "%s", st->forward_to);
        snprintf(ev->reason, sizeof ev->reason, "%s", st->reason);
}

/* Append EV to the store (assigning its seq) and keep it for publishing
 * after the commit. */
static int emit(struct rd_server *srv, struct rd_event *ev, int64_t rowid)
{
        int r;
        if (srv->n_events == srv->cap_events) {
                size_t cap = srv->cap_events ? srv->cap_events * 2 : 64;
                struct rd_event *v = realloc(srv->events, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                srv->events = v;
                srv->cap_events = cap;
        }
        r = rd_store_append_event(srv->store, ev, rowid);
        if (r < 0)
                return r;
        srv->events[srv->n_events++] = *ev;
        return 0;
}

static void publish(struct rd_server *srv, const struct rd_event *ev)
{
        json_t *o = rd_event_to_json(ev);
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        const char *topic = rd_event_type_name(ev->type);
        enum rd_journal_events je = srv->config->journal_events;

        if (text) {
                /* PUB never blocks: a slow subscriber loses messages at its
                 * high-water mark and catches up with `events`. */
                zmq_send(srv->pub, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(srv->pub, text, strlen(text), ZMQ_DONTWAIT);
        }
        free(text);
        json_decref(o);
        if (je == RD_JOURNAL_ALL || (je == RD_JOURNAL_DECISIONS && rd_event_is_decision(ev->type)))
                rd_log_event(ev);
}

/* ---- request helpers ------------------------------------------------------- */

struct ctx {
        struct rd_server *srv;
        const json_t *req;
        const char *op;
        const char *corr;
        int64_t now;
};

/* Reject keys of REQ other than op, corr and the NULL-terminated ALLOWED. */
static json_t *check_keys(const struct ctx *c, const char *const *allowed)
{
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)c->req, key, v) {
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
                return reply_code(c->corr, RD_INVALID, key, msg);
        }
        *out = json_integer_value(v);
        return NULL;
}

static json_t *internal_error(const struct ctx *c, const char *what, int r)
{
        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "database fault while %s: %s (%s)", what,
               strerror(-r), rd_store_errmsg(c->srv->store));
        return reply_code(c->corr, RD_INTERNAL, NULL,
                          "the daemon could not complete this request; nothing was stored; "
                          "retry later");
}

/* ---- submit ---------------------------------------------------------------- */

/* Route the newly stored referral ST and record the decision. Memory state
 * is changed only once everything is in the store. */
static int decide(struct rd_server *srv, const struct rd_referral *ref, struct rd_stored *st,
                  int64_t now)
{
        const struct rd_rules *rules = srv->rules;
        struct cstate *cs = &srv->cs;
        struct rd_route_state state = {
                .load = cs->load,
                .offers = cs->offers,
                .rr_last = cs->rr_ptr,
                .ends = (const int64_t *const *)cs->ends,
                .n_ends = cs->n_ends,
        };
        struct rd_decision d;
        json_t *trace = NULL;
        struct rd_event ev;
        const struct rd_rule *rule;
        int r;

        r = rd_route_decide(ref, rules, &state, now, &d, &trace);
        if (r < 0)
                return r;
        rule = &rules->rules[d.rule];
        st->status = d.status;
        snprintf(st->rule, sizeof st->rule, "%s", rule->name);
        switch (d.status) {
        case RD_STATUS_ASSIGNED:
                snprintf(st->team, sizeof st->team, "%s", rules->teams[d.team].id);
                snprintf(st->connector, sizeof st->connector, "%s",
                         rules->connectors[d.connector].id);
                st->start_by_ms = d.start_by_ms;
                st->offered_ms = now;
                st->offer_expires_ms = d.offer_expires_ms;
                break;
        case RD_STATUS_WAITLISTED:
                st->start_by_ms = d.start_by_ms;
                st->expected_start_ms = d.expected_start_ms;
                break;
        default:
                snprintf(st->forward_to, sizeof st->forward_to, "%s",
                         rules->targets[d.forward_to].id);
                snprintf(st->reason, sizeof st->reason, "%s", d.reason ? d.reason : "");
                break;
        }
        r = rd_store_update(srv->store, st);
        if (r == 0)
                r = rd_store_set_trace(srv->store, st->rowid, trace, rules->digest);
        json_decref(trace);
        if (r == 0 && d.status == RD_STATUS_ASSIGNED) {
                r = rd_store_offer_made(srv->store, st->connector);
                if (r == 0)
                        r = rd_store_set_rr(srv->store, st->rule, st->connector);
        }
        if (r < 0)
                return r;
        event_from_stored(&ev,
                          d.status == RD_STATUS_ASSIGNED     ? RD_EV_ASSIGNED
                          : d.status == RD_STATUS_WAITLISTED ? RD_EV_WAITLISTED
                                                             : RD_EV_FORWARDED,
                          st, now);
        r = emit(srv, &ev, st->rowid);
        if (r < 0)
                return r;
        if (d.status == RD_STATUS_ASSIGNED) {
                size_t ci = d.connector;
                r = ends_insert(cs, ci, now + rules->trajectory_s * 1000);
                if (r < 0)
                        return r;
                cs->load[ci]++;
                cs->offers[ci]++;
                snprintf(cs->rr_last[d.rule], RD_ID_MAX + 1, "%s", st->connector);
                cs->rr_ptr[d.rule] = cs->rr_last[d.rule];
        }
        return 0;
}

static json_t *op_submit(struct ctx *c)
{
        static const char *const keys[] = { "referral", NULL };
        struct rd_server *srv = c->srv;
        struct rd_referral ref;
        struct rd_error err;
        struct rd_stored st;
        struct rd_event ev;
        char digest[65];
        json_t *reply;
        json_t *body;
        int r;

        if ((reply = check_keys(c, keys)))
                return reply;
        body = json_object_get(c->req, "referral");
        if (!body)
                return reply_code(c->corr, RD_INVALID, "referral",
                                  "a submit request needs a referral object");
        if (rd_referral_from_json(body, &ref, &err) < 0)
                return reply_error(c->corr, &err);
        if (!ref.partner[0]) {
                rd_referral_clear(&ref);
                return reply_code(c->corr, RD_INVALID, "referral.partner",
                                  "referral.partner is required: the id of the referring "
                                  "partner, e.g. \"ocmw-genk\"");
        }
        r = rd_referral_digest(&ref, digest);
        if (r < 0) {
                rd_referral_clear(&ref);
                return internal_error(c, "hashing a referral", r);
        }
        r = rd_store_find(srv->store, ref.partner, ref.ref, &st);
        if (r == 0) {
                rd_referral_clear(&ref);
                if (strcmp(st.digest, digest) != 0)
                        return reply_code(c->corr, RD_CONFLICT, "referral.ref",
                                          "this partner already submitted a referral with this "
                                          "ref and different content; a new referral needs a "
                                          "new ref");
                reply = reply_ok(c->corr);
                put_decision(reply, &st);
                json_object_set_new(reply, "duplicate", json_true());
                return reply;
        }
        if (r != -ENOENT) {
                rd_referral_clear(&ref);
                return internal_error(c, "looking up a referral", r);
        }
        r = rd_store_insert(srv->store, &ref, digest, c->now, &st);
        if (r == 0) {
                event_from_stored(&ev, RD_EV_RECEIVED, &st, c->now);
                r = emit(srv, &ev, st.rowid);
        }
        if (r == 0)
                r = decide(srv, &ref, &st, c->now);
        rd_referral_clear(&ref);
        if (r < 0)
                return NULL; /* the caller rolls the request back and answers internal */
        reply = reply_ok(c->corr);
        put_decision(reply, &st);
        json_object_set_new(reply, "duplicate", json_false());
        return reply;
}

/* ---- get, list, events, ping, stats ------------------------------------------ */

static json_t *op_get(struct ctx *c)
{
        static const char *const keys[] = { "id", "partner", "ref", NULL };
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
                return reply_code(c->corr, RD_INVALID, "id", "id must be a string");
        if (json_object_get(c->req, "partner") && !partner)
                return reply_code(c->corr, RD_INVALID, "partner", "partner must be a string");
        if (json_object_get(c->req, "ref") && !ref)
                return reply_code(c->corr, RD_INVALID, "ref", "ref must be a string");
        if (id && (partner || ref))
                return reply_code(c->corr, RD_INVALID, "id",
                                  "give either id, or partner and ref, not both");
        if (id)
                r = rd_store_get(c->srv->store, id, &st);
        else if (partner && ref)
                r = rd_store_find(c->srv->store, partner, ref, &st);
        else
                return reply_code(c->corr, RD_INVALID, partner ? "ref" : "id",
                                  "a get request needs id, or partner and ref");
        if (r == -ENOENT)
                return reply_code(c->corr, RD_NOT_FOUND, NULL, "no such referral");
        if (r < 0)
                return internal_error(c, "reading a referral", r);
        history = json_array();
        r = rd_store_content(c->srv->store, st.rowid, &content, &trace, digest);
        if (r == 0)
                r = rd_store_history(c->srv->store, st.rowid, history);
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
        static const char *const keys[] = { "status", "since", "limit", NULL };
        json_t *reply, *arr, *sv = json_object_get(c->req, "status");
        enum rd_status status;
        int64_t since, limit;
        int r;

        if ((reply = check_keys(c, keys)) || (reply = get_count(c, "since", 0, 0, &since)) ||
            (reply = get_count(c, "limit", 1, LIST_DEFAULT_LIMIT, &limit)))
                return reply;
        if (sv && (!json_is_string(sv) || rd_status_parse(json_string_value(sv), &status) < 0 ||
                   status == RD_STATUS_RECEIVED))
                return reply_code(c->corr, RD_INVALID, "status",
                                  "status must be one of waitlisted, assigned, accepted, "
                                  "started, forwarded, closed, withdrawn");
        if (limit > LIST_MAX_LIMIT)
                limit = LIST_MAX_LIMIT;
        arr = json_array();
        r = rd_store_list(c->srv->store, sv ? (int)status : -1, since, limit, arr);
        if (r < 0) {
                json_decref(arr);
                return internal_error(c, "listing referrals", r);
        }
        reply = reply_ok(c->corr);
        json_object_set_new(reply, "referrals", arr);
        json_object_set_new(reply, "last", json_integer(rd_store_last_seq(c->srv->store)));
        return reply;
}

static json_t *op_events(struct ctx *c)
{
        static const char *const keys[] = { "since", "limit", NULL };
        json_t *reply, *arr;
        int64_t since, limit;
        int r;

        if ((reply = check_keys(c, keys)) || (reply = get_count(c, "since", 0, 0, &since)) ||
            (reply = get_count(c, "limit", 1, EVENTS_DEFAULT_LIMIT, &limit)))
                return reply;
        if (limit > EVENTS_MAX_LIMIT)
                limit = EVENTS_MAX_LIMIT;
        arr = json_array();
        r = rd_store_events(c->srv->store, since, limit, arr);
        if (r < 0) {
                json_decref(arr);
                return internal_error(c, "reading events", r);
        }
        reply = reply_ok(c->corr);
        json_object_set_new(reply, "events", arr);
        json_object_set_new(reply, "last", json_integer(rd_store_last_seq(c->srv->store)));
        return reply;
}

static json_t *op_ping(struct ctx *c)
{
        static const char *const keys[] = { NULL };
        json_t *reply;
        if ((reply = check_keys(c, keys)))
                return reply;
        reply = reply_ok(c->corr);
        json_object_set_new(reply, "version", json_string(RD_VERSION));
        json_object_set_new(reply, "uptime_s", json_integer((c->now - c->srv->started_ms) / 1000));
        json_object_set_new(reply, "last_seq", json_integer(rd_store_last_seq(c->srv->store)));
        return reply;
}

static json_t *op_stats(struct ctx *c)
{
        static const char *const keys[] = { NULL };
        const struct rd_rules *rules = c->srv->rules;
        int64_t counts[RD_STATUS_COUNT], started, in_time;
        json_t *reply, *by_status, *teams;
        int r;

        if ((reply = check_keys(c, keys)))
                return reply;
        r = rd_store_count_by_status(c->srv->store, counts);
        if (r == 0)
                r = rd_store_window_counts(c->srv->store, &started, &in_time);
        if (r < 0)
                return internal_error(c, "counting referrals", r);
        by_status = json_object();
        for (int i = 0; i < RD_STATUS_COUNT; i++)
                if (counts[i] && i != RD_STATUS_RECEIVED)
                        json_object_set_new(by_status, rd_status_name((enum rd_status)i),
                                            json_integer(counts[i]));
        teams = json_array();
        for (size_t t = 0; t < rules->n_teams; t++) {
                const struct rd_team *team = &rules->teams[t];
                json_t *conns = json_array();
                for (size_t k = 0; k < team->n_connectors; k++) {
                        size_t ci = team->connectors[k];
                        json_array_append_new(
                                conns, json_pack("{s:s, s:I, s:I}", "id",
                                                 rules->connectors[ci].id, "capacity",
                                                 (json_int_t)rules->connectors[ci].capacity,
                                                 "load", (json_int_t)c->srv->cs.load[ci]));
                }
                json_array_append_new(teams,
                                      json_pack("{s:s, s:o}", "id", team->id, "connectors", conns));
        }
        reply = reply_ok(c->corr);
        json_object_set_new(reply, "by_status", by_status);
        json_object_set_new(reply, "teams", teams);
        json_object_set_new(reply, "window",
                            json_pack("{s:I, s:I}", "started", (json_int_t)started, "in_time",
                                      (json_int_t)in_time));
        json_object_set_new(reply, "rules_digest", json_string(rules->digest));
        json_object_set_new(reply, "last_seq", json_integer(rd_store_last_seq(c->srv->store)));
        return reply;
}

/* One handler per operation. WRITES: runs in a savepoint of its own. */
static const struct op {
        const char *name;
        json_t *(*handler)(struct ctx *c);
        int writes;
} ops[] = {
        { "submit", op_submit, 1 }, { "get", op_get, 0 },     { "list", op_list, 0 },
        { "events", op_events, 0 }, { "ping", op_ping, 0 },   { "stats", op_stats, 0 },
};

static const struct op *find_op(const char *name)
{
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
                if (strcmp(ops[i].name, name) == 0)
                        return &ops[i];
        return NULL;
}

/* Answer one request body BUF[LEN]. Never returns NULL. */
static json_t *handle(struct rd_server *srv, const char *buf, size_t len, int64_t now)
{
        struct ctx c = { .srv = srv, .now = now };
        struct rd_error err;
        json_t *req = NULL, *reply, *corr, *opv;
        const struct op *op;
        int r;

        if (srv->stopping)
                return reply_code(NULL, RD_UNAVAILABLE, NULL,
                                  "the daemon is shutting down; nothing was stored; retry later");
        if (rd_json_parse_request(buf, len, &req, &err) < 0)
                return reply_error(NULL, &err);
        c.req = req;
        corr = json_object_get(req, "corr");
        if (corr) {
                if (!json_is_string(corr) || rd_utf8_length(json_string_value(corr)) > CORR_MAX) {
                        json_decref(req);
                        return reply_code(NULL, RD_INVALID, "corr",
                                          "corr must be a string of at most 128 characters");
                }
                c.corr = json_string_value(corr);
        }
        opv = json_object_get(req, "op");
        if (!opv || !json_is_string(opv) || !(op = find_op(json_string_value(opv)))) {
                reply = reply_code(c.corr, RD_UNKNOWN_OP, "op",
                                   !opv ? "the request has no op; known ops are submit, get, "
                                          "list, events, ping, stats"
                                        : "unknown op; known ops are submit, get, list, "
                                          "events, ping, stats");
                json_decref(req);
                return reply;
        }
        c.op = op->name;
        if (!op->writes) {
                reply = op->handler(&c);
        } else {
                size_t n_events = srv->n_events;
                r = rd_store_request_begin(srv->store);
                reply = r < 0 ? NULL : op->handler(&c);
                if (r == 0 && reply && json_is_true(json_object_get(reply, "ok")))
                        r = rd_store_request_end(srv->store, true);
                else if (r == 0)
                        r = rd_store_request_end(srv->store, false);
                if (!reply || r < 0) {
                        /* undo this request's events too; its memory changes are
                         * rebuilt from the store */
                        srv->n_events = n_events;
                        json_decref(reply);
                        reply = internal_error(&c, "storing a request", r < 0 ? r : -EIO);
                        cstate_rebuild(srv);
                } else if (!json_is_true(json_object_get(reply, "ok"))) {
                        srv->n_events = n_events;
                }
        }
        json_decref(req);
        return reply;
}

/* ---- the batch ----------------------------------------------------------------- */

/* Receive one whole message into REQ's envelope and BODY. Returns 1 when a
 * message was read, 0 when none is ready, negative on a socket fault. A
 * message whose shape is wrong gets its reply set here. */
static int recv_request(struct rd_server *srv, struct request *rq, zmq_msg_t *body, int *n_body)
{
        zmq_msg_t part;
        int more, first = 1;

        rq->n_envelope = 0;
        rq->reply = NULL;
        *n_body = 0;
        do {
                zmq_msg_init(&part);
                if (zmq_msg_recv(&part, srv->intake, first ? ZMQ_DONTWAIT : 0) < 0) {
                        int e = errno;
                        zmq_msg_close(&part);
                        if (first && e == EAGAIN)
                                return 0;
                        return -e;
                }
                more = zmq_msg_more(&part);
                if (first) {
                        zmq_msg_init(&rq->envelope[0]);
                        zmq_msg_move(&rq->envelope[0], &part);
                        rq->n_envelope = 1;
                        first = 0;
                } else if (rq->n_envelope == 1 && *n_body == 0 && zmq_msg_size(&part) == 0 &&
                           more) {
                        /* a REQ client's empty delimiter */
                        zmq_msg_init(&rq->envelope[1]);
                        zmq_msg_move(&rq->envelope[1], &part);
                        rq->n_envelope = 2;
                } else if (*n_body == 0) {
                        zmq_msg_move(body, &part);
                        *n_body = 1;
                } else {
                        (*n_body)++; /* extra body frames: counted, dropped */
                }
                zmq_msg_close(&part);
        } while (more);
        return 1;
}

static void send_reply(struct rd_server *srv, struct request *rq)
{
        char *text = json_dumps(rq->reply, JSON_COMPACT);
        int ok = text != NULL;

        /* ZMQ_ROUTER_MANDATORY: a reply that cannot be queued fails here
         * (EHOSTUNREACH: the peer is gone; EAGAIN: its queue is full) instead
         * of vanishing. The loop never waits for one slow client. */
        for (int i = 0; ok && i < rq->n_envelope; i++)
                ok = zmq_msg_send(&rq->envelope[i], srv->intake, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0;
        if (ok)
                ok = zmq_send(srv->intake, text, strlen(text), ZMQ_DONTWAIT) >= 0;
        if (!ok) {
                int64_t t = mono_ms();
                int e = text ? errno : ENOMEM;
                srv->dropped_replies++;
                /* at most one line a second, with the count */
                if (t - srv->dropped_logged_ms >= 1000) {
                        rd_log(LOG_WARNING, RD_MSG_REPLY_DROPPED,
                               "a reply could not be delivered (%s); %lld undelivered so far; "
                               "what was committed stays, and a client that retries gets the "
                               "same answer",
                               e == EHOSTUNREACH ? "the client is gone"
                               : e == EAGAIN     ? "the client's queue is full"
                                                 : strerror(e),
                               (long long)srv->dropped_replies);
                        srv->dropped_logged_ms = t;
                }
        }
        free(text);
        for (int i = 0; i < rq->n_envelope; i++)
                zmq_msg_close(&rq->envelope[i]);
        json_decref(rq->reply);
        rq->reply = NULL;
}

/* Take every request that is ready (at most BATCH_MAX), answer them in one
 * transaction, commit, reply, publish. */
static int serve_batch(struct rd_server *srv)
{
        int64_t now = now_ms();
        int r, began, committed = 0; /* began: 1 not yet, 0 open, < 0 failed */

        srv->n_batch = 0;
        srv->n_events = 0;
        began = 1; /* the transaction begins with the first request */
        while (srv->n_batch < BATCH_MAX) {
                struct request *rq = &srv->batch[srv->n_batch];
                zmq_msg_t body;
                int n_body;

                zmq_msg_init(&body);
                r = recv_request(srv, rq, &body, &n_body);
                if (r <= 0) {
                        zmq_msg_close(&body);
                        if (r < 0 && r != -EINTR)
                                rd_log(LOG_ERR, RD_MSG_GENERIC, "receiving a request: %s",
                                       strerror(-r));
                        break;
                }
                if (began == 1) {
                        began = rd_store_begin(srv->store);
                        if (began < 0)
                                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                                       "cannot begin a transaction: %s",
                                       rd_store_errmsg(srv->store));
                }
                if (n_body != 1)
                        rq->reply = reply_code(NULL, RD_MALFORMED, NULL,
                                               n_body == 0 ? "the request has no body frame"
                                                           : "a request is one frame holding "
                                                             "one JSON object; this one had "
                                                             "several");
                else if (began < 0)
                        rq->reply = reply_code(NULL, RD_UNAVAILABLE, NULL,
                                               "the database is not available; nothing was "
                                               "stored; retry later");
                else
                        rq->reply = handle(srv, zmq_msg_data(&body), zmq_msg_size(&body), now);
                zmq_msg_close(&body);
                srv->n_batch++;
        }
        if (began == 0) {
                r = rd_store_commit(srv->store);
                if (r == 0) {
                        committed = 1;
                } else {
                        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                               "commit failed, %d requests answered 'internal': %s",
                               srv->n_batch, rd_store_errmsg(srv->store));
                        rd_store_rollback(srv->store);
                        cstate_rebuild(srv);
                        srv->n_events = 0;
                        for (int i = 0; i < srv->n_batch; i++) {
                                json_t *old = srv->batch[i].reply;
                                const char *corr =
                                        json_string_value(json_object_get(old, "corr"));
                                if (json_is_true(json_object_get(old, "ok"))) {
                                        srv->batch[i].reply = reply_code(
                                                corr, RD_INTERNAL, NULL,
                                                "the database could not commit; nothing was "
                                                "stored; retry later");
                                        json_decref(old);
                                }
                        }
                }
        }
        for (int i = 0; i < srv->n_batch; i++)
                send_reply(srv, &srv->batch[i]);
        if (committed)
                for (size_t i = 0; i < srv->n_events; i++)
                        publish(srv, &srv->events[i]);
        srv->n_events = 0;
        return srv->n_batch;
}

/* ---- reload ---------------------------------------------------------------------- */

static int load_rules(const struct rd_config *config, struct rd_rules **out, struct rd_diag *diag)
{
        if (config->routing)
                return rd_rules_load_file(config->routing, out, diag);
        return rd_rules_load_buffer(RD_EMBEDDED_ROUTING_NAME, rd_embedded_routing,
                                    rd_embedded_routing_len, out, diag);
}

static void reload(struct rd_server *srv)
{
        struct rd_diag diag = { 0 };
        struct rd_rules *fresh = NULL, *old = srv->rules;
        struct rd_event ev = { 0 };
        int r;

        sd_notify(0, "RELOADING=1\nSTATUS=Reloading the routing rules");
        r = load_rules(srv->config, &fresh, &diag);
        ev.at_ms = now_ms();
        if (r == 0) {
                srv->rules = fresh;
                if (cstate_rebuild(srv) < 0) {
                        srv->rules = old;
                        rd_rules_free(fresh);
                        rd_log(LOG_ERR, RD_MSG_RELOAD_REFUSED,
                               "reload refused: cannot read the connectors' state: %s",
                               rd_store_errmsg(srv->store));
                        goto out;
                }
                rd_rules_free(old);
                ev.type = RD_EV_CONFIG_RELOADED;
                snprintf(ev.digest, sizeof ev.digest, "%s", fresh->digest);
                ev.rules = (int64_t)fresh->n_rules;
                rd_log(LOG_NOTICE, RD_MSG_RELOADED,
                       "routing rules reloaded from %s: %zu rules, digest %s; changes to other "
                       "keys of the daemon config take effect on restart",
                       fresh->source, fresh->n_rules, fresh->digest);
        } else {
                ev.type = RD_EV_CONFIG_REJECTED;
                snprintf(ev.error, sizeof ev.error, "%s",
                         rd_diag_first_error(&diag) ? rd_diag_first_error(&diag)
                                                    : "the routing file cannot be read");
                ev.errors = (int64_t)(diag.n_errors ? diag.n_errors : 1);
                for (size_t i = 0; i < diag.n; i++)
                        rd_log(diag.items[i].severity == RD_DIAG_ERROR ? LOG_WARNING : LOG_NOTICE,
                               RD_MSG_RELOAD_REFUSED, "%s", diag.items[i].text);
                rd_log(LOG_WARNING, RD_MSG_RELOAD_REFUSED,
                       "reload refused: %zu errors; the rules in force stay (digest %s)",
                       diag.n_errors, srv->rules->digest);
        }
        srv->n_events = 0;
        if (rd_store_begin(srv->store) == 0 && emit(srv, &ev, 0) == 0 &&
            rd_store_commit(srv->store) == 0)
                publish(srv, &srv->events[0]);
        else
                rd_store_rollback(srv->store);
        srv->n_events = 0;
out:
        rd_diag_clear(&diag);
        sd_notify(0, "READY=1\nSTATUS=Serving");
}

/* ---- setup and loop ------------------------------------------------------------- */

static int bind_socket(void *sock, const char *endpoint, const char *what)
{
        static const char local[] = "tcp://localhost:";
        char buf[512];
        const char *ep = endpoint;
        int one = 1;

        /* libzmq binds to addresses and interface names, not host names:
         * daemon.md allows "localhost", which is the IPv4 loopback here. */
        if (strncmp(endpoint, local, sizeof local - 1) == 0) {
                snprintf(buf, sizeof buf, "tcp://127.0.0.1:%s", endpoint + sizeof local - 1);
                ep = buf;
        }
        /* without ZMQ_IPV6, libzmq cannot bind an IPv6 address such as [::1] */
        zmq_setsockopt(sock, ZMQ_IPV6, &one, sizeof one);
        if (zmq_bind(sock, ep) < 0) {
                int e = errno;
                rd_log(LOG_ERR, RD_MSG_GENERIC, "cannot bind the %s socket to %s: %s", what,
                       endpoint, zmq_strerror(e));
                return -e;
        }
        return 0;
}

int rd_server_new(const struct rd_config *config, struct rd_rules *rules,
                  struct rd_store *store, struct rd_server **out)
{
        struct rd_server *srv = calloc(1, sizeof *srv);
        int one = 1, zero = 0, linger = LINGER_MS, hwm = REPLY_HWM, r = -ENOMEM;
        int64_t maxmsg = SOCKET_MAXMSGSIZE;
        sigset_t mask;

        if (!srv) {
                rd_rules_free(rules);
                rd_store_close(store);
                return -ENOMEM;
        }
        srv->config = config;
        srv->rules = rules;
        srv->store = store;
        srv->sigfd = -1;
        srv->started_ms = now_ms();
        r = cstate_rebuild(srv);
        if (r < 0) {
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "cannot read the connectors' state: %s",
                       rd_store_errmsg(store));
                goto fail;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        srv->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (srv->sigfd < 0) {
                r = -errno;
                goto fail;
        }
        r = -ENOMEM;
        srv->zctx = zmq_ctx_new();
        if (!srv->zctx)
                goto fail;
        srv->intake = zmq_socket(srv->zctx, ZMQ_ROUTER);
        srv->pub = zmq_socket(srv->zctx, ZMQ_PUB);
        if (!srv->intake || !srv->pub)
                goto fail;
        zmq_setsockopt(srv->intake, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt(srv->intake, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(srv->intake, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt(srv->intake, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(srv->pub, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(srv->pub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        r = bind_socket(srv->intake, config->intake, "intake");
        if (r == 0)
                r = bind_socket(srv->pub, config->events, "events");
        if (r < 0)
                goto fail;
        *out = srv;
        return 0;
fail:
        rd_server_free(srv);
        return r;
}

void rd_server_free(struct rd_server *srv)
{
        if (!srv)
                return;
        if (srv->intake)
                zmq_close(srv->intake);
        if (srv->pub)
                zmq_close(srv->pub);
        if (srv->zctx)
                zmq_ctx_term(srv->zctx);
        if (srv->sigfd >= 0)
                close(srv->sigfd);
        if (srv->rules)
                cstate_free(&srv->cs, srv->rules->n_connectors);
        free(srv->events);
        rd_rules_free(srv->rules);
        rd_store_close(srv->store);
        free(srv);
}

static void read_signals(struct rd_server *srv, int *hup)
{
        struct signalfd_siginfo si;
        while (read(srv->sigfd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGHUP)
                        *hup = 1;
                else
                        srv->stopping = 1;
        }
}

int rd_server_run(struct rd_server *srv)
{
        zmq_pollitem_t items[2] = {
                { .socket = srv->intake, .events = ZMQ_POLLIN },
                { .fd = srv->sigfd, .events = ZMQ_POLLIN },
        };
        int64_t deadline;

        sd_notify(0, "READY=1\nSTATUS=Serving");
        rd_log(LOG_INFO, RD_MSG_STARTED,
               "referrald %s serving: intake %s, events %s, %zu routing rules (digest %s)",
               RD_VERSION, srv->config->intake, srv->config->events, srv->rules->n_rules,
               srv->rules->digest);
        while (!srv->stopping) {
                int hup = 0;
                if (zmq_poll(items, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        rd_log(LOG_ERR, RD_MSG_GENERIC, "poll failed: %s", zmq_strerror(errno));
                        return -errno;
                }
                if (items[1].revents & ZMQ_POLLIN)
                        read_signals(srv, &hup);
                if (hup && !srv->stopping)
                        reload(srv);
                /* zmq's POLLIN is edge-like: drain while anything is ready */
                while (!srv->stopping && serve_batch(srv) > 0)
                        ;
        }
        sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
        /* Answer what is already queued with `unavailable`, briefly. */
        deadline = mono_ms() + STOP_DRAIN_MS;
        while (mono_ms() < deadline) {
                if (serve_batch(srv) == 0) {
                        zmq_pollitem_t it = { .socket = srv->intake, .events = ZMQ_POLLIN };
                        if (zmq_poll(&it, 1, 20) <= 0)
                                break;
                }
        }
        rd_log(LOG_INFO, RD_MSG_STOPPED, "referrald stopped; last event seq %lld",
               (long long)rd_store_last_seq(srv->store));
        return 0;
}
