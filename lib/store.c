/* store.c: the store's entry points. Each calls its driver's operation;
 * what is the same for every driver lives here once: the id format, who may
 * see what, and the JSON that list, events and the audit trail reply with. */
#include "store.h"
#include "timefmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- ids ------------------------------------------------------------------------ */

void rd_store_format_id(int64_t rowid, char id[RD_RID_MAX])
{
        if (rowid < 0) { /* never a stored referral's: as printf wrote it */
                snprintf(id, RD_RID_MAX, "R%06lld", (long long)rowid);
                return;
        }
        id[0] = 'R';
        *rd_put_digits(id + 1, rowid, 6) = '\0';
}

int rd_store_parse_id(const char *id, int64_t *rowid)
{
        char *end, back[RD_RID_MAX];
        long long v;

        if (!id || id[0] != 'R' || id[1] < '0' || id[1] > '9' || strlen(id) > 19)
                return -ENOENT;
        errno = 0;
        v = strtoll(id + 1, &end, 10);
        if (errno || *end || v <= 0)
                return -ENOENT;
        rd_store_format_id(v, back);
        if (strcmp(back, id) != 0) /* "R1" and "R000001" are not the same id */
                return -ENOENT;
        *rowid = v;
        return 0;
}

/* ---- which driver ------------------------------------------------------------------- */

bool rd_store_is_conninfo(const char *where)
{
        struct stat sb;
        size_t n;

        if (!where || !where[0] || stat(where, &sb) == 0) /* an existing file is a file */
                return false;
        if (strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0)
                return true;
        where += strspn(where, " ");
        n = strspn(where, "abcdefghijklmnopqrstuvwxyz_");
        return n > 0 && where[n + strspn(where + n, " ")] == '=';
}

int rd_store_open_target(const struct rd_store_target *t, struct rd_store **out, char *errbuf,
                         size_t errsize)
{
        if (t->kind == RD_STORE_POSTGRESQL)
                return (t->copy ? rd_store_open_copy_pg
                                : rd_store_open_pg)(t->conninfo, t->password, out, errbuf, errsize);
        if (t->copy)
                return rd_store_open_copy(t->path, out, errbuf, errsize);
        return rd_store_open(t->path, t->synchronous_full, out, errbuf, errsize);
}

/* ---- lifecycle and transactions ---------------------------------------------------- */

void rd_store_close(struct rd_store *s)
{
        if (s)
                s->ops->close(s);
}

unsigned rd_store_caps(const struct rd_store *s)
{
        return s->caps;
}

const char *rd_store_errmsg(struct rd_store *s)
{
        return s ? s->ops->errmsg(s) : "no database";
}

/* R from a driver's call made inside the caller's transaction: when the
 * call failed and the database no longer has the transaction (a fault made
 * it end it), the transaction is lost, for every call until rollback. */
static int watch(struct rd_store *s, int r)
{
        if (r < 0 && s->txn == RD_STORE_TXN_OPEN && !s->ops->in_transaction(s))
                s->txn = RD_STORE_TXN_LOST;
        return r < 0 && s->txn == RD_STORE_TXN_LOST ? RD_STORE_ABORTED : r;
}

/* Call the driver (EXPR) unless the transaction is lost, and watch. */
#define CALL(s, expr) ((s)->txn == RD_STORE_TXN_LOST ? RD_STORE_ABORTED : watch((s), (expr)))

int rd_store_lead(struct rd_store *s, int64_t now_ms)
{
        if (!(s->caps & RD_STORE_LEADERSHIP) || !s->ops->lead)
                return 1;
        return s->ops->lead(s, now_ms);
}

int rd_store_connect_fd(const struct rd_store *s, short *events, int64_t *deadline_ms)
{
        if (!(s->caps & RD_STORE_LEADERSHIP) || !s->ops->connect_fd)
                return -1;
        return s->ops->connect_fd(s, events, deadline_ms);
}

bool rd_store_leading(const struct rd_store *s)
{
        if (!(s->caps & RD_STORE_LEADERSHIP) || !s->ops->leading)
                return true;
        return s->ops->leading(s);
}

int rd_store_begin(struct rd_store *s)
{
        int r = s->ops->begin(s);
        if (r == 0)
                s->txn = RD_STORE_TXN_OPEN;
        return r;
}

int rd_store_commit(struct rd_store *s)
{
        int r;

        if (s->txn == RD_STORE_TXN_LOST)
                return RD_STORE_ABORTED;
        /* not watched: a failed commit has ended (RD_STORE_UNKNOWN says
         * how), and the caller rolls back whatever it returns */
        r = s->ops->commit(s);
        if (r == 0)
                s->txn = RD_STORE_TXN_NONE;
        return r;
}

void rd_store_rollback(struct rd_store *s)
{
        s->ops->rollback(s);
        s->txn = RD_STORE_TXN_NONE;
}

/* Before a request: a transaction the database ended (a fault) is lost,
 * since what the request would write outside it would commit on its own
 * (a savepoint would begin a transaction of its own). */
static void notice_lost(struct rd_store *s)
{
        if (s->txn == RD_STORE_TXN_OPEN && !s->ops->in_transaction(s))
                s->txn = RD_STORE_TXN_LOST;
}

int rd_store_request_begin(struct rd_store *s)
{
        notice_lost(s);
        s->whole = false;
        return CALL(s, s->ops->request_begin(s));
}

int rd_store_request_begin_whole(struct rd_store *s)
{
        /* a driver that undoes a request without a savepoint does so at no
         * cost to the others (PostgreSQL: store_pg.c, the log) */
        if (!(s->caps & RD_STORE_SAVEPOINTS))
                return rd_store_request_begin(s);
        notice_lost(s);
        if (s->txn != RD_STORE_TXN_OPEN)
                return s->txn == RD_STORE_TXN_LOST ? RD_STORE_ABORTED : -EINVAL;
        s->whole = true;
        s->whole_writes = s->writes;
        return 0;
}

int rd_store_request_end(struct rd_store *s, bool keep)
{
        if (!s->whole)
                return CALL(s, s->ops->request_end(s, keep));
        s->whole = false;
        if (s->txn == RD_STORE_TXN_LOST)
                return RD_STORE_ABORTED;
        if (keep || s->writes == s->whole_writes)
                return 0;
        /* what it wrote cannot be undone alone: the transaction goes */
        s->ops->rollback(s);
        s->txn = RD_STORE_TXN_LOST;
        return RD_STORE_ABORTED;
}

bool rd_store_in_transaction(const struct rd_store *s)
{
        return s->txn == RD_STORE_TXN_OPEN;
}

int64_t rd_store_last_seq(const struct rd_store *s)
{
        return s->ops->last_seq(s);
}

/* ---- the hub's writes ----------------------------------------------------------------- */

int rd_store_insert(struct rd_store *s, struct rd_store_change *ch)
{
        struct rd_stored *o = ch->st;
        int r;

        s->writes++;
        r = CALL(s, s->ops->insert(s, ch));
        if (r < 0)
                return r;
        /* the driver gave the row its rowid and last_seq; the rest follows */
        rd_store_format_id(o->rowid, o->id);
        o->first_offered_ms = o->offered_ms;
        return 0;
}

int rd_store_change(struct rd_store *s, struct rd_store_change *ch)
{
        if (!ch->st && (ch->row || ch->trace_set || ch->candidates || ch->offered || ch->declined ||
                        ch->reason))
                return -EINVAL; /* those are about a referral */
        s->writes++;
        return CALL(s, s->ops->change(s, ch));
}

int rd_store_erase(struct rd_store *s, int64_t rowid, const json_t *content, const char *trace,
                   int64_t now_ms)
{
        s->writes++;
        return CALL(s, s->ops->erase(s, rowid, content, trace, now_ms));
}

int rd_store_meta_set(struct rd_store *s, const char *key, const char *value)
{
        s->writes++;
        return CALL(s, s->ops->meta_set(s, key, value));
}

/* ---- the hub's reads ------------------------------------------------------------------ */

int rd_store_find(struct rd_store *s, const char *partner, const char *ref, struct rd_stored *out)
{
        return CALL(s, s->ops->find(s, partner, ref, out));
}

int rd_store_prefetch(struct rd_store *s, const struct rd_store_key *keys, size_t n)
{
        return s->ops->prefetch && n ? CALL(s, s->ops->prefetch(s, keys, n)) : 0;
}

int rd_store_get_row(struct rd_store *s, int64_t rowid, struct rd_stored *out)
{
        return CALL(s, s->ops->get(s, rowid, out));
}

int rd_store_get(struct rd_store *s, const char *id, struct rd_stored *out)
{
        int64_t rowid;
        int r = rd_store_parse_id(id, &rowid);
        return r < 0 ? r : CALL(s, s->ops->get(s, rowid, out));
}

int rd_store_content(struct rd_store *s, int64_t rowid, json_t **content, char **trace,
                     char rules_digest[65])
{
        return CALL(s, s->ops->content(s, rowid, content, trace, rules_digest));
}

int rd_store_each_state(struct rd_store *s, const struct rd_store_state_fns *fns, void *ctx)
{
        return CALL(s, s->ops->each_state(s, fns, ctx));
}

int rd_store_each_decline(struct rd_store *s, int64_t rowid,
                          int (*fn)(void *ctx, const char *connector), void *ctx)
{
        return CALL(s, s->ops->each_decline(s, rowid, fn, ctx));
}

int rd_store_each_waiting(struct rd_store *s, const struct rd_wait_key *after, size_t limit,
                          int (*fn)(void *ctx, const struct rd_stored *st, const char *candidates),
                          void *ctx, size_t *count)
{
        return CALL(s, s->ops->each_waiting(s, after, limit, fn, ctx, count));
}

int rd_store_each_waiting_set(struct rd_store *s,
                              int (*fn)(void *ctx, const struct rd_waiting_set *set), void *ctx)
{
        return CALL(s, s->ops->each_waiting_set(s, fn, ctx));
}

int rd_store_count_waiting_before(struct rd_store *s, const char *candidates,
                                  const struct rd_wait_key *before, int64_t limit, int64_t *count)
{
        return CALL(s, s->ops->count_waiting_before(s, candidates, before, limit, count));
}

int rd_store_each_offer(struct rd_store *s, int (*fn)(void *ctx, const struct rd_stored *st),
                        void *ctx)
{
        return CALL(s, s->ops->each_offer(s, fn, ctx));
}

int rd_store_meta_get(struct rd_store *s, const char *key, char *buf, size_t size)
{
        return CALL(s, s->ops->meta_get(s, key, buf, size));
}

int rd_store_next_deadlines(struct rd_store *s, struct rd_deadlines *out)
{
        return CALL(s, s->ops->next_deadlines(s, out));
}

int rd_store_due(struct rd_store *s, enum rd_deadline kind, int64_t threshold, int64_t limit,
                 struct rd_stored *rows, size_t *n)
{
        if ((unsigned)kind >= RD_DUE__MAX || limit < 0)
                return -EINVAL;
        return CALL(s, s->ops->due(s, kind, threshold, limit, rows, n));
}

/* ---- the daemon's reads ---------------------------------------------------------------- */

int rd_store_visible(struct rd_store *s, const struct rd_stored *o, const struct rd_viewer *viewer)
{
        if (!viewer || viewer->kind == RD_VIEW_ALL)
                return 1;
        if (viewer->kind == RD_VIEW_PARTNER)
                return strcmp(o->partner, viewer->id) == 0 ||
                       strcmp(o->forward_to, viewer->id) == 0;
        return CALL(s, s->ops->was_offered(s, o->rowid, viewer->id));
}

/* Append the JSON text BODY (an event as stored) to the array CTX. */
static int append_body(void *ctx, const char *body)
{
        json_t *v = json_loads(body, 0, NULL);
        if (!v || json_array_append_new(ctx, v) < 0)
                return -ENOMEM;
        return 0;
}

int rd_store_events(struct rd_store *s, int64_t since, int64_t limit,
                    const struct rd_viewer *viewer, json_t *arr)
{
        return CALL(s, s->ops->each_event(s, since, limit, viewer, append_body, arr));
}

int rd_store_history(struct rd_store *s, int64_t rowid, int64_t limit, json_t *arr,
                     int64_t *omitted)
{
        size_t before = json_array_size(arr);
        int64_t n;
        int r;

        if (limit < 1)
                return -EINVAL;
        if ((r = CALL(s, s->ops->each_history(s, rowid, limit, append_body, arr))) < 0)
                return r;
        n = (int64_t)(json_array_size(arr) - before);
        if (n == limit && (r = CALL(s, s->ops->count_history(s, rowid, &n))) < 0)
                return r;
        *omitted = n > limit ? n - limit : 0;
        return 0;
}

static int list_item(void *ctx, const struct rd_stored *o)
{
        char buf[RD_TIME_STR];
        json_t *it = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:I, s:s*}", "id", o->id,
                               "partner", o->partner, "ref", o->ref, "status",
                               rd_status_name(o->status), "team", o->team[0] ? o->team : NULL,
                               "connector", o->connector[0] ? o->connector : NULL, "start_by",
                               o->start_by_ms ? rd_time_format(o->start_by_ms, buf) : NULL, "seq",
                               (json_int_t)o->last_seq, "attention",
                               o->attention ? rd_attention_name(o->attention) : NULL);
        if (!it)
                return -ENOMEM;
        return json_array_append_new(ctx, it) < 0 ? -ENOMEM : 0;
}

int rd_store_list(struct rd_store *s, const struct rd_list_query *q, json_t *arr)
{
        return CALL(s, s->ops->each_listed(s, q, list_item, arr));
}

static int reason_item(void *ctx, const struct rd_store_reason *why)
{
        char at[RD_TIME_STR];
        json_t *it = json_pack("{s:s, s:s, s:s*, s:s*, s:s*}", "at", rd_time_format(why->at_ms, at),
                               "status", why->change, "connector",
                               why->connector && why->connector[0] ? why->connector : NULL,
                               "reason_code", why->code, "reason", why->text);
        if (!it)
                return -ENOMEM;
        return json_array_append_new(ctx, it) < 0 ? -ENOMEM : 0;
}

int rd_store_reasons(struct rd_store *s, int64_t rowid, json_t *arr)
{
        return CALL(s, s->ops->each_reason(s, rowid, reason_item, arr));
}

int rd_store_count_by_status(struct rd_store *s, int64_t counts[RD_STATUS__MAX])
{
        return CALL(s, s->ops->count_by_status(s, counts));
}

int rd_store_window_counts(struct rd_store *s, int64_t *started, int64_t *in_time, int64_t *missed)
{
        return CALL(s, s->ops->window_counts(s, started, in_time, missed));
}

int rd_store_figures(struct rd_store *s, struct rd_figures *out)
{
        return CALL(s, s->ops->figures(s, out));
}

int64_t rd_store_duration_bucket(int64_t ms)
{
        int64_t unit = 1;

        if (ms < 0)
                return 0;
        while (ms / unit >= 1000)
                unit *= 10;
        return ms - ms % unit;
}

/* ---- the audit trail -------------------------------------------------------------------- */

int rd_store_audit(struct rd_store *s, int64_t at_ms, const char *client, const char *role,
                   const char *action, const char *referral_id)
{
        s->writes++;
        return CALL(s,
                    s->ops->audit(s, at_ms, client, role, action, referral_id ? referral_id : ""));
}

struct audit_list {
        json_t *arr;
        int64_t last;
};

static int audit_item(void *ctx, const struct rd_audit_entry *e)
{
        struct audit_list *al = ctx;
        char at[RD_TIME_STR];
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "n", (json_int_t)e->n, "at",
                              rd_time_format(e->at_ms, at), "client", e->client, "role", e->role,
                              "action", e->action, "id", e->referral_id);
        if (!o || json_array_append_new(al->arr, o) < 0)
                return -ENOMEM;
        al->last = e->n;
        return 0;
}

int rd_store_audit_list(struct rd_store *s, int64_t since, int64_t limit, const char *referral_id,
                        json_t *arr, int64_t *last)
{
        struct audit_list al = {arr, since};
        int r = CALL(s, s->ops->each_audit(s, since, limit, referral_id ? referral_id : "",
                                           audit_item, &al));
        *last = al.last;
        return r;
}

int rd_store_audit_purge(struct rd_store *s, int64_t before_ms)
{
        s->writes++;
        return CALL(s, s->ops->audit_purge(s, before_ms));
}

/* ---- the routing files ----------------------------------------------------------------- */

int rd_store_routing_record(struct rd_store *s, const struct rd_routing_file *f, int64_t now_ms)
{
        if (!f->digest || !f->source || (!f->text && f->len))
                return -EINVAL;
        s->writes++;
        return CALL(s, s->ops->routing_record(s, f, now_ms));
}

int rd_store_each_routing(struct rd_store *s,
                          int (*fn)(void *ctx, const struct rd_routing_period *p), void *ctx)
{
        return CALL(s, s->ops->each_routing(s, fn, ctx));
}

int rd_store_routing_text(struct rd_store *s, const char *digest, char **text, size_t *len)
{
        return CALL(s, s->ops->routing_text(s, digest, text, len));
}

int rd_store_checkpoint(struct rd_store *s)
{
        int r;

        if (!(s->caps & RD_STORE_CAN_WIPE) || !s->ops->checkpoint)
                return -EOPNOTSUPP;
        r = s->ops->checkpoint(s);
        if (r == 0)
                s->wiped_seq = s->ops->last_seq(s);
        return r;
}

int64_t rd_store_wiped_seq(const struct rd_store *s)
{
        return s->wiped_seq;
}
