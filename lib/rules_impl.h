/* rules_impl.h: what the parts of lib/rules share, not for other modules.
 *
 *   rules.c        the rule set: free, look-ups, durations, string lists
 *   rules_values.c the values of routing.md: ids, texts, postcodes, ages,
 *                  lists of words, each with its own message
 *   rules_load.c   the file into struct rd_rules, part by part
 *   rules_check.c  the checks across parts, errors and warnings
 *   rules_reach.c  (rev 2) the warnings about what can never happen: a
 *                  team, connector or target nothing can reach, a rule
 *                  that can offer to nobody, postcodes no team serves
 *
 * Reading the YAML (limits, positions, keys, types) is lib/yaml_reader. */
#ifndef RD_RULES_IMPL_H
#define RD_RULES_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "rules.h"
#include "yaml_reader.h"

/* Where the parts of a team were, for the checks. */
struct team_side {
        struct rd_yaml_pos at, id;
        bool has_conn_key;
        struct rd_yaml_pos conn_key;
        struct rd_yaml_pos *pc; /* one per postcode range */
};

struct rule_side {
        struct rd_yaml_pos at;
        bool when_ok;                /* a `when` that loaded without error, or none */
        struct rd_yaml_pos *when_pc; /* one per range of when.postcode */
        /* assign: its `teams`, `skill` and `language` values (each the
         * `assign` value when the key is absent) */
        struct rd_yaml_pos teams, skill, language;
};

/* One load. Every array beside RULES grows with its part of RULES. */
struct rules_ctx {
        struct rd_yaml *y; /* the file; every message goes here */
        struct rd_rules *rules;
        bool oom;
        struct team_side *teams;        /* like rules->teams */
        struct rd_yaml_pos *conn_ids;   /* like rules->connectors */
        struct rd_yaml_pos *target_ids; /* like rules->targets */
        struct rule_side *rule_pos;     /* like rules->rules */
};

/* "; did you mean 'X'?" after a message, or nothing when S is NULL. */
#define DYM_FMT "%s%s%s"
#define DYM_ARGS(s) (s) ? "; did you mean '" : "", (s) ? (s) : "", (s) ? "'?" : ""

/* ---- rules.c ------------------------------------------------------------ */

/* Free the words of L and empty it. */
void rules_strlist_free(struct rd_strlist *l);

/* true when L holds S. */
bool rules_strlist_has(const struct rd_strlist *l, const char *s);

/* ---- rules_values.c ------------------------------------------------------ */

/* A private copy of S, or NULL with c->oom set. */
char *rules_strdup(struct rules_ctx *c, const char *s);

/* Grow the array *P (of *N elements of SIZE bytes) by one zeroed element:
 * the new element, or NULL with c->oom set. */
void *rules_push(struct rules_ctx *c, void *p, size_t *n, size_t size);

/* The items of N, a list or a single value (a list of one): a new array of
 * *COUNT single values, NULL when there are none or on error (reported;
 * *OK false). An empty value or [] is an empty list, an error unless
 * ALLOW_EMPTY. */
yaml_node_t **rules_items(struct rules_ctx *c, yaml_node_t *n, const char *what, bool allow_empty,
                          size_t *count, bool *ok);

/* true when N is a non-empty list; an empty value is an empty list (false,
 * silent); anything else is reported. */
bool rules_list(struct rules_ctx *c, yaml_node_t *n, const char *what);

/* Each value below replaces *OUT and returns true, or reports and returns
 * false. A text: a copy in *OUT (freed first). */
bool rules_text(struct rules_ctx *c, yaml_node_t *n, const char *what, char **out);
/* An id (rd_id_valid). An invalid one is still copied, truncated, so that
 * later messages and look-ups use it. */
bool rules_id(struct rules_ctx *c, yaml_node_t *n, const char *what, char out[RD_ID_MAX + 1]);
bool rules_bool(struct rules_ctx *c, yaml_node_t *n, const char *what, bool *out);
/* A list of postcodes and ranges "lo-hi"; MARKS, if not NULL, receives a
 * new array with the position of each range. */
bool rules_postcodes(struct rules_ctx *c, yaml_node_t *n, const char *what, bool allow_empty,
                     struct rd_postcode_range **out, size_t *nout, struct rd_yaml_pos **marks);
/* A list of words (a single value is a list of one), each checked as
 * KIND; a word given twice is kept once. */
enum rules_word { RULES_WORD_ID, RULES_WORD_LANGUAGE, RULES_WORD_TAG };
bool rules_strlist(struct rules_ctx *c, yaml_node_t *n, const char *what, enum rules_word kind,
                   bool allow_empty, struct rd_strlist *out);
/* A list of words out of NAMES as a bit set. */
bool rules_bits(struct rules_ctx *c, yaml_node_t *n, const char *what, const char *const *names,
                size_t nnames, unsigned *bits);
/* An age "7" or a range "a-b" into W. */
bool rules_age(struct rules_ctx *c, yaml_node_t *n, struct rd_when *w);

/* ---- rules_check.c ------------------------------------------------------- */

/* true when postcode CODE is in one of the N ranges at R. */
bool rules_pc_in(const struct rd_postcode_range *r, size_t n, unsigned code);

/* Does E match every referral that L matches? Sound, not complete: false
 * when unsure. */
bool rules_when_covers(const struct rd_when *e, const struct rd_when *l);

/* The checks across the parts of a loaded file: the catch-all, shadowed
 * rules, teams without connectors, postcodes in two teams. RULES_KEY is the `rules` key (NULL when
 * absent), ROOT the top mapping: where to point when there are no rules. */
void rules_cross_checks(struct rules_ctx *c, yaml_node_t *rules_key, yaml_node_t *root);

/* ---- rules_reach.c ------------------------------------------------------- */

/* (rev 2) The warnings of what can never happen in a file without errors:
 * a rule with by_postcode whose when.postcode holds postcodes none of its
 * teams serves; a rule none of whose candidates has the skill (or, with
 * language: require, a language) it needs; a team, connector or forward
 * target nothing can ever offer or forward to. */
void rules_reach_checks(struct rules_ctx *c);

#endif
