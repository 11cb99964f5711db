/* trace_store.c: the decision trace as the store keeps it (trace_store.h):
 * the route record written as a line of whole numbers, read back and
 * rendered as rd_route_trace_json renders the record (tests/test_route.c
 * holds the two to the same bytes over the generated cases), and the trace
 * of an erased referral, of either form. */
#include "trace_store.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "route_trace.h"

/* The flags of a compact trace (its second number). */
enum {
        TRACE_F_REDECIDED = 1, /* struct rd_route_record: redecided */
        TRACE_F_OVERFLOW = 2,  /* has_overflow */
        TRACE_F_FORECAST = 4,  /* has_forecast */
        TRACE_F_OTHERWISE = 8, /* used_otherwise */
        TRACE_F_ERASED = 16,   /* the trace of an erased referral */
        TRACE_F__ALL = 31,
};

/* The forecast's truths, in one number. */
enum { FC_FOUND = 1, FC_EXPECTED_OVERFLOW = 2, FC_WITHIN_WINDOW = 4, FC__ALL = 7 };

/* ---- writing ------------------------------------------------------------------------------ */

struct writer {
        char *buf;
        size_t size, len; /* LEN counts what did not fit too */
};

/* Append V: its decimal digits, all but the last as letters A-J. */
static void put(struct writer *w, uint64_t v)
{
        char d[20];
        size_t n = 0;

        do {
                d[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        while (n--) {
                if (w->len + 1 < w->size)
                        w->buf[w->len] = n ? (char)(d[n] - '0' + 'A') : d[n];
                w->len++;
        }
}

/* 0, -1, 1, -2 ... as 0, 1, 2, 3 ... */
static uint64_t zigzag(int64_t v)
{
        return v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1;
}

static int64_t unzigzag(uint64_t u)
{
        return u & 1 ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

static void put_rank(struct writer *w, const struct rd_route_rank_forecast *rk)
{
        put(w, rk->candidates);
        put(w, rk->slots);
        put(w, rk->waiting_ahead);
}

static void put_forecast(struct writer *w, const struct rd_route_forecast *fc)
{
        put(w, fc->candidates);
        put(w, fc->slots);
        put(w, fc->waiting_ahead);
        put_rank(w, &fc->first);
        put_rank(w, &fc->overflow);
        put(w, zigzag(fc->start_by));
        put(w, (fc->found ? FC_FOUND : 0) | (fc->expected_overflow ? FC_EXPECTED_OVERFLOW : 0) |
                       (fc->within_window ? FC_WITHIN_WINDOW : 0));
        if (fc->found)
                put(w, zigzag(fc->expected_start));
}

static unsigned flags_of(const struct rd_route_record *rec)
{
        return (rec->redecided ? TRACE_F_REDECIDED : 0) |
               (rec->has_overflow ? TRACE_F_OVERFLOW : 0) |
               (rec->has_forecast ? TRACE_F_FORECAST : 0) |
               (rec->used_otherwise ? TRACE_F_OTHERWISE : 0);
}

/* REC in the order of trace_store.h; ERASED: only what erase keeps. */
static void put_record(struct writer *w, const struct rd_route_record *rec, bool erased)
{
        const struct rd_decision *d = &rec->decision;

        put(w, RD_TRACE_VERSION);
        put(w, erased ? TRACE_F_ERASED : flags_of(rec));
        put(w, rec->action);
        put(w, d->status);
        put(w, d->rule);
        if (!erased) {
                put(w, rec->pick);
                put(w, rec->n_tried);
                for (size_t i = 0; i < rec->n_tried; i++)
                        put(w, rec->failed[i]);
        }
        if (d->status == RD_STATUS_FORWARDED)
                put(w, d->forward_to);
        if (d->status == RD_STATUS_ASSIGNED)
                put(w, d->connector);
        if (erased || rec->action != RD_ACTION_ASSIGN)
                return;
        put(w, rec->n_cands);
        for (size_t i = 0; i < rec->n_cands; i++) {
                const struct rd_route_cand *c = &rec->cands[i];

                put(w, c->connector);
                put(w, (uint64_t)c->why * 2 + c->overflow);
                put(w, c->load);
        }
        if (rec->has_forecast)
                put_forecast(w, &rec->forecast);
}

static size_t finish(struct writer *w)
{
        if (w->size)
                w->buf[w->len < w->size ? w->len : w->size - 1] = '\0';
        return w->len;
}

size_t rd_trace_encode(const struct rd_route_record *rec, char *buf, size_t size)
{
        struct writer w = {buf, size, 0};

        put_record(&w, rec, false);
        return finish(&w);
}

/* ---- reading ------------------------------------------------------------------------------ */

struct reader {
        const char *p, *end;
        bool bad;
};

/* The next number, which must not exceed MAX; once one is bad, the rest
 * read 0. */
static uint64_t get(struct reader *r, uint64_t max)
{
        uint64_t v = 0;

        while (!r->bad) {
                char c = r->p < r->end ? *r->p : '\0';
                bool last = c >= '0' && c <= '9';
                unsigned digit = (unsigned)(c - (last ? '0' : 'A'));

                if (!last && !(c >= 'A' && c <= 'J'))
                        r->bad = true;
                else if (v > (UINT64_MAX - digit) / 10)
                        r->bad = true;
                else
                        v = v * 10 + digit;
                r->p += !r->bad;
                if (last)
                        break;
        }
        if (v > max)
                r->bad = true;
        return r->bad ? 0 : v;
}

/* An index into a table of N. */
static size_t get_index(struct reader *r, size_t n)
{
        size_t v = (size_t)get(r, n ? n - 1 : 0);

        if (!n)
                r->bad = true;
        return v;
}

/* A count of items of at least PER characters each that are still to come. */
static size_t get_count(struct reader *r, size_t per)
{
        return (size_t)get(r, (uint64_t)(r->end - r->p) / per);
}

/* The sizes of the tables a trace's indexes point into: the rules', or
 * without rules no bound. */
struct bounds {
        size_t rules, connectors, targets;
};

static void get_rank(struct reader *r, struct rd_route_rank_forecast *rk)
{
        rk->candidates = (size_t)get(r, SIZE_MAX);
        rk->slots = (size_t)get(r, SIZE_MAX);
        rk->waiting_ahead = (size_t)get(r, SIZE_MAX);
}

static void get_forecast(struct reader *r, struct rd_route_forecast *fc)
{
        unsigned truths;

        fc->candidates = (size_t)get(r, SIZE_MAX);
        fc->slots = (size_t)get(r, SIZE_MAX);
        fc->waiting_ahead = (size_t)get(r, SIZE_MAX);
        get_rank(r, &fc->first);
        get_rank(r, &fc->overflow);
        fc->start_by = unzigzag(get(r, UINT64_MAX));
        truths = (unsigned)get(r, FC__ALL);
        fc->found = truths & FC_FOUND;
        fc->expected_overflow = truths & FC_EXPECTED_OVERFLOW;
        fc->within_window = truths & FC_WITHIN_WINDOW;
        if (fc->found)
                fc->expected_start = unzigzag(get(r, UINT64_MAX));
}

/* The candidates of an assign rule into X. 0 or -ENOMEM (R bad: nothing
 * read). */
static int get_cands(struct reader *r, const struct bounds *b, struct rd_route_record *x)
{
        size_t n = get_count(r, 3);

        if (r->bad || !n)
                return 0;
        x->cands = calloc(n, sizeof *x->cands);
        if (!x->cands)
                return -ENOMEM;
        for (; x->n_cands < n && !r->bad; x->n_cands++) {
                struct rd_route_cand *c = &x->cands[x->n_cands];
                uint64_t why;

                c->connector = get_index(r, b->connectors);
                why = get(r, 2 * RD_WHY__MAX - 1);
                c->why = (enum rd_route_why)(why / 2);
                c->overflow = why & 1;
                c->load = (uint32_t)get(r, UINT32_MAX);
        }
        return 0;
}

/* The rules tried, with the key each failed on, into X. 0 or -ENOMEM. */
static int get_tried(struct reader *r, const struct bounds *b, struct rd_route_record *x)
{
        size_t n = get_count(r, 1);

        if (n > b->rules)
                r->bad = true;
        if (r->bad || !n)
                return 0;
        x->failed = calloc(n, sizeof *x->failed);
        if (!x->failed)
                return -ENOMEM;
        for (; x->n_tried < n && !r->bad; x->n_tried++)
                x->failed[x->n_tried] = (enum rd_when_key)get(r, RD_WHEN__MAX - 1);
        return 0;
}

/* Everything after the rule, into X (of FLAGS). 0 or -ENOMEM. */
static int get_rest(struct reader *r, const struct bounds *b, unsigned flags,
                    struct rd_route_record *x)
{
        struct rd_decision *d = &x->decision;
        bool erased = flags & TRACE_F_ERASED;
        int rc = 0;

        if (!erased) {
                x->pick = (enum rd_pick)get(r, RD_PICK_ROUND_ROBIN);
                rc = get_tried(r, b, x);
        }
        if (d->status == RD_STATUS_FORWARDED)
                d->forward_to = get_index(r, b->targets);
        if (d->status == RD_STATUS_ASSIGNED)
                d->connector = get_index(r, b->connectors);
        if (rc < 0 || erased || x->action != RD_ACTION_ASSIGN)
                return rc;
        rc = get_cands(r, b, x);
        if (rc == 0 && x->has_forecast)
                get_forecast(r, &x->forecast);
        return rc;
}

/* Read the compact trace STORED, with indexes within B, into *REC (see
 * rd_trace_decode; without the rules' facts). */
static int read_record(const char *stored, const struct bounds *b, struct rd_route_record *rec,
                       bool *erased)
{
        struct reader r = {stored, stored + strlen(stored), false};
        struct rd_route_record x;
        unsigned flags;
        int rc;

        memset(&x, 0, sizeof x);
        if (get(&r, UINT64_MAX) != RD_TRACE_VERSION || r.bad)
                return -EBADMSG;
        flags = (unsigned)get(&r, TRACE_F__ALL);
        x.redecided = flags & TRACE_F_REDECIDED;
        x.has_overflow = flags & TRACE_F_OVERFLOW;
        x.has_forecast = flags & TRACE_F_FORECAST;
        x.used_otherwise = flags & TRACE_F_OTHERWISE;
        x.action = (enum rd_action)get(&r, RD_ACTION_ASSIGN);
        x.decision.status = (enum rd_status)get(&r, RD_STATUS__MAX - 1);
        x.decision.rule = get_index(&r, b->rules);
        rc = get_rest(&r, b, flags, &x);
        if (rc == 0 && (r.bad || r.p != r.end))
                rc = -EBADMSG;
        if (rc < 0) {
                rd_route_record_clear(&x);
                return rc;
        }
        if (erased)
                *erased = flags & TRACE_F_ERASED;
        *rec = x;
        return 0;
}

bool rd_trace_is_compact(const char *stored)
{
        return stored[0] != '{';
}

int rd_trace_decode(const char *stored, const struct rd_rules *rules, struct rd_route_record *rec,
                    bool *erased)
{
        const struct bounds b = {rules->n_rules, rules->n_connectors, rules->n_targets};
        struct rd_route_record x;
        int rc = read_record(stored, &b, &x, erased);

        if (rc < 0)
                return rc;
        if (x.decision.status == RD_STATUS_ASSIGNED)
                x.decision.team = rules->connectors[x.decision.connector].team;
        for (size_t i = 0; i < x.n_cands; i++)
                x.cands[i].capacity = rules->connectors[x.cands[i].connector].capacity;
        *rec = x;
        return 0;
}

/* ---- the trace shown, and erased ---------------------------------------------------------- */

/* The trace of an erased referral from TRACE: which rule decided and how,
 * without anything derived from the family's data (why candidates were
 * passed over, which `when` keys failed). NULL without memory. */
static json_t *erased_json(const json_t *trace)
{
        static const char *const keep[] = {"rule",      "action", "decision",
                                           "connector", "team",   "forward_to"};
        json_t *t = json_object();

        for (size_t i = 0; t && i < RD_ELEMENTSOF(keep); i++) {
                json_t *v = json_object_get(trace, keep[i]);
                if (v && json_object_set(t, keep[i], v) < 0) {
                        json_decref(t);
                        return NULL;
                }
        }
        if (t && json_object_set_new(t, "erased", json_true()) < 0) {
                json_decref(t);
                return NULL;
        }
        return t;
}

int rd_trace_json(const char *stored, const struct rd_rules *rules, json_t **out)
{
        struct rd_route_record rec;
        bool erased = false;
        json_t *t;
        int rc;

        if (!rd_trace_is_compact(stored)) {
                t = json_loads(stored, 0, NULL);
                if (!t)
                        return -EBADMSG;
                *out = t;
                return 0;
        }
        if (!rules)
                return -EBADMSG;
        rc = rd_trace_decode(stored, rules, &rec, &erased);
        if (rc < 0)
                return rc;
        t = rd_route_trace_json(&rec, rules);
        rd_route_record_clear(&rec);
        if (t && erased) { /* the record holds only what erase kept */
                json_t *slim = erased_json(t);
                json_decref(t);
                t = slim;
        }
        if (!t)
                return -ENOMEM;
        *out = t;
        return 0;
}

/* The erased form of the JSON trace STORED, as text. */
static int erased_text(const char *stored, char **out)
{
        json_t *t = json_loads(stored, 0, NULL), *slim;
        char *text;

        if (!t)
                return -EBADMSG;
        slim = erased_json(t);
        text = slim ? json_dumps(slim, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(t);
        json_decref(slim);
        if (!text)
                return -ENOMEM;
        *out = text;
        return 0;
}

int rd_trace_erased(const char *stored, char **out)
{
        const struct bounds any = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
        struct rd_route_record rec;
        struct writer w = {NULL, 0, 0};
        int rc;

        if (!rd_trace_is_compact(stored))
                return erased_text(stored, out);
        rc = read_record(stored, &any, &rec, NULL);
        if (rc < 0)
                return rc;
        put_record(&w, &rec, true); /* its length */
        w = (struct writer){malloc(w.len + 1), w.len + 1, 0};
        if (w.buf) {
                put_record(&w, &rec, true);
                finish(&w);
                *out = w.buf;
        }
        rd_route_record_clear(&rec);
        return w.buf ? 0 : -ENOMEM;
}
