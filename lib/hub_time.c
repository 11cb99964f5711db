/* hub_time.c: what time does to referrals: offers that lapse, windows at
 * risk and missed, and personal data erased on request or after its
 * retention. */
#include "hub_internal.h"

#include <errno.h>
#include <stdlib.h>

#include "trace_store.h"

/* ---- erasure ------------------------------------------------------------------------ */

/* Take family, note, children and postcode out of referral ST for good,
 * and from its trace what was derived from them (rd_trace_erased: of a
 * trace that cannot be read, nothing stays). */
static int erase(struct rd_hub *h, struct rd_stored *st, int64_t now)
{
        json_t *content = NULL;
        char *trace = NULL, *slim = NULL;
        struct rd_event ev;
        int r = rd_store_content(h->store, st->rowid, &content, &trace, NULL);
        if (r < 0)
                return r;
        if (!content)
                content = json_object();
        json_object_del(content, "family");
        json_object_del(content, "note");
        json_object_del(content, "children");
        json_object_del(content, "postcode");
        if (trace && rd_trace_erased(trace, &slim) == -ENOMEM)
                r = -ENOMEM;
        if (r == 0)
                r = rd_store_erase(h->store, st->rowid, content, slim, now);
        json_decref(content);
        free(trace);
        free(slim);
        if (r < 0)
                return r;
        st->erased_ms = now;
        h->erased = true;
        hub_event(&ev, RD_EV_ERASED, st, now, NULL);
        return hub_emit(h, st, &ev);
}

int rd_hub_erase(struct rd_hub *h, const char *id, int64_t now, struct rd_stored *out,
                 bool *changed, struct rd_error *err)
{
        struct rd_stored st;
        int r = hub_ready(h, err);

        if (r < 0)
                return r;
        r = rd_store_get(h->store, id, &st);
        if (r == -ENOENT)
                return rd_error_set(err, RD_NOT_FOUND, "id", "no such referral");
        if (r == 0 && st.erased_ms) {
                *out = st;
                *changed = false;
                return 0;
        }
        if (r == 0 && rd_status_is_open(st.status)) {
                struct rd_update u = {.id = id, .status = RD_STATUS_WITHDRAWN};
                bool ch;
                r = rd_hub_update(h, &u, now, &st, &ch, err);
                if (r < 0)
                        return r;
        }
        if (r == 0)
                r = erase(h, &st, now);
        if (r < 0) {
                rd_error_set(err, RD_INTERNAL, NULL,
                             "the daemon could not erase this referral; nothing was changed; "
                             "retry later");
                return r;
        }
        *out = st;
        *changed = true;
        return 0;
}

void rd_hub_set_retention(struct rd_hub *h, int64_t retention_s)
{
        h->retention_ms = retention_s * 1000;
}

bool rd_hub_erased(struct rd_hub *h)
{
        bool e = h->erased;
        h->erased = false;
        return e;
}

/* ---- deadlines -------------------------------------------------------------------- */

/* The earlier of A and B, where 0 is none. */
static int64_t earliest(int64_t a, int64_t b)
{
        return !a || (b && b < a) ? b : a;
}

int rd_hub_next_deadline(struct rd_hub *h, int64_t *when)
{
        struct rd_deadlines d;
        int64_t best;
        int r = rd_store_next_deadlines(h->store, &d);

        if (r < 0)
                return r;
        if (d.at_risk_start_by)
                d.at_risk_start_by -= h->rules->at_risk_s * 1000;
        best = earliest(earliest(d.offer_expires, d.at_risk_start_by), d.missed_start_by);
        if (h->retention_ms && d.erase_final)
                best = earliest(best, d.erase_final + h->retention_ms);
        if (h->recheck.on) /* the waitlist is being worked through: at once */
                best = 1;
        *when = best;
        return 0;
}

/* Offers that lapsed by NOW: at most LIMIT, into ROWS. */
static int tick_offers(struct rd_hub *h, int64_t now, size_t limit, struct rd_stored *rows,
                       size_t *done)
{
        size_t n = 0;
        int r = rd_store_due(h->store, RD_DUE_OFFER, now, (int64_t)limit, rows, &n);

        for (size_t i = 0; r == 0 && i < n; i++) {
                struct rd_stored st;
                /* an earlier one in this tick may have changed it */
                r = rd_store_get_row(h->store, rows[i].rowid, &st);
                if (r == 0 && st.status == RD_STATUS_ASSIGNED && st.offer_expires_ms &&
                    st.offer_expires_ms <= now)
                        r = hub_offer_ended(h, &st, RD_EV_OFFER_EXPIRED, NULL, now);
                (*done)++;
        }
        return r;
}

/* Windows at risk, then missed, by NOW. */
static int tick_windows(struct rd_hub *h, int64_t now, size_t limit, struct rd_stored *rows,
                        size_t *done)
{
        int r = 0;

        for (int kind = RD_DUE_AT_RISK; r == 0 && kind <= RD_DUE_MISSED; kind++) {
                bool at_risk = kind == RD_DUE_AT_RISK;
                int64_t threshold = at_risk ? now + h->rules->at_risk_s * 1000 : now;
                size_t n = 0;
                r = rd_store_due(h->store, (enum rd_deadline)kind, threshold, (int64_t)limit, rows,
                                 &n);
                for (size_t i = 0; r == 0 && i < n; i++) {
                        struct rd_stored *st = &rows[i];
                        struct rd_event ev;
                        struct rd_store_change w = {
                                .st = st, .row = true, .events = &ev, .n_events = 1};
                        if (at_risk)
                                st->at_risk_fired = 1;
                        else
                                st->missed_fired = 1;
                        hub_event(&ev, at_risk ? RD_EV_WINDOW_AT_RISK : RD_EV_WINDOW_MISSED, st,
                                  now, NULL);
                        r = hub_write(h, &w, false);
                        (*done)++;
                }
        }
        return r;
}

/* Personal data past its retention. */
static int tick_erase(struct rd_hub *h, int64_t now, size_t limit, struct rd_stored *rows,
                      size_t *done)
{
        size_t n = 0;
        int r = rd_store_due(h->store, RD_DUE_ERASE, now - h->retention_ms, (int64_t)limit, rows,
                             &n);

        for (size_t i = 0; r == 0 && i < n; i++) {
                r = erase(h, &rows[i], now);
                (*done)++;
        }
        return r;
}

int rd_hub_tick(struct rd_hub *h, int64_t now, size_t limit, size_t *n_done)
{
        struct rd_stored *rows;
        size_t done = 0;
        int r = hub_ready(h, NULL);

        if (r < 0)
                return r;
        rows = calloc(limit ? limit : 1, sizeof *rows);
        if (!rows)
                return -ENOMEM;
        r = tick_offers(h, now, limit, rows, &done);
        if (r == 0)
                r = tick_windows(h, now, limit, rows, &done);
        if (r == 0 && h->retention_ms)
                r = tick_erase(h, now, limit, rows, &done);
        if (r == 0)
                r = hub_recheck(h, now, limit < RECHECK_PAGE ? limit : RECHECK_PAGE, &done);
        free(rows);
        if (r < 0)
                return r;
        *n_done = done;
        return 0;
}
