/* cmd_referrals.c: the commands on referrals: submit, get, list, update,
 * erase, explain. Each sends one request (conn.h) and prints the reply:
 * as it came with --json, else in words (print.h). */
#include "commands.h"
#include "conn.h"
#include "options.h"
#include "print.h"
#include "timefmt.h"
#include "words.h"

#include "bounds.h"

#include <stdio.h>
#include <string.h>

int cmd_submit(struct ctl *c, int argc, char **argv)
{
        json_t *referral, *req;
        int r;

        if (!only_common_options(c, argc, argv, 1, "needs exactly one FILE.json (or '-' for stdin)",
                                 &r))
                return r;
        referral = read_json_object(argv[optind], true, "the referral must be a JSON object");
        if (!referral)
                return EXIT_FAULT;
        req = json_pack("{s:s, s:o}", "op", "submit", "referral", referral);
        return call_and_print(c, req, print_decision_line);
}

static void print_referral_details(const json_t *reply)
{
        const json_t *ref = json_object_get(reply, "referral");
        const json_t *history = json_object_get(reply, "history");
        const json_t *v;
        const char *key;
        size_t i;

        print_decision(reply);
        putchar('\n');
        if (json_is_object(ref)) {
                json_object_foreach((json_t *)ref, key, v)
                {
                        char *s = value_text(v);

                        printf("  %-10s %s\n", key, s ? s : "?");
                        free(s);
                }
        }
        if (json_is_array(history) && json_array_size(history) > 0) {
                printf("history:\n");
                json_array_foreach(history, i, v)
                {
                        printf("  ");
                        print_event(v);
                }
        }
        print_reasons(json_object_get(reply, "reasons"));
}

/* The `get` request for the referral that ARGV names: ID, or --partner P
 * and --ref R (get, explain). NULL with the exit status in *STATUS (after
 * --help, or a usage error, printed). */
static json_t *get_request(struct ctl *c, int argc, char **argv, int *status)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"partner", required_argument, NULL, OPT_PARTNER},
                                             {"ref", required_argument, NULL, OPT_REF},
                                             {0}};
        const char *partner = NULL, *ref = NULL;
        const struct opt_value values[] = {
                {OPT_PARTNER, .text = &partner}, {OPT_REF, .text = &ref}, {0}};

        if (!parse_options(c, argc, argv, GLOBAL_SHORT, opts, values, status))
                return NULL;
        if (argc - optind == 1 && !partner && !ref)
                return json_pack("{s:s, s:s}", "op", "get", "id", argv[optind]);
        if (argc - optind == 0 && partner && ref)
                return json_pack("{s:s, s:s, s:s}", "op", "get", "partner", partner, "ref", ref);
        usage_error(argv[0], "needs either ID, or --partner P and --ref R");
        *status = EXIT_USAGE;
        return NULL;
}

int cmd_get(struct ctl *c, int argc, char **argv)
{
        int r;
        json_t *req = get_request(c, argc, argv, &r);

        return req ? call_and_print(c, req, print_referral_details) : r;
}

/* The referrals of a `list` reply as a table; a hint when the page (of
 * LIMIT rows, -1: the daemon's default) was full. */
static void print_list(const json_t *reply, long long limit)
{
        const json_t *rows, *row;
        json_int_t last_seq = 0;
        size_t i;

        rows = json_object_get(reply, "referrals");
        printf("%-10s %-10s %-32s %-14s %-10s %-24s %-8s %s\n", "ID", "STATUS", "PARTNER/REF",
               "TEAM", "CONNECTOR", "START_BY", "SEQ", "ATTENTION");
        json_array_foreach(rows, i, row)
        {
                char pref[256];
                const char *team = jstr(row, "team"), *conn = jstr(row, "connector");
                const char *sb = jstr(row, "start_by"), *id = jstr(row, "id");
                const char *st = jstr(row, "status"), *att = jstr(row, "attention");
                json_int_t seq = 0;

                jint(row, "seq", &seq);
                snprintf(pref, sizeof pref, "%s/%s",
                         jstr(row, "partner") ? jstr(row, "partner") : "?",
                         jstr(row, "ref") ? jstr(row, "ref") : "?");
                printf("%-10s %-10s %-32s %-14s %-10s %-24s %-8" JSON_INTEGER_FORMAT " %s\n",
                       id ? id : "?", st ? st : "?", pref, team ? team : "-", conn ? conn : "-",
                       sb ? sb : "-", seq, att ? att : "-");
                last_seq = seq;
        }
        /* A page cut by size (more) or full: there may be more, after the
         * seq of the last row (the reply's `last` is the daemon's newest
         * seq, past referrals not yet listed). */
        if (json_array_size(rows) > 0 &&
            (json_is_true(json_object_get(reply, "more")) ||
             json_array_size(rows) >= (size_t)(limit >= 0 ? limit : RD_LIST_LIMIT_DEFAULT)))
                printf("(more may follow: %s list --since %" JSON_INTEGER_FORMAT
                       " with the same filters)\n",
                       PROG, last_seq);
}

enum { OPT_TEAM = 320, OPT_ATTENTION, OPT_REASON_CODE };

/* The `status` of a list request: one status as it is, several as a list. */
static json_t *statuses_json(const struct opt_list *l)
{
        json_t *arr;

        if (l->n == 1)
                return json_string(l->v[0]);
        arr = json_array();
        for (size_t i = 0; i < l->n; i++)
                json_array_append_new(arr, json_string(l->v[i]));
        return arr;
}

int cmd_list(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"status", required_argument, NULL, OPT_STATUS},
                                             {"team", required_argument, NULL, OPT_TEAM},
                                             {"connector", required_argument, NULL, OPT_CONNECTOR},
                                             {"attention", no_argument, NULL, OPT_ATTENTION},
                                             {"since", required_argument, NULL, OPT_SINCE},
                                             {"limit", required_argument, NULL, OPT_LIMIT},
                                             {0}};
        struct opt_list status = {0};
        const char *team = NULL, *connector = NULL;
        bool attention = false;
        long long since = -1, limit = -1;
        const struct opt_value values[] = {
                {OPT_STATUS, .list = &status},
                {OPT_TEAM, .text = &team},
                {OPT_CONNECTOR, .text = &connector},
                {OPT_ATTENTION, .flag = &attention},
                {OPT_SINCE, .count = &since, .bad = "--since needs a seq (0 or more), not '%s'"},
                {OPT_LIMIT, .count = &limit, .bad = "--limit needs a number, not '%s'"},
                {0}};
        json_t *req, *reply;
        int r;

        if (!parse_options_only(c, argc, argv, GLOBAL_SHORT, opts, values, &r))
                return r;
        req = json_pack("{s:s}", "op", "list");
        if (status.n)
                json_object_set_new(req, "status", statuses_json(&status));
        if (team)
                json_object_set_new(req, "team", json_string(team));
        if (connector)
                json_object_set_new(req, "connector", json_string(connector));
        if (attention)
                json_object_set_new(req, "attention", json_true());
        if (since >= 0)
                json_object_set_new(req, "since", json_integer(since));
        if (limit >= 0)
                json_object_set_new(req, "limit", json_integer(limit));
        r = call(c, req, &reply);
        if (r)
                return r;
        if (c->json)
                print_json_line(reply);
        else
                print_list(reply, limit);
        json_decref(reply);
        return EXIT_OK;
}

int cmd_update(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {
                GLOBAL_LONG,
                {"connector", required_argument, NULL, OPT_CONNECTOR},
                {"reason", required_argument, NULL, OPT_REASON},
                {"reason-code", required_argument, NULL, OPT_REASON_CODE},
                {"forward-to", required_argument, NULL, OPT_FORWARD_TO},
                {"expected-end", required_argument, NULL, OPT_EXPECTED_END},
                {0}};
        const char *connector = NULL, *reason = NULL, *forward_to = NULL, *expected_end = NULL;
        const char *reason_code = NULL;
        const struct opt_value values[] = {
                {OPT_CONNECTOR, .text = &connector},       {OPT_REASON, .text = &reason},
                {OPT_REASON_CODE, .text = &reason_code},   {OPT_FORWARD_TO, .text = &forward_to},
                {OPT_EXPECTED_END, .text = &expected_end}, {0}};
        json_t *req;
        int64_t ms;
        int r;

        if (!parse_options(c, argc, argv, GLOBAL_SHORT, opts, values, &r))
                return r;
        if (argc - optind != 2) {
                usage_error(argv[0], "needs ID and STATUS");
                return EXIT_USAGE;
        }
        if (expected_end && rd_time_parse(expected_end, &ms) != 0) {
                usage_error(argv[0],
                            "--expected-end needs an RFC 3339 time such as "
                            "2027-03-01T00:00:00Z, not '%s'",
                            expected_end);
                return EXIT_USAGE;
        }
        req = json_pack("{s:s, s:s, s:s}", "op", "update", "id", argv[optind], "status",
                        argv[optind + 1]);
        if (connector)
                json_object_set_new(req, "connector", json_string(connector));
        if (reason)
                json_object_set_new(req, "reason", json_string(reason));
        if (reason_code)
                json_object_set_new(req, "reason_code", json_string(reason_code));
        if (forward_to)
                json_object_set_new(req, "forward_to", json_string(forward_to));
        if (expected_end)
                json_object_set_new(req, "expected_end", json_string(expected_end));
        return call_and_print(c, req, print_decision_line);
}

int cmd_erase(struct ctl *c, int argc, char **argv)
{
        json_t *reply;
        const char *erased;
        int r;

        if (!only_common_options(c, argc, argv, 1, "needs exactly one ID", &r))
                return r;
        r = call(c, json_pack("{s:s, s:s}", "op", "erase", "id", argv[optind]), &reply);
        if (r)
                return r;
        if (c->json) {
                print_json_line(reply);
        } else {
                erased = jstr(reply, "erased");
                printf("%s: personal data erased%s%s (family, note, children, postcode); status "
                       "%s; the routing history stays\n",
                       jstr(reply, "id") ? jstr(reply, "id") : argv[optind], erased ? " at " : "",
                       erased ? erased : "", jstr(reply, "status") ? jstr(reply, "status") : "?");
        }
        json_decref(reply);
        return EXIT_OK;
}

int cmd_explain(struct ctl *c, int argc, char **argv)
{
        const char *digest;
        const json_t *trace, *history, *ev;
        json_t *req, *reply;
        size_t i;
        int r;

        req = get_request(c, argc, argv, &r);
        if (!req)
                return r;
        r = call(c, req, &reply);
        if (r)
                return r;
        trace = json_object_get(reply, "trace");
        digest = jstr(reply, "rules_digest");
        if (c->json) {
                json_t *o = json_object();

                json_object_set(o, "id", json_object_get(reply, "id"));
                json_object_set(o, "status", json_object_get(reply, "status"));
                json_object_set_new(o, "trace", trace ? json_deep_copy(trace) : json_null());
                json_object_set_new(o, "rules_digest", digest ? json_string(digest) : json_null());
                print_json_line(o);
                json_decref(o);
                json_decref(reply);
                return EXIT_OK;
        }
        printf("Now: ");
        print_decision(reply);
        putchar('\n');
        if (json_is_object(trace)) {
                print_trace_words(trace, reply, NULL);
                printf("Decided under the routing file with digest %s.\n", digest ? digest : "?");
        } else {
                printf("No decision trace is kept for this referral.\n");
        }
        print_reasons(json_object_get(reply, "reasons"));
        history = json_object_get(reply, "history");
        if (json_array_size(history))
                printf("History:\n");
        json_array_foreach(history, i, ev)
        {
                json_int_t seq = 0;
                const char *conn = jstr(ev, "connector");

                jint(ev, "seq", &seq);
                printf("  %" JSON_INTEGER_FORMAT " %s %s", seq,
                       jstr(ev, "at") ? jstr(ev, "at") : "-",
                       jstr(ev, "type") ? jstr(ev, "type") : "?");
                if (conn)
                        printf(" connector %s", conn);
                putchar('\n');
        }
        json_decref(reply);
        return EXIT_OK;
}
