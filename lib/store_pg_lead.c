/* store_pg_lead.c: leadership on a PostgreSQL database that several
 * daemons share (store.h, rd_store_lead). The daemon that leads holds a
 * session advisory lock (PG_LOCK_LEAD) on its one connection, so that the
 * lock goes when its session goes (a daemon killed, its machine gone once
 * the keepalives tell, pg_terminate_backend). Taking the lock advances the
 * epoch in rd_counter, and the first statement of every writing
 * transaction (P_FENCE) checks the epoch in the same round trip as the
 * counters: a daemon that lost the lead cannot commit, whatever it had
 * sent, even where the lock alone would not tell (after a failover, the
 * new primary knows no lock of the old one). */
#include "store_pg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void pg_lead_epoch_read(struct pg_store *s, int64_t epoch)
{
        if (!s->lead_mode) {
                s->epoch = epoch;
                return;
        }
        if (s->leading && epoch != s->epoch) {
                s->leading = false;
                snprintf(s->errmsg, sizeof s->errmsg,
                         "another daemon took the lead (epoch %lld, this one led in %lld)",
                         (long long)epoch, (long long)s->epoch);
        }
}

/* While leading: the epoch is still this session's (a round trip, which
 * also tells a session that the server ended). */
static int still_leading(struct pg_store *s)
{
        PGresult *res;
        int r = pg_read(s, P_COUNTERS, &(struct pg_args){0}, &res);

        if (r < 0) {
                s->leading = false;
                return r;
        }
        if (PQntuples(res) == 1)
                pg_lead_epoch_read(s, pg_int(res, 0, 2));
        else
                s->leading = false;
        PQclear(res);
        return s->leading ? 1 : 0;
}

/* Take the lock and the next epoch, in one statement; the counters as
 * committed come with it, also when another daemon leads (a standby's
 * last_seq follows the active daemon's, a second behind at most). */
static int take(struct pg_store *s)
{
        struct pg_args a = {0};
        PGresult *res;
        int r;

        pa_int(&a, PG_LOCK_LEAD);
        r = pg_read(s, P_LEAD, &a, &res);
        if (r < 0)
                return r;
        r = pg_counters_set(s, res, 1);
        if (r == 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
                s->leading = true;
                s->epoch = pg_int(res, 0, 3);
        }
        PQclear(res);
        return r < 0 ? r : s->leading ? 1 : 0;
}

int pg_lead(struct rd_store *base, int64_t now_ms)
{
        struct pg_store *s = pgs(base);
        int r;

        if (s->in_txn) {
                snprintf(s->errmsg, sizeof s->errmsg, "cannot take the lead inside a transaction");
                return -EINVAL;
        }
        s->lead_mode = true;
        if (s->leading) /* connected: the lead goes with the connection */
                return still_leading(s);
        if (!s->conn && (r = pg_connect_step(s, now_ms)) != 0)
                return r;
        return take(s);
}

bool pg_leading(const struct rd_store *base)
{
        return ((const struct pg_store *)base)->leading;
}
