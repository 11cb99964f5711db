/* hub_reload.c: another routing file in force: the state read for it
 * aside, open offers expiring by the new file, the waitlist served, and
 * config.reloaded; or config.rejected for a file that was refused. */
#include "hub_internal.h"

#include <stdio.h>
#include <string.h>

struct reexpire_ctx {
        struct rd_hub *h;
        int r;
};

/* Open offer ST expires by the accept_within of the rules in force. */
static int reexpire(void *ctx, const struct rd_stored *st)
{
        struct reexpire_ctx *c = ctx;
        struct rd_stored copy = *st;
        struct rd_store_change w = {.st = &copy, .row = true};
        int64_t exp = st->offered_ms + hub_accept_within_ms(c->h->rules, st->rule);

        if (!st->offer_expires_ms || exp == st->offer_expires_ms)
                return 0;
        copy.offer_expires_ms = exp;
        c->r = hub_write(c->h, &w, false);
        return c->r;
}

/* A config event of TYPE at NOW, filled by the caller. */
static struct rd_event config_event(enum rd_event_type type, int64_t now)
{
        struct rd_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = type;
        ev.at_ms = now;
        return ev;
}

/* What a reload does once the state for the new rules is in force. */
static int reload(struct rd_hub *h, int64_t now)
{
        struct reexpire_ctx rc = {h, 0};
        struct rd_event ev = config_event(RD_EV_CONFIG_RELOADED, now);
        int r = rd_store_each_offer(h->store, reexpire, &rc);

        if (r == 0)
                r = hub_serve_everyone(h, now);
        if (r < 0)
                return r;
        snprintf(ev.digest, sizeof ev.digest, "%s", h->rules->digest);
        ev.rules = (int64_t)h->rules->n_rules;
        return hub_emit(h, NULL, &ev);
}

int rd_hub_set_rules(struct rd_hub *h, struct rd_rules *rules, int64_t now,
                     struct rd_rules **old_out)
{
        struct rd_rules *old = h->rules;
        bool was_stale = h->stale;
        struct hub_state fresh, before;
        int r = hub_state_read(h->store, rules, h->wait_limit, &fresh);

        if (r < 0) {
                rd_rules_free(rules); /* the old rules and their state stay */
                return r;
        }
        h->rules = rules;
        h->stale = false;
        hub_state_swap(h, &fresh, &before);
        r = reload(h, now);
        if (r < 0) {
                /* the caller rolls back: the state before is right again */
                hub_state_swap(h, &before, &fresh);
                hub_state_free(&fresh);
                h->rules = old;
                h->stale = was_stale;
                rd_rules_free(rules);
                return r;
        }
        hub_state_free(&before);
        *old_out = old;
        return 0;
}

void rd_hub_restore_rules(struct rd_hub *h, struct rd_rules *old)
{
        rd_rules_free(h->rules);
        h->rules = old;
        rd_hub_rolled_back(h); /* reads the state for OLD */
}

int rd_hub_serve_waitlist(struct rd_hub *h, int64_t now)
{
        int r = hub_ready(h, NULL);
        return r < 0 ? r : hub_serve_everyone(h, now);
}

int rd_hub_reject_rules(struct rd_hub *h, const char *first_error, size_t errors, int64_t now)
{
        struct rd_event ev = config_event(RD_EV_CONFIG_REJECTED, now);
        snprintf(ev.error, sizeof ev.error, "%s", first_error);
        ev.errors = (int64_t)errors;
        return hub_emit(h, NULL, &ev);
}
