/* cases.h: the cases file of `referralctl rules test` (docs/routing.md, "A
 * cases file") loaded into a plain struct: a list of referrals, each with
 * the decision expected of it.
 *
 * Read with lib/yaml_reader, like the routing file and the daemon config:
 * the same limits, positions and messages (a repeated key is an error here
 * too). Every problem is reported as "FILE:LINE:COLUMN: message"; a file
 * with any error is handed back as nothing, so that nothing is tested. No
 * I/O besides reading the file; no clock; no logging. */
#ifndef RD_CASES_H
#define RD_CASES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "referral.h"
#include "rules.h"

/* What a case may expect of the decision: the keys of `expect`, named as
 * the decision's fields. */
enum rd_case_expect {
        RD_CASE_STATUS,
        RD_CASE_CONNECTOR,
        RD_CASE_TEAM,
        RD_CASE_RULE,
        RD_CASE_FORWARD_TO,
        RD_CASE_EXPECT__MAX
};

struct rd_case {
        char *name;
        size_t line;            /* where the case starts */
        struct rd_referral ref; /* valid (rd_referral_from_json) */
        bool has_at;
        int64_t at;      /* ms since the epoch, when has_at */
        int64_t *loads;  /* per connector of the rules: a load, or -1 when not
                            given; NULL when the case gives no loads */
        char **declined; /* connector ids passed over */
        size_t n_declined;
        char *expect[RD_CASE_EXPECT__MAX]; /* NULL: not compared; a status is always there */
};

struct rd_cases {
        struct rd_case *v;
        size_t n; /* at least 1 */
};

/* The key of E in `expect` and the field of a decision it is compared
 * with ("status", "connector", "team", "rule", "forward_to"). Static. */
const char *rd_case_expect_name(enum rd_case_expect e);

/* Load the cases file at PATH for the routing rules RULES (borrowed; the
 * connectors of `loads` are looked up in it, and LOADS is indexed like
 * its connectors). Every problem goes to DIAG (may be NULL) sorted by
 * position, PATH as written. Returns 0 and new cases in *OUT (free with
 * rd_cases_free) when there is no error, else a negative errno as
 * rd_rules_load_file (-EINVAL for a bad file) and *OUT untouched. */
int rd_cases_load_file(const char *path, const struct rd_rules *rules, struct rd_cases **out,
                       struct rd_diag *diag);

/* The same from LEN bytes at BUF, named NAME in diagnostics. */
int rd_cases_load_buffer(const char *name, const char *buf, size_t len,
                         const struct rd_rules *rules, struct rd_cases **out, struct rd_diag *diag);

/* Free CASES. May be NULL. */
void rd_cases_free(struct rd_cases *cases);

/* What a test referral may leave out, filled into the JSON object OBJ: ref
 * (REF) and consent (true). For a case and for `rules test
 * REFERRAL.json`. */
void rd_case_referral_defaults(json_t *obj, const char *ref);

#endif
