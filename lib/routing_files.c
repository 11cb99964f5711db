/* routing_files.c: see routing_files.h. */
#include "routing_files.h"

#include "yaml_reader.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rd_routing_load_file(const char *path, struct rd_rules **rules, char **text, size_t *len,
                         struct rd_diag *diag)
{
        struct rd_yaml *y;
        const char *bytes;
        char *copy;
        size_t n;
        int r = rd_yaml_open_file(path, &y);

        if (r < 0)
                return r;
        if (!rd_yaml_loaded(y)) { /* not read or not YAML: the reader says why, as it does
                                     for rd_rules_load_file, which adds nothing then */
                r = rd_yaml_finish(y, diag);
                return r < 0 ? r : -EINVAL;
        }
        bytes = rd_yaml_bytes(y, &n);
        copy = malloc(n + 1);
        if (copy && n)
                memcpy(copy, bytes, n);
        rd_yaml_finish(y, NULL); /* what it found, the load below finds again */
        if (!copy)
                return -ENOMEM;
        copy[n] = '\0';
        /* the same bytes under the same name: the same rules and messages */
        r = rd_rules_load_buffer(path, copy, n, rules, diag);
        if (r < 0) {
                free(copy);
                return r;
        }
        *text = copy;
        *len = n;
        return 0;
}

int rd_routing_record(struct rd_store *store, const struct rd_rules *rules, const char *text,
                      size_t len, int64_t now_ms)
{
        struct rd_routing_file f = {rules->digest, rules->source, text, len};
        return rd_store_routing_record(store, &f, now_ms);
}

/* The last period of the history that began before AT. */
struct period_at {
        int64_t at;
        char digest[65];
        char *source;
        int64_t from_ms;
        size_t n;
};

static int keep_period(void *ctx, const struct rd_routing_period *p)
{
        struct period_at *l = ctx;

        if (p->from_ms >= l->at)
                return 0;
        free(l->source);
        l->source = strdup(p->source);
        if (!l->source)
                return -ENOMEM;
        snprintf(l->digest, sizeof l->digest, "%s", p->digest);
        l->from_ms = p->from_ms;
        l->n++;
        return 0;
}

int rd_routing_at(struct rd_store *store, int64_t at_ms, struct rd_routing_current *out,
                  struct rd_diag *diag)
{
        struct period_at last = {.at = at_ms};
        struct rd_rules *rules = NULL;
        char *text = NULL;
        size_t len = 0;
        int r = rd_store_each_routing(store, keep_period, &last);

        if (r == 0 && !last.n)
                r = -ENOENT;
        if (r == 0)
                r = rd_store_routing_text(store, last.digest, &text, &len);
        if (r == 0) {
                r = rd_rules_load_buffer(last.source, text, len, &rules, diag);
                if (r == -EINVAL)
                        r = -EBADMSG;
        }
        if (r == 0) {
                memset(out, 0, sizeof *out);
                out->rules = rules;
                out->source = last.source;
                last.source = NULL;
                snprintf(out->digest, sizeof out->digest, "%s", last.digest);
                out->from_ms = last.from_ms;
                out->periods = last.n;
        }
        free(text);
        free(last.source);
        return r;
}

int rd_routing_in_force(struct rd_store *store, struct rd_routing_current *out,
                        struct rd_diag *diag)
{
        return rd_routing_at(store, INT64_MAX, out, diag);
}

void rd_routing_current_clear(struct rd_routing_current *cur)
{
        rd_rules_free(cur->rules);
        free(cur->source);
        memset(cur, 0, sizeof *cur);
}
