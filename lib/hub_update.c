/* hub_update.c: the update state machine (protocol.md, "update"): one
 * table says which change is allowed from which status, by whom, and what
 * it needs; it drives both the check and the `conflict` message. An update
 * is checked whole before anything changes; then the store, then memory. */
#include "hub_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"

/* The changes a client may ask for, in the order of protocol.md's table. */
enum change {
        CH_ACCEPTED,
        CH_STARTED,
        CH_DECLINED,
        CH_CLOSED,
        CH_WITHDRAWN,
        CH_ASSIGNED,
        CH_FORWARDED,
        CH__MAX /* none: not a change a client can ask for */
};

/* Who asks for it. The daemon holds each role to its changes; the hub
 * checks what it can see: the connector of an offer is the offer's. */
enum who {
        BY_OFFERED,                /* the connector who has the offer */
        BY_PARTNER_OR_COORDINATOR, /* the referring partner, a coordinator */
        BY_COORDINATOR,
};

/* What it needs besides. */
enum need {
        NEED_CONNECTOR = 1u << 0,   /* connector: a connector of the routing file */
        NEED_FORWARD_TO = 1u << 1,  /* forward_to: a forward target of the file */
        NEED_REASON = 1u << 2,      /* a reason the receiving service can read */
        MAY_EXPECTED_END = 1u << 3, /* expected_end, if given, in the future */
};

#define FROM(s) (1u << (s))
#define FROM_OPEN                                                                                  \
        (FROM(RD_STATUS_WAITLISTED) | FROM(RD_STATUS_ASSIGNED) | FROM(RD_STATUS_ACCEPTED) |        \
         FROM(RD_STATUS_STARTED))

static const struct transition {
        const char *name; /* as "allowed: ..." names it */
        unsigned from;    /* FROM() each status it is allowed from */
        enum who who;
        unsigned needs; /* enum need */
        enum rd_event_type event;
        /* its reason codes: a client's reason (code and text) is kept with
         * the referral; NULL: none, and a text is ignored (or, forwarded,
         * the forward's reason) */
        const struct rd_reason_codes *codes;
} transitions[] = {
        [CH_ACCEPTED] = {"accepted", FROM(RD_STATUS_ASSIGNED), BY_OFFERED, 0, RD_EV_ACCEPTED, NULL},
        [CH_STARTED] = {"started", FROM(RD_STATUS_ASSIGNED) | FROM(RD_STATUS_ACCEPTED), BY_OFFERED,
                        MAY_EXPECTED_END, RD_EV_STARTED, NULL},
        [CH_DECLINED] = {"declined", FROM(RD_STATUS_ASSIGNED), BY_OFFERED, 0, RD_EV_DECLINED,
                         &rd_declined_codes},
        [CH_CLOSED] = {"closed", FROM(RD_STATUS_STARTED), BY_OFFERED, 0, RD_EV_CLOSED,
                       &rd_closed_codes},
        [CH_WITHDRAWN] = {"withdrawn", FROM_OPEN, BY_PARTNER_OR_COORDINATOR, 0, RD_EV_WITHDRAWN,
                          &rd_withdrawn_codes},
        [CH_ASSIGNED] = {"assigned (with connector)", FROM_OPEN, BY_COORDINATOR, NEED_CONNECTOR,
                         RD_EV_ASSIGNED, NULL},
        [CH_FORWARDED] = {"forwarded", FROM_OPEN, BY_COORDINATOR, NEED_FORWARD_TO | NEED_REASON,
                          RD_EV_FORWARDED, NULL},
};
RD_TABLE_COVERS(transitions, CH__MAX);

static enum change change_of(const struct rd_update *u)
{
        if (u->declined)
                return CH_DECLINED;
        switch (u->status) {
        case RD_STATUS_ACCEPTED: return CH_ACCEPTED;
        case RD_STATUS_STARTED: return CH_STARTED;
        case RD_STATUS_CLOSED: return CH_CLOSED;
        case RD_STATUS_WITHDRAWN: return CH_WITHDRAWN;
        case RD_STATUS_ASSIGNED: return CH_ASSIGNED;
        case RD_STATUS_FORWARDED: return CH_FORWARDED;
        default: return CH__MAX;
        }
}

static const char *change_name(const struct rd_update *u)
{
        return u->declined ? "declined" : rd_status_name(u->status);
}

/* ---- checking, without side effects --------------------------------------------- */

/* The changes allowed from status S, for messages, into BUF ("" for none). */
static void allowed_from(enum rd_status s, char *buf, size_t size)
{
        size_t len = 0;

        buf[0] = '\0';
        for (size_t c = 0; c < CH__MAX; c++) {
                int n;
                if (!(transitions[c].from & FROM(s)))
                        continue;
                n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", transitions[c].name);
                if (n < 0 || (size_t)n >= size - len)
                        return;
                len += (size_t)n;
        }
}

/* RD_CONFLICT unless the state machine allows C from ST's status. */
static int check_allowed(const struct rd_stored *st, const struct rd_update *u, enum change c,
                         struct rd_error *err)
{
        char ok[RD_MESSAGE_MAX / 2];

        if (c < CH__MAX && (transitions[c].from & FROM(st->status)))
                return 0;
        allowed_from(st->status, ok, sizeof ok);
        if (!ok[0])
                return rd_error_set(err, RD_CONFLICT, "status",
                                    "the referral is %s, a final status: no change is allowed",
                                    rd_status_name(st->status));
        return rd_error_set(err, RD_CONFLICT, "status",
                            "a referral that is %s cannot become %s; allowed: %s",
                            rd_status_name(st->status), change_name(u), ok);
}

/* RD_INVALID unless U's reason_code, if any, is one of change C's. */
static int check_code(const struct rd_update *u, enum change c, struct rd_error *err)
{
        const struct rd_reason_codes *codes = transitions[c].codes;
        char list[RD_MESSAGE_MAX / 2];
        size_t len = 0;

        if (!u->reason_code)
                return 0;
        if (!codes)
                return rd_error_set(err, RD_INVALID, "reason_code",
                                    "only declined, withdrawn and closed take a reason_code");
        list[0] = '\0';
        for (size_t i = 0; i < codes->n; i++) {
                const char *code = codes->code[i];
                int n;
                if (strcmp(code, u->reason_code) == 0)
                        return 0;
                n = snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", code);
                if (n > 0 && (size_t)n < sizeof list - len)
                        len += (size_t)n;
        }
        return rd_error_set(err, RD_INVALID, "reason_code", "the reason_code of %s is one of: %s",
                            change_name(u), list);
}

/* What a change needs: the indexes, in the rules in force, of the connector
 * (*CI) and forward target (*TI) it names. */
static int check_needs(const struct rd_hub *h, const struct rd_update *u, unsigned needs,
                       int64_t now, ssize_t *ci, ssize_t *ti, struct rd_error *err)
{
        if (needs & NEED_CONNECTOR) {
                if (!u->connector)
                        return rd_error_set(err, RD_INVALID, "connector",
                                            "a manual assignment needs connector: a connector "
                                            "of the routing file");
                if ((*ci = rd_rules_connector_index(h->rules, u->connector)) < 0)
                        return rd_error_set(err, RD_INVALID, "connector",
                                            "no connector with this id in the routing file in "
                                            "force");
        }
        if (needs & NEED_FORWARD_TO) {
                if (!u->forward_to)
                        return rd_error_set(err, RD_INVALID, "forward_to",
                                            "a manual forward needs forward_to: a forward target "
                                            "of the routing file");
                if ((*ti = rd_rules_target_index(h->rules, u->forward_to)) < 0)
                        return rd_error_set(err, RD_INVALID, "forward_to",
                                            "no forward target with this id in the routing file "
                                            "in force");
        }
        if ((needs & NEED_REASON) && (!u->reason || !u->reason[0]))
                return rd_error_set(err, RD_INVALID, "reason",
                                    "a manual forward needs a reason the receiving service can "
                                    "read");
        if ((needs & MAY_EXPECTED_END) && u->expected_end_ms && u->expected_end_ms <= now)
                return rd_error_set(err, RD_INVALID, "expected_end",
                                    "expected_end must be a time in the future");
        /* a field the change does not take is not known for it: a client
         * that sends one meant another change */
        if (!(needs & NEED_FORWARD_TO) && u->forward_to)
                return rd_error_set(err, RD_INVALID, "forward_to",
                                    "only a manual forward (status forwarded) takes forward_to");
        if (!(needs & MAY_EXPECTED_END) && u->expected_end_ms)
                return rd_error_set(err, RD_INVALID, "expected_end",
                                    "only started takes expected_end");
        return 0;
}

/* Everything update U of ST (change C) must pass, in protocol.md's order:
 * the state machine (RD_CONFLICT), then who and what it needs (RD_INVALID,
 * RD_FORBIDDEN). Reads nothing, changes nothing. */
static int check(const struct rd_hub *h, const struct rd_stored *st, const struct rd_update *u,
                 enum change c, int64_t now, ssize_t *ci, ssize_t *ti, struct rd_error *err)
{
        const struct transition *t;
        int r = check_allowed(st, u, c, err);

        if (r < 0)
                return r;
        t = &transitions[c];
        if (t->who == BY_OFFERED) {
                if (!u->connector)
                        return rd_error_set(err, RD_INVALID, "connector",
                                            "%s needs connector: the id of the connector who "
                                            "has the offer",
                                            change_name(u));
                if (strcmp(u->connector, st->connector) != 0)
                        return rd_error_set(err, RD_FORBIDDEN, "connector",
                                            "this referral is offered to another connector");
        }
        r = check_needs(h, u, t->needs, now, ci, ti, err);
        return r < 0 ? r : check_code(u, c, err);
}

static int is_declined_by(void *ctx, const char *connector)
{
        return strcmp(ctx, connector) == 0;
}

/* 1 when U repeats the change that already happened to ST, 0 when not, or
 * a negative errno. */
static int is_repeat(struct rd_hub *h, const struct rd_stored *st, const struct rd_update *u)
{
        const char *c = u->connector ? u->connector : "";
        if (u->declined)
                return c[0] && strcmp(st->connector, c) != 0
                               ? rd_store_each_decline(h->store, st->rowid, is_declined_by,
                                                       (void *)c)
                               : 0;
        if (u->status != st->status)
                return 0;
        switch (u->status) {
        case RD_STATUS_ACCEPTED:
        case RD_STATUS_STARTED:
        case RD_STATUS_CLOSED:
        case RD_STATUS_ASSIGNED: return strcmp(st->connector, c) == 0;
        case RD_STATUS_WITHDRAWN: return 1;
        case RD_STATUS_FORWARDED:
                return u->forward_to && strcmp(st->forward_to, u->forward_to) == 0;
        default: return 0;
        }
}

/* ---- changing: the store, then memory ------------------------------------------ */

/* The state of ST after change C of U at NOW (CI, TI: as check found). */
static void next_state(const struct rd_rules *rules, const struct rd_stored *st,
                       const struct rd_update *u, enum change c, ssize_t ci, ssize_t ti,
                       int64_t now, struct rd_stored *next)
{
        *next = *st;
        next->status = c == CH_DECLINED ? st->status : u->status;
        next->attention = RD_ATTENTION_NONE; /* it no longer waits (or, declined, never did) */
        if (c != CH_CLOSED)
                next->offer_expires_ms = 0; /* the offer holds, or is gone */
        if (c == CH_CLOSED || c == CH_WITHDRAWN || c == CH_FORWARDED)
                next->final_ms = now;
        if (c == CH_STARTED) {
                next->started_ms = now;
                next->expected_end_ms = u->expected_end_ms;
        } else if (c == CH_FORWARDED) {
                next->start_by_ms = 0;
                next->team[0] = next->connector[0] = '\0';
                snprintf(next->forward_to, sizeof next->forward_to, "%s", rules->targets[ti].id);
                snprintf(next->reason, sizeof next->reason, "%s", u->reason);
        } else if (c == CH_ASSIGNED) {
                const struct rd_connector *k = &rules->connectors[ci];
                snprintf(next->connector, sizeof next->connector, "%s", k->id);
                snprintf(next->team, sizeof next->team, "%s", rules->teams[k->team].id);
                next->offered_ms = now;
                next->offer_expires_ms = now + hub_accept_within_ms(rules, st->rule);
                next->started_ms = next->expected_end_ms = next->expected_start_ms = 0;
        }
}

/* Memory follows change C from OLD to NEXT (the store has it): the load
 * and expected ends, the waitlist. *FREED: the connector that has room now,
 * or SIZE_MAX. */
static int follow(struct rd_hub *h, const struct rd_stored *old, const struct rd_stored *next,
                  enum change c, ssize_t ci, size_t *freed)
{
        *freed = SIZE_MAX;
        if (c == CH_ACCEPTED)
                return 0;
        if (c == CH_STARTED) {
                ssize_t k = rd_rules_connector_index(h->rules, old->connector);
                if (k < 0)
                        return 0;
                hub_ends_remove(h, (size_t)k, hub_expected_end(h->rules, old));
                return hub_ends_insert(h, (size_t)k, hub_expected_end(h->rules, next));
        }
        *freed = hub_release(h, old);
        if (old->status == RD_STATUS_WAITLISTED)
                wait_remove(h, old->rowid);
        if (c == CH_ASSIGNED)
                return hub_offer_taken(h, (size_t)ci, hub_expected_end(h->rules, next));
        return 0;
}

/* The client's reason for change C of U to ST at NOW into *WHY: NULL when
 * C keeps none. */
static const struct rd_store_reason *reason_of(const struct rd_stored *st,
                                               const struct rd_update *u, enum change c,
                                               int64_t now, struct rd_store_reason *why)
{
        if (!transitions[c].codes)
                return NULL;
        *why = (struct rd_store_reason){.at_ms = now,
                                        .change = change_name(u),
                                        .connector = st->connector,
                                        .code = u->reason_code,
                                        .text = u->reason && u->reason[0] ? u->reason : NULL};
        return why;
}

/* Apply change C (not a decline) of U to ST at NOW; *OUT: the new state. */
static int apply_change(struct rd_hub *h, const struct rd_stored *st, const struct rd_update *u,
                        enum change c, ssize_t ci, ssize_t ti, int64_t now, struct rd_stored *out)
{
        struct rd_stored next;
        struct rd_store_reason why;
        struct rd_event ev;
        struct rd_store_change w = {.st = &next,
                                    .row = true,
                                    .reason = reason_of(st, u, c, now, &why),
                                    .events = &ev,
                                    .n_events = 1};
        size_t freed;
        int r;

        next_state(h->rules, st, u, c, ci, ti, now, &next);
        hub_event(&ev, transitions[c].event, &next, now, NULL);
        if (w.reason && u->reason_code)
                snprintf(ev.reason_code, sizeof ev.reason_code, "%s", u->reason_code);
        if (c == CH_ASSIGNED)
                w.offered = next.connector; /* by hand: no round robin */
        r = hub_write(h, &w, false);
        if (r == 0)
                r = follow(h, st, &next, c, ci, &freed);
        /* the waitlist gets the room, unless the connector took it back */
        if (r == 0 && freed != SIZE_MAX && !(c == CH_ASSIGNED && freed == (size_t)ci))
                r = hub_serve_freed(h, freed, now);
        if (r == 0)
                *out = next;
        return r;
}

int rd_hub_update(struct rd_hub *h, const struct rd_update *u, int64_t now, struct rd_stored *out,
                  bool *changed, struct rd_error *err)
{
        enum change c = change_of(u);
        struct rd_stored st;
        ssize_t ci = -1, ti = -1;
        int r = hub_ready(h, err);

        if (r < 0)
                return r;
        r = rd_store_get(h->store, u->id, &st);
        if (r == -ENOENT)
                return rd_error_set(err, RD_NOT_FOUND, "id", "no such referral");
        if (r == 0)
                r = is_repeat(h, &st, u);
        if (r == 1) {
                *out = st;
                *changed = false;
                return 0;
        }
        if (r == 0 && (r = check(h, &st, u, c, now, &ci, &ti, err)) < 0)
                return r;
        if (r == 0 && c == CH_DECLINED) {
                struct rd_store_reason why;
                r = hub_offer_ended(h, &st, RD_EV_DECLINED, reason_of(&st, u, c, now, &why), now);
                if (r == 0)
                        *out = st;
        } else if (r == 0) {
                r = apply_change(h, &st, u, c, ci, ti, now, out);
        }
        if (r < 0) {
                rd_error_set(err, RD_INTERNAL, NULL,
                             "the daemon could not store this change; nothing was changed; retry "
                             "later");
                return r;
        }
        *changed = true;
        return 0;
}
