/* replay.c: a replay (replay.h): a run under each routing file over the
 * same referrals (or, from history without --against, a run beside the
 * history as recorded), their figures side by side, and the referrals
 * whose first decision differs. */
#include "replay_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rd_replay_result_free(struct rd_replay_result *r)
{
        if (!r)
                return;
        rd_figures_free(r->baseline.figures);
        rd_figures_free(r->candidate.figures);
        json_decref(r->changes);
        free(r);
}

/* SIDE names RULES. */
static void side_name(struct rd_replay_side *side, const struct rd_rules *rules)
{
        snprintf(side->digest, sizeof side->digest, "%s", rules->digest);
        snprintf(side->source, sizeof side->source, "%s", rules->source ? rules->source : "");
}

/* Model M replayed under RULES (taken over) into SIDE. */
static int synthetic_side(const struct rd_synth_model *m, struct rd_rules *rules,
                          const struct rd_replay_options *o, struct rd_replay_side *side,
                          char *errbuf, size_t errsize)
{
        struct synth_source s;
        const struct replay_source src = {&synth_source_ops, &s};
        struct replay_run run;
        int r;

        side_name(side, rules);
        r = run_init(&run, rules, &src, RD_REPLAY_SYNTH_START_MS, synth_source_end(m), errbuf,
                     errsize);
        if (r < 0)
                return r;
        r = synth_source_start(&s, m, o->seed, &run);
        if (r < 0)
                replay_fail(errbuf, errsize, r, "out of memory");
        else
                r = run_go(&run);
        if (r == 0)
                side->figures = run_take_figures(&run);
        run_free(&run);
        return r;
}

/* The changes between the two sides of RES. */
static int compare(struct rd_replay_result *res, char *errbuf, size_t errsize)
{
        int r = rd_figures_changes(res->baseline.figures, res->candidate.figures, &res->changes,
                                   &res->changed);

        if (r == -EINVAL)
                return replay_fail(errbuf, errsize, -EPROTO,
                                   "the two runs did not receive the same referrals");
        if (r < 0)
                return replay_fail(errbuf, errsize, r, "out of memory");
        return 0;
}

int rd_replay_synthetic(const struct rd_synth_model *m, struct rd_rules *baseline,
                        struct rd_rules *candidate, const struct rd_replay_options *opts,
                        struct rd_replay_result **out, char *errbuf, size_t errsize)
{
        struct rd_replay_result *res = calloc(1, sizeof *res);
        int r = res ? 0 : replay_fail(errbuf, errsize, -ENOMEM, "out of memory");

        if (r == 0) {
                res->seed = opts->seed;
                res->start_ms = RD_REPLAY_SYNTH_START_MS;
                res->end_ms = synth_source_end(m);
                r = synthetic_side(m, baseline, opts, &res->baseline, errbuf, errsize);
        } else {
                rd_rules_free(baseline);
        }
        baseline = NULL;
        if (r == 0)
                r = synthetic_side(m, candidate, opts, &res->candidate, errbuf, errsize);
        else
                rd_rules_free(candidate);
        if (r == 0)
                r = compare(res, errbuf, errsize);
        if (r < 0) {
                rd_replay_result_free(res);
                return r;
        }
        *out = res;
        return 0;
}

/* History H replayed under RULES (taken over) into SIDE. */
static int history_side(const struct replay_history *h, struct rd_rules *rules, uint64_t seed,
                        struct rd_replay_side *side, char *errbuf, size_t errsize)
{
        struct hist_source s = {0};
        const struct replay_source src = {&hist_source_ops, &s};
        struct replay_run run;
        int r;

        side_name(side, rules);
        r = run_init(&run, rules, &src, h->from_ms, h->to_ms, errbuf, errsize);
        if (r < 0)
                return r;
        r = hist_source_start(&s, h, seed, rd_hub_rules(run.hub), &run);
        if (r == 0)
                r = run_go(&run);
        if (r == 0)
                side->figures = run_take_figures(&run);
        run_free(&run);
        hist_source_free(&s);
        return r;
}

int rd_replay_history(struct rd_store *store, struct rd_rules *candidate, struct rd_rules *baseline,
                      int64_t from_ms, int64_t to_ms, const struct rd_replay_options *opts,
                      struct rd_replay_result **out, char *errbuf, size_t errsize)
{
        struct rd_replay_result *res = calloc(1, sizeof *res);
        struct replay_history h = {0};
        int r = res ? 0 : replay_fail(errbuf, errsize, -ENOMEM, "out of memory");

        errbuf[0] = '\0';
        if (r == 0)
                r = hist_read(&h, store, from_ms, to_ms, errbuf, errsize);
        if (r == 0) {
                res->seed = opts->seed;
                res->start_ms = h.from_ms;
                res->end_ms = h.to_ms;
                res->skipped_erased = h.skipped_erased;
                r = baseline ? history_side(&h, baseline, opts->seed, &res->baseline, errbuf,
                                            errsize)
                             : recorded_figures(&h, &res->baseline.figures, errbuf, errsize);
        } else {
                rd_rules_free(baseline);
        }
        if (r == 0)
                r = history_side(&h, candidate, opts->seed, &res->candidate, errbuf, errsize);
        else
                rd_rules_free(candidate);
        if (r == 0)
                r = compare(res, errbuf, errsize);
        hist_free(&h);
        if (r < 0) {
                rd_replay_result_free(res);
                return r;
        }
        *out = res;
        return 0;
}

json_t *rd_replay_json(const struct rd_replay_result *r)
{
        json_t *o = json_object();

        if (!o || json_object_set_new(o, "baseline", rd_figures_json(r->baseline.figures)) ||
            json_object_set_new(o, "candidate", rd_figures_json(r->candidate.figures)) ||
            json_object_set_new(o, "changed", json_integer((json_int_t)r->changed)) ||
            json_object_set(o, "changes", r->changes) ||
            json_object_set_new(o, "skipped_erased", json_integer((json_int_t)r->skipped_erased)) ||
            json_object_set_new(o, "seed", json_integer((json_int_t)r->seed))) {
                json_decref(o);
                return NULL;
        }
        return o;
}
