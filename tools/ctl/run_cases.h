/* run_cases.h: `rules test` on a cases file (cases.c; lib/cases.h is the
 * reader of the file). */
#ifndef RD_CTL_RUN_CASES_H
#define RD_CTL_RUN_CASES_H

#include "ctl.h"
#include "decide.h"

#include <stdint.h>

/* Read the cases file at PATH, decide every case under RULES from BASE
 * (the state of a database copy, or NULL: empty loads) with each case's
 * loads and declines, at the case's `at` or else AT, and print a line a
 * case (with --json a JSON object a case) and the trace of each mismatch.
 * Nothing is decided when the file has errors: each is printed as
 * FILE:LINE:COL. Returns EXIT_OK when every case matched, else
 * EXIT_FAULT. */
int run_cases(const struct ctl *c, const char *path, const struct rd_rules *rules,
              const struct test_state *base, int64_t at);

#endif
