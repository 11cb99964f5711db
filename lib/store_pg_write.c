/* store_pg_write.c: the PostgreSQL driver's writes (store.h). Each is
 * queued inside the caller's transaction and not waited for (store_pg.h):
 * what it returns was known before anything was sent, row ids and seqs
 * included (they come from the counters this connection holds). */
#include "store_pg.h"

#include <errno.h>
#include <stdlib.h>

/* ---- the parts of a change ------------------------------------------------------------------- */

static int update_row(struct pg_store *s, const struct rd_stored *o)
{
        struct pg_args a = {0};

        pa_int(&a, o->rowid);
        pa_int(&a, (int64_t)o->status);
        pa_text(&a, o->rule);
        pa_text(&a, o->team);
        pa_text(&a, o->connector);
        pa_int(&a, o->start_by_ms);
        pa_int(&a, o->expected_start_ms);
        pa_int(&a, o->offered_ms);
        pa_int(&a, o->offer_expires_ms);
        pa_int(&a, o->started_ms);
        pa_int(&a, o->expected_end_ms);
        pa_text(&a, o->forward_to);
        pa_text(&a, o->reason);
        pa_int(&a, o->at_risk_fired);
        pa_int(&a, o->missed_fired);
        pa_int(&a, o->final_ms);
        pa_int(&a, (int64_t)o->attention);
        return pg_write(s, P_UPDATE, &a, true);
}

/* Write statement ID with $1 = ROWID and $2 = TEXT, or $1 = TEXT and $2 =
 * ROWID when TEXT_FIRST. */
static int write_rowid_text(struct pg_store *s, enum pg_stmt id, int64_t rowid, const char *text,
                            bool text_first)
{
        struct pg_args a = {0};

        if (text_first)
                pa_text(&a, text);
        pa_int(&a, rowid);
        if (!text_first)
                pa_text(&a, text);
        return pg_write(s, id, &a, true);
}

/* Write statement ID with $1 = A and $2 = B (either may be NULL). */
static int write_texts(struct pg_store *s, enum pg_stmt id, const char *a1, const char *a2)
{
        struct pg_args a = {0};

        pa_text(&a, a1);
        if (a2)
                pa_text(&a, a2);
        return pg_write(s, id, &a, true);
}

/* Who may take waiting referral O: CANDIDATES, the TEAMS of the first-rank
 * ones, and O's attention. */
static int set_candidates(struct pg_store *s, const struct rd_stored *o, const char *candidates,
                          const char *teams)
{
        struct pg_args a = {0};

        pa_int(&a, o->rowid);
        pa_text(&a, candidates);
        pa_text(&a, teams ? teams : "");
        pa_int(&a, (int64_t)o->attention);
        return pg_write(s, P_CANDIDATES_SET, &a, true);
}

/* Keep a client's reason WHY for a change of referral ROWID. */
static int add_reason(struct pg_store *s, int64_t rowid, const struct rd_store_reason *why)
{
        struct pg_args a = {0};

        pa_int(&a, rowid);
        pa_int(&a, why->at_ms);
        pa_text(&a, why->change);
        pa_text(&a, why->connector ? why->connector : "");
        pa_text(&a, why->code);
        pa_text(&a, why->text);
        return pg_write(s, P_REASON_ADD, &a, true);
}

/* The offer, round robin and decline of CH for referral ROWID. */
static int offer_parts(struct pg_store *s, int64_t rowid, const struct rd_store_change *ch)
{
        int r = 0;

        if (ch->offered) {
                r = write_texts(s, P_OFFER, ch->offered, NULL);
                if (r == 0)
                        r = write_rowid_text(s, P_OFFERED_ADD, rowid, ch->offered, true);
                if (r == 0 && ch->rr_rule)
                        r = write_texts(s, P_RR_SET, ch->rr_rule, ch->offered);
        }
        if (r == 0 && ch->declined)
                r = write_rowid_text(s, P_DECLINE_ADD, rowid, ch->declined, false);
        return r;
}

/* The JSON texts of CH's events about referral ROWID (0: none), each given
 * the next seq after S->last_seq and the referral's id, into a new array
 * *OUT of CH->N_EVENTS texts. 0 or -ENOMEM (nothing left to free). */
static int event_texts(const struct pg_store *s, int64_t rowid, struct rd_store_change *ch,
                       char ***out)
{
        char **texts = calloc(ch->n_events ? ch->n_events : 1, sizeof *texts);
        size_t i;

        for (i = 0; texts && i < ch->n_events; i++) {
                struct rd_event *ev = &ch->events[i];

                ev->seq = s->last_seq + (int64_t)i + 1;
                if (rowid > 0)
                        rd_store_format_id(rowid, ev->id);
                texts[i] = rd_event_text(ev);
                if (!texts[i])
                        break;
        }
        if (!texts || i < ch->n_events) {
                while (texts && i > 0)
                        free(texts[--i]);
                free(texts);
                return -ENOMEM;
        }
        *out = texts;
        return 0;
}

/* The events of CH are stored (OK): their seqs are taken, their texts go
 * to CH->TEXTS (or are freed); or not: the texts are freed. */
static void events_done(struct pg_store *s, struct rd_store_change *ch, char **texts, bool ok)
{
        for (size_t i = 0; i < ch->n_events; i++) {
                if (ok && ch->texts)
                        ch->texts[i] = texts[i];
                else
                        free(texts[i]);
        }
        free(texts);
        if (ok)
                s->last_seq += (int64_t)ch->n_events;
}

/* Write the events of CH about referral ROWID (0: none) with their TEXTS,
 * one statement each; with SET_LAST_SEQ the referral's last_seq follows. */
static int write_events(struct pg_store *s, int64_t rowid, const struct rd_store_change *ch,
                        char **texts, bool set_last_seq)
{
        int r = 0;

        for (size_t i = 0; r == 0 && i < ch->n_events; i++) {
                struct pg_args a = {0};
                pa_int(&a, ch->events[i].seq);
                if (rowid > 0)
                        pa_int(&a, rowid);
                else
                        pa_text(&a, NULL);
                pa_text(&a, texts[i]);
                r = pg_write(s, P_EVENT, &a, true);
        }
        if (r == 0 && rowid > 0 && set_last_seq && ch->n_events) {
                struct pg_args a = {0};
                pa_int(&a, rowid);
                pa_int(&a, ch->events[ch->n_events - 1].seq);
                r = pg_write(s, P_LAST_SEQ_OF, &a, true);
        }
        return r;
}

/* ---- the operations
 * ------------------------------------------------------------------------------ */

/* The parameters $1 to $24 of P_INSERT and P_INSERT2. */
static void insert_args(struct pg_args *a, int64_t rowid, const struct rd_stored *o,
                        const struct rd_store_change *ch, int64_t last_seq)
{
        pa_int(a, rowid);
        pa_text(a, o->partner);
        pa_text(a, o->ref);
        pa_text(a, o->digest);
        pa_int(a, o->received_ms);
        pa_text(a, ch->content);
        pa_int(a, (int64_t)o->status);
        pa_int(a, (int64_t)o->urgency);
        pa_text(a, o->rule);
        pa_text(a, o->team);
        pa_text(a, o->connector);
        pa_int(a, o->start_by_ms);
        pa_int(a, o->expected_start_ms);
        pa_int(a, o->offered_ms);
        pa_int(a, o->offer_expires_ms);
        pa_text(a, o->forward_to);
        pa_text(a, o->reason);
        pa_int(a, o->final_ms);
        pa_text(a, ch->trace);
        pa_text(a, ch->rules_digest ? ch->rules_digest : "");
        pa_text(a, ch->candidates ? ch->candidates : "");
        pa_int(a, last_seq);
        pa_int(a, (int64_t)o->attention);
        pa_text(a, ch->teams ? ch->teams : "");
}

/* The row of CH (row id ROWID) and its events with their TEXTS: with two
 * events (a new referral: received, then its decision) one statement. */
static int insert_with_events(struct pg_store *s, int64_t rowid, struct rd_store_change *ch,
                              char **texts, int64_t last_seq)
{
        struct pg_args a = {0};

        insert_args(&a, rowid, ch->st, ch, last_seq);
        if (ch->n_events != 2) {
                int r = pg_write(s, P_INSERT, &a, true);
                return r < 0 ? r : write_events(s, rowid, ch, texts, false);
        }
        pa_int(&a, ch->events[0].seq);
        pa_text(&a, texts[0]);
        pa_int(&a, ch->events[1].seq);
        pa_text(&a, texts[1]);
        return pg_write(s, P_INSERT2, &a, true);
}

int pg_insert(struct rd_store *base, struct rd_store_change *ch)
{
        struct pg_store *s = pgs(base);
        struct rd_stored *o = ch->st;
        /* the row's last_seq is that of its last event, known now */
        int64_t last_seq = ch->n_events ? s->last_seq + (int64_t)ch->n_events : o->last_seq;
        int64_t rowid = s->last_rowid + 1;
        char **texts;
        int r = event_texts(s, rowid, ch, &texts);

        if (r < 0)
                return r;
        pg_found_forget_key(s, o->partner, o->ref);
        r = insert_with_events(s, rowid, ch, texts, last_seq);
        if (r == 0)
                r = offer_parts(s, rowid, ch);
        events_done(s, ch, texts, r == 0);
        if (r < 0)
                return r;
        s->last_rowid = rowid;
        o->rowid = rowid;
        o->last_seq = last_seq;
        return 0;
}

int pg_change(struct rd_store *base, struct rd_store_change *ch)
{
        struct pg_store *s = pgs(base);
        int64_t rowid = ch->st ? ch->st->rowid : 0;
        char **texts;
        int r = 0;

        if (ch->st)
                pg_found_forget_row(s, rowid);
        if (ch->row)
                r = update_row(s, ch->st);
        if (r == 0 && ch->trace_set) {
                struct pg_args a = {0};
                pa_int(&a, rowid);
                pa_text(&a, ch->trace);
                pa_text(&a, ch->rules_digest ? ch->rules_digest : "");
                r = pg_write(s, P_TRACE, &a, true);
        }
        if (r == 0 && ch->candidates)
                r = set_candidates(s, ch->st, ch->candidates, ch->teams);
        if (r == 0)
                r = offer_parts(s, rowid, ch);
        if (r == 0 && ch->reason)
                r = add_reason(s, rowid, ch->reason);
        if (r == 0)
                r = event_texts(s, rowid, ch, &texts);
        if (r < 0)
                return r;
        r = write_events(s, rowid, ch, texts, true);
        events_done(s, ch, texts, r == 0);
        if (r == 0 && ch->st && ch->n_events)
                ch->st->last_seq = s->last_seq;
        return r;
}

int pg_erase(struct rd_store *s, int64_t rowid, const json_t *content, const char *trace,
             int64_t now_ms)
{
        char *c = json_dumps(content, JSON_COMPACT | JSON_PRESERVE_ORDER);
        struct pg_args a = {0};
        int r = -ENOMEM;

        pg_found_forget_row(pgs(s), rowid);
        if (c) {
                pa_int(&a, rowid);
                pa_text(&a, c);
                pa_text(&a, trace);
                pa_int(&a, now_ms);
                r = pg_write(pgs(s), P_ERASE, &a, true);
        }
        if (r == 0) { /* the free text of its reasons is personal data too */
                a.n = 0;
                pa_int(&a, rowid);
                r = pg_write(pgs(s), P_REASONS_ERASE, &a, true);
        }
        free(c);
        return r;
}

int pg_meta_set(struct rd_store *s, const char *key, const char *value)
{
        return write_texts(pgs(s), P_META_SET, key, value);
}

/* ---- the audit trail
 * ------------------------------------------------------------------------------ */

int pg_audit(struct rd_store *s, int64_t at_ms, const char *client, const char *role,
             const char *action, const char *referral_id)
{
        struct pg_args a = {0};

        pa_int(&a, at_ms);
        pa_text(&a, client);
        pa_text(&a, role);
        pa_text(&a, action);
        pa_text(&a, referral_id);
        return pg_write(pgs(s), P_AUDIT_ADD, &a, true);
}

int pg_audit_purge(struct rd_store *s, int64_t before_ms)
{
        struct pg_args a = {0};
        int64_t n = 0;
        int r;

        pa_int(&a, before_ms);
        r = pg_write_wait(pgs(s), P_AUDIT_PURGE, &a, &n);
        return r < 0 ? r : (int)n;
}
