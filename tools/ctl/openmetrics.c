/* openmetrics.c: see openmetrics.h. The format: OpenMetrics 1.0, text
 * (https://openmetrics.io): a family is introduced by its TYPE, UNIT and
 * HELP lines; a counter's sample is NAME_total; label values are quoted
 * with \\, \" and \n escaped; `# EOF` ends the exposition.
 *
 * node_exporter's textfile collector reads it with the older Prometheus
 * text parser (0.0.4), which skips `# UNIT` and `# EOF` as comments, takes
 * a counter's NAME_total as untyped, but refuses the whole file for a type
 * it does not know: so the routing file is a gauge named NAME_info of
 * value 1 (the convention of both formats for an info metric), not of the
 * type `info`. */
#include "openmetrics.h"

#include "json.h"

#include "macro.h"
#include "referral.h"
#include "timefmt.h"

#include <string.h>

#define PREFIX "referrald_"

enum om_type { OM_GAUGE, OM_COUNTER, OM__TYPES };

static const char *const type_names[] = {"gauge", "counter"};
RD_TABLE_COVERS(type_names, OM__TYPES);

/* What a sample's name adds to its family's (OpenMetrics: a counter's). */
static const char *const sample_suffixes[] = {"", "_total"};
RD_TABLE_COVERS(sample_suffixes, OM__TYPES);

/* A metric family: its name without PREFIX, type, unit (NULL: none; else
 * the name ends with it) and help text (no backslash, quote or newline). */
struct family {
        const char *name;
        enum om_type type;
        const char *unit;
        const char *help;
};

/* The families, in the order they are written. */
enum fam {
        F_REFERRALS,
        F_CAPACITY,
        F_LOAD,
        F_STARTED,
        F_IN_TIME,
        F_MISSED,
        F_WAITING,
        F_OLDEST,
        F_ATTENTION,
        F_FORWARDED,
        F_LAST_SEQ,
        F_ROUTING,
        F_ROUTING_SINCE,
        F__COUNT
};

static const struct family families[] = {
        [F_REFERRALS] = {"referrals", OM_GAUGE, NULL, "Referrals in each status now."},
        [F_CAPACITY] = {"connector_capacity", OM_GAUGE, NULL,
                        "Open referrals a connector takes, by the routing file in force."},
        [F_LOAD] = {"connector_load", OM_GAUGE, NULL,
                    "Open referrals offered to, accepted by or started by a connector."},
        [F_STARTED] = {"window_started", OM_COUNTER, NULL, "Referrals that ever started."},
        [F_IN_TIME] = {"window_in_time", OM_COUNTER, NULL,
                       "Referrals that started before their start_by."},
        [F_MISSED] = {"window_missed", OM_COUNTER, NULL,
                      "Referrals that got referral.window_missed."},
        [F_WAITING] = {"waitlist_length", OM_GAUGE, NULL, "Referrals on the waitlist."},
        [F_OLDEST] = {"waitlist_oldest_age_seconds", OM_GAUGE, "seconds",
                      "Time since the referral waiting longest was received; 0 when none "
                      "waits."},
        [F_ATTENTION] = {"waitlist_attention", OM_GAUGE, NULL,
                         "Waiting referrals that no connector can take: they wait for a "
                         "coordinator."},
        [F_FORWARDED] = {"forwarded", OM_GAUGE, NULL,
                         "Referrals now forwarded, by target (at most 32 targets)."},
        [F_LAST_SEQ] = {"last_seq", OM_GAUGE, NULL, "The newest event seq."},
        [F_ROUTING] = {"routing_info", OM_GAUGE, NULL,
                       "The routing file in force (always 1): its SHA-256 and where it was "
                       "loaded from."},
        [F_ROUTING_SINCE] = {"routing_in_force_timestamp_seconds", OM_GAUGE, "seconds",
                             "When the routing file in force was put in force (Unix time)."},
};
RD_TABLE_COVERS(families, F__COUNT);

/* The TYPE, UNIT and HELP lines of family F. */
static void family_head(FILE *out, enum fam f)
{
        const struct family *m = &families[f];

        fprintf(out, "# TYPE " PREFIX "%s %s\n", m->name, type_names[m->type]);
        if (m->unit)
                fprintf(out, "# UNIT " PREFIX "%s %s\n", m->name, m->unit);
        fprintf(out, "# HELP " PREFIX "%s %s\n", m->name, m->help);
}

/* S as an OpenMetrics label value, quotes included. */
static void label_value(FILE *out, const char *s)
{
        putc('"', out);
        for (; *s; s++) {
                if (*s == '\\' || *s == '"')
                        fprintf(out, "\\%c", *s);
                else if (*s == '\n')
                        fputs("\\n", out);
                else
                        putc(*s, out);
        }
        putc('"', out);
}

/* A sample of family F with LABELS (name, value pairs, NULL-terminated;
 * may be NULL) and VALUE, a number as text. */
static void sample(FILE *out, enum fam f, const char *const *labels, const char *value)
{
        fprintf(out, PREFIX "%s%s", families[f].name, sample_suffixes[families[f].type]);
        if (labels && labels[0]) {
                putc('{', out);
                for (size_t i = 0; labels[i]; i += 2) {
                        fprintf(out, "%s%s=", i ? "," : "", labels[i]);
                        label_value(out, labels[i + 1] ? labels[i + 1] : "");
                }
                putc('}', out);
        }
        fprintf(out, " %s\n", value);
}

/* sample() of the integer V. */
static void sample_int(FILE *out, enum fam f, const char *const *labels, json_int_t v)
{
        char buf[32];

        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, v);
        sample(out, f, labels, buf);
}

/* sample() of MS milliseconds, in seconds. */
static void sample_ms(FILE *out, enum fam f, int64_t ms)
{
        char buf[48];

        snprintf(buf, sizeof buf, "%s%lld.%03lld", ms < 0 ? "-" : "",
                 (long long)(ms < 0 ? -ms : ms) / 1000, (long long)(ms < 0 ? -ms : ms) % 1000);
        sample(out, f, NULL, buf);
}

/* Family F with the one integer KEY of O, when O has it. */
static void single(FILE *out, enum fam f, const json_t *o, const char *key)
{
        json_int_t v;

        family_head(out, f);
        if (jint(o, key, &v))
                sample_int(out, f, NULL, v);
}

/* Every status (0 for those the reply left out), then any the reply has
 * that this program does not know. */
static void referrals(FILE *out, const json_t *by_status)
{
        const char *key;
        json_t *v;
        enum rd_status s;

        family_head(out, F_REFERRALS);
        for (int i = 0; i < RD_STATUS__MAX; i++) {
                const char *name = rd_status_name((enum rd_status)i);
                json_int_t n = 0;
                if (i == RD_STATUS_RECEIVED)
                        continue;
                jint(by_status, name, &n);
                sample_int(out, F_REFERRALS, (const char *const[]){"status", name, NULL}, n);
        }
        json_object_foreach((json_t *)by_status, key, v)
        {
                if (json_is_integer(v) && rd_status_parse(key, &s) < 0)
                        sample_int(out, F_REFERRALS, (const char *const[]){"status", key, NULL},
                                   json_integer_value(v));
        }
}

/* The capacity (F_CAPACITY) or load (F_LOAD) of each connector, team by
 * team. */
static void connectors(FILE *out, enum fam f, const json_t *teams)
{
        const char *key = f == F_LOAD ? "load" : "capacity";
        const json_t *team, *conn;
        size_t i, j;
        json_int_t v;

        family_head(out, f);
        json_array_foreach(teams, i, team)
        {
                json_array_foreach(json_object_get(team, "connectors"), j, conn)
                {
                        if (jint(conn, key, &v))
                                sample_int(out, f,
                                           (const char *const[]){"team", jstr(team, "id"),
                                                                 "connector", jstr(conn, "id"),
                                                                 NULL},
                                           v);
                }
        }
}

/* The waitlist: its length, the age of its oldest entry, its attention. */
static void waitlist(FILE *out, const json_t *w, int64_t now_ms)
{
        const char *oldest = jstr(w, "oldest");
        int64_t at;

        single(out, F_WAITING, w, "length");
        family_head(out, F_OLDEST);
        if (oldest && rd_time_parse(oldest, &at) == 0)
                sample_ms(out, F_OLDEST, now_ms > at ? now_ms - at : 0);
        else if (json_is_object(w) && json_is_null(json_object_get(w, "oldest")))
                sample_ms(out, F_OLDEST, 0);
        single(out, F_ATTENTION, w, "attention");
}

static void forwarded(FILE *out, const json_t *fw)
{
        const json_t *to;
        json_int_t n;
        size_t i;

        family_head(out, F_FORWARDED);
        json_array_foreach(json_object_get(fw, "to"), i, to)
        {
                if (jint(to, "count", &n))
                        sample_int(out, F_FORWARDED,
                                   (const char *const[]){"to", jstr(to, "to"), NULL}, n);
        }
}

/* The routing file in force: an info metric, and when it came into force. */
static void routing(FILE *out, const json_t *stats)
{
        const json_t *ro = json_object_get(stats, "routing");
        const char *digest = jstr(ro, "digest") ? jstr(ro, "digest") : jstr(stats, "rules_digest");
        const char *since = jstr(ro, "in_force_since");
        int64_t at;

        family_head(out, F_ROUTING);
        if (digest)
                sample(out, F_ROUTING,
                       (const char *const[]){"digest", digest, "source",
                                             jstr(ro, "source") ? jstr(ro, "source") : "", NULL},
                       "1");
        family_head(out, F_ROUTING_SINCE);
        if (since && rd_time_parse(since, &at) == 0)
                sample_ms(out, F_ROUTING_SINCE, at);
}

void print_openmetrics(FILE *out, const json_t *stats, int64_t now_ms)
{
        const json_t *window = json_object_get(stats, "window");
        const json_t *teams = json_object_get(stats, "teams");

        referrals(out, json_object_get(stats, "by_status"));
        connectors(out, F_CAPACITY, teams);
        connectors(out, F_LOAD, teams);
        single(out, F_STARTED, window, "started");
        single(out, F_IN_TIME, window, "in_time");
        single(out, F_MISSED, window, "missed");
        waitlist(out, json_object_get(stats, "waitlist"), now_ms);
        forwarded(out, json_object_get(stats, "forwarded"));
        single(out, F_LAST_SEQ, stats, "last_seq");
        routing(out, stats);
        fputs("# EOF\n", out);
}
