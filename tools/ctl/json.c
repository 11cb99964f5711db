/* json.c: see json.h. */
#include "json.h"

#include "print.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *jstr(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

bool jint(const json_t *o, const char *key, json_int_t *out)
{
        json_t *v = json_object_get(o, key);

        if (!json_is_integer(v))
                return false;
        *out = json_integer_value(v);
        return true;
}

void print_json_line(const json_t *v)
{
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

        if (s) {
                puts(s);
                free(s);
        }
}

char *value_text(const json_t *v)
{
        if (json_is_string(v))
                return strdup(json_string_value(v));
        return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

json_t *read_json_object(const char *path, bool dash_is_stdin, const char *not_object)
{
        json_error_t jerr;
        json_t *o;

        if (dash_is_stdin && !strcmp(path, "-"))
                o = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
        else
                o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!o) {
                if (jerr.line > 0)
                        fault("%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
                else
                        fault("%s: %s", path, jerr.text);
                return NULL;
        }
        if (!json_is_object(o)) {
                fault("%s: %s", path, not_object);
                json_decref(o);
                return NULL;
        }
        return o;
}
