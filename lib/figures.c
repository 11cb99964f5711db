/* figures.c: the figures of a replay (figures.h). */
#include "figures.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

#define NONE UINT32_MAX /* no team, connector or target */
#define DAY_MS 86400000.0

/* A step function, its running integral and, when KEEP, its points. */
struct step {
        uint64_t value;
        int64_t since;     /* when VALUE was set (or the start) */
        uint64_t integral; /* value x ms from the start up to SINCE */
        uint64_t peak;     /* of the values that stood before SINCE */
        bool keep;
        struct rd_figures_point *pts;
        size_t n, cap;
};

struct conn {
        char *id;
        uint32_t team; /* into teams */
        uint32_t capacity;
        struct step load;
        uint64_t peak, total; /* at the end */
};

struct ref {
        char *id;
        int64_t received_ms, start_by_ms, open_since_ms;
        uint32_t first_team, first_conn, first_target;
        enum rd_status first_status;
        bool existing; /* received before the start */
        bool open;     /* a trajectory is open */
        bool pre_open; /* ... and it opened before the start */
        bool decided, started, missed, final;
};

struct rd_figures_acc {
        int64_t start_ms, last_ms, end_ms;
        bool finished;
        struct conn *conns;
        size_t n_conns, cap_conns;
        char **names; /* teams and forward targets, each once */
        size_t n_names, cap_names;
        struct ref *refs;
        size_t n_refs, cap_refs;
        int64_t *tts; /* times to start */
        size_t n_tts, cap_tts;
        struct step waitlist, open;
        uint64_t length_ms; /* of the trajectories started in the span */
        uint64_t by[3];     /* first decisions: assigned, waitlisted, forwarded */
        struct rd_figures_summary sum;
};

/* ---- helpers ----------------------------------------------------------------- */

/* Room for N elements of SIZE bytes in *P (*CAP of them now). 0 or -ENOMEM. */
static int grow(void *p, size_t *cap, size_t n, size_t size)
{
        void **pp = p;
        size_t c = *cap ? *cap : 16;
        void *q;

        if (n <= *cap)
                return 0;
        while (c < n)
                c *= 2;
        q = realloc(*pp, c * size);
        if (!q)
                return -ENOMEM;
        *pp = q;
        *cap = c;
        return 0;
}

/* The index of NAME among the names, added if new; NONE for NULL or "".
 * -ENOMEM. */
static int name_index(struct rd_figures_acc *f, const char *name, uint32_t *out)
{
        char *copy;

        *out = NONE;
        if (!name || !*name)
                return 0;
        for (size_t i = 0; i < f->n_names; i++)
                if (!strcmp(f->names[i], name)) {
                        *out = (uint32_t)i;
                        return 0;
                }
        if (f->n_names >= NONE || grow(&f->names, &f->cap_names, f->n_names + 1, sizeof *f->names))
                return -ENOMEM;
        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        f->names[f->n_names] = copy;
        *out = (uint32_t)f->n_names++;
        return 0;
}

static const char *name_of(const struct rd_figures_acc *f, uint32_t i)
{
        return i == NONE ? NULL : f->names[i];
}

/* May something happen at AT? */
static bool at_ok(const struct rd_figures_acc *f, int64_t at)
{
        return !f->finished && at >= f->last_ms;
}

/* Referral HANDLE, when it may still change at AT; else NULL. */
static struct ref *ref_at(struct rd_figures_acc *f, size_t handle, int64_t at)
{
        struct ref *r = handle < f->n_refs ? &f->refs[handle] : NULL;

        return r && !r->final && at_ok(f, at) ? r : NULL;
}

/* ---- step functions ------------------------------------------------------------ */

static int step_init(struct step *s, int64_t start, bool keep)
{
        *s = (struct step){.since = start, .keep = keep};
        if (keep) {
                if (grow(&s->pts, &s->cap, 1, sizeof *s->pts) < 0)
                        return -ENOMEM;
                s->pts[s->n++] = (struct rd_figures_point){start, 0};
        }
        return 0;
}

/* The integral of S up to AT (>= since) into *OUT: 0 or -EOVERFLOW. */
static int step_integral(const struct step *s, int64_t at, uint64_t *out)
{
        uint64_t add;

        if (__builtin_mul_overflow(s->value, (uint64_t)(at - s->since), &add) ||
            __builtin_add_overflow(s->integral, add, out))
                return -EOVERFLOW;
        return 0;
}

/* S is V from AT (>= since) on. 0, -ENOMEM or -EOVERFLOW (S unchanged). */
static int step_set(struct step *s, int64_t at, uint64_t v)
{
        uint64_t integral;

        if (v == s->value)
                return 0;
        if (step_integral(s, at, &integral) < 0)
                return -EOVERFLOW;
        if (s->keep && grow(&s->pts, &s->cap, s->n + 1, sizeof *s->pts) < 0)
                return -ENOMEM;
        if (at > s->since) { /* the old value stood for a while */
                s->peak = s->value > s->peak ? s->value : s->peak;
                s->since = at;
        }
        s->integral = integral;
        s->value = v;
        if (!s->keep)
                return 0;
        if (s->pts[s->n - 1].at_ms != at) {
                s->pts[s->n++] = (struct rd_figures_point){at, v};
        } else { /* replaced at the same instant: it never stood */
                s->pts[s->n - 1].value = v;
                if (s->n >= 2 && s->pts[s->n - 2].value == v)
                        s->n--;
        }
        return 0;
}

/* The integral and peak of S over the whole span, to END. */
static int step_total(const struct step *s, int64_t end, uint64_t *total, uint64_t *peak)
{
        *peak = s->value > s->peak ? s->value : s->peak;
        return step_integral(s, end, total);
}

/* ---- feeding ----------------------------------------------------------------------- */

int rd_figures_new(int64_t start_ms, struct rd_figures_acc **out)
{
        struct rd_figures_acc *f = calloc(1, sizeof *f);

        if (!f)
                return -ENOMEM;
        f->start_ms = f->last_ms = start_ms;
        if (step_init(&f->waitlist, start_ms, true) < 0 ||
            step_init(&f->open, start_ms, false) < 0) {
                rd_figures_free(f);
                return -ENOMEM;
        }
        *out = f;
        return 0;
}

void rd_figures_free(struct rd_figures_acc *f)
{
        if (!f)
                return;
        for (size_t i = 0; i < f->n_conns; i++) {
                free(f->conns[i].id);
                free(f->conns[i].load.pts);
        }
        free(f->conns);
        for (size_t i = 0; i < f->n_names; i++)
                free(f->names[i]);
        free(f->names);
        for (size_t i = 0; i < f->n_refs; i++)
                free(f->refs[i].id);
        free(f->refs);
        free(f->tts);
        free(f->waitlist.pts);
        free(f->open.pts);
        free(f);
}

int rd_figures_connector(struct rd_figures_acc *f, const char *id, const char *team,
                         uint32_t capacity, size_t *index)
{
        struct conn *c;
        uint32_t t;
        size_t i;

        if (!id || !*id || f->finished)
                return -EINVAL;
        if (name_index(f, team, &t) < 0)
                return -ENOMEM;
        for (i = 0; i < f->n_conns && strcmp(f->conns[i].id, id); i++)
                ;
        if (i == f->n_conns) {
                if (grow(&f->conns, &f->cap_conns, i + 1, sizeof *f->conns) < 0)
                        return -ENOMEM;
                c = &f->conns[i];
                *c = (struct conn){.id = strdup(id)};
                if (!c->id || step_init(&c->load, f->start_ms, true) < 0) {
                        free(c->id);
                        free(c->load.pts);
                        return -ENOMEM;
                }
                f->n_conns++;
        }
        f->conns[i].team = t;
        f->conns[i].capacity = capacity;
        *index = i;
        return 0;
}

/* A new referral ID: its handle. */
static int add_ref(struct rd_figures_acc *f, const char *id, int64_t at, bool existing,
                   size_t *handle)
{
        char *copy;

        if (!id || !*id)
                return -EINVAL;
        if (grow(&f->refs, &f->cap_refs, f->n_refs + 1, sizeof *f->refs) < 0 ||
            !(copy = strdup(id)))
                return -ENOMEM;
        f->refs[f->n_refs] = (struct ref){
                .id = copy,
                .received_ms = at,
                .first_team = NONE,
                .first_conn = NONE,
                .first_target = NONE,
                .first_status = RD_STATUS_RECEIVED,
                .existing = existing,
        };
        *handle = f->n_refs++;
        return 0;
}

int rd_figures_received(struct rd_figures_acc *f, int64_t at_ms, const char *id, size_t *handle)
{
        int r;

        if (!at_ok(f, at_ms))
                return -EINVAL;
        r = add_ref(f, id, at_ms, false, handle);
        if (r == 0) {
                f->last_ms = at_ms;
                f->sum.referrals++;
        }
        return r;
}

int rd_figures_existing(struct rd_figures_acc *f, const char *id, bool open, size_t *handle)
{
        int r;

        if (f->finished || f->last_ms != f->start_ms)
                return -EINVAL;
        if (open && (r = step_set(&f->open, f->start_ms, f->open.value + 1)) < 0)
                return r;
        r = add_ref(f, id, f->start_ms, true, handle);
        if (r < 0) {
                if (open)
                        step_set(&f->open, f->start_ms, f->open.value - 1); /* cannot fail */
                return r;
        }
        f->refs[*handle].open = f->refs[*handle].pre_open = open;
        return 0;
}

/* End R's open trajectory at AT (CLOSED: by a close). 0 or -EOVERFLOW (or
 * -ENOMEM), nothing changed. */
static int end_trajectory(struct rd_figures_acc *f, struct ref *r, int64_t at, bool closed)
{
        uint64_t length = f->length_ms;
        int rc;

        if (!r->pre_open &&
            __builtin_add_overflow(f->length_ms, (uint64_t)(at - r->open_since_ms), &length))
                return -EOVERFLOW;
        rc = step_set(&f->open, at, f->open.value - 1);
        if (rc < 0)
                return rc;
        if (!r->pre_open) {
                f->length_ms = length;
                f->sum.trajectories_closed += closed;
        }
        r->open = r->pre_open = false;
        return 0;
}

/* Is D a decision that can be counted? */
static bool decision_ok(const struct rd_figures_acc *f, const struct rd_figures_decision *d)
{
        switch (d->status) {
        case RD_STATUS_ASSIGNED: return d->connector < f->n_conns;
        case RD_STATUS_WAITLISTED: return true;
        case RD_STATUS_FORWARDED: return d->forward_to && *d->forward_to;
        default: return false;
        }
}

int rd_figures_decided(struct rd_figures_acc *f, size_t handle, int64_t at_ms,
                       const struct rd_figures_decision *d)
{
        struct ref *r = ref_at(f, handle, at_ms);
        uint32_t target = NONE;
        int rc;

        if (!r || !d || !decision_ok(f, d))
                return -EINVAL;
        if (d->status == RD_STATUS_FORWARDED && name_index(f, d->forward_to, &target) < 0)
                return -ENOMEM;
        if (r->open && (rc = end_trajectory(f, r, at_ms, false)) < 0)
                return rc;
        if (!r->decided && !r->existing) {
                r->first_status = d->status;
                r->first_target = target;
                if (d->status == RD_STATUS_ASSIGNED) {
                        r->first_conn = (uint32_t)d->connector;
                        r->first_team = f->conns[d->connector].team;
                }
                f->by[d->status == RD_STATUS_ASSIGNED     ? 0
                      : d->status == RD_STATUS_WAITLISTED ? 1
                                                          : 2]++;
        }
        r->decided = true;
        if (!r->start_by_ms)
                r->start_by_ms = d->start_by_ms;
        if (d->status == RD_STATUS_FORWARDED) {
                r->final = true;
                f->sum.forwarded_any += !r->existing;
        }
        f->last_ms = at_ms;
        return 0;
}

/* R starts a trajectory at AT. */
static int start(struct rd_figures_acc *f, struct ref *r, int64_t at)
{
        bool first = !r->started && !r->existing;
        int rc;

        if (r->open)
                return -EINVAL;
        if (first && grow(&f->tts, &f->cap_tts, f->n_tts + 1, sizeof *f->tts) < 0)
                return -ENOMEM;
        rc = step_set(&f->open, at, f->open.value + 1);
        if (rc < 0)
                return rc;
        r->open = true;
        r->open_since_ms = at;
        f->sum.trajectories_started++;
        if (first) {
                r->started = true;
                f->sum.window_started++;
                f->sum.window_in_time += r->start_by_ms && at <= r->start_by_ms;
                f->tts[f->n_tts++] = at - r->received_ms;
        }
        return 0;
}

int rd_figures_update(struct rd_figures_acc *f, size_t handle, int64_t at_ms, enum rd_status status)
{
        struct ref *r = ref_at(f, handle, at_ms);
        int rc = 0;

        if (!r)
                return -EINVAL;
        switch (status) {
        case RD_STATUS_ACCEPTED: break;
        case RD_STATUS_STARTED: rc = start(f, r, at_ms); break;
        case RD_STATUS_CLOSED:
                rc = r->open ? end_trajectory(f, r, at_ms, true) : -EINVAL;
                r->final = rc == 0;
                break;
        case RD_STATUS_WITHDRAWN:
                rc = r->open ? end_trajectory(f, r, at_ms, false) : 0;
                r->final = rc == 0;
                break;
        default: return -EINVAL;
        }
        if (rc == 0)
                f->last_ms = at_ms;
        return rc;
}

int rd_figures_missed(struct rd_figures_acc *f, size_t handle, int64_t at_ms)
{
        struct ref *r = ref_at(f, handle, at_ms);

        if (!r)
                return -EINVAL;
        f->sum.window_missed += !r->missed && !r->existing;
        r->missed = true;
        f->last_ms = at_ms;
        return 0;
}

int rd_figures_load(struct rd_figures_acc *f, int64_t at_ms, size_t index, uint64_t load)
{
        int rc;

        if (!at_ok(f, at_ms) || index >= f->n_conns)
                return -EINVAL;
        rc = step_set(&f->conns[index].load, at_ms, load);
        if (rc == 0)
                f->last_ms = at_ms;
        return rc;
}

int rd_figures_waitlist(struct rd_figures_acc *f, int64_t at_ms, uint64_t length)
{
        int rc;

        if (!at_ok(f, at_ms))
                return -EINVAL;
        rc = step_set(&f->waitlist, at_ms, length);
        if (rc == 0)
                f->last_ms = at_ms;
        return rc;
}

/* ---- closing the span ------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

/* The nearest-rank P-th percentile of the N sorted times at V, in whole
 * seconds. */
static int64_t percentile_s(const int64_t *v, size_t n, unsigned p)
{
        return n ? v[(n * p + 99) / 100 - 1] / 1000 : 0;
}

/* The lengths, with those still open counted to END, into *OUT. */
static int lengths_to(const struct rd_figures_acc *f, int64_t end, uint64_t *out)
{
        uint64_t sum = f->length_ms;

        for (size_t i = 0; i < f->n_refs; i++) {
                const struct ref *r = &f->refs[i];

                if (r->open && !r->pre_open &&
                    __builtin_add_overflow(sum, (uint64_t)(end - r->open_since_ms), &sum))
                        return -EOVERFLOW;
        }
        *out = sum;
        return 0;
}

int rd_figures_finish(struct rd_figures_acc *f, int64_t end_ms)
{
        struct rd_figures_summary *s = &f->sum;
        uint64_t open_total, open_peak, wait_total, lengths;
        double span;

        if (!at_ok(f, end_ms))
                return -EINVAL;
        if (lengths_to(f, end_ms, &lengths) < 0 ||
            step_total(&f->open, end_ms, &open_total, &open_peak) < 0 ||
            step_total(&f->waitlist, end_ms, &wait_total, &s->waitlist_peak) < 0)
                return -EOVERFLOW;
        for (size_t i = 0; i < f->n_conns; i++) {
                struct conn *c = &f->conns[i];

                if (step_total(&c->load, end_ms, &c->total, &c->peak) < 0)
                        return -EOVERFLOW;
        }
        if (f->n_tts) /* qsort wants an array, also of none */
                qsort(f->tts, f->n_tts, sizeof *f->tts, cmp_i64);
        span = (double)(end_ms - f->start_ms);
        s->days = span / DAY_MS;
        s->assigned = f->by[0];
        s->waitlisted = f->by[1];
        s->forwarded = f->by[2];
        s->p50_s = percentile_s(f->tts, f->n_tts, 50);
        s->p75_s = percentile_s(f->tts, f->n_tts, 75);
        s->p90_s = percentile_s(f->tts, f->n_tts, 90);
        s->forwarded_share = s->referrals ? (double)s->forwarded_any / (double)s->referrals : 0;
        s->mean_open = span > 0 ? (double)open_total / span : 0;
        s->mean_length_s = s->trajectories_started
                                   ? (double)lengths / (double)s->trajectories_started / 1000.0
                                   : 0;
        s->waitlist_mean = span > 0 ? (double)wait_total / span : 0;
        f->end_ms = end_ms;
        f->finished = true;
        return 0;
}

/* ---- reading ------------------------------------------------------------------------------ */

int rd_figures_summary(const struct rd_figures_acc *f, struct rd_figures_summary *out)
{
        if (!f->finished)
                return -EINVAL;
        *out = f->sum;
        return 0;
}

size_t rd_figures_n_connectors(const struct rd_figures_acc *f)
{
        return f->n_conns;
}

int rd_figures_connector_view(const struct rd_figures_acc *f, size_t index,
                              struct rd_figures_connector_view *out)
{
        const struct conn *c = index < f->n_conns ? &f->conns[index] : NULL;
        double span = (double)(f->end_ms - f->start_ms);

        if (!f->finished || !c)
                return -EINVAL;
        *out = (struct rd_figures_connector_view){
                .id = c->id,
                .team = name_of(f, c->team) ? name_of(f, c->team) : "",
                .capacity = c->capacity,
                .peak_load = c->peak,
                .mean_load = span > 0 ? (double)c->total / span : 0,
                .load = {c->load.pts, c->load.n},
        };
        return 0;
}

int rd_figures_waitlist_series(const struct rd_figures_acc *f, struct rd_figures_series *out)
{
        if (!f->finished)
                return -EINVAL;
        *out = (struct rd_figures_series){f->waitlist.pts, f->waitlist.n};
        return 0;
}

int rd_figures_times_to_start(const struct rd_figures_acc *f, const int64_t **v, size_t *n)
{
        if (!f->finished)
                return -EINVAL;
        *v = f->tts;
        *n = f->n_tts;
        return 0;
}

/* X, or null when COUNT is 0. */
static json_t *real_or_null(uint64_t count, double x)
{
        return count ? json_real(x) : json_null();
}

static json_t *int_or_null(uint64_t count, int64_t x)
{
        return count ? json_integer(x) : json_null();
}

static json_t *connectors_json(const struct rd_figures_acc *f)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < f->n_conns; i++) {
                struct rd_figures_connector_view c;

                rd_figures_connector_view(f, i, &c);
                if (json_array_append_new(
                            a, json_pack("{s:s, s:s, s:I, s:I, s:f}", "id", c.id, "team", c.team,
                                         "capacity", (json_int_t)c.capacity, "peak_load",
                                         (json_int_t)c.peak_load, "mean_load", c.mean_load)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

json_t *rd_figures_json(const struct rd_figures_acc *f)
{
        const struct rd_figures_summary *s = &f->sum;
        size_t started = s->window_started;

        if (!f->finished)
                return NULL;
        return json_pack("{s:I, s:f, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:o, s:o, s:o}, s:o,"
                         " s:{s:I, s:I, s:f, s:o}, s:{s:I, s:f}, s:o}",
                         "referrals", (json_int_t)s->referrals, "days", s->days, "by_decision",
                         "assigned", (json_int_t)s->assigned, "waitlisted",
                         (json_int_t)s->waitlisted, "forwarded", (json_int_t)s->forwarded, "window",
                         "started", (json_int_t)s->window_started, "in_time",
                         (json_int_t)s->window_in_time, "missed", (json_int_t)s->window_missed,
                         "time_to_start_s", "p50", int_or_null(started, s->p50_s), "p75",
                         int_or_null(started, s->p75_s), "p90", int_or_null(started, s->p90_s),
                         "forwarded_share", real_or_null(s->referrals, s->forwarded_share),
                         "trajectories", "started", (json_int_t)s->trajectories_started, "closed",
                         (json_int_t)s->trajectories_closed, "mean_open", s->mean_open,
                         "mean_length_s", real_or_null(s->trajectories_started, s->mean_length_s),
                         "waitlist", "peak", (json_int_t)s->waitlist_peak, "mean", s->waitlist_mean,
                         "connectors", connectors_json(f));
}

/* A series as [[seconds since the start, value], ...]. */
static json_t *series_json(const struct rd_figures_acc *f, const struct step *s)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < s->n; i++)
                if (json_array_append_new(
                            a, json_pack("[I, I]",
                                         (json_int_t)((s->pts[i].at_ms - f->start_ms) / 1000),
                                         (json_int_t)s->pts[i].value)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

json_t *rd_figures_series_json(const struct rd_figures_acc *f)
{
        char from[RD_TIME_STR], to[RD_TIME_STR];
        json_t *conns = json_array(), *tts = json_array();

        if (!f->finished || !conns || !tts) {
                json_decref(conns);
                json_decref(tts);
                return NULL;
        }
        for (size_t i = 0; i < f->n_conns; i++) {
                const struct conn *c = &f->conns[i];
                const char *team = name_of(f, c->team);

                json_array_append_new(conns, json_pack("{s:s, s:s, s:I, s:o}", "id", c->id, "team",
                                                       team ? team : "", "capacity",
                                                       (json_int_t)c->capacity, "load",
                                                       series_json(f, &c->load)));
        }
        for (size_t i = 0; i < f->n_tts; i++)
                json_array_append_new(tts, json_integer(f->tts[i] / 1000));
        if (json_array_size(conns) != f->n_conns || json_array_size(tts) != f->n_tts) {
                json_decref(conns);
                json_decref(tts);
                return NULL;
        }
        return json_pack("{s:s, s:s, s:o, s:o, s:o}", "start", rd_time_format(f->start_ms, from),
                         "end", rd_time_format(f->end_ms, to), "waitlist",
                         series_json(f, &f->waitlist), "connectors", conns, "time_to_start_s", tts);
}

/* ---- comparing two runs --------------------------------------------------------------------- */

int rd_figures_first(const struct rd_figures_acc *f, size_t handle, struct rd_figures_first *out)
{
        const struct ref *r = handle < f->n_refs ? &f->refs[handle] : NULL;

        if (!r)
                return -EINVAL;
        *out = (struct rd_figures_first){
                .id = r->id,
                .status = r->first_status,
                .team = name_of(f, r->first_team),
                .connector = r->first_conn == NONE ? NULL : f->conns[r->first_conn].id,
                .forward_to = name_of(f, r->first_target),
        };
        return 0;
}

static bool same_text(const char *a, const char *b)
{
        return a == b || (a && b && !strcmp(a, b));
}

static json_t *text_or_null(const char *s)
{
        return s ? json_string(s) : json_null();
}

static json_t *first_json(const struct rd_figures_first *d)
{
        return json_pack("{s:s, s:o, s:o, s:o}", "status", rd_status_name(d->status), "team",
                         text_or_null(d->team), "connector", text_or_null(d->connector),
                         "forward_to", text_or_null(d->forward_to));
}

int rd_figures_changes(const struct rd_figures_acc *baseline,
                       const struct rd_figures_acc *candidate, json_t **out, size_t *changed)
{
        json_t *a;

        if (baseline->n_refs != candidate->n_refs)
                return -EINVAL;
        for (size_t i = 0; i < baseline->n_refs; i++)
                if (strcmp(baseline->refs[i].id, candidate->refs[i].id) ||
                    baseline->refs[i].existing != candidate->refs[i].existing)
                        return -EINVAL;
        a = json_array();
        for (size_t i = 0; a && i < baseline->n_refs; i++) {
                struct rd_figures_first b, c;

                rd_figures_first(baseline, i, &b);
                rd_figures_first(candidate, i, &c);
                if (baseline->refs[i].existing ||
                    (b.status == c.status && same_text(b.team, c.team) &&
                     same_text(b.connector, c.connector) && same_text(b.forward_to, c.forward_to)))
                        continue;
                if (json_array_append_new(a, json_pack("{s:s, s:o, s:o}", "id", b.id, "baseline",
                                                       first_json(&b), "candidate",
                                                       first_json(&c))) < 0) {
                        json_decref(a);
                        a = NULL;
                }
        }
        if (!a)
                return -ENOMEM;
        *out = a;
        *changed = json_array_size(a);
        return 0;
}
