/* prefetch.c: see prefetch.h. */
#include "prefetch.h"

#include <jansson.h>
#include <string.h>

#include "bounds.h"

/* The partner of a submit's referral REF from the client USER_ID: the
 * referral's own, else a partner client's id; NULL when there is none. */
static const char *partner_of(const json_t *ref, const struct rd_auth *auth, const char *user_id)
{
        const char *p = json_string_value(json_object_get(ref, "partner"));
        const struct rd_client *cl;

        if (p || !auth)
                return p;
        cl = rd_auth_lookup(auth, user_id);
        return cl && cl->role == RD_ROLE_PARTNER ? cl->id : NULL;
}

void rd_prefetch_batch(struct rd_store *store, const struct rd_auth *auth,
                       const struct rd_frame *frames, size_t n)
{
        struct rd_store_key keys[RD_BATCH_MAX] = {{0}};
        json_t *docs[RD_BATCH_MAX];
        size_t nk = 0;

        if (!(rd_store_caps(store) & RD_STORE_PREFETCH))
                return; /* not worth reading the frames twice */
        if (n > RD_BATCH_MAX)
                n = RD_BATCH_MAX;
        for (size_t i = 0; i < n; i++) {
                json_t *d = frames[i].len <= RD_REQUEST_MAX
                                    ? json_loadb(frames[i].buf, frames[i].len, 0, NULL)
                                    : NULL;
                const json_t *ref = json_object_get(d, "referral");
                const char *op = json_string_value(json_object_get(d, "op"));

                docs[i] = d;
                if (!op || strcmp(op, "submit") != 0 ||
                    !json_is_string(json_object_get(ref, "ref")))
                        continue;
                keys[nk].partner = partner_of(ref, auth, frames[i].user_id);
                keys[nk].ref = json_string_value(json_object_get(ref, "ref"));
                if (keys[nk].partner)
                        nk++;
        }
        rd_store_prefetch(store, keys, nk);
        for (size_t i = 0; i < n; i++)
                json_decref(docs[i]);
}
