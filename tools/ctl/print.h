/* print.h: the text forms of the daemon's replies and events that more
 * than one command prints, and referralctl's own error messages. A form
 * that only one command prints stays in that command's file. */
#ifndef RD_CTL_PRINT_H
#define RD_CTL_PRINT_H

#include "ctl.h"

#include "json.h"

#include <jansson.h>

#include "diag.h"

/* "error: MESSAGE" on stderr: a fault of this run (not a reply). */
void fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* An `ok: false` reply as "error: CODE: FIELD: MESSAGE" on stderr. */
void print_error_reply(const json_t *reply);

/* Every diagnostic of DIAG (errors and warnings), a line each, to stderr. */
void print_diag(const struct rd_diag *diag);

/* "R000001 assigned to kelly (team genk, rule family-by-region), start by
 * 2026-12-23T10:00:00Z" and the like, from the decision fields of a
 * reply (submit, get, update) or an event, with its attention when it
 * waits for a coordinator; no newline. */
void print_decision(const json_t *o);

/* ATTENTION ("all_declined", "no_candidate") in words, for a person. */
const char *attention_words(const char *attention);

/* The `reasons` of a get reply, a line each after "reasons:" (nothing when
 * there are none). */
void print_reasons(const json_t *reasons);

/* print_decision(), a note when it is a submit's duplicate, a newline. */
void print_decision_line(const json_t *o);

/* "42 2026-11-23T10:00:00.123Z referral.assigned R000001 ocmw-genk/REF-1
 * status=assigned rule=family-by-region team=genk connector=kelly ...":
 * the fixed fields, then every other field as key=value, in the order
 * the daemon sent them; a newline. */
void print_event(const json_t *ev);

/* EV as a JSON line with --json, else as print_event(). */
void emit_event(const struct ctl *c, const json_t *ev);

#endif
