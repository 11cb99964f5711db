/* html.h: one self-contained HTML page built in memory (tools.md, "HTML
 * output"), for `referralctl report --html` and `replay --html`.
 *
 * The page is a growing buffer: its skeleton (charset, a
 * Content-Security-Policy that forbids network access, inline CSS for
 * screen and print), sections, headings, paragraphs, definition lists of
 * figures and tables. No I/O: the caller writes the text rd_html_finish
 * hands over. Every string given as text is escaped here, in one place
 * (rd_html_text); only rd_html_raw and rd_html_rawf write markup as it is.
 *
 * Errors are sticky: a call that fails (out of memory, a cell outside a
 * row, ...) records its negative errno in the page, every later call then
 * does nothing and returns it, and rd_html_finish reports it. A caller may
 * therefore check only rd_html_finish. */
#ifndef RD_HTML_H
#define RD_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The policy of the page's Content-Security-Policy meta: no network, no
 * script; inline CSS only. */
#define RD_HTML_CSP                                                                                \
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

#define RD_HTML_COLS_MAX 24 /* columns of one table */
#define RD_HTML_NUM 40      /* bytes of a formatted number, duration or date */

/* A page being built. Zero-initialise (or let rd_html_begin do it), fill
 * with the calls below, then rd_html_finish or rd_html_free. */
struct rd_html {
        char *buf; /* the text so far, NUL-terminated; owned */
        size_t len;
        size_t cap;
        int err;         /* the first failure, 0 while there is none */
        unsigned ids;    /* ids handed out by rd_html_new_id */
        bool in_section; /* a <section> is open */
        bool in_dl;
        bool in_table;
        bool in_row;
        size_t ncols;                     /* of the open table */
        size_t col;                       /* cells written in the open row */
        char align[RD_HTML_COLS_MAX + 1]; /* of the open table: 'l' or 'r' */
};

/* Start the page H (any previous content is dropped without freeing: pass
 * a zeroed or finished page): doctype, head with charset, the CSP meta,
 * TITLE as <title>, the style sheet, then <body> and TITLE as <h1>.
 * Returns 0 or the page's error. */
int rd_html_begin(struct rd_html *h, const char *title);

/* Close what is open (a section) and the page. Returns 0 and hands the
 * NUL-terminated text to *OUT (caller frees) and its length to *LEN (may be
 * NULL); or returns the first error of any call (-ENOMEM, -EINVAL for a
 * misuse such as a table left open) and leaves *OUT untouched. Either way
 * H is empty afterwards. */
int rd_html_finish(struct rd_html *h, char **out, size_t *len);

/* Free what H holds and zero it. H may be NULL. */
void rd_html_free(struct rd_html *h);

/* Record ERR (a negative errno) as the page's error unless one is already
 * recorded. Returns the page's error. */
int rd_html_fail(struct rd_html *h, int err);

/* A number for ids unique in the page ("c1-title", ...), from 1 up. */
unsigned rd_html_new_id(struct rd_html *h);

/* ---- text ---------------------------------------------------------------- */

/* Append TEXT (NULL: nothing) escaped for an element's content or a quoted
 * attribute value: & < > " ' become references, control characters other
 * than tab and newline become '?'. The one escaper of the page. */
int rd_html_text(struct rd_html *h, const char *text);

/* Append the printf result of FMT, escaped as rd_html_text. */
int rd_html_textf(struct rd_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append MARKUP as it is. For the program's own markup only: never a
 * string that came from data (use rd_html_text for those). */
int rd_html_raw(struct rd_html *h, const char *markup);

/* Append the printf result of FMT as it is, as rd_html_raw: FMT and any
 * %s argument are the program's own markup; numbers may come from data. */
int rd_html_rawf(struct rd_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- structure ----------------------------------------------------------- */

/* Open a <section> with TITLE as its <h2>, closing the open one. Printed,
 * each section after the first starts a page. Not inside a list or table
 * (-EINVAL). */
int rd_html_section(struct rd_html *h, const char *title);

/* A heading of LEVEL 2 to 4 (else -EINVAL) with TEXT. */
int rd_html_heading(struct rd_html *h, int level, const char *text);

/* A paragraph of TEXT; with FMT, of the printf result. Escaped. */
int rd_html_para(struct rd_html *h, const char *text);
int rd_html_paraf(struct rd_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A definition list of figures: begin, items (TERM and its VALUE, both
 * escaped; VALUEF formats the value), end. */
int rd_html_dl_begin(struct rd_html *h);
int rd_html_dl_item(struct rd_html *h, const char *term, const char *value);
int rd_html_dl_itemf(struct rd_html *h, const char *term, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int rd_html_dl_end(struct rd_html *h);

/* Open a table with CAPTION (NULL: none) and a header row of HEADS, one
 * per letter of ALIGN: 'l' for a column of text, 'r' for one of numbers
 * (right-aligned, header too). At most RD_HTML_COLS_MAX columns, else
 * -EINVAL. Then rd_html_row before each row's cells, exactly one cell per
 * column, and rd_html_table_end. A row with too few or too many cells is
 * -EINVAL. */
int rd_html_table_begin(struct rd_html *h, const char *caption, const char *align,
                        const char *const *heads);
int rd_html_row(struct rd_html *h);
int rd_html_cell(struct rd_html *h, const char *text);
int rd_html_cellf(struct rd_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A cell of V with DECIMALS (0 to 6) decimals, "—" when V is not finite. */
int rd_html_cell_num(struct rd_html *h, double v, int decimals);
int rd_html_table_end(struct rd_html *h);

/* ---- figures as text ------------------------------------------------------ */

/* V with DECIMALS (0 to 6; clamped) decimals and a '.' whatever the
 * locale ("-0" is written "0"), or "—" when V is not finite or too large
 * to write exactly (|V| * 10^DECIMALS of 1e18 or more). Returns BUF. */
char *rd_html_fmt_num(double v, int decimals, char buf[RD_HTML_NUM]);

/* A duration of SECONDS for a person: "40 s", "12 min", "5 h 20 min",
 * "3 d 4 h" (rounded to the smaller unit shown), or "—" when not finite or
 * negative. Returns BUF. */
char *rd_html_fmt_duration(double seconds, char buf[RD_HTML_NUM]);

/* The UTC date of MS since the epoch, "YYYY-MM-DD"; with TIME true
 * "YYYY-MM-DD HH:MM". Returns BUF. */
char *rd_html_fmt_date(int64_t ms, bool time, char buf[RD_HTML_NUM]);

#endif
