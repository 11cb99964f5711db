/* ops_write.c: the operations that change referrals (submit, update,
 * erase). Each runs in a savepoint of its own (ops.c), through lib/hub. */
#include <stdio.h>
#include <string.h>

#include "ops_priv.h"
#include "referral.h"
#include "timefmt.h"

/* The reply to a change lib/hub refused with R and ERR; a store fault
 * (RD_INTERNAL) is logged as having happened while doing WHAT. */
static json_t *hub_fail(const struct ctx *c, const char *what, int r, const struct rd_error *err)
{
        if (err->code == RD_INTERNAL)
                rd_ops_log_fault(c, what, r);
        return rd_ops_fail(c, err);
}

json_t *rd_op_submit(struct ctx *c)
{
        static const char *const keys[] = {"referral", NULL};
        struct rd_referral ref;
        struct rd_error err;
        struct rd_stored st;
        bool duplicate;
        json_t *reply;
        int r;

        if ((reply = rd_ops_check_keys(c, keys)))
                return reply;
        if (!c->rq->has_referral)
                return rd_ops_error(c->corr, RD_INVALID, "referral",
                                    "a submit request needs a referral object");
        if (c->rq->referral_rc < 0)
                return rd_ops_fail(c, &c->rq->referral_err);
        ref = c->rq->referral; /* taken */
        memset(&c->rq->referral, 0, sizeof c->rq->referral);
        if (c->role == RD_ROLE_PARTNER) {
                /* a partner submits as itself */
                if (!ref.partner[0]) {
                        snprintf(ref.partner, sizeof ref.partner, "%s", c->who);
                } else if (strcmp(ref.partner, c->who) != 0) {
                        rd_referral_clear(&ref);
                        return rd_ops_error(c->corr, RD_FORBIDDEN, "referral.partner",
                                            "a partner submits as itself: leave referral.partner "
                                            "out or give your own client id");
                }
        }
        if (!ref.partner[0]) {
                rd_referral_clear(&ref);
                return rd_ops_error(c->corr, RD_INVALID, "referral.partner",
                                    "referral.partner is required: the id of the referring "
                                    "partner, e.g. \"ocmw-genk\"");
        }
        r = rd_hub_submit(c->ops->hub, &ref, c->now, &st, &duplicate, &err);
        rd_referral_clear(&ref);
        if (r < 0)
                return hub_fail(c, "storing a referral", r, &err);
        return rd_ops_decided(c, DECIDED_SUBMIT, &st, duplicate, false);
}

/* The fields of an update request into *U (borrowed from the request).
 * NULL, or the reply. */
static json_t *read_update(const struct ctx *c, struct rd_update *u)
{
        static const char *const keys[] = {"id",         "status",       "connector",   "reason",
                                           "forward_to", "expected_end", "reason_code", NULL};
        const char *status, *end;
        json_t *reply;

        if ((reply = rd_ops_check_keys(c, keys)) ||
            (reply = rd_ops_get_string(c, "id", 32, &u->id)) ||
            (reply = rd_ops_get_string(c, "status", 32, &status)) ||
            (reply = rd_ops_get_string(c, "connector", RD_ID_MAX, &u->connector)) ||
            (reply = rd_ops_get_string(c, "forward_to", RD_ID_MAX, &u->forward_to)) ||
            (reply = rd_ops_get_string(c, "reason", RD_UPDATE_REASON_MAX, &u->reason)) ||
            (reply = rd_ops_get_string(c, "reason_code", RD_ID_MAX, &u->reason_code)) ||
            (reply = rd_ops_get_string(c, "expected_end", 64, &end)))
                return reply;
        if (!u->id)
                return rd_ops_error(c->corr, RD_INVALID, "id", "an update needs the referral's id");
        if (!status)
                return rd_ops_error(c->corr, RD_INVALID, "status",
                                    "an update needs status: accepted, started, declined, "
                                    "closed, withdrawn, assigned or forwarded");
        if (strcmp(status, "declined") == 0)
                u->declined = true;
        else if (rd_status_parse(status, &u->status) < 0 || u->status == RD_STATUS_RECEIVED)
                return rd_ops_error(c->corr, RD_INVALID, "status",
                                    "status must be one of accepted, started, declined, closed, "
                                    "withdrawn, assigned, forwarded");
        if (end && rd_time_parse(end, &u->expected_end_ms) < 0)
                return rd_ops_error(c->corr, RD_INVALID, "expected_end",
                                    "expected_end must be an RFC 3339 time, e.g. "
                                    "2027-03-01T00:00:00Z");
        return NULL;
}

/* Whether C's client may make update U (a coordinator may make any; a
 * partner may withdraw its own; a connector may accept, decline, start
 * and close, as itself: U's connector becomes its id). NULL, or the reply. */
static json_t *may_update(const struct ctx *c, struct rd_update *u)
{
        struct rd_stored st;
        json_t *reply;

        if (c->role != RD_ROLE_PARTNER && c->role != RD_ROLE_CONNECTOR)
                return NULL;
        if ((reply = rd_ops_visible(c, rd_store_get(c->ops->store, u->id, &st), &st)))
                return reply;
        if (c->role == RD_ROLE_PARTNER) {
                if (strcmp(st.partner, c->who) != 0 || u->declined ||
                    u->status != RD_STATUS_WITHDRAWN)
                        return rd_ops_error(c->corr, RD_FORBIDDEN, "status",
                                            "a partner may only withdraw referrals it submitted");
                return NULL;
        }
        if (!u->declined && u->status != RD_STATUS_ACCEPTED && u->status != RD_STATUS_STARTED &&
            u->status != RD_STATUS_CLOSED)
                return rd_ops_error(c->corr, RD_FORBIDDEN, "status",
                                    "a connector may accept, decline, start and close; a "
                                    "coordinator does the rest");
        if (u->connector && strcmp(u->connector, c->who) != 0)
                return rd_ops_error(c->corr, RD_FORBIDDEN, "connector",
                                    "a connector acts as itself");
        u->connector = c->who; /* its own id is used */
        return NULL;
}

json_t *rd_op_update(struct ctx *c)
{
        struct rd_update u = {0};
        struct rd_error err;
        struct rd_stored st;
        bool changed;
        json_t *reply;
        int r;

        if ((reply = read_update(c, &u)) || (reply = may_update(c, &u)))
                return reply;
        r = rd_hub_update(c->ops->hub, &u, c->now, &st, &changed, &err);
        if (r < 0)
                return hub_fail(c, "storing an update", r, &err);
        return rd_ops_decided(c, DECIDED_UPDATE, &st, false, false);
}

json_t *rd_op_erase(struct ctx *c)
{
        static const char *const keys[] = {"id", NULL};
        struct rd_error err;
        struct rd_stored st;
        const char *id;
        bool changed;
        json_t *reply;
        int r;

        if ((reply = rd_ops_check_keys(c, keys)) || (reply = rd_ops_get_string(c, "id", 32, &id)))
                return reply;
        if (!id)
                return rd_ops_error(c->corr, RD_INVALID, "id", "an erase needs the referral's id");
        r = rd_hub_erase(c->ops->hub, id, c->now, &st, &changed, &err);
        if (r < 0)
                return hub_fail(c, "erasing", r, &err);
        /* protocol.md rev 2: gone from the files? An erase of now is not
         * committed yet: txn.c says true once it is and the log is wiped */
        return rd_ops_decided(c, DECIDED_ERASE, &st, false,
                              !changed && st.last_seq <= rd_store_wiped_seq(c->ops->store));
}
