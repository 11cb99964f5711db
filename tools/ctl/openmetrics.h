/* openmetrics.h: `referralctl stats --openmetrics`: the figures of a
 * `stats` reply in the OpenMetrics text format (1.0), for node_exporter's
 * textfile collector (docs/operations.md, "Monitoring"; docs/tools.md says
 * which metrics). */
#ifndef RD_CTL_OPENMETRICS_H
#define RD_CTL_OPENMETRICS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

/* Write the metrics of the `stats` reply STATS (borrowed) on F, each
 * family with its TYPE, UNIT (where it has one) and HELP lines, label
 * values escaped, `# EOF` last. NOW_MS (milliseconds since the epoch) is
 * the time the waitlist's oldest age is counted to. Figures missing from
 * STATS (an older daemon) leave their family without samples. */
void print_openmetrics(FILE *f, const json_t *stats, int64_t now_ms);

#endif
