/* hub_fixture.h: what the hub's tests share (test_hub*.c).
 *
 * Each test opens a store in a temporary folder, loads a small routing
 * file and makes a hub over them. Every call is wrapped the way the daemon
 * wraps it (rd_store_begin, a request savepoint for client requests,
 * rd_store_commit), and the events it emitted are read back from the
 * hub's outbox after the commit. Time is a parameter: nothing waits. */
#ifndef RD_TEST_HUB_FIXTURE_H
#define RD_TEST_HUB_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub.h"
#include "routing_files.h"

#define T0 1800000000000LL /* ms, 2027-01-15 */
#define HOUR 3600000LL
#define DAY 86400000LL

/* The inner referral object of a submit, as a partner sends it. */
#define REFERRAL(ref, kind, postcode, extra)                                                       \
        "{\"ref\": \"" ref "\", \"partner\": \"ocmw-genk\", \"kind\": \"" kind "\", "              \
        "\"postcode\": \"" postcode "\", \"children\": [{\"age\": 9}, {\"age\": 14}], "            \
        "\"language\": \"nl\", \"consent\": true, "                                                \
        "\"family\": {\"name\": \"Jan Peeters\", \"phone\": \"011 22 33 44\"}, "                   \
        "\"note\": \"private note\"" extra "}"
#define FAMILY(ref) REFERRAL(ref, "family_support", "3600", "")
#define FAMILY_HIGH(ref) REFERRAL(ref, "family_support", "3600", ", \"urgency\": \"high\"")
#define FAMILY_SAFETY(ref) REFERRAL(ref, "family_support", "3600", ", \"concerns\": [\"safety\"]")
#define CRISIS(ref) REFERRAL(ref, "family_support", "3600", ", \"urgency\": \"crisis\"")
#define PSY(ref) REFERRAL(ref, "first_line_psychology", "3600", "")
#define ELSEWHERE(ref) REFERRAL(ref, "family_support", "2000", "")

#define MAX_EVENTS 64

/* The postcodes genk serves in the fixture's routing file. */
#define GENK_POSTCODES "\"3600\", \"3660-3668\""

/* The start of the fixture's routing file: the defaults and team genk
 * (serving POSTCODES, the items of a YAML list) with kelly and sophie
 * (capacity 2 each), whose connectors' list goes on.
 * For the routing files of tests that vary it, as the next one. */
#define FIXTURE_HEAD_AND_GENK_AT(postcodes)                                                        \
        "version: 1\n"                                                                             \
        "defaults: {window: 30d, accept_within: 2d, at_risk: 7d, trajectory: 120d}\n"              \
        "teams:\n"                                                                                 \
        "  - id: genk\n"                                                                           \
        "    postcodes: [" postcodes "]\n"                                                         \
        "    connectors:\n"                                                                        \
        "      - {id: kelly, capacity: 2, skills: [family_support], languages: [nl, en]}\n"        \
        "      - {id: sophie, capacity: 2, skills: [family_support], languages: [nl, fr]}\n"
#define FIXTURE_HEAD_AND_GENK FIXTURE_HEAD_AND_GENK_AT(GENK_POSTCODES)

/* The middle of the fixture's routing file, for the routing files of tests
 * that vary it: the psychology team, the forward targets and the first two
 * rules (crisis, psychology). The family rules and the catch-all follow. */
#define FIXTURE_PSY_AND_FIRST_RULES                                                                \
        "  - id: psy-oost\n"                                                                       \
        "    connectors:\n"                                                                        \
        "      - {id: psy-1, capacity: 1, skills: [first_line_psychology]}\n"                      \
        "forward_targets:\n"                                                                       \
        "  - {id: cgg-limburg, name: \"CGG Limburg\"}\n"                                           \
        "  - {id: caw-limburg, name: \"CAW Limburg\"}\n"                                           \
        "rules:\n"                                                                                 \
        "  - name: crisis\n"                                                                       \
        "    when: {urgency: crisis}\n"                                                            \
        "    forward: {to: cgg-limburg, reason: \"acute crisis\"}\n"                               \
        "  - name: psychology\n"                                                                   \
        "    when: {kind: first_line_psychology}\n"                                                \
        "    assign: {teams: [psy-oost], accept_within: 1d}\n"                                     \
        "    otherwise: {forward: {to: cgg-limburg, reason: \"no psychologist in time\"}}\n"

struct fx {
        char dir[256];
        char path[300];
        char conninfo[1024]; /* on PostgreSQL (RD_TEST_PG_CONNINFO): its schema's; else "" */
        struct rd_store *store;
        struct rd_hub *hub;
        struct rd_event ev[MAX_EVENTS]; /* what the last call emitted */
        size_t n_ev;
};

struct ev_exp {
        enum rd_event_type type;
        const char *id; /* NULL: not a referral event */
        enum rd_status status;
        const char *connector; /* NULL: not checked */
};

#define EXPECT(f, ...)                                                                             \
        do {                                                                                       \
                const struct ev_exp e_[] = {__VA_ARGS__};                                          \
                check_events((f), e_, sizeof e_ / sizeof e_[0]);                                   \
        } while (0)
#define EXPECT_NONE(f) check_events((f), NULL, 0)

#define RECEIVED(id)                                                                               \
        {                                                                                          \
                RD_EV_RECEIVED, (id), RD_STATUS_RECEIVED, ""                                       \
        }
#define ASSIGNED(id, c)                                                                            \
        {                                                                                          \
                RD_EV_ASSIGNED, (id), RD_STATUS_ASSIGNED, (c)                                      \
        }
#define WAITLISTED(id)                                                                             \
        {                                                                                          \
                RD_EV_WAITLISTED, (id), RD_STATUS_WAITLISTED, ""                                   \
        }
#define FORWARDED(id)                                                                              \
        {                                                                                          \
                RD_EV_FORWARDED, (id), RD_STATUS_FORWARDED, ""                                     \
        }
#define DECLINED(id, c)                                                                            \
        {                                                                                          \
                RD_EV_DECLINED, (id), RD_STATUS_ASSIGNED, (c)                                      \
        }
#define EXPIRED(id, c)                                                                             \
        {                                                                                          \
                RD_EV_OFFER_EXPIRED, (id), RD_STATUS_ASSIGNED, (c)                                 \
        }
/* (rev 2) nobody can take it: a coordinator must act */
#define NEEDS_ATTENTION(id)                                                                        \
        {                                                                                          \
                RD_EV_NEEDS_ATTENTION, (id), RD_STATUS_WAITLISTED, ""                              \
        }
#define WITHDRAWN(id)                                                                              \
        {                                                                                          \
                RD_EV_WITHDRAWN, (id), RD_STATUS_WITHDRAWN, NULL                                   \
        }

/* Full genk, then three waiting: N (normal, received first), H (high),
 * S (normal, safety: 10d window, so the earliest start_by). Order: H, S, N. */
struct waiting3 {
        char r[4][RD_RID_MAX];
        char n[RD_RID_MAX], h[RD_RID_MAX], s[RD_RID_MAX];
};

struct rd_rules *load_rules(const char *extra_connector);

/* The fixture's file with genk serving GENK_POSTCODES (a YAML list's items,
 * e.g. GENK_POSTCODES), EXTRA_CONNECTOR (or NULL) in genk, and with
 * HASSELT the team hasselt (3700: lien, capacity 1) in the family rule. */
struct rd_rules *rules_with(const char *genk_postcodes, const char *extra_connector, bool hasselt);

/* A test about SQLite's own file (its bytes, its write-ahead log, SQL run
 * on it) skips itself when the tests run on PostgreSQL
 * (RD_TEST_PG_CONNINFO, tests/integration/test_pg_store.py). */
#define SQLITE_ONLY()                                                                              \
        do {                                                                                       \
                if (getenv("RD_TEST_PG_CONNINFO"))                                                 \
                        skip();                                                                    \
        } while (0)

/* Record the file of rules_with(GENK_POSTCODES, EXTRA_CONNECTOR, HASSELT)
 * in F's store as in force from NOW (rd_routing_record), as the daemon
 * does before it decides under a file. */
void record_rules(struct fx *f, const char *extra_connector, bool hasselt, int64_t now);

int setup(void **state);

int teardown(void **state);

void begin(struct fx *f);

/* Commit (R == 0) or roll back, then keep what the outbox holds. */
void end(struct fx *f, int r);

/* A client request: in a savepoint inside the batch, kept when it worked. */
void request_begin(struct fx *f);

void request_end(struct fx *f, int r);

int submit(struct fx *f, const char *json, int64_t now, struct rd_stored *out, bool *dup,
           struct rd_error *err);

/* Submit a new referral that must be accepted as new. */
struct rd_stored sub(struct fx *f, const char *json, int64_t now);

int update(struct fx *f, const struct rd_update *u, int64_t now, struct rd_stored *out,
           bool *changed, struct rd_error *err);

/* Update ID to STATUS ("declined" for a decline) as CONNECTOR (or NULL). */
int upd(struct fx *f, const char *id, const char *status, const char *connector, int64_t now,
        struct rd_stored *out, bool *changed, struct rd_error *err);

/* An update that must change the referral. */
struct rd_stored ok(struct fx *f, const char *id, const char *status, const char *connector,
                    int64_t now);

/* The stored state of two reads is the same (no change, no event). */
void assert_same_state(const struct rd_stored *a, const struct rd_stored *b);

/* An update that must be answered ok and change nothing, emitting nothing. */
void same(struct fx *f, const char *id, const char *status, const char *connector, int64_t now);

/* An update that must fail with CODE on FIELD, changing and emitting nothing.
 * Returns the message. */
const char *refused(struct fx *f, const struct rd_update *u, int64_t now, enum rd_code code,
                    const char *field);

const char *refused_upd(struct fx *f, const char *id, const char *status, const char *connector,
                        int64_t now, enum rd_code code, const char *field);

struct rd_stored forward(struct fx *f, const char *id, const char *to, int64_t now);

size_t tick(struct fx *f, int64_t now);

int64_t deadline(struct fx *f);

void reload(struct fx *f, struct rd_rules *rules, int64_t now);

struct rd_stored get(struct fx *f, const char *id);

uint32_t load(struct fx *f, const char *connector);

/* Loads of a hub made fresh over the same store equal those of F's hub. */
void assert_hub_matches_store(struct fx *f);

/* The same for a hub made fresh with FRESH_RULES (taken over), the routing
 * file F's hub has when that is not the fixture's. */
void assert_hub_matches_store_under(struct fx *f, struct rd_rules *fresh_rules);

void dump_events(const struct fx *f);

void check_events(const struct fx *f, const struct ev_exp *e, size_t n);

/* Fill kelly and sophie (two each), submitted at T0 .. T0 + 3 ms; ids in
 * R[0..3]: R[0], R[2] to kelly, R[1], R[3] to sophie. */
void fill_family(struct fx *f, char r[4][RD_RID_MAX]);

void three_waiting(struct fx *f, struct waiting3 *w);

/* Full genk, one waiting: W. */
void one_waiting(struct fx *f, char r[4][RD_RID_MAX], char w[RD_RID_MAX]);

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

#endif
