/* cmd_daemon.c: what the daemon says of itself: `stats` (counts per
 * status, loads per connector, the window kept), `ping`, and `audit` (who
 * read personal data or changed what). */
#include "commands.h"
#include "conn.h"
#include "openmetrics.h"
#include "options.h"
#include "print.h"

#include "bounds.h"

#include <stdio.h>

/* A duration of S seconds as "3d 4h", "4h 12m", "12m 5s" or "5s". */
static void duration_text(json_int_t s, char *buf, size_t size)
{
        static const struct {
                json_int_t s;
                const char *unit;
        } units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
        size_t i = 0, len = 0;
        int parts = 0;

        buf[0] = '\0';
        while (i < 3 && s < units[i].s)
                i++;
        for (; i < 4 && parts < 2; i++, parts++) {
                int n = snprintf(buf + len, size - len, "%s%" JSON_INTEGER_FORMAT "%s",
                                 parts ? " " : "", s / units[i].s, units[i].unit);
                if (n < 0 || (size_t)n >= size - len)
                        return;
                len += (size_t)n;
                s %= units[i].s;
                if (!s)
                        break;
        }
}

static void print_by_status(const json_t *by_status)
{
        const json_t *v;
        const char *key;
        int n = 0;

        printf("by status:");
        json_object_foreach((json_t *)by_status, key, v)
        {
                printf("%s %s %" JSON_INTEGER_FORMAT, n++ ? "," : "", key, json_integer_value(v));
        }
        printf("%s\n", n ? "" : " (no referrals)");
}

static void print_window(const json_t *window)
{
        json_int_t started = 0, in_time = 0, missed = 0;

        if (!jint(window, "started", &started) || !jint(window, "in_time", &in_time))
                return;
        printf("window: %" JSON_INTEGER_FORMAT " started, %" JSON_INTEGER_FORMAT " in time",
               started, in_time);
        if (started > 0)
                printf(" (%.1f%%)", 100.0 * (double)in_time / (double)started);
        if (jint(window, "missed", &missed))
                printf(", %" JSON_INTEGER_FORMAT " missed (referral.window_missed)", missed);
        putchar('\n');
}

/* "time to offer: median 2h 5m, 90% within 1d 3h (35 referrals)" */
static void print_times(const char *what, const json_t *d)
{
        json_int_t count = 0, p50, p90;
        char a[32], b[32];

        if (!json_is_object(d))
                return;
        jint(d, "count", &count);
        printf("time to %s:", what);
        if (count > 0 && jint(d, "p50_s", &p50) && jint(d, "p90_s", &p90)) {
                duration_text(p50, a, sizeof a);
                duration_text(p90, b, sizeof b);
                printf(" median %s, 90%% within %s", a, b);
        }
        printf(" (%" JSON_INTEGER_FORMAT " referral%s)\n", count, count == 1 ? "" : "s");
}

static void print_forwarded(const json_t *fw)
{
        const json_t *to, *share = json_object_get(fw, "share");
        json_int_t count = 0, n;
        size_t i;

        if (!json_is_object(fw))
                return;
        jint(fw, "count", &count);
        printf("forwarded: %" JSON_INTEGER_FORMAT, count);
        if (json_is_number(share))
                printf(" (%.1f%% of all)", 100.0 * json_number_value(share));
        json_array_foreach(json_object_get(fw, "to"), i, to)
        {
                n = 0;
                jint(to, "count", &n);
                printf("%s %s %" JSON_INTEGER_FORMAT, i ? "," : ", to",
                       jstr(to, "to") ? jstr(to, "to") : "?", n);
        }
        putchar('\n');
}

static void print_waitlist(const json_t *w)
{
        json_int_t length = 0, attention = 0;
        const char *oldest = jstr(w, "oldest");

        if (!json_is_object(w))
                return;
        jint(w, "length", &length);
        printf("waitlist: %" JSON_INTEGER_FORMAT " waiting", length);
        if (oldest)
                printf(", the oldest received %s", oldest);
        if (jint(w, "attention", &attention))
                printf(", %" JSON_INTEGER_FORMAT " with no connector who can take them%s",
                       attention, attention ? " (" PROG " list --attention)" : "");
        putchar('\n');
}

/* "reasons: declined no_capacity 3, none 1; withdrawn moved 1; closed -": the
 * codes given, the zeros left out */
static void print_reason_codes(const json_t *codes)
{
        json_t *by, *v;
        const char *change, *code;
        int n = 0;

        if (!json_is_object(codes))
                return;
        printf("reasons:");
        json_object_foreach((json_t *)codes, change, by)
        {
                int k = 0;
                printf("%s %s", n++ ? ";" : "", change);
                json_object_foreach(by, code, v)
                {
                        if (json_integer_value(v) != 0)
                                printf("%s %s %" JSON_INTEGER_FORMAT, k++ ? "," : "", code,
                                       json_integer_value(v));
                }
                if (!k)
                        printf(" -");
        }
        putchar('\n');
}

static void print_teams(const json_t *teams)
{
        const json_t *team, *conn;
        size_t i, j;

        json_array_foreach(teams, i, team)
        {
                json_int_t load = 0, cap = 0;

                jint(team, "load", &load);
                jint(team, "capacity", &cap);
                printf("team %s (load %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT ")\n",
                       jstr(team, "id") ? jstr(team, "id") : "?", load, cap);
                json_array_foreach(json_object_get(team, "connectors"), j, conn)
                {
                        load = cap = 0;
                        jint(conn, "load", &load);
                        jint(conn, "capacity", &cap);
                        printf("  %-16s load %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "\n",
                               jstr(conn, "id") ? jstr(conn, "id") : "?", load, cap);
                }
        }
}

/* "routing file in force: digest D, from SOURCE, since TIME" (the
 * addition to ping and stats), or from an older daemon's stats the digest
 * alone; nothing when the reply names neither. */
static void print_routing(const json_t *reply)
{
        const json_t *ro = json_object_get(reply, "routing");
        const char *digest = jstr(ro, "digest") ? jstr(ro, "digest") : jstr(reply, "rules_digest");
        const char *source = jstr(ro, "source"), *since = jstr(ro, "in_force_since");

        if (!digest)
                return;
        printf("routing file in force: digest %s", digest);
        if (source)
                printf(", from %s", source);
        if (since)
                printf(", since %s", since);
        else if (ro)
                printf(", since: not recorded in the database");
        putchar('\n');
}

/* Every figure of a `stats` reply (tools.md, "stats for a person"). */
static void print_stats(const json_t *reply)
{
        json_int_t last = 0;

        print_by_status(json_object_get(reply, "by_status"));
        print_window(json_object_get(reply, "window"));
        print_times("offer", json_object_get(reply, "time_to_offer"));
        print_times("start", json_object_get(reply, "time_to_start"));
        print_forwarded(json_object_get(reply, "forwarded"));
        print_waitlist(json_object_get(reply, "waitlist"));
        print_reason_codes(json_object_get(reply, "reason_codes"));
        print_teams(json_object_get(reply, "teams"));
        print_routing(reply);
        if (jint(reply, "last_seq", &last))
                printf("last event: seq %" JSON_INTEGER_FORMAT "\n", last);
}

/* A command without arguments that sends OP and prints the reply with
 * HUMAN (or as it came with --json). */
static int simple_command(struct ctl *c, int argc, char **argv, const char *op,
                          void (*human)(const json_t *))
{
        int r;

        if (!only_common_options(c, argc, argv, 0, NULL, &r))
                return r;
        return call_and_print(c, json_pack("{s:s}", "op", op), human);
}

enum { OPT_AUDIT_ID = 340, OPT_FOLLOW_ALL, OPT_OPENMETRICS };

int cmd_stats(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {
                GLOBAL_LONG, {"openmetrics", no_argument, NULL, OPT_OPENMETRICS}, {0}};
        bool openmetrics = false;
        const struct opt_value values[] = {{OPT_OPENMETRICS, .flag = &openmetrics}, {0}};
        json_t *reply;
        int r;

        if (!parse_options_only(c, argc, argv, GLOBAL_SHORT, opts, values, &r))
                return r;
        if (!openmetrics)
                return call_and_print(c, json_pack("{s:s}", "op", "stats"), print_stats);
        if (c->json) {
                usage_error("stats", "--openmetrics and --json cannot be given together");
                return EXIT_USAGE;
        }
        r = call(c, json_pack("{s:s}", "op", "stats"), &reply);
        if (r)
                return r;
        print_openmetrics(stdout, reply, tool_wall_ms());
        json_decref(reply);
        return EXIT_OK;
}

static void print_ping(const json_t *reply)
{
        json_int_t up = 0, last = 0;
        const char *version = jstr(reply, "version"), *role = jstr(reply, "role");

        jint(reply, "uptime_s", &up);
        jint(reply, "last_seq", &last);
        /* (rev 2) its role; an older daemon does not say */
        printf("referrald %s, up %" JSON_INTEGER_FORMAT " s, last seq %" JSON_INTEGER_FORMAT
               "%s%s\n",
               version ? version : "?", up, last, role ? ", " : "", role ? role : "");
        print_routing(reply);
}

int cmd_ping(struct ctl *c, int argc, char **argv)
{
        return simple_command(c, argc, argv, "ping", print_ping);
}

static void print_audit_row(const json_t *e)
{
        json_int_t n = 0;

        jint(e, "n", &n);
        printf("%-8" JSON_INTEGER_FORMAT " %-24s %-20s %-12s %-20s %s\n", n,
               jstr(e, "at") ? jstr(e, "at") : "-", jstr(e, "client") ? jstr(e, "client") : "-",
               jstr(e, "role") ? jstr(e, "role") : "-", jstr(e, "action") ? jstr(e, "action") : "-",
               jstr(e, "id") ? jstr(e, "id") : "-");
}

/* What `audit` asks for. */
struct audit_query {
        long long since, limit; /* limit -1: the daemon's default */
        const char *id;
        bool all; /* --follow-all: page on to the end */
};

/* The request for the entries of Q after SINCE. */
static json_t *audit_request(const struct audit_query *q, json_int_t since)
{
        json_t *req = json_pack("{s:s, s:I}", "op", "audit", "since", since);

        if (q->limit > 0)
                json_object_set_new(req, "limit", json_integer(q->limit));
        if (q->id)
                json_object_set_new(req, "id", json_string(q->id));
        return req;
}

/* Print the rows of PAGE (a header before the first), or with --json
 * gather them in ENTRIES. */
static void audit_page(const struct ctl *c, const json_t *page, json_t *entries, bool *header)
{
        const json_t *e;
        size_t i;

        if (c->json) {
                json_array_extend(entries, (json_t *)page);
                return;
        }
        if (!*header)
                printf("%-8s %-24s %-20s %-12s %-20s %s\n", "N", "AT", "CLIENT", "ROLE", "ACTION",
                       "ID");
        *header = true;
        json_array_foreach(page, i, e) print_audit_row(e);
}

/* After the last page (REPLY, of N entries, up to entry LAST): with
 * --json the reply as it came, or with --follow-all every entry in one
 * object; else a hint when the page was full. */
static void audit_end(const struct ctl *c, const struct audit_query *q, const json_t *reply,
                      json_t *entries, json_int_t last, size_t n)
{
        if (c->json && !q->all) {
                print_json_line(reply);
        } else if (c->json) {
                json_t *o = json_pack("{s:b, s:O, s:I}", "ok", 1, "entries", entries, "last", last);
                print_json_line(o);
                json_decref(o);
        } else if (!q->all && n > 0 &&
                   (json_is_true(json_object_get(reply, "more")) ||
                    n >= (size_t)(q->limit > 0 ? q->limit : RD_LIST_LIMIT_DEFAULT))) {
                printf("(more may follow: %s audit --since %" JSON_INTEGER_FORMAT
                       ", or --follow-all)\n",
                       PROG, last);
        }
}

int cmd_audit(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"since", required_argument, NULL, OPT_SINCE},
                                             {"limit", required_argument, NULL, OPT_LIMIT},
                                             {"id", required_argument, NULL, OPT_AUDIT_ID},
                                             {"follow-all", no_argument, NULL, OPT_FOLLOW_ALL},
                                             {0}};
        struct audit_query q = {.limit = -1};
        const struct opt_value values[] = {
                {OPT_SINCE, .count = &q.since,
                 .bad = "--since needs an entry number (0 or more), not '%s'"},
                {OPT_LIMIT, .count = &q.limit, .min = 1,
                 .bad = "--limit needs a number of at least 1, not '%s'"},
                {OPT_AUDIT_ID, .text = &q.id},
                {OPT_FOLLOW_ALL, .flag = &q.all},
                {0}};
        json_t *entries, *reply = NULL;
        json_int_t last;
        bool header = false;
        size_t n;
        int r;

        if (!parse_options_only(c, argc, argv, GLOBAL_SHORT, opts, values, &r))
                return r;
        entries = json_array();
        for (last = q.since;;) {
                json_int_t page_last = last;
                const json_t *page;

                r = call(c, audit_request(&q, last), &reply);
                if (r) {
                        json_decref(entries);
                        return r;
                }
                page = json_object_get(reply, "entries");
                n = json_array_size(page);
                jint(reply, "last", &page_last);
                audit_page(c, page, entries, &header);
                /* page on while pages come, by the last entry number seen */
                if (!q.all || n == 0 || page_last <= last) {
                        last = page_last > last ? page_last : last;
                        break;
                }
                last = page_last;
                json_decref(reply);
        }
        audit_end(c, &q, reply, entries, last, n);
        json_decref(reply);
        json_decref(entries);
        return EXIT_OK;
}
