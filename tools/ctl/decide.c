/* decide.c: see decide.h. */
#include "decide.h"

#include "print.h"
#include "timefmt.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void test_state_free(struct test_state *ts)
{
        rd_hub_free(ts->hub); /* and the rules */
        rd_store_close(ts->store);
        memset(ts, 0, sizeof *ts);
}

int test_state_load_db(struct test_state *ts, const char *path, struct rd_rules *rules)
{
        char errbuf[256];
        int r;

        memset(ts, 0, sizeof *ts);
        /* rd_store_open creates a missing file: a typo must not test
         * against an empty database. */
        if (access(path, R_OK | W_OK) != 0) {
                fault("%s: %s", path, strerror(errno));
                rd_rules_free(rules);
                return EXIT_FAULT;
        }
        r = rd_store_open(path, false, &ts->store, errbuf, sizeof errbuf);
        if (r < 0) {
                fault("%s: %s", path, errbuf[0] ? errbuf : strerror(-r));
                rd_rules_free(rules);
                return EXIT_FAULT;
        }
        r = rd_hub_new(ts->store, rules, &ts->hub); /* takes RULES */
        if (r < 0) {
                fault("%s: cannot read the loads: %s (%s)", path, strerror(-r),
                      rd_store_errmsg(ts->store));
                test_state_free(ts);
                return EXIT_FAULT;
        }
        r = rd_hub_route_state(ts->hub, &ts->st);
        if (r < 0) {
                fault("%s: cannot read the waitlist: %s (%s)", path, strerror(-r),
                      rd_store_errmsg(ts->store));
                test_state_free(ts);
                return EXIT_FAULT;
        }
        return 0;
}

static void set_time_field(json_t *o, const char *key, int64_t ms)
{
        char buf[RD_TIME_STR];

        if (ms)
                json_object_set_new(o, key, json_string(rd_time_format(ms, buf)));
}

/* The decision fields as the daemon's replies carry them, plus "trace"
 * (stolen). NULL when out of memory. */
static json_t *decision_json(const struct rd_rules *rules, const struct rd_decision *d,
                             json_t *trace)
{
        json_t *o = json_object();

        if (!o) {
                json_decref(trace);
                return NULL;
        }
        json_object_set_new(o, "status", json_string(rd_status_name(d->status)));
        json_object_set_new(o, "rule", json_string(rules->rules[d->rule].name));
        if (d->status == RD_STATUS_ASSIGNED) {
                json_object_set_new(o, "team", json_string(rules->teams[d->team].id));
                json_object_set_new(o, "connector",
                                    json_string(rules->connectors[d->connector].id));
        }
        if (d->status != RD_STATUS_FORWARDED)
                set_time_field(o, "start_by", d->start_by_ms);
        if (d->status == RD_STATUS_WAITLISTED)
                set_time_field(o, "expected_start", d->expected_start_ms);
        if (d->status == RD_STATUS_ASSIGNED)
                set_time_field(o, "offer_expires", d->offer_expires_ms);
        if (d->status == RD_STATUS_FORWARDED) {
                json_object_set_new(o, "forward_to", json_string(rules->targets[d->forward_to].id));
                json_object_set_new(o, "reason", json_string(d->reason ? d->reason : ""));
        }
        json_object_set_new(o, "trace", trace ? trace : json_null());
        return o;
}

int run_decision(const struct rd_rules *rules, const struct rd_route_state *st,
                 const struct rd_referral *r, int64_t at, json_t **out)
{
        struct rd_decision d;
        json_t *trace = NULL;
        int rc = rd_route_decide(r, rules, st, at, &d, &trace);

        if (rc < 0) {
                fault("the routing engine failed: %s", strerror(-rc));
                return EXIT_FAULT;
        }
        *out = decision_json(rules, &d, trace);
        if (!*out) {
                fault("out of memory");
                return EXIT_FAULT;
        }
        return 0;
}
