/* rules_diff.h: what differs between two routing files, as a coordinator
 * reads it (tools.md, `rules diff`: "the rules, teams and connectors that
 * differ"). Each part of a file (its defaults, each team, connector,
 * forward target and rule, and the order of the rules) is rendered as a
 * JSON object of its settings, with sets sorted and durations written as
 * routing.md writes them; two files differ where those differ. So the same
 * routing written differently (`teams: genk` and `teams: [genk]`) does not
 * differ, and each difference names its key with the value before and
 * after. Pure: no I/O. */
#ifndef RD_RULES_DIFF_H
#define RD_RULES_DIFF_H

#include <jansson.h>

#include "rules.h"

/* The differences from OLD to NEW: a new JSON array (the caller's), NULL
 * when out of memory. Each item is
 *
 *   {"kind": "defaults" | "team" | "connector" | "forward_target" | "rule"
 *            | "order",
 *    "id": the id (a rule's name; "defaults"; "rules" for the order),
 *    "change": "added" | "removed" | "changed",
 *    "what": [{"key", "before", "after"}]}      (changed only)
 *
 * where a key is a setting as routing.md names it ("capacity",
 * "when.postcode", "assign.teams", "window", ...) and before and after are
 * its values (null where not set). Kinds come in the order above; within a
 * kind, NEW's file order, then what OLD alone has, in its order. "order"
 * is there when the rules both files have are tried in another order
 * (its key "rules", the names in each file's order). Empty when both route
 * alike. */
json_t *rd_rules_diff(const struct rd_rules *old, const struct rd_rules *new_rules);

#endif
