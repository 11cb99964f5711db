/* rules_show.c: a loaded routing file as a coordinator reads it, as text
 * and as JSON (rules_show.h). */
#include "rules_show.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "json_build.h"

/* ---- the values of the file, as text ------------------------------------- */

/* A text from the file, its control characters as '?' (as lib/diag does):
 * one line, and nothing that drives a terminal. */
static void put_text(FILE *f, const char *s)
{
        for (; s && *s; s++)
                fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* The N words at V as "a", "a or b", "a, b or c" (SEP " or "), or with
 * SEP ", " as "a, b, c". */
static void put_words(FILE *f, char *const *v, size_t n, const char *last_sep)
{
        for (size_t i = 0; i < n; i++) {
                fputs(i == 0 ? "" : i + 1 == n ? last_sep : ", ", f);
                put_text(f, v[i]);
        }
}

static void put_list(FILE *f, const struct rd_strlist *l, const char *last_sep)
{
        put_words(f, l->v, l->n, last_sep);
}

/* The names of the bits of BITS (names: NAME_OF) as put_words does. */
static void put_bits(FILE *f, unsigned bits, int max, const char *(*name_of)(int))
{
        char *v[8];
        size_t n = 0;

        for (int i = 0; i < max && n < 8; i++)
                if (bits & (1u << i))
                        v[n++] = (char *)name_of(i);
        put_words(f, v, n, " or ");
}

static const char *kind_name(int k)
{
        return rd_kind_name((enum rd_kind)k);
}

static const char *urgency_name(int u)
{
        return rd_urgency_name((enum rd_urgency)u);
}

/* "3600" or "3660-3668". */
static void postcode_text(const struct rd_postcode_range *r, char buf[16])
{
        if (r->lo == r->hi)
                snprintf(buf, 16, "%u", (unsigned)r->lo);
        else
                snprintf(buf, 16, "%u-%u", (unsigned)r->lo, (unsigned)r->hi);
}

static void put_postcodes(FILE *f, const struct rd_postcode_range *r, size_t n)
{
        char buf[16];

        for (size_t i = 0; i < n; i++) {
                postcode_text(&r[i], buf);
                fprintf(f, "%s%s", i ? ", " : "", buf);
        }
}

static const char *const language_words[] = {
        [RD_LANG_PREFER] = "speakers of the family's language first (language: prefer)",
        [RD_LANG_REQUIRE] = "only speakers of the family's language (language: require)",
        [RD_LANG_IGNORE] = "whatever their language (language: ignore)",
};

static const char *const language_modes[] = {
        [RD_LANG_PREFER] = "prefer",
        [RD_LANG_REQUIRE] = "require",
        [RD_LANG_IGNORE] = "ignore",
};

static const char *const pick_names[] = {
        [RD_PICK_LEAST_LOADED] = "least_loaded",
        [RD_PICK_ROUND_ROBIN] = "round_robin",
};

/* ---- text ------------------------------------------------------------------ */

/* "; " between the parts of a `when`, none before the first. */
static void next_part(FILE *f, bool *first)
{
        if (!*first)
                fputs("; ", f);
        *first = false;
}

static void show_concerns(FILE *f, const struct rd_when *w, bool *first)
{
        static const char *const heads[] = {"concerns include any of ", "concerns include all of ",
                                            "concerns include none of "};
        const struct rd_strlist *parts[] = {&w->concerns_any, &w->concerns_all, &w->concerns_none};

        for (size_t i = 0; i < 3; i++) {
                if (!parts[i]->n)
                        continue;
                next_part(f, first);
                fputs(heads[i], f);
                put_list(f, parts[i], ", ");
        }
}

static void show_when(FILE *f, const struct rd_rule *rule)
{
        const struct rd_when *w = &rule->when;
        bool first = true;

        fputs("   Matches: ", f);
        if (rule->catch_all) {
                fputs("every referral that reaches it.\n", f);
                return;
        }
        if (w->has_kind) {
                next_part(f, &first);
                fputs("kind is ", f);
                put_bits(f, w->kinds, RD_KIND__MAX, kind_name);
        }
        if (w->has_urgency) {
                next_part(f, &first);
                fputs("urgency is ", f);
                put_bits(f, w->urgencies, RD_URGENCY__MAX, urgency_name);
        }
        if (w->has_partner) {
                next_part(f, &first);
                fputs("partner is ", f);
                put_list(f, &w->partners, " or ");
        }
        if (w->has_postcode) {
                next_part(f, &first);
                fputs("postcode in ", f);
                put_postcodes(f, w->postcodes, w->n_postcodes);
        }
        if (w->has_age) {
                next_part(f, &first);
                fprintf(f, "at least one child aged %u", (unsigned)w->age_lo);
                if (w->age_hi != w->age_lo)
                        fprintf(f, "-%u", (unsigned)w->age_hi);
        }
        if (w->has_language) {
                next_part(f, &first);
                fputs("language is ", f);
                put_list(f, &w->languages, " or ");
        }
        if (w->has_concerns)
                show_concerns(f, w, &first);
        fputs(".\n", f);
}

/* "cgg-limburg (CGG Limburg), reason: "..."" */
static void show_target(FILE *f, const struct rd_rules *rules, size_t to, const char *reason)
{
        const struct rd_target *t = &rules->targets[to];

        fprintf(f, "forwards to %s (", t->id);
        put_text(f, t->name);
        fputs("), reason: \"", f);
        put_text(f, reason);
        fputs("\".\n", f);
}

static void show_team(FILE *f, const struct rd_rules *rules, size_t ti)
{
        const struct rd_team *t = &rules->teams[ti];

        fprintf(f, "     %s, ", t->id);
        if (t->has_postcodes) {
                fputs("postcodes ", f);
                put_postcodes(f, t->postcodes, t->n_postcodes);
        } else {
                fputs("no postcodes", f);
        }
        fputs(t->n_connectors ? ":\n" : ": no connectors\n", f);
        for (size_t k = 0; k < t->n_connectors; k++) {
                const struct rd_connector *cn = &rules->connectors[t->connectors[k]];

                fprintf(f, "       %s: capacity %u; ", cn->id, (unsigned)cn->capacity);
                if (cn->skills.n) {
                        fputs("skills ", f);
                        put_list(f, &cn->skills, ", ");
                } else {
                        fputs("no skills", f);
                }
                if (cn->languages.n) {
                        fputs("; languages ", f);
                        put_list(f, &cn->languages, ", ");
                } else {
                        fputs("; no languages given", f);
                }
                fputc('\n', f);
        }
}

static void show_assign(FILE *f, const struct rd_rules *rules, const struct rd_rule *rule)
{
        char window[RD_DURATION_STR], accept[RD_DURATION_STR];

        fputs("   Offers it to a free connector with the skill ", f);
        if (rule->skill)
                put_text(f, rule->skill);
        else
                fputs("of the referral's kind", f);
        fprintf(f, ", %s, %s", language_words[rule->language],
                rule->pick == RD_PICK_ROUND_ROBIN ? "in turn (pick: round_robin)"
                                                  : "least loaded first (pick: least_loaded)");
        fprintf(f, "; window %s, offers expire after %s.\n",
                rd_duration_format(rule->window_s, window),
                rd_duration_format(rule->accept_within_s, accept));
        fputs(rule->by_postcode ? "   Teams, only the one whose postcodes hold the family's "
                                  "(by_postcode: true):\n"
                                : "   Teams:\n",
              f);
        for (size_t j = 0; j < rule->n_teams; j++)
                show_team(f, rules, rule->teams[j]);
        if (rule->n_overflow)
                fputs("   Overflow teams, when no connector of the teams above is free:\n", f);
        for (size_t j = 0; j < rule->n_overflow; j++)
                show_team(f, rules, rule->overflow[j]);
        fputs("   Otherwise (no place within the window): ", f);
        if (rule->otherwise == RD_OTHERWISE_FORWARD)
                show_target(f, rules, rule->otherwise_to, rule->otherwise_reason);
        else
                fputs("the family waits anyway (waitlist).\n", f);
}

int rd_rules_show_text(const struct rd_rules *rules, FILE *out)
{
        char d[4][RD_DURATION_STR];

        fputs("Routing file ", out);
        put_text(out, rules->source);
        fprintf(out, " (digest %s)\n", rules->digest);
        fprintf(out, "Defaults: window %s, accept_within %s, at_risk %s, trajectory %s.\n",
                rd_duration_format(rules->window_s, d[0]),
                rd_duration_format(rules->accept_within_s, d[1]),
                rd_duration_format(rules->at_risk_s, d[2]),
                rd_duration_format(rules->trajectory_s, d[3]));
        fputs("The rules are tried from top to bottom; the first that matches decides.\n", out);
        for (size_t i = 0; i < rules->n_rules; i++) {
                const struct rd_rule *rule = &rules->rules[i];

                fprintf(out, "\n%zu. %s (line %zu)\n", i + 1, rule->name, rule->line);
                show_when(out, rule);
                if (rule->action == RD_ACTION_FORWARD) {
                        fputs("   Always ", out);
                        show_target(out, rules, rule->forward_to, rule->forward_reason);
                } else {
                        show_assign(out, rules, rule);
                }
        }
        return ferror(out) ? -EIO : 0;
}

/* ---- JSON ------------------------------------------------------------------- */

static json_t *strlist_json(const struct rd_strlist *l, bool *oom)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < l->n; i++)
                rd_jpush(oom, a, json_string(l->v[i]));
        return a;
}

static json_t *bits_json(unsigned bits, int max, const char *(*name_of)(int), bool *oom)
{
        json_t *a = json_array();

        for (int i = 0; a && i < max; i++)
                if (bits & (1u << i))
                        rd_jpush(oom, a, json_string(name_of(i)));
        return a;
}

static json_t *postcodes_json(const struct rd_postcode_range *r, size_t n, bool *oom)
{
        json_t *a = json_array();
        char buf[16];

        for (size_t i = 0; a && i < n; i++) {
                postcode_text(&r[i], buf);
                rd_jpush(oom, a, json_string(buf));
        }
        return a;
}

static json_t *when_json(const struct rd_when *w, bool *oom)
{
        json_t *o = json_object();
        char age[16];

        if (w->has_kind)
                rd_jset(oom, o, "kind", bits_json(w->kinds, RD_KIND__MAX, kind_name, oom));
        if (w->has_urgency)
                rd_jset(oom, o, "urgency",
                        bits_json(w->urgencies, RD_URGENCY__MAX, urgency_name, oom));
        if (w->has_partner)
                rd_jset(oom, o, "partner", strlist_json(&w->partners, oom));
        if (w->has_postcode)
                rd_jset(oom, o, "postcode", postcodes_json(w->postcodes, w->n_postcodes, oom));
        if (w->has_age) {
                snprintf(age, sizeof age, "%u-%u", (unsigned)w->age_lo, (unsigned)w->age_hi);
                rd_jset(oom, o, "age", json_string(age));
        }
        if (w->has_language)
                rd_jset(oom, o, "language", strlist_json(&w->languages, oom));
        if (w->has_concerns) {
                json_t *c = json_object();

                rd_jset(oom, c, "any", strlist_json(&w->concerns_any, oom));
                rd_jset(oom, c, "all", strlist_json(&w->concerns_all, oom));
                rd_jset(oom, c, "none", strlist_json(&w->concerns_none, oom));
                rd_jset(oom, o, "concerns", c);
        }
        return o;
}

static json_t *target_json(const struct rd_rules *rules, size_t to, const char *reason, bool *oom)
{
        json_t *o = json_object();

        rd_jset(oom, o, "to", json_string(rules->targets[to].id));
        rd_jset(oom, o, "name", json_string(rules->targets[to].name));
        rd_jset(oom, o, "reason", json_string(reason ? reason : ""));
        return o;
}

static json_t *connector_json(const struct rd_connector *cn, bool *oom)
{
        json_t *o = json_object();

        rd_jset(oom, o, "id", json_string(cn->id));
        rd_jset(oom, o, "capacity", json_integer(cn->capacity));
        rd_jset(oom, o, "skills", strlist_json(&cn->skills, oom));
        rd_jset(oom, o, "languages", strlist_json(&cn->languages, oom));
        return o;
}

static json_t *teams_json(const struct rd_rules *rules, const size_t *teams, size_t n, bool *oom)
{
        json_t *a = json_array();

        for (size_t j = 0; a && j < n; j++) {
                const struct rd_team *t = &rules->teams[teams[j]];
                json_t *o = json_object(), *cs = json_array();

                rd_jset(oom, o, "id", json_string(t->id));
                rd_jset(oom, o, "postcodes",
                        t->has_postcodes ? postcodes_json(t->postcodes, t->n_postcodes, oom)
                                         : json_null());
                for (size_t k = 0; cs && k < t->n_connectors; k++)
                        rd_jpush(oom, cs,
                                 connector_json(&rules->connectors[t->connectors[k]], oom));
                rd_jset(oom, o, "connectors", cs);
                rd_jpush(oom, a, o);
        }
        return a;
}

static void assign_json(json_t *o, const struct rd_rules *rules, const struct rd_rule *rule,
                        bool *oom)
{
        json_t *a = json_object(), *ow;
        char d[RD_DURATION_STR];

        rd_jset(oom, a, "teams", teams_json(rules, rule->teams, rule->n_teams, oom));
        rd_jset(oom, a, "overflow", teams_json(rules, rule->overflow, rule->n_overflow, oom));
        rd_jset(oom, a, "by_postcode", json_boolean(rule->by_postcode));
        rd_jset(oom, a, "skill", rule->skill ? json_string(rule->skill) : json_null());
        rd_jset(oom, a, "language", json_string(language_modes[rule->language]));
        rd_jset(oom, a, "pick", json_string(pick_names[rule->pick]));
        rd_jset(oom, a, "window", json_string(rd_duration_format(rule->window_s, d)));
        rd_jset(oom, a, "accept_within", json_string(rd_duration_format(rule->accept_within_s, d)));
        rd_jset(oom, o, "assign", a);
        if (rule->otherwise != RD_OTHERWISE_FORWARD) {
                rd_jset(oom, o, "otherwise", json_string("waitlist"));
                return;
        }
        ow = json_object();
        rd_jset(oom, ow, "forward",
                target_json(rules, rule->otherwise_to, rule->otherwise_reason, oom));
        rd_jset(oom, o, "otherwise", ow);
}

static json_t *rule_json(const struct rd_rules *rules, const struct rd_rule *rule, bool *oom)
{
        json_t *o = json_object();

        rd_jset(oom, o, "name", json_string(rule->name));
        rd_jset(oom, o, "line", json_integer((json_int_t)rule->line));
        rd_jset(oom, o, "when", when_json(&rule->when, oom));
        if (rule->action == RD_ACTION_FORWARD)
                rd_jset(oom, o, "forward",
                        target_json(rules, rule->forward_to, rule->forward_reason, oom));
        else
                assign_json(o, rules, rule, oom);
        return o;
}

json_t *rd_rules_show_json(const struct rd_rules *rules)
{
        json_t *o = json_object(), *def = json_object(), *rs = json_array();
        const int64_t *d[] = {&rules->window_s, &rules->accept_within_s, &rules->at_risk_s,
                              &rules->trajectory_s};
        static const char *const names[] = {"window", "accept_within", "at_risk", "trajectory"};
        char buf[RD_DURATION_STR];
        bool oom = false;

        rd_jset(&oom, o, "file", json_string(rules->source));
        rd_jset(&oom, o, "digest", json_string(rules->digest));
        for (size_t i = 0; i < 4; i++)
                rd_jset(&oom, def, names[i], json_string(rd_duration_format(*d[i], buf)));
        rd_jset(&oom, o, "defaults", def);
        for (size_t i = 0; rs && i < rules->n_rules; i++)
                rd_jpush(&oom, rs, rule_json(rules, &rules->rules[i], &oom));
        rd_jset(&oom, o, "rules", rs);
        if (oom) {
                json_decref(o);
                return NULL;
        }
        return o;
}
