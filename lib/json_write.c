/* json_write.c: yajl_gen printing into a buffer of ours (json_write.h). */
#include "json_write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

/* Room for LEN more bytes and a NUL in W's buffer: 0, or -1 (W failed). */
static int grow(struct rd_jw *w, size_t len)
{
        size_t cap = w->cap ? w->cap : 256;
        char *p;

        while (cap < w->len + len + 1)
                cap *= 2;
        p = w->failed ? NULL : realloc(w->buf, cap);
        if (!p) {
                w->failed = true;
                return -1;
        }
        w->buf = p;
        w->cap = cap;
        return 0;
}

/* print's way when the buffer is full: grow it, then append S[LEN]. Kept
 * out of print so that print's own way is a few instructions without a
 * frame (it runs ~350 times a submit). */
static __attribute__((noinline)) void print_grow(struct rd_jw *w, const char *s, size_t len)
{
        if (grow(w, len) < 0)
                return;
        memcpy(w->buf + w->len, s, len);
        w->len += len;
}

/* yajl_gen's print callback: append S[LEN] (most often one byte: a quote,
 * a comma, a colon). The NUL after the text is written by rd_jw_text. */
static void print(void *ctx, const char *s, size_t len)
{
        struct rd_jw *w = ctx;
        char *to;

        if (__builtin_expect(w->cap - w->len <= len, 0)) {
                print_grow(w, s, len);
                return;
        }
        to = w->buf + w->len;
        w->len += len;
        if (len == 1)
                *to = *s;
        else
                memcpy(to, s, len);
}

int rd_jw_init(struct rd_jw *w)
{
        memset(w, 0, sizeof *w);
        w->g = yajl_gen_alloc(NULL);
        if (!w->g)
                return -ENOMEM;
        /* compact (no beautify), '/' as it is, strings not validated again */
        if (!yajl_gen_config(w->g, yajl_gen_print_callback, print, w)) {
                yajl_gen_free(w->g);
                w->g = NULL;
                return -ENOMEM;
        }
        return 0;
}

void rd_jw_free(struct rd_jw *w)
{
        if (!w)
                return;
        if (w->g)
                yajl_gen_free(w->g);
        free(w->buf);
        memset(w, 0, sizeof *w);
}

void rd_jw_reset(struct rd_jw *w)
{
        yajl_gen_reset(w->g, NULL);
        w->len = 0;
        w->failed = false;
}

const char *rd_jw_text(struct rd_jw *w, size_t *len)
{
        if (w->failed || !w->buf)
                return NULL;
        w->buf[w->len] = '\0'; /* there is room: print keeps it */
        if (len)
                *len = w->len;
        return w->buf;
}

char *rd_jw_take(struct rd_jw *w, size_t *len)
{
        char *t = (char *)rd_jw_text(w, len);

        if (t) {
                w->buf = NULL;
                w->len = w->cap = 0;
        }
        return t;
}

/* A yajl_gen status: anything but ok (a token out of place) fails W. */
static void check(struct rd_jw *w, yajl_gen_status s)
{
        if (s != yajl_gen_status_ok)
                w->failed = true;
}

void rd_jw_open(struct rd_jw *w)
{
        check(w, yajl_gen_map_open(w->g));
}

void rd_jw_close(struct rd_jw *w)
{
        check(w, yajl_gen_map_close(w->g));
}

void rd_jw_array(struct rd_jw *w)
{
        check(w, yajl_gen_array_open(w->g));
}

void rd_jw_array_end(struct rd_jw *w)
{
        check(w, yajl_gen_array_close(w->g));
}

void rd_jw_string(struct rd_jw *w, const char *s, size_t len)
{
        check(w, yajl_gen_string(w->g, (const unsigned char *)s, len));
}

void rd_jw_int(struct rd_jw *w, int64_t v)
{
        /* digits of our own: yajl_gen_integer goes through sprintf */
        char tmp[24];

        check(w, yajl_gen_number(w->g, tmp, (size_t)(rd_put_int(tmp, v) - tmp)));
}

void rd_jw_bool(struct rd_jw *w, bool v)
{
        check(w, yajl_gen_bool(w->g, v));
}

void rd_jw_time(struct rd_jw *w, int64_t ms)
{
        char buf[RD_TIME_STR];

        rd_time_format(ms, buf);
        rd_jw_string(w, buf, strlen(buf));
}
