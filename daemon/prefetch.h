/* prefetch.h: a batch's look-ups handed to the store before its requests
 * are answered (rd_store_prefetch): on PostgreSQL, one round trip for the
 * whole batch instead of one per submit (docs/architecture.md, "The
 * PostgreSQL store"). The batch's code calls it once it has received the
 * batch and begun its transaction, before it answers the first request. */
#ifndef RD_PREFETCH_H
#define RD_PREFETCH_H

#include <stddef.h>

#include "auth.h"
#include "store.h"

/* One request frame of a batch: BUF[LEN] from the client whose ZAP User-Id
 * is USER_ID (NULL without security). */
struct rd_frame {
        const char *buf;
        size_t len;
        const char *user_id;
};

/* Hand STORE (without RD_STORE_PREFETCH: nothing done) the partner and ref of every submit among
 * FRAMES[N] (the partner as the submit handler takes it: the referral's, or for a partner client
 * without one its own id, judged by AUTH (borrowed; NULL without security)). Only a hint: a frame
 * that is not a well-formed submit is left out, and a store that cannot take the hint is asked
 * again by each look-up. Never fails; logs nothing. */
void rd_prefetch_batch(struct rd_store *store, const struct rd_auth *auth,
                       const struct rd_frame *frames, size_t n);

#endif
