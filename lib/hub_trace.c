/* hub_trace.c: the traces of the hub's decisions, kept compact
 * (trace_store.h) and rendered for `get` under the routing file that made
 * them. */
#include "hub_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace_store.h"

/* Room for the trace of an ordinary decision: the buffer grows beyond it
 * once, for a decision under a large routing file. */
#define TRACE_BUF_MIN 256

const char *hub_trace_text(struct rd_hub *h, const struct rd_route_record *rec)
{
        size_t n = rd_trace_encode(rec, h->trace_buf, h->trace_cap);

        if (n < h->trace_cap)
                return h->trace_buf;
        free(h->trace_buf);
        h->trace_cap = n + 1 > TRACE_BUF_MIN ? n + 1 : TRACE_BUF_MIN;
        h->trace_buf = malloc(h->trace_cap);
        if (!h->trace_buf) {
                h->trace_cap = 0;
                return NULL;
        }
        rd_trace_encode(rec, h->trace_buf, h->trace_cap);
        return h->trace_buf;
}

/* The routing file DIGEST as the store keeps it, loaded, into *OUT (caller
 * frees). 0, -ENOENT, -EBADMSG (it does not load), or a negative errno. */
static int load_kept(struct rd_hub *h, const char *digest, struct rd_rules **out)
{
        char *text = NULL;
        size_t len = 0;
        int r = rd_store_routing_text(h->store, digest, &text, &len);

        if (r < 0)
                return r;
        r = rd_rules_load_buffer(digest, text, len, out, NULL);
        free(text);
        return r == -ENOMEM ? r : r < 0 ? -EBADMSG : 0;
}

/* The rules of DIGEST: those in force, the last ones read, or read now. */
static int rules_of(struct rd_hub *h, const char *digest, const struct rd_rules **out)
{
        struct rd_rules *kept = NULL;
        int r;

        if (strcmp(digest, h->rules->digest) == 0) {
                *out = h->rules;
                return 0;
        }
        if (!h->trace_rules || strcmp(digest, h->trace_rules->digest) != 0) {
                r = load_kept(h, digest, &kept);
                if (r < 0)
                        return r;
                rd_rules_free(h->trace_rules);
                h->trace_rules = kept;
        }
        *out = h->trace_rules;
        return 0;
}

int rd_hub_trace_json(struct rd_hub *h, const char *trace, const char *digest, json_t **out)
{
        const struct rd_rules *rules = NULL;
        int r = 0;

        if (rd_trace_is_compact(trace))
                r = rules_of(h, digest, &rules);
        return r < 0 ? r : rd_trace_json(trace, rules, out);
}
