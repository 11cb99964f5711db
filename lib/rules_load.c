/* rules_load.c: routing.yaml (routing.md) into struct rd_rules.
 *
 * lib/yaml_reader reads the file (limits, one document, positions, keys,
 * types); this walks it with the schema of routing.md, part by part,
 * reporting every problem where it is and going on, so that one run shows
 * every error. The checks across parts are rules_check.c. The reader hands
 * the messages over sorted by position, so that a coordinator reads them
 * top to bottom. */
#include "rules_impl.h"

#include "bounds.h"
#include "event.h"
#include "referral.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAPACITY_MAX 100000

/* Grow the array *P of *N elements of SIZE bytes, and beside it the array
 * *SIDE of as many elements of SIDE_SIZE bytes, by one zeroed element
 * each: true, or false with nothing grown and c->oom set. The new
 * elements are at index *N - 1. */
static bool push_with_side(struct rules_ctx *c, void *p, size_t *n, size_t size, void *side,
                           size_t side_size)
{
        size_t n_side = *n;

        if (!rules_push(c, p, n, size))
                return false;
        if (!rules_push(c, side, &n_side, side_size)) {
                (*n)--;
                return false;
        }
        return true;
}

/* Call FN on each item of list N. */
static void each(struct rules_ctx *c, yaml_node_t *n,
                 void (*fn)(struct rules_ctx *, yaml_node_t *, size_t), size_t arg)
{
        for (size_t i = 0; i < rd_yaml_count(n); i++) {
                yaml_node_t *x = rd_yaml_item(c->y, n, i);

                if (x)
                        fn(c, x, arg);
        }
}

static const char *const defaults_keys[] = {"window", "accept_within", "at_risk", "trajectory"};

static void parse_defaults(struct rules_ctx *c, yaml_node_t *n)
{
        yaml_node_t *v[4];
        struct rd_rules *r = c->rules;

        if (rd_yaml_is_null(n))
                return;
        if (!rd_yaml_fields(c->y, n, "defaults", defaults_keys, 4, NULL, v))
                return;
        if (v[0])
                rd_yaml_duration(c->y, v[0], "window", &r->window_s);
        if (v[1])
                rd_yaml_duration(c->y, v[1], "accept_within", &r->accept_within_s);
        if (v[2])
                rd_yaml_duration(c->y, v[2], "at_risk", &r->at_risk_s);
        if (v[3])
                rd_yaml_duration(c->y, v[3], "trajectory", &r->trajectory_s);
}

static const char *const connector_keys[] = {"id", "capacity", "skills", "languages"};

static void parse_connector(struct rules_ctx *c, yaml_node_t *n, size_t team)
{
        yaml_node_t *v[4];
        struct rd_rules *r = c->rules;
        struct rd_connector *cn;
        struct rd_yaml_pos *cm;
        size_t *slot;

        if (!rd_yaml_fields(c->y, n, "a connector", connector_keys, 4, NULL, v))
                return;
        if (!push_with_side(c, &r->connectors, &r->n_connectors, sizeof *cn, &c->conn_ids,
                            sizeof *cm))
                return;
        cn = &r->connectors[r->n_connectors - 1];
        cm = &c->conn_ids[r->n_connectors - 1];
        cn->team = team;
        *cm = rd_yaml_pos(n);
        slot = rules_push(c, &r->teams[team].connectors, &r->teams[team].n_connectors,
                          sizeof *slot);
        if (slot)
                *slot = r->n_connectors - 1;
        if (!v[0]) {
                rd_yaml_error(c->y, n, "a connector needs an 'id'");
        } else if (rules_id(c, v[0], "id", cn->id)) {
                *cm = rd_yaml_pos(v[0]);
                for (size_t i = 0; i + 1 < r->n_connectors; i++)
                        if (!strcmp(r->connectors[i].id, cn->id)) {
                                rd_yaml_error(
                                        c->y, v[0],
                                        "duplicate connector id '%s' (first at %zu:%zu, team '%s')",
                                        cn->id, c->conn_ids[i].line, c->conn_ids[i].column,
                                        r->teams[r->connectors[i].team].id);
                                break;
                        }
        }
        if (!v[1]) {
                rd_yaml_error(c->y, n, "a connector needs a 'capacity': how many families at once");
        } else {
                const char *s = rd_yaml_str(v[1]);
                char *end = NULL;
                long cap = 0;

                if (s && *s >= '0' && *s <= '9')
                        cap = strtol(s, &end, 10);
                if (!s || !end || *end || cap < 1 || cap > CAPACITY_MAX)
                        rd_yaml_error(c->y, v[1],
                                      "capacity: expected a whole number from 1 to %d%s%s%s",
                                      CAPACITY_MAX, s ? ", got '" : "", s ? s : "", s ? "'" : "");
                else
                        cn->capacity = (uint32_t)cap;
        }
        if (v[2])
                rules_strlist(c, v[2], "skills", RULES_WORD_ID, true, &cn->skills);
        if (v[3])
                rules_strlist(c, v[3], "languages", RULES_WORD_LANGUAGE, true, &cn->languages);
}

static const char *const team_keys[] = {"id", "postcodes", "connectors"};

static void parse_team(struct rules_ctx *c, yaml_node_t *n, size_t unused)
{
        yaml_node_t *v[3], *k[3];
        struct rd_rules *r = c->rules;
        struct rd_team *t;
        struct team_side *ts;
        size_t ti;

        (void)unused;

        if (!rd_yaml_fields(c->y, n, "a team", team_keys, 3, k, v))
                return;
        if (!push_with_side(c, &r->teams, &r->n_teams, sizeof *t, &c->teams, sizeof *ts))
                return;
        ti = r->n_teams - 1;
        t = &r->teams[ti];
        ts = &c->teams[ti];
        ts->at = ts->id = rd_yaml_pos(n);
        if (!v[0]) {
                rd_yaml_error(c->y, n, "a team needs an 'id'");
        } else if (rules_id(c, v[0], "id", t->id)) {
                ts->id = rd_yaml_pos(v[0]);
                for (size_t i = 0; i < ti; i++)
                        if (!strcmp(r->teams[i].id, t->id)) {
                                rd_yaml_error(c->y, v[0],
                                              "duplicate team id '%s' (first at %zu:%zu)", t->id,
                                              c->teams[i].id.line, c->teams[i].id.column);
                                break;
                        }
        }
        if (v[1] && !rd_yaml_is_null(v[1])) {
                t->has_postcodes = true;
                rules_postcodes(c, v[1], "postcodes", false, &t->postcodes, &t->n_postcodes,
                                &ts->pc);
        }
        if (v[2]) {
                ts->has_conn_key = true;
                ts->conn_key = rd_yaml_pos(k[2]);
                if (rules_list(c, v[2], "connectors"))
                        each(c, v[2], parse_connector, ti);
        }
}

static const char *const target_keys[] = {"id", "name"};

static void parse_target(struct rules_ctx *c, yaml_node_t *n, size_t unused)
{
        yaml_node_t *v[2];
        struct rd_rules *r = c->rules;
        struct rd_target *t;
        struct rd_yaml_pos *m;
        size_t ti;

        (void)unused;

        if (!rd_yaml_fields(c->y, n, "a forward target", target_keys, 2, NULL, v))
                return;
        if (!push_with_side(c, &r->targets, &r->n_targets, sizeof *t, &c->target_ids, sizeof *m))
                return;
        ti = r->n_targets - 1;
        t = &r->targets[ti];
        m = &c->target_ids[ti];
        *m = rd_yaml_pos(n);
        if (!v[0]) {
                rd_yaml_error(c->y, n, "a forward target needs an 'id'");
        } else if (rules_id(c, v[0], "id", t->id)) {
                *m = rd_yaml_pos(v[0]);
                for (size_t i = 0; i < ti; i++)
                        if (!strcmp(r->targets[i].id, t->id)) {
                                rd_yaml_error(c->y, v[0],
                                              "duplicate forward target id '%s' (first at %zu:%zu)",
                                              t->id, c->target_ids[i].line,
                                              c->target_ids[i].column);
                                break;
                        }
        }
        if (v[1])
                rules_text(c, v[1], "name", &t->name);
        else
                t->name = rules_strdup(c, t->id);
}

static const char *const concerns_keys[] = {"any", "all", "none"};

static void parse_concerns(struct rules_ctx *c, yaml_node_t *n, struct rd_when *w)
{
        yaml_node_t *v[3];

        if (n->type != YAML_MAPPING_NODE) {
                if (rules_strlist(c, n, "concerns", RULES_WORD_TAG, false, &w->concerns_any))
                        w->has_concerns = true;
                return;
        }
        if (!rd_yaml_fields(c->y, n, "concerns", concerns_keys, 3, NULL, v))
                return;
        if (v[0])
                rules_strlist(c, v[0], "any", RULES_WORD_TAG, false, &w->concerns_any);
        if (v[1])
                rules_strlist(c, v[1], "all", RULES_WORD_TAG, false, &w->concerns_all);
        if (v[2])
                rules_strlist(c, v[2], "none", RULES_WORD_TAG, false, &w->concerns_none);
        w->has_concerns = w->concerns_any.n || w->concerns_all.n || w->concerns_none.n;
}

static const char *const when_keys[] = {"kind", "urgency",  "partner", "postcode",
                                        "age",  "language", "concerns"};

static void parse_when(struct rules_ctx *c, yaml_node_t *n, struct rd_when *w,
                       struct rd_yaml_pos **pc_marks)
{
        yaml_node_t *v[7];
        const char *kind_names[RD_KIND__MAX], *urgency_names[RD_URGENCY__MAX];

        for (int i = 0; i < RD_KIND__MAX; i++)
                kind_names[i] = rd_kind_name((enum rd_kind)i);
        for (int i = 0; i < RD_URGENCY__MAX; i++)
                urgency_names[i] = rd_urgency_name((enum rd_urgency)i);
        if (!rd_yaml_fields(c->y, n, "when", when_keys, 7, NULL, v))
                return;
        if (v[0] && rules_bits(c, v[0], "kind", kind_names, RD_KIND__MAX, &w->kinds))
                w->has_kind = true;
        if (v[1] && rules_bits(c, v[1], "urgency", urgency_names, RD_URGENCY__MAX, &w->urgencies))
                w->has_urgency = true;
        if (v[2] && rules_strlist(c, v[2], "partner", RULES_WORD_ID, false, &w->partners))
                w->has_partner = true;
        if (v[3] &&
            rules_postcodes(c, v[3], "postcode", false, &w->postcodes, &w->n_postcodes, pc_marks))
                w->has_postcode = true;
        if (v[4])
                rules_age(c, v[4], w);
        if (v[5] && rules_strlist(c, v[5], "language", RULES_WORD_LANGUAGE, false, &w->languages))
                w->has_language = true;
        if (v[6])
                parse_concerns(c, v[6], w);
}

/* The index of a team or target named by scalar N, or -1 (reported). */
static ssize_t resolve_team(struct rules_ctx *c, yaml_node_t *n)
{
        const char *s = rd_yaml_str(n);
        struct rd_suggest sg = {NULL, 0};
        ssize_t i = rd_rules_team_index(c->rules, s);

        if (i >= 0)
                return i;
        for (size_t j = 0; j < c->rules->n_teams; j++)
                rd_suggest_try(&sg, s, c->rules->teams[j].id);
        rd_yaml_error(c->y, n, "unknown team '%s'" DYM_FMT, s, DYM_ARGS(sg.best));
        return -1;
}

static ssize_t resolve_target(struct rules_ctx *c, yaml_node_t *n)
{
        const char *s = rd_yaml_str(n);
        struct rd_suggest sg = {NULL, 0};
        ssize_t i;

        if (!s || rd_yaml_is_null(n)) {
                rd_yaml_error(c->y, n, "to: expected the id of a forward target");
                return -1;
        }
        i = rd_rules_target_index(c->rules, s);
        if (i >= 0)
                return i;
        for (size_t j = 0; j < c->rules->n_targets; j++)
                rd_suggest_try(&sg, s, c->rules->targets[j].id);
        rd_yaml_error(c->y, n, "unknown forward target '%s'" DYM_FMT, s, DYM_ARGS(sg.best));
        return -1;
}

static const char *const forward_keys[] = {"to", "reason"};

_Static_assert(RD_FORWARD_REASON_MAX * 4 < RD_REASON_MAX,
               "a forward's reason of RD_FORWARD_REASON_MAX code points fits an event's reason");

/* The reason of a forward, from N, into *REASON: a text of at most
 * RD_FORWARD_REASON_MAX code points, or reported. */
static void parse_reason(struct rules_ctx *c, yaml_node_t *n, char **reason)
{
        size_t len;

        if (!rules_text(c, n, "reason", reason))
                return;
        len = rd_utf8_length(*reason);
        if (len > RD_FORWARD_REASON_MAX)
                rd_yaml_error(c->y, n,
                              "reason: at most %d characters, this one has %zu: the events give "
                              "the referring partner the reason whole",
                              RD_FORWARD_REASON_MAX, len);
}

static void parse_forward(struct rules_ctx *c, yaml_node_t *n, const char *what, size_t *to,
                          char **reason)
{
        yaml_node_t *v[2];
        if (!rd_yaml_fields(c->y, n, what, forward_keys, 2, NULL, v))
                return;
        if (!v[0]) {
                rd_yaml_error(c->y, n, "%s needs 'to': the id of a forward target", what);
        } else {
                ssize_t i = resolve_target(c, v[0]);
                if (i >= 0)
                        *to = (size_t)i;
        }
        if (!v[1])
                rd_yaml_error(c->y, n, "%s needs a 'reason': a sentence for the referring partner",
                              what);
        else
                parse_reason(c, v[1], reason);
}

/* The teams named by N (a list, or one id) into a new array *OUT of *N_OUT
 * distinct team indexes; a team named twice is kept once. An unknown team
 * is reported, and so is a team in NOT_IN (N_NOT_IN indexes, the rule's
 * `teams` when reading its `overflow`). */
static void parse_team_list(struct rules_ctx *c, yaml_node_t *n, const char *what, bool allow_empty,
                            const struct rd_rule *rule, const size_t *not_in, size_t n_not_in,
                            size_t **out, size_t *n_out)
{
        size_t count;
        bool ok;
        yaml_node_t **t = rules_items(c, n, what, allow_empty, &count, &ok);

        if (count && !(*out = calloc(count, sizeof **out)))
                c->oom = true;
        for (size_t i = 0; *out && i < count; i++) {
                ssize_t ti = resolve_team(c, t[i]);
                bool dup = false;

                if (ti < 0)
                        continue;
                for (size_t j = 0; j < n_not_in; j++)
                        if (not_in[j] == (size_t)ti) {
                                rd_yaml_error(c->y, t[i],
                                              "team '%s' is in both 'teams' and 'overflow' of "
                                              "rule '%s': its connectors are first-rank or "
                                              "overflow candidates, not both",
                                              c->rules->teams[ti].id, rule->name);
                                dup = true;
                        }
                for (size_t j = 0; j < *n_out; j++)
                        dup |= (*out)[j] == (size_t)ti;
                if (!dup)
                        (*out)[(*n_out)++] = (size_t)ti;
        }
        free(t);
}

static const char *const assign_keys[] = {"teams", "by_postcode", "skill",         "language",
                                          "pick",  "window",      "accept_within", "overflow"};
static const char *const language_modes[] = {"prefer", "require", "ignore"};
static const char *const picks[] = {"least_loaded", "round_robin"};

static void parse_assign(struct rules_ctx *c, yaml_node_t *n, struct rd_rule *rule,
                         struct rule_side *side)
{
        yaml_node_t *v[8];
        int e;

        side->teams = side->skill = side->language = rd_yaml_pos(n);
        if (!rd_yaml_fields(c->y, n, "assign", assign_keys, 8, NULL, v))
                return;
        if (!v[0]) {
                rd_yaml_error(c->y, n,
                              "assign needs 'teams': the teams whose connectors may get the offer");
        } else {
                side->teams = rd_yaml_pos(v[0]);
                parse_team_list(c, v[0], "teams", false, rule, NULL, 0, &rule->teams,
                                &rule->n_teams);
        }
        if (v[7])
                parse_team_list(c, v[7], "overflow", true, rule, rule->teams, rule->n_teams,
                                &rule->overflow, &rule->n_overflow);
        if (v[1])
                rules_bool(c, v[1], "by_postcode", &rule->by_postcode);
        if (v[2]) {
                char id[RD_ID_MAX + 1];

                side->skill = rd_yaml_pos(v[2]);
                if (rules_id(c, v[2], "skill", id))
                        rule->skill = rules_strdup(c, id);
        }
        if (v[3]) {
                side->language = rd_yaml_pos(v[3]);
                if (rd_yaml_enum(c->y, v[3], "language", language_modes, 3, &e))
                        rule->language = (enum rd_language_mode)e;
        }
        if (v[4] && rd_yaml_enum(c->y, v[4], "pick", picks, 2, &e))
                rule->pick = (enum rd_pick)e;
        if (v[5])
                rd_yaml_duration(c->y, v[5], "window", &rule->window_s);
        if (v[6])
                rd_yaml_duration(c->y, v[6], "accept_within", &rule->accept_within_s);
}

static const char *const otherwise_keys[] = {"forward"};

#define OTHERWISE_HELP "expected 'waitlist' or {forward: {to: TARGET, reason: TEXT}}"

static void parse_otherwise(struct rules_ctx *c, yaml_node_t *n, struct rd_rule *rule)
{
        yaml_node_t *v[1];
        const char *s = rd_yaml_str(n);

        if (s) {
                static const char *const words[] = {"waitlist", "forward"};
                const char *sug = rd_suggest(s, words, 1);

                if (!strcmp(s, "waitlist"))
                        rule->otherwise = RD_OTHERWISE_WAITLIST;
                else
                        rd_yaml_error(c->y, n, "otherwise: " OTHERWISE_HELP ", not '%s'" DYM_FMT, s,
                                      DYM_ARGS(sug));
                return;
        }
        if (!rd_yaml_fields(c->y, n, "otherwise", otherwise_keys, 1, NULL, v))
                return;
        if (!v[0]) {
                rd_yaml_error(c->y, n, "otherwise: " OTHERWISE_HELP);
                return;
        }
        rule->otherwise = RD_OTHERWISE_FORWARD;
        parse_forward(c, v[0], "forward", &rule->otherwise_to, &rule->otherwise_reason);
}

/* What rule RULE (at N, with the KEYNODES and VALUES of rule_keys) does:
 * forward, or assign with what it does otherwise. SIDE receives where its
 * parts are. */
static void parse_action(struct rules_ctx *c, yaml_node_t *n, struct rd_rule *rule,
                         struct rule_side *side, yaml_node_t **k, yaml_node_t **v)
{
        if (v[2] && v[3]) {
                yaml_node_t *later = k[2]->start_mark.index > k[3]->start_mark.index ? k[2] : k[3];
                rd_yaml_error(c->y, later,
                              "rule '%s' has both 'forward' and 'assign': a rule does one of them",
                              rule->name);
        } else if (!v[2] && !v[3]) {
                rd_yaml_error(c->y, n, "rule '%s' needs 'forward' or 'assign'", rule->name);
        }
        if (v[2]) {
                rule->action = RD_ACTION_FORWARD;
                parse_forward(c, v[2], "forward", &rule->forward_to, &rule->forward_reason);
        } else if (v[3]) {
                rule->action = RD_ACTION_ASSIGN;
        }
        if (v[3])
                parse_assign(c, v[3], rule, side);
        if (v[4]) {
                if (v[2] && !v[3])
                        rd_yaml_error(c->y, k[4],
                                      "'otherwise' only applies to a rule with 'assign'; a "
                                      "'forward' rule "
                                      "always forwards");
                else
                        parse_otherwise(c, v[4], rule);
        }
}

static const char *const rule_keys[] = {"name", "when", "forward", "assign", "otherwise"};

static void parse_rule(struct rules_ctx *c, yaml_node_t *n, size_t unused)
{
        yaml_node_t *v[5], *k[5];
        struct rd_rules *r = c->rules;
        struct rd_rule *rule;
        struct rule_side *side;
        size_t ri;

        (void)unused;

        if (!rd_yaml_fields(c->y, n, "a rule", rule_keys, 5, k, v))
                return;
        if (!push_with_side(c, &r->rules, &r->n_rules, sizeof *rule, &c->rule_pos, sizeof *side))
                return;
        ri = r->n_rules - 1;
        rule = &r->rules[ri];
        side = &c->rule_pos[ri];
        side->at = rd_yaml_pos(n);
        rule->line = side->at.line;
        rule->column = side->at.column;
        rule->window_s = r->window_s;
        rule->accept_within_s = r->accept_within_s;
        rule->forward_to = SIZE_MAX;
        rule->otherwise_to = SIZE_MAX;
        side->when_ok = true;
        if (!v[0]) {
                rd_yaml_error(c->y, n, "a rule needs a 'name'");
        } else if (rules_id(c, v[0], "name", rule->name)) {
                for (size_t i = 0; i < ri; i++)
                        if (!strcmp(r->rules[i].name, rule->name)) {
                                rd_yaml_error(c->y, v[0],
                                              "duplicate rule name '%s' (first at %zu:%zu)",
                                              rule->name, r->rules[i].line, r->rules[i].column);
                                break;
                        }
        }
        if (!v[1] || rd_yaml_is_null(v[1]) ||
            (v[1]->type == YAML_MAPPING_NODE &&
             v[1]->data.mapping.pairs.top == v[1]->data.mapping.pairs.start)) {
                rule->catch_all = true;
        } else {
                size_t before = rd_yaml_errors(c->y);

                parse_when(c, v[1], &rule->when, &side->when_pc);
                side->when_ok = rd_yaml_errors(c->y) == before;
        }
        parse_action(c, n, rule, side, k, v);
}

static const char *const top_keys[] = {"version", "defaults", "teams", "forward_targets", "rules"};

static void parse_root(struct rules_ctx *c, yaml_node_t *root)
{
        yaml_node_t *v[5], *k[5];

        if (!rd_yaml_fields(c->y, root, "the file", top_keys, 5, k, v))
                return;
        if (!v[0]) {
                rd_yaml_error(c->y, root, "missing key 'version': write 'version: 1' at the top");
        } else {
                const char *s = rd_yaml_str(v[0]);
                if (!s || strcmp(s, "1"))
                        rd_yaml_error(c->y, v[0], "version: must be 1%s%s%s", s ? ", not '" : "",
                                      s ? s : "", s ? "'" : "");
        }
        if (v[1])
                parse_defaults(c, v[1]);
        if (v[2] && rules_list(c, v[2], "teams"))
                each(c, v[2], parse_team, 0);
        if (v[3] && rules_list(c, v[3], "forward_targets"))
                each(c, v[3], parse_target, 0);
        if (v[4] && rules_list(c, v[4], "rules"))
                each(c, v[4], parse_rule, 0);
        rules_cross_checks(c, v[4] ? k[4] : NULL, root);
        if (rd_yaml_errors(c->y) == 0) /* an unknown team or a broken rule would make noise */
                rules_reach_checks(c);
}

/* ---- loading ------------------------------------------------------------ */

static void ctx_free(struct rules_ctx *c)
{
        if (c->rules && c->teams)
                for (size_t i = 0; i < c->rules->n_teams; i++)
                        free(c->teams[i].pc);
        if (c->rules && c->rule_pos)
                for (size_t i = 0; i < c->rules->n_rules; i++)
                        free(c->rule_pos[i].when_pc);
        free(c->teams);
        free(c->conn_ids);
        free(c->target_ids);
        free(c->rule_pos);
}

/* An empty rule set with the defaults of routing.md, named NAME, with the
 * digest of the LEN bytes at BYTES. NULL when out of memory. */
static struct rd_rules *rules_new(const char *name, const char *bytes, size_t len)
{
        struct rd_rules *r = calloc(1, sizeof *r);

        if (!r)
                return NULL;
        r->version = 1;
        r->window_s = 30 * 86400;
        r->accept_within_s = 2 * 86400;
        r->at_risk_s = 7 * 86400;
        r->trajectory_s = 120 * 86400;
        r->source = strdup(name);
        if (!r->source || rd_sha256_hex(bytes, len, r->digest) < 0) {
                rd_rules_free(r);
                return NULL;
        }
        return r;
}

/* Walk the file Y holds into a new rule set; Y's messages go to DIAG and Y
 * is freed. As rd_rules_load_buffer. */
static int load(struct rd_yaml *y, struct rd_rules **out, struct rd_diag *diag)
{
        struct rules_ctx c = {.y = y};
        size_t len;
        const char *bytes = rd_yaml_bytes(y, &len);
        int rc;

        c.rules = rules_new(rd_yaml_name(y), bytes, len);
        if (!c.rules)
                rd_yaml_nomem(y);
        else if (rd_yaml_loaded(y) && rd_yaml_root(y))
                parse_root(&c, rd_yaml_root(y));
        else if (rd_yaml_loaded(y))
                rd_yaml_report(y, RD_DIAG_ERROR, (struct rd_yaml_pos){1, 1},
                               "the file is empty: it needs 'version: 1', 'rules' and what they "
                               "name");
        if (c.oom)
                rd_yaml_nomem(y);
        ctx_free(&c); /* before the rules: it reads rules->n_teams */
        rc = rd_yaml_finish(y, diag);
        if (rc == 0)
                *out = c.rules;
        else
                rd_rules_free(c.rules);
        return rc;
}

int rd_rules_load_buffer(const char *name, const char *buf, size_t len, struct rd_rules **out,
                         struct rd_diag *diag)
{
        struct rd_yaml *y;
        int rc;

        if (!out)
                return -EINVAL;
        rc = rd_yaml_open_buffer(name, buf, len, &y);
        return rc < 0 ? rc : load(y, out, diag);
}

int rd_rules_load_file(const char *path, struct rd_rules **out, struct rd_diag *diag)
{
        struct rd_yaml *y;
        int rc;

        if (!out)
                return -EINVAL;
        rc = rd_yaml_open_file(path, &y);
        return rc < 0 ? rc : load(y, out, diag);
}
