/* hub_attention.c: who may take a waiting referral, and what happens when
 * nobody can (protocol.md rev 2, referral.needs_attention).
 *
 * A waiting referral needs a coordinator when no connector can ever take
 * it under its rule in the file in force: it has no eligible candidate.
 * Its attention is kept with it in the store, so that needs_attention
 * fires once each time it enters that state, across restarts and reloads.
 * It enters by a decision (submit, a decline, a lapsed offer: the decision's
 * referral.waitlisted, then referral.needs_attention) or by a reload that
 * takes its last candidate away; it leaves by an offer, a forward, a
 * withdrawal (the status changes) or a reload that gives it a candidate
 * again (referral.waitlisted without attention).
 *
 * After a change of routing file, every waiting referral is decided again
 * (hub_serve_everyone); the part of the waitlist that the pass for the
 * connectors with room does not reach is worked through here, a page at a
 * time, so that a long waitlist never holds the loop for long. The store
 * remembers the file the waiting referrals' teams and attention were
 * worked out with (META_ATTENTION): a database from before them is worked
 * through at its first start, the same way. */
#include "hub_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the facts of a decision --------------------------------------------------------- */

/* Add TEAM to the space-separated list BUF (of SIZE bytes, *LEN used),
 * unless it is there already. */
static void add_team(char *buf, size_t size, size_t *len, const char *team)
{
        size_t n = strlen(team);

        for (const char *p = buf; *p; p += strcspn(p, " "), p += *p == ' ')
                if (strncmp(p, team, n) == 0 && (p[n] == ' ' || !p[n]))
                        return;
        hub_append_word(buf, size, len, team);
}

int hub_wait_facts(const struct rd_rules *rules, const struct rd_route_record *rec,
                   struct wait_facts *out)
{
        size_t ts = rules->n_teams * (RD_ID_MAX + 1) + 1, nt = 0, eligible = 0;
        bool declined = false;
        struct wait_facts f = {.cands = hub_waiting_candidates(rules, rec), .teams = calloc(1, ts)};

        if (!f.cands || !f.teams) {
                hub_wait_facts_free(&f);
                return -ENOMEM;
        }
        for (size_t i = 0; i < rec->n_cands; i++) {
                const struct rd_route_cand *c = &rec->cands[i];

                declined = declined || c->why == RD_WHY_DECLINED;
                if (!rd_route_why_eligible(c->why))
                        continue;
                eligible++;
                /* `list` by team names the first-rank candidates' teams */
                if (!c->overflow)
                        add_team(f.teams, ts, &nt,
                                 rules->teams[rules->connectors[c->connector].team].id);
        }
        f.attention = eligible   ? RD_ATTENTION_NONE
                      : declined ? RD_ATTENTION_ALL_DECLINED
                                 : RD_ATTENTION_NO_CANDIDATE;
        *out = f;
        return 0;
}

void hub_wait_facts_free(struct wait_facts *f)
{
        free(f->cands);
        free(f->teams);
        f->cands = f->teams = NULL;
}

void hub_attention_event(struct rd_event *ev, const struct rd_stored *st, int64_t now)
{
        hub_event(ev, RD_EV_NEEDS_ATTENTION, st, now, NULL);
        ev->attention = st->attention;
}

/* ---- a waiting referral's candidates ---------------------------------------------------- */

int hub_recandidate(struct rd_hub *h, ssize_t pos, struct rd_stored *st,
                    const struct rd_route_record *rec, int64_t now)
{
        enum rd_attention before = st->attention;
        struct wait_facts f;
        struct rd_event ev;
        struct rd_store_change ch = {.st = st, .events = &ev};
        int r = hub_wait_facts(h->rules, rec, &f);

        if (r < 0)
                return r;
        st->attention = f.attention;
        ch.candidates = f.cands;
        ch.teams = f.teams;
        if (!before != !st->attention) {
                /* it starts or stops waiting for a coordinator: no forecast
                 * holds across that (its expected start is unknown) */
                st->expected_start_ms = 0;
                ch.row = true;
                if (st->attention)
                        hub_attention_event(&ev, st, now);
                else
                        hub_event(&ev, RD_EV_WAITLISTED, st, now, NULL);
                ch.n_events = 1;
        }
        r = hub_write(h, &ch, false);
        if (r == 0 && pos >= 0)
                r = wait_recandidate(h, (size_t)pos, f.cands);
        else
                h->sets.stale = true; /* the store's counts by candidates follow */
        hub_wait_facts_free(&f);
        return r;
}

/* ---- working the waitlist through again ---------------------------------------------------- */

/* A page of waiting referrals, as the store gave them. */
struct page {
        struct rd_stored *rows;
        size_t n, cap;
};

static int page_add(void *ctx, const struct rd_stored *st, const char *candidates)
{
        struct page *pg = ctx;
        (void)candidates; /* decided again: they follow the rules in force */
        if (pg->n == pg->cap)
                return -ENOBUFS;
        pg->rows[pg->n++] = *st;
        return 0;
}

/* Decide waiting referral ST again at NOW: an offer when a candidate has
 * room, else its candidates and attention follow the rules in force. */
static int recheck_one(struct rd_hub *h, struct rd_stored *st, int64_t now)
{
        ssize_t pos = wait_find(&h->wait, 0, st->rowid);
        struct rd_route_record rec;
        /* the forecast of a referral outside the head is not kept here: who
         * is ahead of it does not change its candidates or an offer */
        int r = hub_decide_again(h, st, pos < 0 ? 0 : (size_t)pos, now, &rec);

        if (r < 0)
                return r;
        if (rec.decision.status == RD_STATUS_ASSIGNED)
                r = hub_apply(h, st, &rec, now);
        else
                r = hub_recandidate(h, pos, st, &rec, now);
        rd_route_record_clear(&rec);
        return r;
}

int hub_rules_current(struct rd_hub *h, const char *key, bool *current)
{
        char digest[65] = "";
        int r = rd_store_meta_get(h->store, key, digest, sizeof digest);

        if (r < 0 && r != -ENOENT)
                return r;
        *current = r == 0 && strcmp(digest, h->rules->digest) == 0;
        return 0;
}

int hub_recheck_begin(struct rd_hub *h, int64_t now)
{
        bool current;
        size_t done = 0;
        int r = hub_rules_current(h, META_ATTENTION, &current);

        if (r < 0 || current)
                return r;
        h->recheck.on = true;
        h->recheck.has_after = false;
        return hub_recheck(h, now, h->wait_limit, &done);
}

int hub_recheck(struct rd_hub *h, int64_t now, size_t limit, size_t *done)
{
        struct page pg = {.cap = limit ? limit : 1};
        size_t got = 0;
        int r;

        if (!h->recheck.on)
                return 0;
        pg.rows = calloc(pg.cap, sizeof *pg.rows);
        if (!pg.rows)
                return -ENOMEM;
        r = rd_store_each_waiting(h->store, h->recheck.has_after ? &h->recheck.after : NULL, pg.cap,
                                  page_add, &pg, &got);
        for (size_t i = 0; r == 0 && i < pg.n; i++) {
                struct rd_stored *st = &pg.rows[i];
                h->recheck.after = (struct rd_wait_key){st->urgency, st->start_by_ms, st->rowid};
                h->recheck.has_after = true;
                r = recheck_one(h, st, now);
        }
        if (r == 0 && pg.n < pg.cap) { /* the whole list is done */
                r = rd_store_meta_set(h->store, META_CANDIDATES, h->rules->digest);
                if (r == 0)
                        r = rd_store_meta_set(h->store, META_ATTENTION, h->rules->digest);
                h->recheck.on = r < 0;
                (*done)++;
        }
        free(pg.rows);
        if (r == 0)
                *done += pg.n;
        return r;
}
