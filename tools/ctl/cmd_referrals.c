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
        json_t *referral, *req, *reply;
        json_error_t jerr;
        const char *file;
        int r;

        if (!only_common_options(c, argc, argv, 1, "needs exactly one FILE.json (or '-' for stdin)",
                                 &r))
                return r;
        file = argv[optind];
        if (!strcmp(file, "-"))
                referral = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
        else
                referral = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
        if (!referral) {
                if (jerr.line > 0)
                        fault("%s:%d:%d: %s", file, jerr.line, jerr.column, jerr.text);
                else
                        fault("%s: %s", file, jerr.text);
                return EXIT_FAULT;
        }
        if (!json_is_object(referral)) {
                fault("%s: the referral must be a JSON object", file);
                json_decref(referral);
                return EXIT_FAULT;
        }
        req = json_pack("{s:s, s:o}", "op", "submit", "referral", referral);
        r = call(c, req, &reply);
        if (r)
                return r;
        if (c->json) {
                print_json_line(reply);
        } else {
                print_decision(reply);
                if (json_is_true(json_object_get(reply, "duplicate")))
                        printf(" (duplicate: already submitted, nothing changed)");
                putchar('\n');
        }
        json_decref(reply);
        return EXIT_OK;
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
                        char *s;

                        if (json_is_string(v)) {
                                printf("  %-10s %s\n", key, json_string_value(v));
                                continue;
                        }
                        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
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
}

/* `get` of the referral that ARGV names: ID, or --partner P and --ref R
 * (get, explain). The reply in *REPLY (the caller's), or NULL and the exit
 * status to end with (after --help, or an error, printed). */
static int get_referral(struct ctl *c, int argc, char **argv, json_t **reply)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"partner", required_argument, NULL, OPT_PARTNER},
                                             {"ref", required_argument, NULL, OPT_REF},
                                             {0}};
        const char *partner = NULL, *ref = NULL;
        json_t *req;
        int opt, r;

        *reply = NULL;
        getopt_reset();
        while ((opt = command_option(c, argc, argv, GLOBAL_SHORT, opts, &r)) >= 0) {
                if (opt == OPT_PARTNER)
                        partner = optarg;
                else if (opt == OPT_REF)
                        ref = optarg;
        }
        if (opt == -2)
                return r;
        if (argc - optind == 1 && !partner && !ref) {
                req = json_pack("{s:s, s:s}", "op", "get", "id", argv[optind]);
        } else if (argc - optind == 0 && partner && ref) {
                req = json_pack("{s:s, s:s, s:s}", "op", "get", "partner", partner, "ref", ref);
        } else {
                usage_error(argv[0], "needs either ID, or --partner P and --ref R");
                return EXIT_USAGE;
        }
        return call(c, req, reply);
}

int cmd_get(struct ctl *c, int argc, char **argv)
{
        json_t *reply;
        int r = get_referral(c, argc, argv, &reply);

        if (!reply)
                return r;
        if (c->json)
                print_json_line(reply);
        else
                print_referral_details(reply);
        json_decref(reply);
        return EXIT_OK;
}

int cmd_list(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"status", required_argument, NULL, OPT_STATUS},
                                             {"since", required_argument, NULL, OPT_SINCE},
                                             {"limit", required_argument, NULL, OPT_LIMIT},
                                             {0}};
        const char *status = NULL;
        long long since = -1, limit = -1;
        json_t *req, *reply, *rows, *row;
        json_int_t last;
        size_t i;
        int opt, r;

        getopt_reset();
        while ((opt = command_option(c, argc, argv, GLOBAL_SHORT, opts, &r)) >= 0) {
                if (opt == OPT_STATUS) {
                        status = optarg;
                } else if (opt == OPT_SINCE && !parse_count(optarg, INT64_MAX, &since)) {
                        usage_error(argv[0], "--since needs a seq (0 or more), not '%s'", optarg);
                        return EXIT_USAGE;
                } else if (opt == OPT_LIMIT && !parse_count(optarg, INT64_MAX, &limit)) {
                        usage_error(argv[0], "--limit needs a number, not '%s'", optarg);
                        return EXIT_USAGE;
                }
        }
        if (opt == -2)
                return r;
        if (!no_arguments_left(argc, argv))
                return EXIT_USAGE;
        req = json_pack("{s:s}", "op", "list");
        if (status)
                json_object_set_new(req, "status", json_string(status));
        if (since >= 0)
                json_object_set_new(req, "since", json_integer(since));
        if (limit >= 0)
                json_object_set_new(req, "limit", json_integer(limit));
        r = call(c, req, &reply);
        if (r)
                return r;
        if (c->json) {
                print_json_line(reply);
                json_decref(reply);
                return EXIT_OK;
        }
        rows = json_object_get(reply, "referrals");
        printf("%-10s %-10s %-32s %-14s %-10s %-24s %s\n", "ID", "STATUS", "PARTNER/REF", "TEAM",
               "CONNECTOR", "START_BY", "SEQ");
        json_array_foreach(rows, i, row)
        {
                char pref[256];
                const char *team = jstr(row, "team"), *conn = jstr(row, "connector");
                const char *sb = jstr(row, "start_by"), *id = jstr(row, "id");
                const char *st = jstr(row, "status");
                json_int_t seq = 0;

                jint(row, "seq", &seq);
                snprintf(pref, sizeof pref, "%s/%s",
                         jstr(row, "partner") ? jstr(row, "partner") : "?",
                         jstr(row, "ref") ? jstr(row, "ref") : "?");
                printf("%-10s %-10s %-32s %-14s %-10s %-24s %" JSON_INTEGER_FORMAT "\n",
                       id ? id : "?", st ? st : "?", pref, team ? team : "-", conn ? conn : "-",
                       sb ? sb : "-", seq);
        }
        /* A full page: there may be more. */
        if (jint(reply, "last", &last) && json_array_size(rows) > 0 &&
            json_array_size(rows) >= (size_t)(limit >= 0 ? limit : RD_LIST_LIMIT_DEFAULT))
                printf("(more may follow: %s list --since %" JSON_INTEGER_FORMAT ")\n", PROG, last);
        json_decref(reply);
        return EXIT_OK;
}

int cmd_update(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {
                GLOBAL_LONG,
                {"connector", required_argument, NULL, OPT_CONNECTOR},
                {"reason", required_argument, NULL, OPT_REASON},
                {"forward-to", required_argument, NULL, OPT_FORWARD_TO},
                {"expected-end", required_argument, NULL, OPT_EXPECTED_END},
                {0}};
        const char *connector = NULL, *reason = NULL, *forward_to = NULL, *expected_end = NULL;
        json_t *req, *reply;
        int64_t ms;
        int opt, r;

        getopt_reset();
        while ((opt = command_option(c, argc, argv, GLOBAL_SHORT, opts, &r)) >= 0) {
                switch (opt) {
                case OPT_CONNECTOR: connector = optarg; break;
                case OPT_REASON: reason = optarg; break;
                case OPT_FORWARD_TO: forward_to = optarg; break;
                case OPT_EXPECTED_END: expected_end = optarg; break;
                default: break;
                }
        }
        if (opt == -2)
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
        if (forward_to)
                json_object_set_new(req, "forward_to", json_string(forward_to));
        if (expected_end)
                json_object_set_new(req, "expected_end", json_string(expected_end));
        r = call(c, req, &reply);
        if (r)
                return r;
        if (c->json) {
                print_json_line(reply);
        } else {
                print_decision(reply);
                putchar('\n');
        }
        json_decref(reply);
        return EXIT_OK;
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
        json_t *reply;
        size_t i;
        int r = get_referral(c, argc, argv, &reply);

        if (!reply)
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
