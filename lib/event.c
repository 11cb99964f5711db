#include "event.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json_write.h"
#include "macro.h"
#include "timefmt.h"

static const char *const type_names[] = {
        [RD_EV_RECEIVED] = "referral.received",
        [RD_EV_ASSIGNED] = "referral.assigned",
        [RD_EV_ACCEPTED] = "referral.accepted",
        [RD_EV_DECLINED] = "referral.declined",
        [RD_EV_OFFER_EXPIRED] = "referral.offer_expired",
        [RD_EV_STARTED] = "referral.started",
        [RD_EV_CLOSED] = "referral.closed",
        [RD_EV_WITHDRAWN] = "referral.withdrawn",
        [RD_EV_WAITLISTED] = "referral.waitlisted",
        [RD_EV_FORWARDED] = "referral.forwarded",
        [RD_EV_WINDOW_AT_RISK] = "referral.window_at_risk",
        [RD_EV_WINDOW_MISSED] = "referral.window_missed",
        [RD_EV_ERASED] = "referral.erased",
        [RD_EV_CONFIG_RELOADED] = "config.reloaded",
        [RD_EV_CONFIG_REJECTED] = "config.rejected",
        [RD_EV_NEEDS_ATTENTION] = "referral.needs_attention",
};
RD_TABLE_COVERS(type_names, RD_EV__MAX);

const char *rd_event_type_name(enum rd_event_type type)
{
        if ((unsigned)type >= RD_EV__MAX)
                return "unknown";
        return type_names[type];
}

int rd_event_type_parse(const char *s, enum rd_event_type *out)
{
        for (unsigned i = 0; i < RD_EV__MAX; i++) {
                if (strcmp(s, type_names[i]) == 0) {
                        *out = (enum rd_event_type)i;
                        return 0;
                }
        }
        return -EINVAL;
}

static const char *const declined[] = {"no_capacity",          "language",     "distance",
                                       "conflict_of_interest", "not_suitable", "other"};
static const char *const withdrawn[] = {"family_declined", "family_unreachable", "need_resolved",
                                        "moved", "other"};
static const char *const closed[] = {"goals_reached", "partly_reached", "family_stopped",
                                     "referred_on", "other"};
const struct rd_reason_codes rd_declined_codes = {declined, RD_ELEMENTSOF(declined)};
const struct rd_reason_codes rd_withdrawn_codes = {withdrawn, RD_ELEMENTSOF(withdrawn)};
const struct rd_reason_codes rd_closed_codes = {closed, RD_ELEMENTSOF(closed)};

json_t *rd_reason_codes_zeros(const struct rd_reason_codes *codes)
{
        json_t *c = json_object();

        for (size_t i = 0; c && i <= codes->n; i++) {
                if (json_object_set_new(c, i < codes->n ? codes->code[i] : "none",
                                        json_integer(0)) < 0) {
                        json_decref(c);
                        return NULL;
                }
        }
        return c;
}

static const char *const attention_names[] = {
        [RD_ATTENTION_NONE] = "",
        [RD_ATTENTION_ALL_DECLINED] = "all_declined",
        [RD_ATTENTION_NO_CANDIDATE] = "no_candidate",
};
RD_TABLE_COVERS(attention_names, RD_ATTENTION__MAX);

const char *rd_attention_name(enum rd_attention a)
{
        return (unsigned)a < RD_ATTENTION__MAX ? attention_names[a] : "";
}

int rd_attention_parse(const char *s, enum rd_attention *out)
{
        for (unsigned i = 0; i < RD_ATTENTION__MAX; i++) {
                if (strcmp(s, attention_names[i]) == 0) {
                        *out = (enum rd_attention)i;
                        return 0;
                }
        }
        return -EINVAL;
}

int rd_event_is_decision(enum rd_event_type type)
{
        return type != RD_EV_RECEIVED && type != RD_EV_WINDOW_AT_RISK &&
               type != RD_EV_WINDOW_MISSED;
}

/* EV's fields into W, in the order of protocol.md: seq, at, type, then
 * those that apply to its type and are set. */
static void write_event(const struct rd_event *ev, struct rd_jw *w)
{
        char at[RD_TIME_STR];

        rd_jw_open(w);
        rd_jw_member_int(w, "seq", ev->seq);
        rd_jw_str(w, "at", rd_time_format(ev->at_ms, at));
        rd_jw_str(w, "type", rd_event_type_name(ev->type));
        if (ev->type == RD_EV_CONFIG_RELOADED) {
                rd_jw_str_set(w, "digest", ev->digest);
                rd_jw_member_int(w, "rules", ev->rules);
        } else if (ev->type == RD_EV_CONFIG_REJECTED) {
                rd_jw_str_set(w, "error", ev->error);
                rd_jw_member_int(w, "errors", ev->errors);
        } else {
                rd_jw_str_set(w, "id", ev->id);
                rd_jw_str_set(w, "partner", ev->partner);
                rd_jw_str_set(w, "ref", ev->ref);
                rd_jw_str(w, "status", rd_status_name(ev->status));
                rd_jw_str_set(w, "rule", ev->rule);
                rd_jw_str_set(w, "team", ev->team);
                rd_jw_str_set(w, "connector", ev->connector);
                rd_jw_time_set(w, "start_by", ev->start_by_ms);
                rd_jw_time_set(w, "expected_start", ev->expected_start_ms);
                rd_jw_str_set(w, "forward_to", ev->forward_to);
                rd_jw_str_set(w, "reason", ev->reason);
                rd_jw_str_set(w, "reason_code", ev->reason_code);
                rd_jw_str_set(w, "attention", rd_attention_name(ev->attention));
        }
        rd_jw_close(w);
}

int rd_event_write(const struct rd_event *ev, struct rd_jw *w)
{
        rd_jw_reset(w);
        write_event(ev, w);
        return rd_jw_text(w, NULL) ? 0 : -ENOMEM;
}

char *rd_event_text(const struct rd_event *ev)
{
        struct rd_jw w;
        char *text;

        if (rd_jw_init(&w) < 0)
                return NULL;
        write_event(ev, &w);
        text = rd_jw_take(&w, NULL);
        rd_jw_free(&w);
        return text;
}

static void get_str(const json_t *obj, const char *key, char *dst, size_t size)
{
        const char *v = json_string_value(json_object_get(obj, key));
        snprintf(dst, size, "%s", v ? v : "");
}

static int64_t get_time(const json_t *obj, const char *key)
{
        const char *v = json_string_value(json_object_get(obj, key));
        int64_t ms = 0;
        if (v && rd_time_parse(v, &ms) < 0)
                return 0;
        return ms;
}

int rd_event_from_json(const json_t *obj, struct rd_event *out)
{
        struct rd_event ev;
        const char *type = json_string_value(json_object_get(obj, "type"));
        const char *status = json_string_value(json_object_get(obj, "status"));
        const char *attention;

        memset(&ev, 0, sizeof ev);
        if (!json_is_object(obj) || !type || rd_event_type_parse(type, &ev.type) < 0)
                return -EINVAL;
        if (!json_is_integer(json_object_get(obj, "seq")))
                return -EINVAL;
        ev.seq = json_integer_value(json_object_get(obj, "seq"));
        ev.at_ms = get_time(obj, "at");
        if (status && rd_status_parse(status, &ev.status) < 0)
                return -EINVAL;
        get_str(obj, "id", ev.id, sizeof ev.id);
        get_str(obj, "partner", ev.partner, sizeof ev.partner);
        get_str(obj, "ref", ev.ref, sizeof ev.ref);
        get_str(obj, "rule", ev.rule, sizeof ev.rule);
        get_str(obj, "team", ev.team, sizeof ev.team);
        get_str(obj, "connector", ev.connector, sizeof ev.connector);
        ev.start_by_ms = get_time(obj, "start_by");
        ev.expected_start_ms = get_time(obj, "expected_start");
        get_str(obj, "forward_to", ev.forward_to, sizeof ev.forward_to);
        get_str(obj, "reason", ev.reason, sizeof ev.reason);
        get_str(obj, "reason_code", ev.reason_code, sizeof ev.reason_code);
        attention = json_string_value(json_object_get(obj, "attention"));
        if (attention && rd_attention_parse(attention, &ev.attention) < 0)
                return -EINVAL;
        get_str(obj, "digest", ev.digest, sizeof ev.digest);
        get_str(obj, "error", ev.error, sizeof ev.error);
        ev.rules = json_integer_value(json_object_get(obj, "rules"));
        ev.errors = json_integer_value(json_object_get(obj, "errors"));
        *out = ev;
        return 0;
}
