/* replay_feed.c: committed events into the figures (replay_internal.h),
 * as lib/figures asks to be fed: received -> rd_figures_received;
 * assigned, waitlisted, forwarded -> rd_figures_decided; accepted,
 * started, closed, withdrawn -> rd_figures_update; window_missed ->
 * rd_figures_missed; after each transaction the loads and the waitlist
 * that changed. The loads are counted from the events as protocol.md
 * defines them (offered to, accepted or started by a connector, and not
 * yet closed, withdrawn, declined, expired, forwarded or reassigned). */
#include "replay_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

int feed_init(struct replay_feed *f, int64_t start_ms)
{
        memset(f, 0, sizeof *f);
        return rd_figures_new(start_ms, &f->fig);
}

void feed_free(struct replay_feed *f)
{
        rd_figures_free(f->fig);
        free(f->refs);
        free(f->conns);
        memset(f, 0, sizeof *f);
}

/* The feed's index of connector ID, added (outside the figures) when new. */
static int conn_index(struct replay_feed *f, const char *id, size_t *out)
{
        size_t i;

        for (i = 0; i < f->n_conns && strcmp(f->conns[i].id, id); i++)
                ;
        if (i == f->n_conns) {
                if (replay_grow(&f->conns, &f->cap_conns, i + 1, sizeof *f->conns) < 0)
                        return -ENOMEM;
                f->conns[i] = (struct feed_conn){.figures = REPLAY_NONE};
                snprintf(f->conns[i].id, sizeof f->conns[i].id, "%s", id);
                f->n_conns++;
        }
        *out = i;
        return 0;
}

int feed_connector(struct replay_feed *f, const char *id, const char *team, uint32_t capacity)
{
        size_t i, fi;
        int r = conn_index(f, id, &i);

        if (r == 0)
                r = rd_figures_connector(f->fig, id, team, capacity, &fi);
        if (r == 0)
                f->conns[i].figures = fi;
        return r;
}

uint64_t feed_load(const struct replay_feed *f, const char *id)
{
        for (size_t i = 0; i < f->n_conns; i++)
                if (!strcmp(f->conns[i].id, id))
                        return f->conns[i].load;
        return 0;
}

/* The referral of row ROWID, made room for. */
static int ref_at(struct replay_feed *f, int64_t rowid, struct feed_ref **out)
{
        size_t i;

        if (rowid < 1)
                return -EPROTO;
        i = (size_t)(rowid - 1);
        if (replay_grow(&f->refs, &f->cap_refs, i + 1, sizeof *f->refs) < 0)
                return -ENOMEM;
        for (; f->n_refs <= i; f->n_refs++)
                f->refs[f->n_refs] =
                        (struct feed_ref){REPLAY_NONE, RD_STATUS_RECEIVED, REPLAY_NONE};
        *out = &f->refs[i];
        return 0;
}

/* The referral of event EV (by its id's row), made room for. */
static int ref_of(struct replay_feed *f, const struct rd_event *ev, struct feed_ref **out)
{
        int64_t rowid;

        if (rd_store_parse_id(ev->id, &rowid) < 0)
                return -EPROTO;
        return ref_at(f, rowid, out);
}

/* REF holds no connector's load any more. */
static void release(struct replay_feed *f, struct feed_ref *ref)
{
        if (ref->holds == REPLAY_NONE)
                return;
        f->conns[ref->holds].load--;
        f->conns[ref->holds].dirty = true;
        ref->holds = REPLAY_NONE;
}

/* REF holds connector C's load. */
static void hold(struct replay_feed *f, struct feed_ref *ref, size_t c)
{
        release(f, ref);
        f->conns[c].load++;
        f->conns[c].dirty = true;
        ref->holds = c;
}

/* REF is in STATUS now: the waitlist follows. */
static void set_status(struct replay_feed *f, struct feed_ref *ref, enum rd_status status)
{
        bool was = ref->status == RD_STATUS_WAITLISTED, is = status == RD_STATUS_WAITLISTED;

        if (was != is) {
                f->waiting = is ? f->waiting + 1 : f->waiting - 1;
                f->waiting_dirty = true;
        }
        ref->status = status;
}

/* A decision EV for REF: the figures, then the load it holds. */
static int decided(struct replay_feed *f, struct feed_ref *ref, const struct rd_event *ev)
{
        struct rd_figures_decision d = {.status = ev->status,
                                        .connector = REPLAY_NONE,
                                        .forward_to = ev->forward_to,
                                        .start_by_ms = ev->start_by_ms};
        size_t c = REPLAY_NONE;
        int r;

        if (ev->status == RD_STATUS_ASSIGNED) {
                r = conn_index(f, ev->connector, &c);
                if (r < 0)
                        return r;
                d.connector = f->conns[c].figures;
        }
        r = rd_figures_decided(f->fig, ref->handle, ev->at_ms, &d);
        if (r < 0)
                return r == -EINVAL ? -EPROTO : r;
        if (c != REPLAY_NONE)
                hold(f, ref, c);
        else
                release(f, ref);
        set_status(f, ref, ev->status);
        return 0;
}

/* A change EV of REF by its connector or partner. */
static int updated(struct replay_feed *f, struct feed_ref *ref, const struct rd_event *ev)
{
        int r = rd_figures_update(f->fig, ref->handle, ev->at_ms, ev->status);

        if (r < 0)
                return r == -EINVAL ? -EPROTO : r;
        if (ev->status == RD_STATUS_CLOSED || ev->status == RD_STATUS_WITHDRAWN)
                release(f, ref);
        set_status(f, ref, ev->status);
        return 0;
}

int feed_existing(struct replay_feed *f, int64_t rowid, const char *name, enum rd_status status,
                  const char *connector, bool started)
{
        struct feed_ref *ref;
        size_t c;
        int r = ref_at(f, rowid, &ref);

        if (r == 0 && ref->handle != REPLAY_NONE)
                r = -EPROTO;
        if (r == 0 && (r = rd_figures_existing(f->fig, name, started, &ref->handle)) == -EINVAL)
                r = -EPROTO;
        if (r == 0 && connector[0] &&
            (status == RD_STATUS_ASSIGNED || status == RD_STATUS_ACCEPTED ||
             status == RD_STATUS_STARTED) &&
            (r = conn_index(f, connector, &c)) == 0)
                hold(f, ref, c);
        if (r == 0)
                set_status(f, ref, status);
        return r;
}

int feed_event(struct replay_feed *f, const struct rd_event *ev, const char *name)
{
        struct feed_ref *ref;
        int r;

        if (ev->type >= RD_EV_CONFIG_RELOADED || ev->type == RD_EV_WINDOW_AT_RISK ||
            ev->type == RD_EV_ERASED)
                return 0;
        r = ref_of(f, ev, &ref);
        if (r < 0)
                return r;
        if (ev->type == RD_EV_RECEIVED) {
                if (ref->handle != REPLAY_NONE)
                        return -EPROTO;
                r = rd_figures_received(f->fig, ev->at_ms, name, &ref->handle);
                return r == -EINVAL ? -EPROTO : r;
        }
        if (ref->handle == REPLAY_NONE)
                return -EPROTO; /* never received */
        switch (ev->type) {
        case RD_EV_ASSIGNED:
        case RD_EV_WAITLISTED:
        case RD_EV_FORWARDED: return decided(f, ref, ev);
        case RD_EV_ACCEPTED:
        case RD_EV_STARTED:
        case RD_EV_CLOSED:
        case RD_EV_WITHDRAWN: return updated(f, ref, ev);
        case RD_EV_DECLINED:
        case RD_EV_OFFER_EXPIRED: release(f, ref); return 0; /* its new decision follows */
        case RD_EV_WINDOW_MISSED:
                r = rd_figures_missed(f->fig, ref->handle, ev->at_ms);
                return r == -EINVAL ? -EPROTO : r;
        default: return 0;
        }
}

int feed_flush(struct replay_feed *f, int64_t now_ms)
{
        int r = 0;

        for (size_t i = 0; r == 0 && i < f->n_conns; i++) {
                struct feed_conn *c = &f->conns[i];
                if (!c->dirty || c->figures == REPLAY_NONE)
                        continue;
                r = rd_figures_load(f->fig, now_ms, c->figures, c->load);
                c->dirty = false;
        }
        if (r == 0 && f->waiting_dirty) {
                r = rd_figures_waitlist(f->fig, now_ms, f->waiting);
                f->waiting_dirty = false;
        }
        return r == -EINVAL ? -EPROTO : r;
}
