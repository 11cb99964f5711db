/* decide.c: see decide.h. */
#include "decide.h"

#include "print.h"
#include "rules_diff.h"
#include "state.h"
#include "timefmt.h"

#include <errno.h>
#include <string.h>

void test_state_free(struct test_state *ts)
{
        rd_hub_free(ts->hub); /* and the rules */
        rd_store_close(ts->store);
        rd_preview_clear(&ts->preview);
        rd_routing_current_clear(&ts->in_force);
        json_decref(ts->changes);
        memset(ts, 0, sizeof *ts);
}

/* The routing file in force in TS's copy into TS->in_force, and what
 * RULES change from it into TS->changes. -ENOENT when none was recorded:
 * both stay empty. 0, or an exit code (printed). */
static int read_in_force(struct test_state *ts, const char *path, const struct rd_rules *rules)
{
        struct rd_diag diag = {0};
        int r = rd_routing_in_force(ts->store, &ts->in_force, &diag);

        print_diag(&diag);
        rd_diag_clear(&diag);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                fault("%s: cannot read the routing file in force: %s", path, strerror(-r));
                return EXIT_FAULT;
        }
        ts->changes = rd_rules_diff(ts->in_force.rules, rules);
        if (!ts->changes) {
                fault("out of memory");
                return EXIT_FAULT;
        }
        return 0;
}

/* The hub over TS's copy, with the file in force there (else RULES, taken
 * over: then *RULES is NULL). 0 or an exit code (printed). */
static int make_hub(struct test_state *ts, const char *path, struct rd_rules **rules)
{
        struct rd_rules *first = ts->in_force.rules ? ts->in_force.rules : *rules;
        int r;

        if (first == *rules)
                *rules = NULL;
        ts->in_force.rules = NULL;
        r = rd_hub_new(ts->store, first, &ts->hub); /* takes FIRST */
        if (r < 0) {
                fault("%s: cannot read the loads: %s (%s)", path, strerror(-r),
                      rd_store_errmsg(ts->store));
                return EXIT_FAULT;
        }
        return 0;
}

int test_state_load_db(struct test_state *ts, const char *path, struct rd_rules *rules, int64_t at)
{
        int r;

        memset(ts, 0, sizeof *ts);
        r = state_open(path, &ts->store);
        if (r) {
                rd_rules_free(rules);
                return r;
        }
        path = state_name(path); /* a conninfo is never printed */
        r = read_in_force(ts, path, rules);
        if (r == 0)
                r = make_hub(ts, path, &rules);
        if (r == 0) {
                r = rd_preview_reload(ts->hub, ts->store, rules, rules != NULL, at, &ts->preview);
                rules = NULL; /* taken */
                if (r < 0)
                        fault("%s: the reload failed on the copy: %s (%s)", path, strerror(-r),
                              rd_store_errmsg(ts->store));
                r = r < 0 ? EXIT_FAULT : 0;
        }
        if (r == 0 && (r = rd_hub_route_state(ts->hub, &ts->st)) < 0) {
                fault("%s: cannot read the waitlist: %s (%s)", path, strerror(-r),
                      rd_store_errmsg(ts->store));
                r = EXIT_FAULT;
        }
        if (r) {
                rd_rules_free(rules);
                test_state_free(ts);
        }
        return r;
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
