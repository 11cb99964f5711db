/* replay_recorded.c: the baseline of a replay from history without
 * --against (replay_internal.h): the history as recorded, every decision
 * as it was made under the files then in force. Its figures come from the
 * recorded events themselves, fed as a run feeds its own (replay_feed.c):
 * the referrals open at the start of the span as they were then, in the
 * order a run puts them in its store, then every event of the span in
 * seq order, the loads and the waitlist after each moment. */
#include "replay_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* The connectors of routing file DIGEST, added to the figures. */
static int file_connectors(const struct replay_history *h, struct replay_feed *f,
                           const char *digest, const char *source)
{
        struct rd_rules *rules = NULL;
        char *text = NULL;
        size_t len = 0;
        int r = rd_store_routing_text(h->store, digest, &text, &len);

        if (r == 0 && rd_rules_load_buffer(source, text, len, &rules, NULL) < 0)
                r = -EBADMSG;
        for (size_t c = 0; r == 0 && c < rules->n_connectors; c++) {
                const struct rd_connector *k = &rules->connectors[c];
                r = feed_connector(f, k->id, rules->teams[k->team].id, k->capacity);
        }
        rd_rules_free(rules);
        free(text);
        return r;
}

struct periods {
        const struct replay_history *h;
        struct replay_feed *f;
        size_t n; /* in force in the span */
};

static int period_connectors(void *ctx, const struct rd_routing_period *p)
{
        struct periods *ps = ctx;

        if (p->from_ms >= ps->h->to_ms || (p->until_ms && p->until_ms <= ps->h->from_ms))
                return 0;
        ps->n++;
        return file_connectors(ps->h, ps->f, p->digest, p->source);
}

/* The connectors of every file in force in the span, in the order they
 * came and in file order (a connector's team and capacity are those of
 * the last file that has it). Without a recorded file: those the offers
 * name, without a capacity. */
static int connectors(const struct replay_history *h, struct replay_feed *f)
{
        struct periods ps = {h, f, 0};
        int r = rd_store_each_routing(h->store, period_connectors, &ps);

        for (size_t e = 0; r == 0 && !ps.n && e < h->n_evs; e++) {
                const struct hist_ev *x = &h->evs[e];
                if (x->type == RD_EV_ASSIGNED)
                        r = feed_connector(f, hist_name(h, x->connector), hist_name(h, x->team), 0);
        }
        return r;
}

/* The referrals open at the start, in row order (as a run puts them). */
static int existing(const struct replay_history *h, struct replay_feed *f)
{
        int r = 0;

        for (size_t k = 0; r == 0 && k < h->n_existing; k++) {
                const struct hist_ref *x = &h->refs[h->existing[k]];
                struct rd_stored st;
                uint32_t o;
                hist_state_at_start(h, x, &st, &o);
                if (rd_status_is_open(st.status))
                        r = feed_existing(f, x->rowid, x->id, st.status, st.connector,
                                          st.status == RD_STATUS_STARTED);
        }
        return r == 0 ? feed_flush(f, h->from_ms) : r;
}

/* Every event of the span, as recorded. */
static int events(const struct replay_history *h, struct replay_feed *f, char *errbuf,
                  size_t errsize)
{
        int r = 0;

        for (size_t e = 0; r == 0 && e < h->n_evs; e++) {
                const struct hist_ev *x = &h->evs[e];
                const struct hist_ref *ref = &h->refs[x->ref];
                struct rd_event ev;
                if (x->at < h->from_ms || x->at >= h->to_ms || ref->received_ms >= h->to_ms)
                        continue;
                hist_event(h, x, &ev);
                snprintf(ev.id, sizeof ev.id, "%s", ref->id);
                ev.seq = x->seq;
                r = feed_event(f, &ev, ref->id);
                if (r < 0)
                        return replay_fail(errbuf, errsize, r,
                                           "the history does not add up: %s of %s at %lld",
                                           rd_event_type_name(ev.type), ref->id, (long long)x->at);
                if (e + 1 == h->n_evs || h->evs[e + 1].at != x->at)
                        r = feed_flush(f, x->at);
        }
        return r;
}

int recorded_figures(const struct replay_history *h, struct rd_figures_acc **out, char *errbuf,
                     size_t errsize)
{
        struct replay_feed f;
        int r = feed_init(&f, h->from_ms);

        if (r == 0)
                r = connectors(h, &f);
        if (r == 0)
                r = existing(h, &f);
        if (r == 0)
                r = events(h, &f, errbuf, errsize);
        if (r == 0)
                r = rd_figures_finish(f.fig, h->to_ms);
        if (r == 0)
                *out = f.fig, f.fig = NULL;
        else if (!errbuf[0])
                replay_fail(errbuf, errsize, r, "cannot work out the figures of the history: %s",
                            r == -ENOMEM ? "out of memory" : strerror(-r));
        feed_free(&f);
        return r;
}
