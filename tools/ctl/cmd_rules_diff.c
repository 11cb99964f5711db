/* cmd_rules_diff.c: `referralctl rules diff NEW.yaml --state DB [--at TIME]
 * [--json]` (tools.md, "What a reload would do now"): what putting NEW.yaml
 * in force would do now, worked out by the daemon's own hub on a scratch
 * copy of the database (decide.h): which waiting referrals would be
 * offered to whom, which would be left with no candidate, how the loads
 * would stand, and what differs from the routing file in force. */
#include "commands.h"
#include "decide.h"
#include "print.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- text ---------------------------------------------------------------------------- */

static void print_files(const struct test_state *ts, const struct rd_rules *rules)
{
        char since[RD_TIME_STR];

        if (ts->in_force.source)
                printf("In force:  %s (digest %.12s), since %s\n", ts->in_force.source,
                       ts->in_force.digest, rd_time_format(ts->in_force.from_ms, since));
        else
                printf("In force:  no routing file is recorded in this database: %s is tried as "
                       "the daemon would start with it\n",
                       rules->source);
        printf("New file:  %s (digest %.12s)\n", rules->source, rules->digest);
}

static void print_value(const json_t *v)
{
        char *t = value_text(v);
        printf("%s", t ? t : "?");
        free(t);
}

/* "  rule family-by-region: assign.teams: [..] -> [..]", a line each. */
static void print_changes(const json_t *changes)
{
        const json_t *it, *w;
        size_t i, k;

        if (!changes)
                return;
        printf("\nWhat differs from the file in force:%s\n",
               json_array_size(changes) ? "" : " nothing (they route alike)");
        json_array_foreach(changes, i, it)
        {
                const char *kind = jstr(it, "kind"), *id = jstr(it, "id");
                const json_t *what = json_object_get(it, "what");
                if (!what) {
                        printf("  %s %s: %s\n", kind, id, jstr(it, "change"));
                        continue;
                }
                json_array_foreach(what, k, w)
                {
                        printf("  %s %s: %s: ", kind, id, jstr(w, "key"));
                        print_value(json_object_get(w, "before"));
                        printf(" -> ");
                        print_value(json_object_get(w, "after"));
                        printf("\n");
                }
        }
}

static void print_reload(const struct rd_preview *p, int64_t at)
{
        const json_t *it;
        char t[RD_TIME_STR];
        size_t i;

        printf("\nA reload at %s would:\n", rd_time_format(at, t));
        json_array_foreach(p->served, i, it) printf("  offer %s to %s (team %s)\n", jstr(it, "id"),
                                                    jstr(it, "connector"), jstr(it, "team"));
        if (!json_array_size(p->served))
                printf("  offer no waiting referral\n");
        json_array_foreach(p->attention, i, it)
        {
                const char *before = jstr(it, "before");
                printf("  leave %s waiting with no candidate (needs_attention: %s%s%s)\n",
                       jstr(it, "id"), jstr(it, "attention"),
                       before ? "; it already waits for a coordinator: " : "",
                       before ? before : "");
        }
        json_array_foreach(p->attention_ended, i, it)
                printf("  give %s a candidate again (its attention ends)\n", jstr(it, "id"));
}

static void print_loads(const json_t *connectors)
{
        const json_t *it;
        json_int_t cap = 0, before = 0, after = 0;
        size_t i;

        printf("\nLoads (before -> after, of capacity):\n");
        json_array_foreach(connectors, i, it)
        {
                jint(it, "capacity", &cap);
                jint(it, "load_before", &before);
                jint(it, "load_after", &after);
                printf("  %-20s team %-16s %3lld -> %3lld of %lld%s\n", jstr(it, "id"),
                       jstr(it, "team"), (long long)before, (long long)after, (long long)cap,
                       json_is_true(json_object_get(it, "added"))     ? "  (added)"
                       : json_is_true(json_object_get(it, "removed")) ? "  (removed: keeps its "
                                                                        "open referrals until "
                                                                        "they end)"
                                                                      : "");
        }
}

void print_reload_summary(const struct test_state *ts)
{
        size_t n = json_array_size(ts->preview.served);

        printf("The reload first offers %zu waiting referral(s)%s\n", n,
               n ? " ('rules diff' shows which)" : "");
}

/* ---- JSON ---------------------------------------------------------------------------- */

static json_t *diff_json(const struct test_state *ts, const struct rd_rules *rules, int64_t at)
{
        char t[RD_TIME_STR], since[RD_TIME_STR];
        const struct rd_preview *p = &ts->preview;
        json_t *in_force = ts->in_force.source
                                   ? json_pack("{s:s, s:s, s:s}", "source", ts->in_force.source,
                                               "digest", ts->in_force.digest, "since",
                                               rd_time_format(ts->in_force.from_ms, since))
                                   : json_null();

        return json_pack("{s:s, s:o, s:{s:s, s:s}, s:O, s:O, s:O, s:O, s:O, s:O}", "at",
                         rd_time_format(at, t), "in_force", in_force, "new", "source",
                         rules->source, "digest", rules->digest, "changes",
                         ts->changes ? ts->changes : json_null(), "served", p->served, "attention",
                         p->attention, "attention_ended", p->attention_ended, "connectors",
                         p->connectors, "events", p->events);
}

int rules_diff(const struct ctl *c, struct rd_rules *rules, const char *state_path, int64_t at)
{
        struct test_state ts;
        const struct rd_rules *in;
        json_t *o;
        int r = test_state_load_db(&ts, state_path, rules, at); /* takes RULES */

        if (r)
                return r;
        in = rd_hub_rules(ts.hub);
        if (c->json) {
                o = diff_json(&ts, in, at);
                if (!o) {
                        fault("out of memory");
                        test_state_free(&ts);
                        return EXIT_FAULT;
                }
                print_json_line(o);
                json_decref(o);
        } else {
                print_files(&ts, in);
                print_changes(ts.changes);
                print_reload(&ts.preview, at);
                print_loads(ts.preview.connectors);
        }
        test_state_free(&ts);
        return EXIT_OK;
}
