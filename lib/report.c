/* report.c: see report.h. The events are read once, in seq order; each
 * referral keeps a few facts (indexed by its row id), and the figures are
 * made from those facts at the end. */
#include "report.h"

#include "event.h"
#include "routing_files.h"
#include "timefmt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the report keeps of one referral, as of its last event before TO. */
struct ref {
        int64_t received_ms; /* 0: its referral.received was not seen */
        int64_t first_offer_ms, started_ms, start_by_ms;
        int32_t connector; /* of its last event (rd_report.conns), -1: none */
        uint8_t status;    /* enum rd_status after its last event */
        uint8_t first_decision;
        bool decided, missed, attention;
};

/* A change of the state: one more or one fewer (D) waiting (WHO -1) or
 * held by connector WHO, at AT. */
struct delta {
        int64_t at;
        int32_t who;
        int32_t d;
};

/* The state at one moment of the series. */
struct sample {
        int64_t at;
        int64_t waiting;
        int64_t *load; /* by rd_report.conns */
};

#define SAMPLES_MAX 93 /* points of a series: a day each up to three months */

struct rd_report {
        int64_t from, to;
        struct ref *refs; /* by row id */
        size_t n_refs;
        char **conns; /* connector ids, each once */
        size_t n_conns, cap_conns;
        json_t *declines, *closes, *forwards; /* counts by code or target */
        /* every change of the state, summed up at the moments of the series
         * (whatever order the events' times come in) */
        struct delta *deltas;
        size_t n_deltas, cap_deltas;
        struct sample samples[SAMPLES_MAX + 1];
        size_t n_samples;
};

/* The moments of the series: FROM, then a step of a day (longer for a long
 * period, so that there are at most SAMPLES_MAX), and TO. */
static void plan_samples(struct rd_report *rep)
{
        int64_t day = 86400 * INT64_C(1000), span = rep->to - rep->from;
        int64_t days = (span + day - 1) / day;
        int64_t step = day * ((days + SAMPLES_MAX - 2) / (SAMPLES_MAX - 1));
        size_t n = 0;

        if (step < day)
                step = day;
        for (int64_t t = rep->from; t < rep->to && n < SAMPLES_MAX; t += step)
                rep->samples[n++].at = t;
        rep->samples[n++].at = rep->to;
        rep->n_samples = n;
}

int rd_report_new(int64_t from_ms, int64_t to_ms, struct rd_report **out)
{
        struct rd_report *rep;

        if (from_ms >= to_ms)
                return -EINVAL;
        rep = calloc(1, sizeof *rep);
        if (!rep)
                return -ENOMEM;
        rep->from = from_ms;
        rep->to = to_ms;
        plan_samples(rep);
        rep->declines = rd_reason_codes_zeros(&rd_declined_codes);
        rep->closes = rd_reason_codes_zeros(&rd_closed_codes);
        rep->forwards = json_object();
        if (!rep->declines || !rep->closes || !rep->forwards) {
                rd_report_free(rep);
                return -ENOMEM;
        }
        *out = rep;
        return 0;
}

void rd_report_free(struct rd_report *rep)
{
        if (!rep)
                return;
        for (size_t i = 0; i < rep->n_conns; i++)
                free(rep->conns[i]);
        free(rep->conns);
        free(rep->deltas);
        for (size_t i = 0; i < rep->n_samples; i++)
                free(rep->samples[i].load);
        free(rep->refs);
        json_decref(rep->declines);
        json_decref(rep->closes);
        json_decref(rep->forwards);
        free(rep);
}

/* ---- feeding ------------------------------------------------------------------------ */

/* The referral with ROWID, room made for it. NULL when out of memory. */
static struct ref *ref_at(struct rd_report *rep, int64_t rowid)
{
        size_t i = (size_t)rowid;

        if (i >= rep->n_refs) {
                size_t n = rep->n_refs ? rep->n_refs : 1024;
                struct ref *v;
                while (n <= i)
                        n *= 2;
                v = realloc(rep->refs, n * sizeof *v);
                if (!v)
                        return NULL;
                memset(v + rep->n_refs, 0, (n - rep->n_refs) * sizeof *v);
                for (size_t k = rep->n_refs; k < n; k++)
                        v[k].connector = -1;
                rep->refs = v;
                rep->n_refs = n;
        }
        return &rep->refs[i];
}

/* The index of connector ID among those seen, added when new; -1 when out
 * of memory. */
static int32_t intern(struct rd_report *rep, const char *id)
{
        char **v;

        for (size_t i = 0; i < rep->n_conns; i++)
                if (!strcmp(rep->conns[i], id))
                        return (int32_t)i;
        if (rep->n_conns == rep->cap_conns) {
                size_t cap = rep->cap_conns ? rep->cap_conns * 2 : 32;
                v = realloc(rep->conns, cap * sizeof *v);
                if (!v)
                        return -1;
                rep->conns = v;
                rep->cap_conns = cap;
        }
        rep->conns[rep->n_conns] = strdup(id);
        if (!rep->conns[rep->n_conns])
                return -1;
        return (int32_t)rep->n_conns++;
}

static bool received_in(const struct rd_report *rep, const struct ref *r)
{
        return r->received_ms && r->received_ms >= rep->from && r->received_ms < rep->to;
}

/* One more under KEY ("none" for NULL or "") in the counts C. */
static int count(json_t *c, const char *key)
{
        const char *k = key && *key ? key : "none";
        json_int_t n = json_integer_value(json_object_get(c, k));
        return json_object_set_new(c, k, json_integer(n + 1)) < 0 ? -ENOMEM : 0;
}

static const char *str(const json_t *ev, const char *key)
{
        return json_string_value(json_object_get(ev, key));
}

/* Events that leave a referral's attention as it was (report.h). */
static bool keeps_attention(const char *type)
{
        return !strcmp(type, "referral.window_at_risk") ||
               !strcmp(type, "referral.window_missed") || !strcmp(type, "referral.erased");
}

static bool held(const struct ref *r)
{
        return r->status == RD_STATUS_ASSIGNED || r->status == RD_STATUS_ACCEPTED ||
               r->status == RD_STATUS_STARTED;
}

/* Where R counts in the state: -1 waiting, a connector holding it, or -2
 * nowhere. */
static int32_t counted_as(const struct ref *r)
{
        if (!r->received_ms)
                return -2;
        if (r->status == RD_STATUS_WAITLISTED)
                return -1;
        return held(r) && r->connector >= 0 ? r->connector : -2;
}

/* The state changed at AT: D more for WHO (-2: nowhere, nothing). */
static int change(struct rd_report *rep, int64_t at, int32_t who, int32_t d)
{
        if (who == -2)
                return 0;
        if (rep->n_deltas == rep->cap_deltas) {
                size_t cap = rep->cap_deltas ? rep->cap_deltas * 2 : 1024;
                struct delta *v = realloc(rep->deltas, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                rep->deltas = v;
                rep->cap_deltas = cap;
        }
        rep->deltas[rep->n_deltas++] = (struct delta){at, who, d};
        return 0;
}

/* The facts of R that event TYPE at AT (EV) tells. */
static int note_facts(struct rd_report *rep, struct ref *r, const char *type, int64_t at,
                      const json_t *ev)
{
        const char *status = str(ev, "status"), *conn = str(ev, "connector"), *t;
        enum rd_status st;
        int64_t ms;

        if (status && rd_status_parse(status, &st) == 0)
                r->status = (uint8_t)st;
        if (conn && *conn && (r->connector = intern(rep, conn)) < 0)
                return -ENOMEM;
        if ((t = str(ev, "start_by")) && rd_time_parse(t, &ms) == 0)
                r->start_by_ms = ms;
        if (!strcmp(type, "referral.received"))
                r->received_ms = at;
        if (!r->decided &&
            (!strcmp(type, "referral.assigned") || !strcmp(type, "referral.waitlisted") ||
             !strcmp(type, "referral.forwarded"))) {
                r->decided = true;
                r->first_decision = r->status;
        }
        if (!strcmp(type, "referral.assigned") && !r->first_offer_ms)
                r->first_offer_ms = at;
        if (!strcmp(type, "referral.started") && !r->started_ms)
                r->started_ms = at;
        if (!strcmp(type, "referral.window_missed"))
                r->missed = true;
        if (!strcmp(type, "referral.needs_attention"))
                r->attention = true;
        else if (!keeps_attention(type))
                r->attention = false;
        return 0;
}

/* What event TYPE at AT (EV) tells of referral R. */
static int note(struct rd_report *rep, struct ref *r, const char *type, int64_t at,
                const json_t *ev)
{
        int32_t before = counted_as(r), after;
        int rc = note_facts(rep, r, type, at, ev);

        after = counted_as(r);
        if (rc == 0 && after != before) {
                rc = change(rep, at, before, -1);
                if (rc == 0)
                        rc = change(rep, at, after, +1);
        }
        return rc;
}

/* The counts of the referrals received in the period. */
static int count_in_period(struct rd_report *rep, const char *type, const json_t *ev)
{
        if (!strcmp(type, "referral.declined"))
                return count(rep->declines, str(ev, "reason_code"));
        if (!strcmp(type, "referral.closed"))
                return count(rep->closes, str(ev, "reason_code"));
        if (!strcmp(type, "referral.forwarded"))
                return count(rep->forwards, str(ev, "forward_to"));
        return 0;
}

int rd_report_event(struct rd_report *rep, const json_t *ev)
{
        const char *type = str(ev, "type"), *at_s = str(ev, "at"), *id = str(ev, "id");
        struct ref *r;
        int64_t at, rowid;
        int rc;

        if (!type || !at_s || rd_time_parse(at_s, &at) < 0)
                return -EINVAL;
        if (at >= rep->to || strncmp(type, "referral.", 9) != 0)
                return 0;
        if (!id || rd_store_parse_id(id, &rowid) < 0)
                return -EINVAL;
        r = ref_at(rep, rowid);
        if (!r)
                return -ENOMEM;
        rc = note(rep, r, type, at, ev);
        if (rc == 0 && received_in(rep, r))
                rc = count_in_period(rep, type, ev);
        return rc;
}

/* ---- the figures ------------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

/* {"p50", "p75", "p90"} of the N durations at V (ms; sorted here), nearest
 * rank, in whole seconds; nulls when N is 0. */
static json_t *percentiles(int64_t *v, size_t n)
{
        static const struct {
                const char *key;
                size_t p;
        } ps[] = {{"p50", 50}, {"p75", 75}, {"p90", 90}};
        json_t *o = json_object();

        if (n)
                qsort(v, n, sizeof *v, cmp_i64);
        for (size_t i = 0; o && i < sizeof ps / sizeof ps[0]; i++)
                json_object_set_new(o, ps[i].key,
                                    n ? json_integer(v[(n * ps[i].p + 99) / 100 - 1] / 1000)
                                      : json_null());
        return o;
}

/* The times from receipt to the first offer (START false) or the start,
 * of the referrals received in the period. */
static json_t *times(const struct rd_report *rep, bool start)
{
        int64_t *v = malloc((rep->n_refs + 1) * sizeof *v);
        size_t n = 0;
        json_t *o;

        if (!v)
                return NULL;
        for (size_t i = 0; i < rep->n_refs; i++) {
                const struct ref *r = &rep->refs[i];
                int64_t end = start ? r->started_ms : r->first_offer_ms;
                if (received_in(rep, r) && end)
                        v[n++] = end - r->received_ms;
        }
        o = percentiles(v, n);
        free(v);
        return o;
}

static json_t *by_decision(const struct rd_report *rep, json_int_t *received)
{
        json_int_t n[RD_STATUS__MAX] = {0};

        *received = 0;
        for (size_t i = 0; i < rep->n_refs; i++) {
                const struct ref *r = &rep->refs[i];
                if (!received_in(rep, r))
                        continue;
                ++*received;
                if (r->decided && r->first_decision < RD_STATUS__MAX)
                        n[r->first_decision]++;
        }
        return json_pack("{s:I, s:I, s:I}", "assigned", n[RD_STATUS_ASSIGNED], "waitlisted",
                         n[RD_STATUS_WAITLISTED], "forwarded", n[RD_STATUS_FORWARDED]);
}

static json_t *window(const struct rd_report *rep)
{
        json_int_t in_time = 0, late = 0, missed = 0;

        for (size_t i = 0; i < rep->n_refs; i++) {
                const struct ref *r = &rep->refs[i];
                if (!r->start_by_ms || r->start_by_ms < rep->from || r->start_by_ms >= rep->to)
                        continue;
                if (r->started_ms && r->started_ms <= r->start_by_ms)
                        in_time++;
                else if (r->started_ms)
                        late++;
                missed += r->missed;
        }
        return json_pack("{s:I, s:I, s:I, s:I}", "started", in_time + late, "in_time", in_time,
                         "late", late, "missed", missed);
}

/* {"now", "oldest"} and the count of those needing attention, at TO. */
static json_t *waiting(const struct rd_report *rep, json_int_t *attention)
{
        json_int_t now = 0;
        int64_t oldest = 0;
        char t[RD_TIME_STR];

        *attention = 0;
        for (size_t i = 0; i < rep->n_refs; i++) {
                const struct ref *r = &rep->refs[i];
                if (!r->received_ms || r->status != RD_STATUS_WAITLISTED)
                        continue;
                now++;
                *attention += r->attention;
                if (!oldest || r->received_ms < oldest)
                        oldest = r->received_ms;
        }
        return json_pack("{s:I, s:o}", "now", now, "oldest",
                         oldest ? json_string(rd_time_format(oldest, t)) : json_null());
}

/* Loads at TO per connector seen (rd_report.conns), into a new array. */
static json_int_t *loads(const struct rd_report *rep)
{
        json_int_t *load = calloc(rep->n_conns + 1, sizeof *load);

        for (size_t i = 0; load && i < rep->n_refs; i++) {
                const struct ref *r = &rep->refs[i];
                if (r->received_ms && held(r) && r->connector >= 0)
                        load[r->connector]++;
        }
        return load;
}

static json_int_t load_of(const struct rd_report *rep, const json_int_t *load, const char *id)
{
        for (size_t i = 0; i < rep->n_conns; i++)
                if (!strcmp(rep->conns[i], id))
                        return load[i];
        return 0;
}

static json_t *connectors(const struct rd_report *rep, const struct rd_rules *rules)
{
        json_int_t *load = loads(rep);
        json_t *a = load ? json_array() : NULL;

        for (size_t c = 0; a && rules && c < rules->n_connectors; c++) {
                const struct rd_connector *cn = &rules->connectors[c];
                json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I}", "id", cn->id, "team",
                                                   rules->teams[cn->team].id, "capacity",
                                                   (json_int_t)cn->capacity, "load",
                                                   load_of(rep, load, cn->id)));
        }
        for (size_t i = 0; a && !rules && i < rep->n_conns; i++)
                if (load[i])
                        json_array_append_new(a,
                                              json_pack("{s:s, s:n, s:n, s:I}", "id", rep->conns[i],
                                                        "team", "capacity", "load", load[i]));
        free(load);
        return a;
}

static int cmp_forward(const void *a, const void *b)
{
        const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
        json_int_t nx = json_integer_value(json_object_get(x, "count"));
        json_int_t ny = json_integer_value(json_object_get(y, "count"));

        if (nx != ny)
                return nx > ny ? -1 : 1;
        return strcmp(str(x, "to"), str(y, "to"));
}

/* [{to, count}], most first, then by target. */
static json_t *forwarded(const struct rd_report *rep)
{
        size_t n = json_object_size(rep->forwards), i = 0;
        json_t **v = calloc(n + 1, sizeof *v), *a = json_array(), *val;
        const char *key;

        if (!v || !a) {
                free(v);
                json_decref(a);
                return NULL;
        }
        json_object_foreach(rep->forwards, key, val) v[i++] =
                json_pack("{s:s, s:O}", "to", key, "count", val);
        qsort(v, n, sizeof *v, cmp_forward);
        for (i = 0; i < n; i++)
                json_array_append_new(a, v[i]);
        free(v);
        return a;
}

/* The index of connector ID among those seen, or -1. */
static long conn_index(const struct rd_report *rep, const char *id)
{
        for (size_t i = 0; i < rep->n_conns; i++)
                if (!strcmp(rep->conns[i], id))
                        return (long)i;
        return -1;
}

static int cmp_delta(const void *a, const void *b)
{
        int64_t x = ((const struct delta *)a)->at, y = ((const struct delta *)b)->at;
        return (x > y) - (x < y);
}

/* The state at each moment of the series: the changes before it summed
 * up. 0 or -ENOMEM. */
static int sample_all(struct rd_report *rep)
{
        int64_t waiting = 0, *load = calloc(rep->n_conns + 1, sizeof *load);
        size_t i = 0;

        if (!load)
                return -ENOMEM;
        if (rep->n_deltas)
                qsort(rep->deltas, rep->n_deltas, sizeof *rep->deltas, cmp_delta);
        for (size_t k = 0; k < rep->n_samples; k++) {
                struct sample *sm = &rep->samples[k];
                for (; i < rep->n_deltas && rep->deltas[i].at < sm->at; i++) {
                        if (rep->deltas[i].who < 0)
                                waiting += rep->deltas[i].d;
                        else
                                load[rep->deltas[i].who] += rep->deltas[i].d;
                }
                free(sm->load);
                sm->load = malloc((rep->n_conns + 1) * sizeof *sm->load);
                if (!sm->load) {
                        free(load);
                        return -ENOMEM;
                }
                memcpy(sm->load, load, (rep->n_conns + 1) * sizeof *load);
                sm->waiting = waiting;
        }
        free(load);
        return 0;
}

/* {"at": [...], "waiting": [...], "load": {id: [...]}} at the moments of
 * the series, for the connectors of CONNS (the report's list). */
static json_t *series(struct rd_report *rep, const json_t *conns)
{
        json_t *at = json_array(), *wait = json_array(), *load = json_object(), *c;
        char t[RD_TIME_STR];
        size_t i;

        if (sample_all(rep) < 0) {
                json_decref(at);
                at = NULL;
        }
        for (size_t k = 0; at && wait && k < rep->n_samples; k++) {
                json_array_append_new(at, json_string(rd_time_format(rep->samples[k].at, t)));
                json_array_append_new(wait, json_integer(rep->samples[k].waiting));
        }
        json_array_foreach(conns, i, c)
        {
                const char *id = str(c, "id");
                long ci = conn_index(rep, id);
                json_t *v = json_array();
                for (size_t k = 0; v && k < rep->n_samples; k++)
                        json_array_append_new(v,
                                              json_integer(ci >= 0 ? rep->samples[k].load[ci] : 0));
                json_object_set_new(load, id, v);
        }
        return json_pack("{s:o, s:o, s:o}", "at", at, "waiting", wait, "load", load);
}

/* Starts of the referrals received in the period by the days they took:
 * {"days": W, "counts": [...]}, count i for [W i, W (i + 1)) days, the last
 * for W (n - 1) days or more. */
#define START_BUCKET_DAYS 5
#define START_BUCKETS 7
static json_t *start_histogram(const struct rd_report *rep)
{
        json_int_t n[START_BUCKETS] = {0};
        json_t *counts = json_array();

        for (size_t i = 0; i < rep->n_refs; i++) {
                const struct ref *r = &rep->refs[i];
                int64_t b;
                if (!received_in(rep, r) || !r->started_ms)
                        continue;
                b = (r->started_ms - r->received_ms) / (START_BUCKET_DAYS * 86400 * INT64_C(1000));
                n[b < 0 ? 0 : b >= START_BUCKETS ? START_BUCKETS - 1 : b]++;
        }
        for (size_t i = 0; counts && i < START_BUCKETS; i++)
                json_array_append_new(counts, json_integer(n[i]));
        return json_pack("{s:i, s:o}", "days", START_BUCKET_DAYS, "counts", counts);
}

int rd_report_finish(struct rd_report *rep, const struct rd_rules *rules, json_t **out)
{
        char from[RD_TIME_STR], to[RD_TIME_STR];
        json_int_t received, attention;
        json_t *decisions = by_decision(rep, &received), *wait = waiting(rep, &attention);
        json_t *conns = connectors(rep, rules);
        json_t *o = json_pack(
                "{s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:O, s:O, s:o, s:O, s:I, s:o, s:o}",
                "from", rd_time_format(rep->from, from), "to", rd_time_format(rep->to, to),
                "received", received, "by_decision", decisions, "waiting", wait, "time_to_offer_s",
                times(rep, false), "time_to_start_s", times(rep, true), "window", window(rep),
                "declines", rep->declines, "closes", rep->closes, "forwarded", forwarded(rep),
                "connectors", conns, "attention", attention, "time_to_start_days",
                start_histogram(rep), "series", conns ? series(rep, conns) : NULL);

        json_decref(conns);
        if (!o)
                return -ENOMEM;
        *out = o;
        return 0;
}

/* ---- from a store --------------------------------------------------------------------------- */

#define EVENTS_PAGE 10000

/* Every event of STORE into REP, a page at a time. */
static int feed_events(struct rd_report *rep, struct rd_store *store)
{
        int64_t since = 0;

        for (;;) {
                json_t *page = json_array(), *ev;
                size_t i, n;
                int r = page ? rd_store_events(store, since, EVENTS_PAGE, NULL, page) : -ENOMEM;

                n = json_array_size(page);
                json_array_foreach(page, i, ev)
                {
                        if (r == 0)
                                r = rd_report_event(rep, ev);
                        since = json_integer_value(json_object_get(ev, "seq"));
                }
                json_decref(page);
                if (r < 0 || n < EVENTS_PAGE)
                        return r;
        }
}

static json_t *routing_json(const struct rd_routing_current *cur)
{
        char since[RD_TIME_STR];

        if (!cur->rules)
                return json_null();
        return json_pack("{s:s, s:s, s:s}", "source", cur->source, "digest", cur->digest, "since",
                         rd_time_format(cur->from_ms, since));
}

int rd_report_from_store(struct rd_store *store, int64_t from_ms, int64_t to_ms, json_t **out)
{
        struct rd_routing_current cur = {0};
        struct rd_report *rep = NULL;
        json_t *o = NULL;
        int r = rd_report_new(from_ms, to_ms, &rep);

        if (r == 0)
                r = feed_events(rep, store);
        if (r == 0) {
                r = rd_routing_at(store, to_ms, &cur, NULL);
                if (r == -ENOENT || r == -EBADMSG) /* not known: the loads alone */
                        r = 0;
        }
        if (r == 0)
                r = rd_report_finish(rep, cur.rules, &o);
        if (r == 0 && json_object_set_new(o, "routing", routing_json(&cur)) < 0)
                r = -ENOMEM;
        if (r == 0)
                *out = o;
        else
                json_decref(o);
        rd_routing_current_clear(&cur);
        rd_report_free(rep);
        return r;
}
