/* report_html.h: the weekly report as one self-contained HTML page
 * (tools.md, "HTML output"; `referralctl report --html`), written with
 * lib/html and lib/svgchart from the report's object (report.h): its
 * figures, and charts of the waiting list and of the load per connector
 * over the period and of the times to start, each with its figures in a
 * table. What the report holds is all it shows: ids of connectors, teams
 * and forward targets, the routing file's name and digest, and figures; no
 * personal data. No I/O: the caller writes the text. */
#ifndef RD_REPORT_HTML_H
#define RD_REPORT_HTML_H

#include <jansson.h>
#include <stddef.h>

/* REP (borrowed; rd_report_finish's or rd_report_from_store's object) as a
 * page: 0 and the NUL-terminated text in *OUT (the caller frees it) and its
 * length in *LEN (may be NULL), or a negative errno (-ENOMEM; -EINVAL for
 * an object that is not such a report). */
int rd_report_html(const json_t *rep, char **out, size_t *len);

#endif
