/* rules_values.c: the values of routing.md (rules_impl.h): texts, ids,
 * postcodes, ages and lists of words, each with the message that says what
 * is wrong with it. How a value is read from the YAML is lib/yaml_reader. */
#include "rules_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *rules_strdup(struct rules_ctx *c, const char *s)
{
        char *d = strdup(s);

        if (!d)
                c->oom = true;
        return d;
}

void *rules_push(struct rules_ctx *c, void *p, size_t *n, size_t size)
{
        void **pp = p;
        char *q;

        q = realloc(*pp, (*n + 1) * size);
        if (!q) {
                c->oom = true;
                return NULL;
        }
        *pp = q;
        memset(q + *n * size, 0, size);
        return q + (*n)++ * size;
}

/* ---- lists ------------------------------------------------------------- */

yaml_node_t **rules_items(struct rules_ctx *c, yaml_node_t *n, const char *what, bool allow_empty,
                          size_t *count, bool *ok)
{
        size_t total = rd_yaml_count(n), m = 0;
        yaml_node_t **v;

        *count = 0;
        *ok = true;
        if (rd_yaml_is_null(n) || (n->type == YAML_SEQUENCE_NODE && total == 0)) {
                if (!allow_empty) {
                        rd_yaml_error(c->y, n, "%s: give at least one value", what);
                        *ok = false;
                }
                return NULL;
        }
        if (n->type == YAML_MAPPING_NODE) {
                *ok = rd_yaml_expected(c->y, n, what, "a value or a list of values");
                return NULL;
        }
        v = calloc(n->type == YAML_SCALAR_NODE ? 1 : total, sizeof *v);
        if (!v) {
                c->oom = true;
                *ok = false;
                return NULL;
        }
        if (n->type == YAML_SCALAR_NODE) {
                v[0] = n;
                *count = 1;
                return v;
        }
        for (size_t i = 0; i < total; i++) {
                yaml_node_t *x = rd_yaml_item(c->y, n, i);

                if (!x)
                        continue;
                if (x->type != YAML_SCALAR_NODE) {
                        *ok = rd_yaml_expected(c->y, x, what, "a single value");
                        continue;
                }
                v[m++] = x;
        }
        *count = m;
        if (m == 0) {
                free(v);
                v = NULL;
        }
        return v;
}

bool rules_list(struct rules_ctx *c, yaml_node_t *n, const char *what)
{
        if (rd_yaml_is_null(n))
                return false;
        if (n->type != YAML_SEQUENCE_NODE)
                return rd_yaml_expected(c->y, n, what, "a list");
        return true;
}

/* ---- single values ----------------------------------------------------- */

bool rules_text(struct rules_ctx *c, yaml_node_t *n, const char *what, char **out)
{
        const char *s = rd_yaml_text(c->y, n, what);

        if (!s)
                return false;
        free(*out);
        *out = rules_strdup(c, s);
        return *out != NULL;
}

bool rules_id(struct rules_ctx *c, yaml_node_t *n, const char *what, char out[RD_ID_MAX + 1])
{
        const char *s = rd_yaml_text(c->y, n, what);

        if (!s)
                return false;
        /* an invalid id is kept too, for later messages and look-ups, so
         * that one bad id does not also make every reference to it unknown */
        snprintf(out, RD_ID_MAX + 1, "%s", s);
        if (!rd_id_valid(s)) {
                rd_yaml_error(c->y, n,
                              "%s: '%s' is not a valid id: use lowercase letters, digits, '-' and "
                              "'_', starting with a letter or digit, at most 64 characters",
                              what, s);
                return false;
        }
        return true;
}

bool rules_bool(struct rules_ctx *c, yaml_node_t *n, const char *what, bool *out)
{
        const char *s = rd_yaml_str(n);

        if (s && !strcmp(s, "true")) {
                *out = true;
                return true;
        }
        if (s && !strcmp(s, "false")) {
                *out = false;
                return true;
        }
        rd_yaml_error(c->y, n, "%s: expected true or false", what);
        return false;
}

/* ---- postcodes --------------------------------------------------------- */

static bool parse_postcode(const char *s, size_t len, uint16_t *out)
{
        unsigned v = 0;

        if (len != 4)
                return false;
        for (size_t i = 0; i < 4; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        if (v < 1000 || v > 9999)
                return false;
        *out = (uint16_t)v;
        return true;
}

/* One postcode or range S into *R; false after reporting at N. */
static bool postcode_range(struct rules_ctx *c, yaml_node_t *n, const char *what, const char *s,
                           struct rd_postcode_range *r)
{
        const char *dash = strchr(s, '-');

        if (!dash) {
                if (parse_postcode(s, strlen(s), &r->lo)) {
                        r->hi = r->lo;
                        return true;
                }
                rd_yaml_error(c->y, n,
                              "%s: bad postcode '%s': a postcode is 4 digits from 1000 to 9999",
                              what, s);
                return false;
        }
        if (!parse_postcode(s, (size_t)(dash - s), &r->lo) ||
            !parse_postcode(dash + 1, strlen(dash + 1), &r->hi)) {
                rd_yaml_error(c->y, n,
                              "%s: bad postcode range '%s': write \"lo-hi\" with two postcodes "
                              "of 4 digits from 1000 to 9999, like \"3660-3668\"",
                              what, s);
                return false;
        }
        if (r->lo > r->hi) {
                rd_yaml_error(c->y, n,
                              "%s: bad postcode range '%s': the first postcode is greater than "
                              "the last",
                              what, s);
                return false;
        }
        return true;
}

bool rules_postcodes(struct rules_ctx *c, yaml_node_t *n, const char *what, bool allow_empty,
                     struct rd_postcode_range **out, size_t *nout, struct rd_yaml_pos **marks)
{
        size_t count, m = 0;
        bool ok;
        yaml_node_t **v = rules_items(c, n, what, allow_empty, &count, &ok);
        struct rd_postcode_range *r = NULL;
        struct rd_yaml_pos *mk = NULL;

        if (count) {
                r = calloc(count, sizeof *r);
                mk = calloc(count, sizeof *mk);
                if (!r || !mk) {
                        c->oom = true;
                        ok = false;
                        count = 0;
                }
        }
        for (size_t i = 0; i < count; i++) {
                if (!postcode_range(c, v[i], what, rd_yaml_str(v[i]), &r[m])) {
                        ok = false;
                        continue;
                }
                mk[m++] = rd_yaml_pos(v[i]);
        }
        free(v);
        if (m == 0) {
                free(r);
                free(mk);
                r = NULL;
                mk = NULL;
        }
        free(*out);
        *out = r;
        *nout = m;
        if (marks)
                *marks = mk;
        else
                free(mk);
        return ok;
}

/* ---- lists of words ---------------------------------------------------- */

static bool valid_language(const char *s)
{
        size_t n = strlen(s);

        if (n < 2 || n > 3)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < 'a' || s[i] > 'z')
                        return false;
        return true;
}

static bool valid_tag(const char *s)
{
        size_t n = strlen(s);

        if (n < 1 || n > RD_TAG_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
                        return false;
        return true;
}

/* Is S a word of KIND? Else reported at N. */
static bool valid_word(struct rules_ctx *c, yaml_node_t *n, const char *what, enum rules_word kind,
                       const char *s)
{
        switch (kind) {
        case RULES_WORD_ID:
                if (rd_id_valid(s) == 1)
                        return true;
                rd_yaml_error(c->y, n,
                              "%s: '%s' is not a valid name: use lowercase letters, digits, '-' "
                              "and '_', at most 64 characters",
                              what, s);
                return false;
        case RULES_WORD_LANGUAGE:
                if (valid_language(s))
                        return true;
                rd_yaml_error(c->y, n,
                              "%s: '%s' is not a language code: use 2 or 3 lowercase letters, "
                              "like nl",
                              what, s);
                return false;
        case RULES_WORD_TAG:
                if (valid_tag(s))
                        return true;
                rd_yaml_error(c->y, n,
                              "%s: '%s' is not a concern tag: use lowercase letters, digits and "
                              "'_', at most 64 characters",
                              what, s);
                return false;
        }
        return false;
}

bool rules_strlist(struct rules_ctx *c, yaml_node_t *n, const char *what, enum rules_word kind,
                   bool allow_empty, struct rd_strlist *out)
{
        size_t count;
        bool ok;
        yaml_node_t **v = rules_items(c, n, what, allow_empty, &count, &ok);

        rules_strlist_free(out);
        if (count) {
                out->v = calloc(count, sizeof *out->v);
                if (!out->v) {
                        c->oom = true;
                        free(v);
                        return false;
                }
        }
        for (size_t i = 0; i < count; i++) {
                const char *s = rd_yaml_str(v[i]);

                if (!valid_word(c, v[i], what, kind, s)) {
                        ok = false;
                        continue;
                }
                if (rules_strlist_has(out, s))
                        continue;
                out->v[out->n] = rules_strdup(c, s);
                if (!out->v[out->n]) {
                        ok = false;
                        break;
                }
                out->n++;
        }
        free(v);
        return ok;
}

bool rules_bits(struct rules_ctx *c, yaml_node_t *n, const char *what, const char *const *names,
                size_t nnames, unsigned *bits)
{
        size_t count;
        bool ok;
        yaml_node_t **v = rules_items(c, n, what, false, &count, &ok);

        *bits = 0;
        for (size_t i = 0; i < count; i++) {
                int idx;

                if (rd_yaml_enum(c->y, v[i], what, names, nnames, &idx))
                        *bits |= 1u << idx;
                else
                        ok = false;
        }
        free(v);
        return ok;
}

/* ---- ages -------------------------------------------------------------- */

/* Up to two digits at *S; advances *S. */
static bool age_number(const char **s, unsigned *out)
{
        unsigned v = 0, n = 0;

        while (**s >= '0' && **s <= '9' && n < 3) {
                v = v * 10 + (unsigned)(**s - '0');
                (*s)++;
                n++;
        }
        *out = v;
        return n >= 1 && n <= 2;
}

bool rules_age(struct rules_ctx *c, yaml_node_t *n, struct rd_when *w)
{
        const char *s = rd_yaml_str(n), *p = s;
        unsigned lo = 0, hi = 0;
        bool ok = s && age_number(&p, &lo);

        if (ok && *p == '-') {
                p++;
                ok = age_number(&p, &hi);
        } else {
                hi = lo; /* a single age: "7" */
        }
        if (!ok || *p) {
                rd_yaml_error(c->y, n,
                              "age: expected \"a-b\" with ages from 0 to %d, like \"0-25\"",
                              RD_AGE_MAX);
                return false;
        }
        if (hi > RD_AGE_MAX || lo > RD_AGE_MAX) {
                rd_yaml_error(c->y, n, "age: '%s': ages run from 0 to %d", s, RD_AGE_MAX);
                return false;
        }
        if (lo > hi) {
                rd_yaml_error(c->y, n, "age: '%s': the first age is greater than the last", s);
                return false;
        }
        w->has_age = true;
        w->age_lo = (uint8_t)lo;
        w->age_hi = (uint8_t)hi;
        return true;
}
