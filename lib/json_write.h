/* json_write.h: JSON text written with yajl's generator (yajl_gen, yajl
 * 2.1) straight from the caller's structs, without a tree, into a buffer of
 * ours that is reused from one text to the next (docs/performance.md, issue
 * 16: the canonical form, the events, the replies of submit and update).
 *
 * The text is what jansson's json_dumps(JSON_COMPACT) made of the same
 * values in the same order, byte for byte: no spaces; in strings '"' and
 * '\\' escaped, \b \f \n \r \t by name, the other control characters as
 * \u00XX (uppercase hex, U+0000 included), everything else as it is
 * (non-ASCII, '/', DEL, U+2028); integers in decimal. Stored digests and
 * event texts depend on it: tests/test_referral.c and tests/test_event.c
 * hold the two writers to it.
 *
 * Strings must be valid UTF-8 (not checked again). Running out of memory
 * is sticky: the calls after it do nothing and rd_jw_text says so. A call
 * out of place (a value where a key is due) counts as a failure too. */
#ifndef RD_JSON_WRITE_H
#define RD_JSON_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <yajl/yajl_gen.h>

struct rd_jw {
        yajl_gen g;
        char *buf; /* the text (NUL-terminated by rd_jw_text) */
        size_t len, cap;
        bool failed;
};

/* Set W up, empty. Returns 0, or -ENOMEM (W then needs no rd_jw_free). */
int rd_jw_init(struct rd_jw *w);

/* Free what W holds. W may be NULL, or set up by nothing but a failed
 * rd_jw_init. */
void rd_jw_free(struct rd_jw *w);

/* Forget the text written (the buffer stays): ready for the next one. */
void rd_jw_reset(struct rd_jw *w);

/* The text written since the last reset (NUL-terminated, LEN bytes into
 * *LEN when LEN is not NULL), borrowed until the next call on W; NULL when
 * writing it failed. */
const char *rd_jw_text(struct rd_jw *w, size_t *len);

/* The same, taken: W's buffer itself (caller frees; W goes on with a new
 * one), or NULL. */
char *rd_jw_take(struct rd_jw *w, size_t *len);

/* ---- values: each writes one token where yajl_gen expects it ---- */

void rd_jw_open(struct rd_jw *w);      /* { */
void rd_jw_close(struct rd_jw *w);     /* } */
void rd_jw_array(struct rd_jw *w);     /* [ */
void rd_jw_array_end(struct rd_jw *w); /* ] */
/* A string of LEN bytes (may hold U+0000). */
void rd_jw_string(struct rd_jw *w, const char *s, size_t len);
void rd_jw_int(struct rd_jw *w, int64_t v);
void rd_jw_bool(struct rd_jw *w, bool v);
/* MS as a string in RFC 3339 (rd_time_format). */
void rd_jw_time(struct rd_jw *w, int64_t ms);

/* ---- members: "KEY": value ----
 * Inline, so that the length of a literal KEY is counted by the compiler
 * (strlen of a constant), not at each call. */

/* A key of an object (a NUL-terminated string). */
static inline void rd_jw_key(struct rd_jw *w, const char *key)
{
        rd_jw_string(w, key, strlen(key));
}

/* "KEY":"S" (S NUL-terminated). */
static inline void rd_jw_str(struct rd_jw *w, const char *key, const char *s)
{
        rd_jw_key(w, key);
        rd_jw_string(w, s, strlen(s));
}

/* "KEY":"S", only when S is not "". */
static inline void rd_jw_str_set(struct rd_jw *w, const char *key, const char *s)
{
        if (s[0])
                rd_jw_str(w, key, s);
}

/* "KEY":V. */
static inline void rd_jw_member_int(struct rd_jw *w, const char *key, int64_t v)
{
        rd_jw_key(w, key);
        rd_jw_int(w, v);
}

/* "KEY":true or false. */
static inline void rd_jw_member_bool(struct rd_jw *w, const char *key, bool v)
{
        rd_jw_key(w, key);
        rd_jw_bool(w, v);
}

/* "KEY":"<MS as RFC 3339, rd_time_format>", only when MS is not 0. */
static inline void rd_jw_time_set(struct rd_jw *w, const char *key, int64_t ms)
{
        if (ms) {
                rd_jw_key(w, key);
                rd_jw_time(w, ms);
        }
}

#endif
