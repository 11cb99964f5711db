/* rules.h: routing.yaml (routing.md) loaded into a plain C struct.
 *
 * The loader reads the file with lib/yaml_reader (the project's limits and
 * positions), reports every error it finds (not just the first) as
 * "FILE:LINE:COLUMN: message" (lines and columns from 1, columns in
 * characters), then runs the cross-field checks (unknown teams/targets,
 * catch-all last, duplicate ids, ...). A struct rd_rules is immutable once
 * loaded: the daemon swaps whole rule sets on reload. No I/O besides
 * reading the file; no clock; no logging. */
#ifndef RD_RULES_H
#define RD_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "diag.h" /* struct rd_diag, for the users of the loader */
#include "referral.h"

/* ---- the rules --------------------------------------------------------- */

struct rd_postcode_range {
        uint16_t lo, hi; /* inclusive, 1000..9999 */
};

struct rd_strlist {
        char **v;
        size_t n;
};

struct rd_connector {
        char id[RD_ID_MAX + 1];
        uint32_t capacity;
        struct rd_strlist skills;
        struct rd_strlist languages;
        size_t team; /* index into rd_rules.teams */
};

struct rd_team {
        char id[RD_ID_MAX + 1];
        bool has_postcodes;
        struct rd_postcode_range *postcodes;
        size_t n_postcodes;
        size_t *connectors; /* indexes into rd_rules.connectors, file order */
        size_t n_connectors;
};

struct rd_target {
        char id[RD_ID_MAX + 1];
        char *name;
};

enum rd_language_mode { RD_LANG_PREFER = 0, RD_LANG_REQUIRE, RD_LANG_IGNORE };
enum rd_pick { RD_PICK_LEAST_LOADED = 0, RD_PICK_ROUND_ROBIN };
enum rd_action { RD_ACTION_FORWARD, RD_ACTION_ASSIGN };
enum rd_otherwise { RD_OTHERWISE_WAITLIST = 0, RD_OTHERWISE_FORWARD };

struct rd_when {
        bool has_kind;
        unsigned kinds; /* bit (1u << enum rd_kind) */
        bool has_urgency;
        unsigned urgencies; /* bit (1u << enum rd_urgency) */
        bool has_partner;
        struct rd_strlist partners;
        bool has_postcode;
        struct rd_postcode_range *postcodes;
        size_t n_postcodes;
        bool has_age;
        uint8_t age_lo, age_hi;
        bool has_language;
        struct rd_strlist languages;
        bool has_concerns;
        struct rd_strlist concerns_any; /* the plain-list form lands here */
        struct rd_strlist concerns_all;
        struct rd_strlist concerns_none;
};

struct rd_rule {
        char name[RD_ID_MAX + 1];
        size_t line, column; /* where the rule starts, for explanations */
        bool catch_all;      /* no (or an empty) when */
        struct rd_when when;
        enum rd_action action;
        /* forward */
        size_t forward_to; /* index into rd_rules.targets */
        char *forward_reason;
        /* assign */
        size_t *teams; /* indexes into rd_rules.teams: first-rank candidates */
        size_t n_teams;
        /* (rev 2) indexes into rd_rules.teams, none of them in TEAMS: their
         * connectors are second-rank candidates, offered the referral only
         * when no first-rank candidate is free; by_postcode leaves them be */
        size_t *overflow;
        size_t n_overflow;
        bool by_postcode;
        char *skill; /* NULL: the referral's kind name */
        enum rd_language_mode language;
        enum rd_pick pick;
        int64_t window_s;        /* resolved: the rule's or the default */
        int64_t accept_within_s; /* resolved: the rule's or the default */
        enum rd_otherwise otherwise;
        size_t otherwise_to; /* when RD_OTHERWISE_FORWARD */
        char *otherwise_reason;
};

struct rd_rules {
        int version; /* 1 */
        int64_t window_s, accept_within_s, at_risk_s, trajectory_s;
        struct rd_team *teams;
        size_t n_teams;
        struct rd_connector *connectors; /* all teams, team by team, file order */
        size_t n_connectors;
        struct rd_target *targets;
        size_t n_targets;
        struct rd_rule *rules;
        size_t n_rules;
        char digest[65]; /* SHA-256 of the file's bytes, lowercase hex */
        char *source;    /* the FILE name used in diagnostics (owned) */
};

/* Load routing rules from the file at PATH (read as rd_yaml_open_file: a
 * path that is not a regular file is refused without blocking). Every
 * problem is added to DIAG (which the caller owns and must zero first; may
 * be NULL), sorted by position; PATH appears as written in each
 * diagnostic. Returns 0 and a new rule set in *OUT (free with
 * rd_rules_free) when there is no error (warnings allowed); otherwise a
 * negative errno (-EINVAL for a bad file or one that is not a regular
 * file, -EFBIG over 1 MiB, -ENOENT/-EACCES/... when it cannot be read;
 * that too is in DIAG) and *OUT untouched. */
int rd_rules_load_file(const char *path, struct rd_rules **out, struct rd_diag *diag);

/* The same from LEN bytes at BUF, named NAME in diagnostics (used for the
 * compiled-in default file and by tests). */
int rd_rules_load_buffer(const char *name, const char *buf, size_t len, struct rd_rules **out,
                         struct rd_diag *diag);

/* Free a rule set. RULES may be NULL. */
void rd_rules_free(struct rd_rules *rules);

/* Index lookups by id. Return the index, or -1 when there is none. */
ssize_t rd_rules_connector_index(const struct rd_rules *rules, const char *id);
ssize_t rd_rules_team_index(const struct rd_rules *rules, const char *id);
ssize_t rd_rules_target_index(const struct rd_rules *rules, const char *id);
ssize_t rd_rules_rule_index(const struct rd_rules *rules, const char *name);

/* Parse a duration ("90s", "36h", "30d", units s m h d, a positive
 * integer). Returns 0 and writes *SECONDS, or -EINVAL. */
int rd_duration_parse(const char *s, int64_t *seconds);

#define RD_DURATION_STR 24

/* SECONDS as routing.md writes a duration, in the largest unit that holds
 * it whole ("30d", "36h", "90m", "45s"; "0s" for 0 or less) into BUF.
 * rd_duration_parse reads it back. Returns BUF. */
char *rd_duration_format(int64_t seconds, char buf[RD_DURATION_STR]);

#endif
