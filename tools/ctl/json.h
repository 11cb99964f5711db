/* json.h: small JSON helpers of referralctl: a field of a reply, a value
 * as text, a reply as one line, a JSON file as input. */
#ifndef RD_CTL_JSON_H
#define RD_CTL_JSON_H

#include <jansson.h>
#include <stdbool.h>

/* The string at KEY of O (borrowed), or NULL when there is none. */
const char *jstr(const json_t *o, const char *key);

/* true with *OUT set when KEY of O is an integer. */
bool jint(const json_t *o, const char *key, json_int_t *out);

/* V as compact JSON and a newline on stdout (--json). */
void print_json_line(const json_t *v);

/* A field's value as text (the caller frees it): a string as it is,
 * anything else as compact JSON; NULL when out of memory. */
char *value_text(const json_t *v);

/* The JSON object in the file at PATH ("-": stdin, when DASH_IS_STDIN),
 * duplicate keys refused; owned by the caller. NULL after an error,
 * printed as "error: PATH:LINE:COLUMN: ..." or, when it is not an object,
 * "error: PATH: NOT_OBJECT". */
json_t *read_json_object(const char *path, bool dash_is_stdin, const char *not_object);

#endif
