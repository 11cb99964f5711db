/* words.h: a decision explained in plain words (rules test, explain).
 *
 * Both commands print from the same JSON: the trace of rd_route_decide
 * (as the daemon stores it) and the decision fields of a reply (status,
 * rule, team, connector, start_by, expected_start, offer_expires,
 * forward_to, reason). */
#ifndef RD_CTL_WORDS_H
#define RD_CTL_WORDS_H

#include "rules.h"

#include <jansson.h>

/* The whole explanation of TRACE for a person, on stdout: the rules
 * tried, the candidates and why each was passed over, the forecast, the
 * decision with its times and reason from DEC (when its status is the
 * trace's decision). RULES, when known (rules test), adds names; may be
 * NULL (explain). */
void print_trace_words(const json_t *trace, const json_t *dec, const struct rd_rules *rules);

#endif
