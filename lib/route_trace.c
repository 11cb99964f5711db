/* route_trace.c: the JSON trace of a routing decision, from its record.
 *
 * Every key, its order and every value are what the decision wrote into
 * the trace before it kept a record (tests/test_route.c compares 2100
 * generated traces with digests recorded then): the store keeps these
 * traces and `referralctl explain` reads them back. What overflow (rev 2)
 * adds appears only when the deciding rule has overflow teams. */
#include "route_trace.h"

#include <stdbool.h>

#include "json_build.h"
#include "macro.h"

static const char *const when_key_names[] = {
        [RD_WHEN_KIND] = "kind",         [RD_WHEN_URGENCY] = "urgency",
        [RD_WHEN_PARTNER] = "partner",   [RD_WHEN_POSTCODE] = "postcode",
        [RD_WHEN_AGE] = "age",           [RD_WHEN_LANGUAGE] = "language",
        [RD_WHEN_CONCERNS] = "concerns",
};
RD_TABLE_COVERS(when_key_names, RD_WHEN__MAX);

static const char *const why_names[] = {
        [RD_WHY_CHOSEN] = "chosen",
        [RD_WHY_POSTCODE] = "postcode",
        [RD_WHY_SKILL] = "skill",
        [RD_WHY_LANGUAGE] = "language",
        [RD_WHY_DECLINED] = "declined",
        [RD_WHY_FULL] = "full",
        [RD_WHY_NOT_SPEAKER] = "language",
        [RD_WHY_NOT_PICKED] = "not_picked",
        [RD_WHY_FIRST_RANK_FREE] = "first_rank_free",
};
RD_TABLE_COVERS(why_names, RD_WHY__MAX);

const char *rd_when_key_name(enum rd_when_key key)
{
        return (unsigned)key < RD_WHEN__MAX ? when_key_names[key] : "?";
}

const char *rd_route_why_name(enum rd_route_why why)
{
        return (unsigned)why < RD_WHY__MAX ? why_names[why] : "?";
}

static json_t *tried_json(const struct rd_route_record *rec, const struct rd_rules *rules,
                          bool *oom)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < rec->n_tried; i++) {
                json_t *o = json_object();

                rd_jset(oom, o, "rule", json_string(rules->rules[i].name));
                rd_jset(oom, o, "failed", json_string(rd_when_key_name(rec->failed[i])));
                rd_jpush(oom, a, o);
        }
        return a;
}

static const char *rank_name(bool overflow)
{
        return overflow ? "overflow" : "first";
}

static json_t *cand_json(const struct rd_route_cand *c, const struct rd_route_record *rec,
                         const struct rd_rules *rules, bool *oom)
{
        const struct rd_connector *cn = &rules->connectors[c->connector];
        json_t *o = json_object();

        rd_jset(oom, o, "connector", json_string(cn->id));
        rd_jset(oom, o, "team", json_string(rules->teams[cn->team].id));
        if (rec->has_overflow)
                rd_jset(oom, o, "rank", json_string(rank_name(c->overflow)));
        if (c->why == RD_WHY_CHOSEN)
                rd_jset(oom, o, "chosen", json_true());
        else
                rd_jset(oom, o, "passed_over", json_string(rd_route_why_name(c->why)));
        rd_jset(oom, o, "load", json_integer(c->load));
        rd_jset(oom, o, "capacity", json_integer(c->capacity));
        return o;
}

static json_t *cands_json(const struct rd_route_record *rec, const struct rd_rules *rules,
                          bool *oom)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < rec->n_cands; i++)
                rd_jpush(oom, a, cand_json(&rec->cands[i], rec, rules, oom));
        return a;
}

static json_t *rank_forecast_json(const struct rd_route_rank_forecast *r, bool *oom)
{
        json_t *o = json_object();

        rd_jset(oom, o, "candidates", json_integer((json_int_t)r->candidates));
        rd_jset(oom, o, "slots", json_integer((json_int_t)r->slots));
        rd_jset(oom, o, "waiting_ahead", json_integer((json_int_t)r->waiting_ahead));
        return o;
}

static json_t *forecast_json(const struct rd_route_forecast *fc, bool has_overflow, bool *oom)
{
        json_t *f = json_object();

        rd_jset(oom, f, "candidates", json_integer((json_int_t)fc->candidates));
        rd_jset(oom, f, "slots", json_integer((json_int_t)fc->slots));
        rd_jset(oom, f, "waiting_ahead", json_integer((json_int_t)fc->waiting_ahead));
        rd_jset(oom, f, "expected_start",
                fc->found ? json_integer(fc->expected_start) : json_null());
        rd_jset(oom, f, "start_by", json_integer(fc->start_by));
        rd_jset(oom, f, "within_window", json_boolean(fc->within_window));
        if (!has_overflow)
                return f;
        rd_jset(oom, f, "first", rank_forecast_json(&fc->first, oom));
        rd_jset(oom, f, "overflow", rank_forecast_json(&fc->overflow, oom));
        if (fc->found)
                rd_jset(oom, f, "expected_rank", json_string(rank_name(fc->expected_overflow)));
        return f;
}

/* The assign rule's part: pick, candidates, forecast, otherwise. */
static void assign_json(json_t *tr, const struct rd_route_record *rec, const struct rd_rules *rules,
                        bool *oom)
{
        const struct rd_decision *d = &rec->decision;

        rd_jset(oom, tr, "pick",
                json_string(rec->pick == RD_PICK_ROUND_ROBIN ? "round_robin" : "least_loaded"));
        rd_jset(oom, tr, "candidates", cands_json(rec, rules, oom));
        if (rec->has_forecast)
                rd_jset(oom, tr, "forecast", forecast_json(&rec->forecast, rec->has_overflow, oom));
        if (rec->used_otherwise)
                rd_jset(oom, tr, "otherwise",
                        json_string(d->status == RD_STATUS_FORWARDED ? "forward" : "waitlist"));
}

bool rd_route_chosen_overflow(const struct rd_route_record *rec)
{
        for (size_t i = 0; i < rec->n_cands; i++)
                if (rec->cands[i].why == RD_WHY_CHOSEN)
                        return rec->cands[i].overflow;
        return false;
}

json_t *rd_route_trace_json(const struct rd_route_record *rec, const struct rd_rules *rules)
{
        const struct rd_decision *d = &rec->decision;
        json_t *tr = json_object();
        bool oom = false;

        rd_jset(&oom, tr, "rules_tried", tried_json(rec, rules, &oom));
        if (rec->redecided)
                rd_jset(&oom, tr, "redecided_by_rule", json_true());
        rd_jset(&oom, tr, "rule", json_string(rules->rules[d->rule].name));
        rd_jset(&oom, tr, "action",
                json_string(rec->action == RD_ACTION_FORWARD ? "forward" : "assign"));
        if (rec->action == RD_ACTION_ASSIGN)
                assign_json(tr, rec, rules, &oom);
        if (d->status == RD_STATUS_FORWARDED)
                rd_jset(&oom, tr, "forward_to", json_string(rules->targets[d->forward_to].id));
        if (d->status == RD_STATUS_ASSIGNED) {
                rd_jset(&oom, tr, "connector", json_string(rules->connectors[d->connector].id));
                rd_jset(&oom, tr, "team", json_string(rules->teams[d->team].id));
                if (rec->has_overflow)
                        rd_jset(&oom, tr, "rank",
                                json_string(rank_name(rd_route_chosen_overflow(rec))));
        }
        rd_jset(&oom, tr, "decision", json_string(rd_status_name(d->status)));
        if (oom) {
                json_decref(tr);
                return NULL;
        }
        return tr;
}
