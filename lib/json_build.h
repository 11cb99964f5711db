/* json_build.h: building a JSON value in many small steps, with one check
 * for running out of memory at the end (the decision trace, `rules show`).
 * Each step takes a new reference V and never fails loudly: a NULL V or a
 * NULL container (out of memory earlier) sets *OOM, and V is released. */
#ifndef RD_JSON_BUILD_H
#define RD_JSON_BUILD_H

#include <jansson.h>
#include <stdbool.h>

/* Set KEY of object O to V (stolen). */
static inline void rd_jset(bool *oom, json_t *o, const char *key, json_t *v)
{
        if (!o) {
                json_decref(v);
                *oom = true;
                return;
        }
        if (!v || json_object_set_new(o, key, v) < 0)
                *oom = true;
}

/* Append V (stolen) to array A. */
static inline void rd_jpush(bool *oom, json_t *a, json_t *v)
{
        if (!a) {
                json_decref(v);
                *oom = true;
                return;
        }
        if (!v || json_array_append_new(a, v) < 0)
                *oom = true;
}

#endif
