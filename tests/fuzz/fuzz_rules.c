/* fuzz_rules: a routing file, as a coordinator might write it.
 *
 * bytes -> rd_rules_load_buffer("fuzz.yaml", ...). Invariants:
 *   - it succeeds exactly when there is no error diagnostic (warnings
 *     allowed), and then hands back a rule set, else leaves OUT alone;
 *   - n_errors + n_warnings == n, and the severities agree;
 *   - every diagnostic is "fuzz.yaml:LINE:COLUMN: message" (a warning
 *     "...: warning: message") with LINE and COLUMN >= 1, LINE within the
 *     file's line breaks, COLUMN within its size, in order of position;
 *   - the digest is the SHA-256 of the bytes;
 *   - on success the rule set is consistent (every index in range, the
 *     last rule and only it is the catch-all) and rd_route_decide (state
 *     NULL) decides a few fixed referrals, with a trace that holds none of
 *     their personal data or postcode; rd_route_redecide agrees.
 * With RD_FUZZ_STRICT=1 in the environment, two more (not yet true, see
 * docs/security.md): a diagnostic is one line of printable text (no control
 * characters from the file: they could forge lines or drive a terminal),
 * and its LINE is a line of the file (not the one past the end). */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "referral.h"
#include "route.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                           \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
                                #cond);                                                            \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

#define NAME "fuzz.yaml"
#define NOW_MS INT64_C(1767225600000) /* 2026-01-01 */

/* Referrals routed under every rule set that loads. The strings in
 * SECRETS must never show in a trace. */
static const char *const referral_texts[] = {
        "{\"ref\": \"FZ-1\", \"partner\": \"ocmw-genk\", \"kind\": \"family_support\","
        " \"postcode\": \"3600\", \"children\": [{\"age\": 9}, {\"age\": 14}],"
        " \"concerns\": [\"parenting\"], \"language\": \"nl\", \"consent\": true,"
        " \"family\": {\"name\": \"Qxfamname Wyzzle\", \"phone\": \"+32 470 99 88 77\"},"
        " \"note\": \"Qxnote: the secret note\"}",
        "{\"ref\": \"FZ-2\", \"kind\": \"first_line_psychology\", \"postcode\": \"7493\","
        " \"children\": [{\"age\": 17}], \"language\": \"ar\", \"urgency\": \"high\","
        " \"consent\": true}",
        "{\"ref\": \"FZ-3\", \"partner\": \"cgg\", \"kind\": \"family_support\","
        " \"postcode\": \"3630\", \"children\": [{\"age\": 0}],"
        " \"concerns\": [\"child_abuse\", \"domestic_violence\"], \"urgency\": \"crisis\","
        " \"consent\": true}",
};
#define N_REFERRALS (sizeof referral_texts / sizeof referral_texts[0])
static const char *const secrets[] = {"Qxfamname", "Wyzzle", "99 88 77", "Qxnote", "7493"};

static struct rd_referral referrals[N_REFERRALS];
static bool strict;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        strict = getenv("RD_FUZZ_STRICT") && strcmp(getenv("RD_FUZZ_STRICT"), "1") == 0;
        for (size_t i = 0; i < N_REFERRALS; i++) {
                struct rd_error err;
                json_t *j = json_loads(referral_texts[i], 0, NULL);
                FUZZ_CHECK(j);
                if (rd_referral_from_json(j, &referrals[i], &err) != 0) {
                        fprintf(stderr, "fixed referral %zu refused: %s\n", i, err.message);
                        abort();
                }
                json_decref(j);
        }
        return 0;
}

/* Read a decimal number >= 1 at *P; advance past it. 0 when there is none. */
static size_t number(const char **p)
{
        size_t v = 0;
        const char *s = *p;

        if (*s < '1' || *s > '9')
                return 0;
        for (; *s >= '0' && *s <= '9'; s++) {
                if (v > SIZE_MAX / 10 - 10)
                        return 0;
                v = v * 10 + (size_t)(*s - '0');
        }
        *p = s;
        return v;
}

/* An upper bound on the lines of the input in any encoding libyaml reads:
 * every byte that may be part of a line break counts. */
static size_t max_lines(const uint8_t *d, size_t n)
{
        size_t lines = 1;

        for (size_t i = 0; i < n; i++) {
                if (d[i] == '\n' || d[i] == '\r' || d[i] == 0x85)
                        lines++;
                /* U+2028/U+2029 in UTF-8 (E2 80 A8/A9) and UTF-16 (20 28 / 28 20) */
                if (i + 1 < n && ((d[i] == 0x20 && (d[i + 1] == 0x28 || d[i + 1] == 0x29)) ||
                                  ((d[i] == 0x28 || d[i] == 0x29) && d[i + 1] == 0x20)))
                        lines++;
                if (i + 2 < n && d[i] == 0xE2 && d[i + 1] == 0x80 &&
                    (d[i + 2] == 0xA8 || d[i + 2] == 0xA9))
                        lines++;
        }
        return lines;
}

static void check_diags(const struct rd_diag *diag, const uint8_t *data, size_t size)
{
        size_t errors = 0, warnings = 0, prev_line = 0, prev_col = 0;
        size_t lines = max_lines(data, size);

        FUZZ_CHECK(diag->n == diag->n_errors + diag->n_warnings);
        FUZZ_CHECK(diag->n == 0 || diag->items);
        for (size_t i = 0; i < diag->n; i++) {
                const struct rd_diag_item *it = &diag->items[i];
                const char *p = it->text;
                size_t line, col;

                FUZZ_CHECK(p);
                if (strncmp(p, NAME ":", sizeof NAME) != 0) {
                        fprintf(stderr, "diagnostic without '" NAME ":': %s\n", p);
                        abort();
                }
                p += sizeof NAME;
                line = number(&p);
                FUZZ_CHECK(line >= 1 && *p == ':');
                p++;
                col = number(&p);
                FUZZ_CHECK(col >= 1 && p[0] == ':' && p[1] == ' ' && p[2] != '\0');
                p += 2;
                /* + 1: at the end of a file whose last line has no line
                 * break, libyaml moves its mark to the start of a next line
                 * (yaml_parser_fetch_stream_end), and syntax errors there
                 * are reported on that line. */
                if (line > lines + !strict || col > size + 1) {
                        fprintf(stderr, "diagnostic outside the file (%zu lines, %zu bytes): %s\n",
                                lines, size, it->text);
                        abort();
                }
                for (const char *q = it->text; strict && *q; q++)
                        if ((unsigned char)*q < 0x20 || *q == 0x7f ||
                            ((unsigned char)q[0] == 0xC2 && (unsigned char)q[1] >= 0x80 &&
                             (unsigned char)q[1] <= 0x9F)) { /* C0, DEL, C1 */
                                fprintf(stderr, "control character 0x%02x in diagnostic: %s\n",
                                        (unsigned char)*q, it->text);
                                abort();
                        }
                if (it->severity == RD_DIAG_WARNING) {
                        FUZZ_CHECK(strncmp(p, "warning: ", 9) == 0 && p[9] != '\0');
                        warnings++;
                } else {
                        FUZZ_CHECK(it->severity == RD_DIAG_ERROR);
                        FUZZ_CHECK(strncmp(p, "warning: ", 9) != 0);
                        errors++;
                }
                /* sorted by position, top to bottom */
                if (line < prev_line || (line == prev_line && col < prev_col)) {
                        fprintf(stderr, "diagnostics out of order at: %s\n", it->text);
                        abort();
                }
                prev_line = line;
                prev_col = col;
        }
        FUZZ_CHECK(errors == diag->n_errors && warnings == diag->n_warnings);
}

static void check_rules(const struct rd_rules *r, const uint8_t *data, size_t size)
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        char hex[65];

        FUZZ_CHECK(EVP_Digest(data, size, md, &md_len, EVP_sha256(), NULL) && md_len == 32);
        for (unsigned i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        FUZZ_CHECK(strcmp(r->digest, hex) == 0);
        FUZZ_CHECK(r->source && strcmp(r->source, NAME) == 0);
        FUZZ_CHECK(r->version == 1);
        FUZZ_CHECK(r->window_s > 0 && r->accept_within_s > 0 && r->at_risk_s > 0 &&
                   r->trajectory_s > 0);

        for (size_t c = 0; c < r->n_connectors; c++) {
                FUZZ_CHECK(r->connectors[c].team < r->n_teams);
                FUZZ_CHECK(rd_rules_connector_index(r, r->connectors[c].id) == (ssize_t)c);
        }
        for (size_t t = 0; t < r->n_teams; t++) {
                const struct rd_team *tm = &r->teams[t];
                FUZZ_CHECK(rd_rules_team_index(r, tm->id) == (ssize_t)t);
                for (size_t k = 0; k < tm->n_connectors; k++)
                        FUZZ_CHECK(tm->connectors[k] < r->n_connectors &&
                                   r->connectors[tm->connectors[k]].team == t);
                for (size_t k = 0; k < tm->n_postcodes; k++)
                        FUZZ_CHECK(tm->postcodes[k].lo >= 1000 &&
                                   tm->postcodes[k].lo <= tm->postcodes[k].hi &&
                                   tm->postcodes[k].hi <= 9999);
        }
        for (size_t t = 0; t < r->n_targets; t++)
                FUZZ_CHECK(rd_rules_target_index(r, r->targets[t].id) == (ssize_t)t);

        FUZZ_CHECK(r->n_rules >= 1);
        for (size_t i = 0; i < r->n_rules; i++) {
                const struct rd_rule *ru = &r->rules[i];
                FUZZ_CHECK(ru->catch_all == (i == r->n_rules - 1));
                FUZZ_CHECK(rd_rules_rule_index(r, ru->name) == (ssize_t)i);
                FUZZ_CHECK(ru->line >= 1 && ru->column >= 1);
                if (ru->action == RD_ACTION_FORWARD) {
                        FUZZ_CHECK(ru->forward_to < r->n_targets);
                } else {
                        FUZZ_CHECK(ru->action == RD_ACTION_ASSIGN);
                        FUZZ_CHECK(ru->n_teams >= 1);
                        for (size_t k = 0; k < ru->n_teams; k++)
                                FUZZ_CHECK(ru->teams[k] < r->n_teams);
                        FUZZ_CHECK(ru->window_s > 0 && ru->accept_within_s > 0);
                        if (ru->otherwise == RD_OTHERWISE_FORWARD)
                                FUZZ_CHECK(ru->otherwise_to < r->n_targets);
                }
        }
}

static void check_decision(const struct rd_rules *r, const struct rd_decision *d, int64_t recv_ms)
{
        FUZZ_CHECK(d->rule < r->n_rules);
        switch (d->status) {
        case RD_STATUS_ASSIGNED:
                FUZZ_CHECK(r->rules[d->rule].action == RD_ACTION_ASSIGN);
                FUZZ_CHECK(d->connector < r->n_connectors && d->team < r->n_teams);
                FUZZ_CHECK(r->connectors[d->connector].team == d->team);
                FUZZ_CHECK(d->offer_expires_ms > NOW_MS && d->start_by_ms > recv_ms);
                break;
        case RD_STATUS_WAITLISTED:
                FUZZ_CHECK(r->rules[d->rule].action == RD_ACTION_ASSIGN);
                FUZZ_CHECK(d->start_by_ms > recv_ms && d->expected_start_ms >= 0);
                break;
        case RD_STATUS_FORWARDED: FUZZ_CHECK(d->forward_to < r->n_targets && d->reason); break;
        default: fprintf(stderr, "decision with status %d\n", (int)d->status); abort();
        }
}

static void route(const struct rd_rules *r, const uint8_t *data, size_t size)
{
        for (size_t i = 0; i < N_REFERRALS; i++) {
                struct rd_decision d, d2;
                json_t *trace = NULL;
                char *text;

                memset(&d, 0, sizeof d);
                FUZZ_CHECK(rd_route_decide(&referrals[i], r, NULL, NOW_MS, &d, &trace) == 0);
                check_decision(r, &d, NOW_MS);
                FUZZ_CHECK(trace && json_is_object(trace));
                text = json_dumps(trace, JSON_COMPACT);
                FUZZ_CHECK(text);
                for (size_t s = 0; s < sizeof secrets / sizeof secrets[0]; s++) {
                        size_t n = strlen(secrets[s]);
                        if (memmem(data, size, secrets[s], n))
                                continue; /* the file itself names it */
                        if (strstr(text, secrets[s])) {
                                fprintf(stderr, "trace holds \"%s\": %s\n", secrets[s], text);
                                abort();
                        }
                }
                free(text);
                json_decref(trace);

                /* decided the same without a trace, and again by the same rule */
                memset(&d2, 0, sizeof d2);
                FUZZ_CHECK(rd_route_decide(&referrals[i], r, NULL, NOW_MS, &d2, NULL) == 0);
                FUZZ_CHECK(d2.status == d.status && d2.rule == d.rule);
                memset(&d2, 0, sizeof d2);
                FUZZ_CHECK(rd_route_redecide(&referrals[i], r, NULL, d.rule, NOW_MS,
                                             NOW_MS + 3600000, &d2, NULL) == 0);
                check_decision(r, &d2, NOW_MS);
                FUZZ_CHECK(rd_route_redecide(&referrals[i], r, NULL, r->n_rules, NOW_MS, NOW_MS,
                                             &d2, NULL) == -EINVAL);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct rd_rules *rules = NULL;
        struct rd_diag diag;
        int rc;

        memset(&diag, 0, sizeof diag);
        rc = rd_rules_load_buffer(NAME, (const char *)data, size, &rules, &diag);
        check_diags(&diag, data, size);
        if (rc == 0) {
                FUZZ_CHECK(diag.n_errors == 0);
                FUZZ_CHECK(rules);
                check_rules(rules, data, size);
                route(rules, data, size);
                rd_rules_free(rules);
        } else {
                FUZZ_CHECK(rc == -EINVAL);
                FUZZ_CHECK(diag.n_errors > 0);
                FUZZ_CHECK(rules == NULL);
                FUZZ_CHECK(rd_diag_first_error(&diag) != NULL);
        }
        rd_diag_clear(&diag);
        return 0;
}
