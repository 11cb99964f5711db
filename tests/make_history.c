/* make_history.c: a history made as the daemon makes one
 * (history_maker.h), into a new database file, for the tests of
 * `referralctl replay --db` and the measurements of docs/performance.md:
 *
 *   make_history OUT.db ROUTING.yaml MODEL.yaml [SEED [WITHDRAW_PCT [MANUAL [ERASE [START]]]]]
 *
 * (START: the first day, an RFC 3339 time; default 2027-01-01)
 * prints what the history holds as one JSON object. Not installed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "history_maker.h"
#include "timefmt.h"

static char *slurp(const char *path)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        long n;

        if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
            !(buf = calloc(1, (size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
        }
        if (f)
                fclose(f);
        return buf;
}

static unsigned arg(int argc, char **argv, int i, unsigned dflt)
{
        return argc > i ? (unsigned)strtoul(argv[i], NULL, 10) : dflt;
}

int main(int argc, char **argv)
{
        struct hm_options o = {.expected_pct = 50, .late_ms = 8};
        struct hm_counts c;
        char errbuf[512], *routing, *model;
        json_t *out;
        int r;

        if (argc < 4) {
                fprintf(stderr, "usage: make_history OUT.db ROUTING.yaml MODEL.yaml [SEED "
                                "[WITHDRAW_PCT [MANUAL [ERASE [START]]]]]\n");
                return 64;
        }
        routing = slurp(argv[2]);
        model = slurp(argv[3]);
        if (!routing || !model) {
                fprintf(stderr, "make_history: cannot read %s\n", routing ? argv[3] : argv[2]);
                return 1;
        }
        o.path = argv[1];
        o.routing = routing;
        o.model = model;
        o.seed = arg(argc, argv, 4, 1);
        o.withdraw_pct = arg(argc, argv, 5, 5);
        o.manual = arg(argc, argv, 6, 3);
        o.erase = arg(argc, argv, 7, 0);
        if (argc > 8 && rd_time_parse(argv[8], &o.start_ms) < 0) {
                fprintf(stderr, "make_history: START is an RFC 3339 time, not %s\n", argv[8]);
                return 64;
        }
        r = hm_make(&o, &c, errbuf, sizeof errbuf);
        free(routing);
        free(model);
        if (r < 0) {
                fprintf(stderr, "make_history: %s\n", errbuf);
                return 1;
        }
        out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "received",
                        (json_int_t)c.by_type[RD_EV_RECEIVED], "declined",
                        (json_int_t)c.by_type[RD_EV_DECLINED], "offer_expired",
                        (json_int_t)c.by_type[RD_EV_OFFER_EXPIRED], "withdrawn",
                        (json_int_t)c.by_type[RD_EV_WITHDRAWN], "manual", (json_int_t)c.manual,
                        "erased", (json_int_t)c.erased, "end_ms", (json_int_t)c.end_ms);
        json_dumpf(out, stdout, JSON_COMPACT);
        printf("\n");
        json_decref(out);
        return 0;
}
