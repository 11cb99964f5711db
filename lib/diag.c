/* diag.c: the list of diagnostics (diag.h). */
#include "diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int rd_diag_add(struct rd_diag *diag, enum rd_diag_severity sev, const char *file, size_t line,
                size_t column, const char *fmt, ...)
{
        char *msg = NULL, *text = NULL;
        const char *w = sev == RD_DIAG_WARNING ? "warning: " : "";
        va_list ap;
        int n;

        if (!diag)
                return 0;
        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        if (line == 0) {
                line = 1;
                column = 1;
        }
        for (char *p = msg; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        n = asprintf(&text, "%s:%zu:%zu: %s%s", file ? file : "-", line, column, w, msg);
        free(msg);
        if (n < 0)
                return -ENOMEM;
        return diag_push(diag, sev, text);
}
