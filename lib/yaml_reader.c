/* yaml_reader.c: the one YAML reader (yaml_reader.h).
 *
 * A file is read whole (bounded), then parsed twice by libyaml: first as a
 * stream of events, which finds syntax errors, a nesting too deep and a
 * second document, and stops at the first of them (so that a pathological
 * nesting costs nothing: libyaml's scanner is quadratic in the depth of
 * flow collections); then, unless that pass found a syntax error or a
 * nesting too deep, the first document is built with libyaml's document
 * API for the loader to walk (after a second document too: one run shows
 * every error). */
#include "yaml_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rules.h" /* rd_duration_parse */

struct msg {
        enum rd_diag_severity sev;
        struct rd_yaml_pos at;
        size_t seq; /* report order, for messages at one position */
        char *text;
};

struct rd_yaml {
        char *name;        /* the FILE of every message */
        char *owned;       /* the bytes, when read from a file */
        const char *bytes; /* what was read (owned, or the caller's) */
        size_t len;
        yaml_document_t doc;
        bool loaded;    /* doc holds the document */
        int read_error; /* negative errno: the file could not be read */
        struct msg *msgs;
        size_t n_msgs, cap_msgs;
        size_t n_errors;
        bool oom;
};

/* ---- messages ------------------------------------------------------------ */

struct rd_yaml_pos rd_yaml_pos(const yaml_node_t *n)
{
        struct rd_yaml_pos p = {n->start_mark.line + 1, n->start_mark.column + 1};
        return p;
}

static void vreport(struct rd_yaml *y, enum rd_diag_severity sev, struct rd_yaml_pos at,
                    const char *fmt, va_list ap)
{
        struct msg *msgs;
        char *text;

        if (vasprintf(&text, fmt, ap) < 0) {
                y->oom = true;
                return;
        }
        if (y->n_msgs == y->cap_msgs) { /* doubled: a file may have many faults */
                size_t cap = y->cap_msgs ? 2 * y->cap_msgs : 16;

                msgs = realloc(y->msgs, cap * sizeof *msgs);
                if (!msgs) {
                        free(text);
                        y->oom = true;
                        return;
                }
                y->msgs = msgs;
                y->cap_msgs = cap;
        }
        msgs = y->msgs;
        msgs[y->n_msgs] = (struct msg){sev, at, y->n_msgs, text};
        y->n_msgs++;
        if (sev == RD_DIAG_ERROR)
                y->n_errors++;
}

void rd_yaml_report(struct rd_yaml *y, enum rd_diag_severity sev, struct rd_yaml_pos pos,
                    const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vreport(y, sev, pos, fmt, ap);
        va_end(ap);
}

void rd_yaml_error(struct rd_yaml *y, const yaml_node_t *n, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vreport(y, RD_DIAG_ERROR, rd_yaml_pos(n), fmt, ap);
        va_end(ap);
}

static const struct rd_yaml_pos file_start = {1, 1};

static int msg_cmp(const void *a, const void *b)
{
        const struct msg *x = a, *y = b;

        if (x->at.line != y->at.line)
                return x->at.line < y->at.line ? -1 : 1;
        if (x->at.column != y->at.column)
                return x->at.column < y->at.column ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void yaml_free(struct rd_yaml *y)
{
        for (size_t i = 0; i < y->n_msgs; i++)
                free(y->msgs[i].text);
        free(y->msgs);
        if (y->loaded)
                yaml_document_delete(&y->doc);
        free(y->owned);
        free(y->name);
        free(y);
}

int rd_yaml_finish(struct rd_yaml *y, struct rd_diag *diag)
{
        int rc;

        if (!y)
                return 0;
        if (y->n_msgs)
                qsort(y->msgs, y->n_msgs, sizeof *y->msgs, msg_cmp);
        for (size_t i = 0; i < y->n_msgs; i++)
                if (rd_diag_add(diag, y->msgs[i].sev, y->name, y->msgs[i].at.line,
                                y->msgs[i].at.column, "%s", y->msgs[i].text) < 0)
                        y->oom = true;
        if (y->read_error)
                rc = y->read_error;
        else if (y->oom)
                rc = -ENOMEM;
        else if (y->n_errors)
                rc = -EINVAL;
        else
                rc = 0;
        yaml_free(y);
        return rc;
}

bool rd_yaml_loaded(const struct rd_yaml *y)
{
        return y->loaded;
}

yaml_node_t *rd_yaml_root(struct rd_yaml *y)
{
        yaml_node_t *root = y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;

        return root && !rd_yaml_is_null(root) ? root : NULL;
}

yaml_node_t *rd_yaml_node(struct rd_yaml *y, int id)
{
        return y->loaded ? yaml_document_get_node(&y->doc, id) : NULL;
}

const char *rd_yaml_bytes(const struct rd_yaml *y, size_t *len)
{
        *len = y->len;
        return y->bytes;
}

const char *rd_yaml_name(const struct rd_yaml *y)
{
        return y->name;
}

size_t rd_yaml_errors(const struct rd_yaml *y)
{
        return y->n_errors;
}

void rd_yaml_nomem(struct rd_yaml *y)
{
        y->oom = true;
}

/* ---- parsing ------------------------------------------------------------- */

/* The position of byte OFF: libyaml gives only an offset for a fault of
 * its reader (bad UTF-8, a control character). Columns count characters,
 * as in libyaml's own marks: continuation bytes do not count. */
static struct rd_yaml_pos offset_pos(const struct rd_yaml *y, size_t off)
{
        struct rd_yaml_pos p = {1, 1};

        for (size_t i = 0; i < off && i < y->len; i++) {
                if (y->bytes[i] == '\n') {
                        p.line++;
                        p.column = 1;
                } else if (((unsigned char)y->bytes[i] & 0xc0) != 0x80) {
                        p.column++;
                }
        }
        return p;
}

static void syntax_error(struct rd_yaml *y, const yaml_parser_t *p)
{
        struct rd_yaml_pos at;
        const char *problem = p->problem ? p->problem : "not valid YAML";

        if (p->error == YAML_MEMORY_ERROR) {
                y->oom = true;
                return;
        }
        if (p->error == YAML_READER_ERROR)
                at = offset_pos(y, p->problem_offset);
        else
                at = (struct rd_yaml_pos){p->problem_mark.line + 1, p->problem_mark.column + 1};
        if (p->context)
                rd_yaml_report(y, RD_DIAG_ERROR, at, "syntax error: %s %s", problem, p->context);
        else
                rd_yaml_report(y, RD_DIAG_ERROR, at, "syntax error: %s", problem);
}

static struct rd_yaml_pos mark_pos(yaml_mark_t m)
{
        return (struct rd_yaml_pos){m.line + 1, m.column + 1};
}

enum scan { SCAN_OK, SCAN_SECOND_DOCUMENT, SCAN_BAD };

/* The event pass: syntax, depth, one document. Stops at the first fault. */
static enum scan scan_events(struct rd_yaml *y, yaml_parser_t *p)
{
        size_t depth = 0, docs = 0;

        for (;;) {
                yaml_event_t ev;
                enum scan r = SCAN_OK;
                bool end;

                if (!yaml_parser_parse(p, &ev)) {
                        syntax_error(y, p);
                        return SCAN_BAD;
                }
                end = ev.type == YAML_STREAM_END_EVENT;
                switch (ev.type) {
                case YAML_DOCUMENT_START_EVENT:
                        if (++docs > 1) {
                                rd_yaml_report(y, RD_DIAG_ERROR, mark_pos(ev.start_mark),
                                               "a second YAML document: the file must hold one "
                                               "document only");
                                r = SCAN_SECOND_DOCUMENT;
                        }
                        break;
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT:
                        if (++depth > RD_YAML_DEPTH_MAX) {
                                rd_yaml_report(y, RD_DIAG_ERROR, mark_pos(ev.start_mark),
                                               "nested deeper than %d levels of lists and "
                                               "mappings",
                                               RD_YAML_DEPTH_MAX);
                                r = SCAN_BAD;
                        }
                        break;
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT: depth--; break;
                default: break;
                }
                yaml_event_delete(&ev);
                if (r != SCAN_OK || end)
                        return r;
        }
}

/* Check the bytes, then build the first document. */
static void parse(struct rd_yaml *y)
{
        yaml_parser_t p;
        enum scan r;

        if (y->len > RD_YAML_FILE_MAX) {
                rd_yaml_report(y, RD_DIAG_ERROR, file_start, "the file is larger than %d bytes",
                               RD_YAML_FILE_MAX);
                return;
        }
        if (!yaml_parser_initialize(&p)) {
                y->oom = true;
                return;
        }
        yaml_parser_set_input_string(&p, (const unsigned char *)y->bytes, y->len);
        r = scan_events(y, &p);
        yaml_parser_delete(&p);
        if (r == SCAN_BAD)
                return;
        if (!yaml_parser_initialize(&p)) {
                y->oom = true;
                return;
        }
        yaml_parser_set_input_string(&p, (const unsigned char *)y->bytes, y->len);
        if (yaml_parser_load(&p, &y->doc))
                y->loaded = true;
        else
                syntax_error(y, &p); /* a fault only the composer sees (an unknown alias) */
        yaml_parser_delete(&p);
}

static struct rd_yaml *yaml_new(const char *name)
{
        struct rd_yaml *y = calloc(1, sizeof *y);

        if (!y)
                return NULL;
        y->name = strdup(name);
        if (!y->name) {
                free(y);
                return NULL;
        }
        y->bytes = "";
        return y;
}

int rd_yaml_open_buffer(const char *name, const char *buf, size_t len, struct rd_yaml **out)
{
        struct rd_yaml *y;

        if (!name || (!buf && len) || !out)
                return -EINVAL;
        y = yaml_new(name);
        if (!y)
                return -ENOMEM;
        if (buf)
                y->bytes = buf;
        y->len = len;
        parse(y);
        *out = y;
        return 0;
}

/* Read FD (a regular file of SIZE bytes when it was looked at) whole into
 * a new buffer. 0, -EFBIG beyond RD_YAML_FILE_MAX, or a negative errno. */
static int read_all(int fd, size_t size, char **out, size_t *len)
{
        size_t cap = (size > RD_YAML_FILE_MAX ? RD_YAML_FILE_MAX : size) + 1, n = 0;
        char *buf = malloc(cap);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t r;

                if (n == cap) { /* it grew since: read on, to the limit */
                        char *nb;

                        if (cap > RD_YAML_FILE_MAX) {
                                free(buf);
                                return -EFBIG;
                        }
                        cap = cap * 2 > RD_YAML_FILE_MAX + 1 ? RD_YAML_FILE_MAX + 1 : cap * 2;
                        nb = realloc(buf, cap);
                        if (!nb) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = nb;
                }
                r = read(fd, buf + n, cap - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        int e = -errno;
                        free(buf);
                        return e;
                }
                if (r == 0)
                        break;
                n += (size_t)r;
        }
        if (n > RD_YAML_FILE_MAX) {
                free(buf);
                return -EFBIG;
        }
        *out = buf;
        *len = n;
        return 0;
}

/* Open PATH without blocking (a FIFO would block a plain open) and read
 * it if it is a regular file. Reports what goes wrong. */
static void read_file(struct rd_yaml *y, const char *path)
{
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        int r;

        if (fd < 0) {
                r = -errno;
        } else if (fstat(fd, &st) < 0) {
                r = -errno;
        } else if (!S_ISREG(st.st_mode)) {
                r = -EINVAL;
        } else if (st.st_size > RD_YAML_FILE_MAX) {
                r = -EFBIG;
        } else {
                r = read_all(fd, (size_t)st.st_size, &y->owned, &y->len);
        }
        if (fd >= 0)
                close(fd);
        if (r == 0) {
                y->bytes = y->owned;
                return;
        }
        if (r == -ENOMEM) {
                y->oom = true;
                return;
        }
        y->read_error = r;
        if (r == -EINVAL)
                rd_yaml_report(y, RD_DIAG_ERROR, file_start, "not a regular file");
        else if (r == -EFBIG)
                rd_yaml_report(y, RD_DIAG_ERROR, file_start, "the file is larger than %d bytes",
                               RD_YAML_FILE_MAX);
        else
                rd_yaml_report(y, RD_DIAG_ERROR, file_start, "cannot read: %s", strerror(-r));
}

int rd_yaml_open_file(const char *path, struct rd_yaml **out)
{
        struct rd_yaml *y;

        if (!path || !out)
                return -EINVAL;
        y = yaml_new(path);
        if (!y)
                return -ENOMEM;
        read_file(y, path);
        if (y->oom) {
                yaml_free(y);
                return -ENOMEM;
        }
        if (!y->read_error)
                parse(y);
        *out = y;
        return 0;
}

/* ---- values -------------------------------------------------------------- */

bool rd_yaml_is_null(const yaml_node_t *n)
{
        const char *s = rd_yaml_str(n);

        if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        return !strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
               !strcmp(s, "NULL");
}

const char *rd_yaml_str(const yaml_node_t *n)
{
        return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

const char *rd_yaml_kind(const yaml_node_t *n)
{
        if (!n || rd_yaml_is_null(n) || (n->type == YAML_SCALAR_NODE && !n->data.scalar.length))
                return "an empty value";
        switch (n->type) {
        case YAML_SEQUENCE_NODE: return "a list";
        case YAML_MAPPING_NODE: return "a mapping";
        default: return "a single value";
        }
}

bool rd_yaml_expected(struct rd_yaml *y, const yaml_node_t *n, const char *what,
                      const char *expected)
{
        rd_yaml_error(y, n, "%s: expected %s, not %s", what, expected, rd_yaml_kind(n));
        return false;
}

const char *rd_yaml_text(struct rd_yaml *y, const yaml_node_t *n, const char *what)
{
        const char *s = rd_yaml_str(n);

        if (!s) {
                rd_yaml_expected(y, n, what, "a single value");
                return NULL;
        }
        if (!*s || rd_yaml_is_null(n)) {
                rd_yaml_expected(y, n, what, "a value");
                return NULL;
        }
        if (strlen(s) != n->data.scalar.length) {
                rd_yaml_error(y, n, "%s: a NUL character is not allowed", what);
                return NULL;
        }
        return s;
}

/* "'a', 'b' or 'c'" into BUF (truncated to fit). */
static void word_list(const char *const *words, size_t n, bool quote, char *buf, size_t size)
{
        const char *q = quote ? "'" : "";

        buf[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(buf);
                const char *sep = i == 0 ? "" : quote && i + 1 == n ? " or " : ", ";

                snprintf(buf + l, size - l, "%s%s%s%s", sep, q, words[i], q);
        }
}

bool rd_yaml_enum(struct rd_yaml *y, const yaml_node_t *n, const char *what,
                  const char *const *names, size_t n_names, int *out)
{
        const char *s = rd_yaml_str(n), *sug;
        char list[256];

        word_list(names, n_names, true, list, sizeof list);
        if (!s || !*s || rd_yaml_is_null(n))
                return rd_yaml_expected(y, n, what, list);
        for (size_t i = 0; i < n_names; i++)
                if (!strcmp(s, names[i])) {
                        *out = (int)i;
                        return true;
                }
        sug = rd_suggest(s, names, n_names);
        if (sug)
                rd_yaml_error(y, n, "%s: unknown value '%s'; did you mean '%s'?", what, s, sug);
        else
                rd_yaml_error(y, n, "%s: unknown value '%s': use %s", what, s, list);
        return false;
}

bool rd_yaml_duration(struct rd_yaml *y, const yaml_node_t *n, const char *what, int64_t *out)
{
        const char *s = rd_yaml_str(n);

        if (!s || rd_duration_parse(s, out) < 0) {
                rd_yaml_error(y, n,
                              "%s: bad duration%s%s%s: use a whole number above 0 and a unit s, "
                              "m, h or d, like 30d",
                              what, s ? " '" : "", s ? s : "", s ? "'" : "");
                return false;
        }
        return true;
}

/* ---- lists --------------------------------------------------------------- */

size_t rd_yaml_count(const yaml_node_t *n)
{
        if (!n || n->type != YAML_SEQUENCE_NODE)
                return 0;
        return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

yaml_node_t *rd_yaml_item(struct rd_yaml *y, const yaml_node_t *n, size_t i)
{
        if (i >= rd_yaml_count(n))
                return NULL;
        return rd_yaml_node(y, n->data.sequence.items.start[i]);
}

/* ---- mappings ------------------------------------------------------------ */

struct key_ref {
        const char *key;
        size_t i;
};

static int key_ref_cmp(const void *a, const void *b)
{
        const struct key_ref *x = a, *y = b;
        int c = strcmp(x->key, y->key);

        if (c)
                return c;
        return x->i < y->i ? -1 : x->i > y->i;
}

/* Report and drop each pair of P (N of them) whose key an earlier pair
 * has: sorted by key (n log n, a mapping may have 100,000 keys). Returns
 * how many remain, in their order. */
static size_t drop_duplicates(struct rd_yaml *y, struct rd_yaml_pair *p, size_t n)
{
        struct key_ref *refs = calloc(n, sizeof *refs);
        size_t m = 0;

        if (!refs) {
                y->oom = true;
                return 0;
        }
        for (size_t i = 0; i < n; i++)
                refs[i] = (struct key_ref){p[i].key, i};
        qsort(refs, n, sizeof *refs, key_ref_cmp);
        for (size_t i = 1, first = 0; i < n; i++) {
                if (strcmp(refs[first].key, refs[i].key)) {
                        first = i; /* a new key; the first of its run is the earliest */
                        continue;
                }
                rd_yaml_error(y, p[refs[i].i].k, "duplicate key '%s' (first at line %zu)",
                              refs[i].key, rd_yaml_pos(p[refs[first].i].k).line);
                p[refs[i].i].k = NULL; /* dropped below */
        }
        free(refs);
        for (size_t i = 0; i < n; i++)
                if (p[i].k)
                        p[m++] = p[i];
        return m;
}

struct rd_yaml_pair *rd_yaml_pairs(struct rd_yaml *y, const yaml_node_t *map, size_t *n)
{
        const yaml_node_pair_t *start = map->data.mapping.pairs.start;
        size_t total = (size_t)(map->data.mapping.pairs.top - start), m = 0;
        struct rd_yaml_pair *pairs;

        *n = 0;
        if (!total)
                return NULL;
        pairs = calloc(total, sizeof *pairs);
        if (!pairs) {
                y->oom = true;
                return NULL;
        }
        for (size_t i = 0; i < total; i++) {
                yaml_node_t *k = rd_yaml_node(y, start[i].key),
                            *v = rd_yaml_node(y, start[i].value);

                if (!k || !v)
                        continue;
                if (k->type != YAML_SCALAR_NODE) {
                        rd_yaml_error(y, k, "a key must be a single value, not %s",
                                      rd_yaml_kind(k));
                        continue;
                }
                pairs[m++] = (struct rd_yaml_pair){rd_yaml_str(k), k, v};
        }
        m = drop_duplicates(y, pairs, m);
        if (!m) {
                free(pairs);
                return NULL;
        }
        *n = m;
        return pairs;
}

bool rd_yaml_fields(struct rd_yaml *y, const yaml_node_t *map, const char *what,
                    const char *const *keys, size_t n_keys, yaml_node_t **keynodes,
                    yaml_node_t **values)
{
        struct rd_yaml_pair *pairs;
        char list[512], expected[560];
        size_t n;

        for (size_t i = 0; i < n_keys; i++) {
                values[i] = NULL;
                if (keynodes)
                        keynodes[i] = NULL;
        }
        word_list(keys, n_keys, false, list, sizeof list);
        if (!map || map->type != YAML_MAPPING_NODE) {
                snprintf(expected, sizeof expected, "a mapping (%s)", list);
                if (map)
                        rd_yaml_expected(y, map, what, expected);
                return false;
        }
        pairs = rd_yaml_pairs(y, map, &n);
        for (size_t j = 0; j < n; j++) {
                size_t i;

                for (i = 0; i < n_keys && strcmp(pairs[j].key, keys[i]); i++)
                        ;
                if (i < n_keys) {
                        values[i] = pairs[j].v;
                        if (keynodes)
                                keynodes[i] = pairs[j].k;
                        continue;
                }
                const char *s = rd_suggest(pairs[j].key, keys, n_keys);
                if (s)
                        rd_yaml_error(y, pairs[j].k, "unknown key '%s'; did you mean '%s'?",
                                      pairs[j].key, s);
                else
                        rd_yaml_error(y, pairs[j].k, "unknown key '%s'; the known keys are %s",
                                      pairs[j].key, list);
        }
        free(pairs);
        return true;
}

/* ---- "did you mean" ------------------------------------------------------ */

#define WORD_MAX 64 /* longer words get no suggestion */

/* Optimal string alignment distance (Levenshtein plus swaps of two
 * neighbours), capped: anything over RD_SUGGEST_MAX is RD_SUGGEST_MAX + 1. */
static size_t edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        size_t d[3][WORD_MAX + 1];
        size_t *prev2 = d[0], *prev = d[1], *cur = d[2];

        if (la > WORD_MAX || lb > WORD_MAX || (la > lb ? la - lb : lb - la) > RD_SUGGEST_MAX)
                return RD_SUGGEST_MAX + 1;
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t v = prev[j] + 1;

                        if (cur[j - 1] + 1 < v)
                                v = cur[j - 1] + 1;
                        if (prev[j - 1] + (a[i - 1] != b[j - 1]) < v)
                                v = prev[j - 1] + (a[i - 1] != b[j - 1]);
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

void rd_suggest_try(struct rd_suggest *s, const char *word, const char *cand)
{
        size_t d;

        if (!word || !cand || !*cand)
                return;
        d = edit_distance(word, cand);
        if (d > 0 && d <= RD_SUGGEST_MAX && (!s->best || d < s->dist)) {
                s->best = cand;
                s->dist = d;
        }
}

const char *rd_suggest(const char *word, const char *const *cands, size_t n)
{
        struct rd_suggest s = {NULL, 0};

        for (size_t i = 0; i < n; i++)
                rd_suggest_try(&s, word, cands[i]);
        return s.best;
}
