/* rules.c: load routing.yaml (routing.md) into struct rd_rules.
 *
 * The file is parsed whole with libyaml's document API, then walked with
 * the schema of routing.md. Every problem found on the way is collected
 * with its position (line and column from 1); the cross-field checks
 * (catch-all, shadowed rules, unreachable connectors, postcodes in two
 * teams, ...) run at the end. The collected messages are sorted by position
 * and handed to the caller's struct rd_diag in one go, so that a
 * coordinator reads them top to bottom. */
#include "rules.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define RULES_FILE_MAX (1024 * 1024) /* bytes of a routing file */
#define CAPACITY_MAX 100000
#define DURATION_MAX_S (36500LL * 86400) /* 100 years */
#define SUGGEST_MAX 2                    /* edit distance for "did you mean" */

/* ---- diagnostics ------------------------------------------------------ */

void rd_diag_clear(struct rd_diag *diag)
{
        if (!diag)
                return;
        for (size_t i = 0; i < diag->n; i++)
                free(diag->items[i].text);
        free(diag->items);
        memset(diag, 0, sizeof *diag);
}

const char *rd_diag_first_error(const struct rd_diag *diag)
{
        if (!diag)
                return NULL;
        for (size_t i = 0; i < diag->n; i++)
                if (diag->items[i].severity == RD_DIAG_ERROR)
                        return diag->items[i].text;
        return NULL;
}

/* Append TEXT (taken over) to DIAG. */
static int diag_push(struct rd_diag *diag, enum rd_diag_severity sev, char *text)
{
        struct rd_diag_item *items;

        items = realloc(diag->items, (diag->n + 1) * sizeof *items);
        if (!items) {
                free(text);
                return -ENOMEM;
        }
        diag->items = items;
        items[diag->n].severity = sev;
        items[diag->n].text = text;
        diag->n++;
        if (sev == RD_DIAG_ERROR)
                diag->n_errors++;
        else
                diag->n_warnings++;
        return 0;
}

static int diag_vadd(struct rd_diag *diag, enum rd_diag_severity sev, const char *file, size_t line,
                     size_t column, const char *fmt, va_list ap)
{
        char *msg = NULL, *text = NULL;
        const char *w = sev == RD_DIAG_WARNING ? "warning: " : "";
        int n;

        if (!diag)
                return 0;
        if (vasprintf(&msg, fmt, ap) < 0)
                return -ENOMEM;
        /* A problem with the whole file (it cannot be read) is placed at its
         * start, so that every diagnostic has the form FILE:LINE:COLUMN. */
        if (line == 0) {
                line = 1;
                column = 1;
        }
        /* what the message quotes from the file must not start a line of its
         * own or reach a terminal as an escape sequence */
        for (char *p = msg; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        n = asprintf(&text, "%s:%zu:%zu: %s%s", file ? file : "-", line, column, w, msg);
        free(msg);
        if (n < 0)
                return -ENOMEM;
        return diag_push(diag, sev, text);
}

int rd_diag_add(struct rd_diag *diag, enum rd_diag_severity sev, const char *file, size_t line,
                size_t column, const char *fmt, ...)
{
        va_list ap;
        int rc;

        va_start(ap, fmt);
        rc = diag_vadd(diag, sev, file, line, column, fmt, ap);
        va_end(ap);
        return rc;
}

/* ---- durations -------------------------------------------------------- */

int rd_duration_parse(const char *s, int64_t *seconds)
{
        int64_t v = 0, unit;
        size_t i = 0;

        if (!s || !seconds)
                return -EINVAL;
        for (; s[i] >= '0' && s[i] <= '9'; i++) {
                if (i >= 12)
                        return -EINVAL;
                v = v * 10 + (s[i] - '0');
        }
        if (i == 0 || s[i] == '\0' || s[i + 1] != '\0')
                return -EINVAL;
        switch (s[i]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: return -EINVAL;
        }
        if (v <= 0 || v > DURATION_MAX_S / unit)
                return -EINVAL;
        *seconds = v * unit;
        return 0;
}

/* ---- the loader's context --------------------------------------------- */

struct mark {
        size_t line, col; /* from 1 */
};

struct msg {
        enum rd_diag_severity sev;
        struct mark at;
        size_t seq;
        char *text;
};

struct team_side {
        struct mark at, id;
        bool has_conn_key;
        struct mark conn_key;
        struct mark *pc; /* one per postcode range */
};

struct rule_side {
        struct mark at;
        bool when_ok; /* a `when` that loaded without error, or none */
};

struct ctx {
        const char *name;
        yaml_document_t *doc;
        struct rd_rules *rules;
        struct msg *msgs;
        size_t n_msgs;
        size_t n_errors;
        bool oom;
        struct team_side *teams;    /* like rules->teams */
        struct mark *conn_ids;      /* like rules->connectors */
        struct mark *target_ids;    /* like rules->targets */
        struct rule_side *rule_pos; /* like rules->rules */
};

static struct mark mark_of(const yaml_node_t *n)
{
        struct mark m = {n->start_mark.line + 1, n->start_mark.column + 1};
        return m;
}

static void vreport(struct ctx *c, enum rd_diag_severity sev, struct mark at, const char *fmt,
                    va_list ap)
{
        struct msg *msgs;
        char *text;

        if (vasprintf(&text, fmt, ap) < 0) {
                c->oom = true;
                return;
        }
        msgs = realloc(c->msgs, (c->n_msgs + 1) * sizeof *msgs);
        if (!msgs) {
                free(text);
                c->oom = true;
                return;
        }
        c->msgs = msgs;
        msgs[c->n_msgs] = (struct msg){sev, at, c->n_msgs, text};
        c->n_msgs++;
        if (sev == RD_DIAG_ERROR)
                c->n_errors++;
}

__attribute__((format(printf, 3, 4))) static void err_at(struct ctx *c, struct mark at,
                                                         const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vreport(c, RD_DIAG_ERROR, at, fmt, ap);
        va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void err(struct ctx *c, const yaml_node_t *n,
                                                      const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vreport(c, RD_DIAG_ERROR, mark_of(n), fmt, ap);
        va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void warn_at(struct ctx *c, struct mark at,
                                                          const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vreport(c, RD_DIAG_WARNING, at, fmt, ap);
        va_end(ap);
}

static int msg_cmp(const void *a, const void *b)
{
        const struct msg *x = a, *y = b;

        if (x->at.line != y->at.line)
                return x->at.line < y->at.line ? -1 : 1;
        if (x->at.col != y->at.col)
                return x->at.col < y->at.col ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A private copy of S, or NULL with c->oom set. */
static char *xstrdup(struct ctx *c, const char *s)
{
        char *d = strdup(s);

        if (!d)
                c->oom = true;
        return d;
}

/* Grow *P (of *N elements of SIZE bytes) by one zeroed element. Returns the
 * new element or NULL with c->oom set. */
static void *push(struct ctx *c, void *p, size_t *n, size_t size)
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

/* ---- edit distance ---------------------------------------------------- */

/* Optimal string alignment distance (Levenshtein plus adjacent swaps),
 * capped: anything over SUGGEST_MAX + 1 is reported as that. */
static size_t edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        size_t d[3][65];
        size_t *prev2 = d[0], *prev = d[1], *cur = d[2];

        if (la > 64 || lb > 64)
                return SUGGEST_MAX + 1;
        if ((la > lb ? la - lb : lb - la) > SUGGEST_MAX)
                return SUGGEST_MAX + 1;
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t cost = a[i - 1] != b[j - 1];
                        size_t v = prev[j] + 1;

                        if (cur[j - 1] + 1 < v)
                                v = cur[j - 1] + 1;
                        if (prev[j - 1] + cost < v)
                                v = prev[j - 1] + cost;
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                            prev2[j - 2] + 1 < v)
                                v = prev2[j - 2] + 1;
                        cur[j] = v;
                }
                size_t *t = prev2;
                prev2 = prev;
                prev = cur;
                cur = t;
        }
        return prev[lb];
}

/* The closest of the N words at WORDS (each STRIDE bytes apart when
 * STRIDE is not 0, else an array of pointers) within SUGGEST_MAX, or NULL. */
struct suggest {
        const char *best;
        size_t dist;
};

static void suggest_try(struct suggest *s, const char *word, const char *cand)
{
        size_t d;

        if (!cand || !*cand)
                return;
        d = edit_distance(word, cand);
        if (d <= SUGGEST_MAX && d > 0 && (!s->best || d < s->dist)) {
                s->best = cand;
                s->dist = d;
        }
}

static const char *suggest_list(const char *word, const char *const *cands, size_t n)
{
        struct suggest s = {NULL, 0};

        for (size_t i = 0; i < n; i++)
                suggest_try(&s, word, cands[i]);
        return s.best;
}

/* "; did you mean 'X'?" or "" (a static buffer is not needed: the caller
 * prints the suggestion itself). */
#define DYM_FMT "%s%s%s"
#define DYM_ARGS(s) (s) ? "; did you mean '" : "", (s) ? (s) : "", (s) ? "'?" : ""

/* ---- node helpers ----------------------------------------------------- */

static yaml_node_t *node(struct ctx *c, int id)
{
        return yaml_document_get_node(c->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
        return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* An empty value: a plain "", "~" or "null". */
static bool is_null(const yaml_node_t *n)
{
        const char *s = scalar(n);

        if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        return !strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
               !strcmp(s, "NULL");
}

/* Look the keys of mapping N up in KEYS (NKEYS of them): VALUES[i] and
 * KEYNODES[i] receive the value and key nodes (NULL when absent). Unknown
 * and duplicate keys are errors. WHERE names the mapping in messages
 * ("in a team"). Returns false when N is not a mapping (reported). */
static bool fields(struct ctx *c, yaml_node_t *n, const char *what, const char *where,
                   const char *const *keys, size_t nkeys, yaml_node_t **keynodes,
                   yaml_node_t **values)
{
        for (size_t i = 0; i < nkeys; i++) {
                values[i] = NULL;
                if (keynodes)
                        keynodes[i] = NULL;
        }
        if (!n || n->type != YAML_MAPPING_NODE) {
                if (n)
                        err(c, n, "%s: expected a mapping of keys and values", what);
                return false;
        }
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
                const char *ks = scalar(k);
                size_t i;

                if (!k || !v)
                        continue;
                if (!ks) {
                        err(c, k, "%s: a key must be a plain name", what);
                        continue;
                }
                for (i = 0; i < nkeys; i++)
                        if (!strcmp(ks, keys[i]))
                                break;
                if (i == nkeys) {
                        const char *s = suggest_list(ks, keys, nkeys);
                        err(c, k, "unknown key '%s' %s" DYM_FMT, ks, where, DYM_ARGS(s));
                        continue;
                }
                if (values[i]) {
                        err(c, k, "duplicate key '%s' %s", ks, where);
                        continue;
                }
                values[i] = v;
                if (keynodes)
                        keynodes[i] = k;
        }
        return true;
}

/* The items of N, a list or a single scalar (a list of one): a new array
 * of *COUNT nodes, each a scalar; NULL when there are none or on error
 * (reported; *OK false). An empty value or [] is an empty list, an error
 * unless ALLOW_EMPTY. */
static yaml_node_t **items(struct ctx *c, yaml_node_t *n, const char *what, bool allow_empty,
                           size_t *count, bool *ok)
{
        yaml_node_t **v = NULL;
        size_t m = 0;

        *count = 0;
        *ok = true;
        if (is_null(n) || (n->type == YAML_SEQUENCE_NODE &&
                           n->data.sequence.items.top == n->data.sequence.items.start)) {
                if (!allow_empty) {
                        err(c, n, "%s: give at least one value", what);
                        *ok = false;
                }
                return NULL;
        }
        if (n->type == YAML_SCALAR_NODE) {
                v = malloc(sizeof *v);
                if (!v) {
                        c->oom = true;
                        *ok = false;
                        return NULL;
                }
                v[0] = n;
                *count = 1;
                return v;
        }
        if (n->type != YAML_SEQUENCE_NODE) {
                err(c, n, "%s: expected a value or a list of values", what);
                *ok = false;
                return NULL;
        }
        size_t total = n->data.sequence.items.top - n->data.sequence.items.start;
        v = calloc(total, sizeof *v);
        if (!v) {
                c->oom = true;
                *ok = false;
                return NULL;
        }
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
                yaml_node_t *x = node(c, *it);

                if (!x)
                        continue;
                if (x->type != YAML_SCALAR_NODE) {
                        err(c, x, "%s: expected a single value here, not a list or mapping", what);
                        *ok = false;
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

/* The elements of list N (which must be a sequence; an empty value is an
 * empty list). */
static bool seq(struct ctx *c, yaml_node_t *n, const char *what)
{
        if (is_null(n))
                return false;
        if (n->type != YAML_SEQUENCE_NODE) {
                err(c, n, "%s: expected a list", what);
                return false;
        }
        return true;
}

/* Call FN on each element of list N. */
static void each(struct ctx *c, yaml_node_t *n, void (*fn)(struct ctx *, yaml_node_t *, size_t),
                 size_t arg)
{
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
                yaml_node_t *x = node(c, *it);

                if (x)
                        fn(c, x, arg);
        }
}

static bool get_text(struct ctx *c, yaml_node_t *n, const char *what, char **out)
{
        const char *s = scalar(n);

        if (!s || is_null(n) || !*s) {
                err(c, n, "%s: expected a text", what);
                return false;
        }
        free(*out);
        *out = xstrdup(c, s);
        return *out != NULL;
}

static bool get_id(struct ctx *c, yaml_node_t *n, const char *what, char out[RD_ID_MAX + 1])
{
        const char *s = scalar(n);

        if (!s || is_null(n)) {
                err(c, n, "%s: expected an id", what);
                return false;
        }
        if (!rd_id_valid(s)) {
                /* kept for later messages and look-ups, so that one bad id
                 * does not also make every reference to it unknown */
                snprintf(out, RD_ID_MAX + 1, "%s", s);
                err(c, n,
                    "%s: '%s' is not a valid id: use lowercase letters, digits, '-' and '_', "
                    "starting with a letter or digit, at most 64 characters",
                    what, s);
                return false;
        }
        snprintf(out, RD_ID_MAX + 1, "%s", s);
        return true;
}

static bool get_bool(struct ctx *c, yaml_node_t *n, const char *what, bool *out)
{
        const char *s = scalar(n);

        if (s && !strcmp(s, "true")) {
                *out = true;
                return true;
        }
        if (s && !strcmp(s, "false")) {
                *out = false;
                return true;
        }
        err(c, n, "%s: expected true or false", what);
        return false;
}

static bool get_duration(struct ctx *c, yaml_node_t *n, const char *what, int64_t *out)
{
        const char *s = scalar(n);

        if (!s || rd_duration_parse(s, out) < 0) {
                err(c, n,
                    "%s: bad duration%s%s%s: use a whole number above 0 and a unit s, m, h or d, "
                    "like 30d",
                    what, s ? " '" : "", s ? s : "", s ? "'" : "");
                return false;
        }
        return true;
}

/* One of the N words at NAMES; *OUT receives its index. */
static bool get_enum(struct ctx *c, yaml_node_t *n, const char *what, const char *const *names,
                     size_t nnames, int *out)
{
        const char *s = scalar(n);
        const char *sug;

        if (s)
                for (size_t i = 0; i < nnames; i++)
                        if (!strcmp(s, names[i])) {
                                *out = (int)i;
                                return true;
                        }
        if (!s) {
                err(c, n, "%s: expected one of a few words, like '%s'", what, names[0]);
                return false;
        }
        sug = suggest_list(s, names, nnames);
        if (sug) {
                err(c, n, "%s: unknown value '%s'; did you mean '%s'?", what, s, sug);
                return false;
        }
        char list[256] = "";
        for (size_t i = 0; i < nnames; i++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s'%s'",
                         i ? (i + 1 == nnames ? " or " : ", ") : "", names[i]);
        }
        err(c, n, "%s: unknown value '%s': use %s", what, s, list);
        return false;
}

/* ---- postcodes -------------------------------------------------------- */

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

/* A list of postcodes and ranges "lo-hi". MARKS, if not NULL, receives a
 * new array with the position of each range. */
static bool get_postcodes(struct ctx *c, yaml_node_t *n, const char *what, bool allow_empty,
                          struct rd_postcode_range **out, size_t *nout, struct mark **marks)
{
        size_t count, m = 0;
        bool ok;
        yaml_node_t **v = items(c, n, what, allow_empty, &count, &ok);
        struct rd_postcode_range *r = NULL;
        struct mark *mk = NULL;

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
                const char *s = scalar(v[i]);
                const char *dash = strchr(s, '-');
                uint16_t lo, hi;

                if (!dash) {
                        if (!parse_postcode(s, strlen(s), &lo)) {
                                err(c, v[i],
                                    "%s: bad postcode '%s': a postcode is 4 digits from 1000 to "
                                    "9999",
                                    what, s);
                                ok = false;
                                continue;
                        }
                        hi = lo;
                } else {
                        if (!parse_postcode(s, (size_t)(dash - s), &lo) ||
                            !parse_postcode(dash + 1, strlen(dash + 1), &hi)) {
                                err(c, v[i],
                                    "%s: bad postcode range '%s': write \"lo-hi\" with two "
                                    "postcodes of 4 digits from 1000 to 9999, like \"3660-3668\"",
                                    what, s);
                                ok = false;
                                continue;
                        }
                        if (lo > hi) {
                                err(c, v[i],
                                    "%s: bad postcode range '%s': the first postcode is greater "
                                    "than the last",
                                    what, s);
                                ok = false;
                                continue;
                        }
                }
                r[m].lo = lo;
                r[m].hi = hi;
                mk[m] = mark_of(v[i]);
                m++;
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

static bool pc_in(const struct rd_postcode_range *r, size_t n, unsigned code)
{
        for (size_t i = 0; i < n; i++)
                if (code >= r[i].lo && code <= r[i].hi)
                        return true;
        return false;
}

/* ---- string lists ----------------------------------------------------- */

static void strlist_free(struct rd_strlist *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

static bool strlist_has(const struct rd_strlist *l, const char *s)
{
        for (size_t i = 0; i < l->n; i++)
                if (!strcmp(l->v[i], s))
                        return true;
        return false;
}

static bool strlist_subset(const struct rd_strlist *a, const struct rd_strlist *b)
{
        for (size_t i = 0; i < a->n; i++)
                if (!strlist_has(b, a->v[i]))
                        return false;
        return true;
}

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

static bool valid_id(const char *s)
{
        return rd_id_valid(s) == 1;
}

enum list_kind { L_ID, L_LANGUAGE, L_TAG };

/* A list of words (a scalar is a list of one), each checked as KIND;
 * duplicates are kept once. */
static bool get_strlist(struct ctx *c, yaml_node_t *n, const char *what, enum list_kind kind,
                        bool allow_empty, struct rd_strlist *out)
{
        size_t count;
        bool ok;
        yaml_node_t **v = items(c, n, what, allow_empty, &count, &ok);

        strlist_free(out);
        if (count) {
                out->v = calloc(count, sizeof *out->v);
                if (!out->v) {
                        c->oom = true;
                        free(v);
                        return false;
                }
        }
        for (size_t i = 0; i < count; i++) {
                const char *s = scalar(v[i]);

                switch (kind) {
                case L_ID:
                        if (!valid_id(s)) {
                                err(c, v[i],
                                    "%s: '%s' is not a valid name: use lowercase letters, digits, "
                                    "'-' and '_', at most 64 characters",
                                    what, s);
                                ok = false;
                                continue;
                        }
                        break;
                case L_LANGUAGE:
                        if (!valid_language(s)) {
                                err(c, v[i],
                                    "%s: '%s' is not a language code: use 2 or 3 lowercase "
                                    "letters, like nl",
                                    what, s);
                                ok = false;
                                continue;
                        }
                        break;
                case L_TAG:
                        if (!valid_tag(s)) {
                                err(c, v[i],
                                    "%s: '%s' is not a concern tag: use lowercase letters, digits "
                                    "and '_', at most 64 characters",
                                    what, s);
                                ok = false;
                                continue;
                        }
                        break;
                }
                if (strlist_has(out, s))
                        continue;
                out->v[out->n] = xstrdup(c, s);
                if (!out->v[out->n]) {
                        ok = false;
                        break;
                }
                out->n++;
        }
        free(v);
        return ok;
}

/* ---- the parts of the file -------------------------------------------- */

static const char *const defaults_keys[] = {"window", "accept_within", "at_risk", "trajectory"};

static void parse_defaults(struct ctx *c, yaml_node_t *n)
{
        yaml_node_t *v[4];
        struct rd_rules *r = c->rules;

        if (is_null(n))
                return;
        if (!fields(c, n, "defaults", "in defaults", defaults_keys, 4, NULL, v))
                return;
        if (v[0])
                get_duration(c, v[0], "window", &r->window_s);
        if (v[1])
                get_duration(c, v[1], "accept_within", &r->accept_within_s);
        if (v[2])
                get_duration(c, v[2], "at_risk", &r->at_risk_s);
        if (v[3])
                get_duration(c, v[3], "trajectory", &r->trajectory_s);
}

static const char *const connector_keys[] = {"id", "capacity", "skills", "languages"};

static void parse_connector(struct ctx *c, yaml_node_t *n, size_t team)
{
        yaml_node_t *v[4];
        struct rd_rules *r = c->rules;
        struct rd_connector *cn;
        struct mark *cm;
        size_t *slot;
        size_t n_marks = r->n_connectors;

        if (!fields(c, n, "a connector", "in a connector", connector_keys, 4, NULL, v))
                return;
        cn = push(c, &r->connectors, &r->n_connectors, sizeof *cn);
        if (!cn)
                return;
        cm = push(c, &c->conn_ids, &n_marks, sizeof *cm);
        if (!cm) {
                r->n_connectors--;
                return;
        }
        cn->team = team;
        *cm = mark_of(n);
        slot = push(c, &r->teams[team].connectors, &r->teams[team].n_connectors, sizeof *slot);
        if (slot)
                *slot = r->n_connectors - 1;
        if (!v[0]) {
                err(c, n, "a connector needs an 'id'");
        } else if (get_id(c, v[0], "id", cn->id)) {
                *cm = mark_of(v[0]);
                for (size_t i = 0; i + 1 < r->n_connectors; i++)
                        if (!strcmp(r->connectors[i].id, cn->id)) {
                                err(c, v[0],
                                    "duplicate connector id '%s' (first at %zu:%zu, team '%s')",
                                    cn->id, c->conn_ids[i].line, c->conn_ids[i].col,
                                    r->teams[r->connectors[i].team].id);
                                break;
                        }
        }
        if (!v[1]) {
                err(c, n, "a connector needs a 'capacity': how many families at once");
        } else {
                const char *s = scalar(v[1]);
                char *end = NULL;
                long cap = 0;

                if (s && *s >= '0' && *s <= '9')
                        cap = strtol(s, &end, 10);
                if (!s || !end || *end || cap < 1 || cap > CAPACITY_MAX)
                        err(c, v[1], "capacity: expected a whole number from 1 to %d%s%s%s",
                            CAPACITY_MAX, s ? ", got '" : "", s ? s : "", s ? "'" : "");
                else
                        cn->capacity = (uint32_t)cap;
        }
        if (v[2])
                get_strlist(c, v[2], "skills", L_ID, true, &cn->skills);
        if (v[3])
                get_strlist(c, v[3], "languages", L_LANGUAGE, true, &cn->languages);
}

static const char *const team_keys[] = {"id", "postcodes", "connectors"};

static void parse_team(struct ctx *c, yaml_node_t *n, size_t unused)
{
        yaml_node_t *v[3], *k[3];
        struct rd_rules *r = c->rules;
        struct rd_team *t;
        struct team_side *ts;
        size_t n_side = r->n_teams, ti;

        (void)unused;

        if (!fields(c, n, "a team", "in a team", team_keys, 3, k, v))
                return;
        t = push(c, &r->teams, &r->n_teams, sizeof *t);
        if (!t)
                return;
        ts = push(c, &c->teams, &n_side, sizeof *ts);
        if (!ts) {
                r->n_teams--;
                return;
        }
        ti = r->n_teams - 1;
        ts->at = ts->id = mark_of(n);
        if (!v[0]) {
                err(c, n, "a team needs an 'id'");
        } else if (get_id(c, v[0], "id", t->id)) {
                ts->id = mark_of(v[0]);
                for (size_t i = 0; i < ti; i++)
                        if (!strcmp(r->teams[i].id, t->id)) {
                                err(c, v[0], "duplicate team id '%s' (first at %zu:%zu)", t->id,
                                    c->teams[i].id.line, c->teams[i].id.col);
                                break;
                        }
        }
        if (v[1] && !is_null(v[1])) {
                t->has_postcodes = true;
                get_postcodes(c, v[1], "postcodes", false, &t->postcodes, &t->n_postcodes, &ts->pc);
        }
        if (v[2]) {
                ts->has_conn_key = true;
                ts->conn_key = mark_of(k[2]);
                if (seq(c, v[2], "connectors"))
                        each(c, v[2], parse_connector, ti);
        }
}

static const char *const target_keys[] = {"id", "name"};

static void parse_target(struct ctx *c, yaml_node_t *n, size_t unused)
{
        yaml_node_t *v[2];
        struct rd_rules *r = c->rules;
        struct rd_target *t;
        struct mark *m;
        size_t n_side = r->n_targets, ti;

        (void)unused;

        if (!fields(c, n, "a forward target", "in a forward target", target_keys, 2, NULL, v))
                return;
        t = push(c, &r->targets, &r->n_targets, sizeof *t);
        if (!t)
                return;
        m = push(c, &c->target_ids, &n_side, sizeof *m);
        if (!m) {
                r->n_targets--;
                return;
        }
        ti = r->n_targets - 1;
        *m = mark_of(n);
        if (!v[0]) {
                err(c, n, "a forward target needs an 'id'");
        } else if (get_id(c, v[0], "id", t->id)) {
                *m = mark_of(v[0]);
                for (size_t i = 0; i < ti; i++)
                        if (!strcmp(r->targets[i].id, t->id)) {
                                err(c, v[0], "duplicate forward target id '%s' (first at %zu:%zu)",
                                    t->id, c->target_ids[i].line, c->target_ids[i].col);
                                break;
                        }
        }
        if (v[1])
                get_text(c, v[1], "name", &t->name);
        else
                t->name = xstrdup(c, t->id);
}

/* ---- rules ------------------------------------------------------------ */

/* A list of words out of NAMES as a bit set. */
static bool get_bits(struct ctx *c, yaml_node_t *n, const char *what, const char *const *names,
                     size_t nnames, unsigned *bits)
{
        size_t count;
        bool ok;
        yaml_node_t **v = items(c, n, what, false, &count, &ok);

        *bits = 0;
        for (size_t i = 0; i < count; i++) {
                int idx;

                if (get_enum(c, v[i], what, names, nnames, &idx))
                        *bits |= 1u << idx;
                else
                        ok = false;
        }
        free(v);
        return ok;
}

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

static bool parse_age(struct ctx *c, yaml_node_t *n, struct rd_when *w)
{
        const char *s = scalar(n), *p = s;
        unsigned lo = 0, hi = 0;
        bool ok = s && age_number(&p, &lo);

        if (ok && *p == '-') {
                p++;
                ok = age_number(&p, &hi);
        } else {
                hi = lo; /* a single age: "7" */
        }
        if (!ok || *p) {
                err(c, n, "age: expected \"a-b\" with ages from 0 to %d, like \"0-25\"",
                    RD_AGE_MAX);
                return false;
        }
        if (hi > RD_AGE_MAX || lo > RD_AGE_MAX) {
                err(c, n, "age: '%s': ages run from 0 to %d", s, RD_AGE_MAX);
                return false;
        }
        if (lo > hi) {
                err(c, n, "age: '%s': the first age is greater than the last", s);
                return false;
        }
        w->has_age = true;
        w->age_lo = (uint8_t)lo;
        w->age_hi = (uint8_t)hi;
        return true;
}

static const char *const concerns_keys[] = {"any", "all", "none"};

static void parse_concerns(struct ctx *c, yaml_node_t *n, struct rd_when *w)
{
        yaml_node_t *v[3];

        if (n->type != YAML_MAPPING_NODE) {
                if (get_strlist(c, n, "concerns", L_TAG, false, &w->concerns_any))
                        w->has_concerns = true;
                return;
        }
        if (!fields(c, n, "concerns", "in 'concerns'", concerns_keys, 3, NULL, v))
                return;
        if (v[0])
                get_strlist(c, v[0], "any", L_TAG, false, &w->concerns_any);
        if (v[1])
                get_strlist(c, v[1], "all", L_TAG, false, &w->concerns_all);
        if (v[2])
                get_strlist(c, v[2], "none", L_TAG, false, &w->concerns_none);
        w->has_concerns = w->concerns_any.n || w->concerns_all.n || w->concerns_none.n;
}

static const char *const when_keys[] = {"kind", "urgency",  "partner", "postcode",
                                        "age",  "language", "concerns"};

static void parse_when(struct ctx *c, yaml_node_t *n, struct rd_when *w)
{
        yaml_node_t *v[7];
        const char *kind_names[RD_KIND__MAX], *urgency_names[RD_URGENCY__MAX];

        for (int i = 0; i < RD_KIND__MAX; i++)
                kind_names[i] = rd_kind_name((enum rd_kind)i);
        for (int i = 0; i < RD_URGENCY__MAX; i++)
                urgency_names[i] = rd_urgency_name((enum rd_urgency)i);
        if (!fields(c, n, "when", "in 'when'", when_keys, 7, NULL, v))
                return;
        if (v[0] && get_bits(c, v[0], "kind", kind_names, RD_KIND__MAX, &w->kinds))
                w->has_kind = true;
        if (v[1] && get_bits(c, v[1], "urgency", urgency_names, RD_URGENCY__MAX, &w->urgencies))
                w->has_urgency = true;
        if (v[2] && get_strlist(c, v[2], "partner", L_ID, false, &w->partners))
                w->has_partner = true;
        if (v[3] && get_postcodes(c, v[3], "postcode", false, &w->postcodes, &w->n_postcodes, NULL))
                w->has_postcode = true;
        if (v[4])
                parse_age(c, v[4], w);
        if (v[5] && get_strlist(c, v[5], "language", L_LANGUAGE, false, &w->languages))
                w->has_language = true;
        if (v[6])
                parse_concerns(c, v[6], w);
}

/* The index of a team or target named by scalar N, or -1 (reported). */
static ssize_t resolve_team(struct ctx *c, yaml_node_t *n)
{
        const char *s = scalar(n);
        struct suggest sg = {NULL, 0};
        ssize_t i = rd_rules_team_index(c->rules, s);

        if (i >= 0)
                return i;
        for (size_t j = 0; j < c->rules->n_teams; j++)
                suggest_try(&sg, s, c->rules->teams[j].id);
        err(c, n, "unknown team '%s'" DYM_FMT, s, DYM_ARGS(sg.best));
        return -1;
}

static ssize_t resolve_target(struct ctx *c, yaml_node_t *n)
{
        const char *s = scalar(n);
        struct suggest sg = {NULL, 0};
        ssize_t i;

        if (!s || is_null(n)) {
                err(c, n, "to: expected the id of a forward target");
                return -1;
        }
        i = rd_rules_target_index(c->rules, s);
        if (i >= 0)
                return i;
        for (size_t j = 0; j < c->rules->n_targets; j++)
                suggest_try(&sg, s, c->rules->targets[j].id);
        err(c, n, "unknown forward target '%s'" DYM_FMT, s, DYM_ARGS(sg.best));
        return -1;
}

static const char *const forward_keys[] = {"to", "reason"};

static void parse_forward(struct ctx *c, yaml_node_t *n, const char *what, size_t *to,
                          char **reason)
{
        yaml_node_t *v[2];
        char where[64];

        snprintf(where, sizeof where, "in '%s'", what);
        if (!fields(c, n, what, where, forward_keys, 2, NULL, v))
                return;
        if (!v[0]) {
                err(c, n, "%s needs 'to': the id of a forward target", what);
        } else {
                ssize_t i = resolve_target(c, v[0]);
                if (i >= 0)
                        *to = (size_t)i;
        }
        if (!v[1])
                err(c, n, "%s needs a 'reason': a sentence for the referring partner", what);
        else
                get_text(c, v[1], "reason", reason);
}

static const char *const assign_keys[] = {"teams", "by_postcode", "skill",        "language",
                                          "pick",  "window",      "accept_within"};
static const char *const language_modes[] = {"prefer", "require", "ignore"};
static const char *const picks[] = {"least_loaded", "round_robin"};

static void parse_assign(struct ctx *c, yaml_node_t *n, struct rd_rule *rule)
{
        yaml_node_t *v[7];
        int e;

        if (!fields(c, n, "assign", "in 'assign'", assign_keys, 7, NULL, v))
                return;
        if (!v[0]) {
                err(c, n, "assign needs 'teams': the teams whose connectors may get the offer");
        } else {
                size_t count;
                bool ok;
                yaml_node_t **t = items(c, v[0], "teams", false, &count, &ok);

                if (count) {
                        rule->teams = calloc(count, sizeof *rule->teams);
                        if (!rule->teams)
                                c->oom = true;
                }
                for (size_t i = 0; rule->teams && i < count; i++) {
                        ssize_t ti = resolve_team(c, t[i]);
                        bool dup = false;

                        if (ti < 0)
                                continue;
                        for (size_t j = 0; j < rule->n_teams; j++)
                                dup |= rule->teams[j] == (size_t)ti;
                        if (!dup)
                                rule->teams[rule->n_teams++] = (size_t)ti;
                }
                free(t);
        }
        if (v[1])
                get_bool(c, v[1], "by_postcode", &rule->by_postcode);
        if (v[2]) {
                char id[RD_ID_MAX + 1];
                if (get_id(c, v[2], "skill", id))
                        rule->skill = xstrdup(c, id);
        }
        if (v[3] && get_enum(c, v[3], "language", language_modes, 3, &e))
                rule->language = (enum rd_language_mode)e;
        if (v[4] && get_enum(c, v[4], "pick", picks, 2, &e))
                rule->pick = (enum rd_pick)e;
        if (v[5])
                get_duration(c, v[5], "window", &rule->window_s);
        if (v[6])
                get_duration(c, v[6], "accept_within", &rule->accept_within_s);
}

static const char *const otherwise_keys[] = {"forward"};

#define OTHERWISE_HELP "expected 'waitlist' or {forward: {to: TARGET, reason: TEXT}}"

static void parse_otherwise(struct ctx *c, yaml_node_t *n, struct rd_rule *rule)
{
        yaml_node_t *v[1];
        const char *s = scalar(n);

        if (s) {
                static const char *const words[] = {"waitlist", "forward"};
                const char *sug = suggest_list(s, words, 1);

                if (!strcmp(s, "waitlist"))
                        rule->otherwise = RD_OTHERWISE_WAITLIST;
                else
                        err(c, n, "otherwise: " OTHERWISE_HELP ", not '%s'" DYM_FMT, s,
                            DYM_ARGS(sug));
                return;
        }
        if (!fields(c, n, "otherwise", "in 'otherwise'", otherwise_keys, 1, NULL, v))
                return;
        if (!v[0]) {
                err(c, n, "otherwise: " OTHERWISE_HELP);
                return;
        }
        rule->otherwise = RD_OTHERWISE_FORWARD;
        parse_forward(c, v[0], "forward", &rule->otherwise_to, &rule->otherwise_reason);
}

static const char *const rule_keys[] = {"name", "when", "forward", "assign", "otherwise"};

static void parse_rule(struct ctx *c, yaml_node_t *n, size_t unused)
{
        yaml_node_t *v[5], *k[5];
        struct rd_rules *r = c->rules;
        struct rd_rule *rule;
        struct rule_side *side;
        size_t n_side = r->n_rules, ri;

        (void)unused;

        if (!fields(c, n, "a rule", "in a rule", rule_keys, 5, k, v))
                return;
        rule = push(c, &r->rules, &r->n_rules, sizeof *rule);
        if (!rule)
                return;
        side = push(c, &c->rule_pos, &n_side, sizeof *side);
        if (!side) {
                r->n_rules--;
                return;
        }
        ri = r->n_rules - 1;
        side->at = mark_of(n);
        rule->line = side->at.line;
        rule->column = side->at.col;
        rule->window_s = r->window_s;
        rule->accept_within_s = r->accept_within_s;
        rule->forward_to = SIZE_MAX;
        rule->otherwise_to = SIZE_MAX;
        side->when_ok = true;
        if (!v[0]) {
                err(c, n, "a rule needs a 'name'");
        } else if (get_id(c, v[0], "name", rule->name)) {
                for (size_t i = 0; i < ri; i++)
                        if (!strcmp(r->rules[i].name, rule->name)) {
                                err(c, v[0], "duplicate rule name '%s' (first at %zu:%zu)",
                                    rule->name, r->rules[i].line, r->rules[i].column);
                                break;
                        }
        }
        if (!v[1] || is_null(v[1]) ||
            (v[1]->type == YAML_MAPPING_NODE &&
             v[1]->data.mapping.pairs.top == v[1]->data.mapping.pairs.start)) {
                rule->catch_all = true;
        } else {
                size_t before = c->n_errors;

                parse_when(c, v[1], &rule->when);
                side->when_ok = c->n_errors == before;
        }
        if (v[2] && v[3]) {
                yaml_node_t *later = k[2]->start_mark.index > k[3]->start_mark.index ? k[2] : k[3];
                err(c, later, "rule '%s' has both 'forward' and 'assign': a rule does one of them",
                    rule->name);
        } else if (!v[2] && !v[3]) {
                err(c, n, "rule '%s' needs 'forward' or 'assign'", rule->name);
        }
        if (v[2]) {
                rule->action = RD_ACTION_FORWARD;
                parse_forward(c, v[2], "forward", &rule->forward_to, &rule->forward_reason);
        } else if (v[3]) {
                rule->action = RD_ACTION_ASSIGN;
        }
        if (v[3])
                parse_assign(c, v[3], rule);
        if (v[4]) {
                if (v[2] && !v[3])
                        err(c, k[4],
                            "'otherwise' only applies to a rule with 'assign'; a 'forward' rule "
                            "always forwards");
                else
                        parse_otherwise(c, v[4], rule);
        }
}

/* ---- cross checks ----------------------------------------------------- */

static bool pc_covers(const struct rd_postcode_range *e, size_t ne,
                      const struct rd_postcode_range *l, size_t nl)
{
        for (size_t i = 0; i < nl; i++)
                for (unsigned code = l[i].lo; code <= l[i].hi; code++)
                        if (!pc_in(e, ne, code))
                                return false;
        return true;
}

static bool lists_meet(const struct rd_strlist *a, const struct rd_strlist *b)
{
        for (size_t i = 0; i < a->n; i++)
                if (strlist_has(b, a->v[i]))
                        return true;
        return false;
}

/* Does E match every referral that L matches? Sound, not complete: false
 * when unsure. Each key of E must hold for every referral L lets through. */
static bool when_covers(const struct rd_when *e, const struct rd_when *l)
{
        const unsigned all_kinds = (1u << RD_KIND__MAX) - 1;
        const unsigned all_urgencies = (1u << RD_URGENCY__MAX) - 1;
        static const struct rd_postcode_range every = {1000, 9999};

        if (e->has_kind && (e->kinds & (l->has_kind ? l->kinds : all_kinds)) !=
                                   (l->has_kind ? l->kinds : all_kinds))
                return false;
        if (e->has_urgency && (e->urgencies & (l->has_urgency ? l->urgencies : all_urgencies)) !=
                                      (l->has_urgency ? l->urgencies : all_urgencies))
                return false;
        if (e->has_partner && (!l->has_partner || !strlist_subset(&l->partners, &e->partners)))
                return false;
        if (e->has_postcode) {
                if (l->has_postcode
                            ? !pc_covers(e->postcodes, e->n_postcodes, l->postcodes, l->n_postcodes)
                            : !pc_covers(e->postcodes, e->n_postcodes, &every, 1))
                        return false;
        }
        if (e->has_age) {
                /* a referral has at least one child, aged 0..RD_AGE_MAX */
                unsigned llo = l->has_age ? l->age_lo : 0,
                         lhi = l->has_age ? l->age_hi : RD_AGE_MAX;
                if (!(e->age_lo <= llo && lhi <= e->age_hi))
                        return false;
        }
        if (e->has_language && (!l->has_language || !strlist_subset(&l->languages, &e->languages)))
                return false;
        if (e->has_concerns) {
                /* L without concerns: all its lists are empty */
                if (!strlist_subset(&e->concerns_all, &l->concerns_all))
                        return false;
                if (!strlist_subset(&e->concerns_none, &l->concerns_none))
                        return false;
                if (e->concerns_any.n && !lists_meet(&l->concerns_all, &e->concerns_any) &&
                    !(l->concerns_any.n && strlist_subset(&l->concerns_any, &e->concerns_any)))
                        return false;
        }
        return true;
}

static bool has_skill(const struct rd_connector *cn, const char *skill)
{
        return strlist_has(&cn->skills, skill);
}

static bool connector_reachable(const struct rd_rules *r, size_t ci)
{
        const struct rd_connector *cn = &r->connectors[ci];

        for (size_t i = 0; i < r->n_rules; i++) {
                const struct rd_rule *rule = &r->rules[i];
                bool in = false;

                if (rule->action != RD_ACTION_ASSIGN)
                        continue;
                for (size_t j = 0; j < rule->n_teams; j++)
                        in |= rule->teams[j] == cn->team;
                if (!in || (rule->by_postcode && !r->teams[cn->team].has_postcodes))
                        continue;
                if (rule->skill) {
                        if (has_skill(cn, rule->skill))
                                return true;
                        continue;
                }
                for (int k = 0; k < RD_KIND__MAX; k++) {
                        if (rule->when.has_kind && !(rule->when.kinds & (1u << k)))
                                continue;
                        if (has_skill(cn, rd_kind_name((enum rd_kind)k)))
                                return true;
                }
        }
        return false;
}

static void cross_checks(struct ctx *c, yaml_node_t *rules_key, yaml_node_t *root)
{
        struct rd_rules *r = c->rules;
        size_t catch_all = SIZE_MAX;

        /* the catch-all */
        if (r->n_rules == 0) {
                if (rules_key)
                        err(c, rules_key,
                            "rules: at least one rule is needed, the last one without 'when'");
                else
                        err(c, root,
                            "missing key 'rules': at least one rule is needed, the last "
                            "one without 'when'");
        }
        for (size_t i = 0; i < r->n_rules; i++)
                if (r->rules[i].catch_all) {
                        catch_all = i;
                        break;
                }
        if (r->n_rules && catch_all == SIZE_MAX)
                err_at(c, c->rule_pos[r->n_rules - 1].at,
                       "missing catch-all: the last rule '%s' must have no 'when', so that every "
                       "referral gets a decision",
                       r->rules[r->n_rules - 1].name);
        for (size_t i = catch_all == SIZE_MAX ? r->n_rules : catch_all + 1; i < r->n_rules; i++)
                err_at(c, c->rule_pos[i].at,
                       "rule '%s' comes after the catch-all rule '%s' (no 'when') and can never "
                       "match: move it up or remove it",
                       r->rules[i].name, r->rules[catch_all].name);

        /* shadowed rules, up to the catch-all (those after it are errors) */
        size_t end = catch_all == SIZE_MAX ? r->n_rules : catch_all + 1;
        for (size_t j = 1; j < end; j++)
                for (size_t i = 0; i < j && c->rule_pos[j].when_ok; i++)
                        if (c->rule_pos[i].when_ok &&
                            when_covers(&r->rules[i].when, &r->rules[j].when)) {
                                warn_at(c, c->rule_pos[j].at,
                                        "rule '%s' never applies: the earlier rule '%s' matches "
                                        "every referral it matches",
                                        r->rules[j].name, r->rules[i].name);
                                break;
                        }

        /* teams without connectors, postcodes in two teams */
        for (size_t t = 0; t < r->n_teams; t++) {
                const struct rd_team *tb = &r->teams[t];

                if (tb->n_connectors == 0)
                        warn_at(c, c->teams[t].has_conn_key ? c->teams[t].conn_key : c->teams[t].id,
                                "team '%s' has no connectors", tb->id);
                for (size_t j = 0; j < tb->n_postcodes; j++) {
                        bool done = false;
                        for (size_t a = 0; a < t && !done; a++) {
                                const struct rd_team *ta = &r->teams[a];
                                for (size_t k = 0; k < ta->n_postcodes && !done; k++) {
                                        unsigned lo = tb->postcodes[j].lo > ta->postcodes[k].lo
                                                              ? tb->postcodes[j].lo
                                                              : ta->postcodes[k].lo;
                                        unsigned hi = tb->postcodes[j].hi < ta->postcodes[k].hi
                                                              ? tb->postcodes[j].hi
                                                              : ta->postcodes[k].hi;
                                        if (lo > hi)
                                                continue;
                                        done = true;
                                        if (lo == hi)
                                                warn_at(c, c->teams[t].pc[j],
                                                        "postcode %u is also in the list of team "
                                                        "'%s'",
                                                        lo, ta->id);
                                        else
                                                warn_at(c, c->teams[t].pc[j],
                                                        "postcodes %u-%u are also in the list of "
                                                        "team '%s'",
                                                        lo, hi, ta->id);
                                }
                        }
                }
        }

        /* connectors no rule can reach: only in a file without errors, as an
         * unknown team or a broken rule would make this noise */
        for (size_t ci = 0; c->n_errors == 0 && ci < r->n_connectors; ci++)
                if (!connector_reachable(r, ci))
                        warn_at(c, c->conn_ids[ci],
                                "connector '%s' can never get an offer: no rule assigns to team "
                                "'%s' with a skill the connector has",
                                r->connectors[ci].id, r->teams[r->connectors[ci].team].id);
}

static const char *const top_keys[] = {"version", "defaults", "teams", "forward_targets", "rules"};

static void parse_root(struct ctx *c, yaml_node_t *root)
{
        yaml_node_t *v[5], *k[5];

        if (!fields(c, root, "the file", "at the top level", top_keys, 5, k, v))
                return;
        if (!v[0]) {
                err(c, root, "missing key 'version': write 'version: 1' at the top");
        } else {
                const char *s = scalar(v[0]);
                if (!s || strcmp(s, "1"))
                        err(c, v[0], "version: must be 1%s%s%s", s ? ", not '" : "", s ? s : "",
                            s ? "'" : "");
        }
        if (v[1])
                parse_defaults(c, v[1]);
        if (v[2] && seq(c, v[2], "teams"))
                each(c, v[2], parse_team, 0);
        if (v[3] && seq(c, v[3], "forward_targets"))
                each(c, v[3], parse_target, 0);
        if (v[4] && seq(c, v[4], "rules"))
                each(c, v[4], parse_rule, 0);
        cross_checks(c, v[4] ? k[4] : NULL, root);
}

/* ---- loading ---------------------------------------------------------- */

static struct mark offset_mark(const char *buf, size_t len, size_t off)
{
        struct mark m = {1, 1};

        for (size_t i = 0; i < off && i < len; i++) {
                if (buf[i] == '\n') {
                        m.line++;
                        m.col = 1;
                } else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
                        m.col++;
                }
        }
        return m;
}

static void syntax_error(struct ctx *c, yaml_parser_t *p, const char *buf, size_t len)
{
        struct mark at;

        if (p->error == YAML_MEMORY_ERROR) {
                c->oom = true;
                return;
        }
        if (p->error == YAML_READER_ERROR)
                at = offset_mark(buf, len, p->problem_offset);
        else
                at = (struct mark){p->problem_mark.line + 1, p->problem_mark.column + 1};
        if (p->context)
                err_at(c, at, "syntax error: %s %s", p->problem ? p->problem : "bad YAML",
                       p->context);
        else
                err_at(c, at, "syntax error: %s", p->problem ? p->problem : "bad YAML");
}

static void ctx_free(struct ctx *c)
{
        for (size_t i = 0; i < c->n_msgs; i++)
                free(c->msgs[i].text);
        free(c->msgs);
        if (c->rules && c->teams)
                for (size_t i = 0; i < c->rules->n_teams; i++)
                        free(c->teams[i].pc);
        free(c->teams);
        free(c->conn_ids);
        free(c->target_ids);
        free(c->rule_pos);
}

int rd_rules_load_buffer(const char *name, const char *buf, size_t len, struct rd_rules **out,
                         struct rd_diag *diag)
{
        struct ctx c = {0};
        struct rd_rules *r = NULL;
        yaml_parser_t parser;
        yaml_document_t doc, doc2;
        bool parser_ok = false, doc_ok = false;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        int rc = -EINVAL;

        if (!name || (!buf && len) || !out)
                return -EINVAL;
        c.name = name;
        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        c.rules = r;
        r->version = 1;
        r->window_s = 30 * 86400;
        r->accept_within_s = 2 * 86400;
        r->at_risk_s = 7 * 86400;
        r->trajectory_s = 120 * 86400;
        r->source = strdup(name);
        if (!r->source || !EVP_Digest(buf ? buf : "", len, md, &md_len, EVP_sha256(), NULL) ||
            md_len != 32) {
                rc = -ENOMEM;
                goto out;
        }
        for (unsigned i = 0; i < md_len; i++)
                snprintf(r->digest + 2 * i, 3, "%02x", md[i]);

        if (len > RULES_FILE_MAX) {
                err_at(&c, (struct mark){1, 1}, "the file is larger than %d bytes", RULES_FILE_MAX);
                goto report;
        }
        if (!yaml_parser_initialize(&parser)) {
                rc = -ENOMEM;
                goto out;
        }
        parser_ok = true;
        yaml_parser_set_input_string(&parser, (const unsigned char *)(buf ? buf : ""), len);
        if (!yaml_parser_load(&parser, &doc)) {
                syntax_error(&c, &parser, buf, len);
                goto report;
        }
        doc_ok = true;
        c.doc = &doc;
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) {
                err_at(&c, (struct mark){1, 1},
                       "the file is empty: it needs 'version: 1', "
                       "'rules' and what they name");
                goto report;
        }
        if (!yaml_parser_load(&parser, &doc2)) {
                syntax_error(&c, &parser, buf, len);
        } else {
                yaml_node_t *root2 = yaml_document_get_root_node(&doc2);
                if (root2)
                        err_at(&c, mark_of(root2),
                               "a second YAML document: the file must hold one document only");
                yaml_document_delete(&doc2);
        }
        parse_root(&c, root);

report:
        if (c.n_msgs)
                qsort(c.msgs, c.n_msgs, sizeof *c.msgs, msg_cmp);
        for (size_t i = 0; diag && i < c.n_msgs; i++)
                if (rd_diag_add(diag, c.msgs[i].sev, name, c.msgs[i].at.line, c.msgs[i].at.col,
                                "%s", c.msgs[i].text) < 0)
                        c.oom = true;
        if (c.oom)
                rc = -ENOMEM;
        else if (c.n_errors)
                rc = -EINVAL;
        else
                rc = 0;
out:
        if (doc_ok)
                yaml_document_delete(&doc);
        if (parser_ok)
                yaml_parser_delete(&parser);
        ctx_free(&c); /* before R: it reads r->n_teams */
        if (rc == 0)
                *out = r;
        else
                rd_rules_free(r);
        return rc;
}

int rd_rules_load_file(const char *path, struct rd_rules **out, struct rd_diag *diag)
{
        struct stat st;
        char *buf = NULL;
        size_t len = 0;
        int fd, rc;

        if (!path || !out)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                rc = -errno;
                goto fail;
        }
        if (fstat(fd, &st) < 0) {
                rc = -errno;
                goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
                rc = -EINVAL;
                goto fail;
        }
        if (st.st_size > RULES_FILE_MAX) {
                rc = -EFBIG;
                goto fail;
        }
        buf = malloc((size_t)st.st_size + 1);
        if (!buf) {
                rc = -ENOMEM;
                goto fail;
        }
        for (;;) {
                ssize_t n;

                if (len > RULES_FILE_MAX) {
                        rc = -EFBIG;
                        goto fail;
                }
                if (len == (size_t)st.st_size) {
                        /* the file may have grown: look for more */
                        char *nb = realloc(buf, len + 4096 + 1);
                        if (!nb) {
                                rc = -ENOMEM;
                                goto fail;
                        }
                        buf = nb;
                        st.st_size = (off_t)(len + 4096);
                }
                n = read(fd, buf + len, (size_t)st.st_size - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        rc = -errno;
                        goto fail;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        fd = -1;
        rc = rd_rules_load_buffer(path, buf, len, out, diag);
        free(buf);
        return rc;

fail:
        if (fd >= 0)
                close(fd);
        free(buf);
        if (rc == -EFBIG)
                rd_diag_add(diag, RD_DIAG_ERROR, path, 0, 0,
                            "cannot read: the file is larger than %d bytes", RULES_FILE_MAX);
        else if (rc == -EINVAL)
                rd_diag_add(diag, RD_DIAG_ERROR, path, 0, 0, "cannot read: not a regular file");
        else
                rd_diag_add(diag, RD_DIAG_ERROR, path, 0, 0, "cannot read: %s", strerror(-rc));
        return rc;
}

static void when_free(struct rd_when *w)
{
        strlist_free(&w->partners);
        free(w->postcodes);
        strlist_free(&w->languages);
        strlist_free(&w->concerns_any);
        strlist_free(&w->concerns_all);
        strlist_free(&w->concerns_none);
}

void rd_rules_free(struct rd_rules *rules)
{
        if (!rules)
                return;
        for (size_t i = 0; i < rules->n_teams; i++) {
                free(rules->teams[i].postcodes);
                free(rules->teams[i].connectors);
        }
        free(rules->teams);
        for (size_t i = 0; i < rules->n_connectors; i++) {
                strlist_free(&rules->connectors[i].skills);
                strlist_free(&rules->connectors[i].languages);
        }
        free(rules->connectors);
        for (size_t i = 0; i < rules->n_targets; i++)
                free(rules->targets[i].name);
        free(rules->targets);
        for (size_t i = 0; i < rules->n_rules; i++) {
                struct rd_rule *r = &rules->rules[i];

                when_free(&r->when);
                free(r->forward_reason);
                free(r->teams);
                free(r->skill);
                free(r->otherwise_reason);
        }
        free(rules->rules);
        free(rules->source);
        free(rules);
}

ssize_t rd_rules_connector_index(const struct rd_rules *rules, const char *id)
{
        if (!rules || !id)
                return -1;
        for (size_t i = 0; i < rules->n_connectors; i++)
                if (!strcmp(rules->connectors[i].id, id))
                        return (ssize_t)i;
        return -1;
}

ssize_t rd_rules_team_index(const struct rd_rules *rules, const char *id)
{
        if (!rules || !id)
                return -1;
        for (size_t i = 0; i < rules->n_teams; i++)
                if (!strcmp(rules->teams[i].id, id))
                        return (ssize_t)i;
        return -1;
}

ssize_t rd_rules_target_index(const struct rd_rules *rules, const char *id)
{
        if (!rules || !id)
                return -1;
        for (size_t i = 0; i < rules->n_targets; i++)
                if (!strcmp(rules->targets[i].id, id))
                        return (ssize_t)i;
        return -1;
}

ssize_t rd_rules_rule_index(const struct rd_rules *rules, const char *name)
{
        if (!rules || !name)
                return -1;
        for (size_t i = 0; i < rules->n_rules; i++)
                if (!strcmp(rules->rules[i].name, name))
                        return (ssize_t)i;
        return -1;
}
