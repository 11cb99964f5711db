/* request.c: a request frame decoded with yajl (request.h).
 *
 * Four steps, the first fault wins:
 *   1. the frame's size and NUL bytes;
 *   2. one pass over its bytes (scan): nesting deeper than 32 anywhere
 *      (before anything else, as the bracket count before jansson did),
 *      and the first byte that is not UTF-8, \u escape that is no
 *      character or \v or \f between tokens, which yajl lets through (it
 *      takes overlong forms and surrogates, makes '?' of a lone \uD800,
 *      and takes \v and \f for white space);
 *   3. yajl on the frame up to that byte: its own syntax errors, and ours
 *      from the callbacks (duplicate keys, U+0000 in a key, numbers, a top
 *      level that is not an object), in document order;
 *   4. the fault of step 2, if any, else the end of the input.
 * The callbacks build the request's tree and fill the referral's view
 * (referral_view.h) as the events come: each container knows its role
 * (the request, the referral, its children, ...), and each value takes
 * the role its key or index gives it. */
#include "request.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "bounds.h"
#include "referral_view.h"

/* ---- what can be wrong with a frame --------------------------------------------- */

enum fault {
        F_NONE = 0,
        F_UTF8,
        F_ESCAPE,
        F_SYNTAX,
        F_PREMATURE,
        F_TRAILING,
        F_NOT_OBJECT,
        F_DEPTH,
        F_DUPLICATE,
        F_NUL_KEY,
        F_NUMBER,
        F_NOMEM,
};

/* The reply's error for fault F at byte AT (jansson's wording before issue
 * 16; never the input itself). */
static int refuse(enum fault f, size_t at, struct rd_error *err)
{
        int pos = (int)at;

        switch (f) {
        case F_NOMEM:
                return rd_error_set(err, RD_INTERNAL, NULL,
                                    "out of memory while decoding the request");
        case F_UTF8:
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request is not valid UTF-8 (error at byte %d)", pos);
        case F_DUPLICATE:
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request has an object with the same key twice (error at "
                                    "byte %d)",
                                    pos);
        case F_NUMBER:
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request has a number too large to decode (error at byte %d)",
                                    pos);
        case F_NUL_KEY:
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request contains a \\u0000 character (error at byte %d)", pos);
        case F_DEPTH:
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request nests arrays and objects deeper than %d levels",
                                    RD_JSON_DEPTH_MAX);
        case F_PREMATURE:
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request is not valid JSON: it ends before the value is "
                                    "complete");
        case F_TRAILING:
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request is not valid JSON: there is more after the object "
                                    "(error at byte %d)",
                                    pos);
        case F_NOT_OBJECT:
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request must be a JSON object ({...}) at the top level");
        case F_NONE:
        case F_ESCAPE:
        case F_SYNTAX: break;
        }
        return rd_error_set(err, RD_MALFORMED, NULL, "request is not valid JSON (error at byte %d)",
                            pos);
}

/* ---- step 2: the bytes ------------------------------------------------------------ */

/* What scan found: nesting past the limit (anywhere), else the first
 * fault at byte AT (F_NONE: none). */
struct scan {
        bool too_deep;
        enum fault fault;
        size_t at;
};

/* Bytes that need a look: in a string ('"', '\\', non-ASCII), and outside
 * ('"', brackets, non-ASCII, and \v and \f: yajl takes them for white
 * space, JSON does not). */
enum { B_PLAIN = 0, B_QUOTE, B_ESCAPE, B_OPEN, B_CLOSE, B_HIGH, B_SPACE };
static const unsigned char byte_kind[256] = {
        ['"'] = B_QUOTE,          ['\\'] = B_ESCAPE, ['['] = B_OPEN,
        ['{'] = B_OPEN,           [']'] = B_CLOSE,   ['}'] = B_CLOSE,
        [0x80 ... 0xFF] = B_HIGH, ['\v'] = B_SPACE,  ['\f'] = B_SPACE,
};

/* The length of the UTF-8 sequence at S (N bytes left), 0 when RFC 3629
 * does not allow it (jansson's check: no overlong forms, no surrogates,
 * nothing past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
        unsigned c = s[0];

        if (c >= 0xC2 && c <= 0xDF)
                return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
        if (c >= 0xE0 && c <= 0xEF) {
                if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
                        return 0;
                if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
                        return 0; /* overlong; a surrogate */
                return 3;
        }
        if (c >= 0xF0 && c <= 0xF4) {
                if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
                    (s[3] & 0xC0) != 0x80)
                        return 0;
                if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
                        return 0; /* overlong; past U+10FFFF */
                return 4;
        }
        return 0;
}

/* The value of the 4 hex digits at S (N bytes left), or -1. */
static long hex4(const unsigned char *s, size_t n)
{
        long v = 0;

        if (n < 4)
                return -1;
        for (int i = 0; i < 4; i++) {
                unsigned c = s[i];
                int d = c >= '0' && c <= '9'   ? (int)(c - '0')
                        : c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10)
                        : c >= 'A' && c <= 'F' ? (int)(c - 'A' + 10)
                                               : -1;
                if (d < 0)
                        return -1;
                v = v * 16 + d;
        }
        return v;
}

/* The escape at B[I] ('\\', in a string): its length, or 0 when it is a
 * \u escape that is no character (a low surrogate alone, a high one not
 * followed by \u and a low one). A malformed escape is yajl's to refuse:
 * its first two bytes are skipped. */
static size_t escape_len(const unsigned char *b, size_t len, size_t i)
{
        long v, lo;

        if (i + 1 >= len || b[i + 1] != 'u' || (v = hex4(b + i + 2, len - i - 2)) < 0)
                return 2;
        if (v >= 0xDC00 && v <= 0xDFFF)
                return 0;
        if (v < 0xD800 || v > 0xDBFF)
                return 6;
        if (i + 7 >= len || b[i + 6] != '\\' || b[i + 7] != 'u')
                return 0;
        lo = hex4(b + i + 8, len - i - 8);
        return lo >= 0xDC00 && lo <= 0xDFFF ? 12 : 0;
}

static void scan(const unsigned char *b, size_t len, struct scan *out)
{
        bool in_string = false;
        size_t i = 0, n;
        int depth = 0;

        out->too_deep = false;
        out->fault = F_NONE;
        out->at = len;
        while (i < len) {
                while (i < len && byte_kind[b[i]] == B_PLAIN)
                        i++;
                if (i >= len)
                        break;
                switch (byte_kind[b[i]]) {
                case B_HIGH:
                        n = utf8_seq(b + i, len - i);
                        if (!n && out->fault == F_NONE) {
                                out->fault = F_UTF8;
                                out->at = i;
                        }
                        i += n ? n : 1;
                        continue;
                case B_QUOTE: in_string = !in_string; break;
                case B_ESCAPE:
                        if (!in_string)
                                break;
                        n = escape_len(b, len, i);
                        if (!n && out->fault == F_NONE) {
                                out->fault = F_ESCAPE;
                                out->at = i;
                        }
                        i += n ? n : 2;
                        continue;
                case B_OPEN:
                        if (!in_string && ++depth > RD_JSON_DEPTH_MAX) {
                                out->too_deep = true;
                                return;
                        }
                        break;
                case B_CLOSE:
                        if (!in_string && depth > 0)
                                depth--;
                        break;
                case B_SPACE: /* yajl's, not JSON's (in a string: yajl refuses it) */
                        if (!in_string && out->fault == F_NONE) {
                                out->fault = F_SYNTAX;
                                out->at = i;
                        }
                        break;
                default: break;
                }
                i++;
        }
}

/* ---- step 3: the events -------------------------------------------------------- */

/* What a value is, from the key or index before it. */
enum role {
        R_SKIP,     /* nothing kept of it: only the checks every value gets */
        R_TREE,     /* a member of the request (but referral), or inside one */
        R_TOP,      /* the request itself */
        R_REFERRAL, /* the request's referral */
        R_FIELD,    /* a member of the referral: SUB its enum rd_referral_key */
        R_CHILD,    /* an element of children: SUB its index */
        R_AGE,      /* a child's age: SUB the child */
        R_CONCERN,  /* an element of concerns: SUB its index */
        R_FAMILY,   /* a member of the family: SUB its enum rd_family_field */
};

/* What an open container is, for the values in it. */
enum frame_kind { K_SKIP, K_TREE, K_TOP, K_REFERRAL, K_CHILDREN, K_CHILD, K_CONCERNS, K_FAMILY };

struct frame {
        enum frame_kind kind;
        bool is_map;
        uint32_t serial;  /* objects: for the duplicate keys */
        size_t n;         /* members or elements so far */
        int sub;          /* K_CHILD: the child */
        struct rd_jv *jv; /* its view value, whose length it gives at its end; or NULL */
        json_t *tree;     /* K_TOP, K_TREE */
        enum role next;   /* objects: the role of the value after the last key */
        int next_sub;
        const char *key; /* K_TOP, K_TREE: that key */
};

/* A key seen in an object: its object's serial, hash and text. */
struct seen_key {
        uint32_t serial, hash;
        const char *key;
        size_t len;
};

#define SEEN_INLINE 64
#define ARENA_INLINE 4096

struct dec {
        yajl_handle h;
        struct frame stack[RD_JSON_DEPTH_MAX + 1];
        int depth;
        uint32_t serial;
        bool done;  /* the top-level object ended */
        size_t end; /* where: the byte after it */
        enum fault fault;
        size_t fault_at;
        /* every key and kept string, NUL-terminated: never moves; in
         * ARENA_INLINE when the frame is small */
        char *arena;
        size_t used, cap;
        char arena_inline[ARENA_INLINE];
        /* the keys seen, open addressing */
        struct seen_key *seen, seen_inline[SEEN_INLINE];
        size_t n_seen, cap_seen;
        json_t *top;
        bool has_referral;
        struct rd_referral_view view;
};

static int fail(struct dec *d, enum fault f)
{
        if (d->fault == F_NONE) {
                d->fault = f;
                d->fault_at = yajl_get_bytes_consumed(d->h);
        }
        return 0; /* yajl stops: yajl_status_client_canceled */
}

/* S[LEN] copied into the arena with a NUL: sized for every token of the
 * frame (request.c, rd_request_decode), so it never runs out. */
static const char *keep(struct dec *d, const char *s, size_t len)
{
        char *p = d->arena + d->used;

        if (d->used + len + 1 > d->cap)
                return NULL;
        memcpy(p, s, len);
        p[len] = '\0';
        d->used += len + 1;
        return p;
}

/* Key K[LEN] of object SERIAL copied into the arena with a NUL (as keep
 * does), in one pass that also looks for U+0000 and hashes it (FNV-1a,
 * seeded with SERIAL): F_NONE with *KEY and *HASH, or F_NUL_KEY, or
 * F_NOMEM. A request's every key comes here. */
static enum fault keep_key(struct dec *d, const unsigned char *k, size_t len, uint32_t serial,
                           const char **key, uint32_t *hash)
{
        char *p = d->arena + d->used;
        uint32_t h = 2166136261u ^ serial;

        if (d->used + len + 1 > d->cap)
                return memchr(k, '\0', len) ? F_NUL_KEY : F_NOMEM;
        for (size_t i = 0; i < len; i++) {
                if (!k[i])
                        return F_NUL_KEY;
                p[i] = (char)k[i];
                h = (h ^ k[i]) * 16777619u;
        }
        p[len] = '\0';
        d->used += len + 1;
        *key = p;
        *hash = h;
        return F_NONE;
}

static bool seen_insert(struct seen_key *tab, size_t cap, const struct seen_key *k)
{
        size_t i = k->hash & (cap - 1);

        for (; tab[i].key; i = (i + 1) & (cap - 1))
                if (tab[i].serial == k->serial && tab[i].len == k->len &&
                    memcmp(tab[i].key, k->key, k->len) == 0)
                        return false;
        tab[i] = *k;
        return true;
}

/* 1 when KEY[LEN] (of HASH, keep_key) is new in object SERIAL (noted now),
 * 0 when it was there, -ENOMEM. */
static int key_is_new(struct dec *d, uint32_t serial, const char *key, size_t len, uint32_t hash)
{
        struct seen_key k = {serial, hash, key, len};

        if (2 * (d->n_seen + 1) > d->cap_seen) {
                size_t cap = 2 * d->cap_seen;
                struct seen_key *tab = calloc(cap, sizeof *tab);
                if (!tab)
                        return -ENOMEM;
                for (size_t i = 0; i < d->cap_seen; i++)
                        if (d->seen[i].key)
                                seen_insert(tab, cap, &d->seen[i]);
                if (d->seen != d->seen_inline)
                        free(d->seen);
                d->seen = tab;
                d->cap_seen = cap;
        }
        if (!seen_insert(d->seen, d->cap_seen, &k))
                return 0;
        d->n_seen++;
        return 1;
}

/* The role of the value that begins now, from the frame it is in. */
static enum role next_role(struct dec *d, int *sub)
{
        struct frame *f;
        size_t i;

        *sub = 0;
        if (d->depth == 0)
                return R_TOP;
        f = &d->stack[d->depth - 1];
        if (f->is_map) {
                *sub = f->next_sub;
                return f->next;
        }
        i = f->n++;
        *sub = (int)i;
        switch (f->kind) {
        case K_TREE: return R_TREE;
        case K_CHILDREN: return i < RD_CHILDREN_MAX ? R_CHILD : R_SKIP;
        case K_CONCERNS: return i < RD_CONCERNS_MAX ? R_CONCERN : R_SKIP;
        default: return R_SKIP;
        }
}

/* The view value a value of ROLE and SUB fills, or NULL. */
static struct rd_jv *jv_of_role(struct dec *d, enum role role, int sub)
{
        struct rd_referral_view *v = &d->view;

        switch (role) {
        case R_REFERRAL: return &v->self;
        case R_FIELD: return &v->field[sub];
        case R_CHILD: memset(&v->child[sub], 0, sizeof v->child[sub]); return &v->child[sub].self;
        case R_AGE: return &v->child[sub].age;
        case R_CONCERN: return &v->concern[sub];
        case R_FAMILY: return &v->family[sub];
        default: return NULL;
        }
}

/* Put V (taken) into the tree: under the pending key of the object being
 * built, or at the end of the array. */
static int tree_add(struct dec *d, json_t *v)
{
        struct frame *f = &d->stack[d->depth - 1];
        int r;

        if (!v)
                return fail(d, F_NOMEM);
        r = f->is_map ? json_object_set_new_nocheck(f->tree, f->key, v)
                      : json_array_append_new(f->tree, v);
        return r < 0 ? fail(d, F_NOMEM) : 1;
}

/* A scalar V: into the view, the tree, or nowhere, as its role says. */
static int scalar(struct dec *d, struct rd_jv v)
{
        int sub;
        enum role role = next_role(d, &sub);
        struct rd_jv *jv = jv_of_role(d, role, sub);
        json_t *t;

        if (role == R_TOP)
                return fail(d, F_NOT_OBJECT);
        if (jv) {
                if (v.type == RD_JV_STRING && !(v.s = keep(d, v.s, v.len)))
                        return fail(d, F_NOMEM);
                *jv = v;
        }
        if (role != R_TREE && role != R_REFERRAL)
                return 1;
        switch (v.type) {
        case RD_JV_NULL: t = json_null(); break;
        case RD_JV_TRUE: t = json_true(); break;
        case RD_JV_FALSE: t = json_false(); break;
        case RD_JV_INTEGER: t = json_integer(v.i); break;
        case RD_JV_REAL: t = json_real(v.r); break;
        default: t = json_stringn_nocheck(v.s, v.len); break;
        }
        return tree_add(d, t);
}

static int on_null(void *ctx)
{
        return scalar(ctx, (struct rd_jv){.type = RD_JV_NULL});
}

static int on_bool(void *ctx, int b)
{
        return scalar(ctx, (struct rd_jv){.type = b ? RD_JV_TRUE : RD_JV_FALSE});
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
        return scalar(ctx, (struct rd_jv){.type = RD_JV_STRING, .s = (const char *)s, .len = len});
}

/* A number as jansson took it: an integer when it has no fraction and no
 * exponent, refused past 64 bits; else a double, refused when it is
 * infinite. */
static int on_number(void *ctx, const char *s, size_t len)
{
        struct dec *d = ctx;
        struct rd_jv v = {.type = RD_JV_INTEGER};
        char small[64], *end;
        const char *z = small;

        if (len < sizeof small) {
                memcpy(small, s, len);
                small[len] = '\0';
        } else if (!(z = keep(d, s, len))) {
                return fail(d, F_NOMEM);
        }
        errno = 0;
        if (!memchr(z, '.', len) && !memchr(z, 'e', len) && !memchr(z, 'E', len)) {
                long long i = strtoll(z, &end, 10);
                if (errno == ERANGE)
                        return fail(d, F_NUMBER);
                v.i = i;
        } else {
                v.type = RD_JV_REAL;
                v.r = strtod(z, &end);
                if ((v.r == HUGE_VAL || v.r == -HUGE_VAL) && errno == ERANGE)
                        return fail(d, F_NUMBER);
        }
        return scalar(d, v);
}

/* The kind of a container of ROLE (and SUB) that is an object (IS_MAP) or
 * an array. */
static enum frame_kind frame_kind(enum role role, int sub, bool is_map)
{
        switch (role) {
        case R_TREE: return K_TREE;
        case R_TOP: return K_TOP;
        case R_REFERRAL: return is_map ? K_REFERRAL : K_SKIP;
        case R_CHILD: return is_map ? K_CHILD : K_SKIP;
        case R_FIELD:
                if (sub == RD_RK_CHILDREN && !is_map)
                        return K_CHILDREN;
                if (sub == RD_RK_CONCERNS && !is_map)
                        return K_CONCERNS;
                if (sub == RD_RK_FAMILY && is_map)
                        return K_FAMILY;
                return K_SKIP;
        default: return K_SKIP;
        }
}

static int open_container(struct dec *d, bool is_map)
{
        int sub;
        enum role role = next_role(d, &sub);
        struct rd_jv *jv = jv_of_role(d, role, sub);
        struct frame *f;
        json_t *t = NULL;

        if (d->depth >= RD_JSON_DEPTH_MAX) /* scan() refused these already */
                return fail(d, F_DEPTH);
        if (role == R_TOP && !is_map)
                return fail(d, F_NOT_OBJECT);
        if (jv)
                *jv = (struct rd_jv){.type = is_map ? RD_JV_OBJECT : RD_JV_ARRAY};
        if (role == R_TOP || role == R_TREE || role == R_REFERRAL) {
                /* the referral's stands in empty: its content is in the view */
                t = is_map ? json_object() : json_array();
                if (role == R_TOP && !(d->top = t))
                        return fail(d, F_NOMEM);
                if (role != R_TOP && !tree_add(d, t))
                        return 0;
        }
        f = &d->stack[d->depth++];
        memset(f, 0, sizeof *f);
        f->kind = frame_kind(role, sub, is_map);
        f->is_map = is_map;
        f->serial = is_map ? ++d->serial : 0;
        f->sub = sub;
        f->jv = jv;
        f->tree = f->kind == K_TOP || f->kind == K_TREE ? t : NULL;
        f->next = R_SKIP;
        return 1;
}

static int on_start_map(void *ctx)
{
        return open_container(ctx, true);
}

static int on_start_array(void *ctx)
{
        return open_container(ctx, false);
}

static int on_end(void *ctx)
{
        struct dec *d = ctx;
        struct frame *f = &d->stack[--d->depth];

        if (f->jv)
                f->jv->len = f->n;
        if (d->depth == 0) {
                d->done = true;
                d->end = yajl_get_bytes_consumed(d->h);
        }
        return 1;
}

static int on_key(void *ctx, const unsigned char *k, size_t len)
{
        struct dec *d = ctx;
        struct frame *f = &d->stack[d->depth - 1];
        const char *key;
        uint32_t hash;
        enum fault kept = keep_key(d, k, len, f->serial, &key, &hash);
        int r, i;

        if (kept != F_NONE)
                return fail(d, kept);
        r = key_is_new(d, f->serial, key, len, hash);
        if (r <= 0)
                return fail(d, r < 0 ? F_NOMEM : F_DUPLICATE);
        f->n++;
        f->key = key;
        f->next = R_SKIP;
        switch (f->kind) {
        case K_TOP:
                if (strcmp(key, "referral") == 0) {
                        f->next = R_REFERRAL;
                        d->has_referral = true;
                } else {
                        f->next = R_TREE;
                }
                break;
        case K_TREE: f->next = R_TREE; break;
        case K_REFERRAL:
                if ((i = rd_referral_key_index(key, len)) >= 0) {
                        f->next = R_FIELD;
                        f->next_sub = i;
                } else {
                        rd_jv_note_unknown(&d->view.unknown, key);
                }
                break;
        case K_CHILD:
                if (strcmp(key, "age") == 0) {
                        f->next = R_AGE;
                        f->next_sub = f->sub;
                } else {
                        rd_jv_note_unknown(&d->view.child[f->sub].unknown, key);
                }
                break;
        case K_FAMILY:
                if ((i = rd_family_key_index(key, len)) >= 0) {
                        f->next = R_FAMILY;
                        f->next_sub = i;
                } else {
                        rd_jv_note_unknown(&d->view.family_unknown, key);
                }
                break;
        default: break;
        }
        return 1;
}

static const yajl_callbacks callbacks = {
        .yajl_null = on_null,
        .yajl_boolean = on_bool,
        .yajl_number = on_number,
        .yajl_string = on_string,
        .yajl_start_map = on_start_map,
        .yajl_map_key = on_key,
        .yajl_end_map = on_end,
        .yajl_start_array = on_start_array,
        .yajl_end_array = on_end,
};

/* ---- the frame ------------------------------------------------------------------- */

/* Steps 3 and 4 for the frame BUF[LEN] whose scan found S: the fault, or
 * F_NONE. */
static enum fault parse(struct dec *d, const char *buf, size_t len, const struct scan *s)
{
        const unsigned char *b = (const unsigned char *)buf;
        yajl_status st = yajl_parse(d->h, b, s->at);

        if (st == yajl_status_client_canceled)
                return d->fault;
        if (st != yajl_status_ok) {
                d->fault_at = yajl_get_bytes_consumed(d->h);
                return d->done ? F_TRAILING : F_SYNTAX;
        }
        if (s->fault != F_NONE) {
                d->fault_at = s->at;
                return s->fault;
        }
        st = yajl_complete_parse(d->h);
        if (st == yajl_status_client_canceled)
                return d->fault;
        if (st != yajl_status_ok || !d->done) {
                d->fault_at = yajl_get_bytes_consumed(d->h);
                return d->done ? F_TRAILING : F_PREMATURE;
        }
        /* yajl ends without a word on a string begun after the object */
        for (d->fault_at = d->end; d->fault_at < len; d->fault_at++)
                if (!strchr(" \t\n\r", buf[d->fault_at]))
                        return F_TRAILING;
        return F_NONE;
}

/* Set D up for a frame of LEN bytes. 0, or -ENOMEM (then dec_free). */
static int dec_init(struct dec *d, size_t len)
{
        d->h = NULL;
        d->depth = 0;
        d->serial = 0;
        d->done = false;
        d->end = 0;
        d->fault = F_NONE;
        d->fault_at = 0;
        d->used = 0;
        d->seen = d->seen_inline;
        memset(d->seen_inline, 0, sizeof d->seen_inline);
        d->n_seen = 0;
        d->cap_seen = SEEN_INLINE;
        d->top = NULL;
        d->has_referral = false;
        memset(&d->view, 0, RD_REFERRAL_VIEW_HEAD);
        /* every token copied once at most, each with a NUL: a token of K
         * bytes in the frame takes at most K + 1 */
        d->cap = 2 * len + 1;
        d->arena = d->cap <= ARENA_INLINE ? d->arena_inline : malloc(d->cap);
        d->h = d->arena ? yajl_alloc(&callbacks, NULL, d) : NULL;
        if (!d->h)
                return -ENOMEM;
        /* strings: scan() checked the UTF-8 already, more strictly */
        yajl_config(d->h, yajl_dont_validate_strings, 1);
        return 0;
}

static void dec_free(struct dec *d)
{
        if (d->h)
                yajl_free(d->h);
        if (d->seen != d->seen_inline)
                free(d->seen);
        if (d->arena != d->arena_inline)
                free(d->arena);
        json_decref(d->top);
}

int rd_request_decode(const char *buf, size_t len, struct rd_request *out, struct rd_error *err)
{
        struct rd_request rq;
        struct scan s;
        struct dec d;
        enum fault f;

        if (!buf && len > 0)
                return rd_error_set(err, RD_MALFORMED, NULL, "request is empty");
        if (len > RD_REQUEST_MAX)
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request is larger than %d bytes (64 KiB)", RD_REQUEST_MAX);
        if (len == 0)
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request is empty; it must be one JSON object");
        if (memchr(buf, '\0', len))
                return rd_error_set(err, RD_MALFORMED, NULL,
                                    "request contains a NUL byte; it must be one JSON object "
                                    "in UTF-8");
        scan((const unsigned char *)buf, len, &s);
        if (s.too_deep)
                return refuse(F_DEPTH, 0, err);
        f = dec_init(&d, len) < 0 ? F_NOMEM : parse(&d, buf, len, &s);
        if (f != F_NONE) {
                dec_free(&d);
                return refuse(f, d.fault_at, err);
        }
        memset(&rq, 0, sizeof rq);
        rq.top = d.top;
        d.top = NULL;
        rq.has_referral = d.has_referral;
        if (rq.has_referral)
                rq.referral_rc = rd_referral_from_view(&d.view, &rq.referral, &rq.referral_err);
        dec_free(&d);
        *out = rq;
        return 0;
}

void rd_request_clear(struct rd_request *rq)
{
        if (!rq)
                return;
        json_decref(rq->top);
        rd_referral_clear(&rq->referral);
        memset(rq, 0, sizeof *rq);
}

/* ---- the corr of a request that cannot be decoded ------------------------------- */

int rd_corr_valid(const json_t *corr)
{
        const char *s = json_string_value(corr);
        size_t n = 0, len = json_string_length(corr);

        if (!s)
                return 0;
        for (size_t i = 0; i < len; i++)
                n += ((unsigned char)s[i] & 0xC0) != 0x80;
        return n <= RD_CORR_MAX;
}

static size_t skip_space(const char *buf, size_t len, size_t i)
{
        while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
                i++;
        return i;
}

/* The end (one past the closing quote) of the string token that starts at
 * BUF[I] (a quote), or 0 when it does not end. */
static size_t string_end(const char *buf, size_t len, size_t i)
{
        for (i++; i < len; i++) {
                if (buf[i] == '\\')
                        i++;
                else if (buf[i] == '"')
                        return i + 1;
        }
        return 0;
}

/* The end of the value that starts at BUF[I]: a string, an array or object
 * (brackets counted outside strings, however deep, without recursion), or
 * a scalar up to the next delimiter. 0 when it does not end. Nothing is
 * checked: only where the value ends. */
static size_t value_end(const char *buf, size_t len, size_t i)
{
        size_t depth = 0;

        if (i >= len)
                return 0;
        if (buf[i] == '"')
                return string_end(buf, len, i);
        if (buf[i] != '[' && buf[i] != '{') {
                while (i < len && !strchr(",}] \t\r\n", buf[i]))
                        i++;
                return i;
        }
        for (; i < len; i++) {
                if (buf[i] == '"') {
                        i = string_end(buf, len, i);
                        if (!i)
                                return 0;
                        i--;
                } else if (buf[i] == '[' || buf[i] == '{') {
                        depth++;
                } else if ((buf[i] == ']' || buf[i] == '}') && --depth == 0) {
                        return i + 1;
                }
        }
        return 0;
}

/* 1 if the string token BUF[LEN] (quotes included) decodes to "corr". */
static int is_corr_key(const char *buf, size_t len)
{
        json_t *k;
        int r;

        if (len == 6 && memcmp(buf, "\"corr\"", 6) == 0)
                return 1;
        if (!memchr(buf, '\\', len)) /* only an escape can spell corr otherwise */
                return 0;
        k = json_loadb(buf, len, JSON_DECODE_ANY, NULL);
        r = json_is_string(k) && strcmp(json_string_value(k), "corr") == 0 &&
            json_string_length(k) == 4;
        json_decref(k);
        return r;
}

int rd_json_scan_corr(const char *buf, size_t len, json_t **out)
{
        json_t *found = NULL;
        size_t i;

        if (!buf)
                return 0;
        i = skip_space(buf, len, 0);
        if (i >= len || buf[i] != '{')
                return 0;
        i = skip_space(buf, len, i + 1);
        while (i < len && buf[i] == '"') {
                size_t key = i, key_end = string_end(buf, len, i), val, val_end;

                if (!key_end)
                        break;
                i = skip_space(buf, len, key_end);
                if (i >= len || buf[i] != ':')
                        break;
                val = skip_space(buf, len, i + 1);
                val_end = value_end(buf, len, val);
                if (!val_end)
                        break;
                if (is_corr_key(buf + key, key_end - key)) {
                        json_t *v = NULL;
                        if (found) { /* two: neither is the request's corr */
                                json_decref(found);
                                return 0;
                        }
                        if (buf[val] == '"')
                                v = json_loadb(buf + val, val_end - val,
                                               JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
                        if (!rd_corr_valid(v)) {
                                json_decref(v);
                                return 0;
                        }
                        found = v;
                }
                i = skip_space(buf, len, val_end);
                if (i >= len || buf[i] != ',')
                        break;
                i = skip_space(buf, len, i + 1);
        }
        if (!found)
                return 0;
        *out = found;
        return 1;
}
