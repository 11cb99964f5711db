/* replay.c: a replay (replay.h): a run under each routing file over the
 * same referrals, their figures side by side, and the referrals whose
 * first decision differs. */
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
        r = run_init(&run, rules, &src, RD_REPLAY_SYNTH_START_MS, synth_source_end(m),
                     o->scratch_dir, errbuf, errsize);
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
