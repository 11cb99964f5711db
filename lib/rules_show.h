/* rules_show.h: a loaded routing file as a coordinator reads it (routing.md
 * rev 2, `referralctl rules show FILE [--json]`): rule by rule, in the order
 * they are tried, what each matches and where it sends: the forward target
 * with its name and reason, or the teams (with their postcodes) and their
 * connectors (capacity, skills, languages), the overflow teams, how the
 * connector is picked and what happens otherwise.
 *
 * Both forms say the same; the text is for people, the JSON for scripts.
 * Nothing is worked out that the file does not say (no loads, no
 * decisions). No clock, no logging; the text goes to a stream the caller
 * gives. */
#ifndef RD_RULES_SHOW_H
#define RD_RULES_SHOW_H

#include <jansson.h>
#include <stdio.h>

#include "rules.h"

/* Write RULES (borrowed) as text to OUT. Returns 0, or -EIO when writing
 * failed (ferror on OUT). */
int rd_rules_show_text(const struct rd_rules *rules, FILE *out);

/* RULES (borrowed) as a new JSON object (caller owns), or NULL when out
 * of memory:
 *   {"file", "digest", "defaults": {"window", "accept_within", "at_risk",
 *    "trajectory"}, "rules": [RULE...]}
 * RULE: {"name", "line", "when": {the `when` keys given, each as a list
 * ("age" as "a-b", "concerns" as {"any", "all", "none"})}, then either
 * "forward": TARGET, or "assign": {"teams": [TEAM...], "overflow":
 * [TEAM...], "by_postcode", "skill" (null: the referral's kind),
 * "language", "pick", "window", "accept_within"} and "otherwise":
 * "waitlist" or {"forward": TARGET}}. TEAM: {"id", "postcodes" (null: none),
 * "connectors": [{"id", "capacity", "skills", "languages"}...]}. TARGET:
 * {"to", "name", "reason"}. Durations as routing.md writes them ("30d"),
 * postcodes as strings ("3600", "3660-3668"). */
json_t *rd_rules_show_json(const struct rd_rules *rules);

#endif
