/* referral-json-eval: the C JSON parsers Debian 12 packages, on the
 * daemon's submit request (docs/performance.md, "The JSON parsers").
 *
 * Each parser reads the same pool of requests: the submits referral-bench
 * sends (tools/bench/submit.c: ~650 bytes, a referral with children,
 * concerns, a family and a note). Each is a function of its own, so that
 * callgrind counts its instructions exactly (tools/perf/json_eval.sh runs
 * this program under callgrind and reads the inclusive cost of each):
 *
 *   jansson      json_loadb with JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, as
 *                lib/referral parses a request (a tree), then freed
 *   jansson_all  the same, then rd_referral_from_json (the daemon's
 *                decoding into struct rd_referral), then freed
 *   jsonc        json-c 0.16: json_tokener_parse_ex with STRICT and
 *                VALIDATE_UTF8, depth 32 (a tree), then freed
 *   cjson        cJSON 1.7: cJSON_ParseWithLength (a tree), then freed
 *   yajl         yajl 2.1: yajl_parse with callbacks that do nothing (UTF-8
 *                validated): the parser alone
 *   yajl_decode  yajl 2.1 with callbacks that do what the daemon would need
 *                around an event parser: the depth, duplicate keys per
 *                object, integers as text (exact), every string and key
 *                copied into one buffer per request
 *
 * and, for the other half of the JSON work, writing one event of the kind
 * the daemon stores twice per submit (referral.assigned: 12 fields):
 *
 *   gen_jansson  a jansson object built and dumped (as lib/event and the
 *                store do today), then freed
 *   gen_cjson    a cJSON tree built and printed into a buffer, then freed
 *   gen_yajl     yajl_gen writing straight into its reused buffer: no tree
 *
 * json-c and jansson cannot be linked into one program: both export
 * json_object_get, json_object_iter_next and more (the daemon could only
 * change from one to the other at once, everywhere). So this file is built
 * twice: referral-json-eval (jansson, cJSON, yajl) and, with EVAL_JSONC,
 * referral-json-eval-jsonc (json-c alone).
 *
 * It also prints wall-clock nanoseconds per request for each (noisy on a
 * shared machine; the instruction counts are the figures to compare).
 *
 * Usage: referral-json-eval [-n REQUESTS] [-k NAME,...]. Built only where
 * the three libraries' -dev packages are installed (libjson-c-dev,
 * libcjson-dev, libyajl-dev); not installed. */
#include "bench.h"
#include "submit.h"
#include "tool.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef EVAL_JSONC
#include <json-c/json.h>
#else
#include "referral.h"
#include <cjson/cJSON.h>
#include <jansson.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#endif

#define EVAL_PROG "referral-json-eval"
#define POOL 256
#define DEPTH_MAX 32
#define KEYS_MAX 16

struct req {
        char text[REQUEST_MAX];
        size_t len;
};

/* ---- the parsers, one function each ---------------------------------------------------- */

#ifdef EVAL_JSONC
__attribute__((noinline)) static int parse_jsonc(const struct req *r)
{
        struct json_tokener *tok = json_tokener_new_ex(DEPTH_MAX);
        struct json_object *o;
        int ok;

        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        o = json_tokener_parse_ex(tok, r->text, (int)r->len);
        ok = o && json_tokener_get_error(tok) == json_tokener_success;
        json_object_put(o);
        json_tokener_free(tok);
        return ok;
}

#else

__attribute__((noinline)) static int parse_jansson(const struct req *r)
{
        json_error_t e;
        json_t *j = json_loadb(r->text, r->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
        int ok = j != NULL;

        json_decref(j);
        return ok;
}

__attribute__((noinline)) static int parse_jansson_all(const struct req *r)
{
        json_error_t e;
        json_t *j = json_loadb(r->text, r->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
        struct rd_referral ref;
        struct rd_error err;
        int ok = j && rd_referral_from_json(json_object_get(j, "referral"), &ref, &err) == 0;

        if (ok)
                rd_referral_clear(&ref);
        json_decref(j);
        return ok;
}

__attribute__((noinline)) static int parse_cjson(const struct req *r)
{
        cJSON *j = cJSON_ParseWithLength(r->text, r->len);
        int ok = j != NULL;

        cJSON_Delete(j);
        return ok;
}

static int nothing(void *ctx)
{
        (void)ctx;
        return 1;
}
static int nothing_bool(void *ctx, int b)
{
        (void)ctx, (void)b;
        return 1;
}
static int nothing_text(void *ctx, const unsigned char *s, size_t n)
{
        (void)ctx, (void)s, (void)n;
        return 1;
}
static int nothing_number(void *ctx, const char *s, size_t n)
{
        (void)ctx, (void)s, (void)n;
        return 1;
}

static const yajl_callbacks no_callbacks = {
        nothing, nothing_bool, NULL,    NULL,    nothing_number, nothing_text,
        nothing, nothing_text, nothing, nothing, nothing,
};

__attribute__((noinline)) static int parse_yajl(const struct req *r)
{
        yajl_handle h = yajl_alloc(&no_callbacks, NULL, NULL);
        int ok = yajl_parse(h, (const unsigned char *)r->text, r->len) == yajl_status_ok &&
                 yajl_complete_parse(h) == yajl_status_ok;

        yajl_free(h);
        return ok;
}

/* What a decoder on yajl's events keeps: the depth, the keys of each open
 * object (duplicates refused), every string copied into one buffer. */
struct decode {
        int depth;
        struct {
                const char *key[KEYS_MAX];
                size_t len[KEYS_MAX];
                int n;
        } obj[DEPTH_MAX + 1];
        char buf[REQUEST_MAX];
        size_t used;
};

static const char *keep(struct decode *d, const unsigned char *s, size_t n)
{
        char *at = d->buf + d->used;

        if (d->used + n + 1 > sizeof d->buf)
                return NULL;
        memcpy(at, s, n);
        at[n] = '\0';
        d->used += n + 1;
        return at;
}

static int dec_open(void *ctx)
{
        struct decode *d = ctx;

        if (++d->depth > DEPTH_MAX)
                return 0;
        d->obj[d->depth].n = 0;
        return 1;
}
static int dec_close(void *ctx)
{
        ((struct decode *)ctx)->depth--;
        return 1;
}
static int dec_key(void *ctx, const unsigned char *s, size_t n)
{
        struct decode *d = ctx;
        typeof(d->obj[0]) *o = &d->obj[d->depth];
        const char *k;

        for (int i = 0; i < o->n; i++)
                if (o->len[i] == n && memcmp(o->key[i], s, n) == 0)
                        return 0; /* a duplicate key */
        if (o->n == KEYS_MAX || !(k = keep(d, s, n)))
                return 0;
        o->key[o->n] = k;
        o->len[o->n++] = n;
        return 1;
}
static int dec_string(void *ctx, const unsigned char *s, size_t n)
{
        return keep(ctx, s, n) != NULL;
}
static int dec_number(void *ctx, const char *s, size_t n)
{
        return keep(ctx, (const unsigned char *)s, n) != NULL; /* exact: the text */
}

static const yajl_callbacks decode_callbacks = {
        nothing,  nothing_bool, NULL,      NULL,    dec_number, dec_string,
        dec_open, dec_key,      dec_close, nothing, nothing,
};

__attribute__((noinline)) static int parse_yajl_decode(const struct req *r)
{
        struct decode d;
        yajl_handle h;
        int ok;

        d.depth = 0;
        d.used = 0;
        h = yajl_alloc(&decode_callbacks, NULL, &d);
        ok = yajl_parse(h, (const unsigned char *)r->text, r->len) == yajl_status_ok &&
             yajl_complete_parse(h) == yajl_status_ok;
        yajl_free(h);
        return ok;
}

/* ---- writing an event ------------------------------------------------------------------- */

/* The fields of a referral.assigned event, as lib/event writes them. */
static const char *const ev_keys[] = {"type",   "id",       "partner",       "ref",
                                      "status", "rule",     "team",          "connector",
                                      "at",     "start_by", "expected_start"};
static const char *const ev_values[] = {"referral.assigned",
                                        "R000042",
                                        "bench",
                                        "BENCH-1234abcd-3-123456",
                                        "assigned",
                                        "family-by-region",
                                        "genk",
                                        "kelly",
                                        "2026-12-01T01:02:03.456Z",
                                        "2026-12-31T01:02:03.456Z",
                                        "2026-12-01T01:02:03.456Z"};
#define EV_FIELDS (sizeof ev_keys / sizeof ev_keys[0])

__attribute__((noinline)) static int gen_jansson(const struct req *r)
{
        json_t *o = json_object();
        char *text;
        int ok;

        json_object_set_new(o, "seq", json_integer((json_int_t)r->len));
        for (size_t i = 0; i < EV_FIELDS; i++)
                json_object_set_new(o, ev_keys[i], json_string(ev_values[i]));
        text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        ok = text != NULL;
        free(text);
        json_decref(o);
        return ok;
}

__attribute__((noinline)) static int gen_cjson(const struct req *r)
{
        static char buf[1024];
        cJSON *o = cJSON_CreateObject();
        int ok;

        cJSON_AddNumberToObject(o, "seq", (double)r->len);
        for (size_t i = 0; i < EV_FIELDS; i++)
                cJSON_AddStringToObject(o, ev_keys[i], ev_values[i]);
        ok = cJSON_PrintPreallocated(o, buf, sizeof buf, 0);
        cJSON_Delete(o);
        return ok;
}

__attribute__((noinline)) static int gen_yajl(const struct req *r)
{
        static yajl_gen g;
        const unsigned char *text;
        size_t len;
        int ok;

        if (!g)
                g = yajl_gen_alloc(NULL);
        ok = yajl_gen_map_open(g) == yajl_gen_status_ok;
        yajl_gen_string(g, (const unsigned char *)"seq", 3);
        yajl_gen_integer(g, (long long)r->len);
        for (size_t i = 0; i < EV_FIELDS; i++) {
                yajl_gen_string(g, (const unsigned char *)ev_keys[i], strlen(ev_keys[i]));
                yajl_gen_string(g, (const unsigned char *)ev_values[i], strlen(ev_values[i]));
        }
        ok &= yajl_gen_map_close(g) == yajl_gen_status_ok;
        ok &= yajl_gen_get_buf(g, &text, &len) == yajl_gen_status_ok && len > 0;
        yajl_gen_clear(g);
        yajl_gen_reset(g, NULL);
        return ok;
}
#endif

/* ---- the runs --------------------------------------------------------------------------- */

static const struct parser {
        const char *name;
        int (*parse)(const struct req *r);
} parsers[] = {
#ifdef EVAL_JSONC
        {"jsonc", parse_jsonc},
#else
        {"jansson", parse_jansson},
        {"jansson_all", parse_jansson_all},
        {"cjson", parse_cjson},
        {"yajl", parse_yajl},
        {"yajl_decode", parse_yajl_decode},
        {"gen_jansson", gen_jansson},
        {"gen_cjson", gen_cjson},
        {"gen_yajl", gen_yajl},
#endif
};

/* Whether NAME is one of the comma-separated LIST. */
static bool listed(const char *list, const char *name)
{
        size_t n = strlen(name);

        for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
                        return true;
        return false;
}

int main(int argc, char **argv)
{
        struct options bench = {.partner = "bench", .prefix = "EVAL"};
        struct req *pool = calloc(POOL, sizeof *pool);
        const char *only = NULL;
        long n = 20000;
        int ch;

        while ((ch = getopt(argc, argv, "n:k:h")) != -1) {
                switch (ch) {
                case 'n': n = strtol(optarg, NULL, 10); break;
                case 'k': only = optarg; break;
                default:
                        fprintf(stderr, "Usage: " EVAL_PROG " [-n REQUESTS] [-k NAME,...]\n");
                        return ch == 'h' ? EXIT_OK : EXIT_USAGE;
                }
        }
        if (!pool || n < 1)
                return EXIT_FAULT;
        for (int i = 0; i < POOL; i++) {
                int len = build_submit(&bench, submit_prefix_hash(bench.prefix), 0, i, (uint64_t)i,
                                       pool[i].text, sizeof pool[i].text);
                if (len < 0)
                        return EXIT_FAULT;
                pool[i].len = (size_t)len;
        }
        for (size_t p = 0; p < sizeof parsers / sizeof parsers[0]; p++) {
                int64_t t0;
                long bad = 0;
                size_t bytes = 0;

                if (only && !listed(only, parsers[p].name))
                        continue;
                t0 = tool_mono_ns();
                for (long i = 0; i < n; i++) {
                        bad += !parsers[p].parse(&pool[i % POOL]);
                        bytes += pool[i % POOL].len;
                }
                printf("%-12s %8.0f ns per request (%.0f bytes on average)%s\n", parsers[p].name,
                       (double)(tool_mono_ns() - t0) / (double)n, (double)bytes / (double)n,
                       bad ? " FAILED" : "");
                if (bad)
                        return EXIT_FAULT;
        }
        free(pool);
        return EXIT_OK;
}
