/* trace_store.h: the decision trace as the store keeps it, and as `get`
 * and `referralctl explain` show it (docs/performance.md, cut 2).
 *
 * The store keeps the route record (route.h, struct rd_route_record), not
 * its JSON: a short line of ASCII letters and digits, made of whole
 * numbers only, that refers to the routing file which decided by indexes
 * (the file is the one of the row's rules_digest, whose text the database
 * keeps: routing_files.h). It is rendered into the JSON of
 * rd_route_trace_json, byte for byte, only when it is read.
 *
 * A trace stored before (JSON text, always an object: it begins with '{')
 * stays as it is: it is returned as it was kept, and erased as before.
 *
 * The compact form, version 1. Every value is a whole number written in
 * decimal with every digit but the last as a letter ('A' for 0 ... 'J' for
 * 9), so that no separator is needed: 0 is "0", 812 is "IB2". Signed
 * values (times) are zigzag-coded first (0, -1, 1, -2 ... as 0, 1, 2,
 * 3 ...). In this order:
 *
 *   version (1), flags (TRACE_F_*), action, status, rule;
 *   unless erased: pick, the number of rules tried, the key each failed on;
 *   forwarded: forward_to; assigned: connector;
 *   unless erased, for an assign rule: the number of candidates, then per
 *     candidate its connector, its reason code * 2 + 1 when overflow, its load;
 *   with a forecast: candidates, slots, waiting_ahead, the same three of
 *     the first rank and of the overflow rank, start_by (signed), found +
 *     2 expected_overflow + 4 within_window, and when found expected_start
 *     (signed).
 *
 * Rules, connectors, targets and `when` keys are indexes into the routing
 * file and its tables (route.h); teams and capacities are not kept: they
 * are the file's. An erased trace keeps only what erase keeps of a JSON
 * one (rule, action, decision, connector and team, forward_to): nothing
 * derived from the family's data. No I/O, no clock. */
#ifndef RD_TRACE_STORE_H
#define RD_TRACE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "route.h"
#include "rules.h"

#define RD_TRACE_VERSION 1

/* The compact trace of REC (a decision under some rules, which the
 * reader must have again) into BUF, SIZE bytes, NUL-terminated when SIZE >
 * 0. Returns the length of the whole text, without its NUL: when that is
 * SIZE or more, BUF holds only its beginning, and a buffer of the returned
 * length + 1 takes it whole. Writes nothing else, allocates nothing. */
size_t rd_trace_encode(const struct rd_route_record *rec, char *buf, size_t size);

/* Is STORED (a trace as the store keeps it, NUL-terminated) compact? When
 * not, it is JSON text (a trace kept before the compact form). */
bool rd_trace_is_compact(const char *stored);

/* Read the compact trace STORED, made under RULES, into *REC: the
 * decision's status, rule, connector, team (from RULES) and forward_to
 * (the rest of REC->decision zero), and everything rd_route_trace_json
 * reads, each candidate's capacity from RULES. *ERASED (may be NULL): it
 * is the trace of an erased referral (no rules tried, no candidates, no
 * forecast). Returns 0 (REC's arrays are the caller's: rd_route_record_clear),
 * -EBADMSG when STORED is not a compact trace of this version or does not
 * fit RULES (an index out of range), or -ENOMEM; REC is then untouched. */
int rd_trace_decode(const char *stored, const struct rd_rules *rules, struct rd_route_record *rec,
                    bool *erased);

/* The trace STORED as JSON, as `get` returns it: JSON text as it was
 * kept; a compact trace rendered under RULES (the routing file of the
 * row's rules_digest; may be NULL for JSON text) by rd_route_trace_json,
 * or for an erased referral {"rule", "action", "decision", "connector",
 * "team", "forward_to" (those that apply), "erased": true}. Returns 0 and
 * a new reference in *OUT, -EBADMSG when STORED cannot be read (or a
 * compact one without RULES, or not of them), or -ENOMEM. */
int rd_trace_json(const char *stored, const struct rd_rules *rules, json_t **out);

/* The trace of referral whose trace was STORED, once its personal data is
 * erased (protocol.md, erase): only which rule decided and how, nothing
 * derived from the family's data (why candidates were passed over, which
 * `when` keys failed), in the same form as STORED (JSON stays JSON text,
 * compact stays compact). Returns 0 and *OUT (malloc'ed text, the caller
 * frees), -EBADMSG when STORED cannot be read, or -ENOMEM. Needs no rules. */
int rd_trace_erased(const char *stored, char **out);

#endif
