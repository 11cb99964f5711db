/* diag.h: the list of diagnostics a loader hands back ("FILE:LINE:COLUMN:
 * message"), for every file the project reads (routing file, daemon
 * config, rules test cases). No I/O: the caller prints them. */
#ifndef RD_DIAG_H
#define RD_DIAG_H

#include <stddef.h>

enum rd_diag_severity { RD_DIAG_ERROR, RD_DIAG_WARNING };

struct rd_diag_item {
        enum rd_diag_severity severity;
        char *text; /* "FILE:LINE:COLUMN: message" or
                       "FILE:LINE:COLUMN: warning: message" */
};

/* A growing list of diagnostics. Zero-initialise, fill with a load, read
 * items[], then rd_diag_clear. */
struct rd_diag {
        struct rd_diag_item *items;
        size_t n;
        size_t n_errors;
        size_t n_warnings;
};

/* Free what DIAG holds and zero it. DIAG may be NULL. */
void rd_diag_clear(struct rd_diag *diag);

/* The first error's text, or NULL when there is none. Owned by DIAG. */
const char *rd_diag_first_error(const struct rd_diag *diag);

/* Add a diagnostic. Returns 0 (also when DIAG is NULL: nothing is kept) or
 * -ENOMEM. A LINE of 0 means the whole file: the text is then placed at its
 * start, "FILE:1:1: message", so that every diagnostic has one form.
 * Control characters in the message (quoted from a file) become '?': a
 * diagnostic is one line and drives no terminal. */
int rd_diag_add(struct rd_diag *diag, enum rd_diag_severity sev, const char *file, size_t line,
                size_t column, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
