/* words.c: see words.h. */
#include "words.h"

#include "print.h"
#include "timefmt.h"

#include <stdio.h>
#include <string.h>

static const char *failed_key_words(const char *key)
{
        static const struct {
                const char *key, *words;
        } words[] = {
                {"kind", "the kind of help asked for is not one this rule takes"},
                {"urgency", "the urgency is not one this rule takes"},
                {"partner", "the referring partner is not in the rule's list"},
                {"postcode", "the postcode is not in the rule's postcodes"},
                {"age", "no child's age is in the rule's age range"},
                {"language", "the family's language is not in the rule's list"},
                {"concerns", "the concerns do not fit the rule's concerns"},
        };

        for (size_t i = 0; key && i < sizeof words / sizeof words[0]; i++)
                if (!strcmp(key, words[i].key))
                        return words[i].words;
        return "a condition of the rule does not fit";
}

static const char *ms_text(const json_t *v, char buf[RD_TIME_STR])
{
        if (!json_is_integer(v))
                return NULL;
        return rd_time_format((int64_t)json_integer_value(v), buf);
}

static const char *target_name(const struct rd_rules *rules, const char *id)
{
        ssize_t i = rules && id ? rd_rules_target_index(rules, id) : -1;

        return i >= 0 ? rules->targets[i].name : NULL;
}

/* "Decision: assigned to kelly of team genk, ..." from TRACE; the times
 * and the reason come from DEC (decision fields) when its status is the
 * trace's decision. */
static void print_decision_words(const json_t *trace, const json_t *dec,
                                 const struct rd_rules *rules, const char *lead)
{
        const char *decision = jstr(trace, "decision");
        const char *dstatus = jstr(dec, "status");
        const json_t *times = decision && dstatus && !strcmp(decision, dstatus) ? dec : NULL;
        const char *start_by = jstr(times, "start_by");
        const char *expires = jstr(times, "offer_expires");
        const char *expected = jstr(times, "expected_start");
        const char *reason = jstr(times, "reason");
        const char *to = jstr(trace, "forward_to");
        const char *name = target_name(rules, to);

        if (!decision) {
                printf("%s: unknown\n", lead);
        } else if (!strcmp(decision, "assigned")) {
                printf("%s: assigned to %s of team %s", lead,
                       jstr(trace, "connector") ? jstr(trace, "connector") : "?",
                       jstr(trace, "team") ? jstr(trace, "team") : "?");
                if (jstr(trace, "rank") && !strcmp(jstr(trace, "rank"), "overflow"))
                        printf(" (overflow: nobody of the rule's own teams was free)");
                if (start_by)
                        printf(", start by %s", start_by);
                if (expires)
                        printf(" (the offer expires %s)", expires);
                printf(".\n");
        } else if (!strcmp(decision, "waitlisted")) {
                printf("%s: waitlisted", lead);
                if (start_by)
                        printf(", start by %s", start_by);
                if (expected)
                        printf(", expected start %s", expected);
                else if (times)
                        printf(", no expected start");
                printf(".\n");
        } else if (!strcmp(decision, "forwarded")) {
                printf("%s: forwarded to %s", lead, to ? to : "?");
                if (name)
                        printf(" (%s)", name);
                if (reason && *reason)
                        printf(", reason: %s", reason);
                printf(".\n");
        } else {
                printf("%s: %s.\n", lead, decision);
        }
}

static void print_candidate_words(const json_t *cand, bool someone_chosen, const char *pick)
{
        const char *id = jstr(cand, "connector"), *team = jstr(cand, "team");
        const char *why = jstr(cand, "passed_over");
        json_int_t load = 0, cap = 0;
        bool has_room;

        const char *rank = jstr(cand, "rank");

        jint(cand, "load", &load);
        jint(cand, "capacity", &cap);
        has_room = load < cap;
        printf("  %s (team %s%s, load %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT "): ",
               id ? id : "?", team ? team : "?",
               rank && !strcmp(rank, "overflow") ? ", overflow" : "", load, cap);
        if (json_is_true(json_object_get(cand, "chosen"))) {
                printf("chosen\n");
                return;
        }
        printf("passed over: ");
        if (!why)
                printf("no reason given\n");
        else if (!strcmp(why, "full"))
                printf("full (no place free)\n");
        else if (!strcmp(why, "postcode"))
                printf("postcode (the team does not serve the family's postcode)\n");
        else if (!strcmp(why, "skill"))
                printf("wrong skill (does not have the skill the rule asks for)\n");
        else if (!strcmp(why, "language") && has_room && someone_chosen)
                printf("language (does not speak the family's language; someone who does "
                       "was free)\n");
        else if (!strcmp(why, "language"))
                printf("language (does not speak the family's language)\n");
        else if (!strcmp(why, "declined"))
                printf("declined (declined this referral or let its offer expire)\n");
        else if (!strcmp(why, "not_picked") && pick && !strcmp(pick, "round_robin"))
                printf("not picked (free, but it was another connector's turn)\n");
        else if (!strcmp(why, "not_picked"))
                printf("not picked (free, but another was less loaded, or as loaded with "
                       "fewer offers so far)\n");
        else if (!strcmp(why, "first_rank_free"))
                printf("overflow (free, but a connector of the rule's own teams was free "
                       "and goes first)\n");
        else
                printf("%s\n", why);
}

/* How the rule RULE came to decide: the rules tried before it, or that it
 * decided again. */
static void print_rules_tried(const json_t *trace, const char *rule)
{
        const json_t *v;
        size_t i, n = 0;

        if (json_is_true(json_object_get(trace, "redecided_by_rule"))) {
                printf("Decided again by rule %s (after a decline, an expired offer or a place "
                       "coming free; its conditions were not tried again).\n",
                       rule ? rule : "?");
                return;
        }
        printf("Rules tried, top to bottom:\n");
        json_array_foreach(json_object_get(trace, "rules_tried"), i, v)
        {
                printf("  %zu. %s: does not apply: %s (%s)\n", ++n,
                       jstr(v, "rule") ? jstr(v, "rule") : "?",
                       jstr(v, "failed") ? jstr(v, "failed") : "?",
                       failed_key_words(jstr(v, "failed")));
        }
        printf("  %zu. %s: applies and decides\n", ++n, rule ? rule : "?");
}

/* What the rule does: forward, or assign among the candidates of TRACE. */
static void print_action(const json_t *trace, const char *rule)
{
        const json_t *cands = json_object_get(trace, "candidates");
        const char *action = jstr(trace, "action"), *pick = jstr(trace, "pick");
        const json_t *v;
        bool chosen = false;
        size_t i;

        if (action && !strcmp(action, "forward")) {
                printf("Rule %s forwards every referral it takes.\n", rule ? rule : "?");
        } else if (action) {
                printf("Rule %s assigns (pick: %s). Candidates, in file order:\n",
                       rule ? rule : "?",
                       pick && !strcmp(pick, "round_robin") ? "round robin" : "least loaded");
                json_array_foreach(cands, i, v) chosen |=
                        json_is_true(json_object_get(v, "chosen"));
                json_array_foreach(cands, i, v) print_candidate_words(v, chosen, pick);
                if (!json_array_size(cands))
                        printf("  (none: the rule's teams have no connectors)\n");
        }
}

/* The forecast FC of a referral nobody could take now. */
/* With overflow, the places and the families ahead of each rank. */
static void print_forecast_ranks(const json_t *fc)
{
        const json_t *f1 = json_object_get(fc, "first"), *f2 = json_object_get(fc, "overflow");
        json_int_t s1 = 0, s2 = 0, a1 = 0, a2 = 0;

        if (!json_is_object(f1) || !json_is_object(f2))
                return;
        jint(f1, "slots", &s1);
        jint(f1, "waiting_ahead", &a1);
        jint(f2, "slots", &s2);
        jint(f2, "waiting_ahead", &a2);
        printf("(own teams: %" JSON_INTEGER_FORMAT " place(s), %" JSON_INTEGER_FORMAT
               " family(ies) ahead; overflow: %" JSON_INTEGER_FORMAT
               " place(s), %" JSON_INTEGER_FORMAT " family(ies) ahead) ",
               s1, a1, s2, a2);
}

static void print_forecast(const json_t *fc)
{
        json_int_t nc = 0, slots = 0, ahead = 0;
        char b1[RD_TIME_STR], b2[RD_TIME_STR];
        const char *exp = ms_text(json_object_get(fc, "expected_start"), b1);
        const char *by = ms_text(json_object_get(fc, "start_by"), b2);
        bool within = json_is_true(json_object_get(fc, "within_window"));
        const char *rank = jstr(fc, "expected_rank");
        bool overflow = rank && !strcmp(rank, "overflow");

        jint(fc, "candidates", &nc);
        jint(fc, "slots", &slots);
        jint(fc, "waiting_ahead", &ahead);
        if (nc == 0) {
                printf("Nobody could take it: every candidate was passed over, so "
                       "there is no forecast.\n");
                return;
        }
        printf("Nobody was free. Forecast: %" JSON_INTEGER_FORMAT
               " candidate(s), %" JSON_INTEGER_FORMAT " place(s) coming free, %" JSON_INTEGER_FORMAT
               " family(ies) waiting ahead; ",
               nc, slots, ahead);
        print_forecast_ranks(fc);
        if (exp)
                printf("the next place for this family comes free %s%s, %s the "
                       "start-by date %s: %s.\n",
                       exp, overflow ? " at an overflow team" : "",
                       within ? "before" : "not before", by ? by : "?",
                       within ? "within the window" : "not within the window");
        else
                printf("no place is expected to come free for this family "
                       "(start by %s): not within the window.\n",
                       by ? by : "?");
}

void print_trace_words(const json_t *trace, const json_t *dec, const struct rd_rules *rules)
{
        const json_t *fc = json_object_get(trace, "forecast");
        const char *rule = jstr(trace, "rule"), *otherwise = jstr(trace, "otherwise");

        print_rules_tried(trace, rule);
        print_action(trace, rule);
        if (json_is_object(fc))
                print_forecast(fc);
        if (otherwise)
                printf("So the rule's otherwise applies: %s.\n",
                       !strcmp(otherwise, "forward") ? "forward"
                                                     : "waitlist (the family waits anyway)");
        print_decision_words(trace, dec, rules, "Decision");
}
