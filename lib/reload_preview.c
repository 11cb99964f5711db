/* reload_preview.c: see reload_preview.h. */
#include "reload_preview.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- loads, read from the store ------------------------------------------------------ */

/* Open referrals held per connector id: {"id": n}. */
static int count_open(void *ctx, const struct rd_stored *st)
{
        json_t *loads = ctx;
        json_t *n = json_object_get(loads, st->connector);

        if (!st->connector[0])
                return 0;
        return json_object_set_new(loads, st->connector, json_integer(json_integer_value(n) + 1)) <
                               0
                       ? -ENOMEM
                       : 0;
}

/* The loads per connector id the store holds now, into a new object. */
static int read_loads(struct rd_store *store, json_t **out)
{
        struct rd_store_state_fns fns = {.open = count_open};
        json_t *loads = json_object();
        int r = loads ? rd_store_each_state(store, &fns, loads) : -ENOMEM;

        if (r < 0) {
                json_decref(loads);
                return r;
        }
        *out = loads;
        return 0;
}

static json_int_t load_of(const json_t *loads, const char *id)
{
        return json_integer_value(json_object_get(loads, id));
}

/* One connector's line: connector C of R, with its loads. */
static json_t *connector_line(const struct rd_rules *r, size_t c, const json_t *before,
                              const json_t *after)
{
        const struct rd_connector *cn = &r->connectors[c];
        return json_pack("{s:s, s:s, s:I, s:I, s:I}", "id", cn->id, "team", r->teams[cn->team].id,
                         "capacity", (json_int_t)cn->capacity, "load_before",
                         load_of(before, cn->id), "load_after", load_of(after, cn->id));
}

/* The connectors of NEW (then those of OLD alone) with their loads. */
static json_t *connectors(const struct rd_rules *old, const struct rd_rules *new_rules,
                          const json_t *before, const json_t *after)
{
        json_t *a = json_array(), *line;

        for (size_t c = 0; a && c < new_rules->n_connectors; c++) {
                line = connector_line(new_rules, c, before, after);
                if (line && old && rd_rules_connector_index(old, new_rules->connectors[c].id) < 0)
                        json_object_set_new(line, "added", json_true());
                if (!line || json_array_append_new(a, line) < 0)
                        goto oom;
        }
        for (size_t c = 0; a && old && c < old->n_connectors; c++) {
                if (rd_rules_connector_index(new_rules, old->connectors[c].id) >= 0)
                        continue;
                line = connector_line(old, c, before, after);
                if (line)
                        json_object_set_new(line, "removed", json_true());
                if (!line || json_array_append_new(a, line) < 0)
                        goto oom;
        }
        return a;
oom:
        json_decref(a);
        return NULL;
}

/* ---- who waits for a coordinator ------------------------------------------------------ */

/* Waiting referral ST into CTX, {"id": attention}, when it has one. */
static int note_attention(void *ctx, const struct rd_stored *st, const char *candidates)
{
        (void)candidates;
        if (!st->attention)
                return 0;
        return json_object_set_new(ctx, st->id, json_string(rd_attention_name(st->attention))) < 0
                       ? -ENOMEM
                       : 0;
}

/* The waiting referrals STORE holds now that wait for a coordinator, in
 * waitlist order, {"id": attention}, into a new object. */
static int read_attention(struct rd_store *store, json_t **out)
{
        json_t *o = json_object();
        int r = o ? rd_store_each_waiting(store, NULL, SIZE_MAX, note_attention, o, NULL) : -ENOMEM;

        if (r < 0) {
                json_decref(o);
                return r;
        }
        *out = o;
        return 0;
}

/* The list of AFTER ({"id": attention}), each with its attention BEFORE as
 * "before" when it had one. NULL when out of memory. */
static json_t *attention_list(const json_t *before, const json_t *after)
{
        json_t *a = json_array(), *att, *it;
        const char *id;

        json_object_foreach((json_t *)after, id, att)
        {
                json_t *was = json_object_get(before, id);
                it = json_pack("{s:s, s:O}", "id", id, "attention", att);
                if (it && was && json_object_set(it, "before", was) < 0) {
                        json_decref(it);
                        it = NULL;
                }
                if (!it || !a || json_array_append_new(a, it) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

/* ---- what the reload emitted ----------------------------------------------------------- */

/* EV's string KEY, "" when absent. */
static const char *str(const json_t *ev, const char *key)
{
        const char *s = json_string_value(json_object_get(ev, key));
        return s ? s : "";
}

/* Sort event EV into the lists of P. 0 or -ENOMEM. */
static int sort_event(struct rd_preview *p, const json_t *ev)
{
        const char *type = str(ev, "type");
        json_t *it = NULL, *list = NULL;

        if (!strcmp(type, "referral.assigned")) {
                list = p->served;
                it = json_pack("{s:s, s:s, s:s}", "id", str(ev, "id"), "connector",
                               str(ev, "connector"), "team", str(ev, "team"));
        } else if (!strcmp(type, "referral.waitlisted")) {
                list = p->attention_ended;
                it = json_pack("{s:s}", "id", str(ev, "id"));
        } else {
                return 0;
        }
        return it && json_array_append_new(list, it) == 0 ? 0 : -ENOMEM;
}

/* The events in HUB's outbox, as stored, into P. */
static int take_events(struct rd_hub *hub, struct rd_preview *p)
{
        size_t n;

        rd_hub_events(hub, &n);
        for (size_t i = 0; i < n; i++) {
                json_t *ev = json_loads(rd_hub_event_text(hub, i), 0, NULL);
                int r = ev ? sort_event(p, ev) : -ENOMEM;
                if (r == 0 && json_array_append_new(p->events, ev) < 0)
                        r = -ENOMEM;
                else if (r < 0)
                        json_decref(ev);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- the reload ------------------------------------------------------------------------- */

/* Put NEW_RULES in force in HUB at NOW (or, without RELOAD, serve its
 * waitlist) in a transaction of its store; *OLD: the rules before (NULL
 * without RELOAD). */
static int put_in_force(struct rd_hub *hub, struct rd_store *store, struct rd_rules *new_rules,
                        bool reload, int64_t now, struct rd_rules **old)
{
        int r = rd_store_begin(store);

        *old = NULL;
        if (r < 0) {
                rd_rules_free(new_rules);
                return r;
        }
        rd_hub_events_clear(hub);
        r = reload ? rd_hub_set_rules(hub, new_rules, now, old) : rd_hub_serve_waitlist(hub, now);
        if (r == 0)
                r = rd_store_commit(store);
        if (r == 0)
                return 0;
        rd_store_rollback(store);
        if (*old)
                rd_hub_restore_rules(hub, *old);
        else
                rd_hub_rolled_back(hub);
        *old = NULL;
        return r;
}

#define TICK_MAX 256 /* deadlines per transaction, as the daemon handles them */

/* What the daemon's loop does right after the reload: whatever is due at
 * NOW (with a long waitlist, the rest of it worked through again), a
 * transaction at a time, its events into P. */
static int follow_up(struct rd_hub *hub, struct rd_store *store, int64_t now, struct rd_preview *p)
{
        for (;;) {
                int64_t next = 0;
                size_t done = 0;
                int r = rd_hub_next_deadline(hub, &next);

                if (r < 0 || !next || next > now)
                        return r;
                r = rd_store_begin(store);
                if (r == 0)
                        r = rd_hub_tick(hub, now, TICK_MAX, &done);
                if (r == 0)
                        r = rd_store_commit(store);
                if (r == 0)
                        r = take_events(hub, p);
                rd_hub_events_clear(hub);
                if (r < 0) {
                        rd_store_rollback(store);
                        return r;
                }
                if (done == 0) /* due, but nothing fired: never spin */
                        return 0;
        }
}

int rd_preview_reload(struct rd_hub *hub, struct rd_store *store, struct rd_rules *new_rules,
                      bool reload, int64_t now, struct rd_preview *out)
{
        struct rd_rules *old = NULL;
        json_t *before = NULL, *after = NULL, *att_before = NULL, *att_after = NULL;
        int r;

        memset(out, 0, sizeof *out);
        if (reload != (new_rules != NULL)) {
                rd_rules_free(new_rules);
                return -EINVAL;
        }
        out->events = json_array();
        out->served = json_array();
        out->attention_ended = json_array();
        r = out->events && out->served && out->attention_ended ? 0 : -ENOMEM;
        if (r == 0)
                r = read_loads(store, &before);
        if (r == 0)
                r = read_attention(store, &att_before);
        if (r < 0)
                rd_rules_free(new_rules);
        else
                r = put_in_force(hub, store, new_rules, reload, now, &old);
        if (r == 0)
                r = take_events(hub, out);
        rd_hub_events_clear(hub);
        if (r == 0)
                r = follow_up(hub, store, now, out);
        if (r == 0)
                r = read_loads(store, &after);
        if (r == 0)
                r = read_attention(store, &att_after);
        if (r == 0) {
                out->connectors = connectors(old, rd_hub_rules(hub), before, after);
                out->attention = attention_list(att_before, att_after);
                r = out->connectors && out->attention ? 0 : -ENOMEM;
        }
        rd_hub_events_clear(hub);
        rd_rules_free(old);
        json_decref(before);
        json_decref(after);
        json_decref(att_before);
        json_decref(att_after);
        if (r < 0)
                rd_preview_clear(out);
        return r;
}

void rd_preview_clear(struct rd_preview *p)
{
        json_decref(p->events);
        json_decref(p->served);
        json_decref(p->attention);
        json_decref(p->attention_ended);
        json_decref(p->connectors);
        memset(p, 0, sizeof *p);
}
